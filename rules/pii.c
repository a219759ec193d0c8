/*
 * pii: compiling detector sets and scanning strings with them.
 *
 * Evaluation order for one string (docs/pii.md):
 *   1. a string shorter than every detector's shortest match is skipped;
 *   2. the prefilter: one pass notes the digit count and which byte
 *      classes occur, and each built-in whose features are absent is
 *      skipped without calling PCRE2 (the rarer features are computed
 *      only when a built-in asks for them);
 *   3. every remaining detector finds its candidates with PCRE2 and judges
 *      each one (the built-in's C check; for custom detectors the
 *      validator, then the context words). In a long string the built-ins
 *      run window by window (below), each only on the windows that pass
 *      its prefilter; custom detectors always see the whole string;
 *   4. the matches are sorted and overlaps resolved: earliest start, then
 *      longest, then lowest detector index; a loser that reaches past the
 *      winner keeps that tail, so no matched byte is left out.
 * Any PCRE2 error, including the match and depth limits, ends the scan with
 * PII_LIMIT: the caller fails the payload closed.
 */
#include "rules/pii.h"

#include "common/mem.h"
#include "rules/pii_impl.h"

#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define PII_MATCH_LIMIT   100000
#define PII_DEPTH_LIMIT   1000
#define PII_WINDOW        64
#define PII_JIT_STACK     (32 * 1024)
#define PII_JIT_STACK_MAX (1024 * 1024)

/* Options for every pattern: UTF, and matching that treats invalid UTF-8 in
 * the subject as a barrier instead of an error, because pii_scan is also
 * handed raw bytes. */
#define PII_COMPILE_OPTS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C)

struct pii_det {
    char *name;
    pcre2_code *code;
    int jit; /* JIT-compiled: pcre2_jit_match, skipping pcre2_match's checks */
    const struct pii_builtin *builtin; /* NULL for a custom detector */
    enum pii_validator validator;
    char **context;
    size_t ncontext;
    size_t window;
    size_t min_len;
    uint32_t re_min; /* PCRE2's own minimum match length, in characters */
    unsigned cls;    /* C_* classes of which a string must hold one; 0: none */
};

/*
 * The prefilter. One pass over every string counts digits and notes which
 * byte classes occur; it is branch-free and costs about a cycle a byte.
 * The rarer features (three dots, a 20-byte token run, "LLDD") are computed
 * only when a detector that needs them is otherwise still in the running,
 * so a string of plain words costs that one pass and nothing else.
 */
#define DIGIT_ONE  ((uint64_t)1 << 32)
#define CHUNK      ((size_t)1 << 22)
#define QUICK_LONG 16 /* gates for this many bytes or more are checked apart */

enum {
    C_DIG = 1,
    C_TOK = 2, /* letters, digits, '_' and '-': token runs (API keys, JWTs) */
    C_DOT = 4,
    C_COLON = 8,
    C_AT = 16,
    C_PCT = 32,  /* of "%40" */
    C_J = 64,    /* of "eyJ" */
    C_KEY = 128, /* '_', '-', 'A': every API key shape has one */
    C_CUT = 256, /* a window ends here (see "Windows" below); not in f->any */
};

/* A digit also carries 1 << 32, so one sum counts the digits while one OR
 * collects the classes (see features_init). */
#define D_ (DIGIT_ONE | C_DIG | C_TOK)
#define T_ C_TOK
#define K_ (C_TOK | C_KEY)
#define X_ C_CUT
/* clang-format off */
static const uint64_t byte_class[256] = {
    /* 0x00 */ X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_,
    /* 0x10 */ X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_,
    /*          ' ' !   "   #   $   %      &   '   (  )  *   +  ,  -   .      / */
    /* 0x20 */ 0, X_, X_, X_, X_, C_PCT, X_, X_, 0, 0, X_, 0, 0, K_, C_DOT, 0,
    /*          0-9                                   :        ;   <   =   >   ? */
    /* 0x30 */ D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, C_COLON, X_, X_, X_, X_, X_,
    /* 0x40 */ C_AT, K_, T_, T_, T_, T_, T_, T_, T_, T_, T_ | C_J, T_, T_, T_, T_, T_,
    /*          P-Z                                       [   \   ]   ^   _ */
    /* 0x50 */ T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, X_, X_, X_, X_, K_,
    /* 0x60 */ X_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_,
    /*          p-z                                       {   |   }   ~   DEL */
    /* 0x70 */ T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, X_, X_, X_, X_, X_,
};
/* clang-format on */
#undef D_
#undef T_
#undef K_
#undef X_

