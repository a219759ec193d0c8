/*
 * journey: follow a session through its steps and write context records.
 * Records are built with the JSON writer's string escaping so a name can
 * never break a record's framing. The fixed parts are appended as they are
 * and numbers converted by hand: a form batch writes a record every few
 * events, and formatting them through printf cost more than the rest of the
 * batch's journey.
 */
#include "journey.h"

#include "common/mem.h"
#include "rules/json.h"

#include <string.h>

/* Append a string literal (the fixed parts of records: keys, punctuation). */
#define PUT(o, lit) buf_append((o), (lit), sizeof(lit) - 1)

struct field {
    char name[JOURNEY_NAME_MAX + 1];
    size_t name_len;
    char step[JOURNEY_NAME_MAX + 1];
    char state[16];
    char code[JOURNEY_NAME_MAX + 1];
    uint32_t edits;
    int filled;
    int dirty; /* edited since its last field_state record */
    uint64_t first_t, last_t;
};

struct journey_state {
    char step[JOURNEY_NAME_MAX + 1]; /* "" before the first step */
    uint64_t step_t, first_t, last_t;
    int started, complete, abandoned;
    char last_field[JOURNEY_NAME_MAX + 1];
    struct field fields[JOURNEY_MAX_FIELDS];
    size_t nfields;
};

struct journey_state *journey_state_new(void)
{
    return xcalloc(1, sizeof(struct journey_state));
}

void journey_state_free(struct journey_state *st)
{
    xfree(st);
}

/* Returns the length copied. */
static size_t copy_name(char *dst, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n > JOURNEY_NAME_MAX)
        n = JOURNEY_NAME_MAX;
    /* Never cut inside a UTF-8 sequence: back up over continuation bytes. */
    while (n > 0 && src[n] != '\0' && ((unsigned char)src[n] & 0xC0) == 0x80)
        n--;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* What snprintf("%s") would leave in dst: src cut to size - 1 bytes. */
static void copy_bounded(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n > size - 1)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void touch(struct journey_state *st, uint64_t t)
{
    if (!st->started) {
        st->started = 1;
        st->first_t = t;
    }
    if (t > st->last_t)
        st->last_t = t;
}

/* Append v in decimal. */
static int put_u64(struct buf *o, uint64_t v)
{
    char d[20];
    size_t i = sizeof(d);

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return buf_append(o, d + i, sizeof(d) - i);
}

static int put_bool(struct buf *o, int v)
{
    return v ? PUT(o, "true") : PUT(o, "false");
}

/* Open a record with the fields every record carries; head is the record's
 * opening up to the journey's name, built from a literal type (REC_OPEN). */
static int rec_open(const struct journey_ctx *c, const char *head, size_t n, uint64_t t)
{
    struct buf *o = c->out;
    const char *jname = c->conf && c->conf->name ? c->conf->name : "";
    const char *session = c->session ? c->session : "";

    if (buf_append(o, head, n) || json_write_string(o, jname, strlen(jname)) ||
        PUT(o, ",\"session\":") || json_write_string(o, session, strlen(session)) ||
        PUT(o, ",\"t\":") || put_u64(o, t))
        return -1;
    return 0;
}

#define REC_OPEN(c, type, t)                                                                       \
    rec_open((c), "{\"type\":\"" type "\",\"journey\":",                                           \
             sizeof("{\"type\":\"" type "\",\"journey\":") - 1, (t))

/* A field: its key, punctuated, from a literal (REC_U64, REC_STR), then the
 * value. */
static int rec_u64(struct buf *o, const char *key, size_t n, uint64_t v)
{
    return buf_append(o, key, n) || put_u64(o, v) ? -1 : 0;
}

static int rec_str(struct buf *o, const char *key, size_t n, const char *v)
{
    return buf_append(o, key, n) || json_write_string(o, v, strlen(v)) ? -1 : 0;
}

#define REC_U64(o, key, v) rec_u64((o), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (v))
#define REC_STR(o, key, v) rec_str((o), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (v))

static int rec_close(struct buf *o)
{
    return buf_puts(o, "}\n");
}

