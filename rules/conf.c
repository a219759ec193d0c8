/*
 * conf: the entry point, the top-level sections and the generation's memory.
 *
 * Sections are read in the order of conf_root, which is their dependency
 * order: limits and storage first (tenants check against them), policies
 * before the tenants that name them, tenants before the routes that name
 * them. Policies are in conf_policy.c, tenants and routes in conf_tenant.c.
 */
#include "rules/conf_impl.h"

#include "common/mem.h"

#include <string.h>

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)
#define SEC ((uint64_t)1000)

#define CONF_ARENA_MAX ((size_t)256 << 20)

/* The generation: a config and the arena everything in it lives in. conf_free
 * gets the config back to this by a cast, so c must stay first. */
struct conf_gen {
    struct config c;
    struct arena *a;
};

static const char *const conf_format_names[] = {
    [FORMAT_JSON] = "json",       [FORMAT_FORM] = "form",     [FORMAT_RRWEB] = "rrweb",
    [FORMAT_POSTHOG] = "posthog", [FORMAT_SENTRY] = "sentry",
};

const char *format_name(enum format f)
{
    if ((size_t)f < CONF_NELEM(conf_format_names))
        return conf_format_names[f];
    return "unknown";
}

int format_parse(const char *name, enum format *out)
{
    for (size_t i = 0; i < CONF_NELEM(conf_format_names); i++) {
        if (strcmp(name, conf_format_names[i]) == 0) {
            *out = (enum format)i;
            return 0;
        }
    }
    return -1;
}

static const struct conf_directive conf_tls[] = {
    {.key = "cert",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_listen, tls_cert, char *),
     .flags = CONF_REQUIRED},
    {.key = "key",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_listen, tls_key, char *),
     .flags = CONF_REQUIRED},
};

static const struct conf_directive conf_listener[] = {
    {.key = "addr",
     .get = conf_dir_hostport,
     .off = CONF_FIELD(struct conf_listen, addr, char *),
     .flags = CONF_REQUIRED},
    {.key = "tls", .get = conf_dir_section, .sub = conf_tls, .nsub = CONF_NELEM(conf_tls)},
};

static int conf_parse_listen(struct conf_ctx *x, const struct cnode *n,
                             const struct conf_directive *d, void *obj)
{
    struct config *c = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if (n->n == 0)
        return conf_fail(x, n, "expected at least one listener");
    if ((c->listen = conf_alloc(x, n, n->n, sizeof(*c->listen))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i);
        if (conf_map_apply(x, it, conf_listener, CONF_NELEM(conf_listener), &c->listen[i]))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->listen[j].addr, c->listen[i].addr) == 0)
                return conf_fail_key(x, it, "addr", "address already used by listen[%zu]", j);
        conf_path_restore(x, saved);
        c->nlisten = i + 1;
    }
    return 0;
}

#define LIMIT(k, h, f, T, lo, hi)                                                                  \
    {                                                                                              \
        .key = k, .get = h, .off = CONF_FIELD(struct conf_limits, f, T), .min = lo, .max = hi      \
    }

static const struct conf_directive conf_limits_table[] = {
    LIMIT("header_max", conf_dir_size, header_max, size_t, KIB, MIB),
    LIMIT("header_fields", conf_dir_uint, header_fields, unsigned, 1, 10000),
    LIMIT("body_max", conf_dir_size, body_max, size_t, KIB, GIB),
    LIMIT("decompressed_max", conf_dir_size, decompressed_max, size_t, KIB, 16 * GIB),
    LIMIT("ratio_max", conf_dir_uint, ratio_max, unsigned, 1, 100000),
    LIMIT("json_depth", conf_dir_uint, json_depth, unsigned, 1, 1000),
    LIMIT("json_nodes", conf_dir_count, json_nodes, size_t, 1, 100000000),
    LIMIT("regex_match_limit", conf_dir_u32, regex_match_limit, uint32_t, 1000, 1000000000),
    LIMIT("regex_depth_limit", conf_dir_u32, regex_depth_limit, uint32_t, 10, 1000000),
    LIMIT("header_timeout", conf_dir_ms, header_timeout_ms, unsigned, 100, 3600 * SEC),
    LIMIT("body_timeout", conf_dir_ms, body_timeout_ms, unsigned, 100, 3600 * SEC),
    LIMIT("idle_timeout", conf_dir_ms, idle_timeout_ms, unsigned, 100, 3600 * SEC),
    LIMIT("max_connections", conf_dir_uint, max_connections, unsigned, 1, 1000000),
    LIMIT("max_connections_per_ip", conf_dir_uint, max_connections_per_ip, unsigned, 1, 1000000),
    LIMIT("inflight_max", conf_dir_size, inflight_max, size_t, MIB, TIB),
    LIMIT("session_entries", conf_dir_count, session_entries, size_t, 1, 100000000),
    LIMIT("total_entries", conf_dir_count, total_entries, size_t, 1, 1000000000),
    LIMIT("drain_timeout", conf_dir_ms, drain_timeout_ms, unsigned, 0, 3600 * SEC),
    LIMIT("upstream_connect_timeout", conf_dir_ms, upstream_connect_timeout_ms, unsigned, 100,
          600 * SEC),
    LIMIT("upstream_timeout", conf_dir_ms, upstream_timeout_ms, unsigned, 100, 3600 * SEC),
    LIMIT("upstream_retries", conf_dir_uint, upstream_retries, unsigned, 0, 10),
    LIMIT("upstream_connections", conf_dir_uint, upstream_connections, unsigned, 1, 10000),
};

