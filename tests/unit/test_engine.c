/* engine: field rules, detectors and the form format, end to end through
 * engine_redact with policies loaded from YAML. Outputs are re-read with
 * jansson (the test oracle) and searched for canaries in every encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/engine.h"
#include "leak.h"
#include "engine_fixture.h"
#include "oracle.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs:\n"
                           "      allow: ['[name=plan]', '#amount']\n"
                           "      allow_types: [radio]\n"
                           "    fields:\n"
                           "      - {path: $.keep.email, action: keep}\n"
                           "      - {path: $..email, action: hash}\n"
                           "      - {path: $.secret, action: drop}\n"
                           "      - {path: $.masked, action: mask}\n"
                           "      - {path: $.gone, action: redact}\n"
                           "      - {path: '$.list[*].pw', action: drop}\n"
                           "    pii:\n"
                           "      detectors:\n"
                           "        - {name: email, action: redact}\n"
                           "        - {name: card, action: redact}\n"
                           "        - {name: ssn, action: mask}\n"
                           "        - {name: phone, action: drop}\n"
                           "        - {name: iban, action: hash}\n"
                           "    journey:\n"
                           "      name: loan\n"
                           "      steps: [{name: personal, event: p1}]\n"
                           "  slow:\n"
                           "    pii:\n"
                           "      detectors:\n"
                           "        - {name: evil, pattern: '(a+)+$', action: redact}\n"
                           "  fixed:\n"
                           "    pii:\n"
                           "      mask_length: 6\n"
                           "      detectors: [{name: ssn, action: mask}]\n";

static const char *const canaries[] = {
    "4111 1111 1111 1111",         "4111111111111111", "078-05-1120", "jane.doe@example.com",
    "GB82 WEST 1234 5698 7654 32", "+1 415 555 0100",  "hunter2",     "Jane Q. Example"};

struct fixture {
    struct config *conf;
    struct pseudo_key *key;
    struct pii_scanner *scanner;
    struct arena *arena;
    struct buf out, ctx;
    struct redact_report rep;
    struct err err;
};

static struct fixture fx;

static int group_setup(void **state)
{
    (void)state;
    return engine_fixture_open(yaml, sizeof(yaml) - 1, &fx.conf, &fx.key, &fx.err);
}

static int group_teardown(void **state)
{
    (void)state;
    engine_fixture_close(fx.conf, fx.key);
    return 0;
}

/* Run one payload under policy pol; returns the status. */
static enum redact_status run(const char *pol, enum format fmt, const char *in)
{
    const struct policy *p = conf_policy_by_name(fx.conf, pol);
    struct pii_limits lim = {2000, 100};
    struct redact_env env = {
        p, NULL, json_default_limits, pseudo_engine_fn, fx.key, NULL, &fx.ctx, 0, {0, 0}, NULL};
    enum redact_status st;

    assert_non_null(p);
    env.scanner = fx.scanner = pii_scanner_new(p->pii, &lim);
    fx.arena = arena_new(0);
    buf_init(&fx.out, 0);
    buf_init(&fx.ctx, 0);
    err_clear(&fx.err);
    st = engine_redact(&env, fx.arena, fmt, in, strlen(in), &fx.out, &fx.rep, &fx.err);
    return st;
}

static void done(void)
{
    pii_scanner_free(fx.scanner);
    arena_free(fx.arena);
    buf_free(&fx.out);
    buf_free(&fx.ctx);
}

/* No canary in s, plain, JSON-escaped (\u form) or base64. */
static void assert_no_canary(const char *s)
{
    for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++) {
        const char *c = canaries[i];
        char b64[128], esc[512];
        size_t o = 0;
        assert_null(strstr(s, c));
        sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)c, strlen(c),
                          sodium_base64_VARIANT_ORIGINAL);
        b64[strlen(b64) - (b64[strlen(b64) - 1] == '=') - (b64[strlen(b64) - 2] == '=')] = '\0';
        assert_null(strstr(s, b64));
        for (size_t k = 0; c[k]; k++)
            o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\u%04x", (unsigned char)c[k]);
        assert_null(strstr(s, esc));
    }
}

