/*
 * authn/: JWKS documents -> key sets.  Every key type, what is skipped
 * (private members, weak RSA, off-curve points, use "enc", unknown kty or
 * crv, algorithms outside the allow-list) and what fails the document
 * (not JSON, no keys array, oversized, too many keys, duplicate kids, no
 * usable key).  Keys are TEST-ONLY, generated at setup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authn/authn_jwt.h"
#include "common/pc_err.h"
#include "tests/unit/jwt_test.h"

static EVP_PKEY *rsa, *rsa1024, *ec256, *ec384, *ec521, *ed;

static int
setup(void **state)
{
    (void)state;
    rsa = tj_rsa(2048);
    rsa1024 = tj_rsa(1024);
    ec256 = tj_ec("P-256");
    ec384 = tj_ec("P-384");
    ec521 = tj_ec("P-521");
    ed = tj_ed25519();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);
    EVP_PKEY_free(ed);
    return 0;
}

/* Parse doc (freed) with algs; returns the code, *out the set, *skipped. */
static int
parse(char *doc, unsigned algs, struct authn_keyset **out, size_t *skipped, char *err)
{
    int rc = authn_keyset_parse(doc, strlen(doc), algs, out, skipped, err, 256);

    assert_true((rc == PC_OK) == (*out != NULL));
    free(doc);
    return rc;
}

/* One JWK alone in a document: how many keys came out (-1: the document failed). */
static int
one(char *jwk, unsigned algs, size_t *skipped)
{
    struct authn_keyset *ks = NULL;
    char err[256];
    int rc = parse(tj_jwks(jwk, NULL), algs, &ks, skipped, err), n;

    free(jwk);
    n = rc == PC_OK ? (int)authn_keyset_count(ks) : -1;
    if (rc != PC_OK)
        assert_int_equal(rc, PC_ERR_INVALID); /* a skipped key leaves nothing usable */
    authn_keyset_free(ks);
    return n;
}

static void
test_jwks_every_key_type_accepted(void **state)
{
    EVP_PKEY *keys[] = {rsa, ec256, ec384, ec521, ed};
    const char *kids[] = {"r", "e1", "e2", "e3", "o"};
    char *j[5], err[256];
    struct authn_keyset *ks = NULL;
    unsigned char sha[32];
    size_t i, skipped = 9;

    (void)state;
    for (i = 0; i < 5; i++)
        j[i] = tj_jwk(keys[i], kids[i], NULL, ",\"use\":\"sig\",\"key_ops\":[\"verify\"]");
    assert_int_equal(
        parse(tj_jwks(j[0], j[1], j[2], j[3], j[4], NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 5);
    assert_int_equal(skipped, 0);
    for (i = 0; i < 5; i++) {
        tj_spki_sha256(keys[i], sha);
        assert_true(authn_keyset_contains(ks, kids[i], sha));
        sha[0] ^= 1;
        assert_false(authn_keyset_contains(ks, kids[i], sha));
        free(j[i]);
    }
    tj_spki_sha256(rsa, sha);
    assert_false(authn_keyset_contains(ks, "e1", sha)); /* another key's kid */
    assert_false(authn_keyset_contains(ks, "nope", sha));
    assert_false(authn_keyset_contains(ks, NULL, sha)); /* several keys: no kid selects none */
    authn_keyset_free(ks);
}

static void
test_jwks_rsa_3072_and_leading_zero_accepted(void **state)
{
    EVP_PKEY *k = tj_rsa(3072);
    char *n = tj_b64_bn(k, OSSL_PKEY_PARAM_RSA_N, 385), jwk[2048];
    size_t skipped = 0;

    (void)state;
    assert_int_equal(one(tj_jwk(k, "a", "PS384", NULL), TJ_ALL_ALGS, &skipped), 1);
    /* n with one leading zero octet (seen in the wild) */
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", n);
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), 1);
    free(n);
    EVP_PKEY_free(k);
}

static void
test_jwks_private_members_refused(void **state)
{
    const char *priv[] = {",\"d\":\"AQAB\"",  ",\"p\":\"AQAB\"",  ",\"q\":\"AQAB\"",
                          ",\"dp\":\"AQAB\"", ",\"dq\":\"AQAB\"", ",\"qi\":\"AQAB\"",
                          ",\"oth\":[]",      ",\"k\":\"AQAB\""};
    size_t i, skipped = 0;

    (void)state;
    for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        assert_int_equal(one(tj_jwk(rsa, "a", NULL, priv[i]), TJ_ALL_ALGS, &skipped), -1);
        assert_int_equal(skipped, 1);
    }
    assert_int_equal(one(tj_jwk(ec256, "a", NULL, ",\"d\":\"AQAB\""), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(ed, "a", NULL, ",\"d\":\"AQAB\""), TJ_ALL_ALGS, &skipped), -1);
}

