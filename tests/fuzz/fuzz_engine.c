/*
 * fuzz_engine: engine_redact on arbitrary bytes as `json` and as `form`.
 * Invariants, not only "no crash": a rejected payload leaves the output
 * empty; an accepted one is strict JSON that re-parses, and no canary
 * survives in the output or the context records (tests/fuzz/canary.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/engine.h"

#include "rig.h"
#include "tests/fuzz/canary.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs: {allow: ['[name=plan]']}\n"
                           "    fields:\n"
                           "      - {path: $..email, action: hash}\n"
                           "      - {path: '$.a[*].b', action: drop}\n"
                           "      - {path: $.m, action: mask}\n"
                           "    journey: {name: j, steps: [{name: s1, event: one}]}\n";

static struct config *conf;
static struct pseudo_key *key;
static struct pii_scanner *scanner;

static void init(void)
{
    rig_open(yaml, sizeof(yaml) - 1, &conf, &key, &scanner);
}

static void run(enum format fmt, const uint8_t *data, size_t size)
{
    struct redact_env env = {conf_policy_by_name(conf, "p"),
                             scanner,
                             {32, 10000},
                             pseudo_engine_fn,
                             key,
                             NULL,
                             NULL,
                             0,
                             {0, 0},
                             NULL};
    struct arena *a = arena_new(1 << 24);
    struct buf out, ctx;
    struct redact_report rep;
    struct err err;
    struct json *root;
    enum redact_status st;

    buf_init(&out, 1 << 24);
    buf_init(&ctx, 1 << 24);
    env.context = &ctx;
    err_clear(&err);
    st = engine_redact(&env, a, fmt, (const char *)data, size, &out, &rep, &err);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (conf == NULL)
        init();
    run(FORMAT_JSON, data, size);
    run(FORMAT_FORM, data, size);
    return 0;
}
