/*
 * portcullis-certmgr: the ACME (RFC 8555) daemon that keeps the gateway's
 * server certificates valid.  docs/internals/ACME.md tells the whole story;
 * this header is the contract between its files:
 *
 *   cm_acme_http.c    libcurl transport (https only, caps, timeouts, headers)
 *   cm_acme_jws.c     JWS ES256, External Account Binding, key authorizations, CSR
 *   cm_acme_json.c    strict readers of the CA's JSON (directory, order,
 *                     authorization, problem, renewalInfo) and RFC 3339 times
 *   cm_acme_client.c  directory, nonces, signed requests with retries, account
 *   cm_acme_order.c   one issuance: order, authorizations, finalize, download
 *   cm_acme_chall.c   challenge providers (exec hook, rfc2136, http-01 webroot)
 *   cm_acme_state.c   state_dir/acme/: account key and URL, orders in flight, stats
 *   cm_acme_renew.c   when to renew (renew_before, ARI), back-off, the installed cert
 *   cm_acme_store.c   install key + chain, reload the gateway, metrics file
 *   cm_acme_run.c     passes, the daemon loop, signals
 *
 * Everything runs in the one thread of portcullis-certmgr.  Functions return
 * PC_OK or a negative enum pc_err and log the reason themselves (pc_log), so
 * callers only propagate.  Every string from the CA is untrusted: it is
 * checked against a cap below before it is copied and escaped before it is
 * logged.
 */
#ifndef CM_ACME_H
#define CM_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/pc_limits.h"
#include "common/pc_str.h"
#include "policy/pol.h"

/* --- limits: every input from the CA or a hook has one ------------------------- */
#define CM_ACME_JSON_MAX_BYTES     (64 * 1024)  /* one JSON body (an order of 100 names: ~12k) */
#define CM_ACME_CHAIN_MAX_BYTES    (256 * 1024) /* a PEM certificate chain */
#define CM_ACME_CHAIN_MAX_CERTS    10           /* certificates in that chain */
#define CM_ACME_URL_MAX            2048         /* any URL the CA hands us */
#define CM_ACME_NONCE_MAX          256          /* Replay-Nonce value */
#define CM_ACME_TOKEN_MAX          256          /* challenge token (RFC 8555: >= 128 bits) */
#define CM_ACME_IDENT_MAX          253          /* identifier value: a DNS name */
#define CM_ACME_MAX_AUTHZ          POL_CM_MAX_DOMAINS /* authorizations of one order */
#define CM_ACME_MAX_CHALLENGES     16                 /* challenges of one authorization */
#define CM_ACME_PROBLEM_TYPE_MAX   128                /* problem "type" kept */
#define CM_ACME_PROBLEM_DETAIL_MAX 512                /* problem "detail" kept (longer: cut) */
#define CM_ACME_MAX_SUBPROBLEMS    8                  /* subproblems kept and logged */
#define CM_ACME_HEADER_MAX         4096               /* one response header line we look at */
#define CM_ACME_HTTP_TIMEOUT_MS    30000              /* one request, connect included */
#define CM_ACME_CONNECT_TIMEOUT_MS 10000              /* the connect phase */
#define CM_ACME_MAX_REDIRS         3                  /* as OpenBSD acme-client */
#define CM_ACME_BADNONCE_TRIES     8      /* a request rejected for badNonce is resent this often */
#define CM_ACME_BUSY_TRIES         3      /* 429/503 waited out inside one request, then give up */
#define CM_ACME_RETRY_INLINE_MAX_S 60     /* a Retry-After up to this is waited out in place */
#define CM_ACME_RETRY_AFTER_MAX_S  86400  /* a larger Retry-After is clamped to a day */
#define CM_ACME_POLL_FIRST_MS      500    /* first poll of a pending object without Retry-After */
#define CM_ACME_POLL_MAX_MS        8000   /* polls back off to this */
#define CM_ACME_POLL_TIMEOUT_MS    600000 /* an authorization/order may stay pending this long */
#define CM_ACME_OUTPUT_MAX         16384  /* hook / reload command output kept ... */
#define CM_ACME_OUTPUT_LINES       40     /* ... and the lines of it logged */
#define CM_ACME_PIDFILE_MAX        64     /* bytes of a pid file */
#define CM_ACME_STATE_MAX_BYTES    (64 * 1024) /* one state file under state_dir/acme/ */
#define CM_ACME_THUMB_LEN          43          /* base64url of a SHA-256 (RFC 7638, dns-01 value) */
#define CM_ACME_ARI_ID_MAX         256   /* RFC 9773 certID: b64url(keyIdentifier).b64url(serial) */
#define CM_ACME_ARI_DEFAULT_S      21600 /* re-ask renewalInfo after 6h without Retry-After */
#define CM_BACKOFF_BASE_S          60    /* first retry after a failed renewal */
#define CM_BACKOFF_MAX_S           21600 /* retries back off to 6h at most */
#define CM_DAEMON_SLEEP_MAX_S      3600  /* the daemon wakes at least hourly */

