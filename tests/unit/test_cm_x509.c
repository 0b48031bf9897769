/*
 * certmgr/cm_x509.c and cm_csr.c: the certificates we build say exactly what
 * we mean, and every CSR that should be refused is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

/* A PEM CSR for key; san is an OpenSSL conf string or NULL; corrupt flips a signature bit. */
static char *
make_csr(EVP_PKEY *key, const char *cn, const char *cn2, const char *san, bool corrupt, size_t *len)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *name = X509_REQ_get_subject_name(r);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    unsigned char *der = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL, *out;
    long n;
    int dlen;

    assert_int_equal(X509_REQ_set_version(r, 0), 1);
    if (cn != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)cn, -1, -1, 0),
                         1);
    if (cn2 != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)cn2, -1, -1, 0),
                         1);
    assert_int_equal(X509_REQ_set_pubkey(r, key), 1);
    if (san != NULL) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
        assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
    }
    assert_true(X509_REQ_sign(r, key, cm_key_md(key)) > 0);
    dlen = i2d_X509_REQ(r, &der);
    assert_true(dlen > 0);
    if (corrupt)
        der[dlen - 1] ^= 0x01; /* the last byte is inside the signature value */
    assert_true(PEM_write_bio(b, "CERTIFICATE REQUEST", "", der, dlen) > 0);
    n = BIO_get_mem_data(b, &p);
    out = malloc((size_t)n + 1);
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    OPENSSL_free(der);
    BIO_free(b);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(r);
    return out;
}

static int
csr_check(EVP_PKEY *key, const char *cn, const char *cn2, const char *san, bool corrupt,
          bool want_sans, struct cm_csr *csr)
{
    size_t len;
    char *pem = make_csr(key, cn, cn2, san, corrupt, &len);
    int rc;

    cm_err_clear();
    rc = cm_csr_parse(pem, len, "test.csr", want_sans, csr);
    free(pem);
    return rc;
}

