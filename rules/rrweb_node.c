/*
 * rrweb_node: serialized nodes, the node map and attribute rules.
 *
 * A node is judged once, when a full snapshot or a mutation add describes
 * it, from its own tag and attributes and its parent's decision (which
 * already folds in every ancestor). Descendant selectors see the ancestor
 * chain through the parents' select_elem, kept in the map.
 */
#include "rrweb_impl.h"

#include <string.h>
#include <strings.h>

#define KEY_IS(m, lit)                                                                             \
    ((m)->klen == sizeof(lit) - 1 && memcmp((m)->key, (lit), sizeof(lit) - 1) == 0)

enum node_type { NT_DOCUMENT, NT_DOCTYPE, NT_ELEMENT, NT_TEXT, NT_CDATA, NT_COMMENT };

int rrweb_int(const struct json *v, int64_t *out)
{
    int64_t x = 0;
    size_t i = 0;
    int neg;

    if (v == NULL || v->type != JSON_NUMBER || v->len == 0 || v->len > 17)
        return -1;
    neg = v->u.s[0] == '-';
    for (i = (size_t)neg; i < v->len; i++) {
        if (v->u.s[i] < '0' || v->u.s[i] > '9')
            return -1;
        x = x * 10 + (v->u.s[i] - '0');
    }
    *out = neg ? -x : x;
    return i > (size_t)neg ? 0 : -1;
}

struct json *rrweb_member(const struct json *o, const char *key, size_t n)
{
    if (o == NULL || o->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < o->len; i++)
        if (o->u.members[i].klen == n && memcmp(o->u.members[i].key, key, n) == 0)
            return o->u.members[i].value;
    return NULL;
}

void rrweb_member_remove(struct json *o, size_t i)
{
    memmove(&o->u.members[i], &o->u.members[i + 1], (o->len - i - 1) * sizeof(*o->u.members));
    o->len--;
}

int rrweb_mask(struct walk *w, struct json **v, enum struct_rule r)
{
    if ((*v)->type != JSON_STRING && (*v)->type != JSON_NUMBER)
        return 0;
    *v = redact_mask_string(w, (*v)->u.s, (*v)->len);
    if (*v == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    redact_count(w, redact_struct_index(w, r), 1);
    return 0;
}

/* Fibonacci hashing (Knuth, TAOCP 6.4) spreads sequential ids. */
static size_t slot_of(const struct rr_map *m, int64_t id)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

struct rr_node *rrweb_map_get(const struct rr_map *m, int64_t id)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i] == NULL || m->slots[i]->id == id)
            return m->slots[i];
    }
}

static int map_grow(struct walk *w, struct rr_map *m)
{
    struct rr_map bigger = {NULL, m->cap ? m->cap * 2 : 256, m->n};

    bigger.slots = arena_zalloc(w->a, bigger.cap * sizeof(*bigger.slots));
    if (bigger.slots == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;
        if (m->slots[i] == NULL)
            continue;
        for (j = slot_of(&bigger, m->slots[i]->id); bigger.slots[j]; j = (j + 1) & (bigger.cap - 1))
            ;
        bigger.slots[j] = m->slots[i];
    }
    *m = bigger;
    return 0;
}

/* A later description of the same id (a second snapshot, a re-add) is a
 * new node and replaces the old judgement. */
static int map_put(struct walk *w, struct rr_map *m, struct rr_node *n)
{
    size_t i;

    if (m->n >= RRWEB_MAX_NODES)
        return walk_fail(w, REDACT_TOOBIG, "rrweb: more than %d nodes", RRWEB_MAX_NODES);
    if ((m->n + 1) * 2 > m->cap && map_grow(w, m))
        return -1;
    for (i = slot_of(m, n->id); m->slots[i] && m->slots[i]->id != n->id; i = (i + 1) & (m->cap - 1))
        ;
    if (m->slots[i] == NULL)
        m->n++;
    m->slots[i] = n;
    return 0;
}

static int name_is(const struct select_attr *a, const char *lit)
{
    return a->nlen == strlen(lit) && strncasecmp(a->name, lit, a->nlen) == 0;
}

static int value_is(const struct select_attr *a, const char *lit)
{
    return a->vlen == strlen(lit) && strncasecmp(a->value, lit, a->vlen) == 0;
}

static const struct select_attr *elem_attr(const struct select_elem *e, const char *name)
{
    for (size_t i = 0; i < e->nattrs; i++)
        if (name_is(&e->attrs[i], name))
            return &e->attrs[i];
    return NULL;
}

/* The attributes as the matcher sees them, read before any masking: true
 * is an attribute without a value; null and false are absent. */
