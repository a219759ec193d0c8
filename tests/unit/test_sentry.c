/* sentry: envelopes end to end through engine_redact, on fixtures built
 * the way @sentry/replay and @sentry/core build them
 * (tests/cli/payloads/sentry-replay.txt, and sentry-replay-zlib.bin with
 * the recording compressed by fflate's Zlib as the replay worker does).
 * Every output is re-framed by an independent reader here, a compressed
 * recording inflated by libdeflate directly, and each JSON part re-read
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
                           "    fields:\n"
                           "      - {path: $.user.username, action: hash}\n"
                           "    journey:\n"
                           "      name: loan\n"
                           "      steps:\n"
                           "        - {name: personal, url: /apply/personal}\n";

static const char *const canaries[] = {
    "4111 1111 1111 1111",
    "4111111111111111",
    "078-05-1120",
    "jane.doe@example.com",
    "hunter2",
    "jdoe",
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
};

static const char dsn[] =
    "https://0123456789abcdef0123456789abcdef@o4507000000000000.ingest.us.sentry.io/"
    "4507000000000001";

struct fixture {
    struct config *conf;
    struct pseudo_key *key;
    struct pii_scanner *scanner;
    struct arena *arena;
    struct buf out, ctx;
    struct redact_report rep;
    struct err err;
    long fail_after;
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

static enum redact_status run_n(const char *in, size_t n)
{
    const struct policy *p = conf_policy_by_name(fx.conf, "p");
    struct redact_env env = {
        p, NULL, json_default_limits, pseudo_engine_fn, fx.key, NULL, &fx.ctx, 0, {0, 0}, NULL};
    enum redact_status st;

    env.scanner = fx.scanner = pii_scanner_new(p->pii, NULL);
    fx.arena = arena_new(0);
    buf_init(&fx.out, 0);
    buf_init(&fx.ctx, 0);
    err_clear(&fx.err);
    mem_fail_after(fx.fail_after);
    st = engine_redact(&env, fx.arena, FORMAT_SENTRY, in, n, &fx.out, &fx.rep, &fx.err);
    mem_fail_after(-1);
    return st;
}

static enum redact_status run(const char *in)
{
    return run_n(in, strlen(in));
}

static void done(void)
{
    pii_scanner_free(fx.scanner);
    arena_free(fx.arena);
    buf_free(&fx.out);
    buf_free(&fx.ctx);
}

/* An envelope as the relay reads it, written here independently of
 * sentry.c: header line, then items framed by their explicit length. */
struct part {
    const char *s;
    size_t n;
};

struct framed {
    struct part header;
    struct part item_hdr[8], payload[8];
    size_t n;
};

static void reframe(const struct buf *b, struct framed *f)
{
    const char *p = b->data, *end = b->data + b->len, *nl = memchr(p, '\n', b->len);

    memset(f, 0, sizeof(*f));
    assert_non_null(nl);
    f->header = (struct part){p, (size_t)(nl - p)};
    p = nl + 1;
    while (p < end) {
        const char *len;
        size_t n;
        assert_true(f->n < 8);
        nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        f->item_hdr[f->n] = (struct part){p, (size_t)(nl - p)};
        assert_true(oracle_valid(p, (size_t)(nl - p)));
        len = strstr(p, "\"length\":");
        assert_true(len != NULL && len < nl);
        n = strtoul(len + 9, NULL, 10);
        assert_true(n <= (size_t)(end - nl - 1));
        f->payload[f->n++] = (struct part){nl + 1, n};
        p = nl + 1 + n;
        if (p < end) {
            assert_int_equal(*p, '\n');
            p++;
        }
    }
}

static void assert_no_canary(const char *s, size_t n)
{
    static const char *const encoded[] = {"NDExMSAxMTExIDExMTEgMTExMQ",
                                          "amFuZS5kb2VAZXhhbXBsZS5jb20", "MDc4LTA1LTExMjA"};

    for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
        if (memmem(s, n, canaries[i], strlen(canaries[i])) != NULL)
            fail_msg("canary %s survived", canaries[i]);
    for (size_t i = 0; i < sizeof(encoded) / sizeof(encoded[0]); i++)
        if (memmem(s, n, encoded[i], strlen(encoded[i])) != NULL)
            fail_msg("encoded canary %zu survived", i);
}

