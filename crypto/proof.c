#include "proof.h"

#include "rules/json.h"

#include <string.h>

#define INCLUSION_TAG   "scrim-audit inclusion proof"
#define CONSISTENCY_TAG "scrim-audit consistency proof"

void proof_init(struct proof *p)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->entry, PROOF_ENTRY_MAX);
    buf_init(&p->old_note, NOTE_MAX_BYTES);
    buf_init(&p->note, NOTE_MAX_BYTES);
}

void proof_free(struct proof *p)
{
    buf_free(&p->entry);
    buf_free(&p->old_note);
    buf_free(&p->note);
}

static int put_hash(struct buf *out, const char *key, const merkle_hash h)
{
    return buf_printf(out, "%s ", key) || note_b64_encode(out, h, MERKLE_HASH_BYTES) ||
           buf_putc(out, '\n');
}

static int format_head(const struct proof *p, struct buf *out)
{
    int incl = p->kind == PROOF_INCLUSION;

    return buf_printf(out, "%s\norigin %s\n%s %llu\nsize %llu\n",
                      incl ? INCLUSION_TAG : CONSISTENCY_TAG, p->origin, incl ? "index" : "old",
                      (unsigned long long)(incl ? p->index : p->old_size),
                      (unsigned long long)p->size) ||
           put_hash(out, incl ? "leaf" : "old-root", incl ? p->leaf : p->old_root) ||
           put_hash(out, "root", p->root);
}

int proof_format(const struct proof *p, struct buf *out)
{
    size_t mark = out->len;
    int r;

    if ((p->kind != PROOF_INCLUSION && p->kind != PROOF_CONSISTENCY) ||
        !note_name_ok(p->origin, strlen(p->origin), NOTE_ORIGIN_MAX) ||
        p->path_len > MERKLE_MAX_PROOF ||
        (p->kind == PROOF_INCLUSION &&
         (p->entry.len == 0 || memchr(p->entry.data, '\n', p->entry.len) != NULL)))
        return -1;
    r = format_head(p, out);
    if (!r && p->kind == PROOF_INCLUSION)
        r = buf_puts(out, "entry ") || buf_append(out, p->entry.data, p->entry.len) ||
            buf_putc(out, '\n');
    for (size_t i = 0; !r && i < p->path_len; i++)
        r = put_hash(out, "hash", p->path[i]);
    r = r || buf_putc(out, '\n');
    if (!r && p->kind == PROOF_CONSISTENCY)
        r = buf_append(out, p->old_note.data, p->old_note.len) || buf_putc(out, '\n');
    r = r || buf_append(out, p->note.data, p->note.len);
    if (r)
        buf_wipe_from(out, mark);
    return r ? -1 : 0;
}

/* The parser walks the text line by line; each step takes "<key> <value>". */
struct cursor {
    const char *s;
    size_t n, off;
    unsigned line;
};

static int take_line(struct cursor *c, const char **v, size_t *len)
{
    const char *nl;

    if (c->off >= c->n || (nl = memchr(c->s + c->off, '\n', c->n - c->off)) == NULL)
        return -1;
    *v = c->s + c->off;
    *len = (size_t)(nl - *v);
    c->off += *len + 1;
    c->line++;
    return 0;
}

/* The value of a line "<key> <value>"; -1 when the next line is not one. */
static int take_value(struct cursor *c, const char *key, const char **v, size_t *len)
{
    size_t k = strlen(key), save = c->off;
    unsigned line = c->line;
    const char *l;
    size_t n;

    if (take_line(c, &l, &n) != 0 || n <= k + 1 || memcmp(l, key, k) != 0 || l[k] != ' ') {
        c->off = save;
        c->line = line;
        return -1;
    }
    *v = l + k + 1;
    *len = n - k - 1;
    return 0;
}

static int take_u64(struct cursor *c, const char *key, uint64_t *out, struct err *err)
{
    unsigned at = c->line + 1;
    const char *v;
    size_t len;

    if (take_value(c, key, &v, &len) != 0 || note_u64_parse(v, len, out) != 0)
        return err_set(err, "proof line %u: expected '%s <decimal>'", at, key);
    return 0;
}

static int take_hash(struct cursor *c, const char *key, merkle_hash out, struct err *err)
{
    unsigned at = c->line + 1;
    const char *v;
    size_t len, got;

    if (take_value(c, key, &v, &len) != 0 || note_b64_decode(v, len, out, 32, &got) != 0 ||
        got != 32)
        return err_set(err, "proof line %u: expected '%s <base64 hash>'", at, key);
    return 0;
}

static int parse_head(struct cursor *c, struct proof *p, struct err *err)
{
    const char *v;
    size_t len;
    int incl;

    if (take_line(c, &v, &len) != 0)
        return err_set(err, "proof line 1: not a scrim-audit proof");
    if (len == strlen(INCLUSION_TAG) && memcmp(v, INCLUSION_TAG, len) == 0)
        p->kind = PROOF_INCLUSION;
    else if (len == strlen(CONSISTENCY_TAG) && memcmp(v, CONSISTENCY_TAG, len) == 0)
        p->kind = PROOF_CONSISTENCY;
    else
        return err_set(err, "proof line 1: not a scrim-audit proof");
    incl = p->kind == PROOF_INCLUSION;
    if (take_value(c, "origin", &v, &len) != 0 || !note_name_ok(v, len, NOTE_ORIGIN_MAX))
        return err_set(err, "proof line 2: expected 'origin <origin>'");
    memcpy(p->origin, v, len);
    p->origin[len] = '\0';
    return take_u64(c, incl ? "index" : "old", incl ? &p->index : &p->old_size, err) ||
                   take_u64(c, "size", &p->size, err) ||
                   take_hash(c, incl ? "leaf" : "old-root", incl ? p->leaf : p->old_root, err) ||
                   take_hash(c, "root", p->root, err)
               ? -1
               : 0;
}

