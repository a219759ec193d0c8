/*
 * request: one request's pipeline, on its worker's thread:
 *
 *   head:  route (404) -> tenant (401) -> rate (429) -> in-flight budget (503)
 *   body:  content decoding (413/415/400) -> vendor tenant -> engine (400/413/422)
 *          -> upstream, or the spool when it fails or already holds a queue
 *          -> durability thread (records, audit entry, spool; one fsync per batch)
 *          -> the answer, on this worker again.
 *
 * Nothing of an unknown route or tenant is forwarded, stored or logged with
 * its content (invariant 3). Every failure answers with a status, never a
 * half-done write (invariant 1); a 2xx only after request_finish hears the
 * batch is durable (invariant 6).
 */
#include "proxy/server_impl.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/pseudo.h"
#include "proxy/durable.h"
#include "proxy/limit.h"
#include "proxy/metrics.h"
#include "proxy/spool.h"
#include "proxy/upstream.h"
#include "rules/decode.h"
#include "rules/posthog.h"
#include "rules/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The one table from engine results to HTTP statuses. */
static const struct {
    int status;
    const char *reason;
} redact_http[] = {
    [REDACT_OK] = {200, "ok"},
    [REDACT_BAD] = {400, "bad"},
    [REDACT_TOOBIG] = {413, "too_big"},
    [REDACT_LIMIT] = {422, "limit"},
    [REDACT_INTERNAL] = {500, "internal"},
};

static const struct {
    int status;
    const char *reason;
} decode_http[] = {
    [DECODE_OK] = {200, "ok"},
    [DECODE_BAD] = {400, "bad_encoding"},
    [DECODE_TOOBIG] = {413, "too_big"},
    [DECODE_UNSUPPORTED] = {415, "unsupported_encoding"},
};

static const char *route_label(const struct conf_route *r)
{
    return r ? r->path : "-";
}

static const char *tenant_label(const struct conf_tenant *t)
{
    return t ? t->id : "-";
}

static const char *reason_for(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 404:
        return "not_found";
    case 408:
        return "timeout";
    case 413:
        return "too_big";
    case 415:
        return "unsupported_encoding";
    case 417:
        return "expectation_failed";
    case 422:
        return "limit";
    case 429:
        return "rate_limited";
    case 431:
        return "headers_too_big";
    case 503:
        return "unavailable";
    case 505:
        return "version";
    default:
        return "error";
    }
}

void request_error(struct conn *c, int status, const char *reason)
{
    char body[96], extra[64];
    int n;

    if (reason == NULL)
        reason = reason_for(status);
    n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", reason);
    snprintf(extra, sizeof(extra), "Retry-After: 1\r\n");
    metrics_request(route_label(c->route), tenant_label(c->tenant), status, 0, 0);
    if (status != 408)
        metrics_dropped(reason);
    conn_respond(c, status, "application/json", body, (size_t)n,
                 status == 429 || status == 503 ? extra : NULL);
}

/* "Bearer <key>" or the route's own header. */
static const struct conf_tenant *tenant_from_key(struct conn *c, const struct http_request *rq)
{
    const struct conf_route *r = c->route;
    const struct http_header *h =
        http_request_header(rq, r->tenant_header ? r->tenant_header : "Authorization");
    const char *v;
    size_t n;

    if (h == NULL)
        return NULL;
    v = h->value;
    n = h->value_len;
    if (r->tenant_header == NULL) {
        if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
            return NULL;
        v += 7;
        n -= 7;
    }
    return n ? gen_tenant_by_api_key(c->gen, v, n) : NULL;
}

int request_rate_ok(struct conn *c)
{
    unsigned retry = 1;

    if (c->tenant->rate_per_sec == 0)
        return 1;
    return limit_rate_take(c->w->srv->rate, c->tenant->id, c->tenant->rate_per_sec,
                           c->tenant->rate_burst, server_now_ms(), &retry);
}

/* Charge n more bytes to the in-flight budget; 0 when over it. */
static int charge(struct conn *c, size_t n)
{
    enum limit_stage st;

    if (!limit_bytes_try_add(c->w->srv->inflight, n, &st)) {
        worker_pause(c->w);
        return 0;
    }
    c->charged += n;
    metrics_gauge_add(METRICS_INFLIGHT_BYTES, (int64_t)n);
    if (st >= LIMIT_STAGE_PAUSE_ACCEPT)
        worker_pause(c->w);
    return st < LIMIT_STAGE_REJECT;
}

