/* auditlog: the log on disk, its tamper suite, proofs from disk. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "crypto/auditlog.h"
#include "crypto/keyfile.h"
#include "leak.h"
#include "rules/json.h"

#define T0       INT64_C(1714521600000) /* 2024-05-01T00:00:00Z */
#define MAXLINES 128
#define LINECAP  2048

static char base[] = "/tmp/scrim-test-audit-XXXXXX";
static struct note_signer *key, *other_key;

static struct note_signer *make_key(const char *sub, const char *name)
{
    char d[256], p[300];
    struct err e;

    err_clear(&e);
    snprintf(d, sizeof(d), "%s/%s", base, sub);
    if (mkdir(d, 0700) != 0 || note_keys_generate(d, name, NULL, &e) != 0)
        return NULL;
    snprintf(p, sizeof(p), "%s/audit.key", d);
    return note_signer_load(p, &e);
}

static int group_setup(void **state)
{
    (void)state;
    if (keyfile_crypto_init() != 0 || mkdtemp(base) == NULL)
        return -1;
    key = make_key("keys", NOTE_DEFAULT_NAME);
    other_key = make_key("other", NOTE_DEFAULT_NAME); /* same name, another key */
    return key && other_key ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    note_signer_free(key);
    note_signer_free(other_key);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void logpath(char *out, size_t cap, const char *tenant, const char *file)
{
    snprintf(out, cap, "%s/%s%s%s", base, tenant, file ? "/" : "", file ? file : "");
}

static struct auditlog *open_log(const char *tenant, const struct note_signer *k, struct err *e)
{
    struct auditlog_options o = {k, NULL, 1000000, 1000000000, T0};

    err_clear(e);
    return auditlog_open(base, tenant, &o, e);
}

static void fill_entry(struct auditlog_entry *e, struct auditlog_rule rules[2], int i, char *req,
                       size_t cap)
{
    snprintf(req, cap, "req-%04d", i);
    rules[0] = (struct auditlog_rule){"card-number", "mask", (uint64_t)(i % 3)};
    rules[1] = (struct auditlog_rule){"email", "hash", 1};
    memset(e, 0, sizeof(*e));
    e->time_ms = T0 + (int64_t)i * 5 * 3600 * 1000;
    e->request_id = req;
    e->route = "/collect";
    e->format = i % 2 ? "rrweb" : "form";
    e->outcome = i % 7 == 6 ? AUDITLOG_DROPPED : AUDITLOG_FORWARDED;
    e->reason = i % 7 == 6 ? "bad" : "";
    e->rules = rules;
    e->nrules = i % 5 == 4 ? 0 : 2;
    e->bytes_in = 1000 + (uint64_t)i;
    e->bytes_out = 900 + (uint64_t)i;
}

/* Append entries [from, to), checkpointing whenever the size is a multiple
 * of every (0: never), then close (which signs the rest). */
static void write_log(const char *tenant, const struct note_signer *k, int from, int to, int every)
{
    struct auditlog_rule rules[2];
    struct auditlog_entry e;
    struct auditlog *log;
    char req[32];
    struct err err;

    log = open_log(tenant, k, &err);
    assert_non_null(log);
    assert_int_equal(auditlog_size(log), from);
    for (int i = from; i < to; i++) {
        fill_entry(&e, rules, i, req, sizeof(req));
        assert_int_equal(auditlog_append(log, &e, &err), 0);
        assert_int_equal(e.seq, i);
        if (every && (i + 1) % every == 0)
            assert_int_equal(auditlog_checkpoint(log, T0, &err), 0);
    }
    assert_int_equal(auditlog_close(log, T0, &err), 0);
}

static int verify(const char *tenant, struct auditlog_report *r, struct err *e)
{
    char d[256];

    logpath(d, sizeof(d), tenant, NULL);
    err_clear(e);
    return auditlog_verify(d, note_signer_verifier(key), 1, NULL, r, e);
}

/* The entries file as lines (without newlines). */
static int read_lines(const char *tenant, char lines[MAXLINES][LINECAP])
{
    char p[256];
    FILE *f;
    int n = 0;

    logpath(p, sizeof(p), tenant, "entries");
    f = fopen(p, "r");
    assert_non_null(f);
    while (n < MAXLINES && fgets(lines[n], LINECAP, f) != NULL) {
        lines[n][strcspn(lines[n], "\n")] = '\0';
        n++;
    }
    fclose(f);
    return n;
}

static void write_file(const char *tenant, const char *file, const char *data, size_t n, int append)
{
    char p[256];
    FILE *f;

    logpath(p, sizeof(p), tenant, file);
    f = fopen(p, append ? "a" : "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_lines(const char *tenant, char lines[MAXLINES][LINECAP], int n)
{
    write_file(tenant, "entries", "", 0, 0);
    for (int i = 0; i < n; i++) {
        write_file(tenant, "entries", lines[i], strlen(lines[i]), 1);
        write_file(tenant, "entries", "\n", 1, 1);
    }
}

/* The checkpoints file, split into notes. */
static int read_notes(const char *tenant, char notes[8][1024])
{
    char p[256], all[8192];
    FILE *f;
    size_t n, off = 0, len, used;
    int k = 0;

    logpath(p, sizeof(p), tenant, "checkpoints");
    f = fopen(p, "r");
    assert_non_null(f);
    n = fread(all, 1, sizeof(all), f);
    fclose(f);
    while (off < n && k < 8 && note_frame(all + off, n - off, &len, &used) == 0) {
        memcpy(notes[k], all + off, len);
        notes[k++][len] = '\0';
        off += used;
    }
    return k;
}

static void write_notes(const char *tenant, char notes[8][1024], int n)
{
    write_file(tenant, "checkpoints", "", 0, 0);
    for (int i = 0; i < n; i++) {
        write_file(tenant, "checkpoints", notes[i], strlen(notes[i]), 1);
        write_file(tenant, "checkpoints", "\n", 1, 1);
    }
}

static void expect_bad(const char *tenant, uint64_t seq, const char *what)
{
    struct auditlog_report r;
    struct err e;
    char want[64];

    assert_int_equal(verify(tenant, &r, &e), -1);
    assert_true(r.bad);
    snprintf(want, sizeof(want), "sequence %llu: ", (unsigned long long)seq);
    if (strncmp(e.msg, want, strlen(want)) != 0 || strstr(e.msg, what) == NULL)
        fail_msg("want \"%s...%s\", got \"%s\"", want, what, e.msg);
    assert_int_equal(r.first_bad, seq);
}

/* Change the first digit of bytes_in: an edit that keeps the line canonical. */
static void edit_entry(char *line)
{
    char *c = strstr(line, "\"bytes_in\":");

    assert_non_null(c);
    c[strlen("\"bytes_in\":")] = c[strlen("\"bytes_in\":")] == '9' ? '8' : '9';
}

static void test_round_trip_verifies(void **state)
{
    struct auditlog_report r;
    struct err e;

    (void)state;
    write_log("ok", key, 0, 25, 10);
    assert_int_equal(verify("ok", &r, &e), 0);
    assert_string_equal(r.origin, "scrim/ok");
    assert_int_equal(r.entries, 25);
    assert_int_equal(r.checkpoints, 3);
    assert_int_equal(r.signed_size, 25);
    assert_int_equal(r.unsigned_tail, 0);
    assert_false(r.bad);
    /* Reopened, the writer continues the same tree. */
    write_log("ok", key, 25, 31, 0);
    assert_int_equal(verify("ok", &r, &e), 0);
    assert_int_equal(r.entries, 31);
    assert_int_equal(r.checkpoints, 4);
}

static void test_unsigned_tail_counted(void **state)
{
    char notes[8][1024];
    struct auditlog_report r;
    struct err e;

    (void)state;
    write_log("tail", key, 0, 14, 10);
    assert_int_equal(read_notes("tail", notes), 2);
    write_notes("tail", notes, 1); /* as if it crashed before the final checkpoint */
    assert_int_equal(verify("tail", &r, &e), 0);
    assert_int_equal(r.signed_size, 10);
    assert_int_equal(r.unsigned_tail, 4);
    write_notes("tail", notes, 0);
    assert_int_equal(verify("tail", &r, &e), 0);
    assert_int_equal(r.checkpoints, 0);
    assert_int_equal(r.unsigned_tail, 14);
}

static void test_torn_tail_cut_on_reopen(void **state)
{
    static const char torn_entry[] = "{\"seq\":12,\"time_ms\":17";
    static const char torn_note[] = "scrim/torn\n13\n";
    struct auditlog_report r;
    struct auditlog *log;
    struct err e;

    (void)state;
    write_log("torn", key, 0, 12, 0);
    write_file("torn", "entries", torn_entry, strlen(torn_entry), 1);
    write_file("torn", "checkpoints", torn_note, strlen(torn_note), 1);
    assert_int_equal(verify("torn", &r, &e), 0);
    assert_int_equal(r.torn_bytes, strlen(torn_entry) + strlen(torn_note));
    log = open_log("torn", key, &e);
    assert_non_null(log);
    assert_int_equal(auditlog_repaired_bytes(log), strlen(torn_entry) + strlen(torn_note));
    assert_int_equal(auditlog_size(log), 12);
    assert_int_equal(auditlog_close(log, T0, &e), 0);
    write_log("torn", key, 12, 15, 0);
    assert_int_equal(verify("torn", &r, &e), 0);
    assert_int_equal(r.torn_bytes, 0);
    assert_int_equal(r.entries, 15);
}

/* The tamper suite: a log of 30 entries with checkpoints at 10, 20, 30. */
static int tampered(const char *tenant, char lines[MAXLINES][LINECAP])
{
    write_log(tenant, key, 0, 30, 10);
    return read_lines(tenant, lines);
}

static void test_edit_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    int n;

    (void)state;
    n = tampered("edit", l);
    edit_entry(l[13]);
    write_lines("edit", l, n);
    expect_bad("edit", 13, "(edited)");
    /* The last entry of a checkpoint's range: the next entry's chain. */
    n = tampered("edit19", l);
    edit_entry(l[19]);
    write_lines("edit19", l, n);
    expect_bad("edit19", 19, "(edited)");
    /* The very last entry has no successor: the range it is in is named. */
    n = tampered("edit29", l);
    edit_entry(l[29]);
    write_lines("edit29", l, n);
    expect_bad("edit29", 20, "do not hash to the root signed at tree size 30");
}

static void test_insert_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    int n;

    (void)state;
    /* A forged entry 7 with the right sequence number and chain. */
    n = tampered("insert", l);
    memmove(l[8], l[7], sizeof(l[0]) * (size_t)(n - 7));
    edit_entry(l[7]);
    write_lines("insert", l, n + 1);
    expect_bad("insert", 7, "appears again at line 9");
    /* A copy of entry 7 after itself. */
    n = tampered("copy", l);
    memmove(l[8], l[7], sizeof(l[0]) * (size_t)(n - 7));
    write_lines("copy", l, n + 1);
    expect_bad("copy", 7, "appears again at line 9");
}

static void test_delete_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    int n;

    (void)state;
    n = tampered("delete", l);
    memmove(l[5], l[6], sizeof(l[0]) * (size_t)(n - 6));
    write_lines("delete", l, n - 1);
    expect_bad("delete", 5, "missing: line 6 holds sequence 6");
}

