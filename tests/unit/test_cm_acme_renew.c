/*
 * certmgr/cm_acme_renew.c: when to renew.  renew_before as a share of the
 * lifetime (33%) and as a duration (30d, clamped for short certificates),
 * the time picked in an RFC 9773 window (future, past, straddling now),
 * the RFC 9773 certID (the RFC's own example), and the back-off after
 * failures (growth, ceiling, near expiry, jitter bounds).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "certmgr/cm_acme.h"
#include "common/pc_err.h"

/* the daemon's statics (is_due) */
#include "../../certmgr/cm_acme_run.c"

#define DAY 86400

static void
test_renew_at_third_of_lifetime(void **state)
{
    (void)state;
    /* 90 days: renew when 33% (29.7 days) is left */
    assert_int_equal(cm_renew_at(0, 90 * DAY, 33, 0), 90 * DAY - (90 * DAY / 100) * 33);
    assert_int_equal(cm_renew_at(1000, 1000 + 100, 33, 0), 1000 + 67);
    assert_int_equal(cm_renew_at(0, 99, 50, 0), 50); /* 49.5 left, rounded down */
    /* pebble's 5 years */
    assert_int_equal(cm_renew_at(0, 1826 * DAY, 33, 0), 1826 * DAY - (1826 * DAY / 100) * 33);
    /* 1% and 99% */
    assert_int_equal(cm_renew_at(0, 100 * DAY, 1, 0), 99 * DAY);
    assert_int_equal(cm_renew_at(0, 100 * DAY, 99, 0), 1 * DAY);
    /* huge values do not overflow */
    assert_true(cm_renew_at(0, INT64_C(1) << 62, 99, 0) > 0);
}

static void
test_renew_at_duration(void **state)
{
    (void)state;
    /* 90 days, renew_before 30d: at day 60 */
    assert_int_equal(cm_renew_at(0, 90 * DAY, 0, 30ULL * DAY * 1000), 60 * DAY);
    /* exactly 2/3 of the lifetime is still taken as written */
    assert_int_equal(cm_renew_at(0, 90 * DAY, 0, 60ULL * DAY * 1000), 30 * DAY);
    /* a 7-day certificate with renew_before 30d: not "always due", but at a third */
    assert_int_equal(cm_renew_at(0, 7 * DAY, 0, 30ULL * DAY * 1000), 7 * DAY / 3);
}

static void
test_renew_at_nonsense_validity(void **state)
{
    (void)state;
    assert_int_equal(cm_renew_at(100, 100, 33, 0), 100);
    assert_int_equal(cm_renew_at(100, 50, 0, 1000), 100);
}

static void
test_ari_pick_window(void **state)
{
    struct cm_acme_ari w = {.start = 1000, .end = 2000};

    (void)state;
    /* in the future: uniform in [start, end) */
    assert_int_equal(cm_ari_pick(&w, 0, 0), 1000);
    assert_int_equal(cm_ari_pick(&w, 0, 999), 1999);
    assert_int_equal(cm_ari_pick(&w, 0, 1000), 1000); /* modulo the span */
    assert_int_equal(cm_ari_pick(&w, 0, UINT64_MAX), 1000 + (int64_t)(UINT64_MAX % 1000));
    /* straddling now: a time already past means now */
    assert_int_equal(cm_ari_pick(&w, 1500, 100), 1500);
    assert_int_equal(cm_ari_pick(&w, 1500, 700), 1700);
    /* over: now (RFC 9773 4.2: renew immediately) */
    assert_int_equal(cm_ari_pick(&w, 5000, 123), 5000);
    /* a window that ends before it starts is never picked from */
    w.start = 3000;
    assert_int_equal(cm_ari_pick(&w, 10, 5), 10);
}

static void
test_ari_window_from_canned_json(void **state)
{
    static const char canned[] = "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
                                 "\"end\":\"2025-01-03T04:00:00Z\"}}";
    struct cm_acme_ari w;
    char err[128];

    (void)state;
    assert_int_equal(cm_acme_ari_parse(canned, strlen(canned), &w, err, sizeof(err)), PC_OK);
    /* noon of the window's day for a rnd half way through its 24 hours */
    assert_int_equal(cm_ari_pick(&w, 1735000000, 43200), 1735790400 + 43200);
    cm_acme_ari_clear(&w);
}