int request_head(struct conn *c, const struct http_request *rq)
{
    c->route = gen_route(c->gen, rq->method, rq->path, rq->path_len);
    c->tenant = NULL;
    if (c->route == NULL)
        return 404;
    switch (c->route->tenant_from) {
    case TENANT_FROM_FIXED:
        c->tenant = conf_tenant_by_id(c->gen->conf, c->route->tenant_id);
        break;
    case TENANT_FROM_API_KEY:
        c->tenant = tenant_from_key(c, rq);
        break;
    case TENANT_FROM_VENDOR:
        /* the key is in the payload: known after the body */
        return rq->content_length > 0 && !charge(c, (size_t)rq->content_length) ? 503 : 0;
    }
    if (c->tenant == NULL)
        return 401;
    if (!request_rate_ok(c))
        return 429;
    if (rq->content_length > 0 && !charge(c, (size_t)rq->content_length))
        return 503;
    return 0;
}

static uint64_t random_u64(void)
{
    uint64_t v;

    randombytes_buf(&v, sizeof(v));
    return v;
}

static struct job *job_new(struct conn *c)
{
    struct job *j = xcalloc(1, sizeof(*j));
    const struct conf_limits *l = &c->gen->conf->limits;

    j->w = c->w;
    j->conn = c;
    j->gen = c->gen;
    gen_ref(j->gen);
    j->route = c->route;
    j->tenant = c->tenant;
    snprintf(j->rid, sizeof(j->rid), "%016llx", (unsigned long long)random_u64());
    buf_init(&j->body, l->decompressed_max);
    j->t0_us = server_now_us();
    c->w->jobs++;
    c->job = j;
    return j;
}

void job_free(struct job *j)
{
    struct worker *w = j->w;

    if (j->charged) {
        limit_bytes_sub(w->srv->inflight, j->charged);
        metrics_gauge_add(METRICS_INFLIGHT_BYTES, -(int64_t)j->charged);
    }
    worker_arena_put(w, j->arena);
    buf_wipe(&j->body); /* decoded, still unmasked */
    buf_free(&j->body);
    buf_free(&j->out);
    buf_free(&j->records);
    xfree(j->up_url);
    gen_unref(j->gen);
    xfree(j);
    w->jobs--;
    worker_job_gone(w);
}

static int decode_status_http(enum decode_status st)
{
    return decode_http[st].status;
}

/* PostHog's own wrappings (gzip by magic bytes, base64 forms) or plain
 * Content-Encoding, undone into j->body; in and n then point at the
 * payload. The limits cover the whole chain. */
static int decode_body(struct job *j, const struct http_request *rq, const char **in, size_t *n)
{
    const struct conf_limits *l = &j->gen->conf->limits;
    const struct http_header *ce = http_request_header(rq, "Content-Encoding");
    const struct http_header *ct = http_request_header(rq, "Content-Type");
    struct decode_limits dl = {l->decompressed_max, l->ratio_max};
    enum decode_status st;

    *in = rq->body ? rq->body : "";
    *n = rq->body_len;
    if (j->route->format == FORMAT_POSTHOG) {
        struct posthog_http h = {ct ? ct->value : NULL,
                                 ct ? ct->value_len : 0,
                                 ce ? ce->value : NULL,
                                 ce ? ce->value_len : 0,
                                 rq->query,
                                 rq->query ? rq->query_len : 0};
        st = posthog_unwrap(&dl, &h, *in, *n, &j->body, &j->wrap);
    } else if (ce != NULL)
        st = decode_content_encoding(&dl, ce->value, ce->value_len, *in, *n, &j->body);
    else
        return 0;
    if (st != DECODE_OK)
        return decode_status_http(st);
    *in = j->body.data ? j->body.data : "";
    *n = j->body.len;
    return 0;
}

/* The worker's scanner for policy i of j's generation. */
static struct pii_scanner *scanner_for(struct job *j)
{
    size_t pi = (size_t)(j->tenant->policy - j->gen->conf->policies);

    return worker_scanner(j->w, j->gen, pi);
}

static void count_rules(const struct job *j)
{
    for (size_t i = 0; i < j->rep.nrules; i++)
        if (j->rep.rules[i].count > 0)
            metrics_rule_hit(j->tenant->id, j->rep.rules[i].id, action_name(j->rep.rules[i].action),
                             j->rep.rules[i].count);
}

static int uses_sessions(enum format f)
{
    return f == FORMAT_RRWEB || f == FORMAT_POSTHOG || f == FORMAT_SENTRY;
}

/* Replay formats judge inputs by what earlier payloads of the session
 * showed: the shared session table, bound to this tenant, under its lock. */
static enum redact_status engine_with_sessions(struct job *j, struct redact_env *env,
                                               const char *in, size_t n, struct err *err)
{
    struct server *s = j->w->srv;
    enum redact_status st;

    pthread_mutex_lock(&s->sessions_lock);
    if (session_table_bind(s->sessions, j->tenant->id, strlen(j->tenant->id), NULL, 0) != 0) {
        pthread_mutex_unlock(&s->sessions_lock);
        err_set(err, "session table: cannot bind tenant");
        return REDACT_INTERNAL;
    }
    env->sessions = s->sessions;
    st = engine_redact(env, j->arena, j->route->format, in, n, &j->out, &j->rep, err);
    server_session_gauges(s);
    pthread_mutex_unlock(&s->sessions_lock);
    return st;
}

