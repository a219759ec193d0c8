/*
 * conf_policy: the `policies:` section, compiled at load.
 *
 * Selectors, JSON paths and PII patterns are compiled here, so a policy that
 * loads is one the engine can run without further checks; each compile error
 * points into the scalar that holds the bad text.
 *
 * Detectors: a policy without a `pii.detectors` list gets every built-in
 * detector with `redact` (unknown means sensitive: forgetting the section
 * must not switch PII scanning off); a policy with the list gets exactly the
 * detectors listed, so `detectors: []` is the explicit way to scan nothing.
 */
#include "rules/conf_impl.h"

#include <stdio.h>
#include <string.h>

static int policy_action(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                         void *obj)
{
    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (action_parse(n->s, CONF_AT(obj, d, enum action)))
        return conf_fail(x, n,
                         "unknown action \"%.*s\" (expected keep, mask, redact, hash or drop)",
                         (int)(n->len > 32 ? 32 : n->len), n->s);
    return 0;
}

/* Rule ids go to audit entries and metrics labels: no control bytes. */
static int policy_rule_id(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                          void *obj)
{
    int ok = n->kind != CNODE_SCALAR || n->len <= 128;

    for (size_t i = 0; ok && n->kind == CNODE_SCALAR && i < n->len; i++)
        ok = (unsigned char)n->s[i] >= 0x20 && n->s[i] != 0x7f;
    if (!ok)
        return conf_fail(x, n, "expected a rule id: up to 128 characters, no control characters");
    return conf_get_string(x, n, CONF_AT(obj, d, char *));
}

/* Is id used by a rule of p other than self, or by a structural rule? Ids
 * must be unique in a policy, or the audit log could not say which rule
 * acted. */
static int policy_id_taken(const struct policy *p, const char *id, const char *self)
{
    if (struct_rule_reserved(id))
        return 1;
    for (size_t i = 0; i < p->nfields; i++)
        if (p->fields[i].id != NULL && p->fields[i].id != self && strcmp(p->fields[i].id, id) == 0)
            return 1;
    for (size_t i = 0; i < p->npii; i++)
        if (p->pii_rules[i].id != NULL && p->pii_rules[i].id != self &&
            strcmp(p->pii_rules[i].id, id) == 0)
            return 1;
    return 0;
}

/* "prefix.name" in the generation's arena. */
static char *policy_default_id(struct conf_ctx *x, const struct cnode *n, const char *prefix,
                               const char *name)
{
    size_t len = strlen(prefix) + 1 + strlen(name) + 1;
    char *id = conf_alloc(x, n, len, 1);

    if (id != NULL)
        snprintf(id, len, "%s.%s", prefix, name);
    return id;
}

/* Each item is a selector list; all of them are merged into one. */
static int policy_selectors(struct conf_ctx *x, const struct cnode *n,
                            const struct conf_directive *d, void *obj)
{
    struct select_list **out = CONF_AT(obj, d, struct select_list *);
    size_t i = 0;

    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i), col = 0;
        struct select_list *l;
        struct err e;
        if (conf_expect(x, it, CNODE_SCALAR))
            return -1;
        err_clear(&e);
        if ((l = select_parse(it->s, it->len, &col, &e)) == NULL)
            return conf_fail_in(x, it, col, "bad selector: %s", e.msg);
        if (*out == NULL)
            *out = l;
        else
            select_list_merge(*out, l);
        conf_path_restore(x, saved);
    }
    return 0;
}

/* HTML input types (HTML Living Standard, 4.10.5). */
static const char *const policy_input_type_names[] = {
    "button", "checkbox", "color", "date",   "datetime-local", "email",
    "file",   "hidden",   "image", "month",  "number",         "password",
    "radio",  "range",    "reset", "search", "submit",         "tel",
    "text",   "time",     "url",   "week",
};

static int policy_input_type(struct conf_ctx *x, const struct cnode *n, char **out)
{
    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    for (size_t i = 0; i < CONF_NELEM(policy_input_type_names); i++) {
        const char *t = policy_input_type_names[i];
        if (strlen(t) != n->len || strncasecmp(t, n->s, n->len) != 0)
            continue;
        if (strcmp(t, "password") == 0)
            return conf_fail(x, n, "password inputs are always masked and cannot be allowed");
        *out = conf_strndup(x, n, t, n->len);
        return *out == NULL ? -1 : 0;
    }
    return conf_fail(x, n,
                     "unknown input type \"%.*s\" (expected an HTML input type such as "
                     "radio, checkbox or date)",
                     (int)(n->len > 32 ? 32 : n->len), n->s);
}

