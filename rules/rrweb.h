/*
 * rrweb: the rrweb replay format (docs/rrweb.md).
 *
 * A payload is an rrweb event array, or an object {"events": [...],
 * "session_id": "..."}. The structural pass judges every serialized node by
 * the policy's selectors (block, inputs, text) through a node map; events
 * that name a node id the map does not hold are masked (DESIGN.md
 * invariant 3). Then field rules and the PII detectors run over everything
 * that survived, and Meta, custom events, input events and aria-invalid
 * mutations drive the journey.
 *
 * The map is the payload's own unless the caller hands the engine a
 * session table (env->sessions, rules/session.h) and the payload names a
 * session (its session_id, the vendor's id, or the table's bound
 * fallback): then nodes from earlier payloads of the session are known,
 * and what this payload says about nodes is kept for the next ones.
 */
#ifndef SCRIM_RRWEB_H
#define SCRIM_RRWEB_H

#include <stddef.h>

struct walk;
struct json;
struct buf;

/* Mask *root as rrweb, run redact_tree over it, then append the journey's
 * context records to records. Returns 0, or -1 with w->status set:
 * REDACT_BAD for a payload that is not rrweb, REDACT_TOOBIG over the node
 * map's cap or the arena's, REDACT_INTERNAL for a session table with no
 * tenant bound. */
int rrweb_redact(struct walk *w, struct json **root, struct buf *records);

/* Which recording a vendor's rrweb events belong to. */
struct rrweb_stream {
    const char *session; /* NULL or empty: none */
    size_t slen;
    const char *window; /* PostHog's $window_id (node ids are per window); NULL: none */
    size_t wlen;
};

/*
 * Mask the rrweb event array *events as rrweb_redact masks
 * {"session_id": s->session, "events": *events} (no session: the bare
 * array), in the map of the session (s->session, s->window) when env has a
 * session table. Field-rule paths inside it are those of that object. On
 * return *events is the masked array, or NULL when a field rule removed or
 * replaced the whole list. Returns 0, or -1 with w->status set.
 */
int rrweb_redact_events(struct walk *w, const struct rrweb_stream *s, struct json **events,
                        struct buf *records);

#endif
