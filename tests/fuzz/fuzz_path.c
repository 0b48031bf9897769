/*
 * libFuzzer target for the request-target check that runs before routing
 * (gw_path_check).  Invariants: an accepted path starts with '/', is no
 * longer than the raw path before its query, and its decoded form holds no
 * control byte, no '\', no "." or ".." segment, and no encoded '/'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PATH_MAX 4096

static void
check_decoded(const char *raw, size_t rawlen, h2o_iovec_t p)
{
    const char *q = memchr(raw, '?', rawlen);
    size_t plen = q != NULL ? (size_t)(q - raw) : rawlen, i, s = 0;

    if (p.len == 0 || p.len > plen || p.base[0] != '/')
        abort();
    for (i = 0; i <= p.len; i++) {
        if (i < p.len) {
            unsigned char c = (unsigned char)p.base[i];
            if (c < 0x20 || c == 0x7f || c == '\\')
                abort();
            if (c != '/')
                continue;
        }
        if (i > s) {
            size_t n = i - s;
            if ((n == 1 && p.base[s] == '.') ||
                (n == 2 && p.base[s] == '.' && p.base[s + 1] == '.'))
                abort();
        }
        s = i + 1;
    }
    /* no more '/' decoded than written raw: an encoded "%2F" never became one */
    {
        size_t raw_slash = 0, dec_slash = 0;
        for (i = 0; i < plen; i++)
            raw_slash += raw[i] == '/';
        for (i = 0; i < p.len; i++)
            dec_slash += p.base[i] == '/';
        if (dec_slash != raw_slash)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_mem_pool_t pool;
    h2o_iovec_t out = {NULL, 0};
    enum gw_path_result r;

    h2o_mem_init_pool(&pool);
    r = gw_path_check(&pool, (const char *)data, size, FUZZ_PATH_MAX, &out);
    if (r == GW_PATH_OK)
        check_decoded((const char *)data, size, out);
    else if (r == GW_PATH_TOO_LONG && size <= FUZZ_PATH_MAX)
        abort();
    h2o_mem_clear_pool(&pool);
    return 0;
}
