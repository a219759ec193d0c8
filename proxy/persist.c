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
    const struct conf_tenant *tenant;
    struct keys_public pk; /* the tenant's current public key */
    struct auditlog *log;  /* opened on first use */
};

struct persist {
    const struct config *conf;
    struct store *store;
    struct note_signer *signer;
    struct tenant_state *tenants;
    size_t ntenants;
};

static struct tenant_state *tenant_state(struct persist *p, const struct conf_tenant *t)
{
    for (size_t i = 0; i < p->ntenants; i++)
        if (p->tenants[i].tenant == t)
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
    for (size_t i = 0; i < c->ntenants; i++)
        p->tenants[i].tenant = &c->tenants[i];
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
        ts->log = auditlog_open(p->conf->audit.dir, ts->tenant->id, &o, err);
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
    return store_commit(p->store, (uint64_t)now_ms, err);
}

static enum auditlog_outcome outcome_of(const struct persist_event *ev)
{
    if (ev->status != REDACT_OK)
        return AUDITLOG_DROPPED;
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
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(rid, sizeof(rid), raw, sizeof(raw));
    memset(&e, 0, sizeof(e));
    e = (struct auditlog_entry){0,
                                now_ms,
                                rid,
                                ev->route,
                                format_name(ev->format),
                                outcome_of(ev),
                                ev->status == REDACT_OK ? NULL : redact_status_name(ev->status),
                                rules,
                                n,
                                r ? r->bytes_in : 0,
                                r && ev->status == REDACT_OK ? r->bytes_out : 0};
    if (auditlog_append(log, &e, err))
        return -1;
    if (auditlog_should_checkpoint(log, now_ms))
        return auditlog_checkpoint(log, now_ms, err);
    return 0;
}

int persist_request(struct persist *p, const struct persist_event *ev, int64_t now_ms,
                    struct err *err)
{
    struct tenant_state *ts = tenant_state(p, ev->tenant);

    if (ts == NULL)
        return err_set(err, "tenant not in this config generation");
    if (p->store != NULL && ev->status == REDACT_OK && ev->records != NULL &&
        store_records(p, ts, ev->records, now_ms, err))
        return -1;
    if (p->signer != NULL && audit_entry(p, ts, ev, now_ms, err))
        return -1;
    return 0;
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
