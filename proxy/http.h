/*
 * http: the strict HTTP/1.1 request parser of the edge, and the response head
 * writer.
 *
 * Requests are parsed by llhttp (Node's parser, compiled from Debian's
 * node-llhttp 8.1) with no lenient flag, and checked further in its callbacks
 * and in a scan of the raw framing bytes, because llhttp as built here (its
 * loose mode) accepts things a strict server must refuse: bare LF line endings,
 * obs-fold continuation lines, whitespace before the colon, empty field
 * names, `gzip, chunked`, versions 0.9 and 2.0, non-origin-form targets.
 * scrim does not use libevent's evhttp because it is laxer still. Every
 * framing ambiguity another parser could resolve differently (DESIGN.md
 * invariant 2, request smuggling) is an error, and the server closes the
 * connection after answering it:
 *   400: Content-Length with Transfer-Encoding; a Transfer-Encoding other
 *        than one header holding exactly `chunked`, or any in HTTP/1.0
 *        (RFC 9112 6.1); a second Content-Length (even an equal one); a
 *        Content-Length that is not 1*DIGIT or does not fit in int64;
 *        obs-fold; a field name that is empty or not a token (so whitespace
 *        before the colon); CTL, DEL or NUL in a field value (obs-text,
 *        bytes 0x80-0xff, is allowed); a LF without CR or a CR without LF
 *        in the head, the trailer section or the chunk framing (llhttp 8.1
 *        itself takes CR and any byte as the end of a chunk line); a double
 *        space or a tab in the request line; chunk sizes with `0x`, `+`,
 *        spaces or overflow; a request-target that is not origin-form (`/`
 *        then visible ASCII, no `#`, `%` only before two hex digits), so
 *        also CONNECT, `*` and absolute-form; an HTTP/1.1 request without
 *        exactly one Host, or more than one Host in HTTP/1.0; a Host value
 *        outside RFC 3986 host[:port] characters; Content-Length,
 *        Transfer-Encoding or Host in the trailer section.
 *   505: a well-formed version other than HTTP/1.0 and HTTP/1.1.
 *   417: an Expect other than `100-continue`.
 *   431: a head (leading empty lines, request line, fields and the blank
 *        line) over header_max bytes or with more than header_fields fields;
 *        the same bounds apply to the trailer section of a chunked body.
 *   413: a Content-Length over body_max (reported with the head, before any
 *        body byte is read); a chunked body whose data would pass body_max
 *        (refused at the chunk-size line), or whose bytes on the wire (data
 *        and chunk framing) pass 2 * body_max + header_max.
 * Results do not depend on how the bytes are split across feed calls: every
 * check fires at a definite byte, and the earliest one wins.
 *
 * Memory: one parser per connection allocates header_max bytes for copies of
 * the head, a small field table and a body buffer that grows with the bytes
 * that arrive (never ahead of them, whatever Content-Length says) to at most
 * body_max. Reset keeps all three, except a body buffer over 64 KiB, so
 * steady keep-alive traffic allocates nothing and an idle connection holds
 * no large upload. Nothing is allocated per byte or per field.
 */
#ifndef SCRIM_HTTP_H
#define SCRIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct http_limits {
    size_t header_max;      /* bytes of the head; 1 .. 1 MiB */
    unsigned header_fields; /* fields in the head; 1 .. 10000 */
    size_t body_max;        /* bytes of decoded body; 0 .. 1 GiB */
};

struct http_header {
    const char *name; /* NUL-terminated, as sent (compare case-insensitively) */
    size_t name_len;
    const char *value; /* NUL-terminated, surrounding whitespace removed */
    size_t value_len;
};

struct http_request {
    const char *method; /* NUL-terminated, e.g. "POST" */
    const char *path;   /* target up to '?', raw (not percent-decoded); NUL-terminated */
    size_t path_len;
    const char *query; /* after '?'; NULL when none; NUL-terminated */
    size_t query_len;
    const struct http_header *headers; /* in arrival order */
    size_t nheaders;
    int64_t content_length; /* -1 when absent or chunked */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* the connection may carry another request */
    int expect_continue;    /* HTTP/1.1 with Expect: 100-continue */
    int http_minor;         /* 0 or 1 */
    const char *body;       /* valid after HTTP_DONE; never NULL then */
    size_t body_len;
};

