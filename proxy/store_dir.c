/*
 * The store's files: names and days, directory listing and syncing, crash
 * recovery, whole-day removal, and the walk readers use. The writers are in
 * store.c.
 */
#include "store_impl.h"

#include "common/log.h"
#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS_PER_DAY 86400000ull
#define SEG_DIGITS 16
#define WALK_DEPTH 3

/* Civil date <-> day number, proleptic Gregorian (H. Hinnant, "chrono-
 * compatible low-level date algorithms"). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t store_ms_day(uint64_t ms)
{
    return (int64_t)(ms / MS_PER_DAY);
}

static void day_format(int64_t day, char out[STORE_DAY_LEN + 1])
{
    char tmp[64];
    int64_t y;
    unsigned m, d;

    civil_from_days(day, &y, &m, &d);
    snprintf(tmp, sizeof(tmp), "%04lld-%02u-%02u", (long long)y, m, d);
    memcpy(out, tmp, STORE_DAY_LEN); /* years past 9999 never reach a name */
    out[STORE_DAY_LEN] = '\0';
}

void store_day_name(uint64_t ms, char out[STORE_DAY_LEN + 1])
{
    day_format(store_ms_day(ms), out);
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static unsigned num(const char *s, size_t n)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    return v;
}

int64_t store_day_number(const char *name)
{
    return days_from_civil(num(name, 4), num(name + 5, 2), num(name + 8, 2));
}

/* A day name is valid when it is the canonical name of its own day number:
 * that rejects month 13, February 30 and every other near miss. */
int store_is_day(const char *name)
{
    char again[STORE_DAY_LEN + 1];
    unsigned m, d;

    if (strlen(name) != STORE_DAY_LEN || name[4] != '-' || name[7] != '-' || !digits(name, 4) ||
        !digits(name + 5, 2) || !digits(name + 8, 2))
        return 0;
    m = num(name + 5, 2);
    d = num(name + 8, 2);
    if (m < 1 || m > 12 || d < 1 || d > 31 || num(name, 4) < 1970)
        return 0;
    day_format(store_day_number(name), again);
    return strcmp(name, again) == 0;
}

int store_is_segment(const char *name)
{
    return strlen(name) == SEG_DIGITS + 4 && digits(name, SEG_DIGITS) &&
           strcmp(name + SEG_DIGITS, ".seg") == 0;
}

int store_is_tenant(const char *name)
{
    return seal_tenant_valid(name);
}

int store_place_parse(const char *path, struct store_place *out)
{
    const char *end = path + strlen(path), *cut[3];
    size_t tlen;

    for (int i = 0; i < 3; i++) {
        const char *p = end;
        while (p > path && p[-1] != '/')
            p--;
        cut[i] = p;
        if (i == 2)
            break;
        if (p == path)
            return 0;
        end = p - 1;
    }
    /* cut[0]: file name, cut[1]: day, cut[2]: tenant (each ends at a '/'). */
    tlen = (size_t)(cut[1] - 1 - cut[2]);
    if (!store_is_segment(cut[0]) || (size_t)(cut[0] - 1 - cut[1]) != STORE_DAY_LEN || tlen == 0 ||
        tlen > SEAL_TENANT_MAX)
        return 0;
    memcpy(out->day, cut[1], STORE_DAY_LEN);
    out->day[STORE_DAY_LEN] = '\0';
    memcpy(out->tenant, cut[2], tlen);
    out->tenant[tlen] = '\0';
    if (!store_is_day(out->day) || !store_is_tenant(out->tenant))
        return 0;
    out->created_ms = strtoull(cut[0], NULL, 10);
    return 1;
}

int store_place_check(const char *path, const struct seal_header *h, struct err *err)
{
    struct store_place pl;
    char day[STORE_DAY_LEN + 1];

    if (!store_place_parse(path, &pl))
        return 0;
    if (strcmp(pl.tenant, h->tenant) != 0)
        return err_set(err,
                       "header: segment of tenant \"%s\" in tenant \"%s\"'s directory "
                       "(moved from another tenant?)",
                       h->tenant, pl.tenant);
    store_day_name(h->created_ms, day);
    if (pl.created_ms != h->created_ms || strcmp(pl.day, day) != 0)
        return err_set(err,
                       "header: created %llu (%s), which is not this file's name or day "
                       "(segment renamed or moved)",
                       (unsigned long long)h->created_ms, day);
    return 0;
}

int store_path(char *out, struct err *err, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, STORE_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= STORE_PATH_MAX)
        return err_set(err, "store: path too long");
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_names_free(struct store_names *n)
{
    for (size_t i = 0; i < n->n; i++)
        xfree(n->v[i]);
    xfree(n->v);
    n->v = NULL;
    n->n = 0;
}

/* -1 with errno: EFBIG past the cap, ENOMEM under the allocation hook. */
static int list_add(struct store_names *out, size_t *cap, const char *name)
{
    char **v, *copy;

    if (out->n == STORE_LIST_MAX) {
        errno = EFBIG;
        return -1;
    }
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        if ((v = xrealloc(out->v, ncap * sizeof(*v))) == NULL)
            goto nomem;
        out->v = v;
        *cap = ncap;
    }
    if ((copy = xstrdup(name)) == NULL)
        goto nomem;
    out->v[out->n++] = copy;
    return 0;
nomem:
    errno = ENOMEM;
    return -1;
}

