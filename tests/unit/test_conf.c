/*
 * test_conf: scrim.yaml loading. The shipped example must load with the
 * values it spells out and the defaults it leaves out; every broken config
 * must fail at the exact file:line:col, in the right path, saying what was
 * expected; nothing may leak either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/mem.h"
#include "rules/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX1 "a2fb8545fcd457204e9fee11be92013aa3240b1b146fe262ba608fdfc159041c"
#define HEX2 "e334451b9fa9d061e6c6ef45e13d882999bb2024a6e1678e2715a9358bf07431"

/* A config that loads; cases below replace or prepend to its parts. */
#define POLICIES "policies:\n  p1: {}\n"
#define TENANTS  "tenants:\n  - id: t1\n    policy: p1\n    api_keys: [{sha256: " HEX1 "}]\n"
#define ROUTES   "routes:\n  - {match: {path: /v1/json}, format: json, tenant: api_key}\n"
#define BASE     POLICIES TENANTS ROUTES

/* examples/scrim.yaml, found from this file's path so the test runs from
 * any directory the build uses. */
static char *read_example(size_t *len)
{
    const char *suffix = "tests/unit/test_conf.c";
    const char *self = __FILE__;
    size_t dlen = strlen(self) - strlen(suffix);
    char path[4096];
    FILE *f;
    char *buf;

    snprintf(path, sizeof(path), "%.*sexamples/scrim.yaml", (int)dlen, self);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    buf = xmalloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static struct config *parse_ok(const char *name, const char *yaml)
{
    struct err err;
    struct config *c;

    err_clear(&err);
    c = conf_parse(name, yaml, strlen(yaml), &err);
    if (c == NULL)
        fail_msg("config did not load: %s", err.msg);
    return c;
}

static void check_example_tenants(const struct config *c)
{
    const struct conf_tenant *acme = conf_tenant_by_id(c, "acme-loans");
    const struct conf_tenant *globex = conf_tenant_by_id(c, "globex-claims");

    assert_int_equal(c->ntenants, 2);
    assert_ptr_equal(acme, &c->tenants[0]);
    assert_ptr_equal(globex, &c->tenants[1]);
    assert_null(conf_tenant_by_id(c, "nobody"));
    assert_string_equal(acme->purpose, "Completion analytics for the personal-loan application");
    assert_string_equal(acme->policy_name, "loan-strict");
    assert_ptr_equal(acme->policy, conf_policy_by_name(c, "loan-strict"));
    assert_ptr_equal(globex->policy, conf_policy_by_name(c, "claims"));
    assert_int_equal(acme->napi_keys, 1);
    assert_int_equal(acme->api_key_sha256[0][0], 0xa2);
    assert_int_equal(acme->api_key_sha256[0][31], 0x1c);
    assert_int_equal(acme->nvendor_keys, 0);
    assert_int_equal(globex->nvendor_keys, 1);
    assert_string_equal(globex->vendor_keys[0], "phc_globexDemoProjectToken");
    assert_int_equal(acme->npublic_keys, 1);
    assert_string_equal(acme->public_keys[0], "examples/keys/acme-loans.pub");
    assert_string_equal(acme->pseudonym_key, "examples/keys/acme-loans.pseudonym");
    assert_int_equal(acme->retention_days, 30);
    assert_int_equal(globex->retention_days, 7);
    assert_int_equal(acme->rate_per_sec, 200);
    assert_int_equal(acme->rate_burst, 400);
    assert_int_equal(globex->rate_per_sec, 0);
}

static void check_example_loan_policy(const struct policy *p)
{
    struct select_attr attrs[] = {{"name", 4, "loan_term", 9}};
    struct select_elem sel = {"SELECT", 6, attrs, 1, NULL};

    assert_string_equal(p->name, "loan-strict");
    assert_int_equal(select_count(p->input_allow), 2);
    assert_true(select_match(p->input_allow, &sel));
    assert_int_equal(p->ninput_allow_types, 2);
    assert_string_equal(p->input_allow_types[1], "checkbox");
    assert_int_equal(select_count(p->text_mask), 2);
    assert_int_equal(select_count(p->block), 2);
    assert_false(p->allow_data_urls);
    assert_int_equal(p->nfields, 3);
    assert_string_equal(p->fields[0].id, "fields.$.user.email");
    assert_string_equal(p->fields[1].expr, "$..password");
    assert_int_equal(p->fields[1].action, ACTION_DROP);
    assert_int_equal(p->fields[2].action, ACTION_MASK);
    assert_int_equal(p->npii, 10);
    assert_int_equal(pii_set_count(p->pii), 10);
    assert_string_equal(p->pii_rules[0].id, "pii.email");
    assert_int_equal(p->pii_rules[0].action, ACTION_HASH);
    assert_int_equal(p->pii_rules[4].action, ACTION_MASK);
    assert_string_equal(p->pii_rules[9].id, "pii.loan-reference");
    assert_string_equal(pii_set_name(p->pii, p->pii_rules[9].detector), "loan_ref");
    assert_int_equal(p->mask_length, 0);
    assert_true(policy_uses_action(p, ACTION_HASH));
    assert_string_equal(p->journey.name, "loan-application");
    assert_int_equal(p->journey.nsteps, 3);
    assert_string_equal(p->journey.steps[1].url, "/apply/payment*");
    assert_string_equal(p->journey.steps[2].event, "review");
    assert_string_equal(p->journey.complete_url, "/apply/done*");
    assert_int_equal(p->journey.abandon_after_ms, 30 * 60 * 1000);
}

static void check_example_claims_policy(const struct policy *p)
{
    assert_string_equal(p->name, "claims");
    assert_null(p->input_allow);
    assert_int_equal(select_count(p->block), 0);
    assert_int_equal(p->nfields, 0);
    assert_int_equal(p->npii, 4);
    assert_int_equal(p->mask_length, 8);
    assert_string_equal(p->pii_rules[3].id, "pii.policy_number");
    assert_false(policy_uses_action(p, ACTION_HASH));
    assert_null(p->journey.steps[0].url);
    assert_string_equal(p->journey.steps[1].event, "documents");
    assert_null(p->journey.complete_url);
    assert_string_equal(p->journey.complete_event, "complete");
    assert_int_equal(p->journey.abandon_after_ms, 20 * 60 * 1000);
}

static void check_example_server(const struct config *c)
{
    assert_string_equal(c->file, "examples/scrim.yaml");
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0].addr, "127.0.0.1:8080");
    assert_null(c->listen[0].tls_cert);
    assert_string_equal(c->admin, "127.0.0.1:9090");
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->limits.body_max, 5 << 20);
    assert_int_equal(c->limits.decompressed_max, 50 << 20);
    assert_int_equal(c->limits.json_nodes, 1000000);
    assert_int_equal(c->limits.header_max, 16 << 10);
    assert_int_equal(c->limits.header_timeout_ms, 10000);
    assert_int_equal(c->limits.regex_match_limit, 100000);
    assert_int_equal(c->limits.total_entries, 5000000);
    assert_string_equal(c->storage.dir, "examples/../var/store");
    assert_int_equal(c->storage.segment_max_bytes, 64 << 20);
    assert_int_equal(c->storage.segment_max_age_s, 3600);
    assert_int_equal(c->storage.commit_interval_ms, 0);
    assert_string_equal(c->audit.dir, "examples/../var/audit");
    assert_null(c->audit.signing_key);
    assert_null(c->audit.origin);
    assert_int_equal(c->audit.checkpoint_entries, 1000);
    assert_int_equal(c->audit.checkpoint_seconds, 60);
    assert_string_equal(c->spool.dir, "examples/../var/spool");
    assert_int_equal(c->spool.max_bytes, (uint64_t)256 << 20);
    assert_int_equal(c->limits.drain_timeout_ms, 30000);
    assert_int_equal(c->limits.upstream_retries, 1);
}

