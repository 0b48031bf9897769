/*
 * portcullis-admin policy explain: what the gateway would decide for one
 * request, and why, computed offline from the same configuration with the
 * functions the gateway itself calls (docs/internals/EXPLAIN.md).
 *
 *   TLS handshake (chain to client_ca, validity, EKU clientAuth, CRL)
 *   -> identity -> request (method, path) -> certificate state -> Host
 *   -> route -> mtls.allow -> JWT -> rate limit (described) -> upstream
 *
 * The order and the reasons are those of gateway/gw_tls.c (on_verify),
 * gateway/gw_req.c (on_req) and gateway/gw_jwt.c; every decision comes
 * from the shared code: gw_path_check, pol_route_match, pol_route_allows,
 * authn_peer_new, authn_crlset_*, authn_bearer_parse, authn_jwt_verify and
 * authn_claims_check, gw_reason_slug/status, gw_gcra_spec_from.  What
 * cannot be known offline is said: there is no TLS session (the server
 * name is assumed to be the Host), a jwks_uri issuer's keys are not
 * fetched (the signature is not checked; the claims are, marked
 * untrusted), and the rate limit is described, never charged.
 *
 * cm_explain_eval() does no I/O (the unit tests call it on objects built
 * in memory); the command, which reads the files and prints, is in
 * cm_admin_explain.c.  Runs in the short-lived portcullis-admin process,
 * single threaded.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "authn/authn.h"
#include "authn/authn_jwt.h"
/* authn_claims_build: the claims of a token whose keys are not here (jwks_uri),
 * read by the gateway's own reader instead of a second one */
#include "authn/authn_jwt_int.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "gateway/gw.h"
#include "gateway/gw_rl.h"
#include "policy/pol.h"
#include "cm.h"

#define XP_VERIFY_DEPTH 4   /* gw_tls.c GW_TLS_VERIFY_DEPTH: SSL_CTX_set_verify_depth */
#define XP_DUR_LEN      48  /* "12345d 23h" */
#define XP_LIST_MAX     384 /* a list of names or patterns inside one line */

static const char *const result_names[] = {
    [CM_XP_OK] = "ok", [CM_XP_FAIL] = "FAIL", [CM_XP_SKIP] = "skip", [CM_XP_NOTE] = "note"};

/* --- text helpers ---------------------------------------------------------------- */

static void
vtext(char *dst, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(dst, cap, fmt, ap);
    size_t at;

    if (n < 0) {
        dst[0] = '\0';
    } else if ((size_t)n >= cap && cap > 4) {
        /* a cut line says so, and stays UTF-8 (a config string may be) */
        at = cap - 4;
        while (at > 0 && ((unsigned char)dst[at] & 0xc0) == 0x80)
            at--;
        memcpy(dst + at, "...", 4);
    }
}

static const char *bprintf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
bprintf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vtext(dst, cap, fmt, ap);
    va_end(ap);
    return dst;
}

/* Untrusted s as printable ASCII (cm_esc: \xNN, cut with "..."); NULL reads "(none)". */
static const char *
esc(char buf[CM_ESC_MAX], const char *s)
{
    return s != NULL ? cm_esc(buf, s, strlen(s)) : "(none)";
}

/* A bounded list builder: items joined by ", ", cut with "..." when full. */
struct xp_list {
    char buf[XP_LIST_MAX];
    size_t len;
    bool cut;
};

static void
list_add(struct xp_list *l, const char *prefix, const char *item)
{
    char e[CM_ESC_MAX];
    const char *s = esc(e, item);
    size_t need = (l->len > 0 ? 2 : 0) + strlen(prefix) + strlen(s);

    if (l->cut)
        return;
    if (l->len + need + 4 >= sizeof(l->buf)) {
        memcpy(l->buf + l->len, "...", 4);
        l->len += 3;
        l->cut = true;
        return;
    }
    l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s%s%s",
                               l->len > 0 ? ", " : "", prefix, s);
}

static const char *
list_str(struct xp_list *l, const char *empty)
{
    return l->len > 0 ? l->buf : empty;
}

