/* posthog: the capture body format and the transport, end to end through
 * engine_redact, posthog_unwrap and posthog_wrap, on fixtures shaped by the
 * SDK's own code (tests/cli/payloads/posthog-*.json: recordings built with
 * fflate exactly as posthog-js compressEventSync does, autocapture events
 * made by @posthog/browser-common's autocapturePropertiesForElement, the
 * /flags/ request object). Outputs are decoded fully here, independently of
 * posthog.c (every gzip string inflated with libdeflate), and re-read with
 * the jansson oracle. */
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
#include "rules/json.h"
#include "rules/posthog.h"
#include "rules/vendor.h"
#include "leak.h"
#include "engine_fixture.h"
#include "inflate_oracle.h"
#include "oracle.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs:\n"
                           "      allow: ['[name=plan]']\n"
                           "    text: ['.secret']\n"
                           "    block: ['.ad']\n"
                           "    journey:\n"
                           "      name: loan\n"
                           "      steps:\n"
                           "        - {name: personal, url: /apply/personal}\n"
                           "  props:\n"
                           "    fields:\n"
                           "      - {path: '$[*].properties', action: mask}\n"
                           "  events:\n"
                           "    fields:\n"
                           "      - {path: '$.events[1]', action: redact}\n"
                           "  fielded:\n"
                           "    fields:\n"
                           "      - {path: '$.events[0].data', action: redact}\n"
                           "      - {path: '$.events[1].data.adds', action: drop}\n";

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
    (void)state;
    return engine_fixture_open(yaml, sizeof(yaml) - 1, &fx.conf, &fx.key, &fx.err);
}

static int group_teardown(void **state)
{
    (void)state;
    engine_fixture_close(fx.conf, fx.key);
    return 0;
}

/* Mask in[0..n) as PostHog under policy pol. */
static enum redact_status run_n(const char *pol, const char *in, size_t n)
{
    const struct policy *p = conf_policy_by_name(fx.conf, pol);
    struct redact_env env = {.policy = p,
                             .json = json_default_limits,
                             .pseudonym = pseudo_engine_fn,
                             .pseudonym_ctx = fx.key,
                             .context = &fx.ctx};
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

/* ---- decoding the output, independently of posthog.c ---- */

/* The bytes of a string whose code points are all below U+0100 (what
 * strFromU8(b, true) makes), or NULL; free() it. */
static unsigned char *latin1_bytes(const struct json *s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s->u.s;
    unsigned char *d = malloc(s->len + 1);

    assert_non_null(d);
    *n = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (p[i] < 0x80) {
            d[(*n)++] = p[i];
        } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < s->len) {
            d[(*n)++] = (unsigned char)((p[i] & 3) << 6 | (p[i + 1] & 0x3F));
            i++;
        } else {
            free(d);
            return NULL;
        }
    }
    return d;
}

/* The text a gzip string holds, or NULL when s is not one; free() it. */
static char *string_inflate(const struct json *s, size_t *n)
{
    size_t zn;
    unsigned char *z = s->type == JSON_STRING ? latin1_bytes(s, &zn) : NULL;
    char *text = NULL;

    if (z != NULL && zn > 3 && z[0] == 0x1f && z[1] == 0x8b && z[2] == 8)
        text = oracle_inflate(ORACLE_GZIP, z, zn, n);
    free(z);
    return text;
}

static size_t decode_text(const char *s, size_t n, struct buf *dec);

/* Every gzip string under v, inflated and appended to dec (and what it
 * holds decoded in turn). Returns how many there were. */
static size_t decode_tree(const struct json *v, struct buf *dec)
{
    size_t count = 0, n;
    char *text;

    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++)
            count +=
                decode_tree(v->type == JSON_ARRAY ? v->u.items[i] : v->u.members[i].value, dec);
        return count;
    }
    if ((text = string_inflate(v, &n)) == NULL)
        return 0;
    assert_int_equal(buf_append(dec, text, n), 0);
    assert_int_equal(buf_putc(dec, '\n'), 0);
    count = 1 + decode_text(text, n, dec);
    free(text);
    return count;
}

/* The JSON text s[0..n): its gzip strings inflated into dec. */
static size_t decode_text(const char *s, size_t n, struct buf *dec)
{
    struct arena *a = arena_new(0);
    struct json *root = NULL;
    struct err e;
    size_t count;

    if (json_parse(a, s, n, NULL, &root, &e) != JSON_OK)
        fail_msg("output is not strict JSON: %s", e.msg);
    count = decode_tree(root, dec);
    arena_free(a);
    return count;
}

