/*
 * policy/ internals shared by pol_*.c: the YAML DOM (pol_yaml.c), the load
 * context with its error list and key path (pol_schema.c), and the schema
 * pieces each file implements.  Nothing here is for other modules.
 */
#ifndef POL_INTERNAL_H
#define POL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pc_err.h"
#include "common/pc_limits.h"
#include "policy/pol.h"

/* --- the YAML DOM (pol_yaml.c) ------------------------------------------- */

enum pol_node_kind { POL_NODE_SCALAR, POL_NODE_SEQ, POL_NODE_MAP };

/*
 * One YAML node.  Scalars own a NUL-terminated copy of their value (no
 * embedded NUL, at most PC_CONF_MAX_STR bytes).  A sequence holds nkids
 * items; a mapping holds nkids / 2 pairs as kids[2i] (a scalar key) and
 * kids[2i + 1] (its value), keys unique.  Scalars are wiped when freed.
 */
struct pol_node {
    enum pol_node_kind kind;
    bool quoted;      /* scalar written quoted or as a block: never null */
    const char *file; /* interned by the load context */
    unsigned line;    /* 1-based */
    unsigned col;     /* 1-based */
    char *str;        /* scalar value */
    size_t len;
    struct pol_node **kids;
    size_t nkids;
    size_t cap;
};

#define POL_MAP_PAIRS(n)  ((n)->nkids / 2)
#define POL_MAP_KEY(n, i) ((n)->kids[2 * (i)])
#define POL_MAP_VAL(n, i) ((n)->kids[2 * (i) + 1])

struct pol_ctx;

/*
 * Parse buf[0..len) (one document at most) into *out; *out is NULL for an
 * empty stream.  Refuses anchors, aliases, tags, duplicate keys, non-scalar
 * keys, several documents, nesting above PC_CONF_MAX_DEPTH, more than
 * PC_CONF_MAX_NODES nodes, scalars above PC_CONF_MAX_STR and NUL bytes.
 * Every refusal is added to ctx's errors as "file:line:col: ..." and the
 * return is PC_ERR_INVALID (PC_ERR_TOO_LARGE above PC_CONF_MAX_BYTES).
 */
int pol_yaml_parse(struct pol_ctx *ctx, const char *file, const char *buf, size_t len,
                   struct pol_node **out);
void pol_node_free(struct pol_node *n);

/* --- the load context (pol_schema.c) ------------------------------------- */

#define POL_KEYPATH_MAX 256 /* "routes[12].jwt.claims_to_headers.email" and more */

/* What the route pass keeps per committed route until the table is built. */
struct pol_route_meta {
    size_t upstream;         /* index into cfg->upstreams */
    size_t file_index;       /* position under its file's routes: */
    struct pol_pos name_pos; /* of the name value */
};

struct pol_ctx {
    struct pol_errors *errs; /* NULL: count only */
    size_t nerr;             /* errors reported so far, kept or not */
    char **files;            /* interned file names (moved into the config) */
    size_t nfiles;
    const char *dir;              /* absolute directory of the file being read */
    bool allow_files;             /* include: and tls_policy: may read files */
    struct pol_config *cfg;       /* being built; NULL for a tls-policy load */
    struct pol_route_meta *rmeta; /* parallel to cfg->routes */
    size_t routes_cap;            /* allocated cfg->routes and rmeta */
    size_t upstreams_cap;         /* allocated cfg->upstreams */
    char kp[POL_KEYPATH_MAX];     /* key path of the node being checked */
    size_t kplen;
};

void pol_ctx_init(struct pol_ctx *ctx, struct pol_errors *errs);
/** Free what the context still owns (interned names not handed over). */
void pol_ctx_clear(struct pol_ctx *ctx);
/** A stable copy of `name` owned by ctx (and later by the config). */
const char *pol_ctx_intern(struct pol_ctx *ctx, const char *name);

