/*
 * policy: portcullis.yaml (+ include: policy.d/NAME.yaml) and tls-policy.yaml
 * loaded with libyaml into an immutable, compiled configuration, and the
 * pure evaluation the gateway and `portcullis-admin policy explain` share:
 * route matching and mTLS identity patterns.  No I/O after load; no h2o
 * types.  Runs in the gateway's control thread (load) and in every worker
 * (evaluation, read-only).
 *
 * Every configuration error is reported as "file:line:col: message".
 */
#ifndef POL_H
#define POL_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A position in a configuration file (line and col are 1-based). */
struct pol_pos {
    const char *file; /* owned by the pol_config (interned file names) */
    unsigned line;
    unsigned col;
};

/** Errors collected by a load, each "file:line:col: message". */
struct pol_errors {
    char *msg[32]; /* owned; at most PC_CONF_MAX_ERRORS are kept */
    size_t n;
    size_t dropped; /* errors not kept because the list was full */
};

void pol_errors_clear(struct pol_errors *e);
/** Log every message of e (LOG_ERR, and how many were dropped), then clear it. */
void pol_errors_log(struct pol_errors *e);

/* --- listeners ----------------------------------------------------------- */

struct pol_cert {
    char *cert; /* PEM chain, leaf first */
    char *key;  /* PEM private key */
};

struct pol_listener {
    char *address; /* as written: "0.0.0.0:443", "[::1]:8443" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool plain;             /* redirect to https + ACME http-01 only */
    struct pol_cert *certs; /* chosen by SNI; [0] is the default; none when plain */
    size_t ncerts;
    char *client_ca; /* mandatory unless plain */
    char *crl;       /* optional; NULL when absent */
    struct pol_pos pos;
};

/* --- upstreams ----------------------------------------------------------- */

/* One per distinct (url, ca_file); routes point at them. */
struct pol_upstream {
    char *url;     /* "http://10.0.0.12:8080" (no path, no query, no userinfo) */
    bool tls;      /* https:// */
    char *host;    /* host to connect to, also the TLS name checked (https) */
    uint16_t port; /* explicit or 80/443 */
    char *ca_file; /* https: trust for the upstream; NULL = system store */
    size_t index;  /* position in pol_config.upstreams */
};

/* --- issuers and JWT ------------------------------------------------------ */

enum pol_alg {
    POL_ALG_RS256 = 1u << 0,
    POL_ALG_RS384 = 1u << 1,
    POL_ALG_RS512 = 1u << 2,
    POL_ALG_PS256 = 1u << 3,
    POL_ALG_PS384 = 1u << 4,
    POL_ALG_PS512 = 1u << 5,
    POL_ALG_ES256 = 1u << 6,
    POL_ALG_ES384 = 1u << 7,
    POL_ALG_ES512 = 1u << 8,
    POL_ALG_EDDSA = 1u << 9,
};

/** The bit of a JOSE "alg" name, or 0 for anything we never accept ("none", HS*). */
unsigned pol_alg_from_name(const char *name, size_t len);
/** The JOSE name of one bit ("RS256"); "?" when not exactly one known bit. */
const char *pol_alg_name(unsigned alg);

struct pol_issuer {
    char *name;     /* the key under issuers: */
    char *issuer;   /* exact "iss" */
    char *jwks_uri; /* https:// only; exactly one of jwks_uri / jwks_file */
    char *jwks_file;
    char *ca_file;                    /* trust for jwks_uri; NULL = system store */
    unsigned algorithms;              /* enum pol_alg bits; never empty */
    uint64_t leeway_ms;               /* default 30s, at most 5m */
    size_t max_token_bytes;           /* default 8192 */
    uint64_t min_refetch_interval_ms; /* default 5s */
    uint64_t max_stale_ms;            /* default 24h */
    struct pol_pos pos;
    size_t index;
};

struct pol_claim_header {
    char *claim;  /* top-level claim name */
    char *header; /* lower-case header name sent upstream */
};

struct pol_jwt {
    const struct pol_issuer *issuer; /* resolved from jwt.issuer */
    char *audience;
    char **scopes; /* all required */
    size_t nscopes;
    bool bind_to_client_cert;        /* RFC 8705 cnf."x5t#S256" */
    bool forward_token;              /* default false: Authorization removed */
    struct pol_claim_header *claims; /* claims_to_headers */
    size_t nclaims;
};

/* --- rate limits ---------------------------------------------------------- */

enum pol_rl_key { POL_RL_KEY_IDENTITY, POL_RL_KEY_SUBJECT, POL_RL_KEY_IP, POL_RL_KEY_ROUTE };
enum pol_rl_fail { POL_RL_FAIL_DENY, POL_RL_FAIL_ALLOW, POL_RL_FAIL_LOCAL };

