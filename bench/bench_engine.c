/*
 * bench_engine: engine throughput in MB/s on one core, side by side with the
 * ceiling (a plain copy of the bytes) and with each stage alone, so the cost
 * of every stage is visible. Not a test: run by `make bench`.
 *
 * The corpus is generated (deterministic PRNG) in the shape of real replay
 * and form traffic: mostly structure, ids, timestamps and short strings, with
 * a few PII values (1 string in 64). Each run processes the whole corpus as
 * payloads of ~100 KB; every figure is the median of RUNS runs.
 *
 * With a directory argument, a third row runs the rrweb path on the rrweb
 * SDK's captured requests (tests/e2e/fixtures/rrweb/NNN-*.body), cycled
 * into PAYLOADS payloads.
 */
#include "common/arena.h"
#include "common/buf.h"
#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/engine.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS          7
#define PAYLOADS      80
#define PAYLOAD_BYTES (100 * 1024)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const words[] = {
    "Continue",   "Back",      "Your",     "application", "loan",
    "amount",     "Next step", "Personal", "details",     "Payment",
    "Review",     "Submit",    "Terms",    "privacy",     "btn btn-primary",
    "form-group", "col-md-6",  "nav-link", "card-body",   "We will never",
    "share",      "the",       "monthly",  "rate",        "Help",
    "Close",      "Menu"};

static const char *const pii[] = {
    "jane.doe@example.com", "4111 1111 1111 1111",         "078-05-1120",
    "+1 415 555 0100",      "GB82 WEST 1234 5698 7654 32", "203.0.113.42"};

static int put_text(struct buf *b)
{
    if (rnd(64) == 0)
        return buf_printf(b, "\"Contact %s\"", pii[rnd(6)]);
    return buf_printf(b, "\"%s %s\"", words[rnd(27)], words[rnd(27)]);
}

/* One rrweb-shaped event: a mutation with a few added element and text nodes. */
static int put_replay_event(struct buf *b, uint64_t t, unsigned *id)
{
    int r = buf_printf(b, "{\"type\":3,\"timestamp\":%llu,\"data\":{\"source\":0,\"adds\":[",
                       (unsigned long long)t);
    for (int i = 0, n = 2 + (int)rnd(5); !r && i < n; i++) {
        unsigned me = (*id)++;
        r = buf_printf(b,
                       "%s{\"parentId\":%u,\"nextId\":null,\"node\":{\"type\":2,\"tagName\":\"%s\","
                       "\"attributes\":{\"class\":",
                       i ? "," : "", me - 1, rnd(2) ? "div" : "span") ||
            put_text(b) ||
            buf_printf(b,
                       ",\"id\":\"node-%u\"},\"childNodes\":[{\"type\":3,\"textContent\":", me) ||
            put_text(b) || buf_printf(b, ",\"id\":%u}],\"id\":%u}}", (*id)++, me);
    }
    return r || buf_puts(b, "],\"removes\":[],\"texts\":[],\"attributes\":[]}}");
}

static int make_replay(struct buf *b)
{
    uint64_t t = 1764400000000ull;
    unsigned id = 10;
    int r = buf_puts(b, "{\"session_id\":\"s-1\",\"events\":[");

    for (int i = 0; !r && b->len < PAYLOAD_BYTES; i++)
        r = (i && buf_putc(b, ',')) || put_replay_event(b, t += rnd(500), &id);
    return r || buf_puts(b, "]}");
}

static int make_form(struct buf *b)
{
    static const char *const fields[] = {"full_name", "email", "phone", "loan_amount", "iban"};
    uint64_t t = 1764400000000ull;
    int r = buf_puts(b, "{\"session\":\"s-2\",\"viewport\":{\"w\":390,\"h\":844},\"events\":[");

    for (int i = 0; !r && b->len < PAYLOAD_BYTES; i++) {
        const char *f = fields[rnd(5)];
        r = i && buf_putc(b, ',');
        if (i % 40 == 0)
            r = r || buf_printf(b, "{\"type\":\"step\",\"t\":%llu,\"step\":\"step%d\"}",
                                (unsigned long long)(t += 10), i / 40);
        else if (i % 7 == 0)
            r = r ||
                buf_printf(b,
                           "{\"type\":\"validation\",\"t\":%llu,\"field\":\"%s\","
                           "\"state\":\"invalid\",\"code\":\"format\",\"message\":",
                           (unsigned long long)(t += 10), f) ||
                put_text(b) || buf_putc(b, '}');
        else
            r = r ||
                buf_printf(b, "{\"type\":\"input\",\"t\":%llu,\"field\":\"%s\",\"value\":",
                           (unsigned long long)(t += 10), f) ||
                put_text(b) || buf_putc(b, '}');
    }
    return r || buf_puts(b, "]}");
}

#define CAPTURED_MAX 64
static struct buf captured[CAPTURED_MAX];
static size_t ncaptured;

static int body_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".body") == 0;
}

/* The captured request bodies of dir, in name order (the SDK's order). */
static int load_captured(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, body_file, alphasort);

    if (n <= 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char path[4096];
        FILE *f;
        if (ncaptured < CAPTURED_MAX) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            buf_init(&captured[ncaptured], 0);
            if ((f = fopen(path, "rb")) != NULL) {
                char chunk[65536];
                size_t r;
                while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
                    if (buf_append(&captured[ncaptured], chunk, r))
                        abort();
                fclose(f);
                ncaptured++;
            }
        }
        free(names[i]);
    }
    free(names);
    return ncaptured ? 0 : -1;
}

