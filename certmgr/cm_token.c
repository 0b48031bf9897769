/*
 * Signed tokens for portcullis-admin: the claims of `token issue`, signing
 * (libjwt for RS* and ES*, OpenSSL EVP for PS* and EdDSA, which libjwt
 * 1.10.2 lacks), the self-check of every token made, and the strict
 * decoder of `token inspect`.  See cm.h and docs/internals/TOKEN.md.
 *
 * Nothing here is a gate: the gateway verifies tokens with its own code
 * (authn/).  cm_jws_verify() exists to check our own output.  libjwt's
 * jwt_decode() is never used: with a NULL key it "succeeds" on any token,
 * and it refuses typ other than "JWT" and the algorithms it does not know
 * (notes/debian-libs.md Q5), so inspect decodes by itself.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "authn/authn_jwt.h"
#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/pol.h"
#include "cm.h"

/* tokens we make must fit what the gateway reads */
_Static_assert(CM_TOKEN_MAX_SCOPES <= AUTHN_JWT_MAX_SCOPES, "scopes the gateway reads");
_Static_assert(CM_TOKEN_MAX_AUD <= AUTHN_JWT_MAX_AUD, "audiences the gateway reads");
_Static_assert(CM_TOKEN_KID_MAX <= AUTHN_JWT_MAX_KID, "kid bytes the gateway reads");
_Static_assert(CM_TOKEN_STR_MAX <= AUTHN_JWT_MAX_CLAIM, "claim bytes the gateway copies");

enum alg_kind {
    KIND_RS, /* RSASSA-PKCS1-v1_5: libjwt */
    KIND_ES, /* ECDSA, raw r||s: libjwt */
    KIND_PS, /* RSASSA-PSS, salt = hash length (RFC 7518 3.5): EVP */
    KIND_ED, /* Ed25519 (RFC 8037): EVP */
};

static const struct alg_info {
    unsigned alg; /* enum pol_alg */
    const char *name;
    enum alg_kind kind;
    jwt_alg_t jwt;             /* JWT_ALG_NONE where libjwt is not used */
    const EVP_MD *(*md)(void); /* NULL for EdDSA */
    size_t es_bytes;           /* ES*: bytes of r and of s */
} algs[] = {
    {POL_ALG_RS256, "RS256", KIND_RS, JWT_ALG_RS256, EVP_sha256, 0},
    {POL_ALG_RS384, "RS384", KIND_RS, JWT_ALG_RS384, EVP_sha384, 0},
    {POL_ALG_RS512, "RS512", KIND_RS, JWT_ALG_RS512, EVP_sha512, 0},
    {POL_ALG_PS256, "PS256", KIND_PS, JWT_ALG_NONE, EVP_sha256, 0},
    {POL_ALG_PS384, "PS384", KIND_PS, JWT_ALG_NONE, EVP_sha384, 0},
    {POL_ALG_PS512, "PS512", KIND_PS, JWT_ALG_NONE, EVP_sha512, 0},
    {POL_ALG_ES256, "ES256", KIND_ES, JWT_ALG_ES256, EVP_sha256, 32},
    {POL_ALG_ES384, "ES384", KIND_ES, JWT_ALG_ES384, EVP_sha384, 48},
    {POL_ALG_ES512, "ES512", KIND_ES, JWT_ALG_ES512, EVP_sha512, 66},
    {POL_ALG_EDDSA, "EdDSA", KIND_ED, JWT_ALG_NONE, NULL, 0},
};

static const struct alg_info *
alg_info(unsigned alg)
{
    size_t i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (algs[i].alg == alg)
            return &algs[i];
    return NULL;
}

/* --- command-line values ----------------------------------------------------- */

/* A duration in whole seconds; *neg tells a leading '-' (only when signed). */
static int
parse_seconds(const char *s, bool is_signed, bool *neg, int64_t *out)
{
    size_t len = strlen(s);
    uint64_t ms;

    *neg = false;
    if (is_signed && len > 0 && (s[0] == '+' || s[0] == '-')) {
        *neg = s[0] == '-';
        s++;
        len--;
    }
    if (pc_parse_duration_ms(s, len, &ms) != PC_OK || ms % 1000 != 0 ||
        ms / 1000 > CM_TOKEN_TTL_MAX)
        return PC_ERR_INVALID;
    *out = (int64_t)(ms / 1000);
    return PC_OK;
}