/* The node at a dotted path ("0.properties.$snapshot_data.1.data"). */
static const struct json *node_at(const struct json *v, const char *path)
{
    while (v != NULL && *path) {
        size_t len = strcspn(path, ".");
        const struct json *next = NULL;
        if (v->type == JSON_ARRAY) {
            size_t i = strtoul(path, NULL, 10);
            next = i < v->len ? v->u.items[i] : NULL;
        }
        for (size_t i = 0; v->type == JSON_OBJECT && i < v->len; i++)
            if (v->u.members[i].klen == len && memcmp(v->u.members[i].key, path, len) == 0)
                next = v->u.members[i].value;
        v = next;
        path += len + (path[len] == '.');
    }
    return v;
}

/* The JSON text the gzip string at path of the output holds; free() it. */
static char *out_field(const char *path, size_t *n)
{
    struct arena *a = arena_new(0);
    struct json *root = NULL;
    const struct json *v;
    struct err e;
    char *text;

    assert_int_equal(json_parse(a, fx.out.data, fx.out.len, NULL, &root, &e), JSON_OK);
    v = node_at(root, path);
    if (v == NULL)
        fail_msg("no %s in the output", path);
    text = string_inflate(v, n);
    if (text == NULL)
        fail_msg("%s is not a gzip string", path);
    arena_free(a);
    return text;
}

/* No canary in any form the output could hold it: the output and every
 * gzip string in it, inflated (recursively), are searched in plain and
 * encoded forms. Returns how many gzip strings the output held. */
