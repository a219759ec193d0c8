/*
 * test_spool: the encrypted disk spool (proxy/spool.h).
 *
 * Each case works in its own directory under one mkdtemp root. Damage is
 * made the way a crash or a bad disk makes it: truncating, appending zeros,
 * flipping a byte, removing a file, loosening the key file's mode. The
 * canary test reads every file the spool wrote and looks for the payload.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "leak.h"
#include "proxy/spool.h"

#define CARD "4111 1111 1111 1111"
#define SSN  "078-05-1120"

static char root[] = "/tmp/scrim-test-spool-XXXXXX";
static int case_no;

/* One item's fields, made from its index so a reader can check them. */
struct fixture {
    char url[128], ctype[64], headers[128], rid[17], tenant[32], body[2048];
    struct spool_item it;
};

static void fixture_make(struct fixture *f, unsigned i, size_t body_len)
{
    size_t n;

    snprintf(f->url, sizeof(f->url), "https://replay.example.com/ingest?n=%u", i);
    snprintf(f->ctype, sizeof(f->ctype), i % 2 ? "application/json" : "");
    snprintf(f->headers, sizeof(f->headers), i % 3 ? "X-Scrim-Item: %u\r\n" : "", i);
    snprintf(f->rid, sizeof(f->rid), "%016x", 0xabc00000u + i);
    snprintf(f->tenant, sizeof(f->tenant), "acme-%u", i % 4);
    n = (size_t)snprintf(f->body, sizeof(f->body),
                         "[{\"type\":3,\"data\":{\"source\":5,\"text\":\"" CARD "\"}},{\"i\":%u}]",
                         i);
    for (; n < body_len && n < sizeof(f->body) - 1; n++)
        f->body[n] = (char)('a' + n % 26);
    f->it = (struct spool_item){0, f->url, f->ctype, f->headers, f->rid, f->tenant, f->body, n};
}

static void item_equal(const struct spool_item *got, const struct fixture *want)
{
    assert_string_equal(got->url, want->url);
    assert_string_equal(got->content_type, want->ctype);
    assert_string_equal(got->headers, want->headers);
    assert_string_equal(got->request_id, want->rid);
    assert_string_equal(got->tenant, want->tenant);
    assert_int_equal(got->body_len, want->it.body_len);
    assert_memory_equal(got->body, want->body, want->it.body_len);
}

static void join(char *out, size_t n, const char *dir, const char *name)
{
    int r = snprintf(out, n, "%s/%s", dir, name);

    assert_true(r > 0 && (size_t)r < n);
}

static void case_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/case-%d", root, ++case_no);
}

static struct spool *open_ok(const char *dir, uint64_t max)
{
    struct err e;
    struct spool *s;

    err_clear(&e);
    s = spool_open(dir, max, &e);
    if (s == NULL)
        fail_msg("spool_open: %s", e.msg);
    return s;
}

static uint64_t put_ok(struct spool *s, unsigned i, size_t body_len)
{
    struct fixture f;
    struct err e;
    uint64_t seq = 0;

    fixture_make(&f, i, body_len);
    err_clear(&e);
    if (spool_put(s, &f.it, &seq, &e) != SPOOL_OK)
        fail_msg("spool_put %u: %s", i, e.msg);
    return seq;
}

static void sync_ok(struct spool *s)
{
    struct err e;

    err_clear(&e);
    if (spool_sync(s, &e) != 0)
        fail_msg("spool_sync: %s", e.msg);
}

/* Peek the oldest item, check it is item i (body_len as put), mark it done. */
static uint64_t take_ok(struct spool *s, unsigned i, size_t body_len)
{
    struct fixture f;
    struct spool_item it;
    struct buf out;
    struct err e;
    uint64_t seq;

    fixture_make(&f, i, body_len);
    buf_init(&out, 0);
    err_clear(&e);
    if (spool_peek(s, &it, &out, &e) != 1)
        fail_msg("spool_peek for item %u: %s", i, e.msg);
    item_equal(&it, &f);
    seq = it.seq;
    if (spool_done(s, seq, &e) != 0)
        fail_msg("spool_done %llu: %s", (unsigned long long)seq, e.msg);
    buf_free(&out);
    return seq;
}

