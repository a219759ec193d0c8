/*
 * scrim redact: mask payloads offline through the same engine the proxy
 * runs, so a policy can be tested in CI before it is deployed.
 *
 * Several inputs are successive batches of one recording, masked in order
 * with one session table for the run (rules/session.h), as the proxy would
 * see them: a node described by the first batch is known to the next ones.
 * With one input the masked payload goes to stdout; with --out DIR each
 * goes to DIR under its input's file name, never over an existing file.
 *
 * On a rejected payload nothing of it is written out, the context file is
 * not touched, and stderr says why without quoting the payload; the inputs
 * after it are not read.
 */
#include "cmd.h"

#include "common/arena.h"
#include "common/mem.h"
#include "crypto/pseudo.h"
#include "proxy/persist.h"
#include "rules/engine.h"
#include "rules/posthog.h"
#include "rules/session.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char redact_usage[] =
    "usage: scrim redact -c FILE --tenant T --format json|form|rrweb|posthog|sentry\n"
    "                    [--context OUT.jsonl] [--audit OUT.jsonl] [--now MS]\n"
    "                    [--session S] [--out DIR] [IN...]\n"
    "\n"
    "Mask payloads (the INs in order, or stdin) under tenant T's policy. With\n"
    "one input the masked payload goes to stdout; with --out DIR (needed for\n"
    "several) each goes to DIR/<the input's file name>, and an existing file\n"
    "is never overwritten. Several inputs are successive batches of one\n"
    "replay: a node the first describes is known to the next. --session S is\n"
    "the session of payloads that name none (a bare rrweb event array).\n"
    "Context records go to --context, the audit summary (per rule: action\n"
    "and count, never a value) to --audit; both files are appended to.\n"
    "--now (ms since the epoch) lets journeys idle for their abandon_after\n"
    "be recorded as abandoned.\n"
    "\n"
    "exit status: 0 masked, 1 payload rejected, 2 usage or config error\n";

struct redact_opts {
    const char *config, *tenant, *format, *context, *audit, *session, *out_dir;
    char **in; /* the inputs; none: stdin */
    int nin;
    uint64_t now_ms;
};

static int parse_opts(int argc, char **argv, struct redact_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"tenant", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},  {"context", required_argument, NULL, 'C'},
        {"audit", required_argument, NULL, 'a'},   {"now", required_argument, NULL, 'n'},
        {"session", required_argument, NULL, 's'}, {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int ch;
    char *end;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:t:f:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 't':
            o->tenant = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'C':
            o->context = optarg;
            break;
        case 'a':
            o->audit = optarg;
            break;
        case 's':
            o->session = optarg;
            break;
        case 'o':
            o->out_dir = optarg;
            break;
        case 'n':
            errno = 0;
            o->now_ms = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg)
                return -1;
            break;
        case 'h':
            fputs(redact_usage, stdout);
            exit(EXIT_OK);
        default:
            return -1;
        }
    }
    o->in = argv + optind;
    o->nin = argc - optind;
    return o->config && o->tenant && o->format ? 0 : -1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* What only the command line can get wrong: reported before any input is
 * read, so a run never stops halfway for a typo. */
