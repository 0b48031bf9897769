/*
 * common/pc_sdnotify.c against a real AF_UNIX datagram socket standing in
 * for systemd's notify socket: path and abstract addresses, the kernel's
 * sender credentials (systemd's NotifyAccess=main compares that pid), the
 * reload message, and every refusal.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pc_err.h"
#include "common/pc_sdnotify.h"
#include "common/pc_str.h"

struct listener {
    int fd;
    char env[128]; /* the NOTIFY_SOCKET value that names it */
    char dir[64];  /* the temporary directory of a path socket, "" for abstract */
};

/* A datagram socket with SO_PASSCRED, like systemd's. */
static void
listen_at(struct listener *l, bool abstract)
{
    struct sockaddr_un sun;
    socklen_t len;
    int one = 1;

    memset(l, 0, sizeof(*l));
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(l->fd >= 0);
    assert_int_equal(setsockopt(l->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
    if (abstract) {
        snprintf(l->env, sizeof(l->env), "@pc-sdnotify-test-%ld-%ld", (long)getpid(),
                 (long)time(NULL));
        memcpy(sun.sun_path + 1, l->env + 1, strlen(l->env) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->env));
    } else {
        snprintf(l->dir, sizeof(l->dir), "/tmp/pc-sdnotify-XXXXXX");
        assert_non_null(mkdtemp(l->dir));
        snprintf(l->env, sizeof(l->env), "%s/notify", l->dir);
        memcpy(sun.sun_path, l->env, strlen(l->env));
        len = (socklen_t)sizeof(sun);
    }
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sun, len), 0);
}

static void
listen_close(struct listener *l)
{
    close(l->fd);
    if (l->dir[0] != '\0') {
        unlink(l->env);
        rmdir(l->dir);
    }
    unsetenv("NOTIFY_SOCKET");
}

/* Receive one datagram (waiting at most 2 s); returns its length, -1 if none.
 * *pid gets the sender's pid from SCM_CREDENTIALS (0 if absent). */
static ssize_t
receive(struct listener *l, char *buf, size_t cap, pid_t *pid, bool wait)
{
    union {
        char b[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, cap - 1};
    struct msghdr mh;
    struct cmsghdr *c;
    struct timeval tv = {2, 0};
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof(ctl.b);
    (void)setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recvmsg(l->fd, &mh, wait ? 0 : MSG_DONTWAIT);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    if (pid != NULL) {
        *pid = 0;
        for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            struct ucred uc;
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS)
                continue;
            memcpy(&uc, CMSG_DATA(c), sizeof(uc));
            *pid = uc.pid;
        }
    }
    return n;
}

static void
test_ready_reaches_a_path_socket_with_our_pid(void **state)
{
    struct listener l;
    char buf[2048];
    pid_t pid = 0;

    (void)state;
    listen_at(&l, false);
    assert_int_equal(setenv("NOTIFY_SOCKET", l.env, 1), 0);
    assert_int_equal(pc_sdnotify_send("READY=1\nSTATUS=serving"), PC_OK);
    assert_int_equal(receive(&l, buf, sizeof(buf), &pid, true), 22);
    assert_string_equal(buf, "READY=1\nSTATUS=serving");
    /* what systemd checks for NotifyAccess=main */
    assert_int_equal(pid, getpid());
    listen_close(&l);
}

static void
test_abstract_socket_name(void **state)
{
    struct listener l;
    char buf[2048];

    (void)state;
    listen_at(&l, true);
    assert_int_equal(setenv("NOTIFY_SOCKET", l.env, 1), 0);
    assert_int_equal(pc_sdnotify_send("STOPPING=1"), PC_OK);
    assert_int_equal(receive(&l, buf, sizeof(buf), NULL, true), 10);
    assert_string_equal(buf, "STOPPING=1");
    listen_close(&l);
}

static void
test_unset_or_empty_is_a_silent_noop(void **state)
{
    struct listener l;
    char buf[64];

    (void)state;
    listen_at(&l, false);
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(pc_sdnotify_send("READY=1"), PC_OK);
    assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
    assert_int_equal(pc_sdnotify_send("READY=1"), PC_OK);
    assert_int_equal(receive(&l, buf, sizeof(buf), NULL, false), -1);
    listen_close(&l);
}

static void
test_sendf_formats_status(void **state)
{
    struct listener l;
    char buf[2048];

    (void)state;
    listen_at(&l, true);
    assert_int_equal(setenv("NOTIFY_SOCKET", l.env, 1), 0);
    assert_int_equal(
        pc_sdnotify_sendf("READY=1\nSTATUS=generation %lu, %zu route(s)", 3UL, (size_t)0), PC_OK);
    assert_true(receive(&l, buf, sizeof(buf), NULL, true) > 0);
    assert_string_equal(buf, "READY=1\nSTATUS=generation 3, 0 route(s)");
    listen_close(&l);
}