static int peek_rc(struct spool *s, struct err *e)
{
    struct spool_item it;
    struct buf out;
    int r;

    buf_init(&out, 0);
    err_clear(e);
    r = spool_peek(s, &it, &out, e);
    assert_int_equal(out.len, r == 1 ? out.len : 0);
    buf_free(&out);
    return r;
}

/* The segment files in dir, sorted (they are named by first sequence). */
static int segments(const char *dir, char names[][64], int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".spool") != NULL && n < max && strlen(de->d_name) < 64)
            memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

static uint64_t file_size(const char *dir, const char *name)
{
    char p[600];
    struct stat st;

    join(p, sizeof(p), dir, name);
    assert_int_equal(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

static uint64_t segment_bytes(const char *dir)
{
    char names[256][64];
    int n = segments(dir, names, 256);
    uint64_t sum = 0;

    for (int i = 0; i < n; i++)
        sum += file_size(dir, names[i]);
    return sum;
}

static void file_patch(const char *dir, const char *name, uint64_t at, uint8_t xor_with)
{
    char p[600];
    uint8_t c;
    int fd;

    join(p, sizeof(p), dir, name);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, (off_t)at), 1);
    c ^= xor_with;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)at), 1);
    close(fd);
}

static void test_order(void **state)
{
    char dir[600];
    struct spool *s;
    struct err e;
    uint64_t prev = 0;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    for (unsigned i = 0; i < 20; i++) {
        uint64_t seq = put_ok(s, i, 100 + 37 * i);
        assert_true(seq > prev);
        prev = seq;
    }
    sync_ok(s);
    assert_int_equal(spool_items(s), 20);
    assert_int_equal(spool_bytes(s), segment_bytes(dir));
    prev = 0;
    for (unsigned i = 0; i < 20; i++) {
        uint64_t seq = take_ok(s, i, 100 + 37 * i);
        assert_true(seq > prev);
        prev = seq;
        assert_int_equal(spool_items(s), 19 - i);
    }
    assert_int_equal(peek_rc(s, &e), 0);
    assert_int_equal(spool_bytes(s), 0); /* every segment was deleted */
    assert_int_equal(segment_bytes(dir), 0);
    spool_close(s);
}

static void test_restart(void **state)
{
    char dir[600];
    struct spool *s;
    uint64_t seqs[6], seq;
    struct err e;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    for (unsigned i = 0; i < 6; i++)
        seqs[i] = put_ok(s, i, 300);
    sync_ok(s);
    assert_int_equal(take_ok(s, 0, 300), seqs[0]);
    assert_int_equal(take_ok(s, 1, 300), seqs[1]);
    spool_close(s);

    s = open_ok(dir, 1 << 20);
    assert_int_equal(spool_items(s), 4);
    assert_int_equal(spool_bytes(s), segment_bytes(dir));
    seq = put_ok(s, 6, 300);
    assert_true(seq > seqs[5]);
    sync_ok(s);
    for (unsigned i = 2; i < 6; i++) /* done items are not delivered again */
        assert_int_equal(take_ok(s, i, 300), seqs[i]);
    assert_int_equal(take_ok(s, 6, 300), seq);
    assert_int_equal(peek_rc(s, &e), 0);
    spool_close(s);

    /* empty and every segment gone: the numbers still only grow */
    s = open_ok(dir, 1 << 20);
    assert_int_equal(spool_items(s), 0);
    assert_int_equal(peek_rc(s, &e), 0);
    assert_true(put_ok(s, 7, 10) > seq);
    spool_close(s);
}

/* max 16 KiB: segments rotate at 4 KiB, items are about 1 KiB. */
static void test_full(void **state)
{
    const uint64_t max = 16 << 10;
    char dir[600], names[64][64];
    struct spool *s;
    struct fixture f;
    struct err e;
    uint64_t seq = 0, before;
    unsigned n = 0;
    int nseg;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, max);
    fixture_make(&f, 0, 1000);
    for (;;) {
        enum spool_result r;
        fixture_make(&f, n, 1000);
        err_clear(&e);
        before = spool_bytes(s);
        r = spool_put(s, &f.it, &seq, &e);
        if (r == SPOOL_FULL)
            break;
        assert_int_equal(r, SPOOL_OK);
        n++;
        assert_true(spool_bytes(s) <= max);
    }
    sync_ok(s);
    assert_true(n >= 10);
    assert_int_equal(spool_bytes(s), before); /* FULL wrote nothing */
    assert_int_equal(segment_bytes(dir), before);
    assert_int_equal(spool_items(s), n);
    nseg = segments(dir, names, 64);
    assert_true(nseg >= 3);
    /* draining the first segment's items gives its bytes back */
    for (unsigned i = 0; segments(dir, names, 64) == nseg; i++)
        take_ok(s, i, 1000);
    assert_true(spool_bytes(s) < before);
    assert_int_equal(spool_bytes(s), segment_bytes(dir));
    fixture_make(&f, n, 1000);
    assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_OK);
    spool_close(s);
}

