/*
 * rrweb_node: serialized nodes, the node map and attribute rules.
 *
 * A node is judged once, when a full snapshot or a mutation add describes
 * it, from its own tag and attributes and its parent's decision (which
 * already folds in every ancestor). Descendant selectors see the ancestor
 * chain through the parents' select_elem, kept in the map; for a parent
 * from an earlier payload the chain is rebuilt from the session's element
 * views, and where that view is incomplete (partial) the child is judged
 * as under an unknown parent: text masked at least.
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

/* Called for every member of every node: the first byte rules most keys
 * out before a memcmp call. */
struct json *rrweb_member(const struct json *o, const char *key, size_t n)
{
    if (o == NULL || o->type != JSON_OBJECT || n == 0)
        return NULL;
    for (size_t i = 0; i < o->len; i++) {
        const struct json_member *m = &o->u.members[i];
        if (m->klen == n && m->key[0] == key[0] && memcmp(m->key, key, n) == 0)
            return m->value;
    }
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
    /* Layout whitespace between elements tells nothing; keeping it keeps
     * the replayed page's layout. */
    if ((*v)->type == JSON_STRING && redact_all_space((*v)->u.s, (*v)->len))
        return 0;
    if (r == SRULE_TEXT_MASK)
        *v = redact_mask_text(w, (*v)->u.s, (*v)->len);
    else
        *v = redact_mask_string(w, (*v)->u.s, (*v)->len);
    if (*v == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    redact_count(w, redact_struct_index(w, r), 1);
    return 0;
}

/* ---- the map ---- */

/* Fibonacci hashing (Knuth, TAOCP 6.4) spreads sequential ids. */
static size_t slot_of(const struct rr_map *m, int64_t id)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

/* The node of this payload with id, removed or not. */
static struct rr_node *local_get(const struct rr_map *m, int64_t id)
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
    struct rr_map bigger = {NULL, m->cap ? m->cap * 2 : 256, m->n, m->sess};

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
static int local_put(struct walk *w, struct rr_map *m, struct rr_node *n)
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

static unsigned node_flags(const struct rr_node *n)
{
    return (n->is_input ? SESSION_INPUT : 0) | (n->was_password ? SESSION_PASSWORD : 0) |
           (n->partial ? SESSION_PARTIAL : 0) | (n->is_style ? SESSION_STYLE : 0);
}

/* Into this payload's map and through to the session's. A node the
 * session has no room for is simply not kept there: a later payload will
 * find it unknown, and mask it. */
static int map_put(struct walk *w, struct rr_map *m, struct rr_node *n,
                   const struct rr_node *parent)
{
    struct session_node sn = {n->decision, node_flags(n), parent != NULL, parent ? parent->id : 0};

    n->chained = 1;
    if (local_put(w, m, n))
        return -1;
    if (m->sess != NULL)
        (void)session_node_put(m->sess, n->id, &sn, n->has_elem ? &n->e : NULL,
                               n->decision == RR_ALLOW);
    return 0;
}

/* A node of an earlier payload, brought into this one's map. Its chain is
 * linked later, if it is ever used as a parent. */
static int bring_in(struct walk *w, struct rr_map *m, int64_t id, struct rr_node **out)
{
    struct session_node sn;
    struct rr_node *n;
    int r;

    *out = NULL;
    if (m->sess == NULL || session_node_get(m->sess, id, &sn) != 0)
        return 0;
    n = arena_zalloc(w->a, sizeof(*n));
    if (n == NULL || (r = session_node_elem(m->sess, id, w->a, &n->e)) < 0)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    n->id = id;
    n->decision = sn.decision <= RR_BLOCK ? (enum rr_decision)sn.decision : RR_BLOCK;
    n->is_input = (sn.flags & SESSION_INPUT) != 0;
    n->was_password = (sn.flags & SESSION_PASSWORD) != 0;
    n->is_style = (sn.flags & SESSION_STYLE) != 0;
    n->partial = (sn.flags & SESSION_PARTIAL) != 0;
    n->has_parent = sn.has_parent;
    n->parent_id = sn.parent;
    n->has_elem = r;
    if (local_put(w, m, n))
        return -1;
    *out = n;
    return 0;
}

int rrweb_find(struct walk *w, struct rr_map *m, int64_t id, struct rr_node **out)
{
    struct rr_node *n = local_get(m, id);

    if (n != NULL) {
        *out = n->removed ? NULL : n;
        return 0;
    }
    return bring_in(w, m, id, out);
}

static int chain_at(struct walk *w, struct rr_map *m, struct rr_node *n, unsigned depth)
{
    struct rr_node *p = NULL;

    if (n->chained)
        return 0;
    if (n->has_parent && depth < RRWEB_CHAIN_MAX) {
        if (rrweb_find(w, m, n->parent_id, &p) || (p != NULL && chain_at(w, m, p, depth + 1)))
            return -1;
    }
    if (p == NULL)
        n->partial |= n->has_parent;
    else
        n->partial |= p->partial;
    n->e.parent = p ? p->chain : NULL;
    n->chain = n->has_elem ? &n->e : n->e.parent;
    n->chained = 1;
    return 0;
}

int rrweb_chain(struct walk *w, struct rr_map *m, struct rr_node *n)
{
    return chain_at(w, m, n, 0);
}

int rrweb_map_reset(struct walk *w, struct rr_map *m)
{
    struct rr_map fresh = {NULL, 0, 0, m->sess};

    for (size_t i = 0; i < m->cap; i++) {
        struct rr_node *n = m->slots[i];
        if (n == NULL || !n->was_password)
            continue;
        n->removed = n->has_elem = n->has_parent = 0;
        n->partial = n->is_input = 1;
        n->e.parent = NULL;
        n->chain = NULL;
        if (local_put(w, &fresh, n))
            return -1;
    }
    *m = fresh;
    if (m->sess != NULL)
        session_reset(m->sess);
    return 0;
}

void rrweb_map_remove(struct rr_map *m, int64_t id)
{
    struct rr_node *n = local_get(m, id);

    if (n != NULL && !n->was_password)
        n->removed = 1;
    if (m->sess != NULL)
        session_node_remove(m->sess, id);
}

/* ---- element views and decisions ---- */

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

int rrweb_field_name(const struct rr_node *n, const char **name, size_t *len)
{
    const struct select_attr *a = NULL;

    if (n->has_elem && ((a = elem_attr(&n->e, "name")) == NULL || a->vlen == 0))
        a = elem_attr(&n->e, "id");
    if (a == NULL || a->vlen == 0)
        return -1;
    *name = a->value;
    *len = a->vlen;
    return 0;
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

static int elem_is_password(const struct select_elem *e)
{
    const struct select_attr *type = elem_attr(e, "type");

    return tag_is(e, "input") && type != NULL && value_is(type, "password");
}

/* Password inputs never are allowed; a type in allow_types or a matching
 * inputs.allow selector allows any other. An input without a type is a
 * text input, as in HTML. */
static int input_allowed(const struct walk *w, const struct select_elem *e)
{
    const struct select_attr *type = elem_attr(e, "type");
    const char *t = type ? type->value : "text";
    size_t tn = type ? type->vlen : 4;

    if (elem_is_password(e))
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
    if (n->is_input && (inherited == RR_MASK_INPUT || n->was_password ||
                        (!option_of_allowed(&n->e, inherited) && !input_allowed(w, &n->e))))
        return RR_MASK_INPUT;
    if (inherited < RR_MASK_TEXT && select_match(w->pol->text_mask, &n->e))
        return RR_MASK_TEXT;
    return inherited;
}

/* ---- attribute rules ---- */

static int is_data_url_attr(const struct json_member *m)
{
    const struct json *v = m->value;

    if (!(KEY_IS(m, "src") || KEY_IS(m, "href") || KEY_IS(m, "rr_dataURL") ||
          KEY_IS(m, "xlink:href") || KEY_IS(m, "poster")))
        return 0;
    return v->type == JSON_STRING && v->len >= 5 && strncasecmp(v->u.s, "data:", 5) == 0;
}

/* Attributes a person reads, or an app fills from what was typed: masked
 * with the text of a masked node. data-* holds application data (some
 * widgets mirror an input's value there). */
static int is_text_attr(const struct json_member *m)
{
    return KEY_IS(m, "value") || KEY_IS(m, "placeholder") || KEY_IS(m, "title") ||
           KEY_IS(m, "alt") || KEY_IS(m, "label") || KEY_IS(m, "aria-label") ||
           KEY_IS(m, "aria-valuetext") || KEY_IS(m, "aria-description") ||
           KEY_IS(m, "aria-placeholder") || (m->klen > 5 && memcmp(m->key, "data-", 5) == 0);
}

/* checked and selected say what was chosen by being there. */
static int is_choice_attr(const struct json_member *m)
{
    return KEY_IS(m, "checked") || KEY_IS(m, "selected");
}

/* One attribute of a node with decision d (not blocked): 1 when it is to
 * be removed, 0 when kept (masked in place if need be), -1 on failure. */
static int attr_apply(struct walk *w, struct json_member *m, enum rr_decision d)
{
    if (d == RR_MASK_INPUT && is_choice_attr(m))
        return 1;
    if (!w->pol->allow_data_urls && is_data_url_attr(m)) {
        redact_count(w, redact_struct_index(w, SRULE_DATA_URL), 1);
        return 1;
    }
    /* An iframe's inline document is HTML no rule has judged. */
    if (KEY_IS(m, "srcdoc"))
        return rrweb_mask(w, &m->value, SRULE_TEXT_MASK);
    if (KEY_IS(m, "_cssText") && m->value->type == JSON_STRING)
        return rrweb_css(w, &m->value, 0);
    if (d >= RR_MASK_TEXT && is_text_attr(m))
        return rrweb_mask(w, &m->value, d == RR_MASK_INPUT ? SRULE_INPUT_MASK : SRULE_TEXT_MASK);
    return 0;
}

/* The attribute rules for a node with decision d; attrs is an object. */
static int attrs_apply(struct walk *w, struct json *attrs, enum rr_decision d)
{
    for (size_t i = 0; i < attrs->len;) {
        struct json_member *m = &attrs->u.members[i];
        int r;
        if (d == RR_BLOCK && !KEY_IS(m, "rr_width") && !KEY_IS(m, "rr_height")) {
            rrweb_member_remove(attrs, i);
            continue;
        }
        if (d != RR_BLOCK && (r = attr_apply(w, m, d)) != 0) {
            if (r < 0)
                return -1;
            rrweb_member_remove(attrs, i);
            continue;
        }
        i++;
    }
    return 0;
}

static int str_is(const struct json *v, const char *lit)
{
    return v->type == JSON_STRING && v->len == strlen(lit) && strncasecmp(v->u.s, lit, v->len) == 0;
}

/* Becoming a password or editable field masks a node from now on, in this
 * payload and in its session; the reverse never unmasks it. */
static void attrs_tighten(struct rr_map *m, struct rr_node *n, const struct json *attrs)
{
    for (size_t i = 0; n->decision != RR_BLOCK && i < attrs->len; i++) {
        const struct json_member *a = &attrs->u.members[i];
        int password = KEY_IS(a, "type") && str_is(a->value, "password");
        if (password || (KEY_IS(a, "contenteditable") && a->value->type == JSON_STRING &&
                         !str_is(a->value, "false"))) {
            n->decision = RR_MASK_INPUT;
            n->is_input = 1;
            n->was_password |= password;
            if (m->sess != NULL)
                session_node_update(m->sess, n->id, n->decision, node_flags(n));
        }
    }
}

int rrweb_attrs_mutate(struct walk *w, struct rr_map *m, struct rr_node *n, struct json *attrs)
{
    enum rr_decision d;

    if (attrs == NULL || attrs->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "rrweb: an attribute mutation has no attributes object");
    if (n != NULL)
        attrs_tighten(m, n, attrs);
    /* Unknown means sensitive: the rules of a masked input. */
    d = n ? n->decision : RR_MASK_INPUT;
    if (d == RR_BLOCK && attrs->len > 0)
        redact_count(w, redact_struct_index(w, SRULE_BLOCK), 1);
    return attrs_apply(w, attrs, d);
}

/* ---- nodes ---- */

static struct rr_node *node_new(struct walk *w, int64_t id, enum rr_decision d)
{
    struct rr_node *n = arena_zalloc(w->a, sizeof(*n));

    if (n == NULL) {
        walk_fail(w, REDACT_TOOBIG, "arena cap reached");
        return NULL;
    }
    n->id = id;
    n->decision = d;
    return n;
}

/* Ids below a blocked element still name blocked content in later events. */
static int block_below(struct walk *w, struct rr_map *m, const struct json *node,
                       const struct rr_node *parent)
{
    const struct json *kids = RR_MEMBER(node, "childNodes");
    struct rr_node *n;
    int64_t id;

    for (size_t i = 0; kids != NULL && kids->type == JSON_ARRAY && i < kids->len; i++) {
        if (rrweb_int(RR_MEMBER(kids->u.items[i], "id"), &id))
            continue;
        if ((n = node_new(w, id, RR_BLOCK)) == NULL || map_put(w, m, n, parent) ||
            block_below(w, m, kids->u.items[i], n))
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
        if (block_below(w, m, node, n))
            return -1;
        kids->len = 0;
        return 0;
    }
    for (size_t i = 0; i < kids->len; i++)
        if (rrweb_node(w, m, kids->u.items[i], n, 0))
            return -1;
    return 0;
}

/* What an earlier description of the same id said that must last: once a
 * password, always masked (a "show password" toggle followed by a re-add
 * or a new snapshot must not unmask it). */
static int remember_password(struct walk *w, struct rr_map *m, struct rr_node *n)
{
    struct rr_node *old = local_get(m, n->id);
    struct session_node sn;

    (void)w;
    if (old != NULL && old->was_password)
        n->was_password = 1;
    else if (m->sess != NULL && session_node_get(m->sess, n->id, &sn) == 0 &&
             (sn.flags & SESSION_PASSWORD))
        n->was_password = 1;
    return 0;
}

static int element(struct walk *w, struct rr_map *m, struct json *node, struct rr_node *n,
                   enum rr_decision inherited)
{
    struct json *attrs = RR_MEMBER(node, "attributes");

    if (elem_build(w, node, &n->e) || remember_password(w, m, n))
        return -1;
    n->has_elem = 1;
    n->is_input = elem_is_input(&n->e) || n->was_password;
    n->was_password |= elem_is_password(&n->e);
    n->decision = decide(w, n, inherited);
    if (n->decision == RR_BLOCK && inherited != RR_BLOCK)
        redact_count(w, redact_struct_index(w, SRULE_BLOCK), 1);
    if (attrs != NULL && attrs_apply(w, attrs, n->decision))
        return -1;
    return 0;
}

/* Text, CDATA and comments carry their text in textContent. CSS (the text
 * of a <style>) is style, not text: only its content strings are masked. */
static int text_apply(struct walk *w, struct json *node, const struct rr_node *n)
{
    if (n->decision < RR_MASK_TEXT && !n->is_style)
        return 0;
    for (size_t i = 0; i < node->len; i++) {
        struct json_member *mb = &node->u.members[i];
        if (!KEY_IS(mb, "textContent"))
            continue;
        if (n->is_style)
            return mb->value->type == JSON_STRING ? rrweb_css(w, &mb->value, 0) : 0;
        return rrweb_mask(w, &mb->value,
                          n->decision == RR_MASK_TEXT ? SRULE_TEXT_MASK : SRULE_INPUT_MASK);
    }
    return 0;
}

static int style_text(const struct json *node, const struct rr_node *parent)
{
    const struct json *is = RR_MEMBER(node, "isStyle");

    return (is != NULL && is->type == JSON_TRUE) ||
           (parent != NULL && parent->has_elem && tag_is(&parent->e, "style"));
}

int rrweb_node(struct walk *w, struct rr_map *m, struct json *node, const struct rr_node *parent,
               int unknown_parent)
{
    /* Where the ancestors are not all known, neither are the selectors
     * that would have matched through them: text is masked at least. */
    int partial = unknown_parent || (parent != NULL && parent->partial);
    enum rr_decision inherited = parent ? parent->decision : RR_ALLOW;
    struct rr_node *n;
    int64_t type, id;

    if (partial && inherited < RR_MASK_TEXT)
        inherited = RR_MASK_TEXT;
    if (node == NULL || node->type != JSON_OBJECT || rrweb_int(RR_MEMBER(node, "type"), &type) ||
        type < NT_DOCUMENT || type > NT_COMMENT)
        return walk_fail(w, REDACT_BAD, "rrweb: a node is not a serialized node");
    if (rrweb_int(RR_MEMBER(node, "id"), &id))
        return walk_fail(w, REDACT_BAD, "rrweb: a node has no numeric id");
    if ((n = node_new(w, id, inherited)) == NULL)
        return -1;
    n->partial = partial;
    n->e.parent = parent ? parent->chain : NULL;
    n->chain = n->e.parent;
    if (type == NT_ELEMENT) {
        n->chain = &n->e;
        if (element(w, m, node, n, inherited))
            return -1;
    }
    n->is_style = type == NT_TEXT && style_text(node, parent);
    if (type >= NT_TEXT && text_apply(w, node, n))
        return -1;
    if (map_put(w, m, n, unknown_parent ? NULL : parent))
        return -1;
    if (type == NT_DOCUMENT || type == NT_ELEMENT)
        return children(w, m, node, n);
    /* Children anywhere else would be replayed unjudged. */
    if (RR_MEMBER(node, "childNodes") != NULL)
        return walk_fail(w, REDACT_BAD, "rrweb: a leaf node has childNodes");
    return 0;
}

/* ---- CSS ---- */

static int css_ident_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c >= 0x80;
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Code points that say something: letters, digits and any other script's
 * characters. Punctuation, symbols, arrows, dingbats and the private use
 * areas (icon fonts) carry no personal data. */
static int cp_says(unsigned long cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    if (cp < 0xC0 || (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0xE000 && cp <= 0xF8FF) ||
        cp >= 0xF0000)
        return 0;
    return 1;
}

/* One code point of well-formed UTF-8 (as the parser guarantees). */
static unsigned long utf8_cp(const unsigned char *u, size_t n, size_t *i)
{
    unsigned long cp = u[*i];
    size_t len = cp < 0x80 ? 1 : cp < 0xE0 ? 2 : cp < 0xF0 ? 3 : 4;

    if (len > 1)
        cp &= 0x3Fu >> (len - 1);
    for (size_t k = 1; k < len && *i + k < n; k++)
        cp = cp << 6 | (u[*i + k] & 0x3Fu);
    *i += len;
    return cp;
}

/* One code point of s[i..n), CSS escapes decoded (CSS Syntax 3, 4.3.7):
 * "\4a" is a J as much as "J" is. *i moves past it. */
static unsigned long css_cp(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned long cp = 0;
    size_t k;
    int h;

    if (u[*i] == '\\' && *i + 1 < n) {
        for (k = 1; k <= 6 && *i + k < n && (h = hex_val(u[*i + k])) >= 0; k++)
            cp = cp << 4 | (unsigned long)h;
        if (k > 1) {
            *i += k + (*i + k < n && u[*i + k] == ' ');
            return cp;
        }
        (*i)++; /* any other escaped character stands for itself */
    }
    return utf8_cp(u, n, i);
}

/* End of the string token that opens at s[i] (past its closing quote). */
static size_t css_string_end(const char *s, size_t n, size_t i)
{
    char q = s[i++];

    while (i < n && s[i] != q && s[i] != '\n')
        i += s[i] == '\\' ? 2 : 1;
    return i < n ? i + 1 : n;
}

/* 1 when the string token body b[0..n) says something. */
static int css_string_says(const char *b, size_t n)
{
    for (size_t i = 0; i < n;)
        if (cp_says(css_cp(b, n, &i)))
            return 1;
    return 0;
}

/* After an identifier ending at *i: 1 when it is `content` and a colon
 * follows (a declaration), with *i past the colon. */
static int css_content_decl(const char *s, size_t n, size_t start, size_t *i)
{
    size_t k = *i;

    if (k - start != 7 || strncasecmp(s + start, "content", 7) != 0)
        return 0;
    while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
        k++;
    if (k >= n || s[k] != ':')
        return 0;
    *i = k + 1;
    return 1;
}

struct css_out {
    char *d;    /* NULL until the first mask */
    size_t o;   /* bytes written to d */
    size_t src; /* bytes of the source copied so far */
};

/* The end of the body of the string token s[from..to): before its
 * closing quote, or at to when it runs to the end unclosed. */
static size_t css_body_end(const char *s, size_t from, size_t to)
{
    return to > from + 1 && s[to - 1] == s[from] ? to - 1 : to;
}

/* Replace the body of the string token s[from..to) by one '*' per code
 * point. */
static int css_mask_string(struct walk *w, const char *s, size_t n, size_t from, size_t to,
                           struct css_out *c)
{
    size_t body_end = css_body_end(s, from, to);

    if (c->d == NULL && (c->d = arena_alloc(w->a, n + 1)) == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    memcpy(c->d + c->o, s + c->src, from + 1 - c->src);
    c->o += from + 1 - c->src;
    for (size_t i = from + 1; i < body_end;) {
        (void)css_cp(s, body_end, &i);
        c->d[c->o++] = '*';
    }
    c->src = body_end;
    redact_count(w, redact_struct_index(w, SRULE_TEXT_MASK), 1);
    return 0;
}

/* A tokenizer just deep enough to find the strings of `content`
 * declarations: comments and other strings are skipped whole, a
 * declaration ends at ';' or a brace. */
int rrweb_css(struct walk *w, struct json **v, int value)
{
    const char *s = (*v)->u.s;
    size_t n = (*v)->len, i = 0, start;
    struct css_out c = {NULL, 0, 0};
    int in_content = value;
    struct json *nv;

    while (i < n) {
        char ch = s[i];
        if (ch == '/' && i + 1 < n && s[i + 1] == '*') {
            const char *e = memmem(s + i + 2, n - i - 2, "*/", 2);
            i = e ? (size_t)(e - s) + 2 : n;
        } else if (ch == '"' || ch == '\'') {
            start = i;
            i = css_string_end(s, n, i);
            if (in_content &&
                css_string_says(s + start + 1, css_body_end(s, start, i) - start - 1) &&
                css_mask_string(w, s, n, start, i, &c))
                return -1;
        } else if (ch == ';' || ch == '{' || ch == '}') {
            in_content = 0;
            i++;
        } else if (ch == '\\') {
            i += 2;
        } else if (css_ident_char((unsigned char)ch)) {
            for (start = i; i < n && css_ident_char((unsigned char)s[i]);)
                i++;
            in_content |= css_content_decl(s, n, start, &i);
        } else {
            i++;
        }
    }
    if (c.d == NULL)
        return 0;
    memcpy(c.d + c.o, s + c.src, n - c.src);
    c.o += n - c.src;
    if ((nv = json_new_string(w->a, c.d, c.o)) == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    *v = nv;
    return 0;
}
