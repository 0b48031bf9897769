/*
 * Keys and certificates for the client CA.  Every extension is built from
 * OpenSSL's structures (BASIC_CONSTRAINTS, GENERAL_NAMES, ...) and never from
 * an X509V3 configuration string, so an operator's or a CSR's SAN value can
 * never be read as syntax ("DNS:a,IP:1.2.3.4").  See cm.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm.h"

/* keyUsage bit numbers (RFC 5280 4.2.1.3); OpenSSL's KU_* are masks */
#define CM_KU_DIGITAL_SIGNATURE 0
#define CM_KU_KEY_ENCIPHERMENT  2
#define CM_KU_KEY_CERT_SIGN     5
#define CM_KU_CRL_SIGN          6

int
cm_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* our keys are never encrypted; never prompt */
}

int
cm_key_generate(enum cm_key_type kt, EVP_PKEY **out)
{
    switch (kt) {
    case CM_KEY_EC256:
        *out = EVP_EC_gen("P-256");
        break;
    case CM_KEY_EC384:
        *out = EVP_EC_gen("P-384");
        break;
    case CM_KEY_ED25519:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case CM_KEY_RSA2048:
        *out = EVP_RSA_gen(2048);
        break;
    default:
        *out = NULL;
        break;
    }
    if (*out == NULL) {
        cm_err_ssl("generating a key");
        return PC_ERR_CRYPTO;
    }
    return PC_OK;
}

const EVP_MD *
cm_key_md(EVP_PKEY *key)
{
    int id = EVP_PKEY_get_base_id(key);

    /* EdDSA hashes internally (PureEdDSA): X509_sign() wants no digest */
    return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
}

/* Copy a memory BIO's content into a new buffer. */
static int
bio_take(BIO *b, char **out, size_t *len)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);

    if (n <= 0 || p == NULL) {
        cm_err_ssl("encoding PEM");
        return PC_ERR_CRYPTO;
    }
    *out = pc_xmemdup(p, (size_t)n);
    *len = (size_t)n;
    return PC_OK;
}

int
cm_key_pem(EVP_PKEY *key, char **pem, size_t *len)
{
    /* secure memory BIO: its buffer is cleansed when freed */
    BIO *b = BIO_new(BIO_s_secmem());
    int rc = PC_ERR_CRYPTO;

    *pem = NULL;
    *len = 0;
    if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        cm_err_ssl("encoding the private key");
        goto out;
    }
    rc = bio_take(b, pem, len);
out:
    BIO_free(b);
    return rc;
}

bool
cm_key_is_acceptable(EVP_PKEY *key, char *why, size_t whylen)
{
    char group[64];
    int bits;

    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1) {
            ERR_clear_error();
            snprintf(why, whylen, "EC key without a named curve is not accepted");
            return false;
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0)
            return true;
        snprintf(why, whylen, "EC curve %s is not accepted (P-256 or P-384)", group);
        return false;
    case EVP_PKEY_ED25519:
        return true;
    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(key);
        if (bits >= CM_RSA_MIN_BITS && bits <= CM_RSA_MAX_BITS)
            return true;
        snprintf(why, whylen, "RSA key of %d bits is not accepted (%d..%d)", bits, CM_RSA_MIN_BITS,
                 CM_RSA_MAX_BITS);
        return false;
    default:
        snprintf(why, whylen,
                 "key type %s is not accepted (EC P-256/P-384, Ed25519, RSA >= %d bits)",
                 OBJ_nid2sn(EVP_PKEY_get_base_id(key)), CM_RSA_MIN_BITS);
        return false;
    }
}

int
cm_serial_random(unsigned char *out)
{
    if (RAND_bytes(out, CM_SERIAL_RAND_BYTES) != 1) {
        cm_err_ssl("random serial");
        return PC_ERR_CRYPTO;
    }
    /*
     * Top bit set: every serial is exactly 128 bits (32 hex digits), positive
     * and non-zero; 127 bits stay random (CA/B BR 7.1 asks for 64).
     */
    out[0] |= 0x80;
    return PC_OK;
}

