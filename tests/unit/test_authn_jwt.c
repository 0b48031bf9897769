/*
 * authn/: compact JWS verification, claims and their checks, the Bearer
 * parser.  Tokens are signed here with OpenSSL (tests/unit/jwt_test.h) on
 * TEST-ONLY keys generated at setup; every refusal asserts its exact reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "authn/authn_jwt.h"
#include "tests/unit/jwt_test.h"

#define NOW 1700000000LL
#define ISS "https://idp.example/"

static EVP_PKEY *rsa, *rsa_rs, *ec256, *ec384, *ec521, *ed, *evil_rsa, *evil_ec;
static char *jwk_rsa, *jwk_ec256;
static struct authn_keyset *ks;     /* every key above but the attacker's */
static struct authn_keyset *ks_one; /* ec256 alone, without a kid */

static char iss_s[] = ISS, aud_s[] = "billing", scope_read[] = "billing:read",
            scope_write[] = "billing:write";
static char *route_scopes[] = {scope_read, scope_write};
static struct pol_issuer issuer = {.issuer = iss_s, .leeway_ms = 30000, .algorithms = TJ_ALL_ALGS};
static struct pol_jwt route = {
    .issuer = &issuer, .audience = aud_s, .scopes = route_scopes, .nscopes = 1};

static int
setup(void **state)
{
    char *j[7];
    size_t i;

    (void)state;
    rsa = tj_rsa(2048);
    rsa_rs = tj_rsa(2048);
    ec256 = tj_ec("P-256");
    ec384 = tj_ec("P-384");
    ec521 = tj_ec("P-521");
    ed = tj_ed25519();
    evil_rsa = tj_rsa(2048);
    evil_ec = tj_ec("P-256");
    jwk_rsa = tj_jwk(rsa, "rsa", NULL, ",\"use\":\"sig\"");
    jwk_ec256 = tj_jwk(ec256, "ec256", NULL, NULL);
    j[0] = tj_jwk(rsa_rs, "rsa-rs256", "RS256", NULL);
    j[1] = tj_jwk(ec384, "ec384", NULL, NULL);
    j[2] = tj_jwk(ec521, "ec521", "ES512", NULL);
    j[3] = tj_jwk(ed, "ed", "EdDSA", NULL);
    j[4] = tj_jwks(jwk_rsa, jwk_ec256, j[0], j[1], j[2], j[3], NULL);
    ks = tj_keyset(j[4], TJ_ALL_ALGS);
    j[5] = tj_jwk(ec256, NULL, NULL, NULL);
    j[6] = tj_jwks(j[5], NULL);
    ks_one = tj_keyset(j[6], TJ_ALL_ALGS);
    for (i = 0; i < 7; i++)
        free(j[i]);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    authn_keyset_free(ks);
    authn_keyset_free(ks_one);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa_rs);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(evil_rsa);
    EVP_PKEY_free(evil_ec);
    free(jwk_rsa);
    free(jwk_ec256);
    return 0;
}

/* The usual claims, with `extra` members appended (",\"x\":1" or ""). */
static char *
claims(const char *extra)
{
    char *s = malloc(TJ_MAX);

    snprintf(s, TJ_MAX,
             "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"billing\",\"exp\":%lld,"
             "\"iat\":%lld,\"jti\":\"j1\",\"scope\":\"billing:read billing:write\"%s}",
             NOW + 600, NOW - 10, extra);
    return s;
}

static char *
hdr(const char *alg, const char *kid, const char *extra)
{
    char *s = malloc(1024);

    snprintf(s, 1024, "{\"alg\":\"%s\",\"kid\":\"%s\"%s}", alg, kid, extra == NULL ? "" : extra);
    return s;
}

/* Sign the usual claims (plus extra) as alg with pk under kid. */
static char *
mint(const char *alg, EVP_PKEY *pk, const char *kid, const char *extra)
{
    char *h = hdr(alg, kid, NULL), *p = claims(extra == NULL ? "" : extra);
    char *t = tj_token(h, p, alg, pk);

    free(h);
    free(p);
    return t;
}

/* dst = a[0..an) b[0..bn) c[0..cn), NUL-terminated (dst holds TJ_MAX bytes). */
static void
cat(char *dst, const char *a, size_t an, const char *b, size_t bn, const char *c, size_t cn)
{
    assert_true(an + bn + cn < TJ_MAX);
    memmove(dst, a, an);
    memcpy(dst + an, b, bn);
    memcpy(dst + an + bn, c, cn);
    dst[an + bn + cn] = '\0';
}

/* authn_jwt_verify on the full key set and every algorithm; frees the claims. */
static enum authn_jwt_err
verify_on(const char *tok, const struct authn_keyset *set)
{
    struct authn_claims *c = NULL;
    enum authn_jwt_err e = authn_jwt_verify(tok, strlen(tok), set, TJ_ALL_ALGS, &c, NULL);

    assert_true((e == AUTHN_JWT_OK) == (c != NULL));
    authn_claims_free(c);
    return e;
}

static enum authn_jwt_err
verify(const char *tok)
{
    return verify_on(tok, ks);
}

/* Verify, then check the claims at NOW against `r` (and x5t). */
static enum authn_jwt_err
verify_check(const char *tok, const struct pol_jwt *r, const char *x5t)
{
    struct authn_claims *c = NULL;
    enum authn_jwt_err e = authn_jwt_verify(tok, strlen(tok), ks, TJ_ALL_ALGS, &c, NULL);

    if (e == AUTHN_JWT_OK)
        e = authn_claims_check(c, &issuer, r, NOW, x5t, NULL);
    authn_claims_free(c);
    return e;
}

static enum authn_jwt_err
check_claims(const char *extra_or_full, bool full)
{
    char *p = full ? strdup(extra_or_full) : claims(extra_or_full);
    char *h = hdr("ES256", "ec256", NULL), *t = tj_token(h, p, "ES256", ec256);
    enum authn_jwt_err e = verify_check(t, &route, NULL);

    free(p);
    free(h);
    free(t);
    return e;
}

/* {"iss":ISS,"aud":"billing","exp":NOW+600 <extra>}: no sub, no scope */
static enum authn_jwt_err
check_base(const char *extra)
{
    char x[1024];

    snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld%s}", NOW + 600,
             extra);
    return check_claims(x, true);
}

/* --- every algorithm, with the right key -------------------------------------------- */

