/*
 * Handing an allowed request to its upstream through h2o's reverse proxy:
 * remove every identity and forwarding header the client sent, set ours,
 * choose the upstream per request (per-worker keep-alive pool and client
 * context), and turn h2o's own upstream failures into 502/504 problems.
 */
#include <string.h>
#include <sys/time.h>

#include "common/pc_str.h"
#include "gateway/gw.h"

/* Headers the gateway owns: any copy from the client is dropped. */
static const struct {
    const char *base;
    size_t len;
} owned[] = {
    {H2O_STRLIT("x-forwarded-client-cert")},
    {H2O_STRLIT("x-forwarded-for")},
    {H2O_STRLIT("x-forwarded-proto")},
    {H2O_STRLIT("x-forwarded-host")},
    {H2O_STRLIT("x-forwarded-port")},
    {H2O_STRLIT("x-real-ip")},
    {H2O_STRLIT("forwarded")},
    {H2O_STRLIT("x-request-id")},
};
#define OWNED_PREFIX "x-auth-" /* X-Auth-Subject, X-Auth-Scopes, claims we add */

static bool
is_owned(const h2o_iovec_t *name)
{
    size_t i;

    if (name->len >= sizeof(OWNED_PREFIX) - 1 &&
        memcmp(name->base, OWNED_PREFIX, sizeof(OWNED_PREFIX) - 1) == 0)
        return true;
    for (i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (h2o_memis(name->base, name->len, owned[i].base, owned[i].len))
            return true;
    return false;
}

static bool
is_route_set(const struct pol_route *route, const h2o_iovec_t *name)
{
    size_t i;

    for (i = 0; i < route->nhset; i++)
        if (h2o_memis(name->base, name->len, route->hset[i].name, strlen(route->hset[i].name)))
            return true;
    return false;
}

/*
 * One pass over the request headers: drop what we own, what the route sets
 * and every traceparent/tracestate unless there is exactly one valid
 * traceparent.  Header names are lower-case in h2o (h1 and h2 alike).
 */
static void
scrub_headers(h2o_req_t *req, const struct pol_route *route, bool *keep_trace)
{
    size_t i, o = 0, ntp = 0;
    bool tp_ok = false;

    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h2o_memis(h->name->base, h->name->len, H2O_STRLIT("traceparent"))) {
            ntp++;
            tp_ok = gw_traceparent_valid(h->value.base, h->value.len);
        }
    }
    *keep_trace = ntp == 1 && tp_ok;
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (is_owned(h->name) || is_route_set(route, h->name))
            continue;
        if (!*keep_trace && (h2o_memis(h->name->base, h->name->len, H2O_STRLIT("traceparent")) ||
                             h2o_memis(h->name->base, h->name->len, H2O_STRLIT("tracestate"))))
            continue;
        req->headers.entries[o++] = *h;
    }
    req->headers.size = o;
}

static void
add_header(h2o_req_t *req, const char *name, size_t nlen, const char *value, size_t vlen)
{
    h2o_add_header_by_str(&req->pool, &req->headers, name, nlen, 0, NULL, value, vlen);
}

int
gw_proxy_send(struct gw_req *r)
{
    h2o_req_t *req = r->req;
    const struct pol_route *route = r->route;
    struct gw_worker *w = r->w;
    struct gw_route_rt *rt = &w->routes[route->index];
    h2o_req_overrides_t *ov;
    bool keep_trace;
    h2o_iovec_t v;
    size_t i;

    scrub_headers(req, route, &keep_trace);
    /* the peer lives as long as the connection; the request may outlive
     * neither, but the upstream request is built later: copy into the pool */
    v = h2o_strdup(&req->pool, r->peer->xfcc, r->peer->xfcc_len);
    add_header(req, H2O_STRLIT("x-forwarded-client-cert"), v.base, v.len);
    add_header(req, H2O_STRLIT("x-request-id"), r->request_id, 32);
    if (!keep_trace) {
        char *tp = h2o_mem_alloc_pool(&req->pool, 56);
        gw_traceparent_new(tp);
        add_header(req, H2O_STRLIT("traceparent"), tp, 55);
    }
    for (i = 0; i < route->nhset; i++)
        add_header(req, route->hset[i].name, strlen(route->hset[i].name), route->hset[i].value,
                   strlen(route->hset[i].value));
    /* X-Forwarded-For and X-Forwarded-Proto are added by h2o's proxy
     * (emit_x_forwarded_headers) now that the client's copies are gone */

    ov = h2o_mem_alloc_pool(&req->pool, sizeof(*ov));
    memset(ov, 0, sizeof(*ov));
    ov->socketpool = &w->pools[route->upstream->index];
    ov->client_ctx = &rt->client;
    r->proxied_at_ms = h2o_now(w->loop);
    gettimeofday(&r->proxied_at, NULL);
    /* Host: the client's authority is preserved; SNI and the certificate
     * check towards an https upstream use the upstream URL's host */
    h2o_reprocess_request(req, req->method, rt->url.scheme, req->authority, req->path, ov, 0);
    return 0;
}

/* --- response side ----------------------------------------------------- */

struct body_swap {
    h2o_ostream_t super;
    struct gw_req *r;
    bool sent;
};

static void
swap_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
             h2o_send_state_t state)
{
    struct body_swap *s = (struct body_swap *)self;

    (void)bufs;
    (void)bufcnt;
    if (!s->sent && state != H2O_SEND_STATE_IN_PROGRESS) {
        s->sent = true;
        h2o_ostream_send_next(&s->super, req, &s->r->body, 1, state);
        return;
    }
    h2o_ostream_send_next(&s->super, req, NULL, 0, state);
}

/* h2o's proxy reports its own failures as 502 "Gateway Error" with a
 * text/plain body and an error-log entry from lib/core/proxy.c. */
static const h2o_req_error_log_t *
proxy_failure(h2o_req_t *req)
{
    const h2o_req_error_log_t *e;

    if (req->res.status != 502 || req->error_logs.size == 0)
        return NULL;
    e = &req->error_logs.entries[req->error_logs.size - 1];
    if (e->module == NULL || strcmp(e->module, "lib/core/proxy.c") != 0)
        return NULL;
    return e;
}

h2o_ostream_t **
gw_proxy_on_response(struct gw_req *r, h2o_ostream_t **slot)
{
    h2o_req_t *req = r->req;
    const h2o_req_error_log_t *e = proxy_failure(req);
    struct body_swap *s;

    if (e == NULL)
        return slot;
    if (h2o_memis(e->msg.base, e->msg.len, H2O_STRLIT("I/O timeout")) ||
        h2o_memis(e->msg.base, e->msg.len, H2O_STRLIT("connection timeout")))
        r->reason = GW_R_UPSTREAM_TIMEOUT;
    else
        r->reason = GW_R_UPSTREAM_ERROR;
    r->detail = r->reason == GW_R_UPSTREAM_TIMEOUT ? "the upstream did not answer in time"
                                                   : "the upstream could not be reached";
    r->body = gw_problem_body(&req->pool, r->reason, r->detail, r->request_id);
    req->res.status = gw_reason_status(r->reason);
    req->res.reason = r->reason == GW_R_UPSTREAM_TIMEOUT ? "Gateway Timeout" : "Bad Gateway";
    req->res.content_length = r->body.len;
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    s = (struct body_swap *)h2o_add_ostream(req, sizeof(*s), slot);
    s->super.do_send = swap_do_send;
    s->r = r;
    s->sent = false;
    return &s->super.next;
}