static void check_example_routes(const struct config *c)
{
    assert_int_equal(c->nroutes, 4);
    assert_string_equal(c->routes[0].method, "POST");
    assert_string_equal(c->routes[0].path, "/v1/form");
    assert_int_equal(c->routes[0].format, FORMAT_FORM);
    assert_int_equal(c->routes[0].tenant_from, TENANT_FROM_API_KEY);
    assert_null(c->routes[0].tenant_header);
    assert_int_equal(c->routes[1].format, FORMAT_JSON);
    assert_string_equal(c->routes[2].path, "/v1/rrweb*");
    assert_int_equal(c->routes[2].format, FORMAT_RRWEB);
    assert_string_equal(c->routes[2].upstream, "http://127.0.0.1:8081/rrweb");
    assert_false(c->routes[2].forward_client_ip);
    assert_null(c->routes[0].upstream);
    assert_int_equal(c->routes[3].format, FORMAT_POSTHOG);
    assert_int_equal(c->routes[3].tenant_from, TENANT_FROM_VENDOR);
}

static void test_example(void **state)
{
    size_t len;
    char *yaml = read_example(&len);
    struct err err;
    struct config *c;

    (void)state;
    err_clear(&err);
    c = conf_parse("examples/scrim.yaml", yaml, len, &err);
    xfree(yaml);
    if (c == NULL)
        fail_msg("examples/scrim.yaml: %s", err.msg);
    assert_int_equal(c->npolicies, 2);
    assert_ptr_equal(conf_policy_by_name(c, "claims"), &c->policies[1]);
    assert_null(conf_policy_by_name(c, "nope"));
    check_example_server(c);
    check_example_tenants(c);
    check_example_loan_policy(&c->policies[0]);
    check_example_claims_policy(&c->policies[1]);
    check_example_routes(c);
    conf_free(c);
}

/* Every built-in detector, redacted, when a policy lists none. */
static void test_defaults(void **state)
{
    struct config *c = parse_ok("scrim.yaml", BASE);
    const struct policy *p = &c->policies[0];
    size_t nbuiltin;
    const char *const *names = pii_builtin_names(&nbuiltin);

    (void)state;
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0].addr, "127.0.0.1:8080");
    assert_string_equal(c->admin, "127.0.0.1:9090");
    assert_int_equal(c->limits.body_max, 5 << 20);
    assert_int_equal(c->limits.max_connections_per_ip, 256);
    assert_null(c->storage.dir);
    assert_null(c->audit.dir);
    assert_int_equal(c->tenants[0].retention_days, 30);
    assert_null(c->tenants[0].pseudonym_key);
    assert_null(c->routes[0].method);
    assert_int_equal(p->npii, nbuiltin);
    assert_true(nbuiltin >= 9);
    for (size_t i = 0; i < nbuiltin; i++) {
        char id[64];
        snprintf(id, sizeof(id), "pii.%s", names[i]);
        assert_string_equal(p->pii_rules[i].id, id);
        assert_int_equal(p->pii_rules[i].action, ACTION_REDACT);
        assert_string_equal(pii_set_name(p->pii, p->pii_rules[i].detector), names[i]);
    }
    assert_int_equal(p->journey.abandon_after_ms, 30 * 60 * 1000);
    assert_null(p->journey.name);
    conf_free(c);

    /* A pii section without a detectors list is the same fail-safe set. */
    c = parse_ok("scrim.yaml", "policies:\n  p1: {pii: {mask_length: 4}}\n" TENANTS ROUTES);
    assert_int_equal(c->policies[0].npii, nbuiltin);
    assert_int_equal(c->policies[0].mask_length, 4);
    conf_free(c);

    /* An explicit empty list is the one way to scan nothing. */
    c = parse_ok("scrim.yaml", "policies:\n  p1: {pii: {detectors: []}}\n" TENANTS ROUTES);
    assert_int_equal(c->policies[0].npii, 0);
    assert_int_equal(pii_set_count(c->policies[0].pii), 0);
    conf_free(c);
}