static void
accepted(const char *alg, EVP_PKEY *pk, const char *kid)
{
    char *t = mint(alg, pk, kid, NULL);

    assert_int_equal(verify_check(t, &route, NULL), AUTHN_JWT_OK);
    free(t);
}

static void
test_verify_rs256_accepted(void **state)
{
    (void)state;
    accepted("RS256", rsa, "rsa");
    accepted("RS256", rsa_rs, "rsa-rs256");
}

static void
test_verify_rs384_accepted(void **state)
{
    (void)state;
    accepted("RS384", rsa, "rsa");
}

static void
test_verify_rs512_accepted(void **state)
{
    (void)state;
    accepted("RS512", rsa, "rsa");
}

static void
test_verify_ps256_accepted(void **state)
{
    (void)state;
    accepted("PS256", rsa, "rsa");
}

static void
test_verify_ps384_accepted(void **state)
{
    (void)state;
    accepted("PS384", rsa, "rsa");
}

static void
test_verify_ps512_accepted(void **state)
{
    (void)state;
    accepted("PS512", rsa, "rsa");
}

static void
test_verify_es256_accepted(void **state)
{
    (void)state;
    accepted("ES256", ec256, "ec256");
}

static void
test_verify_es384_accepted(void **state)
{
    (void)state;
    accepted("ES384", ec384, "ec384");
}

static void
test_verify_es512_accepted(void **state)
{
    (void)state;
    accepted("ES512", ec521, "ec521");
}

static void
test_verify_eddsa_accepted(void **state)
{
    (void)state;
    accepted("EdDSA", ed, "ed");
}

static void
test_verify_claims_filled(void **state)
{
    char *t = mint("ES256", ec256, "ec256",
                   ",\"nbf\":1699999000,\"cnf\":{\"x5t#S256\":\"abc\"},"
                   "\"email\":\"a@example.com\"");
    struct authn_claims *c = NULL;
    char kid[AUTHN_JWT_MAX_KID + 1];
    unsigned char sha[32];

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, kid), AUTHN_JWT_OK);
    assert_string_equal(kid, "ec256");
    assert_string_equal(c->iss, ISS);
    assert_string_equal(c->sub, "alice");
    assert_string_equal(c->jti, "j1");
    assert_string_equal(c->kid, "ec256");
    assert_int_equal(c->naud, 1);
    assert_string_equal(c->aud[0], "billing");
    assert_int_equal(c->nscopes, 2);
    assert_string_equal(c->scopes[0], "billing:read");
    assert_string_equal(c->scopes[1], "billing:write");
    assert_string_equal(c->scope_str, "billing:read billing:write");
    assert_true(c->exp == NOW + 600);
    assert_true(c->iat == NOW - 10);
    assert_true(c->nbf == 1699999000);
    assert_string_equal(c->cnf_x5t, "abc");
    assert_int_equal(c->alg, POL_ALG_ES256);
    tj_spki_sha256(ec256, sha);
    assert_memory_equal(c->key_sha256, sha, 32);
    assert_string_equal(json_string_value(json_object_get(c->payload, "email")), "a@example.com");
    assert_true(authn_keyset_contains(ks, c->kid, c->key_sha256));
    authn_claims_free(c);
    free(t);
}

static void
test_verify_absent_claims_null(void **state)
{
    char *h = hdr("ES256", "ec256", NULL), *t = tj_token(h, "{}", "ES256", ec256);
    struct authn_claims *c = NULL;

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, NULL), AUTHN_JWT_OK);
    assert_null(c->iss);
    assert_null(c->sub);
    assert_null(c->jti);
    assert_null(c->cnf_x5t);
    assert_int_equal(c->naud, 0);
    assert_int_equal(c->nscopes, 0);
    assert_string_equal(c->scope_str, "");
    assert_true(c->exp == INT64_MIN && c->nbf == INT64_MIN && c->iat == INT64_MIN);
    assert_int_equal(authn_claims_check(c, &issuer, &route, NOW, NULL, NULL), AUTHN_JWT_ISSUER);
    authn_claims_free(c);
    free(h);
    free(t);
}

/* --- algorithm attacks ------------------------------------------------------------------- */

static void
test_verify_alg_none_rejected(void **state)
{
    char *h = tj_b64s("{\"alg\":\"none\",\"kid\":\"rsa\"}"),
         *good = mint("RS256", rsa, "rsa", NULL);
    char *p = claims(""), *pb = tj_b64s(p), tok[TJ_MAX];

    (void)state;
    snprintf(tok, sizeof(tok), "%s.%s.", h, pb); /* the RFC 7519 unsecured form */
    assert_int_equal(verify(tok), AUTHN_JWT_ALG);
    snprintf(tok, sizeof(tok), "%s.%s.%s", h, pb, strrchr(good, '.') + 1); /* with a signature */
    assert_int_equal(verify(tok), AUTHN_JWT_ALG);
    snprintf(tok, sizeof(tok), "%s.%s", h, pb); /* no third part at all */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    free(h);
    h = tj_b64s("{\"alg\":\"None\",\"kid\":\"rsa\"}");
    snprintf(tok, sizeof(tok), "%s.%s.", h, pb);
    assert_int_equal(verify(tok), AUTHN_JWT_ALG);
    free(h);
    free(p);
    free(pb);
    free(good);
}

static void
test_verify_alg_absent_or_not_string_rejected(void **state)
{
    char *p = claims(""), *t;

    (void)state;
    t = tj_token("{\"kid\":\"rsa\"}", p, "RS256", rsa);
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    t = tj_token("{\"alg\":256,\"kid\":\"rsa\"}", p, "RS256", rsa);
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    t = tj_token("{\"alg\":\"rs256\",\"kid\":\"rsa\"}", p, "RS256", rsa);
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    free(p);
}

static void
test_verify_hs256_with_pem_rejected(void **state)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL, *p = claims(""), *t;
    long n;

    (void)state;
    PEM_write_bio_PUBKEY(b, rsa);
    n = BIO_get_mem_data(b, &pem);
    t = tj_token_hmac("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa\"}", p, "HS256", NULL,
                      (const unsigned char *)pem, (size_t)n);
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    BIO_free(b);
    free(p);
}

static void
test_verify_hs256_with_jwk_json_rejected(void **state)
{
    char *p = claims(""), *t;

    (void)state;
    t = tj_token_hmac("{\"alg\":\"HS256\",\"kid\":\"rsa\"}", p, "HS256", NULL,
                      (const unsigned char *)jwk_rsa, strlen(jwk_rsa));
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    /* and HS384/HS512 the same */
    t = tj_token_hmac("{\"alg\":\"HS512\",\"kid\":\"rsa\"}", p, "HS256", NULL,
                      (const unsigned char *)jwk_rsa, strlen(jwk_rsa));
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    free(p);
}