static size_t assert_clean(const struct buf *b)
{
    static const char *const encoded[] = {"NDExMSAxMTExIDExMTEgMTExMQ", /* base64 of the card */
                                          "amFuZS5kb2VAZXhhbXBsZS5jb20", "MDc4LTA1LTExMjA",
                                          "\\u0034111"};
    struct buf dec;
    size_t fields;

    buf_init(&dec, 0);
    assert_true(oracle_valid(b->data, b->len));
    assert_int_equal(buf_append(&dec, b->data, b->len), 0);
    fields = decode_text(b->data, b->len, &dec);
    for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
        if (memmem(dec.data, dec.len, canaries[i], strlen(canaries[i])) != NULL)
            fail_msg("canary %s survived", canaries[i]);
    for (size_t i = 0; i < sizeof(encoded) / sizeof(encoded[0]); i++)
        if (memmem(dec.data, dec.len, encoded[i], strlen(encoded[i])) != NULL)
            fail_msg("encoded canary %zu survived", i);
    buf_free(&dec);
    return fields;
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

/* The string at path of the JSON text the gzip field at field holds. */
static void field_expect(const char *field, const char *path, const char *needle)
{
    size_t n;
    char *text = out_field(field, &n);
    const char *v = oracle_string(text, n, path);

    if (v == NULL)
        fail_msg("%s: no string at %s", field, path);
    if (needle == NULL)
        assert_stars(v);
    else if (strstr(v, needle) == NULL)
        fail_msg("%s: %s lacks %s", field, path, needle);
    free(text);
}

/* The /s/ body of one session: compressed full snapshot and mutation,
 * input events with maskAllInputs false, a journey URL. The compressed
 * fields go back compressed, cv kept; what they hold is masked. */
static void test_snapshot_fixture(void **state)
{
    size_t n;
    char *in = engine_fixture_read("posthog-snapshot.json", &n);

    (void)state;
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    /* one full snapshot, one mutation's four lists */
    assert_int_equal(assert_clean(&fx.out), 5);
    assert_clean(&fx.ctx);
    assert_string_equal(OUT_STR(SNAP(0, ".1.cv")), "2024-10");
    assert_int_equal(OUT_KIND(SNAP(0, ".1.data")), ORACLE_STRING);
    field_expect(SNAP(0, ".1.data"), "node.childNodes.1.childNodes.1.tagName", "body");
    /* card input masked; the allowed plan input kept: its node came from
     * the compressed full snapshot, so the map saw the inflated tree */
    assert_stars(OUT_STR(SNAP(0, ".2.data.text")));
    assert_string_equal(OUT_STR(SNAP(0, ".3.data.text")), "platinum");
    assert_int_equal(OUT_KIND(SNAP(0, ".2.cv")), ORACLE_ABSENT); /* it came plain */
    /* the second $snapshot event (same session and window) shares the map:
     * its compressed mutation's attribute for node 8 is an input's */
    assert_string_equal(OUT_STR(SNAP(1, ".0.cv")), "2024-10");
    field_expect(SNAP(1, ".0.data.attributes"), "0.attributes.value", NULL);
    field_expect(SNAP(1, ".0.data.texts"), "0.value", "[REDACTED:ssn]");
    field_expect(SNAP(1, ".0.data.adds"), "0.node.textContent", "[REDACTED:iban]");
    {
        char *removes = out_field(SNAP(1, ".0.data.removes"), &n);
        assert_int_equal(oracle_kind(removes, n, ""), ORACLE_ARRAY);
        assert_int_equal(oracle_size(removes, n, ""), 0);
        free(removes);
    }
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

/* Each compressed field is the gzip (libdeflate, level 6, as fixed by
 * VENDOR_DEFLATE_LEVEL) of the JSON text it holds, so the output is the
 * same bytes every time; and scrim reads what it wrote. */
static void test_compression_is_deterministic(void **state)
{
    static const char *const fields[] = {SNAP(0, ".1.data"), SNAP(1, ".0.data.texts"),
                                         SNAP(1, ".0.data.adds")};
    size_t n;
    char *in = engine_fixture_read("posthog-snapshot.json", &n);
    struct buf first;

    (void)state;
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        struct arena *a = arena_new(0);
        struct json *root;
        struct err e;
        size_t tn, zn, bn;
        char *text = out_field(fields[i], &tn);
        unsigned char *z = gzip_of(text, tn, &zn), *b;
        assert_int_equal(json_parse(a, fx.out.data, fx.out.len, NULL, &root, &e), JSON_OK);
        b = latin1_bytes(node_at(root, fields[i]), &bn);
        assert_non_null(b);
        assert_int_equal(bn, zn);
        assert_memory_equal(b, z, zn);
        free(b);
        free(z);
        free(text);
        arena_free(a);
    }
    buf_init(&first, 0);
    assert_int_equal(buf_append(&first, fx.out.data, fx.out.len), 0);
    done();
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    assert_int_equal(fx.out.len, first.len);
    assert_memory_equal(fx.out.data, first.data, first.len);
    done();
    /* masked again, the masked batch is unchanged */
    assert_int_equal(run_n("p", first.data, first.len), REDACT_OK);
    assert_int_equal(fx.out.len, first.len);
    assert_memory_equal(fx.out.data, first.data, first.len);
    done();
    buf_free(&first);
    xfree(in);
}

/* /e/: {api_key, batch, sent_at} with $pageview and $autocapture. */
static void test_batch_fixture(void **state)
{
    size_t n;
    char *in = engine_fixture_read("posthog-batch.json", &n);

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

#define BATCH(i, rest) "batch." #i ".properties." rest

/* /e/ as posthog-js 1.449.2 sends it, autocapture properties made by its
 * own code: $input_value (capture_value_css_selector_allowlist) masked
 * unless the policy allows the input, detectors on element text,
 * attributes, URLs and person properties. */
static void test_autocapture_fixture(void **state)
{
    size_t n;
    char *in = engine_fixture_read("posthog-autocapture.json", &n);

    (void)state;
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    assert_clean(&fx.out);
    /* the email, notes (a textarea) inputs: values masked; plan allowed */
    assert_stars(OUT_STR(BATCH(0, "$input_value")));
    assert_string_equal(OUT_STR(BATCH(1, "$input_value")), "platinum");
    assert_stars(OUT_STR(BATCH(2, "$input_value")));
    assert_non_null(strstr(OUT_STR(BATCH(0, "$elements_chain")), "attr__name=\"email\""));
    /* the pay button's text, in the three places it is */
    assert_non_null(strstr(OUT_STR(BATCH(3, "$el_text")), "[REDACTED:card]"));
    assert_non_null(strstr(OUT_STR(BATCH(3, "$elements.0.$el_text")), "[REDACTED:card]"));
    assert_non_null(
        strstr(OUT_STR(BATCH(3, "$elements_chain")), "text=\"Pay with card [REDACTED:card]\""));
    assert_non_null(
        strstr(OUT_STR(BATCH(3, "$elements.1.attr__data-customer")), "[REDACTED:email]"));
    assert_non_null(strstr(OUT_STR(BATCH(4, "$el_text")), "[REDACTED:email]"));
    assert_non_null(strstr(OUT_STR(BATCH(4, "$current_url")), "[REDACTED:email]"));
    assert_non_null(strstr(OUT_STR(BATCH(5, "$set.ssn")), "[REDACTED:ssn]"));
    assert_non_null(strstr(OUT_STR(BATCH(5, "$set_once.first_iban")), "[REDACTED:iban]"));
    assert_int_equal(count_of("inputs.default"), 2);
    xfree(in);
    done();
}

/* One $autocapture event whose target is elements[0] of els and whose
 * chain is chain, with $el_text text and $input_value value. */
static void auto_event(struct buf *b, const char *els, const char *chain, const char *text,
                       const char *value)
{
    assert_int_equal(buf_printf(b,
                                "{\"event\":\"$autocapture\",\"properties\":{\"$event_type\":"
                                "\"change\",\"$elements\":%s,\"$elements_chain\":\"%s\","
                                "\"$el_text\":\"%s\",\"$input_value\":\"%s\"}}",
                                els, chain, text, value),
                     0);
}

/* A client that sends more of an element than posthog-js does (an old or
 * patched SDK): an input's value attributes and text are masked wherever
 * they are, by the same rules the rrweb format applies to DOM nodes. */
static void test_autocapture_selectors(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_putc(&b, '['), 0);
    /* 0: a text input: value, placeholder, text masked; its name kept */
    auto_event(&b,
               "[{\"tag_name\":\"input\",\"$el_text\":\"hunter2\",\"attr__name\":\"secret\","
               "\"attr__value\":\"hunter2\",\"attr__placeholder\":\"jane.doe@example.com\"},"
               "{\"tag_name\":\"form\",\"attr__id\":\"apply\"}]",
               "input:attr__name=\\\"secret\\\"attr__value=\\\"hunter2\\\"text=\\\"hunter2\\\";"
               "form:attr__id=\\\"apply\\\"",
               "hunter2", "hunter2");
    assert_int_equal(buf_putc(&b, ','), 0);
    /* 1: a password input named as an allowed one: still masked */
    auto_event(&b, "[{\"tag_name\":\"input\",\"attr__name\":\"plan\",\"attr__type\":\"password\"}]",
               "input:attr__name=\\\"plan\\\"attr__type=\\\"password\\\"", "", "hunter2");
    assert_int_equal(buf_putc(&b, ','), 0);
    /* 2: an option of the allowed select: kept */
    auto_event(&b,
               "[{\"tag_name\":\"option\",\"$el_text\":\"gold\"},{\"tag_name\":\"select\","
               "\"attr__name\":\"plan\"}]",
               "option:text=\\\"gold\\\";select:attr__name=\\\"plan\\\"", "gold", "gold");
    assert_int_equal(buf_putc(&b, ','), 0);
    /* 3: a button inside a blocked element: text and every attribute */
    auto_event(&b,
               "[{\"tag_name\":\"a\",\"$el_text\":\"offer\",\"attr__href\":\"/x?u=42\"},"
               "{\"tag_name\":\"div\",\"attr__class\":\"ad\",\"attr__data-user\":\"u42\"}]",
               "a:attr__href=\\\"/x?u=42\\\"href=\\\"/x?u=42\\\"text=\\\"offer\\\";div.ad:"
               "attr__class=\\\"ad\\\"attr__data-user=\\\"u42\\\"",
               "offer", "u42");
    assert_int_equal(buf_putc(&b, ','), 0);
    /* 4: text under a text selector: its text, not its attributes */
    auto_event(&b,
               "[{\"tag_name\":\"span\",\"$el_text\":\"Jane\",\"attr__title\":\"greeting\"},"
               "{\"tag_name\":\"p\",\"attr__class\":\"secret\"}]",
               "span:attr__title=\\\"greeting\\\"text=\\\"Jane; hi\\\";p.secret:attr__class="
               "\\\"secret\\\"",
               "Jane", "");
    assert_int_equal(buf_putc(&b, ','), 0);
    /* 5: contenteditable is an input */
    auto_event(&b,
               "[{\"tag_name\":\"div\",\"attr__contenteditable\":\"true\",\"$el_text\":\"x1\"}]",
               "div:attr__contenteditable=\\\"true\\\"text=\\\"x1\\\"", "x1", "x1");
    assert_int_equal(buf_putc(&b, ']'), 0);
    assert_int_equal(run_n("p", b.data, b.len), REDACT_OK);
    assert_clean(&fx.out);
    assert_stars(OUT_STR("0.properties.$elements.0.attr__value"));
    assert_stars(OUT_STR("0.properties.$elements.0.attr__placeholder"));
    assert_stars(OUT_STR("0.properties.$elements.0.$el_text"));
    assert_string_equal(OUT_STR("0.properties.$elements.0.attr__name"), "secret");
    assert_stars(OUT_STR("0.properties.$el_text"));
    assert_stars(OUT_STR("0.properties.$input_value"));
    assert_string_equal(OUT_STR("0.properties.$elements_chain"),
                        "input:attr__name=\"secret\"attr__value=\"*******\"text=\"*******\";"
                        "form:attr__id=\"apply\"");
    assert_stars(OUT_STR("1.properties.$input_value"));
    assert_string_equal(OUT_STR("2.properties.$input_value"), "gold");
    assert_string_equal(OUT_STR("2.properties.$el_text"), "gold");
    assert_stars(OUT_STR("3.properties.$elements.0.attr__href"));
    assert_stars(OUT_STR("3.properties.$elements.1.attr__data-user"));
    assert_stars(OUT_STR("3.properties.$el_text"));
    assert_stars(OUT_STR("3.properties.$input_value"));
    assert_string_equal(OUT_STR("3.properties.$elements_chain"),
                        "a:attr__href=\"*******\"href=\"*******\"text=\"*****\";div.**:"
                        "attr__class=\"**\"attr__data-user=\"***\"");
    assert_stars(OUT_STR("4.properties.$el_text"));
    assert_string_equal(OUT_STR("4.properties.$elements.0.attr__title"), "greeting");
    assert_string_equal(OUT_STR("4.properties.$elements_chain"),
                        "span:attr__title=\"greeting\"text=\"********\";p.secret:attr__class="
                        "\"secret\"");
    assert_stars(OUT_STR("5.properties.$el_text"));
    assert_stars(OUT_STR("5.properties.$input_value"));
    /* event 3: four values of $elements, six of the chain, $el_text */
    assert_int_equal(count_of("block"), 11);
    done();
    buf_free(&b);
}

/* A chain that does not read as posthog-js writes one is masked whole, and
 * the target it would have named is unknown: its text and value go too. */
static void test_unreadable_chain(void **state)
{
    static const char *const chains[] = {
        "input:attr__value=\\\"hunter2", /* no closing quote */
        "input.x",                       /* no ':' */
        "input:=\\\"hunter2\\\"",        /* no key */
        "input:text=\\\"hunter2\\\";",   /* trailing ';' */
        "input:text=hunter2",            /* unquoted */
    };
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
        buf_reset(&b);
        assert_int_equal(buf_printf(&b,
                                    "{\"event\":\"$autocapture\",\"properties\":{"
                                    "\"$elements_chain\":\"%s\",\"$el_text\":\"hunter2\","
                                    "\"$input_value\":\"hunter2\"}}",
                                    chains[i]),
                         0);
        assert_int_equal(run_n("p", b.data, b.len), REDACT_OK);
        assert_clean(&fx.out);
        assert_stars(OUT_STR("properties.$elements_chain"));
        assert_stars(OUT_STR("properties.$el_text"));
        assert_stars(OUT_STR("properties.$input_value"));
        done();
    }
    buf_free(&b);
}