static void
test_reloading_carries_monotonic_usec(void **state)
{
    struct listener l;
    struct timespec ts;
    char buf[2048], *p;
    unsigned long long before;
    uint64_t usec = 0;
    size_t digits;

    (void)state;
    listen_at(&l, false);
    assert_int_equal(setenv("NOTIFY_SOCKET", l.env, 1), 0);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    before = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
    assert_int_equal(pc_sdnotify_reloading("reloading /etc/portcullis/portcullis.yaml"), PC_OK);
    assert_true(receive(&l, buf, sizeof(buf), NULL, true) > 0);
    assert_memory_equal(buf, "RELOADING=1\nMONOTONIC_USEC=", 27);
    p = buf + 27;
    digits = strspn(p, "0123456789");
    assert_int_equal(pc_parse_u64(p, digits, UINT64_MAX, &usec), PC_OK);
    assert_true(usec >= before && usec < before + 10000000ULL);
    assert_string_equal(p + digits, "\nSTATUS=reloading /etc/portcullis/portcullis.yaml");
    assert_int_equal(pc_sdnotify_reloading(NULL), PC_OK);
    assert_true(receive(&l, buf, sizeof(buf), NULL, true) > 0);
    assert_null(strstr(buf, "STATUS="));
    listen_close(&l);
}

static void
test_bad_addresses_refused(void **state)
{
    char longpath[256];

    (void)state;
    assert_int_equal(pc_sdnotify_send_to("run/systemd/notify", "READY=1"), PC_ERR_INVALID);
    assert_int_equal(pc_sdnotify_send_to("vsock:2:1234", "READY=1"), PC_ERR_INVALID);
    assert_int_equal(pc_sdnotify_send_to("@", "READY=1"), PC_ERR_INVALID);
    assert_int_equal(pc_sdnotify_send_to("/", "READY=1"), PC_ERR_INVALID);
    assert_int_equal(pc_sdnotify_send_to("", "READY=1"), PC_ERR_INVALID);
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(pc_sdnotify_send_to(longpath, "READY=1"), PC_ERR_TOO_LARGE);
    longpath[0] = '@';
    assert_int_equal(pc_sdnotify_send_to(longpath, "READY=1"), PC_ERR_TOO_LARGE);
    /* sun_path holds 108 bytes, the first a NUL: "@" + 107 is the largest abstract name */
    longpath[108] = '\0';
    assert_int_equal(pc_sdnotify_send_to(longpath, "READY=1"), PC_ERR_IO); /* nobody bound */
    longpath[108] = 'a';
    longpath[109] = '\0';
    assert_int_equal(pc_sdnotify_send_to(longpath, "READY=1"), PC_ERR_TOO_LARGE);
}

static void
test_missing_socket_is_an_io_error(void **state)
{
    (void)state;
    assert_int_equal(pc_sdnotify_send_to("/nonexistent/pc-sdnotify/notify", "READY=1"), PC_ERR_IO);
    assert_int_equal(setenv("NOTIFY_SOCKET", "/nonexistent/pc-sdnotify/notify", 1), 0);
    assert_int_equal(pc_sdnotify_send("READY=1"), PC_ERR_IO);
    unsetenv("NOTIFY_SOCKET");
}

static void
test_empty_and_oversized_messages_refused(void **state)
{
    struct listener l;
    char big[PC_SDNOTIFY_MSG_MAX + 2], buf[64];

    (void)state;
    listen_at(&l, false);
    assert_int_equal(setenv("NOTIFY_SOCKET", l.env, 1), 0);
    assert_int_equal(pc_sdnotify_send(""), PC_ERR_INVALID);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(pc_sdnotify_send(big), PC_ERR_TOO_LARGE);
    assert_int_equal(pc_sdnotify_sendf("STATUS=%s", big), PC_ERR_TOO_LARGE);
    /* nothing half-sent */
    assert_int_equal(receive(&l, buf, sizeof(buf), NULL, false), -1);
    listen_close(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_reaches_a_path_socket_with_our_pid),
        cmocka_unit_test(test_abstract_socket_name),
        cmocka_unit_test(test_unset_or_empty_is_a_silent_noop),
        cmocka_unit_test(test_sendf_formats_status),
        cmocka_unit_test(test_reloading_carries_monotonic_usec),
        cmocka_unit_test(test_bad_addresses_refused),
        cmocka_unit_test(test_missing_socket_is_an_io_error),
        cmocka_unit_test(test_empty_and_oversized_messages_refused),
    };

    return cmocka_run_group_tests_name("pc_sdnotify", tests, NULL, NULL);
}