static void
test_verify_rs256_header_es256_signature_rejected(void **state)
{
    char *p = claims(""), *h, *t;

    (void)state;
    /* an EC signature under the EC key's kid, labelled RS256: not the key's algorithm */
    h = hdr("RS256", "ec256", NULL);
    t = tj_token_hmac(h, p, "ES256", ec256, NULL, 0);
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(h);
    free(t);
    /* the same EC signature presented under the RSA key's kid: 64 bytes are no RSA signature */
    h = hdr("RS256", "rsa", NULL);
    t = tj_token_hmac(h, p, "ES256", ec256, NULL, 0);
    assert_int_equal(verify(t), AUTHN_JWT_SIGNATURE);
    free(h);
    free(t);
    free(p);
}

static void
test_verify_es256_header_rsa_key_rejected(void **state)
{
    char *p = claims(""), *h = hdr("ES256", "rsa", NULL), *t = tj_token(h, p, "RS256", rsa);

    (void)state;
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
    free(h);
    free(p);
}

static void
test_verify_ps256_key_alg_rs256_rejected(void **state)
{
    char *t = mint("PS256", rsa_rs, "rsa-rs256", NULL);

    (void)state;
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
}

static void
test_verify_alg_outside_allowlist_rejected(void **state)
{
    char *t = mint("RS256", rsa, "rsa", NULL);
    struct authn_claims *c = NULL;

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, POL_ALG_ES256 | POL_ALG_PS256, &c, NULL),
                     AUTHN_JWT_ALG);
    assert_null(c);
    free(t);
}

static void
test_verify_eddsa_header_ec_key_rejected(void **state)
{
    char *t = mint("EdDSA", ed, "ec256", NULL);

    (void)state;
    assert_int_equal(verify(t), AUTHN_JWT_ALG);
    free(t);
}

/* --- tampering ----------------------------------------------------------------------------- */

static void
test_verify_tampered_payload_rejected(void **state)
{
    char *t = mint("RS256", rsa, "rsa", NULL), *evil = mint("RS256", rsa, "rsa", ",\"admin\":1");
    char tok[TJ_MAX], *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
    char *e1 = strchr(evil, '.'), *e2 = strrchr(evil, '.');

    (void)state;
    /* header of t, payload of evil, signature of t */
    cat(tok, t, (size_t)(d1 - t), e1, (size_t)(e2 - e1), d2, strlen(d2));
    assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
    free(t);
    free(evil);
}

static void
test_verify_tampered_signature_rejected(void **state)
{
    const char *algs[] = {"RS256", "PS256", "ES256", "ES512", "EdDSA"};
    EVP_PKEY *keys[] = {rsa, rsa, ec256, ec521, ed};
    const char *kids[] = {"rsa", "rsa", "ec256", "ec521", "ed"};
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++) {
        char *t = mint(algs[i], keys[i], kids[i], NULL), *s = strrchr(t, '.') + 1;
        size_t mid = strlen(s) / 2;
        s[mid] = s[mid] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(t), AUTHN_JWT_SIGNATURE);
        free(t);
    }
}

static void
test_verify_truncated_or_extended_signature_rejected(void **state)
{
    const char *algs[] = {"RS256", "ES256", "ES384", "EdDSA"};
    EVP_PKEY *keys[] = {rsa, ec256, ec384, ed};
    const char *kids[] = {"rsa", "ec256", "ec384", "ed"};
    char tok[TJ_MAX];
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        char *t = mint(algs[i], keys[i], kids[i], NULL);
        char *s = strrchr(t, '.') + 1, *e;
        unsigned char sig[1200];
        size_t n = 0;
        assert_int_equal(pc_b64url_decode(s, strlen(s), sig, sizeof(sig) - 1, &n), 0);
        e = tj_b64(sig, n - 1); /* one byte fewer */
        cat(tok, t, (size_t)(s - t), e, strlen(e), "", 0);
        assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
        free(e);
        sig[n] = 0;
        e = tj_b64(sig, n + 1); /* one zero byte more */
        cat(tok, t, (size_t)(s - t), e, strlen(e), "", 0);
        assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
        free(e);
        e = tj_b64(sig + 1, n - 1); /* the first byte cut */
        cat(tok, t, (size_t)(s - t), e, strlen(e), "", 0);
        assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
        free(e);
        cat(tok, t, (size_t)(strrchr(t, '.') - t + 1), "", 0, "", 0); /* empty */
        assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
        free(t);
    }
}

static void
test_verify_signature_above_any_key_rejected(void **state)
{
    char *t = mint("RS256", rsa, "rsa", NULL), *big = malloc(TJ_MAX);

    (void)state;
    /* 1100 zero bytes: larger than the largest accepted RSA modulus */
    cat(big, t, (size_t)(strrchr(t, '.') - t + 1), "", 0, "", 0);
    memset(big + strlen(big), 'A', 1468);
    big[strlen(t) - strlen(strrchr(t, '.')) + 1 + 1468] = '\0';
    assert_int_equal(verify(big), AUTHN_JWT_SIGNATURE);
    free(big);
    free(t);
}

static void
test_verify_es256_der_signature_rejected(void **state)
{
    char *h = hdr("ES256", "ec256", NULL), *p = claims(""), *hb = tj_b64s(h), *pb = tj_b64s(p);
    char si[TJ_MAX], *sb, tok[TJ_MAX];
    unsigned char der[200];
    size_t dl = sizeof(der);
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    (void)state;
    snprintf(si, sizeof(si), "%s.%s", hb, pb);
    assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, ec256), 1);
    assert_int_equal(EVP_DigestSign(m, der, &dl, (unsigned char *)si, strlen(si)), 1);
    sb = tj_b64(der, dl);
    snprintf(tok, sizeof(tok), "%s.%s", si, sb);
    assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
    EVP_MD_CTX_free(m);
    free(h);
    free(p);
    free(hb);
    free(pb);
    free(sb);
}

