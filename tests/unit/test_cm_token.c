/*
 * certmgr/cm_jwk.c and cm_token.c: JWKs and RFC 7638 thumbprints (known
 * answers from RFC 7638 and RFC 8037), durations, the claims of token issue
 * and every refusal of a bad value, signing for each algorithm with a
 * round trip through our verifier, and the strict decoder of token inspect.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "certmgr/cm.h"
#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "policy/pol.h"

/* RFC 7638 3.1: the example RSA key and its thumbprint */
#define RFC7638_N                                                                                  \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"      \
    "BJECPe"                                                                                       \
    "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY3" \
    "68QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM" \
    "4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
/* RFC 8037 A.1-A.3: the example Ed25519 key and its thumbprint */
#define RFC8037_D     "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X     "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_THUMB "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

#define NOW 1700000000 /* 2023-11-14T22:13:20Z */

static unsigned char *
b64d(const char *s, size_t *n)
{
    unsigned char *out = malloc(PC_B64URL_DECLEN(strlen(s)));

    assert_non_null(out);
    assert_int_equal(pc_b64url_decode(s, strlen(s), out, PC_B64URL_DECLEN(strlen(s)), n), PC_OK);
    return out;
}

/* An RSA public key from base64url n and e (the way a verifier builds it from a JWK). */
static EVP_PKEY *
rsa_from_jwk(const char *n64, const char *e64)
{
    size_t nl, el;
    unsigned char *n = b64d(n64, &nl), *e = b64d(e64, &el);
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pk = NULL;

    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn));
    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be));
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pk;
}

/* An EC public key from a JWK's crv, x and y. */
static EVP_PKEY *
ec_from_jwk(const json_t *jwk)
{
    static const struct {
        const char *crv, *group;
    } g[] = {{"P-256", "prime256v1"}, {"P-384", "secp384r1"}, {"P-521", "secp521r1"}};
    const char *crv = json_string_value(json_object_get(jwk, "crv")), *group = NULL;
    size_t xl, yl, i;
    unsigned char *x = b64d(json_string_value(json_object_get(jwk, "x")), &xl);
    unsigned char *y = b64d(json_string_value(json_object_get(jwk, "y")), &yl);
    unsigned char point[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;

    for (i = 0; i < 3; i++)
        if (strcmp(g[i].crv, crv) == 0)
            group = g[i].group;
    assert_non_null(group);
    assert_int_equal(xl, yl);
    point[0] = 0x04;
    memcpy(point + 1, x, xl);
    memcpy(point + 1 + xl, y, yl);
    assert_true(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0));
    assert_true(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * xl));
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    free(x);
    free(y);
    return pk;
}

static EVP_PKEY *
keygen(const char *type, const char *curve)
{
    EVP_PKEY *k;

    if (strcmp(type, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (curve != NULL)
        k = EVP_PKEY_Q_keygen(NULL, NULL, type, curve);
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, type);
    assert_non_null(k);
    return k;
}

/* A self-signed certificate, enough to be hashed. */
static X509 *
self_signed(EVP_PKEY *k)
{
    X509 *x = X509_new();

    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"client", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}

static void
expect_reason(const char *want)
{
    const char *why = cm_err_get();

    if (why == NULL || strstr(why, want) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why != NULL ? why : "(none)", want);
}

/* --- thumbprints and JWKs ----------------------------------------------------------- */

static void
test_thumbprint_rfc7638_example_json(void **state)
{
    char out[CM_JWK_THUMB_LEN + 1];
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", RFC7638_N, "e", "AQAB",
                            "alg", "RS256", "kid", "2011-04-29");

    (void)state;
    assert_int_equal(cm_jwk_thumbprint_json(jwk, out), PC_OK);
    assert_string_equal(out, RFC7638_THUMB); /* alg and kid are not hashed */
    json_decref(jwk);
}

static void
test_thumbprint_rfc7638_example_key(void **state)
{
    char out[CM_JWK_THUMB_LEN + 1];
    EVP_PKEY *pk = rsa_from_jwk(RFC7638_N, "AQAB");
    json_t *jwk = NULL;

    (void)state;
    assert_int_equal(cm_jwk_thumbprint(pk, out), PC_OK);
    assert_string_equal(out, RFC7638_THUMB);
    assert_int_equal(cm_jwk_public(pk, &jwk), PC_OK);
    assert_string_equal(json_string_value(json_object_get(jwk, "n")), RFC7638_N);
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_int_equal(json_object_size(jwk), 3);
    json_decref(jwk);
    EVP_PKEY_free(pk);
}

