/*
 * portcullis-admin tls audit: the probes.  Each probe is one TCP connection
 * and one TLS handshake with an OpenSSL client context made for it alone:
 * security level 0 and "@SECLEVEL=0" cipher lists so that OpenSSL 3 offers
 * TLS 1.0/1.1 and old suites at all (only here: nothing else in the tree
 * lowers the level), min = max version, and one suite or one group at a time.
 * What the server did is read from the handshake messages it sent (the msg
 * callback) and the alerts (the info callback); see "Method" in
 * docs/internals/TLS-AUDIT.md.  Nothing is judged here: cm_tls_audit_grade.c
 * does that.
 *
 * Runs in the short-lived portcullis-admin process; blocking, single
 * threaded, every read, write and connect bounded by CM_AUDIT_IO_TIMEOUT_MS,
 * at most CM_AUDIT_MAX_HANDSHAKES handshakes.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm.h"

/* every TLS <= 1.2 suite OpenSSL has; the TLS 1.2 group probes: ECDHE suites only */
#define PROBE_CIPHERS_ALL   "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
#define PROBE_CIPHERS_ECDHE "ECDHE:@SECLEVEL=0"
#define PROBE_SUITES_ALL                                                                           \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"                  \
    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"
#define PROBE_GROUPS_MAX_BYTES 512  /* the joined list of every group */
#define PROBE_REQ_MAX_BYTES    1024 /* the GET / request */
#define PROBE_ALPN             "\x08http/1.1"

static const int versions[CM_AUDIT_NVER] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                            TLS1_3_VERSION};

static const char *const tls13_suites[] = {
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",   "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
};

/* Groups offered one at a time, by the names tls-policy.yaml uses (OpenSSL
 * accepts them); X25519 first: the key share of the "all groups" offer. */
static const struct {
    const char *name;
    bool tls13, tls12;
} groups[] = {
    {"X25519", true, true},
    {"P-256", true, true},
    {"P-384", true, true},
    {"P-521", true, true},
    {"X448", true, true},
    {"ffdhe2048", true, false},
    {"ffdhe3072", true, false},
    {"ffdhe4096", true, false},
    {"ffdhe6144", true, false},
    {"ffdhe8192", true, false},
    {"brainpoolP256r1", false, true},
    {"brainpoolP384r1", false, true},
    {"brainpoolP512r1", false, true},
    {"secp256k1", false, true},
};

#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* The TLS 1.3 HelloRetryRequest is a ServerHello with this random (RFC 8446 4.1.3). */
static const unsigned char hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* One handshake's offer. */
struct probe {
    int version;         /* min = max; 0: any of TLS 1.0..1.3 */
    const char *ciphers; /* TLS <= 1.2 list, NULL: all */
    const char *suites;  /* TLS 1.3 list, NULL: all */
    const char *groups;  /* NULL: all */
    bool first;          /* the first connection: note what was negotiated */
};

/* What one handshake showed; the callbacks fill it. */
struct hs {
    bool hello;       /* a ServerHello (not a HelloRetryRequest) was read */
    bool past_hello;  /* a handshake message after it: the client accepted that ServerHello */
    bool cert_req;    /* CertificateRequest */
    int alert_in;     /* first fatal alert received, -1 none */
    int alert_out;    /* first fatal alert sent, -1 none */
    bool peer_closed; /* the server closed the connection (EOF, reset) without an alert */
    bool timed_out;   /* no answer within CM_AUDIT_IO_TIMEOUT_MS */
    char group[CM_AUDIT_NAME_MAX]; /* the key exchange group, by the names of groups[] */
    enum cm_audit_res res;
    char why[CM_AUDIT_TEXT_MAX]; /* why it failed, "" when it completed */
};

struct auditor {
    const struct cm_audit_target *t;
    struct cm_audit_obs *obs;
    char label[CM_AUDIT_HOST_MAX + 16]; /* "HOST:PORT" for reasons */
    const char *sni;                    /* sent as SNI, or NULL */
    char host_hdr[CM_AUDIT_HOST_MAX + 16];
    char all_groups[PROBE_GROUPS_MAX_BYTES];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) * chain; /* --cert's certificates after the leaf */
    X509_STORE *store;
    char leaf_curve[CM_AUDIT_NAME_MAX]; /* "P-256" when the server's key is EC, else "" */
    bool http_tried;
};

