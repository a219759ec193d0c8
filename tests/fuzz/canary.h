/*
 * canary: the fuzz targets' "no canary survives" invariant, shared.
 *
 * A canary counts only as a token: inside a longer run of letters or digits
 * ("41111111111111111111", "41078-05-11201") or a longer digit run joined
 * by '-', '.' or ',' ("8078-078-05-1120", "078.078-05-1120") it is another
 * value, which the detectors judge on its own by the boundary rules of
 * docs/pii.md, as they would in any format.
 */
#ifndef SCRIM_FUZZ_CANARY_H
#define SCRIM_FUZZ_CANARY_H

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "rules/json.h"

static const char *const fuzz_canaries[] = {"4111 1111 1111 1111", "4111111111111111",
                                            "078-05-1120", "jane.doe@example.com",
                                            "GB82WEST12345698765432"};

static inline int canary_joins(const char *p, const char *lo, const char *hi, int dir)
{
    const char *q = p + dir;
    int c;

    if (q < lo || q >= hi)
        return 0;
    c = (unsigned char)*q;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    /* a separator glued to another digit continues the number */
    q += dir;
    return (c == '-' || c == '.' || c == ',') && q >= lo && q < hi && *q >= '0' && *q <= '9';
}

/* 1 when canary c stands as a token somewhere in p[0..n). */
static inline int canary_token_in(const char *c, const char *p, size_t n)
{
    const char *lo = p, *end = p + n;
    size_t cn = strlen(c);

    if (n == 0)
        return 0;
    while ((p = memmem(p, (size_t)(end - p), c, cn)) != NULL) {
        if (!canary_joins(p, lo, end, -1) && !canary_joins(p + cn - 1, lo, end, 1))
            return 1;
        p++;
    }
    return 0;
}

/* abort() when a canary that was a token of the input is a token of the
 * output. (A canary that only arises in the output, next to a mask that
 * replaced its neighbour, was part of a longer value in the input.) */
static inline void canary_check(const struct buf *out, const void *in, size_t in_len)
{
    for (size_t i = 0; out->len > 0 && i < sizeof(fuzz_canaries) / sizeof(fuzz_canaries[0]); i++)
        if (canary_token_in(fuzz_canaries[i], in, in_len) &&
            canary_token_in(fuzz_canaries[i], out->data, out->len))
            abort();
}

/* The invariant for an accepted payload: tokens are judged on the input as
 * the engine saw it (decoded, canonical), so an escaped canary counts too. */
static inline void canary_check_payload(struct arena *a, const struct buf *out,
                                        const struct buf *ctx, const void *in, size_t n)
{
    struct buf canon;
    struct json *root;
    struct err e;

    buf_init(&canon, 0);
    arena_reset(a);
    if (json_parse(a, in, n, NULL, &root, &e) != JSON_OK || json_write(&canon, root))
        abort(); /* the engine accepted what the parser rejects */
    canary_check(out, canon.data, canon.len);
    canary_check(ctx, canon.data, canon.len);
    buf_free(&canon);
}

#endif
