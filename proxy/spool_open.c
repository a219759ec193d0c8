/*
 * spool_open: opening and closing the spool (see spool.h): the key file,
 * the done file, the scan of the segment files, and recovery from a crash
 * (a torn tail cut, a damaged frame kept for peek to report, the segments
 * already done dropped). Apart from spool.c because it runs once, before
 * any put or peek, and is the one part that reads the directory rather than
 * a segment the index already names.
 */
#include "spool_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "crypto/keyfile.h"
#include "spool.h"

#define KEY_BYTES  crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define DONE_ENTRY 16
#define DONE_MAX   4096 /* the done file is compacted past this size */
#define SEG_MIN    ((uint64_t)4 << 10)
#define SEG_MAX    ((uint64_t)16 << 20)

/* ---- the key ---- */

static int key_create(struct spool *s, const char *path, struct err *err)
{
    s->key = sodium_malloc(KEY_BYTES);
    if (s->key == NULL)
        return err_set(err, "%s: cannot allocate guarded memory", path);
    randombytes_buf(s->key, KEY_BYTES);
    if (keyfile_write(path, s->key, KEY_BYTES, 0600, err) != 0)
        return -1;
    return spool_dir_sync(s, err);
}

/* Load or create <dir>/spool.key; keyfile refuses a key others can read. */
static int key_load(struct spool *s, struct err *err)
{
    char path[PATH_MAX_];
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/spool.key", s->dir);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        if (key_create(s, path, err) != 0)
            return -1;
    } else {
        if (keyfile_read_secret(path, KEY_BYTES, &s->key, &len, err) != 0)
            return -1;
        if (len != KEY_BYTES)
            return err_set(err, "%s: %zu bytes, a spool key is %d", path, len, (int)KEY_BYTES);
    }
    sodium_mprotect_noaccess(s->key);
    return 0;
}

/* ---- the done file: 16-byte entries, seq and its complement ---- */

static int done_load(struct spool *s, struct err *err)
{
    uint8_t e[DONE_ENTRY];
    struct stat st;

    s->donefd = openat(s->dirfd, "done", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->donefd < 0 || fstat(s->donefd, &st) != 0)
        return err_set(err, "spool %s/done: %s", s->dir, strerror(errno));
    s->done_bytes = (uint64_t)st.st_size / DONE_ENTRY * DONE_ENTRY; /* a torn entry is dropped */
    for (uint64_t off = 0; off < s->done_bytes; off += DONE_ENTRY) {
        uint64_t v;
        if (spool_io_pread(s->donefd, e, DONE_ENTRY, off) != 0)
            return err_set(err, "spool %s/done: read failed", s->dir);
        v = spool_get_le64(e);
        if (spool_get_le64(e + 8) == ~v && v > s->done)
            s->done = v;
    }
    if ((uint64_t)st.st_size != s->done_bytes && ftruncate(s->donefd, (off_t)s->done_bytes) != 0)
        return err_set(err, "spool %s/done: %s", s->dir, strerror(errno));
    return 0;
}