int
cm_token_parse_ttl(const char *s, int64_t *out)
{
    bool neg;
    int64_t v;

    if (parse_seconds(s, false, &neg, &v) != PC_OK || v == 0) {
        cm_err_set("--ttl: expected a duration in whole seconds like 90s, 15m, 1h or 7d, "
                   "from 1s to %dd",
                   CM_TOKEN_TTL_MAX / 86400);
        return PC_ERR_INVALID;
    }
    *out = v;
    return PC_OK;
}

int
cm_token_parse_offset(const char *s, int64_t *out)
{
    bool neg;
    int64_t v;

    if (parse_seconds(s, true, &neg, &v) != PC_OK) {
        cm_err_set("--nbf-offset: expected [+|-]DURATION in whole seconds like -1h or 5m, "
                   "at most %dd",
                   CM_TOKEN_TTL_MAX / 86400);
        return PC_ERR_INVALID;
    }
    *out = neg ? -v : v;
    return PC_OK;
}

/* s: 1..max bytes (0..max with empty_ok), no control bytes. */
static bool
str_ok(const char *what, const char *s, size_t max, bool empty_ok)
{
    size_t n = strlen(s);

    if (n == 0 && !empty_ok) {
        cm_err_set("%s: empty", what);
        return false;
    }
    if (n > max) {
        cm_err_set("%s: longer than %zu bytes", what, max);
        return false;
    }
    if (pc_str_has_ctl(s, n)) {
        cm_err_set("%s: control characters are not allowed", what);
        return false;
    }
    return true;
}

bool
cm_token_kid_is_valid(const char *s)
{
    json_t *probe;

    if (!str_ok("--kid", s, CM_TOKEN_KID_MAX, false))
        return false;
    probe = json_string(s); /* NULL when s is not UTF-8 */
    if (probe == NULL) {
        cm_err_set("--kid: not valid UTF-8");
        return false;
    }
    json_decref(probe);
    return true;
}

/* o[name] = the string s (checked as UTF-8 here: jansson refuses anything else). */
static int
set_str(json_t *o, const char *name, const char *s, const char *what)
{
    json_t *v = json_string(s);

    if (v == NULL) {
        cm_err_set("%s: not valid UTF-8", what);
        return PC_ERR_INVALID;
    }
    if (json_object_set_new(o, name, v) != 0) {
        cm_err_set("internal: cannot set claim %s", name);
        return PC_ERR_INTERNAL;
    }
    return PC_OK;
}

static int
set_int(json_t *o, const char *name, int64_t v)
{
    if (json_object_set_new(o, name, json_integer((json_int_t)v)) != 0) {
        cm_err_set("internal: cannot set claim %s", name);
        return PC_ERR_INTERNAL;
    }
    return PC_OK;
}

/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool
is_scope_char(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

/* --scope: the scope-tokens joined by single spaces into o["scope"]. */
static int
add_scope(json_t *o, const char *s)
{
    char esc[CM_ESC_MAX];
    struct pc_buf b;
    size_t len = strlen(s), i = 0, n = 0, start, k;
    int rc = PC_ERR_INVALID;

    pc_buf_init(&b, CM_TOKEN_SCOPE_MAX);
    if (len > CM_TOKEN_SCOPE_MAX) {
        cm_err_set("--scope: longer than %d bytes", CM_TOKEN_SCOPE_MAX);
        goto out;
    }
    while (i < len) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        start = i;
        while (i < len && s[i] != ' ') {
            if (!is_scope_char((unsigned char)s[i])) {
                cm_err_set("--scope: \"%s\": a scope is printable ASCII without '\"' and '\\' "
                           "(RFC 6749 3.3); separate scopes with spaces",
                           cm_esc(esc, s, len));
                goto out;
            }
            i++;
        }
        if (++n > CM_TOKEN_MAX_SCOPES) {
            cm_err_set("--scope: more than %d scopes", CM_TOKEN_MAX_SCOPES);
            goto out;
        }
        /* a duplicate is a typo; b holds " "-separated scopes so far */
        for (k = 0; k < b.len;) {
            size_t e = k;
            while (e < b.len && b.data[e] != ' ')
                e++;
            if (e - k == i - start && memcmp(b.data + k, s + start, i - start) == 0) {
                cm_err_set("--scope: \"%s\" given twice", cm_esc(esc, s + start, i - start));
                goto out;
            }
            k = e + 1;
        }
        if ((b.len > 0 && pc_buf_addc(&b, ' ') != PC_OK) ||
            pc_buf_add(&b, s + start, i - start) != PC_OK) {
            cm_err_set("--scope: longer than %d bytes", CM_TOKEN_SCOPE_MAX);
            goto out;
        }
    }
    if (n == 0) {
        cm_err_set("--scope: no scope given");
        goto out;
    }
    rc = set_str(o, "scope", b.data, "--scope");
out:
    pc_buf_clear(&b);
    return rc;
}

