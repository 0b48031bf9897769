/*
 * The JWT stage of the request pipeline (worker threads): one Bearer token,
 * verified against the route's issuer (authn_jwt.c, EVP on cached keys), a
 * per-worker cache of verified tokens, and the checks made on every request
 * (time, issuer, audience, scopes, certificate binding).  A token naming an
 * unknown kid parks its request until the JWKS fetcher has tried once more
 * (gw_jwks.c), so a key rotation costs its first caller a short wait, not a
 * 401.
 */
#include <string.h>

#include "authn/authn_jwt.h"
#include "common/pc_log.h"
#include "common/pc_sha256.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

/* A request waiting for a JWKS refetch; lives in the request pool. */
struct gw_park {
    h2o_linklist_t link;
    struct gw_req *r; /* NULL once the request is gone */
    struct gw_jwks *j;
    uint64_t seq;      /* gw_jwks_attempts() when parked */
    uint64_t deadline; /* loop time */
};

static int verify_and_continue(struct gw_req *r, bool may_park);

/* --- answers ------------------------------------------------------------------ */

static int
deny_token(struct gw_req *r, enum authn_jwt_err e)
{
    h2o_req_t *req = r->req;
    const char *why = authn_jwt_err_str(e);

    r->token_error = why;
    r->reason = GW_R_TOKEN_INVALID;
    /* RFC 6750 §3: the reason is ours and constant; never token material */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer error=\"invalid_token\""));
    return gw_problem_send(r, why);
}

static int
deny_scope(struct gw_req *r)
{
    const struct pol_jwt *jc = r->route->jwt;
    h2o_req_t *req = r->req;
    size_t i, len = sizeof("Bearer error=\"insufficient_scope\", scope=\"\"");
    char *v, *p;

    for (i = 0; i < jc->nscopes; i++)
        len += strlen(jc->scopes[i]) + 1;
    v = h2o_mem_alloc_pool(&req->pool, len);
    p = v + snprintf(v, len, "Bearer error=\"insufficient_scope\", scope=\"");
    for (i = 0; i < jc->nscopes; i++) {
        size_t n = strlen(jc->scopes[i]);
        if (i != 0)
            *p++ = ' ';
        memcpy(p, jc->scopes[i], n);
        p += n;
    }
    *p++ = '"';
    r->token_error = authn_jwt_err_str(AUTHN_JWT_SCOPE);
    r->reason = GW_R_SCOPE;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, v,
                   (size_t)(p - v));
    return gw_problem_send(r, "the token lacks a scope this route requires");
}

/* --- the Authorization header ------------------------------------------------- */

static enum authn_jwt_err
find_token(h2o_req_t *req, size_t max, const char **tok, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    const h2o_iovec_t *v;

    if (i == -1)
        return AUTHN_JWT_MISSING;
    if (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, i) != -1)
        return AUTHN_JWT_MULTIPLE;
    v = &req->headers.entries[i].value;
    return authn_bearer_parse(v->base, v->len, max, tok, len);
}

static void
drop_authorization(h2o_req_t *req)
{
    ssize_t i;

    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1)) != -1)
        h2o_delete_header(&req->headers, i);
}

/* --- headers to the upstream ---------------------------------------------------- */

static const char *
pool_dup(h2o_mem_pool_t *pool, const char *s)
{
    return s != NULL ? h2o_strdup(pool, s, SIZE_MAX).base : NULL;
}

static void
add_hdr(h2o_req_t *req, const char *name, const char *value, size_t vlen)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, vlen); /* the cache may evict the claims */

    h2o_add_header_by_str(&req->pool, &req->headers, name, strlen(name), 0, NULL, v.base, v.len);
}

/* A claim as a header value: strings, numbers, booleans, arrays of strings
 * (comma-joined).  Control bytes and over-long values are not sent. */
static void
add_claim(h2o_req_t *req, const struct pol_claim_header *ch, json_t *payload)
{
    json_t *v = json_object_get(payload, ch->claim);
    char buf[AUTHN_JWT_MAX_CLAIM + 1];
    size_t n = 0, i;

    if (v == NULL)
        return;
    if (json_is_string(v)) {
        n = json_string_length(v);
        if (n > AUTHN_JWT_MAX_CLAIM)
            return;
        memcpy(buf, json_string_value(v), n);
    } else if (json_is_integer(v)) {
        n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    } else if (json_is_boolean(v)) {
        n = (size_t)snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            size_t el;
            if (!json_is_string(e))
                return;
            el = json_string_length(e);
            if (n + el + 1 > AUTHN_JWT_MAX_CLAIM)
                return;
            if (i != 0)
                buf[n++] = ',';
            memcpy(buf + n, json_string_value(e), el);
            n += el;
        }
    } else {
        return;
    }
    if (n == 0 || pc_str_has_ctl(buf, n))
        return;
    add_hdr(req, ch->header, buf, n);
}

static void
add_identity_headers(struct gw_req *r, const struct authn_claims *c)
{
    const struct pol_jwt *jc = r->route->jwt;
    h2o_req_t *req = r->req;
    size_t i;

    if (c->sub != NULL && !pc_str_has_ctl(c->sub, strlen(c->sub)))
        add_hdr(req, "x-auth-subject", c->sub, strlen(c->sub));
    if (c->scope_str != NULL && c->scope_str[0] != '\0' &&
        !pc_str_has_ctl(c->scope_str, strlen(c->scope_str)))
        add_hdr(req, "x-auth-scopes", c->scope_str, strlen(c->scope_str));
    for (i = 0; i < jc->nclaims; i++)
        add_claim(req, &jc->claims[i], c->payload);
    if (!jc->forward_token)
        drop_authorization(req);
}

