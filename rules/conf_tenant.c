/*
 * conf_tenant: the `tenants:` and `routes:` sections.
 *
 * Both are checked against what was read before them (conf_root's order):
 * a tenant's policy must exist and, when it hashes, the tenant needs a
 * pseudonym key; a route's fixed tenant must exist. Identifiers that pick a
 * tenant at request time (ids, API key hashes, vendor keys) must be unique
 * across all tenants, or a request could be attributed to the wrong one.
 */
#include "rules/conf_impl.h"

#include <string.h>

static size_t tenant_index(const struct conf_ctx *x, const struct conf_tenant *t)
{
    return (size_t)(t - x->c->tenants);
}

static int tenant_id(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                     void *obj)
{
    struct conf_tenant *t = obj;
    size_t me = tenant_index(x, t);

    (void)d;
    if (conf_get_name(x, n, "tenant id", &t->id))
        return -1;
    for (size_t i = 0; i < me; i++)
        if (strcmp(x->c->tenants[i].id, t->id) == 0)
            return conf_fail(x, n, "duplicate tenant id \"%s\" (also tenants[%zu])", t->id, i);
    return 0;
}

static int tenant_policy(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                         void *obj)
{
    struct conf_tenant *t = obj;

    (void)d;
    if (conf_get_name(x, n, "policy name", &t->policy_name))
        return -1;
    t->policy = conf_policy_by_name(x->c, t->policy_name);
    if (t->policy == NULL)
        return conf_fail(x, n, "unknown policy \"%s\" (not defined under policies)",
                         t->policy_name);
    return 0;
}

/* Where else is this API key hash? Tenants before t, and t's earlier keys.
 * item is the key's mapping: the error points at its sha256. */
static int tenant_key_clash(struct conf_ctx *x, const struct conf_tenant *t, size_t k,
                            const struct cnode *item)
{
    for (size_t i = 0; i <= tenant_index(x, t); i++) {
        const struct conf_tenant *o = &x->c->tenants[i];
        size_t nk = o == t ? k : o->napi_keys;
        for (size_t j = 0; j < nk; j++)
            if (memcmp(o->api_key_sha256[j], t->api_key_sha256[k], 32) == 0)
                return conf_fail_key(x, item, "sha256",
                                     "duplicate API key hash (also tenants[%zu].api_keys[%zu])", i,
                                     j);
    }
    return 0;
}

static int tenant_key_hash(struct conf_ctx *x, const struct cnode *n,
                           const struct conf_directive *d, void *obj)
{
    (void)d;
    return conf_get_hex32(x, n, obj);
}

static const struct conf_directive tenant_api_key[] = {
    {.key = "sha256", .get = tenant_key_hash, .flags = CONF_REQUIRED},
};

static int tenant_api_keys(struct conf_ctx *x, const struct cnode *n,
                           const struct conf_directive *d, void *obj)
{
    struct conf_tenant *t = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if ((t->api_key_sha256 = conf_alloc(x, n, n->n, sizeof(*t->api_key_sha256))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i);
        if (conf_map_apply(x, it, tenant_api_key, 1, t->api_key_sha256[i]) ||
            tenant_key_clash(x, t, i, it))
            return -1;
        conf_path_restore(x, saved);
        t->napi_keys = i + 1;
    }
    return 0;
}

/* Vendor keys are matched byte for byte against payload fields; whitespace
 * in one is a copy-paste accident, never a real key. */
static int tenant_vendor_key(struct conf_ctx *x, const struct cnode *n, char **out)
{
    int ok = n->kind != CNODE_SCALAR || n->len <= 256;

    for (size_t i = 0; ok && n->kind == CNODE_SCALAR && i < n->len; i++)
        ok = (unsigned char)n->s[i] > 0x20 && n->s[i] != 0x7f;
    if (!ok)
        return conf_fail(x, n, "expected a vendor key: up to 256 characters, no spaces");
    return conf_get_string(x, n, out);
}

