/*
 * drain: re-sends the spool to its upstreams, oldest first, one at a time
 * (so order is kept), on its own thread with its own libevent base and
 * upstream client. An item is marked done only after its upstream accepted
 * it; until then it is retried with backoff, and everything behind it
 * waits. While the spool holds anything, the workers spool new payloads
 * behind it instead of forwarding them, so nothing overtakes the queue.
 */
#ifndef SCRIM_DRAIN_H
#define SCRIM_DRAIN_H

#include "common/err.h"

struct drain;
struct spool;
struct upstream_options;

struct drain *drain_start(struct spool *sp, const struct upstream_options *o, struct err *err);

/* Items were spooled: look again (thread-safe). */
void drain_wake(struct drain *d);

/* Stop after the item being sent (if any) is answered or times out. */
void drain_stop(struct drain *d);

#endif