static void
test_thumbprint_rfc8037_ed25519(void **state)
{
    char out[CM_JWK_THUMB_LEN + 1];
    size_t dl;
    unsigned char *d = b64d(RFC8037_D, &dl);
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, dl);
    json_t *jwk = NULL;

    (void)state;
    assert_non_null(pk);
    assert_int_equal(cm_jwk_public(pk, &jwk), PC_OK);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), RFC8037_X);
    assert_null(json_object_get(jwk, "d"));
    assert_int_equal(json_object_size(jwk), 3);
    assert_int_equal(cm_jwk_thumbprint(pk, out), PC_OK);
    assert_string_equal(out, RFC8037_THUMB);
    assert_int_equal(cm_jwk_default_alg(pk), POL_ALG_EDDSA);
    json_decref(jwk);
    EVP_PKEY_free(pk);
    free(d);
}

static void
test_thumbprint_bad_jwk_refused(void **state)
{
    char out[CM_JWK_THUMB_LEN + 1];
    json_t *a = json_pack("{s:s, s:s}", "kty", "oct", "k", "AAAA");
    json_t *b = json_pack("{s:s, s:s}", "kty", "RSA", "n", "AAAA");           /* no e */
    json_t *c = json_pack("{s:s, s:s, s:i}", "kty", "RSA", "n", "A", "e", 3); /* e a number */
    json_t *d = json_pack("{s:s}", "n", "AAAA");                              /* no kty */

    (void)state;
    cm_err_clear();
    assert_int_equal(cm_jwk_thumbprint_json(a, out), PC_ERR_INVALID);
    expect_reason("kty");
    cm_err_clear();
    assert_int_equal(cm_jwk_thumbprint_json(b, out), PC_ERR_INVALID);
    expect_reason("\"e\"");
    cm_err_clear();
    assert_int_equal(cm_jwk_thumbprint_json(c, out), PC_ERR_INVALID);
    cm_err_clear();
    assert_int_equal(cm_jwk_thumbprint_json(d, out), PC_ERR_INVALID);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

/* The JWK of a generated key rebuilds the same public key; exact member set, no private one. */
static void
check_ec_jwk(const char *curve, const char *crv, size_t coord_chars, unsigned alg)
{
    char t1[CM_JWK_THUMB_LEN + 1], t2[CM_JWK_THUMB_LEN + 1];
    EVP_PKEY *k = keygen("EC", curve), *back;
    json_t *jwk = NULL;
    int i;

    for (i = 0; i < 8; i++) { /* fresh keys: some have short coordinates, padded anyway */
        assert_int_equal(cm_jwk_public(k, &jwk), PC_OK);
        assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
        assert_string_equal(json_string_value(json_object_get(jwk, "crv")), crv);
        assert_int_equal(strlen(json_string_value(json_object_get(jwk, "x"))), coord_chars);
        assert_int_equal(strlen(json_string_value(json_object_get(jwk, "y"))), coord_chars);
        assert_int_equal(json_object_size(jwk), 4); /* kty crv x y: never d */
        back = ec_from_jwk(jwk);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        assert_int_equal(cm_jwk_thumbprint(k, t1), PC_OK);
        assert_int_equal(cm_jwk_thumbprint(back, t2), PC_OK);
        assert_string_equal(t1, t2);
        assert_int_equal(cm_jwk_default_alg(k), alg);
        assert_int_equal(cm_jwk_key_algs(k), alg);
        EVP_PKEY_free(back);
        json_decref(jwk);
        jwk = NULL;
        EVP_PKEY_free(k);
        k = keygen("EC", curve);
    }
    EVP_PKEY_free(k);
}

static void
test_jwk_ec_curves(void **state)
{
    (void)state;
    check_ec_jwk("P-256", "P-256", 43, POL_ALG_ES256);
    check_ec_jwk("P-384", "P-384", 64, POL_ALG_ES384);
    check_ec_jwk("P-521", "P-521", 88, POL_ALG_ES512);
}

static void
test_jwk_rsa(void **state)
{
    EVP_PKEY *k = keygen("RSA", NULL), *back;
    json_t *jwk = NULL;

    (void)state;
    assert_int_equal(cm_jwk_public(k, &jwk), PC_OK);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_int_equal(strlen(json_string_value(json_object_get(jwk, "n"))), 342); /* 256 bytes */
    assert_int_equal(json_object_size(jwk), 3); /* never d, p, q, dp, dq, qi */
    back = rsa_from_jwk(json_string_value(json_object_get(jwk, "n")), "AQAB");
    assert_int_equal(EVP_PKEY_eq(k, back), 1);
    assert_int_equal(cm_jwk_default_alg(k), POL_ALG_RS256);
    assert_int_equal(cm_jwk_key_algs(k), POL_ALG_RS256 | POL_ALG_RS384 | POL_ALG_RS512 |
                                             POL_ALG_PS256 | POL_ALG_PS384 | POL_ALG_PS512);
    json_decref(jwk);
    EVP_PKEY_free(back);
    EVP_PKEY_free(k);
}

static void
test_jwk_unsupported_keys_refused(void **state)
{
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    EVP_PKEY *pss = NULL;
    json_t *jwk = NULL;
    char out[CM_JWK_THUMB_LEN + 1];

    (void)state;
    /* EVP_PKEY_Q_keygen() does not make RSA-PSS keys in OpenSSL 3.0 */
    assert_int_equal(EVP_PKEY_keygen_init(pctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, 2048), 1);
    assert_int_equal(EVP_PKEY_generate(pctx, &pss), 1);
    EVP_PKEY_CTX_free(pctx);
    assert_non_null(small);
    assert_non_null(k1);
    assert_non_null(ed448);
    cm_err_clear();
    assert_int_equal(cm_jwk_key_algs(small), 0);
    expect_reason("1024 bits");
    cm_err_clear();
    assert_int_equal(cm_jwk_default_alg(k1), 0);
    expect_reason("P-256, P-384 and P-521");
    cm_err_clear();
    assert_int_equal(cm_jwk_key_algs(ed448), 0);
    expect_reason("not supported");
    cm_err_clear();
    assert_int_equal(cm_jwk_key_algs(pss), 0);
    expect_reason("RSA-PSS");
    cm_err_clear();
    assert_int_not_equal(cm_jwk_public(k1, &jwk), PC_OK);
    assert_null(jwk);
    assert_int_not_equal(cm_jwk_thumbprint(ed448, out), PC_OK);
    EVP_PKEY_free(small);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(ed448);
    EVP_PKEY_free(pss);
}

static void
test_cert_x5t_is_sha256_of_der(void **state)
{
    EVP_PKEY *k = keygen("EC", "P-256");
    X509 *x = self_signed(k);
    unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
    char want[CM_JWK_THUMB_LEN + 1], got[CM_JWK_THUMB_LEN + 1];
    int n = i2d_X509(x, &der);
    json_t *claims = json_object();

    (void)state;
    assert_true(n > 0);
    SHA256(der, (size_t)n, md);
    pc_b64url_encode(want, md, sizeof(md));
    assert_int_equal(cm_cert_x5t(x, got), PC_OK);
    assert_string_equal(got, want);
    assert_int_equal(cm_token_bind(claims, got), PC_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(claims, "cnf"), "x5t#S256")), want);
    json_decref(claims);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* --- durations --------------------------------------------------------------------------- */

