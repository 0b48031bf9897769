/*
 * policy/: the YAML layer and the main file's schema (listen, threads,
 * user, paths, issuers, redis, admin, log, limits, include), the full
 * round trip and the default files in etc/.  Route and TLS-policy schemas
 * have their own binaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include "common/pc_limits.h"
#include "pol_test.h"

/* A route line block for the include tests: name on line 2 of its file. */
#define ROUTE_FILE(name, host)                                                                     \
    "routes:\n"                                                                                    \
    "  - name: " name "\n"                                                                         \
    "    match: {host: " host "}\n"                                                                \
    "    upstream: \"http://127.0.0.1:9000\"\n"                                                    \
    "    jwt: off\n"

/* --- the YAML layer ------------------------------------------------------------ */

static void
test_yaml_anchor_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "user: &u portcullis\n", "t.yaml:2:7:", "aliases are not supported");
}

static void
test_yaml_alias_refused(void **state)
{
    (void)state;
    /* libyaml's parser does not resolve aliases: a lone one still comes as an event */
    expect_error(PLAIN_LISTEN "user: *u\n", "t.yaml:2:7:", "aliases are not supported");
}

static void
test_yaml_tag_refused(void **state)
{
    (void)state;
    expect_error("listen: !!seq []\n", "t.yaml:1:9:", "tags (!tag) are not supported");
    expect_error(PLAIN_LISTEN "user: !str portcullis\n", "t.yaml:2:7:", "tags");
}

static void
test_yaml_duplicate_key_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "user: a\nthreads: 2\nuser: b\n",
                 "t.yaml:4:1:", "duplicate key \"user\" (first at line 2:1)");
    /* also inside flow mappings and deeper */
    expect_error(PLAIN_LISTEN "log: {level: info, level: debug}\n",
                 "t.yaml:2:20:", "duplicate key \"level\"");
}

static void
test_yaml_multiple_documents_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "---\nthreads: 2\n",
                 "t.yaml:2:1:", "multiple documents are not supported");
}

static void
test_yaml_non_scalar_key_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "? [a, b]\n: 1\n",
                 "t.yaml:2:3:", "mapping keys must be plain strings");
    expect_error(PLAIN_LISTEN "{x: 1}: 2\n", "t.yaml:2:1:", "mapping keys must be plain strings");
}

static void
test_yaml_too_deep_refused(void **state)
{
    char yaml[256];
    int i, o = 0;

    (void)state;
    o += snprintf(yaml + o, sizeof(yaml) - (size_t)o, PLAIN_LISTEN "user: ");
    for (i = 0; i < PC_CONF_MAX_DEPTH; i++)
        yaml[o++] = '[';
    for (i = 0; i < PC_CONF_MAX_DEPTH; i++)
        yaml[o++] = ']';
    yaml[o++] = '\n';
    yaml[o] = '\0';
    /* the root mapping is level 1: the 16th '[' is level 17 */
    expect_error(yaml, "t.yaml:2:22:", "nested deeper than 16 levels");
}

static void
test_yaml_depth_at_limit_accepted_by_parser(void **state)
{
    char yaml[256];
    int i, o = 0;

    (void)state;
    /* 15 '[' under the root map = 16 levels: the parser accepts, the schema refuses */
    o += snprintf(yaml + o, sizeof(yaml) - (size_t)o, PLAIN_LISTEN "user: ");
    for (i = 0; i < PC_CONF_MAX_DEPTH - 1; i++)
        yaml[o++] = '[';
    for (i = 0; i < PC_CONF_MAX_DEPTH - 1; i++)
        yaml[o++] = ']';
    yaml[o++] = '\n';
    yaml[o] = '\0';
    expect_error(yaml, "t.yaml:2:7: user:", "expected a user name, got a sequence");
}

static void
test_yaml_too_many_nodes_refused(void **state)
{
    size_t n = PC_CONF_MAX_NODES + 1, cap = 2 * n + 128, o;
    char *yaml = malloc(cap);

    (void)state;
    assert_non_null(yaml);
    o = (size_t)snprintf(yaml, cap, PLAIN_LISTEN "user: [");
    while (o + 4 < cap) {
        memcpy(yaml + o, "a,", 2);
        o += 2;
    }
    memcpy(yaml + o - 1, "]\n", 3);
    expect_error(yaml, "t.yaml:2:", "more than 262144 YAML nodes in one file");
    free(yaml);
}

static void
test_yaml_file_too_large_refused(void **state)
{
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    size_t n = PC_CONF_MAX_BYTES + 1;
    char *big = malloc(n);

    (void)state;
    assert_non_null(big);
    memset(big, '#', n); /* one huge comment */
    assert_int_equal(pol_config_load_mem(TEST_FILE, big, n, false, &c, &e), PC_ERR_TOO_LARGE);
    assert_null(c);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msg[0], "t.yaml: 1048577 bytes, more than the limit of 1048576"));
    pol_errors_clear(&e);
    free(big);
}

static void
test_yaml_long_scalar_refused(void **state)
{
    static const char head[] = PLAIN_LISTEN "pid_file: /";
    size_t n = PC_CONF_MAX_STR + 1, hl = sizeof(head) - 1;
    char *yaml = malloc(hl + n + 2);

    (void)state;
    assert_non_null(yaml);
    memcpy(yaml, head, hl);
    memset(yaml + hl, 'a', n - 1); /* with the '/': 4097 bytes */
    memcpy(yaml + hl + n - 1, "\n", 2);
    expect_error(yaml, "t.yaml:2:11:", "a value of 4097 bytes, more than the limit of 4096");
    free(yaml);
}

static void
test_yaml_embedded_nul_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "user: \"port\\0cullis\"\n",
                 "t.yaml:2:7:", "a NUL byte inside a value");
}

static void
test_yaml_raw_control_byte_refused(void **state)
{
    static const char yaml[] = PLAIN_LISTEN "user: a\x01"
                                            "b\n";

    (void)state;
    expect_error(yaml, "t.yaml:2:8:", "control characters are not allowed (byte 0x01)");
}

static void
test_yaml_syntax_error_has_position(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "user: [a, b\n", "t.yaml:3:1:", "did not find expected ',' or ']'");
    expect_error(PLAIN_LISTEN "  user: a\n", "t.yaml:2:3:", NULL);
}

static void
test_yaml_empty_file_refused(void **state)
{
    (void)state;
    expect_error("", "t.yaml:1:1:", "the file is empty");
    expect_error("# only a comment\n", "t.yaml:1:1:", "the file is empty");
}

/* --- top level ------------------------------------------------------------------- */

static void
test_config_unknown_top_key_lists_expected(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "thread: 4\n", "t.yaml:2:1:",
                 "unknown key \"thread\"; expected one of: listen, threads, user, pid_file, "
                 "acme_webroot, tls_policy, issuers, redis, admin, log, include, routes, limits");
}

static void
test_config_top_level_not_mapping(void **state)
{
    (void)state;
    expect_error("- listen\n", "t.yaml:1:1:", "expected a mapping, got a sequence");
    expect_error("listen\n", "t.yaml:1:1:", "expected a mapping, got \"listen\"");
}

static void
test_config_listen_required(void **state)
{
    (void)state;
    expect_error("threads: 2\n", "t.yaml:1:1:", "missing required key \"listen\"");
}

static void
test_config_errors_collected_and_capped(void **state)
{
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    char yaml[4096];
    int i, o = 0;

    (void)state;
    o += snprintf(yaml, sizeof(yaml), PLAIN_LISTEN);
    for (i = 0; i < 30; i++)
        o += snprintf(yaml + o, sizeof(yaml) - (size_t)o, "bad%d: 1\n", i);
    assert_int_equal(pol_config_load_mem(TEST_FILE, yaml, strlen(yaml), false, &c, &e),
                     PC_ERR_INVALID);
    assert_null(c);
    assert_int_equal(e.n, PC_CONF_MAX_ERRORS);
    assert_int_equal(e.dropped, 30 - PC_CONF_MAX_ERRORS);
    assert_true(errors_have(&e, "t.yaml:2:1:", "\"bad0\""));
    assert_true(errors_have(&e, "t.yaml:21:1:", "\"bad19\""));
    pol_errors_clear(&e);
    assert_int_equal(e.n, 0);
}

