/*
 * persist: what scrim keeps of a request, made durable before it is
 * acknowledged (DESIGN.md invariant 6).
 *
 * For each handled payload: its context records are sealed into the
 * tenant's segment store (when the config has `storage`), and one entry goes
 * to the tenant's audit log (when it has `audit`): outcome, reason, and per
 * rule the action and count, never a value. persist_request returns 0 only
 * when both are on disk. scrim redact and scrim serve share this module.
 *
 * scrim serve calls it from one durability thread only (not thread-safe):
 * persist_add for every request of a batch, then one persist_commit (group
 * commit: one fsync per file for the whole batch) before any of the batch
 * is acknowledged.
 */
#ifndef SCRIM_PERSIST_H
#define SCRIM_PERSIST_H

#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "rules/conf.h"
#include "rules/engine.h"

struct persist;

/* Load the tenants' public keys and the audit signing key, open the store
 * and recover it. NULL with err. A config with neither storage nor audit
 * gives a persist that keeps nothing. */
struct persist *persist_open(const struct config *c, int64_t now_ms, struct err *err);

/* What happened to one request. records: the context records (JSON lines)
 * of an accepted payload, or NULL. */
struct persist_event {
    const struct conf_tenant *tenant;
    const char *route; /* the route's path, or "cli" */
    enum format format;
    enum redact_status status;
    const struct redact_report *report; /* counts; NULL when rejected before the engine */
    const struct buf *records;
    int forwarded;          /* the masked payload went upstream */
    int spooled;            /* it waits in the spool for its upstream */
    const char *request_id; /* scrim's own id (16 hex); NULL: a fresh random one */
    const char *dropped;    /* accepted by the engine but dropped later, e.g. "spool_full",
                               "upstream": outcome dropped with this reason; NULL: none */
};

/* Seal the records, append the audit entry, and make both durable.
 * -1 with err: nothing may be acknowledged. */
int persist_request(struct persist *p, const struct persist_event *ev, int64_t now_ms,
                    struct err *err) WUR;

/* Buffer the records and the audit entry of one request; not durable
 * until persist_commit. -1 with err: this request may not be acknowledged
 * (and a failed store append fails the whole batch's commit). */
int persist_add(struct persist *p, const struct persist_event *ev, int64_t now_ms,
                struct err *err) WUR;

/* Make everything added since the last commit durable (store fsync, audit
 * fdatasync) and write any checkpoint that is due. 0 only when all is on
 * disk; -1: nothing of the batch may be acknowledged. */
int persist_commit(struct persist *p, int64_t now_ms, struct err *err) WUR;

/* persist_commit in two halves that touch disjoint state, so two threads
 * may run them at the same time (the store's fsync and the audit logs'
 * fdatasync then overlap instead of adding up). Both must succeed. */
int persist_commit_store(struct persist *p, int64_t now_ms, struct err *err) WUR;
int persist_commit_audit(struct persist *p, int64_t now_ms, struct err *err) WUR;

/* Point at a reloaded config: tenants are matched by id (their audit logs
 * stay open), public keys are loaded again (a rotation takes effect). The
 * store, audit and spool settings themselves are not reloadable. On -1
 * nothing changed. */
int persist_rebind(struct persist *p, const struct config *c, struct err *err) WUR;

/* Delete every tenant's days past its retention_days and log each deletion
 * in the tenant's audit log (durable on return). days receives the count. */
int persist_sweep(struct persist *p, int64_t now_ms, unsigned *days, struct err *err) WUR;

/* Write the checkpoints that are due by time (call periodically). */
int persist_tick(struct persist *p, int64_t now_ms, struct err *err) WUR;

/* Commit, close segments and write final checkpoints. -1 when something
 * could not be closed cleanly (recovery will close it). NULL is a no-op. */
int persist_close(struct persist *p, int64_t now_ms, struct err *err);

#endif
