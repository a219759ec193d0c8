/*
 * select: parse the selector subset of select.h and match it against nodes.
 *
 * Grammar (a subset of CSS Selectors Level 4, tokens per CSS Syntax Level 3):
 *
 *   list      = ws* selector (ws* ',' ws* selector)* ws*
 *   selector  = compound (ws+ compound)*          descendant combinator only
 *   compound  = (ident | '*')? subclass*          never empty
 *   subclass  = '#' ident | '.' ident | '[' ws* ident ws* (op ws* value ws*)? ']'
 *   op        = '=' | '^=' | '$=' | '*='
 *   value     = ident | string
 *
 * Every other construct is rejected with the column where it starts, so a
 * policy never silently means less than its author wrote.
 *
 * A compiled selector is a chain of compounds from right to left, each with a
 * list of conditions, allocated in one arena per parsed list. Merged lists are
 * chained, not copied, so select_list_merge cannot fail.
 */
#include "rules/select.h"

#include "common/arena.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum select_op {
    SELECT_EXISTS, /* [a] */
    SELECT_EQUALS, /* [a=v], #id */
    SELECT_PREFIX, /* [a^=v] */
    SELECT_SUFFIX, /* [a$=v] */
    SELECT_SUBSTR, /* [a*=v] */
    SELECT_TOKEN,  /* .class: a whitespace-separated token of the class attribute */
};

struct select_cond {
    const char *name; /* lower case */
    size_t nlen;
    const char *value;
    size_t vlen;
    enum select_op op;
    struct select_cond *next;
};

struct select_compound {
    const char *tag; /* lower case; NULL for '*' or no type selector */
    size_t taglen;
    struct select_cond *conds;
    struct select_compound *left; /* the ancestor compound, or NULL */
};

struct select_sel {
    struct select_compound *right; /* the compound the element itself must match */
    struct select_sel *next;
};

struct select_list {
    struct select_sel *head, *tail;
    size_t n;
    struct arena *arena;      /* owns everything above */
    struct select_list *next; /* lists merged into this one */
};

struct select_parser {
    const char *s;
    size_t len, pos;
    struct select_list *list;
    size_t *bad_col;
    struct err *err;
};

static int select_fail(struct select_parser *p, size_t col, const char *fmt, ...) ERR_PRINTF(3, 4);

static int select_fail(struct select_parser *p, size_t col, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->bad_col != NULL)
        *p->bad_col = col;
    return err_set(p->err, "%s", msg);
}

static void *select_alloc(struct select_parser *p, size_t n)
{
    void *q = arena_zalloc(p->list->arena, n);

    if (q == NULL)
        select_fail(p, p->pos, "out of memory");
    return q;
}

