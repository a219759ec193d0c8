/*
 * test_json: the strict parser and the canonical writer (rules/json.h).
 *
 * Every reject class of invariant 2 has a case here with the status it must
 * give (BAD for "not strict JSON", TOOBIG for a limit), and every test checks
 * through mem_live() that it left no allocation behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"
#include "leak.h"
#include "rules/json.h"

/* A document with its exact length (sizeof keeps embedded NULs). */
struct doc {
    const char *s;
    size_t n;
    enum json_status want;
    const char *what;
};

#define DOC(str, st, what)                                                                         \
    {                                                                                              \
        str, sizeof(str) - 1, st, what                                                             \
    }

static enum json_status parse_n(struct arena *a, const char *s, size_t n,
                                const struct json_limits *lim, struct json **out, struct err *e)
{
    err_clear(e);
    return json_parse(a, s, n, lim, out, e);
}

static void check_docs(const struct doc *d, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct arena *a = arena_new(0);
        struct json *v = (struct json *)&v;
        struct err e;
        enum json_status st = parse_n(a, d[i].s, d[i].n, NULL, &v, &e);

        if (st != d[i].want)
            fail_msg("case %zu (%s): status %d, want %d (%s)", i, d[i].what, st, d[i].want, e.msg);
        if (st == JSON_OK && v == NULL)
            fail_msg("case %zu (%s): OK without a tree", i, d[i].what);
        if (st != JSON_OK && (v != NULL || !e.set || strncmp(e.msg, "offset ", 7) != 0))
            fail_msg("case %zu (%s): failure must clear *out and say 'offset N: ...'", i,
                     d[i].what);
        arena_free(a);
    }
}

/* Parse s, write it canonically and compare with want. */
static void check_canon(const char *s, size_t n, const char *want, size_t wantn)
{
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    struct buf b;

    buf_init(&b, 0);
    if (parse_n(a, s, n, NULL, &v, &e) != JSON_OK)
        fail_msg("canonical case does not parse: %s", e.msg);
    assert_int_equal(json_write(&b, v), 0);
    assert_int_equal(b.len, wantn);
    assert_memory_equal(b.data, want, wantn);
    buf_free(&b);
    arena_free(a);
}

#define CANON(in, out) check_canon(in, sizeof(in) - 1, out, sizeof(out) - 1)

/* ---- accept ---- */

static void test_accept_values(void **state)
{
    static const struct doc d[] = {
        DOC("null", JSON_OK, "null"),
        DOC("true", JSON_OK, "true"),
        DOC("false", JSON_OK, "false"),
        DOC("0", JSON_OK, "zero"),
        DOC("-0", JSON_OK, "negative zero"),
        DOC("-0.0e-0", JSON_OK, "negative zero with fraction and exponent"),
        DOC("123456789012345678901234567890", JSON_OK, "big int passes as lexeme"),
        DOC("1E+400", JSON_OK, "huge exponent passes as lexeme"),
        DOC("1e-400", JSON_OK, "tiny exponent"),
        DOC("\"\"", JSON_OK, "empty string"),
        DOC("[]", JSON_OK, "empty array"),
        DOC("{}", JSON_OK, "empty object"),
        DOC(" \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 ] \t\r\n", JSON_OK, "all four whitespace bytes"),
        DOC("{\"\":0}", JSON_OK, "empty key"),
        DOC("[\"\x7f\"]", JSON_OK, "DEL is not a control character in JSON"),
        DOC("[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]",
            JSON_OK, "UTF-8 boundaries U+0080..U+10FFFF"),
        DOC("[\"\xee\x80\x80\xed\x9f\xbf\"]", JSON_OK, "U+E000 and U+D7FF around surrogates"),
        DOC("[\"\xef\xbf\xbe\"]", JSON_OK, "noncharacter U+FFFE is well-formed"),
        DOC("\"\\u0000\"", JSON_OK, "escaped NUL"),
        DOC("{\"a\":{\"a\":{\"a\":1}}}", JSON_OK, "same key at different levels"),
        DOC("[{\"a\":1},{\"a\":2}]", JSON_OK, "same key in sibling objects"),
        DOC("{\"a\":1,\"a\\u0000\":2}", JSON_OK, "keys differing by a trailing NUL"),
        DOC("{\"a\":1,\"A\":2}", JSON_OK, "keys differing by case"),
    };

    (void)state;
    check_docs(d, sizeof(d) / sizeof(d[0]));
}

static void test_accept_tree_shape(void **state)
{
    static const char s[] = "{\"id\":42,\"tags\":[\"a\",true,null,-1.5e3],\"o\":{}}";
    struct arena *a = arena_new(0);
    struct json *v, *tags;
    struct err e;

    (void)state;
    assert_int_equal(parse_n(a, s, sizeof(s) - 1, NULL, &v, &e), JSON_OK);
    assert_int_equal(v->type, JSON_OBJECT);
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->u.members[0].key, "id", 2);
    assert_int_equal(v->u.members[0].klen, 2);
    assert_int_equal(json_get(v, "id")->type, JSON_NUMBER);
    assert_memory_equal(json_get(v, "id")->u.s, "42", 2);
    tags = json_get(v, "tags");
    assert_non_null(tags);
    assert_int_equal(tags->type, JSON_ARRAY);
    assert_int_equal(tags->len, 4);
    assert_int_equal(tags->u.items[0]->type, JSON_STRING);
    assert_int_equal(tags->u.items[1]->type, JSON_TRUE);
    assert_int_equal(tags->u.items[2]->type, JSON_NULL);
    assert_int_equal(tags->u.items[3]->type, JSON_NUMBER);
    assert_int_equal(tags->u.items[3]->len, 6);
    assert_memory_equal(tags->u.items[3]->u.s, "-1.5e3", 6);
    assert_int_equal(json_get(v, "o")->type, JSON_OBJECT);
    assert_int_equal(json_get(v, "o")->len, 0);
    assert_null(json_get(v, "missing"));
    assert_null(json_get(tags, "id"));
    arena_free(a);
}

