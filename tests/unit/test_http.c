/*
 * test_http: the strict request parser and the response head writer
 * (proxy/http.h).
 *
 * Every reject the header lists has a raw request here with the result and
 * status it must give, and every good request the fields it must yield. Each
 * case is fed whole, one byte at a time and in random splits, and the whole
 * transcript (results, where the head and each message ended, every field of
 * every request, the body) must be the same in all of them. Limits are tested
 * at exactly the limit and one over. Every test checks through mem_live()
 * that it left no allocation behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "leak.h"
#include "proxy/http.h"

#define MAX_MSGS 4
#define STR_MAX  64
#define BODY_MAX 256

/* What one request looked like when the parser handed it over. */
struct msgrec {
    size_t head_end, end; /* absolute offsets of HEADERS_DONE and DONE */
    char method[STR_MAX], path[STR_MAX], query[STR_MAX];
    int has_query;
    size_t nheaders;
    int64_t content_length;
    int chunked, keep_alive, expect_continue, http_minor;
    char body[BODY_MAX];
    size_t body_len;
    uint32_t body_hash;
};

/* Everything observable from driving a parser over one byte stream. */
struct transcript {
    enum http_result last; /* HTTP_MORE when the input ran out, else the error */
    char why[128];
    unsigned nheads, ndone;
    struct msgrec msg[MAX_MSGS];
};

enum split { WHOLE, BYTES, RANDOM };

static const struct http_limits deflim = {16 * 1024, 100, 5 * 1024 * 1024};

static uint32_t hash32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void copy_str(char *dst, const char *s, size_t n)
{
    snprintf(dst, STR_MAX, "%.*s", (int)n, s);
}

static void record_head(struct msgrec *m, const struct http_request *r, size_t at)
{
    m->head_end = at;
    copy_str(m->method, r->method, strlen(r->method));
    copy_str(m->path, r->path, r->path_len);
    m->has_query = r->query != NULL;
    if (r->query != NULL)
        copy_str(m->query, r->query, r->query_len);
    m->nheaders = r->nheaders;
    m->content_length = r->content_length;
    m->chunked = r->chunked;
    m->keep_alive = r->keep_alive;
    m->expect_continue = r->expect_continue;
    m->http_minor = r->http_minor;
}

static void record_done(struct msgrec *m, const struct http_request *r, size_t at)
{
    assert_non_null(r->body);
    m->end = at;
    m->body_len = r->body_len;
    m->body_hash = hash32(r->body, r->body_len);
    memcpy(m->body, r->body, r->body_len < BODY_MAX - 1 ? r->body_len : BODY_MAX - 1);
}

static size_t next_len(enum split how, unsigned *seed, size_t left)
{
    size_t k;

    if (how == WHOLE)
        return left;
    if (how == BYTES)
        return left > 0 ? 1 : 0;
    k = (size_t)(rand_r(seed) % 23) + 1;
    if (rand_r(seed) % 8 == 0)
        k += (size_t)(rand_r(seed) % 400);
    return k < left ? k : left;
}

/* Handle one result; returns 1 while the stream goes on. */
static int on_result(struct http_parser *p, enum http_result r, size_t pos, struct transcript *t)
{
    const char *why;

    if (r == HTTP_HEADERS_DONE) {
        assert_int_equal(t->nheads, t->ndone); /* once per message */
        assert_true(t->nheads < MAX_MSGS);
        record_head(&t->msg[t->nheads++], http_parser_request(p), pos);
        return 1;
    }
    if (r == HTTP_DONE) {
        assert_int_equal(t->nheads, t->ndone + 1);
        record_done(&t->msg[t->ndone++], http_parser_request(p), pos);
        http_parser_reset(p);
        return 1;
    }
    t->last = r;
    why = http_parser_error(p);
    assert_non_null(why);
    snprintf(t->why, sizeof t->why, "%s", why);
    return 0;
}

/* Feed s[0..n) to a new parser, handing it the bytes as `how` says. */
static void drive(const struct http_limits *lim, const char *s, size_t n, enum split how,
                  unsigned seed, struct transcript *t)
{
    struct http_parser *p = http_parser_new(lim);
    size_t pos = 0, avail;

    assert_non_null(p);
    memset(t, 0, sizeof *t);
    avail = next_len(how, &seed, n);
    for (;;) {
        size_t used = 99999;
        enum http_result r = http_parser_feed(p, s + pos, avail - pos, &used);

        assert_true(used <= avail - pos);
        pos += used;
        if (r == HTTP_MORE) {
            assert_int_equal(pos, avail); /* MORE means all of it was taken */
            if (avail == n) {
                t->last = HTTP_MORE;
                break;
            }
            avail += next_len(how, &seed, n - avail);
            continue;
        }
        if (!on_result(p, r, pos, t))
            break;
    }
    if (t->last != HTTP_MORE) { /* errors are final and consume nothing */
        size_t used = 1;

        assert_int_equal(http_parser_feed(p, s, n, &used), t->last);
        assert_int_equal(used, 0);
    }
    http_parser_free(p);
}

