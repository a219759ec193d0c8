/*
 * mem: the only place scrim calls the system allocator.
 *
 * Out of memory aborts (a client can never cause it: every growing thing has
 * a hard cap checked before it grows). Tests can make the Nth allocation
 * "fail" with mem_fail_after(); a failed allocation under that hook returns
 * NULL instead of aborting, so torture runs can walk N through a case and
 * expect a clean error and no leak.
 */
#ifndef SCRIM_MEM_H
#define SCRIM_MEM_H

#include <stddef.h>

/* malloc/calloc/realloc that abort on failure (or return NULL under the
 * fault-injection hook). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void xfree(void *p);

/* Make the allocation after the next n succeed-ones fail; n < 0 disables.
 * Returns how many allocations were made since the last call. */
long mem_fail_after(long n);

/* Allocations made through this module and not yet freed: tests compare it
 * before and after a case, so a leak fails the test even without ASan. */
long mem_live(void);

#endif
