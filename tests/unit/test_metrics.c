/*
 * test_metrics: the registry (proxy/metrics.h) as a scraper sees it.
 *
 * Every case renders the registry and reads the text back with a small
 * parser of the exposition format (HELP/TYPE comments, samples with escaped
 * label values), so values are checked as Prometheus would read them, not
 * through the module's internals. Each case starts and ends with an empty
 * registry and checks that it left no allocation behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "leak.h"
#include "proxy/metrics.h"

/* ---- a small exposition-format parser ---- */

#define MAX_LABELS 4

struct sample {
    char name[96];
    unsigned nlabels;
    char key[MAX_LABELS][32];
    char val[MAX_LABELS][512];
    char value[64];
};

struct scrape {
    struct sample *s;
    size_t n, cap;
    char (*typed)[96]; /* families in # TYPE lines, in order */
    char (*type)[16];
    size_t ntyped;
    size_t nhelp;
};

/* A quoted label value at *pp, unescaped into out. */
static void parse_label_value(const char **pp, char *out, size_t outsz)
{
    const char *p = *pp;
    size_t n = 0;

    if (*p++ != '"')
        fail_msg("label value does not start with a quote");
    while (*p != '"') {
        char c = *p++;

        if (c == '\n' || c == '\0')
            fail_msg("unterminated label value");
        if (c == '\\') {
            c = *p++;
            if (c == 'n')
                c = '\n';
            else if (c != '\\' && c != '"')
                fail_msg("bad escape \\%c in label value", c);
        }
        if (n + 1 >= outsz)
            fail_msg("label value too long for the test parser");
        out[n++] = c;
    }
    out[n] = '\0';
    *pp = p + 1;
}

static size_t parse_name(const char *p, char *out, size_t outsz)
{
    size_t n = 0;

    if (!(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':'))
        fail_msg("bad metric or label name at \"%.20s\"", p);
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':') {
        if (n + 1 >= outsz)
            fail_msg("name too long");
        out[n] = p[n];
        n++;
    }
    out[n] = '\0';
    return n;
}

/* One sample line: name{k="v",...} value */
static void parse_sample(const char *line, struct sample *s)
{
    const char *p = line + parse_name(line, s->name, sizeof(s->name));
    size_t n;

    s->nlabels = 0;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s->nlabels == MAX_LABELS)
                fail_msg("too many labels");
            p += parse_name(p, s->key[s->nlabels], sizeof(s->key[0]));
            if (*p++ != '=')
                fail_msg("label without '='");
            parse_label_value(&p, s->val[s->nlabels], sizeof(s->val[0]));
            s->nlabels++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                fail_msg("expected ',' or '}' after a label");
        }
        p++;
    }
    if (*p++ != ' ')
        fail_msg("no space before the value in \"%s\"", line);
    n = strlen(p);
    if (n == 0 || n >= sizeof(s->value) || strspn(p, "0123456789.-+Inf") != n)
        fail_msg("bad value in \"%s\"", line);
    memcpy(s->value, p, n + 1);
}

static void parse_comment(struct scrape *sc, const char *line)
{
    char name[96], type[16];

    if (strncmp(line, "# HELP ", 7) == 0) {
        sc->nhelp++;
        return;
    }
    if (sscanf(line, "# TYPE %95s %15s", name, type) != 2)
        fail_msg("bad comment line \"%s\"", line);
    sc->typed = realloc(sc->typed, (sc->ntyped + 1) * sizeof(*sc->typed));
    sc->type = realloc(sc->type, (sc->ntyped + 1) * sizeof(*sc->type));
    memcpy(sc->typed[sc->ntyped], name, sizeof(name));
    memcpy(sc->type[sc->ntyped], type, sizeof(type));
    sc->ntyped++;
}

/* The family a sample belongs to: its name, or for histograms the name
 * without _bucket/_sum/_count. Fails if no # TYPE came before it. */
static void check_typed(const struct scrape *sc, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < sc->ntyped; i++) {
        size_t fl = strlen(sc->typed[i]);

        if (strcmp(sc->typed[i], name) == 0)
            return;
        if (strcmp(sc->type[i], "histogram") == 0 && n > fl &&
            strncmp(name, sc->typed[i], fl) == 0 &&
            (strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
             strcmp(name + fl, "_count") == 0))
            return;
    }
    fail_msg("sample %s has no # TYPE before it", name);
}

