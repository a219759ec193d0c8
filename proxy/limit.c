#include "limit.h"

#include "common/mem.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

/* ---- per-tenant rate: token buckets in thousandths of a token ---- */

#define MILLI 1000u

struct rate_entry {
    char *tenant; /* NULL: empty slot */
    uint32_t hash;
    unsigned per_sec, burst;
    uint64_t tokens; /* thousandths, <= burst * MILLI */
    uint64_t last_ms;
};

struct limit_rate {
    pthread_mutex_t mu;
    struct rate_entry *slot;
    size_t cap; /* power of two; n <= cap / 2 */
    size_t n;
};

/* Tenant ids come from the config, not from clients: FNV-1a is enough. */
static uint32_t rate_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

struct limit_rate *limit_rate_new(void)
{
    struct limit_rate *lr = xcalloc(1, sizeof(*lr));

    if (lr == NULL)
        return NULL;
    lr->cap = 16;
    lr->slot = xcalloc(lr->cap, sizeof(*lr->slot));
    if (lr->slot == NULL) {
        xfree(lr);
        return NULL;
    }
    pthread_mutex_init(&lr->mu, NULL);
    return lr;
}

void limit_rate_free(struct limit_rate *lr)
{
    if (lr == NULL)
        return;
    for (size_t i = 0; i < lr->cap; i++)
        xfree(lr->slot[i].tenant);
    xfree(lr->slot);
    pthread_mutex_destroy(&lr->mu);
    xfree(lr);
}

/* The matching slot, or the empty one where tenant would go (linear
 * probing; the table is never more than half full, so one exists). */
static struct rate_entry *rate_slot(struct rate_entry *slot, size_t cap, const char *tenant,
                                    uint32_t h)
{
    size_t i = h & (cap - 1);

    while (slot[i].tenant != NULL && (slot[i].hash != h || strcmp(slot[i].tenant, tenant) != 0))
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* Bring e's bucket up to now at its stored rate. The elapsed time is
 * compared with the time a full refill takes before multiplying, so
 * ms * per_sec cannot overflow however long the tenant was idle. */
static void rate_refill(struct rate_entry *e, uint64_t now_ms)
{
    uint64_t full = (uint64_t)e->burst * MILLI, need, ms;

    if (now_ms <= e->last_ms)
        return;
    ms = now_ms - e->last_ms;
    e->last_ms = now_ms;
    need = full - e->tokens;
    if (ms >= (need + e->per_sec - 1) / e->per_sec)
        e->tokens = full;
    else
        e->tokens += ms * e->per_sec;
}

/* Move the entries of lr into a table of cap slots, leaving out the buckets
 * that are full at now_ms when sweep is set (they hold no state: a new
 * entry starts full). -1 when the table cannot be allocated. */
static int rate_rehash(struct limit_rate *lr, size_t cap, int sweep, uint64_t now_ms)
{
    struct rate_entry *ns = xcalloc(cap, sizeof(*ns));
    size_t n = 0;

    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < lr->cap; i++) {
        struct rate_entry *e = &lr->slot[i];

        if (e->tenant == NULL)
            continue;
        rate_refill(e, now_ms);
        if (sweep && e->tokens == (uint64_t)e->burst * MILLI) {
            xfree(e->tenant);
            continue;
        }
        *rate_slot(ns, cap, e->tenant, e->hash) = *e;
        n++;
    }
    xfree(lr->slot);
    lr->slot = ns;
    lr->cap = cap;
    lr->n = n;
    return 0;
}

/* A new entry with a full bucket in the empty slot for tenant, making room
 * first. NULL when the table is full of buckets in use. */
static struct rate_entry *rate_insert(struct limit_rate *lr, const char *tenant, uint32_t h,
                                      unsigned per_sec, unsigned burst, uint64_t now_ms)
{
    struct rate_entry *e;
    char *copy;

    if (lr->n >= LIMIT_RATE_TENANTS_MAX && rate_rehash(lr, lr->cap, 1, now_ms) != 0)
        return NULL;
    if (lr->n >= LIMIT_RATE_TENANTS_MAX)
        return NULL;
    if ((lr->n + 1) * 2 > lr->cap && rate_rehash(lr, lr->cap * 2, 0, now_ms) != 0)
        return NULL;
    if ((copy = xstrdup(tenant)) == NULL)
        return NULL;
    e = rate_slot(lr->slot, lr->cap, tenant, h);
    *e = (struct rate_entry){copy, h, per_sec, burst, (uint64_t)burst * MILLI, now_ms};
    lr->n++;
    return e;
}