static int tenant_vendor_clash(struct conf_ctx *x, const struct conf_tenant *t, size_t k,
                               const struct cnode *n)
{
    for (size_t i = 0; i <= tenant_index(x, t); i++) {
        const struct conf_tenant *o = &x->c->tenants[i];
        size_t nk = o == t ? k : o->nvendor_keys;
        for (size_t j = 0; j < nk; j++)
            if (strcmp(o->vendor_keys[j], t->vendor_keys[k]) == 0)
                return conf_fail(x, n, "duplicate vendor key (also tenants[%zu].vendor_keys[%zu])",
                                 i, j);
    }
    return 0;
}

static int tenant_vendor_keys(struct conf_ctx *x, const struct cnode *n,
                              const struct conf_directive *d, void *obj)
{
    struct conf_tenant *t = obj;
    size_t i = 0;

    (void)d;
    if (conf_get_strings(x, n, tenant_vendor_key, &t->vendor_keys, &t->nvendor_keys))
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i);
        if (tenant_vendor_clash(x, t, i, it))
            return -1;
        conf_path_restore(x, saved);
    }
    return 0;
}

static int tenant_public_keys(struct conf_ctx *x, const struct cnode *n,
                              const struct conf_directive *d, void *obj)
{
    struct conf_tenant *t = obj;

    (void)d;
    if (conf_get_strings(x, n, conf_get_path, &t->public_keys, &t->npublic_keys))
        return -1;
    if (t->npublic_keys == 0)
        return conf_fail(x, n, "expected at least one public key file");
    return 0;
}

static const struct conf_directive tenant_rate_table[] = {
    {.key = "per_second",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct conf_tenant, rate_per_sec, unsigned),
     .min = 1,
     .max = 1000000,
     .flags = CONF_REQUIRED},
    {.key = "burst",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct conf_tenant, rate_burst, unsigned),
     .min = 1,
     .max = 10000000},
};

/* A token bucket smaller than one second's rate could never reach it. */
static int tenant_rate(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                       void *obj)
{
    struct conf_tenant *t = obj;

    (void)d;
    if (conf_map_apply(x, n, tenant_rate_table, CONF_NELEM(tenant_rate_table), t))
        return -1;
    if (t->rate_burst == 0)
        t->rate_burst = t->rate_per_sec;
    if (t->rate_burst < t->rate_per_sec)
        return conf_fail_key(x, n, "burst", "burst (%u) is smaller than per_second (%u)",
                             t->rate_burst, t->rate_per_sec);
    return 0;
}

static const struct conf_directive tenant_table[] = {
    {.key = "id", .get = tenant_id, .flags = CONF_REQUIRED},
    {.key = "policy", .get = tenant_policy, .flags = CONF_REQUIRED},
    {.key = "purpose",
     .get = conf_dir_string,
     .off = CONF_FIELD(struct conf_tenant, purpose, char *)},
    {.key = "api_keys", .get = tenant_api_keys},
    {.key = "vendor_keys", .get = tenant_vendor_keys},
    {.key = "public_keys", .get = tenant_public_keys},
    {.key = "pseudonym_key",
     .get = conf_dir_path,
     .off = CONF_FIELD(struct conf_tenant, pseudonym_key, char *)},
    {.key = "retention_days",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct conf_tenant, retention_days, unsigned),
     .min = 1,
     .max = 3650},
    {.key = "rate", .get = tenant_rate},
};

/* What a tenant needs from the rest of the file. */
static int tenant_check(struct conf_ctx *x, const struct cnode *n, const struct conf_tenant *t)
{
    if (x->c->storage.dir != NULL && t->npublic_keys == 0)
        return conf_fail(x, n,
                         "missing required key \"public_keys\" (storage is enabled, and "
                         "records are sealed to the tenant's key)");
    if (t->pseudonym_key == NULL && policy_uses_action(t->policy, ACTION_HASH))
        return conf_fail_key(x, n, "policy",
                             "policy \"%s\" uses the hash action, and the tenant has no "
                             "pseudonym_key",
                             t->policy_name);
    return 0;
}