#define CM_ACME_TEST_EXIT_ENV "PORTCULLIS_CERTMGR_TEST_EXIT_AFTER" /* tests only: see ACME.md */

/* --- problem documents (RFC 8555 6.7, RFC 7807) -------------------------------- */

struct cm_acme_problem {
    char type[CM_ACME_PROBLEM_TYPE_MAX + 1];     /* "" when absent */
    char detail[CM_ACME_PROBLEM_DETAIL_MAX + 1]; /* "" when absent; cut when longer */
    long status;                                 /* 0 when absent */
    size_t nsub;
    struct {
        char type[CM_ACME_PROBLEM_TYPE_MAX + 1];
        char detail[CM_ACME_PROBLEM_DETAIL_MAX + 1];
        char ident[CM_ACME_IDENT_MAX + 1];
    } sub[CM_ACME_MAX_SUBPROBLEMS];
};

/*
 * Read a problem document buf[0..len) (JSON object; at most
 * CM_ACME_JSON_MAX_BYTES).  Members of the wrong type are ignored, never
 * trusted.  PC_ERR_PARSE when it is not a JSON object.
 */
int cm_acme_problem_parse(const char *buf, size_t len, struct cm_acme_problem *p);
/** Whether p's type is "urn:ietf:params:acme:error:" + short_type. */
bool cm_acme_problem_is(const struct cm_acme_problem *p, const char *short_type);
/** Log "what: problem TYPE: DETAIL (status N)" and each subproblem, escaped. */
void cm_acme_problem_log(int level, const char *what, const struct cm_acme_problem *p);

/* --- the CA's objects (cm_acme_json.c) ------------------------------------------ */

enum cm_acme_status {
    CM_ST_PENDING,
    CM_ST_READY,
    CM_ST_PROCESSING,
    CM_ST_VALID,
    CM_ST_INVALID,
    CM_ST_DEACTIVATED,
    CM_ST_EXPIRED,
    CM_ST_REVOKED,
};
const char *cm_acme_status_name(enum cm_acme_status st);

struct cm_acme_dir {
    char *new_nonce, *new_account, *new_order; /* required */
    char *renewal_info;                        /* RFC 9773; NULL when not offered */
    char *revoke_cert, *key_change;            /* NULL when absent */
    char *terms;                               /* meta.termsOfService or NULL */
    bool eab_required;                         /* meta.externalAccountRequired */
};

struct cm_acme_order {
    enum cm_acme_status status; /* pending ready processing valid invalid */
    char **authz;               /* authorization URLs */
    size_t nauthz;
    char **idents; /* dns identifier values */
    size_t nidents;
    char *finalize;
    char *certificate; /* when valid; else NULL */
    bool has_error;
    struct cm_acme_problem *error; /* when has_error */
};

