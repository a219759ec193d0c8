/*
 * test_upstream: the libcurl-on-libevent upstream client (proxy/upstream.h)
 * against a real HTTP server on loopback.
 *
 * The server is libevent's evhttp on its own event_base in a second thread
 * (plain, or TLS with a certificate made here and trusted through ca_file).
 * It records every request's header list and body, counts the TCP
 * connections it accepted, and answers by path: /ok 200, /status/N N,
 * /flaky 500 to the first fail_first requests then 200, /retry-after/N
 * 429 with Retry-After: N the first time then 200, /hang never; any other
 * path (a proxied absolute URI too) 200.
 * Every case checks through mem_live() that it left nothing behind; run
 * under ASan, a curl handle or libevent event left behind fails too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/mem.h"
#include "leak.h"
#include "proxy/upstream.h"

#define VERSION  "1.2.3-test"
#define MAXHDR   32
#define MAXHUNG  64
#define WAIT_MS  30000
#define NCONCUR  200
#define MAXCONNS 4
/* libevent's timers run on CLOCK_MONOTONIC_COARSE: one may fire a tick
 * (up to 4 ms) before a precise clock says it is due. */
#define TIMER_SLACK_US 10000

/* ---- the test server ---- */

struct srv {
    pthread_t th;
    struct event_base *base;
    struct evhttp *http;
    SSL_CTX *tls;
    int port;
    pthread_mutex_t mu;
    unsigned conns, requests, fail_first, flaky_seen;
    /* the last request */
    char names[MAXHDR][64], values[MAXHDR][256];
    size_t nhdr;
    unsigned char *body;
    size_t body_len;
    char alpn[128]; /* what a TLS client offered, "h2,http/1.1" */
    struct evhttp_request *hung[MAXHUNG];
    size_t nhung;
};

static void srv_record(struct srv *s, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evkeyval *kv;

    s->nhdr = 0;
    for (kv = h->tqh_first; kv && s->nhdr < MAXHDR; kv = kv->next.tqe_next, s->nhdr++) {
        snprintf(s->names[s->nhdr], sizeof s->names[0], "%s", kv->key);
        snprintf(s->values[s->nhdr], sizeof s->values[0], "%s", kv->value);
    }
    free(s->body);
    s->body_len = evbuffer_get_length(in);
    s->body = malloc(s->body_len + 1);
    evbuffer_copyout(in, s->body, s->body_len);
}

static void srv_reply(struct evhttp_request *req, int code)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add_printf(b, "{\"status\":%d}", code);
    evhttp_send_reply(req, code, "test", b);
    evbuffer_free(b);
}

static void srv_request(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    const char *path = evhttp_request_get_uri(req);
    int code = 200;

    pthread_mutex_lock(&s->mu);
    s->requests++;
    srv_record(s, req);
    if (strcmp(path, "/flaky") == 0)
        code = s->flaky_seen++ < s->fail_first ? 500 : 200;
    else if (strncmp(path, "/status/", 8) == 0)
        code = (int)strtol(path + 8, NULL, 10);
    else if (strncmp(path, "/retry-after/", 13) == 0 && s->flaky_seen++ == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", path + 13);
        code = 429;
    } else if (strcmp(path, "/hang") == 0 && s->nhung < MAXHUNG) {
        s->hung[s->nhung++] = req;
        code = 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (code != 0)
        srv_reply(req, code);
}

/* Called once per accepted TCP connection: that is what it counts. */
static struct bufferevent *srv_new_conn(struct event_base *base, void *arg)
{
    struct srv *s = arg;

    pthread_mutex_lock(&s->mu);
    s->conns++;
    pthread_mutex_unlock(&s->mu);
    if (s->tls)
        return bufferevent_openssl_socket_new(base, -1, SSL_new(s->tls), BUFFEREVENT_SSL_ACCEPTING,
                                              BEV_OPT_CLOSE_ON_FREE);
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;

    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* An evhttp request the handler kept is freed only by answering it. */
    for (size_t i = 0; i < s->nhung; i++)
        srv_reply(s->hung[i], 503);
    evhttp_free(s->http);
    event_base_free(s->base);
    return NULL;
}

static void srv_start(struct srv *s, SSL_CTX *tls)
{
    struct evhttp_bound_socket *bound;
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;

    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->tls = tls;
    assert_non_null(s->base = event_base_new());
    assert_non_null(s->http = evhttp_new(s->base));
    evhttp_set_gencb(s->http, srv_request, s);
    evhttp_set_bevcb(s->http, srv_new_conn, s);
    assert_non_null(bound = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0));
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &len),
                     0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
    event_base_loopexit(s->base, NULL);
    pthread_join(s->th, NULL);
    free(s->body);
    pthread_mutex_destroy(&s->mu);
}

