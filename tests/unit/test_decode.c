/*
 * test_decode: bounded gzip/zlib/deflate/base64 and Content-Encoding lists
 * (rules/decode.h).
 *
 * Compressed inputs are made here with libdeflate's own compressors from
 * generated data, so every expected output is the data the test started
 * from. The bomb cases check the two promises of invariant 7: the status is
 * TOOBIG, and the output buffer never held more than the cap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libdeflate.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "leak.h"
#include "rules/decode.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

enum kind { GZ, ZL, RAW };

static const struct decode_limits roomy = {.out_max = 64 * MIB, .ratio_max = 100000};

/* Replay-shaped text with some entropy: compresses, but not to nothing. */
static char *gen_data(size_t n, uint32_t seed)
{
    static const char *const words[] = {"{\"type\":3,",  "\"data\":{", "\"source\":5,",
                                        "\"text\":\"",   "\"id\":",    "},",
                                        "\"timestamp\":"};
    char *p = xmalloc(n + 1);
    size_t o = 0;

    while (o < n) {
        const char *w;
        seed = seed * 1103515245u + 12345u;
        w = words[(seed >> 16) % 7];
        for (size_t i = 0; w[i] != '\0' && o < n; i++)
            p[o++] = w[i];
        if (o < n)
            p[o++] = (char)('0' + (seed >> 8) % 10);
    }
    p[n] = '\0';
    return p;
}

/* Compress in[0..n) with libdeflate into a fresh buffer. */
static uint8_t *compress(enum kind k, const void *in, size_t n, size_t *outn)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
    size_t bound;
    uint8_t *out;

    assert_non_null(c);
    bound = k == GZ   ? libdeflate_gzip_compress_bound(c, n)
            : k == ZL ? libdeflate_zlib_compress_bound(c, n)
                      : libdeflate_deflate_compress_bound(c, n);
    out = xmalloc(bound);
    *outn = k == GZ   ? libdeflate_gzip_compress(c, in, n, out, bound)
            : k == ZL ? libdeflate_zlib_compress(c, in, n, out, bound)
                      : libdeflate_deflate_compress(c, in, n, out, bound);
    assert_true(*outn > 0);
    libdeflate_free_compressor(c);
    return out;
}

static enum decode_status decode_kind(enum kind k, const struct decode_limits *lim, const void *in,
                                      size_t n, struct buf *out)
{
    if (k == GZ)
        return decode_gzip(lim, in, n, out);
    if (k == ZL)
        return decode_zlib(lim, in, n, out);
    return decode_deflate(lim, in, n, out);
}

/* A failed decode leaves out exactly as it was: same length, same prefix. */
static void expect_fail(enum kind k, const struct decode_limits *lim, const void *in, size_t n,
                        enum decode_status want, const char *what)
{
    struct buf out;
    enum decode_status st;

    buf_init(&out, 0);
    assert_int_equal(buf_puts(&out, "prefix"), 0);
    st = decode_kind(k, lim, in, n, &out);
    if (st != want)
        fail_msg("%s (kind %d): status %s, want %s", what, k, decode_status_name(st),
                 decode_status_name(want));
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "prefix", 7);
    buf_free(&out);
}

static void roundtrip(enum kind k, size_t n, uint32_t seed)
{
    char *data = gen_data(n, seed);
    size_t cn;
    uint8_t *c = compress(k, data, n, &cn);
    struct buf out;

    buf_init(&out, 0);
    assert_int_equal(buf_puts(&out, "pre"), 0);
    assert_int_equal(decode_kind(k, &roomy, c, cn, &out), DECODE_OK);
    assert_int_equal(out.len, 3 + n);
    assert_memory_equal(out.data, "pre", 3);
    if (n > 0)
        assert_memory_equal(out.data + 3, data, n);
    buf_free(&out);
    xfree(c);
    xfree(data);
}