static void
test_config_minimal_defaults(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN);
    assert_int_equal(c->nlisteners, 1);
    assert_true(c->listeners[0].plain);
    assert_int_equal(c->listeners[0].ncerts, 0);
    assert_null(c->listeners[0].client_ca);
    assert_true(c->threads >= 1);
    assert_null(c->user);
    assert_null(c->pid_file);
    assert_null(c->acme_webroot);
    assert_null(c->redis);
    assert_null(c->admin_listen);
    assert_int_equal(c->nissuers, 0);
    assert_int_equal(c->nroutes, 0);
    assert_int_equal(c->access_log, POL_LOG_STDOUT);
    assert_int_equal(c->log_level, LOG_INFO);
    /* built-in TLS policy */
    assert_null(c->tls.path);
    assert_int_equal(c->tls.profile, POL_TLS_INTERMEDIATE);
    assert_string_equal(c->tls.groups, "X25519:P-256:P-384");
    assert_int_equal(c->tls.hsts_max_age, 0);
    assert_int_equal(c->tls.ticket_rotate_ms, 0); /* the session cache, no stateless tickets */
    /* limits from pc_limits.h */
    assert_int_equal(c->limits.max_header_bytes, PC_HTTP_MAX_HEADER_BYTES);
    assert_int_equal(c->limits.max_headers, 100);
    assert_int_equal(c->limits.max_body_bytes, PC_HTTP_MAX_BODY_BYTES);
    assert_int_equal(c->limits.handshake_timeout_ms, PC_HTTP_HANDSHAKE_TIMEOUT_MS);
    assert_int_equal(c->limits.request_timeout_ms, PC_HTTP1_REQ_TIMEOUT_MS);
    assert_int_equal(c->limits.http2_idle_timeout_ms, PC_HTTP2_IDLE_TIMEOUT_MS);
    assert_int_equal(c->limits.http2_max_concurrent_streams, 100);
    assert_int_equal(c->limits.http2_max_resets, PC_HTTP2_MAX_RESETS);
    assert_int_equal(c->limits.upstream_timeout_ms, PC_UPSTREAM_TIMEOUT_MS);
    assert_int_equal(c->limits.upstream_keepalive_ms, PC_UPSTREAM_KEEPALIVE_MS);
    assert_int_equal(c->limits.shutdown_timeout_ms, PC_SHUTDOWN_TIMEOUT_MS);
    /* an empty table still answers */
    assert_null(pol_route_match(c, "a", 1, "/", 1, POL_M_GET));
    pol_config_free(c);
    pol_config_free(NULL);
}

/* --- listen: ------------------------------------------------------------------------- */

static void
test_listen_wrong_shapes(void **state)
{
    (void)state;
    expect_error("listen: \"0.0.0.0:443\"\n",
                 "t.yaml:1:9: listen:", "expected a sequence, got \"0.0.0.0:443\"");
    expect_error("listen: []\n", "t.yaml:1:9: listen:", "expected 1 to 32 listeners, got 0");
    expect_error("listen: [\"0.0.0.0:443\"]\n",
                 "t.yaml:1:10: listen[0]:", "expected a mapping, got \"0.0.0.0:443\"");
    expect_error("listen: [{plain: true}]\n",
                 "t.yaml:1:10: listen[0]:", "missing required key \"address\"");
    expect_error("listen: [{address: \"127.0.0.1:80\", plain: true, tls: no}]\n",
                 "t.yaml:1:49: listen[0]:",
                 "unknown key \"tls\"; expected one of: address, certificates, client_ca, crl, "
                 "plain");
    expect_error("listen: [{address: \"127.0.0.1:80\", plain: yes}]\n",
                 "t.yaml:1:43: listen[0].plain:", "expected true or false, got \"yes\"");
}

static void
test_listen_too_many(void **state)
{
    char yaml[8192];
    int i, o = 0;

    (void)state;
    o += snprintf(yaml, sizeof(yaml), "listen:\n");
    for (i = 0; i < PC_CONF_MAX_LISTENERS + 1; i++)
        o += snprintf(yaml + o, sizeof(yaml) - (size_t)o,
                      "  - {address: \"127.0.0.1:%d\", plain: true}\n", 1000 + i);
    expect_error(yaml, "t.yaml:2:3: listen:", "expected 1 to 32 listeners, got 33");
}

static void
test_listen_address_forms(void **state)
{
    struct pol_config *c;
    const struct sockaddr_in *a4;
    const struct sockaddr_in6 *a6;

    (void)state;
    c = load_ok("listen:\n"
                "  - {address: \"0.0.0.0:80\", plain: true}\n"
                "  - {address: \"[::1]:8443\", plain: true}\n"
                "  - {address: \"[fe80::1%lo]:8444\", plain: true}\n");
    assert_int_equal(c->nlisteners, 3);
    assert_string_equal(c->listeners[0].address, "0.0.0.0:80");
    assert_int_equal(c->listeners[0].addr.ss_family, AF_INET);
    assert_int_equal(c->listeners[0].addrlen, sizeof(struct sockaddr_in));
    a4 = (const struct sockaddr_in *)&c->listeners[0].addr;
    assert_int_equal(ntohs(a4->sin_port), 80);
    assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(c->listeners[1].addr.ss_family, AF_INET6);
    a6 = (const struct sockaddr_in6 *)&c->listeners[1].addr;
    assert_int_equal(ntohs(a6->sin6_port), 8443);
    assert_true(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
    assert_int_equal(c->listeners[0].pos.line, 2);
    assert_int_equal(c->listeners[0].pos.col, 5);
    assert_string_equal(c->listeners[0].pos.file, TEST_FILE);
    pol_config_free(c);
}

static void
test_listen_address_refused(void **state)
{
    (void)state;
    expect_error("listen: [{address: \"localhost:80\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "host names are not accepted");
    expect_error("listen: [{address: \"127.1:80\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "expected a numeric IPv4 address");
    expect_error("listen: [{address: \"127.0.0.1\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "the port is missing");
    expect_error("listen: [{address: \"127.0.0.1:0\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "the port must be a number from 1 to 65535");
    expect_error("listen: [{address: \"127.0.0.1:65536\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "the port must be a number from 1 to 65535");
    expect_error("listen: [{address: \"::1:443\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "must be written in brackets");
    expect_error("listen: [{address: \"[::1\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "without ']'");
    expect_error("listen: [{address: \"[nope]:443\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "expected a numeric IPv6 address");
    expect_error("listen: [{address: \"\", plain: true}]\n",
                 "t.yaml:1:20: listen[0].address:", "got an empty string");
}

static void
test_listen_duplicate_address_refused(void **state)
{
    (void)state;
    expect_error(
        "listen:\n"
        "  - {address: \"127.0.0.1:80\", plain: true}\n"
        "  - {address: \"127.0.0.1:0080\", plain: true}\n",
        "t.yaml:3:15: listen[1]:", "address 127.0.0.1:0080 is already used by listen[0] (line 2)");
}

static void
test_listen_tls_needs_client_ca(void **state)
{
    (void)state;
    expect_error(
        "listen:\n"
        "  - address: \"0.0.0.0:443\"\n"
        "    certificates: [{cert: c.pem, key: k.pem}]\n",
        "t.yaml:2:5: listen[0]:", "client_ca is mandatory: no client certificate, no TLS session");
}

static void
test_listen_tls_needs_certificates(void **state)
{
    (void)state;
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:443\"\n"
                 "    client_ca: ca.pem\n",
                 "t.yaml:2:5: listen[0]:", "a TLS listener needs certificates:");
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:443\"\n"
                 "    certificates: []\n"
                 "    client_ca: ca.pem\n",
                 "t.yaml:3:19: listen[0].certificates:", "expected 1 to 64 certificates, got 0");
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:443\"\n"
                 "    certificates: [{cert: c.pem}]\n"
                 "    client_ca: ca.pem\n",
                 "t.yaml:3:20: listen[0].certificates[0]:", "missing required key \"key\"");
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:443\"\n"
                 "    certificates: [{cert: c.pem, key: k.pem, chain: x}]\n"
                 "    client_ca: ca.pem\n",
                 "t.yaml:3:46: listen[0].certificates[0]:",
                 "unknown key \"chain\"; expected one of: cert, key");
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:443\"\n"
                 "    certificates: {cert: c.pem, key: k.pem}\n"
                 "    client_ca: ca.pem\n",
                 "t.yaml:3:19: listen[0].certificates:", "expected a sequence, got a mapping");
}

static void
test_listen_plain_refuses_tls_keys(void **state)
{
    (void)state;
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:80\"\n"
                 "    plain: true\n"
                 "    certificates: [{cert: c.pem, key: k.pem}]\n",
                 "t.yaml:4:19: listen[0].certificates:", "not allowed on a plain listener");
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:80\"\n"
                 "    plain: true\n"
                 "    client_ca: ca.pem\n",
                 "t.yaml:4:16: listen[0].client_ca:", "not allowed on a plain listener");
    expect_error("listen:\n"
                 "  - address: \"0.0.0.0:80\"\n"
                 "    plain: true\n"
                 "    crl: crl.pem\n",
                 "t.yaml:4:10: listen[0].crl:", "not allowed on a plain listener");
}

static void
test_listen_tls_paths_resolved(void **state)
{
    struct pol_config *c;
    char cwd[4096], want[4200];

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    c = load_ok("listen:\n"
                "  - address: \"0.0.0.0:443\"\n"
                "    certificates:\n"
                "      - {cert: a/fullchain.pem, key: ./a/privkey.pem}\n"
                "      - {cert: /etc/b.pem, key: /etc/b.key}\n"
                "    client_ca: /var/lib/portcullis/ca/ca.pem\n"
                "    crl: crl.pem\n");
    assert_false(c->listeners[0].plain);
    assert_int_equal(c->listeners[0].ncerts, 2);
    snprintf(want, sizeof(want), "%s/a/fullchain.pem", cwd);
    assert_string_equal(c->listeners[0].certs[0].cert, want);
    snprintf(want, sizeof(want), "%s/a/privkey.pem", cwd);
    assert_string_equal(c->listeners[0].certs[0].key, want);
    assert_string_equal(c->listeners[0].certs[1].cert, "/etc/b.pem");
    assert_string_equal(c->listeners[0].client_ca, "/var/lib/portcullis/ca/ca.pem");
    snprintf(want, sizeof(want), "%s/crl.pem", cwd);
    assert_string_equal(c->listeners[0].crl, want);
    pol_config_free(c);
}

/* --- threads, user, paths --------------------------------------------------------------- */

static void
test_threads_values(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN "threads: auto\n");
    assert_true(c->threads >= 1 && c->threads <= 256);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "threads: 7\n");
    assert_int_equal(c->threads, 7);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "threads: 256\n");
    assert_int_equal(c->threads, 256);
    pol_config_free(c);
}

