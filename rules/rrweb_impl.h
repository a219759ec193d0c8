/*
 * rrweb_impl: the node map and node judgements shared by rrweb.c (events)
 * and rrweb_node.c (serialized nodes, the map, attribute and CSS rules).
 * Nothing outside rules/rrweb*.c includes this.
 *
 * The map of a payload lives in the walk's arena. With a session
 * (rules/session.h) it is a cache in front of the session's map: a node
 * this payload did not describe is looked up there and brought in, and
 * what this payload judges, removes or resets is written through, so the
 * next payload of the session sees it.
 */
#ifndef SCRIM_RRWEB_IMPL_H
#define SCRIM_RRWEB_IMPL_H

#include <stdint.h>

#include "engine_impl.h"
#include "rules/session.h"

/* Nodes one payload may describe or bring in from its session; more is
 * REDACT_TOOBIG. */
#define RRWEB_MAX_NODES 100000

/* Ancestors followed to rebuild the selector's view of a node from an
 * earlier payload; a deeper chain is treated as partial. */
#define RRWEB_CHAIN_MAX 256

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
    int is_input;     /* input, textarea, select, option or contenteditable */
    int was_password; /* a password input at some point: masked for good */
    int is_style;     /* a text node holding CSS */
    int partial;      /* the ancestors the selectors see are incomplete */
    int removed;      /* a mutation of this payload removed it */
    int has_elem;     /* e holds an element's tag and attributes */
    int chained;      /* e.parent and chain are set (session nodes: on first use as a parent) */
    int has_parent;   /* session nodes: parent_id is their parent */
    int64_t parent_id;
    struct select_elem e; /* tag and attributes for descendant selectors */
    /* the nearest element at or above this node: text and document nodes
     * are not links of the selector's ancestor chain */
    const struct select_elem *chain;
};

struct rr_map {
    struct rr_node **slots; /* open addressing on id, power-of-two size */
    size_t cap, n;
    struct session *sess; /* the session behind this map; NULL: this payload only */
};

/* One field-state fact the structural pass saw, for the journey. */
enum rr_obs_kind { OBS_INPUT, OBS_VALIDITY };

struct rr_obs {
    size_t event; /* index of the event it came from */
    enum rr_obs_kind kind;
    const char *field; /* the node's name or id attribute, as recorded */
    size_t flen;
    int value; /* OBS_INPUT: filled; OBS_VALIDITY: invalid */
};

/* Node ids are integers; the rrweb mirror uses -1 for "none". */
int rrweb_int(const struct json *v, int64_t *out);

/* The member of o named key[0..n), or NULL. */
struct json *rrweb_member(const struct json *o, const char *key, size_t n);
#define RR_MEMBER(o, lit) rrweb_member((o), (lit), sizeof(lit) - 1)

/* Remove member i of object o, keeping the order of the others. */
void rrweb_member_remove(struct json *o, size_t i);

/* *out is the node with this id, from this payload or brought in from the
 * session, or NULL when neither knows it (or this payload removed it).
 * Returns 0, or -1 with w->status set over a cap. */
int rrweb_find(struct walk *w, struct rr_map *m, int64_t id, struct rr_node **out);

/* Make n usable as a parent: link the selector's view of its ancestors
 * (nodes from an earlier payload are linked on first use). 0 or -1. */
int rrweb_chain(struct walk *w, struct rr_map *m, struct rr_node *n);

/* A full snapshot: forget every node except those that ever were
 * passwords, here and in the session. 0 or -1. */
int rrweb_map_reset(struct walk *w, struct rr_map *m);

/* A mutation removed id and its subtree. */
void rrweb_map_remove(struct rr_map *m, int64_t id);

/* Judge the serialized node *slot (and its subtree) as a child of parent
 * (NULL: a snapshot root; unknown_parent: a mutation add whose parent is
 * not in the map; a parent must have been through rrweb_chain), mask it in
 * place and add it to the map. Returns 0, or -1 with w->status set. */
int rrweb_node(struct walk *w, struct rr_map *m, struct json *node, const struct rr_node *parent,
               int unknown_parent);

/* Apply an attribute mutation's {name: value} object to the node n (NULL:
 * unknown). Returns 0 or -1 with w->status set. */
int rrweb_attrs_mutate(struct walk *w, struct rr_map *m, struct rr_node *n, struct json *attrs);

/* Mask *v (a string or number) in place and count rule r. -1 over the
 * arena cap. */
int rrweb_mask(struct walk *w, struct json **v, enum struct_rule r);

/* Mask the strings of CSS `content` declarations in the string *v (rules,
 * _cssText, a <style> text; value: *v is the value of a `content`
 * declaration itself), counting text.mask. 0 or -1. */
int rrweb_css(struct walk *w, struct json **v, int value);

/* The node's field name: its name attribute, else its id attribute. 0
 * with *name and *n set, -1 when it has neither. */
int rrweb_field_name(const struct rr_node *n, const char **name, size_t *len);

/* The vendor entry point (rrweb.h) and the engine's share this. */
int rrweb_run(struct walk *w, struct json **root, const char *window, size_t wlen,
              struct buf *records);

#endif
