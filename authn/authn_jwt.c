/*
 * Compact JWS (RFC 7515) verification on the request path: split, strict
 * base64url, header checks, key selection by kid, signature with OpenSSL
 * EVP on the key set's shared EVP_PKEYs, then the claims (authn_claims.c).
 * Also the Authorization header parser and the reason strings.
 *
 * Runs in every worker thread at once: nothing here locks or keeps state;
 * the decode buffers are on the stack, sized by AUTHN_JWT_MAX_TOKEN_BYTES.
 *
 * Contracts of the public functions: authn/authn_jwt.h.
 */
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/err.h>

#include "authn/authn_jwt_int.h"
#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_str.h"

#define JWT_MAX_PARTS  5                      /* a JWE has five; more is malformed anyway */
#define JWT_MAX_DER    (2 * (3 + 67) + 3)     /* DER ECDSA-Sig-Value of P-521: 2 INTEGERs */
#define JWT_JSON_FLAGS JSON_REJECT_DUPLICATES /* and objects or arrays only at the top */

static const char *const reasons[AUTHN_JWT_MAX] = {
    [AUTHN_JWT_OK] = "ok",
    [AUTHN_JWT_MISSING] = "no bearer token",
    [AUTHN_JWT_MULTIPLE] = "more than one token",
    [AUTHN_JWT_TOO_LARGE] = "token too large",
    [AUTHN_JWT_MALFORMED] = "malformed token",
    [AUTHN_JWT_JWE] = "encrypted tokens are not accepted",
    [AUTHN_JWT_ALG] = "signature algorithm not accepted",
    [AUTHN_JWT_TYP] = "token type not accepted",
    [AUTHN_JWT_CRIT] = "critical header not supported",
    [AUTHN_JWT_KID_MISSING] = "token names no key",
    [AUTHN_JWT_KID_UNKNOWN] = "unknown signing key",
    [AUTHN_JWT_SIGNATURE] = "signature does not verify",
    [AUTHN_JWT_NO_EXP] = "token has no expiry",
    [AUTHN_JWT_EXPIRED] = "token expired",
    [AUTHN_JWT_NOT_YET_VALID] = "token not yet valid",
    [AUTHN_JWT_IAT_FUTURE] = "token issued in the future",
    [AUTHN_JWT_ISSUER] = "wrong issuer",
    [AUTHN_JWT_AUDIENCE] = "wrong audience",
    [AUTHN_JWT_SCOPE] = "insufficient scope",
    [AUTHN_JWT_BINDING] = "token not bound to this client certificate",
    [AUTHN_JWT_NO_KEYS] = "no keys for the issuer",
};

const char *
authn_jwt_err_str(enum authn_jwt_err e)
{
    if ((unsigned)e >= AUTHN_JWT_MAX || reasons[e] == NULL)
        return "invalid token";
    return reasons[e];
}

/* --- header ------------------------------------------------------------------ */

static bool
typ_ok(const json_t *typ)
{
    const char *s;
    size_t n;

    if (typ == NULL)
        return true;
    if (!json_is_string(typ))
        return false;
    s = json_string_value(typ);
    n = json_string_length(typ);
    /* RFC 7515 §4.1.9: "application/" may be omitted, and is compared without case */
    if (n > 12 && pc_str_eq_nocase(s, 12, "application/", 12)) {
        s += 12;
        n -= 12;
    }
    return pc_str_eq_nocase(s, n, "JWT", 3) || pc_str_eq_nocase(s, n, "at+jwt", 6);
}

/*
 * Check the parsed header: kid (copied to kid_buf first, so the caller has
 * it whatever follows), alg on the allow-list, typ, crit.  jku, x5u, jwk
 * and x5c are never looked at.
 */
