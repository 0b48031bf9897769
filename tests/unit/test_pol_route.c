/*
 * policy/: the route schema (name, match, upstream, mtls, jwt, rate_limit,
 * headers), the checks over all routes (duplicate names, overlaps) and
 * the compiled table behind pol_route_match().
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

/*
 * Line 1: listener, line 2: issuers, line 3: "routes:", line 4: the name
 * of route 0; its other keys follow from line 5 with 4 spaces of indent.
 */
#define RHEAD                                                                                      \
    PLAIN_LISTEN "issuers: {corp: {issuer: i, jwks_file: /j, algorithms: [ES256]}, "               \
                 "lab: {issuer: l, jwks_file: /l, algorithms: [ES256]}}\n"                         \
                 "routes:\n"                                                                       \
                 "  - name: r\n"
#define M "    match: {host: a.example.com}\n"
#define U "    upstream: \"http://10.0.0.1:8080\"\n"
#define J "    jwt: off\n"

static const char *const reserved[] = {"x-forwarded-client-cert",
                                       "x-auth-subject",
                                       "x-auth-scopes",
                                       "x-forwarded-for",
                                       "x-forwarded-proto",
                                       "x-forwarded-host",
                                       "forwarded",
                                       "x-request-id",
                                       "traceparent",
                                       "tracestate",
                                       "host",
                                       "content-length",
                                       "transfer-encoding",
                                       "connection",
                                       "upgrade",
                                       "te",
                                       "authorization",
                                       "proxy-authorization",
                                       "cookie"};

/* --- name ------------------------------------------------------------------------------- */

static void
test_route_name_required(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "routes:\n  - match: {host: a}\n" U J,
                 "t.yaml:3:5: routes[0]:", "missing required key \"name\"");
}

static void
test_route_name_syntax(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "routes:\n  - name: \"bad name\"\n" M U J,
                 "t.yaml:3:11: routes[0].name:",
                 "expected a name of 1 to 64 letters, digits, '.', '_' or '-', got \"bad name\"");
    expect_error(PLAIN_LISTEN
                 "routes:\n  - name: "
                 "a123456789b123456789c123456789d123456789e123456789f123456789abcde\n" M U J,
                 "t.yaml:3:11: routes[0].name:", "expected a name of 1 to 64");
    expect_error(PLAIN_LISTEN "routes:\n  - name: [a]\n" M U J,
                 "t.yaml:3:11: routes[0].name:", "got a sequence");
    expect_error(PLAIN_LISTEN "routes:\n  - name:\n" M U J,
                 "t.yaml:3:10: routes[0].name:", "got null");
}

static void
test_route_unknown_key_lists_expected(void **state)
{
    (void)state;
    expect_error(RHEAD M U J "    timeout: 5s\n", "t.yaml:8:5: routes[0]:",
                 "unknown key \"timeout\"; expected one of: name, match, upstream, mtls, jwt, "
                 "rate_limit, headers");
}

static void
test_routes_wrong_shapes(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "routes: {a: 1}\n",
                 "t.yaml:2:9: routes:", "expected a sequence, got a mapping");
    expect_error(PLAIN_LISTEN "routes: [a]\n",
                 "t.yaml:2:10: routes[0]:", "expected a mapping, got \"a\"");
}

/* --- match ------------------------------------------------------------------------------ */

static void
test_route_match_required(void **state)
{
    (void)state;
    expect_error(RHEAD U J, "t.yaml:4:5: routes[0]:", "missing required key \"match\"");
    expect_error(RHEAD "    match: a.example.com\n" U J,
                 "t.yaml:5:12: routes[0].match:", "expected a mapping, got \"a.example.com\"");
    expect_error(RHEAD "    match: {path_prefix: /}\n" U J,
                 "t.yaml:5:12: routes[0].match:", "missing required key \"host\"");
    expect_error(RHEAD "    match: {host: a, path: /}\n" U J, "t.yaml:5:22: routes[0].match:",
                 "unknown key \"path\"; expected one of: host, path_prefix, methods");
}

static void
test_route_host_forms(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(RHEAD "    match: {host: Billing.Example.COM}\n" U J
                      "  - name: w\n    match: {host: \"*.Example.com\"}\n" U J
                      "  - name: any\n    match: {host: \"*\"}\n" U J
                      "  - name: u\n    match: {host: svc_1.internal}\n" U J);
    assert_int_equal(c->routes[0].host_kind, POL_HOST_EXACT);
    assert_string_equal(c->routes[0].host, "billing.example.com");
    assert_string_equal(c->routes[0].host_text, "Billing.Example.COM");
    assert_int_equal(c->routes[1].host_kind, POL_HOST_WILDCARD);
    assert_string_equal(c->routes[1].host, ".example.com");
    assert_string_equal(c->routes[1].host_text, "*.Example.com");
    assert_int_equal(c->routes[2].host_kind, POL_HOST_ANY);
    assert_string_equal(c->routes[2].host, "*");
    assert_string_equal(c->routes[3].host, "svc_1.internal");
    pol_config_free(c);
}

static void
test_route_host_refused(void **state)
{
    static const char *const bad[] = {"a..b",     "*.",     "a.*.com", "-a.com", "a-.com", "*a.com",
                                      "**.a.com", "a.com.", ".a.com",  "a b",    "a:443",  "[::1]",
                                      "*.*",      "\"\"",   "é.com",   "a/b"};
    char yaml[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(yaml, sizeof(yaml), RHEAD "    match:\n      host: \"%s\"\n" U J, bad[i]);
        if (strcmp(bad[i], "\"\"") == 0)
            snprintf(yaml, sizeof(yaml), RHEAD "    match:\n      host: \"\"\n" U J);
        expect_error(yaml, "t.yaml:6:13: routes[0].match.host:", "expected a host name");
    }
    /* a label of 64 bytes */
    expect_error(RHEAD "    match:\n      host: "
                       "a123456789b123456789c123456789d123456789e123456789f123456789abcd.com\n" U J,
                 "t.yaml:6:13: routes[0].match.host:", "expected a host name, *.domain or *");
}

static void
test_route_path_prefix(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(RHEAD "    match: {host: a, path_prefix: /api/v1}\n" U J);
    assert_string_equal(c->routes[0].path_prefix, "/api/v1");
    pol_config_free(c);
    c = load_ok(RHEAD "    match: {host: a, path_prefix: /.well-known/x..y/...}\n" U J);
    pol_config_free(c);
}