/* A frame cut short at the end of the newest segment is a crash's torn
 * tail: cut on reopen, the items before it kept. */
static void test_torn_tail(void **state)
{
    char dir[600], names[8][64], p[700];
    struct spool *s;
    uint64_t seqs[3], whole, two;
    struct err e;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    seqs[0] = put_ok(s, 0, 200);
    seqs[1] = put_ok(s, 1, 200);
    sync_ok(s);
    two = spool_bytes(s);
    seqs[2] = put_ok(s, 2, 200);
    sync_ok(s);
    whole = spool_bytes(s);
    spool_close(s);
    assert_int_equal(segments(dir, names, 8), 1);
    join(p, sizeof(p), dir, names[0]);
    assert_int_equal(truncate(p, (off_t)(two + (whole - two) / 2)), 0);

    s = open_ok(dir, 1 << 20);
    assert_int_equal(file_size(dir, names[0]), two);
    assert_int_equal(spool_items(s), 2);
    assert_int_equal(take_ok(s, 0, 200), seqs[0]);
    assert_int_equal(take_ok(s, 1, 200), seqs[1]);
    assert_int_equal(peek_rc(s, &e), 0);
    assert_true(put_ok(s, 3, 10) > seqs[1]);
    spool_close(s);
}

/* A crashed append some file systems leave as zeros is a torn tail too. */
static void test_zero_tail(void **state)
{
    char dir[600], names[8][64], p[700];
    static const uint8_t zeros[700];
    struct spool *s;
    uint64_t whole;
    int fd;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    put_ok(s, 0, 50);
    put_ok(s, 1, 50);
    sync_ok(s);
    whole = spool_bytes(s);
    spool_close(s);
    assert_int_equal(segments(dir, names, 8), 1);
    join(p, sizeof(p), dir, names[0]);
    fd = open(p, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
    close(fd);
    s = open_ok(dir, 1 << 20);
    assert_int_equal(file_size(dir, names[0]), whole);
    assert_int_equal(spool_items(s), 2);
    take_ok(s, 0, 50);
    take_ok(s, 1, 50);
    spool_close(s);
}

/* Three items of frame size fsz each in one segment; damage item 2 at
 * offset 'at' within its frame; item 1 comes out, item 2 fails, named, and
 * item 3 never comes out in its place. */
static void check_damage(uint64_t at, uint8_t xor_with)
{
    char dir[600], names[8][64], want[128];
    struct spool *s;
    uint64_t seqs[3], fsz;
    struct err e;

    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    for (unsigned i = 0; i < 3; i++)
        seqs[i] = put_ok(s, i, 400);
    sync_ok(s);
    fsz = spool_bytes(s) / 3;
    spool_close(s);
    assert_int_equal(segments(dir, names, 8), 1);
    file_patch(dir, names[0], fsz + at, xor_with);

    s = open_ok(dir, 1 << 20);
    assert_int_equal(take_ok(s, 0, 400), seqs[0]);
    snprintf(want, sizeof(want), "item %llu", (unsigned long long)seqs[1]);
    for (int again = 0; again < 2; again++) {
        assert_int_equal(peek_rc(s, &e), -1);
        if (strstr(e.msg, names[0]) == NULL || strstr(e.msg, want) == NULL)
            fail_msg("error does not name the file and %s: %s", want, e.msg);
    }
    assert_int_equal(spool_done(s, seqs[2], &e), -1); /* not the oldest */
    spool_close(s);
}

static void test_flipped_byte(void **state)
{
    (void)state;
    check_damage(64 + 7, 0x01);   /* ciphertext */
    check_damage(64 + 250, 0x80); /* body ciphertext */
    check_damage(50, 0x01);       /* nonce, in the associated data */
    check_damage(8, 0x01);        /* sequence number */
    check_damage(16, 0x01);       /* a field length */
    check_damage(0, 0x01);        /* magic */
}

/* Two frames swapped on disk (same size, each authentic on its own): the
 * second item is reported, the third never comes out in its place. */
static void test_swapped_frames(void **state)
{
    char dir[600], names[8][64], p[700], want[64];
    uint8_t *a, *b;
    struct spool *s;
    uint64_t seqs[3], fsz;
    struct err e;
    int fd;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    for (unsigned i = 0; i < 3; i++)
        seqs[i] = put_ok(s, i, 300);
    sync_ok(s);
    fsz = spool_bytes(s) / 3;
    spool_close(s);
    assert_int_equal(segments(dir, names, 8), 1);
    join(p, sizeof(p), dir, names[0]);
    a = xmalloc(fsz);
    b = xmalloc(fsz);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, a, fsz, (off_t)fsz), (ssize_t)fsz);
    assert_int_equal(pread(fd, b, fsz, (off_t)(2 * fsz)), (ssize_t)fsz);
    assert_int_equal(pwrite(fd, b, fsz, (off_t)fsz), (ssize_t)fsz);
    assert_int_equal(pwrite(fd, a, fsz, (off_t)(2 * fsz)), (ssize_t)fsz);
    close(fd);
    xfree(a);
    xfree(b);
    s = open_ok(dir, 1 << 20);
    assert_int_equal(take_ok(s, 0, 300), seqs[0]);
    assert_int_equal(peek_rc(s, &e), -1);
    snprintf(want, sizeof(want), "item %llu", (unsigned long long)seqs[1]);
    if (strstr(e.msg, names[0]) == NULL || strstr(e.msg, want) == NULL)
        fail_msg("error does not name the file and %s: %s", want, e.msg);
    spool_close(s);
}

