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

/* The members an event may have. */
enum ev_member {
    M_TYPE,
    M_T,
    M_STEP,
    M_FIELD,
    M_VALUE,
    M_INPUT_TYPE,
    M_STATE,
    M_CODE,
    M_MESSAGE,
    M_COUNT,
    M_UNKNOWN = M_COUNT
};

#define BIT(m) (1u << (m))

/* Members each event type may carry besides "type" and "t". */
static const unsigned ev_members[] = {
    [EV_STEP] = BIT(M_STEP),
    [EV_INPUT] = BIT(M_FIELD) | BIT(M_VALUE) | BIT(M_INPUT_TYPE) | BIT(M_STEP),
    [EV_VALIDATION] = BIT(M_FIELD) | BIT(M_STATE) | BIT(M_CODE) | BIT(M_MESSAGE) | BIT(M_STEP),
    [EV_SUBMIT] = BIT(M_STEP),
    [EV_COMPLETE] = 0,
};

/* An event's members by name, found in one pass over its keys, and the
 * kind of each of its first members (an event with more has an unknown
 * one). */
#define VIEW_KINDS 8

struct ev_view {
    const struct json *v[M_COUNT];
    unsigned char kind[VIEW_KINDS];
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

/* Compare against a literal: its length is a constant, not a strlen. */
#define KEY_IS(m, lit)                                                                             \
    ((m)->klen == sizeof(lit) - 1 && memcmp((m)->key, (lit), sizeof(lit) - 1) == 0)
#define STR_IS(v, lit)                                                                             \
    ((v) != NULL && (v)->type == JSON_STRING && (v)->len == sizeof(lit) - 1 &&                     \
     memcmp((v)->u.s, (lit), sizeof(lit) - 1) == 0)

static int str_is(const struct json *v, const char *s)
{
    return v != NULL && v->type == JSON_STRING && v->len == strlen(s) &&
           memcmp(v->u.s, s, v->len) == 0;
}

/* The member of o named lit, or NULL (object keys are unique). */
#define MEMBER(o, lit) member_get((o), (lit), sizeof(lit) - 1)

static inline const struct json *member_get(const struct json *o, const char *key, size_t n)
{
    if (o == NULL || o->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < o->len; i++)
        if (o->u.members[i].klen == n && memcmp(o->u.members[i].key, key, n) == 0)
            return o->u.members[i].value;
    return NULL;
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
    if (STR_IS(v, "input"))
        return EV_INPUT;
    if (STR_IS(v, "validation"))
        return EV_VALIDATION;
    if (STR_IS(v, "step"))
        return EV_STEP;
    if (STR_IS(v, "submit"))
        return EV_SUBMIT;
    if (STR_IS(v, "complete"))
        return EV_COMPLETE;
    return EV_NONE;
}

static enum ev_member member_kind(const struct json_member *m)
{
    switch (m->klen) {
    case 1:
        return KEY_IS(m, "t") ? M_T : M_UNKNOWN;
    case 4:
        return KEY_IS(m, "type")   ? M_TYPE
               : KEY_IS(m, "step") ? M_STEP
               : KEY_IS(m, "code") ? M_CODE
                                   : M_UNKNOWN;
    case 5:
        return KEY_IS(m, "field")   ? M_FIELD
               : KEY_IS(m, "value") ? M_VALUE
               : KEY_IS(m, "state") ? M_STATE
                                    : M_UNKNOWN;
    case 7:
        return KEY_IS(m, "message") ? M_MESSAGE : M_UNKNOWN;
    case 10:
        return KEY_IS(m, "input_type") ? M_INPUT_TYPE : M_UNKNOWN;
    default:
        return M_UNKNOWN;
    }
}

/* Types of the members every event kind shares: strings, except t and
 * value. */
static int member_typed(enum ev_member k, const struct json *v)
{
    if (k == M_T)
        return 1;
    if (k == M_VALUE)
        return v->type != JSON_ARRAY && v->type != JSON_OBJECT;
    return v->type == JSON_STRING;
}

static void event_view(const struct json *ev, struct ev_view *view)
{
    memset(view, 0, sizeof(*view));
    for (size_t i = 0; i < ev->len; i++) {
        enum ev_member k = member_kind(&ev->u.members[i]);
        if (i < VIEW_KINDS)
            view->kind[i] = (unsigned char)k;
        if (k != M_UNKNOWN)
            view->v[k] = ev->u.members[i].value;
    }
}

/* The schema, checked in the order its errors are reported: type, time,
 * then each member in turn, then what a type requires. */
static int event_check(struct walk *w, const struct json *ev, size_t idx, struct ev_view *view,
                       enum ev_type *type, uint64_t *t)
{
    if (ev->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "form: events[%zu] is not an object", idx);
    event_view(ev, view);
    *type = event_type(view->v[M_TYPE]);
    if (*type == EV_NONE)
        return walk_fail(w, REDACT_BAD, "form: events[%zu] has no known type", idx);
    if (parse_time(view->v[M_T], t))
        return walk_fail(w, REDACT_BAD, "form: events[%zu].t is not a time in ms", idx);
    for (size_t i = 0; i < ev->len; i++) {
        enum ev_member k =
            i < VIEW_KINDS ? (enum ev_member)view->kind[i] : member_kind(&ev->u.members[i]);
        if (k == M_UNKNOWN || !(k == M_TYPE || k == M_T || (ev_members[*type] & BIT(k))))
            return walk_fail(w, REDACT_BAD, "form: events[%zu] (%s) has an unknown member #%zu",
                             idx, ev_names[*type], i + 1);
        if (!member_typed(k, ev->u.members[i].value))
            return walk_fail(w, REDACT_BAD, "form: events[%zu] member #%zu has the wrong type", idx,
                             i + 1);
    }
    if ((*type == EV_STEP && view->v[M_STEP] == NULL) ||
        ((*type == EV_INPUT || *type == EV_VALIDATION) && view->v[M_FIELD] == NULL))
        return walk_fail(w, REDACT_BAD, "form: events[%zu] misses a required member", idx);
    if (*type == EV_VALIDATION && !STR_IS(view->v[M_STATE], "valid") &&
        !STR_IS(view->v[M_STATE], "invalid"))
        return walk_fail(w, REDACT_BAD, "form: events[%zu].state is not valid or invalid", idx);
    return 0;
}

/* The field as the policy's selectors see it: <input name=F id=F type=T>. */
static int input_allowed(const struct walk *w, const struct ev_view *view)
{
    const struct json *field = view->v[M_FIELD], *type = view->v[M_INPUT_TYPE];
    struct select_attr attrs[3];
    struct select_elem e = {"input", 5, attrs, 0, NULL};

    if (STR_IS(type, "password"))
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
static int event_mask(struct walk *w, struct json *ev, const struct ev_view *view,
                      enum ev_type type)
{
    if (type != EV_INPUT && type != EV_VALIDATION)
        return 0;
    for (size_t i = 0; i < ev->len; i++) {
        struct json_member *m = &ev->u.members[i];
        if (type == EV_INPUT && KEY_IS(m, "value") && !input_allowed(w, view)) {
            if (m->value->type == JSON_STRING || m->value->type == JSON_NUMBER)
                m->value = redact_mask_string(w, m->value->u.s, m->value->len);
            else
                m->value = json_new_literal(w->a, JSON_NULL);
            redact_count(w, redact_struct_index(w, SRULE_INPUT_MASK), 1);
        } else if (type == EV_VALIDATION && KEY_IS(m, "message")) {
            m->value = json_new_string(w->a, MESSAGE_TOKEN, sizeof(MESSAGE_TOKEN) - 1);
            if (m->value != NULL)
                m->value->flags = JSON_F_PLAIN; /* ASCII, no quote or backslash */
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
        if (KEY_IS(m, "session") && v->type == JSON_STRING && v->len > 0) {
            b->session = v->u.s;
            b->session_len = v->len;
        } else if (KEY_IS(m, "viewport") && v->type == JSON_OBJECT) {
            const struct json *wd = MEMBER(v, "w");
            if (v->len > 2 || (wd != NULL && parse_time(wd, &b->width)))
                return walk_fail(w, REDACT_BAD, "form: viewport is {w, h} in pixels");
        } else if (KEY_IS(m, "returning") && (v->type == JSON_TRUE || v->type == JSON_FALSE)) {
            b->returning = v->type == JSON_TRUE;
        } else if (!(KEY_IS(m, "journey") && v->type == JSON_STRING) &&
                   !(KEY_IS(m, "events") && v->type == JSON_ARRAY)) {
            return walk_fail(w, REDACT_BAD, "form: batch member #%zu is unknown or mistyped",
                             i + 1);
        }
    }
    if (b->session == NULL || MEMBER(root, "events") == NULL)
        return walk_fail(w, REDACT_BAD, "form: a batch needs session and events");
    return 0;
}

static int form_apply(struct walk *w, struct json *root, struct batch *b)
{
    const struct json *events;

    b->returning = -1;
    if (batch_header(w, root, b))
        return -1;
    events = MEMBER(root, "events");
    b->facts = arena_alloc(w->a, (events->len + 1) * sizeof(*b->facts));
    if (b->facts == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < events->len; i++) {
        struct json *ev = events->u.items[i];
        struct ev_fact *f = &b->facts[b->nfacts++];
        struct ev_view view;
        if (event_check(w, ev, i, &view, &f->type, &f->t))
            return -1;
        f->obj = ev;
        f->filled = value_filled(view.v[M_VALUE]);
        if (event_mask(w, ev, &view, f->type))
            return -1;
    }
    return 0;
}

/* A name read back from the masked tree: what survived the detectors, or a
 * placeholder when a rule dropped or replaced it with a non-string. */
static const char *masked_name(struct walk *w, const struct json *v)
{
    if (v == NULL || v->type != JSON_STRING)
        return "[REDACTED]";
    return arena_strndup(w->a, v->u.s, v->len);
}

static int journey_event(struct walk *w, struct journey_state *st, const struct journey_ctx *c,
                         const struct ev_fact *f)
{
    const char *name, *step, *state, *code = NULL;

    switch (f->type) {
    case EV_STEP:
        name = masked_name(w, MEMBER(f->obj, "step"));
        if (name == NULL)
            return -1;
        if (c->conf->complete_event && strcmp(name, c->conf->complete_event) == 0)
            return journey_on_complete(st, c, f->t);
        step = journey_step_for_event(c->conf, name);
        return journey_on_step(st, c, step ? step : name, f->t);
    case EV_INPUT:
        name = masked_name(w, MEMBER(f->obj, "field"));
        return name ? journey_on_input(st, c, name, f->filled, f->t) : -1;
    case EV_VALIDATION:
        name = masked_name(w, MEMBER(f->obj, "field"));
        state = masked_name(w, MEMBER(f->obj, "state"));
        if (MEMBER(f->obj, "code") != NULL &&
            (code = masked_name(w, MEMBER(f->obj, "code"))) == NULL)
            return -1;
        if (name == NULL || state == NULL)
            return -1;
        return journey_on_validation(st, c, name, state, code, f->t);
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
    const struct json *events = MEMBER(root, "events");
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
