/*
 * gen: one generation of the running configuration, as scrim serve uses
 * it: the parsed config plus what is derived from it (pseudonym keys).
 *
 * A generation is immutable once built and reference-counted: a request
 * holds the generation it started under until it is answered, so SIGHUP
 * can swap in a new one without a lock on the request path and without
 * pulling a policy out from under a payload being masked.
 */
#ifndef SCRIM_GEN_H
#define SCRIM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"

struct gen {
    struct config *conf;
    struct pseudo_key **pkeys; /* per tenant (same index), NULL when none */
    uint64_t number;           /* 1 for the first, +1 per reload */
    int refs;                  /* atomic */
};

/* Read and compile path. NULL with err (file:line:col for config errors). */
struct gen *gen_load(const char *path, uint64_t number, struct err *err);

void gen_ref(struct gen *g);
void gen_unref(struct gen *g); /* frees at zero */

/* The first route that matches method and path (raw, without the query),
 * in file order; NULL: 404. */
const struct conf_route *gen_route(const struct gen *g, const char *method, const char *path,
                                   size_t n);

/* The tenant whose api_keys hold SHA-256(key). Every tenant's every hash
 * is compared in constant time, so timing tells nothing about which
 * prefix matched. NULL: 401. */
const struct conf_tenant *gen_tenant_by_api_key(const struct gen *g, const char *key, size_t n);

/* The tenant with this vendor key (PostHog token, Sentry public key). */
const struct conf_tenant *gen_tenant_by_vendor_key(const struct gen *g, const char *key, size_t n);

size_t gen_tenant_index(const struct gen *g, const struct conf_tenant *t);

#endif