/* ---- reject, by class ---- */

static void test_reject_utf8(void **state)
{
    static const struct doc d[] = {
        DOC("[\"\x80\"]", JSON_BAD, "lone continuation byte"),
        DOC("[\"\xbf\"]", JSON_BAD, "lone continuation byte 0xBF"),
        DOC("[\"\xc0\xaf\"]", JSON_BAD, "overlong 2-byte '/'"),
        DOC("[\"\xc1\xbf\"]", JSON_BAD, "overlong 2-byte C1"),
        DOC("[\"\xe0\x80\xaf\"]", JSON_BAD, "overlong 3-byte"),
        DOC("[\"\xe0\x9f\xbf\"]", JSON_BAD, "overlong 3-byte U+07FF"),
        DOC("[\"\xf0\x80\x80\xaf\"]", JSON_BAD, "overlong 4-byte"),
        DOC("[\"\xf0\x8f\xbf\xbf\"]", JSON_BAD, "overlong 4-byte U+FFFF"),
        DOC("[\"\xed\xa0\x80\"]", JSON_BAD, "UTF-8 encoded surrogate U+D800"),
        DOC("[\"\xed\xbf\xbf\"]", JSON_BAD, "UTF-8 encoded surrogate U+DFFF"),
        DOC("[\"\xed\xa0\xbd\xed\xb8\x80\"]", JSON_BAD, "CESU-8 surrogate pair"),
        DOC("[\"\xf4\x90\x80\x80\"]", JSON_BAD, "U+110000"),
        DOC("[\"\xf5\x80\x80\x80\"]", JSON_BAD, "lead byte F5"),
        DOC("[\"\xf8\x88\x80\x80\x80\"]", JSON_BAD, "5-byte form"),
        DOC("[\"\xfc\x84\x80\x80\x80\x80\"]", JSON_BAD, "6-byte form"),
        DOC("[\"\xfe\"]", JSON_BAD, "byte FE"),
        DOC("[\"\xff\"]", JSON_BAD, "byte FF"),
        DOC("[\"\xc3\"]", JSON_BAD, "truncated 2-byte before quote"),
        DOC("[\"\xe2\x82\"]", JSON_BAD, "truncated 3-byte before quote"),
        DOC("[\"\xf0\x9f\x98\"]", JSON_BAD, "truncated 4-byte before quote"),
        DOC("\"\xe2\x82", JSON_BAD, "truncated 3-byte at end of input"),
        DOC("[\"\xc3\x28\"]", JSON_BAD, "bad continuation"),
        DOC("[\"\xe9\"]", JSON_BAD, "ISO-8859-1 e-acute"),
        DOC("{\"\xff\":1}", JSON_BAD, "invalid UTF-8 in a key"),
        DOC("[\xc3\xa9]", JSON_BAD, "UTF-8 outside a string"),
        DOC("\xef\xbb\xbf{}", JSON_BAD, "UTF-8 byte-order mark"),
        DOC("\xef\xbb\xbf", JSON_BAD, "byte-order mark alone"),
        DOC("\xff\xfe[\x00]\x00", JSON_BAD, "UTF-16LE BOM"),
        DOC("[\x00\"\x00]\x00", JSON_BAD, "UTF-16LE without BOM"),
    };

    (void)state;
    check_docs(d, sizeof(d) / sizeof(d[0]));
}

static void test_reject_surrogate_escapes(void **state)
{
    static const struct doc d[] = {
        DOC("[\"\\uD800\"]", JSON_BAD, "lone high surrogate"),
        DOC("[\"\\udbff\"]", JSON_BAD, "lone high surrogate, lower case"),
        DOC("[\"\\uDC00\"]", JSON_BAD, "lone low surrogate"),
        DOC("[\"\\uDFFF\"]", JSON_BAD, "lone low surrogate DFFF"),
        DOC("[\"\\uDC00\\uD800\"]", JSON_BAD, "inverted pair"),
        DOC("[\"\\uD800\\uD800\"]", JSON_BAD, "two high surrogates"),
        DOC("[\"\\uD800abc\"]", JSON_BAD, "high surrogate then text"),
        DOC("[\"\\uD800\\n\"]", JSON_BAD, "high surrogate then another escape"),
        DOC("[\"\\uD800\\u0041\"]", JSON_BAD, "high surrogate then non-surrogate escape"),
        DOC("[\"\\uD800\\uDC0\"]", JSON_BAD, "high surrogate then short escape"),
        DOC("[\"\\uD800\\", JSON_BAD, "high surrogate then cut input"),
        DOC("{\"\\uDFAA\":0}", JSON_BAD, "lone low surrogate in a key"),
        DOC("[\"\\uD834\\uDD1E\"]", JSON_OK, "valid pair U+1D11E"),
        DOC("[\"\\uDBFF\\uDFFF\"]", JSON_OK, "valid pair U+10FFFF"),
    };

    (void)state;
    check_docs(d, sizeof(d) / sizeof(d[0]));
}

static void test_reject_control_chars(void **state)
{
    (void)state;
    for (int c = 0; c < 0x20; c++) {
        char s[8] = {'[', '"', 'a', (char)c, 'b', '"', ']'};
        struct arena *a = arena_new(0);
        struct json *v;
        struct err e;

        if (parse_n(a, s, 7, NULL, &v, &e) != JSON_BAD)
            fail_msg("raw control character 0x%02x in a string must be BAD", c);
        assert_string_equal(e.msg, "offset 3: control character in string");
        arena_free(a);
    }
}

