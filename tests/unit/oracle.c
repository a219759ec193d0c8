#include "oracle.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *load(const char *doc, size_t n)
{
    return json_loadb(doc, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static json_t *walk(json_t *v, const char *path)
{
    char part[256];

    while (v != NULL && path != NULL && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof(part))
            return NULL;
        memcpy(part, path, len);
        part[len] = '\0';
        if (json_is_array(v))
            v = json_array_get(v, strtoul(part, NULL, 10));
        else
            v = json_object_get(v, part);
        path += len;
        if (*path == '.')
            path++;
    }
    return v;
}

int oracle_valid(const char *doc, size_t n)
{
    json_t *j = load(doc, n);

    json_decref(j);
    return j != NULL;
}

enum oracle_kind oracle_kind(const char *doc, size_t n, const char *path)
{
    json_t *j = load(doc, n), *v;
    enum oracle_kind k;

    if (j == NULL)
        return ORACLE_INVALID;
    v = walk(j, path);
    if (v == NULL)
        k = ORACLE_ABSENT;
    else if (json_is_null(v))
        k = ORACLE_NULL;
    else if (json_is_boolean(v))
        k = ORACLE_BOOL;
    else if (json_is_number(v))
        k = ORACLE_NUMBER;
    else if (json_is_string(v))
        k = ORACLE_STRING;
    else
        k = json_is_array(v) ? ORACLE_ARRAY : ORACLE_OBJECT;
    json_decref(j);
    return k;
}

const char *oracle_string(const char *doc, size_t n, const char *path)
{
    static char buf[8192];
    json_t *j = load(doc, n), *v = walk(j, path);
    const char *s = json_string_value(v);

    if (s == NULL) {
        json_decref(j);
        return NULL;
    }
    strncpy(buf, s, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    json_decref(j);
    return buf;
}

long long oracle_int(const char *doc, size_t n, const char *path)
{
    json_t *j = load(doc, n);
    long long r = json_integer_value(walk(j, path));

    json_decref(j);
    return r;
}

int oracle_true(const char *doc, size_t n, const char *path)
{
    json_t *j = load(doc, n);
    int r = json_is_true(walk(j, path));

    json_decref(j);
    return r;
}

size_t oracle_size(const char *doc, size_t n, const char *path)
{
    json_t *j = load(doc, n), *v = walk(j, path);
    size_t r = json_is_array(v) ? json_array_size(v) : json_is_object(v) ? json_object_size(v) : 0;

    json_decref(j);
    return r;
}
