/*
 * gateway: the portcullis data plane on libh2o 2.2.5 (evloop).
 *
 * Threads:
 *   control  main thread: config load, generations, signals, CRL watch,
 *            the admin listener (/healthz /readyz /metrics), reclamation.
 *   worker   one per `threads:`; its own h2o_evloop_t + h2o_context_t,
 *            accepting on dup()s of the listening sockets.  Runs the request
 *            pipeline; takes no lock and makes no blocking call.
 *   logger   drains the workers' access-log rings to the log file.
 *
 * A generation (struct gw_gen) is everything built from one configuration:
 * the pol_config, the SSL contexts, the h2o globalconf and the workers.
 * Reload builds a new generation and drains the old one (gw_gen.c).
 */
#ifndef GW_H
#define GW_H

#define H2O_USE_LIBUV 0
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>
#include <openssl/ssl.h>

#include "authn/authn.h"
#include "gateway/gw_rl.h"
#include "common/pc_limits.h"
#include "common/pc_str.h"
#include "policy/pol.h"

#define GW_MAX_WORKERS   256  /* threads: ceiling (pol validates 1..256) */
#define GW_LOOP_MAX_WAIT 250  /* ms a worker sleeps at most: quiescent states, drain checks */
#define GW_DRAIN_H1_MS   1000 /* idle HTTP/1.1 keep-alive connections close this soon on drain */
#define GW_CTRL_TICK_MS  PC_CRL_POLL_MS

/* Why a request ended the way it did: the access log's "reason" and metrics. */
enum gw_reason {
    GW_R_OK,                 /* allowed and proxied */
    GW_R_NO_ROUTE,           /* 404 */
    GW_R_MISDIRECTED,        /* 421: Host is not the TLS SNI name */
    GW_R_BAD_REQUEST,        /* 400: bad path/host */
    GW_R_HEADERS_TOO_LARGE,  /* 431 */
    GW_R_URI_TOO_LONG,       /* 414 */
    GW_R_METHOD,             /* 405: CONNECT and friends */
    GW_R_NO_CERT,            /* 403: no verified certificate (cannot happen after mTLS) */
    GW_R_CERT_EXPIRED,       /* 403 */
    GW_R_CERT_NOT_YET_VALID, /* 403 */
    GW_R_CERT_REVOKED,       /* 403 */
    GW_R_CRL_STALE,          /* 403: the CRL is past nextUpdate or lacks the issuer */
    GW_R_CERT_NOT_ALLOWED,   /* 403: mtls.allow said no */
    GW_R_TOKEN_INVALID,      /* 401 */
    GW_R_SCOPE,              /* 403 */
    GW_R_RATE_LIMITED,       /* 429 */
    GW_R_RL_UNAVAILABLE,     /* 503 */
    GW_R_UPSTREAM_ERROR,     /* 502 */
    GW_R_UPSTREAM_TIMEOUT,   /* 504 */
    GW_R_REDIRECT,           /* plain listener: redirect to https */
    GW_R_ACME,               /* plain listener: ACME http-01 */
    GW_R_INTERNAL,           /* 500 */
    GW_R_CLIENT_GONE,        /* the client went away before the response */
    GW_R_MAX
};

const char *gw_reason_slug(enum gw_reason r);
int gw_reason_status(enum gw_reason r);
bool gw_reason_is_deny(enum gw_reason r);

/* TLS handshake refusals, by reason (metrics label). */
enum gw_hs_fail {
    GW_HS_NO_CERT,
    GW_HS_UNKNOWN_CA,
    GW_HS_EXPIRED,
    GW_HS_NOT_YET_VALID,
    GW_HS_REVOKED,
    GW_HS_BAD_PURPOSE,
    GW_HS_CRL,
    GW_HS_OTHER_VERIFY,
    GW_HS_PROTOCOL,
    GW_HS_MAX
};

const char *gw_hs_fail_name(enum gw_hs_fail f);
/** The handshake refusal reason of an X509_V_ERR_* code (the gateway's verify
 * callback, and policy explain, which must give the same answer). */
enum gw_hs_fail gw_hs_fail_of_verify(int x509_err);

