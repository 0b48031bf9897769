/*
 * certmgr/cm_args.c: the command-line parser of portcullis-admin.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

enum { O_DAYS, O_DNS, O_P12 };

static const struct cm_opt opts[] = {
    [O_DAYS] = {"--days", CM_OPT_VALUE, "N", "days"},
    [O_DNS] = {"--dns", CM_OPT_MULTI, "NAME", "dns"},
    [O_P12] = {"--p12", CM_OPT_FLAG, NULL, "p12"},
};

#define NOPTS     (sizeof(opts) / sizeof(opts[0]))
#define ARGS_POOL 140 /* words in one test command line */

/* A writable argv (main()'s type) holding copies of the given words. */
static char **
argv_of(int n, ...)
{
    static char pool[ARGS_POOL][32];
    static char *vec[ARGS_POOL];
    va_list ap;
    int i;

    assert_true(n <= ARGS_POOL);
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        snprintf(pool[i], sizeof(pool[i]), "%s", va_arg(ap, const char *));
        vec[i] = pool[i];
    }
    va_end(ap);
    return vec;
}

#define NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
#define ARGS(...)  NARGS(__VA_ARGS__), argv_of(NARGS(__VA_ARGS__), __VA_ARGS__)

static int
parse(struct cm_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    cm_err_clear();
    return cm_args_parse(a, opts, NOPTS, argc, argv, 1, false, NULL);
}

static void
expect_refused(int argc, char **argv, const char *why)
{
    struct cm_args a;

    assert_int_equal(parse(&a, argc, argv), PC_ERR_PARSE);
    if (strstr(cm_err_get(), why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", cm_err_get(), why);
}

static void
test_args_values_and_positional(void **state)
{
    struct cm_args a;

    (void)state;
    assert_int_equal(parse(&a, ARGS("alice", "--days", "30", "--dns=a.com", "--dns", "b.com",
                                    "--p12", "--ca-dir", "/tmp/ca")),
                     PC_OK);
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "alice");
    assert_string_equal(cm_args_get(&a, O_DAYS), "30");
    assert_int_equal(a.nval[O_DNS], 2);
    assert_string_equal(a.val[O_DNS][0], "a.com");
    assert_string_equal(a.val[O_DNS][1], "b.com");
    assert_non_null(cm_args_get(&a, O_P12));
    assert_string_equal(a.ca_dir, "/tmp/ca");
    assert_false(a.help);
}

static void
test_args_value_may_start_with_dash(void **state)
{
    struct cm_args a;

    (void)state;
    assert_int_equal(parse(&a, ARGS("--days", "-1d")), PC_OK);
    assert_string_equal(cm_args_get(&a, O_DAYS), "-1d");
    assert_int_equal(parse(&a, ARGS("--", "--weird-name")), PC_OK);
    assert_string_equal(a.pos[0], "--weird-name");
    assert_int_equal(parse(&a, ARGS("-")), PC_OK); /* "-" is stdin, a positional */
    assert_string_equal(a.pos[0], "-");
}

static void
test_args_help_version(void **state)
{
    struct cm_args a;

    (void)state;
    assert_int_equal(parse(&a, ARGS("-h")), PC_OK);
    assert_true(a.help);
    assert_int_equal(parse(&a, ARGS("--help")), PC_OK);
    assert_true(a.help);
    assert_int_equal(parse(&a, ARGS("--version")), PC_OK);
    assert_true(a.version);
}

static void
test_args_bad_refused(void **state)
{
    (void)state;
    expect_refused(ARGS("--bogus"), "unknown option --bogus");
    expect_refused(ARGS("--days"), "--days needs a value");
    expect_refused(ARGS("--days", "1", "--days", "2"), "--days given more than once");
    expect_refused(ARGS("--p12=yes"), "--p12 takes no value");
    expect_refused(ARGS("a", "b"), "unexpected argument \"b\"");
    expect_refused(ARGS("--ca-dir", "a", "--ca-dir", "b"), "--ca-dir given more than once");
    expect_refused(ARGS("--ca-dir="), "--ca-dir needs a directory");
    expect_refused(ARGS("--day", "1"), "unknown option --day");
    expect_refused(ARGS("-x"), "unknown option -x");
}

static void
test_args_global_then_command(void **state)
{
    struct cm_args a;
    char **argv = argv_of(6, "--ca-dir", "/x", "client", "list", "--ca-dir", "/y");
    int used = 0;

    (void)state;
    memset(&a, 0, sizeof(a));
    /* main(): global options up to the command word */
    assert_int_equal(cm_args_parse(&a, NULL, 0, 6, argv, 0, true, &used), PC_OK);
    assert_int_equal(used, 2);
    assert_string_equal(a.ca_dir, "/x");
    /* then the command's own: a second --ca-dir is an error, not a silent override */
    cm_err_clear();
    assert_int_equal(cm_args_parse(&a, opts, NOPTS, 2, argv + 4, 0, false, NULL), PC_ERR_PARSE);
    assert_non_null(strstr(cm_err_get(), "--ca-dir given more than once"));
}

static void
test_args_multi_capped(void **state)
{
    static char dns[] = "--dns", name[] = "a.com";
    static char *argv[2 * (CM_ARGS_MAX_MULTI + 1)];
    struct cm_args a;
    int i;

    (void)state;
    for (i = 0; i < CM_ARGS_MAX_MULTI + 1; i++) {
        argv[2 * i] = dns;
        argv[2 * i + 1] = name;
    }
    assert_int_equal(parse(&a, 2 * CM_ARGS_MAX_MULTI, argv), PC_OK);
    assert_int_equal(parse(&a, 2 * (CM_ARGS_MAX_MULTI + 1), argv), PC_ERR_PARSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_values_and_positional),
        cmocka_unit_test(test_args_value_may_start_with_dash),
        cmocka_unit_test(test_args_help_version),
        cmocka_unit_test(test_args_bad_refused),
        cmocka_unit_test(test_args_global_then_command),
        cmocka_unit_test(test_args_multi_capped),
    };

    return cmocka_run_group_tests_name("cm_args", tests, NULL, NULL);
}
