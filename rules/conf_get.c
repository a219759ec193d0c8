/*
 * conf_get: the loader's errors, the directive-table walker and the typed
 * helpers every section uses.
 *
 * Numbers, booleans, sizes and durations must be plain (unquoted) scalars:
 * a quoted "100" is a string, as in YAML itself, and accepting it here would
 * make two spellings of one config. Integers are decimal without leading
 * zeros, because YAML 1.1 tools read 010 as octal 8.
 */
#include "rules/conf_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int conf_vfail(struct conf_ctx *x, unsigned line, unsigned col, const char *fmt, va_list ap)
{
    char msg[ERR_MSG_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (x->plen == 0)
        return err_set_at(x->err, x->file, line, col, "%s", msg);
    return err_set_at(x->err, x->file, line, col, "in \"%s\": %s", x->path, msg);
}

int conf_fail_at(struct conf_ctx *x, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_vfail(x, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int conf_fail(struct conf_ctx *x, const struct cnode *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_vfail(x, n->line, n->col, fmt, ap);
    va_end(ap);
    return -1;
}

int conf_fail_in(struct conf_ctx *x, const struct cnode *n, size_t off, const char *fmt, ...)
{
    unsigned col = n->col;
    va_list ap;

    /* Only a one-line flow scalar maps text offsets to columns; escapes can
     * still shift it, so clamp to the scalar's last character. */
    if (n->style != CNODE_BLOCK && n->line == n->end_line && n->end_col > n->col) {
        unsigned quote = n->style == CNODE_QUOTED;
        unsigned last = n->end_col - 1 - quote;
        col += quote + (unsigned)(off < 1000000 ? off : 1000000);
        if (col > last)
            col = last >= n->col ? last : n->col;
    }
    va_start(ap, fmt);
    conf_vfail(x, n->line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int conf_fail_key(struct conf_ctx *x, const struct cnode *map, const char *key, const char *fmt,
                  ...)
{
    const struct cnode *n = conf_map_get(map, key);
    size_t saved = x->plen;
    va_list ap;

    if (n != NULL)
        conf_path_key(x, key, strlen(key));
    else
        n = map;
    va_start(ap, fmt);
    conf_vfail(x, n->line, n->col, fmt, ap);
    va_end(ap);
    conf_path_restore(x, saved);
    return -1;
}

/* Append to the path, truncating when full; control bytes become '?' so a
 * key cannot break the message line. */
static void conf_path_append(struct conf_ctx *x, const char *s, size_t n)
{
    for (size_t i = 0; i < n && x->plen + 1 < sizeof(x->path); i++) {
        unsigned char c = (unsigned char)s[i];
        x->path[x->plen++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    x->path[x->plen] = '\0';
}

size_t conf_path_key(struct conf_ctx *x, const char *key, size_t klen)
{
    size_t saved = x->plen;

    if (x->plen > 0)
        conf_path_append(x, ".", 1);
    conf_path_append(x, key, klen > 64 ? 64 : klen);
    return saved;
}

size_t conf_path_index(struct conf_ctx *x, size_t i)
{
    size_t saved = x->plen;
    char b[32];
    int n = snprintf(b, sizeof(b), "[%zu]", i);

    conf_path_append(x, b, (size_t)n);
    return saved;
}

void conf_path_restore(struct conf_ctx *x, size_t saved)
{
    x->plen = saved;
    x->path[saved] = '\0';
}

int conf_is_null(const struct cnode *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (n->kind != CNODE_SCALAR || n->style != CNODE_PLAIN)
        return 0;
    for (size_t i = 0; i < CONF_NELEM(nulls); i++)
        if (strcmp(n->s, nulls[i]) == 0)
            return 1;
    return 0;
}

const char *conf_kind_name(const struct cnode *n)
{
    if (n->kind == CNODE_MAP)
        return "a mapping";
    if (n->kind == CNODE_SEQ)
        return "a sequence";
    if (conf_is_null(n))
        return "null";
    return n->style == CNODE_PLAIN ? "a scalar" : "a quoted string";
}

int conf_expect(struct conf_ctx *x, const struct cnode *n, enum cnode_kind kind)
{
    static const char *const want[] = {"a string", "a sequence", "a mapping"};

    if (n->kind == kind && !conf_is_null(n))
        return 0;
    return conf_fail(x, n, "expected %s, got %s", want[kind], conf_kind_name(n));
}

const struct cnode *conf_map_get(const struct cnode *map, const char *key)
{
    size_t klen = strlen(key);

    if (map == NULL || map->kind != CNODE_MAP)
        return NULL;
    for (const struct cnode *k = map->head; k != NULL; k = k->next->next)
        if (k->len == klen && memcmp(k->s, key, klen) == 0)
            return k->next;
    return NULL;
}

static const struct conf_directive *conf_find(const struct conf_directive *t, size_t nt,
                                              const struct cnode *key)
{
    for (size_t i = 0; i < nt; i++)
        if (strlen(t[i].key) == key->len && memcmp(t[i].key, key->s, key->len) == 0)
            return &t[i];
    return NULL;
}

static int conf_unknown_key(struct conf_ctx *x, const struct cnode *key,
                            const struct conf_directive *t, size_t nt)
{
    char known[400];
    size_t n = 0;

    known[0] = '\0';
    for (size_t i = 0; i < nt && n < sizeof(known); i++) {
        int w = snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "", t[i].key);
        n += w > 0 ? (size_t)w : 0;
    }
    return conf_fail(x, key, "unknown key \"%.*s\" (expected one of: %s)",
                     (int)(key->len > 64 ? 64 : key->len), key->s, known);
}

/* Keys are checked first, then read in table order, not file order: tables
 * list sections in dependency order (policies before the tenants naming
 * them), so a file may order its sections as it likes. */
int conf_map_apply(struct conf_ctx *x, const struct cnode *map, const struct conf_directive *t,
                   size_t nt, void *obj)
{
    if (conf_expect(x, map, CNODE_MAP))
        return -1;
    for (const struct cnode *k = map->head; k != NULL; k = k->next->next)
        if (conf_find(t, nt, k) == NULL)
            return conf_unknown_key(x, k, t, nt);
    for (size_t i = 0; i < nt; i++) {
        const struct cnode *v = conf_map_get(map, t[i].key);
        size_t saved;
        int rc;
        if (v == NULL) {
            if (t[i].flags & CONF_REQUIRED)
                return conf_fail(x, map, "missing required key \"%s\"", t[i].key);
            continue;
        }
        saved = conf_path_key(x, t[i].key, strlen(t[i].key));
        rc = t[i].get(x, v, &t[i], obj);
        conf_path_restore(x, saved);
        if (rc)
            return -1;
    }
    return 0;
}

void *conf_alloc(struct conf_ctx *x, const struct cnode *n, size_t count, size_t size)
{
    void *p = NULL;

    if (size == 0 || count <= SIZE_MAX / size)
        p = arena_zalloc(x->a, count * size);
    if (p == NULL)
        conf_fail(x, n, "configuration too large");
    return p;
}

char *conf_strndup(struct conf_ctx *x, const struct cnode *n, const char *s, size_t len)
{
    char *p = arena_strndup(x->a, s, len);

    if (p == NULL)
        conf_fail(x, n, "configuration too large");
    return p;
}

/* A non-null plain scalar, or an error saying what was wanted. */
static int conf_plain(struct conf_ctx *x, const struct cnode *n, const char *what)
{
    if (n->kind == CNODE_SCALAR && n->style == CNODE_PLAIN && !conf_is_null(n))
        return 0;
    return conf_fail(x, n, "expected %s, got %s", what, conf_kind_name(n));
}

/* Decimal digits at s[*i]: 0 ok, -1 none, -2 leading zero, -3 overflow. */
static int conf_scan_decimal(const char *s, size_t len, size_t *i, uint64_t *v)
{
    size_t start = *i;

    *v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return -3;
        *v = *v * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return -1;
    if (s[start] == '0' && *i - start > 1)
        return -2;
    return 0;
}

int conf_get_uint(struct conf_ctx *x, const struct cnode *n, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    size_t i = 0;
    uint64_t v;
    int rc;

    if (conf_plain(x, n, "an integer"))
        return -1;
    rc = conf_scan_decimal(n->s, n->len, &i, &v);
    if (rc == -2)
        return conf_fail(x, n, "leading zeros are not allowed (YAML 1.1 reads them as octal)");
    if (rc != 0 || i != n->len || v < min || v > max)
        return conf_fail(x, n, "expected a decimal integer from %llu to %llu",
                         (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

struct conf_unit {
    const char *name;
    uint64_t mult;
};

static const struct conf_unit conf_size_units[] = {
    {"", 1},
    {"B", 1},
    {"KiB", (uint64_t)1 << 10},
    {"MiB", (uint64_t)1 << 20},
    {"GiB", (uint64_t)1 << 30},
    {"TiB", (uint64_t)1 << 40},
};

static const struct conf_unit conf_time_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

/* Print v in the largest unit that divides it exactly. */
static void conf_show(char *b, size_t bn, uint64_t v, const struct conf_unit *u, size_t nu)
{
    size_t best = 0;

    for (size_t i = 0; i < nu; i++)
        if (u[i].mult > u[best].mult && v % u[i].mult == 0)
            best = i;
    snprintf(b, bn, "%llu%s", (unsigned long long)(v / u[best].mult), u[best].name);
}

static int conf_range_fail(struct conf_ctx *x, const struct cnode *n, const char *what,
                           uint64_t min, uint64_t max, const struct conf_unit *u, size_t nu)
{
    char lo[32], hi[32];

    conf_show(lo, sizeof(lo), min, u, nu);
    conf_show(hi, sizeof(hi), max, u, nu);
    return conf_fail(x, n, "%s out of range (expected %s to %s)", what, lo, hi);
}

/* "<digits>[ ]<unit>" with the unit from u; the message names examples. */
static int conf_get_scaled(struct conf_ctx *x, const struct cnode *n, const struct conf_unit *u,
                           size_t nu, const char *what, uint64_t *out)
{
    size_t i = 0, j;
    uint64_t v;
    int rc;

    if (conf_plain(x, n, what))
        return -1;
    rc = conf_scan_decimal(n->s, n->len, &i, &v);
    if (rc == -2)
        return conf_fail(x, n, "leading zeros are not allowed (YAML 1.1 reads them as octal)");
    if (rc == -1)
        return conf_fail(x, n, "expected %s", what);
    if (i < n->len && n->s[i] == ' ')
        i++;
    for (j = 0; j < nu; j++)
        if (strcmp(n->s + i, u[j].name) == 0)
            break;
    if (j == nu)
        return -2;
    if (rc == -3 || v > UINT64_MAX / u[j].mult)
        return conf_fail(x, n, "%s too large", what);
    *out = v * u[j].mult;
    return 0;
}

int conf_get_size(struct conf_ctx *x, const struct cnode *n, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    static const char *const ambiguous[] = {"k", "K", "kB", "KB", "M", "MB", "G", "GB", "T", "TB"};
    const char *what = "a size such as 512KiB, 5MiB or 1GiB";
    size_t nu = CONF_NELEM(conf_size_units);
    uint64_t v;
    int rc = conf_get_scaled(x, n, conf_size_units, nu, what, &v);

    if (rc == -2) {
        const char *unit = n->s + strspn(n->s, "0123456789 ");
        for (size_t i = 0; i < CONF_NELEM(ambiguous); i++)
            if (strcmp(unit, ambiguous[i]) == 0)
                return conf_fail(x, n, "ambiguous unit \"%s\" (use B, KiB, MiB, GiB or TiB)",
                                 ambiguous[i]);
        return conf_fail(x, n, "expected %s (units: B, KiB, MiB, GiB, TiB)", what);
    }
    if (rc)
        return -1;
    if (v < min || v > max)
        return conf_range_fail(x, n, "size", min, max, conf_size_units, nu);
    *out = v;
    return 0;
}

int conf_get_duration(struct conf_ctx *x, const struct cnode *n, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *out)
{
    const char *what = "a duration such as 500ms, 10s, 30m or 2h";
    size_t nu = CONF_NELEM(conf_time_units);
    uint64_t v;
    int rc = conf_get_scaled(x, n, conf_time_units, nu, what, &v);

    if (rc == -2)
        return conf_fail(x, n, "expected %s (units: ms, s, m, h; a unit is required)", what);
    if (rc)
        return -1;
    if (v < min_ms || v > max_ms)
        return conf_range_fail(x, n, "duration", min_ms, max_ms, conf_time_units, nu);
    *out = v;
    return 0;
}

int conf_get_bool(struct conf_ctx *x, const struct cnode *n, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};

    if (conf_plain(x, n, "true or false"))
        return -1;
    for (size_t i = 0; i < CONF_NELEM(yes); i++) {
        if (strcmp(n->s, yes[i]) == 0 || strcmp(n->s, no[i]) == 0) {
            *out = strcmp(n->s, yes[i]) == 0;
            return 0;
        }
    }
    return conf_fail(x, n, "expected true or false");
}

int conf_get_string(struct conf_ctx *x, const struct cnode *n, char **out)
{
    char *s;

    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (n->len == 0)
        return conf_fail(x, n, "expected a non-empty string");
    if ((s = conf_strndup(x, n, n->s, n->len)) == NULL)
        return -1;
    *out = s;
    return 0;
}

static int conf_is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* Tenant ids and policy names become file names and log fields, so they are
 * kept to a portable alphabet. */
int conf_get_name(struct conf_ctx *x, const struct cnode *n, const char *what, char **out)
{
    int ok;

    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    ok = n->len > 0 && n->len <= 64 && n->s[0] != '.' && n->s[0] != '-';
    for (size_t i = 0; ok && i < n->len; i++)
        ok = conf_is_name_char((unsigned char)n->s[i]);
    if (!ok)
        return conf_fail(x, n,
                         "expected %s: 1 to 64 letters, digits, '.', '_' or '-', not "
                         "starting with '.' or '-'",
                         what);
    return conf_get_string(x, n, out);
}

int conf_get_path(struct conf_ctx *x, const struct cnode *n, char **out)
{
    size_t dl = x->dirlen;
    char *p;

    if (conf_get_string(x, n, out))
        return -1;
    if (n->s[0] == '/' || dl == 0)
        return 0;
    if ((p = conf_alloc(x, n, dl + 1 + n->len + 1, 1)) == NULL)
        return -1;
    memcpy(p, x->dir, dl);
    if (x->dir[dl - 1] != '/')
        p[dl++] = '/';
    memcpy(p + dl, n->s, n->len + 1);
    *out = p;
    return 0;
}

static int conf_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int conf_get_hex32(struct conf_ctx *x, const struct cnode *n, uint8_t out[32])
{
    uint8_t v[32];

    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (n->len != 64)
        return conf_fail(x, n, "expected 64 hexadecimal digits (a SHA-256)");
    for (size_t i = 0; i < 32; i++) {
        int hi = conf_hex_value((unsigned char)n->s[2 * i]);
        int lo = conf_hex_value((unsigned char)n->s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return conf_fail(x, n, "expected 64 hexadecimal digits (a SHA-256)");
        v[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, v, sizeof(v));
    return 0;
}

/* host:port with host a name, an IPv4 address or [IPv6]. */
static int conf_hostport_ok(const char *s, size_t len)
{
    const char *colon = memrchr(s, ':', len);
    size_t hlen, i = 0;
    uint64_t port;

    if (colon == NULL || colon == s)
        return 0;
    hlen = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hlen < 3 || s[hlen - 1] != ']' || memchr(s + 1, ']', hlen - 2) != NULL)
            return 0;
        for (size_t k = 1; k < hlen - 1; k++)
            if (conf_hex_value((unsigned char)s[k]) < 0 && s[k] != ':' && s[k] != '.')
                return 0;
    } else {
        for (size_t k = 0; k < hlen; k++)
            if (!conf_is_name_char((unsigned char)s[k]) || s[k] == '_')
                return 0;
    }
    i = hlen + 1;
    return conf_scan_decimal(s, len, &i, &port) == 0 && i == len && port >= 1 && port <= 65535;
}

int conf_get_hostport(struct conf_ctx *x, const struct cnode *n, char **out)
{
    if (conf_expect(x, n, CNODE_SCALAR))
        return -1;
    if (!conf_hostport_ok(n->s, n->len))
        return conf_fail(x, n, "expected host:port (such as 127.0.0.1:8080 or [::1]:8080)");
    return conf_get_string(x, n, out);
}

int conf_get_strings(struct conf_ctx *x, const struct cnode *n,
                     int (*get)(struct conf_ctx *, const struct cnode *, char **), char ***out,
                     size_t *count)
{
    char **v;
    size_t i = 0;

    if (conf_expect(x, n, CNODE_SEQ))
        return -1;
    if ((v = conf_alloc(x, n, n->n, sizeof(*v))) == NULL)
        return -1;
    for (const struct cnode *it = n->head; it != NULL; it = it->next, i++) {
        size_t saved = conf_path_index(x, i);
        int rc = get(x, it, &v[i]);
        conf_path_restore(x, saved);
        if (rc)
            return -1;
    }
    *out = v;
    *count = n->n;
    return 0;
}
