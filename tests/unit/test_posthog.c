/* posthog: the capture batch format and the transport unwrap, end to end
 * through engine_redact and posthog_unwrap, on fixtures shaped by the SDK's
 * own code (tests/cli/payloads/posthog-*.json, built with fflate exactly as
 * posthog-js compressEvent does). Outputs are decoded fully and re-read
 * with the jansson oracle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/engine.h"
#include "rules/posthog.h"
#include "rules/vendor.h"
#include "leak.h"
#include "oracle.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs:\n"
                           "      allow: ['[name=plan]']\n"
                           "    journey:\n"
                           "      name: loan\n"
                           "      steps:\n"
                           "        - {name: personal, url: /apply/personal}\n"
                           "  props:\n"
                           "    fields:\n"
                           "      - {path: '$[*].properties', action: mask}\n"
                           "  events:\n"
                           "    fields:\n"
                           "      - {path: '$.events[1]', action: redact}\n";

static const char *const canaries[] = {
    "4111 1111 1111 1111",         "4111111111111111",       "078-05-1120",
    "jane.doe@example.com",        "jane.doe%40example.com", "hunter2",
    "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
};

static const char session_id[] = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

struct fixture {
    struct config *conf;
    struct pseudo_key *key;
    struct pii_scanner *scanner;
    struct arena *arena;
    struct buf out, ctx;
    struct redact_report rep;
    struct err err;
    size_t arena_cap; /* 0: unlimited */
    long fail_after;  /* the allocation that fails inside engine_redact; -1: none */
};

static struct fixture fx = {.fail_after = -1};