struct features {
    const char *s;
    size_t n;
    size_t digits;
    unsigned any;   /* C_* classes present */
    unsigned known; /* PII_F_* bits computed so far */
    unsigned flags; /* ... and their values */
};

/* The one pass every string gets. The low 32 bits of the sum would carry
 * into the digit count after 2^24 bytes of the largest class value
 * (C_CUT), so long strings are summed in chunks; four bytes a step keep
 * the loop short. */
static void features_init(struct features *f, const char *s, size_t n, int pass)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t any = 0;
    size_t digits = 0;

    for (size_t i = 0; pass && i < n;) {
        size_t end = n - i > CHUNK ? i + CHUNK : n;
        uint64_t sum = 0;

        for (; i + 4 <= end; i += 4) {
            uint64_t c0 = byte_class[p[i]], c1 = byte_class[p[i + 1]];
            uint64_t c2 = byte_class[p[i + 2]], c3 = byte_class[p[i + 3]];

            any |= c0 | c1 | c2 | c3;
            sum += c0 + c1 + c2 + c3;
        }
        for (; i < end; i++) {
            any |= byte_class[p[i]];
            sum += byte_class[p[i]];
        }
        digits += (size_t)(sum >> 32);
    }
    *f = (struct features){s, n, digits, (unsigned)(any & 0xFF), 0, 0};
}

/* 1 when the three bytes t occur in s[0..n). */
static int has3(const char *s, size_t n, const char *t)
{
    for (const char *p = s; n >= 3 && (p = memchr(p, t[0], n - 2 - (size_t)(p - s))) != NULL; p++)
        if (p[1] == t[1] && p[2] == t[2])
            return 1;
    return 0;
}

/* 1 when byte c occurs at least k times. */
static int has_k(const char *s, size_t n, int c, size_t k)
{
    for (const char *p = s; k > 0; p++, k--)
        if ((p = memchr(p, c, n - (size_t)(p - s))) == NULL)
            return 0;
    return 1;
}

/* 1 when a run of 20 token bytes occurs. */
static int has_token_run(const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n && run < 20; i++)
        run = (run + 1) & ((size_t)0 - (byte_class[(unsigned char)s[i]] / C_TOK & 1));
    return run >= 20;
}

static int is_letter(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26;
}

/* 1 when two ASCII letters are followed by two digits (an IBAN's start).
 * Only a digit after a letter can be the third of the four, and in text
 * that is rare, so most bytes cost one test. */
static int has_lldd(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 2; i + 1 < n; i++)
        if ((byte_class[u[i]] & C_DIG) && is_letter(u[i - 1]) && is_letter(u[i - 2]) &&
            (byte_class[u[i + 1]] & C_DIG))
            return 1;
    return 0;
}

static int feature_compute(const struct features *f, unsigned bit)
{
    switch (bit) {
    case PII_F_AT:
        return (f->any & C_AT) || ((f->any & C_PCT) && has3(f->s, f->n, "%40"));
    case PII_F_DOTS:
        return (f->any & C_DOT) && has_k(f->s, f->n, '.', 3);
    case PII_F_COLONS:
        return (f->any & C_COLON) && has_k(f->s, f->n, ':', 2);
    case PII_F_EYJ:
        return (f->any & C_J) && has3(f->s, f->n, "eyJ");
    case PII_F_TOKEN:
        return has_token_run(f->s, f->n);
    case PII_F_LLDD:
        return has_lldd(f->s, f->n);
    }
    return 1;
}

/* 1 when built-in b could match the string: its cheap needs first (length,
 * digits, byte classes), then the features computed on demand. */