static void
test_route_path_prefix_refused(void **state)
{
    (void)state;
#define PFX(p) RHEAD "    match:\n      host: a\n      path_prefix: " p "\n" U J
    expect_error(PFX("api"), "t.yaml:7:20: routes[0].match.path_prefix:",
                 "expected a path prefix, got \"api\": it must start with '/'");
    expect_error(PFX("\"/a?b\""),
                 "t.yaml:7:20: routes[0].match.path_prefix:", "'?', '#' and '%' cannot appear");
    expect_error(PFX("\"/a#b\""), "t.yaml:7:20: routes[0].match.path_prefix:", "'#'");
    expect_error(PFX("/a%2fb"), "t.yaml:7:20: routes[0].match.path_prefix:", "'%'");
    expect_error(PFX("/a/./b"), "t.yaml:7:20: routes[0].match.path_prefix:",
                 "'.' and '..' segments cannot appear");
    expect_error(PFX("/a/../b"), "t.yaml:7:20: routes[0].match.path_prefix:", "'..' segments");
    expect_error(PFX("/a/.."), "t.yaml:7:20: routes[0].match.path_prefix:", "'..' segments");
    expect_error(PFX("/."), "t.yaml:7:20: routes[0].match.path_prefix:", "'..' segments");
    expect_error(PFX("\"/a\\tb\""),
                 "t.yaml:7:20: routes[0].match.path_prefix:", "with a control character");
    expect_error(PFX("\"/a\\x7fb\""),
                 "t.yaml:7:20: routes[0].match.path_prefix:", "with a control character");
    expect_error(PFX("[/a]"), "t.yaml:7:20: routes[0].match.path_prefix:", "got a sequence");
#undef PFX
}

static void
test_route_path_prefix_too_long(void **state)
{
    char yaml[4096];
    int o;

    (void)state;
    o = snprintf(yaml, sizeof(yaml), RHEAD "    match:\n      host: a\n      path_prefix: /");
    memset(yaml + o, 'x', PC_CONF_MAX_PREFIX);
    snprintf(yaml + o + PC_CONF_MAX_PREFIX, sizeof(yaml) - (size_t)o - PC_CONF_MAX_PREFIX,
             "\n" U J);
    expect_error(yaml, "t.yaml:7:20: routes[0].match.path_prefix:", "longer than 1024 bytes");
}

static void
test_route_methods(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(
        RHEAD
        "    match: {host: a, methods: [GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS]}\n" U J);
    assert_int_equal(c->routes[0].methods, POL_M_ALL & ~POL_M_OTHER);
    pol_config_free(c);
    c = load_ok(RHEAD "    match: {host: a, methods: [PUT]}\n" U J);
    assert_int_equal(c->routes[0].methods, POL_M_PUT);
    pol_config_free(c);
    c = load_ok(RHEAD M U J);
    assert_int_equal(c->routes[0].methods, POL_M_ALL);
    pol_config_free(c);
}

static void
test_route_methods_refused(void **state)
{
    (void)state;
    expect_error(RHEAD "    match: {host: a, methods: [GET, get]}\n" U J,
                 "t.yaml:5:37: routes[0].match.methods[1]:",
                 "expected one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, got \"get\"");
    expect_error(RHEAD "    match: {host: a, methods: [CONNECT]}\n" U J,
                 "t.yaml:5:32: routes[0].match.methods[0]:", "got \"CONNECT\"");
    expect_error(RHEAD "    match: {host: a, methods: []}\n" U J,
                 "t.yaml:5:31: routes[0].match.methods:", "expected 1 to 64 methods");
    expect_error(RHEAD "    match: {host: a, methods: GET}\n" U J,
                 "t.yaml:5:31: routes[0].match.methods:", "expected a sequence, got \"GET\"");
}

/* --- upstream ----------------------------------------------------------------------------- */

static void
test_route_upstream_forms(void **state)
{
    struct pol_config *c;
    const struct pol_upstream *u;

    (void)state;
    c = load_ok(
        RHEAD M
        "    upstream: \"HTTP://Backend.Internal\"\n" J "  - name: r2\n    match: {host: b}\n"
        "    upstream: {url: \"https://[2001:db8::1]:8443/\", ca_file: /ca.pem, "
        "timeout: 1s}\n" J "  - name: r3\n    match: {host: c}\n"
        "    upstream: \"http://backend.internal\"\n" J "  - name: r4\n    match: {host: d}\n"
        "    upstream: {url: \"https://[2001:db8::1]:8443\", ca_file: /other.pem}\n" J);
    u = c->routes[0].upstream;
    assert_string_equal(u->url, "http://backend.internal");
    assert_string_equal(u->host, "backend.internal");
    assert_int_equal(u->port, 80);
    assert_false(u->tls);
    assert_null(u->ca_file);
    /* deduplicated by (url, ca_file) */
    assert_ptr_equal(c->routes[2].upstream, u);
    u = c->routes[1].upstream;
    assert_string_equal(u->url, "https://[2001:db8::1]:8443");
    assert_string_equal(u->host, "2001:db8::1");
    assert_int_equal(u->port, 8443);
    assert_true(u->tls);
    assert_string_equal(u->ca_file, "/ca.pem");
    assert_int_equal(c->routes[1].upstream_timeout_ms, 1000);
    assert_ptr_not_equal(c->routes[3].upstream, u);
    assert_int_equal(c->nupstreams, 3);
    assert_int_equal(c->routes[0].upstream_timeout_ms, PC_UPSTREAM_TIMEOUT_MS);
    pol_config_free(c);
    c = load_ok(RHEAD M "    upstream: \"https://b.internal\"\n" J);
    assert_int_equal(c->routes[0].upstream->port, 443);
    pol_config_free(c);
}

