#include "note.h"

#include "common/mem.h"
#include "crypto/keyfile.h"
#include "rules/json.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define ALG_ED25519 0x01
#define SIG_PREFIX  "\xe2\x80\x94 " /* U+2014 EM DASH, then a space */
#define SKEY_PREFIX "PRIVATE+KEY+"
#define B64_MAX_IN  128 /* characters note_b64_decode accepts */

struct note_signer {
    struct note_verifier v;
    uint8_t *sk; /* sodium_malloc: Ed25519 secret key, seed || public key */
};

int note_name_ok(const char *s, size_t n, size_t max)
{
    if (s == NULL || n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '+')
            return 0;
    return 1;
}

int note_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    char again[B64_MAX_IN + 1];
    const char *end = NULL;
    size_t got = 0;

    if (n == 0 || n > B64_MAX_IN || n % 4 != 0 || cap > 96)
        return -1;
    if (sodium_base642bin(out, cap, s, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + n)
        return -1;
    /* sodium accepts non-zero bits in the last character's padding; a
     * second encoding of the same bytes would then verify too. */
    sodium_bin2base64(again, sizeof(again), out, got, sodium_base64_VARIANT_ORIGINAL);
    if (strlen(again) != n || memcmp(again, s, n) != 0)
        return -1;
    *len = got;
    return 0;
}

int note_b64_encode(struct buf *out, const uint8_t *p, size_t n)
{
    char b64[B64_MAX_IN + 1];

    if (n > 96)
        return -1;
    sodium_bin2base64(b64, sizeof(b64), p, n, sodium_base64_VARIANT_ORIGINAL);
    return buf_puts(out, b64);
}

/* The recommended key id: SHA-256(name || 0x0A || 0x01 || key)[0..4). */
static void key_id(const char *name, const uint8_t pk[32], uint8_t id[4])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    static const uint8_t sep[2] = {'\n', ALG_ED25519};

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, sizeof(sep));
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    memcpy(id, h, 4);
}

static void verifier_set(struct note_verifier *v, const char *name, size_t n, const uint8_t pk[32])
{
    memcpy(v->name, name, n);
    v->name[n] = '\0';
    memcpy(v->pk, pk, 32);
    key_id(v->name, v->pk, v->id);
}

static size_t trim_end(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    return n;
}

int note_verifier_parse(const char *s, size_t n, struct note_verifier *out, struct err *err)
{
    const char *plus;
    uint8_t raw[48], id[4];
    size_t nlen, rlen;

    n = trim_end(s, n);
    plus = memchr(s, '+', n);
    if (plus == NULL || !note_name_ok(s, (size_t)(plus - s), NOTE_NAME_MAX))
        return err_set(err, "not a verifier key (name+id+key)");
    nlen = (size_t)(plus - s);
    if (n < nlen + 11 || s[nlen + 9] != '+' || keyfile_hex_decode(plus + 1, 8, id, 4) != 0)
        return err_set(err, "not a verifier key: bad key id");
    if (note_b64_decode(s + nlen + 10, n - nlen - 10, raw, sizeof(raw), &rlen) != 0 || rlen != 33 ||
        raw[0] != ALG_ED25519)
        return err_set(err, "not an Ed25519 verifier key");
    verifier_set(out, s, nlen, raw + 1);
    if (memcmp(out->id, id, 4) != 0)
        return err_set(err, "verifier key id does not match its name and key");
    return 0;
}

int note_verifier_load(const char *path, struct note_verifier *out, struct err *err)
{
    char b[512];
    size_t len;

    struct err why;

    err_clear(&why);
    if (keyfile_read_public(path, b, sizeof(b), &len, err) != 0)
        return -1;
    if (note_verifier_parse(b, len, out, &why) != 0)
        return err_set(err, "%s: %s", path, why.msg);
    return 0;
}

int note_verifier_format(const struct note_verifier *v, struct buf *out)
{
    uint8_t raw[33];

    raw[0] = ALG_ED25519;
    memcpy(raw + 1, v->pk, 32);
    return buf_printf(out, "%s+%02x%02x%02x%02x+", v->name, v->id[0], v->id[1], v->id[2],
                      v->id[3]) ||
           note_b64_encode(out, raw, sizeof(raw));
}

/* Decode base64(0x01 || seed) from s[0..n) straight into guarded memory and
 * expand the seed into the signer's key pair. */