/* The daemon's decision (cm_acme_run.c is_due): ARI wins when offered, else renew_before. */
static void
test_due_ari_wins_else_renew_before(void **state)
{
    struct pol_cm_cert cert;
    struct pol_certmgr cfg;
    struct cm_installed inst;
    struct sched sc;
    struct cm_acme a;
    struct daemon d;
    char why[256], name[] = "a", sd[] = "/nonexistent/state", ari_url[] = "https://ca/ari";
    const int64_t now = 1735000000, nb = now - 80 * DAY, na = now + 10 * DAY;
    int64_t at;

    (void)state;
    memset(&cert, 0, sizeof(cert));
    memset(&cfg, 0, sizeof(cfg));
    memset(&inst, 0, sizeof(inst));
    memset(&sc, 0, sizeof(sc));
    memset(&a, 0, sizeof(a));
    memset(&d, 0, sizeof(d));
    cert.name = name;
    cfg.state_dir = sd;
    cfg.renew_percent = 33;
    cfg.certs = &cert;
    cfg.ncerts = 1;
    inst.present = inst.key_ok = inst.names_ok = true;
    inst.not_before = nb;
    inst.not_after = na; /* 11% left: renew_before (33%) says due */
    snprintf(inst.ari_id, sizeof(inst.ari_id), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    d.cfg = &cfg;
    d.inst = &inst;
    d.sched = &sc;
    /* no renewalInfo in the directory: renew_before decides */
    assert_true(is_due(&d, &a, 0, NULL, now, &at, why, sizeof(why)));
    assert_int_equal(at, cm_renew_at(nb, na, 33, 0));
    assert_null(strstr(why, "ACME Renewal Information"));
    /* renewalInfo offered, its window (already fetched) later than renew_before: ARI wins */
    a.dir.renewal_info = ari_url;
    sc.has_ari = true;
    sc.ari.start = now + 2 * DAY;
    sc.ari.end = now + 3 * DAY;
    sc.ari_at = now + 2 * DAY + 600;
    sc.ari_next = now + 3600; /* not time to ask again: no request */
    assert_false(is_due(&d, &a, 0, NULL, now, &at, why, sizeof(why)));
    assert_int_equal(at, now + 2 * DAY + 600);
    assert_non_null(strstr(why, "(ACME Renewal Information)"));
    /* ... and earlier than renew_before: ARI wins too */
    inst.not_after = now + 300 * DAY;
    sc.ari_at = now - 5;
    assert_true(is_due(&d, &a, 0, NULL, now, &at, why, sizeof(why)));
    assert_int_equal(at, now - 5);
    /* a certificate without an AKI has no certID: renew_before again */
    inst.ari_id[0] = '\0';
    assert_false(is_due(&d, &a, 0, NULL, now, &at, why, sizeof(why)));
    assert_int_equal(at, cm_renew_at(nb, now + 300 * DAY, 33, 0));
    /* --force-renew and a broken slot are due whatever the dates say */
    assert_true(is_due(&d, &a, 0, "a", now, &at, why, sizeof(why)));
    assert_string_equal(why, "renewal forced (--force-renew)");
    inst.key_ok = false;
    assert_true(is_due(&d, &a, 0, NULL, now, &at, why, sizeof(why)));
    assert_non_null(strstr(why, "key does not match"));
    a.dir.renewal_info = NULL;
    sc.ari.explanation = NULL;
}

/* A certificate with the AKI key identifier and serial of RFC 9773 4.1's example. */
static X509 *
rfc9773_cert(void)
{
    static const unsigned char kid[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    X509 *x = X509_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    EVP_PKEY *k = EVP_EC_gen("P-256");

    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, kid, sizeof(kid));
    ASN1_INTEGER_set_uint64(serial, 0x87654321);
    X509_set_serialNumber(x, serial);
    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT);
    X509_set_pubkey(x, k);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    AUTHORITY_KEYID_free(akid);
    ASN1_INTEGER_free(serial);
    EVP_PKEY_free(k);
    return x;
}

static void
test_ari_cert_id_rfc_example(void **state)
{
    X509 *x = rfc9773_cert();
    char id[CM_ACME_ARI_ID_MAX + 1], small[10];

    (void)state;
    assert_int_equal(cm_ari_cert_id(x, id, sizeof(id)), PC_OK);
    /* RFC 9773 4.1, also computed by tests/unit/acme_vectors.py */
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert_int_equal(cm_ari_cert_id(x, small, sizeof(small)), PC_ERR_TOO_LARGE);
    X509_free(x);
}

static void
test_ari_cert_id_without_aki(void **state)
{
    X509 *x = X509_new();
    char id[CM_ACME_ARI_ID_MAX + 1];

    (void)state;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 5);
    assert_int_equal(cm_ari_cert_id(x, id, sizeof(id)), PC_ERR_NOT_FOUND);
    assert_string_equal(id, "");
    X509_free(x);
}

static void
test_backoff(void **state)
{
    unsigned n;
    uint64_t r;

    (void)state;
    /* rnd at its extremes gives the jitter's bounds [d/2, d] */
    for (n = 1; n <= 30; n++) {
        int64_t d = (int64_t)CM_BACKOFF_BASE_S << (n < 20 ? n - 1 : 19);
        if (n >= 20 || d > CM_BACKOFF_MAX_S)
            d = CM_BACKOFF_MAX_S;
        assert_int_equal(cm_backoff(n, 0, 0), d / 2);
        assert_int_equal(cm_backoff(n, 0, (uint64_t)(d - d / 2)), d);
    }
    for (r = 0; r < 1000; r++) {
        int64_t v = cm_backoff(3, 0, r * 7919);
        assert_true(v >= 120 && v <= 240);
    }
    /* near expiry: at most a quarter of what is left, at least the base */
    assert_int_equal(cm_backoff(12, 4 * 3600, 1800), 3600);
    assert_true(cm_backoff(12, 4 * 3600, 0) >= 1800);
    assert_int_equal(cm_backoff(12, 100, 30), CM_BACKOFF_BASE_S);
    assert_int_equal(cm_backoff(0, 0, 0), CM_BACKOFF_BASE_S / 2); /* n = 0 reads as 1 */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renew_at_third_of_lifetime),
        cmocka_unit_test(test_renew_at_duration),
        cmocka_unit_test(test_renew_at_nonsense_validity),
        cmocka_unit_test(test_ari_pick_window),
        cmocka_unit_test(test_ari_window_from_canned_json),
        cmocka_unit_test(test_due_ari_wins_else_renew_before),
        cmocka_unit_test(test_ari_cert_id_rfc_example),
        cmocka_unit_test(test_ari_cert_id_without_aki),
        cmocka_unit_test(test_backoff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
