/*
 * certmgr/cm_acme_jws.c: the JWS of every ACME request (ES256, raw r||s,
 * jwk or kid), External Account Binding, key authorizations and the dns-01
 * value, the finalize CSR, certificate keys.  The known answers come from
 * tests/unit/acme_vectors.py (Python's hashlib/hmac/json and the
 * cryptography package, independent of the C code); signatures, which are
 * randomized, are verified with OpenSSL and with portcullis-admin's own JWS
 * verifier.
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
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certmgr/cm.h"
#include "certmgr/cm_acme.h"
#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "policy/pol.h"

/* --- tests/unit/acme_vectors.py ----------------------------------------------------- */
#define VEC_KEY_PEM                                                                                \
    "-----BEGIN PRIVATE KEY-----\n"                                                                \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgya+p2EW6dRZrXCFX\n"                           \
    "Z7HWk05Qw9s26JsSe4piKxIPZyGhRANCAARg/tS6JVqdMclh63TGNW1owEm4kjth\n"                           \
    "+mzmaWIuYPKftnkD/hAIuLyZpBrp6VYovGTy8bIMLX6fUXejwpTURiKZ\n"                                   \
    "-----END PRIVATE KEY-----\n"
#define VEC_X        "YP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Y"
#define VEC_Y        "eQP-EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk"
#define VEC_THUMB    "DOvxvJiAdIqVWIkFt5hDtCunXLF0BV4-JGv4f-ALSm0"
#define VEC_TOKEN    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define VEC_KEYAUTHZ VEC_TOKEN "." VEC_THUMB
#define VEC_DNS      "jBe9m-TkL_mXXuTnxF15Pxu9Y9Z04DWzxA58xfX1lrU"
#define VEC_EAB_URL  "https://ca.example/acme/new-account"
#define VEC_EAB_PROTECTED                                                                          \
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImtpZC0xIiwidXJsIjoiaHR0cHM6Ly9jYS5leGFtcGxlL2FjbWUvbmV3LWFjY291" \
    "bnQifQ"
#define VEC_EAB_PAYLOAD                                                                            \
    "eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IllQN1V1aVZhblRISllldDB4alZ0YU1CSnVKSTdZZnBzNW1saUxt" \
    "RHluN1kiLCJ5IjoiZVFQLUVBaTR2Sm1rR3VucFZpaThaUEx4c2d3dGZwOVJkNlBDbE5SR0lwayJ9"
#define VEC_EAB_SIG "GHD38LXIr8j_MBflFmyfFFLFAuxAkgi29mniSMGE4oE"

static EVP_PKEY *
vec_key(void)
{
    EVP_PKEY *k = NULL;

    assert_int_equal(cm_acme_key_parse(VEC_KEY_PEM, strlen(VEC_KEY_PEM), &k), PC_OK);
    return k;
}

static json_t *
vec_jwk(EVP_PKEY *k)
{
    json_t *jwk = NULL;

    assert_int_equal(cm_jwk_public(k, &jwk), PC_OK);
    return jwk;
}

/* base64url-decode s into a new buffer (*n bytes). */
static unsigned char *
b64d(const char *s, size_t *n)
{
    unsigned char *out = malloc(PC_B64URL_DECLEN(strlen(s)) + 1);

    assert_non_null(out);
    assert_int_equal(pc_b64url_decode(s, strlen(s), out, PC_B64URL_DECLEN(strlen(s)), n), PC_OK);
    out[*n] = '\0';
    return out;
}

/* Verify a raw r||s ES256 signature with OpenSSL (not with the code under test). */
static bool
es256_ok(EVP_PKEY *k, const void *data, size_t len, const unsigned char *sig, size_t siglen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    unsigned char *der = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int derlen, ok;

    assert_int_equal(siglen, 64);
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    derlen = i2d_ECDSA_SIG(es, &der);
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
         EVP_DigestVerify(md, der, (size_t)derlen, data, len) == 1;
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return ok;
}

/* --- thumbprint, key authorization, dns-01 -------------------------------------------------- */

