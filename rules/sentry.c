/*
 * sentry: envelopes (docs/sentry.md).
 *
 * Two passes. The first reads the whole envelope strictly into trees (so a
 * malformed tail rejects the payload before any rule runs, and the replay's
 * id is known before its recording is masked); the second masks every part
 * and writes the envelope again: header, then per item "\n", its header
 * with the new `length`, "\n" and the payload. No trailing newline, as the
 * SDK writes it (@sentry/core serializeEnvelope).
 */
#include "rules/sentry.h"

#include <stdio.h>
#include <string.h>

#include "engine_impl.h"
#include "rules/vendor.h"

enum item_kind { ITEM_JSON, ITEM_RECORDING };

struct sn_item {
    struct json *hdr;     /* the item header */
    struct json *type;    /* its type, as read */
    enum item_kind kind;  /* what its payload is */
    struct json *body;    /* the JSON payload, or a recording's events */
    struct json *rec_hdr; /* a recording's {"segment_id"} line */
    int zlib;             /* the recording's events came zlib-compressed */
};

struct sn_env {
    struct json *hdr;
    struct sn_item *items;
    size_t nitems;
    size_t budget;          /* what the envelope may still inflate */
    struct vendor_zip *zip; /* compresses recordings again; NULL until needed */
};

/* Item types whose payload is one JSON document, masked by the field rules
 * and detectors; replay_recording has its own reader. Anything else is
 * refused. */
static const char *const json_types[] = {
    "replay_event",  "event",       "transaction",   "session",  "sessions",
    "client_report", "user_report", "feedback",      "check_in", "log",
    "span",          "profile",     "profile_chunk",
};

static int type_is(const struct json *t, const char *name)
{
    return t->len == strlen(name) && memcmp(t->u.s, name, t->len) == 0;
}

static int parse_part(struct walk *w, const char *s, size_t n, struct json **out, const char *what)
{
    enum json_status js = json_parse(w->a, s, n, &w->env->json, out, w->err);

    if (js != JSON_OK)
        return walk_fail(w, js == JSON_TOOBIG ? REDACT_TOOBIG : REDACT_BAD,
                         "sentry: %s is not strict JSON", what);
    return 0;
}

static int parse_object(struct walk *w, const char *s, size_t n, struct json **out,
                        const char *what)
{
    if (parse_part(w, s, n, out, what))
        return -1;
    if ((*out)->type != JSON_OBJECT)
        return walk_fail(w, REDACT_BAD, "sentry: %s is not an object", what);
    return 0;
}

/* An item's explicit length: a JSON integer, no sign, fraction or
 * exponent (Relay reads it as an unsigned integer). */
static int length_of(const struct json *v, size_t *out)
{
    size_t r = 0;

    if (v->type != JSON_NUMBER || v->len == 0 || v->len > 15)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        if (v->u.s[i] < '0' || v->u.s[i] > '9')
            return -1;
        r = r * 10 + (size_t)(v->u.s[i] - '0');
    }
    *out = r;
    return 0;
}

static int dsn_key_char(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-';
}

static int dsn_host_char(int c)
{
    return (dsn_key_char(c) && c != '_') || c == '.';
}

static int dsn_path_char(int c)
{
    return dsn_key_char(c) || c == '.' || c == '/';
}

static int dsn_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* The end of the run of ok characters from s[i] (i itself for none). */
static size_t dsn_run(const char *s, size_t n, size_t i, int (*ok)(int))
{
    while (i < n && ok((unsigned char)s[i]))
        i++;
    return i;
}

/* The DSN scrim forwards untouched must be one, and nothing else:
 * http(s)://key[:secret]@host[:port][/path]/project, the key and secret of
 * the characters a vendor key may hold (vendor_key_find), so exempting it
 * from the detectors keeps nothing but a key, a host and a project id (an
 * e-mail address reads as a key and a host only without its dots). */