/* A segment removed from the middle is reported, not skipped over. */
static void test_missing_segment(void **state)
{
    char dir[600], names[64][64], p[700];
    struct spool *s;
    struct err e;
    unsigned n = 0;
    int nseg;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 32 << 10); /* 4 KiB segments */
    while ((nseg = segments(dir, names, 64)) < 3)
        put_ok(s, n++, 1000);
    sync_ok(s);
    spool_close(s);
    join(p, sizeof(p), dir, names[1]);
    assert_int_equal(unlink(p), 0);
    s = open_ok(dir, 32 << 10);
    for (unsigned i = 0; peek_rc(s, &e) == 1; i++)
        take_ok(s, i, 1000);
    if (strstr(e.msg, "missing") == NULL || strstr(e.msg, names[2]) == NULL)
        fail_msg("a missing segment is not reported: %s", e.msg);
    spool_close(s);
}

static void test_key_file(void **state)
{
    char dir[600], key[700];
    struct spool *s;
    struct stat st;
    struct err e;
    int fd;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    put_ok(s, 0, 100);
    sync_ok(s);
    spool_close(s);
    snprintf(key, sizeof(key), "%s/spool.key", dir);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    assert_int_equal(chmod(key, 0644), 0);
    err_clear(&e);
    assert_null(spool_open(dir, 1 << 20, &e));
    assert_non_null(strstr(e.msg, "spool.key"));
    assert_int_equal(chmod(key, 0600), 0);
    s = open_ok(dir, 1 << 20); /* the same key reads the same items */
    take_ok(s, 0, 100);
    put_ok(s, 1, 100);
    sync_ok(s);
    spool_close(s);

    assert_int_equal(truncate(key, 31), 0);
    err_clear(&e);
    assert_null(spool_open(dir, 1 << 20, &e));
    assert_non_null(strstr(e.msg, "spool.key"));
    /* another key: the files alone are unreadable */
    assert_int_equal(unlink(key), 0);
    fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
    close(fd);
    s = open_ok(dir, 1 << 20);
    assert_int_equal(peek_rc(s, &e), -1);
    assert_non_null(strstr(e.msg, "authentication failed"));
    spool_close(s);
}

