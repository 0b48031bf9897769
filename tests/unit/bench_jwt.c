/*
 * Micro-benchmark of the JWT stage (not part of make test).  Build by hand
 * after `make BUILD=build/h unit`:
 *
 *   gcc -O2 -D_GNU_SOURCE -I. $(pkg-config --cflags jansson openssl) \
 *       tests/unit/bench_jwt.c build/h/lib/libauthn.a build/h/lib/libpol.a \
 *       build/h/lib/libpc.a -ljansson -lcrypto -lyaml -o build/h/bench_jwt
 *   build/h/bench_jwt
 *
 * One thread; each case runs ROUNDS rounds of about ROUND_NS and prints
 * the best and the median round in microseconds per operation.  Tokens are
 * about 800 bytes, signed with TEST-ONLY keys generated at start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authn/authn_jwt.h"
#include "tests/unit/jwt_test.h"

#define ROUNDS   7
#define ROUND_NS 300000000LL /* 0.3 s per round */
#define NOW      1700000000LL

static char iss_s[] = "https://idp.example.com/", aud_s[] = "billing", sc_s[] = "billing:read";
static char *scopes[] = {sc_s};
static struct pol_issuer issuer = {.issuer = iss_s, .leeway_ms = 30000, .algorithms = TJ_ALL_ALGS};
static struct pol_jwt route = {
    .issuer = &issuer, .audience = aud_s, .scopes = scopes, .nscopes = 1};
static struct authn_keyset *ks;
static struct authn_tcache *tc;
static const char *cur_tok;
static size_t cur_len;
static struct authn_claims *cur_claims;
static volatile unsigned sink;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
bench(const char *name, void (*fn)(void))
{
    double us[ROUNDS];
    int r;

    for (r = 0; r < ROUNDS; r++) {
        int64_t t0 = now_ns(), t;
        long n = 0;
        do {
            for (int i = 0; i < 16; i++)
                fn();
            n += 16;
            t = now_ns();
        } while (t - t0 < ROUND_NS);
        us[r] = (double)(t - t0) / (double)n / 1000.0;
    }
    qsort(us, ROUNDS, sizeof(us[0]), cmp_double);
    printf("%-44s best %7.2f us   median %7.2f us   (%.0f/s)\n", name, us[0], us[ROUNDS / 2],
           1e6 / us[ROUNDS / 2]);
}

static void
do_verify(void)
{
    struct authn_claims *c = NULL;

    if (authn_jwt_verify(cur_tok, cur_len, ks, TJ_ALL_ALGS, &c, NULL) != AUTHN_JWT_OK)
        abort();
    authn_claims_free(c);
}

/* The floor: OpenSSL alone on the same key and signing input (init + verify). */
static EVP_PKEY *raw_key;
static const EVP_MD *raw_md;
static unsigned char raw_sig[600];
static size_t raw_siglen, raw_inlen;

static void
raw_prepare(const char *alg, EVP_PKEY *pk)
{
    const char *dot = strrchr(cur_tok, '.');
    unsigned char der[600];
    size_t dl = sizeof(der);
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    raw_key = pk;
    raw_md = tj_md(alg);
    raw_inlen = (size_t)(dot - cur_tok);
    /* DER for ECDSA, as EVP wants it; the JOSE conversion is part of our cost */
    if (EVP_DigestSignInit(m, NULL, raw_md, NULL, pk) != 1 ||
        EVP_DigestSign(m, der, &dl, (const unsigned char *)cur_tok, raw_inlen) != 1)
        abort();
    EVP_MD_CTX_free(m);
    memcpy(raw_sig, der, dl);
    raw_siglen = dl;
}

static void
do_raw_verify(void)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    if (EVP_DigestVerifyInit(m, NULL, raw_md, NULL, raw_key) != 1 ||
        EVP_DigestVerify(m, raw_sig, raw_siglen, (const unsigned char *)cur_tok, raw_inlen) != 1)
        abort();
    EVP_MD_CTX_free(m);
}

static void
do_check(void)
{
    sink += (unsigned)authn_claims_check(cur_claims, &issuer, &route, NOW, NULL, NULL);
}

static void
do_sha256(void)
{
    unsigned char h[32];

    SHA256((const unsigned char *)cur_tok, cur_len, h);
    sink += h[0];
}

/* The whole JWT stage on a cache hit: Bearer parse, SHA-256, cache get, checks. */
static void
do_cache_hit_stage(void)
{
    static char value[TJ_MAX + 8];
    const struct authn_claims *c;
    const char *tok;
    size_t tl;
    unsigned char h[32];

    if (value[0] == '\0') {
        memcpy(value, "Bearer ", 7);
        memcpy(value + 7, cur_tok, cur_len + 1);
    }
    if (authn_bearer_parse(value, cur_len + 7, 8192, &tok, &tl) != AUTHN_JWT_OK)
        abort();
    SHA256((const unsigned char *)tok, tl, h);
    c = authn_tcache_get(tc, 0, h, NOW, 30, ks);
    if (c == NULL || authn_claims_check(c, &issuer, &route, NOW, NULL, NULL) != AUTHN_JWT_OK)
        abort();
}

