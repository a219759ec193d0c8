/*
 * fuzz_conf: conf_parse on arbitrary bytes.
 *
 * Beyond "no crash": a failure must carry the file:line:col prefix, a
 * success must be internally consistent (every reference resolved, every
 * detector with its rule), and either way nothing may leak.
 */
#include "common/mem.h"
#include "rules/conf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_policy(const struct policy *p)
{
    if (p->name == NULL || p->pii == NULL || p->npii != pii_set_count(p->pii))
        abort();
    for (size_t i = 0; i < p->npii; i++)
        if (p->pii_rules[i].id == NULL || p->pii_rules[i].detector != (int)i)
            abort();
    for (size_t i = 0; i < p->nfields; i++)
        if (p->fields[i].path == NULL || p->fields[i].id == NULL)
            abort();
}

static void check_config(const struct config *c)
{
    if (c->nlisten == 0 || c->admin == NULL || c->ntenants == 0 || c->npolicies == 0)
        abort();
    for (size_t i = 0; i < c->npolicies; i++)
        check_policy(&c->policies[i]);
    for (size_t i = 0; i < c->ntenants; i++) {
        const struct conf_tenant *t = &c->tenants[i];
        if (conf_tenant_by_id(c, t->id) != t || conf_policy_by_name(c, t->policy_name) != t->policy)
            abort();
        if (policy_uses_action(t->policy, ACTION_HASH) && t->pseudonym_key == NULL)
            abort();
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct conf_route *r = &c->routes[i];
        if (r->path == NULL || r->path[0] != '/')
            abort();
        if (r->tenant_from == TENANT_FROM_FIXED && conf_tenant_by_id(c, r->tenant_id) == NULL)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = mem_live();
    struct config *c;
    struct err err;

    err_clear(&err);
    c = conf_parse("fuzz.yaml", (const char *)data, size, &err);
    if (c == NULL && (!err.set || strncmp(err.msg, "fuzz.yaml:", 10) != 0))
        abort();
    if (c != NULL)
        check_config(c);
    conf_free(c);
    if (mem_live() != live)
        abort();
    return 0;
}