static void scrape_parse(struct scrape *sc, const char *text)
{
    char *copy = strdup(text), *save = NULL;

    memset(sc, 0, sizeof(*sc));
    assert_non_null(copy);
    if (text[0] != '\0')
        assert_int_equal(text[strlen(text) - 1], '\n');
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            parse_comment(sc, line);
            continue;
        }
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? 2 * sc->cap : 64;
            sc->s = realloc(sc->s, sc->cap * sizeof(*sc->s));
            assert_non_null(sc->s);
        }
        parse_sample(line, &sc->s[sc->n]);
        check_typed(sc, sc->s[sc->n].name);
        sc->n++;
    }
    free(copy);
}

static void scrape_free(struct scrape *sc)
{
    free(sc->s);
    free(sc->typed);
    free(sc->type);
}

/* Render the registry and parse it. */
static void scrape(struct scrape *sc)
{
    struct buf b;

    buf_init(&b, 0);
    assert_int_equal(metrics_render(&b), 0);
    scrape_parse(sc, b.data != NULL ? b.data : "");
    buf_free(&b);
}

/* The sample name{k1="v1",...} (labels in any order, all of them given), or
 * NULL. Varargs: k, v pairs then NULL. */
static const struct sample *find_v(const struct scrape *sc, const char *name, va_list ap)
{
    const char *k[MAX_LABELS], *v[MAX_LABELS];
    unsigned n = 0;

    while ((k[n] = va_arg(ap, const char *)) != NULL) {
        v[n] = va_arg(ap, const char *);
        n++;
    }
    for (size_t i = 0; i < sc->n; i++) {
        const struct sample *s = &sc->s[i];
        unsigned hit = 0;

        if (strcmp(s->name, name) != 0 || s->nlabels != n)
            continue;
        for (unsigned a = 0; a < n; a++)
            for (unsigned b = 0; b < s->nlabels; b++)
                if (strcmp(s->key[b], k[a]) == 0 && strcmp(s->val[b], v[a]) == 0)
                    hit++;
        if (hit == n)
            return s;
    }
    return NULL;
}

static const struct sample *find(const struct scrape *sc, const char *name, ...)
{
    va_list ap;
    const struct sample *s;

    va_start(ap, name);
    s = find_v(sc, name, ap);
    va_end(ap);
    return s;
}

/* The integer value of a sample that must exist. */
static int64_t value_of(const struct scrape *sc, const char *name, ...)
{
    va_list ap;
    const struct sample *s;
    char *end;
    long long v;

    va_start(ap, name);
    s = find_v(sc, name, ap);
    va_end(ap);
    if (s == NULL)
        fail_msg("no sample %s with those labels", name);
    v = strtoll(s->value, &end, 10);
    if (*end != '\0')
        fail_msg("%s: value %s is not an integer", name, s->value);
    return v;
}

static size_t count_samples(const struct scrape *sc, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < sc->n; i++)
        n += strcmp(sc->s[i].name, name) == 0;
    return n;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    metrics_reset_for_tests();
    return leak_setup(state);
}