static void test_reorder_detected(void **state)
{
    static char l[MAXLINES][LINECAP], tmp[LINECAP];
    int n;

    (void)state;
    n = tampered("reorder", l);
    memcpy(tmp, l[3], LINECAP);
    memcpy(l[3], l[4], LINECAP);
    memcpy(l[4], tmp, LINECAP);
    write_lines("reorder", l, n);
    expect_bad("reorder", 3, "removed or moved");
}

static void test_truncation_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    int n;

    (void)state;
    n = tampered("trunc", l);
    write_lines("trunc", l, 25);
    expect_bad("trunc", 25, "checkpoint 3 signs tree size 30 (entries were cut)");
    write_lines("trunc", l, 15);
    expect_bad("trunc", 15, "checkpoint 2 signs tree size 20");
    write_lines("trunc", l, n);
    write_file("trunc", "entries", "", 0, 0);
    expect_bad("trunc", 0, "checkpoint 1 signs tree size 10");
}

/* Replace checkpoint k (1-based) of tenant's log with text signed by s. */
static void forge(const char *tenant, int k, const char *text, const struct note_signer *s)
{
    char notes[8][1024];
    struct buf b;
    struct err e;
    int n = read_notes(tenant, notes);

    buf_init(&b, 0);
    err_clear(&e);
    assert_int_equal(note_sign(s, text, strlen(text), &b, &e), 0);
    assert_in_range(b.len, 1, sizeof(notes[0]) - 1);
    memcpy(notes[k - 1], b.data, b.len + 1);
    write_notes(tenant, notes, k > n ? k : n);
    buf_free(&b);
}