static unsigned srv_count(struct srv *s, const unsigned *field)
{
    unsigned v;

    pthread_mutex_lock(&s->mu);
    v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* The value of the last request's header name, or NULL. */
static const char *srv_header(struct srv *s, const char *name)
{
    for (size_t i = 0; i < s->nhdr; i++)
        if (strcasecmp(s->names[i], name) == 0)
            return s->values[i];
    return NULL;
}

static void url_of(char *out, size_t cap, const char *scheme, const char *host, int port,
                   const char *path)
{
    snprintf(out, cap, "%s://%s:%d%s", scheme, host, port, path);
}

/* ---- the client side ---- */

struct outcome {
    unsigned *finished;
    int calls;
    struct upstream_result r;
    char error[128];
};

static void on_done(void *arg, const struct upstream_result *r)
{
    struct outcome *o = arg;

    o->calls++;
    o->r = *r;
    snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
    o->r.error = r->error ? o->error : NULL;
    (*o->finished)++;
}

struct waiter {
    struct event_base *base;
    int (*cond)(void *);
    void *arg;
    int met;
};

static void wait_tick(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *w = arg;

    (void)fd;
    (void)what;
    if (w->cond(w->arg)) {
        w->met = 1;
        event_base_loopbreak(w->base);
    }
}

static void wait_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *w = arg;

    (void)fd;
    (void)what;
    event_base_loopbreak(w->base);
}

/* Run base until cond(arg) holds (checked every 2 ms) or ms pass. Both
 * timers are gone when it returns, so the base holds only upstream's. */