static void test_relative_paths(void **state)
{
    static const char yaml[] = "storage:\n  dir: store\n"
                               "audit: {dir: /var/audit, signing_key: k/audit.key}\n"
                               "spool: {dir: ./spool}\n" POLICIES
                               "tenants:\n  - {id: t1, policy: p1, public_keys: [a.pub, /k/b.pub], "
                               "pseudonym_key: ../p.key}\n" ROUTES;
    struct config *c;

    (void)state;
    c = parse_ok("/etc/scrim/scrim.yaml", yaml);
    assert_string_equal(c->storage.dir, "/etc/scrim/store");
    assert_string_equal(c->audit.dir, "/var/audit");
    assert_string_equal(c->audit.signing_key, "/etc/scrim/k/audit.key");
    assert_string_equal(c->spool.dir, "/etc/scrim/./spool");
    assert_string_equal(c->tenants[0].public_keys[0], "/etc/scrim/a.pub");
    assert_string_equal(c->tenants[0].public_keys[1], "/k/b.pub");
    assert_string_equal(c->tenants[0].pseudonym_key, "/etc/scrim/../p.key");
    conf_free(c);

    c = parse_ok("scrim.yaml", yaml);
    assert_string_equal(c->storage.dir, "store");
    assert_string_equal(c->tenants[0].pseudonym_key, "../p.key");
    conf_free(c);

    c = parse_ok("/scrim.yaml", yaml);
    assert_string_equal(c->storage.dir, "/store");
    conf_free(c);
}

static void check_values_server(const struct config *c)
{
    assert_int_equal(c->nlisten, 2);
    assert_string_equal(c->listen[0].tls_cert, "c.pem");
    assert_string_equal(c->listen[1].addr, "[::1]:8080");
    assert_string_equal(c->admin, "localhost:9999");
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->limits.header_max, 32 << 10);
    assert_int_equal(c->limits.body_max, 1 << 20);
    assert_int_equal(c->limits.decompressed_max, (uint64_t)2 << 30);
    assert_int_equal(c->limits.inflight_max, (uint64_t)1 << 40);
    assert_int_equal(c->limits.header_timeout_ms, 500);
    assert_int_equal(c->limits.body_timeout_ms, 10000);
    assert_int_equal(c->limits.idle_timeout_ms, 120000);
    assert_int_equal(c->limits.regex_depth_limit, 500);
    assert_int_equal(c->storage.segment_max_bytes, (uint64_t)1 << 30);
    assert_int_equal(c->storage.segment_max_age_s, 7200);
    assert_int_equal(c->storage.commit_interval_ms, 0);
    assert_string_equal(c->audit.origin, "example.com/scrim");
    assert_int_equal(c->audit.checkpoint_seconds, 30);
    assert_int_equal(c->spool.max_bytes, (uint64_t)10 << 30);
}

static void check_values_rules(const struct config *c)
{
    const struct policy *p = &c->policies[0];

    assert_string_equal(p->input_allow_types[0], "radio");
    assert_true(p->allow_data_urls);
    assert_string_equal(p->fields[0].id, "custom-id");
    assert_int_equal(p->fields[0].action, ACTION_KEEP);
    assert_string_equal(p->pii_rules[0].id, "my-email");
    assert_int_equal(p->pii_rules[0].action, ACTION_DROP);
    assert_int_equal(p->pii_rules[1].action, ACTION_REDACT);
    assert_int_equal(p->pii_rules[2].action, ACTION_KEEP); /* report-only */
    assert_int_equal(p->journey.abandon_after_ms, 2 * 3600 * 1000);
    assert_int_equal(c->tenants[0].rate_burst, 5);
    assert_int_equal(c->tenants[0].retention_days, 3650);
    assert_string_equal(c->routes[0].method, "POST");
    assert_string_equal(c->routes[0].tenant_header, "X-Scrim-Key");
    assert_int_equal(c->routes[0].tenant_from, TENANT_FROM_API_KEY);
    assert_true(c->routes[0].forward_client_ip);
    assert_int_equal(c->routes[1].tenant_from, TENANT_FROM_FIXED);
    assert_string_equal(c->routes[1].tenant_id, "T_2.x");
    assert_string_equal(c->routes[1].upstream, "http://127.0.0.1:9000");
    assert_int_equal(c->routes[2].tenant_from, TENANT_FROM_VENDOR);
}

