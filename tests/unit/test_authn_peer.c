/*
 * authn/: identity extraction from client certificates, XFCC formatting,
 * CRL revoked sets (real certificates and CRLs built with OpenSSL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "authn/authn.h"
#include "common/pc_err.h"
#include "tests/unit/certgen.h"

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca;

static int
setup(void **state)
{
    (void)state;
    ca_key = tg_key();
    leaf_key = tg_key();
    ca = tg_cert("Test CA", ca_key, NULL, NULL, 1, NULL, NULL, -60, 86400);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    return 0;
}

static struct authn_peer *
peer_of(const char *cn, const char *san, long serial)
{
    X509 *x = tg_cert(cn, leaf_key, ca, ca_key, serial, san, "clientAuth", -60, 3600);
    struct authn_peer *p = NULL;

    assert_int_equal(authn_peer_new(x, &p), PC_OK);
    X509_free(x);
    return p;
}

static void
test_identity_prefers_spiffe_uri(void **state)
{
    struct authn_peer *p = peer_of("alice",
                                   "DNS:a.svc.example,URI:spiffe://example.com/ns/prod/sa/web,"
                                   "email:alice@example.com",
                                   42);

    (void)state;
    assert_int_equal(p->kind, AUTHN_ID_URI);
    assert_string_equal(p->identity, "spiffe://example.com/ns/prod/sa/web");
    /* the rate-limit key part: SHA-256 of the identity, 16 bytes in hex (the
     * same keys as before it was cached per connection: a rolling upgrade
     * keeps the buckets in a shared Redis) */
    assert_string_equal(p->id_hash_hex, "3bc31a39ab0e085ad8efa1cbebce51b7");
    assert_int_equal(p->names.nuri, 1);
    assert_int_equal(p->names.ndns, 1);
    assert_int_equal(p->names.nemail, 1);
    assert_string_equal(p->names.cn, "alice");
    assert_string_equal(p->serial_hex, "2a");
    authn_peer_free(p);
}

static void
test_identity_falls_back_dns_email_cn(void **state)
{
    struct authn_peer *p;

    (void)state;
    p = peer_of("bob", "DNS:b.svc.example,email:bob@example.com", 2);
    assert_string_equal(p->identity, "dns:b.svc.example");
    authn_peer_free(p);
    p = peer_of("bob", "email:bob@example.com", 3);
    assert_string_equal(p->identity, "email:bob@example.com");
    authn_peer_free(p);
    p = peer_of("bob", NULL, 4);
    assert_int_equal(p->kind, AUTHN_ID_CN);
    assert_string_equal(p->identity, "cn:bob");
    authn_peer_free(p);
}

static void
test_identity_skips_names_with_control_bytes(void **state)
{
    X509 *x = tg_cert("carol", leaf_key, ca, ca_key, 5, NULL, "clientAuth", -60, 3600);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    struct authn_peer *p = NULL;

    (void)state;
    /* "evil\0.example" would print as "evil" and lie about the name */
    ASN1_STRING_set(s, "evil\0.example", 13);
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, g);
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
    X509_sign(x, ca_key, EVP_sha256());
    assert_int_equal(authn_peer_new(x, &p), PC_OK);
    assert_int_equal(p->names.ndns, 0);
    assert_string_equal(p->identity, "cn:carol");
    authn_peer_free(p);
    GENERAL_NAMES_free(gens);
    X509_free(x);
}

static void
test_xfcc_format_and_quoting(void **state)
{
    struct authn_peer *p = peer_of("dave", "URI:spiffe://example.com/a,DNS:d.example", 6);
    char buf[2048];
    char expect[256];

    (void)state;
    snprintf(expect, sizeof(expect),
             "Hash=%s;Subject=\"CN=dave\";URI=spiffe://example.com/a;"
             "DNS=d.example",
             p->sha256_hex);
    assert_string_equal(p->xfcc, expect);
    assert_int_equal(strlen(p->sha256_hex), 64);
    assert_int_equal(authn_xfcc_format(p, buf, 40), 0); /* does not fit: refused, not cut */
    authn_peer_free(p);

    p = peer_of("x\"y,z", "URI:https://e.example/p;q=1", 7);
    assert_non_null(strstr(p->xfcc, "Subject=\"CN=x\\\\\\\"y\\\\,z\""));
    assert_non_null(strstr(p->xfcc, "URI=\"https://e.example/p;q=1\""));
    authn_peer_free(p);
}

