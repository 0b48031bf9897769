/*
 * policy/: identity globs (pol_glob_match), mtls.allow evaluation
 * (pol_route_allows), HTTP method bits and JOSE algorithm names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/pc_limits.h"
#include "pol_test.h"

static bool
gm(const char *glob, const char *s, char sep, bool nocase)
{
    return pol_glob_match(glob, s, strlen(s), sep, nocase);
}

/* --- pol_glob_match ------------------------------------------------------------------------ */

static void
test_glob_exact(void **state)
{
    (void)state;
    assert_true(gm("spiffe://td/ns/a", "spiffe://td/ns/a", '/', false));
    assert_false(gm("spiffe://td/ns/a", "spiffe://td/ns/ab", '/', false));
    assert_false(gm("spiffe://td/ns/a", "spiffe://td/ns/", '/', false));
    assert_false(gm("spiffe://td/ns/a", "SPIFFE://td/ns/a", '/', false));
    assert_true(gm("", "", '/', false));
    assert_false(gm("", "a", '/', false));
    assert_false(gm("a", "", '/', false));
}

static void
test_glob_star_stays_in_segment(void **state)
{
    (void)state;
    assert_true(
        gm("spiffe://example.com/ns/prod/sa/*", "spiffe://example.com/ns/prod/sa/web", '/', false));
    assert_false(gm("spiffe://example.com/ns/prod/sa/*", "spiffe://example.com/ns/prod/sa/web/x",
                    '/', false));
    assert_true(gm("spiffe://td/ns/*/sa/web", "spiffe://td/ns/prod/sa/web", '/', false));
    assert_false(gm("spiffe://td/ns/*/sa/web", "spiffe://td/ns/a/b/sa/web", '/', false));
    /* '*' may match nothing */
    assert_true(gm("spiffe://td/ns/*", "spiffe://td/ns/", '/', false));
    assert_true(gm("a*b*c", "abc", '/', false));
    assert_true(gm("a*b*c", "axxbyyc", '/', false));
    assert_false(gm("a*b*c", "axx/byyc", '/', false));
    assert_true(gm("*", "anything", '/', false));
    assert_false(gm("*", "any/thing", '/', false));
}

static void
test_glob_double_star_crosses(void **state)
{
    (void)state;
    assert_true(gm("spiffe://td/ns/**", "spiffe://td/ns/prod/sa/web", '/', false));
    assert_true(gm("spiffe://td/**/web", "spiffe://td/ns/prod/sa/web", '/', false));
    assert_false(gm("spiffe://td/**/web", "spiffe://td/ns/prod/sa/api", '/', false));
    assert_true(gm("**", "a/b/c", '/', false));
    assert_true(gm("***", "a/b/c", '/', false)); /* three stars are still "**" */
    assert_true(gm("**.example.com", "a.b.example.com", '.', true));
    assert_true(gm("a/**/b/*", "a/x/y/b/z", '/', false));
    assert_false(gm("a/**/b/*", "a/x/y/b/z/w", '/', false));
}

static void
test_glob_dns_case_and_labels(void **state)
{
    (void)state;
    assert_true(gm("*.svc.example.com", "api.svc.example.com", '.', true));
    assert_true(gm("*.svc.example.com", "API.SVC.Example.Com", '.', true));
    assert_true(gm("*.SVC.example.com", "api.svc.example.com", '.', true));
    assert_false(gm("*.svc.example.com", "a.b.svc.example.com", '.', true));
    assert_false(gm("*.svc.example.com", "svc.example.com", '.', true));
    assert_true(gm("db-*.example.com", "db-7.example.com", '.', true));
    /* without nocase the comparison is exact */
    assert_false(gm("a.example.com", "A.example.com", '.', false));
}

static void
test_glob_no_separator(void **state)
{
    (void)state;
    assert_true(gm("*@example.com", "alice@example.com", '\0', false));
    assert_true(gm("*@example.com", "a.b/c@example.com", '\0', false));
    assert_false(gm("*@example.com", "alice@example.org", '\0', false));
    assert_false(gm("*@example.com", "alice@EXAMPLE.com", '\0', false));
    assert_true(gm("ops-*", "ops-alice", '\0', false));
    assert_false(gm("ops-*", "dev-alice", '\0', false));
}

