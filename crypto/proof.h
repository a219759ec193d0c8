/*
 * proof: audit-log proofs as text an auditor can keep, mail and check
 * without the log (docs/audit.md). Each proof carries exactly the inputs of
 * the RFC 9162 verification algorithms (index or old size, tree size, leaf
 * hash or old root, the proof hashes in the RFC's order, the root) and the
 * signed checkpoint(s) that vouch for the sizes and roots.
 *
 *   scrim-audit inclusion proof          scrim-audit consistency proof
 *   origin <origin>                      origin <origin>
 *   index <leaf index>                   old <old tree size>
 *   size <tree size>                     size <tree size>
 *   leaf <base64 leaf hash>              old-root <base64 root of old size>
 *   root <base64 root>                   root <base64 root>
 *   entry <the entry's JSON line>        hash <base64>        (0 or more)
 *   hash <base64>        (0 or more)     <empty line>
 *   <empty line>                         <signed checkpoint of old size>
 *   <signed checkpoint of size>          <empty line>
 *                                        <signed checkpoint of size>
 *
 * Every line ends in a newline; numbers are canonical decimal and hashes
 * canonical padded base64, so a text that parses formats back to the same
 * bytes.
 */
#ifndef SCRIM_PROOF_H
#define SCRIM_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/merkle.h"
#include "crypto/note.h"

#define PROOF_ENTRY_MAX (1 << 20)

enum proof_kind { PROOF_INCLUSION = 1, PROOF_CONSISTENCY };

struct proof {
    enum proof_kind kind;
    char origin[NOTE_ORIGIN_MAX + 1];
    uint64_t index;       /* inclusion: the leaf's index (its sequence number) */
    uint64_t old_size;    /* consistency: the older tree's size */
    uint64_t size;        /* the tree size the proof is against */
    merkle_hash leaf;     /* inclusion: the leaf hash */
    merkle_hash old_root; /* consistency: the older tree's root */
    merkle_hash root;     /* the root at size */
    merkle_hash path[MERKLE_MAX_PROOF];
    size_t path_len;
    struct buf entry;    /* inclusion: the entry line, without its newline */
    struct buf old_note; /* consistency: the signed checkpoint of old_size */
    struct buf note;     /* the signed checkpoint of size */
};

/* An empty proof; release with proof_free. */
void proof_init(struct proof *p);
void proof_free(struct proof *p);

/* Append the text of p to out. -1 when p cannot be written (an origin that
 * is not note_name_ok, an entry with a newline) or out's maximum is hit. */
int proof_format(const struct proof *p, struct buf *out) WUR;

/* Parse the text s[0..n) into p (initialised, and reset here). On -1 err
 * names the line that is wrong, never quoting it. */
int proof_parse(const char *s, size_t n, struct proof *p, struct err *err) WUR;

/* Check p: its checkpoint notes verify against the trusted keys v[0..nv)
 * and state p's origin, sizes and roots; an inclusion proof's entry hashes
 * to its leaf; and the RFC 9162 verification of the path succeeds. 0 when
 * all hold. */
int proof_check(const struct proof *p, const struct note_verifier *v, size_t nv,
                struct err *err) WUR;

#endif
