/*
 * pace: an open-loop HTTP/1.1 load generator, for "p99 at half of peak".
 *
 *   pace HOST PORT RATE SECONDS WARMUP CONNS REQFILE...
 *
 * wrk is closed-loop: a connection sends its next request only after the
 * last answer, so when the server stalls, the requests that should have been
 * sent during the stall are never sent and never timed (coordinated
 * omission), and the percentiles look better than the service is. wrk2
 * fixes that but is not in Debian. pace schedules request k at
 * start + k/RATE whatever happens, queues it when every connection is busy,
 * and times it from its *scheduled* time, as wrk2 does: queueing in front of
 * a slow server counts against the server.
 *
 * Each REQFILE holds one complete raw request (head and body); they are sent
 * in turn over CONNS kept-alive connections. The first WARMUP seconds are
 * sent but not timed. Prints one line:
 *   RESULT target_rps=... sent=... ok=... non2xx=... errors=... achieved_rps=...
 *          p50_us=... p90_us=... p99_us=... p999_us=... max_us=...
 * and exits 1 when any request failed or got a non-2xx answer.
 *
 * A benchmark tool, not part of scrim: plain libc, fixed limits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX 1024
#define FILES_MAX 64
#define RBUF_MAX  65536   /* one response head and body */
#define QUEUE_MAX 1048576 /* scheduled but not yet sent */
#define DRAIN_NS  5000000000LL

struct req {
    char *data;
    size_t len;
};

struct conn {
    int fd;
    int busy;
    const struct req *rq;
    size_t sent;
    int64_t sched_ns;
    size_t rlen;
    char rbuf[RBUF_MAX];
};

struct run {
    const char *host;
    int port;
    double rate;
    int64_t start, end, warm_end;
    int nconns, nreqs, next_req, ep;
    struct conn *conns;
    struct req reqs[FILES_MAX];
    int64_t *queue; /* ring of scheduled send times */
    size_t qhead, qlen;
    uint64_t scheduled, sent, ok, non2xx, errors;
    uint32_t *lat; /* microseconds, timed requests only */
    size_t nlat, lat_cap;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int load_req(struct req *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;

    if (f == NULL || fstat(fileno(f), &st) != 0 || st.st_size <= 0) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    r->len = (size_t)st.st_size;
    r->data = malloc(r->len);
    if (r->data == NULL || fread(r->data, 1, r->len, f) != r->len) {
        perror(path);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static int conn_open(struct run *R, struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)R->port)};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    int one = 1;

