/*
 * routes: of the main file and of every included file.  Each route is
 * checked on its own (a route with an error is not kept, so one mistake
 * does not cascade), then pol_routes_finish() checks them together:
 * unique names over all files, no two routes for the same host and
 * path_prefix with overlapping methods.  Upstreams are shared by
 * (url, ca_file).
 *
 * Contracts of the functions defined here: policy/internal.h.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

static void
set_pos(struct pol_pos *p, const struct pol_node *n)
{
    p->file = n->file;
    p->line = n->line;
    p->col = n->col;
}

/* --- match: ---------------------------------------------------------------------- */

static void
parse_host(struct pol_ctx *ctx, const struct pol_node *n, struct pol_route *r)
{
    char desc[POL_DESC_MAX];
    const char *s;

    if (pol_node_text(ctx, n, "a host name, *.domain or *", &s) != PC_OK)
        return;
    if (n->len == 1 && s[0] == '*') {
        r->host_kind = POL_HOST_ANY;
        r->host = pc_xstrdup("*");
    } else if (n->len > 2 && s[0] == '*' && s[1] == '.' && pol_dns_name_ok(s + 2, n->len - 2)) {
        r->host_kind = POL_HOST_WILDCARD;
        r->host = pc_xstrndup(s + 1, n->len - 1); /* keep the dot: ".example.com" */
    } else if (pol_dns_name_ok(s, n->len)) {
        r->host_kind = POL_HOST_EXACT;
        r->host = pc_xstrndup(s, n->len);
    } else {
        pol_err(ctx, n, "expected a host name, *.domain or *, got %s",
                pol_node_desc(n, desc, sizeof(desc)));
        return;
    }
    pol_str_lower(r->host);
    r->host_text = pc_xstrndup(s, n->len);
}

static void
parse_prefix(struct pol_ctx *ctx, const struct pol_node *n, struct pol_route *r)
{
    char desc[POL_DESC_MAX];
    const char *s, *why = NULL;
    size_t i, seg = 0;

    if (pol_node_text(ctx, n, "a path prefix starting with '/'", &s) != PC_OK)
        return;
    if (s[0] != '/')
        why = "it must start with '/'";
    else if (n->len > PC_CONF_MAX_PREFIX)
        why = "it is longer than " POL_STRINGIFY(PC_CONF_MAX_PREFIX) " bytes";
    else if (strpbrk(s, "?#%") != NULL)
        why = "'?', '#' and '%' cannot appear (it is compared with the decoded path)";
    for (i = 1; why == NULL && i <= n->len; i++) {
        if (i < n->len && s[i] != '/')
            continue;
        /* the segment s[seg + 1 .. i) */
        if ((i - seg - 1 == 1 && s[seg + 1] == '.') ||
            (i - seg - 1 == 2 && s[seg + 1] == '.' && s[seg + 2] == '.'))
            why = "'.' and '..' segments cannot appear";
        seg = i;
    }
    if (why != NULL) {
        pol_err(ctx, n, "expected a path prefix, got %s: %s", pol_node_desc(n, desc, sizeof(desc)),
                why);
        return;
    }
    free(r->path_prefix);
    r->path_prefix = pc_xstrndup(s, n->len);
}

static void
parse_methods(struct pol_ctx *ctx, const struct pol_node *seq, struct pol_route *r)
{
    static const char *const names[] = {"GET",    "HEAD",  "POST",    "PUT",
                                        "DELETE", "PATCH", "OPTIONS", NULL};
    unsigned bits = 0, idx;
    size_t i;

    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        return;
    if (seq->nkids == 0 || seq->nkids > PC_CONF_MAX_LIST) {
        pol_err(ctx, seq, "expected 1 to %d methods (omit methods: to allow any), got %zu",
                PC_CONF_MAX_LIST, seq->nkids);
        return;
    }
    for (i = 0; i < seq->nkids; i++) {
        size_t saved = pol_kp_idx(ctx, i);
        if (pol_node_enum(ctx, seq->kids[i], names, &idx) == PC_OK)
            bits |= 1u << idx; /* the order of names is the order of enum pol_method */
        pol_kp_pop(ctx, saved);
    }
    if (bits != 0)
        r->methods = bits;
}

