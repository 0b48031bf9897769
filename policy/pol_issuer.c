/*
 * The external services of the main file: issuers: (JWT issuers and their
 * JWKS, with the algorithm allow-list) and redis: (the shared rate-limit
 * store, whose URL may carry a password: it is never quoted in a message
 * and is wiped when freed).
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define POL_LEEWAY_MAX_MS    300000     /* issuers.*.leeway: 5m */
#define POL_TOKEN_MIN_BYTES  512        /* issuers.*.max_token_bytes */
#define POL_TOKEN_MAX_BYTES  65536      /* ditto */
#define POL_TOKEN_DEF_BYTES  8192       /* ditto, default */
#define POL_REFETCH_MIN_MS   1000       /* issuers.*.min_refetch_interval */
#define POL_REFETCH_MAX_MS   3600000    /* ditto: an hour */
#define POL_STALE_MAX_MS     2592000000 /* issuers.*.max_stale: 30d */
#define POL_REDIS_PORT       6379       /* redis:// without a port */
#define POL_REDIS_MAX_DB     15         /* redis databases 0..15 */
#define POL_REDIS_TMO_MAX_MS 10000      /* redis.timeout */

static const struct {
    const char *name;
    unsigned bit;
} algs[] = {
    {"RS256", POL_ALG_RS256}, {"RS384", POL_ALG_RS384}, {"RS512", POL_ALG_RS512},
    {"PS256", POL_ALG_PS256}, {"PS384", POL_ALG_PS384}, {"PS512", POL_ALG_PS512},
    {"ES256", POL_ALG_ES256}, {"ES384", POL_ALG_ES384}, {"ES512", POL_ALG_ES512},
    {"EdDSA", POL_ALG_EDDSA},
};

unsigned
pol_alg_from_name(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strlen(algs[i].name) == len && memcmp(algs[i].name, name, len) == 0)
            return algs[i].bit;
    return 0;
}

const char *
pol_alg_name(unsigned alg)
{
    size_t i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (algs[i].bit == alg)
            return algs[i].name;
    return "?";
}

/* --- issuers: --------------------------------------------------------------------- */

