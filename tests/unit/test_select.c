/*
 * test_select: the selector subset, both sides of every branch.
 *
 * Elements are written as "tag|attr=value|attr" and chains root first, so a
 * case reads like the DOM it stands for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/mem.h"
#include "rules/select.h"

#include <stdio.h>
#include <string.h>

#define MAX_ATTRS 8
#define MAX_CHAIN 8

struct test_elem {
    struct select_elem e;
    struct select_attr attrs[MAX_ATTRS];
    char buf[256];
};

/* Fill t from "tag|name=value|name": attribute values may hold spaces. */
static void elem_build(struct test_elem *t, const char *spec, const struct select_elem *parent)
{
    char *p, *bar;

    snprintf(t->buf, sizeof(t->buf), "%s", spec);
    memset(&t->e, 0, sizeof(t->e));
    t->e.attrs = t->attrs;
    t->e.parent = parent;
    p = t->buf;
    bar = strchr(p, '|');
    t->e.tag = p;
    t->e.taglen = bar ? (size_t)(bar - p) : strlen(p);
    while (bar != NULL) {
        struct select_attr *a = &t->attrs[t->e.nattrs++];
        char *eq;
        p = bar + 1;
        bar = strchr(p, '|');
        if (bar != NULL)
            *bar = '\0';
        eq = strchr(p, '=');
        a->name = p;
        a->nlen = eq ? (size_t)(eq - p) : strlen(p);
        a->value = eq ? eq + 1 : "";
        a->vlen = strlen(a->value);
    }
}

/* Does sel match the last element of chain[0..n) (root first)? */
static int chain_matches(const char *sel, const char *const *chain, size_t n)
{
    struct test_elem els[MAX_CHAIN];
    struct select_list *l;
    struct err err;
    size_t col = 99;
    int m;

    err_clear(&err);
    l = select_parse(sel, strlen(sel), &col, &err);
    if (l == NULL)
        fail_msg("select_parse(\"%s\") failed at %zu: %s", sel, col, err.msg);
    for (size_t i = 0; i < n; i++)
        elem_build(&els[i], chain[i], i ? &els[i - 1].e : NULL);
    m = select_match(l, &els[n - 1].e);
    select_free(l);
    return m;
}

static int one_matches(const char *sel, const char *elem)
{
    return chain_matches(sel, &elem, 1);
}

static void test_type_and_universal(void **state)
{
    (void)state;
    assert_true(one_matches("input", "input"));
    assert_true(one_matches("INPUT", "input"));
    assert_true(one_matches("input", "INPUT"));
    assert_true(one_matches("InPuT", "iNpUt|type=text"));
    assert_false(one_matches("input", "select"));
    assert_false(one_matches("input", "inputs"));
    assert_false(one_matches("inputs", "input"));
    assert_true(one_matches("*", "div"));
    assert_true(one_matches("*", "x-custom-element"));
    assert_true(one_matches("x-custom-element", "X-CUSTOM-ELEMENT"));
    assert_true(one_matches("*.a", "p|class=a"));
    assert_false(one_matches("*.a", "p|class=b"));
}

static void test_id(void **state)
{
    (void)state;
    assert_true(one_matches("#card", "div|id=card"));
    assert_false(one_matches("#card", "div|id=Card"));
    assert_false(one_matches("#card", "div|id=card2"));
    assert_false(one_matches("#card", "div|class=card"));
    assert_false(one_matches("#card", "div"));
    assert_true(one_matches("#card", "div|ID=card"));
    assert_true(one_matches("div#card", "div|id=card"));
    assert_false(one_matches("span#card", "div|id=card"));
    assert_true(one_matches("#loan-amount", "input|id=loan-amount"));
    assert_true(one_matches("#\\:r1\\:", "input|id=:r1:"));
    assert_true(one_matches("#\\31 23", "input|id=123"));
    assert_true(one_matches("#a#a", "input|id=a"));
    assert_false(one_matches("#a#b", "input|id=a"));
}

/* CSS escapes (CSS Syntax 3, 4.3.7): hex code points become UTF-8; NUL,
 * surrogates and values past U+10FFFF become U+FFFD. */
