/*
 * The pure pieces of RFC 8555: the flattened JWS every request is wrapped
 * in (ES256 with the account key, signature as raw r||s per RFC 7518
 * 3.4), the External Account Binding (HS256 over the account JWK), key
 * authorizations and the dns-01 TXT value, the CSR for finalize, and the
 * certificate keys.  No I/O.  See cm_acme.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm.h"
#include "cm_acme.h"

#define ES256_HALF   32 /* bytes of r and of s */
#define CN_MAX_BYTES 64 /* X.520 ub-common-name */

/* Log OpenSSL's reason for `what` and clear its queue. */
static void
log_ssl(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

    pc_log(LOG_ERR, "%s: %s", what, why != NULL ? why : "OpenSSL error");
    ERR_clear_error();
}

/* Log the reason a cm.h helper recorded, then forget it. */
static void
log_cm(const char *what)
{
    const char *why = cm_err_get();

    pc_log(LOG_ERR, "%s: %s", what, why != NULL ? why : "failed");
    cm_err_clear();
}

static char *
b64url_new(const void *p, size_t n)
{
    char *s = pc_xmalloc(PC_B64URL_ENCLEN(n) + 1);

    pc_b64url_encode(s, p, n);
    return s;
}

int
cm_acme_es256(EVP_PKEY *key, const void *data, size_t len, unsigned char sig[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    const unsigned char *p = der;
    size_t derlen = sizeof(der);
    ECDSA_SIG *es = NULL;
    const BIGNUM *r, *s;
    int rc = PC_ERR_CRYPTO;

    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &derlen, data, len) != 1) {
        log_ssl("ES256 signature");
        goto out;
    }
    es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (es == NULL) {
        log_ssl("ES256 signature: decoding");
        goto out;
    }
    ECDSA_SIG_get0(es, &r, &s);
    /* JWS wants the two integers as fixed-width big-endian halves, not DER */
    if (BN_bn2binpad(r, sig, ES256_HALF) != ES256_HALF ||
        BN_bn2binpad(s, sig + ES256_HALF, ES256_HALF) != ES256_HALF) {
        log_ssl("ES256 signature: r||s");
        goto out;
    }
    rc = PC_OK;
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return rc;
}

int
cm_acme_jws(EVP_PKEY *key, const json_t *jwk, const char *kid, const char *nonce, const char *url,
            const char *payload, char **out)
{
    unsigned char sig[2 * ES256_HALF];
    json_t *prot = NULL, *jws = NULL;
    char *ptext = NULL, *p64 = NULL, *b64 = NULL, *input = NULL, *s64 = NULL;
    size_t plen, blen;
    int rc = PC_ERR_INTERNAL;

    *out = NULL;
    if ((jwk == NULL) == (kid == NULL))
        return PC_ERR_INTERNAL; /* exactly one of the two: a bug otherwise */
    prot = jwk != NULL ? json_pack("{s:s, s:O, s:s, s:s}", "alg", "ES256", "jwk", jwk, "nonce",
                                   nonce, "url", url)
                       : json_pack("{s:s, s:s, s:s, s:s}", "alg", "ES256", "kid", kid, "nonce",
                                   nonce, "url", url);
    if (prot == NULL)
        goto out;
    ptext = json_dumps(prot, JSON_COMPACT);
    if (ptext == NULL)
        goto out;
    p64 = b64url_new(ptext, strlen(ptext));
    b64 = b64url_new(payload != NULL ? payload : "", payload != NULL ? strlen(payload) : 0);
    plen = strlen(p64);
    blen = strlen(b64);
    input = pc_xmalloc(plen + 1 + blen + 1);
    memcpy(input, p64, plen);
    input[plen] = '.';
    memcpy(input + plen + 1, b64, blen + 1);
    rc = cm_acme_es256(key, input, plen + 1 + blen, sig);
    if (rc != PC_OK)
        goto out;
    s64 = b64url_new(sig, sizeof(sig));
    jws = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", b64, "signature", s64);
    *out = jws != NULL ? json_dumps(jws, JSON_COMPACT) : NULL;
    rc = *out != NULL ? PC_OK : PC_ERR_INTERNAL;
out:
    json_decref(prot);
    json_decref(jws);
    free(ptext);
    free(p64);
    free(b64);
    free(input);
    free(s64);
    return rc;
}

