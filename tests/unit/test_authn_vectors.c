/*
 * authn/ against an independent implementation: the JWKS and tokens in
 * tests/unit/jwt/ were made by tests/unit/jwt_vectors.py with Debian's
 * python3-jwt and python3-cryptography (TEST-ONLY keys).  Each line of
 * vectors.txt names the verdict authn_jwt_verify + authn_claims_check must
 * reach; no Python runs here.
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
#include "common/pc_err.h"
#include "common/pc_file.h"

#define VEC_NOW     1700000000LL
#define VEC_MAX     (1024 * 1024) /* fixture file */
#define VEC_ALL     0x3ffu        /* every enum pol_alg bit */
#define VEC_MIN_NUM 50            /* the generator writes more; fewer means a broken fixture */

static const char *const verdicts[AUTHN_JWT_MAX] = {
    [AUTHN_JWT_OK] = "OK",
    [AUTHN_JWT_MISSING] = "MISSING",
    [AUTHN_JWT_MULTIPLE] = "MULTIPLE",
    [AUTHN_JWT_TOO_LARGE] = "TOO_LARGE",
    [AUTHN_JWT_MALFORMED] = "MALFORMED",
    [AUTHN_JWT_JWE] = "JWE",
    [AUTHN_JWT_ALG] = "ALG",
    [AUTHN_JWT_TYP] = "TYP",
    [AUTHN_JWT_CRIT] = "CRIT",
    [AUTHN_JWT_KID_MISSING] = "KID_MISSING",
    [AUTHN_JWT_KID_UNKNOWN] = "KID_UNKNOWN",
    [AUTHN_JWT_SIGNATURE] = "SIGNATURE",
    [AUTHN_JWT_NO_EXP] = "NO_EXP",
    [AUTHN_JWT_EXPIRED] = "EXPIRED",
    [AUTHN_JWT_NOT_YET_VALID] = "NOT_YET_VALID",
    [AUTHN_JWT_IAT_FUTURE] = "IAT_FUTURE",
    [AUTHN_JWT_ISSUER] = "ISSUER",
    [AUTHN_JWT_AUDIENCE] = "AUDIENCE",
    [AUTHN_JWT_SCOPE] = "SCOPE",
    [AUTHN_JWT_BINDING] = "BINDING",
    [AUTHN_JWT_NO_KEYS] = "NO_KEYS",
};

static char iss_s[] = "https://idp.test.example/", aud_s[] = "billing", scope_s[] = "billing:read";
static char *scopes[] = {scope_s};

/* tests/unit/jwt/NAME, found next to this source file (make runs from the top). */
static char *
fixture(const char *name)
{
    char path[4096], *buf = NULL;
    const char *slash = strrchr(__FILE__, '/');
    size_t len = 0;
    int n = slash == NULL ? 0 : (int)(slash - __FILE__ + 1);

    snprintf(path, sizeof(path), "%.*sjwt/%s", n, __FILE__, name);
    if (pc_file_read(path, VEC_MAX, &buf, &len) != PC_OK)
        fail_msg("cannot read %s", path);
    return buf;
}

static int
verdict_of(const char *s)
{
    int i;

    for (i = 0; i < AUTHN_JWT_MAX; i++)
        if (verdicts[i] != NULL && strcmp(verdicts[i], s) == 0)
            return i;
    fail_msg("unknown verdict %s", s);
    return -1;
}

/* Split "NAME VERDICT X5T TOKEN" at its spaces (NULLs when fields are missing). */
static void
split(char *line, char *f[4])
{
    int i;

    for (i = 0; i < 4; i++) {
        f[i] = line;
        line = line == NULL ? NULL : strchr(line, ' ');
        if (line != NULL)
            *line++ = '\0';
    }
}

static void
test_vectors_python_jwt_verdicts(void **state)
{
    char *jwks = fixture("jwks.json"), *vec = fixture("vectors.txt"), *line, *next;
    struct pol_issuer issuer = {.issuer = iss_s, .leeway_ms = 30000, .algorithms = VEC_ALL};
    struct pol_jwt route = {.issuer = &issuer, .audience = aud_s, .scopes = scopes, .nscopes = 1};
    struct authn_keyset *ks = NULL;
    char err[256];
    size_t skipped = 0;
    int n = 0, bad = 0;

    (void)state;
    assert_int_equal(
        authn_keyset_parse(jwks, strlen(jwks), VEC_ALL, &ks, &skipped, err, sizeof(err)), PC_OK);
    assert_int_equal(authn_keyset_count(ks), 6);
    assert_int_equal(skipped, 0);
    for (line = vec; line != NULL && *line != '\0'; line = next) {
        char *f[4];
        struct authn_claims *c = NULL;
        enum authn_jwt_err e;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (line[0] == '#')
            continue;
        split(line, f);
        assert_non_null(f[3]);
        route.bind_to_client_cert = strcmp(f[2], "-") != 0;
        e = authn_jwt_verify(f[3], strlen(f[3]), ks, VEC_ALL, &c, NULL);
        if (e == AUTHN_JWT_OK)
            e = authn_claims_check(c, &issuer, &route, VEC_NOW,
                                   route.bind_to_client_cert ? f[2] : NULL, NULL);
        authn_claims_free(c);
        if ((int)e != verdict_of(f[1])) {
            fprintf(stderr, "vector %s: want %s, got %s\n", f[0], f[1],
                    verdicts[e] != NULL ? verdicts[e] : "?");
            bad++;
        }
        n++;
    }
    assert_int_equal(bad, 0);
    assert_true(n >= VEC_MIN_NUM);
    authn_keyset_free(ks);
    free(jwks);
    free(vec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_python_jwt_verdicts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