void
cm_serial_hex(const unsigned char *serial, size_t len, char *out)
{
    while (len > 1 && serial[0] == 0) {
        serial++;
        len--;
    }
    if (len > CM_SERIAL_MAX_BYTES)
        len = CM_SERIAL_MAX_BYTES; /* callers pass at most this */
    pc_hex(out, serial, len);
}

/* Add a DER-encoded extension from its OpenSSL structure. */
static int
add_ext(X509 *x, int nid, void *value, int crit, const char *what)
{
    if (X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_DEFAULT) != 1) {
        cm_err_ssl(what);
        return PC_ERR_CRYPTO;
    }
    return PC_OK;
}

static int
add_sans(X509 *x, const struct cm_sans *sans)
{
    static const struct {
        size_t off;
        int type;
    } kinds[] = {
        {offsetof(struct cm_sans, uri), GEN_URI},
        {offsetof(struct cm_sans, dns), GEN_DNS},
        {offsetof(struct cm_sans, email), GEN_EMAIL},
    };
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *g = NULL;
    ASN1_IA5STRING *s = NULL;
    size_t k, i;
    int rc = PC_ERR_CRYPTO;

    if (gens == NULL)
        goto out;
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const struct cm_strv *sv =
            (const struct cm_strv *)(const void *)((const char *)sans + kinds[k].off);
        for (i = 0; i < sv->n; i++) {
            g = GENERAL_NAME_new();
            s = ASN1_IA5STRING_new();
            if (g == NULL || s == NULL || ASN1_STRING_set(s, sv->v[i], -1) != 1)
                goto out;
            GENERAL_NAME_set0_value(g, kinds[k].type, s);
            s = NULL;
            if (sk_GENERAL_NAME_push(gens, g) <= 0)
                goto out;
            g = NULL;
        }
    }
    rc = add_ext(x, NID_subject_alt_name, gens, 0, "subjectAltName");
out:
    if (rc != PC_OK)
        cm_err_ssl("subjectAltName");
    ASN1_IA5STRING_free(s);
    GENERAL_NAME_free(g);
    GENERAL_NAMES_free(gens);
    return rc;
}

/* basicConstraints, keyUsage and (leaf) extKeyUsage: ours, never a CSR's. */
static int
add_usage(X509 *x, EVP_PKEY *pub, bool is_ca)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int rc = PC_ERR_CRYPTO;

    if (bc == NULL || ku == NULL || eku == NULL)
        goto out;
    if (is_ca) {
        bc->ca = 0xff;
        bc->pathlen = ASN1_INTEGER_new();
        if (bc->pathlen == NULL || ASN1_INTEGER_set(bc->pathlen, 0) != 1)
            goto out;
        if (ASN1_BIT_STRING_set_bit(ku, CM_KU_KEY_CERT_SIGN, 1) != 1 ||
            ASN1_BIT_STRING_set_bit(ku, CM_KU_CRL_SIGN, 1) != 1)
            goto out;
    } else {
        bc->ca = 0;
        if (ASN1_BIT_STRING_set_bit(ku, CM_KU_DIGITAL_SIGNATURE, 1) != 1)
            goto out;
        /* RSA key transport in TLS 1.2 static-RSA suites needs keyEncipherment */
        if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
            ASN1_BIT_STRING_set_bit(ku, CM_KU_KEY_ENCIPHERMENT, 1) != 1)
            goto out;
        if (sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) <= 0)
            goto out;
    }
    rc = add_ext(x, NID_basic_constraints, bc, 1, "basicConstraints");
    if (rc == PC_OK)
        rc = add_ext(x, NID_key_usage, ku, 1, "keyUsage");
    if (rc == PC_OK && !is_ca)
        rc = add_ext(x, NID_ext_key_usage, eku, 0, "extendedKeyUsage");