/* A string of digits only (a JSON number, an epoch timestamp) holds a card
 * only as a whole: the pattern refuses a card glued to more digits. So the
 * card pattern runs only on a 13-19 digit string that passes Luhn, and
 * nine in ten timestamps never reach PCRE2. */
static int digits_only_card(const struct pii_builtin *b, const struct features *f)
{
    if (b != pii_builtin_card || f->digits != f->n)
        return 1;
    return f->n >= 13 && f->n <= 19 && pii_luhn_valid(f->s, f->n);
}

/* Without a '+' or a separator, the phone layouts that fit digits only are
 * NANP (10 or 11 digits) and national numbers, which start with 0 (00 for
 * international): anything else, an epoch timestamp say, is no phone. */
static int digits_only_phone(const struct pii_builtin *b, const struct features *f)
{
    if (b != pii_builtin_phone || f->digits != f->n)
        return 1;
    return f->s[0] == '0' || f->n == 10 || f->n == 11;
}

/* 1 when f has every PII_F_* bit of need, computing the missing ones. */
static int features_have(struct features *f, unsigned need)
{
    for (unsigned todo = need & ~f->known; todo != 0; todo &= todo - 1) {
        unsigned bit = todo & -todo;

        f->known |= bit;
        f->flags |= feature_compute(f, bit) ? bit : 0u;
    }
    return (f->flags & need) == need;
}

/* The gate's checks that need no feature pass. */
static int builtin_cheap(const struct pii_builtin *b, unsigned cls, const struct features *f)
{
    return f->n >= b->min_len && f->digits >= b->min_digits && (cls == 0 || (f->any & cls) != 0) &&
           digits_only_card(b, f) && digits_only_phone(b, f);
}

static int builtin_wanted(const struct pii_builtin *b, unsigned cls, struct features *f)
{
    return builtin_cheap(b, cls, f) && features_have(f, b->need);
}

/*
 * Windows. A long string is cut at every byte that no built-in pattern can
 * match, consume or test in a lookaround: the controls, DEL and the ASCII
 * punctuation marked X_ in byte_class. The patterns use only letters,
 * digits, space and "%()+,-./:@_", and no non-ASCII byte is a cut, since
 * the phone extension's caseless 's' matches U+017F. So every match,
 * and every byte PCRE2 reads to find it from a start inside a window, lies
 * in that window; the checks only narrow a candidate or widen it over
 * bytes of those same classes. Running a built-in over one window (the
 * subject cut at the window's end, lookbehinds still seeing the bytes
 * before it) therefore finds exactly the matches the whole-string scan
 * finds there, and a window that lacks what every match of the built-in
 * holds (span_len, span_digits, need: pii_validate.c) holds no match.
 * A stylesheet is a few hundred short declarations, most of which no
 * built-in wants, so PCRE2 sees a small part of it.
 */
/* 1 when built-in b can match inside the window w. */
static int window_wanted(const struct pii_builtin *b, unsigned cls, struct features *w)
{
    if (w->n < b->span_len || w->digits < b->span_digits || (cls != 0 && (w->any & cls) == 0))
        return 0;
    return features_have(w, b->need);
}

struct pii_set {
    struct pii_det *det;
    size_t n, cap;
    pcre2_general_context *gctx;
    pcre2_compile_context *cctx;
    size_t min_len;  /* no detector matches a shorter string */
    size_t span_len; /* no built-in matches a shorter window */
    int has_builtin;
    /* What every detector needs, summed up: a string shorter than
     * quick_len, with fewer digits than quick_digits and none of the
     * classes in quick_cls (or, from quick_long bytes on, quick_cls_long)
     * can match none, provided it also fails the detectors that need both
     * digits and a class (ipv4): fewer digits than quick_both_digits or
     * none of quick_both_cls. Most replay strings, and the short integers
     * of ids, look like that and stop there. */
    size_t quick_len, quick_digits, quick_long, quick_both_digits;
    unsigned quick_cls, quick_cls_long, quick_both_cls;
};