static enum redact_status run_engine(struct job *j, const char *in, size_t n)
{
    const struct conf_limits *l = &j->gen->conf->limits;
    size_t ti = gen_tenant_index(j->gen, j->tenant);
    struct redact_env env = {
        .policy = j->tenant->policy,
        .scanner = scanner_for(j),
        .json = {l->json_depth, l->json_nodes},
        .pseudonym = j->gen->pkeys[ti] ? pseudo_engine_fn : NULL,
        .pseudonym_ctx = j->gen->pkeys[ti],
        .context = &j->records,
        .now_ms = server_now_ms(),
        .inflate = {l->decompressed_max, l->ratio_max},
    };
    struct err err = {0};

    /* Caps, not allocations: the tree and scratch grow only as needed. */
    j->arena = worker_arena_get(j->w, 16 * n + (1 << 20));
    buf_init(&j->out, 4 * n + (1 << 16));
    buf_init(&j->records, 4 * n + (1 << 16));
    err_clear(&err);
    if (uses_sessions(j->route->format))
        j->st = engine_with_sessions(j, &env, in, n, &err);
    else
        j->st = engine_redact(&env, j->arena, j->route->format, in, n, &j->out, &j->rep, &err);
    if (j->st != REDACT_OK)
        log_info("request %s: payload rejected (%s): %s", j->rid, redact_status_name(j->st),
                 err.msg);
    else
        count_rules(j);
    return j->st;
}

/* The masked payload goes upstream the way the client sent it: a PostHog
 * body re-wrapped (gzip, base64 form) with the matching Content-Type and
 * compression parameter (docs/posthog.md), a Sentry envelope as one. */
static int upstream_form(struct job *j)
{
    const char *base = j->route->upstream, *comp = NULL;
    size_t n;

    j->up_type =
        j->route->format == FORMAT_SENTRY ? "application/x-sentry-envelope" : "application/json";
    if (j->route->format == FORMAT_POSTHOG && j->wrap != POSTHOG_WRAP_PLAIN) {
        struct buf wrapped;
        buf_init(&wrapped, j->out.max);
        if (posthog_wrap(j->wrap, j->out.data ? j->out.data : "", j->out.len, &wrapped) != 0) {
            buf_free(&wrapped);
            return -1;
        }
        buf_free(&j->out);
        j->out = wrapped;
        j->up_type = posthog_wrap_content_type(j->wrap);
        comp = posthog_wrap_compression(j->wrap);
    }
    n = strlen(base) + (comp ? strlen(comp) + 14 : 0) + 1;
    j->up_url = xmalloc(n);
    if (comp)
        snprintf(j->up_url, n, "%s%ccompression=%s", base, strchr(base, '?') ? '&' : '?', comp);
    else
        snprintf(j->up_url, n, "%s", base);
    return 0;
}

static void upstream_done(void *arg, const struct upstream_result *r)
{
    struct job *j = arg;

    if (r->cancelled) { /* the worker is shutting down: never acknowledged */
        if (j->conn)
            j->conn->job = NULL;
        job_free(j);
        return;
    }
    metrics_upstream(r->accepted ? "accepted" : "failed", r->latency_us);
    if (r->accepted)
        j->forwarded = 1;
    else {
        log_warn("request %s: upstream for route %s failed (%s, status %d, %u attempts); "
                 "spooling",
                 j->rid, j->route->path, r->error ? r->error : "-", r->status, r->attempts);
        j->want_spool = 1;
    }
    durable_submit(j->w->srv->durable, j);
}

/* IPv4 to its /24, IPv6 to its /48: a vendor's geo, not a household. */
static int client_ip_header(const struct conn *c, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN];

    if (c == NULL)
        return -1;
    if (c->peer.ss_family == AF_INET) {
        struct in_addr v4 = ((const struct sockaddr_in *)&c->peer)->sin_addr;
        v4.s_addr &= htonl(0xffffff00u);
        inet_ntop(AF_INET, &v4, a, sizeof(a));
    } else if (c->peer.ss_family == AF_INET6) {
        struct in6_addr v6 = ((const struct sockaddr_in6 *)&c->peer)->sin6_addr;
        memset(v6.s6_addr + 6, 0, 10);
        inet_ntop(AF_INET6, &v6, a, sizeof(a));
    } else
        return -1;
    return snprintf(out, cap, "X-Forwarded-For: %s", a) < (int)cap ? 0 : -1;
}