struct pol_ratelimit {
    enum pol_rl_key key;
    uint64_t count;                      /* "100/s": count 100 ... */
    uint64_t period_ms;                  /* ... per 1000 ms */
    uint64_t burst;                      /* default = count; >= 1 */
    enum pol_rl_fail on_backend_failure; /* default deny */
};

struct pol_redis {
    char *url;           /* as written (never logged with its password) */
    char *host;          /* tcp; NULL for unix */
    uint16_t port;       /* default 6379 */
    char *path;          /* unix:///path */
    char *user;          /* ACL user or NULL */
    char *password;      /* NULL when none; wiped on free */
    unsigned db;         /* /0 */
    uint64_t timeout_ms; /* per command, default 25 */
};

/* --- routes ----------------------------------------------------------------- */

enum pol_host_kind {
    POL_HOST_EXACT,    /* "billing.example.com" */
    POL_HOST_WILDCARD, /* "*.example.com": any name ending in ".example.com" */
    POL_HOST_ANY,      /* "*" */
};

enum pol_pat_kind { POL_PAT_URI, POL_PAT_DNS, POL_PAT_EMAIL, POL_PAT_CN };

/*
 * One mtls.allow entry.  URI SAN globs such as "spiffe://td/ns/x" (any "scheme://")
 * are matched against URI SANs; "dns:", "email:", "cn:" prefixes select the other names.  In a glob
 * '*' matches within one segment ('/' for URIs, '.' for DNS names, nothing
 * for email/cn where it matches any run of characters) and '**' matches
 * across segments.  Matching is exact otherwise (DNS: case-insensitive).
 */
struct pol_pattern {
    enum pol_pat_kind kind;
    char *glob;
    char *text; /* as written, for explain and logs */
};

struct pol_header_set {
    char *name; /* lower-case */
    char *value;
};

/* HTTP methods a route may restrict itself to (bit per method). */
enum pol_method {
    POL_M_GET = 1u << 0,
    POL_M_HEAD = 1u << 1,
    POL_M_POST = 1u << 2,
    POL_M_PUT = 1u << 3,
    POL_M_DELETE = 1u << 4,
    POL_M_PATCH = 1u << 5,
    POL_M_OPTIONS = 1u << 6,
    POL_M_OTHER = 1u << 7, /* any method not listed above */
    POL_M_ALL = 0xffu,
};

unsigned pol_method_bit(const char *m, size_t len);

struct pol_route {
    char *name;
    struct pol_pos pos;
    enum pol_host_kind host_kind;
    char *host;        /* lower-case; WILDCARD: the suffix with its dot (".example.com") */
    char *host_text;   /* as written */
    char *path_prefix; /* starts with '/'; default "/" */
    unsigned methods;  /* enum pol_method bits; default POL_M_ALL */
    const struct pol_upstream *upstream;
    uint64_t upstream_timeout_ms; /* route's timeout or limits.upstream_timeout */
    struct pol_pattern *allow;    /* mtls.allow; none = any cert the client CA signed */
    size_t nallow;
    struct pol_jwt *jwt;              /* NULL = "jwt: off" */
    struct pol_ratelimit *rate_limit; /* NULL = no limit */
    struct pol_header_set *hset;      /* headers.set */
    size_t nhset;
    size_t index; /* position in pol_config.routes: metrics use it */
};

/* --- TLS policy (tls-policy.yaml) ------------------------------------------- */

enum pol_tls_profile { POL_TLS_MODERN, POL_TLS_INTERMEDIATE };

struct pol_tls {
    char *path; /* the file it came from; NULL = built-in default (intermediate) */
    enum pol_tls_profile profile;
    char *ciphersuites; /* TLS 1.3 list for SSL_CTX_set_ciphersuites, or NULL = OpenSSL default */
    char *ciphers; /* TLS 1.2 list for SSL_CTX_set_cipher_list (intermediate), or NULL = ours */
    char *groups;  /* "X25519:P-256" for SSL_CTX_set1_groups_list, or NULL = default */
    uint64_t hsts_max_age; /* seconds; 0 = no HSTS header */
    bool hsts_include_subdomains;
    bool hsts_preload;
    uint64_t ticket_rotate_ms; /* 0 = session tickets off */
    /* TLS 1.3 tickets sent after a full handshake (default 1; OpenSSL's 2
     * costs a second copy of the session, peer certificate re-parsed: about
     * a fifth of a handshake's CPU with OpenSSL 3.0) */
    unsigned ticket_count;
};

/* --- limits -------------------------------------------------------------- */

