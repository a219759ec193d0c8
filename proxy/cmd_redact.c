/*
 * scrim redact: mask one payload offline through the same engine the proxy
 * runs, so a policy can be tested in CI before it is deployed.
 *
 * On a rejected payload nothing at all is written to stdout, the context
 * file is not touched, and stderr says why without quoting the payload.
 */
#include "cmd.h"

#include "common/arena.h"
#include "common/mem.h"
#include "crypto/pseudo.h"
#include "proxy/persist.h"
#include "rules/engine.h"
#include "rules/posthog.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char redact_usage[] =
    "usage: scrim redact -c FILE --tenant T --format json|form|rrweb|posthog|sentry\n"
    "                    [--context OUT.jsonl] [--audit OUT.jsonl] [--now MS] [IN]\n"
    "\n"
    "Mask one payload (IN, or stdin) under tenant T's policy and write the\n"
    "masked payload to stdout. Context records go to --context, the audit\n"
    "summary (per rule: action and count, never a value) to --audit; both\n"
    "files are appended to. --now (ms since the epoch) lets journeys idle\n"
    "for their abandon_after be recorded as abandoned.\n"
    "\n"
    "exit status: 0 masked, 1 payload rejected, 2 usage or config error\n";

struct redact_opts {
    const char *config, *tenant, *format, *context, *audit, *in;
    uint64_t now_ms;
};

static int parse_opts(int argc, char **argv, struct redact_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"tenant", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'}, {"context", required_argument, NULL, 'C'},
        {"audit", required_argument, NULL, 'a'},  {"now", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
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
    if (optind < argc)
        o->in = argv[optind++];
    return optind == argc && o->config && o->tenant && o->format ? 0 : -1;
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
    struct arena *arena;
    struct buf in, out, context, audit;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_free(struct redact_run *r)
{
    struct err err;

    if (persist_close(r->persist, wall_ms(), &err) != 0)
        cmd_report("redact", &err);
    pii_scanner_free(r->scanner);
    pseudo_key_free(r->pkey);
    arena_free(r->arena);
    buf_free(&r->in);
    buf_wipe(&r->out);
    buf_free(&r->out);
    buf_wipe(&r->context);
    buf_free(&r->context);
    buf_free(&r->audit);
    conf_free(r->conf);
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
    buf_init(&r->in, lim->decompressed_max);
    return 0;
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
    st = posthog_unwrap(&dl, &h, r->in.data ? r->in.data : "", r->in.len, &plain);
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

int cmd_redact(int argc, char **argv)
{
    struct redact_opts o;
    struct redact_run r;
    struct err err;
    enum format fmt;
    int st, rc = EXIT_USAGE;

    memset(&r, 0, sizeof(r));
    err_clear(&err);
    if (parse_opts(argc, argv, &o) != 0) {
        fputs(redact_usage, stderr);
        return EXIT_USAGE;
    }
    if (format_parse(o.format, &fmt) != 0) {
        fprintf(stderr, "scrim: redact: unknown format '%s'\n", o.format);
        return EXIT_USAGE;
    }
    if (run_setup(&r, &o, &err) != 0 || cmd_read_file(o.in, &r.in, &err) != 0) {
        cmd_report("redact", &err);
        run_free(&r);
        return EXIT_USAGE;
    }
    st = run_engine(&r, &o, fmt, &err);
    if (st == REDACT_OK) {
        if (write_stdout(&r.out) || append_file(o.context, &r.context, &err) ||
            append_file(o.audit, &r.audit, &err))
            cmd_report("redact", &err);
        else
            rc = EXIT_OK;
    } else {
        fprintf(stderr, "scrim: redact: payload rejected (%s): %s\n",
                redact_status_name((enum redact_status)st), err.msg);
        if (append_file(o.audit, &r.audit, &err) == 0 && st != REDACT_INTERNAL)
            rc = EXIT_REJECT;
    }
    run_free(&r);
    return rc;
}
