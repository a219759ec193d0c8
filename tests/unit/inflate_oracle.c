#include "inflate_oracle.h"

#include <libdeflate.h>
#include <stdlib.h>

char *oracle_inflate(enum oracle_coding c, const void *z, size_t n, size_t *outn)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t cap = 1 << 16;
    char *out = NULL;
    enum libdeflate_result r = LIBDEFLATE_INSUFFICIENT_SPACE;

    if (d == NULL)
        return NULL;
    while (r == LIBDEFLATE_INSUFFICIENT_SPACE && cap <= (64u << 20)) {
        free(out);
        if ((out = malloc(cap + 1)) == NULL)
            break;
        r = c == ORACLE_GZIP ? libdeflate_gzip_decompress(d, z, n, out, cap, outn)
                             : libdeflate_zlib_decompress(d, z, n, out, cap, outn);
        cap *= 2;
    }
    libdeflate_free_decompressor(d);
    if (out == NULL || r != LIBDEFLATE_SUCCESS) {
        free(out);
        return NULL;
    }
    out[*outn] = '\0';
    return out;
}
