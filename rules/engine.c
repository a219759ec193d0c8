/*
 * engine: parse, dispatch by format, write canonically, all or nothing.
 */
#include "engine_impl.h"

#include <string.h>

const char *redact_status_name(enum redact_status s)
{
    switch (s) {
    case REDACT_OK:
        return "ok";
    case REDACT_BAD:
        return "bad_payload";
    case REDACT_TOOBIG:
        return "too_big";
    case REDACT_LIMIT:
        return "detector_limit";
    case REDACT_INTERNAL:
        break;
    }
    return "internal";
}

static int policy_hashes(const struct policy *p)
{
    for (size_t i = 0; i < p->nfields; i++)
        if (p->fields[i].action == ACTION_HASH)
            return 1;
    for (size_t i = 0; i < p->npii; i++)
        if (p->pii_rules[i].action == ACTION_HASH)
            return 1;
    return 0;
}

static enum redact_status parse_status(enum json_status s)
{
    return s == JSON_TOOBIG ? REDACT_TOOBIG : REDACT_BAD;
}

static int redact_format(struct walk *w, enum format fmt, struct json **root, struct buf *records)
{
    switch (fmt) {
    case FORMAT_JSON:
        return redact_tree(w, root);
    case FORMAT_FORM:
        return form_redact(w, root, records);
    default:
        return walk_fail(w, REDACT_INTERNAL, "format %s has no engine in this build",
                         format_name(fmt));
    }
}

/* Append the masked tree and the records, or neither. */
static enum redact_status commit_output(const struct redact_env *env, const struct json *root,
                                        struct buf *out, const struct buf *records,
                                        struct redact_report *rep, struct err *err)
{
    size_t mark = out->len;

    if (json_write(out, root)) {
        buf_wipe_from(out, mark);
        err_set(err, "masked payload larger than the output limit");
        return REDACT_TOOBIG;
    }
    if (env->context != NULL && records->len > 0 &&
        buf_append(env->context, records->data, records->len)) {
        buf_wipe_from(out, mark);
        err_set(err, "context records larger than their limit");
        return REDACT_TOOBIG;
    }
    rep->bytes_out = out->len - mark;
    return REDACT_OK;
}

enum redact_status engine_redact(const struct redact_env *env, struct arena *a, enum format fmt,
                                 const char *in, size_t n, struct buf *out,
                                 struct redact_report *rep, struct err *err)
{
    struct json *root = NULL;
    struct walk w;
    struct buf records;
    enum json_status js;
    enum redact_status st;

    memset(rep, 0, sizeof(*rep));
    rep->bytes_in = n;
    if (env->pseudonym == NULL && (policy_hashes(env->policy) || fmt == FORMAT_FORM)) {
        err_set(err, "policy %s needs a pseudonym key and none was given", env->policy->name);
        return REDACT_INTERNAL;
    }
    js = json_parse(a, in, n, &env->json, &root, err);
    if (js != JSON_OK)
        return parse_status(js);
    if (walk_init(&w, env, a, rep, err))
        return w.status;
    buf_init(&records, env->context ? env->context->max : 1);
    if (redact_format(&w, fmt, &root, &records)) {
        buf_wipe(&records);
        buf_free(&records);
        return w.status;
    }
    st = commit_output(env, root, out, &records, rep, err);
    rep->context_records = 0;
    for (size_t i = 0; st == REDACT_OK && i < records.len; i++)
        rep->context_records += records.data[i] == '\n';
    buf_wipe(&records);
    buf_free(&records);
    return st;
}
