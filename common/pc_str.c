/*
 * Bounded parsing and string building.  See pc_str.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_err.h"
#include "pc_mem.h"
#include "pc_str.h"

int
pc_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0)
        return PC_ERR_PARSE;
    for (i = 0; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return PC_ERR_PARSE;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return PC_ERR_TOO_LARGE;
        v = v * 10 + d;
    }
    if (v > max)
        return PC_ERR_TOO_LARGE;
    *out = v;
    return PC_OK;
}

int
pc_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    size_t digits = 0, i;
    uint64_t v;
    int rc;

    while (digits < len && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == 0 || digits == len)
        return PC_ERR_PARSE;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t ul = strlen(units[i].unit);
        if (len - digits == ul && memcmp(s + digits, units[i].unit, ul) == 0) {
            /* cap at ~100 years so later arithmetic cannot overflow */
            rc = pc_parse_u64(s, digits, UINT64_C(3153600000000) / units[i].ms, &v);
            if (rc != PC_OK)
                return rc;
            *out_ms = v * units[i].ms;
            return PC_OK;
        }
    }
    return PC_ERR_PARSE;
}

int
pc_parse_size(const char *s, size_t len, uint64_t *out)
{
    size_t digits = 0, rest;
    uint64_t v, mult = 1;
    int rc;

    while (digits < len && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == 0)
        return PC_ERR_PARSE;
    rest = len - digits;
    if (rest > 0 && (s[len - 1] == 'b' || s[len - 1] == 'B'))
        rest--; /* "16MB", "8kb", "100B" */
    if (rest == 1) {
        switch (s[digits]) {
        case 'k':
        case 'K':
            mult = 1024;
            break;
        case 'm':
        case 'M':
            mult = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mult = 1024 * 1024 * 1024;
            break;
        default:
            return PC_ERR_PARSE;
        }
    } else if (rest != 0) {
        return PC_ERR_PARSE;
    }
    rc = pc_parse_u64(s, digits, (UINT64_C(1) << 40) / mult, &v);
    if (rc != PC_OK)
        return rc;
    *out = v * mult;
    return PC_OK;
}

bool
pc_str_eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i;

    if (alen != blen)
        return false;
    for (i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

bool
pc_str_is_token(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

bool
pc_str_has_ctl(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return true;
    return false;
}

char *
pc_hex(char *out, const unsigned char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

void
pc_buf_init(struct pc_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

static int
buf_reserve(struct pc_buf *b, size_t n)
{
    size_t want;

    if (n > b->cap || b->len > b->cap - n)
        return PC_ERR_TOO_LARGE;
    want = b->len + n + 1;
    if (want <= b->alloc)
        return PC_OK;
    if (b->alloc == 0)
        b->alloc = 64;
    while (b->alloc < want)
        b->alloc = b->alloc > SIZE_MAX / 2 ? want : b->alloc * 2;
    b->data = pc_xrealloc(b->data, b->alloc);
    return PC_OK;
}

int
pc_buf_add(struct pc_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc != PC_OK)
        return rc;
    if (n != 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PC_OK;
}

int
pc_buf_addc(struct pc_buf *b, char c)
{
    return pc_buf_add(b, &c, 1);
}

int
pc_buf_adds(struct pc_buf *b, const char *s)
{
    return pc_buf_add(b, s, strlen(s));
}

int
pc_buf_addf(struct pc_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PC_ERR_INTERNAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc != PC_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PC_OK;
}

int
pc_buf_add_json_str(struct pc_buf *b, const char *s, size_t n)
{
    size_t worst, out;
    int rc;

    if (n > (SIZE_MAX - 8) / 6)
        return PC_ERR_TOO_LARGE;
    worst = n * 6;
    if (worst > b->cap - b->len)
        worst = b->cap - b->len;
    rc = buf_reserve(b, worst);
    if (rc != PC_OK)
        return rc;
    out = pc_json_escape(b->data, b->len, b->len + worst, s, n);
    if (out == SIZE_MAX) {
        b->data[b->len] = '\0';
        return PC_ERR_TOO_LARGE;
    }
    b->len = out;
    b->data[b->len] = '\0';
    return PC_OK;
}

void
pc_buf_reset(struct pc_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void
pc_buf_clear(struct pc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

char *
pc_buf_take(struct pc_buf *b, size_t *len)
{
    char *p = b->data;

    if (len != NULL)
        *len = b->len;
    if (p == NULL)
        p = pc_xstrdup("");
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    size_t need, i;
    uint32_t cp;

    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    need = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n < need)
        return 0;
    cp = s[0] & (0x7f >> need);
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

size_t
pc_json_escape(char *dst, size_t off, size_t cap, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        char esc[8];
        size_t elen, u;
        const char *piece = esc;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        } else if (c < 0x80) {
            esc[0] = (char)c;
            elen = 1;
        } else if ((u = utf8_len(s + i, n - i)) != 0) {
            piece = src + i;
            elen = u;
            if (cap - off < elen)
                return SIZE_MAX;
            memcpy(dst + off, piece, elen);
            off += elen;
            i += u;
            continue;
        } else {
            memcpy(esc, "\\ufffd", 6);
            elen = 6;
        }
        if (off > cap || cap - off < elen)
            return SIZE_MAX;
        memcpy(dst + off, piece, elen);
        off += elen;
        i++;
    }
    return off;
}
