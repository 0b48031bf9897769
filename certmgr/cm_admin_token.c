/*
 * The token commands of portcullis-admin: token issue (a signed JWT access
 * token for tests and development), token inspect (decode and show, no
 * trust implied), token thumbprint (the RFC 7638 kid of a key) and jwks
 * (the JWKS document of public keys, for issuers.*.jwks_file).  Each is a
 * struct cm_cmd that cm_admin_main.c puts in its dispatch table.  As in
 * cm_admin.c: the command line is checked first (CM_EXIT_USAGE), then the
 * files (CM_EXIT_FAIL).  Nothing here touches the CA directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/pol.h"
#include "cm.h"

#define ALG_NAMES  "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"
#define ALGS_LEN   96 /* "RS256, RS384, ..., EdDSA" */
#define DUR_LEN    48 /* "12345d 23h", with room for any two int64 */
#define JSON_FLAGS (JSON_INDENT(2) | JSON_ENSURE_ASCII) /* untrusted text stays ASCII */

/* --- shared ----------------------------------------------------------------- */

/* The names of the algorithms in mask, ", "-separated (cut to fit len). */
static const char *
alg_names(unsigned mask, char *buf, size_t len)
{
    unsigned bit;
    size_t off = 0;

    for (bit = 1; bit != 0 && bit <= mask; bit <<= 1) {
        const char *name = pol_alg_name(bit);
        size_t n = strlen(name);
        if ((mask & bit) == 0)
            continue;
        if (off + 2 + n + 1 > len)
            break;
        if (off > 0) {
            memcpy(buf + off, ", ", 2);
            off += 2;
        }
        memcpy(buf + off, name, n);
        off += n;
    }
    buf[off] = '\0';
    return buf;
}

/* --alg ALG: 0 and the reason when it is not one we make. */
static unsigned
parse_alg(const char *s)
{
    char esc[CM_ESC_MAX];
    unsigned alg = pol_alg_from_name(s, strlen(s));

    if (alg == 0)
        cm_err_set("--alg %s: expected one of " ALG_NAMES " (HS* and none are never made)",
                   cm_esc(esc, s, strlen(s)));
    return alg;
}

/* The algorithm for key: `want` when it fits (0: the key's default). 0 with the reason. */
static unsigned
key_alg(EVP_PKEY *key, unsigned want, const char *path)
{
    char names[ALGS_LEN];
    unsigned mask = cm_jwk_key_algs(key);

    if (mask == 0) {
        cm_err_prefix("%s", path);
        return 0;
    }
    if (want == 0)
        return cm_jwk_default_alg(key);
    if ((mask & want) == 0) {
        cm_err_set("%s: --alg %s does not fit this key (it signs with %s)", path,
                   pol_alg_name(want), alg_names(mask, names, sizeof(names)));
        return 0;
    }
    return want;
}

/* Print v as indented JSON and a newline. */
static int
print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_FLAGS);

    if (text == NULL) {
        cm_err_set("internal: cannot encode JSON");
        return PC_ERR_INTERNAL;
    }
    printf("%s\n", text);
    free(text);
    return PC_OK;
}

/* --- token issue ---------------------------------------------------------------- */

enum {
    O_TI_KEY,
    O_TI_ISS,
    O_TI_AUD,
    O_TI_SUB,
    O_TI_SCOPE,
    O_TI_TTL,
    O_TI_KID,
    O_TI_BIND,
    O_TI_CLAIM,
    O_TI_NBF,
    O_TI_ALG,
    O_TI_NOW,
};