struct cm_acme_chall {
    char *type; /* "dns-01", "http-01", others kept by name */
    char *url;
    char *token; /* base64url; NULL for a type without one */
    enum cm_acme_status status;
    struct cm_acme_problem *error; /* NULL when none */
};

struct cm_acme_authz {
    enum cm_acme_status status;
    char *ident;   /* the dns identifier (without "*.") */
    bool wildcard; /* RFC 8555 7.1.4 */
    struct cm_acme_chall *ch;
    size_t nch;
};

/* RFC 9773 4.2 renewalInfo: the window the CA suggests. */
struct cm_acme_ari {
    int64_t start, end; /* Unix seconds, start < end */
    char *explanation;  /* explanationURL or NULL */
};

/*
 * Each reader takes buf[0..len) (at most CM_ACME_JSON_MAX_BYTES, JSON with
 * no duplicate member), checks every member it uses for type, cap and
 * allowed value, fills *out and returns PC_OK; on PC_ERR_PARSE /
 * PC_ERR_TOO_LARGE / PC_ERR_INVALID `err` says why and *out is empty.
 * URLs must be https:// without control bytes or blanks.  Release with the
 * matching _clear() (also after a failure).
 */
int cm_acme_dir_parse(const char *buf, size_t len, struct cm_acme_dir *out, char *err,
                      size_t errlen);
void cm_acme_dir_clear(struct cm_acme_dir *d);
int cm_acme_order_parse(const char *buf, size_t len, struct cm_acme_order *out, char *err,
                        size_t errlen);
void cm_acme_order_clear(struct cm_acme_order *o);
int cm_acme_authz_parse(const char *buf, size_t len, struct cm_acme_authz *out, char *err,
                        size_t errlen);
void cm_acme_authz_clear(struct cm_acme_authz *a);
int cm_acme_ari_parse(const char *buf, size_t len, struct cm_acme_ari *out, char *err,
                      size_t errlen);
void cm_acme_ari_clear(struct cm_acme_ari *a);
/** RFC 3339 date-time ("2025-01-02T03:04:05.678+01:00") into Unix seconds. */
int cm_acme_time_parse(const char *s, size_t len, int64_t *out);
/** An https:// URL of at most CM_ACME_URL_MAX printable bytes. */
bool cm_acme_url_ok(const char *s, size_t len);

/* --- JOSE and the bits of RFC 8555 that are pure functions (cm_acme_jws.c) -------- */

/*
 * The flattened JWS (RFC 7515 7.2.2, RFC 8555 6.2) of a request to `url`:
 * protected {"alg":"ES256", "jwk": jwk | "kid": kid, "nonce", "url"}, the
 * payload `payload` (JSON text) or "" for POST-as-GET (payload NULL), the
 * ES256 signature as raw r||s (64 bytes).  Exactly one of jwk / kid.
 * *out is a new string (free()).
 */
int cm_acme_jws(EVP_PKEY *key, const json_t *jwk, const char *kid, const char *nonce,
                const char *url, const char *payload, char **out);
/** ES256 over data: raw r||s into sig (64 bytes). */
int cm_acme_es256(EVP_PKEY *key, const void *data, size_t len, unsigned char sig[64]);
/*
 * RFC 8555 7.3.4 externalAccountBinding: a JWS with protected {"alg":"HS256",
 * "kid": kid, "url": url}, payload the account's public JWK, signed with
 * HMAC-SHA256 under mac_key.  *out is a new JSON object.
 */
int cm_acme_eab(const char *kid, const unsigned char *mac_key, size_t keylen, const json_t *jwk,
                const char *url, json_t **out);
/** keyAuthorization = token "." thumbprint (RFC 8555 8.1) into out (outlen bytes). */
int cm_acme_key_authz(const char *token, const char *thumb, char *out, size_t outlen);
/** dns-01 TXT value = base64url(SHA-256(keyAuthorization)) (RFC 8555 8.4); out 44 bytes. */
void cm_acme_dns_value(const char *key_authz, char out[CM_ACME_THUMB_LEN + 1]);
/*
 * A PKCS#10 CSR for domains[0..n) signed by key: subject CN = the first name
 * (when it fits 64 bytes), subjectAltName = every name.  *out is the
 * base64url of its DER (free()).
 */
