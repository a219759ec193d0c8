/*
 * upstream: POST a masked payload to a route's upstream (the replay vendor)
 * from a worker's own libevent loop.
 *
 * Built on libcurl's multi *socket* interface (the approach of curl's
 * docs/examples/hiperfifo.c): curl tells us which sockets to watch and when
 * its next timeout is due, we turn those into libevent events and one
 * evtimer on the caller's event_base, and hand readiness back with
 * curl_multi_socket_action. Nothing blocks and nothing sleeps, so one worker
 * thread drives thousands of uploads next to its client connections.
 *
 * Threads: one struct upstream per event_base. It may be created on any
 * thread, but from then on it is only ever used on the thread that runs its
 * base; done callbacks run there too. It holds no lock.
 *
 * Connections: one curl multi handle per upstream, so kept-alive
 * connections are pooled per worker, at most max_host_connections per host
 * (further requests queue inside curl). Over TLS, HTTP/2 is negotiated when
 * the upstream offers it and requests are multiplexed on one connection.
 *
 * Hardening (each a fixed choice, not an option): TLS certificate and host
 * name verification always on, TLS 1.2 or later; only http and https; no
 * redirects followed; no proxy unless options.proxy names one (the
 * http_proxy/https_proxy environment is ignored, so a stray variable cannot
 * send payloads elsewhere); no cookies, no netrc, no signals; no
 * "Expect: 100-continue" and no "Accept: *" header. What goes out is the
 * caller's allowlisted headers plus scrim's framing (Content-Type,
 * Content-Length, User-Agent: scrim/<version>) and the Host line of the
 * upstream URL. The response body is read and discarded, never stored.
 *
 * Retries: connection failures (including DNS), timeouts, transport errors
 * and HTTP 5xx/408/429 are retried up to options.retries times, after
 * backoff_ms, 2*backoff_ms, 4*backoff_ms... capped at backoff_max_ms (a
 * Retry-After on 429/503 lengthens the delay, still within the cap). The
 * wait is an evtimer on the same base. Other 4xx (and 3xx) are final. A
 * retry after a transport error may deliver a payload twice: scrim prefers
 * at-least-once to a silent loss (DESIGN.md invariant 6).
 *
 * libcurl must be initialised once, from main() before any thread starts:
 * call upstream_global_init() there.
 */
#ifndef SCRIM_UPSTREAM_H
#define SCRIM_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/err.h"

/* Hard limits on what upstream_send accepts. */
#define UPSTREAM_URL_MAX         8192 /* bytes of a URL */
#define UPSTREAM_HEADERS_MAX     64   /* caller headers per request */
#define UPSTREAM_HEADER_LINE_MAX 8192 /* bytes of one "Name: value" */
#define UPSTREAM_RETRIES_MAX     16

struct upstream_options {
    unsigned connect_timeout_ms;   /* per connection attempt: 1 .. 600000 */
    unsigned timeout_ms;           /* whole request, per attempt, time queued for a
                                      free connection included: 1 .. 3600000 */
    unsigned retries;              /* attempts after the first: 0 .. UPSTREAM_RETRIES_MAX */
    unsigned backoff_ms;           /* delay before the first retry: 0 .. backoff_max_ms */
    unsigned backoff_max_ms;       /* cap of the doubling delay: .. 3600000 */
    unsigned max_host_connections; /* per upstream host: 1 .. 65536 */
    unsigned max_inflight;         /* requests sent and not yet done: 1 .. 1048576 */
    const char *ca_file;           /* PEM trust anchors; NULL: the system store */
    const char *version;           /* User-Agent is "scrim/<version>"; required */
    const char *proxy;             /* proxy URL; NULL: never a proxy */
};

/* Fill o with defaults: 2 s connect, 10 s per attempt, 1 retry, 64
 * connections per host (as rules/conf.h's limits), backoff 200 ms capped at
 * 5 s, 4096 in flight. version and the other pointers are left NULL. */
void upstream_options_init(struct upstream_options *o);

struct upstream_result {
    int status;          /* HTTP status of the last attempt; 0: no response */
    int accepted;        /* the last attempt got a 2xx */
    int cancelled;       /* upstream_free ended the request; nothing more is known */
    unsigned attempts;   /* attempts started, 1 .. retries + 1 (0 only when cancelled) */
    uint64_t latency_us; /* from upstream_send to this callback, backoff included */
    const char *error;   /* NULL when accepted, else a short fixed text (curl's
                            error name, "HTTP 503", "cancelled"); never body
                            bytes; valid only during the callback */
};

/* Called exactly once per request that upstream_send accepted, on the
 * base's thread, never from inside upstream_send. r is valid only during
 * the call. The callback may call upstream_send, and upstream_free (the
 * upstream is then freed when the callback returns). */
typedef void (*upstream_done_fn)(void *arg, const struct upstream_result *r);

struct upstream_request {
    const char *url;          /* http:// or https:// */
    const char *content_type; /* NULL: "application/json" */
    /* "Name: value" lines, NULL-terminated, or NULL. The caller's allowlist;
     * hop-by-hop and framing names are refused (see upstream_send). */
    const char *const *headers;
    const void *body; /* the caller's: must stay valid until done is called */
    size_t body_len;
};

/* Initialise libcurl (curl_global_init) once per process. Idempotent and
 * thread-safe (pthread_once), but call it from main() before starting
 * threads: curl's global init also initialises OpenSSL. 0, or -1 when
 * libcurl could not be initialised (every later call says -1 too). */
int upstream_global_init(void) WUR;

/* A client on base with options o (copied; the strings too). NULL with err
 * when an option is out of range, ca_file is not readable, or curl cannot
 * be set up. Calls upstream_global_init() in case main did not. */
struct upstream *upstream_new(struct event_base *base, const struct upstream_options *o,
                              struct err *err);

/* Start POSTing rq->body to rq->url. The URL, content type and headers are
 * copied; the body is not (see upstream_request). 0: done will be called
 * exactly once, later, from the event loop. -1 with err, and done will never
 * be called, when: the URL is not http(s) or too long; a header line is
 * malformed (no "Name:" token, empty value, CR/LF or other control bytes)
 * or too long, or there are too many; a header name is hop-by-hop or
 * framing (Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
 * Upgrade, HTTP2-Settings, Content-Length, Content-Type, Host, Cookie,
 * Expect, User-Agent); max_inflight requests are already in flight; or the
 * upstream is being freed. Errors name the refused header by its index and
 * a fixed name, never a value. */
int upstream_send(struct upstream *u, const struct upstream_request *rq, upstream_done_fn done,
                  void *arg, struct err *err) WUR;

/* Requests sent and not yet done (waiting for a retry included). */
size_t upstream_inflight(const struct upstream *u);

/* Cancel everything in flight and release every curl handle, event and
 * connection. Each request still in flight gets its done callback once,
 * from inside upstream_free, with r->cancelled = 1, accepted = 0 (so callers
 * can release what they tied to it); upstream_send refuses during those
 * callbacks. Nothing is called afterwards. Free u before its event_base.
 * NULL is a no-op. */
void upstream_free(struct upstream *u);

#endif