/* aud: one string, or an array of distinct strings. */
static int
add_aud(json_t *o, const char *const *aud, size_t naud)
{
    char esc[CM_ESC_MAX];
    json_t *arr = NULL, *v;
    size_t i, j;
    int rc = PC_ERR_INVALID;

    if (naud == 0) {
        cm_err_set("--aud is required");
        return PC_ERR_INVALID;
    }
    if (naud > CM_TOKEN_MAX_AUD) {
        cm_err_set("--aud given more than %d times", CM_TOKEN_MAX_AUD);
        return PC_ERR_INVALID;
    }
    for (i = 0; i < naud; i++) {
        if (!str_ok("--aud", aud[i], CM_TOKEN_STR_MAX, false))
            return PC_ERR_INVALID;
        for (j = 0; j < i; j++) {
            if (strcmp(aud[i], aud[j]) == 0) {
                cm_err_set("--aud \"%s\" given twice", cm_esc(esc, aud[i], strlen(aud[i])));
                return PC_ERR_INVALID;
            }
        }
    }
    if (naud == 1)
        return set_str(o, "aud", aud[0], "--aud");
    arr = json_array();
    for (i = 0; i < naud; i++) {
        v = json_string(aud[i]);
        if (v == NULL) {
            cm_err_set("--aud: not valid UTF-8");
            goto out;
        }
        if (json_array_append_new(arr, v) != 0) {
            rc = PC_ERR_INTERNAL;
            goto out;
        }
    }
    if (json_object_set(o, "aud", arr) != 0) {
        rc = PC_ERR_INTERNAL;
        goto out;
    }
    rc = PC_OK;
out:
    json_decref(arr);
    return rc;
}

/* One --claim NAME=VALUE. */
static int
add_claim(json_t *o, const char *c)
{
    /* every claim token issue sets, and "scp", which the gateway reads as scopes */
    static const char *const reserved[] = {"iss", "sub", "aud",   "exp", "nbf",
                                           "iat", "jti", "scope", "scp", "cnf"};
    char esc[CM_ESC_MAX], name[CM_TOKEN_CLAIM_NAME_MAX + 1];
    const char *eq = strchr(c, '=');
    size_t nlen, i;

    if (eq == NULL) {
        cm_err_set("--claim \"%s\": expected NAME=VALUE", cm_esc(esc, c, strlen(c)));
        return PC_ERR_INVALID;
    }
    nlen = (size_t)(eq - c);
    if (nlen == 0 || nlen > CM_TOKEN_CLAIM_NAME_MAX || !pc_str_is_token(c, nlen)) {
        cm_err_set("--claim \"%s\": NAME must be 1..%d printable ASCII characters",
                   cm_esc(esc, c, strlen(c)), CM_TOKEN_CLAIM_NAME_MAX);
        return PC_ERR_INVALID;
    }
    memcpy(name, c, nlen);
    name[nlen] = '\0';
    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(reserved[i], name) == 0) {
            cm_err_set("--claim %s: set by its own option (--iss, --sub, --aud, --ttl, "
                       "--nbf-offset, --scope, --bind-cert) or by token issue itself",
                       name);
            return PC_ERR_INVALID;
        }
    }
    if (json_object_get(o, name) != NULL) {
        cm_err_set("--claim %s given twice", name);
        return PC_ERR_INVALID;
    }
    if (!str_ok("--claim VALUE", eq + 1, CM_TOKEN_STR_MAX, true))
        return PC_ERR_INVALID;
    return set_str(o, name, eq + 1, "--claim VALUE");
}

