/*
 * persist: what scrim keeps of a request, made durable before it is
 * acknowledged (DESIGN.md invariant 6).
 *
 * For each handled payload: its context records are sealed into the
 * tenant's segment store (when the config has `storage`), and one entry goes
 * to the tenant's audit log (when it has `audit`): outcome, reason, and per
 * rule the action and count, never a value. persist_request returns 0 only
 * when both are on disk. scrim redact and scrim serve share this module.
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
    int forwarded; /* the masked payload went upstream */
};

/* Seal the records, append the audit entry, and make both durable.
 * -1 with err: nothing may be acknowledged. */
int persist_request(struct persist *p, const struct persist_event *ev, int64_t now_ms,
                    struct err *err) WUR;

/* Commit, close segments and write final checkpoints. -1 when something
 * could not be closed cleanly (recovery will close it). NULL is a no-op. */
int persist_close(struct persist *p, int64_t now_ms, struct err *err);

#endif
