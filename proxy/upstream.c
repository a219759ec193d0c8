/*
 * upstream: libcurl's multi socket interface on a libevent base.
 *
 * Three kinds of libevent events drive curl (as in curl's hiperfifo.c):
 * one event per socket curl asks us to watch (struct usock, re-armed with
 * the directions curl wants), one evtimer for curl's own timeouts, and per
 * request one evtimer for the backoff before a retry. Every libevent
 * callback ends by reading curl's finished transfers (multi_drain), which
 * is the only place, with the backoff timer, that calls a done callback.
 *
 * A done callback may free the upstream. The callbacks that can lead to one
 * count their nesting in depth; upstream_free inside them only marks
 * free_pending, and the outermost callback frees on its way out, so no
 * code runs on a freed struct.
 */
#include "proxy/upstream.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/mem.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "scrim needs libcurl 7.85 or later (CURLOPT_PROTOCOLS_STR)"
#endif

_Static_assert(sizeof(curl_off_t) == 8, "body sizes are checked against INT64_MAX");

#define CONTENT_TYPE_MAX 256
#define VERSION_MAX      64

/* A socket curl asked us to watch. */
struct usock {
    struct event *ev;
    struct usock *prev, *next;
};

/* One request, from upstream_send to its done callback. */
struct xfer {
    struct upstream *u;
    CURL *easy;
    struct curl_slist *headers; /* curl does not copy the list */
    upstream_done_fn done;
    void *arg;
    unsigned attempts;
    int attached; /* in the multi handle (not waiting for a retry) */
    uint64_t t0_us;
    struct event *backoff; /* made at the first retry */
    struct xfer *prev, *next;
};

struct upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer; /* curl's timeout */
    struct upstream_options o;
    char *ca_file, *user_agent, *proxy; /* owned copies */
    struct xfer *xfers;
    struct usock *socks;
    size_t inflight;
    unsigned depth;   /* nesting of our libevent callbacks */
    int free_pending; /* upstream_free was called inside one of them */
    int closing;      /* upstream_free is cancelling: refuse new work */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc = -1;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int upstream_global_init(void)
{
    if (pthread_once(&global_once, global_init_once) != 0)
        return -1;
    return global_rc;
}

