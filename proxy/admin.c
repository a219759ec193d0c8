/*
 * admin: the admin listener's three endpoints (loopback by default):
 * /metrics (Prometheus text), /healthz (the process answers), /readyz
 * (it accepts requests: 503 while draining, so a load balancer stops
 * sending before the listeners close).
 */
#include "proxy/server_impl.h"

#include "proxy/metrics.h"

#include <string.h>

static int path_is(const struct http_request *rq, const char *p)
{
    return rq->path_len == strlen(p) && memcmp(rq->path, p, rq->path_len) == 0;
}

void admin_handle(struct conn *c, const struct http_request *rq)
{
    struct buf b;

    c->close_after = 1;
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
        conn_respond(c, 405, "text/plain", "method not allowed\n", 19, "Allow: GET, HEAD\r\n");
        return;
    }
    if (path_is(rq, "/healthz")) {
        conn_respond(c, 200, "text/plain", "ok\n", 3, NULL);
    } else if (path_is(rq, "/readyz")) {
        if (__atomic_load_n(&c->w->srv->draining, __ATOMIC_ACQUIRE))
            conn_respond(c, 503, "text/plain", "draining\n", 9, NULL);
        else
            conn_respond(c, 200, "text/plain", "ready\n", 6, NULL);
    } else if (path_is(rq, "/metrics")) {
        buf_init(&b, 64 << 20);
        if (metrics_render(&b) != 0)
            conn_respond(c, 500, "text/plain", "metrics too large\n", 18, NULL);
        else
            conn_respond(c, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, NULL);
        buf_free(&b);
    } else
        conn_respond(c, 404, "text/plain", "not found\n", 10, NULL);
}