static void same_transcript(const struct transcript *a, const struct transcript *b,
                            const char *what, const char *mode)
{
    if (a->last != b->last || a->nheads != b->nheads || a->ndone != b->ndone)
        fail_msg("%s: %s gives result %d after %u/%u messages (%s), whole gives %d after %u/%u "
                 "(%s)",
                 what, mode, b->last, b->nheads, b->ndone, b->why, a->last, a->nheads, a->ndone,
                 a->why);
    for (unsigned i = 0; i < a->nheads; i++)
        if (memcmp(&a->msg[i], &b->msg[i], sizeof a->msg[i]) != 0)
            fail_msg("%s: %s gives a different request %u than whole", what, mode, i);
}

/* Drive whole, byte by byte and in random splits; all must agree. */
static void drive_all(const struct http_limits *lim, const char *s, size_t n, const char *what,
                      struct transcript *t)
{
    struct transcript o;

    drive(lim, s, n, WHOLE, 0, t);
    drive(lim, s, n, BYTES, 0, &o);
    same_transcript(t, &o, what, "byte by byte");
    for (unsigned seed = 1; seed <= 6; seed++) {
        drive(lim, s, n, RANDOM, seed, &o);
        same_transcript(t, &o, what, "random split");
    }
}

/* ---- rejects ---- */

struct bad {
    const char *what;
    const char *raw;
    size_t n;
    enum http_result want;
    int status;
};

#define BAD(what, s, want, status)                                                                 \
    {                                                                                              \
        what, s, sizeof(s) - 1, want, status                                                       \
    }

#define H11 "POST /c HTTP/1.1\r\nHost: example.com\r\n"
#define TE  H11 "Transfer-Encoding: chunked\r\n\r\n"

