/*
 * store_impl: what store.c and store_dir.c share. Nothing outside the store
 * includes it.
 */
#ifndef SCRIM_STORE_IMPL_H
#define SCRIM_STORE_IMPL_H

#include "proxy/store.h"

#define STORE_PATH_MAX 4096
#define STORE_LIST_MAX 1000000 /* entries of one store directory */

/* Latest time a store accepts: the end of year 9999, so day names stay
 * YYYY-MM-DD. */
#define STORE_MS_MAX 253402300799999ull

struct store_names {
    char **v;
    size_t n;
};

/* Sorted names in dir that keep() accepts (NULL: every entry but . and ..;
 * otherwise names starting with '.' are skipped too). An empty list when
 * dir does not exist and missing_ok is set. */
int store_list(const char *dir, int (*keep)(const char *name), int missing_ok,
               struct store_names *out, struct err *err) WUR;
void store_names_free(struct store_names *n);

int store_is_tenant(const char *name);
int store_is_day(const char *name);
int store_is_segment(const char *name);

/* Days since the epoch of a YYYY-MM-DD name (store_is_day holds), of ms. */
int64_t store_day_number(const char *name);
int64_t store_ms_day(uint64_t ms);

/* "fmt" into out (STORE_PATH_MAX); -1 with err when too long. */
int store_path(char *out, struct err *err, const char *fmt, ...) ERR_PRINTF(3, 4) WUR;

/* fsync a directory, so a new or removed entry in it survives a crash. */
int store_dir_sync(const char *dir, struct err *err) WUR;

/* Make parent/name (0700) unless it exists; fsync parent when it was made. */
int store_mkdir(const char *parent, const char *name, struct err *err) WUR;

/* Make a crashed or abandoned segment whole without a key: cut its torn
 * tail and close it with a recovery marker; a file whose header a crash cut
 * (it never held a record) is removed. Closed segments are left as they are.
 * -1 with err when path is not a segment or cannot be repaired. */
int store_recover_segment(const char *path, struct store_stats *st, struct err *err) WUR;

/* Remove a day directory and the files in it; *files gets their number. */
int store_remove_day(const char *tenant_dir, const char *day, unsigned *files, struct err *err) WUR;

#endif