static void forward(struct job *j)
{
    char rid[48], xff[96];
    const char *headers[3] = {rid, NULL, NULL};
    struct upstream_request rq;
    struct err err = {0};

    snprintf(rid, sizeof(rid), "X-Scrim-Request-Id: %s", j->rid);
    if (j->route->forward_client_ip && client_ip_header(j->conn, xff, sizeof(xff)) == 0)
        headers[1] = xff;
    rq = (struct upstream_request){j->up_url, j->up_type, headers, j->out.data, j->out.len};
    if (upstream_send(j->w->up, &rq, upstream_done, j, &err) != 0) {
        log_error("request %s: cannot forward: %s", j->rid, err.msg);
        j->want_spool = 1;
        durable_submit(j->w->srv->durable, j);
    }
}

/* Mask, then forward or spool, then persist; the answer comes back later. */
void request_run(struct conn *c, const struct http_request *rq)
{
    struct job *j = job_new(c);
    const char *in;
    size_t n;
    int st;

    j->charged = c->charged;
    c->charged = 0;
    j->bytes_in = rq->body_len;
    st = decode_body(j, rq, &in, &n);
    if (st == 0 && j->body.len > 0 && !charge(c, j->body.len))
        st = 503;
    j->charged += c->charged;
    c->charged = 0;
    if (st == 0 && c->tenant == NULL && (st = vendor_tenant(c, rq, in, n)) == 0)
        j->tenant = c->tenant;
    if (st != 0 && j->tenant != NULL && st != 503) {
        /* A tenant's payload that cannot be decoded is audited as dropped. */
        j->st = st == 413 ? REDACT_TOOBIG : REDACT_BAD;
        j->status = st;
        durable_submit(c->w->srv->durable, j);
        return;
    }
    if (st != 0) {
        c->job = NULL;
        job_free(j);
        request_error(c, st, NULL);
        return;
    }
    if (run_engine(j, in, n) != REDACT_OK) {
        durable_submit(c->w->srv->durable, j);
        return;
    }
    if (j->route->upstream == NULL)
        durable_submit(c->w->srv->durable, j);
    else if (upstream_form(j) != 0) {
        j->st = REDACT_TOOBIG; /* the re-wrapped body would pass its cap */
        durable_submit(c->w->srv->durable, j);
    } else if (c->w->srv->spool != NULL && spool_items(c->w->srv->spool) > 0) {
        j->want_spool = 1; /* behind the queue, never ahead of it */
        durable_submit(c->w->srv->durable, j);
    } else
        forward(j);
}

static int final_status(struct job *j, const char **reason)
{
    *reason = NULL;
    if (j->failed) {
        *reason = "storage";
        return 503;
    }
    if (j->st != REDACT_OK) {
        *reason = j->status ? NULL : redact_http[j->st].reason;
        return j->status ? j->status : redact_http[j->st].status;
    }
    if (j->want_spool && j->spool_full) {
        *reason = j->w->srv->spool ? "spool_full" : "upstream";
        return 503;
    }
    return 200;
}

/* What the audit log and metrics name records that no request brought. */
static const struct conf_route expiry_route = {.path = "(session expiry)", .format = FORMAT_RRWEB};

void request_expired_session(struct worker *w, struct gen *g, const struct conf_tenant *t,
                             const char *label, struct journey_state *st, uint64_t now_ms)
{
    struct job *j;
    struct journey_ctx c;

    if (st == NULL || label == NULL || label[0] == '\0')
        return;
    j = xcalloc(1, sizeof(*j));
    j->w = w;
    j->gen = g;
    gen_ref(g);
    j->route = &expiry_route;
    j->tenant = t;
    j->internal = 1;
    snprintf(j->rid, sizeof(j->rid), "%016llx", (unsigned long long)random_u64());
    buf_init(&j->records, (size_t)1 << 20);
    c = (struct journey_ctx){&t->policy->journey, label, NULL, -1, &j->records};
    w->jobs++;
    if (journey_expire(st, &c, now_ms) != 0 || j->records.len == 0) {
        job_free(j);
        return;
    }
    durable_submit(w->srv->durable, j);
}

void request_finish(struct job *j)
{
    struct conn *c = j->conn;
    const char *reason;
    int status = final_status(j, &reason);

    if (j->internal) {
        if (j->failed)
            log_error("session expiry %s: abandonment records not stored", j->rid);
        job_free(j);
        return;
    }
    if (j->want_spool && !j->spool_full && !j->failed)
        metrics_upstream("spooled", METRICS_NO_LATENCY);
    if (c != NULL) {
        c->job = NULL;
        if (status == 200) {
            metrics_request(j->route->path, j->tenant->id, 200, j->bytes_in,
                            j->forwarded || j->want_spool ? j->out.len : 0);
            conn_respond(c, 200, "application/json", "{\"ok\":true}\n", 12, NULL);
        } else
            request_error(c, status, reason);
    }
    job_free(j);
}