/* --- callbacks ---------------------------------------------------------------- */

static void
on_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg)
{
    const unsigned char *b = buf;
    struct hs *h = arg;

    (void)version;
    (void)ssl;
    if (h == NULL || write_p || content_type != SSL3_RT_HANDSHAKE || len < 1)
        return;
    if (b[0] == SSL3_MT_SERVER_HELLO) {
        /* type(1) length(3) legacy_version(2) random(32) */
        h->hello = len >= 38 && memcmp(b + 6, hrr_random, sizeof(hrr_random)) != 0;
        return;
    }
    /* OpenSSL reads the next message only after it accepted the ServerHello */
    if (h->hello)
        h->past_hello = true;
    if (b[0] == SSL3_MT_CERTIFICATE_REQUEST)
        h->cert_req = true;
}

static void
on_info(const SSL *ssl, int where, int ret)
{
    struct hs *h = SSL_get_app_data(ssl);

    if (h == NULL || (where & SSL_CB_ALERT) == 0 || (ret >> 8) != SSL3_AL_FATAL)
        return;
    if ((where & SSL_CB_READ) != 0) {
        if (h->alert_in < 0)
            h->alert_in = ret & 0xff;
    } else if (h->alert_out < 0) {
        h->alert_out = ret & 0xff;
    }
}

/* --- sockets ------------------------------------------------------------------- */

/* A blocking TCP connection with timeouts, or -1 with *err. */
static int
tcp_connect(const struct sockaddr *sa, socklen_t salen, int *err)
{
    struct timeval tv = {CM_AUDIT_IO_TIMEOUT_MS / 1000, (CM_AUDIT_IO_TIMEOUT_MS % 1000) * 1000};
    struct pollfd pfd;
    socklen_t elen = sizeof(int);
    int fd, rc, e = 0, one = 1, flags;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    rc = connect(fd, sa, salen);
    if (rc != 0 && errno != EINPROGRESS) {
        e = errno;
        goto fail;
    }
    if (rc != 0) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        do
            rc = poll(&pfd, 1, CM_AUDIT_IO_TIMEOUT_MS);
        while (rc < 0 && errno == EINTR);
        if (rc <= 0) {
            e = rc == 0 ? ETIMEDOUT : errno;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
            e = errno;
        if (e != 0)
            goto fail;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        e = errno;
        goto fail;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    close(fd);
    *err = e;
    return -1;
}

/* Resolve HOST and connect to its first address that answers; *fd is that connection. */
static int
resolve(struct auditor *a, int *fd)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[8];
    int rc, err = ECONNREFUSED;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (a->t->host_is_ip ? AI_NUMERICHOST : 0);
    snprintf(port, sizeof(port), "%u", (unsigned)a->t->port);
    rc = getaddrinfo(a->t->host, port, &hints, &res);
    if (rc != 0) {
        cm_err_set("%s: cannot resolve %s: %s", a->label, a->t->host, gai_strerror(rc));
        return PC_ERR_IO;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(a->addr))
            continue;
        *fd = tcp_connect(ai->ai_addr, ai->ai_addrlen, &err);
        if (*fd >= 0) {
            memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
            a->addrlen = ai->ai_addrlen;
            break;
        }
    }
    freeaddrinfo(res);
    if (*fd < 0) {
        cm_err_set("%s: cannot connect: %s", a->label, strerror(err));
        return PC_ERR_IO;
    }
    return PC_OK;
}

/* --- HSTS ---------------------------------------------------------------------- */