static void test_values(void **state)
{
    static const char yaml[] =
        "listen:\n"
        "  - addr: 0.0.0.0:8443\n"
        "    tls: {cert: c.pem, key: k.pem}\n"
        "  - addr: '[::1]:8080'\n"
        "admin: localhost:9999\n"
        "workers: 4\n"
        "limits:\n"
        "  header_max: 32KiB\n"
        "  body_max: 1048576\n"
        "  decompressed_max: 2 GiB\n"
        "  inflight_max: 1TiB\n"
        "  header_timeout: 500ms\n"
        "  body_timeout: 10s\n"
        "  idle_timeout: 2m\n"
        "  regex_depth_limit: 500\n"
        "storage: {dir: s, segment_max_bytes: 1GiB, segment_max_age: 2h, commit_interval: 0ms}\n"
        "audit: {dir: a, origin: example.com/scrim, checkpoint_seconds: 30}\n"
        "spool: {dir: sp, max_bytes: 10GiB}\n"
        "policies:\n"
        "  p1:\n"
        "    inputs: {allow_types: [RADIO, date]}\n"
        "    allow_data_urls: true\n"
        "    fields:\n"
        "      - {path: \"$['a b'].c\", action: keep, id: custom-id}\n"
        "    pii:\n"
        "      detectors:\n"
        "        - {name: email, action: drop, id: my-email}\n"
        "        - {name: ref, pattern: 'R[0-9]{4}', validator: mod97, context: [ref],\n"
        "           context_window: 32}\n"
        "        - {name: ipv4, action: keep}\n"
        "    journey:\n"
        "      name: j\n"
        "      steps: [{name: s1, url: '*'}]\n"
        "      abandon_after: 2h\n"
        "tenants:\n"
        "  - {id: t1, policy: p1, public_keys: [t1.pub], pseudonym_key: t1.key,\n"
        "     rate: {per_second: 5}, retention_days: 3650}\n"
        "  - {id: T_2.x, policy: p1, public_keys: [t2.pub], pseudonym_key: t2.key}\n"
        "routes:\n"
        "  - match: {method: post, path: /a}\n"
        "    format: sentry\n"
        "    tenant: {api_key_header: X-Scrim-Key}\n"
        "    upstream: https://o1.ingest.sentry.io/api/1/envelope/\n"
        "    forward_client_ip: true\n"
        "  - {match: {path: /b*}, format: rrweb, tenant: {fixed: T_2.x}, "
        "upstream: 'http://127.0.0.1:9000'}\n"
        "  - {match: {method: GET, path: /a}, format: sentry, tenant: vendor}\n";
    struct config *c = parse_ok("scrim.yaml", yaml);

    (void)state;
    check_values_server(c);
    check_values_rules(c);
    conf_free(c);
}

static void test_names(void **state)
{
    enum format f;
    enum action a;

    (void)state;
    assert_string_equal(format_name(FORMAT_POSTHOG), "posthog");
    assert_int_equal(format_parse("sentry", &f), 0);
    assert_int_equal(f, FORMAT_SENTRY);
    assert_int_equal(format_parse("JSON", &f), -1);
    assert_string_equal(action_name(ACTION_HASH), "hash");
    assert_int_equal(action_parse("drop", &a), 0);
    assert_int_equal(a, ACTION_DROP);
    assert_int_equal(action_parse("Drop", &a), -1);
}

struct broken {
    const char *yaml;
    const char *where; /* the exact prefix: "t.yaml:L:C: in \"path\": " */
    const char *what;  /* a fragment of the rest */
};