static void
test_route_upstream_refused(void **state)
{
    (void)state;
#define UP(u) RHEAD M "    upstream: \"" u "\"\n" J /* the value at 6:15 */
    expect_error(UP("ftp://a"), "t.yaml:6:15: routes[0].upstream:",
                 "expected http(s)://host[:port], got \"ftp://a\": the scheme must be http:// or "
                 "https://");
    expect_error(UP("10.0.0.1:8080"), "t.yaml:6:15: routes[0].upstream:", "the scheme must be");
    expect_error(UP("http://u:p@a"),
                 "t.yaml:6:15: routes[0].upstream:", "user information (user@) is not allowed");
    expect_error(UP("http://a/?x=1"), "t.yaml:6:15: routes[0].upstream:", "a query is not allowed");
    expect_error(UP("http://a?x"), "t.yaml:6:15: routes[0].upstream:", "a query is not allowed");
    expect_error(UP("http://a#f"), "t.yaml:6:15: routes[0].upstream:", "a fragment is not allowed");
    expect_error(UP("http://a/api"), "t.yaml:6:15: routes[0].upstream:", "a path is not allowed");
    expect_error(UP("http://a:0"),
                 "t.yaml:6:15: routes[0].upstream:", "the port must be a number from 1 to 65535");
    expect_error(UP("http://a:http"), "t.yaml:6:15: routes[0].upstream:", "the port must be");
    expect_error(UP("http://"), "t.yaml:6:15: routes[0].upstream:", "the scheme must be");
    expect_error(UP("http:///x"), "t.yaml:6:15: routes[0].upstream:", "the host is empty");
    expect_error(UP("http://a..b"), "t.yaml:6:15: routes[0].upstream:", "bad host name");
    expect_error(UP("http://[::zz]"), "t.yaml:6:15: routes[0].upstream:", "bad IPv6 address");
    expect_error(UP("http://a b"), "t.yaml:6:15: routes[0].upstream:", "spaces");
#undef UP
    expect_error(RHEAD M J, "t.yaml:4:5: routes[0]:", "missing required key \"upstream\"");
    expect_error(RHEAD M "    upstream: [\"http://a\"]\n" J, "t.yaml:6:15: routes[0].upstream:",
                 "expected a URL or a mapping with url:, got a sequence");
    expect_error(RHEAD M "    upstream: {ca_file: /ca.pem}\n" J,
                 "t.yaml:6:15: routes[0].upstream:", "missing required key \"url\"");
    expect_error(
        RHEAD M "    upstream: {url: \"http://a\", ca_file: /ca.pem}\n" J,
        "t.yaml:6:42: routes[0].upstream.ca_file:", "ca_file applies to https:// upstreams only");
    expect_error(RHEAD M "    upstream: {url: \"http://a\", keepalive: 1s}\n" J,
                 "t.yaml:6:33: routes[0].upstream:", "unknown key \"keepalive\"");
    expect_error(RHEAD M "    upstream: {url: \"http://a\", timeout: 5ms}\n" J,
                 "t.yaml:6:42: routes[0].upstream.timeout:", "expected a duration from 10ms to 1h");
    expect_error(RHEAD M "    upstream: {url: \"http://a/x\"}\n" J,
                 "t.yaml:6:21: routes[0].upstream.url:", "a path is not allowed");
}

/* --- mtls --------------------------------------------------------------------------------- */

static void
test_route_mtls_patterns(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(RHEAD M U J
                "    mtls: {allow: [\"spiffe://td/ns/*\", \"dns:*.svc\", \"email:a@b\", "
                "\"cn:alice\", \"urn://x\"]}\n");
    assert_int_equal(c->routes[0].nallow, 5);
    assert_int_equal(c->routes[0].allow[0].kind, POL_PAT_URI);
    assert_int_equal(c->routes[0].allow[1].kind, POL_PAT_DNS);
    assert_string_equal(c->routes[0].allow[1].glob, "*.svc");
    assert_int_equal(c->routes[0].allow[2].kind, POL_PAT_EMAIL);
    assert_string_equal(c->routes[0].allow[2].glob, "a@b");
    assert_int_equal(c->routes[0].allow[3].kind, POL_PAT_CN);
    assert_string_equal(c->routes[0].allow[3].text, "cn:alice");
    assert_int_equal(c->routes[0].allow[4].kind, POL_PAT_URI);
    pol_config_free(c);
}

static void
test_route_mtls_refused(void **state)
{
    (void)state;
    expect_error(RHEAD M U J "    mtls: {allow: []}\n", "t.yaml:8:19: routes[0].mtls.allow:",
                 "an empty allow list admits nobody; omit mtls: to admit any certificate the "
                 "client CA signed");
    expect_error(RHEAD M U J "    mtls: {allow: [alice]}\n",
                 "t.yaml:8:20: routes[0].mtls.allow[0]:",
                 "expected a URI glob (spiffe://...), dns:GLOB, email:GLOB or cn:GLOB, got "
                 "\"alice\"");
    expect_error(RHEAD M U J "    mtls: {allow: [\"dns:\"]}\n",
                 "t.yaml:8:20: routes[0].mtls.allow[0]:", "got \"dns:\"");
    expect_error(RHEAD M U J "    mtls: {allow: [\"uri:spiffe\"]}\n",
                 "t.yaml:8:20: routes[0].mtls.allow[0]:", "got \"uri:spiffe\"");
    expect_error(RHEAD M U J "    mtls: {allow: \"dns:a\"}\n",
                 "t.yaml:8:19: routes[0].mtls.allow:", "expected a sequence");
    expect_error(RHEAD M U J "    mtls: {}\n",
                 "t.yaml:8:11: routes[0].mtls:", "missing required key \"allow\"");
    expect_error(RHEAD M U J "    mtls: {allow: [\"dns:a\"], deny: [\"dns:b\"]}\n",
                 "t.yaml:8:30: routes[0].mtls:", "unknown key \"deny\"; expected one of: allow");
    expect_error(RHEAD M U J "    mtls: [\"dns:a\"]\n",
                 "t.yaml:8:11: routes[0].mtls:", "expected a mapping");
}

static void
test_route_mtls_too_many_patterns(void **state)
{
    char *yaml = malloc(16384);
    int o, i;

    (void)state;
    assert_non_null(yaml);
    o = snprintf(yaml, 16384, RHEAD M U J "    mtls:\n      allow:\n");
    for (i = 0; i < PC_CONF_MAX_PATTERNS + 1; i++)
        o += snprintf(yaml + o, 16384 - (size_t)o, "        - \"dns:h%d\"\n", i);
    expect_error(yaml, "t.yaml:10:9: routes[0].mtls.allow:", "at most 256 patterns, got 257");
    free(yaml);
}

/* --- jwt ------------------------------------------------------------------------------------ */

static void
test_route_jwt_required(void **state)
{
    (void)state;
    expect_error(RHEAD M U, "t.yaml:4:5: routes[0]:",
                 "route 'r' has no jwt: decision; write jwt: off to serve it without a token");
}

static void
test_route_jwt_off_forms(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(RHEAD M U "    jwt: off\n  - name: r2\n    match: {host: b}\n" U
                          "    jwt: false\n");
    assert_null(c->routes[0].jwt);
    assert_null(c->routes[1].jwt);
    pol_config_free(c);
    expect_error(RHEAD M U "    jwt: on\n", "t.yaml:7:10: routes[0].jwt:",
                 "expected a mapping with issuer: and audience:, or off, got \"on\"");
    expect_error(RHEAD M U "    jwt: true\n", "t.yaml:7:10: routes[0].jwt:", "got \"true\"");
    expect_error(RHEAD M U "    jwt:\n", "t.yaml:7:9: routes[0].jwt:", "got null");
}

static void
test_route_jwt_issuer_must_exist(void **state)
{
    (void)state;
    expect_error(RHEAD M U "    jwt: {issuer: corpp, audience: a}\n",
                 "t.yaml:7:19: routes[0].jwt.issuer:",
                 "unknown issuer \"corpp\"; issuers: defines corp, lab");
    expect_error(PLAIN_LISTEN "routes:\n  - name: r\n" M U "    jwt: {issuer: corp, audience: a}\n",
                 "t.yaml:6:19: routes[0].jwt.issuer:",
                 "unknown issuer \"corp\": no issuers: are defined in the main file");
    expect_error(RHEAD M U "    jwt: {audience: a}\n",
                 "t.yaml:7:10: routes[0].jwt:", "missing required key \"issuer\"");
    expect_error(RHEAD M U "    jwt: {issuer: corp}\n",
                 "t.yaml:7:10: routes[0].jwt:", "missing required key \"audience\"");
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, aud: b}\n",
                 "t.yaml:7:38: routes[0].jwt:",
                 "unknown key \"aud\"; expected one of: issuer, audience, scopes, "
                 "bind_to_client_cert, forward_token, claims_to_headers");
}

