/*
 * form: scrim's own form-interaction format (docs/form.md).
 *
 * The schema is strict: an unknown member or event type is a 400, so a typo
 * in an integration (`vaule`) is seen at once instead of silently kept.
 * Input values are masked unless the policy allows the field (password
 * fields never are); validation messages are always redacted, since they
 * quote what the user typed. Only facts about values (filled or empty) reach
 * the journey, never the values.
 */
#include "engine_impl.h"

#include <string.h>

#define MESSAGE_TOKEN "[REDACTED:message]"

enum ev_type { EV_STEP, EV_INPUT, EV_VALIDATION, EV_SUBMIT, EV_COMPLETE, EV_NONE };

static const char *const ev_names[] = {"step", "input", "validation", "submit", "complete"};

/* Members each event type may carry besides "type" and "t". */
static const char *const ev_members[][6] = {
    [EV_STEP] = {"step", NULL},
    [EV_INPUT] = {"field", "value", "input_type", "step", NULL},
    [EV_VALIDATION] = {"field", "state", "code", "message", "step", NULL},
    [EV_SUBMIT] = {"step", NULL},
    [EV_COMPLETE] = {NULL},
};

/* What the journey needs to know of an event after masking. */
struct ev_fact {
    const struct json *obj;
    enum ev_type type;
    uint64_t t;
    int filled;
};

struct batch {
    const char *session;
    size_t session_len;
    uint64_t width;
    int returning;
    struct ev_fact *facts;
    size_t nfacts;
};

static int key_is(const struct json_member *m, const char *k)
{
    return m->klen == strlen(k) && memcmp(m->key, k, m->klen) == 0;
}

static int str_is(const struct json *v, const char *s)
{
    return v != NULL && v->type == JSON_STRING && v->len == strlen(s) &&
           memcmp(v->u.s, s, v->len) == 0;
}

/* A non-negative integer lexeme up to 2^53, as event times are. */
static int parse_time(const struct json *v, uint64_t *out)
{
    uint64_t t = 0;

    if (v == NULL || v->type != JSON_NUMBER || v->len > 16)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        if (v->u.s[i] < '0' || v->u.s[i] > '9')
            return -1;
        t = t * 10 + (uint64_t)(v->u.s[i] - '0');
    }
    *out = t;
    return t <= ((uint64_t)1 << 53) ? 0 : -1;
}

static enum ev_type event_type(const struct json *v)
{
    for (size_t i = 0; i < EV_NONE; i++)
        if (str_is(v, ev_names[i]))
            return (enum ev_type)i;
    return EV_NONE;
}

static int member_allowed(enum ev_type t, const struct json_member *m)
{
    if (key_is(m, "type") || key_is(m, "t"))
        return 1;
    for (size_t i = 0; ev_members[t][i] != NULL; i++)
        if (key_is(m, ev_members[t][i]))
            return 1;
    return 0;
}

/* Types of the members every event kind shares: strings, except value. */
static int member_typed(const struct json_member *m)
{
    enum json_type vt = m->value->type;

    if (key_is(m, "t"))
        return 1;
    if (key_is(m, "value"))
        return vt != JSON_ARRAY && vt != JSON_OBJECT;
    return vt == JSON_STRING;
}

static int event_check(struct walk *w, const struct json *ev, size_t idx, enum ev_type *type,
                       uint64_t *t)
{
    if (ev->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "form: events[%zu] is not an object", idx);
    *type = event_type(json_get(ev, "type"));
    if (*type == EV_NONE)
        return walk_fail(w, REDACT_BAD, "form: events[%zu] has no known type", idx);
    if (parse_time(json_get(ev, "t"), t))
        return walk_fail(w, REDACT_BAD, "form: events[%zu].t is not a time in ms", idx);
    for (size_t i = 0; i < ev->len; i++) {
        if (!member_allowed(*type, &ev->u.members[i]))
            return walk_fail(w, REDACT_BAD, "form: events[%zu] (%s) has an unknown member #%zu",
                             idx, ev_names[*type], i + 1);
        if (!member_typed(&ev->u.members[i]))
            return walk_fail(w, REDACT_BAD, "form: events[%zu] member #%zu has the wrong type", idx,
                             i + 1);
    }
    if ((*type == EV_STEP && json_get(ev, "step") == NULL) ||
        ((*type == EV_INPUT || *type == EV_VALIDATION) && json_get(ev, "field") == NULL))
        return walk_fail(w, REDACT_BAD, "form: events[%zu] misses a required member", idx);
    if (*type == EV_VALIDATION && !str_is(json_get(ev, "state"), "valid") &&
        !str_is(json_get(ev, "state"), "invalid"))
        return walk_fail(w, REDACT_BAD, "form: events[%zu].state is not valid or invalid", idx);
    return 0;
}

