/*
 * certmgr/cm_tls_audit_grade.c: `tls audit` grading (a policy loaded by
 * pol_tls_load_mem() x what the probes observed -> violations), the
 * Strict-Transport-Security parser and the HOST:PORT parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certgen.h" /* tg_key, tg_cert; tg_crl is not needed here */
#include "certmgr/cm.h"
#include "common/pc_err.h"
#include "policy/pol.h"

#define NOW    ((time_t)1800000000) /* 2027-01-15 */
#define DAY    86400
#define MODERN "profile: modern\ngroups: [X25519, P-256]\n"
#define INTER  "profile: intermediate\ngroups: [X25519, P-256]\n"
#define HSTS                                                                                       \
    "profile: modern\nhsts: { max_age: 63072000, include_subdomains: true, preload: true }\n"

static struct cm_audit_obs obs;
static struct pol_tls pol;
static struct cm_audit_report rep;

static void
load_policy(const char *yaml)
{
    struct pol_errors e = {0};
    int rc;

    pol_tls_clear(&pol);
    rc = pol_tls_load_mem("tls.yaml", yaml, strlen(yaml), &pol, &e);
    if (rc != PC_OK && e.n > 0)
        fprintf(stderr, "    %s\n", e.msg[0]);
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_OK);
    pol.path = strdup("tls.yaml");
}

static void
item(struct cm_audit_item *it, const char *name, enum cm_audit_res res, enum cm_audit_ver v)
{
    memset(it, 0, sizeof(*it));
    snprintf(it->name, sizeof(it->name), "%s", name);
    it->res = res;
    if (cm_audit_res_accepted(res))
        it->vers = 1u << v;
}

/* A server that meets MODERN: TLS 1.3 only, two suites, X25519 and P-256,
 * a valid certificate for 90 days, a response without HSTS. */
static void
baseline(void)
{
    memset(&obs, 0, sizeof(obs));
    obs.ver[CM_AUDIT_TLS10] = CM_AUDIT_REFUSED;
    obs.ver[CM_AUDIT_TLS11] = CM_AUDIT_REFUSED;
    obs.ver[CM_AUDIT_TLS12] = CM_AUDIT_REFUSED;
    obs.ver[CM_AUDIT_TLS13] = CM_AUDIT_ACCEPTED;
    item(&obs.tls13[0], "TLS_AES_128_GCM_SHA256", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS13);
    item(&obs.tls13[1], "TLS_AES_256_GCM_SHA384", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS13);
    item(&obs.tls13[2], "TLS_AES_128_CCM_SHA256", CM_AUDIT_REFUSED, CM_AUDIT_TLS13);
    obs.ntls13 = 3;
    item(&obs.groups[0], "X25519", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS13);
    item(&obs.groups[1], "P-256", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS13);
    item(&obs.groups[2], "ffdhe2048", CM_AUDIT_REFUSED, CM_AUDIT_TLS13);
    obs.ngroups = 3;
    obs.nchain = 1;
    snprintf(obs.chain[0].subject, sizeof(obs.chain[0].subject), "CN=api.example.com");
    snprintf(obs.chain[0].issuer, sizeof(obs.chain[0].issuer), "CN=CA");
    snprintf(obs.chain[0].key, sizeof(obs.chain[0].key), "EC P-256");
    obs.chain[0].not_before = NOW - 10 * DAY;
    obs.chain[0].not_after = NOW + 90 * DAY;
    snprintf(obs.trust, sizeof(obs.trust), "ca.pem");
    obs.chain_verified = true;
    snprintf(obs.name, sizeof(obs.name), "api.example.com");
    obs.name_ok = true;
    obs.http_done = true;
    obs.http_status = 200;
    obs.handshakes = 20;
}

static int
setup(void **state)
{
    (void)state;
    memset(&pol, 0, sizeof(pol));
    memset(&rep, 0, sizeof(rep));
    baseline();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    pol_tls_clear(&pol);
    cm_audit_report_clear(&rep);
    return 0;
}

static size_t
grade(void)
{
    cm_audit_report_clear(&rep);
    cm_audit_grade(&pol, &obs, NOW, &rep);
    return rep.nviolations;
}

