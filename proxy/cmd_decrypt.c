/*
 * scrim decrypt: the only way to read a store. It needs the tenant's secret
 * key, which the proxy never has (DESIGN.md invariant 5).
 *
 * Each segment is verified whole before any of its records is printed, so a
 * segment that fails verification contributes no output at all; the walk
 * goes on with the next segment and the exit status says a segment failed.
 */
#include "cmd.h"

#include "crypto/keys.h"
#include "crypto/seal.h"
#include "proxy/store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define DECRYPT_KEYS_MAX 16

static const char decrypt_usage[] =
    "usage: scrim decrypt --key T.key [--key OLD.key ...] [--tenant T] PATH...\n"
    "\n"
    "Print the context records of the segments at PATH (a segment file, or a\n"
    "store, tenant or day directory, walked oldest first) as JSON lines, in\n"
    "order. Each segment is verified whole before any of its records is\n"
    "printed: header, key commitment, every record's authentication and\n"
    "sequence, and its final record. Segments sealed to an older key need that\n"
    "key too: give --key once per key. A segment in a store must sit in its own\n"
    "tenant's and day's directory; --tenant T also requires every segment to\n"
    "be tenant T's.\n"
    "\n"
    "A segment without its final record (its writer crashed and has not\n"
    "recovered yet, or its tail was cut) is printed, then reported as\n"
    "unfinished. A segment closed by crash recovery is printed and noted.\n"
    "\n"
    "exit status: 0 every segment verified, 1 a segment failed verification or\n"
    "is unfinished (the others are still printed), 2 a usage, key or path error\n";

struct decrypt {
    struct keys_secret *keys[DECRYPT_KEYS_MAX];
    size_t nkeys;
    const char *tenant; /* --tenant */
    int status;
    struct buf rec;
};

static void seg_report(struct decrypt *d, const char *path, const char *msg, int status)
{
    fprintf(stderr, "scrim: decrypt: %s: %s\n", path, msg);
    if (status > d->status)
        d->status = status;
}

static void print_record(const struct buf *rec)
{
    size_t n = rec->len;

    if (n > 0 && rec->data[n - 1] == '\n')
        n--;
    fwrite(rec->data, 1, n, stdout);
    putchar('\n');
}

/* One pass over a segment. Verifying (limit NULL): to its end; *end and
 * *count say how it ended. Printing: the *limit records the verifying pass
 * accepted, each verified again, so records a writer appended in between
 * are not printed, and a file changed in between fails. -1 with err. */
static int seg_pass(struct decrypt *d, FILE *f, const char *path, const char *tenant,
                    const uint64_t *limit, enum seal_end *end, uint64_t *count, struct err *err)
{
    struct seal_reader *r = seal_reader_open(f, d->keys, d->nkeys, tenant, err);
    int got = 0;

    if (r == NULL || store_place_check(path, seal_reader_header(r), err) != 0) {
        seal_reader_free(r);
        return -1;
    }
    while (limit == NULL || seal_reader_count(r) < *limit) {
        got = seal_reader_next(r, &d->rec, err);
        if (got != 1)
            break;
        if (limit != NULL)
            print_record(&d->rec);
    }
    *end = seal_reader_end(r);
    *count = seal_reader_count(r);
    seal_reader_free(r);
    buf_wipe(&d->rec);
    return got < 0 ? -1 : 0;
}

/* The tenant a segment must belong to: its store directory's, which
 * --tenant must agree with. */
static const char *seg_tenant(struct decrypt *d, const char *path, struct store_place *pl,
                              struct err *err)
{
    if (!store_place_parse(path, pl))
        return d->tenant;
    if (d->tenant != NULL && strcmp(d->tenant, pl->tenant) != 0) {
        err_set(err, "in tenant \"%s\"'s directory, but --tenant is \"%s\"", pl->tenant, d->tenant);
        return NULL;
    }
    return pl->tenant;
}