struct pii_scanner {
    const struct pii_set *set;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    pcre2_match_data **md; /* one per detector */
    size_t nmd;
    size_t windowed_min; /* strings this long are scanned window by window */
};

/* The matches found so far, in the caller's arena. */
struct hits {
    struct arena *a;
    struct pii_match *m;
    size_t n, cap;
};

/* PCRE2 allocates through these, so its memory is counted by mem_live()
 * and fails under mem_fail_after() like everything else. */
static void *pcre_alloc(PCRE2_SIZE n, void *ud)
{
    (void)ud;
    return xmalloc(n);
}

static void pcre_free(void *p, void *ud)
{
    (void)ud;
    xfree(p);
}

struct pii_set *pii_set_new(void)
{
    struct pii_set *set = xcalloc(1, sizeof(*set));

    if (set == NULL)
        return NULL;
    set->min_len = SIZE_MAX;
    set->span_len = SIZE_MAX;
    set->quick_len = SIZE_MAX;
    set->quick_digits = SIZE_MAX;
    set->quick_long = SIZE_MAX;
    set->quick_both_digits = SIZE_MAX;
    set->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    if (set->gctx != NULL)
        set->cctx = pcre2_compile_context_create(set->gctx);
    if (set->cctx == NULL) {
        pii_set_free(set);
        return NULL;
    }
    return set;
}

static void det_free(struct pii_det *d)
{
    pcre2_code_free(d->code);
    xfree(d->name);
    for (size_t i = 0; i < d->ncontext; i++)
        xfree(d->context[i]);
    xfree(d->context);
}

void pii_set_free(struct pii_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        det_free(&set->det[i]);
    xfree(set->det);
    pcre2_compile_context_free(set->cctx);
    pcre2_general_context_free(set->gctx);
    xfree(set);
}

size_t pii_set_count(const struct pii_set *set)
{
    return set->n;
}

const char *pii_set_name(const struct pii_set *set, int detector)
{
    if (detector < 0 || (size_t)detector >= set->n)
        return NULL;
    return set->det[detector].name;
}

/* Compile and JIT one pattern. Without JIT (no support on this CPU, or no
 * memory for it) the interpreter runs the same pattern under the same
 * limits, only slower. */
