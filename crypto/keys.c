#include "keys.h"

#include "crypto/keyfile.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PUB_TAG "scrim-x25519-pub 1 "
#define KEY_TAG "scrim-x25519-key 1 "

void keys_id(const uint8_t pk[KEYS_PUB_BYTES], char id[KEYS_ID_HEX + 1])
{
    uint8_t h[32];

    crypto_generichash(h, sizeof(h), pk, KEYS_PUB_BYTES, NULL, 0);
    sodium_bin2hex(id, KEYS_ID_HEX + 1, h, KEYS_ID_HEX / 2);
}

/* "<tag><id> <base64>\n" into out (cap bytes). */
static int key_line(char *out, size_t cap, const char *tag, const char *id, const uint8_t *k,
                    size_t klen)
{
    char b64[64];
    int n;

    sodium_bin2base64(b64, sizeof(b64), k, klen, sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(out, cap, "%s%s %s\n", tag, id, b64);
    sodium_memzero(b64, sizeof(b64));
    return n > 0 && (size_t)n < cap ? n : -1;
}

static int path_join(char *out, size_t cap, const char *dir, const char *tenant, const char *ext,
                     struct err *err)
{
    int n = snprintf(out, cap, "%s/%s.%s", dir, tenant, ext);

    if (n < 0 || (size_t)n >= cap)
        return err_set(err, "key path too long");
    return 0;
}

int keys_generate_tenant(const char *dir, const char *tenant, char id[KEYS_ID_HEX + 1],
                         struct err *err)
{
    uint8_t pk[KEYS_PUB_BYTES], *sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
    char *line = sodium_malloc(256), kid[KEYS_ID_HEX + 1], pubp[4096], keyp[4096];
    int n, r = -1;

    if (sk == NULL || line == NULL) {
        err_set(err, "cannot allocate guarded memory");
        goto out;
    }
    if (path_join(pubp, sizeof(pubp), dir, tenant, "pub", err) ||
        path_join(keyp, sizeof(keyp), dir, tenant, "key", err))
        goto out;
    crypto_box_keypair(pk, sk);
    keys_id(pk, kid);
    n = key_line(line, 256, KEY_TAG, kid, sk, crypto_box_SECRETKEYBYTES);
    if (n < 0 || keyfile_write(keyp, line, (size_t)n, 0600, err))
        goto out;
    n = key_line(line, 256, PUB_TAG, kid, pk, sizeof(pk));
    if (n < 0 || keyfile_write(pubp, line, (size_t)n, 0644, err))
        goto out;
    if (id != NULL)
        memcpy(id, kid, sizeof(kid));
    r = 0;
out:
    sodium_free(sk);
    sodium_free(line);
    return r;
}

int keys_load_public(const char *path, struct keys_public *out, struct err *err)
{
    char buf[256];
    size_t len, blen;
    const char *b64;

    if (keyfile_read_public(path, buf, sizeof(buf) - 1, &len, err))
        return -1;
    buf[len] = '\0';
    if (len < sizeof(PUB_TAG) + KEYS_ID_HEX || memcmp(buf, PUB_TAG, sizeof(PUB_TAG) - 1) != 0 ||
        buf[sizeof(PUB_TAG) - 1 + KEYS_ID_HEX] != ' ')
        return err_set(err, "%s: not a scrim public key file", path);
    b64 = buf + sizeof(PUB_TAG) + KEYS_ID_HEX;
    if (sodium_base642bin(out->pk, sizeof(out->pk), b64, strlen(b64), "\n", &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen != sizeof(out->pk))
        return err_set(err, "%s: bad public key encoding", path);
    keys_id(out->pk, out->id);
    if (memcmp(out->id, buf + sizeof(PUB_TAG) - 1, KEYS_ID_HEX) != 0)
        return err_set(err, "%s: key id does not match the key", path);
    return 0;
}

/* The file is parsed where it was read, in guarded memory, and decoded
 * straight into the guarded key: no copy of the secret touches the stack. */
static int secret_parse(const char *path, const uint8_t *raw, size_t len, struct keys_secret *k,
                        struct err *err)
{
    const char *s = (const char *)raw, *b64 = s + sizeof(KEY_TAG) + KEYS_ID_HEX;
    char id[KEYS_ID_HEX + 1];
    size_t blen;

    if (len < sizeof(KEY_TAG) + KEYS_ID_HEX || memcmp(s, KEY_TAG, sizeof(KEY_TAG) - 1) != 0 ||
        s[sizeof(KEY_TAG) - 1 + KEYS_ID_HEX] != ' ')
        return err_set(err, "%s: not a scrim secret key file", path);
    if (sodium_base642bin(k->sk, sizeof(k->sk), b64, len - (size_t)(b64 - s), "\n", &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen != sizeof(k->sk))
        return err_set(err, "%s: bad secret key encoding", path);
    crypto_scalarmult_base(k->pk, k->sk);
    keys_id(k->pk, id);
    if (memcmp(id, s + sizeof(KEY_TAG) - 1, KEYS_ID_HEX) != 0)
        return err_set(err, "%s: key id does not match the key", path);
    memcpy(k->id, id, sizeof(id));
    return 0;
}

int keys_load_secret(const char *path, struct keys_secret **out, struct err *err)
{
    uint8_t *raw;
    size_t len;
    struct keys_secret *k;

    *out = NULL;
    if (keyfile_read_secret(path, 256, &raw, &len, err))
        return -1;
    k = sodium_malloc(sizeof(*k));
    if (k == NULL) {
        keyfile_secret_free(raw, len);
        return err_set(err, "%s: cannot allocate guarded memory", path);
    }
    sodium_mlock(k, sizeof(*k));
    if (secret_parse(path, raw, len, k, err) != 0) {
        keyfile_secret_free(raw, len);
        keys_secret_free(k);
        return -1;
    }
    keyfile_secret_free(raw, len);
    *out = k;
    return 0;
}

void keys_secret_free(struct keys_secret *k)
{
    if (k != NULL)
        sodium_free(k); /* sodium_free wipes before it frees */
}
