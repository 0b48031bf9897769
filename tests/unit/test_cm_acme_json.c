/*
 * certmgr/cm_acme_json.c and the header parsing of cm_acme_http.c: the
 * strict readers of what an ACME server sends (directory, order,
 * authorization, problem documents per RFC 8555 6.7 / RFC 7807, RFC 9773
 * renewalInfo), RFC 3339 times and Retry-After.  Every refusal is asserted:
 * a wrong type, a missing member, an http:// URL, an unknown status, a cap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certmgr/cm_acme.h"
#include "common/pc_err.h"
#include "common/pc_log.h"

#define S(x) x, strlen(x)

/* pebble 2.4's directory, as it sends it (plus renewalInfo, which it lacks) */
static const char dir_pebble[] =
    "{\"keyChange\":\"https://127.0.0.1:14000/rollover-account-key\",\"meta\":{"
    "\"externalAccountRequired\":false,\"termsOfService\":\"data:text/plain,Do%20what%20thou%20"
    "wilt\"},\"newAccount\":\"https://127.0.0.1:14000/sign-me-up\",\"newNonce\":"
    "\"https://127.0.0.1:14000/nonce-plz\",\"newOrder\":\"https://127.0.0.1:14000/order-plz\","
    "\"revokeCert\":\"https://127.0.0.1:14000/revoke-cert\"}";

static void
test_directory_pebble(void **state)
{
    struct cm_acme_dir d;
    char err[256];

    (void)state;
    assert_int_equal(cm_acme_dir_parse(S(dir_pebble), &d, err, sizeof(err)), PC_OK);
    assert_string_equal(d.new_nonce, "https://127.0.0.1:14000/nonce-plz");
    assert_string_equal(d.new_account, "https://127.0.0.1:14000/sign-me-up");
    assert_string_equal(d.new_order, "https://127.0.0.1:14000/order-plz");
    assert_null(d.renewal_info); /* not offered: ARI is skipped */
    assert_false(d.eab_required);
    assert_non_null(d.terms);
    cm_acme_dir_clear(&d);
}

static void
test_directory_renewal_info_and_eab(void **state)
{
    struct cm_acme_dir d;
    char err[256];

    (void)state;
    assert_int_equal(cm_acme_dir_parse(S("{\"newNonce\":\"https://ca/n\",\"newAccount\":"
                                         "\"https://ca/a\",\"newOrder\":\"https://ca/o\","
                                         "\"renewalInfo\":\"https://ca/ari\",\"meta\":{"
                                         "\"externalAccountRequired\":true}}"),
                                       &d, err, sizeof(err)),
                     PC_OK);
    assert_string_equal(d.renewal_info, "https://ca/ari");
    assert_true(d.eab_required);
    cm_acme_dir_clear(&d);
}

static void
test_directory_refusals(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}",
        "{\"newNonce\":\"http://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/"
        "o\"}",
        "{\"newNonce\":7,\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/o\"}",
        "{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a b\",\"newOrder\":\"https://"
        "ca/o\"}",
        "{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/"
        "o\",\"meta\":[]}",
        "{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/"
        "o\",\"meta\":{\"externalAccountRequired\":\"yes\"}}",
        "{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/"
        "o\",\"renewalInfo\":\"ftp://ca/ari\"}",
        "{\"newNonce\":\"https://ca/n\",\"newNonce\":\"https://ca/m\",\"newAccount\":\"https://ca/"
        "a\",\"newOrder\":\"https://ca/o\"}",
        "{\"newNonce\":\"https:///n\",\"newAccount\":\"https://ca/a\",\"newOrder\":\"https://ca/"
        "o\"}",
    };
    struct cm_acme_dir d;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_not_equal(cm_acme_dir_parse(S(bad[i]), &d, err, sizeof(err)), PC_OK);
        assert_true(err[0] != '\0');
        assert_null(d.new_nonce);
        cm_acme_dir_clear(&d);
    }
}

