/*
 * engine: the pure masking engine. Bytes in, bytes out, no I/O.
 *
 * engine_redact() parses a payload strictly, applies the policy and writes the
 * masked payload canonically (DESIGN.md invariants 1 and 2: nothing is
 * written unless the whole payload parsed and every rule ran; the output is
 * re-serialized from the tree, never the client's bytes). Formats that carry
 * journeys append context records, one JSON object per line, to env->context.
 * The proxy, the offline CLI, the fuzzers and the benchmarks all call this one
 * function, so a policy behaves identically everywhere.
 *
 * Rule evaluation order (docs/policy.md): format structure (form: inputs and
 * validation messages), then field rules (first match in file order), then
 * PII detectors on every surviving key, string and number. Nothing is exempt
 * from the detectors.
 */
#ifndef SCRIM_ENGINE_H
#define SCRIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "rules/conf.h"
#include "rules/decode.h"
#include "rules/journey.h"
#include "rules/json.h"
#include "rules/pii.h"
#include "rules/policy.h"

struct session_table;

/* base64url of a 16-byte digest, without padding. */
#define PSEUDONYM_LEN 22

/* Keyed, per-tenant pseudonym of data[0..n) in a domain ("value",
 * "session"). Supplied by the caller (crypto/ implements it) so the engine
 * holds no key. out receives PSEUDONYM_LEN characters and a NUL. */
typedef void (*pseudonym_fn)(void *ctx, const char *domain, const void *data, size_t n,
                             char out[PSEUDONYM_LEN + 1]);

struct redact_env {
    const struct policy *policy;
    struct pii_scanner *scanner; /* the caller's, for this policy's pii set */
    struct json_limits json;
    pseudonym_fn pseudonym;
    void *pseudonym_ctx;
    struct journey_state *journey;  /* session state; NULL: a fresh one */
    struct buf *context;            /* context records (JSON lines); NULL: none */
    uint64_t now_ms;                /* the caller's clock for abandonment; 0: none */
    struct decode_limits inflate;   /* compressed fields inside vendor payloads (PostHog
                                       gzip strings, Sentry zlib recordings), in all;
                                       zeros: 50 MiB and 100:1 */
    struct session_table *sessions; /* replay sessions across payloads (rules/session.h),
                                       bound to the tenant; NULL: every payload on its own */
};

/* How often each rule acted: the audit entry's body. Never values. */
struct rule_count {
    const char *id;
    enum action action;
    uint64_t count;
};

struct redact_report {
    struct rule_count *rules; /* in the arena; one per rule of the policy */
    size_t nrules;
    size_t bytes_in, bytes_out;
    size_t context_records;
};

enum redact_status {
    REDACT_OK = 0,
    REDACT_BAD,      /* not strict JSON, or not the format's schema: 400 */
    REDACT_TOOBIG,   /* a size, depth or node limit: 413 */
    REDACT_LIMIT,    /* a detector hit its regex limit; failed closed: 422 */
    REDACT_INTERNAL, /* scrim's own fault (e.g. no pseudonym key): 500 */
};

/* Short reason for a status, for logs and metrics ("bad", "too_big", ...). */
const char *redact_status_name(enum redact_status s);

/*
 * Mask in[0..n) as format fmt under env->policy into out. On REDACT_OK out
 * holds the masked payload and rep the counts. On any other status out and
 * env->context are left as they were before the call (nothing half-written),
 * and err says why without quoting the payload. a holds the parse tree and
 * scratch; the caller resets it after the call.
 */
enum redact_status engine_redact(const struct redact_env *env, struct arena *a, enum format fmt,
                                 const char *in, size_t n, struct buf *out,
                                 struct redact_report *rep, struct err *err);

#endif