void upstream_options_init(struct upstream_options *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 2000;
    o->timeout_ms = 10000;
    o->retries = 1;
    o->backoff_ms = 200;
    o->backoff_max_ms = 5000;
    o->max_host_connections = 64;
    o->max_inflight = 4096;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct timeval ms_to_tv(uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    return tv;
}

/* ---- validation of options and requests ---- */

static int check_range(const char *name, unsigned v, unsigned lo, unsigned hi, struct err *err)
{
    if (v < lo || v > hi)
        return err_set(err, "upstream: %s must be %u..%u", name, lo, hi);
    return 0;
}

/* Visible ASCII without spaces: the version ends up in a header line. */
static int check_version(const char *v, struct err *err)
{
    size_t n = v ? strnlen(v, VERSION_MAX + 1) : 0;

    if (n == 0 || n > VERSION_MAX)
        return err_set(err, "upstream: version must be 1..%d bytes", VERSION_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return err_set(err, "upstream: version may hold visible ASCII only");
    return 0;
}

static int check_options(const struct upstream_options *o, struct err *err)
{
    if (check_range("connect_timeout_ms", o->connect_timeout_ms, 1, 600000, err) < 0 ||
        check_range("timeout_ms", o->timeout_ms, 1, 3600000, err) < 0 ||
        check_range("retries", o->retries, 0, UPSTREAM_RETRIES_MAX, err) < 0 ||
        check_range("backoff_max_ms", o->backoff_max_ms, 0, 3600000, err) < 0 ||
        check_range("backoff_ms", o->backoff_ms, 0, o->backoff_max_ms, err) < 0 ||
        check_range("max_host_connections", o->max_host_connections, 1, 65536, err) < 0 ||
        check_range("max_inflight", o->max_inflight, 1, 1048576, err) < 0 ||
        check_version(o->version, err) < 0)
        return -1;
    if (o->ca_file && access(o->ca_file, R_OK) != 0)
        return err_set(err, "upstream: ca_file %s is not readable", o->ca_file);
    return 0;
}

/* Bytes a header value may not hold: controls other than HTAB (CR and LF
 * would start a header of the caller's choosing) and DEL. */
static int check_value(const char *v)
{
    for (; *v; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || (unsigned char)*v == 0x7f)
            return -1;
    return 0;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Hop-by-hop headers (RFC 9110 7.6.1, RFC 9113 8.2.2) and the framing this
 * module writes itself: a caller's copy would smuggle or contradict ours. */
static const char *const forbidden_headers[] = {
    "Connection",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "HTTP2-Settings",
    "Content-Length",
    "Content-Type",
    "Host",
    "Cookie",
    "Expect",
    "User-Agent",
    NULL,
};

static const char *forbidden_name(const char *name, size_t n)
{
    if (n >= 6 && strncasecmp(name, "Proxy-", 6) == 0)
        return "Proxy-*";
    for (size_t i = 0; forbidden_headers[i]; i++)
        if (strlen(forbidden_headers[i]) == n && strncasecmp(name, forbidden_headers[i], n) == 0)
            return forbidden_headers[i];
    return NULL;
}

static int check_header(const char *h, size_t i, struct err *err)
{
    size_t n = 0;
    const char *bad;

    if (strnlen(h, UPSTREAM_HEADER_LINE_MAX + 1) > UPSTREAM_HEADER_LINE_MAX)
        return err_set(err, "upstream: header %zu is over %d bytes", i, UPSTREAM_HEADER_LINE_MAX);
    while (is_tchar((unsigned char)h[n]))
        n++;
    if (n == 0 || h[n] != ':')
        return err_set(err, "upstream: header %zu is not \"Name: value\"", i);
    if ((bad = forbidden_name(h, n)) != NULL)
        return err_set(err, "upstream: header %zu: %s may not be forwarded", i, bad);
    h += n + 1;
    while (*h == ' ' || *h == '\t')
        h++;
    /* curl reads "Name:" with nothing after it as "remove this header". */
    if (*h == '\0')
        return err_set(err, "upstream: header %zu has an empty value", i);
    if (check_value(h) < 0)
        return err_set(err, "upstream: header %zu has a control byte in its value", i);
    return 0;
}

static int check_request(const struct upstream_request *rq, struct err *err)
{
    size_t n;

    if (rq->url == NULL)
        return err_set(err, "upstream: no URL");
    n = strnlen(rq->url, UPSTREAM_URL_MAX + 1);
    if (n > UPSTREAM_URL_MAX)
        return err_set(err, "upstream: URL over %d bytes", UPSTREAM_URL_MAX);
    if (strncasecmp(rq->url, "http://", 7) != 0 && strncasecmp(rq->url, "https://", 8) != 0)
        return err_set(err, "upstream: URL is not http:// or https://");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)rq->url[i] <= 0x20 || (unsigned char)rq->url[i] == 0x7f)
            return err_set(err, "upstream: URL holds a space or control byte");
    if (rq->content_type && (strnlen(rq->content_type, CONTENT_TYPE_MAX + 1) > CONTENT_TYPE_MAX ||
                             rq->content_type[0] == '\0' || check_value(rq->content_type) < 0))
        return err_set(err, "upstream: bad content type");
    if (rq->body == NULL && rq->body_len > 0)
        return err_set(err, "upstream: body_len without a body");
    if ((uint64_t)rq->body_len > (uint64_t)INT64_MAX)
        return err_set(err, "upstream: body too large");
    return 0;
}

/* The whole header list curl sends besides Host and Content-Length. */
static struct curl_slist *headers_build(const struct upstream_request *rq, struct err *err)
{
    struct curl_slist *l = NULL, *t;
    char ct[CONTENT_TYPE_MAX + 32];
    size_t i;

    for (i = 0; rq->headers && rq->headers[i]; i++) {
        if (i >= UPSTREAM_HEADERS_MAX) {
            err_set(err, "upstream: more than %d headers", UPSTREAM_HEADERS_MAX);
            goto fail;
        }
        if (check_header(rq->headers[i], i, err) < 0)
            goto fail;
        if ((t = curl_slist_append(l, rq->headers[i])) == NULL)
            goto oom;
        l = t;
    }
    snprintf(ct, sizeof ct, "Content-Type: %s",
             rq->content_type ? rq->content_type : "application/json");
    /* "Name:" without a value removes a header curl would add itself. */
    const char *framing[] = {ct, "Expect:", "Accept:"};
    for (i = 0; i < sizeof framing / sizeof framing[0]; i++) {
        if ((t = curl_slist_append(l, framing[i])) == NULL)
            goto oom;
        l = t;
    }
    return l;
oom:
    err_set(err, "upstream: out of memory for headers");
fail:
    curl_slist_free_all(l);
    return NULL;
}

/* ---- one request ---- */

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Every option of a request. Those that do not come from rq or the
 * options are the module's promises (see the header), the same for all. */
static int easy_setup(struct xfer *x, const struct upstream_request *rq)
{
    const struct upstream *u = x->u;
    CURL *e = x->easy;
    int ok = 1;

    ok &= curl_easy_setopt(e, CURLOPT_URL, rq->url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len) == CURLE_OK;
    /* Never NULL: a NULL body makes curl read the upload from stdin. */
    ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, u->user_agent) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROXY, u->proxy ? u->proxy : "") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
    if (u->ca_file)
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO, u->ca_file) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)u->o.connect_timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)u->o.timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
    /* Over TLS, wait for a connection that may multiplex (ALPN says so at
     * the handshake) rather than open another. Not over plain http: curl
     * only learns that a connection cannot multiplex from its first
     * response, so one slow answer would hold every other request back. */
    if (strncasecmp(rq->url, "https:", 6) == 0)
        ok &= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)x) == CURLE_OK;
    /* A libcurl built without HTTP/2 refuses this; HTTP/1.1 is then fine. */
    (void)curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    return ok ? 0 : -1;
}

