/*
 * test_limit: admission control (proxy/limit.h).
 *
 * The rate limiter is driven with explicit times, so refill arithmetic is
 * checked to the millisecond, with the expected instants computed here from
 * the token-bucket definition. The connection table is checked against a
 * plain model under random acquire/release (which exercises deletion inside
 * probe clusters), and all three primitives are hammered from 4 threads
 * with exact totals expected.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "common/mem.h"
#include "leak.h"
#include "proxy/limit.h"

#define THREADS 4

/* ---- rate ---- */

/* Milliseconds after which a drained bucket at per_sec holds one token
 * again: the definition, ceil(1000 / per_sec). */
static uint64_t ms_per_token(unsigned per_sec)
{
    return (1000 + per_sec - 1) / per_sec;
}

/* A tenant's first requests find a full bucket of burst tokens. */
static void test_rate_burst(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    unsigned retry = 99;

    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(limit_rate_take(lr, "acme", 10, 5, 1000, &retry), 1);
        assert_int_equal(retry, 0);
    }
    assert_int_equal(limit_rate_take(lr, "acme", 10, 5, 1000, &retry), 0);
    assert_true(retry >= 1);
    /* Another tenant has its own bucket. */
    assert_int_equal(limit_rate_take(lr, "globex", 10, 5, 1000, &retry), 1);
    limit_rate_free(lr);
}

/* Refill to the millisecond: one ms before a token is whole, limited; at
 * that ms, allowed; and exactly per_sec tokens come back per second. */
static void test_rate_refill_exact(void **state)
{
    static const unsigned rates[] = {1, 3, 7, 10, 333, 1000, 1500};

    (void)state;
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        unsigned ps = rates[r], retry, allowed = 0;
        struct limit_rate *lr = limit_rate_new();
        uint64_t t0 = 5000, step = ms_per_token(ps);

        for (unsigned i = 0; i < ps; i++)
            assert_int_equal(limit_rate_take(lr, "t", ps, ps, t0, NULL), 1);
        assert_int_equal(limit_rate_take(lr, "t", ps, ps, t0, &retry), 0);
        if (step > 1)
            assert_int_equal(limit_rate_take(lr, "t", ps, ps, t0 + step - 1, &retry), 0);
        assert_int_equal(limit_rate_take(lr, "t", ps, ps, t0 + step, &retry), 1);
        /* From t0 + step to t0 + 1000 + step the bucket regains exactly
         * ps tokens; the fractions carry over, nothing is lost. */
        for (unsigned i = 0; i < 3 * ps; i++)
            allowed += (unsigned)limit_rate_take(lr, "t", ps, ps, t0 + step + 1000, NULL);
        assert_int_equal(allowed, ps);
        limit_rate_free(lr);
    }
}

/* Fractions accumulate across calls: 3/s, polled every ms, admits a
 * request at 334, 667 and 1000 ms (ceil(k * 1000 / 3)). */
static void test_rate_fractions_carry(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    unsigned k = 1;

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(limit_rate_take(lr, "t", 3, 3, 0, NULL), 1);
    for (uint64_t t = 1; t <= 1000; t++) {
        int ok = limit_rate_take(lr, "t", 3, 3, t, NULL);
        uint64_t due = (k * 1000 + 2) / 3;

        if (ok) {
            assert_int_equal(t, due);
            k++;
        } else {
            assert_true(t < due);
        }
    }
    assert_int_equal(k, 4);
    limit_rate_free(lr);
}

/* Retry-After is whole seconds, at least 1, and long enough. */
static void test_rate_retry_after(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    unsigned retry = 0;

    (void)state;
    assert_int_equal(limit_rate_take(lr, "t", 1, 1, 0, &retry), 1);
    assert_int_equal(limit_rate_take(lr, "t", 1, 1, 0, &retry), 0);
    assert_int_equal(retry, 1);
    assert_int_equal(limit_rate_take(lr, "t", 1, 1, (uint64_t)retry * 1000, NULL), 1);
    assert_int_equal(limit_rate_take(lr, "t", 1, 1, 1999, &retry), 0);
    assert_int_equal(retry, 1); /* 1 ms left still says 1 s */
    limit_rate_free(lr);
}

