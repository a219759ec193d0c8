/*
 * test_json_diff: rules/json against jansson, as a test-only oracle.
 *
 * For every JSONTestSuite y_ file and a few hundred generated documents,
 * where both parsers accept, the trees must agree: types, string bytes
 * exactly, numbers numerically (jansson converts, scrim keeps the lexeme),
 * objects by key lookup with equal member counts. scrim's canonical output
 * must then parse, in both parsers, to the same tree again.
 *
 * The two disagree on purpose in a few places, each checked separately:
 * jansson accepts duplicate keys (the later one wins), scrim rejects them;
 * jansson refuses NUL in keys and numbers it cannot convert, scrim keeps
 * them. Any other disagreement fails the test.
 *
 * jansson's type enumerators (JSON_NULL, ...) have the names of scrim's, so
 * scrim's are renamed while its header is read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define JSON_NULL   SJ_NULL
#define JSON_FALSE  SJ_FALSE
#define JSON_TRUE   SJ_TRUE
#define JSON_STRING SJ_STRING
#define JSON_ARRAY  SJ_ARRAY
#define JSON_OBJECT SJ_OBJECT
#include "rules/json.h"
#undef JSON_NULL
#undef JSON_FALSE
#undef JSON_TRUE
#undef JSON_STRING
#undef JSON_ARRAY
#undef JSON_OBJECT

#include <jansson.h>

#define JFLAGS     (JSON_DECODE_ANY | JSON_ALLOW_NUL)
#define NRANDOM    400
#define MAX_NEST   7
#define DIFF_LIMIT (&(struct json_limits){512, 1000000})

struct counts {
    size_t files, both, jansson_only_reject, scrim_only_reject;
    size_t nul_key, num_range, bytes;
};

/* ---- tree comparison ---- */

/* 1 when the lexeme is integer-shaped, which is when jansson makes an
 * integer of it rather than a real. */
static int lexeme_is_int(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            return 0;
    return 1;
}

static int number_same(const struct json *v, const json_t *j)
{
    char tmp[512];

    if (v->len >= sizeof(tmp))
        return 0;
    memcpy(tmp, v->u.s, v->len);
    tmp[v->len] = '\0';
    errno = 0;
    if (lexeme_is_int(v->u.s, v->len)) {
        long long x = strtoll(tmp, NULL, 10);
        return json_is_integer(j) && errno == 0 && x == json_integer_value(j);
    }
    return json_is_real(j) && strtod(tmp, NULL) == json_real_value(j);
}

static int tree_same(const struct json *v, const json_t *j, int depth);

static int object_same(const struct json *v, const json_t *j, int depth)
{
    if (!json_is_object(j) || json_object_size(j) != v->len)
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        const struct json_member *m = &v->u.members[i];
        json_t *jv = json_object_getn(j, m->key, m->klen);
        if (jv == NULL || !tree_same(m->value, jv, depth + 1))
            return 0;
    }
    return 1;
}

static int tree_same(const struct json *v, const json_t *j, int depth)
{
    if (depth > 600)
        return 0;
    switch (v->type) {
    case SJ_NULL:
        return json_is_null(j);
    case SJ_TRUE:
        return json_is_true(j);
    case SJ_FALSE:
        return json_is_false(j);
    case JSON_NUMBER:
        return number_same(v, j);
    case SJ_STRING:
        return json_is_string(j) && json_string_length(j) == v->len &&
               memcmp(json_string_value(j), v->u.s, v->len) == 0;
    case SJ_ARRAY:
        if (!json_is_array(j) || json_array_size(j) != v->len)
            return 0;
        for (size_t i = 0; i < v->len; i++)
            if (!tree_same(v->u.items[i], json_array_get(j, i), depth + 1))
                return 0;
        return 1;
    case SJ_OBJECT:
        return object_same(v, j, depth);
    }
    return 0;
}

/* ---- one document through both parsers ---- */

/* The disagreements we expect: jansson cannot hold a NUL in a key, nor a
 * number outside double or long long. */
static int jansson_limit(const json_error_t *je)
{
    enum json_error_code c = json_error_code(je);

    return c == json_error_numeric_overflow || c == json_error_null_byte_in_key;
}