/* /flags/: the request object, field rules and detectors; distinct ids
 * that are emails are the usual leak there. */
static void test_flags_fixture(void **state)
{
    size_t n;
    char *in = engine_fixture_read("posthog-flags.json", &n);
    char key[VENDOR_KEY_MAX + 1];

    (void)state;
    assert_int_equal(run_n("p", in, n), REDACT_OK);
    assert_clean(&fx.out);
    assert_non_null(strstr(OUT_STR("distinct_id"), "[REDACTED:email]"));
    assert_non_null(strstr(OUT_STR("person_properties.email"), "[REDACTED:email]"));
    assert_non_null(strstr(OUT_STR("person_properties.ssn"), "[REDACTED:ssn]"));
    assert_non_null(strstr(OUT_STR("person_properties.$initial_current_url"), "[REDACTED:email]"));
    assert_string_equal(OUT_STR("token"), "phc_k2Xq7bC9nR4tV1wY8zA3sD6fG0hJ5lM2pQ7rT9uW4eE");
    assert_string_equal(OUT_STR("$anon_distinct_id"), "0193a1b2-0000-7000-8000-000000000001");
    assert_int_equal(fx.ctx.len, 0);
    assert_int_equal(vendor_key_find(FORMAT_POSTHOG, in, n, NULL, 0, NULL, 0, key, sizeof(key)), 0);
    assert_string_equal(key, "phc_k2Xq7bC9nR4tV1wY8zA3sD6fG0hJ5lM2pQ7rT9uW4eE");
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
    assert_int_equal(assert_clean(&fx.out), 4);
    /* an unknown node's text is masked whole (unknown means sensitive) */
    field_expect("properties.$snapshot_data.0.data.texts", "0.value", NULL);
    assert_string_equal(OUT_STR("properties.$snapshot_data.0.cv"), "2024-10");
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
    assert_int_equal(assert_clean(&fx.out), 0); /* they came plain, they stay plain */
    assert_null(strstr(fx.out.data, "\"cv\""));
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
    char *in = engine_fixture_read("posthog-snapshot.json", &n);

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

/* Rules that change a compressed field's shape: a full snapshot whose
 * data a rule redacted is no longer what the player inflates, so it goes
 * plain without cv; a mutation that lost a list keeps the others
 * compressed. */
static void test_field_rules_on_compressed_fields(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    snap_open(&b, "w1");
    assert_int_equal(buf_puts(&b, "{\"type\":2,\"timestamp\":1,\"cv\":\"2024-10\",\"data\":"), 0);
    gz_field(&b, "{\"node\":{\"type\":0,\"id\":1,\"childNodes\":[]},\"initialOffset\":"
                 "{\"left\":0,\"top\":0}}");
    assert_int_equal(buf_puts(&b, "},{\"type\":3,\"timestamp\":2,\"cv\":\"2024-10\",\"data\":{"
                                  "\"source\":0,\"texts\":"),
                     0);
    gz_field(&b, "[{\"id\":1,\"value\":\"mail jane.doe@example.com\"}]");
    assert_int_equal(buf_puts(&b, ",\"attributes\":"), 0);
    gz_field(&b, "[]");
    assert_int_equal(buf_puts(&b, ",\"removes\":"), 0);
    gz_field(&b, "[]");
    assert_int_equal(buf_puts(&b, ",\"adds\":"), 0);
    gz_field(&b, "[{\"parentId\":1,\"nextId\":null,\"node\":{\"type\":3,\"id\":2,"
                 "\"textContent\":\"078-05-1120\"}}]");
    assert_int_equal(buf_puts(&b, "}}]}}"), 0);
    assert_int_equal(run_n("fielded", b.data, b.len), REDACT_OK);
    assert_int_equal(assert_clean(&fx.out), 3);
    assert_string_equal(OUT_STR("properties.$snapshot_data.0.data"), "[REDACTED]");
    assert_int_equal(OUT_KIND("properties.$snapshot_data.0.cv"), ORACLE_ABSENT);
    assert_string_equal(OUT_STR("properties.$snapshot_data.1.cv"), "2024-10");
    assert_int_equal(OUT_KIND("properties.$snapshot_data.1.data.adds"), ORACLE_ABSENT);
    assert_int_equal(OUT_KIND("properties.$snapshot_data.1.data.texts"), ORACLE_STRING);
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
    /* cv where posthog-js puts none: a Meta event, a stylesheet rule's texts */
    buf_reset(&b);
    snap_open(&b, "w1");
    assert_int_equal(buf_puts(&b,
                              "{\"type\":4,\"timestamp\":1,\"cv\":\"2024-10\",\"data\":"
                              "{\"href\":\"https://example.com/\",\"width\":1,\"height\":1}}]}}"),
                     0);
    expect_bad("cv on a Meta event", b.data, b.len, REDACT_BAD);
    buf_reset(&b);
    snap_open(&b, "w1");
    assert_int_equal(buf_puts(&b, "{\"type\":3,\"timestamp\":1,\"cv\":\"2024-10\",\"data\":"
                                  "{\"source\":8,\"id\":1,\"texts\":"),
                     0);
    gz_field(&b, "[{\"id\":1,\"value\":\"078-05-1120\"}]");
    assert_int_equal(buf_puts(&b, "}}]}}"), 0);
    expect_bad("compressed texts in a stylesheet rule", b.data, b.len, REDACT_BAD);
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
        /* a flags request has a distinct id and no properties */
        "{\"token\":\"phc_x\"}",
        "{\"distinct_id\":\"d\",\"properties\":{}}",
        /* autocapture elements are an array of objects, the chain a string */
        "[{\"event\":\"$autocapture\",\"properties\":{\"$elements\":{}}}]",
        "[{\"event\":\"$autocapture\",\"properties\":{\"$elements\":[1]}}]",
        "[{\"event\":\"$autocapture\",\"properties\":{\"$elements_chain\":7}}]",
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

/* Fail the Nth allocation inside engine_redact for N = 0, 1, ... until the
 * fixture goes through: every failure is clean, nothing leaks. */
static void torture(const char *name)
{
    size_t n;
    char *in = engine_fixture_read(name, &n);

    for (long k = 0; k < 2000; k++) {
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
            assert_true(k > 0); /* some allocation did fail first */
            xfree(in);
            return;
        }
    }
    fail_msg("%s never succeeded within 2000 allocations", name);
}

static void test_torture_allocation_failures(void **state)
{
    (void)state;
    torture("posthog-snapshot.json");
    torture("posthog-autocapture.json");
    torture("posthog-flags.json");
}

/* ---- posthog_unwrap ---- */

static const char body_json[] = "[{\"event\":\"$pageview\",\"properties\":{\"token\":\"phc_x\"}}]";

static enum decode_status unwrap(const char *ctype, const char *cenc, const char *query,
                                 const void *body, size_t n, size_t max, struct buf *out,
                                 enum posthog_wrap *how)
{
    struct posthog_http h = {ctype, ctype ? strlen(ctype) : 0, cenc, cenc ? strlen(cenc) : 0,
                             query, query ? strlen(query) : 0};
    struct decode_limits lim = {max, 100};

    buf_init(out, max);
    return posthog_unwrap(&lim, &h, body, n, out, how);
}

static void expect_unwrap(const char *ctype, const char *cenc, const char *query, const void *body,
                          size_t n, enum decode_status want, enum posthog_wrap want_how)
{
    struct buf out;
    enum posthog_wrap how = (enum posthog_wrap) - 1;
    enum decode_status st = unwrap(ctype, cenc, query, body, n, 1 << 20, &out, &how);

    if (st != want)
        fail_msg("unwrap %s/%s/%s: %s, want %s", ctype ? ctype : "-", cenc ? cenc : "-",
                 query ? query : "-", decode_status_name(st), decode_status_name(want));
    if (how != want_how)
        fail_msg("unwrap %s/%s/%s: wrapped as %d, want %d", ctype ? ctype : "-", cenc ? cenc : "-",
                 query ? query : "-", how, want_how);
    if (want == DECODE_OK) {
        assert_int_equal(out.len, sizeof(body_json) - 1);
        assert_memory_equal(out.data, body_json, out.len);
    } else {
        assert_int_equal(out.len, 0);
    }
    buf_free(&out);
}

/* encodeURIComponent of s[0..n), written here from the ECMAScript spec:
 * everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) as %XX. */
static void uri_encode(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != 0 && strchr("-_.!~*'()", c) != NULL))
            assert_int_equal(buf_putc(b, c), 0);
        else
            assert_int_equal(buf_printf(b, "%%%02X", c), 0);
    }
}

