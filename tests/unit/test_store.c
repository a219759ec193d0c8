/* store: segment files per tenant and day, group commit, crash recovery,
 * rotation and retention. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/keyfile.h"
#include "crypto/keys.h"
#include "crypto/seal.h"
#include "leak.h"
#include "proxy/store.h"

#define T0     1714521600000ull /* 2024-05-01T00:00:00Z */
#define DAY    86400000ull
#define MIB    (1ull << 20)
#define MAXSEG 64

static char dir[] = "/tmp/scrim-test-store-XXXXXX";
static char root[600];
static struct keys_public acme_pub, acme2_pub, globex_pub;
static struct keys_secret *acme_key, *acme2_key, *globex_key;
static int case_no;

static int load_pair(const char *tenant, struct keys_public *pub, struct keys_secret **sec)
{
    char p[512];
    struct err e;

    err_clear(&e);
    if (keys_generate_tenant(dir, tenant, NULL, &e) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/%s.pub", dir, tenant);
    if (keys_load_public(p, pub, &e) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/%s.key", dir, tenant);
    return keys_load_secret(p, sec, &e);
}

static int group_setup(void **state)
{
    (void)state;
    log_set_level(LOG_WARN); /* recoveries are expected here */
    if (keyfile_crypto_init() != 0 || mkdtemp(dir) == NULL)
        return -1;
    if (load_pair("acme", &acme_pub, &acme_key) || load_pair("acme2", &acme2_pub, &acme2_key) ||
        load_pair("globex", &globex_pub, &globex_key))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    keys_secret_free(acme_key);
    keys_secret_free(acme2_key);
    keys_secret_free(globex_key);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Each case gets a fresh store directory. */
static int case_setup(void **state)
{
    snprintf(root, sizeof(root), "%s/store%d", dir, ++case_no);
    return leak_setup(state);
}

#define STORE_TEST(f) cmocka_unit_test_setup_teardown(f, case_setup, leak_teardown)

static int rec_text(char *out, size_t cap, unsigned i)
{
    return snprintf(out, cap,
                    "{\"type\":\"submit\",\"journey\":\"loan\",\"t\":%u,\"step\":\"s%u\"}",
                    1000 + i, i);
}

static struct store *open_store(uint64_t max_bytes, unsigned max_age_s)
{
    struct err e;
    struct store *s;

    err_clear(&e);
    s = store_open(root, max_bytes, max_age_s, &e);
    if (s == NULL)
        fail_msg("store_open: %s", e.msg);
    return s;
}

static void append(struct store *s, const char *tenant, const struct keys_public *pk, unsigned i,
                   uint64_t now)
{
    char rec[128];
    int n = rec_text(rec, sizeof(rec), i);
    struct err e;

    err_clear(&e);
    if (store_append(s, tenant, pk, rec, (size_t)n, now, &e) != 0)
        fail_msg("store_append: %s", e.msg);
}

static void commit(struct store *s, uint64_t now)
{
    struct err e;

    err_clear(&e);
    if (store_commit(s, now, &e) != 0)
        fail_msg("store_commit: %s", e.msg);
}

static void close_store(struct store *s)
{
    struct err e;

    err_clear(&e);
    if (store_close(s, &e) != 0)
        fail_msg("store_close: %s", e.msg);
}

struct segs {
    char path[MAXSEG][700];
    size_t n;
};

static int collect(void *arg, const char *path)
{
    struct segs *l = arg;

    assert_true(l->n < MAXSEG);
    snprintf(l->path[l->n++], sizeof(l->path[0]), "%s", path);
    return 0;
}

static void walk(const char *path, struct segs *l)
{
    struct err e;

    err_clear(&e);
    l->n = 0;
    if (store_walk(path, collect, l, &e) != 0)
        fail_msg("store_walk: %s", e.msg);
}

/* Verify a segment file as scrim decrypt does (tenant from its place,
 * place checked); records must be rec_text(first), rec_text(first + 1), ...
 * Returns 0 and the count and end, or -1 with e. */
static int verify_file(const char *path, struct keys_secret *const *keys, size_t nkeys,
                       unsigned first, uint64_t *count, enum seal_end *end, struct err *e)
{
    FILE *f = fopen(path, "rb");
    struct store_place pl;
    struct seal_reader *r;
    struct buf out;
    char want[128];
    int got;

    assert_non_null(f);
    err_clear(e);
    r = seal_reader_open(f, keys, nkeys, store_place_parse(path, &pl) ? pl.tenant : NULL, e);
    if (r == NULL || store_place_check(path, seal_reader_header(r), e) != 0) {
        seal_reader_free(r);
        fclose(f);
        return -1;
    }
    buf_init(&out, 0);
    while ((got = seal_reader_next(r, &out, e)) == 1) {
        rec_text(want, sizeof(want), first + (unsigned)seal_reader_count(r) - 1);
        assert_string_equal(out.data, want);
    }
    *count = seal_reader_count(r);
    *end = seal_reader_end(r);
    buf_free(&out);
    seal_reader_free(r);
    fclose(f);
    return got == 0 ? 0 : -1;
}

static void expect_segment(const char *path, struct keys_secret *k, unsigned first,
                           uint64_t want_count, enum seal_end want_end)
{
    struct err e;
    uint64_t count;
    enum seal_end end;

    if (verify_file(path, &k, 1, first, &count, &end, &e) != 0)
        fail_msg("%s: %s", path, e.msg);
    assert_int_equal(count, want_count);
    assert_int_equal(end, want_end);
}

static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_round_trip(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    struct store_place pl;
    struct stat st;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    for (unsigned i = 0; i < 3; i++)
        append(s, "acme", &acme_pub, i, T0 + 1000 + i);
    append(s, "globex", &globex_pub, 0, T0 + 2000);
    commit(s, T0 + 2000);
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 2);
    assert_true(store_place_parse(l.path[0], &pl));
    assert_string_equal(pl.tenant, "acme");
    assert_string_equal(pl.day, "2024-05-01");
    assert_int_equal(pl.created_ms, T0 + 1000);
    expect_segment(l.path[0], acme_key, 0, 3, SEAL_FINISHED);
    expect_segment(l.path[1], globex_key, 0, 1, SEAL_FINISHED);
    assert_int_equal(verify_file(l.path[1], &acme_key, 1, 0, &count, &end, &e), -1);
    assert_int_equal(stat(l.path[0], &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(root, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

/* Group commit: appends only buffer; after store_commit the records are in
 * the file, readable without the segment being closed. */
static void test_commit_is_durable(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    off_t after;

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    append(s, "acme", &acme_pub, 1, T0);
    walk(root, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(file_size(l.path[0]), 0); /* buffered, not written */
    commit(s, T0);
    after = file_size(l.path[0]);
    assert_true(after > SEAL_HEADER_BYTES);
    expect_segment(l.path[0], acme_key, 0, 2, SEAL_UNFINISHED);
    append(s, "acme", &acme_pub, 2, T0 + 1);
    assert_int_equal(file_size(l.path[0]), after);
    commit(s, T0 + 1);
    expect_segment(l.path[0], acme_key, 0, 3, SEAL_UNFINISHED);
    close_store(s);
    expect_segment(l.path[0], acme_key, 0, 3, SEAL_FINISHED);
}

/* A crash after a commit: what was committed is all there after restart;
 * what was only appended is not, and the segment verifies as recovered. */
static void test_crash_keeps_what_was_committed(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct store_stats st;
    struct segs l;

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    append(s, "acme", &acme_pub, 1, T0);
    commit(s, T0);
    append(s, "acme", &acme_pub, 2, T0 + 5);
    store_free(s); /* crash */
    s = open_store(64 * MIB, 3600);
    store_stats(s, &st);
    assert_int_equal(st.segments_recovered, 1);
    assert_int_equal(st.torn_bytes_cut, 0);
    walk(root, &l);
    assert_int_equal(l.n, 1);
    expect_segment(l.path[0], acme_key, 0, 2, SEAL_RECOVERED);
    /* The next segment sorts after the recovered one, and all verifies. */
    append(s, "acme", &acme_pub, 2, T0); /* the clock went back a little */
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 2);
    expect_segment(l.path[1], acme_key, 2, 1, SEAL_FINISHED);
    assert_true(strcmp(l.path[0], l.path[1]) < 0);
}

static void append_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* One torn tail shape, in a store of its own: a crash after three
 * committed records left tail[] behind them. */
static void torn_case(const void *tail, size_t n)
{
    struct store *s;
    struct store_stats st;
    struct segs l;
    off_t good, repaired;

    snprintf(root, sizeof(root), "%s/store%d", dir, ++case_no);
    s = open_store(64 * MIB, 3600);
    for (unsigned i = 0; i < 3; i++)
        append(s, "acme", &acme_pub, i, T0);
    commit(s, T0);
    walk(root, &l);
    good = file_size(l.path[0]);
    store_free(s);
    append_bytes(l.path[0], tail, n);
    s = open_store(64 * MIB, 3600);
    store_stats(s, &st);
    assert_int_equal(st.segments_recovered, 1);
    assert_int_equal(st.torn_bytes_cut, n);
    store_free(s);
    expect_segment(l.path[0], acme_key, 0, 3, SEAL_RECOVERED);
    repaired = file_size(l.path[0]);
    assert_int_equal(repaired, good + SEAL_FRAME_HEAD + 8 + SEAL_FRAME_CHECK);
    s = open_store(64 * MIB, 3600); /* recovery is done once */
    store_stats(s, &st);
    assert_int_equal(st.segments_recovered, 0);
    store_free(s);
    assert_int_equal(file_size(l.path[0]), repaired);
}

static void test_torn_tail_is_cut(void **state)
{
    struct seal_writer *w;
    struct buf frame;
    struct err e;
    uint8_t zeros[300];
    char rec[128];
    int n = rec_text(rec, sizeof(rec), 3);

    (void)state;
    /* A whole frame of another writer: right shape, so only the shape is
     * cut here when its tail is missing, and its check when it is damaged. */
    err_clear(&e);
    buf_init(&frame, 0);
    w = seal_writer_new("acme", &acme_pub, T0, &e);
    assert_int_equal(seal_writer_append(w, rec, (size_t)n, &frame, &e), 0);
    seal_writer_free(w);
    memset(zeros, 0, sizeof(zeros));
    torn_case(frame.data, 3);              /* length prefix cut */
    torn_case(frame.data, frame.len - 20); /* body cut */
    torn_case(frame.data, frame.len - 1);  /* check cut */
    frame.data[40] ^= 1;
    torn_case(frame.data, frame.len); /* whole but damaged (unwritten pages) */
    torn_case(zeros, sizeof(zeros));  /* size grew, data never landed */
    buf_free(&frame);
}

/* A crash before the first commit of a segment leaves an empty or cut file
 * that never held an acknowledged record: recovery removes it. */
static void test_crash_before_first_commit(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    char hdr[100];

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    walk(root, &l);
    assert_int_equal(l.n, 1);
    store_free(s);
    s = open_store(64 * MIB, 3600);
    walk(root, &l);
    assert_int_equal(l.n, 0);
    append(s, "acme", &acme_pub, 0, T0);
    walk(root, &l);
    store_free(s);
    memcpy(hdr, "SCRIMSEG", 8);
    memset(hdr + 8, 1, sizeof(hdr) - 8);
    append_bytes(l.path[0], hdr, sizeof(hdr));
    s = open_store(64 * MIB, 3600);
    walk(root, &l);
    assert_int_equal(l.n, 0);
    store_free(s);
}

static void test_closed_segment_untouched(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct store_stats st;
    struct segs l;
    off_t size;

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    close_store(s);
    walk(root, &l);
    size = file_size(l.path[0]);
    s = open_store(64 * MIB, 3600);
    store_stats(s, &st);
    assert_int_equal(st.segments_recovered, 0);
    store_free(s);
    assert_int_equal(file_size(l.path[0]), size);
    expect_segment(l.path[0], acme_key, 0, 1, SEAL_FINISHED);
}

/* A file named like a segment that is not one stops the store from starting:
 * recovery never guesses about bytes it does not understand. */
static void test_foreign_file_refused(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    struct err e;

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    commit(s, T0);
    store_free(s);
    walk(root, &l);
    assert_int_equal(truncate(l.path[0], 0), 0);
    append_bytes(l.path[0], "not a segment at all", 20);
    err_clear(&e);
    assert_null(store_open(root, 64 * MIB, 3600, &e));
    assert_non_null(strstr(e.msg, "not a scrim segment"));
    assert_non_null(strstr(e.msg, l.path[0]));
}

static void test_rotation_by_size(void **state)
{
    struct store *s = open_store(2048, 3600);
    struct segs l;
    unsigned first = 0;
    struct store_stats st;

    (void)state;
    for (unsigned i = 0; i < 40; i++) {
        append(s, "acme", &acme_pub, i, T0 + i);
        if (i % 3 == 2)
            commit(s, T0 + i);
    }
    store_stats(s, &st);
    close_store(s);
    walk(root, &l);
    assert_true(l.n >= 3);
    assert_int_equal(st.segments_opened, l.n);
    for (size_t k = 0; k < l.n; k++) {
        struct err e;
        uint64_t count;
        enum seal_end end;
        assert_true(file_size(l.path[k]) <= 2048 + SEAL_FRAME_HEAD + 48 + SEAL_FRAME_CHECK);
        assert_int_equal(verify_file(l.path[k], &acme_key, 1, first, &count, &end, &e), 0);
        assert_int_equal(end, SEAL_FINISHED);
        assert_true(count > 0);
        first += (unsigned)count;
    }
    assert_int_equal(first, 40); /* every record, in order, across segments */
}

static void test_rotation_by_age_and_day(void **state)
{
    struct store *s = open_store(64 * MIB, 60);
    struct segs l;
    struct err e;
    uint64_t late = T0 + DAY - 1000; /* 23:59:59 */

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    commit(s, T0);
    append(s, "acme", &acme_pub, 1, T0 + 61000); /* past the age: a new segment */
    commit(s, T0 + 61000);
    err_clear(&e);
    assert_int_equal(store_tick(s, T0 + 100000, &e), 0); /* still young */
    assert_int_equal(store_tick(s, T0 + 200000, &e), 0); /* idle past its age: closed */
    walk(root, &l);
    assert_int_equal(l.n, 2);
    expect_segment(l.path[0], acme_key, 0, 1, SEAL_FINISHED);
    expect_segment(l.path[1], acme_key, 1, 1, SEAL_FINISHED);
    store_free(s);
    s = open_store(64 * MIB, 3600);
    append(s, "acme", &acme_pub, 2, late);
    commit(s, late);
    append(s, "acme", &acme_pub, 3, late + 2000); /* the next UTC day */
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 4);
    assert_non_null(strstr(l.path[2], "/2024-05-01/"));
    assert_non_null(strstr(l.path[3], "/2024-05-02/"));
    expect_segment(l.path[2], acme_key, 2, 1, SEAL_FINISHED);
    expect_segment(l.path[3], acme_key, 3, 1, SEAL_FINISHED);
}

/* A tenant may list several public keys; the first seals new segments, and
 * each segment's key id says which secret key opens it. */
static void test_key_rotation(void **state)
{
    struct keys_secret *both[2] = {acme_key, acme2_key};
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    struct err e;
    uint64_t count;
    enum seal_end end;

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    commit(s, T0);
    append(s, "acme", &acme2_pub, 1, T0); /* same ms: the new segment is 1 ms later */
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 2);
    assert_true(strcmp(l.path[0], l.path[1]) < 0);
    expect_segment(l.path[0], acme_key, 0, 1, SEAL_FINISHED);
    expect_segment(l.path[1], acme2_key, 1, 1, SEAL_FINISHED);
    assert_int_equal(verify_file(l.path[0], &acme2_key, 1, 0, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, acme_pub.id));
    assert_int_equal(verify_file(l.path[1], &acme_key, 1, 1, &count, &end, &e), -1);
    assert_int_equal(verify_file(l.path[0], both, 2, 0, &count, &end, &e), 0);
    assert_int_equal(verify_file(l.path[1], both, 2, 1, &count, &end, &e), 0);
}

/* A segment moved into another tenant's directory, or another day's, or
 * renamed, fails even for a reader holding every key. */
static void test_moved_segment_detected(void **state)
{
    struct keys_secret *all[2] = {acme_key, globex_key};
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    struct err e;
    uint64_t count;
    enum seal_end end;
    char to[800];

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    append(s, "globex", &globex_pub, 0, T0 + DAY);
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 2);
    snprintf(to, sizeof(to), "%s/globex/2024-05-02/%016llu.seg", root, T0);
    assert_int_equal(rename(l.path[0], to), 0);
    assert_int_equal(verify_file(to, all, 2, 0, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, "moved from another tenant"));
    snprintf(to, sizeof(to), "%s/acme/2024-05-01/%016llu.seg", root, T0 + DAY);
    assert_int_equal(rename(l.path[1], to), 0); /* globex's, into acme's, same name */
    assert_int_equal(verify_file(to, all, 2, 0, &count, &end, &e), -1);
    snprintf(l.path[0], sizeof(l.path[0]), "%s/acme/2024-05-01/%016llu.seg", root, T0 + 5);
    snprintf(to, sizeof(to), "%s/globex/2024-05-02/%016llu.seg", root, T0);
    assert_int_equal(rename(to, l.path[0]), 0); /* back home, but renamed */
    assert_int_equal(verify_file(l.path[0], all, 2, 0, &count, &end, &e), -1);
    assert_non_null(strstr(e.msg, "renamed or moved"));
}

struct deleted {
    char day[8][STORE_DAY_LEN + 1];
    unsigned segs[8];
    int n;
};

static void on_deleted(void *arg, const char *tenant, const char *day, unsigned segments)
{
    struct deleted *d = arg;

    assert_string_equal(tenant, "acme");
    assert_true(d->n < 8);
    snprintf(d->day[d->n], sizeof(d->day[0]), "%s", day);
    d->segs[d->n++] = segments;
}

static void test_retention_deletes_whole_old_days(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct deleted d;
    struct segs l;
    struct err e;
    struct store_stats st;

    (void)state;
    for (unsigned i = 0; i < 6; i++) { /* 2024-05-01 .. 2024-05-06 */
        append(s, "acme", &acme_pub, i, T0 + i * DAY + 5000);
        commit(s, T0 + i * DAY + 5000);
    }
    append(s, "globex", &globex_pub, 0, T0);
    commit(s, T0);
    memset(&d, 0, sizeof(d));
    err_clear(&e);
    /* Today 2024-05-06, 2 days kept in full: 05-04 and later stay. */
    assert_int_equal(store_sweep(s, "acme", 2, T0 + 5 * DAY + 7000, on_deleted, &d, &e), 0);
    assert_int_equal(d.n, 3);
    assert_string_equal(d.day[0], "2024-05-01");
    assert_string_equal(d.day[1], "2024-05-02");
    assert_string_equal(d.day[2], "2024-05-03");
    assert_int_equal(d.segs[0], 1);
    memset(&d, 0, sizeof(d));
    assert_int_equal(store_sweep(s, "acme", 2, T0 + 5 * DAY + 7000, on_deleted, &d, &e), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(store_sweep(s, "nobody", 2, T0 + 5 * DAY, on_deleted, &d, &e), 0);
    store_stats(s, &st);
    assert_int_equal(st.days_deleted, 3);
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 4); /* acme 05-04, 05-05, 05-06; globex untouched */
    assert_non_null(strstr(l.path[0], "/acme/2024-05-04/"));
    assert_non_null(strstr(l.path[3], "/globex/2024-05-01/"));
    expect_segment(l.path[2], acme_key, 5, 1, SEAL_FINISHED);
}

/* The day that holds the open segment can be swept too (retention 0 and a
 * clock past midnight): the segment is closed first, and gone with its day. */
static void test_retention_closes_open_segment(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct deleted d;
    struct segs l;
    struct err e;

    (void)state;
    append(s, "acme", &acme_pub, 0, T0);
    commit(s, T0);
    memset(&d, 0, sizeof(d));
    err_clear(&e);
    assert_int_equal(store_sweep(s, "acme", 0, T0 + DAY, on_deleted, &d, &e), 0);
    assert_int_equal(d.n, 1);
    append(s, "acme", &acme_pub, 1, T0 + DAY);
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 1);
    expect_segment(l.path[0], acme_key, 1, 1, SEAL_FINISHED);
}

static void test_walk_order(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    char tdir[700];

    (void)state;
    append(s, "globex", &globex_pub, 0, T0);
    append(s, "acme", &acme_pub, 0, T0 + 2 * DAY);
    commit(s, T0 + 2 * DAY);
    append(s, "acme", &acme_pub, 1, T0 + 11 * DAY);
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 3);
    assert_non_null(strstr(l.path[0], "/acme/2024-05-03/"));
    assert_non_null(strstr(l.path[1], "/acme/2024-05-12/"));
    assert_non_null(strstr(l.path[2], "/globex/2024-05-01/"));
    snprintf(tdir, sizeof(tdir), "%s/acme", root);
    walk(tdir, &l);
    assert_int_equal(l.n, 2);
    walk(l.path[1], &l); /* a file is itself */
    assert_int_equal(l.n, 1);
}

static void test_place_parse(void **state)
{
    struct store_place pl;
    char day[STORE_DAY_LEN + 1];

    (void)state;
    assert_true(store_place_parse("s/acme/2024-02-29/0001709164800000.seg", &pl));
    assert_string_equal(pl.tenant, "acme");
    assert_string_equal(pl.day, "2024-02-29");
    assert_int_equal(pl.created_ms, 1709164800000ull);
    assert_true(store_place_parse("acme/2024-02-29/0001709164800000.seg", &pl));
    assert_false(store_place_parse("2024-02-29/0001709164800000.seg", &pl));
    assert_false(store_place_parse("s/acme/2023-02-29/0001709164800000.seg", &pl));
    assert_false(store_place_parse("s/acme/2024-13-01/0001709164800000.seg", &pl));
    assert_false(store_place_parse("s/.x/2024-02-29/0001709164800000.seg", &pl));
    assert_false(store_place_parse("s/acme/2024-02-29/1709164800000.seg", &pl));
    assert_false(store_place_parse("s/acme/2024-02-29/0001709164800000.sex", &pl));
    store_day_name(0, day);
    assert_string_equal(day, "1970-01-01");
    store_day_name(1709251199999ull, day);
    assert_string_equal(day, "2024-02-29");
    store_day_name(253402300799999ull, day);
    assert_string_equal(day, "9999-12-31");
}

static void test_bad_input_refused(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct err e;
    char *big = xcalloc(1, SEAL_RECORD_MAX + 1);

    (void)state;
    err_clear(&e);
    assert_int_equal(store_append(s, "../x", &acme_pub, "{}", 2, T0, &e), -1);
    err_clear(&e);
    assert_int_equal(store_append(s, "acme", &acme_pub, big, SEAL_RECORD_MAX + 1, T0, &e), -1);
    err_clear(&e);
    assert_int_equal(store_append(s, "acme", &acme_pub, "{}", 2, 253402300800000ull, &e), -1);
    err_clear(&e);
    assert_int_equal(store_commit(s, T0, &e), 0); /* nothing was lost: the batch holds */
    close_store(s);
    xfree(big);
}

/* A failed write fails the commit, so the caller acknowledges nothing of the
 * batch, and the store goes on with a new segment. Simulated by pointing
 * the open segment's file at a full device. */
static void test_failed_write_fails_the_batch(void **state)
{
    struct store *s = open_store(64 * MIB, 3600);
    struct segs l;
    struct err e;
    int full = open("/dev/full", O_WRONLY);

    (void)state;
    if (full < 0)
        skip();
    append(s, "acme", &acme_pub, 0, T0);
    commit(s, T0);
    append(s, "acme", &acme_pub, 1, T0 + 1);
    walk(root, &l);
    /* The writer's fd is the lowest free one opened after the file: swap the
     * file under it for /dev/full. */
    for (int fd = 3; fd < 64; fd++) {
        char link[64], target[700];
        ssize_t n;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n > 0 && (target[n] = '\0', strcmp(target, l.path[0]) == 0))
            assert_true(dup2(full, fd) == fd);
    }
    close(full);
    err_clear(&e);
    assert_int_equal(store_commit(s, T0 + 1, &e), -1);
    assert_non_null(strstr(e.msg, "write"));
    append(s, "acme", &acme_pub, 1, T0 + 2);
    commit(s, T0 + 2);
    close_store(s);
    walk(root, &l);
    assert_int_equal(l.n, 2);
    expect_segment(l.path[0], acme_key, 0, 1, SEAL_RECOVERED);
    expect_segment(l.path[1], acme_key, 1, 1, SEAL_FINISHED);
}

