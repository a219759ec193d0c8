/*
 * fuzz_pii: libFuzzer target for the PII detectors.
 *
 * Scans the input with every built-in and checks what pii_scan promises:
 * status OK (the built-in patterns are linear, so no input may push them
 * to a PCRE2 limit), matches sorted, non-overlapping and inside the input,
 * detector indexes valid, every built-in match plain ASCII (all built-in
 * shapes are). Then each built-in alone: its matches pass its validator (a
 * card Luhn, an IBAN mod-97), lie inside the union of the full scan's
 * matches (resolving overlaps loses no byte), and every full-scan match is
 * one of them or the tail of one (a loser is only ever cut at its head).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "rules/pii.h"
#include "rules/pii_impl.h"

#define MAX_BUILTINS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rig {
    struct pii_set *set;
    struct pii_scanner *sc;
};

static struct rig all, one[MAX_BUILTINS];
static struct pii_scanner *whole; /* the same set, never windowed: the reference */
static size_t nbuiltins;
static struct arena *arena;
static int det_card = -1, det_iban = -1;

static void rig_init(struct rig *r, const char *const *names, size_t n)
{
    struct err err = {{0}, 0};

    r->set = pii_set_new();
    if (r->set == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        if (pii_set_add_builtin(r->set, names[i], &err) != (int)i)
            abort();
    r->sc = pii_scanner_new(r->set, NULL);
    if (r->sc == NULL)
        abort();
}

static void fuzz_init(void)
{
    const char *const *names = pii_builtin_names(&nbuiltins);

    if (nbuiltins > MAX_BUILTINS)
        abort();
    rig_init(&all, names, nbuiltins);
    /* every string windowed in `all`, none in `whole`: they must agree */
    pii_scanner_set_windowed_min(all.sc, 0);
    whole = pii_scanner_new(all.set, NULL);
    if (whole == NULL)
        abort();
    pii_scanner_set_windowed_min(whole, SIZE_MAX);
    for (size_t i = 0; i < nbuiltins; i++) {
        rig_init(&one[i], &names[i], 1);
        if (strcmp(names[i], "card") == 0)
            det_card = (int)i;
        if (strcmp(names[i], "iban") == 0)
            det_iban = (int)i;
    }
    arena = arena_new(0);
    if (arena == NULL)
        abort();
}

static void check_match(const char *s, size_t size, const struct pii_match *m,
                        const struct pii_match *prev)
{
    if (m->start >= m->end || m->end > size)
        abort();
    if (prev != NULL && prev->end > m->start)
        abort();
    if (m->detector < 0 || (size_t)m->detector >= nbuiltins)
        abort();
    for (size_t k = m->start; k < m->end; k++)
        if ((unsigned char)s[k] >= 0x80)
            abort();
}

static void check_valid(const char *s, size_t d, const struct pii_match *x)
{
    if ((int)d == det_card && !pii_luhn_valid(s + x->start, x->end - x->start))
        abort();
    if ((int)d == det_iban && !pii_mod97_valid(s + x->start, x->end - x->start))
        abort();
}

/* 1 when m is one of x[0..nx) or the tail of one. */
static int tail_of(const struct pii_match *m, const struct pii_match *x, size_t nx)
{
    for (size_t i = 0; i < nx; i++)
        if (x[i].end == m->end && x[i].start <= m->start)
            return 1;
    return 0;
}

/* 1 when the sorted, disjoint matches m cover [start, end) without a gap. */
static int covered(const struct pii_match *m, size_t cnt, size_t start, size_t end)
{
    size_t pos = start;

    for (size_t i = 0; i < cnt && pos < end; i++) {
        if (m[i].end <= pos)
            continue;
        if (m[i].start > pos)
            return 0;
        pos = m[i].end;
    }
    return pos >= end;
}

static void check_union(const char *s, size_t size, const struct pii_match *m, size_t cnt)
{
    for (size_t d = 0; d < nbuiltins; d++) {
        struct pii_match *x;
        size_t nx;

        if (pii_scan(one[d].sc, arena, s, size, &x, &nx) != PII_OK)
            abort();
        for (size_t i = 0; i < nx; i++) {
            check_valid(s, d, &x[i]);
            if (!covered(m, cnt, x[i].start, x[i].end))
                abort();
        }
        for (size_t i = 0; i < cnt; i++)
            if (m[i].detector == (int)d && !tail_of(&m[i], x, nx))
                abort();
    }
}

/* The windowed scan finds exactly what one PCRE2 pass per detector over
 * the whole string finds. */
static void check_same_as_whole(const char *s, size_t size, const struct pii_match *m, size_t cnt)
{
    struct pii_match *w;
    size_t wcnt;

    if (pii_scan(whole, arena, s, size, &w, &wcnt) != PII_OK || wcnt != cnt)
        abort();
    for (size_t i = 0; i < cnt; i++)
        if (w[i].start != m[i].start || w[i].end != m[i].end || w[i].detector != m[i].detector)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct pii_match *m;
    size_t cnt;

    if (all.set == NULL)
        fuzz_init();
    arena_reset(arena);
    if (pii_scan(all.sc, arena, s, size, &m, &cnt) != PII_OK)
        abort();
    if ((cnt == 0) != (m == NULL))
        abort();
    for (size_t i = 0; i < cnt; i++)
        check_match(s, size, &m[i], i ? &m[i - 1] : NULL);
    check_union(s, size, m, cnt);
    check_same_as_whole(s, size, m, cnt);
    return 0;
}