static const struct cm_opt issue_opts[] = {
    [O_TI_KEY] = {"--key", CM_OPT_VALUE, "KEY.pem", "the private signing key (PEM, mode 0600)"},
    [O_TI_ISS] = {"--iss", CM_OPT_VALUE, "URL", "issuer (iss), as in the gateway's issuers:"},
    [O_TI_AUD] = {"--aud", CM_OPT_MULTI, "AUD", "audience (aud); repeatable, then a list"},
    [O_TI_SUB] = {"--sub", CM_OPT_VALUE, "SUB", "subject (sub)"},
    [O_TI_SCOPE] = {"--scope", CM_OPT_VALUE, "\"A B\"", "scopes, separated by spaces (scope)"},
    [O_TI_TTL] = {"--ttl", CM_OPT_VALUE, "DURATION", "exp = now + DURATION (default 1h, max 30d)"},
    [O_TI_KID] = {"--kid", CM_OPT_VALUE, "ID", "key id (default: the RFC 7638 key thumbprint)"},
    [O_TI_BIND] = {"--bind-cert", CM_OPT_VALUE, "CERT.pem",
                   "bind to this client certificate (cnf x5t#S256)"},
    [O_TI_CLAIM] = {"--claim", CM_OPT_MULTI, "NAME=VALUE", "an extra string claim (repeatable)"},
    [O_TI_NBF] = {"--nbf-offset", CM_OPT_VALUE, "DURATION",
                  "nbf = now + DURATION, which may be negative (-1h)"},
    [O_TI_ALG] = {"--alg", CM_OPT_VALUE, "ALG", "for RSA keys: RS256 (default), RS384, RS512, PS*"},
    [O_TI_NOW] = {"--now", CM_OPT_VALUE, "TIME",
                  "issue as of TIME (ISO 8601 Z, now, +/-DURATION): tests"},
};

/* The command-line half of token issue: everything but the files. */
static enum cm_exit
issue_args(const struct cm_args *a, json_t **claims, unsigned *alg)
{
    struct cm_token_spec spec;
    const char *s;
    time_t now = time(NULL);
    int rc;

    memset(&spec, 0, sizeof(spec));
    *alg = 0;
    if (cm_args_get(a, O_TI_KEY) == NULL) {
        cm_err_set("--key is required");
        return CM_EXIT_USAGE;
    }
    spec.iss = cm_args_get(a, O_TI_ISS);
    spec.sub = cm_args_get(a, O_TI_SUB);
    spec.aud = a->val[O_TI_AUD];
    spec.naud = a->nval[O_TI_AUD];
    spec.scope = cm_args_get(a, O_TI_SCOPE);
    spec.claims = a->val[O_TI_CLAIM];
    spec.nclaims = a->nval[O_TI_CLAIM];
    spec.ttl = CM_TOKEN_TTL_DEFAULT;
    s = cm_args_get(a, O_TI_TTL);
    if (s != NULL && cm_token_parse_ttl(s, &spec.ttl) != PC_OK)
        return CM_EXIT_USAGE;
    s = cm_args_get(a, O_TI_NBF);
    if (s != NULL && cm_token_parse_offset(s, &spec.nbf_offset) != PC_OK)
        return CM_EXIT_USAGE;
    s = cm_args_get(a, O_TI_NOW);
    if (s != NULL && cm_time_parse_arg(s, now, &now) != PC_OK) {
        cm_err_set("--now: expected YYYY-MM-DDTHH:MM:SSZ, now, or +/-DURATION (-2h)");
        return CM_EXIT_USAGE;
    }
    spec.now = (int64_t)now;
    s = cm_args_get(a, O_TI_ALG);
    if (s != NULL) {
        *alg = parse_alg(s);
        if (*alg == 0)
            return CM_EXIT_USAGE;
    }
    s = cm_args_get(a, O_TI_KID);
    if (s != NULL && !cm_token_kid_is_valid(s))
        return CM_EXIT_USAGE;
    if (spec.iss == NULL || spec.sub == NULL || spec.naud == 0) {
        cm_err_set("--%s is required", spec.iss == NULL ? "iss" : spec.naud == 0 ? "aud" : "sub");
        return CM_EXIT_USAGE;
    }
    rc = cm_token_claims(&spec, claims);
    if (rc == PC_OK)
        return CM_EXIT_OK;
    return rc == PC_ERR_INVALID ? CM_EXIT_USAGE : CM_EXIT_FAIL;
}

/* cnf x5t#S256 of the certificate at path. */
static int
bind_cert(json_t *claims, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    X509 *x = NULL;
    char x5t[CM_JWK_THUMB_LEN + 1];
    int rc;

    rc = cm_file_read(path, PC_PEM_MAX_BYTES, &buf, &len);
    if (rc == PC_OK)
        rc = cm_cert_parse(buf, len, path, &x);
    if (rc == PC_OK)
        rc = cm_cert_x5t(x, x5t);
    if (rc == PC_OK)
        rc = cm_token_bind(claims, x5t);
    X509_free(x);
    free(buf);
    return rc;
}

