/*
 * JWKS (RFC 7517) -> immutable key sets of OpenSSL EVP_PKEYs, built once
 * per fetch in the control thread and then read by every worker without a
 * lock.  RSA and EC keys come from their parameters through
 * EVP_PKEY_fromdata (notes Q5), Ed25519 from its raw point.
 *
 * A key we cannot or must not use is skipped, as RFC 7517 §5 asks ("ignore
 * JWKs ... that use kty values that are not understood ..., that are
 * missing required members, or for which values are out of the supported
 * ranges"): its kid then simply is unknown and its tokens are refused.
 * Only problems with the document as a whole are errors.
 *
 * Contracts of the public functions: authn/authn_jwt.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "authn/authn_jwt_int.h"
#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_mem.h"

#define JWK_MAX_FIELD_BYTES (AUTHN_RSA_MAX_BITS / 8 + 1) /* n may carry one leading zero octet */
#define JWK_EC_MAX_FIELD    66                           /* P-521 coordinates */

/* A key is skipped (not an error): returned by the builders with the reason set. */
#define JWK_SKIP 1

struct curve {
    const char *crv;   /* JWK name */
    const char *group; /* OpenSSL group name */
    size_t size;       /* bytes of one coordinate */
    unsigned alg;      /* the one JWS algorithm of this curve */
};

static const struct curve curves[] = {
    {"P-256", "prime256v1", 32, POL_ALG_ES256},
    {"P-384", "secp384r1", 48, POL_ALG_ES384},
    {"P-521", "secp521r1", 66, POL_ALG_ES512},
};

