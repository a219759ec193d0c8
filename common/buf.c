#include "buf.h"

#include "mem.h"

#include <stdio.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : (size_t)1 << 30;
}

void buf_free(struct buf *b)
{
    xfree(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buf_wipe(struct buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    buf_reset(b);
}

void buf_wipe_from(struct buf *b, size_t mark)
{
    if (b->data == NULL || mark >= b->len)
        return;
    explicit_bzero(b->data + mark, b->len - mark);
    b->len = mark;
}

char *buf_reserve(struct buf *b, size_t n)
{
    size_t want, ncap;
    char *nd;

    if (n > b->max - b->len)
        return NULL;
    want = b->len + n + 1;
    if (want <= b->cap)
        return b->data + b->len;
    ncap = b->cap ? b->cap : 256;
    while (ncap < want)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    nd = xrealloc(b->data, ncap);
    if (nd == NULL)
        return NULL;
    b->data = nd;
    b->cap = ncap;
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    char *dst = buf_reserve(b, n);

    if (dst == NULL)
        return -1;
    if (n)
        memcpy(dst, p, n);
    buf_commit(b, n);
    return 0;
}

int buf_putc(struct buf *b, int c)
{
    char ch = (char)c;

    return buf_append(b, &ch, 1);
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *dst;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    dst = buf_reserve(b, (size_t)n);
    if (dst == NULL)
        return -1;
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    buf_commit(b, (size_t)n);
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}
