/*
 * pii: detectors for personal data in strings.
 *
 * A pii_set is compiled once at config load (PCRE2 patterns JIT-compiled
 * there) and is immutable afterwards, shared by all threads. Each thread
 * scans with its own pii_scanner, which owns the PCRE2 match data, so a scan
 * allocates nothing but its result array (from the caller's arena).
 *
 * Built-in detectors, each with a validator where one exists:
 *   email    RFC 5321-shaped local@domain with a dotted domain
 *   card     13-19 digits, optional single space/dash separators, Luhn,
 *            known IIN ranges
 *   iban     ISO 13616: country code, per-country length, mod-97
 *   ssn      US SSN; area 000, 666, 900-999, group 00, serial 0000 excluded
 *   phone    E.164, NANP, common national formats; not dates, ids, versions,
 *            timestamps
 *   ipv4, ipv6, jwt, api_key (well-known token shapes)
 *
 * A cheap prefilter runs first: it looks at the string once and skips every
 * detector whose necessary features (a digit run long enough, an '@', a ':')
 * are absent, so most replay strings never reach the regex engine.
 *
 * Fail closed: when PCRE2 hits its match or depth limit, pii_scan returns
 * PII_LIMIT and the caller must reject the payload. Skipping the string
 * would leak exactly the value that made the regex slow.
 */
#ifndef SCRIM_PII_H
#define SCRIM_PII_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"

enum pii_validator {
    PII_VALIDATE_NONE,
    PII_VALIDATE_LUHN,
    PII_VALIDATE_MOD97,
};

struct pii_custom {
    const char *name;
    const char *pattern; /* PCRE2 syntax, UTF mode */
    enum pii_validator validator;
    const char *const *context; /* words, matched case-insensitively */
    size_t ncontext;
    size_t context_window; /* bytes before/after a match to look for a word; 0: 64 */
};

struct pii_limits {
    uint32_t match_limit; /* PCRE2 match limit per PCRE2 call a scan makes; 0: 100000 */
    uint32_t depth_limit; /* PCRE2 depth limit (interpreter only); 0: 1000 */
};

struct pii_match {
    size_t start, end; /* byte offsets in the scanned string, end exclusive */
    int detector;      /* index returned by pii_set_add_* */
};

enum pii_status {
    PII_OK = 0,
    PII_LIMIT, /* a regex limit was hit: fail the payload closed */
    PII_NOMEM, /* the arena cap was reached */
};

struct pii_set;
struct pii_scanner;

struct pii_set *pii_set_new(void);
void pii_set_free(struct pii_set *set);

/* 1 when name is a built-in detector. */
int pii_builtin_exists(const char *name);

/* The built-in names, in a fixed order; *n receives the count. */
const char *const *pii_builtin_names(size_t *n);

/* Add a built-in detector. Returns its index (>= 0), or -1 with err for an
 * unknown name. */
int pii_set_add_builtin(struct pii_set *set, const char *name, struct err *err);

/* Compile and JIT a custom detector. Returns its index, or -1 with err: for a
 * bad pattern the message says what and *bad_offset gets the byte offset in
 * the pattern (bad_offset may be NULL). */
int pii_set_add_custom(struct pii_set *set, const struct pii_custom *c, size_t *bad_offset,
                       struct err *err);

size_t pii_set_count(const struct pii_set *set);
const char *pii_set_name(const struct pii_set *set, int detector);

/* Per-thread scanning state; lim may be NULL for the defaults. NULL when out
 * of memory. Make scanners once the set is complete: a scanner made before
 * another detector was added fails every scan with PII_LIMIT. A scanner
 * must be freed before its set. */
struct pii_scanner *pii_scanner_new(const struct pii_set *set, const struct pii_limits *lim);
void pii_scanner_free(struct pii_scanner *sc);

/*
 * Find every detector match in s[0..n). *out (allocated in a, NULL when
 * *count is 0) is sorted by start and non-overlapping: of overlapping
 * matches the earliest wins, then the longest, then the lowest detector
 * index; a loser that extends past the winner is kept from the winner's end
 * on, so every byte any detector matched is covered. s need not be
 * NUL-terminated and may be invalid UTF-8.
 */
enum pii_status pii_scan(struct pii_scanner *sc, struct arena *a, const char *s, size_t n,
                         struct pii_match **out, size_t *count);

/* The validators, exposed for tests and custom detectors. Separators (space,
 * dash) are ignored; any other non-digit (non-alnum for mod97) fails. */
int pii_luhn_valid(const char *s, size_t n);
int pii_mod97_valid(const char *s, size_t n);

#endif