    if (inet_pton(AF_INET, R->host, &sa.sin_addr) != 1)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A blocking connect on loopback: the listener is up before we start. */
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->busy = 0;
    c->rlen = 0;
    return epoll_ctl(R->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_reset(struct run *R, struct conn *c)
{
    epoll_ctl(R->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (conn_open(R, c) != 0)
        c->fd = -1;
}

static void want_write(struct run *R, struct conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

    epoll_ctl(R->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_fail(struct run *R, struct conn *c)
{
    if (c->busy)
        R->errors++;
    c->busy = 0;
    conn_reset(R, c);
}

static void conn_write(struct run *R, struct conn *c)
{
    while (c->sent < c->rq->len) {
        ssize_t n = write(c->fd, c->rq->data + c->sent, c->rq->len - c->sent);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            want_write(R, c, 1);
            return;
        }
        if (n <= 0) {
            conn_fail(R, c);
            return;
        }
        c->sent += (size_t)n;
    }
    want_write(R, c, 0);
}

static void conn_send(struct run *R, struct conn *c, int64_t sched)
{
    c->busy = 1;
    c->sched_ns = sched;
    c->rq = &R->reqs[R->next_req];
    R->next_req = (R->next_req + 1) % R->nreqs;
    c->sent = 0;
    c->rlen = 0;
    R->sent++;
    conn_write(R, c);
}

/* Length of a complete response in c->rbuf, 0 if incomplete, -1 if bad. */
static long response_len(struct conn *c, int *status, int *close_after)
{
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    char *p;
    long head, body = -1;

    if (end == NULL)
        return c->rlen >= RBUF_MAX ? -1 : 0;
    head = end + 4 - c->rbuf;
    *end = '\0';
    if (sscanf(c->rbuf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    for (p = strstr(c->rbuf, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, "content-length:", 15) == 0)
            body = strtol(p + 17, NULL, 10);
        else if (strncasecmp(p + 2, "connection: close", 17) == 0)
            *close_after = 1;
    }
    *end = '\r';
    if (body < 0 || head + body > RBUF_MAX)
        return -1;
    return (size_t)(head + body) <= c->rlen ? head + body : 0;
}

static void record(struct run *R, struct conn *c, int status)
{
    int64_t done = now_ns();

    if (status >= 200 && status < 300)
        R->ok++;
    else
        R->non2xx++;
    if (c->sched_ns >= R->warm_end && R->nlat < R->lat_cap)
        R->lat[R->nlat++] = (uint32_t)((done - c->sched_ns) / 1000);
}

static void conn_read(struct run *R, struct conn *c)
{
    int status = 0, close_after = 0;
    ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF_MAX - c->rlen);
    long len;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || !c->busy) {
        conn_fail(R, c);
        return;
    }
    c->rlen += (size_t)n;
    len = response_len(c, &status, &close_after);
    if (len < 0 || (len > 0 && (size_t)len != c->rlen)) {
        conn_fail(R, c); /* bad framing, or bytes nobody asked for */
        return;
    }
    if (len == 0)
        return;
    record(R, c, status);
    c->busy = 0;
    c->rlen = 0;
    if (close_after)
        conn_reset(R, c);
}

/* Move every due request into the queue, then the queue onto idle conns. */
static void schedule(struct run *R, int64_t now)
{
    int i;

    while (now < R->end) {
        int64_t t = R->start + (int64_t)((double)R->scheduled * 1e9 / R->rate);

        if (t > now)
            break;
        if (R->qlen == QUEUE_MAX) {
            R->errors++;
        } else {
            R->queue[(R->qhead + R->qlen) % QUEUE_MAX] = t;
            R->qlen++;
        }
        R->scheduled++;
    }
    for (i = 0; i < R->nconns && R->qlen > 0; i++) {
        struct conn *c = &R->conns[i];

        if (c->fd < 0 || c->busy)
            continue;
        conn_send(R, c, R->queue[R->qhead]);
        R->qhead = (R->qhead + 1) % QUEUE_MAX;
        R->qlen--;
    }
}

static int busy_count(const struct run *R)
{
    int i, n = 0;

    for (i = 0; i < R->nconns; i++)
        n += R->conns[i].busy;
    return n;
}

static void loop(struct run *R, int tfd)
{
    struct epoll_event evs[256];

    for (;;) {
        int64_t now = now_ns();
        int i, n;

        schedule(R, now);
        if (now >= R->end && R->qlen == 0 && busy_count(R) == 0)
            return;
        if (now >= R->end + DRAIN_NS) {
            R->errors += R->qlen + (uint64_t)busy_count(R);
            return;
        }
        n = epoll_wait(R->ep, evs, 256, 100);
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            uint64_t ticks;

            if (c == NULL) {
                if (read(tfd, &ticks, sizeof(ticks)) < 0)
                    continue;
                continue;
            }
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && c->busy)
                conn_write(R, c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                conn_read(R, c);
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static uint32_t pct(const struct run *R, double p)
{
    size_t k;

    if (R->nlat == 0)
        return 0;
    k = (size_t)(p / 100.0 * (double)R->nlat + 0.999999);
    if (k < 1)
        k = 1;
    if (k > R->nlat)
        k = R->nlat;
    return R->lat[k - 1];
}

static void report(struct run *R, double timed_s)
{
    qsort(R->lat, R->nlat, sizeof(R->lat[0]), cmp_u32);
    printf("RESULT target_rps=%.0f sent=%llu ok=%llu non2xx=%llu errors=%llu timed=%zu "
           "achieved_rps=%.1f p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u\n",
           R->rate, (unsigned long long)R->sent, (unsigned long long)R->ok,
           (unsigned long long)R->non2xx, (unsigned long long)R->errors, R->nlat,
           (double)R->nlat / timed_s, pct(R, 50), pct(R, 90), pct(R, 99), pct(R, 99.9),
           pct(R, 100));
}

static int setup(struct run *R, int argc, char **argv)
{
    int i;

    R->host = argv[1];
    R->port = (int)strtol(argv[2], NULL, 10);
    R->rate = strtod(argv[3], NULL);
    R->nconns = (int)strtol(argv[6], NULL, 10);
    R->nreqs = argc - 7;
    if (R->rate <= 0 || R->nconns < 1 || R->nconns > CONNS_MAX || R->nreqs > FILES_MAX)
        return -1;
    for (i = 0; i < R->nreqs; i++)
        if (load_req(&R->reqs[i], argv[7 + i]) != 0)
            return -1;
    R->lat_cap = (size_t)(R->rate * strtod(argv[4], NULL)) + 1024;
    R->lat = calloc(R->lat_cap, sizeof(R->lat[0]));
    R->queue = calloc(QUEUE_MAX, sizeof(R->queue[0]));
    R->conns = calloc((size_t)R->nconns, sizeof(R->conns[0]));
    R->ep = epoll_create1(0);
    if (R->lat == NULL || R->queue == NULL || R->conns == NULL || R->ep < 0)
        return -1;
    for (i = 0; i < R->nconns; i++)
        if (conn_open(R, &R->conns[i]) != 0) {
            perror("connect");
            return -1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    static struct run R;
    struct itimerspec its = {0};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    double secs, warm;
    int tfd;

    if (argc < 8) {
        fprintf(stderr, "usage: pace HOST PORT RATE SECONDS WARMUP CONNS REQFILE...\n");
        return 2;
    }
    if (setup(&R, argc, argv) != 0) {
        fprintf(stderr, "pace: bad arguments or setup failed\n");
        return 2;
    }
    secs = strtod(argv[4], NULL);
    warm = strtod(argv[5], NULL);
    /* The timer only wakes the loop; send times come from the schedule. */
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(1e9 / R.rate) % 1000000000L + 1;
    its.it_value.tv_sec = its.it_interval.tv_sec = (time_t)(1.0 / R.rate);
    if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0 ||
        epoll_ctl(R.ep, EPOLL_CTL_ADD, tfd, &ev) != 0) {
        perror("timerfd");
        return 2;
    }
    R.start = now_ns();
    R.warm_end = R.start + (int64_t)(warm * 1e9);
    R.end = R.start + (int64_t)((warm + secs) * 1e9);
    loop(&R, tfd);
    report(&R, secs);
    return R.errors == 0 && R.non2xx == 0 ? 0 : 1;
}
