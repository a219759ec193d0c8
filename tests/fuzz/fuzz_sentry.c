/*
 * fuzz_sentry: engine_redact as `sentry` on arbitrary bytes. Invariants,
 * not only "no crash": a rejected envelope leaves the output and the
 * context records empty; an accepted one is an envelope the engine accepts
 * again, and no canary token of the decoded input (every part canonical,
 * zlib recordings inflated) survives in the decoded output (the same
 * decoding: scrim compresses a recording again when it came compressed) or
 * the records. The decoding here is this file's own, written from the
 * envelope format, not sentry.c's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/decode.h"
#include "rules/engine.h"

#include "rig.h"
#include "tests/fuzz/canary.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs: {allow: ['[name=plan]']}\n"
                           "    text: ['.secret']\n"
                           "    block: ['.ad']\n"
                           "    fields:\n"
                           "      - {path: $.user.email, action: hash}\n"
                           "    journey:\n"
                           "      name: j\n"
                           "      steps: [{name: s1, url: /a/*}]\n";

static struct config *conf;
static struct pseudo_key *key;
static struct pii_scanner *scanner;

static void init(void)
{
    rig_open(yaml, sizeof(yaml) - 1, &conf, &key, &scanner);
}

/* Append p[0..n) canonically when it is JSON, else as it is. */
static void canon(struct arena *a, const char *p, size_t n, struct buf *dec)
{
    struct json *t;
    struct err e;

    if (json_parse(a, p, n, NULL, &t, &e) != JSON_OK || json_write(dec, t))
        (void)buf_append(dec, p, n);
    (void)buf_putc(dec, '\n');
}

/* A recording payload: its header line, then events, inflated if need be. */
static void canon_recording(struct arena *a, const char *p, size_t n, struct buf *dec)
{
    struct decode_limits lim = {1 << 24, 1000};
    const char *nl = memchr(p, '\n', n);
    struct buf inf;

    canon(a, p, n, dec);
    if (nl == NULL)
        return;
    buf_init(&inf, 1 << 24);
    if (decode_zlib(&lim, nl + 1, n - (size_t)(nl + 1 - p), &inf) == DECODE_OK)
        canon(a, inf.data ? inf.data : "", inf.len, dec);
    else
        canon(a, nl + 1, n - (size_t)(nl + 1 - p), dec);
    buf_free(&inf);
}

/* Every part of the envelope in[0..n), by its framing: item headers end at
 * a newline; a payload is "length" bytes, or runs to the next newline. */
static void decode_envelope(struct arena *a, const char *in, size_t n, struct buf *dec)
{
    const char *p = in, *end = in + n, *nl;

    while (p < end) {
        const char *lenp;
        size_t len;
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        canon(a, p, (size_t)(nl - p), dec);
        if (p == in) {
            p = nl + 1;
            continue;
        }
        lenp = memmem(p, (size_t)(nl - p), "\"length\":", 9);
        p = nl < end ? nl + 1 : end;
        len = lenp ? strtoul(lenp + 9, NULL, 10) : 0;
        if (lenp == NULL) {
            const char *e = memchr(p, '\n', (size_t)(end - p));
            len = (size_t)((e ? e : end) - p);
        }
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        canon_recording(a, p, len, dec);
        p += len + 1;
    }
}

static enum redact_status run(const uint8_t *data, size_t size, int again)
{
    struct redact_env env = {NULL, NULL, {32, 10000}, pseudo_engine_fn, NULL,
                             NULL, NULL, 0,           {0, 0},           NULL};
    struct arena *a = arena_new(1 << 24);
    struct buf out, ctx, dec, outdec;
    struct redact_report rep;
    struct err err;
    enum redact_status st;

    env.policy = conf_policy_by_name(conf, "p");
    env.scanner = scanner;
    env.pseudonym_ctx = key;
    buf_init(&out, 1 << 24);
    buf_init(&ctx, 1 << 24);
    env.context = &ctx;
    err_clear(&err);
    st = engine_redact(&env, a, FORMAT_SENTRY, (const char *)data, size, &out, &rep, &err);
    if (st != REDACT_OK && (out.len != 0 || ctx.len != 0))
        abort();
    if (st == REDACT_OK) {
        buf_init(&dec, 0);
        (void)buf_append(&dec, data, size);
        (void)buf_putc(&dec, '\n');
        arena_reset(a);
        decode_envelope(a, (const char *)data, size, &dec);
        buf_init(&outdec, 0);
        (void)buf_append(&outdec, out.data, out.len);
        (void)buf_putc(&outdec, '\n');
        decode_envelope(a, out.data, out.len, &outdec);
        canary_check(&outdec, dec.data, dec.len);
        canary_check(&ctx, dec.data, dec.len);
        buf_free(&dec);
        buf_free(&outdec);
        /* what scrim forwards is an envelope scrim reads again */
        if (again && run((const uint8_t *)out.data, out.len, 0) != REDACT_OK)
            abort();
    }
    buf_free(&out);
    buf_free(&ctx);
    arena_free(a);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (conf == NULL)
        init();
    run(data, size, 1);
    return 0;
}
