/*
 * bench_store: how many context records per second the segment store seals
 * and makes durable, and audit entries per second the log appends, with
 * fsync group commit at several batch sizes (issue 5). One thread, the
 * disk the build directory is on; every commit is a real fsync.
 *
 * usage: bench_store DIR
 */
#include "common/buf.h"
#include "crypto/auditlog.h"
#include "crypto/keys.h"
#include "crypto/note.h"
#include "proxy/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RECORDS 4000
#define PASSES  3

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A field_state record as the form format writes them (~200 bytes). */
static const char record[] =
    "{\"type\":\"field_state\",\"journey\":\"loan-application\",\"session\":"
    "\"LjINoCWrDMpRsXhImrO0VQ\",\"t\":1764400003000,\"step\":\"personal\",\"field\":"
    "\"email\",\"state\":\"invalid\",\"code\":\"format\",\"filled\":true,\"edits\":3,"
    "\"time_ms\":4200}";

static double store_rate(const char *dir, const struct keys_public *pk, unsigned batch)
{
    struct err err = {0};
    struct store *s = store_open(dir, 64u << 20, 3600, &err);
    uint64_t t = 1764400000000ull;
    double t0;

    if (s == NULL) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        exit(1);
    }
    t0 = now_s();
    for (unsigned i = 0; i < RECORDS; i++) {
        if (store_append(s, "bench", pk, record, sizeof(record) - 1, t, &err) != 0 ||
            ((i + 1) % batch == 0 && store_commit(s, t, &err) != 0)) {
            fprintf(stderr, "bench_store: %s\n", err.msg);
            exit(1);
        }
    }
    if (store_commit(s, t, &err) != 0)
        exit(1);
    t0 = now_s() - t0;
    if (store_close(s, &err) != 0)
        exit(1);
    return RECORDS / t0;
}

static double audit_rate(const char *dir, const struct note_signer *signer, unsigned batch)
{
    struct err err = {0};
    struct auditlog_options o = {signer, NULL, 1000, 60000, 1764400000000ll};
    struct auditlog *log = auditlog_open(dir, "bench", &o, &err);
    struct auditlog_rule rules[2] = {{"pii.email", "hash", 2}, {"inputs.default", "mask", 5}};
    double t0;

    if (log == NULL) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        exit(1);
    }
    t0 = now_s();
    for (unsigned i = 0; i < RECORDS; i++) {
        struct auditlog_entry e = {0,
                                   1764400000000ll,
                                   "0123456789abcdef",
                                   "/v1/form",
                                   "form",
                                   AUDITLOG_FORWARDED,
                                   NULL,
                                   rules,
                                   2,
                                   4096,
                                   3900};
        if (auditlog_append_nosync(log, &e, &err) != 0 ||
            ((i + 1) % batch == 0 && auditlog_sync(log, &err) != 0)) {
            fprintf(stderr, "bench_store: %s\n", err.msg);
            exit(1);
        }
    }
    if (auditlog_sync(log, &err) != 0)
        exit(1);
    t0 = now_s() - t0;
    auditlog_close(log, 1764400000000ll, &err);
    return RECORDS / t0;
}

int main(int argc, char **argv)
{
    static const unsigned batches[] = {1, 8, 64, 512};
    char path[4096];
    struct err err = {0};
    struct keys_public pk;
    struct note_signer *signer;

    if (argc != 2 || sodium_init() < 0)
        return 2;
    snprintf(path, sizeof(path), "%s/keys", argv[1]);
    if (keys_generate_tenant(argv[1], "bench", NULL, &err) != 0 ||
        note_keys_generate(argv[1], "bench-audit", NULL, &err) != 0) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/bench.pub", argv[1]);
    if (keys_load_public(path, &pk, &err) != 0)
        return 1;
    snprintf(path, sizeof(path), "%s/audit.key", argv[1]);
    if ((signer = note_signer_load(path, &err)) == NULL)
        return 1;
    printf("\n| records per fsync | store: sealed records/s | audit log: entries/s |\n"
           "|---|---|---|\n");
    for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
        double st[PASSES], au[PASSES];
        for (int p = 0; p < PASSES; p++) {
            char d[4200];
            snprintf(d, sizeof(d), "%s/store-%u-%d", argv[1], batches[b], p);
            st[p] = store_rate(d, &pk, batches[b]);
            snprintf(d, sizeof(d), "%s/audit-%u-%d", argv[1], batches[b], p);
            if (mkdir(d, 0700) != 0)
                return 1;
            au[p] = audit_rate(d, signer, batches[b]);
        }
        qsort(st, PASSES, sizeof(double), cmp_double);
        qsort(au, PASSES, sizeof(double), cmp_double);
        printf("| %u | %.0f | %.0f |\n", batches[b], st[PASSES / 2], au[PASSES / 2]);
    }
    printf("\n(%d records of %zu bytes per pass, median of %d passes; every commit is an fsync)\n",
           RECORDS, sizeof(record) - 1, PASSES);
    note_signer_free(signer);
    return 0;
}
