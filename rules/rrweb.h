/*
 * rrweb: the rrweb replay format (docs/rrweb.md).
 *
 * A payload is an rrweb event array, or an object {"events": [...],
 * "session_id": "..."}. The structural pass judges every serialized node by
 * the policy's selectors (block, inputs, text) through a node map built from
 * this payload's full snapshots and mutation adds; events that name a node
 * id the map does not hold are masked (DESIGN.md invariant 3). Then field
 * rules and the PII detectors run over everything that survived, and Meta
 * and custom events drive the journey.
 *
 * Stateless per payload: the map lives in the walk's arena and is gone when
 * the call returns. A per-session map that spans payloads is the next step.
 */
#ifndef SCRIM_RRWEB_H
#define SCRIM_RRWEB_H

struct walk;
struct json;
struct buf;

/* Mask *root as rrweb, run redact_tree over it, then append the journey's
 * context records to records. Returns 0, or -1 with w->status set:
 * REDACT_BAD for a payload that is not rrweb, REDACT_TOOBIG over the node
 * map's cap or the arena's. */
int rrweb_redact(struct walk *w, struct json **root, struct buf *records);

#endif
