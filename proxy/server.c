#include "proxy/server_impl.h"

#include "common/log.h"
#include "common/mem.h"
#include "proxy/cmd.h"
#include "proxy/drain.h"
#include "proxy/durable.h"
#include "proxy/limit.h"
#include "proxy/metrics.h"
#include "proxy/spool.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"
#include "rules/pii.h"
#include "rules/session.h"

#include <sodium.h>

#include <event2/thread.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SERVER_BACKLOG    1024
#define SWEEP_EVERY_MS    (3600 * 1000)
#define WORKER_ARENA_KEEP ((size_t)8 << 20)

uint64_t server_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t server_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct gen *server_gen(struct server *s)
{
    struct gen *g;

    pthread_mutex_lock(&s->gen_lock);
    g = s->gen;
    gen_ref(g);
    pthread_mutex_unlock(&s->gen_lock);
    return g;
}

void worker_post_done(struct worker *w, struct job *j)
{
    pthread_mutex_lock(&w->lock);
    j->next = w->done;
    w->done = j;
    pthread_mutex_unlock(&w->lock);
    event_active(w->wake, EV_READ, 0);
}

static void worker_maybe_exit(struct worker *w);

static void worker_on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct job *list, *rev = NULL;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->lock);
    list = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->lock);
    while (list) { /* answer in arrival order */
        struct job *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        struct job *next = rev->next;
        request_finish(rev);
        rev = next;
    }
    worker_maybe_exit(w);
}

/* Worker 0 holds the admin listener: it stops last, so /readyz answers
 * 503 for the whole drain instead of vanishing with the first worker. */
static void worker_maybe_exit(struct worker *w)
{
    if (w->index == 0 && !__atomic_load_n(&w->srv->others_stopped, __ATOMIC_ACQUIRE))
        return;
    if (w->draining && w->nconns == 0 && w->jobs == 0)
        event_base_loopexit(w->base, NULL);
}

void worker_conn_gone(struct worker *w)
{
    worker_maybe_exit(w);
}

/* Accept again once the in-flight budget (shared by every worker) has
 * room; 0 while it is still full. */
static int worker_resume(struct worker *w)
{
    if (!w->paused || w->draining)
        return 1;
    if (limit_bytes_stage(w->srv->inflight) >= LIMIT_STAGE_PAUSE_ACCEPT)
        return 0;
    for (size_t i = 0; i < w->nlisteners; i++)
        evconnlistener_enable(w->listeners[i]);
    w->paused = 0;
    evtimer_del(w->resume_timer);
    return 1;
}

/* The budget is freed by every worker's requests, not only this one's: a
 * paused worker looks again on a short timer, so the connections the
 * kernel queues on its socket are not left waiting. */
static void worker_on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval again = {0, 50 * 1000};

    (void)fd;
    (void)what;
    if (!worker_resume(w))
        evtimer_add(w->resume_timer, &again);
}

void worker_job_gone(struct worker *w)
{
    worker_resume(w);
    worker_maybe_exit(w);
}

void worker_pause(struct worker *w)
{
    struct timeval again = {0, 50 * 1000};

    if (w->paused || w->draining)
        return;
    for (size_t i = 0; i < w->nlisteners; i++)
        evconnlistener_disable(w->listeners[i]);
    w->paused = 1;
    evtimer_add(w->resume_timer, &again);
    log_warn("worker %u: in-flight budget full; not accepting until it drains", w->index);
}

/* Reused arenas keep their largest block: no page faults per request. */
struct arena *worker_arena_get(struct worker *w, size_t cap)
{
    struct arena *a = w->narenas ? w->arenas[--w->narenas] : arena_new(cap);

    arena_set_cap(a, cap);
    return a;
}

void worker_arena_put(struct worker *w, struct arena *a)
{
    if (a == NULL)
        return;
    /* A big payload's block is not kept around for small ones. */
    if (arena_used(a) > WORKER_ARENA_KEEP || w->narenas == WORKER_ARENA_POOL) {
        arena_free(a);
        return;
    }
    arena_reset(a);
    if (w->narenas < WORKER_ARENA_POOL)
        w->arenas[w->narenas++] = a;
    else
        arena_free(a);
}