static void test_roundtrip(void **state)
{
    static const size_t sizes[] = {0, 1, 100, 64 * KIB, 64 * KIB + 1, 700 * KIB};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        roundtrip(GZ, sizes[i], (uint32_t)i);
        roundtrip(ZL, sizes[i], (uint32_t)i + 10);
        roundtrip(RAW, sizes[i], (uint32_t)i + 20);
    }
}

static void test_gzip_multi_member(void **state)
{
    char *a = gen_data(5000, 1), *b = gen_data(300 * KIB, 2);
    size_t an, bn;
    uint8_t *ca = compress(GZ, a, 5000, &an), *cb = compress(GZ, b, 300 * KIB, &bn);
    uint8_t *cat = xmalloc(an + bn + an);
    struct buf out;

    (void)state;
    memcpy(cat, ca, an);
    memcpy(cat + an, cb, bn);
    memcpy(cat + an + bn, ca, an);
    buf_init(&out, 0);
    assert_int_equal(decode_gzip(&roomy, cat, an + bn + an, &out), DECODE_OK);
    assert_int_equal(out.len, 5000 + 300 * KIB + 5000);
    assert_memory_equal(out.data, a, 5000);
    assert_memory_equal(out.data + 5000, b, 300 * KIB);
    assert_memory_equal(out.data + 5000 + 300 * KIB, a, 5000);
    /* zlib has no members: a second stream is trailing garbage */
    xfree(ca);
    ca = compress(ZL, a, 5000, &an);
    memcpy(cat, ca, an);
    memcpy(cat + an, ca, an);
    expect_fail(ZL, &roomy, cat, 2 * an, DECODE_BAD, "two zlib streams");
    buf_free(&out);
    xfree(cat);
    xfree(ca);
    xfree(cb);
    xfree(a);
    xfree(b);
}

static void test_truncated(void **state)
{
    char *data = gen_data(20000, 3);

    (void)state;
    for (int k = GZ; k <= RAW; k++) {
        size_t cn;
        uint8_t *c = compress((enum kind)k, data, 20000, &cn);
        size_t cuts[] = {0, 1, 2, 10, cn / 2, cn - 4, cn - 1};

        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
            if (k != RAW || i < 5) /* raw deflate has no trailer to lose */
                expect_fail((enum kind)k, &roomy, c, cuts[i], DECODE_BAD, "truncated");
        xfree(c);
    }
    xfree(data);
}

static void test_corrupt_checksums(void **state)
{
    char *data = gen_data(20000, 4);
    size_t cn;
    uint8_t *c = compress(GZ, data, 20000, &cn);

    (void)state;
    c[cn - 8] ^= 0x01; /* gzip CRC-32 */
    expect_fail(GZ, &roomy, c, cn, DECODE_BAD, "gzip crc");
    c[cn - 8] ^= 0x01;
    c[cn - 4] ^= 0x01; /* gzip ISIZE */
    expect_fail(GZ, &roomy, c, cn, DECODE_BAD, "gzip isize");
    c[cn - 4] ^= 0x01;
    c[0] ^= 0x01; /* magic */
    expect_fail(GZ, &roomy, c, cn, DECODE_BAD, "gzip magic");
    xfree(c);
    c = compress(ZL, data, 20000, &cn);
    c[cn - 1] ^= 0x80; /* zlib Adler-32 */
    expect_fail(ZL, &roomy, c, cn, DECODE_BAD, "zlib adler");
    c[cn - 1] ^= 0x80;
    c[1] ^= 0x01; /* FCHECK */
    expect_fail(ZL, &roomy, c, cn, DECODE_BAD, "zlib header check");
    xfree(c);
    xfree(data);
}

