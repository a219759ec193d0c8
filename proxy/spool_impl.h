/*
 * spool_impl: what spool.c (frames, the segment index, put and peek) and
 * spool_open.c (key, done file, directory scan, recovery, close) share: the
 * frame format's sizes, the in-memory index, and the helpers both use.
 * Nothing outside proxy/spool*.c includes this.
 */
#ifndef SCRIM_SPOOL_IMPL_H
#define SCRIM_SPOOL_IMPL_H

#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "spool.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HDR_BYTES   64
#define NFIELDS     5 /* the NUL-terminated strings before the body */
#define FRAME_MIN   (HDR_BYTES + NFIELDS + SPOOL_ID_LEN + TAG_BYTES)
#define DIR_MAX     960
#define PATH_MAX_   1024 /* DIR_MAX and a file name */

/* The plaintext header of a frame; all of it is associated data. */
struct frame_hdr {
    uint32_t len; /* whole frame: header, ciphertext, tag */
    uint64_t seq;
    uint32_t flen[NFIELDS]; /* url, content type, headers, request id, tenant */
    uint32_t body_len;
    uint8_t nonce[NONCE_BYTES];
};

struct seg {
    uint64_t first; /* sequence number in the file name */
    uint64_t count; /* well-formed frames */
    uint64_t bytes; /* file size */
    uint64_t good;  /* where the well-formed frames end */
    int damaged;    /* a malformed frame follows the well-formed ones */
};

struct spool {
    pthread_mutex_t mu;
    char dir[DIR_MAX];
    int dirfd; /* holds the flock */
    uint8_t *key;
    uint64_t max_bytes, seg_target;
    struct seg *segs; /* oldest first; the last one is the one written */
    size_t nsegs, segs_cap;
    int wfd;          /* segs[nsegs - 1] open for writing; -1: next put starts a segment */
    int unsynced;     /* wfd was written since its last fsync */
    int dir_unsynced; /* a segment was created since the last directory fsync */
    int broken;       /* a write or fsync failed: no more puts */
    int rfd;          /* segs[0] open for reading, or -1 */
    uint64_t roff;    /* offset in segs[0] of the oldest pending frame */
    int donefd;
    uint64_t done, done_bytes;
    uint64_t next_seq, bytes, items;
};

/* Little-endian integers of the frame header and the done file. */
void spool_put_le64(uint8_t *p, uint64_t v);
uint64_t spool_get_le64(const uint8_t *p);

/* Decode and check a header's shape from HDR_BYTES at p: magic, field
 * limits, and a length that matches its fields. 0, or -1 when it is not a
 * frame this code writes. */
int spool_hdr_decode(const uint8_t *p, struct frame_hdr *h) WUR;

/* All n bytes at offset at, retrying EINTR: 0, or -1 on an error or a short
 * file. */
int spool_io_pread(int fd, void *p, size_t n, uint64_t at) WUR;
int spool_io_pwrite(int fd, const void *p, size_t n, uint64_t at) WUR;

/* <dir>/<first as 16 hex digits>.spool into out[0..n). */
void spool_seg_path(const struct spool *s, uint64_t first, char *out, size_t n);

/* fsync the spool directory: 0, or -1 with err set. */
int spool_dir_sync(struct spool *s, struct err *err) WUR;

/* Append a segment starting at sequence number first to the index: 0, or
 * -1 out of memory. */
int spool_seg_push(struct spool *s, uint64_t first) WUR;

/* The last sequence number segment i holds (for a damaged newest segment,
 * the most its damaged bytes could hold), and whether every one of them is
 * done. */
uint64_t spool_seg_last(const struct spool *s, size_t i);
int spool_seg_all_done(const struct spool *s, size_t i);

/* Remove segs[0] from the index and the disk: 0, or -1 with err set when
 * its file cannot be removed (it is gone from the index either way). */
int spool_seg_drop_oldest(struct spool *s, struct err *err) WUR;

/* Record seq as done in the done file (write and fsync; compacted past
 * DONE_MAX bytes): 0, or -1 with err set. */
int spool_done_append(struct spool *s, uint64_t seq, struct err *err) WUR;

#endif
