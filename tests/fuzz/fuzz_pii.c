/*
 * fuzz_pii: libFuzzer target for the PII detectors.
 *
 * Scans the input with every built-in and checks what pii_scan promises:
 * status OK (the built-in patterns are linear, so no input may push them
 * to a PCRE2 limit), matches sorted, non-overlapping and inside the input,
 * detector indexes valid, every built-in match plain ASCII (all built-in
 * shapes are), and each match's validator holding: a card passes Luhn, an
 * IBAN passes mod-97.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "rules/pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pii_set *set;
static struct pii_scanner *sc;
static struct arena *arena;
static int det_card = -1, det_iban = -1;

static void fuzz_init(void)
{
    struct err err = {{0}, 0};
    size_t n;
    const char *const *names = pii_builtin_names(&n);

    set = pii_set_new();
    if (set == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        int d = pii_set_add_builtin(set, names[i], &err);

        if (d < 0)
            abort();
        if (strcmp(names[i], "card") == 0)
            det_card = d;
        if (strcmp(names[i], "iban") == 0)
            det_iban = d;
    }
    sc = pii_scanner_new(set, NULL);
    arena = arena_new(0);
    if (sc == NULL || arena == NULL)
        abort();
}

static void check_match(const char *s, size_t size, const struct pii_match *m,
                        const struct pii_match *prev)
{
    if (m->start >= m->end || m->end > size)
        abort();
    if (prev != NULL && prev->end > m->start)
        abort();
    if (m->detector < 0 || (size_t)m->detector >= pii_set_count(set))
        abort();
    for (size_t k = m->start; k < m->end; k++)
        if ((unsigned char)s[k] >= 0x80)
            abort();
    if (m->detector == det_card && !pii_luhn_valid(s + m->start, m->end - m->start))
        abort();
    if (m->detector == det_iban && !pii_mod97_valid(s + m->start, m->end - m->start))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct pii_match *m;
    size_t cnt;

    if (set == NULL)
        fuzz_init();
    arena_reset(arena);
    if (pii_scan(sc, arena, s, size, &m, &cnt) != PII_OK)
        abort();
    if ((cnt == 0) != (m == NULL))
        abort();
    for (size_t i = 0; i < cnt; i++)
        check_match(s, size, &m[i], i ? &m[i - 1] : NULL);
    return 0;
}