static void
test_thumbprint_known_answer(void **state)
{
    EVP_PKEY *k = vec_key();
    json_t *jwk = vec_jwk(k);
    char thumb[CM_JWK_THUMB_LEN + 1];

    (void)state;
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), VEC_X);
    assert_string_equal(json_string_value(json_object_get(jwk, "y")), VEC_Y);
    assert_int_equal(cm_jwk_thumbprint_json(jwk, thumb), PC_OK);
    assert_string_equal(thumb, VEC_THUMB);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

static void
test_key_authz_and_dns_value_known_answer(void **state)
{
    char ka[512], v[CM_ACME_THUMB_LEN + 1];

    (void)state;
    assert_int_equal(cm_acme_key_authz(VEC_TOKEN, VEC_THUMB, ka, sizeof(ka)), PC_OK);
    assert_string_equal(ka, VEC_KEYAUTHZ);
    cm_acme_dns_value(ka, v);
    assert_string_equal(v, VEC_DNS);
    assert_int_equal(strlen(v), 43); /* 256 bits, base64url without padding */
}

static void
test_key_authz_too_long_refused(void **state)
{
    char ka[40];

    (void)state;
    assert_int_equal(cm_acme_key_authz(VEC_TOKEN, VEC_THUMB, ka, sizeof(ka)), PC_ERR_TOO_LARGE);
}

/* --- External Account Binding -------------------------------------------------------------- */

static void
test_eab_known_answer(void **state)
{
    unsigned char mac[32];
    EVP_PKEY *k = vec_key();
    json_t *jwk = vec_jwk(k), *eab = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(mac); i++)
        mac[i] = (unsigned char)i;
    assert_int_equal(cm_acme_eab("kid-1", mac, sizeof(mac), jwk, VEC_EAB_URL, &eab), PC_OK);
    assert_string_equal(json_string_value(json_object_get(eab, "protected")), VEC_EAB_PROTECTED);
    assert_string_equal(json_string_value(json_object_get(eab, "payload")), VEC_EAB_PAYLOAD);
    assert_string_equal(json_string_value(json_object_get(eab, "signature")), VEC_EAB_SIG);
    assert_int_equal(json_object_size(eab), 3);
    json_decref(eab);
    /* another MAC key: another signature, same header and payload */
    mac[0] ^= 1;
    assert_int_equal(cm_acme_eab("kid-1", mac, sizeof(mac), jwk, VEC_EAB_URL, &eab), PC_OK);
    assert_string_not_equal(json_string_value(json_object_get(eab, "signature")), VEC_EAB_SIG);
    assert_string_equal(json_string_value(json_object_get(eab, "protected")), VEC_EAB_PROTECTED);
    json_decref(eab);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

/* --- the request JWS ------------------------------------------------------------------------ */

/* Take a flattened JWS apart: the protected header, the payload text, a check of the signature. */
static json_t *
open_jws(const char *text, EVP_PKEY *k, char **payload)
{
    json_t *o = json_loads(text, 0, NULL), *prot;
    const char *p64, *b64, *s64;
    unsigned char *p, *b, *s;
    size_t pn, bn, sn;
    char *input;

    assert_non_null(o);
    assert_int_equal(json_object_size(o), 3);
    p64 = json_string_value(json_object_get(o, "protected"));
    b64 = json_string_value(json_object_get(o, "payload"));
    s64 = json_string_value(json_object_get(o, "signature"));
    assert_non_null(p64);
    assert_non_null(b64);
    assert_non_null(s64);
    s = b64d(s64, &sn);
    assert_int_equal(sn, 64); /* RFC 7518 3.4: raw r||s, 32 bytes each, not DER */
    pn = strlen(p64);
    bn = strlen(b64);
    input = malloc(pn + bn + 2);
    memcpy(input, p64, pn);
    input[pn] = '.';
    memcpy(input + pn + 1, b64, bn + 1);
    assert_true(es256_ok(k, input, strlen(input), s, sn));
    p = b64d(p64, &pn);
    b = b64d(b64, &bn);
    prot = json_loads((const char *)p, 0, NULL);
    assert_non_null(prot);
    *payload = (char *)b;
    free(input);
    free(p);
    free(s);
    json_decref(o);
    return prot;
}

