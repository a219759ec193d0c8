/* common: arena, bounded buffer, err, and the allocation hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "leak.h"

static void test_arena_cap_is_hard(void **state)
{
    struct arena *a = arena_new(4096);
    size_t got = 0;

    (void)state;
    while (arena_alloc(a, 100) != NULL)
        got += 100;
    assert_int_equal(got, 36 * 100);
    assert_true(arena_used(a) <= 4096);
    assert_true(arena_used(a) > 4096 - 112); /* only alignment is wasted */
    assert_null(arena_alloc(a, 4096 - arena_used(a) + 1));
    assert_non_null(arena_alloc(a, 4096 - arena_used(a))); /* exactly to the cap */
    arena_reset(a);
    assert_int_equal(arena_used(a), 0);
    assert_non_null(arena_alloc(a, 100));
    arena_free(a);
}

static void test_arena_grows_across_blocks(void **state)
{
    struct arena *a = arena_new(0);
    char *p[1000];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        p[i] = arena_alloc(a, 1000);
        assert_non_null(p[i]);
        memset(p[i], i & 0xff, 1000);
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal((unsigned char)p[i][999], i & 0xff);
    assert_non_null(arena_alloc(a, 100 << 20)); /* larger than any block */
    arena_free(a);
}

static void test_arena_realloc(void **state)
{
    struct arena *a = arena_new(0);
    char *p = arena_alloc(a, 16), *q;

    (void)state;
    memcpy(p, "0123456789abcdef", 16);
    q = arena_realloc(a, p, 16, 64); /* last allocation: grows in place */
    assert_ptr_equal(p, q);
    (void)arena_alloc(a, 8);
    q = arena_realloc(a, p, 64, 128); /* no longer last: copied */
    assert_ptr_not_equal(p, q);
    assert_memory_equal(q, "0123456789abcdef", 16);
    assert_string_equal(arena_strndup(a, "hello world", 5), "hello");
    arena_free(a);
}

static void test_buf_max_is_hard(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "0123456789"), 0);
    assert_int_equal(buf_putc(&b, 'x'), -1);
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_printf(&b, "%d", 1), -1);
    assert_string_equal(b.data, "0123456789");
    buf_wipe_from(&b, 4);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.data[5], 0); /* wiped, not just cut */
    buf_free(&b);
}

static void test_buf_printf_grows(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%04d,", i), 0);
    assert_int_equal(b.len, 5000);
    assert_memory_equal(b.data + 4995, "0999,", 5);
    buf_free(&b);
}

static void test_err_first_report_wins(void **state)
{
    struct err e;

    (void)state;
    err_clear(&e);
    assert_int_equal(err_set_at(&e, "a.yaml", 3, 7, "bad %s", "thing"), -1);
    assert_int_equal(err_set(&e, "later"), -1);
    assert_string_equal(e.msg, "a.yaml:3:7: bad thing");
}

static void test_fault_injection(void **state)
{
    void *p, *q;

    (void)state;
    mem_fail_after(1);
    p = xmalloc(10);
    q = xmalloc(10);
    mem_fail_after(-1);
    assert_non_null(p);
    assert_null(q);
    xfree(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_arena_cap_is_hard), LEAK_TEST(test_arena_grows_across_blocks),
        LEAK_TEST(test_arena_realloc),     LEAK_TEST(test_buf_max_is_hard),
        LEAK_TEST(test_buf_printf_grows),  LEAK_TEST(test_err_first_report_wins),
        LEAK_TEST(test_fault_injection),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