static int signer_expand(struct note_signer *k, const char *s, size_t n, uint8_t pk[32])
{
    uint8_t *raw = sodium_malloc(48);
    const char *end = NULL;
    size_t got = 0;
    int r = -1;

    if (raw == NULL)
        return -1;
    if (sodium_base642bin(raw, 48, s, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        end == s + n && got == 33 && raw[0] == ALG_ED25519) {
        crypto_sign_seed_keypair(pk, k->sk, raw + 1);
        r = 0;
    }
    sodium_free(raw);
    return r;
}

struct note_signer *note_signer_parse(const char *s, size_t n, struct err *err)
{
    const size_t pre = sizeof(SKEY_PREFIX) - 1;
    struct note_signer *k;
    const char *name = s + pre, *plus;
    uint8_t id[4], pk[32];
    size_t nlen;

    n = trim_end(s, n);
    if (n < pre || memcmp(s, SKEY_PREFIX, pre) != 0 || (plus = memchr(name, '+', n - pre)) == NULL)
        return err_set(err, "not a signing key (PRIVATE+KEY+name+id+key)"), NULL;
    nlen = (size_t)(plus - name);
    if (!note_name_ok(name, nlen, NOTE_NAME_MAX) || n < pre + nlen + 11 || plus[9] != '+' ||
        keyfile_hex_decode(plus + 1, 8, id, 4) != 0)
        return err_set(err, "not a signing key: bad name or key id"), NULL;
    k = xcalloc(1, sizeof(*k));
    if (k == NULL)
        return err_set(err, "out of memory"), NULL;
    k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (k->sk == NULL || signer_expand(k, plus + 10, n - pre - nlen - 10, pk) != 0) {
        note_signer_free(k);
        return err_set(err, "not an Ed25519 signing key"), NULL;
    }
    verifier_set(&k->v, name, nlen, pk);
    if (memcmp(k->v.id, id, 4) != 0) {
        note_signer_free(k);
        return err_set(err, "signing key id does not match its name and key"), NULL;
    }
    return k;
}

struct note_signer *note_signer_load(const char *path, struct err *err)
{
    uint8_t *raw;
    size_t len;
    struct note_signer *k;
    struct err why;

    err_clear(&why);
    if (keyfile_read_secret(path, 512, &raw, &len, err) != 0)
        return NULL;
    k = note_signer_parse((const char *)raw, len, &why);
    keyfile_secret_free(raw, 512);
    if (k == NULL)
        err_set(err, "%s: %s", path, why.msg);
    return k;
}

void note_signer_free(struct note_signer *s)
{
    if (s == NULL)
        return;
    sodium_free(s->sk); /* wipes first */
    xfree(s);
}

const struct note_verifier *note_signer_verifier(const struct note_signer *s)
{
    return &s->v;
}

static int path_join(char *out, size_t cap, const char *dir, const char *file, struct err *err)
{
    int n = snprintf(out, cap, "%s/%s", dir, file);

    if (n < 0 || (size_t)n >= cap)
        return err_set(err, "key path too long");
    return 0;
}

/* The secret line, built in guarded memory: PRIVATE+KEY+name+id+b64(0x01||seed). */
static int skey_line(char *line, size_t cap, const struct note_verifier *v, const uint8_t *sk)
{
    uint8_t *raw = sodium_malloc(33);
    char *b64 = sodium_malloc(64);
    int n = -1;

    if (raw != NULL && b64 != NULL) {
        raw[0] = ALG_ED25519;
        memcpy(raw + 1, sk, 32); /* libsodium's secret key starts with the seed */
        sodium_bin2base64(b64, 64, raw, 33, sodium_base64_VARIANT_ORIGINAL);
        n = snprintf(line, cap, SKEY_PREFIX "%s+%02x%02x%02x%02x+%s\n", v->name, v->id[0], v->id[1],
                     v->id[2], v->id[3], b64);
    }
    sodium_free(raw);
    sodium_free(b64);
    return n > 0 && (size_t)n < cap ? n : -1;
}

int note_keys_generate(const char *dir, const char *name, struct note_verifier *out,
                       struct err *err)
{
    uint8_t pk[32], *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    char *line = sodium_malloc(512), keyp[4096], pubp[4096];
    struct note_verifier v;
    struct buf pub;
    int n, r = -1;

    buf_init(&pub, 1024);
    if (!note_name_ok(name, strlen(name), NOTE_NAME_MAX)) {
        err_set(err, "key name must be 1-%d printable characters without spaces or '+'",
                NOTE_NAME_MAX);
        goto out;
    }
    if (sk == NULL || line == NULL || path_join(keyp, sizeof(keyp), dir, "audit.key", err) ||
        path_join(pubp, sizeof(pubp), dir, "audit.pub", err))
        goto out;
    crypto_sign_keypair(pk, sk);
    verifier_set(&v, name, strlen(name), pk);
    n = skey_line(line, 512, &v, sk);
    if (n < 0 || keyfile_write(keyp, line, (size_t)n, 0600, err))
        goto out;
    if (note_verifier_format(&v, &pub) || buf_putc(&pub, '\n') ||
        keyfile_write(pubp, pub.data, pub.len, 0644, err))
        goto out;
    if (out != NULL)
        *out = v;
    r = 0;
out:
    sodium_free(sk);
    sodium_free(line);
    buf_free(&pub);
    return r;
}

/* Valid UTF-8 with no control character other than newline. */
static int text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
            return 0;
    return json_utf8_valid(s, n);
}

