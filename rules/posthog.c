/*
 * posthog: the transport unwrap and the batch format (docs/posthog.md).
 *
 * The batch is read in four steps. (1) Every event is checked and each
 * recording found: an event whose properties hold `$snapshot_data`, whatever
 * its name, since PostHog's recording endpoint takes the snapshot data of
 * every event it is sent. (2) posthog-js compresses parts of some rrweb
 * events inside strings (`cv: "2024-10"`, lazy-loaded-session-recorder
 * compressEvent): those are inflated and parsed in place. (3) The rrweb
 * events of each ($session_id, $window_id) are masked together, in order,
 * as one rrweb stream: rrweb node ids are per window, so two windows never
 * share a node map. (4) The recordings are set aside and the whole batch
 * walked by the field rules and detectors, so nothing is walked twice.
 */
#include "rules/posthog.h"

#include <string.h>

#include "engine_impl.h"
#include "rules/vendor.h"

#define PH_CV         "2024-10"
#define PH_GROUPS_MAX 64

enum { RR_FULL = 2, RR_INCR = 3 };
enum { SRC_MUTATION = 0, SRC_STYLESHEET = 8 };

/* One event's recording. */
struct ph_snap {
    struct json *props; /* the event's properties */
    struct json *data;  /* its rrweb events (an array) */
    size_t cap;         /* how many it had: the most it can get back */
    struct json *hole;  /* what stands for it during the batch walk */
    size_t group;
};

struct ph_group {
    const struct json *session, *window; /* strings, or NULL */
};

