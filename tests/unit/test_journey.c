/* journey: context records from a session's events. Records are read back
 * with jansson, the test oracle, so their JSON framing is checked too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "rules/journey.h"
#include "leak.h"

static struct journey_step steps[] = {
    {"personal", "/apply/personal*", "personal"},
    {"payment", "/apply/payment*", "pay"},
};
static struct journey_conf jc = {"loan", steps, 2, "/apply/done*", "complete", 60000};

/* The nth record (0-based) of out, parsed; NULL past the end. */
static json_t *record(const struct buf *out, int nth)
{
    const char *p = out->data;

    for (int i = 0; p != NULL && i < nth; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (p == NULL || *p == '\0')
        return NULL;
    return json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, NULL);
}

static int count_records(const struct buf *out)
{
    int n = 0;

    for (size_t i = 0; i < out->len; i++)
        n += out->data[i] == '\n';
    return n;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void test_full_journey(void **state)
{
    struct journey_state *st = journey_state_new();
    struct buf out;
    struct journey_ctx c = {&jc, "S3ss10n", "mobile", 0, &out};
    json_t *r;

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(journey_on_step(st, &c, "personal", 1000), 0);
    assert_int_equal(journey_on_input(st, &c, "email", 1, 1500), 0);
    assert_int_equal(journey_on_input(st, &c, "email", 1, 2500), 0);
    assert_int_equal(journey_on_validation(st, &c, "email", "invalid", "format", 2600), 0);
    assert_int_equal(journey_on_submit(st, &c, 3000), 0);
    assert_int_equal(journey_on_step(st, &c, "payment", 4000), 0);
    assert_int_equal(journey_on_complete(st, &c, 9000), 0);
    /* enter, field, submit, leave, enter, leave, complete */
    assert_int_equal(count_records(&out), 7);

    r = record(&out, 0);
    assert_string_equal(str(r, "type"), "step_enter");
    assert_string_equal(str(r, "journey"), "loan");
    assert_string_equal(str(r, "session"), "S3ss10n");
    assert_string_equal(str(r, "device"), "mobile");
    assert_true(json_is_false(json_object_get(r, "returning")));
    json_decref(r);

    r = record(&out, 1);
    assert_string_equal(str(r, "type"), "field_state");
    assert_string_equal(str(r, "step"), "personal");
    assert_string_equal(str(r, "field"), "email");
    assert_string_equal(str(r, "state"), "invalid");
    assert_string_equal(str(r, "code"), "format");
    assert_int_equal(num(r, "edits"), 2);
    assert_int_equal(num(r, "time_in_field_ms"), 1000);
    assert_true(json_is_true(json_object_get(r, "filled")));
    json_decref(r);

    r = record(&out, 2);
    assert_string_equal(str(r, "type"), "submit");
    json_decref(r);
    r = record(&out, 3);
    assert_string_equal(str(r, "type"), "step_leave");
    assert_string_equal(str(r, "step"), "personal");
    assert_int_equal(num(r, "dwell_ms"), 3000);
    json_decref(r);
    r = record(&out, 5);
    assert_string_equal(str(r, "type"), "step_leave");
    assert_string_equal(str(r, "step"), "payment");
    assert_int_equal(num(r, "dwell_ms"), 5000);
    json_decref(r);
    r = record(&out, 6);
    assert_string_equal(str(r, "type"), "complete");
    assert_int_equal(num(r, "ttc_ms"), 8000);
    json_decref(r);
    journey_state_free(st);
    buf_free(&out);
}

static void test_abandon_only_when_idle(void **state)
{
    struct journey_state *st = journey_state_new();
    struct buf out;
    struct journey_ctx c = {&jc, "s", NULL, -1, &out};
    json_t *r;

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(journey_on_step(st, &c, "payment", 1000), 0);
    assert_int_equal(journey_on_validation(st, &c, "iban", "invalid", "checksum", 2000), 0);
    assert_int_equal(journey_expire(st, &c, 2000 + 59999), 0);
    assert_int_equal(count_records(&out), 2); /* not idle long enough */
    assert_int_equal(journey_expire(st, &c, 2000 + 60000), 0);
    assert_int_equal(journey_expire(st, &c, 2000 + 90000), 0); /* once only */
    assert_int_equal(count_records(&out), 3);
    r = record(&out, 2);
    assert_string_equal(str(r, "type"), "abandon");
    assert_string_equal(str(r, "last_step"), "payment");
    assert_string_equal(str(r, "last_field"), "iban");
    assert_string_equal(str(r, "last_state"), "invalid");
    assert_string_equal(str(r, "last_code"), "checksum");
    assert_int_equal(num(r, "idle_ms"), 60000);
    assert_null(json_object_get(r, "device"));
    json_decref(r);
    journey_state_free(st);
    buf_free(&out);
}

static void test_complete_never_abandons(void **state)
{
    struct journey_state *st = journey_state_new();
    struct buf out;
    struct journey_ctx c = {&jc, "s", NULL, -1, &out};

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(journey_on_step(st, &c, "payment", 1000), 0);
    assert_int_equal(journey_on_complete(st, &c, 2000), 0);
    assert_int_equal(journey_expire(st, &c, 10000000), 0);
    assert_null(strstr(out.data, "abandon"));
    journey_state_free(st);
    buf_free(&out);
}

static void test_names_are_escaped_and_bounded(void **state)
{
    struct journey_state *st = journey_state_new();
    struct buf out;
    struct journey_ctx c = {&jc, "s", NULL, -1, &out};
    char longname[400];
    json_t *r;

    (void)state;
    buf_init(&out, 0);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(journey_on_step(st, &c, "a\"b\\c\n", 1), 0);
    assert_int_equal(journey_on_validation(st, &c, longname, "valid", NULL, 2), 0);
    r = record(&out, 0);
    assert_non_null(r);
    assert_string_equal(str(r, "step"), "a\"b\\c\n");
    json_decref(r);
    r = record(&out, 1);
    assert_int_equal(strlen(str(r, "field")), JOURNEY_NAME_MAX);
    assert_null(json_object_get(r, "code"));
    json_decref(r);
    journey_state_free(st);
    buf_free(&out);
}

static void test_field_bound(void **state)
{
    struct journey_state *st = journey_state_new();
    struct buf out;
    struct journey_ctx c = {&jc, "s", NULL, -1, &out};
    char name[16];

    (void)state;
    buf_init(&out, 0);
    for (int i = 0; i < JOURNEY_MAX_FIELDS + 10; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        assert_int_equal(journey_on_validation(st, &c, name, "valid", NULL, (uint64_t)i), 0);
    }
    assert_int_equal(count_records(&out), JOURNEY_MAX_FIELDS);
    journey_state_free(st);
    buf_free(&out);
}

static void test_output_cap(void **state)
{
    struct journey_state *st = journey_state_new();
    struct buf out;
    struct journey_ctx c = {&jc, "s", NULL, -1, &out};

    (void)state;
    buf_init(&out, 20);
    assert_int_equal(journey_on_step(st, &c, "personal", 1), -1);
    journey_state_free(st);
    buf_free(&out);
}

static void test_step_lookup(void **state)
{
    (void)state;
    assert_string_equal(journey_step_for_event(&jc, "pay"), "payment");
    assert_string_equal(journey_step_for_event(&jc, "payment"), "payment");
    assert_null(journey_step_for_event(&jc, "other"));
    assert_string_equal(journey_step_for_url(&jc, "https://bank.example.com/apply/payment?x=1", 41),
                        "payment");
    assert_string_equal(journey_step_for_url(&jc, "/apply/personal", 15), "personal");
    assert_null(journey_step_for_url(&jc, "https://bank.example.com/other/apply/personal", 45));
    assert_string_equal(journey_device_from_width(390), "mobile");
    assert_string_equal(journey_device_from_width(800), "tablet");
    assert_string_equal(journey_device_from_width(1440), "desktop");
    assert_null(journey_device_from_width(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_full_journey),
        LEAK_TEST(test_abandon_only_when_idle),
        LEAK_TEST(test_complete_never_abandons),
        LEAK_TEST(test_names_are_escaped_and_bounded),
        LEAK_TEST(test_field_bound),
        LEAK_TEST(test_output_cap),
        LEAK_TEST(test_step_lookup),
    };
    return cmocka_run_group_tests_name("journey", tests, NULL, NULL);
}
