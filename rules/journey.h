/*
 * journey: the context records scrim keeps instead of values.
 *
 * A journey_state follows one session through a policy's journey: the step
 * it is on and since when, and per field only facts (filled or empty, number
 * of edits, time in the field, last validation state and error code). Events
 * come from the form format and, later, from replay; each call may append
 * context records, one JSON object per line, to the output buffer. Record
 * types and fields are documented in docs/context.md.
 *
 * Pure: time comes from event timestamps, or from the caller's clock for
 * journey_expire(). Bounded: at most JOURNEY_MAX_FIELDS fields per session;
 * names longer than JOURNEY_NAME_MAX are cut (they are names, not values, and
 * have already been through the detectors).
 */
#ifndef SCRIM_JOURNEY_H
#define SCRIM_JOURNEY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "rules/policy.h"

#define JOURNEY_MAX_FIELDS 64
#define JOURNEY_NAME_MAX   128

struct journey_state;

/* What a record says about the session, set once per batch. */
struct journey_ctx {
    const struct journey_conf *conf;
    const char *session; /* keyed pseudonym of the session id */
    const char *device;  /* "mobile", "tablet", "desktop" or NULL */
    int returning;       /* -1 unknown, 0 new, 1 returning */
    struct buf *out;     /* records are appended here */
};

struct journey_state *journey_state_new(void);
void journey_state_free(struct journey_state *st);

/* Each returns 0, or -1 when out's maximum was reached. t is in ms. */
int journey_on_step(struct journey_state *st, const struct journey_ctx *c, const char *step,
                    uint64_t t) WUR;
int journey_on_input(struct journey_state *st, const struct journey_ctx *c, const char *field,
                     int filled, uint64_t t) WUR;
int journey_on_validation(struct journey_state *st, const struct journey_ctx *c, const char *field,
                          const char *state, const char *code, uint64_t t) WUR;
int journey_on_submit(struct journey_state *st, const struct journey_ctx *c, uint64_t t) WUR;
int journey_on_complete(struct journey_state *st, const struct journey_ctx *c, uint64_t t) WUR;

/* If the session is not complete and has been idle for the journey's
 * abandon_after by now_ms, append an abandon record (once). */
int journey_expire(struct journey_state *st, const struct journey_ctx *c, uint64_t now_ms) WUR;

/* Map a step name or URL to the journey's step name: a step whose event
 * equals name, or whose url glob matches. NULL when none does. */
const char *journey_step_for_event(const struct journey_conf *jc, const char *name);
const char *journey_step_for_url(const struct journey_conf *jc, const char *url, size_t n);

/* Device class from a viewport width in CSS pixels. */
const char *journey_device_from_width(uint64_t width);

#endif
