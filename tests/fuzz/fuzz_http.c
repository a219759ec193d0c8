/*
 * fuzz_http: libFuzzer target for proxy/http (the strict request parser).
 *
 * The input is a byte stream from one connection. It is fed whole, one byte
 * at a time and in pseudo-random splits derived from the input, resetting
 * after each complete message, and beyond "no crash" the target aborts when:
 *   - the transcripts differ: results, where each head and message ended,
 *     the fields of each request, the body;
 *   - a feed consumes more than it was given, or returns HTTP_MORE without
 *     consuming everything, or an error is not final;
 *   - a head does not end with CRLF CRLF, or an error has no printable
 *     reason;
 *   - a complete body is not what the wire says: Content-Length bytes right
 *     after the head, or the chunks decoded independently here, and never
 *     over body_max.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 16

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const struct http_limits lim = {1024, 16, 2048};

struct msgrec {
    size_t head_end, end;
    uint64_t head_hash, body_hash;
    size_t body_len;
};

struct transcript {
    enum http_result last;
    unsigned nheads, ndone;
    struct msgrec msg[MAX_MSGS];
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211u;
    return h;
}

static uint64_t head_hash(const struct http_request *r)
{
    uint64_t h = 14695981039346656037u;
    int64_t cl = r->content_length;
    int flags[] = {r->chunked, r->keep_alive, r->expect_continue, r->http_minor};

    h = mix(h, r->method, strlen(r->method));
    h = mix(h, r->path, r->path_len + 1);
    if (r->query != NULL)
        h = mix(h, r->query, r->query_len + 1);
    for (size_t i = 0; i < r->nheaders; i++) {
        h = mix(h, r->headers[i].name, r->headers[i].name_len + 1);
        h = mix(h, r->headers[i].value, r->headers[i].value_len + 1);
    }
    h = mix(h, &cl, sizeof cl);
    return mix(h, flags, sizeof flags);
}

/* Decode the chunked body on the wire at w[0..n) (llhttp accepted it). */
static size_t dechunk(const char *w, size_t n, char *out)
{
    size_t i = 0, len = 0;

    for (;;) {
        size_t size = 0;

        for (; i < n && strchr("0123456789abcdefABCDEF", w[i]) != NULL && w[i] != '\0'; i++)
            size = size * 16 + (size_t)(w[i] <= '9' ? w[i] - '0' : (w[i] | 0x20) - 'a' + 10);
        while (i < n && w[i] != '\n')
            i++;
        i++;
        if (size == 0)
            return len;
        CHECK(i + size <= n);
        memcpy(out + len, w + i, size);
        len += size;
        i += size + 2;
    }
}

static void check_body(const struct http_request *r, const char *s, const struct msgrec *m)
{
    static char ref[2 * 1024 * 1024];

    CHECK(r->body != NULL && r->body_len <= lim.body_max);
    if (r->content_length >= 0) {
        CHECK(!r->chunked && r->body_len == (size_t)r->content_length);
        CHECK(m->end == m->head_end + r->body_len);
        CHECK(memcmp(r->body, s + m->head_end, r->body_len) == 0);
    } else if (r->chunked) {
        size_t n = dechunk(s + m->head_end, m->end - m->head_end, ref);

        CHECK(n == r->body_len && memcmp(ref, r->body, n) == 0);
    } else {
        CHECK(r->body_len == 0 && m->end == m->head_end);
    }
}

static int on_result(struct http_parser *p, enum http_result r, const char *s, size_t pos,
                     struct transcript *t)
{
    if (r == HTTP_HEADERS_DONE) {
        CHECK(t->nheads == t->ndone && t->nheads < MAX_MSGS);
        CHECK(pos >= 4 && memcmp(s + pos - 4, "\r\n\r\n", 4) == 0);
        t->msg[t->nheads].head_end = pos;
        t->msg[t->nheads++].head_hash = head_hash(http_parser_request(p));
        return 1;
    }
    if (r == HTTP_DONE) {
        const struct http_request *q = http_parser_request(p);
        struct msgrec *m = &t->msg[t->ndone++];

        CHECK(t->nheads == t->ndone);
        m->end = pos;
        m->body_len = q->body_len;
        m->body_hash = mix(0, q->body, q->body_len);
        check_body(q, s, m);
        http_parser_reset(p);
        return t->ndone < MAX_MSGS;
    }
    t->last = r;
    CHECK(r >= HTTP_ERR_BAD && r <= HTTP_ERR_EXPECT && http_status_of(r) >= 400);
    CHECK(http_parser_error(p) != NULL);
    for (const char *c = http_parser_error(p); *c != '\0'; c++)
        CHECK(*c >= ' ' && *c <= '~');
    return 0;
}

/* Split sizes: 0 whole, 1 byte by byte, else pseudo-random from seed. */
static size_t next_len(unsigned mode, uint64_t *seed, size_t left)
{
    size_t k;

    if (mode == 0)
        return left;
    if (mode == 1)
        k = 1;
    else {
        *seed = *seed * 6364136223846793005u + 1442695040888963407u;
        k = (size_t)(*seed >> 33) % (mode == 2 ? 7 : 300) + 1;
    }
    return k < left ? k : left;
}

static void drive(const char *s, size_t n, unsigned mode, uint64_t seed, struct transcript *t)
{
    struct http_parser *p = http_parser_new(&lim);
    size_t pos = 0, avail;

    CHECK(p != NULL);
    memset(t, 0, sizeof *t);
    t->last = HTTP_MORE;
    avail = next_len(mode, &seed, n);
    for (;;) {
        size_t used = (size_t)-1;
        enum http_result r = http_parser_feed(p, s + pos, avail - pos, &used);

        CHECK(used <= avail - pos);
        pos += used;
        if (r == HTTP_MORE) {
            CHECK(pos == avail);
            if (avail == n)
                break;
            avail += next_len(mode, &seed, n - avail);
        } else if (!on_result(p, r, s, pos, t)) {
            break;
        }
    }
    if (t->last != HTTP_MORE) {
        size_t used = 1;

        CHECK(http_parser_feed(p, s, n, &used) == t->last && used == 0);
    }
    http_parser_free(p);
}

static void same(const struct transcript *a, const struct transcript *b)
{
    CHECK(a->last == b->last && a->nheads == b->nheads && a->ndone == b->ndone);
    for (unsigned i = 0; i < a->nheads; i++) {
        CHECK(a->msg[i].head_end == b->msg[i].head_end);
        CHECK(a->msg[i].head_hash == b->msg[i].head_hash);
    }
    for (unsigned i = 0; i < a->ndone; i++) {
        CHECK(a->msg[i].end == b->msg[i].end && a->msg[i].body_len == b->msg[i].body_len);
        CHECK(a->msg[i].body_hash == b->msg[i].body_hash);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint64_t seed = mix(14695981039346656037u, data, size);
    struct transcript whole, other;

    drive(s, size, 0, 0, &whole);
    if (size <= 8192) {
        drive(s, size, 1, 0, &other);
        same(&whole, &other);
    }
    drive(s, size, 2, seed, &other);
    same(&whole, &other);
    drive(s, size, 3, seed ^ 0x9e3779b97f4a7c15u, &other);
    same(&whole, &other);
    return 0;
}