struct ph_batch {
    struct json **events;
    size_t nevents;
    struct ph_snap *snaps;
    size_t nsnaps;
    struct ph_group groups[PH_GROUPS_MAX];
    size_t ngroups;
    size_t budget; /* what the payload may still inflate */
};

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
                                      const char *p, size_t n, struct buf *out)
{
    if (strcmp(comp, "gzip-js") == 0 || strcmp(comp, "gzip") == 0)
        return decode_gzip(lim, p, n, out);
    if (strcmp(comp, "base64") == 0)
        return decode_base64(p, n, out);
    if (comp[0] != '\0')
        return DECODE_UNSUPPORTED;
    if (!form && is_gzip(p, n))
        return decode_gzip(lim, p, n, out);
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

enum decode_status posthog_unwrap(const struct decode_limits *lim, const struct posthog_http *h,
                                  const void *body, size_t n, struct buf *out)
{
    struct buf dec, form;
    const char *p = body;
    char comp[16];
    size_t mark = out->len;
    int is_form = h->content_type != NULL && media_type_is(h->content_type, h->content_type_len,
                                                           "application/x-www-form-urlencoded");
    enum decode_status st = compression_of(h, comp, sizeof(comp));

    buf_init(&dec, lim->out_max);
    buf_init(&form, lim->out_max);
    if (st == DECODE_OK && h->content_encoding != NULL) {
        st = decode_content_encoding(lim, h->content_encoding, h->content_encoding_len, body, n,
                                     &dec);
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
        st = unwrap_body(lim, comp, is_form, p, n, out);
    if (st != DECODE_OK)
        buf_wipe_from(out, mark);
    buf_wipe(&dec);
    buf_free(&dec);
    buf_wipe(&form);
    buf_free(&form);
    return st;
}

/* ---- the batch ---- */

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

/* The bytes of a latin1 string (fflate strFromU8(..., true)): each code
 * point is one byte, so nothing above U+00FF may occur. */
static int latin1_bytes(struct walk *w, const struct json *s, unsigned char **out, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s->u.s;
    unsigned char *d = arena_alloc(w->a, s->len + 1);
    size_t k = 0;

    if (d == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
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

/* Replace the compressed string *slot by the JSON it holds, which must be
 * of type want. A field that is not a string was not compressed. */
static int field_inflate(struct walk *w, struct ph_batch *b, struct json **slot,
                         enum json_type want)
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
    return 0;
}

static void member_remove(struct json *o, struct json_member *m)
{
    size_t i = (size_t)(m - o->u.members);

    memmove(m, m + 1, (o->len - i - 1) * sizeof(*m));
    o->len--;
}

static int field_of(struct walk *w, struct ph_batch *b, struct json *data, const char *key,
                    enum json_type want)
{
    struct json_member *m = vendor_member(data, key);

    return m ? field_inflate(w, b, &m->value, want) : 0;
}

/* Undo compressEvent: a full snapshot's data, a mutation's four lists and
 * a stylesheet rule's adds and removes may be gzip inside latin1 strings.
 * `cv` goes, since what is written back is plain rrweb. */
static int rr_inflate(struct walk *w, struct ph_batch *b, struct json *ev)
{
    struct json_member *cv = vendor_member(ev, "cv"), *data = vendor_member(ev, "data");
    long type, src;

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
        return field_inflate(w, b, &data->value, JSON_OBJECT);
    if (type != RR_INCR || small_int(value_of(data->value, "source"), &src))
        return 0;
    if (src == SRC_MUTATION)
        return field_of(w, b, data->value, "texts", JSON_ARRAY) ||
               field_of(w, b, data->value, "attributes", JSON_ARRAY) ||
               field_of(w, b, data->value, "removes", JSON_ARRAY) ||
               field_of(w, b, data->value, "adds", JSON_ARRAY);
    if (src == SRC_STYLESHEET)
        return field_of(w, b, data->value, "adds", JSON_ARRAY) ||
               field_of(w, b, data->value, "removes", JSON_ARRAY);
    return 0;
}

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
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
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

    if (string_prop(w, props, "$session_id", &sid) || string_prop(w, props, "$window_id", &wid) ||
        snapshot_list(w, m))
        return -1;
    for (size_t i = 0; i < m->value->len; i++)
        if (rr_inflate(w, b, m->value->u.items[i]))
            return -1;
    *s = (struct ph_snap){props, m->value, m->value->len, NULL, 0};
    if (group_of(w, b, sid, wid, &s->group))
        return -1;
    b->nsnaps++;
    return 0;
}

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
    if (value_of(props, "$snapshot_data") == NULL)
        return 0;
    return snapshot_read(w, b, props);
}

/* An event array, {"batch": [...], ...} (the /e/ body), or one event. */
static int batch_read(struct walk *w, struct json **root, struct ph_batch *b)
{
    struct json *r = *root, *batch = value_of(r, "batch");

    if (r->type == JSON_ARRAY) {
        b->events = r->u.items;
        b->nevents = r->len;
        return 0;
    }
    if (r->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: not an event, an event array or a batch");
    if (batch != NULL && value_of(r, "event") != NULL)
        return walk_fail(w, REDACT_BAD, "posthog: an object is both a batch and an event");
    if (batch != NULL && batch->type != JSON_ARRAY)
        return walk_fail(w, REDACT_BAD, "posthog: batch is not an array");
    b->events = batch ? batch->u.items : root;
    b->nevents = batch ? batch->len : 1;
    return 0;
}

/* Put the masked stream back into the recordings it came from. An event
 * the rrweb pass kept is found by identity; one a field rule replaced (an
 * event hashed whole) takes the place of the first event not yet placed. */
static int group_place(struct walk *w, struct ph_batch *b, struct json *const *orig,
                       const size_t *owner, size_t total, const struct json *masked)
{
    size_t j = 0;

    for (size_t i = 0; masked != NULL && i < masked->len; i++) {
        struct json *x = masked->u.items[i];
        struct ph_snap *s;
        size_t p = j;
        while (p < total && orig[p] != x)
            p++;
        p = p < total ? p : j;
        s = p < total ? &b->snaps[owner[p]] : NULL;
        if (s == NULL || s->data->len == s->cap)
            return walk_fail(w, REDACT_INTERNAL, "posthog: masked recording does not fit back");
        s->data->u.items[s->data->len++] = x;
        j = p + 1;
    }
    return 0;
}

static int group_redact(struct walk *w, struct ph_batch *b, size_t g, struct buf *records)
{
    const struct json *sid = b->groups[g].session;
    size_t total = 0, k = 0;
    struct json **orig, **items, *arr = arena_alloc(w->a, sizeof(*arr));
    size_t *owner;

    for (size_t i = 0; i < b->nsnaps; i++)
        total += b->snaps[i].group == g ? b->snaps[i].cap : 0;
    orig = arena_alloc(w->a, (total + 1) * sizeof(*orig));
    items = arena_alloc(w->a, (total + 1) * sizeof(*items));
    owner = arena_alloc(w->a, (total + 1) * sizeof(*owner));
    if (arr == NULL || orig == NULL || items == NULL || owner == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < b->nsnaps; i++) {
        struct ph_snap *s = &b->snaps[i];
        for (size_t e = 0; s->group == g && e < s->cap; e++, k++) {
            orig[k] = items[k] = s->data->u.items[e];
            owner[k] = i;
        }
        if (s->group == g)
            s->data->len = 0;
    }
    *arr = (struct json){.type = JSON_ARRAY, .len = total, .u.items = items};
    if (vendor_rrweb(w, sid ? sid->u.s : NULL, sid ? sid->len : 0, &arr, records))
        return -1;
    return group_place(w, b, orig, owner, total, arr);
}

/* While the batch is walked, each recording is replaced by an empty
 * string: it has had its rules. A rule that acts on that string (or on an
 * object holding it) other than by keeping it leaves the recording out. */
static int recordings_set_aside(struct walk *w, struct ph_batch *b)
{
    for (size_t i = 0; i < b->nsnaps; i++) {
        struct json_member *m = vendor_member(b->snaps[i].props, "$snapshot_data");
        if ((b->snaps[i].hole = json_new_string(w->a, "", 0)) == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
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

int posthog_redact(struct walk *w, struct json **root, struct buf *records)
{
    struct ph_batch b;

    memset(&b, 0, sizeof(b));
    b.budget = vendor_inflate_max(w->env);
    if (batch_read(w, root, &b))
        return -1;
    b.snaps = arena_alloc(w->a, (b.nevents + 1) * sizeof(*b.snaps));
    if (b.snaps == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < b.nevents; i++)
        if (event_read(w, &b, b.events[i], i))
            return -1;
    for (size_t g = 0; g < b.ngroups; g++)
        if (group_redact(w, &b, g, records))
            return -1;
    if (recordings_set_aside(w, &b) || redact_tree(w, root))
        return -1;
    recordings_restore(&b);
    return 0;
}