static enum authn_jwt_err
check_header(const json_t *hdr, unsigned algs, unsigned *alg, const char **kid, size_t *kid_len,
             char *kid_buf)
{
    const json_t *v;

    v = json_object_get(hdr, "kid");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) > AUTHN_JWT_MAX_KID)
            return AUTHN_JWT_MALFORMED;
        /* jansson refuses \u0000 (no JSON_ALLOW_NUL), so the kid is a C string */
        if (json_string_length(v) > 0) {
            *kid = json_string_value(v);
            *kid_len = json_string_length(v);
            if (kid_buf != NULL)
                memcpy(kid_buf, *kid, *kid_len + 1);
        }
    }
    v = json_object_get(hdr, "alg");
    *alg = json_is_string(v) ? pol_alg_from_name(json_string_value(v), json_string_length(v)) : 0;
    if (*alg == 0 || (*alg & algs) == 0)
        return AUTHN_JWT_ALG;
    if (!typ_ok(json_object_get(hdr, "typ")))
        return AUTHN_JWT_TYP;
    /* RFC 7515 §4.1.11: we understand no extension, so any crit is refused */
    if (json_object_get(hdr, "crit") != NULL)
        return AUTHN_JWT_CRIT;
    return AUTHN_JWT_OK;
}

/* --- signature --------------------------------------------------------------- */

/* JOSE's raw r||s (RFC 7518 §3.4) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static bool
ecdsa_raw_to_der(const unsigned char *sig, size_t len, unsigned char *der, size_t *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
    BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    unsigned char *p = der;
    bool ok = false;
    int n;

    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by es */
    n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > JWT_MAX_DER)
        goto out;
    n = i2d_ECDSA_SIG(es, &p);
    if (n <= 0)
        goto out;
    *derlen = (size_t)n;
    ok = true;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

/*
 * Verify `sig` over data[0..dlen) with key k under `alg` (one of k->algs),
 * on a copy of the key's context for that algorithm (authn_jwt_int.h).
 * OpenSSL's errors are popped again: the thread also serves TLS, where a
 * stale error would confuse SSL_get_error().
 */
static bool
verify_sig(const struct authn_key *k, unsigned alg, const unsigned char *data, size_t dlen,
           const unsigned char *sig, size_t slen)
{
    unsigned char der[JWT_MAX_DER];
    const EVP_MD_CTX *tmpl = k->vctx[__builtin_ctz(alg)];
    EVP_MD_CTX *mctx = NULL;
    bool ok = false;

    if (slen != k->sig_bytes || tmpl == NULL)
        return false;
    ERR_set_mark();
    if (k->type == AUTHN_KEY_EC) {
        if (!ecdsa_raw_to_der(sig, slen, der, &slen))
            goto out;
        sig = der;
    }
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL || EVP_MD_CTX_copy_ex(mctx, tmpl) != 1)
        goto out;
    ok = EVP_DigestVerify(mctx, sig, slen, data, dlen) == 1;
out:
    EVP_MD_CTX_free(mctx);
    ERR_pop_to_mark();
    return ok;
}

/* --- the token --------------------------------------------------------------- */