static void
test_jws_with_jwk_and_payload(void **state)
{
    EVP_PKEY *k = vec_key();
    json_t *jwk = vec_jwk(k), *prot;
    char *out = NULL, *payload = NULL, *tok;
    const char *p64, *b64, *s64;
    json_t *o;

    (void)state;
    assert_int_equal(cm_acme_jws(k, jwk, NULL, "nonce-1", "https://ca.example/new-acct",
                                 "{\"termsOfServiceAgreed\":true}", &out),
                     PC_OK);
    prot = open_jws(out, k, &payload);
    assert_string_equal(json_string_value(json_object_get(prot, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(prot, "nonce")), "nonce-1");
    assert_string_equal(json_string_value(json_object_get(prot, "url")),
                        "https://ca.example/new-acct");
    assert_true(json_equal(json_object_get(prot, "jwk"), jwk));
    assert_null(json_object_get(prot, "kid"));
    assert_string_equal(payload, "{\"termsOfServiceAgreed\":true}");
    /* and portcullis-admin's verifier agrees (compact form of the same parts) */
    o = json_loads(out, 0, NULL);
    p64 = json_string_value(json_object_get(o, "protected"));
    b64 = json_string_value(json_object_get(o, "payload"));
    s64 = json_string_value(json_object_get(o, "signature"));
    tok = malloc(strlen(p64) + strlen(b64) + strlen(s64) + 3);
    snprintf(tok, strlen(p64) + strlen(b64) + strlen(s64) + 3, "%s.%s.%s", p64, b64, s64);
    assert_int_equal(cm_jws_verify(tok, strlen(tok), k, POL_ALG_ES256), PC_OK);
    tok[strlen(p64) + 2] ^= 1; /* a payload bit: no longer verifies */
    cm_err_clear();
    assert_int_not_equal(cm_jws_verify(tok, strlen(tok), k, POL_ALG_ES256), PC_OK);
    cm_err_clear();
    free(tok);
    json_decref(o);
    json_decref(prot);
    free(payload);
    free(out);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

static void
test_jws_with_kid_post_as_get(void **state)
{
    EVP_PKEY *k = vec_key();
    json_t *prot;
    char *out = NULL, *payload = NULL;

    (void)state;
    assert_int_equal(cm_acme_jws(k, NULL, "https://ca.example/acct/1", "n2",
                                 "https://ca.example/order/7", NULL, &out),
                     PC_OK);
    prot = open_jws(out, k, &payload);
    assert_string_equal(json_string_value(json_object_get(prot, "kid")),
                        "https://ca.example/acct/1");
    assert_null(json_object_get(prot, "jwk"));
    assert_string_equal(payload, ""); /* RFC 8555 6.3: POST-as-GET has an empty payload */
    json_decref(prot);
    free(payload);
    free(out);
    EVP_PKEY_free(k);
}

static void
test_jws_needs_exactly_one_of_jwk_and_kid(void **state)
{
    EVP_PKEY *k = vec_key();
    json_t *jwk = vec_jwk(k);
    char *out = NULL;

    (void)state;
    assert_int_not_equal(cm_acme_jws(k, NULL, NULL, "n", "https://x/", NULL, &out), PC_OK);
    assert_null(out);
    assert_int_not_equal(cm_acme_jws(k, jwk, "https://x/acct", "n", "https://x/", NULL, &out),
                         PC_OK);
    assert_null(out);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

static void
test_es256_short_r_s_padded(void **state)
{
    EVP_PKEY *k = vec_key();
    unsigned char sig[64], msg[8];
    int i, padded = 0;

    (void)state;
    /* about 1 in 128 signatures has an r or s below 2^248: the padding path runs */
    for (i = 0; i < 600; i++) {
        memcpy(msg, &i, sizeof(i));
        memset(msg + sizeof(i), 0, sizeof(msg) - sizeof(i));
        assert_int_equal(cm_acme_es256(k, msg, sizeof(msg), sig), PC_OK);
        assert_true(es256_ok(k, msg, sizeof(msg), sig, sizeof(sig)));
        padded += sig[0] == 0 || sig[32] == 0;
    }
    assert_true(padded > 0);
    EVP_PKEY_free(k);
}

/* --- CSR and keys --------------------------------------------------------------------------- */

static X509_REQ *
csr_of(const char *b64)
{
    size_t n;
    unsigned char *der = b64d(b64, &n);
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)n);

    assert_non_null(req);
    assert_ptr_equal(p, der + n);
    free(der);
    return req;
}

static void
test_csr_names_and_signature(void **state)
{
    char n0[] = "*.example.test", n1[] = "example.test";
    char *names[] = {n0, n1};
    EVP_PKEY *k = NULL;
    X509_REQ *req;
    STACK_OF(X509_EXTENSION) * exts;
    GENERAL_NAMES *gens;
    char cn[80], *b64 = NULL;
    int i;

    (void)state;
    assert_int_equal(cm_acme_key_new(POL_CM_KEY_EC256, &k), PC_OK);
    assert_int_equal(cm_acme_csr(k, names, 2, &b64), PC_OK);
    req = csr_of(b64);
    assert_int_equal(X509_REQ_verify(req, k), 1);
    assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), k), 1);
    assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
                                          sizeof(cn)) > 0);
    assert_string_equal(cn, "*.example.test");
    exts = X509_REQ_get_extensions(req);
    gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    for (i = 0; i < 2; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        assert_int_equal(g->type, GEN_DNS);
        assert_string_equal((const char *)ASN1_STRING_get0_data(g->d.dNSName), names[i]);
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    free(b64);
    EVP_PKEY_free(k);
}