/* The output, read by the oracle: strict JSON with no duplicate keys. */
static void assert_out_valid(void)
{
    if (!oracle_valid(fx.out.data, fx.out.len))
        fail_msg("output is not strict JSON");
}

#define OUT_STR(path)  oracle_string(fx.out.data, fx.out.len, path)
#define OUT_SIZE(path) oracle_size(fx.out.data, fx.out.len, path)
#define OUT_KIND(path) oracle_kind(fx.out.data, fx.out.len, path)

static uint64_t count_of(const char *id)
{
    for (size_t i = 0; i < fx.rep.nrules; i++)
        if (strcmp(fx.rep.rules[i].id, id) == 0)
            return fx.rep.rules[i].count;
    fail_msg("no rule %s", id);
    return 0;
}

static void test_field_rules_first_match(void **state)
{
    (void)state;
    assert_int_equal(run("p", FORMAT_JSON,
                         "{\"keep\":{\"email\":\"jane.doe@example.com\"},"
                         "\"user\":{\"email\":\"x@example.org\"},\"secret\":\"hunter2\","
                         "\"masked\":{\"a\":\"Jane Q. Example\",\"n\":12},\"gone\":[1,2],"
                         "\"list\":[{\"pw\":\"hunter2\",\"ok\":1},{\"pw\":2}]}"),
                     REDACT_OK);
    assert_out_valid();
    /* keep exempts from later field rules, not from the detectors */
    assert_string_equal(OUT_STR("keep.email"), "[REDACTED:email]");
    assert_int_equal(strlen(OUT_STR("user.email")), 22);
    assert_int_equal(OUT_KIND("secret"), ORACLE_ABSENT);
    assert_string_equal(OUT_STR("masked.a"), "***************");
    assert_string_equal(OUT_STR("masked.n"), "**");
    assert_string_equal(OUT_STR("gone"), "[REDACTED]");
    assert_int_equal(OUT_SIZE("list.0"), 1);
    assert_int_equal(OUT_KIND("list.1"), ORACLE_OBJECT);
    assert_int_equal(OUT_SIZE("list.1"), 0);
    assert_int_equal(count_of("fields.$.list[*].pw"), 2);
    assert_int_equal(count_of("fields.$..email"), 1);
    assert_int_equal(count_of("pii.email"), 1);
    assert_no_canary(fx.out.data);
    done();
}

static void test_detectors_everywhere(void **state)
{
    (void)state;
    assert_int_equal(run("p", FORMAT_JSON,
                         "{\"note\":\"card 4111 1111 1111 1111, ssn 078-05-1120\","
                         "\"num\":4111111111111111,"
                         "\"jane.doe@example.com\":true,"
                         "\"arr\":[\"call +1 415 555 0100\",\"ok\"],"
                         "\"iban\":\"GB82 WEST 1234 5698 7654 32\"}"),
                     REDACT_OK);
    assert_out_valid();
    assert_string_equal(OUT_STR("note"), "card [REDACTED:card], ssn ***********");
    assert_string_equal(OUT_STR("num"), "[REDACTED:card]");
    assert_true(oracle_true(fx.out.data, fx.out.len, "[REDACTED:email]")); /* keys are scanned */
    assert_int_equal(OUT_SIZE("arr"), 1);                                  /* phone: drop */
    assert_int_equal(strlen(OUT_STR("iban")), 22);
    assert_int_equal(count_of("pii.card"), 2);
    assert_int_equal(count_of("pii.phone"), 1);
    assert_no_canary(fx.out.data);
    done();
}