static void
test_route_jwt_block(void **state)
{
    struct pol_config *c;
    const struct pol_jwt *j;

    (void)state;
    c = load_ok(RHEAD M U "    jwt: {issuer: lab, audience: api}\n");
    j = c->routes[0].jwt;
    assert_non_null(j);
    assert_ptr_equal(j->issuer, &c->issuers[1]);
    assert_string_equal(j->audience, "api");
    assert_int_equal(j->nscopes, 0);
    assert_false(j->bind_to_client_cert);
    assert_false(j->forward_token);
    assert_int_equal(j->nclaims, 0);
    pol_config_free(c);
}

static void
test_route_jwt_scopes_refused(void **state)
{
    (void)state;
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, scopes: [\"a b\"]}\n",
                 "t.yaml:7:47: routes[0].jwt.scopes[0]:",
                 "expected a scope (printable ASCII without spaces, '\"' or '\\'), got \"a b\"");
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, scopes: [\"\"]}\n",
                 "t.yaml:7:47: routes[0].jwt.scopes[0]:", "expected a scope, got an empty string");
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, scopes: read}\n",
                 "t.yaml:7:46: routes[0].jwt.scopes:", "expected a sequence, got \"read\"");
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, bind_to_client_cert: 1}\n",
                 "t.yaml:7:59: routes[0].jwt.bind_to_client_cert:", "expected true or false");
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, forward_token: no}\n",
                 "t.yaml:7:53: routes[0].jwt.forward_token:", "expected true or false");
}

static void
test_route_jwt_claims_to_headers_refused(void **state)
{
    (void)state;
    expect_error(RHEAD M U "    jwt:\n      issuer: corp\n      audience: a\n"
                           "      claims_to_headers: {sub: X-Auth-Subject}\n",
                 "t.yaml:10:32: routes[0].jwt.claims_to_headers.sub:",
                 "header \"X-Auth-Subject\" is set by the gateway and cannot be configured");
    expect_error(RHEAD M U "    jwt:\n      issuer: corp\n      audience: a\n"
                           "      claims_to_headers: {email: \"X Email\"}\n",
                 "t.yaml:10:34: routes[0].jwt.claims_to_headers.email:",
                 "expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \"X Email\"");
    expect_error(RHEAD M U "    jwt:\n      issuer: corp\n      audience: a\n"
                           "      claims_to_headers: {email: X-A, mail: x-a}\n",
                 "t.yaml:10:45: routes[0].jwt.claims_to_headers.mail:",
                 "header \"x-a\" already carries claim \"email\"");
    expect_error(RHEAD M U "    jwt:\n      issuer: corp\n      audience: a\n"
                           "      claims_to_headers: [email]\n",
                 "t.yaml:10:26: routes[0].jwt.claims_to_headers:", "expected a mapping");
}

static void
test_route_jwt_lists_capped(void **state)
{
    char yaml[8192];
    int o, i;

    (void)state;
    o = snprintf(yaml, sizeof(yaml),
                 RHEAD M U "    jwt:\n      issuer: corp\n      audience: a\n"
                           "      scopes:\n");
    for (i = 0; i < PC_CONF_MAX_SCOPES + 1; i++)
        o += snprintf(yaml + o, sizeof(yaml) - (size_t)o, "        - s%d\n", i);
    expect_error(yaml, "t.yaml:11:9: routes[0].jwt.scopes:", "at most 64 scopes, got 65");
    o = snprintf(yaml, sizeof(yaml),
                 RHEAD M U "    jwt:\n      issuer: corp\n      audience: a\n"
                           "      claims_to_headers:\n");
    for (i = 0; i < PC_CONF_MAX_CLAIM_HDRS + 1; i++)
        o += snprintf(yaml + o, sizeof(yaml) - (size_t)o, "        c%d: x-c%d\n", i, i);
    expect_error(yaml,
                 "t.yaml:11:9: routes[0].jwt.claims_to_headers:", "at most 32 claims, got 33");
}

/* --- rate_limit ----------------------------------------------------------------------------------
 */

static void
test_route_rate_limit_values(void **state)
{
    struct pol_config *c;
    const struct pol_ratelimit *rl;

    (void)state;
    c = load_ok(RHEAD M U J
                "    rate_limit: {rate: 1000000000/s, key: ip, on_backend_failure: allow}\n");
    rl = c->routes[0].rate_limit;
    assert_int_equal(rl->count, 1000000000);
    assert_int_equal(rl->period_ms, 1000);
    assert_int_equal(rl->burst, 1000000000);
    assert_int_equal(rl->key, POL_RL_KEY_IP);
    assert_int_equal(rl->on_backend_failure, POL_RL_FAIL_ALLOW);
    pol_config_free(c);
    c = load_ok(RHEAD M U J "    rate_limit: {rate: 1/m, key: route, burst: 1}\n");
    rl = c->routes[0].rate_limit;
    assert_int_equal(rl->count, 1);
    assert_int_equal(rl->period_ms, 60000);
    assert_int_equal(rl->key, POL_RL_KEY_ROUTE);
    assert_int_equal(rl->burst, 1);
    pol_config_free(c);
    c = load_ok(RHEAD M U "    jwt: {issuer: corp, audience: a}\n"
                          "    rate_limit: {rate: 10/h, key: subject}\n");
    assert_int_equal(c->routes[0].rate_limit->key, POL_RL_KEY_SUBJECT);
    pol_config_free(c);
}