static enum cm_exit
run_token_issue(const char *dir, const struct cm_args *a)
{
    const char *key_path = cm_args_get(a, O_TI_KEY), *cert = cm_args_get(a, O_TI_BIND);
    const char *kid = cm_args_get(a, O_TI_KID);
    char thumb[CM_JWK_THUMB_LEN + 1];
    json_t *claims = NULL;
    EVP_PKEY *key = NULL;
    char *tok = NULL;
    unsigned alg = 0;
    enum cm_exit ex;

    (void)dir;
    ex = issue_args(a, &claims, &alg);
    if (ex != CM_EXIT_OK)
        goto out;
    ex = CM_EXIT_FAIL;
    if (cm_key_load(key_path, &key) == PC_ERR_PARSE) {
        /* OpenSSL's reason alone ("unsupported") does not say what was expected */
        char why[CM_ERR_MAX];
        const char *old = cm_err_get() != NULL ? cm_err_get() : "";
        size_t pl = strlen(key_path);
        if (strncmp(old, key_path, pl) == 0 && strncmp(old + pl, ": ", 2) == 0)
            old += pl + 2; /* "KEY: unsupported" */
        snprintf(why, sizeof(why), "%s", old);
        cm_err_clear();
        cm_err_set("%s: not an unencrypted PEM private key (OpenSSL: %s)", key_path, why);
    }
    if (key == NULL)
        goto out;
    alg = key_alg(key, alg, key_path);
    if (alg == 0)
        goto out;
    if (cert != NULL && bind_cert(claims, cert) != PC_OK)
        goto out;
    if (kid == NULL) {
        if (cm_jwk_thumbprint(key, thumb) != PC_OK)
            goto out;
        kid = thumb;
    }
    if (cm_token_sign(key, alg, kid, claims, &tok) != PC_OK)
        goto out;
    printf("%s\n", tok); /* alone on stdout: TOKEN=$(portcullis-admin token issue ...) */
    ex = CM_EXIT_OK;
out:
    free(tok);
    json_decref(claims);
    EVP_PKEY_free(key);
    return ex;
}

const struct cm_cmd cm_cmd_token_issue = {
    .group = "token",
    .name = "issue",
    .synopsis = "--key KEY.pem --iss URL --aud AUD --sub SUB [--scope \"A B\"] [--ttl 1h] "
                "[--kid ID] [--bind-cert CERT.pem] [--claim NAME=VALUE]... "
                "[--nbf-offset DURATION] [--alg ALG] [--now TIME]",
    .summary = "sign a JWT access token (tests, development)",
    .help = "Prints the compact JWS alone on stdout.  Header: alg (from the key: RSA RS256,\n"
            "EC P-256/384/521 ES256/384/512, Ed25519 EdDSA; --alg picks RS384/512 or PS*\n"
            "for RSA), typ JWT, kid.  Claims: iss, sub, aud, iat, nbf, exp, jti (random),\n"
            "scope, cnf {x5t#S256} with --bind-cert, and each --claim as a string.  The\n"
            "token is verified with the key before it is printed.  The gateway needs the\n"
            "public key in its JWKS: see `portcullis-admin jwks`.",
    .opts = issue_opts,
    .nopts = sizeof(issue_opts) / sizeof(issue_opts[0]),
    .min_pos = 0,
    .max_pos = 0,
    .run = run_token_issue,
};

/* --- token inspect ---------------------------------------------------------------- */

