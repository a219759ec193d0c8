/*
 * The store's writers: one per tenant, each with at most one open segment
 * and a buffer of sealed frames not yet written. Files, days, recovery and
 * the reader's walk are in store_dir.c.
 */
#include "store_impl.h"

#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A batch is written out (without fsync) once this much is buffered, so a
 * large batch costs bounded memory; durability still waits for the commit. */
#define PENDING_FLUSH (1u << 20)
#define PENDING_MAX   (PENDING_FLUSH + 2 * SEAL_FRAME_MAX + SEAL_HEADER_BYTES)
#define OPEN_TRIES    1000

struct writer {
    char tenant[SEAL_TENANT_MAX + 1];
    struct seal_writer *seal; /* NULL: no open segment */
    int fd;
    char path[STORE_PATH_MAX];
    char key_id[KEYS_ID_HEX + 1];
    uint64_t created_ms; /* of the newest segment, open or not; 0: none */
    int64_t day;         /* day number of the open segment */
    uint64_t written;    /* bytes in the file */
    int unsynced;        /* written since the last fsync */
    int new_file;        /* its directory entry is not fsync'd yet */
    struct buf pending;
};

struct store {
    char *dir;
    uint64_t max_bytes, max_age_ms;
    struct writer **w;
    size_t nw, capw;
    int batch_failed; /* an append lost buffered records: fail the commit */
    struct store_stats st;
};

static struct writer *writer_find(struct store *s, const char *tenant)
{
    for (size_t i = 0; i < s->nw; i++)
        if (strcmp(s->w[i]->tenant, tenant) == 0)
            return s->w[i];
    return NULL;
}

/* tenant is valid (seal_tenant_valid), so it fits. NULL only when an
 * allocation failed under the test hook (common/mem.h). */
static struct writer *writer_get(struct store *s, const char *tenant)
{
    struct writer *w = writer_find(s, tenant), **nw;

