/*
 * http: llhttp driven in small windows, with the checks its loose build lacks.
 *
 * A message goes through phases: the head, the body, for a chunked body the
 * trailer section, then done. llhttp is paused (its callbacks return
 * HPE_PAUSED) at each change of phase, so a window of input never spans two
 * phases. The raw bytes of each phase are scanned before llhttp sees them,
 * for what no callback is shown: in the head and the trailer section, which
 * are all framing, line endings, obs-fold and request-line spacing; in a
 * chunked body, the line endings of the chunk framing, told from the data by
 * a small chunk-size tracker. The window handed to llhttp ends before the
 * first offending byte or the byte that would pass the phase's size cap.
 * Callbacks check the rest as llhttp reports it, byte by byte or at the end
 * of an element. So every check fires at one definite byte, the earliest
 * wins, and a message gives the same result however it is split into feeds.
 *
 * This file holds llhttp's callbacks, the feed loop and the life cycle; the
 * character classes, the raw scanners and the window they cut are in
 * http_scan.c, the status table and response heads in http_response.c.
 */
#include "proxy/http.h"

#include <llhttp.h>
#include <string.h>

#include "common/mem.h"
#include "proxy/http_impl.h"

#define HEADER_MAX_CAP ((size_t)1 << 20)
#define FIELDS_CAP     10000u
#define BODY_MAX_CAP   ((size_t)1 << 30)
/* A body buffer larger than this is released on reset, so an idle keep-alive
 * connection does not hold on to its largest upload. */
#define BODY_KEEP ((size_t)64 * 1024)

/* Internal result of one window: go on with the next one. */
#define STEP_AGAIN (-1)

static int fail(struct http_parser *p, enum http_result r, const char *why)
{
    if (p->m.phase != PH_FAIL) {
        p->m.phase = PH_FAIL;
        p->m.fail = r;
        p->m.why = why;
    }
    return -1;
}

static struct http_parser *parser_of(llhttp_t *ll)
{
    return ll->data;
}

/* ---- copies of the head ---- */

static int head_put(struct http_parser *p, const char *s, size_t n)
{
    /* The copies are shorter than the raw head, which is capped at
     * head_cap - 1 bytes; this only guards that arithmetic. */
    if (n >= p->head_cap - p->m.head_len)
        return fail(p, HTTP_ERR_HEADERS_TOO_BIG, "head over header_max bytes");
    memcpy(p->head + p->m.head_len, s, n);
    p->m.head_len += n;
    return 0;
}

static int head_nul(struct http_parser *p)
{
    return head_put(p, "", 1);
}

/* ---- request line ---- */

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    struct http_parser *p = parser_of(ll);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)at[i];

        if (p->m.url_len + i == 0 && c != '/')
            return fail(p, HTTP_ERR_BAD, "request-target not in origin-form");
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return fail(p, HTTP_ERR_BAD, "invalid character in request-target");
        if (p->m.pct > 0 && !http_is_hex(c))
            return fail(p, HTTP_ERR_BAD, "bad percent-encoding in request-target");
        p->m.pct = c == '%' ? 2 : (p->m.pct > 0 ? p->m.pct - 1 : 0);
    }
    p->m.url_len += n;
    return head_put(p, at, n);
}

static int on_url_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    if (p->m.pct > 0)
        return fail(p, HTTP_ERR_BAD, "bad percent-encoding in request-target");
    /* CONNECT takes authority-form only (RFC 9110 9.3.6). */
    if (ll->method == HTTP_CONNECT)
        return fail(p, HTTP_ERR_BAD, "request-target not in origin-form");
    return head_nul(p);
}

static int on_version(llhttp_t *ll, const char *at, size_t n)
{
    struct http_parser *p = parser_of(ll);

    if (n >= sizeof p->m.version - p->m.version_len)
        return fail(p, HTTP_ERR_BAD, "malformed HTTP version");
    memcpy(p->m.version + p->m.version_len, at, n);
    p->m.version_len += n;
    return 0;
}

static int on_version_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    p->m.version_done = 1;
    if (ll->http_major != 1 || ll->http_minor > 1)
        return fail(p, HTTP_ERR_VERSION, "HTTP version not supported");
    return 0;
}