static void test_hash_stable_in_tenant(void **state)
{
    char a[64];

    (void)state;
    assert_int_equal(run("p", FORMAT_JSON,
                         "{\"a\":\"GB82 WEST 1234 5698 7654 32\",\"b\":\"GB82WEST12345698765432\","
                         "\"c\":\"GB82 WEST 1234 5698 7654 32\"}"),
                     REDACT_OK);
    assert_out_valid();
    snprintf(a, sizeof(a), "%s", OUT_STR("a"));
    assert_string_equal(a, OUT_STR("c")); /* same value, same pseudonym */
    assert_string_equal(a, OUT_STR("b")); /* the same IBAN, grouped or not */
    done();
}

static void test_redacted_keys_never_clash(void **state)
{
    (void)state;
    assert_int_equal(
        run("p", FORMAT_JSON, "{\"jane.doe@example.com\":1,\"john@example.com\":2,\"x\":3}"),
        REDACT_OK);
    assert_out_valid(); /* the oracle rejects duplicate keys */
    assert_int_equal(OUT_SIZE(""), 2);
    assert_int_equal(count_of("keys.clash"), 1);
    done();
}

static void test_fixed_mask_length(void **state)
{
    (void)state;
    assert_int_equal(run("fixed", FORMAT_JSON, "[\"078-05-1120\",\"x 078-05-1120 y\"]"), REDACT_OK);
    assert_string_equal(fx.out.data, "[\"******\",\"x ****** y\"]");
    done();
}

static void test_failure_leaves_output_untouched(void **state)
{
    static const char *const bad[] = {"{\"a\":1,\"a\":2}", "[1,2", "{\"a\":\"\xff\"}", "",
                                      "[\"4111 1111 1111 1111\"] x"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct policy *p = conf_policy_by_name(fx.conf, "p");
        struct redact_env env = {p,
                                 pii_scanner_new(p->pii, NULL),
                                 json_default_limits,
                                 pseudo_engine_fn,
                                 fx.key,
                                 NULL,
                                 NULL,
                                 0,
                                 {0, 0},
                                 NULL};
        struct arena *a = arena_new(0);
        struct buf out;
        buf_init(&out, 0);
        assert_int_equal(buf_puts(&out, "previous"), 0);
        err_clear(&fx.err);
        assert_int_equal(
            engine_redact(&env, a, FORMAT_JSON, bad[i], strlen(bad[i]), &out, &fx.rep, &fx.err),
            REDACT_BAD);
        assert_string_equal(out.data, "previous");
        assert_null(strstr(fx.err.msg, "4111"));
        buf_free(&out);
        arena_free(a);
        pii_scanner_free(env.scanner);
    }
}