/* --- metrics (gw_metrics.c) ---------------------------------------------- */

#define GW_LAT_BUCKETS 15

/*
 * Per-worker counters.  Each has one writer (its worker) and is read by the
 * control thread: relaxed atomic load/store, no read-modify-write, no lock.
 */
struct gw_metrics {
    _Atomic uint64_t *req; /* [(nroutes + 1) * GW_R_MAX * 6]: route x reason x status class */
    size_t nroutes;        /* the last slot is "no route" */
    _Atomic uint64_t lat[GW_LAT_BUCKETS + 1];
    _Atomic uint64_t lat_sum_us;
    _Atomic uint64_t lat_count;
    _Atomic uint64_t conns_open;
    _Atomic uint64_t conns_total;
    _Atomic uint64_t hs_fail[GW_HS_MAX];
    _Atomic uint64_t h2_abuse_closed; /* connections cut for too many early resets */
};

#define GW_INC(field) GW_ADD(field, 1)
#define GW_ADD(field, n)                                                                           \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n),    \
                          memory_order_relaxed)

void gw_metrics_init(struct gw_metrics *m, size_t nroutes);
void gw_metrics_clear(struct gw_metrics *m);
/** Count one finished request (worker thread). route_index == nroutes: no route. */
void gw_metrics_request(struct gw_metrics *m, size_t route_index, enum gw_reason r, int status,
                        uint64_t elapsed_us);

/* --- access log (gw_accesslog.c) ----------------------------------------- */

struct gw_logring;

int gw_accesslog_start(enum pol_access_log kind, const char *path);
void gw_accesslog_stop(void);
/** Reopen the file (SIGUSR1, after logrotate). */
void gw_accesslog_reopen(void);
/** A ring for one worker; NULL when the access log is off. */
struct gw_logring *gw_accesslog_ring_new(void);
/** The worker is done with it; the logger drains and frees it. */
void gw_accesslog_ring_release(struct gw_logring *r);
/** Queue one line (no newline); dropped and counted when the ring is full. */
void gw_accesslog_push(struct gw_logring *r, const char *line, size_t len);
uint64_t gw_accesslog_dropped(void);

/* --- listeners, TLS (gw_tls.c, gw_listen.c) ------------------------------ */

struct gw_gen;

struct gw_sni_cert {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) * chain;
};

struct gw_listener {
    const struct pol_listener *conf;
    struct gw_gen *gen;
    int fd;           /* borrowed from the process socket table */
    SSL_CTX *ssl_ctx; /* NULL when plain */
    struct gw_sni_cert *certs;
    size_t ncerts;
    STACK_OF(X509) * cas;                     /* client CA certificates, for CRL signatures */
    _Atomic(struct authn_crlset *) crl;       /* NULL when no crl: */
    _Atomic(struct gw_ticket_ring *) tickets; /* session-ticket keys (gw_tickets.c) */
    uint64_t tickets_rotated_ms;              /* control thread only */
    struct {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
        bool failing; /* the last reload attempt failed (log once) */
    } crl_stat;       /* control thread only */
    h2o_hostconf_t *hosts[2];
};

/* The listener a TLS connection was accepted on (SSL_CTX ex_data). */
struct gw_listener *gw_tls_listener(SSL *ssl);

/** Build the listener's server SSL_CTX (certificates, client CA, CRL, policy). */
int gw_tls_listener_init(struct gw_listener *l, const struct pol_config *cfg);
void gw_tls_listener_clear(struct gw_listener *l);

/* gw_tickets.c: our session-ticket keys (rotation; reset when the CRL changes) */
struct gw_ticket_ring;
int gw_tickets_init(struct gw_listener *l, const struct pol_tls *t);
void gw_tickets_clear(struct gw_listener *l);
/** Control tick: rotate the keys every session_tickets.rotate. */
void gw_tickets_tick(struct gw_listener *l, const struct pol_tls *t);
/** Forget every ticket key and cached session: nothing issued before resumes. */
void gw_tickets_revoke_all(struct gw_listener *l);

/** CRL reloads that succeeded and that were refused, since start (control thread). */
void gw_tls_crl_stats(uint64_t *reloads, uint64_t *refused);