/* ---- fields of the head and of the trailer section ---- */

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
    struct http_parser *p = parser_of(ll);

    for (size_t i = 0; i < n; i++)
        if (!http_is_tchar((unsigned char)at[i]))
            return fail(p, HTTP_ERR_BAD, "field name is not a token");
    if (p->m.phase == PH_TRAILER) {
        size_t room = sizeof p->m.tname - p->m.tname_len;

        memcpy(p->m.tname + p->m.tname_len, at, n < room ? n : room);
        p->m.tname_len += n < room ? n : room;
        return 0;
    }
    /* Offset 0 holds the target, so 0 means "no name byte yet" (llhttp
     * may report an empty span for an empty name). */
    if (n == 0)
        return 0;
    if (p->m.name_off == 0)
        p->m.name_off = p->m.head_len;
    return head_put(p, at, n);
}

static int trailer_field_complete(struct http_parser *p)
{
    const char *s = p->m.tname;
    size_t n = p->m.tname_len;

    p->m.tname_len = 0;
    if (n == 0)
        return fail(p, HTTP_ERR_BAD, "empty field name");
    if (++p->m.ntrailers > p->lim.header_fields)
        return fail(p, HTTP_ERR_HEADERS_TOO_BIG, "more than header_fields trailer fields");
    /* Framing and routing fields have no place in trailers (RFC 9110 6.5.1). */
    if (http_name_is(s, n, "content-length") || http_name_is(s, n, "transfer-encoding") ||
        http_name_is(s, n, "host"))
        return fail(p, HTTP_ERR_BAD, "framing or routing field in the trailer section");
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    if (p->m.phase == PH_TRAILER)
        return trailer_field_complete(p);
    if (p->m.name_off == 0)
        return fail(p, HTTP_ERR_BAD, "empty field name");
    if (++p->m.nfields > p->lim.header_fields || p->m.nfields > p->fields_cap)
        return fail(p, HTTP_ERR_HEADERS_TOO_BIG, "more than header_fields fields");
    if (head_nul(p) != 0)
        return -1;
    p->m.value_off = p->m.head_len;
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
    struct http_parser *p = parser_of(ll);

    for (size_t i = 0; i < n; i++)
        if (!http_is_value_char((unsigned char)at[i]))
            return fail(p, HTTP_ERR_BAD, "control character in a field value");
    if (p->m.phase == PH_TRAILER)
        return 0;
    return head_put(p, at, n);
}

static int check_host(struct http_parser *p, const struct http_header *h)
{
    p->m.hosts++; /* counted here, judged with the whole head */
    for (size_t i = 0; i < h->value_len; i++)
        if (!http_is_host_char((unsigned char)h->value[i]))
            return fail(p, HTTP_ERR_BAD, "invalid character in Host");
    return 0;
}

/* The fields that decide framing, routing and 100-continue, judged as each
 * one completes. */
static int check_field(struct http_parser *p, const struct http_header *h)
{
    const char *n = h->name;
    size_t nl = h->name_len;

    if (http_name_is(n, nl, "host"))
        return check_host(p, h);
    if (http_name_is(n, nl, "content-length")) {
        if (++p->m.lengths > 1)
            return fail(p, HTTP_ERR_BAD, "more than one Content-Length");
        if (http_parse_length(h->value, h->value_len, &p->m.length) != 0)
            return fail(p, HTTP_ERR_BAD, "invalid Content-Length");
    } else if (http_name_is(n, nl, "transfer-encoding")) {
        if (++p->m.encodings > 1)
            return fail(p, HTTP_ERR_BAD, "more than one Transfer-Encoding");
        if (!http_name_is(h->value, h->value_len, "chunked"))
            return fail(p, HTTP_ERR_BAD, "Transfer-Encoding other than chunked");
    } else if (http_name_is(n, nl, "expect")) {
        if (!http_name_is(h->value, h->value_len, "100-continue"))
            return fail(p, HTTP_ERR_EXPECT, "Expect other than 100-continue");
        p->m.expect = 1;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);
    struct http_header *h;
    char *v;
    size_t vl;

    if (p->m.phase == PH_TRAILER)
        return 0;
    v = p->head + p->m.value_off;
    vl = p->m.head_len - p->m.value_off;
    while (vl > 0 && http_is_ows(v[vl - 1]))
        vl--;
    while (vl > 0 && http_is_ows(v[0]))
        v++, vl--;
    if (head_nul(p) != 0)
        return -1;
    v[vl] = '\0';
    h = &p->fields[p->m.nfields - 1];
    h->name = p->head + p->m.name_off;
    h->name_len = p->m.value_off - 1 - p->m.name_off;
    h->value = v;
    h->value_len = vl;
    p->m.name_off = 0;
    return check_field(p, h);
}