static void xfer_release(struct xfer *x)
{
    if (x->attached)
        curl_multi_remove_handle(x->u->multi, x->easy);
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    if (x->backoff)
        event_free(x->backoff);
    xfree(x);
}

static void xfer_link(struct xfer *x)
{
    struct upstream *u = x->u;

    x->next = u->xfers;
    if (u->xfers)
        u->xfers->prev = x;
    u->xfers = x;
    u->inflight++;
}

static void xfer_unlink(struct xfer *x)
{
    struct upstream *u = x->u;

    if (x->prev)
        x->prev->next = x->next;
    else
        u->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    u->inflight--;
}

/* Report the result and forget the request. error NULL means accepted.
 * Everything is released before done runs, so done may send or free. */
static void xfer_finish(struct xfer *x, int status, const char *error, int cancelled)
{
    upstream_done_fn done = x->done;
    void *arg = x->arg;
    struct upstream_result r;

    memset(&r, 0, sizeof r);
    r.status = status;
    r.accepted = error == NULL && !cancelled;
    r.cancelled = cancelled;
    r.attempts = x->attempts;
    r.latency_us = now_us() - x->t0_us;
    r.error = error;
    xfer_unlink(x);
    xfer_release(x);
    done(arg, &r);
}

static int attempt_start(struct xfer *x, CURLMcode *mc)
{
    *mc = curl_multi_add_handle(x->u->multi, x->easy);
    if (*mc != CURLM_OK)
        return -1;
    x->attached = 1;
    x->attempts++;
    return 0;
}

/* Connection failures, timeouts and transport errors: the upstream may be
 * back on the next try. Certificate, protocol and URL errors will not
 * change, and retrying them only delays the spool. */
static int retryable(CURLcode rc, long status)
{
    switch (rc) {
    case CURLE_OK:
        return status >= 500 || status == 408 || status == 429;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* backoff_ms * 2^(retry-1), at least a Retry-After, at most backoff_max_ms. */
static uint64_t backoff_delay(const struct upstream_options *o, unsigned retry,
                              curl_off_t retry_after_s)
{
    uint64_t d = o->backoff_ms;

    for (unsigned i = 1; i < retry && d < o->backoff_max_ms; i++)
        d *= 2;
    if (retry_after_s > 0) {
        uint64_t ra = retry_after_s > 86400 ? UINT64_MAX : (uint64_t)retry_after_s * 1000u;
        d = ra > d ? ra : d;
    }
    return d < o->backoff_max_ms ? d : o->backoff_max_ms;
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg);

static int retry_schedule(struct xfer *x)
{
    struct upstream *u = x->u;
    curl_off_t after = 0;
    struct timeval tv;

    if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &after) != CURLE_OK)
        after = 0;
    tv = ms_to_tv(backoff_delay(&u->o, x->attempts, after));
    if (x->backoff == NULL && (x->backoff = evtimer_new(u->base, backoff_cb, x)) == NULL)
        return -1;
    return evtimer_add(x->backoff, &tv);
}

