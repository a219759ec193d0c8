#include "gen.h"

#include "common/mem.h"
#include "proxy/cmd.h"

#include <openssl/sha.h>
#include <sodium.h>
#include <string.h>

struct gen *gen_load(const char *path, uint64_t number, struct err *err)
{
    struct config *c = cmd_load_config(path, err);
    struct gen *g;

    if (c == NULL)
        return NULL;
    g = xcalloc(1, sizeof(*g));
    g->conf = c;
    g->number = number;
    g->refs = 1;
    g->pkeys = xcalloc(c->ntenants ? c->ntenants : 1, sizeof(*g->pkeys));
    for (size_t i = 0; i < c->ntenants; i++) {
        if (c->tenants[i].pseudonym_key == NULL)
            continue;
        g->pkeys[i] = pseudo_key_load(c->tenants[i].pseudonym_key, err);
        if (g->pkeys[i] == NULL) {
            gen_unref(g);
            return NULL;
        }
    }
    return g;
}

void gen_ref(struct gen *g)
{
    __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}

void gen_unref(struct gen *g)
{
    if (g == NULL || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < g->conf->ntenants; i++)
        pseudo_key_free(g->pkeys[i]);
    xfree(g->pkeys);
    conf_free(g->conf);
    xfree(g);
}

static int route_matches(const struct conf_route *r, const char *method, const char *path, size_t n)
{
    size_t plen = strlen(r->path);

    if (r->method != NULL && strcmp(r->method, method) != 0)
        return 0;
    if (plen > 0 && r->path[plen - 1] == '*')
        return n >= plen - 1 && memcmp(path, r->path, plen - 1) == 0;
    return n == plen && memcmp(path, r->path, n) == 0;
}

const struct conf_route *gen_route(const struct gen *g, const char *method, const char *path,
                                   size_t n)
{
    for (size_t i = 0; i < g->conf->nroutes; i++)
        if (route_matches(&g->conf->routes[i], method, path, n))
            return &g->conf->routes[i];
    return NULL;
}

const struct conf_tenant *gen_tenant_by_api_key(const struct gen *g, const char *key, size_t n)
{
    uint8_t h[32];
    const struct conf_tenant *found = NULL;

    SHA256((const unsigned char *)key, n, h);
    for (size_t i = 0; i < g->conf->ntenants; i++) {
        const struct conf_tenant *t = &g->conf->tenants[i];
        for (size_t k = 0; k < t->napi_keys; k++)
            if (sodium_memcmp(h, t->api_key_sha256[k], sizeof(h)) == 0)
                found = t;
    }
    sodium_memzero(h, sizeof(h));
    return found;
}

const struct conf_tenant *gen_tenant_by_vendor_key(const struct gen *g, const char *key, size_t n)
{
    for (size_t i = 0; i < g->conf->ntenants; i++) {
        const struct conf_tenant *t = &g->conf->tenants[i];
        for (size_t k = 0; k < t->nvendor_keys; k++)
            if (strlen(t->vendor_keys[k]) == n && memcmp(t->vendor_keys[k], key, n) == 0)
                return t;
    }
    return NULL;
}

size_t gen_tenant_index(const struct gen *g, const struct conf_tenant *t)
{
    return (size_t)(t - g->conf->tenants);
}