static void
test_jwks_private_key_skipped_among_others(void **state)
{
    char *a = tj_jwk(rsa, "priv", NULL, ",\"d\":\"AQAB\""), *b = tj_jwk(ec256, "pub", NULL, NULL);
    struct authn_keyset *ks = NULL;
    char err[256];
    size_t skipped = 0;
    unsigned char sha[32];

    (void)state;
    assert_int_equal(parse(tj_jwks(a, b, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 1);
    assert_int_equal(skipped, 1);
    assert_non_null(strstr(err, "keys[0] skipped: private"));
    tj_spki_sha256(rsa, sha);
    assert_false(authn_keyset_contains(ks, "priv", sha));
    authn_keyset_free(ks);
    free(a);
    free(b);
}

static void
test_jwks_weak_rsa_refused(void **state)
{
    char *a = tj_jwk(rsa1024, "weak", NULL, NULL), *b = tj_jwk(rsa, "strong", NULL, NULL);
    struct authn_keyset *ks = NULL;
    char err[256];
    size_t skipped = 0;

    (void)state;
    assert_int_equal(parse(tj_jwks(a, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_ERR_INVALID);
    assert_int_equal(skipped, 1);
    assert_int_equal(parse(tj_jwks(a, b, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 1);
    assert_non_null(strstr(err, "1024 bits"));
    authn_keyset_free(ks);
    free(a);
    free(b);
}

static void
test_jwks_rsa_bad_exponent_refused(void **state)
{
    char *n = tj_b64_bn(rsa, OSSL_PKEY_PARAM_RSA_N, 0), jwk[1024];
    const char *es[] = {"AQAA", "AQ", "AA", "AQABAQAB", "", "AQAB="};
    size_t i, skipped = 0;

    (void)state;
    /* even, 1, 0, above 4 bytes, empty, padded */
    for (i = 0; i < sizeof(es) / sizeof(es[0]); i++) {
        snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", n, es[i]);
        assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), -1);
    }
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\"}", n);
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), -1);
    free(n);
}

static void
test_jwks_off_curve_ec_refused(void **state)
{
    char *x = tj_b64_bn(ec256, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    char *y = tj_b64_bn(ec256, OSSL_PKEY_PARAM_EC_PUB_Y, 32), jwk[512];
    size_t skipped = 0;
    char saved = y[5];

    (void)state;
    y[5] = y[5] == 'A' ? 'B' : 'A'; /* still 32 bytes, no longer on P-256 */
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), -1);
    /* the right point named on another curve */
    y[5] = saved;
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), -1);
    /* and on its own curve it is fine */
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), 1);
    /* the point at infinity / all zeroes */
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), -1);
    free(x);
    free(y);
}

