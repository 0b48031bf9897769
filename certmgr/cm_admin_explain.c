/*
 * portcullis-admin policy explain: the command.  Reads what the gateway
 * reads at start -- the configuration, the first TLS listener's client_ca
 * and crl, every jwks_file -- and refuses what the gateway would refuse to
 * start with (exit 1 with the reason), then the client certificate and the
 * token, and hands them to cm_explain_eval() (cm_explain.c).  Exit 0 when
 * the gateway would allow the request, 1 when it would deny it (the one
 * line on stderr names the status and reason; the explanation is on
 * stdout), 2 for bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "authn/authn.h"
#include "authn/authn_jwt.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "policy/pol.h"
#include "cm.h"

#define CM_DEFAULT_GW_CONFIG "/etc/portcullis/portcullis.yaml"
#define XP_METHOD_MAX        32   /* bytes of --method */
#define XP_TOKEN_SLACK       1024 /* white space around a token read from stdin */

static const char *
esc(char buf[CM_ESC_MAX], const char *s)
{
    return cm_esc(buf, s, strlen(s));
}

/* --- the command ------------------------------------------------------------------------- */

enum { O_XP_CFG, O_XP_CERT, O_XP_TOKEN, O_XP_HOST, O_XP_PATH, O_XP_METHOD, O_XP_JSON };

static const struct cm_opt explain_opts[] = {
    [O_XP_CFG] = {"-c", CM_OPT_VALUE, "FILE",
                  "the gateway configuration (default " CM_DEFAULT_GW_CONFIG ")"},
    [O_XP_CERT] = {"--cert", CM_OPT_VALUE, "CERT.pem",
                   "the client certificate (PEM; intermediates may follow it)"},
    [O_XP_TOKEN] = {"--token", CM_OPT_VALUE, "TOKEN|-",
                    "the bearer token (\"-\": read from stdin, out of the process list)"},
    [O_XP_HOST] = {"--host", CM_OPT_VALUE, "HOST", "the Host (also taken as the TLS server name)"},
    [O_XP_PATH] = {"--path", CM_OPT_VALUE, "PATH", "the request target: path and query"},
    [O_XP_METHOD] = {"--method", CM_OPT_VALUE, "METHOD", "the request method (default GET)"},
    [O_XP_JSON] = {"--json", CM_OPT_FLAG, NULL, "print one JSON object instead of lines"},
};

/* RFC 9110 5.6.2 token: what a method may be. */
static bool
is_token(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > XP_METHOD_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (strchr("!#$%&'*+-.^_`|~", s[i]) == NULL && !(s[i] >= '0' && s[i] <= '9') &&
            !(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= 'a' && s[i] <= 'z'))
            return false;
    return true;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The token from stdin, white space around it removed (*out: free with pc_free_secret). */
static int
read_token_stdin(char **out, size_t *cap_out)
{
    size_t cap = CM_TOKEN_MAX_BYTES + XP_TOKEN_SLACK, n = 0, r, start = 0;
    char *buf = pc_xmalloc(cap + 1);
    int rc = PC_ERR_IO;

    *out = NULL;
    *cap_out = cap + 1;
    while (n <= cap && (r = fread(buf + n, 1, cap + 1 - n, stdin)) > 0)
        n += r;
    if (ferror(stdin)) {
        cm_err_errno("reading the token from standard input", errno);
        goto out;
    }
    rc = PC_ERR_TOO_LARGE;
    if (n > cap) {
        cm_err_set("token: longer than %d bytes", CM_TOKEN_MAX_BYTES);
        goto out;
    }
    rc = PC_ERR_PARSE;
    if (memchr(buf, '\0', n) != NULL) {
        cm_err_set("token: contains a NUL byte");
        goto out;
    }
    while (n > 0 && is_space(buf[n - 1]))
        n--;
    while (start < n && is_space(buf[start]))
        start++;
    memmove(buf, buf + start, n - start);
    buf[n - start] = '\0';
    *out = buf;
    buf = NULL;
    rc = PC_OK;
out:
    if (buf != NULL)
        pc_free_secret(buf, cap + 1);
    return rc;
}

/* Every PEM certificate of `path`: the first in *leaf, the others in *rest. */
static int
read_certs(const char *path, const char *what, X509 **leaf, STACK_OF(X509) * *rest)
{
    char *buf = NULL, e[CM_ESC_MAX];
    size_t len = 0;
    BIO *bio = NULL;
    X509 *c = NULL;
    int rc;

    *leaf = NULL;
    *rest = sk_X509_new_null();
    rc = cm_file_read(path, PC_PEM_MAX_BYTES, &buf, &len);
    if (rc != PC_OK) {
        cm_err_prefix("%s", what);
        goto out;
    }
    rc = PC_ERR_CRYPTO;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL || *rest == NULL)
        goto out;
    while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (*leaf == NULL) {
            *leaf = c;
        } else if (sk_X509_push(*rest, c) == 0) {
            X509_free(c);
            goto out;
        }
    }
    ERR_clear_error(); /* the reader ends with "no start line" */
    if (*leaf == NULL) {
        cm_err_set("%s %s: no PEM certificate", what, esc(e, path));
        rc = PC_ERR_PARSE;
        goto out;
    }
    rc = PC_OK;
