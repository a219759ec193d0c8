/*
 * fuzz_rrweb: engine_redact on arbitrary bytes as `rrweb`. Invariants, not
 * only "no crash": a rejected payload leaves the output and the context
 * records empty; an accepted one is strict JSON that re-parses, and no
 * canary survives in the output or the records.
 *
 * An input holding NUL bytes (which no JSON text can) is up to four
 * successive payloads of one session, through one small session table
 * (rules/session.h), so the node map across payloads, its removes,
 * resets, caps and evictions are fuzzed too; the first payload also runs
 * without a table. The seeds are single payloads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/engine.h"

#include "rig.h"
#include "rules/session.h"
#include "tests/fuzz/canary.h"

static const char yaml[] =
    "tenants:\n"
    "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
    "policies:\n"
    "  p:\n"
    "    inputs: {allow: ['[name=plan]', 'form .ok'], allow_types: [radio]}\n"
    "    text: ['.secret', 'div p']\n"
    "    block: ['.ad', 'iframe']\n"
    "    fields:\n"
    "      - {path: $..email, action: hash}\n"
    "    journey:\n"
    "      name: j\n"
    "      steps: [{name: s1, url: /a/*}, {name: s2, event: two}]\n"
    "      complete: {event: done}\n";

static struct config *conf;
static struct pseudo_key *key;
static struct pii_scanner *scanner;

static void init(void)
{
    rig_open(yaml, sizeof(yaml) - 1, &conf, &key, &scanner);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One payload through the engine, and its invariants. */
static void one(struct session_table *t, const uint8_t *data, size_t size)
{
    struct redact_env env = {NULL, NULL, {32, 10000}, pseudo_engine_fn, NULL,
                             NULL, NULL, 0,           {0, 0},           t};
    struct arena *a;
    struct buf out, ctx;
    struct redact_report rep;
    struct err err;
    struct json *root;
    enum redact_status st;

    env.policy = conf_policy_by_name(conf, "p");
    env.scanner = scanner;
    env.pseudonym_ctx = key;
    a = arena_new(1 << 24);
    buf_init(&out, 1 << 24);
    buf_init(&ctx, 1 << 24);
    env.context = &ctx;
    err_clear(&err);
    st = engine_redact(&env, a, FORMAT_RRWEB, (const char *)data, size, &out, &rep, &err);
    if (st != REDACT_OK && (out.len != 0 || ctx.len != 0))
        abort();
    if (st == REDACT_OK) {
        arena_reset(a);
        if (json_parse(a, out.data, out.len, NULL, &root, &err) != JSON_OK)
            abort();
        canary_check_payload(a, &out, &ctx, data, size);
    }
    buf_free(&out);
    buf_free(&ctx);
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t tkey[16] = {7};
    const uint8_t *nul = memchr(data, 0, size);
    struct session_table *t;
    size_t at = 0;

    if (conf == NULL)
        init();
    if (nul == NULL) {
        one(NULL, data, size);
        return 0;
    }
    /* Small caps, so payloads reach them. */
    t = session_table_new(64, 256, tkey);
    if (t == NULL || session_table_bind(t, "t", 1, "fz", 2) != 0)
        abort();
    one(NULL, data, (size_t)(nul - data));
    for (int k = 0; k < 4 && at <= size; k++) {
        const uint8_t *e = memchr(data + at, 0, size - at);
        size_t n = e ? (size_t)(e - (data + at)) : size - at;
        one(t, data + at, n);
        at += n + 1;
    }
    session_table_free(t);
    return 0;
}
