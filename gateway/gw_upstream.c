/*
 * The HTTP/1.1 client towards upstreams (worker threads).
 *
 * h2o 2.2.5's own proxy returns every upstream connection to an
 * h2o_socketpool, which exports it off the event loop and imports it back on
 * the next request: five extra system calls per request (epoll_ctl DEL/ADD,
 * fcntl, a recv(MSG_PEEK) liveness probe), which doubled the gateway's cost
 * per request.  Here each worker keeps its idle keep-alive connections on its
 * own loop, watched for a close by the upstream, so a request costs one
 * writev and one read towards the upstream.
 *
 * Per request: build the request head (the client's headers after
 * gw_proxy.c scrubbed them, hop-by-hop ones dropped), take an idle
 * connection or connect (TLS verified by name, gw_tls.c), write, parse the
 * response head (picohttpparser, bundled in libh2o), stream the body to the
 * client with h2o's backpressure (no read from the upstream while a send is
 * in flight), and give the connection back when the request is done.  A
 * reused connection that fails before any response byte is retried once on a
 * new connection for idempotent methods.  Failures before the response head
 * become 502 (refused, invalid) or 504 (timed out) problems.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "gateway/gw.h"
#include "gateway/gw_uhead.h"

#define GW_UPSTREAM_IDLE_MAX 64 /* idle keep-alive connections per upstream per worker */

struct gw_uconn {
    h2o_linklist_t link; /* in the pool's idle list */
    h2o_timeout_entry_t idle_timer;
    struct gw_upool *pool;
    h2o_socket_t *sock;
    struct gw_fwd *fwd; /* the request using it; NULL when idle */
};

enum fwd_state { F_CONNECT, F_SEND, F_HEAD, F_BODY, F_DONE };

struct gw_fwd {
    h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
    struct gw_req *r;    /* NULL once the request is gone */
    struct gw_upool *pool;
    struct gw_uconn *uc;
    h2o_timeout_t *timeout;
    h2o_timeout_entry_t timer;
    h2o_iovec_t out[2]; /* request head, body */
    size_t nout;
    enum fwd_state state;
    enum gw_uframing framing;
    uint64_t left;  /* GW_UBODY_LENGTH: body bytes still to come */
    size_t pending; /* bytes of the input passed to the h2o_send in flight */
    struct phr_chunked_decoder dec;
    bool reused; /* the connection came from the pool */
    bool retried;
    bool keepalive; /* the connection may serve another request */
    bool sending;   /* waiting for the client side to proceed */
    bool started;   /* h2o_start_response was called */
};

static void fwd_connect(struct gw_fwd *f);
static void on_head(h2o_socket_t *sock, const char *err);
static void on_body(h2o_socket_t *sock, const char *err);
static void body_step(struct gw_fwd *f);

/* --- connections ---------------------------------------------------------- */

static void
uconn_close(struct gw_uconn *uc)
{
    if (uc == NULL)
        return;
    if (h2o_linklist_is_linked(&uc->link)) {
        h2o_linklist_unlink(&uc->link);
        uc->pool->nidle--;
    }
    if (h2o_timeout_is_linked(&uc->idle_timer))
        h2o_timeout_unlink(&uc->idle_timer);
    if (uc->sock != NULL)
        h2o_socket_close(uc->sock);
    free(uc);
}

/* Anything from an idle connection (data or EOF) means it is unusable. */
static void
on_idle_read(h2o_socket_t *sock, const char *err)
{
    (void)err;
    uconn_close(sock->data);
}

static void
on_idle_timeout(h2o_timeout_entry_t *entry)
{
    uconn_close(H2O_STRUCT_FROM_MEMBER(struct gw_uconn, idle_timer, entry));
}

static void
uconn_release(struct gw_uconn *uc)
{
    struct gw_upool *p = uc->pool;

    if (p->nidle >= GW_UPSTREAM_IDLE_MAX || p->w->draining || uc->sock->input->size != 0) {
        uconn_close(uc);
        return;
    }
    uc->fwd = NULL;
    uc->sock->data = uc;
    h2o_socket_read_start(uc->sock, on_idle_read);
    h2o_linklist_insert(&p->idle, &uc->link);
    p->nidle++;
    uc->idle_timer.cb = on_idle_timeout;
    h2o_timeout_link(p->w->loop, &p->w->upstream_idle, &uc->idle_timer);
}