static unsigned char *zlib_of(const void *s, size_t n, size_t *outn)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
    size_t cap = libdeflate_zlib_compress_bound(c, n);
    unsigned char *z = calloc(1, cap);

    assert_non_null(z);
    *outn = libdeflate_zlib_compress(c, s, n, z, cap);
    libdeflate_free_compressor(c);
    assert_true(*outn > 0);
    return z;
}

#define PART_STR(part, path) oracle_string((part).s, (part).n, path)

/* The recording payload: {"segment_id"} line, then the events, plain or
 * one zlib stream; *text is the inflated copy to free() (or NULL). */
static struct part recording_events(const struct part *rec, char **text)
{
    const char *nl = memchr(rec->s, '\n', rec->n);
    struct part ev;
    size_t n;

    assert_non_null(nl);
    assert_true(oracle_valid(rec->s, (size_t)(nl - rec->s)));
    ev = (struct part){nl + 1, rec->n - (size_t)(nl + 1 - rec->s)};
    *text = NULL;
    if (ev.n > 0 && ev.s[0] != '[') {
        *text = oracle_inflate(ORACLE_ZLIB, ev.s, ev.n, &n);
        if (*text == NULL)
            fail_msg("a recording is neither JSON nor zlib");
        ev = (struct part){*text, n};
    }
    return ev;
}

/* The replay fixtures' output: framed right, every part masked, the
 * recording compressed as it came (compressed says how). */
static void check_replay_output(int compressed)
{
    struct framed f;
    struct part ev;
    char *text;

    assert_no_canary(fx.out.data, fx.out.len);
    assert_no_canary(fx.ctx.data ? fx.ctx.data : "", fx.ctx.len);
    reframe(&fx.out, &f);
    assert_int_equal(f.n, 2);
    assert_true(oracle_valid(f.header.s, f.header.n));
    assert_string_equal(PART_STR(f.header, "dsn"), dsn); /* the routing key stays whole */
    assert_string_equal(PART_STR(f.item_hdr[0], "type"), "replay_event");
    assert_string_equal(PART_STR(f.item_hdr[1], "type"), "replay_recording");
    assert_true(oracle_valid(f.payload[0].s, f.payload[0].n));
    assert_non_null(strstr(PART_STR(f.payload[0], "user.data.iban"), "[REDACTED:iban]"));
    assert_non_null(strstr(PART_STR(f.payload[0], "user.email"), "[REDACTED:email]"));
    assert_int_equal(strlen(PART_STR(f.payload[0], "user.username")), PSEUDONYM_LEN);
    assert_non_null(strstr(PART_STR(f.payload[0], "urls.0"), "[REDACTED:email]"));
    ev = recording_events(&f.payload[1], &text);
    assert_int_equal(text != NULL, compressed);
    assert_no_canary(ev.s, ev.n);
    assert_int_equal(ev.s[0], '[');
    assert_true(oracle_valid(ev.s, ev.n));
    /* card input masked, plan allowed, SSN in a text node redacted */
    assert_int_equal(strspn(PART_STR(ev, "2.data.text"), "*"), 19);
    assert_string_equal(PART_STR(ev, "3.data.text"), "platinum");
    assert_non_null(strstr(PART_STR(ev, "5.data.texts.0.value"), "[REDACTED:ssn]"));
    assert_non_null(strstr(PART_STR(ev, "7.data.payload.description"), "[REDACTED:email]"));
    free(text);
    /* the journey, keyed by the replay id's pseudonym */
    assert_non_null(strstr(fx.ctx.data, "\"step\":\"personal\""));
    assert_null(strstr(fx.ctx.data, "5b9c3c1e2a7d4f6e8a0b1c2d3e4f5a6b"));
}

static void test_replay_plain(void **state)
{
    size_t n;
    char *in = engine_fixture_read("sentry-replay.txt", &n);

    (void)state;
    assert_int_equal(run_n(in, n), REDACT_OK);
    check_replay_output(0);
    xfree(in);
    done();
}