static int policy_input_types(struct conf_ctx *x, const struct cnode *n,
                              const struct conf_directive *d, void *obj)
{
    struct policy *p = obj;

    (void)d;
    return conf_get_strings(x, n, policy_input_type, &p->input_allow_types, &p->ninput_allow_types);
}

static int policy_field_path(struct conf_ctx *x, const struct cnode *n,
                             const struct conf_directive *d, void *obj)
{
    struct field_rule *f = obj;
    struct err e;
    size_t col = 0;

    (void)d;
    if (conf_get_string(x, n, &f->expr))
        return -1;
    /* jpath's message already says "bad path at column N: what". */
    err_clear(&e);
    if ((f->path = jpath_compile(f->expr, &col, &e)) == NULL)
        return conf_fail_in(x, n, col, "%s", e.msg);
    return 0;
}

static const struct conf_directive policy_field_table[] = {
    {.key = "path", .get = policy_field_path, .flags = CONF_REQUIRED},
    {.key = "action",
     .get = policy_action,
     .off = CONF_FIELD(struct field_rule, action, enum action),
     .flags = CONF_REQUIRED},
    {.key = "id", .get = policy_rule_id, .off = CONF_FIELD(struct field_rule, id, char *)},
};

static int policy_fields(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                         void *obj)
{
    struct policy *p = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if ((p->fields = conf_alloc(x, n, n->n, sizeof(*p->fields))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        struct field_rule *f = &p->fields[i];
        size_t saved = conf_path_index(x, i);
        p->nfields = i + 1; /* before parsing: conf_free must see a compiled path */
        if (conf_map_apply(x, it, policy_field_table, CONF_NELEM(policy_field_table), f))
            return -1;
        if (f->id == NULL && (f->id = policy_default_id(x, it, "fields", f->expr)) == NULL)
            return -1;
        if (policy_id_taken(p, f->id, f->id))
            return conf_fail_key(
                x, it, conf_map_get(it, "id") ? "id" : "path",
                "rule id \"%s\" is already used in this policy or reserved for a structural rule",
                f->id);
        conf_path_restore(x, saved);
    }
    return 0;
}

/* One entry of pii.detectors, before it is compiled. */
struct policy_det {
    char *name, *id, *pattern;
    enum pii_validator validator;
    char **context;
    size_t ncontext;
    unsigned window;
    enum action action;
};

static int policy_det_validator(struct conf_ctx *x, const struct cnode *n,
                                const struct conf_directive *d, void *obj)
{
    struct policy_det *e = obj;

    (void)d;
    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (strcmp(n->s, "luhn") == 0)
        e->validator = PII_VALIDATE_LUHN;
    else if (strcmp(n->s, "mod97") == 0)
        e->validator = PII_VALIDATE_MOD97;
    else
        return conf_fail(x, n, "unknown validator (expected luhn or mod97)");
    return 0;
}

static int policy_det_context(struct conf_ctx *x, const struct cnode *n,
                              const struct conf_directive *d, void *obj)
{
    struct policy_det *e = obj;

    (void)d;
    return conf_get_strings(x, n, conf_get_string, &e->context, &e->ncontext);
}

static const struct conf_directive policy_det_table[] = {
    {.key = "name",
     .get = conf_dir_string,
     .off = CONF_FIELD(struct policy_det, name, char *),
     .flags = CONF_REQUIRED},
    {.key = "action",
     .get = policy_action,
     .off = CONF_FIELD(struct policy_det, action, enum action)},
    {.key = "id", .get = policy_rule_id, .off = CONF_FIELD(struct policy_det, id, char *)},
    {.key = "pattern",
     .get = conf_dir_string,
     .off = CONF_FIELD(struct policy_det, pattern, char *)},
    {.key = "validator", .get = policy_det_validator},
    {.key = "context", .get = policy_det_context},
    {.key = "context_window",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct policy_det, window, unsigned),
     .min = 1,
     .max = 4096},
};

