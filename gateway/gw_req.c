/*
 * The request pipeline of TLS listeners (worker threads):
 *
 *   request sanity -> client certificate state (expiry, CRL) -> Host == SNI
 *   -> route -> mtls.allow -> [JWT] -> [rate limit] -> proxy
 *
 * Every stage fails closed with a problem+json denial and a reason that
 * the access log and metrics record.  The per-request state (struct
 * gw_req) lives in the request pool as an h2o prefilter, so it also sees
 * the response (gw_proxy.c rewrites h2o's own upstream errors).
 */
#include <string.h>
#include <sys/time.h>

#include "common/pc_str.h"
#include "gateway/gw.h"

struct gw_handler {
    h2o_handler_t super;
};

static void on_setup_ostream(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot);

struct gw_req *
gw_req_attach(h2o_req_t *req, struct gw_worker *w)
{
    struct gw_req *r = (struct gw_req *)h2o_add_prefilter(req, sizeof(*r));

    memset((char *)r + sizeof(r->super), 0, sizeof(*r) - sizeof(r->super));
    r->super.on_setup_ostream = on_setup_ostream;
    r->req = req;
    r->w = w;
    r->reason = GW_R_OK;
    gettimeofday(&r->started, NULL);
    gw_request_id_new(r->request_id);
    return r;
}

struct gw_req *
gw_req_find(h2o_req_t *req)
{
    h2o_req_prefilter_t *p;

    for (p = req->prefilters; p != NULL; p = p->next)
        if (p->on_setup_ostream == on_setup_ostream)
            return (struct gw_req *)p;
    return NULL;
}

static void
on_setup_ostream(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    struct gw_req *r = (struct gw_req *)self;

    /* the prefilter carries our per-request state (gw_req_find); headers
     * every response gets are added here */
    if (r->route != NULL && r->route->rate_limit != NULL)
        gw_rl_add_headers(r);
    if (r->w->gen->hsts.len != 0 && req->input.scheme == &H2O_URL_SCHEME_HTTPS) {
        /* the TLS policy owns HSTS: an upstream's own header is replaced */
        ssize_t i;
        while ((i = h2o_find_header(&req->res.headers, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, -1)) !=
               -1)
            h2o_delete_header(&req->res.headers, i);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, NULL,
                       r->w->gen->hsts.base, r->w->gen->hsts.len);
    }
    h2o_setup_next_prefilter(self, req, slot);
}

static bool
headers_within_limits(const h2o_req_t *req, const struct pol_limits *lim)
{
    size_t i, total = 0;

    if (req->headers.size > lim->max_headers)
        return false;
    for (i = 0; i < req->headers.size; i++) {
        total += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
        if (total > lim->max_header_bytes)
            return false;
    }
    return true;
}

static unsigned
method_bit(h2o_iovec_t m)
{
    return pol_method_bit(m.base, m.len);
}

/* Expiry and revocation, again for every request: keep-alive connections
 * and resumed sessions skip the handshake that checked them first. */
static enum gw_reason
cert_state(struct gw_req *r, SSL *ssl)
{
    const struct authn_peer *p = r->peer;
    struct gw_listener *l = gw_tls_listener(ssl);
    const struct authn_crlset *crl;
    int64_t now = (int64_t)(h2o_now(r->w->loop) / 1000);

    if (now < p->not_before)
        return GW_R_CERT_NOT_YET_VALID;
    if (now > p->not_after)
        return GW_R_CERT_EXPIRED;
    if (l == NULL)
        return GW_R_INTERNAL;
    crl = atomic_load_explicit(&l->crl, memory_order_acquire);
    if (crl == NULL)
        return GW_R_OK;
    if (authn_crlset_expired(crl, now) || !authn_crlset_covers(crl, p->issuer_id))
        return GW_R_CRL_STALE;
    if (authn_crlset_has(crl, p->issuer_id, p->serial, p->serial_len))
        return GW_R_CERT_REVOKED;
    return GW_R_OK;
}

static int
deny(struct gw_req *r, enum gw_reason why, const char *detail)
{
    r->reason = why;
    return gw_problem_send(r, detail);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct gw_worker *w = gw_worker_self();
    const struct pol_config *cfg = w->gen->cfg;
    struct gw_req *r = gw_req_attach(req, w);
    const struct pol_route *route;
    h2o_iovec_t path, host;
    enum gw_reason st;
    uint16_t port;
    const char *sni;
    SSL *ssl;

    (void)self;
    ssl = gw_req_ssl(req);
    if (ssl == NULL)
        return deny(r, GW_R_INTERNAL, NULL);
    r->conn = gw_conn_get(ssl);
    r->peer = r->conn != NULL ? r->conn->peer : NULL;
    if (r->peer == NULL)
        return deny(r, GW_R_NO_CERT, "the client certificate names no usable identity");

    /* 1. the request itself */
    if (!headers_within_limits(req, &cfg->limits))
        return deny(r, GW_R_HEADERS_TOO_LARGE, NULL);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT")))
        return deny(r, GW_R_METHOD, "CONNECT is not proxied");
    switch (
        gw_path_check(&req->pool, req->path.base, req->path.len, PC_HTTP_MAX_PATH_BYTES, &path)) {
    case GW_PATH_OK:
        break;
    case GW_PATH_TOO_LONG:
        return deny(r, GW_R_URI_TOO_LONG, NULL);
    default:
        return deny(r, GW_R_BAD_REQUEST, "malformed or ambiguous request path");
    }

    /* 2. the certificate, as of now */
    st = cert_state(r, ssl);
    if (st != GW_R_OK)
        return deny(r, st, NULL);

    /* 3. the Host must be the name the TLS session was opened for */
    if (h2o_url_parse_hostport(req->authority.base, req->authority.len, &host, &port) !=
            req->authority.base + req->authority.len ||
        host.len == 0)
        return deny(r, GW_R_BAD_REQUEST, "missing or malformed Host");
    sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (sni == NULL || !pc_str_eq_nocase(host.base, host.len, sni, strlen(sni)))
        return deny(r, GW_R_MISDIRECTED, "the Host is not the TLS server name of this connection");

    /* 4. route, then the route's client policy */
    route = pol_route_match(cfg, host.base, host.len, path.base, path.len, method_bit(req->method));
    if (route == NULL)
        return deny(r, GW_R_NO_ROUTE, NULL);
    r->route = route;
    if (!pol_route_allows(route, &r->peer->names, NULL))
        return deny(r, GW_R_CERT_NOT_ALLOWED, "this client identity is not allowed on this route");
    /* 5. no header the client sent may pose as ours from here on */
    gw_proxy_scrub(r);
    /* 6. the access token, then the stages after it */
    if (route->jwt != NULL)
        return gw_jwt_stage(r);
    return gw_req_after_jwt(r);
}

int
gw_req_after_jwt(struct gw_req *r)
{
    /* 7. rate limit, which proxies when it allows */
    if (r->route->rate_limit != NULL)
        return gw_rl_stage(r);
    /* 8. proxy */
    return gw_proxy_send(r);
}

h2o_handler_t *
gw_req_register(h2o_pathconf_t *pathconf)
{
    struct gw_handler *h = (struct gw_handler *)h2o_create_handler(pathconf, sizeof(*h));

    h->super.on_req = on_req;
    return &h->super;
}
