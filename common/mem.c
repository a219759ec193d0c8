#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1;
static long alloc_count;
static long live_count;

long mem_live(void)
{
    return __atomic_load_n(&live_count, __ATOMIC_RELAXED);
}

long mem_fail_after(long n)
{
    long c = __atomic_exchange_n(&alloc_count, 0, __ATOMIC_RELAXED);

    __atomic_store_n(&fail_countdown, n, __ATOMIC_RELAXED);
    return c;
}

/* Under the hook a "failure" is reported as NULL; otherwise OOM is fatal. */
static void *mem_check(void *p, size_t n)
{
    if (p == NULL && n != 0) {
        fputs("scrim: out of memory\n", stderr);
        abort();
    }
    return p;
}

static int mem_should_fail(void)
{
    /* Atomic so the proxy's threads can allocate; the countdown itself is
     * only used by single-threaded tests. */
    __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&fail_countdown, __ATOMIC_RELAXED) < 0)
        return 0;
    if (fail_countdown == 0)
        return 1;
    fail_countdown--;
    return 0;
}

void *xmalloc(size_t n)
{
    if (mem_should_fail())
        return NULL;
    __atomic_add_fetch(&live_count, 1, __ATOMIC_RELAXED);
    return mem_check(malloc(n ? n : 1), 1);
}

void *xcalloc(size_t n, size_t size)
{
    if (mem_should_fail())
        return NULL;
    __atomic_add_fetch(&live_count, 1, __ATOMIC_RELAXED);
    return mem_check(calloc(n ? n : 1, size ? size : 1), 1);
}

void *xrealloc(void *p, size_t n)
{
    if (mem_should_fail())
        return NULL;
    if (p == NULL)
        __atomic_add_fetch(&live_count, 1, __ATOMIC_RELAXED);
    return mem_check(realloc(p, n ? n : 1), 1);
}

char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

void xfree(void *p)
{
    if (p != NULL)
        __atomic_sub_fetch(&live_count, 1, __ATOMIC_RELAXED);
    free(p);
}