int store_list(const char *dir, int (*keep)(const char *name), int missing_ok,
               struct store_names *out, struct err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;

    out->v = NULL;
    out->n = 0;
    if (d == NULL)
        return missing_ok && errno == ENOENT ? 0 : err_set(err, "%s: %s", dir, strerror(errno));
    while ((errno = 0, e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || (keep != NULL && n[0] == '.') ||
            (keep != NULL && !keep(n)))
            continue;
        if (list_add(out, &cap, n) != 0)
            break;
    }
    if (errno != 0) {
        err_set(err, "%s: %s", dir, strerror(errno));
        closedir(d);
        store_names_free(out);
        return -1;
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), name_cmp);
    return 0;
}

int store_dir_sync(const char *dir, struct err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

    if (fd < 0)
        return err_set(err, "%s: %s", dir, strerror(errno));
    r = fsync(fd);
    close(fd);
    return r == 0 ? 0 : err_set(err, "%s: fsync: %s", dir, strerror(errno));
}

int store_mkdir(const char *parent, const char *name, struct err *err)
{
    char path[STORE_PATH_MAX];
    struct stat st;

    if (store_path(path, err, "%s/%s", parent, name) != 0)
        return -1;
    if (mkdir(path, 0700) == 0)
        return store_dir_sync(parent, err);
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return err_set(err, "%s: %s", path, strerror(errno == EEXIST ? ENOTDIR : errno));
}

static int write_at(int fd, const char *p, size_t n, off_t at)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        at += w;
    }
    return 0;
}

/* Cut at good_end and append the recovery marker, then fsync. */
static int recover_close(const char *path, const struct seal_scan *sc, struct err *err)
{
    struct buf b;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW), r = -1;

    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    buf_init(&b, 64);
    if (seal_recovered_frame(sc->records, &b) != 0)
        err_set(err, "%s: cannot build a recovery marker", path);
    else if (ftruncate(fd, (off_t)sc->good_end) != 0 ||
             write_at(fd, b.data, b.len, (off_t)sc->good_end) != 0 || fsync(fd) != 0)
        err_set(err, "%s: %s", path, strerror(errno));
    else
        r = 0;
    buf_free(&b);
    if (close(fd) != 0 && r == 0)
        r = err_set(err, "%s: %s", path, strerror(errno));
    return r;
}

/* A file a crash left before its header was whole holds nothing that was
 * acknowledged: remove it rather than leave a segment no reader accepts. */
static int recover_remove(const char *path, struct err *err)
{
    char dir[STORE_PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (unlink(path) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    if (slash == NULL)
        return store_dir_sync(".", err);
    if (store_path(dir, err, "%.*s", (int)(slash - path), path) != 0)
        return -1;
    return store_dir_sync(dir, err);
}

int store_recover_segment(const char *path, struct store_stats *st, struct err *err)
{
    struct seal_scan sc;
    struct stat fst;
    struct err why;
    FILE *f = fopen(path, "rbe");
    int r;

    if (f == NULL)
        return err_set(err, "%s: %s", path, strerror(errno));
    err_clear(&why);
    r = fstat(fileno(f), &fst) == 0 ? seal_scan(f, &sc, &why) : err_set(&why, "stat failed");
    fclose(f);
    if (r != 0)
        return err_set(err, "%s: %s; move it out of the store", path, why.msg);
    if (sc.good_end == 0)
        return recover_remove(path, err);
    if (sc.closed)
        return 0;
    if (recover_close(path, &sc, err) != 0)
        return -1;
    st->segments_recovered++;
    st->torn_bytes_cut += (uint64_t)fst.st_size - sc.good_end;
    log_info("store: recovered %s: %llu records kept, %llu torn bytes cut", path,
             (unsigned long long)sc.records,
             (unsigned long long)((uint64_t)fst.st_size - sc.good_end));
    return 0;
}

int store_remove_day(const char *tenant_dir, const char *day, unsigned *files, struct err *err)
{
    char dir[STORE_PATH_MAX], path[STORE_PATH_MAX];
    struct store_names n;
    int r = 0;

    *files = 0;
    if (store_path(dir, err, "%s/%s", tenant_dir, day) != 0 ||
        store_list(dir, NULL, 0, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n.n && r == 0; i++) {
        if (store_path(path, err, "%s/%s", dir, n.v[i]) != 0)
            r = -1;
        else if (unlink(path) != 0)
            r = err_set(err, "%s: %s", path, strerror(errno));
        else
            *files += store_is_segment(n.v[i]);
    }
    store_names_free(&n);
    if (r == 0 && rmdir(dir) != 0)
        r = err_set(err, "%s: %s", dir, strerror(errno));
    return r == 0 ? store_dir_sync(tenant_dir, err) : -1;
}

static int walk_seg_or_dir(const char *name)
{
    return name[0] != '.';
}

static int seg_suffix(const char *path)
{
    size_t n = strlen(path);

    return n > 4 && strcmp(path + n - 4, ".seg") == 0;
}

static int walk(const char *path, int depth, store_segment_fn fn, void *arg, struct err *err)
{
    char sub[STORE_PATH_MAX];
    struct store_names n;
    struct stat st;
    int r = 0;

    if (stat(path, &st) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return depth == 0 || (S_ISREG(st.st_mode) && seg_suffix(path)) ? fn(arg, path) : 0;
    if (depth == WALK_DEPTH || store_list(path, walk_seg_or_dir, 0, &n, err) != 0)
        return depth == WALK_DEPTH ? 0 : -1;
    for (size_t i = 0; i < n.n && r == 0; i++)
        r = store_path(sub, err, "%s/%s", path, n.v[i]) != 0 ? -1
                                                             : walk(sub, depth + 1, fn, arg, err);
    store_names_free(&n);
    return r;
}

int store_walk(const char *path, store_segment_fn fn, void *arg, struct err *err)
{
    return walk(path, 0, fn, arg, err);
}