static pcre2_code *compile_pattern(struct pii_set *set, const char *name, const char *pattern,
                                   uint32_t opts, size_t *bad_offset, struct err *err)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                     opts | PII_COMPILE_OPTS, &ec, &eo, set->cctx);

    if (code == NULL) {
        PCRE2_UCHAR msg[256];

        /* a message too long for msg comes back truncated, which is fine */
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) == PCRE2_ERROR_BADDATA)
            memcpy(msg, "unknown error", sizeof("unknown error"));
        if (bad_offset != NULL)
            *bad_offset = eo;
        err_set(err, "pii detector \"%s\": bad pattern at offset %zu: %s", name, (size_t)eo,
                (const char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

/* The byte classes of which a string needs one for built-in b to match. */
static unsigned need_classes(const struct pii_builtin *b)
{
    static const struct {
        unsigned feature, cls;
    } map[] = {
        {PII_F_AT, C_AT | C_PCT}, {PII_F_DOTS, C_DOT},  {PII_F_COLONS, C_COLON},
        {PII_F_EYJ, C_J},         {PII_F_TOKEN, C_KEY},
    };
    unsigned cls = 0;

    for (size_t i = 0; b != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (b->need & map[i].feature)
            cls |= map[i].cls;
    return cls;
}

static void quick_add(struct pii_set *set, const struct pii_det *d)
{
    size_t digits = d->builtin ? d->builtin->min_digits : 0;

    if (digits > 0 && d->cls != 0) {
        /* rejected by too few digits or by no class: either will do */
        set->quick_both_digits = digits < set->quick_both_digits ? digits : set->quick_both_digits;
        set->quick_both_cls |= d->cls;
    } else if (digits > 0) {
        set->quick_digits = digits < set->quick_digits ? digits : set->quick_digits;
    } else if (d->cls != 0) {
        set->quick_cls_long |= d->cls;
        if (d->min_len < QUICK_LONG)
            set->quick_cls |= d->cls;
        else if (d->min_len < set->quick_long)
            set->quick_long = d->min_len;
    } else if (d->min_len < set->quick_len) {
        set->quick_len = d->min_len;
    }
}

static int jit_compiled(const pcre2_code *code)
{
    size_t size = 0;

    return pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &size) == 0 && size > 0;
}

/* Append d to the set (taking its allocations); its index, or -1. */
static int set_push(struct pii_set *set, struct pii_det *d, struct err *err)
{
    if (set->n > INT32_MAX - 1) {
        det_free(d);
        return err_set(err, "pii: too many detectors");
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        struct pii_det *p = xrealloc(set->det, cap * sizeof(*p));

        if (p == NULL) {
            det_free(d);
            return err_set(err, "pii: out of memory");
        }
        set->det = p;
        set->cap = cap;
    }
    d->cls = need_classes(d->builtin);
    if (pcre2_pattern_info(d->code, PCRE2_INFO_MINLENGTH, &d->re_min) != 0)
        d->re_min = 0;
    set->det[set->n] = *d;
    quick_add(set, d);
    if (d->min_len < set->min_len)
        set->min_len = d->min_len;
    set->has_builtin |= d->builtin != NULL;
    if (d->builtin != NULL && d->builtin->span_len < set->span_len)
        set->span_len = d->builtin->span_len;
    return (int)set->n++;
}

int pii_set_add_builtin(struct pii_set *set, const char *name, struct err *err)
{
    const struct pii_builtin *b = pii_builtin_find(name);
    struct pii_det d = {0};

    if (b == NULL)
        return err_set(err, "unknown pii detector \"%s\"", name ? name : "(null)");
    d.builtin = b;
    d.min_len = b->min_len;
    d.name = xstrdup(b->name);
    if (d.name == NULL)
        return err_set(err, "pii: out of memory");
    d.code = compile_pattern(set, b->name, b->pattern, PCRE2_EXTENDED, NULL, err);
    if (d.code == NULL) {
        det_free(&d);
        return -1;
    }
    d.jit = jit_compiled(d.code);
    return set_push(set, &d, err);
}

static int copy_context(struct pii_det *d, const struct pii_custom *c, struct err *err)
{
    if (c->ncontext == 0)
        return 0;
    if (c->context == NULL)
        return err_set(err, "pii detector \"%s\": context words missing", c->name);
    d->context = xcalloc(c->ncontext, sizeof(*d->context));
    if (d->context == NULL)
        return err_set(err, "pii: out of memory");
    for (; d->ncontext < c->ncontext; d->ncontext++) {
        const char *w = c->context[d->ncontext];

        if (w == NULL || *w == '\0')
            return err_set(err, "pii detector \"%s\": empty context word", c->name);
        d->context[d->ncontext] = xstrdup(w);
        if (d->context[d->ncontext] == NULL)
            return err_set(err, "pii: out of memory");
    }
    return 0;
}

int pii_set_add_custom(struct pii_set *set, const struct pii_custom *c, size_t *bad_offset,
                       struct err *err)
{
    struct pii_det d = {0};
    uint32_t minlen = 0;

    if (c == NULL || c->name == NULL || *c->name == '\0' || c->pattern == NULL)
        return err_set(err, "pii: custom detector needs a name and a pattern");
    if (c->validator != PII_VALIDATE_NONE && c->validator != PII_VALIDATE_LUHN &&
        c->validator != PII_VALIDATE_MOD97)
        return err_set(err, "pii detector \"%s\": unknown validator", c->name);
    d.validator = c->validator;
    d.window = c->context_window ? c->context_window : PII_WINDOW;
    d.name = xstrdup(c->name);
    if (d.name == NULL)
        return err_set(err, "pii: out of memory");
    if (copy_context(&d, c, err) < 0) {
        det_free(&d);
        return -1;
    }
    d.code = compile_pattern(set, c->name, c->pattern, 0, bad_offset, err);
    if (d.code == NULL) {
        det_free(&d);
        return -1;
    }
    d.jit = jit_compiled(d.code);
    /* in characters, so a safe lower bound on bytes */
    if (pcre2_pattern_info(d.code, PCRE2_INFO_MINLENGTH, &minlen) == 0)
        d.min_len = minlen;
    return set_push(set, &d, err);
}

void pii_scanner_free(struct pii_scanner *sc)
{
    if (sc == NULL)
        return;
    for (size_t i = 0; i < sc->nmd; i++)
        pcre2_match_data_free(sc->md[i]);
    xfree(sc->md);
    pcre2_jit_stack_free(sc->jit);
    pcre2_match_context_free(sc->mctx);
    xfree(sc);
}

struct pii_scanner *pii_scanner_new(const struct pii_set *set, const struct pii_limits *lim)
{
    struct pii_scanner *sc = xcalloc(1, sizeof(*sc));

    if (sc == NULL)
        return NULL;
    sc->set = set;
    sc->windowed_min = PII_WINDOWED_MIN;
    sc->mctx = pcre2_match_context_create(set->gctx);
    sc->jit = pcre2_jit_stack_create(PII_JIT_STACK, PII_JIT_STACK_MAX, set->gctx);
    sc->md = xcalloc(set->n, sizeof(*sc->md));
    if (sc->mctx == NULL || sc->jit == NULL || sc->md == NULL) {
        pii_scanner_free(sc);
        return NULL;
    }
    pcre2_set_match_limit(sc->mctx, lim && lim->match_limit ? lim->match_limit : PII_MATCH_LIMIT);
    pcre2_set_depth_limit(sc->mctx, lim && lim->depth_limit ? lim->depth_limit : PII_DEPTH_LIMIT);
    pcre2_jit_stack_assign(sc->mctx, NULL, sc->jit);
    for (; sc->nmd < set->n; sc->nmd++) {
        sc->md[sc->nmd] = pcre2_match_data_create_from_pattern(set->det[sc->nmd].code, set->gctx);
        if (sc->md[sc->nmd] == NULL) {
            pii_scanner_free(sc);
            return NULL;
        }
    }
    return sc;
}

void pii_scanner_set_windowed_min(struct pii_scanner *sc, size_t n)
{
    sc->windowed_min = n;
}

/* The next UTF-8 character boundary after p (or p + 1 in invalid input). */
static size_t next_char(const char *s, size_t n, size_t p)
{
    p++;
    while (p < n && ((unsigned char)s[p] & 0xC0) == 0x80)
        p++;
    return p;
}

static int hits_push(struct hits *h, size_t start, size_t end, int detector)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct pii_match *m;

        if (cap > SIZE_MAX / sizeof(*m))
            return -1;
        m = h->cap ? arena_realloc(h->a, h->m, h->cap * sizeof(*m), cap * sizeof(*m))
                   : arena_alloc(h->a, cap * sizeof(*m));
        if (m == NULL)
            return -1;
        h->m = m;
        h->cap = cap;
    }
    h->m[h->n++] = (struct pii_match){start, end, detector};
    return 0;
}

