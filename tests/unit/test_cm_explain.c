/*
 * certmgr/cm_explain.c: `policy explain` on objects built in memory (a
 * configuration from YAML, certificates and a CRL made with OpenSSL, a JWKS
 * and tokens made with the token tools): the decision of each stage and the
 * text and JSON it is printed as.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/pem.h>

#include "authn/authn.h"
#include "authn/authn_jwt.h"
#include "certmgr/cm.h"
#include "common/pc_err.h"
#include "policy/pol.h"
#include "tests/unit/certgen.h"

#define ISS "https://idp.t.test/"

static const char yaml[] =
    "listen:\n"
    "  - address: \"127.0.0.1:8443\"\n"
    "    certificates: [{ cert: /x/server.pem, key: /x/server.key }]\n"
    "    client_ca: /x/ca.pem\n"
    "issuers:\n"
    "  corp: { issuer: \"" ISS "\", jwks_file: /x/jwks.json, algorithms: [ES256] }\n"
    "  remote: { issuer: \"https://idp2.t.test/\", jwks_uri: \"https://idp2.t.test/jwks\",\n"
    "            algorithms: [ES256] }\n"
    "routes:\n"
    "  - name: api\n"
    "    match: { host: api.t.test, path_prefix: /api/, methods: [GET, HEAD] }\n"
    "    upstream: \"http://127.0.0.1:9\"\n"
    "    mtls: { allow: [\"spiffe://t.test/ns/*\"] }\n"
    "    jwt: { issuer: corp, audience: billing, scopes: [billing:read] }\n"
    "    rate_limit: { key: identity, rate: 100/s, burst: 200 }\n"
    "  - name: bound\n"
    "    match: { host: api.t.test, path_prefix: /bound/ }\n"
    "    upstream: \"http://127.0.0.1:9\"\n"
    "    jwt: { issuer: corp, audience: billing, bind_to_client_cert: true }\n"
    "  - name: open\n"
    "    match: { host: api.t.test, path_prefix: /open/ }\n"
    "    upstream: \"http://127.0.0.1:9\"\n"
    "    jwt: off\n"
    "  - name: remote\n"
    "    match: { host: api.t.test, path_prefix: /remote/ }\n"
    "    upstream: \"http://127.0.0.1:9\"\n"
    "    jwt: { issuer: remote, audience: billing }\n";

static struct pol_config *cfg;
static EVP_PKEY *ca_key, *leaf_key, *other_ca_key, *signer, *stranger;
static X509 *ca, *other_ca, *web, *other, *expired, *server_only, *revoked, *foreign;
static STACK_OF(X509) * cas;
static struct authn_crlset *crl;
static struct authn_keyset *keys[2];
static char crl_path[] = "/tmp/test_cm_explain_crl_XXXXXX";

static X509 *
client(const char *cn, long serial, const char *san, const char *eku, long from, long to)
{
    return tg_cert(cn, leaf_key, ca, ca_key, serial, san, eku, from, to);
}

static void
load_crl(void)
{
    static const long serials[] = {7};
    X509_CRL *c = tg_crl(ca, ca_key, serials, 1, 3600);
    int fd = mkstemp(crl_path);
    FILE *f = fdopen(fd, "w");

    assert_non_null(f);
    assert_int_equal(PEM_write_X509_CRL(f, c), 1);
    fclose(f);
    X509_CRL_free(c);
    assert_int_equal(authn_crlset_load(crl_path, cas, &crl), PC_OK);
}

static void
load_keys(void)
{
    json_t *jwk = NULL, *set;
    char *text, err[256];
    size_t skipped = 0;

    assert_int_equal(cm_jwk_public(signer, &jwk), PC_OK);
    json_object_set_new(jwk, "kid", json_string("k1"));
    set = json_pack("{s:[o]}", "keys", jwk);
    text = json_dumps(set, 0);
    assert_int_equal(
        authn_keyset_parse(text, strlen(text), POL_ALG_ES256, &keys[0], &skipped, err, sizeof(err)),
        PC_OK);
    free(text);
    json_decref(set);
}

static int
setup(void **state)
{
    struct pol_errors e = {0};
    int rc;

    (void)state;
    rc = pol_config_load_mem("t.yaml", yaml, strlen(yaml), false, &cfg, &e);
    if (rc != PC_OK && e.n > 0)
        fprintf(stderr, "%s\n", e.msg[0]);
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_OK);
    ca_key = tg_key();
    leaf_key = tg_key();
    other_ca_key = tg_key();
    signer = tg_key();
    stranger = tg_key();
    ca = tg_cert("Test CA", ca_key, NULL, NULL, 1, NULL, NULL, -60, 86400);
    other_ca = tg_cert("Other CA", other_ca_key, NULL, NULL, 1, NULL, NULL, -60, 86400);
    web = client("web", 2, "URI:spiffe://t.test/ns/web", "clientAuth", -60, 3600);
    other = client("other", 3, "URI:spiffe://t.test/elsewhere/x", "clientAuth", -60, 3600);
    expired = client("old", 4, "URI:spiffe://t.test/ns/old", "clientAuth", -7200, -3600);
    server_only = client("srv", 5, "URI:spiffe://t.test/ns/srv", "serverAuth", -60, 3600);
    revoked = client("gone", 7, "URI:spiffe://t.test/ns/gone", "clientAuth", -60, 3600);
    foreign = tg_cert("web", leaf_key, other_ca, other_ca_key, 2, "URI:spiffe://t.test/ns/web",
                      "clientAuth", -60, 3600);
    cas = sk_X509_new_null();
    X509_up_ref(ca);
    sk_X509_push(cas, ca);
    load_crl();
    load_keys();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    authn_keyset_free(keys[0]);
    authn_crlset_free(crl);
    unlink(crl_path);
    sk_X509_pop_free(cas, X509_free);
    X509_free(ca);
    X509_free(other_ca);
    X509_free(web);
    X509_free(other);
    X509_free(expired);
    X509_free(server_only);
    X509_free(revoked);
    X509_free(foreign);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_ca_key);
    EVP_PKEY_free(signer);
    EVP_PKEY_free(stranger);
    pol_config_free(cfg);
    return 0;
}

/* A token of `key` for `iss`, ttl seconds from now + offset; bound to `bind` when not NULL. */
static char *
token(EVP_PKEY *key, const char *iss, const char *scope, int64_t offset, X509 *bind)
{
    const char *aud[] = {"billing"};
    struct cm_token_spec spec;
    char x5t[CM_JWK_THUMB_LEN + 1];
    json_t *claims = NULL;
    char *tok = NULL;

    memset(&spec, 0, sizeof(spec));
    spec.iss = iss;
    spec.sub = "alice";
    spec.aud = aud;
    spec.naud = 1;
    spec.scope = scope;
    spec.now = (int64_t)time(NULL) + offset;
    spec.ttl = 600;
    assert_int_equal(cm_token_claims(&spec, &claims), PC_OK);
    if (bind != NULL) {
        assert_int_equal(cm_cert_x5t(bind, x5t), PC_OK);
        assert_int_equal(cm_token_bind(claims, x5t), PC_OK);
    }
    assert_int_equal(cm_token_sign(key, POL_ALG_ES256, "k1", claims, &tok), PC_OK);
    json_decref(claims);
    return tok;
}

