/*
 * authn_jwt: JWT access tokens verified with OpenSSL EVP on keys built once
 * from a JWKS, claims read with jansson, and a per-worker cache of verified
 * tokens.  libjwt is not used here (notes Q5: it accepts HS256 signed with an
 * RSA public key, has no JWKS, PS*, EdDSA or time checks, and re-parses the
 * PEM key on every call).
 *
 * Nothing here does I/O or takes a lock.  A key set is immutable once built
 * and may be read by any number of threads; a token cache belongs to one
 * worker thread.
 */
#ifndef AUTHN_JWT_H
#define AUTHN_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "policy/pol.h"

#define AUTHN_JWKS_MAX_BYTES (256 * 1024) /* one JWKS document */
#define AUTHN_JWKS_MAX_KEYS  64           /* keys in one JWKS */
#define AUTHN_JWT_MAX_KID    256          /* bytes of a "kid" */
#define AUTHN_JWT_MAX_SCOPES 64           /* scopes read from one token */
#define AUTHN_JWT_MAX_AUD    16           /* audiences read from one token */
#define AUTHN_JWT_MAX_CLAIM  1024         /* bytes of a claim copied into a header */

/* Why a token was refused.  Every value but AUTHN_JWT_OK is a denial. */
enum authn_jwt_err {
    AUTHN_JWT_OK = 0,
    AUTHN_JWT_MISSING,       /* no Authorization: Bearer */
    AUTHN_JWT_MULTIPLE,      /* two Authorization headers, or two tokens */
    AUTHN_JWT_TOO_LARGE,     /* above the issuer's max_token_bytes */
    AUTHN_JWT_MALFORMED,     /* not three base64url parts of JSON objects */
    AUTHN_JWT_JWE,           /* five parts: encrypted tokens are not accepted */
    AUTHN_JWT_ALG,           /* alg absent, "none", HS*, not allowed, or not the key's */
    AUTHN_JWT_TYP,           /* typ other than JWT / at+jwt */
    AUTHN_JWT_CRIT,          /* crit present */
    AUTHN_JWT_KID_MISSING,   /* no kid while the key set has several keys */
    AUTHN_JWT_KID_UNKNOWN,   /* kid not in the key set */
    AUTHN_JWT_SIGNATURE,     /* the signature does not verify */
    AUTHN_JWT_NO_EXP,        /* exp missing or not a number */
    AUTHN_JWT_EXPIRED,       /* exp + leeway <= now */
    AUTHN_JWT_NOT_YET_VALID, /* nbf - leeway > now */
    AUTHN_JWT_IAT_FUTURE,    /* iat - leeway > now */
    AUTHN_JWT_ISSUER,        /* iss missing or not the issuer's, byte for byte */
    AUTHN_JWT_AUDIENCE,      /* aud missing or without the route's audience */
    AUTHN_JWT_SCOPE,         /* a scope the route requires is missing (403) */
    AUTHN_JWT_BINDING,       /* cnf."x5t#S256" missing or not the client certificate's */
    AUTHN_JWT_NO_KEYS,       /* the issuer has no keys (yet) */
    AUTHN_JWT_MAX
};

/** A short, constant, log- and client-safe reason ("token expired"). Never the token. */
const char *authn_jwt_err_str(enum authn_jwt_err e);

/* --- key sets --------------------------------------------------------------- */

struct authn_keyset;

/*
 * Build a key set from a JWKS document (RFC 7517) of `len` bytes (not NUL
 * terminated; at most AUTHN_JWKS_MAX_BYTES).  Keys: RSA (n, e; >= 2048
 * bits), EC (P-256, P-384, P-521; x, y checked on the curve), OKP (Ed25519).
 * Keys with "use" other than "sig", with private members (d, p, q, ...),
 * "oct" keys, unknown kty/crv, and keys whose "alg" is not in `algs` (a
 * bitmask of enum pol_alg) are skipped and counted in *skipped; a key
 * without "alg" may be used with every allowed algorithm of its type.
 * Duplicate kids are an error.  Zero usable keys is an error.  On failure
 * `err` (capacity errlen) holds a one-line reason.
 * (authn_jwks.c: keys with bad or out-of-range members -- RSA below 2048
 * or above 8192 bits, EC points off the curve -- are skipped as well, per
 * RFC 7517 §5, and so is a key without kid in a set of several; when keys
 * were skipped, err names the last reason even on success.)
 */
int authn_keyset_parse(const char *json, size_t len, unsigned algs, struct authn_keyset **out,
                       size_t *skipped, char *err, size_t errlen);
void authn_keyset_free(struct authn_keyset *ks);
void authn_keyset_free_void(void *ks);
size_t authn_keyset_count(const struct authn_keyset *ks);

