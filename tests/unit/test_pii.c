/*
 * test_pii: the PII detectors, their validators, custom detectors, overlap
 * resolution and the fail-closed rule.
 *
 * Cases are written as marked strings: the bytes between B and E are a
 * span the detector must report, exactly; a string with no marks must
 * produce no match at all. Every scan runs on an exact-size heap copy of
 * the input, so a detector that reads past n trips ASan. Every test checks
 * mem_live() before and after (teardown), so a leak fails it.
 *
 * Values are the well-known fake ones: test cards (4111 1111 1111 1111),
 * the Woolworth SSN 078-05-1120, the IBAN registry's example IBANs,
 * @example.com addresses and 555-01xx phone numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/arena.h"
#include "common/mem.h"
#include "rules/pii.h"
#include "rules/pii_impl.h"

#define B         "\x01" /* a span begins */
#define E         "\x02" /* a span ends */
#define MAX_SPANS 16
#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

static long live_before;

struct spans {
    size_t start[MAX_SPANS], end[MAX_SPANS];
    size_t n;
};

struct rig {
    struct pii_set *set;
    struct pii_scanner *sc;
    struct arena *a;
};

static int setup(void **state)
{
    (void)state;
    live_before = mem_live();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return mem_live() == live_before ? 0 : -1;
}

/* Strip the marks of m into text (returns its length) and record spans. */
static size_t unmark(const char *m, char *text, size_t cap, struct spans *sp)
{
    size_t n = 0;

    sp->n = 0;
    for (; *m != '\0'; m++) {
        if (*m == B[0]) {
            assert_true(sp->n < MAX_SPANS);
            sp->start[sp->n] = n;
        } else if (*m == E[0]) {
            sp->end[sp->n++] = n;
        } else {
            assert_true(n < cap);
            text[n++] = *m;
        }
    }
    return n;
}

static void rig_open(struct rig *r, const char *const *names, size_t nnames)
{
    struct err err = {{0}, 0};

    r->set = pii_set_new();
    assert_non_null(r->set);
    for (size_t i = 0; i < nnames; i++)
        assert_int_equal(pii_set_add_builtin(r->set, names[i], &err), (int)i);
    r->sc = pii_scanner_new(r->set, NULL);
    assert_non_null(r->sc);
    r->a = arena_new(0);
    assert_non_null(r->a);
}

static void rig_open_all(struct rig *r)
{
    size_t n;
    const char *const *names = pii_builtin_names(&n);

    rig_open(r, names, n);
}

static void rig_close(struct rig *r)
{
    arena_free(r->a);
    pii_scanner_free(r->sc);
    pii_set_free(r->set);
}

/* Scan an exact-size heap copy of s[0..n). */
static enum pii_status scan_copy(struct rig *r, const char *s, size_t n, struct pii_match **m,
                                 size_t *cnt)
{
    char *copy = xmalloc(n ? n : 1);
    enum pii_status st;

    memcpy(copy, s, n);
    st = pii_scan(r->sc, r->a, copy, n, m, cnt);
    xfree(copy);
    return st;
}

static void check_marked(struct rig *r, const char *marked)
{
    char text[1024];
    struct spans sp;
    size_t n = unmark(marked, text, sizeof(text), &sp), cnt;
    struct pii_match *m;

    arena_reset(r->a);
    assert_int_equal(scan_copy(r, text, n, &m, &cnt), PII_OK);
    if (cnt != sp.n)
        fail_msg("\"%.*s\": %zu matches, want %zu (first at %zu-%zu)", (int)n, text, cnt, sp.n,
                 cnt ? m[0].start : 0, cnt ? m[0].end : 0);
    for (size_t i = 0; i < cnt; i++)
        if (m[i].start != sp.start[i] || m[i].end != sp.end[i])
            fail_msg("\"%.*s\": match %zu is %zu-%zu (%s), want %zu-%zu", (int)n, text, i,
                     m[i].start, m[i].end, pii_set_name(r->set, m[i].detector), sp.start[i],
                     sp.end[i]);
}

/* Run marked cases against a set holding only detector name. */
static void run_cases(const char *name, const char *const *cases, size_t ncases)
{
    struct rig r;

    rig_open(&r, &name, 1);
    for (size_t i = 0; i < ncases; i++)
        check_marked(&r, cases[i]);
    rig_close(&r);
}

static void run_cases_all(const char *const *cases, size_t ncases)
{
    struct rig r;

    rig_open_all(&r);
    for (size_t i = 0; i < ncases; i++)
        check_marked(&r, cases[i]);
    rig_close(&r);
}

/* ---- names and sets ---- */

static void test_builtin_names(void **state)
{
    static const char *const want[] = {"email", "card", "iban", "ssn",    "phone",
                                       "ipv4",  "ipv6", "jwt",  "api_key"};
    struct err err = {{0}, 0};
    struct pii_set *set = pii_set_new();
    size_t n;
    const char *const *names = pii_builtin_names(&n);

    (void)state;
    assert_string_equal(pii_builtin_card->name, "card"); /* the shortcuts' entries */
    assert_string_equal(pii_builtin_phone->name, "phone");
    assert_int_equal(n, NCASES(want));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i]);
        assert_true(pii_builtin_exists(names[i]));
    }
    assert_false(pii_builtin_exists("passport"));
    assert_false(pii_builtin_exists("EMAIL"));
    assert_false(pii_builtin_exists(""));
    assert_int_equal(pii_set_add_builtin(set, "passport", &err), -1);
    assert_non_null(strstr(err.msg, "passport"));
    assert_int_equal(pii_set_count(set), 0);
    assert_int_equal(pii_set_add_builtin(set, "ssn", &err), 0);
    assert_int_equal(pii_set_add_builtin(set, "email", &err), 1);
    assert_int_equal(pii_set_count(set), 2);
    assert_string_equal(pii_set_name(set, 0), "ssn");
    assert_string_equal(pii_set_name(set, 1), "email");
    assert_null(pii_set_name(set, 2));
    assert_null(pii_set_name(set, -1));
    pii_set_free(set);
    pii_set_free(NULL);
    pii_scanner_free(NULL);
}

/* ---- email ---- */

static const char *const email_cases[] = {
    B "jane@example.com" E,
    "Contact " B "john.doe+tag@example.co.uk" E ".",
    B "first_last-x@sub.example.org" E,
    "mailto:" B "jane@example.com" E "?subject=hi",
    "/signup?email=" B "jane%40example.com" E "&plan=pro",
    /* a percent-escape's hex digits can begin a local part: they join the
     * match (masking two more characters is the safe side) */
    "q=%" B "22jane@example.com" E "%22",
    "%" B "jane.doe@example.com" E,
    "." B "jane@example.com" E,
    B "jane@example.com" E "--x",
    "<" B "a@b.io" E ">",
    "My email is " B "HELLO@EXAMPLE.COM" E,
    B "user@xn--80ak6aa92e.com" E,
    B "a@xn--d1acufc.xn--p1ai" E,
    "two: " B "a@example.com" E ", " B "b@example.org" E,
    "(" B "jane@example.com" E ")",
    B "john5551230100@example.com" E,
    "\"" B "o.neil@example.com" E "\"",
    B "x@example.museum" E,
    "hello-world here",
    "jane@localhost",
    "my email is info@presidio.",
    "@example.com",
    "@handle mention",
    "jane@@example.com",
    "jane at example dot com",
    "user@example.c",
    "user@-example.com",
    "user@example.com1",
    "user@mail.example.c0m",
    "version@1.2.3",
    "a@b",
    "%40example.com",
};

