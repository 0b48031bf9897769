/*
 * policy/: tls-policy.yaml (pol_tls_load, pol_tls_load_mem) and the
 * built-in default used without tls_policy:.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pol_test.h"

#define TLS_FILE "tls.yaml"

static void
tls_ok(const char *yaml, struct pol_tls *t)
{
    struct pol_errors e = {0};
    int rc = pol_tls_load_mem(TLS_FILE, yaml, strlen(yaml), t, &e);

    if (rc != PC_OK)
        print_errors(&e);
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_OK);
}

static void
tls_error(const char *yaml, const char *where, const char *what)
{
    struct pol_errors e = {0};
    struct pol_tls t;
    int rc = pol_tls_load_mem(TLS_FILE, yaml, strlen(yaml), &t, &e);
    bool found = errors_have(&e, where, what);

    if (!found) {
        fprintf(stderr, "    expected \"%s ... %s\", got:\n", where, what);
        print_errors(&e);
    }
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_ERR_INVALID);
    assert_true(found);
    /* nothing is left behind on failure */
    assert_null(t.ciphersuites);
    assert_null(t.ciphers);
    assert_null(t.groups);
    assert_null(t.path);
}

static void
test_tls_builtin_default(void **state)
{
    struct pol_tls t;

    (void)state;
    pol_tls_default(&t);
    assert_null(t.path);
    assert_int_equal(t.profile, POL_TLS_INTERMEDIATE);
    assert_null(t.ciphersuites);
    assert_null(t.ciphers);
    assert_string_equal(t.groups, "X25519:P-256:P-384");
    assert_int_equal(t.hsts_max_age, 0);
    assert_false(t.hsts_include_subdomains);
    assert_false(t.hsts_preload);
    assert_int_equal(t.ticket_rotate_ms, 0); /* the session cache, no stateless tickets */
    pol_tls_clear(&t);
    assert_null(t.groups);
    pol_tls_clear(NULL);
}

static void
test_tls_minimal_file_defaults(void **state)
{
    struct pol_tls t;

    (void)state;
    tls_ok("profile: modern\n", &t);
    assert_int_equal(t.profile, POL_TLS_MODERN);
    assert_null(t.path);
    assert_null(t.ciphersuites);
    assert_null(t.ciphers);
    assert_null(t.groups); /* omitted in a file: OpenSSL's default */
    assert_int_equal(t.hsts_max_age, 0);
    assert_int_equal(t.ticket_rotate_ms, 0); /* omitted: the session cache */
    pol_tls_clear(&t);
}

static void
test_tls_design_example(void **state)
{
    struct pol_tls t;

    (void)state;
    tls_ok("profile: modern\n"
           "groups: [X25519, P-256]\n"
           "hsts: { max_age: 63072000, include_subdomains: true, preload: true }\n"
           "session_tickets: { rotate: 12h }\n",
           &t);
    assert_int_equal(t.profile, POL_TLS_MODERN);
    assert_string_equal(t.groups, "X25519:P-256");
    assert_int_equal(t.hsts_max_age, 63072000);
    assert_true(t.hsts_include_subdomains);
    assert_true(t.hsts_preload);
    assert_int_equal(t.ticket_rotate_ms, 43200000);
    pol_tls_clear(&t);
}