/* ---- head complete, body, chunks, message complete ---- */

static void request_fill(struct http_parser *p)
{
    struct http_request *r = &p->m.req;
    char *q = memchr(p->head, '?', p->m.url_len);

    r->method = llhttp_method_name((llhttp_method_t)p->ll.method);
    r->path = p->head;
    r->path_len = q != NULL ? (size_t)(q - p->head) : p->m.url_len;
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
        r->query_len = p->m.url_len - r->path_len - 1;
    }
    r->headers = p->fields;
    r->nheaders = p->m.nfields;
    r->chunked = p->m.encodings > 0;
    r->content_length = p->m.lengths > 0 ? p->m.length : -1;
    r->keep_alive = llhttp_should_keep_alive(&p->ll);
    r->http_minor = p->ll.http_minor;
    r->expect_continue = p->m.expect && r->http_minor == 1; /* RFC 9110 10.1.1 */
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);
    int chunked = (ll->flags & F_CHUNKED) != 0;

    if (!p->m.version_done)
        return fail(p, HTTP_ERR_BAD, "request line without HTTP version");
    if (ll->http_minor == 1 ? p->m.hosts != 1 : p->m.hosts > 1)
        return fail(p, HTTP_ERR_BAD, "Host missing (HTTP/1.1) or repeated");
    if (p->m.lengths > 0 && p->m.encodings > 0)
        return fail(p, HTTP_ERR_BAD, "Content-Length with Transfer-Encoding");
    /* RFC 9112 6.1: HTTP/1.0 with Transfer-Encoding is faulty framing. */
    if (p->m.encodings > 0 && ll->http_minor == 0)
        return fail(p, HTTP_ERR_BAD, "Transfer-Encoding in HTTP/1.0");
    /* llhttp frames the body; it must agree with what was checked here. */
    if (chunked != (p->m.encodings > 0) ||
        (p->m.lengths > 0 && ll->content_length != (uint64_t)p->m.length))
        return fail(p, HTTP_ERR_BAD, "framing disagreement");
    request_fill(p);
    if (p->m.lengths > 0 && (uint64_t)p->m.length > p->lim.body_max)
        return fail(p, HTTP_ERR_BODY_TOO_BIG, "Content-Length over body_max");
    p->m.pause = PAUSE_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct http_parser *p = parser_of(ll);

    if (n > p->lim.body_max - p->body.len || buf_append(&p->body, at, n) != 0)
        return fail(p, HTTP_ERR_BODY_TOO_BIG, "body over body_max");
    return 0;
}