static void
test_directory_too_large(void **state)
{
    char *big = malloc(CM_ACME_JSON_MAX_BYTES + 2), err[256];
    struct cm_acme_dir d;

    (void)state;
    memset(big, ' ', CM_ACME_JSON_MAX_BYTES + 1);
    big[0] = '{';
    big[CM_ACME_JSON_MAX_BYTES] = '}';
    assert_int_equal(cm_acme_dir_parse(big, CM_ACME_JSON_MAX_BYTES + 1, &d, err, sizeof(err)),
                     PC_ERR_TOO_LARGE);
    cm_acme_dir_clear(&d);
    free(big);
}

/* --- orders ------------------------------------------------------------------------------- */

static const char order_pending[] =
    "{\"status\":\"pending\",\"expires\":\"2026-11-26T22:42:00Z\",\"identifiers\":["
    "{\"type\":\"dns\",\"value\":\"*.example.test\"},{\"type\":\"dns\",\"value\":\"example."
    "test\"}],\"finalize\":\"https://ca/finalize-order/1\",\"authorizations\":["
    "\"https://ca/authZ/a\",\"https://ca/authZ/b\"]}";

static void
test_order_pending(void **state)
{
    struct cm_acme_order o;
    char err[256];

    (void)state;
    assert_int_equal(cm_acme_order_parse(S(order_pending), &o, err, sizeof(err)), PC_OK);
    assert_int_equal(o.status, CM_ST_PENDING);
    assert_int_equal(o.nidents, 2);
    assert_string_equal(o.idents[0], "*.example.test");
    assert_int_equal(o.nauthz, 2);
    assert_string_equal(o.authz[1], "https://ca/authZ/b");
    assert_string_equal(o.finalize, "https://ca/finalize-order/1");
    assert_null(o.certificate);
    assert_false(o.has_error);
    cm_acme_order_clear(&o);
}

static void
test_order_invalid_with_error(void **state)
{
    struct cm_acme_order o;
    char err[256];

    (void)state;
    assert_int_equal(
        cm_acme_order_parse(S("{\"status\":\"invalid\",\"identifiers\":[{\"type\":\"dns\","
                              "\"value\":\"a.test\"}],\"finalize\":\"https://ca/f\","
                              "\"authorizations\":[],\"error\":{\"type\":\"urn:ietf:params:"
                              "acme:error:unauthorized\",\"detail\":\"no\"}}"),
                            &o, err, sizeof(err)),
        PC_OK);
    assert_int_equal(o.status, CM_ST_INVALID);
    assert_true(o.has_error);
    assert_true(cm_acme_problem_is(o.error, "unauthorized"));
    cm_acme_order_clear(&o);
}

static void
test_order_refusals(void **state)
{
    static const char *const bad[] = {
        /* an order cannot be "deactivated" */
        "{\"status\":\"deactivated\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
        "\"finalize\":\"https://ca/f\",\"authorizations\":[]}",
        /* valid without a certificate URL */
        "{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
        "\"finalize\":\"https://ca/f\",\"authorizations\":[]}",
        /* an ip identifier */
        "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"ip\",\"value\":\"10.0.0.1\"}],"
        "\"finalize\":\"https://ca/f\",\"authorizations\":[]}",
        /* a name that could escape a path or a hook argument */
        "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"../etc\"}],"
        "\"finalize\":\"https://ca/f\",\"authorizations\":[]}",
        /* authorizations not URLs */
        "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
        "\"finalize\":\"https://ca/f\",\"authorizations\":[1]}",
        /* finalize over http */
        "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
        "\"finalize\":\"http://ca/f\",\"authorizations\":[]}",
        /* status of the wrong type */
        "{\"status\":1,\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
        "\"finalize\":\"https://ca/f\",\"authorizations\":[]}",
        /* no identifiers */
        "{\"status\":\"pending\",\"identifiers\":[],\"finalize\":\"https://ca/f\","
        "\"authorizations\":[]}",
    };
    struct cm_acme_order o;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_not_equal(cm_acme_order_parse(S(bad[i]), &o, err, sizeof(err)), PC_OK);
        assert_true(err[0] != '\0');
        assert_null(o.finalize);
        cm_acme_order_clear(&o);
    }
}

