/*
 * fuzz_decode: libFuzzer target for rules/decode (gzip, zlib, raw deflate,
 * base64, Content-Encoding lists).
 *
 * Input: byte 0 picks the decoder (mod 5: gzip, zlib, deflate, base64,
 * content-encoding), byte 1 the out_max (256 bytes shifted left by 0..12),
 * byte 2 the ratio_max (0..255). For content-encoding, the coding list runs
 * from byte 3 to the first '\n'. The rest is the payload.
 *
 * Beyond "no crash", it aborts when one of these fails:
 *   - the output never exceeds out_max or ratio_max times the payload size,
 *     and the output buffer was never allocated past that cap;
 *   - a refused input leaves the output empty;
 *   - an accepted output round-trips: gzip(out) decodes back to out;
 *   - an accepted base64 input is canonical: re-encoding the output with
 *     the same alphabet and padding gives the input back.
 */
#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define CODING_MAX 64

static void roundtrip_check(const struct buf *out)
{
    static const struct decode_limits roomy = {(size_t)64 << 20, 1u << 30};
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(1);
    size_t bound, cn;
    uint8_t *z;
    struct buf back;

    CHECK(c != NULL);
    bound = libdeflate_gzip_compress_bound(c, out->len);
    z = malloc(bound);
    CHECK(z != NULL);
    cn = libdeflate_gzip_compress(c, out->data ? out->data : "", out->len, z, bound);
    CHECK(cn > 0);
    buf_init(&back, 0);
    CHECK(decode_gzip(&roomy, z, cn, &back) == DECODE_OK);
    CHECK(back.len == out->len && (out->len == 0 || memcmp(back.data, out->data, out->len) == 0));
    buf_free(&back);
    free(z);
    libdeflate_free_compressor(c);
}

static void base64_canonical_check(const uint8_t *in, size_t n, const struct buf *out)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char alpha[65];
    const uint8_t *o = (const uint8_t *)out->data;
    int padded = n > 0 && in[n - 1] == '=';
    size_t k = 0;

    memcpy(alpha, std, sizeof(alpha));
    if (memchr(in, '-', n) != NULL || memchr(in, '_', n) != NULL) {
        alpha[62] = '-';
        alpha[63] = '_';
    }
    for (size_t i = 0; i < out->len; i += 3) {
        uint32_t v = (uint32_t)o[i] << 16;
        size_t left = out->len - i;
        if (left > 1)
            v |= (uint32_t)o[i + 1] << 8;
        if (left > 2)
            v |= o[i + 2];
        for (size_t j = 0; j < 4; j++) {
            char ch = j <= (left < 3 ? left : 3) ? alpha[(v >> (18 - 6 * j)) & 63] : '=';
            if (ch == '=' && !padded)
                break;
            CHECK(k < n && in[k] == (uint8_t)ch);
            k++;
        }
    }
    CHECK(k == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct decode_limits lim;
    const uint8_t *p, *nl;
    const char *coding = "";
    size_t n, coding_len = 0, cap;
    struct buf out;
    enum decode_status st;
    unsigned which;

    if (size < 3)
        return 0;
    which = data[0] % 5;
    lim.out_max = (size_t)256 << (data[1] % 13);
    lim.ratio_max = data[2];
    p = data + 3;
    n = size - 3;
    if (which == 4) {
        nl = memchr(p, '\n', n < CODING_MAX ? n : CODING_MAX);
        if (nl == NULL)
            return 0;
        coding = (const char *)p;
        coding_len = (size_t)(nl - p);
        n -= coding_len + 1;
        p = nl + 1;
    }
    cap = (size_t)lim.ratio_max * n < lim.out_max ? (size_t)lim.ratio_max * n : lim.out_max;
    buf_init(&out, 0);
    switch (which) {
    case 0:
        st = decode_gzip(&lim, p, n, &out);
        break;
    case 1:
        st = decode_zlib(&lim, p, n, &out);
        break;
    case 2:
        st = decode_deflate(&lim, p, n, &out);
        break;
    case 3:
        st = decode_base64(p, n, &out);
        cap = n; /* base64 has no limits but shrinks */
        break;
    default:
        st = decode_content_encoding(&lim, coding, coding_len, p, n, &out);
        break;
    }
    CHECK(st == DECODE_OK || st == DECODE_BAD || st == DECODE_TOOBIG || st == DECODE_UNSUPPORTED);
    CHECK(out.len <= cap);
    CHECK(which == 3 || out.cap <= cap + 1);
    if (st != DECODE_OK) {
        CHECK(out.len == 0);
    } else {
        roundtrip_check(&out);
        if (which == 3)
            base64_canonical_check(p, n, &out);
    }
    buf_free(&out);
    return 0;
}
