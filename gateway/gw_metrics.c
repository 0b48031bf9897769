/*
 * Metrics: per-worker single-writer counters (no lock, no atomic
 * read-modify-write on the request path), summed by the control thread
 * when /metrics is scraped.  Counters of generations that ended (reload)
 * are folded into process totals by route name, so they never go back.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

#define NCLASS 6 /* status classes 1xx..5xx, and "none" (client gone) */

/* Upper bounds of the latency buckets, microseconds. */
static const uint64_t lat_le_us[GW_LAT_BUCKETS] = {
    500,    1000,   2000,    5000,    10000,   25000,    50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

struct folded_route {
    char *name; /* NULL: requests that matched no route */
    uint64_t req[GW_R_MAX * NCLASS];
};

struct gw_folded {
    struct folded_route *routes;
    size_t nroutes;
    uint64_t lat[GW_LAT_BUCKETS + 1];
    uint64_t lat_sum_us;
    uint64_t lat_count;
    uint64_t conns_total;
    uint64_t hs_fail[GW_HS_MAX];
    uint64_t h2_abuse_closed;
    bool redis; /* a generation had redis: */
    uint64_t r_commands, r_errors, r_timeouts, r_graced, r_down, r_breaker, r_reconnects;
    uint64_t r_lat[12], r_lat_count, r_lat_sum_us;
    uint64_t r_breaker_open; /* workers whose breaker is open now (live generations only) */
};

void
gw_metrics_init(struct gw_metrics *m, size_t nroutes)
{
    size_t i, n = (nroutes + 1) * GW_R_MAX * NCLASS;

    memset(m, 0, sizeof(*m));
    m->nroutes = nroutes;
    m->req = pc_xcalloc(n, sizeof(*m->req));
    for (i = 0; i < n; i++)
        atomic_init(&m->req[i], 0);
}

void
gw_metrics_clear(struct gw_metrics *m)
{
    free(m->req);
    m->req = NULL;
}

static size_t
status_class(int status)
{
    return status >= 100 && status < 600 ? (size_t)(status / 100 - 1) : 5;
}

void
gw_metrics_request(struct gw_metrics *m, size_t route_index, enum gw_reason r, int status,
                   uint64_t elapsed_us)
{
    size_t b;

    if (route_index > m->nroutes || r >= GW_R_MAX)
        return;
    GW_INC(m->req[(route_index * GW_R_MAX + r) * NCLASS + status_class(status)]);
    for (b = 0; b < GW_LAT_BUCKETS && elapsed_us > lat_le_us[b]; b++)
        ;
    GW_INC(m->lat[b]);
    GW_ADD(m->lat_sum_us, elapsed_us);
    GW_INC(m->lat_count);
}

/* --- aggregation (control thread) ---------------------------------------- */

static struct folded_route *
folded_route(struct gw_folded *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->nroutes; i++)
        if ((name == NULL && f->routes[i].name == NULL) ||
            (name != NULL && f->routes[i].name != NULL && strcmp(name, f->routes[i].name) == 0))
            return &f->routes[i];
    f->routes = pc_xreallocarray(f->routes, f->nroutes + 1, sizeof(*f->routes));
    memset(&f->routes[f->nroutes], 0, sizeof(f->routes[0]));
    f->routes[f->nroutes].name = name != NULL ? pc_xstrdup(name) : NULL;
    return &f->routes[f->nroutes++];
}

