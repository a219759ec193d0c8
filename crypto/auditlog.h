/*
 * auditlog: the tamper-evident redaction audit log, one per tenant, built
 * the way transparency logs are (docs/audit.md has the exact formats).
 *
 *   DIR/<tenant>/entries      one canonical JSON line per entry, append-only;
 *                             the leaf data of entry N is its line without
 *                             the newline, and entry N carries the leaf hash
 *                             of entry N-1 ("prev"), a hash chain
 *   DIR/<tenant>/checkpoints  signed checkpoints (crypto/note.h) of the RFC
 *                             9162 Merkle tree over the entries, each note
 *                             followed by an empty line
 *
 * An entry records what happened to one request: sequence number, time,
 * request id, route, format, outcome and why, per rule the action and how
 * many values it touched, bytes in and out. Its fields are fixed and hold no
 * payload value (DESIGN.md invariant 4): callers pass scrim's own ids and
 * names, never client bytes.
 *
 * The writer keeps only the tree's right frontier (crypto/merkle.h), so an
 * append costs O(log n) hashes and no memory grows with the log. The log
 * takes no clock: callers pass the time. One process writes a log at a time
 * (an exclusive lock on the entries file).
 */
#ifndef SCRIM_AUDITLOG_H
#define SCRIM_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/merkle.h"
#include "crypto/note.h"
#include "crypto/proof.h"

#define AUDITLOG_LINE_MAX  (256 * 1024) /* one entry line */
#define AUDITLOG_STR_MAX   256          /* request id, route, format, reason, rule id, action */
#define AUDITLOG_RULES_MAX 1024         /* rules in one entry */

enum auditlog_outcome {
    AUDITLOG_FORWARDED, /* the masked payload went upstream */
    AUDITLOG_SPOOLED,   /* the upstream was down; it waits in the spool */
    AUDITLOG_STORED,    /* only context records were kept */
    AUDITLOG_DROPPED,   /* rejected; reason says why */
    AUDITLOG_RETENTION, /* not a request: a day of data was deleted */
};

/* "forwarded", "spooled", ... */
const char *auditlog_outcome_name(enum auditlog_outcome o);

struct auditlog_rule {
    const char *id;     /* the policy's rule id */
    const char *action; /* "mask", "hash", "drop", ... */
    uint64_t count;     /* values it touched */
};

struct auditlog_entry {
    uint64_t seq;    /* set by auditlog_append; read back by auditlog_foreach */
    int64_t time_ms; /* milliseconds since the Unix epoch, >= 0 */
    const char *request_id, *route, *format; /* NULL is written as "" */
    enum auditlog_outcome outcome;
    const char *reason; /* why it was dropped, or the retention note; NULL: "" */
    const struct auditlog_rule *rules;
    size_t nrules;
    uint64_t bytes_in, bytes_out;
};

struct auditlog_options {
    const struct note_signer *signer; /* borrowed: must outlive the log */
    const char *origin_prefix;        /* origin = "<prefix>/<tenant>"; NULL: "scrim" */
    uint64_t every_entries;           /* checkpoint after this many entries; 0: 1000 */
    int64_t every_ms;                 /* or this long after the last one; 0: 60000 */
    int64_t now_ms;                   /* the caller's clock at open */
};

struct auditlog;

/*
 * Open (creating it when missing) the log of tenant in DIR, which must
 * exist. The entries are read back to rebuild the tree; a torn last line or
 * checkpoint (a crash during a write) is cut, logged and counted in
 * auditlog_repaired_bytes. A log whose entries do not match their sequence
 * numbers, their hash chain or its own checkpoints is refused (NULL, err
 * names the first bad sequence number): scrim never extends a log it cannot
 * vouch for. Signatures are not checked here; auditlog_verify does.
 */
struct auditlog *auditlog_open(const char *dir, const char *tenant,
                               const struct auditlog_options *o, struct err *err);

/* Append e (its seq is set here) and make it durable (fdatasync) before
 * returning 0, so a request can be acknowledged (invariant 6). -1 when a
 * field is too long or not UTF-8, or on an I/O error; after an I/O error the
 * log refuses appends until it is reopened (which cuts a torn line). */
