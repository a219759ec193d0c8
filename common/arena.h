/*
 * arena: per-request memory, freed in one place.
 *
 * Everything a request (or a config load) allocates comes from one arena and
 * is released by arena_reset() or arena_free(). An arena has a hard cap set
 * at creation: an allocation that would pass it returns NULL, which callers
 * turn into a TOOBIG status (413), never a crash. Blocks grow geometrically,
 * so a request allocates from the system a handful of times, not per node.
 */
#ifndef SCRIM_ARENA_H
#define SCRIM_ARENA_H

#include <stddef.h>

struct arena;

/* New arena that will hand out at most cap bytes in total (0: 1 GiB). */
struct arena *arena_new(size_t cap);

/* Free the arena and everything allocated from it. NULL is a no-op. */
void arena_free(struct arena *a);

/* Release all allocations; the largest block is kept for reuse. */
void arena_reset(struct arena *a);

/* n bytes aligned for any type, or NULL when the cap would be passed. */
void *arena_alloc(struct arena *a, size_t n);

/* As arena_alloc, zero-filled. */
void *arena_zalloc(struct arena *a, size_t n);

/* NUL-terminated copy of s[0..n), or NULL over the cap. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Grow the most recent allocation p (old size oldn) to n bytes, in place when
 * possible; otherwise copy. NULL over the cap. */
void *arena_realloc(struct arena *a, void *p, size_t oldn, size_t n);

/* Change the cap (0: 1 GiB) for what is allocated from now on; for an
 * arena reused across requests of different sizes. */
void arena_set_cap(struct arena *a, size_t cap);

/* Bytes handed out since creation or the last reset. */
size_t arena_used(const struct arena *a);

#endif