/* Members that only a private JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037). */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static void set_reason(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_reason(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* The base64url member `name` of `jwk`, strictly decoded into out (cap bytes). */
static bool
get_b64(const json_t *jwk, const char *name, unsigned char *out, size_t cap, size_t *outlen)
{
    const json_t *v = json_object_get(jwk, name);

    if (!json_is_string(v))
        return false;
    return pc_b64url_decode(json_string_value(v), json_string_length(v), out, cap, outlen) == PC_OK;
}

static bool
str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

/* EVP_PKEY_fromdata for a public key of type `name` from `params`. */
static EVP_PKEY *
from_data(const char *name, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    EVP_PKEY *pk = NULL;

    if (ctx == NULL)
        return NULL;
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

static bool
public_check(EVP_PKEY *pk)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    bool ok;

    if (ctx == NULL)
        return false;
    ok = EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int
build_rsa(const json_t *jwk, struct authn_key *k, char *why, size_t whylen)
{
    unsigned char nb[JWK_MAX_FIELD_BYTES], eb[AUTHN_RSA_MAX_E_BYTES];
    size_t nlen = 0, elen = 0;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    int bits, rc = JWK_SKIP;

    if (!get_b64(jwk, "n", nb, sizeof(nb), &nlen) || !get_b64(jwk, "e", eb, sizeof(eb), &elen)) {
        set_reason(why, whylen, "RSA key without valid n and e (at most %d bits, e of %d bytes)",
                   AUTHN_RSA_MAX_BITS, AUTHN_RSA_MAX_E_BYTES);
        goto out;
    }
    n = BN_bin2bn(nb, (int)nlen, NULL);
    e = BN_bin2bn(eb, (int)elen, NULL);
    if (n == NULL || e == NULL) {
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    bits = BN_num_bits(n);
    if (bits < AUTHN_RSA_MIN_BITS || bits > AUTHN_RSA_MAX_BITS) {
        set_reason(why, whylen, "RSA key of %d bits (accepted: %d to %d)", bits, AUTHN_RSA_MIN_BITS,
                   AUTHN_RSA_MAX_BITS);
        goto out;
    }
    if (!BN_is_odd(n) || !BN_is_odd(e) || BN_num_bits(e) < 2) {
        set_reason(why, whylen, "RSA key with an even modulus or a bad exponent");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) {
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    /*
     * No EVP_PKEY_public_check() here: for RSA it runs SP 800-56B's checks
     * (a Miller-Rabin test of n: ~5 ms at 2048 bits, ~30 ms at 4096), which
     * protect the key's owner, not a verifier.  n odd and e odd >= 3 above
     * are what verification needs; OpenSSL checks the rest as it verifies.
     */
    k->pkey = from_data("RSA", params);
    if (k->pkey == NULL) {
        set_reason(why, whylen, "RSA key refused by OpenSSL");
        goto out;
    }
    k->type = AUTHN_KEY_RSA;
    k->algs = AUTHN_ALGS_RSA;
    k->sig_bytes = (size_t)EVP_PKEY_get_size(k->pkey);
    rc = PC_OK;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return rc;
}

static int
build_ec(const json_t *jwk, struct authn_key *k, char *why, size_t whylen)
{
    unsigned char pub[1 + 2 * JWK_EC_MAX_FIELD];
    char group[16]; /* OSSL_PARAM wants a mutable string */
    const struct curve *c = NULL;
    const json_t *crv = json_object_get(jwk, "crv");
    OSSL_PARAM params[3];
    size_t i, xlen = 0, ylen = 0;

    for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
        if (str_is(crv, curves[i].crv))
            c = &curves[i];
    if (c == NULL) {
        set_reason(why, whylen, "EC key on an unsupported curve");
        return JWK_SKIP;
    }
    pub[0] = 0x04; /* uncompressed point */
    if (!get_b64(jwk, "x", pub + 1, c->size, &xlen) ||
        !get_b64(jwk, "y", pub + 1 + c->size, c->size, &ylen) || xlen != c->size ||
        ylen != c->size) {
        set_reason(why, whylen, "EC key whose x and y are not %zu bytes each", c->size);
        return JWK_SKIP;
    }
    memcpy(group, c->group, strlen(c->group) + 1);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * c->size);
    params[2] = OSSL_PARAM_construct_end();
    k->pkey = from_data("EC", params);
    if (k->pkey == NULL || !public_check(k->pkey)) {
        set_reason(why, whylen, "EC key whose point is not on %s", c->crv);
        return JWK_SKIP;
    }
    k->type = AUTHN_KEY_EC;
    k->algs = c->alg;
    k->sig_bytes = 2 * c->size;
    return PC_OK;
}

static int
build_okp(const json_t *jwk, struct authn_key *k, char *why, size_t whylen)
{
    unsigned char x[32];
    size_t xlen = 0;

    if (!str_is(json_object_get(jwk, "crv"), "Ed25519")) {
        set_reason(why, whylen, "OKP key on an unsupported curve (Ed25519 only)");
        return JWK_SKIP;
    }
    if (!get_b64(jwk, "x", x, sizeof(x), &xlen) || xlen != sizeof(x)) {
        set_reason(why, whylen, "Ed25519 key whose x is not 32 bytes");
        return JWK_SKIP;
    }
    k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof(x));
    if (k->pkey == NULL) {
        set_reason(why, whylen, "Ed25519 key refused by OpenSSL");
        return JWK_SKIP;
    }
    k->type = AUTHN_KEY_OKP;
    k->algs = POL_ALG_EDDSA;
    k->sig_bytes = 64;
    return PC_OK;
}

/* Whether "use" and "key_ops", when present, allow verifying signatures. */
static bool
usable_for_sig(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
    size_t i;
    bool verify = false;

    if (use != NULL && !str_is(use, "sig"))
        return false;
    if (ops == NULL)
        return true;
    if (!json_is_array(ops))
        return false;
    for (i = 0; i < json_array_size(ops); i++) {
        const json_t *op = json_array_get(ops, i);
        if (str_is(op, "verify"))
            verify = true;
    }
    return verify;
}

static const EVP_MD *
md_of(unsigned alg)
{
    switch (alg) {
    case POL_ALG_RS256:
    case POL_ALG_PS256:
    case POL_ALG_ES256:
        return EVP_sha256();
    case POL_ALG_RS384:
    case POL_ALG_PS384:
    case POL_ALG_ES384:
        return EVP_sha384();
    case POL_ALG_RS512:
    case POL_ALG_PS512:
    case POL_ALG_ES512:
        return EVP_sha512();
    default:
        return NULL; /* EdDSA: the signature scheme hashes by itself */
    }
}

/*
 * The DigestVerify context of key k for one algorithm: digest, and for RSA
 * the padding.  PS*: RFC 7518 §3.5, MGF1 with the same hash and a salt as
 * long as the hash; an explicit salt length makes OpenSSL refuse others.
 */
static EVP_MD_CTX *
verify_template(const struct authn_key *k, unsigned alg)
{
    const EVP_MD *md = md_of(alg);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok;

    if (m == NULL || EVP_DigestVerifyInit(m, &pctx, md, NULL, k->pkey) != 1)
        goto fail;
    if ((alg & (POL_ALG_RS256 | POL_ALG_RS384 | POL_ALG_RS512)) != 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    else if ((alg & (POL_ALG_PS256 | POL_ALG_PS384 | POL_ALG_PS512)) != 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(md)) == 1;
    else
        ok = true;
    if (ok)
        return m;
fail:
    EVP_MD_CTX_free(m);
    return NULL;
}

static int
spki_hash(EVP_PKEY *pk, unsigned char out[32])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pk, &der);

    if (len <= 0)
        return PC_ERR_CRYPTO;
    SHA256(der, (size_t)len, out);
    OPENSSL_free(der);
    return PC_OK;
}

/*
 * Build key `k` from one JWK.  Returns PC_OK, JWK_SKIP with the reason in
 * why, or a negative pc_err for a failure of OpenSSL itself.
 */
static int
parse_key(const json_t *jwk, unsigned algs, struct authn_key *k, char *why, size_t whylen)
{
    const json_t *kty, *alg, *kid;
    unsigned bit = AUTHN_ALGS_ALL;
    size_t i;
    int rc;

    if (!json_is_object(jwk)) {
        set_reason(why, whylen, "not a JSON object");
        return JWK_SKIP;
    }
    for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
        if (json_object_get(jwk, private_members[i]) != NULL) {
            set_reason(why, whylen, "private or symmetric key material (\"%s\") in a JWKS",
                       private_members[i]);
            return JWK_SKIP;
        }
    }
    if (!usable_for_sig(jwk)) {
        set_reason(why, whylen, "not a signature key (use/key_ops)");
        return JWK_SKIP;
    }
    alg = json_object_get(jwk, "alg");
    if (alg != NULL) {
        bit = json_is_string(alg)
                  ? pol_alg_from_name(json_string_value(alg), json_string_length(alg))
                  : 0;
        if (bit == 0) {
            set_reason(why, whylen, "alg not accepted (none, HS*, or unknown)");
            return JWK_SKIP;
        }
    }
    kid = json_object_get(jwk, "kid");
    if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) > AUTHN_JWT_MAX_KID)) {
        set_reason(why, whylen, "kid not a string of at most %d bytes", AUTHN_JWT_MAX_KID);
        return JWK_SKIP;
    }
    kty = json_object_get(jwk, "kty");
    if (str_is(kty, "RSA"))
        rc = build_rsa(jwk, k, why, whylen);
    else if (str_is(kty, "EC"))
        rc = build_ec(jwk, k, why, whylen);
    else if (str_is(kty, "OKP"))
        rc = build_okp(jwk, k, why, whylen);
    else {
        set_reason(why, whylen, "unsupported kty");
        rc = JWK_SKIP;
    }
    if (rc != PC_OK)
        return rc;
    k->algs &= bit & algs;
    if (k->algs == 0) {
        set_reason(why, whylen, "no algorithm both allowed by the issuer and valid for the key");
        return JWK_SKIP;
    }
    for (i = 0; i < AUTHN_ALG_COUNT; i++) {
        if ((k->algs & (1u << i)) == 0)
            continue;
        k->vctx[i] = verify_template(k, 1u << i);
        if (k->vctx[i] == NULL) {
            set_reason(why, whylen, "key refused by OpenSSL for %s", pol_alg_name(1u << i));
            return JWK_SKIP;
        }
    }
    /* an empty kid selects nothing a header could name: the same as none */
    if (kid != NULL && json_string_length(kid) > 0) {
        k->kid_len = json_string_length(kid);
        k->kid = pc_xstrndup(json_string_value(kid), k->kid_len);
    }
    return spki_hash(k->pkey, k->spki_sha256);
}