static int policy_builtin_list(char *b, size_t bn)
{
    size_t n, used = 0;
    const char *const *names = pii_builtin_names(&n);

    b[0] = '\0';
    for (size_t i = 0; i < n && used < bn; i++) {
        int w = snprintf(b + used, bn - used, "%s%s", i ? ", " : "", names[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    return 0;
}

static int policy_det_builtin(struct conf_ctx *x, const struct cnode *item,
                              const struct policy_det *e, struct pii_set *set)
{
    static const char *const custom_only[] = {"validator", "context", "context_window"};
    char names[256];
    struct err err;
    int idx;

    for (size_t i = 0; i < CONF_NELEM(custom_only); i++)
        if (conf_map_get(item, custom_only[i]) != NULL)
            return conf_fail_key(x, item, custom_only[i],
                                 "%s applies only to custom detectors (those with a pattern)",
                                 custom_only[i]);
    if (!pii_builtin_exists(e->name)) {
        policy_builtin_list(names, sizeof(names));
        return conf_fail_key(x, item, "name",
                             "unknown detector \"%s\" (built-in: %s; a custom detector needs a "
                             "pattern)",
                             e->name, names);
    }
    err_clear(&err);
    if ((idx = pii_set_add_builtin(set, e->name, &err)) < 0)
        return conf_fail_key(x, item, "name", "%s", err.msg);
    return idx;
}

/* Custom names follow the built-ins' style: they appear in [REDACTED:x]. */
static int policy_det_custom(struct conf_ctx *x, const struct cnode *item,
                             const struct policy_det *e, struct pii_set *set)
{
    struct pii_custom pc = {e->name,     e->pattern, e->validator, (const char *const *)e->context,
                            e->ncontext, e->window};
    size_t off = 0, len = strlen(e->name);
    struct err err;
    int idx, ok = len <= 64;

    for (size_t i = 0; ok && i < len; i++)
        ok = (e->name[i] >= 'a' && e->name[i] <= 'z') || (e->name[i] >= '0' && e->name[i] <= '9') ||
             e->name[i] == '_' || e->name[i] == '-';
    if (!ok)
        return conf_fail_key(x, item, "name",
                             "expected a detector name: up to 64 lower-case letters, digits, "
                             "'_' or '-'");
    if (pii_builtin_exists(e->name))
        return conf_fail_key(x, item, "name",
                             "\"%s\" is a built-in detector; give the custom detector another "
                             "name",
                             e->name);
    err_clear(&err);
    if ((idx = pii_set_add_custom(set, &pc, &off, &err)) < 0) {
        size_t saved = conf_path_key(x, "pattern", 7);
        conf_fail_in(x, conf_map_get(item, "pattern"), off, "%s", err.msg);
        conf_path_restore(x, saved);
        return -1;
    }
    return idx;
}

/* The checks both kinds share, before the detector is added. */
static int policy_det_check(struct conf_ctx *x, const struct cnode *item, struct policy *p,
                            struct policy_det *e)
{
    for (size_t i = 0; i < pii_set_count(p->pii); i++)
        if (strcmp(pii_set_name(p->pii, (int)i), e->name) == 0)
            return conf_fail_key(x, item, "name", "detector \"%s\" is listed twice", e->name);
    if (e->id == NULL && (e->id = policy_default_id(x, item, "pii", e->name)) == NULL)
        return -1;
    if (policy_id_taken(p, e->id, NULL))
        return conf_fail_key(
            x, item, conf_map_get(item, "id") ? "id" : "name",
            "rule id \"%s\" is already used in this policy or reserved for a structural rule",
            e->id);
    return 0;
}

/* Record the rule of the detector the set just gave index idx. */
static int policy_add_rule(struct conf_ctx *x, const struct cnode *n, struct policy *p, size_t cap,
                           int idx, char *id, enum action action)
{
    if (idx < 0 || (size_t)idx >= cap)
        return conf_fail(x, n, "internal error: detector index %d out of range", idx);
    p->pii_rules[idx].id = id;
    p->pii_rules[idx].detector = idx;
    p->pii_rules[idx].action = action;
    if ((size_t)idx + 1 > p->npii)
        p->npii = (size_t)idx + 1;
    return 0;
}

static int policy_detector(struct conf_ctx *x, const struct cnode *item, struct policy *p,
                           size_t cap)
{
    struct policy_det e;
    int idx;

    memset(&e, 0, sizeof(e));
    e.action = ACTION_REDACT;
    if (conf_map_apply(x, item, policy_det_table, CONF_NELEM(policy_det_table), &e) ||
        policy_det_check(x, item, p, &e))
        return -1;
    if (e.pattern == NULL)
        idx = policy_det_builtin(x, item, &e, p->pii);
    else
        idx = policy_det_custom(x, item, &e, p->pii);
    if (idx < 0)
        return -1;
    return policy_add_rule(x, item, p, cap, idx, e.id, e.action);
}

static int policy_new_set(struct conf_ctx *x, const struct cnode *n, struct policy *p, size_t cap)
{
    p->pii = pii_set_new();
    if (p->pii == NULL)
        return conf_fail(x, n, "out of memory");
    p->pii_rules = conf_alloc(x, n, cap, sizeof(*p->pii_rules));
    return p->pii_rules == NULL ? -1 : 0;
}

static int policy_detectors(struct conf_ctx *x, const struct cnode *n,
                            const struct conf_directive *d, void *obj)
{
    struct policy *p = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ) || policy_new_set(x, n, p, n->n))
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i);
        if (policy_detector(x, it, p, n->n))
            return -1;
        conf_path_restore(x, saved);
    }
    return 0;
}

