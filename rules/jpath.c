/*
 * jpath: compile and match the field-rule path subset (see jpath.h).
 *
 * A path is a short list of segments; matching is a backtracking walk over
 * the concrete path of the visited node. Concrete paths are bounded by the
 * JSON depth limit, and a pattern has at most JPATH_MAX_SEGS segments, so the
 * walk stays small even with several `..` segments.
 */
#include "jpath.h"

#include "common/mem.h"

#include <string.h>

#define JPATH_MAX_SEGS 32

enum seg_kind {
    SEG_MEMBER,  /* .name or ['name'] */
    SEG_INDEX,   /* [N] */
    SEG_WILD,    /* [*] or .* */
    SEG_DESCENT, /* ..name or ..* : any number of steps, then the member */
};

struct seg {
    enum seg_kind kind;
    int wild_member; /* SEG_DESCENT with `*` */
    char *name;
    size_t nlen;
    size_t index;
};

struct jpath {
    struct seg segs[JPATH_MAX_SEGS];
    size_t nsegs;
};

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '$';
}

static int fail(size_t *bad_col, size_t col, struct err *err, const char *what)
{
    if (bad_col != NULL)
        *bad_col = col;
    return err_set(err, "bad path at column %zu: %s", col + 1, what);
}

/* Parse a bare name at e[*i]; the name must be non-empty. */
static int parse_bare(const char *e, size_t len, size_t *i, struct seg *s, size_t *bad_col,
                      struct err *err)
{
    size_t start = *i;

    if (*i < len && e[*i] == '*') {
        s->kind = s->kind == SEG_DESCENT ? SEG_DESCENT : SEG_WILD;
        s->wild_member = 1;
        (*i)++;
        return 0;
    }
    while (*i < len && is_name_char(e[*i]))
        (*i)++;
    if (*i == start)
        return fail(bad_col, start, err, "expected a member name or '*'");
    s->name = xstrndup(e + start, *i - start);
    s->nlen = *i - start;
    return 0;
}

/* Parse ['name'], [N] or [*] with *i at the '['. */
static int parse_bracket(const char *e, size_t len, size_t *i, struct seg *s, size_t *bad_col,
                         struct err *err)
{
    size_t j = *i + 1;

    if (j < len && e[j] == '*') {
        s->kind = SEG_WILD;
        j++;
    } else if (j < len && e[j] >= '0' && e[j] <= '9') {
        s->kind = SEG_INDEX;
        s->index = 0;
        for (; j < len && e[j] >= '0' && e[j] <= '9'; j++) {
            if (s->index > 100000000)
                return fail(bad_col, j, err, "index too large");
            s->index = s->index * 10 + (size_t)(e[j] - '0');
        }
    } else if (j < len && e[j] == '\'') {
        char tmp[256];
        size_t n = 0;
        s->kind = SEG_MEMBER;
        for (j++; j < len && e[j] != '\''; j++) {
            if (e[j] == '\\' && j + 1 < len && (e[j + 1] == '\'' || e[j + 1] == '\\'))
                j++;
            if (n == sizeof(tmp))
                return fail(bad_col, j, err, "member name too long");
            tmp[n++] = e[j];
        }
        if (j >= len)
            return fail(bad_col, *i, err, "unterminated quoted member name");
        j++;
        s->name = xstrndup(tmp, n);
        s->nlen = n;
    } else {
        return fail(bad_col, j, err, "expected '*', an index or a quoted name after '['");
    }
    if (j >= len || e[j] != ']')
        return fail(bad_col, j, err, "expected ']'");
    *i = j + 1;
    return 0;
}

static int parse_seg(struct jpath *p, const char *e, size_t len, size_t *i, size_t *bad_col,
                     struct err *err)
{
    struct seg *s;

    if (p->nsegs == JPATH_MAX_SEGS)
        return fail(bad_col, *i, err, "too many segments");
    s = &p->segs[p->nsegs++];
    memset(s, 0, sizeof(*s));
    if (e[*i] == '[')
        return parse_bracket(e, len, i, s, bad_col, err);
    if (e[*i] != '.')
        return fail(bad_col, *i, err, "expected '.' or '['");
    (*i)++;
    if (*i < len && e[*i] == '.') {
        s->kind = SEG_DESCENT;
        (*i)++;
    } else {
        s->kind = SEG_MEMBER;
    }
    return parse_bare(e, len, i, s, bad_col, err);
}

struct jpath *jpath_compile(const char *expr, size_t *bad_col, struct err *err)
{
    size_t len = strlen(expr), i = 1;
    struct jpath *p;

    if (len == 0 || expr[0] != '$') {
        fail(bad_col, 0, err, "a path starts with '$'");
        return NULL;
    }
    p = xcalloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    while (i < len) {
        if (parse_seg(p, expr, len, &i, bad_col, err) != 0) {
            jpath_free(p);
            return NULL;
        }
    }
    return p;
}

void jpath_free(struct jpath *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nsegs; i++)
        xfree(p->segs[i].name);
    xfree(p);
}

static int seg_accepts(const struct seg *s, const struct jpath_step *st)
{
    switch (s->kind) {
    case SEG_WILD:
        return 1;
    case SEG_INDEX:
        return st->key == NULL && st->index == s->index;
    case SEG_MEMBER:
    case SEG_DESCENT:
        if (st->key == NULL)
            return 0;
        if (s->wild_member)
            return 1;
        return st->klen == s->nlen && memcmp(st->key, s->name, s->nlen) == 0;
    }
    return 0;
}

/*
 * Match segments [pi..) against steps [si..n). With prefix set, running out
 * of steps while segments remain counts as "something below may match".
 */
static int match_from(const struct jpath *p, size_t pi, const struct jpath_step *steps, size_t si,
                      size_t n, int prefix)
{
    for (;;) {
        const struct seg *s;
        if (si == n)
            return prefix ? pi < p->nsegs : pi == p->nsegs;
        if (pi == p->nsegs)
            return 0;
        s = &p->segs[pi];
        if (s->kind == SEG_DESCENT) {
            /* `..x` consumes any number of steps, then one accepted step. */
            for (size_t k = si; k < n; k++)
                if (seg_accepts(s, &steps[k]) && match_from(p, pi + 1, steps, k + 1, n, prefix))
                    return 1;
            return prefix;
        }
        if (!seg_accepts(s, &steps[si]))
            return 0;
        pi++;
        si++;
    }
}

int jpath_match(const struct jpath *p, const struct jpath_step *steps, size_t n)
{
    return match_from(p, 0, steps, 0, n, 0);
}

int jpath_may_match_below(const struct jpath *p, const struct jpath_step *steps, size_t n)
{
    return match_from(p, 0, steps, 0, n, 1);
}
