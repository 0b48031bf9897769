/*
 * Denials as application/problem+json (RFC 9457) with a stable "type", and
 * the table of reasons every part of the gateway (logs, metrics) shares.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "common/pc_str.h"
#include "gateway/gw.h"

#define GW_PROBLEM_BASE "https://portcullis.dev/problems/"
#define GW_PROBLEM_MAX  1024 /* bytes of one problem document */

static const struct {
    const char *slug;
    int status;
    const char *title;
    bool deny;
} reasons[GW_R_MAX] = {
    [GW_R_OK] = {"ok", 200, "OK", false},
    [GW_R_NO_ROUTE] = {"not-found", 404, "Not Found", true},
    [GW_R_MISDIRECTED] = {"misdirected-request", 421, "Misdirected Request", true},
    [GW_R_BAD_REQUEST] = {"bad-request", 400, "Bad Request", true},
    [GW_R_HEADERS_TOO_LARGE] = {"headers-too-large", 431, "Request Header Fields Too Large", true},
    [GW_R_URI_TOO_LONG] = {"uri-too-long", 414, "URI Too Long", true},
    [GW_R_METHOD] = {"method-not-allowed", 405, "Method Not Allowed", true},
    [GW_R_NO_CERT] = {"no-client-certificate", 403, "Forbidden", true},
    [GW_R_CERT_EXPIRED] = {"cert-expired", 403, "Forbidden", true},
    [GW_R_CERT_NOT_YET_VALID] = {"cert-not-yet-valid", 403, "Forbidden", true},
    [GW_R_CERT_REVOKED] = {"cert-revoked", 403, "Forbidden", true},
    [GW_R_CRL_STALE] = {"crl-unavailable", 403, "Forbidden", true},
    [GW_R_CERT_NOT_ALLOWED] = {"cert-not-allowed", 403, "Forbidden", true},
    [GW_R_TOKEN_INVALID] = {"invalid-token", 401, "Unauthorized", true},
    [GW_R_SCOPE] = {"insufficient-scope", 403, "Forbidden", true},
    [GW_R_RATE_LIMITED] = {"rate-limited", 429, "Too Many Requests", true},
    [GW_R_RL_UNAVAILABLE] = {"rate-limit-unavailable", 503, "Service Unavailable", true},
    [GW_R_UPSTREAM_ERROR] = {"upstream-unavailable", 502, "Bad Gateway", false},
    [GW_R_UPSTREAM_TIMEOUT] = {"upstream-timeout", 504, "Gateway Timeout", false},
    [GW_R_REDIRECT] = {"redirect", 301, "Moved Permanently", false},
    [GW_R_ACME] = {"acme-challenge", 200, "OK", false},
    [GW_R_INTERNAL] = {"internal-error", 500, "Internal Server Error", true},
    [GW_R_CLIENT_GONE] = {"client-gone", 0, "Client Closed Request", false},
};

const char *
gw_reason_slug(enum gw_reason r)
{
    return r < GW_R_MAX ? reasons[r].slug : "unknown";
}

int
gw_reason_status(enum gw_reason r)
{
    return r < GW_R_MAX ? reasons[r].status : 500;
}

bool
gw_reason_is_deny(enum gw_reason r)
{
    return r >= GW_R_MAX || reasons[r].deny;
}

const char *
gw_hs_fail_name(enum gw_hs_fail f)
{
    static const char *const names[GW_HS_MAX] = {
        [GW_HS_NO_CERT] = "no_certificate", [GW_HS_UNKNOWN_CA] = "unknown_ca",
        [GW_HS_EXPIRED] = "expired",        [GW_HS_NOT_YET_VALID] = "not_yet_valid",
        [GW_HS_REVOKED] = "revoked",        [GW_HS_BAD_PURPOSE] = "bad_purpose",
        [GW_HS_CRL] = "crl_unavailable",    [GW_HS_OTHER_VERIFY] = "verify_failed",
        [GW_HS_PROTOCOL] = "protocol",
    };
    return f < GW_HS_MAX ? names[f] : "unknown";
}

enum gw_hs_fail
gw_hs_fail_of_verify(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return GW_HS_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return GW_HS_NOT_YET_VALID;
    case X509_V_ERR_CERT_REVOKED:
        return GW_HS_REVOKED;
    case X509_V_ERR_INVALID_PURPOSE:
        return GW_HS_BAD_PURPOSE;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return GW_HS_UNKNOWN_CA;
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        return GW_HS_CRL;
    default:
        return GW_HS_OTHER_VERIFY;
    }
}

h2o_iovec_t
gw_problem_body(h2o_mem_pool_t *pool, enum gw_reason reason, const char *detail,
                const char *request_id)
{
    char *buf = h2o_mem_alloc_pool(pool, GW_PROBLEM_MAX);
    size_t off;
    int n;

    if (reason == GW_R_NO_ROUTE) {
        /* no route: say nothing about what exists */
        n = snprintf(buf, GW_PROBLEM_MAX,
                     "{\"type\":\"about:blank\",\"title\":\"Not Found\","
                     "\"status\":404}\n");
        return h2o_iovec_init(buf, (size_t)n);
    }
    if (reason >= GW_R_MAX)
        reason = GW_R_INTERNAL;
    n = snprintf(buf, GW_PROBLEM_MAX,
                 "{\"type\":\"" GW_PROBLEM_BASE "%s\",\"title\":\"%s\",\"status\":%d",
                 gw_reason_slug(reason), reasons[reason].title, gw_reason_status(reason));
    off = (size_t)n;
    if (detail != NULL && off + 16 < GW_PROBLEM_MAX) {
        size_t end;
        memcpy(buf + off, ",\"detail\":\"", 11);
        end = pc_json_escape(buf, off + 11, GW_PROBLEM_MAX - 80, detail, strlen(detail));
        if (end != SIZE_MAX) {
            off = end;
            buf[off++] = '"';
        }
    }
    if (request_id != NULL)
        off +=
            (size_t)snprintf(buf + off, GW_PROBLEM_MAX - off, ",\"request_id\":\"%s\"", request_id);
    off += (size_t)snprintf(buf + off, GW_PROBLEM_MAX - off, "}\n");
    return h2o_iovec_init(buf, off);
}

int
gw_problem_send(struct gw_req *r, const char *detail)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t body = gw_problem_body(&req->pool, r->reason, detail, r->request_id);

    r->detail = detail;
    req->res.status = gw_reason_status(r->reason);
    req->res.reason = reasons[r->reason < GW_R_MAX ? r->reason : GW_R_INTERNAL].title;
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body.base, body.len);
    return 0;
}
