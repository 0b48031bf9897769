/*
 * DNS transport: server addresses and one question-and-answer over UDP,
 * with TCP when the answer is truncated (RFC 1035 4.2, RFC 7766).  See
 * certmgr/cm_dns_internal.h.
 *
 * Each UDP try uses a new connected socket, so the kernel picks a new source
 * port and drops datagrams from any other address; the ones that still
 * arrive must carry our random ID, QR and our question, or they are ignored
 * (a blind spoofer must guess 16 bits of ID and the port).  Every wait is
 * bounded by poll() against a deadline on the monotonic clock.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certmgr/cm_dns_internal.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_str.h"

#define DNS_PORT 53

uint64_t
cm_dns_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
set_addr(struct cm_dns_server *srv, const char *host, size_t hlen, bool v6, uint64_t port)
{
    char h[INET6_ADDRSTRLEN];

    if (hlen == 0 || hlen >= sizeof(h))
        return PC_ERR_INVALID;
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&srv->sa;
        if (inet_pton(AF_INET6, h, &a->sin6_addr) != 1)
            return PC_ERR_INVALID;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        srv->salen = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&srv->sa;
        if (inet_pton(AF_INET, h, &a->sin_addr) != 1)
            return PC_ERR_INVALID;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        srv->salen = sizeof(*a);
    }
    return PC_OK;
}

int
cm_dns_server_parse(const char *s, struct cm_dns_server *srv, char *err, size_t errlen)
{
    const char *host, *port = NULL, *colon;
    size_t len, hlen;
    uint64_t pv = DNS_PORT;
    bool v6 = false;

    memset(srv, 0, sizeof(*srv));
    len = s != NULL ? strnlen(s, CM_DNS_ADDR_MAX + 1) : 0;
    if (len > CM_DNS_ADDR_MAX) {
        cm_dns_err_set(err, errlen, "DNS server address over %d bytes", CM_DNS_ADDR_MAX);
        return PC_ERR_TOO_LARGE;
    }
    if (len == 0)
        goto bad;
    memcpy(srv->text, s, len);
    host = s;
    hlen = len;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL)
            goto bad;
        host = s + 1;
        hlen = (size_t)(rb - host);
        v6 = true;
        if (rb + 1 < s + len) {
            if (rb[1] != ':')
                goto bad;
            port = rb + 2;
        }
    } else {
        colon = memchr(s, ':', len);
        if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) != NULL) {
            v6 = true; /* a bare IPv6 address: port 53 */
        } else if (colon != NULL) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (port != NULL &&
        (pc_parse_u64(port, len - (size_t)(port - s), 65535, &pv) != PC_OK || pv == 0))
        goto bad;
    if (set_addr(srv, host, hlen, v6, pv) != PC_OK)
        goto bad;
    return PC_OK;
bad:
    memset(srv, 0, sizeof(*srv));
    cm_dns_err_set(err, errlen, "bad DNS server address (want IP:port or [IPv6]:port)");
    return PC_ERR_INVALID;
}