int cm_acme_csr(EVP_PKEY *key, char *const *domains, size_t n, char **out);
/** A fresh key of the configured type (EC P-256, EC P-384, RSA 2048). */
int cm_acme_key_new(enum pol_cm_key kt, EVP_PKEY **out);
const char *cm_acme_key_type_name(enum pol_cm_key kt);
/** PKCS#8 PEM of key (*pem, *len; release with pc_free_secret()). */
int cm_acme_key_pem(EVP_PKEY *key, char **pem, size_t *len);
/** Parse a PEM private key buf[0..len). */
int cm_acme_key_parse(const char *buf, size_t len, EVP_PKEY **out);

/* --- HTTP (cm_acme_http.c) --------------------------------------------------------- */

enum cm_http_method { CM_HTTP_GET, CM_HTTP_HEAD, CM_HTTP_POST };

struct cm_http_resp {
    long status;                        /* 0 when no response */
    struct pc_buf body;                 /* capped by the caller's `cap` */
    char nonce[CM_ACME_NONCE_MAX + 1];  /* Replay-Nonce, "" when absent or malformed */
    char location[CM_ACME_URL_MAX + 1]; /* Location, "" when absent or not https:// */
    char ctype[128];                    /* Content-Type without parameters, lower case */
    int64_t retry_after;                /* seconds from now, -1 when absent */
};

struct cm_http;

/** A transport trusting ca_file (NULL: the system store). */
int cm_http_new(const char *ca_file, struct cm_http **out);
void cm_http_free(struct cm_http *h);
/*
 * One request: https only, at most CM_ACME_MAX_REDIRS redirects (GET/HEAD),
 * CM_ACME_HTTP_TIMEOUT_MS, a body of at most `cap` bytes (larger: the
 * transfer is cut and PC_ERR_TOO_LARGE).  POST sends body[0..len) as
 * application/jose+json.  `accept` may be NULL.  PC_OK whenever an HTTP
 * response arrived (any status); PC_ERR_IO (logged) when none did.
 */
int cm_http_do(struct cm_http *h, enum cm_http_method m, const char *url, const char *body,
               size_t len, const char *accept, size_t cap, struct cm_http_resp *r);
void cm_http_resp_init(struct cm_http_resp *r);
void cm_http_resp_clear(struct cm_http_resp *r);
/** Retry-After: delta-seconds or an HTTP-date, as seconds from now (>= 0, clamped). -1: bad. */
int64_t cm_http_retry_after(const char *v, size_t len, int64_t now);

/* --- the ACME client (cm_acme_client.c) ----------------------------------------------- */

struct cm_acme {
    const struct pol_certmgr *cfg;
    struct cm_http *http;
    struct cm_acme_dir dir;
    EVP_PKEY *key;                     /* the account key (EC P-256) */
    json_t *jwk;                       /* its public JWK */
    char thumb[CM_ACME_THUMB_LEN + 1]; /* its RFC 7638 thumbprint */
    char *kid;                         /* the account URL, NULL until known */
    char nonce[CM_ACME_NONCE_MAX + 1]; /* an unused Replay-Nonce, "" when none */
    unsigned long requests;            /* HTTP requests so far (every kind) */
    int64_t retry_after;               /* of the last refused request, -1 when none */
    bool has_problem;                  /* the last failed request had a problem document */
    struct cm_acme_problem problem;    /* ... this one */
};

/*
 * Load (or create once, 0600) the account key under state_dir/acme/, GET
 * the directory and check it.  *out is the client (cm_acme_close()).
 */
