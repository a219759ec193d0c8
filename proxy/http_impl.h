/*
 * http_impl: what http.c (llhttp's callbacks, the feed loop, the life
 * cycle) and http_scan.c (character classes, raw scans, the window) share:
 * the parser's state and the byte-level helpers. Nothing outside
 * proxy/http*.c includes this.
 */
#ifndef SCRIM_HTTP_IMPL_H
#define SCRIM_HTTP_IMPL_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/http.h"

enum phase { PH_HEAD, PH_BODY, PH_TRAILER, PH_DONE, PH_FAIL };
enum pause { PAUSE_NONE, PAUSE_HEAD, PAUSE_TRAILER, PAUSE_DONE };

/* Raw-byte scan state of the head or the trailer section. */
struct scan {
    int prev; /* the previous byte, -1 at the start */
    int line; /* 0 before the request line, 1 inside it, 2 after */
};

/* Raw-byte scan state of a chunked body: just enough of RFC 9112 7.1 to
 * tell framing from data. */
enum chunk_state { CS_SIZE, CS_EXT, CS_SIZE_LF, CS_DATA, CS_DATA_CR, CS_DATA_LF, CS_END };

struct chunk_scan {
    enum chunk_state state;
    uint64_t size; /* of the chunk whose size line is read, saturated */
    uint64_t left; /* data bytes left in the current chunk */
};

/* Everything about the current message; reset zeroes it. */
struct msg {
    enum phase phase;
    enum pause pause;
    enum http_result fail;
    const char *why;
    enum http_result cut_fail; /* why the current window was cut short */
    const char *cut_why;
    struct scan scan;
    struct chunk_scan chunk;
    size_t count; /* bytes of the current phase consumed */
    size_t head_len;
    unsigned nfields;
    size_t name_off, value_off;
    size_t url_len;
    unsigned pct; /* hex digits still due after a '%' in the target */
    char version[4];
    size_t version_len;
    int version_done;
    unsigned hosts, lengths, encodings;
    int expect;
    int64_t length;
    char tname[24]; /* the start of the current trailer field name */
    size_t tname_len;
    unsigned ntrailers;
    struct http_request req;
};

struct http_parser {
    llhttp_t ll;
    struct http_limits lim;
    char *head; /* NUL-terminated copies of the target, names and values */
    size_t head_cap;
    struct http_header *fields;
    unsigned fields_cap;
    struct buf body;
    struct msg m;
};

/* Character classes (RFC 9110 5.6.2, 5.5; RFC 3986 3.2.2): 1 or 0. */
int http_is_digit(unsigned char c);
int http_is_hex(unsigned char c);
int http_is_tchar(unsigned char c);
int http_is_value_char(unsigned char c); /* field-content, SP and HTAB */
int http_is_host_char(unsigned char c);
int http_is_ows(char c);

/* 1 when s[0..n) is want, ASCII case-insensitively. */
int http_name_is(const char *s, size_t n, const char *want);

/* A Content-Length value s[0..n): 1*DIGIT that fits an int64_t, in *out.
 * 0, or -1 when it is not one. */
int http_parse_length(const char *s, size_t n, int64_t *out) WUR;

/* Advance the raw scan of the current phase (sc for the head and the
 * trailer section, cs for a chunked body) over s[0..n); returns the index
 * of the first offending byte (n when none), with *why saying what is
 * wrong with it. */
size_t http_phase_scan(struct http_parser *p, struct scan *sc, struct chunk_scan *cs, const char *s,
                       size_t n, const char **why);

/* How many of the n bytes at s llhttp may see now: up to the phase's cap
 * and the first byte the raw scan refuses. When the window is shorter than
 * n, p->m.cut_fail and cut_why say what is wrong with the byte after it.
 * The saved scan state is not advanced. */
size_t http_window(struct http_parser *p, const char *s, size_t n);

#endif
