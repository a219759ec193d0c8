/*
 * decode: the content codings and vendor wrappings a payload arrives in
 * (gzip, zlib, raw deflate, base64), undone with bounds (DESIGN.md
 * invariant 7). libdeflate does the inflating; it has no streaming API, so
 * the output buffer grows geometrically up to the caps and a payload that
 * would pass them is refused as DECODE_TOOBIG, never truncated.
 *
 * Pure: no I/O. Output is appended to a caller's bounded buffer; its max is
 * one more cap. On any failure the buffer is left as it was, and whatever
 * partial output was written is zeroed first.
 */
#ifndef SCRIM_DECODE_H
#define SCRIM_DECODE_H

#include <stddef.h>

#include "common/buf.h"

struct decode_limits {
    size_t out_max;     /* decompressed bytes, at most */
    unsigned ratio_max; /* decompressed / compressed, at most */
};

enum decode_status {
    DECODE_OK = 0,
    DECODE_BAD,         /* corrupt or truncated input: 400 */
    DECODE_TOOBIG,      /* over out_max or ratio_max: 413 */
    DECODE_UNSUPPORTED, /* unknown content coding: 415 */
};

const char *decode_status_name(enum decode_status s);

/* gzip (RFC 1952), every member of a multi-member stream. */
enum decode_status decode_gzip(const struct decode_limits *lim, const void *in, size_t n,
                               struct buf *out);

/* zlib (RFC 1950), one stream, nothing after it. */
enum decode_status decode_zlib(const struct decode_limits *lim, const void *in, size_t n,
                               struct buf *out);

/* Raw deflate (RFC 1951). */
enum decode_status decode_deflate(const struct decode_limits *lim, const void *in, size_t n,
                                  struct buf *out);

/* Standard or URL-safe base64, padding optional, no whitespace. */
enum decode_status decode_base64(const void *in, size_t n, struct buf *out);

/* An HTTP Content-Encoding value: "identity", "gzip", "x-gzip", "deflate"
 * (zlib-wrapped, as RFC 9110 says; raw deflate is accepted too since some
 * clients send it), or a comma list of them applied in order, at most 2.
 * Tokens are case-insensitive with optional whitespace around commas; empty
 * list elements are ignored (RFC 9110 section 5.6.1); a third coding
 * (identity counts) or an unknown one is DECODE_UNSUPPORTED. The limits hold
 * over the whole chain, the ratio against n. */
enum decode_status decode_content_encoding(const struct decode_limits *lim, const char *coding,
                                           size_t coding_len, const void *in, size_t n,
                                           struct buf *out);

#endif
