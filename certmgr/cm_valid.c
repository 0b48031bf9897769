/*
 * Syntax of every value portcullis-admin takes from the command line, a CSR
 * or the index: names, SANs, serials, times, reason and key-type names.  Pure
 * functions, no I/O.  See cm.h.
 *
 * Everything is (ptr, len) and checked byte by byte: the same validators run
 * on operator input and on bytes from files, so a SAN can only reach a
 * certificate or the index in a form the gateway's identity matching expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm.h"

static bool
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
    return is_alpha(c) || is_digit(c);
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
cm_name_is_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > CM_NAME_MAX || s[0] == '.')
        return false;
    for (i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* Length of the UTF-8 sequence at s[0..len), or 0 when it is not valid (RFC 3629). */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
    size_t n, i;
    unsigned long cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    return n;
}

bool
cm_cn_is_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;

    if (len == 0 || len > CM_NAME_MAX || pc_str_has_ctl(s, len))
        return false;
    while (i < len) {
        n = utf8_seq(u + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool
cm_dns_is_valid(const char *s, size_t len)
{
    size_t i, start = 0;
    bool numeric = true;

    if (len == 0 || len > CM_DNS_MAX_BYTES)
        return false;
    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t l = i - start;
            if (l == 0 || l > CM_DNS_LABEL_MAX || s[start] == '-' || s[i - 1] == '-')
                return false;
            if (i < len)
                numeric = true; /* only the last label's digits matter */
            start = i + 1;
            continue;
        }
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
        if (!is_digit(s[i]))
            numeric = false;
    }
    /* RFC 3696 2: a TLD is never all digits; "10.0.0.1" is an address, not a name */
    return !numeric;
}