/** Load the CRL of `l` if its file changed; publish it.  Control thread. */
void gw_tls_crl_poll(struct gw_listener *l, bool initial_ok_required, int *err);

/* An upstream's client SSL_CTX: trust from ca_file (or the system store),
 * peer verification, and our own host name check (h2o 2.2.5 skips it on TLS 1.3). */
SSL_CTX *gw_tls_upstream_ctx_new(const char *ca_file);

/*
 * The SSL object of a request's connection, or NULL (plain listener).
 * Debian's h2o 2.2.5 has no public getter: we rely on its private
 * st_h2o_socket_ssl_t starting with {SSL_CTX *, SSL *} and check that the
 * SSL's BIO points back at the socket (gw_tls.c).
 */
SSL *gw_req_ssl(h2o_req_t *req);

/*
 * Per-connection state, kept on the SSL object (freed with it): the
 * identity of the verified client certificate, computed once, and the
 * HTTP/2 abuse counter.  Only the connection's worker touches it.
 */
struct gw_conn {
    struct authn_peer *peer;
    char peer_ip[48]; /* the client's address as text, for X-Forwarded-For ("" until needed) */
    uint32_t resets;  /* HTTP/2 streams ended by the client before their response */
    bool cut;         /* we closed it for abuse */
};

/** The connection's state, or NULL when no verified certificate names anyone. */
struct gw_conn *gw_conn_get(SSL *ssl);

/* --- JWKS key sets (gw_jwks.c) ------------------------------------------- */

/*
 * The keys of one issuer's key source (jwks_uri or jwks_file), kept across
 * generations.  Workers read `ks` (pc_rcu) and the atomics; the fetcher
 * thread and the control thread write them.
 */
struct gw_jwks {
    struct gw_jwks *next;
    char *issuer; /* the issuer's name in the configuration */
    char *uri;    /* NULL for a jwks_file */
    char *file;
    char *ca_file;
    unsigned algs;
    _Atomic uint64_t min_refetch_ms;
    _Atomic uint64_t max_stale_ms;
    _Atomic(struct authn_keyset *) ks;
    _Atomic uint64_t fetched_at_ms;  /* last success, wall clock */
    _Atomic uint64_t fresh_until_ms; /* when the next refresh was due */
    _Atomic uint64_t last_attempt_ms;
    _Atomic uint64_t attempt_seq; /* completed fetch attempts */
    _Atomic bool want;            /* a worker met an unknown kid */
    _Atomic uint64_t loads_ok;
    _Atomic uint64_t loads_failed;
    /* under the registry lock (fetcher, control thread) */
    unsigned refs;
    uint64_t next_refresh_ms;
    uint64_t backoff_ms;
    struct timespec mtime; /* jwks_file: control thread only */
    off_t size;
    ino_t ino;
};

uint64_t gw_now_ms(void);
int gw_jwks_start(void);
void gw_jwks_stop(void);
/** The entry for an issuer's key source (created, or shared with an earlier generation). */
struct gw_jwks *gw_jwks_acquire(const struct pol_issuer *iss);
void gw_jwks_release(struct gw_jwks *j);
/** Control tick: reload jwks_file documents that changed. */
void gw_jwks_poll_files(void);
/** Worker: the keys in force, or NULL (none yet, or stale past max_stale). */
const struct authn_keyset *gw_jwks_keys(struct gw_jwks *j, uint64_t now_ms);
/*
 * Worker, after an unknown kid: ask for a refetch.  True when the caller
 * should wait for gw_jwks_attempts() to pass *seq; false when the keys were
 * fetched less than min_refetch_interval ago (the kid is really unknown).
 */
bool gw_jwks_request_refetch(struct gw_jwks *j, uint64_t now_ms, uint64_t *seq);
uint64_t gw_jwks_attempts(struct gw_jwks *j);
/** Prometheus lines of every issuer's key set (control thread). */
void gw_jwks_render(struct pc_buf *b);
/** Whether every issuer of `g` has keys in force (readiness). */
bool gw_jwks_all_ready(struct gw_gen *g, const char **which);

/* --- workers and generations (gw_worker.c, gw_gen.c) --------------------- */