/* data=encodeURIComponent(base64(body_json)), as posthog-js sends it. */
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
        uri_encode(b, q, 4);
    }
}

static void test_unwrap_transports(void **state)
{
    static const char form_ct[] = "application/x-www-form-urlencoded; charset=UTF-8";
    size_t zn;
    unsigned char *z = gzip_of(body_json, sizeof(body_json) - 1, &zn);
    struct buf f;

    (void)state;
    expect_unwrap("application/json", NULL, NULL, body_json, sizeof(body_json) - 1, DECODE_OK,
                  POSTHOG_WRAP_PLAIN);
    expect_unwrap("text/plain", NULL, "compression=gzip-js&ver=1.449.2", z, zn, DECODE_OK,
                  POSTHOG_WRAP_GZIP);
    expect_unwrap("text/plain", NULL, "ver=1.449.2&_=1732885200000", z, zn, DECODE_OK,
                  POSTHOG_WRAP_GZIP);
    expect_unwrap("application/json", "gzip", NULL, z, zn, DECODE_OK, POSTHOG_WRAP_GZIP);
    expect_unwrap("application/json", " identity ", NULL, body_json, sizeof(body_json) - 1,
                  DECODE_OK, POSTHOG_WRAP_PLAIN);
    form_b64(&f);
    expect_unwrap(form_ct, NULL, "compression=base64", f.data, f.len, DECODE_OK,
                  POSTHOG_WRAP_BASE64);
    expect_unwrap(form_ct, NULL, "compression=base64&compression=base64", f.data, f.len, DECODE_BAD,
                  POSTHOG_WRAP_PLAIN);
    assert_int_equal(buf_puts(&f, "&ver=1"), 0);
    expect_unwrap(form_ct, NULL, "compression=base64", f.data, f.len, DECODE_BAD,
                  POSTHOG_WRAP_PLAIN);
    buf_free(&f);
    buf_init(&f, 0);
    assert_int_equal(buf_puts(&f, "data="), 0);
    uri_encode(&f, body_json, sizeof(body_json) - 1);
    expect_unwrap(form_ct, NULL, NULL, f.data, f.len, DECODE_OK, POSTHOG_WRAP_FORM);
    expect_unwrap(form_ct, NULL, NULL, "data=%5G", 8, DECODE_BAD, POSTHOG_WRAP_PLAIN);
    buf_free(&f);
    expect_unwrap("text/plain", NULL, "compression=lz64", "x", 1, DECODE_UNSUPPORTED,
                  POSTHOG_WRAP_PLAIN);
    expect_unwrap("text/plain", NULL, "compression=gzip-js", body_json, sizeof(body_json) - 1,
                  DECODE_BAD, POSTHOG_WRAP_PLAIN);
    expect_unwrap("text/plain", NULL, "compression=gzip-js", z, zn - 4, DECODE_BAD,
                  POSTHOG_WRAP_PLAIN);
    expect_unwrap("text/plain", NULL, "compression=%zz", z, zn, DECODE_BAD, POSTHOG_WRAP_PLAIN);
    expect_unwrap("application/json", NULL, NULL, "", 0, DECODE_BAD, POSTHOG_WRAP_PLAIN);
    expect_unwrap("application/json", "br", NULL, z, zn, DECODE_UNSUPPORTED, POSTHOG_WRAP_PLAIN);
    {
        struct buf out;
        assert_int_equal(unwrap("text/plain", NULL, NULL, z, zn, 16, &out, NULL), DECODE_TOOBIG);
        assert_int_equal(out.len, 0);
        buf_free(&out);
    }
    free(z);
}

