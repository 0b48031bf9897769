/*
 * portcullis.yaml: the keys of the main file (listen, threads, user,
 * paths, tls_policy, admin, log, limits; routes: is handed to
 * pol_route.c).  Issuers and redis live in pol_issuer.c; include: and the
 * load itself in pol_load.c.
 *
 * Contracts of the functions defined here: policy/internal.h.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/pc_limits.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define POL_THREADS_MAX   256 /* threads: upper bound */
#define POL_USER_MAX      32  /* user: name length (useradd's limit) */
#define POL_ADDR_HOST_MAX 96  /* numeric host with an IPv6 scope, bytes */

/* Bounds of the limits: durations (ms). */
#define POL_HANDSHAKE_MIN 1000
#define POL_HANDSHAKE_MAX 300000
#define POL_REQ_MIN       1000
#define POL_REQ_MAX       3600000
#define POL_KEEPALIVE_MAX 600000
#define POL_SHUTDOWN_MAX  3600000

/* --- addresses ------------------------------------------------------------------ */

/* "IPv4:port" or "[IPv6]:port", numeric only, into *ss. */
static int
parse_address(struct pol_ctx *ctx, const struct pol_node *n, char **text,
              struct sockaddr_storage *ss, socklen_t *sl)
{
    struct addrinfo hints, *res = NULL;
    struct pol_hostport hp;
    char host[POL_ADDR_HOST_MAX], port[8], desc[POL_DESC_MAX];
    const char *s, *why;
    unsigned char probe[sizeof(struct in6_addr)];
    int rc = PC_ERR_INVALID, gai;

    if (pol_node_text(ctx, n, "an address like 0.0.0.0:443 or [::1]:443", &s) != PC_OK)
        return PC_ERR_INVALID;
    why = pol_hostport_parse(s, n->len, &hp);
    if (why == NULL && !hp.has_port)
        why = "the port is missing";
    if (why == NULL && hp.hostlen >= sizeof(host))
        why = "the host is too long";
    if (why != NULL) {
        pol_err(ctx, n, "expected IPv4:port or [IPv6]:port, got %s: %s",
                pol_node_desc(n, desc, sizeof(desc)), why);
        return PC_ERR_INVALID;
    }
    memcpy(host, hp.host, hp.hostlen);
    host[hp.hostlen] = '\0';
    snprintf(port, sizeof(port), "%u", (unsigned)hp.port);
    /* glibc's AI_NUMERICHOST takes "127.1" and "0x7f.1": insist on dotted quads */
    if (!hp.v6 && inet_pton(AF_INET, host, probe) != 1) {
        pol_err(ctx, n, "expected a numeric IPv4 address (host names are not accepted), got %s",
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = hp.v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || res == NULL || res->ai_addrlen > sizeof(*ss)) {
        pol_err(ctx, n, "expected a numeric %s address, got %s", hp.v6 ? "IPv6" : "IPv4",
                pol_node_desc(n, desc, sizeof(desc)));
        goto out;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = (socklen_t)res->ai_addrlen;
    *text = pc_xstrndup(s, n->len);
    rc = PC_OK;
out:
    if (res != NULL)
        freeaddrinfo(res);
    return rc;
}

static bool
addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        const unsigned char *b = a->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && b[12] == 127;
    }
    return false;
}

static bool
addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

/* --- listen: ----------------------------------------------------------------------- */

static void
parse_certs(struct pol_ctx *ctx, const struct pol_node *seq, struct pol_listener *l)
{
    static const char *const keys[] = {"cert", "key", NULL};
    size_t i;

    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        return;
    if (seq->nkids == 0 || seq->nkids > PC_CONF_MAX_CERTS) {
        pol_err(ctx, seq, "expected 1 to %d certificates, got %zu", PC_CONF_MAX_CERTS, seq->nkids);
        return;
    }
    l->certs = pc_xcalloc(seq->nkids, sizeof(*l->certs));
    l->ncerts = seq->nkids;
    for (i = 0; i < seq->nkids; i++) {
        const struct pol_node *c = seq->kids[i];
        size_t saved = pol_kp_idx(ctx, i);
        if (pol_expect(ctx, c, POL_NODE_MAP)) {
            pol_check_keys(ctx, c, keys);
            pol_get_path(ctx, c, "cert", true, &l->certs[i].cert);
            pol_get_path(ctx, c, "key", true, &l->certs[i].key);
        }
        pol_kp_pop(ctx, saved);
    }
}

