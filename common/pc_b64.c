/*
 * base64url without padding.  See pc_b64.h.
 */
#include <stdint.h>

#include "pc_b64.h"
#include "pc_err.h"

static const char b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
pc_b64url_encode(char *out, const unsigned char *in, size_t len)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alpha[(v >> 18) & 63];
        out[o++] = b64url_alpha[(v >> 12) & 63];
        out[o++] = b64url_alpha[(v >> 6) & 63];
        out[o++] = b64url_alpha[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alpha[(v >> 18) & 63];
        out[o++] = b64url_alpha[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alpha[(v >> 18) & 63];
        out[o++] = b64url_alpha[(v >> 12) & 63];
        out[o++] = b64url_alpha[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int
val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int
pc_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
    size_t i, o = 0, rem = len % 4, need;
    uint32_t acc = 0;

    if (rem == 1)
        return PC_ERR_PARSE;
    need = (len / 4) * 3 + (rem == 0 ? 0 : rem - 1);
    if (need > cap)
        return PC_ERR_TOO_LARGE;
    for (i = 0; i < len; i++) {
        int v = val(s[i]);
        if (v < 0)
            return PC_ERR_PARSE;
        acc = (acc << 6) | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (rem == 2) {
        if ((acc & 0xf) != 0)
            return PC_ERR_PARSE; /* non-canonical trailing bits */
        out[o++] = (unsigned char)(acc >> 4);
    } else if (rem == 3) {
        if ((acc & 0x3) != 0)
            return PC_ERR_PARSE;
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    *outlen = o;
    return PC_OK;
}

bool
pc_b64url_is_text(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return len > 0;
}