static void test_regex_limit_fails_closed(void **state)
{
    char in[128];

    (void)state;
    snprintf(in, sizeof(in), "[\"%s!\"]", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(run("slow", FORMAT_JSON, in), REDACT_LIMIT);
    assert_int_equal(fx.out.len, 0);
    assert_null(strstr(fx.err.msg, "aaaa"));
    done();
}

static void test_depth_limit(void **state)
{
    char in[300];

    (void)state;
    memset(in, '[', 100);
    memset(in + 100, ']', 100);
    in[200] = '\0';
    assert_int_equal(run("p", FORMAT_JSON, in), REDACT_TOOBIG);
    done();
}

static void test_arena_cap_is_too_big(void **state)
{
    const struct policy *p = conf_policy_by_name(fx.conf, "p");
    struct redact_env env = {p,
                             pii_scanner_new(p->pii, NULL),
                             json_default_limits,
                             pseudo_engine_fn,
                             fx.key,
                             NULL,
                             NULL,
                             0,
                             {0, 0},
                             NULL};
    struct arena *a = arena_new(2048);
    struct buf out;
    char in[8192];
    size_t o = 0;

    (void)state;
    o += (size_t)snprintf(in, sizeof(in), "[");
    for (int i = 0; i < 500; i++)
        o += (size_t)snprintf(in + o, sizeof(in) - o, "%s\"v%d\"", i ? "," : "", i);
    snprintf(in + o, sizeof(in) - o, "]");
    buf_init(&out, 0);
    assert_int_equal(engine_redact(&env, a, FORMAT_JSON, in, strlen(in), &out, &fx.rep, &fx.err),
                     REDACT_TOOBIG);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    arena_free(a);
    pii_scanner_free(env.scanner);
}

static void test_hash_needs_key(void **state)
{
    const struct policy *p = conf_policy_by_name(fx.conf, "p");
    struct redact_env env = {
        p,   pii_scanner_new(p->pii, NULL), json_default_limits, NULL, NULL, NULL, NULL, 0, {0, 0},
        NULL};
    struct arena *a = arena_new(0);
    struct buf out;

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(engine_redact(&env, a, FORMAT_JSON, "{}", 2, &out, &fx.rep, &fx.err),
                     REDACT_INTERNAL);
    buf_free(&out);
    arena_free(a);
    pii_scanner_free(env.scanner);
}

static const char form_batch[] =
    "{\"session\":\"sess-1\",\"viewport\":{\"w\":1440,\"h\":900},\"events\":["
    "{\"type\":\"step\",\"t\":1000,\"step\":\"p1\"},"
    "{\"type\":\"input\",\"t\":1100,\"field\":\"name\",\"value\":\"Jane Q. Example\"},"
    "{\"type\":\"input\",\"t\":1200,\"field\":\"plan\",\"value\":\"gold\"},"
    "{\"type\":\"input\",\"t\":1250,\"field\":\"amount\",\"value\":25000},"
    "{\"type\":\"input\",\"t\":1300,\"field\":\"kind\",\"input_type\":\"radio\",\"value\":\"a\"},"
    "{\"type\":\"input\",\"t\":1400,\"field\":\"plan\",\"input_type\":\"password\","
    "\"value\":\"hunter2\"},"
    "{\"type\":\"input\",\"t\":1450,\"field\":\"plan\",\"value\":\"call +1 415 555 0100\"},"
    "{\"type\":\"validation\",\"t\":1500,\"field\":\"card\",\"state\":\"invalid\","
    "\"code\":\"luhn\",\"message\":\"4111 1111 1111 1111 is not valid\"},"
    "{\"type\":\"input\",\"t\":1600,\"field\":\"jane.doe@example.com\",\"value\":\"\"},"
    "{\"type\":\"complete\",\"t\":5000}]}";

static void test_form_masks_and_records(void **state)
{
    (void)state;
    assert_int_equal(run("p", FORMAT_FORM, form_batch), REDACT_OK);
    assert_out_valid();
    assert_string_equal(OUT_STR("events.1.value"), "***************");
    assert_string_equal(OUT_STR("events.2.value"), "gold");
    assert_int_equal(oracle_int(fx.out.data, fx.out.len, "events.3.value"), 25000);
    assert_string_equal(OUT_STR("events.4.value"), "a");
    assert_string_equal(OUT_STR("events.5.value"), "*******");   /* password: never allowed */
    assert_int_equal(OUT_KIND("events.6.value"), ORACLE_ABSENT); /* allowed, then phone: drop */
    assert_string_equal(OUT_STR("events.7.message"), "[REDACTED:message]");
    assert_int_equal(count_of("inputs.default"), 3);
    assert_int_equal(count_of("form.message"), 1);
    assert_no_canary(fx.out.data);
    assert_no_canary(fx.ctx.data);
    assert_null(strstr(fx.ctx.data, "sess-1"));
    assert_non_null(strstr(fx.ctx.data, "\"type\":\"step_enter\",\"journey\":\"loan\""));
    assert_non_null(strstr(fx.ctx.data, "\"step\":\"personal\""));
    assert_non_null(strstr(fx.ctx.data, "\"device\":\"desktop\""));
    assert_non_null(
        strstr(fx.ctx.data, "\"field\":\"card\",\"state\":\"invalid\",\"code\":\"luhn\""));
    assert_non_null(strstr(fx.ctx.data, "\"field\":\"[REDACTED:email]\""));
    assert_non_null(strstr(fx.ctx.data, "\"ttc_ms\":4000"));
    /* enter, field(card), five edited fields flushed at complete, leave, complete */
    assert_int_equal(fx.rep.context_records, 9);
    done();
}

static void test_form_schema_is_strict(void **state)
{
    static const char *const bad[] = {
        "{\"events\":[]}",
        "{\"session\":\"s\"}",
        "{\"session\":\"s\",\"events\":[],\"extra\":1}",
        "{\"session\":\"s\",\"events\":[{\"type\":\"input\",\"t\":1,\"field\":\"a\",\"vaule\":"
        "\"x\"}]}",
        "{\"session\":\"s\",\"events\":[{\"type\":\"input\",\"t\":1}]}",
        "{\"session\":\"s\",\"events\":[{\"type\":\"step\",\"t\":-1,\"step\":\"a\"}]}",
        "{\"session\":\"s\",\"events\":[{\"type\":\"step\",\"t\":1.5,\"step\":\"a\"}]}",
        "{\"session\":\"s\",\"events\":[{\"type\":\"validation\",\"t\":1,\"field\":\"a\","
        "\"state\":\"maybe\"}]}",
        "{\"session\":\"s\",\"events\":[{\"type\":\"input\",\"t\":1,\"field\":\"a\","
        "\"value\":{\"nested\":\"4111 1111 1111 1111\"}}]}",
        "{\"session\":\"s\",\"events\":[\"step\"]}",
        "[]",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(run("p", FORMAT_FORM, bad[i]), REDACT_BAD);
        assert_int_equal(fx.out.len, 0);
        assert_int_equal(fx.ctx.len, 0);
        assert_null(strstr(fx.err.msg, "vaule"));
        done();
    }
}

/* Walk an allocation failure through every allocation of a form batch: each
 * run ends in success or a clean error, and never leaks. */
static void test_torture_allocation_failures(void **state)
{
    (void)state;
    for (long n = 0; n < 200; n++) {
        long before = mem_live();
        enum redact_status st;
        const struct policy *p = conf_policy_by_name(fx.conf, "p");
        struct redact_env env = {p,
                                 pii_scanner_new(p->pii, NULL),
                                 json_default_limits,
                                 pseudo_engine_fn,
                                 fx.key,
                                 NULL,
                                 NULL,
                                 0,
                                 {0, 0},
                                 NULL};
        struct arena *a = arena_new(0);
        struct buf out, ctx;
        buf_init(&out, 0);
        buf_init(&ctx, 0);
        env.context = &ctx;
        mem_fail_after(n);
        st = engine_redact(&env, a, FORMAT_FORM, form_batch, sizeof(form_batch) - 1, &out, &fx.rep,
                           &fx.err);
        mem_fail_after(-1);
        if (st != REDACT_OK)
            assert_int_equal(out.len, 0);
        buf_free(&out);
        buf_free(&ctx);
        arena_free(a);
        pii_scanner_free(env.scanner);
        assert_int_equal(mem_live(), before);
        if (st == REDACT_OK) {
            assert_true(n > 3); /* the walk really went through failing allocations */
            return;
        }
    }
    fail_msg("never succeeded within 200 allocations");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_field_rules_first_match),
        LEAK_TEST(test_detectors_everywhere),
        LEAK_TEST(test_hash_stable_in_tenant),
        LEAK_TEST(test_redacted_keys_never_clash),
        LEAK_TEST(test_fixed_mask_length),
        LEAK_TEST(test_failure_leaves_output_untouched),
        LEAK_TEST(test_regex_limit_fails_closed),
        LEAK_TEST(test_depth_limit),
        LEAK_TEST(test_arena_cap_is_too_big),
        LEAK_TEST(test_hash_needs_key),
        LEAK_TEST(test_form_masks_and_records),
        LEAK_TEST(test_form_schema_is_strict),
        LEAK_TEST(test_torture_allocation_failures),
    };
    return cmocka_run_group_tests_name("engine", tests, group_setup, group_teardown);
}