static void
test_threads_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "threads: 0\n",
                 "t.yaml:2:10: threads:", "expected auto or an integer in 1..256, got \"0\"");
    expect_error(PLAIN_LISTEN "threads: 257\n", "t.yaml:2:10: threads:", "got \"257\"");
    expect_error(PLAIN_LISTEN "threads: many\n", "t.yaml:2:10: threads:", "got \"many\"");
    expect_error(PLAIN_LISTEN "threads: [1]\n", "t.yaml:2:10: threads:", "got a sequence");
    expect_error(PLAIN_LISTEN "threads: 010\n", "t.yaml:2:10: threads:", "got \"010\"");
}

static void
test_user_syntax(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN "user: portcullis\n");
    assert_string_equal(c->user, "portcullis");
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "user: _svc-gw.1\n");
    assert_string_equal(c->user, "_svc-gw.1");
    pol_config_free(c);
    expect_error(PLAIN_LISTEN "user: 9lives\n", "t.yaml:2:7: user:", "expected a user name");
    expect_error(PLAIN_LISTEN "user: \"a b\"\n", "t.yaml:2:7: user:", "got \"a b\"");
    expect_error(PLAIN_LISTEN "user: abcdefghijabcdefghijabcdefghijabc\n",
                 "t.yaml:2:7: user:", "at most 32 bytes");
    expect_error(PLAIN_LISTEN "user:\n", "t.yaml:2:6: user:", "expected a user name, got null");
}

static void
test_paths_resolved_against_cwd_in_memory(void **state)
{
    struct pol_config *c;
    char cwd[4096], want[4200];

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    c = load_ok(PLAIN_LISTEN "pid_file: run/p.pid\nacme_webroot: /var/lib/acme\n");
    snprintf(want, sizeof(want), "%s/run/p.pid", cwd);
    assert_string_equal(c->pid_file, want);
    assert_string_equal(c->acme_webroot, "/var/lib/acme");
    pol_config_free(c);
    expect_error(PLAIN_LISTEN "pid_file: {a: b}\n",
                 "t.yaml:2:11: pid_file:", "expected a file path, got a mapping");
    expect_error(PLAIN_LISTEN "acme_webroot: \"\"\n",
                 "t.yaml:2:15: acme_webroot:", "expected a file path, got an empty string");
    expect_error(PLAIN_LISTEN "pid_file: \"/run/a\\tb\"\n",
                 "t.yaml:2:11: pid_file:", "with a control character");
}

static void
test_tls_policy_not_read_from_memory(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "tls_policy: /etc/portcullis/tls-policy.yaml\n",
                 "t.yaml:2:13: tls_policy:", "reading other files is not allowed");
}

/* --- issuers: ------------------------------------------------------------------------------- */

#define ISSUER_HEAD PLAIN_LISTEN "issuers:\n  corp:\n" /* fields start on line 4 */

static void
test_issuer_full(void **state)
{
    struct pol_config *c;
    const struct pol_issuer *is;

    (void)state;
    c = load_ok(ISSUER_HEAD "    issuer: \"https://idp.example.com/\"\n"
                            "    jwks_uri: \"https://idp.example.com/.well-known/jwks.json\"\n"
                            "    ca_file: /etc/ssl/idp.pem\n"
                            "    algorithms: [RS256, PS512, ES384, EdDSA]\n"
                            "    leeway: 1m\n"
                            "    max_token_bytes: 16k\n"
                            "    min_refetch_interval: 10s\n"
                            "    max_stale: 2d\n"
                            "  lab:\n"
                            "    issuer: lab\n"
                            "    jwks_file: keys/jwks.json\n"
                            "    algorithms: [ES256]\n");
    assert_int_equal(c->nissuers, 2);
    is = &c->issuers[0];
    assert_string_equal(is->name, "corp");
    assert_string_equal(is->issuer, "https://idp.example.com/");
    assert_string_equal(is->jwks_uri, "https://idp.example.com/.well-known/jwks.json");
    assert_null(is->jwks_file);
    assert_string_equal(is->ca_file, "/etc/ssl/idp.pem");
    assert_int_equal(is->algorithms, POL_ALG_RS256 | POL_ALG_PS512 | POL_ALG_ES384 | POL_ALG_EDDSA);
    assert_int_equal(is->leeway_ms, 60000);
    assert_int_equal(is->max_token_bytes, 16384);
    assert_int_equal(is->min_refetch_interval_ms, 10000);
    assert_int_equal(is->max_stale_ms, 2 * 86400000ULL);
    assert_int_equal(is->pos.line, 3);
    assert_int_equal(is->index, 0);
    is = &c->issuers[1];
    assert_string_equal(is->name, "lab");
    assert_null(is->jwks_uri);
    assert_non_null(strstr(is->jwks_file, "/keys/jwks.json"));
    assert_true(is->jwks_file[0] == '/');
    assert_int_equal(is->algorithms, POL_ALG_ES256);
    /* defaults */
    assert_int_equal(is->leeway_ms, 30000);
    assert_int_equal(is->max_token_bytes, 8192);
    assert_int_equal(is->min_refetch_interval_ms, 5000);
    assert_int_equal(is->max_stale_ms, 86400000);
    assert_int_equal(is->index, 1);
    pol_config_free(c);
}

static void
test_issuer_hmac_refused(void **state)
{
    (void)state;
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [RS256, HS256]\n",
                 "t.yaml:6:25: issuers.corp.algorithms[1]:",
                 "algorithm HS256 is refused: HMAC with a public JWKS allows key confusion");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [HS384]\n",
                 "t.yaml:6:18: issuers.corp.algorithms[0]:", "algorithm HS384 is refused");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [HS512]\n",
                 "t.yaml:6:18: issuers.corp.algorithms[0]:", "algorithm HS512 is refused");
}

static void
test_issuer_none_refused(void **state)
{
    (void)state;
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [none]\n",
                 "t.yaml:6:18: issuers.corp.algorithms[0]:", "none is never accepted");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [NONE]\n",
                 "t.yaml:6:18: issuers.corp.algorithms[0]:", "none is never accepted");
}

static void
test_issuer_algorithms_checked(void **state)
{
    (void)state;
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [rs256]\n",
                 "t.yaml:6:18: issuers.corp.algorithms[0]:",
                 "expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, "
                 "EdDSA, got \"rs256\"");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: []\n",
                 "t.yaml:6:17: issuers.corp.algorithms:", "expected 1 to 64 algorithms, got 0");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n",
                 "t.yaml:4:5: issuers.corp:", "missing required key \"algorithms\"");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: RS256\n",
                 "t.yaml:6:17: issuers.corp.algorithms:", "expected a sequence, got \"RS256\"");
}

