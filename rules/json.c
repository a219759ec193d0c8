/*
 * json.c: the strict RFC 8259 parser and canonical writer (contract in json.h).
 *
 * The parser is a state machine over an explicit stack, so nesting depth
 * costs heap, never C stack, whatever limit a config sets. Every value's
 * node is written once, in document order, into blocks the parser takes from
 * the arena a few at a time; the engine's walks and the writer visit the
 * tree in that same order. The children of an open container wait on a
 * scratch stack as item pointers or as members (key and node); when the
 * container closes they are copied into its item or member array, one arena
 * allocation per container and none per element.
 *
 * Strings are validated in one scan (UTF-8 per RFC 3629 table 3, escapes,
 * surrogate pairing); only strings that hold an escape are decoded, in a
 * second pass, into the arena. The scan skips plain ASCII sixteen bytes at a
 * time where SSE2 exists: replay payloads are mostly short ASCII strings,
 * and this loop is where the time goes.
 */
#include "rules/json.h"

#include "common/mem.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const struct json_limits json_default_limits = {64, 1000000};

/* An open array or object: its type, its node, and where its children
 * begin on the scratch stack of its kind (items or members). */
struct frame {
    enum json_type type;
    struct json *node;
    size_t base;
};

#define LOCAL_KIDS      64
#define POOL_MIN        16
#define POOL_MAX        256
#define LOCAL_FRAMES    32
#define DUP_LINEAR_MAX  16
#define WS_MASK         ((1ull << ' ') | (1ull << '\n') | (1ull << '\r') | (1ull << '\t'))
#define IS_DIGIT(c)     ((unsigned)(c) - '0' < 10u)
#define IS_CONT(c)      (((c)&0xC0) == 0x80)
#define SURROGATE_HI(c) ((c) >= 0xD800 && (c) <= 0xDBFF)
#define SURROGATE_LO(c) ((c) >= 0xDC00 && (c) <= 0xDFFF)

struct parser {
    struct arena *a;
    const unsigned char *buf, *end;
    struct err *err;
    enum json_status status; /* of the first failure */
    size_t nodes, max_nodes;
    unsigned max_depth;
    struct json *pool; /* nodes taken from the arena, not used yet */
    size_t pool_left, pool_size;
    struct json **items; /* the children of the open arrays */
    size_t nitems, itemcap;
    struct json_member *mems; /* the members of the open objects, */
    size_t *offs;             /* and their keys' offsets for a duplicate-key report */
    size_t nmems, memcap;
    struct frame *frames;
    size_t depth, framecap;
    const struct json_member **sorted; /* duplicate-key check of large objects */
    size_t sortcap;
    struct json *item_local[LOCAL_KIDS];
    struct json_member mem_local[LOCAL_KIDS];
    size_t off_local[LOCAL_KIDS];
    struct frame frame_local[LOCAL_FRAMES];
};

/* ---- shared scanners (parser and writer) ---- */

/* The bytes scan_special stops at, for the tail shorter than a vector. */
static const unsigned char special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* First byte at or after q that is '"', '\\', a control character or not
 * ASCII; end if none. These are exactly the bytes that need a closer look in
 * both directions, so the parser and the writer share this loop. */
static inline const unsigned char *scan_special(const unsigned char *q, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');

    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        /* Signed compare: bytes >= 0x80 are negative, so "< ' '" flags them
         * together with the control characters. */
        __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask != 0)
            return q + __builtin_ctz(mask);
        q += 16;
    }
#endif
    while (q < end && !special[*q])
        q++;
    return q;
}

/* Length of the well-formed UTF-8 sequence at q (RFC 3629 table 3: no
 * overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *q, const unsigned char *end)
{
    size_t avail = (size_t)(end - q);
    unsigned c = q[0], lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && IS_CONT(q[1]) ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return avail >= 3 && q[1] >= lo && q[1] <= hi && IS_CONT(q[2]) ? 3 : 0;
    }
    if (c > 0xF4)
        return 0;
    if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    return avail >= 4 && q[1] >= lo && q[1] <= hi && IS_CONT(q[2]) && IS_CONT(q[3]) ? 4 : 0;
}

int json_utf8_valid(const char *s, size_t n)
{
    const unsigned char *q = (const unsigned char *)s, *end = q + n;

    while (q < end) {
        size_t k;
        if (*q < 0x80) {
            q++;
            continue;
        }
        k = utf8_seq(q, end);
        if (k == 0)
            return 0;
        q += k;
    }
    return 1;
}

/* ---- parser: errors and scratch memory ---- */

/* Parser functions return the position after what they consumed, or NULL
 * after recording the failure here; the first failure wins. Keeping the
 * cursor in a return value rather than in *p lets the compiler hold it in a
 * register across the hot loop. */
static const unsigned char *parse_fail(struct parser *p, enum json_status st,
                                       const unsigned char *at, const char *what)
{
    if (p->status == JSON_OK) {
        p->status = st;
        err_set(p->err, "offset %zu: %s", (size_t)(at - p->buf), what);
    }
    return NULL;
}

#define BAD(p, at, what)    parse_fail((p), JSON_BAD, (at), (what))
#define TOOBIG(p, at, what) parse_fail((p), JSON_TOOBIG, (at), (what))

/* Double a scratch array that may still live in the parser's local storage.
 * NULL when the system allocator refuses (only under fault injection). */
static void *scratch_grow(void *arr, size_t *cap, size_t elem, const void *local)
{
    size_t ncap = *cap * 2;
    void *n;

    if (*cap > SIZE_MAX / 2 / elem)
        return NULL;
    if (arr == local) {
        n = xmalloc(ncap * elem);
        if (n != NULL)
            memcpy(n, arr, *cap * elem);
    } else {
        n = xrealloc(arr, ncap * elem);
    }
    if (n != NULL)
        *cap = ncap;
    return n;
}

