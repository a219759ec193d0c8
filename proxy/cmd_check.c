/*
 * scrim check: validate a config without starting anything. The keys it
 * names are loaded too (a pseudonym key others can read is an error here,
 * not at the first request), then a short summary is printed.
 */
#include "cmd.h"

#include "crypto/keys.h"
#include "crypto/pseudo.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char check_usage[] = "usage: scrim check -c FILE\n"
                                  "\n"
                                  "Validate FILE and the key files it names; print OK and a\n"
                                  "summary, or every error as file:line:column: what.\n";

static int check_keys(const struct config *c, struct err *err)
{
    for (size_t i = 0; i < c->ntenants; i++) {
        const struct conf_tenant *t = &c->tenants[i];
        struct keys_public pk;
        if (t->pseudonym_key != NULL) {
            struct pseudo_key *k = pseudo_key_load(t->pseudonym_key, err);
            if (k == NULL)
                return -1;
            pseudo_key_free(k);
        }
        for (size_t k = 0; k < t->npublic_keys; k++)
            if (keys_load_public(t->public_keys[k], &pk, err))
                return -1;
    }
    return 0;
}

static void print_policy(const struct policy *p)
{
    printf("  policy %s: %zu detector%s (", p->name, p->npii, p->npii == 1 ? "" : "s");
    for (size_t i = 0; i < p->npii; i++)
        printf("%s%s", i ? ", " : "", pii_set_name(p->pii, (int)i));
    printf("), %zu field rule%s, %zu input allow, %zu text mask, %zu block selector%s, "
           "%zu journey step%s\n",
           p->nfields, p->nfields == 1 ? "" : "s", select_count(p->input_allow),
           select_count(p->text_mask), select_count(p->block),
           select_count(p->block) == 1 ? "" : "s", p->journey.nsteps,
           p->journey.nsteps == 1 ? "" : "s");
}

static void print_summary(const struct config *c)
{
    static const char *const from[] = {"api key", "vendor key", "fixed"};

    printf("%s: OK\n", c->file);
    printf("tenants: %zu\n", c->ntenants);
    for (size_t i = 0; i < c->ntenants; i++)
        printf("  %s: policy %s, %zu api key%s, retention %u days\n", c->tenants[i].id,
               c->tenants[i].policy_name, c->tenants[i].napi_keys,
               c->tenants[i].napi_keys == 1 ? "" : "s", c->tenants[i].retention_days);
    printf("policies: %zu\n", c->npolicies);
    for (size_t i = 0; i < c->npolicies; i++)
        print_policy(&c->policies[i]);
    printf("routes: %zu\n", c->nroutes);
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct conf_route *r = &c->routes[i];
        printf("  %s %s -> %s, tenant by %s, %s\n", r->method ? r->method : "*", r->path,
               format_name(r->format), from[r->tenant_from],
               r->upstream ? r->upstream : "context only");
    }
}

int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *file = NULL;
    struct config *c;
    struct err err;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (ch == 'c') {
            file = optarg;
        } else {
            fputs(check_usage, ch == 'h' ? stdout : stderr);
            return ch == 'h' ? EXIT_OK : EXIT_USAGE;
        }
    }
    if (file == NULL || optind != argc) {
        fputs(check_usage, stderr);
        return EXIT_USAGE;
    }
    err_clear(&err);
    c = cmd_load_config(file, &err);
    if (c == NULL || check_keys(c, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        conf_free(c);
        return EXIT_USAGE;
    }
    print_summary(c);
    conf_free(c);
    return EXIT_OK;
}
