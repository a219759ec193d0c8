/*
 * posthog: the transport, and the capture-body format (docs/posthog.md).
 *
 * A batch is read in five steps. (1) Every event is checked, its
 * autocapture elements judged, and each recording found: an event whose
 * properties hold `$snapshot_data`, whatever its name, since PostHog's
 * recording endpoint takes the snapshot data of every event it is sent.
 * (2) posthog-js compresses parts of some rrweb events inside strings
 * (`cv: "2024-10"`, lazy-loaded-session-recorder compressEventSync): those
 * are inflated and parsed in place, and which ones were is remembered. (3)
 * The rrweb events of each ($session_id, $window_id) are masked together,
 * in order, as one rrweb stream: rrweb node ids are per window, so two
 * windows never share a node map. (4) Each masked event goes back to its
 * recording, its fields compressed again as they came. (5) The recordings
 * are set aside and the whole body walked by the field rules and detectors,
 * so nothing is walked twice.
 */
#include "rules/posthog.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "engine_impl.h"
#include "rules/vendor.h"

#define PH_CV         "2024-10"
#define PH_GROUPS_MAX 64

enum { RR_FULL = 2, RR_INCR = 3 };
enum { SRC_MUTATION = 0, SRC_STYLESHEET = 8 };

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

/* ---- the batch ---- */

/* Which fields of an rrweb event came compressed (and go back so). */
enum {
    CV_DATA = 1 << 0, /* a full snapshot's data */
    CV_TEXTS = 1 << 1,
    CV_ATTRIBUTES = 1 << 2,
    CV_REMOVES = 1 << 3,
    CV_ADDS = 1 << 4,
};

/* compressEventSync's fields of an incremental event's data. */
static const struct {
    const char *key;
    unsigned bit;
    int stylesheet; /* compressed in a StyleSheetRule too */
} cv_fields[] = {
    {"texts", CV_TEXTS, 0},
    {"attributes", CV_ATTRIBUTES, 0},
    {"removes", CV_REMOVES, 1},
    {"adds", CV_ADDS, 1},
};

#define NCV_FIELDS (sizeof(cv_fields) / sizeof(cv_fields[0]))

/* One event's recording. */
struct ph_snap {
    struct json *props; /* the event's properties */
    struct json *data;  /* its rrweb events (an array) */
    size_t cap;         /* how many it had: the most it can get back */
    unsigned char *cv;  /* per rrweb event, its CV_ bits */
    struct json *hole;  /* what stands for it during the batch walk */
    size_t group;
};

struct ph_group {
    const struct json *session, *window; /* strings, or NULL */
};

/* An rrweb event of a group, where it came from. */
struct ph_slot {
    struct json *ev;
    size_t owner; /* index of its ph_snap */
    unsigned cv;
};

struct ph_batch {
    struct json **events;
    size_t nevents;
    struct ph_snap *snaps;
    size_t nsnaps;
    struct ph_group groups[PH_GROUPS_MAX];
    size_t ngroups;
    size_t budget;          /* what the payload may still inflate */
    struct vendor_zip *zip; /* compresses fields again; NULL until needed */
    struct buf text, gz;    /* scratch: a field's JSON text and its gzip */
};

/* A JSON integer that fits comfortably: what rrweb types and sources are. */
static int small_int(const struct json *v, long *out)
{
    long r = 0;
    size_t i = 0;

    if (v == NULL || v->type != JSON_NUMBER || v->len == 0 || v->len > 9)
        return -1;
    for (; i < v->len; i++) {
        if (v->u.s[i] < '0' || v->u.s[i] > '9')
            return -1;
        r = r * 10 + (v->u.s[i] - '0');
    }
    *out = r;
    return 0;
}

static struct json *value_of(const struct json *o, const char *key)
{
    struct json_member *m = vendor_member(o, key);

    return m ? m->value : NULL;
}

static int arena_full(struct walk *w)
{
    return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
}

/* ---- compressed fields (cv "2024-10") ---- */

/* The bytes of a latin1 string (fflate strFromU8(..., true)): each code
 * point is one byte, so nothing above U+00FF may occur. */