static int teardown(void **state)
{
    metrics_reset_for_tests();
    return leak_teardown(state);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- cases ---- */

/* Every family the integration tests scrape is there from the start, with
 * one HELP and one TYPE each, and the seeded words read 0. */
static void test_families_present(void **state)
{
    static const char *const families[][2] = {
        {"scrim_requests_total", "counter"},
        {"scrim_bytes_in_total", "counter"},
        {"scrim_bytes_out_total", "counter"},
        {"scrim_rule_hits_total", "counter"},
        {"scrim_dropped_total", "counter"},
        {"scrim_upstream_requests_total", "counter"},
        {"scrim_upstream_latency_seconds", "histogram"},
        {"scrim_spool_bytes", "gauge"},
        {"scrim_spool_items", "gauge"},
        {"scrim_connections", "gauge"},
        {"scrim_inflight_bytes", "gauge"},
        {"scrim_nodemap_entries", "gauge"},
        {"scrim_nodemap_sessions", "gauge"},
        {"scrim_nodemap_evictions_total", "counter"},
        {"scrim_config_reloads_total", "counter"},
        {"scrim_config_generation", "gauge"},
        {"scrim_audit_entries_total", "counter"},
        {"scrim_store_records_total", "counter"},
        {"scrim_store_commits_total", "counter"},
        {"scrim_metrics_dropped_series_total", "counter"},
    };
    /* The words metrics.h promises to pre-create. */
    static const char *const seeded[][3] = {
        {"scrim_dropped_total", "reason", "bad"},
        {"scrim_dropped_total", "reason", "too_big"},
        {"scrim_dropped_total", "reason", "limit"},
        {"scrim_dropped_total", "reason", "internal"},
        {"scrim_dropped_total", "reason", "unauthorized"},
        {"scrim_dropped_total", "reason", "not_found"},
        {"scrim_dropped_total", "reason", "rate_limited"},
        {"scrim_dropped_total", "reason", "spool_full"},
        {"scrim_dropped_total", "reason", "upstream"},
        {"scrim_dropped_total", "reason", "timeout"},
        {"scrim_dropped_total", "reason", "connections"},
        {"scrim_upstream_requests_total", "result", "accepted"},
        {"scrim_upstream_requests_total", "result", "failed"},
        {"scrim_upstream_requests_total", "result", "spooled"},
        {"scrim_upstream_requests_total", "result", "resent"},
        {"scrim_config_reloads_total", "result", "ok"},
        {"scrim_config_reloads_total", "result", "failed"},
    };
    size_t nf = sizeof(families) / sizeof(families[0]);
    struct scrape sc;

    (void)state;
    metrics_init();
    metrics_init(); /* idempotent */
    scrape(&sc);
    for (size_t i = 0; i < nf; i++) {
        size_t seen = 0;

        for (size_t j = 0; j < sc.ntyped; j++)
            if (strcmp(sc.typed[j], families[i][0]) == 0) {
                assert_string_equal(sc.type[j], families[i][1]);
                seen++;
            }
        if (seen != 1)
            fail_msg("family %s has %zu TYPE lines", families[i][0], seen);
    }
    assert_int_equal(sc.ntyped, nf);
    assert_int_equal(sc.nhelp, nf);
    for (size_t i = 0; i < sizeof(seeded) / sizeof(seeded[0]); i++)
        assert_int_equal(value_of(&sc, seeded[i][0], seeded[i][1], seeded[i][2], NULL), 0);
    assert_int_equal(count_samples(&sc, "scrim_dropped_total"), 11);
    assert_int_equal(count_samples(&sc, "scrim_upstream_requests_total"), 4);
    assert_int_equal(count_samples(&sc, "scrim_config_reloads_total"), 2);
    assert_int_equal(count_samples(&sc, "scrim_requests_total"), 0);
    scrape_free(&sc);
}

static void test_requests(void **state)
{
    struct scrape sc;

    (void)state;
    metrics_request("/v1/replay", "acme", 200, 1000, 600);
    metrics_request("/v1/replay", "acme", 200, 500, 300);
    metrics_request("/v1/replay", NULL, 401, 70, 0);
    metrics_request(NULL, NULL, 404, 12, 0);
    metrics_request("/v1/form", "acme", 413, 9, 0);
    scrape(&sc);
    assert_int_equal(value_of(&sc, "scrim_requests_total", "route", "/v1/replay", "tenant", "acme",
                              "status", "200", NULL),
                     2);
    assert_int_equal(value_of(&sc, "scrim_requests_total", "route", "/v1/replay", "tenant", "-",
                              "status", "401", NULL),
                     1);
    assert_int_equal(
        value_of(&sc, "scrim_requests_total", "route", "-", "tenant", "-", "status", "404", NULL),
        1);
    assert_int_equal(count_samples(&sc, "scrim_requests_total"), 4);
    assert_int_equal(value_of(&sc, "scrim_bytes_in_total", "route", "/v1/replay", NULL),
                     1000 + 500 + 70);
    assert_int_equal(value_of(&sc, "scrim_bytes_out_total", "route", "/v1/replay", NULL),
                     600 + 300);
    assert_int_equal(value_of(&sc, "scrim_bytes_in_total", "route", "/v1/form", NULL), 9);
    assert_int_equal(value_of(&sc, "scrim_bytes_out_total", "route", "/v1/form", NULL), 0);
    scrape_free(&sc);
}

static void test_rules_drops_upstream_reloads(void **state)
{
    struct scrape sc;

    (void)state;
    metrics_rule_hit("acme", "pii.card", "mask", 3);
    metrics_rule_hit("acme", "pii.card", "mask", 4);
    metrics_rule_hit("acme", "pii.card", "redact", 1);
    metrics_rule_hit("globex", "pii.card", "mask", 2);
    metrics_dropped("too_big");
    metrics_dropped("too_big");
    metrics_dropped("bad");
    metrics_upstream("accepted", 1200);
    metrics_upstream("spooled", METRICS_NO_LATENCY);
    metrics_config_reload(1);
    metrics_config_reload(0);
    metrics_config_reload(0);
    scrape(&sc);
    assert_int_equal(value_of(&sc, "scrim_rule_hits_total", "tenant", "acme", "rule", "pii.card",
                              "action", "mask", NULL),
                     7);
    assert_int_equal(value_of(&sc, "scrim_rule_hits_total", "tenant", "acme", "rule", "pii.card",
                              "action", "redact", NULL),
                     1);
    assert_int_equal(value_of(&sc, "scrim_rule_hits_total", "tenant", "globex", "rule", "pii.card",
                              "action", "mask", NULL),
                     2);
    assert_int_equal(value_of(&sc, "scrim_dropped_total", "reason", "too_big", NULL), 2);
    assert_int_equal(value_of(&sc, "scrim_dropped_total", "reason", "bad", NULL), 1);
    assert_int_equal(value_of(&sc, "scrim_upstream_requests_total", "result", "accepted", NULL), 1);
    assert_int_equal(value_of(&sc, "scrim_upstream_requests_total", "result", "spooled", NULL), 1);
    /* The spooled delivery had no exchange: only one observation. */
    assert_int_equal(value_of(&sc, "scrim_upstream_latency_seconds_count", NULL), 1);
    assert_int_equal(value_of(&sc, "scrim_config_reloads_total", "result", "ok", NULL), 1);
    assert_int_equal(value_of(&sc, "scrim_config_reloads_total", "result", "failed", NULL), 2);
    scrape_free(&sc);
}

static void test_gauges_counters(void **state)
{
    struct scrape sc;

    (void)state;
    metrics_gauge_set(METRICS_SPOOL_BYTES, 4096);
    metrics_gauge_add(METRICS_SPOOL_BYTES, -96);
    metrics_gauge_add(METRICS_CONNECTIONS, 3);
    metrics_gauge_add(METRICS_CONNECTIONS, -5);
    metrics_gauge_set(METRICS_CONFIG_GENERATION, 7);
    metrics_counter_add(METRICS_AUDIT_ENTRIES, 2);
    metrics_counter_add(METRICS_AUDIT_ENTRIES, 40);
    metrics_counter_add(METRICS_STORE_COMMITS, 1);
    scrape(&sc);
    assert_int_equal(value_of(&sc, "scrim_spool_bytes", NULL), 4096 - 96);
    assert_int_equal(value_of(&sc, "scrim_connections", NULL), 3 - 5);
    assert_int_equal(value_of(&sc, "scrim_config_generation", NULL), 7);
    assert_int_equal(value_of(&sc, "scrim_inflight_bytes", NULL), 0);
    assert_int_equal(value_of(&sc, "scrim_audit_entries_total", NULL), 42);
    assert_int_equal(value_of(&sc, "scrim_store_commits_total", NULL), 1);
    assert_int_equal(value_of(&sc, "scrim_store_records_total", NULL), 0);
    scrape_free(&sc);
}

/* A label value with every character the format escapes comes back intact
 * through the parser, and appears escaped in the raw text. */
static void test_label_escaping(void **state)
{
    static const char nasty[] = "a\\b\"c\nd";
    struct scrape sc;
    struct buf b;

    (void)state;
    metrics_rule_hit("acme", nasty, "mask", 5);
    buf_init(&b, 0);
    assert_int_equal(metrics_render(&b), 0);
    assert_non_null(strstr(b.data, "rule=\"a\\\\b\\\"c\\nd\""));
    scrape_parse(&sc, b.data);
    assert_int_equal(value_of(&sc, "scrim_rule_hits_total", "tenant", "acme", "rule", nasty,
                              "action", "mask", NULL),
                     5);
    scrape_free(&sc);
    buf_free(&b);
}

/* A label longer than METRICS_LABEL_MAX is cut, and never inside a UTF-8
 * sequence; two values equal up to the cut share a series. */
static void test_label_truncation(void **state)
{
    char longv[METRICS_LABEL_MAX + 16], other[METRICS_LABEL_MAX + 16];
    char want[METRICS_LABEL_MAX + 1];
    struct scrape sc;

    (void)state;
    /* "é" (2 bytes) straddles the cut: bytes MAX-1 and MAX. */
    memset(longv, 'x', sizeof(longv));
    longv[METRICS_LABEL_MAX - 1] = (char)0xc3;
    longv[METRICS_LABEL_MAX] = (char)0xa9;
    longv[sizeof(longv) - 1] = '\0';
    memcpy(other, longv, sizeof(other));
    other[METRICS_LABEL_MAX + 5] = 'y';
    memcpy(want, longv, METRICS_LABEL_MAX - 1);
    want[METRICS_LABEL_MAX - 1] = '\0';
    metrics_dropped(longv);
    metrics_dropped(other);
    scrape(&sc);
    assert_int_equal(value_of(&sc, "scrim_dropped_total", "reason", want, NULL), 2);
    assert_int_equal(count_samples(&sc, "scrim_dropped_total"), 1);
    scrape_free(&sc);
}

/* Cumulative buckets, computed here from the observations and the le
 * bounds the output declares. */
static void test_histogram(void **state)
{
    static const uint64_t obs_us[] = {0,       999,      1000,     1001,    2500,
                                      7000,    99999,    100000,   250001,  1000000,
                                      4999999, 10000000, 10000001, 60000000};
    size_t nobs = sizeof(obs_us) / sizeof(obs_us[0]), nbuckets = 0;
    uint64_t sum = 0, prev = 0;
    struct scrape sc;
    char want_sum[64];

    (void)state;
    for (size_t i = 0; i < nobs; i++) {
        metrics_upstream("accepted", obs_us[i]);
        sum += obs_us[i];
    }
    scrape(&sc);
    for (size_t i = 0; i < sc.n; i++) {
        const struct sample *s = &sc.s[i];
        uint64_t want = 0, got;

        if (strcmp(s->name, "scrim_upstream_latency_seconds_bucket") != 0)
            continue;
        assert_int_equal(s->nlabels, 1);
        assert_string_equal(s->key[0], "le");
        for (size_t j = 0; j < nobs; j++)
            if (strcmp(s->val[0], "+Inf") == 0 ||
                (double)obs_us[j] <= strtod(s->val[0], NULL) * 1e6 + 1e-6)
                want++;
        got = strtoull(s->value, NULL, 10);
        if (got != want)
            fail_msg("bucket le=%s: %" PRIu64 ", want %" PRIu64, s->val[0], got, want);
        assert_true(got >= prev);
        prev = got;
        nbuckets++;
    }
    assert_int_equal(nbuckets, 14);
    assert_int_equal(value_of(&sc, "scrim_upstream_latency_seconds_bucket", "le", "+Inf", NULL),
                     nobs);
    assert_int_equal(value_of(&sc, "scrim_upstream_latency_seconds_count", NULL), nobs);
    snprintf(want_sum, sizeof(want_sum), "%" PRIu64 ".%06" PRIu64, sum / 1000000, sum % 1000000);
    assert_string_equal(find(&sc, "scrim_upstream_latency_seconds_sum", NULL)->value, want_sum);
    assert_int_equal(value_of(&sc, "scrim_upstream_requests_total", "result", "accepted", NULL),
                     nobs);
    scrape_free(&sc);
}

#define THREADS    4
#define PER_THREAD 100000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_request("/v1/replay", "acme", 200, 3, 2);
        metrics_rule_hit("acme", "pii.email", "mask", 1);
        metrics_upstream("accepted", (uint64_t)(i % 20) * 1000);
        metrics_gauge_add(METRICS_INFLIGHT_BYTES, 1);
        metrics_counter_add(METRICS_STORE_RECORDS, 1);
    }
    return NULL;
}

