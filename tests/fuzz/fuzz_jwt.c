/*
 * libFuzzer target for the JWT path.  Every input is fed
 * - as an Authorization value to authn_bearer_parse(), and the token it
 *   yields to authn_jwt_verify();
 * - as a raw compact token to authn_jwt_verify();
 * against a fixed key set: three TEST-ONLY public keys of the fixtures in
 * tests/unit/jwt/ (so the valid tokens there are seeds that verify) plus an
 * Ed25519 key whose private half is fixed here.  Two prefixes go deeper:
 * - "\x01" + JSON: the JSON is read as a verified payload
 *   (authn_claims_build) and checked (authn_claims_check);
 * - "\x02" + HEADER "\n" PAYLOAD: both are signed here with the Ed25519
 *   key, so arbitrary headers and claims reach the code behind the
 *   signature.
 * Verified claims are checked and go through a small token cache.
 * Invariants of the contract abort on violation.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "authn/authn_jwt_int.h"
#include "common/pc_b64.h"

#define FUZZ_TOKEN_MAX  8192 /* the issuers' default max_token_bytes */
#define FUZZ_CACHE_SIZE 8    /* small: eviction gets exercised */
#define FUZZ_NOW        1700000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * TEST-ONLY public keys copied from tests/unit/jwt/jwks.json; the valid-*
 * seeds in corpus/jwt/ were minted for them.  After regenerating the
 * fixtures, copy the new keys and seeds here together (or the seeds merely
 * stop verifying).
 */
static const char fixture_keys[] =
    "{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"3bnFydrvns7jd6PMbuMrvSI6EMWuk3mtI9fN"
    "ZsBItff6Max19BQ5UN7WJ0cMvfWHYyfqKOmpfWaMoP1ZmKuxFsoIeH3vI6C7cRy-NDKKG0NxlOTEdGGS0YH6Gj"
    "CYsHyDiFrBygeXDvOqPnrkQ_gJztJduwCTOAk9AbbVY8S5MquEAgN3YXuCMkJwWYKau20iN346qZYwU-v-V_7p"
    "7c21_TglE9njeWmIOThC0M4aywCWBX52GMDHw0Oqc5XD2o2-_PkQ9rKZuAHkPA2CgkmszM8v79-1rR7b7LeCmK"
    "TqFQdIXvNazm-rwewANunNnikbMQcO5qqDG10wBXL4VBMrgQ\",\"e\":\"AQAB\",\"kid\":\"TEST-ONLY-"
    "rsa\",\"use\":\"sig\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"Kauasu4MFkNPTASsGUlYM"
    "GCayZOPWVnQFLYQFRUT9iI\",\"y\":\"MuRwmXNgjsMbWVNAwFhnZue7f9XQ7UH2GFs36f3Dm4w\",\"kid\""
    ":\"TEST-ONLY-ec256\",\"use\":\"sig\"},{\"x\":\"ZaajMj8a7_7euMrQB9nlPbK-Ilf4YQicbsWKUSC"
    "LLHM\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"TEST-ONLY-ed25519\",\"use\":\"sig"
    "\"}";

/* TEST-ONLY: the fuzzer's own Ed25519 private key (kid "fuzz"). */
static const unsigned char fuzz_seed[32] = "portcullis-fuzz-TEST-ONLY-key!!";

static struct authn_keyset *ks;
static struct authn_tcache *tc;
static EVP_PKEY *fuzz_key;
static char iss_s[] = "https://idp.test.example/", aud_s[] = "billing", scope_s[] = "billing:read";
static char *scopes[] = {scope_s};
static struct pol_issuer issuer = {
    .issuer = iss_s, .leeway_ms = 30000, .algorithms = AUTHN_ALGS_ALL};
static struct pol_jwt route = {
    .issuer = &issuer, .audience = aud_s, .scopes = scopes, .nscopes = 1};

static void
init(void)
{
    unsigned char pub[32];
    char x[64], doc[4096];
    size_t n = sizeof(pub), skipped = 0;

    fuzz_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, fuzz_seed, 32);
    if (fuzz_key == NULL || EVP_PKEY_get_raw_public_key(fuzz_key, pub, &n) != 1)
        abort();
    pc_b64url_encode(x, pub, n);
    if ((size_t)snprintf(doc, sizeof(doc),
                         "{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"fuzz\","
                         "\"x\":\"%s\"}]}",
                         fixture_keys, x) >= sizeof(doc))
        abort();
    if (authn_keyset_parse(doc, strlen(doc), AUTHN_ALGS_ALL, &ks, &skipped, NULL, 0) != 0 ||
        authn_keyset_count(ks) != 4)
        abort();
    tc = authn_tcache_new(FUZZ_CACHE_SIZE);
}