/* Luhn over the digits of a custom match only: a pattern like POL[0-9]{10}
 * carries its check digit among letters the built-in card validator would
 * refuse. */
static int custom_luhn_valid(const char *s, size_t n)
{
    char digits[64];
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            continue;
        if (k == sizeof(digits))
            return 0;
        digits[k++] = s[i];
    }
    return pii_luhn_valid(digits, k);
}

/* A custom detector's validator and context words. A rejected match is
 * skipped whole, as a find-all-then-filter would, which keeps a scan linear
 * whatever the pattern. */
static enum pii_verdict custom_judge(const struct pii_det *d, const char *s, size_t n, size_t start,
                                     size_t end)
{
    if (d->validator == PII_VALIDATE_LUHN && !custom_luhn_valid(s + start, end - start))
        return PII_REJECT_SKIP;
    if (d->validator == PII_VALIDATE_MOD97 && !pii_mod97_valid(s + start, end - start))
        return PII_REJECT_SKIP;
    if (d->ncontext > 0 && !pii_context_near(s, n, start, end, (const char *const *)d->context,
                                             d->ncontext, d->window))
        return PII_REJECT_SKIP;
    return PII_ACCEPT;
}

/* Detector idx over the starts in [from, to): PCRE2 sees the subject cut at
 * to (a window's end, or n), the checks the whole string. */
