#include "engine_fixture.h"

#include "crypto/keyfile.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int engine_fixture_open(const char *yaml, size_t n, struct config **conf, struct pseudo_key **key,
                        struct err *err)
{
    uint8_t k[32];

    if (keyfile_crypto_init() != 0)
        return -1;
    memset(k, 7, sizeof(k));
    *key = pseudo_key_from_bytes(k);
    err_clear(err);
    *conf = conf_parse("test.yaml", yaml, n, err);
    if (*conf == NULL) {
        fprintf(stderr, "%s\n", err->msg);
        pseudo_key_free(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

void engine_fixture_close(struct config *conf, struct pseudo_key *key)
{
    conf_free(conf);
    pseudo_key_free(key);
}