int
cm_token_claims(const struct cm_token_spec *spec, json_t **out)
{
    unsigned char jti[CM_TOKEN_JTI_BYTES];
    char jti_s[PC_B64URL_ENCLEN(CM_TOKEN_JTI_BYTES) + 1];
    json_t *o = json_object();
    size_t i;
    int rc = PC_ERR_INVALID;

    *out = NULL;
    if (spec->iss == NULL || spec->sub == NULL) {
        cm_err_set(spec->iss == NULL ? "--iss is required" : "--sub is required");
        goto out;
    }
    if (spec->ttl <= 0 || spec->ttl > CM_TOKEN_TTL_MAX || spec->nbf_offset < -CM_TOKEN_TTL_MAX ||
        spec->nbf_offset > CM_TOKEN_TTL_MAX) {
        cm_err_set("--ttl/--nbf-offset out of range");
        goto out;
    }
    if (spec->now < 0 || spec->now > CM_TIME_MAX - CM_TOKEN_TTL_MAX) {
        cm_err_set("the time is out of range for a token");
        goto out;
    }
    if (spec->nbf_offset >= spec->ttl) {
        cm_err_set("--nbf-offset is not below --ttl: the token would never be valid");
        goto out;
    }
    if (!str_ok("--iss", spec->iss, CM_TOKEN_STR_MAX, false) ||
        !str_ok("--sub", spec->sub, CM_TOKEN_STR_MAX, false))
        goto out;
    if (spec->nclaims > CM_ARGS_MAX_MULTI) {
        cm_err_set("--claim given more than %d times", CM_ARGS_MAX_MULTI);
        goto out;
    }
    rc = set_str(o, "iss", spec->iss, "--iss");
    if (rc == PC_OK)
        rc = set_str(o, "sub", spec->sub, "--sub");
    if (rc == PC_OK)
        rc = add_aud(o, spec->aud, spec->naud);
    if (rc == PC_OK)
        rc = set_int(o, "iat", spec->now);
    if (rc == PC_OK)
        rc = set_int(o, "nbf", spec->now + spec->nbf_offset);
    if (rc == PC_OK)
        rc = set_int(o, "exp", spec->now + spec->ttl);
    if (rc == PC_OK && spec->scope != NULL)
        rc = add_scope(o, spec->scope);
    for (i = 0; rc == PC_OK && i < spec->nclaims; i++)
        rc = add_claim(o, spec->claims[i]);
    if (rc != PC_OK)
        goto out;
    if (RAND_bytes(jti, sizeof(jti)) != 1) {
        cm_err_ssl("random jti");
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    pc_b64url_encode(jti_s, jti, sizeof(jti));
    rc = set_str(o, "jti", jti_s, "jti");
    if (rc != PC_OK)
        goto out;
    *out = o;
    o = NULL;
out:
    json_decref(o);
    return rc;
}

int
cm_token_bind(json_t *claims, const char *x5t)
{
    json_t *cnf = json_pack("{s:s}", "x5t#S256", x5t);

    if (cnf == NULL || json_object_set_new(claims, "cnf", cnf) != 0) {
        cm_err_set("internal: cannot set claim cnf");
        return PC_ERR_INTERNAL;
    }
    return PC_OK;
}

/* --- signing ------------------------------------------------------------------- */

/* The claims as libjwt grants, one by one (strings, integers, then JSON for the rest). */
static int
add_grants(jwt_t *jwt, json_t *claims)
{
    const char *name;
    json_t *v, *wrap;
    char *text;
    int e;

    json_object_foreach(claims, name, v)
    {
        if (json_is_string(v)) {
            e = jwt_add_grant(jwt, name, json_string_value(v));
        } else if (json_is_integer(v) && json_integer_value(v) >= LONG_MIN &&
                   json_integer_value(v) <= LONG_MAX) {
            e = jwt_add_grant_int(jwt, name, (long)json_integer_value(v));
        } else {
            wrap = json_pack("{s:O}", name, v);
            text = wrap != NULL ? json_dumps(wrap, JSON_COMPACT) : NULL;
            e = text != NULL ? jwt_add_grants_json(jwt, text) : ENOMEM;
            free(text);
            json_decref(wrap);
        }
        if (e != 0) {
            cm_err_set("libjwt: adding claim %s: %s", name, strerror(e));
            return PC_ERR_INTERNAL;
        }
    }
    return PC_OK;
}

/* RS* and ES* with libjwt: the key goes in as PKCS#8 PEM (wiped after; libjwt wipes its copy). */
static int
sign_libjwt(EVP_PKEY *key, const struct alg_info *ai, const char *kid, json_t *claims, char **tok)
{
    jwt_t *jwt = NULL;
    char *pem = NULL;
    size_t pemlen = 0;
    int rc, e;

    *tok = NULL;
    e = jwt_new(&jwt);
    if (e != 0) {
        cm_err_set("libjwt: jwt_new: %s", strerror(e));
        rc = PC_ERR_INTERNAL;
        goto out;
    }
    rc = add_grants(jwt, claims);
    if (rc != PC_OK)
        goto out;
    /* libjwt adds "alg" and "typ": "JWT" itself */
    e = jwt_add_header(jwt, "kid", kid);
    if (e != 0) {
        cm_err_set("libjwt: adding the kid: %s", strerror(e));
        rc = PC_ERR_INTERNAL;
        goto out;
    }
    rc = cm_key_pem(key, &pem, &pemlen);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_CRYPTO;
    if (pemlen > INT_MAX) {
        cm_err_set("the private key is too large");
        goto out;
    }
    e = jwt_set_alg(jwt, ai->jwt, (const unsigned char *)pem, (int)pemlen);
    if (e != 0) {
        cm_err_set("libjwt: jwt_set_alg %s: %s", ai->name, strerror(e));
        goto out;
    }
    errno = 0;
    *tok = jwt_encode_str(jwt);
    if (*tok == NULL) {
        cm_err_set("libjwt: signing with %s failed (%s)", ai->name,
                   strerror(errno != 0 ? errno : EINVAL));
        ERR_clear_error();
        goto out;
    }
    rc = PC_OK;
out:
    if (jwt != NULL)
        jwt_free(jwt);
    pc_free_secret(pem, pemlen);
    return rc;
}

/* The EVP context for alg: the digest, and PSS padding with salt = hash length for PS*. */
static int
evp_init(EVP_MD_CTX *ctx, EVP_PKEY *key, const struct alg_info *ai, bool sign)
{
    const EVP_MD *md = ai->md != NULL ? ai->md() : NULL;
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    ok = sign ? EVP_DigestSignInit(ctx, &pctx, md, NULL, key)
              : EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key);
    if (ok != 1)
        return PC_ERR_CRYPTO;
    if (ai->kind == KIND_PS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
        return PC_ERR_CRYPTO;
    return PC_OK;
}

/* base64url(x) appended to b. */
static int
add_b64(struct pc_buf *b, const unsigned char *x, size_t n)
{
    char *s = pc_xmalloc(PC_B64URL_ENCLEN(n) + 1);
    size_t len = pc_b64url_encode(s, x, n);
    int rc = pc_buf_add(b, s, len);

    free(s);
    return rc;
}

/* PS* and EdDSA with EVP (one-shot EVP_DigestSign: Ed25519 has no streaming mode). */
static int
sign_evp(EVP_PKEY *key, const struct alg_info *ai, const char *kid, json_t *claims, char **tok)
{
    json_t *header = NULL;
    char *htext = NULL, *ptext = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *ctx = NULL;
    struct pc_buf b;
    int rc = PC_ERR_INTERNAL;

    *tok = NULL;
    pc_buf_init(&b, 4 * CM_TOKEN_MAX_BYTES);
    header = json_pack("{s:s, s:s, s:s}", "alg", ai->name, "typ", "JWT", "kid", kid);
    htext = header != NULL ? json_dumps(header, JSON_COMPACT) : NULL;
    ptext = json_dumps(claims, JSON_COMPACT);
    if (htext == NULL || ptext == NULL) {
        cm_err_set("internal: cannot encode the token");
        goto out;
    }
    if (add_b64(&b, (const unsigned char *)htext, strlen(htext)) != PC_OK ||
        pc_buf_addc(&b, '.') != PC_OK ||
        add_b64(&b, (const unsigned char *)ptext, strlen(ptext)) != PC_OK) {
        cm_err_set("the token would be longer than %d bytes", 4 * CM_TOKEN_MAX_BYTES);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    rc = PC_ERR_CRYPTO;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || evp_init(ctx, key, ai, true) != PC_OK ||
        EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)b.data, b.len) != 1) {
        cm_err_ssl(ai->name);
        goto out;
    }
    sig = pc_xmalloc(siglen);
    if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)b.data, b.len) != 1) {
        cm_err_ssl(ai->name);
        goto out;
    }
    if (pc_buf_addc(&b, '.') != PC_OK || add_b64(&b, sig, siglen) != PC_OK) {
        cm_err_set("the token would be longer than %d bytes", 4 * CM_TOKEN_MAX_BYTES);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    *tok = pc_buf_take(&b, NULL);
    rc = PC_OK;
out:
    EVP_MD_CTX_free(ctx);
    free(sig);
    free(htext);
    free(ptext);
    json_decref(header);
    pc_buf_clear(&b);
    return rc;
}

