/*
 * certmgr on a real directory: state_dir/acme (modes, the lock, the account
 * key made once, the account URL per CA, orders in flight and their pending
 * keys, status.json), the chain check and install (modes, the refusals),
 * what cm_installed_read sees, metrics.prom, the command runner (exit
 * status, output cap, timeout), and the challenge providers: the http-01
 * webroot file, the exec hook's arguments, and the calls to certmgr/cm_dns.c
 * (a cmocka double here, to see exactly what certmgr asks of it).
 */
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "certmgr/cm.h"
#include "certmgr/cm_acme.h"
#include "certmgr/cm_dns.h"
#include "common/pc_err.h"
#include "common/pc_file.h"

static char dir[64];

/* --- the test double of certmgr/cm_dns.c ------------------------------------------------ */

int
cm_dns_wait_txt(const char *const *resolvers, size_t nresolvers, const char *fqdn,
                const char *value, uint64_t timeout_ms)
{
    check_expected(nresolvers);
    check_expected_ptr(resolvers[0]);
    check_expected_ptr(fqdn);
    check_expected_ptr(value);
    assert_true(timeout_ms > 0 && timeout_ms <= 5000);
    return mock_type(int);
}

int
cm_rfc2136_txt(const struct cm_rfc2136 *srv, const char *fqdn, const char *value, bool add,
               char *err, size_t errlen)
{
    check_expected_ptr(srv->server);
    check_expected_ptr(fqdn);
    check_expected_ptr(value);
    check_expected(add);
    snprintf(err, errlen, "double");
    return mock_type(int);
}

void
cm_dns_set_cancel(bool (*cancelled)(void))
{
    (void)cancelled; /* cm_run() sets it; these tests never stop a wait */
}