static void test_trailing_garbage(void **state)
{
    static const char *const tails[] = {"x", "\x1f", "\x1f\x8b", "\0\0\0\0", "\x1f\x8b\x08\0"};
    char *data = gen_data(3000, 5);

    (void)state;
    for (int k = GZ; k <= RAW; k++) {
        size_t cn;
        uint8_t *c = compress((enum kind)k, data, 3000, &cn);
        uint8_t *g = xmalloc(cn + 8);

        memcpy(g, c, cn);
        for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
            size_t tn = i == 3 ? 4 : strlen(tails[i]);
            memcpy(g + cn, tails[i], tn);
            expect_fail((enum kind)k, &roomy, g, cn + tn, DECODE_BAD, tails[i]);
        }
        xfree(g);
        xfree(c);
    }
    xfree(data);
}

/* 50 MiB of zeros: about 50 KB of gzip. */
static uint8_t *bomb(enum kind k, size_t *cn)
{
    char *zeros = xcalloc(50 * MIB, 1);
    uint8_t *c = compress(k, zeros, 50 * MIB, cn);

    xfree(zeros);
    return c;
}

/* out's allocation never passes the cap (plus buf's NUL byte). */
static void expect_bomb_refused(enum kind k, const struct decode_limits *lim, const uint8_t *c,
                                size_t cn, size_t cap)
{
    struct buf out;

    buf_init(&out, 0);
    assert_int_equal(decode_kind(k, lim, c, cn, &out), DECODE_TOOBIG);
    assert_int_equal(out.len, 0);
    assert_true(out.cap <= cap + 1);
    buf_free(&out);
}

static void test_bomb(void **state)
{
    (void)state;
    for (int k = GZ; k <= RAW; k++) {
        size_t cn;
        uint8_t *c = bomb((enum kind)k, &cn);
        struct decode_limits by_max = {.out_max = 1 * MIB, .ratio_max = 1000000};
        struct decode_limits by_ratio = {.out_max = 1024 * MIB, .ratio_max = 20};

        assert_true(cn < MIB);
        expect_bomb_refused((enum kind)k, &by_max, c, cn, by_max.out_max);
        expect_bomb_refused((enum kind)k, &by_ratio, c, cn, cn * by_ratio.ratio_max);
        xfree(c);
    }
}

/* The output may be exactly out_max and exactly ratio_max * n, not more. */
static void test_exact_limits(void **state)
{
    const size_t n = 200 * KIB;
    char *data = gen_data(n, 6);

    (void)state;
    for (int k = GZ; k <= RAW; k++) {
        size_t cn;
        uint8_t *c = compress((enum kind)k, data, n, &cn);
        unsigned r = (unsigned)((n + cn - 1) / cn); /* smallest ratio that admits n */
        struct decode_limits at_max = {.out_max = n, .ratio_max = 1000000};
        struct decode_limits under_max = {.out_max = n - 1, .ratio_max = 1000000};
        struct decode_limits at_ratio = {.out_max = 1024 * MIB, .ratio_max = r};
        struct decode_limits under_ratio = {.out_max = 1024 * MIB, .ratio_max = r - 1};
        struct buf out;

        buf_init(&out, 0);
        assert_int_equal(decode_kind((enum kind)k, &at_max, c, cn, &out), DECODE_OK);
        assert_int_equal(out.len, n);
        buf_reset(&out);
        assert_int_equal(decode_kind((enum kind)k, &at_ratio, c, cn, &out), DECODE_OK);
        assert_int_equal(out.len, n);
        buf_free(&out);
        expect_fail((enum kind)k, &under_max, c, cn, DECODE_TOOBIG, "out_max - 1");
        expect_fail((enum kind)k, &under_ratio, c, cn, DECODE_TOOBIG, "ratio - 1");
        xfree(c);
    }
    xfree(data);
}