static void
parse_listener(struct pol_ctx *ctx, const struct pol_node *n, struct pol_listener *l)
{
    static const char *const keys[] = {"address", "certificates", "client_ca",
                                       "crl",     "plain",        NULL};
    static const char *const tls_only[] = {"certificates", "client_ca", "crl"};
    const struct pol_node *v;
    size_t saved, i;

    if (!pol_expect(ctx, n, POL_NODE_MAP))
        return;
    l->pos.file = n->file;
    l->pos.line = n->line;
    l->pos.col = n->col;
    pol_check_keys(ctx, n, keys);
    pol_get_bool(ctx, n, "plain", &l->plain);
    v = pol_map_get(n, "address");
    if (v == NULL) {
        pol_err_missing(ctx, n, "address");
    } else {
        saved = pol_kp_key(ctx, "address");
        parse_address(ctx, v, &l->address, &l->addr, &l->addrlen);
        pol_kp_pop(ctx, saved);
    }
    if (l->plain) {
        for (i = 0; i < sizeof(tls_only) / sizeof(tls_only[0]); i++) {
            v = pol_map_get(n, tls_only[i]);
            if (v == NULL)
                continue;
            saved = pol_kp_key(ctx, tls_only[i]);
            pol_err(ctx, v,
                    "not allowed on a plain listener (plain: true serves only ACME http-01 "
                    "and a redirect to https)");
            pol_kp_pop(ctx, saved);
        }
        return;
    }
    v = pol_map_get(n, "certificates");
    if (v == NULL) {
        pol_err(ctx, n, "a TLS listener needs certificates: (or plain: true)");
    } else {
        saved = pol_kp_key(ctx, "certificates");
        parse_certs(ctx, v, l);
        pol_kp_pop(ctx, saved);
    }
    if (pol_get_path(ctx, n, "client_ca", false, &l->client_ca) == PC_ERR_NOT_FOUND)
        pol_err(ctx, n, "client_ca is mandatory: no client certificate, no TLS session");
    pol_get_path(ctx, n, "crl", false, &l->crl);
}

static void
parse_listen(struct pol_ctx *ctx, const struct pol_node *root)
{
    struct pol_config *c = ctx->cfg;
    const struct pol_node *seq = pol_map_get(root, "listen");
    size_t saved, i, j;

    if (seq == NULL) {
        pol_err_missing(ctx, root, "listen");
        return;
    }
    saved = pol_kp_key(ctx, "listen");
    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        goto out;
    if (seq->nkids == 0 || seq->nkids > PC_CONF_MAX_LISTENERS) {
        pol_err(ctx, seq, "expected 1 to %d listeners, got %zu", PC_CONF_MAX_LISTENERS, seq->nkids);
        goto out;
    }
    c->listeners = pc_xcalloc(seq->nkids, sizeof(*c->listeners));
    c->nlisteners = seq->nkids;
    for (i = 0; i < seq->nkids; i++) {
        size_t s2 = pol_kp_idx(ctx, i);
        parse_listener(ctx, seq->kids[i], &c->listeners[i]);
        for (j = 0; j < i && c->listeners[i].address != NULL; j++) {
            if (c->listeners[j].address == NULL ||
                !addr_same(&c->listeners[i].addr, &c->listeners[j].addr))
                continue;
            pol_err(ctx, pol_map_get(seq->kids[i], "address"),
                    "address %s is already used by listen[%zu] (line %u)", c->listeners[i].address,
                    j, c->listeners[j].pos.line);
            break;
        }
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

/* --- scalars of the main file ---------------------------------------------------------- */

static void
parse_threads(struct pol_ctx *ctx, const struct pol_node *root)
{
    const struct pol_node *v = pol_map_get(root, "threads");
    char desc[POL_DESC_MAX];
    uint64_t n = 0;
    long cpus;
    size_t saved;

    if (v == NULL || (v->kind == POL_NODE_SCALAR && strcmp(v->str, "auto") == 0)) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ctx->cfg->threads = cpus < 1                 ? 1
                            : cpus > POL_THREADS_MAX ? POL_THREADS_MAX
                                                     : (unsigned)cpus;
        return;
    }
    saved = pol_kp_key(ctx, "threads");
    if (v->kind != POL_NODE_SCALAR || pc_parse_u64(v->str, v->len, POL_THREADS_MAX, &n) != PC_OK ||
        n == 0 || v->str[0] == '0')
        pol_err(ctx, v, "expected auto or an integer in 1..%d, got %s", POL_THREADS_MAX,
                pol_node_desc(v, desc, sizeof(desc)));
    else
        ctx->cfg->threads = (unsigned)n;
    pol_kp_pop(ctx, saved);
}

static bool
user_name_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > POL_USER_MAX)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        bool other = (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
        if (!alpha && (i == 0 || !other))
            return false;
    }
    return true;
}

