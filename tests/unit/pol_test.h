/*
 * Helpers shared by the policy unit tests (each test binary is one .c
 * file, so these are static inline).  Include after <cmocka.h>.
 */
#ifndef POL_TEST_H
#define POL_TEST_H

#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "policy/pol.h"

#define TEST_FILE "t.yaml"

/* A plain listener on one line: the smallest valid main file. */
#define PLAIN_LISTEN "listen: [{address: \"127.0.0.1:8080\", plain: true}]\n"

static inline void
print_errors(const struct pol_errors *e)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        fprintf(stderr, "    | %s\n", e->msg[i]);
}

static inline struct pol_config *
load_ok(const char *yaml)
{
    struct pol_errors e = {0};
    struct pol_config *c = NULL;
    int rc = pol_config_load_mem(TEST_FILE, yaml, strlen(yaml), false, &c, &e);

    if (rc != PC_OK)
        print_errors(&e);
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_OK);
    assert_non_null(c);
    return c;
}

static inline bool
errors_have(const struct pol_errors *e, const char *where, const char *what)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        if (strncmp(e->msg[i], where, strlen(where)) == 0 &&
            (what == NULL || strstr(e->msg[i], what) != NULL))
            return true;
    return false;
}

/*
 * The load of `yaml` fails with PC_ERR_INVALID and no configuration, and
 * one message starts with `where` ("t.yaml:3:5: routes[0].name:") and
 * contains `what`.
 */
static inline void
expect_error(const char *yaml, const char *where, const char *what)
{
    struct pol_errors e = {0};
    struct pol_config *c = (struct pol_config *)&e; /* must come back NULL */
    int rc = pol_config_load_mem(TEST_FILE, yaml, strlen(yaml), false, &c, &e);
    bool found = errors_have(&e, where, what);

    if (!found) {
        fprintf(stderr, "    expected \"%s ... %s\", got:\n", where, what != NULL ? what : "");
        print_errors(&e);
    }
    pol_errors_clear(&e);
    assert_int_equal(rc, PC_ERR_INVALID);
    assert_null(c);
    assert_true(found);
}

/* Write `text` to dir/name; the path goes to out (POL_TEST_PATH_MAX bytes) unless NULL. */
#define POL_TEST_PATH_MAX 8192
static inline void
write_file(const char *dir, const char *name, const char *text, char *out)
{
    char path[POL_TEST_PATH_MAX];
    FILE *f;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < sizeof(path));
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    if (out != NULL)
        memcpy(out, path, (size_t)n + 1);
}

/* A fresh directory under /tmp (removed by rm_tree). */
static inline char *
make_tmpdir(void)
{
    char tmpl[] = "/tmp/pol-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return strdup(d);
}

static inline void
rm_tree(char *dir)
{
    char cmd[4200];

    /* only ever our own mkdtemp directory */
    if (dir != NULL && strncmp(dir, "/tmp/pol-test-", 14) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    free(dir);
}

#endif