int
cm_token_sign(EVP_PKEY *key, unsigned alg, const char *kid, json_t *claims, char **tok)
{
    const struct alg_info *ai = alg_info(alg);
    char *t = NULL;
    int rc;

    *tok = NULL;
    if (ai == NULL || (cm_jwk_key_algs(key) & alg) == 0) {
        cm_err_set("%s does not fit this key", ai != NULL ? ai->name : "the algorithm");
        return PC_ERR_INVALID;
    }
    if (ai->kind == KIND_RS || ai->kind == KIND_ES)
        rc = sign_libjwt(key, ai, kid, claims, &t);
    else
        rc = sign_evp(key, ai, kid, claims, &t);
    if (rc != PC_OK)
        return rc;
    if (strlen(t) > CM_TOKEN_MAX_BYTES) {
        cm_err_set("the token would be %zu bytes, above the %d that token inspect reads "
                   "(the gateway's max_token_bytes is 8192 by default): fewer or shorter claims",
                   strlen(t), CM_TOKEN_MAX_BYTES);
        free(t);
        return PC_ERR_TOO_LARGE;
    }
    /* never hand out a token that does not verify (a libjwt or provider surprise) */
    rc = cm_jws_verify(t, strlen(t), key, alg);
    if (rc != PC_OK) {
        cm_err_prefix("internal: the new token does not verify with its own key");
        free(t);
        return rc;
    }
    *tok = t;
    return PC_OK;
}