static void
parse_user(struct pol_ctx *ctx, const struct pol_node *root)
{
    const struct pol_node *v = pol_map_get(root, "user");
    char desc[POL_DESC_MAX];
    const char *s;
    size_t saved;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "user");
    if (pol_node_text(ctx, v, "a user name", &s) == PC_OK) {
        if (user_name_ok(s, v->len))
            ctx->cfg->user = pc_xstrndup(s, v->len);
        else
            pol_err(ctx, v,
                    "expected a user name (a letter or '_', then letters, digits, '_', '-' "
                    "or '.', at most %d bytes), got %s",
                    POL_USER_MAX, pol_node_desc(v, desc, sizeof(desc)));
    }
    pol_kp_pop(ctx, saved);
}

static void
parse_tls_policy(struct pol_ctx *ctx, const struct pol_node *root)
{
    const struct pol_node *v = pol_map_get(root, "tls_policy");
    char *path = NULL;
    size_t saved;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "tls_policy");
    if (pol_node_path(ctx, v, &path) != PC_OK)
        goto out;
    if (!ctx->allow_files) {
        pol_err(ctx, v, "reading other files is not allowed in this load");
        goto out;
    }
    pol_tls_read(ctx, path, v, &ctx->cfg->tls);
out:
    free(path);
    pol_kp_pop(ctx, saved);
}

static void
parse_admin(struct pol_ctx *ctx, const struct pol_node *root)
{
    static const char *const keys[] = {"listen", "allow_public", NULL};
    struct pol_config *c = ctx->cfg;
    const struct pol_node *v = pol_map_get(root, "admin"), *l;
    bool allow_public = false;
    size_t saved, s2;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "admin");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    pol_get_bool(ctx, v, "allow_public", &allow_public);
    l = pol_map_get(v, "listen");
    if (l == NULL) {
        pol_err_missing(ctx, v, "listen");
        goto out;
    }
    s2 = pol_kp_key(ctx, "listen");
    if (parse_address(ctx, l, &c->admin_listen, &c->admin_addr, &c->admin_addrlen) == PC_OK &&
        !allow_public && !addr_is_loopback(&c->admin_addr))
        pol_err(ctx, l, "admin.listen must be a loopback address unless allow_public: true");
    pol_kp_pop(ctx, s2);
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_log(struct pol_ctx *ctx, const struct pol_node *root)
{
    static const char *const keys[] = {"access", "level", NULL};
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    static const int syslog_levels[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    struct pol_config *c = ctx->cfg;
    const struct pol_node *v = pol_map_get(root, "log"), *a;
    char desc[POL_DESC_MAX];
    const char *s;
    unsigned lvl;
    size_t saved, s2;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "log");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    if (pol_get_enum(ctx, v, "level", levels, &lvl) == PC_OK)
        c->log_level = syslog_levels[lvl];
    a = pol_map_get(v, "access");
    if (a == NULL)
        goto out;
    s2 = pol_kp_key(ctx, "access");
    if (pol_node_text(ctx, a, "stdout, stderr, off or a path", &s) == PC_OK) {
        if (strcmp(s, "stdout") == 0) {
            c->access_log = POL_LOG_STDOUT;
        } else if (strcmp(s, "stderr") == 0) {
            c->access_log = POL_LOG_STDERR;
        } else if (strcmp(s, "off") == 0) {
            c->access_log = POL_LOG_OFF;
        } else if (strchr(s, '/') == NULL) {
            /* a bare word is a typo of a keyword far more often than a file name */
            pol_err(ctx, a, "expected stdout, stderr, off or a path containing '/', got %s",
                    pol_node_desc(a, desc, sizeof(desc)));
        } else if (pol_node_path(ctx, a, &c->access_log_path) == PC_OK) {
            c->access_log = POL_LOG_FILE;
        }
    }
    pol_kp_pop(ctx, s2);
out:
    pol_kp_pop(ctx, saved);
}

void
pol_limits_default(struct pol_limits *l)
{
    l->max_header_bytes = PC_HTTP_MAX_HEADER_BYTES;
    l->max_headers = PC_HTTP_MAX_HEADERS;
    l->max_body_bytes = PC_HTTP_MAX_BODY_BYTES;
    l->handshake_timeout_ms = PC_HTTP_HANDSHAKE_TIMEOUT_MS;
    l->request_timeout_ms = PC_HTTP1_REQ_TIMEOUT_MS;
    l->http2_idle_timeout_ms = PC_HTTP2_IDLE_TIMEOUT_MS;
    l->http2_max_concurrent_streams = PC_HTTP2_MAX_STREAMS;
    l->http2_max_resets = PC_HTTP2_MAX_RESETS;
    l->upstream_timeout_ms = PC_UPSTREAM_TIMEOUT_MS;
    l->upstream_keepalive_ms = PC_UPSTREAM_KEEPALIVE_MS;
    l->shutdown_timeout_ms = PC_SHUTDOWN_TIMEOUT_MS;
    l->token_cache_entries = PC_TOKEN_CACHE_ENTRIES;
}

