/*
 * TLS for the gateway: the server SSL_CTX of each listener (certificates by
 * SNI, mandatory client certificates, EKU clientAuth, live revocation, the
 * TLS policy), the per-connection identity cache, handshake-refusal logging,
 * and the client SSL_CTX used towards https:// upstreams.
 *
 * Runs in the control thread (building contexts, CRL polling) and in
 * workers (callbacks during handshakes, gw_conn_get per request).
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_rcu.h"
#include "gateway/gw.h"

#define GW_TLS_SID_CTX       "portcullis"
#define GW_TLS_SESSION_CACHE 20480 /* sessions per listener (OpenSSL's default, made explicit) */
#define GW_TLS_VERIFY_DEPTH  4     /* client chains: leaf + intermediates + root */
#define GW_TLS12_CIPHERS                                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define GW_TLS_GROUPS "X25519:P-256:P-384"

static int idx_listener = -1; /* SSL_CTX ex_data: struct gw_listener * */
static int idx_conn = -1;     /* SSL ex_data: struct gw_conn * (owned) */
static int idx_verr = -1;     /* SSL ex_data: (intptr_t) verify error + 1, or 0 */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void
conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct gw_conn *c = ptr;

    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (c == NULL)
        return;
    authn_peer_free(c->peer);
    free(c);
}

static void
idx_init(void)
{
    idx_listener = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    idx_conn = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
    idx_verr = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* --- per connection -------------------------------------------------------- */

/* Mirrors the start of h2o 2.2.5's private struct st_h2o_socket_ssl_t
 * (lib/common/socket.c): {SSL_CTX *ssl_ctx; SSL *ossl; ...}.  The Debian
 * package version is pinned in packaging/; gw_req_ssl double-checks. */
struct h2o_socket_ssl_prefix {
    SSL_CTX *ssl_ctx;
    SSL *ossl;
};

SSL *
gw_req_ssl(h2o_req_t *req)
{
    h2o_socket_t *sock;
    const struct h2o_socket_ssl_prefix *p;

    if (req->conn->callbacks->get_socket == NULL)
        return NULL;
    sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->ssl == NULL)
        return NULL;
    p = (const struct h2o_socket_ssl_prefix *)sock->ssl;
    /* layout check: h2o keeps the socket in the SSL's BIO */
    if (p->ossl == NULL || SSL_get_rbio(p->ossl) == NULL ||
        BIO_get_data(SSL_get_rbio(p->ossl)) != sock)
        return NULL;
    return p->ossl;
}

struct gw_listener *
gw_tls_listener(SSL *ssl)
{
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), idx_listener);
}

struct gw_conn *
gw_conn_get(SSL *ssl)
{
    struct gw_conn *c = SSL_get_ex_data(ssl, idx_conn);
    struct authn_peer *p = NULL;
    X509 *cert;

    if (c != NULL)
        return c;
    /* resumed sessions carry the verify result of their full handshake */
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL || authn_peer_new(cert, &p) != PC_OK)
        return NULL;
    c = pc_xcalloc(1, sizeof(*c));
    c->peer = p;
    if (SSL_set_ex_data(ssl, idx_conn, c) != 1) {
        authn_peer_free(p);
        free(c);
        return NULL;
    }
    return c;
}

/* --- handshake callbacks (worker threads) ----------------------------------- */

static void
peer_addr(SSL *ssl, char *buf, size_t cap)
{
    BIO *rbio = SSL_get_rbio(ssl);
    h2o_socket_t *sock = rbio != NULL ? BIO_get_data(rbio) : NULL;
    struct sockaddr_storage ss;
    socklen_t len;
    char host[NI_MAXHOST];
    int32_t port;

    snprintf(buf, cap, "-");
    if (sock == NULL)
        return;
    len = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    if (len == 0)
        return;
    if (h2o_socket_getnumerichost((struct sockaddr *)&ss, len, host) == SIZE_MAX)
        return;
    port = h2o_socket_getport((struct sockaddr *)&ss);
    snprintf(buf, cap, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, (int)port);
}

