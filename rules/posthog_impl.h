/*
 * posthog_impl: what the PostHog format's three files share: posthog.c (the
 * batch, its events and recordings), posthog_wire.c (the transport and the
 * gzip-in-latin1 strings) and posthog_elements.c (autocapture elements).
 * Nothing outside rules/posthog*.c includes this.
 */
#ifndef SCRIM_POSTHOG_IMPL_H
#define SCRIM_POSTHOG_IMPL_H

#include <stddef.h>

#include "common/err.h"

struct arena;
struct json;
struct walk;

/* Fail the walk as REDACT_TOOBIG ("arena cap reached"); returns -1. */
int posthog_arena_full(struct walk *w) WUR;

/* The value of member key of object o, or NULL (also when o is NULL or not
 * an object). */
struct json *posthog_value_of(const struct json *o, const char *key);

/* The bytes of the latin1 string s (fflate strFromU8(..., true)), in w's
 * arena: *out and *n. Returns 0, or -1 with w->status set: REDACT_BAD for a
 * code point above U+00FF, REDACT_TOOBIG when the arena is full. */
int posthog_latin1_bytes(struct walk *w, const struct json *s, unsigned char **out, size_t *n) WUR;

/* A JSON string of the code points z[0..n), one per byte, as UTF-8 (what
 * strFromU8(z, true) makes), in arena a; NULL when the arena is full. */
struct json *posthog_latin1_string(struct arena *a, const unsigned char *z, size_t n);

/* Judge and mask the autocapture properties of one event's properties
 * object props ($elements, $elements_chain, $el_text, $input_value).
 * Returns 0, or -1 with w->status set: REDACT_BAD for elements that are not
 * an array of objects or a chain that is not a string, REDACT_TOOBIG when
 * the arena is full. */
int posthog_autocapture_mask(struct walk *w, struct json *props) WUR;

#endif
