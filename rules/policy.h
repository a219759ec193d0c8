/*
 * policy: a compiled masking policy, immutable once loaded.
 *
 * Built by conf from the `policies:` section of scrim.yaml and read by the
 * engine. Evaluation order (docs/policy.md): structural rules first (block,
 * inputs, text — replay formats), then field rules (first matching rule in
 * file order wins), then every surviving string and number goes through the
 * PII detectors. No rule exempts a value from the detectors.
 */
#ifndef SCRIM_POLICY_H
#define SCRIM_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "rules/jpath.h"
#include "rules/pii.h"
#include "rules/select.h"

enum action {
    ACTION_KEEP,
    ACTION_MASK,   /* same-length '*' (or mask_length of them) */
    ACTION_REDACT, /* [REDACTED:<what>] */
    ACTION_HASH,   /* keyed per-tenant pseudonym, base64url */
    ACTION_DROP,   /* remove the member or array element */
};

/* "keep", "mask", ... */
const char *action_name(enum action a);

/* Rules that come from a format's structure rather than a policy's lists.
 * They are counted in the audit like any rule, so their ids are reserved: a
 * policy rule may not take one, or two rules' counts would merge. */
enum struct_rule {
    SRULE_INPUT_MASK, /* an input value masked because no rule allowed it */
    SRULE_MESSAGE,    /* a validation message redacted */
    SRULE_KEY_CLASH,  /* a member dropped: its redacted key clashed with another */
    SRULE_BLOCK,      /* a replay element emptied by a block selector */
    SRULE_TEXT_MASK,  /* replay text masked by a text selector or its node */
    SRULE_DATA_URL,   /* an image or canvas data URL dropped */
    SRULE_COUNT,
};

/* "inputs.default", ... and the action each one takes. */
const char *struct_rule_id(enum struct_rule r);
enum action struct_rule_action(enum struct_rule r);

/* 1 when id is a structural rule's. */
int struct_rule_reserved(const char *id);

/* The action called name: 0, or -1 (and *out untouched) for an unknown name. */
int action_parse(const char *name, enum action *out);

struct field_rule {
    char *id; /* "fields.<path>" unless the YAML gave one */
    char *expr;
    struct jpath *path;
    enum action action;
};

struct pii_rule {
    char *id; /* "pii.<detector>" unless given */
    int detector;
    enum action action;
};

struct journey_step {
    char *name;
    char *url;   /* glob on the URL path ('*' any run), or NULL */
    char *event; /* custom event / form step name, or NULL */
};

struct journey_conf {
    char *name; /* journey name used in context records */
    struct journey_step *steps;
    size_t nsteps;
    char *complete_url;
    char *complete_event;
    uint64_t abandon_after_ms; /* default 30 min */
};

struct policy {
    char *name;
    /* inputs: masked unless allowed; password inputs always masked */
    struct select_list *input_allow;
    char **input_allow_types; /* input types allowed, e.g. "radio" */
    size_t ninput_allow_types;
    struct select_list *text_mask;
    struct select_list *block;
    int allow_data_urls; /* image/canvas data URLs kept (default 0) */
    struct field_rule *fields;
    size_t nfields;
    struct pii_set *pii;
    struct pii_rule *pii_rules; /* indexed by detector index */
    size_t npii;
    unsigned mask_length; /* 0: same length as the value */
    struct journey_conf journey;
};

/* 1 when a field rule or detector of p uses action a. A policy that uses
 * ACTION_HASH needs the tenant's pseudonym key (conf refuses a tenant
 * without one). */
int policy_uses_action(const struct policy *p, enum action a);

#endif