static void test_email(void **state)
{
    (void)state;
    run_cases("email", email_cases, NCASES(email_cases));
}

/* ---- card ---- */

static const char *const card_cases[] = {
    B "4111 1111 1111 1111" E,
    B "4111-1111-1111-1111" E,
    B "4111111111111111" E,
    /* digits-only strings (JSON numbers, epoch ms) take the Luhn shortcut */
    "1764400000000",
    "4111111111111112",
    "41111111111111111111",
    "Card: " B "5555555555554444" E ".",
    B "5105 1051 0510 5100" E,
    B "2223003122003222" E,
    B "378282246310005" E,
    B "3782 822463 10005" E,
    B "6011111111111117" E,
    B "6011 0009 9013 9424" E,
    B "3530111333300000" E,
    B "35660020 20360505" E,
    B "30569309025904" E,
    B "3056 930902 5904" E,
    B "4222222222222" E,
    B "4111111111111111110" E,
    B "6200000000000005" E,
    B "5019717010103742" E,
    B "6759649826438453" E,
    B "122000000000003" E,
    B "2200000000000004" E,
    "ref 12 " B "4111111111111111" E,
    B "4111 1111 1111 1111" E " 123",
    "cards " B "4111111111111111" E " " B "5555555555554444" E,
    B "4012888888881881" E " " B "4012-8888-8888-1881" E " " B "4012 8888 8888 1881" E,
    "order-" B "4111111111111111" E,
    "{\"cc\":\"" B "4111111111111111" E "\"}",
    "1234567812345678",
    "order 1234567812345678 shipped",
    "4111 1111 1111 1112",
    "4012-8888-8888-1882",
    "41111111111111111111",
    "x4111111111111111",
    "4111111111111111x",
    "9000000000000001",
    "0000 0000 0000 0000",
    "1748503543012",
    "36168002586008",
    "4111 11 11 1111 1111",
    "4111  1111 1111 1111",
    "4111.1111.1111.1111",
    "123e4567-e89b-12d3-a456-426614174000",
    "978-3-16-148410-0",
    "1700000000000",
    "4111 1111 1111",
    "37828224631000",
};

static void test_card(void **state)
{
    (void)state;
    run_cases("card", card_cases, NCASES(card_cases));
}

/* ---- IBAN ---- */

static const char *const iban_cases[] = {
    B "GB82 WEST 1234 5698 7654 32" E,
    B "GB82WEST12345698765432" E,
    B "DE89 3704 0044 0532 0130 00" E,
    B "DE89370400440532013000" E,
    "IBAN: " B "FR14 2004 1010 0505 0001 3M02 606" E ".",
    B "NL91ABNA0417164300" E,
    B "NO9386011117947" E,
    B "MT84MALT011000012345MTLCAST001S" E,
    B "LC55HEMM000100010012001200023015" E,
    B "gb82west12345698765432" E,
    B "DE89-3704-0044-0532-0130-00" E,
    B "GB82 WEST 1234 5698 7654 32" E " BIC NWBKGB2L",
    "pay to " B "GB82WEST12345698765432" E ", thanks",
    "iban=" B "DE89370400440532013000" E "&x=1",
    "XX12 " B "GB82WEST12345698765432" E,
    B "CH93 0076 2011 6238 5295 7" E,
    B "BE68 5390 0754 7034" E,
    B "IT60 X054 2811 1010 0000 0123 456" E,
    B "ES91 2100 0418 4502 0005 1332" E,
    B "PL61 1090 1014 0000 0712 1981 2874" E,
    B "SA03 8000 0000 6080 1016 7519" E,
    B "BR18 0036 0305 0000 1000 9795 493C 1" E,
    "[" B "AT61 1904 3002 3457 3201" E "]",
    B "DE89 3704 0044 0532 0130 00" E " 1",
    "GB82 WEST 1234 5698 7654 33",
    "GB82WEST1234569876543",
    "GB82WEST123456987654321",
    "XX82WEST12345698765432",
    "LV80 bANK 0000 4351 9500 1",
    "GB82 WEST 1234 5698 7654 32x",
    "ZZZFO6666000000000000031231ZZZ",
    "G T82 TRAJ 0102 0000 0012 1002 9690",
    "GB82  WEST 1234 5698 7654 32",
    "AB12 3456",
    "CH93 0076 2011 6238 5295 8",
    "Gb82WEST12345698765432",
    "DE89 3704 0044 0532 0130 0",
    "DE89 3704 0044 0532 0130 001",
    "xDE89370400440532013000",
    "DE89 3704 0044 0532 0130 00x",
    "DE89_3704_0044_0532_0130_00",
};

static void test_iban(void **state)
{
    (void)state;
    run_cases("iban", iban_cases, NCASES(iban_cases));
}

/* ---- SSN ---- */

static const char *const ssn_cases[] = {
    "id_" B "078-05-1120" E "_x",
    B "078-05-1120" E,
    "SSN " B "078 05 1120" E,
    B "078.05.1120" E,
    "hello " B "123-12-1234" E " world",
    "{ \"ssn\": \"" B "123-45-6789" E "\"}",
    "my ssn: " B "123456789" E ".",
    "Social Security Number " B "078051120" E,
    "ssn=" B "078051120" E,
    B "078051120" E " (SSN)",
    B "772-10-0001" E,
    "000-12-3456",
    "666-12-3456",
    "900-12-3456",
    "999-12-3456",
    "123-00-4567",
    "123-45-0000",
    "123456789",
    "order 123456789",
    "lessness 123456789",
    "ssn ........................................ 123456789",
    "123-45-67890",
    "1123-45-6789",
    "123-456-789",
    "123-45.6789",
    "693-09.4444",
    "12-345-6789",
    "078-051121",
    "123-45-6789-1",
    "x123-45-6789",
    "4111 078 05 1120",
    "078 05 1120 2024",
};

static void test_ssn(void **state)
{
    (void)state;
    run_cases("ssn", ssn_cases, NCASES(ssn_cases));
}

/* ---- phone ---- */

