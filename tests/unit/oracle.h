/*
 * oracle: jansson as an independent reader of what scrim wrote.
 *
 * Lives in its own translation unit because jansson's names (json_t,
 * JSON_NULL) collide with rules/json.h. Paths are dotted,
 * array indices numeric: "events.1.value". Strings returned point into a
 * static buffer valid until the next call.
 */
#ifndef SCRIM_TEST_ORACLE_H
#define SCRIM_TEST_ORACLE_H

#include <stddef.h>

enum oracle_kind {
    ORACLE_ABSENT,
    ORACLE_NULL,
    ORACLE_BOOL,
    ORACLE_NUMBER,
    ORACLE_STRING,
    ORACLE_ARRAY,
    ORACLE_OBJECT,
    ORACLE_INVALID
};

/* 1 when doc is one JSON text jansson accepts with duplicate keys rejected. */
int oracle_valid(const char *doc, size_t n);

enum oracle_kind oracle_kind(const char *doc, size_t n, const char *path);
const char *oracle_string(const char *doc, size_t n, const char *path);
long long oracle_int(const char *doc, size_t n, const char *path);
int oracle_true(const char *doc, size_t n, const char *path);
/* Members or elements; 0 when absent. */
size_t oracle_size(const char *doc, size_t n, const char *path);

#endif