/* Wait for `events` on fd until `until`: 1 ready, 0 timed out, -1 error (errno). */
static int
wait_fd(int fd, short events, uint64_t until)
{
    struct pollfd p = {fd, events, 0};
    uint64_t now;
    int n;

    for (;;) {
        now = cm_dns_now_ms();
        if (now >= until)
            return 0;
        n = poll(&p, 1, (int)(until - now > 60000 ? 60000 : until - now));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/*
 * Whether r[0..rlen) answers q[0..qlen): same ID, QR set, and the same first
 * section entry (question or zone; a FORMERR may carry none).
 */
static bool
is_answer_to(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen)
{
    size_t qend = CM_DNS_HDR_LEN, rend = CM_DNS_HDR_LEN;
    uint8_t qn[CM_DNS_NAME_MAX], rn[CM_DNS_NAME_MAX];
    size_t qnl, rnl;

    if (rlen < CM_DNS_HDR_LEN || memcmp(q, r, 2) != 0 || (cm_dns_get16(r + 2) & CM_DNS_F_QR) == 0)
        return false;
    if (cm_dns_get16(r + 4) == 0)
        return true;
    if (cm_dns_get16(r + 4) != cm_dns_get16(q + 4) ||
        cm_dns_name_read(q, qlen, &qend, qn, &qnl) != PC_OK ||
        cm_dns_name_read(r, rlen, &rend, rn, &rnl) != PC_OK || qlen - qend < 4 || rlen - rend < 4)
        return false;
    return cm_dns_name_eq(qn, qnl, rn, rnl) && memcmp(q + qend, r + rend, 4) == 0;
}

static int
open_socket(const struct cm_dns_server *srv, int type, int *saved)
{
    int fd = socket(srv->sa.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0) {
        *saved = errno;
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&srv->sa, srv->salen) != 0 && errno != EINPROGRESS) {
        *saved = errno;
        close(fd);
        return -1;
    }
    return fd;
}

/* One UDP try: PC_OK with an answer, PC_ERR_TIMEOUT, or PC_ERR_IO (errno in *saved). */
static int
udp_try(const struct cm_dns_server *srv, const uint8_t *q, size_t qlen, uint64_t until,
        uint8_t *resp, size_t *rlen, int *saved)
{
    int fd, w, rc = PC_ERR_TIMEOUT;
    ssize_t n;

    fd = open_socket(srv, SOCK_DGRAM, saved);
    if (fd < 0)
        return PC_ERR_IO;
    if (send(fd, q, qlen, 0) != (ssize_t)qlen) {
        *saved = errno;
        rc = PC_ERR_IO;
        goto out;
    }
    while ((w = wait_fd(fd, POLLIN, until)) > 0) {
        n = recv(fd, resp, CM_DNS_MSG_MAX, MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            *saved = errno; /* ECONNREFUSED: ICMP port unreachable */
            rc = PC_ERR_IO;
            goto out;
        }
        if ((size_t)n > CM_DNS_MSG_MAX || !is_answer_to(q, qlen, resp, (size_t)n)) {
            pc_log(LOG_DEBUG, "dns: %s: ignored a datagram that is not our answer", srv->text);
            continue;
        }
        *rlen = (size_t)n;
        rc = PC_OK;
        goto out;
    }
    if (w < 0) {
        *saved = errno;
        rc = PC_ERR_IO;
    }
out:
    close(fd);
    return rc;
}

/* Read (rbuf) or write (wbuf) n bytes over the stream fd before `until`. */
static int
tcp_io(int fd, uint8_t *rbuf, const uint8_t *wbuf, size_t n, uint64_t until, int *saved)
{
    size_t done = 0;
    ssize_t k;
    int w;

    while (done < n) {
        w = wait_fd(fd, rbuf != NULL ? POLLIN : POLLOUT, until);
        if (w <= 0) {
            *saved = w == 0 ? ETIMEDOUT : errno;
            return w == 0 ? PC_ERR_TIMEOUT : PC_ERR_IO;
        }
        k = rbuf != NULL ? recv(fd, rbuf + done, n - done, 0)
                         : send(fd, wbuf + done, n - done, MSG_NOSIGNAL);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0) {
            *saved = k == 0 ? ECONNRESET : errno;
            return PC_ERR_IO;
        }
        done += (size_t)k;
    }
    return PC_OK;
}

