/*
 * rrweb: events, incremental snapshots, plugins and the journey
 * (docs/rrweb.md).
 *
 * The structural pass goes through the events in order, so a node added by a
 * full snapshot or a mutation is judged before the input events and
 * mutations that name it. Anything that names an id neither this payload
 * nor its session described is masked: scrim cannot know what that node is
 * (DESIGN.md invariant 3). After it, redact_tree runs field rules and
 * detectors on all that survived, and the journey reads the masked tree
 * and the field facts the structural pass noted.
 */
#include "rrweb_impl.h"

#include <string.h>
#include <strings.h>

enum event_type { EV_DCL, EV_LOAD, EV_FULL, EV_INCR, EV_META, EV_CUSTOM, EV_PLUGIN };

enum source {
    SRC_MUTATION = 0,
    SRC_INPUT = 5,
    SRC_STYLESHEET = 8,
    SRC_CANVAS = 9,
    SRC_FONT = 10,
    SRC_STYLE_DECL = 13,
    SRC_ADOPTED = 15,
};

/* Field facts one payload may note for the journey; more are dropped (the
 * journey keeps 64 fields per session anyway). */
#define RR_OBS_MAX 4096

struct rr_batch {
    struct json *events;
    const char *session;
    size_t session_len;
    int expired; /* the session came back after its idle time */
    struct rr_map map;
    struct rr_obs *obs;
    size_t nobs, obs_cap;
    size_t event; /* index of the event being applied */
};

#define KEY_IS(m, lit)                                                                             \
    ((m)->klen == sizeof(lit) - 1 && memcmp((m)->key, (lit), sizeof(lit) - 1) == 0)

/* The member of o called key (to replace its value), or NULL. */
static struct json_member *member_of(struct json *o, const char *key)
{
    size_t n = strlen(key);

    for (size_t i = 0; o != NULL && o->type == JSON_OBJECT && i < o->len; i++)
        if (o->u.members[i].klen == n && memcmp(o->u.members[i].key, key, n) == 0)
            return &o->u.members[i];
    return NULL;
}

/* The batch is the event array itself, or {events, session_id}: nothing
 * else, so a misrouted payload is refused rather than half understood. */
static int batch_read(struct walk *w, struct json *root, struct rr_batch *b)
{
    if (root->type == JSON_ARRAY) {
        b->events = root;
        return 0;
    }
    if (root->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "rrweb: not an event array or {events}");
    for (size_t i = 0; i < root->len; i++) {
        const struct json_member *m = &root->u.members[i];
        if (KEY_IS(m, "events") && m->value->type == JSON_ARRAY) {
            b->events = m->value;
        } else if (KEY_IS(m, "session_id") && m->value->type == JSON_STRING && m->value->len > 0) {
            b->session = m->value->u.s;
            b->session_len = m->value->len;
        } else {
            return walk_fail(w, REDACT_BAD, "rrweb: batch member #%zu is unknown or mistyped",
                             i + 1);
        }
    }
    if (b->events == NULL)
        return walk_fail(w, REDACT_BAD, "rrweb: the batch has no events array");
    return 0;
}

/* The session's map behind this payload's, when the caller keeps sessions
 * and the payload names one (or the table names one for it). An id too
 * long to key a session leaves the payload on its own map: stricter, never
 * looser. */
static int session_open(struct walk *w, struct rr_batch *b, const char *window, size_t wlen)
{
    struct session_table *t = w->env->sessions;
    struct err e;

    if (t == NULL)
        return 0;
    if (!session_table_bound(t))
        return walk_fail(w, REDACT_INTERNAL, "rrweb: the session table has no tenant bound");
    if (b->session == NULL && session_table_fallback(t, &b->session, &b->session_len) != 0)
        return 0;
    if (b->session_len > SESSION_ID_MAX || wlen > SESSION_ID_MAX)
        return 0;
    err_clear(&e);
    b->map.sess = session_get(t, b->session, b->session_len, wlen ? window : NULL, wlen,
                              w->pol->journey.abandon_after_ms, w->env->now_ms, &e);
    if (b->map.sess == NULL)
        return walk_fail(w, REDACT_TOOBIG, "rrweb: %s", e.msg);
    b->expired = session_take_expired(b->map.sess);
    return 0;
}

