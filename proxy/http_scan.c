/*
 * http_scan: the byte-level half of the request parser (see http.c): the
 * character classes of RFC 9110 and RFC 3986, the raw scans of the head,
 * the trailer section and a chunked body's framing, which see the bytes
 * llhttp's callbacks never show, and the window those scans and the
 * phase's size cap let llhttp see. Apart from http.c because none of it
 * calls llhttp: each function looks at bytes and a little saved state, so
 * a byte is judged the same however the input is split into feeds.
 */
#include "proxy/http_impl.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ---- character classes (RFC 9110 5.6.2, 5.5; RFC 3986 3.2.2) ---- */

int http_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(unsigned char c)
{
    return http_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int http_is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_value(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

int http_is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* field-content: VCHAR, obs-text, SP and HTAB; never CTL, DEL or NUL. */
int http_is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int http_is_host_char(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("-._~!$&'()*+,;=%:[]", c) != NULL);
}

int http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_name_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

/* ---- the raw scan of framing bytes (RFC 9112 2.2, 3, 5.2) ---- */

static const char *scan_byte(struct scan *sc, unsigned char c)
{
    if (sc->prev == '\r' && c != '\n')
        return "CR without LF";
    if (c == '\n' && sc->prev != '\r')
        return "LF without CR";
    if (sc->prev == '\n' && http_is_ows((char)c))
        return "obs-fold or line starting with whitespace";
    if (sc->line == 1 && (c == '\t' || (c == ' ' && sc->prev == ' ')))
        return "tab or double space in the request line";
    if (sc->line == 0 && c != '\r' && c != '\n')
        sc->line = 1;
    else if (sc->line == 1 && c == '\n')
        sc->line = 2;
    sc->prev = c;
    return NULL;
}

/* Advance sc over s[0..n) up to the first offending byte; its index (n when
 * none) is returned and *why says what is wrong with it. */
static size_t scan_run(struct scan *sc, const char *s, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++) {
        *why = scan_byte(sc, (unsigned char)s[i]);
        if (*why != NULL)
            return i;
    }
    return n;
}

/* llhttp 8.1 (loose) takes a CR followed by any byte as the end of a chunk
 * line, which would read "5\rhello" as the data "ello\r": every CR in the
 * framing of a chunked body must be followed by LF, every LF preceded by CR. */
static const char *chunk_byte(struct chunk_scan *cs, unsigned char c)
{
    switch (cs->state) {
    case CS_SIZE:
    case CS_EXT:
        if (c == '\n')
            return "LF without CR";
        if (c == '\r')
            cs->state = CS_SIZE_LF;
        else if (cs->state == CS_SIZE && http_is_hex(c))
            cs->size = cs->size >> 60 ? UINT64_MAX : cs->size * 16 + (uint64_t)hex_value(c);
        else
            cs->state = CS_EXT;
        return NULL;
    case CS_SIZE_LF:
    case CS_DATA_LF:
        if (c != '\n')
            return "CR without LF";
        cs->left = cs->state == CS_SIZE_LF ? cs->size : 0;
        cs->state = cs->state == CS_DATA_LF ? CS_SIZE : cs->size > 0 ? CS_DATA : CS_END;
        cs->size = 0;
        return NULL;
    case CS_DATA_CR:
        if (c != '\r')
            return "chunk data not followed by CRLF";
        cs->state = CS_DATA_LF;
        return NULL;
    default:
        return NULL;
    }
}

/* As scan_run, for the framing of a chunked body; data bytes are skipped. */
static size_t chunk_run(struct chunk_scan *cs, const char *s, size_t n, const char **why)
{
    size_t i = 0;

    *why = NULL;
    while (i < n && cs->state != CS_END) {
        if (cs->state == CS_DATA) {
            size_t k = cs->left < n - i ? (size_t)cs->left : n - i;

            i += k;
            cs->left -= k;
            if (cs->left == 0)
                cs->state = CS_DATA_CR;
            continue;
        }
        *why = chunk_byte(cs, (unsigned char)s[i]);
        if (*why != NULL)
            return i;
        i++;
    }
    return n;
}

/* ---- Content-Length (RFC 9110 8.6) ---- */

int http_parse_length(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';

        if (d < 0 || d > 9 || v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ---- the window llhttp is given ---- */

/* Where the current phase's bytes are capped, and what passing it means. */
static size_t phase_cap(struct http_parser *p)
{
    if (p->m.phase == PH_BODY) {
        p->m.cut_fail = HTTP_ERR_BODY_TOO_BIG;
        p->m.cut_why = "chunked body over its size on the wire";
        return p->m.req.chunked ? 2 * p->lim.body_max + p->lim.header_max : SIZE_MAX;
    }
    p->m.cut_fail = HTTP_ERR_HEADERS_TOO_BIG;
    p->m.cut_why = p->m.phase == PH_HEAD ? "head over header_max bytes"
                                         : "trailer section over header_max bytes";
    return p->lim.header_max;
}

/* Advance the raw scan of the current phase over s[0..n); returns the index
 * of the first offending byte (n when none). */
size_t http_phase_scan(struct http_parser *p, struct scan *sc, struct chunk_scan *cs, const char *s,
                       size_t n, const char **why)
{
    *why = NULL;
    if (p->m.phase != PH_BODY)
        return scan_run(sc, s, n, why);
    if (p->m.req.chunked)
        return chunk_run(cs, s, n, why);
    return n;
}

/* How many of the n bytes at s llhttp may see now: up to the phase's cap and
 * the first byte the raw scan refuses. When the window is shorter than n,
 * cut_fail says what is wrong with the byte right after it. */
size_t http_window(struct http_parser *p, const char *s, size_t n)
{
    size_t cap = phase_cap(p), w, v;
    struct scan sc = p->m.scan;
    struct chunk_scan cs = p->m.chunk;
    const char *why;

    w = n < cap - p->m.count ? n : cap - p->m.count;
    v = http_phase_scan(p, &sc, &cs, s, w, &why);
    if (v < w) {
        p->m.cut_fail = HTTP_ERR_BAD;
        p->m.cut_why = why;
    }
    return v;
}