/**
 * Whether the key (kid, SHA-256 of its SubjectPublicKeyInfo) is still in the
 * set: a cached token verified with a key that left the JWKS is dropped.
 */
bool authn_keyset_contains(const struct authn_keyset *ks, const char *kid,
                           const unsigned char spki_sha256[32]);

/* --- tokens ------------------------------------------------------------------ */

/*
 * The verified claims of one token, immutable once built.  Owned by the
 * token cache (or by the caller when there is none): authn_claims_free().
 */
struct authn_claims {
    char *iss, *sub, *jti, *kid; /* NULL when absent */
    char **aud;                  /* "aud" as a list (a string is one element) */
    size_t naud;
    char **scopes; /* from "scope" (space separated) or "scp" */
    size_t nscopes;
    char *scope_str;              /* the scopes joined with ' ' (X-Auth-Scopes) */
    int64_t exp;                  /* INT64_MIN when absent or not a number (check: NO_EXP) */
    int64_t nbf, iat;             /* INT64_MIN when absent */
    char *cnf_x5t;                /* cnf."x5t#S256", NULL when absent */
    unsigned alg;                 /* the enum pol_alg it was signed with */
    unsigned char key_sha256[32]; /* the key that verified it */
    json_t *payload;              /* all claims, for claims_to_headers */
};

void authn_claims_free(struct authn_claims *c);

/*
 * Parse the compact JWS `tok` (len bytes, not NUL terminated; the caller
 * has checked the size cap), check the header (alg on the issuer's
 * allow-list and of the key's type, typ absent/"JWT"/"at+jwt", no crit;
 * jku/x5u/jwk/x5c are ignored, never fetched or trusted), select the key by
 * kid (no kid: only when the set has exactly one key) and verify the
 * signature.  Then read the claims.  No time, issuer, audience or scope
 * check here: see authn_claims_check().  On success *out owns the claims.
 * kid_buf (AUTHN_JWT_MAX_KID + 1 bytes, or NULL) receives the header's kid,
 * NUL-terminated ("" when absent), whatever the result: on
 * AUTHN_JWT_KID_UNKNOWN the caller may ask for a JWKS refetch.
 */
enum authn_jwt_err authn_jwt_verify(const char *tok, size_t len, const struct authn_keyset *ks,
                                    unsigned algs, struct authn_claims **out, char *kid_buf);

/*
 * The checks made on every request, cached token or not: exp (required),
 * nbf, iat with the issuer's leeway; iss equal to issuer->issuer; aud
 * containing route->audience; every route scope present; with
 * bind_to_client_cert, cnf."x5t#S256" equal to `x5t` (base64url SHA-256 of
 * the client certificate; compared in constant time).  On AUTHN_JWT_SCOPE
 * *missing (if not NULL) names the first missing scope.
 */
enum authn_jwt_err authn_claims_check(const struct authn_claims *c, const struct pol_issuer *issuer,
                                      const struct pol_jwt *route, int64_t now, const char *x5t,
                                      const char **missing);

/* --- the verified-token cache (one per worker; no lock) ------------------------ */

struct authn_tcache;

/** A cache of at most `max_entries` tokens (0: no cache; every call misses). */
struct authn_tcache *authn_tcache_new(size_t max_entries);
void authn_tcache_free(struct authn_tcache *tc);

/*
 * The claims of a token verified earlier for issuer `issuer_index`, keyed by
 * the SHA-256 of the token.  A hit requires that the entry has not passed
 * its exp (+ leeway) at `now` and that its key is still in `ks`; otherwise
 * the entry is dropped and NULL returned.  The pointer stays valid until
 * the next put/free on this cache.
 */
const struct authn_claims *authn_tcache_get(struct authn_tcache *tc, size_t issuer_index,
                                            const unsigned char hash[32], int64_t now,
                                            int64_t leeway_s, const struct authn_keyset *ks);

/** Keep `c` (ownership moves to the cache; freed at once when the cache is off). */
void authn_tcache_put(struct authn_tcache *tc, size_t issuer_index, const unsigned char hash[32],
                      struct authn_claims *c);

/** Entries, hits and misses since creation (metrics). */
void authn_tcache_stats(const struct authn_tcache *tc, uint64_t *entries, uint64_t *hits,
                        uint64_t *misses);

/* --- the Authorization header ---------------------------------------------------- */

/*
 * Extract the token of one "Authorization: Bearer TOKEN" value (scheme
 * case-insensitive, exactly one space or more, then one token68 with no
 * further spaces).  Returns AUTHN_JWT_OK and (tok, tok_len) pointing into
 * value, or MALFORMED / TOO_LARGE (above max).
 */
enum authn_jwt_err authn_bearer_parse(const char *value, size_t len, size_t max, const char **tok,
                                      size_t *tok_len);

#endif
