/*
 * certmgr/cm_ca.c and cm_file.c on a real directory: init, refusals, the
 * issue order, revocation, the CRL number, key file modes.
 */
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"
#include "common/pc_file.h"

struct fixture {
    char root[64];
    char dir[128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->root, sizeof(f->root), "/tmp/test_cm_ca.XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/ca", f->root);
    cm_err_clear();
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void
path_of(const struct fixture *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

static mode_t
mode_of(const struct fixture *f, const char *name)
{
    char p[512];
    struct stat st;

    path_of(f, name, p, sizeof(p));
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static void
expect_reason(const char *why)
{
    assert_non_null(cm_err_get());
    if (strstr(cm_err_get(), why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", cm_err_get(), why);
    cm_err_clear();
}

/* Issue one certificate for `name`; returns its serial in hex. */
static void
issue(const struct fixture *f, const char *name, char *serial)
{
    struct cm_ca *ca = NULL;
    struct cm_sans sans;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    time_t now = time(NULL);

    memset(&sans, 0, sizeof(sans));
    assert_int_equal(cm_key_generate(CM_KEY_EC256, &key), PC_OK);
    assert_int_equal(cm_ca_open(f->dir, true, true, &ca), PC_OK);
    assert_int_equal(cm_ca_issue(ca, name, &sans, now - 60, now + 86400, key, &cert, serial),
                     PC_OK);
    cm_ca_close(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void
test_init_files_and_modes(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    struct cm_index idx;
    char p[256];

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC256), PC_OK);
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(mode_of(f, "ca.key"), 0600);
    assert_int_equal(mode_of(f, "ca.pem"), 0644);
    assert_int_equal(mode_of(f, "index.json"), 0644);
    assert_int_equal(mode_of(f, "crl.pem"), 0644);
    path_of(f, "index.json", p, sizeof(p));
    assert_int_equal(cm_index_load(p, &idx), PC_OK);
    assert_int_equal(idx.crl_number, 1);
    assert_int_equal(idx.n, 0);
    cm_index_clear(&idx);
}

static void
test_init_twice_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_ED25519), PC_OK);
    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_ED25519), PC_ERR_EXISTS);
    expect_reason("CA already initialised in ");
}

static void
test_init_over_leftover_index_with_certs_refused(void **state)
{
    struct fixture *f = *state;
    char p[256], serial[CM_SERIAL_HEX_MAX + 1];

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC256), PC_OK);
    issue(f, "alice", serial);
    path_of(f, "ca.key", p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC256), PC_ERR_EXISTS);
    expect_reason("lists 1 certificates but there is no ca.key");
}

static void
test_open_uninitialised_refused(void **state)
{
    struct fixture *f = *state;
    struct cm_ca *ca = NULL;

    assert_int_equal(cm_ca_open(f->dir, false, false, &ca), PC_ERR_NOT_FOUND);
    assert_null(ca);
    expect_reason("CA not initialised in ");
}

static void
test_issue_order_and_index(void **state)
{
    struct fixture *f = *state;
    struct cm_index idx;
    char p[256], serial[CM_SERIAL_HEX_MAX + 1], serial2[CM_SERIAL_HEX_MAX + 1];

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC384), PC_OK);
    issue(f, "alice", serial);
    issue(f, "alice", serial2);
    assert_string_not_equal(serial, serial2);
    assert_int_equal(strlen(serial), 32);
    snprintf(p, sizeof(p), "issued/%s.pem", serial);
    assert_int_equal(mode_of(f, p), 0644);
    path_of(f, "index.json", p, sizeof(p));
    assert_int_equal(cm_index_load(p, &idx), PC_OK);
    assert_int_equal(idx.n, 2);
    assert_non_null(cm_index_find(&idx, serial));
    assert_string_equal(cm_index_find(&idx, serial2)->name, "alice");
    cm_index_clear(&idx);
}

static void
test_corrupt_index_refused_and_untouched(void **state)
{
    static const char bad[] = "{\"version\":1,\"crl_number\":1,\"certs\":[{\"serial\":\"XY\"}]}";
    struct fixture *f = *state;
    struct cm_ca *ca = NULL;
    char p[256], *buf = NULL;
    size_t len = 0;

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC256), PC_OK);
    path_of(f, "index.json", p, sizeof(p));
    assert_int_equal(pc_file_write_atomic(p, bad, sizeof(bad) - 1, 0644), PC_OK);
    assert_int_equal(cm_ca_open(f->dir, true, true, &ca), PC_ERR_INVALID);
    assert_null(ca);
    expect_reason("index.json: certs[0].serial");
    assert_int_equal(pc_file_read(p, 4096, &buf, &len), PC_OK);
    assert_memory_equal(buf, bad, sizeof(bad) - 1);
    free(buf);
}