static void
test_csr_long_first_name_has_no_cn(void **state)
{
    char name[] = "a123456789b123456789c123456789d123456789e123456789f1234567.example.test";
    char *names[] = {name};
    EVP_PKEY *k = NULL;
    X509_REQ *req;
    char *b64 = NULL;

    (void)state;
    assert_true(strlen(name) > 64);
    assert_int_equal(cm_acme_key_new(POL_CM_KEY_EC256, &k), PC_OK);
    assert_int_equal(cm_acme_csr(k, names, 1, &b64), PC_OK);
    req = csr_of(b64);
    assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
    assert_int_equal(X509_REQ_verify(req, k), 1);
    X509_REQ_free(req);
    free(b64);
    EVP_PKEY_free(k);
}

static void
test_key_types(void **state)
{
    static const struct {
        enum pol_cm_key kt;
        int id, bits;
        const char *name;
    } t[] = {
        {POL_CM_KEY_EC256, EVP_PKEY_EC, 256, "ec256"},
        {POL_CM_KEY_EC384, EVP_PKEY_EC, 384, "ec384"},
        {POL_CM_KEY_RSA2048, EVP_PKEY_RSA, 2048, "rsa2048"},
    };
    EVP_PKEY *k, *back;
    char *pem;
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        k = NULL;
        back = NULL;
        assert_int_equal(cm_acme_key_new(t[i].kt, &k), PC_OK);
        assert_int_equal(EVP_PKEY_get_base_id(k), t[i].id);
        assert_int_equal(EVP_PKEY_get_bits(k), t[i].bits);
        assert_string_equal(cm_acme_key_type_name(t[i].kt), t[i].name);
        assert_int_equal(cm_acme_key_pem(k, &pem, &len), PC_OK);
        assert_int_equal(cm_acme_key_parse(pem, len, &back), PC_OK);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        free(pem);
        EVP_PKEY_free(back);
        EVP_PKEY_free(k);
    }
    assert_int_equal(cm_acme_key_parse("not a key", 9, &back), PC_ERR_PARSE);
    assert_null(back);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumbprint_known_answer),
        cmocka_unit_test(test_key_authz_and_dns_value_known_answer),
        cmocka_unit_test(test_key_authz_too_long_refused),
        cmocka_unit_test(test_eab_known_answer),
        cmocka_unit_test(test_jws_with_jwk_and_payload),
        cmocka_unit_test(test_jws_with_kid_post_as_get),
        cmocka_unit_test(test_jws_needs_exactly_one_of_jwk_and_kid),
        cmocka_unit_test(test_es256_short_r_s_padded),
        cmocka_unit_test(test_csr_names_and_signature),
        cmocka_unit_test(test_csr_long_first_name_has_no_cn),
        cmocka_unit_test(test_key_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