static void
test_glob_embedded_nul_in_name(void **state)
{
    (void)state;
    /* the name is (ptr, len): a NUL inside never matches a glob character */
    assert_false(pol_glob_match("ab", "a\0b", 3, '/', false));
    assert_true(pol_glob_match("a*", "a\0b", 3, '\0', false));
    assert_false(pol_glob_match(NULL, "a", 1, '/', false));
    assert_false(pol_glob_match("a", NULL, 1, '/', false));
}

static void
test_glob_pathological_is_fast(void **state)
{
    char glob[PC_CONF_MAX_STR + 1], name[PC_PEER_MAX_NAME + 1];
    struct timespec t0, t1;
    size_t i;
    long ms;

    (void)state;
    /* "*a*a*a...*b" against "aaaa...": exponential with naive backtracking */
    for (i = 0; i < 2000; i++) {
        glob[2 * i] = '*';
        glob[2 * i + 1] = 'a';
    }
    glob[4000] = 'b';
    glob[4001] = '\0';
    memset(name, 'a', PC_PEER_MAX_NAME);
    name[PC_PEER_MAX_NAME] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_false(pol_glob_match(glob, name, PC_PEER_MAX_NAME, '\0', false));
    assert_false(pol_glob_match(glob, name, PC_PEER_MAX_NAME, '.', true));
    for (i = 0; i < 2000; i++)
        glob[2 * i + 1] = '*'; /* "****...b": one big "**" */
    assert_false(pol_glob_match(glob, name, PC_PEER_MAX_NAME, '/', false));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms < 2000);
}

static void
test_glob_too_long_fails_closed(void **state)
{
    char *glob = malloc(PC_CONF_MAX_STR + 2);

    (void)state;
    assert_non_null(glob);
    memset(glob, '*', PC_CONF_MAX_STR + 1);
    glob[PC_CONF_MAX_STR + 1] = '\0';
    /* stars collapse into one token: still accepted */
    assert_true(pol_glob_match(glob, "x", 1, '/', false));
    memset(glob, 'x', PC_CONF_MAX_STR + 1);
    assert_false(pol_glob_match(glob, glob, PC_CONF_MAX_STR + 1, '/', false));
    free(glob);
}

/* --- pol_route_allows ---------------------------------------------------------------------- */

static struct pol_config *
allow_config(void)
{
    return load_ok(PLAIN_LISTEN "routes:\n"
                                "  - name: open\n    match: {host: a}\n    upstream: http://u\n"
                                "    jwt: off\n"
                                "  - name: closed\n    match: {host: b}\n    upstream: http://u\n"
                                "    jwt: off\n"
                                "    mtls:\n      allow:\n"
                                "        - \"spiffe://example.com/ns/prod/sa/*\"\n"
                                "        - \"dns:*.svc.example.com\"\n"
                                "        - \"email:*@ops.example.com\"\n"
                                "        - \"cn:backup-*\"\n");
}

static void
test_allows_without_patterns_admits_any(void **state)
{
    struct pol_config *c = allow_config();
    struct pol_names none = {0};
    const struct pol_pattern *m = (const struct pol_pattern *)c;

    (void)state;
    assert_true(pol_route_allows(&c->routes[0], &none, &m));
    assert_null(m);
    assert_true(pol_route_allows(&c->routes[0], NULL, NULL));
    assert_false(pol_route_allows(NULL, &none, &m));
    pol_config_free(c);
}

static void
test_allows_each_kind(void **state)
{
    struct pol_config *c = allow_config();
    const struct pol_route *r = &c->routes[1];
    const char *uri[] = {"spiffe://example.com/ns/dev/sa/web",
                         "spiffe://example.com/ns/prod/sa/web"};
    const char *dns[] = {"API.svc.example.com"};
    const char *email[] = {"root@ops.example.com"};
    struct pol_names n;
    const struct pol_pattern *m = NULL;

    (void)state;
    memset(&n, 0, sizeof(n));
    n.uri = uri;
    n.nuri = 2;
    assert_true(pol_route_allows(r, &n, &m));
    assert_ptr_equal(m, &r->allow[0]);
    memset(&n, 0, sizeof(n));
    n.dns = dns;
    n.ndns = 1;
    assert_true(pol_route_allows(r, &n, &m));
    assert_ptr_equal(m, &r->allow[1]);
    memset(&n, 0, sizeof(n));
    n.email = email;
    n.nemail = 1;
    assert_true(pol_route_allows(r, &n, &m));
    assert_ptr_equal(m, &r->allow[2]);
    memset(&n, 0, sizeof(n));
    n.cn = "backup-nightly";
    assert_true(pol_route_allows(r, &n, &m));
    assert_ptr_equal(m, &r->allow[3]);
    pol_config_free(c);
}

