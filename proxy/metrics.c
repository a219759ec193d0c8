#include "metrics.h"

#include "common/mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Labelled families. Their order here is their order in the output. */
enum family {
    FAM_REQUESTS,
    FAM_BYTES_IN,
    FAM_BYTES_OUT,
    FAM_RULE_HITS,
    FAM_DROPPED,
    FAM_UPSTREAM,
    FAM_RELOADS,
    FAM_COUNT
};

#define LABELS_MAX 3

struct labelled {
    const char *name;
    const char *help;
    unsigned nlabels;
    const char *keys[LABELS_MAX];
};

static const struct labelled labelled[FAM_COUNT] = {
    [FAM_REQUESTS] = {"scrim_requests_total",
                      "Requests answered, by route, tenant and HTTP status.",
                      3,
                      {"route", "tenant", "status"}},
    [FAM_BYTES_IN] = {"scrim_bytes_in_total",
                      "Request body bytes as received, by route.",
                      1,
                      {"route"}},
    [FAM_BYTES_OUT] = {"scrim_bytes_out_total",
                       "Masked bytes sent upstream, by route.",
                       1,
                       {"route"}},
    [FAM_RULE_HITS] = {"scrim_rule_hits_total",
                       "Values a policy rule acted on, by tenant, rule id and action.",
                       3,
                       {"tenant", "rule", "action"}},
    [FAM_DROPPED] = {"scrim_dropped_total", "Payloads dropped, by reason.", 1, {"reason"}},
    [FAM_UPSTREAM] = {"scrim_upstream_requests_total",
                      "Upstream deliveries, by result.",
                      1,
                      {"result"}},
    [FAM_RELOADS] = {"scrim_config_reloads_total", "Config reloads, by result.", 1, {"result"}},
};

/* One labelled series. Its label values are copied into text[] on creation
 * and live until metrics_shutdown. value is guarded by the shard's mutex. */
struct series {
    struct series *next;
    uint64_t value;
    uint32_t hash;
    unsigned char fam;
    unsigned short len[LABELS_MAX];
    const char *val[LABELS_MAX];
    char text[];
};

/* 16 shards x 1024 chains: at the series cap the chains average well under
 * one entry, and the buckets are static so no lookup ever allocates. */
#define NSHARDS       16
#define SHARD_BUCKETS 1024
#define MI            PTHREAD_MUTEX_INITIALIZER
static pthread_mutex_t shard_mu[NSHARDS] = {MI, MI, MI, MI, MI, MI, MI, MI,
                                            MI, MI, MI, MI, MI, MI, MI, MI};
#undef MI
static struct series *shard_bucket[NSHARDS][SHARD_BUCKETS];
static atomic_size_t nseries;
static atomic_uint_fast64_t dropped_series;

static atomic_uint_fast64_t counters[METRICS_COUNTER_COUNT];
static atomic_int_fast64_t gauges[METRICS_GAUGE_COUNT];

/* Upper bounds of scrim_upstream_latency_seconds, in microseconds so the
 * hot path compares integers; the last bucket is +Inf. */
#define NBUCKETS 14
static const uint64_t bucket_us[NBUCKETS - 1] = {1000,    2500,    5000,    10000,  25000,
                                                 50000,   100000,  250000,  500000, 1000000,
                                                 2500000, 5000000, 10000000};