/* Whether a finding of `sec` with `mark` contains `text`. */
static bool
has(enum cm_audit_sec sec, enum cm_audit_mark mark, const char *text)
{
    size_t i;

    for (i = 0; i < rep.n; i++)
        if (rep.f[i].sec == sec && rep.f[i].mark == mark && strstr(rep.f[i].text, text) != NULL)
            return true;
    return false;
}

static void
dump(void)
{
    size_t i;

    for (i = 0; i < rep.n; i++)
        fprintf(stderr, "    [%s] %s %s\n", cm_audit_sec_name(rep.f[i].sec, true),
                rep.f[i].mark == CM_AUDIT_OK          ? "ok"
                : rep.f[i].mark == CM_AUDIT_VIOLATION ? "VIOLATION"
                                                      : "info",
                rep.f[i].text);
}

static void
expect_violations(size_t n)
{
    size_t got = grade();

    if (got != n)
        dump();
    assert_int_equal(got, n);
}

/* --- protocols ---------------------------------------------------------------- */

static void
test_grade_modern_baseline_compliant(void **state)
{
    (void)state;
    load_policy(MODERN);
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_OK, "TLS 1.0 refused"));
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_OK, "TLS 1.3 accepted"));
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_OK, "TLS 1.2 is refused"));
    assert_true(has(CM_AUDIT_SEC_AUDIT, CM_AUDIT_INFO, "20 handshakes"));
}

static void
test_grade_tls10_accepted_is_violation_in_both_profiles(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS10] = CM_AUDIT_ACCEPTED;
    load_policy(MODERN);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION,
                    "TLS 1.0 accepted: profile modern allows TLS 1.3 only"));
    load_policy(INTER);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION,
                    "TLS 1.0 accepted: profile intermediate allows TLS 1.2 and 1.3"));
}

static void
test_grade_tls11_accepted_with_cert_required_is_violation(void **state)
{
    (void)state;
    /* a server that got past ServerHello and stopped only for want of a client certificate */
    obs.ver[CM_AUDIT_TLS11] = CM_AUDIT_ACCEPTED_CERTREQ;
    load_policy(INTER);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION,
                    "TLS 1.1 accepted (client certificate required)"));
}

static void
test_grade_accepted_then_failed_counts_as_accepted(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS10] = CM_AUDIT_ACCEPTED_FAILED;
    load_policy(INTER);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION, "TLS 1.0 accepted (ServerHello"));
}

static void
test_grade_tls12_under_modern_is_violation(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS12] = CM_AUDIT_ACCEPTED;
    item(&obs.tls12[0], "ECDHE-ECDSA-AES128-GCM-SHA256", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS12);
    item(&obs.tls12[1], "AES128-SHA", CM_AUDIT_REFUSED, CM_AUDIT_TLS12);
    obs.ntls12 = 2;
    load_policy(MODERN);
    /* the version, and the suite it accepts */
    expect_violations(2);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION, "TLS 1.2 accepted: profile modern"));
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION,
                    "ECDHE-ECDSA-AES128-GCM-SHA256 accepted: profile modern allows no TLS 1.2"));
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_INFO, "1 of 2 suites"));
}

static void
test_grade_intermediate_tls12_aead_compliant(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS12] = CM_AUDIT_ACCEPTED_CERTREQ;
    item(&obs.tls12[0], "ECDHE-ECDSA-AES128-GCM-SHA256", CM_AUDIT_ACCEPTED_CERTREQ, CM_AUDIT_TLS12);
    item(&obs.tls12[1], "ECDHE-RSA-CHACHA20-POLY1305", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS12);
    item(&obs.tls12[2], "ECDHE-RSA-AES128-SHA", CM_AUDIT_REFUSED, CM_AUDIT_TLS12);
    obs.ntls12 = 3;
    load_policy(INTER);
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_OK, "ECDHE-RSA-CHACHA20-POLY1305 accepted"));
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_OK, "TLS 1.2 accepted (client certificate"));
}

