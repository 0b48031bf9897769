/*
 * authn/: the verified-token cache.  Hits, misses after exp (+ leeway),
 * after the key left the JWKS, CLOCK eviction at capacity, capacity 0,
 * issuers kept apart, and the table staying consistent under churn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authn/authn_jwt.h"
#include "tests/unit/jwt_test.h"

#define NOW 1700000000LL

static EVP_PKEY *k1, *k2;
static struct authn_keyset *ks12; /* k1 as "k1", k2 as "k2" */
static struct authn_keyset *ks2;  /* k2 alone, as "k2": k1 rotated away */
static struct authn_keyset *ks1b; /* "k1" now names k2's key */
static unsigned char sha1[32], sha2[32];
static char kid1[] = "k1", kid2[] = "k2";

static int
setup(void **state)
{
    char *a, *b, *d;

    (void)state;
    k1 = tj_ec("P-256");
    k2 = tj_ed25519();
    a = tj_jwk(k1, "k1", NULL, NULL);
    b = tj_jwk(k2, "k2", NULL, NULL);
    d = tj_jwks(a, b, NULL);
    ks12 = tj_keyset(d, TJ_ALL_ALGS);
    free(d);
    d = tj_jwks(b, NULL);
    ks2 = tj_keyset(d, TJ_ALL_ALGS);
    free(d);
    free(b);
    b = tj_jwk(k2, "k1", NULL, NULL);
    d = tj_jwks(b, NULL);
    ks1b = tj_keyset(d, TJ_ALL_ALGS);
    free(d);
    free(a);
    free(b);
    tj_spki_sha256(k1, sha1);
    tj_spki_sha256(k2, sha2);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    authn_keyset_free(ks12);
    authn_keyset_free(ks2);
    authn_keyset_free(ks1b);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    return 0;
}

/* Claims as authn_jwt_verify would leave them (kid static: free() only frees the struct). */
static struct authn_claims *
claims(char *kid, const unsigned char sha[32], unsigned alg, int64_t exp)
{
    struct authn_claims *c = calloc(1, sizeof(*c));

    c->kid = kid;
    memcpy(c->key_sha256, sha, 32);
    c->alg = alg;
    c->exp = exp;
    c->nbf = c->iat = INT64_MIN;
    c->payload = json_object();
    return c;
}

static void
hash_of(unsigned n, unsigned char h[32])
{
    SHA256((const unsigned char *)&n, sizeof(n), h);
}

static const struct authn_claims *
get(struct authn_tcache *tc, size_t issuer, unsigned n, int64_t now, const struct authn_keyset *ks)
{
    unsigned char h[32];

    hash_of(n, h);
    return authn_tcache_get(tc, issuer, h, now, 30, ks);
}

static struct authn_claims *
put(struct authn_tcache *tc, size_t issuer, unsigned n, int64_t exp)
{
    struct authn_claims *c = claims(kid1, sha1, POL_ALG_ES256, exp);
    unsigned char h[32];

    hash_of(n, h);
    authn_tcache_put(tc, issuer, h, c);
    return c;
}

static void
test_tcache_hit(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(16);
    struct authn_claims *c = put(tc, 0, 1, NOW + 60);
    uint64_t entries, hits, misses;

    (void)state;
    assert_ptr_equal(get(tc, 0, 1, NOW, ks12), c);
    assert_ptr_equal(get(tc, 0, 1, NOW + 59, ks12), c);
    assert_null(get(tc, 0, 2, NOW, ks12));
    authn_tcache_stats(tc, &entries, &hits, &misses);
    assert_int_equal(entries, 1);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 1);
    authn_tcache_free(tc);
}

static void
test_tcache_miss_after_exp(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(16);
    uint64_t entries;

    (void)state;
    put(tc, 0, 1, NOW);
    assert_non_null(get(tc, 0, 1, NOW + 29, ks12)); /* within the 30 s leeway */
    assert_null(get(tc, 0, 1, NOW + 30, ks12));     /* exp + leeway passed: dropped */
    authn_tcache_stats(tc, &entries, NULL, NULL);
    assert_int_equal(entries, 0);
    assert_null(get(tc, 0, 1, NOW, ks12)); /* gone for good */
    /* a token without exp is never served */
    put(tc, 0, 2, INT64_MIN);
    assert_null(get(tc, 0, 2, NOW, ks12));
    authn_tcache_free(tc);
}

static void
test_tcache_miss_after_key_removed(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(16);
    unsigned char h[32];

    (void)state;
    put(tc, 0, 1, NOW + 60);
    assert_non_null(get(tc, 0, 1, NOW, ks12));
    assert_null(get(tc, 0, 1, NOW, ks2));  /* the new JWKS has no k1 */
    assert_null(get(tc, 0, 1, NOW, ks12)); /* and the entry is gone */
    /* same kid, another key */
    put(tc, 0, 1, NOW + 60);
    assert_null(get(tc, 0, 1, NOW, ks1b));
    /* no key set at all */
    put(tc, 0, 1, NOW + 60);
    assert_null(get(tc, 0, 1, NOW, NULL));
    /* the key stays but no longer allows the token's algorithm */
    hash_of(7, h);
    authn_tcache_put(tc, 0, h, claims(kid2, sha2, POL_ALG_ES256, NOW + 60));
    assert_null(authn_tcache_get(tc, 0, h, NOW, 30, ks12));
    authn_tcache_put(tc, 0, h, claims(kid2, sha2, POL_ALG_EDDSA, NOW + 60));
    assert_non_null(authn_tcache_get(tc, 0, h, NOW, 30, ks12));
    authn_tcache_free(tc);
}

