#include "seal.h"

#include "common/mem.h"

#include <sodium.h>
#include <string.h>

/* Header layout (docs/storage.md). */
#define MAGIC         "SCRIMSEG"
#define VERSION       1
#define SUITE         1 /* X25519 sealed box, BLAKE2b KDF, XChaCha20-Poly1305-IETF */
#define OFF_VERSION   8
#define OFF_SUITE     9
#define OFF_TLEN      10
#define OFF_RESERVED  11
#define OFF_KEYID     12
#define OFF_SEGID     20
#define OFF_CREATED   52
#define OFF_TENANT    60
#define OFF_SEALED    124
#define OFF_COMMIT    204
#define SEALED_BYTES  (32 + crypto_box_SEALBYTES)
#define KEY_BYTES     32
#define NONCE_BYTES   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AD_BYTES      (32 + 8 + 1)
#define FINAL_BODY    (NONCE_BYTES + 8 + TAG_BYTES)
#define KDF_CONTEXT   "scrimseg"
#define SUBKEY_DATA   1
#define SUBKEY_COMMIT 2

_Static_assert(OFF_COMMIT + 32 == SEAL_HEADER_BYTES, "header layout");
_Static_assert(OFF_SEALED + SEALED_BYTES == OFF_COMMIT, "header layout");
_Static_assert(KEY_BYTES == crypto_kdf_KEYBYTES, "data key is a KDF key");
_Static_assert(NONCE_BYTES == 24 && TAG_BYTES == 16, "frame layout");

struct seal_writer {
    uint8_t *key; /* guarded: the record subkey */
    uint8_t header[SEAL_HEADER_BYTES];
    uint8_t hh[32]; /* BLAKE2b-256 of the header, bound into every record */
    uint64_t seq;
    int finished;
};