/* clang-format off */
static const struct broken broken[] = {
    /* YAML itself */
    {"", "t.yaml:1:1: ", "the configuration is empty"},
    {"# only a comment\n", "t.yaml:1:1: ", "the configuration is empty"},
    {"- a\n", "t.yaml:1:1: ", "expected a mapping at the top level, got a sequence"},
    {"a: b: c\n", "t.yaml:1:5: ", "YAML syntax error: mapping values are not allowed"},
    {"workers: [1,\n", "t.yaml:2:1: ", "YAML syntax error: did not find expected node content"},
    {"x: &a 1\n", "t.yaml:1:4: in \"x\": ", "YAML anchors (&) are not supported"},
    {"workers: *a\n", "t.yaml:1:10: in \"workers\": ", "YAML aliases (*) are not supported"},
    {"limits:\n  json_depth: !!int 4\n", "t.yaml:2:15: in \"limits.json_depth\": ", "YAML tags"},
    {"%TAG ! tag:x.org,2000:\n---\na: 1\n", "t.yaml:1:1: ", "%TAG directives"},
    {BASE "---\nfoo: 1\n", "t.yaml:9:1: ", "more than one YAML document"},
    {"workers: 1\nworkers: 2\n" BASE, "t.yaml:2:1: in \"workers\": ",
     "duplicate key \"workers\" (first at line 1, column 1)"},
    {"limits:\n  body_max: 1MiB\n  body_max: 2MiB\n", "t.yaml:3:3: in \"limits.body_max\": ",
     "duplicate key"},
    {"workers: \"\\0\"\n", "t.yaml:1:10: in \"workers\": ", "NUL characters"},
    {"a: \xff\n", "t.yaml:1:4: ", "invalid input"},
    {"a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "t.yaml:1:35: ",
     "nested deeper than the YAML depth limit"},
    {"? [a]\n: b\n", "t.yaml:1:3: ", "mapping keys must be strings, not a sequence"},
    /* structure and types */
    {"lmits: 1\n" BASE, "t.yaml:1:1: ", "unknown key \"lmits\" (expected one of: listen, admin"},
    {"limits:\n  body_maxx: 5MiB\n" BASE, "t.yaml:2:3: in \"limits\": ", "unknown key \"body_maxx\""},
    {POLICIES ROUTES, "t.yaml:1:1: ", "missing required key \"tenants\""},
    {TENANTS ROUTES, "t.yaml:1:1: ", "missing required key \"policies\""},
    {"limits: 5\n" BASE, "t.yaml:1:9: in \"limits\": ", "expected a mapping, got a scalar"},
    {"limits:\n" BASE, "t.yaml:1:8: in \"limits\": ", "expected a mapping, got null"},
    {"limits:\n  json_depth: [1]\n" BASE, "t.yaml:2:15: in \"limits.json_depth\": ",
     "expected an integer, got a sequence"},
    {"workers: \"4\"\n" BASE, "t.yaml:1:10: in \"workers\": ", "expected an integer, got a quoted string"},
    {"workers: 5000\n" BASE, "t.yaml:1:10: in \"workers\": ", "from 0 to 1024"},
    {"workers: -1\n" BASE, "t.yaml:1:10: in \"workers\": ", "from 0 to 1024"},
    {"workers: 0x10\n" BASE, "t.yaml:1:10: in \"workers\": ", "from 0 to 1024"},
    {"workers: 010\n" BASE, "t.yaml:1:10: in \"workers\": ", "leading zeros"},
    {"workers: 99999999999999999999999\n" BASE, "t.yaml:1:10: in \"workers\": ", "from 0 to 1024"},
    {"limits:\n  body_max: 5MB\n" BASE, "t.yaml:2:13: in \"limits.body_max\": ",
     "ambiguous unit \"MB\" (use B, KiB, MiB, GiB or TiB)"},
    {"limits:\n  body_max: 5 parsecs\n" BASE, "t.yaml:2:13: in \"limits.body_max\": ",
     "expected a size such as"},
    {"limits:\n  body_max: MiB\n" BASE, "t.yaml:2:13: in \"limits.body_max\": ", "expected a size"},
    {"limits:\n  body_max: 2GiB\n" BASE, "t.yaml:2:13: in \"limits.body_max\": ",
     "size out of range (expected 1KiB to 1GiB)"},
    {"limits:\n  inflight_max: 99999999999TiB\n" BASE, "t.yaml:2:17: in \"limits.inflight_max\": ",
     "too large"},
    {"limits:\n  header_timeout: 10\n" BASE, "t.yaml:2:19: in \"limits.header_timeout\": ",
     "a unit is required"},
    {"limits:\n  idle_timeout: 2d\n" BASE, "t.yaml:2:17: in \"limits.idle_timeout\": ",
     "expected a duration such as 500ms"},
    {"limits:\n  header_timeout: 2h\n" BASE, "t.yaml:2:19: in \"limits.header_timeout\": ",
     "duration out of range (expected 100ms to 1h)"},
    {"limits:\n  session_entries: 10\n  total_entries: 5\n" BASE,
     "t.yaml:2:20: in \"limits.session_entries\": ", "larger than total_entries"},
    {"storage: {dir: s, segment_max_age: 1500ms}\n" BASE,
     "t.yaml:1:36: in \"storage.segment_max_age\": ", "whole seconds"},
    {"storage: {segment_max_bytes: 1GiB}\n" BASE, "t.yaml:1:10: in \"storage\": ",
     "missing required key \"dir\""},
    {"audit: {dir: a, origin: 'a b'}\n" BASE, "t.yaml:1:25: in \"audit.origin\": ",
     "checkpoint origin"},
    {"listen:\n  - addr: localhost\n" BASE, "t.yaml:2:11: in \"listen[0].addr\": ", "expected host:port"},
    {"listen:\n  - addr: a:1\n    tls: {cert: c}\n" BASE, "t.yaml:3:10: in \"listen[0].tls\": ",
     "missing required key \"key\""},
    {"listen: []\n" BASE, "t.yaml:1:9: in \"listen\": ", "at least one listener"},
    {"admin: 1.2.3.4:70000\n" BASE, "t.yaml:1:8: in \"admin\": ", "expected host:port"},
    {"limits:\n  body_max: 05MiB\n" BASE, "t.yaml:2:13: in \"limits.body_max\": ", "leading zeros"},
    {"limits:\n  max_connections: 10\n" BASE, "t.yaml:2:20: in \"limits.max_connections\": ",
     "max_connections_per_ip (256) is larger than max_connections (10)"},
    {"listen:\n  - addr: a:1\n  - addr: a:1\n" BASE, "t.yaml:3:11: in \"listen[1].addr\": ",
     "address already used by listen[0]"},
    {"a: 1\nb: \xff\n", "t.yaml:2:4: ", "invalid input"},
    /* policies */
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - name: ref\n          pattern: 'LN-[0-9'\n"
     TENANTS ROUTES, "t.yaml:6:27: in \"policies.p1.pii.detectors[0].pattern\": ", "bad pattern"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - name: ref\n          pattern: a(b\n"
     TENANTS ROUTES, "t.yaml:6:22: in \"policies.p1.pii.detectors[0].pattern\": ", "bad pattern"},
    {"policies:\n  p1:\n    text:\n      - \"a > b\"\n" TENANTS ROUTES,
     "t.yaml:4:12: in \"policies.p1.text[0]\": ", "bad selector: combinator '>'"},
    {"policies:\n  p1:\n    block:\n      - .ok\n      - .a:hover\n" TENANTS ROUTES,
     "t.yaml:5:11: in \"policies.p1.block[1]\": ", "bad selector: pseudo-classes"},
    {"policies:\n  p1:\n    inputs: {allow: [\"[a|=b]\"]}\n" TENANTS ROUTES,
     "t.yaml:3:25: in \"policies.p1.inputs.allow[0]\": ", "operator '|='"},
    {"policies:\n  p1:\n    text: \".a\"\n" TENANTS ROUTES, "t.yaml:3:11: in \"policies.p1.text\": ",
     "expected a sequence, got a quoted string"},
    {"policies:\n  p1:\n    fields:\n      - path: $.a[\n        action: mask\n" TENANTS ROUTES,
     "t.yaml:4:18: in \"policies.p1.fields[0].path\": ", "bad path"},
    {"policies:\n  p1:\n    fields:\n      - path: a.b\n        action: mask\n" TENANTS ROUTES,
     "t.yaml:4:15: in \"policies.p1.fields[0].path\": ", "bad path"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - name: emial\n" TENANTS ROUTES,
     "t.yaml:5:17: in \"policies.p1.pii.detectors[0].name\": ",
     "unknown detector \"emial\" (built-in: email, "},
    {"policies:\n  p1:\n    fields:\n      - path: $.a\n        action: obliterate\n" TENANTS ROUTES,
     "t.yaml:5:17: in \"policies.p1.fields[0].action\": ",
     "unknown action \"obliterate\" (expected keep, mask, redact, hash or drop)"},
    {"policies:\n  p1:\n    fields:\n      - path: $.a\n" TENANTS ROUTES,
     "t.yaml:4:9: in \"policies.p1.fields[0]\": ", "missing required key \"action\""},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - {name: email, action: wipe}\n"
     TENANTS ROUTES, "t.yaml:5:33: in \"policies.p1.pii.detectors[0].action\": ",
     "unknown action \"wipe\""},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - {name: email, pattern: x}\n"
     TENANTS ROUTES, "t.yaml:5:18: in \"policies.p1.pii.detectors[0].name\": ",
     "\"email\" is a built-in detector"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - {name: email, validator: luhn}\n"
     TENANTS ROUTES, "t.yaml:5:36: in \"policies.p1.pii.detectors[0].validator\": ",
     "applies only to custom detectors"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - {name: x, pattern: x, validator: crc}\n"
     TENANTS ROUTES, "t.yaml:5:44: in \"policies.p1.pii.detectors[0].validator\": ",
     "unknown validator"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - {name: card}\n        - {name: card}\n"
     TENANTS ROUTES, "t.yaml:6:18: in \"policies.p1.pii.detectors[1].name\": ",
     "detector \"card\" is listed twice"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - {name: X Y, pattern: x}\n"
     TENANTS ROUTES, "t.yaml:5:18: in \"policies.p1.pii.detectors[0].name\": ",
     "expected a detector name"},
    {"policies:\n  p1:\n    fields:\n      - {path: $.a, action: mask}\n"
     "      - {path: $.a, action: drop}\n" TENANTS ROUTES,
     "t.yaml:5:16: in \"policies.p1.fields[1].path\": ", "rule id \"fields.$.a\" is already used"},
    {"policies:\n  p1:\n    fields:\n      - {path: $.a, action: mask, id: pii.email}\n"
     "    pii: {detectors: [{name: email}]}\n" TENANTS ROUTES,
     "t.yaml:5:30: in \"policies.p1.pii.detectors[0].name\": ", "rule id \"pii.email\" is already used"},
    /* a structural rule's id would merge two rules' counts in the audit */
    {"policies:\n  p1:\n    fields:\n      - {path: $.a, action: mask, id: inputs.default}\n"
     TENANTS ROUTES,
     "t.yaml:4:39: in \"policies.p1.fields[0].id\": ", "rule id \"inputs.default\" is already used"},
    {"policies:\n  p1:\n    pii: {detectors: [{name: email, id: keys.clash}]}\n" TENANTS ROUTES,
     "t.yaml:3:41: in \"policies.p1.pii.detectors[0].id\": ", "rule id \"keys.clash\" is already used"},
    {"policies:\n  p1:\n    inputs: {allow_types: [radio, password]}\n" TENANTS ROUTES,
     "t.yaml:3:35: in \"policies.p1.inputs.allow_types[1]\": ", "password inputs are always masked"},
    {"policies:\n  p1:\n    inputs: {allow_types: [radioo]}\n" TENANTS ROUTES,
     "t.yaml:3:28: in \"policies.p1.inputs.allow_types[0]\": ", "unknown input type"},
    {"policies:\n  p1:\n    allow_data_urls: yes\n" TENANTS ROUTES,
     "t.yaml:3:22: in \"policies.p1.allow_data_urls\": ", "expected true or false"},
    {"policies:\n  p1:\n    pii: {mask_length: 1000}\n" TENANTS ROUTES,
     "t.yaml:3:24: in \"policies.p1.pii.mask_length\": ", "from 0 to 256"},
    {"policies:\n  p1:\n    journey: {steps: [{name: a, url: /a}]}\n" TENANTS ROUTES,
     "t.yaml:3:14: in \"policies.p1.journey\": ", "missing required key \"name\""},
    {"policies:\n  p1:\n    journey: {name: j, steps: [{name: a}]}\n" TENANTS ROUTES,
     "t.yaml:3:32: in \"policies.p1.journey.steps[0]\": ", "a step needs url, event or both"},
    {"policies:\n  p1:\n    journey: {name: j, steps: [{name: a, url: a}]}\n" TENANTS ROUTES,
     "t.yaml:3:47: in \"policies.p1.journey.steps[0].url\": ", "starting with '/' or '*'"},
    {"policies:\n  p1:\n    journey: {name: j, steps: [{name: a, event: e}], abandon_after: 0s}\n"
     TENANTS ROUTES, "t.yaml:3:69: in \"policies.p1.journey.abandon_after\": ",
     "duration out of range (expected 1s to 168h)"},
    {"policies:\n  p1:\n    journey: {name: j, steps: []}\n" TENANTS ROUTES,
     "t.yaml:3:31: in \"policies.p1.journey.steps\": ", "at least one step"},
    {"policies:\n  p1:\n    journey: {name: j, steps: [{name: a, event: a}, {name: a, event: b}]}\n"
     TENANTS ROUTES, "t.yaml:3:60: in \"policies.p1.journey.steps[1].name\": ",
     "duplicate step name \"a\""},
    {"policies:\n  p1:\n    journey: {name: j, steps: [{name: a, event: a}], complete: {}}\n"
     TENANTS ROUTES, "t.yaml:3:64: in \"policies.p1.journey.complete\": ",
     "complete needs url, event or both"},
    {"policies:\n  p1:\n    fields: [{path: $.a, action: mask, id: \"a\\tb\"}]\n" TENANTS ROUTES,
     "t.yaml:3:44: in \"policies.p1.fields[0].id\": ", "expected a rule id"},
    {"policies:\n  p1:\n    pii:\n      detectors:\n        - name: x\n          pattern: |\n"
     "            a(b\n" TENANTS ROUTES,
     "t.yaml:6:20: in \"policies.p1.pii.detectors[0].pattern\": ", "bad pattern"},
    {"policies:\n  p/1: {}\n" TENANTS ROUTES, "t.yaml:2:3: in \"policies.p/1\": ",
     "expected policy name"},
    {"policies: {}\n" TENANTS ROUTES, "t.yaml:1:11: in \"policies\": ", "at least one policy"},
    /* tenants */
    {POLICIES "tenants:\n  - id: t1\n    policy: nope\n" ROUTES, "t.yaml:5:13: in \"tenants[0].policy\": ",
     "unknown policy \"nope\""},
    {POLICIES "tenants:\n  - id: t1\n    policy: p1\n  - id: t1\n    policy: p1\n" ROUTES,
     "t.yaml:6:9: in \"tenants[1].id\": ", "duplicate tenant id \"t1\" (also tenants[0])"},
    {POLICIES "tenants:\n  - id: ../t1\n    policy: p1\n" ROUTES, "t.yaml:4:9: in \"tenants[0].id\": ",
     "expected tenant id"},
    {POLICIES TENANTS "  - id: t2\n    policy: p1\n    api_keys: [{sha256: " HEX1 "}]\n" ROUTES,
     "t.yaml:9:25: in \"tenants[1].api_keys[0].sha256\": ",
     "duplicate API key hash (also tenants[0].api_keys[0])"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, api_keys: [{sha256: " HEX2 "}, {sha256: " HEX2 "}]}\n"
     ROUTES, "t.yaml:4:122: in \"tenants[0].api_keys[1].sha256\": ", "duplicate API key hash"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, api_keys: [{sha256: abc}]}\n" ROUTES,
     "t.yaml:4:46: in \"tenants[0].api_keys[0].sha256\": ", "expected 64 hexadecimal digits"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, api_keys: [{sha: " HEX1 "}]}\n" ROUTES,
     "t.yaml:4:38: in \"tenants[0].api_keys[0]\": ", "unknown key \"sha\""},
    {POLICIES "tenants:\n  - id: t1\n    policy: p1\n    vendor_keys: [k1]\n"
     "  - id: t2\n    policy: p1\n    vendor_keys: [k2, k1]\n" ROUTES,
     "t.yaml:9:23: in \"tenants[1].vendor_keys[1]\": ", "duplicate vendor key (also tenants[0].vendor_keys[0])"},
    {"policies:\n  p1:\n    fields:\n      - path: $.a\n        action: hash\n"
     "tenants:\n  - id: t1\n    policy: p1\n" ROUTES, "t.yaml:8:13: in \"tenants[0].policy\": ",
     "policy \"p1\" uses the hash action, and the tenant has no pseudonym_key"},
    {"policies:\n  p1:\n    pii: {detectors: [{name: email, action: hash}]}\n"
     "tenants:\n  - id: t1\n    policy: p1\n" ROUTES, "t.yaml:6:13: in \"tenants[0].policy\": ",
     "uses the hash action"},
    {"storage: {dir: s}\n" BASE, "t.yaml:5:5: in \"tenants[0]\": ",
     "missing required key \"public_keys\" (storage is enabled"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, rate: {per_second: 10, burst: 5}}\n" ROUTES,
     "t.yaml:4:56: in \"tenants[0].rate.burst\": ", "burst (5) is smaller than per_second (10)"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, public_keys: []}\n" ROUTES,
     "t.yaml:4:39: in \"tenants[0].public_keys\": ", "at least one public key"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, retention_days: 0}\n" ROUTES,
     "t.yaml:4:42: in \"tenants[0].retention_days\": ", "from 1 to 3650"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, vendor_keys: [a b]}\n" ROUTES,
     "t.yaml:4:40: in \"tenants[0].vendor_keys[0]\": ", "no spaces"},
    {POLICIES "tenants: []\n" ROUTES, "t.yaml:3:10: in \"tenants\": ", "at least one tenant"},
    {POLICIES "tenants:\n  - {id: t1, policy: p1, purpose: \"\"}\n" ROUTES,
     "t.yaml:4:35: in \"tenants[0].purpose\": ", "expected a non-empty string"},
    /* routes */
    {POLICIES TENANTS "routes:\n  - match: {path: /v1/json}\n    format: jsonl\n    tenant: api_key\n",
     "t.yaml:9:13: in \"routes[0].format\": ", "unknown format \"jsonl\""},
    {POLICIES TENANTS "routes:\n  - match: {path: /v1/json}\n    format: json\n    tenant: {fixed: t9}\n",
     "t.yaml:10:21: in \"routes[0].tenant.fixed\": ", "unknown tenant \"t9\""},
    {POLICIES TENANTS "routes:\n  - match: {path: /a}\n    format: json\n    tenant: {fixed: t1, api_key_header: X}\n",
     "t.yaml:10:13: in \"routes[0].tenant\": ", "give exactly one of"},
    {POLICIES TENANTS "routes:\n  - match: {path: /a}\n    format: json\n"
     "    tenant: {api_key_header: \"X Key\"}\n",
     "t.yaml:10:30: in \"routes[0].tenant.api_key_header\": ", "HTTP header name"},
    {POLICIES TENANTS "routes:\n  - match: {path: /a}\n    format: json\n    tenant: cookie\n",
     "t.yaml:10:13: in \"routes[0].tenant\": ", "expected api_key, vendor"},
    {POLICIES TENANTS "routes:\n  - match: {path: /a}\n    format: json\n    tenant: vendor\n",
     "t.yaml:10:13: in \"routes[0].tenant\": ", "tenant: vendor needs format posthog or sentry"},
    {POLICIES TENANTS "routes:\n  - match: {path: /a}\n    format: form\n    tenant: api_key\n",
     "t.yaml:9:13: in \"routes[0].format\": ", "tenant \"t1\" (which this route serves) has no pseudonym_key"},
    {POLICIES TENANTS "routes:\n  - {match: {path: /a}, format: json, tenant: api_key}\n"
     "  - {match: {path: /a}, format: rrweb, tenant: api_key}\n",
     "t.yaml:9:13: in \"routes[1].match\": ", "duplicate route (same method and path as routes[0])"},
    {POLICIES TENANTS "routes:\n  - {match: {path: a/b}, format: json, tenant: api_key}\n",
     "t.yaml:8:20: in \"routes[0].match.path\": ", "starting with '/'"},
    {POLICIES TENANTS "routes:\n  - {match: {path: /a*b}, format: json, tenant: api_key}\n",
     "t.yaml:8:20: in \"routes[0].match.path\": ", "'*' only at the end"},
    {POLICIES TENANTS "routes:\n  - {match: {method: P0ST, path: /a}, format: json, tenant: api_key}\n",
     "t.yaml:8:22: in \"routes[0].match.method\": ", "HTTP method"},
    {POLICIES TENANTS "routes:\n  - {match: {path: /a}, format: json, tenant: api_key, upstream: ftp://x}\n",
     "t.yaml:8:66: in \"routes[0].upstream\": ", "http:// or https://"},
    {POLICIES TENANTS "routes:\n  - {match: {path: /a}, format: json, tenant: api_key, forward_client_ip: 1}\n",
     "t.yaml:8:75: in \"routes[0].forward_client_ip\": ", "expected true or false"},
    {POLICIES TENANTS "routes:\n  - {format: json, tenant: api_key}\n", "t.yaml:8:5: in \"routes[0]\": ",
     "missing required key \"match\""},
};
/* clang-format on */