int cm_acme_open(const struct pol_certmgr *cfg, struct cm_acme **out);
void cm_acme_close(struct cm_acme *a);
/*
 * Make sure a->kid is set: the persisted account URL of this directory, or
 * newAccount (contact, termsOfServiceAgreed, EAB when configured) and
 * persist the URL.
 */
int cm_acme_account(struct cm_acme *a);
/*
 * A signed POST of payload (JSON text; NULL = POST-as-GET) to url, with a
 * fresh nonce (HEAD newNonce when none is kept).  badNonce is retried with
 * the nonce of the error (CM_ACME_BADNONCE_TRIES), 429/503 with a
 * Retry-After up to CM_ACME_RETRY_INLINE_MAX_S are waited out and retried
 * (CM_ACME_BUSY_TRIES).  PC_OK for a 2xx answer (in *r, cap bytes at most).
 * Otherwise the problem is logged as "what: ..." and kept in a->problem,
 * a->retry_after says when the CA wants to hear from us again, and the
 * result is PC_ERR_DENIED (4xx/5xx), PC_ERR_BUSY (429/503), or PC_ERR_IO.
 */
int cm_acme_post(struct cm_acme *a, const char *what, const char *url, const char *payload,
                 size_t cap, struct cm_http_resp *r);
/* RFC 9773: GET renewalInfo/<certID>; PC_ERR_NOT_FOUND when the CA offers none. */
int cm_acme_renewal_info(struct cm_acme *a, const char *cert_id, struct cm_acme_ari *out,
                         int64_t *retry_after);

/* --- issuance (cm_acme_order.c) ----------------------------------------------------------- */

struct cm_issue_stats {
    unsigned long requests; /* ACME HTTP requests of this issuance */
    double seconds;         /* wall time */
    bool resumed;           /* continued an order in flight */
};

/*
 * Get a certificate for `cert` and install it (cm_store_install).  An order
 * in flight (state_dir/acme/orders/NAME.*) is continued when it still fits
 * the configuration; otherwise a new order is made.  `replaces` is the
 * RFC 9773 certID of the certificate this one replaces, or NULL.  Every
 * step is logged as "NAME: ...".  PC_OK when the new certificate is in
 * place; on failure the challenges presented have been cleaned up.
 */
int cm_acme_issue(struct cm_acme *a, const struct pol_cm_cert *cert, const char *replaces,
                  struct cm_issue_stats *st);

/*
 * The pending authorizations of order o (cm_acme_authz.c): fetch each, put
 * every challenge answer in place (cm_chall_present), wait for DNS
 * propagation, tell the CA, poll each authorization until it is valid, and
 * clean up whatever happened.  PC_OK when every authorization is valid.
 */
int cm_acme_authorize(struct cm_acme *a, const struct pol_cm_cert *cert,
                      const struct cm_acme_order *o);

/* --- challenges (cm_acme_chall.c) ------------------------------------------------------------ */

struct cm_chall_job {
    const char *ident; /* the identifier (borrowed from the authz) */
    bool wildcard;
    char *fqdn;                        /* dns-01: "_acme-challenge.<ident>" (no trailing dot) */
    char *token;                       /* http-01: the file name */
    char *key_authz;                   /* token "." thumbprint */
    char value[CM_ACME_THUMB_LEN + 1]; /* dns-01 TXT value */
    char *chall_url;
    char *authz_url;
    bool respond;   /* the CA has not been told yet (false: it is already validating) */
    bool presented; /* cm_chall_present() ran: cleanup is due */
};

void cm_chall_job_clear(struct cm_chall_job *j);
/** Put the challenge response where the CA will look (hook present, update, file). */
int cm_chall_present(const struct pol_cm_cert *cert, struct cm_chall_job *j);
/** Remove it again; failures are logged, never fatal. */
void cm_chall_cleanup(const struct pol_cm_cert *cert, struct cm_chall_job *j);
/** dns-01 with resolvers: wait until every job's value is visible (one deadline for all). */
int cm_chall_propagation(const struct pol_cm_cert *cert, struct cm_chall_job *jobs, size_t n);
/*
 * Run argv (argv[0] with a '/' is a path, else looked up in PATH) without a
 * shell, stdin /dev/null, stdout+stderr captured (CM_ACME_OUTPUT_MAX) and
 * logged line by line as "what: ...", killed (its process group) after
 * timeout_ms or, when interruptible, as soon as certmgr is told to stop.
 * PC_OK on exit status 0.
 */
