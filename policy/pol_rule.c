/*
 * What a route demands of a caller and adds for the upstream: mtls.allow
 * patterns, the jwt: decision (required: a block or an explicit off),
 * rate_limit:, and the headers it sets (headers.set and
 * jwt.claims_to_headers), which may never be the gateway's own.
 *
 * Contracts of the functions defined here: policy/internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define POL_HDR_NAME_MAX 128        /* a header name we add, bytes */
#define POL_RL_MAX       1000000000 /* rate count and burst */

/* Headers the gateway sets or owns; a route may not set or map onto them. */
static const char *const reserved_headers[] = {"x-forwarded-client-cert",
                                               "x-auth-subject",
                                               "x-auth-scopes",
                                               "x-forwarded-for",
                                               "x-forwarded-proto",
                                               "x-forwarded-host",
                                               "forwarded",
                                               "x-request-id",
                                               "traceparent",
                                               "tracestate",
                                               "host",
                                               "content-length",
                                               "transfer-encoding",
                                               "connection",
                                               "upgrade",
                                               "te",
                                               "authorization",
                                               "proxy-authorization",
                                               "cookie",
                                               NULL};

/* --- mtls: ------------------------------------------------------------------------------ */

static void
parse_pattern(struct pol_ctx *ctx, const struct pol_node *n, struct pol_pattern *p)
{
    static const struct {
        const char *prefix;
        enum pol_pat_kind kind;
    } kinds[] = {{"dns:", POL_PAT_DNS}, {"email:", POL_PAT_EMAIL}, {"cn:", POL_PAT_CN}};
    char desc[POL_DESC_MAX];
    const char *s;
    size_t i;

    if (pol_node_text(ctx, n, "a pattern (scheme://..., dns:, email: or cn:)", &s) != PC_OK)
        return;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t pl = strlen(kinds[i].prefix);
        if (n->len > pl && memcmp(s, kinds[i].prefix, pl) == 0) {
            p->kind = kinds[i].kind;
            p->glob = pc_xstrndup(s + pl, n->len - pl);
            p->text = pc_xstrndup(s, n->len);
            return;
        }
    }
    if (strstr(s, "://") != NULL && s[0] != ':') {
        p->kind = POL_PAT_URI;
        p->glob = pc_xstrndup(s, n->len);
        p->text = pc_xstrndup(s, n->len);
        return;
    }
    pol_err(ctx, n, "expected a URI glob (spiffe://...), dns:GLOB, email:GLOB or cn:GLOB, got %s",
            pol_node_desc(n, desc, sizeof(desc)));
}

void
pol_rule_mtls(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r)
{
    static const char *const keys[] = {"allow", NULL};
    const struct pol_node *v = pol_map_get(route, "mtls"), *a;
    size_t saved, s2, i;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "mtls");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    a = pol_map_get(v, "allow");
    if (a == NULL) {
        pol_err_missing(ctx, v, "allow");
        goto out;
    }
    s2 = pol_kp_key(ctx, "allow");
    if (!pol_expect(ctx, a, POL_NODE_SEQ)) {
        /* reported */
    } else if (a->nkids == 0) {
        pol_err(ctx, a,
                "an empty allow list admits nobody; omit mtls: to admit any "
                "certificate the client CA signed");
    } else if (a->nkids > PC_CONF_MAX_PATTERNS) {
        pol_err(ctx, a, "at most %d patterns, got %zu", PC_CONF_MAX_PATTERNS, a->nkids);
    } else {
        r->allow = pc_xcalloc(a->nkids, sizeof(*r->allow));
        r->nallow = a->nkids;
        for (i = 0; i < a->nkids; i++) {
            size_t s3 = pol_kp_idx(ctx, i);
            parse_pattern(ctx, a->kids[i], &r->allow[i]);
            pol_kp_pop(ctx, s3);
        }
    }
    pol_kp_pop(ctx, s2);
out:
    pol_kp_pop(ctx, saved);
}

/* --- headers ------------------------------------------------------------------------------ */