struct run {
    struct cm_explain x;
    char *text;
    size_t len;
};

static struct run *
explain(X509 *cert, const char *tok, const char *host, const char *path, const char *method)
{
    struct run *r = calloc(1, sizeof(*r));
    struct cm_explain_in in;
    FILE *f;

    memset(&in, 0, sizeof(in));
    in.cfg = cfg;
    in.listener = &cfg->listeners[0];
    in.cert = cert;
    in.cas = cas;
    in.crl = crl;
    in.keys = (const struct authn_keyset *const *)keys;
    in.token = tok;
    in.host = host;
    in.path = path;
    in.method = method != NULL ? method : "GET";
    in.now = (int64_t)time(NULL);
    in.auth_level = 1;
    assert_non_null(r);
    assert_int_equal(cm_explain_eval(&in, &r->x), PC_OK);
    f = open_memstream(&r->text, &r->len);
    assert_non_null(f);
    cm_explain_print(f, &r->x);
    fclose(f);
    return r;
}

static void
run_free(struct run *r)
{
    cm_explain_clear(&r->x);
    free(r->text);
    free(r);
}

/* The last line of the output. */
static const char *
last_line(const struct run *r)
{
    const char *p = r->text + r->len - 1;

    assert_true(r->len > 0 && *p == '\n');
    while (p > r->text && p[-1] != '\n')
        p--;
    return p;
}

static void
assert_has(const struct run *r, const char *needle)
{
    if (strstr(r->text, needle) == NULL) {
        fprintf(stderr, "--- output ---\n%s--- lacks ---\n%s\n", r->text, needle);
        fail();
    }
}

