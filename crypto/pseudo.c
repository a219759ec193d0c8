#include "pseudo.h"

#include "crypto/keyfile.h"

#include <sodium.h>
#include <string.h>

struct pseudo_key {
    uint8_t key[PSEUDO_KEY_BYTES];
};

static struct pseudo_key *key_alloc(void)
{
    struct pseudo_key *k = sodium_malloc(sizeof(*k));

    if (k != NULL)
        sodium_mlock(k, sizeof(*k));
    return k;
}

struct pseudo_key *pseudo_key_from_bytes(const uint8_t key[PSEUDO_KEY_BYTES])
{
    struct pseudo_key *k = key_alloc();

    if (k != NULL)
        memcpy(k->key, key, PSEUDO_KEY_BYTES);
    return k;
}

struct pseudo_key *pseudo_key_load(const char *path, struct err *err)
{
    uint8_t *raw;
    size_t len;
    struct pseudo_key *k;

    if (keyfile_read_secret(path, 2 * PSEUDO_KEY_BYTES + 2, &raw, &len, err))
        return NULL;
    k = key_alloc();
    if (k == NULL || keyfile_hex_decode((const char *)raw, len, k->key, PSEUDO_KEY_BYTES)) {
        keyfile_secret_free(raw, len);
        pseudo_key_free(k);
        err_set(err, "%s: not a pseudonym key (64 hex characters)", path);
        return NULL;
    }
    keyfile_secret_free(raw, len);
    return k;
}

int pseudo_key_generate(const char *path, struct err *err)
{
    uint8_t *key = sodium_malloc(PSEUDO_KEY_BYTES);
    char *hex = sodium_malloc(2 * PSEUDO_KEY_BYTES + 2);
    int r = -1;

    if (key != NULL && hex != NULL) {
        randombytes_buf(key, PSEUDO_KEY_BYTES);
        sodium_bin2hex(hex, 2 * PSEUDO_KEY_BYTES + 1, key, PSEUDO_KEY_BYTES);
        hex[2 * PSEUDO_KEY_BYTES] = '\n';
        r = keyfile_write(path, hex, 2 * PSEUDO_KEY_BYTES + 1, 0600, err);
    } else {
        err_set(err, "cannot allocate guarded memory");
    }
    sodium_free(key);
    sodium_free(hex);
    return r;
}

void pseudo_key_free(struct pseudo_key *k)
{
    if (k != NULL)
        sodium_free(k);
}

void pseudo_hash(const struct pseudo_key *k, const char *domain, const void *data, size_t n,
                 char out[PSEUDO_OUT_LEN + 1])
{
    crypto_generichash_state st;
    uint8_t h[16];
    const uint8_t zero = 0;

    crypto_generichash_init(&st, k->key, PSEUDO_KEY_BYTES, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain));
    crypto_generichash_update(&st, &zero, 1);
    crypto_generichash_update(&st, data, n);
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2base64(out, PSEUDO_OUT_LEN + 1, h, sizeof(h),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(&st, sizeof(st));
}

void pseudo_engine_fn(void *ctx, const char *domain, const void *data, size_t n,
                      char out[PSEUDO_OUT_LEN + 1])
{
    pseudo_hash(ctx, domain, data, n, out);
}
