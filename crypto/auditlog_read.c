/*
 * Reading the log back: the bounded line reader, the entry parser, and the
 * scan that verifies a log (and rebuilds the writer's tree on open).
 *
 * The scan streams both files once. It checks each entry line against its
 * position (sequence numbers) and against the one before it (the "prev"
 * hash chain), which pins an edit, insertion, removal or reordering to the
 * first sequence number it breaks; and it checks each checkpoint's signature
 * and root when the tree reaches the checkpoint's size, which is what makes
 * the log tamper-evident: the chain alone could be rewritten by anyone.
 */
#include "auditlog_impl.h"

#include "common/mem.h"
#include "rules/json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define ENTRY_KEYS 11

int auditlog_lines_open(struct auditlog_lines *l, const char *path, size_t max, struct err *err)
{
    memset(l, 0, sizeof(*l));
    l->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    l->max = max;
    l->cap = max + 1 + READ_CHUNK;
    l->buf = xmalloc(l->cap);
    if (l->buf == NULL) {
        close(l->fd);
        l->fd = -1;
        return err_set(err, "%s: out of memory", path);
    }
    return 0;
}

void auditlog_lines_close(struct auditlog_lines *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    xfree(l->buf);
    l->buf = NULL;
}

/* Keep the unread bytes at the front and read more behind them. */
static int fill(struct auditlog_lines *l, struct err *err)
{
    ssize_t r;

    memmove(l->buf, l->buf + l->start, l->end - l->start);
    l->end -= l->start;
    l->start = 0;
    do
        r = read(l->fd, l->buf + l->end, l->cap - l->end);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return err_set(err, "read: %s", strerror(errno));
    if (r == 0)
        l->eof = 1;
    l->end += (size_t)r;
    return 0;
}

int auditlog_lines_next(struct auditlog_lines *l, const char **line, size_t *len, struct err *err)
{
    for (;;) {
        char *nl = memchr(l->buf + l->start, '\n', l->end - l->start);
        if (nl != NULL) {
            *line = l->buf + l->start;
            *len = (size_t)(nl - *line);
            l->start += *len + 1;
            l->off += *len + 1;
            return 1;
        }
        if (l->end - l->start > l->max)
            return err_set(err, "a line is longer than %zu bytes", l->max);
        if (l->eof) {
            l->torn = l->end - l->start;
            return 0;
        }
        if (fill(l, err) != 0)
            return -1;
    }
}

int auditlog_notes_next(struct auditlog_lines *l, struct buf *note, uint64_t *torn, struct err *err)
{
    uint64_t start = l->off;
    int in_sigs = 0, sigs = 0, r;
    const char *line;
    size_t len;

    buf_reset(note);
    for (;;) {
        r = auditlog_lines_next(l, &line, &len, err);
        if (r < 0)
            return -1;
        if (r == 0) {
            *torn = l->off + l->torn - start;
            return 0;
        }
        if (len == 0 && in_sigs)
            return sigs > 0 ? 1 : err_set(err, "a checkpoint has no signature line");
        if (len == 0 && note->len == 0)
            return err_set(err, "an empty line where a checkpoint should start");
        in_sigs |= len == 0;
        sigs += in_sigs && len > 0;
        if (buf_append(note, line, len) != 0 || buf_putc(note, '\n') != 0)
            return err_set(err, "a checkpoint is larger than %d bytes", NOTE_MAX_BYTES);
    }
}

/* Entry parsing. The line must be exactly what auditlog_entry_write makes,
 * so an entry has one byte form and holds only the documented fields. */
static const char *const entry_keys[ENTRY_KEYS] = {"seq",      "time_ms",   "request", "route",
                                                   "format",   "outcome",   "reason",  "rules",
                                                   "bytes_in", "bytes_out", "prev"};

static const struct json_limits entry_limits = {3, 16 + 4 * AUDITLOG_RULES_MAX};

static int get_u64(const struct json *v, uint64_t *out)
{
    return v->type == JSON_NUMBER && note_u64_parse(v->u.s, v->len, out) == 0 ? 0 : -1;
}