/* ---- posthog_wrap ---- */

/* Each wrapping is what posthog-js would send (computed here on its own),
 * and unwraps, with the headers the proxy sends for it, to the same JSON
 * and the same wrapping. */
static void test_wrap_round_trip(void **state)
{
    static const enum posthog_wrap all[] = {POSTHOG_WRAP_PLAIN, POSTHOG_WRAP_GZIP,
                                            POSTHOG_WRAP_BASE64, POSTHOG_WRAP_FORM};
    size_t n = sizeof(body_json) - 1, zn;
    unsigned char *z = gzip_of(body_json, n, &zn);

    (void)state;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        struct buf w, want, back;
        const char *comp = posthog_wrap_compression(all[i]);
        char query[64];
        enum posthog_wrap how;
        buf_init(&w, 0);
        buf_init(&want, 0);
        assert_int_equal(buf_puts(&w, "kept"), 0); /* appended after what is there */
        assert_int_equal(posthog_wrap(all[i], body_json, n, &w), 0);
        if (all[i] == POSTHOG_WRAP_PLAIN)
            assert_int_equal(buf_append(&want, body_json, n), 0);
        else if (all[i] == POSTHOG_WRAP_GZIP)
            assert_int_equal(buf_append(&want, z, zn), 0);
        else if (all[i] == POSTHOG_WRAP_BASE64)
            form_b64(&want);
        else {
            assert_int_equal(buf_puts(&want, "data="), 0);
            uri_encode(&want, body_json, n);
        }
        assert_int_equal(w.len, want.len + 4);
        assert_memory_equal(w.data, "kept", 4);
        assert_memory_equal(w.data + 4, want.data, want.len);
        snprintf(query, sizeof(query), "ver=1.449.2%s%s", comp ? "&compression=" : "",
                 comp ? comp : "");
        assert_int_equal(unwrap(posthog_wrap_content_type(all[i]), NULL, query, w.data + 4,
                                w.len - 4, 1 << 20, &back, &how),
                         DECODE_OK);
        assert_int_equal(how, all[i]);
        assert_int_equal(back.len, n);
        assert_memory_equal(back.data, body_json, n);
        buf_free(&w);
        buf_free(&want);
        buf_free(&back);
    }
    free(z);
}