static void
assert_decision(const struct run *r, const char *line)
{
    const char *l = last_line(r);

    if (strncmp(l, line, strlen(line)) != 0) {
        fprintf(stderr, "--- output ---\n%s--- decision line should start with ---\n%s\n", r->text,
                line);
        fail();
    }
}

static void
test_explain_allow_prints_route_and_upstream(void **state)
{
    char *tok = token(signer, ISS, "billing:read", 0, NULL);
    struct run *r = explain(web, tok, "api.t.test", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_ALLOW);
    assert_string_equal(last_line(r), "decision: allow (route api → http://127.0.0.1:9)\n");
    assert_has(r, "identity: spiffe://t.test/ns/web\n");
    assert_has(r, "  ok    tls.chain       issued under client_ca /x/ca.pem: CN=Test CA\n");
    assert_has(r, "  ok    mtls.allow      \"spiffe://t.test/ns/*\" matches");
    assert_has(r, "  ok    jwt.signature   verifies with the key of kid \"k1\"\n");
    assert_has(r, "  ok    jwt.scopes      the route requires [billing:read]; the token has "
                  "[billing:read]\n");
    assert_has(r, "  note  tls.sni         no TLS session offline: the client is assumed to "
                  "have sent the server name \"api.t.test\"");
    assert_has(r, "  note  ratelimit       100/s, burst 200 (one request every 10ms, window 2s), "
                  "key identity (spiffe://t.test/ns/web)");
    assert_has(r, "not charged offline");
    assert_null(strstr(r->text, "FAIL"));
    assert_null(strstr(r->text, "stops at:"));
    assert_null(strstr(r->text, tok));            /* never the token */
    assert_true(r->x.nchecks < CM_XP_MAX_CHECKS); /* the longest pipeline fits */
    run_free(r);
    free(tok);
}

static void
test_explain_not_allowed_is_403(void **state)
{
    char *tok = token(signer, ISS, "billing:read", 0, NULL);
    struct run *r = explain(other, tok, "api.t.test", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_DENY_HTTP);
    assert_int_equal(r->x.status, 403);
    assert_decision(r, "decision: deny 403 cert-not-allowed: spiffe://t.test/elsewhere/x is not "
                       "allowed on route \"api\": no pattern of [spiffe://t.test/ns/*] matches");
    assert_has(r, "stops at: mtls.allow ");
    run_free(r);
    free(tok);
}

