/*
 * buf: a growable byte buffer with a hard maximum.
 *
 * Every append checks the maximum set at buf_init; past it the append fails
 * with -1 and the buffer is left as it was, so a writer that hits the cap can
 * report TOOBIG instead of allocating without bound. data is always
 * NUL-terminated (the NUL is not counted in len).
 */
#ifndef SCRIM_BUF_H
#define SCRIM_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

struct buf {
    char *data;
    size_t len;
    size_t cap; /* allocated */
    size_t max; /* hard limit on len */
};

/* Empty buffer that may hold at most max bytes (0: 1 GiB). */
void buf_init(struct buf *b, size_t max);

/* Release the storage; b is empty and reusable afterwards. */
void buf_free(struct buf *b);

/* Drop the contents but keep the storage. */
void buf_reset(struct buf *b);

/* Zero the contents (for buffers that held secrets or rejected output), then
 * reset. */
void buf_wipe(struct buf *b);

int buf_append(struct buf *b, const void *p, size_t n) WUR;
int buf_putc(struct buf *b, int c) WUR;
int buf_puts(struct buf *b, const char *s) WUR;
int buf_printf(struct buf *b, const char *fmt, ...) ERR_PRINTF(2, 3) WUR;
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) WUR;

/* Zero and drop everything from offset mark on (undo a partial write). */
void buf_wipe_from(struct buf *b, size_t mark);

/* Make room for n more bytes and return a pointer to them (not yet counted in
 * len; commit with buf_commit). NULL over the max. */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

#endif
