/*
 * decode: gzip, zlib, raw deflate and base64 with hard output caps.
 *
 * libdeflate only decompresses whole buffers, so a stream is inflated into a
 * window that starts at min(cap, max(4 * n, 64 KiB)) and doubles on
 * LIBDEFLATE_INSUFFICIENT_SPACE until it reaches the cap; a stream that does
 * not fit then is TOOBIG. The window is allocated to its exact size (not
 * buf_reserve's power of two), so the memory a bomb costs is the cap, not
 * twice it, and every byte a failed attempt wrote is zeroed before the
 * window moves or the call fails.
 *
 * A decompressor is allocated per call, not cached per thread: it is a few
 * kilobytes against the megabytes a payload inflates to, and a per-call
 * object needs no thread-exit destructor and no global state.
 */
#include "decode.h"

#include <libdeflate.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"

#define DECODE_FIRST_WINDOW ((size_t)64 << 10)
#define DECODE_MAX_CODINGS  2

enum inflate_kind { INFLATE_GZIP, INFLATE_ZLIB, INFLATE_RAW };

const char *decode_status_name(enum decode_status s)
{
    switch (s) {
    case DECODE_OK:
        return "ok";
    case DECODE_BAD:
        return "bad";
    case DECODE_TOOBIG:
        return "toobig";
    case DECODE_UNSUPPORTED:
        return "unsupported";
    }
    return "unknown";
}

static size_t size_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* The most output a call may produce: the smaller of out_max, ratio_max
 * times the original input size (saturating), and what out may still hold. */
static size_t decode_cap(const struct decode_limits *lim, size_t n, const struct buf *out)
{
    size_t ratio_cap = SIZE_MAX;

    if (lim->ratio_max == 0 || n <= SIZE_MAX / lim->ratio_max)
        ratio_cap = n * lim->ratio_max;
    return size_min(size_min(lim->out_max, ratio_cap), out->max - out->len);
}

static void wipe(void *p, size_t n)
{
    if (n > 0)
        explicit_bzero(p, n);
}

/* Make out's storage exactly len + want + 1 bytes (the +1 is buf's NUL),
 * keeping the first len + kept bytes (the output of earlier gzip members is
 * there, not yet committed). The old block is wiped before it is freed.
 * Returns the window start (out->data + out->len). */
static char *window_grow(struct buf *out, size_t want, size_t kept)
{
    size_t need = out->len + want + 1;
    char *p;

    if (need <= out->cap)
        return out->data + out->len;
    p = xmalloc(need);
    if (p == NULL)
        return NULL;
    if (out->data != NULL) {
        memcpy(p, out->data, out->len + kept);
        wipe(out->data, out->cap);
        xfree(out->data);
    }
    out->data = p;
    out->cap = need;
    return out->data + out->len;
}

static enum libdeflate_result inflate_once(struct libdeflate_decompressor *d, enum inflate_kind k,
                                           const uint8_t *in, size_t n, char *dst, size_t avail,
                                           size_t *in_used, size_t *out_used)
{
    switch (k) {
    case INFLATE_GZIP:
        return libdeflate_gzip_decompress_ex(d, in, n, dst, avail, in_used, out_used);
    case INFLATE_ZLIB:
        return libdeflate_zlib_decompress_ex(d, in, n, dst, avail, in_used, out_used);
    case INFLATE_RAW:
        break;
    }
    return libdeflate_deflate_decompress_ex(d, in, n, dst, avail, in_used, out_used);
}

/* One inflate job: input position, output produced, current window size. */
struct inflate_job {
    struct libdeflate_decompressor *d;
    enum inflate_kind kind;
    const uint8_t *in;
    size_t n, pos;
    size_t cap, window, produced;
};

/* Inflate the next stream (one gzip member, or the one zlib/raw stream) into
 * the window, doubling it up to the cap. */