static int elem_build(struct walk *w, const struct json *node, struct select_elem *e)
{
    const struct json *tag = RR_MEMBER(node, "tagName"), *attrs = RR_MEMBER(node, "attributes");
    struct select_attr *out;

    if (tag == NULL || tag->type != JSON_STRING)
        return walk_fail(w, REDACT_BAD, "rrweb: an element has no tagName");
    if (attrs != NULL && attrs->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "rrweb: element attributes are not an object");
    e->tag = tag->u.s;
    e->taglen = tag->len;
    e->nattrs = 0;
    out = arena_alloc(w->a, (attrs ? attrs->len : 0) * sizeof(*out) + 1);
    if (out == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    for (size_t i = 0; attrs != NULL && i < attrs->len; i++) {
        const struct json_member *m = &attrs->u.members[i];
        const struct json *v = m->value;
        if (v->type == JSON_STRING || v->type == JSON_NUMBER)
            out[e->nattrs++] = (struct select_attr){m->key, m->klen, v->u.s, v->len};
        else if (v->type == JSON_TRUE)
            out[e->nattrs++] = (struct select_attr){m->key, m->klen, "", 0};
    }
    e->attrs = out;
    return 0;
}

static int tag_is(const struct select_elem *e, const char *lit)
{
    return e->taglen == strlen(lit) && strncasecmp(e->tag, lit, e->taglen) == 0;
}

static int elem_is_input(const struct select_elem *e)
{
    const struct select_attr *ce = elem_attr(e, "contenteditable");

    if (ce != NULL && !value_is(ce, "false"))
        return 1;
    return tag_is(e, "input") || tag_is(e, "textarea") || tag_is(e, "select") ||
           tag_is(e, "option");
}

/* Password inputs never are allowed; a type in allow_types or a matching
 * inputs.allow selector allows any other. An input without a type is a
 * text input, as in HTML. */
static int input_allowed(const struct walk *w, const struct select_elem *e)
{
    const struct select_attr *type = elem_attr(e, "type");
    const char *t = type ? type->value : "text";
    size_t tn = type ? type->vlen : 4;

    if (tag_is(e, "input") && type != NULL && value_is(type, "password"))
        return 0;
    for (size_t i = 0; tag_is(e, "input") && i < w->pol->ninput_allow_types; i++)
        if (strlen(w->pol->input_allow_types[i]) == tn &&
            strncasecmp(w->pol->input_allow_types[i], t, tn) == 0)
            return 1;
    return select_match(w->pol->input_allow, e);
}

/* An option is the value of its select: when the select was allowed (its
 * decision reached the option as less than mask input), so is the option. */
static int option_of_allowed(const struct select_elem *e, enum rr_decision inherited)
{
    const struct select_elem *p = e->parent;

    return inherited < RR_MASK_INPUT && tag_is(e, "option") && p != NULL &&
           (tag_is(p, "select") || tag_is(p, "optgroup") || tag_is(p, "datalist"));
}

static enum rr_decision decide(const struct walk *w, const struct rr_node *n,
                               enum rr_decision inherited)
{
    if (inherited == RR_BLOCK || select_match(w->pol->block, &n->e))
        return RR_BLOCK;
    if (n->is_input && (inherited == RR_MASK_INPUT ||
                        (!option_of_allowed(&n->e, inherited) && !input_allowed(w, &n->e))))
        return RR_MASK_INPUT;
    if (inherited < RR_MASK_TEXT && select_match(w->pol->text_mask, &n->e))
        return RR_MASK_TEXT;
    return inherited;
}

static int is_data_url_attr(const struct json_member *m)
{
    const struct json *v = m->value;

    if (!(KEY_IS(m, "src") || KEY_IS(m, "href") || KEY_IS(m, "rr_dataURL") ||
          KEY_IS(m, "xlink:href") || KEY_IS(m, "poster")))
        return 0;
    return v->type == JSON_STRING && v->len >= 5 && strncasecmp(v->u.s, "data:", 5) == 0;
}

static int is_value_attr(const struct json_member *m)
{
    return KEY_IS(m, "value") || KEY_IS(m, "placeholder") || KEY_IS(m, "title") ||
           KEY_IS(m, "aria-label");
}

/* checked and selected say what was chosen by being there. */
static int is_choice_attr(const struct json_member *m)
{
    return KEY_IS(m, "checked") || KEY_IS(m, "selected");
}

/* The attribute rules for a node with decision d; attrs is an object. */
static int attrs_apply(struct walk *w, struct json *attrs, enum rr_decision d)
{
    for (size_t i = 0; i < attrs->len;) {
        struct json_member *m = &attrs->u.members[i];
        if (d == RR_BLOCK && !KEY_IS(m, "rr_width") && !KEY_IS(m, "rr_height")) {
            rrweb_member_remove(attrs, i);
            continue;
        }
        if ((d == RR_MASK_INPUT && is_choice_attr(m)) ||
            (!w->pol->allow_data_urls && is_data_url_attr(m))) {
            if (!is_choice_attr(m))
                redact_count(w, redact_struct_index(w, SRULE_DATA_URL), 1);
            rrweb_member_remove(attrs, i);
            continue;
        }
        if (d == RR_MASK_INPUT && is_value_attr(m) && rrweb_mask(w, &m->value, SRULE_INPUT_MASK))
            return -1;
        i++;
    }
    return 0;
}

int rrweb_attrs_mutate(struct walk *w, struct rr_node *n, struct json *attrs)
{
    enum rr_decision d = n ? n->decision : RR_MASK_INPUT;

    if (attrs == NULL || attrs->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "rrweb: an attribute mutation has no attributes object");
    for (size_t i = 0; n != NULL && d != RR_BLOCK && i < attrs->len; i++) {
        const struct json_member *m = &attrs->u.members[i];
        const struct json *v = m->value;
        /* Becoming a password or editable field masks a node from now on;
         * the reverse never unmasks it. */
        if (v->type == JSON_STRING &&
            ((KEY_IS(m, "type") && v->len == 8 && strncasecmp(v->u.s, "password", 8) == 0) ||
             (KEY_IS(m, "contenteditable") && !(v->len == 5 && !strncasecmp(v->u.s, "false", 5)))))
            n->decision = d = RR_MASK_INPUT;
    }
    if (d == RR_BLOCK && attrs->len > 0)
        redact_count(w, redact_struct_index(w, SRULE_BLOCK), 1);
    return attrs_apply(w, attrs, d);
}

/* Ids below a blocked element still name blocked content in later events. */
static int block_below(struct walk *w, struct rr_map *m, const struct json *node)
{
    const struct json *kids = RR_MEMBER(node, "childNodes");
    struct rr_node *n;
    int64_t id;

    for (size_t i = 0; kids != NULL && kids->type == JSON_ARRAY && i < kids->len; i++) {
        if (rrweb_int(RR_MEMBER(kids->u.items[i], "id"), &id))
            continue;
        n = arena_zalloc(w->a, sizeof(*n));
        if (n == NULL)
            return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
        n->id = id;
        n->decision = RR_BLOCK;
        if (map_put(w, m, n) || block_below(w, m, kids->u.items[i]))
            return -1;
    }
    return 0;
}

static int children(struct walk *w, struct rr_map *m, struct json *node, const struct rr_node *n)
{
    struct json *kids = RR_MEMBER(node, "childNodes");

    if (kids == NULL)
        return 0;
    if (kids->type != JSON_ARRAY)
        return walk_fail(w, REDACT_BAD, "rrweb: childNodes is not an array");
    if (n->decision == RR_BLOCK) {
        if (block_below(w, m, node))
            return -1;
        kids->len = 0;
        return 0;
    }
    for (size_t i = 0; i < kids->len; i++)
        if (rrweb_node(w, m, kids->u.items[i], n, 0))
            return -1;
    return 0;
}

static int element(struct walk *w, struct json *node, struct rr_node *n, enum rr_decision inherited)
{
    struct json *attrs = RR_MEMBER(node, "attributes");

    if (elem_build(w, node, &n->e))
        return -1;
    n->is_input = elem_is_input(&n->e);
    n->decision = decide(w, n, inherited);
    if (n->decision == RR_BLOCK && inherited != RR_BLOCK)
        redact_count(w, redact_struct_index(w, SRULE_BLOCK), 1);
    if (attrs != NULL && attrs_apply(w, attrs, n->decision))
        return -1;
    return 0;
}

/* Text, CDATA and comments carry their text in textContent. */
static int text_apply(struct walk *w, struct json *node, enum rr_decision d)
{
    for (size_t i = 0; d >= RR_MASK_TEXT && i < node->len; i++) {
        struct json_member *mb = &node->u.members[i];
        if (KEY_IS(mb, "textContent") &&
            rrweb_mask(w, &mb->value, d == RR_MASK_TEXT ? SRULE_TEXT_MASK : SRULE_INPUT_MASK))
            return -1;
    }
    return 0;
}

int rrweb_node(struct walk *w, struct rr_map *m, struct json *node, const struct rr_node *parent,
               int unknown_parent)
{
    enum rr_decision inherited = parent           ? parent->decision
                                 : unknown_parent ? RR_MASK_TEXT
                                                  : RR_ALLOW;
    struct rr_node *n;
    int64_t type;

    if (node == NULL || node->type != JSON_OBJECT || rrweb_int(RR_MEMBER(node, "type"), &type) ||
        type < NT_DOCUMENT || type > NT_COMMENT)
        return walk_fail(w, REDACT_BAD, "rrweb: a node is not a serialized node");
    n = arena_zalloc(w->a, sizeof(*n));
    if (n == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    if (rrweb_int(RR_MEMBER(node, "id"), &n->id))
        return walk_fail(w, REDACT_BAD, "rrweb: a node has no numeric id");
    n->decision = inherited;
    n->e.parent = parent ? parent->chain : NULL;
    n->chain = n->e.parent;
    if (type == NT_ELEMENT) {
        n->chain = &n->e;
        if (element(w, node, n, inherited))
            return -1;
    }
    if (type >= NT_TEXT && text_apply(w, node, inherited))
        return -1;
    if (map_put(w, m, n))
        return -1;
    if (type == NT_DOCUMENT || type == NT_ELEMENT)
        return children(w, m, node, n);
    /* Children anywhere else would be replayed unjudged. */
    if (RR_MEMBER(node, "childNodes") != NULL)
        return walk_fail(w, REDACT_BAD, "rrweb: a leaf node has childNodes");
    return 0;
}