/* --- parking (unknown kid) -------------------------------------------------------- */

static void
on_park_dispose(void *p)
{
    struct gw_park *pk = p;

    if (h2o_linklist_is_linked(&pk->link))
        h2o_linklist_unlink(&pk->link);
    pk->r = NULL;
}

static void
on_park_tick(h2o_timeout_entry_t *entry)
{
    struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, park_entry, entry);
    uint64_t now = h2o_now(w->loop);
    h2o_linklist_t *n, *next;

    for (n = w->parked.next; n != &w->parked; n = next) {
        struct gw_park *pk = H2O_STRUCT_FROM_MEMBER(struct gw_park, link, n);
        struct gw_req *r = pk->r;
        next = n->next;
        if (gw_jwks_attempts(pk->j) == pk->seq && now < pk->deadline)
            continue;
        h2o_linklist_unlink(&pk->link);
        if (r != NULL)
            verify_and_continue(r, false); /* once; a second unknown kid is a 401 */
    }
    if (!h2o_linklist_is_empty(&w->parked))
        h2o_timeout_link(w->loop, &w->park_timeout, &w->park_entry);
}

static int
park(struct gw_req *r, struct gw_jwks *j, uint64_t seq)
{
    struct gw_worker *w = r->w;
    struct gw_park *pk = h2o_mem_alloc_shared(&r->req->pool, sizeof(*pk), on_park_dispose);

    memset(pk, 0, sizeof(*pk));
    pk->r = r;
    pk->j = j;
    pk->seq = seq;
    pk->deadline = h2o_now(w->loop) + PC_JWKS_WAIT_MS;
    h2o_linklist_insert(&w->parked, &pk->link);
    if (!h2o_timeout_is_linked(&w->park_entry))
        h2o_timeout_link(w->loop, &w->park_timeout, &w->park_entry);
    return 0;
}

void
gw_jwt_worker_init(struct gw_worker *w)
{
    w->tcache = authn_tcache_new(w->gen->cfg->limits.token_cache_entries);
    h2o_linklist_init_anchor(&w->parked);
    h2o_timeout_init(w->loop, &w->park_timeout, GW_PARK_POLL_MS);
    w->park_entry.cb = on_park_tick;
}

void
gw_jwt_worker_clear(struct gw_worker *w)
{
    if (h2o_timeout_is_linked(&w->park_entry))
        h2o_timeout_unlink(&w->park_entry);
    h2o_timeout_dispose(w->loop, &w->park_timeout);
    authn_tcache_free(w->tcache);
    w->tcache = NULL;
}

/* --- the stage ---------------------------------------------------------------------- */

static int
verify_and_continue(struct gw_req *r, bool may_park)
{
    const struct pol_jwt *jc = r->route->jwt;
    const struct pol_issuer *iss = jc->issuer;
    struct gw_worker *w = r->w;
    struct gw_jwks *j = w->gen->jwks[iss->index];
    uint64_t now_ms = h2o_now(w->loop), seq;
    int64_t now = (int64_t)(now_ms / 1000);
    const struct authn_keyset *ks;
    const struct authn_claims *c;
    struct authn_claims *fresh = NULL;
    unsigned char hash[32];
    char kid[AUTHN_JWT_MAX_KID + 1];
    const char *tok = NULL, *missing = NULL; /* deny_scope names all the route's scopes */
    size_t toklen = 0;
    enum authn_jwt_err e;

    e = find_token(r->req, iss->max_token_bytes, &tok, &toklen);
    if (e != AUTHN_JWT_OK)
        return deny_token(r, e);
    ks = gw_jwks_keys(j, now_ms);
    if (ks == NULL)
        return deny_token(r, AUTHN_JWT_NO_KEYS);
    if (pc_sha256(tok, toklen, hash) != 0)
        return deny_token(r, AUTHN_JWT_MALFORMED);
    c = authn_tcache_get(w->tcache, iss->index, hash, now, (int64_t)(iss->leeway_ms / 1000), ks);
    if (c == NULL) {
        e = authn_jwt_verify(tok, toklen, ks, iss->algorithms, &fresh, kid);
        if (e == AUTHN_JWT_KID_UNKNOWN && may_park && gw_jwks_request_refetch(j, now_ms, &seq))
            return park(r, j, seq);
        if (e != AUTHN_JWT_OK) {
            if (kid[0] != '\0')
                r->kid = pool_dup(&r->req->pool, kid);
            return deny_token(r, e);
        }
        c = fresh;
    }
    r->sub = pool_dup(&r->req->pool, c->sub);
    r->iss = pool_dup(&r->req->pool, c->iss);
    r->kid = pool_dup(&r->req->pool, c->kid);
    r->jti = pool_dup(&r->req->pool, c->jti);
    /* never skipped, cached or not */
    e = authn_claims_check(c, iss, jc, now, r->peer->x5t_s256, &missing);
    if (e != AUTHN_JWT_OK) {
        if (fresh != NULL) /* verified: worth keeping for the routes it does pass */
            authn_tcache_put(w->tcache, iss->index, hash, fresh);
        return e == AUTHN_JWT_SCOPE ? deny_scope(r) : deny_token(r, e);
    }
    add_identity_headers(r, c);
    /* last use of c: the cache may free it (or, when off, does at once) */
    if (fresh != NULL)
        authn_tcache_put(w->tcache, iss->index, hash, fresh);
    return gw_req_after_jwt(r);
}

int
gw_jwt_stage(struct gw_req *r)
{
    return verify_and_continue(r, true);
}
