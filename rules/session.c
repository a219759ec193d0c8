/*
 * session: the per-session node map and journey, bounded, in one table.
 *
 * A session's nodes live in one array (free list threaded through `next`),
 * linked into a forest by parent/first-child/sibling indices so a removed
 * subtree is dropped in time proportional to its size. The id -> node index
 * is open addressing with linear probing; deleting shifts the following run
 * back (Knuth, TAOCP vol. 3, 6.4 Algorithm R), so there are no tombstones
 * to pile up. Element views are packed into one byte pool per session:
 *
 *   u8 taglen, tag, u8 nattrs, then per attribute u8 nlen, name, u16 vlen, value
 *
 * and the pool is compacted when it is full and at least half garbage.
 */
#include "rules/session.h"

#include <string.h>

#include "common/mem.h"

#define F_FREE   0x80u /* on a node in the free list */
#define ELEM_MAX 4096  /* bytes of one element view; more attributes make it partial */

struct snode {
    int64_t id;
    uint32_t parent, child, next, prev; /* node index + 1; 0: none */
    uint32_t elem;                      /* pool offset + 1; 0: none */
    uint16_t elen;
    uint8_t decision, flags;
};

struct session {
    struct session_table *t;
    struct session *newer, *older; /* the LRU list */
    uint64_t hash;
    char *key; /* tenant, session and window, each length-prefixed */
    size_t klen;
    char label[64];
    uint64_t last_ms, idle_ms;
    int expired;
    struct snode *nodes;
    uint32_t ncap, nused, nlive, free_head; /* nused: high-water mark */
    uint32_t *index;                        /* node index + 1; 0: empty */
    size_t icap;
    char *pool;
    size_t pool_len, pool_cap, pool_live;
    struct journey_state *journey;
};

struct session_table {
    size_t session_entries, total_entries;
    uint64_t k0, k1;
    struct session **slots;
    size_t cap, n;
    struct session *newest, *oldest;
    char tenant[SESSION_TENANT_MAX + 1];
    size_t tn;
    char fallback[SESSION_ID_MAX + 1];
    size_t fn;
    int bound, has_fallback;
    size_t nodes_total, bytes_total;
    uint64_t evictions, expirations, overflows;
};

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

/* Node ids are hashed on every lookup, so a keyed finalizer (splitmix64's)
 * rather than SipHash: the key keeps a client from aiming ids at one slot. */
static uint64_t id_hash(const struct session_table *t, int64_t id)
{
    uint64_t x = (uint64_t)id ^ t->k1;

    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
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
static int make_room(struct session_table *t, struct session *keep, size_t nodes, size_t bytes)
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

/* ---- the node index ---- */

static size_t islot(const struct session *s, int64_t id)
{
    return (size_t)id_hash(s->t, id) & (s->icap - 1);
}

/* The node index + 1 of id, 0 when absent; *pos is its slot, or the empty
 * slot where it would go. */
static uint32_t index_find(const struct session *s, int64_t id, size_t *pos)
{
    size_t i;

    if (s->icap == 0)
        return 0;
    for (i = islot(s, id); s->index[i] != 0; i = (i + 1) & (s->icap - 1)) {
        if (s->nodes[s->index[i] - 1].id == id) {
            *pos = i;
            return s->index[i];
        }
    }
    *pos = i;
    return 0;
}

static int index_grow(struct session *s)
{
    size_t cap = s->icap ? s->icap * 2 : 64;
    uint32_t *idx = xcalloc(cap, sizeof(*idx));

    if (idx == NULL)
        return -1;
    for (size_t i = 0; i < s->icap; i++) {
        size_t j;
        if (s->index[i] == 0)
            continue;
        for (j = (size_t)id_hash(s->t, s->nodes[s->index[i] - 1].id) & (cap - 1); idx[j];
             j = (j + 1) & (cap - 1))
            ;
        idx[j] = s->index[i];
    }
    xfree(s->index);
    s->index = idx;
    s->icap = cap;
    return 0;
}

/* Algorithm R: empty slot i, then move back every later entry of the run
 * whose home slot does not lie cyclically in (i, j]. */
static void index_delete(struct session *s, size_t i)
{
    size_t mask = s->icap - 1, j = i;

    s->index[i] = 0;
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (s->index[j] == 0)
            return;
        home = islot(s, s->nodes[s->index[j] - 1].id);
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        s->index[i] = s->index[j];
        s->index[j] = 0;
        i = j;
    }
}