static void
test_route_rate_limit_refused(void **state)
{
    (void)state;
#define RL(x) RHEAD M U J "    rate_limit:\n      " x "\n" /* the value of x on line 9 */
    expect_error(RL("rate: 100 per second"), "t.yaml:9:13: routes[0].rate_limit.rate:",
                 "expected N/s, N/m or N/h, got \"100 per second\"");
    expect_error(RL("rate: 10/d"), "t.yaml:9:13: routes[0].rate_limit.rate:",
                 "expected N/s, N/m or N/h, got \"10/d\"");
    expect_error(RL("rate: /s"), "t.yaml:9:13: routes[0].rate_limit.rate:", "expected N/s");
    expect_error(RL("rate: 10/ss"), "t.yaml:9:13: routes[0].rate_limit.rate:", "expected N/s");
    expect_error(RL("rate: 0/s"), "t.yaml:9:13: routes[0].rate_limit.rate:",
                 "expected a count from 1 to 1000000000, got \"0/s\"");
    expect_error(RL("rate: 1000000001/s"), "t.yaml:9:13: routes[0].rate_limit.rate:",
                 "expected a count from 1 to 1000000000");
    expect_error(RL("{rate: 1/s, burst: 0}"), "t.yaml:9:26: routes[0].rate_limit.burst:",
                 "expected an integer in 1..1000000000, got \"0\"");
    expect_error(RL("{rate: 1/s, on_backend_failure: fail}"),
                 "t.yaml:9:39: routes[0].rate_limit.on_backend_failure:",
                 "expected one of deny, allow, local, got \"fail\"");
    expect_error(RL("{rate: 1/s, key: user}"), "t.yaml:9:24: routes[0].rate_limit.key:",
                 "expected one of identity, subject, ip, route, got \"user\"");
    expect_error(RL("{rate: 1/s, key: subject}"), "t.yaml:9:24: routes[0].rate_limit.key:",
                 "key: subject needs a jwt: block (this route has jwt: off)");
    expect_error(RL("{burst: 5}"),
                 "t.yaml:9:7: routes[0].rate_limit:", "missing required key \"rate\"");
    expect_error(RL("{rate: 1/s, window: 1s}"),
                 "t.yaml:9:19: routes[0].rate_limit:", "unknown key \"window\"");
#undef RL
    expect_error(RHEAD M U J "    rate_limit: 100/s\n",
                 "t.yaml:8:17: routes[0].rate_limit:", "expected a mapping, got \"100/s\"");
}

/* --- headers
 * -------------------------------------------------------------------------------------- */

static void
test_route_headers_set(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(RHEAD M U J "    headers: {set: {X-Env: prod, \"X-Quote\": \"a \\\"b\\\"\"}}\n");
    assert_int_equal(c->routes[0].nhset, 2);
    assert_string_equal(c->routes[0].hset[0].name, "x-env");
    assert_string_equal(c->routes[0].hset[1].value, "a \"b\"");
    pol_config_free(c);
}

static void
test_route_headers_reserved_refused(void **state)
{
    char yaml[1024], where[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        snprintf(yaml, sizeof(yaml), RHEAD M U J "    headers:\n      set:\n        %s: x\n",
                 reserved[i]);
        snprintf(where, sizeof(where), "t.yaml:10:9: routes[0].headers.set.%s:", reserved[i]);
        expect_error(yaml, where, "is set by the gateway and cannot be configured");
    }
    /* the comparison ignores case */
    expect_error(RHEAD M U J "    headers:\n      set:\n        X-Forwarded-For: x\n",
                 "t.yaml:10:9: routes[0].headers.set.X-Forwarded-For:",
                 "header \"X-Forwarded-For\" is set by the gateway");
}

static void
test_route_headers_refused(void **state)
{
    (void)state;
#define HS(x) RHEAD M U J "    headers:\n      set:\n        " x "\n" /* line 10 */
    expect_error(HS("\"X Bad\": v"),
                 "t.yaml:10:9: routes[0].headers.set.X Bad:", "expected a header name");
    expect_error(HS("\"X:Bad\": v"),
                 "t.yaml:10:9: routes[0].headers.set.X:Bad:", "expected a header name");
    expect_error(HS("X-A: \"a\\nb\""), "t.yaml:10:14: routes[0].headers.set.X-A:",
                 "expected a header value without control characters");
    expect_error(HS("X-A: [v]"), "t.yaml:10:14: routes[0].headers.set.X-A:",
                 "expected a header value without control characters, got a sequence");
    expect_error(HS("X-A:"), "t.yaml:10:13: routes[0].headers.set.X-A:", "got null");
    expect_error(HS("{X-A: a, x-a: b}"),
                 "t.yaml:10:18: routes[0].headers.set.x-a:", "header \"x-a\" is set twice");
#undef HS
    expect_error(RHEAD M U J "    headers: {add: {X-A: b}}\n",
                 "t.yaml:8:15: routes[0].headers:", "unknown key \"add\"; expected one of: set");
    expect_error(RHEAD M U J "    headers: {set: [X-A]}\n",
                 "t.yaml:8:20: routes[0].headers.set:", "expected a mapping");
    expect_error(RHEAD M U "    jwt: {issuer: corp, audience: a, claims_to_headers: {email: X-A}}\n"
                           "    headers: {set: {x-a: b}}\n",
                 "t.yaml:4:5: routes[0]:",
                 "header \"x-a\" is both in headers.set and in jwt.claims_to_headers");
}

static void
test_route_headers_too_many(void **state)
{
    char yaml[8192];
    int o, i;

    (void)state;
    o = snprintf(yaml, sizeof(yaml), RHEAD M U J "    headers:\n      set:\n");
    for (i = 0; i < PC_CONF_MAX_HDR_SETS + 1; i++)
        o += snprintf(yaml + o, sizeof(yaml) - (size_t)o, "        x-h%d: v\n", i);
    expect_error(yaml, "t.yaml:10:9: routes[0].headers.set:", "at most 32 headers, got 33");
}

/* --- all routes together -------------------------------------------------------------------------
 */

static void
test_routes_duplicate_name(void **state)
{
    (void)state;
    expect_error(RHEAD M U J "  - name: r\n    match: {host: b}\n" U J,
                 "t.yaml:8:11: routes[1].name:",
                 "duplicate route name \"r\" (first defined at t.yaml:4:11)");
}

static void
test_routes_overlap_refused(void **state)
{
    (void)state;
    expect_error(RHEAD "    match: {host: A.example.com, path_prefix: /api}\n" U J
                       "  - name: s\n    match: {host: a.example.com, path_prefix: /api}\n" U J,
                 "t.yaml:8:5: routes[1]:",
                 "routes 'r' (t.yaml:4) and 's' overlap: same host and path_prefix");
    expect_error(RHEAD "    match: {host: a, methods: [GET, POST]}\n" U J
                       "  - name: s\n    match: {host: a, methods: [POST, PUT]}\n" U J,
                 "t.yaml:8:5: routes[1]:", "routes 'r' (t.yaml:4) and 's' overlap");
    expect_error(RHEAD "    match: {host: \"*.a\"}\n" U J
                       "  - name: s\n    match: {host: \"*.A\"}\n" U J,
                 "t.yaml:8:5: routes[1]:", "overlap");
    expect_error(RHEAD "    match: {host: \"*\"}\n" U J
                       "  - name: s\n    match: {host: \"*\"}\n" U J,
                 "t.yaml:8:5: routes[1]:", "overlap");
}

