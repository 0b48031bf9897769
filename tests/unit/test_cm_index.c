/*
 * certmgr/cm_index.c: the index.json reader refuses every corruption with a
 * reason naming the field, accepts what the writer writes, and the
 * SERIAL|NAME matcher prefers serials.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

#define SER1 "9186b17078d96904387d8dd8a20dfa36"
#define SER2 "fb6c39aac1a07d3f05712643e18356a4"

/* One valid entry; `extra` replaces the tail after "not_after" (status onwards). */
#define ENTRY(serial, name, tail)                                                                  \
    "{\"serial\":\"" serial "\",\"name\":\"" name "\",\"uri\":[\"spiffe://example.com/a\"],"       \
    "\"dns\":[\"a.example.com\"],\"email\":[],\"not_before\":\"2026-01-01T00:00:00Z\","            \
    "\"not_after\":\"2026-04-01T00:00:00Z\"," tail "}"
#define VALID "\"status\":\"valid\",\"revoked_at\":null,\"reason\":null"
#define REVOKED                                                                                    \
    "\"status\":\"revoked\",\"revoked_at\":\"2026-02-01T00:00:00Z\",\"reason\":\"keyCompromise\""
#define DOC(certs) "{\"version\":1,\"crl_number\":7,\"certs\":[" certs "]}"

static int
parse(const char *text, struct cm_index *idx)
{
    cm_err_clear();
    return cm_index_parse(text, strlen(text), "ca/index.json", idx);
}

