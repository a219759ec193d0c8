/*
 * limit: admission control for scrim serve (DESIGN.md invariant 7).
 *
 * Three independent, thread-safe primitives the listener and the workers
 * share:
 *
 * - limit_rate: a token bucket per tenant id. No clock is read inside: the
 *   caller hands in a monotonic time in milliseconds, so tests are exact.
 *   Tokens are kept in thousandths, so refill is integer arithmetic with no
 *   rounding drift: after t ms a tenant at r requests/s has gained exactly
 *   t * r thousandths of a token, capped at its burst.
 * - limit_conn: open connections in all and per client address. The per-
 *   address key is the IPv4 address, or the IPv6 /64 prefix: one host is
 *   usually handed a whole /64, so keying on the full v6 address would let it
 *   dodge the cap by rotating addresses. An IPv4-mapped IPv6 address
 *   (::ffff:a.b.c.d, from a dual-stack socket) counts as its IPv4 address.
 *   The table is open addressing, sized from max_total at creation, with a
 *   secret-keyed hash (SipHash) so clients cannot choose colliding
 *   addresses; acquire and release never allocate.
 * - limit_bytes: the global in-flight-bytes budget, with three stages as
 *   the level rises (LIMIT_*_PCT below): turn keep-alive off, then answer
 *   new requests 503 with Retry-After, then pause accepting connections.
 */
#ifndef SCRIM_LIMIT_H
#define SCRIM_LIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

/* ---- per-tenant rate ---- */

/* Tenants the rate limiter remembers at most. Buckets of tenants that left
 * the config stay (a reload must not refill anyone), until the table is full;
 * then buckets that are full again, which carry no state, are forgotten. */
#define LIMIT_RATE_TENANTS_MAX 65536

struct limit_rate;

/* An empty limiter. */
struct limit_rate *limit_rate_new(void);

/* NULL is a no-op. */
void limit_rate_free(struct limit_rate *lr);

/* Take one token from tenant's bucket at now_ms. Returns 1 when allowed
 * (retry_after_s, if not NULL, set to 0) and 0 when limited, with
 * *retry_after_s the whole seconds until a token is back (at least 1).
 * per_sec 0 means unlimited (always 1, no state kept). burst is the bucket
 * size; 0 means per_sec (as in the config). A tenant's first request finds a
 * full bucket. When per_sec or burst differ from the last call for that
 * tenant, the time since then is refilled at the old rate, and the new rate
 * and burst apply from now on (tokens above the new burst are cut). now_ms
 * must not go backwards; if it does, no time is taken to have passed. Also
 * 0 (limited, retry 1) when the table holds LIMIT_RATE_TENANTS_MAX tenants
 * whose buckets are all in use: failing closed beats unbounded memory. */
int limit_rate_take(struct limit_rate *lr, const char *tenant, unsigned per_sec, unsigned burst,
                    uint64_t now_ms, unsigned *retry_after_s);

/* ---- connections ---- */

struct limit_conn;

/* max_total: open connections in all (>= 1, else NULL). max_per_ip: per
 * address key (0: no per-address cap). */
struct limit_conn *limit_conn_new(unsigned max_total, unsigned max_per_ip);

/* NULL is a no-op. */
void limit_conn_free(struct limit_conn *lc);

/* Admit a connection from sa: 1 when admitted (the caller must later call
 * limit_conn_release with the same address exactly once), 0 when a cap is
 * reached. Addresses that are neither AF_INET nor AF_INET6 count only
 * against max_total. */
int limit_conn_acquire(struct limit_conn *lc, const struct sockaddr *sa);

/* The connection from sa admitted by limit_conn_acquire has closed. A
 * release that matches no acquire is ignored (counts never go negative). */
void limit_conn_release(struct limit_conn *lc, const struct sockaddr *sa);

/* New caps for a reloaded config. Connections already open stay open, even
 * above the new caps; new ones are refused until the counts drop below
 * them. -1 with err (old caps kept) when max_total is 0 or the larger table
 * cannot be allocated. */
int limit_conn_set_caps(struct limit_conn *lc, unsigned max_total, unsigned max_per_ip,
                        struct err *err) WUR;

/* Connections open now, in all / from sa's address key. */
unsigned limit_conn_count(struct limit_conn *lc);
unsigned limit_conn_count_ip(struct limit_conn *lc, const struct sockaddr *sa);

/* ---- in-flight bytes ---- */

/* Stage thresholds, in percent of the budget; a level at or above a
 * threshold is in that stage. */
#define LIMIT_NO_KEEPALIVE_PCT 50
#define LIMIT_REJECT_PCT       80
#define LIMIT_PAUSE_ACCEPT_PCT 100

enum limit_stage {
    LIMIT_STAGE_OK,           /* below 50% */
    LIMIT_STAGE_NO_KEEPALIVE, /* from 50%: answer with Connection: close */
    LIMIT_STAGE_REJECT,       /* from 80%: new requests get 503 + Retry-After */
    LIMIT_STAGE_PAUSE_ACCEPT, /* from 100%: stop accepting connections */
};

struct limit_bytes;

/* A budget of max bytes (>= 1, else NULL). */
struct limit_bytes *limit_bytes_new(size_t max);

/* NULL is a no-op. */
void limit_bytes_free(struct limit_bytes *lb);

/* Count n more bytes in flight and return the stage of the new level. An
 * add that would pass max counts nothing and returns
 * LIMIT_STAGE_PAUSE_ACCEPT, so the caller rejects that request. An add that
 * lands exactly on max is counted and returns LIMIT_STAGE_PAUSE_ACCEPT as
 * well; a caller that must know whether to release n later uses
 * limit_bytes_try_add. */
enum limit_stage limit_bytes_add(struct limit_bytes *lb, size_t n);

/* As limit_bytes_add, but says whether n was counted: 1 with *stage the new
 * level's stage, or 0 when n would pass max (nothing counted, *stage
 * LIMIT_STAGE_PAUSE_ACCEPT). */
int limit_bytes_try_add(struct limit_bytes *lb, size_t n, enum limit_stage *stage) WUR;

/* n bytes counted by an add are released; returns the stage after. More
 * than is counted releases down to 0. */
enum limit_stage limit_bytes_sub(struct limit_bytes *lb, size_t n);

/* The stage of the current level. */
enum limit_stage limit_bytes_stage(struct limit_bytes *lb);

/* Bytes counted now (for the scrim_inflight_bytes gauge). */
size_t limit_bytes_used(struct limit_bytes *lb);

/* A new budget for a reloaded config (>= 1; 0 is ignored). Bytes already
 * counted stay counted, so the level may start above 100%. */
void limit_bytes_set_max(struct limit_bytes *lb, size_t max);

#endif
