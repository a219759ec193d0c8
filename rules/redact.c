/*
 * redact: field rules and PII detectors over a parsed JSON tree.
 *
 * One depth-first walk. At each node the field rules still alive for its
 * path are tried in file order (the first match acts); containers pass down
 * only the rules that may match below them, so a policy's field rules cost
 * nothing in subtrees they cannot reach. Every key, string and number that
 * survives goes through the detectors. Dropped members and elements are
 * compacted out in place.
 */
#include "engine_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define REDACTED_FIELD "[REDACTED]"

int walk_fail(struct walk *w, enum redact_status s, const char *fmt, ...)
{
    va_list ap;
    char msg[256];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w->status == REDACT_OK)
        w->status = s;
    return err_set(w->err, "%s", msg);
}

size_t redact_struct_index(const struct walk *w, enum struct_rule r)
{
    return w->pol->nfields + w->pol->npii + (size_t)r;
}

void redact_count(struct walk *w, size_t i, uint64_t n)
{
    if (i < w->rep->nrules)
        w->rep->rules[i].count += n;
}

int walk_init(struct walk *w, const struct redact_env *env, struct arena *a,
              struct redact_report *rep, struct err *err)
{
    const struct policy *p = env->policy;
    size_t n = p->nfields + p->npii + SRULE_COUNT, i = 0;

    memset(w, 0, sizeof(*w));
    w->env = env;
    w->pol = p;
    w->a = a;
    w->rep = rep;
    w->err = err;
    w->path_cap = (size_t)env->json.max_depth + 2;
    w->path = arena_alloc(a, w->path_cap * sizeof(*w->path));
    rep->rules = arena_zalloc(a, n * sizeof(*rep->rules));
    if (w->path == NULL || rep->rules == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    rep->nrules = n;
    w->live_words = (p->nfields + 63) / 64;
    for (size_t f = 0; f < p->nfields; f++, i++)
        rep->rules[i] = (struct rule_count){p->fields[f].id, p->fields[f].action, 0};
    for (size_t d = 0; d < p->npii; d++, i++)
        rep->rules[i] = (struct rule_count){p->pii_rules[d].id, p->pii_rules[d].action, 0};
    for (size_t s = 0; s < SRULE_COUNT; s++, i++)
        rep->rules[i] = (struct rule_count){struct_rule_id((enum struct_rule)s),
                                            struct_rule_action((enum struct_rule)s), 0};
    return 0;
}

/* Code points in well-formed UTF-8 (continuation bytes are not counted). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static size_t mask_len(const struct walk *w, const char *s, size_t n)
{
    return w->pol->mask_length ? w->pol->mask_length : utf8_chars(s, n);
}

static int ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

int redact_all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ascii_space((unsigned char)s[i]))
            return 0;
    return 1;
}

/* As rrweb masks text itself: one '*' per code point that is not
 * whitespace, whitespace kept, so the replayed layout keeps its lines. */
struct json *redact_mask_text(struct walk *w, const char *s, size_t n)
{
    struct json *v;
    char *d;
    size_t m = 0;

    if (w->pol->mask_length)
        return redact_mask_string(w, s, n);
    if (n > SIZE_MAX - sizeof(*v) - 1 || (v = arena_alloc(w->a, sizeof(*v) + n + 1)) == NULL)
        return NULL;
    d = (char *)(v + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ascii_space(c))
            d[m++] = (char)c;
        else if ((c & 0xC0) != 0x80)
            d[m++] = '*';
    }
    d[m] = '\0';
    /* '\n' and '\t' need escaping: not plain */
    *v = (struct json){.type = JSON_STRING, .len = m, .u.s = d};
    return v;
}

/* The node and its bytes in one allocation: a form batch masks every input. */
struct json *redact_mask_string(struct walk *w, const char *s, size_t n)
{
    size_t m = mask_len(w, s, n);
    struct json *v;
    char *d;

    if (m > SIZE_MAX - sizeof(*v) - 1 || (v = arena_alloc(w->a, sizeof(*v) + m + 1)) == NULL)
        return NULL;
    d = (char *)(v + 1);
    memset(d, '*', m);
    d[m] = '\0';
    *v =
        (struct json){.type = JSON_STRING, .flags = JSON_F_PLAIN /* all '*' */, .len = m, .u.s = d};
    return v;
}