static void
test_verify_ps256_wrong_salt_rejected(void **state)
{
    char *h = hdr("PS256", "rsa", NULL), *p = claims(""), *hb = tj_b64s(h), *pb = tj_b64s(p);
    char si[TJ_MAX], *sb, tok[TJ_MAX];
    unsigned char sig[512];
    size_t sl;
    int salts[] = {0, 20, RSA_PSS_SALTLEN_MAX};
    size_t i;

    (void)state;
    snprintf(si, sizeof(si), "%s.%s", hb, pb);
    for (i = 0; i < 3; i++) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        sl = sizeof(sig);
        assert_int_equal(EVP_DigestSignInit(m, &pc, EVP_sha256(), NULL, rsa), 1);
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salts[i]);
        assert_int_equal(EVP_DigestSign(m, sig, &sl, (unsigned char *)si, strlen(si)), 1);
        sb = tj_b64(sig, sl);
        snprintf(tok, sizeof(tok), "%s.%s", si, sb);
        assert_int_equal(verify(tok), AUTHN_JWT_SIGNATURE);
        free(sb);
        EVP_MD_CTX_free(m);
    }
    free(h);
    free(p);
    free(hb);
    free(pb);
}

/* --- keys and kid ---------------------------------------------------------------------------- */

static void
test_verify_unknown_kid_rejected(void **state)
{
    char *t = mint("RS256", rsa, "rotated-away", NULL);
    struct authn_claims *c = NULL;
    char kid[AUTHN_JWT_MAX_KID + 1];

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, kid),
                     AUTHN_JWT_KID_UNKNOWN);
    assert_string_equal(kid, "rotated-away");
    assert_null(c);
    free(t);
}

static void
test_verify_missing_kid_two_keys_rejected(void **state)
{
    char *p = claims(""), *t = tj_token("{\"alg\":\"RS256\"}", p, "RS256", rsa);
    struct authn_claims *c = NULL;
    char kid[AUTHN_JWT_MAX_KID + 1] = "junk";

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, kid),
                     AUTHN_JWT_KID_MISSING);
    assert_string_equal(kid, "");
    free(t);
    /* an empty kid is no kid */
    t = tj_token("{\"alg\":\"RS256\",\"kid\":\"\"}", p, "RS256", rsa);
    assert_int_equal(verify(t), AUTHN_JWT_KID_MISSING);
    free(t);
    free(p);
}

static void
test_verify_missing_kid_one_key_accepted(void **state)
{
    char *p = claims(""), *t = tj_token("{\"alg\":\"ES256\"}", p, "ES256", ec256);
    struct authn_claims *c = NULL;

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks_one, TJ_ALL_ALGS, &c, NULL), AUTHN_JWT_OK);
    assert_null(c->kid);
    assert_true(authn_keyset_contains(ks_one, NULL, c->key_sha256));
    authn_claims_free(c);
    free(t);
    /* a kid the kid-less key does not carry */
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\"}", p, "ES256", ec256);
    assert_int_equal(verify_on(t, ks_one), AUTHN_JWT_KID_UNKNOWN);
    free(t);
    free(p);
}

static void
test_verify_kid_not_string_or_too_long_malformed(void **state)
{
    char *p = claims(""), *t, h[600];
    char kid[AUTHN_JWT_MAX_KID + 1] = "junk";
    struct authn_claims *c = NULL;

    (void)state;
    t = tj_token("{\"alg\":\"RS256\",\"kid\":7}", p, "RS256", rsa);
    assert_int_equal(verify(t), AUTHN_JWT_MALFORMED);
    free(t);
    snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"%0*d\"}", AUTHN_JWT_MAX_KID + 1, 0);
    t = tj_token(h, p, "RS256", rsa);
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, kid), AUTHN_JWT_MALFORMED);
    assert_string_equal(kid, "");
    free(t);
    /* exactly the cap is a kid (unknown here), copied whole */
    snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"%0*d\"}", AUTHN_JWT_MAX_KID, 0);
    t = tj_token(h, p, "RS256", rsa);
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, kid),
                     AUTHN_JWT_KID_UNKNOWN);
    assert_int_equal(strlen(kid), AUTHN_JWT_MAX_KID);
    free(t);
    free(p);
}

static void
test_verify_no_keys_rejected(void **state)
{
    char *t = mint("RS256", rsa, "rsa", NULL);
    struct authn_claims *c = NULL;
    char kid[AUTHN_JWT_MAX_KID + 1];

    (void)state;
    assert_int_equal(authn_jwt_verify(t, strlen(t), NULL, TJ_ALL_ALGS, &c, kid), AUTHN_JWT_NO_KEYS);
    assert_string_equal(kid, "rsa");
    free(t);
}

static void
test_verify_embedded_jwk_ignored(void **state)
{
    char *ej = tj_jwk(evil_ec, "ec256", NULL, NULL), *p = claims(""), x[TJ_MAX], *t;

    (void)state;
    /* the attacker signs with a key of their own and ships it in the header */
    snprintf(x, sizeof(x), "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"jwk\":%s}", ej);
    t = tj_token(x, p, "ES256", evil_ec);
    assert_int_equal(verify(t), AUTHN_JWT_SIGNATURE);
    free(t);
    snprintf(x, sizeof(x), "{\"alg\":\"ES256\",\"jwk\":%s}", ej);
    t = tj_token(x, p, "ES256", evil_ec);
    assert_int_equal(verify(t), AUTHN_JWT_KID_MISSING);
    free(t);
    free(ej);
    free(p);
}

static void
test_verify_jku_x5u_x5c_ignored(void **state)
{
    char *t, *p = claims("");

    (void)state;
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\",\"jku\":\"https://evil.example/jwks\","
                 "\"x5u\":\"https://evil.example/c.pem\",\"x5c\":[\"MIIB\"]}",
                 p, "ES256", evil_ec);
    assert_int_equal(verify(t), AUTHN_JWT_SIGNATURE);
    free(t);
    /* with the right key they change nothing either */
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\",\"jku\":\"https://evil.example/jwks\"}", p,
                 "ES256", ec256);
    assert_int_equal(verify(t), AUTHN_JWT_OK);
    free(t);
    free(p);
}

/* --- syntax ---------------------------------------------------------------------------------- */

static void
test_verify_jwe_rejected(void **state)
{
    (void)state;
    assert_int_equal(verify("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y3Q.dGFn"), AUTHN_JWT_JWE);
    assert_int_equal(verify("a.b.c.d.e.f"), AUTHN_JWT_MALFORMED);
    assert_int_equal(verify("a.b.c.d"), AUTHN_JWT_MALFORMED);
    assert_int_equal(verify("abc"), AUTHN_JWT_MALFORMED);
    assert_int_equal(verify("...."), AUTHN_JWT_JWE);
}