static void
test_ttl_parse(void **state)
{
    static const char *const bad[] = {"",   "0s",  "10",    "1500ms", "-1h", "+1h",     "31d",
                                      "1H", "1 h", "720h1", "h",      "1y",  "2592001s"};
    int64_t v = -1;
    size_t i;

    (void)state;
    assert_int_equal(cm_token_parse_ttl("1h", &v), PC_OK);
    assert_int_equal(v, 3600);
    assert_int_equal(cm_token_parse_ttl("90s", &v), PC_OK);
    assert_int_equal(v, 90);
    assert_int_equal(cm_token_parse_ttl("1000ms", &v), PC_OK);
    assert_int_equal(v, 1);
    assert_int_equal(cm_token_parse_ttl("30d", &v), PC_OK);
    assert_int_equal(v, CM_TOKEN_TTL_MAX);
    assert_int_equal(cm_token_parse_ttl("720h", &v), PC_OK);
    assert_int_equal(v, CM_TOKEN_TTL_MAX);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cm_err_clear();
        v = 42;
        if (cm_token_parse_ttl(bad[i], &v) != PC_ERR_INVALID)
            fail_msg("--ttl \"%s\" accepted", bad[i]);
        assert_int_equal(v, 42);
        expect_reason("--ttl");
    }
}