static void
test_issuer_jwks_exactly_one(void **state)
{
    (void)state;
    expect_error(
        ISSUER_HEAD "    issuer: x\n    algorithms: [ES256]\n",
        "t.yaml:4:5: issuers.corp:", "missing jwks_uri or jwks_file (exactly one is required)");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_uri: \"https://a/j\"\n    jwks_file: /j\n"
                             "    algorithms: [ES256]\n",
                 "t.yaml:4:5: issuers.corp:", "jwks_uri and jwks_file exclude each other");
}

static void
test_issuer_jwks_uri_https_only(void **state)
{
    (void)state;
    expect_error(
        ISSUER_HEAD "    issuer: x\n    jwks_uri: \"http://idp/jwks\"\n"
                    "    algorithms: [ES256]\n",
        "t.yaml:5:15: issuers.corp.jwks_uri:", "expected an https:// URL, got \"http://idp/jwks\"");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_uri: \"https://\"\n    algorithms: [ES256]\n",
                 "t.yaml:5:15: issuers.corp.jwks_uri:", "expected an https:// URL");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_uri: \"https://a b/\"\n"
                             "    algorithms: [ES256]\n",
                 "t.yaml:5:15: issuers.corp.jwks_uri:", "expected an https:// URL");
}

static void
test_issuer_ca_file_needs_jwks_uri(void **state)
{
    (void)state;
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    ca_file: /ca.pem\n"
                             "    algorithms: [ES256]\n",
                 "t.yaml:6:14: issuers.corp.ca_file:", "ca_file applies to jwks_uri only");
}

static void
test_issuer_required_and_unknown_keys(void **state)
{
    (void)state;
    expect_error(ISSUER_HEAD "    jwks_file: /j\n    algorithms: [ES256]\n",
                 "t.yaml:4:5: issuers.corp:", "missing required key \"issuer\"");
    expect_error(ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [ES256]\n"
                             "    audience: y\n",
                 "t.yaml:7:5: issuers.corp:", "unknown key \"audience\"");
    expect_error(PLAIN_LISTEN "issuers: [corp]\n",
                 "t.yaml:2:10: issuers:", "expected a mapping, got a sequence");
    expect_error(PLAIN_LISTEN "issuers:\n  \"bad name\": {issuer: x, jwks_file: /j, "
                              "algorithms: [ES256]}\n",
                 "t.yaml:3:3: issuers:", "expected an issuer name");
    expect_error(PLAIN_LISTEN "issuers:\n  corp: https://idp\n",
                 "t.yaml:3:9: issuers.corp:", "expected a mapping, got \"https://idp\"");
}

static void
test_issuer_bounds(void **state)
{
    (void)state;
#define ISS ISSUER_HEAD "    issuer: x\n    jwks_file: /j\n    algorithms: [ES256]\n"
    expect_error(ISS "    leeway: 6m\n",
                 "t.yaml:7:13: issuers.corp.leeway:", "expected a duration from 0ms to 5m");
    expect_error(ISS "    leeway: 30\n", "t.yaml:7:13: issuers.corp.leeway:", "got \"30\"");
    expect_error(ISS "    max_token_bytes: 256\n",
                 "t.yaml:7:22: issuers.corp.max_token_bytes:", "expected a size from 512 to 64k");
    expect_error(ISS "    max_token_bytes: 65537\n",
                 "t.yaml:7:22: issuers.corp.max_token_bytes:", "got \"65537\"");
    expect_error(
        ISS "    min_refetch_interval: 500ms\n",
        "t.yaml:7:27: issuers.corp.min_refetch_interval:", "expected a duration from 1s to 1h");
    expect_error(ISS "    max_stale: 31d\n",
                 "t.yaml:7:16: issuers.corp.max_stale:", "expected a duration from 0ms to 30d");
#undef ISS
}

static void
test_issuer_too_many(void **state)
{
    char yaml[16384];
    int o, i;

    (void)state;
    o = snprintf(yaml, sizeof(yaml), PLAIN_LISTEN "issuers:\n");
    for (i = 0; i < PC_CONF_MAX_ISSUERS + 1; i++)
        o += snprintf(yaml + o, sizeof(yaml) - (size_t)o,
                      "  i%d: {issuer: x, jwks_file: /j, algorithms: [ES256]}\n", i);
    expect_error(yaml, "t.yaml:3:3: issuers:", "at most 64 issuers, got 65");
}

/* --- redis: -------------------------------------------------------------------------------------
 */

static void
test_redis_tcp_urls(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN "redis: {url: \"redis://127.0.0.1\"}\n");
    assert_string_equal(c->redis->url, "redis://127.0.0.1");
    assert_string_equal(c->redis->host, "127.0.0.1");
    assert_int_equal(c->redis->port, 6379);
    assert_int_equal(c->redis->db, 0);
    assert_null(c->redis->user);
    assert_null(c->redis->password);
    assert_null(c->redis->path);
    assert_int_equal(c->redis->timeout_ms, 25);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "redis: {url: \"redis://gw:s3cr%40t@Redis.Internal:6380/15\", "
                             "timeout: 100ms}\n");
    assert_string_equal(c->redis->host, "redis.internal");
    assert_int_equal(c->redis->port, 6380);
    assert_int_equal(c->redis->db, 15);
    assert_string_equal(c->redis->user, "gw");
    assert_string_equal(c->redis->password, "s3cr@t");
    assert_int_equal(c->redis->timeout_ms, 100);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "redis: {url: \"redis://:pw@[::1]:7000/\"}\n");
    assert_string_equal(c->redis->host, "::1");
    assert_int_equal(c->redis->port, 7000);
    assert_null(c->redis->user);
    assert_string_equal(c->redis->password, "pw");
    pol_config_free(c);
}

static void
test_redis_unix_url(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN "redis: {url: \"unix:///run/redis/redis.sock?db=3\"}\n");
    assert_null(c->redis->host);
    assert_string_equal(c->redis->path, "/run/redis/redis.sock");
    assert_int_equal(c->redis->db, 3);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "redis: {url: \"unix:///run/redis.sock\"}\n");
    assert_string_equal(c->redis->path, "/run/redis.sock");
    assert_int_equal(c->redis->db, 0);
    pol_config_free(c);
}

static void
test_redis_url_refused(void **state)
{
    (void)state;
#define RURL(u) PLAIN_LISTEN "redis:\n  url: \"" u "\"\n" /* the value at 3:8 */
    expect_error(RURL("http://127.0.0.1"),
                 "t.yaml:3:8: redis.url:", "the scheme must be redis:// or unix://");
    expect_error(RURL("redis://127.0.0.1/16"),
                 "t.yaml:3:8: redis.url:", "the database must be a number from 0 to 15");
    expect_error(RURL("redis://127.0.0.1:0"),
                 "t.yaml:3:8: redis.url:", "the port must be a number from 1 to 65535");
    expect_error(RURL("redis://bad_host!:1"), "t.yaml:3:8: redis.url:", "bad host name");
    expect_error(RURL("redis://[::g]:1"), "t.yaml:3:8: redis.url:", "bad IPv6 address");
    expect_error(RURL("redis://user@h"),
                 "t.yaml:3:8: redis.url:", "must be user:password or :password");
    expect_error(RURL("redis://u:@h"), "t.yaml:3:8: redis.url:", "the password is empty");
    expect_error(RURL("redis://u:%zz@h"), "t.yaml:3:8: redis.url:", "bad %-escape");
    expect_error(RURL("unix://run/redis.sock"),
                 "t.yaml:3:8: redis.url:", "needs an absolute socket path");
    expect_error(RURL("unix:///run/redis.sock?database=1"),
                 "t.yaml:3:8: redis.url:", "the only query is ?db=N");
    expect_error(RURL("redis://a b"), "t.yaml:3:8: redis.url:", "spaces");
    expect_error(PLAIN_LISTEN "redis: {timeout: 5ms}\n",
                 "t.yaml:2:8: redis:", "missing required key \"url\"");
    expect_error(PLAIN_LISTEN "redis: \"redis://h\"\n", "t.yaml:2:8: redis:", "expected a mapping");
    expect_error(PLAIN_LISTEN "redis: {url: [a]}\n", "t.yaml:2:14: redis.url:", "got a sequence");
#undef RURL
}