/* Each member fits; their sum does not. The caller's buffer max is a cap too. */
static void test_limits_total(void **state)
{
    char *data = gen_data(40 * KIB, 7);
    size_t cn;
    uint8_t *c = compress(GZ, data, 40 * KIB, &cn);
    uint8_t *two = xmalloc(2 * cn);
    struct decode_limits lim = {.out_max = 60 * KIB, .ratio_max = 1000000};
    struct buf small;

    (void)state;
    memcpy(two, c, cn);
    memcpy(two + cn, c, cn);
    expect_fail(GZ, &lim, two, 2 * cn, DECODE_TOOBIG, "sum of members over out_max");
    buf_init(&small, 40 * KIB - 1);
    assert_int_equal(decode_gzip(&roomy, c, cn, &small), DECODE_TOOBIG);
    assert_int_equal(small.len, 0);
    buf_free(&small);
    buf_init(&small, 40 * KIB);
    assert_int_equal(decode_gzip(&roomy, c, cn, &small), DECODE_OK);
    assert_memory_equal(small.data, data, 40 * KIB);
    buf_free(&small);
    xfree(two);
    xfree(c);
    xfree(data);
}

/* Failed allocations give a clean TOOBIG and leak nothing. */
static void test_alloc_failures(void **state)
{
    char *data = gen_data(300 * KIB, 8);
    size_t cn;
    uint8_t *c = compress(GZ, data, 300 * KIB, &cn);
    int ok = 0;

    (void)state;
    for (long n = 0; n < 50 && !ok; n++) {
        struct buf out;
        enum decode_status st;

        buf_init(&out, 0);
        mem_fail_after(n);
        st = decode_content_encoding(&roomy, "gzip, identity", 14, c, cn, &out);
        mem_fail_after(-1);
        if (st == DECODE_OK) {
            ok = 1;
            assert_memory_equal(out.data, data, 300 * KIB);
        } else {
            assert_int_equal(st, DECODE_TOOBIG);
            assert_int_equal(out.len, 0);
        }
        buf_free(&out);
    }
    assert_true(ok);
    xfree(c);
    xfree(data);
}

struct b64 {
    const char *in, *out;
};

static void b64_ok(const char *in, const char *want)
{
    struct buf out;

    buf_init(&out, 0);
    assert_int_equal(buf_puts(&out, "p"), 0);
    if (decode_base64(in, strlen(in), &out) != DECODE_OK)
        fail_msg("base64 \"%s\" refused", in);
    assert_int_equal(out.len, 1 + strlen(want));
    assert_memory_equal(out.data + 1, want, strlen(want));
    buf_free(&out);
}

static void b64_bad(const char *in, size_t n)
{
    struct buf out;

    buf_init(&out, 0);
    assert_int_equal(buf_puts(&out, "p"), 0);
    if (decode_base64(in, n, &out) != DECODE_BAD)
        fail_msg("base64 \"%.*s\" accepted", (int)n, in);
    assert_int_equal(out.len, 1);
    buf_free(&out);
}

/* RFC 4648 section 10, padded and unpadded. */
static void test_base64_rfc4648(void **state)
{
    static const struct b64 v[] = {{"", ""},
                                   {"Zg==", "f"},
                                   {"Zm8=", "fo"},
                                   {"Zm9v", "foo"},
                                   {"Zm9vYg==", "foob"},
                                   {"Zm9vYmE=", "fooba"},
                                   {"Zm9vYmFy", "foobar"}};

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char unpadded[16];
        size_t n = strlen(v[i].in);

        b64_ok(v[i].in, v[i].out);
        while (n > 0 && v[i].in[n - 1] == '=')
            n--;
        snprintf(unpadded, sizeof(unpadded), "%.*s", (int)n, v[i].in);
        b64_ok(unpadded, v[i].out);
    }
}

static void test_base64_alphabets(void **state)
{
    (void)state;
    /* 0xfb 0xff 0xbf uses both alphabet-specific symbols */
    b64_ok("+/+/", "\xfb\xff\xbf");
    b64_ok("-_-_", "\xfb\xff\xbf");
    b64_ok("-_8=", "\xfb\xff");
    b64_ok("-_8", "\xfb\xff");
    b64_bad("+_+_", 4); /* mixed */
    b64_bad("-/-/", 4);
    b64_bad("+/-_", 4);
}