static void
test_routes_no_overlap_accepted(void **state)
{
    struct pol_config *c;

    (void)state;
    /* disjoint methods, other prefixes, other host kinds */
    c = load_ok(RHEAD "    match: {host: a, methods: [GET, HEAD]}\n" U J
                      "  - name: s\n    match: {host: a, methods: [POST]}\n" U J
                      "  - name: t\n    match: {host: a, path_prefix: /api}\n" U J
                      "  - name: u\n    match: {host: a, path_prefix: /api/}\n" U J
                      "  - name: v\n    match: {host: \"*.a\"}\n" U J
                      "  - name: w\n    match: {host: \"*\"}\n" U J);
    assert_int_equal(c->nroutes, 6);
    pol_config_free(c);
}

static void
test_routes_errors_in_several_routes(void **state)
{
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    static const char yaml[] =
        RHEAD "    match: {host: \"a b\"}\n" U J "  - name: s\n    match: {host: b}\n" U;

    (void)state;
    assert_int_equal(pol_config_load_mem(TEST_FILE, yaml, strlen(yaml), false, &c, &e),
                     PC_ERR_INVALID);
    assert_null(c);
    assert_true(errors_have(&e, "t.yaml:5:19: routes[0].match.host:", "expected a host name"));
    assert_true(errors_have(&e, "t.yaml:8:5: routes[1]:", "route 's' has no jwt: decision"));
    pol_errors_clear(&e);
}

static void
test_routes_too_many(void **state)
{
    size_t cap = (size_t)(PC_CONF_MAX_ROUTES + 1) * 80 + 256;
    char *yaml = malloc(cap);
    size_t o;
    int i;

    (void)state;
    assert_non_null(yaml);
    o = (size_t)snprintf(yaml, cap, PLAIN_LISTEN "routes:\n");
    for (i = 0; i < PC_CONF_MAX_ROUTES + 1; i++)
        o += (size_t)snprintf(
            yaml + o, cap - o,
            "- {name: r%d, match: {host: h%d}, upstream: \"http://u\", jwt: off}\n", i, i);
    expect_error(yaml, "t.yaml:4099:3: routes[4096]:", "more than 4096 routes over all files");
    free(yaml);
}

/* --- pol_route_match -----------------------------------------------------------------------------
 */

static struct pol_config *
match_config(void)
{
    return load_ok(
        RHEAD
        "    match: {host: api.example.com, path_prefix: /v1}\n" U J
        "  - name: api-root\n    match: {host: api.example.com}\n" U J "  - name: api-v1-slash\n"
        "    match: {host: api.example.com, path_prefix: /v1/admin/}\n" U J "  - name: api-post\n"
        "    match: {host: api.example.com, path_prefix: /v2, methods: [POST]}\n" U J
        "  - name: api-get\n"
        "    match: {host: api.example.com, path_prefix: /v2, methods: [GET, HEAD]}\n" U J
        "  - name: wild\n    match: {host: \"*.example.com\", path_prefix: /w}\n" U J
        "  - name: wild-deep\n    match: {host: \"*.b.example.com\"}\n" U J
        "  - name: only-v1\n    match: {host: v1.example.org, path_prefix: "
        "/v1}\n" U J "  - name: wild-org\n    match: {host: \"*.example.org\"}\n" U J
        "  - name: any\n    match: {host: \"*\", path_prefix: /healthz}\n" U J);
}

static const char *
match_name(const struct pol_config *c, const char *host, const char *path, unsigned m)
{
    const struct pol_route *r = pol_route_match(c, host, strlen(host), path, strlen(path), m);

    return r != NULL ? r->name : "(none)";
}

static void
test_match_exact_host_longest_prefix(void **state)
{
    struct pol_config *c = match_config();

    (void)state;
    assert_string_equal(match_name(c, "api.example.com", "/v1", POL_M_GET), "r");
    assert_string_equal(match_name(c, "api.example.com", "/v1/users", POL_M_GET), "r");
    assert_string_equal(match_name(c, "api.example.com", "/v1/admin/x", POL_M_GET), "api-v1-slash");
    assert_string_equal(match_name(c, "api.example.com", "/v1/admin/", POL_M_GET), "api-v1-slash");
    /* "/v1/admin/" does not match "/v1/admin": "/v1" does */
    assert_string_equal(match_name(c, "api.example.com", "/v1/admin", POL_M_GET), "r");
    assert_string_equal(match_name(c, "api.example.com", "/", POL_M_GET), "api-root");
    assert_string_equal(match_name(c, "api.example.com", "/other", POL_M_DELETE), "api-root");
    pol_config_free(c);
}

static void
test_match_segment_boundary(void **state)
{
    struct pol_config *c = match_config();

    (void)state;
    /* "/v1" matches "/v1" and "/v1/x" but not "/v1x" */
    assert_string_equal(match_name(c, "api.example.com", "/v1x", POL_M_GET), "api-root");
    assert_string_equal(match_name(c, "api.example.com", "/v10/a", POL_M_GET), "api-root");
    assert_string_equal(match_name(c, "v1.example.org", "/v1x", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "v1.example.org", "/v1", POL_M_GET), "only-v1");
    assert_string_equal(match_name(c, "v1.example.org", "/v1/", POL_M_GET), "only-v1");
    pol_config_free(c);
}

static void
test_match_case_insensitive_host(void **state)
{
    struct pol_config *c = match_config();

    (void)state;
    assert_string_equal(match_name(c, "API.Example.COM", "/v1", POL_M_GET), "r");
    assert_string_equal(match_name(c, "X.B.EXAMPLE.COM", "/", POL_M_GET), "wild-deep");
    /* paths are case-sensitive */
    assert_string_equal(match_name(c, "api.example.com", "/V1", POL_M_GET), "api-root");
    pol_config_free(c);
}

static void
test_match_methods(void **state)
{
    struct pol_config *c = match_config();

    (void)state;
    assert_string_equal(match_name(c, "api.example.com", "/v2/x", POL_M_POST), "api-post");
    assert_string_equal(match_name(c, "api.example.com", "/v2/x", POL_M_GET), "api-get");
    assert_string_equal(match_name(c, "api.example.com", "/v2/x", POL_M_HEAD), "api-get");
    /* no /v2 route takes PUT: the shorter prefix does */
    assert_string_equal(match_name(c, "api.example.com", "/v2/x", POL_M_PUT), "api-root");
    assert_string_equal(match_name(c, "api.example.com", "/v2/x", POL_M_OTHER), "api-root");
    /* no method bit matches nothing */
    assert_string_equal(match_name(c, "api.example.com", "/v2/x", 0), "(none)");
    pol_config_free(c);
}