/* Take a token from e (already refilled), or say how long until one is
 * back: ceil(missing / per_sec) ms, rounded up to whole seconds. */
static int rate_take_token(struct rate_entry *e, unsigned *retry_after_s)
{
    uint64_t wait_ms;

    if (e->tokens >= MILLI) {
        e->tokens -= MILLI;
        return 1;
    }
    wait_ms = (MILLI - e->tokens + e->per_sec - 1) / e->per_sec;
    *retry_after_s = (unsigned)((wait_ms + 999) / 1000);
    if (*retry_after_s == 0)
        *retry_after_s = 1;
    return 0;
}

int limit_rate_take(struct limit_rate *lr, const char *tenant, unsigned per_sec, unsigned burst,
                    uint64_t now_ms, unsigned *retry_after_s)
{
    unsigned retry = 1;
    uint32_t h = rate_hash(tenant);
    struct rate_entry *e;
    int ok = 0;

    if (per_sec == 0) {
        if (retry_after_s != NULL)
            *retry_after_s = 0;
        return 1;
    }
    if (burst == 0)
        burst = per_sec;
    pthread_mutex_lock(&lr->mu);
    e = rate_slot(lr->slot, lr->cap, tenant, h);
    if (e->tenant == NULL)
        e = rate_insert(lr, tenant, h, per_sec, burst, now_ms);
    if (e != NULL) {
        rate_refill(e, now_ms);
        if (e->per_sec != per_sec || e->burst != burst) {
            e->per_sec = per_sec;
            e->burst = burst;
            if (e->tokens > (uint64_t)burst * MILLI)
                e->tokens = (uint64_t)burst * MILLI;
        }
        ok = rate_take_token(e, &retry);
    }
    pthread_mutex_unlock(&lr->mu);
    if (retry_after_s != NULL)
        *retry_after_s = ok ? 0 : retry;
    return ok;
}

/* ---- connections: open addressing keyed by IPv4 address or IPv6 /64 ---- */

struct conn_slot {
    uint64_t addr;  /* IPv4 address, or the first 64 bits of the IPv6 one */
    uint32_t count; /* 0: empty slot (no key is kept with no connection) */
    uint8_t fam;    /* 4 or 6 */
};

struct limit_conn {
    pthread_mutex_t mu;
    unsigned char *hkey; /* SipHash key, guarded memory */
    struct conn_slot *slot;
    size_t cap; /* power of two, >= 2 * the largest max_total so far */
    unsigned max_total, max_per_ip;
    unsigned total;
};

/* The address key of sa into *k; 0 when sa is not an IP address. */
static int conn_key(const struct sockaddr *sa, struct conn_slot *k)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *b;

    memset(k, 0, sizeof(*k));
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        k->fam = 4;
        k->addr = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
        return 1;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    if (memcmp(b, mapped, sizeof(mapped)) == 0) {
        k->fam = 4;
        k->addr = (uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 | b[15];
        return 1;
    }
    k->fam = 6;
    k->addr = 0;
    for (int i = 0; i < 8; i++)
        k->addr = k->addr << 8 | b[i];
    return 1;
}

static size_t conn_home(const unsigned char *hkey, const struct conn_slot *k, size_t cap)
{
    unsigned char in[9], out[crypto_shorthash_BYTES];
    uint64_t h = 0;

    in[0] = k->fam;
    for (int i = 0; i < 8; i++)
        in[1 + i] = (unsigned char)(k->addr >> (56 - 8 * i));
    crypto_shorthash(out, in, sizeof(in), hkey);
    for (int i = 0; i < 8; i++)
        h = h << 8 | out[i];
    return (size_t)(h & (cap - 1));
}

