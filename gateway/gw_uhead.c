/*
 * Judging an upstream's response head: see gw_uhead.h.  RFC 9112 §6.3 gives
 * the order: no body for HEAD, 1xx, 204 and 304; then Transfer-Encoding
 * (only "chunked" as the last and only coding is framed here, anything else
 * is refused rather than guessed); then Content-Length (several values must
 * agree); else the body runs to the close.  A response with both
 * Transfer-Encoding and Content-Length is refused: it is how response
 * splitting starts, and no honest upstream sends it.
 */
#include <string.h>
#include <strings.h>

#include "common/pc_str.h"
#include "gateway/gw_uhead.h"

#define LIT(s) s, sizeof(s) - 1

bool
gw_uhead_is_hop_by_hop(const char *n, size_t len)
{
    static const struct {
        const char *s;
        size_t n;
    } hop[] = {
        {LIT("connection")}, {LIT("keep-alive")},     {LIT("proxy-connection")},
        {LIT("te")},         {LIT("trailer")},        {LIT("transfer-encoding")},
        {LIT("upgrade")},    {LIT("content-length")}, {LIT("server")},
        {LIT("date")},
    };
    size_t i;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (len == hop[i].n && strncasecmp(n, hop[i].s, len) == 0)
            return true;
    return false;
}

/* Is tok one of the comma-separated elements of v (case-insensitive)? */
static bool
has_token(const char *v, size_t len, const char *tok, size_t tl)
{
    size_t i = 0;

    while (i < len) {
        size_t s, e;
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < len && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

/* Transfer-Encoding we can frame: exactly "chunked" (any case, spaces around). */
static bool
is_chunked_only(const char *v, size_t len)
{
    while (len > 0 && (v[0] == ' ' || v[0] == '\t'))
        v++, len--;
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    return len == 7 && strncasecmp(v, "chunked", 7) == 0;
}

static int
judge(struct gw_uhead *u, bool head_method, const char **why)
{
    bool chunked = false;
    size_t i;

    u->keepalive = u->minor >= 1;
    u->have_len = false;
    u->clen = 0;
    for (i = 0; i < u->nh; i++) {
        const char *n = u->h[i].name, *v = u->h[i].value;
        size_t nl = u->h[i].name_len, vl = u->h[i].value_len;
        if (nl == 10 && strncasecmp(n, "connection", 10) == 0) {
            if (has_token(v, vl, LIT("close")))
                u->keepalive = false;
        } else if (nl == 17 && strncasecmp(n, "transfer-encoding", 17) == 0) {
            if (chunked || !is_chunked_only(v, vl)) {
                *why = "unsupported response transfer-encoding";
                return -1;
            }
            chunked = true;
        } else if (nl == 14 && strncasecmp(n, "content-length", 14) == 0) {
            uint64_t cl;
            if (pc_parse_u64(v, vl, UINT64_MAX / 2, &cl) != 0 || (u->have_len && cl != u->clen)) {
                *why = "invalid response content-length";
                return -1;
            }
            u->have_len = true;
            u->clen = cl;
        }
    }
    if (chunked && u->have_len) {
        *why = "response with both transfer-encoding and content-length";
        return -1;
    }
    if (head_method || u->status == 204 || u->status == 304)
        u->framing = GW_UBODY_NONE;
    else if (chunked)
        u->framing = GW_UBODY_CHUNKED;
    else if (u->have_len)
        u->framing = GW_UBODY_LENGTH;
    else {
        u->framing = GW_UBODY_CLOSE;
        u->keepalive = false;
    }
    return 0;
}

int
gw_uhead_parse(const char *buf, size_t len, bool head_method, struct gw_uhead *out,
               const char **why)
{
    size_t off = 0;

    *why = NULL;
    for (;;) {
        int n;
        out->nh = GW_UHEAD_MAX_HEADERS;
        n = phr_parse_response(buf + off, len - off, &out->minor, &out->status, &out->msg,
                               &out->msglen, out->h, &out->nh, 0);
        if (n == -2)
            return -2;
        if (n < 0) {
            *why = "invalid response head";
            return -1;
        }
        if (out->status < 100 || out->status > 999 || out->status == 101) {
            *why = "unsupported response status";
            return -1;
        }
        off += (size_t)n;
        if (off > GW_UHEAD_MAX) {
            *why = "response head too large";
            return -1;
        }
        if (out->status >= 200)
            break;
        /* 1xx: interim, skipped */
    }
    if (judge(out, head_method, why) != 0)
        return -1;
    return (int)off;
}