static int conf_parse_limits(struct conf_ctx *x, const struct cnode *n,
                             const struct conf_directive *d, void *obj)
{
    struct conf_limits *l = &((struct config *)obj)->limits;

    (void)d;
    if (conf_map_apply(x, n, conf_limits_table, CONF_NELEM(conf_limits_table), l))
        return -1;
    if (l->session_entries > l->total_entries)
        return conf_fail_key(
            x, n, conf_map_get(n, "session_entries") ? "session_entries" : "total_entries",
            "session_entries (%zu) is larger than total_entries (%zu)", l->session_entries,
            l->total_entries);
    if (l->max_connections_per_ip > l->max_connections)
        return conf_fail_key(x, n,
                             conf_map_get(n, "max_connections_per_ip") ? "max_connections_per_ip"
                                                                       : "max_connections",
                             "max_connections_per_ip (%u) is larger than max_connections (%u)",
                             l->max_connections_per_ip, l->max_connections);
    return 0;
}

static const struct conf_directive conf_storage_table[] = {
    {.key = "dir",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_storage, dir, char *),
     .flags = CONF_REQUIRED},
    {.key = "segment_max_bytes",
     .get = conf_dir_size64,
     .off = CONF_FIELD(struct conf_storage, segment_max_bytes, uint64_t),
     .min = MIB,
     .max = 16 * GIB},
    {.key = "segment_max_age",
     .get = conf_dir_seconds,
     .off = CONF_FIELD(struct conf_storage, segment_max_age_s, unsigned),
     .min = SEC,
     .max = 7 * 24 * 3600 * SEC},
    {.key = "commit_interval",
     .get = conf_dir_ms,
     .off = CONF_FIELD(struct conf_storage, commit_interval_ms, unsigned),
     .min = 0,
     .max = 10 * SEC},
};

/* A C2SP checkpoint origin: printable ASCII without spaces or '+'. */
static int conf_audit_origin(struct conf_ctx *x, const struct cnode *n,
                             const struct conf_directive *d, void *obj)
{
    int ok = n->kind == CNODE_SCALAR && n->len > 0 && n->len <= 200;

    (void)d;
    for (size_t i = 0; ok && i < n->len; i++)
        ok = n->s[i] > 0x20 && n->s[i] < 0x7f && n->s[i] != '+';
    if (n->kind == CNODE_SCALAR && !conf_is_null(n) && !ok)
        return conf_fail(x, n,
                         "expected a checkpoint origin: 1 to 200 printable ASCII "
                         "characters, no spaces or '+'");
    return conf_get_string(x, n, &((struct conf_audit *)obj)->origin);
}

static const struct conf_directive conf_audit_table[] = {
    {.key = "dir",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_audit, dir, char *),
     .flags = CONF_REQUIRED},
    {.key = "signing_key",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_audit, signing_key, char *)},
    {.key = "origin", .get = conf_audit_origin},
    {.key = "checkpoint_entries",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct conf_audit, checkpoint_entries, unsigned),
     .min = 1,
     .max = 1000000},
    {.key = "checkpoint_seconds",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct conf_audit, checkpoint_seconds, unsigned),
     .min = 1,
     .max = 86400},
};

static const struct conf_directive conf_spool_table[] = {
    {.key = "dir",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_spool, dir, char *),
     .flags = CONF_REQUIRED},
    {.key = "max_bytes",
     .get = conf_dir_size64,
     .off = CONF_FIELD(struct conf_spool, max_bytes, uint64_t),
     .min = MIB,
     .max = 64 * TIB},
};

#define SECTION(k, T, f, table)                                                                    \
    {                                                                                              \
        .key = k, .get = conf_dir_section, .off = CONF_FIELD(struct config, f, T), .sub = table,   \
        .nsub = CONF_NELEM(table)                                                                  \
    }

static const struct conf_directive conf_root[] = {
    {.key = "listen", .get = conf_parse_listen},
    {.key = "admin", .get = conf_dir_hostport, .off = CONF_FIELD(struct config, admin, char *)},
    {.key = "workers",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct config, workers, unsigned),
     .max = 1024},
    {.key = "limits", .get = conf_parse_limits},
    SECTION("storage", struct conf_storage, storage, conf_storage_table),
    SECTION("audit", struct conf_audit, audit, conf_audit_table),
    SECTION("spool", struct conf_spool, spool, conf_spool_table),
    {.key = "policies", .get = conf_parse_policies, .flags = CONF_REQUIRED},
    {.key = "tenants", .get = conf_parse_tenants, .flags = CONF_REQUIRED},
    /* Optional: the offline CLI (scrim redact) needs tenants and policies only. */
    {.key = "routes", .get = conf_parse_routes},
};