/* Whether the server ended the connection without an alert (EOF or reset). */
static bool
peer_closed(SSL *ssl, int r, int saved_errno)
{
    int e = SSL_get_error(ssl, r);

    if (e == SSL_ERROR_ZERO_RETURN)
        return true;
    if (e == SSL_ERROR_SYSCALL)
        return saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE;
    return e == SSL_ERROR_SSL &&
           ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* The server asked for a certificate, we had none, and it ended the handshake. */
static bool
refused_for_cert(const struct hs *h, bool have_cert)
{
    return h->cert_req && !have_cert &&
           (h->alert_in == SSL_AD_HANDSHAKE_FAILURE || h->alert_in == SSL_AD_CERTIFICATE_REQUIRED ||
            (h->alert_in < 0 && h->peer_closed));
}

static void
http_fail(struct cm_audit_obs *o, struct hs *h, const char *what)
{
    if (refused_for_cert(h, o->client_cert)) {
        /* TLS 1.3: the server judges our (absent) certificate after our Finished */
        o->cert_required = true;
        if (h->alert_in >= 0)
            snprintf(o->http_error, sizeof(o->http_error),
                     "the server requires a client certificate (alert %s): give --cert and --key "
                     "to read the response",
                     SSL_alert_desc_string_long(h->alert_in));
        else
            snprintf(o->http_error, sizeof(o->http_error),
                     "the server requires a client certificate (it closed the connection): give "
                     "--cert and --key to read the response");
    } else if (h->alert_in >= 0) {
        snprintf(o->http_error, sizeof(o->http_error), "%s: alert %s", what,
                 SSL_alert_desc_string_long(h->alert_in));
    } else {
        snprintf(o->http_error, sizeof(o->http_error), "%s", what);
    }
    ERR_clear_error();
}

/* One GET / over a completed handshake; the response head only. */
static void
http_get(struct auditor *a, SSL *ssl, struct hs *h)
{
    struct cm_audit_obs *o = a->obs;
    char req[PROBE_REQ_MAX_BYTES];
    char *buf = pc_xmalloc(CM_AUDIT_HTTP_MAX_BYTES + 1);
    size_t len = 0;
    int n, rlen;

    a->http_tried = true;
    rlen = snprintf(req, sizeof(req),
                    "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: portcullis-admin/%s (tls audit)\r\n"
                    "Accept: */*\r\nConnection: close\r\n\r\n",
                    a->host_hdr, PC_VERSION);
    errno = 0;
    n = SSL_write(ssl, req, rlen);
    if (n != rlen) {
        h->peer_closed = peer_closed(ssl, n, errno);
        http_fail(o, h, "sending GET / failed");
        goto out;
    }
    while (len < CM_AUDIT_HTTP_MAX_BYTES) {
        errno = 0;
        n = SSL_read(ssl, buf + len, (int)(CM_AUDIT_HTTP_MAX_BYTES - len));
        if (n <= 0) {
            h->peer_closed = peer_closed(ssl, n, errno);
            break;
        }
        len += (size_t)n;
        if (memmem(buf, len, "\r\n\r\n", 4) != NULL)
            break;
    }
    if (memmem(buf, len, "\r\n\r\n", 4) == NULL) {
        if (len >= CM_AUDIT_HTTP_MAX_BYTES)
            http_fail(o, h, "the response head is larger than the limit");
        else
            http_fail(o, h, len == 0 ? "no response to GET /" : "the response head was cut");
        goto out;
    }
    cm_audit_http_head_parse(buf, len, o);
out:
    free(buf);
}

/* --- one handshake --------------------------------------------------------------- */

/* "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519" */
static void
note_negotiated(struct cm_audit_obs *o, SSL *ssl, const struct hs *h)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

    snprintf(o->negotiated, sizeof(o->negotiated), "%s %s%s%s", SSL_get_version(ssl),
             c != NULL ? SSL_CIPHER_get_name(c) : "?", h->group[0] != '\0' ? " " : "", h->group);
}

static SSL_CTX *
probe_ctx(const struct auditor *a, const struct probe *p)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    /* OpenSSL 3 offers TLS 1.0/1.1, SHA-1 signatures and old suites only at level 0 */
    SSL_CTX_set_security_level(ctx, 0);
    /* and talks to servers without RFC 5746 only with this (OpenSSL 3 default: off) */
    SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT);
    if (SSL_CTX_set_min_proto_version(ctx, p->version != 0 ? p->version : TLS1_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, p->version != 0 ? p->version : TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, p->ciphers != NULL ? p->ciphers : PROBE_CIPHERS_ALL) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, p->suites != NULL ? p->suites : PROBE_SUITES_ALL) != 1 ||
        SSL_CTX_set1_groups_list(ctx, p->groups != NULL ? p->groups : a->all_groups) != 1 ||
        (a->cert != NULL && SSL_CTX_use_cert_and_key(ctx, a->cert, a->key, a->chain, 1) != 1)) {
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* verified apart: cm_audit_chain_check() */
    return ctx;
}