static void
test_offset_parse(void **state)
{
    static const char *const bad[] = {"",  "-",    "+",         "--1h",  "-+1h",
                                      "1", "-31d", "+2592001s", "-1.5h", "- 1h"};
    int64_t v = 1;
    size_t i;

    (void)state;
    assert_int_equal(cm_token_parse_offset("-1h", &v), PC_OK);
    assert_int_equal(v, -3600);
    assert_int_equal(cm_token_parse_offset("+5m", &v), PC_OK);
    assert_int_equal(v, 300);
    assert_int_equal(cm_token_parse_offset("5m", &v), PC_OK);
    assert_int_equal(v, 300);
    assert_int_equal(cm_token_parse_offset("0s", &v), PC_OK);
    assert_int_equal(v, 0);
    assert_int_equal(cm_token_parse_offset("-30d", &v), PC_OK);
    assert_int_equal(v, -CM_TOKEN_TTL_MAX);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cm_err_clear();
        if (cm_token_parse_offset(bad[i], &v) != PC_ERR_INVALID)
            fail_msg("--nbf-offset \"%s\" accepted", bad[i]);
        expect_reason("--nbf-offset");
    }
}

/* --- claims ------------------------------------------------------------------------------ */

static void
spec_init(struct cm_token_spec *s)
{
    static const char *const aud1[] = {"billing"};

    memset(s, 0, sizeof(*s));
    s->iss = "https://idp.example.com/";
    s->sub = "alice";
    s->aud = aud1;
    s->naud = 1;
    s->now = NOW;
    s->ttl = 3600;
}