static int rec_cohort(const struct journey_ctx *c)
{
    if (c->device != NULL && REC_STR(c->out, "device", c->device))
        return -1;
    if (c->returning >= 0 && (PUT(c->out, ",\"returning\":") || put_bool(c->out, c->returning)))
        return -1;
    return 0;
}

static struct field *field_find(struct journey_state *st, const char *name, int create)
{
    char key[JOURNEY_NAME_MAX + 1];
    size_t n = copy_name(key, name);

    for (size_t i = 0; i < st->nfields; i++)
        if (st->fields[i].name_len == n && memcmp(st->fields[i].name, key, n) == 0)
            return &st->fields[i];
    if (!create || st->nfields == JOURNEY_MAX_FIELDS)
        return NULL;
    struct field *f = &st->fields[st->nfields++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, key, sizeof(key));
    f->name_len = n;
    memcpy(f->step, st->step, sizeof(f->step));
    return f;
}

static int field_record(const struct journey_ctx *c, struct field *f, uint64_t t)
{
    struct buf *o = c->out;

    if (REC_OPEN(c, "field_state", t) || REC_STR(o, "step", f->step) ||
        REC_STR(o, "field", f->name) || REC_STR(o, "state", f->state[0] ? f->state : "unvalidated"))
        return -1;
    if (f->code[0] && REC_STR(o, "code", f->code))
        return -1;
    if (PUT(o, ",\"filled\":") || put_bool(o, f->filled) || REC_U64(o, "edits", f->edits) ||
        REC_U64(o, "time_in_field_ms", f->last_t - f->first_t) || rec_close(o))
        return -1;
    f->dirty = 0;
    return 0;
}

/* Field facts of the step being left that no record has reported yet. */
static int flush_step_fields(struct journey_state *st, const struct journey_ctx *c, uint64_t t)
{
    for (size_t i = 0; i < st->nfields; i++) {
        struct field *f = &st->fields[i];
        if (f->dirty && strcmp(f->step, st->step) == 0 && field_record(c, f, t))
            return -1;
    }
    return 0;
}

static int step_leave(struct journey_state *st, const struct journey_ctx *c, uint64_t t)
{
    if (st->step[0] == '\0')
        return 0;
    if (flush_step_fields(st, c, t) || REC_OPEN(c, "step_leave", t) ||
        REC_STR(c->out, "step", st->step) ||
        REC_U64(c->out, "dwell_ms", t >= st->step_t ? t - st->step_t : 0) || rec_close(c->out))
        return -1;
    st->step[0] = '\0';
    return 0;
}

int journey_on_step(struct journey_state *st, const struct journey_ctx *c, const char *step,
                    uint64_t t)
{
    char name[JOURNEY_NAME_MAX + 1];

    touch(st, t);
    copy_name(name, step);
    if (strcmp(name, st->step) == 0)
        return 0;
    if (step_leave(st, c, t))
        return -1;
    memcpy(st->step, name, sizeof(name));
    st->step_t = t;
    if (REC_OPEN(c, "step_enter", t) || REC_STR(c->out, "step", st->step) || rec_cohort(c) ||
        rec_close(c->out))
        return -1;
    return 0;
}

int journey_on_input(struct journey_state *st, const struct journey_ctx *c, const char *field,
                     int filled, uint64_t t)
{
    struct field *f;

    (void)c;
    touch(st, t);
    copy_name(st->last_field, field);
    f = field_find(st, field, 1);
    if (f == NULL)
        return 0; /* over the per-session field bound: facts are dropped, not stored */
    if (f->edits == 0)
        f->first_t = t;
    f->edits++;
    f->filled = filled;
    f->last_t = t;
    f->dirty = 1;
    return 0;
}

int journey_on_validation(struct journey_state *st, const struct journey_ctx *c, const char *field,
                          const char *state, const char *code, uint64_t t)
{
    struct field *f;

    touch(st, t);
    copy_name(st->last_field, field);
    f = field_find(st, field, 1);
    if (f == NULL)
        return 0;
    if (f->edits == 0)
        f->first_t = f->last_t = t;
    copy_bounded(f->state, sizeof(f->state), state);
    copy_name(f->code, code ? code : "");
    return field_record(c, f, t);
}