static void test_broken(void **state)
{
    int bad = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        const struct broken *b = &broken[i];
        long live = mem_live();
        struct config *c;
        struct err err;

        err_clear(&err);
        c = conf_parse("t.yaml", b->yaml, strlen(b->yaml), &err);
        if (c != NULL) {
            print_error("case %zu loaded but should fail with %s%s\n", i, b->where, b->what);
            conf_free(c);
            bad++;
        } else if (strncmp(err.msg, b->where, strlen(b->where)) != 0 ||
                   strstr(err.msg + strlen(b->where), b->what) == NULL) {
            print_error("case %zu:\n got  %s\n want %s...%s\n", i, err.msg, b->where, b->what);
            bad++;
        }
        if (mem_live() != live) {
            print_error("case %zu leaked %ld allocations\n", i, mem_live() - live);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Bytes that are not a config at all must fail cleanly, not crash. */
static void test_garbage(void **state)
{
    static const char *const junk[] = {
        "\x00\x01\x02", "{",    "[", "\"", "'", ":", "- - -", "---\n...\n",
        "\xef\xbb\xbf", "\t\t", "!"};
    (void)state;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct err err;
        size_t len = i == 0 ? 3 : strlen(junk[i]);
        err_clear(&err);
        assert_null(conf_parse("g.yaml", junk[i], len, &err));
        assert_int_equal(strncmp(err.msg, "g.yaml:", 7), 0);
    }
}

/* Fail each allocation of a full load in turn: a clean error, no leak. */
static void test_alloc_failures(void **state)
{
    size_t len;
    char *yaml = read_example(&len);

    (void)state;
    for (long n = 0;; n++) {
        long live = mem_live();
        struct config *c;
        struct err err;

        err_clear(&err);
        mem_fail_after(n);
        c = conf_parse("examples/scrim.yaml", yaml, len, &err);
        mem_fail_after(-1);
        if (c != NULL) {
            conf_free(c);
            assert_int_equal(mem_live(), live);
            break;
        }
        if (strncmp(err.msg, "examples/scrim.yaml:", 20) != 0)
            fail_msg("allocation %ld: %s", n, err.msg);
        if (mem_live() != live)
            fail_msg("allocation %ld failed and %ld allocations leaked", n, mem_live() - live);
    }
    xfree(yaml);
}

static int leak_setup(void **state)
{
    static long live;

    live = mem_live();
    *state = &live;
    return 0;
}

static int leak_teardown(void **state)
{
    assert_int_equal(mem_live(), *(long *)*state);
    return 0;
}

#define LEAK_TEST(f) cmocka_unit_test_setup_teardown(f, leak_setup, leak_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_example), LEAK_TEST(test_defaults),       LEAK_TEST(test_relative_paths),
        LEAK_TEST(test_values),  LEAK_TEST(test_names),          LEAK_TEST(test_broken),
        LEAK_TEST(test_garbage), LEAK_TEST(test_alloc_failures),
    };
    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
