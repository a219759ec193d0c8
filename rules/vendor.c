/*
 * vendor: vendor keys, the form reader, inflating embedded JSON,
 * compressing what goes back, and the rrweb hand-off shared by posthog.c
 * and sentry.c.
 */
#include "rules/vendor.h"

#include <libdeflate.h>
#include <string.h>

#include "common/mem.h"
#include "engine_impl.h"
#include "rules/decode.h"

/* ---- application/x-www-form-urlencoded (WHATWG URL, section 5) ---- */

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) ('+' is a space), appending to out when it is not
 * NULL. -1 for a malformed escape or when out is full. A '%' that does not
 * start an escape is refused rather than kept, as browsers would: a value
 * two parsers could read differently is not a value scrim forwards. */
static int pct_decode(const char *s, size_t n, struct buf *out)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i], hi, lo;
        if (c != '%' && c != '+') {
            run++;
            continue;
        }
        if (out != NULL && buf_append(out, s + i - run, run))
            return -1;
        run = 0;
        if (c == '%') {
            if (n - i < 3 || (hi = hex_value(s[i + 1])) < 0 || (lo = hex_value(s[i + 2])) < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        } else {
            c = ' ';
        }
        if (out != NULL && buf_putc(out, c))
            return -1;
    }
    return out != NULL && buf_append(out, s + n - run, run) ? -1 : 0;
}

/* 1 when the field name s[0..n), decoded, is name; 0 when not; -1 when it
 * does not decode. */
static int field_is(const char *s, size_t n, const char *name)
{
    char room[64];
    /* a buffer over room: its maximum keeps it from ever reallocating */
    struct buf k = {room, 0, sizeof(room), sizeof(room) - 1};

    if (pct_decode(s, n, NULL))
        return -1;
    if (n >= sizeof(room))
        return 0; /* longer than any name scrim looks up */
    if (pct_decode(s, n, &k))
        return -1;
    return k.len == strlen(name) && memcmp(room, name, k.len) == 0;
}

int vendor_form_get(const char *s, size_t n, const char *name, struct buf *out)
{
    size_t i = 0, mark = out->len;
    int found = 0;

    while (s != NULL && i <= n) {
        const char *seg = s + i, *end = memchr(seg, '&', n - i), *eq;
        size_t len = end ? (size_t)(end - seg) : n - i, klen;
        int is;
        eq = memchr(seg, '=', len);
        klen = eq ? (size_t)(eq - seg) : len;
        is = field_is(seg, klen, name);
        if (is < 0 || (is && found++) || pct_decode(seg + klen, len - klen, NULL))
            goto bad;
        if (is && eq != NULL && pct_decode(eq + 1, len - klen - 1, out))
            goto bad;
        i += len + 1;
    }
    return found;
bad:
    buf_wipe_from(out, mark);
    return -1;
}

/* ---- vendor keys ---- */

struct keyset {
    char *out;
    size_t cap, len;
    int bad;
};

static int key_char(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-';
}

/* One place named key s[0..n): the first sets the answer, any other must
 * repeat it. */
static void key_offer(struct keyset *k, const char *s, size_t n)
{
    if (n == 0 || n > VENDOR_KEY_MAX || n >= k->cap) {
        k->bad = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!key_char((unsigned char)s[i]))
            k->bad = 1;
    if (k->bad)
        return;
    if (k->len == 0) {
        memcpy(k->out, s, n);
        k->out[n] = '\0';
        k->len = n;
    } else if (k->len != n || memcmp(k->out, s, n) != 0) {
        k->bad = 1;
    }
}

static void key_member(struct keyset *k, const struct json *o, const char *name)
{
    const struct json_member *m = vendor_member(o, name);

    if (m == NULL)
        return;
    if (m->value->type != JSON_STRING)
        k->bad = 1;
    else
        key_offer(k, m->value->u.s, m->value->len);
}

static void key_query(struct keyset *k, const char *q, size_t qn, const char *name)
{
    struct buf v;
    int r;

    buf_init(&v, VENDOR_KEY_MAX + 1);
    r = vendor_form_get(q, qn, name, &v);
    if (r < 0)
        k->bad = 1;
    else if (r == 1)
        key_offer(k, v.data ? v.data : "", v.len);
    buf_free(&v);
}

/* Every place PostHog's capture reads a project token from (rust capture:
 * RawRecording's token/$token/api_key, properties.token; the batch's
 * api_key). */