struct gw_route_rt {
    h2o_timeout_t io_timeout; /* the route's upstream timeout */
};

/* gw_upstream.c: our HTTP/1.1 client towards upstreams */
struct gw_upstream_addr {
    struct sockaddr_storage ss; /* resolved when the generation is built */
    socklen_t len;
};

/* The idle keep-alive connections to one upstream, in one worker. */
struct gw_upool {
    struct gw_worker *w;
    const struct pol_upstream *conf;
    const struct gw_upstream_addr *addr;
    SSL_CTX *ssl; /* NULL: plain http */
    h2o_linklist_t idle;
    size_t nidle;
};

void gw_upool_init(struct gw_upool *p, struct gw_worker *w, const struct pol_upstream *conf,
                   const struct gw_upstream_addr *addr, SSL_CTX *ssl);
void gw_upool_clear(struct gw_upool *p);

struct gw_conn_link {
    h2o_linklist_t link;
    h2o_socket_t *sock;
    struct gw_worker *w;
};

struct gw_worker {
    h2o_context_t ctx;
    h2o_loop_t *loop;
    struct gw_gen *gen;
    unsigned id;
    pthread_t thread;
    bool started;
    int rcu_slot;
    h2o_socket_t **lsocks;       /* per listener */
    h2o_accept_ctx_t *accept;    /* per listener */
    struct gw_upool *upools;     /* per upstream */
    h2o_timeout_t upstream_idle; /* limits.upstream_keepalive */
    struct gw_route_rt *routes;  /* per route */
    struct gw_metrics metrics;
    struct gw_logring *log;
    h2o_linklist_t conns; /* open client connections (struct gw_conn_link) */
    size_t nconns;
    struct authn_tcache *tcache;       /* verified tokens */
    struct gw_redis *redis;            /* NULL without redis: */
    struct gw_redis_stats redis_stats; /* outlives the client: metrics read it */
    h2o_linklist_t parked;             /* requests waiting for a JWKS refetch (struct gw_park) */
    h2o_timeout_t park_timeout;
    h2o_timeout_entry_t park_entry;
    bool draining;
    uint64_t drain_deadline;
    _Atomic bool done;
};

enum gw_gen_state { GW_GEN_RUNNING, GW_GEN_DRAINING, GW_GEN_DONE };

struct gw_gen {
    unsigned long id;
    struct pol_config *cfg;
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *host_tls;
    h2o_hostconf_t *host_plain;
    struct gw_listener *listeners;
    size_t nlisteners;
    SSL_CTX **upstream_ssl;                 /* per upstream; NULL for http */
    struct gw_upstream_addr *upstream_addr; /* per upstream */
    size_t nupstreams;
    struct gw_jwks **jwks;        /* per issuer */
    struct gw_gcra_spec *rl_spec; /* per route (unused for routes without rate_limit) */
    h2o_iovec_t *rl_policy;       /* per route: its RateLimit-Policy value (len 0: no limit) */
    struct pol_redis redis;       /* cfg->redis with the host resolved to an address */
    h2o_iovec_t hsts;             /* Strict-Transport-Security value; len 0: none */
    char hsts_buf[96];
    char redis_ip[64];
    struct gw_worker *workers;
    unsigned nworkers;
    _Atomic int state;
    bool globalconf_ok;
};

/*
 * Build a generation from `cfg` (ownership moves to the generation): TLS
 * contexts, CRLs, h2o configuration.  fds[i] is the bound socket of
 * cfg->listeners[i].  Nothing runs yet.  Logs the reason on failure.
 */
int gw_gen_new(struct pol_config *cfg, const int *fds, struct gw_gen **out);
/** Start the workers (they begin accepting). */
int gw_gen_start(struct gw_gen *g);
/** Ask the workers to stop accepting and drain. */
void gw_gen_drain(struct gw_gen *g);
/** True once every worker has finished (then gw_gen_free is safe). */
bool gw_gen_finished(struct gw_gen *g);
/** Join the workers and free everything (h2o's teardown order: see notes). */
void gw_gen_free(struct gw_gen *g);

void *gw_worker_main(void *arg);
/** The worker running the current thread (NULL outside workers). */
struct gw_worker *gw_worker_self(void);

