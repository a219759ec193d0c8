/*
 * tls: the server side's OpenSSL context (DESIGN.md "Crypto"): TLS 1.2 and
 * 1.3 only; for 1.2 only ECDHE with AEAD suites (forward secrecy, no CBC,
 * no RSA key exchange, no SHA-1 MACs); no renegotiation, no compression, no
 * session tickets with a key that outlives the process.
 */
#ifndef SCRIM_TLS_H
#define SCRIM_TLS_H

#include <openssl/ssl.h>

#include "common/err.h"

/* A context with the PEM chain and key; NULL with err (file named). */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, struct err *err);

#endif