/* One attempt of easy ended with rc: retry it or report it. */
static void attempt_done(struct upstream *u, CURL *easy, CURLcode rc)
{
    char *p = NULL, text[32];
    struct xfer *x;
    long status = 0;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK || p == NULL)
        return;
    x = (struct xfer *)p;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(u->multi, easy);
    x->attached = 0;
    if (rc == CURLE_OK && status >= 200 && status <= 299) {
        xfer_finish(x, (int)status, NULL, 0);
        return;
    }
    if (x->attempts <= u->o.retries && retryable(rc, status) && retry_schedule(x) == 0)
        return;
    if (rc != CURLE_OK) {
        xfer_finish(x, (int)status, curl_easy_strerror(rc), 0);
        return;
    }
    snprintf(text, sizeof text, "HTTP %ld", status);
    xfer_finish(x, (int)status, text, 0);
}

/* ---- the event loop side ---- */

static void upstream_destroy(struct upstream *u);

static void enter(struct upstream *u)
{
    u->depth++;
}

static void leave(struct upstream *u)
{
    if (--u->depth == 0 && u->free_pending)
        upstream_destroy(u);
}

/* Report every transfer curl finished. Stops once a callback asked for the
 * upstream to be freed: the rest is then cancelled by upstream_destroy. */
static void multi_drain(struct upstream *u)
{
    CURLMsg *m;
    int left;

    while (!u->free_pending && (m = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        /* m is curl's and dies with remove_handle: copy what we need. */
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        attempt_done(u, easy, rc);
    }
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xfer *x = arg;
    struct upstream *u = x->u;
    CURLMcode mc;

    (void)fd;
    (void)what;
    enter(u);
    if (attempt_start(x, &mc) < 0)
        xfer_finish(x, 0, curl_multi_strerror(mc), 0);
    leave(u);
}

static void socket_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *u = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;

    enter(u);
    curl_multi_socket_action(u->multi, fd, action, &running);
    multi_drain(u);
    leave(u);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *u = arg;
    int running = 0;

    (void)fd;
    (void)what;
    enter(u);
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    multi_drain(u);
    leave(u);
}

/* CURLMOPT_TIMERFUNCTION: curl wants to be called back in ms (-1: never).
 * Even 0 goes through the loop: curl forbids calling it back from here. */
static int curl_timer_cb(CURLM *multi, long ms, void *arg)
{
    struct upstream *u = arg;
    struct timeval tv;

    (void)multi;
    if (ms < 0 || u->closing)
        return evtimer_del(u->timer) == 0 ? 0 : -1;
    tv = ms_to_tv((uint64_t)ms);
    return evtimer_add(u->timer, &tv) == 0 ? 0 : -1;
}

static void usock_free(struct upstream *u, struct usock *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        u->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    event_free(k->ev);
    xfree(k);
}

static struct usock *usock_new(struct upstream *u, curl_socket_t s)
{
    struct usock *k = xcalloc(1, sizeof *k);

    if (k == NULL)
        return NULL;
    if ((k->ev = event_new(u->base, s, EV_PERSIST, socket_event_cb, u)) == NULL ||
        curl_multi_assign(u->multi, s, k) != CURLM_OK) {
        if (k->ev)
            event_free(k->ev);
        xfree(k);
        return NULL;
    }
    k->next = u->socks;
    if (u->socks)
        u->socks->prev = k;
    u->socks = k;
    return k;
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl asks, or stop watching. */
static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct upstream *u = arg;
    struct usock *k = sockp;
    short kind = EV_PERSIST;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (k)
            usock_free(u, k);
        return 0;
    }
    if (k == NULL && (k = usock_new(u, s)) == NULL)
        return -1;
    kind |= (what & CURL_POLL_IN) ? EV_READ : 0;
    kind |= (what & CURL_POLL_OUT) ? EV_WRITE : 0;
    /* event_assign may only change an event that is not pending. */
    event_del(k->ev);
    if (kind == EV_PERSIST)
        return 0;
    if (event_assign(k->ev, u->base, s, kind, socket_event_cb, u) < 0 || event_add(k->ev, NULL) < 0)
        return -1;
    return 0;
}

/* ---- life cycle ---- */