static void
test_match_wildcard_and_any(void **state)
{
    struct pol_config *c = match_config();

    (void)state;
    assert_string_equal(match_name(c, "x.example.com", "/w/1", POL_M_GET), "wild");
    /* a wildcard covers several labels */
    assert_string_equal(match_name(c, "a.b.c.example.com", "/w", POL_M_GET), "wild");
    /* the longest matching suffix wins */
    assert_string_equal(match_name(c, "a.b.example.com", "/w", POL_M_GET), "wild-deep");
    /* a wildcard does not cover the bare domain */
    assert_string_equal(match_name(c, "example.com", "/w", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, ".example.com", "/w", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "b.example.com", "/w", POL_M_GET), "wild");
    /* "*" */
    assert_string_equal(match_name(c, "unknown.test", "/healthz", POL_M_GET), "any");
    assert_string_equal(match_name(c, "unknown.test", "/healthz/live", POL_M_GET), "any");
    assert_string_equal(match_name(c, "unknown.test", "/", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "", "/healthz", POL_M_GET), "any");
    pol_config_free(c);
}

static void
test_match_host_group_decides_without_fallback(void **state)
{
    struct pol_config *c = match_config();

    (void)state;
    /* api.example.com has "/": the exact group always answers */
    assert_string_equal(match_name(c, "api.example.com", "/w", POL_M_GET), "api-root");
    /* v1.example.org only has /v1: a laxer *.example.org route never serves its other paths */
    assert_string_equal(match_name(c, "v1.example.org", "/other", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "w.example.org", "/other", POL_M_GET), "wild-org");
    /* x.b.example.com: *.b.example.com (the longest suffix) takes "/" */
    assert_string_equal(match_name(c, "x.b.example.com", "/anything", POL_M_GET), "wild-deep");
    /* x.example.com: "*.example.com" names the host and has only /w: no "*" */
    assert_string_equal(match_name(c, "x.example.com", "/healthz", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "x.example.com", "/nothing", POL_M_GET), "(none)");
    pol_config_free(c);
}