/* --- request pipeline (gw_req.c, gw_jwt.c, gw_proxy.c, gw_problem.c, gw_plain.c) --- */

#define GW_PARK_POLL_MS 5 /* parked requests look for a finished JWKS fetch this often */

/*
 * Per-request state, allocated from the request pool as an h2o prefilter
 * (so it also decorates the response).  Found again by the access logger.
 */
struct gw_req {
    h2o_req_prefilter_t super;
    h2o_ostream_t ostr; /* our response rewriting ostream (gw_proxy.c) */
    h2o_req_t *req;
    struct gw_worker *w;
    const struct pol_route *route;
    const struct authn_peer *peer;
    struct gw_conn *conn;
    enum gw_reason reason;
    const char *detail;     /* short, static or pool memory; never secrets */
    struct timeval started; /* when our handler first saw it */
    /* the token, for the access log (pool copies; NULL when none) */
    const char *sub, *iss, *kid, *jti;
    const char *token_error; /* authn_jwt_err_str of a refusal */
    /* the rate limit (gw_ratelimit.c) */
    const char *rl_key; /* pool memory; identities hashed */
    size_t rl_keylen;
    uint64_t rl_hash;         /* of the key, for the in-process limiter */
    struct gw_gcra_result rl; /* valid when rl_done */
    bool rl_done;
    const char *rl_backend;    /* "redis", "local", "local-fallback", "allow", "deny" */
    int rl_status;             /* enum gw_redis_status when Redis failed */
    uint64_t proxied_at_ms;    /* loop time when handed to the upstream; 0 if not */
    uint64_t upstream_us;      /* from handing it over to the response head */
    struct timeval proxied_at; /* the same, wall clock, for upstream_ms */
    char request_id[33];
    bool keep_trace; /* the client sent exactly one valid traceparent */
};

h2o_handler_t *gw_req_register(h2o_pathconf_t *pathconf);
h2o_handler_t *gw_plain_register(h2o_pathconf_t *pathconf);
void gw_accesslog_register(h2o_pathconf_t *pathconf);

/** The gw_req of a request, or NULL when our handler never saw it. */
struct gw_req *gw_req_find(h2o_req_t *req);
struct gw_req *gw_req_attach(h2o_req_t *req, struct gw_worker *w);

/*
 * Answer with an application/problem+json denial for r->reason.  `detail`
 * may be NULL (then none is sent); `extra` headers (name/value pairs, NULL
 * terminated) are added.  Returns 0 (the request is answered).
 */
int gw_problem_send(struct gw_req *r, const char *detail);
/** The JSON body for reason/status/detail (pool memory). */
h2o_iovec_t gw_problem_body(h2o_mem_pool_t *pool, enum gw_reason reason, const char *detail,
                            const char *request_id);

/** The JWT stage of r's route; answers, parks or continues (gw_req_after_jwt). */
int gw_jwt_stage(struct gw_req *r);
/** The stages after the JWT: rate limit, then the proxy. */
int gw_req_after_jwt(struct gw_req *r);
/** The rate-limit stage; answers (429/503) or proxies, perhaps asynchronously. */
int gw_rl_stage(struct gw_req *r);
/** RateLimit-Policy, RateLimit and Retry-After on a limited route's response. */
void gw_rl_add_headers(struct gw_req *r);
/** The RateLimit-Policy value of a route (`"NAME";q=BURST;w=WINDOW_S`), malloc'ed. */
h2o_iovec_t gw_rl_policy_value(const char *route, const struct gw_gcra_spec *s);
/** Free the in-process limiter (process exit). */
void gw_rl_shutdown(void);
/** The client's address as text, computed once per connection. */
const char *gw_conn_peer_ip(struct gw_req *r);
void gw_jwt_worker_init(struct gw_worker *w);
void gw_jwt_worker_clear(struct gw_worker *w);

/** Remove every header the gateway or the route owns from the client's request. */
void gw_proxy_scrub(struct gw_req *r);
/** Add our headers for the upstream and hand the request to gw_upstream.c. */
int gw_proxy_send(struct gw_req *r);
/*
 * Send the request (head: the serialized request head in pool memory; the
 * body is req->entity) to an upstream of `pool` and stream the response
 * back.  Answers 502/504 itself on failure.  Returns 0.
 */
