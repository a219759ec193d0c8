/*
 * posthog: PostHog's capture payloads (docs/posthog.md).
 *
 * Two halves. The transport: posthog_unwrap() undoes the wrappings
 * posthog-js puts around a body (gzip announced or sniffed, base64 in a
 * form field, Content-Encoding) before the engine, and says how the body
 * was wrapped; posthog_wrap() puts the masked JSON back in the same kind
 * of wrapping after it, so what goes upstream is what the SDK would have
 * sent. The engine only ever sees JSON and writes JSON; both functions are
 * pure, and the proxy sets the headers that go with each wrapping.
 *
 * The format: posthog_redact() masks every body posthog-js posts to
 * capture: a batch of events (an array, {"batch": [...]} or one event) for
 * /e/, /i/v0/e/, /batch/ and /s/, and the /flags/ (formerly /decide/)
 * request object. Recordings (`$snapshot_data`) are masked by the rrweb
 * format per ($session_id, $window_id); the fields posthog-js compresses
 * inside them (`cv: "2024-10"`) are inflated, masked and compressed again,
 * so the client's compressed bytes never pass through (DESIGN.md invariant
 * 2) and the recording keeps PostHog's encoding. Autocapture elements
 * (`$elements`, `$elements_chain`, `$el_text`, `$input_value`) are judged
 * by the policy's input, text and block selectors as the rrweb format
 * judges DOM nodes; then everything gets the field rules and detectors.
 */
#ifndef SCRIM_POSTHOG_H
#define SCRIM_POSTHOG_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
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

/* How a capture body was wrapped, and how posthog_wrap() wraps it again. */
enum posthog_wrap {
    POSTHOG_WRAP_PLAIN,  /* JSON as it is */
    POSTHOG_WRAP_GZIP,   /* gzip of the JSON (posthog-js's default) */
    POSTHOG_WRAP_BASE64, /* form body data=<percent-encoded base64 of the JSON> */
    POSTHOG_WRAP_FORM,   /* form body data=<percent-encoded JSON> */
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
 * step.
 *
 * Returns DECODE_OK with *how (when how is not NULL) saying how to wrap the
 * masked JSON again: GZIP when the body was gzip (by the query, by its
 * magic, or by a Content-Encoding other than identity), else BASE64 for a
 * base64 body, FORM for a form of plain JSON, PLAIN otherwise. Any other
 * status leaves out as it was and *how PLAIN.
 */
enum decode_status posthog_unwrap(const struct decode_limits *lim, const struct posthog_http *h,
                                  const void *body, size_t n, struct buf *out,
                                  enum posthog_wrap *how);

/*
 * Append json[0..n) to out wrapped as how says: as it is, gzip (libdeflate
 * at VENDOR_DEFLATE_LEVEL, no name, mtime 0: the same JSON always gives the
 * same bytes), or a form body of the one field `data` holding the base64
 * (RFC 4648 section 4, padded) or the JSON itself, percent-encoded as
 * encodeURIComponent does. Returns 0, or -1 with out as it was when out's
 * maximum is reached or the compressor cannot be allocated.
 */
int posthog_wrap(enum posthog_wrap how, const char *json, size_t n, struct buf *out) WUR;

/* The Content-Type the proxy sends upstream with a body wrapped as how:
 * application/json, text/plain (gzip, as posthog-js sends it) or
 * application/x-www-form-urlencoded. No Content-Encoding goes with any. */
const char *posthog_wrap_content_type(enum posthog_wrap how);

/* The value of the `compression` query parameter that goes with how
 * (`gzip-js`, `base64`), or NULL when the query must carry none. */
const char *posthog_wrap_compression(enum posthog_wrap how);

struct walk;
struct json;

/*
 * Mask *root as a PostHog capture body: an event array, {"batch": [...]},
 * one event, or a /flags/ request (an object with `distinct_id` and no
 * `event`, `batch` or `properties`). The journey's context records go to
 * records. Returns 0, or -1 with w->status set: REDACT_BAD for a payload
 * that is none of those, an unknown compression version, `cv` on an event
 * posthog-js does not compress, a compressed field that is not gzip or not
 * strict JSON, autocapture elements that are not an array of objects;
 * REDACT_TOOBIG over a limit.
 */
int posthog_redact(struct walk *w, struct json **root, struct buf *records);

#endif