/** Add "message" as is (no position). */
void pol_errf(struct pol_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Add "file:line:col: message" (no key path: YAML syntax). */
void pol_err_at(struct pol_ctx *ctx, const char *file, unsigned line, unsigned col, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
/** Add "file:line:col: keypath: message" at node `at`. */
void pol_err(struct pol_ctx *ctx, const struct pol_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Push ".key" / "[i]" on the key path; returns what pol_kp_pop() restores. */
size_t pol_kp_key(struct pol_ctx *ctx, const char *key);
size_t pol_kp_idx(struct pol_ctx *ctx, size_t i);
void pol_kp_pop(struct pol_ctx *ctx, size_t saved);

#define POL_DESC_MAX 96 /* a quoted value in a message: cut after that */

/** "null", "a sequence", "a mapping" or the quoted, escaped value. */
const char *pol_node_desc(const struct pol_node *n, char *buf, size_t size);
bool pol_node_is_null(const struct pol_node *n);
/** "8k" for 8192, "1m", "30s", "24h": bounds in messages. */
const char *pol_fmt_size(uint64_t v, char *buf, size_t size);
const char *pol_fmt_ms(uint64_t ms, char *buf, size_t size);

/** The value under `key`, or NULL. */
const struct pol_node *pol_map_get(const struct pol_node *map, const char *key);
/** Report every key of `map` not in the NULL-terminated `allowed`. */
bool pol_check_keys(struct pol_ctx *ctx, const struct pol_node *map, const char *const *allowed);
/** Report "expected a mapping/sequence, got ..." unless n has that kind. */
bool pol_expect(struct pol_ctx *ctx, const struct pol_node *n, enum pol_node_kind kind);
/** Report "missing required key" at `map`. */
void pol_err_missing(struct pol_ctx *ctx, const struct pol_node *map, const char *key);

/*
 * Scalar checks on node n (the key path already names it).  Each returns
 * PC_OK and sets *out, or reports "expected ..., got ..." and returns
 * PC_ERR_INVALID leaving *out untouched.
 */
/* a non-empty scalar without control bytes; *out borrows the node's text */
int pol_node_text(struct pol_ctx *ctx, const struct pol_node *n, const char *what,
                  const char **out);
int pol_node_bool(struct pol_ctx *ctx, const struct pol_node *n, bool *out);
int pol_node_u64(struct pol_ctx *ctx, const struct pol_node *n, uint64_t min, uint64_t max,
                 uint64_t *out);
int pol_node_duration(struct pol_ctx *ctx, const struct pol_node *n, uint64_t min, uint64_t max,
                      uint64_t *out);
int pol_node_size(struct pol_ctx *ctx, const struct pol_node *n, uint64_t min, uint64_t max,
                  uint64_t *out);
/* one of the NULL-terminated names; *out is its index */
int pol_node_enum(struct pol_ctx *ctx, const struct pol_node *n, const char *const *names,
                  unsigned *out);
/* a file path, made absolute against ctx->dir; *out is new (free()) */
int pol_node_path(struct pol_ctx *ctx, const struct pol_node *n, char **out);

/*
 * The same for map[key]: PC_OK, PC_ERR_NOT_FOUND when absent (reported
 * only when `required`), PC_ERR_INVALID when present but wrong.
 */
int pol_get_str(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool required,
                const char *what, char **out);
int pol_get_path(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool required,
                 char **out);
int pol_get_bool(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool *out);
int pol_get_u64(struct pol_ctx *ctx, const struct pol_node *map, const char *key, uint64_t min,
                uint64_t max, uint64_t *out);
int pol_get_duration(struct pol_ctx *ctx, const struct pol_node *map, const char *key, uint64_t min,
                     uint64_t max, uint64_t *out);
int pol_get_size(struct pol_ctx *ctx, const struct pol_node *map, const char *key, uint64_t min,
                 uint64_t max, uint64_t *out);
int pol_get_enum(struct pol_ctx *ctx, const struct pol_node *map, const char *key,
                 const char *const *names, unsigned *out);

/*
 * Read a configuration file (at most PC_CONF_MAX_BYTES) with pc_file_read.
 * On failure returns its code and `why` (whylen bytes) says why ("No such
 * file or directory", "not a regular file", ...).
 */
#define POL_WHY_MAX 128 /* a reason in a message */
int pol_file_read(const char *path, char **buf, size_t *len, char *why, size_t whylen);

/** ASCII lower-case in place. */
void pol_str_lower(char *s);
#define POL_STR_(x)      #x
#define POL_STRINGIFY(x) POL_STR_(x)
/** Route and issuer names: [A-Za-z0-9._-]{1,PC_CONF_MAX_NAME}. */
bool pol_name_ok(const char *s, size_t len);
/** Letters, digits, '-' and '_' in dot-separated labels of 1..63, 1..253 bytes. */
bool pol_dns_name_ok(const char *s, size_t len);

/* "host", "host:port", "[v6]:port" split; pure, for URLs and addresses. */
struct pol_hostport {
    const char *host; /* without brackets */
    size_t hostlen;
    bool v6;       /* was in brackets */
    bool has_port; /* ":port" was written */
    uint16_t port;
};
/* Returns NULL on success or a constant reason (never quoting the input). */
const char *pol_hostport_parse(const char *s, size_t len, struct pol_hostport *hp);

/* --- schema pieces --------------------------------------------------------- */

/* pol_config.c: the keys of the main file except include: */
#define POL_UP_TIMEOUT_MIN 10      /* limits.upstream_timeout and a route's timeout, ms */
#define POL_UP_TIMEOUT_MAX 3600000 /* ditto */
void pol_limits_default(struct pol_limits *l);
void pol_main_parse(struct pol_ctx *ctx, const struct pol_node *root);

/* pol_issuer.c: issuers: and redis: of the main file */
void pol_issuers_parse(struct pol_ctx *ctx, const struct pol_node *map);
void pol_issuer_clear(struct pol_issuer *is);
void pol_redis_parse(struct pol_ctx *ctx, const struct pol_node *map);
void pol_redis_free(struct pol_redis *r);

/* pol_rule.c: the parts of one route map (the key path names the route) */
void pol_rule_mtls(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r);
/* jwt: is required; *off is true when it says off */
void pol_rule_jwt(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r,
                  bool *off);
void pol_rule_rate_limit(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r,
                         bool jwt_off);
void pol_rule_headers(struct pol_ctx *ctx, const struct pol_node *route, struct pol_route *r);
void pol_rule_header_clash(struct pol_ctx *ctx, const struct pol_node *route,
                           const struct pol_route *r);

/* pol_route.c: routes: of any file (the key path names the sequence) */
void pol_routes_parse(struct pol_ctx *ctx, const struct pol_node *seq);
/* after every file: duplicate names, overlaps, upstream pointers, table */
void pol_routes_finish(struct pol_ctx *ctx);
void pol_route_clear(struct pol_route *r);
void pol_upstream_clear(struct pol_upstream *u);

/* pol_table.c */
struct pol_table *pol_table_build(const struct pol_route *routes, size_t n);
void pol_table_free(struct pol_table *t);

/* pol_tls.c: a whole tls-policy document into t (what it omits: defaults) */
void pol_tls_parse(struct pol_ctx *ctx, const struct pol_node *root, struct pol_tls *t);
/*
 * Read, parse and check the file `path` into *t, replaced only on success.
 * A read failure is reported at node `at` (or as "path: why" when NULL).
 */
int pol_tls_read(struct pol_ctx *ctx, const char *path, const struct pol_node *at,
                 struct pol_tls *t);

/* pol_certmgr_cert.c: certificates: of certmgr.yaml */
void pol_cm_certs_parse(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c);
void pol_cm_cert_clear(struct pol_cm_cert *cert);
/*
 * map[key] as a command: a string split at blanks (no shell) or a sequence
 * of words, 1..POL_CM_MAX_ARGV; *out is a new NULL-terminated argv
 * (pol_cm_argv_free()).  PC_ERR_NOT_FOUND when absent (not reported).
 */
int pol_cm_get_argv(struct pol_ctx *ctx, const struct pol_node *map, const char *key, char ***out,
                    size_t *argc);
void pol_cm_argv_free(char **v);

#endif
