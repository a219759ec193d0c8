#include "persist.h"

#include "common/mem.h"
#include "crypto/auditlog.h"
#include "crypto/keys.h"
#include "crypto/note.h"
#include "proxy/store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

struct tenant_state {
    const struct conf_tenant *tenant; /* NULL: gone from the config after a reload */
    char id[65];
    struct keys_public pk; /* the tenant's current public key */
    struct auditlog *log;  /* opened on first use; kept across reloads */
    int dirty;             /* audit entries added since the last commit */
};

struct persist {
    const struct config *conf;
    struct store *store;
    struct note_signer *signer;
    struct tenant_state *tenants;
    size_t ntenants;
    int store_dirty;
};

/* By id, not pointer: a reload makes new conf_tenant structs. */
static struct tenant_state *tenant_state(struct persist *p, const struct conf_tenant *t)
{
    for (size_t i = 0; i < p->ntenants; i++)
        if (p->tenants[i].tenant != NULL && strcmp(p->tenants[i].id, t->id) == 0)
            return &p->tenants[i];
    return NULL;
}

/* Every listed public key must load, so a rotation typo fails at start. */
static int load_public_keys(struct persist *p, struct err *err)
{
    for (size_t i = 0; i < p->ntenants; i++) {
        const struct conf_tenant *t = p->tenants[i].tenant;
        struct keys_public other;
        if (t->npublic_keys == 0)
            return err_set(err, "tenant %s: storage needs public_keys", t->id);
        if (keys_load_public(t->public_keys[0], &p->tenants[i].pk, err))
            return -1;
        for (size_t k = 1; k < t->npublic_keys; k++)
            if (keys_load_public(t->public_keys[k], &other, err))
                return -1;
    }
    return 0;
}

static int load_signer(struct persist *p, struct err *err)
{
    char path[4096];
    const char *key = p->conf->audit.signing_key;

    if (key == NULL) {
        if (snprintf(path, sizeof(path), "%s/audit.key", p->conf->audit.dir) >= (int)sizeof(path))
            return err_set(err, "audit.dir too long");
        key = path;
    }
    p->signer = note_signer_load(key, err);
    return p->signer ? 0 : -1;
}

struct persist *persist_open(const struct config *c, int64_t now_ms, struct err *err)
{
    struct persist *p = xcalloc(1, sizeof(*p));

    (void)now_ms;
    p->conf = c;
    p->ntenants = c->ntenants;
    p->tenants = xcalloc(c->ntenants ? c->ntenants : 1, sizeof(*p->tenants));
    for (size_t i = 0; i < c->ntenants; i++) {
        p->tenants[i].tenant = &c->tenants[i];
        snprintf(p->tenants[i].id, sizeof(p->tenants[i].id), "%s", c->tenants[i].id);
    }
    if (c->storage.dir != NULL &&
        (load_public_keys(p, err) ||
         (p->store = store_open(c->storage.dir, c->storage.segment_max_bytes,
                                c->storage.segment_max_age_s, err)) == NULL))
        goto fail;
    if (c->audit.dir != NULL && load_signer(p, err))
        goto fail;
    return p;
fail:
    persist_close(p, now_ms, NULL);
    return NULL;
}

static struct auditlog *tenant_log(struct persist *p, struct tenant_state *ts, int64_t now_ms,
                                   struct err *err)
{
    struct auditlog_options o = {p->signer, p->conf->audit.origin,
                                 p->conf->audit.checkpoint_entries,
                                 (int64_t)p->conf->audit.checkpoint_seconds * 1000, now_ms};

    if (ts->log == NULL)
        ts->log = auditlog_open(p->conf->audit.dir, ts->id, &o, err);
    return ts->log;
}

/* Seal each record line of the batch, then make them durable. */
static int store_records(struct persist *p, struct tenant_state *ts, const struct buf *records,
                         int64_t now_ms, struct err *err)
{
    const char *line = records->data, *end = records->data + records->len;

    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (n > 0 &&
            store_append(p->store, ts->tenant->id, &ts->pk, line, n, (uint64_t)now_ms, err))
            return -1;
        line += n + 1;
    }
    p->store_dirty = 1;
    return 0;
}