/* The canonical output must read back, in both parsers, as the same tree;
 * where jansson could not read the input (jok 0), it must refuse the output
 * for the same kind of reason. */
static void canonical_check(const char *what, struct arena *a, const struct json *v, int jok)
{
    struct buf b;
    struct json *w;
    struct err e;
    json_error_t je;
    json_t *j;

    buf_init(&b, 0);
    err_clear(&e);
    if (json_write(&b, v) != 0)
        fail_msg("%s: canonical write failed", what);
    if (json_parse(a, b.data, b.len, DIFF_LIMIT, &w, &e) != JSON_OK || !json_tree_equal(v, w))
        fail_msg("%s: canonical output does not re-parse to the same tree (%s)", what, e.msg);
    j = json_loadb(b.data, b.len, JFLAGS, &je);
    if (j == NULL && (jok || !jansson_limit(&je)))
        fail_msg("%s: jansson rejects scrim's canonical output: %s", what, je.text);
    else if (j != NULL && (!jok || !tree_same(v, j, 0)))
        fail_msg("%s: jansson reads scrim's canonical output differently", what);
    json_decref(j);
    buf_free(&b);
}

/* Run s through both parsers and compare; *dup says the document was
 * rejected by scrim only, for a duplicate key. */
static void diff_one(const char *what, const char *s, size_t n, struct counts *c, int *dup)
{
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    json_error_t je;
    enum json_status st;
    json_t *j;

    err_clear(&e);
    st = json_parse(a, s, n, DIFF_LIMIT, &v, &e);
    j = json_loadb(s, n, JFLAGS, &je);
    *dup = 0;
    c->files++;
    c->bytes += n;
    if (st == JSON_OK && j != NULL) {
        c->both++;
        if (!tree_same(v, j, 0))
            fail_msg("%s: scrim and jansson read different trees", what);
        canonical_check(what, a, v, 1);
    } else if (st == JSON_OK) {
        c->jansson_only_reject++;
        c->nul_key += json_error_code(&je) == json_error_null_byte_in_key;
        c->num_range += json_error_code(&je) == json_error_numeric_overflow;
        if (!jansson_limit(&je))
            fail_msg("%s: only jansson rejects it: %s", what, je.text);
        canonical_check(what, a, v, 0);
    } else if (j != NULL) {
        c->scrim_only_reject++;
        *dup = strstr(e.msg, "duplicate object key") != NULL;
        if (!*dup)
            fail_msg("%s: only scrim rejects it: %s", what, e.msg);
    }
    json_decref(j);
    arena_free(a);
}

/* ---- JSONTestSuite y_ files ---- */

static char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    char *s;

    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fail_msg("cannot read %s", path);
        return NULL;
    }
    s = xmalloc(n > 0 ? (size_t)n : 1);
    if ((size_t)n != fread(s, 1, (size_t)n, f))
        fail_msg("short read on %s", path);
    fclose(f);
    *len = (size_t)n;
    return s;
}

