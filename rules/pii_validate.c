/*
 * pii_validate: the built-in detectors (their patterns, prefilter needs and
 * checks, in the table at the end) and the validators.
 *
 * The patterns only locate candidates cheaply; the structure that a regex
 * expresses badly (card brands and lengths, country lengths, which digit
 * groups of a run form a phone number, IPv6 group counting) is checked here
 * in C, where it is exact and cannot backtrack. docs/pii.md explains what
 * each detector deliberately leaves out.
 */
#include "rules/pii_impl.h"

#include "rules/pii.h"

#include <string.h>

#define SPAN_GROUPS 32 /* digit groups examined per candidate (regexes cap theirs) */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_alnum(unsigned char c)
{
    return is_digit(c) || is_alpha(c);
}

static unsigned char to_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* ---- validators ---- */

int pii_luhn_valid(const char *s, size_t n)
{
    unsigned sum = 0;
    size_t nd = 0;

    /* Luhn (ISO/IEC 7812-1): from the right, double every second digit. */
    for (size_t i = n; i-- > 0;) {
        unsigned char c = (unsigned char)s[i];
        unsigned d;

        if (c == ' ' || c == '-')
            continue;
        if (!is_digit(c))
            return 0;
        d = c - '0';
        if (nd++ & 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum = (sum + d) % 10;
    }
    return nd >= 2 && sum == 0;
}

/* Feed one character into a running ISO 7064 MOD 97-10 remainder; letters
 * count as 10..35. -1 for a character that is neither. */
static int mod97_feed(int rem, unsigned char c)
{
    if (is_digit(c))
        return (rem * 10 + (c - '0')) % 97;
    if (is_alpha(c))
        return (rem * 100 + (to_upper(c) - 'A' + 10)) % 97;
    return -1;
}

int pii_mod97_valid(const char *s, size_t n)
{
    int rem = 0;
    size_t k = 0;

    /* ISO 13616: the first four characters move to the end, then the whole
     * number taken mod 97 must be 1. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == ' ' || c == '-')
            continue;
        if (!is_alnum(c))
            return 0;
        if (k++ >= 4)
            rem = mod97_feed(rem, c);
    }
    if (k < 5)
        return 0;
    for (size_t i = 0, m = 0; i < n && m < 4; i++) {
        if (is_alnum((unsigned char)s[i])) {
            rem = mod97_feed(rem, (unsigned char)s[i]);
            m++;
        }
    }
    return rem == 1;
}

/* ---- context words ---- */

static int word_at(const char *s, size_t n, size_t p, const char *w, size_t wl)
{
    for (size_t i = 0; i < wl; i++)
        if (to_upper((unsigned char)s[p + i]) != to_upper((unsigned char)w[i]))
            return 0;
    /* "ssn" must not be found inside "lessness": a word edge that is a
     * letter or digit needs a non-alnum neighbour. */
    if (p > 0 && is_alnum((unsigned char)w[0]) && is_alnum((unsigned char)s[p - 1]))
        return 0;
    if (p + wl < n && is_alnum((unsigned char)w[wl - 1]) && is_alnum((unsigned char)s[p + wl]))
        return 0;
    return 1;
}

int pii_context_near(const char *s, size_t n, size_t start, size_t end, const char *const *words,
                     size_t nwords, size_t window)
{
    size_t lo = start > window ? start - window : 0;
    size_t hi = n - end > window ? end + window : n;

    for (size_t k = 0; k < nwords; k++) {
        size_t wl = strlen(words[k]);

        if (wl == 0 || wl > hi - lo)
            continue;
        for (size_t p = lo; p + wl <= hi; p++)
            if (word_at(s, n, p, words[k], wl))
                return 1;
    }
    return 0;
}

/* ---- digit groups (card) ---- */

struct group {
    size_t start, end; /* bytes of the group, parentheses included */
    size_t digits;
    char sep;            /* separator before the group; 0 first, ')' glued */
    unsigned char paren; /* written as (digits) */
};

/* Split the card candidate s[from, to), digit runs joined by single spaces
 * or dashes (the pattern guarantees the shape). */
static size_t card_groups(const char *s, size_t from, size_t to, struct group *g)
{
    size_t ng = 0, p = from;
    char sep = 0;

    while (p < to && ng < SPAN_GROUPS) {
        size_t b = p;

        while (p < to && is_digit((unsigned char)s[p]))
            p++;
        g[ng++] = (struct group){b, p, p - b, sep, 0};
        if (p >= to)
            break;
        sep = s[p++];
    }
    return ng;
}

static unsigned prefix_num(const char *d, size_t k)
{
    unsigned v = 0;

    for (size_t i = 0; i < k; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

/* Issuer identification number ranges and the lengths each scheme issues
 * (ISO/IEC 7812 registrations as the schemes publish them). */
static int card_iin_ok(const char *d, size_t len)
{
    unsigned p2 = prefix_num(d, 2), p3 = prefix_num(d, 3), p4 = prefix_num(d, 4);

    if (d[0] == '4')
        return len == 13 || len == 16 || len == 19; /* Visa */
    if (p2 == 34 || p2 == 37)
        return len == 15; /* Amex */
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return len == 16; /* Mastercard */
    if (p4 >= 2200 && p4 <= 2204)
        return len >= 16; /* Mir */
    if (p4 >= 3528 && p4 <= 3589)
        return len >= 16; /* JCB */
    if ((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
        return len >= 14; /* Diners Club */
    if (p2 == 50 || (p2 >= 56 && p2 <= 69))
        return 1; /* Maestro, Discover (6011, 644-649, 65), UnionPay (62), RuPay */
    if (d[0] == '1')
        return len == 15; /* UATP */
    return 0;
}

/* Groups i..j as one card number: 13-19 digits, one separator character,
 * a 4+ digit first group (every scheme's printed layout starts so), Luhn
 * valid and a known IIN. */
static int card_span_ok(const char *s, size_t n, const struct group *g, size_t ng, size_t i,
                        size_t j)
{
    char d[19];
    size_t len = 0;

    if (j > i && g[i].digits < 4)
        return 0;
    for (size_t k = i + 1; k <= j; k++)
        if (g[k].sep != g[i + 1].sep || g[k].digits < (k == j ? 2u : 3u))
            return 0;
    if (j == ng - 1 && g[j].end < n && is_alnum((unsigned char)s[g[j].end]))
        return 0;
    for (size_t k = i; k <= j; k++) {
        if (len + g[k].digits > sizeof(d))
            return 0;
        memcpy(d + len, s + g[k].start, g[k].digits);
        len += g[k].digits;
    }
    if (len < 13 || !card_iin_ok(d, len))
        return 0;
    return pii_luhn_valid(s + g[i].start, g[j].end - g[i].start);
}

/* A run of digit groups may hold a card among other numbers ("card 4111
 * 1111 1111 1111 cvv 123" is fine, but so is "ref 12 4111111111111111"):
 * take the earliest, then longest, sub-run that is a card. */
static enum pii_verdict card_check(const char *s, size_t n, size_t *start, size_t *end)
{
    struct group g[SPAN_GROUPS];
    size_t ng = card_groups(s, *start, *end, g);

    for (size_t i = 0; i < ng; i++) {
        size_t j = i, total = g[i].digits;

        while (j + 1 < ng && total + g[j + 1].digits <= 19)
            total += g[++j].digits;
        for (; j + 1 > i && total >= 13; total -= g[j--].digits) {
            if (card_span_ok(s, n, g, ng, i, j)) {
                *start = g[i].start;
                *end = g[j].end;
                return PII_ACCEPT;
            }
        }
    }
    return PII_REJECT_SKIP;
}

/* ---- IBAN ---- */

/* ISO 13616 IBAN lengths per country, from the SWIFT IBAN registry. */
static const struct {
    char cc[3];
    unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
    {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
    {"YE", 30},
};

static size_t iban_length(const char *s)
{
    char a = (char)to_upper((unsigned char)s[0]), b = (char)to_upper((unsigned char)s[1]);

    for (size_t i = 0; i < sizeof(iban_lengths) / sizeof(iban_lengths[0]); i++)
        if (iban_lengths[i].cc[0] == a && iban_lengths[i].cc[1] == b)
            return iban_lengths[i].len;
    return 0;
}

/* Exactly the country's length in characters, one separator character
 * anywhere between them, one letter case throughout ("LV80 bANK ..." is a
 * typo, not an IBAN), nothing alphanumeric glued after, and mod-97. */
static enum pii_verdict iban_check(const char *s, size_t n, size_t *start, size_t *end)
{
    size_t len = iban_length(s + *start), k = 0, p = *start;
    int upper = 0, lower = 0;
    char sep = 0;

    if (len == 0)
        return PII_REJECT_NEXT;
    while (p < n && k < len) {
        unsigned char c = (unsigned char)s[p];

        if (is_alnum(c)) {
            upper |= c >= 'A' && c <= 'Z';
            lower |= c >= 'a' && c <= 'z';
            k++;
            p++;
        } else if ((c == ' ' || c == '-') && (sep == 0 || sep == c) && p + 1 < n &&
                   is_alnum((unsigned char)s[p + 1])) {
            sep = (char)c;
            p++;
        } else {
            break;
        }
    }
    if (k < len || (p < n && is_alnum((unsigned char)s[p])) || (upper && lower))
        return PII_REJECT_NEXT;
    if (!pii_mod97_valid(s + *start, p - *start))
        return PII_REJECT_NEXT;
    *end = p;
    return PII_ACCEPT;
}

/* ---- US SSN ---- */

static const char *const ssn_words[] = {"ssn", "ssns", "social security", "soc sec", "ss#"};

/* SSA rules: area 000, 666 and 900-999, group 00 and serial 0000 are never
 * issued. A bare nine-digit run is any id, so it needs an SSN word nearby;
 * a space-separated one must not sit inside a longer run of digit groups. */
static enum pii_verdict ssn_check(const char *s, size_t n, size_t *start, size_t *end)
{
    char d[9];
    size_t k = 0;
    char sep = s[*start + 3];
    unsigned area, group, serial;

    for (size_t p = *start; p < *end && k < 9; p++)
        if (is_digit((unsigned char)s[p]))
            d[k++] = s[p];
    if (k != 9)
        return PII_REJECT_NEXT;
    area = prefix_num(d, 3);
    group = prefix_num(d + 3, 2);
    serial = prefix_num(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return PII_REJECT_NEXT;
    if (is_digit((unsigned char)sep))
        return pii_context_near(s, n, *start, *end, ssn_words,
                                sizeof(ssn_words) / sizeof(ssn_words[0]), 32)
                   ? PII_ACCEPT
                   : PII_REJECT_NEXT;
    if (sep == ' ' &&
        ((*start >= 2 && s[*start - 1] == ' ' && is_digit((unsigned char)s[*start - 2])) ||
         (*end + 1 < n && s[*end] == ' ' && is_digit((unsigned char)s[*end + 1]))))
        return PII_REJECT_NEXT;
    return PII_ACCEPT;
}

/* ---- phone ---- */

struct phone {
    struct group g[SPAN_GROUPS];
    size_t ng;
    int plus;       /* '+' or "(+" before the first group */
    size_t ext_end; /* end of an extension ("x12", "ext. 12") after the last group, or 0 */
};

static size_t phone_group(const char *s, size_t p, size_t to, struct phone *ph, char sep)
{
    size_t b = p, digits = 0;
    unsigned char paren = 0;

    if (s[p] == '(') {
        paren = 1;
        if (++p < to && s[p] == '+') {
            ph->plus = 1;
            p++;
        }
    }
    for (; p < to && is_digit((unsigned char)s[p]); p++)
        digits++;
    if (paren && p < to && s[p] == ')')
        p++;
    ph->g[ph->ng++] = (struct group){b, p, digits, sep, paren};
    return p;
}

/* Split the phone candidate s[from, to) into its digit groups; the pattern
 * guarantees the shape, and whatever follows the last group is the
 * extension. */
static void phone_parse(const char *s, size_t from, size_t to, struct phone *ph)
{
    size_t p = from;
    char sep = 0;

    ph->ng = 0;
    ph->plus = s[p] == '+';
    ph->ext_end = 0;
    p += (size_t)ph->plus;
    while (p < to && ph->ng < SPAN_GROUPS) {
        unsigned char c, next;

        p = phone_group(s, p, to, ph, sep);
        if (p >= to)
            return;
        c = (unsigned char)s[p];
        next = p + 1 < to ? (unsigned char)s[p + 1] : 0;
        if ((c == ' ' || c == '.' || c == '-') && (is_digit(next) || next == '(')) {
            sep = (char)c;
            p++;
        } else if (ph->g[ph->ng - 1].paren && (is_digit(c) || c == '(')) {
            sep = ')';
        } else {
            ph->ext_end = to;
            return;
        }
    }
}

/* NANP: NXX-NXX-XXXX (N = 2-9), optionally after a "1" trunk/country code,
 * written 3-3-4 (area in parentheses or not) or as one run. */
static int phone_nanp_ok(const struct group *g, size_t i, size_t j, const char *d, size_t len)
{
    if (i < j && g[i].digits == 1 && d[0] == '1' && !g[i].paren) {
        i++;
        d++;
        len--;
    }
    if (i == j && !g[i].paren && len == 11 && d[0] == '1') {
        d++;
        len--;
    }
    if (len != 10 || d[0] < '2' || d[3] < '2')
        return 0;
    if (i == j)
        return !g[i].paren;
    return j == i + 2 && g[i].digits == 3 && g[i + 1].digits == 3 && !g[i + 1].paren &&
           !g[i + 2].paren;
}

/* National numbers with a 0 trunk prefix (UK 020 7946 0958, FR 01 23 45 67
 * 89, DE 030 1234567, JP 090-1234-5678): 9-12 digits, an area group of 2-5
 * digits, then groups of 2+. Dates are 8 digits and never qualify. */
static int phone_national_ok(const struct group *g, size_t i, size_t j, const char *d, size_t len)
{
    if (len < 9 || len > 12 || d[0] != '0' || d[1] == '0')
        return 0;
    if (i == j)
        return !g[i].paren && (len == 10 || len == 11);
    if (g[i].digits < 2 || g[i].digits > 5)
        return 0;
    for (size_t k = i + 1; k <= j; k++)
        if (g[k].digits < 2 || g[k].paren)
            return 0;
    /* 3-2-4 is how SSNs are written; leave those to the ssn detector */
    return !(j == i + 2 && g[i].digits == 3 && g[i + 1].digits == 2 && g[i + 2].digits == 4);
}

static int phone_span_ok(const char *s, const struct phone *ph, size_t i, size_t j)
{
    const struct group *g = ph->g;
    char d[17];
    size_t len = 0;

    for (size_t p = g[i].start; p < g[j].end; p++) {
        if (!is_digit((unsigned char)s[p]))
            continue;
        if (len == sizeof(d))
            return 0;
        d[len++] = s[p];
    }
    /* E.164 allows 15 digits including the country code */
    if (i == 0 && ph->plus)
        return len >= 8 && len <= 15;
    /* "00" international prefix, only where a number starts */
    if (i == 0 && len >= 10 && d[0] == '0' && d[1] == '0' && d[2] != '0')
        return len - 2 >= 8 && len - 2 <= 15;
    if (phone_nanp_ok(g, i, j, d, len) || phone_national_ok(g, i, j, d, len))
        return 1;
    /* mobile numbers written as one 11-digit run, 13x-19x (CN) */
    return i == j && !g[i].paren && len == 11 && d[0] == '1' && d[1] >= '3';
}

/* 1 when a card number starts inside phone sub-run i..j (at its first
 * group only if a '+' precedes it). Such a phone number would start before
 * the card and win the overlap, leaving the card's tail unmasked
 * ("+1 4111 1111 1111 1111"). */
static int phone_hides_card(const char *s, size_t n, const struct phone *ph, size_t i, size_t j)
{
    for (size_t k = (i == 0 && ph->plus) ? i : i + 1; k <= j; k++) {
        size_t total = 0;

        for (size_t m = k; m < ph->ng && total <= 19; m++) {
            const struct group *g = &ph->g[m];

            if (g->paren || (m > k && g->sep != ' ' && g->sep != '-'))
                break;
            total += g->digits;
            if (total >= 13 && card_span_ok(s, n, ph->g, ph->ng, k, m))
                return 1;
        }
    }
    return 0;
}

/* A run of digit groups joined by spaces may hold a phone number among
 * other numbers ("room 12 555-555-0100"); sub-runs split only at spaces,
 * so "91-415-555-0132" or a date is judged whole. */
static enum pii_verdict phone_check(const char *s, size_t n, size_t *start, size_t *end)
{
    struct phone ph;

    phone_parse(s, *start, *end, &ph);
    for (size_t i = 0; i < ph.ng; i++) {
        size_t j = i, total = ph.g[i].digits;

        if (i > 0 && ph.g[i].sep != ' ')
            continue;
        while (j + 1 < ph.ng && total + ph.g[j + 1].digits <= 17)
            total += ph.g[++j].digits;
        for (; j + 1 > i; total -= ph.g[j--].digits) {
            /* no layout has fewer than 8 digits */
            if (total < 8 || (j + 1 < ph.ng && ph.g[j + 1].sep != ' '))
                continue;
            if (phone_span_ok(s, &ph, i, j) && !phone_hides_card(s, n, &ph, i, j)) {
                *start = i == 0 ? *start : ph.g[i].start;
                *end = j + 1 == ph.ng && ph.ext_end ? ph.ext_end : ph.g[j].end;
                return PII_ACCEPT;
            }
        }
    }
    return PII_REJECT_SKIP;
}

/* ---- IPv6 ---- */

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of a dotted quad at s[p] (octets 0-255, no leading zeros), or 0. */
static size_t ipv4_len(const char *s, size_t p, size_t n)
{
    size_t q = p;

    for (int k = 0; k < 4; k++) {
        size_t b = q;
        unsigned v = 0;

        for (; q < n && q - b < 3 && is_digit((unsigned char)s[q]); q++)
            v = v * 10 + (unsigned)(s[q] - '0');
        if (q == b || v > 255 || (q - b > 1 && s[b] == '0'))
            return 0;
        if (q < n && is_digit((unsigned char)s[q]))
            return 0;
        if (k < 3 && (q >= n || s[q++] != '.'))
            return 0;
    }
    return q - p;
}

struct v6 {
    size_t groups; /* 16-bit groups written, an IPv4 tail counting two */
    int dbl;       /* "::" seen */
    int all2;      /* every group exactly two hex digits (looks like a MAC) */
};

/* One step of RFC 4291 section 2.2 text: after a group, "::" or ':' and
 * the next group. Returns 0 to stop. */
static int ipv6_step(const char *s, size_t n, size_t *q, struct v6 *v, size_t *best)
{
    size_t v4 = ipv4_len(s, *q, n), h = 0;

    if (v4) {
        v->groups += 2;
        if (v->dbl ? v->groups <= 7 : v->groups == 8)
            *best = *q + v4;
        return 0;
    }
    while (*q + h < n && h < 5 && is_hex((unsigned char)s[*q + h]))
        h++;
    if (h == 0 || h > 4 || ++v->groups > (v->dbl ? 7u : 8u))
        return 0;
    v->all2 &= h == 2;
    *q += h;
    if (v->dbl || v->groups == 8)
        *best = *q;
    if (*q + 1 < n && s[*q] == ':' && s[*q + 1] == ':') {
        if (v->dbl)
            return 0;
        v->dbl = 1;
        *q += 2;
        *best = *q;
        return 1;
    }
    if (*q + 1 < n && s[*q] == ':') {
        (*q)++;
        return 1;
    }
    return 0;
}

/* End of the longest valid address starting at s[p], or 0. */
static size_t ipv6_parse(const char *s, size_t p, size_t n)
{
    struct v6 v = {0, 0, 1};
    size_t q = p, best = 0;

    if (q + 1 < n && s[q] == ':' && s[q + 1] == ':') {
        v.dbl = 1;
        q += 2;
    }
    while (q < n && ipv6_step(s, n, &q, &v, &best))
        ;
    /* "::" alone names no host; eight two-digit groups are an EUI-64 */
    if (v.groups == 0 || (!v.dbl && v.all2))
        return 0;
    return best;
}

/* "%eth0": a zone index (RFC 4007 section 11.2) after the address at e. */
static size_t zone_end(const char *s, size_t e, size_t n)
{
    size_t z = e + 1;

    if (e >= n || s[e] != '%')
        return e;
    while (z < n && z - e <= 32 && is_alnum((unsigned char)s[z]))
        z++;
    return z > e + 1 ? z : e;
}

/* "/64" after the address at e, kept only when it is a valid prefix length:
 * "2001:db8::/9999" is the address and some other text. */
static size_t prefix_end(const char *s, size_t e, size_t n, unsigned max)
{
    size_t z = e + 1;
    unsigned bits = 0;

    if (e >= n || s[e] != '/')
        return e;
    while (z < n && z - e <= 3 && is_digit((unsigned char)s[z]))
        bits = bits * 10 + (unsigned)(s[z++] - '0');
    if (z == e + 1 || bits > max || (z < n && is_digit((unsigned char)s[z])))
        return e;
    return z;
}

/* The address, its zone and prefix length, and no letter, digit, '_', ':'
 * or ".x" glued after it. */
static enum pii_verdict ipv6_check(const char *s, size_t n, size_t *start, size_t *end)
{
    size_t e = ipv6_parse(s, *start, n);

    if (e == 0)
        return PII_REJECT_NEXT;
    e = prefix_end(s, zone_end(s, e, n), n, 128);
    if (e < n && (is_alnum((unsigned char)s[e]) || s[e] == '_' || s[e] == ':' ||
                  (s[e] == '.' && e + 1 < n && is_alnum((unsigned char)s[e + 1]))))
        return PII_REJECT_NEXT;
    *end = e;
    return PII_ACCEPT;
}

/* ---- the built-ins ---- */

/*
 * The built-in patterns locate candidates; pii_validate.c decides. Written
 * for PCRE2_EXTENDED, so layout spaces are not part of the pattern (a real
 * space is \x20). Every unbounded run is possessive, so no candidate can
 * make them backtrack.
 */
/* No lookbehind on the local part: leftmost matching already starts at the
 * earliest character that can begin one, and a lookbehind that refused a
 * start after '.', '%' or ':' left "%jane@example.com" wholly unmasked.
 * Likewise a '-' after the TLD ends the address rather than voiding it
 * ("jane@example.com--" passed through whole before). */
#define RE_EMAIL                                                                                   \
    "[A-Za-z0-9_+-] [A-Za-z0-9._+-]{0,63} (?: @ | %40 )"                                           \
    "(?: [A-Za-z0-9] (?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])? \\. )+"                                    \
    "(?: xn--[A-Za-z0-9-]{1,59} | [A-Za-z]{2,63} )"                                                \
    "(?! [A-Za-z0-9] | \\.[A-Za-z0-9] )"

/* A card starts with a group of 4+ digits and has 13 or more. */
#define RE_CARD                                                                                    \
    "(?<![0-9A-Za-z]) (?= (?: [0-9] [\\x20-]? ){13} )"                                             \
    "[0-9]{4,}+ (?: [\\x20-] [0-9]++ ){0,30}+"

#define RE_IBAN "(?<![0-9A-Za-z]) [A-Za-z]{2} [0-9]{2} (?: [\\x20-]? [0-9A-Za-z] ){11,30}+"

/* '_' is a boundary: "ssn_078-05-1120_x" in an identifier is still one
 * (the fuzzer found it passing through). */
#define RE_SSN                                                                                     \
    "(?<![0-9A-Za-z]) (?<![0-9][.,-])"                                                             \
    "[0-9]{3} (?: ([\\x20.-]) [0-9]{2} \\1 | [0-9]{2} ) [0-9]{4}"                                  \
    "(?![0-9A-Za-z]) (?![.,-][0-9])"

#define RE_PHONE                                                                                   \
    "(?<![0-9A-Za-z_+]) (?<![0-9A-Za-z][.,/-])"                                                    \
    "(?= [+(]{0,2} (?: [0-9] [\\x20.()-]{0,3} ){8} )"                                              \
    "\\+? (?: \\(\\+?[0-9]{1,5}\\) | [0-9]++ )"                                                    \
    "(?: (?: [\\x20.-] | (?<=\\))\\x20? ) (?: \\([0-9]{1,5}\\) | [0-9]++ ) ){0,15}+"               \
    "(?: \\x20? (?i: x | ext\\.? | extension ) \\x20? [0-9]{1,6} )?"                               \
    "(?![0-9A-Za-z_])"

#define RE_OCTET "(?: 25[0-5] | 2[0-4][0-9] | 1[0-9]{2} | [1-9]?[0-9] )"
#define RE_IPV4                                                                                    \
    "(?<![0-9A-Za-z_.]) (?: " RE_OCTET " \\. ){3} " RE_OCTET "(?! [0-9A-Za-z_] | \\.[0-9] )"       \
    "(?: / (?: 3[0-2] | [12][0-9] | [0-9] ) (?![0-9]) )?"

/* Only where an address can start; ipv6_check parses it. */
#define RE_IPV6 "(?<![0-9A-Za-z_:.%]) (?= [0-9A-Fa-f]{0,4} : [0-9A-Fa-f]{0,4} : ) [0-9A-Fa-f:]"

#define RE_JWT                                                                                     \
    "(?<![A-Za-z0-9_-]) eyJ [A-Za-z0-9_-]{12,}+ \\. [A-Za-z0-9_-]{2,}+ \\. [A-Za-z0-9_-]*+"        \
    "(?: \\. [A-Za-z0-9_-]++ ){0,2}+"

#define RE_API_KEY                                                                                 \
    "(?<![A-Za-z0-9_-]) (?:"                                                                       \
    "  (?:AKIA|ASIA) [A-Z0-9]{16}"                                                                 \
    "| gh[pousr]_ [A-Za-z0-9]{36,251}+"                                                            \
    "| github_pat_ [A-Za-z0-9_]{22,251}+"                                                          \
    "| xox[abposr]- [A-Za-z0-9-]{15,}+"                                                            \
    "| (?:sk|rk)_(?:live|test)_ [A-Za-z0-9]{24,}+"                                                 \
    "| pk_live_ [A-Za-z0-9]{24,}+"                                                                 \
    "| AIza [A-Za-z0-9_-]{35}"                                                                     \
    "| sk-(?:proj|svcacct|admin|ant)- [A-Za-z0-9_-]{20,}+"                                         \
    "| sk- [A-Za-z0-9]{20,}+"                                                                      \
    ") (?![A-Za-z0-9_-])"

/*
 * span_len and span_digits hold for every accepted match, from the patterns
 * and checks above: email 1 + '@' + a label and '.' + a 2-letter TLD;
 * card 13 digits (card_span_ok); iban the country's length, 15 or more
 * characters, of which the pattern's [0-9]{2} are sure to be digits (an
 * all-letter BBAN passes iban_check, so not the gate's 10); ssn 9 digits;
 * phone 8 digits (phone_check); ipv4 four octets and three dots; ipv6
 * "::1"; jwt "eyJ", 12, '.', 2, '.' (19, one less than the gate's 20);
 * api_key 20 for the shortest shapes (AKIA..., xoxb-...). Every need
 * lies in the bytes the pattern reads from the match start on: the '@' or
 * "%40", the three dots, the "eyJ", the 20-byte token run, the letters and
 * digits of an IBAN's start, and the two colons of the ipv6 lookahead.
 */
const struct pii_builtin pii_builtins[] = {
    {"email", RE_EMAIL, 6, 0, 6, 0, PII_F_AT, NULL},
    {"card", RE_CARD, 13, 13, 13, 13, 0, card_check},
    {"iban", RE_IBAN, 15, 10, 15, 2, PII_F_LLDD, iban_check},
    {"ssn", RE_SSN, 9, 9, 9, 9, 0, ssn_check},
    {"phone", RE_PHONE, 8, 8, 8, 8, 0, phone_check},
    {"ipv4", RE_IPV4, 7, 4, 7, 4, PII_F_DOTS, NULL},
    {"ipv6", RE_IPV6, 3, 0, 3, 0, PII_F_COLONS, ipv6_check},
    {"jwt", RE_JWT, 20, 0, 19, 0, PII_F_EYJ, NULL},
    {"api_key", RE_API_KEY, 20, 0, 20, 0, PII_F_TOKEN, NULL},
};
const size_t pii_nbuiltins = sizeof(pii_builtins) / sizeof(pii_builtins[0]);
const struct pii_builtin *const pii_builtin_card = &pii_builtins[1];
const struct pii_builtin *const pii_builtin_phone = &pii_builtins[4];

static const char *const builtin_names[] = {
    "email", "card", "iban", "ssn", "phone", "ipv4", "ipv6", "jwt", "api_key",
};

const char *const *pii_builtin_names(size_t *n)
{
    *n = sizeof(builtin_names) / sizeof(builtin_names[0]);
    return builtin_names;
}

const struct pii_builtin *pii_builtin_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < pii_nbuiltins; i++)
        if (strcmp(pii_builtins[i].name, name) == 0)
            return &pii_builtins[i];
    return NULL;
}

int pii_builtin_exists(const char *name)
{
    return pii_builtin_find(name) != NULL;
}