/* Read a segment without judging its records' text: -1 on any integrity
 * failure; otherwise the number of records. */
static long records_ok(const char *path, enum seal_end *end)
{
    FILE *f = fopen(path, "rb");
    struct seal_reader *r;
    struct buf out;
    struct err e;
    int got = -1;
    long n;

    assert_non_null(f);
    err_clear(&e);
    r = seal_reader_open(f, &acme_key, 1, "acme", &e);
    buf_init(&out, 0);
    while (r != NULL && (got = seal_reader_next(r, &out, &e)) == 1)
        ;
    n = got == 0 ? (long)seal_reader_count(r) : -1;
    *end = r != NULL ? seal_reader_end(r) : SEAL_OPEN;
    buf_free(&out);
    seal_reader_free(r);
    fclose(f);
    return n;
}

/* A store's life under a failing allocation: whatever fails, fails cleanly,
 * nothing leaks, and what is on disk still verifies. */
static void test_torture_writes(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        long before = mem_live();
        struct store *s;
        struct segs l;
        struct err e;
        int clean = 1, injected;
        snprintf(root, sizeof(root), "%s/torture%ld", dir, n);
        err_clear(&e);
        mem_fail_after(n);
        s = store_open(root, 64 * MIB, 3600, &e);
        for (unsigned i = 0; s != NULL && i < 3; i++) {
            char rec[128];
            int len = rec_text(rec, sizeof(rec), i);
            clean &= store_append(s, "acme", &acme_pub, rec, (size_t)len, T0 + i, &e) == 0;
        }
        clean &= s != NULL && store_commit(s, T0 + 3, &e) == 0;
        clean &= store_close(s, &e) == 0;
        injected = mem_fail_after(-1) > n;
        assert_int_equal(mem_live(), before);
        assert_true(clean || e.set);
        l.n = 0;
        if (access(root, F_OK) == 0)
            walk(root, &l);
        for (size_t k = 0; k < l.n; k++) {
            enum seal_end end;
            assert_true(records_ok(l.path[k], &end) >= 0);
        }
        if (!injected) {
            assert_true(clean && n > 3); /* the walk went through failures */
            return;
        }
    }
}

