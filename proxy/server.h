/*
 * server: scrim serve's edge (DESIGN.md "Operations").
 *
 * One worker thread per core, each with its own libevent base, its own
 * SO_REUSEPORT listener per configured address, its own upstream client
 * (libcurl multi on that base) and its own PII scanners, so a request never
 * crosses threads until its results must be made durable: then it goes to
 * the one durability thread (group commit of store, audit log and spool)
 * and comes back to its worker to be answered. Requests are parsed by
 * proxy/http (llhttp, strict), never by evhttp.
 *
 * Lifecycle: server_start binds everything and starts the threads;
 * server_reload swaps in a new configuration generation (routes, tenants,
 * policies, keys, limits that apply per request); server_drain stops
 * accepting, lets in-flight requests finish within limits.drain_timeout and
 * returns when every worker has stopped.
 */
#ifndef SCRIM_SERVER_H
#define SCRIM_SERVER_H

#include "common/err.h"
#include "proxy/gen.h"

struct server;

/* Bind the listeners of g (each worker its own SO_REUSEPORT socket), open
 * the store, audit log and spool, and start the threads. NULL with err:
 * nothing is left running. The server takes its own reference to g. */
struct server *server_start(struct gen *g, struct err *err);

/* Make g the generation new requests use; requests in flight finish under
 * theirs. Listener, storage, audit and spool settings are not reloadable:
 * a change to them is refused with err and nothing changes. */
int server_reload(struct server *s, struct gen *g, struct err *err);

/* Periodic work off the request path: checkpoints due by time, retention,
 * gauges. Called by the main thread about once a second. */
void server_tick(struct server *s);

/* Stop accepting, finish in-flight requests (at most drain_timeout), flush
 * the store and audit log, stop every thread. 0 when everything in flight
 * was answered and flushed. */
int server_drain(struct server *s);

void server_free(struct server *s);

#endif