/* The document is refused, the index left empty, and the reason mentions `why`. */
static void
expect_refused(const char *text, const char *why)
{
    struct cm_index idx;

    assert_int_not_equal(parse(text, &idx), PC_OK);
    assert_int_equal(idx.n, 0);
    assert_null(idx.certs);
    assert_non_null(cm_err_get());
    if (strstr(cm_err_get(), why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", cm_err_get(), why);
    assert_non_null(strstr(cm_err_get(), "ca/index.json: "));
}

static void
test_index_valid_parsed(void **state)
{
    struct cm_index idx;

    (void)state;
    assert_int_equal(parse(DOC(ENTRY(SER1, "alice", VALID) "," ENTRY(SER2, "bob", REVOKED)), &idx),
                     PC_OK);
    assert_int_equal(idx.crl_number, 7);
    assert_int_equal(idx.n, 2);
    assert_string_equal(idx.certs[0].serial, SER1);
    assert_string_equal(idx.certs[0].name, "alice");
    assert_int_equal(idx.certs[0].sans.uri.n, 1);
    assert_string_equal(idx.certs[0].sans.dns.v[0], "a.example.com");
    assert_int_equal(idx.certs[0].sans.email.n, 0);
    assert_int_equal(idx.certs[0].status, CM_STATUS_VALID);
    assert_int_equal(idx.certs[1].status, CM_STATUS_REVOKED);
    assert_int_equal(idx.certs[1].reason, CM_REASON_KEY_COMPROMISE);
    assert_int_equal(cm_entry_status(&idx.certs[0], 1767225600 /* 2026-01-01 */), CM_STATUS_VALID);
    assert_int_equal(cm_entry_status(&idx.certs[0], 1800000000), CM_STATUS_EXPIRED);
    assert_int_equal(cm_entry_status(&idx.certs[1], 0), CM_STATUS_REVOKED);
    cm_index_clear(&idx);
}

static void
test_index_empty_and_absent_nulls_parsed(void **state)
{
    struct cm_index idx;

    (void)state;
    assert_int_equal(parse("{\"version\":1,\"crl_number\":0,\"certs\":[]}", &idx), PC_OK);
    assert_int_equal(idx.n, 0);
    cm_index_clear(&idx);
    /* revoked_at/reason may be absent on a valid entry */
    assert_int_equal(parse(DOC(ENTRY(SER1, "alice", "\"status\":\"valid\"")), &idx), PC_OK);
    assert_int_equal(idx.n, 1);
    cm_index_clear(&idx);
}

static void
test_index_dump_roundtrip(void **state)
{
    struct cm_index a, b;
    char *text = NULL;
    size_t len = 0, i;

    (void)state;
    assert_int_equal(parse(DOC(ENTRY(SER1, "alice", VALID) "," ENTRY(SER2, "bob", REVOKED)), &a),
                     PC_OK);
    assert_int_equal(cm_index_dump(&a, &text, &len), PC_OK);
    assert_int_equal(text[len - 1], '\n');
    assert_int_equal(parse(text, &b), PC_OK);
    assert_int_equal(b.n, a.n);
    assert_int_equal(b.crl_number, a.crl_number);
    for (i = 0; i < a.n; i++) {
        assert_string_equal(a.certs[i].serial, b.certs[i].serial);
        assert_string_equal(a.certs[i].name, b.certs[i].name);
        assert_int_equal(a.certs[i].not_before, b.certs[i].not_before);
        assert_int_equal(a.certs[i].not_after, b.certs[i].not_after);
        assert_int_equal(a.certs[i].status, b.certs[i].status);
        assert_int_equal(a.certs[i].revoked_at, b.certs[i].revoked_at);
        assert_int_equal(a.certs[i].reason, b.certs[i].reason);
    }
    free(text);
    cm_index_clear(&a);
    cm_index_clear(&b);
}

static void
test_index_not_json_refused(void **state)
{
    (void)state;
    expect_refused("", "not valid JSON");
    expect_refused("{\"version\":1,", "not valid JSON");
    expect_refused("garbage", "not valid JSON");
    expect_refused(DOC("") "trailing", "not valid JSON");
    expect_refused("[]", "not a JSON object");
    expect_refused("\"x\"", "not valid JSON"); /* jansson wants an array or object */
    expect_refused("{\"version\":1,\"version\":1,\"crl_number\":1,\"certs\":[]}",
                   "not valid JSON"); /* duplicate key */
    expect_refused("{\"version\":1,\"crl_number\":1,\"certs\":[\"\\u0000\"]}", "not valid JSON");
}

static void
test_index_top_level_refused(void **state)
{
    (void)state;
    expect_refused("{\"version\":2,\"crl_number\":1,\"certs\":[]}", "unsupported version 2");
    expect_refused("{\"version\":\"1\",\"crl_number\":1,\"certs\":[]}", "version");
    expect_refused("{\"crl_number\":1,\"certs\":[]}", "version");
    expect_refused("{\"version\":1,\"certs\":[]}", "crl_number");
    expect_refused("{\"version\":1,\"crl_number\":-1,\"certs\":[]}", "crl_number out of range");
    expect_refused("{\"version\":1,\"crl_number\":1.5,\"certs\":[]}", "crl_number");
    expect_refused("{\"version\":1,\"crl_number\":1}", "certs");
    expect_refused("{\"version\":1,\"crl_number\":1,\"certs\":{}}", "certs");
    expect_refused("{\"version\":1,\"crl_number\":1,\"certs\":[],\"x\":1}", "unknown field \"x\"");
    expect_refused("{\"version\":1,\"crl_number\":1,\"certs\":[1]}", "certs[0]: must be an object");
}

static void
test_index_missing_field_refused(void **state)
{
    (void)state;
    expect_refused(DOC("{\"name\":\"a\"}"), "certs[0].missing field \"serial\"");
    expect_refused(DOC("{\"serial\":\"" SER1 "\"}"), "missing field \"name\"");
    expect_refused(DOC("{\"serial\":\"" SER1 "\",\"name\":\"a\"}"), "missing field \"uri\"");
    expect_refused(DOC("{\"serial\":\"" SER1 "\",\"name\":\"a\",\"uri\":[],\"dns\":[],"
                       "\"email\":[],\"not_after\":\"2026-04-01T00:00:00Z\",\"status\":\"valid\"}"),
                   "missing field \"not_before\"");
    expect_refused(DOC(ENTRY(SER1, "a", "\"revoked_at\":null")), "missing field \"status\"");
    expect_refused(DOC(ENTRY(SER1, "a", "\"status\":\"revoked\",\"reason\":\"superseded\"")),
                   "missing field \"revoked_at\"");
    expect_refused(
        DOC(ENTRY(SER1, "a", "\"status\":\"revoked\",\"revoked_at\":\"2026-02-01T00:00:00Z\"")),
        "missing field \"reason\"");
}

static void
test_index_wrong_type_refused(void **state)
{
    (void)state;
    expect_refused(DOC("{\"serial\":12,\"name\":\"a\"}"), "serial: must be a string");
    expect_refused(DOC(ENTRY(SER1, "a", "\"status\":true")), "status: must be a string");
    expect_refused(DOC("{\"serial\":\"" SER1 "\",\"name\":\"a\",\"uri\":\"x\"}"),
                   "uri: must be an array");
    expect_refused(DOC("{\"serial\":\"" SER1 "\",\"name\":\"a\",\"uri\":[1]}"),
                   "uri[0]: must be a string");
}

static void
test_index_bad_serial_refused(void **state)
{
    (void)state;
    expect_refused(DOC(ENTRY("9186B17078D96904387D8DD8A20DFA36", "a", VALID)), "certs[0].serial");
    expect_refused(DOC(ENTRY("186b17078d96904387d8dd8a20dfa36", "a", VALID)), "serial");
    expect_refused(DOC(ENTRY("009186b17078d96904387d8dd8a20dfa36", "a", VALID)), "serial");
    expect_refused(DOC(ENTRY("91:86", "a", VALID)), "serial");
    expect_refused(DOC(ENTRY("zz", "a", VALID)), "serial");
    expect_refused(DOC(ENTRY("", "a", VALID)), "serial");
    expect_refused(DOC(ENTRY("00", "a", VALID)), "serial");
    expect_refused(DOC(ENTRY("112233445566778899001122334455667788990011", "a", VALID)), "serial");
}

static void
test_index_duplicate_serial_refused(void **state)
{
    (void)state;
    expect_refused(
        DOC(ENTRY(SER1, "a", VALID) "," ENTRY(SER2, "b", VALID) "," ENTRY(SER1, "c", REVOKED)),
        "serial " SER1 " appears more than once");
}

static void
test_index_bad_values_refused(void **state)
{
    (void)state;
    expect_refused(DOC(ENTRY(SER1, ".a", VALID)), "name: not a valid name");
    expect_refused(DOC(ENTRY(SER1, "a/b", VALID)), "name");
    expect_refused(DOC(ENTRY(SER1, "a", "\"status\":\"expired\"")), "status: must be");
    expect_refused(DOC(ENTRY(SER1, "a", "\"status\":\"valid\",\"reason\":\"superseded\"")),
                   "revoked_at/reason set on a valid certificate");
    expect_refused(
        DOC(ENTRY(SER1, "a",
                  "\"status\":\"revoked\",\"revoked_at\":\"2026-02-01T00:00:00Z\",\"reason\":"
                  "\"certificateHold\"")),
        "reason: not an RFC 5280 reason name");
    expect_refused(DOC(ENTRY(SER1, "a",
                             "\"status\":\"revoked\",\"revoked_at\":\"yesterday\",\"reason\":"
                             "\"superseded\"")),
                   "revoked_at: not a time");
    expect_refused(DOC("{\"serial\":\"" SER1 "\",\"name\":\"a\",\"uri\":[],\"dns\":[\"*.x.com\"],"
                       "\"email\":[],\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":"
                       "\"2026-04-01T00:00:00Z\",\"status\":\"valid\"}"),
                   "certs[0].dns[0] \"*.x.com\": not a valid DNS name");
    expect_refused(DOC("{\"serial\":\"" SER1 "\",\"name\":\"a\",\"uri\":[],\"dns\":[],"
                       "\"email\":[],\"not_before\":\"2026-04-01T00:00:00Z\",\"not_after\":"
                       "\"2026-04-01T00:00:00Z\",\"status\":\"valid\"}"),
                   "not_after is not later than not_before");
    expect_refused(DOC(ENTRY(SER1, "a", VALID ",\"extra\":1")), "certs[0].unknown field \"extra\"");
}

static void
test_index_too_large_refused_before_reading(void **state)
{
    struct cm_index idx;

    (void)state;
    cm_err_clear();
    /* the cap is checked before a byte is read: the length alone refuses it */
    assert_int_equal(cm_index_parse("{}", (size_t)PC_INDEX_MAX_BYTES + 1, "big.json", &idx),
                     PC_ERR_TOO_LARGE);
    assert_non_null(strstr(cm_err_get(), "larger than the limit"));
    cm_err_clear();
}

static void
test_index_match_serial_then_name(void **state)
{
    struct cm_index idx;
    size_t *which = NULL, n = 0;
    bool by_serial = false;

    (void)state;
    assert_int_equal(parse(DOC(ENTRY(SER1, "alice", VALID) "," ENTRY(
                               SER2, "alice", REVOKED) "," ENTRY("0abc", "abc", VALID)),
                           &idx),
                     PC_OK);
    cm_index_match(&idx, "91:86:B1:70:78:D9:69:04:38:7D:8D:D8:A2:0D:FA:36", &which, &n, &by_serial);
    assert_int_equal(n, 1);
    assert_int_equal(which[0], 0);
    assert_true(by_serial);
    free(which);
    cm_index_match(&idx, "alice", &which, &n, &by_serial);
    assert_int_equal(n, 2);
    assert_false(by_serial);
    free(which);
    /* "abc" is hex and the serial 0abc exists: the serial wins */
    cm_index_match(&idx, "abc", &which, &n, &by_serial);
    assert_int_equal(n, 1);
    assert_int_equal(which[0], 2);
    assert_true(by_serial);
    free(which);
    cm_index_match(&idx, "nobody", &which, &n, &by_serial);
    assert_int_equal(n, 0);
    free(which);
    assert_non_null(cm_index_find(&idx, SER2));
    assert_null(cm_index_find(&idx, "01"));
    cm_index_clear(&idx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_valid_parsed),
        cmocka_unit_test(test_index_empty_and_absent_nulls_parsed),
        cmocka_unit_test(test_index_dump_roundtrip),
        cmocka_unit_test(test_index_not_json_refused),
        cmocka_unit_test(test_index_top_level_refused),
        cmocka_unit_test(test_index_missing_field_refused),
        cmocka_unit_test(test_index_wrong_type_refused),
        cmocka_unit_test(test_index_bad_serial_refused),
        cmocka_unit_test(test_index_duplicate_serial_refused),
        cmocka_unit_test(test_index_bad_values_refused),
        cmocka_unit_test(test_index_too_large_refused_before_reading),
        cmocka_unit_test(test_index_match_serial_then_name),
    };

    return cmocka_run_group_tests_name("cm_index", tests, NULL, NULL);
}