/* CSS whitespace (CSS Syntax 3, 4.2). */
static int select_is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int select_is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int select_is_namestart(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int select_is_namechar(int c)
{
    return select_is_namestart(c) || (c >= '0' && c <= '9') || c == '-';
}

static int select_peek(const struct select_parser *p, size_t off)
{
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

/* A backslash that starts a valid escape: not at the end, not before a
 * newline (CSS Syntax 3, 4.3.8). */
static int select_valid_escape(const struct select_parser *p, size_t off)
{
    int c = select_peek(p, off + 1);

    return select_peek(p, off) == '\\' && c != -1 && c != '\n' && c != '\r' && c != '\f';
}

/* Would an identifier start here (CSS Syntax 3, 4.3.9)? */
static int select_ident_starts(const struct select_parser *p)
{
    int c = select_peek(p, 0);

    if (c == '-') {
        c = select_peek(p, 1);
        return select_is_namestart(c) || c == '-' || select_valid_escape(p, 1);
    }
    return select_is_namestart(c) || select_valid_escape(p, 0);
}

static void select_ws(struct select_parser *p)
{
    while (select_is_ws(select_peek(p, 0)))
        p->pos++;
}

static size_t select_put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the escape whose backslash is at s[*i]; s[*i + 1] exists. A hex
 * escape takes up to six digits and one following whitespace; NUL,
 * surrogates and values past U+10FFFF become U+FFFD (CSS Syntax 3, 4.3.7). */
static size_t select_unescape(const char *s, size_t len, size_t *i, char *out)
{
    unsigned long cp = 0;
    size_t j = *i + 1, k = 0;

    if (!select_is_hex((unsigned char)s[j])) {
        out[0] = s[j];
        *i = j + 1;
        return 1;
    }
    for (; k < 6 && j < len && select_is_hex((unsigned char)s[j]); k++, j++) {
        int c = (unsigned char)s[j];
        cp = cp * 16 + (unsigned long)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    if (j + 1 < len && s[j] == '\r' && s[j + 1] == '\n')
        j += 2;
    else if (j < len && select_is_ws((unsigned char)s[j]))
        j++;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        cp = 0xFFFD;
    *i = j;
    return select_put_utf8(out, cp);
}

/* Copy s[start..end) into the arena, resolving escapes; an escaped newline
 * (only possible in strings) is a line continuation and vanishes. An escape
 * never grows by more than half, so twice the raw length is enough. */
static const char *select_decode(struct select_parser *p, size_t start, size_t end, int lower,
                                 size_t *outlen)
{
    char *out = select_alloc(p, 2 * (end - start) + 1);
    size_t i = start, n = 0;

    if (out == NULL)
        return NULL;
    while (i < end) {
        char c = p->s[i];
        if (c != '\\') {
            out[n++] = lower && c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
            i++;
        } else if (p->s[i + 1] == '\r' && i + 2 < end && p->s[i + 2] == '\n') {
            i += 3;
        } else if (p->s[i + 1] == '\n' || p->s[i + 1] == '\r' || p->s[i + 1] == '\f') {
            i += 2;
        } else {
            n += select_unescape(p->s, end, &i, out + n);
        }
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

/* An identifier at p->pos; the caller has checked select_ident_starts. */
static const char *select_ident(struct select_parser *p, int lower, size_t *outlen)
{
    size_t start = p->pos;

    while (p->pos < p->len) {
        if (select_valid_escape(p, 0)) {
            size_t i = p->pos;
            char tmp[4];
            select_unescape(p->s, p->len, &i, tmp);
            p->pos = i;
        } else if (select_is_namechar(select_peek(p, 0))) {
            p->pos++;
        } else {
            break;
        }
    }
    return select_decode(p, start, p->pos, lower, outlen);
}

static const char *select_need_ident(struct select_parser *p, const char *what, size_t *outlen)
{
    if (!select_ident_starts(p)) {
        select_fail(p, p->pos, "expected %s", what);
        return NULL;
    }
    return select_ident(p, 0, outlen);
}

/* A quoted string at p->pos (the opening quote). */
static const char *select_string(struct select_parser *p, size_t *outlen)
{
    size_t open = p->pos, start = p->pos + 1, i = start;
    char q = p->s[open];

    while (i < p->len && p->s[i] != q) {
        if (p->s[i] == '\n' || p->s[i] == '\r' || p->s[i] == '\f')
            break;
        if (p->s[i] == '\\' && i + 2 < p->len && p->s[i + 1] == '\r' && p->s[i + 2] == '\n')
            i += 3;
        else
            i += p->s[i] == '\\' && i + 1 < p->len ? 2 : 1;
    }
    if (i >= p->len || p->s[i] != q) {
        select_fail(p, open, "unterminated string (expected a closing %c on the same line)", q);
        return NULL;
    }
    p->pos = i + 1;
    return select_decode(p, start, i, 0, outlen);
}

/* Name the unsupported construct at p->pos, or the unexpected byte. */
static int select_unexpected(struct select_parser *p, const char *expected)
{
    int c = select_peek(p, 0);

    if (c == -1)
        return select_fail(p, p->pos, "expected %s", expected);
    if (c == '>' || c == '+' || c == '~')
        return select_fail(p, p->pos,
                           "combinator '%c' is not supported (only the descendant combinator, "
                           "a space, is)",
                           c);
    if (c == ':' && select_peek(p, 1) == ':')
        return select_fail(p, p->pos, "pseudo-elements ('::') are not supported");
    if (c == ':')
        return select_fail(p, p->pos, "pseudo-classes (':') are not supported");
    if (c == '|')
        return select_fail(p, p->pos, "namespaces ('|') are not supported");
    if (c > 0x20 && c < 0x7f)
        return select_fail(p, p->pos, "unexpected '%c': expected %s", c, expected);
    return select_fail(p, p->pos, "unexpected byte 0x%02x: expected %s", (unsigned)c, expected);
}

static struct select_cond *select_add_cond(struct select_parser *p, struct select_compound *c,
                                           const char *name, enum select_op op)
{
    struct select_cond *k = select_alloc(p, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->name = name;
    k->nlen = strlen(name);
    k->op = op;
    k->next = c->conds;
    c->conds = k;
    return k;
}

/* '#' ident or '.' ident, with p->pos at the '#' or '.'. */
static int select_parse_hash_or_class(struct select_parser *p, struct select_compound *c)
{
    int hash = p->s[p->pos] == '#';
    struct select_cond *k;

    p->pos++;
    k = select_add_cond(p, c, hash ? "id" : "class", hash ? SELECT_EQUALS : SELECT_TOKEN);
    if (k == NULL)
        return -1;
    k->value = select_need_ident(p, hash ? "an id after '#'" : "a class name after '.'", &k->vlen);
    return k->value == NULL ? -1 : 0;
}

/* The operator after an attribute name; -1 when there is none to read. */
static int select_parse_op(struct select_parser *p, enum select_op *op)
{
    int c = select_peek(p, 0), c1 = select_peek(p, 1);

    if (c == '=') {
        *op = SELECT_EQUALS;
        p->pos++;
        return 0;
    }
    if ((c == '^' || c == '$' || c == '*') && c1 == '=') {
        *op = c == '^' ? SELECT_PREFIX : c == '$' ? SELECT_SUFFIX : SELECT_SUBSTR;
        p->pos += 2;
        return 0;
    }
    if ((c == '|' || c == '~' || c == '!') && c1 == '=')
        return select_fail(p, p->pos,
                           "attribute operator '%c=' is not supported (expected '=', '^=', "
                           "'$=', '*=' or ']')",
                           c);
    return select_unexpected(p, "'=', '^=', '$=', '*=' or ']'");
}

static int select_parse_attr_value(struct select_parser *p, struct select_cond *k)
{
    int c = select_peek(p, 0);

    if (c == '"' || c == '\'')
        k->value = select_string(p, &k->vlen);
    else if (select_ident_starts(p))
        k->value = select_ident(p, 0, &k->vlen);
    else
        return select_unexpected(p, "an identifier or a quoted string");
    return k->value == NULL ? -1 : 0;
}

/* '[' ws* name ws* (op ws* value ws*)? ']' with p->pos at the '['. */
static int select_parse_attr(struct select_parser *p, struct select_compound *c)
{
    struct select_cond *k;
    enum select_op op = SELECT_EXISTS;
    const char *name;
    size_t nlen;

    p->pos++;
    select_ws(p);
    if (select_peek(p, 0) == '*' && select_peek(p, 1) == '|')
        p->pos++;
    if (!select_ident_starts(p))
        return select_unexpected(p, "an attribute name");
    name = select_ident(p, 1, &nlen);
    if (name == NULL)
        return -1;
    if (select_peek(p, 0) == '|' && select_peek(p, 1) != '=')
        return select_fail(p, p->pos, "namespaces ('|') are not supported");
    select_ws(p);
    if (select_peek(p, 0) != ']' && select_parse_op(p, &op))
        return -1;
    k = select_add_cond(p, c, name, op);
    if (k == NULL)
        return -1;
    if (op != SELECT_EXISTS) {
        select_ws(p);
        if (select_parse_attr_value(p, k))
            return -1;
        select_ws(p);
    }
    if (select_peek(p, 0) == ']') {
        p->pos++;
        return 0;
    }
    if (select_ident_starts(p))
        return select_fail(p, p->pos, "attribute flags are not supported (expected ']')");
    return select_unexpected(p, "']'");
}

/* The optional type or universal selector that opens a compound. */
static int select_parse_type(struct select_parser *p, struct select_compound *c)
{
    if (select_peek(p, 0) == '*')
        p->pos++;
    else if (select_ident_starts(p) && (c->tag = select_ident(p, 1, &c->taglen)) == NULL)
        return -1;
    if (select_peek(p, 0) == '|')
        return select_fail(p, p->pos, "namespaces ('|') are not supported");
    return 0;
}

static struct select_compound *select_parse_compound(struct select_parser *p)
{
    struct select_compound *c = select_alloc(p, sizeof(*c));
    size_t start = p->pos;

    if (c == NULL || select_parse_type(p, c))
        return NULL;
    for (;;) {
        int ch = select_peek(p, 0);
        if (ch == '#' || ch == '.') {
            if (select_parse_hash_or_class(p, c))
                return NULL;
        } else if (ch == '[') {
            if (select_parse_attr(p, c))
                return NULL;
        } else {
            break;
        }
    }
    if (p->pos == start) {
        select_unexpected(p, "a selector");
        return NULL;
    }
    return c;
}

/* compound (ws+ compound)*, stopping before ',' or the end. */
static struct select_sel *select_parse_selector(struct select_parser *p)
{
    struct select_sel *sel = select_alloc(p, sizeof(*sel));

    if (sel == NULL)
        return NULL;
    for (;;) {
        struct select_compound *c = select_parse_compound(p);
        size_t after = p->pos;
        int ch;
        if (c == NULL)
            return NULL;
        c->left = sel->right;
        sel->right = c;
        select_ws(p);
        ch = select_peek(p, 0);
        if (ch == -1 || ch == ',')
            return sel;
        if (p->pos == after)
            break;
    }
    select_unexpected(p, "whitespace, ',' or the end of the selector");
    return NULL;
}

static int select_parse_all(struct select_parser *p)
{
    for (;;) {
        struct select_sel *sel;
        select_ws(p);
        if (select_peek(p, 0) == -1 && p->list->n > 0)
            return select_fail(p, p->pos, "expected a selector after ','");
        if ((sel = select_parse_selector(p)) == NULL)
            return -1;
        if (p->list->tail != NULL)
            p->list->tail->next = sel;
        else
            p->list->head = sel;
        p->list->tail = sel;
        p->list->n++;
        if (select_peek(p, 0) == -1)
            return 0;
        p->pos++; /* the ',' */
    }
}

struct select_list *select_parse(const char *text, size_t len, size_t *bad_col, struct err *err)
{
    struct select_parser p = {text, len, 0, NULL, bad_col, err};

    if (bad_col != NULL)
        *bad_col = 0;
    p.list = xcalloc(1, sizeof(*p.list));
    if (p.list == NULL || (p.list->arena = arena_new(0)) == NULL) {
        xfree(p.list);
        err_set(err, "out of memory");
        return NULL;
    }
    if (select_parse_all(&p)) {
        select_free(p.list);
        return NULL;
    }
    return p.list;
}

void select_list_merge(struct select_list *list, struct select_list *more)
{
    if (more == NULL || more == list)
        return;
    while (list->next != NULL)
        list = list->next;
    list->next = more;
}

void select_free(struct select_list *list)
{
    while (list != NULL) {
        struct select_list *next = list->next;
        arena_free(list->arena);
        xfree(list);
        list = next;
    }
}

size_t select_count(const struct select_list *list)
{
    size_t n = 0;

    for (; list != NULL; list = list->next)
        n += list->n;
    return n;
}

static int select_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x |= 0x20;
        if (y >= 'A' && y <= 'Z')
            y |= 0x20;
        if (x != y)
            return 0;
    }
    return 1;
}

/* Is tok a whitespace-separated token of v (the `~=` semantics of .class)? */
static int select_has_token(const char *v, size_t vlen, const char *tok, size_t tlen)
{
    size_t i = 0;

    while (i < vlen) {
        size_t start;
        while (i < vlen && select_is_ws((unsigned char)v[i]))
            i++;
        start = i;
        while (i < vlen && !select_is_ws((unsigned char)v[i]))
            i++;
        if (i - start == tlen && tlen > 0 && memcmp(v + start, tok, tlen) == 0)
            return 1;
    }
    return 0;
}

/* Empty values never match ^=, $= and *= (Selectors 4, 6.2). */
static int select_value_matches(const struct select_cond *k, const struct select_attr *a)
{
    switch (k->op) {
    case SELECT_EXISTS:
        return 1;
    case SELECT_EQUALS:
        return a->vlen == k->vlen && memcmp(a->value, k->value, k->vlen) == 0;
    case SELECT_PREFIX:
        return k->vlen > 0 && a->vlen >= k->vlen && memcmp(a->value, k->value, k->vlen) == 0;
    case SELECT_SUFFIX:
        return k->vlen > 0 && a->vlen >= k->vlen &&
               memcmp(a->value + a->vlen - k->vlen, k->value, k->vlen) == 0;
    case SELECT_SUBSTR:
        return k->vlen > 0 && memmem(a->value, a->vlen, k->value, k->vlen) != NULL;
    case SELECT_TOKEN:
        return select_has_token(a->value, a->vlen, k->value, k->vlen);
    }
    return 0;
}

static int select_cond_matches(const struct select_cond *k, const struct select_elem *e)
{
    for (size_t i = 0; i < e->nattrs; i++) {
        const struct select_attr *a = &e->attrs[i];
        if (select_ieq(a->name, a->nlen, k->name, k->nlen) &&
            (k->op == SELECT_EXISTS || a->value != NULL) && select_value_matches(k, a))
            return 1;
    }
    return 0;
}

static int select_compound_matches(const struct select_compound *c, const struct select_elem *e)
{
    if (c->tag != NULL && !select_ieq(e->tag, e->taglen, c->tag, c->taglen))
        return 0;
    for (const struct select_cond *k = c->conds; k != NULL; k = k->next)
        if (!select_cond_matches(k, e))
            return 0;
    return 1;
}

/*
 * Right to left: the element must match the rightmost compound, then each
 * compound to the left must match some ancestor above the previous one.
 * Taking the nearest such ancestor is enough, no backtracking needed: with
 * only descendant combinators, every ancestor a farther match could use is
 * also an ancestor of the nearest match.
 */
static int select_sel_matches(const struct select_sel *s, const struct select_elem *e)
{
    const struct select_compound *c = s->right;

    if (!select_compound_matches(c, e))
        return 0;
    for (c = c->left; c != NULL; c = c->left) {
        do
            e = e->parent;
        while (e != NULL && !select_compound_matches(c, e));
        if (e == NULL)
            return 0;
    }
    return 1;
}

int select_match(const struct select_list *list, const struct select_elem *e)
{
    if (e == NULL)
        return 0;
    for (; list != NULL; list = list->next)
        for (const struct select_sel *s = list->head; s != NULL; s = s->next)
            if (select_sel_matches(s, e))
                return 1;
    return 0;
}