static void test_escapes(void **state)
{
    (void)state;
    assert_true(one_matches("#caf\\E9", "p|id=caf\xc3\xa9"));
    assert_true(one_matches("#\\E9 x", "p|id=\xc3\xa9x"));
    assert_true(one_matches("#\\4E00", "p|id=\xe4\xb8\x80"));
    assert_true(one_matches("#\\1F600", "p|id=\xf0\x9f\x98\x80"));
    assert_true(one_matches("#a\\0", "p|id=a\xef\xbf\xbd"));
    assert_true(one_matches("#a\\D800", "p|id=a\xef\xbf\xbd"));
    assert_true(one_matches("#a\\110000", "p|id=a\xef\xbf\xbd"));
    assert_true(one_matches("#\\31\r\n23", "p|id=123"));
    assert_true(one_matches("#-a", "p|id=-a"));
    assert_true(one_matches("#--", "p|id=--"));
    assert_true(one_matches("#-\\31", "p|id=-1"));
    assert_true(one_matches("#\xc3\xa9t\xc3\xa9", "p|id=\xc3\xa9t\xc3\xa9"));
    assert_true(one_matches(".a\\.b", "p|class=a.b"));
    assert_false(one_matches(".a\\.b", "p|class=a b"));
    assert_true(one_matches("[name=\"a\\\r\nb\"]", "p|name=ab"));
    assert_true(one_matches("[name='\\'\\\\']", "p|name='\\"));
}

static void test_class(void **state)
{
    (void)state;
    assert_true(one_matches(".a", "p|class=a"));
    assert_true(one_matches(".a", "p|class=b a c"));
    assert_true(one_matches(".a", "p|class=\tb\na "));
    assert_false(one_matches(".a", "p|class=ab"));
    assert_false(one_matches(".a", "p|class=b-a"));
    assert_false(one_matches(".a", "p|class=A"));
    assert_false(one_matches(".a", "p|class="));
    assert_false(one_matches(".a", "p"));
    assert_true(one_matches(".a.b", "p|class=b x a"));
    assert_false(one_matches(".a.b", "p|class=a"));
    assert_true(one_matches("iframe.payment", "IFRAME|class=payment"));
    assert_true(one_matches("p.a", "p|CLASS=a"));
}

static void test_attr_exists_equals(void **state)
{
    (void)state;
    assert_true(one_matches("[data-private]", "div|data-private"));
    assert_true(one_matches("[data-private]", "div|data-private=yes"));
    assert_true(one_matches("[DATA-private]", "div|data-PRIVATE"));
    assert_false(one_matches("[data-private]", "div|data-public"));
    assert_false(one_matches("[data-private]", "div"));
    assert_true(one_matches("[type=text]", "input|type=text"));
    assert_false(one_matches("[type=text]", "input|type=TEXT"));
    assert_false(one_matches("[type=text]", "input|type=texts"));
    assert_true(one_matches("[type=\"text\"]", "input|type=text"));
    assert_true(one_matches("[type='text']", "input|type=text"));
    assert_true(one_matches("[ type = text ]", "input|type=text"));
    assert_true(one_matches("[name=\"a b\"]", "input|name=a b"));
    assert_true(one_matches("[name=\"\"]", "input|name="));
    assert_false(one_matches("[name=\"\"]", "input|name=x"));
    assert_true(one_matches("[name=\"q\\\"x\"]", "input|name=q\"x"));
    assert_true(one_matches("[name='it\\'s']", "input|name=it's"));
    assert_true(one_matches("[name=\"\\41 b\"]", "input|name=Ab"));
    assert_true(one_matches("[name=\"a\\\nb\"]", "input|name=ab"));
    assert_true(one_matches("select[name=loan_term]", "select|name=loan_term"));
    assert_true(one_matches("input[type=text][name=x]", "input|type=text|name=x"));
    assert_false(one_matches("input[type=text][name=x]", "input|type=text|name=y"));
    assert_true(one_matches("input.card[type=text]", "input|class=card|type=text"));
    assert_false(one_matches("input.card[type=text]", "input|class=card|type=tel"));
}

