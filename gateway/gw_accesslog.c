/*
 * The access log: one JSON object per line for every request, built by the
 * worker that served it and handed to a logger thread through a per-worker
 * single-producer/single-consumer ring, so a slow log file or a full pipe
 * to journald never blocks the event loop.  When a ring is full the line is
 * dropped and counted (portcullis_access_log_dropped_total).
 *
 * Never logged: the Authorization header, tokens, keys, cookies, the query
 * string (it may carry credentials).
 */
#include <errno.h>
#include <netdb.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/pc_limits.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

struct gw_logring {
    struct gw_logring *next; /* logger's list (under lg.lock) */
    _Atomic size_t head;     /* bytes written by the worker */
    _Atomic size_t tail;     /* bytes consumed by the logger */
    _Atomic bool released;   /* the worker is gone */
    char buf[PC_LOG_RING_BYTES];
};

static struct {
    pthread_mutex_t lock; /* the ring list and the fd; never taken by workers on a request */
    pthread_cond_t cond;
    struct gw_logring *rings;
    pthread_t thread;
    bool running;
    bool stop;
    _Atomic bool reopen;
    int fd;
    bool own_fd;
    char *path;
    _Atomic uint64_t dropped;
} lg = {PTHREAD_MUTEX_INITIALIZER,
        PTHREAD_COND_INITIALIZER,
        NULL,
        0,
        false,
        false,
        false,
        -1,
        false,
        NULL,
        0};

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the log is gone; nothing to report it to */
        p += w;
        n -= (size_t)w;
    }
}

/* Copy out whatever the ring holds (logger thread). */
static size_t
drain_ring(struct gw_logring *r, char *out, size_t cap)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t n = head - tail, first, off;

    if (n > cap)
        n = cap;
    off = tail % PC_LOG_RING_BYTES;
    first = PC_LOG_RING_BYTES - off < n ? PC_LOG_RING_BYTES - off : n;
    memcpy(out, r->buf + off, first);
    memcpy(out + first, r->buf, n - first);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

static int
open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

    if (fd == -1)
        pc_log(LOG_ERR, "access log %s: %s", path, strerror(errno));
    return fd;
}

static void *
logger_main(void *arg)
{
    static char chunk[PC_LOG_RING_BYTES];
    struct timespec ts;
    bool stopping = false;

    (void)arg;
    pthread_mutex_lock(&lg.lock);
    for (;;) {
        struct gw_logring **pp = &lg.rings;
        while (*pp != NULL) {
            struct gw_logring *r = *pp;
            size_t n;
            bool released = atomic_load(&r->released);
            while ((n = drain_ring(r, chunk, sizeof(chunk))) > 0)
                write_all(lg.fd, chunk, n);
            if (released) {
                *pp = r->next;
                free(r);
            } else {
                pp = &r->next;
            }
        }
        if (stopping)
            break;
        if (atomic_exchange(&lg.reopen, false) && lg.own_fd) {
            int fd = open_file(lg.path);
            if (fd != -1) {
                close(lg.fd);
                lg.fd = fd;
            }
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += PC_LOG_FLUSH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lg.cond, &lg.lock, &ts);
        if (lg.stop)
            stopping = true; /* one more pass drains everything */
    }
    pthread_mutex_unlock(&lg.lock);
    return NULL;
}

int
gw_accesslog_start(enum pol_access_log kind, const char *path)
{
    int err;

    if (kind == POL_LOG_OFF)
        return 0;
    lg.fd = kind == POL_LOG_STDERR ? 2 : 1;
    if (kind == POL_LOG_FILE) {
        lg.fd = open_file(path);
        if (lg.fd == -1)
            return -1;
        lg.own_fd = true;
        lg.path = pc_xstrdup(path);
    }
    err = pthread_create(&lg.thread, NULL, logger_main, NULL);
    if (err != 0) {
        pc_log(LOG_ERR, "cannot start the access logger: %s", strerror(err));
        return -1;
    }
    lg.running = true;
    return 0;
}

