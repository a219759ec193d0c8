/*
 * metrics: the process-wide registry behind the admin listener's /metrics.
 *
 * Worker threads, the durability thread and the spool-drain thread record
 * into one registry; metrics_render writes it in the Prometheus text
 * exposition format 0.0.4 (# HELP, # TYPE, label values escaped: backslash,
 * double quote, newline).
 *
 * Why it is built this way:
 * - The hot path is typed helpers, not a stringly metrics_inc(name, labels):
 *   a caller cannot misspell a series name or a label key, and unlabelled
 *   counters, gauges and the latency histogram are plain relaxed atomics.
 * - Labelled series live in a hash table split into shards, each behind its
 *   own mutex, so workers touching different routes rarely contend. A series
 *   is created on first sight and its label values are copied then, so the
 *   strings may come from a config generation that is freed on reload.
 * - Invariant 4 (DESIGN.md): label values are only names from the config
 *   (route path, tenant id, rule id), status codes and fixed reason words.
 *   Callers never pass a value from a payload, a header or a URL the client
 *   chose. A NULL tenant or route (unknown, or not resolved yet) is labelled
 *   "-". Values longer than METRICS_LABEL_MAX bytes are cut (at a UTF-8
 *   boundary).
 * - Cardinality is bounded: at most METRICS_SERIES_MAX labelled series in
 *   all. An update that would need a new series past the cap is not recorded
 *   and counts one in scrim_metrics_dropped_series_total instead.
 *
 * Every function is safe to call from any thread at any time, also before
 * metrics_init (which only pre-creates the zero-valued series of the fixed
 * reason and result words, so a scrape shows them before they first happen).
 * metrics_shutdown and metrics_reset_for_tests are the exceptions: no other
 * thread may use the registry while they run.
 */
#ifndef SCRIM_METRICS_H
#define SCRIM_METRICS_H

#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Distinct labelled series the registry holds at most. */
#define METRICS_SERIES_MAX 10000
/* Longest label value kept, in bytes. */
#define METRICS_LABEL_MAX 128
/* metrics_upstream latency meaning "no exchange took place": the result is
 * counted but the histogram is not touched. */
#define METRICS_NO_LATENCY UINT64_MAX

/* Unlabelled counters (monotonic). */
enum metrics_counter {
    METRICS_NODEMAP_EVICTIONS, /* scrim_nodemap_evictions_total */
    METRICS_AUDIT_ENTRIES,     /* scrim_audit_entries_total */
    METRICS_STORE_RECORDS,     /* scrim_store_records_total */
    METRICS_STORE_COMMITS,     /* scrim_store_commits_total */
    METRICS_COUNTER_COUNT
};

/* Gauges (may go down). */
enum metrics_gauge {
    METRICS_SPOOL_BYTES,       /* scrim_spool_bytes */
    METRICS_SPOOL_ITEMS,       /* scrim_spool_items */
    METRICS_CONNECTIONS,       /* scrim_connections */
    METRICS_INFLIGHT_BYTES,    /* scrim_inflight_bytes */
    METRICS_NODEMAP_ENTRIES,   /* scrim_nodemap_entries */
    METRICS_NODEMAP_SESSIONS,  /* scrim_nodemap_sessions */
    METRICS_CONFIG_GENERATION, /* scrim_config_generation */
    METRICS_GAUGE_COUNT
};

/* Pre-create the zero-valued series of the fixed words: scrim_dropped_total
 * for bad, too_big, limit, internal, unauthorized, not_found, rate_limited,
 * spool_full, upstream, timeout, connections; scrim_upstream_requests_total for accepted, failed,
 * spooled, resent; scrim_config_reloads_total for ok, failed. Idempotent. */
void metrics_init(void);

/* Free every series. At exit, after the threads that record have stopped. */
void metrics_shutdown(void);

/* metrics_shutdown, then every counter, gauge and histogram back to zero.
 * Tests only; nothing else may touch the registry meanwhile. */
void metrics_reset_for_tests(void);

/* One request answered: scrim_requests_total{route,tenant,status} += 1,
 * scrim_bytes_in_total{route} += bytes_in (the body as received),
 * scrim_bytes_out_total{route} += bytes_out (masked bytes sent upstream).
 * route is the route's path as written in the config; NULL or tenant NULL:
 * "-". */
void metrics_request(const char *route, const char *tenant, unsigned status, uint64_t bytes_in,
                     uint64_t bytes_out);

/* scrim_rule_hits_total{tenant,rule,action} += n. rule is the policy's rule
 * id, action its action word (mask, redact, hash, drop, block, ...). */
void metrics_rule_hit(const char *tenant, const char *rule, const char *action, uint64_t n);

/* scrim_dropped_total{reason} += 1. reason is a fixed word (see
 * metrics_init), never text derived from the request. */
void metrics_dropped(const char *reason);

/* scrim_upstream_requests_total{result} += 1 (accepted, failed, spooled,
 * resent), and latency_us observed in scrim_upstream_latency_seconds unless
 * it is METRICS_NO_LATENCY. */
void metrics_upstream(const char *result, uint64_t latency_us);

/* scrim_config_reloads_total{result="ok"} or {result="failed"} += 1. */
void metrics_config_reload(int ok);

void metrics_counter_add(enum metrics_counter c, uint64_t n);
void metrics_gauge_set(enum metrics_gauge g, int64_t v);
void metrics_gauge_add(enum metrics_gauge g, int64_t delta);

/* Append the whole registry to out in the text exposition format 0.0.4,
 * families in a fixed order and series sorted by their label values, so two
 * renders of the same state are byte-identical. -1 when out reached its
 * maximum; out is then left as it was before the call. */
int metrics_render(struct buf *out) WUR;

#endif