/* RFC 3986 unreserved / reserved characters ('%' is checked separately). */
static bool
is_uri_char(char c)
{
    return is_alnum(c) || (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=", c) != NULL);
}

/* SPIFFE ID (spiffe.io, SPIFFE-ID.md 2): a workload ID, so a path is required. */
static bool
spiffe_is_valid(const char *s, size_t len)
{
    static const char prefix[] = "spiffe://";
    size_t i = sizeof(prefix) - 1, seg;

    if (len <= i || memcmp(s, prefix, i) != 0)
        return false; /* the scheme is lower case */
    if (s[i] == '/')
        return false; /* empty trust domain */
    for (; i < len && s[i] != '/'; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z') && !is_digit(s[i]) && s[i] != '.' && s[i] != '-' &&
            s[i] != '_')
            return false; /* also refuses ports, userinfo and upper case */
    if (i == len)
        return false; /* no path */
    while (i < len) {
        i++; /* the '/' */
        seg = i;
        for (; i < len && s[i] != '/'; i++)
            if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
                return false; /* also refuses query, fragment and percent-encoding */
        if (i == seg || (i - seg == 1 && s[seg] == '.') ||
            (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.'))
            return false; /* empty, "." or ".." segment; also a trailing '/' */
    }
    return true;
}

bool
cm_uri_is_valid(const char *s, size_t len)
{
    size_t i, colon = 0;

    if (len == 0 || len > CM_SAN_MAX_BYTES || !is_alpha(s[0]))
        return false;
    for (i = 1; i < len && s[i] != ':'; i++)
        if (!is_alnum(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
            return false;
    if (i >= len - 1)
        return false; /* no ':' or nothing after it: not an absolute URI */
    colon = i;
    for (i = colon + 1; i < len; i++) {
        if (s[i] == '%') {
            if (len - i < 3 || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
                return false;
            i += 2;
            continue;
        }
        if (!is_uri_char(s[i]))
            return false; /* whitespace, controls, quotes, '<>{}|\^`', non-ASCII */
    }
    if (pc_str_eq_nocase(s, colon, "spiffe", 6))
        return spiffe_is_valid(s, len);
    return true;
}

bool
cm_email_is_valid(const char *s, size_t len)
{
    const char *at;
    size_t local, i;

    if (len == 0 || len > CM_SAN_MAX_BYTES)
        return false;
    at = memchr(s, '@', len);
    if (at == NULL)
        return false;
    local = (size_t)(at - s);
    if (local == 0 || local > CM_EMAIL_LOCAL_MAX || s[0] == '.' || s[local - 1] == '.')
        return false;
    for (i = 0; i < local; i++) {
        if (s[i] == '.' && s[i + 1] == '.')
            return false;
        /* RFC 5322 dot-atom; no quoted local parts */
        if (!is_alnum(s[i]) && strchr(".!#$%&'*+/=?^_`{|}~-", s[i]) == NULL)
            return false;
    }
    return cm_dns_is_valid(at + 1, len - local - 1); /* also refuses a second '@' */
}

int
cm_serial_parse(const char *s, char *out)
{
    char digits[CM_SERIAL_ARG_MAX + 2];
    size_t len, i, nd = 0, group = 0, skip = 0, o = 0;
    bool colons;

    len = strnlen(s, CM_SERIAL_ARG_MAX + 1);
    if (len == 0)
        return PC_ERR_PARSE;
    if (len > CM_SERIAL_ARG_MAX)
        return PC_ERR_TOO_LARGE;
    colons = memchr(s, ':', len) != NULL;
    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == ':') {
            if (!colons)
                break;
            if (group == 0 || group > 2)
                return PC_ERR_PARSE; /* "::", a leading/trailing ':' or "abc:" */
            if (group == 1) {
                /* "a:b" is the bytes 0a 0b: pad the group */
                digits[nd] = digits[nd - 1];
                digits[nd - 1] = '0';
                nd++;
            }
            group = 0;
            continue;
        }
        if (hex_value(s[i]) < 0)
            return PC_ERR_PARSE;
        digits[nd++] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + ('a' - 'A') : s[i]);
        group++;
    }
    while (skip < nd && digits[skip] == '0')
        skip++;
    if (skip == nd)
        return PC_ERR_PARSE; /* zero is not a serial (RFC 5280: positive) */
    if (nd - skip + (nd - skip) % 2 > CM_SERIAL_HEX_MAX)
        return PC_ERR_TOO_LARGE;
    if ((nd - skip) % 2 != 0)
        out[o++] = '0';
    memcpy(out + o, digits + skip, nd - skip);
    out[o + nd - skip] = '\0';
    return PC_OK;
}

bool
cm_serial_is_canonical(const char *s, size_t len)
{
    size_t i;

    if (len < 2 || len > CM_SERIAL_HEX_MAX || len % 2 != 0 || (s[0] == '0' && s[1] == '0'))
        return false;
    for (i = 0; i < len; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return false;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* Fixed-width decimal field s[0..n) (digits only). */
static bool
num(const char *s, size_t n, unsigned *out)
{
    uint64_t v;

    if (pc_parse_u64(s, n, 9999, &v) != PC_OK)
        return false;
    *out = (unsigned)v;
    return true;
}

int
cm_time_parse_iso(const char *s, size_t len, time_t *out)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, dim;

    if (len != CM_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z')
        return PC_ERR_PARSE;
    if (!num(s, 4, &y) || !num(s + 5, 2, &mo) || !num(s + 8, 2, &d) || !num(s + 11, 2, &h) ||
        !num(s + 14, 2, &mi) || !num(s + 17, 2, &sec))
        return PC_ERR_PARSE;
    if (y < 1950 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59)
        return PC_ERR_PARSE;
    dim = mdays[mo - 1];
    if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        dim = 29;
    if (d < 1 || d > dim)
        return PC_ERR_PARSE;
    *out = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec);
    return PC_OK;
}

int
cm_time_parse_arg(const char *s, time_t now, time_t *out)
{
    size_t len = strlen(s);
    uint64_t ms;
    long long t;
    int rc;

    if (strcmp(s, "now") == 0) {
        t = now;
    } else if (s[0] == '+' || s[0] == '-') {
        rc = pc_parse_duration_ms(s + 1, len - 1, &ms);
        if (rc != PC_OK)
            return rc;
        if (ms % 1000 != 0)
            return PC_ERR_PARSE; /* certificates count whole seconds */
        /* the duration parser caps at ~100 years: no overflow here */
        t = (long long)now + (s[0] == '+' ? 1 : -1) * (long long)(ms / 1000);
    } else {
        time_t v;
        rc = cm_time_parse_iso(s, len, &v);
        if (rc != PC_OK)
            return rc;
        t = v;
    }
    if (t < CM_TIME_MIN || t > CM_TIME_MAX)
        return PC_ERR_TOO_LARGE;
    *out = (time_t)t;
    return PC_OK;
}

char *
cm_time_format(time_t t, char *out)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(out, CM_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != CM_TIME_LEN)
        snprintf(out, CM_TIME_LEN + 1, "0000-00-00T00:00:00Z"); /* out of range: visible */
    return out;
}

static const struct {
    int code;
    const char *name;
} reasons[] = {
    {CM_REASON_UNSPECIFIED, "unspecified"},
    {CM_REASON_KEY_COMPROMISE, "keyCompromise"},
    {CM_REASON_CA_COMPROMISE, "cACompromise"},
    {CM_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
    {CM_REASON_SUPERSEDED, "superseded"},
    {CM_REASON_CESSATION_OF_OPERATION, "cessationOfOperation"},
    {CM_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
};

int
cm_reason_parse(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcasecmp(s, reasons[i].name) == 0)
            return reasons[i].code;
    return -1;
}

const char *
cm_reason_name(int code)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == code)
            return reasons[i].name;
    return NULL;
}

static const char *const key_types[] = {
    [CM_KEY_EC256] = "ec256",
    [CM_KEY_EC384] = "ec384",
    [CM_KEY_ED25519] = "ed25519",
    [CM_KEY_RSA2048] = "rsa2048",
};

int
cm_key_type_parse(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
        if (strcmp(s, key_types[i]) == 0)
            return (int)i;
    return -1;
}

const char *
cm_key_type_name(enum cm_key_type kt)
{
    return (size_t)kt < sizeof(key_types) / sizeof(key_types[0]) ? key_types[kt] : "?";
}

void
cm_strv_push(struct cm_strv *sv, const char *s, size_t len)
{
    sv->v = pc_xreallocarray(sv->v, sv->n + 1, sizeof(*sv->v));
    sv->v[sv->n++] = pc_xstrndup(s, len);
}

void
cm_strv_clear(struct cm_strv *sv)
{
    size_t i;

    for (i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

void
cm_sans_clear(struct cm_sans *s)
{
    cm_strv_clear(&s->uri);
    cm_strv_clear(&s->dns);
    cm_strv_clear(&s->email);
}

size_t
cm_sans_count(const struct cm_sans *s)
{
    return s->uri.n + s->dns.n + s->email.n;
}

int
cm_sans_add(struct cm_sans *s, const char *kind, const char *v, size_t len, const char *what)
{
    char esc[CM_ESC_MAX];
    struct cm_strv *sv;
    bool good;

    if (strcmp(kind, "uri") == 0) {
        sv = &s->uri;
        good = cm_uri_is_valid(v, len);
    } else if (strcmp(kind, "dns") == 0) {
        sv = &s->dns;
        good = cm_dns_is_valid(v, len);
    } else if (strcmp(kind, "email") == 0) {
        sv = &s->email;
        good = cm_email_is_valid(v, len);
    } else {
        cm_err_set("%s: unknown subjectAltName kind %s", what, kind);
        return PC_ERR_INTERNAL;
    }
    if (memchr(v, '\0', len) != NULL)
        good = false; /* an embedded NUL would cut the name for C readers */
    if (!good) {
        cm_err_set("%s \"%s\": not a valid %s", what, cm_esc(esc, v, len),
                   sv == &s->uri   ? "URI (spiffe://trust-domain/path or scheme:...)"
                   : sv == &s->dns ? "DNS name (letters, digits, '-' labels; no wildcard)"
                                   : "email address");
        return PC_ERR_INVALID;
    }
    if (cm_sans_count(s) >= CM_SANS_MAX) {
        cm_err_set("%s: more than %d subjectAltName entries", what, CM_SANS_MAX);
        return PC_ERR_TOO_LARGE;
    }
    cm_strv_push(sv, v, len);
    return PC_OK;
}
