/*
 * vendor: what the PostHog and Sentry formats share, and the vendor-key
 * lookup the proxy uses to find a request's tenant (docs/posthog.md,
 * docs/sentry.md).
 *
 * A vendor SDK names its project with its own key: PostHog's project token
 * (`token`, `api_key`) in the capture body, Sentry's DSN public key in the
 * query (`sentry_key`), the X-Sentry-Auth header or the envelope header's
 * `dsn`. vendor_key_find() reads every place the vendor would read and
 * answers only when they all agree: a request that names two keys is
 * refused, so it cannot pick its tenant by whichever one scrim reads first.
 *
 * The rest is for rules/posthog.c and rules/sentry.c: a strict
 * form/query reader, inflating a compressed JSON document into the walk's
 * arena under a per-payload budget, compressing the masked one again the
 * way it came (the output keeps the vendor's encoding), and handing a
 * vendor's rrweb event list
 * to the rrweb format as {"session_id", "events"}, so a replay is masked the
 * same whichever vendor carried it.
 *
 * Pure: no I/O, no clock.
 */
#ifndef SCRIM_VENDOR_H
#define SCRIM_VENDOR_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "rules/conf.h"

/* Longest vendor key accepted (PostHog tokens are ~47 bytes, Sentry public
 * keys 32). */
#define VENDOR_KEY_MAX 128

/* Decompressed bytes one payload may inflate from the compressed JSON it
 * carries inside (PostHog's gzip-in-string fields, Sentry's zlib
 * recordings), in all, and the largest ratio of one inflation. The same
 * values as the transport defaults (conf limits decompressed_max and
 * ratio_max); the arena's cap bounds the parse trees on top. */
#define VENDOR_INFLATE_MAX   ((size_t)50 << 20)
#define VENDOR_INFLATE_RATIO 100u

/* The env's inflate limits, or the defaults above where they are zero. */
struct redact_env;
size_t vendor_inflate_max(const struct redact_env *env);
unsigned vendor_inflate_ratio(const struct redact_env *env);

/*
 * The vendor key of a request: payload[0..n) is the body as the engine will
 * see it (PostHog: after posthog_unwrap; Sentry: the envelope), query[0..qn)
 * the raw query string without '?' (NULL for none), sentry_auth[0..an) the
 * X-Sentry-Auth header value (NULL for none; ignored for PostHog).
 *
 * PostHog: `token`/`api_key` query parameters, the batch wrapper's
 * `api_key`/`token`, and each event's `token`, `$token`, `api_key`,
 * `properties.token` and `properties.$token`. Sentry: `sentry_key` in the
 * query and in the auth header, and the public key of the envelope header's
 * `dsn`.
 *
 * Returns 0 with the key NUL-terminated in out[0..cap), or -1 (out empty)
 * when there is none, when two places disagree, when a candidate is not a
 * string of [A-Za-z0-9_-] that fits, or when the body does not parse.
 */
int vendor_key_find(enum format fmt, const char *payload, size_t n, const char *query, size_t qn,
                    const char *sentry_auth, size_t an, char *out, size_t cap) WUR;

/*
 * The value of field name in s[0..n), a query string or an
 * application/x-www-form-urlencoded body ("a=1&b=x%20y"; '+' is a space),
 * percent-decoded and appended to out. Returns 1 when the field occurs once,
 * 0 when it does not occur, -1 when it occurs twice, when a percent escape
 * in any field is malformed, or when out's maximum is reached.
 */
int vendor_form_get(const char *s, size_t n, const char *name, struct buf *out) WUR;

struct walk;
struct json;
struct json_member;

/* The member of object o called key, or NULL (also when o is not an
 * object). */
struct json_member *vendor_member(const struct json *o, const char *key);

enum vendor_coding {
    VENDOR_GZIP, /* RFC 1952 */
    VENDOR_ZLIB, /* RFC 1950 */
};

/*
 * Inflate in[0..n) and parse the result strictly (with the walk's JSON
 * limits) into the walk's arena as *out. *budget is what the payload may
 * still inflate (start at VENDOR_INFLATE_MAX) and is charged. Returns 0, or
 * -1 with w->status set: REDACT_BAD for corrupt data or not strict JSON,
 * REDACT_TOOBIG over the budget, the ratio, a JSON limit or the arena cap.
 */
int vendor_inflate_json(struct walk *w, enum vendor_coding c, const void *in, size_t n,
                        size_t *budget, struct json **out);

/* The compression level scrim writes with: fixed, so the same masked
 * payload always compresses to the same bytes (libdeflate is deterministic
 * for a given level), and libdeflate's default, close to fflate's and
 * zlib's ratio at a fraction of the time. */
#define VENDOR_DEFLATE_LEVEL 6

/* A compressor for one payload: several fields of one payload compress
 * with one libdeflate compressor (a few hundred KiB of tables), allocated
 * at the first vendor_deflate() and freed with the vendor_zip. */
struct vendor_zip;

/* NULL under the allocation-failure hook. */
struct vendor_zip *vendor_zip_new(void);
void vendor_zip_free(struct vendor_zip *z);

/*
 * Compress in[0..n) as coding c (gzip: no name, mtime 0, as fflate and
 * libdeflate write it; zlib: one stream) and append it to out. Returns 0,
 * or -1 with out as it was when out's maximum is reached or the compressor
 * cannot be allocated.
 */
int vendor_deflate(struct vendor_zip *z, enum vendor_coding c, const void *in, size_t n,
                   struct buf *out) WUR;

/*
 * Mask the rrweb event array *events as the rrweb format masks
 * {"session_id": session, "events": *events} (session NULL or empty: the
 * bare array, and no journey), appending its context records to records.
 * Field-rule paths inside it are those of that object. On return *events is
 * the masked array, or NULL when a field rule removed or replaced the whole
 * list. Returns 0, or -1 with w->status set.
 */
int vendor_rrweb(struct walk *w, const char *session, size_t slen, struct json **events,
                 struct buf *records);

#endif