    if (w != NULL)
        return w;
    if (s->nw == s->capw) {
        size_t cap = s->capw ? 2 * s->capw : 8;
        if ((nw = xrealloc(s->w, cap * sizeof(*nw))) == NULL)
            return NULL;
        s->w = nw;
        s->capw = cap;
    }
    if ((w = xcalloc(1, sizeof(*w))) == NULL)
        return NULL;
    memcpy(w->tenant, tenant, strlen(tenant) + 1);
    w->fd = -1;
    buf_init(&w->pending, PENDING_MAX);
    s->w[s->nw++] = w;
    return w;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errno = r == 0 ? EIO : errno;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int segment_flush(struct writer *w, struct err *err)
{
    if (w->pending.len == 0)
        return 0;
    if (write_all(w->fd, w->pending.data, w->pending.len) != 0)
        return err_set(err, "%s: write: %s", w->path, strerror(errno));
    w->written += w->pending.len;
    w->unsynced = 1;
    buf_reset(&w->pending);
    return 0;
}

/* Durable: the frames, and for a new file its name in the day directory. */
static int segment_sync(struct writer *w, struct err *err)
{
    char dir[STORE_PATH_MAX];
    const char *slash = strrchr(w->path, '/');

    if (segment_flush(w, err) != 0)
        return -1;
    if (w->unsynced && fsync(w->fd) != 0)
        return err_set(err, "%s: fsync: %s", w->path, strerror(errno));
    w->unsynced = 0;
    if (w->new_file) {
        if (store_path(dir, err, "%.*s", (int)(slash - w->path), w->path) != 0 ||
            store_dir_sync(dir, err) != 0)
            return -1;
        w->new_file = 0;
    }
    return 0;
}

static void segment_drop(struct writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    seal_writer_free(w->seal);
    w->seal = NULL;
    buf_reset(&w->pending);
}

/* After a failed write or fsync the file is not written again (after a
 * failed fsync the kernel may have dropped dirty pages: retrying could
 * report success for data that is gone). It is repaired like a crashed one.
 * When records of the current batch were lost with it, the batch fails, so
 * nothing in it is acknowledged. */
static void segment_abandon(struct store *s, struct writer *w, int batch_lost)
{
    struct err e;

    segment_drop(w);
    s->batch_failed |= batch_lost;
    err_clear(&e);
    if (store_recover_segment(w->path, &s->st, &e) != 0)
        log_warn("store: abandoned segment left unfinished: %s", e.msg);
}

static int segment_close(struct store *s, struct writer *w, struct err *err)
{
    if (seal_writer_finish(w->seal, &w->pending, err) != 0 || segment_sync(w, err) != 0)
        return -1;
    if (close(w->fd) != 0) {
        w->fd = -1;
        return err_set(err, "%s: close: %s", w->path, strerror(errno));
    }
    w->fd = -1;
    segment_drop(w);
    s->st.segments_closed++;
    return 0;
}

/* Create the next segment file: its creation time is strictly after the
 * tenant's previous one, so its name is new and sorts last. */
static int segment_create(struct store *s, struct writer *w, uint64_t now, struct err *err)
{
    char tdir[STORE_PATH_MAX], day[STORE_DAY_LEN + 1];
    uint64_t t = now > w->created_ms ? now : w->created_ms + 1;

    if (store_mkdir(s->dir, w->tenant, err) != 0 ||
        store_path(tdir, err, "%s/%s", s->dir, w->tenant) != 0)
        return -1;
    for (int i = 0; i < OPEN_TRIES; i++, t++) {
        store_day_name(t, day);
        if (store_mkdir(tdir, day, err) != 0 ||
            store_path(w->path, err, "%s/%s/%016llu.seg", tdir, day, (unsigned long long)t) != 0)
            return -1;
        w->fd =
            open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (w->fd >= 0) {
            w->created_ms = t;
            w->day = store_ms_day(t);
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    return err_set(err, "%s: %s", w->path, strerror(errno));
}

static int segment_open(struct store *s, struct writer *w, const struct keys_public *pk,
                        uint64_t now, struct err *err)
{
    if (segment_create(s, w, now, err) != 0)
        return -1;
    w->seal = seal_writer_new(w->tenant, pk, w->created_ms, err);
    if (w->seal == NULL ||
        buf_append(&w->pending, seal_writer_header(w->seal), SEAL_HEADER_BYTES) != 0) {
        segment_drop(w);
        if (unlink(w->path) != 0)
            log_warn("store: cannot remove empty segment %s", w->path);
        return err_set(err, "%s: cannot start a segment", w->path);
    }
    memcpy(w->key_id, pk->id, sizeof(w->key_id));
    w->written = 0;
    w->new_file = 1;
    s->st.segments_opened++;
    return 0;
}

/* Age and day rotation apply to idle segments too (store_tick); size and key
 * only matter when a record is about to be added. A clock that went back
 * never rotates: only a later day does. */
static int rotation_due_idle(const struct store *s, const struct writer *w, uint64_t now)
{
    uint64_t age = now > w->created_ms ? now - w->created_ms : 0;

    return store_ms_day(now) > w->day || age >= s->max_age_ms;
}

static int rotation_due(const struct store *s, const struct writer *w, const char *key_id, size_t n,
                        uint64_t now)
{
    uint64_t next = w->written + w->pending.len + SEAL_FRAME_HEAD + 40 + n + SEAL_FRAME_CHECK;

    return rotation_due_idle(s, w, now) || strcmp(w->key_id, key_id) != 0 ||
           (seal_writer_count(w->seal) > 0 && next > s->max_bytes);
}

/* Make sure w has an open segment fit for a record of n bytes. */
static int segment_ready(struct store *s, struct writer *w, const struct keys_public *pk, size_t n,
                         uint64_t now, struct err *err)
{
    if (w->seal != NULL && rotation_due(s, w, pk->id, n, now) && segment_close(s, w, err) != 0) {
        segment_abandon(s, w, 1);
        return -1;
    }
    if (w->seal == NULL && segment_open(s, w, pk, now, err) != 0)
        return -1;
    if (w->pending.len >= PENDING_FLUSH && segment_flush(w, err) != 0) {
        segment_abandon(s, w, 1);
        return -1;
    }
    return 0;
}

int store_append(struct store *s, const char *tenant, const struct keys_public *pk, const void *rec,
                 size_t n, uint64_t now_ms, struct err *err)
{
    struct writer *w;

    if (!seal_tenant_valid(tenant))
        return err_set(err, "store: invalid tenant id");
    if (n > SEAL_RECORD_MAX)
        return err_set(err, "store: record of %zu bytes is over the %u-byte limit", n,
                       SEAL_RECORD_MAX);
    if (now_ms > STORE_MS_MAX)
        return err_set(err, "store: time %llu is past the year 9999", (unsigned long long)now_ms);
    w = writer_get(s, tenant);
    if (w == NULL)
        return err_set(err, "store: out of memory");
    if (segment_ready(s, w, pk, n, now_ms, err) != 0)
        return -1;
    return seal_writer_append(w->seal, rec, n, &w->pending, err);
}

/* A segment full or old enough is closed right after the batch that made it
 * so. Its records are durable by then: a failure to close only leaves it to
 * recovery and does not fail the commit. */
static void commit_rotate(struct store *s, struct writer *w, uint64_t now)
{
    struct err e;

    if (!rotation_due_idle(s, w, now) && w->written < s->max_bytes)
        return;
    err_clear(&e);
    if (segment_close(s, w, &e) != 0) {
        log_warn("store: cannot close a full segment: %s", e.msg);
        segment_abandon(s, w, 0);
    }
}

int store_commit(struct store *s, uint64_t now_ms, struct err *err)
{
    int r = 0;

    for (size_t i = 0; i < s->nw; i++) {
        struct writer *w = s->w[i];
        if (w->seal == NULL)
            continue;
        if (segment_sync(w, err) != 0) {
            segment_abandon(s, w, 1);
            r = -1;
        } else {
            commit_rotate(s, w, now_ms);
        }
    }
    if (s->batch_failed) {
        s->batch_failed = 0;
        return err_set(err, "store: a write of this batch failed; it is not durable");
    }
    if (r == 0)
        s->st.commits++;
    return r;
}

int store_tick(struct store *s, uint64_t now_ms, struct err *err)
{
    int r = 0;

    for (size_t i = 0; i < s->nw; i++) {
        struct writer *w = s->w[i];
        if (w->seal == NULL || w->pending.len != 0 || w->unsynced || w->new_file ||
            !rotation_due_idle(s, w, now_ms))
            continue;
        if (segment_close(s, w, err) != 0) {
            segment_abandon(s, w, 0); /* its records were durable already */
            r = -1;
        }
    }
    return r;
}

/* The store directory itself, made on first start. */
static int root_make(const char *dir, struct err *err)
{
    char parent[STORE_PATH_MAX];
    const char *slash = strrchr(dir, '/');
    struct stat st;

    if (mkdir(dir, 0700) != 0) {
        if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return err_set(err, "%s: %s", dir, strerror(errno == EEXIST ? ENOTDIR : errno));
    }
    if (slash == NULL)
        return store_dir_sync(".", err);
    if (slash == dir)
        return store_dir_sync("/", err);
    if (store_path(parent, err, "%.*s", (int)(slash - dir), dir) != 0)
        return -1;
    return store_dir_sync(parent, err);
}

static const char *names_last(const struct store_names *n)
{
    return n->n > 0 ? n->v[n->n - 1] : NULL;
}

static int recover_newest(struct store *s, const char *tenant, const char *ddir, const char *name,
                          struct err *err)
{
    char seg[STORE_PATH_MAX];
    struct writer *w = writer_get(s, tenant);

    if (w == NULL)
        return err_set(err, "store: out of memory");
    w->created_ms = strtoull(name, NULL, 10);
    if (store_path(seg, err, "%s/%s", ddir, name) != 0)
        return -1;
    return store_recover_segment(seg, &s->st, err);
}

/* Only a tenant's newest segment can have been open at a crash: a segment
 * is closed before the next one is made. Its time also seeds the next
 * segment's, which must sort after it. */
static int recover_tenant(struct store *s, const char *tenant, struct err *err)
{
    char tdir[STORE_PATH_MAX], ddir[STORE_PATH_MAX];
    struct store_names days, segs = {NULL, 0};
    const char *day;
    int r = 0;

    if (store_path(tdir, err, "%s/%s", s->dir, tenant) != 0 ||
        store_list(tdir, store_is_day, 0, &days, err) != 0)
        return -1;
    day = names_last(&days);
    if (day != NULL) {
        r = -1;
        if (store_path(ddir, err, "%s/%s", tdir, day) == 0 &&
            store_list(ddir, store_is_segment, 0, &segs, err) == 0)
            r = names_last(&segs) == NULL ? 0
                                          : recover_newest(s, tenant, ddir, names_last(&segs), err);
    }
    store_names_free(&segs);
    store_names_free(&days);
    return r;
}

struct store *store_open(const char *dir, uint64_t segment_max_bytes, unsigned segment_max_age_s,
                         struct err *err)
{
    struct store *s = xcalloc(1, sizeof(*s));
    struct store_names tenants = {NULL, 0};
    int r;

    if (s == NULL || (s->dir = xstrdup(dir)) == NULL) {
        xfree(s);
        err_set(err, "store: out of memory");
        return NULL;
    }
    s->max_bytes = segment_max_bytes;
    s->max_age_ms = (uint64_t)segment_max_age_s * 1000;
    r = root_make(dir, err) == 0 ? store_list(dir, store_is_tenant, 0, &tenants, err) : -1;
    for (size_t i = 0; i < tenants.n && r == 0; i++)
        r = recover_tenant(s, tenants.v[i], err);
    store_names_free(&tenants);
    if (r != 0) {
        store_free(s);
        return NULL;
    }
    return s;
}

int store_sweep(struct store *s, const char *tenant, unsigned retention_days, uint64_t now_ms,
                store_day_fn fn, void *arg, struct err *err)
{
    char tdir[STORE_PATH_MAX];
    struct store_names days;
    struct writer *w = writer_find(s, tenant);
    int64_t today = store_ms_day(now_ms);
    unsigned files;
    int r = 0;

    if (!seal_tenant_valid(tenant))
        return err_set(err, "store: invalid tenant id");
    if (store_path(tdir, err, "%s/%s", s->dir, tenant) != 0 ||
        store_list(tdir, store_is_day, 1, &days, err) != 0)
        return -1;
    for (size_t i = 0; i < days.n && r == 0; i++) {
        int64_t d = store_day_number(days.v[i]);
        if (today - d <= (int64_t)retention_days)
            continue;
        if (w != NULL && w->seal != NULL && w->day == d && segment_close(s, w, err) != 0)
            segment_abandon(s, w, 1);
        r = store_remove_day(tdir, days.v[i], &files, err);
        if (r == 0) {
            s->st.days_deleted++;
            if (fn != NULL)
                fn(arg, tenant, days.v[i], files);
        }
    }
    store_names_free(&days);
    return r;
}

void store_stats(const struct store *s, struct store_stats *out)
{
    *out = s->st;
}

int store_close(struct store *s, struct err *err)
{
    int r = 0;

    if (s == NULL)
        return 0;
    for (size_t i = 0; i < s->nw; i++) {
        struct writer *w = s->w[i];
        if (w->seal != NULL && segment_close(s, w, err) != 0) {
            segment_abandon(s, w, 1);
            r = -1;
        }
    }
    store_free(s);
    return r;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nw; i++) {
        segment_drop(s->w[i]);
        buf_free(&s->w[i]->pending);
        xfree(s->w[i]);
    }
    xfree(s->w);
    xfree(s->dir);
    xfree(s);
}