/* Upper bound of the bytes one match's replacement takes. */
static size_t replacement_max(const struct walk *w, const struct pii_match *m, const char *s)
{
    size_t len = m->end - m->start;
    size_t mask = mask_len(w, s + m->start, len);
    size_t red = sizeof("[REDACTED:]") + strlen(pii_set_name(w->pol->pii, m->detector));
    size_t r = len > mask ? len : mask;

    r = r > red ? r : red;
    return r > PSEUDONYM_LEN ? r : PSEUDONYM_LEN;
}

/* Canonical form of a built-in detector's match before it is hashed, so one
 * value has one pseudonym however it was written: identifiers keep only
 * letters and digits, upper-cased ("GB82 WEST..." and "gb82west..." join);
 * emails are lower-cased. Custom detectors hash the match as written. */
static size_t hash_normalize(const char *name, const char *v, size_t len, char *d)
{
    size_t o = 0;
    int email = strcmp(name, "email") == 0;
    int ident = !email && (strcmp(name, "card") == 0 || strcmp(name, "iban") == 0 ||
                           strcmp(name, "ssn") == 0 || strcmp(name, "phone") == 0);

    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (ident && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            continue;
        if ((ident && c >= 'a' && c <= 'z'))
            c = (char)(c - 'a' + 'A');
        else if (email && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        d[o++] = c;
    }
    return o;
}

/* The pseudonym of one match, written at d (PSEUDONYM_LEN bytes). The
 * normalized copy is built in d's own room when it fits (the replacement
 * slot holds at least the match), so hashing allocates nothing. */
static void hash_match(struct walk *w, int detector, const char *v, size_t len, char *d)
{
    char h[PSEUDONYM_LEN + 1];
    size_t n = hash_normalize(pii_set_name(w->pol->pii, detector), v, len, d);

    w->env->pseudonym(w->env->pseudonym_ctx, "value", d, n, h);
    memcpy(d, h, PSEUDONYM_LEN);
}

static size_t put_replacement(struct walk *w, const struct pii_rule *rule,
                              const struct pii_match *m, const char *s, char *d)
{
    const char *v = s + m->start;
    size_t len = m->end - m->start, k;

    switch (rule->action) {
    case ACTION_MASK:
        k = mask_len(w, v, len);
        memset(d, '*', k);
        return k;
    case ACTION_REDACT: {
        const char *name = pii_set_name(w->pol->pii, m->detector);
        k = strlen(name);
        memcpy(d, "[REDACTED:", 10);
        memcpy(d + 10, name, k);
        d[10 + k] = ']';
        return k + 11;
    }
    case ACTION_HASH:
        hash_match(w, m->detector, v, len, d);
        return PSEUDONYM_LEN;
    default: /* keep: the detector only counts */
        memcpy(d, v, len);
        return len;
    }
}

static int splice_matches(struct walk *w, const char *s, size_t n, const struct pii_match *m,
                          size_t cnt, const char **out, size_t *outn)
{
    size_t cap = n + 1, o = 0, prev = 0;
    char *d;

    for (size_t i = 0; i < cnt; i++)
        cap += replacement_max(w, &m[i], s);
    d = arena_alloc(w->a, cap);
    if (d == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < cnt; i++) {
        memcpy(d + o, s + prev, m[i].start - prev);
        o += m[i].start - prev;
        o += put_replacement(w, &w->pol->pii_rules[m[i].detector], &m[i], s, d + o);
        prev = m[i].end;
    }
    memcpy(d + o, s + prev, n - prev);
    o += n - prev;
    d[o] = '\0';
    *out = d;
    *outn = o;
    return 0;
}

/* What redact_text does once pii_scan has answered something other than
 * "nothing found". */
static int scan_found(struct walk *w, enum pii_status st, const char *s, size_t n,
                      const struct pii_match *m, size_t cnt, const char **out, size_t *outn,
                      int *drop)
{
    int changed = 0;

    if (st == PII_LIMIT)
        return walk_fail(w, REDACT_LIMIT, "a detector reached its regex limit; payload dropped");
    if (st != PII_OK)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached while scanning");
    for (size_t i = 0; i < cnt; i++) {
        const struct pii_rule *r = &w->pol->pii_rules[m[i].detector];
        redact_count(w, w->pol->nfields + (size_t)m[i].detector, 1);
        if (r->action == ACTION_DROP)
            *drop = 1;
        changed |= r->action != ACTION_KEEP;
    }
    if (*drop || !changed)
        return 1;
    return splice_matches(w, s, n, m, cnt, out, outn) ? -1 : 1;
}

/* redact_text, with the common answer (nothing found) handled inline. */
static inline int scan_text(struct walk *w, const char *s, size_t n, const char **out, size_t *outn,
                            int *drop)
{
    struct pii_match *m;
    size_t cnt = 0;
    enum pii_status st = pii_scan(w->env->scanner, w->a, s, n, &m, &cnt);

    *out = s;
    *outn = n;
    if (st == PII_OK && cnt == 0)
        return 0;
    return scan_found(w, st, s, n, m, cnt, out, outn, drop);
}

int redact_text(struct walk *w, const char *s, size_t n, const char **out, size_t *outn, int *drop)
{
    return scan_text(w, s, n, out, outn, drop);
}

/*
 * The key memo. pii_scan is a pure function of the scanner and the bytes, so
 * a key the detectors found nothing in needs no second scan in the same
 * payload, and a payload repeats a small vocabulary of keys thousands of
 * times ("type", "id", "attributes"). Keys of up to 16 bytes are remembered
 * exactly, as their length and their bytes packed into two words, so a hit
 * is a comparison of every byte, never a guess. Only "no match" is
 * remembered: a key a detector matched is scanned (and counted) every time.
 * Values are not remembered: they repeat too little to pay for the lookup.
 */
struct memo_key {
    uint64_t w0, w1;
    uint32_t tag;
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Loads that stay inside s[0..n): two overlapping ones cover every byte, and
 * the overlap holds the same bytes from both. */
static inline void memo_pack(const char *s, size_t n, uint64_t *w0, uint64_t *w1)
{
    uint32_t x, y;

    *w0 = *w1 = 0;
    if (n >= 8) {
        memcpy(w0, s, 8);
        memcpy(w1, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        *w0 = x | (uint64_t)y << (8 * (n - 4));
    } else if (n > 0) {
        *w0 = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
              (uint64_t)(unsigned char)s[n - 1] << 16;
    }
}
#else
static inline void memo_pack(const char *s, size_t n, uint64_t *w0, uint64_t *w1)
{
    unsigned char b[16] = {0};

    memcpy(b, s, n);
    memcpy(w0, b, 8);
    memcpy(w1, b + 8, 8);
}
#endif

/* The set of two slots for key s[0..n), or NULL when s is too long to
 * remember. The hash reads the first word only: keys sharing eight bytes
 * and a length are rare, and then share a set, whose slots compare all. */
static inline struct memo_slot *memo_set(struct walk *w, const char *s, size_t n,
                                         struct memo_key *k)
{
    if (n > 16 || (s == NULL && n != 0))
        return NULL;
    memo_pack(s, n, &k->w0, &k->w1);
    k->tag = (uint32_t)n + 1;
    return &w->memo[2 * (((k->w0 + n) * 0x9E3779B97F4A7C15u) >> 40 & (MEMO_SETS - 1))];
}

static inline int memo_same(const struct memo_slot *m, const struct memo_key *k)
{
    return m->tag == k->tag && m->w0 == k->w0 && m->w1 == k->w1;
}

/* A memo miss: scan, and remember s when nothing was found, the set's
 * older slot making room. */
static __attribute__((noinline)) int scan_miss(struct walk *w, struct memo_slot *set,
                                               const struct memo_key *k, const char *s, size_t n,
                                               const char **out, size_t *outn, int *drop)
{
    int r = redact_text(w, s, n, out, outn, drop);

    if (r == 0 && set != NULL) {
        set[1] = set[0];
        set[0] = (struct memo_slot){k->w0, k->w1, k->tag};
    }
    return r;
}

/* redact_text for a key, skipped when the key is known to hold nothing. */
static inline int scan_key(struct walk *w, const char *s, size_t n, const char **out, size_t *outn,
                           int *drop)
{
    struct memo_key k;
    struct memo_slot *set = memo_set(w, s, n, &k);

    if (set != NULL && (memo_same(&set[0], &k) || memo_same(&set[1], &k))) {
        *out = s;
        *outn = n;
        return 0;
    }
    return scan_miss(w, set, &k, s, n, out, outn, drop);
}

/* Enter a container: the walk recurses, so its depth is bounded by the
 * path's room (the parse limit and two). */
static int depth_enter(struct walk *w)
{
    if (w->depth == w->path_cap)
        return walk_fail(w, REDACT_TOOBIG, "nesting deeper than the JSON depth limit");
    w->depth++;
    return 0;
}

static int field_first_match(const struct walk *w, const uint64_t *live)
{
    for (size_t i = 0; i < w->pol->nfields; i++)
        if ((live[i / 64] >> (i % 64) & 1) &&
            jpath_match(w->pol->fields[i].path, w->path, w->depth))
            return (int)i;
    return -1;
}

/* The rules of live that may still match below the current node; *out is
 * NULL when none can (the subtree then skips rule matching entirely). */
static inline int live_below(struct walk *w, const uint64_t *live, const uint64_t **out)
{
    uint64_t *set;
    int any = 0;

    *out = NULL;
    if (live == NULL)
        return 0;
    set = arena_zalloc(w->a, w->live_words * sizeof(*set));
    if (set == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < w->pol->nfields; i++) {
        if ((live[i / 64] >> (i % 64) & 1) &&
            jpath_may_match_below(w->pol->fields[i].path, w->path, w->depth)) {
            set[i / 64] |= (uint64_t)1 << (i % 64);
            any = 1;
        }
    }
    *out = any ? set : NULL;
    return 0;
}

static int hash_node(struct walk *w, const struct json *v, struct json **res)
{
    char h[PSEUDONYM_LEN + 1];
    struct buf b;

    if (v->type == JSON_STRING || v->type == JSON_NUMBER) {
        w->env->pseudonym(w->env->pseudonym_ctx, "value", v->u.s, v->len, h);
    } else {
        buf_init(&b, 0);
        if (json_write(&b, v)) {
            buf_free(&b);
            return walk_fail(w, REDACT_TOOBIG, "value too large to hash");
        }
        w->env->pseudonym(w->env->pseudonym_ctx, "value", b.data, b.len, h);
        buf_wipe(&b);
        buf_free(&b);
    }
    *res = json_new_string(w->a, h, PSEUDONYM_LEN);
    return *res ? 0 : walk_fail(w, REDACT_TOOBIG, "arena cap reached");
}

/* Apply field rule i to *slot. *descend says whether the walk goes on into
 * the node (keep, and mask of a container) and *masking whether leaves below
 * are masked. */
static int field_apply(struct walk *w, size_t i, struct json **slot, int *drop, int *descend,
                       int *masking)
{
    struct json *v = *slot;

    redact_count(w, i, 1);
    *descend = 0;
    switch (w->pol->fields[i].action) {
    case ACTION_KEEP:
        *descend = 1;
        return 0;
    case ACTION_DROP:
        *drop = 1;
        return 0;
    case ACTION_HASH:
        return hash_node(w, v, slot);
    case ACTION_REDACT:
        *slot = json_new_string(w->a, REDACTED_FIELD, sizeof(REDACTED_FIELD) - 1);
        if (*slot == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
        (*slot)->flags = JSON_F_PLAIN; /* ASCII, no quote or backslash */
        return 0;
    case ACTION_MASK:
        *descend = 1;
        *masking = 1;
        return 0;
    }
    return 0;
}

static int walk_node(struct walk *w, struct json **slot, const uint64_t *live, int masking,
                     int *drop);

static inline int walk_scalar(struct walk *w, struct json **slot, int masking, int *drop)
{
    struct json *v = *slot;
    const char *out;
    size_t outn;
    int r;

    if (v->type != JSON_STRING && v->type != JSON_NUMBER)
        return 0; /* true, false, null carry no value to find */
    if (masking) {
        *slot = redact_mask_string(w, v->u.s, v->len);
        return *slot ? 0 : walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    }
    r = scan_text(w, v->u.s, v->len, &out, &outn, drop);
    if (r <= 0 || *drop)
        return r < 0 ? -1 : 0;
    if (out == v->u.s && outn == v->len)
        return 0; /* matched by a keep rule: counted, unchanged */
    *slot = json_new_string(w->a, out, outn);
    return *slot ? 0 : walk_fail(w, REDACT_TOOBIG, "arena cap reached");
}

/* A child: scalars are handled here when no field rule is live, which is
 * the common case and saves a call per leaf. */
static inline int walk_child(struct walk *w, struct json **slot, const uint64_t *live, int masking,
                             int *drop)
{
    enum json_type t = (*slot)->type;

    if (live == NULL && t != JSON_ARRAY && t != JSON_OBJECT)
        return walk_scalar(w, slot, masking, drop);
    return walk_node(w, slot, live, masking, drop);
}

/* The path steps are only read by field rules, so they are written only
 * while one is live below. */
static int walk_array(struct walk *w, struct json *v, const uint64_t *live, int masking)
{
    const uint64_t *below;
    size_t o = 0;

    if (live_below(w, live, &below))
        return -1;
    if (v->len == 0)
        return 0;
    if (depth_enter(w))
        return -1;
    for (size_t k = 0; k < v->len; k++) {
        int drop = 0;
        if (below != NULL)
            w->path[w->depth - 1] = (struct jpath_step){NULL, 0, k};
        if (walk_child(w, &v->u.items[k], below, masking, &drop))
            return -1;
        if (!drop && o++ != k)
            v->u.items[o - 1] = v->u.items[k];
    }
    w->depth--;
    v->len = o;
    return 0;
}

/* Detectors on a member's key: a key can be PII too ({"jane@example.com": 1}). */
static int walk_key(struct walk *w, struct json_member *m, int *drop, int *changed)
{
    const char *out;
    size_t outn;
    int r = scan_key(w, m->key, m->klen, &out, &outn, drop);

    if (r < 0)
        return -1;
    if (r > 0 && !*drop && (out != m->key || outn != m->klen)) {
        if (outn > UINT32_MAX)
            return walk_fail(w, REDACT_TOOBIG, "redacted key longer than 4 GiB");
        m->key = out;
        m->klen = (uint32_t)outn;
        m->flags = 0; /* spliced bytes: the writer checks them */
        *changed = 1;
    }
    return 0;
}

/* Redacted keys can collide ("[REDACTED:email]" twice); the later member is
 * dropped so the output never has duplicate keys (invariant 2). */
static void drop_key_clashes(struct walk *w, struct json *v)
{
    size_t o = 0;

    for (size_t k = 0; k < v->len; k++) {
        int clash = 0;
        for (size_t j = 0; j < o && !clash; j++)
            clash = v->u.members[j].klen == v->u.members[k].klen &&
                    memcmp(v->u.members[j].key, v->u.members[k].key, v->u.members[k].klen) == 0;
        if (clash)
            redact_count(w, redact_struct_index(w, SRULE_KEY_CLASH), 1);
        else
            v->u.members[o++] = v->u.members[k];
    }
    v->len = o;
}

static int walk_object(struct walk *w, struct json *v, const uint64_t *live, int masking)
{
    const uint64_t *below;
    size_t o = 0;
    int changed = 0;

    if (live_below(w, live, &below))
        return -1;
    if (v->len == 0)
        return 0;
    if (depth_enter(w))
        return -1;
    for (size_t k = 0; k < v->len; k++) {
        struct json_member *m = &v->u.members[k];
        int drop = 0;
        if (below != NULL)
            w->path[w->depth - 1] = (struct jpath_step){m->key, m->klen, 0};
        if (walk_child(w, &m->value, below, masking, &drop))
            return -1;
        if (!drop && walk_key(w, m, &drop, &changed))
            return -1;
        if (!drop && o++ != k)
            v->u.members[o - 1] = *m;
    }
    w->depth--;
    v->len = o;
    if (changed)
        drop_key_clashes(w, v);
    return 0;
}

static int walk_node(struct walk *w, struct json **slot, const uint64_t *live, int masking,
                     int *drop)
{
    int descend = 1, i;

    if (live != NULL && (i = field_first_match(w, live)) >= 0) {
        if (field_apply(w, (size_t)i, slot, drop, &descend, &masking))
            return -1;
        if (!descend || *drop)
            return 0;
    }
    switch ((*slot)->type) {
    case JSON_ARRAY:
        return walk_array(w, *slot, live, masking);
    case JSON_OBJECT:
        return walk_object(w, *slot, live, masking);
    default:
        return walk_scalar(w, slot, masking, drop);
    }
}

int redact_tree(struct walk *w, struct json **root)
{
    uint64_t *live = NULL;
    int drop = 0;

    if (w->pol->nfields > 0) {
        live = arena_alloc(w->a, w->live_words * sizeof(*live));
        if (live == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
        memset(live, 0xff, w->live_words * sizeof(*live));
    }
    w->depth = 0;
    if (walk_node(w, root, live, 0, &drop))
        return -1;
    if (drop)
        *root = json_new_literal(w->a, JSON_NULL); /* the root itself was dropped */
    return *root ? 0 : walk_fail(w, REDACT_TOOBIG, "arena cap reached");
}
