/* session: the cross-payload node map and journey table, on its own: keys,
 * nodes and subtrees, the password markers, the bounds (per session, in
 * all, by LRU), expiry by the caller's clock, and allocation failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rules/session.h"
#include "leak.h"

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

#define S(lit) (lit), (sizeof(lit) - 1)

static struct session_table *table(size_t per_session, size_t total)
{
    struct session_table *t = session_table_new(per_session, total, key);

    assert_non_null(t);
    assert_int_equal(session_table_bind(t, S("acme"), NULL, 0), 0);
    return t;
}

static struct session *get(struct session_table *t, const char *sid, uint64_t now)
{
    struct err e;
    struct session *s;

    err_clear(&e);
    s = session_get(t, sid, strlen(sid), NULL, 0, 60000, now, &e);
    if (s == NULL)
        fail_msg("session_get: %s", e.msg);
    return s;
}

/* A node under parent (parent < 0: a root). */
static int put(struct session *s, int64_t id, int64_t parent, unsigned decision, unsigned flags)
{
    struct session_node n = {decision, flags, parent >= 0, parent >= 0 ? parent : 0};

    return session_node_put(s, id, &n, NULL, 1);
}

static int has(const struct session *s, int64_t id)
{
    struct session_node n;

    return session_node_get(s, id, &n) == 0;
}

static void test_nodes_and_elements(void **state)
{
    struct session_table *t = table(100, 1000);
    struct session *s = get(t, "sess-1", 0);
    struct select_attr attrs[] = {{S("name"), S("email")},
                                  {S("class"), S("field wide")},
                                  {S("placeholder"), S("you@example.com")}};
    struct select_elem e = {S("input"), attrs, 3, NULL};
    struct session_node in = {2, SESSION_INPUT, 1, 1}, out;
    struct select_elem got;
    struct arena *a = arena_new(0);

    (void)state;
    assert_int_equal(put(s, 1, -1, 0, 0), 0);
    assert_int_equal(session_node_put(s, 5, &in, &e, 0), 0);
    assert_int_equal(session_node_get(s, 5, &out), 0);
    assert_int_equal(out.decision, 2);
    assert_true(out.has_parent);
    assert_int_equal(out.parent, 1);
    /* a masked node keeps what it is (name, class), not what it shows */
    assert_true(out.flags & SESSION_INPUT);
    assert_true(out.flags & SESSION_PARTIAL);
    assert_int_equal(session_node_elem(s, 5, a, &got), 1);
    assert_int_equal(got.taglen, 5);
    assert_memory_equal(got.tag, "input", 5);
    assert_int_equal(got.nattrs, 2);
    assert_memory_equal(got.attrs[0].value, "email", 5);
    assert_memory_equal(got.attrs[1].value, "field wide", 10);
    /* an allowed node keeps every short value */
    in.decision = 0;
    assert_int_equal(session_node_put(s, 6, &in, &e, 1), 0);
    assert_int_equal(session_node_elem(s, 6, a, &got), 1);
    assert_int_equal(got.nattrs, 3);
    assert_memory_equal(got.attrs[2].value, "you@example.com", 15);
    assert_int_equal(session_node_get(s, 6, &out), 0);
    assert_false(out.flags & SESSION_PARTIAL);
    /* a parent that is not there makes a partial root */
    in.parent = 77;
    assert_int_equal(session_node_put(s, 8, &in, NULL, 1), 0);
    assert_int_equal(session_node_get(s, 8, &out), 0);
    assert_false(out.has_parent);
    assert_true(out.flags & SESSION_PARTIAL);
    assert_int_equal(session_node_elem(s, 1, a, &got), 0); /* not an element */
    assert_int_equal(session_node_get(s, 999, &out), -1);
    arena_free(a);
    session_table_free(t);
}

static void test_keys_isolate_tenants_and_windows(void **state)
{
    struct session_table *t = table(100, 1000);
    struct session *a, *b, *w1, *w2;
    struct err e;
    const char *sid;
    size_t n;

    (void)state;
    a = get(t, "shared-id", 0);
    assert_int_equal(put(a, 1, -1, 0, 0), 0);
    assert_int_equal(session_table_bind(t, S("globex"), NULL, 0), 0);
    b = get(t, "shared-id", 0);
    assert_ptr_not_equal(a, b);
    assert_false(has(b, 1)); /* another tenant's client cannot reach it */
    w1 = session_get(t, S("shared-id"), S("win-1"), 0, 0, &e);
    w2 = session_get(t, S("shared-id"), S("win-2"), 0, 0, &e);
    assert_non_null(w1);
    assert_non_null(w2);
    assert_ptr_not_equal(w1, w2);
    assert_ptr_not_equal(w1, b);
    assert_ptr_equal(session_get(t, S("shared-id"), S("win-1"), 0, 0, &e), w1);
    assert_int_equal(session_table_bind(t, S("acme"), NULL, 0), 0);
    assert_ptr_equal(get(t, "shared-id", 0), a);
    assert_true(has(a, 1));
    /* the fallback is what the binding says, and only while bound */
    assert_int_equal(session_table_fallback(t, &sid, &n), -1);
    assert_int_equal(session_table_bind(t, S("acme"), S("cli-run")), 0);
    assert_int_equal(session_table_fallback(t, &sid, &n), 0);
    assert_int_equal(n, 7);
    assert_memory_equal(sid, "cli-run", 7);
    session_table_free(t);
}

