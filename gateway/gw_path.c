/*
 * The request path as the router sees it.  Routes are matched on the
 * percent-decoded path, because that is what the upstream will act on;
 * anything whose decoded form could differ in meaning between us and the
 * upstream (encoded '/', '\', NUL, dot segments) is refused with 400
 * instead of being guessed at.  The raw path is what we forward.
 */
#include <string.h>

#include "gateway/gw.h"

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A "." or ".." segment ending at d[end) that starts after a '/'. */
static bool
is_dot_segment(const char *d, size_t start, size_t end)
{
    size_t n = end - start;

    return (n == 1 && d[start] == '.') || (n == 2 && d[start] == '.' && d[start + 1] == '.');
}

enum gw_path_result
gw_path_check(h2o_mem_pool_t *pool, const char *raw, size_t len, size_t max, h2o_iovec_t *out)
{
    const char *q = memchr(raw, '?', len);
    size_t plen = q != NULL ? (size_t)(q - raw) : len, i, o = 0, seg = 1;
    bool needs_decode = memchr(raw, '%', plen) != NULL;
    char *d;

    if (len > max)
        return GW_PATH_TOO_LONG;
    if (plen == 0 || raw[0] != '/')
        return GW_PATH_BAD;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
            return GW_PATH_BAD;
    }
    d = needs_decode ? h2o_mem_alloc_pool(pool, plen + 1) : NULL;
    for (i = 0; i < plen; i++) {
        char c = raw[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= plen)
                return GW_PATH_BAD;
            hi = hexval(raw[i + 1]);
            lo = hexval(raw[i + 2]);
            if (hi < 0 || lo < 0)
                return GW_PATH_BAD;
            c = (char)(hi * 16 + lo);
            /* an encoded separator, backslash or control byte has no single meaning */
            if (c == '/' || c == '\\' || (unsigned char)c < 0x20 || c == 0x7f)
                return GW_PATH_BAD;
            i += 2;
        }
        if (c == '/') {
            if (is_dot_segment(needs_decode ? d : raw, seg, o))
                return GW_PATH_BAD;
            seg = o + 1;
        }
        if (needs_decode)
            d[o] = c;
        o++;
    }
    if (is_dot_segment(needs_decode ? d : raw, seg, o))
        return GW_PATH_BAD;
    if (needs_decode) {
        d[o] = '\0';
        *out = h2o_iovec_init(d, o);
    } else {
        *out = h2o_iovec_init(raw, plen);
    }
    return GW_PATH_OK;
}