/* The zlib recording goes back as one zlib stream (scrim's, libdeflate at
 * VENDOR_DEFLATE_LEVEL) with its new length, holding the same masked
 * events as the plain fixture gives; the rest of the envelope is the
 * same bytes. */
static void test_replay_zlib(void **state)
{
    size_t n, pn, en, zn;
    char *in = engine_fixture_read("sentry-replay-zlib.bin", &n), *plain, *text, *ptext;
    struct buf first;
    struct framed fz, fp;
    struct part ez, ep;
    unsigned char *z;

    (void)state;
    assert_non_null(memmem(in, n, "}\n\x78", 3)); /* the fixture really is zlib */
    assert_int_equal(run_n(in, n), REDACT_OK);
    check_replay_output(1);
    buf_init(&first, 0);
    assert_int_equal(buf_append(&first, fx.out.data, fx.out.len), 0);
    done();
    plain = engine_fixture_read("sentry-replay.txt", &pn);
    assert_int_equal(run_n(plain, pn), REDACT_OK);
    reframe(&first, &fz);
    reframe(&fx.out, &fp);
    assert_int_equal(fz.header.n, fp.header.n);
    assert_memory_equal(fz.header.s, fp.header.s, fp.header.n);
    assert_int_equal(fz.payload[0].n, fp.payload[0].n);
    assert_memory_equal(fz.payload[0].s, fp.payload[0].s, fp.payload[0].n);
    ez = recording_events(&fz.payload[1], &text);
    ep = recording_events(&fp.payload[1], &ptext);
    assert_null(ptext);
    assert_int_equal(ez.n, ep.n);
    assert_memory_equal(ez.s, ep.s, ep.n);
    /* deterministic: the stream is libdeflate's at the fixed level */
    z = zlib_of(ez.s, ez.n, &zn);
    en = fz.payload[1].n - (size_t)((const char *)memchr(fz.payload[1].s, '\n', fz.payload[1].n) +
                                    1 - fz.payload[1].s);
    assert_int_equal(en, zn);
    assert_memory_equal(fz.payload[1].s + fz.payload[1].n - en, z, zn);
    free(z);
    free(text);
    done();
    buf_free(&first);
    xfree(in);
    xfree(plain);
}

/* An envelope with one recording whose events are events[0..en),
 * compressed or not. */
static void recording_envelope(struct buf *b, const char *events, size_t en, int compress)
{
    size_t zn = en;
    unsigned char *z = compress ? zlib_of(events, en, &zn) : NULL;

    buf_reset(b);
    assert_int_equal(buf_printf(b,
                                "{\"event_id\":\"5b9c3c1e2a7d4f6e8a0b1c2d3e4f5a6b\"}\n"
                                "{\"type\":\"replay_recording\",\"length\":%zu}\n"
                                "{\"segment_id\":3}\n",
                                zn + 17),
                     0);
    assert_int_equal(buf_append(b, z ? (const char *)z : events, zn), 0);
    free(z);
}

/* Items without a length end at the next newline; other JSON item types
 * (an error event with breadcrumbs) get the rules too. */
static void test_implicit_lengths_and_events(void **state)
{
    static const char in[] =
        "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"sent_at\":\"2024-11-29T13:00:00Z\"}\n"
        "{\"type\":\"event\"}\n"
        "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"message\":\"card 4111 1111 1111 "
        "1111\",\"breadcrumbs\":{\"values\":[{\"category\":\"console\",\"message\":\"mail "
        "jane.doe@example.com\"}]}}\n"
        "{\"type\":\"client_report\"}\n"
        "{\"timestamp\":1732885200,\"discarded_events\":[]}\n";
    struct framed f;

    (void)state;
    assert_int_equal(run(in), REDACT_OK);
    assert_no_canary(fx.out.data, fx.out.len);
    reframe(&fx.out, &f);
    assert_int_equal(f.n, 2);
    assert_string_equal(PART_STR(f.item_hdr[0], "type"), "event");
    assert_non_null(strstr(PART_STR(f.payload[0], "message"), "[REDACTED:card]"));
    assert_string_equal(PART_STR(f.item_hdr[1], "type"), "client_report");
    assert_true(oracle_valid(f.payload[1].s, f.payload[1].n));
    assert_int_equal(fx.out.data[fx.out.len - 1], '}'); /* no trailing newline */
    done();
}

