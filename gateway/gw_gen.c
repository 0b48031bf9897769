/*
 * Generations: everything built from one configuration (the pol_config,
 * TLS contexts, CRL sets, the h2o globalconf, the workers).  Built and torn
 * down by the control thread, off the hot path.  A reload builds a new
 * generation; the old one drains and is freed once its workers are done.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "authn/authn_jwt.h"
#include "common/pc_mem.h"
#include "gateway/gw.h"

static void
globalconf_apply(h2o_globalconf_t *gc, const struct pol_config *cfg)
{
    const struct pol_limits *lim = &cfg->limits;

    gc->server_name = h2o_iovec_init(H2O_STRLIT("portcullis"));
    gc->max_request_entity_size = lim->max_body_bytes;
    gc->handshake_timeout = lim->handshake_timeout_ms;
    gc->http1.req_timeout = lim->request_timeout_ms;
    gc->http1.upgrade_to_http2 = 0; /* TLS only: h2 comes from ALPN */
    gc->http2.idle_timeout = lim->http2_idle_timeout_ms;
    gc->http2.graceful_shutdown_timeout = lim->shutdown_timeout_ms;
    gc->http2.max_concurrent_requests_per_connection = lim->http2_max_concurrent_streams;
}

static int
register_hosts(struct gw_gen *g)
{
    h2o_pathconf_t *pc;

    /* one host per listener kind; routing by Host is ours (policy/) */
    g->host_tls =
        h2o_config_register_host(&g->globalconf, h2o_iovec_init(H2O_STRLIT("tls")), 65535);
    pc = h2o_config_register_path(g->host_tls, "/", 0);
    gw_req_register(pc);
    gw_accesslog_register(pc);
    g->host_plain =
        h2o_config_register_host(&g->globalconf, h2o_iovec_init(H2O_STRLIT("plain")), 65535);
    pc = h2o_config_register_path(g->host_plain, "/", 0);
    gw_plain_register(pc);
    gw_accesslog_register(pc);
    return PC_OK;
}

/* Upstream addresses are resolved when a generation is built (off the hot
 * path, like nginx without `resolver`): a DNS change is picked up by reload. */
static int
resolve(const struct pol_upstream *u, struct gw_upstream_addr *out)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int err;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    snprintf(port, sizeof(port), "%u", (unsigned)u->port);
    err = getaddrinfo(u->host, port, &hints, &res);
    if (err != 0 || res == NULL) {
        pc_log(LOG_ERR, "upstream %s: cannot resolve %s: %s", u->url, u->host,
               err != 0 ? gai_strerror(err) : "no address");
        return PC_ERR_NOT_FOUND;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return PC_OK;
}

/* Workers must not block on DNS: the Redis host is resolved here, once per
 * generation (a DNS change is picked up by reload, like upstreams). */
static int
resolve_redis(struct gw_gen *g)
{
    const struct pol_redis *r = g->cfg->redis;
    struct addrinfo hints, *res = NULL;
    int err;

    g->redis = *r;
    if (r->host == NULL)
        return PC_OK; /* unix socket */
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    err = getaddrinfo(r->host, NULL, &hints, &res);
    if (err != 0 || res == NULL ||
        getnameinfo(res->ai_addr, res->ai_addrlen, g->redis_ip, sizeof(g->redis_ip), NULL, 0,
                    NI_NUMERICHOST) != 0) {
        pc_log(LOG_ERR, "redis: cannot resolve %s: %s", r->host,
               err != 0 ? gai_strerror(err) : "no address");
        if (res != NULL)
            freeaddrinfo(res);
        return PC_ERR_NOT_FOUND;
    }
    freeaddrinfo(res);
    g->redis.host = g->redis_ip;
    return PC_OK;
}