static int wait_for(struct event_base *base, int (*cond)(void *), void *arg, unsigned ms)
{
    struct waiter w = {base, cond, arg, 0};
    struct timeval tick = {0, 2000}, limit = {ms / 1000, (ms % 1000) * 1000};
    struct event *t = event_new(base, -1, EV_PERSIST, wait_tick, &w);
    struct event *d = evtimer_new(base, wait_deadline, &w);

    event_add(t, &tick);
    evtimer_add(d, &limit);
    event_base_dispatch(base);
    event_free(t);
    event_free(d);
    return w.met;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

struct count_goal {
    const unsigned *n;
    unsigned want;
    pthread_mutex_t *mu; /* when n is the server's */
};

static int count_reached(void *arg)
{
    struct count_goal *g = arg;
    unsigned v;

    if (g->mu)
        pthread_mutex_lock(g->mu);
    v = *g->n;
    if (g->mu)
        pthread_mutex_unlock(g->mu);
    return v >= g->want;
}

static void wait_finished(struct event_base *base, const unsigned *finished, unsigned want)
{
    struct count_goal g = {finished, want, NULL};

    if (!wait_for(base, count_reached, &g, WAIT_MS))
        fail_msg("only %u of %u requests finished", *finished, want);
}

static void wait_server(struct event_base *base, struct srv *s, unsigned requests)
{
    struct count_goal g = {&s->requests, requests, &s->mu};

    if (!wait_for(base, count_reached, &g, WAIT_MS))
        fail_msg("the server saw %u of %u requests", srv_count(s, &s->requests), requests);
}

static void test_options(struct upstream_options *o)
{
    upstream_options_init(o);
    o->version = VERSION;
    o->connect_timeout_ms = 2000;
    o->timeout_ms = 5000;
    o->retries = 2;
    o->backoff_ms = 20;
    o->backoff_max_ms = 200;
    o->max_host_connections = MAXCONNS;
}

static struct upstream *client(struct event_base *base, const struct upstream_options *o)
{
    struct err e;
    struct upstream *u;

    err_clear(&e);
    if ((u = upstream_new(base, o, &e)) == NULL)
        fail_msg("upstream_new: %s", e.msg);
    return u;
}

static void send_one(struct upstream *u, const struct upstream_request *rq, struct outcome *o)
{
    struct err e;

    err_clear(&e);
    if (upstream_send(u, rq, on_done, o, &e) != 0)
        fail_msg("upstream_send: %s", e.msg);
}

/* One request to path on a fresh client; the outcome is in *o. */
static void post_path(struct srv *s, const struct upstream_options *opt, const char *path,
                      struct outcome *o)
{
    struct event_base *base = event_base_new();
    struct upstream *u = client(base, opt);
    unsigned finished = 0;
    char url[256];
    struct upstream_request rq = {url, NULL, NULL, "{}", 2};

    url_of(url, sizeof url, "http", "127.0.0.1", s->port, path);
    memset(o, 0, sizeof *o);
    o->finished = &finished;
    send_one(u, &rq, o);
    assert_int_equal(upstream_inflight(u), 1);
    wait_finished(base, &finished, 1);
    assert_int_equal(o->calls, 1);
    assert_int_equal(upstream_inflight(u), 0);
    upstream_free(u);
    event_base_free(base);
}

/* ---- cases ---- */

/* The body arrives byte for byte and the header list is exactly the
 * caller's allowlisted lines plus scrim's framing: no Cookie, Expect,
 * Accept or anything else of curl's. */
static void test_body_and_headers_exact(void **state)
{
    static const char *const headers[] = {"Authorization: Bearer phc_testtoken",
                                          "X-Scrim-Tenant: acme", NULL};
    static const char *const expect_names[] = {"host",           "user-agent",    "content-type",
                                               "content-length", "authorization", "x-scrim-tenant"};
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct upstream *u;
    struct outcome o = {0};
    unsigned finished = 0;
    size_t n = 300 * 1024;
    unsigned char *body = malloc(n);
    char url[256], want[64];
    struct srv s;

    (void)state;
    /* Bytes of every value, NULs included, and a masked card in JSON. */
    for (size_t i = 0; i < n; i++)
        body[i] = (unsigned char)(i * 31 + 7);
    memcpy(body, "{\"card\":\"**** **** **** 1111\"}", 30);
    srv_start(&s, NULL);
    test_options(&opt);
    u = client(base, &opt);
    url_of(url, sizeof url, "http", "127.0.0.1", s.port, "/ok");
    struct upstream_request rq = {url, "application/x-scrim-test", headers, body, n};
    o.finished = &finished;
    send_one(u, &rq, &o);
    wait_finished(base, &finished, 1);
    assert_true(o.r.accepted);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.attempts, 1);
    assert_null(o.r.error);
    assert_false(o.r.cancelled);
    assert_true(o.r.latency_us > 0);

    pthread_mutex_lock(&s.mu);
    assert_int_equal(s.body_len, n);
    assert_memory_equal(s.body, body, n);
    for (size_t i = 0; i < s.nhdr; i++) {
        size_t k = 0;
        while (k < sizeof expect_names / sizeof expect_names[0] &&
               strcasecmp(s.names[i], expect_names[k]) != 0)
            k++;
        if (k == sizeof expect_names / sizeof expect_names[0])
            fail_msg("unexpected header %s sent upstream", s.names[i]);
    }
    assert_int_equal(s.nhdr, sizeof expect_names / sizeof expect_names[0]);
    assert_string_equal(srv_header(&s, "User-Agent"), "scrim/" VERSION);
    assert_string_equal(srv_header(&s, "Content-Type"), "application/x-scrim-test");
    assert_string_equal(srv_header(&s, "Authorization"), "Bearer phc_testtoken");
    assert_string_equal(srv_header(&s, "X-Scrim-Tenant"), "acme");
    snprintf(want, sizeof want, "%zu", n);
    assert_string_equal(srv_header(&s, "Content-Length"), want);
    snprintf(want, sizeof want, "127.0.0.1:%d", s.port);
    assert_string_equal(srv_header(&s, "Host"), want);
    pthread_mutex_unlock(&s.mu);

    upstream_free(u);
    event_base_free(base);
    srv_stop(&s);
    free(body);
}

/* Any 2xx is accepted; with no content type the body goes as JSON. */
static void test_2xx_accepted(void **state)
{
    static const int codes[] = {200, 201, 202, 204};
    struct upstream_options opt;
    struct outcome o;
    struct srv s;
    char path[32];

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        snprintf(path, sizeof path, "/status/%d", codes[i]);
        post_path(&s, &opt, path, &o);
        assert_true(o.r.accepted);
        assert_int_equal(o.r.status, codes[i]);
        assert_int_equal(o.r.attempts, 1);
        assert_string_equal(srv_header(&s, "Content-Type"), "application/json");
    }
    srv_stop(&s);
}

/* A 500 then a 200: accepted on the second attempt, after the backoff. */
static void test_500_then_200_retried(void **state)
{
    struct upstream_options opt;
    struct outcome o;
    struct srv s;

    (void)state;
    srv_start(&s, NULL);
    s.fail_first = 1;
    test_options(&opt);
    opt.backoff_ms = 50;
    post_path(&s, &opt, "/flaky", &o);
    assert_true(o.r.accepted);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.attempts, 2);
    assert_int_equal(srv_count(&s, &s.requests), 2);
    /* The retry waited for its evtimer; it cannot have come sooner. */
    assert_true(o.r.latency_us + TIMER_SLACK_US >= (uint64_t)opt.backoff_ms * 1000);
    srv_stop(&s);
}

/* 5xx, 408 and 429 are retried until retries run out; the last status is
 * the one reported. */