/* per_sec 0 is unlimited; burst 0 means per_sec. */
static void test_rate_unlimited_and_default_burst(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    unsigned retry = 7, allowed = 0;

    (void)state;
    for (int i = 0; i < 10000; i++)
        assert_int_equal(limit_rate_take(lr, "t", 0, 0, 0, &retry), 1);
    assert_int_equal(retry, 0);
    for (int i = 0; i < 100; i++)
        allowed += (unsigned)limit_rate_take(lr, "u", 4, 0, 0, NULL);
    assert_int_equal(allowed, 4);
    limit_rate_free(lr);
}

/* Idle for an absurd time: full again, no overflow. Time going backwards
 * refills nothing. */
static void test_rate_long_idle_and_clock(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    uint64_t far = UINT64_MAX - 10;
    unsigned allowed = 0;

    (void)state;
    while (limit_rate_take(lr, "t", 4000000000u, 8, 0, NULL))
        ;
    for (int i = 0; i < 20; i++)
        allowed += (unsigned)limit_rate_take(lr, "t", 4000000000u, 8, far, NULL);
    assert_int_equal(allowed, 8);
    /* Drained at far; an earlier time brings nothing back. */
    assert_int_equal(limit_rate_take(lr, "t", 4000000000u, 8, 1000, NULL), 0);
    assert_int_equal(limit_rate_take(lr, "t", 4000000000u, 8, far, NULL), 0);
    assert_int_equal(limit_rate_take(lr, "t", 4000000000u, 8, far + 1, NULL), 1);
    limit_rate_free(lr);
}

/* A reload changes the rate: the time before the change refills at the
 * old rate, the time after at the new; a smaller burst cuts the tokens. */
static void test_rate_change(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    unsigned allowed = 0;

    (void)state;
    for (int i = 0; i < 10; i++)
        assert_int_equal(limit_rate_take(lr, "t", 10, 10, 0, NULL), 1);
    /* 100 ms at the old 10/s is exactly one token. */
    assert_int_equal(limit_rate_take(lr, "t", 1, 2, ms_per_token(10), NULL), 1);
    /* Now 1/s: half a second gives half a token. */
    assert_int_equal(limit_rate_take(lr, "t", 1, 2, ms_per_token(10) + 500, NULL), 0);
    assert_int_equal(limit_rate_take(lr, "t", 1, 2, ms_per_token(10) + ms_per_token(1), NULL), 1);
    /* A bucket holding 9 tokens shrinks to the new burst of 2. */
    assert_int_equal(limit_rate_take(lr, "x", 10, 10, 0, NULL), 1);
    for (int i = 0; i < 20; i++)
        allowed += (unsigned)limit_rate_take(lr, "x", 10, 2, 0, NULL);
    assert_int_equal(allowed, 2);
    limit_rate_free(lr);
}

struct rate_arg {
    struct limit_rate *lr;
    unsigned allowed;
};

static void *rate_hammer(void *p)
{
    struct rate_arg *a = p;

    for (int i = 0; i < 100000; i++)
        a->allowed += (unsigned)limit_rate_take(a->lr, "acme", 1, 1000, 42, NULL);
    return NULL;
}

