#include "engine_fixture.h"

#include "common/mem.h"
#include "crypto/keyfile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

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

char *engine_fixture_read(const char *name, size_t *len)
{
    const char *suffix = "tests/unit/engine_fixture.c", *self = __FILE__;
    char path[4096];
    FILE *f;
    char *s = xmalloc(1 << 20);

    snprintf(path, sizeof(path), "%.*stests/cli/payloads/%s", (int)(strlen(self) - strlen(suffix)),
             self, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    *len = fread(s, 1, (1 << 20) - 1, f);
    s[*len] = '\0';
    fclose(f);
    return s;
}