static bool
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A header name we may add upstream: a token, lower-cased, not one of ours. */
static int
header_name(struct pol_ctx *ctx, const struct pol_node *n, char **out)
{
    char desc[POL_DESC_MAX];
    const char *s;
    char *name;
    size_t i;

    if (pol_node_text(ctx, n, "a header name", &s) != PC_OK)
        return PC_ERR_INVALID;
    for (i = 0; i < n->len; i++)
        if (!is_tchar((unsigned char)s[i]))
            break;
    if (i != n->len || n->len > POL_HDR_NAME_MAX) {
        pol_err(ctx, n, "expected a header name (letters, digits and !#$%%&'*+-.^_`|~), got %s",
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    name = pc_xstrndup(s, n->len);
    pol_str_lower(name);
    for (i = 0; reserved_headers[i] != NULL; i++) {
        if (strcmp(name, reserved_headers[i]) == 0) {
            pol_err(ctx, n, "header %s is set by the gateway and cannot be configured",
                    pol_node_desc(n, desc, sizeof(desc)));
            free(name);
            return PC_ERR_INVALID;
        }
    }
    *out = name;
    return PC_OK;
}

void
pol_rule_headers(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r)
{
    static const char *const keys[] = {"set", NULL};
    const struct pol_node *v = pol_map_get(route, "headers"), *set;
    char desc[POL_DESC_MAX];
    size_t saved, s2, i, j;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "headers");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    set = pol_map_get(v, "set");
    if (set == NULL)
        goto out;
    s2 = pol_kp_key(ctx, "set");
    if (pol_expect(ctx, set, POL_NODE_MAP) && POL_MAP_PAIRS(set) > PC_CONF_MAX_HDR_SETS) {
        pol_err(ctx, set, "at most %d headers, got %zu", PC_CONF_MAX_HDR_SETS, POL_MAP_PAIRS(set));
    } else if (set->kind == POL_NODE_MAP) {
        r->hset = pc_xcalloc(POL_MAP_PAIRS(set), sizeof(*r->hset));
        for (i = 0; i < POL_MAP_PAIRS(set); i++) {
            const struct pol_node *k = POL_MAP_KEY(set, i), *val = POL_MAP_VAL(set, i);
            struct pol_header_set *h = &r->hset[r->nhset];
            size_t s3 = pol_kp_key(ctx, k->str);
            if (header_name(ctx, k, &h->name) != PC_OK) {
                pol_kp_pop(ctx, s3);
                continue;
            }
            r->nhset++;
            for (j = 0; j + 1 < r->nhset; j++)
                if (strcmp(r->hset[j].name, h->name) == 0)
                    pol_err(ctx, k, "header %s is set twice", pol_node_desc(k, desc, sizeof(desc)));
            if (val->kind != POL_NODE_SCALAR || pol_node_is_null(val) ||
                pc_str_has_ctl(val->str, val->len))
                pol_err(ctx, val, "expected a header value without control characters, got %s",
                        pol_node_desc(val, desc, sizeof(desc)));
            else
                h->value = pc_xstrndup(val->str, val->len);
            pol_kp_pop(ctx, s3);
        }
    }
    pol_kp_pop(ctx, s2);
out:
    pol_kp_pop(ctx, saved);
}

/* --- jwt: -------------------------------------------------------------------------------- */

static const struct pol_issuer *
find_issuer(const struct pol_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nissuers; i++)
        if (c->issuers[i].name != NULL && strcmp(c->issuers[i].name, name) == 0)
            return &c->issuers[i];
    return NULL;
}

static void
jwt_issuer(struct pol_ctx *ctx, const struct pol_node *map, struct pol_jwt *j)
{
    const struct pol_config *c = ctx->cfg;
    const struct pol_node *v = pol_map_get(map, "issuer");
    char desc[POL_DESC_MAX], names[256];
    const char *s;
    size_t saved, i, off = 0;

    if (v == NULL) {
        pol_err_missing(ctx, map, "issuer");
        return;
    }
    saved = pol_kp_key(ctx, "issuer");
    if (pol_node_text(ctx, v, "the name of an issuer under issuers:", &s) == PC_OK) {
        j->issuer = find_issuer(c, s);
        names[0] = '\0';
        for (i = 0; i < c->nissuers && j->issuer == NULL; i++) {
            int n = snprintf(names + off, sizeof(names) - off, "%s%s", i == 0 ? "" : ", ",
                             c->issuers[i].name);
            if (n > 0 && (size_t)n < sizeof(names) - off)
                off += (size_t)n;
        }
        if (j->issuer == NULL && c->nissuers == 0)
            pol_err(ctx, v, "unknown issuer %s: no issuers: are defined in the main file",
                    pol_node_desc(v, desc, sizeof(desc)));
        else if (j->issuer == NULL)
            pol_err(ctx, v, "unknown issuer %s; issuers: defines %s",
                    pol_node_desc(v, desc, sizeof(desc)), names);
    }
    pol_kp_pop(ctx, saved);
}

