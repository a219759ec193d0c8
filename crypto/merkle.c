/*
 * The algorithms are RFC 9162 section 2.1 (the same trees as RFC 6962):
 * MTH in 2.1.1, PATH in 2.1.3.1 and its verification in 2.1.3.2, PROOF and
 * SUBPROOF in 2.1.4.1 and their verification in 2.1.4.2. The recursive
 * definitions are unrolled into loops that record the runs of leaves whose
 * MTH is each proof hash.
 */
#include "merkle.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* SHA-256 of a || b || c. An OpenSSL failure here can only be an allocation
 * failure, which scrim answers by aborting (common/mem.h). */
static void sha256_3(const void *a, size_t na, const void *b, size_t nb, const void *c, size_t nc,
                     merkle_hash out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, a, na) != 1 || EVP_DigestUpdate(ctx, b, nb) != 1 ||
        EVP_DigestUpdate(ctx, c, nc) != 1 || EVP_DigestFinal_ex(ctx, out, &len) != 1 ||
        len != MERKLE_HASH_BYTES)
        abort();
    EVP_MD_CTX_free(ctx);
}

void merkle_leaf_hash(const void *data, size_t n, merkle_hash out)
{
    static const uint8_t prefix = 0x00;

    sha256_3(&prefix, 1, n ? data : "", n, "", 0, out);
}

void merkle_node_hash(const merkle_hash left, const merkle_hash right, merkle_hash out)
{
    static const uint8_t prefix = 0x01;

    sha256_3(&prefix, 1, left, MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES, out);
}

/* The largest power of two smaller than n (n >= 2): the RFC's k. */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

void merkle_root(const merkle_hash *leaves, uint64_t n, merkle_hash out)
{
    merkle_hash l, r;
    uint64_t k;

    if (n == 0) {
        sha256_3("", 0, "", 0, "", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], MERKLE_HASH_BYTES);
        return;
    }
    k = split_point(n);
    merkle_root(leaves, k, l);
    merkle_root(leaves + k, n - k, r);
    merkle_node_hash(l, r, out);
}

void merkle_frontier_init(struct merkle_frontier *f)
{
    memset(f, 0, sizeof(*f));
}

/* Appending is binary increment: each carry merges two complete subtrees of
 * equal height into one of the next height. */
int merkle_frontier_push(struct merkle_frontier *f, const merkle_hash leaf)
{
    merkle_hash h;
    unsigned k = 0;

    if (f->size == UINT64_MAX)
        return -1;
    memcpy(h, leaf, MERKLE_HASH_BYTES);
    while ((f->size >> k) & 1) {
        merkle_node_hash(f->node[k], h, h);
        k++;
    }
    memcpy(f->node[k], h, MERKLE_HASH_BYTES);
    f->size++;
    return 0;
}

/* The root folds the complete subtrees from the smallest (rightmost) to the
 * largest, which is exactly MTH's split at the largest power of two. */
void merkle_frontier_root(const struct merkle_frontier *f, merkle_hash out)
{
    int have = 0;

    if (f->size == 0) {
        merkle_root(NULL, 0, out);
        return;
    }
    for (unsigned k = 0; k < 64; k++) {
        if (!((f->size >> k) & 1))
            continue;
        if (have)
            merkle_node_hash(f->node[k], out, out);
        else
            memcpy(out, f->node[k], MERKLE_HASH_BYTES);
        have = 1;
    }
}

/* The plans record runs from the root downwards; proofs list them from the
 * leaf upwards. */
static void reverse_runs(uint64_t *begin, uint64_t *end, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        uint64_t b = begin[i], e = end[i];
        begin[i] = begin[j];
        end[i] = end[j];
        begin[j] = b;
        end[j] = e;
    }
}

int merkle_inclusion_plan(uint64_t index, uint64_t size, uint64_t begin[MERKLE_MAX_PROOF],
                          uint64_t end[MERKLE_MAX_PROOF])
{
    uint64_t lo = 0, hi = size;
    int n = 0;

    if (index >= size)
        return -1;
    /* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])  when m < k,
     *                 PATH(m - k, D[k:n]) : MTH(D[0:k])  otherwise. */
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (index < lo + k) {
            begin[n] = lo + k, end[n] = hi;
            hi = lo + k;
        } else {
            begin[n] = lo, end[n] = lo + k;
            lo += k;
        }
        n++;
    }
    reverse_runs(begin, end, n);
    return n;
}