out:
    BIO_free(bio);
    if (buf != NULL)
        pc_free_secret(buf, len); /* a PEM file may hold the key next to the certificate */
    return rc;
}

/* The listener's client_ca, refused as the gateway refuses it (not a CA). */
static int
read_client_ca(const struct pol_listener *l, STACK_OF(X509) * *cas)
{
    X509 *first = NULL, *ca;
    char subj[256] = "?", e[CM_ESC_MAX];
    int i, rc;

    rc = read_certs(l->client_ca, "client_ca", &first, cas);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_INTERNAL;
    if (sk_X509_unshift(*cas, first) == 0) {
        cm_err_set("internal: out of memory");
        goto out;
    }
    first = NULL; /* owned by *cas */
    rc = PC_ERR_INVALID;
    for (i = 0; i < sk_X509_num(*cas); i++) {
        ca = sk_X509_value(*cas, i);
        if (X509_check_ca(ca) == 0) {
            X509_NAME_oneline(X509_get_subject_name(ca), subj, (int)sizeof(subj));
            cm_err_set("%s:%u:%u: client_ca %s: \"%s\" is not a CA certificate", l->pos.file,
                       l->pos.line, l->pos.col, esc(e, l->client_ca), subj);
            goto out;
        }
    }
    rc = PC_OK;
out:
    X509_free(first);
    return rc;
}