static int dsn_valid(const char *s, size_t n)
{
    size_t i, k;
    const char *slash;

    if (n > 7 && memcmp(s, "http://", 7) == 0)
        i = 7;
    else if (n > 8 && memcmp(s, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    if ((k = dsn_run(s, n, i, dsn_key_char)) == i)
        return 0; /* no key */
    if (k < n && s[k] == ':' && dsn_run(s, n, k + 1, dsn_key_char) == k + 1)
        return 0; /* an empty secret */
    if (k < n && s[k] == ':')
        k = dsn_run(s, n, k + 1, dsn_key_char);
    if (k == n || s[k] != '@' || (i = dsn_run(s, n, k + 1, dsn_host_char)) == k + 1)
        return 0;
    if (i < n && s[i] == ':' && dsn_run(s, n, i + 1, dsn_digit) == i + 1)
        return 0; /* an empty port */
    if (i < n && s[i] == ':')
        i = dsn_run(s, n, i + 1, dsn_digit);
    if (i == n || s[i] != '/' || dsn_run(s, n, i, dsn_path_char) != n)
        return 0;
    slash = memrchr(s + i, '/', n - i);
    return slash + 1 < s + n && dsn_run(s, n, (size_t)(slash + 1 - s), dsn_digit) == n;
}

static int envelope_header(struct walk *w, struct sn_env *e, const char *s, size_t n)
{
    struct json_member *dsn;

    if (parse_object(w, s, n, &e->hdr, "the envelope header"))
        return -1;
    dsn = vendor_member(e->hdr, "dsn");
    if (dsn != NULL &&
        (dsn->value->type != JSON_STRING || !dsn_valid(dsn->value->u.s, dsn->value->len)))
        return walk_fail(w, REDACT_BAD, "sentry: the envelope header's dsn is not a DSN");
    return 0;
}

/* {"segment_id": N}\n then rrweb events: '[' starts plain JSON, anything
 * else must be the zlib stream of the SDK's compression worker. */
static int recording_read(struct walk *w, struct sn_env *e, struct sn_item *it, const char *p,
                          size_t n, size_t idx)
{
    const char *nl = memchr(p, '\n', n), *body;
    size_t bn;

    if (nl == NULL)
        return walk_fail(w, REDACT_BAD, "sentry: items[%zu] recording has no header line", idx);
    if (parse_object(w, p, (size_t)(nl - p), &it->rec_hdr, "a recording header"))
        return -1;
    body = nl + 1;
    bn = n - (size_t)(body - p);
    if (bn == 0)
        return walk_fail(w, REDACT_BAD, "sentry: items[%zu] recording has no events", idx);
    it->zlib = body[0] != '[';
    if (!it->zlib ? parse_part(w, body, bn, &it->body, "a recording")
                  : vendor_inflate_json(w, VENDOR_ZLIB, body, bn, &e->budget, &it->body))
        return -1;
    if (it->body->type != JSON_ARRAY)
        return walk_fail(w, REDACT_BAD, "sentry: items[%zu] recording is not an event list", idx);
    it->kind = ITEM_RECORDING;
    return 0;
}

static int payload_read(struct walk *w, struct sn_env *e, struct sn_item *it, const char *p,
                        size_t n, size_t idx)
{
    if (type_is(it->type, "replay_recording"))
        return recording_read(w, e, it, p, n, idx);
    for (size_t i = 0; i < sizeof(json_types) / sizeof(json_types[0]); i++) {
        if (type_is(it->type, json_types[i])) {
            it->kind = ITEM_JSON;
            return parse_part(w, p, n, &it->body, "an item payload");
        }
    }
    return walk_fail(w, REDACT_BAD, "sentry: items[%zu] has a type scrim does not accept", idx);
}

/* One item at in[*pos..n): header line, then the payload by length or to
 * the next newline; the payload must end at a newline or the end. */
static int item_read(struct walk *w, struct sn_env *e, const char *in, size_t n, size_t *pos)
{
    struct sn_item *it = &e->items[e->nitems];
    const char *s = in + *pos, *nl = memchr(s, '\n', n - *pos);
    size_t hl = nl ? (size_t)(nl - s) : n - *pos, start = *pos + hl + (nl != NULL), len;
    struct json_member *lm;

    memset(it, 0, sizeof(*it));
    if (parse_object(w, s, hl, &it->hdr, "an item header"))
        return -1;
    lm = vendor_member(it->hdr, "type");
    if (lm == NULL || lm->value->type != JSON_STRING)
        return walk_fail(w, REDACT_BAD, "sentry: items[%zu] has no type", e->nitems);
    it->type = lm->value;
    lm = vendor_member(it->hdr, "length");
    if (lm != NULL && (length_of(lm->value, &len) || len > n - start))
        return walk_fail(w, REDACT_BAD, "sentry: items[%zu] length is wrong", e->nitems);
    if (lm == NULL) {
        const char *end = memchr(in + start, '\n', n - start);
        len = end ? (size_t)(end - in - start) : n - start;
    } else if (start + len < n && in[start + len] != '\n') {
        return walk_fail(w, REDACT_BAD, "sentry: items[%zu] length is wrong", e->nitems);
    }
    if (payload_read(w, e, it, in + start, len, e->nitems))
        return -1;
    *pos = start + len + 1;
    e->nitems++;
    return 0;
}

static int envelope_read(struct walk *w, struct sn_env *e, const char *in, size_t n)
{
    const char *nl = memchr(in, '\n', n);
    size_t pos = nl ? (size_t)(nl - in) + 1 : n;

    if (envelope_header(w, e, in, nl ? (size_t)(nl - in) : n))
        return -1;
    e->items = arena_alloc(w->a, SENTRY_ITEMS_MAX * sizeof(*e->items));
    if (e->items == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    while (pos < n) {
        if (e->nitems == SENTRY_ITEMS_MAX)
            return walk_fail(w, REDACT_TOOBIG, "sentry: more than %d items", SENTRY_ITEMS_MAX);
        if (item_read(w, e, in, n, &pos))
            return -1;
    }
    return 0;
}

/* The replay this envelope belongs to: the replay_event's replay_id, else
 * the envelope's event_id (the SDK sets it to the replay id). */
static const struct json *replay_session(const struct sn_env *e)
{
    const struct json_member *m;

    for (size_t i = 0; i < e->nitems; i++) {
        if (type_is(e->items[i].type, "replay_event") &&
            (m = vendor_member(e->items[i].body, "replay_id")) != NULL &&
            m->value->type == JSON_STRING)
            return m->value;
    }
    m = vendor_member(e->hdr, "event_id");
    return m && m->value->type == JSON_STRING ? m->value : NULL;
}

/* The header keeps its dsn out of the walk: it is the routing credential,
 * checked to be only a DSN, and "key@host" reads like an email. */
static int header_mask(struct walk *w, struct sn_env *e)
{
    struct json_member *m = vendor_member(e->hdr, "dsn");
    struct json *dsn = m ? m->value : NULL, *hole = json_new_string(w->a, "", 0);

    if (hole == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    if (m != NULL)
        m->value = hole;
    if (redact_tree(w, &e->hdr))
        return -1;
    if (dsn != NULL && (m = vendor_member(e->hdr, "dsn")) != NULL && m->value == hole)
        m->value = dsn;
    return 0;
}

static int item_mask(struct walk *w, const struct json *session, struct sn_item *it,
                     struct buf *records)
{
    if (redact_tree(w, &it->hdr))
        return -1;
    if (it->kind == ITEM_JSON)
        return redact_tree(w, &it->body);
    if (vendor_rrweb(w, session ? session->u.s : NULL, session ? session->len : 0, &it->body,
                     records))
        return -1;
    if (it->body == NULL && (it->body = arena_zalloc(w->a, sizeof(*it->body))) != NULL)
        it->body->type = JSON_ARRAY; /* the policy removed the whole list */
    if (it->body == NULL)
        return walk_fail(w, REDACT_TOOBIG, "arena cap reached");
    return redact_tree(w, &it->rec_hdr);
}

static int write_fail(struct walk *w)
{
    return walk_fail(w, REDACT_TOOBIG, "masked envelope larger than the output limit");
}

/* {"type":..., "length":N, then what else the masked header kept}: the
 * framing is scrim's, whatever the rules did to the header. */
static int item_header_write(struct walk *w, const struct sn_item *it, size_t len, struct buf *out)
{
    const struct json *h = it->hdr;

    if (buf_puts(out, "\n{\"type\":") || json_write_string(out, it->type->u.s, it->type->len) ||
        buf_printf(out, ",\"length\":%zu", len))
        return write_fail(w);
    for (size_t i = 0; h->type == JSON_OBJECT && i < h->len; i++) {
        const struct json_member *m = &h->u.members[i];
        if ((m->klen == 4 && memcmp(m->key, "type", 4) == 0) ||
            (m->klen == 6 && memcmp(m->key, "length", 6) == 0))
            continue;
        if (buf_putc(out, ',') || json_write_string(out, m->key, m->klen) || buf_putc(out, ':') ||
            json_write(out, m->value))
            return write_fail(w);
    }
    return buf_puts(out, "}\n") ? write_fail(w) : 0;
}

/* A recording's events go back as they came: plain JSON text, or one zlib
 * stream of it (the SDK's compression worker), compressed by scrim. */
static int events_write(struct sn_env *e, const struct sn_item *it, struct buf *p)
{
    struct buf text;
    int r;

    if (!it->zlib)
        return json_write(p, it->body);
    if (e->zip == NULL && (e->zip = vendor_zip_new()) == NULL)
        return -1;
    buf_init(&text, p->max);
    r = json_write(&text, it->body) ||
        vendor_deflate(e->zip, VENDOR_ZLIB, text.data ? text.data : "", text.len, p);
    buf_wipe(&text);
    buf_free(&text);
    return r;
}

static int item_write(struct walk *w, struct sn_env *e, const struct sn_item *it, struct buf *out)
{
    struct buf p;
    int r;

    buf_init(&p, out->max);
    if (it->rec_hdr != NULL)
        r = json_write(&p, it->rec_hdr) || buf_putc(&p, '\n') || events_write(e, it, &p);
    else
        r = json_write(&p, it->body);
    r = r ? write_fail(w) : item_header_write(w, it, p.len, out);
    if (r == 0 && buf_append(out, p.data ? p.data : "", p.len))
        r = write_fail(w);
    buf_wipe(&p);
    buf_free(&p);
    return r;
}

static int envelope_redact(struct walk *w, struct sn_env *e, const char *in, size_t n,
                           struct buf *out, struct buf *records)
{
    const struct json *session;

    if (envelope_read(w, e, in, n))
        return -1;
    session = replay_session(e);
    for (size_t i = 0; i < e->nitems; i++)
        if (item_mask(w, session, &e->items[i], records))
            return -1;
    if (header_mask(w, e))
        return -1;
    if (json_write(out, e->hdr))
        return write_fail(w);
    for (size_t i = 0; i < e->nitems; i++)
        if (item_write(w, e, &e->items[i], out))
            return -1;
    return 0;
}

int sentry_redact(struct walk *w, const char *in, size_t n, struct buf *out, struct buf *records)
{
    struct sn_env e;
    int r;

    memset(&e, 0, sizeof(e));
    e.budget = vendor_inflate_max(w->env);
    r = envelope_redact(w, &e, in, n, out, records);
    vendor_zip_free(e.zip);
    return r;
}