static enum decode_status inflate_stream(struct inflate_job *j, struct buf *out)
{
    for (;;) {
        char *win = window_grow(out, j->window, j->produced);
        size_t in_used = 0, out_used = 0;
        enum libdeflate_result r;

        if (win == NULL)
            return DECODE_TOOBIG;
        r = inflate_once(j->d, j->kind, j->in + j->pos, j->n - j->pos, win + j->produced,
                         j->window - j->produced, &in_used, &out_used);
        if (r == LIBDEFLATE_SUCCESS) {
            j->pos += in_used;
            j->produced += out_used;
            return DECODE_OK;
        }
        wipe(win + j->produced, j->window - j->produced);
        if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
            return DECODE_BAD;
        if (j->window == j->cap)
            return DECODE_TOOBIG;
        j->window = j->window > j->cap / 2 ? j->cap : j->window * 2;
    }
}

/* Inflate in[0..n) of the given kind, appending at most cap bytes to out.
 * gzip: every member, and anything after a member must be another member;
 * zlib and raw: one stream, nothing after it. */
static enum decode_status inflate_all(enum inflate_kind kind, size_t cap, const void *in, size_t n,
                                      struct buf *out)
{
    struct inflate_job j = {.kind = kind, .in = in, .n = n, .cap = cap};
    enum decode_status st;

    j.window = size_min(cap, n > SIZE_MAX / 4 ? SIZE_MAX : n * 4);
    if (j.window < DECODE_FIRST_WINDOW)
        j.window = size_min(cap, DECODE_FIRST_WINDOW);
    j.d = libdeflate_alloc_decompressor();
    if (j.d == NULL)
        return DECODE_TOOBIG;
    do {
        st = inflate_stream(&j, out);
    } while (st == DECODE_OK && kind == INFLATE_GZIP && j.pos < j.n);
    libdeflate_free_decompressor(j.d);
    if (st == DECODE_OK && j.pos != j.n)
        st = DECODE_BAD;
    if (st != DECODE_OK) {
        if (out->data != NULL)
            wipe(out->data + out->len, j.produced);
        return st;
    }
    buf_commit(out, j.produced);
    return DECODE_OK;
}

enum decode_status decode_gzip(const struct decode_limits *lim, const void *in, size_t n,
                               struct buf *out)
{
    return inflate_all(INFLATE_GZIP, decode_cap(lim, n, out), in, n, out);
}

enum decode_status decode_zlib(const struct decode_limits *lim, const void *in, size_t n,
                               struct buf *out)
{
    return inflate_all(INFLATE_ZLIB, decode_cap(lim, n, out), in, n, out);
}

enum decode_status decode_deflate(const struct decode_limits *lim, const void *in, size_t n,
                                  struct buf *out)
{
    return inflate_all(INFLATE_RAW, decode_cap(lim, n, out), in, n, out);
}

/* RFC 4648 section 4 (standard) and section 5 (URL-safe). Returns the 6-bit
 * value, or -1; *alpha records which alphabet a symbol belongs to (1
 * standard, 2 URL-safe) so the two cannot be mixed. */
static int b64_value(unsigned char c, int *alpha)
{
    int want = 0, v;

    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '/') {
        want = 1;
        v = c == '+' ? 62 : 63;
    } else if (c == '-' || c == '_') {
        want = 2;
        v = c == '-' ? 62 : 63;
    } else {
        return -1;
    }
    if (*alpha != 0 && *alpha != want)
        return -1;
    *alpha = want;
    return v;
}

/* Padding, if present, must be exactly what completes the last quantum. */
static int b64_shape(const unsigned char *s, size_t n, size_t *body)
{
    size_t pad = 0;

    while (pad < n && pad < 3 && s[n - 1 - pad] == '=')
        pad++;
    *body = n - pad;
    if (*body % 4 == 1 || pad > 2)
        return -1;
    if (pad != 0 && (n % 4 != 0 || (*body % 4 == 2 ? 2u : 1u) != pad))
        return -1;
    return 0;
}

static int b64_decode_into(const unsigned char *s, size_t body, unsigned char *dst)
{
    uint32_t acc = 0;
    int alpha = 0, bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < body; i++) {
        int v = b64_value(s[i], &alpha);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc == 0 ? 0 : -1; /* non-zero pad bits: not the canonical encoding */
}

