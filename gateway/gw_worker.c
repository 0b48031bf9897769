/*
 * Worker threads: one h2o_evloop_t + h2o_context_t each, accepting on dup()s
 * of the generation's listening sockets (h2o's own standalone pattern),
 * with per-worker upstream keep-alive pools and client contexts, so no
 * state on the request path is shared between threads.
 */
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_rcu.h"
#include "gateway/gw.h"

#define GW_ACCEPT_BATCH 16 /* connections accepted per readiness event */

static __thread struct gw_worker *self_worker;

struct gw_worker *
gw_worker_self(void)
{
    return self_worker;
}

static void
on_conn_close(void *data)
{
    struct gw_conn_link *cl = data;
    struct gw_worker *w = cl->w;

    h2o_linklist_unlink(&cl->link);
    w->nconns--;
    GW_ADD(w->metrics.conns_open, (uint64_t)-1);
    free(cl);
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *actx = listener->data;
    struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, ctx, actx->ctx);
    int i;

    if (err != NULL)
        return;
    if (atomic_load_explicit(&w->gen->state, memory_order_acquire) != GW_GEN_RUNNING) {
        /* a newer generation takes the connections waiting in the shared
         * backlog from the moment the switch is made, not when this loop
         * next looks at its state */
        h2o_socket_read_stop(listener);
        return;
    }
    for (i = 0; i < GW_ACCEPT_BATCH; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        struct gw_conn_link *cl;
        if (sock == NULL)
            return;
        cl = pc_xcalloc(1, sizeof(*cl)); /* an unlinked link is all zeros */
        cl->sock = sock;
        cl->w = w;
        h2o_linklist_insert(&w->conns, &cl->link);
        w->nconns++;
        GW_INC(w->metrics.conns_open);
        GW_INC(w->metrics.conns_total);
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = cl;
        h2o_accept(actx, sock);
    }
}

static int
setup_upstreams(struct gw_worker *w)
{
    const struct pol_config *cfg = w->gen->cfg;
    size_t i;

    h2o_timeout_init(w->loop, &w->upstream_idle, cfg->limits.upstream_keepalive_ms);
    w->upools = pc_xcalloc(cfg->nupstreams + 1, sizeof(*w->upools));
    for (i = 0; i < cfg->nupstreams; i++)
        gw_upool_init(&w->upools[i], w, &cfg->upstreams[i], &w->gen->upstream_addr[i],
                      w->gen->upstream_ssl[i]);
    w->routes = pc_xcalloc(cfg->nroutes + 1, sizeof(*w->routes));
    for (i = 0; i < cfg->nroutes; i++)
        h2o_timeout_init(w->loop, &w->routes[i].io_timeout, cfg->routes[i].upstream_timeout_ms);
    return PC_OK;
}

static void
teardown_upstreams(struct gw_worker *w)
{
    const struct pol_config *cfg = w->gen->cfg;
    size_t i;

    if (w->upools != NULL) {
        for (i = 0; i < cfg->nupstreams; i++)
            gw_upool_clear(&w->upools[i]);
        h2o_evloop_run(w->loop, 0); /* let the closes settle before the timers go */
        h2o_timeout_dispose(w->loop, &w->upstream_idle);
    }
    if (w->routes != NULL)
        for (i = 0; i < cfg->nroutes; i++)
            h2o_timeout_dispose(w->loop, &w->routes[i].io_timeout);
    free(w->routes);
    free(w->upools);
    w->routes = NULL;
    w->upools = NULL;
}

static int
open_listeners(struct gw_worker *w)
{
    struct gw_gen *g = w->gen;
    size_t i;

    w->lsocks = pc_xcalloc(g->nlisteners + 1, sizeof(*w->lsocks));
    w->accept = pc_xcalloc(g->nlisteners + 1, sizeof(*w->accept));
    for (i = 0; i < g->nlisteners; i++) {
        struct gw_listener *l = &g->listeners[i];
        int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
        if (fd == -1) {
            pc_log(LOG_ERR, "worker %u: dup listener %s: %s", w->id, l->conf->address,
                   strerror(errno));
            return PC_ERR_IO;
        }
        w->accept[i].ctx = &w->ctx;
        w->accept[i].hosts = l->hosts;
        w->accept[i].ssl_ctx = l->ssl_ctx;
        w->lsocks[i] = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        w->lsocks[i]->data = &w->accept[i];
        h2o_socket_read_start(w->lsocks[i], on_accept);
    }
    return PC_OK;
}

