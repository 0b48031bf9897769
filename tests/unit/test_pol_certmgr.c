/*
 * policy/pol_certmgr.c and pol_certmgr_cert.c: certmgr.yaml.  What a valid
 * file gives (every key, the defaults), and every refusal with its
 * file:line:col: unknown keys, a wildcard with http-01, bad names and
 * domains, renew_before, reload, EAB and TSIG secrets (decoded, never
 * quoted, a key file others can read), gateway_config.
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

#include "common/pc_err.h"
#include "policy/pol.h"

#define F "cm.yaml"
#define ACME                                                                                       \
    "acme:\n"                                                                                      \
    "  directory: \"https://ca.test/dir\"\n"

static struct pol_certmgr *
ok_mem(const char *yaml)
{
    struct pol_errors e = {0};
    struct pol_certmgr *c = NULL;
    size_t i;
    int rc = pol_certmgr_load_mem(F, yaml, strlen(yaml), &c, &e);

    for (i = 0; i < e.n; i++)
        fprintf(stderr, "    | %s\n", e.msg[i]);
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_OK);
    assert_non_null(c);
    return c;
}

/* The load fails, and one error starts with `where` and contains `what`. */
static void
bad_mem(const char *yaml, const char *where, const char *what)
{
    struct pol_errors e = {0};
    struct pol_certmgr *c = NULL;
    size_t i;
    bool found = false;

    assert_int_equal(pol_certmgr_load_mem(F, yaml, strlen(yaml), &c, &e), PC_ERR_INVALID);
    assert_null(c);
    for (i = 0; i < e.n && !found; i++)
        found = strncmp(e.msg[i], where, strlen(where)) == 0 && strstr(e.msg[i], what) != NULL;
    if (!found) {
        fprintf(stderr, "    expected %s ... %s, got:\n", where, what);
        for (i = 0; i < e.n; i++)
            fprintf(stderr, "    | %s\n", e.msg[i]);
    }
    pol_errors_clear(&e);
    assert_true(found);
}

static void
test_full_file(void **state)
{
    struct pol_certmgr *c;
    const struct pol_cm_cert *w, *h;

    (void)state;
    c = ok_mem("acme:\n"
               "  directory: \"https://ca.test/dir\"\n"
               "  email: admin@example.test\n"
               "  ca_file: /etc/ca.pem\n"
               "  eab: { kid: kid-1, hmac_key: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\" }\n"
               "state_dir: /srv/pc\n"
               "renew_before: 30d\n"
               "reload: { command: \"systemctl  reload portcullis\" }\n"
               "certificates:\n"
               "  - name: wild\n"
               "    domains: [\"*.Example.TEST\", example.test]\n"
               "    key_type: ec384\n"
               "    challenge: dns-01\n"
               "    dns:\n"
               "      provider: exec\n"
               "      command: [/usr/lib/hook, --zone, example.test]\n"
               "      command_timeout: 30s\n"
               "      resolvers: [\"127.0.0.1:53\", \"[::1]:5353\"]\n"
               "      propagation_timeout: 10s\n"
               "  - name: www\n"
               "    domains: [www.example.test]\n"
               "    challenge: http-01\n");
    assert_string_equal(c->directory, "https://ca.test/dir");
    assert_string_equal(c->email, "admin@example.test");
    assert_string_equal(c->ca_file, "/etc/ca.pem");
    assert_string_equal(c->eab_kid, "kid-1");
    assert_int_equal(c->eab_key_len, 32);
    assert_int_equal(c->eab_key[31], 31);
    assert_string_equal(c->state_dir, "/srv/pc");
    assert_int_equal(c->renew_percent, 0);
    assert_int_equal(c->renew_before_ms, 30ULL * 86400 * 1000);
    assert_int_equal(c->reload_argc, 3); /* split at blanks, no shell */
    assert_string_equal(c->reload_command[0], "systemctl");
    assert_string_equal(c->reload_command[2], "portcullis");
    assert_null(c->reload_command[3]);
    assert_null(c->reload_pid_file);
    assert_int_equal(c->ncerts, 2);
    w = pol_certmgr_find(c, "wild");
    assert_non_null(w);
    assert_string_equal(w->domains[0], "*.example.test"); /* lower-cased */
    assert_int_equal(w->key_type, POL_CM_KEY_EC384);
    assert_int_equal(w->challenge, POL_CM_DNS01);
    assert_int_equal(w->dns_provider, POL_CM_DNS_EXEC);
    assert_int_equal(w->dns_command_argc, 3);
    assert_string_equal(w->dns_command[1], "--zone");
    assert_int_equal(w->dns_command_timeout_ms, 30000);
    assert_int_equal(w->nresolvers, 2);
    assert_string_equal(w->resolvers[1], "[::1]:5353");
    assert_int_equal(w->propagation_timeout_ms, 10000);
    h = pol_certmgr_find(c, "www");
    assert_int_equal(h->challenge, POL_CM_HTTP01);
    /* without http.webroot: the gateway's default acme_webroot under state_dir */
    assert_string_equal(h->webroot, "/srv/pc/acme/http-01");
    assert_int_equal(h->key_type, POL_CM_KEY_EC256);
    assert_null(pol_certmgr_find(c, "nope"));
    pol_certmgr_free(c);
}

