/*
 * Listening sockets.  The process owns them, bound once (before the
 * privilege drop) and kept across configuration generations, so a reload
 * never closes a socket the new configuration still listens on: the kernel
 * keeps accepting into the same backlog while generations change hands.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "gateway/gw.h"

#define GW_LISTEN_BACKLOG 4096 /* capped by net.core.somaxconn */

static struct gw_socket *socks;
static size_t nsocks;

static int
bind_new(const struct sockaddr_storage *addr, socklen_t len, const char *name)
{
    int fd, one = 1;

    fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        pc_log(LOG_ERR, "listen %s: socket: %s", name, strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (addr->ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, GW_LISTEN_BACKLOG) != 0) {
        pc_log(LOG_ERR, "listen %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int
gw_socket_get(const struct sockaddr_storage *addr, socklen_t len, const char *name)
{
    size_t i;
    int fd;

    for (i = 0; i < nsocks; i++) {
        if (socks[i].addrlen == len && memcmp(&socks[i].addr, addr, len) == 0) {
            socks[i].in_use = true;
            return socks[i].fd;
        }
    }
    fd = bind_new(addr, len, name);
    if (fd == -1)
        return -1;
    socks = pc_xreallocarray(socks, nsocks + 1, sizeof(*socks));
    memset(&socks[nsocks], 0, sizeof(socks[0]));
    memcpy(&socks[nsocks].addr, addr, len);
    socks[nsocks].addrlen = len;
    socks[nsocks].fd = fd;
    socks[nsocks].in_use = true;
    nsocks++;
    return fd;
}

void
gw_socket_unmark_all(void)
{
    size_t i;

    for (i = 0; i < nsocks; i++)
        socks[i].in_use = false;
}

void
gw_socket_close_unused(void)
{
    size_t i, o = 0;

    for (i = 0; i < nsocks; i++) {
        if (socks[i].in_use)
            socks[o++] = socks[i];
        else
            close(socks[i].fd);
    }
    nsocks = o;
}

void
gw_socket_close_all(void)
{
    gw_socket_unmark_all();
    gw_socket_close_unused();
    free(socks);
    socks = NULL;
}