/* ---- nodes ---- */

#define N(s, x) ((s)->nodes[(x)-1])

static int nodes_grow(struct session *s)
{
    size_t cap = s->ncap ? (size_t)s->ncap * 2 : 64;
    struct snode *n;

    if (cap > s->t->session_entries)
        cap = s->t->session_entries;
    if (cap <= s->ncap || cap > UINT32_MAX - 1)
        return -1;
    n = xrealloc(s->nodes, cap * sizeof(*n));
    if (n == NULL)
        return -1;
    s->nodes = n;
    s->ncap = (uint32_t)cap;
    return 0;
}

/* A fresh node index + 1, or 0 when the session or the table is full. */
static uint32_t node_alloc(struct session *s)
{
    uint32_t x;

    if (s->nlive >= s->t->session_entries || make_room(s->t, s, 1, 0))
        return 0;
    if ((s->nlive + 1) * 2 > s->icap && index_grow(s))
        return 0;
    if (s->free_head == 0 && s->nused == s->ncap && nodes_grow(s))
        return 0;
    if (s->free_head != 0) {
        x = s->free_head;
        s->free_head = N(s, x).next;
    } else {
        x = ++s->nused;
    }
    memset(&N(s, x), 0, sizeof(struct snode));
    s->nlive++;
    s->t->nodes_total++;
    return x;
}

static void detach(struct session *s, uint32_t x)
{
    struct snode *n = &N(s, x);

    if (n->prev)
        N(s, n->prev).next = n->next;
    else if (n->parent)
        N(s, n->parent).child = n->next;
    if (n->next)
        N(s, n->next).prev = n->prev;
    n->parent = n->next = n->prev = 0;
}

static void elem_drop(struct session *s, struct snode *n)
{
    if (n->elem)
        s->pool_live -= n->elen;
    n->elem = 0;
    n->elen = 0;
}

/* Drop one childless node; a password stays as a bare marker. */
static void node_drop(struct session *s, uint32_t x)
{
    struct snode *n = &N(s, x);
    size_t pos;

    detach(s, x);
    elem_drop(s, n);
    if (n->flags & SESSION_PASSWORD) {
        n->flags = SESSION_INPUT | SESSION_PASSWORD | SESSION_PARTIAL;
        return;
    }
    if (index_find(s, n->id, &pos))
        index_delete(s, pos);
    n->flags = F_FREE;
    n->next = s->free_head;
    s->free_head = x;
    s->nlive--;
    s->t->nodes_total--;
}

/* Post-order without recursion: go down first children; a dropped node
 * hands its place in its parent's list to its next sibling. */
static void subtree_drop(struct session *s, uint32_t root)
{
    uint32_t cur = root;

    for (;;) {
        uint32_t parent;
        while (N(s, cur).child)
            cur = N(s, cur).child;
        parent = N(s, cur).parent;
        node_drop(s, cur);
        if (cur == root)
            return;
        cur = N(s, parent).child ? N(s, parent).child : parent;
    }
}

/* ---- element views ---- */

