/*
 * conf_impl: what the parts of the config loader share. Private to
 * rules/conf*.c; nothing else includes it.
 *
 * The loader reads the YAML events into a small tree of its own (conf_yaml.c)
 * so it can refuse aliases, anchors, tags, duplicate keys and extra documents
 * at their exact position, then walks that tree with a table of directives per
 * section (conf.c, conf_tenant.c, conf_policy.c) using the typed helpers of
 * conf_get.c. Everything the generation keeps is allocated in its arena; the
 * tree lives in a second arena freed when the load ends.
 */
#ifndef SCRIM_CONF_IMPL_H
#define SCRIM_CONF_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "rules/conf.h"

#define CONF_YAML_MAX  ((size_t)16 << 20) /* bytes of YAML conf_parse accepts */
#define CONF_DEPTH_MAX 32                 /* nesting of YAML collections */
#define CONF_KEYS_MAX  10000              /* keys in one mapping */
#define CONF_PATH_MAX  256

enum cnode_kind {
    CNODE_SCALAR,
    CNODE_SEQ,
    CNODE_MAP,
};

enum cnode_style {
    CNODE_PLAIN,  /* unquoted: may be null, a number, a boolean */
    CNODE_QUOTED, /* '...' or "...": always a string */
    CNODE_BLOCK,  /* | or >: always a string */
};

struct cnode {
    enum cnode_kind kind;
    enum cnode_style style;
    unsigned line, col;         /* 1-based position of the first character */
    unsigned end_line, end_col; /* 1-based position just past the last one */
    const char *s;              /* scalar text, NUL-terminated, no NUL inside */
    size_t len;
    struct cnode *head, *tail; /* children; a mapping alternates key, value */
    size_t n;                  /* items of a sequence, pairs of a mapping */
    struct cnode *next;
};

struct conf_ctx {
    const char *file;
    const char *dir; /* directory of file, for relative paths */
    size_t dirlen;   /* 0: file has no directory part */
    struct err *err;
    struct config *c;
    struct arena *a;    /* the generation: lives until conf_free */
    struct arena *tree; /* the YAML tree: freed when conf_parse returns */
    char path[CONF_PATH_MAX];
    size_t plen;
};

struct conf_directive;

/* Read the value n of directive d into obj (the struct the table describes). */
typedef int (*conf_handler)(struct conf_ctx *x, const struct cnode *n,
                            const struct conf_directive *d, void *obj);

#define CONF_REQUIRED 1

struct conf_directive {
    const char *key;
    conf_handler get;
    size_t off;        /* where in obj the value goes */
    uint64_t min, max; /* bounds for the numeric helpers */
    unsigned flags;
    const struct conf_directive *sub; /* conf_dir_section: the nested table */
    size_t nsub;
};

/* offsetof(T, f), and a compile error when f is not of type ctype, so a
 * table entry cannot hand a helper the wrong field. */
#define CONF_FIELD(T, f, ctype) (offsetof(T, f) + 0 * sizeof(&((T *)0)->f == (ctype *)0))
#define CONF_NELEM(a)           (sizeof(a) / sizeof((a)[0]))
/* The field directive d describes in obj. */
#define CONF_AT(obj, d, type) ((type *)((char *)(obj) + (d)->off))

/* conf_yaml.c: the document's root node, or -1 with the error set. */
int conf_yaml_load(struct conf_ctx *x, const char *yaml, size_t len, struct cnode **root) WUR;

/* conf_get.c: errors and the path shown in them. */
int conf_fail_at(struct conf_ctx *x, unsigned line, unsigned col, const char *fmt, ...)
    ERR_PRINTF(4, 5);
int conf_fail(struct conf_ctx *x, const struct cnode *n, const char *fmt, ...) ERR_PRINTF(3, 4);
/* An error at byte off of scalar n's text (a regex or selector column);
 * approximate for escaped or multi-line scalars, but always inside n. */
int conf_fail_in(struct conf_ctx *x, const struct cnode *n, size_t off, const char *fmt, ...)
    ERR_PRINTF(4, 5);