int
gw_gen_new(struct pol_config *cfg, const int *fds, struct gw_gen **out)
{
    struct gw_gen *g = NULL;
    size_t i;
    int rc = PC_ERR_INVALID;

    *out = NULL;
    g = pc_xcalloc(1, sizeof(*g));
    g->cfg = cfg;
    atomic_init(&g->state, GW_GEN_RUNNING);
    h2o_config_init(&g->globalconf);
    g->globalconf_ok = true;
    globalconf_apply(&g->globalconf, cfg);
    g->upstream_ssl = pc_xcalloc(cfg->nupstreams + 1, sizeof(*g->upstream_ssl));
    g->nupstreams = cfg->nupstreams;
    for (i = 0; i < cfg->nupstreams; i++) {
        if (!cfg->upstreams[i].tls)
            continue;
        g->upstream_ssl[i] = gw_tls_upstream_ctx_new(cfg->upstreams[i].ca_file);
        if (g->upstream_ssl[i] == NULL)
            goto out;
    }
    g->jwks = pc_xcalloc(cfg->nissuers + 1, sizeof(*g->jwks));
    for (i = 0; i < cfg->nissuers; i++) {
        g->jwks[i] = gw_jwks_acquire(&cfg->issuers[i]);
        if (g->jwks[i] == NULL)
            goto out;
    }
    g->upstream_addr = pc_xcalloc(cfg->nupstreams + 1, sizeof(*g->upstream_addr));
    for (i = 0; i < cfg->nupstreams; i++)
        if (resolve(&cfg->upstreams[i], &g->upstream_addr[i]) != PC_OK)
            goto out;
    if (cfg->redis != NULL && resolve_redis(g) != PC_OK)
        goto out;
    if (cfg->tls.hsts_max_age != 0) {
        int n = snprintf(g->hsts_buf, sizeof(g->hsts_buf), "max-age=%llu%s%s",
                         (unsigned long long)cfg->tls.hsts_max_age,
                         cfg->tls.hsts_include_subdomains ? "; includeSubDomains" : "",
                         cfg->tls.hsts_preload ? "; preload" : "");
        g->hsts = h2o_iovec_init(g->hsts_buf, (size_t)n);
    }
    g->rl_spec = pc_xcalloc(cfg->nroutes + 1, sizeof(*g->rl_spec));
    g->rl_policy = pc_xcalloc(cfg->nroutes + 1, sizeof(*g->rl_policy));
    for (i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].rate_limit != NULL) {
            gw_gcra_spec_from(cfg->routes[i].rate_limit, &g->rl_spec[i]);
            g->rl_policy[i] = gw_rl_policy_value(cfg->routes[i].name, &g->rl_spec[i]);
        }
    register_hosts(g);
    g->listeners = pc_xcalloc(cfg->nlisteners, sizeof(*g->listeners));
    g->nlisteners = cfg->nlisteners;
    for (i = 0; i < cfg->nlisteners; i++) {
        struct gw_listener *l = &g->listeners[i];
        l->conf = &cfg->listeners[i];
        l->gen = g;
        l->fd = fds[i];
        l->hosts[0] = l->conf->plain ? g->host_plain : g->host_tls;
        l->hosts[1] = NULL;
        if (gw_tls_listener_init(l, cfg) != PC_OK)
            goto out;
    }
    g->nworkers = cfg->threads;
    g->workers = pc_xcalloc(g->nworkers, sizeof(*g->workers));
    *out = g;
    g = NULL;
    rc = PC_OK;
out:
    if (g != NULL) {
        g->cfg = NULL; /* the caller keeps the config on failure */
        gw_gen_free(g);
    }
    return rc;
}

int
gw_gen_start(struct gw_gen *g)
{
    unsigned i;
    int err;

    for (i = 0; i < g->nworkers; i++) {
        struct gw_worker *w = &g->workers[i];
        w->gen = g;
        w->id = i;
        atomic_init(&w->done, false);
        /* before the thread starts: the control thread reads these */
        gw_metrics_init(&w->metrics, g->cfg->nroutes);
        err = pthread_create(&w->thread, NULL, gw_worker_main, w);
        if (err != 0) {
            pc_log(LOG_ERR, "cannot start worker %u: %s", i, strerror(err));
            gw_gen_drain(g);
            return PC_ERR_INTERNAL;
        }
        w->started = true;
    }
    return PC_OK;
}

void
gw_gen_drain(struct gw_gen *g)
{
    /* workers look at the state at least every GW_LOOP_MAX_WAIT ms */
    atomic_store(&g->state, GW_GEN_DRAINING);
}

bool
gw_gen_finished(struct gw_gen *g)
{
    unsigned i;

    for (i = 0; i < g->nworkers; i++)
        if (g->workers[i].started && !atomic_load(&g->workers[i].done))
            return false;
    return true;
}

void
gw_gen_free(struct gw_gen *g)
{
    unsigned i;
    size_t j;

    if (g == NULL)
        return;
    for (i = 0; i < g->nworkers; i++)
        if (g->workers[i].started)
            pthread_join(g->workers[i].thread, NULL);
    /* h2o's teardown order (notes Q3): contexts (done by each worker), then
     * the globalconf, then the loops */
    if (g->globalconf_ok)
        h2o_config_dispose(&g->globalconf);
    for (i = 0; i < g->nworkers; i++) {
        if (g->workers[i].loop != NULL)
            h2o_evloop_destroy(g->workers[i].loop);
        gw_metrics_clear(&g->workers[i].metrics);
    }
    free(g->workers);
    for (j = 0; j < g->nlisteners; j++)
        gw_tls_listener_clear(&g->listeners[j]);
    free(g->listeners);
    for (j = 0; j < g->nupstreams; j++)
        SSL_CTX_free(g->upstream_ssl[j]);
    if (g->jwks != NULL)
        for (j = 0; g->jwks[j] != NULL; j++)
            gw_jwks_release(g->jwks[j]);
    free(g->jwks);
    free(g->upstream_ssl);
    free(g->upstream_addr);
    if (g->rl_policy != NULL && g->cfg != NULL)
        for (j = 0; j < g->cfg->nroutes; j++)
            free(g->rl_policy[j].base);
    free(g->rl_policy);
    free(g->rl_spec);
    pol_config_free(g->cfg);
    free(g);
}