static void
test_verify_bad_base64url_rejected(void **state)
{
    char *t = mint("ES256", ec256, "ec256", NULL), tok[TJ_MAX], *d1, *d2;
    size_t h, p;

    (void)state;
    d1 = strchr(t, '.');
    d2 = strrchr(t, '.');
    h = (size_t)(d1 - t);
    p = (size_t)(d2 - d1 - 1);
    cat(tok, t, h, "=.", 2, d1 + 1, strlen(d1 + 1)); /* header padded */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    cat(tok, t, h + 1 + p, "=", 1, d2, strlen(d2)); /* payload padded */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s=", t); /* signature padded */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", t);
    tok[3] = '+'; /* standard alphabet in the header */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", t);
    tok[h + 3] = '/'; /* in the payload */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", t);
    tok[strlen(tok) - 5] = '+'; /* in the signature */
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", t);
    tok[h + 3] = ' ';
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    free(t);
}

static void
test_verify_payload_base64_checked_before_signature(void **state)
{
    /* a payload with '=' signed as such: the syntax is refused, not the crypto */
    char *h = tj_b64s("{\"alg\":\"ES256\",\"kid\":\"ec256\"}"), *p = claims(""), *pb = tj_b64s(p);
    char si[TJ_MAX], tok[TJ_MAX], *sb;
    unsigned char sig[200];
    size_t sl = 0;

    (void)state;
    snprintf(si, sizeof(si), "%s.%s==", h, pb);
    tj_sign_raw("ES256", ec256, (unsigned char *)si, strlen(si), sig, &sl);
    sb = tj_b64(sig, sl);
    snprintf(tok, sizeof(tok), "%s.%s", si, sb);
    assert_int_equal(verify(tok), AUTHN_JWT_MALFORMED);
    free(h);
    free(p);
    free(pb);
    free(sb);
}

static void
test_verify_non_object_header_or_payload_rejected(void **state)
{
    const char *bad[] = {"[]", "\"x\"", "1", "null", "", "{", "{} {}", "{\"alg\":\"ES256\"}x"};
    char *t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = tj_token(bad[i], "{}", "ES256", ec256);
        assert_int_equal(verify(t), AUTHN_JWT_MALFORMED);
        free(t);
        t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\"}", bad[i], "ES256", ec256);
        assert_int_equal(verify(t), AUTHN_JWT_MALFORMED);
        free(t);
    }
}

static void
test_verify_duplicate_json_keys_rejected(void **state)
{
    char *t, *p = claims(""), *pd = claims(",\"exp\":1");

    (void)state;
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\",\"alg\":\"none\"}", p, "ES256", ec256);
    assert_int_equal(verify(t), AUTHN_JWT_MALFORMED);
    free(t);
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\"}", pd, "ES256", ec256);
    assert_int_equal(verify(t), AUTHN_JWT_MALFORMED);
    free(t);
    free(p);
    free(pd);
}

static void
test_verify_nul_in_header_string_rejected(void **state)
{
    char *p = claims(""), *t;

    (void)state;
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\\u0000x\"}", p, "ES256", ec256);
    assert_int_equal(verify(t), AUTHN_JWT_MALFORMED);
    free(t);
    free(p);
}

static void
test_verify_crit_rejected(void **state)
{
    char *p = claims(""), *t;

    (void)state;
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\",\"crit\":[\"exp\"],\"exp\":1}", p, "ES256",
                 ec256);
    assert_int_equal(verify(t), AUTHN_JWT_CRIT);
    free(t);
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\",\"crit\":[]}", p, "ES256", ec256);
    assert_int_equal(verify(t), AUTHN_JWT_CRIT);
    free(t);
    free(p);
}

static void
test_verify_typ_checked(void **state)
{
    const char *ok[] = {"JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/JWT"};
    const char *bad[] = {"JOSE+JSON", "JOSE", "", "application/", "at+jwt ", "application/json"};
    char *p = claims(""), h[256], *t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"typ\":\"%s\"}", ok[i]);
        t = tj_token(h, p, "ES256", ec256);
        assert_int_equal(verify(t), AUTHN_JWT_OK);
        free(t);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"typ\":\"%s\"}", bad[i]);
        t = tj_token(h, p, "ES256", ec256);
        assert_int_equal(verify(t), AUTHN_JWT_TYP);
        free(t);
    }
    t = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec256\",\"typ\":1}", p, "ES256", ec256);
    assert_int_equal(verify(t), AUTHN_JWT_TYP);
    free(t);
    free(p);
}

static void
test_verify_empty_or_too_large_rejected(void **state)
{
    struct authn_claims *c = NULL;
    char *big = malloc(70000);

    (void)state;
    assert_int_equal(authn_jwt_verify("", 0, ks, TJ_ALL_ALGS, &c, NULL), AUTHN_JWT_MALFORMED);
    memset(big, 'A', 70000);
    assert_int_equal(authn_jwt_verify(big, 65537, ks, TJ_ALL_ALGS, &c, NULL), AUTHN_JWT_TOO_LARGE);
    assert_int_equal(authn_jwt_verify(big, 65536, ks, TJ_ALL_ALGS, &c, NULL), AUTHN_JWT_MALFORMED);
    assert_null(c);
    free(big);
}

/* --- claims ---------------------------------------------------------------------------------- */

static void
test_check_expired_rejected(void **state)
{
    char x[128];

    (void)state;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:read\","
             "\"exp\":%lld}",
             NOW - 30);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_EXPIRED); /* exp + leeway == now */
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:read\","
             "\"exp\":%lld}",
             NOW - 29);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_OK);
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:read\","
             "\"exp\":%lld.9}",
             NOW - 30); /* a fraction does not buy a second */
    assert_int_equal(check_claims(x, true), AUTHN_JWT_EXPIRED);
}

static void
test_check_nbf_future_rejected(void **state)
{
    char x[64];

    (void)state;
    snprintf(x, sizeof(x), ",\"nbf\":%lld", NOW + 31);
    assert_int_equal(check_claims(x, false), AUTHN_JWT_NOT_YET_VALID);
    snprintf(x, sizeof(x), ",\"nbf\":%lld", NOW + 30);
    assert_int_equal(check_claims(x, false), AUTHN_JWT_OK);
    snprintf(x, sizeof(x), ",\"nbf\":%lld.1", NOW + 30);
    assert_int_equal(check_claims(x, false), AUTHN_JWT_NOT_YET_VALID);
}