int cm_run_cmd(char *const *argv, uint64_t timeout_ms, bool interruptible, const char *what);

/* --- state under state_dir/acme/ (cm_acme_state.c) ---------------------------------------- */

/** An order in flight for one certificate. */
struct cm_order_state {
    char *directory; /* the CA it was made at */
    char *url;       /* the order URL */
    char **domains;  /* what it was made for, in config order */
    size_t ndomains;
    enum pol_cm_key key_type;
    int64_t created;
};

/** Counters and schedule of one certificate (status.json). */
struct cm_cert_stats {
    uint64_t renewals;
    uint64_t failures;
    unsigned consecutive;                             /* failures since the last success */
    int64_t last_success, last_failure, next_attempt; /* Unix seconds, 0 = never / now */
};

/** Build "state_dir/sub" into out (cap bytes). */
int cm_state_path(const struct pol_certmgr *cfg, const char *sub, char *out, size_t cap);
/*
 * state_dir/acme (0711: the gateway reaches the http-01 webroot and a
 * metrics collector metrics.prom through it; every secret in it is 0600 or
 * in acme/orders, 0700) and certs (0755); missing ones are created.
 */
int cm_state_dirs(const struct pol_certmgr *cfg);
/** flock state_dir/acme/.lock (exclusive, no wait); *fd stays open while it is held. */
int cm_state_lock(const struct pol_certmgr *cfg, int *fd);
/** The account key: load it, or create it once (EC P-256, 0600, never overwritten). */
int cm_state_account_key(const struct pol_certmgr *cfg, EVP_PKEY **out);
/** The account URL recorded for cfg->directory (*out new), PC_ERR_NOT_FOUND when none. */
int cm_state_account_url(const struct pol_certmgr *cfg, char **out);
int cm_state_account_save(const struct pol_certmgr *cfg, const char *url);
int cm_state_order_load(const struct pol_certmgr *cfg, const char *name, struct cm_order_state *o);
int cm_state_order_save(const struct pol_certmgr *cfg, const char *name,
                        const struct cm_order_state *o);
void cm_state_order_clear(struct cm_order_state *o);
/** The pending key of NAME's order: PC_ERR_NOT_FOUND when none was made yet. */
int cm_state_order_key(const struct pol_certmgr *cfg, const char *name, EVP_PKEY **out);
int cm_state_order_key_save(const struct pol_certmgr *cfg, const char *name, EVP_PKEY *key);
/** Forget NAME's order and pending key (after install, or when it is unusable). */
void cm_state_order_drop(const struct pol_certmgr *cfg, const char *name);
/** Whether NAME has an order in flight. */
bool cm_state_order_exists(const struct pol_certmgr *cfg, const char *name);
/** status.json: stats[i] for cfg->certs[i] (zero when unknown or unreadable). */
void cm_state_stats_load(const struct pol_certmgr *cfg, struct cm_cert_stats *stats);
int cm_state_stats_save(const struct pol_certmgr *cfg, const struct cm_cert_stats *stats);

/* --- renewal policy (cm_acme_renew.c) --------------------------------------------------------- */

/** What is installed in state_dir/certs/NAME/ now. */
struct cm_installed {
    bool present;  /* fullchain.pem parsed */
    bool key_ok;   /* privkey.pem is the key of the leaf */
    bool names_ok; /* the leaf's SANs are exactly the configured domains */
    int64_t not_before, not_after;
    char ari_id[CM_ACME_ARI_ID_MAX + 1]; /* RFC 9773 certID, "" when it has no AKI */
};

