/*
 * scrim audit: what an auditor runs on a tenant's audit log (docs/audit.md).
 *   verify       recompute the tree, check every checkpoint; name the first
 *                bad sequence number
 *   prove        an inclusion proof of one entry against the latest checkpoint
 *   consistency  a consistency proof between two checkpoints
 *   check-proof  check either kind of proof with the verifier key
 *   summary      per day and rule, the counts
 * Exit status: 0 OK, 1 a log or proof failed verification, 2 usage or I/O.
 */
#include "cmd.h"

#include "common/arena.h"
#include "common/mem.h"
#include "crypto/auditlog.h"
#include "crypto/note.h"
#include "crypto/proof.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_KEYS     8
#define SUMMARY_ROWS 1000000

static const char audit_usage[] =
    "usage: scrim audit verify --pub KEY [--pub KEY]... [--origin O] LOGDIR...\n"
    "       scrim audit prove --seq N LOGDIR\n"
    "       scrim audit consistency OLD NEW LOGDIR\n"
    "       scrim audit check-proof --pub KEY [--pub KEY]... [PROOF]\n"
    "       scrim audit summary LOGDIR...\n"
    "\n"
    "LOGDIR is one tenant's log, <audit dir>/<tenant>; KEY a verifier key file\n"
    "such as audit.pub (scrim keys audit).\n"
    "verify       recompute the Merkle tree and check every checkpoint's signature\n"
    "             and root; fails naming the first bad sequence number, and says\n"
    "             how many entries follow the last checkpoint (unsigned tail).\n"
    "             The origin must be O, or end in /<last part of LOGDIR>.\n"
    "prove        print an inclusion proof of entry N against the latest checkpoint\n"
    "consistency  print a consistency proof between two checkpoints: each of OLD\n"
    "             and NEW is a tree size of a checkpoint in LOGDIR, 'latest', or a\n"
    "             file holding a signed checkpoint\n"
    "check-proof  check a proof from prove or consistency (PROOF or stdin)\n"
    "summary      per day (UTC): entries per outcome, and per rule and action the\n"
    "             values touched; checks nothing, run verify first\n";

static int usage_error(void)
{
    fputs(audit_usage, stderr);
    return EXIT_USAGE;
}

static int parse_keys(const char *const *paths, size_t n, struct note_verifier *keys)
{
    struct err err;

    for (size_t i = 0; i < n; i++) {
        err_clear(&err);
        if (note_verifier_load(paths[i], &keys[i], &err) != 0) {
            cmd_report("audit", &err);
            return -1;
        }
    }
    return 0;
}

static int verify_one(const char *dir, const struct note_verifier *keys, size_t nkeys,
                      const char *origin)
{
    struct auditlog_report r;
    struct err err;

    err_clear(&err);
    if (auditlog_verify(dir, keys, nkeys, origin, &r, &err) != 0) {
        fprintf(stderr, "scrim: audit verify: %s: %s\n", dir, err.msg);
        return r.bad ? EXIT_REJECT : EXIT_USAGE;
    }
    printf("%s: OK: origin %s, %llu entries, %llu checkpoints, signed up to tree size %llu, "
           "%llu entries in the unsigned tail\n",
           dir, r.origin[0] ? r.origin : "(none)", (unsigned long long)r.entries,
           (unsigned long long)r.checkpoints, (unsigned long long)r.signed_size,
           (unsigned long long)r.unsigned_tail);
    if (r.torn_bytes > 0)
        printf("%s: %llu bytes of a torn last write ignored (the writer cuts them on open)\n", dir,
               (unsigned long long)r.torn_bytes);
    return EXIT_OK;
}

/* Options shared by verify and check-proof: --pub (repeatable), --origin. */
struct opts {
    const char *pubs[MAX_KEYS];
    size_t npubs;
    const char *origin, *seq;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"pub", required_argument, NULL, 'p'},
                                             {"origin", required_argument, NULL, 'o'},
                                             {"seq", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "p:o:s:h", longopts, NULL)) != -1) {
        if (ch == 'p' && o->npubs < MAX_KEYS)
            o->pubs[o->npubs++] = optarg;
        else if (ch == 'o')
            o->origin = optarg;
        else if (ch == 's')
            o->seq = optarg;
        else
            return ch == 'h' ? 1 : -1;
    }
    return 0;
}

static int cmd_verify(int argc, char **argv, const struct opts *o)
{
    struct note_verifier keys[MAX_KEYS];
    int worst = EXIT_OK;

    if (o->npubs == 0 || optind >= argc)
        return usage_error();
    if (parse_keys(o->pubs, o->npubs, keys) != 0)
        return EXIT_USAGE;
    for (int i = optind; i < argc; i++) {
        int r = verify_one(argv[i], keys, o->npubs, o->origin);
        worst = r > worst ? r : worst;
    }
    return worst;
}