static void posthog_event_keys(struct keyset *k, const struct json *ev)
{
    const struct json_member *props = vendor_member(ev, "properties");

    key_member(k, ev, "token");
    key_member(k, ev, "$token");
    key_member(k, ev, "api_key");
    if (props != NULL) {
        key_member(k, props->value, "token");
        key_member(k, props->value, "$token");
    }
}

static struct json *parse_scratch(struct arena **a, const char *p, size_t n)
{
    struct json *root = NULL;
    struct err e;

    *a = arena_new(16 * n + (1 << 16));
    if (*a == NULL || json_parse(*a, p, n, NULL, &root, &e) != JSON_OK)
        return NULL;
    return root;
}

static void posthog_keys(struct keyset *k, const char *p, size_t n)
{
    struct arena *a;
    const struct json *root = parse_scratch(&a, p, n), *list = NULL;
    const struct json_member *batch = vendor_member(root, "batch");

    if (root == NULL) {
        k->bad = 1;
    } else if (root->type == JSON_ARRAY) {
        list = root;
    } else if (batch != NULL && batch->value->type == JSON_ARRAY) {
        key_member(k, root, "api_key");
        key_member(k, root, "token");
        list = batch->value;
    } else {
        posthog_event_keys(k, root);
    }
    for (size_t i = 0; list != NULL && i < list->len; i++)
        posthog_event_keys(k, list->u.items[i]);
    arena_free(a);
}

/* The public key of a DSN: scheme://public[:secret]@host/... */
static void dsn_key(struct keyset *k, const char *s, size_t n)
{
    const char *p = memchr(s, ':', n), *at, *end;

    if (p == NULL || (size_t)(s + n - p) < 3 || memcmp(p, "://", 3) != 0) {
        k->bad = 1;
        return;
    }
    p += 3;
    end = memchr(p, '/', (size_t)(s + n - p));
    at = memchr(p, '@', (size_t)((end ? end : s + n) - p));
    if (at == NULL) {
        k->bad = 1;
        return;
    }
    end = memchr(p, ':', (size_t)(at - p));
    key_offer(k, p, (size_t)((end ? end : at) - p));
}

static void sentry_dsn_keys(struct keyset *k, const char *p, size_t n)
{
    const char *nl = memchr(p, '\n', n);
    struct arena *a;
    const struct json *root = parse_scratch(&a, p, nl ? (size_t)(nl - p) : n);
    const struct json_member *dsn = vendor_member(root, "dsn");

    if (root == NULL || root->type != JSON_OBJECT)
        k->bad = 1;
    else if (dsn != NULL && dsn->value->type != JSON_STRING)
        k->bad = 1;
    else if (dsn != NULL)
        dsn_key(k, dsn->value->u.s, dsn->value->len);
    arena_free(a);
}

static int is_space(int c)
{
    return c == ' ' || c == '\t';
}

/* X-Sentry-Auth: "Sentry sentry_key=abc, sentry_version=7, ..." */
static void sentry_auth_keys(struct keyset *k, const char *h, size_t n)
{
    size_t i = 0;
    int seen = 0;

    while (i < n && is_space((unsigned char)h[i]))
        i++;
    if (n - i >= 7 && strncasecmp(h + i, "sentry", 6) == 0 && is_space((unsigned char)h[i + 6]))
        i += 7;
    while (i < n) {
        const char *seg = h + i, *end = memchr(seg, ',', n - i), *eq;
        size_t len = end ? (size_t)(end - seg) : n - i, b = 0;
        while (b < len && is_space((unsigned char)seg[b]))
            b++;
        while (len > b && is_space((unsigned char)seg[len - 1]))
            len--;
        eq = memchr(seg + b, '=', len - b);
        if (eq != NULL && (size_t)(eq - seg - b) == 10 && memcmp(seg + b, "sentry_key", 10) == 0) {
            if (seen++)
                k->bad = 1;
            key_offer(k, eq + 1, (size_t)(seg + len - eq - 1));
        }
        i += (end ? (size_t)(end - seg) : n - i) + 1;
    }
}