static void test_reject_syntax(void **state)
{
    static const struct doc d[] = {
        DOC("", JSON_BAD, "empty input"),
        DOC(" \n\t\r", JSON_BAD, "whitespace only"),
        DOC("[1,]", JSON_BAD, "trailing comma in array"),
        DOC("{\"a\":1,}", JSON_BAD, "trailing comma in object"),
        DOC("[,1]", JSON_BAD, "leading comma"),
        DOC("[1,,2]", JSON_BAD, "double comma"),
        DOC("[1 2]", JSON_BAD, "missing comma"),
        DOC("{\"a\" 1}", JSON_BAD, "missing colon"),
        DOC("{\"a\"::1}", JSON_BAD, "double colon"),
        DOC("{a:1}", JSON_BAD, "unquoted key"),
        DOC("{1:1}", JSON_BAD, "number key"),
        DOC("{'a':1}", JSON_BAD, "single-quoted key"),
        DOC("['a']", JSON_BAD, "single-quoted string"),
        DOC("[1]//c", JSON_BAD, "line comment"),
        DOC("/*c*/[1]", JSON_BAD, "block comment before"),
        DOC("[1/*c*/]", JSON_BAD, "block comment inside"),
        DOC("#c\n[1]", JSON_BAD, "hash comment"),
        DOC("1 2", JSON_BAD, "two values"),
        DOC("{}x", JSON_BAD, "trailing garbage"),
        DOC("[]]", JSON_BAD, "extra close"),
        DOC("[1]\x00", JSON_BAD, "trailing NUL"),
        DOC("[\x00]", JSON_BAD, "NUL outside a string"),
        DOC("[", JSON_BAD, "unclosed array"),
        DOC("{", JSON_BAD, "unclosed object"),
        DOC("{\"a\":1", JSON_BAD, "unclosed object after value"),
        DOC("{\"a\"", JSON_BAD, "object cut after key"),
        DOC("[}", JSON_BAD, "mismatched close"),
        DOC("{]", JSON_BAD, "mismatched close in object"),
        DOC("\"abc", JSON_BAD, "unterminated string"),
        DOC("\"abc\\", JSON_BAD, "unterminated escape"),
        DOC("[\"\\x41\"]", JSON_BAD, "\\x escape"),
        DOC("[\"\\'\"]", JSON_BAD, "\\' escape"),
        DOC("[\"\\U0041\"]", JSON_BAD, "\\U escape"),
        DOC("[\"\\u41\"]", JSON_BAD, "short \\u escape"),
        DOC("[\"\\u00G1\"]", JSON_BAD, "non-hex \\u escape"),
        DOC("[\"\\\xc3\xa9\"]", JSON_BAD, "backslash before non-ASCII"),
        DOC("[1]\x0c", JSON_BAD, "form feed is not JSON whitespace"),
        DOC("\x0b[1]", JSON_BAD, "vertical tab is not JSON whitespace"),
        DOC("[\xc2\xa0 1]", JSON_BAD, "no-break space is not JSON whitespace"),
        DOC("[1]\xc2\xa0", JSON_BAD, "trailing no-break space"),
    };

    (void)state;
    check_docs(d, sizeof(d) / sizeof(d[0]));
}

static void test_reject_numbers_literals(void **state)
{
    static const struct doc d[] = {
        DOC("NaN", JSON_BAD, "NaN"),
        DOC("[NaN]", JSON_BAD, "NaN in array"),
        DOC("Infinity", JSON_BAD, "Infinity"),
        DOC("[-Infinity]", JSON_BAD, "-Infinity"),
        DOC("01", JSON_BAD, "leading zero"),
        DOC("-01", JSON_BAD, "negative leading zero"),
        DOC("00", JSON_BAD, "double zero"),
        DOC("[012]", JSON_BAD, "leading zero in array"),
        DOC("+1", JSON_BAD, "plus sign"),
        DOC("[+1]", JSON_BAD, "plus sign in array"),
        DOC(".5", JSON_BAD, "no integer part"),
        DOC("[-.5]", JSON_BAD, "negative without integer part"),
        DOC("1.", JSON_BAD, "no fraction digits"),
        DOC("[1.e3]", JSON_BAD, "no fraction digits before exponent"),
        DOC("1e", JSON_BAD, "no exponent digits"),
        DOC("1e+", JSON_BAD, "no exponent digits after sign"),
        DOC("[1e-]", JSON_BAD, "no exponent digits after minus"),
        DOC("-", JSON_BAD, "minus alone"),
        DOC("[-]", JSON_BAD, "minus alone in array"),
        DOC("0x10", JSON_BAD, "hex number"),
        DOC("1_000", JSON_BAD, "digit separator"),
        DOC("[1.5.5]", JSON_BAD, "two dots"),
        DOC("tru", JSON_BAD, "truncated true"),
        DOC("True", JSON_BAD, "capitalised literal"),
        DOC("nul", JSON_BAD, "truncated null"),
        DOC("nulll", JSON_BAD, "null with trailing letter"),
        DOC("[falsey]", JSON_BAD, "false with trailing letters"),
    };

    (void)state;
    check_docs(d, sizeof(d) / sizeof(d[0]));
}