static void
jwt_scopes(struct pol_ctx *ctx, const struct pol_node *seq, struct pol_jwt *j)
{
    char desc[POL_DESC_MAX];
    const char *s;
    size_t i;

    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        return;
    if (seq->nkids > PC_CONF_MAX_SCOPES) {
        pol_err(ctx, seq, "at most %d scopes, got %zu", PC_CONF_MAX_SCOPES, seq->nkids);
        return;
    }
    j->scopes = pc_xcalloc(seq->nkids, sizeof(*j->scopes));
    for (i = 0; i < seq->nkids; i++) {
        const struct pol_node *n = seq->kids[i];
        size_t saved = pol_kp_idx(ctx, i);
        if (pol_node_text(ctx, n, "a scope", &s) != PC_OK) {
            /* reported */
        } else if (!pc_str_is_token(s, n->len) || strpbrk(s, "\"\\") != NULL) {
            pol_err(ctx, n,
                    "expected a scope (printable ASCII without spaces, '\"' or '\\'), "
                    "got %s",
                    pol_node_desc(n, desc, sizeof(desc)));
        } else {
            j->scopes[j->nscopes++] = pc_xstrndup(s, n->len);
        }
        pol_kp_pop(ctx, saved);
    }
}

static void
jwt_claims(struct pol_ctx *ctx, const struct pol_node *map, struct pol_jwt *j)
{
    char desc[POL_DESC_MAX];
    const char *s;
    size_t i, k;

    if (!pol_expect(ctx, map, POL_NODE_MAP))
        return;
    if (POL_MAP_PAIRS(map) > PC_CONF_MAX_CLAIM_HDRS) {
        pol_err(ctx, map, "at most %d claims, got %zu", PC_CONF_MAX_CLAIM_HDRS, POL_MAP_PAIRS(map));
        return;
    }
    j->claims = pc_xcalloc(POL_MAP_PAIRS(map), sizeof(*j->claims));
    for (i = 0; i < POL_MAP_PAIRS(map); i++) {
        const struct pol_node *key = POL_MAP_KEY(map, i), *val = POL_MAP_VAL(map, i);
        struct pol_claim_header *ch = &j->claims[j->nclaims];
        size_t saved = pol_kp_key(ctx, key->str);
        char *hdr = NULL;
        if (pol_node_text(ctx, key, "a claim name", &s) == PC_OK &&
            header_name(ctx, val, &hdr) == PC_OK) {
            for (k = 0; k < j->nclaims; k++)
                if (strcmp(j->claims[k].header, hdr) == 0)
                    pol_err(ctx, val, "header %s already carries claim \"%s\"",
                            pol_node_desc(val, desc, sizeof(desc)), j->claims[k].claim);
            ch->claim = pc_xstrndup(s, key->len);
            ch->header = hdr;
            j->nclaims++;
        }
        pol_kp_pop(ctx, saved);
    }
}

static void
jwt_block(struct pol_ctx *ctx, const struct pol_node *map, struct pol_route *r)
{
    static const char *const keys[] = {
        "issuer",        "audience",          "scopes", "bind_to_client_cert",
        "forward_token", "claims_to_headers", NULL};
    struct pol_jwt *j = pc_xcalloc(1, sizeof(*j));
    const struct pol_node *v;
    size_t saved;

    r->jwt = j;
    pol_check_keys(ctx, map, keys);
    jwt_issuer(ctx, map, j);
    pol_get_str(ctx, map, "audience", true, "the required aud value", &j->audience);
    v = pol_map_get(map, "scopes");
    if (v != NULL) {
        saved = pol_kp_key(ctx, "scopes");
        jwt_scopes(ctx, v, j);
        pol_kp_pop(ctx, saved);
    }
    pol_get_bool(ctx, map, "bind_to_client_cert", &j->bind_to_client_cert);
    pol_get_bool(ctx, map, "forward_token", &j->forward_token);
    v = pol_map_get(map, "claims_to_headers");
    if (v != NULL) {
        saved = pol_kp_key(ctx, "claims_to_headers");
        jwt_claims(ctx, v, j);
        pol_kp_pop(ctx, saved);
    }
}

/* jwt: is required: a mapping, or off/false said out loud.  *off tells which. */
void
pol_rule_jwt(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r, bool *off)
{
    const struct pol_node *v = pol_map_get(route, "jwt");
    char desc[POL_DESC_MAX];
    size_t saved;

    *off = false;
    if (v == NULL) {
        pol_err(ctx, route,
                "route '%s' has no jwt: decision; write jwt: off to serve it without a token",
                r->name != NULL ? r->name : "?");
        return;
    }
    saved = pol_kp_key(ctx, "jwt");
    if (v->kind == POL_NODE_SCALAR && (strcmp(v->str, "off") == 0 || strcmp(v->str, "false") == 0))
        *off = true;
    else if (v->kind == POL_NODE_MAP)
        jwt_block(ctx, v, r);
    else
        pol_err(ctx, v, "expected a mapping with issuer: and audience:, or off, got %s",
                pol_node_desc(v, desc, sizeof(desc)));
    pol_kp_pop(ctx, saved);
}

