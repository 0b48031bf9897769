/*
 * sd_notify(3) without libsystemd.  See pc_sdnotify.h.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_sdnotify.h"

/* Fill *sun from "/path" or "@abstract"; *len is the address length to pass. */
static int
make_addr(const char *addr, struct sockaddr_un *sun, socklen_t *len)
{
    size_t n = strlen(addr);

    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (n < 2 || (addr[0] != '/' && addr[0] != '@'))
        return PC_ERR_INVALID;
    if (addr[0] == '/') {
        if (n >= sizeof(sun->sun_path)) /* keep the terminating NUL */
            return PC_ERR_TOO_LARGE;
        memcpy(sun->sun_path, addr, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return PC_OK;
    }
    /* abstract: a leading NUL, then the name; its length is the address's */
    if (n > sizeof(sun->sun_path))
        return PC_ERR_TOO_LARGE;
    memcpy(sun->sun_path + 1, addr + 1, n - 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    return PC_OK;
}

int
pc_sdnotify_send_to(const char *addr, const char *state)
{
    struct sockaddr_un sun;
    socklen_t len = 0;
    size_t n = strlen(state);
    ssize_t sent;
    int fd = -1, rc;

    rc = make_addr(addr, &sun, &len);
    if (rc == PC_OK && n == 0)
        rc = PC_ERR_INVALID;
    if (rc == PC_OK && n > PC_SDNOTIFY_MSG_MAX)
        rc = PC_ERR_TOO_LARGE;
    if (rc != PC_OK) {
        pc_log(LOG_WARNING, "sd_notify: cannot notify %s: %s", addr, pc_strerror(rc));
        return rc;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        pc_log(LOG_WARNING, "sd_notify: socket: %s", strerror(errno));
        return PC_ERR_IO;
    }
    sent = sendto(fd, state, n, MSG_NOSIGNAL, (const struct sockaddr *)&sun, len);
    if (sent != (ssize_t)n) {
        int saved = errno;
        pc_log(LOG_WARNING, "sd_notify: %s: %s", addr,
               sent < 0 ? strerror(saved) : "short datagram");
        rc = PC_ERR_IO;
    }
    close(fd);
    return rc;
}

int
pc_sdnotify_send(const char *state)
{
    const char *addr = getenv("NOTIFY_SOCKET");

    if (addr == NULL || addr[0] == '\0')
        return PC_OK; /* not under systemd (or Type= is not notify): nothing to tell */
    return pc_sdnotify_send_to(addr, state);
}

int
pc_sdnotify_sendf(const char *fmt, ...)
{
    char msg[PC_SDNOTIFY_MSG_MAX + 1];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return PC_ERR_INVALID;
    if ((size_t)n >= sizeof(msg)) {
        pc_log(LOG_WARNING, "sd_notify: a %d-byte notification is over %d bytes: not sent", n,
               PC_SDNOTIFY_MSG_MAX);
        return PC_ERR_TOO_LARGE;
    }
    return pc_sdnotify_send(msg);
}

int
pc_sdnotify_reloading(const char *status)
{
    struct timespec ts;
    unsigned long long usec;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
    if (status == NULL)
        return pc_sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu", usec);
    return pc_sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s", usec, status);
}