static void
test_order_too_many_authorizations(void **state)
{
    char buf[16384], err[256];
    struct cm_acme_order o;
    size_t off, i;

    (void)state;
    off = (size_t)snprintf(buf, sizeof(buf),
                           "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":"
                           "\"a.test\"}],\"finalize\":\"https://ca/f\",\"authorizations\":[");
    for (i = 0; i <= CM_ACME_MAX_AUTHZ; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s\"https://ca/a/%zu\"",
                                i == 0 ? "" : ",", i);
    snprintf(buf + off, sizeof(buf) - off, "]}");
    assert_int_equal(cm_acme_order_parse(S(buf), &o, err, sizeof(err)), PC_ERR_INVALID);
    cm_acme_order_clear(&o);
}

/* --- authorizations ---------------------------------------------------------------------- */

static const char authz_wild[] =
    "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.test\"},"
    "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca/chalZ/1\",\"token\":"
    "\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\",\"status\":\"pending\"},"
    "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/chalZ/2\",\"status\":\"pending\"}],"
    "\"expires\":\"2026-11-26T22:42:00Z\",\"wildcard\":true}";

static void
test_authz_wildcard(void **state)
{
    struct cm_acme_authz a;
    char err[256];

    (void)state;
    assert_int_equal(cm_acme_authz_parse(S(authz_wild), &a, err, sizeof(err)), PC_OK);
    assert_int_equal(a.status, CM_ST_PENDING);
    assert_string_equal(a.ident, "example.test");
    assert_true(a.wildcard);
    assert_int_equal(a.nch, 2);
    assert_string_equal(a.ch[0].type, "dns-01");
    assert_string_equal(a.ch[0].token, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");
    assert_string_equal(a.ch[1].type, "tls-alpn-01"); /* kept by name, never used */
    assert_null(a.ch[1].token);
    cm_acme_authz_clear(&a);
}

static void
test_authz_invalid_challenge_error(void **state)
{
    struct cm_acme_authz a;
    char err[256];

    (void)state;
    assert_int_equal(
        cm_acme_authz_parse(
            S("{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
              "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca/c\",\"token\":\"t\","
              "\"status\":\"invalid\",\"error\":{\"type\":\"urn:ietf:params:acme:error:"
              "connection\",\"detail\":\"127.0.0.1: Connection refused\",\"status\":400}}]}"),
            &a, err, sizeof(err)),
        PC_OK);
    assert_int_equal(a.status, CM_ST_INVALID);
    assert_non_null(a.ch[0].error);
    assert_true(cm_acme_problem_is(a.ch[0].error, "connection"));
    assert_int_equal(a.ch[0].error->status, 400);
    cm_acme_authz_clear(&a);
}

static void
test_authz_refusals(void **state)
{
    static const char *const bad[] = {
        /* a token that is not base64url could name a file outside the webroot */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca/c\",\"token\":\"../../x\","
        "\"status\":\"pending\"}]}",
        /* http-01 without a token */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca/c\",\"status\":\"pending\"}]}",
        /* authorizations are never "ready" */
        "{\"status\":\"ready\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[]}",
        /* a challenge cannot be "revoked" */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca/c\",\"token\":\"t\","
        "\"status\":\"revoked\"}]}",
        /* wildcard of the wrong type */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[],\"wildcard\":\"true\"}",
        /* an identifier with "*." (the wildcard flag says that) */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"*.a.test\"},"
        "\"challenges\":[]}",
        /* a challenge URL over http */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"http://ca/c\",\"token\":\"t\","
        "\"status\":\"pending\"}]}",
        /* a token above the cap */
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
        "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca/c\",\"token\":\""
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "\",\"status\":\"pending\"}]}",
    };
    struct cm_acme_authz a;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_not_equal(cm_acme_authz_parse(S(bad[i]), &a, err, sizeof(err)), PC_OK);
        assert_true(err[0] != '\0');
        assert_null(a.ident);
        cm_acme_authz_clear(&a);
    }
}