static int on_chunk_header(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    /* Refuse a chunk that cannot fit before reading its data. */
    if (ll->content_length > p->lim.body_max - p->body.len)
        return fail(p, HTTP_ERR_BODY_TOO_BIG, "body over body_max");
    if (ll->content_length > 0)
        return 0;
    p->m.pause = PAUSE_TRAILER;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    p->m.req.body = p->body.data != NULL ? p->body.data : "";
    p->m.req.body_len = p->body.len;
    p->m.pause = PAUSE_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_version = on_version,
    .on_version_complete = on_version_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* ---- the feed loop ---- */

static void phase_enter(struct http_parser *p, enum phase ph)
{
    p->m.phase = ph;
    p->m.count = 0;
    /* The trailer section starts right after the last-chunk line's LF. */
    p->m.scan.prev = ph == PH_TRAILER ? '\n' : -1;
    p->m.scan.line = 2;
}

/* The result an llhttp error stands for. */
static int llhttp_failed(struct http_parser *p, llhttp_errno_t e)
{
    const char *v = p->m.version;
    const char *why = llhttp_get_error_reason(&p->ll);

    if (p->m.phase == PH_FAIL)
        return (int)p->m.fail;
    /* llhttp refuses a well-formed digit.digit it does not know (1.2, 3.0)
     * right after the version span, before on_version_complete; anything
     * else is a malformed request line. */
    if (e == HPE_INVALID_VERSION && !p->m.version_done && p->m.version_len == 3 &&
        http_is_digit((unsigned char)v[0]) && v[1] == '.' && http_is_digit((unsigned char)v[2]))
        fail(p, HTTP_ERR_VERSION, "HTTP version not supported");
    else
        fail(p, HTTP_ERR_BAD, why != NULL ? why : "malformed request");
    return (int)p->m.fail;
}

static int paused(struct http_parser *p)
{
    enum pause why = p->m.pause;

    p->m.pause = PAUSE_NONE;
    llhttp_resume(&p->ll);
    switch (why) {
    case PAUSE_HEAD:
        phase_enter(p, PH_BODY);
        return HTTP_HEADERS_DONE;
    case PAUSE_TRAILER:
        phase_enter(p, PH_TRAILER);
        return STEP_AGAIN;
    case PAUSE_DONE:
        phase_enter(p, PH_DONE);
        return HTTP_DONE;
    default:
        fail(p, HTTP_ERR_BAD, "unexpected pause");
        return (int)p->m.fail;
    }
}

/* Run llhttp over one window; *k says how many bytes it consumed. Callbacks
 * never change the phase (they ask for a pause), so the scan state advances
 * over the consumed bytes in the phase the window was cut for. */
static int step(struct http_parser *p, const char *s, size_t n, size_t *k)
{
    size_t w = http_window(p, s, n);
    llhttp_errno_t e = llhttp_execute(&p->ll, s, w);
    const char *end = llhttp_get_error_pos(&p->ll);
    const char *why;

    *k = w;
    if (e != HPE_OK && end >= s && end <= s + w)
        *k = (size_t)(end - s);
    if (e != HPE_OK && e != HPE_PAUSED)
        return llhttp_failed(p, e);
    http_phase_scan(p, &p->m.scan, &p->m.chunk, s, *k, &why);
    p->m.count += *k;
    if (e == HPE_PAUSED)
        return paused(p);
    if (w < n) {
        fail(p, p->m.cut_fail, p->m.cut_why);
        return (int)p->m.fail;
    }
    return HTTP_MORE;
}

enum http_result http_parser_feed(struct http_parser *p, const char *data, size_t n, size_t *used)
{
    size_t off = 0, k;
    int r;

    *used = 0;
    if (p->m.phase == PH_FAIL)
        return p->m.fail;
    if (p->m.phase == PH_DONE)
        return HTTP_DONE;
    if (data == NULL) {
        data = "";
        n = 0;
    }
    do {
        r = step(p, data + off, n - off, &k);
        off += k;
    } while (r == STEP_AGAIN);
    *used = off;
    return (enum http_result)r;
}

/* ---- life cycle ---- */

static void message_clear(struct http_parser *p)
{
    memset(&p->m, 0, sizeof p->m);
    p->m.scan.prev = -1;
    buf_reset(&p->body);
}

struct http_parser *http_parser_new(const struct http_limits *lim)
{
    static const struct http_limits defaults = {16 * 1024, 100, 5 * 1024 * 1024};
    struct http_parser *p;

    if (lim == NULL)
        lim = &defaults;
    if (lim->header_max == 0 || lim->header_max > HEADER_MAX_CAP || lim->header_fields == 0 ||
        lim->header_fields > FIELDS_CAP || lim->body_max > BODY_MAX_CAP)
        return NULL;
    p = xcalloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->lim = *lim;
    /* A field takes at least 4 bytes of the head ("a:" CRLF). */
    p->fields_cap = lim->header_fields < lim->header_max / 4 + 1
                        ? lim->header_fields
                        : (unsigned)(lim->header_max / 4 + 1);
    p->head_cap = lim->header_max + 1;
    p->head = xmalloc(p->head_cap);
    p->fields = xcalloc(p->fields_cap, sizeof *p->fields);
    if (p->head == NULL || p->fields == NULL) {
        http_parser_free(p);
        return NULL;
    }
    buf_init(&p->body, lim->body_max > 0 ? lim->body_max : 1);
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
    message_clear(p);
    return p;
}

void http_parser_free(struct http_parser *p)
{
    if (p == NULL)
        return;
    buf_free(&p->body);
    xfree(p->fields);
    xfree(p->head);
    xfree(p);
}

void http_parser_reset(struct http_parser *p)
{
    llhttp_reset(&p->ll);
    if (p->body.cap > BODY_KEEP)
        buf_free(&p->body);
    message_clear(p);
}

const struct http_request *http_parser_request(const struct http_parser *p)
{
    return &p->m.req;
}

const char *http_parser_error(const struct http_parser *p)
{
    return p->m.phase == PH_FAIL ? p->m.why : NULL;
}

const struct http_header *http_request_header(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (http_name_is(r->headers[i].name, r->headers[i].name_len, name))
            return &r->headers[i];
    return NULL;
}
