/*
 * libFuzzer target for the JWKS reader: the input is parsed as a JWKS
 * document with every algorithm allowed and with a narrow allow-list.  The
 * invariants of the contract are checked on the result: success means a
 * set of 1..AUTHN_JWKS_MAX_KEYS keys, sorted by kid without duplicates,
 * each with algorithms inside the allow-list and of its type, a kid-less
 * key only alone, and every key found again by kid and SPKI hash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authn/authn_jwt_int.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_set(const struct authn_keyset *ks, unsigned algs)
{
    size_t i;

    if (ks->n == 0 || ks->n > AUTHN_JWKS_MAX_KEYS || authn_keyset_count(ks) != ks->n)
        abort();
    for (i = 0; i < ks->n; i++) {
        const struct authn_key *k = &ks->keys[i];
        unsigned type_algs = k->type == AUTHN_KEY_RSA ? AUTHN_ALGS_RSA
                             : k->type == AUTHN_KEY_EC
                                 ? (POL_ALG_ES256 | POL_ALG_ES384 | POL_ALG_ES512)
                                 : POL_ALG_EDDSA;
        if (k->pkey == NULL || k->algs == 0 || (k->algs & ~algs) != 0 ||
            (k->algs & ~type_algs) != 0)
            abort();
        if ((k->kid == NULL) != (k->kid_len == 0) || (k->kid == NULL && ks->n != 1) ||
            k->kid_len > AUTHN_JWT_MAX_KID || (k->kid != NULL && strlen(k->kid) != k->kid_len))
            abort();
        if (!authn_keyset_contains(ks, k->kid, k->spki_sha256))
            abort();
        if (authn_keyset_find(ks, k->kid, k->kid_len) != k)
            abort();
        if (i > 0 && (ks->keys[i - 1].kid_len > k->kid_len ||
                      (ks->keys[i - 1].kid_len == k->kid_len &&
                       memcmp(ks->keys[i - 1].kid, k->kid, k->kid_len) >= 0)))
            abort(); /* sorted, unique */
    }
}

static void
parse(const uint8_t *data, size_t size, unsigned algs)
{
    struct authn_keyset *ks = NULL;
    char err[200];
    size_t skipped = 0;
    int rc;

    memset(err, 'x', sizeof(err));
    rc = authn_keyset_parse((const char *)data, size, algs, &ks, &skipped, err, sizeof(err));
    if ((rc == PC_OK) != (ks != NULL) || memchr(err, '\0', sizeof(err)) == NULL)
        abort();
    if (rc != PC_OK && err[0] == '\0')
        abort(); /* a failure always says why */
    if (ks != NULL)
        check_set(ks, algs);
    authn_keyset_free(ks);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, AUTHN_ALGS_ALL);
    parse(data, size, POL_ALG_RS256 | POL_ALG_ES384 | POL_ALG_EDDSA);
    return 0;
}