static void test_base64_invalid(void **state)
{
    static const char *const bad[] = {
        "Z",    "Zm9vY",    "Zg=",   "Zg===", "Zm8==",  "Zm9v=",  "Zm9v====",  "=",    "==",
        "====", "Zg==Zg==", "Zm=9v", "Zm 9v", "Zm9v\n", " Zm9v",  "Zm9v\r\n",  "Zh==", "Zh",
        "Zm9=", "Zm9",      "Zm.v",  "Zm9v*", "Zm\\9",  "Zg==\n", "Zm9vYmFy=", "A===", "AA=A",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        b64_bad(bad[i], strlen(bad[i]));
    b64_bad("Zm\0v", 4);
    b64_bad("Zg\xc3\xa9", 4);
}

static void test_base64_buf_max(void **state)
{
    struct buf out;

    (void)state;
    buf_init(&out, 5);
    assert_int_equal(decode_base64("Zm9vYmFy", 8, &out), DECODE_TOOBIG);
    assert_int_equal(out.len, 0);
    assert_int_equal(decode_base64("Zm9vYmE", 7, &out), DECODE_OK);
    assert_memory_equal(out.data, "fooba", 5);
    buf_free(&out);
}

static enum decode_status ce(const struct decode_limits *lim, const char *coding, const void *in,
                             size_t n, struct buf *out)
{
    buf_reset(out);
    return decode_content_encoding(lim, coding, strlen(coding), in, n, out);
}

static void test_content_encoding_single(void **state)
{
    static const char *const gz[] = {"gzip",   "GZIP",           "x-gzip",
                                     "X-GZip", " gzip\t",        "gzip,",
                                     ", gzip", "gzip, identity", "identity ,gzip"};
    const size_t n = 30000;
    char *data = gen_data(n, 9);
    size_t gn, zn, rn;
    uint8_t *g = compress(GZ, data, n, &gn), *z = compress(ZL, data, n, &zn),
            *r = compress(RAW, data, n, &rn);
    struct buf out;

    (void)state;
    buf_init(&out, 0);
    for (size_t i = 0; i < sizeof(gz) / sizeof(gz[0]); i++) {
        if (ce(&roomy, gz[i], g, gn, &out) != DECODE_OK)
            fail_msg("\"%s\" refused", gz[i]);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, data, n);
    }
    assert_int_equal(ce(&roomy, "deflate", z, zn, &out), DECODE_OK); /* RFC 9110: zlib */
    assert_memory_equal(out.data, data, n);
    assert_int_equal(ce(&roomy, "Deflate", r, rn, &out), DECODE_OK); /* what some send */
    assert_memory_equal(out.data, data, n);
    assert_int_equal(ce(&roomy, "identity", data, n, &out), DECODE_OK);
    assert_memory_equal(out.data, data, n);
    assert_int_equal(ce(&roomy, "", data, n, &out), DECODE_OK);
    assert_memory_equal(out.data, data, n);
    assert_int_equal(ce(&roomy, "deflate", g, gn, &out), DECODE_BAD); /* gzip is not deflate */
    assert_int_equal(ce(&roomy, "gzip", z, zn, &out), DECODE_BAD);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    xfree(g);
    xfree(z);
    xfree(r);
    xfree(data);
}