static const struct bad bad_cases[] = {
    /* framing: Content-Length and Transfer-Encoding */
    BAD("CL then TE", H11 "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("TE then CL", H11 "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("TE gzip, chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("TE chunked, chunked", H11 "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("TE identity", H11 "Transfer-Encoding: identity\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("TE chunked;x=1", H11 "Transfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("two TE headers chunked",
        H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("two TE headers gzip then chunked",
        H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("empty TE", H11 "Transfer-Encoding:\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("duplicate CL, equal", H11 "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", HTTP_ERR_BAD,
        400),
    BAD("duplicate CL, different", H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
        HTTP_ERR_BAD, 400),
    BAD("CL list", H11 "Content-Length: 1, 1\r\n\r\nx", HTTP_ERR_BAD, 400),
    BAD("CL plus sign", H11 "Content-Length: +1\r\n\r\nx", HTTP_ERR_BAD, 400),
    BAD("CL minus sign", H11 "Content-Length: -1\r\n\r\nx", HTTP_ERR_BAD, 400),
    BAD("CL space inside", H11 "Content-Length: 1 2\r\n\r\nxxxxxxxxxxxx", HTTP_ERR_BAD, 400),
    BAD("CL non-digit", H11 "Content-Length: 1x\r\n\r\nx", HTTP_ERR_BAD, 400),
    BAD("CL hex", H11 "Content-Length: 0x10\r\n\r\nx", HTTP_ERR_BAD, 400),
    BAD("CL empty", H11 "Content-Length: \r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("CL overflows uint64", H11 "Content-Length: 99999999999999999999999\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("CL overflows int64", H11 "Content-Length: 9223372036854775808\r\n\r\n", HTTP_ERR_BAD, 400),
    /* field syntax */
    BAD("obs-fold with space", H11 "X-A: a\r\n b\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("obs-fold with tab", H11 "X-A: a\r\n\tb\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("obs-fold of Content-Length", H11 "Content-Length:\r\n 1\r\n\r\nx", HTTP_ERR_BAD, 400),
    BAD("first field line starts with space", "GET / HTTP/1.1\r\n Host: example.com\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("tab before colon", "GET / HTTP/1.1\r\nHost\t: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("space before colon of TE", H11 "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("quote in name", H11 "X\"A: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("parenthesis in name", H11 "X(A): 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("slash in name", H11 "X/A: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("non-ASCII in name", H11 "X\xc3\xa9: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("empty name", "GET / HTTP/1.1\r\n: 4111 1111 1111 1111\r\nHost: example.com\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("line without colon", H11 "X-A\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("NUL in value", H11 "X-Card: 4111\0 1111 1111 1111\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("SOH in value", H11 "X-A: a\x01z\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("ESC in value", H11 "X-A: a\x1bz\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("DEL in value", H11 "X-A: a\x7fz\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("CR inside value", H11 "X-A: a\rz\r\n\r\n", HTTP_ERR_BAD, 400),
    /* line endings */
    BAD("bare LF after request line", "GET / HTTP/1.1\nHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("bare LF after a field", "GET / HTTP/1.1\r\nHost: example.com\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF as the blank line", "GET / HTTP/1.1\r\nHost: example.com\r\n\n", HTTP_ERR_BAD,
        400),
    BAD("bare LF everywhere", "GET / HTTP/1.1\nHost: example.com\n\n", HTTP_ERR_BAD, 400),
    BAD("CR CR LF as the blank line", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\r\n", HTTP_ERR_BAD,
        400),
    BAD("leading bare LF", "\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("CR alone ends the request line", "GET / HTTP/1.1\rHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    /* chunked framing */
    BAD("chunk size 0x", TE "0x1\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size plus", TE "+1\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size leading space", TE " 1\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size trailing space", TE "1 \r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size space inside", TE "1 0\r\n0123456789abcdef\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size tab", TE "1\t\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size space before extension", TE "1 ;a=b\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size overflow", TE "11111111111111111\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size not hex", TE "g\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk size empty", TE "\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("chunk longer than its size", TE "1\r\nab\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF after chunk size", TE "1\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF after chunk data", TE "1\r\na\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF after last chunk", TE "1\r\na\r\n0\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF ends the chunked body", TE "1\r\na\r\n0\r\n\n", HTTP_ERR_BAD, 400),
    /* llhttp 8.1 itself takes CR + any byte as a chunk line end (fuzz find) */
    BAD("CR without LF after chunk size", TE "5\r*hello\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("CR without LF after chunk extension", TE "5;a=b\r*hello\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("CR without LF after chunk data", TE "1\r\na\r*0\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("CR without LF after last chunk", TE "1\r\na\r\n0\r*\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF ends a trailer", TE "0\r\nX-T: 1\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bare LF ends the trailer section", TE "0\r\nX-T: 1\r\n\n", HTTP_ERR_BAD, 400),
    BAD("obs-fold in a trailer", TE "0\r\nX-T: 1\r\n 2\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("trailer line starts with space", TE "0\r\n X-T: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("Content-Length trailer", TE "0\r\nContent-Length: 5\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("Transfer-Encoding trailer", TE "0\r\ntransfer-encoding: chunked\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("Host trailer", TE "0\r\nHost: example.org\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("trailer name not a token", TE "0\r\nX T: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("empty trailer name", TE "0\r\n: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("NUL in trailer value", TE "0\r\nX-T: a\0b\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bad chunk extension", TE "1;a b\r\na\r\n0\r\n\r\n", HTTP_ERR_BAD, 400),
    /* request line */
    BAD("asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("absolute-form", "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("authority-form CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("CONNECT with a path", "CONNECT /x HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("target without slash", "GET a HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("fragment in target", "GET /a#b HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("tab in target", "GET /a\tb HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("non-ASCII in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("NUL in target", "GET /a\0 HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("bad percent-encoding", "GET /a%zz HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("truncated percent-encoding", "GET /a%4 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("percent at the end of the query", "GET /a?b=% HTTP/1.1\r\nHost: example.com\r\n\r\n",
        HTTP_ERR_BAD, 400),
    BAD("double space after method", "GET  / HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("double space after target", "GET /  HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD,
        400),
    BAD("tab after method", "GET\t/ HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("space after version", "GET / HTTP/1.1 \r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("leading space", " GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("lower-case method", "get / HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("unknown method", "FETCH / HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("no version (HTTP/0.9 form)", "GET /\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("lower-case protocol", "GET / http/1.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("two-digit minor", "GET / HTTP/1.10\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("two-digit major", "GET / HTTP/01.1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("letter minor", "GET / HTTP/1.x\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("no minor", "GET / HTTP/1\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    /* Host */
    BAD("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("HTTP/1.1 with two Hosts",
        "GET / HTTP/1.1\r\nHost: a.example.com\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("HTTP/1.1 with two equal Hosts",
        "GET / HTTP/1.1\r\nHost: example.com\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("HTTP/1.0 with two Hosts",
        "GET / HTTP/1.0\r\nHost: a.example.com\r\nHost: example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("space in Host", "GET / HTTP/1.1\r\nHost: example .com\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("slash in Host", "GET / HTTP/1.1\r\nHost: example.com/x\r\n\r\n", HTTP_ERR_BAD, 400),
    BAD("userinfo in Host", "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", HTTP_ERR_BAD, 400),
    /* versions */
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: example.com\r\n\r\n", HTTP_ERR_VERSION, 505),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\nHost: example.com\r\n\r\n", HTTP_ERR_VERSION, 505),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: example.com\r\n\r\n", HTTP_ERR_VERSION, 505),
    BAD("HTTP/3.0", "GET / HTTP/3.0\r\nHost: example.com\r\n\r\n", HTTP_ERR_VERSION, 505),
    BAD("HTTP/9.9", "GET / HTTP/9.9\r\n\r\n", HTTP_ERR_VERSION, 505),
    BAD("PRI preface", "PRI / HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP_ERR_VERSION, 505),
    /* Expect */
    BAD("Expect other than 100-continue", H11 "Expect: 200-ok\r\n\r\n", HTTP_ERR_EXPECT, 417),
    BAD("Expect list", H11 "Expect: 100-continue, foo\r\n\r\n", HTTP_ERR_EXPECT, 417),
    BAD("empty Expect", H11 "Expect:\r\n\r\n", HTTP_ERR_EXPECT, 417),
    BAD("Expect on HTTP/1.0", "POST / HTTP/1.0\r\nExpect: x\r\n\r\n", HTTP_ERR_EXPECT, 417),
};

/* The reason is a fixed phrase: printable, and it never quotes the input. */
static void check_reason(const struct transcript *t, const char *what)
{
    if (t->why[0] == '\0')
        fail_msg("%s: no reason", what);
    for (const char *c = t->why; *c != '\0'; c++)
        if (*c < ' ' || *c > '~')
            fail_msg("%s: reason is not printable ASCII", what);
    if (strstr(t->why, "4111") != NULL || strstr(t->why, "example") != NULL)
        fail_msg("%s: reason quotes the input: %s", what, t->why);
}

static void test_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad *c = &bad_cases[i];
        struct transcript t;

        drive_all(&deflim, c->raw, c->n, c->what, &t);
        if (t.last != c->want || t.ndone != 0)
            fail_msg("case %zu (%s): result %d after %u messages (%s), want %d", i, c->what, t.last,
                     t.ndone, t.why, c->want);
        if (http_status_of(t.last) != c->status)
            fail_msg("case %zu (%s): status %d, want %d", i, c->what, http_status_of(t.last),
                     c->status);
        check_reason(&t, c->what);
    }
}

/* ---- good requests ---- */

struct good {
    const char *what;
    const char *raw;
    size_t n;
    unsigned ndone;
    const char *method, *path, *query; /* of the first request; query NULL when none */
    int64_t content_length;
    int chunked, keep_alive, expect_continue, http_minor;
    size_t nheaders;
    const char *bodies[MAX_MSGS]; /* of each request */
};

#define GOOD(what, s, ndone, ...)                                                                  \
    {                                                                                              \
        what, s, sizeof(s) - 1, ndone, __VA_ARGS__                                                 \
    }

#define PIPE1 "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define PIPE2 "POST /b?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
#define PIPE3                                                                                      \
    "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: "                                 \
    "chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"

static const struct good good_cases[] = {
    GOOD("GET", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 1, "GET", "/", NULL, -1, 0, 1, 0, 1,
         1, {""}),
    GOOD("POST with Content-Length and a query",
         "POST /s/?compression=gzip-js&ver=1.2 HTTP/1.1\r\nHost: example.com\r\n"
         "Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"email\":\"a@b\"}\n",
         1, "POST", "/s/", "compression=gzip-js&ver=1.2", 16, 0, 1, 0, 1, 3,
         {"{\"email\":\"a@b\"}\n"}),
    GOOD("empty query", "GET /p? HTTP/1.1\r\nHost: example.com\r\n\r\n", 1, "GET", "/p", "", -1, 0,
         1, 0, 1, 1, {""}),
    GOOD("percent-encoding kept raw", "GET /a%20b?c=%2F HTTP/1.1\r\nHost: example.com\r\n\r\n", 1,
         "GET", "/a%20b", "c=%2F", -1, 0, 1, 0, 1, 1, {""}),
    GOOD("Content-Length 0", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n", 1,
         "POST", "/", NULL, 0, 0, 1, 0, 1, 2, {""}),
    GOOD("Content-Length with leading zeros",
         "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 003\r\n\r\nxyz", 1, "POST", "/",
         NULL, 3, 0, 1, 0, 1, 2, {"xyz"}),
    GOOD("body starting with a space after the blank line",
         "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n \n ", 1, "POST", "/",
         NULL, 3, 0, 1, 0, 1, 2, {" \n "}),
    GOOD("body with bare CR and LF",
         "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\n\n\r\r\n", 1, "POST",
         "/", NULL, 4, 0, 1, 0, 1, 2, {"\n\r\r\n"}),
    GOOD("chunked with trailers",
         TE "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n", 1, "POST",
         "/c", NULL, -1, 1, 1, 0, 1, 2, {"hello world"}),
    GOOD("chunked with extensions",
         TE "5;name=value\r\nhello\r\n1;q=\"a b\"\r\n!\r\n0;last\r\n\r\n", 1, "POST", "/c", NULL,
         -1, 1, 1, 0, 1, 2, {"hello!"}),
    GOOD("chunked, upper-case hex and CRLF in data", TE "A\r\n0123\r\n5678\r\n0\r\n\r\n", 1, "POST",
         "/c", NULL, -1, 1, 1, 0, 1, 2, {"0123\r\n5678"}),
    GOOD("chunked, CR without LF inside data", TE "3\r\na\rb\r\n2\r\n\r\r\r\n0\r\n\r\n", 1, "POST",
         "/c", NULL, -1, 1, 1, 0, 1, 2, {"a\rb\r\r"}),
    GOOD("chunked, Chunked in capitals",
         H11 "Transfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n", 1, "POST", "/c", NULL, -1, 1,
         1, 0, 1, 2, {"z"}),
    GOOD("empty chunked body", TE "0\r\n\r\n", 1, "POST", "/c", NULL, -1, 1, 1, 0, 1, 2, {""}),
    GOOD("pipelined GET, POST, chunked POST", PIPE1 PIPE2 PIPE3, 3, "GET", "/a", NULL, -1, 0, 1, 0,
         1, 1, {"", "abc", "de"}),
    GOOD("keep-alive HTTP/1.0",
         "POST /k HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi", 1, "POST",
         "/k", NULL, 2, 0, 1, 0, 0, 2, {"hi"}),
    GOOD("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 1, "GET", "/", NULL, -1, 0, 0, 0, 0, 0,
         {""}),
    GOOD("Connection: close", "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 1,
         "GET", "/", NULL, -1, 0, 0, 0, 1, 2, {""}),
    GOOD("Expect: 100-continue", H11 "Expect: 100-continue\r\nContent-Length: 1\r\n\r\nq", 1,
         "POST", "/c", NULL, 1, 0, 1, 1, 1, 3, {"q"}),
    GOOD("Expect: 100-Continue in capitals",
         H11 "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\nq", 1, "POST", "/c", NULL, 1, 0, 1,
         1, 1, 3, {"q"}),
    GOOD("100-continue ignored in HTTP/1.0",
         "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nq", 1, "POST", "/",
         NULL, 1, 0, 0, 0, 0, 2, {"q"}),
    GOOD("leading empty line", "\r\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 1, "GET", "/",
         NULL, -1, 0, 1, 0, 1, 1, {""}),
    GOOD("empty value, tabs, obs-text",
         "GET / HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\nX-Utf8: "
         "\xc3\xa9\r\n\r\n",
         1, "GET", "/", NULL, -1, 0, 1, 0, 1, 4, {""}),
    GOOD("Host with port and IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 1, "GET",
         "/", NULL, -1, 0, 1, 0, 1, 1, {""}),
    GOOD("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 1, "GET", "/", NULL, -1, 0, 1, 0, 1, 1,
         {""}),
    GOOD("Upgrade is ignored, the next request follows",
         "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: "
         "websocket\r\n\r\n" PIPE1,
         2, "GET", "/", NULL, -1, 0, 1, 0, 1, 3, {"", ""}),
    GOOD("other methods", "DELETE /x HTTP/1.1\r\nHost: example.com\r\n\r\n", 1, "DELETE", "/x",
         NULL, -1, 0, 1, 0, 1, 1, {""}),
};

static void check_good(const struct good *g, const struct transcript *t)
{
    const struct msgrec *m = &t->msg[0];

    if (t->last != HTTP_MORE || t->ndone != g->ndone)
        fail_msg("%s: result %d after %u messages (%s), want %u messages", g->what, t->last,
                 t->ndone, t->why, g->ndone);
    assert_string_equal(m->method, g->method);
    assert_string_equal(m->path, g->path);
    assert_int_equal(m->has_query, g->query != NULL);
    if (g->query != NULL)
        assert_string_equal(m->query, g->query);
    assert_int_equal(m->content_length, g->content_length);
    assert_int_equal(m->chunked, g->chunked);
    assert_int_equal(m->keep_alive, g->keep_alive);
    assert_int_equal(m->expect_continue, g->expect_continue);
    assert_int_equal(m->http_minor, g->http_minor);
    assert_int_equal(m->nheaders, g->nheaders);
    for (unsigned i = 0; i < g->ndone; i++) {
        assert_int_equal(t->msg[i].body_len, strlen(g->bodies[i]));
        assert_memory_equal(t->msg[i].body, g->bodies[i], t->msg[i].body_len);
    }
}

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_cases / sizeof good_cases[0]; i++) {
        struct transcript t;

        drive_all(&deflim, good_cases[i].raw, good_cases[i].n, good_cases[i].what, &t);
        check_good(&good_cases[i], &t);
    }
}

/* The parser stops right after the head and right after each message. */
static void test_stops(void **state)
{
    struct transcript t;
    static const char s[] = PIPE1 PIPE2 PIPE3;
    size_t n1 = sizeof PIPE1 - 1, n2 = sizeof PIPE2 - 1;

    (void)state;
    drive_all(&deflim, s, sizeof s - 1, "pipelined", &t);
    assert_int_equal(t.ndone, 3);
    assert_int_equal(t.msg[0].head_end, n1);
    assert_int_equal(t.msg[0].end, n1);
    assert_int_equal(t.msg[1].head_end, n1 + n2 - 3); /* before "abc" */
    assert_int_equal(t.msg[1].end, n1 + n2);
    assert_int_equal(t.msg[2].end, sizeof s - 1);
}

/* A good request followed by a bad one: the first completes, then the error. */
static void test_good_then_bad(void **state)
{
    static const char s[] = PIPE2 "GET / HTTP/1.1\r\nHost: example.com\r\n\n";
    struct transcript t;

    (void)state;
    drive_all(&deflim, s, sizeof s - 1, "good then bad", &t);
    assert_int_equal(t.ndone, 1);
    assert_int_equal(t.last, HTTP_ERR_BAD);
    assert_string_equal(t.msg[0].body, "abc");
}

static void test_headers(void **state)
{
    static const char s[] = "GET / HTTP/1.1\r\nHost: example.com\r\nX-Pad:  a b \t\r\n"
                            "x-dup: 1\r\nX-Dup: 2\r\n\r\n";
    struct http_parser *p = http_parser_new(NULL);
    const struct http_request *r;
    const struct http_header *h;
    size_t used;

    (void)state;
    assert_int_equal(http_parser_feed(p, s, sizeof s - 1, &used), HTTP_HEADERS_DONE);
    assert_int_equal(used, sizeof s - 1);
    r = http_parser_request(p);
    assert_int_equal(r->nheaders, 4);
    h = http_request_header(r, "x-pad");
    assert_non_null(h);
    assert_string_equal(h->name, "X-Pad");
    assert_int_equal(h->value_len, 3);
    assert_string_equal(h->value, "a b");
    h = http_request_header(r, "X-DUP");
    assert_non_null(h);
    assert_string_equal(h->value, "1"); /* the first one */
    assert_null(http_request_header(r, "X-Missing"));
    assert_null(http_request_header(r, "X-Pa"));
    assert_null(http_parser_error(p));
    http_parser_free(p);
}

/* ---- limits, at exactly the limit and one over ---- */

/* A head of exactly n bytes (n >= 64), then body. */
static size_t make_head(char *dst, size_t n, const char *extra, const char *body)
{
    static const char pre[] = "POST / HTTP/1.1\r\nHost: example.com\r\nX-Pad: ";
    size_t k = strlen(extra) + 4, pad = n - (sizeof pre - 1) - k;

    memcpy(dst, pre, sizeof pre - 1);
    memset(dst + sizeof pre - 1, 'p', pad);
    snprintf(dst + sizeof pre - 1 + pad, k + strlen(body) + 1, "\r\n%s\r\n%s", extra, body);
    return n + strlen(body);
}

static void expect_result(const struct http_limits *lim, const char *s, size_t n,
                          enum http_result want, unsigned ndone, const char *what)
{
    struct transcript t;

    drive_all(lim, s, n, what, &t);
    if (t.last != want || t.ndone != ndone)
        fail_msg("%s: result %d after %u messages (%s), want %d after %u", what, t.last, t.ndone,
                 t.why, want, ndone);
}

static void test_header_max(void **state)
{
    struct http_limits lim = {256, 100, 64};
    char s[512];
    size_t n;

    (void)state;
    n = make_head(s, 256, "Content-Length: 3\r\n", "abc");
    expect_result(&lim, s, n, HTTP_MORE, 1, "head of exactly header_max");
    lim.header_max = 255;
    expect_result(&lim, s, n, HTTP_ERR_HEADERS_TOO_BIG, 0, "head one over header_max");
    /* Without the body: the limit fires on the head's last byte. */
    expect_result(&lim, s, 256, HTTP_ERR_HEADERS_TOO_BIG, 0, "head one over, no body");
    expect_result(&lim, s, 255, HTTP_MORE, 0, "head at header_max, incomplete");
    /* Leading empty lines count. */
    lim.header_max = 257;
    memmove(s + 2, s, n);
    memcpy(s, "\r\n", 2);
    expect_result(&lim, s, n + 2, HTTP_ERR_HEADERS_TOO_BIG, 0, "leading CRLF counts");
    lim.header_max = 258;
    expect_result(&lim, s, n + 2, HTTP_MORE, 1, "leading CRLF counts, at the limit");
}

static void test_header_fields(void **state)
{
    struct http_limits lim = {16 * 1024, 5, 64};
    char s[1024];
    int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: example.com\r\n");

    (void)state;
    for (int i = 0; i < 4; i++)
        n += snprintf(s + n, sizeof s - (size_t)n, "X-F%d: %d\r\n", i, i);
    n += snprintf(s + n, sizeof s - (size_t)n, "\r\n");
    expect_result(&lim, s, (size_t)n, HTTP_MORE, 1, "exactly header_fields fields");
    lim.header_fields = 4;
    expect_result(&lim, s, (size_t)n, HTTP_ERR_HEADERS_TOO_BIG, 0, "one field over");
}

static void test_body_max_length(void **state)
{
    struct http_limits lim = {1024, 10, 10};
    static const char ok[] = H11 "Content-Length: 10\r\n\r\n0123456789";
    static const char over[] = H11 "Content-Length: 11\r\n\r\n";
    struct http_parser *p;
    size_t used;

    (void)state;
    expect_result(&lim, ok, sizeof ok - 1, HTTP_MORE, 1, "Content-Length of exactly body_max");
    expect_result(&lim, over, sizeof over - 1, HTTP_ERR_BODY_TOO_BIG, 0,
                  "Content-Length one over body_max");
    /* 413 comes with the head, before any body byte, and the head is there. */
    p = http_parser_new(&lim);
    assert_int_equal(http_parser_feed(p, over, sizeof over - 1, &used), HTTP_ERR_BODY_TOO_BIG);
    assert_int_equal(http_status_of(HTTP_ERR_BODY_TOO_BIG), 413);
    assert_int_equal(http_parser_request(p)->content_length, 11);
    assert_string_equal(http_parser_request(p)->path, "/c");
    http_parser_free(p);
}

static void test_body_max_chunked(void **state)
{
    struct http_limits lim = {1024, 10, 10};
    static const char ok[] = TE "4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n";
    static const char over[] = TE "4\r\n0123\r\n6\r\n456789\r\n1\r\nx\r\n0\r\n\r\n";
    static const char big_chunk[] = TE "b\r\n";
    static const char zeros[] = TE "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "0000000000000000000000000000000000000000000000000000000000000"
                                   "01\r\na\r\n0\r\n\r\n";

    (void)state;
    expect_result(&lim, ok, sizeof ok - 1, HTTP_MORE, 1, "chunked body of exactly body_max");
    expect_result(&lim, over, sizeof over - 1, HTTP_ERR_BODY_TOO_BIG, 0,
                  "chunked body one over body_max");
    /* A chunk that cannot fit is refused at its size line, before its data. */
    expect_result(&lim, big_chunk, sizeof big_chunk - 1, HTTP_ERR_BODY_TOO_BIG, 0,
                  "chunk size over body_max");
    /* Framing is bounded too: 2 * body_max + header_max bytes on the wire. */
    expect_result(&lim, zeros, sizeof zeros - 1, HTTP_ERR_BODY_TOO_BIG, 0,
                  "chunk-size line of leading zeros");
    lim.header_max = 2048;
    expect_result(&lim, zeros, sizeof zeros - 1, HTTP_MORE, 1, "leading zeros within the cap");
}

static void test_trailer_limits(void **state)
{
    struct http_limits lim = {1024, 3, 64}; /* the head has 2 fields */
    static const char three[] = TE "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    char s[512], trailer[128];
    int t = snprintf(trailer, sizeof trailer, "X-T: %0100d\r\n\r\n", 0);
    int n = snprintf(s, sizeof s, "%s0\r\n%s", TE, trailer);

    (void)state;
    expect_result(&lim, three, sizeof three - 1, HTTP_MORE, 1, "trailer fields at the limit");
    lim.header_fields = 2;
    expect_result(&lim, three, sizeof three - 1, HTTP_ERR_HEADERS_TOO_BIG, 0,
                  "trailer fields one over");
    /* The trailer section is longer than the head, so only it can hit the cap. */
    lim.header_max = (size_t)t;
    assert_true(sizeof TE - 1 < lim.header_max);
    expect_result(&lim, s, (size_t)n, HTTP_MORE, 1, "trailer section of exactly header_max");
    lim.header_max = (size_t)t - 1;
    expect_result(&lim, s, (size_t)n, HTTP_ERR_HEADERS_TOO_BIG, 0,
                  "trailer section one over header_max");
}

/* ---- reuse ---- */

static void test_reset_reuse(void **state)
{
    static const char a[] = "POST /a?q=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n"
                            "Content-Length: 5\r\n\r\nhello";
    static const char b[] = "GET /b HTTP/1.0\r\n\r\n";
    struct http_parser *p = http_parser_new(NULL);
    const struct http_request *r;
    size_t used;

    (void)state;
    assert_int_equal(http_parser_feed(p, a, sizeof a - 1, &used), HTTP_HEADERS_DONE);
    assert_int_equal(http_parser_feed(p, a + used, sizeof a - 1 - used, &used), HTTP_DONE);
    /* Until reset, DONE again and nothing consumed. */
    assert_int_equal(http_parser_feed(p, b, sizeof b - 1, &used), HTTP_DONE);
    assert_int_equal(used, 0);
    http_parser_reset(p);
    assert_int_equal(http_parser_feed(p, b, sizeof b - 1, &used), HTTP_HEADERS_DONE);
    assert_int_equal(http_parser_feed(p, NULL, 0, &used), HTTP_DONE);
    r = http_parser_request(p);
    assert_string_equal(r->path, "/b");
    assert_null(r->query);
    assert_int_equal(r->nheaders, 0);
    assert_int_equal(r->content_length, -1);
    assert_int_equal(r->body_len, 0);
    assert_int_equal(r->http_minor, 0);
    assert_null(http_request_header(r, "X-A"));
    /* The same request again allocates nothing. */
    http_parser_reset(p);
    mem_fail_after(-1);
    assert_int_equal(http_parser_feed(p, a, sizeof a - 1, &used), HTTP_HEADERS_DONE);
    assert_int_equal(http_parser_feed(p, a + used, sizeof a - 1 - used, &used), HTTP_DONE);
    assert_int_equal(mem_fail_after(-1), 0);
    assert_memory_equal(http_parser_request(p)->body, "hello", 5);
    /* After an error, reset makes the parser usable again. */
    http_parser_reset(p);
    assert_int_equal(http_parser_feed(p, "GET / HTTP/1.1\n", 15, &used), HTTP_ERR_BAD);
    assert_non_null(http_parser_error(p));
    http_parser_reset(p);
    assert_null(http_parser_error(p));
    assert_int_equal(http_parser_feed(p, b, sizeof b - 1, &used), HTTP_HEADERS_DONE);
    http_parser_free(p);
}

/* A large body's buffer is released on reset; a small one is kept. */
static void test_reset_releases_large_body(void **state)
{
    static char s[128 + 100 * 1024];
    int h = snprintf(s, sizeof s, H11 "Content-Length: %d\r\n\r\n", 100 * 1024);
    struct http_parser *p = http_parser_new(NULL);
    size_t used, n = (size_t)h + 100 * 1024;
    long before;

    (void)state;
    memset(s + h, 'b', 100 * 1024);
    assert_int_equal(http_parser_feed(p, s, n, &used), HTTP_HEADERS_DONE);
    before = mem_live();
    assert_int_equal(http_parser_feed(p, s + used, n - used, &used), HTTP_DONE);
    assert_int_equal(http_parser_request(p)->body_len, 100 * 1024);
    assert_int_equal(mem_live(), before + 1); /* the body buffer */
    http_parser_reset(p);
    assert_int_equal(mem_live(), before);
    http_parser_free(p);
}

static void test_new_limits(void **state)
{
    struct http_limits lim = {0, 100, 1024};

    (void)state;
    assert_null(http_parser_new(&lim));
    lim.header_max = (1 << 20) + 1;
    assert_null(http_parser_new(&lim));
    lim.header_max = 1024;
    lim.header_fields = 0;
    assert_null(http_parser_new(&lim));
    lim.header_fields = 10001;
    assert_null(http_parser_new(&lim));
    lim.header_fields = 10;
    lim.body_max = ((size_t)1 << 30) + 1;
    assert_null(http_parser_new(&lim));
    http_parser_free(NULL);
}

/* A failed allocation in http_parser_new is a clean NULL, leaking nothing. */
static void test_new_torture(void **state)
{
    struct http_parser *p = NULL;
    long k;

    (void)state;
    for (k = 0; p == NULL && k < 16; k++) {
        mem_fail_after(k);
        p = http_parser_new(NULL);
        mem_fail_after(-1);
    }
    assert_non_null(p);
    assert_true(k > 1); /* at least one failure was walked through */
    http_parser_free(p);
}

/* ---- statuses and response heads ---- */

static void test_status_table(void **state)
{
    static const int sent[] = {100, 200, 202, 204, 400, 401, 403, 404, 405, 408, 411,
                               413, 415, 417, 422, 429, 431, 500, 502, 503, 504, 505};

    (void)state;
    assert_int_equal(http_status_of(HTTP_MORE), 0);
    assert_int_equal(http_status_of(HTTP_HEADERS_DONE), 0);
    assert_int_equal(http_status_of(HTTP_DONE), 0);
    assert_int_equal(http_status_of(HTTP_ERR_BAD), 400);
    assert_int_equal(http_status_of(HTTP_ERR_HEADERS_TOO_BIG), 431);
    assert_int_equal(http_status_of(HTTP_ERR_BODY_TOO_BIG), 413);
    assert_int_equal(http_status_of(HTTP_ERR_VERSION), 505);
    assert_int_equal(http_status_of(HTTP_ERR_EXPECT), 417);
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++)
        if (http_reason(sent[i]) == NULL || http_reason(sent[i])[0] == '\0')
            fail_msg("no reason phrase for %d", sent[i]);
    assert_string_equal(http_reason(404), "Not Found");
    assert_string_equal(http_reason(431), "Request Header Fields Too Large");
    assert_null(http_reason(418));
    assert_null(http_reason(0));
    assert_null(http_reason(999));
}

static void check_head(int status, const char *ct, size_t len, int ka, const char *extra,
                       const char *want)
{
    struct buf b;

    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "x"), 0);
    assert_int_equal(http_response_head(&b, status, ct, len, ka, extra), 0);
    assert_string_equal(b.data + 1, want);
    buf_free(&b);
}

static void check_head_fails(size_t max, int status, const char *ct, const char *extra)
{
    struct buf b;

    buf_init(&b, max);
    assert_int_equal(buf_puts(&b, "x"), 0);
    assert_int_equal(http_response_head(&b, status, ct, 0, 1, extra), -1);
    assert_int_equal(b.len, 1); /* unchanged */
    assert_string_equal(b.data, "x");
    buf_free(&b);
}

static void test_response_head(void **state)
{
    (void)state;
    check_head(200, "application/json", 2, 1, NULL,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
               "Connection: keep-alive\r\n\r\n");
    check_head(503, NULL, 0, 0, "Retry-After: 5\r\n",
               "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
               "Retry-After: 5\r\n\r\n");
    check_head(204, "text/plain", 9, 1, NULL,
               "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
    check_head(100, "text/plain", 9, 0, NULL, "HTTP/1.1 100 Continue\r\n\r\n");
    check_head(413, "text/plain", 0, 0, "A: 1\r\nB-c: x y\r\n",
               "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
               "Connection: close\r\nA: 1\r\nB-c: x y\r\n\r\n");
    check_head_fails(0, 418, NULL, NULL);
    check_head_fails(0, 200, "text/plain\r\nX-Injected: 1", NULL);
    check_head_fails(0, 200, "", NULL);
    check_head_fails(0, 200, NULL, "Retry-After: 5");
    check_head_fails(0, 200, NULL, "Retry-After: 5\n");
    check_head_fails(0, 200, NULL, "A: 1\r\n\r\nbody");
    check_head_fails(0, 200, NULL, "No colon\r\n");
    check_head_fails(0, 200, NULL, ": empty name\r\n");
    check_head_fails(20, 200, NULL, NULL); /* buffer full */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_rejects),
        LEAK_TEST(test_good),
        LEAK_TEST(test_stops),
        LEAK_TEST(test_good_then_bad),
        LEAK_TEST(test_headers),
        LEAK_TEST(test_header_max),
        LEAK_TEST(test_header_fields),
        LEAK_TEST(test_body_max_length),
        LEAK_TEST(test_body_max_chunked),
        LEAK_TEST(test_trailer_limits),
        LEAK_TEST(test_reset_reuse),
        LEAK_TEST(test_new_limits),
        LEAK_TEST(test_new_torture),
        LEAK_TEST(test_reset_releases_large_body),
        LEAK_TEST(test_status_table),
        LEAK_TEST(test_response_head),
    };

    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