/* 4 threads race for a bucket of 1000 at one instant: exactly 1000 win. */
static void test_rate_threads(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    struct rate_arg a[THREADS];
    pthread_t t[THREADS];
    unsigned total = 0;

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct rate_arg){lr, 0};
        assert_int_equal(pthread_create(&t[i], NULL, rate_hammer, &a[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += a[i].allowed;
    }
    assert_int_equal(total, 1000);
    limit_rate_free(lr);
}

/* The table holds LIMIT_RATE_TENANTS_MAX tenants. One more, while every
 * bucket is in use, is refused (fail closed); once the buckets are full
 * again they are forgotten to make room, and nobody gains from it. */
static void test_rate_table_bound(void **state)
{
    struct limit_rate *lr = limit_rate_new();
    char id[32];
    unsigned retry = 0;

    (void)state;
    for (int i = 0; i < LIMIT_RATE_TENANTS_MAX; i++) {
        snprintf(id, sizeof(id), "tenant-%d", i);
        assert_int_equal(limit_rate_take(lr, id, 1, 1, 0, NULL), 1);
    }
    assert_int_equal(limit_rate_take(lr, "one-more", 1, 1, 0, &retry), 0);
    assert_int_equal(retry, 1);
    /* Known tenants still work. */
    assert_int_equal(limit_rate_take(lr, "tenant-7", 1, 1, 0, NULL), 0);
    assert_int_equal(limit_rate_take(lr, "tenant-7", 1, 1, ms_per_token(1), NULL), 1);
    /* At 1 s every other bucket is full again: the newcomer gets in. */
    assert_int_equal(limit_rate_take(lr, "one-more", 1, 1, ms_per_token(1), NULL), 1);
    /* tenant-7 drained at 1 s was kept, not reset to full. */
    assert_int_equal(limit_rate_take(lr, "tenant-7", 1, 1, ms_per_token(1), NULL), 0);
    limit_rate_free(lr);
}

/* ---- connections ---- */

static struct sockaddr_storage addr4(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, s, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage addr6(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    in->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, s, &in->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_conn_caps(void **state)
{
    struct limit_conn *lc = limit_conn_new(4, 2);
    struct sockaddr_storage a = addr4("192.0.2.1"), b = addr4("192.0.2.2"),
                            c = addr4("198.51.100.3");

    (void)state;
    assert_null(limit_conn_new(0, 1));
    assert_int_equal(limit_conn_acquire(lc, SA(a)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(a)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(a)), 0); /* per-IP */
    assert_int_equal(limit_conn_count_ip(lc, SA(a)), 2);
    assert_int_equal(limit_conn_acquire(lc, SA(b)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(b)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(c)), 0); /* total */
    assert_int_equal(limit_conn_count(lc), 4);
    limit_conn_release(lc, SA(a));
    assert_int_equal(limit_conn_count(lc), 3);
    assert_int_equal(limit_conn_count_ip(lc, SA(a)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(c)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(a)), 0); /* total again */
    limit_conn_free(lc);
}

/* One IPv6 /64 is one client; an IPv4-mapped address is its IPv4 one. */
static void test_conn_keys(void **state)
{
    struct limit_conn *lc = limit_conn_new(100, 2);
    struct sockaddr_storage v6a = addr6("2001:db8:1:2::1"), v6b = addr6("2001:db8:1:2:ffff:1:2:3"),
                            v6c = addr6("2001:db8:1:3::1"), v4 = addr4("192.0.2.9"),
                            mapped = addr6("::ffff:192.0.2.9"), other4 = addr4("0.0.0.1"),
                            v6same = addr6("0:0:0:1::5");

    (void)state;
    assert_int_equal(limit_conn_acquire(lc, SA(v6a)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(v6b)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(v6a)), 0);
    assert_int_equal(limit_conn_acquire(lc, SA(v6c)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(v4)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(mapped)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(v4)), 0);
    assert_int_equal(limit_conn_count_ip(lc, SA(v4)), 2);
    /* 0.0.0.1 and 0:0:0:1::/64 have the same 64-bit value, not the same key. */
    assert_int_equal(limit_conn_acquire(lc, SA(other4)), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(v6same)), 1);
    assert_int_equal(limit_conn_count_ip(lc, SA(other4)), 1);
    assert_int_equal(limit_conn_count_ip(lc, SA(v6same)), 1);
    limit_conn_release(lc, SA(mapped));
    assert_int_equal(limit_conn_count_ip(lc, SA(v4)), 1);
    assert_int_equal(limit_conn_count(lc), 6);
    limit_conn_free(lc);
}

/* Non-IP peers count only in the total; unmatched releases are ignored. */
static void test_conn_other_family_and_stray_release(void **state)
{
    struct limit_conn *lc = limit_conn_new(2, 1);
    struct sockaddr_un un;
    struct sockaddr_storage a = addr4("192.0.2.1"), b = addr4("192.0.2.2");

    (void)state;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    assert_int_equal(limit_conn_acquire(lc, (struct sockaddr *)&un), 1);
    assert_int_equal(limit_conn_acquire(lc, (struct sockaddr *)&un), 1);
    assert_int_equal(limit_conn_acquire(lc, (struct sockaddr *)&un), 0);
    assert_int_equal(limit_conn_count_ip(lc, (struct sockaddr *)&un), 0);
    limit_conn_release(lc, (struct sockaddr *)&un);
    assert_int_equal(limit_conn_acquire(lc, SA(a)), 1);
    limit_conn_release(lc, SA(b)); /* never acquired */
    assert_int_equal(limit_conn_count(lc), 2);
    assert_int_equal(limit_conn_count_ip(lc, SA(a)), 1);
    limit_conn_release(lc, SA(a));
    limit_conn_release(lc, SA(a)); /* once too often */
    assert_int_equal(limit_conn_count(lc), 1);
    assert_int_equal(limit_conn_count_ip(lc, SA(a)), 0);
    limit_conn_free(lc);
}

/* A reload lowers the caps: open connections stay, new ones wait. It
 * raises them past the table size: every count survives the rehash. */
static void test_conn_set_caps(void **state)
{
    struct limit_conn *lc = limit_conn_new(8, 8);
    struct sockaddr_storage ip[8];
    struct err e;
    char s[32];

    (void)state;
    for (int i = 0; i < 8; i++) {
        snprintf(s, sizeof(s), "203.0.113.%d", i + 1);
        ip[i] = addr4(s);
        assert_int_equal(limit_conn_acquire(lc, SA(ip[i])), 1);
    }
    err_clear(&e);
    assert_int_equal(limit_conn_set_caps(lc, 0, 1, &e), -1);
    assert_true(e.set);
    err_clear(&e);
    assert_int_equal(limit_conn_set_caps(lc, 4, 1, &e), 0);
    assert_int_equal(limit_conn_count(lc), 8);
    for (int i = 0; i < 5; i++)
        limit_conn_release(lc, SA(ip[i]));
    assert_int_equal(limit_conn_acquire(lc, SA(ip[0])), 1); /* 4 of 4 */
    assert_int_equal(limit_conn_acquire(lc, SA(ip[1])), 0);
    assert_int_equal(limit_conn_set_caps(lc, 5000, 3, &e), 0);
    assert_int_equal(limit_conn_count(lc), 4);
    for (int i = 5; i < 8; i++)
        assert_int_equal(limit_conn_count_ip(lc, SA(ip[i])), 1);
    assert_int_equal(limit_conn_count_ip(lc, SA(ip[0])), 1);
    for (int i = 0; i < 4000; i++) {
        struct sockaddr_storage x;

        snprintf(s, sizeof(s), "10.%d.%d.1", i / 200, i % 200);
        x = addr4(s);
        assert_int_equal(limit_conn_acquire(lc, SA(x)), 1);
    }
    assert_int_equal(limit_conn_count(lc), 4004);
    assert_int_equal(limit_conn_acquire(lc, SA(ip[0])), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(ip[0])), 1);
    assert_int_equal(limit_conn_acquire(lc, SA(ip[0])), 0); /* new per-IP cap 3 */
    limit_conn_free(lc);
}

/* Random acquire/release over many addresses, checked after every step
 * against a plain array: deletions in the middle of probe clusters must
 * not lose or duplicate anyone. */
static void test_conn_model(void **state)
{
    enum { NADDR = 300, MAXT = 64, PER_IP = 3, STEPS = 200000 };
    struct limit_conn *lc = limit_conn_new(MAXT, PER_IP);
    struct sockaddr_storage ip[NADDR];
    unsigned model[NADDR] = {0}, total = 0;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    char s[64];

    (void)state;
    for (int i = 0; i < NADDR; i++) {
        if (i % 2) {
            snprintf(s, sizeof(s), "2001:db8:%x:%x::%x", i, i * 7, i);
            ip[i] = addr6(s);
        } else {
            snprintf(s, sizeof(s), "198.18.%d.%d", i / 250, i % 250);
            ip[i] = addr4(s);
        }
    }
    for (int step = 0; step < STEPS; step++) {
        int i, acquire, got, want;

        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        i = (int)(rng % NADDR);
        acquire = (rng >> 32) % 2;
        if (acquire) {
            want = total < MAXT && model[i] < PER_IP;
            got = limit_conn_acquire(lc, SA(ip[i]));
            assert_int_equal(got, want);
            model[i] += (unsigned)want;
            total += (unsigned)want;
        } else if (model[i] > 0) {
            limit_conn_release(lc, SA(ip[i]));
            model[i]--;
            total--;
        }
        if (step % 97 == 0 || step == STEPS - 1)
            for (int k = 0; k < NADDR; k++)
                assert_int_equal(limit_conn_count_ip(lc, SA(ip[k])), model[k]);
        assert_int_equal(limit_conn_count(lc), total);
    }
    limit_conn_free(lc);
}

struct conn_arg {
    struct limit_conn *lc;
    int id;
    unsigned admitted;
};

static void *conn_cycle(void *p)
{
    struct conn_arg *a = p;
    struct sockaddr_storage ip[8];
    char s[32];

    for (int i = 0; i < 8; i++) {
        snprintf(s, sizeof(s), "192.0.2.%d", i + 1);
        ip[i] = addr4(s);
    }
    for (int i = 0; i < 100000; i++) {
        const struct sockaddr *sa = SA(ip[(i + a->id) % 8]);

        if (limit_conn_acquire(a->lc, sa)) {
            a->admitted++;
            limit_conn_release(a->lc, sa);
        }
    }
    return NULL;
}

static void *conn_grab(void *p)
{
    struct conn_arg *a = p;
    struct sockaddr_storage ip = addr4("192.0.2.200");

    for (int i = 0; i < 300; i++)
        a->admitted += (unsigned)limit_conn_acquire(a->lc, SA(ip));
    return NULL;
}

static unsigned run_conn_threads(struct limit_conn *lc, void *(*fn)(void *))
{
    struct conn_arg a[THREADS];
    pthread_t t[THREADS];
    unsigned total = 0;

    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct conn_arg){lc, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, fn, &a[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += a[i].admitted;
    }
    return total;
}

/* 4 threads: balanced cycles leave nothing behind; a race for the last
 * slots admits exactly the cap. */
static void test_conn_threads(void **state)
{
    struct limit_conn *lc = limit_conn_new(1000, 1000);
    struct sockaddr_storage ip = addr4("192.0.2.200");

    (void)state;
    assert_int_equal(run_conn_threads(lc, conn_cycle), THREADS * 100000);
    assert_int_equal(limit_conn_count(lc), 0);
    assert_int_equal(run_conn_threads(lc, conn_grab), 1000);
    assert_int_equal(limit_conn_count(lc), 1000);
    assert_int_equal(limit_conn_count_ip(lc, SA(ip)), 1000);
    limit_conn_free(lc);
}

/* ---- in-flight bytes ---- */

/* The first level in a stage: ceil(max * pct / 100), the definition. */
static size_t threshold(size_t max, unsigned pct)
{
    return (size_t)(((unsigned __int128)max * pct + 99) / 100);
}

/* Walk the level up to each threshold: one byte below is the lower stage,
 * the threshold itself the higher one. */
static void check_stages(size_t max)
{
    static const struct {
        unsigned pct;
        enum limit_stage below, at;
    } t[] = {
        {LIMIT_NO_KEEPALIVE_PCT, LIMIT_STAGE_OK, LIMIT_STAGE_NO_KEEPALIVE},
        {LIMIT_REJECT_PCT, LIMIT_STAGE_NO_KEEPALIVE, LIMIT_STAGE_REJECT},
        {LIMIT_PAUSE_ACCEPT_PCT, LIMIT_STAGE_REJECT, LIMIT_STAGE_PAUSE_ACCEPT},
    };
    struct limit_bytes *lb = limit_bytes_new(max);
    size_t level = 0;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t thr = threshold(max, t[i].pct);
        enum limit_stage st;

        assert_int_equal(limit_bytes_try_add(lb, thr - 1 - level, &st), 1);
        if (st != t[i].below)
            fail_msg("max %zu level %zu: stage %d, want %d", max, thr - 1, st, t[i].below);
        assert_int_equal(limit_bytes_add(lb, 1), t[i].at);
        assert_int_equal(limit_bytes_stage(lb), t[i].at);
        level = thr;
    }
    assert_int_equal(limit_bytes_used(lb), max);
    limit_bytes_free(lb);
}

