/*
 * portcullis-admin tls audit: the grading.  What the probes observed
 * (struct cm_audit_obs) is compared with tls-policy.yaml as pol_tls_load()
 * read it, the same loader the gateway uses, and every line of the report
 * becomes a finding: ✓ (as the policy wants), ✗ (a violation) or a detail.
 * Pure: no I/O, no OpenSSL; unit tested in tests/unit/test_cm_audit.c.
 *
 * Also the parsers: the response head of GET / and its
 * Strict-Transport-Security (RFC 6797 6.1), and HOST:PORT.
 * Contracts: cm.h; the rules: docs/internals/TLS-AUDIT.md.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/pol.h"
#include "cm.h"

#define GRADE_LINE_MAX 1024                /* one finding's text, bytes */
#define DAY_SEC        86400               /* seconds in a day */
#define HSTS_AGE_MAX   (UINT64_C(1) << 62) /* a larger max-age is refused as invalid */

bool
cm_audit_res_accepted(enum cm_audit_res r)
{
    return r == CM_AUDIT_ACCEPTED || r == CM_AUDIT_ACCEPTED_CERTREQ ||
           r == CM_AUDIT_ACCEPTED_FAILED;
}

const char *
cm_audit_ver_name(enum cm_audit_ver v)
{
    static const char *const names[CM_AUDIT_NVER] = {"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"};

    return (unsigned)v < CM_AUDIT_NVER ? names[v] : "TLS ?";
}

const char *
cm_audit_sec_name(enum cm_audit_sec s, bool key)
{
    static const char *const titles[CM_AUDIT_NSEC] = {
        "Protocols", "TLS 1.2 cipher suites", "TLS 1.3 cipher suites",
        "Groups",    "Certificate",           "HSTS",
        "Audit"};
    static const char *const keys[CM_AUDIT_NSEC] = {"protocols",   "tls12", "tls13", "groups",
                                                    "certificate", "hsts",  "audit"};

    if ((unsigned)s >= CM_AUDIT_NSEC)
        return "?";
    return key ? keys[s] : titles[s];
}

bool
cm_audit_tls12_suite_ok(const char *name)
{
    /* the rule of check_cipher() in policy/pol_tls.c, so that the audit
     * passes exactly what the policy file could have listed */
    return strstr(name, "ECDHE") != NULL &&
           (strstr(name, "GCM") != NULL || strstr(name, "CHACHA20") != NULL);
}

/* --- findings --------------------------------------------------------------- */

static void add(struct cm_audit_report *r, enum cm_audit_sec sec, enum cm_audit_mark mark,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
add(struct cm_audit_report *r, enum cm_audit_sec sec, enum cm_audit_mark mark, const char *fmt, ...)
{
    char line[GRADE_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (r->n == r->alloc) {
        r->alloc = r->alloc == 0 ? 32 : 2 * r->alloc;
        r->f = pc_xreallocarray(r->f, r->alloc, sizeof(*r->f));
    }
    r->f[r->n].sec = sec;
    r->f[r->n].mark = mark;
    r->f[r->n].text = pc_xstrdup(line);
    r->n++;
    if (mark == CM_AUDIT_VIOLATION)
        r->nviolations++;
}

void
cm_audit_report_clear(struct cm_audit_report *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++)
        free(r->f[i].text);
    free(r->f);
    memset(r, 0, sizeof(*r));
}

/* Whether `name` is one of the ':'-separated names of `list` (exact, as the loader wrote them). */
static bool
in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ':');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* "TLS 1.3, TLS 1.2": the versions of an item's bits, newest first (cut when cap is short). */
static const char *
vers_text(unsigned vers, char *buf, size_t cap)
{
    size_t off = 0, n;
    int v;

    buf[0] = '\0';
    for (v = CM_AUDIT_NVER - 1; v >= 0; v--) {
        const char *name = cm_audit_ver_name((enum cm_audit_ver)v);
        if ((vers & (1u << v)) == 0)
            continue;
        n = strlen(name);
        if (off + 2 + n + 1 > cap)
            break;
        if (off != 0) {
            memcpy(buf + off, ", ", 2);
            off += 2;
        }
        memcpy(buf + off, name, n + 1);
        off += n;
    }
    return buf;
}

static const char *
profile_name(const struct pol_tls *pol)
{
    return pol->profile == POL_TLS_MODERN ? "modern" : "intermediate";
}