static struct gw_uconn *
uconn_take(struct gw_upool *p)
{
    struct gw_uconn *uc;

    if (h2o_linklist_is_empty(&p->idle))
        return NULL;
    /* most recently used first: the least likely to be closed by now */
    uc = H2O_STRUCT_FROM_MEMBER(struct gw_uconn, link, p->idle.prev);
    h2o_linklist_unlink(&uc->link);
    p->nidle--;
    h2o_timeout_unlink(&uc->idle_timer);
    h2o_socket_read_stop(uc->sock);
    return uc;
}

void
gw_upool_init(struct gw_upool *p, struct gw_worker *w, const struct pol_upstream *conf,
              const struct gw_upstream_addr *addr, SSL_CTX *ssl)
{
    p->w = w;
    p->conf = conf;
    p->addr = addr;
    p->ssl = ssl;
    h2o_linklist_init_anchor(&p->idle);
    p->nidle = 0;
}

void
gw_upool_clear(struct gw_upool *p)
{
    while (!h2o_linklist_is_empty(&p->idle))
        uconn_close(H2O_STRUCT_FROM_MEMBER(struct gw_uconn, link, p->idle.next));
}

/* --- request lifetime ------------------------------------------------------ */

static void
fwd_timer_stop(struct gw_fwd *f)
{
    if (h2o_timeout_is_linked(&f->timer))
        h2o_timeout_unlink(&f->timer);
}

static void
fwd_timer_start(struct gw_fwd *f)
{
    fwd_timer_stop(f);
    h2o_timeout_link(f->pool->w->loop, f->timeout, &f->timer);
}

/* The request is gone (finished, or the client went away). */
static void
on_fwd_dispose(void *p)
{
    struct gw_fwd *f = p;

    fwd_timer_stop(f);
    if (f->uc != NULL) {
        if (f->state == F_DONE && f->keepalive) {
            /* the last body bytes were sent from the input buffer */
            h2o_buffer_consume(&f->uc->sock->input, f->pending);
            uconn_release(f->uc);
        } else {
            uconn_close(f->uc);
        }
        f->uc = NULL;
    }
    f->r = NULL;
}

/* h2o stops the response (client reset, connection closed). */
static void
on_gen_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    struct gw_fwd *f = (struct gw_fwd *)gen;

    (void)req;
    fwd_timer_stop(f);
    uconn_close(f->uc); /* mid-response: never reusable */
    f->uc = NULL;
    f->state = F_DONE;
    f->keepalive = false;
}

static bool
is_idempotent(h2o_iovec_t m)
{
    return h2o_memis(m.base, m.len, H2O_STRLIT("GET")) ||
           h2o_memis(m.base, m.len, H2O_STRLIT("HEAD")) ||
           h2o_memis(m.base, m.len, H2O_STRLIT("OPTIONS")) ||
           h2o_memis(m.base, m.len, H2O_STRLIT("PUT")) ||
           h2o_memis(m.base, m.len, H2O_STRLIT("DELETE"));
}

/* A failure on the upstream side.  Before the response head: retry once on a
 * fresh connection when that is safe, else answer 502/504.  After it: abort
 * the client's response (its status line is gone already). */
