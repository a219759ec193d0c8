/*
 * pseudo: keyed, per-tenant pseudonyms (BLAKE2b, libsodium).
 *
 * A pseudonym is base64url(BLAKE2b-128(key, domain || 0x00 || value)): stable
 * for one tenant, so analytics can join on it, and unlinkable across tenants
 * and domains, since each tenant has its own 32-byte key and session ids and
 * values are hashed in different domains. The key lives in sodium_malloc'd
 * memory, locked and wiped on free.
 *
 * Key file: 64 lowercase hex characters and a newline, mode 0600 (a file any
 * other user can read is refused).
 */
#ifndef SCRIM_PSEUDO_H
#define SCRIM_PSEUDO_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PSEUDO_KEY_BYTES 32
#define PSEUDO_OUT_LEN   22 /* base64url of 16 bytes, no padding */

struct pseudo_key;

/* Load a key file. NULL with err when it is missing, malformed, or readable
 * by group or others. */
struct pseudo_key *pseudo_key_load(const char *path, struct err *err);

/* A key from raw bytes (tests, and keys derived elsewhere). */
struct pseudo_key *pseudo_key_from_bytes(const uint8_t key[PSEUDO_KEY_BYTES]);

/* Write a fresh random key to path (created 0600, never overwritten). */
int pseudo_key_generate(const char *path, struct err *err) WUR;

void pseudo_key_free(struct pseudo_key *k);

/* out gets PSEUDO_OUT_LEN characters and a NUL. Matches the engine's
 * pseudonym_fn when called through pseudo_engine_fn. */
void pseudo_hash(const struct pseudo_key *k, const char *domain, const void *data, size_t n,
                 char out[PSEUDO_OUT_LEN + 1]);

/* Adapter with the engine's callback signature; ctx is a struct pseudo_key. */
void pseudo_engine_fn(void *ctx, const char *domain, const void *data, size_t n,
                      char out[PSEUDO_OUT_LEN + 1]);

#endif
