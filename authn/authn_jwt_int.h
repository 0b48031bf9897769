/*
 * authn/ JWT internals shared by authn_jwks.c, authn_jwt.c, authn_claims.c
 * and authn_tcache.c: the layout of a key set, the internal caps, and the
 * key lookup.  Nothing here is for other modules (authn_jwt.h is the
 * contract).
 */
#ifndef AUTHN_JWT_INT_H
#define AUTHN_JWT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "authn/authn_jwt.h"

/*
 * Hard ceiling on one compact token, bytes.  The caller enforces the
 * issuer's max_token_bytes (at most 64 KiB, policy/pol_issuer.c); this is
 * checked again so the decode buffers below stay bounded whatever the
 * caller does.
 */
#define AUTHN_JWT_MAX_TOKEN_BYTES 65536
/* The decoded header or payload of a maximal token, bytes (the stack buffer). */
#define AUTHN_JWT_MAX_PART_BYTES ((AUTHN_JWT_MAX_TOKEN_BYTES / 4) * 3 + 2)
#define AUTHN_RSA_MIN_BITS       2048 /* weaker RSA keys are skipped (NIST SP 800-131A) */
#define AUTHN_RSA_MAX_BITS       8192 /* bounds verify cost (an attacker picks the kid, not the key) */
#define AUTHN_RSA_MAX_E_BYTES    4    /* public exponent; a huge e makes every verify slow */
#define AUTHN_JWT_MAX_SIG_BYTES  (AUTHN_RSA_MAX_BITS / 8) /* largest signature of any key */
#define AUTHN_JWT_MAX_X5T        64                 /* cnf."x5t#S256": base64url of SHA-256 is 43 */
#define AUTHN_JWT_TIME_MAX       ((int64_t)1 << 62) /* |exp|, |nbf|, |iat| clamp: no overflow */

/* Key families: which algorithms a key may ever verify. */
#define AUTHN_ALGS_RSA                                                                             \
    (POL_ALG_RS256 | POL_ALG_RS384 | POL_ALG_RS512 | POL_ALG_PS256 | POL_ALG_PS384 | POL_ALG_PS512)
#define AUTHN_ALGS_ALL                                                                             \
    (AUTHN_ALGS_RSA | POL_ALG_ES256 | POL_ALG_ES384 | POL_ALG_ES512 | POL_ALG_EDDSA)

#define AUTHN_ALG_COUNT 10 /* bits of enum pol_alg: index = __builtin_ctz(bit) */

enum authn_key_type { AUTHN_KEY_RSA, AUTHN_KEY_EC, AUTHN_KEY_OKP };

/* One usable verification key; immutable once the set is built. */
struct authn_key {
    char *kid;      /* NUL-terminated, no NUL inside; NULL when the JWK had none */
    size_t kid_len; /* 0 when kid is NULL */
    EVP_PKEY *pkey; /* public key; shared read-only by every thread */
    enum authn_key_type type;
    unsigned algs;    /* enum pol_alg bits: type ∩ the JWK's "alg" ∩ the allow-list; never 0 */
    size_t sig_bytes; /* exact signature length: modulus bytes (RSA), 2 * field (EC), 64 */
    unsigned char spki_sha256[32]; /* SHA-256 of the DER SubjectPublicKeyInfo */
    /*
     * One DigestVerify context per allowed algorithm (NULL for the others),
     * initialised once with the key, digest and RSA padding.  Verification
     * copies one (EVP_MD_CTX_copy_ex takes it const: openssl-threads(7)
     * allows that from any number of threads) instead of running
     * EVP_DigestVerifyInit, whose algorithm fetches cost ~3 us per token.
     */
    EVP_MD_CTX *vctx[AUTHN_ALG_COUNT];
};

/*
 * Keys sorted by (kid_len, kid) with the kid-less key (at most one, and
 * only in a set of one key) first.  Immutable; read by any thread.
 */
struct authn_keyset {
    struct authn_key *keys;
    size_t n;
};

/*
 * The key a token header selects: by kid (kid_len bytes) when kid is not
 * NULL, else the only key of a one-key set.  NULL when there is none.
 */
const struct authn_key *authn_keyset_find(const struct authn_keyset *ks, const char *kid,
                                          size_t kid_len);

/*
 * Read the claims of a verified payload (an object; the reference is taken
 * over by the claims on success and released on failure) into a new
 * struct authn_claims allocated as one block.  Returns AUTHN_JWT_OK or
 * AUTHN_JWT_MALFORMED (a claim above its cap or with bytes that could not
 * travel in a header).  authn_claims.c.
 */
enum authn_jwt_err authn_claims_build(json_t *payload, const char *kid, size_t kid_len,
                                      unsigned alg, const unsigned char key_sha256[32],
                                      struct authn_claims **out);

#endif