static void
fwd_fail(struct gw_fwd *f, bool timeout, const char *why)
{
    struct gw_req *r = f->r;
    bool no_response = f->state <= F_HEAD && (f->uc == NULL || f->uc->sock->input->size == 0);

    fwd_timer_stop(f);
    uconn_close(f->uc);
    f->uc = NULL;
    f->keepalive = false;
    if (r == NULL)
        return;
    if (!timeout && f->reused && !f->retried && no_response && is_idempotent(r->req->method)) {
        /* the upstream closed an idle connection as we reused it */
        f->retried = true;
        f->reused = false;
        fwd_connect(f);
        return;
    }
    if (f->started) {
        f->state = F_DONE;
        pc_log(LOG_WARNING, "request %s: upstream %s failed mid-response: %s", r->request_id,
               f->pool->conf->url, why);
        h2o_send(r->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    f->state = F_DONE;
    r->reason = timeout ? GW_R_UPSTREAM_TIMEOUT : GW_R_UPSTREAM_ERROR;
    pc_log(LOG_WARNING, "request %s: upstream %s: %s", r->request_id, f->pool->conf->url, why);
    gw_problem_send(r, timeout ? "the upstream did not answer in time"
                               : "the upstream could not be reached");
}

static void
on_fwd_timeout(h2o_timeout_entry_t *entry)
{
    struct gw_fwd *f = H2O_STRUCT_FROM_MEMBER(struct gw_fwd, timer, entry);

    fwd_fail(f, true, f->state == F_CONNECT ? "connect timeout" : "I/O timeout");
}

/* --- connect, send ----------------------------------------------------------- */

static void
on_written(h2o_socket_t *sock, const char *err)
{
    struct gw_fwd *f = ((struct gw_uconn *)sock->data)->fwd;

    if (err != NULL) {
        fwd_fail(f, false, err);
        return;
    }
    f->state = F_HEAD;
    fwd_timer_start(f);
    h2o_socket_read_start(sock, on_head);
}

static void
fwd_write(struct gw_fwd *f)
{
    f->state = F_SEND;
    f->uc->fwd = f;
    f->uc->sock->data = f->uc;
    fwd_timer_start(f);
    h2o_socket_write(f->uc->sock, f->out, f->nout, on_written);
}

static void
on_handshake(h2o_socket_t *sock, const char *err)
{
    struct gw_fwd *f = ((struct gw_uconn *)sock->data)->fwd;

    if (err != NULL) {
        fwd_fail(f, false, err);
        return;
    }
    fwd_write(f);
}

static void
on_connect(h2o_socket_t *sock, const char *err)
{
    struct gw_uconn *uc = sock->data;
    struct gw_fwd *f = uc->fwd;
    int one = 1;

    if (err != NULL) {
        fwd_fail(f, false, err);
        return;
    }
    (void)setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (uc->pool->ssl != NULL) {
        /* the name h2o sends as SNI is what gw_tls.c's verify callback checks */
        h2o_socket_ssl_handshake(sock, uc->pool->ssl, uc->pool->conf->host, on_handshake);
        return;
    }
    fwd_write(f);
}

static void
fwd_connect(struct gw_fwd *f)
{
    struct gw_upool *p = f->pool;
    struct gw_uconn *uc = pc_xcalloc(1, sizeof(*uc));

    uc->pool = p;
    uc->fwd = f;
    f->uc = uc;
    f->state = F_CONNECT;
    fwd_timer_start(f);
    uc->sock = h2o_socket_connect(p->w->loop, (struct sockaddr *)(uintptr_t)&p->addr->ss,
                                  p->addr->len, on_connect);
    if (uc->sock == NULL) {
        fwd_fail(f, false, "cannot create a socket");
        return;
    }
    uc->sock->data = uc;
}

/* --- the response head ------------------------------------------------------------ */

/* Copy the parsed head into h2o's response, minus the hop-by-hop fields. */
static void
take_head(struct gw_fwd *f, const struct gw_uhead *uh)
{
    h2o_req_t *req = f->r->req;
    size_t i;

    req->res.status = uh->status;
    req->res.reason = h2o_strdup(&req->pool, uh->msg, uh->msglen).base;
    for (i = 0; i < uh->nh; i++) {
        const struct phr_header *h = &uh->h[i];
        h2o_iovec_t name, value;
        const h2o_token_t *tok;
        if (gw_uhead_is_hop_by_hop(h->name, h->name_len))
            continue;
        name = h2o_strdup(&req->pool, h->name, h->name_len);
        value = h2o_strdup(&req->pool, h->value, h->value_len);
        h2o_strtolower(name.base, name.len);
        tok = h2o_lookup_token(name.base, name.len);
        if (tok != NULL)
            h2o_add_header(&req->pool, &req->res.headers, tok, NULL, value.base, value.len);
        else
            h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 0, NULL,
                                  value.base, value.len);
    }
    f->keepalive = uh->keepalive;
    f->framing = uh->framing;
    switch (uh->framing) {
    case GW_UBODY_NONE:
        if (uh->have_len && uh->status != 204)
            req->res.content_length = uh->clen; /* HEAD: what a GET would carry */
        break;
    case GW_UBODY_CHUNKED:
        memset(&f->dec, 0, sizeof(f->dec));
        f->dec.consume_trailer = 1;
        break;
    case GW_UBODY_LENGTH:
        f->left = uh->clen;
        req->res.content_length = uh->clen;
        break;
    case GW_UBODY_CLOSE:
        break;
    }
}

static void
on_head(h2o_socket_t *sock, const char *err)
{
    struct gw_fwd *f = ((struct gw_uconn *)sock->data)->fwd;
    struct gw_uhead uh;
    const char *why = NULL;
    struct timeval now;
    int n;

    if (err != NULL) {
        fwd_fail(f, false, err);
        return;
    }
    n = gw_uhead_parse(sock->input->bytes, sock->input->size,
                       h2o_memis(f->r->req->method.base, f->r->req->method.len, H2O_STRLIT("HEAD")),
                       &uh, &why);
    if (n == -2) {
        if (sock->input->size > GW_UHEAD_MAX)
            fwd_fail(f, false, "response head too large");
        return; /* wait for more */
    }
    if (n < 0) {
        fwd_fail(f, false, why);
        return;
    }
    take_head(f, &uh);
    h2o_buffer_consume(&sock->input, (size_t)n);
    gettimeofday(&now, NULL);
    f->r->upstream_us = (uint64_t)((now.tv_sec - f->r->proxied_at.tv_sec) * 1000000 +
                                   (now.tv_usec - f->r->proxied_at.tv_usec));
    f->state = F_BODY;
    f->started = true;
    h2o_start_response(f->r->req, &f->gen);
    h2o_socket_read_stop(sock);
    body_step(f);
}

/* --- the response body ------------------------------------------------------------ */

static void
on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct gw_fwd *f = (struct gw_fwd *)gen;

    (void)req;
    f->sending = false;
    if (f->uc == NULL)
        return;
    h2o_buffer_consume(&f->uc->sock->input, f->pending);
    f->pending = 0;
    body_step(f);
}

