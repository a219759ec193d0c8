/*
 * test_jsontestsuite: rules/json against nst/JSONTestSuite's test_parsing
 * files in $SCRIM_CONFORMANCE/jsontestsuite (provenance in that directory's
 * README.md).
 *
 * y_ files must parse, except the two with duplicate keys, which invariant 2
 * makes us reject. n_ files must be rejected. Each i_ file has a deliberate
 * decision in i_decisions below (reasons in docs/json.md); a file missing
 * from the table, a table entry without a file, or a different outcome fails
 * the test. Every accepted file must also survive a canonical round trip:
 * write, re-parse to an equal tree, write again to the same bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "rules/json.h"

/* Outcomes with the exact status: a reject is BAD, or TOOBIG for a limit. */
static const struct {
    const char *name;
    enum json_status want;
} i_decisions[] = {
    /* Numbers: the lexeme is kept and written verbatim, never converted,
     * so no range question arises here; consumers decide. */
    {"i_number_double_huge_neg_exp.json", JSON_OK},
    {"i_number_huge_exp.json", JSON_OK},
    {"i_number_neg_int_huge_exp.json", JSON_OK},
    {"i_number_pos_double_huge_exp.json", JSON_OK},
    {"i_number_real_neg_overflow.json", JSON_OK},
    {"i_number_real_pos_overflow.json", JSON_OK},
    {"i_number_real_underflow.json", JSON_OK},
    {"i_number_too_big_neg_int.json", JSON_OK},
    {"i_number_too_big_pos_int.json", JSON_OK},
    {"i_number_very_big_negative_int.json", JSON_OK},
    /* Lone or inverted surrogate escapes: no UTF-8 encoding exists, and
     * parsers repair them differently (invariant 2). */
    {"i_object_key_lone_2nd_surrogate.json", JSON_BAD},
    {"i_string_1st_surrogate_but_2nd_missing.json", JSON_BAD},
    {"i_string_1st_valid_surrogate_2nd_invalid.json", JSON_BAD},
    {"i_string_incomplete_surrogate_and_escape_valid.json", JSON_BAD},
    {"i_string_incomplete_surrogate_pair.json", JSON_BAD},
    {"i_string_incomplete_surrogates_escape_valid.json", JSON_BAD},
    {"i_string_invalid_lonely_surrogate.json", JSON_BAD},
    {"i_string_invalid_surrogate.json", JSON_BAD},
    {"i_string_inverted_surrogates_U+1D11E.json", JSON_BAD},
    {"i_string_lone_second_surrogate.json", JSON_BAD},
    /* Ill-formed UTF-8 (RFC 8259 s8.1 requires UTF-8): rejected, never
     * repaired, so no two decoders can disagree on what the bytes say. */
    {"i_string_UTF-8_invalid_sequence.json", JSON_BAD},
    {"i_string_UTF8_surrogate_U+D800.json", JSON_BAD},
    {"i_string_invalid_utf-8.json", JSON_BAD},
    {"i_string_iso_latin_1.json", JSON_BAD},
    {"i_string_lone_utf8_continuation_byte.json", JSON_BAD},
    {"i_string_not_in_unicode_range.json", JSON_BAD},
    {"i_string_overlong_sequence_2_bytes.json", JSON_BAD},
    {"i_string_overlong_sequence_6_bytes.json", JSON_BAD},
    {"i_string_overlong_sequence_6_bytes_null.json", JSON_BAD},
    {"i_string_truncated-utf-8.json", JSON_BAD},
    /* Not UTF-8 at all, or a BOM: rejected. */
    {"i_string_UTF-16LE_with_BOM.json", JSON_BAD},
    {"i_string_utf16BE_no_BOM.json", JSON_BAD},
    {"i_string_utf16LE_no_BOM.json", JSON_BAD},
    {"i_structure_UTF-8_BOM_empty_object.json", JSON_BAD},
    /* 500 levels: past the default depth limit of 64. */
    {"i_structure_500_nested_arrays.json", JSON_TOOBIG},
};

#define NDECISIONS (sizeof(i_decisions) / sizeof(i_decisions[0]))

/* y_ files a conforming parser accepts but we reject (invariant 2). */
static const char *const y_rejected[] = {
    "y_object_duplicated_key.json",
    "y_object_duplicated_key_and_value.json",
};

struct corpus {
    char dir[4096];
    char **names;
    size_t n;
};

static struct corpus corpus;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int corpus_load(void **state)
{
    const char *root = getenv("SCRIM_CONFORMANCE");
    DIR *d;
    struct dirent *de;
    size_t cap = 0;

