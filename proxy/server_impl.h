/*
 * server_impl: the structures shared by the edge's files (server.c: threads
 * and listeners; conn.c: one client connection; request.c: one request's
 * pipeline; admin.c: the admin endpoints). Not a public contract.
 */
#ifndef SCRIM_SERVER_IMPL_H
#define SCRIM_SERVER_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "common/arena.h"
#include "common/buf.h"
#include "proxy/gen.h"
#include "proxy/http.h"
#include "proxy/persist.h"
#include "proxy/server.h"
#include "rules/engine.h"
#include "rules/posthog.h"

#define SERVER_LISTEN_MAX 16
#define WORKER_ARENA_POOL 64 /* request arenas kept warm per worker */

enum conn_state {
    CONN_IDLE,    /* keep-alive, waiting for a request: idle_timeout */
    CONN_HEAD,    /* reading the head: header_timeout from its first byte */
    CONN_BODY,    /* reading the body: body_timeout */
    CONN_BUSY,    /* masking, forwarding, persisting: no reads */
    CONN_WRITING, /* the answer is being written */
};

struct job;
struct worker;

struct conn {
    struct worker *w;
    struct bufferevent *bev;
    struct http_parser *hp;
    struct event *timer;
    struct sockaddr_storage peer;
    enum conn_state state;
    int admin;
    int close_after; /* close once the answer is written */
    int counted;     /* holds a slot in the connection caps */
    /* from the head: */
    struct gen *gen;
    const struct conf_route *route;
    const struct conf_tenant *tenant;
    size_t charged; /* in-flight bytes charged for this request */
    struct job *job;
    struct conn *prev, *next;
};

/* One accepted request past its head: everything it needs until answered.
 * It outlives its connection when the client goes away mid-request, so the
 * payload is still persisted or dropped cleanly. */
struct job {
    struct worker *w;
    struct conn *conn; /* NULL once the client went away */
    struct gen *gen;   /* a reference */
    const struct conf_route *route;
    const struct conf_tenant *tenant;
    struct arena *arena;
    struct buf body, out, records;
    struct redact_report rep;
    enum redact_status st;
    char rid[17];
    enum posthog_wrap wrap; /* how a PostHog body came: it goes on the same way */
    char *up_url;           /* the upstream URL this payload goes to */
    const char *up_type;    /* and its Content-Type */
    int forwarded;          /* accepted upstream */
    int want_spool;         /* upstream failed or the spool has a queue: spool it */
    int spool_full;         /* set by the durability thread */
    int failed;             /* the durability thread could not make it durable */
    int status;             /* an HTTP answer decided before the engine; 0: none */
    int internal;           /* no client: records of a session that expired */
    size_t charged;
    size_t bytes_in; /* the body as received */
    uint64_t t0_us;
    struct job *next;
};

struct worker {
    struct server *srv;
    unsigned index;
    pthread_t thread;
    struct event_base *base;
    struct evconnlistener *listeners[SERVER_LISTEN_MAX];
    SSL_CTX *tls[SERVER_LISTEN_MAX];
    size_t nlisteners;
    struct evconnlistener *admin;
    struct upstream *up;
    struct event *wake; /* jobs came back from the durability thread */
    struct event *stop; /* server_drain asked this worker to stop */
    struct event *drain_timer;
    struct event *resume_timer; /* paused by the budget: look again soon */
    struct event *expire_timer; /* worker 0: replay sessions idle past their journey */
    pthread_mutex_t lock;
    struct job *done;
    struct conn *conns;
    size_t nconns;
    size_t jobs; /* jobs alive (their connection may be gone) */
    int paused;  /* listeners disabled by the in-flight budget */
    int draining;
    struct arena *arenas[WORKER_ARENA_POOL]; /* reset, ready for the next request */
    size_t narenas;
    struct gen *scan_gen; /* the generation scanners were built for */
    struct pii_scanner **scanners;
};

struct server {
    struct gen *gen; /* the current generation, under gen_lock */
    pthread_mutex_t gen_lock;
    struct worker *workers;
    unsigned nworkers;
    SSL_CTX *tls[SERVER_LISTEN_MAX];
    struct persist *persist;
    struct spool *spool;
    struct durable *durable;
    struct drain *drain;
    struct limit_conn *conns;
    struct limit_rate *rate;
    struct limit_bytes *inflight;
    int draining;       /* atomic */
    int others_stopped; /* atomic: every worker but 0 has stopped */
    uint64_t last_sweep_ms;
    /* Replay sessions' node maps and journeys, across requests and workers.
     * One table under one lock: engine calls of replay formats serialise. */
    pthread_mutex_t sessions_lock;
    struct session_table *sessions;
    uint64_t evictions_seen;
};

/* server.c */
struct gen *server_gen(struct server *s); /* a reference to the current one */
void worker_post_done(struct worker *w, struct job *j);
void worker_conn_gone(struct worker *w);
void worker_job_gone(struct worker *w);
void worker_pause(struct worker *w); /* the in-flight budget is full */
struct arena *worker_arena_get(struct worker *w, size_t cap);
void worker_arena_put(struct worker *w, struct arena *a);
struct pii_scanner *worker_scanner(struct worker *w, struct gen *g, size_t policy);

/* conn.c */
void conn_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int socklen,
                 SSL_CTX *tls, int admin);
void conn_respond(struct conn *c, int status, const char *content_type, const char *body,
                  size_t len, const char *extra);
void conn_close(struct conn *c);
void conn_close_idle(struct worker *w);

/* request.c: the head is in; 0 to read the body, or an HTTP status. */
int request_head(struct conn *c, const struct http_request *rq);
/* The whole request is in: mask, forward, persist, then answer. */
void request_run(struct conn *c, const struct http_request *rq);
/* The durability thread is done with j: answer it on its worker. */
void request_finish(struct job *j);
/* Seal the abandonment records of a session that expired (worker 0's
 * timer, sessions_lock held). */
void request_expired_session(struct worker *w, struct gen *g, const struct conf_tenant *t,
                             const char *label, struct journey_state *st, uint64_t now_ms);
void job_free(struct job *j);
void request_error(struct conn *c, int status, const char *reason);

/* The tenant's rate limit allows one more request. */
int request_rate_ok(struct conn *c);

/* request_vendor.c: the tenant of a vendor route from the payload's own
 * key (sets c->tenant, applies its rate); 0, or an HTTP status. */
int vendor_tenant(struct conn *c, const struct http_request *rq, const char *in, size_t n);

/* admin.c */
void admin_handle(struct conn *c, const struct http_request *rq);

/* Node-map gauges and evictions into metrics; sessions_lock held. */
void server_session_gauges(struct server *s);

uint64_t server_now_ms(void);
uint64_t server_now_us(void);

#endif