/* Messages say where and what, never which bytes (invariant 4). */
static void test_error_messages(void **state)
{
    static const struct {
        const char *s;
        const char *msg;
    } d[] = {
        {"[\"secret\x01\"]", "offset 8: control character in string"},
        {"{\"card\":1,\"card\":2}", "offset 10: duplicate object key"},
        {"[\"secret\xff\"]", "offset 8: invalid UTF-8"},
        {"[1,]", "offset 3: expected a value"},
        {"[1] secret", "offset 4: trailing data after the value"},
        {"[01]", "offset 1: leading zero in number"},
        {"\xef\xbb\xbf[]", "offset 0: byte-order mark"},
        {"[\"\\ud800x\"]", "offset 2: high surrogate escape without a low one"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        struct arena *a = arena_new(0);
        struct json *v;
        struct err e;

        assert_int_not_equal(parse_n(a, d[i].s, strlen(d[i].s), NULL, &v, &e), JSON_OK);
        assert_string_equal(e.msg, d[i].msg);
        assert_null(strstr(e.msg, "secret"));
        assert_null(strstr(e.msg, "card"));
        arena_free(a);
    }
    /* A NULL buffer is empty input, not a value. */
    {
        struct arena *a = arena_new(0);
        struct json *v;
        struct err e2;
        assert_int_equal(parse_n(a, NULL, 0, NULL, &v, &e2), JSON_BAD);
        assert_null(v);
        assert_string_equal(e2.msg, "offset 0: expected a value");
        arena_free(a);
    }
    /* A NULL err is allowed. */
    {
        struct arena *a = arena_new(0);
        struct json *v;
        assert_int_equal(json_parse(a, "[1,]", 4, NULL, &v, NULL), JSON_BAD);
        assert_null(v);
        arena_free(a);
    }
}

/* ---- strings ---- */

static void test_zero_copy(void **state)
{
    static const char s[] = "{\"plain\":\"value\",\"esc\\n\":\"v\\u0041\"}";
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    const struct json_member *m;

    (void)state;
    assert_int_equal(parse_n(a, s, sizeof(s) - 1, NULL, &v, &e), JSON_OK);
    m = v->u.members;
    /* No escape: key and value point into the input. */
    assert_ptr_equal(m[0].key, s + 2);
    assert_ptr_equal(m[0].value->u.s, s + 10);
    assert_int_equal(m[0].value->len, 5);
    /* Escaped: decoded copies outside the input. */
    assert_true(m[1].key < s || m[1].key >= s + sizeof(s));
    assert_int_equal(m[1].klen, 4);
    assert_memory_equal(m[1].key, "esc\n", 4);
    assert_true(m[1].value->u.s < s || m[1].value->u.s >= s + sizeof(s));
    assert_int_equal(m[1].value->len, 2);
    assert_memory_equal(m[1].value->u.s, "vA", 2);
    /* Numbers keep their lexeme, in place. */
    assert_int_equal(parse_n(a, "[-1.5E+3]", 9, NULL, &v, &e), JSON_OK);
    assert_int_equal(v->u.items[0]->len, 7);
    arena_free(a);
}

static void test_escape_decoding(void **state)
{
    static const struct {
        const char *in;
        const char *out;
        size_t outn;
    } d[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u00e9\"", "\xc3\xa9", 2},
        {"\"\\u00E9\"", "\xc3\xa9", 2},
        {"\"\\u0041\\u007f\\u0080\"", "A\x7f\xc2\x80", 4},
        {"\"\\u07ff\\u0800\"", "\xdf\xbf\xe0\xa0\x80", 5},
        {"\"\\u20ac\"", "\xe2\x82\xac", 3},
        {"\"\\uffff\"", "\xef\xbf\xbf", 3},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
        {"\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e", 4},
        {"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4},
        {"\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\\u0000\"", "\0", 1},
        {"\"x\\ty\xc3\xa9z\\u00e9\"", "x\ty\xc3\xa9z\xc3\xa9", 8},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        struct arena *a = arena_new(0);
        struct json *v;
        struct err e;

        if (parse_n(a, d[i].in, strlen(d[i].in), NULL, &v, &e) != JSON_OK)
            fail_msg("escape case %zu: %s", i, e.msg);
        assert_int_equal(v->type, JSON_STRING);
        assert_int_equal(v->len, d[i].outn);
        assert_memory_equal(v->u.s, d[i].out, d[i].outn);
        arena_free(a);
    }
}

/* ---- duplicate keys ---- */

static void test_duplicate_keys(void **state)
{
    static const struct doc d[] = {
        DOC("{\"a\":1,\"a\":2}", JSON_BAD, "plain duplicate"),
        DOC("{\"a\":1,\"a\":1}", JSON_BAD, "duplicate key and value"),
        DOC("{\"a\":1,\"\\u0061\":2}", JSON_BAD, "equal after unescaping"),
        DOC("{\"\\u0061\":1,\"a\":2}", JSON_BAD, "equal after unescaping, escaped first"),
        DOC("{\"\\u00e9\":1,\"\xc3\xa9\":2}", JSON_BAD, "escaped vs raw non-ASCII"),
        DOC("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", JSON_BAD, "pair vs raw 4-byte"),
        DOC("{\"\\/\":1,\"/\":2}", JSON_BAD, "escaped solidus"),
        DOC("{\"\":1,\"\":2}", JSON_BAD, "empty key twice"),
        DOC("{\"a\\u0000\":1,\"a\\u0000\":2}", JSON_BAD, "key with NUL twice"),
        DOC("{\"a\":1,\"b\":2,\"c\":3,\"a\":4}", JSON_BAD, "duplicate not adjacent"),
        DOC("[{\"x\":{\"k\":1,\"k\":2}}]", JSON_BAD, "duplicate in a nested object"),
        DOC("{\"k\":{},\"k\":[]}", JSON_BAD, "duplicate with container values"),
    };

    (void)state;
    check_docs(d, sizeof(d) / sizeof(d[0]));
}

/* An object of n members "k0".."k<n-1>", optionally ending with a repeat of
 * key dup (and an escaped spelling of it when esc). */
static char *object_build(size_t n, long dup, int esc, size_t *len)
{
    size_t cap = n * 24 + 64, off = 0;
    char *s = xmalloc(cap);

    s[off++] = '{';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    if (dup >= 0 && esc)
        off += (size_t)snprintf(s + off, cap - off, ",\"\\u006b%ld\":0", dup);
    else if (dup >= 0)
        off += (size_t)snprintf(s + off, cap - off, ",\"k%ld\":0", dup);
    s[off++] = '}';
    *len = off;
    return s;
}

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_large_object(void **state)
{
    const size_t n = 200000;
    struct json_limits lim = {64, 1000000};
    size_t len;
    char *s = object_build(n, -1, 0, &len);
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    double t0 = now(), dt;

    (void)state;
    assert_int_equal(parse_n(a, s, len, &lim, &v, &e), JSON_OK);
    dt = now() - t0;
    assert_int_equal(v->len, n);
    /* Quadratic checking would need ~2e10 key comparisons here; even under
     * ASan the linearithmic check takes well under a second. */
    if (dt > 3.0)
        fail_msg("200k-member object took %.2f s", dt);
    assert_memory_equal(v->u.members[n - 1].key, "k199999", 7);
    xfree(s);

    /* The same object with a duplicate at the end: found and reported at
     * the repeated key's offset. */
    s = object_build(n, 0, 0, &len);
    arena_reset(a);
    t0 = now();
    assert_int_equal(parse_n(a, s, len, &lim, &v, &e), JSON_BAD);
    if (now() - t0 > 3.0)
        fail_msg("200k-member object with a duplicate took too long");
    {
        char want[64];
        snprintf(want, sizeof(want), "offset %zu: duplicate object key", len - 7);
        assert_string_equal(e.msg, want);
    }
    xfree(s);

    /* Duplicate in the middle, spelled with an escape. */
    s = object_build(n, 123456, 1, &len);
    arena_reset(a);
    assert_int_equal(parse_n(a, s, len, &lim, &v, &e), JSON_BAD);
    assert_non_null(strstr(e.msg, "duplicate object key"));
    xfree(s);
    arena_free(a);
}

/* Every size across the linear/sorted boundary, with the duplicate in every
 * position, so both branches of the check are proven. */
static void test_duplicate_boundary(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 40; n++) {
        for (long dup = -1; dup < (long)n; dup++) {
            size_t len;
            char *s = object_build(n, dup, (size_t)dup % 2 == 1, &len);
            struct arena *a = arena_new(0);
            struct json *v;
            struct err e;
            enum json_status st = parse_n(a, s, len, NULL, &v, &e);

            if (st != (dup < 0 ? JSON_OK : JSON_BAD))
                fail_msg("n=%zu dup=%ld: status %d", n, dup, st);
            xfree(s);
            arena_free(a);
        }
    }
}