enum http_result {
    HTTP_MORE,                /* all input consumed; feed more */
    HTTP_HEADERS_DONE,        /* the head is complete and valid */
    HTTP_DONE,                /* the message is complete */
    HTTP_ERR_BAD,             /* 400 */
    HTTP_ERR_HEADERS_TOO_BIG, /* 431 */
    HTTP_ERR_BODY_TOO_BIG,    /* 413 */
    HTTP_ERR_VERSION,         /* 505 */
    HTTP_ERR_EXPECT           /* 417 */
};

struct http_parser;

/* A parser for one connection, or NULL when a limit is out of its range.
 * lim NULL means the config defaults (16 KiB, 100 fields, 5 MiB). */
struct http_parser *http_parser_new(const struct http_limits *lim);

/* Free the parser and everything it holds. NULL is a no-op. */
void http_parser_free(struct http_parser *p);

/* Feed the next n bytes of the connection (data may be NULL when n is 0).
 * *used says how many were consumed; the caller keeps the rest and feeds it
 * again later. Returns:
 *   HTTP_MORE when all n bytes were consumed and the message needs more;
 *   HTTP_HEADERS_DONE once, when the head is complete: the parser stops
 *     right after the blank line, so the caller can route, authenticate,
 *     send 100 Continue or reject early; it then feeds the rest, even zero
 *     bytes (a request without a body completes on that call);
 *   HTTP_DONE when the message is complete: the parser stops right after it,
 *     so pipelined bytes of the next request stay unconsumed; feed again
 *     only after http_parser_reset (until then it returns HTTP_DONE and
 *     consumes nothing);
 *   an HTTP_ERR_* result, which is final: further feeds return it again and
 *     consume nothing. The connection must be answered and closed. */
enum http_result http_parser_feed(struct http_parser *p, const char *data, size_t n,
                                  size_t *used) WUR;

/* The request. Valid after HTTP_HEADERS_DONE (body fields after HTTP_DONE),
 * and after an HTTP_ERR_BODY_TOO_BIG (the head was complete then); pointers
 * into it last until http_parser_reset or http_parser_free. */
const struct http_request *http_parser_request(const struct http_parser *p);

/* Why the last error happened, as a fixed phrase that never quotes the
 * input (fit for logs and audit entries); NULL when there was none. */
const char *http_parser_error(const struct http_parser *p);

/* The first field named name (case-insensitive), or NULL when absent. */
const struct http_header *http_request_header(const struct http_request *r, const char *name);

/* Forget the current message and get ready for the next one on the same
 * connection; keeps the parser's memory, but for a body buffer over 64 KiB. */
void http_parser_reset(struct http_parser *p);

/* The status to answer an error result with (400, 431, 413, 505, 417); 0
 * for HTTP_MORE, HTTP_HEADERS_DONE and HTTP_DONE. The one table for this. */
int http_status_of(enum http_result r);

/* The reason phrase of every status scrim sends (100 200 202 204 400 401
 * 403 404 405 408 411 413 415 417 422 429 431 500 502 503 504 505), or NULL
 * for any other. */
const char *http_reason(int status);

/* Append a response head to b: the status line (HTTP/1.1), Content-Type
 * when content_type is not NULL, Content-Length, Connection: keep-alive or
 * close, then extra (preformatted "Name: value\r\n" lines, or NULL), then
 * the blank line. Date is not included. A 1xx head is the status line,
 * extra and the blank line only; a 204 head has no Content-Type or
 * Content-Length (RFC 9110 8.6). Returns 0, or -1 with b unchanged when the
 * status is unknown to http_reason, content_type holds a CR or LF, extra is
 * not a sequence of CRLF-terminated non-empty lines, or b is full. */
int http_response_head(struct buf *b, int status, const char *content_type, size_t content_length,
                       int keep_alive, const char *extra) WUR;

#endif