static void
test_match_no_match_and_bad_input(void **state)
{
    struct pol_config *c = match_config();
    char longhost[300];

    (void)state;
    assert_null(pol_route_match(NULL, "a", 1, "/", 1, POL_M_GET));
    assert_string_equal(match_name(c, "api.example.com", "", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "api.example.com", "v1", POL_M_GET), "(none)");
    assert_string_equal(match_name(c, "api.example.com", "*", POL_M_OPTIONS), "(none)");
    assert_string_equal(match_name(c, "api.example.com:443", "/", POL_M_GET), "(none)");
    memset(longhost, 'a', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    assert_string_equal(match_name(c, longhost, "/healthz", POL_M_GET), "any");
    assert_string_equal(match_name(c, longhost, "/", POL_M_GET), "(none)");
    /* only the given length counts */
    assert_ptr_equal(pol_route_match(c, "api.example.comXX", 15, "/v1/zz", 3, POL_M_GET),
                     &c->routes[0]);
    pol_config_free(c);
}

/* A brute-force reference for pol_route_match, straight from pol.h. */
static bool
ref_prefix_ok(const char *p, const char *path)
{
    size_t pl = strlen(p), l = strlen(path);

    return pl <= l && memcmp(p, path, pl) == 0 && (pl == l || p[pl - 1] == '/' || path[pl] == '/');
}

static const struct pol_route *
ref_best(const struct pol_config *c, enum pol_host_kind kind, const char *host, const char *path,
         unsigned m)
{
    const struct pol_route *best = NULL;
    size_t i;

    for (i = 0; i < c->nroutes; i++) {
        const struct pol_route *r = &c->routes[i];
        if (r->host_kind != kind || strcmp(r->host, host) != 0)
            continue;
        if ((r->methods & m) == 0 || !ref_prefix_ok(r->path_prefix, path))
            continue;
        if (best == NULL || strlen(r->path_prefix) > strlen(best->path_prefix))
            best = r;
    }
    return best;
}

static bool
ref_has(const struct pol_config *c, enum pol_host_kind kind, const char *host)
{
    size_t i;

    for (i = 0; i < c->nroutes; i++)
        if (c->routes[i].host_kind == kind && strcmp(c->routes[i].host, host) == 0)
            return true;
    return false;
}

/* The first host group that names the host decides, like a virtual host. */
static const struct pol_route *
ref_match(const struct pol_config *c, const char *host, const char *path, unsigned m)
{
    size_t i;

    if (ref_has(c, POL_HOST_EXACT, host))
        return ref_best(c, POL_HOST_EXACT, host, path, m);
    for (i = 1; host[i] != '\0'; i++)
        if (host[i] == '.' && ref_has(c, POL_HOST_WILDCARD, host + i))
            return ref_best(c, POL_HOST_WILDCARD, host + i, path, m);
    return ref_best(c, POL_HOST_ANY, "*", path, m);
}

static void
test_match_agrees_with_reference(void **state)
{
    static const char *const hosts[] = {"a.x", "b.x", "a.b.x", "x", "c.a.b.x"};
    static const char *const hpat[] = {"a.x", "b.x", "*.x", "*.b.x", "*", "x", "*.a.b.x"};
    static const char *const segs[] = {"a", "b", "ab", "a/", ""};
    static const unsigned meths[] = {POL_M_GET, POL_M_POST, POL_M_PUT};
    char *yaml = malloc(1 << 20), path[64], host[64], pfx[25][32];
    size_t o = 0;
    unsigned seed = 12345, n = 0, i, k, hits = 0, npfx = 0;

    (void)state;
    assert_non_null(yaml);
    o += (size_t)snprintf(yaml, 1 << 20, PLAIN_LISTEN "routes:\n");
    /* every distinct (host, prefix) twice, with disjoint methods: never overlapping */
    for (k = 0; k < 25; k++) {
        unsigned a = k % 5, b = k / 5, d;
        bool dup = false;
        snprintf(pfx[npfx], sizeof(pfx[npfx]), "/%s%s%s", segs[a], segs[a][0] != '\0' ? "/" : "",
                 segs[b]);
        for (d = 0; d < npfx && !dup; d++)
            dup = strcmp(pfx[d], pfx[npfx]) == 0;
        if (!dup && strstr(pfx[npfx], "//") == NULL)
            npfx++;
    }
    for (i = 0; i < sizeof(hpat) / sizeof(hpat[0]); i++) {
        for (k = 0; k < npfx; k++) {
            /* leave some holes: paths a host group does not cover */
            if ((i + k) % 4 == 3)
                continue;
            o += (size_t)snprintf(yaml + o, (1 << 20) - o,
                                  "- {name: r%u, match: {host: \"%s\", path_prefix: \"%s\", "
                                  "methods: [GET, PUT]}, upstream: \"http://u\", jwt: off}\n",
                                  n++, hpat[i], pfx[k]);
            if ((i + k) % 3 == 0)
                o += (size_t)snprintf(yaml + o, (1 << 20) - o,
                                      "- {name: r%u, match: {host: \"%s\", path_prefix: \"%s\", "
                                      "methods: [POST]}, upstream: \"http://u\", jwt: off}\n",
                                      n++, hpat[i], pfx[k]);
        }
    }
    {
        struct pol_errors e = {0};
        struct pol_config *c = NULL;
        int rc = pol_config_load_mem(TEST_FILE, yaml, o, false, &c, &e);
        if (rc != PC_OK)
            print_errors(&e);
        pol_errors_clear(&e);
        assert_int_equal(rc, PC_OK);
        for (i = 0; i < 20000; i++) {
            const struct pol_route *got, *want;
            unsigned j, depth;
            seed = seed * 1103515245u + 12345u;
            snprintf(host, sizeof(host), "%s", hosts[(seed >> 16) % 5]);
            if ((seed >> 8) % 3 == 0)
                host[0] = (char)(host[0] - 32); /* upper-case the first letter */
            path[0] = '\0';
            depth = (seed >> 20) % 4;
            for (j = 0; j < depth; j++) {
                seed = seed * 1103515245u + 12345u;
                strncat(path, "/", sizeof(path) - strlen(path) - 1);
                strncat(path, segs[(seed >> 16) % 5], sizeof(path) - strlen(path) - 1);
            }
            if (path[0] == '\0' || (seed >> 12) % 5 == 0)
                strncat(path, "/", sizeof(path) - strlen(path) - 1);
            got =
                pol_route_match(c, host, strlen(host), path, strlen(path), meths[(seed >> 24) % 3]);
            host[0] = (char)(host[0] | 0x20);
            want = ref_match(c, host, path, meths[(seed >> 24) % 3]);
            if (got != want)
                fprintf(stderr, "    %s %s: got %s, want %s\n", host, path, got ? got->name : "-",
                        want ? want->name : "-");
            assert_ptr_equal(got, want);
            hits += got != NULL;
        }
        assert_true(hits > 1000); /* the test exercises matches, not only misses */
        pol_config_free(c);
    }
    free(yaml);
}

static void
test_match_many_routes_one_host(void **state)
{
    size_t cap = 600 * 100;
    char *yaml = malloc(cap), path[64];
    struct pol_config *c;
    size_t o;
    int i;

    (void)state;
    assert_non_null(yaml);
    o = (size_t)snprintf(yaml, cap, PLAIN_LISTEN "routes:\n");
    for (i = 0; i < 500; i++)
        o += (size_t)snprintf(yaml + o, cap - o,
                              "- {name: p%d, match: {host: h, path_prefix: /p%d}, "
                              "upstream: \"http://u\", jwt: off}\n",
                              i, i);
    c = load_ok(yaml);
    for (i = 0; i < 500; i++) {
        const struct pol_route *r;
        snprintf(path, sizeof(path), "/p%d/x", i);
        r = pol_route_match(c, "h", 1, path, strlen(path), POL_M_GET);
        assert_non_null(r);
        assert_int_equal(r->index, (size_t)i);
    }
    assert_null(pol_route_match(c, "h", 1, "/p500", 5, POL_M_GET));
    assert_null(pol_route_match(c, "h", 1, "/p1x", 4, POL_M_GET));
    pol_config_free(c);
    free(yaml);
}

static void
test_match_pathological_path_is_fast(void **state)
{
    char *yaml = malloc(65536), *path = malloc(PC_HTTP_MAX_PATH_BYTES);
    struct pol_config *c;
    struct timespec t0, t1;
    int o, i;

    (void)state;
    assert_non_null(path);
    assert_non_null(yaml);
    o = snprintf(yaml, 65536, PLAIN_LISTEN "routes:\n");
    for (i = 0; i < 20; i++) {
        char pfx[1100];
        memset(pfx, '/', 50 * (size_t)(i + 1));
        pfx[50 * (i + 1)] = 'x';
        pfx[50 * (i + 1) + 1] = '\0';
        o += snprintf(yaml + o, 65536 - (size_t)o,
                      "- {name: p%d, match: {host: h, path_prefix: \"%s\"}, upstream: "
                      "\"http://u\", jwt: off}\n",
                      i, pfx);
    }
    c = load_ok(yaml);
    memset(path, '/', PC_HTTP_MAX_PATH_BYTES);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < 1000; i++)
        assert_null(pol_route_match(c, "h", 1, path, PC_HTTP_MAX_PATH_BYTES, POL_M_GET));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* 1000 lookups well under a second even with sanitizers */
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
    pol_config_free(c);
    free(path);
    free(yaml);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_name_required),
        cmocka_unit_test(test_route_name_syntax),
        cmocka_unit_test(test_route_unknown_key_lists_expected),
        cmocka_unit_test(test_routes_wrong_shapes),
        cmocka_unit_test(test_route_match_required),
        cmocka_unit_test(test_route_host_forms),
        cmocka_unit_test(test_route_host_refused),
        cmocka_unit_test(test_route_path_prefix),
        cmocka_unit_test(test_route_path_prefix_refused),
        cmocka_unit_test(test_route_path_prefix_too_long),
        cmocka_unit_test(test_route_methods),
        cmocka_unit_test(test_route_methods_refused),
        cmocka_unit_test(test_route_upstream_forms),
        cmocka_unit_test(test_route_upstream_refused),
        cmocka_unit_test(test_route_mtls_patterns),
        cmocka_unit_test(test_route_mtls_refused),
        cmocka_unit_test(test_route_mtls_too_many_patterns),
        cmocka_unit_test(test_route_jwt_required),
        cmocka_unit_test(test_route_jwt_off_forms),
        cmocka_unit_test(test_route_jwt_issuer_must_exist),
        cmocka_unit_test(test_route_jwt_block),
        cmocka_unit_test(test_route_jwt_scopes_refused),
        cmocka_unit_test(test_route_jwt_claims_to_headers_refused),
        cmocka_unit_test(test_route_jwt_lists_capped),
        cmocka_unit_test(test_route_rate_limit_values),
        cmocka_unit_test(test_route_rate_limit_refused),
        cmocka_unit_test(test_route_headers_set),
        cmocka_unit_test(test_route_headers_reserved_refused),
        cmocka_unit_test(test_route_headers_refused),
        cmocka_unit_test(test_route_headers_too_many),
        cmocka_unit_test(test_routes_duplicate_name),
        cmocka_unit_test(test_routes_overlap_refused),
        cmocka_unit_test(test_routes_no_overlap_accepted),
        cmocka_unit_test(test_routes_errors_in_several_routes),
        cmocka_unit_test(test_routes_too_many),
        cmocka_unit_test(test_match_exact_host_longest_prefix),
        cmocka_unit_test(test_match_segment_boundary),
        cmocka_unit_test(test_match_case_insensitive_host),
        cmocka_unit_test(test_match_methods),
        cmocka_unit_test(test_match_wildcard_and_any),
        cmocka_unit_test(test_match_host_group_decides_without_fallback),
        cmocka_unit_test(test_match_no_match_and_bad_input),
        cmocka_unit_test(test_match_agrees_with_reference),
        cmocka_unit_test(test_match_many_routes_one_host),
        cmocka_unit_test(test_match_pathological_path_is_fast),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