/* Over out's maximum: -1, and out as it was. */
static void test_wrap_limits(void **state)
{
    static const enum posthog_wrap all[] = {POSTHOG_WRAP_PLAIN, POSTHOG_WRAP_GZIP,
                                            POSTHOG_WRAP_BASE64, POSTHOG_WRAP_FORM};

    (void)state;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        struct buf w;
        buf_init(&w, 24);
        assert_int_equal(buf_puts(&w, "kept"), 0);
        assert_int_equal(posthog_wrap(all[i], body_json, sizeof(body_json) - 1, &w), -1);
        assert_int_equal(w.len, 4);
        assert_memory_equal(w.data, "kept", 4);
        buf_free(&w);
    }
    assert_string_equal(posthog_wrap_content_type(POSTHOG_WRAP_GZIP), "text/plain");
    assert_string_equal(posthog_wrap_content_type(POSTHOG_WRAP_PLAIN), "application/json");
    assert_string_equal(posthog_wrap_content_type(POSTHOG_WRAP_BASE64),
                        "application/x-www-form-urlencoded");
    assert_null(posthog_wrap_compression(POSTHOG_WRAP_PLAIN));
    assert_null(posthog_wrap_compression(POSTHOG_WRAP_FORM));
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
    char *in = engine_fixture_read("posthog-snapshot.json", &n);

    (void)state;
    assert_int_equal(vendor_key_find(FORMAT_POSTHOG, in, n, NULL, 0, NULL, 0, key, sizeof(key)), 0);
    assert_string_equal(key, "phc_k2Xq7bC9nR4tV1wY8zA3sD6fG0hJ5lM2pQ7rT9uW4eE");
    xfree(in);
    in = engine_fixture_read("posthog-batch.json", &n);
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
        LEAK_TEST(test_compression_is_deterministic),
        LEAK_TEST(test_batch_fixture),
        LEAK_TEST(test_autocapture_fixture),
        LEAK_TEST(test_autocapture_selectors),
        LEAK_TEST(test_unreadable_chain),
        LEAK_TEST(test_flags_fixture),
        LEAK_TEST(test_escaped_canary_in_gzip_field),
        LEAK_TEST(test_windows_do_not_share_nodes),
        LEAK_TEST(test_single_event_object_data),
        LEAK_TEST(test_container_rule_covers_recording),
        LEAK_TEST(test_rrweb_paths_inside_recordings),
        LEAK_TEST(test_field_rules_on_compressed_fields),
        LEAK_TEST(test_malformed_compressed_fields),
        LEAK_TEST(test_malformed_batches),
        LEAK_TEST(test_inflate_limits),
        LEAK_TEST(test_torture_allocation_failures),
        LEAK_TEST(test_unwrap_transports),
        LEAK_TEST(test_wrap_round_trip),
        LEAK_TEST(test_wrap_limits),
        LEAK_TEST(test_vendor_key),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