void
gw_accesslog_stop(void)
{
    if (!lg.running)
        return;
    pthread_mutex_lock(&lg.lock);
    lg.stop = true;
    pthread_cond_signal(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
    pthread_join(lg.thread, NULL);
    lg.running = false;
    while (lg.rings != NULL) {
        struct gw_logring *r = lg.rings;
        lg.rings = r->next;
        free(r);
    }
    if (lg.own_fd)
        close(lg.fd);
    free(lg.path);
    lg.path = NULL;
}

void
gw_accesslog_reopen(void)
{
    atomic_store(&lg.reopen, true);
}

uint64_t
gw_accesslog_dropped(void)
{
    return atomic_load(&lg.dropped);
}

struct gw_logring *
gw_accesslog_ring_new(void)
{
    struct gw_logring *r;

    if (!lg.running)
        return NULL;
    r = pc_xmalloc(sizeof(*r));
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->released, false);
    pthread_mutex_lock(&lg.lock);
    r->next = lg.rings;
    lg.rings = r;
    pthread_mutex_unlock(&lg.lock);
    return r;
}

void
gw_accesslog_ring_release(struct gw_logring *r)
{
    if (r != NULL)
        atomic_store(&r->released, true);
}

void
gw_accesslog_push(struct gw_logring *r, const char *line, size_t len)
{
    size_t head, tail, off, first;

    if (r == NULL)
        return;
    head = atomic_load_explicit(&r->head, memory_order_relaxed);
    tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (len + 1 > PC_LOG_RING_BYTES - (head - tail)) {
        atomic_fetch_add_explicit(&lg.dropped, 1, memory_order_relaxed);
        return;
    }
    off = head % PC_LOG_RING_BYTES;
    first = PC_LOG_RING_BYTES - off < len ? PC_LOG_RING_BYTES - off : len;
    memcpy(r->buf + off, line, first);
    memcpy(r->buf, line + first, len - first);
    r->buf[(head + len) % PC_LOG_RING_BYTES] = '\n';
    atomic_store_explicit(&r->head, head + len + 1, memory_order_release);
}

/* --- the h2o logger: one line per request ---------------------------------- */

struct line {
    char buf[PC_LOG_LINE_MAX];
    size_t off;
    bool full;
};

static void
lraw(struct line *l, const char *s, size_t n)
{
    if (l->full || n > sizeof(l->buf) - 2 - l->off) {
        l->full = true;
        return;
    }
    memcpy(l->buf + l->off, s, n);
    l->off += n;
}

#define LRAW(l, lit) lraw((l), (lit), sizeof(lit) - 1)

static void
lstr(struct line *l, const char *key, const char *s, size_t n)
{
    size_t end;

    LRAW(l, ",\"");
    lraw(l, key, strlen(key));
    if (s == NULL) {
        LRAW(l, "\":null");
        return;
    }
    LRAW(l, "\":\"");
    if (l->full)
        return;
    end = pc_json_escape(l->buf, l->off, sizeof(l->buf) - 8, s, n);
    if (end == SIZE_MAX) {
        l->full = true;
        return;
    }
    l->off = end;
    LRAW(l, "\"");
}

static void
lu64(struct line *l, const char *key, uint64_t v)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), ",\"%s\":%llu", key, (unsigned long long)v);

    if (n > 0)
        lraw(l, tmp, (size_t)n);
}

static void
lms(struct line *l, const char *key, double v)
{
    char tmp[96];
    uint64_t us = v > 0 && v < 1e12 ? (uint64_t)(v * 1000.0) : 0;
    int n = snprintf(tmp, sizeof(tmp), ",\"%s\":%llu.%03llu", key, (unsigned long long)(us / 1000),
                     (unsigned long long)(us % 1000));

    if (n > 0)
        lraw(l, tmp, (size_t)n);
}

