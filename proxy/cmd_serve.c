/*
 * scrim serve: the proxy. Loads the config, starts the server and then
 * only handles signals on the main thread: SIGHUP reloads (a bad file is
 * logged and the running configuration stays), SIGTERM/SIGINT drain and
 * exit 0 when everything in flight was answered and flushed.
 */
#include "cmd.h"

#include "common/log.h"
#include "proxy/metrics.h"
#include "proxy/server.h"
#include "proxy/upstream.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char serve_usage[] =
    "usage: scrim serve -c FILE\n"
    "\n"
    "Run the proxy on FILE's listeners until SIGTERM. SIGHUP reloads\n"
    "FILE; a file that does not load is refused and logged, and the\n"
    "running configuration stays.\n"
    "\n"
    "exit status: 0 drained cleanly, 1 not everything in flight was\n"
    "answered, 2 usage, config or start-up error\n";

struct serve {
    const char *config;
    struct server *srv;
    struct event_base *base;
    uint64_t generation;
};

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    struct serve *sv = arg;
    struct err err;
    struct gen *g;

    (void)sig;
    (void)what;
    err_clear(&err);
    g = gen_load(sv->config, sv->generation + 1, &err);
    if (g == NULL || server_reload(sv->srv, g, &err) != 0) {
        log_error("reload refused, the running configuration stays: %s", err.msg);
        metrics_config_reload(0);
    } else {
        sv->generation++;
        log_info("reload: generation %llu is serving", (unsigned long long)sv->generation);
        metrics_config_reload(1);
    }
    gen_unref(g);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct serve *sv = arg;

    (void)what;
    log_info("signal %d: draining", (int)sig);
    event_base_loopbreak(sv->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct serve *sv = arg;

    (void)fd;
    (void)what;
    server_tick(sv->srv);
}

static int parse_opts(int argc, char **argv, struct serve *sv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (ch == 'c')
            sv->config = optarg;
        else if (ch == 'h') {
            fputs(serve_usage, stdout);
            exit(EXIT_OK);
        } else
            return -1;
    }
    return optind == argc && sv->config ? 0 : -1;
}

static int serve_loop(struct serve *sv)
{
    struct event *hup, *term, *intr, *tick;
    struct timeval second = {1, 0};

    sv->base = event_base_new();
    hup = evsignal_new(sv->base, SIGHUP, on_reload, sv);
    term = evsignal_new(sv->base, SIGTERM, on_stop, sv);
    intr = evsignal_new(sv->base, SIGINT, on_stop, sv);
    tick = event_new(sv->base, -1, EV_PERSIST, on_tick, sv);
    evsignal_add(hup, NULL);
    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);
    evtimer_add(tick, &second);
    event_base_dispatch(sv->base);
    event_free(hup);
    event_free(term);
    event_free(intr);
    event_free(tick);
    event_base_free(sv->base);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct serve sv = {0};
    struct err err;
    struct gen *g;
    int rc;

    if (parse_opts(argc, argv, &sv) != 0) {
        fputs(serve_usage, stderr);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0 || upstream_global_init() != 0) {
        log_error("serve: cannot initialise libevent threads or libcurl");
        return EXIT_USAGE;
    }
    metrics_init();
    err_clear(&err);
    sv.generation = 1;
    if ((g = gen_load(sv.config, 1, &err)) == NULL || (sv.srv = server_start(g, &err)) == NULL) {
        log_error("serve: %s", err.msg);
        gen_unref(g);
        return EXIT_USAGE;
    }
    gen_unref(g);
    log_info("ready: serving %s", sv.config);
    serve_loop(&sv);
    rc = server_drain(sv.srv) == 0 ? EXIT_OK : EXIT_REJECT;
    server_free(sv.srv);
    log_info("stopped");
    return rc;
}