struct pol_limits {
    size_t max_header_bytes;
    size_t max_headers;
    size_t max_body_bytes;
    uint64_t handshake_timeout_ms;
    uint64_t request_timeout_ms; /* HTTP/1.1 request head and idle keep-alive */
    uint64_t http2_idle_timeout_ms;
    uint32_t http2_max_concurrent_streams;
    uint32_t http2_max_resets;
    uint64_t upstream_timeout_ms;
    uint64_t upstream_keepalive_ms;
    uint64_t shutdown_timeout_ms;
    size_t token_cache_entries; /* verified tokens cached per worker; 0 = no cache */
};

/* --- the whole configuration --------------------------------------------- */

enum pol_access_log { POL_LOG_STDOUT, POL_LOG_STDERR, POL_LOG_FILE, POL_LOG_OFF };

struct pol_table; /* compiled route table (opaque) */

struct pol_config {
    char *path; /* the main file */
    struct pol_listener *listeners;
    size_t nlisteners;
    unsigned threads; /* resolved: "auto" = online CPUs */
    char *user;       /* NULL: no privilege drop */
    char *pid_file;   /* NULL: none */
    char *acme_webroot;
    struct pol_tls tls; /* from tls_policy:, or the built-in default */
    struct pol_issuer *issuers;
    size_t nissuers;
    struct pol_redis *redis; /* NULL: the in-process limiter */
    char *admin_listen;      /* NULL: no admin listener */
    struct sockaddr_storage admin_addr;
    socklen_t admin_addrlen;
    enum pol_access_log access_log;
    char *access_log_path; /* POL_LOG_FILE */
    int log_level;         /* syslog level */
    struct pol_route *routes;
    size_t nroutes;
    struct pol_upstream *upstreams;
    size_t nupstreams;
    struct pol_limits limits;
    struct pol_table *table;
    /* private: interned strings for pol_pos.file */
    char **files;
    size_t nfiles;
};

/*
 * Load `path` and every file its include: matches, validate all of it and
 * compile the route table.  On success *out owns the new configuration
 * (pol_config_free()).  On failure *out is NULL, errs holds the reasons and
 * the return is PC_ERR_INVALID (or PC_ERR_IO / PC_ERR_TOO_LARGE for files).
 * Files named in the config (certificates, CA, CRL) are not opened here:
 * the gateway does that when it builds its TLS contexts.
 */
int pol_config_load(const char *path, struct pol_config **out, struct pol_errors *errs);

/*
 * The same from memory, for tests and fuzzing: `name` is used in messages;
 * include: is refused unless allow_include (then resolved relative to the
 * current directory).  Without allow_include no file is read at all, so
 * tls_policy: is refused too.
 *
 * For both loads, *errs is reset at the start (not freed): release its
 * messages with pol_errors_clear() after each load.
 */
int pol_config_load_mem(const char *name, const char *buf, size_t len, bool allow_include,
                        struct pol_config **out, struct pol_errors *errs);

void pol_config_free(struct pol_config *c);

/** Load only a tls-policy.yaml (used by `tls audit` and certmgr). */
int pol_tls_load(const char *path, struct pol_tls *out, struct pol_errors *errs);
/** The same from memory (tests, fuzzing); `name` is used in messages. */
int pol_tls_load_mem(const char *name, const char *buf, size_t len, struct pol_tls *out,
                     struct pol_errors *errs);
/** The built-in policy used without tls_policy: (release with pol_tls_clear()). */
void pol_tls_default(struct pol_tls *t);
void pol_tls_clear(struct pol_tls *t);

/*
 * Route lookup.  host: the request's host without the port, any case
 * (compared case-insensitively); path: the decoded request path without the
 * query (the caller has refused dot-segments, encoded '/' and NULs).
 * The first host group naming the host decides (exact, else the longest
 * wildcard, else "*"; no fallback to a laxer group); within it, the
 * longest path_prefix whose methods include `method_bit` wins.  A prefix
 * matches at a segment boundary: "/api" matches "/api", "/api/x" but not
 * "/apix"; "/api/" matches "/api/x".  When no route of the exact host
 * matches the path and method, the wildcard hosts are tried (longest
 * suffix first), then "*".  Returns NULL when nothing matches.  Allocates
 * nothing and takes no lock: safe from any number of threads.
 */
const struct pol_route *pol_route_match(const struct pol_config *c, const char *host,
                                        size_t hostlen, const char *path, size_t pathlen,
                                        unsigned method_bit);

/** The names of a client certificate, as authn extracts them. */
struct pol_names {
    const char *const *uri;
    size_t nuri;
    const char *const *dns;
    size_t ndns;
    const char *const *email;
    size_t nemail;
    const char *cn; /* NULL when absent */
};

/*
 * Whether the route's mtls.allow admits a certificate with these names.
 * No patterns: true.  Otherwise true when any pattern matches any name of
 * its kind; *matched (if not NULL) gets the first matching pattern.
 */
bool pol_route_allows(const struct pol_route *r, const struct pol_names *names,
                      const struct pol_pattern **matched);

