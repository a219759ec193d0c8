/*
 * spool: the encrypted disk spool (see spool.h for the layout and the
 * promises).
 *
 * Everything in memory is an index over the files: the list of segments
 * (first sequence number, well-formed frame count, size), the newest done
 * sequence number, and the offset of the oldest pending frame in the oldest
 * segment. Frames are read back with pread, so the writer's append and the
 * reader's position never share a file offset.
 */
#include "spool.h"

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

#define KEY_BYTES   crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HDR_BYTES   64
#define NFIELDS     5 /* the NUL-terminated strings before the body */
#define FRAME_MIN   (HDR_BYTES + NFIELDS + SPOOL_ID_LEN + TAG_BYTES)
#define DONE_ENTRY  16
#define DONE_MAX    4096 /* the done file is compacted past this size */
#define SEG_MIN     ((uint64_t)4 << 10)
#define SEG_MAX     ((uint64_t)16 << 20)
#define DIR_MAX     960
#define PATH_MAX_   1024 /* DIR_MAX and a file name */

static const uint8_t frame_magic[4] = {'S', 'P', 'L', '1'};

/* The plaintext header of a frame; all of it is associated data. */
struct frame_hdr {
    uint32_t len; /* whole frame: header, ciphertext, tag */
    uint64_t seq;
    uint32_t flen[NFIELDS]; /* url, content type, headers, request id, tenant */
    uint32_t body_len;
    uint8_t nonce[NONCE_BYTES];
};

struct seg {
    uint64_t first; /* sequence number in the file name */
    uint64_t count; /* well-formed frames */
    uint64_t bytes; /* file size */
    uint64_t good;  /* where the well-formed frames end */
    int damaged;    /* a malformed frame follows the well-formed ones */
};

struct spool {
    pthread_mutex_t mu;
    char dir[DIR_MAX];
    int dirfd; /* holds the flock */
    uint8_t *key;
    uint64_t max_bytes, seg_target;
    struct seg *segs; /* oldest first; the last one is the one written */
    size_t nsegs, segs_cap;
    int wfd;          /* segs[nsegs - 1] open for writing; -1: next put starts a segment */
    int unsynced;     /* wfd was written since its last fsync */
    int dir_unsynced; /* a segment was created since the last directory fsync */
    int broken;       /* a write or fsync failed: no more puts */
    int rfd;          /* segs[0] open for reading, or -1 */
    uint64_t roff;    /* offset in segs[0] of the oldest pending frame */
    int donefd;
    uint64_t done, done_bytes;
    uint64_t next_seq, bytes, items;
};

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint64_t frame_plain_len(const struct frame_hdr *h)
{
    uint64_t n = (uint64_t)h->body_len + NFIELDS;

    for (int i = 0; i < NFIELDS; i++)
        n += h->flen[i];
    return n;
}

static void hdr_encode(const struct frame_hdr *h, uint8_t *p)
{
    memcpy(p, frame_magic, 4);
    put_le32(p + 4, h->len);
    put_le64(p + 8, h->seq);
    for (int i = 0; i < NFIELDS; i++)
        put_le32(p + 16 + 4 * i, h->flen[i]);
    put_le32(p + 36, h->body_len);
    memcpy(p + 40, h->nonce, NONCE_BYTES);
}

/* Decode and check a header's shape: magic, field limits, and a length
 * that matches its fields. -1 when it is not a frame this code writes. */
static int hdr_decode(const uint8_t *p, struct frame_hdr *h)
{
    if (memcmp(p, frame_magic, 4) != 0)
        return -1;
    h->len = get_le32(p + 4);
    h->seq = get_le64(p + 8);
    for (int i = 0; i < NFIELDS; i++)
        if ((h->flen[i] = get_le32(p + 16 + 4 * i)) > SPOOL_FIELD_MAX)
            return -1;
    h->body_len = get_le32(p + 36);
    memcpy(h->nonce, p + 40, NONCE_BYTES);
    if (h->flen[3] != SPOOL_ID_LEN || h->body_len > SPOOL_BODY_MAX)
        return -1;
    return h->len == HDR_BYTES + frame_plain_len(h) + TAG_BYTES ? 0 : -1;
}