static void
test_jwks_ec_short_coordinates_refused(void **state)
{
    unsigned char buf[66];
    char *x, *y, jwk[512];
    BIGNUM *bn = NULL;
    size_t skipped = 0;

    (void)state;
    /* RFC 7518 §6.2.1.2: full size; a stripped leading zero is refused like PyJWT's from_jwk */
    EVP_PKEY_get_bn_param(ec256, OSSL_PKEY_PARAM_EC_PUB_X, &bn);
    BN_bn2binpad(bn, buf, 32);
    BN_free(bn);
    x = tj_b64(buf + 1, 31);
    y = tj_b64_bn(ec256, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    assert_int_equal(one(strdup(jwk), TJ_ALL_ALGS, &skipped), -1);
    free(x);
    free(y);
}

static void
test_jwks_use_enc_skipped(void **state)
{
    char *a = tj_jwk(rsa, "same", NULL, ",\"use\":\"enc\",\"alg\":\"RSA-OAEP\"");
    char *b = tj_jwk(ec256, "same", NULL, ",\"use\":\"sig\""), err[256];
    struct authn_keyset *ks = NULL;
    size_t skipped = 0;

    (void)state;
    assert_int_equal(one(tj_jwk(rsa, "a", NULL, ",\"use\":\"enc\""), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(rsa, "a", NULL, ",\"use\":1"), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(
        one(tj_jwk(rsa, "a", NULL, ",\"key_ops\":[\"encrypt\"]"), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(rsa, "a", NULL, ",\"key_ops\":\"verify\""), TJ_ALL_ALGS, &skipped),
                     -1);
    /* an encryption key may share its kid with the signature key */
    assert_int_equal(parse(tj_jwks(a, b, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 1);
    assert_int_equal(skipped, 1);
    authn_keyset_free(ks);
    free(a);
    free(b);
}

static void
test_jwks_unknown_kty_skipped(void **state)
{
    char *good = tj_jwk(ed, "ok", NULL, NULL), err[256];
    struct authn_keyset *ks = NULL;
    size_t skipped = 0;

    (void)state;
    assert_int_equal(
        parse(tj_jwks("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"h\"}",
                      "{\"kty\":\"oct\",\"kid\":\"h2\"}", "{\"kty\":\"XYZ\",\"kid\":\"x\"}",
                      "{\"kid\":\"nokty\"}", "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}",
                      "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\"}",
                      "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"A\",\"y\":\"A\"}", "[1]",
                      "\"str\"", good, NULL),
              TJ_ALL_ALGS, &ks, &skipped, err),
        PC_OK);
    assert_int_equal(authn_keyset_count(ks), 1);
    assert_int_equal(skipped, 9);
    authn_keyset_free(ks);
    free(good);
}

static void
test_jwks_alg_filtered(void **state)
{
    size_t skipped = 0;

    (void)state;
    /* the key's alg outside the issuer's allow-list */
    assert_int_equal(one(tj_jwk(rsa, "a", "RS256", NULL), POL_ALG_ES256, &skipped), -1);
    /* no alg, but the allow-list has nothing for this key type */
    assert_int_equal(one(tj_jwk(rsa, "a", NULL, NULL), POL_ALG_ES256 | POL_ALG_EDDSA, &skipped),
                     -1);
    assert_int_equal(one(tj_jwk(ec384, "a", NULL, NULL), POL_ALG_ES256, &skipped), -1);
    /* alg of another key type, none, HS256, unknown */
    assert_int_equal(one(tj_jwk(rsa, "a", "ES256", NULL), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(ec256, "a", "ES384", NULL), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(rsa, "a", "none", NULL), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(rsa, "a", "HS256", NULL), TJ_ALL_ALGS, &skipped), -1);
    assert_int_equal(one(tj_jwk(rsa, "a", "RSA-OAEP", NULL), TJ_ALL_ALGS, &skipped), -1);
    /* and the accepted combinations */
    assert_int_equal(one(tj_jwk(rsa, "a", "PS512", NULL), TJ_ALL_ALGS, &skipped), 1);
    assert_int_equal(one(tj_jwk(ec521, "a", "ES512", NULL), POL_ALG_ES512, &skipped), 1);
    assert_int_equal(one(tj_jwk(ed, "a", "EdDSA", NULL), POL_ALG_EDDSA, &skipped), 1);
}

static void
test_jwks_kid_rules(void **state)
{
    char *a = tj_jwk(rsa, NULL, NULL, NULL), *b = tj_jwk(ec256, "b", NULL, NULL), err[256];
    char longkid[AUTHN_JWT_MAX_KID + 2];
    struct authn_keyset *ks = NULL;
    size_t skipped = 0;
    unsigned char sha[32];

    (void)state;
    /* a lone key without kid is usable by tokens without kid */
    assert_int_equal(one(strdup(a), TJ_ALL_ALGS, &skipped), 1);
    /* among several keys it could never be selected: skipped */
    assert_int_equal(parse(tj_jwks(a, b, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 1);
    assert_int_equal(skipped, 1);
    tj_spki_sha256(ec256, sha);
    assert_true(authn_keyset_contains(ks, "b", sha));
    authn_keyset_free(ks);
    assert_int_equal(parse(tj_jwks(a, a, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_ERR_INVALID);
    /* kid not a string, or too long */
    assert_int_equal(one(tj_jwk(rsa, NULL, NULL, ",\"kid\":5"), TJ_ALL_ALGS, &skipped), -1);
    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    assert_int_equal(one(tj_jwk(rsa, longkid, NULL, NULL), TJ_ALL_ALGS, &skipped), -1);
    longkid[sizeof(longkid) - 2] = '\0';
    assert_int_equal(one(tj_jwk(rsa, longkid, NULL, NULL), TJ_ALL_ALGS, &skipped), 1);
    free(a);
    free(b);
}

static void
test_jwks_duplicate_kid_error(void **state)
{
    char *a = tj_jwk(rsa, "k", NULL, NULL), *b = tj_jwk(ec256, "k", NULL, NULL), err[256];
    struct authn_keyset *ks = NULL;
    size_t skipped = 0;

    (void)state;
    assert_int_equal(parse(tj_jwks(a, b, NULL), TJ_ALL_ALGS, &ks, &skipped, err), PC_ERR_INVALID);
    assert_non_null(strstr(err, "same kid"));
    free(a);
    free(b);
}

static void
test_jwks_oversized_document_error(void **state)
{
    char *doc = malloc(AUTHN_JWKS_MAX_BYTES + 2), err[256];
    struct authn_keyset *ks = NULL;
    size_t skipped = 0;

    (void)state;
    memset(doc, ' ', AUTHN_JWKS_MAX_BYTES + 1);
    memcpy(doc, "{\"keys\":[]}", 11);
    doc[AUTHN_JWKS_MAX_BYTES + 1] = '\0';
    assert_int_equal(parse(doc, TJ_ALL_ALGS, &ks, &skipped, err), PC_ERR_TOO_LARGE);
}

static void
test_jwks_too_many_keys_error(void **state)
{
    char *one_key = tj_jwk(ed, NULL, NULL, NULL), *doc = malloc(200 * 1024), err[256];
    struct authn_keyset *ks = NULL;
    size_t o, skipped = 0;
    int i;

    (void)state;
    o = (size_t)snprintf(doc, 200 * 1024, "{\"keys\":[");
    for (i = 0; i <= AUTHN_JWKS_MAX_KEYS; i++) {
        one_key[strlen(one_key) - 1] = '\0';
        o += (size_t)snprintf(doc + o, 200 * 1024 - o, "%s%s,\"kid\":\"k%d\"}", i ? "," : "",
                              one_key, i);
        one_key[strlen(one_key)] = '}';
    }
    snprintf(doc + o, 200 * 1024 - o, "]}");
    assert_int_equal(
        authn_keyset_parse(doc, strlen(doc), TJ_ALL_ALGS, &ks, &skipped, err, sizeof(err)),
        PC_ERR_TOO_LARGE);
    assert_null(ks);
    /* exactly the cap is fine */
    *strstr(doc, ",{\"kty\":\"OKP\"") = '\0';
    o = strlen(doc);
    snprintf(doc + o, 200 * 1024 - o, "]}");
    assert_int_equal(parse(doc, TJ_ALL_ALGS, &ks, &skipped, err), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 1);
    authn_keyset_free(ks);
    free(one_key);
}

static void
test_jwks_not_a_jwks_error(void **state)
{
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "{\"keys\":{}}",
                         "{\"key\":[]}",
                         "{\"keys\":[]}",
                         "{\"keys\":[],\"keys\":[]}",
                         "{\"keys\":[]} x",
                         "null"};
    const int want[] = {PC_ERR_PARSE,   PC_ERR_PARSE,   PC_ERR_INVALID,
                        PC_ERR_INVALID, PC_ERR_INVALID, PC_ERR_INVALID,
                        PC_ERR_PARSE,   PC_ERR_PARSE,   PC_ERR_PARSE};
    struct authn_keyset *ks = NULL;
    char err[256];
    size_t i, skipped = 0;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(strdup(bad[i]), TJ_ALL_ALGS, &ks, &skipped, err), want[i]);
        assert_true(strlen(err) > 0);
    }
    /* the message never quotes the document */
    assert_int_equal(parse(strdup("{\"keys\":[SECRETSTUFF]}"), TJ_ALL_ALGS, &ks, &skipped, err),
                     PC_ERR_PARSE);
    assert_null(strstr(err, "SECRET"));
}

static void
test_jwks_null_outputs_allowed(void **state)
{
    char *doc = tj_jwks("{\"kty\":\"oct\"}", NULL);
    struct authn_keyset *ks = NULL;

    (void)state;
    assert_int_equal(authn_keyset_parse(doc, strlen(doc), TJ_ALL_ALGS, &ks, NULL, NULL, 0),
                     PC_ERR_INVALID);
    assert_null(ks);
    authn_keyset_free(NULL);
    authn_keyset_free_void(NULL);
    assert_int_equal(authn_keyset_count(NULL), 0);
    free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwks_every_key_type_accepted),
        cmocka_unit_test(test_jwks_rsa_3072_and_leading_zero_accepted),
        cmocka_unit_test(test_jwks_private_members_refused),
        cmocka_unit_test(test_jwks_private_key_skipped_among_others),
        cmocka_unit_test(test_jwks_weak_rsa_refused),
        cmocka_unit_test(test_jwks_rsa_bad_exponent_refused),
        cmocka_unit_test(test_jwks_off_curve_ec_refused),
        cmocka_unit_test(test_jwks_ec_short_coordinates_refused),
        cmocka_unit_test(test_jwks_use_enc_skipped),
        cmocka_unit_test(test_jwks_unknown_kty_skipped),
        cmocka_unit_test(test_jwks_alg_filtered),
        cmocka_unit_test(test_jwks_kid_rules),
        cmocka_unit_test(test_jwks_duplicate_kid_error),
        cmocka_unit_test(test_jwks_oversized_document_error),
        cmocka_unit_test(test_jwks_too_many_keys_error),
        cmocka_unit_test(test_jwks_not_a_jwks_error),
        cmocka_unit_test(test_jwks_null_outputs_allowed),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