static int seg_one(void *arg, const char *path)
{
    struct decrypt *d = arg;
    struct store_place pl;
    struct err err;
    enum seal_end end, end2;
    uint64_t count, count2;
    char msg[ERR_MSG_MAX + 128];
    const char *tenant;
    FILE *f = fopen(path, "rbe");

    err_clear(&err);
    if (f == NULL) {
        seg_report(d, path, strerror(errno), EXIT_REJECT);
        return 0;
    }
    tenant = seg_tenant(d, path, &pl, &err);
    if (err.set || seg_pass(d, f, path, tenant, NULL, &end, &count, &err) != 0 ||
        fseek(f, 0, SEEK_SET) != 0 ||
        seg_pass(d, f, path, tenant, &count, &end2, &count2, &err) != 0) {
        fclose(f);
        seg_report(d, path, err.set ? err.msg : "read error", EXIT_REJECT);
        return 0;
    }
    fclose(f);
    if (end == SEAL_UNFINISHED) {
        snprintf(msg, sizeof(msg),
                 "unfinished segment: %llu records verified, but no final record (its writer "
                 "crashed and has not recovered, or its tail was cut)",
                 (unsigned long long)count);
        seg_report(d, path, msg, EXIT_REJECT);
    } else if (end == SEAL_RECOVERED) {
        snprintf(msg, sizeof(msg), "closed by crash recovery after %llu records",
                 (unsigned long long)count);
        seg_report(d, path, msg, EXIT_OK);
    }
    return 0;
}

static int load_key(struct decrypt *d, const char *path)
{
    struct err err;

    err_clear(&err);
    if (d->nkeys == DECRYPT_KEYS_MAX) {
        fprintf(stderr, "scrim: decrypt: at most %d --key options\n", DECRYPT_KEYS_MAX);
        return -1;
    }
    if (keys_load_secret(path, &d->keys[d->nkeys], &err) != 0) {
        cmd_report("decrypt", &err);
        return -1;
    }
    d->nkeys++;
    return 0;
}

static int parse_opts(int argc, char **argv, struct decrypt *d)
{
    static const struct option longopts[] = {{"key", required_argument, NULL, 'k'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "k:t:h", longopts, NULL)) != -1) {
        if (ch == 'k' && load_key(d, optarg) == 0)
            continue;
        if (ch == 't') {
            d->tenant = optarg;
            continue;
        }
        if (ch == 'h')
            fputs(decrypt_usage, stdout);
        else if (ch != 'k')
            fputs(decrypt_usage, stderr);
        return ch == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if (d->nkeys == 0 || optind >= argc) {
        fputs(decrypt_usage, stderr);
        return EXIT_USAGE;
    }
    if (d->tenant != NULL && !seal_tenant_valid(d->tenant)) {
        fputs("scrim: decrypt: --tenant must be 1-64 of [A-Za-z0-9._-]\n", stderr);
        return EXIT_USAGE;
    }
    return -1;
}

int cmd_decrypt(int argc, char **argv)
{
    struct decrypt d;
    struct err err;
    int r;

    memset(&d, 0, sizeof(d));
    buf_init(&d.rec, SEAL_RECORD_MAX + 1);
    r = parse_opts(argc, argv, &d);
    for (int i = optind; r < 0 && i < argc; i++) {
        err_clear(&err);
        if (store_walk(argv[i], seg_one, &d, &err) != 0) {
            cmd_report("decrypt", &err);
            d.status = EXIT_USAGE;
        }
    }
    if (r < 0 && fflush(stdout) != 0) {
        fprintf(stderr, "scrim: decrypt: cannot write the output: %s\n", strerror(errno));
        d.status = EXIT_USAGE;
    }
    for (size_t i = 0; i < d.nkeys; i++)
        keys_secret_free(d.keys[i]);
    buf_free(&d.rec);
    return r < 0 ? d.status : r;
}