static void test_no_plaintext_on_disk(void **state)
{
    static const char *const canaries[] = {CARD,           SSN,     "replay.example.com",
                                           "X-Scrim-Item", "acme-", "abc0000"};
    char dir[600], p[700];
    struct spool *s;
    struct fixture f;
    struct err e;
    struct dirent *de;
    uint64_t seq;
    DIR *d;
    int files = 0;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    for (unsigned i = 0; i < 5; i++) {
        fixture_make(&f, i, 600);
        memcpy(f.body + 100, SSN, strlen(SSN));
        err_clear(&e);
        assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_OK);
    }
    sync_ok(s);
    spool_close(s);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        FILE *fp;
        char buf[64 << 10];
        size_t n;
        if (de->d_name[0] == '.')
            continue;
        join(p, sizeof(p), dir, de->d_name);
        fp = fopen(p, "rb");
        assert_non_null(fp);
        n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        files++;
        for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
            if (memmem(buf, n, canaries[i], strlen(canaries[i])) != NULL)
                fail_msg("%s holds \"%s\" in the clear", de->d_name, canaries[i]);
    }
    closedir(d);
    assert_true(files >= 3); /* key, done, a segment */
}

static void test_bad_items(void **state)
{
    char dir[600];
    static char big[(64 << 10) + 2];
    struct spool *s;
    struct fixture f;
    struct err e;
    uint64_t seq = 0;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    fixture_make(&f, 1, 10);
    f.it.request_id = "0123456789abcdeg";
    assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_ERROR);
    f.it.request_id = "0123456789abcde";
    assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_ERROR);
    f.it.request_id = f.rid;
    f.it.url = NULL;
    assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_ERROR);
    f.it.url = f.url;
    memset(big, 'h', sizeof(big) - 1);
    f.it.headers = big;
    err_clear(&e);
    assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_ERROR);
    assert_null(strstr(e.msg, "hhhh")); /* no values in errors */
    assert_int_equal(spool_items(s), 0);
    assert_int_equal(spool_bytes(s), 0);
    spool_close(s);
    /* an item bigger than the whole spool can never fit: an error, not FULL */
    s = open_ok(dir, 200);
    fixture_make(&f, 1, 300);
    assert_int_equal(spool_put(s, &f.it, &seq, &e), SPOOL_ERROR);
    spool_close(s);
}

static void test_done_and_peek_misuse(void **state)
{
    char dir[600];
    struct spool *s;
    struct spool_item it;
    struct buf small;
    struct err e;
    uint64_t a, b;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    err_clear(&e);
    assert_int_equal(spool_done(s, 1, &e), -1); /* empty */
    a = put_ok(s, 0, 500);
    b = put_ok(s, 1, 500);
    assert_int_equal(spool_done(s, b, &e), -1); /* not the oldest */
    buf_init(&small, 100);
    err_clear(&e);
    assert_int_equal(spool_peek(s, &it, &small, &e), -1);
    assert_int_equal(small.len, 0);
    assert_non_null(strstr(e.msg, "over the buffer"));
    buf_free(&small);
    assert_int_equal(take_ok(s, 0, 500), a);
    assert_int_equal(spool_done(s, a, &e), -1); /* twice */
    assert_int_equal(take_ok(s, 1, 500), b);
    spool_close(s);
}

static void test_one_owner(void **state)
{
    char dir[600];
    struct spool *s, *t;
    struct err e;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 1 << 20);
    err_clear(&e);
    t = spool_open(dir, 1 << 20, &e);
    assert_null(t);
    assert_non_null(strstr(e.msg, "in use"));
    spool_close(s);
    s = open_ok(dir, 1 << 20);
    spool_close(s);
}

/* Many done records: the done file is compacted and still right. */
static void test_done_compaction(void **state)
{
    char dir[600], p[700];
    struct spool *s;
    struct stat st;
    struct err e;
    uint64_t last = 0;

    (void)state;
    case_dir(dir, sizeof(dir));
    s = open_ok(dir, 4 << 20);
    for (unsigned i = 0; i < 600; i++)
        put_ok(s, i, 20);
    sync_ok(s);
    for (unsigned i = 0; i < 590; i++)
        last = take_ok(s, i, 20);
    spool_close(s);
    snprintf(p, sizeof(p), "%s/done", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size <= 4096);
    s = open_ok(dir, 4 << 20);
    assert_int_equal(spool_items(s), 10);
    for (unsigned i = 590; i < 600; i++)
        assert_int_equal(take_ok(s, i, 20), ++last);
    assert_int_equal(peek_rc(s, &e), 0);
    spool_close(s);
}