struct scraper_arg {
    atomic_int stop;
    int failures; /* cmocka asserts only on the main thread */
};

static void *scraper(void *p)
{
    struct scraper_arg *arg = p;

    while (!atomic_load(&arg->stop)) {
        struct buf b;

        buf_init(&b, 0);
        arg->failures += metrics_render(&b) != 0;
        buf_free(&b);
    }
    return NULL;
}

/* 4 threads x 100k updates each, scraped meanwhile: totals are exact. */
static void test_concurrency(void **state)
{
    pthread_t t[THREADS], s;
    struct scraper_arg sa = {0, 0};
    struct scrape sc;
    const int64_t n = (int64_t)THREADS * PER_THREAD;

    (void)state;
    assert_int_equal(pthread_create(&s, NULL, scraper, &sa), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&sa.stop, 1);
    pthread_join(s, NULL);
    assert_int_equal(sa.failures, 0);
    scrape(&sc);
    assert_int_equal(value_of(&sc, "scrim_requests_total", "route", "/v1/replay", "tenant", "acme",
                              "status", "200", NULL),
                     n);
    assert_int_equal(value_of(&sc, "scrim_bytes_in_total", "route", "/v1/replay", NULL), 3 * n);
    assert_int_equal(value_of(&sc, "scrim_bytes_out_total", "route", "/v1/replay", NULL), 2 * n);
    assert_int_equal(value_of(&sc, "scrim_rule_hits_total", "tenant", "acme", "rule", "pii.email",
                              "action", "mask", NULL),
                     n);
    assert_int_equal(value_of(&sc, "scrim_upstream_latency_seconds_count", NULL), n);
    assert_int_equal(value_of(&sc, "scrim_inflight_bytes", NULL), n);
    assert_int_equal(value_of(&sc, "scrim_store_records_total", NULL), n);
    scrape_free(&sc);
}

