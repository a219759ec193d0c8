/*
 * merkle: the RFC 9162 (RFC 6962) Merkle tree hash, its proofs and their
 * verification, with SHA-256 through OpenSSL. Pure: no files, no clocks.
 *
 *   leaf hash  = SHA-256(0x00 || leaf data)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256()   (the empty string)
 *
 * Trees are given as arrays of leaf hashes; positions and sizes are uint64_t.
 * Proof hashes are in the RFC's order (from the leaf upwards), so the arrays
 * these functions produce are what any RFC 9162 verifier takes.
 *
 * A hash can fail only when OpenSSL cannot allocate; scrim treats that like
 * every other out-of-memory and aborts, so these functions return no error.
 */
#ifndef SCRIM_MERKLE_H
#define SCRIM_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define MERKLE_HASH_BYTES 32
/* Longest proof for any tree of fewer than 2^64 leaves (inclusion: 64;
 * consistency: 64 plus the first hash). */
#define MERKLE_MAX_PROOF 66

typedef uint8_t merkle_hash[MERKLE_HASH_BYTES];

/* SHA-256(0x00 || data[0..n)). */
void merkle_leaf_hash(const void *data, size_t n, merkle_hash out);

/* SHA-256(0x01 || left || right). */
void merkle_node_hash(const merkle_hash left, const merkle_hash right, merkle_hash out);

/* MTH of leaves[0..n) (n may be 0). */
void merkle_root(const merkle_hash *leaves, uint64_t n, merkle_hash out);

/*
 * The right frontier of a growing tree: node[k] holds the hash of the
 * complete subtree of 2^k leaves that bit k of size stands for. Appending is
 * O(log n) hashes and the root is O(log n) more, with 2 KiB of state, so the
 * audit log never keeps its leaves in memory.
 */
struct merkle_frontier {
    uint64_t size;
    merkle_hash node[64];
};

void merkle_frontier_init(struct merkle_frontier *f);

/* Append one leaf hash. -1 (and no change) when the tree already holds
 * 2^64 - 1 leaves. */
int merkle_frontier_push(struct merkle_frontier *f, const merkle_hash leaf) WUR;

/* MTH of the leaves pushed so far. */
void merkle_frontier_root(const struct merkle_frontier *f, merkle_hash out);

/*
 * A proof hash is the MTH of a contiguous run of leaves [begin, end). These
 * plan a proof as those runs, in proof order, without touching any leaf, so a
 * caller can compute the hashes in one streaming pass over leaves it reads
 * from disk. They return the number of runs written to out, or -1 when the
 * arguments do not describe a proof: inclusion needs index < size;
 * consistency needs 0 < old_size <= size (old_size == size gives 0 runs).
 */
int merkle_inclusion_plan(uint64_t index, uint64_t size, uint64_t begin[MERKLE_MAX_PROOF],
                          uint64_t end[MERKLE_MAX_PROOF]) WUR;
int merkle_consistency_plan(uint64_t old_size, uint64_t size, uint64_t begin[MERKLE_MAX_PROOF],
                            uint64_t end[MERKLE_MAX_PROOF]) WUR;

/* PATH(index, D[size]) and PROOF(old_size, D[size]) over an array of leaf
 * hashes (RFC 9162 2.1.3.1 and 2.1.4.1). Return the proof length, or -1 as
 * for the plans. */
int merkle_inclusion_proof(const merkle_hash *leaves, uint64_t size, uint64_t index,
                           merkle_hash out[MERKLE_MAX_PROOF]) WUR;
int merkle_consistency_proof(const merkle_hash *leaves, uint64_t size, uint64_t old_size,
                             merkle_hash out[MERKLE_MAX_PROOF]) WUR;

/* RFC 9162 2.1.3.2: 1 when proof[0..n) shows leaf at index in the tree of
 * size whose root is root; 0 otherwise (also for index >= size). */
int merkle_inclusion_verify(uint64_t index, uint64_t size, const merkle_hash leaf,
                            const merkle_hash *proof, size_t n, const merkle_hash root) WUR;

/* RFC 9162 2.1.4.2: 1 when proof[0..n) shows that the tree of old_size with
 * old_root is a prefix of the tree of size with root; 0 otherwise. Equal
 * sizes need an empty proof and equal roots; old_size 0 needs an empty proof
 * and old_root = MTH({}). */
int merkle_consistency_verify(uint64_t old_size, uint64_t size, const merkle_hash old_root,
                              const merkle_hash root, const merkle_hash *proof, size_t n) WUR;

#endif
