/*
 * gateway/: request-path checks before routing, request ids, W3C
 * traceparent validation and generation, problem+json bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw.h"

static h2o_mem_pool_t pool;

static int
setup(void **state)
{
    (void)state;
    h2o_mem_init_pool(&pool);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    h2o_mem_clear_pool(&pool);
    return 0;
}

static enum gw_path_result
check(const char *raw, h2o_iovec_t *out)
{
    return gw_path_check(&pool, raw, strlen(raw), 8192, out);
}

static void
test_path_plain_is_unchanged(void **state)
{
    h2o_iovec_t out;
    const char *raw = "/api/v1/items?x=1&y=%2F";

    (void)state;
    assert_int_equal(check(raw, &out), GW_PATH_OK);
    assert_true(out.base == raw); /* no copy when nothing needs decoding */
    assert_int_equal(out.len, strlen("/api/v1/items"));
}

static void
test_path_percent_decoded_for_routing(void **state)
{
    h2o_iovec_t out;

    (void)state;
    assert_int_equal(check("/%61pi/x%20y", &out), GW_PATH_OK);
    assert_int_equal(out.len, 8);
    assert_memory_equal(out.base, "/api/x y", 8);
}

static void
test_path_ambiguous_forms_rejected(void **state)
{
    static const char *const bad[] = {
        "api",      "",       "/a/../b", "/a/./b", "/..",     "/a/..",     "/a/%2e%2e/b",
        "/a/%2E/b", "/a%2fb", "/a%2Fb",  "/a%5cb", "/a\\b",   "/a%00b",    "/a%0d%0ab",
        "/a%zz",    "/a%2",   "/a b",    "/a\x01", "/a#frag", "/a/.%2e/b",
    };
    h2o_iovec_t out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum gw_path_result r = check(bad[i], &out);
        if (r != GW_PATH_BAD)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void
test_path_dots_inside_names_are_fine(void **state)
{
    h2o_iovec_t out;

    (void)state;
    assert_int_equal(check("/a/.well-known/x", &out), GW_PATH_OK);
    assert_int_equal(check("/a/..b/c...", &out), GW_PATH_OK);
    assert_int_equal(check("/", &out), GW_PATH_OK);
}

static void
test_path_too_long(void **state)
{
    char buf[9000];
    h2o_iovec_t out;

    (void)state;
    memset(buf, 'a', sizeof(buf) - 1);
    buf[0] = '/';
    buf[sizeof(buf) - 1] = '\0';
    assert_int_equal(check(buf, &out), GW_PATH_TOO_LONG);
}

static void
test_traceparent_validation(void **state)
{
    static const char good[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    (void)state;
    assert_true(gw_traceparent_valid(good, strlen(good)));
    assert_false(gw_traceparent_valid(good, strlen(good) - 1));
    assert_false(
        gw_traceparent_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 55));
    assert_false(
        gw_traceparent_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01", 55));
    assert_false(
        gw_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 55));
    assert_false(
        gw_traceparent_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55));
    assert_false(
        gw_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", 57));
    assert_true(
        gw_traceparent_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", 57));
    assert_false(
        gw_traceparent_valid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55));
}

static void
test_traceparent_new_is_valid_and_random(void **state)
{
    char a[56], b[56];

    (void)state;
    gw_traceparent_new(a);
    gw_traceparent_new(b);
    assert_int_equal(strlen(a), 55);
    assert_true(gw_traceparent_valid(a, 55));
    assert_string_not_equal(a, b);
}

static void
test_request_id_is_32_hex(void **state)
{
    char a[33], b[33];
    size_t i;

    (void)state;
    gw_request_id_new(a);
    gw_request_id_new(b);
    assert_int_equal(strlen(a), 32);
    for (i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    assert_string_not_equal(a, b);
}

static void
test_problem_body_shape(void **state)
{
    h2o_iovec_t b = gw_problem_body(&pool, GW_R_CERT_REVOKED, "say \"no\"", "abc");
    char buf[1024];

    (void)state;
    memcpy(buf, b.base, b.len);
    buf[b.len] = '\0';
    assert_string_equal(buf, "{\"type\":\"https://portcullis.dev/problems/cert-revoked\","
                             "\"title\":\"Forbidden\",\"status\":403,\"detail\":\"say \\\"no\\\"\","
                             "\"request_id\":\"abc\"}\n");
    b = gw_problem_body(&pool, GW_R_NO_ROUTE, "secret detail", "abc");
    memcpy(buf, b.base, b.len);
    buf[b.len] = '\0';
    assert_null(strstr(buf, "secret"));
    assert_non_null(strstr(buf, "\"status\":404"));
}

static void
test_reason_table_consistent(void **state)
{
    int r;

    (void)state;
    for (r = 0; r < GW_R_MAX; r++) {
        assert_non_null(gw_reason_slug((enum gw_reason)r));
        assert_string_not_equal(gw_reason_slug((enum gw_reason)r), "unknown");
    }
    assert_int_equal(gw_reason_status(GW_R_MISDIRECTED), 421);
    assert_int_equal(gw_reason_status(GW_R_UPSTREAM_TIMEOUT), 504);
    assert_true(gw_reason_is_deny(GW_R_CERT_NOT_ALLOWED));
    assert_false(gw_reason_is_deny(GW_R_OK));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_plain_is_unchanged),
        cmocka_unit_test(test_path_percent_decoded_for_routing),
        cmocka_unit_test(test_path_ambiguous_forms_rejected),
        cmocka_unit_test(test_path_dots_inside_names_are_fine),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_traceparent_validation),
        cmocka_unit_test(test_traceparent_new_is_valid_and_random),
        cmocka_unit_test(test_request_id_is_32_hex),
        cmocka_unit_test(test_problem_body_shape),
        cmocka_unit_test(test_reason_table_consistent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
