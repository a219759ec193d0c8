/*
 * The writer: open (rebuilding the tree and cutting a torn tail), append,
 * checkpoint, close. Reading and verifying are in auditlog_read.c, proofs in
 * auditlog_prove.c.
 */
#include "auditlog_impl.h"

#include "common/log.h"
#include "common/mem.h"
#include "rules/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096

struct auditlog {
    char dir[PATH_CAP]; /* DIR/<tenant> */
    char origin[NOTE_ORIGIN_MAX + 1];
    const struct note_signer *signer;
    int efd, cfd;  /* entries and checkpoints, O_APPEND */
    uint64_t eoff; /* size of the entries file */
    struct merkle_frontier f;
    merkle_hash prev; /* leaf hash of the last entry */
    uint64_t every_entries, cp_size;
    int64_t every_ms, cp_ms; /* last checkpoint: tree size and time */
    uint64_t repaired;
    int dirty;  /* appended, not yet synced */
    int failed; /* an I/O error happened: refuse appends */
    struct buf line;
};

static const char *const outcome_names[] = {"forwarded", "spooled", "stored", "dropped",
                                            "retention"};

const char *auditlog_outcome_name(enum auditlog_outcome o)
{
    return (unsigned)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o]
                                                                          : "unknown";
}

int auditlog_path(char *out, size_t cap, const char *dir, const char *file, struct err *err)
{
    int n = snprintf(out, cap, "%s/%s", dir, file);

    if (n < 0 || (size_t)n >= cap)
        return err_set(err, "audit log path too long");
    return 0;
}

/* A string field: JSON-escaped, bounded, and "" for NULL. */
static int put_str(struct buf *b, const char *key, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n > AUDITLOG_STR_MAX)
        return -1;
    return buf_printf(b, ",\"%s\":", key) || json_write_string(b, s ? s : "", n);
}

static int put_rules(struct buf *b, const struct auditlog_entry *e)
{
    int r = e->nrules > AUDITLOG_RULES_MAX || buf_puts(b, ",\"rules\":[");

    for (size_t i = 0; !r && i < e->nrules; i++) {
        const struct auditlog_rule *ru = &e->rules[i];
        size_t il = ru->id ? strlen(ru->id) : 0, al = ru->action ? strlen(ru->action) : 0;
        r = il > AUDITLOG_STR_MAX || al > AUDITLOG_STR_MAX ||
            buf_puts(b, i ? ",{\"id\":" : "{\"id\":") ||
            json_write_string(b, ru->id ? ru->id : "", il) || buf_puts(b, ",\"action\":") ||
            json_write_string(b, ru->action ? ru->action : "", al) ||
            buf_printf(b, ",\"count\":%llu}", (unsigned long long)ru->count);
    }
    return r || buf_putc(b, ']');
}