static void
test_allows_denies_others(void **state)
{
    struct pol_config *c = allow_config();
    const struct pol_route *r = &c->routes[1];
    const char *uri[] = {"spiffe://example.com/ns/prod/sa/web/extra",
                         "spiffe://evil.com/ns/prod/sa/x"};
    /* a DNS-looking URI and a URI-looking DNS name: kinds never cross */
    const char *dns[] = {"spiffe://example.com/ns/prod/sa/web", "a.b.svc.example.com"};
    const char *email[] = {"root@ops.example.com.evil"};
    struct pol_names n;
    const struct pol_pattern *m = (const struct pol_pattern *)c;

    (void)state;
    memset(&n, 0, sizeof(n));
    n.uri = uri;
    n.nuri = 2;
    n.dns = dns;
    n.ndns = 2;
    n.email = email;
    n.nemail = 1;
    n.cn = "Backup-nightly";
    assert_false(pol_route_allows(r, &n, &m));
    assert_null(m);
    /* no names at all */
    memset(&n, 0, sizeof(n));
    assert_false(pol_route_allows(r, &n, &m));
    assert_false(pol_route_allows(r, NULL, &m));
    pol_config_free(c);
}

/* --- methods and algorithms ------------------------------------------------------------------ */

static void
test_method_bits(void **state)
{
    (void)state;
    assert_int_equal(pol_method_bit("GET", 3), POL_M_GET);
    assert_int_equal(pol_method_bit("HEAD", 4), POL_M_HEAD);
    assert_int_equal(pol_method_bit("POST", 4), POL_M_POST);
    assert_int_equal(pol_method_bit("PUT", 3), POL_M_PUT);
    assert_int_equal(pol_method_bit("DELETE", 6), POL_M_DELETE);
    assert_int_equal(pol_method_bit("PATCH", 5), POL_M_PATCH);
    assert_int_equal(pol_method_bit("OPTIONS", 7), POL_M_OPTIONS);
    assert_int_equal(pol_method_bit("get", 3), POL_M_OTHER);
    assert_int_equal(pol_method_bit("CONNECT", 7), POL_M_OTHER);
    assert_int_equal(pol_method_bit("GETX", 3), POL_M_GET); /* only len bytes count */
    assert_int_equal(pol_method_bit("", 0), POL_M_OTHER);
}

static void
test_alg_names(void **state)
{
    static const char *const names[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                        "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        unsigned bit = pol_alg_from_name(names[i], strlen(names[i]));
        assert_int_equal(bit, 1u << i);
        assert_string_equal(pol_alg_name(bit), names[i]);
    }
    assert_int_equal(pol_alg_from_name("none", 4), 0);
    assert_int_equal(pol_alg_from_name("HS256", 5), 0);
    assert_int_equal(pol_alg_from_name("rs256", 5), 0);
    assert_int_equal(pol_alg_from_name("RS2560", 6), 0);
    assert_int_equal(pol_alg_from_name("RS256", 4), 0);
    assert_string_equal(pol_alg_name(0), "?");
    assert_string_equal(pol_alg_name(POL_ALG_RS256 | POL_ALG_ES256), "?");
    assert_string_equal(pol_alg_name(1u << 12), "?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_exact),
        cmocka_unit_test(test_glob_star_stays_in_segment),
        cmocka_unit_test(test_glob_double_star_crosses),
        cmocka_unit_test(test_glob_dns_case_and_labels),
        cmocka_unit_test(test_glob_no_separator),
        cmocka_unit_test(test_glob_embedded_nul_in_name),
        cmocka_unit_test(test_glob_pathological_is_fast),
        cmocka_unit_test(test_glob_too_long_fails_closed),
        cmocka_unit_test(test_allows_without_patterns_admits_any),
        cmocka_unit_test(test_allows_each_kind),
        cmocka_unit_test(test_allows_denies_others),
        cmocka_unit_test(test_method_bits),
        cmocka_unit_test(test_alg_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
