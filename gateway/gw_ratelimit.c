/*
 * The rate-limit stage of the request pipeline (worker threads): after mTLS
 * and the token, charge the route's GCRA bucket -- in Redis (one EVALSHA,
 * asynchronous on this worker's loop) or, without `redis:`, in the
 * in-process limiter -- then proxy or answer 429.  When Redis fails, the
 * route's on_backend_failure decides: deny (503), allow, or local (the same
 * GCRA in process memory until Redis is back).
 *
 * The key is never a header the client controls: the verified certificate
 * identity, the verified token's sub, the peer address, or the route.
 * Identities are hashed so Redis never stores who called.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/pc_limits.h"
#include "common/pc_mem.h"
#include "common/pc_sha256.h"
#include "common/pc_str.h"
#include "gateway/gw.h"
#include "gateway/gw_rl.h"

/* Ties a pending Redis charge to its request: whichever ends first. */
struct rl_wait {
    struct gw_req *r; /* NULL once the request is gone */
    struct gw_redis_op *op;
    bool answered; /* the callback ran (perhaps before gw_redis_gcra returned) */
};

#define GW_RLOCAL_SLOTS (1u << 20) /* in-process GCRA states (about 16 MiB) */

static struct gw_rlocal *rlocal;
static pthread_once_t rlocal_once = PTHREAD_ONCE_INIT;

static void
rlocal_init(void)
{
    rlocal = gw_rlocal_new(GW_RLOCAL_SLOTS);
}

/* The process-wide in-process limiter: it outlives reloads, so a new
 * configuration does not hand out a fresh burst. */
static struct gw_rlocal *
gw_rlocal_get(void)
{
    pthread_once(&rlocal_once, rlocal_init);
    return rlocal;
}

void
gw_rl_shutdown(void)
{
    gw_rlocal_free(rlocal);
    rlocal = NULL;
}