/* "59m 59s", "1d 2h", "0s": the two largest units. */
static const char *
dur(int64_t s, char out[XP_DUR_LEN])
{
    static const struct {
        int64_t sec;
        char unit;
    } u[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    size_t i = 0, n = sizeof(u) / sizeof(u[0]);
    int64_t q, q2;

    if (s < 0)
        s = s == INT64_MIN ? INT64_MAX : -s;
    while (i + 1 < n && s < u[i].sec)
        i++;
    q = s / u[i].sec;
    q2 = i + 1 < n ? (s % u[i].sec) / u[i + 1].sec : 0;
    if (q2 == 0)
        return bprintf(out, XP_DUR_LEN, "%lld%c", (long long)q, u[i].unit);
    return bprintf(out, XP_DUR_LEN, "%lld%c %lld%c", (long long)q, u[i].unit, (long long)q2,
                   u[i + 1].unit);
}

/* A unix time as "YYYY-MM-DDTHH:MM:SSZ", or the number when out of range. */
static const char *
when(int64_t t, char out[CM_TIME_LEN + 1])
{
    if (t < CM_TIME_MIN || t > CM_TIME_MAX)
        return bprintf(out, CM_TIME_LEN + 1, "%lld", (long long)t);
    return cm_time_format((time_t)t, out);
}

static int64_t
asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

/* A distinguished name as RFC 2253 text, non-ASCII and control bytes escaped. */
static const char *
x509_name(const X509_NAME *n, char *buf, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    int len;

    buf[0] = '\0';
    if (b != NULL && n != NULL && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        len = BIO_read(b, buf, (int)cap - 1);
        buf[len > 0 ? len : 0] = '\0';
    }
    BIO_free(b);
    ERR_clear_error();
    return buf[0] != '\0' ? buf : bprintf(buf, cap, "(empty)");
}

/* --- building the explanation ------------------------------------------------------ */

static size_t add(struct cm_explain *x, const char *name, enum cm_xp_result r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void decide(struct cm_explain *x, size_t at, enum cm_xp_decision d, int status,
                   const char *slug, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static size_t fail(struct cm_explain *x, const char *name, enum gw_reason why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One line; returns its index.  The pipeline adds a fixed number of lines
 * (at most ~32), below CM_XP_MAX_CHECKS; a last line would be overwritten. */
static size_t
add(struct cm_explain *x, const char *name, enum cm_xp_result r, const char *fmt, ...)
{
    struct cm_xp_check *c;
    va_list ap;

    if (x->nchecks == CM_XP_MAX_CHECKS)
        x->nchecks--;
    c = &x->checks[x->nchecks];
    c->name = name;
    c->result = r;
    va_start(ap, fmt);
    vtext(c->text, sizeof(c->text), fmt, ap);
    va_end(ap);
    return x->nchecks++;
}

/* The first failure decides, as the gateway stops there; later ones are shown only. */
static void
decide(struct cm_explain *x, size_t at, enum cm_xp_decision d, int status, const char *slug,
       const char *fmt, ...)
{
    va_list ap;

    if (x->decided)
        return;
    x->decided = true;
    x->decision = d;
    x->status = status;
    x->slug = slug;
    x->decided_by = at;
    x->checks[at].result = d == CM_XP_ALLOW ? x->checks[at].result : CM_XP_FAIL;
    va_start(ap, fmt);
    vtext(x->reason, sizeof(x->reason), fmt, ap);
    va_end(ap);
}

static void
deny_at(struct cm_explain *x, size_t at, enum gw_reason why, const char *text)
{
    decide(x, at, CM_XP_DENY_HTTP, gw_reason_status(why), gw_reason_slug(why), "%s", text);
}

/* A failed check whose text is also the reason of the denial it may decide. */
static size_t
fail(struct cm_explain *x, const char *name, enum gw_reason why, const char *fmt, ...)
{
    char text[CM_XP_TEXT_MAX];
    size_t at;
    va_list ap;

    va_start(ap, fmt);
    vtext(text, sizeof(text), fmt, ap);
    va_end(ap);
    at = add(x, name, CM_XP_FAIL, "%s", text);
    deny_at(x, at, why, text);
    return at;
}

static void
names_text(const struct pol_names *n, struct xp_list *l)
{
    size_t i;

    for (i = 0; i < n->nuri; i++)
        list_add(l, "uri ", n->uri[i]);
    for (i = 0; i < n->ndns; i++)
        list_add(l, "dns ", n->dns[i]);
    for (i = 0; i < n->nemail; i++)
        list_add(l, "email ", n->email[i]);
    if (n->cn != NULL)
        list_add(l, "cn ", n->cn);
}

/* --- 1. the TLS handshake (gw_tls.c on_verify) ---------------------------------------- */

enum aspect { A_CHAIN, A_TIME, A_EKU, A_CRL, A_N };

struct vstate {
    const struct cm_explain_in *in;
    int first;             /* the first error: the handshake's verdict (0: none) */
    enum aspect first_asp; /* ... and its line */
    int err[A_N];          /* the first error of each aspect */
    int depth[A_N];
    bool leaf_done; /* the depth-0 checks of on_verify ran */
    bool has_eku;
};

static void
record(struct vstate *v, int err, int depth, enum aspect a)
{
    if (v->first == 0) {
        v->first = err;
        v->first_asp = a;
    }
    if (v->err[a] == 0) {
        v->err[a] = err;
        v->depth[a] = depth;
    }
}

static enum aspect
aspect_of(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        return A_TIME;
    case X509_V_ERR_INVALID_PURPOSE:
        return A_EKU;
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CERT_REVOKED:
        return A_CRL;
    default:
        return A_CHAIN;
    }
}

/* gw_tls.c check_revocation: the live CRL set, in the same order. */
static void
check_revocation(struct vstate *v, X509 *cert)
{
    const struct authn_crlset *crl = v->in->crl;
    unsigned char issuer[32], serial[AUTHN_SERIAL_MAX];
    size_t slen = 0;

    if (crl == NULL)
        return;
    if (authn_crlset_expired(crl, v->in->now))
        record(v, X509_V_ERR_CRL_HAS_EXPIRED, 0, A_CRL);
    else if (authn_cert_revocation_key(cert, issuer, serial, &slen) != PC_OK)
        record(v, X509_V_ERR_INVALID_CA, 0, A_CRL);
    else if (!authn_crlset_covers(crl, issuer))
        record(v, X509_V_ERR_UNABLE_TO_GET_CRL, 0, A_CRL);
    else if (authn_crlset_has(crl, issuer, serial, slen))
        record(v, X509_V_ERR_CERT_REVOKED, 0, A_CRL);
}

/*
 * The gateway's verify callback, except that it goes on after an error (and
 * runs the CRL check after an EKU failure) so that every problem is shown;
 * the first error recorded is the one the gateway stops at.
 */
static int
on_verify(int ok, X509_STORE_CTX *sc)
{
    struct vstate *v = X509_STORE_CTX_get_app_data(sc);
    X509 *cert = X509_STORE_CTX_get_current_cert(sc);
    int depth = X509_STORE_CTX_get_error_depth(sc), err;

    if (v == NULL)
        return 0;
    if (!ok) {
        err = X509_STORE_CTX_get_error(sc);
        record(v, err, depth, aspect_of(err));
        return 1;
    }
    if (depth != 0 || cert == NULL || v->leaf_done)
        return 1;
    v->leaf_done = true;
    /* EKU clientAuth is required, not merely "allowed when present" */
    v->has_eku = (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0;
    if (!v->has_eku || (X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) == 0)
        record(v, X509_V_ERR_INVALID_PURPOSE, 0, A_EKU);
    check_revocation(v, cert);
    return 1;
}

/* X509_verify_cert as libssl runs it for a server verifying its client. */
static int
verify_chain(const struct cm_explain_in *in, struct vstate *v, char *anchor, size_t cap)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    STACK_OF(X509) * chain;
    int i, rc = PC_ERR_CRYPTO;

    if (store == NULL || sc == NULL)
        goto out;
    /* trust anchors only: no X509_V_FLAG_PARTIAL_CHAIN (gw_tls.c load_client_ca) */
    for (i = 0; i < sk_X509_num(in->cas); i++)
        if (X509_STORE_add_cert(store, sk_X509_value(in->cas, i)) != 1)
            goto out;
    if (X509_STORE_CTX_init(sc, store, in->cert, in->chain) != 1 ||
        X509_STORE_CTX_set_default(sc, "ssl_client") != 1)
        goto out;
    param = X509_STORE_CTX_get0_param(sc);
    X509_VERIFY_PARAM_set_depth(param, XP_VERIFY_DEPTH);
    X509_VERIFY_PARAM_set_auth_level(param, in->auth_level);
    X509_VERIFY_PARAM_set_time(param, (time_t)in->now);
    X509_STORE_CTX_set_verify_cb(sc, on_verify);
    X509_STORE_CTX_set_app_data(sc, v);
    if (X509_verify_cert(sc) <= 0 && v->first == 0) /* fail closed on any unexplained error */
        record(v,
               X509_STORE_CTX_get_error(sc) != X509_V_OK ? X509_STORE_CTX_get_error(sc)
                                                         : X509_V_ERR_UNSPECIFIED,
               X509_STORE_CTX_get_error_depth(sc), A_CHAIN);
    chain = X509_STORE_CTX_get0_chain(sc);
    if (v->err[A_CHAIN] == 0 && chain != NULL && sk_X509_num(chain) > 0)
        x509_name(X509_get_subject_name(sk_X509_value(chain, sk_X509_num(chain) - 1)), anchor, cap);
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_err_ssl("verifying the client certificate");
    ERR_clear_error();
    X509_STORE_CTX_free(sc);
    X509_STORE_free(store);
    return rc;
}

static void
tls_time_line(struct cm_explain *x, const struct vstate *v)
{
    char a[CM_TIME_LEN + 1], b[CM_TIME_LEN + 1], n[CM_TIME_LEN + 1], d[XP_DUR_LEN];
    int64_t nb = asn1_unix(X509_get0_notBefore(x->in.cert));
    int64_t na = asn1_unix(X509_get0_notAfter(x->in.cert));

    if (v->err[A_TIME] == 0)
        add(x, "tls.validity", CM_XP_OK, "valid from %s until %s (%s left)", when(nb, a),
            when(na, b), dur(na - x->in.now, d));
    else if (v->depth[A_TIME] == 0)
        add(x, "tls.validity", CM_XP_FAIL, "%s: valid from %s until %s, now is %s",
            X509_verify_cert_error_string(v->err[A_TIME]), when(nb, a), when(na, b),
            when(x->in.now, n));
    else
        add(x, "tls.validity", CM_XP_FAIL, "%s: a CA certificate of the chain (depth %d)",
            X509_verify_cert_error_string(v->err[A_TIME]), v->depth[A_TIME]);
}

static void
tls_crl_line(struct cm_explain *x, const struct vstate *v, const char *serial)
{
    const char *crl = x->in.listener->crl;
    char e[CM_ESC_MAX];

    if (x->in.crl == NULL)
        add(x, "tls.revocation", CM_XP_NOTE, "the listener has no crl: (revocation not checked)");
    else if (v->err[A_CRL] == X509_V_ERR_CERT_REVOKED)
        add(x, "tls.revocation", CM_XP_FAIL, "serial %s is revoked in crl %s", serial, esc(e, crl));
    else if (v->err[A_CRL] == X509_V_ERR_CRL_HAS_EXPIRED)
        add(x, "tls.revocation", CM_XP_FAIL,
            "crl %s is past its nextUpdate: every certificate is refused until it is renewed",
            esc(e, crl));
    else if (v->err[A_CRL] == X509_V_ERR_UNABLE_TO_GET_CRL)
        add(x, "tls.revocation", CM_XP_FAIL, "crl %s has no CRL from this certificate's issuer",
            esc(e, crl));
    else if (v->err[A_CRL] != 0)
        add(x, "tls.revocation", CM_XP_FAIL,
            "the serial number cannot be looked up (negative, empty or above 20 octets)");
    else if (!v->leaf_done)
        add(x, "tls.revocation", CM_XP_SKIP, "not reached");
    else
        add(x, "tls.revocation", CM_XP_OK, "serial %s is not revoked (crl %s, %zu revoked)", serial,
            esc(e, crl), authn_crlset_count(x->in.crl));
}

static int
stage_tls(struct cm_explain *x)
{
    const struct cm_explain_in *in = &x->in;
    struct vstate v;
    char anchor[256] = "", issuer[256], e[CM_ESC_MAX], serial[2 * AUTHN_SERIAL_MAX + 1] = "?";
    size_t base;
    int rc;

    memset(&v, 0, sizeof(v));
    v.in = in;
    rc = verify_chain(in, &v, anchor, sizeof(anchor));
    if (rc != PC_OK)
        return rc;
    if (x->peer != NULL)
        memcpy(serial, x->peer->serial_hex, sizeof(serial));
    base = x->nchecks;
    if (v.err[A_CHAIN] == 0)
        add(x, "tls.chain", CM_XP_OK, "issued under client_ca %s: %s",
            esc(e, in->listener->client_ca), anchor);
    else
        add(x, "tls.chain", CM_XP_FAIL, "%s (depth %d); the certificate's issuer is %s",
            X509_verify_cert_error_string(v.err[A_CHAIN]), v.depth[A_CHAIN],
            x509_name(X509_get_issuer_name(in->cert), issuer, sizeof(issuer)));
    tls_time_line(x, &v);
    if (v.err[A_EKU] == 0)
        add(x, "tls.eku", CM_XP_OK, "extendedKeyUsage includes clientAuth");
    else if (v.depth[A_EKU] != 0)
        add(x, "tls.eku", CM_XP_FAIL, "%s (depth %d)", X509_verify_cert_error_string(v.err[A_EKU]),
            v.depth[A_EKU]);
    else
        add(x, "tls.eku", CM_XP_FAIL, "%s: the gateway requires extendedKeyUsage clientAuth",
            v.has_eku || !v.leaf_done ? "extendedKeyUsage without clientAuth"
                                      : "no extendedKeyUsage");
    tls_crl_line(x, &v, serial);
    if (v.first != 0)
        decide(x, base + v.first_asp, CM_XP_DENY_TLS, 0,
               gw_hs_fail_name(gw_hs_fail_of_verify(v.first)), "the TLS handshake is refused: %s",
               X509_verify_cert_error_string(v.first));
    return PC_OK;
}

/* --- 2. identity, the request, the certificate per request, the Host (gw_req.c) ------- */

static void
stage_identity(struct cm_explain *x)
{
    static const char *const from[] = {[AUTHN_ID_URI] = "SAN URI",
                                       [AUTHN_ID_DNS] = "SAN DNS",
                                       [AUTHN_ID_EMAIL] = "SAN email",
                                       [AUTHN_ID_CN] = "subject CN",
                                       [AUTHN_ID_NONE] = "nothing"};
    char e[CM_ESC_MAX];

    if (x->peer == NULL)
        fail(x, "peer.identity", GW_R_NO_CERT,
             "the certificate names no usable identity (no SAN URI, DNS or email, no CN)");
    else
        add(x, "peer.identity", CM_XP_OK, "%s (from the %s)", esc(e, x->peer->identity),
            from[x->peer->kind]);
}

/* Returns whether the path is fit for routing (*path: decoded, in pool or in->path). */
static bool
stage_request(struct cm_explain *x, h2o_mem_pool_t *pool, h2o_iovec_t *path)
{
    const struct cm_explain_in *in = &x->in;
    const struct pol_limits *lim = &in->cfg->limits;
    char e[CM_ESC_MAX], d[CM_ESC_MAX];
    size_t n;

    if (in->token != NULL) {
        /* a lower bound of what limits.max_header_bytes counts (headers_within_limits) */
        n = sizeof("authorization") - 1 + sizeof("Bearer ") - 1 + strlen(in->token);
        if (n > lim->max_header_bytes)
            fail(x, "request.headers", GW_R_HEADERS_TOO_LARGE,
                 "Authorization alone is %zu bytes; limits.max_header_bytes is %zu", n,
                 lim->max_header_bytes);
    }
    if (strcmp(in->method, "CONNECT") == 0)
        fail(x, "request.method", GW_R_METHOD, "CONNECT is not proxied");
    else
        add(x, "request.method", CM_XP_OK, "%s", esc(e, in->method));
    switch (gw_path_check(pool, in->path, strlen(in->path), PC_HTTP_MAX_PATH_BYTES, path)) {
    case GW_PATH_OK:
        add(x, "request.path", CM_XP_OK, "\"%s\" is routed as \"%s\"", esc(e, in->path),
            cm_esc(d, path->base, path->len));
        return true;
    case GW_PATH_TOO_LONG:
        fail(x, "request.path", GW_R_URI_TOO_LONG, "%zu bytes; the gateway takes at most %d",
             strlen(in->path), PC_HTTP_MAX_PATH_BYTES);
        return false;
    case GW_PATH_BAD:
        break;
    }
    fail(x, "request.path", GW_R_BAD_REQUEST,
         "\"%s\" is malformed or ambiguous (it must start with '/'; no control byte, '\\', "
         "encoded '/', '\\' or control byte, or dot segment)",
         esc(e, in->path));
    return false;
}

/* gw_req.c cert_state: expiry and revocation, again on every request. */
static void
stage_cert_state(struct cm_explain *x)
{
    const struct authn_peer *p = x->peer;
    const struct authn_crlset *crl = x->in.crl;
    int64_t now = x->in.now;
    enum gw_reason st = GW_R_OK;
    char t[CM_TIME_LEN + 1];

    if (p == NULL) {
        add(x, "cert.state", CM_XP_SKIP, "no identity");
        return;
    }
    if (now < p->not_before)
        st = GW_R_CERT_NOT_YET_VALID;
    else if (now > p->not_after)
        st = GW_R_CERT_EXPIRED;
    else if (crl != NULL &&
             (authn_crlset_expired(crl, now) || !authn_crlset_covers(crl, p->issuer_id)))
        st = GW_R_CRL_STALE;
    else if (crl != NULL && authn_crlset_has(crl, p->issuer_id, p->serial, p->serial_len))
        st = GW_R_CERT_REVOKED;
    if (st == GW_R_OK)
        add(x, "cert.state", CM_XP_OK,
            "valid and not revoked now (checked again on every request: keep-alive and "
            "resumed sessions too)");
    else if (st == GW_R_CERT_NOT_YET_VALID)
        fail(x, "cert.state", st, "not valid before %s", when(p->not_before, t));
    else if (st == GW_R_CERT_EXPIRED)
        fail(x, "cert.state", st, "expired at %s: a connection opened before gets 403",
             when(p->not_after, t));
    else if (st == GW_R_CRL_STALE)
        fail(x, "cert.state", st, "the crl is past its nextUpdate or lacks the issuer");
    else
        fail(x, "cert.state", st, "revoked: a connection opened before the revocation gets 403");
}

static bool
is_ip_literal(h2o_iovec_t h)
{
    char buf[INET6_ADDRSTRLEN + 2];
    unsigned char addr[sizeof(struct in6_addr)];

    if (h.len == 0 || h.len >= sizeof(buf))
        return false;
    if (h.base[0] == '[')
        return true;
    memcpy(buf, h.base, h.len);
    buf[h.len] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* Returns whether the Host is fit for routing (*host: without the port). */
static bool
stage_host(struct cm_explain *x, h2o_iovec_t *host)
{
    const char *h = x->in.host;
    size_t len = strlen(h);
    uint16_t port = 0;
    char e[CM_ESC_MAX];

    if (h2o_url_parse_hostport(h, len, host, &port) != h + len || host->len == 0) {
        fail(x, "request.host", GW_R_BAD_REQUEST, "\"%s\": missing or malformed Host", esc(e, h));
        return false;
    }
    cm_esc(x->sni, host->base, host->len);
    add(x, "request.host", CM_XP_OK, "%s", x->sni);
    /* the gateway compares the Host with the server name of the TLS session (421) */
    if (is_ip_literal(*host))
        fail(x, "tls.sni", GW_R_MISDIRECTED,
             "%s is an IP address: clients send no TLS server name for one (RFC 6066 3), and "
             "a request on a session without the Host's name is misdirected",
             x->sni);
    else
        add(x, "tls.sni", CM_XP_NOTE,
            "no TLS session offline: the client is assumed to have sent the server name \"%s\" "
            "(a Host that is not the TLS server name gets 421)",
            x->sni);
    return true;
}

/* --- 3. route and client policy ------------------------------------------------------- */

static const char *
methods_text(unsigned m, char *buf, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{POL_M_GET, "GET"},         {POL_M_HEAD, "HEAD"},      {POL_M_POST, "POST"},
                 {POL_M_PUT, "PUT"},         {POL_M_DELETE, "DELETE"},  {POL_M_PATCH, "PATCH"},
                 {POL_M_OPTIONS, "OPTIONS"}, {POL_M_OTHER, "any other"}};
    size_t i, off = 0;

    if ((m & POL_M_ALL) == POL_M_ALL)
        return bprintf(buf, cap, "any");
    buf[0] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((m & names[i].bit) != 0 && off < cap)
            off += strlen(bprintf(buf + off, cap - off, "%s%s", off > 0 ? " " : "", names[i].name));
    return buf;
}

static void
stage_route(struct cm_explain *x, h2o_iovec_t host, h2o_iovec_t path)
{
    const struct cm_explain_in *in = &x->in;
    const struct pol_route *r, *any;
    char eh[CM_ESC_MAX], ep[CM_ESC_MAX], em[CM_ESC_MAX], m[64];

    r = pol_route_match(in->cfg, host.base, host.len, path.base, path.len,
                        pol_method_bit(in->method, strlen(in->method)));
    if (r == NULL) {
        /* a hint the gateway never gives (its 404 says nothing): the method */
        any = pol_route_match(in->cfg, host.base, host.len, path.base, path.len, POL_M_ALL);
        if (any != NULL)
            fail(x, "route.match", GW_R_NO_ROUTE,
                 "route \"%s\" matches host and path but allows only %s, not %s", any->name,
                 methods_text(any->methods, m, sizeof(m)), esc(em, in->method));
        else
            fail(x, "route.match", GW_R_NO_ROUTE, "no route for host \"%s\" and path \"%s\"",
                 cm_esc(eh, host.base, host.len), cm_esc(ep, path.base, path.len));
        return;
    }
    x->route = r;
    add(x, "route.match", CM_XP_OK, "\"%s\" (host %s, path_prefix %s, methods %s; %s:%u)", r->name,
        r->host_text, r->path_prefix, methods_text(r->methods, m, sizeof(m)), r->pos.file,
        r->pos.line);
}

static void
stage_mtls(struct cm_explain *x)
{
    const struct pol_route *r = x->route;
    const struct pol_pattern *hit = NULL;
    struct xp_list names, pats;
    char e[CM_ESC_MAX];
    size_t i;

    if (x->peer == NULL) {
        add(x, "mtls.allow", CM_XP_SKIP, "no identity");
        return;
    }
    memset(&names, 0, sizeof(names));
    memset(&pats, 0, sizeof(pats));
    names_text(&x->peer->names, &names);
    if (r->nallow == 0) {
        add(x, "mtls.allow", CM_XP_OK,
            "the route has no mtls.allow: any certificate of the client CA (names: %s)",
            list_str(&names, "none"));
        return;
    }
    if (pol_route_allows(r, &x->peer->names, &hit)) {
        add(x, "mtls.allow", CM_XP_OK, "\"%s\" matches (names: %s)",
            hit != NULL ? esc(e, hit->text) : "?", list_str(&names, "none"));
        return;
    }
    for (i = 0; i < r->nallow; i++)
        list_add(&pats, "", r->allow[i].text);
    fail(x, "mtls.allow", GW_R_CERT_NOT_ALLOWED,
         "%s is not allowed on route \"%s\": no pattern of [%s] matches its names (%s)",
         esc(e, x->peer->identity), r->name, list_str(&pats, ""), list_str(&names, "none"));
}

/* --- 4. the token (gw_jwt.c) ------------------------------------------------------------ */

enum hpos { H_FORMAT, H_ALG, H_TYP, H_CRIT, H_KID, H_SIG, H_N };
static const char *const hpos_names[H_N] = {"jwt.format", "jwt.alg", "jwt.typ",
                                            "jwt.crit",   "jwt.kid", "jwt.signature"};

/* Where authn_jwt_verify stopped (its checks run in enum hpos order). */
static enum hpos
hpos_of(enum authn_jwt_err e)
{
    switch (e) {
    case AUTHN_JWT_OK:
        return H_N;
    case AUTHN_JWT_ALG:
        return H_ALG;
    case AUTHN_JWT_TYP:
        return H_TYP;
    case AUTHN_JWT_CRIT:
        return H_CRIT;
    case AUTHN_JWT_NO_KEYS:
    case AUTHN_JWT_KID_MISSING:
    case AUTHN_JWT_KID_UNKNOWN:
        return H_KID;
    case AUTHN_JWT_SIGNATURE:
        return H_SIG;
    default:
        return H_FORMAT; /* too large, JWE, malformed (also claims that cannot be read) */
    }
}

/* The token taken apart without trust, only to name what authn_jwt_verify saw. */
struct tokview {
    bool ok;
    char alg[CM_ESC_MAX], typ[CM_ESC_MAX], kid[CM_ESC_MAX];
    bool has_typ, has_kid, has_crit;
    unsigned alg_bit;
};

static void
tokview_read(struct tokview *t, const char *tok, size_t len)
{
    struct cm_jws j;
    const json_t *v;
    bool had = cm_err_get() != NULL;

    memset(t, 0, sizeof(*t));
    if (cm_jws_decode(tok, len, &j) == PC_OK) {
        t->ok = true;
        v = json_object_get(j.header, "alg");
        cm_esc(t->alg, json_string_value(v), json_string_length(v));
        t->alg_bit = pol_alg_from_name(json_string_value(v), json_string_length(v));
        v = json_object_get(j.header, "typ");
        t->has_typ = v != NULL;
        if (json_is_string(v))
            cm_esc(t->typ, json_string_value(v), json_string_length(v));
        else
            bprintf(t->typ, sizeof(t->typ), "(not a string)");
        v = json_object_get(j.header, "kid");
        t->has_kid = v != NULL;
        if (json_is_string(v))
            cm_esc(t->kid, json_string_value(v), json_string_length(v));
        t->has_crit = json_object_get(j.header, "crit") != NULL;
    }
    cm_jws_clear(&j);
    if (!had)
        cm_err_clear(); /* a display aid: its complaint is not this run's failure */
}

static void
header_text(enum hpos p, enum cm_xp_result r, enum authn_jwt_err e, const struct tokview *t,
            const struct pol_issuer *iss, const struct authn_keyset *ks, char *out, size_t cap)
{
    char algs[96] = "";
    unsigned bit;

    for (bit = 1; bit != 0 && bit <= POL_ALG_EDDSA; bit <<= 1)
        if ((iss->algorithms & bit) != 0)
            bprintf(algs + strlen(algs), sizeof(algs) - strlen(algs), "%s%s",
                    algs[0] != '\0' ? " " : "", pol_alg_name(bit));
    if (r == CM_XP_SKIP) {
        bprintf(out, cap, "not checked (the gateway stopped earlier)");
        return;
    }
    switch (p) {
    case H_FORMAT:
        bprintf(out, cap, "%s", r == CM_XP_OK ? "a compact JWS" : authn_jwt_err_str(e));
        break;
    case H_ALG:
        if (r == CM_XP_OK)
            bprintf(out, cap, "%s (the issuer allows %s)", t->alg, algs);
        else if ((t->alg_bit & iss->algorithms) != 0)
            bprintf(out, cap, "%s does not fit the key \"%s\"", t->alg, t->kid);
        else
            bprintf(out, cap, "\"%s\" is not one of the issuer's algorithms (%s)", t->alg, algs);
        break;
    case H_TYP:
        bprintf(out, cap, "%s%s", t->has_typ ? t->typ : "absent",
                r == CM_XP_OK ? "" : ": the gateway takes JWT or at+jwt");
        break;
    case H_CRIT:
        bprintf(out, cap, "%s", r == CM_XP_OK ? "absent" : authn_jwt_err_str(e));
        break;
    case H_KID:
        if (e == AUTHN_JWT_KID_UNKNOWN)
            bprintf(out, cap, "\"%s\" is not in %s (%zu key(s))", t->kid, iss->jwks_file,
                    authn_keyset_count(ks));
        else if (e == AUTHN_JWT_KID_MISSING)
            bprintf(out, cap, "absent, and %s has %zu keys", iss->jwks_file,
                    authn_keyset_count(ks));
        else if (r != CM_XP_OK)
            bprintf(out, cap, "%s", authn_jwt_err_str(e));
        else if (t->has_kid)
            bprintf(out, cap, "\"%s\" is in %s", t->kid, iss->jwks_file);
        else
            bprintf(out, cap, "absent: %s has one key", iss->jwks_file);
        break;
    default:
        if (t->has_kid)
            bprintf(out, cap, "%s the key of kid \"%s\"",
                    r == CM_XP_OK ? "verifies with" : "does not verify with", t->kid);
        else
            bprintf(out, cap, "%s the only key of %s",
                    r == CM_XP_OK ? "verifies with" : "does not verify with", iss->jwks_file);
        break;
    }
}

/* The lines of authn_jwt_verify's checks; returns the index of the failed one. */
static size_t
header_lines(struct cm_explain *x, const struct pol_issuer *iss, const struct authn_keyset *ks,
             enum authn_jwt_err e, const struct tokview *t)
{
    enum cm_xp_result res[H_N];
    enum hpos stop = hpos_of(e), p;
    char text[CM_XP_TEXT_MAX];
    size_t at = 0, idx;

    for (p = 0; p < H_N; p++)
        res[p] = p < stop ? CM_XP_OK : p == stop ? CM_XP_FAIL : CM_XP_SKIP;
    /* an allowed alg that is not the selected key's: refused after the kid */
    if (e == AUTHN_JWT_ALG && t->ok && (t->alg_bit & iss->algorithms) != 0) {
        for (p = 0; p < H_N; p++)
            res[p] = p == H_ALG ? CM_XP_FAIL : p == H_SIG ? CM_XP_SKIP : CM_XP_OK;
    }
    for (p = 0; p < H_N; p++) {
        if (p == H_CRIT && res[p] != CM_XP_FAIL && !t->has_crit)
            continue; /* shown only when there is one */
        header_text(p, res[p], e, t, iss, ks, text, sizeof(text));
        idx = add(x, hpos_names[p], res[p], "%s", text);
        if (res[p] == CM_XP_FAIL)
            at = idx;
    }
    return at;
}

enum kcheck { K_ISS, K_AUD, K_EXP, K_NBF, K_IAT, K_BIND, K_SCOPES, K_N };
static const char *const kcheck_names[K_N] = {"jwt.iss", "jwt.aud",     "jwt.exp",   "jwt.nbf",
                                              "jwt.iat", "jwt.binding", "jwt.scopes"};

static enum kcheck
kcheck_of(enum authn_jwt_err e)
{
    switch (e) {
    case AUTHN_JWT_AUDIENCE:
        return K_AUD;
    case AUTHN_JWT_NO_EXP:
    case AUTHN_JWT_EXPIRED:
        return K_EXP;
    case AUTHN_JWT_NOT_YET_VALID:
        return K_NBF;
    case AUTHN_JWT_IAT_FUTURE:
        return K_IAT;
    case AUTHN_JWT_BINDING:
        return K_BIND;
    case AUTHN_JWT_SCOPE:
        return K_SCOPES;
    default:
        return K_ISS;
    }
}

/*
 * One claim check alone: authn_claims_check itself, on a copy of the claims
 * and route where every other check is made to pass.  So each line is the
 * gateway's own judgement (leeway, constant-time compare and all), not a
 * second implementation of it.
 */
static enum authn_jwt_err
check_one(const struct authn_claims *c, const struct pol_issuer *iss, const struct pol_jwt *jc,
          int64_t now, const char *x5t, enum kcheck keep)
{
    struct authn_claims t = *c;
    struct pol_jwt j = *jc;
    char *aud[1];

    aud[0] = jc->audience;
    if (keep != K_ISS)
        t.iss = iss->issuer;
    if (keep != K_AUD) {
        t.aud = aud;
        t.naud = 1;
    }
    if (keep != K_EXP)
        t.exp = AUTHN_JWT_TIME_MAX;
    if (keep != K_NBF)
        t.nbf = INT64_MIN;
    if (keep != K_IAT)
        t.iat = INT64_MIN;
    if (keep != K_BIND)
        j.bind_to_client_cert = false;
    if (keep != K_SCOPES)
        j.nscopes = 0;
    return authn_claims_check(&t, iss, &j, now, x5t, NULL);
}

static const char *
time_claim_text(bool is_exp, int64_t t, int64_t now, int64_t leeway, char *out, size_t cap)
{
    char w[CM_TIME_LEN + 1], d[XP_DUR_LEN];

    if (t == INT64_MIN)
        return bprintf(out, cap, "%s", is_exp ? "absent: a token must expire" : "absent");
    return bprintf(out, cap, "%s (%s%s%s; leeway %llds)", when(t, w), t > now ? "in " : "",
                   t == now ? "now" : dur(t - now, d), t < now ? " ago" : "", (long long)leeway);
}

static const char *
claim_text(enum kcheck k, const struct authn_claims *c, const struct pol_issuer *iss,
           const struct pol_jwt *jc, const char *x5t, int64_t now, char *out, size_t cap)
{
    struct xp_list have, want;
    char e1[CM_ESC_MAX], e2[CM_ESC_MAX];
    int64_t leeway = (int64_t)(iss->leeway_ms / 1000);
    size_t i;

    memset(&have, 0, sizeof(have));
    memset(&want, 0, sizeof(want));
    switch (k) {
    case K_ISS:
        return bprintf(out, cap, "\"%s\" (the issuer is \"%s\")", esc(e1, c->iss),
                       esc(e2, iss->issuer));
    case K_AUD:
        for (i = 0; i < c->naud; i++)
            list_add(&have, "", c->aud[i]);
        return bprintf(out, cap, "[%s], the route's audience is \"%s\"", list_str(&have, ""),
                       esc(e1, jc->audience));
    case K_EXP:
        return time_claim_text(true, c->exp, now, leeway, out, cap);
    case K_NBF:
        return time_claim_text(false, c->nbf, now, leeway, out, cap);
    case K_IAT:
        return time_claim_text(false, c->iat, now, leeway, out, cap);
    case K_BIND:
        if (!jc->bind_to_client_cert)
            return bprintf(out, cap, "not required by the route");
        return bprintf(out, cap, "cnf x5t#S256 %s, the certificate's is %s", esc(e1, c->cnf_x5t),
                       x5t != NULL ? x5t : "unknown");
    default:
        for (i = 0; i < c->nscopes; i++)
            list_add(&have, "", c->scopes[i]);
        for (i = 0; i < jc->nscopes; i++)
            list_add(&want, "", jc->scopes[i]);
        return bprintf(out, cap, "the route requires [%s]; the token has [%s]", list_str(&want, ""),
                       list_str(&have, ""));
    }
}

/* Every claim check, then the decision exactly as gw_jwt.c takes it. */
static void
claim_lines(struct cm_explain *x, const struct pol_issuer *iss, const struct authn_claims *c,
            bool trusted)
{
    const struct pol_jwt *jc = x->route->jwt;
    const char *x5t = x->peer != NULL ? x->peer->x5t_s256 : NULL, *missing = NULL;
    const char *mark = trusted ? "" : " (untrusted)";
    char text[CM_XP_TEXT_MAX], e1[CM_ESC_MAX], e2[CM_ESC_MAX];
    size_t at[K_N];
    enum authn_jwt_err e;
    enum kcheck k;

    add(x, "jwt.claims", CM_XP_NOTE, "sub \"%s\", jti \"%s\"%s", esc(e1, c->sub), esc(e2, c->jti),
        mark);
    for (k = 0; k < K_N; k++) {
        e = check_one(c, iss, jc, x->in.now, x5t, k);
        claim_text(k, c, iss, jc, x5t, x->in.now, text, sizeof(text));
        at[k] =
            add(x, kcheck_names[k], e == AUTHN_JWT_OK ? CM_XP_OK : CM_XP_FAIL, "%s%s", text, mark);
    }
    e = authn_claims_check(c, iss, jc, x->in.now, x5t, &missing);
    if (e == AUTHN_JWT_OK)
        return;
    k = kcheck_of(e);
    if (e == AUTHN_JWT_SCOPE)
        bprintf(text, sizeof(text), "%s: \"%s\" is missing%s", authn_jwt_err_str(e),
                esc(e1, missing), mark);
    else
        bprintf(text, sizeof(text), "%s: %s", authn_jwt_err_str(e), x->checks[at[k]].text);
    deny_at(x, at[k], e == AUTHN_JWT_SCOPE ? GW_R_SCOPE : GW_R_TOKEN_INVALID, text);
}

static void
jwt_verified(struct cm_explain *x, const struct pol_issuer *iss, const char *tok, size_t len)
{
    const struct authn_keyset *ks = x->in.keys != NULL ? x->in.keys[iss->index] : NULL;
    struct authn_claims *c = NULL;
    char text[CM_XP_TEXT_MAX];
    struct tokview t;
    enum authn_jwt_err e;
    size_t at;

    if (ks == NULL) {
        fail(x, "jwt.keys", GW_R_TOKEN_INVALID, "%s", authn_jwt_err_str(AUTHN_JWT_NO_KEYS));
        return;
    }
    tokview_read(&t, tok, len);
    e = authn_jwt_verify(tok, len, ks, iss->algorithms, &c, NULL);
    at = header_lines(x, iss, ks, e, &t);
    if (e != AUTHN_JWT_OK) {
        if (strcmp(x->checks[at].text, authn_jwt_err_str(e)) == 0)
            bprintf(text, sizeof(text), "%s", authn_jwt_err_str(e));
        else
            bprintf(text, sizeof(text), "%s: %s", authn_jwt_err_str(e), x->checks[at].text);
        deny_at(x, at, GW_R_TOKEN_INVALID, text);
        add(x, "jwt.claims", CM_XP_SKIP, "not checked: the token did not verify");
        return;
    }
    claim_lines(x, iss, c, true);
    authn_claims_free(c);
}

/*
 * A jwks_uri issuer: no network here, so no keys.  The claims are read with
 * the gateway's reader and checked with its checks, all marked untrusted,
 * and the decision carries a caveat.
 */
static void
jwt_unverified(struct cm_explain *x, const struct pol_issuer *iss, const char *tok, size_t len)
{
    static const unsigned char no_key[32];
    struct authn_claims *c = NULL;
    struct cm_jws j;
    const json_t *kid;
    char e1[CM_ESC_MAX];
    bool had = cm_err_get() != NULL;
    unsigned alg;

    bprintf(x->caveat, sizeof(x->caveat),
            "cannot check the signature offline (jwks_uri); a token whose signature does not "
            "verify gets 401 invalid-token");
    add(x, "jwt.signature", CM_XP_NOTE,
        "cannot check the signature offline (jwks_uri %s): what follows is decoded without trust",
        esc(e1, iss->jwks_uri));
    if (cm_jws_decode(tok, len, &j) != PC_OK) {
        fail(x, "jwt.format", GW_R_TOKEN_INVALID, "%s: %s", authn_jwt_err_str(AUTHN_JWT_MALFORMED),
             cm_err_get() != NULL ? cm_err_get() : "?");
        if (!had)
            cm_err_clear();
        goto out;
    }
    alg = pol_alg_from_name(json_string_value(json_object_get(j.header, "alg")),
                            json_string_length(json_object_get(j.header, "alg")));
    if ((alg & iss->algorithms) == 0)
        fail(x, "jwt.alg", GW_R_TOKEN_INVALID, "%s: \"%s\"", authn_jwt_err_str(AUTHN_JWT_ALG),
             esc(e1, json_string_value(json_object_get(j.header, "alg"))));
    else
        add(x, "jwt.alg", CM_XP_OK, "%s (untrusted)", pol_alg_name(alg));
    kid = json_object_get(j.header, "kid");
    add(x, "jwt.kid", CM_XP_NOTE, "\"%s\": not looked up offline", esc(e1, json_string_value(kid)));
    if (json_is_string(kid) && json_string_length(kid) > AUTHN_JWT_MAX_KID)
        kid = NULL;
    if (authn_claims_build(json_incref(j.claims), json_string_value(kid),
                           json_is_string(kid) ? json_string_length(kid) : 0, alg, no_key,
                           &c) != AUTHN_JWT_OK) {
        fail(x, "jwt.claims", GW_R_TOKEN_INVALID, "%s (untrusted)",
             authn_jwt_err_str(AUTHN_JWT_MALFORMED));
        goto out;
    }
    claim_lines(x, iss, c, false);
out:
    authn_claims_free(c);
    cm_jws_clear(&j);
}

static void
stage_jwt(struct cm_explain *x)
{
    const struct pol_jwt *jc = x->route->jwt;
    const struct pol_issuer *iss;
    const char *tok = NULL;
    char *hdr = NULL, e1[CM_ESC_MAX], e2[CM_ESC_MAX];
    size_t n = 0, toklen = 0;
    enum authn_jwt_err e;

    if (jc == NULL) {
        add(x, "jwt", CM_XP_NOTE, "jwt: off on this route: no token is checked");
        return;
    }
    iss = jc->issuer;
    add(x, "jwt.issuer", CM_XP_NOTE, "%s: iss \"%s\", keys from %s %s", iss->name,
        esc(e1, iss->issuer), iss->jwks_file != NULL ? "jwks_file" : "jwks_uri",
        esc(e2, iss->jwks_file != NULL ? iss->jwks_file : iss->jwks_uri));
    if (x->in.token == NULL) {
        fail(x, "jwt.token", GW_R_TOKEN_INVALID,
             "%s: the route requires a token of issuer %s (--token)",
             authn_jwt_err_str(AUTHN_JWT_MISSING), iss->name);
        return;
    }
    /* the Authorization value the gateway would read, through its own parser */
    n = strlen(x->in.token);
    if (n > CM_TOKEN_MAX_BYTES) {
        fail(x, "jwt.token", GW_R_TOKEN_INVALID, "%s: %zu bytes",
             authn_jwt_err_str(AUTHN_JWT_TOO_LARGE), n);
        return;
    }
    hdr = pc_xmalloc(n + 8);
    memcpy(hdr, "Bearer ", 7);
    memcpy(hdr + 7, x->in.token, n + 1);
    e = authn_bearer_parse(hdr, n + 7, iss->max_token_bytes, &tok, &toklen);
    if (e != AUTHN_JWT_OK)
        fail(x, "jwt.token", GW_R_TOKEN_INVALID, "%s (%zu bytes; max_token_bytes %zu)",
             authn_jwt_err_str(e), n, iss->max_token_bytes);
    else if (iss->jwks_file != NULL)
        jwt_verified(x, iss, tok, toklen);
    else
        jwt_unverified(x, iss, tok, toklen);
    pc_free_secret(hdr, n + 8);
}

/* --- 5. rate limit, upstream ------------------------------------------------------------ */

static const char *
period_text(uint64_t ms, char *buf, size_t cap)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    size_t i;

    for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
        if (ms % u[i].ms == 0)
            return ms == u[i].ms
                       ? bprintf(buf, cap, "%s", u[i].unit)
                       : bprintf(buf, cap, "%llu%s", (unsigned long long)(ms / u[i].ms), u[i].unit);
    return bprintf(buf, cap, "%llums", (unsigned long long)ms);
}

/* An interval: "10ms", "250us", "1m 40s". */
static const char *
us_text(uint64_t us, char *buf, size_t cap)
{
    if (us >= 1000000 && us % 1000000 == 0)
        return dur((int64_t)(us / 1000000), buf);
    if (us % 1000 == 0)
        return bprintf(buf, cap, "%llums", (unsigned long long)(us / 1000));
    return bprintf(buf, cap, "%lluus", (unsigned long long)us);
}

static void
stage_ratelimit(struct cm_explain *x)
{
    static const char *const fails[] = {[POL_RL_FAIL_DENY] = "deny (503)",
                                        [POL_RL_FAIL_ALLOW] = "allow",
                                        [POL_RL_FAIL_LOCAL] = "local"};
    const struct pol_ratelimit *rl = x->route->rate_limit;
    struct gw_gcra_spec s;
    char per[32], iv[XP_DUR_LEN], key[CM_XP_TEXT_MAX / 2], e1[CM_ESC_MAX], d[XP_DUR_LEN];
    uint64_t window_s;

    if (rl == NULL) {
        add(x, "ratelimit", CM_XP_NOTE, "no rate_limit on this route");
        return;
    }
    gw_gcra_spec_from(rl, &s);
    /* RateLimit-Policy's w= (gw_ratelimit.c): the burst's length, seconds */
    window_s = s.burst > GW_GCRA_MAX_US / s.interval_us
                   ? GW_GCRA_MAX_US / 1000000
                   : (s.interval_us * s.burst + 999999) / 1000000;
    if (rl->key == POL_RL_KEY_IDENTITY)
        bprintf(key, sizeof(key), "identity (%s)",
                esc(e1, x->peer != NULL ? x->peer->identity : NULL));
    else if (rl->key == POL_RL_KEY_SUBJECT)
        bprintf(key, sizeof(key), "subject (the token's sub)");
    else if (rl->key == POL_RL_KEY_IP)
        bprintf(key, sizeof(key), "ip (the client's address)");
    else
        bprintf(key, sizeof(key), "route (one bucket for every caller)");
    add(x, "ratelimit", CM_XP_NOTE,
        "%llu/%s, burst %llu (one request every %s, window %s), key %s, %s, "
        "on_backend_failure %s; not charged offline (over the limit: 429)",
        (unsigned long long)rl->count, period_text(rl->period_ms, per, sizeof(per)),
        (unsigned long long)s.burst, us_text(s.interval_us, iv, sizeof(iv)),
        dur((int64_t)(window_s != 0 ? window_s : 1), d), key,
        x->in.cfg->redis != NULL ? "in Redis" : "in this gateway's memory (no redis:)",
        fails[rl->on_backend_failure]);
}

static void
stage_upstream(struct cm_explain *x)
{
    const struct pol_route *r = x->route;
    size_t at;

    at = add(x, "upstream", CM_XP_OK, "%s (timeout %llums)", r->upstream->url,
             (unsigned long long)r->upstream_timeout_ms);
    decide(x, at, CM_XP_ALLOW, 0, gw_reason_slug(GW_R_OK), "route %s → %s", r->name,
           r->upstream->url);
}

/* --- the pipeline ------------------------------------------------------------------------ */

int
cm_explain_eval(const struct cm_explain_in *in, struct cm_explain *x)
{
    h2o_mem_pool_t pool;
    h2o_iovec_t path = {NULL, 0}, host = {NULL, 0};
    bool path_ok, host_ok;
    int rc;

    memset(x, 0, sizeof(*x));
    x->in = *in;
    /* fail closed: only reaching the proxy stage allows */
    x->decision = CM_XP_DENY_HTTP;
    x->status = gw_reason_status(GW_R_INTERNAL);
    x->slug = gw_reason_slug(GW_R_INTERNAL);
    bprintf(x->reason, sizeof(x->reason), "explain did not reach a decision");
    if (authn_peer_new(in->cert, &x->peer) != PC_OK)
        x->peer = NULL;
    rc = stage_tls(x);
    if (rc != PC_OK)
        return rc;
    stage_identity(x);
    h2o_mem_init_pool(&pool);
    path_ok = stage_request(x, &pool, &path);
    stage_cert_state(x);
    host_ok = stage_host(x, &host);
    if (path_ok && host_ok)
        stage_route(x, host, path);
    else
        add(x, "route.match", CM_XP_SKIP, "not evaluated: the %s was refused",
            path_ok ? "Host" : "path");
    h2o_mem_clear_pool(&pool);
    if (x->route == NULL)
        return PC_OK;
    stage_mtls(x);
    stage_jwt(x);
    stage_ratelimit(x);
    stage_upstream(x);
    return PC_OK;
}

void
cm_explain_clear(struct cm_explain *x)
{
    if (x == NULL)
        return;
    authn_peer_free(x->peer);
    x->peer = NULL;
}

/* --- output ------------------------------------------------------------------------------ */

void
cm_explain_print(FILE *f, const struct cm_explain *x)
{
    const struct cm_explain_in *in = &x->in;
    const struct authn_peer *p = x->peer;
    struct xp_list names;
    char e1[CM_ESC_MAX], e2[CM_ESC_MAX], e3[CM_ESC_MAX], a[CM_TIME_LEN + 1], b[CM_TIME_LEN + 1];
    char subj[256];
    size_t i;

    fprintf(f, "request:  %s %s %s (offline: no TLS session, no token fetch, nothing charged)\n",
            esc(e1, in->method), esc(e2, in->host), esc(e3, in->path));
    fprintf(f, "config:   %s, listener %s\n", esc(e1, in->cfg->path),
            esc(e2, in->listener->address));
    if (p != NULL) {
        memset(&names, 0, sizeof(names));
        names_text(&p->names, &names);
        fprintf(f, "cert:     %s, serial %s, %s .. %s\n", esc(e1, p->subject), p->serial_hex,
                when(p->not_before, a), when(p->not_after, b));
        fprintf(f, "identity: %s\n", esc(e1, p->identity));
        fprintf(f, "names:    %s\n", list_str(&names, "none"));
    } else {
        fprintf(f, "cert:     %s (names no identity)\n",
                x509_name(X509_get_subject_name(in->cert), subj, sizeof(subj)));
    }
    fprintf(f, "checks, in the gateway's order:\n");
    for (i = 0; i < x->nchecks; i++)
        fprintf(f, "  %-4s  %-15s %s\n", result_names[x->checks[i].result], x->checks[i].name,
                x->checks[i].text);
    if (x->decision != CM_XP_ALLOW && x->decided)
        fprintf(f,
                "stops at: %s (the gateway stops at the first failure; the rest is shown "
                "for information)\n",
                x->checks[x->decided_by].name);
    if (x->caveat[0] != '\0')
        fprintf(f, "caveat:   %s\n", x->caveat);
    if (x->decision == CM_XP_ALLOW)
        fprintf(f, "decision: allow (%s)\n", x->reason);
    else if (x->decision == CM_XP_DENY_TLS)
        fprintf(f, "decision: deny TLS %s: %s\n", x->slug, x->reason);
    else
        fprintf(f, "decision: deny %d %s: %s\n", x->status, x->slug, x->reason);
}

/* A JSON string of untrusted s: jansson refuses invalid UTF-8, so that is escaped. */
static json_t *
jstr(const char *s)
{
    char e[CM_ESC_MAX];
    json_t *v;

    if (s == NULL)
        return json_null();
    v = json_string(s);
    return v != NULL ? v : json_string(esc(e, s));
}

static json_t *
jlist(const char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(a, jstr(v[i]));
    return a;
}

static json_t *
json_cert(const struct authn_peer *p)
{
    char a[CM_TIME_LEN + 1], b[CM_TIME_LEN + 1];

    if (p == NULL)
        return json_null();
    return json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:{s:o, s:o, s:o, s:o}}", "identity",
                     jstr(p->identity), "subject", jstr(p->subject), "serial", p->serial_hex,
                     "not_before", when(p->not_before, a), "not_after", when(p->not_after, b),
                     "x5t#S256", p->x5t_s256, "names", "uri", jlist(p->names.uri, p->names.nuri),
                     "dns", jlist(p->names.dns, p->names.ndns), "email",
                     jlist(p->names.email, p->names.nemail), "cn", jstr(p->names.cn));
}

