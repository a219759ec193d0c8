/* jpath: the field-rule path subset. */
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/mem.h"
#include "rules/jpath.h"
#include "leak.h"

/* Build concrete steps from "a.0.b": numeric parts are array indices. */
static size_t steps_of(const char *spec, struct jpath_step *st, char bufs[][32])
{
    size_t n = 0;
    const char *p = spec;

    while (*p) {
        size_t len = strcspn(p, ".");
        memcpy(bufs[n], p, len);
        bufs[n][len] = '\0';
        if (bufs[n][0] >= '0' && bufs[n][0] <= '9')
            st[n] = (struct jpath_step){NULL, 0, (size_t)strtoul(bufs[n], NULL, 10)};
        else
            st[n] = (struct jpath_step){bufs[n], len, 0};
        n++;
        p += len;
        if (*p == '.')
            p++;
    }
    return n;
}

static int matches(const char *expr, const char *spec)
{
    struct jpath_step st[16];
    char bufs[16][32];
    struct err err;
    size_t bad, n = steps_of(spec, st, bufs);
    struct jpath *p;
    int r;

    err_clear(&err);
    p = jpath_compile(expr, &bad, &err);
    assert_non_null(p);
    r = jpath_match(p, st, n);
    jpath_free(p);
    return r;
}

static int below(const char *expr, const char *spec)
{
    struct jpath_step st[16];
    char bufs[16][32];
    struct err err;
    size_t bad, n = steps_of(spec, st, bufs);
    struct jpath *p = jpath_compile(expr, &bad, &err);
    int r;

    assert_non_null(p);
    r = jpath_may_match_below(p, st, n);
    jpath_free(p);
    return r;
}

static void test_member_paths(void **state)
{
    (void)state;
    assert_true(matches("$.a.b", "a.b"));
    assert_false(matches("$.a.b", "a"));
    assert_false(matches("$.a.b", "a.b.c"));
    assert_false(matches("$.a.b", "a.c"));
    assert_true(matches("$", ""));
    assert_true(matches("$['a b'].c", "a b.c"));
    assert_true(matches("$['it\\'s']", "it's"));
}

static void test_arrays_and_wildcards(void **state)
{
    (void)state;
    assert_true(matches("$.a[*].c", "a.0.c"));
    assert_true(matches("$.a[*].c", "a.17.c"));
    assert_false(matches("$.a[*].c", "a.x.d"));
    assert_true(matches("$.a[2]", "a.2"));
    assert_false(matches("$.a[2]", "a.3"));
    assert_false(matches("$.a[2]", "a.b")); /* an index never matches a member */
    assert_true(matches("$.a.*", "a.anything"));
    assert_true(matches("$.a.*", "a.4"));
}

static void test_recursive_descent(void **state)
{
    (void)state;
    assert_true(matches("$..email", "email"));
    assert_true(matches("$..email", "user.email"));
    assert_true(matches("$..email", "a.0.b.3.email"));
    assert_false(matches("$..email", "user.email.x"));
    assert_false(matches("$..email", "user.emails"));
    assert_true(matches("$.user..id", "user.x.y.id"));
    assert_false(matches("$.user..id", "other.x.id"));
    assert_true(matches("$..a..b", "x.a.y.b"));
}

static void test_may_match_below(void **state)
{
    (void)state;
    assert_true(below("$.a.b", "a"));
    assert_false(below("$.a.b", "c"));
    assert_false(below("$.a.b", "a.b")); /* matched here, nothing below */
    assert_true(below("$..email", "x.y"));
    assert_true(below("$..email", "x.email")); /* email inside email */
    assert_true(below("$.a[*].c", "a.3"));
    assert_false(below("$.a[1].c", "a.3"));
}

static void test_compile_errors(void **state)
{
    static const struct {
        const char *expr;
        size_t col;
    } bad[] = {
        {"", 0},    {"a.b", 0},  {"$.", 2},    {"$..", 3},       {"$[", 2},
        {"$[1", 3}, {"$['a", 1}, {"$.a b", 3}, {"$[?(@.a)]", 2}, {"$.a[-1]", 4},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err;
        size_t col = 999;
        err_clear(&err);
        assert_null(jpath_compile(bad[i].expr, &col, &err));
        assert_true(err.set);
        if (col != bad[i].col)
            print_error("%s: column %zu, expected %zu\n", bad[i].expr, col, bad[i].col);
        assert_int_equal(col, bad[i].col);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_member_paths),      LEAK_TEST(test_arrays_and_wildcards),
        LEAK_TEST(test_recursive_descent), LEAK_TEST(test_may_match_below),
        LEAK_TEST(test_compile_errors),
    };
    return cmocka_run_group_tests_name("jpath", tests, NULL, NULL);
}