static int make_captured(struct buf *b, int i)
{
    const struct buf *c = &captured[(size_t)i % ncaptured];
    return buf_append(b, c->data, c->len);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum stage { STAGE_COPY, STAGE_PARSE_WRITE, STAGE_ENGINE };

struct bench {
    struct buf payloads[PAYLOADS];
    size_t total;
    struct arena *arena;
    struct buf out, ctx;
};

/* One pass over all payloads; returns seconds, or -1 if a payload failed. */
static double run_once(struct bench *b, enum stage st, const struct redact_env *env,
                       enum format fmt)
{
    double t0 = now_s();

    for (int i = 0; i < PAYLOADS; i++) {
        const struct buf *p = &b->payloads[i];
        struct json *root;
        struct redact_report rep;
        struct err err;
        buf_reset(&b->out);
        buf_reset(&b->ctx);
        err_clear(&err);
        if (st == STAGE_COPY) {
            if (buf_append(&b->out, p->data, p->len))
                return -1;
        } else if (st == STAGE_PARSE_WRITE) {
            if (json_parse(b->arena, p->data, p->len, NULL, &root, &err) != JSON_OK ||
                json_write(&b->out, root))
                return -1;
        } else if (engine_redact(env, b->arena, fmt, p->data, p->len, &b->out, &rep, &err) !=
                   REDACT_OK) {
            fprintf(stderr, "payload %d: %s\n", i, err.msg);
            return -1;
        }
        arena_reset(b->arena);
    }
    return now_s() - t0;
}

static double median_mbps(struct bench *b, enum stage st, const struct redact_env *env,
                          enum format fmt)
{
    double mbps[RUNS];

    for (int r = 0; r < RUNS; r++) {
        double s = run_once(b, st, env, fmt);
        if (s < 0)
            return -1;
        mbps[r] = (double)b->total / s / 1e6;
    }
    qsort(mbps, RUNS, sizeof(mbps[0]), cmp_double);
    return mbps[RUNS / 2];
}

static const char bench_yaml[] = "tenants:\n"
                                 "  - {id: t, policy: default}\n"
                                 "policies:\n"
                                 "  default: {}\n"
                                 "  nodetect:\n"
                                 "    pii: {detectors: []}\n";

static void bench_format(const char *label, enum format fmt, struct config *c,
                         struct pseudo_key *key)
{
    struct bench b;
    const struct policy *pols[2] = {conf_policy_by_name(c, "nodetect"),
                                    conf_policy_by_name(c, "default")};
    struct pii_scanner *sc[2] = {pii_scanner_new(pols[0]->pii, NULL),
                                 pii_scanner_new(pols[1]->pii, NULL)};
    struct redact_env env[2];
    double copy, pw, nodet, full;

    memset(&b, 0, sizeof(b));
    for (int i = 0; i < PAYLOADS; i++) {
        buf_init(&b.payloads[i], 0);
        int r = fmt == FORMAT_FORM    ? make_form(&b.payloads[i])
                : fmt == FORMAT_RRWEB ? make_captured(&b.payloads[i], i)
                                      : make_replay(&b.payloads[i]);
        if (r)
            abort();
        b.total += b.payloads[i].len;
    }
    b.arena = arena_new(0);
    buf_init(&b.out, 0);
    buf_init(&b.ctx, 0);
    for (int k = 0; k < 2; k++)
        env[k] = (struct redact_env){
            pols[k], sc[k], json_default_limits, pseudo_engine_fn, key, NULL, &b.ctx, 0,
            {0, 0},  NULL};
    copy = median_mbps(&b, STAGE_COPY, NULL, fmt);
    pw = median_mbps(&b, STAGE_PARSE_WRITE, NULL, fmt);
    nodet = median_mbps(&b, STAGE_ENGINE, &env[0], fmt);
    full = median_mbps(&b, STAGE_ENGINE, &env[1], fmt);
    printf("| %-22s | %7.1f | %9.0f | %13.0f | %13.0f | %12.0f | %5.2f |\n", label,
           (double)b.total / 1e6, copy, pw, nodet, full, full / pw);
    for (int i = 0; i < PAYLOADS; i++)
        buf_free(&b.payloads[i]);
    buf_free(&b.out);
    buf_free(&b.ctx);
    arena_free(b.arena);
    pii_scanner_free(sc[0]);
    pii_scanner_free(sc[1]);
}

int main(int argc, char **argv)
{
    struct err err;
    struct config *c;
    uint8_t k[PSEUDO_KEY_BYTES] = {1};
    struct pseudo_key *key;

    err_clear(&err);
    if (keyfile_crypto_init() != 0)
        return 1;
    c = conf_parse("bench.yaml", bench_yaml, sizeof(bench_yaml) - 1, &err);
    if (c == NULL) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    key = pseudo_key_from_bytes(k);
    printf("engine throughput, MB/s on one core, median of %d runs, %d payloads of ~%d KB\n\n",
           RUNS, PAYLOADS, PAYLOAD_BYTES / 1024);
    /* The last column is the masking engine's share of the bare JSON round
     * trip measured in the same run: what the policy costs on top of
     * parsing and writing. */
    printf("| corpus | MB | copy MB/s (ceiling) | parse+write MB/s | engine, no detectors | "
           "engine, default detectors | default detectors / parse+write |\n");
    printf("|---|---|---|---|---|---|---|\n");
    bench_format("replay-shaped JSON", FORMAT_JSON, c, key);
    bench_format("form batches", FORMAT_FORM, c, key);
    if (argc > 1) {
        if (load_captured(argv[1]) != 0) {
            fprintf(stderr, "bench: no .body files in %s\n", argv[1]);
            return 1;
        }
        bench_format("rrweb SDK, captured", FORMAT_RRWEB, c, key);
    }
    for (size_t i = 0; i < ncaptured; i++)
        buf_free(&captured[i]);
    pseudo_key_free(key);
    conf_free(c);
    return 0;
}