static const char *get_str(struct arena *a, const struct json *v)
{
    if (v->type != JSON_STRING || v->len > AUDITLOG_STR_MAX || memchr(v->u.s, '\0', v->len))
        return NULL;
    return arena_strndup(a, v->u.s, v->len);
}

static int get_outcome(const struct json *v, enum auditlog_outcome *o)
{
    for (int i = AUDITLOG_FORWARDED; i <= AUDITLOG_RETENTION; i++) {
        const char *name = auditlog_outcome_name((enum auditlog_outcome)i);
        if (v->type == JSON_STRING && v->len == strlen(name) && memcmp(v->u.s, name, v->len) == 0) {
            *o = (enum auditlog_outcome)i;
            return 0;
        }
    }
    return -1;
}

static int get_rule(struct arena *a, const struct json *v, struct auditlog_rule *r)
{
    const struct json_member *m = v->u.members;

    if (v->type != JSON_OBJECT || v->len != 3 || m[0].klen != 2 || memcmp(m[0].key, "id", 2) ||
        m[1].klen != 6 || memcmp(m[1].key, "action", 6) || m[2].klen != 5 ||
        memcmp(m[2].key, "count", 5))
        return -1;
    r->id = get_str(a, m[0].value);
    r->action = get_str(a, m[1].value);
    return r->id && r->action ? get_u64(m[2].value, &r->count) : -1;
}

static int get_rules(struct arena *a, const struct json *v, struct auditlog_entry *e)
{
    struct auditlog_rule *rs;

    if (v->type != JSON_ARRAY || v->len > AUDITLOG_RULES_MAX)
        return -1;
    rs = arena_alloc(a, sizeof(*rs) * (v->len ? v->len : 1));
    if (rs == NULL)
        return -1;
    for (size_t i = 0; i < v->len; i++)
        if (get_rule(a, v->u.items[i], &rs[i]) != 0)
            return -1;
    e->rules = rs;
    e->nrules = v->len;
    return 0;
}

static int get_hash(const struct json *v, merkle_hash out)
{
    size_t got;

    return v->type == JSON_STRING && note_b64_decode(v->u.s, v->len, out, 32, &got) == 0 &&
                   got == 32
               ? 0
               : -1;
}

/* The members in their fixed order, with their types. */
static int entry_fields(struct arena *a, const struct json *root, struct auditlog_entry *e,
                        merkle_hash prev, struct err *err)
{
    const struct json_member *m = root->u.members;
    uint64_t t;

    for (size_t i = 0; i < ENTRY_KEYS; i++)
        if (m[i].klen != strlen(entry_keys[i]) || memcmp(m[i].key, entry_keys[i], m[i].klen))
            return err_set(err, "member %zu is not \"%s\"", i + 1, entry_keys[i]);
    if (get_u64(m[0].value, &e->seq) || get_u64(m[1].value, &t) || t > INT64_MAX)
        return err_set(err, "bad seq or time_ms");
    e->time_ms = (int64_t)t;
    e->request_id = get_str(a, m[2].value);
    e->route = get_str(a, m[3].value);
    e->format = get_str(a, m[4].value);
    e->reason = get_str(a, m[6].value);
    if (!e->request_id || !e->route || !e->format || !e->reason ||
        get_outcome(m[5].value, &e->outcome) != 0)
        return err_set(err, "bad request, route, format, outcome or reason");
    if (get_rules(a, m[7].value, e) != 0)
        return err_set(err, "bad rules");
    if (get_u64(m[8].value, &e->bytes_in) || get_u64(m[9].value, &e->bytes_out) ||
        get_hash(m[10].value, prev))
        return err_set(err, "bad bytes_in, bytes_out or prev");
    return 0;
}