static void test_forged_checkpoint_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    char notes[8][1024];
    size_t tl;
    struct err e;

    (void)state;
    tampered("forged", l);
    assert_int_equal(read_notes("forged", notes), 3);
    /* The same checkpoint, signed by another key of the same name. */
    assert_int_equal(note_verify(notes[1], strlen(notes[1]), NULL, 0, &tl, &e), 0);
    notes[1][tl] = '\0';
    forge("forged", 2, notes[1], other_key);
    expect_bad("forged", 10, "checkpoint 2: note is not signed by key scrim-audit");
    /* A modified root under the original signature. */
    tampered("reroot", l);
    assert_int_equal(read_notes("reroot", notes), 3);
    notes[1][strlen("scrim/reroot\n20\n") + 3] ^= 1;
    write_notes("reroot", notes, 3);
    expect_bad("reroot", 10, "checkpoint 2: the signature by key scrim-audit does not verify");
    /* A checkpoint of a longer log, signed by a stranger. */
    tampered("longer", l);
    forge("longer", 4, "scrim/longer\n40\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
          other_key);
    expect_bad("longer", 30, "checkpoint 4: note is not signed");
}

static void test_foreign_checkpoint_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    char mine[8][1024], theirs[8][1024], from[256], to[256], cmd[600];

    (void)state;
    /* Another tenant's checkpoint, genuinely signed, put in this log. */
    tampered("tenant-a", l);
    tampered("tenant-b", l);
    assert_int_equal(read_notes("tenant-a", mine), 3);
    assert_int_equal(read_notes("tenant-b", theirs), 3);
    memcpy(mine[0], theirs[0], sizeof(mine[0]));
    write_notes("tenant-a", mine, 3);
    expect_bad("tenant-a", 0, "checkpoint 1: origin scrim/tenant-b is not this log's");
    /* Tenant b's whole log passed off as tenant c's. */
    logpath(from, sizeof(from), "tenant-b", NULL);
    logpath(to, sizeof(to), "tenant-c", NULL);
    snprintf(cmd, sizeof(cmd), "cp -r %s %s", from, to);
    assert_int_equal(system(cmd), 0);
    expect_bad("tenant-c", 0, "origin scrim/tenant-b is not this log's");
}