int note_sign(const struct note_signer *s, const char *text, size_t n, struct buf *out,
              struct err *err)
{
    uint8_t sig[4 + crypto_sign_BYTES];
    size_t mark = out->len;

    if (n == 0 || text[0] == '\n' || text[n - 1] != '\n' || memmem(text, n, "\n\n", 2) != NULL ||
        !text_ok(text, n))
        return err_set(err, "note text must be lines of UTF-8 text, each ending in a newline");
    memcpy(sig, s->v.id, 4);
    crypto_sign_detached(sig + 4, NULL, (const uint8_t *)text, n, s->sk);
    if (buf_append(out, text, n) || buf_puts(out, "\n" SIG_PREFIX) || buf_puts(out, s->v.name) ||
        buf_putc(out, ' ') || note_b64_encode(out, sig, sizeof(sig)) || buf_putc(out, '\n')) {
        buf_wipe_from(out, mark);
        return err_set(err, "signed note larger than its buffer");
    }
    return 0;
}

int note_u64_parse(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The line at s[*off..n) up to its newline (not included); -1 when no
 * complete line is left. */
static int next_line(const char *s, size_t n, size_t *off, const char **line, size_t *len)
{
    const char *nl;

    if (*off >= n || (nl = memchr(s + *off, '\n', n - *off)) == NULL)
        return -1;
    *line = s + *off;
    *len = (size_t)(nl - *line);
    *off += *len + 1;
    return 0;
}

static int b64_chars_ok(const char *s, size_t n)
{
    size_t pad = 0;

    if (n == 0 || n % 4 != 0)
        return 0;
    while (pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/'))
            return 0;
    return 1;
}

struct sig_line {
    const char *name, *b64;
    size_t nlen, blen;
};

/* "<em dash> <name> <base64>": the name has no space and no '+'. */
static int sig_line_parse(const char *s, size_t n, struct sig_line *out)
{
    const size_t pre = sizeof(SIG_PREFIX) - 1;
    const char *sp;

    if (n <= pre || memcmp(s, SIG_PREFIX, pre) != 0)
        return -1;
    s += pre;
    n -= pre;
    sp = memchr(s, ' ', n);
    if (sp == NULL || sp == s || memchr(s, '+', (size_t)(sp - s)) != NULL)
        return -1;
    out->name = s;
    out->nlen = (size_t)(sp - s);
    out->b64 = sp + 1;
    out->blen = n - out->nlen - 1;
    return out->blen >= 8 && b64_chars_ok(out->b64, out->blen) ? 0 : -1;
}

/* 1: the line is v's and verifies; 0: the line is another key's; -1: it
 * claims to be v's (name and id) and does not verify. */
static int sig_check(const char *text, size_t tlen, const struct sig_line *sl,
                     const struct note_verifier *v)
{
    uint8_t sig[96];
    size_t len;

    if (sl->nlen != strlen(v->name) || memcmp(sl->name, v->name, sl->nlen) != 0 ||
        note_b64_decode(sl->b64, 8, sig, 6, &len) != 0 || memcmp(sig, v->id, 4) != 0)
        return 0;
    if (note_b64_decode(sl->b64, sl->blen, sig, sizeof(sig), &len) != 0 ||
        len != 4 + crypto_sign_BYTES)
        return -1;
    return crypto_sign_verify_detached(sig + 4, (const uint8_t *)text, tlen, v->pk) == 0 ? 1 : -1;
}

static int sigs_check(const char *s, size_t n, size_t tlen, const struct note_verifier *v,
                      size_t nv, struct err *err)
{
    size_t off = tlen + 1, count = 0;
    int verified = 0;

    while (off < n) {
        const char *line;
        size_t len;
        struct sig_line sl;
        if (next_line(s, n, &off, &line, &len) != 0 || sig_line_parse(line, len, &sl) != 0)
            return err_set(err, "signature line %zu is malformed", count + 1);
        if (++count > NOTE_MAX_SIGS)
            return err_set(err, "more than %d signature lines", NOTE_MAX_SIGS);
        for (size_t i = 0; i < nv; i++) {
            int r = sig_check(s, tlen, &sl, &v[i]);
            if (r < 0)
                return err_set(err, "the signature by key %s does not verify", v[i].name);
            verified |= r;
        }
    }
    if (count == 0)
        return err_set(err, "note has no signature line");
    if (nv > 0 && !verified)
        return err_set(err, "note is not signed by key %s%s", v[0].name,
                       nv > 1 ? " or another trusted key" : "");
    return 0;
}

int note_verify(const char *s, size_t n, const struct note_verifier *v, size_t nv, size_t *text_len,
                struct err *err)
{
    size_t j;

    if (n == 0 || n > NOTE_MAX_BYTES)
        return err_set(err, "note is empty or larger than %d bytes", NOTE_MAX_BYTES);
    if (s[n - 1] != '\n' || !text_ok(s, n))
        return err_set(err, "note is not newline-terminated UTF-8 text without control bytes");
    /* The text ends at the last empty line: signature lines are never empty. */
    for (j = n - 1; j > 0; j--)
        if (s[j - 1] == '\n' && s[j] == '\n')
            break;
    if (j == 0 || j + 1 >= n)
        return err_set(err, "note has no empty line before its signatures");
    if (sigs_check(s, n, j, v, nv, err) != 0)
        return -1;
    *text_len = j;
    return 0;
}

int note_frame(const char *s, size_t n, size_t *note_len, size_t *used)
{
    size_t off = 0, len, sigs = 0;
    const char *line;

    do {
        if (next_line(s, n, &off, &line, &len) != 0 || (len == 0 && off == 1))
            return -1;
    } while (len != 0);
    while (off < n) {
        size_t start = off;
        if (next_line(s, n, &off, &line, &len) != 0)
            return -1;
        if (len == 0) {
            *note_len = start;
            *used = off;
            return sigs > 0 ? 0 : -1;
        }
        sigs++;
    }
    *note_len = *used = off;
    return sigs > 0 ? 0 : -1;
}

int note_checkpoint_format(const struct note_checkpoint *c, struct buf *out)
{
    size_t mark = out->len;

    if (!note_name_ok(c->origin, strlen(c->origin), NOTE_ORIGIN_MAX))
        return -1;
    if (buf_printf(out, "%s\n%llu\n", c->origin, (unsigned long long)c->size) ||
        note_b64_encode(out, c->root, sizeof(c->root)) || buf_putc(out, '\n')) {
        buf_wipe_from(out, mark);
        return -1;
    }
    return 0;
}

int note_checkpoint_parse(const char *text, size_t n, struct note_checkpoint *out, struct err *err)
{
    const char *line;
    size_t len, off = 0, rlen;

    if (!text_ok(text, n) || next_line(text, n, &off, &line, &len) != 0 || len == 0 ||
        len > NOTE_ORIGIN_MAX)
        return err_set(err, "checkpoint: bad origin line");
    memcpy(out->origin, line, len);
    out->origin[len] = '\0';
    if (next_line(text, n, &off, &line, &len) != 0 || note_u64_parse(line, len, &out->size) != 0)
        return err_set(err, "checkpoint: bad tree size line");
    if (next_line(text, n, &off, &line, &len) != 0 ||
        note_b64_decode(line, len, out->root, sizeof(out->root), &rlen) != 0 || rlen != 32)
        return err_set(err, "checkpoint: bad root hash line");
    while (off < n)
        if (next_line(text, n, &off, &line, &len) != 0 || len == 0)
            return err_set(err, "checkpoint: bad extension line");
    return 0;
}
