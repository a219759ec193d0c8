/*
 * rrweb_impl: the node map and node judgements shared by rrweb.c (events)
 * and rrweb_node.c (serialized nodes). Nothing outside rules/rrweb*.c
 * includes this.
 */
#ifndef SCRIM_RRWEB_IMPL_H
#define SCRIM_RRWEB_IMPL_H

#include <stdint.h>

#include "engine_impl.h"

/* Nodes one payload may describe; more is REDACT_TOOBIG. */
#define RRWEB_MAX_NODES 100000

/* What the policy decided for a node, from least to most restrictive. A
 * node's decision is never lowered after it is made. */
enum rr_decision {
    RR_ALLOW,      /* kept; the detectors still run */
    RR_MASK_TEXT,  /* text below it masked */
    RR_MASK_INPUT, /* a value-bearing element (or inside one): text and values masked */
    RR_BLOCK,      /* emptied; nothing of it or below it is kept */
};

struct rr_node {
    int64_t id;
    enum rr_decision decision;
    int is_input;         /* input, textarea, select, option or contenteditable */
    struct select_elem e; /* tag and attributes for descendant selectors */
    /* the nearest element at or above this node: text and document nodes
     * are not links of the selector's ancestor chain */
    const struct select_elem *chain;
};

struct rr_map {
    struct rr_node **slots; /* open addressing on id, power-of-two size */
    size_t cap, n;
};

/* Node ids are integers; the rrweb mirror uses -1 for "none". */
int rrweb_int(const struct json *v, int64_t *out);

/* The member of o named key[0..n), or NULL. */
struct json *rrweb_member(const struct json *o, const char *key, size_t n);
#define RR_MEMBER(o, lit) rrweb_member((o), (lit), sizeof(lit) - 1)

/* Remove member i of object o, keeping the order of the others. */
void rrweb_member_remove(struct json *o, size_t i);

/* The node with this id, or NULL. */
struct rr_node *rrweb_map_get(const struct rr_map *m, int64_t id);

/* Judge the serialized node *slot (and its subtree) as a child of parent
 * (NULL: a snapshot root; unknown_parent: a mutation add whose parent is not
 * in the map), mask it in place and add it to the map. Returns 0, or -1
 * with w->status set. */
int rrweb_node(struct walk *w, struct rr_map *m, struct json *node, const struct rr_node *parent,
               int unknown_parent);

/* Apply an attribute mutation's {name: value} object to the node with that
 * id (NULL: unknown). Returns 0 or -1 with w->status set. */
int rrweb_attrs_mutate(struct walk *w, struct rr_node *n, struct json *attrs);

/* Mask *v (a string or number) in place and count rule r. -1 over the
 * arena cap. */
int rrweb_mask(struct walk *w, struct json **v, enum struct_rule r);

#endif