static void test_rollback_detected(void **state)
{
    static char l[MAXLINES][LINECAP];
    char notes[8][1024], tmp[1024];

    (void)state;
    tampered("rollback", l);
    assert_int_equal(read_notes("rollback", notes), 3);
    memcpy(tmp, notes[1], sizeof(tmp));
    memcpy(notes[1], notes[2], sizeof(tmp));
    memcpy(notes[2], tmp, sizeof(tmp));
    write_notes("rollback", notes, 3);
    expect_bad("rollback", 30, "checkpoint 3: tree size 20 is smaller than the one before");
}

static void test_open_refuses_tampered_log(void **state)
{
    static char l[MAXLINES][LINECAP];
    struct err e;
    int n;

    (void)state;
    n = tampered("refuse", l);
    edit_entry(l[4]);
    write_lines("refuse", l, n);
    assert_null(open_log("refuse", key, &e));
    assert_non_null(strstr(e.msg, "sequence 4: "));
    assert_non_null(strstr(e.msg, "run scrim audit verify"));
}

static int check_fields(void *ctx, const struct auditlog_entry *e)
{
    (*(int *)ctx)++;
    assert_string_equal(e->route, "/collect");
    assert_true(e->time_ms >= T0);
    return 0;
}

/* An entry holds the documented fields and nothing else. */
static void test_entries_hold_only_fields(void **state)
{
    static const char *keys[] = {"seq",    "time_ms", "request",  "route",     "format", "outcome",
                                 "reason", "rules",   "bytes_in", "bytes_out", "prev"};
    static char l[MAXLINES][LINECAP];
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    char d[256];
    int n, seen = 0;

    (void)state;
    write_log("fields", key, 0, 6, 0);
    n = read_lines("fields", l);
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++) {
        err_clear(&e);
        assert_int_equal(json_parse(a, l[i], strlen(l[i]), NULL, &v, &e), JSON_OK);
        assert_int_equal(v->type, JSON_OBJECT);
        assert_int_equal(v->len, 11);
        for (size_t k = 0; k < v->len; k++) {
            assert_int_equal(v->u.members[k].klen, strlen(keys[k]));
            assert_memory_equal(v->u.members[k].key, keys[k], strlen(keys[k]));
        }
        for (size_t k = 0; k < json_get(v, "rules")->len; k++)
            assert_int_equal(json_get(v, "rules")->u.items[k]->len, 3);
    }
    assert_string_equal(l[0],
                        "{\"seq\":0,\"time_ms\":1714521600000,\"request\":\"req-0000\","
                        "\"route\":\"/collect\",\"format\":\"form\",\"outcome\":\"forwarded\","
                        "\"reason\":\"\",\"rules\":[{\"id\":\"card-number\",\"action\":"
                        "\"mask\",\"count\":0},{\"id\":\"email\",\"action\":\"hash\","
                        "\"count\":1}],\"bytes_in\":1000,\"bytes_out\":900,\"prev\":"
                        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}");
    logpath(d, sizeof(d), "fields", NULL);
    assert_int_equal(auditlog_foreach(d, check_fields, &seen, &e), 0);
    assert_int_equal(seen, 6);
    arena_free(a);
}