/* ---- limits ---- */

static char *nest_build(size_t depth, int objects, size_t *len)
{
    size_t cap = depth * 6 + 8, off = 0;
    char *s = xmalloc(cap);

    for (size_t i = 0; i < depth; i++) {
        if (objects) {
            memcpy(s + off, "{\"k\":", 5);
            off += 5;
        } else {
            s[off++] = '[';
        }
    }
    s[off++] = '0';
    for (size_t i = 0; i < depth; i++)
        s[off++] = objects ? '}' : ']';
    *len = off;
    return s;
}

static enum json_status parse_nested(size_t depth, int objects, const struct json_limits *lim)
{
    size_t len;
    char *s = nest_build(depth, objects, &len);
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    enum json_status st = parse_n(a, s, len, lim, &v, &e);

    if (st == JSON_OK) {
        /* The tree is really that deep. */
        size_t d = 0;
        while (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
            v = v->type == JSON_ARRAY ? v->u.items[0] : v->u.members[0].value;
            d++;
        }
        assert_int_equal(d, depth);
    }
    xfree(s);
    arena_free(a);
    return st;
}

static void test_depth_limit(void **state)
{
    struct json_limits three = {3, 1000};
    struct json_limits deep = {10000, 100000};
    struct json_limits zero = {0, 1000};

    (void)state;
    assert_int_equal(json_default_limits.max_depth, 64);
    assert_int_equal(parse_nested(64, 0, NULL), JSON_OK);
    assert_int_equal(parse_nested(65, 0, NULL), JSON_TOOBIG);
    assert_int_equal(parse_nested(64, 1, NULL), JSON_OK);
    assert_int_equal(parse_nested(65, 1, NULL), JSON_TOOBIG);
    assert_int_equal(parse_nested(3, 0, &three), JSON_OK);
    assert_int_equal(parse_nested(4, 0, &three), JSON_TOOBIG);
    assert_int_equal(parse_nested(4, 1, &three), JSON_TOOBIG);
    /* A config may allow deep nesting: the parser uses no C stack for it. */
    assert_int_equal(parse_nested(10000, 0, &deep), JSON_OK);
    assert_int_equal(parse_nested(10000, 1, &deep), JSON_OK);
    assert_int_equal(parse_nested(10001, 0, &deep), JSON_TOOBIG);
    /* Depth 0 allows scalars only. */
    assert_int_equal(parse_nested(0, 0, &zero), JSON_OK);
    assert_int_equal(parse_nested(1, 0, &zero), JSON_TOOBIG);
}

static void test_deep_unclosed(void **state)
{
    const size_t n = 100000;
    struct json_limits unlimited = {UINT_MAX, (size_t)-1};
    char *s = xmalloc(n);
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;

    (void)state;
    memset(s, '[', n);
    assert_int_equal(parse_n(a, s, n, NULL, &v, &e), JSON_TOOBIG);
    assert_string_equal(e.msg, "offset 64: nesting deeper than the depth limit");
    /* Without a depth limit it is simply unterminated. */
    assert_int_equal(parse_n(a, s, n, &unlimited, &v, &e), JSON_BAD);
    xfree(s);
    arena_free(a);
}