static void
log_refusal(SSL *ssl, enum gw_hs_fail why, const char *what, X509 *cert)
{
    struct gw_worker *w = gw_worker_self();
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char addr[NI_MAXHOST + 16], subj[256] = "-", esni[256];

    if (w != NULL)
        GW_INC(w->metrics.hs_fail[why]);
    if (cert != NULL)
        X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
    peer_addr(ssl, addr, sizeof(addr));
    pc_log_esc(esni, sizeof(esni), sni != NULL ? sni : "-", sni != NULL ? strlen(sni) : 1);
    pc_log(LOG_WARNING, "tls handshake refused: peer=%s sni=%s reason=%s (%s) subject=\"%s\"", addr,
           esni, gw_hs_fail_name(why), what, subj);
}

/* The live revoked set, checked at the handshake too (the same set the
 * request path uses, so a CRL change applies to both at once). */
static int
check_revocation(SSL *ssl, X509 *cert, int *err)
{
    struct gw_listener *l = gw_tls_listener(ssl);
    const struct authn_crlset *crl;
    unsigned char issuer[32], serial[AUTHN_SERIAL_MAX];
    size_t slen = 0;

    if (l == NULL)
        return -1;
    crl = atomic_load_explicit(&l->crl, memory_order_acquire);
    if (crl == NULL)
        return 0;
    if (authn_crlset_expired(crl, (int64_t)time(NULL))) {
        *err = X509_V_ERR_CRL_HAS_EXPIRED;
        return -1;
    }
    if (authn_cert_revocation_key(cert, issuer, serial, &slen) != PC_OK) {
        *err = X509_V_ERR_INVALID_CA;
        return -1;
    }
    if (!authn_crlset_covers(crl, issuer)) {
        *err = X509_V_ERR_UNABLE_TO_GET_CRL;
        return -1;
    }
    if (authn_crlset_has(crl, issuer, serial, slen)) {
        *err = X509_V_ERR_CERT_REVOKED;
        return -1;
    }
    return 0;
}

static int
on_verify(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    int err = X509_STORE_CTX_get_error(store);

    if (ssl == NULL)
        return 0;
    if (ok && X509_STORE_CTX_get_error_depth(store) == 0) {
        /* EKU clientAuth is required, not merely "allowed when present" */
        uint32_t flags = X509_get_extension_flags(cert);
        if ((flags & EXFLAG_XKUSAGE) == 0 ||
            (X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) == 0) {
            err = X509_V_ERR_INVALID_PURPOSE;
            ok = 0;
        } else if (check_revocation(ssl, cert, &err) != 0) {
            ok = 0;
        }
        if (!ok)
            X509_STORE_CTX_set_error(store, err);
    }
    if (!ok && SSL_get_ex_data(ssl, idx_verr) == NULL) {
        SSL_set_ex_data(ssl, idx_verr, (void *)(intptr_t)(err + 1));
        log_refusal(ssl, gw_hs_fail_of_verify(err), X509_verify_cert_error_string(err), cert);
    }
    return ok;
}

static void
on_info(const SSL *cssl, int where, int ret)
{
    SSL *ssl = (SSL *)(uintptr_t)cssl; /* OpenSSL's callback type is const; the getters are not */
    int desc = ret & 0xff;

    if ((where & SSL_CB_ALERT) == 0 || (where & SSL_CB_WRITE) == 0 || (ret >> 8) != SSL3_AL_FATAL)
        return;
    if (SSL_get_ex_data(ssl, idx_verr) != NULL)
        return; /* on_verify logged the precise reason */
    SSL_set_ex_data(ssl, idx_verr, (void *)(intptr_t)1);
    if (SSL_get0_peer_certificate(ssl) == NULL &&
        (desc == SSL_AD_HANDSHAKE_FAILURE || desc == TLS13_AD_CERTIFICATE_REQUIRED))
        log_refusal(ssl, GW_HS_NO_CERT, "no client certificate", NULL);
    else
        log_refusal(ssl, GW_HS_PROTOCOL, SSL_alert_desc_string_long(ret), NULL);
}

