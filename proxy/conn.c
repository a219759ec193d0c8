/*
 * conn: one client connection. Reads through proxy/http (llhttp, strict),
 * with absolute deadlines per phase (a slowloris client that trickles its
 * head is cut at header_timeout however often it sends a byte), no reads
 * while its request is being processed (pipelined requests wait their
 * turn), and closes after any framing error.
 */
#include "proxy/server_impl.h"

#include "common/log.h"
#include "common/mem.h"
#include "proxy/limit.h"
#include "proxy/metrics.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <string.h>

static void conn_read(struct bufferevent *bev, void *arg);

static void conn_deadline(struct conn *c, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(c->timer, &tv);
}

static const struct conf_limits *limits_of(struct conn *c)
{
    return &c->gen->conf->limits;
}

/* Each request runs under the generation current when it started. */
static void conn_refresh_gen(struct conn *c)
{
    struct gen *g = server_gen(c->w->srv);

    if (c->gen)
        gen_unref(c->gen);
    c->gen = g;
}

static void conn_enter(struct conn *c, enum conn_state st)
{
    const struct conf_limits *l = limits_of(c);

    c->state = st;
    switch (st) {
    case CONN_IDLE:
        conn_deadline(c, l->idle_timeout_ms);
        break;
    case CONN_HEAD:
        conn_deadline(c, l->header_timeout_ms);
        break;
    case CONN_BODY:
        conn_deadline(c, l->body_timeout_ms);
        break;
    default:
        evtimer_del(c->timer);
    }
}

void conn_close(struct conn *c)
{
    struct worker *w = c->w;

    if (c->job != NULL)
        c->job->conn = NULL; /* it finishes without us */
    if (c->charged) {
        limit_bytes_sub(w->srv->inflight, c->charged);
        metrics_gauge_add(METRICS_INFLIGHT_BYTES, -(int64_t)c->charged);
    }
    if (c->gen)
        gen_unref(c->gen);
    if (c->counted)
        limit_conn_release(w->srv->conns, (const struct sockaddr *)&c->peer);
    event_free(c->timer);
    bufferevent_free(c->bev);
    http_parser_free(c->hp);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    metrics_gauge_add(METRICS_CONNECTIONS, -1);
    xfree(c);
    worker_conn_gone(w);
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == CONN_HEAD || c->state == CONN_BODY) {
        metrics_dropped("timeout");
        c->close_after = 1;
        bufferevent_disable(c->bev, EV_READ);
        conn_respond(c, 408, "application/json", "{\"error\":\"timeout\"}\n", 20, NULL);
        return;
    }
    conn_close(c);
}

static void conn_written(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (c->state != CONN_WRITING)
        return;
    if (c->close_after || c->w->draining) {
        conn_close(c);
        return;
    }
    /* An idle keep-alive connection holds no parser memory. */
    http_parser_free(c->hp);
    c->hp = NULL;
    conn_enter(c, CONN_IDLE);
    bufferevent_enable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        conn_read(c->bev, c);
}

void conn_respond(struct conn *c, int status, const char *content_type, const char *body,
                  size_t len, const char *extra)
{
    struct buf head;
    const struct http_request *rq = http_parser_request(c->hp);
    int keep = !c->close_after && rq != NULL && rq->keep_alive && !c->w->draining;

    if (limit_bytes_stage(c->w->srv->inflight) >= LIMIT_STAGE_NO_KEEPALIVE)
        keep = 0;
    c->close_after = !keep;
    buf_init(&head, 4096);
    if (http_response_head(&head, status, content_type, len, keep, extra) != 0) {
        buf_free(&head);
        conn_close(c);
        return;
    }
    evtimer_del(c->timer);
    c->state = CONN_WRITING;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_write(c->bev, head.data, head.len);
    if (len)
        bufferevent_write(c->bev, body, len);
    buf_free(&head);
    /* The deadline also covers a client that does not read its answer. */
    conn_deadline(c, limits_of(c)->body_timeout_ms);
}

static void conn_head_done(struct conn *c)
{
    const struct http_request *rq = http_parser_request(c->hp);
    int st;

    if (c->admin) {
        conn_enter(c, CONN_BODY);
        return;
    }
    st = request_head(c, rq);
    if (st != 0) {
        c->close_after = 1; /* the body, if any, is not read */
        request_error(c, st, NULL);
        return;
    }
    if (rq->expect_continue)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    conn_enter(c, CONN_BODY);
}

static void conn_message_done(struct conn *c)
{
    const struct http_request *rq = http_parser_request(c->hp);

    conn_enter(c, CONN_BUSY);
    bufferevent_disable(c->bev, EV_READ);
    if (c->admin)
        admin_handle(c, rq);
    else
        request_run(c, rq);
}

/* Each request gets a parser with its generation's limits. */
static int conn_new_parser(struct conn *c)
{
    const struct conf_limits *l = &c->gen->conf->limits;
    struct http_limits hl = {l->header_max, l->header_fields, l->body_max};

    http_parser_free(c->hp);
    c->hp = http_parser_new(&hl);
    return c->hp ? 0 : -1;
}

/* Feed what has arrived; stop at each pause of the parser. */
static void conn_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY) {
        struct evbuffer_iovec v;
        size_t used = 0;
        enum http_result r;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            return;
        if (c->state == CONN_IDLE) {
            conn_refresh_gen(c);
            if (conn_new_parser(c) != 0) {
                conn_close(c);
                return;
            }
            conn_enter(c, CONN_HEAD);
        }
        r = http_parser_feed(c->hp, v.iov_base, v.iov_len, &used);
        evbuffer_drain(in, used);
        if (r == HTTP_MORE)
            continue;
        if (r == HTTP_HEADERS_DONE) {
            conn_head_done(c);
            /* A message without a body is complete with the head. */
            if (c->state != CONN_BODY || http_parser_feed(c->hp, NULL, 0, &used) != HTTP_DONE)
                continue;
            r = HTTP_DONE;
        }
        if (r == HTTP_DONE)
            conn_message_done(c);
        else {
            c->close_after = 1;
            request_error(c, http_status_of(r), NULL);
            return;
        }
    }
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_close(c);
}

void conn_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int socklen,
                 SSL_CTX *tls, int admin)
{
    struct conn *c;
    const struct conf_limits *l;

    /* Admin connections are not the clients' to exhaust. */
    if (!admin && !limit_conn_acquire(w->srv->conns, sa)) {
        metrics_dropped("connections");
        evutil_closesocket(fd);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    c->counted = !admin;
    c->w = w;
    c->gen = server_gen(w->srv);
    l = &c->gen->conf->limits;
    c->admin = admin;
    memcpy(&c->peer, sa, (size_t)socklen < sizeof(c->peer) ? (size_t)socklen : sizeof(c->peer));
    if (tls != NULL) {
        SSL *ssl = SSL_new(tls);
        c->bev = ssl ? bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
    } else
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        if (c->counted)
            limit_conn_release(w->srv->conns, sa);
        gen_unref(c->gen);
        xfree(c);
        return;
    }
    c->timer = evtimer_new(w->base, conn_timeout, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    metrics_gauge_add(METRICS_CONNECTIONS, 1);
    bufferevent_setcb(c->bev, conn_read, conn_written, conn_event, c);
    bufferevent_enable(c->bev, EV_READ);
    conn_enter(c, CONN_IDLE);
    /* A new connection's first request must start within header_timeout. */
    conn_deadline(c, l->header_timeout_ms);
}

/* Draining: connections with no request in progress go now. */
void conn_close_idle(struct worker *w)
{
    struct conn *c = w->conns, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE)
            conn_close(c);
    }
}
