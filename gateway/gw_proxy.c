/*
 * Handing an allowed request to its upstream: remove every identity and
 * forwarding header the client sent, set ours, serialize the request head
 * and hand it to our upstream client (gw_upstream.c) with the route's
 * upstream pool and timeout.
 */
#include <netdb.h>
#include <stdio.h>
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

/* Headers the route sets itself (headers.set) or fills from the token
 * (jwt.claims_to_headers): the client's copies never pass. */
static bool
is_route_set(const struct pol_route *route, const h2o_iovec_t *name)
{
    size_t i;

    for (i = 0; i < route->nhset; i++)
        if (h2o_memis(name->base, name->len, route->hset[i].name, strlen(route->hset[i].name)))
            return true;
    if (route->jwt != NULL)
        for (i = 0; i < route->jwt->nclaims; i++)
            if (h2o_memis(name->base, name->len, route->jwt->claims[i].header,
                          strlen(route->jwt->claims[i].header)))
                return true;
    return false;
}

/*
 * One pass over the request headers, right after routing and before any
 * stage adds its own: drop what we own, what the route sets and every
 * traceparent/tracestate unless there is exactly one valid traceparent.
 * Header names are lower-case in h2o (h1 and h2 alike).
 */
void
gw_proxy_scrub(struct gw_req *r)
{
    h2o_req_t *req = r->req;
    const struct pol_route *route = r->route;
    bool *keep_trace = &r->keep_trace;
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

/* Request headers that describe the client connection, not the request. */
static bool
is_hop_by_hop(const h2o_iovec_t *n)
{
    static const struct {
        const char *base;
        size_t len;
    } hop[] = {
        {H2O_STRLIT("connection")},
        {H2O_STRLIT("keep-alive")},
        {H2O_STRLIT("proxy-connection")},
        {H2O_STRLIT("te")},
        {H2O_STRLIT("transfer-encoding")},
        {H2O_STRLIT("upgrade")},
        {H2O_STRLIT("http2-settings")},
        {H2O_STRLIT("proxy-authorization")},
        {H2O_STRLIT("expect")},
        {H2O_STRLIT("content-length")},
        {H2O_STRLIT("host")},
        {H2O_STRLIT("cookie")},
    };
    size_t i;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (h2o_memis(n->base, n->len, hop[i].base, hop[i].len))
            return true;
    return false;
}

/* CR, LF or NUL inside a field would let a client split our request to the
 * upstream (h2o 2.2.5 does not refuse them in HTTP/2 fields). */
static bool
is_clean(const char *s, size_t n)
{
    return memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL && memchr(s, '\0', n) == NULL;
}

const char *
gw_conn_peer_ip(struct gw_req *r)
{
    struct gw_conn *c = r->conn;
    struct sockaddr_storage ss;
    socklen_t len;
    char host[NI_MAXHOST];

    if (c->peer_ip[0] != '\0')
        return c->peer_ip; /* once per connection */
    len = r->req->conn->callbacks->get_peername(r->req->conn, (struct sockaddr *)&ss);
    if (len == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, len, host) == SIZE_MAX ||
        strlen(host) >= sizeof(c->peer_ip))
        return "unknown";
    memcpy(c->peer_ip, host, strlen(host) + 1);
    return c->peer_ip;
}

/* Append s[0..n) to the head being built (capacity checked by the caller). */
#define PUT(p, s, n)                                                                               \
    do {                                                                                           \
        memcpy((p), (s), (n));                                                                     \
        (p) += (n);                                                                                \
    } while (0)
#define PUTS(p, lit) PUT(p, lit, sizeof(lit) - 1)

/*
 * The request head for the upstream: the client's method, path and Host,
 * its headers minus hop-by-hop ones (cookies joined, RFC 9113 §8.2.3), the
 * forwarding headers, our identity headers (already in req->headers), and a
 * content-length for the buffered body.  Returns 0, or -1 when a field
 * holds CR, LF or NUL.
 */
static int
build_head(struct gw_req *r, h2o_iovec_t *out)
{
    h2o_req_t *req = r->req;
    const char *ip = gw_conn_peer_ip(r);
    size_t i, cap = req->method.len + req->path.len + req->authority.len + 256, ncookie = 0;
    char *buf, *p, clen[32];
    int cl = 0;

    if (!is_clean(req->path.base, req->path.len) ||
        !is_clean(req->authority.base, req->authority.len))
        return -1;
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (!is_clean(h->name->base, h->name->len) || !is_clean(h->value.base, h->value.len))
            return -1;
        cap += h->name->len + h->value.len + 4;
    }
    if (req->entity.base != NULL)
        cl = snprintf(clen, sizeof(clen), "%zu", req->entity.len);
    cap += (size_t)cl + strlen(ip);
    buf = p = h2o_mem_alloc_pool(&req->pool, cap);
    PUT(p, req->method.base, req->method.len);
    PUTS(p, " ");
    PUT(p, req->path.base, req->path.len);
    PUTS(p, " HTTP/1.1\r\nhost: ");
    PUT(p, req->authority.base, req->authority.len);
    PUTS(p, "\r\n");
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (is_hop_by_hop(h->name))
            continue;
        PUT(p, h->name->base, h->name->len);
        PUTS(p, ": ");
        PUT(p, h->value.base, h->value.len);
        PUTS(p, "\r\n");
    }
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (!h2o_memis(h->name->base, h->name->len, H2O_STRLIT("cookie")))
            continue;
        if (ncookie++ == 0)
            PUTS(p, "cookie: ");
        else
            PUTS(p, "; ");
        PUT(p, h->value.base, h->value.len);
    }
    if (ncookie != 0)
        PUTS(p, "\r\n");
    PUTS(p, "x-forwarded-for: ");
    PUT(p, ip, strlen(ip));
    PUTS(p, "\r\nx-forwarded-proto: https\r\n");
    if (cl > 0) {
        PUTS(p, "content-length: ");
        PUT(p, clen, (size_t)cl);
        PUTS(p, "\r\n");
    }
    PUTS(p, "\r\n");
    *out = h2o_iovec_init(buf, (size_t)(p - buf));
    return 0;
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
    h2o_iovec_t v, head;
    size_t i;

    /* the peer lives as long as the connection; copy into the request pool */
    v = h2o_strdup(&req->pool, r->peer->xfcc, r->peer->xfcc_len);
    add_header(req, H2O_STRLIT("x-forwarded-client-cert"), v.base, v.len);
    add_header(req, H2O_STRLIT("x-request-id"), r->request_id, 32);
    if (!r->keep_trace) {
        char *tp = h2o_mem_alloc_pool(&req->pool, 56);
        gw_traceparent_new(tp);
        add_header(req, H2O_STRLIT("traceparent"), tp, 55);
    }
    for (i = 0; i < route->nhset; i++)
        add_header(req, route->hset[i].name, strlen(route->hset[i].name), route->hset[i].value,
                   strlen(route->hset[i].value));
    if (build_head(r, &head) != 0) {
        r->reason = GW_R_BAD_REQUEST;
        return gw_problem_send(r, "a header field holds CR, LF or NUL");
    }
    r->proxied_at_ms = h2o_now(w->loop);
    gettimeofday(&r->proxied_at, NULL);
    return gw_upstream_forward(r, &w->upools[route->upstream->index],
                               &w->routes[route->index].io_timeout, head);
}
