/*
 * spool: the encrypted disk spool (see spool.h for the layout and the
 * promises).
 *
 * Everything in memory is an index over the files: the list of segments
 * (first sequence number, well-formed frame count, size), the newest done
 * sequence number, and the offset of the oldest pending frame in the oldest
 * segment. Frames are read back with pread, so the writer's append and the
 * reader's position never share a file offset.
 *
 * This file holds the frame codec, the segment index, putting and
 * draining; opening (key, done file, directory scan, recovery) and closing
 * are in spool_open.c.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "spool_impl.h"

static const uint8_t frame_magic[4] = {'S', 'P', 'L', '1'};

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void spool_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t spool_get_le64(const uint8_t *p)
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
    spool_put_le64(p + 8, h->seq);
    for (int i = 0; i < NFIELDS; i++)
        put_le32(p + 16 + 4 * i, h->flen[i]);
    put_le32(p + 36, h->body_len);
    memcpy(p + 40, h->nonce, NONCE_BYTES);
}

/* Decode and check a header's shape: magic, field limits, and a length
 * that matches its fields. -1 when it is not a frame this code writes. */
int spool_hdr_decode(const uint8_t *p, struct frame_hdr *h)
{
    if (memcmp(p, frame_magic, 4) != 0)
        return -1;
    h->len = get_le32(p + 4);
    h->seq = spool_get_le64(p + 8);
    for (int i = 0; i < NFIELDS; i++)
        if ((h->flen[i] = get_le32(p + 16 + 4 * i)) > SPOOL_FIELD_MAX)
            return -1;
    h->body_len = get_le32(p + 36);
    memcpy(h->nonce, p + 40, NONCE_BYTES);
    if (h->flen[3] != SPOOL_ID_LEN || h->body_len > SPOOL_BODY_MAX)
        return -1;
    return h->len == HDR_BYTES + frame_plain_len(h) + TAG_BYTES ? 0 : -1;
}

int spool_io_pread(int fd, void *p, size_t n, uint64_t at)
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

int spool_io_pwrite(int fd, const void *p, size_t n, uint64_t at)
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

void spool_seg_path(const struct spool *s, uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%s/%016" PRIx64 ".spool", s->dir, first);
}

int spool_dir_sync(struct spool *s, struct err *err)
{
    if (fsync(s->dirfd) != 0)
        return err_set(err, "spool %s: fsync: %s", s->dir, strerror(errno));
    s->dir_unsynced = 0;
    return 0;
}

/* ---- the segment index ---- */

int spool_seg_push(struct spool *s, uint64_t first)
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
uint64_t spool_seg_last(const struct spool *s, size_t i)
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
int spool_seg_all_done(const struct spool *s, size_t i)
{
    const struct seg *g = &s->segs[i];

    if (!g->damaged)
        return g->first + g->count - 1 <= s->done;
    return spool_seg_last(s, i) <= s->done;
}

/* Remove segs[0] from the index and the disk. */
int spool_seg_drop_oldest(struct spool *s, struct err *err)
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
    spool_seg_path(s, s->segs[0].first, path, sizeof(path));
    s->bytes -= s->segs[0].bytes;
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
    s->nsegs--;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, "spool %s: %s", path, strerror(errno));
    return 0;
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
    spool_seg_path(s, s->next_seq, path, sizeof(path));
    if (spool_seg_push(s, s->next_seq) != 0)
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

    if (spool_io_pwrite(s->wfd, f->data, f->len, g->bytes) != 0) {
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
        if (s->dir_unsynced && spool_dir_sync(s, err) != 0) {
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

    spool_seg_path(s, g->first, path, sizeof(path));
    if (want < g->first)
        return err_set(err, "spool %s: items %" PRIu64 " to %" PRIu64 " are missing before it",
                       path, want, g->first - 1);
    if (want >= g->first + g->count)
        return err_set(err, "spool %s: item %" PRIu64 ": %s", path, want,
                       g->damaged ? "damaged frame" : "missing");
    if (s->rfd < 0 && (s->rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return err_set(err, "spool %s: %s", path, strerror(errno));
    if (spool_io_pread(s->rfd, raw, HDR_BYTES, s->roff) != 0 || spool_hdr_decode(raw, h) != 0 ||
        h->seq != want)
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
    spool_seg_path(s, s->segs[0].first, path, sizeof(path));
    clen = h.len - HDR_BYTES;
    if ((c = buf_reserve(out, clen)) == NULL)
        return err_set(err, "spool %s: item %" PRIu64 ": %zu bytes, over the buffer", path, h.seq,
                       clen);
    if (spool_io_pread(s->rfd, c, clen, s->roff + HDR_BYTES) != 0)
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
    if (head_header(s, seq, &h, raw, err) != 0 || spool_done_append(s, seq, err) != 0)
        return -1;
    s->done = seq;
    s->roff += h.len;
    s->items--;
    if (spool_seg_all_done(s, 0))
        return spool_seg_drop_oldest(s, err);
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
