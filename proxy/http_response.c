/*
 * http_response: the one table from parser results to HTTP statuses, the
 * reason phrases, and the response heads scrim writes. Apart from the
 * parser because it reads no input: it only writes, and checks that what a
 * caller hands it (content type, extra header lines) cannot inject a header.
 */
#include "proxy/http.h"

#include <stdio.h>
#include <string.h>

#include "proxy/http_impl.h"

int http_status_of(enum http_result r)
{
    static const int status[] = {
        [HTTP_MORE] = 0,          [HTTP_HEADERS_DONE] = 0,          [HTTP_DONE] = 0,
        [HTTP_ERR_BAD] = 400,     [HTTP_ERR_HEADERS_TOO_BIG] = 431, [HTTP_ERR_BODY_TOO_BIG] = 413,
        [HTTP_ERR_VERSION] = 505, [HTTP_ERR_EXPECT] = 417,
    };

    if ((unsigned)r >= sizeof status / sizeof status[0])
        return 500;
    return status[r];
}

const char *http_reason(int status)
{
    /* RFC 9110 15 phrases. */
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {100, "Continue"},
        {200, "OK"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {417, "Expectation Failed"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };

    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return NULL;
}

static int content_type_ok(const char *s)
{
    if (s == NULL)
        return 1;
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!http_is_value_char((unsigned char)*s))
            return 0;
    return 1;
}

/* extra: zero or more "token: field-content CRLF" lines. */
static int extra_ok(const char *s)
{
    if (s == NULL)
        return 1;
    while (*s != '\0') {
        const char *t = s;

        while (http_is_tchar((unsigned char)*s))
            s++;
        if (s == t || *s++ != ':')
            return 0;
        while (http_is_value_char((unsigned char)*s))
            s++;
        if (s[0] != '\r' || s[1] != '\n')
            return 0;
        s += 2;
    }
    return 1;
}

int http_response_head(struct buf *b, int status, const char *content_type, size_t content_length,
                       int keep_alive, const char *extra)
{
    const char *reason = http_reason(status);
    size_t mark = b->len;
    int rc;

    if (reason == NULL || !content_type_ok(content_type) || !extra_ok(extra))
        return -1;
    rc = buf_printf(b, "HTTP/1.1 %d %s\r\n", status, reason);
    if (status >= 200) {
        if (content_type != NULL && status != 204)
            rc |= buf_printf(b, "Content-Type: %s\r\n", content_type);
        if (status != 204)
            rc |= buf_printf(b, "Content-Length: %zu\r\n", content_length);
        rc |= buf_printf(b, "Connection: %s\r\n", keep_alive ? "keep-alive" : "close");
    }
    if (extra != NULL)
        rc |= buf_puts(b, extra);
    rc |= buf_puts(b, "\r\n");
    if (rc != 0) {
        buf_wipe_from(b, mark);
        return -1;
    }
    return 0;
}
