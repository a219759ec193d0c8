/* seal: the segment envelope, its tamper evidence, and secret key files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/keyfile.h"
#include "crypto/keys.h"
#include "crypto/pseudo.h"
#include "crypto/seal.h"
#include "leak.h"

#define T0          1714521600000ull                               /* 2024-05-01T00:00:00Z */
#define DATA_FRAME  (SEAL_FRAME_HEAD + 24 + 16 + SEAL_FRAME_CHECK) /* plus the plaintext */
#define FINAL_FRAME (SEAL_FRAME_HEAD + 24 + 8 + 16 + SEAL_FRAME_CHECK)

static char dir[] = "/tmp/scrim-test-seal-XXXXXX";
static struct keys_public acme_pub, acme2_pub, globex_pub;
static struct keys_secret *acme_key, *acme2_key, *globex_key;

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static int load_pair(const char *tenant, struct keys_public *pub, struct keys_secret **sec)
{
    char p[512];
    struct err e;

    err_clear(&e);
    if (keys_generate_tenant(dir, tenant, NULL, &e) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/%s.pub", dir, tenant);
    if (keys_load_public(p, pub, &e) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/%s.key", dir, tenant);
    return keys_load_secret(p, sec, &e);
}

static int group_setup(void **state)
{
    (void)state;
    if (keyfile_crypto_init() != 0 || mkdtemp(dir) == NULL)
        return -1;
    if (load_pair("acme", &acme_pub, &acme_key) || load_pair("acme2", &acme2_pub, &acme2_key) ||
        load_pair("globex", &globex_pub, &globex_key))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    keys_secret_free(acme_key);
    keys_secret_free(acme2_key);
    keys_secret_free(globex_key);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int record_text(char *out, size_t cap, unsigned i)
{
    return snprintf(out, cap,
                    "{\"type\":\"field_state\",\"journey\":\"loan\",\"session\":\"s\",\"t\":%u,"
                    "\"step\":\"personal\",\"field\":\"f%u\",\"state\":\"valid\"}",
                    1000 + i, i);
}

/* A segment of n records into seg; finished with its final record if asked. */
static void build(struct buf *seg, const char *tenant, const struct keys_public *pk, unsigned n,
                  int finish)
{
    struct seal_writer *w;
    struct err e;
    char rec[256];

    err_clear(&e);
    buf_init(seg, 0);
    w = seal_writer_new(tenant, pk, T0, &e);
    assert_non_null(w);
    assert_int_equal(buf_append(seg, seal_writer_header(w), SEAL_HEADER_BYTES), 0);
    for (unsigned i = 0; i < n; i++) {
        int len = record_text(rec, sizeof(rec), i);
        assert_int_equal(seal_writer_append(w, rec, (size_t)len, seg, &e), 0);
    }
    if (finish)
        assert_int_equal(seal_writer_finish(w, seg, &e), 0);
    seal_writer_free(w);
}

/* Read the whole segment in p[0..n): 0 when it verified to its end, with
 * the records checked against record_text; -1 with e on any failure. */
static int verify_keys(const void *p, size_t n, struct keys_secret *const *keys, size_t nkeys,
                       const char *tenant, uint64_t *count, enum seal_end *end, struct err *e)
{
    FILE *f = fmemopen((void *)p, n, "rb");
    struct seal_reader *r;
    struct buf out;
    char want[256];
    int got;

    assert_non_null(f);
    err_clear(e);
    r = seal_reader_open(f, keys, nkeys, tenant, e);
    if (r == NULL) {
        fclose(f);
        return -1;
    }
    buf_init(&out, 0);
    while ((got = seal_reader_next(r, &out, e)) == 1) {
        record_text(want, sizeof(want), (unsigned)seal_reader_count(r) - 1);
        assert_string_equal(out.data, want);
    }
    *count = seal_reader_count(r);
    *end = seal_reader_end(r);
    if (got < 0)
        assert_int_equal(seal_reader_next(r, &out, e), -1); /* a failure sticks */
    buf_free(&out);
    seal_reader_free(r);
    fclose(f);
    return got == 0 ? 0 : -1;
}

static int verify(const struct buf *seg, struct keys_secret *k, uint64_t *count, enum seal_end *end,
                  struct err *e)
{
    return verify_keys(seg->data, seg->len, &k, 1, NULL, count, end, e);
}

/* Must fail verification, with msg in the message. */
static void expect_fail(const void *p, size_t n, const char *msg)
{
    struct err e;
    uint64_t count;
    enum seal_end end;

    if (verify_keys(p, n, &acme_key, 1, NULL, &count, &end, &e) == 0)
        fail_msg("tampered segment verified (%zu bytes, expected \"%s\")", n, msg);
    if (strstr(e.msg, msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg);
}

static size_t data_frame_len(unsigned i)
{
    char rec[256];

    return DATA_FRAME + (size_t)record_text(rec, sizeof(rec), i);
}

static size_t frame_off(unsigned i)
{
    size_t off = SEAL_HEADER_BYTES;

    for (unsigned k = 0; k < i; k++)
        off += data_frame_len(k);
    return off;
}

/* A tamperer who knows the format recomputes a frame's check after editing
 * it: only the cryptography can catch that. */
static void recheck(uint8_t *frame, size_t total)
{
    crypto_generichash(frame + total - SEAL_FRAME_CHECK, SEAL_FRAME_CHECK, frame,
                       total - SEAL_FRAME_CHECK, NULL, 0);
}

static void test_round_trip(void **state)
{
    struct buf seg;
    struct err e;
    uint64_t count;
    enum seal_end end;
    FILE *f;
    struct seal_reader *r;

    (void)state;
    build(&seg, "acme", &acme_pub, 5, 1);
    assert_int_equal(seg.len, frame_off(5) + FINAL_FRAME);
    assert_int_equal(verify(&seg, acme_key, &count, &end, &e), 0);
    assert_int_equal(count, 5);
    assert_int_equal(end, SEAL_FINISHED);
    f = fmemopen(seg.data, seg.len, "rb");
    r = seal_reader_open(f, &acme_key, 1, "acme", &e);
    assert_non_null(r);
    assert_string_equal(seal_reader_header(r)->tenant, "acme");
    assert_string_equal(seal_reader_header(r)->key_id, acme_pub.id);
    assert_int_equal(seal_reader_header(r)->created_ms, T0);
    seal_reader_free(r);
    fclose(f);
    buf_free(&seg);
}

static void test_empty_segment(void **state)
{
    struct buf seg;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    build(&seg, "acme", &acme_pub, 0, 1);
    assert_int_equal(verify(&seg, acme_key, &count, &end, &e), 0);
    assert_int_equal(count, 0);
    assert_int_equal(end, SEAL_FINISHED);
    buf_free(&seg);
}

static void test_segment_ids_and_keys_are_fresh(void **state)
{
    struct buf a, b;

    (void)state;
    build(&a, "acme", &acme_pub, 1, 1);
    build(&b, "acme", &acme_pub, 1, 1);
    /* Same tenant, key and time: segment id, sealed key, commitment differ. */
    assert_memory_equal(a.data, b.data, 20 + 0);
    assert_memory_not_equal(a.data + 20, b.data + 20, 32);
    assert_memory_not_equal(a.data + 124, b.data + 124, 112);
    buf_free(&a);
    buf_free(&b);
}

static void test_other_tenant_key_fails(void **state)
{
    struct buf seg;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    assert_int_equal(verify(&seg, globex_key, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, acme_pub.id));
    assert_non_null(strstr(e.msg, "no given secret key"));
    buf_free(&seg);
}

/* The key id only picks a key; it grants nothing. A key relabelled with the
 * right id still cannot open the sealed data key. */
static void test_relabelled_key_fails(void **state)
{
    struct keys_secret *fake = sodium_malloc(sizeof(*fake));
    struct buf seg;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    memcpy(fake, globex_key, sizeof(*fake));
    memcpy(fake->id, acme_key->id, sizeof(fake->id));
    build(&seg, "acme", &acme_pub, 3, 1);
    assert_int_equal(verify(&seg, fake, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, "sealed data key does not open"));
    sodium_free(fake);
    buf_free(&seg);
}

static void test_rotation_old_and_new_keys(void **state)
{
    struct keys_secret *both[2] = {acme2_key, acme_key};
    struct buf old, cur;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    build(&old, "acme", &acme_pub, 2, 1);
    build(&cur, "acme", &acme2_pub, 3, 1);
    assert_int_equal(verify(&old, acme_key, &count, &end, &e), 0);
    assert_int_equal(verify(&cur, acme2_key, &count, &end, &e), 0);
    assert_int_equal(count, 3);
    assert_int_equal(verify_keys(old.data, old.len, both, 2, NULL, &count, &end, &e), 0);
    assert_int_equal(count, 2);
    assert_int_equal(verify_keys(cur.data, cur.len, both, 2, NULL, &count, &end, &e), 0);
    assert_int_equal(verify(&old, acme2_key, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, acme_pub.id));
    assert_int_equal(verify(&cur, acme_key, &count, &end, &e), -1);
    buf_free(&old);
    buf_free(&cur);
}

/* What the proxy's config holds (the .pub file and the pseudonym key) opens
 * nothing: neither loads as a secret key, nor do their bytes open a segment
 * when forced into one. */
static void test_config_keys_cannot_decrypt(void **state)
{
    struct keys_secret *k = NULL, *forced = sodium_malloc(sizeof(*forced));
    char p[512];
    struct err e;
    struct buf seg;
    uint64_t count;
    enum seal_end end;
    uint8_t pseudo[32];

    (void)state;
    path(p, sizeof(p), "acme.pub");
    err_clear(&e);
    assert_int_equal(keys_load_secret(p, &k, &e), -1);
    assert_null(k);
    path(p, sizeof(p), "acme.pseudonym");
    assert_int_equal(pseudo_key_generate(p, &e), 0);
    err_clear(&e);
    assert_int_equal(keys_load_secret(p, &k, &e), -1);
    build(&seg, "acme", &acme_pub, 1, 1);
    randombytes_buf(pseudo, sizeof(pseudo));
    for (int i = 0; i < 2; i++) {
        memcpy(forced->sk, i == 0 ? acme_pub.pk : pseudo, 32);
        crypto_scalarmult_base(forced->pk, forced->sk);
        memcpy(forced->id, acme_pub.id, sizeof(forced->id));
        assert_int_equal(verify(&seg, forced, &count, &end, &e), -1);
    }
    sodium_free(forced);
    buf_free(&seg);
}

/* What a flip at offset off of a 3-record finished segment must report. */
static const char *flip_expect(size_t off)
{
    size_t f3 = frame_off(3);

    if (off < 8)
        return "bad magic";
    if (off < 10)
        return "unsupported";
    if (off < 12)
        return "damaged header";
    if (off < 20)
        return "no given secret key"; /* the key id */
    if (off < 60)
        return "commitment mismatch"; /* segment id, creation time */
    if (off < 124)
        return "header"; /* tenant: damaged, or another valid id uncommitted */
    if (off < 204)
        return "sealed data key does not open";
    if (off < SEAL_HEADER_BYTES)
        return "commitment mismatch";
    for (unsigned i = 0; i < 3; i++)
        if (off < frame_off(i + 1))
            return i == 0 ? "record 0: " : i == 1 ? "record 1: " : "record 2: ";
    return off < f3 + FINAL_FRAME ? "record 3: " : NULL;
}

/* Every bit of a real segment, flipped alone, fails verification with a
 * message that names the part: header fields, sealed key, commitment, and in
 * each record the length prefix, kind, nonce, ciphertext, tag and check. */
static void test_every_bit_flip_fails(void **state)
{
    struct buf seg;
    uint8_t *copy;

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    copy = xmalloc(seg.len);
    for (size_t off = 0; off < seg.len; off++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, seg.data, seg.len);
            copy[off] ^= (uint8_t)(1u << bit);
            expect_fail(copy, seg.len, flip_expect(off));
        }
    }
    xfree(copy);
    buf_free(&seg);
}

/* The same flips inside each frame, with the frame check recomputed as a
 * tamperer would: the AEAD (or the kind's length rule) still catches them. */
static void test_rechecked_flips_fail(void **state)
{
    struct buf seg;
    uint8_t *copy;
    char want[64];

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    copy = xmalloc(seg.len);
    for (unsigned i = 0; i < 4; i++) {
        size_t off = frame_off(i), total = i < 3 ? data_frame_len(i) : FINAL_FRAME;
        snprintf(want, sizeof(want), "record %u: ", i);
        for (size_t k = 4; k < total - SEAL_FRAME_CHECK; k++) { /* kind, nonce, body, tag */
            for (int bit = 0; bit < 8; bit++) {
                memcpy(copy, seg.data, seg.len);
                copy[off + k] ^= (uint8_t)(1u << bit);
                recheck(copy + off, total);
                expect_fail(copy, seg.len, want);
            }
        }
    }
    memcpy(copy, seg.data, seg.len);
    copy[frame_off(1) + 40] ^= 1; /* ciphertext: names authentication */
    recheck(copy + frame_off(1), data_frame_len(1));
    expect_fail(copy, seg.len, "record 1: fails authentication");
    xfree(copy);
    buf_free(&seg);
}

/* Rebuild seg from its header and the frames listed in order[] (indices of
 * the 3 data frames, 3 = the final record, -1 = end). */
static void splice(struct buf *out, const struct buf *seg, const int *order)
{
    buf_init(out, 0);
    assert_int_equal(buf_append(out, seg->data, SEAL_HEADER_BYTES), 0);
    for (; *order >= 0; order++) {
        unsigned i = (unsigned)*order;
        size_t len = i < 3 ? data_frame_len(i) : FINAL_FRAME;
        assert_int_equal(buf_append(out, seg->data + frame_off(i), len), 0);
    }
}

static void splice_fails(const struct buf *seg, const int *order, const char *msg)
{
    struct buf t;

    splice(&t, seg, order);
    expect_fail(t.data, t.len, msg);
    buf_free(&t);
}

static void test_dropped_duplicated_reordered_fail(void **state)
{
    static const int drop_first[] = {1, 2, 3, -1}, drop_mid[] = {0, 2, 3, -1},
                     drop_last[] = {0, 1, 3, -1}, dup[] = {0, 1, 1, 2, 3, -1},
                     swap[] = {1, 0, 2, 3, -1}, swap_tail[] = {0, 2, 1, 3, -1},
                     final_first[] = {3, 0, 1, 2, -1}, two_finals[] = {0, 1, 2, 3, 3, -1};
    struct buf seg;

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    splice_fails(&seg, drop_first, "record 0: fails authentication");
    splice_fails(&seg, drop_mid, "record 1: fails authentication");
    splice_fails(&seg, drop_last, "record 2: final record fails authentication");
    splice_fails(&seg, dup, "record 2: fails authentication");
    splice_fails(&seg, swap, "record 0: fails authentication");
    splice_fails(&seg, swap_tail, "record 1: fails authentication");
    splice_fails(&seg, final_first, "record 0: final record fails authentication");
    splice_fails(&seg, two_finals, "record 3: bytes after the closing record");
    buf_free(&seg);
}

static void test_truncation_is_visible(void **state)
{
    static const int no_final[] = {0, 1, 2, -1};
    struct buf seg, t;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    /* Cut at a record boundary: every record verifies, the segment does not
     * count as finished. */
    splice(&t, &seg, no_final);
    assert_int_equal(verify(&t, acme_key, &count, &end, &e), 0);
    assert_int_equal(count, 3);
    assert_int_equal(end, SEAL_UNFINISHED);
    buf_free(&t);
    expect_fail(seg.data, frame_off(2) + 2, "record 2: cut short (length prefix");
    expect_fail(seg.data, frame_off(2) + 30, "record 2: cut short (ends mid-record)");
    expect_fail(seg.data, seg.len - 1, "record 3: cut short (ends mid-record)");
    expect_fail(seg.data, 100, "header cut short");
    assert_int_equal(buf_append(&seg, "x", 1), 0);
    expect_fail(seg.data, seg.len, "record 3: bytes after the closing record");
    buf_free(&seg);
}

/* Records and headers are bound to their segment: a record copied from
 * another segment of the same tenant and key, at the same index, fails, and
 * so does a fresh header (new data key, commitment and all) over old records. */
static void test_cross_segment_splices_fail(void **state)
{
    struct buf a, b, t;

    (void)state;
    build(&a, "acme", &acme_pub, 3, 1);
    build(&b, "acme", &acme_pub, 3, 1);
    buf_init(&t, 0);
    assert_int_equal(buf_append(&t, a.data, frame_off(1)), 0);
    assert_int_equal(buf_append(&t, b.data + frame_off(1), data_frame_len(1)), 0);
    assert_int_equal(buf_append(&t, a.data + frame_off(2), a.len - frame_off(2)), 0);
    expect_fail(t.data, t.len, "record 1: fails authentication");
    buf_reset(&t);
    assert_int_equal(buf_append(&t, b.data, SEAL_HEADER_BYTES), 0);
    assert_int_equal(buf_append(&t, a.data + SEAL_HEADER_BYTES, a.len - SEAL_HEADER_BYTES), 0);
    expect_fail(t.data, t.len, "record 0: fails authentication");
    buf_free(&t);
    buf_free(&a);
    buf_free(&b);
}

static void test_tenant_is_bound(void **state)
{
    struct buf seg;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    build(&seg, "acme", &acme_pub, 1, 1);
    assert_int_equal(verify_keys(seg.data, seg.len, &acme_key, 1, "acme", &count, &end, &e), 0);
    assert_int_equal(verify_keys(seg.data, seg.len, &acme_key, 1, "globex", &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, "moved from another tenant"));
    err_clear(&e);
    assert_null(seal_writer_new("../etc", &acme_pub, T0, &e));
    assert_true(e.set);
    assert_false(seal_tenant_valid(""));
    assert_false(seal_tenant_valid(".hidden"));
    assert_false(seal_tenant_valid("a/b"));
    assert_true(seal_tenant_valid("acme-loans_2.eu"));
    buf_free(&seg);
}

static void test_not_a_segment(void **state)
{
    static const char text[] = "{\"type\":\"submit\"}\n";
    struct buf seg;
    struct err e;
    uint64_t count;
    enum seal_end end;
    FILE *f = tmpfile();

    (void)state;
    expect_fail(text, sizeof(text) - 1, "not a scrim segment");
    err_clear(&e);
    assert_null(seal_reader_open(f, &acme_key, 1, NULL, &e)); /* empty file */
    assert_non_null(strstr(e.msg, "not a scrim segment"));
    fclose(f);
    build(&seg, "acme", &acme_pub, 1, 1);
    seg.data[8] = 2;
    assert_int_equal(verify(&seg, acme_key, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, "unsupported segment format 2"));
    buf_free(&seg);
}

static void test_recovery_marker(void **state)
{
    static const int no_final[] = {0, 1, 2, -1};
    struct buf seg, t;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    splice(&t, &seg, no_final);
    assert_int_equal(seal_recovered_frame(3, &t), 0);
    assert_int_equal(verify(&t, acme_key, &count, &end, &e), 0);
    assert_int_equal(count, 3);
    assert_int_equal(end, SEAL_RECOVERED);
    assert_int_equal(buf_append(&t, seg.data + frame_off(2), data_frame_len(2)), 0);
    expect_fail(t.data, t.len, "record 3: bytes after the closing record");
    buf_free(&t);
    /* A marker over a cut that dropped a record counts wrong. */
    splice(&t, &seg, no_final);
    t.len = frame_off(2);
    assert_int_equal(seal_recovered_frame(3, &t), 0);
    expect_fail(t.data, t.len, "record 2: closing record counts another number");
    buf_free(&t);
    buf_free(&seg);
}

static void test_scan_finds_the_torn_tail(void **state)
{
    struct buf seg;
    struct seal_scan sc;
    struct err e;
    FILE *f;
    size_t cuts[] = {frame_off(2) + 3, frame_off(2) + 50, frame_off(3)};

    (void)state;
    build(&seg, "acme", &acme_pub, 3, 1);
    err_clear(&e);
    f = fmemopen(seg.data, seg.len, "rb");
    assert_int_equal(seal_scan(f, &sc, &e), 0);
    fclose(f);
    assert_int_equal(sc.good_end, seg.len);
    assert_int_equal(sc.records, 3);
    assert_true(sc.closed);
    for (size_t i = 0; i < 3; i++) {
        f = fmemopen(seg.data, cuts[i], "rb");
        assert_int_equal(seal_scan(f, &sc, &e), 0);
        fclose(f);
        assert_int_equal(sc.good_end, i < 2 ? frame_off(2) : frame_off(3));
        assert_int_equal(sc.records, i < 2 ? 2 : 3);
        assert_false(sc.closed);
    }
    seg.data[frame_off(1) + 60] ^= 1; /* damaged, not cut: the check finds it */
    f = fmemopen(seg.data, seg.len, "rb");
    assert_int_equal(seal_scan(f, &sc, &e), 0);
    fclose(f);
    assert_int_equal(sc.good_end, frame_off(1));
    f = fmemopen(seg.data, 100, "rb");
    assert_int_equal(seal_scan(f, &sc, &e), 0); /* a header a crash cut */
    fclose(f);
    assert_int_equal(sc.good_end, 0);
    f = fmemopen((void *)"garbage garbage", 15, "rb");
    assert_int_equal(seal_scan(f, &sc, &e), -1);
    fclose(f);
    buf_free(&seg);
}

static void test_writer_limits(void **state)
{
    struct seal_writer *w;
    struct buf out;
    struct err e;
    char *big = xcalloc(1, SEAL_RECORD_MAX + 1);

    (void)state;
    err_clear(&e);
    buf_init(&out, 0);
    w = seal_writer_new("acme", &acme_pub, T0, &e);
    assert_int_equal(seal_writer_append(w, big, SEAL_RECORD_MAX + 1, &out, &e), -1);
    assert_int_equal(out.len, 0);
    assert_int_equal(seal_writer_append(w, big, SEAL_RECORD_MAX, &out, &e), 0);
    assert_int_equal(out.len, SEAL_FRAME_MAX);
    assert_int_equal(seal_writer_count(w), 1);
    buf_free(&out);
    buf_init(&out, 100); /* too small for a frame: out stays as it was */
    err_clear(&e);
    assert_int_equal(seal_writer_append(w, big, 200, &out, &e), -1);
    assert_int_equal(out.len, 0);
    assert_int_equal(seal_writer_count(w), 1);
    buf_free(&out);
    buf_init(&out, 0);
    assert_int_equal(seal_writer_finish(w, &out, &e), 0);
    err_clear(&e);
    assert_int_equal(seal_writer_append(w, "x", 1, &out, &e), -1);
    assert_int_equal(seal_writer_finish(w, &out, &e), -1);
    seal_writer_free(w);
    buf_free(&out);
    xfree(big);
}

static int write_key(const char *name, const char *text, unsigned mode)
{
    char p[512];
    struct err e;

    path(p, sizeof(p), name);
    err_clear(&e);
    if (keyfile_write(p, text, strlen(text), 0600, &e) != 0)
        return -1;
    return chmod(p, mode);
}

static void expect_key_refused(const char *name, const char *msg)
{
    struct keys_secret *k = NULL;
    char p[512];
    struct err e;

    path(p, sizeof(p), name);
    err_clear(&e);
    assert_int_equal(keys_load_secret(p, &k, &e), -1);
    assert_null(k);
    if (strstr(e.msg, msg) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", e.msg, msg);
}

static void test_secret_key_file_checks(void **state)
{
    char p[512], line[256], *sp;
    struct err e;

    (void)state;
    path(p, sizeof(p), "acme.key");
    err_clear(&e);
    {
        struct keys_secret *k = NULL;
        assert_int_equal(keys_load_secret(p, &k, &e), 0);
        assert_string_equal(k->id, acme_pub.id);
        assert_memory_equal(k->pk, acme_pub.pk, KEYS_PUB_BYTES);
        keys_secret_free(k);
    }
    assert_int_equal(chmod(p, 0640), 0);
    expect_key_refused("acme.key", "chmod 600");
    assert_int_equal(chmod(p, 0600), 0);
    {
        FILE *f = fopen(p, "r");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof(line), f));
        fclose(f);
    }
    sp = line + strlen("scrim-x25519-key 1 ");
    sp[0] = sp[0] == '0' ? '1' : '0'; /* another key id */
    assert_int_equal(write_key("badid.key", line, 0600), 0);
    expect_key_refused("badid.key", "key id does not match");
    assert_int_equal(write_key("garbage.key", "hello\n", 0600), 0);
    expect_key_refused("garbage.key", "not a scrim secret key file");
    assert_int_equal(write_key("short.key", "scrim-x25519-key 1 0123456789abcdef QUJD\n", 0600), 0);
    expect_key_refused("short.key", "bad secret key encoding");
}

/* Write a 3-record segment and read it back; any step may fail cleanly. */
static int torture_round_trip(struct err *e)
{
    struct seal_writer *w = seal_writer_new("acme", &acme_pub, T0, e);
    struct seal_reader *r = NULL;
    struct buf seg, out;
    char rec[256];
    FILE *f = NULL;
    int got = -1;

    buf_init(&seg, 0);
    buf_init(&out, 0);
    if (w == NULL || buf_append(&seg, seal_writer_header(w), SEAL_HEADER_BYTES) != 0)
        goto out;
    for (unsigned i = 0; i < 3; i++)
        if (seal_writer_append(w, rec, (size_t)record_text(rec, sizeof(rec), i), &seg, e) != 0)
            goto out;
    if (seal_writer_finish(w, &seg, e) != 0 || (f = fmemopen(seg.data, seg.len, "rb")) == NULL)
        goto out;
    r = seal_reader_open(f, &acme_key, 1, "acme", e);
    while (r != NULL && (got = seal_reader_next(r, &out, e)) == 1)
        ;
    if (got == 0 && (seal_reader_count(r) != 3 || seal_reader_end(r) != SEAL_FINISHED))
        fail_msg("round trip under the allocation hook lost records");
out:
    if (got != 0 && !e->set)
        err_set(e, "failed without a message");
    seal_reader_free(r);
    if (f != NULL)
        fclose(f);
    seal_writer_free(w);
    buf_free(&seg);
    buf_free(&out);
    return got;
}

/* Walk the failing allocation through a write and a read: every failure is
 * a clean error with a message, and nothing leaks. */
static void test_torture_allocation_failures(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        long before = mem_live();
        struct err e;
        int r, injected;
        err_clear(&e);
        mem_fail_after(n);
        r = torture_round_trip(&e);
        injected = mem_fail_after(-1) > n;
        assert_int_equal(mem_live(), before);
        if (!injected) {
            assert_true(r == 0 && n > 3); /* the walk really went through failures */
            return;
        }
        assert_true(r == 0 || e.set);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_round_trip),
        LEAK_TEST(test_empty_segment),
        LEAK_TEST(test_segment_ids_and_keys_are_fresh),
        LEAK_TEST(test_other_tenant_key_fails),
        LEAK_TEST(test_relabelled_key_fails),
        LEAK_TEST(test_rotation_old_and_new_keys),
        LEAK_TEST(test_config_keys_cannot_decrypt),
        LEAK_TEST(test_every_bit_flip_fails),
        LEAK_TEST(test_rechecked_flips_fail),
        LEAK_TEST(test_dropped_duplicated_reordered_fail),
        LEAK_TEST(test_truncation_is_visible),
        LEAK_TEST(test_cross_segment_splices_fail),
        LEAK_TEST(test_tenant_is_bound),
        LEAK_TEST(test_not_a_segment),
        LEAK_TEST(test_recovery_marker),
        LEAK_TEST(test_scan_finds_the_torn_tail),
        LEAK_TEST(test_writer_limits),
        LEAK_TEST(test_secret_key_file_checks),
        LEAK_TEST(test_torture_allocation_failures),
    };

    return cmocka_run_group_tests_name("seal", tests, group_setup, group_teardown);
}
