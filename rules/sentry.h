/*
 * sentry: Sentry envelopes, Session Replay included (docs/sentry.md).
 *
 * An envelope is not one JSON text: a header line, then items, each an
 * item header line and a payload whose end is given by the header's
 * `length` or, without one, by the next newline (Relay's envelope parser,
 * relay-server/src/envelope). Every part is parsed strictly, masked and
 * written back canonically with `length` recomputed, so what goes upstream
 * is always framed by scrim, never by the client.
 *
 * `replay_recording` items (a {"segment_id"} line, then rrweb events, plain
 * or zlib-compressed by the SDK's deflate worker) are inflated and masked by
 * the rrweb format under the replay's id and written back as they came:
 * plain, or compressed again by scrim as one zlib stream (libdeflate at a
 * fixed level, so the same masked recording always gives the same bytes).
 * The client's compressed bytes never pass through.
 * `replay_event` and the other JSON item types get the field rules and
 * detectors. Item types that are not JSON (attachments, video, statsd) or
 * unknown are refused: scrim cannot mask what it cannot read.
 */
#ifndef SCRIM_SENTRY_H
#define SCRIM_SENTRY_H

#include <stddef.h>

struct walk;
struct buf;

/* Most items one envelope may hold; more is REDACT_TOOBIG. */
#define SENTRY_ITEMS_MAX 1000

/*
 * Mask the envelope in[0..n) and append it, re-framed, to out; the
 * journey's context records go to records. Returns 0, or -1 with w->status
 * set (REDACT_BAD for a malformed or refused envelope, REDACT_TOOBIG over a
 * limit); out may then hold part of an envelope, which the caller wipes.
 */
int sentry_redact(struct walk *w, const char *in, size_t n, struct buf *out, struct buf *records);

#endif
