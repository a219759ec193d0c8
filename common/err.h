/*
 * err: the one way scrim reports what went wrong.
 *
 * A function that can fail takes a caller-owned struct err and fills it once,
 * where the failure happens. Messages never hold payload bytes: offsets,
 * lengths, rule ids and names from the config only (DESIGN.md invariant 4).
 * Config errors carry file:line:column.
 */
#ifndef SCRIM_ERR_H
#define SCRIM_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 512

struct err {
    char msg[ERR_MSG_MAX];
    int set;
};

#if defined(__GNUC__)
#define ERR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define WUR              __attribute__((warn_unused_result))
#else
#define ERR_PRINTF(a, b)
#define WUR
#endif

/* Clear e so it can be reused. */
void err_clear(struct err *e);

/* Set the message if none is set yet (the first, deepest report wins).
 * Always returns -1 so callers can write `return err_set(e, ...)`. */
int err_set(struct err *e, const char *fmt, ...) ERR_PRINTF(2, 3);

/* As err_set, prefixed with "file:line:col: ". line and col are 1-based. */
int err_set_at(struct err *e, const char *file, unsigned line, unsigned col, const char *fmt, ...)
    ERR_PRINTF(5, 6);

#endif