static void
parse_limits(struct pol_ctx *ctx, const struct pol_node *root)
{
    static const char *const keys[] = {"max_header_bytes",
                                       "max_headers",
                                       "max_body_bytes",
                                       "handshake_timeout",
                                       "request_timeout",
                                       "http2_idle_timeout",
                                       "upstream_timeout",
                                       "upstream_keepalive",
                                       "shutdown_timeout",
                                       "http2_max_concurrent_streams",
                                       "http2_max_resets",
                                       "token_cache_entries",
                                       NULL};
    struct pol_limits *l = &ctx->cfg->limits;
    const struct pol_node *v = pol_map_get(root, "limits");
    uint64_t x;
    size_t saved;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "limits");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    if (pol_get_size(ctx, v, "max_header_bytes", 1024, 1024 * 1024, &x) == PC_OK)
        l->max_header_bytes = (size_t)x;
    if (pol_get_u64(ctx, v, "max_headers", 1, 1000, &x) == PC_OK)
        l->max_headers = (size_t)x;
    if (pol_get_size(ctx, v, "max_body_bytes", 0, PC_HTTP_MAX_BODY_CEILING, &x) == PC_OK)
        l->max_body_bytes = (size_t)x;
    pol_get_duration(ctx, v, "handshake_timeout", POL_HANDSHAKE_MIN, POL_HANDSHAKE_MAX,
                     &l->handshake_timeout_ms);
    pol_get_duration(ctx, v, "request_timeout", POL_REQ_MIN, POL_REQ_MAX, &l->request_timeout_ms);
    pol_get_duration(ctx, v, "http2_idle_timeout", POL_REQ_MIN, POL_REQ_MAX,
                     &l->http2_idle_timeout_ms);
    pol_get_duration(ctx, v, "upstream_timeout", POL_UP_TIMEOUT_MIN, POL_UP_TIMEOUT_MAX,
                     &l->upstream_timeout_ms);
    pol_get_duration(ctx, v, "upstream_keepalive", 0, POL_KEEPALIVE_MAX, &l->upstream_keepalive_ms);
    pol_get_duration(ctx, v, "shutdown_timeout", 0, POL_SHUTDOWN_MAX, &l->shutdown_timeout_ms);
    if (pol_get_u64(ctx, v, "http2_max_concurrent_streams", 1, 1000, &x) == PC_OK)
        l->http2_max_concurrent_streams = (uint32_t)x;
    if (pol_get_u64(ctx, v, "http2_max_resets", 1, 100000, &x) == PC_OK)
        l->http2_max_resets = (uint32_t)x;
    if (pol_get_u64(ctx, v, "token_cache_entries", 0, PC_TOKEN_CACHE_MAX, &x) == PC_OK)
        l->token_cache_entries = (size_t)x;
out:
    pol_kp_pop(ctx, saved);
}

/* --- the main file ------------------------------------------------------------------------ */

void
pol_main_parse(struct pol_ctx *ctx, const struct pol_node *root)
{
    static const char *const keys[] = {
        "listen", "threads", "user", "pid_file", "acme_webroot", "tls_policy", "issuers",
        "redis",  "admin",   "log",  "include",  "routes",       "limits",     NULL};
    const struct pol_node *v;

    if (!pol_expect(ctx, root, POL_NODE_MAP))
        return;
    pol_check_keys(ctx, root, keys);
    /* order matters: routes read limits (timeouts) and issuers */
    parse_limits(ctx, root);
    parse_listen(ctx, root);
    parse_threads(ctx, root);
    parse_user(ctx, root);
    pol_get_path(ctx, root, "pid_file", false, &ctx->cfg->pid_file);
    pol_get_path(ctx, root, "acme_webroot", false, &ctx->cfg->acme_webroot);
    parse_tls_policy(ctx, root);
    pol_issuers_parse(ctx, root);
    pol_redis_parse(ctx, root);
    parse_admin(ctx, root);
    parse_log(ctx, root);
    v = pol_map_get(root, "routes");
    if (v != NULL) {
        size_t saved = pol_kp_key(ctx, "routes");
        pol_routes_parse(ctx, v);
        pol_kp_pop(ctx, saved);
    }
}