/* No detectors list: every built-in, redacted (see the top of the file). */
static int policy_default_detectors(struct conf_ctx *x, const struct cnode *n, struct policy *p)
{
    size_t count;
    const char *const *names = pii_builtin_names(&count);

    if (policy_new_set(x, n, p, count))
        return -1;
    for (size_t i = 0; i < count; i++) {
        struct err err;
        char *id = policy_default_id(x, n, "pii", names[i]);
        int idx;
        err_clear(&err);
        if (id == NULL)
            return -1;
        if ((idx = pii_set_add_builtin(p->pii, names[i], &err)) < 0)
            return conf_fail(x, n, "%s", err.msg);
        if (policy_add_rule(x, n, p, count, idx, id, ACTION_REDACT))
            return -1;
    }
    return 0;
}

static const struct conf_directive policy_pii_table[] = {
    {.key = "mask_length",
     .get = conf_dir_uint,
     .off = CONF_FIELD(struct policy, mask_length, unsigned),
     .max = 256},
    {.key = "detectors", .get = policy_detectors},
};

static const struct conf_directive policy_inputs_table[] = {
    {.key = "allow",
     .get = policy_selectors,
     .off = CONF_FIELD(struct policy, input_allow, struct select_list *)},
    {.key = "allow_types", .get = policy_input_types},
};

/* A URL glob: a path pattern, '*' for any run of characters. */
static int journey_url(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                       void *obj)
{
    int ok = n->kind == CNODE_SCALAR && n->len > 0 && (n->s[0] == '/' || n->s[0] == '*');

    for (size_t i = 0; ok && i < n->len; i++)
        ok = (unsigned char)n->s[i] > 0x20 && n->s[i] != 0x7f;
    if (n->kind == CNODE_SCALAR && !conf_is_null(n) && !ok)
        return conf_fail(x, n, "expected a URL path pattern starting with '/' or '*', no spaces");
    return conf_get_string(x, n, CONF_AT(obj, d, char *));
}

static const struct conf_directive journey_step_table[] = {
    {.key = "name",
     .get = conf_dir_string,
     .off = CONF_FIELD(struct journey_step, name, char *),
     .flags = CONF_REQUIRED},
    {.key = "url", .get = journey_url, .off = CONF_FIELD(struct journey_step, url, char *)},
    {.key = "event", .get = conf_dir_string, .off = CONF_FIELD(struct journey_step, event, char *)},
};