int journey_on_submit(struct journey_state *st, const struct journey_ctx *c, uint64_t t)
{
    touch(st, t);
    if (flush_step_fields(st, c, t) || REC_OPEN(c, "submit", t) ||
        REC_STR(c->out, "step", st->step) || rec_close(c->out))
        return -1;
    return 0;
}

int journey_on_complete(struct journey_state *st, const struct journey_ctx *c, uint64_t t)
{
    touch(st, t);
    if (st->complete)
        return 0;
    if (step_leave(st, c, t) || REC_OPEN(c, "complete", t) ||
        REC_U64(c->out, "ttc_ms", t - st->first_t) || rec_cohort(c) || rec_close(c->out))
        return -1;
    st->complete = 1;
    return 0;
}

int journey_expire(struct journey_state *st, const struct journey_ctx *c, uint64_t now_ms)
{
    uint64_t limit = c->conf ? c->conf->abandon_after_ms : 0;
    struct field *f;

    if (!st->started || st->complete || st->abandoned || limit == 0)
        return 0;
    if (now_ms < st->last_t || now_ms - st->last_t < limit)
        return 0;
    f = st->last_field[0] ? field_find(st, st->last_field, 0) : NULL;
    if (REC_OPEN(c, "abandon", now_ms) || REC_STR(c->out, "last_step", st->step) ||
        (f != NULL && REC_STR(c->out, "last_field", f->name)) ||
        (f != NULL && REC_STR(c->out, "last_state", f->state[0] ? f->state : "unvalidated")) ||
        (f != NULL && f->code[0] && REC_STR(c->out, "last_code", f->code)) ||
        REC_U64(c->out, "idle_ms", now_ms - st->last_t) || rec_cohort(c) || rec_close(c->out))
        return -1;
    st->abandoned = 1;
    return 0;
}

const char *journey_step_for_event(const struct journey_conf *jc, const char *name)
{
    for (size_t i = 0; jc != NULL && i < jc->nsteps; i++) {
        const struct journey_step *s = &jc->steps[i];
        if ((s->event && strcmp(s->event, name) == 0) || strcmp(s->name, name) == 0)
            return s->name;
    }
    return NULL;
}

/* Glob with '*' only, over the URL's path (scheme, host and query ignored). */
static int glob_match(const char *g, const char *s, size_t n)
{
    size_t gi = 0, si = 0, star = (size_t)-1, mark = 0, gl = strlen(g);

    while (si < n) {
        if (gi < gl && g[gi] == '*') {
            star = gi++;
            mark = si;
        } else if (gi < gl && g[gi] == s[si]) {
            gi++;
            si++;
        } else if (star != (size_t)-1) {
            gi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (gi < gl && g[gi] == '*')
        gi++;
    return gi == gl;
}

static void url_path(const char *url, size_t n, const char **p, size_t *pn)
{
    size_t i = 0, end;
    const char *scheme = memchr(url, ':', n);

    if (scheme != NULL && (size_t)(scheme - url) + 2 < n && scheme[1] == '/' && scheme[2] == '/') {
        i = (size_t)(scheme - url) + 3;
        while (i < n && url[i] != '/' && url[i] != '?' && url[i] != '#')
            i++;
    }
    for (end = i; end < n && url[end] != '?' && url[end] != '#'; end++)
        ;
    *p = url + i;
    *pn = end - i;
}

const char *journey_step_for_url(const struct journey_conf *jc, const char *url, size_t n)
{
    const char *path;
    size_t pn;

    url_path(url, n, &path, &pn);
    for (size_t i = 0; jc != NULL && i < jc->nsteps; i++)
        if (jc->steps[i].url && glob_match(jc->steps[i].url, path, pn))
            return jc->steps[i].name;
    return NULL;
}

const char *journey_device_from_width(uint64_t width)
{
    if (width == 0)
        return NULL;
    if (width < 768)
        return "mobile";
    if (width < 1024)
        return "tablet";
    return "desktop";
}