static void
test_grade_cbc_rsa_kx_and_ccm_suites_are_violations(void **state)
{
    static const char *const bad[] = {
        "ECDHE-RSA-AES128-SHA",   "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES128-CCM", "DES-CBC3-SHA",      "ADH-AES256-GCM-SHA384"};
    size_t i;

    (void)state;
    obs.ver[CM_AUDIT_TLS12] = CM_AUDIT_ACCEPTED;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        item(&obs.tls12[i], bad[i], CM_AUDIT_ACCEPTED, CM_AUDIT_TLS12);
    obs.ntls12 = i;
    load_policy(INTER);
    expect_violations(i);
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION,
                    "ECDHE-RSA-AES128-SHA accepted: not ECDHE with an AEAD"));
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION, "DES-CBC3-SHA accepted"));
}

static void
test_grade_suite_outside_listed_ciphers_is_violation(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS12] = CM_AUDIT_ACCEPTED;
    item(&obs.tls12[0], "ECDHE-ECDSA-AES128-GCM-SHA256", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS12);
    item(&obs.tls12[1], "ECDHE-ECDSA-AES256-GCM-SHA384", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS12);
    obs.ntls12 = 2;
    load_policy("profile: intermediate\nciphers: [ECDHE-ECDSA-AES128-GCM-SHA256]\n");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_VIOLATION,
                    "ECDHE-ECDSA-AES256-GCM-SHA384 accepted: not in ciphers:"));
    assert_true(has(CM_AUDIT_SEC_TLS12, CM_AUDIT_OK, "ECDHE-ECDSA-AES128-GCM-SHA256 accepted"));
}

static void
test_grade_tls13_suites_only_checked_when_listed(void **state)
{
    (void)state;
    item(&obs.tls13[2], "TLS_CHACHA20_POLY1305_SHA256", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS13);
    load_policy(MODERN);
    expect_violations(0);
    load_policy(
        "profile: modern\nciphersuites: [TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384]\n");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_TLS13, CM_AUDIT_VIOLATION,
                    "TLS_CHACHA20_POLY1305_SHA256 accepted: not in ciphersuites:"));
}

static void
test_grade_group_outside_list_is_violation(void **state)
{
    (void)state;
    item(&obs.groups[2], "ffdhe2048", CM_AUDIT_ACCEPTED, CM_AUDIT_TLS13);
    obs.groups[2].vers |= 1u << CM_AUDIT_TLS12;
    load_policy(MODERN);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_GROUPS, CM_AUDIT_VIOLATION,
                    "ffdhe2048 accepted (TLS 1.3, TLS 1.2): not in groups:"));
    /* no groups: in the policy: OpenSSL's default, nothing to grade */
    load_policy("profile: modern\n");
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_GROUPS, CM_AUDIT_INFO, "lists no groups"));
}

static void
test_grade_no_version_accepted_is_violation(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS13] = CM_AUDIT_REFUSED;
    load_policy(MODERN);
    assert_true(grade() >= 1);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_VIOLATION, "no TLS version accepted"));
}

static void
test_grade_untested_version_is_not_graded(void **state)
{
    (void)state;
    obs.ver[CM_AUDIT_TLS10] = CM_AUDIT_UNTESTED;
    load_policy(MODERN);
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_PROTO, CM_AUDIT_INFO, "TLS 1.0 not tested"));
}

static void
test_grade_budget_exhausted_is_violation(void **state)
{
    (void)state;
    obs.incomplete = true;
    load_policy(MODERN);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_AUDIT, CM_AUDIT_VIOLATION, "incomplete"));
}

/* --- certificate ---------------------------------------------------------------- */

static void
test_grade_cert_expired_is_violation(void **state)
{
    (void)state;
    obs.chain[0].not_after = NOW - 1;
    load_policy(MODERN);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "the certificate expired on"));
}

static void
test_grade_cert_expiring_within_14_days_is_violation(void **state)
{
    (void)state;
    load_policy(MODERN);
    obs.chain[0].not_after = NOW + 14 * DAY - 1;
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "in 13 days (less than 14)"));
    obs.chain[0].not_after = NOW + 14 * DAY;
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_CERT, CM_AUDIT_OK, "(14 days)"));
}