static void test_bytes_stages(void **state)
{
    static const size_t maxes[] = {7, 10, 101, 1000, 1 << 20, 268435456};

    (void)state;
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
        check_stages(maxes[i]);
}

/* Thresholds of a huge budget do not overflow. */
static void test_bytes_huge_budget(void **state)
{
    struct limit_bytes *lb = limit_bytes_new(SIZE_MAX);
    size_t half = threshold(SIZE_MAX, LIMIT_NO_KEEPALIVE_PCT);

    (void)state;
    assert_int_equal(limit_bytes_add(lb, half - 1), LIMIT_STAGE_OK);
    assert_int_equal(limit_bytes_add(lb, 1), LIMIT_STAGE_NO_KEEPALIVE);
    assert_int_equal(limit_bytes_add(lb, SIZE_MAX - half), LIMIT_STAGE_PAUSE_ACCEPT);
    assert_int_equal(limit_bytes_used(lb), SIZE_MAX);
    limit_bytes_free(lb);
}

/* An add that would pass max counts nothing; one landing on max counts. */
static void test_bytes_overflow_add(void **state)
{
    struct limit_bytes *lb = limit_bytes_new(1000);
    enum limit_stage st = LIMIT_STAGE_OK;

    (void)state;
    assert_null(limit_bytes_new(0));
    assert_int_equal(limit_bytes_add(lb, 900), LIMIT_STAGE_REJECT);
    assert_int_equal(limit_bytes_add(lb, 101), LIMIT_STAGE_PAUSE_ACCEPT);
    assert_int_equal(limit_bytes_used(lb), 900);
    assert_int_equal(limit_bytes_try_add(lb, 101, &st), 0);
    assert_int_equal(st, LIMIT_STAGE_PAUSE_ACCEPT);
    assert_int_equal(limit_bytes_used(lb), 900);
    assert_int_equal(limit_bytes_try_add(lb, SIZE_MAX, &st), 0);
    assert_int_equal(limit_bytes_try_add(lb, 100, &st), 1);
    assert_int_equal(st, LIMIT_STAGE_PAUSE_ACCEPT);
    assert_int_equal(limit_bytes_used(lb), 1000);
    assert_int_equal(limit_bytes_sub(lb, 600), LIMIT_STAGE_OK);
    assert_int_equal(limit_bytes_sub(lb, 5000), LIMIT_STAGE_OK);
    assert_int_equal(limit_bytes_used(lb), 0);
    limit_bytes_free(lb);
}