static const struct conf_limits conf_default_limits = {
    .header_max = 16 * KIB,
    .header_fields = 100,
    .body_max = 5 * MIB,
    .decompressed_max = 50 * MIB,
    .ratio_max = 100,
    .json_depth = 64,
    .json_nodes = 1000000,
    .regex_match_limit = 100000,
    .regex_depth_limit = 1000,
    .header_timeout_ms = 10 * SEC,
    .body_timeout_ms = 30 * SEC,
    .idle_timeout_ms = 30 * SEC,
    .max_connections = 10000,
    .max_connections_per_ip = 256,
    .inflight_max = 256 * MIB,
    .session_entries = 100000,
    .total_entries = 5000000,
    .drain_timeout_ms = 30 * SEC,
    .upstream_connect_timeout_ms = 2 * SEC,
    .upstream_timeout_ms = 10 * SEC,
    .upstream_retries = 1,
    .upstream_connections = 64,
};

/* Errors with no better place point at the start of the file. */
static const struct cnode conf_top = {.kind = CNODE_MAP, .line = 1, .col = 1};

static int conf_set_defaults(struct conf_ctx *x)
{
    struct config *c = x->c;

    c->limits = conf_default_limits;
    c->storage.segment_max_bytes = 64 * MIB;
    c->storage.segment_max_age_s = 3600;
    c->storage.commit_interval_ms = 0;
    c->audit.checkpoint_entries = 1000;
    c->audit.checkpoint_seconds = 60;
    c->spool.max_bytes = GIB;
    c->admin = conf_strndup(x, &conf_top, "127.0.0.1:9090", 14);
    c->file = conf_strndup(x, &conf_top, x->file, strlen(x->file));
    return c->admin == NULL || c->file == NULL ? -1 : 0;
}

/* No listen section: one plain-HTTP listener on loopback. */
static int conf_default_listen(struct conf_ctx *x)
{
    struct config *c = x->c;

    if (c->nlisten > 0)
        return 0;
    c->listen = conf_alloc(x, &conf_top, 1, sizeof(*c->listen));
    if (c->listen == NULL)
        return -1;
    c->listen[0].addr = conf_strndup(x, &conf_top, "127.0.0.1:8080", 14);
    if (c->listen[0].addr == NULL)
        return -1;
    c->nlisten = 1;
    return 0;
}

static int conf_load(struct conf_ctx *x, const char *yaml, size_t len)
{
    struct cnode *root;

    if (conf_set_defaults(x) || conf_yaml_load(x, yaml, len, &root))
        return -1;
    if (root->kind != CNODE_MAP)
        return conf_fail(x, root, "expected a mapping at the top level, got %s",
                         conf_kind_name(root));
    if (conf_map_apply(x, root, conf_root, CONF_NELEM(conf_root), x->c))
        return -1;
    return conf_default_listen(x);
}

static void conf_ctx_init(struct conf_ctx *x, const char *name, struct err *err)
{
    const char *slash;

    memset(x, 0, sizeof(*x));
    x->file = name != NULL ? name : "-";
    x->err = err;
    slash = strrchr(x->file, '/');
    x->dir = x->file;
    if (slash != NULL)
        x->dirlen = slash == x->file ? 1 : (size_t)(slash - x->file);
}

struct config *conf_parse(const char *name, const char *yaml, size_t len, struct err *err)
{
    struct conf_ctx x;
    struct conf_gen *g;
    int rc;

    conf_ctx_init(&x, name, err);
    if ((g = xcalloc(1, sizeof(*g))) == NULL) {
        conf_fail_at(&x, 1, 1, "out of memory");
        return NULL;
    }
    x.c = &g->c;
    x.a = g->a = arena_new(CONF_ARENA_MAX);
    x.tree = arena_new(CONF_ARENA_MAX);
    if (x.a == NULL || x.tree == NULL)
        rc = conf_fail_at(&x, 1, 1, "out of memory");
    else
        rc = conf_load(&x, yaml, len);
    arena_free(x.tree);
    if (rc) {
        conf_free(&g->c);
        return NULL;
    }
    return &g->c;
}

void conf_free(struct config *c)
{
    struct conf_gen *g = (struct conf_gen *)c;

    if (c == NULL)
        return;
    for (size_t i = 0; i < c->npolicies; i++)
        conf_policy_release(&c->policies[i]);
    arena_free(g->a);
    xfree(g);
}

const struct conf_tenant *conf_tenant_by_id(const struct config *c, const char *id)
{
    for (size_t i = 0; i < c->ntenants; i++)
        if (c->tenants[i].id != NULL && strcmp(c->tenants[i].id, id) == 0)
            return &c->tenants[i];
    return NULL;
}

const struct policy *conf_policy_by_name(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->npolicies; i++)
        if (c->policies[i].name != NULL && strcmp(c->policies[i].name, name) == 0)
            return &c->policies[i];
    return NULL;
}