#define THREAD_ITEMS 3000

struct shared {
    struct spool *s;
    int failed;
    char why[ERR_MSG_MAX + 64];
};

static void shared_fail(struct shared *sh, const char *what, const struct err *e)
{
    if (!__atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST))
        snprintf(sh->why, sizeof(sh->why), "%s: %s", what, e->msg);
}

static void *producer(void *arg)
{
    struct shared *sh = arg;
    struct fixture f;
    struct err e;
    uint64_t seq;

    for (unsigned i = 0; i < THREAD_ITEMS && !__atomic_load_n(&sh->failed, __ATOMIC_SEQ_CST);) {
        enum spool_result r;
        fixture_make(&f, i, 64 + i % 700);
        err_clear(&e);
        r = spool_put(sh->s, &f.it, &seq, &e);
        if (r == SPOOL_FULL) {
            sched_yield();
            continue;
        }
        if (r != SPOOL_OK || (i % 16 == 0 && spool_sync(sh->s, &e) != 0))
            shared_fail(sh, "put", &e);
        i++;
    }
    if (spool_sync(sh->s, &e) != 0)
        shared_fail(sh, "sync", &e);
    return NULL;
}

static int consume_one(struct shared *sh, unsigned i, struct buf *out, uint64_t *prev)
{
    struct fixture f;
    struct spool_item it;
    struct err e;
    int r;

    err_clear(&e);
    r = spool_peek(sh->s, &it, out, &e);
    if (r <= 0) {
        if (r < 0)
            shared_fail(sh, "peek", &e);
        return r;
    }
    fixture_make(&f, i, 64 + i % 700);
    if (it.seq <= *prev || it.body_len != f.it.body_len ||
        memcmp(it.body, f.body, it.body_len) != 0 || strcmp(it.url, f.url) != 0) {
        snprintf(e.msg, sizeof(e.msg), "item %u out of order or changed", i);
        shared_fail(sh, "order", &e);
        return -1;
    }
    *prev = it.seq;
    if (spool_done(sh->s, it.seq, &e) != 0) {
        shared_fail(sh, "done", &e);
        return -1;
    }
    return 1;
}

static void *consumer(void *arg)
{
    struct shared *sh = arg;
    struct buf out;
    uint64_t prev = 0;

    buf_init(&out, 0);
    for (unsigned i = 0; i < THREAD_ITEMS && !__atomic_load_n(&sh->failed, __ATOMIC_SEQ_CST);) {
        int r = consume_one(sh, i, &out, &prev);
        if (r == 0)
            sched_yield();
        if (r < 0)
            break;
        i += r == 1;
    }
    buf_free(&out);
    return NULL;
}

static void test_threads(void **state)
{
    char dir[600];
    struct shared sh = {0};
    pthread_t p, c;
    struct err e;

    (void)state;
    case_dir(dir, sizeof(dir));
    sh.s = open_ok(dir, 64 << 10); /* small: FULL and rotation happen */
    assert_int_equal(pthread_create(&c, NULL, consumer, &sh), 0);
    assert_int_equal(pthread_create(&p, NULL, producer, &sh), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    if (sh.failed)
        fail_msg("%s", sh.why);
    assert_int_equal(spool_items(sh.s), 0);
    assert_int_equal(peek_rc(sh.s, &e), 0);
    assert_int_equal(spool_bytes(sh.s), 0);
    spool_close(sh.s);
}

static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    char p[700];

    if (d == NULL)
        return unlink(path);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        join(p, sizeof(p), path, de->d_name);
        rm_tree(p);
    }
    closedir(d);
    return rmdir(path);
}

static int group_setup(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR); /* torn tails and damage are expected here */
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return rm_tree(root);
}

#define T(f) LEAK_TEST(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_order),          T(test_restart),
        T(test_full),           T(test_torn_tail),
        T(test_zero_tail),      T(test_flipped_byte),
        T(test_swapped_frames), T(test_missing_segment),
        T(test_key_file),       T(test_no_plaintext_on_disk),
        T(test_bad_items),      T(test_done_and_peek_misuse),
        T(test_one_owner),      T(test_done_compaction),
        T(test_threads),
    };

    return cmocka_run_group_tests_name("spool", tests, group_setup, group_teardown);
}
