/*
 * JWKs (RFC 7517, 7518 section 6) of the keys portcullis-admin signs tokens
 * with, their RFC 7638 thumbprints (the default kid), the JOSE algorithms
 * each key may use, and RFC 8705 certificate thumbprints.  See cm.h.
 *
 * Only public members are ever written: a JWK is built from named public
 * parameters (n, e; the EC point; the raw Ed25519 public key), never by
 * exporting a key and filtering it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "policy/pol.h"
#include "cm.h"

#define RSA_ALGS                                                                                   \
    (POL_ALG_RS256 | POL_ALG_RS384 | POL_ALG_RS512 | POL_ALG_PS256 | POL_ALG_PS384 | POL_ALG_PS512)
#define ED25519_KEY_BYTES 32 /* RFC 8032 public key */

static const struct curve {
    const char *group; /* OpenSSL's name */
    const char *crv;   /* JOSE's name */
    size_t bytes;      /* field size: each coordinate is padded to it (RFC 7518 6.2.1.2) */
    unsigned alg;
} curves[] = {
    {"prime256v1", "P-256", 32, POL_ALG_ES256},
    {"secp384r1", "P-384", 48, POL_ALG_ES384},
    {"secp521r1", "P-521", 66, POL_ALG_ES512},
};

static const struct curve *
key_curve(EVP_PKEY *key)
{
    char group[64];
    size_t i;

    if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1) {
        ERR_clear_error();
        return NULL;
    }
    for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
        if (strcmp(curves[i].group, group) == 0)
            return &curves[i];
    return NULL;
}

unsigned
cm_jwk_key_algs(EVP_PKEY *key)
{
    const struct curve *c;
    int bits, id = EVP_PKEY_get_base_id(key);

    switch (id) {
    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(key);
        if (bits >= CM_RSA_MIN_BITS && bits <= CM_RSA_MAX_BITS)
            return RSA_ALGS;
        cm_err_set("RSA key of %d bits is not accepted (%d..%d)", bits, CM_RSA_MIN_BITS,
                   CM_RSA_MAX_BITS);
        return 0;
    case EVP_PKEY_EC:
        c = key_curve(key);
        if (c != NULL)
            return c->alg;
        cm_err_set("EC key: only the named curves P-256, P-384 and P-521 are accepted");
        return 0;
    case EVP_PKEY_ED25519:
        return POL_ALG_EDDSA;
    case EVP_PKEY_RSA_PSS:
        /* restricted keys carry their own digest and salt rules: not worth the corner cases */
        cm_err_set("RSA-PSS-only keys are not supported: use a plain RSA key (--alg PS256 works "
                   "with it)");
        return 0;
    default:
        cm_err_set("key type %s is not supported (RSA, EC P-256/P-384/P-521, Ed25519)",
                   id > 0 ? OBJ_nid2sn(id) : "unknown");
        return 0;
    }
}

unsigned
cm_jwk_default_alg(EVP_PKEY *key)
{
    unsigned m = cm_jwk_key_algs(key);

    /* EC and Ed25519 keys have exactly one algorithm; RSA defaults to RS256 */
    return (m & POL_ALG_RS256) != 0 ? POL_ALG_RS256 : m;
}

/* o[name] = base64url(b[0..n)). */
static int
set_b64(json_t *o, const char *name, const unsigned char *b, size_t n)
{
    char *s = pc_xmalloc(PC_B64URL_ENCLEN(n) + 1);
    int rc = PC_OK;

    pc_b64url_encode(s, b, n);
    if (json_object_set_new(o, name, json_string(s)) != 0) {
        cm_err_set("JWK: cannot set \"%s\"", name);
        rc = PC_ERR_INTERNAL;
    }
    free(s);
    return rc;
}

/* o[name] = base64url of the big-endian BIGNUM parameter, padded to `pad` bytes (0: minimal). */
static int
set_bn(json_t *o, const char *name, EVP_PKEY *key, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    unsigned char *buf = NULL;
    int n, rc = PC_ERR_CRYPTO;

    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) {
        cm_err_ssl("JWK: reading the public key");
        goto out;
    }
    n = pad > 0 ? (int)pad : BN_num_bytes(bn);
    if (n <= 0 || BN_num_bytes(bn) > n) {
        cm_err_set("JWK: \"%s\" does not fit %d bytes", name, n);
        goto out;
    }
    buf = pc_xmalloc((size_t)n);
    if (BN_bn2binpad(bn, buf, n) != n) {
        cm_err_ssl("JWK: encoding the public key");
        goto out;
    }
    rc = set_b64(o, name, buf, (size_t)n);
out:
    free(buf);
    BN_free(bn); /* a public value: nothing to wipe */
    return rc;
}

