/*
 * session_node: a session's node map (see session.h), apart from the table
 * in session.c because it works inside one session and sees the table only
 * through its budget.
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
#include "session_impl.h"

#include <string.h>

#include "common/mem.h"
#include "rules/session.h"

#define F_FREE   0x80u /* on a node in the free list */
#define ELEM_MAX 4096  /* bytes of one element view; more attributes make it partial */

struct snode {
    int64_t id;
    uint32_t parent, child, next, prev; /* node index + 1; 0: none */
    uint32_t elem;                      /* pool offset + 1; 0: none */
    uint16_t elen;
    uint8_t decision, flags;
};

/* ---- the node index ---- */

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

    if (s->nlive >= s->t->session_entries || session_make_room(s->t, s, 1, 0))
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
    if (cap < s->pool_len + n || cap > UINT32_MAX ||
        session_make_room(s->t, s, 0, cap - s->pool_cap))
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
