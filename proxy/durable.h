/*
 * durable: the one thread that makes requests durable (DESIGN.md invariant
 * 6). Workers hand it finished jobs; it spools the payloads whose upstream
 * failed, appends every job's context records and audit entry, commits the
 * whole batch with one fsync per file (the jobs that arrive during one
 * fsync form the next batch: group commit), and only then hands each job
 * back to its worker to be answered. The store, audit log and spool are
 * single-owner structures; this thread is their owner while serving.
 */
#ifndef SCRIM_DURABLE_H
#define SCRIM_DURABLE_H

#include "common/err.h"
#include "proxy/persist.h"

struct durable;
struct job;
struct spool;
struct drain;

struct durable *durable_start(struct persist *p, struct spool *sp, struct drain *dr,
                              unsigned commit_interval_ms, struct err *err);

/* Queue j (thread-safe). It comes back through worker_post_done. */
void durable_submit(struct durable *d, struct job *j);

/* Run fn(arg) on the durability thread between batches and wait for it:
 * reloads, ticks and retention touch the store and logs it owns. */
int durable_call(struct durable *d, int (*fn)(void *arg, struct persist *p), void *arg);

/* Finish every queued job, then stop the thread. */
void durable_stop(struct durable *d);

#endif