/* The slot holding k, or the empty slot where it would go. */
static struct conn_slot *conn_slot_of(const unsigned char *hkey, struct conn_slot *slot, size_t cap,
                                      const struct conn_slot *k)
{
    size_t i = conn_home(hkey, k, cap);

    while (slot[i].count != 0 && (slot[i].fam != k->fam || slot[i].addr != k->addr))
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* Empty slot i and pull later entries of its cluster back, so lookups stay
 * correct with no tombstones (backward-shift deletion; Knuth, TAOCP vol. 3,
 * 6.4, Algorithm R). */
static void conn_delete(struct limit_conn *lc, size_t i)
{
    size_t mask = lc->cap - 1, j = i;

    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (lc->slot[j].count == 0)
            break;
        home = conn_home(lc->hkey, &lc->slot[j], lc->cap);
        /* Entry j may move to i only if its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            lc->slot[i] = lc->slot[j];
            i = j;
        }
    }
    lc->slot[i].count = 0;
}

static size_t conn_cap_for(unsigned max_total)
{
    size_t cap = 16;

    while (cap < (size_t)max_total * 2)
        cap *= 2;
    return cap;
}

/* Move every entry into a table of cap slots. -1 when it cannot be
 * allocated (the old table stays). */
static int conn_rehash(struct limit_conn *lc, size_t cap)
{
    struct conn_slot *ns = xcalloc(cap, sizeof(*ns));

    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < lc->cap; i++)
        if (lc->slot[i].count != 0)
            *conn_slot_of(lc->hkey, ns, cap, &lc->slot[i]) = lc->slot[i];
    xfree(lc->slot);
    lc->slot = ns;
    lc->cap = cap;
    return 0;
}

struct limit_conn *limit_conn_new(unsigned max_total, unsigned max_per_ip)
{
    struct limit_conn *lc;

    if (max_total == 0 || sodium_init() < 0)
        return NULL;
    if ((lc = xcalloc(1, sizeof(*lc))) == NULL)
        return NULL;
    lc->cap = conn_cap_for(max_total);
    lc->slot = xcalloc(lc->cap, sizeof(*lc->slot));
    lc->hkey = sodium_malloc(crypto_shorthash_KEYBYTES);
    if (lc->slot == NULL || lc->hkey == NULL) {
        xfree(lc->slot);
        sodium_free(lc->hkey);
        xfree(lc);
        return NULL;
    }
    randombytes_buf(lc->hkey, crypto_shorthash_KEYBYTES);
    lc->max_total = max_total;
    lc->max_per_ip = max_per_ip;
    pthread_mutex_init(&lc->mu, NULL);
    return lc;
}

void limit_conn_free(struct limit_conn *lc)
{
    if (lc == NULL)
        return;
    sodium_free(lc->hkey); /* wipes the key */
    xfree(lc->slot);
    pthread_mutex_destroy(&lc->mu);
    xfree(lc);
}

int limit_conn_acquire(struct limit_conn *lc, const struct sockaddr *sa)
{
    struct conn_slot k, *s = NULL;
    int ok = 0;

    pthread_mutex_lock(&lc->mu);
    if (lc->total >= lc->max_total)
        goto out;
    if (conn_key(sa, &k)) {
        s = conn_slot_of(lc->hkey, lc->slot, lc->cap, &k);
        if (lc->max_per_ip != 0 && s->count >= lc->max_per_ip)
            goto out;
        if (s->count == 0)
            *s = k;
        s->count++;
    }
    lc->total++;
    ok = 1;
out:
    pthread_mutex_unlock(&lc->mu);
    return ok;
}

void limit_conn_release(struct limit_conn *lc, const struct sockaddr *sa)
{
    struct conn_slot k, *s;

    pthread_mutex_lock(&lc->mu);
    if (conn_key(sa, &k)) {
        s = conn_slot_of(lc->hkey, lc->slot, lc->cap, &k);
        if (s->count == 0)
            goto out; /* no such acquire */
        if (--s->count == 0)
            conn_delete(lc, (size_t)(s - lc->slot));
    }
    if (lc->total > 0)
        lc->total--;
out:
    pthread_mutex_unlock(&lc->mu);
}

int limit_conn_set_caps(struct limit_conn *lc, unsigned max_total, unsigned max_per_ip,
                        struct err *err)
{
    size_t cap = conn_cap_for(max_total);
    int r = 0;

    if (max_total == 0)
        return err_set(err, "max_connections must be at least 1");
    pthread_mutex_lock(&lc->mu);
    /* The table only grows: keys of connections opened under a larger cap
     * are still in it. */
    if (cap > lc->cap && conn_rehash(lc, cap) != 0)
        r = err_set(err, "no memory for a connection table of %zu slots", cap);
    if (r == 0) {
        lc->max_total = max_total;
        lc->max_per_ip = max_per_ip;
    }
    pthread_mutex_unlock(&lc->mu);
    return r;
}

unsigned limit_conn_count(struct limit_conn *lc)
{
    unsigned n;

    pthread_mutex_lock(&lc->mu);
    n = lc->total;
    pthread_mutex_unlock(&lc->mu);
    return n;
}

unsigned limit_conn_count_ip(struct limit_conn *lc, const struct sockaddr *sa)
{
    struct conn_slot k;
    unsigned n = 0;

    if (!conn_key(sa, &k))
        return 0;
    pthread_mutex_lock(&lc->mu);
    n = conn_slot_of(lc->hkey, lc->slot, lc->cap, &k)->count;
    pthread_mutex_unlock(&lc->mu);
    return n;
}

/* ---- in-flight bytes ---- */

struct limit_bytes {
    atomic_size_t used;
    atomic_size_t max;
};

/* ceil(max * pct / 100) without overflowing size_t. */
static size_t pct_of(size_t max, unsigned pct)
{
    size_t whole = max / 100 * pct, part = max % 100 * pct;

    return whole + part / 100 + (part % 100 != 0);
}

static enum limit_stage stage_of(size_t used, size_t max)
{
    if (used >= pct_of(max, LIMIT_PAUSE_ACCEPT_PCT))
        return LIMIT_STAGE_PAUSE_ACCEPT;
    if (used >= pct_of(max, LIMIT_REJECT_PCT))
        return LIMIT_STAGE_REJECT;
    if (used >= pct_of(max, LIMIT_NO_KEEPALIVE_PCT))
        return LIMIT_STAGE_NO_KEEPALIVE;
    return LIMIT_STAGE_OK;
}

struct limit_bytes *limit_bytes_new(size_t max)
{
    struct limit_bytes *lb;

    if (max == 0 || (lb = xcalloc(1, sizeof(*lb))) == NULL)
        return NULL;
    atomic_init(&lb->used, 0);
    atomic_init(&lb->max, max);
    return lb;
}

void limit_bytes_free(struct limit_bytes *lb)
{
    xfree(lb);
}

/* Count n unless it would pass max; the stage of the level either way. */
static int bytes_add(struct limit_bytes *lb, size_t n, enum limit_stage *stage)
{
    size_t max = atomic_load(&lb->max), cur = atomic_load(&lb->used);

    do {
        if (cur > max || n > max - cur) {
            *stage = LIMIT_STAGE_PAUSE_ACCEPT;
            return 0;
        }
    } while (!atomic_compare_exchange_weak(&lb->used, &cur, cur + n));
    *stage = stage_of(cur + n, max);
    return 1;
}

int limit_bytes_try_add(struct limit_bytes *lb, size_t n, enum limit_stage *stage)
{
    return bytes_add(lb, n, stage);
}

enum limit_stage limit_bytes_add(struct limit_bytes *lb, size_t n)
{
    enum limit_stage st;

    bytes_add(lb, n, &st);
    return st;
}

enum limit_stage limit_bytes_sub(struct limit_bytes *lb, size_t n)
{
    size_t cur = atomic_load(&lb->used), next;

    do
        next = cur > n ? cur - n : 0;
    while (!atomic_compare_exchange_weak(&lb->used, &cur, next));
    return stage_of(next, atomic_load(&lb->max));
}

enum limit_stage limit_bytes_stage(struct limit_bytes *lb)
{
    return stage_of(atomic_load(&lb->used), atomic_load(&lb->max));
}

size_t limit_bytes_used(struct limit_bytes *lb)
{
    return atomic_load(&lb->used);
}

void limit_bytes_set_max(struct limit_bytes *lb, size_t max)
{
    if (max != 0)
        atomic_store(&lb->max, max);
}
