/*
 * conf_dir: directive handlers over the typed helpers of conf_get.c. Each
 * stores into the field a table entry names (CONF_FIELD checks its type), so
 * a section is a table, not code.
 */
#include "rules/conf_impl.h"

int conf_dir_uint(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj)
{
    uint64_t v;

    if (conf_get_uint(x, n, d->min, d->max, &v))
        return -1;
    *CONF_AT(obj, d, unsigned) = (unsigned)v;
    return 0;
}

int conf_dir_u32(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                 void *obj)
{
    uint64_t v;

    if (conf_get_uint(x, n, d->min, d->max, &v))
        return -1;
    *CONF_AT(obj, d, uint32_t) = (uint32_t)v;
    return 0;
}

int conf_dir_count(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                   void *obj)
{
    uint64_t v;

    if (conf_get_uint(x, n, d->min, d->max, &v))
        return -1;
    *CONF_AT(obj, d, size_t) = (size_t)v;
    return 0;
}

int conf_dir_size(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj)
{
    uint64_t v;

    if (conf_get_size(x, n, d->min, d->max, &v))
        return -1;
    *CONF_AT(obj, d, size_t) = (size_t)v;
    return 0;
}

int conf_dir_size64(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                    void *obj)
{
    return conf_get_size(x, n, d->min, d->max, CONF_AT(obj, d, uint64_t));
}

int conf_dir_ms(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                void *obj)
{
    uint64_t v;

    if (conf_get_duration(x, n, d->min, d->max, &v))
        return -1;
    *CONF_AT(obj, d, unsigned) = (unsigned)v;
    return 0;
}

int conf_dir_ms64(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj)
{
    return conf_get_duration(x, n, d->min, d->max, CONF_AT(obj, d, uint64_t));
}

int conf_dir_seconds(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                     void *obj)
{
    uint64_t v;

    if (conf_get_duration(x, n, d->min, d->max, &v))
        return -1;
    if (v % 1000 != 0)
        return conf_fail(x, n, "expected whole seconds (such as 90s or 1h)");
    *CONF_AT(obj, d, unsigned) = (unsigned)(v / 1000);
    return 0;
}

int conf_dir_bool(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj)
{
    return conf_get_bool(x, n, CONF_AT(obj, d, int));
}

int conf_dir_string(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                    void *obj)
{
    return conf_get_string(x, n, CONF_AT(obj, d, char *));
}

int conf_dir_path(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                  void *obj)
{
    return conf_get_path(x, n, CONF_AT(obj, d, char *));
}

int conf_dir_hostport(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                      void *obj)
{
    return conf_get_hostport(x, n, CONF_AT(obj, d, char *));
}

int conf_dir_section(struct conf_ctx *x, const struct cnode *n, const struct conf_directive *d,
                     void *obj)
{
    return conf_map_apply(x, n, d->sub, d->nsub, (char *)obj + d->off);
}