/* Past METRICS_SERIES_MAX, new series are not created and each refused
 * update is counted; existing series keep counting. */
static void test_series_cap(void **state)
{
    char rule[32];
    struct scrape sc;
    const int extra = 5;

    (void)state;
    for (int i = 0; i < METRICS_SERIES_MAX + extra; i++) {
        snprintf(rule, sizeof(rule), "r%d", i);
        metrics_rule_hit("acme", rule, "mask", 1);
    }
    metrics_rule_hit("acme", "r0", "mask", 1);
    metrics_dropped("bad"); /* a new series too: refused */
    scrape(&sc);
    assert_int_equal(count_samples(&sc, "scrim_rule_hits_total"), METRICS_SERIES_MAX);
    assert_int_equal(value_of(&sc, "scrim_metrics_dropped_series_total", NULL), extra + 1);
    assert_int_equal(value_of(&sc, "scrim_rule_hits_total", "tenant", "acme", "rule", "r0",
                              "action", "mask", NULL),
                     2);
    snprintf(rule, sizeof(rule), "r%d", METRICS_SERIES_MAX);
    assert_null(
        find(&sc, "scrim_rule_hits_total", "tenant", "acme", "rule", rule, "action", "mask", NULL));
    assert_null(find(&sc, "scrim_dropped_total", "reason", "bad", NULL));
    scrape_free(&sc);
}

