/*
 * session: the per-session node map and journey, bounded, in one table.
 *
 * This file holds the table: sessions found by a keyed SipHash of (tenant,
 * session, window) in open addressing with the same backward-shift delete
 * as the node index, least recently used first in a list, and one budget
 * of nodes and bytes for all of them that evicts from that end. A session's
 * node map is in session_node.c.
 */
#include "rules/session.h"

#include <string.h>

#include "common/mem.h"
#include "session_impl.h"

/* ---- hashing ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13) ^ v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17) ^ v[2];
    v[2] = ROTL(v[2], 32);
}

/* SipHash-2-4 (Aumasson and Bernstein, 2012) of p[0..n). */
static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    uint64_t m, b = (uint64_t)n << 56;
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        m = 0;
        for (int k = 7; k >= 0; k--)
            m = m << 8 | p[i + (size_t)k];
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    for (size_t k = 0; i + k < n; k++)
        b |= (uint64_t)p[i + k] << (8 * k);
    v[3] ^= b;
    sip_round(v);
    sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- the table's budget ---- */

static size_t byte_cap(const struct session_table *t)
{
    return t->total_entries * SESSION_BYTES_PER_ENTRY;
}

static int over_budget(const struct session_table *t, size_t nodes, size_t bytes)
{
    return t->nodes_total + t->n + nodes > t->total_entries || t->bytes_total + bytes > byte_cap(t);
}

static void session_free(struct session *s);

/* Evict least recently used sessions other than keep until nodes more
 * nodes and bytes more bytes fit. 0 when they do. */
int session_make_room(struct session_table *t, struct session *keep, size_t nodes, size_t bytes)
{
    while (over_budget(t, nodes, bytes)) {
        struct session *victim = t->oldest;
        if (victim != NULL && victim == keep)
            victim = keep->newer;
        if (victim == NULL)
            return -1;
        t->evictions++;
        session_free(victim);
    }
    return 0;
}

/* ---- a session's journey, expiry and label ---- */

struct journey_state *session_journey(struct session *s)
{
    if (s->journey != NULL)
        return s->journey;
    if (session_make_room(s->t, s, 0, SESSION_JOURNEY_BYTES) ||
        (s->journey = journey_state_new()) == NULL) {
        s->t->overflows++;
        return NULL;
    }
    s->t->bytes_total += SESSION_JOURNEY_BYTES;
    return s->journey;
}

int session_take_expired(struct session *s)
{
    int e = s->expired;

    s->expired = 0;
    return e;
}

void session_set_label(struct session *s, const char *label)
{
    size_t n = strlen(label);

    if (n >= sizeof(s->label))
        n = sizeof(s->label) - 1;
    memcpy(s->label, label, n);
    s->label[n] = '\0';
}

/* ---- sessions ---- */

static void lru_unlink(struct session_table *t, struct session *s)
{
    if (s->newer)
        s->newer->older = s->older;
    else
        t->newest = s->older;
    if (s->older)
        s->older->newer = s->newer;
    else
        t->oldest = s->newer;
    s->newer = s->older = NULL;
}

static void lru_push(struct session_table *t, struct session *s)
{
    s->older = t->newest;
    s->newer = NULL;
    if (t->newest)
        t->newest->newer = s;
    t->newest = s;
    if (t->oldest == NULL)
        t->oldest = s;
}

static size_t sslot_of(const struct session_table *t, uint64_t h)
{
    return (size_t)h & (t->cap - 1);
}

static void slot_delete(struct session_table *t, size_t i)
{
    size_t mask = t->cap - 1, j = i;

    t->slots[i] = NULL;
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (t->slots[j] == NULL)
            return;
        home = sslot_of(t, t->slots[j]->hash);
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        t->slots[i] = t->slots[j];
        t->slots[j] = NULL;
        i = j;
    }
}

static size_t slot_find(const struct session_table *t, uint64_t h, const char *key, size_t klen)
{
    size_t i;

    for (i = sslot_of(t, h); t->slots[i] != NULL; i = (i + 1) & (t->cap - 1)) {
        const struct session *s = t->slots[i];
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            break;
    }
    return i;
}

static void session_free(struct session *s)
{
    struct session_table *t = s->t;
    size_t i = slot_find(t, s->hash, s->key, s->klen);

    if (t->slots[i] == s) {
        slot_delete(t, i);
        t->n--;
    }
    lru_unlink(t, s);
    t->nodes_total -= s->nlive;
    t->bytes_total -= s->pool_cap + (s->journey ? SESSION_JOURNEY_BYTES : 0);
    journey_state_free(s->journey);
    xfree(s->nodes);
    xfree(s->index);
    xfree(s->pool);
    xfree(s->key);
    xfree(s);
}