int auditlog_append(struct auditlog *log, struct auditlog_entry *e, struct err *err) WUR;

/* Group commit: append without syncing, then auditlog_sync once for all. */
int auditlog_append_nosync(struct auditlog *log, struct auditlog_entry *e, struct err *err) WUR;
int auditlog_sync(struct auditlog *log, struct err *err) WUR;

/* The retention entry for deleting day ("YYYY-MM-DD"): outcome retention,
 * reason "deleted day <day>". */
int auditlog_append_retention(struct auditlog *log, int64_t now_ms, const char *day,
                              struct err *err) WUR;

/* 1 when entries were added since the last checkpoint and either
 * every_entries of them, or every_ms since that checkpoint (or the open). */
int auditlog_should_checkpoint(const struct auditlog *log, int64_t now_ms);

/* Sync the entries, then sign and append a checkpoint of the whole tree. */
int auditlog_checkpoint(struct auditlog *log, int64_t now_ms, struct err *err) WUR;

/* Write a final checkpoint when entries were added since the last one, then
 * close and release the log, also on -1. NULL is a no-op. */
int auditlog_close(struct auditlog *log, int64_t now_ms, struct err *err);

uint64_t auditlog_size(const struct auditlog *log);
uint64_t auditlog_repaired_bytes(const struct auditlog *log);
const char *auditlog_origin(const struct auditlog *log);

/* What auditlog_verify found. */
struct auditlog_report {
    char origin[NOTE_ORIGIN_MAX + 1]; /* the checkpoints' origin; "" without any */
    uint64_t entries;                 /* complete entry lines read */
    uint64_t checkpoints;             /* checkpoints verified */
    uint64_t signed_size;             /* tree size of the last checkpoint */
    uint64_t unsigned_tail;           /* entries after it, not yet signed */
    uint64_t torn_bytes;              /* an incomplete last line or checkpoint, ignored */
    int bad;                          /* 1: the log failed verification */
    uint64_t first_bad;               /* then: the first bad sequence number */
};

/*
 * Verify the log in logdir (DIR/<tenant>): every entry line is canonical,
 * carries its sequence number and the leaf hash of the one before; every
 * checkpoint is signed by one of v[0..nv), states the expected origin (origin,
 * or when NULL one ending in "/<last component of logdir>"), does not shrink,
 * and its root is the recomputed root at its size; the entries reach the
 * last checkpoint's size. 0 when all hold. On -1 either r->bad is set and
 * err reads "sequence N: what" (N = r->first_bad: an edited, inserted,
 * removed or reordered entry, a forged or foreign checkpoint, or entries
 * missing before the last checkpoint), or r->bad is 0 and err says why the
 * log could not be read.
 */
int auditlog_verify(const char *logdir, const struct note_verifier *v, size_t nv,
                    const char *origin, struct auditlog_report *r, struct err *err) WUR;

/* Call fn for each entry of logdir in order (strings valid during the call
 * only). Stops at fn's non-zero return (returned) or a malformed line (-1
 * with "sequence N: ..."). Checks nothing cryptographic: verify first. */
int auditlog_foreach(const char *logdir, int (*fn)(void *ctx, const struct auditlog_entry *e),
                     void *ctx, struct err *err) WUR;

/* Into note: the signed checkpoint of tree size size from logdir's
 * checkpoints (the last one of that size), or the latest one when size is
 * UINT64_MAX. Signatures are not checked. */
int auditlog_checkpoint_find(const char *logdir, uint64_t size, struct buf *note,
                             struct err *err) WUR;

/* An inclusion proof of entry seq against the latest checkpoint, into p
 * (initialised with proof_init). Fails when the entries do not hash to that
 * checkpoint's root. */
int auditlog_prove_inclusion(const char *logdir, uint64_t seq, struct proof *p,
                             struct err *err) WUR;

/* A consistency proof between two signed checkpoints of logdir's log (the
 * notes' bytes; syntax and roots checked here, signatures by proof_check). */
int auditlog_prove_consistency(const char *logdir, const struct buf *old_note,
                               const struct buf *new_note, struct proof *p, struct err *err) WUR;

#endif