static void
check_claims(const struct authn_claims *c)
{
    const char *missing = NULL;
    enum authn_jwt_err e;
    size_t i, len = 0;

    if (c->naud > AUTHN_JWT_MAX_AUD || c->nscopes > AUTHN_JWT_MAX_SCOPES || c->payload == NULL ||
        c->scope_str == NULL)
        abort();
    for (i = 0; i < c->nscopes; i++)
        len += strlen(c->scopes[i]) + 1;
    if (strlen(c->scope_str) != (len == 0 ? 0 : len - 1))
        abort();
    for (i = 0; i < c->naud; i++)
        if (c->aud[i] == NULL)
            abort();
    route.bind_to_client_cert = false;
    e = authn_claims_check(c, &issuer, &route, FUZZ_NOW, NULL, &missing);
    if ((e == AUTHN_JWT_SCOPE) != (missing != NULL) || authn_jwt_err_str(e) == NULL)
        abort();
    route.bind_to_client_cert = true;
    (void)authn_claims_check(c, &issuer, &route, FUZZ_NOW, "abc", NULL);
}

static void
verify(const char *tok, size_t len)
{
    char kid[AUTHN_JWT_MAX_KID + 1];
    unsigned char hash[32];
    struct authn_claims *c = NULL;
    enum authn_jwt_err e;
    int64_t exp;

    memset(kid, 'x', sizeof(kid));
    e = authn_jwt_verify(tok, len, ks, AUTHN_ALGS_ALL, &c, kid);
    if ((e == AUTHN_JWT_OK) != (c != NULL) || memchr(kid, '\0', sizeof(kid)) == NULL ||
        (unsigned)e >= AUTHN_JWT_MAX)
        abort();
    if (c == NULL)
        return;
    if ((c->alg & AUTHN_ALGS_ALL) == 0 || (c->alg & (c->alg - 1)) != 0 ||
        !authn_keyset_contains(ks, c->kid, c->key_sha256))
        abort();
    check_claims(c);
    SHA256((const unsigned char *)tok, len, hash);
    exp = c->exp;
    authn_tcache_put(tc, 0, hash, c); /* c belongs to the cache now */
    if (authn_tcache_get(tc, 0, hash, FUZZ_NOW, 30, ks) == NULL && exp > FUZZ_NOW + 60)
        abort(); /* just put, not expired, key present: must hit */
}

/* "\x01" JSON: the claims reader on any JSON object. */
static void
claims_only(const uint8_t *data, size_t size)
{
    static const unsigned char sha[32];
    struct authn_claims *c = NULL;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    if (authn_claims_build(j, "k", 1, POL_ALG_EDDSA, sha, &c) == AUTHN_JWT_OK) {
        if (c == NULL)
            abort();
        check_claims(c);
    }
    authn_claims_free(c);
}

/* "\x02" HEADER "\n" PAYLOAD: signed with the fuzz key, then verified. */
static void
signed_here(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char tok[PC_B64URL_ENCLEN(FUZZ_TOKEN_MAX) + 100];
    unsigned char sig[64];
    size_t hl, pl, o, siglen = sizeof(sig);
    EVP_MD_CTX *m;

    if (nl == NULL || size > FUZZ_TOKEN_MAX)
        return;
    hl = (size_t)(nl - data);
    pl = size - hl - 1;
    o = pc_b64url_encode(tok, data, hl);
    tok[o++] = '.';
    o += pc_b64url_encode(tok + o, nl + 1, pl);
    m = EVP_MD_CTX_new();
    if (m == NULL || EVP_DigestSignInit(m, NULL, NULL, NULL, fuzz_key) != 1 ||
        EVP_DigestSign(m, sig, &siglen, (const unsigned char *)tok, o) != 1)
        abort();
    EVP_MD_CTX_free(m);
    tok[o++] = '.';
    o += pc_b64url_encode(tok + o, sig, siglen);
    verify(tok, o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tok = NULL;
    size_t tok_len = 0;

    if (ks == NULL)
        init();
    if (size > 0 && data[0] == 1) {
        claims_only(data + 1, size - 1);
        return 0;
    }
    if (size > 0 && data[0] == 2) {
        signed_here(data + 1, size - 1);
        return 0;
    }
    if (authn_bearer_parse((const char *)data, size, FUZZ_TOKEN_MAX, &tok, &tok_len) ==
        AUTHN_JWT_OK) {
        if (tok_len == 0 || tok_len > FUZZ_TOKEN_MAX || tok < (const char *)data ||
            tok + tok_len != (const char *)data + size)
            abort();
        verify(tok, tok_len);
    }
    verify((const char *)data, size);
    return 0;
}