static void
classify(const struct auditor *a, SSL *ssl, int r, int saved_errno, struct hs *h)
{
    /* read the error queue first: cm_audit_key_group() clears it */
    int e = SSL_get_error(ssl, r);
    unsigned long err = ERR_peek_last_error();
    bool closed = r != 1 && h->alert_in < 0 && peer_closed(ssl, r, saved_errno);
    EVP_PKEY *k = NULL;

    /* the group the server chose for the key exchange (TLS 1.2: its ServerKeyExchange) */
    if (h->past_hello && SSL_get_peer_tmp_key(ssl, &k) == 1)
        cm_audit_key_group(k, h->group, sizeof(h->group));
    EVP_PKEY_free(k);
    if (r == 1) {
        h->res = CM_AUDIT_ACCEPTED;
        /* TLS 1.3: our handshake ends before the server judges our certificate;
         * a server that refused to go on without one (first connection) always does */
        if (h->cert_req && a->cert == NULL && a->obs->cert_required &&
            SSL_version(ssl) == TLS1_3_VERSION)
            h->res = CM_AUDIT_ACCEPTED_CERTREQ;
        ERR_clear_error();
        return;
    }
    h->peer_closed = closed;
    /* SO_RCVTIMEO: the socket BIO takes EAGAIN for "retry" */
    h->timed_out = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
                   (e == SSL_ERROR_SYSCALL && saved_errno == EAGAIN);
    if (h->alert_in >= 0)
        snprintf(h->why, sizeof(h->why), "alert %s", SSL_alert_desc_string_long(h->alert_in));
    else if (h->peer_closed)
        snprintf(h->why, sizeof(h->why), "the server closed the connection");
    else if (h->alert_out >= 0)
        snprintf(h->why, sizeof(h->why), "the server's answer was refused (%s)",
                 SSL_alert_desc_string_long(h->alert_out));
    else if (h->timed_out)
        snprintf(h->why, sizeof(h->why), "timed out after %d ms", CM_AUDIT_IO_TIMEOUT_MS);
    else if (e == SSL_ERROR_SYSCALL)
        snprintf(h->why, sizeof(h->why), "%s", strerror(saved_errno));
    else
        snprintf(h->why, sizeof(h->why), "%s",
                 err != 0 && ERR_reason_error_string(err) != NULL ? ERR_reason_error_string(err)
                                                                  : "handshake failed");
    ERR_clear_error();
    if (!h->past_hello)
        h->res = CM_AUDIT_REFUSED;
    else if (refused_for_cert(h, a->cert != NULL))
        h->res = CM_AUDIT_ACCEPTED_CERTREQ;
    else
        h->res = CM_AUDIT_ACCEPTED_FAILED;
}

/*
 * One handshake with the offer p, on fd (an open connection) or a new one
 * (fd -1).  h gets the result; CM_AUDIT_UNTESTED when the budget is spent
 * or OpenSSL cannot make this offer.  The first handshake that gets a
 * certificate chain describes it; the first that completes reads GET /.
 * PC_ERR_IO (reason recorded) when TCP fails.
 */
