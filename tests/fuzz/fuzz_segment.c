/*
 * fuzz_segment: libFuzzer target for the segment reader (crypto/seal) and
 * the keyless scan the store's crash recovery runs.
 *
 * Beyond "no crash", it aborts when one of these fails:
 *   - every record the reader returns, at any point, is authentic: the seeds
 *     are sealed to a fixed key and record i of every seed is seed_record(i),
 *     so whatever the fuzzer does to the bytes, a returned record at index i
 *     must be exactly seed_record(i) (a forged, reordered or moved record
 *     would show as anything else);
 *   - read as scrim decrypt does (verify the whole segment, then print), a
 *     segment that fails verification prints nothing, and one that passes
 *     prints the same records on the second pass;
 *   - the keyless scan agrees with the reader on every segment the reader
 *     accepts: same record count, the whole file, closed exactly when the
 *     reader saw a final record or a recovery marker;
 *   - error messages are printable ASCII and name the header or a record.
 *
 * Seeds (tests/fuzz/corpus/segment) are made by the same file built with
 * -DFUZZ_SEGMENT_SEEDS (see write_seeds below).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keys.h"
#include "crypto/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static struct keys_secret *key;
static struct keys_public pub;

static void key_init(void)
{
    uint8_t seed[32];

    if (key != NULL)
        return;
    CHECK(sodium_init() >= 0);
    key = sodium_malloc(sizeof(*key));
    CHECK(key != NULL);
    memset(seed, 0x5c, sizeof(seed));
    CHECK(crypto_box_seed_keypair(key->pk, key->sk, seed) == 0);
    keys_id(key->pk, key->id);
    memcpy(pub.pk, key->pk, sizeof(pub.pk));
    memcpy(pub.id, key->id, sizeof(pub.id));
}

static int seed_record(char *out, size_t cap, uint64_t i)
{
    return snprintf(out, cap,
                    "{\"type\":\"submit\",\"journey\":\"fuzz\",\"session\":"
                    "\"AAAAAAAAAAAAAAAAAAAAAA\",\"t\":%llu,\"step\":\"s%llu\"}",
                    (unsigned long long)i, (unsigned long long)i);
}

static void message_check(const struct err *e)
{
    CHECK(e->set);
    CHECK(strncmp(e->msg, "record ", 7) == 0 || strstr(e->msg, "header") != NULL ||
          strstr(e->msg, "segment") != NULL);
    for (const char *c = e->msg; *c != '\0'; c++)
        CHECK(*c >= ' ' && *c <= '~');
}

/* One pass over the segment. Returns 0 when it verified to its end. */
static int read_pass(const uint8_t *data, size_t size, uint64_t *count, enum seal_end *end)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    struct seal_reader *r;
    struct buf out;
    struct err e;
    char want[256];
    int got = -1;

    CHECK(f != NULL);
    err_clear(&e);
    r = seal_reader_open(f, &key, 1, NULL, &e);
    if (r == NULL) {
        message_check(&e);
        fclose(f);
        return -1;
    }
    buf_init(&out, SEAL_RECORD_MAX + 1);
    while ((got = seal_reader_next(r, &out, &e)) == 1) {
        int n = seed_record(want, sizeof(want), seal_reader_count(r) - 1);
        CHECK(out.len == (size_t)n && memcmp(out.data, want, out.len) == 0);
    }
    if (got < 0)
        message_check(&e);
    *count = seal_reader_count(r);
    *end = seal_reader_end(r);
    CHECK(got < 0 ? *end == SEAL_OPEN : *end != SEAL_OPEN);
    buf_free(&out);
    seal_reader_free(r);
    fclose(f);
    return got == 0 ? 0 : -1;
}

/* The keyless scan never reads past the end, fails only on what the reader
 * fails too, and agrees with the reader on every segment it accepts. */
static void scan_check(const uint8_t *data, size_t size, int read_ok, uint64_t count,
                       enum seal_end end)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    struct seal_scan sc;
    struct err e;
    int r;

    CHECK(f != NULL);
    err_clear(&e);
    r = seal_scan(f, &sc, &e);
    fclose(f);
    CHECK(sc.good_end <= size);
    CHECK(r == 0 || (!read_ok && e.set));
    if (!read_ok)
        return;
    CHECK(sc.good_end == size && sc.records == count);
    CHECK(sc.closed == (end == SEAL_FINISHED || end == SEAL_RECOVERED));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t n1 = 0, n2 = 0;
    enum seal_end e1 = SEAL_OPEN, e2 = SEAL_OPEN;
    int ok;

    if (size == 0) /* fmemopen needs a byte; an empty file is a unit test */
        return 0;
    key_init();
    ok = read_pass(data, size, &n1, &e1) == 0;
    scan_check(data, size, ok, n1, e1);
    if (!ok)
        return 0; /* the decrypt-style second pass never runs: nothing printed */
    CHECK(read_pass(data, size, &n2, &e2) == 0 && n1 == n2 && e1 == e2);
    return 0;
}

#ifdef FUZZ_SEGMENT_SEEDS
/* cc -DFUZZ_SEGMENT_SEEDS -D_GNU_SOURCE -std=c11 -I. tests/fuzz/fuzz_segment.c \
 *    crypto/seal.c crypto/keys.c crypto/keyfile.c common/[a-z]*.c -lsodium \
 *    && ./a.out tests/fuzz/corpus/segment */
static void seed(const char *dir, const char *name, unsigned n, int close, size_t cut)
{
    struct seal_writer *w;
    struct buf b;
    struct err e;
    char rec[256], path[512];
    FILE *f;

    err_clear(&e);
    buf_init(&b, 0);
    w = seal_writer_new("acme", &pub, 1714521600000ull, &e);
    CHECK(w != NULL && buf_append(&b, seal_writer_header(w), SEAL_HEADER_BYTES) == 0);
    for (unsigned i = 0; i < n; i++) {
        int len = seed_record(rec, sizeof(rec), i);
        CHECK(seal_writer_append(w, rec, (size_t)len, &b, &e) == 0);
    }
    if (close == 1)
        CHECK(seal_writer_finish(w, &b, &e) == 0);
    if (close == 2)
        CHECK(seal_recovered_frame(n, &b) == 0);
    seal_writer_free(w);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(b.data, 1, b.len - cut, f) == b.len - cut && fclose(f) == 0);
    buf_free(&b);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    key_init();
    seed(argv[1], "finished-3", 3, 1, 0);
    seed(argv[1], "finished-0", 0, 1, 0);
    seed(argv[1], "unfinished-2", 2, 0, 0);
    seed(argv[1], "recovered-2", 2, 2, 0);
    seed(argv[1], "torn-tail", 3, 0, 40);
    return 0;
}
#endif