static void
test_defaults(void **state)
{
    struct pol_certmgr *c;

    (void)state;
    c = ok_mem(ACME "certificates:\n"
                    "  - { name: a, domains: [a.example.test], challenge: dns-01,\n"
                    "      dns: { provider: exec, command: ./hook.sh } }\n");
    assert_string_equal(c->state_dir, "/var/lib/portcullis");
    assert_int_equal(c->renew_percent, 33);
    assert_null(c->email);
    assert_null(c->eab_kid);
    assert_null(c->reload_pid_file);
    assert_null(c->reload_command);
    assert_int_equal(c->certs[0].dns_command_timeout_ms, 60000);
    assert_int_equal(c->certs[0].propagation_timeout_ms, 120000);
    assert_int_equal(c->certs[0].nresolvers, 0);
    /* a relative command path is made absolute against the file's directory */
    assert_true(c->certs[0].dns_command[0][0] == '/');
    assert_non_null(strstr(c->certs[0].dns_command[0], "/hook.sh"));
    pol_certmgr_free(c);
    /* a bare name is looked up in PATH when run */
    c = ok_mem(ACME "certificates:\n"
                    "  - { name: a, domains: [a.example.test], challenge: dns-01,\n"
                    "      dns: { provider: exec, command: dns-hook } }\n");
    assert_string_equal(c->certs[0].dns_command[0], "dns-hook");
    pol_certmgr_free(c);
    c = ok_mem(ACME "renew_before: 50%\nreload: { pid_file: /run/gw.pid }\ncertificates:\n"
                    "  - { name: a, domains: [a.example.test], challenge: http-01,\n"
                    "      http: { webroot: /var/www/acme } }\n");
    assert_int_equal(c->renew_percent, 50);
    assert_string_equal(c->reload_pid_file, "/run/gw.pid");
    assert_string_equal(c->certs[0].webroot, "/var/www/acme");
    pol_certmgr_free(c);
}

static void
test_wildcard_needs_dns01(void **state)
{
    (void)state;
    bad_mem(ACME "certificates:\n"
                 "  - name: w\n"
                 "    domains: [a.example.test, \"*.example.test\"]\n"
                 "    challenge: http-01\n",
            F ":5:31: certificates[0].domains[1]: ",
            "wildcard name \"*.example.test\" requires challenge: dns-01");
}