int auditlog_entry_parse(struct arena *a, const char *line, size_t len, struct auditlog_entry *e,
                         merkle_hash prev, struct buf *scratch, struct err *err)
{
    struct json *root;

    memset(e, 0, sizeof(*e));
    if (json_parse(a, line, len, &entry_limits, &root, err) != JSON_OK)
        return -1;
    if (root->type != JSON_OBJECT || root->len != ENTRY_KEYS)
        return err_set(err, "not an object of the %d entry fields", ENTRY_KEYS);
    if (entry_fields(a, root, e, prev, err) != 0)
        return -1;
    buf_reset(scratch);
    if (auditlog_entry_write(scratch, e, prev) != 0 || scratch->len != len ||
        memcmp(scratch->data, line, len) != 0)
        return err_set(err, "not in canonical form");
    return 0;
}

/* The state of one scan. */
struct scan {
    struct auditlog_scan *s;
    struct auditlog_lines el, cl;
    struct buf note, scratch;
    struct arena *arena;
    struct note_checkpoint cp; /* the next checkpoint to reach */
    int have_cp;
    uint64_t ncp;  /* checkpoints read */
    uint64_t good; /* entries [0, good) are covered by a checkpoint that matched */
    int pending;   /* the root at pend_size did not match; localise it */
    uint64_t pend_size;
    struct err *err;
};

static int fail(struct scan *sc, uint64_t seq, const char *fmt, ...) ERR_PRINTF(3, 4);

