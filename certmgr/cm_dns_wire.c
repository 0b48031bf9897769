/*
 * DNS wire format: names, message building and parsing, the TXT answer
 * check (RFC 1035, RFC 2136).  See certmgr/cm_dns_internal.h and
 * docs/internals/DNS.md.
 *
 * Everything here is pure: no I/O, no clock, no allocation.  Messages come
 * from the network, so every length, count and pointer is checked against
 * the message length before it is followed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certmgr/cm_dns_internal.h"
#include "common/pc_err.h"

void
cm_dns_err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *
cm_dns_rcode_name(int rcode, char *buf, size_t buflen)
{
    static const char *const names[] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
    };

    if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    switch (rcode) {
    case CM_DNS_R_BADSIG:
        return "BADSIG";
    case CM_DNS_R_BADKEY:
        return "BADKEY";
    case CM_DNS_R_BADTIME:
        return "BADTIME";
    case CM_DNS_R_BADTRUNC:
        return "BADTRUNC";
    default:
        snprintf(buf, buflen, "RCODE%d", rcode);
        return buf;
    }
}

/* --- names ----------------------------------------------------------------- */

static bool
is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int
cm_dns_name_from_text(const char *s, uint8_t *out, size_t *outlen)
{
    size_t len, i, lab = 0, o = 1;

    /* 253 text bytes (254 with the trailing dot) make the 255 wire bytes */
    len = strnlen(s, CM_DNS_NAME_MAX + 1);
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > CM_DNS_NAME_MAX - 2)
        return PC_ERR_INVALID;
    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            size_t n = o - lab - 1;
            if (n == 0 || n > CM_DNS_LABEL_LEN_MAX)
                return PC_ERR_INVALID;
            out[lab] = (uint8_t)n;
            lab = o++;
        } else if (is_name_char(s[i])) {
            out[o++] = (uint8_t)s[i];
        } else {
            return PC_ERR_INVALID; /* '\' escapes, spaces, '*', 8-bit, NUL... */
        }
    }
    if (o - lab - 1 == 0 || o - lab - 1 > CM_DNS_LABEL_LEN_MAX)
        return PC_ERR_INVALID;
    out[lab] = (uint8_t)(o - lab - 1);
    out[o++] = 0;
    *outlen = o;
    return PC_OK;
}

static uint8_t
lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