struct seal_reader {
    FILE *f;
    uint8_t *key; /* guarded: the record subkey */
    uint8_t hh[32];
    struct seal_header h;
    uint64_t seq;
    enum seal_end end;
    int failed;
    struct buf frame;
};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int seal_tenant_valid(const char *t)
{
    size_t n = t != NULL ? strlen(t) : 0;

    if (n == 0 || n > SEAL_TENANT_MAX || t[0] == '.' || t[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

int seal_header_decode(const uint8_t p[SEAL_HEADER_BYTES], struct seal_header *h, struct err *err)
{
    size_t tlen = p[OFF_TLEN];

    memset(h, 0, sizeof(*h));
    if (memcmp(p, MAGIC, 8) != 0)
        return err_set(err, "not a scrim segment (bad magic)");
    if (p[OFF_VERSION] != VERSION || p[OFF_SUITE] != SUITE)
        return err_set(err, "unsupported segment format %u, suite %u (this scrim reads 1, 1)",
                       p[OFF_VERSION], p[OFF_SUITE]);
    if (tlen == 0 || tlen > SEAL_TENANT_MAX || p[OFF_RESERVED] != 0)
        return err_set(err, "damaged header (tenant length %zu)", tlen);
    for (size_t i = tlen; i < SEAL_TENANT_MAX; i++)
        if (p[OFF_TENANT + i] != 0)
            return err_set(err, "damaged header (tenant padding)");
    memcpy(h->tenant, p + OFF_TENANT, tlen);
    if (memchr(h->tenant, '\0', tlen) != NULL || !seal_tenant_valid(h->tenant))
        return err_set(err, "damaged header (tenant id)");
    sodium_bin2hex(h->key_id, sizeof(h->key_id), p + OFF_KEYID, KEYS_ID_HEX / 2);
    memcpy(h->segment_id, p + OFF_SEGID, SEAL_ID_BYTES);
    h->created_ms = get_u64(p + OFF_CREATED);
    return 0;
}

/* Both subkeys come from the data key through BLAKE2b (crypto_kdf), under
 * distinct ids, so the commitment never shares a key with the cipher. */
static void subkey(uint8_t out[KEY_BYTES], int id, const uint8_t *data_key)
{
    crypto_kdf_derive_from_key(out, KEY_BYTES, (uint64_t)id, KDF_CONTEXT, data_key);
}

/* The commitment: keyed BLAKE2b-256 of the header up to the commitment. As
 * BLAKE2b is collision resistant in its key too, no second data key gives
 * the same value. */
static int commitment(uint8_t out[32], const uint8_t *header, const uint8_t *data_key)
{
    uint8_t *ck = sodium_malloc(KEY_BYTES);

    if (ck == NULL)
        return -1;
    subkey(ck, SUBKEY_COMMIT, data_key);
    crypto_generichash(out, 32, header, OFF_COMMIT, ck, KEY_BYTES);
    sodium_free(ck);
    return 0;
}

/* The key id's bytes, computed from the key itself (docs/keys.md). */
static void key_id_raw(uint8_t out[KEYS_ID_HEX / 2], const struct keys_public *pk)
{
    uint8_t h[32];

    crypto_generichash(h, sizeof(h), pk->pk, KEYS_PUB_BYTES, NULL, 0);
    memcpy(out, h, KEYS_ID_HEX / 2);
}

static void header_encode(uint8_t *p, const char *tenant, const struct keys_public *pk,
                          uint64_t created_ms)
{
    size_t tlen = strlen(tenant);

    memset(p, 0, SEAL_HEADER_BYTES);
    memcpy(p, MAGIC, 8);
    p[OFF_VERSION] = VERSION;
    p[OFF_SUITE] = SUITE;
    p[OFF_TLEN] = (uint8_t)tlen;
    key_id_raw(p + OFF_KEYID, pk);
    randombytes_buf(p + OFF_SEGID, SEAL_ID_BYTES);
    put_u64(p + OFF_CREATED, created_ms);
    memcpy(p + OFF_TENANT, tenant, tlen);
}

/* A fresh data key, sealed into the header; the writer keeps only the record
 * subkey. */
static int writer_keys(struct seal_writer *w, const struct keys_public *pk)
{
    uint8_t *dk = sodium_malloc(KEY_BYTES);
    int r = -1;

    if (dk == NULL)
        return -1;
    randombytes_buf(dk, KEY_BYTES);
    if (crypto_box_seal(w->header + OFF_SEALED, dk, KEY_BYTES, pk->pk) == 0 &&
        commitment(w->header + OFF_COMMIT, w->header, dk) == 0) {
        subkey(w->key, SUBKEY_DATA, dk);
        crypto_generichash(w->hh, sizeof(w->hh), w->header, SEAL_HEADER_BYTES, NULL, 0);
        r = 0;
    }
    sodium_free(dk);
    return r;
}

struct seal_writer *seal_writer_new(const char *tenant, const struct keys_public *pk,
                                    uint64_t created_ms, struct err *err)
{
    struct seal_writer *w;

    if (!seal_tenant_valid(tenant)) {
        err_set(err, "invalid tenant id for a segment");
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    if (w == NULL) {
        err_set(err, "out of memory");
        return NULL;
    }
    w->key = sodium_malloc(KEY_BYTES);
    header_encode(w->header, tenant, pk, created_ms);
    if (w->key == NULL || writer_keys(w, pk) != 0) {
        err_set(err, "cannot seal a data key (guarded memory or public key)");
        seal_writer_free(w);
        return NULL;
    }
    return w;
}

const uint8_t *seal_writer_header(const struct seal_writer *w)
{
    return w->header;
}

uint64_t seal_writer_count(const struct seal_writer *w)
{
    return w->seq;
}

void seal_writer_free(struct seal_writer *w)
{
    if (w == NULL)
        return;
    sodium_free(w->key);
    xfree(w);
}

static void frame_check(uint8_t out[SEAL_FRAME_CHECK], const uint8_t *frame, size_t n)
{
    crypto_generichash(out, SEAL_FRAME_CHECK, frame, n, NULL, 0);
}

static void ad_build(uint8_t ad[AD_BYTES], const uint8_t hh[32], uint64_t seq, uint8_t kind)
{
    memcpy(ad, hh, 32);
    put_u64(ad + 32, seq);
    ad[40] = kind;
}

/* Frame and encrypt pt[0..n) as record seq of the given kind, in place at
 * the end of out: head, nonce, ciphertext and tag, check. */
static int frame_sealed(struct buf *out, const uint8_t *key, const uint8_t hh[32], uint64_t seq,
                        uint8_t kind, const uint8_t *pt, size_t n)
{
    size_t body = NONCE_BYTES + n + TAG_BYTES, total = SEAL_FRAME_HEAD + body + SEAL_FRAME_CHECK;
    uint8_t ad[AD_BYTES], *p = (uint8_t *)buf_reserve(out, total);

    if (p == NULL)
        return -1;
    put_u32(p, (uint32_t)body);
    p[4] = kind;
    randombytes_buf(p + SEAL_FRAME_HEAD, NONCE_BYTES);
    ad_build(ad, hh, seq, kind);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + SEAL_FRAME_HEAD + NONCE_BYTES, NULL, pt, n, ad,
                                               sizeof(ad), NULL, p + SEAL_FRAME_HEAD, key);
    frame_check(p + SEAL_FRAME_HEAD + body, p, SEAL_FRAME_HEAD + body);
    buf_commit(out, total);
    return 0;
}

int seal_writer_append(struct seal_writer *w, const void *rec, size_t n, struct buf *out,
                       struct err *err)
{
    if (w->finished)
        return err_set(err, "segment already finished");
    if (n > SEAL_RECORD_MAX)
        return err_set(err, "record of %zu bytes is over the %u-byte limit", n, SEAL_RECORD_MAX);
    if (frame_sealed(out, w->key, w->hh, w->seq, SEAL_KIND_DATA, rec, n) != 0)
        return err_set(err, "segment buffer full");
    w->seq++;
    return 0;
}

int seal_writer_finish(struct seal_writer *w, struct buf *out, struct err *err)
{
    uint8_t count[8];

    if (w->finished)
        return err_set(err, "segment already finished");
    put_u64(count, w->seq);
    if (frame_sealed(out, w->key, w->hh, w->seq, SEAL_KIND_FINAL, count, sizeof(count)) != 0)
        return err_set(err, "segment buffer full");
    w->finished = 1;
    return 0;
}

int seal_recovered_frame(uint64_t count, struct buf *out)
{
    size_t total = SEAL_FRAME_HEAD + 8 + SEAL_FRAME_CHECK;
    uint8_t *p = (uint8_t *)buf_reserve(out, total);

    if (p == NULL)
        return -1;
    put_u32(p, 8);
    p[4] = SEAL_KIND_RECOVERED;
    put_u64(p + SEAL_FRAME_HEAD, count);
    frame_check(p + SEAL_FRAME_HEAD + 8, p, SEAL_FRAME_HEAD + 8);
    buf_commit(out, total);
    return 0;
}

/* Each kind has a fixed body length or a range: a length outside it is
 * damage, found before anything is read or allocated for the body. */
static int head_valid(const uint8_t head[SEAL_FRAME_HEAD], size_t *body)
{
    uint64_t n =
        (uint64_t)head[0] << 24 | (uint64_t)head[1] << 16 | (uint64_t)head[2] << 8 | head[3];

    *body = (size_t)n;
    switch (head[4]) {
    case SEAL_KIND_DATA:
        return n >= NONCE_BYTES + TAG_BYTES && n <= NONCE_BYTES + SEAL_RECORD_MAX + TAG_BYTES;
    case SEAL_KIND_FINAL:
        return n == FINAL_BODY;
    case SEAL_KIND_RECOVERED:
        return n == 8;
    default:
        return 0;
    }
}

/* Read one whole frame into b. 1: read and its check holds; 0: clean end of
 * file before it; -1: cut short or damaged; -2: not read (an I/O error, or an
 * allocation failed under the test hook), which says nothing of the bytes.
 * *why says which. */
static int frame_read(FILE *f, struct buf *b, const char **why)
{
    size_t body, got;
    uint8_t check[SEAL_FRAME_CHECK], *p;

    buf_reset(b);
    *why = "out of memory";
    p = (uint8_t *)buf_reserve(b, SEAL_FRAME_HEAD);
    if (p == NULL)
        return -2;
    got = fread(p, 1, SEAL_FRAME_HEAD, f);
    *why = "read error";
    if (ferror(f))
        return -2;
    if (got == 0)
        return 0;
    *why = "cut short (length prefix incomplete)";
    if (got < SEAL_FRAME_HEAD)
        return -1;
    *why = "damaged (bad length or kind)";
    if (!head_valid(p, &body))
        return -1;
    buf_commit(b, SEAL_FRAME_HEAD);
    p = (uint8_t *)buf_reserve(b, body + SEAL_FRAME_CHECK);
    *why = "out of memory";
    if (p == NULL)
        return -2;
    got = fread(p, 1, body + SEAL_FRAME_CHECK, f);
    *why = "read error";
    if (ferror(f))
        return -2;
    *why = "cut short (ends mid-record)";
    if (got < body + SEAL_FRAME_CHECK)
        return -1;
    buf_commit(b, body + SEAL_FRAME_CHECK);
    frame_check(check, (const uint8_t *)b->data, SEAL_FRAME_HEAD + body);
    *why = "damaged (frame check failed)";
    return sodium_memcmp(check, b->data + SEAL_FRAME_HEAD + body, SEAL_FRAME_CHECK) == 0 ? 1 : -1;
}

/* Read the header; -1 with a message telling "not a segment" from "cut". */
static int header_read(FILE *f, uint8_t p[SEAL_HEADER_BYTES], size_t *got, struct err *err)
{
    *got = fread(p, 1, SEAL_HEADER_BYTES, f);
    if (ferror(f))
        return err_set(err, "read error");
    if (*got < 8 || memcmp(p, MAGIC, 8) != 0)
        return err_set(err, "not a scrim segment (bad magic)");
    if (*got < SEAL_HEADER_BYTES)
        return err_set(err, "header cut short (%zu of %d bytes)", *got, SEAL_HEADER_BYTES);
    return 0;
}

static uint64_t frame_body_len(const struct buf *b)
{
    return b->len - SEAL_FRAME_HEAD - SEAL_FRAME_CHECK;
}

int seal_scan(FILE *f, struct seal_scan *out, struct err *err)
{
    uint8_t head[SEAL_HEADER_BYTES];
    struct seal_header h;
    struct buf b;
    const char *why;
    size_t got = fread(head, 1, SEAL_HEADER_BYTES, f);
    int r = 0;

    memset(out, 0, sizeof(*out));
    if (ferror(f))
        return err_set(err, "read error");
    /* A crash can cut a new segment's header; nothing in it was acknowledged. */
    if (got < SEAL_HEADER_BYTES && memcmp(head, MAGIC, got < 8 ? got : 8) == 0)
        return 0;
    if (got < SEAL_HEADER_BYTES || seal_header_decode(head, &h, err) != 0)
        return err_set(err, "not a scrim segment (bad magic)");
    out->good_end = SEAL_HEADER_BYTES;
    buf_init(&b, SEAL_FRAME_MAX);
    while (!out->closed && (r = frame_read(f, &b, &why)) == 1) {
        uint8_t kind = (uint8_t)b.data[4];
        out->good_end += b.len;
        out->records += kind == SEAL_KIND_DATA;
        out->closed = kind != SEAL_KIND_DATA;
    }
    buf_free(&b);
    /* Bytes that could not be read are not a torn tail: cutting there would
     * lose what was acknowledged. */
    return r == -2 ? err_set(err, "%s", why) : 0;
}

/* Every failure names the record by its index (its sequence number). */
static int reader_fail(struct seal_reader *r, struct buf *out, struct err *err, const char *what)
{
    r->failed = 1;
    buf_wipe(out);
    return err_set(err, "record %llu: %s", (unsigned long long)r->seq, what);
}

/* Pick the key the header names; a segment names its key so that, after a
 * rotation, old keys still open old segments. */
static const struct keys_secret *key_pick(struct keys_secret *const *keys, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i] != NULL && sodium_memcmp(keys[i]->id, id, KEYS_ID_HEX) == 0)
            return keys[i];
    return NULL;
}

/* Open the sealed data key, check the commitment, keep the record subkey. */
static int reader_keys(struct seal_reader *r, const uint8_t *header, const struct keys_secret *k,
                       struct err *err)
{
    uint8_t *dk = sodium_malloc(KEY_BYTES), want[32];
    int ok = -1;

    if (dk == NULL || r->key == NULL) {
        sodium_free(dk);
        return err_set(err, "cannot allocate guarded memory");
    }
    if (crypto_box_seal_open(dk, header + OFF_SEALED, SEALED_BYTES, k->pk, k->sk) != 0)
        err_set(err, "header: the sealed data key does not open with key %s (damaged header)",
                k->id);
    else if (commitment(want, header, dk) != 0)
        err_set(err, "cannot allocate guarded memory");
    else if (sodium_memcmp(want, header + OFF_COMMIT, sizeof(want)) != 0)
        err_set(err, "header: key commitment mismatch (damaged or forged header)");
    else {
        subkey(r->key, SUBKEY_DATA, dk);
        crypto_generichash(r->hh, sizeof(r->hh), header, SEAL_HEADER_BYTES, NULL, 0);
        ok = 0;
    }
    sodium_free(dk);
    return ok;
}

static int reader_header(struct seal_reader *r, struct keys_secret *const *keys, size_t nkeys,
                         const char *tenant, struct err *err)
{
    uint8_t header[SEAL_HEADER_BYTES];
    const struct keys_secret *k;
    size_t got;

    if (header_read(r->f, header, &got, err) != 0 || seal_header_decode(header, &r->h, err) != 0)
        return -1;
    if (tenant != NULL && strcmp(tenant, r->h.tenant) != 0)
        return err_set(err,
                       "header: segment of tenant \"%s\", expected \"%s\" (moved from "
                       "another tenant?)",
                       r->h.tenant, tenant);
    k = key_pick(keys, nkeys, r->h.key_id);
    if (k == NULL)
        return err_set(err, "header: sealed to key id %s, which no given secret key has",
                       r->h.key_id);
    return reader_keys(r, header, k, err);
}

struct seal_reader *seal_reader_open(FILE *f, struct keys_secret *const *keys, size_t nkeys,
                                     const char *tenant, struct err *err)
{
    struct seal_reader *r = xcalloc(1, sizeof(*r));

    if (r == NULL) {
        err_set(err, "out of memory");
        return NULL;
    }
    r->f = f;
    r->key = sodium_malloc(KEY_BYTES);
    buf_init(&r->frame, SEAL_FRAME_MAX);
    if (reader_header(r, keys, nkeys, tenant, err) != 0) {
        seal_reader_free(r);
        return NULL;
    }
    return r;
}

void seal_reader_free(struct seal_reader *r)
{
    if (r == NULL)
        return;
    sodium_free(r->key);
    buf_free(&r->frame);
    xfree(r);
}

enum seal_end seal_reader_end(const struct seal_reader *r)
{
    return r->end;
}

uint64_t seal_reader_count(const struct seal_reader *r)
{
    return r->seq;
}

const struct seal_header *seal_reader_header(const struct seal_reader *r)
{
    return &r->h;
}

/* Decrypt the frame in r->frame as record r->seq of its kind into out.
 * -1: authentication failed; -2: out cannot hold the record. */
static int frame_open(struct seal_reader *r, struct buf *out)
{
    const uint8_t *p = (const uint8_t *)r->frame.data + SEAL_FRAME_HEAD;
    size_t body = frame_body_len(&r->frame), n = body - NONCE_BYTES - TAG_BYTES;
    uint8_t ad[AD_BYTES], *dst;

    buf_reset(out);
    dst = (uint8_t *)buf_reserve(out, n + 1);
    if (dst == NULL)
        return -2;
    ad_build(ad, r->hh, r->seq, (uint8_t)r->frame.data[4]);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            dst, NULL, NULL, p + NONCE_BYTES, body - NONCE_BYTES, ad, sizeof(ad), p, r->key) != 0)
        return -1;
    buf_commit(out, n);
    out->data[n] = '\0';
    return 0;
}