/* Decimal digits of v at p; returns the end. */
static char *
put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static char *
put_str(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

/*
 * The key: pc:{ROUTE}:i:HASH (identity), :s:HASH (token subject), :a:IP, or
 * :r.  ROUTE is at most PC_CONF_MAX_NAME bytes, HASH 32 hex digits, IP at
 * most 47 bytes: far below GW_RL_KEY_MAX.
 */
static void
fill_key(struct gw_req *r)
{
    const struct pol_ratelimit *rl = r->route->rate_limit;
    unsigned char md[PC_SHA256_LEN];
    char hex[33], *k = h2o_mem_alloc_pool(&r->req->pool, GW_RL_KEY_MAX), *p = k;
    const char *ip;

    p = put_str(p, "pc:{", 4);
    p = put_str(p, r->route->name, strlen(r->route->name));
    p = put_str(p, "}:", 2);
    switch (rl->key) {
    case POL_RL_KEY_IDENTITY:
        /* who called stays out of Redis and out of the access log; hashed
         * once per connection */
        p = put_str(p, "i:", 2);
        p = put_str(p, r->peer->id_hash_hex, 32);
        break;
    case POL_RL_KEY_SUBJECT: {
        const char *sub = r->sub != NULL ? r->sub : ""; /* policy requires a jwt block */
        pc_sha256(sub, strlen(sub), md);
        pc_hex(hex, md, 16);
        p = put_str(p, "s:", 2);
        p = put_str(p, hex, 32);
        break;
    }
    case POL_RL_KEY_IP:
        ip = gw_conn_peer_ip(r);
        p = put_str(p, "a:", 2);
        p = put_str(p, ip, strlen(ip));
        break;
    case POL_RL_KEY_ROUTE:
        *p++ = 'r';
        break;
    }
    *p = '\0';
    r->rl_key = k;
    r->rl_keylen = (size_t)(p - k);
}

static int
decide(struct gw_req *r, const struct gw_gcra_result *res)
{
    r->rl = *res;
    r->rl_done = true;
    if (res->allowed)
        return gw_proxy_send(r);
    r->reason = GW_R_RATE_LIMITED;
    return gw_problem_send(r, "rate limit exceeded; retry after the Retry-After interval");
}

static int
charge_local(struct gw_req *r, const char *why)
{
    struct gw_gcra_result res;
    uint64_t now_us = h2o_now(r->w->loop) * 1000;
    unsigned char md[PC_SHA256_LEN];

    r->rl_backend = why;
    /* the in-process limiter's index (only it needs one) */
    pc_sha256(r->rl_key, r->rl_keylen, md);
    memcpy(&r->rl_hash, md, sizeof(r->rl_hash));
    gw_rlocal_charge(gw_rlocal_get(), r->rl_hash, &r->w->gen->rl_spec[r->route->index], now_us,
                     &res);
    return decide(r, &res);
}

/* Redis could not decide: the route says what happens. */
static int
backend_failed(struct gw_req *r, enum gw_redis_status st)
{
    const struct pol_ratelimit *rl = r->route->rate_limit;

    r->rl_status = st;
    switch (rl->on_backend_failure) {
    case POL_RL_FAIL_ALLOW:
        r->rl_backend = "allow";
        return gw_proxy_send(r);
    case POL_RL_FAIL_LOCAL:
        return charge_local(r, "local-fallback");
    case POL_RL_FAIL_DENY:
        break;
    }
    r->rl_backend = "deny";
    r->reason = GW_R_RL_UNAVAILABLE;
    return gw_problem_send(r, "the rate limiter is unavailable");
}

static void
on_wait_dispose(void *p)
{
    struct rl_wait *w = p;

    if (w->op != NULL)
        gw_redis_cancel(w->op); /* its reply will be dropped, not delivered */
    w->op = NULL;
    w->r = NULL;
}

static void
on_reply(void *data, enum gw_redis_status st, const struct gw_gcra_result *res)
{
    struct rl_wait *w = data;
    struct gw_req *r = w->r;

    w->op = NULL;
    w->answered = true;
    if (r == NULL)
        return;
    if (st != GW_REDIS_OK) {
        backend_failed(r, st);
        return;
    }
    r->rl_backend = "redis";
    decide(r, res);
}

int
gw_rl_stage(struct gw_req *r)
{
    struct gw_redis *redis = r->w->redis;
    struct rl_wait *w;

    fill_key(r);
    if (redis == NULL)
        return charge_local(r, "local");
    struct gw_redis_op *op;

    w = h2o_mem_alloc_shared(&r->req->pool, sizeof(*w), on_wait_dispose);
    w->r = r;
    w->op = NULL;
    w->answered = false;
    /* on an open breaker or no connection the callback runs before this returns */
    op = gw_redis_gcra(redis, r->rl_key, r->rl_keylen, &r->w->gen->rl_spec[r->route->index],
                       on_reply, w);
    if (!w->answered)
        w->op = op;
    return 0;
}

/* RateLimit-Policy / RateLimit (draft-ietf-httpapi-ratelimit-headers) and
 * Retry-After, on every response of a limited route. */
h2o_iovec_t
gw_rl_policy_value(const char *route, const struct gw_gcra_spec *s)
{
    uint64_t window_s = (s->interval_us * s->burst + 999999) / 1000000;
    char *v = pc_xmalloc(PC_CONF_MAX_NAME + 64), *p = v;

    *p++ = '"';
    p = put_str(p, route, strlen(route));
    p = put_str(p, "\";q=", 4);
    p = put_u64(p, s->burst);
    p = put_str(p, ";w=", 3);
    p = put_u64(p, window_s != 0 ? window_s : 1);
    return h2o_iovec_init(v, (size_t)(p - v));
}

void
gw_rl_add_headers(struct gw_req *r)
{
    const h2o_iovec_t *policy = &r->w->gen->rl_policy[r->route->index];
    h2o_req_t *req = r->req;
    size_t namelen = strlen(r->route->name);
    char *v, *p;

    if (!r->rl_done)
        return;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL,
                          policy->base, policy->len);
    p = v = h2o_mem_alloc_pool(&req->pool, namelen + 64);
    *p++ = '"';
    p = put_str(p, r->route->name, namelen);
    p = put_str(p, "\";r=", 4);
    p = put_u64(p, r->rl.remaining);
    p = put_str(p, ";t=", 3);
    p = put_u64(p, (r->rl.reset_us + 999999) / 1000000);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, v,
                          (size_t)(p - v));
    if (!r->rl.allowed) {
        uint64_t ra = (r->rl.retry_after_us + 999999) / 1000000;
        p = v = h2o_mem_alloc_pool(&req->pool, 24);
        p = put_u64(p, ra != 0 ? ra : 1);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v,
                       (size_t)(p - v));
    }
}