static int check_inputs(const struct redact_opts *o)
{
    const char *why = NULL;

    if (o->nin > 1 && o->out_dir == NULL)
        why = "several inputs need --out DIR";
    for (int i = 0; o->out_dir != NULL && why == NULL && i < o->nin; i++) {
        const char *b = base_name(o->in[i]);
        if (strcmp(o->in[i], "-") == 0 || *b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
            why = "--out needs input files (not stdin) with file names";
        for (int k = 0; why == NULL && k < i; k++)
            if (strcmp(base_name(o->in[k]), b) == 0)
                why = "two inputs have the same file name";
    }
    if (o->out_dir != NULL && o->nin == 0)
        why = "--out needs input files (not stdin) with file names";
    if (why != NULL)
        fprintf(stderr, "scrim: redact: %s\n", why);
    return why ? -1 : 0;
}

/* One JSON line: what happened and how often each rule acted. */
static int audit_line(struct buf *b, const char *tenant, enum format fmt, enum redact_status st,
                      const struct redact_report *rep)
{
    int r = buf_puts(b, "{\"tenant\":") || json_write_string(b, tenant, strlen(tenant)) ||
            buf_printf(b, ",\"format\":\"%s\",\"outcome\":\"%s\"", format_name(fmt),
                       st == REDACT_OK ? "redacted" : "dropped");
    if (st != REDACT_OK)
        return r || buf_printf(b, ",\"reason\":\"%s\",\"bytes_in\":%zu}\n", redact_status_name(st),
                               rep->bytes_in);
    r = r ||
        buf_printf(b, ",\"bytes_in\":%zu,\"bytes_out\":%zu,\"context_records\":%zu,\"rules\":[",
                   rep->bytes_in, rep->bytes_out, rep->context_records);
    for (size_t i = 0, k = 0; !r && i < rep->nrules; i++) {
        if (rep->rules[i].count == 0)
            continue;
        r = buf_puts(b, k++ ? ",{\"id\":" : "{\"id\":") ||
            json_write_string(b, rep->rules[i].id, strlen(rep->rules[i].id)) ||
            buf_printf(b, ",\"action\":\"%s\",\"count\":%llu}", action_name(rep->rules[i].action),
                       (unsigned long long)rep->rules[i].count);
    }
    return r || buf_puts(b, "]}\n");
}

static int append_file(const char *path, const struct buf *b, struct err *err)
{
    int fd;
    ssize_t w;

    if (path == NULL || b->len == 0)
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    w = write(fd, b->data, b->len);
    if (w != (ssize_t)b->len || fsync(fd) != 0) {
        close(fd);
        return err_set(err, "%s: write failed", path);
    }
    return close(fd) == 0 ? 0 : err_set(err, "%s: close failed", path);
}

static int write_stdout(const struct buf *b)
{
    size_t off = 0;

    while (off < b->len) {
        ssize_t w = write(1, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

struct redact_run {
    struct config *conf;
    struct persist *persist;
    const struct conf_tenant *tenant;
    struct pseudo_key *pkey;
    struct pii_scanner *scanner;
    struct session_table *sessions; /* one for the run: its inputs are one replay */
    struct arena *arena;
    struct buf in, out, context, audit;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What one input used; the next starts from nothing. */
static void input_free(struct redact_run *r)
{
    arena_free(r->arena);
    r->arena = NULL;
    buf_wipe(&r->in);
    buf_free(&r->in);
    buf_wipe(&r->out);
    buf_free(&r->out);
    buf_wipe(&r->context);
    buf_free(&r->context);
    buf_free(&r->audit);
}

static void run_free(struct redact_run *r)
{
    struct err err;

    if (persist_close(r->persist, wall_ms(), &err) != 0)
        cmd_report("redact", &err);
    input_free(r);
    session_table_free(r->sessions);
    pii_scanner_free(r->scanner);
    pseudo_key_free(r->pkey);
    conf_free(r->conf);
}

/* The run's session table, bound to the tenant and to --session. */
static int sessions_setup(struct redact_run *r, const struct redact_opts *o, struct err *err)
{
    const struct conf_limits *lim = &r->conf->limits;
    uint8_t key[16];

    randombytes_buf(key, sizeof(key));
    r->sessions = session_table_new(lim->session_entries, lim->total_entries, key);
    sodium_memzero(key, sizeof(key));
    if (r->sessions == NULL)
        return err_set(err, "%s: session limits out of range", o->config);
    if (session_table_bind(r->sessions, r->tenant->id, strlen(r->tenant->id), o->session,
                           o->session ? strlen(o->session) : 0) != 0)
        return err_set(err, "--session must be 1 to %d bytes (and the tenant id at most %d)",
                       SESSION_ID_MAX, SESSION_TENANT_MAX);
    return 0;
}

/* Config, tenant, key and scanner: everything but the payload. */
static int run_setup(struct redact_run *r, const struct redact_opts *o, struct err *err)
{
    const struct conf_limits *lim;
    struct pii_limits pl;

    r->conf = cmd_load_config(o->config, err);
    if (r->conf == NULL)
        return -1;
    r->tenant = conf_tenant_by_id(r->conf, o->tenant);
    if (r->tenant == NULL)
        return err_set(err, "%s: no tenant '%s'", o->config, o->tenant);
    if (r->tenant->pseudonym_key != NULL &&
        (r->pkey = pseudo_key_load(r->tenant->pseudonym_key, err)) == NULL)
        return -1;
    r->persist = persist_open(r->conf, wall_ms(), err);
    if (r->persist == NULL)
        return -1;
    lim = &r->conf->limits;
    pl = (struct pii_limits){lim->regex_match_limit, lim->regex_depth_limit};
    r->scanner = pii_scanner_new(r->tenant->policy->pii, &pl);
    return sessions_setup(r, o, err);
}

/* A PostHog body as the SDK sends it (gzip, or a base64 form) works
 * offline too: the same unwrapping as the proxy, without HTTP headers. */
static int unwrap_posthog(struct redact_run *r, struct err *err)
{
    const struct conf_limits *l = &r->conf->limits;
    struct decode_limits dl = {l->decompressed_max, l->ratio_max};
    struct posthog_http h = {0};
    struct buf plain;
    enum decode_status st;

    buf_init(&plain, l->decompressed_max);
    st = posthog_unwrap(&dl, &h, r->in.data ? r->in.data : "", r->in.len, &plain, NULL);
    if (st != DECODE_OK) {
        buf_free(&plain);
        return err_set(err, "PostHog body: %s", decode_status_name(st));
    }
    buf_free(&r->in);
    r->in = plain;
    return 0;
}

static int run_engine(struct redact_run *r, const struct redact_opts *o, enum format fmt,
                      struct err *err)
{
    const struct conf_limits *lim = &r->conf->limits;
    struct redact_env env = {
        .policy = r->tenant->policy,
        .scanner = r->scanner,
        .json = {lim->json_depth, lim->json_nodes},
        .pseudonym = r->pkey ? pseudo_engine_fn : NULL,
        .pseudonym_ctx = r->pkey,
        .context = &r->context,
        .now_ms = o->now_ms,
        .inflate = {lim->decompressed_max, lim->ratio_max},
        .sessions = r->sessions,
    };
    struct redact_report rep = {0};
    struct persist_event ev;
    struct err perr;
    enum redact_status st;

    /* The tree, decoded strings and scratch: a generous multiple of the
     * input, and still a hard cap. */
    r->arena = arena_new(16 * r->in.len + (1 << 20));
    buf_init(&r->out, 4 * r->in.len + (1 << 16));
    buf_init(&r->context, 4 * r->in.len + (1 << 16));
    buf_init(&r->audit, 1 << 20);

    if (fmt == FORMAT_POSTHOG && unwrap_posthog(r, err) != 0)
        st = REDACT_BAD;
    else
        st = engine_redact(&env, r->arena, fmt, r->in.data ? r->in.data : "", r->in.len, &r->out,
                           &rep, err);
    if (audit_line(&r->audit, r->tenant->id, fmt, st, &rep))
        return err_set(err, "audit summary too large"), REDACT_INTERNAL;
    /* Kept before anything is written out: a payload whose records or
     * audit entry could not be made durable is not acknowledged. */
    memset(&ev, 0, sizeof(ev));
    ev = (struct persist_event){.tenant = r->tenant,
                                .route = "cli",
                                .format = fmt,
                                .status = st,
                                .report = &rep,
                                .records = &r->context};
    err_clear(&perr);
    if (persist_request(r->persist, &ev, wall_ms(), &perr) != 0) {
        buf_wipe(&r->out);
        err_clear(err);
        err_set(err, "%s", perr.msg);
        return REDACT_INTERNAL;
    }
    return (int)st;
}

/* The masked payload to stdout, or to DIR/<the input's name>, created
 * (never replaced) and synced. */
static int write_out(const struct redact_run *r, const struct redact_opts *o, const char *in,
                     struct err *err)
{
    char path[4096];
    int fd, n;
    ssize_t w;

    if (o->out_dir == NULL)
        return write_stdout(&r->out) ? err_set(err, "stdout: write failed") : 0;
    n = snprintf(path, sizeof(path), "%s/%s", o->out_dir, base_name(in));
    if (n < 0 || (size_t)n >= sizeof(path))
        return err_set(err, "%s: output path too long", o->out_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, "%s: %s", path,
                       errno == EEXIST ? "exists; refusing to overwrite" : strerror(errno));
    w = r->out.len ? write(fd, r->out.data, r->out.len) : 0;
    if (w != (ssize_t)r->out.len || fsync(fd) != 0) {
        close(fd);
        return err_set(err, "%s: write failed", path);
    }
    return close(fd) == 0 ? 0 : err_set(err, "%s: close failed", path);
}

/* Outputs that exist already stop the run before it starts. */
static int outputs_free(const struct redact_opts *o, struct err *err)
{
    char path[4096];
    struct stat sb;

    if (o->out_dir == NULL)
        return 0;
    if (mkdir(o->out_dir, 0700) != 0 && errno != EEXIST)
        return err_set(err, "%s: %s", o->out_dir, strerror(errno));
    for (int i = 0; i < o->nin; i++) {
        int n = snprintf(path, sizeof(path), "%s/%s", o->out_dir, base_name(o->in[i]));
        if (n < 0 || (size_t)n >= sizeof(path))
            return err_set(err, "%s: output path too long", o->out_dir);
        if (lstat(path, &sb) == 0)
            return err_set(err, "%s: exists; refusing to overwrite", path);
    }
    return 0;
}

/* One input, start to end. Returns EXIT_OK to go on with the next. */
static int redact_one(struct redact_run *r, const struct redact_opts *o, enum format fmt,
                      const char *in)
{
    struct err err;
    int st;

    err_clear(&err);
    input_free(r);
    buf_init(&r->in, r->conf->limits.decompressed_max);
    if (cmd_read_file(in, &r->in, &err) != 0) {
        cmd_report("redact", &err);
        return EXIT_USAGE;
    }
    st = run_engine(r, o, fmt, &err);
    if (st == REDACT_OK) {
        if (write_out(r, o, in ? in : "-", &err) || append_file(o->context, &r->context, &err) ||
            append_file(o->audit, &r->audit, &err)) {
            cmd_report("redact", &err);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    }
    if (o->nin > 1)
        fprintf(stderr, "scrim: redact: %s: payload rejected (%s): %s\n", in,
                redact_status_name((enum redact_status)st), err.msg);
    else
        fprintf(stderr, "scrim: redact: payload rejected (%s): %s\n",
                redact_status_name((enum redact_status)st), err.msg);
    if (append_file(o->audit, &r->audit, &err) == 0 && st != REDACT_INTERNAL)
        return EXIT_REJECT;
    return EXIT_USAGE;
}

int cmd_redact(int argc, char **argv)
{
    struct redact_opts o;
    struct redact_run r;
    struct err err;
    enum format fmt;
    int rc = EXIT_OK;

    memset(&r, 0, sizeof(r));
    err_clear(&err);
    if (parse_opts(argc, argv, &o) != 0) {
        fputs(redact_usage, stderr);
        return EXIT_USAGE;
    }
    if (check_inputs(&o) != 0)
        return EXIT_USAGE;
    if (format_parse(o.format, &fmt) != 0) {
        fprintf(stderr, "scrim: redact: unknown format '%s'\n", o.format);
        return EXIT_USAGE;
    }
    if (run_setup(&r, &o, &err) != 0 || outputs_free(&o, &err) != 0) {
        cmd_report("redact", &err);
        run_free(&r);
        return EXIT_USAGE;
    }
    for (int i = 0; rc == EXIT_OK && i < (o.nin ? o.nin : 1); i++)
        rc = redact_one(&r, &o, fmt, o.nin ? o.in[i] : NULL);
    run_free(&r);
    return rc;
}
