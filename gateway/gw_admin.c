/*
 * The admin listener: /healthz, /readyz and /metrics (Prometheus text) in
 * plain HTTP on a loopback address, served by the control thread's own h2o
 * loop so that scrapes never touch the workers' loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

#define GW_METRICS_MAX_BYTES (16 * 1024 * 1024) /* one /metrics page */

struct admin_handler {
    h2o_handler_t super;
    struct gw_proc *proc;
};

static int
reply(h2o_req_t *req, int status, const char *reason, const char *ctype, const char *body,
      size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
    return 0;
}

static bool
is_ready(struct gw_proc *p, const char **why, char *buf, size_t cap)
{
    const char *issuer = NULL;

    if (p->stopping) {
        *why = "shutting down";
        return false;
    }
    if (p->current == NULL || atomic_load(&p->current->state) != GW_GEN_RUNNING) {
        *why = "no running configuration";
        return false;
    }
    if (!gw_jwks_all_ready(p->current, &issuer)) {
        snprintf(buf, cap, "issuer %s has no keys", issuer);
        *why = buf;
        return false;
    }
    *why = "ready";
    return true;
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct admin_handler *h = (struct admin_handler *)self;
    const char *why;
    struct pc_buf b;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return reply(req, 405, "Method Not Allowed", "text/plain", H2O_STRLIT("GET only\n"));
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/healthz")))
        return reply(req, 200, "OK", "text/plain", H2O_STRLIT("ok\n"));
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/readyz"))) {
        char body[256], wbuf[192];
        bool ok = is_ready(h->proc, &why, wbuf, sizeof(wbuf));
        int n = snprintf(body, sizeof(body), "%s\n", why);
        return reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain", body,
                     (size_t)n);
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics"))) {
        pc_buf_init(&b, GW_METRICS_MAX_BYTES);
        gw_metrics_render(h->proc, &b);
        reply(req, 200, "OK", "text/plain; version=0.0.4", b.data != NULL ? b.data : "", b.len);
        pc_buf_clear(&b);
        return 0;
    }
    return reply(req, 404, "Not Found", "text/plain", H2O_STRLIT("not found\n"));
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    struct gw_proc *p = listener->data;
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&p->admin_accept, sock);
}

/*
 * Serve the admin endpoints on `fd` (bound by the caller before the
 * privilege drop) from the control loop.  Control thread.
 */
int
gw_admin_start_fd(struct gw_proc *p, h2o_loop_t *loop, int fd)
{
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    struct admin_handler *h;

    h2o_config_init(&p->admin_conf);
    p->admin_conf.server_name = h2o_iovec_init(H2O_STRLIT("portcullis"));
    host = h2o_config_register_host(&p->admin_conf, h2o_iovec_init(H2O_STRLIT("admin")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    h = (struct admin_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->proc = p;
    h2o_context_init(&p->admin_ctx, loop, &p->admin_conf);
    p->admin_accept.ctx = &p->admin_ctx;
    p->admin_accept.hosts = p->admin_conf.hosts;
    p->admin_sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    p->admin_sock->data = p;
    h2o_socket_read_start(p->admin_sock, on_accept);
    p->admin_ok = true;
    return PC_OK;
}

void
gw_admin_stop(struct gw_proc *p)
{
    if (!p->admin_ok)
        return;
    h2o_socket_read_stop(p->admin_sock);
    h2o_socket_close(p->admin_sock);
    h2o_context_dispose(&p->admin_ctx);
    h2o_evloop_run(p->admin_ctx.loop, 0);
    free(p->admin_ctx.queue); /* h2o 2.2.5 (evloop) never frees it */
    p->admin_ctx.queue = NULL;
    h2o_config_dispose(&p->admin_conf);
    p->admin_ok = false;
}
