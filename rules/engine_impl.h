/*
 * engine_impl: internals shared by the engine's files (engine.c, redact.c,
 * form.c). Nothing outside rules/ includes this.
 */
#ifndef SCRIM_ENGINE_IMPL_H
#define SCRIM_ENGINE_IMPL_H

#include "rules/engine.h"
#include "rules/rrweb.h"

/* A key the detectors found nothing in (see redact.c, the key memo). */
struct memo_slot {
    uint64_t w0, w1; /* its bytes, packed */
    uint32_t tag;    /* its length + 1; 0: the slot is empty */
};

/* Sets of two slots each. */
#define MEMO_SETS 64

struct walk {
    const struct redact_env *env;
    const struct policy *pol;
    struct arena *a;
    struct redact_report *rep;
    struct err *err;
    enum redact_status status; /* why the walk stopped, when it did */
    struct jpath_step *path;   /* steps from the root to the current node */
    size_t depth, path_cap;
    size_t live_words; /* uint64 words in a field-rule bitset */
    struct memo_slot memo[2 * MEMO_SETS];
};

/* Set up w and rep for env's policy. -1 (status set) over the arena cap. */
int walk_init(struct walk *w, const struct redact_env *env, struct arena *a,
              struct redact_report *rep, struct err *err);

/* Apply field rules and detectors to the whole tree at *root. Returns 0, or
 * -1 with w->status and w->err set. */
int redact_tree(struct walk *w, struct json **root);

/* Run the detectors on s[0..n) and apply their actions. *out and *outn are the
 * result (s itself when nothing matched); *drop is set when a matching rule
 * says drop. Returns 1 when something matched, 0 when not, -1 on failure. */
int redact_text(struct walk *w, const char *s, size_t n, const char **out, size_t *outn, int *drop);

/* A masked copy of s[0..n): the policy's mask length, or one '*' per code
 * point. NULL over the arena cap. */
struct json *redact_mask_string(struct walk *w, const char *s, size_t n);
/* rrweb's text masking: '*' per non-whitespace code point, whitespace kept
 * (mask_length, when set, still hides the length). */
struct json *redact_mask_text(struct walk *w, const char *s, size_t n);
/* 1 when s[0..n) is only ASCII whitespace (nothing a mask could hide). */
int redact_all_space(const char *s, size_t n);

/* Count n actions of rule index i (field rules, then PII rules, then
 * struct_rule values offset by both). */
void redact_count(struct walk *w, size_t i, uint64_t n);
size_t redact_struct_index(const struct walk *w, enum struct_rule r);

/* Fail the walk with status s and a message (never payload bytes). */
int walk_fail(struct walk *w, enum redact_status s, const char *fmt, ...) ERR_PRINTF(3, 4);

/* The form format: validate the schema, apply the input and message rules,
 * run redact_tree, then append the batch's context records to records.
 * Returns 0 or -1 with w->status set. */
int form_redact(struct walk *w, struct json **root, struct buf *records);

#endif
