/*
 * pii_impl: what pii.c (the engine) and pii_validate.c (the built-in
 * detectors) share. Nothing outside rules/pii*.c includes this.
 *
 * A built-in detector is a PCRE2 pattern that locates candidates, an
 * optional C check that decides (and may narrow or widen) each candidate,
 * and the prefilter features a string must have for the pattern to be worth
 * running at all.
 *
 * Long strings are scanned window by window (pii.c, docs/pii.md "Cost on
 * long strings"): a window ends at a byte that no built-in pattern can
 * match, consume or look at, so a match never spans two windows, and a
 * built-in runs only on the windows that hold what every one of its
 * matches holds (span_len, span_digits, need). Those bounds are facts about
 * the matched bytes alone, proved per detector next to its table entry;
 * min_len and min_digits are the whole-string gate, kept as they were.
 */
#ifndef SCRIM_PII_IMPL_H
#define SCRIM_PII_IMPL_H

#include <stddef.h>

/* Prefilter feature bits, computed by one pass over the string. */
enum {
    PII_F_AT = 1 << 0,     /* '@' or "%40" */
    PII_F_DOTS = 1 << 1,   /* at least three '.' */
    PII_F_COLONS = 1 << 2, /* at least two ':' */
    PII_F_EYJ = 1 << 3,    /* "eyJ", the base64 of '{"' */
    PII_F_TOKEN = 1 << 4,  /* a run of 20+ [A-Za-z0-9_-] */
    PII_F_LLDD = 1 << 5,   /* two letters then two digits */
};

/* What a check decided about the candidate [*start, *end). */
enum pii_verdict {
    PII_REJECT_NEXT, /* no match here; search again one character later */
    PII_REJECT_SKIP, /* no match anywhere in the candidate; search after it */
    PII_ACCEPT,      /* a match, possibly narrowed or widened in place */
};

typedef enum pii_verdict (*pii_check_fn)(const char *s, size_t n, size_t *start, size_t *end);

struct pii_builtin {
    const char *name;
    const char *pattern; /* PCRE2, compiled with PCRE2_EXTENDED */
    size_t min_len;      /* no match is shorter (bytes) */
    size_t min_digits;   /* a string with fewer digits cannot match */
    size_t span_len;     /* every match (after its check) is at least this long */
    size_t span_digits;  /* ... and holds at least this many digits */
    unsigned need;       /* PII_F_* bits that must all be present (in a match's
                            bytes, or in the bytes its pattern reads) */
    pii_check_fn check;  /* NULL: the pattern alone decides */
};

/* The built-ins in pii_builtin_names() order, and their count. */
extern const struct pii_builtin pii_builtins[];
extern const size_t pii_nbuiltins;

/* The card and phone entries of pii_builtins (the scan's digits-only
 * shortcuts). */
extern const struct pii_builtin *const pii_builtin_card;
extern const struct pii_builtin *const pii_builtin_phone;

/* The built-in called name, or NULL. */
const struct pii_builtin *pii_builtin_find(const char *name);

/* Strings of at least n bytes are scanned window by window (the default
 * is PII_WINDOWED_MIN); 0 windows every string, SIZE_MAX none. Both give
 * the same matches: the whole-string scan is kept callable so the unit
 * test can prove it. */
#define PII_WINDOWED_MIN 128
struct pii_scanner;
void pii_scanner_set_windowed_min(struct pii_scanner *sc, size_t n);

/* 1 when one of words occurs (ASCII case-insensitive, not glued to a letter
 * or digit on either side) entirely inside s[start - window, end + window). */
int pii_context_near(const char *s, size_t n, size_t start, size_t end, const char *const *words,
                     size_t nwords, size_t window);

#endif