static int
on_sni(SSL *ssl, int *al, void *arg)
{
    struct gw_listener *l = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t i;

    (void)al;
    if (name == NULL || l->ncerts <= 1)
        return SSL_TLSEXT_ERR_OK;
    for (i = 0; i < l->ncerts; i++) {
        if (X509_check_host(l->certs[i].cert, name, 0, 0, NULL) == 1) {
            if (i != 0)
                SSL_use_cert_and_key(ssl, l->certs[i].cert, l->certs[i].key, l->certs[i].chain, 1);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* no match: the default certificate */
}

/* --- building the listener context (control thread) ----------------------- */

static void
log_ssl_errors(const struct pol_pos *pos, const char *what, const char *path)
{
    char buf[256];
    unsigned long e = ERR_peek_last_error();

    ERR_error_string_n(e, buf, sizeof(buf));
    pc_log(LOG_ERR, "%s:%u:%u: %s %s: %s", pos->file, pos->line, pos->col, what, path,
           e != 0 ? buf : "no usable PEM data");
    ERR_clear_error();
}

/* Read every certificate of a PEM file into a new stack (bounded). */
static STACK_OF(X509) * read_certs(const char *path)
{
    STACK_OF(X509) *sk = NULL;
    BIO *bio = NULL;
    X509 *x = NULL;
    char *buf = NULL;
    size_t len = 0;

    if (pc_file_read(path, PC_PEM_MAX_BYTES, &buf, &len) != PC_OK)
        return NULL;
    bio = BIO_new_mem_buf(buf, (int)len);
    sk = sk_X509_new_null();
    while (bio != NULL && sk != NULL) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL)
            break;
        if (sk_X509_push(sk, x) == 0) {
            X509_free(x);
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    free(buf);
    if (sk != NULL && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

static EVP_PKEY *
read_key(const char *path)
{
    EVP_PKEY *k = NULL;
    BIO *bio = NULL;
    char *buf = NULL;
    size_t len = 0;

    if (pc_file_read(path, PC_PEM_MAX_BYTES, &buf, &len) != PC_OK)
        return NULL;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL)
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    pc_free_secret(buf, len); /* the key's PEM text */
    return k;
}

static int
load_server_cert(struct gw_listener *l, size_t i)
{
    const struct pol_cert *pc = &l->conf->certs[i];
    struct gw_sni_cert *c = &l->certs[i];
    STACK_OF(X509) *all = read_certs(pc->cert);

    if (all == NULL) {
        log_ssl_errors(&l->conf->pos, "certificate", pc->cert);
        return PC_ERR_INVALID;
    }
    c->cert = sk_X509_shift(all);
    c->chain = all;
    c->key = read_key(pc->key);
    if (c->key == NULL) {
        log_ssl_errors(&l->conf->pos, "private key", pc->key);
        return PC_ERR_INVALID;
    }
    if (X509_check_private_key(c->cert, c->key) != 1) {
        ERR_clear_error();
        pc_log(LOG_ERR, "%s:%u:%u: private key %s does not match certificate %s", l->conf->pos.file,
               l->conf->pos.line, l->conf->pos.col, pc->key, pc->cert);
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

static int
load_client_ca(struct gw_listener *l)
{
    const struct pol_pos *pos = &l->conf->pos;
    X509_STORE *store = SSL_CTX_get_cert_store(l->ssl_ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    int i;

    l->cas = read_certs(l->conf->client_ca);
    if (l->cas == NULL || names == NULL) {
        sk_X509_NAME_free(names);
        log_ssl_errors(pos, "client_ca", l->conf->client_ca);
        return PC_ERR_INVALID;
    }
    for (i = 0; i < sk_X509_num(l->cas); i++) {
        X509 *ca = sk_X509_value(l->cas, i);
        X509_NAME *dup;
        if (X509_check_ca(ca) == 0) {
            char subj[256];
            X509_NAME_oneline(X509_get_subject_name(ca), subj, sizeof(subj));
            pc_log(LOG_ERR, "%s:%u:%u: client_ca %s: \"%s\" is not a CA certificate", pos->file,
                   pos->line, pos->col, l->conf->client_ca, subj);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return PC_ERR_INVALID;
        }
        dup = X509_NAME_dup(X509_get_subject_name(ca));
        if (X509_STORE_add_cert(store, ca) != 1 || dup == NULL ||
            sk_X509_NAME_push(names, dup) == 0) {
            X509_NAME_free(dup);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            log_ssl_errors(pos, "client_ca", l->conf->client_ca);
            return PC_ERR_INVALID;
        }
    }
    /* trust anchors only: no X509_V_FLAG_PARTIAL_CHAIN, so an intermediate
     * in the bundle is not a root of its own */
    SSL_CTX_set_client_CA_list(l->ssl_ctx, names);
    return PC_OK;
}

static int
apply_policy(SSL_CTX *ctx, const struct pol_tls *t, const struct pol_pos *pos)
{
    int minv = t->profile == POL_TLS_MODERN ? TLS1_3_VERSION : TLS1_2_VERSION;

    if (SSL_CTX_set_min_proto_version(ctx, minv) != 1 ||
        SSL_CTX_set_cipher_list(ctx, t->ciphers != NULL ? t->ciphers : GW_TLS12_CIPHERS) != 1 ||
        (t->ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) ||
        SSL_CTX_set1_groups_list(ctx, t->groups != NULL ? t->groups : GW_TLS_GROUPS) != 1) {
        log_ssl_errors(pos, "tls policy", t->path != NULL ? t->path : "(built-in)");
        return PC_ERR_INVALID;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* off (the default): TLS 1.2 without tickets; TLS 1.3 then sends
     * stateful tickets (a session id in the listener's session cache), the
     * same number.  OpenSSL 3.0 builds every stateless ticket by encoding,
     * decoding (the client certificate parsed anew) and encoding the session
     * again, and decodes it again to resume: a resumption from the cache
     * costs the gateway half as much (docs/internals/CONFIG.md). */
    if (t->ticket_rotate_ms == 0) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_sess_set_cache_size(ctx, GW_TLS_SESSION_CACHE);
    }
    SSL_CTX_set_num_tickets(ctx, t->ticket_count);
    return PC_OK;
}

int
gw_tls_listener_init(struct gw_listener *l, const struct pol_config *cfg)
{
    const struct pol_listener *pl = l->conf;
    size_t i;
    int rc = PC_ERR_INVALID;

    pthread_once(&idx_once, idx_init);
    atomic_init(&l->crl, NULL);
    if (pl->plain)
        return PC_OK;
    l->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (l->ssl_ctx == NULL) {
        log_ssl_errors(&pl->pos, "SSL_CTX_new", pl->address);
        return PC_ERR_CRYPTO;
    }
    if (apply_policy(l->ssl_ctx, &cfg->tls, &pl->pos) != PC_OK)
        goto out;
    l->certs = pc_xcalloc(pl->ncerts, sizeof(*l->certs));
    l->ncerts = pl->ncerts;
    for (i = 0; i < pl->ncerts; i++)
        if (load_server_cert(l, i) != PC_OK)
            goto out;
    if (SSL_CTX_use_cert_and_key(l->ssl_ctx, l->certs[0].cert, l->certs[0].key, l->certs[0].chain,
                                 1) != 1) {
        log_ssl_errors(&pl->pos, "certificate", pl->certs[0].cert);
        goto out;
    }
    if (load_client_ca(l) != PC_OK)
        goto out;
    SSL_CTX_set_verify(l->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, on_verify);
    SSL_CTX_set_verify_depth(l->ssl_ctx, GW_TLS_VERIFY_DEPTH);
    /* without a session id context every resumption fails (notes Q1.1) */
    SSL_CTX_set_session_id_context(l->ssl_ctx, (const unsigned char *)GW_TLS_SID_CTX,
                                   sizeof(GW_TLS_SID_CTX) - 1);
    SSL_CTX_set_ex_data(l->ssl_ctx, idx_listener, l);
    SSL_CTX_set_tlsext_servername_callback(l->ssl_ctx, on_sni);
    SSL_CTX_set_tlsext_servername_arg(l->ssl_ctx, l);
    SSL_CTX_set_info_callback(l->ssl_ctx, on_info);
    h2o_ssl_register_alpn_protocols(l->ssl_ctx, h2o_alpn_protocols);
    if (gw_tickets_init(l, &cfg->tls) != PC_OK)
        goto out;
    if (pl->crl != NULL) {
        int err = 0;
        gw_tls_crl_poll(l, true, &err);
        if (err != 0)
            goto out;
    }
    rc = PC_OK;
out:
    return rc;
}

void
gw_tls_listener_clear(struct gw_listener *l)
{
    size_t i;

    for (i = 0; i < l->ncerts; i++) {
        X509_free(l->certs[i].cert);
        EVP_PKEY_free(l->certs[i].key);
        sk_X509_pop_free(l->certs[i].chain, X509_free);
    }
    free(l->certs);
    l->certs = NULL;
    l->ncerts = 0;
    sk_X509_pop_free(l->cas, X509_free);
    l->cas = NULL;
    gw_tickets_clear(l);
    SSL_CTX_free(l->ssl_ctx);
    l->ssl_ctx = NULL;
    /* workers are gone: no reader can hold the set any more */
    authn_crlset_free(atomic_exchange(&l->crl, NULL));
}

/* --- CRL reload (control thread) ----------------------------------------- */

static uint64_t crl_reloads, crl_refused; /* control thread only */

void
gw_tls_crl_stats(uint64_t *reloads, uint64_t *refused)
{
    *reloads = crl_reloads;
    *refused = crl_refused;
}

void
gw_tls_crl_poll(struct gw_listener *l, bool initial, int *err)
{
    const struct pol_listener *pl = l->conf;
    struct authn_crlset *set = NULL;
    struct stat st;
    char missing[1024];

    *err = 0;
    if (pl->crl == NULL)
        return;
    if (stat(pl->crl, &st) != 0) {
        if (initial || !l->crl_stat.failing)
            pc_log(LOG_ERR, "%s:%u:%u: crl %s: %s%s", pl->pos.file, pl->pos.line, pl->pos.col,
                   pl->crl, strerror(errno), initial ? "" : " (keeping the previous CRL)");
        l->crl_stat.failing = true;
        *err = PC_ERR_IO;
        return;
    }
    if (!initial && st.st_dev == l->crl_stat.dev && st.st_ino == l->crl_stat.ino &&
        st.st_size == l->crl_stat.size && st.st_mtim.tv_sec == l->crl_stat.mtime.tv_sec &&
        st.st_mtim.tv_nsec == l->crl_stat.mtime.tv_nsec)
        return;
    l->crl_stat.dev = st.st_dev;
    l->crl_stat.ino = st.st_ino;
    l->crl_stat.size = st.st_size;
    l->crl_stat.mtime = st.st_mtim;
    if (authn_crlset_load(pl->crl, l->cas, &set) != PC_OK) {
        pc_log(LOG_ERR, "%s:%u:%u: crl %s refused%s", pl->pos.file, pl->pos.line, pl->pos.col,
               pl->crl, initial ? "" : "; keeping the previous CRL");
        l->crl_stat.failing = true;
        crl_refused++;
        *err = PC_ERR_INVALID;
        return;
    }
    if (authn_crlset_uncovered(set, l->cas, missing, sizeof(missing)) != 0) {
        pc_log(LOG_ERR, "%s:%u:%u: crl %s has no CRL for client CA %s%s", pl->pos.file,
               pl->pos.line, pl->pos.col, pl->crl, missing,
               initial ? "" : "; keeping the previous CRL");
        authn_crlset_free(set);
        l->crl_stat.failing = true;
        crl_refused++;
        *err = PC_ERR_INVALID;
        return;
    }
    l->crl_stat.failing = false;
    crl_reloads++;
    if (!initial)
        pc_log(LOG_INFO, "crl %s reloaded: %zu revoked", pl->crl, authn_crlset_count(set));
    pc_rcu_retire(pc_rcu_global(), atomic_exchange(&l->crl, set), authn_crlset_free_void);
    if (!initial)
        gw_tickets_revoke_all(l); /* sessions from before the change do not resume */
}

/* --- upstream client context ---------------------------------------------- */

/* h2o 2.2.5 skips its host name check when the TLS 1.3 handshake completes
 * in the same flight (notes Q2 bug 1): check the name h2o sent as SNI. */
static int
on_upstream_verify(int ok, X509_STORE_CTX *store)
{
    SSL *ssl;
    const char *host;
    X509 *cert;

    if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return ok;
    ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    host = ssl != NULL ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    cert = X509_STORE_CTX_get_current_cert(store);
    if (host == NULL ||
        (X509_check_host(cert, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1 &&
         X509_check_ip_asc(cert, host, 0) != 1)) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
        return 0;
    }
    return 1;
}

SSL_CTX *
gw_tls_upstream_ctx_new(const char *ca_file)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    if (c == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    if ((ca_file != NULL ? SSL_CTX_load_verify_locations(c, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(c)) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_peek_last_error(), buf, sizeof(buf));
        pc_log(LOG_ERR, "upstream trust %s: %s", ca_file != NULL ? ca_file : "(system)", buf);
        ERR_clear_error();
        SSL_CTX_free(c);
        return NULL;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, on_upstream_verify);
    return c;
}