static int latin1_bytes(struct walk *w, const struct json *s, unsigned char **out, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s->u.s;
    unsigned char *d = arena_alloc(w->a, s->len + 1);
    size_t k = 0;

    if (d == NULL)
        return arena_full(w);
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
static struct json *latin1_string(struct arena *a, const unsigned char *z, size_t n)
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

/* Replace the compressed string *slot by the JSON it holds, which must be
 * of type want, and note bit in *bits. A field that is not a string was
 * not compressed. */
static int field_inflate(struct walk *w, struct ph_batch *b, struct json **slot,
                         enum json_type want, unsigned bit, unsigned char *bits)
{
    unsigned char *bytes = NULL;
    size_t n = 0;
    struct json *tree;

    if (*slot == NULL || (*slot)->type != JSON_STRING)
        return 0;
    if (latin1_bytes(w, *slot, &bytes, &n) ||
        vendor_inflate_json(w, VENDOR_GZIP, bytes, n, &b->budget, &tree))
        return -1;
    if (tree->type != want)
        return walk_fail(w, REDACT_BAD, "posthog: a compressed field holds the wrong type");
    *slot = tree;
    *bits |= (unsigned char)bit;
    return 0;
}

/* Compress the value at *slot again as compressEventSync does: gzip of its
 * JSON text, as a latin1 string. */
static int field_deflate(struct walk *w, struct ph_batch *b, struct json **slot)
{
    struct json *s;

    /* only what the last field wrote: wiping the whole of a buffer a large
     * snapshot grew, once per small field, would be quadratic */
    buf_wipe_from(&b->text, 0);
    buf_wipe_from(&b->gz, 0);
    if (b->zip == NULL && (b->zip = vendor_zip_new()) == NULL)
        return arena_full(w);
    if (json_write(&b->text, *slot) ||
        vendor_deflate(b->zip, VENDOR_GZIP, b->text.data, b->text.len, &b->gz))
        return walk_fail(w, REDACT_TOOBIG, "posthog: a masked field is over the size limit");
    s = latin1_string(w->a, (const unsigned char *)b->gz.data, b->gz.len);
    if (s == NULL)
        return arena_full(w);
    *slot = s;
    return 0;
}

static void member_remove(struct json *o, struct json_member *m)
{
    size_t i = (size_t)(m - o->u.members);

    memmove(m, m + 1, (o->len - i - 1) * sizeof(*m));
    o->len--;
}

/* Append cv: "2024-10" to the event object ev. */
static int cv_mark(struct walk *w, struct json *ev)
{
    struct json_member *m = arena_alloc(w->a, (ev->len + 1) * sizeof(*m));
    struct json *v = json_new_string(w->a, PH_CV, sizeof(PH_CV) - 1);

    if (m == NULL || v == NULL)
        return arena_full(w);
    if (ev->len > 0)
        memcpy(m, ev->u.members, ev->len * sizeof(*m));
    m[ev->len] = (struct json_member){"cv", 2, JSON_F_PLAIN, v};
    ev->u.members = m;
    ev->len++;
    return 0;
}

/* Undo compressEventSync: a full snapshot's data, a mutation's four lists
 * and a stylesheet rule's adds and removes may be gzip inside latin1
 * strings. `cv` goes while the event is masked; *bits says what to
 * compress again. posthog-js marks no other event, and puts no compressed
 * string anywhere else: such an event is refused, so no client's
 * compressed bytes can ride along where a reader would inflate them. */
static int rr_inflate(struct walk *w, struct ph_batch *b, struct json *ev, unsigned char *bits)
{
    struct json_member *cv = vendor_member(ev, "cv"), *data;
    long type, src = -1;

    if (cv == NULL)
        return 0;
    if (cv->value->type != JSON_STRING || cv->value->len != sizeof(PH_CV) - 1 ||
        memcmp(cv->value->u.s, PH_CV, sizeof(PH_CV) - 1) != 0)
        return walk_fail(w, REDACT_BAD, "posthog: unknown compression version");
    member_remove(ev, cv);
    data = vendor_member(ev, "data"); /* members moved */
    if (data == NULL || small_int(value_of(ev, "type"), &type))
        return 0; /* the rrweb format rejects it */
    if (type == RR_FULL)
        return field_inflate(w, b, &data->value, JSON_OBJECT, CV_DATA, bits);
    if (type != RR_INCR || small_int(value_of(data->value, "source"), &src) ||
        (src != SRC_MUTATION && src != SRC_STYLESHEET))
        return walk_fail(w, REDACT_BAD, "posthog: cv on an event posthog-js does not compress");
    for (size_t i = 0; i < NCV_FIELDS; i++) {
        struct json_member *f = vendor_member(data->value, cv_fields[i].key);
        if (f == NULL || f->value->type != JSON_STRING)
            continue;
        if (src != SRC_MUTATION && !cv_fields[i].stylesheet)
            return walk_fail(w, REDACT_BAD, "posthog: a compressed %s in a stylesheet rule",
                             cv_fields[i].key);
        if (field_inflate(w, b, &f->value, JSON_ARRAY, cv_fields[i].bit, bits))
            return -1;
    }
    return 0;
}

/* Compress again, after masking, the fields of ev that came compressed,
 * and mark it cv. All of them or none: a field a rule turned into another
 * type (or a data a rule replaced) is not what the player decompresses,
 * so such an event goes plain, as events without cv always may. */
static int rr_deflate(struct walk *w, struct ph_batch *b, struct json *ev, unsigned bits)
{
    struct json_member *data = vendor_member(ev, "data"), *f;
    struct json **slots[NCV_FIELDS];
    size_t k = 0;

    if (bits == 0 || data == NULL)
        return 0;
    if (bits & CV_DATA) {
        if (data->value->type != JSON_OBJECT)
            return 0;
        slots[k++] = &data->value;
    }
    for (size_t i = 0; !(bits & CV_DATA) && i < NCV_FIELDS; i++) {
        if (!(bits & cv_fields[i].bit) ||
            (f = vendor_member(data->value, cv_fields[i].key)) == NULL)
            continue;
        if (f->value->type != JSON_ARRAY)
            return 0;
        slots[k++] = &f->value;
    }
    for (size_t i = 0; i < k; i++)
        if (field_deflate(w, b, slots[i]))
            return -1;
    return k > 0 ? cv_mark(w, ev) : 0;
}

/* ---- recordings ---- */

static int same_string(const struct json *x, const struct json *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    return x->len == y->len && memcmp(x->u.s, y->u.s, x->len) == 0;
}

static int group_of(struct walk *w, struct ph_batch *b, const struct json *sid,
                    const struct json *wid, size_t *g)
{
    for (*g = 0; *g < b->ngroups; (*g)++)
        if (same_string(b->groups[*g].session, sid) && same_string(b->groups[*g].window, wid))
            return 0;
    if (b->ngroups == PH_GROUPS_MAX)
        return walk_fail(w, REDACT_TOOBIG, "posthog: more than %d recordings in one batch",
                         PH_GROUPS_MAX);
    b->groups[b->ngroups++] = (struct ph_group){sid, wid};
    return 0;
}

/* An optional string property; anything else is refused. */
static int string_prop(struct walk *w, const struct json *props, const char *key,
                       const struct json **out)
{
    *out = value_of(props, key);
    if (*out != NULL && (*out)->type != JSON_STRING)
        return walk_fail(w, REDACT_BAD, "posthog: a recording's %s is not a string", key);
    return 0;
}

/* PostHog's capture takes an object $snapshot_data as a one-event list; it
 * is written back as that list. */
static int snapshot_list(struct walk *w, struct json_member *m)
{
    struct json *arr, **items;

    if (m->value->type == JSON_ARRAY)
        return 0;
    if (m->value->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: $snapshot_data is not rrweb events");
    arr = arena_alloc(w->a, sizeof(*arr));
    items = arena_alloc(w->a, sizeof(*items));
    if (arr == NULL || items == NULL)
        return arena_full(w);
    items[0] = m->value;
    *arr = (struct json){.type = JSON_ARRAY, .len = 1, .u.items = items};
    m->value = arr;
    return 0;
}

static int snapshot_read(struct walk *w, struct ph_batch *b, struct json *props)
{
    struct json_member *m = vendor_member(props, "$snapshot_data");
    struct ph_snap *s = &b->snaps[b->nsnaps];
    const struct json *sid, *wid;
    unsigned char *cv;

    if (string_prop(w, props, "$session_id", &sid) || string_prop(w, props, "$window_id", &wid) ||
        snapshot_list(w, m))
        return -1;
    if ((cv = arena_zalloc(w->a, m->value->len + 1)) == NULL)
        return arena_full(w);
    for (size_t i = 0; i < m->value->len; i++)
        if (rr_inflate(w, b, m->value->u.items[i], &cv[i]))
            return -1;
    *s = (struct ph_snap){props, m->value, m->value->len, cv, NULL, 0};
    if (group_of(w, b, sid, wid, &s->group))
        return -1;
    b->nsnaps++;
    return 0;
}

/* ---- autocapture elements ---- */

/* What the policy decided for an autocaptured element, least to most
 * restrictive, as the rrweb format decides for a DOM node. */
enum ph_dec { PH_ALLOW, PH_TEXT, PH_INPUT, PH_BLOCK };

/* An element of an autocapture event: the clicked one first, then its
 * ancestors (posthog-js autocapturePropertiesForElement), so the selector
 * chain's parent of element i is element i + 1. */
struct ph_elem {
    struct select_elem e;
    int is_input;
    enum ph_dec dec;
};

/* The target of an event's elements, as $el_text and $input_value need it. */
struct ph_target {
    int known;    /* an element list was read */
    int unknown;  /* one was present and could not be read */
    int is_input; /* the target is a value-bearing element */
    enum ph_dec dec;
};

static int tag_is(const struct select_elem *e, const char *lit)
{
    return e->taglen == strlen(lit) && strncasecmp(e->tag, lit, e->taglen) == 0;
}

static const struct select_attr *elem_attr(const struct select_elem *e, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < e->nattrs; i++)
        if (e->attrs[i].nlen == n && strncasecmp(e->attrs[i].name, name, n) == 0)
            return &e->attrs[i];
    return NULL;
}

static int attr_is(const struct select_attr *a, const char *lit)
{
    return a->vlen == strlen(lit) && strncasecmp(a->value, lit, a->vlen) == 0;
}

/* The elements rules/rrweb_node.c treats as inputs. An element without a
 * tag is not one scrim can judge, so it is treated as one (invariant 3). */
static int elem_is_input(const struct select_elem *e)
{
    const struct select_attr *ce = elem_attr(e, "contenteditable");

    if (e->taglen == 0 || (ce != NULL && !attr_is(ce, "false")))
        return 1;
    return tag_is(e, "input") || tag_is(e, "textarea") || tag_is(e, "select") ||
           tag_is(e, "option");
}

/* The rrweb format's rule: never a password; else a type in allow_types or
 * an inputs.allow selector. posthog-js leaves out the type of most inputs
 * (isSensitiveElement), and an input without one is a text input. */
static int input_allowed(const struct walk *w, const struct select_elem *e)
{
    const struct select_attr *type = elem_attr(e, "type");
    const char *t = type ? type->value : "text";
    size_t tn = type ? type->vlen : 4;

    if (e->taglen == 0 || (tag_is(e, "input") && type != NULL && attr_is(type, "password")))
        return 0;
    for (size_t i = 0; tag_is(e, "input") && i < w->pol->ninput_allow_types; i++)
        if (strlen(w->pol->input_allow_types[i]) == tn &&
            strncasecmp(w->pol->input_allow_types[i], t, tn) == 0)
            return 1;
    return select_match(w->pol->input_allow, e);
}

static enum ph_dec elem_decide(const struct walk *w, const struct ph_elem *el,
                               enum ph_dec inherited)
{
    const struct select_elem *p = el->e.parent;
    int option_ok = inherited < PH_INPUT && tag_is(&el->e, "option") && p != NULL &&
                    (tag_is(p, "select") || tag_is(p, "optgroup") || tag_is(p, "datalist"));

    if (inherited == PH_BLOCK || select_match(w->pol->block, &el->e))
        return PH_BLOCK;
    if (el->is_input && (inherited == PH_INPUT || (!option_ok && !input_allowed(w, &el->e))))
        return PH_INPUT;
    if (inherited < PH_TEXT && select_match(w->pol->text_mask, &el->e))
        return PH_TEXT;
    return inherited;
}

/* Judge els[0..n) from the outermost ancestor in, and note the target. */
static void elems_decide(const struct walk *w, struct ph_elem *els, size_t n, struct ph_target *t)
{
    enum ph_dec inherited = PH_ALLOW;

    for (size_t i = n; i-- > 0;) {
        els[i].e.parent = i + 1 < n ? &els[i + 1].e : NULL;
        els[i].is_input = elem_is_input(&els[i].e);
    }
    for (size_t i = n; i-- > 0;)
        inherited = els[i].dec = elem_decide(w, &els[i], inherited);
    if (n > 0) {
        t->dec = t->known && t->dec > els[0].dec ? t->dec : els[0].dec;
        t->is_input |= els[0].is_input;
        t->known = 1;
    }
}

static enum struct_rule dec_rule(enum ph_dec d)
{
    return d == PH_BLOCK ? SRULE_BLOCK : d == PH_INPUT ? SRULE_INPUT_MASK : SRULE_TEXT_MASK;
}

/* Mask the string or number *v in place, counted under rule r. */
static int value_mask(struct walk *w, struct json **v, enum struct_rule r)
{
    struct json *m;

    if (((*v)->type != JSON_STRING && (*v)->type != JSON_NUMBER) || (*v)->len == 0)
        return 0; /* nothing to hide */
    if ((m = redact_mask_string(w, (*v)->u.s, (*v)->len)) == NULL)
        return arena_full(w);
    *v = m;
    redact_count(w, redact_struct_index(w, r), 1);
    return 0;
}

/* What a decision hides of an element: its text (`text`, `$el_text`), an
 * input's value attributes (as the rrweb format: value, placeholder, title,
 * aria-label), and for a blocked element every attribute. name is an
 * attribute's name without its attr__ prefix, or NULL for the text. */
static int dec_hides(enum ph_dec d, const char *name, size_t n)
{
    static const char *const value_attrs[] = {"value", "placeholder", "title", "aria-label"};

    if (name == NULL)
        return d >= PH_TEXT;
    if (d == PH_BLOCK)
        return 1;
    for (size_t i = 0; d == PH_INPUT && i < 4; i++)
        if (n == strlen(value_attrs[i]) && strncasecmp(name, value_attrs[i], n) == 0)
            return 1;
    return 0;
}

#define ATTR_PREFIX     "attr__"
#define ATTR_PREFIX_LEN (sizeof(ATTR_PREFIX) - 1)

static int is_attr_key(const char *k, size_t n)
{
    return n > ATTR_PREFIX_LEN && memcmp(k, ATTR_PREFIX, ATTR_PREFIX_LEN) == 0;
}

/* One $elements entry as a selector element: tag_name, and attr__<name>. */
static int element_read(struct walk *w, const struct json *o, struct ph_elem *el)
{
    const struct json *tag = value_of(o, "tag_name");
    struct select_attr *at;

    if (o->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: an autocapture element is not an object");
    if ((at = arena_alloc(w->a, (o->len + 1) * sizeof(*at))) == NULL)
        return arena_full(w);
    memset(el, 0, sizeof(*el));
    if (tag != NULL && tag->type == JSON_STRING) {
        el->e.tag = tag->u.s;
        el->e.taglen = tag->len;
    }
    el->e.attrs = at;
    for (size_t i = 0; i < o->len; i++) {
        const struct json_member *m = &o->u.members[i];
        if (is_attr_key(m->key, m->klen) &&
            (m->value->type == JSON_STRING || m->value->type == JSON_NUMBER))
            at[el->e.nattrs++] = (struct select_attr){
                m->key + ATTR_PREFIX_LEN, m->klen - ATTR_PREFIX_LEN, m->value->u.s, m->value->len};
    }
    return 0;
}

static int element_mask(struct walk *w, struct json *o, enum ph_dec d)
{
    for (size_t i = 0; d > PH_ALLOW && i < o->len; i++) {
        struct json_member *m = &o->u.members[i];
        int attr = is_attr_key(m->key, m->klen);
        if (!((attr && dec_hides(d, m->key + ATTR_PREFIX_LEN, m->klen - ATTR_PREFIX_LEN)) ||
              (m->klen == 8 && memcmp(m->key, "$el_text", 8) == 0 && dec_hides(d, NULL, 0))))
            continue;
        if (value_mask(w, &m->value, dec_rule(d)))
            return -1;
    }
    return 0;
}

/* $elements: an array of element objects, judged and masked in place. */
static int elements_mask(struct walk *w, struct json *arr, struct ph_target *t)
{
    struct ph_elem *els;

    if (arr->type != JSON_ARRAY)
        return walk_fail(w, REDACT_BAD, "posthog: $elements is not an array");
    if ((els = arena_alloc(w->a, (arr->len + 1) * sizeof(*els))) == NULL)
        return arena_full(w);
    for (size_t i = 0; i < arr->len; i++)
        if (element_read(w, arr->u.items[i], &els[i]))
            return -1;
    elems_decide(w, els, arr->len, t);
    for (size_t i = 0; i < arr->len; i++)
        if (element_mask(w, arr->u.items[i], els[i].dec))
            return -1;
    return 0;
}

/* A value of an $elements_chain: a class name, or an attribute's value
 * between its quotes. */
enum ch_kind { CH_CLASS, CH_TEXT, CH_ATTR, CH_NTH };

struct ch_value {
    size_t off, len, elem;
    enum ch_kind kind;
    const char *name; /* CH_ATTR: the key, without attr__ */
    size_t nlen;
};

struct chain {
    const char *s;
    size_t n, i;
    struct ph_elem *els;
    size_t nels;
    struct ch_value *vals;
    size_t nvals;
    struct select_attr *sattrs;
    size_t nsattrs;
};

static int ch_stop(int c)
{
    return c == '.' || c == ':' || c == ';' || c == '"' || c == '=';
}

static void ch_value_add(struct chain *c, size_t off, size_t len, const char *key, size_t klen)
{
    struct ch_value *v = &c->vals[c->nvals++];

    *v = (struct ch_value){off, len, c->nels, CH_ATTR, key, klen};
    if (klen == 4 && memcmp(key, "text", 4) == 0)
        v->kind = CH_TEXT;
    else if ((klen == 9 && memcmp(key, "nth-child", 9) == 0) ||
             (klen == 11 && memcmp(key, "nth-of-type", 11) == 0))
        v->kind = CH_NTH;
    if (v->kind != CH_ATTR || !is_attr_key(key, klen))
        return;
    v->name += ATTR_PREFIX_LEN;
    v->nlen -= ATTR_PREFIX_LEN;
    c->sattrs[c->nsattrs++] = (struct select_attr){v->name, v->nlen, c->s + off, len};
    c->els[c->nels].e.nattrs++;
}

/* key="value", the value running to the first quote no backslash escapes
 * (posthog-js escapeQuotes). */
static int ch_attr(struct chain *c)
{
    const char *s = c->s;
    size_t k = c->i, v;

    while (c->i < c->n && !ch_stop((unsigned char)s[c->i]))
        c->i++;
    if (c->i == k || c->i + 1 >= c->n || s[c->i] != '=' || s[c->i + 1] != '"')
        return -1;
    c->i += 2;
    v = c->i;
    while (c->i < c->n && !(s[c->i] == '"' && s[c->i - 1] != '\\'))
        c->i++;
    if (c->i == c->n)
        return -1;
    ch_value_add(c, v, c->i - v, s + k, v - 2 - k);
    c->i++;
    return 0;
}

/* tag.class.class:key="v"key="v" (posthog-js elementsToString). */
static int ch_element(struct chain *c)
{
    struct ph_elem *el = &c->els[c->nels];
    size_t t = c->i;

    memset(el, 0, sizeof(*el));
    while (c->i < c->n && !ch_stop((unsigned char)c->s[c->i]))
        c->i++;
    el->e.tag = c->s + t;
    el->e.taglen = c->i - t;
    el->e.attrs = c->sattrs + c->nsattrs;
    while (c->i < c->n && c->s[c->i] == '.') {
        size_t k = ++c->i;
        while (c->i < c->n && !ch_stop((unsigned char)c->s[c->i]))
            c->i++;
        c->vals[c->nvals++] = (struct ch_value){k, c->i - k, c->nels, CH_CLASS, NULL, 0};
    }
    if (c->i == c->n || c->s[c->i] != ':')
        return -1;
    c->i++;
    while (c->i < c->n && c->s[c->i] != ';')
        if (ch_attr(c))
            return -1;
    c->nels++;
    return 0;
}

/* Read the chain into elements and values. Each element takes at least
 * two bytes (':' and ';'), each value at least one. */
static int chain_read(struct walk *w, struct chain *c)
{
    c->els = arena_alloc(w->a, (c->n / 2 + 2) * sizeof(*c->els));
    c->vals = arena_alloc(w->a, (c->n + 1) * sizeof(*c->vals));
    c->sattrs = arena_alloc(w->a, (c->n / 4 + 2) * sizeof(*c->sattrs));
    if (c->els == NULL || c->vals == NULL || c->sattrs == NULL)
        return arena_full(w);
    while (c->i < c->n) {
        if (ch_element(c))
            return 1;
        if (c->i < c->n && ++c->i == c->n)
            return 1; /* a trailing ';' */
    }
    return 0;
}

static int ch_hides(const struct ch_value *v, enum ph_dec d)
{
    switch (v->kind) {
    case CH_CLASS:
        return d == PH_BLOCK;
    case CH_TEXT:
        return dec_hides(d, NULL, 0);
    case CH_ATTR:
        return dec_hides(d, v->name, v->nlen);
    default:
        return 0;
    }
}

/* The chain again, with the values its elements' decisions hide masked. */
static int chain_write(struct walk *w, struct chain *c, struct json **slot)
{
    struct json **masks = arena_zalloc(w->a, (c->nvals + 1) * sizeof(*masks));
    size_t total = c->n, at = 0, k = 0;
    char *d;

    if (masks == NULL)
        return arena_full(w);
    for (size_t i = 0; i < c->nvals; i++) {
        const struct ch_value *v = &c->vals[i];
        enum ph_dec dec = c->els[v->elem].dec;
        if (v->len == 0 || !ch_hides(v, dec))
            continue;
        if ((masks[i] = redact_mask_string(w, c->s + v->off, v->len)) == NULL)
            return arena_full(w);
        total = total - v->len + masks[i]->len;
        redact_count(w, redact_struct_index(w, dec_rule(dec)), 1);
    }
    if ((d = arena_alloc(w->a, total + 1)) == NULL)
        return arena_full(w);
    for (size_t i = 0; i < c->nvals; i++) {
        const struct ch_value *v = &c->vals[i];
        if (masks[i] == NULL)
            continue;
        memcpy(d + k, c->s + at, v->off - at);
        k += v->off - at;
        memcpy(d + k, masks[i]->u.s, masks[i]->len);
        k += masks[i]->len;
        at = v->off + v->len;
    }
    memcpy(d + k, c->s + at, c->n - at);
    *slot = json_new_string(w->a, d, total);
    return *slot == NULL ? arena_full(w) : 0;
}

/* $elements_chain: read, judged like $elements, masked. A chain that does
 * not read as posthog-js writes one is masked whole: what of it is a value
 * is not known. */
static int chain_mask(struct walk *w, struct json **slot, struct ph_target *t)
{
    struct chain c;
    int r;

    if ((*slot)->type != JSON_STRING)
        return walk_fail(w, REDACT_BAD, "posthog: $elements_chain is not a string");
    memset(&c, 0, sizeof(c));
    c.s = (*slot)->u.s;
    c.n = (*slot)->len;
    if ((r = chain_read(w, &c)) < 0)
        return -1;
    if (r > 0) {
        t->unknown = 1;
        return value_mask(w, slot, SRULE_INPUT_MASK);
    }
    elems_decide(w, c.els, c.nels, t);
    return chain_write(w, &c, slot);
}

/* Autocapture properties (posthog-js autocapturePropertiesForElement): the
 * elements, then the target's copies. $el_text is the target's text;
 * $input_value its value, kept only for an input the policy allows. */
static int autocapture_mask(struct walk *w, struct json *props)
{
    struct json_member *m;
    struct ph_target t = {0, 0, 0, PH_ALLOW};
    int keep_value;

    if ((m = vendor_member(props, "$elements")) != NULL && elements_mask(w, m->value, &t))
        return -1;
    if ((m = vendor_member(props, "$elements_chain")) != NULL && chain_mask(w, &m->value, &t))
        return -1;
    if ((m = vendor_member(props, "$el_text")) != NULL &&
        (t.unknown || (t.known && t.dec >= PH_TEXT)) &&
        value_mask(w, &m->value, dec_rule(t.unknown ? PH_INPUT : t.dec)))
        return -1;
    keep_value = t.known && !t.unknown && t.is_input && t.dec == PH_ALLOW;
    if ((m = vendor_member(props, "$input_value")) != NULL && !keep_value &&
        value_mask(w, &m->value, SRULE_INPUT_MASK))
        return -1;
    return 0;
}

/* ---- events ---- */

static int event_read(struct walk *w, struct ph_batch *b, struct json *ev, size_t idx)
{
    const struct json *name = value_of(ev, "event");
    struct json *props = value_of(ev, "properties");

    if (ev->type != JSON_OBJECT || name == NULL || name->type != JSON_STRING)
        return walk_fail(w, REDACT_BAD, "posthog: events[%zu] has no event name", idx);
    if (props != NULL && props->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: events[%zu] properties is not an object", idx);
    /* capture builds $snapshot_items itself; a client never sends it */
    if (value_of(props, "$snapshot_items") != NULL)
        return walk_fail(w, REDACT_BAD, "posthog: events[%zu] carries $snapshot_items", idx);
    if (props != NULL && autocapture_mask(w, props))
        return -1;
    if (value_of(props, "$snapshot_data") == NULL)
        return 0;
    return snapshot_read(w, b, props);
}

/* An event array, {"batch": [...], ...} (the /e/ body), one event, or a
 * /flags/ request: {token, distinct_id, person_properties, ...} with no
 * event, batch or properties, which has no events of its own and gets the
 * field rules and detectors only. Capture reads recordings and autocapture
 * elements from properties, so an object without them hides neither. */
static int batch_read(struct walk *w, struct json **root, struct ph_batch *b)
{
    struct json *r = *root, *batch = value_of(r, "batch"), *event = value_of(r, "event");

    if (r->type == JSON_ARRAY) {
        b->events = r->u.items;
        b->nevents = r->len;
        return 0;
    }
    if (r->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: not an event, an event array or a batch");
    if (batch != NULL && event != NULL)
        return walk_fail(w, REDACT_BAD, "posthog: an object is both a batch and an event");
    if (batch != NULL && batch->type != JSON_ARRAY)
        return walk_fail(w, REDACT_BAD, "posthog: batch is not an array");
    if (batch == NULL && event == NULL) {
        if (value_of(r, "distinct_id") == NULL || value_of(r, "properties") != NULL)
            return walk_fail(w, REDACT_BAD, "posthog: not an event, a batch or a flags request");
        return 0;
    }
    b->events = batch ? batch->u.items : root;
    b->nevents = batch ? batch->len : 1;
    return 0;
}

/* Put the masked stream back into the recordings it came from, compressed
 * as it came. An event the rrweb pass kept is found by identity; one a
 * field rule replaced (an event hashed whole) takes the place of the first
 * event not yet placed, and goes plain. */
static int group_place(struct walk *w, struct ph_batch *b, const struct ph_slot *orig, size_t total,
                       const struct json *masked)
{
    size_t j = 0;

    for (size_t i = 0; masked != NULL && i < masked->len; i++) {
        struct json *x = masked->u.items[i];
        struct ph_snap *s;
        size_t p = j;
        while (p < total && orig[p].ev != x)
            p++;
        p = p < total ? p : j;
        s = p < total ? &b->snaps[orig[p].owner] : NULL;
        if (s == NULL || s->data->len == s->cap)
            return walk_fail(w, REDACT_INTERNAL, "posthog: masked recording does not fit back");
        if (orig[p].ev == x && rr_deflate(w, b, x, orig[p].cv))
            return -1;
        s->data->u.items[s->data->len++] = x;
        j = p + 1;
    }
    return 0;
}

static int group_redact(struct walk *w, struct ph_batch *b, size_t g, struct buf *records)
{
    const struct json *sid = b->groups[g].session;
    size_t total = 0, k = 0;
    struct json **items, *arr = arena_alloc(w->a, sizeof(*arr));
    struct ph_slot *orig;

    for (size_t i = 0; i < b->nsnaps; i++)
        total += b->snaps[i].group == g ? b->snaps[i].cap : 0;
    orig = arena_alloc(w->a, (total + 1) * sizeof(*orig));
    items = arena_alloc(w->a, (total + 1) * sizeof(*items));
    if (arr == NULL || orig == NULL || items == NULL)
        return arena_full(w);
    for (size_t i = 0; i < b->nsnaps; i++) {
        struct ph_snap *s = &b->snaps[i];
        for (size_t e = 0; s->group == g && e < s->cap; e++, k++) {
            items[k] = s->data->u.items[e];
            orig[k] = (struct ph_slot){items[k], i, s->cv[e]};
        }
        if (s->group == g)
            s->data->len = 0;
    }
    *arr = (struct json){.type = JSON_ARRAY, .len = total, .u.items = items};
    if (vendor_rrweb(w, sid ? sid->u.s : NULL, sid ? sid->len : 0, &arr, records))
        return -1;
    return group_place(w, b, orig, total, arr);
}

/* While the batch is walked, each recording is replaced by an empty
 * string: it has had its rules. A rule that acts on that string (or on an
 * object holding it) other than by keeping it leaves the recording out. */
static int recordings_set_aside(struct walk *w, struct ph_batch *b)
{
    for (size_t i = 0; i < b->nsnaps; i++) {
        struct json_member *m = vendor_member(b->snaps[i].props, "$snapshot_data");
        if ((b->snaps[i].hole = json_new_string(w->a, "", 0)) == NULL)
            return arena_full(w);
        m->value = b->snaps[i].hole;
    }
    return 0;
}

static void recordings_restore(struct ph_batch *b)
{
    for (size_t i = 0; i < b->nsnaps; i++) {
        struct json_member *m = vendor_member(b->snaps[i].props, "$snapshot_data");
        if (m != NULL && m->value == b->snaps[i].hole)
            m->value = b->snaps[i].data;
    }
}

static int batch_redact(struct walk *w, struct ph_batch *b, struct json **root, struct buf *records)
{
    if (batch_read(w, root, b))
        return -1;
    b->snaps = arena_alloc(w->a, (b->nevents + 1) * sizeof(*b->snaps));
    if (b->snaps == NULL)
        return arena_full(w);
    for (size_t i = 0; i < b->nevents; i++)
        if (event_read(w, b, b->events[i], i))
            return -1;
    for (size_t g = 0; g < b->ngroups; g++)
        if (group_redact(w, b, g, records))
            return -1;
    if (recordings_set_aside(w, b) || redact_tree(w, root))
        return -1;
    recordings_restore(b);
    return 0;
}

/* A masked field's JSON text may outgrow what it inflated from (a redaction
 * token is longer than a short value), so its scratch allows twice the
 * payload's inflate limit; the arena's cap bounds the strings made. */
int posthog_redact(struct walk *w, struct json **root, struct buf *records)
{
    struct ph_batch b;
    size_t max = vendor_inflate_max(w->env);
    int r;

    memset(&b, 0, sizeof(b));
    b.budget = max;
    max = max > SIZE_MAX / 4 ? SIZE_MAX / 4 : 2 * max;
    buf_init(&b.text, max);
    buf_init(&b.gz, max + max / 8 + 4096);
    r = batch_redact(w, &b, root, records);
    vendor_zip_free(b.zip);
    buf_wipe(&b.text);
    buf_free(&b.text);
    buf_wipe(&b.gz);
    buf_free(&b.gz);
    return r;
}