static void
send_body(struct gw_fwd *f, size_t n, bool final)
{
    h2o_iovec_t v = h2o_iovec_init(f->uc->sock->input->bytes, n);

    f->pending = n;
    if (final) {
        f->state = F_DONE;
        fwd_timer_stop(f);
        /* the bytes stay in the input buffer until the request is disposed;
         * only then does the connection go back to the pool */
        h2o_send(f->r->req, &v, n != 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
        return;
    }
    f->sending = true;
    fwd_timer_stop(f); /* a slow client is not an upstream timeout */
    h2o_send(f->r->req, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* Send what the input holds, or read more.  Never reads while a send is in
 * flight: h2o keeps pointers into the input buffer until it proceeds. */
static void
body_step(struct gw_fwd *f)
{
    h2o_buffer_t *in = f->uc->sock->input;
    size_t n;

    if (f->sending || f->state != F_BODY)
        return;
    switch (f->framing) {
    case GW_UBODY_NONE:
        if (in->size != 0)
            f->keepalive = false;
        send_body(f, 0, true);
        return;
    case GW_UBODY_LENGTH:
        n = in->size < f->left ? in->size : (size_t)f->left;
        if (n == f->left) {
            if (in->size != n)
                f->keepalive = false; /* bytes past the body: not a clean connection */
            send_body(f, n, true);
            return;
        }
        if (n != 0) {
            f->left -= n;
            send_body(f, n, false);
            return;
        }
        break;
    case GW_UBODY_CHUNKED: {
        size_t len = in->size;
        ssize_t rest;
        if (len == 0)
            break;
        rest = phr_decode_chunked(&f->dec, in->bytes, &len);
        if (rest == -1) {
            fwd_fail(f, false, "invalid chunked body");
            return;
        }
        if (rest >= 0) {
            in->size = len + (size_t)rest;
            if (rest != 0)
                f->keepalive = false;
            send_body(f, len, true);
            return;
        }
        in->size = len; /* every raw byte is decoded in place */
        if (len != 0) {
            send_body(f, len, false);
            return;
        }
        break;
    }
    case GW_UBODY_CLOSE:
        if (in->size != 0) {
            send_body(f, in->size, false);
            return;
        }
        break;
    }
    fwd_timer_start(f);
    h2o_socket_read_start(f->uc->sock, on_body);
}

static void
on_body(h2o_socket_t *sock, const char *err)
{
    struct gw_fwd *f = ((struct gw_uconn *)sock->data)->fwd;

    h2o_socket_read_stop(sock);
    if (err != NULL) {
        if (f->framing == GW_UBODY_CLOSE && f->state == F_BODY && f->r != NULL) {
            /* the close is the end of this body */
            send_body(f, sock->input->size, true);
            f->keepalive = false;
            return;
        }
        fwd_fail(f, false, err);
        return;
    }
    body_step(f);
}

/* --- entry ---------------------------------------------------------------------- */

int
gw_upstream_forward(struct gw_req *r, struct gw_upool *pool, h2o_timeout_t *timeout,
                    h2o_iovec_t head)
{
    h2o_req_t *req = r->req;
    struct gw_fwd *f = h2o_mem_alloc_shared(&req->pool, sizeof(*f), on_fwd_dispose);

    memset(f, 0, sizeof(*f));
    f->gen.proceed = on_proceed;
    f->gen.stop = on_gen_stop;
    f->r = r;
    f->pool = pool;
    f->timeout = timeout;
    f->timer.cb = on_fwd_timeout;
    f->out[0] = head;
    f->nout = 1;
    if (req->entity.base != NULL && req->entity.len != 0)
        f->out[f->nout++] = req->entity;
    f->uc = uconn_take(pool);
    if (f->uc != NULL) {
        f->reused = true;
        fwd_write(f);
    } else {
        fwd_connect(f);
    }
    return 0;
}
