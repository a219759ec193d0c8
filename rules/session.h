/*
 * session: the replay state that outlives one payload (docs/rrweb.md,
 * "Sessions").
 *
 * A replay SDK sends a session as a stream of batches: the full snapshot
 * that names every node comes in one request, the keystrokes and mutations
 * for those nodes in the next ones. A node map that lived for one payload
 * could only mask everything it had not seen (DESIGN.md invariant 3) and
 * judge adds without their ancestors. This table keeps, per session, what
 * the judgement of a later event needs: for each node id the policy's
 * decision, whether it is an input, whether it ever was a password, its
 * parent, and for elements their tag and short attribute values (the
 * selector's view of an ancestor). It also keeps the session's journey
 * state. It never keeps text, input values or the attribute values of
 * masked nodes.
 *
 * Keyed by (tenant, session id, window id): node ids are per recording
 * window, and a session id chosen by one tenant's client must never reach
 * another tenant's map. The tenant is bound by the caller before each
 * engine call (session_table_bind), since the engine does not know it.
 *
 * Bounded (invariant 7): at most session_entries nodes per session (more
 * are not kept, so later events for them are masked as unknown, and are
 * counted as overflows) and, over all sessions, total_entries nodes plus
 * one per session, and total_entries * SESSION_BYTES_PER_ENTRY bytes of
 * element data and journey state; past a total bound the least recently
 * used session is evicted whole. A session idle for longer than its idle
 * time (the policy's journey abandon_after, default 30 min) by the caller's
 * clock is expired. Storage comes from common/mem.h, never from a request
 * arena: nodes live in one array per session with a free list and an
 * open-addressing index (linear probing, backward-shift deletion, Knuth
 * TAOCP 6.4 Algorithm R), element data in one byte pool per session, so
 * a node costs no allocation beyond amortised growth. Hashes are keyed by
 * a per-table secret (SipHash-2-4 for session keys), so a client cannot
 * choose ids that collide.
 *
 * Pure: no I/O, no clock (time is handed in), and no locks: the caller
 * serialises every call on one table and the engine calls that use it (the
 * proxy keeps one table per shard behind a mutex, held from bind to the end
 * of engine_redact).
 */
#ifndef SCRIM_SESSION_H
#define SCRIM_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "rules/journey.h"
#include "rules/select.h"

#define SESSION_IDLE_DEFAULT_MS ((uint64_t)30 * 60 * 1000)
#define SESSION_ID_MAX          256 /* bytes of a session or window id */
#define SESSION_TENANT_MAX      128
/* Element bytes (tag and attributes) a node may use on average: the per
 * session and total byte caps are this times the entry caps. */
#define SESSION_BYTES_PER_ENTRY 128
/* Longest attribute value kept for the selector's view of an element
 * (long enough for utility-class lists); longer ones make it partial. */
#define SESSION_VALUE_MAX 512
/* What one journey state is charged against the byte cap. */
#define SESSION_JOURNEY_BYTES ((size_t)32 << 10)

/* Node flags. */
enum {
    SESSION_INPUT = 1,    /* input, textarea, select, option, contenteditable */
    SESSION_PASSWORD = 2, /* was a password input at some point: masked for good */
    SESSION_PARTIAL = 4,  /* its ancestors' view is incomplete (see session_node_elem) */
    SESSION_STYLE = 8,    /* a text node holding CSS */
};

/* What is kept of one node. decision is the caller's (rrweb's enum rr_decision). */
struct session_node {
    unsigned decision; /* 0-255 */
    unsigned flags;
    int has_parent;
    int64_t parent; /* valid when has_parent */
};

struct session_stats {
    size_t sessions;      /* live sessions */
    size_t entries;       /* node entries in all */
    size_t bytes;         /* element data and journey states */
    uint64_t evictions;   /* sessions evicted whole to stay under a total bound */
    uint64_t expirations; /* sessions dropped or reset after their idle time */
    uint64_t overflows;   /* nodes not kept: their session or the table was full */
};

struct session_table;
struct session;

/* A table of at most session_entries nodes per session and total_entries in
 * all (both >= 1; session_entries <= total_entries as conf checks). key
 * seeds the hashes (16 random bytes in the proxy; any in tests). */
struct session_table *session_table_new(size_t session_entries, size_t total_entries,
                                        const uint8_t key[16]);

/* Frees every session. NULL is a no-op. */
void session_table_free(struct session_table *t);

/*
 * The tenant of the engine calls that follow (required: session_get fails
 * without one) and the session id of payloads that name none (NULL: such
 * payloads get a map for themselves only; the proxy may pass a session
 * header, the offline CLI its --session). Both are copied. -1 when tenant
 * is empty or longer than SESSION_TENANT_MAX, or fallback longer than
 * SESSION_ID_MAX; the binding is then cleared.
 */
