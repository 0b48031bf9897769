/*
 * Fuzz target: the token decoder of `token inspect` (certmgr/cm_token.c,
 * cm_jws_decode): split, strict base64url, JSON objects without duplicates.
 * A token to inspect comes from anywhere (a log, a bug report, a client).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tok = (const char *)data;
    struct cm_jws j;
    int rc;

    cm_err_clear();
    rc = cm_jws_decode(tok, size, &j);
    if (rc != PC_OK) {
        if (cm_err_get() == NULL)
            abort(); /* a refusal has a reason */
        cm_jws_clear(&j);
        return 0;
    }
    /* what it accepted is three parts, two JSON objects and an alg string */
    if (!json_is_object(j.header) || !json_is_object(j.claims) ||
        !json_is_string(json_object_get(j.header, "alg")) || size > CM_TOKEN_MAX_BYTES ||
        j.signed_len >= size || tok[j.signed_len] != '.' ||
        memchr(tok + j.signed_len + 1, '.', size - j.signed_len - 1) != NULL || j.siglen > size)
        abort();
    cm_jws_clear(&j);
    return 0;
}