/* A reload shrinks the budget below the level: paused, adds refused, until
 * releases bring it down. */
static void test_bytes_set_max(void **state)
{
    struct limit_bytes *lb = limit_bytes_new(1000);

    (void)state;
    assert_int_equal(limit_bytes_add(lb, 600), LIMIT_STAGE_NO_KEEPALIVE);
    limit_bytes_set_max(lb, 500);
    assert_int_equal(limit_bytes_stage(lb), LIMIT_STAGE_PAUSE_ACCEPT);
    assert_int_equal(limit_bytes_add(lb, 1), LIMIT_STAGE_PAUSE_ACCEPT);
    assert_int_equal(limit_bytes_used(lb), 600);
    assert_int_equal(limit_bytes_sub(lb, 200), LIMIT_STAGE_REJECT);
    limit_bytes_set_max(lb, 0); /* ignored */
    assert_int_equal(limit_bytes_stage(lb), LIMIT_STAGE_REJECT);
    limit_bytes_set_max(lb, 10000);
    assert_int_equal(limit_bytes_stage(lb), LIMIT_STAGE_OK);
    limit_bytes_free(lb);
}

struct bytes_arg {
    struct limit_bytes *lb;
    size_t counted;
};

static void *bytes_cycle(void *p)
{
    struct bytes_arg *a = p;

    for (int i = 0; i < 100000; i++) {
        enum limit_stage st;

        if (limit_bytes_try_add(a->lb, 3, &st))
            limit_bytes_sub(a->lb, 3);
    }
    return NULL;
}