static void
test_redis_password_never_in_errors(void **state)
{
    static const char yaml[] = PLAIN_LISTEN "redis: {url: \"redis://u:Hunter2Secret@h:99999\"}\n";
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    size_t i;

    (void)state;
    assert_int_equal(pol_config_load_mem(TEST_FILE, yaml, strlen(yaml), false, &c, &e),
                     PC_ERR_INVALID);
    assert_int_equal(e.n, 1);
    for (i = 0; i < e.n; i++)
        assert_null(strstr(e.msg[i], "Hunter2"));
    assert_non_null(strstr(e.msg[0], "the value is not shown"));
    pol_errors_clear(&e);
}

static void
test_redis_timeout_bounds(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "redis: {url: \"redis://h\", timeout: 0ms}\n",
                 "t.yaml:2:36: redis.timeout:", "expected a duration from 1ms to 10s");
    expect_error(PLAIN_LISTEN "redis: {url: \"redis://h\", timeout: 11s}\n",
                 "t.yaml:2:36: redis.timeout:", "got \"11s\"");
    expect_error(PLAIN_LISTEN "redis: {url: \"redis://h\", db: 1}\n",
                 "t.yaml:2:27: redis:", "unknown key \"db\"; expected one of: url, timeout");
}

/* --- admin: and log: ----------------------------------------------------------------------------
 */

static void
test_admin_loopback(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN "admin: {listen: \"127.0.0.1:9901\"}\n");
    assert_string_equal(c->admin_listen, "127.0.0.1:9901");
    assert_int_equal(c->admin_addr.ss_family, AF_INET);
    assert_int_equal(c->admin_addrlen, sizeof(struct sockaddr_in));
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "admin: {listen: \"[::1]:9901\"}\n");
    assert_int_equal(c->admin_addr.ss_family, AF_INET6);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "admin: {listen: \"127.8.9.10:9901\"}\n");
    pol_config_free(c);
}

static void
test_admin_public_needs_allow_public(void **state)
{
    struct pol_config *c;

    (void)state;
    expect_error(PLAIN_LISTEN "admin: {listen: \"0.0.0.0:9901\"}\n", "t.yaml:2:17: admin.listen:",
                 "admin.listen must be a loopback address unless allow_public: true");
    expect_error(PLAIN_LISTEN "admin: {listen: \"[::]:9901\"}\n",
                 "t.yaml:2:17: admin.listen:", "must be a loopback address");
    expect_error(PLAIN_LISTEN "admin: {listen: \"10.1.2.3:9901\", allow_public: false}\n",
                 "t.yaml:2:17: admin.listen:", "must be a loopback address");
    c = load_ok(PLAIN_LISTEN "admin: {listen: \"0.0.0.0:9901\", allow_public: true}\n");
    assert_string_equal(c->admin_listen, "0.0.0.0:9901");
    pol_config_free(c);
}

static void
test_admin_refused_shapes(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "admin: {allow_public: true}\n",
                 "t.yaml:2:8: admin:", "missing required key \"listen\"");
    expect_error(PLAIN_LISTEN "admin: {listen: \"localhost:9901\"}\n",
                 "t.yaml:2:17: admin.listen:", "host names are not accepted");
    expect_error(PLAIN_LISTEN "admin: {listen: \"127.0.0.1:1\", metrics: true}\n",
                 "t.yaml:2:32: admin:", "unknown key \"metrics\"");
    expect_error(PLAIN_LISTEN "admin: \"127.0.0.1:9901\"\n",
                 "t.yaml:2:8: admin:", "expected a mapping");
}

static void
test_log_values(void **state)
{
    struct pol_config *c;
    char cwd[4096], want[4200];

    (void)state;
    c = load_ok(PLAIN_LISTEN "log: {access: stderr, level: debug}\n");
    assert_int_equal(c->access_log, POL_LOG_STDERR);
    assert_int_equal(c->log_level, LOG_DEBUG);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "log: {access: \"off\", level: error}\n");
    assert_int_equal(c->access_log, POL_LOG_OFF);
    assert_int_equal(c->log_level, LOG_ERR);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "log: {access: stdout, level: warn}\n");
    assert_int_equal(c->access_log, POL_LOG_STDOUT);
    assert_int_equal(c->log_level, LOG_WARNING);
    assert_null(c->access_log_path);
    pol_config_free(c);
    c = load_ok(PLAIN_LISTEN "log: {access: /var/log/portcullis/access.log}\n");
    assert_int_equal(c->access_log, POL_LOG_FILE);
    assert_string_equal(c->access_log_path, "/var/log/portcullis/access.log");
    pol_config_free(c);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    c = load_ok(PLAIN_LISTEN "log: {access: logs/access.log}\n");
    snprintf(want, sizeof(want), "%s/logs/access.log", cwd);
    assert_string_equal(c->access_log_path, want);
    pol_config_free(c);
}

static void
test_log_refused(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "log: {access: stdot}\n", "t.yaml:2:15: log.access:",
                 "expected stdout, stderr, off or a path containing '/', got \"stdot\"");
    expect_error(PLAIN_LISTEN "log: {level: verbose}\n", "t.yaml:2:14: log.level:",
                 "expected one of error, warn, info, debug, got \"verbose\"");
    expect_error(PLAIN_LISTEN "log: {format: json}\n",
                 "t.yaml:2:7: log:", "unknown key \"format\"; expected one of: access, level");
}

/* --- limits: -------------------------------------------------------------------------------------
 */

static void
test_limits_set(void **state)
{
    struct pol_config *c;

    (void)state;
    c = load_ok(PLAIN_LISTEN "limits:\n"
                             "  max_header_bytes: 64k\n"
                             "  max_headers: 50\n"
                             "  max_body_bytes: 0\n"
                             "  handshake_timeout: 5s\n"
                             "  request_timeout: 20s\n"
                             "  http2_idle_timeout: 1m\n"
                             "  upstream_timeout: 250ms\n"
                             "  upstream_keepalive: 0s\n"
                             "  shutdown_timeout: 2m\n"
                             "  http2_max_concurrent_streams: 32\n"
                             "  http2_max_resets: 1000\n");
    assert_int_equal(c->limits.max_header_bytes, 65536);
    assert_int_equal(c->limits.max_headers, 50);
    assert_int_equal(c->limits.max_body_bytes, 0);
    assert_int_equal(c->limits.handshake_timeout_ms, 5000);
    assert_int_equal(c->limits.request_timeout_ms, 20000);
    assert_int_equal(c->limits.http2_idle_timeout_ms, 60000);
    assert_int_equal(c->limits.upstream_timeout_ms, 250);
    assert_int_equal(c->limits.upstream_keepalive_ms, 0);
    assert_int_equal(c->limits.shutdown_timeout_ms, 120000);
    assert_int_equal(c->limits.http2_max_concurrent_streams, 32);
    assert_int_equal(c->limits.http2_max_resets, 1000);
    pol_config_free(c);
}

static void
test_limits_bounds(void **state)
{
    (void)state;
#define LIM(kv) PLAIN_LISTEN "limits:\n  " kv "\n"
    expect_error(LIM("max_header_bytes: 512"), "t.yaml:3:21: limits.max_header_bytes:",
                 "expected a size from 1k to 1m (bytes, or a number and k, m or g), got \"512\"");
    expect_error(LIM("max_header_bytes: 2m"), "t.yaml:3:21: limits.max_header_bytes:", "2m");
    expect_error(LIM("max_headers: 0"),
                 "t.yaml:3:16: limits.max_headers:", "expected an integer in 1..1000, got \"0\"");
    expect_error(LIM("max_headers: 1001"), "t.yaml:3:16: limits.max_headers:", "1001");
    expect_error(LIM("max_headers: 010"), "t.yaml:3:16: limits.max_headers:",
                 "expected an integer without leading zeros, got \"010\"");
    expect_error(LIM("max_body_bytes: 2g"),
                 "t.yaml:3:19: limits.max_body_bytes:", "expected a size from 0 to 1g");
    expect_error(LIM("max_body_bytes: -1"), "t.yaml:3:19: limits.max_body_bytes:", "\"-1\"");
    expect_error(LIM("handshake_timeout: 0s"),
                 "t.yaml:3:22: limits.handshake_timeout:", "expected a duration from 1s to 5m");
    expect_error(LIM("request_timeout: 2h"),
                 "t.yaml:3:20: limits.request_timeout:", "expected a duration from 1s to 1h");
    expect_error(LIM("http2_idle_timeout: 10"),
                 "t.yaml:3:23: limits.http2_idle_timeout:", "got \"10\"");
    expect_error(LIM("upstream_timeout: 5ms"),
                 "t.yaml:3:21: limits.upstream_timeout:", "expected a duration from 10ms to 1h");
    expect_error(LIM("upstream_keepalive: 11m"),
                 "t.yaml:3:23: limits.upstream_keepalive:", "expected a duration from 0ms to 10m");
    expect_error(LIM("shutdown_timeout: 2h"),
                 "t.yaml:3:21: limits.shutdown_timeout:", "expected a duration from 0ms to 1h");
    expect_error(LIM("http2_max_concurrent_streams: 1001"),
                 "t.yaml:3:33: limits.http2_max_concurrent_streams:", "1..1000");
    expect_error(LIM("http2_max_resets: 0"), "t.yaml:3:21: limits.http2_max_resets:", "1..100000");
    expect_error(LIM("max_streams: 1"), "t.yaml:3:3: limits:", "unknown key \"max_streams\"");
#undef LIM
}