/* The listener's CRL as the gateway loads it at start: refused means it would not start. */
static int
read_crl(const struct pol_listener *l, STACK_OF(X509) * cas, struct authn_crlset **out)
{
    char missing[512], e[CM_ESC_MAX];
    int rc;

    *out = NULL;
    if (l->crl == NULL)
        return PC_OK;
    /* authn_crlset_load logs the precise reason: "portcullis-admin: FILE: why" */
    pc_log_set_plain(1);
    pc_log_set_level(LOG_ERR);
    rc = authn_crlset_load(l->crl, cas, out);
    pc_log_set_level(LOG_CRIT);
    if (rc != PC_OK) {
        cm_err_set("%s:%u:%u: crl %s refused (the reason is above)", l->pos.file, l->pos.line,
                   l->pos.col, esc(e, l->crl));
        return rc;
    }
    if (authn_crlset_uncovered(*out, cas, missing, sizeof(missing)) != 0) {
        cm_err_set("%s:%u:%u: crl %s has no CRL for client CA %s", l->pos.file, l->pos.line,
                   l->pos.col, esc(e, l->crl), missing);
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

/* Every jwks_file key set, as the gateway loads them at start (gw_check.c does the same). */
static int
read_keys(const struct pol_config *cfg, struct authn_keyset **keys)
{
    const struct pol_issuer *is;
    char *buf = NULL, err[256], e[CM_ESC_MAX];
    size_t i, len = 0, skipped = 0;
    int rc;

    for (i = 0; i < cfg->nissuers; i++) {
        is = &cfg->issuers[i];
        if (is->jwks_file == NULL)
            continue;
        err[0] = '\0';
        rc = cm_file_read(is->jwks_file, AUTHN_JWKS_MAX_BYTES, &buf, &len);
        if (rc != PC_OK) {
            cm_err_prefix("%s:%u:%u: issuers.%s.jwks_file", is->pos.file, is->pos.line, is->pos.col,
                          is->name);
            return rc;
        }
        rc = authn_keyset_parse(buf, len, is->algorithms, &keys[is->index], &skipped, err,
                                sizeof(err));
        free(buf);
        buf = NULL;
        if (rc != PC_OK) {
            cm_err_set("%s:%u:%u: issuers.%s.jwks_file %s: %s", is->pos.file, is->pos.line,
                       is->pos.col, is->name, esc(e, is->jwks_file),
                       err[0] != '\0' ? err : "no usable key");
            return rc;
        }
    }
    return PC_OK;
}

static int
load_config(const char *path, struct pol_config **cfg)
{
    struct pol_errors errs = {0};
    char e[CM_ESC_MAX];
    size_t i;

    if (pol_config_load(path, cfg, &errs) == PC_OK)
        return PC_OK;
    for (i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msg[i]);
    if (errs.dropped != 0)
        fprintf(stderr, "... and %zu more error(s)\n", errs.dropped);
    pol_errors_clear(&errs);
    cm_err_set("%s: configuration refused (the reasons are above)", esc(e, path));
    return PC_ERR_INVALID;
}

static const struct pol_listener *
tls_listener(const struct pol_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nlisteners; i++)
        if (!cfg->listeners[i].plain)
            return &cfg->listeners[i];
    return NULL;
}

/* The security level libssl gives a server context here (openssl.cnf included). */
static int
server_auth_level(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    int level = c != NULL ? SSL_CTX_get_security_level(c) : 2;

    SSL_CTX_free(c);
    ERR_clear_error();
    return level;
}

static enum cm_exit
report(const struct cm_explain *x, bool as_json)
{
    json_t *j;
    char *text;

    if (as_json) {
        j = cm_explain_json(x);
        text = j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
        json_decref(j);
        if (text == NULL) {
            cm_err_set("internal: cannot encode JSON");
            return CM_EXIT_FAIL;
        }
        printf("%s\n", text);
        free(text);
    } else {
        cm_explain_print(stdout, x);
    }
    if (x->decision == CM_XP_ALLOW)
        return CM_EXIT_OK;
    if (x->decision == CM_XP_DENY_TLS)
        cm_err_set("denied: TLS handshake refused (%s)", x->slug);
    else
        cm_err_set("denied: %d %s", x->status, x->slug);
    return CM_EXIT_FAIL;
}

static enum cm_exit
run_policy_explain(const char *dir, const struct cm_args *a)
{
    const char *cfg_path = cm_args_get(a, O_XP_CFG), *token = cm_args_get(a, O_XP_TOKEN);
    struct cm_explain_in in;
    struct cm_explain *x = NULL;
    struct pol_config *cfg = NULL;
    struct authn_keyset **keys = NULL;
    struct authn_crlset *crl = NULL;
    STACK_OF(X509) *cas = NULL, *chain = NULL;
    X509 *cert = NULL;
    char *tokbuf = NULL;
    size_t tokcap = 0, i;
    enum cm_exit ex = CM_EXIT_FAIL;

    (void)dir;
    memset(&in, 0, sizeof(in));
    in.method = cm_args_get(a, O_XP_METHOD) != NULL ? cm_args_get(a, O_XP_METHOD) : "GET";
    in.host = cm_args_get(a, O_XP_HOST);
    in.path = cm_args_get(a, O_XP_PATH);
    if (cm_args_get(a, O_XP_CERT) == NULL || in.host == NULL || in.path == NULL) {
        cm_err_set("--cert, --host and --path are required");
        return CM_EXIT_USAGE;
    }
    if (!is_token(in.method)) {
        cm_err_set("--method: an HTTP method token of 1 to %d characters", XP_METHOD_MAX);
        return CM_EXIT_USAGE;
    }
    if (load_config(cfg_path != NULL ? cfg_path : CM_DEFAULT_GW_CONFIG, &cfg) != PC_OK)
        goto out;
    in.cfg = cfg;
    in.listener = tls_listener(cfg);
    if (in.listener == NULL) {
        cm_err_set("%s: no TLS listener: every listener is plain", cfg->path);
        goto out;
    }
    keys = pc_xcalloc(cfg->nissuers + 1, sizeof(*keys));
    if (read_client_ca(in.listener, &cas) != PC_OK || read_crl(in.listener, cas, &crl) != PC_OK ||
        read_keys(cfg, keys) != PC_OK ||
        read_certs(cm_args_get(a, O_XP_CERT), "--cert", &cert, &chain) != PC_OK)
        goto out;
    if (token != NULL && strcmp(token, "-") == 0) {
        if (read_token_stdin(&tokbuf, &tokcap) != PC_OK)
            goto out;
        token = tokbuf;
    }
    in.cert = cert;
    in.chain = chain;
    in.cas = cas;
    in.crl = crl;
    in.keys = (const struct authn_keyset *const *)keys;
    in.token = token;
    in.now = (int64_t)time(NULL);
    in.auth_level = server_auth_level();
    x = pc_xcalloc(1, sizeof(*x));
    if (cm_explain_eval(&in, x) != PC_OK)
        goto out;
    ex = report(x, cm_args_get(a, O_XP_JSON) != NULL);
out:
    cm_explain_clear(x);
    free(x);
    if (tokbuf != NULL)
        pc_free_secret(tokbuf, tokcap);
    for (i = 0; keys != NULL && i < cfg->nissuers; i++)
        authn_keyset_free(keys[i]);
    free(keys);
    authn_crlset_free(crl);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(cas, X509_free);
    pol_config_free(cfg);
    return ex;
}

const struct cm_cmd cm_cmd_policy_explain = {
    .group = "policy",
    .name = "explain",
    .synopsis = "[-c FILE] --cert CERT.pem [--token TOKEN|-] --host H --path P [--method M] "
                "[--json]",
    .summary = "what the gateway would decide for a request, and why (offline)",
    .help = "Runs the gateway's checks for one request without sending it: the client\n"
            "certificate against the first TLS listener's client_ca and crl (as the TLS\n"
            "handshake would), the request path, the certificate state, the Host, the\n"
            "route, mtls.allow, the token, then describes the rate limit and names the\n"
            "upstream.  One line per check, then \"decision: allow (route R → UPSTREAM)\"\n"
            "or \"decision: deny STATUS REASON: why\".  Offline: the TLS server name is\n"
            "assumed to be the Host, a jwks_uri issuer's signature is not checked (its\n"
            "claims are, marked untrusted), and nothing is charged to the rate limit.\n"
            "Exit 0 allow, 1 deny (or an unusable configuration or input), 2 bad usage.",
    .opts = explain_opts,
    .nopts = sizeof(explain_opts) / sizeof(explain_opts[0]),
    .min_pos = 0,
    .max_pos = 0,
    .run = run_policy_explain,
};