static void
test_grade_cert_not_verified_or_wrong_name_is_violation(void **state)
{
    (void)state;
    load_policy(MODERN);
    obs.chain_verified = false;
    snprintf(obs.verify_error, sizeof(obs.verify_error), "self-signed certificate (depth 0)");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION,
                    "does not verify against ca.pem: self-signed certificate"));
    obs.chain_verified = true;
    obs.name_ok = false;
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "not valid for api.example.com"));
}

static void
test_grade_no_certificate_is_violation(void **state)
{
    (void)state;
    obs.nchain = 0;
    load_policy(MODERN);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_CERT, CM_AUDIT_VIOLATION, "no certificate received"));
}

/* --- HSTS ------------------------------------------------------------------------- */

static void
set_hsts(const char *v)
{
    obs.hsts_present = true;
    snprintf(obs.hsts_raw, sizeof(obs.hsts_raw), "%s", v);
    cm_audit_hsts_parse(v, strlen(v), &obs.hsts);
}

static void
test_grade_hsts_not_required_without_hsts_key(void **state)
{
    (void)state;
    load_policy(MODERN);
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_OK, "not required by the policy"));
    /* not required: an unreadable response is no violation either */
    obs.http_done = false;
    snprintf(obs.http_error, sizeof(obs.http_error), "the server requires a client certificate");
    expect_violations(0);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_INFO, "not read: the server requires"));
    /* hsts: { max_age: 0 } asks for no header */
    load_policy("profile: modern\nhsts: { max_age: 0 }\n");
    expect_violations(0);
}

static void
test_grade_hsts_required_and_met(void **state)
{
    (void)state;
    load_policy(HSTS);
    set_hsts("max-age=63072000; includeSubDomains; preload");
    expect_violations(0);
    set_hsts("max-age=99999999; preload; includesubdomains");
    expect_violations(0);
}

static void
test_grade_hsts_missing_is_violation(void **state)
{
    (void)state;
    load_policy(HSTS);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "no Strict-Transport-Security header"));
}

static void
test_grade_hsts_weaker_is_violation(void **state)
{
    (void)state;
    load_policy(HSTS);
    set_hsts("max-age=63071999; includeSubDomains; preload");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "max-age=63071999 is below"));
    set_hsts("max-age=63072000; preload");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "includeSubDomains is missing"));
    set_hsts("max-age=63072000; includeSubDomains");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "preload is missing"));
    set_hsts("max-age=300");
    expect_violations(3);
}

static void
test_grade_hsts_lesser_policy_accepts_stronger_header(void **state)
{
    (void)state;
    load_policy("profile: modern\nhsts: { max_age: 86400 }\n");
    set_hsts("max-age=86400");
    expect_violations(0);
    set_hsts("max-age=31536000; includeSubDomains; preload");
    expect_violations(0);
    set_hsts("max-age=86399");
    expect_violations(1);
}

static void
test_grade_hsts_invalid_or_unreadable_is_violation(void **state)
{
    (void)state;
    load_policy(HSTS);
    set_hsts("includeSubDomains; preload");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "is invalid"));
    /* required but not read (client certificate required): fail closed */
    obs.hsts_present = false;
    obs.http_done = false;
    snprintf(obs.http_error, sizeof(obs.http_error), "no response to GET /");
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "could not be checked"));
}

static void
test_grade_shipped_policy_needs_hsts(void **state)
{
    (void)state;
    /* etc/tls-policy.yaml (run from the top of the tree) */
    struct pol_errors e = {0};

    pol_tls_clear(&pol);
    assert_int_equal(pol_tls_load("etc/tls-policy.yaml", &pol, &e), PC_OK);
    pol_errors_clear(&e);
    expect_violations(1);
    assert_true(has(CM_AUDIT_SEC_HSTS, CM_AUDIT_VIOLATION, "requires max-age=63072000"));
    set_hsts("max-age=63072000; includeSubDomains; preload");
    expect_violations(0);
}

/* --- parsers ------------------------------------------------------------------------ */

static void
hsts_is(const char *v, bool valid, uint64_t age, bool sub, bool preload)
{
    struct cm_audit_hsts h;

    cm_audit_hsts_parse(v, strlen(v), &h);
    if (h.valid != valid)
        fprintf(stderr, "    \"%s\": valid %d\n", v, h.valid);
    assert_int_equal(h.valid, valid);
    assert_int_equal(h.max_age, age);
    assert_int_equal(h.include_subdomains, sub);
    assert_int_equal(h.preload, preload);
}

