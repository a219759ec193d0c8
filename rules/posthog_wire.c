/*
 * posthog_wire: PostHog's transport (docs/posthog.md): posthog_unwrap()
 * takes off the wrappings posthog-js puts around a capture body,
 * posthog_wrap() puts the masked JSON back in the same kind; and the
 * latin1 strings posthog-js carries gzip in (cv "2024-10"). Apart from the
 * batch walk in posthog.c because none of it knows what an event is: it
 * turns bytes into JSON text and back.
 */
#include "posthog_impl.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "engine_impl.h"
#include "rules/posthog.h"
#include "rules/vendor.h"

/* ---- the transport ---- */

static int media_type_is(const char *s, size_t n, const char *want)
{
    size_t k = strlen(want), end = 0;

    while (end < n && s[end] != ';')
        end++;
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    return end == k && strncasecmp(s, want, k) == 0;
}

/* posthog-js sends one field, data=<encodeURIComponent(...)>; anything
 * else in a form body is not something it wrote. */
static enum decode_status form_data(const char *p, size_t n, struct buf *out)
{
    if (n < 5 || memcmp(p, "data=", 5) != 0 || memchr(p, '&', n) != NULL)
        return DECODE_BAD;
    return vendor_form_get(p, n, "data", out) == 1 ? DECODE_OK : DECODE_BAD;
}

static int is_gzip(const char *p, size_t n)
{
    return n >= 3 && (unsigned char)p[0] == 0x1f && (unsigned char)p[1] == 0x8b &&
           (unsigned char)p[2] == 8;
}

static enum decode_status unwrap_body(const struct decode_limits *lim, const char *comp, int form,
                                      const char *p, size_t n, struct buf *out,
                                      enum posthog_wrap *how)
{
    if (strcmp(comp, "gzip-js") == 0 || strcmp(comp, "gzip") == 0) {
        *how = POSTHOG_WRAP_GZIP;
        return decode_gzip(lim, p, n, out);
    }
    if (strcmp(comp, "base64") == 0) {
        *how = POSTHOG_WRAP_BASE64;
        return decode_base64(p, n, out);
    }
    if (comp[0] != '\0')
        return DECODE_UNSUPPORTED;
    if (!form && is_gzip(p, n)) {
        *how = POSTHOG_WRAP_GZIP;
        return decode_gzip(lim, p, n, out);
    }
    *how = form ? POSTHOG_WRAP_FORM : POSTHOG_WRAP_PLAIN;
    if (n > lim->out_max)
        return DECODE_TOOBIG;
    return buf_append(out, p, n) ? DECODE_TOOBIG : DECODE_OK;
}

/* The query's compression parameter, or "" when there is none. */
static enum decode_status compression_of(const struct posthog_http *h, char *comp, size_t cap)
{
    char room[16];
    struct buf v = {room, 0, sizeof(room), sizeof(room) - 1}; /* never reallocates */
    int r = vendor_form_get(h->query, h->query ? h->query_len : 0, "compression", &v);

    if (r < 0)
        return DECODE_BAD;
    if (r == 0)
        v.len = 0;
    if (v.len >= cap || memchr(room, '\0', v.len) != NULL)
        return DECODE_UNSUPPORTED;
    memcpy(comp, room, v.len);
    comp[v.len] = '\0';
    return DECODE_OK;
}

/* 1 when a Content-Encoding list names a coding other than identity (the
 * list already decoded, so every token is one decode knows). */
static int coding_compresses(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t b = i, e;
        while (i < n && s[i] != ',')
            i++;
        e = i++;
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        if (e > b && !(e - b == 8 && strncasecmp(s + b, "identity", 8) == 0))
            return 1;
    }
    return 0;
}

static enum decode_status unwrap_steps(const struct decode_limits *lim,
                                       const struct posthog_http *h, const char *p, size_t n,
                                       struct buf *out, enum posthog_wrap *how)
{
    struct buf dec, form;
    char comp[16];
    int is_form = h->content_type != NULL && media_type_is(h->content_type, h->content_type_len,
                                                           "application/x-www-form-urlencoded");
    enum decode_status st = compression_of(h, comp, sizeof(comp));

    buf_init(&dec, lim->out_max);
    buf_init(&form, lim->out_max);
    if (st == DECODE_OK && h->content_encoding != NULL) {
        st = decode_content_encoding(lim, h->content_encoding, h->content_encoding_len, p, n, &dec);
        p = dec.data ? dec.data : "";
        n = dec.len;
    }
    if (st == DECODE_OK && is_form) {
        st = form_data(p, n, &form);
        p = form.data ? form.data : "";
        n = form.len;
    }
    if (st == DECODE_OK && n == 0)
        st = DECODE_BAD;
    if (st == DECODE_OK)
        st = unwrap_body(lim, comp, is_form, p, n, out, how);
    if (st == DECODE_OK && *how == POSTHOG_WRAP_PLAIN && h->content_encoding != NULL &&
        coding_compresses(h->content_encoding, h->content_encoding_len))
        *how = POSTHOG_WRAP_GZIP;
    buf_wipe(&dec);
    buf_free(&dec);
    buf_wipe(&form);
    buf_free(&form);
    return st;
}

enum decode_status posthog_unwrap(const struct decode_limits *lim, const struct posthog_http *h,
                                  const void *body, size_t n, struct buf *out,
                                  enum posthog_wrap *how)
{
    enum posthog_wrap w = POSTHOG_WRAP_PLAIN;
    size_t mark = out->len;
    enum decode_status st = unwrap_steps(lim, h, body, n, out, &w);