static int group_setup(void **state)
{
    uint8_t k[32];

    (void)state;
    if (keyfile_crypto_init() != 0)
        return -1;
    memset(k, 7, sizeof(k));
    fx.key = pseudo_key_from_bytes(k);
    err_clear(&fx.err);
    fx.conf = conf_parse("test.yaml", yaml, sizeof(yaml) - 1, &fx.err);
    if (fx.conf == NULL) {
        fprintf(stderr, "%s\n", fx.err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    conf_free(fx.conf);
    pseudo_key_free(fx.key);
    return 0;
}

/* Mask in[0..n) as PostHog under policy pol. */
static enum redact_status run_n(const char *pol, const char *in, size_t n)
{
    const struct policy *p = conf_policy_by_name(fx.conf, pol);
    struct redact_env env = {p, NULL,  json_default_limits, pseudo_engine_fn, fx.key, NULL, &fx.ctx,
                             0, {0, 0}};
    enum redact_status st;

    assert_non_null(p);
    env.scanner = fx.scanner = pii_scanner_new(p->pii, NULL);
    fx.arena = arena_new(fx.arena_cap);
    buf_init(&fx.out, 0);
    buf_init(&fx.ctx, 0);
    err_clear(&fx.err);
    mem_fail_after(fx.fail_after);
    st = engine_redact(&env, fx.arena, FORMAT_POSTHOG, in, n, &fx.out, &fx.rep, &fx.err);
    mem_fail_after(-1);
    return st;
}

static enum redact_status run(const char *pol, const char *in)
{
    return run_n(pol, in, strlen(in));
}

static void done(void)
{
    pii_scanner_free(fx.scanner);
    arena_free(fx.arena);
    buf_free(&fx.out);
    buf_free(&fx.ctx);
}

static uint64_t count_of(const char *id)
{
    for (size_t i = 0; i < fx.rep.nrules; i++)
        if (strcmp(fx.rep.rules[i].id, id) == 0)
            return fx.rep.rules[i].count;
    fail_msg("no rule %s", id);
    return 0;
}

/* tests/cli/payloads/<name>, found from this file's path. */
static char *fixture_read(const char *name, size_t *len)
{
    const char *suffix = "tests/unit/test_posthog.c", *self = __FILE__;
    char path[4096];
    FILE *f;
    char *s = xmalloc(1 << 20);

    snprintf(path, sizeof(path), "%.*stests/cli/payloads/%s", (int)(strlen(self) - strlen(suffix)),
             self, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    *len = fread(s, 1, (1 << 20) - 1, f);
    s[*len] = '\0';
    fclose(f);
    return s;
}

/* gzip of s[0..n), as fflate gzipSync would make it (any valid stream
 * will do); the caller frees it with free(). */
static unsigned char *gzip_of(const void *s, size_t n, size_t *outn)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
    size_t cap = libdeflate_gzip_compress_bound(c, n);
    unsigned char *z = calloc(1, cap);

    assert_non_null(z);
    *outn = libdeflate_gzip_compress(c, s, n, z, cap);
    libdeflate_free_compressor(c);
    assert_true(*outn > 0);
    return z;
}

/* Append bytes as a JSON string of latin1 code points (fflate strFromU8(b,
 * true) then JSON.stringify): controls escaped, 0x80-0xFF as UTF-8. */
static void latin1_string(struct buf *b, const unsigned char *z, size_t n)
{
    assert_int_equal(buf_putc(b, '"'), 0);
    for (size_t i = 0; i < n; i++) {
        if (z[i] < 0x20 || z[i] == '"' || z[i] == '\\')
            assert_int_equal(buf_printf(b, "\\u%04x", z[i]), 0);
        else if (z[i] < 0x80)
            assert_int_equal(buf_putc(b, z[i]), 0);
        else
            assert_int_equal(buf_printf(b, "%c%c", 0xC0 | z[i] >> 6, 0x80 | (z[i] & 0x3F)), 0);
    }
    assert_int_equal(buf_putc(b, '"'), 0);
}

/* The JSON text json, gzipped, as posthog-js puts it in a field. */
static void gz_field(struct buf *b, const char *json)
{
    size_t zn;
    unsigned char *z = gzip_of(json, strlen(json), &zn);

    latin1_string(b, z, zn);
    free(z);
}

/* No canary in any form the output could hold it: the output is fully
 * decoded JSON (no gzip left in it), so plain and encoded forms suffice. */
static void assert_clean(const struct buf *b)
{
    static const char *const encoded[] = {"NDExMSAxMTExIDExMTEgMTExMQ", /* base64 of the card */
                                          "amFuZS5kb2VAZXhhbXBsZS5jb20", "MDc4LTA1LTExMjA",
                                          "\\u0034111"};

    assert_true(oracle_valid(b->data, b->len));
    for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
        if (memmem(b->data, b->len, canaries[i], strlen(canaries[i])) != NULL)
            fail_msg("canary %s survived", canaries[i]);
    for (size_t i = 0; i < sizeof(encoded) / sizeof(encoded[0]); i++)
        if (memmem(b->data, b->len, encoded[i], strlen(encoded[i])) != NULL)
            fail_msg("encoded canary %zu survived", i);
    /* gzip's magic, raw or as the latin1 string posthog-js would write */
    assert_null(memmem(b->data, b->len, "\x1f\x8b", 2));
    assert_null(memmem(b->data, b->len, "\\u001f\xc2\x8b", 8));
    assert_null(memmem(b->data, b->len, "\"cv\"", 4));
}

#define OUT_STR(path)  oracle_string(fx.out.data, fx.out.len, path)
#define OUT_KIND(path) oracle_kind(fx.out.data, fx.out.len, path)
#define OUT_SIZE(path) oracle_size(fx.out.data, fx.out.len, path)
#define SNAP(e, rest)  #e ".properties.$snapshot_data" rest

static void assert_stars(const char *s)
{
    assert_non_null(s);
    assert_true(*s != '\0');
    assert_int_equal(strspn(s, "*"), strlen(s));
}

/* The /s/ body of one session: compressed full snapshot and mutation,
 * input events with maskAllInputs false, a journey URL. */
static void test_snapshot_fixture(void **state)
{
    size_t n;
    char *in = fixture_read("posthog-snapshot.json", &n);

    (void)state;
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    assert_clean(&fx.out);
    assert_clean(&fx.ctx);
    /* the full snapshot was inflated and written back as an object */
    assert_int_equal(OUT_KIND(SNAP(0, ".1.data")), ORACLE_OBJECT);
    assert_int_equal(OUT_KIND(SNAP(0, ".1.data.node.childNodes.1.childNodes.1.tagName")),
                     ORACLE_STRING);
    /* card input masked; the allowed plan input kept: its node came from
     * the compressed full snapshot, so the map saw the inflated tree */
    assert_stars(OUT_STR(SNAP(0, ".2.data.text")));
    assert_string_equal(OUT_STR(SNAP(0, ".3.data.text")), "platinum");
    /* the second $snapshot event (same session and window) shares the map:
     * its compressed mutation's attribute for node 8 is an input's */
    assert_int_equal(OUT_KIND(SNAP(1, ".0.data.texts")), ORACLE_ARRAY);
    assert_stars(OUT_STR(SNAP(1, ".0.data.attributes.0.attributes.value")));
    assert_non_null(strstr(OUT_STR(SNAP(1, ".0.data.texts.0.value")), "[REDACTED:ssn]"));
    assert_non_null(strstr(OUT_STR(SNAP(1, ".0.data.adds.0.node.textContent")), "[REDACTED:iban]"));
    assert_int_equal(OUT_SIZE(SNAP(1, ".0.data.removes")), 0);
    /* the container: the token stays, the session id is not PII */
    assert_string_equal(OUT_STR("0.properties.$session_id"), session_id);
    assert_true(count_of("inputs.default") >= 2);
    assert_true(count_of("pii.email") >= 2);
    /* the journey, under the session's pseudonym */
    assert_non_null(strstr(fx.ctx.data, "\"step\":\"personal\""));
    assert_null(strstr(fx.ctx.data, session_id));
    xfree(in);
    done();
}

/* /e/: {api_key, batch, sent_at} with $pageview and $autocapture. */
static void test_batch_fixture(void **state)
{
    size_t n;
    char *in = fixture_read("posthog-batch.json", &n);

    (void)state;
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    assert_clean(&fx.out);
    assert_string_equal(OUT_STR("api_key"), "phc_k2Xq7bC9nR4tV1wY8zA3sD6fG0hJ5lM2pQ7rT9uW4eE");
    assert_non_null(strstr(OUT_STR("batch.1.properties.$el_text"), "[REDACTED:ssn]"));
    assert_non_null(strstr(OUT_STR("batch.1.properties.$elements.0.$el_text"), "[REDACTED:card]"));
    assert_non_null(strstr(OUT_STR("batch.0.properties.$current_url"), "[REDACTED:email]"));
    assert_int_equal(fx.ctx.len, 0); /* no recording, no journey */
    xfree(in);
    done();
}

static void snap_open(struct buf *b, const char *window)
{
    assert_int_equal(buf_printf(b,
                                "{\"event\":\"$snapshot\",\"properties\":{\"$session_id\":\"%s\","
                                "\"$window_id\":\"%s\",\"$snapshot_data\":[",
                                session_id, window),
                     0);
}

static const char full_plan[] =
    "{\"type\":2,\"timestamp\":1,\"data\":{\"node\":{\"type\":0,\"id\":1,\"childNodes\":[{\"type\":"
    "2,\"id\":9,\"tagName\":\"input\",\"attributes\":{\"name\":\"plan\"},\"childNodes\":[]}]}}}";

/* A field compressed around a JSON-escaped canary: decoded, masked, and
 * nothing of it left in any encoding. */
static void test_escaped_canary_in_gzip_field(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    snap_open(&b, "w1");
    assert_int_equal(buf_puts(&b, "{\"type\":3,\"timestamp\":2,\"cv\":\"2024-10\",\"data\":{"
                                  "\"source\":0,\"texts\":"),
                     0);
    gz_field(&b, "[{\"id\":5,\"value\":\"card \\u0034111 1111 1111 1111 / hunter2\"}]");
    assert_int_equal(buf_puts(&b, ",\"attributes\":"), 0);
    gz_field(&b, "[]");
    assert_int_equal(buf_puts(&b, ",\"removes\":"), 0);
    gz_field(&b, "[]");
    assert_int_equal(buf_puts(&b, ",\"adds\":"), 0);
    gz_field(&b, "[]");
    assert_int_equal(buf_puts(&b, "}}]}}"), 0);
    assert_int_equal(run_n("p", b.data, b.len), REDACT_OK);
    assert_clean(&fx.out);
    /* an unknown node's text is masked whole (unknown means sensitive) */
    assert_stars(OUT_STR("properties.$snapshot_data.0.data.texts.0.value"));
    assert_int_equal(OUT_SIZE("properties.$snapshot_data.0.data.adds"), 0);
    done();
    buf_free(&b);
}

/* Node ids are per window: window 2 cannot borrow window 1's allowed
 * input, so its input event for the same id is masked. */
static void test_windows_do_not_share_nodes(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_putc(&b, '['), 0);
    snap_open(&b, "w1");
    assert_int_equal(buf_printf(&b,
                                "%s,{\"type\":3,\"timestamp\":2,\"data\":{\"source\":5,\"id\":9,"
                                "\"text\":\"gold\",\"isChecked\":false}}]}},",
                                full_plan),
                     0);
    snap_open(&b, "w2");
    assert_int_equal(buf_puts(&b, "{\"type\":3,\"timestamp\":3,\"data\":{\"source\":5,\"id\":9,"
                                  "\"text\":\"hunter2\",\"isChecked\":false}}]}}]"),
                     0);
    assert_int_equal(run_n("p", b.data, b.len), REDACT_OK);
    assert_string_equal(OUT_STR("0.properties.$snapshot_data.1.data.text"), "gold");
    assert_stars(OUT_STR("1.properties.$snapshot_data.0.data.text"));
    assert_clean(&fx.out);
    done();
    buf_free(&b);
}

/* One event as the whole body, and an object $snapshot_data, which
 * capture reads as a one-event list. */
static void test_single_event_object_data(void **state)
{
    (void)state;
    assert_int_equal(run("p", "{\"event\":\"$snapshot\",\"properties\":{\"$snapshot_data\":"
                              "{\"type\":5,\"timestamp\":1,\"data\":{\"tag\":\"x\",\"payload\":"
                              "{\"mail\":\"jane.doe@example.com\"}}}}}"),
                     REDACT_OK);
    assert_int_equal(OUT_KIND("properties.$snapshot_data"), ORACLE_ARRAY);
    assert_int_equal(OUT_SIZE("properties.$snapshot_data"), 1);
    assert_clean(&fx.out);
    done();
}

/* A rule that masks an object holding a recording leaves the recording
 * out: it must never come back unmasked by that rule. */
static void test_container_rule_covers_recording(void **state)
{
    size_t n;
    char *in = fixture_read("posthog-snapshot.json", &n);

    (void)state;
    assert_int_equal(run_n("props", in, n), REDACT_OK);
    assert_int_equal(OUT_KIND("0.properties.$snapshot_data"), ORACLE_STRING);
    assert_null(strstr(fx.out.data, "\"type\":2"));
    assert_clean(&fx.out);
    xfree(in);
    done();
}

/* Field rules see the rrweb events as --format rrweb does: $.events[...].
 * A replaced event is put back where it was. */
static void test_rrweb_paths_inside_recordings(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    snap_open(&b, "w1");
    assert_int_equal(
        buf_printf(&b,
                   "%s,{\"type\":5,\"timestamp\":2,\"data\":{\"tag\":\"t\",\"payload\":"
                   "{}}},{\"type\":5,\"timestamp\":3,\"data\":{\"tag\":\"u\","
                   "\"payload\":{}}}]}}",
                   full_plan),
        0);
    assert_int_equal(run_n("events", b.data, b.len), REDACT_OK);
    assert_int_equal(OUT_SIZE("properties.$snapshot_data"), 3);
    assert_string_equal(OUT_STR("properties.$snapshot_data.1"), "[REDACTED]");
    assert_string_equal(OUT_STR("properties.$snapshot_data.2.data.tag"), "u");
    done();
    buf_free(&b);
}

static void expect_bad(const char *what, const char *in, size_t n, enum redact_status want)
{
    enum redact_status st = run_n("p", in, n);

    if (st != want)
        fail_msg("%s: status %d, want %d", what, st, want);
    assert_int_equal(fx.out.len, 0);
    assert_int_equal(fx.ctx.len, 0);
    assert_null(strstr(fx.err.msg, "4111"));
    done();
}

/* A snapshot whose full-snapshot data is the given JSON string value. */
static void full_with_data(struct buf *b, const char *cv, const char *data_json)
{
    buf_reset(b);
    snap_open(b, "w1");
    assert_int_equal(buf_printf(b, "{\"type\":2,\"timestamp\":1,\"cv\":\"%s\",\"data\":", cv), 0);
    assert_int_equal(buf_puts(b, data_json), 0);
    assert_int_equal(buf_puts(b, "}]}}"), 0);
}

static void full_with_gz(struct buf *b, const char *cv, const char *json)
{
    struct buf f;

    buf_init(&f, 0);
    gz_field(&f, json);
    full_with_data(b, cv, f.data);
    buf_free(&f);
}

static void test_malformed_compressed_fields(void **state)
{
    static const char ok_data[] = "{\"node\":{\"type\":0,\"id\":1,\"childNodes\":[]}}";
    struct buf b, f;
    size_t zn;
    unsigned char *z;

    (void)state;
    buf_init(&b, 0);
    full_with_gz(&b, "2024-10", ok_data);
    assert_int_equal(run_n("p", b.data, b.len), REDACT_OK); /* the baseline parses */
    done();
    full_with_gz(&b, "2099-01", ok_data);
    expect_bad("unknown cv", b.data, b.len, REDACT_BAD);
    full_with_gz(&b, "2024-10", "{\"node\":{\"type\":0,\"id\":1,\"id\":2}}");
    expect_bad("duplicate key inside", b.data, b.len, REDACT_BAD);
    full_with_gz(&b, "2024-10", "{\"node\":1} trailing");
    expect_bad("not JSON inside", b.data, b.len, REDACT_BAD);
    full_with_gz(&b, "2024-10", "[1,2]");
    expect_bad("wrong type inside", b.data, b.len, REDACT_BAD);
    full_with_data(&b, "2024-10", "\"not gzip at all\"");
    expect_bad("not gzip", b.data, b.len, REDACT_BAD);
    full_with_data(&b, "2024-10", "\"\\u001f\xc2\x8b\\b\\u0000\xe2\x82\xac\"");
    expect_bad("not latin1", b.data, b.len, REDACT_BAD);
    /* truncated: the gzip stream cut short */
    z = gzip_of(ok_data, sizeof(ok_data) - 1, &zn);
    buf_init(&f, 0);
    latin1_string(&f, z, zn - 6);
    full_with_data(&b, "2024-10", f.data);
    expect_bad("truncated gzip", b.data, b.len, REDACT_BAD);
    buf_free(&f);
    free(z);
    /* compressed data without cv is not rrweb */
    full_with_gz(&b, "2024-10", ok_data);
    memcpy(strstr(b.data, "\"cv\""), "\"cx\"", 4);
    expect_bad("gzip without cv", b.data, b.len, REDACT_BAD);
    buf_free(&b);
}

static void test_malformed_batches(void **state)
{
    static const char *const bad[] = {
        "42",
        "{\"nothing\":1}",
        "[{\"properties\":{}}]",
        "[{\"event\":\"$snapshot\",\"properties\":[]}]",
        "[{\"event\":\"$snapshot\",\"properties\":{\"$snapshot_data\":\"[]\"}}]",
        "[{\"event\":\"x\",\"properties\":{\"$snapshot_items\":[]}}]",
        "[{\"event\":\"$snapshot\",\"properties\":{\"$snapshot_data\":[],\"$session_id\":7}}]",
        "{\"batch\":{}}",
        "{\"batch\":[],\"event\":\"x\"}",
        "[{\"event\":\"$snapshot\",\"properties\":{\"$snapshot_data\":[{\"type\":9,\"data\":{}}]}}"
        "]",
        "[{\"event\":\"a\",\"event\":\"b\"}]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad(bad[i], bad[i], strlen(bad[i]), REDACT_BAD);
}

/* Decompressed size: a small field that inflates past the ratio, and a
 * tree past the arena's cap, are 413s with nothing written. */
static void test_inflate_limits(void **state)
{
    size_t big = 4 << 20;
    char *json = xmalloc(big + 3);
    struct buf b;

    (void)state;
    json[0] = '[';
    memset(json + 1, ' ', big);
    json[big + 1] = ']';
    json[big + 2] = '\0';
    buf_init(&b, 0);
    snap_open(&b, "w1");
    assert_int_equal(buf_puts(&b, "{\"type\":3,\"timestamp\":2,\"cv\":\"2024-10\",\"data\":{"
                                  "\"source\":0,\"texts\":"),
                     0);
    gz_field(&b, json);
    assert_int_equal(buf_puts(&b, "}}]}}"), 0);
    expect_bad("gzip bomb", b.data, b.len, REDACT_TOOBIG);
    xfree(json);
    buf_reset(&b);
    full_with_gz(&b, "2024-10", "{\"node\":{\"type\":0,\"id\":1,\"childNodes\":[]}}");
    fx.arena_cap = 4096;
    expect_bad("arena cap", b.data, b.len, REDACT_TOOBIG);
    fx.arena_cap = 0;
    buf_free(&b);
}

static void test_torture_allocation_failures(void **state)
{
    size_t n;
    char *in = fixture_read("posthog-snapshot.json", &n);

    (void)state;
    for (long k = 0; k < 600; k++) {
        long before = mem_live();
        enum redact_status st;
        fx.fail_after = k;
        st = run_n("p", in, n);
        fx.fail_after = -1;
        if (st != REDACT_OK) {
            assert_int_equal(fx.out.len, 0);
            assert_int_equal(fx.ctx.len, 0);
        }
        done();
        assert_int_equal(mem_live(), before);
        if (st == REDACT_OK) {
            assert_true(k > 3);
            xfree(in);
            return;
        }
    }
    fail_msg("never succeeded within 600 allocations");
}

/* ---- posthog_unwrap ---- */

static const char body_json[] = "[{\"event\":\"$pageview\",\"properties\":{\"token\":\"phc_x\"}}]";

static enum decode_status unwrap(const char *ctype, const char *cenc, const char *query,
                                 const void *body, size_t n, size_t max, struct buf *out)
{
    struct posthog_http h = {ctype, ctype ? strlen(ctype) : 0, cenc, cenc ? strlen(cenc) : 0,
                             query, query ? strlen(query) : 0};
    struct decode_limits lim = {max, 100};

    buf_init(out, max);
    return posthog_unwrap(&lim, &h, body, n, out);
}

static void expect_unwrap(const char *ctype, const char *cenc, const char *query, const void *body,
                          size_t n, enum decode_status want)
{
    struct buf out;
    enum decode_status st = unwrap(ctype, cenc, query, body, n, 1 << 20, &out);

    if (st != want)
        fail_msg("unwrap %s/%s/%s: %s, want %s", ctype ? ctype : "-", cenc ? cenc : "-",
                 query ? query : "-", decode_status_name(st), decode_status_name(want));
    if (want == DECODE_OK) {
        assert_int_equal(out.len, sizeof(body_json) - 1);
        assert_memory_equal(out.data, body_json, out.len);
    } else {
        assert_int_equal(out.len, 0);
    }
    buf_free(&out);
}

/* base64 of body_json, percent-encoded as encodeURIComponent would. */
static void form_b64(struct buf *b)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)body_json;
    size_t n = sizeof(body_json) - 1;

    buf_init(b, 0);
    assert_int_equal(buf_puts(b, "data="), 0);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {t[v >> 18 & 63], t[v >> 12 & 63], i + 1 < n ? t[v >> 6 & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        for (int k = 0; k < 4; k++)
            assert_int_equal(q[k] == '+'   ? buf_puts(b, "%2B")
                             : q[k] == '/' ? buf_puts(b, "%2F")
                             : q[k] == '=' ? buf_puts(b, "%3D")
                                           : buf_putc(b, q[k]),
                             0);
    }
}

static void test_unwrap_transports(void **state)
{
    static const char form_ct[] = "application/x-www-form-urlencoded; charset=UTF-8";
    size_t zn;
    unsigned char *z = gzip_of(body_json, sizeof(body_json) - 1, &zn);
    struct buf f;

    (void)state;
    expect_unwrap("application/json", NULL, NULL, body_json, sizeof(body_json) - 1, DECODE_OK);
    expect_unwrap("text/plain", NULL, "compression=gzip-js&ver=1.449.2", z, zn, DECODE_OK);
    expect_unwrap("text/plain", NULL, "ver=1.449.2&_=1732885200000", z, zn, DECODE_OK);
    expect_unwrap("application/json", "gzip", NULL, z, zn, DECODE_OK);
    form_b64(&f);
    expect_unwrap(form_ct, NULL, "compression=base64", f.data, f.len, DECODE_OK);
    expect_unwrap(form_ct, NULL, "compression=base64&compression=base64", f.data, f.len,
                  DECODE_BAD);
    assert_int_equal(buf_puts(&f, "&ver=1"), 0);
    expect_unwrap(form_ct, NULL, "compression=base64", f.data, f.len, DECODE_BAD);
    buf_free(&f);
    buf_init(&f, 0);
    assert_int_equal(buf_puts(&f, "data=%5B%7B%22event%22%3A%22%24pageview%22%2C%22properties%22"
                                  "%3A%7B%22token%22%3A%22phc_x%22%7D%7D%5D"),
                     0);
    expect_unwrap(form_ct, NULL, NULL, f.data, f.len, DECODE_OK);
    expect_unwrap(form_ct, NULL, NULL, "data=%5G", 8, DECODE_BAD);
    buf_free(&f);
    expect_unwrap("text/plain", NULL, "compression=lz64", "x", 1, DECODE_UNSUPPORTED);
    expect_unwrap("text/plain", NULL, "compression=gzip-js", body_json, sizeof(body_json) - 1,
                  DECODE_BAD);
    expect_unwrap("text/plain", NULL, "compression=gzip-js", z, zn - 4, DECODE_BAD);
    expect_unwrap("text/plain", NULL, "compression=%zz", z, zn, DECODE_BAD);
    expect_unwrap("application/json", NULL, NULL, "", 0, DECODE_BAD);
    expect_unwrap("application/json", "br", NULL, z, zn, DECODE_UNSUPPORTED);
    {
        struct buf out;
        assert_int_equal(unwrap("text/plain", NULL, NULL, z, zn, 16, &out), DECODE_TOOBIG);
        assert_int_equal(out.len, 0);
        buf_free(&out);
    }
    free(z);
}

/* ---- vendor_key_find ---- */

static int key_of(const char *payload, const char *query, char *out, size_t cap)
{
    return vendor_key_find(FORMAT_POSTHOG, payload, strlen(payload), query,
                           query ? strlen(query) : 0, NULL, 0, out, cap);
}

static void test_vendor_key(void **state)
{
    char key[VENDOR_KEY_MAX + 1];
    size_t n;
    char *in = fixture_read("posthog-snapshot.json", &n);

    (void)state;
    assert_int_equal(vendor_key_find(FORMAT_POSTHOG, in, n, NULL, 0, NULL, 0, key, sizeof(key)), 0);
    assert_string_equal(key, "phc_k2Xq7bC9nR4tV1wY8zA3sD6fG0hJ5lM2pQ7rT9uW4eE");
    xfree(in);
    in = fixture_read("posthog-batch.json", &n);
    assert_int_equal(vendor_key_find(FORMAT_POSTHOG, in, n, NULL, 0, NULL, 0, key, sizeof(key)), 0);
    assert_string_equal(key, "phc_k2Xq7bC9nR4tV1wY8zA3sD6fG0hJ5lM2pQ7rT9uW4eE");
    xfree(in);
    assert_int_equal(key_of("[{\"event\":\"e\",\"properties\":{\"token\":\"phc_a\"}}]",
                            "token=phc_a", key, sizeof(key)),
                     0);
    assert_string_equal(key, "phc_a");
    assert_int_equal(key_of("{\"event\":\"e\",\"api_key\":\"phc_b\"}", NULL, key, sizeof(key)), 0);
    assert_string_equal(key, "phc_b");
    /* two different keys in one request: no tenant */
    assert_int_equal(key_of("[{\"event\":\"e\",\"properties\":{\"token\":\"phc_a\"}},"
                            "{\"event\":\"e\",\"properties\":{\"token\":\"phc_b\"}}]",
                            NULL, key, sizeof(key)),
                     -1);
    assert_string_equal(key, "");
    assert_int_equal(key_of("{\"api_key\":\"phc_a\",\"batch\":[{\"event\":\"e\",\"properties\":{"
                            "\"token\":\"phc_b\"}}]}",
                            NULL, key, sizeof(key)),
                     -1);
    assert_int_equal(key_of("[{\"event\":\"e\",\"properties\":{\"token\":\"phc_a\"}}]",
                            "token=phc_b", key, sizeof(key)),
                     -1);
    assert_int_equal(key_of("[{\"event\":\"e\",\"properties\":{}}]", NULL, key, sizeof(key)), -1);
    assert_int_equal(key_of("[{\"event\":\"e\",\"token\":7}]", NULL, key, sizeof(key)), -1);
    assert_int_equal(key_of("[{\"event\":\"e\",\"token\":\"a b\"}]", NULL, key, sizeof(key)), -1);
    assert_int_equal(key_of("[{\"event\":\"e\",\"token\":\"phc_a\"}", NULL, key, sizeof(key)), -1);
    assert_int_equal(key_of("[{\"event\":\"e\",\"token\":\"phc_abcdef\"}]", NULL, key, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_snapshot_fixture),
        LEAK_TEST(test_batch_fixture),
        LEAK_TEST(test_escaped_canary_in_gzip_field),
        LEAK_TEST(test_windows_do_not_share_nodes),
        LEAK_TEST(test_single_event_object_data),
        LEAK_TEST(test_container_rule_covers_recording),
        LEAK_TEST(test_rrweb_paths_inside_recordings),
        LEAK_TEST(test_malformed_compressed_fields),
        LEAK_TEST(test_malformed_batches),
        LEAK_TEST(test_inflate_limits),
        LEAK_TEST(test_torture_allocation_failures),
        LEAK_TEST(test_unwrap_transports),
        LEAK_TEST(test_vendor_key),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