int
cm_acme_eab(const char *kid, const unsigned char *mac_key, size_t keylen, const json_t *jwk,
            const char *url, json_t **out)
{
    unsigned char mac[SHA256_DIGEST_LENGTH];
    unsigned maclen = 0;
    json_t *prot = NULL;
    char *ptext = NULL, *jtext = NULL, *p64 = NULL, *b64 = NULL, *input = NULL, *s64 = NULL;
    size_t plen, blen;
    int rc = PC_ERR_INTERNAL;

    *out = NULL;
    prot = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url", url);
    ptext = prot != NULL ? json_dumps(prot, JSON_COMPACT) : NULL;
    /* the payload is the account's public JWK itself (RFC 8555 7.3.4) */
    jtext = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    if (ptext == NULL || jtext == NULL)
        goto out;
    p64 = b64url_new(ptext, strlen(ptext));
    b64 = b64url_new(jtext, strlen(jtext));
    plen = strlen(p64);
    blen = strlen(b64);
    input = pc_xmalloc(plen + 1 + blen + 1);
    memcpy(input, p64, plen);
    input[plen] = '.';
    memcpy(input + plen + 1, b64, blen + 1);
    if (keylen > INT32_MAX ||
        HMAC(EVP_sha256(), mac_key, (int)keylen, (const unsigned char *)input, plen + 1 + blen, mac,
             &maclen) == NULL ||
        maclen != sizeof(mac)) {
        log_ssl("external account binding: HMAC-SHA256");
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    s64 = b64url_new(mac, maclen);
    *out = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", b64, "signature", s64);
    rc = *out != NULL ? PC_OK : PC_ERR_INTERNAL;
out:
    OPENSSL_cleanse(mac, sizeof(mac));
    json_decref(prot);
    free(ptext);
    free(jtext);
    free(p64);
    free(b64);
    free(input);
    free(s64);
    return rc;
}

int
cm_acme_key_authz(const char *token, const char *thumb, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s.%s", token, thumb);

    if (n < 0 || (size_t)n >= outlen) {
        pc_log(LOG_ERR, "key authorization: longer than %zu bytes", outlen - 1);
        return PC_ERR_TOO_LARGE;
    }
    return PC_OK;
}

void
cm_acme_dns_value(const char *key_authz, char out[CM_ACME_THUMB_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)key_authz, strlen(key_authz), md);
    pc_b64url_encode(out, md, sizeof(md));
}

/* subjectAltName with every name as a dNSName. */
static int
csr_sans(X509_REQ *req, char *const *domains, size_t n)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    X509_EXTENSION *ext = NULL;
    size_t i;
    int rc = PC_ERR_CRYPTO;

    if (exts == NULL || gens == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (g == NULL || s == NULL ||
            ASN1_STRING_set(s, domains[i], (int)strlen(domains[i])) != 1) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(s);
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        if (sk_GENERAL_NAME_push(gens, g) == 0) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
    if (ext == NULL || sk_X509_EXTENSION_push(exts, ext) == 0)
        goto out;
    ext = NULL; /* owned by exts */
    if (X509_REQ_add_extensions(req, exts) != 1)
        goto out;
    rc = PC_OK;
out:
    if (rc != PC_OK)
        log_ssl("CSR: subjectAltName");
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    return rc;
}

int
cm_acme_csr(EVP_PKEY *key, char *const *domains, size_t n, char **out)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    unsigned char *der = NULL;
    int len, rc = PC_ERR_CRYPTO;

    *out = NULL;
    if (req == NULL || n == 0 || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1)
        goto out;
    /* CAs take the names from the SAN; a CN keeps older tools readable */
    if (strlen(domains[0]) <= CN_MAX_BYTES) {
        name = X509_NAME_new();
        if (name == NULL ||
            X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
                                       (const unsigned char *)domains[0], -1, -1, 0) != 1 ||
            X509_REQ_set_subject_name(req, name) != 1)
            goto out;
    }
    rc = csr_sans(req, domains, n);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_CRYPTO;
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        goto out;
    len = i2d_X509_REQ(req, &der);
    if (len <= 0)
        goto out;
    *out = b64url_new(der, (size_t)len);
    rc = PC_OK;
out:
    if (rc == PC_ERR_CRYPTO)
        log_ssl("building the CSR");
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

const char *
cm_acme_key_type_name(enum pol_cm_key kt)
{
    switch (kt) {
    case POL_CM_KEY_EC256:
        return "ec256";
    case POL_CM_KEY_EC384:
        return "ec384";
    case POL_CM_KEY_RSA2048:
        return "rsa2048";
    }
    return "?";
}

int
cm_acme_key_new(enum pol_cm_key kt, EVP_PKEY **out)
{
    enum cm_key_type t = kt == POL_CM_KEY_EC384     ? CM_KEY_EC384
                         : kt == POL_CM_KEY_RSA2048 ? CM_KEY_RSA2048
                                                    : CM_KEY_EC256;
    int rc = cm_key_generate(t, out);

    if (rc != PC_OK)
        log_cm("generating a key");
    return rc;
}

int
cm_acme_key_pem(EVP_PKEY *key, char **pem, size_t *len)
{
    int rc = cm_key_pem(key, pem, len);

    if (rc != PC_OK)
        log_cm("encoding a key");
    return rc;
}

int
cm_acme_key_parse(const char *buf, size_t len, EVP_PKEY **out)
{
    BIO *bio = len <= PC_PEM_MAX_BYTES ? BIO_new_mem_buf(buf, (int)len) : NULL;

    *out = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, cm_no_password, NULL) : NULL;
    BIO_free(bio);
    if (*out == NULL) {
        log_ssl("reading a private key");
        return PC_ERR_PARSE;
    }
    return PC_OK;
}