static bool
version_allowed(const struct pol_tls *pol, enum cm_audit_ver v)
{
    if (pol->profile == POL_TLS_MODERN)
        return v == CM_AUDIT_TLS13;
    return v == CM_AUDIT_TLS12 || v == CM_AUDIT_TLS13; /* intermediate; no default: fail closed */
}

/* --- sections ----------------------------------------------------------------- */

static void
grade_protocols(const struct pol_tls *pol, const struct cm_audit_obs *o, struct cm_audit_report *r)
{
    static const char *const allowed[] = {
        [POL_TLS_MODERN] = "TLS 1.3 only", [POL_TLS_INTERMEDIATE] = "TLS 1.2 and 1.3"};
    const char *prof = profile_name(pol);
    bool any = false;
    int v;

    for (v = 0; v < CM_AUDIT_NVER; v++) {
        const char *name = cm_audit_ver_name((enum cm_audit_ver)v);
        enum cm_audit_res res = o->ver[v];
        const char *how = res == CM_AUDIT_ACCEPTED_CERTREQ ? " (client certificate required)"
                          : res == CM_AUDIT_ACCEPTED_FAILED
                              ? " (ServerHello agreed, then the handshake failed)"
                              : "";
        if (res == CM_AUDIT_UNTESTED) {
            add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_INFO, "%s not tested", name);
            continue;
        }
        if (!cm_audit_res_accepted(res)) {
            add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_OK, "%s refused", name);
            continue;
        }
        any = true;
        if (version_allowed(pol, (enum cm_audit_ver)v))
            add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_OK, "%s accepted%s", name, how);
        else
            add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION, "%s accepted%s: profile %s allows %s",
                name, how, prof, allowed[pol->profile]);
    }
    if (!any)
        add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION, "no TLS version accepted");
    if (o->client_cert)
        add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_INFO,
            "a client certificate was presented in every handshake");
    else if (o->cert_required)
        add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_INFO,
            "the server requires a client certificate: a handshake it refused only for want "
            "of one counts as accepted");
    else if (o->cert_requested)
        add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_INFO, "the server asks for a client certificate");
    if (o->negotiated[0] != '\0')
        add(r, CM_AUDIT_SEC_PROTO, CM_AUDIT_INFO, "first connection: %s", o->negotiated);
}

static void
grade_tls12(const struct pol_tls *pol, const struct cm_audit_obs *o, struct cm_audit_report *r)
{
    size_t i, nacc = 0;

    if (!cm_audit_res_accepted(o->ver[CM_AUDIT_TLS12])) {
        add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_OK, "none: TLS 1.2 is refused");
        return;
    }
    for (i = 0; i < o->ntls12; i++) {
        const char *s = o->tls12[i].name;
        if (!cm_audit_res_accepted(o->tls12[i].res))
            continue;
        nacc++;
        if (pol->profile == POL_TLS_MODERN)
            add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION,
                "%s accepted: profile modern allows no TLS 1.2", s);
        else if (!cm_audit_tls12_suite_ok(s))
            add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION,
                "%s accepted: not ECDHE with an AEAD (GCM, CHACHA20)", s);
        else if (pol->ciphers != NULL && !in_list(pol->ciphers, s))
            add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION, "%s accepted: not in ciphers:", s);
        else
            add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_OK, "%s accepted", s);
    }
    if (o->ntls12 == 0)
        add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_INFO, "not enumerated");
    else
        add(r, CM_AUDIT_SEC_TLS12, CM_AUDIT_INFO, "%zu of %zu suites offered one at a time refused",
            o->ntls12 - nacc, o->ntls12);
}

static void
grade_tls13(const struct pol_tls *pol, const struct cm_audit_obs *o, struct cm_audit_report *r)
{
    size_t i, nacc = 0;

    if (!cm_audit_res_accepted(o->ver[CM_AUDIT_TLS13])) {
        add(r, CM_AUDIT_SEC_TLS13, CM_AUDIT_OK, "none: TLS 1.3 is refused");
        return;
    }
    for (i = 0; i < o->ntls13; i++) {
        const char *s = o->tls13[i].name;
        if (!cm_audit_res_accepted(o->tls13[i].res))
            continue;
        nacc++;
        if (pol->ciphersuites != NULL && !in_list(pol->ciphersuites, s))
            add(r, CM_AUDIT_SEC_TLS13, CM_AUDIT_VIOLATION, "%s accepted: not in ciphersuites:", s);
        else
            add(r, CM_AUDIT_SEC_TLS13, CM_AUDIT_OK, "%s accepted", s);
    }
    if (o->ntls13 == 0)
        add(r, CM_AUDIT_SEC_TLS13, CM_AUDIT_INFO, "not enumerated");
    else
        add(r, CM_AUDIT_SEC_TLS13, CM_AUDIT_INFO, "%zu of %zu suites offered one at a time refused",
            o->ntls13 - nacc, o->ntls13);
}

