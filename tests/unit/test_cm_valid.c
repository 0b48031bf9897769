/*
 * certmgr/cm_valid.c: names, SANs, serials, times, reason and key-type names.
 * Every refusal here is what keeps a bad value out of a certificate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

#define S(x) (x), strlen(x)

static void
test_name_good_accepted(void **state)
{
    (void)state;
    assert_true(cm_name_is_valid(S("alice")));
    assert_true(cm_name_is_valid(S("svc-1.prod_eu")));
    assert_true(cm_name_is_valid(S("A")));
    assert_true(cm_name_is_valid(S("a.")));
    assert_true(
        cm_name_is_valid(S("0123456789012345678901234567890123456789012345678901234567890123")));
}

static void
test_name_bad_refused(void **state)
{
    (void)state;
    assert_false(cm_name_is_valid(S("")));
    assert_false(cm_name_is_valid(S(".hidden")));
    assert_false(cm_name_is_valid(S("..")));
    assert_false(cm_name_is_valid(S("a/b")));
    assert_false(cm_name_is_valid(S("a b")));
    assert_false(cm_name_is_valid(S("é")));
    assert_false(cm_name_is_valid(S("a\nb")));
    assert_false(cm_name_is_valid("a\0b", 3));
    assert_false(
        cm_name_is_valid(S("01234567890123456789012345678901234567890123456789012345678901234")));
}

static void
test_cn_utf8_checked(void **state)
{
    (void)state;
    assert_true(cm_cn_is_valid(S("Portcullis Client CA")));
    assert_true(cm_cn_is_valid(S("Zürich CA")));
    assert_false(cm_cn_is_valid(S("")));
    assert_false(cm_cn_is_valid(S("bad\tname")));
    assert_false(cm_cn_is_valid(S("\xc3")));             /* truncated */
    assert_false(cm_cn_is_valid(S("\xc0\xaf")));         /* overlong */
    assert_false(cm_cn_is_valid(S("\xed\xa0\x80")));     /* surrogate */
    assert_false(cm_cn_is_valid(S("\xf4\x90\x80\x80"))); /* > U+10FFFF */
}

static void
test_dns_good_accepted(void **state)
{
    (void)state;
    assert_true(cm_dns_is_valid(S("example.com")));
    assert_true(cm_dns_is_valid(S("alice.svc.example.com")));
    assert_true(cm_dns_is_valid(S("localhost")));
    assert_true(cm_dns_is_valid(S("xn--bcher-kva.example")));
    assert_true(cm_dns_is_valid(S("a-b.c1")));
    assert_true(cm_dns_is_valid(S("1.2.3.example")));
}

static void
test_dns_bad_refused(void **state)
{
    char big[300];

    (void)state;
    assert_false(cm_dns_is_valid(S("")));
    assert_false(cm_dns_is_valid(S("*.example.com"))); /* no wildcards in client certs */
    assert_false(cm_dns_is_valid(S("example.com.")));
    assert_false(cm_dns_is_valid(S(".example.com")));
    assert_false(cm_dns_is_valid(S("a..b")));
    assert_false(cm_dns_is_valid(S("-a.com")));
    assert_false(cm_dns_is_valid(S("a-.com")));
    assert_false(cm_dns_is_valid(S("a_b.com")));
    assert_false(cm_dns_is_valid(S("a b.com")));
    assert_false(cm_dns_is_valid(S("10.0.0.1"))); /* an address, not a name */
    assert_false(cm_dns_is_valid(S("a.123")));
    assert_false(cm_dns_is_valid("a\0.com", 6));
    memset(big, 'a', 64);
    memcpy(big + 64, ".com", 5);
    assert_false(cm_dns_is_valid(S(big))); /* 64-byte label */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (size_t i = 60; i < sizeof(big) - 1; i += 61)
        big[i] = '.';
    assert_false(cm_dns_is_valid(S(big))); /* > 253 bytes */
}

static void
test_uri_good_accepted(void **state)
{
    (void)state;
    assert_true(cm_uri_is_valid(S("spiffe://example.com/ns/prod/sa/billing")));
    assert_true(cm_uri_is_valid(S("spiffe://td_1.example-x/a")));
    assert_true(cm_uri_is_valid(S("https://example.com/x?y=1#z")));
    assert_true(cm_uri_is_valid(S("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")));
    assert_true(cm_uri_is_valid(S("mailto:a@b.c")));
    assert_true(cm_uri_is_valid(S("https://ex.com/a%20b")));
}

