/*
 * seal: the envelope of a storage segment (byte format: docs/storage.md).
 *
 * A segment is a header, then framed records. The header names the tenant,
 * the key id and a creation time, carries a fresh random 32-byte data key
 * sealed to the tenant's X25519 public key (crypto_box_seal), and ends with a
 * key commitment: BLAKE2b keyed with a subkey of the data key over the header
 * bytes before it, so a header opens under one data key only. Records are
 * XChaCha20-Poly1305-IETF under another subkey, each with a random nonce and
 * with BLAKE2b(header) || sequence number || record kind as associated data:
 * a record reordered, dropped, duplicated, altered or moved from another
 * segment fails. A closed segment ends with a sealed final record holding the
 * record count, so a cut at a record boundary shows too.
 *
 * Writing needs only the public key; the writer holds the segment's record
 * key in guarded memory while the segment is open and never writes it down.
 * Reading needs the tenant's secret key (crypto/keys.h keys_load_secret).
 *
 * Every frame also ends with an unkeyed BLAKE2b-128 check of its bytes. It
 * is not security (anyone can recompute it): it lets the store find a torn
 * tail after a crash without any key (seal_scan), and close the segment with
 * a recovery marker (seal_recovered_frame), which a reader reports as such.
 */
#ifndef SCRIM_SEAL_H
#define SCRIM_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/keys.h"

#define SEAL_TENANT_MAX   64
#define SEAL_ID_BYTES     32
#define SEAL_HEADER_BYTES 236
#define SEAL_RECORD_MAX   (1u << 20) /* plaintext bytes of one record */
#define SEAL_FRAME_HEAD   5          /* u32 body length, u8 kind */
#define SEAL_FRAME_CHECK  16
#define SEAL_FRAME_MAX    (SEAL_FRAME_HEAD + 24 + SEAL_RECORD_MAX + 16 + SEAL_FRAME_CHECK)

enum seal_kind { SEAL_KIND_DATA = 1, SEAL_KIND_FINAL = 2, SEAL_KIND_RECOVERED = 3 };

/* What a header says. Authentic only once seal_reader_open accepted it. */
struct seal_header {
    char tenant[SEAL_TENANT_MAX + 1];
    char key_id[KEYS_ID_HEX + 1];
    uint8_t segment_id[SEAL_ID_BYTES];
    uint64_t created_ms;
};

/* 1 when t is a tenant id a header (and a directory name) may hold: 1-64 of
 * [A-Za-z0-9._-], not starting with '.' or '-'. */
int seal_tenant_valid(const char *t);

/* Decode the header's fields and check its layout (magic, version, suite,
 * tenant id, zero padding). Says nothing of authenticity. -1 with err. */
int seal_header_decode(const uint8_t p[SEAL_HEADER_BYTES], struct seal_header *h,
                       struct err *err) WUR;

struct seal_writer;

/* A new segment for tenant, sealed to pk, created at created_ms (ms since the
 * epoch). Its header (SEAL_HEADER_BYTES, seal_writer_header) is written
 * first. NULL with err. */
struct seal_writer *seal_writer_new(const char *tenant, const struct keys_public *pk,
                                    uint64_t created_ms, struct err *err);

const uint8_t *seal_writer_header(const struct seal_writer *w);

/* Append one framed, encrypted record of rec[0..n) to out. n is at most
 * SEAL_RECORD_MAX. On failure out is as it was and the sequence number did
 * not advance. */
int seal_writer_append(struct seal_writer *w, const void *rec, size_t n, struct buf *out,
                       struct err *err) WUR;

/* Append the final record to out; the writer takes no more records after. */
int seal_writer_finish(struct seal_writer *w, struct buf *out, struct err *err) WUR;

/* Records appended so far (the next record's sequence number). */
uint64_t seal_writer_count(const struct seal_writer *w);

/* Wipe the record key and free. NULL is a no-op. */
void seal_writer_free(struct seal_writer *w);

/* Append the keyless recovery marker that closes a segment holding count
 * records after a crash. */
int seal_recovered_frame(uint64_t count, struct buf *out) WUR;

/* What a keyless walk over a segment found. */
struct seal_scan {
    uint64_t good_end; /* bytes of header and whole, undamaged frames; 0 when
                          the header itself is incomplete */
    uint64_t records;  /* data records among them */
    int closed;        /* the last of them is a final record or a recovery marker */
};

/* Walk the segment in f from its start without a key, stopping at the first
 * frame that is cut short or damaged, or after a closing frame. -1 with err
 * when f does not hold a scrim segment header or cannot be read. */
int seal_scan(FILE *f, struct seal_scan *out, struct err *err) WUR;

enum seal_end { SEAL_OPEN, SEAL_FINISHED, SEAL_RECOVERED, SEAL_UNFINISHED };

struct seal_reader;

/* Open the segment in f (positioned at its start): check the header, pick
 * the key of keys[0..nkeys) whose id the header names, open the sealed data
 * key and check the key commitment. When tenant is not NULL the header must
 * name that tenant. NULL with err. The reader borrows f and keys. */
struct seal_reader *seal_reader_open(FILE *f, struct keys_secret *const *keys, size_t nkeys,
                                     const char *tenant, struct err *err);

/* The next record's plaintext into out (replacing its contents, NUL after
 * it; out's max must leave room for SEAL_RECORD_MAX + 1 bytes): 1. At the
 * end of the segment: 0, and seal_reader_end says how it ended. On any
 * integrity failure (a message naming the record's index): -1, out wiped,
 * and every later call fails too. */
int seal_reader_next(struct seal_reader *r, struct buf *out, struct err *err) WUR;

/* SEAL_OPEN until seal_reader_next returned 0. */
enum seal_end seal_reader_end(const struct seal_reader *r);

/* Records returned so far. */
uint64_t seal_reader_count(const struct seal_reader *r);

const struct seal_header *seal_reader_header(const struct seal_reader *r);

/* Wipe the record key and free. NULL is a no-op. */
void seal_reader_free(struct seal_reader *r);

#endif