static enum auditlog_outcome outcome_of(const struct persist_event *ev)
{
    if (ev->status != REDACT_OK || ev->dropped != NULL)
        return AUDITLOG_DROPPED;
    if (ev->spooled)
        return AUDITLOG_SPOOLED;
    return ev->forwarded ? AUDITLOG_FORWARDED : AUDITLOG_STORED;
}

static int audit_entry(struct persist *p, struct tenant_state *ts, const struct persist_event *ev,
                       int64_t now_ms, struct err *err)
{
    struct auditlog_rule rules[AUDITLOG_RULES_MAX];
    struct auditlog_entry e;
    struct auditlog *log = tenant_log(p, ts, now_ms, err);
    const struct redact_report *r = ev->report;
    uint8_t raw[8];
    char rid[17];
    size_t n = 0;

    if (log == NULL)
        return -1;
    for (size_t i = 0; r != NULL && i < r->nrules && n < AUDITLOG_RULES_MAX; i++)
        if (r->rules[i].count > 0)
            rules[n++] = (struct auditlog_rule){r->rules[i].id, action_name(r->rules[i].action),
                                                r->rules[i].count};
    /* scrim's own request id: a client value never reaches the log */
    if (ev->request_id != NULL && strlen(ev->request_id) == 16) {
        memcpy(rid, ev->request_id, sizeof(rid));
    } else {
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(rid, sizeof(rid), raw, sizeof(raw));
    }
    memset(&e, 0, sizeof(e));
    e = (struct auditlog_entry){0,
                                now_ms,
                                rid,
                                ev->route,
                                format_name(ev->format),
                                outcome_of(ev),
                                ev->status != REDACT_OK ? redact_status_name(ev->status)
                                                        : ev->dropped,
                                rules,
                                n,
                                r ? r->bytes_in : 0,
                                r && outcome_of(ev) != AUDITLOG_DROPPED ? r->bytes_out : 0};
    if (auditlog_append_nosync(log, &e, err))
        return -1;
    ts->dirty = 1;
    return 0;
}

int persist_add(struct persist *p, const struct persist_event *ev, int64_t now_ms, struct err *err)
{
    struct tenant_state *ts = tenant_state(p, ev->tenant);

    if (ts == NULL)
        return err_set(err, "tenant not in this config generation");
    if (p->store != NULL && ev->status == REDACT_OK && ev->dropped == NULL && ev->records != NULL &&
        store_records(p, ts, ev->records, now_ms, err))
        return -1;
    if (p->signer != NULL && audit_entry(p, ts, ev, now_ms, err))
        return -1;
    return 0;
}

int persist_commit_store(struct persist *p, int64_t now_ms, struct err *err)
{
    if (p->store == NULL || !p->store_dirty)
        return 0;
    p->store_dirty = 0;
    return store_commit(p->store, (uint64_t)now_ms, err);
}

/* Every touched log is synced even after one fails, so no log is left with
 * a half-synced batch that a later commit would silently acknowledge. */
int persist_commit_audit(struct persist *p, int64_t now_ms, struct err *err)
{
    int r = 0;

    for (size_t i = 0; i < p->ntenants; i++) {
        struct tenant_state *ts = &p->tenants[i];
        if (ts->log == NULL || !ts->dirty)
            continue;
        ts->dirty = 0;
        if (auditlog_sync(ts->log, err) || (auditlog_should_checkpoint(ts->log, now_ms) &&
                                            auditlog_checkpoint(ts->log, now_ms, err)))
            r = -1;
    }
    return r;
}

int persist_commit(struct persist *p, int64_t now_ms, struct err *err)
{
    int r = persist_commit_store(p, now_ms, err);

    return persist_commit_audit(p, now_ms, err) || r ? -1 : 0;
}

int persist_request(struct persist *p, const struct persist_event *ev, int64_t now_ms,
                    struct err *err)
{
    int r = persist_add(p, ev, now_ms, err);

    /* Commit even after a failed add, so the batch is not left half-buffered. */
    if (persist_commit(p, now_ms, r ? NULL : err) != 0)
        r = -1;
    return r;
}