static void
test_tcache_eviction_at_capacity(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(4);
    uint64_t entries;

    (void)state;
    put(tc, 0, 1, NOW + 60);
    put(tc, 0, 2, NOW + 60);
    put(tc, 0, 3, NOW + 60);
    put(tc, 0, 4, NOW + 60);
    /* 1 and 2 are in use: CLOCK keeps them and evicts 3, the first without a reference */
    assert_non_null(get(tc, 0, 1, NOW, ks12));
    assert_non_null(get(tc, 0, 2, NOW, ks12));
    put(tc, 0, 5, NOW + 60);
    authn_tcache_stats(tc, &entries, NULL, NULL);
    assert_int_equal(entries, 4);
    assert_null(get(tc, 0, 3, NOW, ks12));
    assert_non_null(get(tc, 0, 1, NOW, ks12));
    assert_non_null(get(tc, 0, 2, NOW, ks12));
    assert_non_null(get(tc, 0, 4, NOW, ks12));
    assert_non_null(get(tc, 0, 5, NOW, ks12));
    /* many more: never above capacity */
    for (unsigned i = 10; i < 100; i++)
        put(tc, 0, i, NOW + 60);
    authn_tcache_stats(tc, &entries, NULL, NULL);
    assert_int_equal(entries, 4);
    assert_non_null(get(tc, 0, 99, NOW, ks12));
    authn_tcache_free(tc);
}

static void
test_tcache_capacity_zero_disabled(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(0);
    uint64_t entries, hits, misses;

    (void)state;
    put(tc, 0, 1, NOW + 60); /* freed at once (ASan/LSan would tell) */
    assert_null(get(tc, 0, 1, NOW, ks12));
    authn_tcache_stats(tc, &entries, &hits, &misses);
    assert_int_equal(entries, 0);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 1);
    authn_tcache_free(tc);
    authn_tcache_free(NULL);
    authn_tcache_put(NULL, 0, sha1, claims(kid1, sha1, POL_ALG_ES256, NOW));
}

static void
test_tcache_issuers_separate(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(16);
    struct authn_claims *a, *b;

    (void)state;
    a = put(tc, 0, 1, NOW + 60);
    assert_null(get(tc, 1, 1, NOW, ks12));
    b = put(tc, 1, 1, NOW + 60);
    assert_ptr_equal(get(tc, 0, 1, NOW, ks12), a);
    assert_ptr_equal(get(tc, 1, 1, NOW, ks12), b);
    authn_tcache_free(tc);
}

static void
test_tcache_put_same_key_replaces(void **state)
{
    struct authn_tcache *tc = authn_tcache_new(16);
    struct authn_claims *b;
    uint64_t entries;

    (void)state;
    put(tc, 0, 1, NOW + 60);
    b = put(tc, 0, 1, NOW + 120);
    assert_ptr_equal(get(tc, 0, 1, NOW, ks12), b);
    authn_tcache_stats(tc, &entries, NULL, NULL);
    assert_int_equal(entries, 1);
    authn_tcache_free(tc);
}

/*
 * Random puts, gets and expiries against a shadow model.  Without eviction
 * (cap >= keys) the cache must answer exactly as the model; with it, a hit
 * must still be right.  This checks that deletions keep probe runs intact.
 */
static void
churn(size_t cap, bool strict)
{
    enum { KEYS = 256, ROUNDS = 20000 };
    struct authn_tcache *tc = authn_tcache_new(cap);
    int64_t exp[KEYS];
    uint64_t entries, seed = 88172645463325252ULL;
    unsigned i, r;

    for (i = 0; i < KEYS; i++)
        exp[i] = 0;
    for (r = 0; r < ROUNDS; r++) {
        const struct authn_claims *c;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        i = (unsigned)(seed % KEYS);
        if ((seed >> 20) % 3 == 0) {
            exp[i] = (seed >> 30) % 2 == 0 ? NOW + 60 : NOW - 100; /* some expired already */
            put(tc, (size_t)(i % 3), i, exp[i]);
            continue;
        }
        c = get(tc, (size_t)(i % 3), i, NOW, ks12);
        if (strict)
            assert_true((c != NULL) == (exp[i] == NOW + 60));
        if (c != NULL)
            assert_true(c->exp == NOW + 60 && exp[i] == NOW + 60);
        exp[i] = c != NULL ? exp[i] : 0; /* dropped now, or evicted earlier */
    }
    authn_tcache_stats(tc, &entries, NULL, NULL);
    assert_true(entries <= cap);
    authn_tcache_free(tc);
}

static void
test_tcache_churn_consistent(void **state)
{
    (void)state;
    churn(512, true);
    churn(64, false);
    churn(1, false);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcache_hit),
        cmocka_unit_test(test_tcache_miss_after_exp),
        cmocka_unit_test(test_tcache_miss_after_key_removed),
        cmocka_unit_test(test_tcache_eviction_at_capacity),
        cmocka_unit_test(test_tcache_capacity_zero_disabled),
        cmocka_unit_test(test_tcache_issuers_separate),
        cmocka_unit_test(test_tcache_put_same_key_replaces),
        cmocka_unit_test(test_tcache_churn_consistent),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