static void test_node_limit(void **state)
{
    struct json_limits four = {64, 4};
    static const struct {
        const char *s;
        enum json_status want;
    } d[] = {
        {"[1,2,3]", JSON_OK},
        {"[1,2,3,4]", JSON_TOOBIG},
        {"[[],{},null]", JSON_OK},
        {"[[],{},null,\"\"]", JSON_TOOBIG},
        {"{\"a\":1,\"b\":2,\"c\":3}", JSON_OK}, /* keys are not nodes */
        {"{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", JSON_TOOBIG},
        {"[[[[]]]]", JSON_OK},
        {"[[[[[]]]]]", JSON_TOOBIG},
        {"[1,2,3,x]", JSON_BAD}, /* garbage is BAD, even where the limit would hit */
        {"[1,2,3,\"\"]", JSON_TOOBIG},
        {"[1,2,x]", JSON_BAD},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        struct arena *a = arena_new(0);
        struct json *v;
        struct err e;
        enum json_status st = parse_n(a, d[i].s, strlen(d[i].s), &four, &v, &e);

        if (st != d[i].want)
            fail_msg("node case %zu: status %d want %d (%s)", i, st, d[i].want, e.msg);
        arena_free(a);
    }
}

static void test_arena_cap(void **state)
{
    static const char s[] = "[\"a\\n\",[1,2,3,4,5,6,7,8],{\"k\":\"v\"}]";
    size_t need;
    struct json *v;
    struct err e;

    (void)state;
    {
        struct arena *a = arena_new(0);
        assert_int_equal(parse_n(a, s, sizeof(s) - 1, NULL, &v, &e), JSON_OK);
        need = arena_used(a);
        arena_free(a);
    }
    /* Exactly enough works; every smaller cap is TOOBIG, never BAD or a
     * crash. */
    for (size_t cap = 1; cap <= need; cap++) {
        struct arena *a = arena_new(cap);
        enum json_status st = parse_n(a, s, sizeof(s) - 1, NULL, &v, &e);
        if (st != (cap == need ? JSON_OK : JSON_TOOBIG))
            fail_msg("cap %zu of %zu: status %d (%s)", cap, need, st, e.msg);
        if (st == JSON_TOOBIG)
            assert_non_null(strstr(e.msg, "arena cap reached"));
        arena_free(a);
    }
}

/* Fail each system allocation in turn (scratch memory and arena blocks):
 * every run ends in a clean TOOBIG or success, and leaks nothing. */
static void test_alloc_failures(void **state)
{
    size_t len;
    char *s = object_build(40, -1, 0, &len); /* > 16 members: sort scratch */
    char *doc = xmalloc(len + 400);
    size_t off = 0;

    (void)state;
    for (int i = 0; i < 40; i++)
        doc[off++] = '[';
    for (int i = 0; i < 100; i++) {
        doc[off++] = '1';
        doc[off++] = ',';
    }
    memcpy(doc + off, s, len);
    off += len;
    for (int i = 0; i < 40; i++)
        doc[off++] = ']';
    for (long n = 0;; n++) {
        long live = mem_live();
        struct arena *a;
        struct json *v;
        struct err e;
        enum json_status st;

        mem_fail_after(n);
        a = arena_new(0);
        if (a == NULL) {
            mem_fail_after(-1);
            continue;
        }
        st = parse_n(a, doc, off, NULL, &v, &e);
        arena_free(a);
        mem_fail_after(-1);
        assert_int_equal(mem_live(), live);
        if (st == JSON_OK)
            break;
        if (st != JSON_TOOBIG)
            fail_msg("allocation failure %ld gave status %d (%s)", n, st, e.msg);
        if (n > 1000)
            fail_msg("no success after 1000 allocations");
    }
    xfree(doc);
    xfree(s);
}

/* ---- writer ---- */

static void test_write_canonical(void **state)
{
    (void)state;
    CANON("{ \"a\" : [1, 2.5e3 , \"\\u00e9\\/\"] }", "{\"a\":[1,2.5e3,\"\xc3\xa9/\"]}");
    CANON(" [ ] ", "[]");
    CANON("{ }", "{}");
    CANON("\t\"x\"\n", "\"x\"");
    CANON("[true,false,null]", "[true,false,null]");
    CANON("[-0, 0.0, 1E5, 1e-5, -1.50E+02, 100000000000000000000000]",
          "[-0,0.0,1E5,1e-5,-1.50E+02,100000000000000000000000]");
    CANON("{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}",
          "{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}");
    CANON("[\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"]",
          "[\"A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]");
    CANON("[\"\\b\\f\\n\\r\\t\"]", "[\"\\b\\f\\n\\r\\t\"]");
    CANON("[\"\\u0008\\u000C\\u000a\\u000D\\u0009\"]", "[\"\\b\\f\\n\\r\\t\"]");
    CANON("[\"\\u0000\\u0001\\u001F\\u001b\"]", "[\"\\u0000\\u0001\\u001f\\u001b\"]");
    CANON("[\"\\\"\\\\\"]", "[\"\\\"\\\\\"]");
    CANON("[\"\\u007f\\u0080\"]", "[\"\x7f\xc2\x80\"]");
    CANON("[\"\\/\"]", "[\"/\"]");
    CANON("[\"</script>\"]", "[\"</script>\"]");
    CANON("{\"\\u0000k\\n\":\"\\u2028\\u2029\"}", "{\"\\u0000k\\n\":\"\xe2\x80\xa8\xe2\x80\xa9\"}");
}