static int journey_steps(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                         void *obj)
{
    struct journey_conf *j = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if (n->n == 0)
        return conf_fail(x, n, "expected at least one step");
    if ((j->steps = conf_alloc(x, n, n->n, sizeof(*j->steps))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        struct journey_step *s = &j->steps[i];
        size_t saved = conf_path_index(x, i);
        if (conf_map_apply(x, it, journey_step_table, CONF_NELEM(journey_step_table), s))
            return -1;
        if (s->url == NULL && s->event == NULL)
            return conf_fail(x, it, "a step needs url, event or both");
        for (size_t k = 0; k < i; k++)
            if (strcmp(j->steps[k].name, s->name) == 0)
                return conf_fail_key(x, it, "name", "duplicate step name \"%s\"", s->name);
        conf_path_restore(x, saved);
        j->nsteps = i + 1;
    }
    return 0;
}

static const struct conf_directive journey_complete_table[] = {
    {.key = "url",
     .get = journey_url,
     .off = CONF_FIELD(struct journey_conf, complete_url, char *)},
    {.key = "event",
     .get = conf_dir_string,
     .off = CONF_FIELD(struct journey_conf, complete_event, char *)},
};

static int journey_complete(struct conf_ctx *x, const struct cnode *n,
                            const struct conf_directive *d, void *obj)
{
    struct journey_conf *j = obj;

    (void)d;
    if (conf_map_apply(x, n, journey_complete_table, CONF_NELEM(journey_complete_table), j))
        return -1;
    if (j->complete_url == NULL && j->complete_event == NULL)
        return conf_fail(x, n, "complete needs url, event or both");
    return 0;
}

static const struct conf_directive journey_table[] = {
    {.key = "name",
     .get = conf_dir_string,
     .off = CONF_FIELD(struct journey_conf, name, char *),
     .flags = CONF_REQUIRED},
    {.key = "steps", .get = journey_steps, .flags = CONF_REQUIRED},
    {.key = "complete", .get = journey_complete},
    {.key = "abandon_after",
     .get = conf_dir_ms64,
     .off = CONF_FIELD(struct journey_conf, abandon_after_ms, uint64_t),
     .min = 1000,
     .max = (uint64_t)7 * 24 * 3600 * 1000},
};

#define POLICY_SECTION(k, table)                                                                   \
    {                                                                                              \
        .key = k, .get = conf_dir_section, .sub = table, .nsub = CONF_NELEM(table)                 \
    }

static const struct conf_directive policy_table[] = {
    POLICY_SECTION("inputs", policy_inputs_table),
    {.key = "text",
     .get = policy_selectors,
     .off = CONF_FIELD(struct policy, text_mask, struct select_list *)},
    {.key = "block",
     .get = policy_selectors,
     .off = CONF_FIELD(struct policy, block, struct select_list *)},
    {.key = "allow_data_urls",
     .get = conf_dir_bool,
     .off = CONF_FIELD(struct policy, allow_data_urls, int)},
    {.key = "fields", .get = policy_fields},
    POLICY_SECTION("pii", policy_pii_table),
    {.key = "journey",
     .get = conf_dir_section,
     .off = CONF_FIELD(struct policy, journey, struct journey_conf),
     .sub = journey_table,
     .nsub = CONF_NELEM(journey_table)},
};

int conf_parse_policies(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                        void *obj)
{
    struct config *c = obj;
    size_t i = 0;

    (void)d;
    if (conf_expect(x, n, CNODE_MAP))
        return -1;
    if (n->n == 0)
        return conf_fail(x, n, "expected at least one policy");
    if ((c->policies = conf_alloc(x, n, n->n, sizeof(*c->policies))) == NULL)
        return -1;
    for (const struct cnode *k = n->head; k != NULL; k = k->next->next, i++) {
        struct policy *p = &c->policies[i];
        size_t saved = conf_path_key(x, k->s, k->len);
        c->npolicies = i + 1; /* before parsing: conf_free must see what is compiled */
        p->journey.abandon_after_ms = (uint64_t)30 * 60 * 1000;
        if (conf_get_name(x, k, "policy name", &p->name) ||
            conf_map_apply(x, k->next, policy_table, CONF_NELEM(policy_table), p))
            return -1;
        if (p->pii == NULL && policy_default_detectors(x, k->next, p))
            return -1;
        conf_path_restore(x, saved);
    }
    return 0;
}

void conf_policy_release(struct policy *p)
{
    select_free(p->input_allow);
    select_free(p->text_mask);
    select_free(p->block);
    pii_set_free(p->pii);
    for (size_t i = 0; i < p->nfields; i++)
        if (p->fields[i].path != NULL)
            jpath_free(p->fields[i].path);
}