static int fail(struct scan *sc, uint64_t seq, const char *fmt, ...)
{
    char what[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    sc->s->r.bad = 1;
    sc->s->r.first_bad = seq;
    return err_set(sc->err, "sequence %llu: %s", (unsigned long long)seq, what);
}

/* A root mismatch whose entries kept their chain: something in the range
 * changed (the last entry, or several rewritten together). */
static int fail_pending(struct scan *sc)
{
    return fail(sc, sc->good,
                "the entries from %llu to %llu do not hash to the root signed at tree size %llu",
                (unsigned long long)sc->good, (unsigned long long)sc->pend_size - 1,
                (unsigned long long)sc->pend_size);
}

static int origin_ok(struct scan *sc, const char *origin)
{
    struct auditlog_scan *s = sc->s;
    size_t n = strlen(origin), k = s->suffix ? strlen(s->suffix) : 0;

    if (s->r.origin[0] != '\0')
        return strcmp(origin, s->r.origin) == 0;
    if (s->origin != NULL ? strcmp(origin, s->origin) != 0
                          : n <= k || strcmp(origin + n - k, s->suffix) != 0)
        return 0;
    memcpy(s->r.origin, origin, n + 1);
    return 1;
}

static int next_checkpoint(struct scan *sc)
{
    struct auditlog_scan *s = sc->s;
    uint64_t at = s->f.size, torn = 0, prev = sc->cp.size;
    struct note_checkpoint cp;
    struct err e;
    size_t tl;
    int r;

    err_clear(&e);
    r = auditlog_notes_next(&sc->cl, &sc->note, &torn, &e);
    if (r < 0)
        return fail(sc, at, "checkpoints file after checkpoint %llu: %s",
                    (unsigned long long)sc->ncp, e.msg);
    if (r == 0) {
        sc->have_cp = 0;
        s->r.torn_bytes += torn;
        s->checkpoints_end = sc->cl.off + sc->cl.torn - torn;
        return 0;
    }
    sc->ncp++;
    if (note_verify(sc->note.data, sc->note.len, s->v, s->nv, &tl, &e) != 0 ||
        note_checkpoint_parse(sc->note.data, tl, &cp, &e) != 0)
        return fail(sc, at, "checkpoint %llu: %s", (unsigned long long)sc->ncp, e.msg);
    if (!origin_ok(sc, cp.origin))
        return fail(sc, at, "checkpoint %llu: origin %s is not this log's",
                    (unsigned long long)sc->ncp, cp.origin);
    if (sc->ncp > 1 && cp.size < prev)
        return fail(sc, at, "checkpoint %llu: tree size %llu is smaller than the one before",
                    (unsigned long long)sc->ncp, (unsigned long long)cp.size);
    sc->cp = cp;
    sc->have_cp = 1;
    return 0;
}

/* The tree has reached the checkpoint's size: compare roots. A mismatch is
 * pinned down by the next entry's chain (see entry_step). */
static int check_root(struct scan *sc)
{
    struct auditlog_scan *s = sc->s;
    merkle_hash root;

    merkle_frontier_root(&s->f, root);
    if (memcmp(root, sc->cp.root, sizeof(root)) != 0) {
        sc->pending = 1;
        sc->pend_size = s->f.size;
        sc->have_cp = 0; /* nothing after a mismatch can be trusted */
        return 0;
    }
    sc->good = s->f.size;
    s->r.checkpoints++;
    s->r.signed_size = s->f.size;
    return next_checkpoint(sc);
}

static int entry_step(struct scan *sc, const char *line, size_t len)
{
    struct auditlog_scan *s = sc->s;
    uint64_t i = s->f.size;
    struct auditlog_entry e;
    merkle_hash prev, leaf;
    struct err pe;

    err_clear(&pe);
    arena_reset(sc->arena);
    if (auditlog_entry_parse(sc->arena, line, len, &e, prev, &sc->scratch, &pe) != 0)
        return sc->pending ? fail_pending(sc)
                           : fail(sc, i, "not a canonical audit entry: %s", pe.msg);
    if (e.seq != i && sc->pending)
        return fail_pending(sc);
    if (e.seq > i)
        return fail(sc, i, "missing: line %llu holds sequence %llu (an entry was removed or moved)",
                    (unsigned long long)i + 1, (unsigned long long)e.seq);
    if (e.seq < i)
        return fail(sc, e.seq, "appears again at line %llu (an entry was inserted or copied)",
                    (unsigned long long)i + 1);
    if (memcmp(prev, s->prev, sizeof(prev)) != 0)
        return i == 0 ? fail(sc, 0, "the first entry must chain to a zero hash")
                      : fail(sc, i - 1, "does not hash to the value entry %llu chains to (edited)",
                             (unsigned long long)i);
    if (sc->pending)
        return fail_pending(sc);
    merkle_leaf_hash(line, len, leaf);
    if (merkle_frontier_push(&s->f, leaf) != 0)
        return fail(sc, i, "the tree is full");
    memcpy(s->prev, leaf, sizeof(leaf));
    return 0;
}

static int scan_entries(struct scan *sc)
{
    struct auditlog_scan *s = sc->s;
    const char *line;
    size_t len;
    struct err e;
    int r;

    for (;;) {
        while (sc->have_cp && sc->cp.size == s->f.size)
            if (check_root(sc) != 0)
                return -1;
        err_clear(&e);
        r = auditlog_lines_next(&sc->el, &line, &len, &e);
        if (r < 0)
            return fail(sc, s->f.size, "entries file: %s", e.msg);
        if (r == 0)
            break;
        if (entry_step(sc, line, len) != 0)
            return -1;
    }
    if (sc->pending)
        return fail_pending(sc);
    if (sc->have_cp)
        return fail(sc, s->f.size,
                    "the entries end here but checkpoint %llu signs tree size %llu (entries were "
                    "cut)",
                    (unsigned long long)sc->ncp, (unsigned long long)sc->cp.size);
    s->r.entries = s->f.size;
    s->r.unsigned_tail = s->f.size - s->r.signed_size;
    s->r.torn_bytes += sc->el.torn;
    s->entries_end = sc->el.off;
    return 0;
}

static int scan_open(const char *logdir, struct scan *sc, struct err *err)
{
    char p[PATH_MAX + 32];

    if (auditlog_path(p, sizeof(p), logdir, AUDITLOG_ENTRIES, err) != 0 ||
        auditlog_lines_open(&sc->el, p, AUDITLOG_LINE_MAX, err) != 0)
        return -1;
    if (auditlog_path(p, sizeof(p), logdir, AUDITLOG_CHECKPOINTS, err) != 0 ||
        auditlog_lines_open(&sc->cl, p, NOTE_MAX_BYTES, err) != 0)
        return -1;
    /* Take the memory up front: a failure in the loop must mean bad data,
     * never a refused allocation, and the loop should not allocate. */
    sc->arena = arena_new(16 * AUDITLOG_LINE_MAX);
    if (sc->arena == NULL || arena_alloc(sc->arena, 4 * AUDITLOG_LINE_MAX) == NULL ||
        buf_reserve(&sc->note, NOTE_MAX_BYTES) == NULL ||
        buf_reserve(&sc->scratch, AUDITLOG_LINE_MAX) == NULL)
        return err_set(err, "out of memory");
    arena_reset(sc->arena);
    return 0;
}

int auditlog_scan_run(const char *logdir, struct auditlog_scan *s, struct err *err)
{
    struct scan sc;
    int r;

    memset(&sc, 0, sizeof(sc));
    sc.el.fd = sc.cl.fd = -1;
    sc.s = s;
    sc.err = err;
    memset(&s->r, 0, sizeof(s->r));
    merkle_frontier_init(&s->f);
    memset(s->prev, 0, sizeof(s->prev));
    buf_init(&sc.note, NOTE_MAX_BYTES);
    buf_init(&sc.scratch, AUDITLOG_LINE_MAX + 1);
    r = scan_open(logdir, &sc, err);
    if (r == 0)
        r = next_checkpoint(&sc) || scan_entries(&sc) ? -1 : 0;
    auditlog_lines_close(&sc.el);
    auditlog_lines_close(&sc.cl);
    arena_free(sc.arena);
    buf_free(&sc.note);
    buf_free(&sc.scratch);
    return r;
}

int auditlog_verify(const char *logdir, const struct note_verifier *v, size_t nv,
                    const char *origin, struct auditlog_report *r, struct err *err)
{
    struct auditlog_scan s;
    char real[PATH_MAX], suffix[PATH_MAX + 1];
    const char *base;
    int rc;

    memset(&s, 0, sizeof(s));
    memset(r, 0, sizeof(*r));
    if (nv == 0)
        return err_set(err, "no verifier key given");
    if (origin == NULL) {
        /* Tie the checkpoints to the directory they sit in, so one tenant's
         * log cannot be passed off as another's. */
        if (realpath(logdir, real) == NULL)
            return err_set(err, "cannot resolve the directory: %s", strerror(errno));
        base = strrchr(real, '/');
        snprintf(suffix, sizeof(suffix), "/%s", base ? base + 1 : real);
        s.suffix = suffix;
    }
    s.v = v;
    s.nv = nv;
    s.origin = origin;
    rc = auditlog_scan_run(logdir, &s, err);
    *r = s.r;
    return rc;
}

int auditlog_foreach(const char *logdir, int (*fn)(void *ctx, const struct auditlog_entry *e),
                     void *ctx, struct err *err)
{
    struct scan sc;
    struct auditlog_entry e;
    merkle_hash prev;
    const char *line;
    size_t len;
    int r;

    memset(&sc, 0, sizeof(sc));
    sc.el.fd = sc.cl.fd = -1;
    buf_init(&sc.note, NOTE_MAX_BYTES);
    buf_init(&sc.scratch, AUDITLOG_LINE_MAX + 1);
    r = scan_open(logdir, &sc, err);
    for (uint64_t i = 0; r == 0; i++) {
        struct err pe;
        err_clear(&pe);
        arena_reset(sc.arena);
        r = auditlog_lines_next(&sc.el, &line, &len, err);
        if (r <= 0)
            break;
        if (auditlog_entry_parse(sc.arena, line, len, &e, prev, &sc.scratch, &pe) != 0)
            r = err_set(err, "sequence %llu: not a canonical audit entry: %s",
                        (unsigned long long)i, pe.msg);
        else
            r = fn(ctx, &e);
    }
    auditlog_lines_close(&sc.el);
    auditlog_lines_close(&sc.cl);
    arena_free(sc.arena);
    buf_free(&sc.note);
    buf_free(&sc.scratch);
    return r;
}