static void test_bad_fields_refused(void **state)
{
    struct auditlog_rule rules[2];
    struct auditlog_entry e;
    struct auditlog *log, *again;
    char req[300], bad[] = "\xff";
    struct err err;

    (void)state;
    log = open_log("refused", key, &err);
    assert_non_null(log);
    assert_null(open_log("refused", key, &err)); /* one writer at a time */
    assert_non_null(strstr(err.msg, "another process"));
    fill_entry(&e, rules, 0, req, sizeof(req));
    memset(req, 'x', 299);
    req[299] = '\0';
    assert_int_equal(auditlog_append(log, &e, &err), -1);
    fill_entry(&e, rules, 0, req, sizeof(req));
    e.route = bad;
    assert_int_equal(auditlog_append(log, &e, &err), -1);
    fill_entry(&e, rules, 0, req, sizeof(req));
    e.time_ms = -1;
    assert_int_equal(auditlog_append(log, &e, &err), -1);
    assert_int_equal(auditlog_size(log), 0);
    fill_entry(&e, rules, 0, req, sizeof(req));
    assert_int_equal(auditlog_append(log, &e, &err), 0);
    assert_int_equal(auditlog_close(log, T0, &err), 0);
    assert_null(open_log("../etc", key, &err));
    again = open_log("refused", NULL, &err);
    assert_null(again);
}

