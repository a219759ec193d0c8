/*
 * spool: masked replay payloads waiting for an upstream that is down
 * (DESIGN.md invariant 6: an outage fills the spool, not a hole).
 *
 * One scrim instance owns one spool directory (an exclusive flock on it):
 *
 *   <dir>/spool.key              32 random bytes, 0600, made on first open
 *   <dir>/NNNNNNNNNNNNNNNN.spool segment files, named by their first item's
 *                                sequence number (16 hex digits), append-only
 *   <dir>/done                   the sequence number of the newest item the
 *                                upstream accepted (appended, compacted)
 *
 * A segment is a run of frames: a 64-byte header (magic, frame length,
 * sequence number, the field lengths, a fresh random nonce) and then the
 * fields and the body, encrypted with XChaCha20-Poly1305 under the key with
 * the whole header as associated data. So a copy of the segments alone
 * reveals nothing, and a frame whose sequence number, lengths or bytes were
 * changed, or that was moved, fails to decrypt. The key is in guarded
 * memory, readable only while the spool's lock is held.
 *
 * Items leave in put order, each once: spool_done records the oldest item as
 * accepted (fsync'd), and a segment is deleted once all its items are done.
 * Sequence numbers only grow, also across restarts. On open, a crash's torn
 * tail at the end of the newest segment (a frame cut short, or zeros: it
 * was never synced, so never acknowledged) is cut away with a warning. Any
 * other damage is never skipped: spool_peek fails on it, naming the file and
 * the sequence number, until an operator moves the file away.
 *
 * Bytes on disk are bounded: the segment files together stay within
 * max_bytes (the done file is compacted at 4 KiB and not counted); space
 * comes back a whole segment at a time. Segments rotate at max_bytes / 8,
 * clamped to [4 KiB, 16 MiB].
 *
 * Thread-safe: one mutex covers every call, so the durability thread can
 * put and sync while the upstream thread peeks and marks done. The mutex is
 * held across fsync and across the encryption of one item; with one writer
 * and one reader that costs the reader at most one item's latency, which is
 * acceptable for now. After a failed write or fsync the spool refuses
 * further puts (the kernel may have dropped the dirty pages, so a retry
 * could report success for lost data): reopen it to recover.
 */
#ifndef SCRIM_SPOOL_H
#define SCRIM_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Field limits: over them spool_put fails (the caller answers 5xx). */
#define SPOOL_FIELD_MAX ((size_t)64 << 10) /* url, content_type, headers, tenant */
#define SPOOL_BODY_MAX  ((size_t)64 << 20)
#define SPOOL_ID_LEN    16 /* request_id: exactly 16 hex digits */

struct spool;

struct spool_item {
    uint64_t seq;             /* assigned by spool_put; ignored on input */
    const char *url;          /* upstream URL */
    const char *content_type; /* may be "" */
    const char *headers;      /* preformatted "Name: v\r\n" lines; may be "" */
    const char *request_id;   /* the idempotency key the upstream sees */
    const char *tenant;
    const void *body;
    size_t body_len;
};

enum spool_result { SPOOL_OK = 0, SPOOL_FULL = 1, SPOOL_ERROR = -1 };

/* Open (or create, mode 0700) the spool in dir, holding at most max_bytes
 * of segment files. Creates the key file (0600) on first use; refuses a key
 * file that group or others may read, or that is not 32 bytes. Cuts a torn
 * tail, deletes fully done segments. NULL with err (also when another
 * process holds the spool). */
struct spool *spool_open(const char *dir, uint64_t max_bytes, struct err *err);

/* fsync what was put, close, wipe the key. NULL is a no-op. */
void spool_close(struct spool *s);

/* Append an item, encrypted; not durable until spool_sync. *seq receives its
 * number. SPOOL_FULL (nothing written) when it would take the segment files
 * past max_bytes; SPOOL_ERROR with err on a bad item or an I/O error. */
enum spool_result spool_put(struct spool *s, const struct spool_item *it, uint64_t *seq,
                            struct err *err) WUR;

/* fsync every item put so far (and new segment files' directory entries).
 * Only after it returns 0 may those items be acknowledged. */
int spool_sync(struct spool *s, struct err *err) WUR;

/* The oldest item not yet done, decrypted into out (reset first); it's
 * pointers point into out's memory and stay valid until out changes. out's
 * max must hold the item (its fields, their NULs and the body). 1 found,
 * 0 empty, -1 with err naming the file and sequence number (a damaged or
 * missing item: it is not skipped, every later peek fails the same way);
 * out is left empty on 0 and -1. */
int spool_peek(struct spool *s, struct spool_item *it, struct buf *out, struct err *err) WUR;

/* Record that the oldest item, seq, was accepted upstream; durable (fsync)
 * when it returns 0. seq must be the oldest pending item's number. Deletes
 * its segment once every item in it is done. */
int spool_done(struct spool *s, uint64_t seq, struct err *err) WUR;

/* Bytes of the segment files on disk, done items included until their
 * segment is deleted. */
uint64_t spool_bytes(const struct spool *s);

/* Items put and not yet done. */
uint64_t spool_items(const struct spool *s);

#endif
