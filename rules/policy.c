/*
 * policy: names of actions and questions about a compiled policy. Policies
 * are built by conf (conf_policy.c); this file holds what the engine and the
 * loader both ask of one.
 */
#include "rules/policy.h"

#include <string.h>

static const char *const policy_action_names[] = {
    [ACTION_KEEP] = "keep", [ACTION_MASK] = "mask", [ACTION_REDACT] = "redact",
    [ACTION_HASH] = "hash", [ACTION_DROP] = "drop",
};

const char *action_name(enum action a)
{
    if ((size_t)a < sizeof(policy_action_names) / sizeof(policy_action_names[0]))
        return policy_action_names[a];
    return "unknown";
}

static const char *const struct_rule_ids[SRULE_COUNT] = {
    [SRULE_INPUT_MASK] = "inputs.default", [SRULE_MESSAGE] = "form.message",
    [SRULE_KEY_CLASH] = "keys.clash",      [SRULE_BLOCK] = "block",
    [SRULE_TEXT_MASK] = "text.mask",       [SRULE_DATA_URL] = "data_url",
};

static const enum action struct_rule_actions[SRULE_COUNT] = {
    [SRULE_INPUT_MASK] = ACTION_MASK, [SRULE_MESSAGE] = ACTION_REDACT,
    [SRULE_KEY_CLASH] = ACTION_DROP,  [SRULE_BLOCK] = ACTION_DROP,
    [SRULE_TEXT_MASK] = ACTION_MASK,  [SRULE_DATA_URL] = ACTION_DROP,
};

const char *struct_rule_id(enum struct_rule r)
{
    return (size_t)r < SRULE_COUNT ? struct_rule_ids[r] : "unknown";
}

enum action struct_rule_action(enum struct_rule r)
{
    return (size_t)r < SRULE_COUNT ? struct_rule_actions[r] : ACTION_DROP;
}

int struct_rule_reserved(const char *id)
{
    for (size_t i = 0; i < SRULE_COUNT; i++)
        if (strcmp(id, struct_rule_ids[i]) == 0)
            return 1;
    return 0;
}

int action_parse(const char *name, enum action *out)
{
    for (size_t i = 0; i < sizeof(policy_action_names) / sizeof(policy_action_names[0]); i++) {
        if (strcmp(name, policy_action_names[i]) == 0) {
            *out = (enum action)i;
            return 0;
        }
    }
    return -1;
}

int policy_uses_action(const struct policy *p, enum action a)
{
    for (size_t i = 0; i < p->nfields; i++)
        if (p->fields[i].action == a)
            return 1;
    for (size_t i = 0; i < p->npii; i++)
        if (p->pii_rules[i].id != NULL && p->pii_rules[i].action == a)
            return 1;
    return 0;
}