static void
parse_algorithms(struct pol_ctx *ctx, const struct pol_node *map, struct pol_issuer *is)
{
    const struct pol_node *seq = pol_map_get(map, "algorithms");
    char desc[POL_DESC_MAX];
    size_t saved, i;

    if (seq == NULL) {
        pol_err_missing(ctx, map, "algorithms");
        return;
    }
    saved = pol_kp_key(ctx, "algorithms");
    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        goto out;
    if (seq->nkids == 0 || seq->nkids > PC_CONF_MAX_LIST) {
        pol_err(ctx, seq, "expected 1 to %d algorithms, got %zu", PC_CONF_MAX_LIST, seq->nkids);
        goto out;
    }
    for (i = 0; i < seq->nkids; i++) {
        const struct pol_node *a = seq->kids[i];
        size_t s2 = pol_kp_idx(ctx, i);
        unsigned bit = a->kind == POL_NODE_SCALAR ? pol_alg_from_name(a->str, a->len) : 0;
        if (bit != 0)
            is->algorithms |= bit;
        else if (a->kind == POL_NODE_SCALAR && pc_str_eq_nocase(a->str, a->len, "none", 4))
            pol_err(ctx, a, "none is never accepted: every token must be signed");
        else if (a->kind == POL_NODE_SCALAR && a->len == 5 && memcmp(a->str, "HS", 2) == 0 &&
                 (strcmp(a->str + 2, "256") == 0 || strcmp(a->str + 2, "384") == 0 ||
                  strcmp(a->str + 2, "512") == 0))
            pol_err(ctx, a, "algorithm %s is refused: HMAC with a public JWKS allows key confusion",
                    a->str);
        else
            pol_err(ctx, a,
                    "expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, "
                    "ES512, EdDSA, got %s",
                    pol_node_desc(a, desc, sizeof(desc)));
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

static bool
https_url_ok(const char *s, size_t len)
{
    static const char pfx[] = "https://";

    if (len <= sizeof(pfx) - 1 || memcmp(s, pfx, sizeof(pfx) - 1) != 0)
        return false;
    /* an authority must follow, and nothing that would need quoting */
    return s[sizeof(pfx) - 1] != '/' && pc_str_is_token(s, len);
}

static void
parse_issuer(struct pol_ctx *ctx, const struct pol_node *map, struct pol_issuer *is)
{
    static const char *const keys[] = {
        "issuer",     "jwks_uri", "jwks_file",       "ca_file",
        "algorithms", "leeway",   "max_token_bytes", "min_refetch_interval",
        "max_stale",  NULL};
    const struct pol_node *v;
    char desc[POL_DESC_MAX];
    uint64_t x;

    is->leeway_ms = 30000;
    is->max_token_bytes = POL_TOKEN_DEF_BYTES;
    is->min_refetch_interval_ms = 5000;
    is->max_stale_ms = 86400000;
    if (!pol_expect(ctx, map, POL_NODE_MAP))
        return;
    pol_check_keys(ctx, map, keys);
    pol_get_str(ctx, map, "issuer", true, "the exact iss value", &is->issuer);
    if (pol_get_str(ctx, map, "jwks_uri", false, "an https:// URL", &is->jwks_uri) == PC_OK &&
        !https_url_ok(is->jwks_uri, strlen(is->jwks_uri))) {
        size_t saved = pol_kp_key(ctx, "jwks_uri");
        v = pol_map_get(map, "jwks_uri");
        pol_err(ctx, v, "expected an https:// URL, got %s", pol_node_desc(v, desc, sizeof(desc)));
        pol_kp_pop(ctx, saved);
    }
    pol_get_path(ctx, map, "jwks_file", false, &is->jwks_file);
    if (pol_map_get(map, "jwks_uri") != NULL && pol_map_get(map, "jwks_file") != NULL)
        pol_err(ctx, map, "jwks_uri and jwks_file exclude each other: give exactly one");
    else if (pol_map_get(map, "jwks_uri") == NULL && pol_map_get(map, "jwks_file") == NULL)
        pol_err(ctx, map, "missing jwks_uri or jwks_file (exactly one is required)");
    if (pol_get_path(ctx, map, "ca_file", false, &is->ca_file) == PC_OK &&
        pol_map_get(map, "jwks_uri") == NULL) {
        size_t saved = pol_kp_key(ctx, "ca_file");
        pol_err(ctx, pol_map_get(map, "ca_file"), "ca_file applies to jwks_uri only");
        pol_kp_pop(ctx, saved);
    }
    parse_algorithms(ctx, map, is);
    pol_get_duration(ctx, map, "leeway", 0, POL_LEEWAY_MAX_MS, &is->leeway_ms);
    if (pol_get_size(ctx, map, "max_token_bytes", POL_TOKEN_MIN_BYTES, POL_TOKEN_MAX_BYTES, &x) ==
        PC_OK)
        is->max_token_bytes = (size_t)x;
    pol_get_duration(ctx, map, "min_refetch_interval", POL_REFETCH_MIN_MS, POL_REFETCH_MAX_MS,
                     &is->min_refetch_interval_ms);
    pol_get_duration(ctx, map, "max_stale", 0, POL_STALE_MAX_MS, &is->max_stale_ms);
}

void
pol_issuers_parse(struct pol_ctx *ctx, const struct pol_node *root)
{
    struct pol_config *c = ctx->cfg;
    const struct pol_node *v = pol_map_get(root, "issuers");
    char desc[POL_DESC_MAX];
    size_t saved, i, n;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "issuers");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    n = POL_MAP_PAIRS(v);
    if (n > PC_CONF_MAX_ISSUERS) {
        pol_err(ctx, v, "at most %d issuers, got %zu", PC_CONF_MAX_ISSUERS, n);
        goto out;
    }
    c->issuers = pc_xcalloc(n, sizeof(*c->issuers));
    c->nissuers = n;
    for (i = 0; i < n; i++) {
        const struct pol_node *k = POL_MAP_KEY(v, i);
        struct pol_issuer *is = &c->issuers[i];
        size_t s2;
        if (!pol_name_ok(k->str, k->len))
            pol_err(ctx, k,
                    "expected an issuer name of 1 to %d letters, digits, '.', '_' or '-', "
                    "got %s",
                    PC_CONF_MAX_NAME, pol_node_desc(k, desc, sizeof(desc)));
        is->name = pc_xstrndup(k->str, k->len);
        is->pos.file = k->file;
        is->pos.line = k->line;
        is->pos.col = k->col;
        is->index = i;
        s2 = pol_kp_key(ctx, is->name);
        parse_issuer(ctx, POL_MAP_VAL(v, i), is);
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

void
pol_issuer_clear(struct pol_issuer *is)
{
    free(is->name);
    free(is->issuer);
    free(is->jwks_uri);
    free(is->jwks_file);
    free(is->ca_file);
    memset(is, 0, sizeof(*is));
}

/* --- redis: ------------------------------------------------------------------------- */

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %-decode s[0..len) into a new string; NULL on a bad escape or a NUL. */
static char *
pct_decode(const char *s, size_t len)
{
    char *out = pc_xmalloc(len + 1);
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        hi = len - i >= 3 ? hexval(s[i + 1]) : -1;
        lo = len - i >= 3 ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            pc_free_secret(out, len + 1);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* unix:///abs/path[?db=N] */
static const char *
parse_unix_url(const char *s, size_t len, struct pol_redis *r)
{
    const char *q = memchr(s, '?', len);
    size_t plen = q != NULL ? (size_t)(q - s) : len;
    uint64_t db = 0;

    if (plen == 0 || s[0] != '/')
        return "unix:// needs an absolute socket path (unix:///run/redis.sock)";
    if (plen >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
        return "the socket path is too long for a unix socket";
    if (q != NULL) {
        size_t qlen = len - plen - 1;
        if (qlen < 3 || memcmp(q + 1, "db=", 3) != 0 ||
            pc_parse_u64(q + 4, qlen - 3, POL_REDIS_MAX_DB, &db) != PC_OK)
            return "the only query is ?db=N with N from 0 to 15";
    }
    r->path = pc_xstrndup(s, plen);
    r->db = (unsigned)db;
    return NULL;
}

/* [user:password@]host[:port][/db] */
static const char *
parse_tcp_url(const char *s, size_t len, struct pol_redis *r)
{
    const char *at = memrchr(s, '@', len), *hp, *slash;
    struct pol_hostport h;
    char v6[64];
    unsigned char probe[16];
    size_t hplen, i;
    uint64_t db = 0;
    const char *why;

    if (at != NULL) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (colon == NULL)
            return "the user information must be user:password or :password";
        if (colon > s) {
            r->user = pct_decode(s, (size_t)(colon - s));
            if (r->user == NULL)
                return "bad %-escape in the user name";
        }
        r->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
        if (r->password == NULL)
            return "bad %-escape in the password";
        if (r->password[0] == '\0')
            return "the password is empty";
    }
    hp = at != NULL ? at + 1 : s;
    hplen = len - (size_t)(hp - s);
    slash = memchr(hp, '/', hplen);
    if (slash != NULL) {
        size_t dblen = hplen - (size_t)(slash - hp) - 1;
        if (dblen != 0 && pc_parse_u64(slash + 1, dblen, POL_REDIS_MAX_DB, &db) != PC_OK)
            return "the database must be a number from 0 to 15";
        hplen = (size_t)(slash - hp);
    }
    why = pol_hostport_parse(hp, hplen, &h);
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
    r->host = pc_xstrndup(h.host, h.hostlen);
    for (i = 0; r->host[i] != '\0'; i++)
        if (r->host[i] >= 'A' && r->host[i] <= 'Z')
            r->host[i] = (char)(r->host[i] + 32);
    r->port = h.has_port ? h.port : POL_REDIS_PORT;
    r->db = (unsigned)db;
    return NULL;
}

/* Never quote the URL: it may hold a password. */
static void
parse_redis_url(struct pol_ctx *ctx, const struct pol_node *n, struct pol_redis *r)
{
    const char *why;

    if (n->kind != POL_NODE_SCALAR || pol_node_is_null(n) || n->len == 0) {
        pol_err(ctx, n, "expected a redis:// or unix:// URL, got %s",
                n->kind == POL_NODE_MAP   ? "a mapping"
                : n->kind == POL_NODE_SEQ ? "a sequence"
                                          : "an empty value");
        return;
    }
    if (!pc_str_is_token(n->str, n->len))
        why = "spaces and control characters are not allowed";
    else if (n->len > 8 && memcmp(n->str, "redis://", 8) == 0)
        why = parse_tcp_url(n->str + 8, n->len - 8, r);
    else if (n->len > 7 && memcmp(n->str, "unix://", 7) == 0)
        why = parse_unix_url(n->str + 7, n->len - 7, r);
    else
        why = "the scheme must be redis:// or unix://";
    if (why != NULL) {
        pol_err(ctx, n,
                "expected redis://[user:password@]host[:port][/db] or unix:///path[?db=N]: %s "
                "(the value is not shown: it may hold a password)",
                why);
        return;
    }
    r->url = pc_xstrndup(n->str, n->len);
}

void
pol_redis_parse(struct pol_ctx *ctx, const struct pol_node *root)
{
    static const char *const keys[] = {"url", "timeout", NULL};
    const struct pol_node *v = pol_map_get(root, "redis"), *u;
    struct pol_redis *r;
    size_t saved, s2;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "redis");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    r = pc_xcalloc(1, sizeof(*r));
    r->port = POL_REDIS_PORT;
    r->timeout_ms = 25;
    ctx->cfg->redis = r;
    pol_check_keys(ctx, v, keys);
    u = pol_map_get(v, "url");
    if (u == NULL) {
        pol_err_missing(ctx, v, "url");
    } else {
        s2 = pol_kp_key(ctx, "url");
        parse_redis_url(ctx, u, r);
        pol_kp_pop(ctx, s2);
    }
    pol_get_duration(ctx, v, "timeout", 1, POL_REDIS_TMO_MAX_MS, &r->timeout_ms);
out:
    pol_kp_pop(ctx, saved);
}

void
pol_redis_free(struct pol_redis *r)
{
    if (r == NULL)
        return;
    pc_free_secret_str(r->url);
    free(r->host);
    free(r->path);
    pc_free_secret_str(r->user);
    pc_free_secret_str(r->password);
    free(r);
}