static void
test_hsts_parse_valid_forms(void **state)
{
    (void)state;
    hsts_is("max-age=31536000", true, 31536000, false, false);
    hsts_is("max-age=31536000; includeSubDomains; preload", true, 31536000, true, true);
    hsts_is("Max-Age=\"600\";INCLUDESUBDOMAINS", true, 600, true, false);
    hsts_is("  preload ;\tmax-age = 0 ; ", true, 0, false, true);
    hsts_is("max-age=10;;foo=bar;x", true, 10, false, false); /* unknown directives ignored */
}

static void
test_hsts_parse_invalid_forms(void **state)
{
    (void)state;
    hsts_is("", false, 0, false, false);
    hsts_is("includeSubDomains", false, 0, false, false);    /* no max-age */
    hsts_is("max-age=1; max-age=2", false, 0, false, false); /* twice */
    hsts_is("max-age=1; preload; preload", false, 0, false, false);
    hsts_is("max-age=-1", false, 0, false, false);
    hsts_is("max-age=1e9", false, 0, false, false);
    hsts_is("max-age=", false, 0, false, false);
    hsts_is("max-age=\"10", false, 0, false, false); /* unterminated quote */
    hsts_is("max-age=10; includeSubDomains=1", false, 0, false, false);
    hsts_is("max-age=10 preload", false, 0, false, false);     /* no ';' */
    hsts_is("max-age=10;\x01preload", false, 0, false, false); /* control byte */
    hsts_is("max-age=99999999999999999999999", false, 0, false, false);
}

static void
test_hsts_parse_embedded_nul_rejected(void **state)
{
    static const char v[] = "max-age=10\0; preload";
    struct cm_audit_hsts h;

    (void)state;
    cm_audit_hsts_parse(v, sizeof(v) - 1, &h);
    assert_false(h.valid);
}

static void
test_target_parse(void **state)
{
    struct cm_audit_target t;

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(cm_audit_target_parse("gw.example.com:443", &t), PC_OK);
    assert_string_equal(t.host, "gw.example.com");
    assert_int_equal(t.port, 443);
    assert_false(t.host_is_ip);
    assert_int_equal(cm_audit_target_parse("127.0.0.1:8443", &t), PC_OK);
    assert_string_equal(t.host, "127.0.0.1");
    assert_true(t.host_is_ip);
    assert_int_equal(cm_audit_target_parse("[::1]:1", &t), PC_OK);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 1);
    assert_true(t.host_is_ip);
}

static void
test_target_parse_refused(void **state)
{
    static const char *const bad[] = {"gw.example.com",
                                      "gw.example.com:",
                                      ":443",
                                      "host:0",
                                      "host:65536",
                                      "host:+443",
                                      "::1:443",
                                      "[::1]443",
                                      "[gw.example.com]:443",
                                      "gw example.com:443",
                                      "-gw.example.com:443",
                                      "[::1:443"};
    struct cm_audit_target t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&t, 0, sizeof(t));
        cm_err_clear();
        if (cm_audit_target_parse(bad[i], &t) != PC_ERR_PARSE)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_non_null(cm_err_get());
    }
}

static void
test_tls12_suite_rule_matches_policy_loader(void **state)
{
    (void)state;
    assert_true(cm_audit_tls12_suite_ok("ECDHE-ECDSA-AES128-GCM-SHA256"));
    assert_true(cm_audit_tls12_suite_ok("ECDHE-RSA-CHACHA20-POLY1305"));
    assert_false(cm_audit_tls12_suite_ok("ECDHE-RSA-AES128-SHA"));
    assert_false(cm_audit_tls12_suite_ok("DHE-RSA-AES128-GCM-SHA256"));
    assert_false(cm_audit_tls12_suite_ok("AES256-GCM-SHA384"));
    assert_false(cm_audit_tls12_suite_ok("ECDHE-ECDSA-AES128-CCM"));
}

