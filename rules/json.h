/*
 * json: a strict RFC 8259 parser into an arena, and a canonical writer.
 *
 * Written by hand because strictness is the product (DESIGN.md invariant 2):
 * scrim must reject every document that another parser could read
 * differently, so no lenient library mode will do. Rejected: invalid or
 * overlong UTF-8, encoded surrogates, lone or inverted surrogate escapes,
 * control characters in strings, comments, trailing commas, NaN/Infinity,
 * leading zeros, a leading '+', trailing garbage, a byte-order mark, and
 * duplicate object keys (compared after unescaping).
 *
 * The tree is plain data the engine walks and edits: strings without escapes
 * point into the input (zero-copy), escaped strings are decoded into the
 * arena. Numbers keep their validated lexeme and are written back verbatim.
 * Object members keep their order.
 *
 * The canonical writer emits no insignificant whitespace, escapes only '"',
 * '\\' and control characters (as \b \f \n \r \t or \u00XX), and writes all
 * other characters as raw UTF-8, so output parses back to the same tree.
 */
#ifndef SCRIM_JSON_H
#define SCRIM_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"

enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER, /* s/len: the lexeme */
    JSON_STRING, /* s/len: decoded UTF-8, may contain NUL */
    JSON_ARRAY,  /* items/len */
    JSON_OBJECT, /* members/len */
};

struct json;

/*
 * JSON_F_PLAIN, in a string node's flags (or a member's flags, for its key),
 * promises that the bytes are well-formed UTF-8 holding no '"', '\\' or
 * control character, so the writer copies them without looking. The parser
 * sets it on the strings it returns without decoding (those that held no
 * escape); constructors return flags 0, and a 0 only means "check when
 * writing". Whoever changes s or len of a string node, or key or klen of a
 * member, in place must clear the flag (or set it only where the new bytes
 * provably qualify): the writer trusts it.
 */
#define JSON_F_PLAIN 1u

struct json_member {
    const char *key; /* decoded UTF-8 */
    uint32_t klen;   /* keys are below 4 GiB: the parser refuses longer ones */
    uint32_t flags;  /* JSON_F_PLAIN for the key */
    struct json *value;
};

struct json {
    enum json_type type;
    uint32_t flags; /* JSON_F_PLAIN (strings only) */
    size_t len;     /* bytes of s, or number of items/members */
    union {
        const char *s;
        struct json **items;
        struct json_member *members;
    } u;
};

/* Status of a parse; proxy/ maps these to HTTP statuses in one table. */
enum json_status {
    JSON_OK = 0,
    JSON_BAD,    /* not strict RFC 8259 (or a duplicate key): 400 */
    JSON_TOOBIG, /* a limit or the arena cap was reached: 413 */
};

struct json_limits {
    unsigned max_depth; /* nesting of arrays/objects; the root container is depth 1 */
    size_t max_nodes;   /* values of any kind, members' keys not counted */
};

/* Defaults: depth 64, 1,000,000 nodes. */
extern const struct json_limits json_default_limits;

/*
 * Parse buf[0..len) as one JSON text. On JSON_OK *out is the root, allocated
 * in a (and pointing into buf, which must outlive the tree). On any other
 * status *out is NULL and err says what and at which byte offset, never
 * quoting the input. lim may be NULL for the defaults. Besides the arena, a
 * parse uses scratch memory bounded by the limits (at most 32 bytes per value
 * of the open containers), freed before it returns. An object key of 4 GiB or
 * more is JSON_TOOBIG.
 */
enum json_status json_parse(struct arena *a, const char *buf, size_t len,
                            const struct json_limits *lim, struct json **out, struct err *err);

/* Write v canonically (see above) to out. -1 when out's maximum is reached,
 * and also when a string in v is not well-formed UTF-8 or v holds a NULL node
 * or an unknown type (an edit gone wrong), since such output could be read
 * differently upstream. On -1 out is left as it was before the call (the
 * bytes appended so far are zeroed, then dropped). */
int json_write(struct buf *out, const struct json *v) WUR;

/* Append s[0..n) as a quoted, canonically escaped JSON string. -1 as for
 * json_write (maximum reached, or s not well-formed UTF-8). */
int json_write_string(struct buf *out, const char *s, size_t n) WUR;

/* Constructors for the engine's edits (arena-allocated; NULL over the cap).
 * String and number bytes are copied into the arena. json_new_number returns
 * NULL too when lexeme is not an RFC 8259 number, json_new_literal when t is
 * not JSON_NULL, JSON_FALSE or JSON_TRUE. */
struct json *json_new_string(struct arena *a, const char *s, size_t n);
struct json *json_new_number(struct arena *a, const char *lexeme, size_t n);
struct json *json_new_literal(struct arena *a, enum json_type t);

/* Member of object o named key, or NULL. Linear; for small lookups. */
struct json *json_get(const struct json *o, const char *key);

/* 1 when a and b are the same tree (object member order matters). */
int json_tree_equal(const struct json *a, const struct json *b);

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
int json_utf8_valid(const char *s, size_t n);

#endif