/** Read and check the installed pair of `cert` (missing files: present false). */
void cm_installed_read(const struct pol_certmgr *cfg, const struct pol_cm_cert *cert,
                       struct cm_installed *in);
/*
 * When to renew a certificate valid [nb, na) by renew_before: pct (1..99) of
 * the lifetime left, or before_ms before na.  A duration longer than 2/3 of
 * the lifetime is clamped to renew at 1/3 of it, so a short-lived
 * certificate is not renewed on every pass.
 */
int64_t cm_renew_at(int64_t nb, int64_t na, unsigned pct, uint64_t before_ms);
/*
 * RFC 9773 4.2: a time in the suggested window chosen uniformly with `rnd`;
 * a window already over means now.
 */
int64_t cm_ari_pick(const struct cm_acme_ari *w, int64_t now, uint64_t rnd);
/** RFC 9773 4.1 certID of leaf: base64url(AKI keyIdentifier) "." base64url(serial). */
int cm_ari_cert_id(X509 *leaf, char *out, size_t outlen);
/*
 * Seconds to wait after the n-th consecutive failure (n >= 1):
 * CM_BACKOFF_BASE_S * 2^(n-1), at most CM_BACKOFF_MAX_S and at most a
 * quarter of `left` (seconds to expiry, when > 0), at least
 * CM_BACKOFF_BASE_S; then jittered into [d/2, d] with rnd.
 */
int64_t cm_backoff(unsigned n, int64_t left, uint64_t rnd);

/* --- installing, reloading, metrics (cm_acme_store.c) --------------------------------------------
 */

/*
 * Check a downloaded chain pem[0..len): 1..CM_ACME_CHAIN_MAX_CERTS PEM
 * certificates, the first one's key is `key`, its SANs cover every domain
 * of cert.  *norm is the chain re-encoded (nothing but the certificates;
 * free()), *not_after the leaf's.
 */
int cm_chain_check(const struct pol_cm_cert *cert, EVP_PKEY *key, const char *pem, size_t len,
                   char **norm, size_t *normlen, int64_t *not_after);
/*
 * Install key and chain in state_dir/certs/NAME/: privkey.pem (0600) first,
 * then fullchain.pem (0644), each written atomically (temporary file,
 * fsync, rename, fsync of the directory).  The chain is the commit point:
 * see ACME.md, "Crash safety".
 */
int cm_store_install(const struct pol_certmgr *cfg, const struct pol_cm_cert *cert, EVP_PKEY *key,
                     const char *chain, size_t len);
/** Tell the gateway: SIGHUP to reload.pid_file's pid, or run reload.command. */
int cm_store_reload(const struct pol_certmgr *cfg);
/** Write state_dir/acme/metrics.prom (Prometheus text format) atomically. */
int cm_store_metrics(const struct pol_certmgr *cfg, const struct cm_cert_stats *stats,
                     const struct cm_installed *inst, unsigned long requests);

/* --- the process (cm_acme_run.c) -----------------------------------------------------------------
 */

struct cm_run_opts {
    const char *config;      /* -c FILE */
    bool once;               /* --once */
    bool check;              /* --check */
    const char *force_renew; /* --force-renew NAME, or NULL */
};

/** Run portcullis-certmgr; returns the exit status (0, 1; 2 is main's). */
int cm_run(const struct cm_run_opts *o);
/*
 * Sleep up to ms, waking for SIGTERM/SIGINT (then false: stop) and, when
 * wake_on_hup, SIGHUP.  Signals are blocked in certmgr and taken only here
 * and in cm_stop_requested().
 */
bool cm_sleep_ms(uint64_t ms, bool wake_on_hup);
/** Whether SIGTERM/SIGINT arrived (polls pending signals without waiting). */
bool cm_stop_requested(void);
/** CLOCK_MONOTONIC in milliseconds. */
uint64_t cm_now_ms(void);

#endif