static void
test_check_nbf_not_number_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_claims(",\"nbf\":\"soon\"", false), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_claims(",\"nbf\":true", false), AUTHN_JWT_MALFORMED);
}

static void
test_check_iat_future_beyond_leeway_rejected(void **state)
{
    char x[256];

    (void)state;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:read\","
             "\"exp\":%lld,\"iat\":%lld}",
             NOW + 600, NOW + 31);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_IAT_FUTURE);
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:read\","
             "\"exp\":%lld,\"iat\":\"x\"}",
             NOW + 600);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_MALFORMED);
}

static void
test_check_iat_future_within_leeway_accepted(void **state)
{
    char x[256];

    (void)state;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:read\","
             "\"exp\":%lld,\"iat\":%lld}",
             NOW + 600, NOW + 30);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_OK);
}

static void
test_check_missing_exp_rejected(void **state)
{
    (void)state;
    assert_int_equal(check_claims("{\"iss\":\"" ISS "\",\"aud\":\"billing\"}", true),
                     AUTHN_JWT_NO_EXP);
    assert_int_equal(check_claims("{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":\"1\"}", true),
                     AUTHN_JWT_NO_EXP);
    assert_int_equal(check_claims("{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":null}", true),
                     AUTHN_JWT_NO_EXP);
}

static void
test_check_exp_huge_clamped(void **state)
{
    (void)state;
    assert_int_equal(check_claims("{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:"
                                  "read\",\"exp\":9223372036854775807}",
                                  true),
                     AUTHN_JWT_OK);
    assert_int_equal(check_claims("{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:"
                                  "read\",\"exp\":1e300}",
                                  true),
                     AUTHN_JWT_OK);
    assert_int_equal(check_claims("{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"scope\":\"billing:"
                                  "read\",\"exp\":-9223372036854775807}",
                                  true),
                     AUTHN_JWT_EXPIRED);
}

static void
test_check_iss_trailing_slash_rejected(void **state)
{
    char x[256];

    (void)state;
    snprintf(x, sizeof(x), "{\"iss\":\"https://idp.example\",\"aud\":\"billing\",\"exp\":%lld}",
             NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_ISSUER);
    snprintf(x, sizeof(x), "{\"iss\":\"https://IDP.example/\",\"aud\":\"billing\",\"exp\":%lld}",
             NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_ISSUER);
    snprintf(x, sizeof(x), "{\"iss\":[\"" ISS "\"],\"aud\":\"billing\",\"exp\":%lld}", NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_ISSUER);
    snprintf(x, sizeof(x), "{\"aud\":\"billing\",\"exp\":%lld}", NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_ISSUER);
}

static void
test_check_aud_rejected(void **state)
{
    char x[256];
    const char *bad[] = {"",
                         ",\"aud\":\"billing2\"",
                         ",\"aud\":[]",
                         ",\"aud\":[\"a\",\"b\"]",
                         ",\"aud\":[\"billing\",1]",
                         ",\"aud\":{\"billing\":1}",
                         ",\"aud\":\"Billing\""};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"exp\":%lld%s}", NOW + 60, bad[i]);
        assert_int_equal(check_claims(x, true), AUTHN_JWT_AUDIENCE);
    }
}

static void
test_check_aud_array_with_ours_accepted(void **state)
{
    char x[256];

    (void)state;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"exp\":%lld,\"aud\":[\"a\",\"billing\"],"
             "\"scope\":\"billing:read\"}",
             NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_OK);
}

static void
test_check_aud_too_many_malformed(void **state)
{
    char x[512];

    (void)state;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"exp\":%lld,\"aud\":[\"1\",\"2\",\"3\",\"4\","
             "\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\","
             "\"16\",\"billing\"]}",
             NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_MALFORMED);
}

static void
test_check_scope_missing_rejected(void **state)
{
    char x[256];
    struct authn_claims *c = NULL;
    const char *missing = NULL;
    struct pol_jwt two = route;
    char *h = hdr("ES256", "ec256", NULL), *t;

    (void)state;
    two.nscopes = 2;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld,"
             "\"scope\":\"billing:read billing:readx\"}",
             NOW + 60);
    t = tj_token(h, x, "ES256", ec256);
    assert_int_equal(authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, NULL), AUTHN_JWT_OK);
    assert_int_equal(authn_claims_check(c, &issuer, &two, NOW, NULL, &missing), AUTHN_JWT_SCOPE);
    assert_string_equal(missing, "billing:write");
    assert_int_equal(authn_claims_check(c, &issuer, &route, NOW, NULL, &missing), AUTHN_JWT_OK);
    assert_null(missing);
    authn_claims_free(c);
    free(t);
    free(h);
    snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld}", NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_SCOPE);
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld,"
             "\"scp\":[\"billing:read\",2]}",
             NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_SCOPE);
}

static void
test_check_scope_forms_accepted(void **state)
{
    const char *forms[] = {",\"scope\":\"  x billing:read  y\"",
                           ",\"scp\":[\"x\",\"billing:read\"]", ",\"scp\":\"billing:read\"",
                           ",\"scope\":\"billing:read\",\"scp\":[\"other\"]"};
    char x[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld%s}", NOW + 60,
                 forms[i]);
        assert_int_equal(check_claims(x, true), AUTHN_JWT_OK);
    }
    /* "scope" wins over "scp" */
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld,"
             "\"scope\":\"other\",\"scp\":[\"billing:read\"]}",
             NOW + 60);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_SCOPE);
}

static void
test_check_scope_bad_token_malformed(void **state)
{
    char x[8192];
    size_t o;
    int i;

    (void)state;
    assert_int_equal(check_base(",\"scp\":[\"a b\"]"), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"scp\":[\"\"]"), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"scp\":[\"a\\\"\"]"), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"scp\":\"a\\tb\""), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"scope\":\"billing:read \\u00e9\""), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"scp\":[\"billing:read\"]"), AUTHN_JWT_OK);
    o = (size_t)snprintf(x, sizeof(x),
                         "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld,"
                         "\"scope\":\"billing:read",
                         NOW + 60);
    for (i = 0; i < AUTHN_JWT_MAX_SCOPES; i++)
        o += (size_t)snprintf(x + o, sizeof(x) - o, " s%d", i);
    snprintf(x + o, sizeof(x) - o, "\"}");
    assert_int_equal(check_claims(x, true), AUTHN_JWT_MALFORMED);
}