/* An error at the value of key in map (at map when key is absent), with the
 * key in the path: for checks made after a whole mapping was read. */
int conf_fail_key(struct conf_ctx *x, const struct cnode *map, const char *key, const char *fmt,
                  ...) ERR_PRINTF(4, 5);
size_t conf_path_key(struct conf_ctx *x, const char *key, size_t klen);
size_t conf_path_index(struct conf_ctx *x, size_t i);
void conf_path_restore(struct conf_ctx *x, size_t saved);

/* conf_get.c: the tree. */
const char *conf_kind_name(const struct cnode *n);
int conf_is_null(const struct cnode *n);
int conf_expect(struct conf_ctx *x, const struct cnode *n, enum cnode_kind kind) WUR;
const struct cnode *conf_map_get(const struct cnode *map, const char *key);
int conf_map_apply(struct conf_ctx *x, const struct cnode *map, const struct conf_directive *t,
                   size_t nt, void *obj) WUR;

/* conf_get.c: memory in the generation; on failure the error is set at n. */
void *conf_alloc(struct conf_ctx *x, const struct cnode *n, size_t count, size_t size);
char *conf_strndup(struct conf_ctx *x, const struct cnode *n, const char *s, size_t len);

/* conf_get.c: typed helpers. Each checks n, sets the error at n, and writes
 * *out only on success. */
int conf_get_uint(struct conf_ctx *x, const struct cnode *n, uint64_t min, uint64_t max,
                  uint64_t *out) WUR;
int conf_get_size(struct conf_ctx *x, const struct cnode *n, uint64_t min, uint64_t max,
                  uint64_t *out) WUR;
int conf_get_duration(struct conf_ctx *x, const struct cnode *n, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *out) WUR;
int conf_get_bool(struct conf_ctx *x, const struct cnode *n, int *out) WUR;
int conf_get_string(struct conf_ctx *x, const struct cnode *n, char **out) WUR;
int conf_get_name(struct conf_ctx *x, const struct cnode *n, const char *what, char **out) WUR;
int conf_get_path(struct conf_ctx *x, const struct cnode *n, char **out) WUR;
int conf_get_hex32(struct conf_ctx *x, const struct cnode *n, uint8_t out[32]) WUR;
int conf_get_hostport(struct conf_ctx *x, const struct cnode *n, char **out) WUR;
int conf_get_strings(struct conf_ctx *x, const struct cnode *n,
                     int (*get)(struct conf_ctx *, const struct cnode *, char **), char ***out,
                     size_t *count) WUR;

/* conf_get.c: directive handlers for the typed helpers; the field type is in
 * the name (CONF_FIELD checks it in the tables). */
int conf_dir_uint(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj); /* unsigned */
int conf_dir_u32(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                 void *obj); /* uint32_t */
int conf_dir_count(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                   void *obj); /* size_t, a plain number */
int conf_dir_size(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj); /* size_t, bytes with a unit */
int conf_dir_size64(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                    void *obj); /* uint64_t, bytes with a unit */
int conf_dir_ms(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                void *obj); /* unsigned milliseconds from a duration */
int conf_dir_ms64(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj); /* uint64_t milliseconds from a duration */
int conf_dir_seconds(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                     void *obj); /* unsigned whole seconds from a duration */
int conf_dir_bool(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj); /* int */
int conf_dir_string(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                    void *obj); /* char * */
int conf_dir_path(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj); /* char *, resolved against the file's directory */
int conf_dir_hostport(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                      void *obj); /* char *, host:port */
int conf_dir_section(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                     void *obj); /* a nested mapping: d->sub applied at obj + d->off */

/* conf_policy.c: the `policies:` mapping into c->policies. */
int conf_parse_policies(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                        void *obj);
/* conf_policy.c: free what a (possibly half-built) policy holds outside the
 * generation's arena: selector lists, the detector set, compiled paths. */
void conf_policy_release(struct policy *p);

/* conf_tenant.c: `tenants:` and `routes:`; they need the policies parsed. */
int conf_parse_tenants(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                       void *obj);
int conf_parse_routes(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                      void *obj);

#endif
