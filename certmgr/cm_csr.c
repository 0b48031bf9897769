/*
 * Certificate signing requests for `client sign`.  A CSR is untrusted input
 * from whoever holds the key: capped, parsed, its key type checked before its
 * signature is verified (no 64k-bit RSA verify), its signature verified, and
 * only two things are taken from it: the subject CN and the URI/DNS/email
 * entries of its subjectAltName, each validated.  Every other extension it
 * asks for is ignored; the certificate gets ours.  See cm.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "cm.h"

static const char *
gen_type_name(int type)
{
    switch (type) {
    case GEN_OTHERNAME:
        return "otherName";
    case GEN_X400:
        return "x400Address";
    case GEN_DIRNAME:
        return "directoryName";
    case GEN_EDIPARTY:
        return "ediPartyName";
    case GEN_IPADD:
        return "IP address";
    case GEN_RID:
        return "registeredID";
    default:
        return "unknown";
    }
}

/* The single CN of the subject, if any; more than one is refused (which one would be "the" name?)
 */
static int
read_cn(X509_REQ *req, const char *what, struct cm_csr *c)
{
    X509_NAME *subj = X509_REQ_get_subject_name(req);
    unsigned char *utf8 = NULL;
    int i, n;

    i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (i < 0)
        return PC_OK;
    if (X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0) {
        cm_err_set("%s: the CSR subject has more than one CN", what);
        return PC_ERR_INVALID;
    }
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
    if (n < 0) {
        cm_err_ssl(what);
        return PC_ERR_PARSE;
    }
    if (memchr(utf8, '\0', (size_t)n) != NULL || (size_t)n > CM_NAME_MAX * 4) {
        OPENSSL_free(utf8);
        cm_err_set("%s: the CSR subject CN is not a usable name; give --name", what);
        return PC_ERR_INVALID;
    }
    c->cn = pc_xstrndup((const char *)utf8, (size_t)n);
    OPENSSL_free(utf8);
    return PC_OK;
}

static int
read_sans(X509_REQ *req, const char *what, struct cm_csr *c)
{
    char where[CM_ERR_MAX];
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = NULL;
    const GENERAL_NAME *g;
    const char *kind;
    int crit = -1, i, rc = PC_OK;

    if (exts == NULL)
        return PC_OK; /* no extension request */
    gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL) {
        if (crit == -2) {
            cm_err_set("%s: the CSR has more than one subjectAltName extension", what);
            rc = PC_ERR_INVALID;
        } else if (crit != -1) {
            cm_err_set("%s: the CSR's subjectAltName is malformed", what);
            rc = PC_ERR_PARSE;
        }
        goto out;
    }
    c->has_san = true;
    snprintf(where, sizeof(where), "%s: CSR subjectAltName", what);
    for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        g = sk_GENERAL_NAME_value(gens, i);
        switch (g->type) {
        case GEN_URI:
            kind = "uri";
            break;
        case GEN_DNS:
            kind = "dns";
            break;
        case GEN_EMAIL:
            kind = "email";
            break;
        default:
            cm_err_set("%s: an entry of type %s is not allowed (only URI, DNS and email)", where,
                       gen_type_name(g->type));
            rc = PC_ERR_INVALID;
            goto out;
        }
        /* all three are IA5String: (ptr, len), may hold a NUL, which cm_sans_add refuses */
        rc = cm_sans_add(&c->sans, kind, (const char *)ASN1_STRING_get0_data(g->d.ia5),
                         (size_t)ASN1_STRING_length(g->d.ia5), where);
        if (rc != PC_OK)
            goto out;
    }
out:
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return rc;
}

int
cm_csr_parse(const char *buf, size_t len, const char *what, bool want_sans, struct cm_csr *out)
{
    char why[256], what2[CM_ERR_MAX];
    BIO *b = NULL;
    int rc = PC_ERR_PARSE, v;

    memset(out, 0, sizeof(*out));
    if (len > PC_PEM_MAX_BYTES) {
        cm_err_set("%s: larger than the limit of %d bytes", what, PC_PEM_MAX_BYTES);
        return PC_ERR_TOO_LARGE;
    }
    b = BIO_new_mem_buf(buf, (int)len);
    if (b != NULL)
        out->req = PEM_read_bio_X509_REQ(b, NULL, cm_no_password, NULL);
    if (out->req == NULL) {
        snprintf(what2, sizeof(what2), "%s: not a PEM certificate request", what);
        cm_err_ssl(what2);
        goto out;
    }
    out->pub = X509_REQ_get0_pubkey(out->req);
    if (out->pub == NULL) {
        snprintf(what2, sizeof(what2), "%s: cannot read the CSR's public key", what);
        cm_err_ssl(what2);
        goto out;
    }
    if (!cm_key_is_acceptable(out->pub, why, sizeof(why))) {
        cm_err_set("%s: %s", what, why);
        rc = PC_ERR_INVALID;
        goto out;
    }
    v = X509_REQ_verify(out->req, out->pub);
    if (v != 1) {
        ERR_clear_error();
        cm_err_set("%s: CSR signature does not verify", what);
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    rc = read_cn(out->req, what, out);
    if (rc == PC_OK && want_sans)
        rc = read_sans(out->req, what, out);
out:
    BIO_free(b);
    if (rc != PC_OK)
        cm_csr_clear(out);
    return rc;
}

void
cm_csr_clear(struct cm_csr *c)
{
    X509_REQ_free(c->req);
    free(c->cn);
    cm_sans_clear(&c->sans);
    memset(c, 0, sizeof(*c));
}