static double
ms_between(const struct timeval *a, const struct timeval *b)
{
    if (a->tv_sec == 0 || b->tv_sec == 0)
        return 0;
    return (double)(b->tv_sec - a->tv_sec) * 1000.0 + (double)(b->tv_usec - a->tv_usec) / 1000.0;
}

static void
lclient(struct line *l, h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    char host[NI_MAXHOST], out[NI_MAXHOST + 16];
    int n;

    if (len == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, len, host) == SIZE_MAX) {
        lstr(l, "client", NULL, 0);
        return;
    }
    n = snprintf(out, sizeof(out), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
                 (int)h2o_socket_getport((struct sockaddr *)&ss));
    lstr(l, "client", out, n > 0 ? (size_t)n : 0);
}

static enum gw_reason
final_reason(const struct gw_req *r, const h2o_req_t *req)
{
    if (r == NULL)
        return req->res.status >= 400 ? GW_R_BAD_REQUEST : GW_R_OK;
    if (r->reason == GW_R_OK &&
        (req->res.status == 0 || req->timestamps.response_end_at.tv_sec == 0))
        return GW_R_CLIENT_GONE;
    return r->reason;
}

/*
 * HTTP/2 "rapid reset" (CVE-2023-44487): Debian's h2o 2.2.5 predates h2o's
 * own mitigation.  A stream the client ends before its response costs us
 * the work already done, so count them per connection and cut the
 * connection of a client past limits.http2_max_resets.
 */
static void
count_early_reset(struct gw_worker *w, struct gw_req *r, h2o_req_t *req)
{
    h2o_socket_t *sock;

    /* no response yet: the stream was reset (or its connection went away)
     * while we worked on it; h2o 2.2.5 stamps response_end_at either way */
    if (r == NULL || r->conn == NULL || req->version < 0x200 || req->res.status != 0)
        return;
    if (++r->conn->resets <= w->gen->cfg->limits.http2_max_resets || r->conn->cut)
        return;
    r->conn->cut = true;
    GW_INC(w->metrics.h2_abuse_closed);
    pc_log(LOG_WARNING,
           "closing the HTTP/2 connection of %s (serial %s): %u streams ended before "
           "their response (limits.http2_max_resets %u)",
           r->peer != NULL ? r->peer->identity : "-", r->peer != NULL ? r->peer->serial_hex : "-",
           r->conn->resets, w->gen->cfg->limits.http2_max_resets);
    sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn)
                                                    : NULL;
    if (sock != NULL)
        shutdown(h2o_socket_get_fd(sock), SHUT_RDWR); /* h2o then closes it as a peer close */
}