static void test_retryable_statuses_exhaust(void **state)
{
    static const int codes[] = {500, 502, 503, 408, 429};
    struct upstream_options opt;
    struct outcome o;
    struct srv s;
    char path[32], text[32];

    (void)state;
    test_options(&opt);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        srv_start(&s, NULL);
        snprintf(path, sizeof path, "/status/%d", codes[i]);
        post_path(&s, &opt, path, &o);
        assert_false(o.r.accepted);
        assert_int_equal(o.r.status, codes[i]);
        assert_int_equal(o.r.attempts, opt.retries + 1);
        assert_int_equal(srv_count(&s, &s.requests), opt.retries + 1);
        snprintf(text, sizeof text, "HTTP %d", codes[i]);
        assert_string_equal(o.r.error, text);
        srv_stop(&s);
    }
}

/* A Retry-After longer than the backoff is waited for, within the cap. */
static void test_retry_after(void **state)
{
    struct upstream_options opt;
    struct outcome o;
    struct srv s;

    (void)state;
    test_options(&opt);
    opt.backoff_max_ms = 5000;
    srv_start(&s, NULL);
    post_path(&s, &opt, "/retry-after/1", &o);
    assert_true(o.r.accepted);
    assert_int_equal(o.r.attempts, 2);
    assert_true(o.r.latency_us + TIMER_SLACK_US >= 1000000);
    srv_stop(&s);

    /* An hour is cut to backoff_max_ms (wait_finished gives up long before
     * an hour). */
    opt.backoff_max_ms = 100;
    srv_start(&s, NULL);
    post_path(&s, &opt, "/retry-after/3600", &o);
    assert_true(o.r.accepted);
    assert_int_equal(o.r.attempts, 2);
    assert_true(o.r.latency_us + TIMER_SLACK_US >= 100000);
    srv_stop(&s);
}

/* Other 4xx (and 3xx, never followed) are final after one attempt. */
static void test_final_statuses_not_retried(void **state)
{
    static const int codes[] = {400, 401, 403, 404, 413, 302};
    struct upstream_options opt;
    struct outcome o;
    struct srv s;
    char path[32];

    (void)state;
    test_options(&opt);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        srv_start(&s, NULL);
        snprintf(path, sizeof path, "/status/%d", codes[i]);
        post_path(&s, &opt, path, &o);
        assert_false(o.r.accepted);
        assert_int_equal(o.r.status, codes[i]);
        assert_int_equal(o.r.attempts, 1);
        assert_int_equal(srv_count(&s, &s.requests), 1);
        srv_stop(&s);
    }
}