static void
test_http_head_parse(void **state)
{
    static const char ok[] = "HTTP/1.1 421 Misdirected Request\r\n"
                             "content-type: text/plain\r\n"
                             "strict-transport-security:   max-age=600; preload  \r\n"
                             "Strict-Transport-Security: max-age=1\r\n\r\n";
    static const char none[] = "HTTP/1.0 200 ok\r\nServer: x\r\n\r\n";
    static const char bad[] = "SSH-2.0-OpenSSH\r\n\r\n";

    (void)state;
    cm_audit_http_head_parse(ok, sizeof(ok) - 1, &obs);
    assert_true(obs.http_done);
    assert_int_equal(obs.http_status, 421);
    assert_true(obs.hsts_present);
    assert_string_equal(obs.hsts_raw, "max-age=600; preload"); /* the first header only */
    assert_true(obs.hsts.valid);
    assert_int_equal(obs.hsts.max_age, 600);
    assert_true(obs.hsts.preload);
    memset(&obs, 0, sizeof(obs));
    cm_audit_http_head_parse(none, sizeof(none) - 1, &obs);
    assert_true(obs.http_done);
    assert_int_equal(obs.http_status, 200);
    assert_false(obs.hsts_present);
    memset(&obs, 0, sizeof(obs));
    cm_audit_http_head_parse(bad, sizeof(bad) - 1, &obs);
    assert_false(obs.http_done);
    assert_string_equal(obs.http_error, "not an HTTP/1.x response");
}

static void
test_key_group_names(void **state)
{
    static const struct {
        const char *type, *param, *want;
    } keys[] = {{"EC", "P-256", "P-256"},   {"EC", "P-384", "P-384"}, {"EC", "P-521", "P-521"},
                {"X25519", NULL, "X25519"}, {"X448", NULL, "X448"},   {"ED25519", NULL, ""}};
    char out[CM_AUDIT_NAME_MAX];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        EVP_PKEY *k = keys[i].param != NULL
                          ? EVP_PKEY_Q_keygen(NULL, NULL, keys[i].type, keys[i].param)
                          : EVP_PKEY_Q_keygen(NULL, NULL, keys[i].type);
        assert_non_null(k);
        cm_audit_key_group(k, out, sizeof(out));
        assert_string_equal(out, keys[i].want);
        EVP_PKEY_free(k);
    }
    cm_audit_key_group(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

/* A CA and a leaf for api.example.com (+ 127.0.0.1) valid from `from` to `to` seconds. */
static void
chain_check(long from, long to, bool trust, const char *name, bool is_ip)
{
    EVP_PKEY *cakey = tg_key(), *key = tg_key();
    X509 *ca = tg_cert("Audit CA", cakey, NULL, NULL, 1, NULL, NULL, -3600, 86400);
    X509 *leaf = tg_cert("api.example.com", key, ca, cakey, 2, "DNS:api.example.com,IP:127.0.0.1",
                         "serverAuth", from, to);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    char curve[CM_AUDIT_NAME_MAX];

    assert_non_null(ca);
    assert_non_null(leaf);
    sk_X509_push(chain, leaf);
    sk_X509_push(chain, ca);
    if (trust)
        X509_STORE_add_cert(store, ca);
    memset(&obs, 0, sizeof(obs));
    snprintf(obs.name, sizeof(obs.name), "%s", name);
    cm_audit_chain_check(chain, store, is_ip, &obs, curve, sizeof(curve));
    assert_int_equal(obs.nchain, 2);
    assert_string_equal(curve, "P-256");
    assert_string_equal(obs.chain[0].subject, "CN=api.example.com");
    assert_string_equal(obs.chain[0].issuer, "CN=Audit CA");
    assert_string_equal(obs.chain[0].key, "EC P-256");
    assert_string_equal(obs.chain[0].sans, "DNS:api.example.com, IP:127.0.0.1");
    assert_true(obs.chain[0].not_after > time(NULL) + to - 60);
    X509_STORE_free(store);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cakey);
}

