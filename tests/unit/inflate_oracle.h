/*
 * inflate_oracle: gzip and zlib inflating for tests, with libdeflate called
 * directly, so a test checks rules/decode.c and the vendor formats'
 * compression against something that does not share their code.
 */
#ifndef SCRIM_TEST_INFLATE_ORACLE_H
#define SCRIM_TEST_INFLATE_ORACLE_H

#include <stddef.h>

enum oracle_coding { ORACLE_GZIP, ORACLE_ZLIB };

/* z[0..n) inflated, NUL-terminated, or NULL when it is not exactly one
 * stream of that coding (up to 64 MiB out); free() the result. */
char *oracle_inflate(enum oracle_coding c, const void *z, size_t n, size_t *outn);

#endif
