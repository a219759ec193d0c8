/*
 * journey: follow a session through its steps and write context records.
 * Records are built with the JSON writer's string escaping so a name can
 * never break a record's framing.
 */
#include "journey.h"

#include "common/mem.h"
#include "rules/json.h"

#include <stdio.h>
#include <string.h>

struct field {
    char name[JOURNEY_NAME_MAX + 1];
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

static void copy_name(char *dst, const char *src)
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

/* Open a record with the fields every record carries. */
static int rec_open(const struct journey_ctx *c, const char *type, uint64_t t)
{
    struct buf *o = c->out;
    const char *jname = c->conf && c->conf->name ? c->conf->name : "";

    if (buf_printf(o, "{\"type\":\"%s\",\"journey\":", type) ||
        json_write_string(o, jname, strlen(jname)) || buf_puts(o, ",\"session\":") ||
        json_write_string(o, c->session ? c->session : "", c->session ? strlen(c->session) : 0) ||
        buf_printf(o, ",\"t\":%llu", (unsigned long long)t))
        return -1;
    return 0;
}

static int rec_str(struct buf *o, const char *key, const char *v)
{
    if (buf_printf(o, ",\"%s\":", key))
        return -1;
    return json_write_string(o, v, strlen(v));
}

static int rec_close(struct buf *o)
{
    return buf_puts(o, "}\n");
}

static int rec_cohort(const struct journey_ctx *c)
{
    if (c->device != NULL && rec_str(c->out, "device", c->device))
        return -1;
    if (c->returning >= 0 &&
        buf_printf(c->out, ",\"returning\":%s", c->returning ? "true" : "false"))
        return -1;
    return 0;
}

static struct field *field_find(struct journey_state *st, const char *name, int create)
{
    char key[JOURNEY_NAME_MAX + 1];

    copy_name(key, name);
    for (size_t i = 0; i < st->nfields; i++)
        if (strcmp(st->fields[i].name, key) == 0)
            return &st->fields[i];
    if (!create || st->nfields == JOURNEY_MAX_FIELDS)
        return NULL;
    struct field *f = &st->fields[st->nfields++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, key, sizeof(key));
    memcpy(f->step, st->step, sizeof(f->step));
    return f;
}

static int field_record(const struct journey_ctx *c, struct field *f, uint64_t t)
{
    struct buf *o = c->out;

    if (rec_open(c, "field_state", t) || rec_str(o, "step", f->step) ||
        rec_str(o, "field", f->name) || rec_str(o, "state", f->state[0] ? f->state : "unvalidated"))
        return -1;
    if (f->code[0] && rec_str(o, "code", f->code))
        return -1;
    if (buf_printf(o, ",\"filled\":%s,\"edits\":%u,\"time_in_field_ms\":%llu",
                   f->filled ? "true" : "false", f->edits,
                   (unsigned long long)(f->last_t - f->first_t)) ||
        rec_close(o))
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
    if (flush_step_fields(st, c, t) || rec_open(c, "step_leave", t) ||
        rec_str(c->out, "step", st->step) ||
        buf_printf(c->out, ",\"dwell_ms\":%llu",
                   (unsigned long long)(t >= st->step_t ? t - st->step_t : 0)) ||
        rec_close(c->out))
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
    if (rec_open(c, "step_enter", t) || rec_str(c->out, "step", st->step) || rec_cohort(c) ||
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
    snprintf(f->state, sizeof(f->state), "%s", state);
    copy_name(f->code, code ? code : "");
    return field_record(c, f, t);
}

int journey_on_submit(struct journey_state *st, const struct journey_ctx *c, uint64_t t)
{
    touch(st, t);
    if (flush_step_fields(st, c, t) || rec_open(c, "submit", t) ||
        rec_str(c->out, "step", st->step) || rec_close(c->out))
        return -1;
    return 0;
}

int journey_on_complete(struct journey_state *st, const struct journey_ctx *c, uint64_t t)
{
    touch(st, t);
    if (st->complete)
        return 0;
    if (step_leave(st, c, t) || rec_open(c, "complete", t) ||
        buf_printf(c->out, ",\"ttc_ms\":%llu", (unsigned long long)(t - st->first_t)) ||
        rec_cohort(c) || rec_close(c->out))
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
    if (rec_open(c, "abandon", now_ms) || rec_str(c->out, "last_step", st->step) ||
        (f != NULL && rec_str(c->out, "last_field", f->name)) ||
        (f != NULL && rec_str(c->out, "last_state", f->state[0] ? f->state : "unvalidated")) ||
        (f != NULL && f->code[0] && rec_str(c->out, "last_code", f->code)) ||
        buf_printf(c->out, ",\"idle_ms\":%llu", (unsigned long long)(now_ms - st->last_t)) ||
        rec_cohort(c) || rec_close(c->out))
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