/* --- include: ------------------------------------------------------------------------------------
 */

static void
test_include_refused_in_memory(void **state)
{
    (void)state;
    expect_error(PLAIN_LISTEN "include: policy.d/*.yaml\n",
                 "t.yaml:2:10: include:", "include: is not allowed in this load");
}

static int
load_file(const char *path, struct pol_config **c, struct pol_errors *e)
{
    *c = NULL;
    return pol_config_load(path, c, e);
}

static void
test_include_two_files(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], want[4200];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    char pd[4200];

    (void)state;
    snprintf(pd, sizeof(pd), "%s/policy.d", dir);
    assert_int_equal(mkdir(pd, 0700), 0);
    write_file(pd, "b.yaml", ROUTE_FILE("b", "b.example.com"), NULL);
    write_file(pd, "a.yaml",
               "routes:\n"
               "  - name: a\n"
               "    match: {host: a.example.com}\n"
               "    upstream: {url: \"https://a.internal\", ca_file: ca/a.pem}\n"
               "    jwt: off\n",
               NULL);
    write_file(pd, "c.yaml.disabled", "this: is not loaded\n", NULL);
    write_file(pd, "d.yaml", "# nothing but a comment\n", NULL);
    write_file(dir, "portcullis.yaml",
               PLAIN_LISTEN "include: policy.d/*.yaml\n"
                            "routes:\n"
                            "  - name: main\n"
                            "    match: {host: m}\n"
                            "    upstream: http://m\n"
                            "    jwt: off\n",
               main_path);
    if (load_file(main_path, &c, &e) != PC_OK)
        print_errors(&e);
    assert_non_null(c);
    assert_string_equal(c->path, main_path);
    assert_int_equal(c->nroutes, 3);
    /* main file routes first, then included files in sorted order */
    assert_string_equal(c->routes[0].name, "main");
    assert_string_equal(c->routes[1].name, "a");
    assert_string_equal(c->routes[2].name, "b");
    snprintf(want, sizeof(want), "%s/policy.d/a.yaml", dir);
    assert_string_equal(c->routes[1].pos.file, want);
    assert_int_equal(c->routes[1].pos.line, 2);
    /* relative paths in an included file are relative to that file */
    snprintf(want, sizeof(want), "%s/policy.d/ca/a.pem", dir);
    assert_string_equal(c->routes[1].upstream->ca_file, want);
    assert_ptr_equal(pol_route_match(c, "B.example.com", 13, "/x", 2, POL_M_GET), &c->routes[2]);
    pol_config_free(c);
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_duplicate_name_across_files(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], where[4300], first[4300];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    write_file(dir, "one.yaml", ROUTE_FILE("same", "one.example.com"), NULL);
    write_file(dir, "two.yaml", ROUTE_FILE("same", "two.example.com"), NULL);
    write_file(dir, "main.conf", PLAIN_LISTEN "include: [\"*.yaml\"]\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    assert_null(c);
    snprintf(where, sizeof(where), "%s/two.yaml:2:11: routes[0].name:", dir);
    snprintf(first, sizeof(first),
             "duplicate route name \"same\" (first defined at %s/one.yaml:2:11)", dir);
    if (!errors_have(&e, where, first))
        print_errors(&e);
    assert_true(errors_have(&e, where, first));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_only_routes_allowed(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], where[4300];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    write_file(dir, "x.yaml", ROUTE_FILE("x", "x.example.com") "threads: 4\n", NULL);
    write_file(dir, "main.conf", PLAIN_LISTEN "include: \"*.yaml\"\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    assert_null(c);
    snprintf(where, sizeof(where), "%s/x.yaml:6:1:", dir);
    if (!errors_have(&e, where, "only routes: is allowed in an included file, got \"threads\""))
        print_errors(&e);
    assert_true(errors_have(&e, where, "only routes: is allowed in an included file"));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_errors_in_included_file(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], where[4300];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    write_file(dir, "billing.yaml",
               "routes:\n"
               "  - name: billing\n"
               "    match: {host: billing.example.com}\n"
               "    upstream: \"http://10.0.0.1\"\n"
               "    jwt: off\n"
               "    rate_limit:\n"
               "      rate: 100 per second\n",
               NULL);
    write_file(dir, "broken.yaml", "routes: [\n", NULL);
    write_file(dir, "main.conf", PLAIN_LISTEN "include: \"*.yaml\"\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    snprintf(where, sizeof(where), "%s/billing.yaml:7:13: routes[0].rate_limit.rate:", dir);
    assert_true(errors_have(&e, where, "expected N/s, N/m or N/h, got \"100 per second\""));
    snprintf(where, sizeof(where), "%s/broken.yaml:2:1:", dir);
    assert_true(errors_have(&e, where, NULL));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_nothing_matched_is_fine(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    char pd[4200];

    (void)state;
    snprintf(pd, sizeof(pd), "%s/policy.d", dir);
    assert_int_equal(mkdir(pd, 0700), 0);
    write_file(dir, "main.conf", PLAIN_LISTEN "include: policy.d/*.yaml\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_OK);
    assert_int_equal(c->nroutes, 0);
    assert_null(pol_route_match(c, "x", 1, "/", 1, POL_M_GET));
    pol_config_free(c);
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_missing_directory_refused(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    write_file(dir, "main.conf", PLAIN_LISTEN "include: nodir/*.yaml\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    assert_null(c);
    assert_non_null(strstr(e.msg[0], "main.conf:2:10: include: cannot read"));
    assert_non_null(strstr(e.msg[0], "No such file or directory"));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_refused_shapes(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    write_file(dir, "main.conf", PLAIN_LISTEN "include: {a: b}\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    assert_non_null(strstr(e.msg[0], "main.conf:2:10: include: expected a glob or a sequence"));
    pol_errors_clear(&e);
    write_file(dir, "main.conf", PLAIN_LISTEN "include: [\"a/*.yaml\", [x]]\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    if (!errors_have(&e, main_path, ":2:23: include[1]: expected a file path, got a sequence"))
        print_errors(&e);
    assert_true(
        errors_have(&e, main_path, ":2:23: include[1]: expected a file path, got a sequence"));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_include_too_many_files(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], name[32];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    int i;

    (void)state;
    for (i = 0; i < PC_CONF_MAX_FILES + 1; i++) {
        snprintf(name, sizeof(name), "f%03d.yaml", i);
        write_file(dir, name, "routes: []\n", NULL);
    }
    write_file(dir, "main.conf", PLAIN_LISTEN "include: \"*.yaml\"\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    assert_null(c);
    assert_true(errors_have(&e, main_path, ":2:10: include: include: matches more than 256 files"));
    pol_errors_clear(&e);
    write_file(dir, "main.conf",
               PLAIN_LISTEN "include: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]\n",
               main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    assert_true(errors_have(&e, main_path,
                            ":2:10: include: expected a glob or a sequence of at "
                            "most 16 globs, got more"));
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_load_missing_file(void **state)
{
    struct pol_errors e = {0};
    struct pol_config *c = (struct pol_config *)&e;

    (void)state;
    assert_int_equal(pol_config_load("/nonexistent/portcullis.yaml", &c, &e), PC_ERR_IO);
    assert_null(c);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msg[0], "/nonexistent/portcullis.yaml: No such file or directory");
    pol_errors_clear(&e);
}

static void
test_load_errs_may_be_null(void **state)
{
    struct pol_config *c = NULL;
    static const char bad[] = "listen: 1\n";

    (void)state;
    assert_int_equal(pol_config_load_mem(TEST_FILE, bad, strlen(bad), false, &c, NULL),
                     PC_ERR_INVALID);
    assert_null(c);
}

/* --- the full round trip -------------------------------------------------------------------------
 */

static void
test_config_full_round_trip(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], want[4300];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    const struct pol_route *r;

    (void)state;
    write_file(dir, "tls.yaml",
               "profile: intermediate\n"
               "ciphers: [ECDHE-ECDSA-AES128-GCM-SHA256]\n"
               "groups: [X25519]\n"
               "hsts: {max_age: 63072000, include_subdomains: true, preload: true}\n"
               "session_tickets: {rotate: 6h}\n",
               NULL);
    write_file(dir, "portcullis.yaml",
               "listen:\n"
               "  - address: \"0.0.0.0:443\"\n"
               "    certificates:\n"
               "      - {cert: certs/full.pem, key: certs/key.pem}\n"
               "    client_ca: ca.pem\n"
               "    crl: crl.pem\n"
               "  - address: \"0.0.0.0:80\"\n"
               "    plain: true\n"
               "threads: 3\n"
               "user: portcullis\n"
               "pid_file: /run/portcullis/portcullis.pid\n"
               "acme_webroot: acme\n"
               "tls_policy: tls.yaml\n"
               "issuers:\n"
               "  corp:\n"
               "    issuer: \"https://idp.example.com/\"\n"
               "    jwks_uri: \"https://idp.example.com/jwks.json\"\n"
               "    algorithms: [RS256, ES256]\n"
               "redis: {url: \"redis://127.0.0.1:6379/1\", timeout: 30ms}\n"
               "admin: {listen: \"127.0.0.1:9901\"}\n"
               "log: {access: access.log/x, level: warn}\n"
               "limits: {upstream_timeout: 2s}\n"
               "routes:\n"
               "  - name: billing-api\n"
               "    match: {host: Billing.Example.com, path_prefix: /api/, methods: [GET, "
               "POST]}\n"
               "    upstream: {url: \"https://10.0.0.12:8443/\", ca_file: up.pem, timeout: "
               "5s}\n"
               "    mtls:\n"
               "      allow: [\"spiffe://example.com/ns/prod/sa/*\", \"dns:*.svc.example."
               "com\", \"email:*@example.com\", \"cn:ops-*\"]\n"
               "    jwt:\n"
               "      issuer: corp\n"
               "      audience: billing\n"
               "      scopes: [billing:read, billing:write]\n"
               "      bind_to_client_cert: true\n"
               "      forward_token: true\n"
               "      claims_to_headers: {email: X-Auth-Email, tenant: x-tenant}\n"
               "    rate_limit: {key: subject, rate: 100/m, burst: 250, "
               "on_backend_failure: local}\n"
               "    headers: {set: {X-Env: prod, X-Empty: \"\"}}\n"
               "  - name: wild\n"
               "    match: {host: \"*.example.com\"}\n"
               "    upstream: \"https://10.0.0.12:8443\"\n"
               "    jwt: false\n"
               "  - name: any\n"
               "    match: {host: \"*\", path_prefix: /health}\n"
               "    upstream: \"http://[::1]:8080\"\n"
               "    jwt: off\n"
               "    rate_limit: {rate: 5/h}\n",
               main_path);
    if (load_file(main_path, &c, &e) != PC_OK)
        print_errors(&e);
    assert_non_null(c);
    /* top level */
    assert_int_equal(c->nlisteners, 2);
    snprintf(want, sizeof(want), "%s/certs/full.pem", dir);
    assert_string_equal(c->listeners[0].certs[0].cert, want);
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    assert_string_equal(c->listeners[0].client_ca, want);
    assert_true(c->listeners[1].plain);
    assert_int_equal(c->threads, 3);
    assert_string_equal(c->user, "portcullis");
    assert_string_equal(c->pid_file, "/run/portcullis/portcullis.pid");
    snprintf(want, sizeof(want), "%s/acme", dir);
    assert_string_equal(c->acme_webroot, want);
    /* tls_policy: loaded from the file */
    snprintf(want, sizeof(want), "%s/tls.yaml", dir);
    assert_string_equal(c->tls.path, want);
    assert_int_equal(c->tls.profile, POL_TLS_INTERMEDIATE);
    assert_string_equal(c->tls.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_null(c->tls.ciphersuites);
    assert_string_equal(c->tls.groups, "X25519");
    assert_int_equal(c->tls.hsts_max_age, 63072000);
    assert_true(c->tls.hsts_include_subdomains);
    assert_true(c->tls.hsts_preload);
    assert_int_equal(c->tls.ticket_rotate_ms, 6 * 3600000);
    assert_int_equal(c->nissuers, 1);
    assert_string_equal(c->redis->host, "127.0.0.1");
    assert_int_equal(c->redis->db, 1);
    assert_int_equal(c->redis->timeout_ms, 30);
    assert_string_equal(c->admin_listen, "127.0.0.1:9901");
    assert_int_equal(c->access_log, POL_LOG_FILE);
    snprintf(want, sizeof(want), "%s/access.log/x", dir);
    assert_string_equal(c->access_log_path, want);
    assert_int_equal(c->log_level, LOG_WARNING);
    assert_int_equal(c->limits.upstream_timeout_ms, 2000);
    /* routes */
    assert_int_equal(c->nroutes, 3);
    r = &c->routes[0];
    assert_string_equal(r->name, "billing-api");
    assert_int_equal(r->index, 0);
    assert_string_equal(r->pos.file, main_path);
    assert_int_equal(r->pos.line, 24);
    assert_int_equal(r->pos.col, 5);
    assert_int_equal(r->host_kind, POL_HOST_EXACT);
    assert_string_equal(r->host, "billing.example.com");
    assert_string_equal(r->host_text, "Billing.Example.com");
    assert_string_equal(r->path_prefix, "/api/");
    assert_int_equal(r->methods, POL_M_GET | POL_M_POST);
    assert_string_equal(r->upstream->url, "https://10.0.0.12:8443");
    assert_true(r->upstream->tls);
    assert_string_equal(r->upstream->host, "10.0.0.12");
    assert_int_equal(r->upstream->port, 8443);
    snprintf(want, sizeof(want), "%s/up.pem", dir);
    assert_string_equal(r->upstream->ca_file, want);
    assert_int_equal(r->upstream_timeout_ms, 5000);
    assert_int_equal(r->nallow, 4);
    assert_int_equal(r->allow[0].kind, POL_PAT_URI);
    assert_string_equal(r->allow[0].glob, "spiffe://example.com/ns/prod/sa/*");
    assert_int_equal(r->allow[1].kind, POL_PAT_DNS);
    assert_string_equal(r->allow[1].glob, "*.svc.example.com");
    assert_string_equal(r->allow[1].text, "dns:*.svc.example.com");
    assert_int_equal(r->allow[2].kind, POL_PAT_EMAIL);
    assert_string_equal(r->allow[2].glob, "*@example.com");
    assert_int_equal(r->allow[3].kind, POL_PAT_CN);
    assert_string_equal(r->allow[3].glob, "ops-*");
    assert_non_null(r->jwt);
    assert_ptr_equal(r->jwt->issuer, &c->issuers[0]);
    assert_string_equal(r->jwt->audience, "billing");
    assert_int_equal(r->jwt->nscopes, 2);
    assert_string_equal(r->jwt->scopes[1], "billing:write");
    assert_true(r->jwt->bind_to_client_cert);
    assert_true(r->jwt->forward_token);
    assert_int_equal(r->jwt->nclaims, 2);
    assert_string_equal(r->jwt->claims[0].claim, "email");
    assert_string_equal(r->jwt->claims[0].header, "x-auth-email");
    assert_string_equal(r->jwt->claims[1].header, "x-tenant");
    assert_non_null(r->rate_limit);
    assert_int_equal(r->rate_limit->key, POL_RL_KEY_SUBJECT);
    assert_int_equal(r->rate_limit->count, 100);
    assert_int_equal(r->rate_limit->period_ms, 60000);
    assert_int_equal(r->rate_limit->burst, 250);
    assert_int_equal(r->rate_limit->on_backend_failure, POL_RL_FAIL_LOCAL);
    assert_int_equal(r->nhset, 2);
    assert_string_equal(r->hset[0].name, "x-env");
    assert_string_equal(r->hset[0].value, "prod");
    assert_string_equal(r->hset[1].name, "x-empty");
    assert_string_equal(r->hset[1].value, "");
    r = &c->routes[1];
    assert_int_equal(r->host_kind, POL_HOST_WILDCARD);
    assert_string_equal(r->host, ".example.com");
    assert_null(r->jwt);
    assert_null(r->rate_limit);
    assert_int_equal(r->nallow, 0);
    assert_int_equal(r->methods, POL_M_ALL);
    assert_string_equal(r->path_prefix, "/");
    assert_int_equal(r->upstream_timeout_ms, 2000); /* limits.upstream_timeout */
    /* same url, no ca_file: another upstream than billing's */
    assert_ptr_not_equal(r->upstream, c->routes[0].upstream);
    r = &c->routes[2];
    assert_int_equal(r->host_kind, POL_HOST_ANY);
    assert_string_equal(r->upstream->host, "::1");
    assert_string_equal(r->upstream->url, "http://[::1]:8080");
    assert_false(r->upstream->tls);
    assert_int_equal(r->rate_limit->key, POL_RL_KEY_IDENTITY);
    assert_int_equal(r->rate_limit->count, 5);
    assert_int_equal(r->rate_limit->period_ms, 3600000);
    assert_int_equal(r->rate_limit->burst, 5);
    assert_int_equal(r->rate_limit->on_backend_failure, POL_RL_FAIL_DENY);
    assert_int_equal(c->nupstreams, 3);
    assert_int_equal(c->upstreams[2].index, 2);
    assert_ptr_equal(pol_route_match(c, "billing.example.com", 19, "/api/x", 6, POL_M_GET),
                     &c->routes[0]);
    pol_config_free(c);
    pol_errors_clear(&e);
    rm_tree(dir);
}

static void
test_tls_policy_file_errors_positioned(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], where[4300];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    write_file(dir, "tls.yaml", "profile: modern\nhsts: {max_age: 100, preload: true}\n", NULL);
    write_file(dir, "main.conf", PLAIN_LISTEN "tls_policy: tls.yaml\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    snprintf(where, sizeof(where), "%s/tls.yaml:2:31: hsts.preload:", dir);
    assert_true(errors_have(&e, where, "preload requires max_age of at least 31536000"));
    pol_errors_clear(&e);
    write_file(dir, "main.conf", PLAIN_LISTEN "tls_policy: missing.yaml\n", main_path);
    assert_int_equal(load_file(main_path, &c, &e), PC_ERR_INVALID);
    snprintf(where, sizeof(where), "%s/main.conf:2:13: tls_policy: cannot read %s/missing.yaml",
             dir, dir);
    assert_true(errors_have(&e, where, "No such file or directory"));
    pol_errors_clear(&e);
    rm_tree(dir);
}

/* --- the default files
 * ---------------------------------------------------------------------------- */

static void
test_default_files_load(void **state)
{
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    /* tests run from the top of the tree */
    if (pol_config_load("etc/portcullis.yaml", &c, &e) != PC_OK)
        print_errors(&e);
    assert_non_null(c);
    assert_non_null(c->tls.path);
    assert_int_equal(c->tls.profile, POL_TLS_MODERN);
    assert_true(c->nlisteners >= 1);
    assert_non_null(c->admin_listen);
    /* a default install exposes nothing */
    assert_int_equal(c->nroutes, 0);
    assert_null(pol_route_match(c, "example.com", 11, "/", 1, POL_M_GET));
    pol_config_free(c);
    pol_errors_clear(&e);
}

static void
test_default_example_policy_loads(void **state)
{
    char *dir = make_tmpdir(), main_path[POL_TEST_PATH_MAX], cwd[4096], yaml[8192];
    struct pol_errors e = {0};
    struct pol_config *c = NULL;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(yaml, sizeof(yaml),
             PLAIN_LISTEN "issuers:\n"
                          "  corp:\n"
                          "    issuer: \"https://idp.example.com/\"\n"
                          "    jwks_uri: \"https://idp.example.com/.well-known/jwks.json\"\n"
                          "    algorithms: [RS256, ES256]\n"
                          "include: %s/packaging/examples/policy.d/*.yaml\n",
             cwd);
    write_file(dir, "main.conf", yaml, main_path);
    if (load_file(main_path, &c, &e) != PC_OK)
        print_errors(&e);
    assert_non_null(c);
    /* /usr/share/doc/portcullis/examples/policy.d: every file, all at once */
    assert_true(c->nroutes >= 7);
    pol_config_free(c);
    pol_errors_clear(&e);
    rm_tree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_anchor_refused),
        cmocka_unit_test(test_yaml_alias_refused),
        cmocka_unit_test(test_yaml_tag_refused),
        cmocka_unit_test(test_yaml_duplicate_key_refused),
        cmocka_unit_test(test_yaml_multiple_documents_refused),
        cmocka_unit_test(test_yaml_non_scalar_key_refused),
        cmocka_unit_test(test_yaml_too_deep_refused),
        cmocka_unit_test(test_yaml_depth_at_limit_accepted_by_parser),
        cmocka_unit_test(test_yaml_too_many_nodes_refused),
        cmocka_unit_test(test_yaml_file_too_large_refused),
        cmocka_unit_test(test_yaml_long_scalar_refused),
        cmocka_unit_test(test_yaml_embedded_nul_refused),
        cmocka_unit_test(test_yaml_raw_control_byte_refused),
        cmocka_unit_test(test_yaml_syntax_error_has_position),
        cmocka_unit_test(test_yaml_empty_file_refused),
        cmocka_unit_test(test_config_unknown_top_key_lists_expected),
        cmocka_unit_test(test_config_top_level_not_mapping),
        cmocka_unit_test(test_config_listen_required),
        cmocka_unit_test(test_config_errors_collected_and_capped),
        cmocka_unit_test(test_config_minimal_defaults),
        cmocka_unit_test(test_listen_wrong_shapes),
        cmocka_unit_test(test_listen_too_many),
        cmocka_unit_test(test_listen_address_forms),
        cmocka_unit_test(test_listen_address_refused),
        cmocka_unit_test(test_listen_duplicate_address_refused),
        cmocka_unit_test(test_listen_tls_needs_client_ca),
        cmocka_unit_test(test_listen_tls_needs_certificates),
        cmocka_unit_test(test_listen_plain_refuses_tls_keys),
        cmocka_unit_test(test_listen_tls_paths_resolved),
        cmocka_unit_test(test_threads_values),
        cmocka_unit_test(test_threads_refused),
        cmocka_unit_test(test_user_syntax),
        cmocka_unit_test(test_paths_resolved_against_cwd_in_memory),
        cmocka_unit_test(test_tls_policy_not_read_from_memory),
        cmocka_unit_test(test_issuer_full),
        cmocka_unit_test(test_issuer_hmac_refused),
        cmocka_unit_test(test_issuer_none_refused),
        cmocka_unit_test(test_issuer_algorithms_checked),
        cmocka_unit_test(test_issuer_jwks_exactly_one),
        cmocka_unit_test(test_issuer_jwks_uri_https_only),
        cmocka_unit_test(test_issuer_ca_file_needs_jwks_uri),
        cmocka_unit_test(test_issuer_required_and_unknown_keys),
        cmocka_unit_test(test_issuer_bounds),
        cmocka_unit_test(test_issuer_too_many),
        cmocka_unit_test(test_redis_tcp_urls),
        cmocka_unit_test(test_redis_unix_url),
        cmocka_unit_test(test_redis_url_refused),
        cmocka_unit_test(test_redis_password_never_in_errors),
        cmocka_unit_test(test_redis_timeout_bounds),
        cmocka_unit_test(test_admin_loopback),
        cmocka_unit_test(test_admin_public_needs_allow_public),
        cmocka_unit_test(test_admin_refused_shapes),
        cmocka_unit_test(test_log_values),
        cmocka_unit_test(test_log_refused),
        cmocka_unit_test(test_limits_set),
        cmocka_unit_test(test_limits_bounds),
        cmocka_unit_test(test_include_refused_in_memory),
        cmocka_unit_test(test_include_two_files),
        cmocka_unit_test(test_include_duplicate_name_across_files),
        cmocka_unit_test(test_include_only_routes_allowed),
        cmocka_unit_test(test_include_errors_in_included_file),
        cmocka_unit_test(test_include_nothing_matched_is_fine),
        cmocka_unit_test(test_include_missing_directory_refused),
        cmocka_unit_test(test_include_refused_shapes),
        cmocka_unit_test(test_include_too_many_files),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_errs_may_be_null),
        cmocka_unit_test(test_config_full_round_trip),
        cmocka_unit_test(test_tls_policy_file_errors_positioned),
        cmocka_unit_test(test_default_files_load),
        cmocka_unit_test(test_default_example_policy_loads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