    (void)state;
    if (root == NULL || *root == '\0') {
        fprintf(stderr, "jsontestsuite: SCRIM_CONFORMANCE is not set\n");
        return -1;
    }
    snprintf(corpus.dir, sizeof(corpus.dir), "%s/jsontestsuite", root);
    if ((d = opendir(corpus.dir)) == NULL) {
        fprintf(stderr, "jsontestsuite: cannot open %s\n", corpus.dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 7 || de->d_name[1] != '_' || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (corpus.n == cap) {
            cap = cap ? cap * 2 : 512;
            corpus.names = xrealloc(corpus.names, cap * sizeof(*corpus.names));
        }
        corpus.names[corpus.n++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(corpus.names, corpus.n, sizeof(*corpus.names), name_cmp);
    return 0;
}

static int corpus_free(void **state)
{
    (void)state;
    for (size_t i = 0; i < corpus.n; i++)
        xfree(corpus.names[i]);
    xfree(corpus.names);
    return 0;
}

/* The file's bytes in an allocation of exactly its size, so ASan catches any
 * read past the end. */
static char *file_read(const char *name, size_t *len)
{
    char path[4352];
    FILE *f;
    long n = -1;
    char *s;

    snprintf(path, sizeof(path), "%s/%s", corpus.dir, name);
    f = fopen(path, "rb");
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fail_msg("cannot read %s", path);
        return NULL;
    }
    s = xmalloc(n > 0 ? (size_t)n : 1);
    if ((size_t)n != fread(s, 1, (size_t)n, f))
        fail_msg("short read on %s", path);
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* Write, re-parse, compare, write again: the canonical form is a fixed
 * point that both sides read as the same tree. */
static void roundtrip_check(const char *name, struct arena *a, const struct json *v)
{
    struct buf b1, b2;
    struct json *w;
    struct err e;

    buf_init(&b1, 0);
    buf_init(&b2, 0);
    err_clear(&e);
    if (json_write(&b1, v) != 0)
        fail_msg("%s: canonical write failed", name);
    if (json_parse(a, b1.data, b1.len, NULL, &w, &e) != JSON_OK)
        fail_msg("%s: canonical output does not re-parse: %s", name, e.msg);
    if (!json_tree_equal(v, w))
        fail_msg("%s: canonical output parses to a different tree", name);
    if (json_write(&b2, w) != 0 || b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
        fail_msg("%s: canonical output is not a fixed point", name);
    buf_free(&b1);
    buf_free(&b2);
}

/* Parse one file with the default limits; round-trip it when accepted. */
static enum json_status file_parse(const char *name)
{
    long live = mem_live();
    size_t len = 0;
    char *s = file_read(name, &len);
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    enum json_status st;

    err_clear(&e);
    st = json_parse(a, s, len, NULL, &v, &e);
    if (st == JSON_OK)
        roundtrip_check(name, a, v);
    else if (v != NULL || strncmp(e.msg, "offset ", 7) != 0)
        fail_msg("%s: a rejection must clear the tree and say where", name);
    arena_free(a);
    xfree(s);
    if (mem_live() != live)
        fail_msg("%s: leaked %ld allocations", name, mem_live() - live);
    return st;
}

static int y_is_rejected(const char *name)
{
    for (size_t i = 0; i < sizeof(y_rejected) / sizeof(y_rejected[0]); i++)
        if (strcmp(name, y_rejected[i]) == 0)
            return 1;
    return 0;
}

static void test_corpus_present(void **state)
{
    size_t y = 0, n = 0, i = 0;

    (void)state;
    for (size_t k = 0; k < corpus.n; k++) {
        y += corpus.names[k][0] == 'y';
        n += corpus.names[k][0] == 'n';
        i += corpus.names[k][0] == 'i';
    }
    if (y == 0 || n == 0 || i == 0)
        fail_msg("%s: missing or incomplete (y %zu, n %zu, i %zu)", corpus.dir, y, n, i);
}

static void test_y_accepted(void **state)
{
    size_t total = 0, ok = 0, dup = 0;

    (void)state;
    for (size_t k = 0; k < corpus.n; k++) {
        const char *name = corpus.names[k];
        enum json_status st;
        if (name[0] != 'y')
            continue;
        total++;
        st = file_parse(name);
        if (y_is_rejected(name)) {
            if (st != JSON_BAD)
                fail_msg("%s: duplicate keys must be rejected (status %d)", name, st);
            dup++;
        } else if (st != JSON_OK) {
            fail_msg("%s: must be accepted (status %d)", name, st);
        } else {
            ok++;
        }
    }
    assert_int_equal(dup, sizeof(y_rejected) / sizeof(y_rejected[0]));
    printf("jsontestsuite: y %zu/%zu accepted, %zu rejected for duplicate keys\n", ok, total - dup,
           dup);
}

static void test_n_rejected(void **state)
{
    size_t total = 0, bad = 0, toobig = 0;

    (void)state;
    for (size_t k = 0; k < corpus.n; k++) {
        const char *name = corpus.names[k];
        enum json_status st;
        if (name[0] != 'n')
            continue;
        total++;
        st = file_parse(name);
        if (st == JSON_OK)
            fail_msg("%s: must be rejected", name);
        bad += st == JSON_BAD;
        toobig += st == JSON_TOOBIG;
    }
    printf("jsontestsuite: n %zu/%zu rejected (%zu BAD, %zu TOOBIG)\n", bad + toobig, total, bad,
           toobig);
}

static void test_i_decided(void **state)
{
    size_t total = 0, acc = 0, rej = 0;
    int seen[NDECISIONS] = {0};

    (void)state;
    for (size_t k = 0; k < corpus.n; k++) {
        const char *name = corpus.names[k];
        size_t j;
        enum json_status st;
        if (name[0] != 'i')
            continue;
        total++;
        for (j = 0; j < NDECISIONS && strcmp(i_decisions[j].name, name) != 0; j++)
            ;
        if (j == NDECISIONS)
            fail_msg("%s: no decision in i_decisions (add one, and a line in docs/json.md)", name);
        seen[j] = 1;
        st = file_parse(name);
        if (st != i_decisions[j].want)
            fail_msg("%s: status %d, decided %d", name, st, i_decisions[j].want);
        acc += st == JSON_OK;
        rej += st != JSON_OK;
    }
    for (size_t j = 0; j < NDECISIONS; j++)
        if (!seen[j])
            fail_msg("%s: decided but not in the corpus", i_decisions[j].name);
    printf("jsontestsuite: i %zu/%zu as decided (%zu accepted, %zu rejected)\n", acc + rej, total,
           acc, rej);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_present),
        cmocka_unit_test(test_y_accepted),
        cmocka_unit_test(test_n_rejected),
        cmocka_unit_test(test_i_decided),
    };

    return cmocka_run_group_tests_name("jsontestsuite", tests, corpus_load, corpus_free);
}