int gw_upstream_forward(struct gw_req *r, struct gw_upool *pool, h2o_timeout_t *timeout,
                        h2o_iovec_t head);

/* gw_trace.c: request ids and W3C traceparent (pure functions) */
void gw_request_id_new(char out[33]);
bool gw_traceparent_valid(const char *s, size_t len);
void gw_traceparent_new(char out[56]);

/* gw_path.c: request path checks before routing (pure function) */
enum gw_path_result { GW_PATH_OK, GW_PATH_BAD, GW_PATH_TOO_LONG };
/*
 * Check the request target and produce the decoded path used for routing.
 * Refuses (GW_PATH_BAD) anything not starting with '/', control bytes, '\',
 * an encoded '/', '\', NUL or control byte, and dot segments ("." / ".."
 * also when percent-encoded).  *out points into pool memory, or at the raw
 * path when no decoding was needed; the query is excluded.
 */
enum gw_path_result gw_path_check(h2o_mem_pool_t *pool, const char *raw, size_t len, size_t max,
                                  h2o_iovec_t *out);

/* --- admin listener (gw_admin.c) ----------------------------------------- */

struct gw_proc;
int gw_admin_start_fd(struct gw_proc *p, h2o_loop_t *loop, int fd);
void gw_admin_stop(struct gw_proc *p);
/** Render the Prometheus text of the current state into buf. */
void gw_metrics_render(struct gw_proc *p, struct pc_buf *buf);

/* --- the process (gw_main.c / gw_ctl.c) ---------------------------------- */

struct gw_folded; /* counters of finished generations (gw_metrics.c) */

struct gw_proc {
    const char *config_path;
    struct gw_gen *current;
    struct gw_gen *draining[8];
    size_t ndraining;
    unsigned long next_gen_id;
    h2o_loop_t *loop; /* control loop */
    h2o_globalconf_t admin_conf;
    h2o_context_t admin_ctx;
    h2o_accept_ctx_t admin_accept;
    h2o_socket_t *admin_sock;
    bool admin_ok;
    struct gw_folded *folded;
    uint64_t reloads_ok;
    uint64_t reloads_failed;
    time_t started_at;
    bool stopping;
};

/** Fold a finished generation's counters into the process totals. */
void gw_metrics_fold(struct gw_proc *p, struct gw_gen *g);
void gw_metrics_folded_free(struct gw_proc *p);

/* gw_listen.c: the process's bound sockets, kept across generations */
struct gw_socket {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd;
    bool in_use; /* wanted by the newest generation */
};

/*
 * The bound, listening socket for `addr`, reusing one bound earlier when
 * the address is the same (reload), else bind()ing a new one.  Logs the
 * reason and returns -1 on failure.  Control thread.
 */
int gw_socket_get(const struct sockaddr_storage *addr, socklen_t len, const char *name);
/** Mark every socket unused (before a new generation claims its own). */
void gw_socket_unmark_all(void);
/** Close sockets no generation wants any more. */
void gw_socket_close_unused(void);
void gw_socket_close_all(void);

/* gw_ctl.c: the control socket next to the pid file */
/** The control socket's path for a pid file ("x.pid" -> "x.sock"). */
int gw_ctl_path(const char *pid_file, char *out, size_t cap);
/*
 * Listen on the control socket (before the privilege drop; it is handed to
 * `user`).  `reload` runs a reload and returns 0 with the new generation, or
 * an error with the reasons in why.  Control thread.
 */
int gw_ctl_start(h2o_loop_t *loop, const char *pid_file, const char *user,
                 int (*reload)(char *why, size_t whylen, unsigned long *gen));
void gw_ctl_stop(h2o_loop_t *loop);

/* gw_check.c */
/*
 * Validate a gateway configuration as `portcullis --check` does: the YAML,
 * then every certificate, key, CA bundle and CRL it names, loaded into real
 * TLS contexts.  Prints each problem on stderr as "file:line:col: message".
 * Returns 0 when the configuration is valid.
 */
int gw_config_check(const char *path);

#endif