static uint64_t
ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* Add generation g's counters into f. */
static void
add_gen(struct gw_folded *f, struct gw_gen *g)
{
    unsigned w;
    size_t ri, k;

    for (w = 0; w < g->nworkers; w++) {
        struct gw_metrics *m = &g->workers[w].metrics;
        if (m->req == NULL)
            continue;
        for (ri = 0; ri <= m->nroutes; ri++) {
            struct folded_route *fr =
                folded_route(f, ri < m->nroutes ? g->cfg->routes[ri].name : NULL);
            for (k = 0; k < GW_R_MAX * NCLASS; k++)
                fr->req[k] += ld(&m->req[ri * GW_R_MAX * NCLASS + k]);
        }
        for (k = 0; k <= GW_LAT_BUCKETS; k++)
            f->lat[k] += ld(&m->lat[k]);
        f->lat_sum_us += ld(&m->lat_sum_us);
        f->lat_count += ld(&m->lat_count);
        f->conns_total += ld(&m->conns_total);
        for (k = 0; k < GW_HS_MAX; k++)
            f->hs_fail[k] += ld(&m->hs_fail[k]);
        f->h2_abuse_closed += ld(&m->h2_abuse_closed);
        if (g->cfg->redis != NULL) {
            const struct gw_redis_stats *rs = &g->workers[w].redis_stats;
            f->redis = true;
            f->r_commands += ld((_Atomic uint64_t *)(uintptr_t)&rs->commands);
            f->r_errors += ld((_Atomic uint64_t *)(uintptr_t)&rs->errors);
            f->r_timeouts += ld((_Atomic uint64_t *)(uintptr_t)&rs->timeouts);
            f->r_graced += ld((_Atomic uint64_t *)(uintptr_t)&rs->graced);
            f->r_down += ld((_Atomic uint64_t *)(uintptr_t)&rs->down);
            f->r_breaker += ld((_Atomic uint64_t *)(uintptr_t)&rs->breaker_rejects);
            f->r_reconnects += ld((_Atomic uint64_t *)(uintptr_t)&rs->reconnects);
            for (k = 0; k < 12; k++)
                f->r_lat[k] += ld((_Atomic uint64_t *)(uintptr_t)&rs->lat[k]);
            f->r_lat_count += ld((_Atomic uint64_t *)(uintptr_t)&rs->lat_count);
            f->r_lat_sum_us += ld((_Atomic uint64_t *)(uintptr_t)&rs->lat_sum_us);
            if (!g->workers[w].done && atomic_load(&rs->breaker_state) != 0)
                f->r_breaker_open++;
        }
    }
}

static void
folded_free(struct gw_folded *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->nroutes; i++)
        free(f->routes[i].name);
    free(f->routes);
    free(f);
}

static void
folded_merge(struct gw_folded *dst, const struct gw_folded *src)
{
    size_t i, k;

    for (i = 0; i < src->nroutes; i++) {
        struct folded_route *fr = folded_route(dst, src->routes[i].name);
        for (k = 0; k < GW_R_MAX * NCLASS; k++)
            fr->req[k] += src->routes[i].req[k];
    }
    for (k = 0; k <= GW_LAT_BUCKETS; k++)
        dst->lat[k] += src->lat[k];
    dst->lat_sum_us += src->lat_sum_us;
    dst->lat_count += src->lat_count;
    dst->conns_total += src->conns_total;
    for (k = 0; k < GW_HS_MAX; k++)
        dst->hs_fail[k] += src->hs_fail[k];
    dst->h2_abuse_closed += src->h2_abuse_closed;
    dst->redis |= src->redis;
    dst->r_commands += src->r_commands;
    dst->r_errors += src->r_errors;
    dst->r_timeouts += src->r_timeouts;
    dst->r_graced += src->r_graced;
    dst->r_down += src->r_down;
    dst->r_breaker += src->r_breaker;
    dst->r_reconnects += src->r_reconnects;
    for (k = 0; k < 12; k++)
        dst->r_lat[k] += src->r_lat[k];
    dst->r_lat_count += src->r_lat_count;
    dst->r_lat_sum_us += src->r_lat_sum_us;
}

void
gw_metrics_fold(struct gw_proc *p, struct gw_gen *g)
{
    if (p->folded == NULL)
        p->folded = pc_xcalloc(1, sizeof(*p->folded));
    add_gen(p->folded, g);
}

void
gw_metrics_folded_free(struct gw_proc *p)
{
    folded_free(p->folded);
    p->folded = NULL;
}

static uint64_t
conns_open(struct gw_gen *g)
{
    uint64_t n = 0;
    unsigned w;

    for (w = 0; w < g->nworkers; w++)
        n += ld(&g->workers[w].metrics.conns_open);
    return n;
}

static void
label_escape(struct pc_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            pc_buf_addc(b, '\\');
        if (*s == '\n') {
            pc_buf_adds(b, "\\n");
            continue;
        }
        pc_buf_addc(b, *s);
    }
}

static void
render_requests(struct pc_buf *b, const struct gw_folded *f)
{
    static const char *const cls[NCLASS] = {"1xx", "2xx", "3xx", "4xx", "5xx", "none"};
    size_t i, r, c;

    pc_buf_adds(b, "# HELP portcullis_requests_total Requests by route, decision, reason and "
                   "status class.\n# TYPE portcullis_requests_total counter\n");
    for (i = 0; i < f->nroutes; i++) {
        for (r = 0; r < GW_R_MAX; r++) {
            for (c = 0; c < NCLASS; c++) {
                uint64_t v = f->routes[i].req[r * NCLASS + c];
                if (v == 0)
                    continue;
                pc_buf_adds(b, "portcullis_requests_total{route=\"");
                label_escape(b, f->routes[i].name != NULL ? f->routes[i].name : "");
                pc_buf_addf(b, "\",decision=\"%s\",reason=\"%s\",code=\"%s\"} %llu\n",
                            gw_reason_is_deny((enum gw_reason)r) ? "deny" : "allow",
                            gw_reason_slug((enum gw_reason)r), cls[c], (unsigned long long)v);
            }
        }
    }
}