int auditlog_entry_write(struct buf *b, const struct auditlog_entry *e, const merkle_hash prev)
{
    size_t mark = b->len;
    int r;

    if (e->time_ms < 0 || (unsigned)e->outcome > AUDITLOG_RETENTION)
        return -1;
    r = buf_printf(b, "{\"seq\":%llu,\"time_ms\":%lld", (unsigned long long)e->seq,
                   (long long)e->time_ms) ||
        put_str(b, "request", e->request_id) || put_str(b, "route", e->route) ||
        put_str(b, "format", e->format) ||
        put_str(b, "outcome", auditlog_outcome_name(e->outcome)) ||
        put_str(b, "reason", e->reason) || put_rules(b, e) ||
        buf_printf(b, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"prev\":\"",
                   (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out) ||
        note_b64_encode(b, prev, MERKLE_HASH_BYTES) || buf_puts(b, "\"}");
    if (r || b->len - mark > AUDITLOG_LINE_MAX) {
        buf_wipe_from(b, mark);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The tenant names a directory: the same safe alphabet as key files. */
static int tenant_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;

    if (n == 0 || n > 64 || t[0] == '.' || t[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_' || t[i] == '.'))
            return 0;
    return 1;
}

static int open_file(struct auditlog *log, const char *name, struct err *err)
{
    char p[PATH_CAP + 32];
    int fd;

    if (auditlog_path(p, sizeof(p), log->dir, name, err) != 0)
        return -1;
    fd = open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return err_set(err, "%s: %s", p, strerror(errno));
    return fd;
}

/* The directory, both files, and the writer's lock; a created entry in the
 * directory is made durable with an fsync of the directory. */
static int open_files(struct auditlog *log, struct err *err)
{
    int dfd;

    if (mkdir(log->dir, 0750) != 0 && errno != EEXIST)
        return err_set(err, "%s: %s", log->dir, strerror(errno));
    if ((log->efd = open_file(log, AUDITLOG_ENTRIES, err)) < 0 ||
        (log->cfd = open_file(log, AUDITLOG_CHECKPOINTS, err)) < 0)
        return -1;
    if (flock(log->efd, LOCK_EX | LOCK_NB) != 0)
        return err_set(err, "%s: the audit log is open in another process", log->dir);
    dfd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        if (dfd >= 0)
            close(dfd);
        return err_set(err, "%s: cannot sync the directory", log->dir);
    }
    close(dfd);
    return 0;
}

/* Cut what a crash left half-written, so the next write starts on a line
 * (or note) boundary. */
static int repair(struct auditlog *log, const struct auditlog_scan *s, struct err *err)
{
    struct stat est, cst;

    if (fstat(log->efd, &est) != 0 || fstat(log->cfd, &cst) != 0)
        return err_set(err, "%s: %s", log->dir, strerror(errno));
    if ((uint64_t)est.st_size > s->entries_end && ftruncate(log->efd, (off_t)s->entries_end) != 0)
        return err_set(err, "%s: cannot cut the torn entry: %s", log->dir, strerror(errno));
    if ((uint64_t)cst.st_size > s->checkpoints_end &&
        ftruncate(log->cfd, (off_t)s->checkpoints_end) != 0)
        return err_set(err, "%s: cannot cut the torn checkpoint: %s", log->dir, strerror(errno));
    log->repaired =
        (uint64_t)est.st_size - s->entries_end + (uint64_t)cst.st_size - s->checkpoints_end;
    if (log->repaired > 0) {
        log_warn("audit log %s: cut %llu bytes of a torn write", log->dir,
                 (unsigned long long)log->repaired);
        if (fsync(log->efd) != 0 || fsync(log->cfd) != 0)
            return err_set(err, "%s: %s", log->dir, strerror(errno));
    }
    log->eoff = s->entries_end;
    return 0;
}

static int load(struct auditlog *log, struct err *err)
{
    struct auditlog_scan s;
    struct err why;

    memset(&s, 0, sizeof(s));
    err_clear(&why);
    s.origin = log->origin;
    if (auditlog_scan_run(log->dir, &s, &why) != 0)
        return err_set(err, "audit log %s: %s%s", log->dir, why.msg,
                       s.r.bad ? " (run scrim audit verify)" : "");
    if (repair(log, &s, err) != 0)
        return -1;
    log->f = s.f;
    memcpy(log->prev, s.prev, sizeof(log->prev));
    log->cp_size = s.r.signed_size;
    return 0;
}

static int set_names(struct auditlog *log, const char *dir, const char *tenant,
                     const struct auditlog_options *o, struct err *err)
{
    const char *prefix = o->origin_prefix ? o->origin_prefix : "scrim";
    int n;

    if (!tenant_ok(tenant))
        return err_set(err, "tenant id must be 1-64 of [A-Za-z0-9._-]");
    if (auditlog_path(log->dir, sizeof(log->dir), dir, tenant, err) != 0)
        return -1;
    n = snprintf(log->origin, sizeof(log->origin), "%s/%s", prefix, tenant);
    if (n < 0 || (size_t)n >= sizeof(log->origin) ||
        !note_name_ok(log->origin, (size_t)n, NOTE_ORIGIN_MAX))
        return err_set(err, "audit origin must be printable ASCII without spaces or '+'");
    return 0;
}

struct auditlog *auditlog_open(const char *dir, const char *tenant,
                               const struct auditlog_options *o, struct err *err)
{
    struct auditlog *log = xcalloc(1, sizeof(*log));

    if (log == NULL)
        return err_set(err, "out of memory"), NULL;
    log->efd = log->cfd = -1;
    log->signer = o->signer;
    log->every_entries = o->every_entries ? o->every_entries : 1000;
    log->every_ms = o->every_ms > 0 ? o->every_ms : 60000;
    log->cp_ms = o->now_ms;
    buf_init(&log->line, AUDITLOG_LINE_MAX + 1);
    if (o->signer == NULL) {
        err_set(err, "audit log needs a signing key");
        goto fail;
    }
    if (set_names(log, dir, tenant, o, err) != 0 || open_files(log, err) != 0 ||
        load(log, err) != 0)
        goto fail;
    return log;
fail:
    log->failed = 1;
    auditlog_close(log, 0, NULL);
    return NULL;
}

static int fail_io(struct auditlog *log, const char *what, struct err *err)
{
    int e = errno;

    log->failed = 1;
    return err_set(err, "%s: %s: %s", log->dir, what, strerror(e));
}

int auditlog_append_nosync(struct auditlog *log, struct auditlog_entry *e, struct err *err)
{
    merkle_hash leaf;

    if (log->failed)
        return err_set(err, "%s: audit log failed earlier; reopen it", log->dir);
    e->seq = log->f.size;
    buf_reset(&log->line);
    if (auditlog_entry_write(&log->line, e, log->prev) != 0 || buf_putc(&log->line, '\n') != 0)
        return err_set(err,
                       "audit entry: a field is longer than %d bytes or not UTF-8, or "
                       "more than %d rules",
                       AUDITLOG_STR_MAX, AUDITLOG_RULES_MAX);
    if (write_all(log->efd, log->line.data, log->line.len) != 0) {
        /* Best effort: take a partial line back now; reopening cuts it anyway. */
        if (ftruncate(log->efd, (off_t)log->eoff) != 0)
            log_warn("audit log %s: a torn entry stays until the log is reopened", log->dir);
        return fail_io(log, "write", err);
    }
    merkle_leaf_hash(log->line.data, log->line.len - 1, leaf);
    if (merkle_frontier_push(&log->f, leaf) != 0)
        return fail_io(log, "tree full", err);
    memcpy(log->prev, leaf, sizeof(leaf));
    log->eoff += log->line.len;
    log->dirty = 1;
    return 0;
}

int auditlog_sync(struct auditlog *log, struct err *err)
{
    if (log->failed)
        return err_set(err, "%s: audit log failed earlier; reopen it", log->dir);
    if (log->dirty && fdatasync(log->efd) != 0)
        return fail_io(log, "fdatasync", err);
    log->dirty = 0;
    return 0;
}

int auditlog_append(struct auditlog *log, struct auditlog_entry *e, struct err *err)
{
    return auditlog_append_nosync(log, e, err) || auditlog_sync(log, err) ? -1 : 0;
}

int auditlog_append_retention(struct auditlog *log, int64_t now_ms, const char *day,
                              struct err *err)
{
    char reason[64];
    struct auditlog_entry e;

    if (day == NULL || strlen(day) != 10 || day[4] != '-' || day[7] != '-')
        return err_set(err, "retention day must be YYYY-MM-DD");
    snprintf(reason, sizeof(reason), "deleted day %s", day);
    memset(&e, 0, sizeof(e));
    e.time_ms = now_ms;
    e.outcome = AUDITLOG_RETENTION;
    e.reason = reason;
    return auditlog_append(log, &e, err);
}

int auditlog_should_checkpoint(const struct auditlog *log, int64_t now_ms)
{
    uint64_t pending = log->f.size - log->cp_size;

    return pending > 0 && (pending >= log->every_entries || now_ms - log->cp_ms >= log->every_ms);
}

int auditlog_checkpoint(struct auditlog *log, int64_t now_ms, struct err *err)
{
    struct note_checkpoint cp;
    struct buf text, note;
    int r = -1;

    if (auditlog_sync(log, err) != 0)
        return -1;
    buf_init(&text, NOTE_MAX_BYTES);
    buf_init(&note, NOTE_MAX_BYTES);
    memcpy(cp.origin, log->origin, sizeof(cp.origin));
    cp.size = log->f.size;
    merkle_frontier_root(&log->f, cp.root);
    if (note_checkpoint_format(&cp, &text) != 0 ||
        note_sign(log->signer, text.data, text.len, &note, err) != 0 || buf_putc(&note, '\n')) {
        err_set(err, "%s: cannot make a checkpoint", log->dir);
        goto out;
    }
    if (write_all(log->cfd, note.data, note.len) != 0 || fdatasync(log->cfd) != 0) {
        fail_io(log, "checkpoint write", err);
        goto out;
    }
    log->cp_size = cp.size;
    log->cp_ms = now_ms;
    r = 0;
out:
    buf_free(&text);
    buf_free(&note);
    return r;
}

int auditlog_close(struct auditlog *log, int64_t now_ms, struct err *err)
{
    int r = 0;

    if (log == NULL)
        return 0;
    if (!log->failed && log->f.size > log->cp_size)
        r = auditlog_checkpoint(log, now_ms, err);
    if (log->efd >= 0)
        close(log->efd);
    if (log->cfd >= 0)
        close(log->cfd);
    buf_free(&log->line);
    xfree(log);
    return r;
}

uint64_t auditlog_size(const struct auditlog *log)
{
    return log->f.size;
}

uint64_t auditlog_repaired_bytes(const struct auditlog *log)
{
    return log->repaired;
}

const char *auditlog_origin(const struct auditlog *log)
{
    return log->origin;
}