static void test_should_checkpoint(void **state)
{
    struct auditlog_options o = {NULL, "example.com/scrim", 5, 1000, T0};
    struct auditlog_rule rules[2];
    struct auditlog_entry e;
    struct auditlog *log;
    struct auditlog_report r;
    char req[32], d[256];
    struct err err;

    (void)state;
    o.signer = key;
    err_clear(&err);
    log = auditlog_open(base, "timed", &o, &err);
    assert_non_null(log);
    assert_string_equal(auditlog_origin(log), "example.com/scrim/timed");
    assert_false(auditlog_should_checkpoint(log, T0 + 5000)); /* nothing to sign */
    for (int i = 0; i < 4; i++) {
        fill_entry(&e, rules, i, req, sizeof(req));
        assert_int_equal(auditlog_append(log, &e, &err), 0);
    }
    assert_false(auditlog_should_checkpoint(log, T0 + 999));
    assert_true(auditlog_should_checkpoint(log, T0 + 1000));
    fill_entry(&e, rules, 4, req, sizeof(req));
    assert_int_equal(auditlog_append(log, &e, &err), 0);
    assert_true(auditlog_should_checkpoint(log, T0));
    assert_int_equal(auditlog_checkpoint(log, T0 + 10, &err), 0);
    assert_false(auditlog_should_checkpoint(log, T0 + 5000));
    assert_int_equal(auditlog_append_retention(log, T0 + 20, "2024-04-01", &err), 0);
    assert_int_equal(auditlog_append_retention(log, T0 + 20, "April", &err), -1);
    assert_false(auditlog_should_checkpoint(log, T0 + 1009));
    assert_true(auditlog_should_checkpoint(log, T0 + 1010));
    assert_int_equal(auditlog_close(log, T0, &err), 0);
    err_clear(&err);
    logpath(d, sizeof(d), "timed", NULL);
    assert_int_equal(auditlog_verify(d, note_signer_verifier(key), 1, NULL, &r, &err), 0);
    assert_int_equal(r.checkpoints, 2);
    assert_int_equal(auditlog_verify(d, note_signer_verifier(key), 1, "scrim/timed", &r, &err), -1);
}

static int find_retention(void *ctx, const struct auditlog_entry *e)
{
    if (e->outcome == AUDITLOG_RETENTION) {
        assert_string_equal(e->reason, "deleted day 2024-04-01");
        assert_int_equal(e->nrules, 0);
        *(uint64_t *)ctx = e->seq;
    }
    return 0;
}

static void test_retention_is_an_entry(void **state)
{
    struct auditlog *log;
    uint64_t seq = 0;
    struct err e;
    char d[256];

    (void)state;
    write_log("retain", key, 0, 3, 0);
    log = open_log("retain", key, &e);
    assert_non_null(log);
    assert_int_equal(auditlog_append_retention(log, T0, "2024-04-01", &e), 0);
    assert_int_equal(auditlog_close(log, T0, &e), 0);
    logpath(d, sizeof(d), "retain", NULL);
    assert_int_equal(auditlog_foreach(d, find_retention, &seq, &e), 0);
    assert_int_equal(seq, 3);
}

static void test_key_rotation(void **state)
{
    struct note_verifier both[2];
    struct auditlog_report r;
    struct err e;
    char d[256];

    (void)state;
    write_log("rotate", key, 0, 7, 0);
    write_log("rotate", other_key, 7, 9, 0);
    both[0] = *note_signer_verifier(key);
    both[1] = *note_signer_verifier(other_key);
    logpath(d, sizeof(d), "rotate", NULL);
    err_clear(&e);
    assert_int_equal(auditlog_verify(d, both, 2, NULL, &r, &e), 0);
    assert_int_equal(r.checkpoints, 2);
    expect_bad("rotate", 7, "checkpoint 2: note is not signed by key scrim-audit");
}

/* Proofs made from disk verify, through their text form too. */
static void check_proof(const struct proof *p, const struct note_verifier *v)
{
    struct proof q;
    struct buf text;
    struct err e;

    buf_init(&text, 0);
    proof_init(&q);
    err_clear(&e);
    assert_int_equal(proof_check(p, v, 1, &e), 0);
    assert_int_equal(proof_format(p, &text), 0);
    assert_int_equal(proof_parse(text.data, text.len, &q, &e), 0);
    assert_int_equal(proof_check(&q, v, 1, &e), 0);
    assert_int_equal(proof_check(&q, note_signer_verifier(other_key), 1, &e), -1);
    for (size_t i = 0; i < q.path_len; i++) {
        q.path[i][i % 32] ^= 4;
        assert_int_equal(proof_check(&q, v, 1, &e), -1);
        q.path[i][i % 32] ^= 4;
    }
    proof_free(&q);
    buf_free(&text);
}

