/*
 * conf_yaml: libyaml events into the loader's tree.
 *
 * The event API is used instead of yaml_parser_load because the composed
 * document has already resolved aliases and tags and forgotten where they
 * were: scrim refuses them (an alias makes one place of the file mean two
 * policies; a tag changes what a scalar is), and the error must point at
 * them. Duplicate keys are refused here too, where both positions are known.
 * The builder keeps an explicit stack, so nesting depth is a checked bound,
 * not a recursion.
 */
#include "rules/conf_impl.h"

#include <string.h>
#include <yaml.h>

struct conf_frame {
    struct cnode *node;
    struct cnode *key; /* a mapping's key still waiting for its value */
    size_t plen;       /* length of the path of node itself */
};

struct conf_builder {
    struct conf_ctx *x;
    struct conf_frame stack[CONF_DEPTH_MAX];
    size_t depth;
    struct cnode *root;
    int documents;
};

/* libyaml marks are 0-based; scrim's messages are 1-based. */
static int conf_yaml_fail(struct conf_builder *b, yaml_mark_t m, const char *what)
{
    return conf_fail_at(b->x, (unsigned)m.line + 1, (unsigned)m.column + 1, "%s", what);
}

static const struct cnode *conf_yaml_key_taken(const struct cnode *map, const struct cnode *key)
{
    for (const struct cnode *k = map->head; k != NULL && k->next != NULL; k = k->next->next)
        if (k->len == key->len && memcmp(k->s, key->s, key->len) == 0)
            return k;
    return NULL;
}

/* A key of a mapping: a scalar, new in its mapping. */
static int conf_yaml_check_key(struct conf_builder *b, const struct cnode *map,
                               const struct cnode *key)
{
    const struct cnode *first;

    if (key->kind != CNODE_SCALAR)
        return conf_fail(b->x, key, "mapping keys must be strings, not %s", conf_kind_name(key));
    if (map->n >= CONF_KEYS_MAX)
        return conf_fail(b->x, key, "more than %d keys in one mapping", CONF_KEYS_MAX);
    first = conf_yaml_key_taken(map, key);
    if (first != NULL)
        return conf_fail(b->x, key, "duplicate key \"%.*s\" (first at line %u, column %u)",
                         (int)(key->len > 64 ? 64 : key->len), key->s, first->line, first->col);
    return 0;
}

static void conf_yaml_append(struct cnode *parent, struct cnode *n)
{
    if (parent->tail != NULL)
        parent->tail->next = n;
    else
        parent->head = n;
    parent->tail = n;
}

/* Hang n under the open collection and set the path that errors inside n
 * show: "parent.key" for a mapping key and its value, "parent[i]" for an
 * item. */
static int conf_yaml_attach(struct conf_builder *b, struct cnode *n)
{
    struct conf_frame *f;

    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    f = &b->stack[b->depth - 1];
    if (f->node->kind == CNODE_SEQ) {
        conf_path_restore(b->x, f->plen);
        conf_path_index(b->x, f->node->n++);
    } else if (f->key == NULL) {
        conf_path_restore(b->x, f->plen);
        if (n->kind == CNODE_SCALAR)
            conf_path_key(b->x, n->s, n->len);
        if (conf_yaml_check_key(b, f->node, n))
            return -1;
        f->key = n;
    } else {
        f->key = NULL;
        f->node->n++;
    }
    conf_yaml_append(f->node, n);
    return 0;
}

static struct cnode *conf_yaml_node(struct conf_builder *b, enum cnode_kind kind,
                                    const yaml_event_t *ev)
{
    struct cnode *n = arena_zalloc(b->x->tree, sizeof(*n));

    if (n == NULL) {
        conf_yaml_fail(b, ev->start_mark, "configuration too large");
        return NULL;
    }
    n->kind = kind;
    n->line = (unsigned)ev->start_mark.line + 1;
    n->col = (unsigned)ev->start_mark.column + 1;
    n->end_line = (unsigned)ev->end_mark.line + 1;
    n->end_col = (unsigned)ev->end_mark.column + 1;
    n->s = "";
    return n;
}

/* Anchors and tags (YAML "node properties") are refused wherever they
 * appear; see the top. */
static int conf_yaml_check_props(struct conf_builder *b, const yaml_event_t *ev,
                                 const yaml_char_t *anchor, const yaml_char_t *tag)
{
    if (anchor != NULL)
        return conf_yaml_fail(b, ev->start_mark, "YAML anchors (&) are not supported");
    if (tag != NULL)
        return conf_yaml_fail(b, ev->start_mark, "YAML tags (!) are not supported");
    return 0;
}