/* Note a field fact of node n for the journey, if n has a field name. */
static int obs_note(struct walk *w, struct rr_batch *b, const struct rr_node *n,
                    enum rr_obs_kind kind, int value)
{
    struct rr_obs *o;

    if (n == NULL || b->nobs == RR_OBS_MAX)
        return 0;
    if (b->nobs == b->obs_cap) {
        size_t cap = b->obs_cap ? b->obs_cap * 2 : 16;
        struct rr_obs *more = arena_alloc(w->a, cap * sizeof(*more));
        if (more == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
        if (b->nobs)
            memcpy(more, b->obs, b->nobs * sizeof(*more));
        b->obs = more;
        b->obs_cap = cap;
    }
    o = &b->obs[b->nobs];
    if (rrweb_field_name(n, &o->field, &o->flen) != 0)
        return 0;
    o->event = b->event;
    o->kind = kind;
    o->value = value;
    b->nobs++;
    return 0;
}

/* ---- mutations ---- */

/* removes[]: {parentId, id}. rrweb's replayer applies them first. */
static int mutation_removes(struct walk *w, struct rr_batch *b, const struct json *removes)
{
    for (size_t i = 0; i < removes->len; i++) {
        int64_t id;
        if (rrweb_int(RR_MEMBER(removes->u.items[i], "id"), &id))
            return walk_fail(w, REDACT_BAD, "rrweb: a remove has no numeric id");
        rrweb_map_remove(&b->map, id);
    }
    return 0;
}

/* adds[]: {parentId, nextId, node}. An add under a blocked node is removed,
 * since the placeholder must stay empty. */
static int mutation_adds(struct walk *w, struct rr_batch *b, struct json *adds)
{
    size_t keep = 0;

    for (size_t i = 0; i < adds->len; i++) {
        struct json *add = adds->u.items[i];
        struct rr_node *parent;
        int64_t pid;
        if (rrweb_int(RR_MEMBER(add, "parentId"), &pid))
            return walk_fail(w, REDACT_BAD, "rrweb: an add has no numeric parentId");
        if (rrweb_find(w, &b->map, pid, &parent) ||
            (parent != NULL && rrweb_chain(w, &b->map, parent)))
            return -1;
        if (parent != NULL && parent->decision == RR_BLOCK) {
            redact_count(w, redact_struct_index(w, SRULE_BLOCK), 1);
            continue;
        }
        if (rrweb_node(w, &b->map, RR_MEMBER(add, "node"), parent, parent == NULL))
            return -1;
        adds->u.items[keep++] = add;
    }
    adds->len = keep;
    return 0;
}

/* texts[]: {id, value}. Only text the map knows to be allowed is kept; the
 * text of a <style> keeps all but its content strings. */
static int mutation_texts(struct walk *w, struct rr_batch *b, struct json *texts)
{
    for (size_t i = 0; i < texts->len; i++) {
        struct json *t = texts->u.items[i];
        struct rr_node *n;
        int64_t id;
        if (rrweb_int(RR_MEMBER(t, "id"), &id))
            return walk_fail(w, REDACT_BAD, "rrweb: a text mutation has no numeric id");
        if (rrweb_find(w, &b->map, id, &n))
            return -1;
        for (size_t k = 0; k < t->len; k++) {
            struct json_member *m = &t->u.members[k];
            int r = 0;
            if (!KEY_IS(m, "value") || (n != NULL && n->decision == RR_ALLOW && !n->is_style))
                continue;
            if (n != NULL && n->is_style && n->decision != RR_BLOCK)
                r = m->value->type == JSON_STRING ? rrweb_css(w, &m->value, 0) : 0;
            else
                r = rrweb_mask(w, &m->value,
                               n && n->decision == RR_MASK_TEXT ? SRULE_TEXT_MASK
                                                                : SRULE_INPUT_MASK);
            if (r)
                return -1;
        }
    }
    return 0;
}

/* aria-invalid: "true", "grammar" or "spelling" mean invalid, "false" or
 * removing it (null) valid (WAI-ARIA 1.2). Noted before any masking. */
static int aria_invalid(struct walk *w, struct rr_batch *b, const struct rr_node *n,
                        const struct json *attrs)
{
    const struct json *v = RR_MEMBER(attrs, "aria-invalid");

    if (v == NULL || (v->type != JSON_STRING && v->type != JSON_NULL))
        return 0;
    return obs_note(w, b, n, OBS_VALIDITY,
                    v->type == JSON_STRING && !(v->len == 5 && !strncasecmp(v->u.s, "false", 5)) &&
                        v->len > 0);
}

static int mutation_attrs(struct walk *w, struct rr_batch *b, struct json *list)
{
    for (size_t i = 0; i < list->len; i++) {
        struct json *a = list->u.items[i], *attrs = RR_MEMBER(a, "attributes");
        struct rr_node *n;
        int64_t id;
        if (rrweb_int(RR_MEMBER(a, "id"), &id))
            return walk_fail(w, REDACT_BAD, "rrweb: an attribute mutation has no numeric id");
        if (rrweb_find(w, &b->map, id, &n) || aria_invalid(w, b, n, attrs) ||
            rrweb_attrs_mutate(w, &b->map, n, attrs))
            return -1;
    }
    return 0;
}

static int mutation(struct walk *w, struct rr_batch *b, struct json *data)
{
    struct json *adds = RR_MEMBER(data, "adds"), *texts = RR_MEMBER(data, "texts"),
                *attrs = RR_MEMBER(data, "attributes"), *removes = RR_MEMBER(data, "removes");

    if ((adds && adds->type != JSON_ARRAY) || (texts && texts->type != JSON_ARRAY) ||
        (attrs && attrs->type != JSON_ARRAY) || (removes && removes->type != JSON_ARRAY))
        return walk_fail(w, REDACT_BAD, "rrweb: a mutation list is not an array");
    if (removes && mutation_removes(w, b, removes))
        return -1;
    if (adds && mutation_adds(w, b, adds))
        return -1;
    if (texts && mutation_texts(w, b, texts))
        return -1;
    return attrs ? mutation_attrs(w, b, attrs) : 0;
}

/* ---- other incremental sources ---- */

/* {id, text, isChecked}: kept only for an input the map allows. A masked
 * input also loses isChecked, since which box was ticked is the value. */
static int input_event(struct walk *w, struct rr_batch *b, struct json *data)
{
    const struct json *text = RR_MEMBER(data, "text"), *checked = RR_MEMBER(data, "isChecked");
    struct rr_node *n;
    int64_t id;

    if (rrweb_int(RR_MEMBER(data, "id"), &id))
        return walk_fail(w, REDACT_BAD, "rrweb: an input event has no numeric id");
    if (rrweb_find(w, &b->map, id, &n) ||
        obs_note(w, b, n, OBS_INPUT,
                 (text && text->type == JSON_STRING && text->len > 0) ||
                     (checked && checked->type == JSON_TRUE)))
        return -1;
    if (n != NULL && n->is_input && n->decision == RR_ALLOW)
        return 0;
    for (size_t i = 0; i < data->len; i++) {
        struct json_member *m = &data->u.members[i];
        if (KEY_IS(m, "text") && rrweb_mask(w, &m->value, SRULE_INPUT_MASK))
            return -1;
        if (KEY_IS(m, "isChecked") && m->value->type == JSON_TRUE &&
            (m->value = json_new_literal(w->a, JSON_FALSE)) == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    }
    return 0;
}

static void drop_args(struct walk *w, struct json *o)
{
    for (size_t i = 0; o != NULL && o->type == JSON_OBJECT && i < o->len; i++) {
        if (KEY_IS(&o->u.members[i], "args")) {
            rrweb_member_remove(o, i);
            redact_count(w, redact_struct_index(w, SRULE_DATA_URL), 1);
            return;
        }
    }
}

/* fillText and strokeText draw text: their first argument is masked even
 * where image data is allowed. */
static int canvas_text(struct walk *w, struct json *cmd)
{
    const struct json *prop = RR_MEMBER(cmd, "property");
    struct json *args = RR_MEMBER(cmd, "args");

    if (prop == NULL || prop->type != JSON_STRING || args == NULL || args->type != JSON_ARRAY ||
        args->len == 0 ||
        !((prop->len == 8 && memcmp(prop->u.s, "fillText", 8) == 0) ||
          (prop->len == 10 && memcmp(prop->u.s, "strokeText", 10) == 0)))
        return 0;
    return rrweb_mask(w, &args->u.items[0], SRULE_TEXT_MASK);
}

/* Canvas commands carry pixels, image data URLs and drawn text in their
 * args, one command per event (older rrweb) or a commands list. They are
 * kept only for a canvas the map allows, under a policy that allows data
 * URLs, and even then drawn text is masked. */
static int canvas(struct walk *w, struct rr_batch *b, struct json *data)
{
    struct json *cmds = RR_MEMBER(data, "commands");
    struct rr_node *n = NULL;
    int64_t id;
    int keep;

    if (!rrweb_int(RR_MEMBER(data, "id"), &id) && rrweb_find(w, &b->map, id, &n))
        return -1;
    keep = w->pol->allow_data_urls && n != NULL && n->decision == RR_ALLOW;
    if (!keep)
        drop_args(w, data);
    else if (canvas_text(w, data))
        return -1;
    for (size_t i = 0; cmds != NULL && cmds->type == JSON_ARRAY && i < cmds->len; i++) {
        if (!keep)
            drop_args(w, cmds->u.items[i]);
        else if (canvas_text(w, cmds->u.items[i]))
            return -1;
    }
    return 0;
}

/* CSS in the member key of each object of list (rules: [{rule, index}]). */
static int css_list(struct walk *w, struct json *list, const char *key)
{
    for (size_t i = 0; list != NULL && list->type == JSON_ARRAY && i < list->len; i++) {
        struct json_member *m = member_of(list->u.items[i], key);
        if (m != NULL && m->value->type == JSON_STRING && rrweb_css(w, &m->value, 0))
            return -1;
    }
    return 0;
}

/* StyleSheetRule {adds: [{rule}], replace, replaceSync}, AdoptedStyleSheet
 * {styles: [{rules: [{rule}]}]} and StyleDeclaration {set: {property,
 * value}}: `content` strings are text a page shows. */
static int stylesheet(struct walk *w, struct json *data, int64_t src)
{
    struct json *styles = RR_MEMBER(data, "styles"), *set = RR_MEMBER(data, "set");

    if (src == SRC_STYLE_DECL) {
        const struct json *prop = RR_MEMBER(set, "property");
        struct json_member *v = member_of(set, "value");
        if (prop != NULL && prop->type == JSON_STRING && prop->len == 7 &&
            strncasecmp(prop->u.s, "content", 7) == 0 && v != NULL && v->value->type == JSON_STRING)
            return rrweb_css(w, &v->value, 1) ? -1 : 0;
        return 0;
    }
    for (size_t i = 0; i < data->len; i++) {
        struct json_member *m = &data->u.members[i];
        if ((KEY_IS(m, "replace") || KEY_IS(m, "replaceSync")) && m->value->type == JSON_STRING &&
            rrweb_css(w, &m->value, 0))
            return -1;
    }
    if (css_list(w, RR_MEMBER(data, "adds"), "rule"))
        return -1;
    for (size_t i = 0; styles != NULL && styles->type == JSON_ARRAY && i < styles->len; i++)
        if (css_list(w, RR_MEMBER(styles->u.items[i], "rules"), "rule"))
            return -1;
    return 0;
}

/* A web font whose source is inline data, like an image data URL. */
static void font(struct walk *w, struct json *data)
{
    for (size_t i = 0; !w->pol->allow_data_urls && i < data->len; i++) {
        const struct json_member *m = &data->u.members[i];
        if (KEY_IS(m, "fontSource") && m->value->type == JSON_STRING && m->value->len >= 5 &&
            strncasecmp(m->value->u.s, "data:", 5) == 0) {
            rrweb_member_remove(data, i);
            redact_count(w, redact_struct_index(w, SRULE_DATA_URL), 1);
            return;
        }
    }
}

static int incremental(struct walk *w, struct rr_batch *b, struct json *data)
{
    int64_t src;

    if (rrweb_int(RR_MEMBER(data, "source"), &src))
        return walk_fail(w, REDACT_BAD, "rrweb: an incremental snapshot has no source");
    switch (src) {
    case SRC_MUTATION:
        return mutation(w, b, data);
    case SRC_INPUT:
        return input_event(w, b, data);
    case SRC_CANVAS:
        return canvas(w, b, data);
    case SRC_STYLESHEET:
    case SRC_STYLE_DECL:
    case SRC_ADOPTED:
        return stylesheet(w, data, src);
    case SRC_FONT:
        font(w, data);
        return 0;
    default:
        return 0; /* the detectors read the rest */
    }
}

/* ---- plugins ---- */

/* Response and request headers that describe the transfer, not the user. */
static int header_plain(const struct json_member *m)
{
    static const char *const plain[] = {"accept",
                                        "accept-encoding",
                                        "accept-language",
                                        "age",
                                        "cache-control",
                                        "connection",
                                        "content-encoding",
                                        "content-language",
                                        "content-length",
                                        "content-type",
                                        "date",
                                        "etag",
                                        "expires",
                                        "last-modified",
                                        "pragma",
                                        "server",
                                        "transfer-encoding",
                                        "vary"};

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (m->klen == strlen(plain[i]) && strncasecmp(m->key, plain[i], m->klen) == 0)
            return 1;
    return 0;
}

/* Bodies are what the user typed, sent on (or what the server knows of
 * them); headers carry cookies and tokens. Both are masked; URLs are left
 * to the detectors. */
static int network_request(struct walk *w, struct json *req)
{
    for (size_t i = 0; req != NULL && req->type == JSON_OBJECT && i < req->len; i++) {
        struct json_member *m = &req->u.members[i];
        if (KEY_IS(m, "requestBody") || KEY_IS(m, "responseBody")) {
            if (m->value->type == JSON_STRING || m->value->type == JSON_NUMBER) {
                if (rrweb_mask(w, &m->value, SRULE_INPUT_MASK))
                    return -1;
            } else if (m->value->type != JSON_NULL) {
                if ((m->value = json_new_literal(w->a, JSON_NULL)) == NULL)
                    return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
                redact_count(w, redact_struct_index(w, SRULE_INPUT_MASK), 1);
            }
        } else if ((KEY_IS(m, "requestHeaders") || KEY_IS(m, "responseHeaders")) &&
                   m->value->type == JSON_OBJECT) {
            struct json *h = m->value;
            for (size_t k = 0; k < h->len; k++)
                if (!header_plain(&h->u.members[k]) &&
                    rrweb_mask(w, &h->u.members[k].value, SRULE_INPUT_MASK))
                    return -1;
        }
    }
    return 0;
}

/* rrweb's and PostHog's network recorders ("rrweb/network@1"); console
 * plugins are left to the detectors like any other payload. */
static int plugin(struct walk *w, struct json *data)
{
    const struct json *name = RR_MEMBER(data, "plugin");
    struct json *reqs = RR_MEMBER(RR_MEMBER(data, "payload"), "requests");

    if (name == NULL || name->type != JSON_STRING || name->len < 10 ||
        memcmp(name->u.s + name->len - 10, "/network@1", 10) != 0)
        return 0;
    for (size_t i = 0; reqs != NULL && reqs->type == JSON_ARRAY && i < reqs->len; i++)
        if (network_request(w, reqs->u.items[i]))
            return -1;
    return 0;
}

static int event_apply(struct walk *w, struct rr_batch *b, struct json *ev, size_t idx)
{
    struct json *data = RR_MEMBER(ev, "data"), *ts = RR_MEMBER(ev, "timestamp");
    int64_t type;

    if (ev->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "rrweb: events[%zu] is not an object", idx);
    if (rrweb_int(RR_MEMBER(ev, "type"), &type) || type < EV_DCL || type > EV_PLUGIN)
        return walk_fail(w, REDACT_BAD, "rrweb: events[%zu] has no known type", idx);
    if (data == NULL || data->type != JSON_OBJECT || (ts != NULL && ts->type != JSON_NUMBER))
        return walk_fail(w, REDACT_BAD, "rrweb: events[%zu] data or timestamp mistyped", idx);
    b->event = idx;
    if (type == EV_FULL)
        return rrweb_map_reset(w, &b->map)
                   ? -1
                   : rrweb_node(w, &b->map, RR_MEMBER(data, "node"), NULL, 0);
    if (type == EV_INCR)
        return incremental(w, b, data);
    if (type == EV_PLUGIN)
        return plugin(w, data);
    return 0;
}

/* ---- the journey ---- */

/* A non-negative integer time in ms, or 0 when the event has none. */
static uint64_t event_time(const struct json *ev)
{
    int64_t t;

    return rrweb_int(RR_MEMBER(ev, "timestamp"), &t) || t < 0 ? 0 : (uint64_t)t;
}

static int journey_wanted(const struct journey_conf *jc)
{
    return jc->nsteps > 0 || jc->complete_url != NULL || jc->complete_event != NULL;
}

/* The complete URL is a glob like a step's: reuse the step matcher on a
 * one-step journey. */
static int url_completes(const struct journey_conf *jc, const struct json *href)
{
    struct journey_step s = {"complete", jc->complete_url, NULL};
    struct journey_conf one = {NULL, &s, 1, NULL, NULL, 0};

    return jc->complete_url != NULL && journey_step_for_url(&one, href->u.s, href->len) != NULL;
}

static int journey_event(struct journey_state *st, const struct journey_ctx *c,
                         const struct json *ev)
{
    const struct json *data = RR_MEMBER(ev, "data"), *href = RR_MEMBER(data, "href"),
                      *tag = RR_MEMBER(data, "tag");
    uint64_t t = event_time(ev);
    int64_t type;
    const char *step = NULL;

    if (rrweb_int(RR_MEMBER(ev, "type"), &type))
        return 0;
    if (type == EV_META && href != NULL && href->type == JSON_STRING) {
        if (url_completes(c->conf, href))
            return journey_on_complete(st, c, t);
        step = journey_step_for_url(c->conf, href->u.s, href->len);
    } else if (type == EV_CUSTOM && tag != NULL && tag->type == JSON_STRING) {
        char name[JOURNEY_NAME_MAX + 1];
        size_t n = tag->len < JOURNEY_NAME_MAX ? tag->len : JOURNEY_NAME_MAX;
        memcpy(name, tag->u.s, n);
        name[n] = '\0';
        if (c->conf->complete_event && strcmp(name, c->conf->complete_event) == 0)
            return journey_on_complete(st, c, t);
        step = journey_step_for_event(c->conf, name);
    }
    return step ? journey_on_step(st, c, step, t) : 0;
}

/* The first Meta event's width gives the device class. */
static const char *batch_device(const struct json *events)
{
    int64_t type, width;

    for (size_t i = 0; events->type == JSON_ARRAY && i < events->len; i++) {
        const struct json *ev = events->u.items[i];
        if (!rrweb_int(RR_MEMBER(ev, "type"), &type) && type == EV_META &&
            !rrweb_int(RR_MEMBER(RR_MEMBER(ev, "data"), "width"), &width) && width > 0)
            return journey_device_from_width((uint64_t)width);
    }
    return NULL;
}

/* A validation fact for the journey: from a custom event, or from an
 * aria-invalid mutation (code taken from a custom event for the same field
 * and state in the payload, which is then not recorded twice). */
struct rr_valid {
    size_t event;
    const char *field, *code; /* NUL-terminated; code may be NULL */
    int invalid, paired;
};

struct rr_journey {
    struct journey_state *st;
    struct journey_ctx c;
    struct rr_valid *valid; /* custom validation events */
    size_t nvalid;
    const char **names; /* per observation: its field name after the detectors, or NULL */
    const char **codes; /* per observation: the paired custom event's code, or NULL */
};

static const char *name_dup(struct walk *w, const char *s, size_t n)
{
    char *d = arena_alloc(w->a, n + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int str_eq(const struct json *v, const char *lit)
{
    return v != NULL && v->type == JSON_STRING && v->len == strlen(lit) &&
           memcmp(v->u.s, lit, v->len) == 0;
}

/* {type: 5, data: {tag: "validation", payload: {field, state, code}}}, read
 * after the detectors. 1 with *out filled when ev is one, 0 when not, -1
 * over the arena cap. */
static int custom_validation(struct walk *w, const struct json *ev, size_t idx,
                             struct rr_valid *out)
{
    const struct json *data = RR_MEMBER(ev, "data"), *p = RR_MEMBER(data, "payload");
    const struct json *field = RR_MEMBER(p, "field"), *state = RR_MEMBER(p, "state"),
                      *code = RR_MEMBER(p, "code");
    int64_t type;

    if (rrweb_int(RR_MEMBER(ev, "type"), &type) || type != EV_CUSTOM ||
        !str_eq(RR_MEMBER(data, "tag"), "validation") || field == NULL ||
        field->type != JSON_STRING || field->len == 0 ||
        !(str_eq(state, "valid") || str_eq(state, "invalid")))
        return 0;
    *out = (struct rr_valid){idx, name_dup(w, field->u.s, field->len), NULL,
                             str_eq(state, "invalid"), 0};
    if (code != NULL && code->type == JSON_STRING && code->len > 0)
        out->code = name_dup(w, code->u.s, code->len);
    if (out->field == NULL ||
        (code != NULL && code->type == JSON_STRING && code->len > 0 && out->code == NULL))
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    return 1;
}

/* The field name of observation o as a record may hold it: through the
 * detectors, like every name that reaches storage. NULL when a rule drops
 * it. */
static int obs_name(struct walk *w, const struct rr_obs *o, const char **name)
{
    const char *s;
    size_t n;
    int drop = 0;

    *name = NULL;
    if (redact_text(w, o->field, o->flen, &s, &n, &drop) < 0)
        return -1;
    if (drop)
        return 0;
    if ((*name = name_dup(w, s, n)) == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    return 0;
}

/* Read the custom validation events, name the observations and pair each
 * aria-invalid change with the first unpaired custom event that agrees. */
static int journey_prepare(struct walk *w, const struct json *events, const struct rr_batch *b,
                           struct rr_journey *j)
{
    j->valid = arena_alloc(w->a, (events->len + 1) * sizeof(*j->valid));
    j->names = arena_zalloc(w->a, (b->nobs + 1) * sizeof(*j->names));
    j->codes = arena_zalloc(w->a, (b->nobs + 1) * sizeof(*j->codes));
    if (j->valid == NULL || j->names == NULL || j->codes == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < events->len; i++) {
        int r = custom_validation(w, events->u.items[i], i, &j->valid[j->nvalid]);
        if (r < 0)
            return -1;
        j->nvalid += (size_t)r;
    }
    for (size_t k = 0; k < b->nobs; k++) {
        if (obs_name(w, &b->obs[k], &j->names[k]))
            return -1;
        for (size_t v = 0; b->obs[k].kind == OBS_VALIDITY && j->names[k] && v < j->nvalid; v++) {
            struct rr_valid *cv = &j->valid[v];
            if (!cv->paired && cv->invalid == b->obs[k].value &&
                strcmp(cv->field, j->names[k]) == 0) {
                cv->paired = 1;
                j->codes[k] = cv->code;
                break;
            }
        }
    }
    return 0;
}

/* The field facts of event i: an unpaired custom validation, then the
 * observations the structural pass noted for it (from *k on). */
static int journey_fields(struct rr_journey *j, const struct rr_batch *b, size_t i, uint64_t t,
                          size_t *v, size_t *k)
{
    for (; *v < j->nvalid && j->valid[*v].event == i; (*v)++) {
        const struct rr_valid *cv = &j->valid[*v];
        if (!cv->paired && journey_on_validation(j->st, &j->c, cv->field,
                                                 cv->invalid ? "invalid" : "valid", cv->code, t))
            return -1;
    }
    for (; *k < b->nobs && b->obs[*k].event == i; (*k)++) {
        const struct rr_obs *o = &b->obs[*k];
        if (j->names[*k] == NULL)
            continue;
        if (o->kind == OBS_INPUT
                ? journey_on_input(j->st, &j->c, j->names[*k], o->value, t)
                : journey_on_validation(j->st, &j->c, j->names[*k], o->value ? "invalid" : "valid",
                                        j->codes[*k], t))
            return -1;
    }
    return 0;
}

static int journey_run(struct walk *w, const struct json *events, const struct rr_batch *b,
                       struct rr_journey *j)
{
    size_t v = 0, k = 0;
    int r = 0;

    if (journey_prepare(w, events, b, j))
        return -1;
    /* A session back after its idle time was abandoned before this. */
    if (b->expired && w->env->now_ms)
        r = journey_expire(j->st, &j->c, w->env->now_ms);
    for (size_t i = 0; r == 0 && i < events->len; i++) {
        const struct json *ev = events->u.items[i];
        r = journey_event(j->st, &j->c, ev) || journey_fields(j, b, i, event_time(ev), &v, &k);
    }
    if (r == 0 && w->env->now_ms)
        r = journey_expire(j->st, &j->c, w->env->now_ms);
    return r ? walk_fail(w, REDACT_TOOBIG, "context records over their limit") : 0;
}

/* Only steps the policy names are recorded: a raw URL path or event tag
 * never reaches storage. Without a session id there is no one to follow,
 * so no records are written. The journey state is the caller's, else the
 * session's, else one for this payload. */
static int rrweb_journey(struct walk *w, const struct json *root, const struct rr_batch *b,
                         struct buf *records)
{
    const struct json *events = root->type == JSON_ARRAY ? root : RR_MEMBER(root, "events");
    char session[PSEUDONYM_LEN + 1];
    struct rr_journey j;
    struct journey_state *fresh = NULL;
    int r;

    if (b->session == NULL || events == NULL || events->type != JSON_ARRAY ||
        !journey_wanted(&w->pol->journey))
        return 0;
    if (w->env->pseudonym == NULL)
        return walk_fail(w, REDACT_INTERNAL, "rrweb journeys need a pseudonym key");
    memset(&j, 0, sizeof(j));
    w->env->pseudonym(w->env->pseudonym_ctx, "session", b->session, b->session_len, session);
    j.c = (struct journey_ctx){&w->pol->journey, session, batch_device(events), -1, records};
    j.st = w->env->journey;
    if (j.st == NULL && b->map.sess != NULL && (j.st = session_journey(b->map.sess)) != NULL)
        session_set_label(b->map.sess, session);
    if (j.st == NULL && (j.st = fresh = journey_state_new()) == NULL)
        return walk_fail(w, REDACT_TOOBIG, "out of memory for journey state");
    r = journey_run(w, events, b, &j);
    journey_state_free(fresh);
    return r;
}

int rrweb_run(struct walk *w, struct json **root, const char *window, size_t wlen,
              struct buf *records)
{
    struct rr_batch b;

    memset(&b, 0, sizeof(b));
    if (batch_read(w, *root, &b) || session_open(w, &b, window, wlen))
        return -1;
    for (size_t i = 0; i < b.events->len; i++)
        if (event_apply(w, &b, b.events->u.items[i], i))
            return -1;
    if (redact_tree(w, root))
        return -1;
    return rrweb_journey(w, *root, &b, records);
}

int rrweb_redact(struct walk *w, struct json **root, struct buf *records)
{
    return rrweb_run(w, root, NULL, 0, records);
}

int rrweb_redact_events(struct walk *w, const struct rrweb_stream *s, struct json **events,
                        struct buf *records)
{
    struct json_member *m = arena_alloc(w->a, 2 * sizeof(*m)), *ev;
    struct json *root = arena_alloc(w->a, sizeof(*root)), *sid = NULL;
    size_t k = 0;

    if (m == NULL || root == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    if (s->session != NULL && s->slen > 0 &&
        (sid = json_new_string(w->a, s->session, s->slen)) == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    if (sid != NULL)
        m[k++] = (struct json_member){"session_id", 10, JSON_F_PLAIN, sid};
    m[k++] = (struct json_member){"events", 6, JSON_F_PLAIN, *events};
    *root = (struct json){.type = JSON_OBJECT, .len = k, .u.members = m};
    if (rrweb_run(w, &root, s->window, s->window ? s->wlen : 0, records))
        return -1;
    ev = member_of(root, "events");
    *events = ev != NULL && ev->value->type == JSON_ARRAY ? ev->value : NULL;
    return 0;
}
