/*
 * fuzz_posthog: posthog_unwrap, engine_redact as `posthog` and posthog_wrap
 * on arbitrary bytes. Invariants, not only "no crash": a rejected payload
 * leaves the output and the context records empty; an accepted one is
 * strict JSON that the engine accepts again, and no canary token of the
 * decoded input (the canonical input plus every gzip-in-string field,
 * inflated and unescaped) survives in the decoded output (the output plus
 * the recordings' cv fields, inflated as PostHog's player inflates them:
 * scrim compresses those again) or the records. An unwrap that fails
 * leaves its output empty; the masked JSON of an unwrapped body, wrapped
 * again as the body came, unwraps to the same JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/decode.h"
#include "rules/engine.h"

#include "rig.h"
#include "rules/posthog.h"
#include "tests/fuzz/canary.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs: {allow: ['[name=plan]']}\n"
                           "    text: ['.secret']\n"
                           "    block: ['.ad']\n"
                           "    fields:\n"
                           "      - {path: $..email, action: hash}\n"
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

/* A string's latin1 bytes, when every code point is one. */
static int latin1(const struct json *s, struct buf *b)
{
    const unsigned char *p = (const unsigned char *)s->u.s;

    for (size_t i = 0; i < s->len; i++) {
        int c = p[i];
        if (c >= 0x80) {
            if ((c != 0xC2 && c != 0xC3) || i + 1 >= s->len)
                return -1;
            c = (c & 3) << 6 | (p[++i] & 0x3F);
        }
        if (buf_putc(b, c))
            return -1;
    }
    return 0;
}

/* Append to dec every gzip field of the tree at v, inflated and written
 * canonically (so an escaped canary in it counts as its token). */
static void inflate_strings(struct arena *a, const struct json *v, struct buf *dec)
{
    struct decode_limits lim = {1 << 24, 1000};
    struct buf raw, inf;
    struct json *t;
    struct err e;

    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++)
            inflate_strings(a, v->type == JSON_ARRAY ? v->u.items[i] : v->u.members[i].value, dec);
        return;
    }
    if (v->type != JSON_STRING)
        return;
    buf_init(&raw, 1 << 24);
    buf_init(&inf, 1 << 24);
    if (latin1(v, &raw) == 0 && raw.len > 2 && decode_gzip(&lim, raw.data, raw.len, &inf) == 0) {
        if (json_parse(a, inf.data, inf.len, NULL, &t, &e) != JSON_OK || json_write(dec, t) ||
            buf_putc(dec, '\n'))
            (void)buf_append(dec, inf.data, inf.len);
    }
    buf_free(&raw);
    buf_free(&inf);
}

/* The fields of an rrweb event PostHog's player inflates: a full
 * snapshot's data, an incremental event's four lists, when cv says so. */
static void decode_cv(struct arena *a, const struct json *ev, struct buf *dec)
{
    static const char *const lists[] = {"texts", "attributes", "removes", "adds"};
    const struct json *cv = json_get(ev, "cv"), *data = json_get(ev, "data");

    if (cv == NULL || cv->type != JSON_STRING || data == NULL)
        return;
    if (data->type == JSON_STRING)
        inflate_strings(a, data, dec);
    for (size_t i = 0; data->type == JSON_OBJECT && i < 4; i++)
        if (json_get(data, lists[i]) != NULL)
            inflate_strings(a, json_get(data, lists[i]), dec);
}

/* Append to dec what the vendor decompresses of the output at root: the cv
 * fields of every recording (a gzip string elsewhere is a string to
 * PostHog, as it is to the detectors). */
static void decode_output(struct arena *a, const struct json *root, struct buf *dec)
{
    const struct json *batch = root->type == JSON_OBJECT ? json_get(root, "batch") : NULL;
    const struct json *list = root->type == JSON_ARRAY ? root : batch;
    size_t n = list != NULL && list->type == JSON_ARRAY ? list->len : 1;

    for (size_t i = 0; i < n; i++) {
        const struct json *ev = list != NULL ? list->u.items[i] : root;
        const struct json *props = ev->type == JSON_OBJECT ? json_get(ev, "properties") : NULL;
        const struct json *sd =
            props && props->type == JSON_OBJECT ? json_get(props, "$snapshot_data") : NULL;
        if (sd != NULL && sd->type == JSON_OBJECT)
            decode_cv(a, sd, dec);
        for (size_t k = 0; sd != NULL && sd->type == JSON_ARRAY && k < sd->len; k++)
            if (sd->u.items[k]->type == JSON_OBJECT)
                decode_cv(a, sd->u.items[k], dec);
    }
}

