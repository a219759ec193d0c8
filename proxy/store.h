/*
 * store: the embedded segment store (docs/storage.md).
 *
 *   DIR/<tenant>/<YYYY-MM-DD>/<created ms, 16 digits>.seg
 *
 * One writer per tenant appends sealed records (crypto/seal.h) to that
 * tenant's open segment. store_append only buffers; store_commit writes and
 * fsyncs every tenant's batch and returns only when it is durable, so the
 * caller appends the records of several requests, commits once, and only
 * then acknowledges them (group commit; DESIGN.md invariant 6). A segment is
 * closed with a final record when it reaches the size limit, its age limit,
 * a new UTC day, or a new public key for its tenant (rotation). A new
 * segment's creation time is strictly later than the tenant's previous one,
 * so names are unique and sort in order.
 *
 * store_open recovers from a crash without any key (the proxy holds none
 * that opens a segment, invariant 5): in each tenant's newest segment it
 * cuts a torn tail (a frame cut short or damaged) and closes the segment
 * with a recovery marker; everything fsync'd before remains. A failed write
 * or fsync abandons the open segment the same way and fails the batch.
 *
 * Time is always handed in (ms since the epoch); the store reads no clock.
 * Not thread-safe: one owner calls it.
 */
#ifndef SCRIM_STORE_H
#define SCRIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/keys.h"
#include "crypto/seal.h"

#define STORE_DAY_LEN 10 /* YYYY-MM-DD */

struct store;

struct store_stats {
    uint64_t segments_opened;
    uint64_t segments_closed;
    uint64_t segments_recovered; /* closed by a recovery marker */
    uint64_t torn_bytes_cut;
    uint64_t commits; /* batches made durable */
    uint64_t days_deleted;
};

/* Open the store in dir (created 0700 when missing) with the rotation
 * limits, and recover every tenant's newest segment. NULL with err, e.g.
 * when a file named like a segment is not one. */
struct store *store_open(const char *dir, uint64_t segment_max_bytes, unsigned segment_max_age_s,
                         struct err *err);

/* Seal rec[0..n) into tenant's open segment (opening or rotating one,
 * sealed to pk, the tenant's current public key, as needed) and buffer it.
 * Not durable until store_commit. -1 with err; a failed append also fails
 * the next store_commit, so no record of the batch is acknowledged. */
int store_append(struct store *s, const char *tenant, const struct keys_public *pk, const void *rec,
                 size_t n, uint64_t now_ms, struct err *err) WUR;

/* Write and fsync every buffered record of every tenant (and the directory
 * of any new segment); then close the segments that reached a limit. 0 only
 * when every record appended since the last commit is on disk. */
int store_commit(struct store *s, uint64_t now_ms, struct err *err) WUR;

/* Close idle segments past their age limit or from an earlier day (call
 * periodically). Segments with buffered records wait for store_commit. */
int store_tick(struct store *s, uint64_t now_ms, struct err *err) WUR;

/* Called once per deleted day with the number of segment files it held, so
 * the caller can record the deletion in the audit log. */
typedef void (*store_day_fn)(void *arg, const char *tenant, const char *day, unsigned segments);

/* Delete tenant's whole days that are past retention: a day D goes once
 * today - D > retention_days (today from now_ms, UTC), so every record is
 * kept at least retention_days full days. An open segment in such a day is
 * closed first. fn (may be NULL) hears of each day deleted. */
int store_sweep(struct store *s, const char *tenant, unsigned retention_days, uint64_t now_ms,
                store_day_fn fn, void *arg, struct err *err) WUR;

void store_stats(const struct store *s, struct store_stats *out);

/* Commit, close every open segment with its final record, and free. -1 with
 * err when a segment could not be closed (it is left to recovery). */
int store_close(struct store *s, struct err *err);

/* Free without writing anything: open segments stay unfinished, exactly as
 * after a crash (tests use it to simulate one). NULL is a no-op. */
void store_free(struct store *s);

/* Where a segment sits in a store, read from its path. */
struct store_place {
    char tenant[SEAL_TENANT_MAX + 1];
    char day[STORE_DAY_LEN + 1];
    uint64_t created_ms; /* from the file name */
};

/* 1 and *out filled when path ends in <tenant>/<YYYY-MM-DD>/<16 digits>.seg;
 * 0 when it does not have that shape. */
int store_place_parse(const char *path, struct store_place *out);

/* When path has a store's shape, the header (authenticated: check it only
 * after seal_reader_open) must name the tenant, day and creation time of
 * its place, so a segment moved to another tenant's or day's directory, or
 * renamed, fails. -1 with err; 0 also when path has no store shape. */
int store_place_check(const char *path, const struct seal_header *h, struct err *err) WUR;

/* The UTC day of ms as YYYY-MM-DD. */
void store_day_name(uint64_t ms, char out[STORE_DAY_LEN + 1]);

/* Call fn for path when it is a file, or for every *.seg file under it when
 * it is a directory (at most three levels: tenant, day, segment), in name
 * order: tenants alphabetically, days and segments oldest first. fn returns
 * 0 to go on, -1 to stop (store_walk then returns -1). */
typedef int (*store_segment_fn)(void *arg, const char *path);
int store_walk(const char *path, store_segment_fn fn, void *arg, struct err *err) WUR;

#endif