int persist_tick(struct persist *p, int64_t now_ms, struct err *err)
{
    int r = 0;

    if (p->store != NULL && store_tick(p->store, (uint64_t)now_ms, err))
        r = -1;
    for (size_t i = 0; i < p->ntenants; i++)
        if (p->tenants[i].log != NULL && auditlog_should_checkpoint(p->tenants[i].log, now_ms) &&
            auditlog_checkpoint(p->tenants[i].log, now_ms, err))
            r = -1;
    return r;
}

static struct tenant_state *state_by_id(struct persist *p, const char *id)
{
    for (size_t i = 0; i < p->ntenants; i++)
        if (strcmp(p->tenants[i].id, id) == 0)
            return &p->tenants[i];
    return NULL;
}

/* New tenants get a slot; old ones keep their open log; removed ones keep
 * their slot (tenant NULL) so the log is closed cleanly at the end. */
int persist_rebind(struct persist *p, const struct config *c, struct err *err)
{
    struct keys_public *pks = xcalloc(c->ntenants ? c->ntenants : 1, sizeof(*pks));
    size_t extra = 0;

    for (size_t i = 0; i < c->ntenants; i++) {
        if (p->store != NULL && (c->tenants[i].npublic_keys == 0 ||
                                 keys_load_public(c->tenants[i].public_keys[0], &pks[i], err))) {
            if (c->tenants[i].npublic_keys == 0)
                err_set(err, "tenant %s: storage needs public_keys", c->tenants[i].id);
            xfree(pks);
            return -1;
        }
        if (state_by_id(p, c->tenants[i].id) == NULL)
            extra++;
    }
    p->tenants = xrealloc(p->tenants, (p->ntenants + extra + 1) * sizeof(*p->tenants));
    for (size_t i = 0; i < p->ntenants; i++)
        p->tenants[i].tenant = NULL;
    for (size_t i = 0; i < c->ntenants; i++) {
        struct tenant_state *ts = state_by_id(p, c->tenants[i].id);
        if (ts == NULL) {
            ts = &p->tenants[p->ntenants++];
            memset(ts, 0, sizeof(*ts));
            snprintf(ts->id, sizeof(ts->id), "%s", c->tenants[i].id);
        }
        ts->tenant = &c->tenants[i];
        ts->pk = pks[i];
    }
    p->conf = c;
    xfree(pks);
    return 0;
}

struct sweep_ctx {
    struct persist *p;
    struct tenant_state *ts;
    int64_t now_ms;
    unsigned days;
    int failed;
};

static void sweep_day(void *arg, const char *tenant, const char *day, unsigned segments)
{
    struct sweep_ctx *sc = arg;
    struct err err = {0};
    struct auditlog *log;

    (void)tenant;
    (void)segments;
    sc->days++;
    if (sc->p->signer == NULL)
        return;
    log = tenant_log(sc->p, sc->ts, sc->now_ms, &err);
    if (log == NULL || auditlog_append_retention(log, sc->now_ms, day, &err) != 0)
        sc->failed = 1;
}

int persist_sweep(struct persist *p, int64_t now_ms, unsigned *days, struct err *err)
{
    struct sweep_ctx sc = {p, NULL, now_ms, 0, 0};
    int r = 0;

    for (size_t i = 0; p->store != NULL && i < p->ntenants; i++) {
        struct tenant_state *ts = &p->tenants[i];
        if (ts->tenant == NULL || ts->tenant->retention_days == 0)
            continue;
        sc.ts = ts;
        if (store_sweep(p->store, ts->id, ts->tenant->retention_days, (uint64_t)now_ms, sweep_day,
                        &sc, err))
            r = -1;
    }
    if (sc.failed)
        r = err_set(err, "retention: an audit entry could not be written");
    *days = sc.days;
    return r;
}

int persist_close(struct persist *p, int64_t now_ms, struct err *err)
{
    int r = 0;

    if (p == NULL)
        return 0;
    for (size_t i = 0; i < p->ntenants; i++)
        if (p->tenants[i].log != NULL && auditlog_close(p->tenants[i].log, now_ms, err))
            r = -1;
    if (p->store != NULL && store_close(p->store, err))
        r = -1;
    note_signer_free(p->signer);
    sodium_memzero(p->tenants, p->ntenants * sizeof(*p->tenants));
    xfree(p->tenants);
    xfree(p);
    return r;
}