static void test_attr_substring_ops(void **state)
{
    (void)state;
    assert_true(one_matches("[href^=https]", "a|href=https://x"));
    assert_false(one_matches("[href^=https]", "a|href=http://x"));
    assert_false(one_matches("[href^=https]", "a|href=http"));
    assert_true(one_matches("[href$=\".pdf\"]", "a|href=/x.pdf"));
    assert_false(one_matches("[href$=\".pdf\"]", "a|href=/x.pdfs"));
    assert_false(one_matches("[href$=\".pdf\"]", "a|href=pdf"));
    assert_true(one_matches("[href*=secret]", "a|href=/a/secret/b"));
    assert_true(one_matches("[href*=secret]", "a|href=secret"));
    assert_false(one_matches("[href*=secret]", "a|href=/a/secre/t"));
    /* Empty values never match the substring operators. */
    assert_false(one_matches("[href^=\"\"]", "a|href=x"));
    assert_false(one_matches("[href$=\"\"]", "a|href=x"));
    assert_false(one_matches("[href*=\"\"]", "a|href=x"));
    assert_false(one_matches("[href^=\"\"]", "a|href="));
}

static void test_descendant(void **state)
{
    static const char *const form[] = {"html", "body", "form|id=pay", "div|class=row", "input"};
    static const char *const tricky[] = {"a", "b", "a", "c", "b", "d"};
    (void)state;
    assert_true(chain_matches("form input", form, 5));
    assert_true(chain_matches("#pay input", form, 5));
    assert_true(chain_matches("html body form div input", form, 5));
    assert_true(chain_matches("html input", form, 5));
    assert_true(chain_matches("body .row input", form, 5));
    assert_true(chain_matches("  body\t\n.row   input ", form, 5));
    assert_false(chain_matches("input form", form, 5));
    assert_false(chain_matches("form body input", form, 5));
    assert_false(chain_matches("span input", form, 5));
    assert_false(chain_matches("input input", form, 5));
    assert_false(chain_matches("form", form, 5));
    /* The element itself is not its own ancestor. */
    assert_false(chain_matches("div div", form, 4));
    /* Nearest-first must not miss a match that needs a farther ancestor. */
    assert_true(chain_matches("a b d", tricky, 6));
    assert_true(chain_matches("a c b d", tricky, 6));
    assert_true(chain_matches("a b a c b d", tricky, 6));
    assert_false(chain_matches("c a d", tricky, 6));
    assert_false(chain_matches("a b a b a d", tricky, 6));
    assert_true(chain_matches("* d", tricky, 6));
    assert_false(chain_matches("* a", tricky, 1));
}

static void test_lists(void **state)
{
    struct select_list *l, *m;
    struct test_elem el;
    struct err err;
    size_t col;
    (void)state;
    assert_true(one_matches("span, input", "input"));
    assert_true(one_matches("input ,span", "input"));
    assert_true(one_matches("span,#a", "input|id=a"));
    assert_false(one_matches("span, #a", "input|id=b"));

    err_clear(&err);
    l = select_parse("a, b ,c", 7, &col, &err);
    assert_non_null(l);
    assert_int_equal(select_count(l), 3);
    m = select_parse("#x", 2, &col, &err);
    assert_non_null(m);
    elem_build(&el, "p|id=x", NULL);
    assert_false(select_match(l, &el.e));
    select_list_merge(l, m);
    assert_int_equal(select_count(l), 4);
    assert_true(select_match(l, &el.e));
    m = select_parse("q", 1, &col, &err);
    select_list_merge(l, m);
    assert_int_equal(select_count(l), 5);
    elem_build(&el, "Q", NULL);
    assert_true(select_match(l, &el.e));
    select_free(l);
    assert_int_equal(select_count(NULL), 0);
    assert_false(select_match(NULL, &el.e));
    select_free(NULL);
}

static void test_not_nul_terminated(void **state)
{
    static const char text[] = "inputXXX";
    struct select_list *l;
    struct test_elem el;
    struct err err;
    size_t col;
    (void)state;
    err_clear(&err);
    l = select_parse(text, 5, &col, &err);
    assert_non_null(l);
    elem_build(&el, "input", NULL);
    assert_true(select_match(l, &el.e));
    select_free(l);
}

struct reject_case {
    const char *sel;
    size_t col;
    const char *msg;
};