/* The token from stdin, at most CM_TOKEN_MAX_BYTES plus surrounding white space. */
static int
read_stdin(char **out, size_t *len)
{
    size_t cap = CM_TOKEN_MAX_BYTES + 1024, n = 0, r;
    char *buf = pc_xmalloc(cap + 1);

    *out = NULL;
    while (n <= cap && (r = fread(buf + n, 1, cap + 1 - n, stdin)) > 0)
        n += r;
    if (ferror(stdin)) {
        cm_err_errno("reading standard input", errno);
        free(buf);
        return PC_ERR_IO;
    }
    if (n > cap) {
        cm_err_set("token: longer than %d bytes", CM_TOKEN_MAX_BYTES);
        free(buf);
        return PC_ERR_TOO_LARGE;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return PC_OK;
}

/* "59m 59s", "1d 2h", "0s": the two largest units (s >= 0). */
static const char *
fmt_dur(int64_t s, char out[DUR_LEN])
{
    static const struct {
        int64_t sec;
        char unit;
    } u[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    size_t i = 0;
    int64_t q, q2;

    while (i + 1 < sizeof(u) / sizeof(u[0]) && s < u[i].sec)
        i++;
    q = s / u[i].sec;
    q2 = i + 1 < sizeof(u) / sizeof(u[0]) ? (s % u[i].sec) / u[i + 1].sec : 0;
    if (q2 == 0) /* "1h", not "1h 0m" */
        snprintf(out, DUR_LEN, "%lld%c", (long long)q, u[i].unit);
    else
        snprintf(out, DUR_LEN, "%lld%c %lld%c", (long long)q, u[i].unit, (long long)q2,
                 u[i + 1].unit);
    return out;
}

/* One line for a NumericDate claim: "exp: 2025-01-01T00:00:00Z (valid for 59m)". */
static void
print_time(const json_t *claims, const char *name, time_t now)
{
    const json_t *v = json_object_get(claims, name);
    char when[CM_TIME_LEN + 1], d[DUR_LEN];
    double r;
    int64_t t, delta;

    if (v == NULL) {
        printf("%s: absent%s\n", name,
               strcmp(name, "exp") == 0 ? " (the gateway refuses a token without exp)" : "");
        return;
    }
    if (json_is_integer(v)) {
        t = json_integer_value(v);
    } else if (json_is_real(v)) {
        r = json_real_value(v);
        if (!(r >= (double)CM_TIME_MIN && r <= (double)CM_TIME_MAX)) {
            printf("%s: %g (out of range)\n", name, r);
            return;
        }
        t = (int64_t)r;
    } else {
        printf("%s: not a NumericDate (seconds since 1970)\n", name);
        return;
    }
    if (t < CM_TIME_MIN || t > CM_TIME_MAX) {
        printf("%s: %lld (out of range)\n", name, (long long)t);
        return;
    }
    cm_time_format((time_t)t, when);
    delta = t - (int64_t)now;
    if (strcmp(name, "exp") == 0)
        printf("exp: %s (%s%s%s)\n", when, delta > 0 ? "valid for " : "expired ",
               fmt_dur(delta > 0 ? delta : -delta, d), delta > 0 ? "" : " ago");
    else if (delta > 0)
        printf("%s: %s (%s%s)\n", name, when,
               strcmp(name, "nbf") == 0 ? "not yet valid, starts in " : "in the future by ",
               fmt_dur(delta, d));
    else
        printf("%s: %s (%s ago)\n", name, when, fmt_dur(-delta, d));
}

static enum cm_exit
run_token_inspect(const char *dir, const struct cm_args *a)
{
    char esc[CM_ESC_MAX];
    const char *arg = a->pos[0], *tok, *alg;
    char *buf = NULL;
    size_t len;
    struct cm_jws j;
    time_t now = time(NULL);
    enum cm_exit ex = CM_EXIT_FAIL;

    (void)dir;
    memset(&j, 0, sizeof(j));
    if (strcmp(arg, "-") == 0) {
        if (read_stdin(&buf, &len) != PC_OK)
            goto out;
        tok = buf;
    } else {
        tok = arg;
        len = strlen(arg);
    }
    /* a token pasted with a newline or spaces around it */
    while (len > 0 && (*tok == ' ' || *tok == '\t' || *tok == '\r' || *tok == '\n')) {
        tok++;
        len--;
    }
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t' || tok[len - 1] == '\r' ||
                       tok[len - 1] == '\n'))
        len--;
    if (cm_jws_decode(tok, len, &j) != PC_OK)
        goto out;
    alg = json_string_value(json_object_get(j.header, "alg"));
    printf("header:\n");
    if (print_json(j.header) != PC_OK)
        goto out;
    printf("claims:\n");
    if (print_json(j.claims) != PC_OK)
        goto out;
    if (j.siglen == 0)
        printf("alg: %s, no signature (unsigned: the gateway refuses it)\n",
               cm_esc(esc, alg, strlen(alg)));
    else
        printf("alg: %s, signature %zu bytes\n", cm_esc(esc, alg, strlen(alg)), j.siglen);
    print_time(j.claims, "iat", now);
    print_time(j.claims, "nbf", now);
    print_time(j.claims, "exp", now);
    printf("signature NOT verified: inspect implies no trust\n");
    ex = CM_EXIT_OK;
out:
    cm_jws_clear(&j);
    free(buf);
    return ex;
}

