/*
 * engine: parse, dispatch by format, write canonically, all or nothing.
 */
#include "engine_impl.h"

#include <string.h>

#include "rules/posthog.h"
#include "rules/sentry.h"

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
    case FORMAT_RRWEB:
        return rrweb_redact(w, root, records);
    case FORMAT_POSTHOG:
        return posthog_redact(w, root, records);
    default:
        return walk_fail(w, REDACT_INTERNAL, "format %s has no engine in this build",
                         format_name(fmt));
    }
}

/* Records since mark, one per line. */
static size_t records_count(const struct buf *records, size_t mark)
{
    size_t n = 0;
    const char *p, *end;

    if (records->data == NULL)
        return 0;
    p = records->data + mark;
    end = records->data + records->len;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* A Sentry envelope is not one JSON text: sentry.c reads its parts and
 * writes the envelope itself. All or nothing, as for the others. */
static enum redact_status redact_envelope(const struct redact_env *env, struct arena *a,
                                          const char *in, size_t n, struct buf *out,
                                          struct buf *records, struct redact_report *rep,
                                          struct err *err)
{
    struct walk w;
    size_t mark = records->len, out_mark = out->len;

    if (walk_init(&w, env, a, rep, err))
        return w.status;
    if (sentry_redact(&w, in, n, out, records)) {
        buf_wipe_from(out, out_mark);
        buf_wipe_from(records, mark);
        return w.status;
    }
    rep->bytes_out = out->len - out_mark;
    rep->context_records = records_count(records, mark);
    return REDACT_OK;
}

/* Parse, apply the format's rules and write out; records are appended to
 * records and wiped back to where they began unless everything succeeds. */
static enum redact_status redact_run(const struct redact_env *env, struct arena *a, enum format fmt,
                                     const char *in, size_t n, struct buf *out, struct buf *records,
                                     struct redact_report *rep, struct err *err)
{
    struct json *root = NULL;
    struct walk w;
    size_t mark = records->len, out_mark = out->len;
    enum json_status js;

    if (fmt == FORMAT_SENTRY)
        return redact_envelope(env, a, in, n, out, records, rep, err);
    js = json_parse(a, in, n, &env->json, &root, err);
    if (js != JSON_OK)
        return parse_status(js);
    if (walk_init(&w, env, a, rep, err))
        return w.status;
    if (redact_format(&w, fmt, &root, records)) {
        buf_wipe_from(records, mark);
        return w.status;
    }
    if (json_write(out, root)) {
        buf_wipe_from(out, out_mark);
        buf_wipe_from(records, mark);
        err_set(err, "masked payload larger than the output limit");
        return REDACT_TOOBIG;
    }
    rep->bytes_out = out->len - out_mark;
    rep->context_records = records_count(records, mark);
    return REDACT_OK;
}

enum redact_status engine_redact(const struct redact_env *env, struct arena *a, enum format fmt,
                                 const char *in, size_t n, struct buf *out,
                                 struct redact_report *rep, struct err *err)
{
    struct buf none;
    enum redact_status st;

    memset(rep, 0, sizeof(*rep));
    rep->bytes_in = n;
    if (env->pseudonym == NULL && (policy_hashes(env->policy) || fmt == FORMAT_FORM)) {
        err_set(err, "policy %s needs a pseudonym key and none was given", env->policy->name);
        return REDACT_INTERNAL;
    }
    /* Records go straight to the caller's buffer (no copy, no scratch
     * buffer to wipe). Without one they go to a buffer that holds nothing,
     * so a format that writes records fails as it would over any limit. */
    if (env->context != NULL)
        return redact_run(env, a, fmt, in, n, out, env->context, rep, err);
    buf_init(&none, 1);
    st = redact_run(env, a, fmt, in, n, out, &none, rep, err);
    buf_wipe(&none);
    buf_free(&none);
    return st;
}