/* --- problem documents --------------------------------------------------------------------- */

static void
test_problem_fields_and_subproblems(void **state)
{
    struct cm_acme_problem p;

    (void)state;
    assert_int_equal(
        cm_acme_problem_parse(
            S("{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"Error "
              "creating new order\",\"status\":400,\"subproblems\":[{\"type\":\"urn:ietf:params:"
              "acme:error:malformed\",\"detail\":\"Invalid underscore in DNS name\","
              "\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},{\"type\":\"urn:"
              "ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"This CA will not issue "
              "for \\\"example.net\\\"\",\"identifier\":{\"type\":\"dns\",\"value\":\"example."
              "net\"}}]}"),
            &p),
        PC_OK);
    assert_true(cm_acme_problem_is(&p, "rejectedIdentifier"));
    assert_false(cm_acme_problem_is(&p, "rejected"));
    assert_string_equal(p.detail, "Error creating new order");
    assert_int_equal(p.status, 400);
    assert_int_equal(p.nsub, 2);
    assert_string_equal(p.sub[0].ident, "_example.org");
    assert_string_equal(p.sub[1].detail, "This CA will not issue for \"example.net\"");
    cm_acme_problem_log(LOG_DEBUG, "test", &p);
}

static void
test_problem_wrong_types_ignored(void **state)
{
    struct cm_acme_problem p;

    (void)state;
    /* RFC 7807 3.1: members of the wrong type are ignored */
    assert_int_equal(cm_acme_problem_parse(S("{\"type\":5,\"detail\":[\"x\"],\"status\":\"400\","
                                             "\"subproblems\":{\"a\":1}}"),
                                           &p),
                     PC_OK);
    assert_string_equal(p.type, "");
    assert_string_equal(p.detail, "");
    assert_int_equal(p.status, 0);
    assert_int_equal(p.nsub, 0);
    assert_int_equal(cm_acme_problem_parse(S("not json"), &p), PC_ERR_PARSE);
    assert_int_equal(cm_acme_problem_parse(S("[1]"), &p), PC_ERR_PARSE);
    assert_int_equal(cm_acme_problem_parse(S("{\"status\":99999}"), &p), PC_OK);
    assert_int_equal(p.status, 0);
}

static void
test_problem_long_detail_cut_and_badnonce(void **state)
{
    char buf[4096];
    struct cm_acme_problem p;
    size_t i;
    static const char head[] = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"";

    memcpy(buf, head, sizeof(head) - 1);
    for (i = sizeof(head) - 1; i < sizeof(head) - 1 + 2000; i++)
        buf[i] = 'x';
    memcpy(buf + i, "\"}", 3);
    (void)state;
    assert_int_equal(cm_acme_problem_parse(S(buf), &p), PC_OK);
    assert_true(cm_acme_problem_is(&p, "badNonce"));
    assert_int_equal(strlen(p.detail), CM_ACME_PROBLEM_DETAIL_MAX);
}

/* --- renewalInfo, times, Retry-After -------------------------------------------------------- */

static void
test_ari_canned(void **state)
{
    struct cm_acme_ari a;
    char err[256];

    (void)state;
    /* RFC 9773 4.2's example */
    assert_int_equal(cm_acme_ari_parse(S("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:"
                                         "00Z\",\"end\":\"2025-01-03T04:00:00Z\"},"
                                         "\"explanationURL\":\"https://acme.example.com/docs/"
                                         "ari\"}"),
                                       &a, err, sizeof(err)),
                     PC_OK);
    assert_int_equal(a.start, 1735790400);
    assert_int_equal(a.end, 1735876800);
    assert_string_equal(a.explanation, "https://acme.example.com/docs/ari");
    cm_acme_ari_clear(&a);
}

