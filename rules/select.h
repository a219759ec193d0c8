/*
 * select: the CSS selector subset policies use to pick DOM nodes.
 *
 * Supported (DESIGN.md): type selectors (`input`, case-insensitive), `*`,
 * `#id`, `.class`, `[attr]`, `[attr=v]`, `[attr^=v]`, `[attr$=v]`,
 * `[attr*=v]` (values bare identifiers or quoted), compounds of those
 * (`input.card[type=text]`), selector lists `a, b`, and the descendant
 * combinator (whitespace). Anything else (`>`, `+`, `~`, pseudo-classes,
 * `|=`, `~=`, namespaces, attribute flags) is a parse error that names the
 * column, never silently ignored: a selector scrim cannot honour would be a
 * hole in the policy.
 *
 * Matching is against serialized nodes as the engine sees them (rrweb
 * snapshots, or the virtual <input> of a form event), with the ancestor chain
 * for the descendant combinator.
 */
#ifndef SCRIM_SELECT_H
#define SCRIM_SELECT_H

#include <stddef.h>

#include "common/err.h"

struct select_list;

struct select_attr {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
};

/* An element as the matcher sees it. parent is NULL at the root. */
struct select_elem {
    const char *tag;
    size_t taglen;
    const struct select_attr *attrs;
    size_t nattrs;
    const struct select_elem *parent;
};

/* Parse a selector list. On error returns NULL, sets err to what was
 * expected, and sets *bad_col to the 0-based byte offset of the problem. */
struct select_list *select_parse(const char *text, size_t len, size_t *bad_col, struct err *err);

/* Append the selectors of more to list (more is consumed). */
void select_list_merge(struct select_list *list, struct select_list *more);

void select_free(struct select_list *list);

/* Number of selectors in the list (the parts between commas). */
size_t select_count(const struct select_list *list);

/* 1 when any selector of the list matches e (NULL list: 0). */
int select_match(const struct select_list *list, const struct select_elem *e);

#endif