static void
test_uri_bad_refused(void **state)
{
    (void)state;
    assert_false(cm_uri_is_valid(S("")));
    assert_false(cm_uri_is_valid(S("example.com/path"))); /* no scheme */
    assert_false(cm_uri_is_valid(S("1http://x")));
    assert_false(cm_uri_is_valid(S("https:")));
    assert_false(cm_uri_is_valid(S("https://a b")));
    assert_false(cm_uri_is_valid(S("https://a\tb")));
    assert_false(cm_uri_is_valid(S("https://a\x7f")));
    assert_false(cm_uri_is_valid("https://a\0b", 11));
    assert_false(cm_uri_is_valid(S("https://a/<script>")));
    assert_false(cm_uri_is_valid(S("https://a/%zz")));
    assert_false(cm_uri_is_valid(S("https://a/%4")));
    assert_false(cm_uri_is_valid(S("https://ex.com/\xc3\xa9")));
    /* SPIFFE ID rules */
    assert_false(cm_uri_is_valid(S("spiffe://example.com")));    /* no path */
    assert_false(cm_uri_is_valid(S("spiffe://example.com/")));   /* empty path */
    assert_false(cm_uri_is_valid(S("spiffe://example.com/a/"))); /* trailing slash */
    assert_false(cm_uri_is_valid(S("spiffe://example.com/a//b")));
    assert_false(cm_uri_is_valid(S("spiffe://example.com/a/../b")));
    assert_false(cm_uri_is_valid(S("spiffe://example.com/./b")));
    assert_false(cm_uri_is_valid(S("spiffe:///a")));
    assert_false(cm_uri_is_valid(S("spiffe://Example.com/a")));
    assert_false(cm_uri_is_valid(S("spiffe://example.com:8443/a")));
    assert_false(cm_uri_is_valid(S("spiffe://user@example.com/a")));
    assert_false(cm_uri_is_valid(S("spiffe://example.com/a?x=1")));
    assert_false(cm_uri_is_valid(S("spiffe://example.com/a#f")));
    assert_false(cm_uri_is_valid(S("spiffe://example.com/a%20b")));
    assert_false(cm_uri_is_valid(S("SPIFFE://example.com/a")));
    assert_false(cm_uri_is_valid(S("spiffe:example.com/a")));
}

static void
test_email_checked(void **state)
{
    (void)state;
    assert_true(cm_email_is_valid(S("alice@example.com")));
    assert_true(cm_email_is_valid(S("a.b+tag@sub.example.com")));
    assert_false(cm_email_is_valid(S("alice")));
    assert_false(cm_email_is_valid(S("@example.com")));
    assert_false(cm_email_is_valid(S("alice@")));
    assert_false(cm_email_is_valid(S("a@b@example.com")));
    assert_false(cm_email_is_valid(S(".a@example.com")));
    assert_false(cm_email_is_valid(S("a.@example.com")));
    assert_false(cm_email_is_valid(S("a..b@example.com")));
    assert_false(cm_email_is_valid(S("a b@example.com")));
    assert_false(cm_email_is_valid(S("\"a\"@example.com")));
    assert_false(cm_email_is_valid(S("a@*.example.com")));
    assert_false(cm_email_is_valid(S("a@10.0.0.1")));
}

static void
expect_serial(const char *in, const char *want)
{
    char out[CM_SERIAL_HEX_MAX + 1];

    assert_int_equal(cm_serial_parse(in, out), PC_OK);
    assert_string_equal(out, want);
    assert_true(cm_serial_is_canonical(out, strlen(out)));
}

static void
test_serial_parse_forms(void **state)
{
    (void)state;
    expect_serial("0a1b", "0a1b");
    expect_serial("0A1B", "0a1b");
    expect_serial("0a:1B", "0a1b");
    expect_serial("a:b", "0a0b");
    expect_serial("abc", "0abc");
    expect_serial("000abc", "0abc");
    expect_serial("00:0a:bc", "0abc");
    expect_serial("1", "01");
    expect_serial("9186B17078D96904387D8DD8A20DFA36", "9186b17078d96904387d8dd8a20dfa36");
    expect_serial("91:86:b1:70:78:d9:69:04:38:7d:8d:d8:a2:0d:fa:36",
                  "9186b17078d96904387d8dd8a20dfa36");
    expect_serial("0123456789012345678901234567890123456789",
                  "0123456789012345678901234567890123456789");
}