static int
tcp_exchange(const struct cm_dns_server *srv, const uint8_t *q, size_t qlen, uint64_t until,
             uint8_t *resp, size_t *rlen, char *err, size_t errlen)
{
    uint8_t l[2] = {(uint8_t)(qlen >> 8), (uint8_t)qlen};
    size_t n;
    int fd = -1, saved = 0, rc, w, soerr = 0;
    socklen_t sl = sizeof(soerr);

    fd = open_socket(srv, SOCK_STREAM, &saved);
    if (fd < 0) {
        rc = PC_ERR_IO;
        goto out;
    }
    w = wait_fd(fd, POLLOUT, until);
    if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        saved = w == 0 ? ETIMEDOUT : soerr != 0 ? soerr : errno;
        rc = w == 0 ? PC_ERR_TIMEOUT : PC_ERR_IO;
        goto out;
    }
    rc = tcp_io(fd, NULL, l, 2, until, &saved);
    if (rc == PC_OK)
        rc = tcp_io(fd, NULL, q, qlen, until, &saved);
    if (rc == PC_OK)
        rc = tcp_io(fd, l, NULL, 2, until, &saved);
    if (rc != PC_OK)
        goto out;
    n = cm_dns_get16(l);
    if (n < CM_DNS_HDR_LEN) {
        cm_dns_err_set(err, errlen, "%s: TCP answer of %zu bytes", srv->text, n);
        rc = PC_ERR_PARSE;
        goto out;
    }
    rc = tcp_io(fd, resp, NULL, n, until, &saved);
    if (rc != PC_OK)
        goto out;
    if (!is_answer_to(q, qlen, resp, n)) {
        cm_dns_err_set(err, errlen, "%s: TCP answer is not for our question", srv->text);
        rc = PC_ERR_PARSE;
        goto out;
    }
    *rlen = n;
out:
    if (rc == PC_ERR_IO || rc == PC_ERR_TIMEOUT)
        cm_dns_err_set(err, errlen, "%s: TCP: %s", srv->text, strerror(saved));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* UDP tries until an answer, the last try or the deadline. */
static int
udp_exchange(const struct cm_dns_server *srv, const uint8_t *q, size_t qlen, uint64_t deadline_ms,
             uint8_t *resp, size_t *rlen, char *err, size_t errlen)
{
    unsigned tries = 0, refused = 0;
    int rc, saved = 0;
    uint64_t now, until;

    while (tries < CM_DNS_UDP_TRIES) {
        now = cm_dns_now_ms();
        if (now >= deadline_ms)
            break;
        until = deadline_ms - now > CM_DNS_TRY_MS ? now + CM_DNS_TRY_MS : deadline_ms;
        tries++;
        rc = udp_try(srv, q, qlen, until, resp, rlen, &saved);
        if (rc == PC_OK)
            return PC_OK;
        if (rc == PC_ERR_IO && saved != ECONNREFUSED) {
            cm_dns_err_set(err, errlen, "%s: %s", srv->text, strerror(saved));
            return PC_ERR_IO;
        }
        refused += rc == PC_ERR_IO;
    }
    cm_dns_err_set(err, errlen, "no answer from %s after %u tr%s%s", srv->text, tries,
                   tries == 1 ? "y" : "ies", refused != 0 ? " (port unreachable)" : "");
    return PC_ERR_TIMEOUT;
}

int
cm_dns_exchange(const struct cm_dns_server *srv, const uint8_t *q, size_t qlen,
                uint64_t deadline_ms, uint8_t *resp, size_t *rlen, bool *via_tcp, char *err,
                size_t errlen)
{
    uint64_t until;
    int rc;

    *via_tcp = false;
    if (qlen < CM_DNS_HDR_LEN || qlen > CM_DNS_MSG_MAX)
        return PC_ERR_INTERNAL;
    /* a long UPDATE goes over TCP at once: servers need not take it over UDP */
    if (qlen <= CM_DNS_UDP_QUERY_MAX) {
        rc = udp_exchange(srv, q, qlen, deadline_ms, resp, rlen, err, errlen);
        if (rc != PC_OK || (cm_dns_get16(resp + 2) & CM_DNS_F_TC) == 0)
            return rc;
        pc_log(LOG_DEBUG, "dns: %s: answer truncated, asking again over TCP", srv->text);
    }
    *via_tcp = true;
    until = cm_dns_now_ms() + CM_DNS_TCP_TIMEOUT_MS;
    if (until > deadline_ms)
        until = deadline_ms;
    return tcp_exchange(srv, q, qlen, until, resp, rlen, err, errlen);
}