static json_int_t
int_claim(const json_t *c, const char *name)
{
    const json_t *v = json_object_get(c, name);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *
str_claim(const json_t *c, const char *name)
{
    const json_t *v = json_object_get(c, name);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void
test_claims_built(void **state)
{
    static const char *const claims[] = {"email=alice@example.com", "role=", "x=a=b"};
    struct cm_token_spec s;
    json_t *c = NULL, *c2 = NULL;
    unsigned char raw[CM_TOKEN_JTI_BYTES + 2];
    size_t rawlen;

    (void)state;
    spec_init(&s);
    s.scope = "  billing:read   billing:write ";
    s.claims = claims;
    s.nclaims = 3;
    s.nbf_offset = -600;
    assert_int_equal(cm_token_claims(&s, &c), PC_OK);
    assert_string_equal(str_claim(c, "iss"), "https://idp.example.com/");
    assert_string_equal(str_claim(c, "sub"), "alice");
    assert_string_equal(str_claim(c, "aud"), "billing");
    assert_int_equal(int_claim(c, "iat"), NOW);
    assert_int_equal(int_claim(c, "nbf"), NOW - 600);
    assert_int_equal(int_claim(c, "exp"), NOW + 3600);
    assert_string_equal(str_claim(c, "scope"), "billing:read billing:write");
    assert_string_equal(str_claim(c, "email"), "alice@example.com");
    assert_string_equal(str_claim(c, "role"), "");
    assert_string_equal(str_claim(c, "x"), "a=b");
    assert_null(json_object_get(c, "cnf"));
    assert_int_equal(strlen(str_claim(c, "jti")), 22);
    assert_int_equal(pc_b64url_decode(str_claim(c, "jti"), 22, raw, sizeof(raw), &rawlen), PC_OK);
    assert_int_equal(rawlen, CM_TOKEN_JTI_BYTES);
    assert_int_equal(json_object_size(c), 11);
    /* a second token gets another jti */
    assert_int_equal(cm_token_claims(&s, &c2), PC_OK);
    assert_string_not_equal(str_claim(c, "jti"), str_claim(c2, "jti"));
    json_decref(c);
    json_decref(c2);
}

static void
test_claims_minimal_and_aud_list(void **state)
{
    static const char *const auds[] = {"billing", "audit"};
    struct cm_token_spec s;
    json_t *c = NULL, *aud;

    (void)state;
    spec_init(&s);
    assert_int_equal(cm_token_claims(&s, &c), PC_OK);
    assert_null(json_object_get(c, "scope")); /* no --scope, no scope claim */
    assert_int_equal(int_claim(c, "nbf"), NOW);
    assert_int_equal(json_object_size(c), 7); /* iss sub aud iat nbf exp jti */
    json_decref(c);
    s.aud = auds;
    s.naud = 2;
    assert_int_equal(cm_token_claims(&s, &c), PC_OK);
    aud = json_object_get(c, "aud");
    assert_true(json_is_array(aud));
    assert_int_equal(json_array_size(aud), 2);
    assert_string_equal(json_string_value(json_array_get(aud, 0)), "billing");
    assert_string_equal(json_string_value(json_array_get(aud, 1)), "audit");
    json_decref(c);
}

/* The spec with one change is refused, nothing returned, and the reason says `why`. */
static void
expect_claims_refused(const struct cm_token_spec *s, const char *why)
{
    json_t *c = (json_t *)1;

    cm_err_clear();
    if (cm_token_claims(s, &c) != PC_ERR_INVALID)
        fail_msg("accepted; expected a refusal about \"%s\"", why);
    assert_null(c);
    expect_reason(why);
}

static void
test_claims_bad_claim_refused(void **state)
{
    static const char *const cases[][2] = {
        {"noequals", "NAME=VALUE"},
        {"=value", "NAME must be"},
        {"with space=1", "NAME must be"},
        {"iss=x", "set by its own option"},
        {"sub=x", "set by its own option"},
        {"aud=x", "set by its own option"},
        {"exp=1", "set by its own option"},
        {"nbf=1", "set by its own option"},
        {"iat=1", "set by its own option"},
        {"jti=1", "set by its own option"},
        {"scope=admin", "set by its own option"},
        {"scp=admin", "set by its own option"},
        {"cnf=x", "set by its own option"},
        {"tab=a\tb", "control characters"},
        {"nl=a\nb", "control characters"},
        {"latin1=caf\xe9", "not valid UTF-8"},
    };
    struct cm_token_spec s;
    const char *one[1], *two[2] = {"role=a", "role=b"};
    char longv[CM_TOKEN_STR_MAX + 8];
    size_t i;

    (void)state;
    spec_init(&s);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        one[0] = cases[i][0];
        s.claims = one;
        s.nclaims = 1;
        expect_claims_refused(&s, cases[i][1]);
    }
    s.claims = two;
    s.nclaims = 2;
    expect_claims_refused(&s, "given twice");
    snprintf(longv, sizeof(longv), "v=");
    memset(longv + 2, 'a', CM_TOKEN_STR_MAX + 1);
    longv[CM_TOKEN_STR_MAX + 3] = '\0';
    one[0] = longv;
    s.claims = one;
    s.nclaims = 1;
    expect_claims_refused(&s, "longer than");
}

static void
test_claims_bad_values_refused(void **state)
{
    static const char *const dup_aud[] = {"a", "a"};
    static const char *const empty_aud[] = {""};
    static const char *many_aud[CM_TOKEN_MAX_AUD + 1];
    char many_scopes[CM_TOKEN_MAX_SCOPES * 4 + 8], longs[CM_TOKEN_STR_MAX + 2];
    struct cm_token_spec s;
    size_t i, off = 0;

    (void)state;
    spec_init(&s);
    s.scope = "a \"b\"";
    expect_claims_refused(&s, "RFC 6749");
    s.scope = "a\\b";
    expect_claims_refused(&s, "RFC 6749");
    s.scope = "a\tb";
    expect_claims_refused(&s, "RFC 6749");
    s.scope = "read read";
    expect_claims_refused(&s, "given twice");
    s.scope = "   ";
    expect_claims_refused(&s, "no scope");
    s.scope = "caf\xc3\xa9"; /* UTF-8, but not a scope-token */
    expect_claims_refused(&s, "RFC 6749");
    for (i = 0; i <= CM_TOKEN_MAX_SCOPES; i++)
        off += (size_t)snprintf(many_scopes + off, sizeof(many_scopes) - off, "s%zu ", i);
    s.scope = many_scopes;
    expect_claims_refused(&s, "more than 64 scopes");

    spec_init(&s);
    s.aud = dup_aud;
    s.naud = 2;
    expect_claims_refused(&s, "given twice");
    s.aud = empty_aud;
    s.naud = 1;
    expect_claims_refused(&s, "--aud: empty");
    for (i = 0; i <= CM_TOKEN_MAX_AUD; i++)
        many_aud[i] = i % 2 == 0 ? "x" : "y"; /* the count is checked first */
    s.aud = many_aud;
    s.naud = CM_TOKEN_MAX_AUD + 1;
    expect_claims_refused(&s, "more than 16");
    s.naud = 0;
    expect_claims_refused(&s, "--aud is required");

    spec_init(&s);
    s.iss = "";
    expect_claims_refused(&s, "--iss: empty");
    spec_init(&s);
    s.iss = NULL;
    expect_claims_refused(&s, "--iss is required");
    spec_init(&s);
    memset(longs, 'a', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    s.sub = longs;
    expect_claims_refused(&s, "--sub: longer than");
    spec_init(&s);
    s.sub = "\xff\xfe";
    expect_claims_refused(&s, "not valid UTF-8");
    spec_init(&s);
    s.sub = "a\x7f";
    expect_claims_refused(&s, "control characters");

    spec_init(&s);
    s.nbf_offset = 3600; /* nbf == exp: never valid */
    expect_claims_refused(&s, "never be valid");
    s.nbf_offset = 0;
    s.ttl = CM_TOKEN_TTL_MAX + 1;
    expect_claims_refused(&s, "out of range");
    s.ttl = 0;
    expect_claims_refused(&s, "out of range");
    s.ttl = 60;
    s.now = -1;
    expect_claims_refused(&s, "time is out of range");
}

static void
test_kid_validity(void **state)
{
    char longk[CM_TOKEN_KID_MAX + 2];

    (void)state;
    assert_true(cm_token_kid_is_valid("2024-01 signing key"));
    cm_err_clear();
    assert_false(cm_token_kid_is_valid(""));
    cm_err_clear();
    assert_false(cm_token_kid_is_valid("a\nb"));
    cm_err_clear();
    assert_false(cm_token_kid_is_valid("\xc3"));
    memset(longk, 'k', sizeof(longk) - 1);
    longk[sizeof(longk) - 1] = '\0';
    cm_err_clear();
    assert_false(cm_token_kid_is_valid(longk));
    longk[CM_TOKEN_KID_MAX] = '\0';
    assert_true(cm_token_kid_is_valid(longk));
}

/* --- signing and verifying ------------------------------------------------------------------ */

static json_t *
claims_for_test(void)
{
    struct cm_token_spec s;
    json_t *c = NULL;

    spec_init(&s);
    s.scope = "a b";
    assert_int_equal(cm_token_claims(&s, &c), PC_OK);
    assert_int_equal(cm_token_bind(c, "x5t-value"), PC_OK);
    return c;
}

/* Sign with alg, check the header and claims, verify, and refuse a tampered copy. */
static void
sign_roundtrip(EVP_PKEY *k, unsigned alg, size_t want_siglen)
{
    json_t *c = claims_for_test();
    char *tok = NULL, *bad;
    struct cm_jws j;
    size_t len, i;

    assert_int_equal(cm_token_sign(k, alg, "kid-1", c, &tok), PC_OK);
    len = strlen(tok);
    assert_int_equal(cm_jws_decode(tok, len, &j), PC_OK);
    assert_string_equal(str_claim(j.header, "alg"), pol_alg_name(alg));
    assert_string_equal(str_claim(j.header, "typ"), "JWT");
    assert_string_equal(str_claim(j.header, "kid"), "kid-1");
    assert_int_equal(json_object_size(j.header), 3);
    assert_true(json_equal(j.claims, c));
    if (want_siglen != 0)
        assert_int_equal(j.siglen, want_siglen);
    cm_jws_clear(&j);
    assert_int_equal(cm_jws_verify(tok, len, k, alg), PC_OK);
    /* flip one bit of the payload, then of the signature: both refused */
    bad = strdup(tok);
    i = strchr(tok, '.') - tok + 5;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    cm_err_clear();
    assert_int_not_equal(cm_jws_verify(bad, len, k, alg), PC_OK);
    memcpy(bad, tok, len);
    i = strrchr(tok, '.') - tok + 3;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    cm_err_clear();
    assert_int_not_equal(cm_jws_verify(bad, len, k, alg), PC_OK);
    free(bad);
    free(tok);
    json_decref(c);
}

static void
test_sign_rsa_all_algs(void **state)
{
    static const unsigned algs[] = {POL_ALG_RS256, POL_ALG_RS384, POL_ALG_RS512,
                                    POL_ALG_PS256, POL_ALG_PS384, POL_ALG_PS512};
    EVP_PKEY *k = keygen("RSA", NULL);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        sign_roundtrip(k, algs[i], 256);
    EVP_PKEY_free(k);
}

/* libjwt writes ES signatures as JOSE's fixed-size r||s: check the size on many signatures. */
static void
test_sign_ec_raw_signature(void **state)
{
    static const struct {
        const char *curve;
        unsigned alg;
        size_t siglen;
    } c[] = {
        {"P-256", POL_ALG_ES256, 64}, {"P-384", POL_ALG_ES384, 96}, {"P-521", POL_ALG_ES512, 132}};
    size_t i;
    int n;

    (void)state;
    for (i = 0; i < 3; i++) {
        EVP_PKEY *k = keygen("EC", c[i].curve);
        /* r or s below 2^(8(n-1)) every ~128 signatures: 200 catch a missing pad */
        for (n = 0; n < (i == 0 ? 200 : 20); n++)
            sign_roundtrip(k, c[i].alg, c[i].siglen);
        EVP_PKEY_free(k);
    }
}

static void
test_sign_ed25519(void **state)
{
    EVP_PKEY *k = keygen("ED25519", NULL);

    (void)state;
    sign_roundtrip(k, POL_ALG_EDDSA, 64);
    EVP_PKEY_free(k);
}

static void
test_sign_alg_must_fit_key(void **state)
{
    EVP_PKEY *ec = keygen("EC", "P-256"), *rsa = keygen("RSA", NULL), *ed = keygen("ED25519", NULL);
    json_t *c = claims_for_test();
    char *tok = (char *)1;

    (void)state;
    /* libjwt itself would sign "ES384" with a P-256 key: we must not */
    cm_err_clear();
    assert_int_equal(cm_token_sign(ec, POL_ALG_ES384, "k", c, &tok), PC_ERR_INVALID);
    assert_null(tok);
    cm_err_clear();
    assert_int_equal(cm_token_sign(ec, POL_ALG_PS256, "k", c, &tok), PC_ERR_INVALID);
    cm_err_clear();
    assert_int_equal(cm_token_sign(rsa, POL_ALG_ES256, "k", c, &tok), PC_ERR_INVALID);
    cm_err_clear();
    assert_int_equal(cm_token_sign(rsa, POL_ALG_EDDSA, "k", c, &tok), PC_ERR_INVALID);
    cm_err_clear();
    assert_int_equal(cm_token_sign(ed, POL_ALG_RS256, "k", c, &tok), PC_ERR_INVALID);
    cm_err_clear();
    assert_int_equal(cm_token_sign(ec, 0, "k", c, &tok), PC_ERR_INVALID);
    json_decref(c);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
}

static void
test_verify_wrong_key_or_alg_refused(void **state)
{
    EVP_PKEY *k1 = keygen("EC", "P-256"), *k2 = keygen("EC", "P-256");
    json_t *c = claims_for_test();
    char *tok = NULL;

    (void)state;
    assert_int_equal(cm_token_sign(k1, POL_ALG_ES256, "k", c, &tok), PC_OK);
    cm_err_clear();
    assert_int_equal(cm_jws_verify(tok, strlen(tok), k2, POL_ALG_ES256), PC_ERR_CRYPTO);
    expect_reason("does not verify");
    cm_err_clear();
    assert_int_equal(cm_jws_verify(tok, strlen(tok), k1, POL_ALG_ES384), PC_ERR_CRYPTO);
    assert_int_equal(cm_jws_verify(tok, strlen(tok), k1, POL_ALG_ES256), PC_OK);
    free(tok);
    json_decref(c);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

/* --- decoding ------------------------------------------------------------------------------- */

static void
expect_decode_refused(const char *tok, int rc, const char *why)
{
    struct cm_jws j;

    cm_err_clear();
    if (cm_jws_decode(tok, strlen(tok), &j) != rc)
        fail_msg("\"%.60s\": not refused with %d", tok, rc);
    expect_reason(why);
    cm_jws_clear(&j);
}

static void
test_decode_malformed_refused(void **state)
{
    char *big = malloc(CM_TOKEN_MAX_BYTES + 2);

    (void)state;
    expect_decode_refused("", PC_ERR_PARSE, "empty");
    expect_decode_refused("abc", PC_ERR_PARSE, "3 parts");
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9.e30", PC_ERR_PARSE, "3 parts");
    expect_decode_refused("a.b.c.d", PC_ERR_PARSE, "3 parts");
    expect_decode_refused("a.b.c.d.e", PC_ERR_PARSE, "JWE");
    expect_decode_refused("a.b.c.d.e.f", PC_ERR_PARSE, "3 parts");
    expect_decode_refused(".e30.", PC_ERR_PARSE, "header part is empty");
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9..", PC_ERR_PARSE, "claims part is empty");
    /* {"alg":"ES256"} with padding, and with the standard alphabet */
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9=.e30.", PC_ERR_PARSE, "not base64url");
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9.e30.ab+/", PC_ERR_PARSE, "signature");
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9.e30.a", PC_ERR_PARSE, "signature");
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.", PC_ERR_PARSE, "not JSON");
    expect_decode_refused("W10.e30.", PC_ERR_PARSE, "not a JSON object");            /* [] */
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9.W10.", PC_ERR_PARSE, "JSON object"); /* [] */
    /* {"a":1,"a":2} */
    expect_decode_refused("eyJhIjoxLCJhIjoyfQ.e30.", PC_ERR_PARSE, "duplicate");
    /* {"alg":1} and {} */
    expect_decode_refused("eyJhbGciOjF9.e30.", PC_ERR_PARSE, "\"alg\"");
    expect_decode_refused("e30.e30.", PC_ERR_PARSE, "\"alg\"");
    /* {"alg":"a\u0000b"} */
    expect_decode_refused("eyJhbGciOiJhXHUwMDAwYiJ9.e30.", PC_ERR_PARSE, "not JSON");
    /* {"alg":"ES256"} and trailing data after the object */
    expect_decode_refused("eyJhbGciOiJFUzI1NiJ9.e30ge30.", PC_ERR_PARSE, "not JSON");
    memset(big, 'a', CM_TOKEN_MAX_BYTES + 1);
    big[CM_TOKEN_MAX_BYTES + 1] = '\0';
    expect_decode_refused(big, PC_ERR_TOO_LARGE, "longer than");
    free(big);
}

static void
test_decode_unsigned_and_foreign_typ(void **state)
{
    /* {"alg":"none"}.{"sub":"x"}. : decoded (inspect shows it), signature empty */
    static const char *none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
    /* {"alg":"PS256","typ":"at+jwt"}.{}.AAAA : libjwt refuses it, we decode it */
    static const char *atjwt = "eyJhbGciOiJQUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.AAAA";
    struct cm_jws j;

    (void)state;
    assert_int_equal(cm_jws_decode(none, strlen(none), &j), PC_OK);
    assert_int_equal(j.siglen, 0);
    assert_string_equal(str_claim(j.claims, "sub"), "x");
    assert_int_equal(j.signed_len, strlen(none) - 1);
    cm_jws_clear(&j);
    assert_int_equal(cm_jws_decode(atjwt, strlen(atjwt), &j), PC_OK);
    assert_string_equal(str_claim(j.header, "typ"), "at+jwt");
    assert_int_equal(j.siglen, 3);
    cm_jws_clear(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumbprint_rfc7638_example_json),
        cmocka_unit_test(test_thumbprint_rfc7638_example_key),
        cmocka_unit_test(test_thumbprint_rfc8037_ed25519),
        cmocka_unit_test(test_thumbprint_bad_jwk_refused),
        cmocka_unit_test(test_jwk_ec_curves),
        cmocka_unit_test(test_jwk_rsa),
        cmocka_unit_test(test_jwk_unsupported_keys_refused),
        cmocka_unit_test(test_cert_x5t_is_sha256_of_der),
        cmocka_unit_test(test_ttl_parse),
        cmocka_unit_test(test_offset_parse),
        cmocka_unit_test(test_claims_built),
        cmocka_unit_test(test_claims_minimal_and_aud_list),
        cmocka_unit_test(test_claims_bad_claim_refused),
        cmocka_unit_test(test_claims_bad_values_refused),
        cmocka_unit_test(test_kid_validity),
        cmocka_unit_test(test_sign_rsa_all_algs),
        cmocka_unit_test(test_sign_ec_raw_signature),
        cmocka_unit_test(test_sign_ed25519),
        cmocka_unit_test(test_sign_alg_must_fit_key),
        cmocka_unit_test(test_verify_wrong_key_or_alg_refused),
        cmocka_unit_test(test_decode_malformed_refused),
        cmocka_unit_test(test_decode_unsigned_and_foreign_typ),
    };

    return cmocka_run_group_tests_name("cm_token", tests, NULL, NULL);
}
