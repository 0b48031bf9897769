/*
 * Named caps on every input that crosses a trust boundary, with the unit and
 * the reason.  Config keys can lower (and sometimes raise) the runtime ones;
 * these are the defaults and the hard ceilings.  Check a cap before you
 * allocate for the input, never after.
 */
#ifndef PC_LIMITS_H
#define PC_LIMITS_H

/* --- configuration files ------------------------------------------------ */
#define PC_CONF_MAX_BYTES                                                                          \
    (1024 * 1024)                   /* one YAML file; configs are small, a huge one is a mistake */
#define PC_CONF_MAX_DEPTH      16   /* YAML nesting; our schema needs 5 */
#define PC_CONF_MAX_FILES      256  /* files matched by include: */
#define PC_CONF_MAX_ROUTES     4096 /* routes over all files */
#define PC_CONF_MAX_LISTENERS  32   /* listen: entries */
#define PC_CONF_MAX_CERTS      64   /* certificates per listener */
#define PC_CONF_MAX_PATTERNS   256  /* mtls.allow entries per route */
#define PC_CONF_MAX_STR        4096 /* one scalar value, bytes */
#define PC_CONF_MAX_ERRORS     20   /* errors reported before giving up */
#define PC_CONF_MAX_HDR_SETS   32   /* headers.set entries per route */
#define PC_CONF_MAX_NODES      262144 /* YAML nodes in one file; 4096 routes need ~150k */
#define PC_CONF_MAX_ISSUERS    64     /* issuers: entries */
#define PC_CONF_MAX_INCLUDES   16     /* globs under include: */
#define PC_CONF_MAX_NAME       64     /* route and issuer names, bytes */
#define PC_CONF_MAX_SCOPES     64     /* jwt.scopes per route */
#define PC_CONF_MAX_CLAIM_HDRS 32     /* jwt.claims_to_headers per route */
#define PC_CONF_MAX_PREFIX     1024   /* match.path_prefix, bytes: bounds the lookup work */
#define PC_CONF_MAX_LIST       64     /* any other list (algorithms, methods, ciphers...) */

/* --- HTTP requests (defaults of the limits: section) -------------------- */
#define PC_HTTP_MAX_HEADER_BYTES (32 * 1024) /* sum of name+value bytes; 431 above */
#define PC_HTTP_MAX_HEADERS      100         /* header fields; h2o's own H2O_MAX_HEADERS */
#define PC_HTTP_MAX_BODY_BYTES                                                                     \
    (8 * 1024 * 1024) /* request entity; 413 above (h2o buffers it all) */
#define PC_HTTP_MAX_BODY_CEILING     (1024UL * 1024 * 1024) /* max configurable body */
#define PC_HTTP_MAX_PATH_BYTES       8192                   /* :path; 414 above */
#define PC_HTTP_HANDSHAKE_TIMEOUT_MS 10000                  /* TLS handshake */
#define PC_HTTP1_REQ_TIMEOUT_MS      10000 /* idle keep-alive / slow request head */
#define PC_HTTP2_IDLE_TIMEOUT_MS     30000 /* HTTP/2 connection without a stream */
#define PC_HTTP2_MAX_STREAMS         100   /* concurrent streams per connection */
#define PC_HTTP2_MAX_RESETS          200 /* client resets before a response, per connection; then GOAWAY */
#define PC_UPSTREAM_TIMEOUT_MS       30000 /* connect / first byte / between bytes: 504 after */
#define PC_UPSTREAM_KEEPALIVE_MS     2000  /* idle pooled upstream connection */
#define PC_SHUTDOWN_TIMEOUT_MS       30000 /* graceful drain before connections are cut */

/* --- JWT ------------------------------------------------------------------ */
#define PC_TOKEN_CACHE_ENTRIES     16384 /* verified tokens per worker (limits.token_cache_entries) */
#define PC_TOKEN_CACHE_MAX         1000000 /* ceiling of that key */
#define PC_JWKS_FETCH_TIMEOUT_MS   5000    /* one JWKS request, connect included */
#define PC_JWKS_WAIT_MS            6000  /* a request waits this long for an unknown-kid refetch */
#define PC_JWKS_REFRESH_MIN_MS     60000 /* Cache-Control max-age is clamped to [1m, 24h] */
#define PC_JWKS_REFRESH_MAX_MS     86400000
#define PC_JWKS_REFRESH_DEFAULT_MS 300000 /* without max-age */
#define PC_JWKS_BACKOFF_MAX_MS     300000 /* retry a failing endpoint at most this far apart */

/* --- identities and headers we build ------------------------------------ */
#define PC_PEER_MAX_SANS  64   /* SAN entries read from one client cert */
#define PC_PEER_MAX_NAME  1024 /* one SAN / CN, bytes */
#define PC_XFCC_MAX_BYTES 8192 /* X-Forwarded-Client-Cert value we emit */
#define PC_REQUEST_ID_MAX 64   /* X-Request-Id we accept from nothing: always ours */

/* --- CRLs ---------------------------------------------------------------- */
#define PC_CRL_MAX_BYTES   (16 * 1024 * 1024) /* a CRL file */
#define PC_CRL_MAX_ENTRIES 1000000            /* revoked serials over all CRLs */
#define PC_CRL_POLL_MS     250                /* how often the CRL file is stat()ed */

/* --- files read by the admin tool --------------------------------------- */
#define PC_PEM_MAX_BYTES   (1024 * 1024)      /* a PEM cert, key or CSR */
#define PC_INDEX_MAX_BYTES (64 * 1024 * 1024) /* the CA index */

/* --- logging ------------------------------------------------------------- */
#define PC_LOG_LINE_MAX   4096          /* one access-log line; longer fields are cut */
#define PC_LOG_RING_BYTES (1024 * 1024) /* per-worker access-log ring */
#define PC_LOG_FLUSH_MS   100           /* access-log writer wakes at least this often */

#endif