static void
expect_reason(const char *why)
{
    assert_non_null(cm_err_get());
    if (strstr(cm_err_get(), why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", cm_err_get(), why);
}

static void
test_csr_good_read(void **state)
{
    EVP_PKEY *key = NULL;
    struct cm_csr csr;

    (void)state;
    assert_int_equal(cm_key_generate(CM_KEY_EC256, &key), PC_OK);
    assert_int_equal(csr_check(key, "dave", NULL,
                               "URI:spiffe://example.com/dave,DNS:dave.example.com,"
                               "email:dave@example.com",
                               false, true, &csr),
                     PC_OK);
    assert_string_equal(csr.cn, "dave");
    assert_true(csr.has_san);
    assert_int_equal(csr.sans.uri.n, 1);
    assert_int_equal(csr.sans.dns.n, 1);
    assert_int_equal(csr.sans.email.n, 1);
    cm_csr_clear(&csr);
    /* no CN, no SAN: fine here, client sign then asks for --name */
    assert_int_equal(csr_check(key, NULL, NULL, NULL, false, true, &csr), PC_OK);
    assert_null(csr.cn);
    assert_false(csr.has_san);
    cm_csr_clear(&csr);
    EVP_PKEY_free(key);
}

static void
test_csr_bad_signature_refused(void **state)
{
    EVP_PKEY *key = NULL;
    struct cm_csr csr;

    (void)state;
    assert_int_equal(cm_key_generate(CM_KEY_EC256, &key), PC_OK);
    assert_int_equal(csr_check(key, "dave", NULL, NULL, true, true, &csr), PC_ERR_CRYPTO);
    expect_reason("CSR signature does not verify");
    assert_null(csr.req);
    EVP_PKEY_free(key);
}

static void
test_csr_ip_and_other_sans_refused(void **state)
{
    EVP_PKEY *key = NULL;
    struct cm_csr csr;

    (void)state;
    assert_int_equal(cm_key_generate(CM_KEY_ED25519, &key), PC_OK);
    assert_int_equal(
        csr_check(key, "eve", NULL, "DNS:eve.example.com,IP:10.0.0.1", false, true, &csr),
        PC_ERR_INVALID);
    expect_reason("type IP address is not allowed");
    assert_int_equal(csr_check(key, "eve", NULL, "RID:1.2.3.4", false, true, &csr), PC_ERR_INVALID);
    expect_reason("registeredID");
    assert_int_equal(csr_check(key, "eve", NULL, "DNS:*.example.com", false, true, &csr),
                     PC_ERR_INVALID);
    expect_reason("not a valid DNS name");
    assert_int_equal(csr_check(key, "eve", NULL, "URI:spiffe://example.com", false, true, &csr),
                     PC_ERR_INVALID);
    expect_reason("not a valid URI");
    /* with SAN options (want_sans false) the CSR's SAN is not even read */
    assert_int_equal(csr_check(key, "eve", NULL, "IP:10.0.0.1", false, false, &csr), PC_OK);
    assert_false(csr.has_san);
    cm_csr_clear(&csr);
    EVP_PKEY_free(key);
}

static void
test_csr_two_cns_refused(void **state)
{
    EVP_PKEY *key = NULL;
    struct cm_csr csr;

    (void)state;
    assert_int_equal(cm_key_generate(CM_KEY_EC384, &key), PC_OK);
    assert_int_equal(csr_check(key, "a", "b", NULL, false, true, &csr), PC_ERR_INVALID);
    expect_reason("more than one CN");
    EVP_PKEY_free(key);
}

static void
test_csr_weak_or_odd_keys_refused(void **state)
{
    EVP_PKEY *key = EVP_RSA_gen(1024);
    struct cm_csr csr;

    (void)state;
    assert_non_null(key);
    assert_int_equal(csr_check(key, "w", NULL, NULL, false, true, &csr), PC_ERR_INVALID);
    expect_reason("RSA key of 1024 bits is not accepted");
    EVP_PKEY_free(key);
    key = EVP_EC_gen("secp521r1");
    assert_non_null(key);
    assert_int_equal(csr_check(key, "w", NULL, NULL, false, true, &csr), PC_ERR_INVALID);
    expect_reason("EC curve secp521r1 is not accepted");
    EVP_PKEY_free(key);
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    assert_non_null(key);
    assert_int_equal(csr_check(key, "w", NULL, NULL, false, true, &csr), PC_ERR_INVALID);
    expect_reason("key type ED448 is not accepted");
    EVP_PKEY_free(key);
}

static void
test_csr_garbage_refused(void **state)
{
    static const char junk[] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                               "-----END CERTIFICATE REQUEST-----\n";
    struct cm_csr csr;

    (void)state;
    cm_err_clear();
    assert_int_equal(cm_csr_parse(junk, sizeof(junk) - 1, "j.csr", true, &csr), PC_ERR_PARSE);
    expect_reason("j.csr: not a PEM certificate request");
    cm_err_clear();
    assert_int_equal(cm_csr_parse("", 0, "e.csr", true, &csr), PC_ERR_PARSE);
    cm_err_clear();
    assert_int_equal(cm_csr_parse(junk, (size_t)PC_PEM_MAX_BYTES + 1, "big.csr", true, &csr),
                     PC_ERR_TOO_LARGE);
    cm_err_clear();
}

/* Build a CA and a leaf; check the extensions say exactly what we intend. */
static void
test_cert_extensions(void **state)
{
    unsigned char serial[CM_SERIAL_RAND_BYTES];
    struct cm_certspec spec;
    struct cm_sans sans;
    EVP_PKEY *cakey = NULL, *key = NULL;
    X509 *ca = NULL, *leaf = NULL;
    char hex[CM_SERIAL_HEX_MAX + 1];
    const ASN1_INTEGER *sn;
    BIGNUM *bn;

    (void)state;
    memset(&sans, 0, sizeof(sans));
    assert_int_equal(cm_key_generate(CM_KEY_EC256, &cakey), PC_OK);
    assert_int_equal(cm_key_generate(CM_KEY_RSA2048, &key), PC_OK);
    assert_int_equal(cm_serial_random(serial), PC_OK);
    assert_true(serial[0] & 0x80);
    cm_serial_hex(serial, sizeof(serial), hex);
    assert_int_equal(strlen(hex), 32);
    memset(&spec, 0, sizeof(spec));
    spec.cn = "Test CA";
    spec.serial = serial;
    spec.serial_len = sizeof(serial);
    spec.not_before = 1700000000;
    spec.not_after = 1700000000 + 86400 * 365;
    spec.is_ca = true;
    assert_int_equal(cm_cert_build(&spec, cakey, NULL, cakey, &ca), PC_OK);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_true(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    assert_int_equal(X509_get_pathlen(ca), 0);
    assert_int_equal(X509_verify(ca, cakey), 1);

    assert_int_equal(cm_sans_add(&sans, "uri", "spiffe://e.com/x", 16, "t"), PC_OK);
    assert_int_equal(cm_sans_add(&sans, "dns", "x.e.com", 7, "t"), PC_OK);
    spec.cn = "leaf";
    spec.is_ca = false;
    spec.sans = &sans;
    assert_int_equal(cm_cert_build(&spec, key, ca, cakey, &leaf), PC_OK);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_true(X509_get_extended_key_usage(leaf) == XKU_SSL_CLIENT); /* clientAuth only */
    assert_true(X509_get_key_usage(leaf) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
    assert_int_equal(X509_verify(leaf, cakey), 1);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf), X509_get0_subject_key_id(ca)), 0);
    assert_int_equal(X509_check_host(leaf, "x.e.com", 0, 0, NULL), 1);
    sn = X509_get0_serialNumber(leaf);
    bn = ASN1_INTEGER_to_BN(sn, NULL);
    assert_int_equal(BN_num_bits(bn), 128);
    BN_free(bn);
    cm_sans_clear(&sans);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_good_read),
        cmocka_unit_test(test_csr_bad_signature_refused),
        cmocka_unit_test(test_csr_ip_and_other_sans_refused),
        cmocka_unit_test(test_csr_two_cns_refused),
        cmocka_unit_test(test_csr_weak_or_odd_keys_refused),
        cmocka_unit_test(test_csr_garbage_refused),
        cmocka_unit_test(test_cert_extensions),
    };

    return cmocka_run_group_tests_name("cm_x509", tests, NULL, NULL);
}
