/*
 * gateway/gw_uhead.c: what the gateway makes of an upstream's response
 * head (RFC 9112 §6.3 framing; refusals that become 502).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_uhead.h"

static struct gw_uhead uh;

static int
parse(const char *s, bool head)
{
    const char *why = NULL;
    int n = gw_uhead_parse(s, strlen(s), head, &uh, &why);

    if (n == -1)
        assert_non_null(why);
    return n;
}

static void
test_framing(void **state)
{
    (void)state;
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(parse(r, false), (int)strlen(r) - 5);
    assert_int_equal(uh.framing, GW_UBODY_LENGTH);
    assert_int_equal(uh.clen, 5);
    assert_true(uh.keepalive);

    assert_int_equal(parse(r, true), (int)strlen(r) - 5);
    assert_int_equal(uh.framing, GW_UBODY_NONE); /* HEAD */

    assert_true(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n", false) > 0);
    assert_int_equal(uh.framing, GW_UBODY_CHUNKED);

    assert_true(parse("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", false) > 0);
    assert_int_equal(uh.framing, GW_UBODY_NONE);
    assert_true(parse("HTTP/1.1 304 Not Modified\r\n\r\n", false) > 0);
    assert_int_equal(uh.framing, GW_UBODY_NONE);

    assert_true(parse("HTTP/1.1 200 OK\r\nX: y\r\n\r\n", false) > 0);
    assert_int_equal(uh.framing, GW_UBODY_CLOSE);
    assert_false(uh.keepalive);

    assert_true(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false) > 0);
    assert_false(uh.keepalive);
    assert_true(
        parse("HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n", false) > 0);
    assert_false(uh.keepalive);
    /* the same length twice is allowed (RFC 9110 §8.6) */
    assert_true(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false) >
                0);
    assert_int_equal(uh.clen, 3);
}

static void
test_interim_skipped(void **state)
{
    (void)state;
    const char *r = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(parse(r, false), (int)strlen(r));
    assert_int_equal(uh.status, 201);
    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 O", false), -2);
}

static void
test_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Len", false), -2);
    assert_int_equal(
        parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", false), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", false), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false),
                     -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n",
                           false),
                     -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "Content-Length: 4\r\n\r\n",
                           false),
                     -1);
    assert_int_equal(parse("HTTP/1.1 101 Switching Protocols\r\n\r\n", false), -1);
    assert_int_equal(parse("HTTP/1.1 099 Low\r\n\r\n", false), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", false), -1);
    assert_int_equal(parse("SMTP ready\r\n\r\n", false), -1);
}

static void
test_too_many_fields(void **state)
{
    (void)state;
    char buf[8192];
    size_t n = 0;
    int i;

    n += (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
    for (i = 0; i <= GW_UHEAD_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    assert_int_equal(parse(buf, false), -1);
}

static void
test_hop_by_hop(void **state)
{
    (void)state;
    assert_true(gw_uhead_is_hop_by_hop("Connection", 10));
    assert_true(gw_uhead_is_hop_by_hop("TRANSFER-ENCODING", 17));
    assert_true(gw_uhead_is_hop_by_hop("content-length", 14));
    assert_false(gw_uhead_is_hop_by_hop("content-type", 12));
    assert_false(gw_uhead_is_hop_by_hop("connectio", 9));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),    cmocka_unit_test(test_interim_skipped),
        cmocka_unit_test(test_refused),    cmocka_unit_test(test_too_many_fields),
        cmocka_unit_test(test_hop_by_hop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