/* A bound socket that does not listen answers every SYN with a reset. */
static int refusing_port(int *fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static void test_connection_refused(void **state)
{
    struct upstream_options opt;
    struct outcome o;
    struct srv fake;
    int fd;

    (void)state;
    test_options(&opt);
    memset(&fake, 0, sizeof fake);
    fake.port = refusing_port(&fd);
    post_path(&fake, &opt, "/ok", &o);
    assert_false(o.r.accepted);
    assert_int_equal(o.r.status, 0);
    assert_int_equal(o.r.attempts, opt.retries + 1);
    assert_string_equal(o.r.error, curl_easy_strerror(CURLE_COULDNT_CONNECT));
    close(fd);
}

/* A server that takes the request and never answers: each attempt ends at
 * timeout_ms, and the timeout is retried. */
static void test_silent_server_times_out(void **state)
{
    struct upstream_options opt;
    struct outcome o;
    struct srv s;

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    opt.timeout_ms = 200;
    opt.retries = 1;
    post_path(&s, &opt, "/hang", &o);
    assert_false(o.r.accepted);
    assert_int_equal(o.r.status, 0);
    assert_int_equal(o.r.attempts, 2);
    assert_string_equal(o.r.error, curl_easy_strerror(CURLE_OPERATION_TIMEDOUT));
    assert_true(o.r.latency_us + TIMER_SLACK_US >= 2u * opt.timeout_ms * 1000);
    assert_int_equal(srv_count(&s, &s.requests), 2);
    srv_stop(&s);
}

/* Two waves of NCONCUR requests all complete over at most MAXCONNS kept-
 * alive connections: the second wave opens none beyond them. */
static void test_concurrent_keepalive(void **state)
{
    struct event_base *base = event_base_new();
    struct outcome *o = calloc(NCONCUR, sizeof *o);
    struct upstream_options opt;
    struct upstream *u;
    unsigned finished = 0;
    char url[256];
    struct srv s;

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    u = client(base, &opt);
    url_of(url, sizeof url, "http", "127.0.0.1", s.port, "/ok");
    struct upstream_request rq = {url, NULL, NULL, "{\"n\":1}", 7};
    for (int wave = 1; wave <= 2; wave++) {
        for (size_t i = 0; i < NCONCUR; i++) {
            memset(&o[i], 0, sizeof o[i]);
            o[i].finished = &finished;
            send_one(u, &rq, &o[i]);
        }
        assert_int_equal(upstream_inflight(u), NCONCUR);
        wait_finished(base, &finished, (unsigned)wave * NCONCUR);
        for (size_t i = 0; i < NCONCUR; i++) {
            assert_int_equal(o[i].calls, 1);
            assert_true(o[i].r.accepted);
        }
    }
    assert_int_equal(upstream_inflight(u), 0);
    assert_int_equal(srv_count(&s, &s.requests), 2 * NCONCUR);
    unsigned conns = srv_count(&s, &s.conns);
    if (conns < 1 || conns > MAXCONNS)
        fail_msg("%u connections for %d requests, want 1..%d", conns, 2 * NCONCUR, MAXCONNS);
    upstream_free(u);
    event_base_free(base);
    srv_stop(&s);
    free(o);
}

/* A proxy in the environment is ignored (it refuses every connection
 * here); options.proxy is used (the test server plays the proxy and gets
 * the absolute URI of a host that does not exist). */
static void test_proxy_only_from_options(void **state)
{
    static const char *const vars[] = {"http_proxy", "https_proxy", "all_proxy", "ALL_PROXY"};
    struct upstream_options opt;
    struct outcome o;
    struct srv s;
    char proxy[64];
    int fd;

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", refusing_port(&fd));
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        setenv(vars[i], proxy, 1);
    post_path(&s, &opt, "/ok", &o);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    assert_true(o.r.accepted);
    close(fd);

    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", s.port);
    opt.proxy = proxy;
    opt.retries = 0;
    struct event_base *base = event_base_new();
    struct upstream *u = client(base, &opt);
    unsigned finished = 0;
    struct upstream_request rq = {"http://upstream.invalid/v1/replay", NULL, NULL, "{}", 2};
    memset(&o, 0, sizeof o);
    o.finished = &finished;
    send_one(u, &rq, &o);
    wait_finished(base, &finished, 1);
    if (!o.r.accepted)
        fail_msg("not sent through options.proxy: %s", o.error);
    assert_int_equal(srv_count(&s, &s.requests), 2);
    upstream_free(u);
    event_base_free(base);
    srv_stop(&s);
}

/* Hop-by-hop, framing and malformed header lines are refused at
 * upstream_send; the error names no value; nothing is sent. */
static void test_forbidden_headers_refused(void **state)
{
    static const char *const bad[] = {
        "Cookie: session=078-05-1120",
        "cOOKIE: session=078-05-1120",
        "Host: evil.example.com",
        "Connection: close",
        "Keep-Alive: timeout=5",
        "Proxy-Authorization: Basic 078-05-1120",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Transfer-Encoding: chunked",
        "Upgrade: h2c",
        "Content-Length: 5",
        "Content-Type: text/plain",
        "Expect: 100-continue",
        "User-Agent: curl/8.0",
        "X-Smuggle: a\r\nCookie: 078-05-1120",
        "X-Bare-LF: a\nb",
        "NoColonAtAll",
        ": 078-05-1120",
        "Bad Name: 078-05-1120",
        "X-Empty:",
        "X-Blank:   ",
    };
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct upstream *u;
    struct outcome o = {0};
    unsigned finished = 0;
    struct err e;
    struct srv s;
    char url[256];

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    u = client(base, &opt);
    url_of(url, sizeof url, "http", "127.0.0.1", s.port, "/ok");
    o.finished = &finished;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const headers[] = {"X-Fine: yes", bad[i], NULL};
        struct upstream_request rq = {url, NULL, headers, "{}", 2};
        err_clear(&e);
        if (upstream_send(u, &rq, on_done, &o, &e) != -1)
            fail_msg("header %zu was accepted", i);
        assert_true(e.set);
        assert_null(strstr(e.msg, "078-05-1120"));
        assert_null(strstr(e.msg, "evil.example.com"));
        assert_int_equal(upstream_inflight(u), 0);
    }
    /* The same request with only the good header goes through. */
    const char *const good[] = {"X-Fine: yes", NULL};
    struct upstream_request ok = {url, NULL, good, "{}", 2};
    send_one(u, &ok, &o);
    wait_finished(base, &finished, 1);
    assert_int_equal(o.calls, 1);
    assert_true(o.r.accepted);
    assert_int_equal(srv_count(&s, &s.requests), 1);
    upstream_free(u);
    event_base_free(base);
    srv_stop(&s);
}