static const char *const phone_cases[] = {
    B "(555) 555-0100" E,
    B "555-555-0100" E,
    B "555.555.0100" E,
    B "+1 555 555 0100" E,
    B "+1-555-555-0100" E,
    B "1-555-555-0100" E,
    B "1 (555) 555-0100" E,
    B "5555550100" E,
    B "(555)555-0100" E,
    B "020 7946 0958" E,
    B "+44 20 7946 0958" E,
    B "+44 (0)20 7946 0958" E,
    B "01 23 45 67 89" E,
    B "+33 1 23 45 67 89" E,
    B "+49 30 1234567" E,
    B "030 1234567" E,
    B "07700 900123" E,
    B "07700900123" E,
    B "090-1234-5678" E,
    B "+81 90-1234-5678" E,
    B "13812345678" E,
    B "0044 20 7946 0958" E,
    "call " B "555-555-0100 x12" E,
    B "555-555-0100 ext. 12" E,
    B "555-555-0100 ext.12" E,
    "tel:" B "+15555550100" E,
    "phone=" B "5555550100" E "&a=b",
    "room 12 " B "555-555-0100" E,
    "2024-01-15 " B "555-555-0100" E,
    B "+61267881324" E,
    "my phone: " B "(+44) (555)123-1234" E ".",
    "cell " B "555.555.0101" E " or office " B "555.555.0102" E,
    "2024-01-15",
    "15/01/2024",
    "01/15/2024",
    "2024.01.15",
    "15.01.2024",
    "01-02-2024",
    "Born on 01-02-1990",
    "12:30:45",
    "2024-01-15T10:30:00Z",
    "2024-01-15 10:30:00.123",
    "1.2.3",
    "10.0.19045.3803",
    "v2.0.1",
    "1.2.3.4.5.6.7.8",
    "1700000000",
    "1700000000000",
    "12345678901234",
    "order 123456789012",
    "192.168.1.1",
    "10.0.0.255",
    "1,234,567.89",
    "$1 234 567.89",
    "4111 1111 1111 1111",
    "4111111111111111",
    "078-05-1120",
    "078 05 1120",
    "978-3-16-148410-0",
    "0-306-40615-2",
    "90210",
    "90210-1234",
    "123e4567-e89b-12d3-a456-426614174000",
    "000-000-0000",
    "123-456-7890",
    "555-123-4567",
    "1234567890",
    "555-0100",
    "+123",
    "+1 555",
    "id5555550100",
    "x-5555550100",
    "91-415-555-0132",
    "+1 4111 1111 1111 1111",
    "01 4111 1111 1111 1111",
    "height 150 cm",
    "listening on port 8080",
};

static void test_phone(void **state)
{
    (void)state;
    run_cases("phone", phone_cases, NCASES(phone_cases));
}

/* ---- IPv4 ---- */

static const char *const ipv4_cases[] = {
    B "192.168.1.1" E,
    "IP: " B "10.0.0.1" E ".",
    B "255.255.255.255" E,
    B "0.0.0.0" E,
    "(" B "192.168.1.1" E ")",
    B "192.168.1.0/24" E,
    B "0.0.0.0/0" E,
    B "10.0.0.0" E "/123",
    "host " B "192.168.2.1" E "@eth0",
    B "1.2.3.4" E,
    B "127.0.0.1" E ":8080",
    "a " B "10.0.0.1" E ", b " B "172.16.0.1" E,
    "text::ffff:" B "192.0.2.1" E,
    B "169.254.1.1" E,
    "[" B "192.168.1.1" E "]",
    "http://" B "192.168.0.1" E "/admin",
    "x=" B "10.1.1.235" E ";",
    B "192.168.1.1" E "/33",
    "ips: " B "192.168.1.1" E ", " B "10.0.0.1" E ", 2001:db8::1",
    "1.2.3.4.5",
    "256.1.1.1",
    "192.168.1.256",
    "192.168.1",
    "192.168.01.1",
    "text192.168.1.1",
    "192.168.1.1text",
    "v1.2.3.4",
    "1.2.3",
    "10.0.19045.3803",
    "999.999.999.999",
    "192.168.1.1.1",
    "1.2.3.04",
    "01.2.3.4",
    "1..2.3.4",
    "1.2.3.",
    "a.b.c.d",
    "My IP is " B "1.2.3.4" E ".",
};

static void test_ipv4(void **state)
{
    (void)state;
    run_cases("ipv4", ipv4_cases, NCASES(ipv4_cases));
}

/* ---- IPv6 ---- */

static const char *const ipv6_cases[] = {
    B "2001:db8::1" E,
    B "2001:0db8:85a3:0000:0000:8a2e:0370:7334" E,
    B "fe80::1%eth0" E,
    B "::1" E,
    B "::ffff:192.0.2.1" E,
    B "::192.168.1.1" E,
    B "2001:db8::/32" E,
    B "2001:db8::" E "/9999",
    "[" B "2001:db8::1" E "]:8080",
    B "1:2:3:4:5:6:7:8" E,
    B "2001:db8::" E,
    B "64:ff9b::192.0.2.1" E,
    B "0:0:0:0:0:FFFF:129.144.52.38" E,
    "Server " B "2400:c401::5054:ff:fe1b:b031" E ".",
    B "2001:db8::1" E ".",
    "SSH to user@" B "2001:db8::1" E,
    B "1234:ABCD:23AF:1111:2222:3333::" E "!",
    "::",
    "::/0",
    "12:30:45",
    "aa:bb:cc:dd:ee:ff",
    "aa:bb:cc:dd:ee:ff:00:11",
    "2001::db8::1",
    "12345::1",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "std::cout",
    "MyClass::toString",
    "fe80::1text",
    "text2001:db8::1",
    "gggg::1",
    "::ffff:256.0.0.1",
    "::ffff:192.168.1",
    "Ratio 1:2:3:4",
    "abc:def:ghi",
    ":::",
};

static void test_ipv6(void **state)
{
    (void)state;
    run_cases("ipv6", ipv6_cases, NCASES(ipv6_cases));
}

/* ---- JWT ---- */

#define JWT_HS256                                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaW"  \
    "F0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

static const char *const jwt_cases[] = {
    B JWT_HS256 E,
    "Authorization: Bearer " B JWT_HS256 E,
    "token=" B JWT_HS256 E "&next=/",
    B "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0." E,
    "{\"id_token\":\"" B JWT_HS256 E "\"}",
    "/cb#access_token=" B JWT_HS256 E "&state=x",
    B "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKo"
      ".48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZo"
      "detZdvTiFvSkQ" E,
    "cookie: session=" B JWT_HS256 E "; Path=/",
    B "eyJhbGciOiJIUzI1NiJ9.e30.c2ln" E,
    "eyJhbGciOiJIUzI1NiJ9",
    "eyJ.abc.def",
    "abc.eyJhbGciOiJIUzI1NiJ9.xyz",
    "x" JWT_HS256,
    "eyJhbGciOiJIUzI1NiJ9.e.sig",
    "eyJhbGciOiJIUzI1NiJ9..sig",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
    "eyJhbGciOi.eyJzdWIiOiIxIn0.sig",
    "Eyjhbgcioijiuzi1nij9.eyJzdWIiOiIxIn0.c2ln",
    "eyJhbGciOiJIUzI1NiJ9 eyJzdWIiOiIxIn0 c2ln",
};

static void test_jwt(void **state)
{
    (void)state;
    run_cases("jwt", jwt_cases, NCASES(jwt_cases));
}

/* ---- API keys ---- */