out:
    if (rc != PC_OK)
        cm_err_ssl("certificate extensions");
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return rc;
}

/* SKI (RFC 5280 4.2.1.2 method 1) and AKI = the issuer's SKI. */
static int
add_key_ids(X509 *x, X509 *issuer)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *iski;
    int rc = PC_ERR_CRYPTO;

    if (ski == NULL || akid == NULL || X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) != 1 ||
        ASN1_OCTET_STRING_set(ski, md, (int)mdlen) != 1) {
        cm_err_ssl("subjectKeyIdentifier");
        goto out;
    }
    rc = add_ext(x, NID_subject_key_identifier, ski, 0, "subjectKeyIdentifier");
    if (rc != PC_OK)
        goto out;
    iski = issuer != NULL ? X509_get0_subject_key_id(issuer) : ski;
    if (iski == NULL) {
        cm_err_set("the CA certificate has no subjectKeyIdentifier");
        rc = PC_ERR_INVALID;
        goto out;
    }
    akid->keyid = ASN1_OCTET_STRING_dup(iski);
    if (akid->keyid == NULL) {
        cm_err_ssl("authorityKeyIdentifier");
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    rc = add_ext(x, NID_authority_key_identifier, akid, 0, "authorityKeyIdentifier");
out:
    ASN1_OCTET_STRING_free(ski);
    AUTHORITY_KEYID_free(akid);
    return rc;
}

/* Version, serial, names, validity and key. */
static int
set_fields(X509 *x, const struct cm_certspec *spec, EVP_PKEY *pub, X509 *issuer)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    X509_NAME *name = X509_NAME_new();
    int rc = PC_ERR_CRYPTO;

    bn = BN_bin2bn(spec->serial, (int)spec->serial_len, NULL);
    if (bn == NULL || name == NULL)
        goto out;
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    if (serial == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_serialNumber(x, serial) != 1)
        goto out;
    /* the CN was validated (NAME charset or UTF-8 CA name): no escaping needed */
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)spec->cn, -1, -1, 0) != 1 ||
        X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1)
        goto out;
    /* ASN1_TIME_set: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5) */
    if (ASN1_TIME_set(X509_getm_notBefore(x), spec->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), spec->not_after) == NULL ||
        X509_set_pubkey(x, pub) != 1)
        goto out;
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_err_ssl("building the certificate");
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    X509_NAME_free(name);
    return rc;
}

int
cm_cert_build(const struct cm_certspec *spec, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signkey,
              X509 **out)
{
    X509 *x = X509_new();
    int rc = PC_ERR_CRYPTO;

    *out = NULL;
    if (x == NULL) {
        cm_err_ssl("building the certificate");
        goto out;
    }
    rc = set_fields(x, spec, pub, issuer);
    if (rc == PC_OK)
        rc = add_usage(x, pub, spec->is_ca);
    if (rc == PC_OK)
        rc = add_key_ids(x, issuer);
    if (rc == PC_OK && spec->sans != NULL && cm_sans_count(spec->sans) > 0)
        rc = add_sans(x, spec->sans);
    if (rc != PC_OK)
        goto out;
    if (X509_sign(x, signkey, cm_key_md(signkey)) <= 0) {
        cm_err_ssl("signing the certificate");
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    *out = x;
    x = NULL;
out:
    X509_free(x);
    return rc;
}

int
cm_cert_pem(X509 *x, char **pem, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = PC_ERR_CRYPTO;

    *pem = NULL;
    *len = 0;
    if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
        cm_err_ssl("encoding the certificate");
        goto out;
    }
    rc = bio_take(b, pem, len);
out:
    BIO_free(b);
    return rc;
}