static void test_write_string(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(json_write_string(&b, "a\"b\\c\x01\x1f\x7f/\xc3\xa9", 11), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\u0001\\u001f\x7f/\xc3\xa9\"");
    buf_reset(&b);
    assert_int_equal(json_write_string(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "\"a\\u0000b\"", 10);
    buf_reset(&b);
    assert_int_equal(json_write_string(&b, "", 0), 0);
    assert_string_equal(b.data, "\"\"");
    buf_reset(&b);
    /* A long string crosses the vector loop and the tail. */
    {
        char s[100];
        memset(s, 'x', sizeof(s));
        s[70] = '\n';
        assert_int_equal(json_write_string(&b, s, sizeof(s)), 0);
        assert_int_equal(b.len, sizeof(s) + 3);
        assert_memory_equal(b.data + 71, "\\n", 2);
    }
    buf_reset(&b);
    /* Ill-formed UTF-8 is refused and nothing is left behind. */
    assert_int_equal(json_write_string(&b, "ab\xff", 3), -1);
    assert_int_equal(b.len, 0);
    assert_int_equal(json_write_string(&b, "\xed\xa0\x80", 3), -1);
    assert_int_equal(json_write_string(&b, "\xc3", 1), -1);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static const char *const roundtrip_docs[] = {
    "{\"a\":[1,2.5e3,\"\\u00e9\\/\"],\"b\":{\"c\":null,\"d\":[true,false,[],{}]}}",
    "[\"\\u0000\\u001f\\\"\\\\\\b\\f\\n\\r\\t\",\"\xf0\x9f\x98\x80\",\"\x7f\"]",
    "{\"\\n\":{\"\\u0000\":{\"\":[-0.0e-0,1E+400,123456789012345678901234567890]}}}",
    "[[[[[[[[[[\"deep\"]]]]]]]]]]",
    "\"just a string\"",
    "42",
    "[{\"type\":3,\"data\":{\"source\":5,\"text\":\"***\",\"id\":17},\"timestamp\":1700000000000}]",
};

static void test_write_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(roundtrip_docs) / sizeof(roundtrip_docs[0]); i++) {
        struct arena *a = arena_new(0);
        struct json *v, *w;
        struct err e;
        struct buf b1, b2;

        buf_init(&b1, 0);
        buf_init(&b2, 0);
        if (parse_n(a, roundtrip_docs[i], strlen(roundtrip_docs[i]), NULL, &v, &e) != JSON_OK)
            fail_msg("roundtrip doc %zu: %s", i, e.msg);
        assert_int_equal(json_write(&b1, v), 0);
        assert_int_equal(parse_n(a, b1.data, b1.len, NULL, &w, &e), JSON_OK);
        assert_true(json_tree_equal(v, w));
        assert_int_equal(json_write(&b2, w), 0);
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.data, b2.data, b1.len);
        buf_free(&b1);
        buf_free(&b2);
        arena_free(a);
    }
}

static void test_write_max(void **state)
{
    static const char s[] = "{\"key\":[\"value\\n\",12345,true]}";
    struct arena *a = arena_new(0);
    struct json *v;
    struct err e;
    size_t full;

    (void)state;
    assert_int_equal(parse_n(a, s, sizeof(s) - 1, NULL, &v, &e), JSON_OK);
    {
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(json_write(&b, v), 0);
        full = b.len;
        buf_free(&b);
    }
    /* Every maximum below the output size fails with -1 and leaves what the
     * buffer held before; the exact size succeeds. */
    for (size_t max = 1; max <= full + 4; max++) {
        struct buf b;
        buf_init(&b, max);
        assert_int_equal(buf_append(&b, "P", 1), 0);
        int r = json_write(&b, v);
        if (max - 1 < full) {
            assert_int_equal(r, -1);
            assert_int_equal(b.len, 1);
            assert_string_equal(b.data, "P");
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(b.len, full + 1);
        }
        buf_free(&b);
    }
    arena_free(a);
}

static void test_write_bad_tree(void **state)
{
    struct arena *a = arena_new(0);
    struct json *arr = arena_zalloc(a, sizeof(*arr));
    struct json *items[2];
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    items[0] = json_new_literal(a, JSON_NULL);
    items[1] = NULL;
    arr->type = JSON_ARRAY;
    arr->len = 2;
    arr->u.items = items;
    assert_int_equal(json_write(&b, arr), -1); /* NULL child */
    assert_int_equal(b.len, 0);
    items[1] = json_new_string(a, "\xc0\xaf", 2); /* overlong, from an edit */
    assert_int_equal(json_write(&b, arr), -1);
    assert_int_equal(b.len, 0);
    items[1] = json_new_string(a, "ok", 2);
    assert_int_equal(json_write(&b, arr), 0);
    assert_string_equal(b.data, "[null,\"ok\"]");
    buf_reset(&b);
    assert_int_equal(json_write(&b, NULL), -1);
    /* A member without its key, a container without its array. */
    {
        struct json_member m = {.key = NULL, .klen = 3, .value = items[0]};
        struct json obj = {.type = JSON_OBJECT, .len = 1, .u.members = &m};
        struct json empty = {.type = JSON_ARRAY, .len = 2, .u.items = NULL};
        assert_int_equal(json_write(&b, &obj), -1);
        assert_int_equal(json_write(&b, &empty), -1);
        assert_int_equal(b.len, 0);
        assert_false(json_tree_equal(&obj, &obj) && json_tree_equal(&empty, arr));
    }
    buf_free(&b);
    arena_free(a);
}

static void test_write_deep(void **state)
{
    struct json_limits deep = {20000, 100000};
    size_t len;
    char *s = nest_build(20000, 1, &len);
    struct arena *a = arena_new(0);
    struct json *v, *w;
    struct err e;
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(parse_n(a, s, len, &deep, &v, &e), JSON_OK);
    assert_int_equal(json_write(&b, v), 0);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, s, len);
    assert_int_equal(parse_n(a, b.data, b.len, &deep, &w, &e), JSON_OK);
    assert_true(json_tree_equal(v, w));
    buf_free(&b);
    xfree(s);
    arena_free(a);
}