/* Decode one part as a JSON object; NULL when it is not exactly that. */
static json_t *
decode_object(const char *s, size_t len, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    json_t *j;

    if (len == 0 || pc_b64url_decode(s, len, buf, cap, &n) != PC_OK)
        return NULL;
    j = json_loadb((const char *)buf, n, JWT_JSON_FLAGS, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/*
 * Select the key: by kid, else the only key of the set; the header's alg
 * must also be one of the key's.
 */
static enum authn_jwt_err
select_key(const struct authn_keyset *ks, const char *kid, size_t kid_len, unsigned alg,
           const struct authn_key **key)
{
    if (authn_keyset_count(ks) == 0)
        return AUTHN_JWT_NO_KEYS;
    *key = authn_keyset_find(ks, kid, kid_len);
    if (*key == NULL)
        return kid == NULL ? AUTHN_JWT_KID_MISSING : AUTHN_JWT_KID_UNKNOWN;
    if (((*key)->algs & alg) == 0)
        return AUTHN_JWT_ALG;
    return AUTHN_JWT_OK;
}

enum authn_jwt_err
authn_jwt_verify(const char *tok, size_t len, const struct authn_keyset *ks, unsigned algs,
                 struct authn_claims **out, char *kid_buf)
{
    unsigned char buf[AUTHN_JWT_MAX_PART_BYTES], sig[AUTHN_JWT_MAX_SIG_BYTES];
    const char *part[JWT_MAX_PARTS + 1], *p, *end, *kid = NULL;
    size_t nparts = 1, kid_len = 0, siglen = 0, plen = 0, hlen, p64len, s64len;
    const struct authn_key *key = NULL;
    json_t *hdr = NULL, *payload = NULL;
    enum authn_jwt_err rc = AUTHN_JWT_MALFORMED;
    unsigned alg = 0;
    int drc;

    *out = NULL;
    if (kid_buf != NULL)
        kid_buf[0] = '\0';
    if (len > AUTHN_JWT_MAX_TOKEN_BYTES)
        return AUTHN_JWT_TOO_LARGE;
    if (tok == NULL || len == 0)
        return AUTHN_JWT_MALFORMED;
    /* part[i] is where part i starts (just past a '.'); count up to one more than a JWE has */
    end = tok + len;
    part[0] = tok;
    for (p = tok; nparts <= JWT_MAX_PARTS; p++) {
        p = memchr(p, '.', (size_t)(end - p));
        if (p == NULL)
            break;
        part[nparts++] = p + 1;
    }
    if (nparts == JWT_MAX_PARTS && p == NULL)
        return AUTHN_JWT_JWE;
    if (nparts != 3 || p != NULL)
        return AUTHN_JWT_MALFORMED;
    hlen = (size_t)(part[1] - part[0] - 1);
    p64len = (size_t)(part[2] - part[1] - 1);
    s64len = (size_t)(end - part[2]);

    hdr = decode_object(part[0], hlen, buf, sizeof(buf));
    if (hdr == NULL)
        goto out;
    rc = check_header(hdr, algs, &alg, &kid, &kid_len, kid_buf);
    if (rc != AUTHN_JWT_OK)
        goto out;
    rc = select_key(ks, kid, kid_len, alg, &key);
    if (rc != AUTHN_JWT_OK)
        goto out;
    /* syntax of the other two parts before any crypto: cheap and deterministic */
    rc = AUTHN_JWT_MALFORMED;
    drc = pc_b64url_decode(part[2], s64len, sig, sizeof(sig), &siglen);
    if (drc == PC_ERR_TOO_LARGE)
        rc = AUTHN_JWT_SIGNATURE; /* longer than any key's signature */
    if (drc != PC_OK)
        goto out;
    if (pc_b64url_decode(part[1], p64len, buf, sizeof(buf), &plen) != PC_OK)
        goto out;
    /* the signing input is the ASCII of "header.payload" (RFC 7515 §5.2) */
    if (!verify_sig(key, alg, (const unsigned char *)tok, hlen + 1 + p64len, sig, siglen)) {
        rc = AUTHN_JWT_SIGNATURE;
        goto out;
    }
    /* only now is the payload parsed: an unsigned one never reaches jansson */
    payload = json_loadb((const char *)buf, plen, JWT_JSON_FLAGS, NULL);
    if (!json_is_object(payload))
        goto out;
    rc = authn_claims_build(payload, kid, kid_len, alg, key->spki_sha256, out);
    payload = NULL; /* the claims took it over, or released it */
out:
    json_decref(payload);
    json_decref(hdr);
    return rc;
}

/* --- Authorization: Bearer ------------------------------------------------------ */

/* RFC 7235 token68 characters before the '=' padding (GNU range designators). */
static const bool token68[256] = {
    ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['0' ... '9'] = true, ['-'] = true, ['.'] = true,
    ['_'] = true,         ['~'] = true,         ['+'] = true,         ['/'] = true,
};

enum authn_jwt_err
authn_bearer_parse(const char *value, size_t len, size_t max, const char **tok, size_t *tok_len)
{
    size_t i = 6, start, n;

    *tok = NULL;
    *tok_len = 0;
    if (value == NULL || len < 7 || !pc_str_eq_nocase(value, 6, "Bearer", 6) || value[6] != ' ')
        return AUTHN_JWT_MALFORMED;
    while (i < len && value[i] == ' ')
        i++;
    start = i;
    if (len - start > max)
        return AUTHN_JWT_TOO_LARGE;
    /* RFC 7235 token68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
    while (i < len && token68[(unsigned char)value[i]])
        i++;
    if (i == start)
        return AUTHN_JWT_MALFORMED;
    while (i < len && value[i] == '=')
        i++;
    if (i != len)
        return AUTHN_JWT_MALFORMED;
    n = len - start;
    *tok = value + start;
    *tok_len = n;
    return AUTHN_JWT_OK;
}