static void worker_scanners_free(struct worker *w)
{
    if (w->scan_gen == NULL)
        return;
    for (size_t i = 0; i < w->scan_gen->conf->npolicies; i++)
        pii_scanner_free(w->scanners[i]);
    xfree(w->scanners);
    gen_unref(w->scan_gen);
    w->scan_gen = NULL;
    w->scanners = NULL;
}

/* Scanners own PCRE2 match data: one set per worker and generation. */
struct pii_scanner *worker_scanner(struct worker *w, struct gen *g, size_t policy)
{
    const struct conf_limits *l = &g->conf->limits;
    struct pii_limits pl = {l->regex_match_limit, l->regex_depth_limit};

    if (w->scan_gen != g) {
        worker_scanners_free(w);
        w->scanners = xcalloc(g->conf->npolicies + 1, sizeof(*w->scanners));
        w->scan_gen = g;
        gen_ref(g);
    }
    if (w->scanners[policy] == NULL)
        w->scanners[policy] = pii_scanner_new(g->conf->policies[policy].pii, &pl);
    return w->scanners[policy];
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    struct worker *w = arg;

    for (size_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i] == l) {
            conn_accept(w, fd, sa, socklen, w->tls[i], 0);
            return;
        }
    conn_accept(w, fd, sa, socklen, NULL, 1);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    log_warn("accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* host:port as the config validated it; [v6] brackets stripped. */
static int resolve(const char *addr, struct sockaddr_storage *ss, int *len, struct err *err)
{
    char host[256], *port;
    struct addrinfo hints = {0}, *res;
    const char *colon = strrchr(addr, ':');
    size_t hn;

    if (colon == NULL || (hn = (size_t)(colon - addr)) >= sizeof(host))
        return err_set(err, "listen %s: not host:port", addr);
    memcpy(host, addr, hn);
    host[hn] = '\0';
    port = (char *)colon + 1;
    if (hn >= 2 && host[0] == '[') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return err_set(err, "listen %s: cannot resolve", addr);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static struct evconnlistener *bind_one(struct worker *w, const char *addr, int reuseport,
                                       struct err *err)
{
    struct sockaddr_storage ss;
    int len = 0;
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
    struct evconnlistener *l;

    if (resolve(addr, &ss, &len, err))
        return NULL;
    if (reuseport)
        flags |= LEV_OPT_REUSEABLE_PORT;
    l = evconnlistener_new_bind(w->base, on_accept, w, flags, SERVER_BACKLOG,
                                (struct sockaddr *)&ss, len);
    if (l == NULL) {
        err_set(err, "listen %s: %s", addr, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return NULL;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    return l;
}

static void worker_on_stop(evutil_socket_t fd, short what, void *arg);

struct expiry {
    struct worker *w;
    struct gen *g;
    uint64_t now;
};

static void on_session_expired(void *arg, const char *tenant, const char *label,
                               struct journey_state *st)
{
    struct expiry *x = arg;
    const struct conf_tenant *t = conf_tenant_by_id(x->g->conf, tenant);

    if (t != NULL)
        request_expired_session(x->w, x->g, t, label, st, x->now);
}

/* Sessions idle past their journey's abandon_after: their abandonment is
 * recorded and sealed like any request's records (on worker 0, so the job
 * belongs to a worker that answers it). */
static void worker_on_expire(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct server *s = w->srv;
    struct expiry x = {w, server_gen(s), server_now_ms()};

    (void)fd;
    (void)what;
    if (!w->draining) {
        pthread_mutex_lock(&s->sessions_lock);
        session_table_expire(s->sessions, x.now, on_session_expired, &x);
        server_session_gauges(s);
        pthread_mutex_unlock(&s->sessions_lock);
    }
    gen_unref(x.g);
}
static void worker_on_drain_timeout(evutil_socket_t fd, short what, void *arg);

static int worker_init(struct server *s, struct worker *w, unsigned index, struct err *err)
{
    const struct config *c = s->gen->conf;
    const struct conf_limits *l = &c->limits;
    struct upstream_options uo;

    upstream_options_init(&uo);
    uo.connect_timeout_ms = l->upstream_connect_timeout_ms;
    uo.timeout_ms = l->upstream_timeout_ms;
    uo.retries = l->upstream_retries;
    uo.max_host_connections = l->upstream_connections;
    uo.version = SCRIM_VERSION;
    w->srv = s;
    w->index = index;
    pthread_mutex_init(&w->lock, NULL);
    w->base = event_base_new();
    if (w->base == NULL)
        return err_set(err, "cannot make an event base");
    w->wake = event_new(w->base, -1, 0, worker_on_wake, w);
    w->stop = event_new(w->base, -1, 0, worker_on_stop, w);
    w->drain_timer = evtimer_new(w->base, worker_on_drain_timeout, w);
    w->resume_timer = evtimer_new(w->base, worker_on_resume, w);
    if ((w->up = upstream_new(w->base, &uo, err)) == NULL)
        return -1;
    for (size_t i = 0; i < c->nlisten && i < SERVER_LISTEN_MAX; i++) {
        w->listeners[i] = bind_one(w, c->listen[i].addr, 1, err);
        if (w->listeners[i] == NULL)
            return -1;
        w->tls[i] = s->tls[i];
        w->nlisteners++;
    }
    if (index == 0 && c->admin != NULL && (w->admin = bind_one(w, c->admin, 0, err)) == NULL)
        return -1;
    if (index == 0) {
        struct timeval second = {1, 0};
        w->expire_timer = event_new(w->base, -1, EV_PERSIST, worker_on_expire, w);
        event_add(w->expire_timer, &second);
    }
    return 0;
}

static void worker_fini(struct worker *w)
{
    struct conn *c, *next;

    if (w->base == NULL)
        return;
    for (c = w->conns; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    for (size_t i = 0; i < w->nlisteners; i++)
        evconnlistener_free(w->listeners[i]);
    if (w->admin)
        evconnlistener_free(w->admin);
    upstream_free(w->up);
    worker_scanners_free(w);
    while (w->narenas > 0)
        arena_free(w->arenas[--w->narenas]);
    event_free(w->wake);
    event_free(w->stop);
    event_free(w->drain_timer);
    event_free(w->resume_timer);
    if (w->expire_timer)
        event_free(w->expire_timer);
    event_base_free(w->base);
    pthread_mutex_destroy(&w->lock);
    w->base = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void worker_on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct gen *g = server_gen(w->srv);
    unsigned ms = g->conf->limits.drain_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    (void)fd;
    (void)what;
    gen_unref(g);
    w->draining = 1;
    /* Closed, not disabled: new connections are refused, not left hanging. */
    for (size_t i = 0; i < w->nlisteners; i++)
        evconnlistener_free(w->listeners[i]);
    w->nlisteners = 0;
    conn_close_idle(w);
    evtimer_add(w->drain_timer, &tv);
    worker_maybe_exit(w);
}

/* Past drain_timeout: what is still in flight is abandoned unanswered. */
static void worker_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    log_warn("worker %u: drain timeout with %zu connections and %zu requests in flight", w->index,
             w->nconns, w->jobs);
    event_base_loopexit(w->base, NULL);
}

static int open_tls(struct server *s, const struct config *c, struct err *err)
{
    if (c->nlisten > SERVER_LISTEN_MAX)
        return err_set(err, "at most %d listeners", SERVER_LISTEN_MAX);
    for (size_t i = 0; i < c->nlisten; i++)
        if (c->listen[i].tls_cert != NULL &&
            (s->tls[i] = tls_server_ctx(c->listen[i].tls_cert, c->listen[i].tls_key, err)) == NULL)
            return -1;
    return 0;
}

static unsigned worker_count(const struct config *c)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (c->workers > 0)
        return c->workers;
    return n > 0 ? (unsigned)n : 1;
}

/* Store, audit log, spool and the two threads that own them. */
static int open_backends(struct server *s, const struct config *c, struct err *err)
{
    const struct conf_limits *l = &c->limits;
    struct upstream_options uo;

    /* One attempt per try: the drain loop does its own backoff. */
    upstream_options_init(&uo);
    uo.connect_timeout_ms = l->upstream_connect_timeout_ms;
    uo.timeout_ms = l->upstream_timeout_ms;
    uo.retries = 0;
    uo.version = SCRIM_VERSION;
    s->persist = persist_open(c, (int64_t)server_now_ms(), err);
    if (s->persist == NULL)
        return -1;
    if (c->spool.dir != NULL) {
        if ((s->spool = spool_open(c->spool.dir, c->spool.max_bytes, err)) == NULL ||
            (s->drain = drain_start(s->spool, &uo, err)) == NULL)
            return -1;
        metrics_gauge_set(METRICS_SPOOL_ITEMS, (int64_t)spool_items(s->spool));
        metrics_gauge_set(METRICS_SPOOL_BYTES, (int64_t)spool_bytes(s->spool));
    }
    s->durable = durable_start(s->persist, s->spool, s->drain, c->storage.commit_interval_ms, err);
    return s->durable ? 0 : -1;
}

void server_session_gauges(struct server *s)
{
    struct session_stats st;

    session_table_stats(s->sessions, &st);
    metrics_gauge_set(METRICS_NODEMAP_ENTRIES, (int64_t)st.entries);
    metrics_gauge_set(METRICS_NODEMAP_SESSIONS, (int64_t)st.sessions);
    if (st.evictions > s->evictions_seen) {
        metrics_counter_add(METRICS_NODEMAP_EVICTIONS, st.evictions - s->evictions_seen);
        s->evictions_seen = st.evictions;
    }
}

static struct session_table *sessions_new(const struct config *c)
{
    uint8_t key[16];
    struct session_table *t;

    randombytes_buf(key, sizeof(key));
    t = session_table_new(c->limits.session_entries, c->limits.total_entries, key);
    sodium_memzero(key, sizeof(key));
    return t;
}

struct server *server_start(struct gen *g, struct err *err)
{
    struct server *s = xcalloc(1, sizeof(*s));
    const struct config *c = g->conf;

    pthread_mutex_init(&s->gen_lock, NULL);
    pthread_mutex_init(&s->sessions_lock, NULL);
    if ((s->sessions = sessions_new(c)) == NULL) {
        err_set(err, "limits.session_entries, total_entries: out of range");
        goto fail;
    }
    gen_ref(g);
    s->gen = g;
    s->conns = limit_conn_new(c->limits.max_connections, c->limits.max_connections_per_ip);
    s->rate = limit_rate_new();
    s->inflight = limit_bytes_new(c->limits.inflight_max);
    s->last_sweep_ms = 0;
    metrics_gauge_set(METRICS_CONFIG_GENERATION, (int64_t)g->number);
    if (open_tls(s, c, err) || open_backends(s, c, err))
        goto fail;
    s->nworkers = worker_count(c);
    s->workers = xcalloc(s->nworkers, sizeof(*s->workers));
    for (unsigned i = 0; i < s->nworkers; i++)
        if (worker_init(s, &s->workers[i], i, err))
            goto fail;
    for (unsigned i = 0; i < s->nworkers; i++)
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            err_set(err, "cannot start worker %u", i);
            s->nworkers = i; /* the started ones are stopped by the drain */
            server_drain(s);
            server_free(s);
            return NULL;
        }
    return s;
fail:
    server_free(s);
    return NULL;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* What the running threads were built from cannot change under them. */
static int reloadable(const struct config *old, const struct config *c, struct err *err)
{
    if (old->nlisten != c->nlisten)
        return err_set(err, "listen: changing listeners needs a restart");
    for (size_t i = 0; i < c->nlisten; i++)
        if (!same_str(old->listen[i].addr, c->listen[i].addr) ||
            !same_str(old->listen[i].tls_cert, c->listen[i].tls_cert) ||
            !same_str(old->listen[i].tls_key, c->listen[i].tls_key))
            return err_set(err, "listen: changing listeners needs a restart");
    if (!same_str(old->admin, c->admin) || old->workers != c->workers)
        return err_set(err, "admin, workers: changing them needs a restart");
    if (!same_str(old->storage.dir, c->storage.dir) || !same_str(old->audit.dir, c->audit.dir) ||
        !same_str(old->audit.signing_key, c->audit.signing_key) ||
        !same_str(old->spool.dir, c->spool.dir))
        return err_set(err, "storage, audit, spool: changing them needs a restart");
    return 0;
}

struct rebind {
    const struct config *conf;
    struct err *err;
};

static int rebind_on_durable(void *arg, struct persist *p)
{
    struct rebind *r = arg;

    return persist_rebind(p, r->conf, r->err);
}

int server_reload(struct server *s, struct gen *g, struct err *err)
{
    struct rebind rb = {g->conf, err};
    struct gen *old;

    if (reloadable(s->gen->conf, g->conf, err) || durable_call(s->durable, rebind_on_durable, &rb))
        return -1;
    gen_ref(g);
    pthread_mutex_lock(&s->gen_lock);
    old = s->gen;
    s->gen = g;
    pthread_mutex_unlock(&s->gen_lock);
    if (limit_conn_set_caps(s->conns, g->conf->limits.max_connections,
                            g->conf->limits.max_connections_per_ip, err) != 0)
        log_warn("reload: connection caps unchanged: %s", err->msg);
    limit_bytes_set_max(s->inflight, g->conf->limits.inflight_max);
    metrics_gauge_set(METRICS_CONFIG_GENERATION, (int64_t)g->number);
    gen_unref(old);
    return 0;
}

struct tick {
    struct server *s;
    uint64_t now;
};

static int tick_on_durable(void *arg, struct persist *p)
{
    struct tick *t = arg;
    struct err err = {0};
    unsigned days = 0;

    if (persist_tick(p, (int64_t)t->now, &err) != 0)
        log_error("checkpoint: %s", err.msg);
    if (t->now - t->s->last_sweep_ms >= SWEEP_EVERY_MS) {
        t->s->last_sweep_ms = t->now;
        if (persist_sweep(p, (int64_t)t->now, &days, &err) != 0)
            log_error("retention: %s", err.msg);
        else if (days > 0)
            log_info("retention: deleted %u days past their tenants' retention_days", days);
    }
    return 0;
}

void server_tick(struct server *s)
{
    struct tick t = {s, server_now_ms()};

    durable_call(s->durable, tick_on_durable, &t);
    if (s->spool) {
        metrics_gauge_set(METRICS_SPOOL_ITEMS, (int64_t)spool_items(s->spool));
        metrics_gauge_set(METRICS_SPOOL_BYTES, (int64_t)spool_bytes(s->spool));
    }
}

/* Jobs the durability thread answered after their worker stopped. */
static void worker_drop_done(struct worker *w)
{
    struct job *j = w->done;

    w->done = NULL;
    while (j) {
        struct job *next = j->next;
        if (j->conn)
            j->conn->job = NULL;
        job_free(j);
        j = next;
    }
}

int server_drain(struct server *s)
{
    int clean = 1;
    struct err err = {0};

    __atomic_store_n(&s->draining, 1, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < s->nworkers; i++)
        event_active(s->workers[i].stop, EV_READ, 0);
    for (unsigned i = s->nworkers; i-- > 0;) {
        if (i == 0) { /* the admin's worker, once every other one stopped */
            __atomic_store_n(&s->others_stopped, 1, __ATOMIC_RELEASE);
            event_active(s->workers[0].wake, EV_READ, 0);
        }
        pthread_join(s->workers[i].thread, NULL);
        if (s->workers[i].nconns > 0 || s->workers[i].jobs > 0)
            clean = 0;
    }
    durable_stop(s->durable);
    s->durable = NULL;
    drain_stop(s->drain);
    s->drain = NULL;
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker_drop_done(&s->workers[i]);
        worker_fini(&s->workers[i]);
    }
    s->nworkers = 0;
    if (persist_close(s->persist, (int64_t)server_now_ms(), &err) != 0) {
        log_error("close: %s", err.msg);
        clean = 0;
    }
    s->persist = NULL;
    return clean ? 0 : -1;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    durable_stop(s->durable);
    drain_stop(s->drain);
    for (unsigned i = 0; i < s->nworkers; i++)
        worker_fini(&s->workers[i]);
    xfree(s->workers);
    persist_close(s->persist, (int64_t)server_now_ms(), NULL);
    spool_close(s->spool);
    for (size_t i = 0; i < SERVER_LISTEN_MAX; i++)
        SSL_CTX_free(s->tls[i]);
    limit_conn_free(s->conns);
    limit_rate_free(s->rate);
    limit_bytes_free(s->inflight);
    gen_unref(s->gen);
    session_table_free(s->sessions);
    pthread_mutex_destroy(&s->sessions_lock);
    pthread_mutex_destroy(&s->gen_lock);
    xfree(s);
}
