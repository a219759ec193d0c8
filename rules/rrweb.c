/*
 * rrweb: events, incremental snapshots and the journey (docs/rrweb.md).
 *
 * The structural pass goes through the events in order, so a node added by a
 * full snapshot or a mutation is judged before the input events and
 * mutations that name it. Anything that names an id this payload did not
 * describe is masked: scrim cannot know what that node is (DESIGN.md
 * invariant 3). After it, redact_tree runs field rules and detectors on all
 * that survived, and the journey reads the masked tree.
 */
#include "rrweb_impl.h"

#include <string.h>

enum event_type { EV_DCL, EV_LOAD, EV_FULL, EV_INCR, EV_META, EV_CUSTOM, EV_PLUGIN };

enum source { SRC_MUTATION = 0, SRC_INPUT = 5, SRC_CANVAS = 9 };

struct rr_batch {
    struct json *events;
    const char *session;
    size_t session_len;
    struct rr_map map;
};

#define KEY_IS(m, lit)                                                                             \
    ((m)->klen == sizeof(lit) - 1 && memcmp((m)->key, (lit), sizeof(lit) - 1) == 0)

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

/* adds[]: {parentId, nextId, node}. An add under a blocked node is removed,
 * since the placeholder must stay empty. */
static int mutation_adds(struct walk *w, struct rr_batch *b, struct json *adds)
{
    size_t keep = 0;

    for (size_t i = 0; i < adds->len; i++) {
        struct json *add = adds->u.items[i];
        const struct rr_node *parent;
        int64_t pid;
        if (rrweb_int(RR_MEMBER(add, "parentId"), &pid))
            return walk_fail(w, REDACT_BAD, "rrweb: an add has no numeric parentId");
        parent = rrweb_map_get(&b->map, pid);
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

/* texts[]: {id, value}. Only text the map knows to be allowed is kept. */
static int mutation_texts(struct walk *w, struct rr_batch *b, struct json *texts)
{
    for (size_t i = 0; i < texts->len; i++) {
        struct json *t = texts->u.items[i];
        const struct rr_node *n;
        int64_t id;
        if (rrweb_int(RR_MEMBER(t, "id"), &id))
            return walk_fail(w, REDACT_BAD, "rrweb: a text mutation has no numeric id");
        n = rrweb_map_get(&b->map, id);
        if (n != NULL && n->decision == RR_ALLOW)
            continue;
        for (size_t k = 0; k < t->len; k++)
            if (KEY_IS(&t->u.members[k], "value") &&
                rrweb_mask(w, &t->u.members[k].value,
                           n && n->decision == RR_MASK_TEXT ? SRULE_TEXT_MASK : SRULE_INPUT_MASK))
                return -1;
    }
    return 0;
}

static int mutation_attrs(struct walk *w, struct rr_batch *b, struct json *list)
{
    for (size_t i = 0; i < list->len; i++) {
        struct json *a = list->u.items[i];
        int64_t id;
        if (rrweb_int(RR_MEMBER(a, "id"), &id))
            return walk_fail(w, REDACT_BAD, "rrweb: an attribute mutation has no numeric id");
        if (rrweb_attrs_mutate(w, rrweb_map_get(&b->map, id), RR_MEMBER(a, "attributes")))
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
    if (adds && mutation_adds(w, b, adds))
        return -1;
    if (texts && mutation_texts(w, b, texts))
        return -1;
    return attrs ? mutation_attrs(w, b, attrs) : 0;
}

/* {id, text, isChecked}: kept only for an input the map allows. A masked
 * input also loses isChecked, since which box was ticked is the value. */
static int input_event(struct walk *w, struct rr_batch *b, struct json *data)
{
    const struct rr_node *n;
    int64_t id;

    if (rrweb_int(RR_MEMBER(data, "id"), &id))
        return walk_fail(w, REDACT_BAD, "rrweb: an input event has no numeric id");
    n = rrweb_map_get(&b->map, id);
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

/* Canvas commands carry pixels and image data URLs in their args, one
 * command per event (older rrweb) or a commands list. */
static void canvas(struct walk *w, struct json *data)
{
    struct json *cmds = RR_MEMBER(data, "commands");

    if (w->pol->allow_data_urls)
        return;
    drop_args(w, data);
    for (size_t i = 0; cmds != NULL && cmds->type == JSON_ARRAY && i < cmds->len; i++)
        drop_args(w, cmds->u.items[i]);
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
        canvas(w, data);
        return 0;
    default:
        return 0; /* the detectors read the rest */
    }
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
    if (type == EV_FULL)
        return rrweb_node(w, &b->map, RR_MEMBER(data, "node"), NULL, 0);
    if (type == EV_INCR)
        return incremental(w, b, data);
    return 0;
}

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

/* Only steps the policy names are recorded: a raw URL path or event tag
 * never reaches storage. Without a session id there is no one to follow,
 * so no records are written. */
static int rrweb_journey(struct walk *w, const struct json *root, const struct rr_batch *b,
                         struct buf *records)
{
    const struct json *events = root->type == JSON_ARRAY ? root : RR_MEMBER(root, "events");
    struct journey_state *st;
    char session[PSEUDONYM_LEN + 1];
    struct journey_ctx c = {&w->pol->journey, session, NULL, -1, records};
    int r = 0;

    if (b->session == NULL || events == NULL || !journey_wanted(&w->pol->journey))
        return 0;
    if (w->env->pseudonym == NULL)
        return walk_fail(w, REDACT_INTERNAL, "rrweb journeys need a pseudonym key");
    st = w->env->journey ? w->env->journey : journey_state_new();
    if (st == NULL)
        return walk_fail(w, REDACT_TOOBIG, "out of memory for journey state");
    w->env->pseudonym(w->env->pseudonym_ctx, "session", b->session, b->session_len, session);
    c.device = batch_device(events);
    for (size_t i = 0; r == 0 && events->type == JSON_ARRAY && i < events->len; i++)
        r = journey_event(st, &c, events->u.items[i]);
    if (r == 0 && w->env->now_ms)
        r = journey_expire(st, &c, w->env->now_ms);
    if (st != w->env->journey)
        journey_state_free(st);
    return r ? walk_fail(w, REDACT_TOOBIG, "context records over their limit") : 0;
}

int rrweb_redact(struct walk *w, struct json **root, struct buf *records)
{
    struct rr_batch b;

    memset(&b, 0, sizeof(b));
    if (batch_read(w, *root, &b))
        return -1;
    for (size_t i = 0; i < b.events->len; i++)
        if (event_apply(w, &b, b.events->u.items[i], i))
            return -1;
    if (redact_tree(w, root))
        return -1;
    return rrweb_journey(w, *root, &b, records);
}