/* The field as the policy's selectors see it: <input name=F id=F type=T>. */
static int input_allowed(const struct walk *w, const struct json *ev)
{
    const struct json *field = json_get(ev, "field"), *type = json_get(ev, "input_type");
    struct select_attr attrs[3];
    struct select_elem e = {"input", 5, attrs, 0, NULL};

    if (str_is(type, "password"))
        return 0;
    attrs[e.nattrs++] = (struct select_attr){"name", 4, field->u.s, field->len};
    attrs[e.nattrs++] = (struct select_attr){"id", 2, field->u.s, field->len};
    if (type != NULL) {
        attrs[e.nattrs++] = (struct select_attr){"type", 4, type->u.s, type->len};
        for (size_t i = 0; i < w->pol->ninput_allow_types; i++)
            if (str_is(type, w->pol->input_allow_types[i]))
                return 1;
    }
    return select_match(w->pol->input_allow, &e);
}

static int value_filled(const struct json *v)
{
    if (v == NULL || v->type == JSON_NULL || v->type == JSON_FALSE)
        return 0;
    return v->type != JSON_STRING || v->len > 0;
}

/* Mask what the structure says is sensitive; the detectors run later. */
static int event_mask(struct walk *w, struct json *ev, enum ev_type type)
{
    for (size_t i = 0; i < ev->len; i++) {
        struct json_member *m = &ev->u.members[i];
        if (type == EV_INPUT && key_is(m, "value") && !input_allowed(w, ev)) {
            if (m->value->type == JSON_STRING || m->value->type == JSON_NUMBER)
                m->value = redact_mask_string(w, m->value->u.s, m->value->len);
            else
                m->value = json_new_literal(w->a, JSON_NULL);
            redact_count(w, redact_struct_index(w, SRULE_INPUT_MASK), 1);
        } else if (type == EV_VALIDATION && key_is(m, "message")) {
            m->value = json_new_string(w->a, MESSAGE_TOKEN, sizeof(MESSAGE_TOKEN) - 1);
            redact_count(w, redact_struct_index(w, SRULE_MESSAGE), 1);
        }
        if (m->value == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    }
    return 0;
}

static int batch_header(struct walk *w, const struct json *root, struct batch *b)
{
    if (root->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "form: the batch is not an object");
    for (size_t i = 0; i < root->len; i++) {
        const struct json_member *m = &root->u.members[i];
        const struct json *v = m->value;
        if (key_is(m, "session") && v->type == JSON_STRING && v->len > 0) {
            b->session = v->u.s;
            b->session_len = v->len;
        } else if (key_is(m, "viewport") && v->type == JSON_OBJECT) {
            const struct json *wd = json_get(v, "w");
            if (v->len > 2 || (wd != NULL && parse_time(wd, &b->width)))
                return walk_fail(w, REDACT_BAD, "form: viewport is {w, h} in pixels");
        } else if (key_is(m, "returning") && (v->type == JSON_TRUE || v->type == JSON_FALSE)) {
            b->returning = v->type == JSON_TRUE;
        } else if (!(key_is(m, "journey") && v->type == JSON_STRING) &&
                   !(key_is(m, "events") && v->type == JSON_ARRAY)) {
            return walk_fail(w, REDACT_BAD, "form: batch member #%zu is unknown or mistyped",
                             i + 1);
        }
    }
    if (b->session == NULL || json_get(root, "events") == NULL)
        return walk_fail(w, REDACT_BAD, "form: a batch needs session and events");
    return 0;
}

static int form_apply(struct walk *w, struct json *root, struct batch *b)
{
    const struct json *events;

    b->returning = -1;
    if (batch_header(w, root, b))
        return -1;
    events = json_get(root, "events");
    b->facts = arena_alloc(w->a, (events->len + 1) * sizeof(*b->facts));
    if (b->facts == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < events->len; i++) {
        struct json *ev = events->u.items[i];
        struct ev_fact *f = &b->facts[b->nfacts++];
        if (event_check(w, ev, i, &f->type, &f->t))
            return -1;
        f->obj = ev;
        f->filled = value_filled(json_get(ev, "value"));
        if (event_mask(w, ev, f->type))
            return -1;
    }
    return 0;
}

/* A name read back from the masked tree: what survived the detectors, or a
 * placeholder when a rule dropped or replaced it with a non-string. */
static const char *masked_name(struct walk *w, const struct json *ev, const char *key)
{
    const struct json *v = json_get(ev, key);

    if (v == NULL || v->type != JSON_STRING)
        return "[REDACTED]";
    return arena_strndup(w->a, v->u.s, v->len);
}

static int journey_event(struct walk *w, struct journey_state *st, const struct journey_ctx *c,
                         const struct ev_fact *f)
{
    const char *name, *step;

    switch (f->type) {
    case EV_STEP:
        name = masked_name(w, f->obj, "step");
        if (name == NULL)
            return -1;
        if (c->conf->complete_event && strcmp(name, c->conf->complete_event) == 0)
            return journey_on_complete(st, c, f->t);
        step = journey_step_for_event(c->conf, name);
        return journey_on_step(st, c, step ? step : name, f->t);
    case EV_INPUT:
        name = masked_name(w, f->obj, "field");
        return name ? journey_on_input(st, c, name, f->filled, f->t) : -1;
    case EV_VALIDATION:
        name = masked_name(w, f->obj, "field");
        if (name == NULL)
            return -1;
        return journey_on_validation(
            st, c, name, masked_name(w, f->obj, "state"),
            json_get(f->obj, "code") ? masked_name(w, f->obj, "code") : NULL, f->t);
    case EV_SUBMIT:
        return journey_on_submit(st, c, f->t);
    case EV_COMPLETE:
        return journey_on_complete(st, c, f->t);
    default:
        return 0;
    }
}

/* Events a rule dropped are skipped: the final array is a subsequence of
 * the facts, in order. */
static int form_journey(struct walk *w, const struct json *root, const struct batch *b,
                        struct buf *records)
{
    const struct json *events = json_get(root, "events");
    struct journey_state *st = w->env->journey ? w->env->journey : journey_state_new();
    char session[PSEUDONYM_LEN + 1];
    struct journey_ctx c = {&w->pol->journey, session, journey_device_from_width(b->width),
                            b->returning, records};
    size_t fi = 0;
    int r = 0;

    if (st == NULL)
        return walk_fail(w, REDACT_TOOBIG, "out of memory for journey state");
    w->env->pseudonym(w->env->pseudonym_ctx, "session", b->session, b->session_len, session);
    for (size_t i = 0; r == 0 && events && events->type == JSON_ARRAY && i < events->len; i++) {
        while (fi < b->nfacts && b->facts[fi].obj != events->u.items[i])
            fi++;
        if (fi == b->nfacts)
            break;
        r = journey_event(w, st, &c, &b->facts[fi++]);
    }
    if (r == 0 && w->env->now_ms)
        r = journey_expire(st, &c, w->env->now_ms);
    if (st != w->env->journey)
        journey_state_free(st);
    return r ? walk_fail(w, REDACT_TOOBIG, "context records over their limit") : 0;
}

int form_redact(struct walk *w, struct json **root, struct buf *records)
{
    struct batch b;

    memset(&b, 0, sizeof(b));
    if (form_apply(w, *root, &b) || redact_tree(w, root))
        return -1;
    return form_journey(w, *root, &b, records);
}