/* Room for one more item pointer; -1 when scratch memory fails. */
static inline int items_room(struct parser *p)
{
    struct json **n;

    if (p->nitems < p->itemcap)
        return 0;
    if ((n = scratch_grow(p->items, &p->itemcap, sizeof(*n), p->item_local)) == NULL)
        return -1;
    p->items = n;
    return 0;
}

/* Room for one more member and its offset. The two arrays grow apart; the
 * capacity counts only once both have. */
static inline int mems_room(struct parser *p)
{
    size_t cap = p->memcap, cap2 = p->memcap;
    struct json_member *m;
    size_t *o;

    if (p->nmems < p->memcap)
        return 0;
    if ((m = scratch_grow(p->mems, &cap, sizeof(*m), p->mem_local)) == NULL)
        return -1;
    p->mems = m;
    if ((o = scratch_grow(p->offs, &cap2, sizeof(*o), p->off_local)) == NULL)
        return -1;
    p->offs = o;
    p->memcap = cap;
    return 0;
}

/* The node for the next value, in document order. Nodes come from the arena
 * in blocks that double up to POOL_MAX (and never beyond what the node limit
 * leaves), so a parse makes a handful of arena calls for its nodes, not one
 * per value. NULL over the arena cap. */
static inline struct json *node_take(struct parser *p)
{
    if (p->pool_left == 0) {
        size_t n = p->pool_size == 0 ? POOL_MIN : p->pool_size * 2;
        size_t left = p->max_nodes - p->nodes + 1; /* this value is counted */
        if (n > POOL_MAX)
            n = POOL_MAX;
        if (n > left)
            n = left;
        if ((p->pool = arena_alloc(p->a, n * sizeof(*p->pool))) == NULL)
            return NULL;
        p->pool_size = p->pool_left = n;
    }
    p->pool_left--;
    return p->pool++;
}

static inline const unsigned char *ws_skip(const unsigned char *q, const unsigned char *end)
{
    while (q < end && *q <= ' ' && ((1ull << *q) & WS_MASK))
        q++;
    return q;
}

/* 1 when the next byte after any whitespace is c (never whitespace itself),
 * with *qp moved past the whitespace. When c is right there, as in compact
 * JSON, that is one comparison. */
static inline int next_is(const unsigned char **qp, const unsigned char *end, unsigned char c)
{
    const unsigned char *q = *qp;

    if (q < end && *q == c)
        return 1;
    q = ws_skip(q, end);
    *qp = q;
    return q < end && *q == c;
}

/* ---- parser: strings ---- */

static int hex4(const unsigned char *q)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        unsigned c = q[i], d;
        if (IS_DIGIT(c))
            d = c - '0';
        else if ((c | 0x20) - 'a' < 6u)
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | (int)d;
    }
    return v;
}

/* What each two-byte escape stands for (RFC 8259 s7); 0: not an escape. */
static const char unescape[128] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

/* Validate the escape at q (a backslash) and step over it. A \u escape of a
 * high surrogate must be followed by one of a low surrogate (RFC 8259 s7);
 * anything else would decode to ill-formed UTF-8, which other parsers repair
 * in different ways. */
static const unsigned char *escape_check(struct parser *p, const unsigned char *q)
{
    const unsigned char *end = p->end;
    int cp, lo;

    if (end - q < 2)
        return BAD(p, q, "unterminated string");
    if (q[1] != 'u') {
        if (q[1] >= 0x80 || unescape[q[1]] == 0)
            return BAD(p, q, "invalid escape");
        return q + 2;
    }
    if (end - q < 6 || (cp = hex4(q + 2)) < 0)
        return BAD(p, q, "invalid \\u escape");
    if (SURROGATE_LO(cp))
        return BAD(p, q, "low surrogate escape without a high one");
    if (!SURROGATE_HI(cp))
        return q + 6;
    if (end - q < 12 || q[6] != '\\' || q[7] != 'u' || (lo = hex4(q + 8)) < 0 || !SURROGATE_LO(lo))
        return BAD(p, q, "high surrogate escape without a low one");
    return q + 12;
}

/* Move *q to the first byte scan_special would stop at; 1 when that byte is
 * the closing quote. The quote is told from the other stops by its own
 * mask, so the common case never reloads the byte it found. */
static inline int string_find_quote(const unsigned char **qp, const unsigned char *end)
{
    const unsigned char *q = *qp;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');

    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        unsigned mq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
        unsigned m = mq | (unsigned)_mm_movemask_epi8(
                              _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, bslash)));
        if (m != 0) {
            unsigned b = (unsigned)__builtin_ctz(m);
            *qp = q + b;
            return (int)(mq >> b & 1);
        }
        q += 16;
    }
#endif
    q = scan_special(q, end);
    *qp = q;
    return q < end && *q == '"';
}

/* Scan the string whose opening quote is at q; return the byte after its
 * closing quote, with the raw content in *s and *n and *esc saying whether it
 * holds an escape. */
static inline __attribute__((always_inline)) const unsigned char *
string_scan(struct parser *p, const unsigned char *q, const unsigned char **s, size_t *n, int *esc)
{
    const unsigned char *end = p->end;

    *s = ++q;
    *esc = 0;
    for (;;) {
        if (string_find_quote(&q, end))
            break;
        if (q == end)
            return BAD(p, q, "unterminated string");
        if (*q == '\\') {
            *esc = 1;
            if ((q = escape_check(p, q)) == NULL)
                return NULL;
        } else if (*q >= 0x80) {
            size_t k = utf8_seq(q, end);
            if (k == 0)
                return BAD(p, q, "invalid UTF-8");
            q += k;
        } else {
            return BAD(p, q, "control character in string");
        }
    }
    *n = (size_t)(q - *s);
    return q + 1;
}

