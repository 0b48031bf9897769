/*
 * common/: bounded integer, duration and size parsing, base64url, JSON
 * escaping, bounded buffers, QSBR reclamation.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_rand.h"
#include "common/pc_rcu.h"
#include "common/pc_sha256.h"
#include "common/pc_str.h"

#define S(x) x, sizeof(x) - 1

static void
test_parse_u64_accepts_digits(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(pc_parse_u64(S("0"), 10, &v), PC_OK);
    assert_int_equal(v, 0);
    assert_int_equal(pc_parse_u64(S("18446744073709551615"), UINT64_MAX, &v), PC_OK);
    assert_true(v == UINT64_MAX);
}

static void
test_parse_u64_rejects_garbage(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(pc_parse_u64(S(""), 10, &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_u64(S("-1"), 10, &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_u64(S("+1"), 10, &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_u64(S(" 1"), 10, &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_u64(S("1x"), 10, &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_u64("1\0"
                                  "2",
                                  3, 100, &v),
                     PC_ERR_PARSE);
    assert_int_equal(pc_parse_u64(S("11"), 10, &v), PC_ERR_TOO_LARGE);
    assert_int_equal(pc_parse_u64(S("18446744073709551616"), UINT64_MAX, &v), PC_ERR_TOO_LARGE);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void
test_parse_duration_units(void **state)
{
    uint64_t ms;

    (void)state;
    assert_int_equal(pc_parse_duration_ms(S("25ms"), &ms), PC_OK);
    assert_int_equal(ms, 25);
    assert_int_equal(pc_parse_duration_ms(S("5s"), &ms), PC_OK);
    assert_int_equal(ms, 5000);
    assert_int_equal(pc_parse_duration_ms(S("2m"), &ms), PC_OK);
    assert_int_equal(ms, 120000);
    assert_int_equal(pc_parse_duration_ms(S("24h"), &ms), PC_OK);
    assert_int_equal(ms, 86400000);
    assert_int_equal(pc_parse_duration_ms(S("30d"), &ms), PC_OK);
    assert_int_equal(ms, 2592000000ULL);
}

static void
test_parse_duration_requires_unit(void **state)
{
    uint64_t ms;

    (void)state;
    assert_int_equal(pc_parse_duration_ms(S("30"), &ms), PC_ERR_PARSE);
    assert_int_equal(pc_parse_duration_ms(S("s"), &ms), PC_ERR_PARSE);
    assert_int_equal(pc_parse_duration_ms(S("5 s"), &ms), PC_ERR_PARSE);
    assert_int_equal(pc_parse_duration_ms(S("5sec"), &ms), PC_ERR_PARSE);
    assert_int_equal(pc_parse_duration_ms(S("99999999999999d"), &ms), PC_ERR_TOO_LARGE);
}

static void
test_parse_size_suffixes(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(pc_parse_size(S("100"), &v), PC_OK);
    assert_int_equal(v, 100);
    assert_int_equal(pc_parse_size(S("100B"), &v), PC_OK);
    assert_int_equal(v, 100);
    assert_int_equal(pc_parse_size(S("8k"), &v), PC_OK);
    assert_int_equal(v, 8192);
    assert_int_equal(pc_parse_size(S("16MB"), &v), PC_OK);
    assert_int_equal(v, 16 * 1024 * 1024);
    assert_int_equal(pc_parse_size(S("1g"), &v), PC_OK);
    assert_int_equal(pc_parse_size(S("8x"), &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_size(S("8kk"), &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_size(S("k"), &v), PC_ERR_PARSE);
    assert_int_equal(pc_parse_size(S("2000g"), &v), PC_ERR_TOO_LARGE);
}

static void
test_b64url_round_trip(void **state)
{
    unsigned char in[64], out[64];
    char enc[PC_B64URL_ENCLEN(64) + 1];
    size_t n, i, len;

    (void)state;
    for (i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 37 + 250);
    for (len = 0; len <= sizeof(in); len++) {
        n = pc_b64url_encode(enc, in, len);
        assert_int_equal(n, PC_B64URL_ENCLEN(len));
        assert_null(strchr(enc, '='));
        assert_int_equal(pc_b64url_decode(enc, n, out, sizeof(out), &i), PC_OK);
        assert_int_equal(i, len);
        assert_memory_equal(in, out, len);
    }
}

static void
test_b64url_decode_is_strict(void **state)
{
    unsigned char out[16];
    size_t n;

    (void)state;
    assert_int_equal(pc_b64url_decode(S("AQ=="), out, sizeof(out), &n), PC_ERR_PARSE);
    assert_int_equal(pc_b64url_decode(S("A+8"), out, sizeof(out), &n), PC_ERR_PARSE);
    assert_int_equal(pc_b64url_decode(S("A/8"), out, sizeof(out), &n), PC_ERR_PARSE);
    assert_int_equal(pc_b64url_decode(S("A"), out, sizeof(out), &n), PC_ERR_PARSE);
    assert_int_equal(pc_b64url_decode(S("AR"), out, sizeof(out), &n), PC_ERR_PARSE); /* bits */
    assert_int_equal(pc_b64url_decode(S("AQ"), out, sizeof(out), &n), PC_OK);
    assert_int_equal(pc_b64url_decode(S("AQID"), out, 2, &n), PC_ERR_TOO_LARGE);
}