static int conf_yaml_scalar(struct conf_builder *b, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct cnode *n;

    if (conf_yaml_check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag))
        return -1;
    if (memchr(v, '\0', len) != NULL)
        return conf_yaml_fail(b, ev->start_mark, "NUL characters are not allowed");
    if ((n = conf_yaml_node(b, CNODE_SCALAR, ev)) == NULL)
        return -1;
    if ((n->s = arena_strndup(b->x->tree, v, len)) == NULL)
        return conf_yaml_fail(b, ev->start_mark, "configuration too large");
    n->len = len;
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        n->style = CNODE_QUOTED;
        break;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        n->style = CNODE_BLOCK;
        break;
    default:
        n->style = CNODE_PLAIN;
    }
    return conf_yaml_attach(b, n);
}

static int conf_yaml_open(struct conf_builder *b, const yaml_event_t *ev, enum cnode_kind kind)
{
    const yaml_char_t *anchor, *tag;
    struct cnode *n;

    anchor = kind == CNODE_SEQ ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    tag = kind == CNODE_SEQ ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
    if (conf_yaml_check_props(b, ev, anchor, tag))
        return -1;
    if (b->depth == CONF_DEPTH_MAX)
        return conf_yaml_fail(b, ev->start_mark, "nested deeper than the YAML depth limit (32)");
    if ((n = conf_yaml_node(b, kind, ev)) == NULL || conf_yaml_attach(b, n))
        return -1;
    b->stack[b->depth].node = n;
    b->stack[b->depth].key = NULL;
    b->stack[b->depth].plen = b->x->plen;
    b->depth++;
    return 0;
}

static int conf_yaml_close(struct conf_builder *b, const yaml_event_t *ev)
{
    struct cnode *n = b->stack[--b->depth].node;

    n->end_line = (unsigned)ev->end_mark.line + 1;
    n->end_col = (unsigned)ev->end_mark.column + 1;
    return 0;
}

static int conf_yaml_document(struct conf_builder *b, const yaml_event_t *ev)
{
    const yaml_tag_directive_t *t = ev->data.document_start.tag_directives.start;

    conf_path_restore(b->x, 0);
    if (b->documents++ > 0)
        return conf_yaml_fail(b, ev->start_mark,
                              "more than one YAML document (only one is allowed)");
    if (t != NULL && t != ev->data.document_start.tag_directives.end)
        return conf_yaml_fail(b, ev->start_mark, "YAML %TAG directives are not supported");
    return 0;
}

static int conf_yaml_event(struct conf_builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return conf_yaml_document(b, ev);
    case YAML_ALIAS_EVENT:
        return conf_yaml_fail(b, ev->start_mark, "YAML aliases (*) are not supported");
    case YAML_SCALAR_EVENT:
        return conf_yaml_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return conf_yaml_open(b, ev, CNODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return conf_yaml_open(b, ev, CNODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return conf_yaml_close(b, ev);
    default:
        return 0;
    }
}

/* libyaml reports input errors (bad UTF-8, control characters) by byte
 * offset only; count lines and columns ourselves. */
static int conf_yaml_reader_error(struct conf_builder *b, const yaml_parser_t *p, const char *yaml,
                                  size_t len)
{
    size_t off = p->problem_offset < len ? p->problem_offset : len;
    unsigned line = 1, col = 1;

    for (size_t i = 0; i < off; i++) {
        col++;
        if (yaml[i] == '\n') {
            line++;
            col = 1;
        }
    }
    return conf_fail_at(b->x, line, col, "invalid input: %s", p->problem ? p->problem : "?");
}

static int conf_yaml_error(struct conf_builder *b, const yaml_parser_t *p, const char *yaml,
                           size_t len)
{
    /* The path of the last node read would only mislead here. */
    conf_path_restore(b->x, 0);
    if (p->error == YAML_MEMORY_ERROR)
        return conf_fail_at(b->x, 1, 1, "out of memory reading YAML");
    if (p->error == YAML_READER_ERROR)
        return conf_yaml_reader_error(b, p, yaml, len);
    if (p->context != NULL)
        return conf_fail_at(b->x, (unsigned)p->problem_mark.line + 1,
                            (unsigned)p->problem_mark.column + 1, "YAML syntax error: %s (%s)",
                            p->problem ? p->problem : "?", p->context);
    return conf_fail_at(b->x, (unsigned)p->problem_mark.line + 1,
                        (unsigned)p->problem_mark.column + 1, "YAML syntax error: %s",
                        p->problem ? p->problem : "?");
}

int conf_yaml_load(struct conf_ctx *x, const char *yaml, size_t len, struct cnode **root)
{
    struct conf_builder b;
    yaml_parser_t p;
    int rc = 0, done = 0;

    memset(&b, 0, sizeof(b));
    b.x = x;
    if (len > CONF_YAML_MAX)
        return conf_fail_at(x, 1, 1, "configuration larger than 16 MiB");
    if (!yaml_parser_initialize(&p))
        return conf_fail_at(x, 1, 1, "out of memory reading YAML");
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = conf_yaml_error(&b, &p, yaml, len);
            break;
        }
        rc = conf_yaml_event(&b, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    conf_path_restore(x, 0);
    if (rc == 0 && b.root == NULL)
        rc = conf_fail_at(x, 1, 1, "the configuration is empty");
    *root = b.root;
    return rc;
}
