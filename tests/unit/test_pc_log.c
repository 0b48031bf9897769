/*
 * common/pc_log.c line formats: the journal's "<N>" priority prefix only when
 * stderr really is the stream $JOURNAL_STREAM names, the timestamped form
 * otherwise.  Each case runs in a child whose stderr is a temporary file.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pc_log.h"

enum stream { S_MATCH, S_OTHER, S_GARBAGE, S_UNSET };

/* Log one warning from a child with stderr on a file; return what it wrote. */
static void
log_in_child(enum stream how, char *out, size_t cap)
{
    char path[] = "/tmp/pc-log-XXXXXX", env[64];
    struct stat st;
    ssize_t n;
    pid_t pid;
    int fd, status = 0;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        if (how == S_MATCH)
            snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
        else if (how == S_OTHER)
            snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino + 1);
        else
            snprintf(env, sizeof(env), "%s", "12:x34");
        if (how == S_UNSET)
            unsetenv("JOURNAL_STREAM");
        else
            setenv("JOURNAL_STREAM", env, 1);
        pc_log_init("unit", LOG_INFO);
        pc_log(LOG_WARNING, "hello %d", 42);
        pc_log(LOG_DEBUG, "not shown");
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    n = pread(fd, out, cap - 1, 0);
    assert_true(n > 0);
    out[n] = '\0';
    close(fd);
    unlink(path);
}

static void
test_journal_stream_gets_priority_prefix(void **state)
{
    char buf[512];

    (void)state;
    log_in_child(S_MATCH, buf, sizeof(buf));
    assert_string_equal(buf, "<4>warn: hello 42\n");
}

static void
test_other_stream_keeps_timestamps(void **state)
{
    enum stream cases[] = {S_OTHER, S_GARBAGE, S_UNSET};
    char buf[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_in_child(cases[i], buf, sizeof(buf));
        assert_true(buf[0] >= '2' && buf[0] <= '9'); /* 20xx-...T...Z */
        assert_non_null(strstr(buf, " unit["));
        assert_non_null(strstr(buf, "]: warn: hello 42\n"));
        assert_null(strstr(buf, "<4>"));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_stream_gets_priority_prefix),
        cmocka_unit_test(test_other_stream_keeps_timestamps),
    };

    return cmocka_run_group_tests_name("pc_log", tests, NULL, NULL);
}