/* The entry line holds canonical JSON: UTF-8 without control bytes. */
static int parse_entry(struct cursor *c, struct proof *p, struct err *err)
{
    unsigned at = c->line + 1;
    const char *v;
    size_t len;

    if (take_value(c, "entry", &v, &len) != 0 || !json_utf8_valid(v, len))
        return err_set(err, "proof line %u: expected 'entry <JSON line>'", at);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20)
            return err_set(err, "proof line %u: control byte in the entry", at);
    if (buf_append(&p->entry, v, len) != 0)
        return err_set(err, "proof line %u: entry longer than %d bytes", at, PROOF_ENTRY_MAX);
    return 0;
}

static int parse_path(struct cursor *c, struct proof *p, struct err *err)
{
    const char *v;
    size_t len;

    while (c->off < c->n && c->s[c->off] == 'h') {
        if (p->path_len == MERKLE_MAX_PROOF)
            return err_set(err, "proof line %u: more than %d hashes", c->line + 1,
                           MERKLE_MAX_PROOF);
        if (take_hash(c, "hash", p->path[p->path_len], err) != 0)
            return -1;
        p->path_len++;
    }
    if (take_line(c, &v, &len) != 0 || len != 0)
        return err_set(err, "proof line %u: expected a hash or an empty line", c->line);
    return 0;
}

/* One signed note; the last one runs to the end of the text, the one
 * before it is followed by an empty line. */
static int parse_note(struct cursor *c, struct buf *out, int last, struct err *err)
{
    size_t len, used;

    if (note_frame(c->s + c->off, c->n - c->off, &len, &used) != 0 ||
        (last ? used != c->n - c->off || len != used : used != len + 1))
        return err_set(err, "proof line %u: expected a signed checkpoint", c->line + 1);
    if (buf_append(out, c->s + c->off, len) != 0)
        return err_set(err, "proof line %u: checkpoint larger than %d bytes", c->line + 1,
                       NOTE_MAX_BYTES);
    for (size_t i = c->off; i < c->off + used; i++)
        c->line += c->s[i] == '\n';
    c->off += used;
    return 0;
}

int proof_parse(const char *s, size_t n, struct proof *p, struct err *err)
{
    struct cursor c = {s, n, 0, 0};

    proof_free(p);
    proof_init(p);
    if (parse_head(&c, p, err) != 0)
        return -1;
    if (p->kind == PROOF_INCLUSION && parse_entry(&c, p, err) != 0)
        return -1;
    if (parse_path(&c, p, err) != 0)
        return -1;
    if (p->kind == PROOF_CONSISTENCY && parse_note(&c, &p->old_note, 0, err) != 0)
        return -1;
    return parse_note(&c, &p->note, 1, err);
}

/* The note verifies, and its checkpoint states origin, size and root. */
static int check_note(const struct buf *note, const char *origin, uint64_t size,
                      const merkle_hash root, const struct note_verifier *v, size_t nv,
                      struct err *err)
{
    struct note_checkpoint cp;
    size_t tl;

    if (note_verify(note->data, note->len, v, nv, &tl, err) != 0 ||
        note_checkpoint_parse(note->data, tl, &cp, err) != 0)
        return err_set(err, "checkpoint of tree size %llu is not valid", (unsigned long long)size);
    if (strcmp(cp.origin, origin) != 0 || cp.size != size ||
        memcmp(cp.root, root, MERKLE_HASH_BYTES) != 0)
        return err_set(err,
                       "the signed checkpoint does not state origin %s, tree size %llu and "
                       "the proof's root",
                       origin, (unsigned long long)size);
    return 0;
}

int proof_check(const struct proof *p, const struct note_verifier *v, size_t nv, struct err *err)
{
    merkle_hash h;

    if (check_note(&p->note, p->origin, p->size, p->root, v, nv, err) != 0)
        return -1;
    if (p->kind == PROOF_CONSISTENCY) {
        if (check_note(&p->old_note, p->origin, p->old_size, p->old_root, v, nv, err) != 0)
            return -1;
        if (!merkle_consistency_verify(p->old_size, p->size, p->old_root, p->root, p->path,
                                       p->path_len))
            return err_set(err, "consistency proof from tree size %llu to %llu does not verify",
                           (unsigned long long)p->old_size, (unsigned long long)p->size);
        return 0;
    }
    merkle_leaf_hash(p->entry.data, p->entry.len, h);
    if (memcmp(h, p->leaf, MERKLE_HASH_BYTES) != 0)
        return err_set(err, "the entry does not hash to the proof's leaf hash");
    if (!merkle_inclusion_verify(p->index, p->size, p->leaf, p->path, p->path_len, p->root))
        return err_set(err, "inclusion proof of entry %llu in tree size %llu does not verify",
                       (unsigned long long)p->index, (unsigned long long)p->size);
    return 0;
}