int
cm_cert_parse(const char *buf, size_t len, const char *what, X509 **out)
{
    BIO *b = NULL;
    int rc = PC_ERR_PARSE;

    *out = NULL;
    if (len > PC_PEM_MAX_BYTES) {
        cm_err_set("%s: larger than the limit of %d bytes", what, PC_PEM_MAX_BYTES);
        return PC_ERR_TOO_LARGE;
    }
    b = BIO_new_mem_buf(buf, (int)len);
    if (b != NULL)
        *out = PEM_read_bio_X509(b, NULL, cm_no_password, NULL);
    if (*out == NULL) {
        char what2[CM_ERR_MAX];
        snprintf(what2, sizeof(what2), "%s: not a PEM certificate", what);
        cm_err_ssl(what2);
        goto out;
    }
    rc = PC_OK;
out:
    BIO_free(b);
    return rc;
}

/* One revoked entry: serial, revocation date, reasonCode unless unspecified. */
static int
crl_add_entry(X509_CRL *crl, const struct cm_entry *e)
{
    X509_REVOKED *r = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *reason = NULL;
    int rc = PC_ERR_CRYPTO;

    if (r == NULL || BN_hex2bn(&bn, e->serial) == 0)
        goto out;
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    when = ASN1_TIME_set(NULL, e->revoked_at);
    if (serial == NULL || when == NULL || X509_REVOKED_set_serialNumber(r, serial) != 1 ||
        X509_REVOKED_set_revocationDate(r, when) != 1)
        goto out;
    /* RFC 5280 5.3.1: "unspecified" SHOULD be expressed by omitting the extension */
    if (e->reason != CM_REASON_UNSPECIFIED) {
        reason = ASN1_ENUMERATED_new();
        if (reason == NULL || ASN1_ENUMERATED_set(reason, e->reason) != 1 ||
            X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, X509V3_ADD_DEFAULT) != 1)
            goto out;
    }
    if (X509_CRL_add0_revoked(crl, r) != 1)
        goto out;
    r = NULL; /* owned by the CRL */
    rc = PC_OK;
out:
    X509_REVOKED_free(r);
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(when);
    ASN1_ENUMERATED_free(reason);
    return rc;
}

/* CRL number and AKI. */
static int
crl_add_exts(X509_CRL *crl, X509 *ca, uint64_t number)
{
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
    int rc = PC_ERR_CRYPTO;

    if (num == NULL || akid == NULL || ASN1_INTEGER_set_uint64(num, number) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1)
        goto out;
    if (ski == NULL) {
        cm_err_set("the CA certificate has no subjectKeyIdentifier");
        rc = PC_ERR_INVALID;
        goto out;
    }
    akid->keyid = ASN1_OCTET_STRING_dup(ski);
    if (akid->keyid == NULL ||
        X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1)
        goto out;
    rc = PC_OK;
out:
    ASN1_INTEGER_free(num);
    AUTHORITY_KEYID_free(akid);
    return rc;
}

int
cm_crl_build(X509 *ca, EVP_PKEY *key, const struct cm_index *idx, uint64_t number, time_t now,
             time_t next_sec, char **pem, size_t *len)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = ASN1_TIME_set(NULL, now);
    ASN1_TIME *next = ASN1_TIME_set(NULL, now + next_sec);
    BIO *b = NULL;
    size_t i;
    int rc = PC_ERR_CRYPTO;

    *pem = NULL;
    *len = 0;
    if (crl == NULL || last == NULL || next == NULL ||
        X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, last) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1)
        goto out;
    for (i = 0; i < idx->n; i++) {
        if (idx->certs[i].status != CM_STATUS_REVOKED)
            continue;
        rc = crl_add_entry(crl, &idx->certs[i]);
        if (rc != PC_OK)
            goto out;
    }
    X509_CRL_sort(crl);
    rc = crl_add_exts(crl, ca, number);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_CRYPTO;
    if (X509_CRL_sign(crl, key, cm_key_md(key)) <= 0)
        goto out;
    b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509_CRL(b, crl) != 1)
        goto out;
    rc = bio_take(b, pem, len);
out:
    if (rc != PC_OK)
        cm_err_ssl("building the CRL");
    BIO_free(b);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
    return rc;
}
