/*
 * fuzz_proof: libFuzzer target for crypto/proof (the proof text parser and
 * check) and the RFC 9162 verification in crypto/merkle.
 *
 * It aborts when one of these fails:
 *   - a text that parses formats back to exactly the same bytes;
 *   - a proof that checks under the test key also passes the bare RFC 9162
 *     verification of its fields, and its path has the planned length;
 *   - error messages are printable ASCII;
 *   - for a tree built from the input (1 to 64 leaves), every proof the
 *     library makes verifies, and the same proof with one bit of one hash,
 *     the leaf or the root flipped does not.
 * The seed corpus holds real proofs signed by the Go sumdb test key, so
 * mutations reach the checks behind the signature.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static struct note_verifier go_key;

static void message_check(const struct err *e)
{
    CHECK(e->set);
    for (const char *c = e->msg; *c != '\0'; c++)
        CHECK(*c >= ' ' && *c <= '~');
}

static void checked_is_rfc_valid(const struct proof *p)
{
    uint64_t b[MERKLE_MAX_PROOF], e[MERKLE_MAX_PROOF];

    if (p->kind == PROOF_INCLUSION) {
        CHECK(merkle_inclusion_verify(p->index, p->size, p->leaf, p->path, p->path_len, p->root));
        CHECK(merkle_inclusion_plan(p->index, p->size, b, e) == (int)p->path_len);
    } else {
        CHECK(merkle_consistency_verify(p->old_size, p->size, p->old_root, p->root, p->path,
                                        p->path_len));
        CHECK(merkle_consistency_plan(p->old_size, p->size, b, e) == (int)p->path_len);
    }
}

static void text_check(const char *s, size_t n)
{
    struct proof p;
    struct buf out;
    struct err e;

    proof_init(&p);
    buf_init(&out, 0);
    err_clear(&e);
    if (proof_parse(s, n, &p, &e) != 0) {
        message_check(&e);
    } else {
        CHECK(proof_format(&p, &out) == 0);
        CHECK(out.len == n && memcmp(out.data, s, n) == 0);
        if (proof_check(&p, &go_key, 1, &e) == 0)
            checked_is_rfc_valid(&p);
        else
            message_check(&e);
    }
    buf_free(&out);
    proof_free(&p);
}

/* Flip one bit of h, check that verification fails, flip it back. */
#define FLIPPED_FAILS(h, bit, call)                                                                \
    do {                                                                                           \
        (h)[((bit) / 8) % 32] ^= (uint8_t)(1u << ((bit) % 8));                                     \
        CHECK(!(call));                                                                            \
        (h)[((bit) / 8) % 32] ^= (uint8_t)(1u << ((bit) % 8));                                     \
    } while (0)

static void tree_check(const uint8_t *data, size_t size)
{
    merkle_hash leaves[64], proof[MERKLE_MAX_PROOF], root, old;
    uint64_t n, m, k;
    unsigned bit;
    int len;

    if (size < 4)
        return;
    n = 1 + data[0] % 64, m = data[1] % n, k = 1 + data[2] % n, bit = data[3];
    for (uint64_t i = 0; i < n; i++)
        merkle_leaf_hash(data + 4, (size - 4) * i / n, leaves[i]);
    merkle_root(leaves, n, root);
    len = merkle_inclusion_proof(leaves, n, m, proof);
    CHECK(len >= 0 && merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len, root));
    for (int j = 0; j < len; j++)
        FLIPPED_FAILS(proof[j], bit,
                      merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len, root));
    FLIPPED_FAILS(root, bit, merkle_inclusion_verify(m, n, leaves[m], proof, (size_t)len, root));
    merkle_root(leaves, k, old);
    len = merkle_consistency_proof(leaves, n, k, proof);
    CHECK(len >= 0 && merkle_consistency_verify(k, n, old, root, proof, (size_t)len));
    for (int j = 0; j < len; j++)
        FLIPPED_FAILS(proof[j], bit,
                      merkle_consistency_verify(k, n, old, root, proof, (size_t)len));
    FLIPPED_FAILS(old, bit, merkle_consistency_verify(k, n, old, root, proof, (size_t)len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e;

    if (go_key.name[0] == '\0') {
        err_clear(&e);
        CHECK(keyfile_crypto_init() == 0);
        CHECK(note_verifier_parse(GO_VKEY, strlen(GO_VKEY), &go_key, &e) == 0);
    }
    text_check((const char *)data, size);
    tree_check(data, size);
    return 0;
}
