/*
 * fuzz_json: libFuzzer target for rules/json.
 *
 * Beyond "no crash", it asserts the properties invariant 2 rests on, and
 * aborts when one fails:
 *   - input that is not well-formed UTF-8, or starts with a BOM, is rejected;
 *   - a rejection clears the tree and reports "offset N: ..." in printable
 *     ASCII, and a BAD under small limits is the same BAD under large ones;
 *   - an accepted document is accepted with the same tree under large limits;
 *   - its canonical output is no longer than the input, re-parses to an
 *     equal tree, and writing that tree gives the same bytes (a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_CAP (1 << 24)

static const struct json_limits small = {16, 2048};
static const struct json_limits large = {4096, 1000000};

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void message_check(const struct err *e)
{
    CHECK(e->set && strncmp(e->msg, "offset ", 7) == 0);
    for (const char *c = e->msg; *c != '\0'; c++)
        CHECK(*c >= ' ' && *c <= '~');
}

/* The canonical form: short, equal on re-parse, a fixed point. */
static void canonical_check(struct arena *a, const struct json *v, size_t insize)
{
    struct buf b1, b2;
    struct json *w;
    struct err e;

    buf_init(&b1, 0);
    buf_init(&b2, 0);
    err_clear(&e);
    CHECK(json_write(&b1, v) == 0);
    CHECK(b1.len <= insize);
    CHECK(json_utf8_valid(b1.data, b1.len));
    CHECK(json_parse(a, b1.data, b1.len, &small, &w, &e) == JSON_OK);
    CHECK(json_tree_equal(v, w));
    CHECK(json_write(&b2, w) == 0);
    CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    buf_free(&b1);
    buf_free(&b2);
}

/* Limits only ever turn a verdict into TOOBIG: with larger ones, a BAD stays
 * the same BAD and an accepted document the same tree. */
static void limits_check(const char *s, size_t n, enum json_status st, const struct json *v,
                         const struct err *e)
{
    struct arena *a = arena_new(ARENA_CAP);
    struct json *w;
    struct err e2;
    enum json_status st2;

    err_clear(&e2);
    st2 = json_parse(a, s, n, &large, &w, &e2);
    if (st == JSON_BAD)
        CHECK(st2 == JSON_BAD && strcmp(e->msg, e2.msg) == 0);
    if (st == JSON_OK)
        CHECK(st2 == JSON_OK && json_tree_equal(v, w));
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct arena *a = arena_new(ARENA_CAP);
    struct json *v = (struct json *)&v;
    struct err e;
    enum json_status st;

    err_clear(&e);
    st = json_parse(a, s, size, &small, &v, &e);
    CHECK(st == JSON_OK || st == JSON_BAD || st == JSON_TOOBIG);
    if (!json_utf8_valid(s, size) || (size >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0))
        CHECK(st != JSON_OK);
    if (st == JSON_OK) {
        CHECK(v != NULL && !e.set);
        canonical_check(a, v, size);
    } else {
        CHECK(v == NULL);
        message_check(&e);
    }
    limits_check(s, size, st, v, &e);
    arena_free(a);
    return 0;
}