/* A closing frame must count every record before it and end the file: a
 * record dropped from the end, or bytes added after, fail here. */
static int reader_close(struct seal_reader *r, struct buf *out, struct err *err)
{
    uint8_t kind = (uint8_t)r->frame.data[4];
    uint64_t count;

    if (kind == SEAL_KIND_FINAL) {
        if (frame_open(r, out) != 0)
            return reader_fail(r, out, err,
                               "final record fails authentication (records dropped, reordered "
                               "or altered)");
        count = get_u64((const uint8_t *)out->data);
        buf_wipe(out);
    } else {
        count = get_u64((const uint8_t *)r->frame.data + SEAL_FRAME_HEAD);
    }
    if (count != r->seq)
        return reader_fail(r, out, err,
                           "closing record counts another number of records (records dropped)");
    if (fgetc(r->f) != EOF)
        return reader_fail(r, out, err, "bytes after the closing record");
    r->end = kind == SEAL_KIND_FINAL ? SEAL_FINISHED : SEAL_RECOVERED;
    return 0;
}

int seal_reader_next(struct seal_reader *r, struct buf *out, struct err *err)
{
    const char *why = NULL;
    int got;

    if (r->failed)
        return err_set(err, "segment already failed verification");
    if (r->end != SEAL_OPEN)
        return 0;
    got = frame_read(r->f, &r->frame, &why);
    if (got < 0)
        return reader_fail(r, out, err, why);
    if (got == 0) {
        r->end = SEAL_UNFINISHED;
        return 0;
    }
    if (r->frame.data[4] != SEAL_KIND_DATA)
        return reader_close(r, out, err);
    got = frame_open(r, out);
    if (got == -2)
        return reader_fail(r, out, err, "larger than the output buffer");
    if (got != 0)
        return reader_fail(r, out, err,
                           "fails authentication (altered, reordered, dropped, duplicated, or "
                           "from another segment)");
    r->seq++;
    return 1;
}
