#include "arena.h"

#include "mem.h"

#include <stdint.h>
#include <string.h>

#define ARENA_ALIGN       16
#define ARENA_FIRST_BLOCK 16384

struct block {
    struct block *prev;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, aligned */
};

struct arena {
    struct block *head;
    size_t cap;
    size_t used;
    void *last; /* most recent allocation, for arena_realloc */
};

#define BLOCK_HDR ((sizeof(struct block) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static unsigned char *block_data(struct block *b)
{
    return (unsigned char *)b + BLOCK_HDR;
}

struct arena *arena_new(size_t cap)
{
    struct arena *a = xcalloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->cap = cap ? cap : (size_t)1 << 30;
    return a;
}

static void blocks_free(struct block *b)
{
    while (b != NULL) {
        struct block *prev = b->prev;
        xfree(b);
        b = prev;
    }
}

void arena_free(struct arena *a)
{
    if (a == NULL)
        return;
    blocks_free(a->head);
    xfree(a);
}

/* Keep the largest block: a worker's next request of the same size then
 * allocates nothing from the system and touches no fresh pages. */
void arena_set_cap(struct arena *a, size_t cap)
{
    a->cap = cap ? cap : (size_t)1 << 30;
}

void arena_reset(struct arena *a)
{
    struct block *keep = NULL, *b = a->head;

    for (; b != NULL; b = b->prev)
        if (keep == NULL || b->size > keep->size)
            keep = b;
    while (a->head != NULL) {
        struct block *prev = a->head->prev;
        if (a->head != keep)
            xfree(a->head);
        a->head = prev;
    }
    a->head = keep;
    if (keep != NULL) {
        keep->prev = NULL;
        keep->used = 0;
    }
    a->used = 0;
    a->last = NULL;
}

static struct block *arena_grow(struct arena *a, size_t n)
{
    size_t size = a->head ? a->head->size * 2 : ARENA_FIRST_BLOCK;
    struct block *b;

    if (size < n)
        size = n;
    if (size > (size_t)64 << 20 && size > n)
        size = n > ((size_t)64 << 20) ? n : (size_t)64 << 20;
    b = xmalloc(BLOCK_HDR + size);
    if (b == NULL)
        return NULL;
    b->prev = a->head;
    b->size = size;
    b->used = 0;
    a->head = b;
    return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct block *b = a->head;
    size_t need;
    void *p;

    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need > a->cap - a->used)
        return NULL;
    if (b == NULL || b->size - b->used < need) {
        b = arena_grow(a, need);
        if (b == NULL)
            return NULL;
    }
    p = block_data(b) + b->used;
    b->used += need;
    a->used += need;
    a->last = p;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *arena_realloc(struct arena *a, void *p, size_t oldn, size_t n)
{
    struct block *b = a->head;
    void *q;

    if (p == NULL)
        return arena_alloc(a, n);
    if (n <= oldn)
        return p;
    if (p == a->last && b != NULL) {
        size_t off = (size_t)((unsigned char *)p - block_data(b));
        size_t oldneed = b->used - off;
        size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
        if (need <= b->size - off && need - oldneed <= a->cap - a->used) {
            b->used = off + need;
            a->used += need - oldneed;
            return p;
        }
    }
    q = arena_alloc(a, n);
    if (q != NULL)
        memcpy(q, p, oldn);
    return q;
}

size_t arena_used(const struct arena *a)
{
    return a->used;
}