static void *bytes_fill(void *p)
{
    struct bytes_arg *a = p;
    enum limit_stage st;

    for (int i = 0; i < 10000; i++)
        if (limit_bytes_try_add(a->lb, 1, &st))
            a->counted++;
    return NULL;
}

static size_t run_bytes_threads(struct limit_bytes *lb, void *(*fn)(void *))
{
    struct bytes_arg a[THREADS];
    pthread_t t[THREADS];
    size_t total = 0;

    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct bytes_arg){lb, 0};
        assert_int_equal(pthread_create(&t[i], NULL, fn, &a[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += a[i].counted;
    }
    return total;
}

static void test_bytes_threads(void **state)
{
    struct limit_bytes *lb = limit_bytes_new(12345);

    (void)state;
    run_bytes_threads(lb, bytes_cycle);
    assert_int_equal(limit_bytes_used(lb), 0);
    assert_int_equal(run_bytes_threads(lb, bytes_fill), 12345);
    assert_int_equal(limit_bytes_used(lb), 12345);
    limit_bytes_free(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_rate_burst),
        LEAK_TEST(test_rate_refill_exact),
        LEAK_TEST(test_rate_fractions_carry),
        LEAK_TEST(test_rate_retry_after),
        LEAK_TEST(test_rate_unlimited_and_default_burst),
        LEAK_TEST(test_rate_long_idle_and_clock),
        LEAK_TEST(test_rate_change),
        LEAK_TEST(test_rate_threads),
        LEAK_TEST(test_rate_table_bound),
        LEAK_TEST(test_conn_caps),
        LEAK_TEST(test_conn_keys),
        LEAK_TEST(test_conn_other_family_and_stray_release),
        LEAK_TEST(test_conn_set_caps),
        LEAK_TEST(test_conn_model),
        LEAK_TEST(test_conn_threads),
        LEAK_TEST(test_bytes_stages),
        LEAK_TEST(test_bytes_huge_budget),
        LEAK_TEST(test_bytes_overflow_add),
        LEAK_TEST(test_bytes_set_max),
        LEAK_TEST(test_bytes_threads),
    };

    return cmocka_run_group_tests_name("limit", tests, NULL, NULL);
}