static void
render_latency(struct pc_buf *b, const struct gw_folded *f)
{
    uint64_t cum = 0;
    size_t k;

    pc_buf_adds(b, "# HELP portcullis_request_duration_seconds Time from the request to the end "
                   "of the response.\n# TYPE portcullis_request_duration_seconds histogram\n");
    for (k = 0; k < GW_LAT_BUCKETS; k++) {
        cum += f->lat[k];
        pc_buf_addf(b, "portcullis_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    (double)lat_le_us[k] / 1e6, (unsigned long long)cum);
    }
    cum += f->lat[GW_LAT_BUCKETS];
    pc_buf_addf(b, "portcullis_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cum);
    pc_buf_addf(b, "portcullis_request_duration_seconds_sum %.6f\n", (double)f->lat_sum_us / 1e6);
    pc_buf_addf(b, "portcullis_request_duration_seconds_count %llu\n",
                (unsigned long long)f->lat_count);
}

static void
render_crl(struct pc_buf *b, struct gw_proc *p)
{
    uint64_t reloads, refused;
    size_t i;

    gw_tls_crl_stats(&reloads, &refused);
    pc_buf_addf(b,
                "# HELP portcullis_crl_loads_total CRL files loaded (at start and on change), "
                "and refused.\n# TYPE portcullis_crl_loads_total counter\n"
                "portcullis_crl_loads_total{result=\"ok\"} %llu\n"
                "portcullis_crl_loads_total{result=\"refused\"} %llu\n",
                (unsigned long long)reloads, (unsigned long long)refused);
    pc_buf_adds(b, "# HELP portcullis_crl_revoked_certificates Serials in the CRL in force, by "
                   "listener.\n# TYPE portcullis_crl_revoked_certificates gauge\n");
    for (i = 0; p->current != NULL && i < p->current->nlisteners; i++) {
        const struct gw_listener *l = &p->current->listeners[i];
        /* the control thread is the only writer of l->crl */
        const struct authn_crlset *set = atomic_load(&l->crl);
        if (set == NULL)
            continue;
        pc_buf_addf(b, "portcullis_crl_revoked_certificates{listener=\"%s\"} %zu\n",
                    l->conf->address, authn_crlset_count(set));
    }
}

static void
render_redis(struct pc_buf *b, const struct gw_folded *f)
{
    uint64_t cum = 0;
    size_t k;

    if (!f->redis)
        return;
    pc_buf_addf(b,
                "# HELP portcullis_redis_commands_total Rate-limit commands sent to Redis.\n"
                "# TYPE portcullis_redis_commands_total counter\n"
                "portcullis_redis_commands_total %llu\n",
                (unsigned long long)f->r_commands);
    pc_buf_addf(b,
                "# HELP portcullis_redis_failures_total Charges Redis did not decide, by kind.\n"
                "# TYPE portcullis_redis_failures_total counter\n"
                "portcullis_redis_failures_total{kind=\"error\"} %llu\n"
                "portcullis_redis_failures_total{kind=\"timeout\"} %llu\n"
                "portcullis_redis_failures_total{kind=\"down\"} %llu\n"
                "portcullis_redis_failures_total{kind=\"breaker_open\"} %llu\n",
                (unsigned long long)f->r_errors, (unsigned long long)f->r_timeouts,
                (unsigned long long)f->r_down, (unsigned long long)f->r_breaker);
    pc_buf_addf(b,
                "# HELP portcullis_redis_late_reads_total Charges whose reply was already in "
                "the socket when redis.timeout passed (a busy event loop, not a slow Redis): "
                "read one loop turn later instead of failing.\n"
                "# TYPE portcullis_redis_late_reads_total counter\n"
                "portcullis_redis_late_reads_total %llu\n",
                (unsigned long long)f->r_graced);
    pc_buf_addf(b,
                "# HELP portcullis_redis_reconnects_total Reconnections to Redis.\n"
                "# TYPE portcullis_redis_reconnects_total counter\n"
                "portcullis_redis_reconnects_total %llu\n",
                (unsigned long long)f->r_reconnects);
    pc_buf_addf(b,
                "# HELP portcullis_redis_breaker_open Workers whose Redis circuit breaker is "
                "open now.\n# TYPE portcullis_redis_breaker_open gauge\n"
                "portcullis_redis_breaker_open %llu\n",
                (unsigned long long)f->r_breaker_open);
    pc_buf_adds(b, "# HELP portcullis_redis_latency_seconds Time from a command to its reply.\n"
                   "# TYPE portcullis_redis_latency_seconds histogram\n");
    for (k = 0; k < 12; k++) {
        cum += f->r_lat[k];
        pc_buf_addf(b, "portcullis_redis_latency_seconds_bucket{le=\"%g\"} %llu\n",
                    (double)gw_redis_lat_le_us[k] / 1e6, (unsigned long long)cum);
    }
    pc_buf_addf(b,
                "portcullis_redis_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                "portcullis_redis_latency_seconds_sum %.6f\n"
                "portcullis_redis_latency_seconds_count %llu\n",
                (unsigned long long)f->r_lat_count, (double)f->r_lat_sum_us / 1e6,
                (unsigned long long)f->r_lat_count);
}

void
gw_metrics_render(struct gw_proc *p, struct pc_buf *b)
{
    struct gw_folded *f = pc_xcalloc(1, sizeof(*f));
    uint64_t open = 0;
    size_t i, k;

    if (p->folded != NULL)
        folded_merge(f, p->folded);
    if (p->current != NULL) {
        add_gen(f, p->current);
        open += conns_open(p->current);
    }
    for (i = 0; i < p->ndraining; i++) {
        add_gen(f, p->draining[i]);
        open += conns_open(p->draining[i]);
    }
    render_requests(b, f);
    render_latency(b, f);
    render_crl(b, p);
    render_redis(b, f);
    gw_jwks_render(b);
    pc_buf_addf(b,
                "# HELP portcullis_connections_open Client connections open now.\n"
                "# TYPE portcullis_connections_open gauge\nportcullis_connections_open %llu\n",
                (unsigned long long)open);
    pc_buf_addf(b,
                "# HELP portcullis_connections_total Client connections accepted.\n"
                "# TYPE portcullis_connections_total counter\nportcullis_connections_total "
                "%llu\n",
                (unsigned long long)f->conns_total);
    pc_buf_adds(b, "# HELP portcullis_tls_handshake_failures_total TLS handshakes refused, by "
                   "reason.\n# TYPE portcullis_tls_handshake_failures_total counter\n");
    for (k = 0; k < GW_HS_MAX; k++)
        pc_buf_addf(b, "portcullis_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                    gw_hs_fail_name((enum gw_hs_fail)k), (unsigned long long)f->hs_fail[k]);
    pc_buf_addf(b,
                "# HELP portcullis_http2_connections_cut_total HTTP/2 connections closed for "
                "too many streams reset before their response.\n"
                "# TYPE portcullis_http2_connections_cut_total counter\n"
                "portcullis_http2_connections_cut_total %llu\n",
                (unsigned long long)f->h2_abuse_closed);
    pc_buf_addf(b,
                "# HELP portcullis_config_reloads_total Configuration reloads, by result.\n"
                "# TYPE portcullis_config_reloads_total counter\n"
                "portcullis_config_reloads_total{result=\"ok\"} %llu\n"
                "portcullis_config_reloads_total{result=\"refused\"} %llu\n",
                (unsigned long long)p->reloads_ok, (unsigned long long)p->reloads_failed);
    pc_buf_addf(b,
                "# HELP portcullis_config_generation The running configuration generation.\n"
                "# TYPE portcullis_config_generation gauge\nportcullis_config_generation %lu\n",
                p->current != NULL ? p->current->id : 0UL);
    pc_buf_addf(b,
                "# HELP portcullis_access_log_dropped_total Access-log lines dropped because "
                "the log could not keep up.\n# TYPE portcullis_access_log_dropped_total "
                "counter\nportcullis_access_log_dropped_total %llu\n",
                (unsigned long long)gw_accesslog_dropped());
    pc_buf_addf(b,
                "# HELP portcullis_start_time_seconds Process start time.\n"
                "# TYPE portcullis_start_time_seconds gauge\nportcullis_start_time_seconds "
                "%lld\n",
                (long long)p->started_at);
    folded_free(f);
}
