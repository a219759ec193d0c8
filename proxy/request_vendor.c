/*
 * request_vendor: PostHog and Sentry routes find their tenant from the
 * vendor's own key in the request (project token, DSN public key), mapped
 * to a tenant by vendor_keys in the config. rules/vendor.h reads every
 * place the vendor itself would read and refuses a request whose places
 * disagree, so a request cannot pick its tenant by which key scrim happens
 * to read first.
 */
#include "proxy/server_impl.h"

#include "rules/vendor.h"

#include <string.h>

int vendor_tenant(struct conn *c, const struct http_request *rq, const char *in, size_t n)
{
    const struct http_header *auth = http_request_header(rq, "X-Sentry-Auth");
    char key[VENDOR_KEY_MAX + 1];

    c->tenant = NULL;
    if (vendor_key_find(c->route->format, in, n, rq->query, rq->query ? rq->query_len : 0,
                        auth ? auth->value : NULL, auth ? auth->value_len : 0, key,
                        sizeof(key)) != 0)
        return 401;
    c->tenant = gen_tenant_by_vendor_key(c->gen, key, strlen(key));
    if (c->tenant == NULL)
        return 401;
    return request_rate_ok(c) ? 0 : 429;
}
