/*
 * jpath: the JSON path subset of field rules.
 *
 *   $            the root
 *   .name        a member (name: letters, digits, '_', '-', '$')
 *   ['name']     a member with any characters ('\'' and '\\' escaped)
 *   [N]          the Nth array element
 *   [*] or .*    every element or member
 *   ..name       a member at any depth below (recursive descent)
 *
 * A compiled path is matched against the path of the node being visited, so
 * rules cost nothing for subtrees no rule can reach.
 */
#ifndef SCRIM_JPATH_H
#define SCRIM_JPATH_H

#include <stddef.h>

#include "common/err.h"

struct jpath;

/* One step of the path from the root to a visited node: a member key, or an
 * array index when key is NULL. */
struct jpath_step {
    const char *key;
    size_t klen;
    size_t index;
};

/* Compile expr. NULL on error with err and *bad_col (0-based offset). */
struct jpath *jpath_compile(const char *expr, size_t *bad_col, struct err *err);
void jpath_free(struct jpath *p);

/* 1 when the node at steps[0..n) matches p exactly. */
int jpath_match(const struct jpath *p, const struct jpath_step *steps, size_t n);

/* 0 when no node below steps[0..n) can match p, so the walk can skip the
 * subtree; 1 when one might. */
int jpath_may_match_below(const struct jpath *p, const struct jpath_step *steps, size_t n);

#endif