static const struct reject_case rejects[] = {
    {"", 0, "expected a selector"},
    {"   ", 3, "expected a selector"},
    {"a,", 2, "expected a selector after ','"},
    {"a, ", 3, "expected a selector after ','"},
    {",a", 0, "unexpected ','"},
    {"a,,b", 2, "unexpected ','"},
    {"a > b", 2, "combinator '>'"},
    {"a>b", 1, "combinator '>'"},
    {"a + b", 2, "combinator '+'"},
    {"a ~ b", 2, "combinator '~'"},
    {"a:hover", 1, "pseudo-classes"},
    {"input:not(.x)", 5, "pseudo-classes"},
    {"a :first-child", 2, "pseudo-classes"},
    {"p::before", 1, "pseudo-elements"},
    {"[lang|=en]", 5, "operator '|='"},
    {"[class~=a]", 6, "operator '~='"},
    {"[a!=b]", 2, "operator '!='"},
    {"[a=b i]", 5, "attribute flags"},
    {"[a=\"b\" s]", 7, "attribute flags"},
    {"[a=\"b\"i]", 6, "attribute flags"},
    {"svg|a", 3, "namespaces"},
    {"*|a", 1, "namespaces"},
    {"|a", 0, "namespaces"},
    {"[xlink|href]", 6, "namespaces"},
    {"[*|href]", 2, "namespaces"},
    {"[|href]", 1, "namespaces"},
    {"[a", 2, "expected '=', '^=', '$=', '*=' or ']'"},
    {"[a=b", 4, "expected ']'"},
    {"[a='b", 3, "unterminated string"},
    {"[a=\"b\nc\"]", 3, "unterminated string"},
    {"[a=\"b\\", 3, "unterminated string"},
    {"[a=]", 3, "an identifier or a quoted string"},
    {"[a=1]", 3, "an identifier or a quoted string"},
    {"[=a]", 1, "an attribute name"},
    {"[]", 1, "an attribute name"},
    {"#", 1, "an id after '#'"},
    {"#1a", 1, "an id after '#'"},
    {".", 1, "a class name after '.'"},
    {"a.", 2, "a class name after '.'"},
    {"a. b", 2, "a class name after '.'"},
    {"a*", 1, "unexpected '*'"},
    {"[a]b", 3, "unexpected 'b'"},
    {"1a", 0, "unexpected '1'"},
    {"a)", 1, "unexpected ')'"},
    {"a\\", 1, "unexpected '\\'"},
    {"a\x01", 1, "unexpected byte 0x01"},
    {"div, p > a", 7, "combinator '>'"},
    {"-1a", 0, "unexpected '-'"},
};

static void test_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
        const struct reject_case *rc = &rejects[i];
        struct select_list *l;
        struct err err;
        size_t col = 999;

        err_clear(&err);
        l = select_parse(rc->sel, strlen(rc->sel), &col, &err);
        if (l != NULL)
            fail_msg("\"%s\" was accepted", rc->sel);
        if (col != rc->col || strstr(err.msg, rc->msg) == NULL)
            fail_msg("\"%s\": got column %zu \"%s\", want column %zu \"%s\"", rc->sel, col, err.msg,
                     rc->col, rc->msg);
    }
}

/* Walk an allocation failure through a parse: a clean error and no leak. */
static void test_alloc_failures(void **state)
{
    static const char text[] = "form#pay .row input[type=text], [data-x^='y'] p.a";
    (void)state;
    for (long n = 0; n < 64; n++) {
        struct select_list *l;
        struct err err;
        size_t col;
        long before = mem_live();

        err_clear(&err);
        mem_fail_after(n);
        l = select_parse(text, sizeof(text) - 1, &col, &err);
        mem_fail_after(-1);
        if (l == NULL) {
            assert_non_null(strstr(err.msg, "out of memory"));
        } else {
            assert_int_equal(select_count(l), 2);
            select_free(l);
        }
        assert_int_equal(mem_live(), before);
        if (l != NULL)
            break;
    }
}

static int leak_setup(void **state)
{
    static long live;
    live = mem_live();
    *state = &live;
    return 0;
}

static int leak_teardown(void **state)
{
    assert_int_equal(mem_live(), *(long *)*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_type_and_universal, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_id, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_escapes, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_class, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_attr_exists_equals, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_attr_substring_ops, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_descendant, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_lists, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_not_nul_terminated, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_rejects, leak_setup, leak_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, leak_setup, leak_teardown),
    };
    return cmocka_run_group_tests_name("select", tests, NULL, NULL);
}