const struct cm_cmd cm_cmd_token_inspect = {
    .group = "token",
    .name = "inspect",
    .synopsis = "TOKEN|-",
    .summary = "decode a token and show its header and claims (no trust implied)",
    .help = "Decodes a compact JWS without verifying it (\"-\" reads it from stdin, which keeps\n"
            "it out of the process list) and prints the header and claims as JSON, then\n"
            "iat/nbf/exp as dates relative to now.  The signature is NOT verified: nothing\n"
            "shown is trusted.  Exit 1 with the reason when the token is malformed.",
    .opts = NULL,
    .nopts = 0,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_token_inspect,
};

/* --- token thumbprint -------------------------------------------------------------- */

static enum cm_exit
run_token_thumbprint(const char *dir, const struct cm_args *a)
{
    char thumb[CM_JWK_THUMB_LEN + 1];
    EVP_PKEY *key = NULL;
    enum cm_exit ex = CM_EXIT_FAIL;

    (void)dir;
    if (cm_pubkey_load(a->pos[0], &key) != PC_OK)
        goto out;
    if (cm_jwk_thumbprint(key, thumb) != PC_OK) {
        cm_err_prefix("%s", a->pos[0]);
        goto out;
    }
    printf("%s\n", thumb);
    ex = CM_EXIT_OK;
out:
    EVP_PKEY_free(key);
    return ex;
}

const struct cm_cmd cm_cmd_token_thumbprint = {
    .group = "token",
    .name = "thumbprint",
    .synopsis = "KEY.pem",
    .summary = "print the RFC 7638 JWK thumbprint of a key (the default kid)",
    .help = "KEY.pem is a public key, a private key or a certificate.",
    .opts = NULL,
    .nopts = 0,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_token_thumbprint,
};

/* --- jwks ---------------------------------------------------------------------------- */

enum { O_JW_KID, O_JW_ALG };

static const struct cm_opt jwks_opts[] = {
    [O_JW_KID] = {"--kid", CM_OPT_MULTI, "ID", "kid of each key, in order (default: thumbprint)"},
    [O_JW_ALG] = {"--alg", CM_OPT_MULTI, "ALG", "alg of each key in order, or one for all"},
};

/* Whether a JWK has a member that only a private key has (RFC 7518 6.2.2, 6.3.2, 6.4; 8037). */
static bool
has_private_member(const json_t *jwk)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    size_t i;

    for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        if (json_object_get(jwk, priv[i]) != NULL)
            return true;
    return false;
}

/* --kid and --alg: none, or one per key (--alg also once for all). */
static enum cm_exit
jwks_args(const struct cm_args *a, unsigned *algs)
{
    char esc[CM_ESC_MAX];
    size_t nkid = a->nval[O_JW_KID], nalg = a->nval[O_JW_ALG], i, j;

    if (nkid != 0 && nkid != a->npos) {
        cm_err_set("--kid given %zu times for %zu keys: once per key, in order, or not at all",
                   nkid, a->npos);
        return CM_EXIT_USAGE;
    }
    if (nalg > 1 && nalg != a->npos) {
        cm_err_set("--alg given %zu times for %zu keys: once for all, once per key, or not at all",
                   nalg, a->npos);
        return CM_EXIT_USAGE;
    }
    for (i = 0; i < nkid; i++) {
        const char *k = a->val[O_JW_KID][i];
        if (!cm_token_kid_is_valid(k))
            return CM_EXIT_USAGE;
        for (j = 0; j < i; j++) {
            if (strcmp(k, a->val[O_JW_KID][j]) == 0) {
                cm_err_set("--kid %s given twice: kids must be unique", cm_esc(esc, k, strlen(k)));
                return CM_EXIT_USAGE;
            }
        }
    }
    for (i = 0; i < a->npos; i++) {
        algs[i] = 0;
        if (nalg > 0) {
            algs[i] = parse_alg(a->val[O_JW_ALG][nalg == 1 ? 0 : i]);
            if (algs[i] == 0)
                return CM_EXIT_USAGE;
        }
    }
    return CM_EXIT_OK;
}