static void
do_tcache_get(void)
{
    static unsigned char h[32];

    if (h[0] == 0 && h[1] == 0)
        SHA256((const unsigned char *)cur_tok, cur_len, h);
    if (authn_tcache_get(tc, 0, h, NOW, 30, ks) == NULL)
        abort();
}

static char *
payload(void)
{
    char *p = malloc(TJ_MAX);

    snprintf(p, TJ_MAX,
             "{\"iss\":\"https://idp.example.com/\",\"sub\":\"spiffe-user-0123456789\","
             "\"aud\":[\"billing\",\"reports\"],\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld,"
             "\"jti\":\"5f1c7a0e-8a44-4d54-9a1e-0b3c2d7f4e11\",\"client_id\":\"billing-web\","
             "\"scope\":\"openid profile billing:read billing:write reports:read\","
             "\"email\":\"alice@example.com\",\"name\":\"Alice Example\","
             "\"groups\":[\"eng\",\"billing-admins\",\"on-call\"],"
             "\"cnf\":{\"x5t#S256\":\"q3RmCNzJCe_pHFqmtRrOS6uDnnr1ZKQYkWKHOvu3ZNY\"}}",
             NOW + 3600, NOW - 10, NOW - 10);
    return p;
}

int
main(void)
{
    EVP_PKEY *rsa = tj_rsa(2048), *ec = tj_ec("P-256"), *ed = tj_ed25519();
    char *j1 = tj_jwk(rsa, "rsa", NULL, NULL), *j2 = tj_jwk(ec, "ec", NULL, NULL);
    char *j3 = tj_jwk(ed, "ed", NULL, NULL), *doc = tj_jwks(j1, j2, j3, NULL), *p = payload();
    char *rs = tj_token("{\"alg\":\"RS256\",\"kid\":\"rsa\",\"typ\":\"at+jwt\"}", p, "RS256", rsa);
    char *ps = tj_token("{\"alg\":\"PS256\",\"kid\":\"rsa\",\"typ\":\"at+jwt\"}", p, "PS256", rsa);
    char *es = tj_token("{\"alg\":\"ES256\",\"kid\":\"ec\",\"typ\":\"at+jwt\"}", p, "ES256", ec);
    char *eds = tj_token("{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"at+jwt\"}", p, "EdDSA", ed);
    unsigned char h[32];

    ks = tj_keyset(doc, TJ_ALL_ALGS);
    tc = authn_tcache_new(10000);
    printf("token bytes: RS256 %zu, ES256 %zu, EdDSA %zu; %s\n", strlen(rs), strlen(es),
           strlen(eds), OpenSSL_version(OPENSSL_VERSION));

    cur_tok = rs;
    cur_len = strlen(rs);
    bench("authn_jwt_verify RS256-2048 (parse+verify)", do_verify);
    raw_prepare("RS256", rsa);
    bench("  floor: EVP init+verify RS256 alone", do_raw_verify);
    cur_tok = ps;
    cur_len = strlen(ps);
    bench("authn_jwt_verify PS256-2048 (parse+verify)", do_verify);
    cur_tok = es;
    cur_len = strlen(es);
    bench("authn_jwt_verify ES256 (parse+verify)", do_verify);
    raw_prepare("ES256", ec);
    bench("  floor: EVP init+verify ES256 alone", do_raw_verify);
    cur_tok = eds;
    cur_len = strlen(eds);
    bench("authn_jwt_verify EdDSA (parse+verify)", do_verify);
    raw_prepare("EdDSA", ed);
    bench("  floor: EVP init+verify EdDSA alone", do_raw_verify);

    cur_tok = rs;
    cur_len = strlen(rs);
    if (authn_jwt_verify(rs, cur_len, ks, TJ_ALL_ALGS, &cur_claims, NULL) != AUTHN_JWT_OK)
        abort();
    bench("authn_claims_check", do_check);
    bench("SHA-256 of the token", do_sha256);
    SHA256((const unsigned char *)rs, cur_len, h);
    authn_tcache_put(tc, 0, h, cur_claims);
    bench("authn_tcache_get (hit)", do_tcache_get);
    bench("cache-hit stage: bearer+SHA-256+get+check", do_cache_hit_stage);

    authn_tcache_free(tc);
    authn_keyset_free(ks);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    free(j1);
    free(j2);
    free(j3);
    free(doc);
    free(p);
    free(rs);
    free(ps);
    free(es);
    free(eds);
    return (int)(sink & 0);
}
