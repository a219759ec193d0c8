/* crypto: key files, pseudonyms, tenant key pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/keyfile.h"
#include "crypto/keys.h"
#include "crypto/pseudo.h"
#include "leak.h"

static char dir[] = "/tmp/scrim-test-crypto-XXXXXX";

static int group_setup(void **state)
{
    (void)state;
    if (keyfile_crypto_init() != 0 || mkdtemp(dir) == NULL)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void test_pseudonym_stable_and_keyed(void **state)
{
    uint8_t k1[32], k2[32];
    struct pseudo_key *a, *b;
    char h1[PSEUDO_OUT_LEN + 1], h2[PSEUDO_OUT_LEN + 1], h3[PSEUDO_OUT_LEN + 1];

    (void)state;
    memset(k1, 1, sizeof(k1));
    memset(k2, 2, sizeof(k2));
    a = pseudo_key_from_bytes(k1);
    b = pseudo_key_from_bytes(k2);
    pseudo_hash(a, "value", "jane@example.com", 16, h1);
    pseudo_hash(a, "value", "jane@example.com", 16, h2);
    assert_string_equal(h1, h2); /* stable within a tenant */
    assert_int_equal(strlen(h1), PSEUDO_OUT_LEN);
    assert_int_equal(strspn(h1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     PSEUDO_OUT_LEN);
    pseudo_hash(b, "value", "jane@example.com", 16, h3);
    assert_string_not_equal(h1, h3); /* unlinkable across tenants */
    pseudo_hash(a, "session", "jane@example.com", 16, h3);
    assert_string_not_equal(h1, h3); /* and across domains */
    assert_null(strstr(h1, "jane"));
    pseudo_key_free(a);
    pseudo_key_free(b);
}

static void test_pseudonym_matches_blake2b(void **state)
{
    uint8_t k[32], h[16], msg[64];
    char want[PSEUDO_OUT_LEN + 1], got[PSEUDO_OUT_LEN + 1];
    struct pseudo_key *key;

    (void)state;
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)i;
    /* Computed independently: BLAKE2b-128 keyed over "value\0" || data. */
    memcpy(msg, "value\0abc", 9);
    crypto_generichash(h, sizeof(h), msg, 9, k, sizeof(k));
    sodium_bin2base64(want, sizeof(want), h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    key = pseudo_key_from_bytes(k);
    pseudo_hash(key, "value", "abc", 3, got);
    assert_string_equal(got, want);
    pseudo_key_free(key);
}

static void test_key_file_round_trip(void **state)
{
    char p[256];
    struct err err;
    struct pseudo_key *k;

    (void)state;
    err_clear(&err);
    path(p, sizeof(p), "t1.pseudonym");
    assert_int_equal(pseudo_key_generate(p, &err), 0);
    assert_int_equal(pseudo_key_generate(p, &err), -1); /* never overwrites */
    k = pseudo_key_load(p, &err);
    assert_non_null(k);
    pseudo_key_free(k);
}

static void test_key_file_mode_enforced(void **state)
{
    char p[256];
    struct err err;

    (void)state;
    err_clear(&err);
    path(p, sizeof(p), "t2.pseudonym");
    assert_int_equal(pseudo_key_generate(p, &err), 0);
    assert_int_equal(chmod(p, 0640), 0);
    assert_null(pseudo_key_load(p, &err));
    assert_non_null(strstr(err.msg, "chmod 600"));
    err_clear(&err);
    assert_int_equal(chmod(p, 0604), 0);
    assert_null(pseudo_key_load(p, &err));
    assert_int_equal(chmod(p, 0600), 0);
    err_clear(&err);
    struct pseudo_key *k = pseudo_key_load(p, &err);
    assert_non_null(k);
    pseudo_key_free(k);
}

static void test_key_file_malformed(void **state)
{
    static const char *const bodies[] = {"", "abc\n",
                                         "zz"
                                         "000000000000000000000000000000000000000"
                                         "00000000000000000000000\n"};
    char p[256];
    struct err err;

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "bad%zu", i);
        path(p, sizeof(p), name);
        err_clear(&err);
        assert_int_equal(keyfile_write(p, bodies[i], strlen(bodies[i]), 0600, &err), 0);
        assert_null(pseudo_key_load(p, &err));
        assert_true(err.set);
    }
    path(p, sizeof(p), "missing");
    err_clear(&err);
    assert_null(pseudo_key_load(p, &err));
}

static void test_tenant_key_pair(void **state)
{
    char p[256], id[KEYS_ID_HEX + 1];
    struct keys_public pk;
    struct err err;
    struct stat st;

    (void)state;
    err_clear(&err);
    assert_int_equal(keys_generate_tenant(dir, "acme", id, &err), 0);
    path(p, sizeof(p), "acme.key");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    path(p, sizeof(p), "acme.pub");
    assert_int_equal(keys_load_public(p, &pk, &err), 0);
    assert_string_equal(pk.id, id);
    assert_int_equal(keys_generate_tenant(dir, "acme", id, &err), -1);
}

static void test_public_key_tampered(void **state)
{
    char p[256], id[KEYS_ID_HEX + 1], buf[256];
    struct keys_public pk;
    struct err err;
    FILE *f;
    size_t n;

    (void)state;
    err_clear(&err);
    assert_int_equal(keys_generate_tenant(dir, "globex", id, &err), 0);
    path(p, sizeof(p), "globex.pub");
    f = fopen(p, "r+");
    n = fread(buf, 1, sizeof(buf), f);
    buf[n - 5] ^= 0x01; /* a base64 character of the key: the id no longer matches */
    rewind(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    assert_int_equal(keys_load_public(p, &pk, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_pseudonym_stable_and_keyed), LEAK_TEST(test_pseudonym_matches_blake2b),
        LEAK_TEST(test_key_file_round_trip),        LEAK_TEST(test_key_file_mode_enforced),
        LEAK_TEST(test_key_file_malformed),         LEAK_TEST(test_tenant_key_pair),
        LEAK_TEST(test_public_key_tampered),
    };
    return cmocka_run_group_tests_name("crypto", tests, group_setup, group_teardown);
}