static void test_proofs_from_disk(void **state)
{
    const struct note_verifier *v = note_signer_verifier(key);
    struct buf notes[5];
    struct proof p;
    struct err e;
    char d[256];

    (void)state;
    write_log("proofs", key, 0, 37, 8); /* checkpoints at 8, 16, 24, 32, 37 */
    logpath(d, sizeof(d), "proofs", NULL);
    proof_init(&p);
    err_clear(&e);
    for (uint64_t seq = 0; seq < 37; seq++) {
        assert_int_equal(auditlog_prove_inclusion(d, seq, &p, &e), 0);
        assert_int_equal(p.size, 37);
        check_proof(&p, v);
    }
    assert_int_equal(auditlog_prove_inclusion(d, 37, &p, &e), -1);
    for (int i = 0; i < 5; i++) {
        buf_init(&notes[i], 0);
        assert_int_equal(
            auditlog_checkpoint_find(d, i < 4 ? (uint64_t)(8 * i + 8) : UINT64_MAX, &notes[i], &e),
            0);
    }
    for (int i = 0; i < 5; i++)
        for (int j = i; j < 5; j++) {
            assert_int_equal(auditlog_prove_consistency(d, &notes[i], &notes[j], &p, &e), 0);
            check_proof(&p, v);
        }
    assert_int_equal(auditlog_prove_consistency(d, &notes[3], &notes[1], &p, &e), -1);
    assert_int_equal(auditlog_checkpoint_find(d, 9, &notes[0], &e), -1);
    for (int i = 0; i < 5; i++)
        buf_free(&notes[i]);
    proof_free(&p);
}

/* Every allocation failure is a clean error: verify never reports it as
 * tampering, and a writer that fails half-way leaves a log that verifies. */
static void test_torture_allocation_failures(void **state)
{
    struct auditlog_rule rules[2];
    struct auditlog_entry en;
    struct auditlog_report r;
    struct auditlog *log;
    char req[32];
    long before = mem_live(), n;
    struct err e;
    int rc;

    (void)state;
    write_log("torture", key, 0, 20, 8);
    for (n = 0;; n++) {
        mem_fail_after(n);
        rc = verify("torture", &r, &e);
        mem_fail_after(-1);
        assert_int_equal(mem_live(), before);
        if (rc == 0)
            break;
        if (r.bad)
            fail_msg("allocation %ld: %s", n, e.msg);
    }
    assert_true(n > 3);
    for (n = 0;; n++) {
        mem_fail_after(n);
        log = open_log("torture", key, &e);
        fill_entry(&en, rules, 0, req, sizeof(req));
        rc = log == NULL || auditlog_append(log, &en, &e) || auditlog_checkpoint(log, T0, &e);
        rc |= auditlog_close(log, T0, &e) != 0;
        mem_fail_after(-1);
        assert_int_equal(mem_live(), before);
        assert_int_equal(verify("torture", &r, &e), 0);
        if (rc == 0)
            break;
    }
    assert_true(n > 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_round_trip_verifies),
        LEAK_TEST(test_unsigned_tail_counted),
        LEAK_TEST(test_torn_tail_cut_on_reopen),
        LEAK_TEST(test_edit_detected),
        LEAK_TEST(test_insert_detected),
        LEAK_TEST(test_delete_detected),
        LEAK_TEST(test_reorder_detected),
        LEAK_TEST(test_truncation_detected),
        LEAK_TEST(test_forged_checkpoint_detected),
        LEAK_TEST(test_foreign_checkpoint_detected),
        LEAK_TEST(test_rollback_detected),
        LEAK_TEST(test_open_refuses_tampered_log),
        LEAK_TEST(test_entries_hold_only_fields),
        LEAK_TEST(test_bad_fields_refused),
        LEAK_TEST(test_should_checkpoint),
        LEAK_TEST(test_retention_is_an_entry),
        LEAK_TEST(test_key_rotation),
        LEAK_TEST(test_proofs_from_disk),
        LEAK_TEST(test_torture_allocation_failures),
    };
    return cmocka_run_group_tests_name("auditlog", tests, group_setup, group_teardown);
}