static void
test_chain_check_verifies_and_checks_the_name(void **state)
{
    (void)state;
    chain_check(-60, 30 * DAY, true, "api.example.com", false);
    assert_true(obs.chain_verified);
    assert_true(obs.name_ok);
    chain_check(-60, 30 * DAY, true, "API.example.com", false);
    assert_true(obs.name_ok);
    chain_check(-60, 30 * DAY, true, "other.example.com", false);
    assert_true(obs.chain_verified);
    assert_false(obs.name_ok);
    chain_check(-60, 30 * DAY, true, "127.0.0.1", true);
    assert_true(obs.name_ok);
    chain_check(-60, 30 * DAY, true, "127.0.0.2", true);
    assert_false(obs.name_ok);
}

static void
test_chain_check_untrusted_or_expired_does_not_verify(void **state)
{
    (void)state;
    chain_check(-60, 30 * DAY, false, "api.example.com", false);
    assert_false(obs.chain_verified);
    assert_non_null(strstr(obs.verify_error, "self-signed certificate in certificate chain"));
    chain_check(-2 * DAY, -DAY, true, "api.example.com", false);
    assert_false(obs.chain_verified);
    assert_non_null(strstr(obs.verify_error, "certificate has expired (depth 0)"));
}

static void
test_report_clear_null_and_names(void **state)
{
    (void)state;
    cm_audit_report_clear(NULL);
    assert_string_equal(cm_audit_sec_name(CM_AUDIT_SEC_HSTS, true), "hsts");
    assert_string_equal(cm_audit_sec_name(CM_AUDIT_SEC_TLS12, false), "TLS 1.2 cipher suites");
    assert_string_equal(cm_audit_sec_name(CM_AUDIT_NSEC, false), "?");
    assert_string_equal(cm_audit_ver_name(CM_AUDIT_TLS11), "TLS 1.1");
    assert_false(cm_audit_res_accepted(CM_AUDIT_UNTESTED));
    assert_false(cm_audit_res_accepted(CM_AUDIT_REFUSED));
    assert_true(cm_audit_res_accepted(CM_AUDIT_ACCEPTED_FAILED));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    (void)tg_crl; /* certgen.h's CRL helper: unused here */
    const struct CMUnitTest tests[] = {
        T(test_grade_modern_baseline_compliant),
        T(test_grade_tls10_accepted_is_violation_in_both_profiles),
        T(test_grade_tls11_accepted_with_cert_required_is_violation),
        T(test_grade_accepted_then_failed_counts_as_accepted),
        T(test_grade_tls12_under_modern_is_violation),
        T(test_grade_intermediate_tls12_aead_compliant),
        T(test_grade_cbc_rsa_kx_and_ccm_suites_are_violations),
        T(test_grade_suite_outside_listed_ciphers_is_violation),
        T(test_grade_tls13_suites_only_checked_when_listed),
        T(test_grade_group_outside_list_is_violation),
        T(test_grade_no_version_accepted_is_violation),
        T(test_grade_untested_version_is_not_graded),
        T(test_grade_budget_exhausted_is_violation),
        T(test_grade_cert_expired_is_violation),
        T(test_grade_cert_expiring_within_14_days_is_violation),
        T(test_grade_cert_not_verified_or_wrong_name_is_violation),
        T(test_grade_no_certificate_is_violation),
        T(test_grade_hsts_not_required_without_hsts_key),
        T(test_grade_hsts_required_and_met),
        T(test_grade_hsts_missing_is_violation),
        T(test_grade_hsts_weaker_is_violation),
        T(test_grade_hsts_lesser_policy_accepts_stronger_header),
        T(test_grade_hsts_invalid_or_unreadable_is_violation),
        T(test_grade_shipped_policy_needs_hsts),
        cmocka_unit_test(test_hsts_parse_valid_forms),
        cmocka_unit_test(test_hsts_parse_invalid_forms),
        cmocka_unit_test(test_hsts_parse_embedded_nul_rejected),
        cmocka_unit_test(test_target_parse),
        cmocka_unit_test(test_target_parse_refused),
        cmocka_unit_test(test_tls12_suite_rule_matches_policy_loader),
        cmocka_unit_test(test_report_clear_null_and_names),
        T(test_http_head_parse),
        cmocka_unit_test(test_key_group_names),
        T(test_chain_check_verifies_and_checks_the_name),
        T(test_chain_check_untrusted_or_expired_does_not_verify),
    };

    return cmocka_run_group_tests_name("cm_audit", tests, NULL, NULL);
}
