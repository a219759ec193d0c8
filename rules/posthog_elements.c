/*
 * posthog_elements: autocapture's elements (`$elements`, `$elements_chain`,
 * `$el_text`, `$input_value`), judged by the policy's input, text and block
 * selectors as the rrweb format judges DOM nodes (docs/posthog.md). Apart
 * from the batch walk in posthog.c because it is a reader of its own: the
 * chain string's grammar (posthog-js elementsToString) and the selector
 * decisions, touching only one event's properties.
 */
#include "posthog_impl.h"

#include <string.h>
#include <strings.h>

#include "engine_impl.h"
#include "rules/vendor.h"

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
        return posthog_arena_full(w);
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
    const struct json *tag = posthog_value_of(o, "tag_name");
    struct select_attr *at;

    if (o->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "posthog: an autocapture element is not an object");
    if ((at = arena_alloc(w->a, (o->len + 1) * sizeof(*at))) == NULL)
        return posthog_arena_full(w);
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
        return posthog_arena_full(w);
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
        return posthog_arena_full(w);
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
        return posthog_arena_full(w);
    for (size_t i = 0; i < c->nvals; i++) {
        const struct ch_value *v = &c->vals[i];
        enum ph_dec dec = c->els[v->elem].dec;
        if (v->len == 0 || !ch_hides(v, dec))
            continue;
        if ((masks[i] = redact_mask_string(w, c->s + v->off, v->len)) == NULL)
            return posthog_arena_full(w);
        total = total - v->len + masks[i]->len;
        redact_count(w, redact_struct_index(w, dec_rule(dec)), 1);
    }
    if ((d = arena_alloc(w->a, total + 1)) == NULL)
        return posthog_arena_full(w);
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
    return *slot == NULL ? posthog_arena_full(w) : 0;
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
int posthog_autocapture_mask(struct walk *w, struct json *props)
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