static void
grade_groups(const struct pol_tls *pol, const struct cm_audit_obs *o, struct cm_audit_report *r)
{
    char vers[64];
    size_t i, nacc = 0;

    for (i = 0; i < o->ngroups; i++) {
        const struct cm_audit_item *g = &o->groups[i];
        if (!cm_audit_res_accepted(g->res))
            continue;
        nacc++;
        vers_text(g->vers, vers, sizeof(vers));
        if (pol->groups != NULL && !in_list(pol->groups, g->name))
            add(r, CM_AUDIT_SEC_GROUPS, CM_AUDIT_VIOLATION,
                "%s accepted (%s): not in groups:", g->name, vers);
        else
            add(r, CM_AUDIT_SEC_GROUPS, CM_AUDIT_OK, "%s accepted (%s)", g->name, vers);
    }
    if (o->ngroups == 0)
        add(r, CM_AUDIT_SEC_GROUPS, CM_AUDIT_INFO, "not enumerated");
    else
        add(r, CM_AUDIT_SEC_GROUPS, CM_AUDIT_INFO,
            "%zu of %zu groups offered one at a time refused", o->ngroups - nacc, o->ngroups);
    if (pol->groups == NULL)
        add(r, CM_AUDIT_SEC_GROUPS, CM_AUDIT_INFO,
            "the policy lists no groups: OpenSSL's default applies");
}

/* Whole days from now to t, rounded towards minus infinity. */
static long long
days_until(time_t t, time_t now)
{
    long long d = (long long)t - (long long)now;

    return d >= 0 ? d / DAY_SEC : -((-d + DAY_SEC - 1) / DAY_SEC);
}

static void
grade_cert(const struct cm_audit_obs *o, time_t now, struct cm_audit_report *r)
{
    const struct cm_audit_cert *leaf = &o->chain[0];
    char date[CM_TIME_LEN + 1];
    long long days;
    size_t i;

    if (o->nchain == 0) {
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "no certificate received");
        return;
    }
    if (o->chain_verified)
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_OK, "the chain verifies against %s", o->trust);
    else
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "the chain does not verify against %s: %s",
            o->trust, o->verify_error[0] != '\0' ? o->verify_error : "unknown error");
    if (o->name_ok)
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_OK, "the certificate is valid for %s", o->name);
    else
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "the certificate is not valid for %s",
            o->name);
    cm_time_format(leaf->not_after, date);
    days = days_until(leaf->not_after, now);
    if (leaf->not_after <= now)
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "the certificate expired on %s", date);
    else if (leaf->not_after - now < (time_t)CM_AUDIT_EXPIRY_DAYS * DAY_SEC)
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION,
            "the certificate expires on %s, in %lld days (less than %d)", date, days,
            CM_AUDIT_EXPIRY_DAYS);
    else
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_OK, "the certificate expires on %s (%lld days)", date,
            days);
    for (i = 0; i < o->nchain; i++) {
        const struct cm_audit_cert *c = &o->chain[i];
        cm_time_format(c->not_after, date);
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_INFO, "[%zu] subject: %s", i, c->subject);
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_INFO, "    issuer: %s", c->issuer);
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_INFO, "    key: %s, signature: %s", c->key, c->sig);
        add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_INFO, "    not after: %s (%lld days)", date,
            days_until(c->not_after, now));
        if (c->sans[0] != '\0')
            add(r, CM_AUDIT_SEC_CERT, CM_AUDIT_INFO, "    names: %s", c->sans);
    }
}