static void
test_x5t_is_base64url_sha256(void **state)
{
    struct authn_peer *p = peer_of("erin", NULL, 8);

    (void)state;
    assert_int_equal(strlen(p->x5t_s256), 43);
    assert_null(strpbrk(p->x5t_s256, "+/="));
    authn_peer_free(p);
}

static char *
write_crl(X509_CRL *crl)
{
    static char path[] = "/tmp/pc-test-crl-XXXXXX";
    int fd;
    FILE *f;

    strcpy(path + sizeof(path) - 7, "XXXXXX");
    fd = mkstemp(path);
    f = fdopen(fd, "w");
    PEM_write_X509_CRL(f, crl);
    fclose(f);
    return path;
}

static void
test_crlset_lists_revoked_serials(void **state)
{
    long serials[] = {9, 300, 77777};
    X509_CRL *crl = tg_crl(ca, ca_key, serials, 3, 3600);
    STACK_OF(X509) *cas = sk_X509_new_null();
    struct authn_crlset *s = NULL;
    struct authn_peer *rev = peer_of("r", NULL, 300), *ok = peer_of("o", NULL, 301);
    char *path = write_crl(crl);

    (void)state;
    sk_X509_push(cas, ca);
    assert_int_equal(authn_crlset_load(path, cas, &s), PC_OK);
    assert_int_equal(authn_crlset_count(s), 3);
    assert_true(authn_crlset_covers(s, rev->issuer_id));
    assert_true(authn_crlset_has(s, rev->issuer_id, rev->serial, rev->serial_len));
    assert_false(authn_crlset_has(s, ok->issuer_id, ok->serial, ok->serial_len));
    assert_false(authn_crlset_expired(s, (int64_t)time(NULL)));
    assert_true(authn_crlset_expired(s, (int64_t)time(NULL) + 7200));
    unlink(path);
    authn_crlset_free(s);
    authn_peer_free(rev);
    authn_peer_free(ok);
    sk_X509_free(cas);
    X509_CRL_free(crl);
}

static void
test_crlset_refuses_foreign_or_forged_crl(void **state)
{
    EVP_PKEY *other_key = tg_key();
    X509 *other = tg_cert("Other CA", other_key, NULL, NULL, 1, NULL, NULL, -60, 86400);
    X509 *same_name = tg_cert("Test CA", other_key, NULL, NULL, 1, NULL, NULL, -60, 86400);
    long serials[] = {1};
    X509_CRL *foreign = tg_crl(other, other_key, serials, 1, 3600);
    X509_CRL *forged = tg_crl(same_name, other_key, serials, 1, 3600); /* right name, wrong key */
    STACK_OF(X509) *cas = sk_X509_new_null();
    struct authn_crlset *s = NULL;
    char *path;

    (void)state;
    sk_X509_push(cas, ca);
    path = write_crl(foreign);
    assert_int_not_equal(authn_crlset_load(path, cas, &s), PC_OK);
    assert_null(s);
    unlink(path);
    path = write_crl(forged);
    assert_int_not_equal(authn_crlset_load(path, cas, &s), PC_OK);
    assert_null(s);
    unlink(path);
    sk_X509_free(cas);
    X509_CRL_free(foreign);
    X509_CRL_free(forged);
    X509_free(other);
    X509_free(same_name);
    EVP_PKEY_free(other_key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_prefers_spiffe_uri),
        cmocka_unit_test(test_identity_falls_back_dns_email_cn),
        cmocka_unit_test(test_identity_skips_names_with_control_bytes),
        cmocka_unit_test(test_xfcc_format_and_quoting),
        cmocka_unit_test(test_x5t_is_base64url_sha256),
        cmocka_unit_test(test_crlset_lists_revoked_serials),
        cmocka_unit_test(test_crlset_refuses_foreign_or_forged_crl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