static void
test_tls_lists_joined(void **state)
{
    struct pol_tls t;

    (void)state;
    tls_ok("profile: intermediate\n"
           "ciphersuites: [TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, "
           "TLS_AES_128_GCM_SHA256]\n"
           "ciphers: [ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-RSA-CHACHA20-POLY1305]\n"
           "groups: [X448, P-521, P-384]\n",
           &t);
    assert_int_equal(t.profile, POL_TLS_INTERMEDIATE);
    assert_string_equal(
        t.ciphersuites,
        "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
    assert_string_equal(t.ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305");
    assert_string_equal(t.groups, "X448:P-521:P-384");
    pol_tls_clear(&t);
}

static void
test_tls_profile_required(void **state)
{
    (void)state;
    tls_error("groups: [X25519]\n", "tls.yaml:1:1:", "missing required key \"profile\"");
    tls_error("profile: old\n",
              "tls.yaml:1:10: profile:", "expected one of modern, intermediate, got \"old\"");
    tls_error("", "tls.yaml:1:1:", "the file is empty");
    tls_error("- profile\n", "tls.yaml:1:1:", "expected a mapping, got a sequence");
    tls_error("profile: modern\nversions: [1.3]\n", "tls.yaml:2:1:",
              "unknown key \"versions\"; expected one of: profile, ciphersuites, ciphers, groups, "
              "hsts, session_tickets");
}

static void
test_tls_ciphersuites_refused(void **state)
{
    (void)state;
    tls_error("profile: modern\nciphersuites: [TLS_AES_128_CCM_SHA256]\n",
              "tls.yaml:2:16: ciphersuites[0]:",
              "expected one of TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, "
              "TLS_CHACHA20_POLY1305_SHA256, got \"TLS_AES_128_CCM_SHA256\"");
    tls_error("profile: modern\nciphersuites: []\n",
              "tls.yaml:2:15: ciphersuites:", "expected 1 to 64 names");
    tls_error("profile: modern\nciphersuites: [TLS_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n",
              "tls.yaml:2:40: ciphersuites[1]:", "\"TLS_AES_128_GCM_SHA256\" is listed twice");
    tls_error("profile: modern\nciphersuites: TLS_AES_128_GCM_SHA256\n",
              "tls.yaml:2:15: ciphersuites:", "expected a sequence");
}

static void
test_tls_ciphers_only_intermediate(void **state)
{
    (void)state;
    tls_error("profile: modern\nciphers: [ECDHE-RSA-AES128-GCM-SHA256]\n",
              "tls.yaml:2:10: ciphers:", "ciphers: applies to profile: intermediate only");
}

static void
test_tls_ciphers_need_ecdhe_and_aead(void **state)
{
    (void)state;
    tls_error("profile: intermediate\nciphers: [AES128-GCM-SHA256]\n", "tls.yaml:2:11: ciphers[0]:",
              "cipher \"AES128-GCM-SHA256\" is refused: only ECDHE key exchange with an AEAD (GCM "
              "or CHACHA20) is allowed");
    tls_error("profile: intermediate\nciphers: [ECDHE-RSA-AES128-SHA]\n",
              "tls.yaml:2:11: ciphers[0]:", "is refused: only ECDHE key exchange with an AEAD");
    tls_error("profile: intermediate\nciphers: [DHE-RSA-AES128-GCM-SHA256]\n",
              "tls.yaml:2:11: ciphers[0]:", "is refused");
    /* OpenSSL cipher-string syntax cannot be smuggled in */
    tls_error("profile: intermediate\nciphers: [\"ECDHE-RSA-AES128-GCM-SHA256:ALL\"]\n",
              "tls.yaml:2:11: ciphers[0]:", "expected an OpenSSL cipher name");
    tls_error("profile: intermediate\nciphers: [\"!aNULL:ECDHE+AESGCM\"]\n",
              "tls.yaml:2:11: ciphers[0]:", "expected an OpenSSL cipher name");
}

static void
test_tls_groups_refused(void **state)
{
    (void)state;
    tls_error("profile: modern\ngroups: [X25519, P-224]\n", "tls.yaml:2:18: groups[1]:",
              "expected one of X25519, X448, P-256, P-384, P-521, got \"P-224\"");
    tls_error("profile: modern\ngroups: [x25519]\n", "tls.yaml:2:10: groups[0]:", "\"x25519\"");
}

static void
test_tls_hsts_preload_rule(void **state)
{
    struct pol_tls t;

    (void)state;
    tls_error("profile: modern\nhsts: {max_age: 63072000, preload: true}\n",
              "tls.yaml:2:36: hsts.preload:",
              "preload requires max_age of at least 31536000 (one year) and include_subdomains: "
              "true");
    tls_error("profile: modern\nhsts: {max_age: 31535999, include_subdomains: true, preload: "
              "true}\n",
              "tls.yaml:2:62: hsts.preload:", "preload requires max_age of at least 31536000");
    tls_error("profile: modern\nhsts: {max_age: 63072000, include_subdomains: false, preload: "
              "true}\n",
              "tls.yaml:2:63: hsts.preload:", "include_subdomains: true");
    tls_ok("profile: modern\nhsts: {max_age: 31536000, include_subdomains: true, preload: true}\n",
           &t);
    assert_true(t.hsts_preload);
    pol_tls_clear(&t);
    tls_ok("profile: modern\nhsts: {max_age: 300}\n", &t);
    assert_int_equal(t.hsts_max_age, 300);
    assert_false(t.hsts_preload);
    pol_tls_clear(&t);
}

static void
test_tls_hsts_refused(void **state)
{
    (void)state;
    tls_error("profile: modern\nhsts: {include_subdomains: true}\n",
              "tls.yaml:2:7: hsts:", "missing required key \"max_age\"");
    tls_error("profile: modern\nhsts: {max_age: 1y}\n",
              "tls.yaml:2:17: hsts.max_age:", "expected an integer in 0..315360000, got \"1y\"");
    tls_error("profile: modern\nhsts: {max_age: 315360001}\n",
              "tls.yaml:2:17: hsts.max_age:", "expected an integer in 0..315360000");
    tls_error("profile: modern\nhsts: {max_age: 1, subdomains: true}\n", "tls.yaml:2:20: hsts:",
              "unknown key \"subdomains\"; expected one of: max_age, include_subdomains, preload");
    tls_error("profile: modern\nhsts: {max_age: 1, preload: yes}\n",
              "tls.yaml:2:29: hsts.preload:", "expected true or false, got \"yes\"");
    tls_error("profile: modern\nhsts: true\n", "tls.yaml:2:7: hsts:", "expected a mapping");
}

static void
test_tls_session_tickets(void **state)
{
    struct pol_tls t;

    (void)state;
    tls_ok("profile: modern\nsession_tickets: off\n", &t);
    assert_int_equal(t.ticket_rotate_ms, 0);
    pol_tls_clear(&t);
    tls_ok("profile: modern\nsession_tickets: false\n", &t);
    assert_int_equal(t.ticket_rotate_ms, 0);
    pol_tls_clear(&t);
    tls_ok("profile: modern\nsession_tickets: {rotate: 1m}\n", &t);
    assert_int_equal(t.ticket_rotate_ms, 60000);
    pol_tls_clear(&t);
    tls_ok("profile: modern\nsession_tickets: {rotate: 7d}\n", &t);
    assert_int_equal(t.ticket_rotate_ms, 7 * 86400000ULL);
    pol_tls_clear(&t);
    tls_ok("profile: modern\nsession_tickets: {}\n", &t);
    assert_int_equal(t.ticket_rotate_ms, 43200000);
    assert_int_equal(t.ticket_count, 1); /* one ticket per full handshake by default */
    pol_tls_clear(&t);
    tls_ok("profile: modern\nsession_tickets: {rotate: 1h, count: 4}\n", &t);
    assert_int_equal(t.ticket_count, 4);
    pol_tls_clear(&t);
    tls_ok("profile: modern\n", &t);
    assert_int_equal(t.ticket_count, 1);
    assert_int_equal(t.ticket_rotate_ms, 0);
    pol_tls_clear(&t);
    tls_ok("profile: modern\nsession_tickets: {count: 2}\n", &t);
    assert_int_equal(t.ticket_rotate_ms, 43200000); /* a mapping asks for stateless tickets */
    assert_int_equal(t.ticket_count, 2);
    pol_tls_clear(&t);
    tls_error("profile: modern\nsession_tickets: {count: 0}\n", "tls.yaml:2:", "count");
    tls_error("profile: modern\nsession_tickets: {count: 5}\n", "tls.yaml:2:", "count");
    tls_error("profile: modern\nsession_tickets: {rotate: 1h, cnt: 2}\n", "tls.yaml:2:", "cnt");
}

static void
test_tls_session_tickets_refused(void **state)
{
    (void)state;
    tls_error("profile: modern\nsession_tickets: {rotate: 30s}\n",
              "tls.yaml:2:27: session_tickets.rotate:", "expected a duration from 1m to 7d");
    tls_error("profile: modern\nsession_tickets: {rotate: 8d}\n",
              "tls.yaml:2:27: session_tickets.rotate:", "got \"8d\"");
    tls_error("profile: modern\nsession_tickets: on\n", "tls.yaml:2:18: session_tickets:",
              "expected a mapping with rotate: or off, got \"on\"");
    tls_error("profile: modern\nsession_tickets: {every: 1h}\n",
              "tls.yaml:2:19: session_tickets:", "unknown key \"every\"");
}

static void
test_tls_load_file(void **state)
{
    char *dir = make_tmpdir(), path[POL_TEST_PATH_MAX];
    struct pol_errors e = {0};
    struct pol_tls t;

    (void)state;
    write_file(dir, "tls-policy.yaml", "profile: modern\n", path);
    assert_int_equal(pol_tls_load(path, &t, &e), PC_OK);
    assert_string_equal(t.path, path);
    assert_int_equal(t.profile, POL_TLS_MODERN);
    pol_tls_clear(&t);
    pol_errors_clear(&e);
    snprintf(path, sizeof(path), "%s/nope.yaml", dir);
    assert_int_equal(pol_tls_load(path, &t, &e), PC_ERR_IO);
    assert_null(t.path);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msg[0], "nope.yaml: No such file or directory"));
    pol_errors_clear(&e);
    assert_int_equal(pol_tls_load(dir, &t, &e), PC_ERR_IO);
    assert_non_null(strstr(e.msg[0], "not a regular file"));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_tls_default_file_in_tree(void **state)
{
    struct pol_errors e = {0};
    struct pol_tls t;

    (void)state;
    if (pol_tls_load("etc/tls-policy.yaml", &t, &e) != PC_OK)
        print_errors(&e);
    assert_string_equal(t.path, "etc/tls-policy.yaml");
    assert_int_equal(t.profile, POL_TLS_MODERN);
    assert_true(t.hsts_preload);
    pol_tls_clear(&t);
    pol_errors_clear(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_builtin_default),
        cmocka_unit_test(test_tls_minimal_file_defaults),
        cmocka_unit_test(test_tls_design_example),
        cmocka_unit_test(test_tls_lists_joined),
        cmocka_unit_test(test_tls_profile_required),
        cmocka_unit_test(test_tls_ciphersuites_refused),
        cmocka_unit_test(test_tls_ciphers_only_intermediate),
        cmocka_unit_test(test_tls_ciphers_need_ecdhe_and_aead),
        cmocka_unit_test(test_tls_groups_refused),
        cmocka_unit_test(test_tls_hsts_preload_rule),
        cmocka_unit_test(test_tls_hsts_refused),
        cmocka_unit_test(test_tls_session_tickets),
        cmocka_unit_test(test_tls_session_tickets_refused),
        cmocka_unit_test(test_tls_load_file),
        cmocka_unit_test(test_tls_default_file_in_tree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