static const char *const api_key_cases[] = {
    B "AKIAIOSFODNN7EXAMPLE" E,
    "aws_access_key_id=" B "ASIAY34FZKBOKMUTVV7A" E,
    B "ghp_abcdefghijklmnopqrstuvwxyz0123456789" E,
    B "gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" E,
    B "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRST" E,
    B "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx" E,
    B "sk_live_4eC39HqLyjWDarjtT1zdp7dc" E,
    B "rk_test_4eC39HqLyjWDarjtT1zdp7dc" E,
    B "pk_live_4eC39HqLyjWDarjtT1zdp7dc" E,
    B "AIzaSyA1234567890abcdefghijklmnopqrstuv" E,
    B "sk-proj-abcDEF123_ghiJKL456-mnoPQR789stu" E,
    B "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL" E,
    "key: \"" B "AKIAIOSFODNN7EXAMPLE" E "\"",
    B "ghs_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" E,
    B "ghr_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" E,
    B "ghu_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" E,
    B "xoxp-1234567890-1234567890-1234567890-abcdef0123456789abcdef0123456789" E,
    B "sk_test_4eC39HqLyjWDarjtT1zdp7dc" E,
    B "sk-ant-api03-abcdefghijklmnopqrstuvwxyz_0123456789-ABCDEFG" E,
    B "sk-svcacct-abcdefghijklmnopqrstuvwxyz0123" E,
    "{\"apiKey\":\"" B "AIzaSyA1234567890abcdefghijklmnopqrstuv" E "\"}",
    "AKIAIOSFODNN7EXAMPL",
    "AKIAIOSFODNN7EXAMPLEX",
    "xAKIAIOSFODNN7EXAMPLE",
    "ghp_short",
    "sk-short",
    "sk-this-is-a-css-class-name-thing",
    "pk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_live_short",
    "AIzaSyA1234567890abcdefghijklmnopqrst",
    "MuiButton-containedPrimary-largeSize",
    "akiaiosfodnn7example",
    "AKIAiosfodnn7example",
    "ghp_abcdefghijklmnopqrstuvwxyz012345678",
    "xoxb-short",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv_",
    "sk-proj-short",
    "my-sk-abcdefghijklmnopqrstuvwxyz",
};

static void test_api_key(void **state)
{
    (void)state;
    run_cases("api_key", api_key_cases, NCASES(api_key_cases));
}

/* ---- whole set: replay-shaped and numeric strings without PII ---- */

static const char *const nothing_cases[] = {
    "",
    "a",
    "Submit",
    "node-123",
    "btn btn-primary",
    "MuiButton-root MuiButton-contained",
    "Welcome back, please sign in to continue.",
    "2024-01-15",
    "15/01/2024",
    "12:30:45",
    "2024-01-15T10:30:00.000Z",
    "1.2.3",
    "10.0.19045.3803",
    "1700000000",
    "1700000000000",
    "$1,234,567.89",
    "EUR 12.345,67",
    "90210-1234",
    "123e4567-e89b-12d3-a456-426614174000",
    "ISBN 978-3-16-148410-0",
    "ISBN 0-306-40615-2",
    "order 1234567812345678",
    "#ff00aa",
    "std::cout << x",
    "width: 1920px",
    "Page 3 of 17",
    "Lat 51.507351 Lon -0.127758",
    "SKU 000123456",
    "id=123456789",
    "ref 9876543210123",
    "Tracking 1Z999AA10123456784",
    "Invoice INV-2024-000123",
    "Quantity: 2",
    "https://example.com/path?id=42&page=3",
    "/static/js/main.3f9a1c2b.chunk.js",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "The quick brown fox jumps over the lazy dog 3 times",
};

static void test_nothing(void **state)
{
    (void)state;
    run_cases_all(nothing_cases, NCASES(nothing_cases));
}

/* ---- overlap resolution with every built-in ---- */

static const char *const overlap_cases[] = {
    /* an email holding digits is an email, not a phone */
    B "john5551230100@example.com" E,
    B "5555550100@example.com" E,
    /* a card is longer than anything a phone could take from it */
    B "4111 1111 1111 1111" E,
    "call " B "555-555-0100" E " pay " B "4111111111111111" E,
    /* nor can a phone number start before a card and swallow its head */
    "+1 " B "4111 1111 1111 1111" E,
    "+" B "4111 1111 1111 1111" E,
    "01 " B "4111 1111 1111 1111" E,
    "555 555 " B "4111 1111 1111 1111" E,
    "call " B "+1 555 555 0100" E " card " B "4111 1111 1111 1111" E,
    /* a partial overlap leaves no tail unmasked: the email (from "0100.")
     * loses to the phone but keeps what lies past it */
    B "+1 555 555 0100" E B ".jane@example.com" E,
    /* the same when an IPv6 address ends in the first group of a UATP card */
    "x " B "::ffff:1234" E B " 56984111654" E " 33",
    /* SSN layout is never a phone */
    B "078-05-1120" E,
    /* an IBAN wins over the phone-like digit groups inside it */
    B "DE89 3704 0044 0532 0130 00" E,
    /* IPv6 with an IPv4 tail is one address */
    B "::ffff:192.168.1.1" E,
    B "64:ff9b::192.0.2.1" E,
    "v4 " B "192.168.1.1" E ", v6 " B "2001:db8::1" E,
    /* a JWT holding digit runs stays one JWT */
    B JWT_HS256 E,
    "mail " B "jane@example.com" E " tel " B "+44 20 7946 0958" E " ssn " B "078-05-1120" E,
};

static void test_overlap(void **state)
{
    (void)state;
    run_cases_all(overlap_cases, NCASES(overlap_cases));
}

/* Ties: same start and length go to the lower index; longer beats shorter;
 * earlier beats longer, and the longer keeps its tail. Custom detectors make
 * the ties exact. */