static unsigned char *utf8_put(unsigned char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *d++ = (unsigned char)(0xC0 | cp >> 6);
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (unsigned char)(0xE0 | cp >> 12);
        *d++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (unsigned char)(0xF0 | cp >> 18);
        *d++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return d;
}

/* Decode the (already validated) escape at s into *dp; return the byte after
 * it. */
static const unsigned char *escape_decode(const unsigned char *s, unsigned char **dp)
{
    unsigned cp;

    if (s[1] != 'u') {
        *(*dp)++ = (unsigned char)unescape[s[1]];
        return s + 2;
    }
    cp = (unsigned)hex4(s + 2);
    s += 6;
    if (SURROGATE_HI(cp)) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)hex4(s + 2) - 0xDC00);
        s += 6;
    }
    *dp = utf8_put(*dp, cp);
    return s;
}

/* Every escape is at least as long as what it decodes to, so n raw bytes
 * always fit in n decoded ones. */
static size_t string_decode(const unsigned char *s, size_t n, unsigned char *d)
{
    const unsigned char *e = s + n;
    unsigned char *d0 = d;

    while (s < e) {
        const unsigned char *b = memchr(s, '\\', (size_t)(e - s));
        size_t run = (size_t)((b != NULL ? b : e) - s);
        memcpy(d, s, run);
        d += run;
        if (b == NULL)
            break;
        s = escape_decode(b, &d);
    }
    return (size_t)(d - d0);
}

/* Scan the string at q and return its decoded content: a pointer into the
 * input when it has no escape (and then JSON_F_PLAIN in *flags: the scan
 * proved it well-formed UTF-8 without a quote, backslash or control
 * character), else a decoded copy in the arena. */
static inline __attribute__((always_inline)) const unsigned char *
string_get(struct parser *p, const unsigned char *q, const char **out, size_t *outn,
           uint32_t *flags)
{
    const unsigned char *s, *at = q;
    size_t n;
    int esc;
    unsigned char *d;

    if ((q = string_scan(p, q, &s, &n, &esc)) == NULL)
        return NULL;
    *flags = esc ? 0 : JSON_F_PLAIN;
    if (!esc) {
        *out = (const char *)s;
        *outn = n;
        return q;
    }
    d = arena_alloc(p->a, n);
    if (d == NULL)
        return TOOBIG(p, at, "arena cap reached");
    *outn = string_decode(s, n, d);
    *out = (const char *)d;
    return q;
}

/* ---- parser: numbers and literals ---- */

/* End of the RFC 8259 s6 number at q:
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * or NULL with *bad and *why saying where and what is wrong. */
static const unsigned char *number_end(const unsigned char *q, const unsigned char *end,
                                       const unsigned char **bad, const char **why)
{
    if (q < end && *q == '-')
        q++;
    *bad = q;
    *why = "expected a digit";
    if (q == end || !IS_DIGIT(*q))
        return NULL;
    if (*q++ == '0') {
        *why = "leading zero in number";
        if (q < end && IS_DIGIT(*q))
            return NULL;
    }
    while (q < end && IS_DIGIT(*q))
        q++;
    *why = "expected a digit after '.'";
    if (q < end && *q == '.') {
        *bad = ++q;
        if (q == end || !IS_DIGIT(*q))
            return NULL;
        while (q < end && IS_DIGIT(*q))
            q++;
    }
    *why = "expected a digit in the exponent";
    if (q < end && (*q == 'e' || *q == 'E')) {
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        *bad = q;
        if (q == end || !IS_DIGIT(*q))
            return NULL;
        while (q < end && IS_DIGIT(*q))
            q++;
    }
    return q;
}

/* The full grammar, for what number_get's fast path does not take. */
static __attribute__((noinline)) const unsigned char *number_full(struct parser *p,
                                                                  const unsigned char *q)
{
    const unsigned char *bad, *e;
    const char *why;

    if ((e = number_end(q, p->end, &bad, &why)) == NULL)
        return BAD(p, bad, why);
    return e;
}

/* d is the value's node. The lexeme is kept verbatim, so no precision is
 * lost or invented. */
static inline const unsigned char *number_get(struct parser *p, const unsigned char *q,
                                              struct json *d)
{
    const unsigned char *e = q;

    /* Most numbers in replay payloads are ids and times: an integer not
     * starting with 0, ended by a byte that cannot continue a number.
     * Anything else takes the full grammar. */
    if (*e >= '1' && *e <= '9') {
        do
            e++;
        while (e < p->end && IS_DIGIT(*e));
        if (e < p->end && (*e == '.' || *e == 'e' || *e == 'E'))
            e = NULL;
    } else {
        e = NULL;
    }
    if (e == NULL && (e = number_full(p, q)) == NULL)
        return NULL;
    d->type = JSON_NUMBER;
    d->flags = 0;
    d->len = (size_t)(e - q);
    d->u.s = (const char *)q;
    return e;
}

static const unsigned char *literal_get(struct parser *p, const unsigned char *q, struct json *d)
{
    static const struct {
        const char *word;
        size_t n;
        enum json_type t;
    } lit[3] = {{"true", 4, JSON_TRUE}, {"false", 5, JSON_FALSE}, {"null", 4, JSON_NULL}};
    int k = *q == 't' ? 0 : *q == 'f' ? 1 : 2;

    if ((size_t)(p->end - q) < lit[k].n || memcmp(q, lit[k].word, lit[k].n) != 0)
        return BAD(p, q, "expected a value");
    d->type = lit[k].t;
    d->flags = 0;
    d->len = 0;
    d->u.s = NULL;
    return q + lit[k].n;
}