static void expect_bad(const char *what, const char *in, size_t n, enum redact_status want)
{
    enum redact_status st = run_n(in, n);

    if (st != want)
        fail_msg("%s: status %d (%s), want %d", what, st, fx.err.msg, want);
    assert_int_equal(fx.out.len, 0);
    assert_int_equal(fx.ctx.len, 0);
    assert_null(strstr(fx.err.msg, "4111"));
    assert_null(strstr(fx.err.msg, "jane"));
    done();
}

#define BAD(what, s) expect_bad(what, s, sizeof(s) - 1, REDACT_BAD)

static void test_malformed_envelopes(void **state)
{
    static const char ev[] = "[{\"type\":5,\"timestamp\":1,\"data\":{\"tag\":\"t\",\"payload\":"
                             "{\"id\":1,\"id\":2}}}]";
    size_t n;
    char *in = engine_fixture_read("sentry-replay.txt", &n);
    struct buf b;

    (void)state;
    expect_bad("truncated", in, n - 40, REDACT_BAD);
    expect_bad("header only, cut", in, 30, REDACT_BAD);
    memcpy(strstr(in, "\"length\":") + 9, "99", 2); /* length now wrong */
    expect_bad("length mismatch", in, n, REDACT_BAD);
    xfree(in);
    BAD("header not JSON", "{\"event_id\":1\n");
    BAD("header not object", "[1]\n{\"type\":\"event\"}\n{}");
    BAD("item header not JSON", "{}\n{type:event}\n{}");
    BAD("no type", "{}\n{\"length\":2}\n{}");
    BAD("length fraction", "{}\n{\"type\":\"event\",\"length\":2.0}\n{}");
    BAD("length negative", "{}\n{\"type\":\"event\",\"length\":-2}\n{}");
    BAD("length exponent", "{}\n{\"type\":\"event\",\"length\":2e0}\n{}");
    BAD("length short", "{}\n{\"type\":\"event\",\"length\":1}\n{}");
    BAD("length past the end", "{}\n{\"type\":\"event\",\"length\":9}\n{}");
    BAD("empty line", "{}\n{\"type\":\"event\"}\n{}\n\n{\"type\":\"event\"}\n{}");
    BAD("duplicate key", "{}\n{\"type\":\"event\",\"type\":\"event\"}\n{}");
    BAD("attachment", "{}\n{\"type\":\"attachment\",\"length\":3,\"filename\":\"a.txt\"}\nabc");
    BAD("unknown type", "{}\n{\"type\":\"nonsense\"}\n{}");
    BAD("event not JSON", "{}\n{\"type\":\"event\"}\nhello");
    BAD("dsn not a DSN", "{\"dsn\":\"mailto:jane.doe@example.com\"}\n");
    BAD("dsn without project", "{\"dsn\":\"https://abc@o1.ingest.sentry.io/\"}\n");
    /* an e-mail address is not a DSN key: it would pass undetected */
    BAD("dsn key with a dot", "{\"dsn\":\"https://jane.doe@example.com.io/1\"}\n");
    BAD("dsn host with a space", "{\"dsn\":\"https://abc@o1 x.io/1\"}\n");
    BAD("dsn port not a number", "{\"dsn\":\"https://abc@o1.io:x/1\"}\n");
    BAD("dsn empty secret", "{\"dsn\":\"https://abc:@o1.io/1\"}\n");
    BAD("recording without header line", "{}\n{\"type\":\"replay_recording\"}\n[]");
    buf_init(&b, 0);
    recording_envelope(&b, ev, sizeof(ev) - 1, 0);
    expect_bad("duplicate key in plain recording", b.data, b.len, REDACT_BAD);
    recording_envelope(&b, ev, sizeof(ev) - 1, 1);
    expect_bad("duplicate key in zlib recording", b.data, b.len, REDACT_BAD);
    recording_envelope(&b, "\x78\x9c garbage", 10, 0);
    expect_bad("bad zlib", b.data, b.len, REDACT_BAD);
    recording_envelope(&b, "{\"a\":1}", 7, 1);
    expect_bad("recording not a list", b.data, b.len, REDACT_BAD);
    buf_free(&b);
}