static void
test_ari_refusals(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"suggestedWindow\":[]}",
        "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}",
        "{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}"
        "}",
        "{\"suggestedWindow\":{\"start\":\"2025-01-02\",\"end\":\"2025-01-03T04:00:00Z\"}}",
        "{\"suggestedWindow\":{\"start\":1735790400,\"end\":1735876800}}",
    };
    struct cm_acme_ari a;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(cm_acme_ari_parse(S(bad[i]), &a, err, sizeof(err)), PC_OK);
        cm_acme_ari_clear(&a);
    }
}

static void
test_rfc3339(void **state)
{
    int64_t t;

    (void)state;
    assert_int_equal(cm_acme_time_parse(S("1970-01-01T00:00:00Z"), &t), PC_OK);
    assert_int_equal(t, 0);
    assert_int_equal(cm_acme_time_parse(S("2025-01-02T04:00:00.123456789Z"), &t), PC_OK);
    assert_int_equal(t, 1735790400);
    assert_int_equal(cm_acme_time_parse(S("2025-01-02T05:30:00+01:30"), &t), PC_OK);
    assert_int_equal(t, 1735790400);
    assert_int_equal(cm_acme_time_parse(S("2025-01-01T22:00:00-06:00"), &t), PC_OK);
    assert_int_equal(t, 1735790400);
    assert_int_equal(cm_acme_time_parse(S("2024-02-29t00:00:00z"), &t), PC_OK);
    assert_int_equal(t, 1709164800);
    assert_int_equal(cm_acme_time_parse(S("2023-02-29T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("2025-13-01T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("2025-01-01T24:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("2025-01-01T00:00:00"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("2025-01-01T00:00:00.Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("2025-01-01T00:00:00Zjunk"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("2025-01-01 00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_acme_time_parse(S("+025-01-01T00:00:00Z"), &t), PC_ERR_PARSE);
}

static void
test_retry_after(void **state)
{
    const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

    (void)state;
    assert_int_equal(cm_http_retry_after(S("120"), now), 120);
    assert_int_equal(cm_http_retry_after(S("0"), now), 0);
    assert_int_equal(cm_http_retry_after(S("99999999999"), now), CM_ACME_RETRY_AFTER_MAX_S);
    assert_int_equal(cm_http_retry_after(S("Sun, 06 Nov 1994 08:50:37 GMT"), now), 60);
    assert_int_equal(cm_http_retry_after(S("Sun, 06 Nov 1994 08:00:00 GMT"), now), 0);
    assert_int_equal(cm_http_retry_after(S("-5"), now), -1);
    assert_int_equal(cm_http_retry_after(S("soon"), now), -1);
    assert_int_equal(cm_http_retry_after(S(""), now), -1);
    assert_int_equal(cm_http_retry_after(S("12a"), now), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory_pebble),
        cmocka_unit_test(test_directory_renewal_info_and_eab),
        cmocka_unit_test(test_directory_refusals),
        cmocka_unit_test(test_directory_too_large),
        cmocka_unit_test(test_order_pending),
        cmocka_unit_test(test_order_invalid_with_error),
        cmocka_unit_test(test_order_refusals),
        cmocka_unit_test(test_order_too_many_authorizations),
        cmocka_unit_test(test_authz_wildcard),
        cmocka_unit_test(test_authz_invalid_challenge_error),
        cmocka_unit_test(test_authz_refusals),
        cmocka_unit_test(test_problem_fields_and_subproblems),
        cmocka_unit_test(test_problem_wrong_types_ignored),
        cmocka_unit_test(test_problem_long_detail_cut_and_badnonce),
        cmocka_unit_test(test_ari_canned),
        cmocka_unit_test(test_ari_refusals),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_retry_after),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