static int print_proof(const struct proof *p)
{
    struct buf out;
    int r;

    buf_init(&out, 0);
    r = proof_format(p, &out) == 0 && fwrite(out.data, 1, out.len, stdout) == out.len ? 0 : -1;
    buf_free(&out);
    return r;
}

static int cmd_prove(int argc, char **argv, const struct opts *o)
{
    struct proof p;
    struct err err;
    uint64_t seq;
    int r = EXIT_USAGE;

    if (o->seq == NULL || note_u64_parse(o->seq, strlen(o->seq), &seq) != 0 || optind != argc - 1)
        return usage_error();
    err_clear(&err);
    proof_init(&p);
    if (auditlog_prove_inclusion(argv[optind], seq, &p, &err) != 0)
        cmd_report("audit prove", &err);
    else
        r = print_proof(&p) == 0 ? EXIT_OK : EXIT_USAGE;
    proof_free(&p);
    return r;
}

/* A checkpoint by tree size, "latest", or from a file holding a note. */
static int load_checkpoint(const char *dir, const char *what, struct buf *note, struct err *err)
{
    struct buf file;
    size_t len, used;
    uint64_t size;
    int r = 0;

    if (strcmp(what, "latest") == 0)
        return auditlog_checkpoint_find(dir, UINT64_MAX, note, err);
    if (note_u64_parse(what, strlen(what), &size) == 0)
        return auditlog_checkpoint_find(dir, size, note, err);
    buf_init(&file, NOTE_MAX_BYTES + 2);
    if (cmd_read_file(what, &file, err) != 0 ||
        note_frame(file.data ? file.data : "", file.len, &len, &used) != 0 ||
        buf_append(note, file.data, len) != 0)
        r = err_set(err, "%s: not a signed checkpoint", what);
    buf_free(&file);
    return r;
}

static int cmd_consistency(int argc, char **argv)
{
    struct buf old, new;
    struct proof p;
    struct err err;
    int r = EXIT_USAGE;

    if (optind != argc - 3)
        return usage_error();
    err_clear(&err);
    buf_init(&old, NOTE_MAX_BYTES);
    buf_init(&new, NOTE_MAX_BYTES);
    proof_init(&p);
    if (load_checkpoint(argv[optind + 2], argv[optind], &old, &err) != 0 ||
        load_checkpoint(argv[optind + 2], argv[optind + 1], &new, &err) != 0 ||
        auditlog_prove_consistency(argv[optind + 2], &old, &new, &p, &err) != 0)
        cmd_report("audit consistency", &err);
    else
        r = print_proof(&p) == 0 ? EXIT_OK : EXIT_USAGE;
    proof_free(&p);
    buf_free(&old);
    buf_free(&new);
    return r;
}

static void print_checked(const struct proof *p)
{
    if (p->kind == PROOF_INCLUSION)
        printf("OK: entry %llu is in log %s at tree size %llu\n", (unsigned long long)p->index,
               p->origin, (unsigned long long)p->size);
    else
        printf("OK: log %s at tree size %llu extends tree size %llu\n", p->origin,
               (unsigned long long)p->size, (unsigned long long)p->old_size);
}

static int cmd_check_proof(int argc, char **argv, const struct opts *o)
{
    struct note_verifier keys[MAX_KEYS];
    struct buf text;
    struct proof p;
    struct err err;
    int r = EXIT_USAGE;

    if (o->npubs == 0 || optind < argc - 1)
        return usage_error();
    if (parse_keys(o->pubs, o->npubs, keys) != 0)
        return EXIT_USAGE;
    err_clear(&err);
    buf_init(&text, PROOF_ENTRY_MAX + 2 * NOTE_MAX_BYTES + 65536);
    proof_init(&p);
    if (cmd_read_file(optind < argc ? argv[optind] : NULL, &text, &err) != 0) {
        cmd_report("audit check-proof", &err);
    } else if (proof_parse(text.data ? text.data : "", text.len, &p, &err) != 0 ||
               proof_check(&p, keys, o->npubs, &err) != 0) {
        cmd_report("audit check-proof", &err);
        r = EXIT_REJECT;
    } else {
        print_checked(&p);
        r = EXIT_OK;
    }
    proof_free(&p);
    buf_free(&text);
    return r;
}

/* The summary: rows keyed by (day, kind, name, action), kept sorted. */
struct row {
    char day[11];
    int kind; /* 0: an outcome, 1: a rule */
    const char *name, *action;
    uint64_t values, entries;
};

