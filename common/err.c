#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
    e->msg[0] = '\0';
    e->set = 0;
}

static void err_vset(struct err *e, const char *prefix, const char *fmt, va_list ap)
{
    size_t n = 0;

    if (e == NULL || e->set)
        return;
    if (prefix != NULL) {
        n = strlen(prefix);
        if (n >= sizeof(e->msg))
            n = sizeof(e->msg) - 1;
        memcpy(e->msg, prefix, n);
    }
    vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
    e->set = 1;
}

int err_set(struct err *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(e, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int err_set_at(struct err *e, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
    char prefix[256];
    va_list ap;

    snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", file ? file : "-", line, col);
    va_start(ap, fmt);
    err_vset(e, prefix, fmt, ap);
    va_end(ap);
    return -1;
}