enum decode_status decode_base64(const void *in, size_t n, struct buf *out)
{
    const unsigned char *s = in;
    size_t body, outn;
    char *dst;

    if (b64_shape(s, n, &body) != 0)
        return DECODE_BAD;
    outn = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    dst = buf_reserve(out, outn);
    if (dst == NULL)
        return DECODE_TOOBIG;
    if (b64_decode_into(s, body, (unsigned char *)dst) != 0) {
        wipe(dst, outn);
        return DECODE_BAD;
    }
    buf_commit(out, outn);
    return DECODE_OK;
}

enum coding { CODING_IDENTITY, CODING_GZIP, CODING_DEFLATE };

static int token_is(const char *t, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(t, name, n) == 0;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Split a Content-Encoding list (RFC 9110 section 8.4; empty elements are
 * ignored as section 5.6.1 asks) into at most DECODE_MAX_CODINGS codings. */
static enum decode_status coding_parse(const char *s, size_t n, enum coding *list, size_t *count)
{
    size_t i = 0;

    *count = 0;
    while (i <= n) {
        size_t a = i, b;
        while (i < n && s[i] != ',')
            i++;
        b = i++;
        while (a < b && is_ows(s[a]))
            a++;
        while (b > a && is_ows(s[b - 1]))
            b--;
        if (a == b)
            continue;
        if (*count == DECODE_MAX_CODINGS)
            return DECODE_UNSUPPORTED;
        if (token_is(s + a, b - a, "identity"))
            list[(*count)++] = CODING_IDENTITY;
        else if (token_is(s + a, b - a, "gzip") || token_is(s + a, b - a, "x-gzip"))
            list[(*count)++] = CODING_GZIP;
        else if (token_is(s + a, b - a, "deflate"))
            list[(*count)++] = CODING_DEFLATE;
        else
            return DECODE_UNSUPPORTED;
    }
    return DECODE_OK;
}

/* "deflate" means zlib (RFC 9110 section 8.4.1.2), but some clients send raw
 * deflate. A valid zlib header (RFC 1950: CM 8, window <= 32K, FCHECK) picks
 * zlib, strictly; anything else is read as raw deflate. */
static enum inflate_kind deflate_kind(const uint8_t *in, size_t n)
{
    if (n >= 2 && (in[0] & 0x0f) == 8 && (in[0] >> 4) <= 7 && ((in[0] << 8) | in[1]) % 31 == 0)
        return INFLATE_ZLIB;
    return INFLATE_RAW;
}

static enum decode_status coding_undo(enum coding c, size_t cap, const void *in, size_t n,
                                      struct buf *out)
{
    char *dst;

    if (c == CODING_GZIP)
        return inflate_all(INFLATE_GZIP, cap, in, n, out);
    if (c == CODING_DEFLATE)
        return inflate_all(deflate_kind(in, n), cap, in, n, out);
    if (n > cap || (dst = window_grow(out, n, 0)) == NULL)
        return DECODE_TOOBIG;
    if (n > 0)
        memcpy(dst, in, n);
    buf_commit(out, n);
    return DECODE_OK;
}

enum decode_status decode_content_encoding(const struct decode_limits *lim, const char *coding,
                                           size_t coding_len, const void *in, size_t n,
                                           struct buf *out)
{
    enum coding list[DECODE_MAX_CODINGS];
    size_t count, cap = decode_cap(lim, n, out);
    enum decode_status st = coding_parse(coding, coding_len, list, &count);
    struct buf mid;

    if (st != DECODE_OK)
        return st;
    if (count < 2)
        return coding_undo(count ? list[0] : CODING_IDENTITY, cap, in, n, out);
    /* The last coding listed was applied last: undo it first. Both stages
     * are held to the cap computed from the original input size. */
    buf_init(&mid, cap ? cap : 1);
    st = coding_undo(list[1], cap, in, n, &mid);
    if (st == DECODE_OK)
        st = coding_undo(list[0], cap, mid.data, mid.len, out);
    buf_wipe(&mid);
    buf_free(&mid);
    return st;
}