static void test_diff_y_files(void **state)
{
    const char *root = getenv("SCRIM_CONFORMANCE");
    char dir[4096];
    struct counts c = {0};
    size_t dups = 0;
    DIR *d;
    struct dirent *de;

    (void)state;
    if (root == NULL)
        fail_msg("SCRIM_CONFORMANCE is not set");
    snprintf(dir, sizeof(dir), "%s/jsontestsuite", root);
    if ((d = opendir(dir)) == NULL)
        fail_msg("cannot open %s", dir);
    while ((de = readdir(d)) != NULL) {
        char path[4352];
        size_t n = 0;
        char *s;
        int dup;
        if (strncmp(de->d_name, "y_", 2) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        s = file_read(path, &n);
        diff_one(de->d_name, s, n, &c, &dup);
        dups += dup;
        xfree(s);
    }
    closedir(d);
    if (c.files == 0)
        fail_msg("%s: no y_ files", dir);
    /* Exactly the two duplicate-key files split the parsers. */
    assert_int_equal(dups, 2);
    assert_int_equal(c.scrim_only_reject, 2);
    printf("json_diff: y files %zu: both accept and agree %zu, jansson-only reject %zu "
           "(%zu NUL in key, %zu number range), scrim-only reject %zu (duplicate keys)\n",
           c.files, c.both, c.jansson_only_reject, c.nul_key, c.num_range, c.scrim_only_reject);
}

/* ---- generated documents ---- */

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned pick(unsigned n)
{
    return (unsigned)(rng() % n);
}

static void put(struct buf *b, const char *s)
{
    if (buf_puts(b, s) != 0)
        fail_msg("generator buffer full");
}

static void ws(struct buf *b)
{
    static const char *const w[] = {"", "", "", " ", "\n", "\t", "\r\n  "};

    put(b, w[pick(7)]);
}

/* A random code point, weighted towards ASCII, never a surrogate. */
static unsigned codepoint(void)
{
    static const unsigned special[] = {0, '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0x1f, 0x7f};

    switch (pick(10)) {
    case 0:
        return special[pick(sizeof(special) / sizeof(special[0]))];
    case 1:
        return 0x80 + pick(0x800 - 0x80);
    case 2: {
        unsigned cp = 0x800 + pick(0x10000 - 0x800);
        return cp >= 0xD800 && cp <= 0xDFFF ? 0xE000 : cp;
    }
    case 3:
        return 0x10000 + pick(0x110000 - 0x10000);
    default:
        return ' ' + pick(95);
    }
}

static void raw_utf8(struct buf *b, unsigned cp)
{
    char u[5] = {0};
    int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const unsigned char lead[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};

    for (int i = n - 1; i > 0; i--) {
        u[i] = (char)(0x80 | (cp & 0x3F));
        cp >>= 6;
    }
    u[0] = (char)(lead[n] | cp);
    put(b, u);
}

/* One code point, spelled raw or escaped at random (as JSON requires for
 * '"', '\\' and controls). NUL is always escaped, so put() can be used. */
static void char_encode(struct buf *b, unsigned cp)
{
    static const char *const shortform[] = {
        ['"'] = "\\\"", ['\\'] = "\\\\", ['/'] = "\\/",  ['\b'] = "\\b",
        ['\f'] = "\\f", ['\n'] = "\\n",  ['\r'] = "\\r", ['\t'] = "\\t"};
    char esc[16];
    int must = cp < 0x20 || cp == '"' || cp == '\\';

    if (cp < sizeof(shortform) / sizeof(shortform[0]) && shortform[cp] && pick(2))
        put(b, shortform[cp]);
    else if (!must && pick(4))
        raw_utf8(b, cp);
    else if (cp < 0x10000) {
        snprintf(esc, sizeof(esc), pick(2) ? "\\u%04x" : "\\u%04X", cp);
        put(b, esc);
    } else {
        unsigned v = cp - 0x10000;
        snprintf(esc, sizeof(esc), "\\u%04x\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        put(b, esc);
    }
}

static void gen_string(struct buf *b, unsigned key)
{
    unsigned n = pick(12);

    put(b, "\"");
    /* Distinct keys: a prefix no other key of the object has. */
    if (key != 0) {
        char k[16];
        snprintf(k, sizeof(k), "k%u_", key);
        put(b, k);
    }
    /* jansson cannot hold NUL in a key; keep it out of most keys so most
     * documents are compared, and in a few so that case is seen too. */
    for (unsigned i = 0; i < n; i++) {
        unsigned cp = codepoint();
        char_encode(b, cp == 0 && key != 0 && pick(8) ? 1 : cp);
    }
    put(b, "\"");
}

static void gen_number(struct buf *b)
{
    static const char *const fixed[] = {
        "0",
        "-0",
        "1",
        "-1",
        "9007199254740993",
        "9223372036854775807",
        "-9223372036854775808",
        "0.1",
        "1e10",
        "1E-5",
        "-2.5e+3",
        "123.456e-7",
        "1.7976931348623157e308",
        "5e-324",
    };
    char t[64];

    /* Rarely, a number jansson cannot convert: that document is then
     * checked on scrim's side only. */
    if (pick(1000) == 0) {
        put(b, pick(2) ? "1e400" : "-123456789012345678901234567890");
        return;
    }
    if (pick(3) == 0) {
        put(b, fixed[pick(sizeof(fixed) / sizeof(fixed[0]))]);
        return;
    }
    snprintf(t, sizeof(t), "%s%u", pick(4) ? "" : "-", pick(2) ? pick(100) : (unsigned)rng());
    put(b, t);
    if (pick(3) == 0) {
        snprintf(t, sizeof(t), ".%0*u", 1 + (int)pick(4), pick(1000));
        put(b, t);
    }
    if (pick(4) == 0) {
        static const char *const e[] = {"e", "E", "e+", "e-", "E+", "E-"};
        snprintf(t, sizeof(t), "%s%u", e[pick(6)], pick(40));
        put(b, t);
    }
}

static void gen_value(struct buf *b, int depth);

static void gen_container(struct buf *b, int depth, int object)
{
    unsigned n = pick(6);

    put(b, object ? "{" : "[");
    for (unsigned i = 0; i < n; i++) {
        ws(b);
        if (i > 0) {
            put(b, ",");
            ws(b);
        }
        if (object) {
            gen_string(b, i + 1);
            ws(b);
            put(b, ":");
            ws(b);
        }
        gen_value(b, depth + 1);
    }
    ws(b);
    put(b, object ? "}" : "]");
}

static void gen_value(struct buf *b, int depth)
{
    unsigned k = depth >= MAX_NEST ? pick(5) : pick(9);

    switch (k) {
    case 0:
        put(b, pick(2) ? "true" : "false");
        break;
    case 1:
        put(b, "null");
        break;
    case 2:
    case 3:
        gen_number(b);
        break;
    case 4:
        gen_string(b, 0);
        break;
    case 5:
    case 6:
        gen_container(b, depth, 1);
        break;
    default:
        gen_container(b, depth, 0);
        break;
    }
}

static void test_diff_random(void **state)
{
    struct counts c = {0};
    struct buf b;

    (void)state;
    buf_init(&b, 1 << 24);
    for (int i = 0; i < NRANDOM; i++) {
        char what[32];
        int dup;
        buf_reset(&b);
        ws(&b);
        gen_container(&b, 0, i % 2);
        ws(&b);
        snprintf(what, sizeof(what), "random doc %d", i);
        diff_one(what, b.data, b.len, &c, &dup);
    }
    buf_free(&b);
    printf("json_diff: random docs %zu (%zu bytes): both accept and agree %zu, jansson-only "
           "reject %zu (%zu NUL in key, %zu number range)\n",
           c.files, c.bytes, c.both, c.jansson_only_reject, c.nul_key, c.num_range);
    assert_int_equal(c.scrim_only_reject, 0);
    /* Most documents must be compared, not skipped. */
    assert_true(c.both >= NRANDOM * 3 / 4);
}

/* Documents that differ only by a repeated key, spelled plainly or with
 * escapes: jansson takes them (later value wins), scrim must not. */
static void test_diff_duplicates(void **state)
{
    static const char *const d[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"\\u0061\":2}",
        "{\"\\u00e9\":1,\"\xc3\xa9\":2}",
        "{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
        "{\"card\":\"4111111111111111\",\"x\":0,\"card\":\"****\"}",
        "[{\"k\":{\"\\/\":0,\"/\":1}}]",
        "{\"\":1,\"\":2}",
    };
    struct counts c = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        json_error_t je;
        json_t *j = json_loadb(d[i], strlen(d[i]), JFLAGS, &je);
        int dup;
        if (j == NULL)
            fail_msg("duplicate case %zu: jansson was expected to accept it", i);
        json_decref(j);
        diff_one("duplicate case", d[i], strlen(d[i]), &c, &dup);
        if (!dup)
            fail_msg("duplicate case %zu: scrim must reject a duplicate key", i);
    }
    printf("json_diff: duplicate keys: jansson accepts %zu/%zu, scrim rejects %zu/%zu\n",
           c.scrim_only_reject, c.files, c.scrim_only_reject, c.files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_y_files),
        cmocka_unit_test(test_diff_random),
        cmocka_unit_test(test_diff_duplicates),
    };

    return cmocka_run_group_tests_name("json_diff", tests, NULL, NULL);
}