/* More than UPSTREAM_HEADERS_MAX caller headers is refused. */
static void test_too_many_headers_refused(void **state)
{
    const char *headers[UPSTREAM_HEADERS_MAX + 2];
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct upstream *u;
    struct outcome o = {0};
    unsigned finished = 0;
    struct err e;

    (void)state;
    o.finished = &finished;
    for (size_t i = 0; i < UPSTREAM_HEADERS_MAX + 1; i++)
        headers[i] = "X-Many: 1";
    headers[UPSTREAM_HEADERS_MAX + 1] = NULL;
    test_options(&opt);
    u = client(base, &opt);
    struct upstream_request rq = {"http://127.0.0.1:9/ok", NULL, headers, "{}", 2};
    err_clear(&e);
    assert_int_equal(upstream_send(u, &rq, on_done, &o, &e), -1);
    assert_true(e.set);
    headers[UPSTREAM_HEADERS_MAX] = NULL; /* exactly the maximum is fine */
    err_clear(&e);
    assert_int_equal(upstream_send(u, &rq, on_done, &o, &e), 0);
    upstream_free(u);
    assert_int_equal(o.calls, 1);
    assert_true(o.r.cancelled);
    event_base_free(base);
}

static void test_bad_urls_refused(void **state)
{
    static const char *const urls[] = {
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "127.0.0.1:80/x",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/a\r\nX: y",
        "",
    };
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct upstream *u;
    struct outcome o = {0};
    struct err e;

    (void)state;
    test_options(&opt);
    u = client(base, &opt);
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct upstream_request rq = {urls[i], NULL, NULL, "{}", 2};
        err_clear(&e);
        if (upstream_send(u, &rq, on_done, &o, &e) != -1)
            fail_msg("URL %zu was accepted", i);
        assert_true(e.set);
    }
    struct upstream_request none = {NULL, NULL, NULL, "{}", 2};
    err_clear(&e);
    assert_int_equal(upstream_send(u, &none, on_done, &o, &e), -1);
    struct upstream_request nobody = {"http://127.0.0.1:9/", NULL, NULL, NULL, 5};
    err_clear(&e);
    assert_int_equal(upstream_send(u, &nobody, on_done, &o, &e), -1);
    assert_int_equal(upstream_inflight(u), 0);
    upstream_free(u);
    assert_int_equal(o.calls, 0);
    event_base_free(base);
}

static void expect_bad_options(struct event_base *base, const struct upstream_options *o,
                               const char *what)
{
    struct err e;
    struct upstream *u;

    err_clear(&e);
    u = upstream_new(base, o, &e);
    if (u != NULL) {
        upstream_free(u);
        fail_msg("options with %s were accepted", what);
    }
    assert_true(e.set);
}

static void test_bad_options_refused(void **state)
{
    struct event_base *base = event_base_new();
    struct upstream_options o;

    (void)state;
    test_options(&o);
    o.version = NULL;
    expect_bad_options(base, &o, "no version");
    test_options(&o);
    o.version = "1.0\r\nX-Evil: 1";
    expect_bad_options(base, &o, "a CRLF in the version");
    test_options(&o);
    o.timeout_ms = 0;
    expect_bad_options(base, &o, "timeout 0");
    test_options(&o);
    o.connect_timeout_ms = 0;
    expect_bad_options(base, &o, "connect timeout 0");
    test_options(&o);
    o.backoff_ms = o.backoff_max_ms + 1;
    expect_bad_options(base, &o, "backoff over its cap");
    test_options(&o);
    o.retries = UPSTREAM_RETRIES_MAX + 1;
    expect_bad_options(base, &o, "too many retries");
    test_options(&o);
    o.max_host_connections = 0;
    expect_bad_options(base, &o, "no connections");
    test_options(&o);
    o.ca_file = "/nonexistent/scrim-test-ca.pem";
    expect_bad_options(base, &o, "an unreadable CA file");
    event_base_free(base);
}

/* max_inflight bounds what one upstream holds; a finished request frees
 * its slot. */
static void test_inflight_cap(void **state)
{
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct upstream *u;
    struct outcome o[3] = {{0}};
    unsigned finished = 0;
    struct err e;
    struct srv s;
    char url[256];

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    opt.max_inflight = 2;
    u = client(base, &opt);
    url_of(url, sizeof url, "http", "127.0.0.1", s.port, "/ok");
    struct upstream_request rq = {url, NULL, NULL, "{}", 2};
    for (int i = 0; i < 3; i++)
        o[i].finished = &finished;
    send_one(u, &rq, &o[0]);
    send_one(u, &rq, &o[1]);
    err_clear(&e);
    assert_int_equal(upstream_send(u, &rq, on_done, &o[2], &e), -1);
    assert_true(e.set);
    wait_finished(base, &finished, 2);
    send_one(u, &rq, &o[2]);
    wait_finished(base, &finished, 3);
    assert_true(o[2].r.accepted);
    upstream_free(u);
    event_base_free(base);
    srv_stop(&s);
}

