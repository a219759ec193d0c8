/* merkle: RFC 6962 known answers, and every proof of every tree up to 64. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crypto/merkle.h"
#include "leak.h"

#define MAXN 64

/* The certificate-transparency reference tests' eight leaves (RFC 6962),
 * and MTH of the first n of them for n = 0..8. */
static const struct {
    const char *data;
    size_t len;
} ct_leaves[8] = {
    {"", 0},
    {"\x00", 1},
    {"\x10", 1},
    {"\x20\x21", 2},
    {"\x30\x31", 2},
    {"\x40\x41\x42\x43", 4},
    {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

static const char *ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* Inclusion paths and consistency proofs from the same reference tests. */
static const struct {
    uint64_t a, n;
    int len;
    const char *h[3];
} ct_inclusion[] =
    {
        {0, 1, 0, {NULL}},
        {0,
         8,
         3,
         {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {5,
         8,
         3,
         {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
        {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
        {1,
         5,
         3,
         {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
},
  ct_consistency[] = {
      {1, 1, 0, {NULL}},
      {1,
       8,
       3,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       3,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       2,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static void hex(const merkle_hash h, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void assert_hash_hex(const merkle_hash h, const char *want)
{
    char got[65];

    hex(h, got);
    assert_string_equal(got, want);
}

static void ct_leaf_hashes(merkle_hash out[8])
{
    for (int i = 0; i < 8; i++)
        merkle_leaf_hash(ct_leaves[i].data, ct_leaves[i].len, out[i]);
}

/* Leaves for the exhaustive tests: leaf hashes of "leaf-<i>". */
static void test_leaves(merkle_hash out[MAXN])
{
    char s[32];

    for (int i = 0; i < MAXN; i++) {
        int n = snprintf(s, sizeof(s), "leaf-%d", i);
        merkle_leaf_hash(s, (size_t)n, out[i]);
    }
}

/* A second statement of the RFC: the recursive definitions, transcribed
 * as written, so the loops in crypto/merkle.c are checked against them. */
static uint64_t ref_k(uint64_t n)
{
    uint64_t k = 1;

    while (k * 2 < n)
        k *= 2;
    return k;
}

static void ref_mth(const merkle_hash *d, uint64_t n, merkle_hash out)
{
    merkle_hash l, r;

    if (n == 0) {
        merkle_root(NULL, 0, out);
    } else if (n == 1) {
        memcpy(out, d[0], 32);
    } else {
        ref_mth(d, ref_k(n), l);
        ref_mth(d + ref_k(n), n - ref_k(n), r);
        merkle_node_hash(l, r, out);
    }
}

static int ref_path(uint64_t m, const merkle_hash *d, uint64_t n, merkle_hash *out)
{
    uint64_t k;
    int len;

    if (n == 1)
        return 0;
    k = ref_k(n);
    if (m < k) {
        len = ref_path(m, d, k, out);
        ref_mth(d + k, n - k, out[len]);
    } else {
        len = ref_path(m - k, d + k, n - k, out);
        ref_mth(d, k, out[len]);
    }
    return len + 1;
}

static int ref_subproof(uint64_t m, const merkle_hash *d, uint64_t n, int b, merkle_hash *out)
{
    uint64_t k;
    int len;

    if (m == n) {
        if (b)
            return 0;
        ref_mth(d, n, out[0]);
        return 1;
    }
    k = ref_k(n);
    if (m <= k) {
        len = ref_subproof(m, d, k, b, out);
        ref_mth(d + k, n - k, out[len]);
    } else {
        len = ref_subproof(m - k, d + k, n - k, 0, out);
        ref_mth(d, k, out[len]);
    }
    return len + 1;
}

static void test_hashes_are_domain_separated(void **state)
{
    merkle_hash l, r, node, leaf;
    uint8_t both[64];

    (void)state;
    merkle_leaf_hash("", 0, l);
    assert_hash_hex(l, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    merkle_leaf_hash("\x00", 1, l);
    assert_hash_hex(l, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
    merkle_leaf_hash("a", 1, l);
    merkle_leaf_hash("b", 1, r);
    merkle_node_hash(l, r, node);
    memcpy(both, l, 32);
    memcpy(both + 32, r, 32);
    merkle_leaf_hash(both, 64, leaf);
    assert_memory_not_equal(node, leaf, 32);
}

static void test_rfc6962_roots(void **state)
{
    merkle_hash leaves[8], root;
    struct merkle_frontier f;

    (void)state;
    ct_leaf_hashes(leaves);
    merkle_frontier_init(&f);
    for (int n = 0; n <= 8; n++) {
        merkle_root(leaves, (uint64_t)n, root);
        assert_hash_hex(root, ct_roots[n]);
        merkle_frontier_root(&f, root);
        assert_hash_hex(root, ct_roots[n]);
        if (n < 8)
            assert_int_equal(merkle_frontier_push(&f, leaves[n]), 0);
    }
}

static void test_rfc6962_proofs(void **state)
{
    merkle_hash leaves[8], proof[MERKLE_MAX_PROOF], root, old;

    (void)state;
    ct_leaf_hashes(leaves);
    for (size_t i = 0; i < sizeof(ct_inclusion) / sizeof(ct_inclusion[0]); i++) {
        int n = merkle_inclusion_proof(leaves, ct_inclusion[i].n, ct_inclusion[i].a, proof);
        assert_int_equal(n, ct_inclusion[i].len);
        for (int j = 0; j < n; j++)
            assert_hash_hex(proof[j], ct_inclusion[i].h[j]);
        merkle_root(leaves, ct_inclusion[i].n, root);
        assert_true(merkle_inclusion_verify(ct_inclusion[i].a, ct_inclusion[i].n,
                                            leaves[ct_inclusion[i].a], proof, (size_t)n, root));
    }
    for (size_t i = 0; i < sizeof(ct_consistency) / sizeof(ct_consistency[0]); i++) {
        int n = merkle_consistency_proof(leaves, ct_consistency[i].n, ct_consistency[i].a, proof);
        assert_int_equal(n, ct_consistency[i].len);
        for (int j = 0; j < n; j++)
            assert_hash_hex(proof[j], ct_consistency[i].h[j]);
        merkle_root(leaves, ct_consistency[i].a, old);
        merkle_root(leaves, ct_consistency[i].n, root);
        assert_true(merkle_consistency_verify(ct_consistency[i].a, ct_consistency[i].n, old, root,
                                              proof, (size_t)n));
    }
}

static void test_frontier_matches_root_to_64(void **state)
{
    merkle_hash leaves[MAXN], a, b;
    struct merkle_frontier f;

    (void)state;
    test_leaves(leaves);
    merkle_frontier_init(&f);
    for (uint64_t n = 1; n <= MAXN; n++) {
        assert_int_equal(merkle_frontier_push(&f, leaves[n - 1]), 0);
        merkle_frontier_root(&f, a);
        merkle_root(leaves, n, b);
        assert_memory_equal(a, b, 32);
        ref_mth(leaves, n, b);
        assert_memory_equal(a, b, 32);
    }
    f.size = UINT64_MAX;
    assert_int_equal(merkle_frontier_push(&f, leaves[0]), -1);
}

/* Every way to spoil one inclusion proof must fail. */
static void inclusion_negatives(const merkle_hash *leaves, uint64_t n, uint64_t m,
                                merkle_hash *proof, int len, const merkle_hash root)
{
    merkle_hash other;

    for (int j = 0; j < len; j++) {
        for (int bit = 0; bit < 256; bit += 37) {
            proof[j][bit / 8] ^= (uint8_t)(1 << (bit % 8));
            assert_false(merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len, root));
            proof[j][bit / 8] ^= (uint8_t)(1 << (bit % 8));
        }
    }
    merkle_leaf_hash("not a leaf", 10, other);
    assert_false(merkle_inclusion_verify(m, n, other, proof, (size_t)len, root));
    assert_false(merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len, other));
    assert_false(merkle_inclusion_verify(n, n, leaves[m], proof, (size_t)len, root));
    if (len > 0)
        assert_false(merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len - 1, root));
    memcpy(proof[len], root, 32);
    assert_false(merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len + 1, root));
    if (n > 1)
        assert_false(merkle_inclusion_verify((m + 1) % n, n, leaves[m], proof, (size_t)len, root));
}

static void test_inclusion_every_index_to_64(void **state)
{
    merkle_hash leaves[MAXN], proof[MERKLE_MAX_PROOF + 1], want[MERKLE_MAX_PROOF], root;

    (void)state;
    test_leaves(leaves);
    for (uint64_t n = 1; n <= MAXN; n++) {
        merkle_root(leaves, n, root);
        for (uint64_t m = 0; m < n; m++) {
            int len = merkle_inclusion_proof(leaves, n, m, proof);
            assert_int_equal(len, ref_path(m, leaves, n, want));
            assert_memory_equal(proof, want, (size_t)len * 32);
            assert_true(merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len, root));
            inclusion_negatives(leaves, n, m, proof, len, root);
        }
        assert_int_equal(merkle_inclusion_proof(leaves, n, n, proof), -1);
    }
}

static void consistency_negatives(uint64_t m, uint64_t n, const merkle_hash old,
                                  const merkle_hash root, merkle_hash *proof, int len)
{
    for (int j = 0; j < len; j++) {
        for (int bit = 0; bit < 256; bit += 37) {
            proof[j][bit / 8] ^= (uint8_t)(1 << (bit % 8));
            assert_false(merkle_consistency_verify(m, n, old, root, proof, (size_t)len));
            proof[j][bit / 8] ^= (uint8_t)(1 << (bit % 8));
        }
    }
    if (m == n) {
        memcpy(proof[0], root, 32);
        assert_false(merkle_consistency_verify(m, n, old, root, proof, 1));
        return;
    }
    assert_false(merkle_consistency_verify(m, n, root, root, proof, (size_t)len));
    assert_false(merkle_consistency_verify(m, n, old, old, proof, (size_t)len));
    assert_false(merkle_consistency_verify(m, n, old, root, proof, (size_t)len - 1));
    memcpy(proof[len], old, 32);
    assert_false(merkle_consistency_verify(m, n, old, root, proof, (size_t)len + 1));
    assert_false(merkle_consistency_verify(n, m, root, old, proof, (size_t)len));
}

static void test_consistency_every_size_to_64(void **state)
{
    merkle_hash leaves[MAXN], proof[MERKLE_MAX_PROOF + 1], want[MERKLE_MAX_PROOF], root, old;

    (void)state;
    test_leaves(leaves);
    for (uint64_t n = 1; n <= MAXN; n++) {
        merkle_root(leaves, n, root);
        for (uint64_t m = 1; m <= n; m++) {
            int len = merkle_consistency_proof(leaves, n, m, proof);
            merkle_root(leaves, m, old);
            assert_int_equal(len, ref_subproof(m, leaves, n, 1, want));
            assert_memory_equal(proof, want, (size_t)len * 32);
            assert_true(merkle_consistency_verify(m, n, old, root, proof, (size_t)len));
            consistency_negatives(m, n, old, root, proof, len);
        }
        assert_int_equal(merkle_consistency_proof(leaves, n, 0, proof), -1);
        assert_int_equal(merkle_consistency_proof(leaves, n, n + 1, proof), -1);
        merkle_root(NULL, 0, old);
        assert_true(merkle_consistency_verify(0, n, old, root, proof, 0));
        assert_false(merkle_consistency_verify(0, n, root, root, proof, 0));
    }
}

/* The plans of the largest trees stay within MERKLE_MAX_PROOF. */
static void test_plans_of_huge_trees(void **state)
{
    uint64_t b[MERKLE_MAX_PROOF], e[MERKLE_MAX_PROOF];
    uint64_t big = UINT64_MAX - 1;

    (void)state;
    assert_int_equal(merkle_inclusion_plan(0, big, b, e), 64);
    assert_int_equal(merkle_inclusion_plan(big - 1, big, b, e), 63);
    assert_in_range(merkle_consistency_plan(big - 2, big, b, e), 1, MERKLE_MAX_PROOF);
    assert_in_range(merkle_consistency_plan(3, big, b, e), 1, MERKLE_MAX_PROOF);
    assert_int_equal(merkle_consistency_plan(big, big, b, e), 0);
    assert_int_equal(merkle_inclusion_plan(5, 5, b, e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_hashes_are_domain_separated),
        LEAK_TEST(test_rfc6962_roots),
        LEAK_TEST(test_rfc6962_proofs),
        LEAK_TEST(test_frontier_matches_root_to_64),
        LEAK_TEST(test_inclusion_every_index_to_64),
        LEAK_TEST(test_consistency_every_size_to_64),
        LEAK_TEST(test_plans_of_huge_trees),
    };
    return cmocka_run_group_tests_name("merkle", tests, NULL, NULL);
}