static void
key_clear(struct authn_key *k)
{
    size_t i;

    for (i = 0; i < AUTHN_ALG_COUNT; i++)
        EVP_MD_CTX_free(k->vctx[i]);
    EVP_PKEY_free(k->pkey);
    free(k->kid);
    memset(k, 0, sizeof(*k));
}

static int
cmp_kid(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return alen == 0 ? 0 : memcmp(a, b, alen);
}

static int
cmp_key(const void *a, const void *b)
{
    const struct authn_key *x = a, *y = b;

    return cmp_kid(x->kid, x->kid_len, y->kid, y->kid_len);
}

/*
 * Keep the n built keys: a kid-less key can only be selected in a set of
 * one (a header without kid is refused otherwise), so with several keys
 * the kid-less ones are skipped.  Then sort and refuse duplicate kids.
 */
static int
finish_set(struct authn_keyset *ks, size_t *skipped, char *err, size_t errlen)
{
    size_t i, o = 0;

    for (i = 0; i < ks->n; i++) {
        if (ks->n > 1 && ks->keys[i].kid == NULL) {
            key_clear(&ks->keys[i]);
            (*skipped)++;
            set_reason(err, errlen, "a key without kid in a set of several keys was skipped");
            continue;
        }
        ks->keys[o++] = ks->keys[i];
    }
    ks->n = o;
    if (ks->n == 0) {
        set_reason(err, errlen, "JWKS has no usable key (%zu skipped)", *skipped);
        return PC_ERR_INVALID;
    }
    qsort(ks->keys, ks->n, sizeof(*ks->keys), cmp_key);
    for (i = 1; i < ks->n; i++) {
        if (cmp_key(&ks->keys[i - 1], &ks->keys[i]) == 0) {
            set_reason(err, errlen, "JWKS has two usable keys with the same kid");
            return PC_ERR_INVALID;
        }
    }
    return PC_OK;
}