/* upstream_free with requests on the wire and one waiting for its retry:
 * each gets one cancelled callback, nothing after, nothing leaks. */
static void test_free_with_requests_in_flight(void **state)
{
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct upstream *u;
    struct outcome o[4] = {{0}};
    unsigned finished = 0;
    char hang[256], fail[256];
    struct srv s;

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    opt.backoff_ms = opt.backoff_max_ms = 60000;
    u = client(base, &opt);
    url_of(hang, sizeof hang, "http", "127.0.0.1", s.port, "/hang");
    url_of(fail, sizeof fail, "http", "127.0.0.1", s.port, "/status/503");
    struct upstream_request rh = {hang, NULL, NULL, "{}", 2}, rf = {fail, NULL, NULL, "{}", 2};
    for (int i = 0; i < 4; i++) {
        o[i].finished = &finished;
        send_one(u, i < 3 ? &rh : &rf, &o[i]);
    }
    wait_server(base, &s, 4);         /* all on the wire */
    wait_for(base, never, NULL, 100); /* the 503 is read: its retry waits a minute */
    assert_int_equal(upstream_inflight(u), 4);
    assert_int_equal(finished, 0);
    upstream_free(u);
    assert_int_equal(finished, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].r.cancelled);
        assert_false(o[i].r.accepted);
        assert_string_equal(o[i].r.error, "cancelled");
    }
    assert_int_equal(o[3].r.attempts, 1);
    /* No event of the freed upstream is left on the base. */
    assert_int_equal(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(finished, 4);
    event_base_free(base);
    srv_stop(&s);
}

struct freer {
    struct upstream *u;
    struct outcome o;
};

static void free_on_done(void *arg, const struct upstream_result *r)
{
    struct freer *f = arg;

    on_done(&f->o, r);
    if (!r->cancelled)
        upstream_free(f->u);
}