static const char *const bucket_le[NBUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                                "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                                "2.5",   "5",      "10",    "+Inf"};
static atomic_uint_fast64_t hist_bucket[NBUCKETS]; /* not cumulative; summed at render */
static atomic_uint_fast64_t hist_sum_us;

static const char *const dropped_words[] = {
    "bad",          "too_big",    "limit",    "internal", "unauthorized", "not_found",
    "rate_limited", "spool_full", "upstream", "timeout",  "connections"};
static const char *const upstream_words[] = {"accepted", "failed", "spooled", "resent"};
static const char *const reload_words[] = {"ok", "failed"};

/* Bytes of s to keep as a label value: at most METRICS_LABEL_MAX, never
 * splitting a UTF-8 sequence (Prometheus requires valid UTF-8). */
static size_t label_len(const char *s)
{
    size_t n = strnlen(s, METRICS_LABEL_MAX + 1);

    if (n <= METRICS_LABEL_MAX)
        return n;
    n = METRICS_LABEL_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* FNV-1a over the family and the values. The values come from the config,
 * not from clients, so an unkeyed hash cannot be flooded. */
static uint32_t series_hash(unsigned fam, const char *const v[], const size_t len[], unsigned k)
{
    uint32_t h = 2166136261u ^ fam;

    h *= 16777619u;
    for (unsigned i = 0; i < k; i++) {
        for (size_t j = 0; j < len[i]; j++) {
            h ^= (unsigned char)v[i][j];
            h *= 16777619u;
        }
        h ^= 0xff; /* separator: ("ab","c") and ("a","bc") differ */
        h *= 16777619u;
    }
    return h;
}

static int series_match(const struct series *se, uint32_t h, unsigned fam, const char *const v[],
                        const size_t len[], unsigned k)
{
    if (se->hash != h || se->fam != fam)
        return 0;
    for (unsigned i = 0; i < k; i++)
        if (se->len[i] != len[i] || memcmp(se->val[i], v[i], len[i]) != 0)
            return 0;
    return 1;
}

/* A new series, or NULL when the cap is reached (counted). Caller holds the
 * shard lock. */
static struct series *series_create(uint32_t h, unsigned fam, const char *const v[],
                                    const size_t len[], unsigned k)
{
    size_t total = 0, off = 0;
    struct series *se;

    if (atomic_fetch_add(&nseries, 1) >= METRICS_SERIES_MAX) {
        atomic_fetch_sub(&nseries, 1);
        atomic_fetch_add_explicit(&dropped_series, 1, memory_order_relaxed);
        return NULL;
    }
    for (unsigned i = 0; i < k; i++)
        total += len[i] + 1;
    se = xcalloc(1, sizeof(*se) + total);
    if (se == NULL) {
        atomic_fetch_sub(&nseries, 1);
        return NULL;
    }
    se->hash = h;
    se->fam = (unsigned char)fam;
    for (unsigned i = 0; i < k; i++) {
        memcpy(se->text + off, v[i], len[i]);
        se->val[i] = se->text + off;
        se->len[i] = (unsigned short)len[i];
        off += len[i] + 1;
    }
    return se;
}

/* Add n to the series fam{v...}, creating it on first sight. */
static void series_add(enum family fam, const char *const in[], uint64_t n)
{
    unsigned k = labelled[fam].nlabels;
    const char *v[LABELS_MAX];
    size_t len[LABELS_MAX];
    uint32_t h;
    struct series **head, *se;
    pthread_mutex_t *mu;

    for (unsigned i = 0; i < k; i++) {
        v[i] = in[i] != NULL ? in[i] : "-";
        len[i] = label_len(v[i]);
    }
    h = series_hash(fam, v, len, k);
    mu = &shard_mu[h % NSHARDS];
    head = &shard_bucket[h % NSHARDS][(h / NSHARDS) % SHARD_BUCKETS];
    pthread_mutex_lock(mu);
    for (se = *head; se != NULL; se = se->next)
        if (series_match(se, h, fam, v, len, k))
            break;
    if (se == NULL && (se = series_create(h, fam, v, len, k)) != NULL) {
        se->next = *head;
        *head = se;
    }
    if (se != NULL)
        se->value += n;
    pthread_mutex_unlock(mu);
}

void metrics_init(void)
{
    for (size_t i = 0; i < sizeof(dropped_words) / sizeof(dropped_words[0]); i++)
        series_add(FAM_DROPPED, &dropped_words[i], 0);
    for (size_t i = 0; i < sizeof(upstream_words) / sizeof(upstream_words[0]); i++)
        series_add(FAM_UPSTREAM, &upstream_words[i], 0);
    for (size_t i = 0; i < sizeof(reload_words) / sizeof(reload_words[0]); i++)
        series_add(FAM_RELOADS, &reload_words[i], 0);
}

void metrics_shutdown(void)
{
    for (unsigned s = 0; s < NSHARDS; s++) {
        for (unsigned b = 0; b < SHARD_BUCKETS; b++) {
            struct series *se = shard_bucket[s][b], *next;

            for (; se != NULL; se = next) {
                next = se->next;
                xfree(se);
            }
            shard_bucket[s][b] = NULL;
        }
    }
    atomic_store(&nseries, 0);
}

void metrics_reset_for_tests(void)
{
    metrics_shutdown();
    atomic_store(&dropped_series, 0);
    for (unsigned i = 0; i < METRICS_COUNTER_COUNT; i++)
        atomic_store(&counters[i], 0);
    for (unsigned i = 0; i < METRICS_GAUGE_COUNT; i++)
        atomic_store(&gauges[i], 0);
    for (unsigned i = 0; i < NBUCKETS; i++)
        atomic_store(&hist_bucket[i], 0);
    atomic_store(&hist_sum_us, 0);
}

void metrics_request(const char *route, const char *tenant, unsigned status, uint64_t bytes_in,
                     uint64_t bytes_out)
{
    char code[16];
    const char *v[3] = {route, tenant, code};

    snprintf(code, sizeof(code), "%u", status);
    series_add(FAM_REQUESTS, v, 1);
    series_add(FAM_BYTES_IN, v, bytes_in);
    series_add(FAM_BYTES_OUT, v, bytes_out);
}

void metrics_rule_hit(const char *tenant, const char *rule, const char *action, uint64_t n)
{
    const char *v[3] = {tenant, rule, action};

    series_add(FAM_RULE_HITS, v, n);
}

void metrics_dropped(const char *reason)
{
    series_add(FAM_DROPPED, &reason, 1);
}

void metrics_upstream(const char *result, uint64_t latency_us)
{
    unsigned i = 0;

    series_add(FAM_UPSTREAM, &result, 1);
    if (latency_us == METRICS_NO_LATENCY)
        return;
    /* Prometheus buckets are upper-inclusive (le). */
    while (i < NBUCKETS - 1 && latency_us > bucket_us[i])
        i++;
    atomic_fetch_add_explicit(&hist_bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hist_sum_us, latency_us, memory_order_relaxed);
}

void metrics_config_reload(int ok)
{
    series_add(FAM_RELOADS, &reload_words[ok ? 0 : 1], 1);
}

void metrics_counter_add(enum metrics_counter c, uint64_t n)
{
    if ((unsigned)c < METRICS_COUNTER_COUNT)
        atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

void metrics_gauge_set(enum metrics_gauge g, int64_t v)
{
    if ((unsigned)g < METRICS_GAUGE_COUNT)
        atomic_store_explicit(&gauges[g], v, memory_order_relaxed);
}

void metrics_gauge_add(enum metrics_gauge g, int64_t delta)
{
    if ((unsigned)g < METRICS_GAUGE_COUNT)
        atomic_fetch_add_explicit(&gauges[g], delta, memory_order_relaxed);
}

/* ---- rendering ---- */

/* A series' value read under its shard lock; the labels need no lock, since
 * a series is only freed by metrics_shutdown. */
struct snap {
    const struct series *se;
    uint64_t value;
};

static size_t snap_take(struct snap *out, size_t max)
{
    size_t n = 0;

    for (unsigned s = 0; s < NSHARDS; s++) {
        pthread_mutex_lock(&shard_mu[s]);
        for (unsigned b = 0; b < SHARD_BUCKETS; b++)
            for (const struct series *se = shard_bucket[s][b]; se != NULL && n < max; se = se->next)
                out[n++] = (struct snap){se, se->value};
        pthread_mutex_unlock(&shard_mu[s]);
    }
    return n;
}

static int snap_cmp(const void *pa, const void *pb)
{
    const struct series *a = ((const struct snap *)pa)->se, *b = ((const struct snap *)pb)->se;

    if (a->fam != b->fam)
        return a->fam < b->fam ? -1 : 1;
    for (unsigned i = 0; i < labelled[a->fam].nlabels; i++) {
        int c = strcmp(a->val[i], b->val[i]);

        if (c != 0)
            return c;
    }
    return 0;
}

/* A label value escaped as the exposition format requires. */
static int put_label_value(struct buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        int r;

        if (*s == '\\')
            r = buf_puts(out, "\\\\");
        else if (*s == '"')
            r = buf_puts(out, "\\\"");
        else if (*s == '\n')
            r = buf_puts(out, "\\n");
        else
            r = buf_putc(out, *s);
        if (r != 0)
            return -1;
    }
    return 0;
}

static int put_header(struct buf *out, const char *name, const char *help, const char *type)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int put_series(struct buf *out, const struct snap *sn)
{
    const struct labelled *f = &labelled[sn->se->fam];

    if (buf_printf(out, "%s{", f->name) != 0)
        return -1;
    for (unsigned i = 0; i < f->nlabels; i++) {
        if (buf_printf(out, "%s%s=\"", i ? "," : "", f->keys[i]) != 0 ||
            put_label_value(out, sn->se->val[i]) != 0 || buf_putc(out, '"') != 0)
            return -1;
    }
    return buf_printf(out, "} %" PRIu64 "\n", sn->value);
}

/* One labelled family: its header, then its run of the sorted snapshot,
 * starting at *at. */
static int put_family(struct buf *out, enum family fam, const struct snap *sn, size_t n, size_t *at)
{
    if (put_header(out, labelled[fam].name, labelled[fam].help, "counter") != 0)
        return -1;
    for (; *at < n && sn[*at].se->fam == fam; (*at)++)
        if (put_series(out, &sn[*at]) != 0)
            return -1;
    return 0;
}

static int put_labelled(struct buf *out)
{
    size_t max = atomic_load(&nseries), n, at = 0;
    struct snap *sn = xcalloc(max ? max : 1, sizeof(*sn));
    int r = 0;

    if (sn == NULL)
        return -1;
    n = snap_take(sn, max);
    qsort(sn, n, sizeof(*sn), snap_cmp);
    for (unsigned f = 0; f < FAM_COUNT && r == 0; f++)
        r = put_family(out, (enum family)f, sn, n, &at);
    xfree(sn);
    return r;
}

static const struct {
    const char *name, *help;
} counter_desc[METRICS_COUNTER_COUNT] = {
    [METRICS_NODEMAP_EVICTIONS] = {"scrim_nodemap_evictions_total",
                                   "Node-map entries evicted to stay within the bounds."},
    [METRICS_AUDIT_ENTRIES] = {"scrim_audit_entries_total", "Audit log entries appended."},
    [METRICS_STORE_RECORDS] = {"scrim_store_records_total", "Context records sealed and stored."},
    [METRICS_STORE_COMMITS] = {"scrim_store_commits_total", "Group commits (fsync) of the store."},
};

static const struct {
    const char *name, *help;
} gauge_desc[METRICS_GAUGE_COUNT] = {
    [METRICS_SPOOL_BYTES] = {"scrim_spool_bytes", "Bytes waiting in the spool."},
    [METRICS_SPOOL_ITEMS] = {"scrim_spool_items", "Payloads waiting in the spool."},
    [METRICS_CONNECTIONS] = {"scrim_connections", "Open client connections."},
    [METRICS_INFLIGHT_BYTES] = {"scrim_inflight_bytes", "Request bytes held in memory."},
    [METRICS_NODEMAP_ENTRIES] = {"scrim_nodemap_entries", "Node-map entries in all sessions."},
    [METRICS_NODEMAP_SESSIONS] = {"scrim_nodemap_sessions", "Sessions with a node map."},
    [METRICS_CONFIG_GENERATION] = {"scrim_config_generation", "Generation of the live config."},
};

static int put_plain(struct buf *out)
{
    for (unsigned i = 0; i < METRICS_COUNTER_COUNT; i++)
        if (put_header(out, counter_desc[i].name, counter_desc[i].help, "counter") != 0 ||
            buf_printf(out, "%s %" PRIuFAST64 "\n", counter_desc[i].name,
                       atomic_load_explicit(&counters[i], memory_order_relaxed)) != 0)
            return -1;
    for (unsigned i = 0; i < METRICS_GAUGE_COUNT; i++)
        if (put_header(out, gauge_desc[i].name, gauge_desc[i].help, "gauge") != 0 ||
            buf_printf(out, "%s %" PRIdFAST64 "\n", gauge_desc[i].name,
                       atomic_load_explicit(&gauges[i], memory_order_relaxed)) != 0)
            return -1;
    if (put_header(out, "scrim_metrics_dropped_series_total",
                   "Updates not recorded because the series cap was reached.", "counter") != 0)
        return -1;
    return buf_printf(out, "scrim_metrics_dropped_series_total %" PRIuFAST64 "\n",
                      atomic_load_explicit(&dropped_series, memory_order_relaxed));
}

/* _count is the sum of the buckets read here, so it always equals the +Inf
 * bucket even while observations race with the scrape. */
static int put_histogram(struct buf *out)
{
    static const char name[] = "scrim_upstream_latency_seconds";
    uint64_t cum = 0, sum;

    if (put_header(out, name, "Time upstream took to answer a delivery.", "histogram") != 0)
        return -1;
    for (unsigned i = 0; i < NBUCKETS; i++) {
        cum += atomic_load_explicit(&hist_bucket[i], memory_order_relaxed);
        if (buf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, bucket_le[i], cum) != 0)
            return -1;
    }
    sum = atomic_load_explicit(&hist_sum_us, memory_order_relaxed);
    return buf_printf(out, "%s_sum %" PRIu64 ".%06" PRIu64 "\n%s_count %" PRIu64 "\n", name,
                      sum / 1000000, sum % 1000000, name, cum);
}

int metrics_render(struct buf *out)
{
    size_t mark = out->len;

    if (put_labelled(out) != 0 || put_histogram(out) != 0 || put_plain(out) != 0) {
        buf_wipe_from(out, mark);
        return -1;
    }
    return 0;
}