static enum pii_status scan_range(struct pii_scanner *sc, int idx, const char *s, size_t n,
                                  size_t from, size_t to, struct hits *h)
{
    const struct pii_det *d = &sc->set->det[idx];
    pcre2_match_data *md = sc->md[idx];
    size_t off = from;

    /* A tail shorter than the pattern's minimum length cannot match (PCRE2
     * itself gives up there without trying), so the call that would only
     * say so after a match that ends near the end is skipped. */
    while (off <= to && (d->re_min == 0 || to - off >= d->re_min)) {
        int rc = d->jit ? pcre2_jit_match(d->code, (PCRE2_SPTR)s, to, off, 0, md, sc->mctx)
                        : pcre2_match(d->code, (PCRE2_SPTR)s, to, off, 0, md, sc->mctx);
        PCRE2_SIZE *ov;
        size_t ms, me;
        enum pii_verdict v;

        if (rc == PCRE2_ERROR_NOMATCH)
            return PII_OK;
        if (rc < 0)
            return PII_LIMIT;
        ov = pcre2_get_ovector_pointer(md);
        ms = ov[0];
        me = ov[1];
        if (me <= ms) { /* empty match, or \K past the end */
            off = next_char(s, to, ms);
            continue;
        }
        if (d->builtin != NULL)
            v = d->builtin->check ? d->builtin->check(s, n, &ms, &me) : PII_ACCEPT;
        else
            v = custom_judge(d, s, n, ms, me);
        if (v == PII_ACCEPT && hits_push(h, ms, me, idx) < 0)
            return PII_NOMEM;
        off = v == PII_ACCEPT ? me : v == PII_REJECT_SKIP ? ov[1] : next_char(s, to, ov[0]);
    }
    return PII_OK;
}

/* The window that starts at or after *p: its start goes to *p, its
 * digits and byte classes to w; returns its end. One pass, as
 * features_init's loop: a window is far shorter than CHUNK. */
static size_t window_next(const char *s, size_t n, size_t *p, struct features *w)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = *p;
    uint64_t any = 0, sum = 0, c;

    while (i < n && (byte_class[u[i]] & C_CUT))
        i++;
    *p = i;
    for (; i < n && !((c = byte_class[u[i]]) & C_CUT); i++) {
        any |= c;
        sum += c;
    }
    *w = (struct features){s + *p, i - *p, (size_t)(sum >> 32), (unsigned)(any & 0xFF), 0, 0};
    return i;
}

/* The built-ins of mask (bit i: detector i) over the windows of s. Each
 * window is searched apart, which finds the same matches as one search of
 * the whole string (see "Windows" above); the order they are found in
 * does not matter, matches_resolve sorts them. */
static enum pii_status scan_windows(struct pii_scanner *sc, const char *s, size_t n, uint64_t mask,
                                    struct hits *h)
{
    const struct pii_set *set = sc->set;

    for (size_t p = 0, end; p < n; p = end) {
        struct features w;

        end = window_next(s, n, &p, &w);
        if (end - p < set->span_len)
            continue;
        for (uint64_t m = mask; m != 0; m &= m - 1) {
            int i = __builtin_ctzll(m);
            const struct pii_det *d = &set->det[i];
            enum pii_status st;

            if (!window_wanted(d->builtin, d->cls, &w))
                continue;
            st = scan_range(sc, i, s, n, p, end, h);
            if (st != PII_OK)
                return st;
        }
    }
    return PII_OK;
}

/* Resolution order: earlier start, then longer, then lower detector index. */
static int match_before(const struct pii_match *a, const struct pii_match *b)
{
    if (a->start != b->start)
        return a->start < b->start;
    if (a->end != b->end)
        return a->end > b->end;
    return a->detector < b->detector;
}