static void
test_serial_parse_bad_refused(void **state)
{
    char out[CM_SERIAL_HEX_MAX + 1], big[300];

    (void)state;
    assert_int_equal(cm_serial_parse("", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("0", out), PC_ERR_PARSE); /* zero is not a serial */
    assert_int_equal(cm_serial_parse("00:00", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("xyz", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("0x1a", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("-1", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("0a::1b", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse(":0a", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("0a:", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("abc:1", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("0a 1b", out), PC_ERR_PARSE);
    assert_int_equal(cm_serial_parse("alice", out), PC_ERR_PARSE);
    /* 21 octets */
    assert_int_equal(cm_serial_parse("112233445566778899001122334455667788990011", out),
                     PC_ERR_TOO_LARGE);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cm_serial_parse(big, out), PC_ERR_TOO_LARGE);
}

static void
test_serial_canonical_only(void **state)
{
    (void)state;
    assert_true(cm_serial_is_canonical(S("0a")));
    assert_false(cm_serial_is_canonical(S("a")));
    assert_false(cm_serial_is_canonical(S("0A")));
    assert_false(cm_serial_is_canonical(S("000a")));
    assert_false(cm_serial_is_canonical(S("00")));
    assert_false(cm_serial_is_canonical(S("")));
    assert_false(cm_serial_is_canonical(S("0a:1b")));
    assert_false(cm_serial_is_canonical(S("112233445566778899001122334455667788990011")));
}

static void
test_time_iso_parsed(void **state)
{
    time_t t;

    (void)state;
    assert_int_equal(cm_time_parse_iso(S("1970-01-01T00:00:00Z"), &t), PC_OK);
    assert_int_equal(t, 0);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01T00:00:00Z"), &t), PC_OK);
    assert_int_equal(t, 1577836800);
    assert_int_equal(cm_time_parse_iso(S("2000-02-29T12:34:56Z"), &t), PC_OK);
    assert_int_equal(t, 951827696);
    assert_int_equal(cm_time_parse_iso(S("1950-01-01T00:00:00Z"), &t), PC_OK);
    assert_int_equal(t, CM_TIME_MIN);
    assert_int_equal(cm_time_parse_iso(S("9999-12-31T23:59:59Z"), &t), PC_OK);
    assert_int_equal(t, CM_TIME_MAX);
}

static void
test_time_iso_bad_refused(void **state)
{
    time_t t = 42;

    (void)state;
    assert_int_equal(cm_time_parse_iso(S("2021-02-29T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2100-02-29T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-04-31T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-13-01T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-00-01T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-00T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01T24:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01T00:60:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01T00:00:60Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01T00:00:00"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01t00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01 00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-01-01T00:00:00+00:00"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("1949-12-31T23:59:59Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("+020-01-01T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(cm_time_parse_iso(S("2020-1-01T00:00:00Z"), &t), PC_ERR_PARSE);
    assert_int_equal(t, 42); /* untouched on failure */
}

static void
test_time_arg_relative(void **state)
{
    const time_t now = 1700000000;
    time_t t;

    (void)state;
    assert_int_equal(cm_time_parse_arg("now", now, &t), PC_OK);
    assert_int_equal(t, now);
    assert_int_equal(cm_time_parse_arg("+30d", now, &t), PC_OK);
    assert_int_equal(t, now + 30 * 86400);
    assert_int_equal(cm_time_parse_arg("-1d", now, &t), PC_OK);
    assert_int_equal(t, now - 86400);
    assert_int_equal(cm_time_parse_arg("+12h", now, &t), PC_OK);
    assert_int_equal(t, now + 12 * 3600);
    assert_int_equal(cm_time_parse_arg("-90s", now, &t), PC_OK);
    assert_int_equal(t, now - 90);
    assert_int_equal(cm_time_parse_arg("2020-01-01T00:00:00Z", now, &t), PC_OK);
    assert_int_equal(t, 1577836800);
}

static void
test_time_arg_bad_refused(void **state)
{
    time_t t;

    (void)state;
    assert_int_not_equal(cm_time_parse_arg("", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("Now", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("tomorrow", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("+", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("+30", 0, &t), PC_OK); /* the unit is mandatory */
    assert_int_not_equal(cm_time_parse_arg("30d", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("+1500ms", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("+-1d", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("+1w", 0, &t), PC_OK);
    assert_int_not_equal(cm_time_parse_arg("-36500d", 0, &t), PC_OK); /* before 1950 */
}

static void
test_time_format_roundtrip(void **state)
{
    char buf[CM_TIME_LEN + 1];
    time_t t;

    (void)state;
    assert_string_equal(cm_time_format(1577836800, buf), "2020-01-01T00:00:00Z");
    assert_string_equal(cm_time_format(CM_TIME_MAX, buf), "9999-12-31T23:59:59Z");
    assert_int_equal(cm_time_parse_iso(cm_time_format(951827696, buf), CM_TIME_LEN, &t), PC_OK);
    assert_int_equal(t, 951827696);
}

static void
test_reason_names(void **state)
{
    static const char *const names[] = {
        "unspecified", "keyCompromise",        "cACompromise",      "affiliationChanged",
        "superseded",  "cessationOfOperation", "privilegeWithdrawn"};
    static const int codes[] = {0, 1, 2, 3, 4, 5, 9};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(cm_reason_parse(names[i]), codes[i]);
        assert_string_equal(cm_reason_name(codes[i]), names[i]);
    }
    assert_int_equal(cm_reason_parse("KEYCOMPROMISE"), 1);
    assert_int_equal(cm_reason_parse("certificateHold"), -1); /* no holds */
    assert_int_equal(cm_reason_parse("removeFromCRL"), -1);
    assert_int_equal(cm_reason_parse(""), -1);
    assert_int_equal(cm_reason_parse("key-compromise"), -1);
    assert_null(cm_reason_name(6));
    assert_null(cm_reason_name(8));
    assert_null(cm_reason_name(-1));
}

static void
test_key_type_names(void **state)
{
    (void)state;
    assert_int_equal(cm_key_type_parse("ec256"), CM_KEY_EC256);
    assert_int_equal(cm_key_type_parse("ec384"), CM_KEY_EC384);
    assert_int_equal(cm_key_type_parse("ed25519"), CM_KEY_ED25519);
    assert_int_equal(cm_key_type_parse("rsa2048"), CM_KEY_RSA2048);
    assert_int_equal(cm_key_type_parse("rsa1024"), -1);
    assert_int_equal(cm_key_type_parse("EC256"), -1);
    assert_string_equal(cm_key_type_name(CM_KEY_ED25519), "ed25519");
}

static void
test_sans_add_validates_and_caps(void **state)
{
    struct cm_sans s;
    char name[32];
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    cm_err_clear();
    assert_int_equal(cm_sans_add(&s, "dns", S("*.x.com"), "--dns"), PC_ERR_INVALID);
    assert_non_null(strstr(cm_err_get(), "--dns \"*.x.com\""));
    assert_int_equal(cm_sans_add(&s, "ip", S("10.0.0.1"), "--ip"), PC_ERR_INTERNAL);
    assert_int_equal(cm_sans_add(&s, "uri", S("spiffe://x/y"), "--spiffe"), PC_OK);
    assert_int_equal(cm_sans_add(&s, "email", S("a@b.com"), "--email"), PC_OK);
    for (i = 2; i < CM_SANS_MAX; i++) {
        snprintf(name, sizeof(name), "h%d.example.com", i);
        assert_int_equal(cm_sans_add(&s, "dns", S(name), "--dns"), PC_OK);
    }
    assert_int_equal(cm_sans_count(&s), CM_SANS_MAX);
    assert_int_equal(cm_sans_add(&s, "dns", S("one.more.com"), "--dns"), PC_ERR_TOO_LARGE);
    cm_sans_clear(&s);
    assert_int_equal(cm_sans_count(&s), 0);
    cm_err_clear();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_good_accepted),
        cmocka_unit_test(test_name_bad_refused),
        cmocka_unit_test(test_cn_utf8_checked),
        cmocka_unit_test(test_dns_good_accepted),
        cmocka_unit_test(test_dns_bad_refused),
        cmocka_unit_test(test_uri_good_accepted),
        cmocka_unit_test(test_uri_bad_refused),
        cmocka_unit_test(test_email_checked),
        cmocka_unit_test(test_serial_parse_forms),
        cmocka_unit_test(test_serial_parse_bad_refused),
        cmocka_unit_test(test_serial_canonical_only),
        cmocka_unit_test(test_time_iso_parsed),
        cmocka_unit_test(test_time_iso_bad_refused),
        cmocka_unit_test(test_time_arg_relative),
        cmocka_unit_test(test_time_arg_bad_refused),
        cmocka_unit_test(test_time_format_roundtrip),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_key_type_names),
        cmocka_unit_test(test_sans_add_validates_and_caps),
    };

    return cmocka_run_group_tests_name("cm_valid", tests, NULL, NULL);
}