/* A done callback may free its upstream; the rest is cancelled. */
static void test_free_from_callback(void **state)
{
    struct event_base *base = event_base_new();
    struct upstream_options opt;
    struct freer f = {0};
    struct outcome hung = {0};
    unsigned finished = 0;
    char ok[256], hang[256];
    struct err e;
    struct srv s;

    (void)state;
    srv_start(&s, NULL);
    test_options(&opt);
    f.u = client(base, &opt);
    url_of(ok, sizeof ok, "http", "127.0.0.1", s.port, "/ok");
    url_of(hang, sizeof hang, "http", "127.0.0.1", s.port, "/hang");
    struct upstream_request rh = {hang, NULL, NULL, "{}", 2}, ro = {ok, NULL, NULL, "{}", 2};
    hung.finished = f.o.finished = &finished;
    send_one(f.u, &rh, &hung);
    wait_server(base, &s, 1);
    err_clear(&e);
    assert_int_equal(upstream_send(f.u, &ro, free_on_done, &f, &e), 0);
    wait_finished(base, &finished, 2);
    assert_int_equal(f.o.calls, 1);
    assert_true(f.o.r.accepted);
    assert_int_equal(hung.calls, 1);
    assert_true(hung.r.cancelled);
    assert_int_equal(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
    event_base_free(base);
    srv_stop(&s);
}

/* ---- TLS ---- */

struct tls {
    SSL_CTX *ctx;
    char ca_path[64];
};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char mine[] = "\x08http/1.1";
    struct srv *s = arg;
    size_t w = 0;

    (void)ssl;
    pthread_mutex_lock(&s->mu);
    for (unsigned i = 0; i < inlen && w + in[i] + 2 < sizeof s->alpn; i += in[i] + 1u) {
        if (w)
            s->alpn[w++] = ',';
        memcpy(s->alpn + w, in + i + 1, in[i]);
        w += in[i];
    }
    s->alpn[w] = '\0';
    pthread_mutex_unlock(&s->mu);
    if (SSL_select_next_proto((unsigned char **)out, outlen, mine, sizeof mine - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    assert_non_null(ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value));
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A self-signed certificate for IP 127.0.0.1 (not "localhost"); its PEM
 * in a temporary file is the client's ca_file. */
static void tls_make(struct tls *t)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_get_subject_name(x);
    FILE *f;
    int fd;

    assert_non_null(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"scrim test", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    add_ext(x, NID_subject_alt_name, "IP:127.0.0.1");
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);

    snprintf(t->ca_path, sizeof t->ca_path, "/tmp/scrim-test-ca-XXXXXX");
    assert_true((fd = mkstemp(t->ca_path)) >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);

    assert_non_null(t->ctx = SSL_CTX_new(TLS_server_method()));
    assert_int_equal(SSL_CTX_use_certificate(t->ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(t->ctx, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void tls_free(struct tls *t)
{
    SSL_CTX_free(t->ctx);
    unlink(t->ca_path);
}

static void post_tls(struct srv *s, const struct upstream_options *opt, const char *host,
                     struct outcome *o)
{
    struct event_base *base = event_base_new();
    struct upstream *u = client(base, opt);
    unsigned finished = 0;
    char url[256];
    struct upstream_request rq = {url, NULL, NULL, "{}", 2};

    url_of(url, sizeof url, "https", host, s->port, "/ok");
    memset(o, 0, sizeof *o);
    o->finished = &finished;
    send_one(u, &rq, o);
    wait_finished(base, &finished, 1);
    upstream_free(u);
    event_base_free(base);
}

/* Trusted through ca_file: accepted, and HTTP/2 was offered in ALPN. */
static void test_tls_with_ca_file(void **state)
{
    struct upstream_options opt;
    struct outcome o;
    struct tls t;
    struct srv s;

    (void)state;
    tls_make(&t);
    SSL_CTX_set_alpn_select_cb(t.ctx, alpn_select, &s);
    srv_start(&s, t.ctx);
    test_options(&opt);
    opt.ca_file = t.ca_path;
    post_tls(&s, &opt, "127.0.0.1", &o);
    if (!o.r.accepted)
        fail_msg("TLS request not accepted: %s", o.error);
    assert_int_equal(o.r.attempts, 1);
    pthread_mutex_lock(&s.mu);
    assert_string_equal(srv_header(&s, "User-Agent"), "scrim/" VERSION);
    if (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)
        assert_non_null(strstr(s.alpn, "h2"));
    assert_non_null(strstr(s.alpn, "http/1.1"));
    pthread_mutex_unlock(&s.mu);
    srv_stop(&s);
    tls_free(&t);
}

/* Verification is on without being asked: an untrusted certificate, or a
 * trusted one for another name, is refused at once and not retried. */
static void test_tls_verification_on(void **state)
{
    struct upstream_options opt;
    struct outcome o;
    struct tls t;
    struct srv s;

    (void)state;
    tls_make(&t);
    srv_start(&s, t.ctx);
    test_options(&opt);
    /* Loading the system trust store is slow under ASan on a busy machine:
     * a connect timeout then would be retried and blur what is tested. */
    opt.connect_timeout_ms = opt.timeout_ms = 20000;
    post_tls(&s, &opt, "127.0.0.1", &o); /* system trust store only */
    if (o.r.attempts != 1)
        fail_msg("%u attempts, last: %s", o.r.attempts, o.error);
    assert_false(o.r.accepted);
    assert_int_equal(o.r.status, 0);
    assert_int_equal(o.r.attempts, 1);
    assert_string_equal(o.r.error, curl_easy_strerror(CURLE_PEER_FAILED_VERIFICATION));

    opt.ca_file = t.ca_path;
    post_tls(&s, &opt, "localhost", &o); /* the certificate names 127.0.0.1 */
    assert_false(o.r.accepted);
    assert_int_equal(o.r.attempts, 1);
    assert_string_equal(o.r.error, curl_easy_strerror(CURLE_PEER_FAILED_VERIFICATION));
    assert_int_equal(srv_count(&s, &s.requests), 0);
    srv_stop(&s);
    tls_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_body_and_headers_exact),
        LEAK_TEST(test_2xx_accepted),
        LEAK_TEST(test_500_then_200_retried),
        LEAK_TEST(test_retryable_statuses_exhaust),
        LEAK_TEST(test_retry_after),
        LEAK_TEST(test_final_statuses_not_retried),
        LEAK_TEST(test_connection_refused),
        LEAK_TEST(test_silent_server_times_out),
        LEAK_TEST(test_concurrent_keepalive),
        LEAK_TEST(test_proxy_only_from_options),
        LEAK_TEST(test_forbidden_headers_refused),
        LEAK_TEST(test_too_many_headers_refused),
        LEAK_TEST(test_bad_urls_refused),
        LEAK_TEST(test_bad_options_refused),
        LEAK_TEST(test_inflight_cap),
        LEAK_TEST(test_free_with_requests_in_flight),
        LEAK_TEST(test_free_from_callback),
        LEAK_TEST(test_tls_with_ca_file),
        LEAK_TEST(test_tls_verification_on),
    };
    int rc;

    /* The server writes answers to clients that may have gone. */
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    if (upstream_global_init() != 0)
        return 1;
    rc = cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
