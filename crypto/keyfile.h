/*
 * keyfile: reading and writing small secret files safely.
 *
 * Secrets are read straight into sodium_malloc'd memory (guarded, locked,
 * wiped on free); a secret file that group or others can read is refused,
 * as ssh does, because a key everyone on the host can read is not a secret.
 */
#ifndef SCRIM_KEYFILE_H
#define SCRIM_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Read a secret file of at most max bytes into guarded memory. *out must be
 * released with keyfile_secret_free(*out, *len). */
int keyfile_read_secret(const char *path, size_t max, uint8_t **out, size_t *len,
                        struct err *err) WUR;
void keyfile_secret_free(uint8_t *p, size_t len);

/* Read a public (non-secret) file of at most max bytes into buf. */
int keyfile_read_public(const char *path, char *buf, size_t max, size_t *len, struct err *err) WUR;

/* Create path with mode (0600 for secrets), refusing to overwrite, and write
 * data[0..n) with fsync. */
int keyfile_write(const char *path, const void *data, size_t n, unsigned mode, struct err *err) WUR;

/* Decode exactly out_len bytes of hex from s[0..n) (trailing whitespace
 * allowed). -1 on anything else. */
int keyfile_hex_decode(const char *s, size_t n, uint8_t *out, size_t out_len) WUR;

/* Crypto library start-up (sodium_init); 0 or -1. */
int keyfile_crypto_init(void) WUR;

#endif