static void
test_check_control_bytes_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_base(",\"sub\":\"alice\\r\\nX-Auth-Subject: root\""),
                     AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"jti\":\"\\u007f\""), AUTHN_JWT_MALFORMED);
    assert_int_equal(check_base(",\"iss2\":1,\"cnf\":{\"x5t#S256\":\"a\\u0001\"}"),
                     AUTHN_JWT_MALFORMED);
    assert_int_equal(
        check_claims("{\"iss\":\"" ISS "\",\"exp\":1,\"aud\":[\"billing\",\"\\n\"]}", true),
        AUTHN_JWT_MALFORMED);
}

static void
test_check_binding(void **state)
{
    static const char x5t[] = "q3RmCNzJCe_pHFqmtRrOS6uDnnr1ZKQYkWKHOvu3ZNY";
    struct pol_jwt bound = route;
    char x[256], *h = hdr("ES256", "ec256", NULL), *t;

    (void)state;
    bound.bind_to_client_cert = true;
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld,"
             "\"scope\":\"billing:read\",\"cnf\":{\"x5t#S256\":\"%s\"}}",
             NOW + 60, x5t);
    t = tj_token(h, x, "ES256", ec256);
    assert_int_equal(verify_check(t, &bound, x5t), AUTHN_JWT_OK);
    assert_int_equal(verify_check(t, &bound, "q3RmCNzJCe_pHFqmtRrOS6uDnnr1ZKQYkWKHOvu3ZNA"),
                     AUTHN_JWT_BINDING);
    assert_int_equal(verify_check(t, &bound, "q3RmCNzJCe_pHFqmtRrOS6uDnnr1ZKQYkWKHOvu3ZN"),
                     AUTHN_JWT_BINDING);
    assert_int_equal(verify_check(t, &bound, NULL), AUTHN_JWT_BINDING);
    assert_int_equal(verify_check(t, &route, NULL), AUTHN_JWT_OK); /* binding not required */
    free(t);
    /* cnf missing, or not an object */
    snprintf(x, sizeof(x),
             "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld,"
             "\"scope\":\"billing:read\",\"cnf\":\"%s\"}",
             NOW + 60, x5t);
    t = tj_token(h, x, "ES256", ec256);
    assert_int_equal(verify_check(t, &bound, x5t), AUTHN_JWT_BINDING);
    free(t);
    t = mint("ES256", ec256, "ec256", NULL);
    assert_int_equal(verify_check(t, &bound, x5t), AUTHN_JWT_BINDING);
    free(t);
    free(h);
}

static void
test_check_order_most_useful_first(void **state)
{
    struct pol_jwt bound = route;
    char x[256];

    (void)state;
    bound.bind_to_client_cert = true;
    /* expired and for another audience: the audience is the lasting problem */
    snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"aud\":\"other\",\"exp\":%lld}", NOW - 100);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_AUDIENCE);
    /* expired and without the scope: 401 expired, not 403 */
    snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld}", NOW - 100);
    assert_int_equal(check_claims(x, true), AUTHN_JWT_EXPIRED);
    /* unbound and without the scope: binding first */
    {
        char *h = hdr("ES256", "ec256", NULL), *t;
        snprintf(x, sizeof(x), "{\"iss\":\"" ISS "\",\"aud\":\"billing\",\"exp\":%lld}", NOW + 60);
        t = tj_token(h, x, "ES256", ec256);
        assert_int_equal(verify_check(t, &bound, "abc"), AUTHN_JWT_BINDING);
        free(t);
        free(h);
    }
}

static void
test_check_null_arguments_denied(void **state)
{
    (void)state;
    assert_int_equal(authn_claims_check(NULL, &issuer, &route, NOW, NULL, NULL), AUTHN_JWT_ISSUER);
}

/* --- threads: one key set (and its DigestVerify templates) shared by workers ----------- */

#define THREADS    4
#define THREAD_RUN 200

static char *mt_tokens[6];

static void *
mt_worker(void *arg)
{
    size_t i, bad = 0;

    (void)arg;
    for (i = 0; i < THREAD_RUN * 6; i++) {
        const char *t = mt_tokens[i % 6];
        struct authn_claims *c = NULL;
        enum authn_jwt_err e = authn_jwt_verify(t, strlen(t), ks, TJ_ALL_ALGS, &c, NULL);
        /* the last token is tampered: it must fail every time, the others pass */
        if ((i % 6 == 5) != (e == AUTHN_JWT_SIGNATURE) || (i % 6 != 5 && e != AUTHN_JWT_OK))
            bad++;
        authn_claims_free(c);
    }
    return (void *)bad;
}

static void
test_verify_concurrent_threads_agree(void **state)
{
    pthread_t th[THREADS];
    char *sig;
    size_t i;

    (void)state;
    mt_tokens[0] = mint("RS256", rsa, "rsa", NULL);
    mt_tokens[1] = mint("PS384", rsa, "rsa", NULL);
    mt_tokens[2] = mint("ES256", ec256, "ec256", NULL);
    mt_tokens[3] = mint("ES512", ec521, "ec521", NULL);
    mt_tokens[4] = mint("EdDSA", ed, "ed", NULL);
    mt_tokens[5] = mint("PS256", rsa, "rsa", NULL);
    sig = strrchr(mt_tokens[5], '.') + 1;
    sig[strlen(sig) / 2] = sig[strlen(sig) / 2] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(mt_tokens[5]), AUTHN_JWT_SIGNATURE);
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mt_worker, NULL), 0);
    for (i = 0; i < THREADS; i++) {
        void *bad = NULL;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_int_equal((size_t)bad, 0);
    }
    for (i = 0; i < 6; i++)
        free(mt_tokens[i]);
}

/* --- Authorization: Bearer ------------------------------------------------------------------- */

static enum authn_jwt_err
bearer(const char *v, size_t max, const char **tok, size_t *n)
{
    return authn_bearer_parse(v, strlen(v), max, tok, n);
}