static void sift_down(struct pii_match *m, size_t root, size_t n)
{
    for (;;) {
        size_t c = 2 * root + 1;
        struct pii_match t;

        if (c >= n)
            return;
        if (c + 1 < n && match_before(&m[c], &m[c + 1]))
            c++;
        if (!match_before(&m[root], &m[c]))
            return;
        t = m[root];
        m[root] = m[c];
        m[c] = t;
        root = c;
    }
}

/* Heapsort: in place, no allocation, n log n whatever the input. */
static void matches_sort(struct pii_match *m, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(m, i, n);
    for (size_t end = n; end-- > 1;) {
        struct pii_match t = m[0];

        m[0] = m[end];
        m[end] = t;
        sift_down(m, 0, end);
    }
}

/* Sorted, a match that overlaps the one kept before it lost to it. A loser
 * that reaches past the winner keeps the part past it, so the result covers
 * every byte some detector matched: resolving an overlap never unmasks the
 * tail of a value. */
static size_t matches_resolve(struct pii_match *m, size_t n)
{
    size_t k = 0;

    matches_sort(m, n);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && m[i].start < m[k - 1].end) {
            if (m[i].end <= m[k - 1].end)
                continue;
            m[i].start = m[k - 1].end;
        }
        m[k++] = m[i];
    }
    return k;
}

/* Steps 3 and 4 for a string the quick gate let through. Kept out of line
 * so the gate, which most strings stop at, stays a small leaf. */
static __attribute__((noinline)) enum pii_status scan_detectors(struct pii_scanner *sc,
                                                                struct arena *a, struct features *f,
                                                                struct pii_match **out,
                                                                size_t *count)
{
    const struct pii_set *set = sc->set;
    const char *s = f->s;
    size_t n = f->n;
    struct hits h = {a, NULL, 0, 0};
    uint64_t windowed = 0;
    enum pii_status st;

    for (size_t i = 0; i < set->n; i++) {
        const struct pii_det *d = &set->det[i];

        if (n < d->min_len)
            continue;
        /* a feature a window holds the whole string holds, so the windows
         * alone decide those */
        if (d->builtin != NULL && i < 64 && n >= sc->windowed_min) {
            windowed |= builtin_cheap(d->builtin, d->cls, f) ? (uint64_t)1 << i : 0;
            continue;
        }
        if (d->builtin != NULL && !builtin_wanted(d->builtin, d->cls, f))
            continue;
        st = scan_range(sc, (int)i, s, n, 0, n, &h);
        if (st != PII_OK)
            return st;
    }
    if (windowed != 0 && (st = scan_windows(sc, s, n, windowed, &h)) != PII_OK)
        return st;
    *count = matches_resolve(h.m, h.n);
    *out = *count ? h.m : NULL;
    return PII_OK;
}

/* Steps 2 to 4, for a string long enough for some detector. */
static __attribute__((noinline)) enum pii_status scan_string(struct pii_scanner *sc,
                                                             struct arena *a, const char *s,
                                                             size_t n, struct pii_match **out,
                                                             size_t *count)
{
    const struct pii_set *set = sc->set;
    struct features f;

    features_init(&f, s, n, set->has_builtin);
    if (n < set->quick_len && f.digits < set->quick_digits &&
        (f.any & (n >= set->quick_long ? set->quick_cls_long : set->quick_cls)) == 0 &&
        (f.digits < set->quick_both_digits || (f.any & set->quick_both_cls) == 0))
        return PII_OK;
    return scan_detectors(sc, a, &f, out, count);
}

/* Step 1 here, so the many strings too short for any detector (ids, small
 * numbers, short keys) leave without setting up a scan. */
enum pii_status pii_scan(struct pii_scanner *sc, struct arena *a, const char *s, size_t n,
                         struct pii_match **out, size_t *count)
{
    const struct pii_set *set = sc->set;

    *out = NULL;
    *count = 0;
    /* a scanner made before the set grew has no match data for the new
     * detectors: scanning without them would let their values through */
    if (sc->nmd != set->n)
        return PII_LIMIT;
    if (set->n == 0 || n < set->min_len)
        return PII_OK;
    return scan_string(sc, a, s != NULL ? s : "", n, out, count);
}