static int
handshake(struct auditor *a, const struct probe *p, int fd, struct hs *h)
{
    struct cm_audit_obs *o = a->obs;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    BIO *bio = NULL;
    int rc = PC_OK, r, err = 0, saved;

    memset(h, 0, sizeof(*h));
    h->alert_in = h->alert_out = -1;
    h->res = CM_AUDIT_UNTESTED;
    if (o->handshakes >= CM_AUDIT_MAX_HANDSHAKES) {
        o->incomplete = true;
        goto out;
    }
    ctx = probe_ctx(a, p);
    if (ctx == NULL) {
        snprintf(h->why, sizeof(h->why), "OpenSSL cannot make this offer");
        goto out;
    }
    if (fd < 0)
        fd = tcp_connect((const struct sockaddr *)&a->addr, a->addrlen, &err);
    if (fd < 0) {
        cm_err_set("%s: cannot connect (after %u handshakes): %s", a->label, o->handshakes,
                   strerror(err));
        rc = PC_ERR_IO;
        goto out;
    }
    ssl = SSL_new(ctx);
    bio = BIO_new_socket(fd, BIO_CLOSE);
    if (ssl == NULL || bio == NULL) {
        cm_err_ssl("TLS client");
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    SSL_set_bio(ssl, bio, bio);
    bio = NULL;
    fd = -1; /* closed by SSL_free() now */
    if ((a->sni != NULL && SSL_set_tlsext_host_name(ssl, a->sni) != 1) ||
        SSL_set_alpn_protos(ssl, (const unsigned char *)PROBE_ALPN, sizeof(PROBE_ALPN) - 1) != 0) {
        cm_err_ssl("TLS client");
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    SSL_set_app_data(ssl, h);
    SSL_set_info_callback(ssl, on_info);
    SSL_set_msg_callback(ssl, on_msg);
    SSL_set_msg_callback_arg(ssl, h);
    o->handshakes++;
    errno = 0;
    r = SSL_connect(ssl);
    saved = errno;
    classify(a, ssl, r, saved, h);
    if (h->cert_req)
        o->cert_requested = true;
    if (h->res == CM_AUDIT_ACCEPTED_CERTREQ)
        o->cert_required = true;
    if (p->first && h->past_hello)
        note_negotiated(o, ssl, h);
    if (o->nchain == 0 && h->past_hello)
        cm_audit_chain_check(SSL_get_peer_cert_chain(ssl), a->store,
                             a->t->sni == NULL && a->t->host_is_ip, o, a->leaf_curve,
                             sizeof(a->leaf_curve));
    if (h->res == CM_AUDIT_ACCEPTED && !a->http_tried)
        http_get(a, ssl, h);
    if (h->res == CM_AUDIT_ACCEPTED)
        (void)SSL_shutdown(ssl); /* close_notify: a polite end, not awaited */
    ERR_clear_error();
out:
    SSL_free(ssl);
    BIO_free(bio);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Keep the better of two results for one item (accepted wins over refused). */
static void
merge(struct cm_audit_item *it, enum cm_audit_res res, int ver)
{
    if (cm_audit_res_accepted(res)) {
        it->vers |= 1u << ver;
        if (!cm_audit_res_accepted(it->res) || res == CM_AUDIT_ACCEPTED)
            it->res = res;
    } else if (it->res == CM_AUDIT_UNTESTED) {
        it->res = res;
    }
}

/* --- the probes -------------------------------------------------------------------- */

static int
first_connection(struct auditor *a, int fd)
{
    struct probe p = {.first = true};
    struct hs h;
    int rc;

    rc = handshake(a, &p, fd, &h);
    if (rc != PC_OK)
        return rc;
    if (h.timed_out && !h.hello) {
        /* silent: every further probe would wait as long */
        cm_err_set("%s: no TLS answer within %d ms", a->label, CM_AUDIT_IO_TIMEOUT_MS);
        return PC_ERR_IO;
    }
    if (h.res != CM_AUDIT_ACCEPTED)
        snprintf(a->obs->first_error, sizeof(a->obs->first_error), "%s",
                 h.why[0] != '\0' ? h.why : "client certificate required");
    return PC_OK;
}

static int
probe_versions(struct auditor *a)
{
    struct probe p = {0};
    struct hs h;
    int v, rc;

    for (v = 0; v < CM_AUDIT_NVER; v++) {
        p.version = versions[v];
        rc = handshake(a, &p, -1, &h);
        if (rc != PC_OK)
            return rc;
        a->obs->ver[v] = h.res;
    }
    return PC_OK;
}

static int
probe_tls13(struct auditor *a)
{
    struct cm_audit_obs *o = a->obs;
    struct probe p = {.version = TLS1_3_VERSION};
    struct hs h;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(tls13_suites) / sizeof(tls13_suites[0]) && i < CM_AUDIT_MAX_TLS13; i++) {
        p.suites = tls13_suites[i];
        rc = handshake(a, &p, -1, &h);
        if (rc != PC_OK)
            return rc;
        snprintf(o->tls13[o->ntls13].name, CM_AUDIT_NAME_MAX, "%s", tls13_suites[i]);
        merge(&o->tls13[o->ntls13++], h.res, CM_AUDIT_TLS13);
    }
    return PC_OK;
}

/* Every TLS 1.2 suite this OpenSSL can offer (PSK and SRP need callbacks: not offered). */
static STACK_OF(SSL_CIPHER) * tls12_list(const struct auditor *a)
{
    struct probe p = {.version = TLS1_2_VERSION};
    STACK_OF(SSL_CIPHER) *sk = NULL;
    SSL_CTX *ctx = probe_ctx(a, &p);
    SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;

    if (ssl != NULL)
        sk = SSL_get1_supported_ciphers(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return sk;
}

static int
probe_tls12(struct auditor *a)
{
    struct cm_audit_obs *o = a->obs;
    struct probe p = {.version = TLS1_2_VERSION};
    STACK_OF(SSL_CIPHER) *sk = tls12_list(a);
    char list[CM_AUDIT_NAME_MAX + 16];
    struct hs h;
    int i, rc = PC_OK;

    for (i = 0; sk != NULL && i < sk_SSL_CIPHER_num(sk) && o->ntls12 < CM_AUDIT_MAX_SUITES; i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
        const char *name = SSL_CIPHER_get_name(c);
        if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0 || strlen(name) >= CM_AUDIT_NAME_MAX)
            continue;
        snprintf(list, sizeof(list), "%s:@SECLEVEL=0", name);
        p.ciphers = list;
        rc = handshake(a, &p, -1, &h);
        if (rc != PC_OK)
            break;
        if (h.res == CM_AUDIT_UNTESTED && !o->incomplete)
            continue; /* OpenSSL cannot offer it alone */
        snprintf(o->tls12[o->ntls12].name, CM_AUDIT_NAME_MAX, "%s", name);
        merge(&o->tls12[o->ntls12++], h.res, CM_AUDIT_TLS12);
    }
    sk_SSL_CIPHER_free(sk);
    return rc;
}

/*
 * One group in one version.  TLS 1.2 also constrains the server's ECDSA key
 * by the client's groups (RFC 8422 5.1), so an EC leaf's own curve is
 * offered after the group probed; the group then counts only when the
 * server chose it for the key exchange.
 */
static int
probe_group(struct auditor *a, size_t i, bool tls13, struct cm_audit_item *it)
{
    struct probe p = {.version = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION};
    char list[2 * CM_AUDIT_NAME_MAX + 1];
    struct hs h;
    int rc;

    if (!tls13 && a->leaf_curve[0] != '\0' && strcmp(a->leaf_curve, groups[i].name) != 0)
        snprintf(list, sizeof(list), "%s:%s", groups[i].name, a->leaf_curve);
    else
        snprintf(list, sizeof(list), "%s", groups[i].name);
    p.ciphers = tls13 ? NULL : PROBE_CIPHERS_ECDHE;
    p.groups = list;
    rc = handshake(a, &p, -1, &h);
    if (rc != PC_OK)
        return rc;
    /* a key exchange we can name must be the group probed */
    if (cm_audit_res_accepted(h.res) && h.group[0] != '\0' && strcmp(h.group, groups[i].name) != 0)
        h.res = CM_AUDIT_REFUSED;
    merge(it, h.res, tls13 ? CM_AUDIT_TLS13 : CM_AUDIT_TLS12);
    return PC_OK;
}

static int
probe_groups(struct auditor *a)
{
    struct cm_audit_obs *o = a->obs;
    bool t13 = cm_audit_res_accepted(o->ver[CM_AUDIT_TLS13]);
    bool t12 = cm_audit_res_accepted(o->ver[CM_AUDIT_TLS12]);
    size_t i;
    int rc;

    for (i = 0; i < NGROUPS && o->ngroups < CM_AUDIT_MAX_GROUPS; i++) {
        struct cm_audit_item *it = &o->groups[o->ngroups];
        memset(it, 0, sizeof(*it));
        rc = t13 && groups[i].tls13 ? probe_group(a, i, true, it) : PC_OK;
        if (rc == PC_OK && t12 && groups[i].tls12)
            rc = probe_group(a, i, false, it);
        if (rc != PC_OK)
            return rc;
        if (it->res != CM_AUDIT_UNTESTED) {
            snprintf(it->name, CM_AUDIT_NAME_MAX, "%s", groups[i].name);
            o->ngroups++;
        }
    }
    return PC_OK;
}

/* --- setup ----------------------------------------------------------------------- */

static int
setup(struct auditor *a)
{
    const struct cm_audit_target *t = a->t;
    struct cm_audit_obs *o = a->obs;
    bool v6 = strchr(t->host, ':') != NULL;
    SSL_CTX *ctx;
    size_t i, off = 0;

    snprintf(a->label, sizeof(a->label), v6 ? "[%s]:%u" : "%s:%u", t->host, (unsigned)t->port);
    a->sni = t->sni != NULL ? t->sni : t->host_is_ip ? NULL : t->host;
    snprintf(o->name, sizeof(o->name), "%s", t->sni != NULL ? t->sni : t->host);
    /* the gateway wants Host = the SNI name (port ignored) */
    snprintf(a->host_hdr, sizeof(a->host_hdr), "%s%s%s", t->sni == NULL && v6 ? "[" : "", o->name,
             t->sni == NULL && v6 ? "]" : "");
    if (t->port != 443) {
        size_t n = strlen(a->host_hdr);
        snprintf(a->host_hdr + n, sizeof(a->host_hdr) - n, ":%u", (unsigned)t->port);
    }
    /* the groups this OpenSSL can offer, in table order */
    for (i = 0; i < NGROUPS; i++) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (ctx != NULL && SSL_CTX_set1_groups_list(ctx, groups[i].name) == 1 &&
            off + strlen(groups[i].name) + 2 < sizeof(a->all_groups))
            off += (size_t)snprintf(a->all_groups + off, sizeof(a->all_groups) - off, "%s%s",
                                    off != 0 ? ":" : "", groups[i].name);
        SSL_CTX_free(ctx);
    }
    ERR_clear_error();
    a->store = X509_STORE_new();
    if (a->store == NULL) {
        cm_err_ssl("X509_STORE_new");
        return PC_ERR_CRYPTO;
    }
    if (t->cafile != NULL) {
        if (X509_STORE_load_file(a->store, t->cafile) != 1) {
            cm_err_ssl(t->cafile);
            cm_err_prefix("--cafile");
            return PC_ERR_INVALID;
        }
        snprintf(o->trust, sizeof(o->trust), "%s", t->cafile);
    } else {
        (void)X509_STORE_set_default_paths(a->store);
        ERR_clear_error();
        snprintf(o->trust, sizeof(o->trust), "the system store");
    }
    if (t->cert == NULL)
        return PC_OK;
    if (cm_audit_client_load(t->cert, t->key, &a->cert, &a->chain, &a->key) != PC_OK)
        return PC_ERR_INVALID;
    o->client_cert = true;
    return PC_OK;
}

int
cm_audit_probe(const struct cm_audit_target *t, struct cm_audit_obs *obs)
{
    struct auditor a;
    int rc, fd = -1;

    memset(obs, 0, sizeof(*obs));
    memset(&a, 0, sizeof(a));
    a.t = t;
    a.obs = obs;
    rc = setup(&a);
    if (rc != PC_OK)
        goto out;
    rc = resolve(&a, &fd);
    if (rc != PC_OK)
        goto out;
    rc = first_connection(&a, fd);
    fd = -1; /* handshake() owns it */
    if (rc == PC_OK)
        rc = probe_versions(&a);
    if (rc == PC_OK && cm_audit_res_accepted(obs->ver[CM_AUDIT_TLS13]))
        rc = probe_tls13(&a);
    if (rc == PC_OK && cm_audit_res_accepted(obs->ver[CM_AUDIT_TLS12]))
        rc = probe_tls12(&a);
    if (rc == PC_OK)
        rc = probe_groups(&a);
out:
    if (fd >= 0)
        close(fd);
    X509_free(a.cert);
    sk_X509_pop_free(a.chain, X509_free);
    EVP_PKEY_free(a.key);
    X509_STORE_free(a.store);
    return rc;
}