static int multi_setup(struct upstream *u)
{
    CURLM *m = u->multi;
    int ok = 1;

    ok &= curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) == CURLM_OK;
    ok &= curl_multi_setopt(m, CURLMOPT_SOCKETDATA, u) == CURLM_OK;
    ok &= curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, curl_timer_cb) == CURLM_OK;
    ok &= curl_multi_setopt(m, CURLMOPT_TIMERDATA, u) == CURLM_OK;
    ok &= curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)u->o.max_host_connections) ==
          CURLM_OK;
    ok &= curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) == CURLM_OK;
    return ok ? 0 : -1;
}

static int copy_strings(struct upstream *u, const struct upstream_options *o)
{
    size_t n = strlen("scrim/") + strlen(o->version) + 1;

    if ((u->user_agent = xmalloc(n)) == NULL)
        return -1;
    snprintf(u->user_agent, n, "scrim/%s", o->version);
    if (o->ca_file && (u->ca_file = xstrdup(o->ca_file)) == NULL)
        return -1;
    if (o->proxy && (u->proxy = xstrdup(o->proxy)) == NULL)
        return -1;
    /* The copies are what the options point at from now on. */
    u->o.ca_file = u->ca_file;
    u->o.proxy = u->proxy;
    u->o.version = NULL;
    return 0;
}

struct upstream *upstream_new(struct event_base *base, const struct upstream_options *o,
                              struct err *err)
{
    struct upstream *u;

    if (base == NULL || o == NULL) {
        err_set(err, "upstream: no event base or options");
        return NULL;
    }
    if (check_options(o, err) < 0)
        return NULL;
    if (upstream_global_init() < 0) {
        err_set(err, "upstream: libcurl could not be initialised");
        return NULL;
    }
    if ((u = xcalloc(1, sizeof *u)) == NULL) {
        err_set(err, "upstream: out of memory");
        return NULL;
    }
    u->base = base;
    u->o = *o;
    if (copy_strings(u, o) < 0 || (u->timer = evtimer_new(base, timer_event_cb, u)) == NULL ||
        (u->multi = curl_multi_init()) == NULL || multi_setup(u) < 0) {
        err_set(err, "upstream: cannot set up the curl multi handle");
        upstream_destroy(u);
        return NULL;
    }
    return u;
}

int upstream_send(struct upstream *u, const struct upstream_request *rq, upstream_done_fn done,
                  void *arg, struct err *err)
{
    struct xfer *x;
    CURLMcode mc;

    if (u->closing || u->free_pending)
        return err_set(err, "upstream: being freed, request refused");
    if (rq == NULL || done == NULL)
        return err_set(err, "upstream: no request or no callback");
    if (u->inflight >= u->o.max_inflight)
        return err_set(err, "upstream: %u requests already in flight", u->o.max_inflight);
    if (check_request(rq, err) < 0)
        return -1;
    if ((x = xcalloc(1, sizeof *x)) == NULL)
        return err_set(err, "upstream: out of memory");
    x->u = u;
    x->done = done;
    x->arg = arg;
    if ((x->headers = headers_build(rq, err)) == NULL) {
        xfree(x);
        return -1;
    }
    if ((x->easy = curl_easy_init()) == NULL || easy_setup(x, rq) < 0) {
        xfer_release(x);
        return err_set(err, "upstream: cannot set up a curl handle");
    }
    x->t0_us = now_us();
    if (attempt_start(x, &mc) < 0) {
        xfer_release(x);
        return err_set(err, "upstream: %s", curl_multi_strerror(mc));
    }
    xfer_link(x);
    return 0;
}

size_t upstream_inflight(const struct upstream *u)
{
    return u->inflight;
}

static void upstream_destroy(struct upstream *u)
{
    u->closing = 1;
    while (u->xfers)
        xfer_finish(u->xfers, 0, "cancelled", 1);
    /* Closes the pooled connections; curl may still call curl_socket_cb. */
    if (u->multi)
        curl_multi_cleanup(u->multi);
    while (u->socks)
        usock_free(u, u->socks);
    if (u->timer)
        event_free(u->timer);
    xfree(u->user_agent);
    xfree(u->ca_file);
    xfree(u->proxy);
    xfree(u);
}

void upstream_free(struct upstream *u)
{
    if (u == NULL || u->closing)
        return;
    if (u->depth > 0) {
        u->free_pending = 1;
        return;
    }
    upstream_destroy(u);
}
