/*
 * Proofs from a log on disk. A proof hash is the root of a run of leaves
 * (merkle_*_plan), so one streaming pass over the entries feeds each leaf
 * to the frontier of the run it falls in: memory stays O(log n) however
 * long the log is.
 */
#include "auditlog_impl.h"

#include "common/mem.h"

#include <limits.h>
#include <string.h>

struct stream {
    uint64_t upto; /* leaves to read */
    int nruns;
    uint64_t begin[MERKLE_MAX_PROOF], end[MERKLE_MAX_PROOF];
    merkle_hash *out;            /* the runs' roots: the proof */
    uint64_t snap;               /* keep the root at this size (0: none) */
    merkle_hash snap_root, root; /* ... and the root at upto */
    uint64_t keep;               /* keep this leaf's line and hash */
    struct buf *keep_line;       /* NULL: none */
    merkle_hash keep_leaf;
};

/* Give leaf i to the run it belongs to, if any. */
static int feed(struct stream *st, struct merkle_frontier *acc, uint64_t i, const merkle_hash leaf)
{
    for (int k = 0; k < st->nruns; k++)
        if (i >= st->begin[k] && i < st->end[k])
            return merkle_frontier_push(&acc[k], leaf);
    return 0;
}

static int stream_run(struct auditlog_lines *l, struct stream *st, struct merkle_frontier *acc,
                      struct err *err)
{
    struct merkle_frontier f;
    merkle_hash leaf;
    const char *line;
    size_t len;