/* Recovery under a failing allocation never cuts what was committed: it
 * either completes or leaves the file for the next start. */
static void test_torture_recovery(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        long before = mem_live();
        struct store *s;
        struct segs l;
        struct err e;
        enum seal_end end;
        int injected;
        snprintf(root, sizeof(root), "%s/recovery%ld", dir, n);
        s = open_store(64 * MIB, 3600);
        for (unsigned i = 0; i < 3; i++)
            append(s, "acme", &acme_pub, i, T0);
        commit(s, T0);
        append(s, "acme", &acme_pub, 3, T0);
        walk(root, &l);
        store_free(s);
        append_bytes(l.path[0], "\0\0\0", 3);
        err_clear(&e);
        mem_fail_after(n);
        s = store_open(root, 64 * MIB, 3600, &e);
        injected = mem_fail_after(-1) > n;
        store_free(s);
        assert_int_equal(mem_live(), before);
        if (s == NULL) {
            assert_true(e.set);
            s = open_store(64 * MIB, 3600); /* the next start repairs it */
            store_free(s);
        }
        assert_int_equal(records_ok(l.path[0], &end), 3);
        assert_int_equal(end, SEAL_RECOVERED);
        if (!injected) {
            assert_true(s != NULL && n > 1);
            return;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_TEST(test_round_trip),
        STORE_TEST(test_commit_is_durable),
        STORE_TEST(test_crash_keeps_what_was_committed),
        STORE_TEST(test_torn_tail_is_cut),
        STORE_TEST(test_crash_before_first_commit),
        STORE_TEST(test_closed_segment_untouched),
        STORE_TEST(test_foreign_file_refused),
        STORE_TEST(test_rotation_by_size),
        STORE_TEST(test_rotation_by_age_and_day),
        STORE_TEST(test_key_rotation),
        STORE_TEST(test_moved_segment_detected),
        STORE_TEST(test_retention_deletes_whole_old_days),
        STORE_TEST(test_retention_closes_open_segment),
        STORE_TEST(test_walk_order),
        STORE_TEST(test_place_parse),
        STORE_TEST(test_bad_input_refused),
        STORE_TEST(test_failed_write_fails_the_batch),
        STORE_TEST(test_torture_writes),
        STORE_TEST(test_torture_recovery),
    };

    return cmocka_run_group_tests_name("store", tests, group_setup, group_teardown);
}