int vendor_key_find(enum format fmt, const char *payload, size_t n, const char *query, size_t qn,
                    const char *sentry_auth, size_t an, char *out, size_t cap)
{
    struct keyset k = {out, cap, 0, 0};

    if (out == NULL || cap == 0)
        return -1;
    out[0] = '\0';
    if (fmt == FORMAT_POSTHOG) {
        key_query(&k, query, qn, "token");
        key_query(&k, query, qn, "api_key");
        posthog_keys(&k, payload ? payload : "", payload ? n : 0);
    } else if (fmt == FORMAT_SENTRY) {
        key_query(&k, query, qn, "sentry_key");
        if (sentry_auth != NULL)
            sentry_auth_keys(&k, sentry_auth, an);
        sentry_dsn_keys(&k, payload ? payload : "", payload ? n : 0);
    } else {
        k.bad = 1;
    }
    if (k.bad || k.len == 0) {
        memset(out, 0, cap);
        return -1;
    }
    return 0;
}

/* ---- engine helpers ---- */

struct json_member *vendor_member(const struct json *o, const char *key)
{
    size_t n = strlen(key);

    if (o == NULL || o->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < o->len; i++)
        if (o->u.members[i].klen == n && memcmp(o->u.members[i].key, key, n) == 0)
            return &o->u.members[i];
    return NULL;
}

size_t vendor_inflate_max(const struct redact_env *env)
{
    return env->inflate.out_max ? env->inflate.out_max : VENDOR_INFLATE_MAX;
}

unsigned vendor_inflate_ratio(const struct redact_env *env)
{
    return env->inflate.ratio_max ? env->inflate.ratio_max : VENDOR_INFLATE_RATIO;
}

int vendor_inflate_json(struct walk *w, enum vendor_coding c, const void *in, size_t n,
                        size_t *budget, struct json **out)
{
    struct decode_limits lim = {*budget, vendor_inflate_ratio(w->env)};
    struct buf b;
    enum decode_status ds;
    enum json_status js;
    char *copy;

    if (*budget == 0)
        return walk_fail(w, REDACT_TOOBIG, "compressed data over the payload's inflate budget");
    buf_init(&b, *budget);
    ds = c == VENDOR_GZIP ? decode_gzip(&lim, in, n, &b) : decode_zlib(&lim, in, n, &b);
    copy = ds == DECODE_OK ? arena_alloc(w->a, b.len + 1) : NULL;
    if (copy != NULL) {
        if (b.len > 0)
            memcpy(copy, b.data, b.len);
        copy[b.len] = '\0';
        *budget -= b.len;
        n = b.len;
    }
    buf_wipe(&b);
    buf_free(&b);
    if (ds != DECODE_OK)
        return walk_fail(w, ds == DECODE_TOOBIG ? REDACT_TOOBIG : REDACT_BAD, "compressed data: %s",
                         decode_status_name(ds));
    if (copy == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    js = json_parse(w->a, copy, n, &w->env->json, out, w->err);
    if (js != JSON_OK)
        return walk_fail(w, js == JSON_TOOBIG ? REDACT_TOOBIG : REDACT_BAD,
                         "inflated data is not strict JSON");
    return 0;
}

/* ---- compressing what goes back ---- */

struct vendor_zip {
    struct libdeflate_compressor *c;
};

struct vendor_zip *vendor_zip_new(void)
{
    return xcalloc(1, sizeof(struct vendor_zip));
}

void vendor_zip_free(struct vendor_zip *z)
{
    if (z == NULL)
        return;
    if (z->c != NULL)
        libdeflate_free_compressor(z->c);
    xfree(z);
}

int vendor_deflate(struct vendor_zip *z, enum vendor_coding c, const void *in, size_t n,
                   struct buf *out)
{
    size_t bound, got;
    char *dst;

    if (z->c == NULL && (z->c = libdeflate_alloc_compressor(VENDOR_DEFLATE_LEVEL)) == NULL)
        return -1;
    bound = c == VENDOR_GZIP ? libdeflate_gzip_compress_bound(z->c, n)
                             : libdeflate_zlib_compress_bound(z->c, n);
    if ((dst = buf_reserve(out, bound)) == NULL)
        return -1;
    got = c == VENDOR_GZIP ? libdeflate_gzip_compress(z->c, in, n, dst, bound)
                           : libdeflate_zlib_compress(z->c, in, n, dst, bound);
    if (got == 0)
        return -1; /* cannot happen within the bound; refused rather than trusted */
    buf_commit(out, got);
    return 0;
}

int vendor_rrweb(struct walk *w, const char *session, size_t slen, struct json **events,
                 struct buf *records)
{
    struct rrweb_stream s = {session, slen, NULL, 0};

    return rrweb_redact_events(w, &s, events, records);
}
