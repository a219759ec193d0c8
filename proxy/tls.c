#include "tls.h"

#include <openssl/err.h>

#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static int tls_fail(SSL_CTX *ctx, struct err *err, const char *what, const char *file)
{
    char msg[256];

    ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return err_set(err, "%s%s%s: %s", what, file ? " " : "", file ? file : "", msg);
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, struct err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return tls_fail(NULL, err, "TLS context", NULL), NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS))
        return tls_fail(ctx, err, "TLS settings", NULL), NULL;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return tls_fail(ctx, err, "TLS certificate", cert), NULL;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return tls_fail(ctx, err, "TLS key", key), NULL;
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tls_fail(ctx, err, "TLS key does not match certificate", cert), NULL;
    return ctx;
}
