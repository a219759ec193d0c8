/*
 * fuzz_select: select_parse and select_match on arbitrary bytes.
 *
 * Invariants: an error names a column inside the text (or just past it);
 * a list that parses also parses twice over, comma-joined, with twice the
 * selectors and the same verdict on every element; nothing leaks.
 */
#include "common/mem.h"
#include "rules/select.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct select_attr html_attrs[] = {{"lang", 4, "en", 2}};
static const struct select_attr form_attrs[] = {{"id", 2, "pay", 3}, {"class", 5, "row a-b", 7}};
static const struct select_attr input_attrs[] = {
    {"type", 4, "text", 4},
    {"name", 4, "card", 4},
    {"data-private", 12, "", 0},
    {"CLASS", 5, " card  x ", 9},
    {"href", 4, "https://x/y.pdf", 15},
};
static const struct select_elem html = {"html", 4, html_attrs, 1, NULL};
static const struct select_elem body = {"BODY", 4, NULL, 0, &html};
static const struct select_elem form = {"form", 4, form_attrs, 2, &body};
static const struct select_elem input = {"input", 5, input_attrs, 5, &form};
static const struct select_elem *const elems[] = {&html, &body, &form, &input};

static void check_twice(const char *text, size_t size, const struct select_list *once)
{
    char *twice = xmalloc(2 * size + 1);
    struct select_list *l;
    struct err err;
    size_t col;

    memcpy(twice, text, size);
    twice[size] = ',';
    memcpy(twice + size + 1, text, size);
    err_clear(&err);
    l = select_parse(twice, 2 * size + 1, &col, &err);
    if (l == NULL || select_count(l) != 2 * select_count(once))
        abort();
    for (size_t i = 0; i < sizeof(elems) / sizeof(elems[0]); i++)
        if (select_match(l, elems[i]) != select_match(once, elems[i]))
            abort();
    select_free(l);
    xfree(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = mem_live();
    const char *text = (const char *)data;
    struct select_list *l;
    struct err err;
    size_t col = (size_t)-1;

    err_clear(&err);
    l = select_parse(text, size, &col, &err);
    if (l == NULL) {
        if (col > size || !err.set)
            abort();
    } else {
        if (select_count(l) == 0)
            abort();
        check_twice(text, size, l);
        select_free(l);
    }
    if (mem_live() != live)
        abort();
    return 0;
}