/* Same state, same bytes; series sorted by label values. */
static void test_render_stable(void **state)
{
    struct buf a, b;
    struct scrape sc;

    (void)state;
    metrics_dropped("upstream");
    metrics_dropped("bad");
    metrics_dropped("internal");
    buf_init(&a, 0);
    buf_init(&b, 0);
    assert_int_equal(metrics_render(&a), 0);
    assert_int_equal(metrics_render(&b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    scrape_parse(&sc, a.data);
    for (size_t i = 1; i < sc.n; i++)
        if (strcmp(sc.s[i].name, "scrim_dropped_total") == 0 &&
            strcmp(sc.s[i - 1].name, "scrim_dropped_total") == 0)
            assert_true(strcmp(sc.s[i - 1].val[0], sc.s[i].val[0]) < 0);
    scrape_free(&sc);
    buf_free(&a);
    buf_free(&b);
}

/* A buffer too small for the output: -1 and the buffer as it was. */
static void test_render_too_small(void **state)
{
    struct buf b;

    (void)state;
    metrics_init();
    buf_init(&b, 300);
    assert_int_equal(buf_puts(&b, "prefix\n"), 0);
    assert_int_equal(metrics_render(&b), -1);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.data, "prefix\n");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_families_present),
        CASE(test_requests),
        CASE(test_rules_drops_upstream_reloads),
        CASE(test_gauges_counters),
        CASE(test_label_escaping),
        CASE(test_label_truncation),
        CASE(test_histogram),
        CASE(test_concurrency),
        CASE(test_series_cap),
        CASE(test_render_stable),
        CASE(test_render_too_small),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
