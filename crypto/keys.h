/*
 * keys: tenant key pairs (X25519, for sealing context records) and key ids.
 *
 * Files (docs/keys.md):
 *   T.pub   "scrim-x25519-pub 1 <key id> <base64 public key>\n"   mode 0644
 *   T.key   "scrim-x25519-key 1 <key id> <base64 secret key>\n"   mode 0600
 * The key id is the first 8 bytes of BLAKE2b-256(public key), in hex: a
 * segment names the key that opens it, so old keys keep opening old segments
 * after a rotation. The proxy's config names only T.pub.
 */
#ifndef SCRIM_KEYS_H
#define SCRIM_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KEYS_PUB_BYTES 32
#define KEYS_ID_HEX    16

struct keys_public {
    uint8_t pk[KEYS_PUB_BYTES];
    char id[KEYS_ID_HEX + 1];
};

/* A tenant's secret key. Only ever lives in the guarded memory that
 * keys_load_secret allocates (sodium_malloc: locked, wiped on free); never
 * declare one on the stack. */
struct keys_secret {
    uint8_t sk[KEYS_PUB_BYTES];
    uint8_t pk[KEYS_PUB_BYTES]; /* derived from sk */
    char id[KEYS_ID_HEX + 1];
};

/* Write DIR/T.pub and DIR/T.key for a fresh key pair; never overwrites.
 * On success id (if not NULL) receives the key id. */
int keys_generate_tenant(const char *dir, const char *tenant, char id[KEYS_ID_HEX + 1],
                         struct err *err) WUR;

/* Load and check a public key file. */
int keys_load_public(const char *path, struct keys_public *out, struct err *err) WUR;

/* Load and check a secret key file: refused when group or others can read it,
 * when it is malformed, or when its key id is not that of its key. *out is
 * released with keys_secret_free. */
int keys_load_secret(const char *path, struct keys_secret **out, struct err *err) WUR;

/* Wipe and free a secret key. NULL is a no-op. */
void keys_secret_free(struct keys_secret *k);

/* The key id of a public key. */
void keys_id(const uint8_t pk[KEYS_PUB_BYTES], char id[KEYS_ID_HEX + 1]);

#endif