static int attr_name_is(const struct select_attr *a, const char *lit)
{
    size_t n = strlen(lit);

    if (a->nlen != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((a->name[i] | 0x20) != lit[i])
            return 0;
    return 1;
}

/* Names and types say what a node is, not what the user wrote: kept for
 * every node (the journey names fields by them). */
static int structural_attr(const struct select_attr *a)
{
    return attr_name_is(a, "id") || attr_name_is(a, "name") || attr_name_is(a, "type") ||
           attr_name_is(a, "class");
}

/* Pack e into out (ELEM_MAX bytes); returns the length, or 0 when even the
 * tag does not fit. *partial is set when anything was left out. */
static size_t elem_pack(const struct select_elem *e, int keep_values, unsigned char *out,
                        int *partial)
{
    size_t o = 0, count_at;
    unsigned count = 0;

    if (e->taglen > 255)
        return 0;
    out[o++] = (unsigned char)e->taglen;
    memcpy(out + o, e->tag, e->taglen);
    o += e->taglen;
    count_at = o++;
    for (size_t i = 0; i < e->nattrs; i++) {
        const struct select_attr *a = &e->attrs[i];
        if (count == 255 || a->nlen > 255 || a->vlen > SESSION_VALUE_MAX ||
            (!keep_values && !structural_attr(a)) || o + 3 + a->nlen + a->vlen > ELEM_MAX) {
            *partial = 1;
            continue;
        }
        out[o++] = (unsigned char)a->nlen;
        memcpy(out + o, a->name, a->nlen);
        o += a->nlen;
        out[o++] = (unsigned char)(a->vlen >> 8);
        out[o++] = (unsigned char)a->vlen;
        if (a->vlen)
            memcpy(out + o, a->value, a->vlen);
        o += a->vlen;
        count++;
    }
    out[count_at] = (unsigned char)count;
    return o;
}

/* Move the live element views to the front of a fresh pool. */
static int pool_compact(struct session *s)
{
    char *fresh = xmalloc(s->pool_cap);
    size_t o = 0;

    if (fresh == NULL)
        return -1;
    for (uint32_t x = 1; x <= s->nused; x++) {
        struct snode *n = &N(s, x);
        if (n->flags & F_FREE || n->elem == 0)
            continue;
        memcpy(fresh + o, s->pool + n->elem - 1, n->elen);
        n->elem = (uint32_t)o + 1;
        o += n->elen;
    }
    xfree(s->pool);
    s->pool = fresh;
    s->pool_len = s->pool_live = o;
    return 0;
}

/* Room for n more pool bytes: compact a half-garbage pool, else grow it
 * within the session's and the table's byte caps. */
static int pool_reserve(struct session *s, size_t n)
{
    size_t max = s->t->session_entries * SESSION_BYTES_PER_ENTRY, cap;
    char *p;

    if (s->pool_len + n <= s->pool_cap)
        return 0;
    if (s->pool_len - s->pool_live >= s->pool_len / 2 && s->pool_len > 0 && pool_compact(s) == 0 &&
        s->pool_len + n <= s->pool_cap)
        return 0;
    cap = s->pool_cap ? s->pool_cap : 4096;
    while (cap < s->pool_len + n)
        cap *= 2;
    if (cap > max)
        cap = max;
    if (cap < s->pool_len + n || cap > UINT32_MAX || make_room(s->t, s, 0, cap - s->pool_cap))
        return -1;
    if ((p = xrealloc(s->pool, cap)) == NULL)
        return -1;
    s->t->bytes_total += cap - s->pool_cap;
    s->pool = p;
    s->pool_cap = cap;
    return 0;
}

static void elem_store(struct session *s, struct snode *n, const struct select_elem *e,
                       int keep_values)
{
    unsigned char packed[ELEM_MAX];
    int partial = 0;
    size_t len = elem_pack(e, keep_values, packed, &partial);

    if (len == 0 || pool_reserve(s, len)) {
        n->flags |= SESSION_PARTIAL;
        return;
    }
    memcpy(s->pool + s->pool_len, packed, len);
    n->elem = (uint32_t)s->pool_len + 1;
    n->elen = (uint16_t)len;
    s->pool_len += len;
    s->pool_live += len;
    if (partial)
        n->flags |= SESSION_PARTIAL;
}

/* ---- the node API ---- */

int session_node_get(const struct session *s, int64_t id, struct session_node *out)
{
    size_t pos;
    uint32_t x = index_find(s, id, &pos);

    if (x == 0)
        return -1;
    out->decision = N(s, x).decision;
    out->flags = N(s, x).flags;
    out->has_parent = N(s, x).parent != 0;
    out->parent = out->has_parent ? N(s, N(s, x).parent).id : 0;
    return 0;
}

int session_node_elem(const struct session *s, int64_t id, struct arena *a, struct select_elem *e)
{
    size_t pos, o = 0;
    uint32_t x = index_find(s, id, &pos);
    unsigned char *p;
    struct select_attr *attrs;
    unsigned count;

    if (x == 0 || N(s, x).elem == 0)
        return 0;
    /* Copied into the arena: the pool may move before the request ends. */
    p = arena_alloc(a, N(s, x).elen);
    if (p == NULL)
        return -1;
    memcpy(p, s->pool + N(s, x).elem - 1, N(s, x).elen);
    e->taglen = p[o++];
    e->tag = (const char *)p + o;
    o += e->taglen;
    count = p[o++];
    attrs = arena_alloc(a, (count + 1) * sizeof(*attrs));
    if (attrs == NULL)
        return -1;
    for (unsigned i = 0; i < count; i++) {
        attrs[i].nlen = p[o++];
        attrs[i].name = (const char *)p + o;
        o += attrs[i].nlen;
        attrs[i].vlen = (size_t)p[o] << 8 | p[o + 1];
        o += 2;
        attrs[i].value = (const char *)p + o;
        o += attrs[i].vlen;
    }
    e->attrs = attrs;
    e->nattrs = count;
    e->parent = NULL;
    return 1;
}

static void link_under(struct session *s, uint32_t x, uint32_t p)
{
    struct snode *n = &N(s, x);

    n->parent = p;
    n->next = N(s, p).child;
    n->prev = 0;
    if (n->next)
        N(s, n->next).prev = x;
    N(s, p).child = x;
}

int session_node_put(struct session *s, int64_t id, const struct session_node *in,
                     const struct select_elem *e, int keep_values)
{
    unsigned flags =
        in->flags & (SESSION_INPUT | SESSION_PASSWORD | SESSION_PARTIAL | SESSION_STYLE);
    uint32_t x, p = 0;
    size_t pos;

    session_node_remove(s, id);
    x = index_find(s, id, &pos); /* a password marker that stayed */
    if (x != 0) {
        flags |= N(s, x).flags & SESSION_PASSWORD;
    } else if ((x = node_alloc(s)) != 0) {
        (void)index_find(s, id, &pos); /* the index may have grown */
        s->index[pos] = x;
    } else {
        s->t->overflows++;
        return 1;
    }
    if (in->has_parent && in->parent != id)
        p = index_find(s, in->parent, &pos);
    if (!p)
        flags |= in->has_parent ? SESSION_PARTIAL : 0;
    N(s, x).id = id;
    N(s, x).decision = (uint8_t)in->decision;
    N(s, x).flags = (uint8_t)flags;
    if (p)
        link_under(s, x, p);
    if (e != NULL)
        elem_store(s, &N(s, x), e, keep_values);
    return 0;
}

void session_node_update(struct session *s, int64_t id, unsigned decision, unsigned flags)
{
    size_t pos;
    uint32_t x = index_find(s, id, &pos);

    if (x == 0)
        return;
    N(s, x).decision = (uint8_t)decision;
    N(s, x).flags |= (uint8_t)(flags & ~F_FREE);
}

void session_node_remove(struct session *s, int64_t id)
{
    size_t pos;
    uint32_t x = index_find(s, id, &pos);

    if (x != 0)
        subtree_drop(s, x);
}

void session_reset(struct session *s)
{
    /* Unlink everything first: node_drop threads the free list through
     * `next`, which a later detach must not follow. */
    for (uint32_t x = 1; x <= s->nused; x++)
        if (!(N(s, x).flags & F_FREE))
            N(s, x).parent = N(s, x).child = N(s, x).next = N(s, x).prev = 0;
    for (uint32_t x = 1; x <= s->nused; x++)
        if (!(N(s, x).flags & F_FREE))
            node_drop(s, x);
    s->t->bytes_total -= s->pool_cap;
    xfree(s->pool);
    s->pool = NULL;
    s->pool_len = s->pool_cap = s->pool_live = 0;
}

size_t session_nodes(const struct session *s)
{
    return s->nlive;
}

struct journey_state *session_journey(struct session *s)
{
    if (s->journey != NULL)
        return s->journey;
    if (make_room(s->t, s, 0, SESSION_JOURNEY_BYTES) ||
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

    if (make_room(t, NULL, 1, 0)) {
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