static void
close_listeners(struct gw_worker *w)
{
    size_t i;

    if (w->lsocks == NULL)
        return;
    for (i = 0; i < w->gen->nlisteners; i++) {
        if (w->lsocks[i] != NULL) {
            h2o_socket_read_stop(w->lsocks[i]);
            h2o_socket_close(w->lsocks[i]);
            w->lsocks[i] = NULL;
        }
    }
}

static void
start_drain(struct gw_worker *w)
{
    uint64_t now = h2o_now(w->loop);

    w->draining = true;
    w->drain_deadline = now + w->gen->cfg->limits.shutdown_timeout_ms;
    close_listeners(w); /* closes only this worker's dup()s */
    h2o_context_request_shutdown(&w->ctx);
    /* idle HTTP/1.1 keep-alive connections wait for their request timeout
     * to expire: shorten it so they close soon (h2o keeps no idle list we
     * may walk); requests in progress are not under this timeout */
    if (w->ctx.http1.req_timeout.timeout > GW_DRAIN_H1_MS)
        w->ctx.http1.req_timeout.timeout = GW_DRAIN_H1_MS;
}

/* Past the shutdown timeout: cut what is left so the generation can end. */
static void
force_close(struct gw_worker *w)
{
    h2o_linklist_t *n;

    for (n = w->conns.next; n != &w->conns; n = n->next) {
        struct gw_conn_link *cl = H2O_STRUCT_FROM_MEMBER(struct gw_conn_link, link, n);
        shutdown(h2o_socket_get_fd(cl->sock), SHUT_RDWR);
    }
    w->drain_deadline = UINT64_MAX;
    pc_log(LOG_WARNING, "worker %u: shutdown timeout; closed %zu connection(s)", w->id, w->nconns);
}

static bool
drained(struct gw_worker *w)
{
    if (w->nconns != 0 || !h2o_linklist_is_empty(&w->parked))
        return false;
    /* h2o keeps its HTTP/2 shutdown timer (second GOAWAY, then closing
     * stragglers after graceful_shutdown_timeout) linked even when no
     * connection is left; it must be unlinked before the context goes */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    return true;
}

void *
gw_worker_main(void *arg)
{
    struct gw_worker *w = arg;
    struct gw_gen *g = w->gen;
    struct pc_rcu *rcu = pc_rcu_global();
    bool ok;

    self_worker = w;
    h2o_linklist_init_anchor(&w->conns);
    w->rcu_slot = pc_rcu_register(rcu);
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &g->globalconf);
    w->log = gw_accesslog_ring_new();
    gw_jwt_worker_init(w);
    if (g->cfg->redis != NULL)
        w->redis = gw_redis_new(w->loop, &g->redis, &w->redis_stats);
    ok = w->rcu_slot >= 0 && setup_upstreams(w) == PC_OK && open_listeners(w) == PC_OK;
    if (!ok) {
        pc_log(LOG_ERR, "worker %u of generation %lu failed to start", w->id, g->id);
        atomic_store(&g->state, GW_GEN_DRAINING);
    }
    for (;;) {
        h2o_evloop_run(w->loop, GW_LOOP_MAX_WAIT);
        if (w->rcu_slot >= 0)
            pc_rcu_quiescent(rcu, w->rcu_slot);
        if (!w->draining && atomic_load(&g->state) != GW_GEN_RUNNING)
            start_drain(w);
        if (w->draining) {
            if (drained(w))
                break;
            if (h2o_now(w->loop) >= w->drain_deadline)
                force_close(w);
        }
    }
    close_listeners(w);
    free(w->lsocks);
    free(w->accept);
    w->lsocks = NULL;
    w->accept = NULL;
    teardown_upstreams(w);
    gw_jwt_worker_clear(w);
    gw_redis_free(w->redis); /* pending charges fail; their requests are gone by now */
    w->redis = NULL;
    h2o_context_dispose(&w->ctx);
    h2o_evloop_run(w->loop, 0); /* let pending closes finish */
    /* h2o 2.2.5 (evloop) h2o_multithread_destroy_queue() closes the queue
     * but never frees it */
    free(w->ctx.queue);
    w->ctx.queue = NULL;
    gw_accesslog_ring_release(w->log);
    w->log = NULL;
    pc_rcu_unregister(rcu, w->rcu_slot);
    self_worker = NULL;
    atomic_store(&w->done, true);
    return NULL;
}
