/*
 * session_impl: what session.c (the table, its budget, sessions) and
 * session_node.c (a session's node map) share. Nothing outside
 * rules/session*.c includes this.
 */
#ifndef SCRIM_SESSION_IMPL_H
#define SCRIM_SESSION_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "rules/session.h"

struct snode;

struct session {
    struct session_table *t;
    struct session *newer, *older; /* the LRU list */
    uint64_t hash;
    char *key; /* tenant, session and window, each length-prefixed */
    size_t klen;
    char label[64];
    uint64_t last_ms, idle_ms;
    int expired;
    struct snode *nodes;
    uint32_t ncap, nused, nlive, free_head; /* nused: high-water mark */
    uint32_t *index;                        /* node index + 1; 0: empty */
    size_t icap;
    char *pool;
    size_t pool_len, pool_cap, pool_live;
    struct journey_state *journey;
};

struct session_table {
    size_t session_entries, total_entries;
    uint64_t k0, k1;
    struct session **slots;
    size_t cap, n;
    struct session *newest, *oldest;
    char tenant[SESSION_TENANT_MAX + 1];
    size_t tn;
    char fallback[SESSION_ID_MAX + 1];
    size_t fn;
    int bound, has_fallback;
    size_t nodes_total, bytes_total;
    uint64_t evictions, expirations, overflows;
};

/* Evict least recently used sessions other than keep (NULL: any) until
 * nodes more nodes and bytes more bytes fit the table's budget. 0 when
 * they do, -1 when nothing is left to evict. */
int session_make_room(struct session_table *t, struct session *keep, size_t nodes,
                      size_t bytes) WUR;

#endif