static int io_pread(int fd, void *p, size_t n, uint64_t at)
{
    uint8_t *d = p;

    while (n > 0) {
        ssize_t r = pread(fd, d, n, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        d += r;
        n -= (size_t)r;
        at += (uint64_t)r;
    }
    return 0;
}

static int io_pwrite(int fd, const void *p, size_t n, uint64_t at)
{
    const uint8_t *s = p;

    while (n > 0) {
        ssize_t w = pwrite(fd, s, n, (off_t)at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

static void seg_path(const struct spool *s, uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%s/%016" PRIx64 ".spool", s->dir, first);
}

static int dir_sync(struct spool *s, struct err *err)
{
    if (fsync(s->dirfd) != 0)
        return err_set(err, "spool %s: fsync: %s", s->dir, strerror(errno));
    s->dir_unsynced = 0;
    return 0;
}

/* ---- the key ---- */

static int key_create(struct spool *s, const char *path, struct err *err)
{
    s->key = sodium_malloc(KEY_BYTES);
    if (s->key == NULL)
        return err_set(err, "%s: cannot allocate guarded memory", path);
    randombytes_buf(s->key, KEY_BYTES);
    if (keyfile_write(path, s->key, KEY_BYTES, 0600, err) != 0)
        return -1;
    return dir_sync(s, err);
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
        if (io_pread(s->donefd, e, DONE_ENTRY, off) != 0)
            return err_set(err, "spool %s/done: read failed", s->dir);
        v = get_le64(e);
        if (get_le64(e + 8) == ~v && v > s->done)
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

    put_le64(e, s->done);
    put_le64(e + 8, ~s->done);
    if (fd < 0 || io_pwrite(fd, e, DONE_ENTRY, 0) != 0 || fsync(fd) != 0 ||
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
    if (dir_sync(s, &err) != 0)
        log_warn("%s", err.msg);
}

static int done_append(struct spool *s, uint64_t seq, struct err *err)
{
    uint8_t e[DONE_ENTRY];

    put_le64(e, seq);
    put_le64(e + 8, ~seq);
    if (io_pwrite(s->donefd, e, DONE_ENTRY, s->done_bytes) != 0 || fsync(s->donefd) != 0)
        return err_set(err, "spool %s/done: %s", s->dir, strerror(errno));
    s->done_bytes += DONE_ENTRY;
    if (s->done_bytes >= DONE_MAX)
        done_compact(s);
    return 0;
}

/* ---- the segment index ---- */

static int seg_push(struct spool *s, uint64_t first)
{
    if (s->nsegs == s->segs_cap) {
        size_t ncap = s->segs_cap ? s->segs_cap * 2 : 16;
        struct seg *n = xrealloc(s->segs, ncap * sizeof(*n));
        if (n == NULL)
            return -1;
        s->segs = n;
        s->segs_cap = ncap;
    }
    s->segs[s->nsegs++] = (struct seg){.first = first};
    return 0;
}

/* The last sequence number a segment holds: the next one's name says it
 * even when this one is damaged; for a damaged newest segment, the most
 * frames its damaged bytes could hold. */
static uint64_t seg_last(const struct spool *s, size_t i)
{
    const struct seg *g = &s->segs[i];

    if (i + 1 < s->nsegs)
        return s->segs[i + 1].first - 1;
    if (g->damaged)
        return g->first + g->count + (g->bytes - g->good) / FRAME_MIN;
    return g->first + g->count - 1;
}

/* Every item of segment i is done: all its well-formed frames, or, when it
 * is damaged, every number up to where the next one starts. */
static int seg_all_done(const struct spool *s, size_t i)
{
    const struct seg *g = &s->segs[i];

    if (!g->damaged)
        return g->first + g->count - 1 <= s->done;
    return seg_last(s, i) <= s->done;
}

/* Remove segs[0] from the index and the disk. */
static int seg_drop_oldest(struct spool *s, struct err *err)
{
    char path[PATH_MAX_];

    if (s->nsegs == 1 && s->wfd >= 0) {
        close(s->wfd);
        s->wfd = -1;
        s->unsynced = 0;
    }
    if (s->rfd >= 0)
        close(s->rfd);
    s->rfd = -1;
    s->roff = 0;
    seg_path(s, s->segs[0].first, path, sizeof(path));
    s->bytes -= s->segs[0].bytes;
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
    s->nsegs--;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, "spool %s: %s", path, strerror(errno));
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
        if (io_pread(fd, raw, HDR_BYTES, *good_end) != 0)
            return -1;
        if (hdr_decode(raw, &h) != 0 || h.seq != g->first + g->count) {
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
        if (io_pread(fd, b, n, off) != 0)
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

    seg_path(s, g->first, path, sizeof(path));
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
        if (seg_name(de->d_name, &first) == 0 && seg_push(s, first) != 0)
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
        seg_path(s, g->first, path, sizeof(path));
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
    seg_path(s, s->segs[0].first, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return err_set(err, "spool %s: %s", path, strerror(errno));
    for (uint64_t k = 0; k < s->segs[0].count && s->segs[0].first + k <= s->done; k++) {
        if (io_pread(fd, raw, HDR_BYTES, s->roff) != 0 || hdr_decode(raw, &h) != 0) {
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
    while (s->nsegs > 0 && seg_all_done(s, 0))
        if (seg_drop_oldest(s, err) != 0)
            return -1;
    s->next_seq = s->done + 1;
    if (s->nsegs > 0 && seg_last(s, s->nsegs - 1) >= s->next_seq)
        s->next_seq = seg_last(s, s->nsegs - 1) + 1;
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

/* ---- putting ---- */

static int is_hex(const char *p, size_t n)
{
    return strspn(p, "0123456789abcdefABCDEF") == n && p[n] == '\0';
}

/* Check the item against the limits and fill the header's lengths. */
static int item_shape(const struct spool_item *it, struct frame_hdr *h, struct err *err)
{
    static const char *const names[NFIELDS] = {"url", "content type", "headers", "request id",
                                               "tenant"};
    const char *f[NFIELDS] = {it->url, it->content_type, it->headers, it->request_id, it->tenant};

    for (int i = 0; i < NFIELDS; i++) {
        size_t n = f[i] ? strlen(f[i]) : 0;
        if (f[i] == NULL || n > SPOOL_FIELD_MAX)
            return err_set(err, "spool: item %s is missing or over %zu bytes", names[i],
                           SPOOL_FIELD_MAX);
        h->flen[i] = (uint32_t)n;
    }
    if (h->flen[3] != SPOOL_ID_LEN || !is_hex(it->request_id, SPOOL_ID_LEN))
        return err_set(err, "spool: item request id is not %d hex digits", SPOOL_ID_LEN);
    if (it->body_len > SPOOL_BODY_MAX || (it->body_len > 0 && it->body == NULL))
        return err_set(err, "spool: item body is %zu bytes, over %zu", it->body_len,
                       SPOOL_BODY_MAX);
    h->body_len = (uint32_t)it->body_len;
    h->len = (uint32_t)(HDR_BYTES + frame_plain_len(h) + TAG_BYTES);
    return 0;
}

/* Header space, then the fields NUL-terminated, then the body, then room
 * for the tag: encrypted in place once the sequence number is known. */
static int frame_build(const struct spool_item *it, const struct frame_hdr *h, struct buf *f)
{
    const char *fields[NFIELDS] = {it->url, it->content_type, it->headers, it->request_id,
                                   it->tenant};
    char *p = buf_reserve(f, h->len);

    if (p == NULL)
        return -1;
    buf_commit(f, HDR_BYTES);
    for (int i = 0; i < NFIELDS; i++)
        if (buf_append(f, fields[i], h->flen[i] + 1) != 0)
            return -1;
    if (buf_append(f, it->body, it->body_len) != 0)
        return -1;
    return 0;
}

static void frame_seal(struct spool *s, struct frame_hdr *h, struct buf *f)
{
    unsigned long long clen;
    uint8_t *hdr = (uint8_t *)f->data, *m = hdr + HDR_BYTES;

    randombytes_buf(h->nonce, NONCE_BYTES);
    hdr_encode(h, hdr);
    sodium_mprotect_readonly(s->key);
    crypto_aead_xchacha20poly1305_ietf_encrypt(m, &clen, m, f->len - HDR_BYTES, hdr, HDR_BYTES,
                                               NULL, h->nonce, s->key);
    sodium_mprotect_noaccess(s->key);
    buf_commit(f, TAG_BYTES);
}

/* Close the newest segment (fsync'd, so a crash can only tear the one after
 * it) and start a new one named by the next sequence number. */
static int seg_start(struct spool *s, struct err *err)
{
    char path[PATH_MAX_];

    if (s->wfd >= 0) {
        if (s->unsynced && fsync(s->wfd) != 0) {
            s->broken = 1;
            return err_set(err, "spool %s: fsync: %s", s->dir, strerror(errno));
        }
        close(s->wfd);
        s->wfd = -1;
        s->unsynced = 0;
    }
    seg_path(s, s->next_seq, path, sizeof(path));
    if (seg_push(s, s->next_seq) != 0)
        return err_set(err, "spool %s: out of memory", s->dir);
    s->wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->wfd < 0) {
        s->nsegs--;
        return err_set(err, "spool %s: %s", path, strerror(errno));
    }
    s->dir_unsynced = 1;
    return 0;
}

/* Append the sealed frame; a short write is cut back so no torn frame is
 * left in the middle of the file. */
static int frame_write(struct spool *s, const struct buf *f, struct err *err)
{
    struct seg *g = &s->segs[s->nsegs - 1];

    if (io_pwrite(s->wfd, f->data, f->len, g->bytes) != 0) {
        int e = errno;
        if (ftruncate(s->wfd, (off_t)g->bytes) != 0)
            s->broken = 1;
        return err_set(err, "spool %s: write: %s", s->dir, strerror(e));
    }
    g->count++;
    g->bytes += f->len;
    s->bytes += f->len;
    s->items++;
    s->unsynced = 1;
    return 0;
}

static enum spool_result put_locked(struct spool *s, struct frame_hdr *h, struct buf *f,
                                    uint64_t *seq, struct err *err)
{
    struct seg *last = s->nsegs ? &s->segs[s->nsegs - 1] : NULL;

    if (s->broken)
        return err_set(err, "spool %s: an earlier write failed; reopen the spool", s->dir);
    if (h->len > s->max_bytes)
        return err_set(err, "spool %s: item of %" PRIu32 " bytes is larger than the spool", s->dir,
                       h->len);
    if (s->bytes > s->max_bytes - h->len)
        return SPOOL_FULL;
    if ((s->wfd < 0 || (last->count > 0 && last->bytes + h->len > s->seg_target)) &&
        seg_start(s, err) != 0)
        return SPOOL_ERROR;
    h->seq = s->next_seq;
    frame_seal(s, h, f);
    if (frame_write(s, f, err) != 0)
        return SPOOL_ERROR;
    *seq = s->next_seq++;
    return SPOOL_OK;
}

enum spool_result spool_put(struct spool *s, const struct spool_item *it, uint64_t *seq,
                            struct err *err)
{
    struct frame_hdr h;
    struct buf f;
    enum spool_result r;

    if (item_shape(it, &h, err) != 0)
        return SPOOL_ERROR;
    buf_init(&f, h.len);
    if (frame_build(it, &h, &f) != 0) {
        buf_free(&f);
        err_set(err, "spool %s: out of memory", s->dir);
        return SPOOL_ERROR;
    }
    pthread_mutex_lock(&s->mu);
    r = put_locked(s, &h, &f, seq, err);
    pthread_mutex_unlock(&s->mu);
    buf_wipe(&f);
    buf_free(&f);
    return r;
}

int spool_sync(struct spool *s, struct err *err)
{
    int r = 0;

    pthread_mutex_lock(&s->mu);
    if (s->broken) {
        r = err_set(err, "spool %s: an earlier write failed; reopen the spool", s->dir);
    } else if (s->wfd >= 0 && s->unsynced && fsync(s->wfd) != 0) {
        s->broken = 1;
        r = err_set(err, "spool %s: fsync: %s", s->dir, strerror(errno));
    } else {
        s->unsynced = 0;
        if (s->dir_unsynced && dir_sync(s, err) != 0) {
            s->broken = 1;
            r = -1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---- draining ---- */

/* Read and check the header of the oldest pending frame, whose sequence
 * number must be want. */
static int head_header(struct spool *s, uint64_t want, struct frame_hdr *h, uint8_t *raw,
                       struct err *err)
{
    const struct seg *g = &s->segs[0];
    char path[PATH_MAX_];

    seg_path(s, g->first, path, sizeof(path));
    if (want < g->first)
        return err_set(err, "spool %s: items %" PRIu64 " to %" PRIu64 " are missing before it",
                       path, want, g->first - 1);
    if (want >= g->first + g->count)
        return err_set(err, "spool %s: item %" PRIu64 ": %s", path, want,
                       g->damaged ? "damaged frame" : "missing");
    if (s->rfd < 0 && (s->rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return err_set(err, "spool %s: %s", path, strerror(errno));
    if (io_pread(s->rfd, raw, HDR_BYTES, s->roff) != 0 || hdr_decode(raw, h) != 0 || h->seq != want)
        return err_set(err, "spool %s: item %" PRIu64 ": damaged frame header", path, want);
    return 0;
}

/* Point it's fields into the decrypted plaintext; each must end at its
 * recorded length (an authentic frame always does). */
static int item_point(const struct frame_hdr *h, const char *p, struct spool_item *it)
{
    const char **f[NFIELDS] = {&it->url, &it->content_type, &it->headers, &it->request_id,
                               &it->tenant};

    for (int i = 0; i < NFIELDS; i++) {
        if (strlen(p) != h->flen[i])
            return -1;
        *f[i] = p;
        p += h->flen[i] + 1;
    }
    it->seq = h->seq;
    it->body = p;
    it->body_len = h->body_len;
    return 0;
}

static int peek_locked(struct spool *s, struct spool_item *it, struct buf *out, struct err *err)
{
    char path[PATH_MAX_];
    uint8_t raw[HDR_BYTES];
    struct frame_hdr h;
    unsigned long long mlen = 0;
    size_t clen;
    char *c;
    int ok;

    if (s->nsegs == 0)
        return 0;
    if (head_header(s, s->done + 1, &h, raw, err) != 0)
        return -1;
    seg_path(s, s->segs[0].first, path, sizeof(path));
    clen = h.len - HDR_BYTES;
    if ((c = buf_reserve(out, clen)) == NULL)
        return err_set(err, "spool %s: item %" PRIu64 ": %zu bytes, over the buffer", path, h.seq,
                       clen);
    if (io_pread(s->rfd, c, clen, s->roff + HDR_BYTES) != 0)
        return err_set(err, "spool %s: item %" PRIu64 ": read failed", path, h.seq);
    sodium_mprotect_readonly(s->key);
    ok = crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)c, &mlen, NULL, (uint8_t *)c, clen,
                                                    raw, HDR_BYTES, h.nonce, s->key) == 0;
    sodium_mprotect_noaccess(s->key);
    if (!ok)
        return err_set(err, "spool %s: item %" PRIu64 ": authentication failed (damaged)", path,
                       h.seq);
    buf_commit(out, (size_t)mlen);
    if (item_point(&h, out->data, it) != 0)
        return err_set(err, "spool %s: item %" PRIu64 ": malformed fields", path, h.seq);
    return 1;
}

int spool_peek(struct spool *s, struct spool_item *it, struct buf *out, struct err *err)
{
    int r;

    buf_reset(out);
    pthread_mutex_lock(&s->mu);
    r = peek_locked(s, it, out, err);
    pthread_mutex_unlock(&s->mu);
    if (r != 1) {
        if (out->data != NULL)
            sodium_memzero(out->data, out->cap);
        buf_reset(out);
    }
    return r;
}

static int done_locked(struct spool *s, uint64_t seq, struct err *err)
{
    uint8_t raw[HDR_BYTES];
    struct frame_hdr h;

    if (s->nsegs == 0 || seq != s->done + 1)
        return err_set(err, "spool %s: item %" PRIu64 " is not the oldest pending item", s->dir,
                       seq);
    if (head_header(s, seq, &h, raw, err) != 0 || done_append(s, seq, err) != 0)
        return -1;
    s->done = seq;
    s->roff += h.len;
    s->items--;
    if (seg_all_done(s, 0))
        return seg_drop_oldest(s, err);
    return 0;
}

int spool_done(struct spool *s, uint64_t seq, struct err *err)
{
    int r;

    pthread_mutex_lock(&s->mu);
    r = done_locked(s, seq, err);
    pthread_mutex_unlock(&s->mu);
    return r;
}

uint64_t spool_bytes(const struct spool *s)
{
    struct spool *m = (struct spool *)s; /* the lock is not part of the value */
    uint64_t n;

    pthread_mutex_lock(&m->mu);
    n = m->bytes;
    pthread_mutex_unlock(&m->mu);
    return n;
}

uint64_t spool_items(const struct spool *s)
{
    struct spool *m = (struct spool *)s;
    uint64_t n;

    pthread_mutex_lock(&m->mu);
    n = m->items;
    pthread_mutex_unlock(&m->mu);
    return n;
}