static void test_refusals(void **state)
{
    struct session_table *t = session_table_new(10, 100, key);
    char long_id[SESSION_ID_MAX + 2];
    struct err e;

    (void)state;
    err_clear(&e);
    assert_null(session_get(t, S("s"), NULL, 0, 0, 0, &e));
    assert_non_null(strstr(e.msg, "no tenant"));
    assert_false(session_table_bound(t));
    assert_int_equal(session_table_bind(t, "", 0, NULL, 0), -1);
    memset(long_id, 'x', sizeof(long_id));
    assert_int_equal(session_table_bind(t, long_id, SESSION_TENANT_MAX + 1, NULL, 0), -1);
    assert_int_equal(session_table_bind(t, S("acme"), long_id, SESSION_ID_MAX + 1), -1);
    assert_false(session_table_bound(t)); /* a refused binding clears the old one */
    assert_int_equal(session_table_bind(t, S("acme"), NULL, 0), 0);
    err_clear(&e);
    assert_null(session_get(t, long_id, SESSION_ID_MAX + 1, NULL, 0, 0, 0, &e));
    assert_null(session_get(t, "", 0, NULL, 0, 0, 0, &e));
    assert_non_null(session_get(t, long_id, SESSION_ID_MAX, NULL, 0, 0, 0, &e));
    assert_null(session_table_new(0, 10, key));
    assert_null(session_table_new(10, 0, key));
    session_table_free(t);
}

/* 1 - 2 - 3 - 4, 2 - 5 (a password), 1 - 6: removing 2 takes 3, 4 and 5
 * but leaves 5 as a marker, and 1 and 6 alone. */
static void test_remove_subtree(void **state)
{
    struct session_table *t = table(100, 1000);
    struct session *s = get(t, "s", 0);
    struct session_node n;
    struct session_stats st;

    (void)state;
    put(s, 1, -1, 0, 0);
    put(s, 2, 1, 0, 0);
    put(s, 3, 2, 0, 0);
    put(s, 4, 3, 0, 0);
    put(s, 5, 2, 2, SESSION_INPUT | SESSION_PASSWORD);
    put(s, 6, 1, 0, 0);
    assert_int_equal(session_nodes(s), 6);
    session_node_remove(s, 2);
    assert_true(has(s, 1));
    assert_true(has(s, 6));
    assert_false(has(s, 2));
    assert_false(has(s, 3));
    assert_false(has(s, 4));
    assert_int_equal(session_node_get(s, 5, &n), 0);
    assert_true(n.flags & SESSION_PASSWORD);
    assert_false(n.has_parent);
    assert_int_equal(session_nodes(s), 3);
    session_table_stats(t, &st);
    assert_int_equal(st.entries, 3);
    /* a re-add of the password's id is still a password */
    put(s, 5, 6, 0, SESSION_INPUT);
    assert_int_equal(session_node_get(s, 5, &n), 0);
    assert_true(n.flags & SESSION_PASSWORD);
    assert_int_equal(n.parent, 6);
    session_node_remove(s, 12345); /* unknown: nothing */
    assert_int_equal(session_nodes(s), 3);
    session_table_free(t);
}

/* rrweb re-describes a moved node with its children: the old subtree
 * goes first, so a child that did not come along is gone. */
static void test_put_replaces_subtree(void **state)
{
    struct session_table *t = table(100, 1000);
    struct session *s = get(t, "s", 0);
    struct session_node n;

    (void)state;
    put(s, 1, -1, 0, 0);
    put(s, 2, 1, 0, 0);
    put(s, 3, 2, 0, 0);
    put(s, 9, -1, 0, 0);
    put(s, 2, 9, 1, 0);
    assert_false(has(s, 3));
    assert_int_equal(session_node_get(s, 2, &n), 0);
    assert_int_equal(n.parent, 9);
    assert_int_equal(n.decision, 1);
    /* a node put under itself has no parent rather than a loop */
    put(s, 4, 4, 0, 0);
    assert_int_equal(session_node_get(s, 4, &n), 0);
    assert_false(n.has_parent);
    session_node_update(s, 2, 2, SESSION_INPUT | SESSION_PASSWORD);
    assert_int_equal(session_node_get(s, 2, &n), 0);
    assert_int_equal(n.decision, 2);
    assert_true(n.flags & SESSION_PASSWORD);
    session_table_free(t);
}

