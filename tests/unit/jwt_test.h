/*
 * Test helper for authn/ JWT tests: TEST-ONLY keys generated in memory,
 * their JWKs, and compact JWS tokens signed here with OpenSSL EVP (an
 * implementation path separate from the verifier: DigestSign, DER -> raw
 * r||s).  Everything is static; include after <cmocka.h>.  Strings are
 * returned in malloc'd buffers (free()).
 */
#ifndef TEST_JWT_H
#define TEST_JWT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "authn/authn_jwt.h"
#include "common/pc_b64.h"
#include "policy/pol.h"

#define TJ_MAX 16384 /* any token or JWK built here */

static inline EVP_PKEY *
tj_rsa(int bits)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static inline EVP_PKEY *
tj_ec(const char *curve)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

static inline EVP_PKEY *
tj_ed25519(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static inline char *
tj_b64(const unsigned char *p, size_t n)
{
    char *s = malloc(PC_B64URL_ENCLEN(n) + 1);

    pc_b64url_encode(s, p, n);
    return s;
}

static inline char *
tj_b64s(const char *s)
{
    return tj_b64((const unsigned char *)s, strlen(s));
}

static inline char *
tj_b64_bn(EVP_PKEY *pk, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1100];
    int n;

    if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
        abort();
    n = pad != 0 ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    return tj_b64(buf, (size_t)n);
}

/* Coordinate size of an EC key, bytes. */
static inline size_t
tj_ec_size(EVP_PKEY *pk)
{
    return (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8;
}

/* The public JWK of pk, with kid (NULL: none), alg and extra members ("" or ",\"use\":\"enc\""). */
static inline char *
tj_jwk(EVP_PKEY *pk, const char *kid, const char *alg, const char *extra)
{
    char *out = malloc(TJ_MAX), kidm[300] = "", algm[64] = "";
    char *a = NULL, *b = NULL;

    if (kid != NULL)
        snprintf(kidm, sizeof(kidm), ",\"kid\":\"%s\"", kid);
    if (alg != NULL)
        snprintf(algm, sizeof(algm), ",\"alg\":\"%s\"", alg);
    if (extra == NULL)
        extra = "";
    if (EVP_PKEY_is_a(pk, "RSA")) {
        a = tj_b64_bn(pk, OSSL_PKEY_PARAM_RSA_N, 0);
        b = tj_b64_bn(pk, OSSL_PKEY_PARAM_RSA_E, 0);
        snprintf(out, TJ_MAX, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s%s%s}", a, b, kidm, algm,
                 extra);
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        char crv[32];
        size_t sz = tj_ec_size(pk);
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, crv, sizeof(crv), NULL);
        a = tj_b64_bn(pk, OSSL_PKEY_PARAM_EC_PUB_X, sz);
        b = tj_b64_bn(pk, OSSL_PKEY_PARAM_EC_PUB_Y, sz);
        snprintf(out, TJ_MAX, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s%s%s}",
                 sz == 32   ? "P-256"
                 : sz == 48 ? "P-384"
                            : "P-521",
                 a, b, kidm, algm, extra);
    } else {
        unsigned char raw[32];
        size_t n = sizeof(raw);
        EVP_PKEY_get_raw_public_key(pk, raw, &n);
        a = tj_b64(raw, n);
        snprintf(out, TJ_MAX, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s%s%s}", a, kidm,
                 algm, extra);
    }
    free(a);
    free(b);
    return out;
}

/* {"keys":[jwk1,jwk2,...]} from a NULL-terminated list of JWKs (not freed). */
static inline char *
tj_jwks(const char *first, ...)
{
    char *out = malloc(16 * TJ_MAX);
    const char *j = first;
    size_t o;
    va_list ap;

    o = (size_t)snprintf(out, 16 * TJ_MAX, "{\"keys\":[");
    va_start(ap, first);
    while (j != NULL) {
        o += (size_t)snprintf(out + o, 16 * TJ_MAX - o, "%s%s", o > 9 ? "," : "", j);
        j = va_arg(ap, const char *);
    }
    va_end(ap);
    snprintf(out + o, 16 * TJ_MAX - o, "]}");
    return out;
}

static inline const EVP_MD *
tj_md(const char *alg)
{
    if (strstr(alg, "384") != NULL)
        return EVP_sha384();
    if (strstr(alg, "512") != NULL)
        return EVP_sha512();
    if (strcmp(alg, "EdDSA") == 0)
        return NULL;
    return EVP_sha256();
}

/*
 * Sign si (len n) as JOSE `alg` with pk; raw signature into sig (*siglen).
 * ES*: DER from OpenSSL converted to r||s of the key's coordinate size.
 */
static inline void
tj_sign_raw(const char *alg, EVP_PKEY *pk, const unsigned char *si, size_t n, unsigned char *sig,
            size_t *siglen)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    unsigned char der[1200];
    size_t dl = sizeof(der);

    if (EVP_DigestSignInit(m, &pc, tj_md(alg), NULL, pk) != 1)
        abort();
    if (alg[0] == 'P') {
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
        EVP_PKEY_CTX_set_rsa_mgf1_md(pc, tj_md(alg));
    }
    if (EVP_DigestSign(m, der, &dl, si, n) != 1)
        abort();
    EVP_MD_CTX_free(m);
    if (alg[0] == 'E' && alg[1] == 'S') {
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
        size_t sz = tj_ec_size(pk);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)sz);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + sz, (int)sz);
        ECDSA_SIG_free(es);
        *siglen = 2 * sz;
    } else {
        memcpy(sig, der, dl);
        *siglen = dl;
    }
}

/* "b64(hdr).b64(payload)" signed as `alg` with pk (or HMAC with hmac_key when pk is NULL). */
static inline char *
tj_token_hmac(const char *hdr, const char *payload, const char *alg, EVP_PKEY *pk,
              const unsigned char *hmac_key, size_t hmac_len)
{
    char *h = tj_b64s(hdr), *p = tj_b64s(payload), *s, *out = malloc(TJ_MAX);
    unsigned char sig[1200];
    size_t siglen = 0;
    unsigned int hl = 0;

    snprintf(out, TJ_MAX, "%s.%s", h, p);
    if (pk != NULL) {
        tj_sign_raw(alg, pk, (const unsigned char *)out, strlen(out), sig, &siglen);
    } else if (hmac_key != NULL) {
        HMAC(EVP_sha256(), hmac_key, (int)hmac_len, (const unsigned char *)out, strlen(out), sig,
             &hl);
        siglen = hl;
    }
    s = tj_b64(sig, siglen);
    snprintf(out + strlen(out), TJ_MAX - strlen(out), ".%s", s);
    free(h);
    free(p);
    free(s);
    return out;
}

static inline char *
tj_token(const char *hdr, const char *payload, const char *alg, EVP_PKEY *pk)
{
    return tj_token_hmac(hdr, payload, alg, pk, NULL, 0);
}

/* SHA-256 of pk's DER SubjectPublicKeyInfo. */
static inline void
tj_spki_sha256(EVP_PKEY *pk, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pk, &der);

    SHA256(der, (size_t)n, out);
    OPENSSL_free(der);
}

static inline struct authn_keyset *
tj_keyset(const char *jwks, unsigned algs)
{
    struct authn_keyset *ks = NULL;
    char err[256];
    size_t skipped = 0;

    if (authn_keyset_parse(jwks, strlen(jwks), algs, &ks, &skipped, err, sizeof(err)) != 0) {
        fprintf(stderr, "keyset: %s\n", err);
        abort();
    }
    return ks;
}

#define TJ_ALL_ALGS 0x3ffu /* every enum pol_alg bit */

#endif