/* --- decoding and verifying ------------------------------------------------------ */

/* One base64url part s[0..n) holding a JSON object. */
static int
decode_json(const char *s, size_t n, const char *what, json_t **out)
{
    char esc[CM_ESC_MAX];
    unsigned char *buf = NULL;
    size_t blen = 0;
    json_error_t jerr;
    json_t *v = NULL;
    int rc = PC_ERR_PARSE;

    if (n == 0) {
        cm_err_set("token: the %s part is empty", what);
        goto out;
    }
    buf = pc_xmalloc(PC_B64URL_DECLEN(n));
    if (pc_b64url_decode(s, n, buf, PC_B64URL_DECLEN(n), &blen) != PC_OK) {
        cm_err_set("token: the %s part is not base64url (URL alphabet, no padding)", what);
        goto out;
    }
    /* no \u0000 in strings (jansson's default), no duplicate members */
    v = json_loadb((const char *)buf, blen, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        cm_err_set("token: the %s part is not JSON: %s", what,
                   cm_esc(esc, jerr.text, strlen(jerr.text)));
        goto out;
    }
    if (!json_is_object(v)) {
        cm_err_set("token: the %s part is not a JSON object", what);
        goto out;
    }
    *out = v;
    v = NULL;
    rc = PC_OK;
out:
    json_decref(v);
    free(buf);
    return rc;
}