static int slots_grow(struct session_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct session **slots = xcalloc(cap, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        size_t j;
        if (t->slots[i] == NULL)
            continue;
        for (j = (size_t)t->slots[i]->hash & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
            ;
        slots[j] = t->slots[i];
    }
    xfree(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* tenant, session and window, each with its length first, so no two
 * triples share a key. */
static size_t key_build(const struct session_table *t, const char *sid, size_t sn, const char *wid,
                        size_t wn, char *out)
{
    size_t o = 0;

    out[o++] = (char)t->tn;
    memcpy(out + o, t->tenant, t->tn);
    o += t->tn;
    out[o++] = (char)(sn >> 8);
    out[o++] = (char)sn;
    memcpy(out + o, sid, sn);
    o += sn;
    out[o++] = (char)(wn >> 8);
    out[o++] = (char)wn;
    if (wn)
        memcpy(out + o, wid, wn);
    return o + wn;
}

#define KEY_MAX (1 + SESSION_TENANT_MAX + 2 * (2 + SESSION_ID_MAX))

static struct session *session_new(struct session_table *t, const char *key, size_t klen,
                                   uint64_t h, struct err *err)
{
    struct session *s;

    if (session_make_room(t, NULL, 1, 0)) {
        err_set(err, "session table: no room for a session");
        return NULL;
    }
    if (((t->n + 1) * 2 > t->cap && slots_grow(t)) || (s = xcalloc(1, sizeof(*s))) == NULL) {
        err_set(err, "session table: out of memory");
        return NULL;
    }
    if ((s->key = xmalloc(klen)) == NULL) {
        xfree(s);
        err_set(err, "session table: out of memory");
        return NULL;
    }
    memcpy(s->key, key, klen);
    s->klen = klen;
    s->hash = h;
    s->t = t;
    t->slots[slot_find(t, h, key, klen)] = s;
    t->n++;
    lru_push(t, s);
    return s;
}

static int idle_past(const struct session *s, uint64_t now_ms)
{
    return now_ms != 0 && s->last_ms != 0 && now_ms > s->last_ms &&
           now_ms - s->last_ms > s->idle_ms;
}

struct session *session_get(struct session_table *t, const char *sid, size_t sn, const char *wid,
                            size_t wn, uint64_t idle_ms, uint64_t now_ms, struct err *err)
{
    char key[KEY_MAX];
    size_t klen, i;
    uint64_t h;
    struct session *s;

    if (!t->bound) {
        err_set(err, "session table: no tenant bound");
        return NULL;
    }
    if (sid == NULL || sn == 0 || sn > SESSION_ID_MAX || wn > SESSION_ID_MAX ||
        (wn > 0 && wid == NULL)) {
        err_set(err, "session table: session or window id empty or longer than %d bytes",
                SESSION_ID_MAX);
        return NULL;
    }
    klen = key_build(t, sid, sn, wid, wn, key);
    h = siphash(t->k0, t->k1, (const unsigned char *)key, klen);
    i = t->cap ? slot_find(t, h, key, klen) : 0;
    s = t->cap ? t->slots[i] : NULL;
    if (s == NULL && (s = session_new(t, key, klen, h, err)) == NULL)
        return NULL;
    if (idle_past(s, now_ms)) {
        session_reset(s);
        s->expired = 1;
        t->expirations++;
    }
    lru_unlink(t, s);
    lru_push(t, s);
    s->idle_ms = idle_ms ? idle_ms : SESSION_IDLE_DEFAULT_MS;
    if (now_ms != 0)
        s->last_ms = now_ms;
    return s;
}

/* ---- the table ---- */

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

struct session_table *session_table_new(size_t session_entries, size_t total_entries,
                                        const uint8_t key[16])
{
    struct session_table *t;

    if (session_entries == 0 || total_entries == 0 || session_entries > UINT32_MAX - 1 ||
        total_entries > SIZE_MAX / SESSION_BYTES_PER_ENTRY)
        return NULL;
    if ((t = xcalloc(1, sizeof(*t))) == NULL)
        return NULL;
    t->session_entries = session_entries;
    t->total_entries = total_entries;
    t->k0 = load64(key);
    t->k1 = load64(key + 8);
    return t;
}

void session_table_free(struct session_table *t)
{
    if (t == NULL)
        return;
    while (t->oldest != NULL)
        session_free(t->oldest);
    xfree(t->slots);
    xfree(t);
}

int session_table_bind(struct session_table *t, const char *tenant, size_t tn, const char *fallback,
                       size_t fn)
{
    t->bound = t->has_fallback = 0;
    t->tn = t->fn = 0;
    if (tenant == NULL || tn == 0 || tn > SESSION_TENANT_MAX ||
        (fallback != NULL && (fn == 0 || fn > SESSION_ID_MAX)))
        return -1;
    memcpy(t->tenant, tenant, tn);
    t->tenant[tn] = '\0';
    t->tn = tn;
    t->bound = 1;
    if (fallback != NULL) {
        memcpy(t->fallback, fallback, fn);
        t->fallback[fn] = '\0';
        t->fn = fn;
        t->has_fallback = 1;
    }
    return 0;
}

int session_table_bound(const struct session_table *t)
{
    return t->bound;
}

int session_table_fallback(const struct session_table *t, const char **sid, size_t *n)
{
    if (!t->bound || !t->has_fallback)
        return -1;
    *sid = t->fallback;
    *n = t->fn;
    return 0;
}

void session_table_stats(const struct session_table *t, struct session_stats *out)
{
    out->sessions = t->n;
    out->entries = t->nodes_total;
    out->bytes = t->bytes_total;
    out->evictions = t->evictions;
    out->expirations = t->expirations;
    out->overflows = t->overflows;
}

/* The tenant is the first length-prefixed part of the key. */
static void key_tenant(const struct session *s, char out[SESSION_TENANT_MAX + 1])
{
    size_t n = (unsigned char)s->key[0];

    memcpy(out, s->key + 1, n);
    out[n] = '\0';
}

size_t session_table_expire(struct session_table *t, uint64_t now_ms, session_expired_fn fn,
                            void *ctx)
{
    size_t n = 0;

    while (t->oldest != NULL && idle_past(t->oldest, now_ms)) {
        struct session *s = t->oldest;
        if (fn != NULL) {
            char tenant[SESSION_TENANT_MAX + 1];
            key_tenant(s, tenant);
            fn(ctx, tenant, s->label, s->journey);
        }
        t->expirations++;
        session_free(s);
        n++;
    }
    return n;
}