    merkle_frontier_init(&f);
    for (uint64_t i = 0; i < st->upto; i++) {
        int r = auditlog_lines_next(l, &line, &len, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return err_set(err, "the entries end at sequence %llu, before tree size %llu",
                           (unsigned long long)i, (unsigned long long)st->upto);
        merkle_leaf_hash(line, len, leaf);
        if (st->keep_line != NULL && i == st->keep) {
            if (buf_append(st->keep_line, line, len) != 0)
                return err_set(err, "entry %llu is too long", (unsigned long long)i);
            memcpy(st->keep_leaf, leaf, sizeof(leaf));
        }
        if (feed(st, acc, i, leaf) != 0 || merkle_frontier_push(&f, leaf) != 0)
            return err_set(err, "the tree is full");
        if (f.size == st->snap)
            merkle_frontier_root(&f, st->snap_root);
    }
    merkle_frontier_root(&f, st->root);
    for (int k = 0; k < st->nruns; k++)
        merkle_frontier_root(&acc[k], st->out[k]);
    return 0;
}

static int stream_leaves(const char *logdir, struct stream *st, struct err *err)
{
    char p[PATH_MAX + 32];
    struct auditlog_lines l;
    struct merkle_frontier *acc;
    int r;

    if (auditlog_path(p, sizeof(p), logdir, AUDITLOG_ENTRIES, err) != 0 ||
        auditlog_lines_open(&l, p, AUDITLOG_LINE_MAX, err) != 0)
        return -1;
    acc = xcalloc(MERKLE_MAX_PROOF, sizeof(*acc));
    if (acc == NULL) {
        auditlog_lines_close(&l);
        return err_set(err, "out of memory");
    }
    r = stream_run(&l, st, acc, err);
    xfree(acc);
    auditlog_lines_close(&l);
    return r;
}

/* A note's checkpoint, syntax checked only: proofs are checked, with the
 * keys, by whoever receives them. */
static int note_cp(const struct buf *note, struct note_checkpoint *cp, struct err *err)
{
    size_t tl;

    return note_verify(note->data, note->len, NULL, 0, &tl, err) ||
                   note_checkpoint_parse(note->data, tl, cp, err)
               ? -1
               : 0;
}

int auditlog_checkpoint_find(const char *logdir, uint64_t size, struct buf *note, struct err *err)
{
    char p[PATH_MAX + 32];
    struct auditlog_lines l;
    struct note_checkpoint cp;
    struct buf cur;
    uint64_t torn;
    int r, found = 0;

    if (auditlog_path(p, sizeof(p), logdir, AUDITLOG_CHECKPOINTS, err) != 0 ||
        auditlog_lines_open(&l, p, NOTE_MAX_BYTES, err) != 0)
        return -1;
    buf_init(&cur, NOTE_MAX_BYTES);
    while ((r = auditlog_notes_next(&l, &cur, &torn, err)) == 1) {
        if ((r = note_cp(&cur, &cp, err)) != 0)
            break;
        if (size == UINT64_MAX || cp.size == size) {
            buf_reset(note);
            found = buf_append(note, cur.data, cur.len) == 0;
        }
    }
    buf_free(&cur);
    auditlog_lines_close(&l);
    if (r < 0)
        return err_set(err, "%s: malformed checkpoints file", p);
    if (!found && size == UINT64_MAX)
        return err_set(err, "%s: no checkpoint yet", p);
    if (!found)
        return err_set(err, "%s: no checkpoint of tree size %llu", p, (unsigned long long)size);
    return 0;
}

int auditlog_prove_inclusion(const char *logdir, uint64_t seq, struct proof *p, struct err *err)
{
    struct note_checkpoint cp;
    struct stream st;

    memset(&st, 0, sizeof(st));
    buf_reset(&p->entry);
    if (auditlog_checkpoint_find(logdir, UINT64_MAX, &p->note, err) != 0 ||
        note_cp(&p->note, &cp, err) != 0)
        return -1;
    if (seq >= cp.size)
        return err_set(err, "entry %llu is not covered by the latest checkpoint (tree size %llu)",
                       (unsigned long long)seq, (unsigned long long)cp.size);
    st.upto = cp.size;
    st.nruns = merkle_inclusion_plan(seq, cp.size, st.begin, st.end);
    if (st.nruns < 0)
        return err_set(err, "no inclusion proof of entry %llu", (unsigned long long)seq);
    st.out = p->path;
    st.keep = seq;
    st.keep_line = &p->entry;
    if (stream_leaves(logdir, &st, err) != 0)
        return -1;
    if (memcmp(st.root, cp.root, sizeof(cp.root)) != 0)
        return err_set(err, "the entries do not hash to the latest checkpoint's root; run scrim "
                            "audit verify");
    p->kind = PROOF_INCLUSION;
    memcpy(p->origin, cp.origin, sizeof(p->origin));
    p->index = seq;
    p->size = cp.size;
    memcpy(p->leaf, st.keep_leaf, sizeof(p->leaf));
    memcpy(p->root, cp.root, sizeof(p->root));
    p->path_len = (size_t)st.nruns;
    return 0;
}

int auditlog_prove_consistency(const char *logdir, const struct buf *old_note,
                               const struct buf *new_note, struct proof *p, struct err *err)
{
    struct note_checkpoint a, b;
    struct stream st;

    memset(&st, 0, sizeof(st));
    if (note_cp(old_note, &a, err) != 0 || note_cp(new_note, &b, err) != 0)
        return -1;
    if (strcmp(a.origin, b.origin) != 0 || a.size == 0 || a.size > b.size)
        return err_set(err, "the checkpoints must be of one log, the old one of a size from 1 "
                            "to the new one's");
    st.upto = b.size;
    st.nruns = merkle_consistency_plan(a.size, b.size, st.begin, st.end);
    if (st.nruns < 0)
        return err_set(err, "no consistency proof between these sizes");
    st.out = p->path;
    st.snap = a.size;
    if (stream_leaves(logdir, &st, err) != 0)
        return -1;
    if (memcmp(st.snap_root, a.root, 32) != 0 || memcmp(st.root, b.root, 32) != 0)
        return err_set(err, "the entries do not hash to the checkpoints' roots; run scrim audit "
                            "verify");
    p->kind = PROOF_CONSISTENCY;
    memcpy(p->origin, a.origin, sizeof(p->origin));
    p->old_size = a.size;
    p->size = b.size;
    memcpy(p->old_root, a.root, 32);
    memcpy(p->root, b.root, 32);
    p->path_len = (size_t)st.nruns;
    buf_reset(&p->old_note);
    buf_reset(&p->note);
    if (buf_append(&p->old_note, old_note->data, old_note->len) ||
        buf_append(&p->note, new_note->data, new_note->len))
        return err_set(err, "checkpoint too large");
    return 0;
}
