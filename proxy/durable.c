#include "durable.h"

#include "common/log.h"
#include "common/mem.h"
#include "proxy/drain.h"
#include "proxy/metrics.h"
#include "proxy/server_impl.h"
#include "proxy/spool.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

struct call {
    int (*fn)(void *arg, struct persist *p);
    void *arg;
    int done, rc;
};

struct durable {
    struct persist *persist;
    struct spool *spool;
    struct drain *drain;
    unsigned window_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond, call_done;
    struct job *head, **tail;
    struct call *call;
    int stopping;
    /* The audit logs' half of each commit runs here, beside the store's. */
    pthread_t syncer;
    pthread_mutex_t slock;
    pthread_cond_t scond;
    int sync_req, sync_done, sync_rc, syncer_stop;
    int64_t sync_now;
};

static void syncer_stop(struct durable *d);

static void *syncer_main(void *arg)
{
    struct durable *d = arg;

    pthread_mutex_lock(&d->slock);
    for (;;) {
        struct err err = {0};
        int rc;
        while (!d->sync_req && !d->syncer_stop)
            pthread_cond_wait(&d->scond, &d->slock);
        if (!d->sync_req)
            break;
        d->sync_req = 0;
        pthread_mutex_unlock(&d->slock);
        rc = persist_commit_audit(d->persist, d->sync_now, &err);
        if (rc != 0)
            log_error("audit: commit failed: %s", err.msg);
        pthread_mutex_lock(&d->slock);
        d->sync_rc = rc;
        d->sync_done = 1;
        pthread_cond_broadcast(&d->scond);
    }
    pthread_mutex_unlock(&d->slock);
    return NULL;
}

/* The store's fsync here, the audit logs' on the syncer, at the same time. */
static int commit_both(struct durable *d, int64_t now)
{
    struct err err = {0};
    int rs, ra;

    pthread_mutex_lock(&d->slock);
    d->sync_now = now;
    d->sync_done = 0;
    d->sync_req = 1;
    pthread_cond_broadcast(&d->scond);
    pthread_mutex_unlock(&d->slock);
    rs = persist_commit_store(d->persist, now, &err);
    if (rs != 0)
        log_error("store: commit failed: %s", err.msg);
    pthread_mutex_lock(&d->slock);
    while (!d->sync_done)
        pthread_cond_wait(&d->scond, &d->slock);
    ra = d->sync_rc;
    pthread_mutex_unlock(&d->slock);
    return rs || ra ? -1 : 0;
}

static void spool_job(struct durable *d, struct job *j, int *spooled)
{
    struct spool_item it = {0};
    struct err err = {0};
    uint64_t seq;
    enum spool_result r;

    if (d->spool == NULL) {
        j->spool_full = 1;
        return;
    }
    it.url = j->up_url;
    it.content_type = j->up_type;
    it.headers = "";
    it.request_id = j->rid;
    it.tenant = j->tenant->id;
    it.body = j->out.data;
    it.body_len = j->out.len;
    r = spool_put(d->spool, &it, &seq, &err);
    if (r == SPOOL_FULL)
        j->spool_full = 1;
    else if (r != SPOOL_OK) {
        log_error("spool: %s", err.msg);
        j->failed = 1;
    } else
        *spooled = 1;
}