static void
test_explain_foreign_ca_refused_in_handshake(void **state)
{
    struct run *r = explain(foreign, NULL, "api.t.test", "/open/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_DENY_TLS);
    assert_int_equal(r->x.status, 0);
    assert_string_equal(last_line(r), "decision: deny TLS unknown_ca: the TLS handshake is "
                                      "refused: unable to get local issuer certificate\n");
    assert_has(r, "  FAIL  tls.chain       unable to get local issuer certificate (depth 0); the "
                  "certificate's issuer is CN=Other CA\n");
    assert_has(r, "stops at: tls.chain ");
    run_free(r);
}

static void
test_explain_expired_cert_refused_in_handshake(void **state)
{
    struct run *r = explain(expired, NULL, "api.t.test", "/open/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_DENY_TLS);
    assert_string_equal(r->x.slug, "expired");
    assert_decision(r, "decision: deny TLS expired: the TLS handshake is refused: certificate has "
                       "expired\n");
    assert_has(r, "  FAIL  tls.validity    certificate has expired: valid from ");
    /* what an older connection gets instead, shown for information */
    assert_has(r, "  FAIL  cert.state      expired at ");
    assert_has(r, "  ok    tls.chain ");
    run_free(r);
}

static void
test_explain_server_eku_refused_as_bad_purpose(void **state)
{
    struct run *r = explain(server_only, NULL, "api.t.test", "/open/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_DENY_TLS);
    assert_string_equal(r->x.slug, "bad_purpose");
    assert_has(r, "  FAIL  tls.eku         ");
    run_free(r);
}

static void
test_explain_revoked_cert_refused_in_handshake(void **state)
{
    struct run *r = explain(revoked, NULL, "api.t.test", "/open/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_DENY_TLS);
    assert_decision(r, "decision: deny TLS revoked: the TLS handshake is refused: certificate "
                       "revoked\n");
    assert_has(r, "  FAIL  tls.revocation  serial 07 is revoked in crl ");
    run_free(r);
}

static void
test_explain_unknown_host_is_404(void **state)
{
    struct run *r = explain(web, NULL, "nope.t.test:443", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.status, 404);
    assert_string_equal(r->x.sni, "nope.t.test"); /* the port is not part of the name */
    assert_decision(r, "decision: deny 404 not-found: no route for host \"nope.t.test\" and path "
                       "\"/api/x\"\n");
    run_free(r);
}

static void
test_explain_ip_host_is_421(void **state)
{
    struct run *r = explain(web, NULL, "[::1]:8443", "/open/x", NULL);

    (void)state;
    assert_int_equal(r->x.status, 421);
    assert_string_equal(r->x.slug, "misdirected-request");
    assert_has(r, "  FAIL  tls.sni         ::1 is an IP address: clients send no TLS server name");
    run_free(r);
}

static void
test_explain_method_not_on_route_is_404_with_hint(void **state)
{
    struct run *r = explain(web, NULL, "api.t.test", "/api/x", "POST");

    (void)state;
    assert_int_equal(r->x.status, 404);
    assert_decision(r, "decision: deny 404 not-found: route \"api\" matches host and path but "
                       "allows only GET HEAD, not POST\n");
    run_free(r);
}

static void
test_explain_dot_segment_is_400(void **state)
{
    struct run *r = explain(web, NULL, "api.t.test", "/api/%2e%2e/admin", NULL);

    (void)state;
    assert_int_equal(r->x.status, 400);
    assert_string_equal(r->x.slug, "bad-request");
    assert_has(r, "  skip  route.match     not evaluated: the path was refused\n");
    assert_has(r, "stops at: request.path ");
    run_free(r);
}

static void
test_explain_connect_is_405(void **state)
{
    struct run *r = explain(web, NULL, "api.t.test", "/open/x", "CONNECT");

    (void)state;
    assert_int_equal(r->x.status, 405);
    assert_decision(r, "decision: deny 405 method-not-allowed: CONNECT is not proxied\n");
    run_free(r);
}

static void
test_explain_no_token_is_401(void **state)
{
    struct run *r = explain(web, NULL, "api.t.test", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.status, 401);
    assert_decision(r, "decision: deny 401 invalid-token: no bearer token: the route requires a "
                       "token of issuer corp (--token)\n");
    run_free(r);
}

static void
test_explain_expired_token_is_401_on_exp_only(void **state)
{
    char *tok = token(signer, ISS, "billing:read", -3600, NULL);
    struct run *r = explain(web, tok, "api.t.test", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.status, 401);
    assert_decision(r, "decision: deny 401 invalid-token: token expired: ");
    assert_has(r, "  ok    jwt.signature ");
    assert_has(r, "  FAIL  jwt.exp         ");
    assert_has(r, " ago; leeway 30s)\n");
    /* the other claim checks are judged on their own */
    assert_has(r, "  ok    jwt.iss ");
    assert_has(r, "  ok    jwt.scopes ");
    assert_string_equal(r->x.checks[r->x.decided_by].name, "jwt.exp");
    run_free(r);
    free(tok);
}

static void
test_explain_missing_scope_is_403(void **state)
{
    char *tok = token(signer, ISS, "billing:write", 0, NULL);
    struct run *r = explain(web, tok, "api.t.test", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.status, 403);
    assert_decision(r, "decision: deny 403 insufficient-scope: insufficient scope: "
                       "\"billing:read\" is missing\n");
    run_free(r);
    free(tok);
}

static void
test_explain_wrong_key_is_401_signature(void **state)
{
    char *tok = token(stranger, ISS, "billing:read", 0, NULL);
    struct run *r = explain(web, tok, "api.t.test", "/api/x", NULL);

    (void)state;
    assert_int_equal(r->x.status, 401);
    assert_decision(r, "decision: deny 401 invalid-token: signature does not verify");
    assert_has(r, "  skip  jwt.claims      not checked: the token did not verify\n");
    run_free(r);
    free(tok);
}

static void
test_explain_binding_checked_against_cert(void **state)
{
    char *good = token(signer, ISS, NULL, 0, web), *unbound = token(signer, ISS, NULL, 0, NULL);
    struct run *r = explain(web, good, "api.t.test", "/bound/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_ALLOW);
    run_free(r);
    r = explain(web, unbound, "api.t.test", "/bound/x", NULL);
    assert_int_equal(r->x.status, 401);
    assert_decision(r, "decision: deny 401 invalid-token: token not bound to this client "
                       "certificate: cnf x5t#S256 (none), the certificate's is ");
    run_free(r);
    free(good);
    free(unbound);
}

static void
test_explain_jwks_uri_says_signature_unchecked(void **state)
{
    char *tok = token(stranger, "https://idp2.t.test/", NULL, 0, NULL);
    struct run *r = explain(web, tok, "api.t.test", "/remote/x", NULL);

    (void)state;
    assert_int_equal(r->x.decision, CM_XP_ALLOW);
    assert_has(r, "  note  jwt.signature   cannot check the signature offline (jwks_uri "
                  "https://idp2.t.test/jwks)");
    assert_has(r, "  ok    jwt.exp         ");
    assert_has(r, "(untrusted)\n");
    assert_has(r, "caveat:   cannot check the signature offline (jwks_uri)");
    run_free(r);
    free(tok);
    /* the claims are still checked: an expired one is denied */
    tok = token(stranger, "https://idp2.t.test/", NULL, -3600, NULL);
    r = explain(web, tok, "api.t.test", "/remote/x", NULL);
    assert_int_equal(r->x.status, 401);
    assert_decision(r, "decision: deny 401 invalid-token: token expired: ");
    run_free(r);
    free(tok);
}

static void
test_explain_json_form(void **state)
{
    struct run *r = explain(other, NULL, "api.t.test", "/api/x", NULL);
    json_t *j = cm_explain_json(&r->x), *c, *last;
    size_t i;

    (void)state;
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "decision")), "deny");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 403);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "cert-not-allowed");
    assert_string_equal(json_string_value(json_object_get(j, "stage")), "mtls.allow");
    assert_string_equal(json_string_value(json_object_get(j, "route")), "api");
    assert_true(json_is_null(json_object_get(j, "upstream")));
    assert_true(json_is_true(json_object_get(j, "certain")));
    assert_string_equal(json_string_value(json_object_get(j, "tls_handshake")), "ok");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "certificate"), "identity")),
        "spiffe://t.test/elsewhere/x");
    c = json_object_get(j, "checks");
    assert_int_equal(json_array_size(c), r->x.nchecks);
    for (i = 0; i < json_array_size(c); i++)
        assert_non_null(json_string_value(json_object_get(json_array_get(c, i), "detail")));
    last = json_array_get(c, 0);
    assert_string_equal(json_string_value(json_object_get(last, "check")), "tls.chain");
    assert_string_equal(json_string_value(json_object_get(last, "result")), "ok");
    json_decref(j);
    run_free(r);
    /* a handshake refusal has no HTTP status */
    r = explain(foreign, NULL, "api.t.test", "/open/x", NULL);
    j = cm_explain_json(&r->x);
    assert_true(json_is_null(json_object_get(j, "status")));
    assert_string_equal(json_string_value(json_object_get(j, "tls_handshake")), "refused");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "unknown_ca");
    json_decref(j);
    run_free(r);
}