static void
grade_hsts(const struct pol_tls *pol, const struct cm_audit_obs *o, struct cm_audit_report *r)
{
    const struct cm_audit_hsts *h = &o->hsts;
    bool bad = false;

    if (pol->hsts_max_age == 0) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_OK, "not required by the policy");
        if (!o->http_done)
            add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_INFO, "not read: %s", o->http_error);
        else if (o->hsts_present)
            add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_INFO, "sent: %s", o->hsts_raw);
        else
            add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_INFO, "no Strict-Transport-Security header");
        return;
    }
    /* required: what cannot be read is not compliant (fail closed) */
    if (!o->http_done) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "could not be checked: %s", o->http_error);
        return;
    }
    if (!o->hsts_present) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION,
            "no Strict-Transport-Security header (HTTP %d to GET /); the policy requires "
            "max-age=%llu",
            o->http_status, (unsigned long long)pol->hsts_max_age);
        return;
    }
    if (!h->valid) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION,
            "Strict-Transport-Security is invalid (ignored by browsers): %s", o->hsts_raw);
        return;
    }
    if (h->max_age < pol->hsts_max_age) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "max-age=%llu is below the policy's %llu",
            (unsigned long long)h->max_age, (unsigned long long)pol->hsts_max_age);
        bad = true;
    }
    if (pol->hsts_include_subdomains && !h->include_subdomains) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION,
            "includeSubDomains is missing (the policy requires it)");
        bad = true;
    }
    if (pol->hsts_preload && !h->preload) {
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION,
            "preload is missing (the policy requires it)");
        bad = true;
    }
    if (!bad)
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_OK, "%s", o->hsts_raw);
    else
        add(r, CM_AUDIT_SEC_HSTS, CM_AUDIT_INFO, "sent: %s", o->hsts_raw);
}

void
cm_audit_grade(const struct pol_tls *pol, const struct cm_audit_obs *obs, time_t now,
               struct cm_audit_report *out)
{
    grade_protocols(pol, obs, out);
    grade_tls12(pol, obs, out);
    grade_tls13(pol, obs, out);
    grade_groups(pol, obs, out);
    grade_cert(obs, now, out);
    grade_hsts(pol, obs, out);
    if (obs->incomplete)
        add(out, CM_AUDIT_SEC_AUDIT, CM_AUDIT_VIOLATION,
            "the budget of %d handshakes ran out: the results are incomplete",
            CM_AUDIT_MAX_HANDSHAKES);
    else
        add(out, CM_AUDIT_SEC_AUDIT, CM_AUDIT_INFO, "%u handshakes", obs->handshakes);
}

/* --- Strict-Transport-Security (RFC 6797 6.1) ------------------------------- */

static bool
is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t
skip_ows(const char *v, size_t i, size_t len)
{
    while (i < len && (v[i] == ' ' || v[i] == '\t'))
        i++;
    return i;
}

/*
 * One directive at v[*i..len): name [= token | quoted-string].  Sets
 * name/nlen and val/vlen (val NULL without "=").  False on a syntax error.
 */
static bool
next_directive(const char *v, size_t len, size_t *i, const char **name, size_t *nlen,
               const char **val, size_t *vlen)
{
    size_t k = skip_ows(v, *i, len), start = k;

    while (k < len && is_tchar(v[k]))
        k++;
    *name = v + start;
    *nlen = k - start;
    *val = NULL;
    *vlen = 0;
    k = skip_ows(v, k, len);
    if (k < len && v[k] == '=') {
        k = skip_ows(v, k + 1, len);
        if (k < len && v[k] == '"') {
            start = ++k;
            while (k < len && v[k] != '"') {
                if (v[k] == '\\')
                    return false; /* no escapes in any value we accept */
                k++;
            }
            if (k == len)
                return false;
            *val = v + start;
            *vlen = k - start;
            k++;
        } else {
            start = k;
            while (k < len && is_tchar(v[k]))
                k++;
            *val = v + start;
            *vlen = k - start;
        }
        k = skip_ows(v, k, len);
    }
    if (k < len && v[k] != ';')
        return false;
    *i = k;
    return true;
}