static void
test_key_group_readable_refused(void **state)
{
    struct fixture *f = *state;
    struct cm_ca *ca = NULL;
    EVP_PKEY *key = NULL;
    char p[256];

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC256), PC_OK);
    path_of(f, "ca.key", p, sizeof(p));
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(cm_ca_open(f->dir, true, true, &ca), PC_OK);
    assert_int_equal(cm_ca_key(ca, &key), PC_ERR_DENIED);
    assert_null(key);
    expect_reason("accessible by group or others (mode 0640)");
    assert_int_equal(chmod(p, 0604), 0);
    assert_int_equal(cm_ca_key(ca, &key), PC_ERR_DENIED);
    cm_err_clear();
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(cm_ca_key(ca, &key), PC_OK);
    EVP_PKEY_free(key);
    cm_ca_close(ca);
}

static void
test_key_mismatch_refused(void **state)
{
    struct fixture *f = *state;
    struct cm_ca *ca = NULL;
    EVP_PKEY *key = NULL, *other = NULL;
    char p[256], *pem = NULL;
    size_t len = 0;

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_EC256), PC_OK);
    assert_int_equal(cm_key_generate(CM_KEY_EC256, &other), PC_OK);
    assert_int_equal(cm_key_pem(other, &pem, &len), PC_OK);
    path_of(f, "ca.key", p, sizeof(p));
    assert_int_equal(pc_file_write_atomic(p, pem, len, 0600), PC_OK);
    assert_int_equal(cm_ca_open(f->dir, true, true, &ca), PC_OK);
    assert_int_equal(cm_ca_key(ca, &key), PC_ERR_INVALID);
    expect_reason("does not match");
    cm_ca_close(ca);
    free(pem);
    EVP_PKEY_free(other);
}

static void
test_write_excl_never_overwrites(void **state)
{
    struct fixture *f = *state;
    char p[256], *buf = NULL;
    size_t len = 0;
    struct stat st;

    snprintf(p, sizeof(p), "%s/k.key", f->root);
    assert_int_equal(cm_file_write_excl(p, "one", 3, 0600), PC_OK);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(cm_file_write_excl(p, "two", 3, 0600), PC_ERR_EXISTS);
    expect_reason("already exists");
    assert_int_equal(pc_file_read(p, 16, &buf, &len), PC_OK);
    assert_memory_equal(buf, "one", 3);
    free(buf);
    /* a dangling symlink is not followed either */
    snprintf(p, sizeof(p), "%s/link.key", f->root);
    assert_int_equal(symlink("/nonexistent/target", p), 0);
    assert_int_equal(cm_file_write_excl(p, "x", 1, 0600), PC_ERR_EXISTS);
    cm_err_clear();
}

static void
test_revoke_and_crl_number_grows(void **state)
{
    struct fixture *f = *state;
    struct cm_ca *ca = NULL;
    char p[256], s1[CM_SERIAL_HEX_MAX + 1], s2[CM_SERIAL_HEX_MAX + 1], *buf = NULL;
    size_t len = 0, which = 0;
    uint64_t number = 0;
    X509_CRL *crl = NULL;
    X509_REVOKED *rev = NULL;
    BIO *b = NULL;
    ASN1_INTEGER *sn = NULL;
    BIGNUM *bn = NULL;

    assert_int_equal(cm_ca_init(f->dir, "Test CA", CM_KEY_RSA2048), PC_OK);
    issue(f, "alice", s1);
    issue(f, "bob", s2);
    assert_int_equal(cm_ca_open(f->dir, true, true, &ca), PC_OK);
    assert_int_equal(cm_ca_crl(ca, NULL, 3600, &number), PC_OK);
    assert_int_equal(number, 2);
    which = cm_index_find(cm_ca_index(ca), s1) == &cm_ca_index(ca)->certs[0] ? 0 : 1;
    assert_int_equal(cm_ca_revoke(ca, &which, 1, CM_REASON_KEY_COMPROMISE, time(NULL)), PC_OK);
    assert_int_equal(cm_ca_crl(ca, NULL, 3600, &number), PC_OK);
    assert_int_equal(number, 3);
    assert_int_equal(cm_ca_index(ca)->crl_number, 3);
    cm_ca_close(ca);

    path_of(f, "crl.pem", p, sizeof(p));
    assert_int_equal(pc_file_read(p, 65536, &buf, &len), PC_OK);
    b = BIO_new_mem_buf(buf, (int)len);
    crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
    assert_non_null(crl);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
    assert_int_not_equal(BN_hex2bn(&bn, s1), 0);
    sn = BN_to_ASN1_INTEGER(bn, NULL);
    assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, sn), 1);
    BN_free(bn);
    bn = NULL;
    assert_int_not_equal(BN_hex2bn(&bn, s2), 0);
    ASN1_INTEGER_free(sn);
    sn = BN_to_ASN1_INTEGER(bn, NULL);
    assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, sn), 0); /* bob is not revoked */
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    X509_CRL_free(crl);
    BIO_free(b);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_files_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_twice_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_over_leftover_index_with_certs_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_uninitialised_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_order_and_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_index_refused_and_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_group_readable_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_mismatch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_excl_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_and_crl_number_grows, setup, teardown),
    };

    return cmocka_run_group_tests_name("cm_ca", tests, NULL, NULL);
}