static void
parse_match(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r)
{
    static const char *const keys[] = {"host", "path_prefix", "methods", NULL};
    const struct pol_node *m = pol_map_get(route, "match"), *v;
    size_t saved, s2;

    if (m == NULL) {
        pol_err_missing(ctx, route, "match");
        return;
    }
    saved = pol_kp_key(ctx, "match");
    if (!pol_expect(ctx, m, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, m, keys);
    v = pol_map_get(m, "host");
    if (v == NULL) {
        pol_err_missing(ctx, m, "host");
    } else {
        s2 = pol_kp_key(ctx, "host");
        parse_host(ctx, v, r);
        pol_kp_pop(ctx, s2);
    }
    v = pol_map_get(m, "path_prefix");
    if (v != NULL) {
        s2 = pol_kp_key(ctx, "path_prefix");
        parse_prefix(ctx, v, r);
        pol_kp_pop(ctx, s2);
    }
    v = pol_map_get(m, "methods");
    if (v != NULL) {
        s2 = pol_kp_key(ctx, "methods");
        parse_methods(ctx, v, r);
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

/* --- upstream: ------------------------------------------------------------------------ */

/* http(s)://host[:port][/]: nothing else. */
static const char *
url_check(const char *s, size_t len, struct pol_upstream *up)
{
    struct pol_hostport h;
    const char *auth, *end, *why;
    size_t alen, i;
    char v6[64];
    unsigned char probe[16];

    /* schemes are case-insensitive (RFC 3986 3.1); the stored url is lower-case */
    if (len > 8 && strncasecmp(s, "https://", 8) == 0) {
        up->tls = true;
        auth = s + 8;
    } else if (len > 7 && strncasecmp(s, "http://", 7) == 0) {
        auth = s + 7;
    } else {
        return "the scheme must be http:// or https://";
    }
    if (!pc_str_is_token(s, len))
        return "spaces and control characters are not allowed";
    alen = strcspn(auth, "/?#");
    end = auth + alen;
    if (alen == 0)
        return "the host is empty";
    if (memchr(auth, '@', alen) != NULL)
        return "user information (user@) is not allowed";
    if (strchr(end, '?') != NULL)
        return "a query is not allowed";
    if (strchr(end, '#') != NULL)
        return "a fragment is not allowed";
    if (end[0] != '\0' && strcmp(end, "/") != 0)
        return "a path is not allowed (the request path is passed on as is)";
    why = pol_hostport_parse(auth, alen, &h);
    if (why != NULL)
        return why;
    if (h.v6) {
        if (h.hostlen >= sizeof(v6))
            return "bad IPv6 address";
        memcpy(v6, h.host, h.hostlen);
        v6[h.hostlen] = '\0';
        if (inet_pton(AF_INET6, v6, probe) != 1)
            return "bad IPv6 address";
    } else if (!pol_dns_name_ok(h.host, h.hostlen)) {
        return "bad host name";
    }
    up->host = pc_xstrndup(h.host, h.hostlen);
    pol_str_lower(up->host);
    up->port = h.has_port ? h.port : up->tls ? 443 : 80;
    up->url = pc_xstrndup(s, (size_t)(end - s)); /* without the "/" */
    for (i = 0; i < (size_t)(end - s); i++)
        if (up->url[i] >= 'A' && up->url[i] <= 'Z')
            up->url[i] = (char)(up->url[i] + 32);
    return NULL;
}

static void
parse_url(struct pol_ctx *ctx, const struct pol_node *n, struct pol_upstream *up)
{
    char desc[POL_DESC_MAX];
    const char *s, *why;

    if (pol_node_text(ctx, n, "an http:// or https:// URL", &s) != PC_OK)
        return;
    why = url_check(s, n->len, up);
    if (why != NULL)
        pol_err(ctx, n, "expected http(s)://host[:port], got %s: %s",
                pol_node_desc(n, desc, sizeof(desc)), why);
}

static void
parse_upstream(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r,
               struct pol_upstream *up)
{
    static const char *const keys[] = {"url", "ca_file", "timeout", NULL};
    const struct pol_node *v = pol_map_get(route, "upstream"), *u;
    char desc[POL_DESC_MAX];
    size_t saved, s2;

    if (v == NULL) {
        pol_err_missing(ctx, route, "upstream");
        return;
    }
    saved = pol_kp_key(ctx, "upstream");
    if (v->kind == POL_NODE_SCALAR) {
        parse_url(ctx, v, up);
        goto out;
    }
    if (v->kind != POL_NODE_MAP) {
        pol_err(ctx, v, "expected a URL or a mapping with url:, got %s",
                pol_node_desc(v, desc, sizeof(desc)));
        goto out;
    }
    pol_check_keys(ctx, v, keys);
    u = pol_map_get(v, "url");
    if (u == NULL) {
        pol_err_missing(ctx, v, "url");
    } else {
        s2 = pol_kp_key(ctx, "url");
        parse_url(ctx, u, up);
        pol_kp_pop(ctx, s2);
    }
    if (pol_get_path(ctx, v, "ca_file", false, &up->ca_file) == PC_OK && up->url != NULL &&
        !up->tls) {
        s2 = pol_kp_key(ctx, "ca_file");
        pol_err(ctx, pol_map_get(v, "ca_file"), "ca_file applies to https:// upstreams only");
        pol_kp_pop(ctx, s2);
    }
    pol_get_duration(ctx, v, "timeout", POL_UP_TIMEOUT_MIN, POL_UP_TIMEOUT_MAX,
                     &r->upstream_timeout_ms);
out:
    pol_kp_pop(ctx, saved);
}

/* --- one route ------------------------------------------------------------------------------ */

static void
parse_name(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r,
           struct pol_pos *pos)
{
    const struct pol_node *v = pol_map_get(route, "name");
    char desc[POL_DESC_MAX];
    size_t saved;

    if (v == NULL) {
        pol_err_missing(ctx, route, "name");
        return;
    }
    saved = pol_kp_key(ctx, "name");
    if (v->kind == POL_NODE_SCALAR && pol_name_ok(v->str, v->len)) {
        r->name = pc_xstrndup(v->str, v->len);
        set_pos(pos, v);
    } else {
        pol_err(ctx, v, "expected a name of 1 to %d letters, digits, '.', '_' or '-', got %s",
                PC_CONF_MAX_NAME, pol_node_desc(v, desc, sizeof(desc)));
    }
    pol_kp_pop(ctx, saved);
}

static size_t
upstream_find_or_add(struct pol_ctx *ctx, struct pol_upstream *up, size_t *cap)
{
    struct pol_config *c = ctx->cfg;
    size_t i;

    for (i = 0; i < c->nupstreams; i++) {
        const struct pol_upstream *u = &c->upstreams[i];
        if (strcmp(u->url, up->url) != 0)
            continue;
        if ((u->ca_file == NULL) != (up->ca_file == NULL))
            continue;
        if (u->ca_file == NULL || strcmp(u->ca_file, up->ca_file) == 0) {
            pol_upstream_clear(up);
            return i;
        }
    }
    if (c->nupstreams == *cap) {
        *cap = *cap == 0 ? 8 : *cap * 2;
        c->upstreams = pc_xreallocarray(c->upstreams, *cap, sizeof(*c->upstreams));
    }
    c->upstreams[c->nupstreams] = *up;
    memset(up, 0, sizeof(*up));
    return c->nupstreams++;
}

static void
commit(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r,
       struct pol_upstream *up, const struct pol_route_meta *meta)
{
    struct pol_config *c = ctx->cfg;

    if (c->nroutes == PC_CONF_MAX_ROUTES) {
        pol_err(ctx, route, "more than %d routes over all files", PC_CONF_MAX_ROUTES);
        pol_route_clear(r);
        pol_upstream_clear(up);
        return;
    }
    if (c->nroutes == ctx->routes_cap) {
        ctx->routes_cap = ctx->routes_cap == 0 ? 16 : ctx->routes_cap * 2;
        c->routes = pc_xreallocarray(c->routes, ctx->routes_cap, sizeof(*c->routes));
        ctx->rmeta = pc_xreallocarray(ctx->rmeta, ctx->routes_cap, sizeof(*ctx->rmeta));
    }
    ctx->rmeta[c->nroutes] = *meta;
    ctx->rmeta[c->nroutes].upstream = upstream_find_or_add(ctx, up, &ctx->upstreams_cap);
    c->routes[c->nroutes++] = *r;
    memset(r, 0, sizeof(*r));
}

static void
parse_route(struct pol_ctx *ctx, const struct pol_node *n, size_t file_index)
{
    static const char *const keys[] = {"name", "match",      "upstream", "mtls",
                                       "jwt",  "rate_limit", "headers",  NULL};
    struct pol_route r;
    struct pol_upstream up;
    struct pol_route_meta meta;
    size_t before = ctx->nerr;
    bool jwt_off = false;

    memset(&r, 0, sizeof(r));
    memset(&up, 0, sizeof(up));
    memset(&meta, 0, sizeof(meta));
    if (!pol_expect(ctx, n, POL_NODE_MAP))
        return;
    set_pos(&r.pos, n);
    meta.file_index = file_index;
    r.methods = POL_M_ALL;
    r.upstream_timeout_ms = ctx->cfg->limits.upstream_timeout_ms;
    r.path_prefix = pc_xstrdup("/");
    pol_check_keys(ctx, n, keys);
    parse_name(ctx, n, &r, &meta.name_pos);
    parse_match(ctx, n, &r);
    parse_upstream(ctx, n, &r, &up);
    pol_rule_mtls(ctx, n, &r);
    pol_rule_jwt(ctx, n, &r, &jwt_off);
    pol_rule_rate_limit(ctx, n, &r, jwt_off);
    pol_rule_headers(ctx, n, &r);
    pol_rule_header_clash(ctx, n, &r);
    if (ctx->nerr != before) {
        /* not kept: its half-checked fields would only cause more noise */
        pol_route_clear(&r);
        pol_upstream_clear(&up);
        return;
    }
    commit(ctx, n, &r, &up, &meta);
}

void
pol_routes_parse(struct pol_ctx *ctx, const struct pol_node *seq)
{
    size_t i;

    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        return;
    for (i = 0; i < seq->nkids; i++) {
        size_t saved = pol_kp_idx(ctx, i);
        parse_route(ctx, seq->kids[i], i);
        pol_kp_pop(ctx, saved);
    }
}

void
pol_route_clear(struct pol_route *r)
{
    size_t i;

    free(r->name);
    free(r->host);
    free(r->host_text);
    free(r->path_prefix);
    for (i = 0; i < r->nallow; i++) {
        free(r->allow[i].glob);
        free(r->allow[i].text);
    }
    free(r->allow);
    if (r->jwt != NULL) {
        free(r->jwt->audience);
        for (i = 0; i < r->jwt->nscopes; i++)
            free(r->jwt->scopes[i]);
        free(r->jwt->scopes);
        for (i = 0; i < r->jwt->nclaims; i++) {
            free(r->jwt->claims[i].claim);
            free(r->jwt->claims[i].header);
        }
        free(r->jwt->claims);
        free(r->jwt);
    }
    free(r->rate_limit);
    for (i = 0; i < r->nhset; i++) {
        free(r->hset[i].name);
        free(r->hset[i].value);
    }
    free(r->hset);
    memset(r, 0, sizeof(*r));
}

void
pol_upstream_clear(struct pol_upstream *u)
{
    free(u->url);
    free(u->host);
    free(u->ca_file);
    memset(u, 0, sizeof(*u));
}

/* --- all routes together ---------------------------------------------------------------- */

static int
cmp_name(const void *a, const void *b, void *arg)
{
    const struct pol_route *rt = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(rt[x].name, rt[y].name);

    return c != 0 ? c : x < y ? -1 : x > y;
}

static int
cmp_place(const void *a, const void *b, void *arg)
{
    const struct pol_route *rt = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const struct pol_route *r = &rt[x], *s = &rt[y];
    int c;

    if (r->host_kind != s->host_kind)
        return r->host_kind < s->host_kind ? -1 : 1;
    c = strcmp(r->host, s->host);
    if (c == 0)
        c = strcmp(r->path_prefix, s->path_prefix);
    return c != 0 ? c : x < y ? -1 : x > y;
}

static bool
same_place(const struct pol_route *r, const struct pol_route *s)
{
    return r->host_kind == s->host_kind && strcmp(r->host, s->host) == 0 &&
           strcmp(r->path_prefix, s->path_prefix) == 0;
}

static void
check_names(struct pol_ctx *ctx, const size_t *idx, size_t n)
{
    const struct pol_route *rt = ctx->cfg->routes;
    size_t i, first = 0;

    for (i = 1; i < n; i++) {
        const struct pol_route_meta *m = &ctx->rmeta[idx[i]];
        const struct pol_pos *p;
        if (strcmp(rt[idx[i]].name, rt[idx[first]].name) != 0) {
            first = i;
            continue;
        }
        p = &ctx->rmeta[idx[first]].name_pos;
        pol_err_at(ctx, m->name_pos.file, m->name_pos.line, m->name_pos.col,
                   "routes[%zu].name: duplicate route name \"%s\" (first defined at %s:%u:%u)",
                   m->file_index, rt[idx[i]].name, p->file, p->line, p->col);
    }
}

static void
check_overlaps(struct pol_ctx *ctx, const size_t *idx, size_t n)
{
    const struct pol_route *rt = ctx->cfg->routes;
    size_t i, j, start = 0;

    for (i = 1; i < n; i++) {
        const struct pol_route *b = &rt[idx[i]];
        if (!same_place(b, &rt[idx[start]])) {
            start = i;
            continue;
        }
        /* at most 8 routes share a place without overlapping: one per method bit */
        for (j = start; j < i; j++) {
            const struct pol_route *a = &rt[idx[j]];
            if ((a->methods & b->methods) == 0)
                continue;
            pol_err_at(ctx, b->pos.file, b->pos.line, b->pos.col,
                       "routes[%zu]: routes '%s' (%s:%u) and '%s' overlap: same host and "
                       "path_prefix",
                       ctx->rmeta[idx[i]].file_index, a->name, a->pos.file, a->pos.line, b->name);
            break;
        }
    }
}

void
pol_routes_finish(struct pol_ctx *ctx)
{
    struct pol_config *c = ctx->cfg;
    size_t *idx = NULL, i;

    if (c->nroutes != 0) {
        idx = pc_xcalloc(c->nroutes, sizeof(*idx));
        for (i = 0; i < c->nroutes; i++)
            idx[i] = i;
        qsort_r(idx, c->nroutes, sizeof(*idx), cmp_name, c->routes);
        check_names(ctx, idx, c->nroutes);
        for (i = 0; i < c->nroutes; i++)
            idx[i] = i;
        qsort_r(idx, c->nroutes, sizeof(*idx), cmp_place, c->routes);
        check_overlaps(ctx, idx, c->nroutes);
        free(idx);
    }
    /* the upstream array is final now: pointers into it stay valid */
    for (i = 0; i < c->nupstreams; i++)
        c->upstreams[i].index = i;
    for (i = 0; i < c->nroutes; i++) {
        c->routes[i].upstream = &c->upstreams[ctx->rmeta[i].upstream];
        c->routes[i].index = i;
    }
    if (ctx->nerr == 0)
        c->table = pol_table_build(c->routes, c->nroutes);
}