/* Rewrite the done file as its one newest entry (write, fsync, rename). */
static void done_compact(struct spool *s)
{
    uint8_t e[DONE_ENTRY];
    int fd =
        openat(s->dirfd, "done.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct err err;

    spool_put_le64(e, s->done);
    spool_put_le64(e + 8, ~s->done);
    if (fd < 0 || spool_io_pwrite(fd, e, DONE_ENTRY, 0) != 0 || fsync(fd) != 0 ||
        renameat(s->dirfd, "done.tmp", s->dirfd, "done") != 0) {
        log_warn("spool %s: cannot compact the done file: %s", s->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(s->donefd);
    s->donefd = fd;
    s->done_bytes = DONE_ENTRY;
    err_clear(&err);
    if (spool_dir_sync(s, &err) != 0)
        log_warn("%s", err.msg);
}

int spool_done_append(struct spool *s, uint64_t seq, struct err *err)
{
    uint8_t e[DONE_ENTRY];

    spool_put_le64(e, seq);
    spool_put_le64(e + 8, ~seq);
    if (spool_io_pwrite(s->donefd, e, DONE_ENTRY, s->done_bytes) != 0 || fsync(s->donefd) != 0)
        return err_set(err, "spool %s/done: %s", s->dir, strerror(errno));
    s->done_bytes += DONE_ENTRY;
    if (s->done_bytes >= DONE_MAX)
        done_compact(s);
    return 0;
}

/* ---- opening: scan, cut a torn tail, find the oldest pending frame ---- */

enum scan_end { SCAN_CLEAN, SCAN_TORN, SCAN_MALFORMED };

/* Walk the frame headers of a segment: how many are well-formed and in
 * sequence, where they end, and why the walk stopped. */
static int seg_scan(int fd, struct seg *g, uint64_t size, uint64_t *good_end, enum scan_end *end)
{
    uint8_t raw[HDR_BYTES];
    struct frame_hdr h;

    *good_end = 0;
    *end = SCAN_CLEAN;
    while (*good_end < size) {
        if (size - *good_end < HDR_BYTES) {
            *end = SCAN_TORN;
            break;
        }
        if (spool_io_pread(fd, raw, HDR_BYTES, *good_end) != 0)
            return -1;
        if (spool_hdr_decode(raw, &h) != 0 || h.seq != g->first + g->count) {
            *end = SCAN_MALFORMED;
            break;
        }
        if (h.len > size - *good_end) {
            *end = SCAN_TORN;
            break;
        }
        *good_end += h.len;
        g->count++;
    }
    return 0;
}

/* 1 when the bytes from off to size are all zero (a file system may leave
 * a crashed append as zeros), 0 when not, -1 on a read error. */
static int zeros_from(int fd, uint64_t off, uint64_t size)
{
    uint8_t b[4096];

    while (off < size) {
        size_t n = size - off < sizeof(b) ? (size_t)(size - off) : sizeof(b);
        if (spool_io_pread(fd, b, n, off) != 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (b[i] != 0)
                return 0;
        off += n;
    }
    return 1;
}

/* A crash can only tear the newest segment (the others were fsync'd when
 * it was started), and only as a frame cut short or zeros: that tail was
 * never synced, so never acknowledged, and is cut. Anything else is damage,
 * kept for peek to report when it gets there. */
static int seg_is_torn(int fd, int last, enum scan_end end, const struct seg *g)
{
    if (!last || end == SCAN_CLEAN)
        return 0;
    return end == SCAN_TORN ? 1 : zeros_from(fd, g->good, g->bytes);
}

/* Index one segment: count its frames, cut a torn tail. */
static int seg_index(struct spool *s, size_t i, struct err *err)
{
    struct seg *g = &s->segs[i];
    int last = i + 1 == s->nsegs;
    char path[PATH_MAX_];
    uint64_t good;
    enum scan_end end;
    struct stat st;
    int fd, torn;

    spool_seg_path(s, g->first, path, sizeof(path));
    fd = open(path, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || seg_scan(fd, g, (uint64_t)st.st_size, &good, &end) != 0) {
        err_set(err, "spool %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    g->bytes = (uint64_t)st.st_size;
    g->good = good;
    torn = seg_is_torn(fd, last, end, g);
    if (torn == 1) {
        log_warn("spool %s: cut a torn tail of %" PRIu64 " bytes after item %" PRIu64, path,
                 g->bytes - good, g->first + g->count - 1);
        if (ftruncate(fd, (off_t)good) != 0 || fsync(fd) != 0)
            torn = -1;
        g->bytes = good;
    } else if (torn == 0 && end != SCAN_CLEAN) {
        log_warn("spool %s: damaged frame at offset %" PRIu64 " (item %" PRIu64 ")", path, good,
                 g->first + g->count);
        g->damaged = 1;
    }
    close(fd);
    if (torn < 0)
        return err_set(err, "spool %s: %s", path, strerror(errno));
    s->bytes += g->bytes;
    return 0;
}

static int first_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct seg *)a)->first, y = ((const struct seg *)b)->first;

    return x < y ? -1 : x > y;
}

static int seg_name(const char *name, uint64_t *first)
{
    char *end;

    if (strlen(name) != 22 || strcmp(name + 16, ".spool") != 0 ||
        strspn(name, "0123456789abcdef") != 16)
        return -1;
    *first = strtoull(name, &end, 16);
    return 0;
}

static int seg_list(struct spool *s, struct err *err)
{
    DIR *d = fdopendir(dup(s->dirfd));
    struct dirent *de;
    uint64_t first;

    if (d == NULL)
        return err_set(err, "spool %s: %s", s->dir, strerror(errno));
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (seg_name(de->d_name, &first) == 0 && spool_seg_push(s, first) != 0)
            break;
        errno = 0;
    }
    closedir(d);
    if (de != NULL || errno != 0)
        return err_set(err, "spool %s: cannot list the directory", s->dir);
    if (s->nsegs > 1)
        qsort(s->segs, s->nsegs, sizeof(*s->segs), first_cmp);
    return 0;
}

/* Index the segments newest first: a newest segment left empty (a crash
 * right after it was created, or its one frame torn) is removed, and the one
 * before it is then the newest. */
static int seg_index_all(struct spool *s, struct err *err)
{
    while (s->nsegs > 0) {
        struct seg *g = &s->segs[s->nsegs - 1];
        char path[PATH_MAX_];

        if (seg_index(s, s->nsegs - 1, err) != 0)
            return -1;
        if (g->bytes > 0)
            break;
        spool_seg_path(s, g->first, path, sizeof(path));
        if (unlink(path) != 0)
            return err_set(err, "spool %s: %s", path, strerror(errno));
        s->nsegs--;
    }
    for (size_t i = 0; i + 1 < s->nsegs; i++)
        if (seg_index(s, i, err) != 0)
            return -1;
    return 0;
}

/* The offset of the oldest pending frame in segs[0]. */
static int seg_seek(struct spool *s, struct err *err)
{
    char path[PATH_MAX_];
    uint8_t raw[HDR_BYTES];
    struct frame_hdr h;
    int fd;

    s->roff = 0;
    spool_seg_path(s, s->segs[0].first, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return err_set(err, "spool %s: %s", path, strerror(errno));
    for (uint64_t k = 0; k < s->segs[0].count && s->segs[0].first + k <= s->done; k++) {
        if (spool_io_pread(fd, raw, HDR_BYTES, s->roff) != 0 || spool_hdr_decode(raw, &h) != 0) {
            close(fd);
            return err_set(err, "spool %s: changed while opening", path);
        }
        s->roff += h.len;
    }
    s->rfd = fd;
    return 0;
}

/* Drop the segments that are all done, count what is pending, and pick the
 * next sequence number: past everything on disk and everything done. */
static int spool_settle(struct spool *s, struct err *err)
{
    while (s->nsegs > 0 && spool_seg_all_done(s, 0))
        if (spool_seg_drop_oldest(s, err) != 0)
            return -1;
    s->next_seq = s->done + 1;
    if (s->nsegs > 0 && spool_seg_last(s, s->nsegs - 1) >= s->next_seq)
        s->next_seq = spool_seg_last(s, s->nsegs - 1) + 1;
    for (size_t i = 0; i < s->nsegs; i++) {
        const struct seg *g = &s->segs[i];
        uint64_t done_here = s->done >= g->first ? s->done - g->first + 1 : 0;
        s->items += g->count > done_here ? g->count - done_here : 0;
    }
    return s->nsegs > 0 ? seg_seek(s, err) : 0;
}

static int spool_dir_open(struct spool *s, const char *dir, struct err *err)
{
    if (strlen(dir) >= sizeof(s->dir))
        return err_set(err, "spool %s: path too long", dir);
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(err, "spool %s: %s", dir, strerror(errno));
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return err_set(err, "spool %s: %s", dir, strerror(errno));
    if (flock(s->dirfd, LOCK_EX | LOCK_NB) != 0)
        return err_set(err, "spool %s: in use by another process", dir);
    unlinkat(s->dirfd, "done.tmp", 0); /* a compaction a crash interrupted */
    return 0;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes, struct err *err)
{
    struct spool *s;

    if (keyfile_crypto_init() != 0) {
        err_set(err, "spool %s: libsodium failed to start", dir);
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    if (s == NULL) {
        err_set(err, "spool %s: out of memory", dir);
        return NULL;
    }
    s->dirfd = s->wfd = s->rfd = s->donefd = -1;
    s->max_bytes = max_bytes;
    s->seg_target = max_bytes / 8 < SEG_MIN   ? SEG_MIN
                    : max_bytes / 8 > SEG_MAX ? SEG_MAX
                                              : max_bytes / 8;
    pthread_mutex_init(&s->mu, NULL);
    if (spool_dir_open(s, dir, err) != 0 || key_load(s, err) != 0 || done_load(s, err) != 0 ||
        seg_list(s, err) != 0 || seg_index_all(s, err) != 0 || spool_settle(s, err) != 0) {
        spool_close(s);
        return NULL;
    }
    return s;
}

void spool_close(struct spool *s)
{
    if (s == NULL)
        return;
    if (s->wfd >= 0) {
        if (s->unsynced && fsync(s->wfd) != 0)
            log_warn("spool %s: fsync on close: %s", s->dir, strerror(errno));
        close(s->wfd);
    }
    if (s->dir_unsynced && s->dirfd >= 0)
        fsync(s->dirfd);
    if (s->rfd >= 0)
        close(s->rfd);
    if (s->donefd >= 0)
        close(s->donefd);
    if (s->dirfd >= 0)
        close(s->dirfd); /* releases the flock */
    if (s->key != NULL)
        sodium_free(s->key); /* wipes first */
    xfree(s->segs);
    pthread_mutex_destroy(&s->mu);
    xfree(s);
}
