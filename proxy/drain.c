#include "drain.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/metrics.h"
#include "proxy/spool.h"
#include "proxy/upstream.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define DRAIN_BACKOFF_MIN_MS 100
#define DRAIN_BACKOFF_MAX_MS 5000

struct drain {
    struct spool *spool;
    struct upstream *up;
    struct event_base *base;
    struct event *wake, *retry;
    pthread_t thread;
    struct buf item_mem;
    struct spool_item item;
    char rid_header[64];
    const char *headers[2];
    int sending;
    unsigned backoff_ms;
};

static void drain_next(struct drain *d);

static void sent(void *arg, const struct upstream_result *r)
{
    struct drain *d = arg;
    struct err err = {0};

    d->sending = 0;
    if (r->cancelled) /* stopping: the item stays spooled */
        return;
    metrics_upstream(r->accepted ? "resent" : "failed", r->latency_us);
    if (!r->accepted) {
        struct timeval tv = {d->backoff_ms / 1000, (d->backoff_ms % 1000) * 1000};
        evtimer_add(d->retry, &tv);
        d->backoff_ms =
            d->backoff_ms * 2 > DRAIN_BACKOFF_MAX_MS ? DRAIN_BACKOFF_MAX_MS : d->backoff_ms * 2;
        return;
    }
    d->backoff_ms = DRAIN_BACKOFF_MIN_MS;
    if (spool_done(d->spool, d->item.seq, &err) != 0) {
        log_error("spool: %s", err.msg);
        return;
    }
    metrics_gauge_set(METRICS_SPOOL_ITEMS, (int64_t)spool_items(d->spool));
    metrics_gauge_set(METRICS_SPOOL_BYTES, (int64_t)spool_bytes(d->spool));
    drain_next(d);
}

static void drain_next(struct drain *d)
{
    struct upstream_request rq;
    struct err err = {0};
    int r;

    if (d->sending)
        return;
    buf_reset(&d->item_mem);
    r = spool_peek(d->spool, &d->item, &d->item_mem, &err);
    if (r < 0) {
        log_error("spool: %s", err.msg);
        return;
    }
    if (r == 0)
        return;
    snprintf(d->rid_header, sizeof(d->rid_header), "X-Scrim-Request-Id: %s", d->item.request_id);
    d->headers[0] = d->rid_header;
    d->headers[1] = NULL;
    rq = (struct upstream_request){d->item.url, d->item.content_type, d->headers, d->item.body,
                                   d->item.body_len};
    if (upstream_send(d->up, &rq, sent, d, &err) != 0) {
        log_error("spool: cannot re-send item %llu: %s", (unsigned long long)d->item.seq, err.msg);
        return;
    }
    d->sending = 1;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_next(arg);
}

static void *drain_main(void *arg)
{
    struct drain *d = arg;

    drain_next(d);
    event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

struct drain *drain_start(struct spool *sp, const struct upstream_options *o, struct err *err)
{
    struct drain *d = xcalloc(1, sizeof(*d));

    d->spool = sp;
    d->backoff_ms = DRAIN_BACKOFF_MIN_MS;
    buf_init(&d->item_mem, (size_t)1 << 31);
    d->base = event_base_new();
    if (d->base == NULL || (d->up = upstream_new(d->base, o, err)) == NULL)
        goto fail;
    d->wake = event_new(d->base, -1, 0, on_wake, d);
    d->retry = evtimer_new(d->base, on_wake, d);
    if (pthread_create(&d->thread, NULL, drain_main, d) != 0) {
        err_set(err, "cannot start the spool thread");
        goto fail;
    }
    return d;
fail:
    upstream_free(d->up);
    if (d->wake)
        event_free(d->wake);
    if (d->retry)
        event_free(d->retry);
    if (d->base)
        event_base_free(d->base);
    buf_free(&d->item_mem);
    xfree(d);
    return NULL;
}

void drain_wake(struct drain *d)
{
    event_active(d->wake, EV_READ, 0);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

void drain_stop(struct drain *d)
{
    if (d == NULL)
        return;
    event_base_once(d->base, -1, EV_TIMEOUT, on_stop, d->base, NULL);
    pthread_join(d->thread, NULL);
    upstream_free(d->up);
    event_free(d->wake);
    event_free(d->retry);
    event_base_free(d->base);
    buf_wipe(&d->item_mem);
    buf_free(&d->item_mem);
    xfree(d);
}