int conf_parse_tenants(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                       void *obj)
{
    struct config *c = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if (n->n == 0)
        return conf_fail(x, n, "expected at least one tenant");
    if ((c->tenants = conf_alloc(x, n, n->n, sizeof(*c->tenants))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        struct conf_tenant *t = &c->tenants[i];
        size_t saved = conf_path_index(x, i);
        t->retention_days = 30;
        if (conf_map_apply(x, it, tenant_table, CONF_NELEM(tenant_table), t) ||
            tenant_check(x, it, t))
            return -1;
        conf_path_restore(x, saved);
        c->ntenants = i + 1;
    }
    return 0;
}

/* An HTTP method token, stored upper case. */
static int route_method(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                        void *obj)
{
    struct conf_route *r = obj;
    int ok = n->kind == CNODE_SCALAR && n->len > 0 && n->len <= 16;

    (void)d;
    for (size_t i = 0; ok && i < n->len; i++)
        ok = (n->s[i] >= 'A' && n->s[i] <= 'Z') || (n->s[i] >= 'a' && n->s[i] <= 'z');
    if (n->kind == CNODE_SCALAR && !conf_is_null(n) && !ok)
        return conf_fail(x, n, "expected an HTTP method such as POST");
    if (conf_get_string(x, n, &r->method))
        return -1;
    for (char *p = r->method; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return 0;
}

static int route_path(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                      void *obj)
{
    int ok = n->kind == CNODE_SCALAR && n->len > 0 && n->s[0] == '/';

    (void)d;
    for (size_t i = 0; ok && i < n->len; i++) {
        unsigned char c = (unsigned char)n->s[i];
        ok = c > 0x20 && c != 0x7f && c != '?' && c != '#' && (c != '*' || i + 1 == n->len);
    }
    if (n->kind == CNODE_SCALAR && !conf_is_null(n) && !ok)
        return conf_fail(x, n,
                         "expected a URL path starting with '/', without query or spaces; "
                         "'*' only at the end (prefix match)");
    return conf_get_string(x, n, &((struct conf_route *)obj)->path);
}

static const struct conf_directive route_match[] = {
    {.key = "method", .get = route_method},
    {.key = "path", .get = route_path, .flags = CONF_REQUIRED},
};

static int route_format(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                        void *obj)
{
    struct conf_route *r = obj;

    (void)d;
    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (format_parse(n->s, &r->format))
        return conf_fail(x, n,
                         "unknown format \"%.*s\" (expected json, form, rrweb, posthog or sentry)",
                         (int)(n->len > 32 ? 32 : n->len), n->s);
    return 0;
}

/* An HTTP field name (RFC 9110 token). */
static int route_tenant_header(struct conf_ctx *x, const struct cnode *n,
                               const struct conf_directive *d, void *obj)
{
    struct conf_route *r = obj;
    int ok = n->kind == CNODE_SCALAR && n->len > 0 && n->len <= 64;

    (void)d;
    for (size_t i = 0; ok && i < n->len; i++)
        ok = n->s[i] > 0x20 && n->s[i] < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", n->s[i]) == NULL;
    if (n->kind == CNODE_SCALAR && !conf_is_null(n) && !ok)
        return conf_fail(x, n, "expected an HTTP header name such as X-Scrim-Key");
    r->tenant_from = TENANT_FROM_API_KEY;
    return conf_get_string(x, n, &r->tenant_header);
}

static int route_tenant_fixed(struct conf_ctx *x, const struct cnode *n,
                              const struct conf_directive *d, void *obj)
{
    struct conf_route *r = obj;

    (void)d;
    if (conf_get_name(x, n, "tenant id", &r->tenant_id))
        return -1;
    if (conf_tenant_by_id(x->c, r->tenant_id) == NULL)
        return conf_fail(x, n, "unknown tenant \"%s\" (not defined under tenants)", r->tenant_id);
    r->tenant_from = TENANT_FROM_FIXED;
    return 0;
}

static const struct conf_directive route_tenant_table[] = {
    {.key = "api_key_header", .get = route_tenant_header},
    {.key = "fixed", .get = route_tenant_fixed},
};

static int route_tenant(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                        void *obj)
{
    struct conf_route *r = obj;
    const char *what = "expected api_key, vendor, {api_key_header: NAME} or {fixed: TENANT}";

    (void)d;
    if (n->kind == CNODE_MAP) {
        if (n->n != 1)
            return conf_fail(x, n, "%s: give exactly one of api_key_header or fixed", what);
        return conf_map_apply(x, n, route_tenant_table, CONF_NELEM(route_tenant_table), r);
    }
    if (n->kind == CNODE_SCALAR && strcmp(n->s, "api_key") == 0)
        r->tenant_from = TENANT_FROM_API_KEY;
    else if (n->kind == CNODE_SCALAR && strcmp(n->s, "vendor") == 0)
        r->tenant_from = TENANT_FROM_VENDOR;
    else
        return conf_fail(x, n, "%s", what);
    return 0;
}

static int route_upstream(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                          void *obj)
{
    size_t skip = 0;
    int ok;

    (void)d;
    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (strncmp(n->s, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(n->s, "https://", 8) == 0)
        skip = 8;
    ok = skip > 0 && n->len > skip && n->s[skip] != '/' && n->s[skip] != ':';
    for (size_t i = 0; ok && i < n->len; i++)
        ok = (unsigned char)n->s[i] > 0x20 && n->s[i] != 0x7f;
    if (!ok)
        return conf_fail(x, n, "expected an http:// or https:// URL with a host");
    return conf_get_string(x, n, &((struct conf_route *)obj)->upstream);
}

static const struct conf_directive route_table[] = {
    {.key = "match",
     .get = conf_dir_section,
     .sub = route_match,
     .nsub = CONF_NELEM(route_match),
     .flags = CONF_REQUIRED},
    {.key = "format", .get = route_format, .flags = CONF_REQUIRED},
    {.key = "tenant", .get = route_tenant, .flags = CONF_REQUIRED},
    {.key = "upstream", .get = route_upstream},
    {.key = "forward_client_ip",
     .get = conf_dir_bool,
     .off = CONF_FIELD(struct conf_route, forward_client_ip, int)},
};

static int route_same(const struct conf_route *a, const struct conf_route *b)
{
    if ((a->method == NULL) != (b->method == NULL))
        return 0;
    if (a->method != NULL && strcmp(a->method, b->method) != 0)
        return 0;
    return strcmp(a->path, b->path) == 0;
}

/* The form engine derives pseudonymous journey records, so every tenant a
 * form route can serve needs a pseudonym key; better refused here than a
 * 500 on the first request. */
static int route_check_form(struct conf_ctx *x, const struct cnode *n, const struct conf_route *r)
{
    if (r->format != FORMAT_FORM)
        return 0;
    for (size_t i = 0; i < x->c->ntenants; i++) {
        const struct conf_tenant *t = &x->c->tenants[i];
        int serves = r->tenant_from == TENANT_FROM_FIXED ? strcmp(t->id, r->tenant_id) == 0
                                                         : t->napi_keys > 0;
        if (serves && t->pseudonym_key == NULL)
            return conf_fail_key(x, n, "format",
                                 "format form keeps pseudonymous journey records, and tenant "
                                 "\"%s\" (which this route serves) has no pseudonym_key",
                                 t->id);
    }
    return 0;
}

static int route_check(struct conf_ctx *x, const struct cnode *n, size_t i)
{
    const struct conf_route *r = &x->c->routes[i];

    if (r->tenant_from == TENANT_FROM_VENDOR && r->format != FORMAT_POSTHOG &&
        r->format != FORMAT_SENTRY)
        return conf_fail_key(x, n, "tenant",
                             "tenant: vendor needs format posthog or sentry (the vendor key is "
                             "read from their payloads)");
    for (size_t j = 0; j < i; j++)
        if (route_same(&x->c->routes[j], r))
            return conf_fail_key(x, n, "match",
                                 "duplicate route (same method and path as routes[%zu])", j);
    return route_check_form(x, n, r);
}

int conf_parse_routes(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                      void *obj)
{
    struct config *c = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if ((c->routes = conf_alloc(x, n, n->n, sizeof(*c->routes))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i);
        if (conf_map_apply(x, it, route_table, CONF_NELEM(route_table), &c->routes[i]) ||
            route_check(x, it, i))
            return -1;
        conf_path_restore(x, saved);
        c->nroutes = i + 1;
    }
    return 0;
}