static void check_ok(struct arena *a, const struct buf *out, const struct buf *ctx,
                     const uint8_t *data, size_t size)
{
    struct buf dec, outdec;
    struct json *root;
    struct err err;

    arena_reset(a);
    if (json_parse(a, out->data, out->len, NULL, &root, &err) != JSON_OK)
        abort();
    buf_init(&outdec, 0);
    if (buf_append(&outdec, out->data, out->len) || buf_putc(&outdec, '\n'))
        abort();
    decode_output(a, root, &outdec);
    buf_init(&dec, 0);
    arena_reset(a);
    if (json_parse(a, (const char *)data, size, NULL, &root, &err) != JSON_OK ||
        json_write(&dec, root) || buf_putc(&dec, '\n'))
        abort(); /* the engine accepted what the parser rejects */
    inflate_strings(a, root, &dec);
    canary_check(&outdec, dec.data, dec.len);
    canary_check(ctx, dec.data, dec.len);
    buf_free(&dec);
    buf_free(&outdec);
}

/* The masked JSON out, wrapped as how says, unwraps with the headers the
 * proxy sends for how to the same JSON and the same wrapping. */
static void check_wrap(const struct buf *out, enum posthog_wrap how)
{
    const char *ct = posthog_wrap_content_type(how), *comp = posthog_wrap_compression(how);
    char query[32] = "";
    struct posthog_http h = {ct, strlen(ct), NULL, 0, query, 0};
    struct decode_limits lim = {1 << 24, 1u << 30};
    struct buf w, back;
    enum posthog_wrap again;

    if (comp != NULL)
        h.query_len = (size_t)snprintf(query, sizeof(query), "compression=%s", comp);
    buf_init(&w, 1 << 26);
    buf_init(&back, 1 << 24);
    if (posthog_wrap(how, out->data, out->len, &w) != 0 ||
        posthog_unwrap(&lim, &h, w.data, w.len, &back, &again) != DECODE_OK || again != how ||
        back.len != out->len || memcmp(back.data, out->data, out->len) != 0)
        abort();
    buf_free(&w);
    buf_free(&back);
}

/* how: the wrapping the body came in (NULL: none to check). */
static enum redact_status run(const uint8_t *data, size_t size, int again,
                              const enum posthog_wrap *how)
{
    struct redact_env env = {NULL, NULL, {32, 10000}, pseudo_engine_fn, NULL,
                             NULL, NULL, 0,           {0, 0},           NULL};
    struct arena *a = arena_new(1 << 24);
    struct buf out, ctx;
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
    st = engine_redact(&env, a, FORMAT_POSTHOG, (const char *)data, size, &out, &rep, &err);
    if (st != REDACT_OK && (out.len != 0 || ctx.len != 0))
        abort();
    if (st == REDACT_OK) {
        check_ok(a, &out, &ctx, data, size);
        /* what scrim forwards is a batch scrim reads again */
        if (again && run((const uint8_t *)out.data, out.len, 0, NULL) != REDACT_OK)
            abort();
        if (how != NULL)
            check_wrap(&out, *how);
    }
    buf_free(&out);
    buf_free(&ctx);
    arena_free(a);
    return st;
}

static void unwrap_all(const uint8_t *data, size_t size)
{
    static const struct posthog_http hs[] = {
        {"text/plain", 10, NULL, 0, "compression=gzip-js", 19},
        {"application/x-www-form-urlencoded", 33, NULL, 0, "compression=base64", 18},
        {"application/x-www-form-urlencoded", 33, NULL, 0, NULL, 0},
        {"application/json", 16, "gzip", 4, NULL, 0},
        {NULL, 0, NULL, 0, NULL, 0},
    };
    struct decode_limits lim = {1 << 20, 100};

    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        struct buf out;
        enum decode_status st;
        enum posthog_wrap how;
        buf_init(&out, 1 << 20);
        st = posthog_unwrap(&lim, &hs[i], data, size, &out, &how);
        if (st != DECODE_OK && out.len != 0)
            abort();
        if (st == DECODE_OK && out.len > lim.out_max)
            abort();
        if (st == DECODE_OK && (out.len != size || memcmp(out.data, data, size) != 0))
            run((const uint8_t *)out.data, out.len, 1, &how);
        else if (st == DECODE_OK)
            check_wrap(&out, how); /* the same bytes came plain: only the wrapping */
        buf_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (conf == NULL)
        init();
    run(data, size, 1, NULL);
    unwrap_all(data, size);
    return 0;
}