static void
test_json_escape_controls_and_utf8(void **state)
{
    char out[64];
    size_t n;

    (void)state;
    n = pc_json_escape(out, 0, sizeof(out), S("a\"b\\c\n\x01"));
    out[n] = '\0';
    assert_string_equal(out, "a\\\"b\\\\c\\u000a\\u0001");
    n = pc_json_escape(out, 0, sizeof(out), S("\xc3\xa9\xff"));
    out[n] = '\0';
    assert_string_equal(out, "\xc3\xa9\\ufffd");
    assert_true(pc_json_escape(out, 0, 4, S("\"\"\"")) == SIZE_MAX);
}

static void
test_buf_respects_cap(void **state)
{
    struct pc_buf b;

    (void)state;
    pc_buf_init(&b, 8);
    assert_int_equal(pc_buf_adds(&b, "12345"), PC_OK);
    assert_int_equal(pc_buf_adds(&b, "6789"), PC_ERR_TOO_LARGE);
    assert_string_equal(b.data, "12345");
    assert_int_equal(pc_buf_addf(&b, "%d", 678), PC_OK);
    assert_int_equal(b.len, 8);
    assert_int_equal(pc_buf_addc(&b, 'x'), PC_ERR_TOO_LARGE);
    pc_buf_clear(&b);
}

static int freed;

static void
count_free(void *p)
{
    freed++;
    free(p);
}

static void
test_rcu_waits_for_every_reader(void **state)
{
    struct pc_rcu *r = pc_rcu_global();
    int a = pc_rcu_register(r), b = pc_rcu_register(r);

    (void)state;
    assert_true(a >= 0 && b >= 0);
    freed = 0;
    pc_rcu_retire(r, malloc(4), count_free);
    pc_rcu_reclaim(r);
    assert_int_equal(freed, 0); /* neither reader passed a quiescent state */
    pc_rcu_quiescent(r, a);
    pc_rcu_reclaim(r);
    assert_int_equal(freed, 0); /* b still may hold it */
    pc_rcu_quiescent(r, b);
    assert_int_equal(pc_rcu_reclaim(r), 0);
    assert_int_equal(freed, 1);
    pc_rcu_unregister(r, b);
    pc_rcu_retire(r, malloc(4), count_free);
    pc_rcu_quiescent(r, a);
    pc_rcu_reclaim(r);
    assert_int_equal(freed, 2); /* an unregistered reader does not hold anything back */
    pc_rcu_unregister(r, a);
}

static void *
thread_rand(void *arg)
{
    *(uint64_t *)arg = pc_fastrand64();
    return NULL;
}

static void
test_fastrand_varies_per_call_and_thread(void **state)
{
    unsigned char a[24], b[24];
    uint64_t x = 0, y = 0;
    pthread_t t1, t2;

    (void)state;
    pc_fastrand_bytes(a, sizeof(a));
    pc_fastrand_bytes(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    pthread_create(&t1, NULL, thread_rand, &x);
    pthread_create(&t2, NULL, thread_rand, &y);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_true(x != y); /* each thread seeds its own state from getrandom */
}

/* FIPS 180-2 vectors, and the same digest from several threads at once */
static const unsigned char sha_abc[PC_SHA256_LEN] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const unsigned char sha_empty[PC_SHA256_LEN] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

static void *
sha_thread(void *arg)
{
    unsigned char md[PC_SHA256_LEN];
    int i, bad = 0;

    (void)arg;
    for (i = 0; i < 1000; i++)
        bad |= pc_sha256("abc", 3, md) != 0 || memcmp(md, sha_abc, sizeof(md)) != 0;
    return bad ? (void *)1 : NULL;
}

static void
test_sha256_vectors(void **state)
{
    unsigned char md[PC_SHA256_LEN];
    pthread_t t[4];
    void *ret;
    int i;

    (void)state;
    assert_int_equal(pc_sha256("abc", 3, md), 0);
    assert_memory_equal(md, sha_abc, sizeof(md));
    assert_int_equal(pc_sha256("", 0, md), 0);
    assert_memory_equal(md, sha_empty, sizeof(md));
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sha_thread, NULL), 0);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
}

static void
test_b64url_is_text(void **state)
{
    (void)state;
    assert_true(pc_b64url_is_text("aZ09-_", 6));
    assert_false(pc_b64url_is_text("", 0));
    assert_false(pc_b64url_is_text("ab=", 3));
    assert_false(pc_b64url_is_text("a/b", 3));
    assert_false(pc_b64url_is_text("a.b", 3));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_b64url_is_text),
        cmocka_unit_test(test_parse_u64_accepts_digits),
        cmocka_unit_test(test_parse_u64_rejects_garbage),
        cmocka_unit_test(test_parse_duration_units),
        cmocka_unit_test(test_parse_duration_requires_unit),
        cmocka_unit_test(test_parse_size_suffixes),
        cmocka_unit_test(test_b64url_round_trip),
        cmocka_unit_test(test_b64url_decode_is_strict),
        cmocka_unit_test(test_json_escape_controls_and_utf8),
        cmocka_unit_test(test_buf_respects_cap),
        cmocka_unit_test(test_rcu_waits_for_every_reader),
        cmocka_unit_test(test_fastrand_varies_per_call_and_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