static void test_overlap_ties(void **state)
{
    struct pii_custom c1 = {"digits4", "[0-9]{4}", PII_VALIDATE_NONE, NULL, 0, 0};
    struct pii_custom c2 = {"digits6", "[0-9]{6}", PII_VALIDATE_NONE, NULL, 0, 0};
    struct pii_custom c3 = {"late", "(?<=x)[0-9]{8}", PII_VALIDATE_NONE, NULL, 0, 0};
    struct pii_custom c4 = {"digits4b", "[0-9]{4}", PII_VALIDATE_NONE, NULL, 0, 0};
    struct pii_custom c5 = {"early", "x[0-9]{2}", PII_VALIDATE_NONE, NULL, 0, 0};
    struct err err = {{0}, 0};
    struct rig r = {pii_set_new(), NULL, arena_new(0)};
    struct pii_match *m;
    size_t cnt;

    (void)state;
    assert_int_equal(pii_set_add_custom(r.set, &c1, NULL, &err), 0);
    assert_int_equal(pii_set_add_custom(r.set, &c2, NULL, &err), 1);
    assert_int_equal(pii_set_add_custom(r.set, &c3, NULL, &err), 2);
    assert_int_equal(pii_set_add_custom(r.set, &c4, NULL, &err), 3);
    r.sc = pii_scanner_new(r.set, NULL);
    assert_non_null(r.sc);
    /* "123456" from 0: digits6 (longer) beats digits4 and digits4b */
    assert_int_equal(scan_copy(&r, "123456", 6, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(m[0].detector, 1);
    /* "1234": digits4 and digits4b tie exactly: the lower index wins */
    assert_int_equal(scan_copy(&r, "1234", 4, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(m[0].detector, 0);
    rig_close(&r);

    r = (struct rig){pii_set_new(), NULL, arena_new(0)};
    assert_int_equal(pii_set_add_custom(r.set, &c3, NULL, &err), 0);
    assert_int_equal(pii_set_add_custom(r.set, &c5, NULL, &err), 1);
    r.sc = pii_scanner_new(r.set, NULL);
    /* "x12345678": early (0-3) starts first and wins over the longer late
     * (1-9), which keeps the part past the winner (3-9) */
    assert_int_equal(scan_copy(&r, "x12345678", 9, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 2);
    assert_int_equal(m[0].detector, 1);
    assert_int_equal(m[0].start, 0);
    assert_int_equal(m[0].end, 3);
    assert_int_equal(m[1].detector, 0);
    assert_int_equal(m[1].start, 3);
    assert_int_equal(m[1].end, 9);
    rig_close(&r);
}

/* ---- validators ---- */

static void test_luhn(void **state)
{
    (void)state;
    assert_true(pii_luhn_valid("4111111111111111", 16));
    assert_true(pii_luhn_valid("4111 1111 1111 1111", 19));
    assert_true(pii_luhn_valid("4111-1111-1111-1111", 19));
    assert_true(pii_luhn_valid("79927398713", 11));
    assert_true(pii_luhn_valid("378282246310005", 15));
    assert_true(pii_luhn_valid("00", 2));
    assert_false(pii_luhn_valid("4111111111111112", 16));
    assert_false(pii_luhn_valid("1234567812345678", 16));
    assert_false(pii_luhn_valid("79927398710", 11));
    assert_false(pii_luhn_valid("4111.1111.1111.1111", 19));
    assert_false(pii_luhn_valid("4111x111111111111", 17));
    assert_false(pii_luhn_valid("", 0));
    assert_false(pii_luhn_valid("0", 1));
    assert_false(pii_luhn_valid("  --  ", 6));
    /* n bounds the read: the valid prefix of a longer invalid string */
    assert_true(pii_luhn_valid("41111111111111119", 16));
}

static void test_mod97(void **state)
{
    (void)state;
    assert_true(pii_mod97_valid("GB82WEST12345698765432", 22));
    assert_true(pii_mod97_valid("GB82 WEST 1234 5698 7654 32", 27));
    assert_true(pii_mod97_valid("gb82west12345698765432", 22));
    assert_true(pii_mod97_valid("DE89-3704-0044-0532-0130-00", 27));
    assert_true(pii_mod97_valid("NO9386011117947", 15));
    assert_true(pii_mod97_valid("LC55HEMM000100010012001200023015", 32));
    assert_false(pii_mod97_valid("GB82WEST12345698765433", 22));
    assert_false(pii_mod97_valid("GB28WEST12345698765432", 22));
    assert_false(pii_mod97_valid("GB82.WEST.1234", 14));
    assert_false(pii_mod97_valid("GB82", 4));
    assert_false(pii_mod97_valid("", 0));
    assert_false(pii_mod97_valid("GB82WEST1234569876543\xc3\xa9", 23));
    assert_true(pii_mod97_valid("GB82WEST12345698765432XYZ", 22));
}

/* ---- custom detectors ---- */

static void test_custom_validator(void **state)
{
    struct pii_custom luhn = {"acct", "[0-9]{12,19}", PII_VALIDATE_LUHN, NULL, 0, 0};
    struct pii_custom mod97 = {
        "iban_any", "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", PII_VALIDATE_MOD97, NULL, 0, 0};
    struct err err = {{0}, 0};
    struct rig r = {pii_set_new(), NULL, arena_new(0)};

    (void)state;
    assert_int_equal(pii_set_add_custom(r.set, &luhn, NULL, &err), 0);
    assert_int_equal(pii_set_add_custom(r.set, &mod97, NULL, &err), 1);
    assert_string_equal(pii_set_name(r.set, 0), "acct");
    r.sc = pii_scanner_new(r.set, NULL);
    assert_non_null(r.sc);
    check_marked(&r, "n " B "4111111111111111" E " ok");
    check_marked(&r, "n 4111111111111112 no");
    check_marked(&r, "n 1234567812345678 no");
    check_marked(&r, B "GB82WEST12345698765432" E);
    check_marked(&r, "GB82WEST12345698765433");
    check_marked(&r, "x " B "5105105105105100" E " y");
    rig_close(&r);
}

/* "mid", gap dots, a space, then a member id. */
static void check_window(struct rig *r, size_t gap, int want)
{
    char s[256];
    struct pii_match *m;
    size_t cnt;

    assert_true(gap + 16 < sizeof(s));
    memcpy(s, "mid ", 4);
    memset(s + 4, '.', gap);
    memcpy(s + 4 + gap, " 12345678", 9);
    assert_int_equal(scan_copy(r, s, gap + 13, &m, &cnt), PII_OK);
    assert_int_equal(cnt, (size_t)want);
}

static void test_custom_context(void **state)
{
    static const char *const words[] = {"member id", "MID"};
    struct pii_custom c = {"member", "\\b[0-9]{8}\\b", PII_VALIDATE_NONE, words, 2, 0};
    struct pii_custom w = {"near", "\\b[0-9]{8}\\b", PII_VALIDATE_NONE, words, 2, 10};
    struct err err = {{0}, 0};
    struct rig r = {pii_set_new(), NULL, arena_new(0)};

    (void)state;
    assert_int_equal(pii_set_add_custom(r.set, &c, NULL, &err), 0);
    r.sc = pii_scanner_new(r.set, NULL);
    check_marked(&r, "Member ID: " B "12345678" E);
    check_marked(&r, B "12345678" E " is the mid");
    check_marked(&r, "MEMBER ID " B "12345678" E);
    check_marked(&r, "MEMBER   id 12345678");
    check_marked(&r, "order 12345678");
    check_marked(&r, "12345678");
    /* glued to letters, the word does not count */
    check_marked(&r, "amid 12345678");
    check_marked(&r, "mids 12345678");
    /* 64 bytes is the default window: the word must lie inside it, so
     * "mid" starting 64 bytes before the match counts, 65 does not */
    check_window(&r, 59, 1);
    check_window(&r, 60, 0);
    rig_close(&r);

    r = (struct rig){pii_set_new(), NULL, arena_new(0)};
    assert_int_equal(pii_set_add_custom(r.set, &w, NULL, &err), 0);
    r.sc = pii_scanner_new(r.set, NULL);
    check_marked(&r, "mid ..... " B "12345678" E);
    check_marked(&r, "mid ...... 12345678");
    check_marked(&r, B "12345678" E " ..... mid");
    check_marked(&r, "12345678 ...... mid");
    rig_close(&r);
}

static void test_custom_errors(void **state)
{
    static const char *const empty[] = {""};
    struct pii_custom bad = {"broken", "ab(c", PII_VALIDATE_NONE, NULL, 0, 0};
    struct pii_custom badv = {"v", "a", (enum pii_validator)7, NULL, 0, 0};
    struct pii_custom noname = {"", "a", PII_VALIDATE_NONE, NULL, 0, 0};
    struct pii_custom noctx = {"c", "a", PII_VALIDATE_NONE, NULL, 2, 0};
    struct pii_custom emptyw = {"c", "a", PII_VALIDATE_NONE, empty, 1, 0};
    struct pii_custom badutf = {"u", "a\xff", PII_VALIDATE_NONE, NULL, 0, 0};
    struct err err = {{0}, 0};
    struct pii_set *set = pii_set_new();
    size_t off = 0;

    (void)state;
    assert_int_equal(pii_set_add_custom(set, &bad, &off, &err), -1);
    assert_int_equal(off, 4);
    assert_non_null(strstr(err.msg, "broken"));
    assert_non_null(strstr(err.msg, "offset 4"));
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, &bad, NULL, &err), -1);
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, &badv, NULL, &err), -1);
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, &noname, NULL, &err), -1);
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, NULL, NULL, &err), -1);
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, &noctx, NULL, &err), -1);
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, &emptyw, NULL, &err), -1);
    err_clear(&err);
    assert_int_equal(pii_set_add_custom(set, &badutf, &off, &err), -1);
    assert_int_equal(pii_set_count(set), 0);
    pii_set_free(set);
}

