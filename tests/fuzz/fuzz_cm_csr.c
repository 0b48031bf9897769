/*
 * Fuzz target: CSR input of `client sign` (certmgr/cm_csr.c): PEM decoding,
 * the key-type check, the signature check, the CN and the SAN reader.  A CSR
 * comes from whoever asks for a certificate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_csr csr;
    size_t i;
    int rc;

    cm_err_clear();
    rc = cm_csr_parse((const char *)data, size, "fuzz", true, &csr);
    if (rc != PC_OK) {
        if (cm_err_get() == NULL || csr.req != NULL)
            abort(); /* a refusal has a reason and leaves nothing behind */
        return 0;
    }
    /* what it accepted must pass our validators: they guard the certificate */
    for (i = 0; i < csr.sans.uri.n; i++)
        if (!cm_uri_is_valid(csr.sans.uri.v[i], strlen(csr.sans.uri.v[i])))
            abort();
    for (i = 0; i < csr.sans.dns.n; i++)
        if (!cm_dns_is_valid(csr.sans.dns.v[i], strlen(csr.sans.dns.v[i])))
            abort();
    for (i = 0; i < csr.sans.email.n; i++)
        if (!cm_email_is_valid(csr.sans.email.v[i], strlen(csr.sans.email.v[i])))
            abort();
    if (cm_sans_count(&csr.sans) > CM_SANS_MAX)
        abort();
    cm_csr_clear(&csr);
    return 0;
}
