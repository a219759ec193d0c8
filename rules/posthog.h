/*
 * posthog: PostHog's capture payloads (docs/posthog.md).
 *
 * Two halves. posthog_unwrap() undoes the transport wrappings posthog-js
 * puts around a body (gzip announced or sniffed, base64 in a form field,
 * Content-Encoding) and is called by the proxy before the engine; the
 * engine only ever sees JSON. posthog_redact() is the engine's format: a
 * batch of events (an array, {"batch": [...]} or one event) whose
 * `$snapshot_data` holds rrweb events, some of them compressed inside
 * strings (posthog-js `cv: "2024-10"`). Those strings are inflated, parsed
 * strictly and written back as plain JSON with `cv` removed, so the client's
 * compressed bytes never pass through (DESIGN.md invariant 2); the rrweb
 * events of each ($session_id, $window_id) are masked by the rrweb format;
 * everything else in the batch gets the field rules and detectors.
 */
#ifndef SCRIM_POSTHOG_H
#define SCRIM_POSTHOG_H

#include <stddef.h>

#include "common/buf.h"
#include "rules/decode.h"

/* What of the HTTP request posthog_unwrap() reads. A NULL pointer means
 * the header (or query) is absent. */
struct posthog_http {
    const char *content_type;
    size_t content_type_len;
    const char *content_encoding;
    size_t content_encoding_len;
    const char *query; /* the raw query string, without '?' */
    size_t query_len;
};

/*
 * The JSON text of a PostHog capture request body[0..n), appended to out.
 * In order: Content-Encoding is undone (decode_content_encoding); a form
 * body (application/x-www-form-urlencoded) must be exactly one field
 * `data=`, percent-decoded; then the query's `compression`: `gzip-js` or
 * `gzip` gunzips, `base64` base64-decodes, no parameter means plain JSON
 * unless the body starts with the gzip magic 1f 8b 08 (posthog-js sends
 * gzip without the parameter; PostHog's capture sniffs it the same way), and
 * any other value (`lz64`, ...) is DECODE_UNSUPPORTED. lim bounds every
 * step. Returns DECODE_OK, or another status with out as it was.
 */
enum decode_status posthog_unwrap(const struct decode_limits *lim, const struct posthog_http *h,
                                  const void *body, size_t n, struct buf *out);

struct walk;
struct json;

/*
 * Mask *root as a PostHog batch, appending the journey's context records to
 * records. Returns 0, or -1 with w->status set: REDACT_BAD for a payload
 * that is not a batch, an unknown compression version, a compressed field
 * that is not gzip or not strict JSON; REDACT_TOOBIG over a limit.
 */
int posthog_redact(struct walk *w, struct json **root, struct buf *records);

#endif