/* --- rate_limit: ------------------------------------------------------------------------------ */

static void
parse_rate(struct pol_ctx *ctx, const struct pol_node *n, struct pol_ratelimit *rl)
{
    char desc[POL_DESC_MAX];
    const char *slash;
    uint64_t count;
    int rc = PC_ERR_PARSE;

    if (n->kind == POL_NODE_SCALAR && n->len >= 3) {
        slash = memchr(n->str, '/', n->len);
        if (slash != NULL && slash == n->str + n->len - 2) {
            rc = pc_parse_u64(n->str, (size_t)(slash - n->str), POL_RL_MAX, &count);
            if (rc == PC_OK && count == 0)
                rc = PC_ERR_TOO_LARGE;
            if (rc == PC_OK && slash[1] == 's')
                rl->period_ms = 1000;
            else if (rc == PC_OK && slash[1] == 'm')
                rl->period_ms = 60000;
            else if (rc == PC_OK && slash[1] == 'h')
                rl->period_ms = 3600000;
            else if (rc == PC_OK)
                rc = PC_ERR_PARSE;
        }
    }
    if (rc == PC_ERR_TOO_LARGE) {
        pol_err(ctx, n, "expected a count from 1 to %d, got %s", POL_RL_MAX,
                pol_node_desc(n, desc, sizeof(desc)));
        return;
    }
    if (rc != PC_OK) {
        pol_err(ctx, n, "expected N/s, N/m or N/h, got %s", pol_node_desc(n, desc, sizeof(desc)));
        return;
    }
    rl->count = count;
}

void
pol_rule_rate_limit(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r,
                    bool jwt_off)
{
    static const char *const keys[] = {"key", "rate", "burst", "on_backend_failure", NULL};
    static const char *const rl_keys[] = {"identity", "subject", "ip", "route", NULL};
    static const char *const fails[] = {"deny", "allow", "local", NULL};
    const struct pol_node *v = pol_map_get(route, "rate_limit"), *x;
    struct pol_ratelimit *rl;
    unsigned e;
    size_t saved, s2;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "rate_limit");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    rl = pc_xcalloc(1, sizeof(*rl));
    r->rate_limit = rl;
    rl->key = POL_RL_KEY_IDENTITY;
    rl->on_backend_failure = POL_RL_FAIL_DENY;
    pol_check_keys(ctx, v, keys);
    if (pol_get_enum(ctx, v, "key", rl_keys, &e) == PC_OK) {
        rl->key = (enum pol_rl_key)e; /* rl_keys is in the order of enum pol_rl_key */
        if (rl->key == POL_RL_KEY_SUBJECT && jwt_off) {
            s2 = pol_kp_key(ctx, "key");
            pol_err(ctx, pol_map_get(v, "key"),
                    "key: subject needs a jwt: block (this route has jwt: off)");
            pol_kp_pop(ctx, s2);
        }
    }
    x = pol_map_get(v, "rate");
    if (x == NULL) {
        pol_err_missing(ctx, v, "rate");
    } else {
        s2 = pol_kp_key(ctx, "rate");
        parse_rate(ctx, x, rl);
        pol_kp_pop(ctx, s2);
    }
    rl->burst = rl->count;
    pol_get_u64(ctx, v, "burst", 1, POL_RL_MAX, &rl->burst);
    if (pol_get_enum(ctx, v, "on_backend_failure", fails, &e) == PC_OK)
        rl->on_backend_failure = (enum pol_rl_fail)e; /* fails is in enum order */
out:
    pol_kp_pop(ctx, saved);
}

/* Headers set by headers.set and by claims_to_headers must differ. */
void
pol_rule_header_clash(struct pol_ctx *ctx, const struct pol_node *route, const struct pol_route *r)
{
    size_t i, k;

    if (r->jwt == NULL)
        return;
    for (i = 0; i < r->jwt->nclaims; i++)
        for (k = 0; k < r->nhset; k++)
            if (strcmp(r->jwt->claims[i].header, r->hset[k].name) == 0)
                pol_err(ctx, route,
                        "header \"%s\" is both in headers.set and in jwt.claims_to_headers",
                        r->hset[k].name);
}
