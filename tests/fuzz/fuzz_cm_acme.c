/*
 * libFuzzer target for the readers of what an ACME server sends
 * (certmgr/cm_acme_json.c): the first byte picks the reader (directory,
 * order, authorization, problem, renewalInfo; every reader when it is
 * anything else), the rest is the body.  The contract is checked on the
 * result: success means every member certmgr uses is there, within its
 * cap, of the right form (https:// URLs, base64url tokens, identifiers a
 * hook and a file name can carry); failure means a reason and nothing kept.
 * The Retry-After and RFC 3339 parsers get the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certmgr/cm_acme.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
url(const char *u, bool required)
{
    if (u == NULL ? required : !cm_acme_url_ok(u, strlen(u)))
        abort();
}

static void
ident(const char *s, bool wild)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > CM_ACME_IDENT_MAX + 2 || (!wild && s[0] == '*'))
        abort();
    for (i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ' ' || s[i] == '\0' || (unsigned char)s[i] < 0x20 ||
            (s[i] == '*' && !(wild && i == 0)))
            abort();
}

static void
directory(const char *b, size_t n)
{
    struct cm_acme_dir d;
    char err[256] = "";

    if (cm_acme_dir_parse(b, n, &d, err, sizeof(err)) == PC_OK) {
        url(d.new_nonce, true);
        url(d.new_account, true);
        url(d.new_order, true);
        url(d.renewal_info, false);
        url(d.revoke_cert, false);
        url(d.key_change, false);
    } else if (err[0] == '\0' || d.new_nonce != NULL || d.new_order != NULL) {
        abort();
    }
    cm_acme_dir_clear(&d);
}

static void
order(const char *b, size_t n)
{
    struct cm_acme_order o;
    char err[256] = "";
    size_t i;

    if (cm_acme_order_parse(b, n, &o, err, sizeof(err)) == PC_OK) {
        if (o.status > CM_ST_INVALID || o.status == CM_ST_DEACTIVATED || o.nidents == 0 ||
            o.nidents > CM_ACME_MAX_AUTHZ || o.nauthz > CM_ACME_MAX_AUTHZ ||
            (o.status == CM_ST_VALID && o.certificate == NULL) || o.has_error != (o.error != NULL))
            abort();
        url(o.finalize, true);
        url(o.certificate, false);
        for (i = 0; i < o.nauthz; i++)
            url(o.authz[i], true);
        for (i = 0; i < o.nidents; i++)
            ident(o.idents[i], true);
    } else if (err[0] == '\0' || o.finalize != NULL || o.authz != NULL) {
        abort();
    }
    cm_acme_order_clear(&o);
}

static void
authz(const char *b, size_t n)
{
    struct cm_acme_authz a;
    char err[256] = "";
    size_t i, j;

    if (cm_acme_authz_parse(b, n, &a, err, sizeof(err)) == PC_OK) {
        if (a.status == CM_ST_READY || a.status == CM_ST_PROCESSING ||
            a.nch > CM_ACME_MAX_CHALLENGES)
            abort();
        ident(a.ident, false);
        for (i = 0; i < a.nch; i++) {
            const struct cm_acme_chall *c = &a.ch[i];
            url(c->url, true);
            if (c->type == NULL || c->status > CM_ST_INVALID || c->status == CM_ST_READY)
                abort();
            if ((strcmp(c->type, "dns-01") == 0 || strcmp(c->type, "http-01") == 0) &&
                c->token == NULL)
                abort();
            for (j = 0; c->token != NULL && c->token[j] != '\0'; j++)
                if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                           c->token[j]) == NULL ||
                    j >= CM_ACME_TOKEN_MAX)
                    abort();
        }
    } else if (err[0] == '\0' || a.ident != NULL || a.ch != NULL) {
        abort();
    }
    cm_acme_authz_clear(&a);
}

static void
problem(const char *b, size_t n)
{
    struct cm_acme_problem p;

    if (cm_acme_problem_parse(b, n, &p) == PC_OK) {
        if (strlen(p.type) > CM_ACME_PROBLEM_TYPE_MAX ||
            strlen(p.detail) > CM_ACME_PROBLEM_DETAIL_MAX || p.nsub > CM_ACME_MAX_SUBPROBLEMS ||
            (p.status != 0 && (p.status < 100 || p.status > 599)))
            abort();
        cm_acme_problem_log(7 /* LOG_DEBUG: built, not printed */, "fuzz", &p);
    }
}

static void
ari(const char *b, size_t n)
{
    struct cm_acme_ari a;
    char err[256] = "";
    int64_t t;

    if (cm_acme_ari_parse(b, n, &a, err, sizeof(err)) == PC_OK) {
        if (a.end <= a.start)
            abort();
        t = cm_ari_pick(&a, a.start, (uint64_t)n * 2654435761u);
        if (t < a.start || t >= a.end)
            abort();
    } else if (err[0] == '\0' || a.explanation != NULL) {
        abort();
    }
    cm_acme_ari_clear(&a);
    if (cm_acme_time_parse(b, n, &t) == PC_OK && t < 0)
        abort();
    t = cm_http_retry_after(b, n, 1700000000);
    if (t < -1 || t > CM_ACME_RETRY_AFTER_MAX_S)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *b = (const char *)data + 1;
    size_t n = size > 0 ? size - 1 : 0;

    if (size == 0)
        return 0;
    switch (data[0]) {
    case 'd':
        directory(b, n);
        break;
    case 'o':
        order(b, n);
        break;
    case 'a':
        authz(b, n);
        break;
    case 'p':
        problem(b, n);
        break;
    case 'r':
        ari(b, n);
        break;
    default:
        directory(b, n);
        order(b, n);
        authz(b, n);
        problem(b, n);
        ari(b, n);
        break;
    }
    return 0;
}