static void
test_refusals(void **state)
{
    static const struct {
        const char *yaml, *where, *what;
    } t[] = {
        {"acme: {directory: \"https://ca.test/dir\", colour: red}\ncertificates: []\n",
         F ":1:42: acme: ", "unknown key \"colour\""},
        {"certificates: []\n", F ":1:1: ", "missing required key \"acme\""},
        {ACME "certificates: []\n", F ":3:15: certificates: ", "expected 1 to 64 certificates"},
        {"acme: {directory: \"https://ca.test/dir\", email: \"not an email\"}\n"
         "certificates: []\n",
         F ":1:49: acme.email: ", "expected an e-mail address"},
        {ACME "renew_before: 0%\ncertificates: []\n", F ":3:15: renew_before: ", "from 1% to 99%"},
        {ACME "renew_before: 10m\ncertificates: []\n",
         F ":3:15: renew_before: ", "expected a duration from 1h to 365d"},
        {ACME "reload: {}\ncertificates: []\n", F ":3:9: reload: ", "exactly one of pid_file"},
        {ACME "reload: { command: \"\" }\ncertificates: []\n",
         F ":3:20: reload.command: ", "expected a command"},
        {ACME "certificates:\n  - { name: ../x, domains: [a.example.test], challenge: http-01 }\n",
         F ":4:13: certificates[0].name: ", "expected a name"},
        {ACME
         "certificates:\n  - { name: a, domains: [\"a..example.test\"], challenge: http-01 }\n",
         F ":4:26: certificates[0].domains[0]: ", "expected a DNS name"},
        {ACME "certificates:\n  - { name: a, domains: [\"*.*.example.test\"], challenge: dns-01,"
              " dns: { provider: exec, command: /x } }\n",
         F ":4:26: certificates[0].domains[0]: ", "expected a DNS name"},
        {ACME "certificates:\n  - { name: a, domains: [a.example.test], challenge: tls-alpn-01 }\n",
         F ":4:54: certificates[0].challenge: ", "expected one of dns-01, http-01"},
        {ACME "certificates:\n  - { name: a, domains: [a.example.test], challenge: http-01,"
              " key_type: ed25519 }\n",
         F ":4:73: certificates[0].key_type: ", "expected one of ec256, ec384, rsa2048"},
        {ACME "certificates:\n  - { name: a, domains: [a.example.test], challenge: http-01,"
              " dns: { provider: exec } }\n",
         F ":4:68: certificates[0].dns: ", "dns: applies to challenge dns-01 only"},
        {ACME "certificates:\n  - { name: a, domains: [a.example.test], challenge: dns-01,"
              " dns: { provider: exec } }\n",
         F ":4:67: certificates[0].dns: ", "provider exec needs command:"},
        {ACME "certificates:\n  - { name: a, domains: [a.example.test], challenge: dns-01,"
              " dns: { provider: exec, command: /x, propagation_timeout: 2h } }\n",
         F ":4:119: certificates[0].dns.propagation_timeout: ", "from 1s to 1h"},
        {ACME "certificates:\n  - { name: a, domains: [a.example.test], challenge: dns-01,"
              " dns: { provider: rfc2136, command: /x } }\n",
         F ":4:97: certificates[0].dns.command: ", "command: applies to provider exec only"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        bad_mem(t[i].yaml, t[i].where, t[i].what);
}

static void
test_eab_secret_never_quoted(void **state)
{
    struct pol_errors e = {0};
    struct pol_certmgr *c = NULL;
    static const char yaml[] = "acme:\n  directory: \"https://ca.test/dir\"\n"
                               "  eab: { kid: k, hmac_key: \"SECRET+not/url\" }\n"
                               "certificates: []\n";
    size_t i;

    (void)state;
    assert_int_equal(pol_certmgr_load_mem(F, yaml, strlen(yaml), &c, &e), PC_ERR_INVALID);
    assert_true(e.n >= 1);
    for (i = 0; i < e.n; i++)
        assert_null(strstr(e.msg[i], "SECRET"));
    assert_non_null(strstr(e.msg[0], "acme.eab.hmac_key: expected the base64url MAC key"));
    pol_errors_clear(&e);
    /* a key shorter than 128 bits is refused too */
    bad_mem("acme:\n  directory: \"https://ca.test/dir\"\n  eab: { kid: k, hmac_key: AAEC }\n"
            "certificates: []\n",
            F ":3:28: acme.eab.hmac_key: ", "16 to 256 bytes");
}

static void
test_mem_load_reads_no_file(void **state)
{
    (void)state;
    bad_mem(ACME "gateway_config: /etc/portcullis/portcullis.yaml\ncertificates:\n"
                 "  - { name: a, domains: [a.example.test], challenge: http-01 }\n",
            F ":3:17: gateway_config: ", "cannot be read in this load");
    bad_mem(ACME "certificates:\n  - name: a\n    domains: [a.example.test]\n"
                 "    challenge: dns-01\n    dns:\n      provider: rfc2136\n"
                 "      rfc2136: { server: \"127.0.0.1:53\", zone: example.test, key_name: k,"
                 " key_alg: hmac-sha256, key_file: /etc/k }\n",
            F ":9:107: certificates[0].dns.rfc2136.key_file: ", "cannot be read in this load");
}

/* rfc2136 with a real key file: mode checked, base64 decoded, resolvers default to the server. */
static void
test_rfc2136_key_file(void **state)
{
    char dir[] = "/tmp/pol-certmgr-XXXXXX", key[64], conf[64], yaml[1024];
    struct pol_errors e = {0};
    struct pol_certmgr *c = NULL;
    size_t i;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/tsig", dir);
    snprintf(conf, sizeof(conf), "%s/cm.yaml", dir);
    f = fopen(key, "w");
    /* 32 bytes 0..31, standard base64 with padding and a line break */
    fputs("AAECAwQFBgcICQoLDA0ODxAR\nEhMUFRYXGBkaGxwdHh8=\n", f);
    fclose(f);
    chmod(key, 0644);
    snprintf(yaml, sizeof(yaml),
             ACME "certificates:\n  - name: a\n    domains: [\"*.example.test\", x.example.test]\n"
                  "    challenge: dns-01\n    dns:\n      provider: rfc2136\n"
                  "      rfc2136:\n        server: \"127.0.0.1:5353\"\n        zone: Example.Test\n"
                  "        key_name: certmgr.example.test\n        key_alg: hmac-sha512\n"
                  "        key_file: tsig\n");
    f = fopen(conf, "w");
    fputs(yaml, f);
    fclose(f);
    assert_int_equal(pol_certmgr_load(conf, &c, &e), PC_ERR_INVALID);
    for (i = 0; i < e.n; i++)
        fprintf(stderr, "    | %s\n", e.msg[i]);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msg[0], ":14:19: certificates[0].dns.rfc2136.key_file: "));
    assert_non_null(strstr(e.msg[0], "chmod 600"));
    pol_errors_clear(&e);
    chmod(key, 0600);
    assert_int_equal(pol_certmgr_load(conf, &c, &e), PC_OK);
    assert_int_equal(c->certs[0].dns_provider, POL_CM_DNS_RFC2136);
    assert_string_equal(c->certs[0].rfc2136.zone, "example.test");
    assert_string_equal(c->certs[0].rfc2136.key_alg, "hmac-sha512");
    assert_int_equal(c->certs[0].rfc2136.secret_len, 32);
    assert_int_equal(c->certs[0].rfc2136.secret[31], 31);
    assert_string_equal(c->certs[0].rfc2136.key_file, key);
    assert_int_equal(c->certs[0].nresolvers, 1); /* checked where the update lands */
    assert_string_equal(c->certs[0].resolvers[0], "127.0.0.1:5353");
    pol_certmgr_free(c);
    /* a domain outside the zone the server updates */
    f = fopen(conf, "w");
    fputs(yaml, f);
    fclose(f);
    snprintf(yaml, sizeof(yaml), "sed -i 's/zone: Example.Test/zone: other.test/' %s", conf);
    assert_int_equal(system(yaml), 0);
    assert_int_equal(pol_certmgr_load(conf, &c, &e), PC_ERR_INVALID);
    assert_true(e.n >= 1);
    assert_non_null(strstr(e.msg[0], ":11:15: certificates[0].dns.rfc2136.zone: domain "
                                     "\"*.example.test\" is not inside zone \"other.test\""));
    pol_errors_clear(&e);
    unlink(key);
    unlink(conf);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_wildcard_needs_dns01),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_eab_secret_never_quoted),
        cmocka_unit_test(test_mem_load_reads_no_file),
        cmocka_unit_test(test_rfc2136_key_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