/* The directives of v[0..len) into *h; false when the header is invalid. */
static bool
parse_directives(const char *v, size_t len, struct cm_audit_hsts *h)
{
    const char *name, *val;
    size_t i, nlen, vlen;
    bool seen_age = false;

    for (i = 0; i < len; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return false; /* control bytes (HTAB is whitespace) */
    i = 0;
    for (;;) {
        if (!next_directive(v, len, &i, &name, &nlen, &val, &vlen))
            return false;
        if (nlen == 0 && val != NULL)
            return false; /* "=value" without a name */
        if (pc_str_eq_nocase(name, nlen, "max-age", 7)) {
            if (seen_age || val == NULL || vlen == 0 ||
                pc_parse_u64(val, vlen, HSTS_AGE_MAX, &h->max_age) != PC_OK)
                return false;
            seen_age = true;
        } else if (pc_str_eq_nocase(name, nlen, "includeSubDomains", 17)) {
            if (h->include_subdomains || val != NULL)
                return false;
            h->include_subdomains = true;
        } else if (pc_str_eq_nocase(name, nlen, "preload", 7)) {
            if (h->preload || val != NULL)
                return false;
            h->preload = true;
        }
        /* other directives are ignored (RFC 6797 6.1 item 2) */
        if (i >= len)
            break;
        i++; /* the ';' */
    }
    return seen_age; /* max-age is required (6.1.1) */
}

void
cm_audit_hsts_parse(const char *v, size_t len, struct cm_audit_hsts *out)
{
    struct cm_audit_hsts h;

    memset(&h, 0, sizeof(h));
    memset(out, 0, sizeof(*out));
    if (!parse_directives(v, len, &h))
        return; /* invalid: all fields zero, valid false */
    *out = h;
    out->valid = true;
}

/* --- the response head of GET / ----------------------------------------------- */

void
cm_audit_http_head_parse(const char *buf, size_t len, struct cm_audit_obs *o)
{
    static const char sts[] = "Strict-Transport-Security";
    const char *p = buf, *end = buf + len, *eol, *colon;
    uint64_t status = 0;

    eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (eol == NULL || eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
        pc_parse_u64(p + 9, 3, 999, &status) != PC_OK) {
        snprintf(o->http_error, sizeof(o->http_error), "not an HTTP/1.x response");
        return;
    }
    o->http_done = true;
    o->http_status = (int)status;
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL || eol == p)
            break;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || !pc_str_eq_nocase(p, (size_t)(colon - p), sts, sizeof(sts) - 1))
            continue;
        /* RFC 6797 8.1: only the first header counts */
        colon++;
        while (colon < eol && (*colon == ' ' || *colon == '\t'))
            colon++;
        while (eol > colon && (eol[-1] == ' ' || eol[-1] == '\t'))
            eol--;
        o->hsts_present = true;
        pc_log_esc(o->hsts_raw, sizeof(o->hsts_raw), colon, (size_t)(eol - colon));
        cm_audit_hsts_parse(colon, (size_t)(eol - colon), &o->hsts);
        break;
    }
}

/* --- HOST:PORT ---------------------------------------------------------------- */

static bool
is_host_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > CM_AUDIT_HOST_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

int
cm_audit_target_parse(const char *arg, struct cm_audit_target *t)
{
    char esc[CM_ESC_MAX], buf[CM_AUDIT_HOST_MAX + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    const char *host, *colon, *port;
    size_t hlen;
    uint64_t p;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || close[1] != ':') {
            cm_err_set("\"%s\": expected [IPv6]:PORT", cm_esc(esc, arg, strlen(arg)));
            return PC_ERR_PARSE;
        }
        host = arg + 1;
        hlen = (size_t)(close - host);
        port = close + 2;
    } else {
        colon = strrchr(arg, ':');
        if (colon == NULL || memchr(arg, ':', (size_t)(colon - arg)) != NULL) {
            cm_err_set("\"%s\": expected HOST:PORT (an IPv6 address in brackets)",
                       cm_esc(esc, arg, strlen(arg)));
            return PC_ERR_PARSE;
        }
        host = arg;
        hlen = (size_t)(colon - arg);
        port = colon + 1;
    }
    if (pc_parse_u64(port, strlen(port), 65535, &p) != PC_OK || p == 0) {
        cm_err_set("\"%s\": the port must be 1..65535", cm_esc(esc, arg, strlen(arg)));
        return PC_ERR_PARSE;
    }
    if (hlen == 0 || hlen > CM_AUDIT_HOST_MAX) {
        cm_err_set("\"%s\": expected a host name or address before the port",
                   cm_esc(esc, arg, strlen(arg)));
        return PC_ERR_PARSE;
    }
    memcpy(buf, host, hlen);
    buf[hlen] = '\0';
    t->host_is_ip = inet_pton(AF_INET6, buf, addr) == 1 ||
                    (arg[0] != '[' && inet_pton(AF_INET, buf, addr) == 1);
    if (arg[0] == '[' && !t->host_is_ip) {
        cm_err_set("\"%s\": not an IPv6 address in brackets", cm_esc(esc, arg, strlen(arg)));
        return PC_ERR_PARSE;
    }
    if (!t->host_is_ip && !is_host_name(buf, hlen)) {
        cm_err_set("\"%s\": not a host name or IP address", cm_esc(esc, buf, hlen));
        return PC_ERR_PARSE;
    }
    memcpy(t->host, buf, hlen + 1);
    t->port = (uint16_t)p;
    return PC_OK;
}