/* ---- constructors and queries ---- */

static void test_constructors(void **state)
{
    struct arena *a = arena_new(0);
    char src[] = "hello";
    struct json *s = json_new_string(a, src, 5);
    struct json *n;
    struct buf b;

    (void)state;
    assert_non_null(s);
    assert_int_equal(s->type, JSON_STRING);
    assert_int_equal(s->len, 5);
    src[0] = 'j'; /* the node holds its own copy */
    assert_memory_equal(s->u.s, "hello", 5);
    n = json_new_number(a, "-12.5e+3", 8);
    assert_non_null(n);
    assert_int_equal(n->type, JSON_NUMBER);
    assert_memory_equal(n->u.s, "-12.5e+3", 8);
    assert_null(json_new_number(a, "", 0));
    assert_null(json_new_number(a, "01", 2));
    assert_null(json_new_number(a, "1.", 2));
    assert_null(json_new_number(a, " 1", 2));
    assert_null(json_new_number(a, "1 ", 2));
    assert_null(json_new_number(a, "NaN", 3));
    assert_null(json_new_number(a, "\"1\"", 3));
    assert_int_equal(json_new_literal(a, JSON_TRUE)->type, JSON_TRUE);
    assert_int_equal(json_new_literal(a, JSON_FALSE)->type, JSON_FALSE);
    assert_int_equal(json_new_literal(a, JSON_NULL)->type, JSON_NULL);
    assert_null(json_new_literal(a, JSON_STRING));
    assert_null(json_new_string(a, NULL, 1));
    assert_int_equal(json_new_string(a, NULL, 0)->len, 0);
    assert_null(json_new_literal(a, JSON_OBJECT));
    buf_init(&b, 0);
    assert_int_equal(json_write(&b, n), 0);
    assert_string_equal(b.data, "-12.5e+3");
    buf_free(&b);
    arena_free(a);
    /* Over the cap: NULL. */
    a = arena_new(32);
    assert_non_null(json_new_literal(a, JSON_NULL));
    assert_null(json_new_string(a, "x", 1));
    arena_free(a);
}

static void test_equal(void **state)
{
    static const struct {
        const char *x, *y;
        int eq;
    } d[] = {
        {"[1,2]", "[ 1 , 2 ]", 1},
        {"{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}", 1},
        {"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", 0}, /* member order matters */
        {"\"\\u0041\"", "\"A\"", 1},
        {"1.0", "1", 0}, /* lexemes, not values */
        {"1e2", "1E2", 0},
        {"[1]", "[1,2]", 0},
        {"[]", "{}", 0},
        {"null", "false", 0},
        {"\"a\\u0000\"", "\"a\"", 0},
        {"{\"a\":[1,{\"b\":null}]}", "{\"a\":[1,{\"b\":null}]}", 1},
        {"{\"a\":[1,{\"b\":null}]}", "{\"a\":[1,{\"c\":null}]}", 0},
        {"{\"a\":[1,{\"b\":null}]}", "{\"a\":[1,{\"b\":true}]}", 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        struct arena *a = arena_new(0);
        struct json *x, *y;
        struct err e;

        assert_int_equal(parse_n(a, d[i].x, strlen(d[i].x), NULL, &x, &e), JSON_OK);
        assert_int_equal(parse_n(a, d[i].y, strlen(d[i].y), NULL, &y, &e), JSON_OK);
        if (json_tree_equal(x, y) != d[i].eq || json_tree_equal(y, x) != d[i].eq)
            fail_msg("equal case %zu: want %d", i, d[i].eq);
        assert_true(json_tree_equal(x, x));
        arena_free(a);
    }
    assert_true(json_tree_equal(NULL, NULL));
}

static void test_utf8_valid(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } d[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"a\0b", 3, 1},
        {"\xc3\xa9", 2, 1},
        {"\xe2\x82\xac", 3, 1},
        {"\xf0\x9f\x98\x80", 4, 1},
        {"\xf4\x8f\xbf\xbf", 4, 1},
        {"\xed\x9f\xbf", 3, 1},
        {"\xee\x80\x80", 3, 1},
        {"\xc3", 1, 0},
        {"\xc0\x80", 2, 0},
        {"\xc1\xbf", 2, 0},
        {"\xe0\x80\x80", 3, 0},
        {"\xed\xa0\x80", 3, 0},
        {"\xed\xbf\xbf", 3, 0},
        {"\xf0\x80\x80\x80", 4, 0},
        {"\xf4\x90\x80\x80", 4, 0},
        {"\xf5\x80\x80\x80", 4, 0},
        {"\x80", 1, 0},
        {"\xff", 1, 0},
        {"ok\xe2\x82", 4, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (json_utf8_valid(d[i].s, d[i].n) != d[i].ok)
            fail_msg("utf8 case %zu: want %d", i, d[i].ok);
}

#define T(f) LEAK_TEST(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_accept_values),
        T(test_accept_tree_shape),
        T(test_reject_utf8),
        T(test_reject_surrogate_escapes),
        T(test_reject_control_chars),
        T(test_reject_syntax),
        T(test_reject_numbers_literals),
        T(test_error_messages),
        T(test_zero_copy),
        T(test_escape_decoding),
        T(test_duplicate_keys),
        T(test_large_object),
        T(test_duplicate_boundary),
        T(test_depth_limit),
        T(test_deep_unclosed),
        T(test_node_limit),
        T(test_arena_cap),
        T(test_alloc_failures),
        T(test_write_canonical),
        T(test_write_string),
        T(test_write_roundtrip),
        T(test_write_max),
        T(test_write_bad_tree),
        T(test_write_deep),
        T(test_constructors),
        T(test_equal),
        T(test_utf8_valid),
    };

    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