static void add_job(struct durable *d, struct job *j, int64_t now_ms)
{
    struct persist_event ev;
    struct err err = {0};

    memset(&ev, 0, sizeof(ev));
    ev.tenant = j->tenant;
    ev.route = j->route->path;
    ev.format = j->route->format;
    ev.status = j->st;
    ev.report = &j->rep;
    ev.records = &j->records;
    ev.forwarded = j->forwarded;
    ev.spooled = j->want_spool && !j->spool_full && !j->failed;
    ev.request_id = j->rid;
    if (j->st == REDACT_OK && j->want_spool && j->spool_full)
        ev.dropped = d->spool ? "spool_full" : "upstream";
    if (persist_add(d->persist, &ev, now_ms, &err) != 0) {
        log_error("persist: %s", err.msg);
        j->failed = 1;
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Spool, append, commit once, hand back. */
static void run_batch(struct durable *d, struct job *batch)
{
    int64_t now = wall_ms();
    int spooled = 0, failed = 0;
    struct err err = {0};

    for (struct job *j = batch; j; j = j->next)
        if (j->st == REDACT_OK && j->want_spool)
            spool_job(d, j, &spooled);
    if (spooled && spool_sync(d->spool, &err) != 0) {
        log_error("spool: %s", err.msg);
        failed = 1;
    }
    for (struct job *j = batch; j; j = j->next)
        add_job(d, j, now);
    if (commit_both(d, now) != 0)
        failed = 1;
    metrics_counter_add(METRICS_STORE_COMMITS, 1);
    while (batch) {
        struct job *next = batch->next;
        if (failed)
            batch->failed = 1;
        batch->next = NULL;
        worker_post_done(batch->w, batch);
        batch = next;
    }
    if (spooled) {
        metrics_gauge_set(METRICS_SPOOL_ITEMS, (int64_t)spool_items(d->spool));
        metrics_gauge_set(METRICS_SPOOL_BYTES, (int64_t)spool_bytes(d->spool));
        if (d->drain)
            drain_wake(d->drain);
    }
}

static void run_call(struct durable *d)
{
    struct call *c = d->call;

    pthread_mutex_unlock(&d->lock);
    c->rc = c->fn(c->arg, d->persist);
    pthread_mutex_lock(&d->lock);
    c->done = 1;
    d->call = NULL;
    pthread_cond_broadcast(&d->call_done);
}

static void window_wait(struct durable *d)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)d->window_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    while (!d->stopping && pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
        ;
}

static void *durable_main(void *arg)
{
    struct durable *d = arg;

    pthread_mutex_lock(&d->lock);
    for (;;) {
        struct job *batch;
        while (d->head == NULL && d->call == NULL && !d->stopping)
            pthread_cond_wait(&d->cond, &d->lock);
        if (d->call != NULL) {
            run_call(d);
            continue;
        }
        if (d->head == NULL && d->stopping)
            break;
        if (d->window_ms > 0 && !d->stopping)
            window_wait(d);
        batch = d->head;
        d->head = NULL;
        d->tail = &d->head;
        pthread_mutex_unlock(&d->lock);
        run_batch(d, batch);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

struct durable *durable_start(struct persist *p, struct spool *sp, struct drain *dr,
                              unsigned commit_interval_ms, struct err *err)
{
    struct durable *d = xcalloc(1, sizeof(*d));

    d->persist = p;
    d->spool = sp;
    d->drain = dr;
    d->window_ms = commit_interval_ms;
    d->tail = &d->head;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_cond_init(&d->call_done, NULL);
    pthread_mutex_init(&d->slock, NULL);
    pthread_cond_init(&d->scond, NULL);
    if (pthread_create(&d->syncer, NULL, syncer_main, d) != 0) {
        xfree(d);
        err_set(err, "cannot start the audit sync thread");
        return NULL;
    }
    if (pthread_create(&d->thread, NULL, durable_main, d) != 0) {
        syncer_stop(d);
        xfree(d);
        err_set(err, "cannot start the durability thread");
        return NULL;
    }
    return d;
}

void durable_submit(struct durable *d, struct job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&d->lock);
    *d->tail = j;
    d->tail = &j->next;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

int durable_call(struct durable *d, int (*fn)(void *arg, struct persist *p), void *arg)
{
    struct call c = {fn, arg, 0, 0};

    pthread_mutex_lock(&d->lock);
    while (d->call != NULL)
        pthread_cond_wait(&d->call_done, &d->lock);
    d->call = &c;
    pthread_cond_signal(&d->cond);
    while (!c.done)
        pthread_cond_wait(&d->call_done, &d->lock);
    pthread_mutex_unlock(&d->lock);
    return c.rc;
}

static void syncer_stop(struct durable *d)
{
    pthread_mutex_lock(&d->slock);
    d->syncer_stop = 1;
    pthread_cond_broadcast(&d->scond);
    pthread_mutex_unlock(&d->slock);
    pthread_join(d->syncer, NULL);
    pthread_cond_destroy(&d->scond);
    pthread_mutex_destroy(&d->slock);
}

void durable_stop(struct durable *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    syncer_stop(d);
    pthread_cond_destroy(&d->cond);
    pthread_cond_destroy(&d->call_done);
    pthread_mutex_destroy(&d->lock);
    xfree(d);
}
