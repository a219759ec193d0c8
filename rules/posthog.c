/*
 * posthog: the capture-body format (docs/posthog.md): batches, events and
 * the recordings in them. The transport (unwrap/wrap) is in posthog_wire.c,
 * autocapture elements in posthog_elements.c.
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

#include "engine_impl.h"
#include "posthog_impl.h"
#include "rules/vendor.h"

#define PH_CV         "2024-10"
#define PH_GROUPS_MAX 64

enum { RR_FULL = 2, RR_INCR = 3 };
enum { SRC_MUTATION = 0, SRC_STYLESHEET = 8 };

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

struct json *posthog_value_of(const struct json *o, const char *key)
{
    struct json_member *m = vendor_member(o, key);

    return m ? m->value : NULL;
}

int posthog_arena_full(struct walk *w)
{
    return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
}

/* ---- compressed fields (cv "2024-10") ---- */

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
    if (posthog_latin1_bytes(w, *slot, &bytes, &n) ||
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
        return posthog_arena_full(w);
    if (json_write(&b->text, *slot) ||
        vendor_deflate(b->zip, VENDOR_GZIP, b->text.data, b->text.len, &b->gz))
        return walk_fail(w, REDACT_TOOBIG, "posthog: a masked field is over the size limit");
    s = posthog_latin1_string(w->a, (const unsigned char *)b->gz.data, b->gz.len);
    if (s == NULL)
        return posthog_arena_full(w);
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
        return posthog_arena_full(w);
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
    if (data == NULL || small_int(posthog_value_of(ev, "type"), &type))
        return 0; /* the rrweb format rejects it */
    if (type == RR_FULL)
        return field_inflate(w, b, &data->value, JSON_OBJECT, CV_DATA, bits);
    if (type != RR_INCR || small_int(posthog_value_of(data->value, "source"), &src) ||
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
    *out = posthog_value_of(props, key);
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
        return posthog_arena_full(w);
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
        return posthog_arena_full(w);
    for (size_t i = 0; i < m->value->len; i++)
        if (rr_inflate(w, b, m->value->u.items[i], &cv[i]))
            return -1;
    *s = (struct ph_snap){props, m->value, m->value->len, cv, NULL, 0};
    if (group_of(w, b, sid, wid, &s->group))
        return -1;
    b->nsnaps++;
    return 0;
}

/* ---- events ---- */

static int event_read(struct walk *w, struct ph_batch *b, struct json *ev, size_t idx)
{
    const struct json *name = posthog_value_of(ev, "event");
    struct json *props = posthog_value_of(ev, "properties");

    if (ev->type != JSON_OBJECT || name == NULL || name->type != JSON_STRING)
        return walk_fail(w, REDACT_BAD, "posthog: events[%zu] has no event name", idx);
    if (props != NULL && props->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: events[%zu] properties is not an object", idx);
    /* capture builds $snapshot_items itself; a client never sends it */
    if (posthog_value_of(props, "$snapshot_items") != NULL)
        return walk_fail(w, REDACT_BAD, "posthog: events[%zu] carries $snapshot_items", idx);
    if (props != NULL && posthog_autocapture_mask(w, props))
        return -1;
    if (posthog_value_of(props, "$snapshot_data") == NULL)
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
    struct json *r = *root, *batch = posthog_value_of(r, "batch"),
                *event = posthog_value_of(r, "event");

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
        if (posthog_value_of(r, "distinct_id") == NULL || posthog_value_of(r, "properties") != NULL)
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
        return posthog_arena_full(w);
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
            return posthog_arena_full(w);
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
        return posthog_arena_full(w);
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