int session_table_bind(struct session_table *t, const char *tenant, size_t tn, const char *fallback,
                       size_t fn) WUR;

/* 1 when a tenant is bound. */
int session_table_bound(const struct session_table *t);

/* The bound fallback session id: 0 with *sid and *n set, -1 when none. */
int session_table_fallback(const struct session_table *t, const char **sid, size_t *n);

void session_table_stats(const struct session_table *t, struct session_stats *out);

/* Called for each session that expires by session_table_expire, before it
 * is freed: tenant and label (see session_set_label; "" when none) say
 * whose it was, st is its journey state or NULL, so the caller can record
 * an abandonment. */
typedef void (*session_expired_fn)(void *ctx, const char *tenant, const char *label,
                                   struct journey_state *st);

/* Free the sessions idle for longer than their idle time by now_ms, oldest
 * use first, stopping at the first that is not (sessions with a longer idle
 * time may hold back shorter ones until a total bound or a lookup catches
 * them). fn may be NULL. Returns how many were freed. */
size_t session_table_expire(struct session_table *t, uint64_t now_ms, session_expired_fn fn,
                            void *ctx);

/*
 * The session (sid, wid) of the bound tenant, made when it does not exist,
 * and marked as most recently used. idle_ms (0: SESSION_IDLE_DEFAULT_MS) is
 * its idle time from now on; now_ms 0 means no clock (no expiry by time).
 * A session found idle past its idle time loses its node map (a returning
 * session starts unknown) but keeps its journey, so the caller can record
 * the abandonment. wid may be NULL. NULL with err when no tenant is bound,
 * an id is empty or longer than SESSION_ID_MAX, or memory ran out (under
 * the fault-injection hook). The session stays valid until the next call
 * on the table other than the session_node_ and session_journey calls on
 * this same session.
 */
struct session *session_get(struct session_table *t, const char *sid, size_t sn, const char *wid,
                            size_t wn, uint64_t idle_ms, uint64_t now_ms, struct err *err);

/* 0 with *out filled when id is in the map, -1 when not. */
int session_node_get(const struct session *s, int64_t id, struct session_node *out);

/*
 * The element view of node id as it was recorded (tag and attributes, in
 * arena a; e->parent is left NULL for the caller to link). 1 when there is
 * one, 0 when the node is not an element or its element data was not kept
 * (then its flags say SESSION_PARTIAL), -1 when a's cap was reached.
 */
int session_node_elem(const struct session *s, int64_t id, struct arena *a, struct select_elem *e);

/*
 * Record node id as described now (a full snapshot or a mutation add),
 * under n->parent when n->has_parent. A node already there is replaced and
 * its old subtree dropped first (rrweb re-describes a moved node and its
 * children); a node that was ever a password keeps SESSION_PASSWORD, which
 * the caller must read first (session_node_get) to mask it. A parent that
 * is not in the map makes the node a root marked SESSION_PARTIAL. e (NULL
 * for non-elements) is kept as far as the byte caps allow; what is left
 * out makes the node SESSION_PARTIAL. Of the attributes, id, name, type
 * and class (what a node is, not what was typed) are always kept, the
 * others (up to SESSION_VALUE_MAX bytes) only when keep_values is set: the
 * caller sets it for allowed nodes, so a masked node's values never
 * persist (its view is then partial, which costs its descendants nothing:
 * they inherit its stricter decision anyway). Returns 0 when kept, 1 when
 * not (a cap was reached: counted as an overflow).
 */
int session_node_put(struct session *s, int64_t id, const struct session_node *n,
                     const struct select_elem *e, int keep_values);

/* Set a kept node's decision and add flags (an attribute mutation made it
 * stricter). No-op for an id not in the map. */
void session_node_update(struct session *s, int64_t id, unsigned decision, unsigned flags);

/* A mutation removed node id: drop it and its subtree. Nodes that were
 * ever passwords stay as bare markers, so a re-add of the same id is still
 * masked. */
void session_node_remove(struct session *s, int64_t id);

/* A full snapshot describes the whole document again: drop every node but
 * the password markers. */
void session_reset(struct session *s);

/* Nodes in the map. */
size_t session_nodes(const struct session *s);

/* The session's journey state, made on first use. NULL when it cannot be
 * kept within the byte cap (counted as an overflow) or memory ran out. */
struct journey_state *session_journey(struct session *s);

/* 1 once after session_get found the session idle past its idle time
 * (then cleared): the caller records the abandonment before new events. */
int session_take_expired(struct session *s);

/* A short label for session_table_expire's callback (the engine stores the
 * session's keyed pseudonym; never the raw id). Cut at 63 bytes. */
void session_set_label(struct session *s, const char *label);

#endif