/* A zlib bomb is a 413, whatever its length says. */
static void test_inflate_limit(void **state)
{
    size_t big = 4 << 20;
    char *json = xmalloc(big);
    struct buf b;

    (void)state;
    json[0] = '[';
    memset(json + 1, ' ', big - 2);
    json[big - 1] = ']';
    buf_init(&b, 0);
    recording_envelope(&b, json, big, 1);
    expect_bad("zlib bomb", b.data, b.len, REDACT_TOOBIG);
    recording_envelope(&b, json, big, 0);
    assert_int_equal(run_n(b.data, b.len), REDACT_OK); /* the same events, plain, are fine */
    done();
    buf_free(&b);
    xfree(json);
}

static void test_torture_allocation_failures(void **state)
{
    size_t n;
    char *in = engine_fixture_read("sentry-replay-zlib.bin", &n);

    (void)state;
    for (long k = 0; k < 600; k++) {
        long before = mem_live();
        enum redact_status st;
        fx.fail_after = k;
        st = run_n(in, n);
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

/* ---- vendor_key_find ---- */

static int key_of(const char *env, const char *query, const char *auth, char *out)
{
    return vendor_key_find(FORMAT_SENTRY, env, strlen(env), query, query ? strlen(query) : 0, auth,
                           auth ? strlen(auth) : 0, out, VENDOR_KEY_MAX + 1);
}

static void test_vendor_key(void **state)
{
    static const char pk[] = "0123456789abcdef0123456789abcdef";
    char key[VENDOR_KEY_MAX + 1];
    size_t n;
    char *in = engine_fixture_read("sentry-replay-zlib.bin", &n);

    (void)state;
    assert_int_equal(vendor_key_find(FORMAT_SENTRY, in, n, NULL, 0, NULL, 0, key, sizeof(key)), 0);
    assert_string_equal(key, pk);
    xfree(in);
    assert_int_equal(key_of("{}\n", "sentry_key=abc&sentry_version=7", NULL, key), 0);
    assert_string_equal(key, "abc");
    assert_int_equal(
        key_of("{}", NULL, "Sentry sentry_version=7, sentry_client=x/1, sentry_key=abc", key), 0);
    assert_string_equal(key, "abc");
    assert_int_equal(key_of("{\"dsn\":\"https://abc:secret@sentry.example.com/sentry/42\"}\n",
                            "sentry_key=abc", "Sentry sentry_key=abc", key),
                     0);
    assert_string_equal(key, "abc");
    /* disagreement or ambiguity: no tenant */
    assert_int_equal(key_of("{}", "sentry_key=abc", "Sentry sentry_key=abd", key), -1);
    assert_string_equal(key, "");
    assert_int_equal(
        key_of("{\"dsn\":\"https://abd@o1.ingest.sentry.io/1\"}", "sentry_key=abc", NULL, key), -1);
    assert_int_equal(key_of("{}", NULL, "Sentry sentry_key=abc, sentry_key=abd", key), -1);
    assert_int_equal(key_of("{}", "sentry_key=abc&sentry_key=abc", NULL, key), -1);
    assert_int_equal(key_of("{}", NULL, NULL, key), -1);
    assert_int_equal(key_of("{\"dsn\":\"https://o1.ingest.sentry.io/1\"}", NULL, NULL, key), -1);
    assert_int_equal(key_of("{\"dsn\":7}", "sentry_key=abc", NULL, key), -1);
    assert_int_equal(key_of("not json", "sentry_key=abc", NULL, key), -1);
    assert_int_equal(key_of("{}", "sentry_key=a%20b", NULL, key), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_replay_plain),
        LEAK_TEST(test_replay_zlib),
        LEAK_TEST(test_implicit_lengths_and_events),
        LEAK_TEST(test_malformed_envelopes),
        LEAK_TEST(test_inflate_limit),
        LEAK_TEST(test_torture_allocation_failures),
        LEAK_TEST(test_vendor_key),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