static void
test_bearer_accepted(void **state)
{
    const char *t;
    size_t n;

    (void)state;
    assert_int_equal(bearer("Bearer abc.def.ghi", 100, &t, &n), AUTHN_JWT_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(t, "abc.def.ghi", 11);
    assert_int_equal(bearer("bEARER   a-_~+/.Z9==", 100, &t, &n), AUTHN_JWT_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(t, "a-_~+/.Z9==", 11);
    assert_int_equal(bearer("Bearer x", 1, &t, &n), AUTHN_JWT_OK);
}

static void
test_bearer_malformed_rejected(void **state)
{
    const char *bad[] = {"",           "Bearer",         "Bearer ",     "Bearerabc",
                         "Basic abc",  "Bearer\tabc",    "Bearer abc ", " Bearer abc",
                         "Bearer a b", "Bearer a,b",     "Bearer =abc", "Bearer a=b",
                         "Bearer a\"", "Bearer a\r\nX:", "Bearer a;b",  "Bearer\x01 a",
                         "Bearer  ",   "Bearer ab==c",   "MAC abc.d.e", "Bearer a\x80"};
    const char *t = "x";
    size_t i, n = 9;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(bearer(bad[i], 100, &t, &n), AUTHN_JWT_MALFORMED);
        assert_null(t);
        assert_int_equal(n, 0);
    }
    assert_int_equal(authn_bearer_parse("Bearer a\0b", 10, 100, &t, &n), AUTHN_JWT_MALFORMED);
}

static void
test_bearer_too_large_rejected(void **state)
{
    const char *t;
    size_t n;

    (void)state;
    assert_int_equal(bearer("Bearer abcdef", 5, &t, &n), AUTHN_JWT_TOO_LARGE);
    assert_int_equal(bearer("Bearer abcde", 5, &t, &n), AUTHN_JWT_OK);
}

static void
test_err_str_constant_and_short(void **state)
{
    int e;

    (void)state;
    for (e = 0; e <= AUTHN_JWT_MAX; e++) {
        const char *s = authn_jwt_err_str((enum authn_jwt_err)e);
        assert_non_null(s);
        assert_true(strlen(s) > 0 && strlen(s) < 60);
    }
    assert_string_equal(authn_jwt_err_str(AUTHN_JWT_EXPIRED), "token expired");
    assert_string_equal(authn_jwt_err_str(AUTHN_JWT_SIGNATURE), "signature does not verify");
    assert_string_equal(authn_jwt_err_str((enum authn_jwt_err) - 1), "invalid token");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_rs256_accepted),
        cmocka_unit_test(test_verify_rs384_accepted),
        cmocka_unit_test(test_verify_rs512_accepted),
        cmocka_unit_test(test_verify_ps256_accepted),
        cmocka_unit_test(test_verify_ps384_accepted),
        cmocka_unit_test(test_verify_ps512_accepted),
        cmocka_unit_test(test_verify_es256_accepted),
        cmocka_unit_test(test_verify_es384_accepted),
        cmocka_unit_test(test_verify_es512_accepted),
        cmocka_unit_test(test_verify_eddsa_accepted),
        cmocka_unit_test(test_verify_claims_filled),
        cmocka_unit_test(test_verify_absent_claims_null),
        cmocka_unit_test(test_verify_alg_none_rejected),
        cmocka_unit_test(test_verify_alg_absent_or_not_string_rejected),
        cmocka_unit_test(test_verify_hs256_with_pem_rejected),
        cmocka_unit_test(test_verify_hs256_with_jwk_json_rejected),
        cmocka_unit_test(test_verify_rs256_header_es256_signature_rejected),
        cmocka_unit_test(test_verify_es256_header_rsa_key_rejected),
        cmocka_unit_test(test_verify_ps256_key_alg_rs256_rejected),
        cmocka_unit_test(test_verify_alg_outside_allowlist_rejected),
        cmocka_unit_test(test_verify_eddsa_header_ec_key_rejected),
        cmocka_unit_test(test_verify_tampered_payload_rejected),
        cmocka_unit_test(test_verify_tampered_signature_rejected),
        cmocka_unit_test(test_verify_truncated_or_extended_signature_rejected),
        cmocka_unit_test(test_verify_signature_above_any_key_rejected),
        cmocka_unit_test(test_verify_es256_der_signature_rejected),
        cmocka_unit_test(test_verify_ps256_wrong_salt_rejected),
        cmocka_unit_test(test_verify_unknown_kid_rejected),
        cmocka_unit_test(test_verify_missing_kid_two_keys_rejected),
        cmocka_unit_test(test_verify_missing_kid_one_key_accepted),
        cmocka_unit_test(test_verify_kid_not_string_or_too_long_malformed),
        cmocka_unit_test(test_verify_no_keys_rejected),
        cmocka_unit_test(test_verify_embedded_jwk_ignored),
        cmocka_unit_test(test_verify_jku_x5u_x5c_ignored),
        cmocka_unit_test(test_verify_jwe_rejected),
        cmocka_unit_test(test_verify_bad_base64url_rejected),
        cmocka_unit_test(test_verify_payload_base64_checked_before_signature),
        cmocka_unit_test(test_verify_non_object_header_or_payload_rejected),
        cmocka_unit_test(test_verify_duplicate_json_keys_rejected),
        cmocka_unit_test(test_verify_nul_in_header_string_rejected),
        cmocka_unit_test(test_verify_crit_rejected),
        cmocka_unit_test(test_verify_typ_checked),
        cmocka_unit_test(test_verify_empty_or_too_large_rejected),
        cmocka_unit_test(test_verify_concurrent_threads_agree),
        cmocka_unit_test(test_check_expired_rejected),
        cmocka_unit_test(test_check_nbf_future_rejected),
        cmocka_unit_test(test_check_nbf_not_number_malformed),
        cmocka_unit_test(test_check_iat_future_beyond_leeway_rejected),
        cmocka_unit_test(test_check_iat_future_within_leeway_accepted),
        cmocka_unit_test(test_check_missing_exp_rejected),
        cmocka_unit_test(test_check_exp_huge_clamped),
        cmocka_unit_test(test_check_iss_trailing_slash_rejected),
        cmocka_unit_test(test_check_aud_rejected),
        cmocka_unit_test(test_check_aud_array_with_ours_accepted),
        cmocka_unit_test(test_check_aud_too_many_malformed),
        cmocka_unit_test(test_check_scope_missing_rejected),
        cmocka_unit_test(test_check_scope_forms_accepted),
        cmocka_unit_test(test_check_scope_bad_token_malformed),
        cmocka_unit_test(test_check_control_bytes_malformed),
        cmocka_unit_test(test_check_binding),
        cmocka_unit_test(test_check_order_most_useful_first),
        cmocka_unit_test(test_check_null_arguments_denied),
        cmocka_unit_test(test_bearer_accepted),
        cmocka_unit_test(test_bearer_malformed_rejected),
        cmocka_unit_test(test_bearer_too_large_rejected),
        cmocka_unit_test(test_err_str_constant_and_short),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