int
cm_jwk_public(EVP_PKEY *key, json_t **out)
{
    unsigned char raw[ED25519_KEY_BYTES];
    size_t rawlen = sizeof(raw);
    const struct curve *c;
    json_t *o = json_object();
    int rc = PC_ERR_INVALID;

    *out = NULL;
    if (o == NULL)
        return PC_ERR_INTERNAL;
    if (cm_jwk_key_algs(key) == 0)
        goto out;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        rc = json_object_set_new(o, "kty", json_string("RSA")) == 0 ? PC_OK : PC_ERR_INTERNAL;
        if (rc == PC_OK)
            rc = set_bn(o, "n", key, OSSL_PKEY_PARAM_RSA_N, 0);
        if (rc == PC_OK)
            rc = set_bn(o, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
        break;
    case EVP_PKEY_EC:
        c = key_curve(key);
        if (c == NULL) { /* cm_jwk_key_algs() accepted it: cannot happen */
            cm_err_set("JWK: EC key without a supported curve");
            rc = PC_ERR_INTERNAL;
            break;
        }
        rc = json_object_set_new(o, "kty", json_string("EC")) == 0 &&
                     json_object_set_new(o, "crv", json_string(c->crv)) == 0
                 ? PC_OK
                 : PC_ERR_INTERNAL;
        if (rc == PC_OK)
            rc = set_bn(o, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, c->bytes);
        if (rc == PC_OK)
            rc = set_bn(o, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, c->bytes);
        break;
    case EVP_PKEY_ED25519:
        if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != sizeof(raw)) {
            cm_err_ssl("JWK: reading the Ed25519 public key");
            rc = PC_ERR_CRYPTO;
            break;
        }
        rc = json_object_set_new(o, "kty", json_string("OKP")) == 0 &&
                     json_object_set_new(o, "crv", json_string("Ed25519")) == 0
                 ? PC_OK
                 : PC_ERR_INTERNAL;
        if (rc == PC_OK)
            rc = set_b64(o, "x", raw, rawlen);
        break;
    default:
        cm_err_set("JWK: unsupported key type"); /* cm_jwk_key_algs() let it through: a bug */
        rc = PC_ERR_INTERNAL;
        break;
    }
    if (rc != PC_OK)
        goto out;
    *out = o;
    o = NULL;
out:
    json_decref(o);
    return rc;
}

int
cm_jwk_thumbprint_json(const json_t *jwk, char *out)
{
    static const struct {
        const char *kty;
        const char *members[3]; /* besides kty */
    } req[] = {
        {"RSA", {"e", "n", NULL}},
        {"EC", {"crv", "x", "y"}},
        {"OKP", {"crv", "x", NULL}},
    };
    unsigned char md[SHA256_DIGEST_LENGTH];
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    json_t *canon = NULL, *v;
    char *text = NULL;
    size_t i, j;
    int rc = PC_ERR_INVALID;

    for (i = 0; kty != NULL && i < sizeof(req) / sizeof(req[0]); i++)
        if (strcmp(req[i].kty, kty) == 0)
            break;
    if (kty == NULL || i == sizeof(req) / sizeof(req[0])) {
        cm_err_set("JWK: no \"kty\" we know (RSA, EC, OKP)");
        goto out;
    }
    canon = json_pack("{s:s}", "kty", kty);
    if (canon == NULL) {
        rc = PC_ERR_INTERNAL;
        goto out;
    }
    for (j = 0; j < 3 && req[i].members[j] != NULL; j++) {
        v = json_object_get(jwk, req[i].members[j]);
        if (!json_is_string(v)) {
            cm_err_set("JWK: \"%s\" missing or not a string", req[i].members[j]);
            goto out;
        }
        if (json_object_set(canon, req[i].members[j], v) != 0) {
            rc = PC_ERR_INTERNAL;
            goto out;
        }
    }
    /* RFC 7638 3.3: members sorted, no whitespace; every name here is ASCII */
    text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        rc = PC_ERR_INTERNAL;
        goto out;
    }
    SHA256((const unsigned char *)text, strlen(text), md);
    pc_b64url_encode(out, md, sizeof(md));
    rc = PC_OK;
out:
    free(text);
    json_decref(canon);
    return rc;
}

int
cm_jwk_thumbprint(EVP_PKEY *key, char *out)
{
    json_t *jwk = NULL;
    int rc;

    rc = cm_jwk_public(key, &jwk);
    if (rc == PC_OK)
        rc = cm_jwk_thumbprint_json(jwk, out);
    json_decref(jwk);
    return rc;
}

/* A public-only copy of key (through its SubjectPublicKeyInfo). */
static EVP_PKEY *
public_only(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    EVP_PKEY *pub = NULL;
    int n;

    n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        return NULL;
    p = der;
    pub = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    return pub;
}

int
cm_pubkey_load(const char *path, EVP_PKEY **out)
{
    char *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc;

    *out = NULL;
    rc = cm_file_read(path, PC_PEM_MAX_BYTES, &buf, &len);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_CRYPTO;
    bio = BIO_new_mem_buf(buf, (int)len); /* len <= PC_PEM_MAX_BYTES fits an int */
    if (bio == NULL) {
        cm_err_ssl(path);
        goto out;
    }
    /* each reader looks for its own PEM label; rewind between them */
    key = PEM_read_bio_PUBKEY(bio, NULL, cm_no_password, NULL);
    if (key == NULL && BIO_reset(bio) == 1) {
        EVP_PKEY *priv = PEM_read_bio_PrivateKey(bio, NULL, cm_no_password, NULL);
        if (priv != NULL) {
            key = public_only(priv);
            EVP_PKEY_free(priv); /* OpenSSL clears the private parts */
        }
    }
    if (key == NULL && BIO_reset(bio) == 1) {
        x = PEM_read_bio_X509(bio, NULL, cm_no_password, NULL);
        if (x != NULL)
            key = X509_get_pubkey(x);
    }
    if (key == NULL) {
        ERR_clear_error();
        cm_err_set("%s: no PEM public key, private key or certificate", path);
        rc = PC_ERR_PARSE;
        goto out;
    }
    ERR_clear_error(); /* the readers that did not match left errors behind */
    *out = key;
    rc = PC_OK;
out:
    X509_free(x);
    BIO_free(bio);
    pc_free_secret(buf, len); /* it may have held a private key */
    return rc;
}

int
cm_cert_x5t(X509 *x, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    /* the digest of the DER encoding, as the gateway computes it from the TLS peer */
    if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != SHA256_DIGEST_LENGTH) {
        cm_err_ssl("certificate thumbprint");
        return PC_ERR_CRYPTO;
    }
    pc_b64url_encode(out, md, n);
    return PC_OK;
}