/** Glob match (see struct pol_pattern); `sep` is the segment separator or 0. */
bool pol_glob_match(const char *glob, const char *s, size_t len, char sep, bool nocase);

/* --- certmgr.yaml (pol_certmgr.c) ------------------------------------------- */

#define POL_CM_MAX_CERTS     64  /* certificates: entries */
#define POL_CM_MAX_DOMAINS   100 /* names per certificate (Let's Encrypt's own limit) */
#define POL_CM_MAX_RESOLVERS 8   /* dns.resolvers entries */
#define POL_CM_MAX_ARGV      32  /* words of dns.command / reload.command */

enum pol_cm_key { POL_CM_KEY_EC256, POL_CM_KEY_EC384, POL_CM_KEY_RSA2048 };
enum pol_cm_challenge { POL_CM_DNS01, POL_CM_HTTP01 };
enum pol_cm_dns_provider { POL_CM_DNS_EXEC, POL_CM_DNS_RFC2136 };

/** dns.rfc2136 of a certificate: a dynamic DNS update server and its TSIG key. */
struct pol_cm_rfc2136 {
    char *server;          /* "IP:port", numeric */
    char *zone;            /* lower-case, no trailing dot */
    char *key_name;        /* TSIG key name, lower-case */
    char *key_alg;         /* "hmac-sha256", "hmac-sha384" or "hmac-sha512" */
    char *key_file;        /* absolute path of the base64 secret (mode 0600) */
    unsigned char *secret; /* decoded from key_file at load; wiped when freed */
    size_t secret_len;
};

/** One entry of certificates:. */
struct pol_cm_cert {
    char *name;     /* [A-Za-z0-9._-]{1,64}, not starting with '.': the certs/NAME directory */
    char **domains; /* lower-case; "*.example.com" for a wildcard; no duplicates */
    size_t ndomains;
    enum pol_cm_key key_type; /* default ec256 */
    enum pol_cm_challenge challenge;
    enum pol_cm_dns_provider dns_provider;
    char **dns_command; /* exec: argv (split at blanks, no shell), NULL-terminated */
    size_t dns_command_argc;
    uint64_t dns_command_timeout_ms; /* default 60s */
    char **resolvers;                /* "IP:port", where propagation is checked */
    size_t nresolvers;               /* 0: no propagation check */
    uint64_t propagation_timeout_ms; /* default 120s */
    struct pol_cm_rfc2136 rfc2136;   /* when dns_provider is RFC2136 */
    char *webroot;                   /* http-01: the directory the plain listener serves */
    struct pol_pos pos;              /* of the entry */
};

/** certmgr.yaml, checked. */
struct pol_certmgr {
    char *path;             /* the file */
    char *directory;        /* acme.directory: an https:// URL */
    char *email;            /* acme.email, or NULL */
    char *ca_file;          /* acme.ca_file, or NULL: the system trust store */
    char *eab_kid;          /* acme.eab.kid, or NULL */
    unsigned char *eab_key; /* acme.eab.hmac_key decoded; wiped when freed */
    size_t eab_key_len;
    char *state_dir;          /* default /var/lib/portcullis */
    unsigned renew_percent;   /* renew_before: "33%" -> 33; 0 when it is a duration */
    uint64_t renew_before_ms; /* renew_before as a duration; 0 when it is a percentage */
    char *reload_pid_file;    /* reload.pid_file, or NULL */
    char **reload_command;    /* reload.command argv, NULL-terminated, or NULL */
    size_t reload_argc;
    struct pol_cm_cert *certs;
    size_t ncerts;
    /* private: interned strings for pol_pos.file */
    char **files;
    size_t nfiles;
};

/*
 * Load and check certmgr.yaml.  Strict like portcullis.yaml: unknown keys,
 * wrong types and values out of bounds are errors "file:line:col: key.path:
 * message" in errs (reset at the start; release with pol_errors_clear()).
 * Reads the files it names that hold secrets (dns.rfc2136.key_file, which
 * must not be readable by group or others) and gateway_config (for the
 * http-01 webroot).  On success *out owns the result (pol_certmgr_free()).
 * PC_ERR_INVALID, or PC_ERR_IO / PC_ERR_TOO_LARGE for the file itself.
 */
int pol_certmgr_load(const char *path, struct pol_certmgr **out, struct pol_errors *errs);
/** The same from memory (tests, fuzzing): no other file is read, so key_file and gateway_config are
 * refused. */
int pol_certmgr_load_mem(const char *name, const char *buf, size_t len, struct pol_certmgr **out,
                         struct pol_errors *errs);
void pol_certmgr_free(struct pol_certmgr *c);
/** The certificate named `name`, or NULL. */
const struct pol_cm_cert *pol_certmgr_find(const struct pol_certmgr *c, const char *name);

#endif