/*
 * In addition to the contract in authn_jwt.h: when keys were skipped, err
 * holds the reason of the last one even on success (for the log).
 */
int
authn_keyset_parse(const char *json, size_t len, unsigned algs, struct authn_keyset **out,
                   size_t *skipped, char *err, size_t errlen)
{
    struct authn_keyset *ks = NULL;
    json_t *doc = NULL, *keys;
    json_error_t jerr;
    char why[160];
    size_t i, nskip = 0;
    int rc = PC_ERR_INVALID, krc;

    *out = NULL;
    set_reason(err, errlen, "%s", "");
    if (len > AUTHN_JWKS_MAX_BYTES) {
        set_reason(err, errlen, "JWKS of %zu bytes is above the cap of %d", len,
                   AUTHN_JWKS_MAX_BYTES);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        set_reason(err, errlen, "JWKS is not valid JSON (line %d, column %d)", jerr.line,
                   jerr.column);
        rc = PC_ERR_PARSE;
        goto out;
    }
    keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        set_reason(err, errlen, "JWKS is not an object with a \"keys\" array");
        goto out;
    }
    if (json_array_size(keys) > AUTHN_JWKS_MAX_KEYS) {
        set_reason(err, errlen, "JWKS has %zu keys, above the cap of %d", json_array_size(keys),
                   AUTHN_JWKS_MAX_KEYS);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    ks = pc_xcalloc(1, sizeof(*ks));
    ks->keys = pc_xcalloc(json_array_size(keys) + 1, sizeof(*ks->keys));
    for (i = 0; i < json_array_size(keys); i++) {
        struct authn_key *k = &ks->keys[ks->n];
        krc = parse_key(json_array_get(keys, i), algs, k, why, sizeof(why));
        if (krc == JWK_SKIP) {
            key_clear(k);
            nskip++;
            set_reason(err, errlen, "keys[%zu] skipped: %s", i, why);
            continue;
        }
        if (krc != PC_OK) {
            key_clear(k);
            set_reason(err, errlen, "keys[%zu]: OpenSSL failure", i);
            rc = krc;
            goto out;
        }
        ks->n++;
    }
    rc = finish_set(ks, &nskip, err, errlen);
    if (rc != PC_OK)
        goto out;
    *out = ks;
    ks = NULL;
out:
    if (skipped != NULL)
        *skipped = nskip;
    ERR_clear_error(); /* refused keys leave OpenSSL errors behind; they are reported above */
    authn_keyset_free(ks);
    json_decref(doc);
    return rc;
}

void
authn_keyset_free(struct authn_keyset *ks)
{
    size_t i;

    if (ks == NULL)
        return;
    for (i = 0; i < ks->n; i++)
        key_clear(&ks->keys[i]);
    free(ks->keys);
    free(ks);
}

void
authn_keyset_free_void(void *ks)
{
    authn_keyset_free(ks);
}

size_t
authn_keyset_count(const struct authn_keyset *ks)
{
    return ks == NULL ? 0 : ks->n;
}

const struct authn_key *
authn_keyset_find(const struct authn_keyset *ks, const char *kid, size_t kid_len)
{
    size_t lo = 0, hi;

    if (ks == NULL || ks->n == 0)
        return NULL;
    if (kid == NULL)
        return ks->n == 1 ? &ks->keys[0] : NULL;
    if (kid_len == 0)
        return NULL;
    hi = ks->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct authn_key *k = &ks->keys[mid];
        int c = cmp_kid(kid, kid_len, k->kid, k->kid_len);
        if (c == 0)
            return k;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool
authn_keyset_contains(const struct authn_keyset *ks, const char *kid,
                      const unsigned char spki_sha256[32])
{
    const struct authn_key *k = authn_keyset_find(ks, kid, kid == NULL ? 0 : strlen(kid));

    return k != NULL && CRYPTO_memcmp(k->spki_sha256, spki_sha256, 32) == 0;
}