bool
cm_dns_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t i;

    if (alen != blen)
        return false;
    /* length bytes are <= 63, below 'A': lower-casing every byte is safe */
    for (i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool
cm_dns_name_is_under(const uint8_t *name, size_t nlen, const uint8_t *zone, size_t zlen)
{
    size_t off = 0;

    while (off < nlen) {
        if (nlen - off == zlen)
            return cm_dns_name_eq(name + off, zlen, zone, zlen);
        if (nlen - off < zlen || name[off] == 0)
            return false;
        off += 1 + (size_t)name[off];
    }
    return false;
}

void
cm_dns_name_lower(uint8_t *name, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        name[i] = lower(name[i]);
}

int
cm_dns_name_read(const uint8_t *msg, size_t len, size_t *off, uint8_t *out, size_t *outlen)
{
    size_t pos = *off, end = 0, o = 0;
    size_t seg = pos; /* where the part of the name being read starts */
    unsigned ptrs = 0;

    for (;;) {
        uint8_t c;
        if (pos >= len)
            return PC_ERR_PARSE;
        c = msg[pos];
        if ((c & 0xc0) == 0xc0) {
            size_t target;
            if (len - pos < 2)
                return PC_ERR_PARSE;
            target = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
            /*
             * Only backwards, before the start of the part of the name read
             * so far, and not into the header: every jump lowers `seg`, so
             * no loop is possible; the count is a second fence.
             */
            if (target >= seg || target < CM_DNS_HDR_LEN || ++ptrs > CM_DNS_PTR_MAX)
                return PC_ERR_PARSE;
            if (end == 0)
                end = pos + 2;
            pos = seg = target;
            continue;
        }
        if ((c & 0xc0) != 0)
            return PC_ERR_PARSE; /* 01 (extended) and 10 label types */
        if ((size_t)c + 1 > CM_DNS_NAME_MAX - o || (size_t)c + 1 > len - pos)
            return PC_ERR_PARSE;
        if (out != NULL)
            memcpy(out + o, msg + pos, (size_t)c + 1);
        o += (size_t)c + 1;
        pos += (size_t)c + 1;
        if (c == 0)
            break;
    }
    *off = end != 0 ? end : pos;
    if (outlen != NULL)
        *outlen = o;
    return PC_OK;
}

/* --- messages -------------------------------------------------------------- */

int
cm_dns_rr_read(const uint8_t *msg, size_t len, size_t off, struct cm_dns_rr *rr)
{
    size_t p = off;

    if (cm_dns_name_read(msg, len, &p, NULL, NULL) != PC_OK)
        return PC_ERR_PARSE;
    if (len - p < 10)
        return PC_ERR_PARSE;
    rr->owner = off;
    rr->type = cm_dns_get16(msg + p);
    rr->rclass = cm_dns_get16(msg + p + 2);
    rr->ttl = cm_dns_get32(msg + p + 4);
    rr->rdlen = cm_dns_get16(msg + p + 8);
    p += 10;
    if (rr->rdlen > len - p)
        return PC_ERR_PARSE;
    rr->rdata = p;
    rr->next = p + rr->rdlen;
    return PC_OK;
}

static int
parse_records(struct cm_dns_msg *m, size_t off, char *err, size_t errlen)
{
    static const char *const sec_name[] = {"question", "answer", "authority", "additional"};
    struct cm_dns_rr rr;
    int s;
    unsigned i;

    for (s = 1; s < 4; s++) {
        m->sec[s] = off;
        for (i = 0; i < m->count[s]; i++) {
            if (cm_dns_rr_read(m->buf, m->len, off, &rr) != PC_OK) {
                cm_dns_err_set(err, errlen, "bad record %u of the %s section at offset %zu", i,
                               sec_name[s], off);
                return PC_ERR_PARSE;
            }
            if (rr.type == CM_DNS_T_TSIG) {
                if (s != 3 || i + 1 != m->count[3]) {
                    cm_dns_err_set(err, errlen, "TSIG record is not the last one");
                    return PC_ERR_PARSE;
                }
                m->tsig = off;
            }
            off = rr.next;
        }
    }
    if (off != m->len) {
        cm_dns_err_set(err, errlen, "%zu bytes after the last record", m->len - off);
        return PC_ERR_PARSE;
    }
    return PC_OK;
}

int
cm_dns_msg_parse(const uint8_t *buf, size_t len, bool head_only, struct cm_dns_msg *m, char *err,
                 size_t errlen)
{
    size_t off = CM_DNS_HDR_LEN;
    int s;

    memset(m, 0, sizeof(*m));
    m->buf = buf;
    m->len = len;
    if (len < CM_DNS_HDR_LEN) {
        cm_dns_err_set(err, errlen, "%zu bytes: shorter than a DNS header", len);
        return PC_ERR_PARSE;
    }
    if (len > CM_DNS_MSG_MAX) {
        cm_dns_err_set(err, errlen, "%zu bytes: longer than a DNS message", len);
        return PC_ERR_PARSE;
    }
    m->id = cm_dns_get16(buf);
    m->flags = cm_dns_get16(buf + 2);
    for (s = 0; s < 4; s++)
        m->count[s] = cm_dns_get16(buf + 4 + 2 * s);
    if (m->count[0] > 1) {
        cm_dns_err_set(err, errlen, "%u questions", m->count[0]);
        return PC_ERR_PARSE;
    }
    m->sec[0] = off;
    if (m->count[0] == 1) {
        if (cm_dns_name_read(buf, len, &off, NULL, NULL) != PC_OK || len - off < 4) {
            cm_dns_err_set(err, errlen, "bad question");
            return PC_ERR_PARSE;
        }
        off += 4;
    }
    for (s = 1; s < 4; s++)
        m->sec[s] = off;
    if (head_only)
        return PC_OK;
    return parse_records(m, off, err, errlen);
}

int
cm_dns_query_build(uint16_t id, const uint8_t *qname, size_t qlen, uint8_t *out, size_t cap,
                   size_t *outlen)
{
    struct cm_dns_wr w = {out, 0, cap, false};

    cm_dns_put16(&w, id);
    cm_dns_put16(&w, CM_DNS_F_RD);
    cm_dns_put16(&w, 1); /* QDCOUNT */
    cm_dns_put16(&w, 0);
    cm_dns_put16(&w, 0);
    cm_dns_put16(&w, 0);
    cm_dns_put(&w, qname, qlen);
    cm_dns_put16(&w, CM_DNS_T_TXT);
    cm_dns_put16(&w, CM_DNS_C_IN);
    if (w.over)
        return PC_ERR_TOO_LARGE;
    *outlen = w.len;
    return PC_OK;
}

int
cm_dns_update_build(uint16_t id, const uint8_t *zone, size_t zlen, const uint8_t *fqdn, size_t flen,
                    const char *value, size_t vlen, bool add, uint8_t *out, size_t cap,
                    size_t *outlen)
{
    struct cm_dns_wr w = {out, 0, cap, false};
    size_t nstr, i;

    if (!cm_dns_name_is_under(fqdn, flen, zone, zlen))
        return PC_ERR_INVALID;
    if (vlen == 0 || vlen > CM_DNS_TXT_VALUE_MAX)
        return PC_ERR_TOO_LARGE;
    nstr = (vlen + CM_DNS_TXT_STR_MAX - 1) / CM_DNS_TXT_STR_MAX;
    cm_dns_put16(&w, id);
    cm_dns_put16(&w, CM_DNS_OPCODE_UPDATE << 11);
    cm_dns_put16(&w, 1); /* ZOCOUNT */
    cm_dns_put16(&w, 0); /* PRCOUNT */
    cm_dns_put16(&w, 1); /* UPCOUNT */
    cm_dns_put16(&w, 0); /* ADCOUNT: the TSIG comes later */
    cm_dns_put(&w, zone, zlen);
    cm_dns_put16(&w, CM_DNS_T_SOA);
    cm_dns_put16(&w, CM_DNS_C_IN);
    /* the labels above the zone, then a pointer to the zone name at offset 12 */
    cm_dns_put(&w, fqdn, flen - zlen);
    cm_dns_put16(&w, 0xc000 | CM_DNS_HDR_LEN);
    cm_dns_put16(&w, CM_DNS_T_TXT);
    cm_dns_put16(&w, add ? CM_DNS_C_IN : CM_DNS_C_NONE);
    cm_dns_put32(&w, add ? CM_DNS_UPDATE_TTL : 0);
    cm_dns_put16(&w, (uint16_t)(vlen + nstr));
    for (i = 0; i < vlen; i += CM_DNS_TXT_STR_MAX) {
        size_t n = vlen - i < CM_DNS_TXT_STR_MAX ? vlen - i : CM_DNS_TXT_STR_MAX;
        uint8_t b = (uint8_t)n;
        cm_dns_put(&w, &b, 1);
        cm_dns_put(&w, value + i, n);
    }
    if (w.over)
        return PC_ERR_TOO_LARGE;
    *outlen = w.len;
    return PC_OK;
}

/* --- the TXT answer -------------------------------------------------------- */

/*
 * Whether the TXT RDATA at msg[rr->rdata] is value[0..vlen) once its strings
 * are joined.  PC_ERR_PARSE when a string runs past the RDATA.
 */
static int
txt_matches(const uint8_t *msg, const struct cm_dns_rr *rr, const char *value, size_t vlen,
            bool *match)
{
    size_t p = rr->rdata, end = rr->rdata + rr->rdlen, got = 0;
    bool same = rr->rdlen > 0;

    while (p < end) {
        size_t n = msg[p];
        if (n > end - p - 1)
            return PC_ERR_PARSE;
        if (same && (n > vlen - got || memcmp(value + got, msg + p + 1, n) != 0))
            same = false;
        else if (same)
            got += n;
        p += 1 + n;
    }
    *match = same && got == vlen;
    return PC_OK;
}

/*
 * One pass over the answer section for name `cur`: a TXT of value there sets
 * *found; else the first CNAME there is copied into next/nextlen.
 */
static int
scan_answers(const struct cm_dns_msg *m, const uint8_t *cur, size_t curlen, const char *value,
             size_t vlen, bool *found, uint8_t *next, size_t *nextlen)
{
    uint8_t owner[CM_DNS_NAME_MAX];
    size_t off = m->sec[1], olen, p;
    struct cm_dns_rr rr;
    unsigned i;
    bool match;

    *found = false;
    *nextlen = 0;
    for (i = 0; i < m->count[1]; i++, off = rr.next) {
        p = off;
        if (cm_dns_rr_read(m->buf, m->len, off, &rr) != PC_OK ||
            cm_dns_name_read(m->buf, m->len, &p, owner, &olen) != PC_OK)
            return PC_ERR_PARSE; /* cannot happen after cm_dns_msg_parse */
        if (rr.rclass != CM_DNS_C_IN || !cm_dns_name_eq(owner, olen, cur, curlen))
            continue;
        if (rr.type == CM_DNS_T_TXT) {
            if (txt_matches(m->buf, &rr, value, vlen, &match) != PC_OK)
                return PC_ERR_PARSE;
            if (match) {
                *found = true;
                return PC_OK;
            }
        } else if (rr.type == CM_DNS_T_CNAME && *nextlen == 0) {
            p = rr.rdata;
            if (cm_dns_name_read(m->buf, m->len, &p, next, nextlen) != PC_OK ||
                p != rr.rdata + rr.rdlen)
                return PC_ERR_PARSE;
        }
    }
    return PC_OK;
}

static int
check_question(const struct cm_dns_msg *m, uint16_t type, const uint8_t *qname, size_t qlen)
{
    uint8_t name[CM_DNS_NAME_MAX];
    size_t off = m->sec[0], nlen;

    if (m->count[0] != 1 || cm_dns_name_read(m->buf, m->len, &off, name, &nlen) != PC_OK)
        return PC_ERR_PARSE;
    if (!cm_dns_name_eq(name, nlen, qname, qlen) || cm_dns_get16(m->buf + off) != type ||
        cm_dns_get16(m->buf + off + 2) != CM_DNS_C_IN)
        return PC_ERR_PARSE;
    return PC_OK;
}

int
cm_dns_txt_check(const uint8_t *resp, size_t len, uint16_t id, const uint8_t *qname, size_t qlen,
                 const char *value, size_t vlen, enum cm_dns_txt_state *state, int *rcode,
                 char *err, size_t errlen)
{
    struct cm_dns_msg m;
    uint8_t cur[CM_DNS_NAME_MAX], next[CM_DNS_NAME_MAX];
    size_t curlen = qlen, nextlen = 0;
    bool tc, found = false;
    unsigned hop;

    if (len >= CM_DNS_HDR_LEN && cm_dns_get16(resp) != id) {
        cm_dns_err_set(err, errlen, "answer has another ID");
        return PC_ERR_PARSE;
    }
    tc = len >= CM_DNS_HDR_LEN && (cm_dns_get16(resp + 2) & CM_DNS_F_TC) != 0;
    if (cm_dns_msg_parse(resp, len, tc, &m, err, errlen) != PC_OK)
        return PC_ERR_PARSE;
    if ((m.flags & CM_DNS_F_QR) == 0 || CM_DNS_OPCODE(m.flags) != CM_DNS_OPCODE_QUERY) {
        cm_dns_err_set(err, errlen, "not an answer to a query (flags 0x%04x)", m.flags);
        return PC_ERR_PARSE;
    }
    if (check_question(&m, CM_DNS_T_TXT, qname, qlen) != PC_OK) {
        cm_dns_err_set(err, errlen, "answer is for another question");
        return PC_ERR_PARSE;
    }
    *rcode = m.flags & CM_DNS_F_RCODE;
    if (tc) {
        *state = CM_DNS_TXT_TRUNCATED;
        return PC_OK;
    }
    *state = CM_DNS_TXT_ABSENT;
    if (*rcode != CM_DNS_R_NOERROR)
        return PC_OK;
    memcpy(cur, qname, qlen);
    for (hop = 0; hop <= CM_DNS_CNAME_MAX; hop++) {
        if (scan_answers(&m, cur, curlen, value, vlen, &found, next, &nextlen) != PC_OK) {
            cm_dns_err_set(err, errlen, "bad TXT or CNAME record");
            return PC_ERR_PARSE;
        }
        if (found) {
            *state = CM_DNS_TXT_FOUND;
            return PC_OK;
        }
        if (nextlen == 0)
            return PC_OK;
        memcpy(cur, next, nextlen);
        curlen = nextlen;
    }
    return PC_OK; /* a longer chain than we follow: not seen */
}