struct summary {
    struct arena *arena;
    struct row *rows;
    size_t n, cap;
};

static int row_cmp(const struct row *a, const char *day, int kind, const char *name,
                   const char *action)
{
    int c = strcmp(a->day, day);

    if (c == 0)
        c = a->kind - kind;
    if (c == 0)
        c = strcmp(a->name, name);
    return c != 0 ? c : strcmp(a->action, action);
}

static struct row *row_get(struct summary *s, const char *day, int kind, const char *name,
                           const char *action)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = row_cmp(&s->rows[mid], day, kind, name, action);
        if (c == 0)
            return &s->rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->n == SUMMARY_ROWS)
        return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct row *rows = xrealloc(s->rows, cap * sizeof(*rows));
        if (rows == NULL)
            return NULL;
        s->rows = rows;
        s->cap = cap;
    }
    memmove(&s->rows[lo + 1], &s->rows[lo], (s->n - lo) * sizeof(*s->rows));
    s->n++;
    memset(&s->rows[lo], 0, sizeof(*s->rows));
    memcpy(s->rows[lo].day, day, sizeof(s->rows[lo].day));
    s->rows[lo].kind = kind;
    s->rows[lo].name = arena_strndup(s->arena, name, strlen(name));
    s->rows[lo].action = arena_strndup(s->arena, action, strlen(action));
    return s->rows[lo].name && s->rows[lo].action ? &s->rows[lo] : NULL;
}

static int summary_add(void *ctx, const struct auditlog_entry *e)
{
    struct summary *s = ctx;
    time_t t = (time_t)(e->time_ms / 1000);
    struct tm tm;
    char day[11];
    struct row *r;

    if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) != 10)
        return -1;
    r = row_get(s, day, 0, auditlog_outcome_name(e->outcome), "");
    if (r == NULL)
        return -1;
    r->entries++;
    for (size_t i = 0; i < e->nrules; i++) {
        r = row_get(s, day, 1, e->rules[i].id, e->rules[i].action);
        if (r == NULL)
            return -1;
        r->values += e->rules[i].count;
        r->entries++;
    }
    return 0;
}

static void summary_print(const char *dir, const struct summary *s)
{
    printf("# %s\nday\toutcome\tentries\n", dir);
    for (size_t i = 0; i < s->n; i++)
        if (s->rows[i].kind == 0)
            printf("%s\t%s\t%llu\n", s->rows[i].day, s->rows[i].name,
                   (unsigned long long)s->rows[i].entries);
    printf("day\trule\taction\tvalues\tentries\n");
    for (size_t i = 0; i < s->n; i++)
        if (s->rows[i].kind == 1)
            printf("%s\t%s\t%s\t%llu\t%llu\n", s->rows[i].day, s->rows[i].name, s->rows[i].action,
                   (unsigned long long)s->rows[i].values, (unsigned long long)s->rows[i].entries);
}

static int summary_one(const char *dir)
{
    struct summary s = {arena_new(0), NULL, 0, 0};
    struct err err;
    int r;

    err_clear(&err);
    r = auditlog_foreach(dir, summary_add, &s, &err);
    if (r != 0) {
        if (!err.set)
            err_set(&err, "more than %d summary rows, or a time out of range", SUMMARY_ROWS);
        fprintf(stderr, "scrim: audit summary: %s: %s\n", dir, err.msg);
    } else {
        summary_print(dir, &s);
    }
    xfree(s.rows);
    arena_free(s.arena);
    return r == 0 ? EXIT_OK : EXIT_USAGE;
}

int cmd_audit(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : NULL;
    struct opts o;
    int r, worst = EXIT_OK;

    if (what == NULL || strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
        fputs(audit_usage, what ? stdout : stderr);
        return what ? EXIT_OK : EXIT_USAGE;
    }
    r = parse_opts(argc - 1, argv + 1, &o);
    if (r != 0) {
        fputs(audit_usage, r > 0 ? stdout : stderr);
        return r > 0 ? EXIT_OK : EXIT_USAGE;
    }
    argc -= 1, argv += 1;
    if (strcmp(what, "verify") == 0)
        return cmd_verify(argc, argv, &o);
    if (strcmp(what, "prove") == 0)
        return cmd_prove(argc, argv, &o);
    if (strcmp(what, "consistency") == 0)
        return cmd_consistency(argc, argv);
    if (strcmp(what, "check-proof") == 0)
        return cmd_check_proof(argc, argv, &o);
    if (strcmp(what, "summary") != 0 || optind >= argc)
        return usage_error();
    for (int i = optind; i < argc; i++) {
        r = summary_one(argv[i]);
        worst = r > worst ? r : worst;
    }
    return worst;
}