    if (st != DECODE_OK) {
        buf_wipe_from(out, mark);
        w = POSTHOG_WRAP_PLAIN;
    }
    if (how != NULL)
        *how = w;
    return st;
}

/* encodeURIComponent keeps these and the ASCII letters and digits. */
static int uri_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-_.!~*'()", c) != NULL);
}

/* Percent-encode byte c at d, as encodeURIComponent does (upper-case hex);
 * returns the bytes written, at most 3. */
static size_t uri_put(char *d, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";

    if (uri_unreserved(c)) {
        d[0] = (char)c;
        return 1;
    }
    d[0] = '%';
    d[1] = hex[c >> 4];
    d[2] = hex[c & 15];
    return 3;
}

/* data=<encodeURIComponent(s)>, reserved to its exact size. */
static int wrap_form(const unsigned char *s, size_t n, struct buf *out)
{
    size_t need = 0, k = 0;
    char *d;

    for (size_t i = 0; i < n; i++)
        need += uri_unreserved(s[i]) ? 1 : 3;
    if (buf_puts(out, "data=") || (d = buf_reserve(out, need)) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        k += uri_put(d + k, s[i]);
    buf_commit(out, k);
    return 0;
}

/* data=<encodeURIComponent(base64(s))>, RFC 4648 section 4 with padding,
 * as posthog-js's _base64Encode. */
static int wrap_base64(const unsigned char *s, size_t n, struct buf *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t groups = n / 3 + (n % 3 != 0), k = 0;
    struct buf b64;
    char *d;
    int r;

    if (groups > SIZE_MAX / 8)
        return -1;
    buf_init(&b64, 4 * groups + 1);
    if ((d = buf_reserve(&b64, 4 * groups)) == NULL) {
        buf_free(&b64);
        return -1;
    }
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        d[k++] = t[v >> 18 & 63];
        d[k++] = t[v >> 12 & 63];
        d[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        d[k++] = i + 2 < n ? t[v & 63] : '=';
    }
    buf_commit(&b64, k);
    r = wrap_form((const unsigned char *)b64.data, b64.len, out);
    buf_wipe(&b64);
    buf_free(&b64);
    return r;
}

static int wrap_gzip(const char *json, size_t n, struct buf *out)
{
    struct vendor_zip *z = vendor_zip_new();
    int r = z == NULL || vendor_deflate(z, VENDOR_GZIP, json, n, out);

    vendor_zip_free(z);
    return r;
}

int posthog_wrap(enum posthog_wrap how, const char *json, size_t n, struct buf *out)
{
    size_t mark = out->len;
    int r;

    switch (how) {
    case POSTHOG_WRAP_GZIP:
        r = wrap_gzip(json, n, out);
        break;
    case POSTHOG_WRAP_BASE64:
        r = wrap_base64((const unsigned char *)json, n, out);
        break;
    case POSTHOG_WRAP_FORM:
        r = wrap_form((const unsigned char *)json, n, out);
        break;
    default:
        r = buf_append(out, json, n);
        break;
    }
    if (r != 0 && out->len > mark)
        buf_wipe_from(out, mark);
    return r ? -1 : 0;
}

const char *posthog_wrap_content_type(enum posthog_wrap how)
{
    switch (how) {
    case POSTHOG_WRAP_GZIP:
        return "text/plain";
    case POSTHOG_WRAP_BASE64:
    case POSTHOG_WRAP_FORM:
        return "application/x-www-form-urlencoded";
    default:
        return "application/json";
    }
}

const char *posthog_wrap_compression(enum posthog_wrap how)
{
    switch (how) {
    case POSTHOG_WRAP_GZIP:
        return "gzip-js";
    case POSTHOG_WRAP_BASE64:
        return "base64";
    default:
        return NULL;
    }
}

/* ---- gzip inside strings (cv "2024-10") ---- */

/* The bytes of a latin1 string (fflate strFromU8(..., true)): each code
 * point is one byte, so nothing above U+00FF may occur. */
int posthog_latin1_bytes(struct walk *w, const struct json *s, unsigned char **out, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s->u.s;
    unsigned char *d = arena_alloc(w->a, s->len + 1);
    size_t k = 0;

    if (d == NULL)
        return posthog_arena_full(w);
    for (size_t i = 0; i < s->len; i++) {
        if (p[i] < 0x80) {
            d[k++] = p[i];
        } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < s->len) {
            d[k++] = (unsigned char)((p[i] & 0x03) << 6 | (p[i + 1] & 0x3F));
            i++;
        } else {
            return walk_fail(w, REDACT_BAD, "posthog: a compressed field is not a byte string");
        }
    }
    *out = d;
    *n = k;
    return 0;
}

/* The string of code points z[0..n), one per byte, as UTF-8: what
 * strFromU8(z, true) makes and JSON.stringify writes. */
struct json *posthog_latin1_string(struct arena *a, const unsigned char *z, size_t n)
{
    char *d = arena_alloc(a, 2 * n + 1);
    struct json *s = arena_alloc(a, sizeof(*s));
    size_t k = 0;

    if (d == NULL || s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (z[i] < 0x80) {
            d[k++] = (char)z[i];
        } else {
            d[k++] = (char)(0xC0 | z[i] >> 6);
            d[k++] = (char)(0x80 | (z[i] & 0x3F));
        }
    }
    *s = (struct json){.type = JSON_STRING, .len = k, .u.s = d};
    return s;
}