/* ---- fail closed ---- */

static void limit_case(const char *pattern, const struct pii_limits *lim)
{
    static const char subject[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    struct pii_custom c = {"redos", pattern, PII_VALIDATE_NONE, NULL, 0, 0};
    struct err err = {{0}, 0};
    struct rig r = {pii_set_new(), NULL, arena_new(0)};
    struct pii_match dummy, *m = &dummy;
    size_t cnt = 99;

    assert_int_equal(pii_set_add_custom(r.set, &c, NULL, &err), 0);
    assert_int_equal(pii_set_add_builtin(r.set, "email", &err), 1);
    r.sc = pii_scanner_new(r.set, lim);
    assert_non_null(r.sc);
    assert_int_equal(scan_copy(&r, subject, sizeof(subject) - 1, &m, &cnt), PII_LIMIT);
    assert_null(m);
    assert_int_equal(cnt, 0);
    /* the scanner stays usable */
    check_marked(&r, "x " B "jane@example.com" E);
    rig_close(&r);
}

static void test_limit_fail_closed(void **state)
{
    struct pii_limits small = {1000, 50};

    (void)state;
    limit_case("(a+)+$", &small);
    limit_case("(*NO_JIT)(a+)+$", &small);
    /* the default limit catches it too */
    limit_case("(a+)+$", NULL);
    limit_case("(*NO_JIT)(a+)+$", NULL);
    /* the depth limit, which only the interpreter has */
    limit_case("(*NO_JIT)(a|aa)+$", &(struct pii_limits){0, 5});
}

/* ---- robustness ---- */

static void test_invalid_utf8(void **state)
{
    static const char *const cases[] = {
        "\xff " B "jane@example.com" E " \xc3",
        "\xc3\x28" B "4111111111111111" E "\xa0\xa1",
        "\xed\xa0\x80 " B "078-05-1120" E " \xf0\x28\x8c\xbc",
        "caf\xc3\xa9 " B "jane@example.com" E " na\xc3\xafve",
        "\xe2\x82\xac" B "192.168.1.1" E "\xe2\x82\xac",
        "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80",
        "\xf8\x88\x80\x80\x80 \xfe\xff 4111111111111112",
    };
    struct rig r;
    unsigned char noise[4096];
    uint32_t x = 2463534242u;

    (void)state;
    run_cases_all(cases, NCASES(cases));
    rig_open_all(&r);
    for (int round = 0; round < 64; round++) {
        struct pii_match *m;
        size_t cnt;

        for (size_t i = 0; i < sizeof(noise); i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise[i] = (unsigned char)(round & 1 ? x : "0123456789 -.@:"[x % 15] | (x & 0x80));
        }
        arena_reset(r.a);
        assert_int_equal(scan_copy(&r, (const char *)noise, sizeof(noise), &m, &cnt), PII_OK);
        for (size_t i = 0; i < cnt; i++) {
            assert_true(m[i].start < m[i].end && m[i].end <= sizeof(noise));
            assert_true(i == 0 || m[i - 1].end <= m[i].start);
        }
    }
    rig_close(&r);
}

/* n bounds every read: a match may not use bytes past it. */
static void test_length_bounds(void **state)
{
    static const char s[] = "4111111111111111 jane@example.com";
    struct rig r;
    struct pii_match *m;
    size_t cnt;

    (void)state;
    rig_open_all(&r);
    assert_int_equal(scan_copy(&r, s, 15, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 0);
    assert_int_equal(scan_copy(&r, s, 16, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(scan_copy(&r, s, 30, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(scan_copy(&r, s, sizeof(s) - 1, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 2);
    assert_int_equal(pii_scan(r.sc, r.a, NULL, 0, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 0);
    assert_null(m);
    rig_close(&r);
}

static void test_many_matches(void **state)
{
    struct rig r;
    char *s = xmalloc(20000);
    size_t n = 0, cnt;
    struct pii_match *m;

    (void)state;
    rig_open_all(&r);
    while (n + 40 < 20000) {
        memcpy(s + n, "a@example.com 4111111111111111 ", 31);
        n += 31;
    }
    assert_int_equal(pii_scan(r.sc, r.a, s, n, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 2 * (n / 31));
    for (size_t i = 1; i < cnt; i++)
        assert_true(m[i - 1].end <= m[i].start);
    xfree(s);
    rig_close(&r);
}

static void test_arena_cap(void **state)
{
    struct rig r;
    struct pii_match *m = NULL;
    size_t cnt = 7;

    (void)state;
    rig_open_all(&r);
    arena_free(r.a);
    r.a = arena_new(8);
    assert_int_equal(pii_scan(r.sc, r.a, "jane@example.com", 16, &m, &cnt), PII_NOMEM);
    assert_int_equal(cnt, 0);
    rig_close(&r);
}

/* A scanner made before the set grew cannot scan the new detector: it
 * fails closed instead of skipping it. */
static void test_stale_scanner(void **state)
{
    struct err err = {{0}, 0};
    struct rig r;
    struct pii_match *m;
    size_t cnt;

    (void)state;
    rig_open(&r, (const char *const[]){"email"}, 1);
    assert_int_equal(pii_set_add_builtin(r.set, "card", &err), 1);
    assert_int_equal(pii_scan(r.sc, r.a, "4111111111111111", 16, &m, &cnt), PII_LIMIT);
    rig_close(&r);
}

/* Every allocation in building a set and a scanner can fail: the caller
 * gets an error or NULL, and nothing leaks (teardown checks mem_live). */
static void test_alloc_failures(void **state)
{
    static const char *const words[] = {"mid"};
    struct pii_custom c = {"member", "[0-9]{8}", PII_VALIDATE_LUHN, words, 1, 0};
    int done = 0;

    (void)state;
    for (long k = 0; !done && k < 10000; k++) {
        struct err err = {{0}, 0};
        struct pii_set *set;
        struct pii_scanner *sc = NULL;
        int ok = 1;

        mem_fail_after(k);
        set = pii_set_new();
        if (set != NULL) {
            ok &= pii_set_add_builtin(set, "email", &err) == 0;
            ok &= ok && pii_set_add_custom(set, &c, NULL, &err) == 1;
            ok &= ok && pii_set_add_builtin(set, "phone", &err) == 2;
            sc = ok ? pii_scanner_new(set, NULL) : NULL;
            done = ok && sc != NULL;
        }
        mem_fail_after(-1);
        if (!ok)
            assert_true(err.set);
        pii_scanner_free(sc);
        pii_set_free(set);
    }
    assert_true(done);
}

/* ---- the windowed scan finds what the whole-string scan finds ---- */

/*
 * One set, two scanners: one cuts every string into windows (long strings
 * in production), one scans every string whole (the scan as it was before
 * windows). For every input both must answer the same status and the same
 * matches, byte for byte. The inputs are the tables above, the peer corpus
 * when SCRIM_CONFORMANCE is set, and generated long strings: stylesheets
 * with values planted at random places, values cut in two by a window
 * boundary, long digit and token runs, and noise over an alphabet of
 * boundary bytes and the bytes the patterns use.
 */
struct twin {
    struct pii_set *set;
    struct pii_scanner *win, *whole;
    struct arena *a;
    size_t inputs, matches; /* so a run that compared nothing fails */
};

static void twin_open(struct twin *t, const char *const *names, size_t nnames,
                      const struct pii_custom *custom)
{
    struct err err = {{0}, 0};

    memset(t, 0, sizeof(*t));
    t->set = pii_set_new();
    assert_non_null(t->set);
    for (size_t i = 0; i < nnames; i++)
        assert_int_equal(pii_set_add_builtin(t->set, names[i], &err), (int)i);
    if (custom != NULL)
        assert_int_equal(pii_set_add_custom(t->set, custom, NULL, &err), (int)nnames);
    t->win = pii_scanner_new(t->set, NULL);
    t->whole = pii_scanner_new(t->set, NULL);
    t->a = arena_new(0);
    assert_non_null(t->win);
    assert_non_null(t->whole);
    assert_non_null(t->a);
    pii_scanner_set_windowed_min(t->win, 0);
    pii_scanner_set_windowed_min(t->whole, SIZE_MAX);
}

static void twin_close(struct twin *t)
{
    arena_free(t->a);
    pii_scanner_free(t->win);
    pii_scanner_free(t->whole);
    pii_set_free(t->set);
}

/* Field by field: the structs' padding is not part of the answer. */
static int same_matches(const struct pii_match *a, const struct pii_match *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].start != b[i].start || a[i].end != b[i].end || a[i].detector != b[i].detector)
            return 0;
    return 1;
}

/* Both scans of an exact-size heap copy of s[0..n); returns the matches. */
static size_t twin_check(struct twin *t, const char *s, size_t n)
{
    char *copy = xmalloc(n ? n : 1);
    struct pii_match *mw, *mo;
    size_t cw, co;
    enum pii_status sw, so;

    memcpy(copy, s, n);
    arena_reset(t->a);
    sw = pii_scan(t->win, t->a, copy, n, &mw, &cw);
    so = pii_scan(t->whole, t->a, copy, n, &mo, &co);
    if (sw != so || cw != co || !same_matches(mw, mo, co))
        fail_msg("windowed scan differs on \"%.*s\" (%zu bytes): status %d/%d, %zu/%zu "
                 "matches",
                 (int)(n < 200 ? n : 200), copy, n, (int)sw, (int)so, cw, co);
    xfree(copy);
    t->inputs++;
    t->matches += co;
    return co;
}

static void twin_marked(struct twin *t, const char *const *cases, size_t ncases)
{
    for (size_t i = 0; i < ncases; i++) {
        char text[1024];
        struct spans sp;
        size_t n = unmark(cases[i], text, sizeof(text), &sp);

        twin_check(t, text, n);
    }
}

static uint32_t xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static const char *const css_decls[] = {
    "body { font: 16px / 1.4 sans-serif; margin: 0px; color: rgb(29, 36, 48); }",
    "header { background: rgb(11, 61, 99); padding: 16px 32px; }",
    "dl.summary { display: grid; grid-template-columns: 12em 1fr; gap: 4px 12px; }",
    "input[aria-invalid=\"true\"] { border-color: rgb(176, 0, 32); }",
    ".progress .current { text-decoration: underline; opacity: 0.8; }",
    "@media (max-width: 600px) { main { margin: 8px; } }",
    "a::after { content: \"\\2192\"; } li:nth-child(2n+1) { z-index: 10; }",
    "div { background: url(\"https://cdn.example.com/img/a_b-c.png?v=20240101\"); }",
    "span { transition: all 0.25s ease-in-out 0.1s; width: calc(100% - 24px); }",
};

/* Values a detector must find, and lookalikes it must not. */
static const char *const canaries[] = {
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111111111111111",
    "078-05-1120",
    "078 05 1120",
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
    "jane.doe@example.com",
    "jane%40example.com",
    "+1 415 555 0132",
    "(415) 555-0132",
    "020 7946 0958",
    "192.168.1.1",
    "10.0.0.1/24",
    "2001:db8::1",
    "fe80::1%eth0",
    "::ffff:192.168.1.1",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "xoxb-123456789012-abcdefghijkl",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "4111 1111 1111 1112",
    "1.2.3.4.5",
    "000-12-3456",
    "v1.2.3",
    /* the shortest shapes: an IBAN with two digits (it passes mod-97) and
     * a 19-byte JWT; the whole-string gate asks for more of both */
    "NO09ABCDEFGHIJK",
    "eyJhbGciOiJIUzI.ab.",
};

static size_t put_str(char *buf, size_t n, size_t cap, const char *s)
{
    size_t k = strlen(s);

    if (n + k > cap)
        return n;
    memcpy(buf + n, s, k);
    return n + k;
}

/* A stylesheet of about cap bytes with canaries at random places, glued to
 * the text or between boundary bytes; with cut, one byte of each canary
 * becomes a window boundary. */
static size_t gen_css(char *buf, size_t cap, uint32_t *x, int cut)
{
    static const char cuts[] = ";{}\"'<>=&?[]\\^`|~!#$*\t\n";
    static const char *const edges[] = {"", " ", "\"", ";", "x", "1"};
    size_t n = 0;

    while (n + 200 < cap) {
        if (xorshift(x) % 4 == 0) {
            const char *c = canaries[xorshift(x) % NCASES(canaries)];
            size_t at = n, k = strlen(c);

            n = put_str(buf, n, cap, edges[xorshift(x) % NCASES(edges)]);
            at = n;
            n = put_str(buf, n, cap, c);
            n = put_str(buf, n, cap, edges[xorshift(x) % NCASES(edges)]);
            if (cut)
                buf[at + xorshift(x) % k] = cuts[xorshift(x) % (sizeof(cuts) - 1)];
        }
        n = put_str(buf, n, cap, css_decls[xorshift(x) % NCASES(css_decls)]);
    }
    return n;
}

/* Noise over the bytes the patterns use and the boundary bytes. */
static size_t gen_noise(char *buf, size_t cap, uint32_t *x, const char *alphabet)
{
    size_t k = strlen(alphabet);

    for (size_t i = 0; i < cap; i++)
        buf[i] = alphabet[xorshift(x) % k];
    return cap;
}

/* Every canary between every pair of edges, and with each of its bytes in
 * turn made a boundary, inside stylesheet text. */
static void twin_canaries(struct twin *t)
{
    static const char *const edges[] = {"", " ", "\"", ";", "x", "1", ".", "-", "\n"};
    char buf[512];

    for (size_t c = 0; c < NCASES(canaries); c++) {
        size_t k = strlen(canaries[c]);

        for (size_t e = 0; e < NCASES(edges) * NCASES(edges); e++) {
            size_t n = put_str(buf, 0, sizeof(buf), css_decls[e % NCASES(css_decls)]);

            n = put_str(buf, n, sizeof(buf), edges[e % NCASES(edges)]);
            n = put_str(buf, n, sizeof(buf), canaries[c]);
            n = put_str(buf, n, sizeof(buf), edges[e / NCASES(edges)]);
            n = put_str(buf, n, sizeof(buf), css_decls[(e + 1) % NCASES(css_decls)]);
            twin_check(t, buf, n);
        }
        for (size_t i = 0; i < k; i++) {
            size_t n = put_str(buf, 0, sizeof(buf), "a { content: \"");

            n = put_str(buf, n, sizeof(buf), canaries[c]);
            buf[n - k + i] = i % 2 ? ';' : '"';
            n = put_str(buf, n, sizeof(buf), "\" } 2024-01-01 12:00:00");
            twin_check(t, buf, n);
        }
    }
}

static void twin_generated(struct twin *t)
{
    static const char *const alphabets[] = {
        "0123456789 -.;",
        "0123456789 -./:(),+;{}",
        "abcdefABCDEF0123456789:.%;/",
        "aA1_-.eyJ;=\"",
        "GBgb0123456789 -WEST;",
        "ab@.%40cdexample;,<>",
        "0123456789 -.,;x()+",
        "\x01 -.:;@_%/()+,09aAzZ#!~\x7f\xc3\xa9\xc5\xbf",
    };
    static char buf[8192];
    uint32_t x = 88172645u;

    for (int round = 0; round < 48; round++) {
        twin_check(t, buf, gen_css(buf, sizeof(buf), &x, round & 1));
        twin_check(
            t, buf,
            gen_noise(buf, 64 + xorshift(&x) % 4096, &x, alphabets[round % NCASES(alphabets)]));
    }
    memset(buf, '7', sizeof(buf)); /* one long digit run, then with cuts */
    twin_check(t, buf, sizeof(buf));
    for (size_t i = 16; i < sizeof(buf); i += 17)
        buf[i] = ';';
    twin_check(t, buf, sizeof(buf));
    memset(buf, 'A', sizeof(buf)); /* one long token run */
    twin_check(t, buf, sizeof(buf));
    memcpy(buf, "AKIA", 4);
    twin_check(t, buf, 20);
    twin_check(t, buf, 21);
}

/* The peer corpus texts, when the corpus is there. */
static void twin_peers(struct twin *t)
{
    const char *dir = getenv("SCRIM_CONFORMANCE");
    static char line[1 << 16];
    char path[4096];
    FILE *f;

    if (dir == NULL)
        return;
    assert_true(snprintf(path, sizeof(path), "%s/pii-peers/cases.jsonl", dir) < (int)sizeof(path));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        json_t *root = json_loads(line, 0, NULL);
        json_t *text = json_object_get(root, "text");

        assert_non_null(root);
        if (json_is_string(text))
            twin_check(t, json_string_value(text), json_string_length(text));
        json_decref(root);
    }
    fclose(f);
}

static void twin_all_inputs(struct twin *t)
{
    const char *const *tables[] = {email_cases,   card_cases,    iban_cases,   ssn_cases,
                                   phone_cases,   ipv4_cases,    ipv6_cases,   jwt_cases,
                                   api_key_cases, nothing_cases, overlap_cases};
    const size_t sizes[] = {NCASES(email_cases),   NCASES(card_cases),   NCASES(iban_cases),
                            NCASES(ssn_cases),     NCASES(phone_cases),  NCASES(ipv4_cases),
                            NCASES(ipv6_cases),    NCASES(jwt_cases),    NCASES(api_key_cases),
                            NCASES(nothing_cases), NCASES(overlap_cases)};

    for (size_t i = 0; i < NCASES(tables); i++)
        twin_marked(t, tables[i], sizes[i]);
    twin_peers(t);
    twin_canaries(t);
    twin_generated(t);
}

static void test_windowed_same(void **state)
{
    /* a custom pattern that reaches over a boundary byte is still found:
     * custom detectors always scan the whole string */
    struct pii_custom over = {"over", "id;[0-9]{3}", PII_VALIDATE_NONE, NULL, 0, 0};
    size_t n;
    const char *const *names = pii_builtin_names(&n);
    struct twin t;

    (void)state;
    twin_open(&t, names, n, &over);
    twin_all_inputs(&t);
    assert_true(t.matches > 500);
    assert_int_equal(twin_check(&t, "x id;123 y", 10), 1);
    twin_close(&t);
    for (size_t i = 0; i < n; i++) {
        twin_open(&t, &names[i], 1, NULL);
        twin_all_inputs(&t);
        assert_true(t.matches > 0);
        twin_close(&t);
    }
}

/* What the windows are for: a value inside a long stylesheet is found,
 * and one cut in two by a boundary byte is not a value. */
static void test_windowed_css(void **state)
{
    static char buf[4096];
    size_t n = 0, cnt;
    struct rig r;
    struct pii_match *m;

    (void)state;
    rig_open_all(&r);
    while (n + 100 < sizeof(buf))
        n = put_str(buf, n, sizeof(buf), css_decls[n % NCASES(css_decls)]);
    n = put_str(buf, n, sizeof(buf), "a{content:\"4111 1111 1111 1111\"}");
    assert_int_equal(scan_copy(&r, buf, n, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(m[0].end, n - 2);
    assert_int_equal(m[0].start, n - 21);
    memcpy(buf + n - 12, ";", 1);
    assert_int_equal(scan_copy(&r, buf, n, &m, &cnt), PII_OK);
    assert_int_equal(cnt, 0);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_builtin_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iban, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ssn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jwt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_ties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_luhn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mod97, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_validator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_length_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_scanner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windowed_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windowed_css, setup, teardown),
    };

    return cmocka_run_group_tests_name("pii", tests, NULL, NULL);
}
