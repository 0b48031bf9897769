/*
 * Test helper: build real X.509 certificates and CRLs in memory with the
 * OpenSSL API (no files, no CLI), for unit tests of authn/.
 */
#ifndef TEST_CERTGEN_H
#define TEST_CERTGEN_H

#include <openssl/evp.h>
#include <openssl/x509v3.h>

static EVP_PKEY *
tg_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void
tg_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext != NULL) {
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

/*
 * A certificate for `cn` signed by (issuer, ikey), or self-signed when
 * issuer is NULL.  san: "URI:spiffe://x,DNS:a.example" or NULL.
 */
static X509 *
tg_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long serial, const char *san,
        const char *eku, long from_s, long to_s)
{
    X509 *x = X509_new();

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
                                           : X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, key);
    if (issuer == NULL) {
        tg_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        tg_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (san != NULL)
        tg_ext(x, issuer != NULL ? issuer : x, NID_subject_alt_name, san);
    if (eku != NULL)
        tg_ext(x, issuer != NULL ? issuer : x, NID_ext_key_usage, eku);
    X509_sign(x, issuer != NULL ? ikey : key, EVP_sha256());
    return x;
}

/* A CRL from (ca, cakey) listing `serials`, next update in `next_s` seconds. */
static X509_CRL *
tg_crl(X509 *ca, EVP_PKEY *cakey, const long *serials, int n, long next_s)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    int i;

    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
    X509_gmtime_adj(t, 0);
    X509_CRL_set1_lastUpdate(crl, t);
    X509_gmtime_adj(t, next_s);
    X509_CRL_set1_nextUpdate(crl, t);
    for (i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *s = ASN1_INTEGER_new();
        ASN1_INTEGER_set(s, serials[i]);
        X509_REVOKED_set_serialNumber(r, s);
        X509_gmtime_adj(t, 0);
        X509_REVOKED_set_revocationDate(r, t);
        X509_CRL_add0_revoked(crl, r);
        ASN1_INTEGER_free(s);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, cakey, EVP_sha256());
    ASN1_TIME_free(t);
    return crl;
}

#endif