/* --- helpers ------------------------------------------------------------------------------ */

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/cm-acme-state-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static mode_t
mode_of(const char *sub)
{
    char p[256];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static bool
exists(const char *sub)
{
    char p[256];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    return stat(p, &st) == 0;
}

static void
cfg_init(struct pol_certmgr *cfg, struct pol_cm_cert *cert, char **domains, size_t n)
{
    static char name[] = "site", directory[] = "https://ca.test/dir";

    memset(cfg, 0, sizeof(*cfg));
    memset(cert, 0, sizeof(*cert));
    cfg->state_dir = dir;
    cfg->directory = directory;
    cfg->certs = cert;
    cfg->ncerts = 1;
    cert->name = name;
    cert->domains = domains;
    cert->ndomains = n;
}

/* A self-signed certificate for key naming names[0..n), PEM in *pem. */
static char *
cert_pem(EVP_PKEY *key, char **names, size_t n, time_t nb, time_t na, size_t *len)
{
    unsigned char serial[CM_SERIAL_RAND_BYTES];
    struct cm_sans sans;
    struct cm_certspec spec;
    X509 *x = NULL;
    char *pem = NULL;
    size_t i;

    memset(&sans, 0, sizeof(sans));
    for (i = 0; i < n; i++)
        cm_strv_push(&sans.dns, names[i], strlen(names[i]));
    assert_int_equal(cm_serial_random(serial), PC_OK);
    memset(&spec, 0, sizeof(spec));
    spec.cn = "test";
    spec.serial = serial;
    spec.serial_len = sizeof(serial);
    spec.not_before = nb;
    spec.not_after = na;
    spec.sans = &sans;
    assert_int_equal(cm_cert_build(&spec, key, NULL, key, &x), PC_OK);
    assert_int_equal(cm_cert_pem(x, &pem, len), PC_OK);
    X509_free(x);
    cm_sans_clear(&sans);
    return pem;
}

/* --- state ---------------------------------------------------------------------------------- */

static void
test_dirs_modes_and_lock(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    int fd1 = -1, fd2 = -1;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    assert_int_equal(mode_of("acme"), 0711);
    assert_int_equal(mode_of("acme/orders"), 0700);
    assert_int_equal(mode_of("certs"), 0755);
    assert_int_equal(cm_state_lock(&cfg, &fd1), PC_OK);
    /* a second certmgr on the same state_dir is refused */
    assert_int_equal(cm_state_lock(&cfg, &fd2), PC_ERR_BUSY);
    assert_int_equal(fd2, -1);
    close(fd1);
    assert_int_equal(cm_state_lock(&cfg, &fd2), PC_OK);
    close(fd2);
}

static void
test_account_key_once_and_private(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    char p[256];

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    assert_int_equal(cm_state_account_key(&cfg, &k1), PC_OK);
    assert_int_equal(mode_of("acme/account.key"), 0600);
    assert_int_equal(cm_jwk_key_algs(k1), POL_ALG_ES256);
    assert_int_equal(cm_state_account_key(&cfg, &k2), PC_OK);
    assert_int_equal(EVP_PKEY_eq(k1, k2), 1); /* made once, then loaded */
    EVP_PKEY_free(k2);
    k2 = NULL;
    snprintf(p, sizeof(p), "%s/acme/account.key", dir);
    chmod(p, 0640);
    assert_int_not_equal(cm_state_account_key(&cfg, &k2), PC_OK);
    assert_null(k2);
    EVP_PKEY_free(k1);
}

static void
test_account_url_per_directory(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    char other[] = "https://other-ca.test/dir", *url = NULL;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    assert_int_equal(cm_state_account_url(&cfg, &url), PC_ERR_NOT_FOUND);
    assert_int_equal(cm_state_account_save(&cfg, "https://ca.test/acct/1"), PC_OK);
    assert_int_equal(cm_state_account_url(&cfg, &url), PC_OK);
    assert_string_equal(url, "https://ca.test/acct/1");
    free(url);
    url = NULL;
    cfg.directory = other; /* an account belongs to one CA */
    assert_int_equal(cm_state_account_url(&cfg, &url), PC_ERR_NOT_FOUND);
    assert_null(url);
}

static void
test_order_record_and_key(void **state)
{
    char d0[] = "*.example.test", d1[] = "example.test", *doms[] = {d0, d1};
    char url[] = "https://ca.test/order/1", directory[] = "https://ca.test/dir", p[256];
    struct cm_order_state o, back;
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    EVP_PKEY *k = NULL, *k2 = NULL;

    (void)state;
    cfg_init(&cfg, &cert, doms, 2);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    assert_false(cm_state_order_exists(&cfg, "site"));
    assert_int_equal(cm_state_order_load(&cfg, "site", &back), PC_ERR_NOT_FOUND);
    memset(&o, 0, sizeof(o));
    o.directory = directory;
    o.url = url;
    o.domains = doms;
    o.ndomains = 2;
    o.key_type = POL_CM_KEY_EC384;
    o.created = 1700000000;
    assert_int_equal(cm_state_order_save(&cfg, "site", &o), PC_OK);
    assert_true(cm_state_order_exists(&cfg, "site"));
    assert_int_equal(mode_of("acme/orders/site.json"), 0600);
    assert_int_equal(cm_state_order_load(&cfg, "site", &back), PC_OK);
    assert_string_equal(back.url, url);
    assert_int_equal(back.ndomains, 2);
    assert_string_equal(back.domains[0], "*.example.test");
    assert_int_equal(back.key_type, POL_CM_KEY_EC384);
    assert_int_equal(back.created, 1700000000);
    cm_state_order_clear(&back);
    assert_int_equal(cm_state_order_key(&cfg, "site", &k2), PC_ERR_NOT_FOUND);
    assert_int_equal(cm_acme_key_new(POL_CM_KEY_EC256, &k), PC_OK);
    assert_int_equal(cm_state_order_key_save(&cfg, "site", k), PC_OK);
    assert_int_equal(mode_of("acme/orders/site.key"), 0600);
    assert_int_equal(cm_state_order_key(&cfg, "site", &k2), PC_OK);
    assert_int_equal(EVP_PKEY_eq(k, k2), 1);
    /* a record that does not parse is ignored, never trusted */
    snprintf(p, sizeof(p), "%s/acme/orders/site.json", dir);
    assert_int_equal(pc_file_write_atomic(p, "{\"url\":5}", 9, 0600), PC_OK);
    assert_int_not_equal(cm_state_order_load(&cfg, "site", &back), PC_OK);
    assert_null(back.url);
    cm_state_order_drop(&cfg, "site");
    assert_false(exists("acme/orders/site.json"));
    assert_false(exists("acme/orders/site.key"));
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

static void
test_stats_roundtrip(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    struct cm_cert_stats st, back;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    cm_state_stats_load(&cfg, &back);
    assert_int_equal(back.renewals, 0);
    memset(&st, 0, sizeof(st));
    st.renewals = 3;
    st.failures = 2;
    st.consecutive = 1;
    st.last_success = 1700000000;
    st.next_attempt = 1700003600;
    assert_int_equal(cm_state_stats_save(&cfg, &st), PC_OK);
    cm_state_stats_load(&cfg, &back);
    assert_memory_equal(&st, &back, sizeof(st));
}

/* --- the chain, the install, what is installed ----------------------------------------------- */

static void
test_chain_check_and_install(void **state)
{
    char d0[] = "*.example.test", d1[] = "example.test", *doms[] = {d0, d1}, *only[] = {d1};
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    struct cm_installed in;
    EVP_PKEY *k = NULL, *other = NULL;
    time_t now = time(NULL);
    char *pem, *half, *norm = NULL, *many, p[256];
    size_t len, hlen, nlen, i;
    int64_t na = 0;

    (void)state;
    cfg_init(&cfg, &cert, doms, 2);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    assert_int_equal(cm_acme_key_new(POL_CM_KEY_EC256, &k), PC_OK);
    assert_int_equal(cm_acme_key_new(POL_CM_KEY_EC256, &other), PC_OK);
    pem = cert_pem(k, doms, 2, now - 3600, now + 90 * 86400, &len);
    assert_int_equal(cm_chain_check(&cert, k, pem, len, &norm, &nlen, &na), PC_OK);
    assert_int_equal(na, now + 90 * 86400);
    free(norm);
    /* not our key, a name missing, nothing at all, too many certificates */
    assert_int_equal(cm_chain_check(&cert, other, pem, len, &norm, &nlen, &na), PC_ERR_INVALID);
    assert_null(norm);
    half = cert_pem(k, only, 1, now, now + 86400, &hlen);
    assert_int_equal(cm_chain_check(&cert, k, half, hlen, &norm, &nlen, &na), PC_ERR_INVALID);
    assert_int_equal(cm_chain_check(&cert, k, "junk", 4, &norm, &nlen, &na), PC_ERR_INVALID);
    many = malloc(len * (CM_ACME_CHAIN_MAX_CERTS + 1));
    for (i = 0; i <= CM_ACME_CHAIN_MAX_CERTS; i++)
        memcpy(many + i * len, pem, len);
    assert_int_equal(cm_chain_check(&cert, k, many, len * i, &norm, &nlen, &na), PC_ERR_INVALID);
    free(many);
    /* install: key 0600, chain 0644, and what is installed reads back right */
    assert_int_equal(cm_store_install(&cfg, &cert, k, pem, len), PC_OK);
    assert_int_equal(mode_of("certs/site/privkey.pem"), 0600);
    assert_int_equal(mode_of("certs/site/fullchain.pem"), 0644);
    cm_installed_read(&cfg, &cert, &in);
    assert_true(in.present && in.key_ok && in.names_ok);
    assert_int_equal(in.not_after, now + 90 * 86400);
    assert_string_not_equal(in.ari_id, ""); /* our test certificates have an AKI */
    /* another key in the slot: the pair no longer matches */
    snprintf(p, sizeof(p), "%s/certs/site/fullchain.pem", dir);
    assert_int_equal(cm_store_install(&cfg, &cert, other, pem, len), PC_OK);
    cm_installed_read(&cfg, &cert, &in);
    assert_true(in.present);
    assert_false(in.key_ok);
    /* the configured names changed */
    cert.ndomains = 1;
    cert.domains = only;
    cm_installed_read(&cfg, &cert, &in);
    assert_false(in.names_ok);
    unlink(p);
    cm_installed_read(&cfg, &cert, &in);
    assert_false(in.present);
    free(pem);
    free(half);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void
test_metrics_file(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    struct cm_cert_stats st;
    struct cm_installed in;
    char p[256], *buf = NULL;
    const char *e;
    size_t len = 0;
    long v;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    assert_int_equal(cm_state_dirs(&cfg), PC_OK);
    memset(&st, 0, sizeof(st));
    memset(&in, 0, sizeof(in));
    st.renewals = 4;
    st.failures = 1;
    in.present = true;
    in.not_after = time(NULL) + 1000;
    assert_int_equal(cm_store_metrics(&cfg, &st, &in, 42), PC_OK);
    snprintf(p, sizeof(p), "%s/acme/metrics.prom", dir);
    assert_int_equal(pc_file_read(p, 65536, &buf, &len), PC_OK);
    assert_non_null(strstr(buf, "# TYPE portcullis_certmgr_renewals_total counter\n"
                                "portcullis_certmgr_renewals_total{name=\"site\"} 4\n"));
    assert_non_null(strstr(buf, "portcullis_certmgr_renewal_failures_total{name=\"site\"} 1\n"));
    e = strstr(buf, "portcullis_certmgr_cert_expiry_seconds{name=\"site\"} ");
    assert_non_null(e);
    v = strtol(e + strlen("portcullis_certmgr_cert_expiry_seconds{name=\"site\"} "), NULL, 10);
    assert_true(v >= 990 && v <= 1000);
    assert_non_null(strstr(buf, "portcullis_certmgr_acme_requests_total 42\n"));
    assert_int_equal(mode_of("acme/metrics.prom"), 0644);
    free(buf);
}

/* --- running commands ------------------------------------------------------------------------ */

static void
test_run_cmd(void **state)
{
    char sh[] = "/bin/sh", c[] = "-c", ok0[] = "echo hello; echo to stderr >&2; exit 0",
         bad[] = "echo nope; exit 3", slow[] = "sleep 10", big[] = "yes | head -c 100000",
         none[] = "/nonexistent/hook";
    char *a_ok[] = {sh, c, ok0, NULL}, *a_bad[] = {sh, c, bad, NULL},
         *a_slow[] = {sh, c, slow, NULL}, *a_big[] = {sh, c, big, NULL}, *a_none[] = {none, NULL};
    uint64_t t0;

    (void)state;
    assert_int_equal(cm_run_cmd(a_ok, 5000, true, "test ok"), PC_OK);
    assert_int_equal(cm_run_cmd(a_bad, 5000, true, "test bad"), PC_ERR_IO);
    assert_int_equal(cm_run_cmd(a_big, 5000, true, "test big"), PC_OK);
    assert_int_not_equal(cm_run_cmd(a_none, 5000, true, "test none"), PC_OK);
    t0 = cm_now_ms();
    assert_int_equal(cm_run_cmd(a_slow, 300, true, "test slow"), PC_ERR_IO);
    assert_true(cm_now_ms() - t0 < 3000); /* killed at the timeout, not after 10 s */
}

/* --- challenge providers --------------------------------------------------------------------- */

static void
job_init(struct cm_chall_job *j)
{
    memset(j, 0, sizeof(*j));
    j->ident = "example.test";
    j->fqdn = strdup("_acme-challenge.example.test");
    j->token = strdup("tok_EN-1");
    j->key_authz = strdup("tok_EN-1.thumb");
    cm_acme_dns_value(j->key_authz, j->value);
}

static void
test_http01_webroot(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    struct cm_chall_job j;
    char web[128], *buf = NULL;
    size_t len = 0;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    snprintf(web, sizeof(web), "%s/web", dir);
    cert.challenge = POL_CM_HTTP01;
    cert.webroot = web;
    job_init(&j);
    assert_int_equal(cm_chall_present(&cert, &j), PC_OK);
    assert_int_equal(mode_of("web/tok_EN-1"), 0644);
    assert_int_equal(pc_file_read(strcat(web, "/tok_EN-1"), 1024, &buf, &len), PC_OK);
    assert_string_equal(buf, "tok_EN-1.thumb");
    free(buf);
    snprintf(web, sizeof(web), "%s/web", dir);
    cm_chall_cleanup(&cert, &j);
    assert_false(exists("web/tok_EN-1"));
    cm_chall_job_clear(&j);
}

static void
test_dns01_exec_hook_arguments(void **state)
{
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    struct cm_chall_job j;
    char hook[128], log[128], script[512], *argv[2], *buf = NULL, expect[256];
    size_t len = 0;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    snprintf(hook, sizeof(hook), "%s/hook.sh", dir);
    snprintf(log, sizeof(log), "%s/hook.log", dir);
    snprintf(script, sizeof(script), "#!/bin/sh\necho \"$# $1 $2 $3\" >> %s\n", log);
    assert_int_equal(pc_file_write_atomic(hook, script, strlen(script), 0755), PC_OK);
    argv[0] = hook;
    argv[1] = NULL;
    cert.challenge = POL_CM_DNS01;
    cert.dns_provider = POL_CM_DNS_EXEC;
    cert.dns_command = argv;
    cert.dns_command_argc = 1;
    cert.dns_command_timeout_ms = 5000;
    job_init(&j);
    assert_int_equal(cm_chall_present(&cert, &j), PC_OK);
    cm_chall_cleanup(&cert, &j);
    assert_int_equal(pc_file_read(log, 4096, &buf, &len), PC_OK);
    snprintf(expect, sizeof(expect),
             "3 present _acme-challenge.example.test. %s\n"
             "3 cleanup _acme-challenge.example.test. %s\n",
             j.value, j.value);
    assert_string_equal(buf, expect);
    free(buf);
    cm_chall_job_clear(&j);
}

static void
test_dns01_propagation_and_rfc2136_call_cm_dns(void **state)
{
    char r0[] = "127.0.0.1:8053", *resolvers[] = {r0}, server[] = "127.0.0.1:53";
    struct pol_certmgr cfg;
    struct pol_cm_cert cert;
    struct cm_chall_job j;

    (void)state;
    cfg_init(&cfg, &cert, NULL, 0);
    cert.challenge = POL_CM_DNS01;
    cert.dns_provider = POL_CM_DNS_RFC2136;
    cert.rfc2136.server = server;
    cert.resolvers = resolvers;
    cert.nresolvers = 1;
    cert.propagation_timeout_ms = 5000;
    job_init(&j);
    /* present = an RFC 2136 add, cleanup = a delete, both with the TXT value */
    expect_string(cm_rfc2136_txt, srv->server, "127.0.0.1:53");
    expect_string(cm_rfc2136_txt, fqdn, "_acme-challenge.example.test");
    expect_string(cm_rfc2136_txt, value, j.value);
    expect_value(cm_rfc2136_txt, add, true);
    will_return(cm_rfc2136_txt, PC_OK);
    assert_int_equal(cm_chall_present(&cert, &j), PC_OK);
    /* then the propagation check, with what was published */
    expect_value(cm_dns_wait_txt, nresolvers, 1);
    expect_string(cm_dns_wait_txt, resolvers[0], "127.0.0.1:8053");
    expect_string(cm_dns_wait_txt, fqdn, "_acme-challenge.example.test");
    expect_string(cm_dns_wait_txt, value, j.value);
    will_return(cm_dns_wait_txt, PC_OK);
    assert_int_equal(cm_chall_propagation(&cert, &j, 1), PC_OK);
    /* a timeout fails the attempt: the CA is not asked */
    expect_value(cm_dns_wait_txt, nresolvers, 1);
    expect_string(cm_dns_wait_txt, resolvers[0], "127.0.0.1:8053");
    expect_string(cm_dns_wait_txt, fqdn, "_acme-challenge.example.test");
    expect_string(cm_dns_wait_txt, value, j.value);
    will_return(cm_dns_wait_txt, PC_ERR_TIMEOUT);
    assert_int_equal(cm_chall_propagation(&cert, &j, 1), PC_ERR_TIMEOUT);
    expect_string(cm_rfc2136_txt, srv->server, "127.0.0.1:53");
    expect_string(cm_rfc2136_txt, fqdn, "_acme-challenge.example.test");
    expect_string(cm_rfc2136_txt, value, j.value);
    expect_value(cm_rfc2136_txt, add, false);
    will_return(cm_rfc2136_txt, PC_ERR_IO); /* logged, never fatal */
    cm_chall_cleanup(&cert, &j);
    /* without resolvers nothing is checked */
    cert.nresolvers = 0;
    assert_int_equal(cm_chall_propagation(&cert, &j, 1), PC_OK);
    cm_chall_job_clear(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dirs_modes_and_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_key_once_and_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_url_per_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_record_and_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_check_and_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_cmd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http01_webroot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns01_exec_hook_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns01_propagation_and_rfc2136_call_cm_dns, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