/* ---- parser: containers ---- */

static int key_cmp(const struct json_member *x, const struct json_member *y)
{
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return memcmp(x->key, y->key, x->klen);
}

/* Most keys of one object differ in length or first byte; test those
 * before calling memcmp. */
static inline int key_same(const struct json_member *x, const struct json_member *y)
{
    return x->klen == y->klen &&
           (x->klen == 0 || (x->key[0] == y->key[0] && memcmp(x->key, y->key, x->klen) == 0));
}

/* Bottom-up merge sort of n member pointers (tmp holds n more):
 * deterministic O(n log n), so no key set an attacker picks can make it
 * quadratic, which a hash table with a public hash function could not
 * promise. */
static const struct json_member **members_sort(const struct json_member **a,
                                               const struct json_member **tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = key_cmp(a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        const struct json_member **t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/* 1 when two keys of m[0..n) might be equal: equal keys have the same
 * length and end bytes, so they set the same one of 64 bits. No collision
 * proves every key distinct without comparing pairs. */
static int keys_may_repeat(const struct json_member *m, size_t n)
{
    uint64_t seen = 0;

    for (size_t i = 0; i < n; i++) {
        size_t k = m[i].klen;
        unsigned h = k == 0 ? 0
                            : (unsigned)(k * 7 + (unsigned char)m[i].key[0] * 3 +
                                         (unsigned char)m[i].key[k - 1]);
        uint64_t bit = (uint64_t)1 << (h & 63);
        if (seen & bit)
            return 1;
        seen |= bit;
    }
    return 0;
}

/* Set *dup to the offset of a key of m[0..n) (offsets in off[]) that
 * repeats an earlier one, or to SIZE_MAX when all are distinct; -1 when the
 * sort's scratch memory is refused. Keys are compared decoded, so "a" and
 * "\u0061" are the same key. Small objects, the common case, are checked
 * pairwise, and only when their keys' signatures collide. */
static int object_dups(struct parser *p, const unsigned char *q, const struct json_member *m,
                       const size_t *off, size_t n, size_t *dup)
{
    const struct json_member **sorted;

    *dup = SIZE_MAX;
    if (n <= DUP_LINEAR_MAX) {
        if (!keys_may_repeat(m, n))
            return 0;
        for (size_t j = 1; j < n; j++)
            for (size_t i = 0; i < j; i++)
                if (key_same(&m[i], &m[j])) {
                    *dup = off[j];
                    return 0;
                }
        return 0;
    }
    if (p->sortcap < 2 * n) {
        xfree(p->sorted);
        p->sortcap = 2 * n;
        p->sorted = xmalloc(p->sortcap * sizeof(*p->sorted));
        if (p->sorted == NULL) {
            p->sortcap = 0;
            TOOBIG(p, q, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++)
        p->sorted[i] = &m[i];
    sorted = members_sort(p->sorted, p->sorted + n, n);
    for (size_t i = 1; i < n; i++)
        if (key_cmp(sorted[i - 1], sorted[i]) == 0) {
            *dup = off[sorted[i] - m];
            break;
        }
    return 0;
}

/* The open object's n members, from the scratch stack into the arena. */
static int object_fill(struct parser *p, const unsigned char *q, struct json *d, size_t base,
                       size_t n)
{
    size_t dup;
    struct json_member *mem;

    if (object_dups(p, q, p->mems + base, p->offs + base, n, &dup) < 0)
        return -1;
    if (dup != SIZE_MAX) {
        BAD(p, p->buf + dup, "duplicate object key");
        return -1;
    }
    mem = arena_alloc(p->a, n * sizeof(*mem));
    if (mem == NULL) {
        TOOBIG(p, q, "arena cap reached");
        return -1;
    }
    memcpy(mem, p->mems + base, n * sizeof(*mem));
    d->u.members = mem;
    return 0;
}

/* The open array's n item pointers, from the scratch stack into the arena. */
static int array_fill(struct parser *p, const unsigned char *q, struct json *d, size_t base,
                      size_t n)
{
    struct json **items = arena_alloc(p->a, n * sizeof(*items));

    if (items == NULL) {
        TOOBIG(p, q, "arena cap reached");
        return -1;
    }
    memcpy(items, p->items + base, n * sizeof(*items));
    d->u.items = items;
    return 0;
}

/* The closing bracket at q-1 has been consumed: fill in the container's
 * node from its children on the scratch stack and release them. */
static const unsigned char *container_close(struct parser *p, const unsigned char *q)
{
    struct frame f = p->frames[--p->depth];
    struct json *d = f.node;
    size_t n;
    int r = 0;

    d->type = f.type;
    d->flags = 0;
    d->u.items = NULL;
    if (f.type == JSON_OBJECT) {
        n = d->len = p->nmems - f.base;
        if (n > 0)
            r = object_fill(p, q, d, f.base, n);
        p->nmems = f.base;
    } else {
        n = d->len = p->nitems - f.base;
        if (n > 0)
            r = array_fill(p, q, d, f.base, n);
        p->nitems = f.base;
    }
    return r < 0 ? NULL : q;
}

/* Open the container whose bracket is at q, its node d. An empty one is
 * closed at once; otherwise it is left open (p->depth one more) for its own
 * loop to fill. */
static inline const unsigned char *container_open(struct parser *p, const unsigned char *q,
                                                  struct json *d, enum json_type t)
{
    unsigned char close = t == JSON_OBJECT ? '}' : ']';

    if (p->depth >= p->max_depth)
        return TOOBIG(p, q, "nesting deeper than the depth limit");
    q = ws_skip(q + 1, p->end);
    if (q < p->end && *q == close) {
        d->type = t;
        d->flags = 0;
        d->len = 0;
        d->u.items = NULL;
        return q + 1;
    }
    if (p->depth == p->framecap) {
        struct frame *f = scratch_grow(p->frames, &p->framecap, sizeof(*f), p->frame_local);
        if (f == NULL)
            return TOOBIG(p, q, "out of memory");
        p->frames = f;
    }
    p->frames[p->depth].type = t;
    p->frames[p->depth].node = d;
    p->frames[p->depth].base = t == JSON_OBJECT ? p->nmems : p->nitems;
    p->depth++;
    return q;
}

/* ---- parser: states ---- */

/* Whitespace, then the first byte of a value, counted against the node
 * limit; the position of that byte, or NULL. */
static inline const unsigned char *value_start(struct parser *p, const unsigned char *q)
{
    /* The bytes a value can start with. */
    static const unsigned char first[256] = {
        ['"'] = 1, ['['] = 1, ['{'] = 1, ['t'] = 1, ['f'] = 1, ['n'] = 1,
        ['-'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
        ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    };

    if (!(q < p->end && first[*q])) {
        q = ws_skip(q, p->end);
        if (q == p->end || !first[*q])
            return BAD(p, q, "expected a value");
    }
    if (++p->nodes > p->max_nodes)
        return TOOBIG(p, q, "more values than the node limit");
    return q;
}

/* The value whose first byte value_start found at q, into its node d. */
static inline __attribute__((always_inline)) const unsigned char *
value_get(struct parser *p, const unsigned char *q, struct json *d)
{
    switch (*q) {
    case '"':
        d->type = JSON_STRING;
        return string_get(p, q, &d->u.s, &d->len, &d->flags);
    case '[':
        return container_open(p, q, d, JSON_ARRAY);
    case '{':
        return container_open(p, q, d, JSON_OBJECT);
    case 't':
    case 'f':
    case 'n':
        return literal_get(p, q, d);
    default:
        return number_get(p, q, d);
    }
}

/* One member's key and colon, onto the member stack; the position after
 * the colon. */
static inline const unsigned char *member_key(struct parser *p, const unsigned char *q,
                                              struct json_member **out)
{
    struct json_member *m;
    size_t n, off;

    if (!next_is(&q, p->end, '"'))
        return BAD(p, q, "expected a string key");
    if (mems_room(p) < 0)
        return TOOBIG(p, q, "out of memory");
    off = (size_t)(q - p->buf);
    p->offs[p->nmems] = off;
    m = &p->mems[p->nmems++];
    if ((q = string_get(p, q, &m->key, &n, &m->flags)) == NULL)
        return NULL;
    if (n > UINT32_MAX)
        return TOOBIG(p, p->buf + off, "key longer than 4 GiB");
    m->klen = (uint32_t)n;
    if (!next_is(&q, p->end, ':'))
        return BAD(p, q, "expected ':'");
    *out = m;
    return q + 1;
}

/*
 * The members of the innermost open object from q on: after a member's
 * value when after is set, else at a key. The loop runs until a value opens
 * a container (whose own loop then takes over) or the object closes, so a
 * run of scalar members never leaves it.
 */
static const unsigned char *object_run(struct parser *p, const unsigned char *q, int after)
{
    size_t depth = p->depth;

    for (;;) {
        if (!after) {
            struct json_member *m;
            if ((q = member_key(p, q, &m)) == NULL || (q = value_start(p, q)) == NULL)
                return NULL;
            if ((m->value = node_take(p)) == NULL)
                return TOOBIG(p, q, "arena cap reached");
            if ((q = value_get(p, q, m->value)) == NULL || p->depth != depth)
                return q;
        }
        after = 0;
        if (next_is(&q, p->end, ',')) {
            q++;
            continue;
        }
        if (q < p->end && *q == '}')
            return container_close(p, q + 1);
        return BAD(p, q, "expected ',' or '}'");
    }
}

/* The items of the innermost open array; as object_run. */
static const unsigned char *array_run(struct parser *p, const unsigned char *q, int after)
{
    size_t depth = p->depth;

    for (;;) {
        if (!after) {
            struct json *d;
            if ((q = value_start(p, q)) == NULL)
                return NULL;
            if (items_room(p) < 0)
                return TOOBIG(p, q, "out of memory");
            if ((d = node_take(p)) == NULL)
                return TOOBIG(p, q, "arena cap reached");
            p->items[p->nitems++] = d;
            if ((q = value_get(p, q, d)) == NULL || p->depth != depth)
                return q;
        }
        after = 0;
        if (next_is(&q, p->end, ',')) {
            q++;
            continue;
        }
        if (q < p->end && *q == ']')
            return container_close(p, q + 1);
        return BAD(p, q, "expected ',' or ']'");
    }
}

/* The root value, then the innermost open container's loop until none is
 * open. A loop that closed its container hands over to its parent, after
 * that value; one that opened a child hands over to the child's first key
 * or item. */
static enum json_status parse_run(struct parser *p, struct json **root)
{
    const unsigned char *q = value_start(p, p->buf);
    int after = 0;

    if (q != NULL && (*root = node_take(p)) == NULL)
        q = TOOBIG(p, q, "arena cap reached");
    if (q != NULL)
        q = value_get(p, q, *root);
    while (q != NULL && p->depth > 0) {
        size_t depth = p->depth;
        if (p->frames[depth - 1].type == JSON_OBJECT)
            q = object_run(p, q, after);
        else
            q = array_run(p, q, after);
        after = p->depth < depth;
    }
    if (q != NULL && ws_skip(q, p->end) != p->end)
        BAD(p, ws_skip(q, p->end), "trailing data after the value");
    return p->status;
}

enum json_status json_parse(struct arena *a, const char *buf, size_t len,
                            const struct json_limits *lim, struct json **out, struct err *err)
{
    struct parser p;
    struct json *root = NULL;

    if (lim == NULL)
        lim = &json_default_limits;
    /* The cursor uses NULL for "failed", so a NULL buffer becomes an empty
     * one (and so an error) before it could be mistaken for that. */
    if (buf == NULL) {
        buf = "";
        len = 0;
    }
    memset(&p, 0, offsetof(struct parser, item_local));
    p.a = a;
    p.buf = (const unsigned char *)buf;
    p.end = p.buf + len;
    p.err = err;
    p.status = JSON_OK;
    p.max_nodes = lim->max_nodes;
    p.max_depth = lim->max_depth;
    p.items = p.item_local;
    p.itemcap = LOCAL_KIDS;
    p.mems = p.mem_local;
    p.offs = p.off_local;
    p.memcap = LOCAL_KIDS;
    p.frames = p.frame_local;
    p.framecap = LOCAL_FRAMES;
    *out = NULL;
    /* A BOM is not JSON (RFC 8259 s8.1); some parsers skip it and some
     * don't, which is a differential. */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        BAD(&p, p.buf, "byte-order mark");
    else
        parse_run(&p, &root);
    if (p.items != p.item_local)
        xfree(p.items);
    if (p.mems != p.mem_local)
        xfree(p.mems);
    if (p.offs != p.off_local)
        xfree(p.offs);
    if (p.frames != p.frame_local)
        xfree(p.frames);
    xfree(p.sorted);
    *out = p.status == JSON_OK ? root : NULL;
    return p.status;
}

/* ---- constructors and queries ---- */

static struct json *node_new(struct arena *a, enum json_type t, const char *s, size_t n)
{
    struct json *v = arena_alloc(a, sizeof(*v));
    char *d = NULL;

    if (v == NULL)
        return NULL;
    if (s != NULL) {
        d = arena_alloc(a, n);
        if (d == NULL)
            return NULL;
        memcpy(d, s, n);
    }
    v->type = t;
    v->flags = 0;
    v->len = n;
    v->u.s = d;
    return v;
}

struct json *json_new_string(struct arena *a, const char *s, size_t n)
{
    if (s == NULL && n != 0)
        return NULL;
    return node_new(a, JSON_STRING, s != NULL ? s : "", n);
}

/* Only a valid RFC 8259 lexeme is accepted: the writer emits it verbatim. */
struct json *json_new_number(struct arena *a, const char *lexeme, size_t n)
{
    const unsigned char *q = (const unsigned char *)lexeme, *bad;
    const char *why;

    if (lexeme == NULL || number_end(q, q + n, &bad, &why) != q + n)
        return NULL;
    return node_new(a, JSON_NUMBER, lexeme, n);
}

struct json *json_new_literal(struct arena *a, enum json_type t)
{
    if (t != JSON_NULL && t != JSON_TRUE && t != JSON_FALSE)
        return NULL;
    return node_new(a, t, NULL, 0);
}

struct json *json_get(const struct json *o, const char *key)
{
    size_t n;

    if (o == NULL || o->type != JSON_OBJECT || key == NULL)
        return NULL;
    n = strlen(key);
    for (size_t i = 0; i < o->len; i++)
        if (o->u.members[i].klen == n && memcmp(o->u.members[i].key, key, n) == 0)
            return o->u.members[i].value;
    return NULL;
}

/* ---- tree walks without recursion (writer and json_tree_equal) ---- */

/* Trees built by edits may be deeper than any parse limit, so the writer
 * and json_tree_equal walk with their own stack, not recursion. A frame is an
 * open container (with its counterpart b in json_tree_equal) and the index of
 * its next child. */
struct wframe {
    const struct json *a, *b;
    size_t i;
};

struct twalk {
    struct wframe *f;
    size_t n, cap;
    struct wframe local[LOCAL_FRAMES];
};

static void walk_init(struct twalk *w)
{
    w->f = w->local;
    w->n = 0;
    w->cap = LOCAL_FRAMES;
}

static void walk_free(struct twalk *w)
{
    if (w->f != w->local)
        xfree(w->f);
}

static inline int walk_push(struct twalk *w, const struct json *a, const struct json *b)
{
    if (w->n == w->cap) {
        struct wframe *f = scratch_grow(w->f, &w->cap, sizeof(*f), w->local);
        if (f == NULL)
            return -1;
        w->f = f;
    }
    w->f[w->n].a = a;
    w->f[w->n].b = b;
    w->f[w->n].i = 0;
    w->n++;
    return 0;
}

static int is_container(const struct json *v)
{
    return v->type == JSON_ARRAY || v->type == JSON_OBJECT;
}

/* Type, length and scalar bytes; children are compared by the walk. */
static int node_same(const struct json *a, const struct json *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type != b->type || a->len != b->len)
        return 0;
    if (a->len == 0 || a->u.s == b->u.s)
        return 1;
    if (a->u.s == NULL || b->u.s == NULL)
        return 0; /* a broken edit: never "equal" to a real tree */
    if (a->type == JSON_STRING || a->type == JSON_NUMBER)
        return memcmp(a->u.s, b->u.s, a->len) == 0;
    return 1;
}

/* Next pair of children to compare, or 0 when the walk is over. Keys are
 * compared here, since they are not nodes. */
static int equal_next(struct twalk *w, const struct json **a, const struct json **b, int *same)
{
    while (w->n > 0) {
        struct wframe *f = &w->f[w->n - 1];
        size_t i = f->i++;
        if (i == f->a->len) {
            w->n--;
            continue;
        }
        if (f->a->type == JSON_ARRAY) {
            *a = f->a->u.items[i];
            *b = f->b->u.items[i];
            return 1;
        }
        const struct json_member *ma = &f->a->u.members[i], *mb = &f->b->u.members[i];
        if (ma->klen != mb->klen || (ma->klen != 0 && (ma->key == NULL || mb->key == NULL ||
                                                       memcmp(ma->key, mb->key, ma->klen) != 0))) {
            *same = 0;
            return 0;
        }
        *a = ma->value;
        *b = mb->value;
        return 1;
    }
    return 0;
}

int json_tree_equal(const struct json *a, const struct json *b)
{
    struct twalk w;
    int same = 1;

    walk_init(&w);
    do {
        if (!node_same(a, b)) {
            same = 0;
            break;
        }
        /* Without memory for the walk (fault injection only) the trees
         * are not proven equal, and "different" is the safe answer. */
        if (a != NULL && is_container(a) && a->len > 0 && walk_push(&w, a, b) < 0) {
            same = 0;
            break;
        }
    } while (equal_next(&w, &a, &b, &same));
    walk_free(&w);
    return same;
}

/* ---- canonical writer ---- */

/* The writer reserves the buf a chunk at a time and fills the chunk with
 * plain stores, committing when it needs the next one: a call into buf per
 * token would cost more than the writing. */
struct wout {
    struct buf *b;
    char *base; /* reserved in b, not yet committed */
    char *p;
    size_t room; /* bytes left at p */
};

#define WOUT_CHUNK 65536

static void wout_commit(struct wout *w)
{
    if (w->base != NULL)
        buf_commit(w->b, (size_t)(w->p - w->base));
    w->base = w->p = NULL;
    w->room = 0;
}

static int wout_grow(struct wout *w, size_t n)
{
    size_t want = n > WOUT_CHUNK ? n : WOUT_CHUNK, left;

    wout_commit(w);
    left = w->b->max - w->b->len;
    if (want > left)
        want = left;
    if (want < n || (w->p = buf_reserve(w->b, want)) == NULL)
        return -1;
    w->base = w->p;
    w->room = want;
    return 0;
}

/* Copy n bytes; short runs (most keys and values) with a few fixed-size
 * moves instead of a call. Every load stays inside s[0..n). */
static inline void bytes_copy(char *d, const char *s, size_t n)
{
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* Make room for n more bytes at w->p. */
static inline int wout_need(struct wout *w, size_t n)
{
    return n <= w->room ? 0 : wout_grow(w, n);
}

/* Append n bytes the caller made room for. */
static inline void wout_raw(struct wout *w, const void *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
    w->room -= n;
}

static inline int wout_put(struct wout *w, const void *s, size_t n)
{
    if (n == 0)
        return 0;
    if (wout_need(w, n) < 0)
        return -1;
    wout_raw(w, s, n);
    return 0;
}

static inline int wout_byte(struct wout *w, char c)
{
    if (w->room == 0 && wout_grow(w, 1) < 0)
        return -1;
    *w->p++ = c;
    w->room--;
    return 0;
}

/* The one escape form for character c (RFC 8259 s7): the short forms where
 * JSON has them, else \u00XX in lowercase hex. */
static int escape_write(struct wout *w, unsigned c)
{
    static const char hex[] = "0123456789abcdef";
    static const char short_esc['\\' + 1] = {
        ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
        ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't',
    };
    char e[6] = {'\\', 'u', '0', '0', hex[c >> 4 & 0xF], hex[c & 0xF]};

    if (c < sizeof(short_esc) && short_esc[c] != 0) {
        e[1] = short_esc[c];
        return wout_put(w, e, 2);
    }
    return wout_put(w, e, 6);
}

/* Ill-formed UTF-8 is refused rather than written: output another parser
 * would repair differently is what invariant 2 forbids. */
static int string_write(struct wout *w, const char *s, size_t n)
{
    const unsigned char *q = (const unsigned char *)s, *run = q, *end = q + n;

    if (wout_byte(w, '"') < 0)
        return -1;
    while ((q = scan_special(q, end)) < end) {
        if (*q >= 0x80) {
            size_t k = utf8_seq(q, end);
            if (k == 0)
                return -1;
            q += k;
            continue;
        }
        if (wout_put(w, run, (size_t)(q - run)) < 0 || escape_write(w, *q) < 0)
            return -1;
        run = ++q;
    }
    if (wout_put(w, run, (size_t)(end - run)) < 0)
        return -1;
    return wout_byte(w, '"');
}

/* A string whose bytes are known to need no escape (JSON_F_PLAIN) is copied
 * between its quotes in one piece; any other is checked and escaped. */
static inline int text_write(struct wout *w, const char *s, size_t n, uint32_t flags)
{
    if (s == NULL && n != 0)
        return -1;
    if (!(flags & JSON_F_PLAIN) || n >= SIZE_MAX - 2)
        return string_write(w, s, n);
    if (wout_need(w, n + 2) < 0)
        return -1;
    *w->p = '"';
    bytes_copy(w->p + 1, s, n);
    w->p[n + 1] = '"';
    w->p += n + 2;
    w->room -= n + 2;
    return 0;
}

/* A number's lexeme, which the parser or json_new_number validated. */
static inline int lexeme_write(struct wout *w, const struct json *v)
{
    if (v->len == 0 || v->u.s == NULL || wout_need(w, v->len) < 0)
        return -1;
    bytes_copy(w->p, v->u.s, v->len);
    w->p += v->len;
    w->room -= v->len;
    return 0;
}

/* A scalar or an empty container. */
static inline __attribute__((always_inline)) int value_write(struct wout *w, const struct json *v)
{
    switch (v->type) {
    case JSON_NULL:
        return wout_put(w, "null", 4);
    case JSON_FALSE:
        return wout_put(w, "false", 5);
    case JSON_TRUE:
        return wout_put(w, "true", 4);
    case JSON_NUMBER:
        return lexeme_write(w, v);
    case JSON_STRING:
        return text_write(w, v->u.s, v->len, v->flags);
    case JSON_ARRAY:
        return wout_put(w, "[]", 2);
    case JSON_OBJECT:
        return wout_put(w, "{}", 2);
    default:
        return -1;
    }
}

static int is_open_container(const struct json *v)
{
    return is_container(v) && v->len > 0;
}

/* Open a non-empty container: its bracket, and a frame for its children. A
 * NULL item or member array can only come from an engine edit gone wrong; it
 * fails the write rather than producing something else. */
static inline int open_write(struct wout *out, struct twalk *w, const struct json *v)
{
    if (v->u.items == NULL || wout_byte(out, v->type == JSON_OBJECT ? '{' : '[') < 0)
        return -1;
    return walk_push(w, v, NULL);
}

/* The member's separator, key and colon: reserved and copied in one piece
 * when the key is plain. */
static inline int key_write(struct wout *out, const struct json_member *m, int comma)
{
    size_t n = m->klen;

    if (m->key == NULL && n != 0)
        return -1;
    if (!(m->flags & JSON_F_PLAIN))
        return (comma && wout_byte(out, ',') < 0) || string_write(out, m->key, n) < 0 ||
                       wout_byte(out, ':') < 0
                   ? -1
                   : 0;
    if (wout_need(out, n + 3 + (size_t)comma) < 0)
        return -1;
    *out->p = ',';
    out->p += comma;
    out->p[0] = '"';
    bytes_copy(out->p + 1, m->key, n);
    out->p[n + 1] = '"';
    out->p[n + 2] = ':';
    out->p += n + 3;
    out->room -= n + 3 + (size_t)comma;
    return 0;
}

/* Write the children of the container on top of the walk, from its next one
 * on, until one is a non-empty container (opened and pushed) or the last is
 * written (closed and popped). 0, or -1 on failure. */
static int members_write(struct wout *out, struct twalk *w)
{
    struct wframe *f = &w->f[w->n - 1];
    const struct json *o = f->a;

    for (size_t i = f->i; i < o->len; i++) {
        const struct json_member *m = &o->u.members[i];
        const struct json *v = m->value;
        if (key_write(out, m, i > 0) < 0 || v == NULL)
            return -1;
        if (is_open_container(v)) {
            f->i = i + 1;
            return open_write(out, w, v);
        }
        if (value_write(out, v) < 0)
            return -1;
    }
    w->n--;
    return wout_byte(out, '}');
}

static int items_write(struct wout *out, struct twalk *w)
{
    struct wframe *f = &w->f[w->n - 1];
    const struct json *a = f->a;

    for (size_t i = f->i; i < a->len; i++) {
        const struct json *v = a->u.items[i];
        if ((i > 0 && wout_byte(out, ',') < 0) || v == NULL)
            return -1;
        if (is_open_container(v)) {
            f->i = i + 1;
            return open_write(out, w, v);
        }
        if (value_write(out, v) < 0)
            return -1;
    }
    w->n--;
    return wout_byte(out, ']');
}

static int tree_write(struct wout *out, const struct json *v, struct twalk *w)
{
    if (v == NULL)
        return -1;
    if (!is_open_container(v))
        return value_write(out, v);
    if (open_write(out, w, v) < 0)
        return -1;
    while (w->n > 0) {
        const struct json *c = w->f[w->n - 1].a;
        if ((c->type == JSON_OBJECT ? members_write(out, w) : items_write(out, w)) < 0)
            return -1;
    }
    return 0;
}

/* Commit what was written; on failure zero it and drop it, so a caller
 * never forwards half a document. */
static int write_done(struct wout *w, size_t start, int r)
{
    struct buf *b = w->b;

    wout_commit(w);
    if (r < 0 && b->data != NULL) {
        memset(b->data + start, 0, b->len - start);
        b->len = start;
    }
    return r;
}

int json_write(struct buf *out, const struct json *v)
{
    struct wout o = {out, NULL, NULL, 0};
    struct twalk w;
    size_t start = out->len;
    int r;

    walk_init(&w);
    r = tree_write(&o, v, &w);
    walk_free(&w);
    return write_done(&o, start, r);
}

int json_write_string(struct buf *out, const char *s, size_t n)
{
    struct wout o = {out, NULL, NULL, 0};
    size_t start = out->len;
    const unsigned char *u = (const unsigned char *)s;
    char *d;

    if (s == NULL && n != 0)
        return -1;
    /* Printable ASCII without a quote or backslash (names, pseudonyms) is
     * its own escaped form: one reservation, one copy. */
    if (n == 0 || (n < SIZE_MAX - 2 && scan_special(u, u + n) == u + n)) {
        if ((d = buf_reserve(out, n + 2)) == NULL)
            return -1;
        d[0] = '"';
        bytes_copy(d + 1, s, n);
        d[n + 1] = '"';
        buf_commit(out, n + 2);
        return 0;
    }
    return write_done(&o, start, string_write(&o, s, n));
}