static void test_reset_keeps_password_markers(void **state)
{
    struct session_table *t = table(100, 1000);
    struct session *s = get(t, "s", 0);
    struct select_attr attr = {S("id"), S("x")};
    struct select_elem e = {S("div"), &attr, 1, NULL};
    struct session_node n = {0, 0, 0, 0};
    struct session_stats st;

    (void)state;
    for (int64_t id = 1; id <= 50; id++)
        assert_int_equal(session_node_put(s, id, &n, &e, 1), 0);
    put(s, 60, 1, 2, SESSION_INPUT | SESSION_PASSWORD);
    session_reset(s);
    assert_int_equal(session_nodes(s), 1);
    assert_true(has(s, 60));
    assert_false(has(s, 1));
    session_table_stats(t, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 0); /* the element pool went with them */
    assert_int_equal(put(s, 1, -1, 0, 0), 0);
    assert_int_equal(session_nodes(s), 2);
    session_table_free(t);
}

/* Beyond session_entries, nodes are not kept (a later event for them is
 * masked as unknown), and the overflow is counted. */
static void test_session_cap(void **state)
{
    struct session_table *t = table(8, 1000);
    struct session *s = get(t, "s", 0);
    struct session_stats st;

    (void)state;
    for (int64_t id = 1; id <= 8; id++)
        assert_int_equal(put(s, id, -1, 0, 0), 0);
    assert_int_equal(put(s, 9, -1, 0, 0), 1);
    assert_false(has(s, 9));
    assert_int_equal(put(s, 3, -1, 1, 0), 0); /* replacing one is not growing */
    session_table_stats(t, &st);
    assert_int_equal(st.overflows, 1);
    assert_int_equal(st.entries, 8);
    session_node_remove(s, 1);
    assert_int_equal(put(s, 9, -1, 0, 0), 0);
    session_table_free(t);
}