static void test_content_encoding_refused(void **state)
{
    static const char *const unsupported[] = {"br",
                                              "zstd",
                                              "compress",
                                              "gzip, br",
                                              "gzip;q=1",
                                              "gz ip",
                                              "gzip gzip",
                                              "gzip, gzip, gzip",
                                              "identity, identity, gzip",
                                              "*"};
    struct buf out;

    (void)state;
    buf_init(&out, 0);
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (ce(&roomy, unsupported[i], "x", 1, &out) != DECODE_UNSUPPORTED)
            fail_msg("\"%s\" not refused as unsupported", unsupported[i]);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

/* "gzip, deflate": gzip was applied first, so deflate is undone first. */
static void test_content_encoding_chain(void **state)
{
    const size_t n = 100 * KIB;
    char *data = gen_data(n, 10);
    size_t gn, ggn;
    uint8_t *g = compress(GZ, data, n, &gn);
    uint8_t *gz_then_zl = compress(ZL, g, gn, &ggn);
    struct buf out;

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(ce(&roomy, "gzip, deflate", gz_then_zl, ggn, &out), DECODE_OK);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, data, n);
    assert_int_equal(ce(&roomy, " GZIP ,\tDeflate ", gz_then_zl, ggn, &out), DECODE_OK);
    assert_memory_equal(out.data, data, n);
    assert_int_equal(ce(&roomy, "deflate, gzip", gz_then_zl, ggn, &out), DECODE_BAD);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    xfree(gz_then_zl);
    xfree(g);
    xfree(data);
}

/* The limits hold for the final output, and the ratio is taken against the
 * bytes that arrived, not the intermediate stage. */
static void test_content_encoding_chain_limits(void **state)
{
    char *zeros = xcalloc(8 * MIB, 1);
    size_t gn, ggn;
    uint8_t *g = compress(GZ, zeros, 8 * MIB, &gn);
    uint8_t *gg = compress(GZ, g, gn, &ggn);
    unsigned r = (unsigned)((8 * MIB + ggn - 1) / ggn);
    struct decode_limits at_ratio = {.out_max = 1024 * MIB, .ratio_max = r};
    struct decode_limits under_ratio = {.out_max = 1024 * MIB, .ratio_max = r - 1};
    struct decode_limits at_max = {.out_max = 8 * MIB, .ratio_max = 1000000000};
    struct decode_limits under_max = {.out_max = 8 * MIB - 1, .ratio_max = 1000000000};
    struct buf out;

    (void)state;
    /* a ratio taken per stage, against the intermediate size, would pass */
    assert_true((size_t)(r - 1) * gn >= 8 * MIB);
    buf_init(&out, 0);
    assert_int_equal(ce(&at_ratio, "gzip, gzip", gg, ggn, &out), DECODE_OK);
    assert_int_equal(out.len, 8 * MIB);
    assert_int_equal(ce(&at_max, "gzip,gzip", gg, ggn, &out), DECODE_OK);
    buf_free(&out);
    buf_init(&out, 0);
    assert_int_equal(ce(&under_ratio, "gzip, gzip", gg, ggn, &out), DECODE_TOOBIG);
    assert_int_equal(ce(&under_max, "gzip, gzip", gg, ggn, &out), DECODE_TOOBIG);
    assert_int_equal(out.len, 0);
    assert_true(out.cap <= 8 * MIB);
    assert_int_equal(ce(&under_max, "identity", zeros, 8 * MIB, &out), DECODE_TOOBIG);
    buf_free(&out);
    xfree(gg);
    xfree(g);
    xfree(zeros);
}

static void test_status_names(void **state)
{
    const char *names[] = {decode_status_name(DECODE_OK), decode_status_name(DECODE_BAD),
                           decode_status_name(DECODE_TOOBIG),
                           decode_status_name(DECODE_UNSUPPORTED)};

    (void)state;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = i + 1; j < 4; j++)
            assert_string_not_equal(names[i], names[j]);
}

#define T(f) LEAK_TEST(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_roundtrip),
        T(test_gzip_multi_member),
        T(test_truncated),
        T(test_corrupt_checksums),
        T(test_trailing_garbage),
        T(test_bomb),
        T(test_exact_limits),
        T(test_limits_total),
        T(test_alloc_failures),
        T(test_base64_rfc4648),
        T(test_base64_alphabets),
        T(test_base64_invalid),
        T(test_base64_buf_max),
        T(test_content_encoding_single),
        T(test_content_encoding_refused),
        T(test_content_encoding_chain),
        T(test_content_encoding_chain_limits),
        T(test_status_names),
    };

    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