json_t *
cm_explain_json(const struct cm_explain *x)
{
    static const char *const results[] = {
        [CM_XP_OK] = "ok", [CM_XP_FAIL] = "fail", [CM_XP_SKIP] = "skip", [CM_XP_NOTE] = "note"};
    const struct cm_explain_in *in = &x->in;
    bool allow = x->decision == CM_XP_ALLOW;
    json_t *o, *checks = json_array();
    size_t i;

    for (i = 0; i < x->nchecks; i++)
        json_array_append_new(checks, json_pack("{s:s, s:s, s:o}", "check", x->checks[i].name,
                                                "result", results[x->checks[i].result], "detail",
                                                jstr(x->checks[i].text)));
    o = json_pack(
        "{s:s, s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:b, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:o}",
        "decision", allow ? "allow" : "deny", "status",
        x->decision == CM_XP_DENY_HTTP ? json_integer(x->status) : json_null(), "reason", x->slug,
        "detail", jstr(x->reason), "stage",
        !allow && x->decided ? json_string(x->checks[x->decided_by].name) : json_null(),
        "tls_handshake", x->decision == CM_XP_DENY_TLS ? "refused" : "ok", "route",
        x->route != NULL ? jstr(x->route->name) : json_null(), "upstream",
        x->route != NULL && allow ? jstr(x->route->upstream->url) : json_null(), "certain",
        x->caveat[0] == '\0', "caveat", x->caveat[0] != '\0' ? jstr(x->caveat) : json_null(),
        "request", "method", jstr(in->method), "host", jstr(in->host), "path", jstr(in->path),
        "sni_assumed", x->sni[0] != '\0' ? jstr(x->sni) : json_null(), "certificate",
        json_cert(x->peer), "checks", checks);
    return o;
}