static void
log_access(h2o_logger_t *self, h2o_req_t *req)
{
    struct gw_worker *w = gw_worker_self();
    struct gw_req *r = gw_req_find(req);
    enum gw_reason reason = final_reason(r, req);
    struct timeval now;
    double total_ms, up_ms = 0;
    struct line l;
    struct tm tm;
    const char *q;
    size_t plen;
    int n;

    (void)self;
    if (w == NULL)
        return;
    count_early_reset(w, r, req);
    gettimeofday(&now, NULL);
    total_ms = ms_between(
        &req->timestamps.request_begin_at,
        req->timestamps.response_end_at.tv_sec != 0 ? &req->timestamps.response_end_at : &now);
    if (r != NULL && r->proxied_at_ms != 0)
        up_ms = (double)r->upstream_us / 1000.0;
    gw_metrics_request(&w->metrics,
                       r != NULL && r->route != NULL ? r->route->index : w->metrics.nroutes, reason,
                       req->res.status, total_ms > 0 ? (uint64_t)(total_ms * 1000.0) : 0);
    if (w->log == NULL)
        return;

    l.off = 0;
    l.full = false;
    gmtime_r(&now.tv_sec, &tm);
    n = (int)strftime(l.buf, sizeof(l.buf), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    l.off = (size_t)n;
    n = snprintf(l.buf + l.off, sizeof(l.buf) - l.off, ".%03dZ\"", (int)(now.tv_usec / 1000));
    l.off += (size_t)n;
    lstr(&l, "request_id", r != NULL ? r->request_id : NULL, r != NULL ? 32 : 0);
    lclient(&l, req);
    lstr(&l, "identity", r != NULL && r->peer != NULL ? r->peer->identity : NULL,
         r != NULL && r->peer != NULL ? strlen(r->peer->identity) : 0);
    lstr(&l, "cert_serial", r != NULL && r->peer != NULL ? r->peer->serial_hex : NULL,
         r != NULL && r->peer != NULL ? strlen(r->peer->serial_hex) : 0);
    lstr(&l, "sub", r != NULL ? r->sub : NULL, r != NULL && r->sub != NULL ? strlen(r->sub) : 0);
    lstr(&l, "iss", r != NULL ? r->iss : NULL, r != NULL && r->iss != NULL ? strlen(r->iss) : 0);
    lstr(&l, "kid", r != NULL ? r->kid : NULL, r != NULL && r->kid != NULL ? strlen(r->kid) : 0);
    lstr(&l, "jti", r != NULL ? r->jti : NULL, r != NULL && r->jti != NULL ? strlen(r->jti) : 0);
    lstr(&l, "route", r != NULL && r->route != NULL ? r->route->name : NULL,
         r != NULL && r->route != NULL ? strlen(r->route->name) : 0);
    if (gw_reason_is_deny(reason))
        LRAW(&l, ",\"decision\":\"deny\"");
    else
        LRAW(&l, ",\"decision\":\"allow\"");
    lstr(&l, "reason", gw_reason_slug(reason), strlen(gw_reason_slug(reason)));
    lu64(&l, "status", (uint64_t)req->res.status);
    lstr(&l, "method", req->input.method.base, req->input.method.len);
    lstr(&l, "host", req->input.authority.base, req->input.authority.len);
    q = memchr(req->input.path.base, '?', req->input.path.len);
    plen = q != NULL ? (size_t)(q - req->input.path.base) : req->input.path.len;
    lstr(&l, "path", req->input.path.base, plen); /* no query: it may hold credentials */
    lstr(&l, "proto", req->version >= 0x200 ? "HTTP/2" : "HTTP/1.1", req->version >= 0x200 ? 6 : 8);
    lu64(&l, "bytes", (uint64_t)req->bytes_sent);
    lms(&l, "total_ms", total_ms);
    lms(&l, "upstream_ms", up_ms);
    if (r != NULL && r->rl_key != NULL) {
        lstr(&l, "rl_key", r->rl_key, r->rl_keylen);
        lstr(&l, "rl_backend", r->rl_backend, r->rl_backend != NULL ? strlen(r->rl_backend) : 0);
        if (r->rl_done)
            lu64(&l, "rl_remaining", r->rl.remaining);
    }
    if (r != NULL && r->detail != NULL && gw_reason_is_deny(reason))
        lstr(&l, "detail", r->detail, strlen(r->detail));
    if (l.full) {
        /* a field was too long: keep the line valid JSON, mark it cut */
        l.off = 0;
        l.full = false;
        LRAW(&l, "{\"truncated\":true");
        lstr(&l, "request_id", r != NULL ? r->request_id : NULL, r != NULL ? 32 : 0);
        lstr(&l, "reason", gw_reason_slug(reason), strlen(gw_reason_slug(reason)));
        lu64(&l, "status", (uint64_t)req->res.status);
    }
    LRAW(&l, "}");
    gw_accesslog_push(w->log, l.buf, l.off);
}

void
gw_accesslog_register(h2o_pathconf_t *pathconf)
{
    h2o_logger_t *lgr = h2o_create_logger(pathconf, sizeof(*lgr));

    lgr->log_access = log_access;
}