int merkle_consistency_plan(uint64_t old_size, uint64_t size, uint64_t begin[MERKLE_MAX_PROOF],
                            uint64_t end[MERKLE_MAX_PROOF])
{
    uint64_t lo = 0, hi = size, m = old_size;
    int whole = 1, n = 0; /* whole: the RFC's b, "the subtree is a prefix of the old tree" */

    if (old_size == 0 || old_size > size)
        return -1;
    /* SUBPROOF(m, D[n], b): [] or [MTH(D[n])] when m == n; otherwise
     * SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) when m <= k, else
     * SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]). */
    while (m != hi - lo) {
        uint64_t k = split_point(hi - lo);
        if (m <= k) {
            begin[n] = lo + k, end[n] = hi;
            hi = lo + k;
        } else {
            begin[n] = lo, end[n] = lo + k;
            lo += k;
            m -= k;
            whole = 0;
        }
        n++;
    }
    if (!whole) {
        begin[n] = lo, end[n] = hi;
        n++;
    }
    reverse_runs(begin, end, n);
    return n;
}

static void hash_runs(const merkle_hash *leaves, const uint64_t *begin, const uint64_t *end, int n,
                      merkle_hash *out)
{
    for (int i = 0; i < n; i++)
        merkle_root(leaves + begin[i], end[i] - begin[i], out[i]);
}

int merkle_inclusion_proof(const merkle_hash *leaves, uint64_t size, uint64_t index,
                           merkle_hash out[MERKLE_MAX_PROOF])
{
    uint64_t b[MERKLE_MAX_PROOF], e[MERKLE_MAX_PROOF];
    int n = merkle_inclusion_plan(index, size, b, e);

    if (n > 0)
        hash_runs(leaves, b, e, n, out);
    return n;
}

int merkle_consistency_proof(const merkle_hash *leaves, uint64_t size, uint64_t old_size,
                             merkle_hash out[MERKLE_MAX_PROOF])
{
    uint64_t b[MERKLE_MAX_PROOF], e[MERKLE_MAX_PROOF];
    int n = merkle_consistency_plan(old_size, size, b, e);

    if (n > 0)
        hash_runs(leaves, b, e, n, out);
    return n;
}

/* Shift fn and sn right until fn's lowest bit is set or fn is 0. */
static void shift_to_odd(uint64_t *fn, uint64_t *sn)
{
    while (*fn != 0 && !(*fn & 1)) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

int merkle_inclusion_verify(uint64_t index, uint64_t size, const merkle_hash leaf,
                            const merkle_hash *proof, size_t n, const merkle_hash root)
{
    uint64_t fn = index, sn;
    merkle_hash r;

    if (index >= size)
        return 0;
    sn = size - 1;
    memcpy(r, leaf, MERKLE_HASH_BYTES);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(proof[i], r, r);
            shift_to_odd(&fn, &sn);
        } else {
            merkle_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, MERKLE_HASH_BYTES) == 0;
}

/* The loop of 2.1.4.2 from step 5 on, over the path with its first element
 * already taken as fr and sr. */
static int consistency_walk(uint64_t fn, uint64_t sn, const merkle_hash *path, size_t n,
                            merkle_hash fr, merkle_hash sr)
{
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(path[i], fr, fr);
            merkle_node_hash(path[i], sr, sr);
            shift_to_odd(&fn, &sn);
        } else {
            merkle_node_hash(sr, path[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0;
}

int merkle_consistency_verify(uint64_t old_size, uint64_t size, const merkle_hash old_root,
                              const merkle_hash root, const merkle_hash *proof, size_t n)
{
    uint64_t fn, sn;
    merkle_hash fr, sr, empty;
    const merkle_hash *rest = proof;
    size_t nrest = n;

    if (old_size > size)
        return 0;
    if (old_size == size)
        return n == 0 && memcmp(old_root, root, MERKLE_HASH_BYTES) == 0;
    if (old_size == 0) {
        merkle_root(NULL, 0, empty);
        return n == 0 && memcmp(old_root, empty, MERKLE_HASH_BYTES) == 0;
    }
    if (n == 0)
        return 0;
    /* When the old tree is complete its root is the path's implicit first
     * element; otherwise the first element is given. */
    if ((old_size & (old_size - 1)) == 0) {
        memcpy(fr, old_root, MERKLE_HASH_BYTES);
    } else {
        memcpy(fr, proof[0], MERKLE_HASH_BYTES);
        rest++;
        nrest--;
    }
    memcpy(sr, fr, MERKLE_HASH_BYTES);
    fn = old_size - 1;
    sn = size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    if (!consistency_walk(fn, sn, rest, nrest, fr, sr))
        return 0;
    return memcmp(fr, old_root, MERKLE_HASH_BYTES) == 0 && memcmp(sr, root, MERKLE_HASH_BYTES) == 0;
}