/* Over total_entries, the least recently used session goes, whole. */
static void test_lru_eviction(void **state)
{
    struct session_table *t = table(10, 20); /* each session also costs one */
    struct session *a = get(t, "a", 0), *b = get(t, "b", 0), *c;
    struct session_stats st;

    (void)state;
    for (int64_t id = 1; id <= 8; id++) {
        assert_int_equal(put(a, id, -1, 0, 0), 0);
        assert_int_equal(put(b, id, -1, 0, 0), 0);
    }
    a = get(t, "a", 0); /* a is now the most recently used */
    c = get(t, "c", 0);
    session_table_stats(t, &st);
    assert_int_equal(st.sessions, 3);
    assert_int_equal(st.entries, 16);
    for (int64_t id = 1; id <= 3; id++)
        assert_int_equal(put(c, id, -1, 0, 0), 0);
    session_table_stats(t, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(st.entries, 11);
    assert_true(has(get(t, "a", 0), 8));
    assert_false(has(get(t, "b", 0), 1)); /* b came back empty */
    session_table_free(t);
}

static int expired_calls;
static char expired_label[64];

static void on_expired(void *ctx, const char *tenant, const char *label, struct journey_state *st)
{
    (void)st;
    assert_string_equal(tenant, ctx);
    expired_calls++;
    snprintf(expired_label, sizeof(expired_label), "%s", label);
}

static void test_expiry(void **state)
{
    struct session_table *t = table(100, 100000);
    struct session *s = get(t, "s", 1000);
    struct journey_state *j = session_journey(s);
    struct session_stats st;

    (void)state;
    assert_non_null(j);
    assert_ptr_equal(session_journey(s), j);
    put(s, 1, -1, 0, 0);
    session_set_label(s, "pseudonym-of-s");
    /* within its idle time (60 s here): the same map */
    s = get(t, "s", 61000);
    assert_true(has(s, 1));
    assert_false(session_take_expired(s));
    /* past it: the map is gone, the journey stays for the abandonment */
    s = get(t, "s", 121001);
    assert_false(has(s, 1));
    assert_ptr_equal(session_journey(s), j);
    assert_true(session_take_expired(s));
    assert_false(session_take_expired(s));
    /* the sweeper frees what nobody came back for, oldest first */
    (void)get(t, "other", 130000);
    assert_int_equal(session_table_expire(t, 180000, on_expired, "acme"), 0);
    assert_int_equal(session_table_expire(t, 181002, on_expired, "acme"), 1);
    assert_int_equal(expired_calls, 1);
    assert_string_equal(expired_label, "pseudonym-of-s");
    session_table_stats(t, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.expirations, 2);
    /* no clock, no expiry */
    assert_int_equal(session_table_expire(t, 0, NULL, NULL), 0);
    session_table_free(t);
}

/* A journey state costs SESSION_JOURNEY_BYTES of the byte cap: a table
 * too small for one refuses it instead of growing. */
static void test_journey_bound(void **state)
{
    struct session_table *t = table(10, 16); /* 16 * 128 bytes < 32 KiB */
    struct session_stats st;

    (void)state;
    assert_null(session_journey(get(t, "s", 0)));
    session_table_stats(t, &st);
    assert_int_equal(st.overflows, 1);
    session_table_free(t);
}

/* Many inserts and removes against a plain array: the index (with its
 * backward-shift deletion) and the free list never lose or invent a node. */
static void test_index_against_reference(void **state)
{
    enum { IDS = 5000 };
    static unsigned char live[IDS];
    struct session_table *t = table(IDS, IDS * 2);
    struct session *s = get(t, "s", 0);
    uint64_t x = 88172645463325252ull;

    (void)state;
    memset(live, 0, sizeof(live));
    for (int round = 0; round < 40000; round++) {
        int64_t id;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        id = (int64_t)(x % IDS) * 4096 - 7; /* spread, and one negative */
        if (x & (1u << 20)) {
            assert_int_equal(put(s, id, -1, (unsigned)(x & 3), 0), 0);
            live[x % IDS] = 1;
        } else {
            session_node_remove(s, id);
            live[x % IDS] = 0;
        }
    }
    for (uint64_t i = 0; i < IDS; i++)
        if (has(s, (int64_t)i * 4096 - 7) != live[i])
            fail_msg("id %llu: map and reference differ", (unsigned long long)i);
    session_table_free(t);
}

/* Element data is compacted when its pool is full and half garbage, and
 * survives the move. */
static void test_pool_compaction(void **state)
{
    struct session_table *t = table(64, 64);
    struct session *s = get(t, "s", 0);
    char cls[200];
    struct select_attr attr = {S("class"), cls, sizeof(cls)};
    struct select_elem e = {S("section"), &attr, 1, NULL}, got;
    struct session_node n = {0, 0, 0, 0}, out;
    struct arena *a = arena_new(0);

    (void)state;
    memset(cls, 'c', sizeof(cls));
    for (int round = 0; round < 200; round++) {
        int64_t id = round % 10;
        cls[0] = (char)('a' + round % 26);
        assert_int_equal(session_node_put(s, id, &n, &e, 1), 0);
        assert_int_equal(session_node_get(s, id, &out), 0);
        assert_false(out.flags & SESSION_PARTIAL);
        assert_int_equal(session_node_elem(s, id, a, &got), 1);
        assert_int_equal(got.attrs[0].value[0], cls[0]);
    }
    arena_free(a);
    session_table_free(t);
}

/* Out of memory anywhere: a clean NULL or an overflow, never a leak. */
static void test_allocation_failures(void **state)
{
    (void)state;
    for (long k = 0; k < 40; k++) {
        long before = mem_live();
        struct session_table *t = session_table_new(100, 1000, key);
        struct session *s;
        struct err e;
        if (t == NULL)
            continue;
        assert_int_equal(session_table_bind(t, S("acme"), NULL, 0), 0);
        mem_fail_after(k);
        s = session_get(t, S("s"), NULL, 0, 0, 0, &e);
        for (int64_t id = 1; s != NULL && id < 200; id++)
            (void)put(s, id, id - 1, 0, 0);
        if (s != NULL)
            (void)session_journey(s);
        mem_fail_after(-1);
        session_table_free(t);
        assert_int_equal(mem_live(), before);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_nodes_and_elements),
        LEAK_TEST(test_keys_isolate_tenants_and_windows),
        LEAK_TEST(test_refusals),
        LEAK_TEST(test_remove_subtree),
        LEAK_TEST(test_put_replaces_subtree),
        LEAK_TEST(test_reset_keeps_password_markers),
        LEAK_TEST(test_session_cap),
        LEAK_TEST(test_lru_eviction),
        LEAK_TEST(test_expiry),
        LEAK_TEST(test_journey_bound),
        LEAK_TEST(test_index_against_reference),
        LEAK_TEST(test_pool_compaction),
        LEAK_TEST(test_allocation_failures),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