static void
test_explain_untrusted_text_is_escaped(void **state)
{
    struct run *r = explain(web, "tok\ten \"x\"", "api.t.test\n\"evil\"", "/open/\"x\x01", NULL);
    size_t i;

    (void)state;
    /* one line per check: no control byte of the input reaches the output */
    for (i = 0; i < r->len; i++)
        assert_true(r->text[i] == '\n' || ((unsigned char)r->text[i] >= 0x20));
    assert_has(r, "api.t.test\\x0a\\x22evil\\x22");
    assert_int_equal(r->x.status, 400);
    run_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explain_allow_prints_route_and_upstream),
        cmocka_unit_test(test_explain_not_allowed_is_403),
        cmocka_unit_test(test_explain_foreign_ca_refused_in_handshake),
        cmocka_unit_test(test_explain_expired_cert_refused_in_handshake),
        cmocka_unit_test(test_explain_server_eku_refused_as_bad_purpose),
        cmocka_unit_test(test_explain_revoked_cert_refused_in_handshake),
        cmocka_unit_test(test_explain_unknown_host_is_404),
        cmocka_unit_test(test_explain_ip_host_is_421),
        cmocka_unit_test(test_explain_method_not_on_route_is_404_with_hint),
        cmocka_unit_test(test_explain_dot_segment_is_400),
        cmocka_unit_test(test_explain_connect_is_405),
        cmocka_unit_test(test_explain_no_token_is_401),
        cmocka_unit_test(test_explain_expired_token_is_401_on_exp_only),
        cmocka_unit_test(test_explain_missing_scope_is_403),
        cmocka_unit_test(test_explain_wrong_key_is_401_signature),
        cmocka_unit_test(test_explain_binding_checked_against_cert),
        cmocka_unit_test(test_explain_jwks_uri_says_signature_unchecked),
        cmocka_unit_test(test_explain_json_form),
        cmocka_unit_test(test_explain_untrusted_text_is_escaped),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