int
cm_jws_decode(const char *tok, size_t len, struct cm_jws *out)
{
    size_t dots[4], ndots = 0, i, slen;

    memset(out, 0, sizeof(*out));
    if (len == 0) {
        cm_err_set("token: empty");
        return PC_ERR_PARSE;
    }
    if (len > CM_TOKEN_MAX_BYTES) {
        cm_err_set("token: longer than %d bytes", CM_TOKEN_MAX_BYTES);
        return PC_ERR_TOO_LARGE;
    }
    for (i = 0; i < len; i++) {
        if (tok[i] != '.')
            continue;
        if (ndots == sizeof(dots) / sizeof(dots[0])) {
            ndots++;
            break;
        }
        dots[ndots++] = i;
    }
    if (ndots == 4) {
        cm_err_set("token: five parts: an encrypted token (JWE), not a signed one (JWS)");
        return PC_ERR_PARSE;
    }
    if (ndots != 2) {
        cm_err_set("token: not header.claims.signature (a compact JWS has 3 parts)");
        return PC_ERR_PARSE;
    }
    if (decode_json(tok, dots[0], "header", &out->header) != PC_OK ||
        decode_json(tok + dots[0] + 1, dots[1] - dots[0] - 1, "claims", &out->claims) != PC_OK)
        return PC_ERR_PARSE;
    slen = len - dots[1] - 1;
    out->sig = pc_xmalloc(PC_B64URL_DECLEN(slen));
    if (pc_b64url_decode(tok + dots[1] + 1, slen, out->sig, PC_B64URL_DECLEN(slen), &out->siglen) !=
        PC_OK) {
        cm_err_set("token: the signature part is not base64url (URL alphabet, no padding)");
        return PC_ERR_PARSE;
    }
    if (!json_is_string(json_object_get(out->header, "alg"))) {
        cm_err_set("token: the header has no \"alg\" string");
        return PC_ERR_PARSE;
    }
    out->signed_len = dots[1];
    return PC_OK;
}

void
cm_jws_clear(struct cm_jws *j)
{
    json_decref(j->header);
    json_decref(j->claims);
    free(j->sig);
    memset(j, 0, sizeof(*j));
}

/* JOSE's raw r||s (2 * n bytes) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static int
es_raw_to_der(const unsigned char *raw, size_t len, size_t n, unsigned char **der, int *derlen)
{
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    int rc = PC_ERR_CRYPTO;

    *der = NULL;
    if (len != 2 * n) {
        cm_err_set("ES signature of %zu bytes, expected %zu (raw r||s)", len, 2 * n);
        return PC_ERR_CRYPTO;
    }
    es = ECDSA_SIG_new();
    r = BN_bin2bn(raw, (int)n, NULL);
    s = BN_bin2bn(raw + n, (int)n, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by es */
    *derlen = i2d_ECDSA_SIG(es, der);
    if (*derlen <= 0) {
        *der = NULL;
        goto out;
    }
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_err_ssl("ES signature");
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}

int
cm_jws_verify(const char *tok, size_t len, EVP_PKEY *pub, unsigned alg)
{
    const struct alg_info *ai = alg_info(alg);
    struct cm_jws j;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig;
    size_t siglen;
    int derlen = 0, rc;

    rc = cm_jws_decode(tok, len, &j);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_CRYPTO;
    if (ai == NULL || (cm_jwk_key_algs(pub) & alg) == 0 ||
        strcmp(json_string_value(json_object_get(j.header, "alg")), ai->name) != 0) {
        cm_err_set("token: alg is not %s, or does not fit the key", ai != NULL ? ai->name : "?");
        goto out;
    }
    sig = j.sig;
    siglen = j.siglen;
    if (ai->kind == KIND_ES) {
        if (es_raw_to_der(j.sig, j.siglen, ai->es_bytes, &der, &derlen) != PC_OK)
            goto out;
        sig = der;
        siglen = (size_t)derlen;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || evp_init(ctx, pub, ai, false) != PC_OK) {
        cm_err_ssl(ai->name);
        goto out;
    }
    if (EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)tok, j.signed_len) != 1) {
        ERR_clear_error();
        cm_err_set("token: the %s signature does not verify", ai->name);
        goto out;
    }
    rc = PC_OK;
out:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    cm_jws_clear(&j);
    return rc;
}