/* The JWK of the key file i, appended to keys. */
static int
jwks_add(json_t *keys, const struct cm_args *a, size_t i, unsigned want)
{
    const char *path = a->pos[i], *kid;
    char thumb[CM_JWK_THUMB_LEN + 1], esc[CM_ESC_MAX];
    EVP_PKEY *key = NULL;
    json_t *jwk = NULL;
    unsigned alg;
    size_t k;
    int rc;

    rc = cm_pubkey_load(path, &key);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_INVALID;
    alg = key_alg(key, want, path);
    if (alg == 0)
        goto out;
    rc = cm_jwk_public(key, &jwk);
    if (rc == PC_OK)
        rc = cm_jwk_thumbprint_json(jwk, thumb);
    if (rc != PC_OK) {
        cm_err_prefix("%s", path);
        goto out;
    }
    kid = a->nval[O_JW_KID] > 0 ? a->val[O_JW_KID][i] : thumb;
    for (k = 0; k < json_array_size(keys); k++) {
        if (strcmp(json_string_value(json_object_get(json_array_get(keys, k), "kid")), kid) == 0) {
            cm_err_set("%s: kid %s is already used (the same key twice?)", path,
                       cm_esc(esc, kid, strlen(kid)));
            rc = PC_ERR_EXISTS;
            goto out;
        }
    }
    rc = PC_ERR_INTERNAL;
    if (json_object_set_new(jwk, "use", json_string("sig")) != 0 ||
        json_object_set_new(jwk, "alg", json_string(pol_alg_name(alg))) != 0 ||
        json_object_set_new(jwk, "kid", json_string(kid)) != 0) {
        cm_err_set("internal: cannot build the JWK of %s", path);
        goto out;
    }
    if (has_private_member(jwk)) { /* cm_jwk_public() never writes one: a bug */
        cm_err_set("internal: private member in the JWK of %s; nothing written", path);
        goto out;
    }
    if (json_array_append(keys, jwk) != 0)
        goto out;
    rc = PC_OK;
out:
    json_decref(jwk);
    EVP_PKEY_free(key);
    return rc;
}

static enum cm_exit
run_jwks(const char *dir, const struct cm_args *a)
{
    unsigned algs[CM_JWKS_MAX_KEYS];
    json_t *doc = NULL, *keys = NULL;
    enum cm_exit ex;
    size_t i;

    (void)dir;
    ex = jwks_args(a, algs);
    if (ex != CM_EXIT_OK)
        return ex;
    ex = CM_EXIT_FAIL;
    keys = json_array();
    doc = json_object();
    if (keys == NULL || doc == NULL || json_object_set(doc, "keys", keys) != 0) {
        cm_err_set("internal: cannot build the JWKS");
        goto out;
    }
    for (i = 0; i < a->npos; i++)
        if (jwks_add(keys, a, i, algs[i]) != PC_OK)
            goto out;
    if (print_json(doc) != PC_OK)
        goto out;
    ex = CM_EXIT_OK;
out:
    json_decref(keys);
    json_decref(doc);
    return ex;
}

const struct cm_cmd cm_cmd_jwks = {
    .group = NULL,
    .name = "jwks",
    .synopsis = "[--kid ID]... [--alg ALG]... KEY.pem...",
    .summary = "print the JWKS (RFC 7517) of public keys, for issuers.*.jwks_file",
    .help = "Each KEY.pem is a public key, a private key or a certificate; only public members\n"
            "are written (kty, crv, x, y or n, e), with use \"sig\", alg (RS256 for RSA unless\n"
            "--alg; the curve's ES*; EdDSA) and kid (--kid in order, else the RFC 7638\n"
            "thumbprint, which token issue uses by default).",
    .opts = jwks_opts,
    .nopts = sizeof(jwks_opts) / sizeof(jwks_opts[0]),
    .min_pos = 1,
    .max_pos = CM_JWKS_MAX_KEYS,
    .run = run_jwks,
};
