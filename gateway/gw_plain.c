/*
 * Plain-text listeners (`plain: true`): nothing is proxied.  They answer
 * ACME http-01 challenges from acme_webroot and redirect everything else
 * to https on the same host (default port).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_b64.h"
#include "common/pc_log.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

#define ACME_PREFIX    "/.well-known/acme-challenge/"
#define ACME_TOKEN_MAX 256  /* RFC 8555 tokens are 43 base64url chars; be generous */
#define ACME_BODY_MAX  1024 /* key authorization: token "." thumbprint */

struct gw_plain_handler {
    h2o_handler_t super;
};

/* Host names we redirect to: letters, digits, '-', '.', or an IPv6 literal. */
static bool
is_redirect_host(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 253)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

static int
send_simple(struct gw_req *r, int status, const char *reason, const char *body, size_t len)
{
    h2o_req_t *req = r->req;

    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain"));
    h2o_send_inline(req, body, len);
    return 0;
}

/* Read the key authorization the ACME client left in the webroot.  The
 * file is tiny and challenges are rare; plain listeners carry no traffic
 * that this read could delay. */
static int
serve_acme(struct gw_req *r, const char *webroot, const char *tok, size_t toklen)
{
    char path[4096], body[ACME_BODY_MAX];
    ssize_t n;
    int fd, len;

    r->reason = GW_R_ACME;
    if (webroot == NULL || toklen > ACME_TOKEN_MAX || !pc_b64url_is_text(tok, toklen))
        goto notfound;
    len = snprintf(path, sizeof(path), "%s/%.*s", webroot, (int)toklen, tok);
    if (len < 0 || (size_t)len >= sizeof(path))
        goto notfound;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd == -1)
        goto notfound;
    n = read(fd, body, sizeof(body));
    close(fd);
    if (n <= 0 || (size_t)n == sizeof(body))
        goto notfound;
    while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r'))
        n--;
    return send_simple(r, 200, "OK", body, (size_t)n);
notfound:
    r->reason = GW_R_NO_ROUTE;
    return gw_problem_send(r, NULL);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct gw_worker *w = gw_worker_self();
    struct gw_req *r = gw_req_attach(req, w);
    const char *q;
    size_t plen;
    h2o_iovec_t host, loc;
    uint16_t port;
    bool safe;

    (void)self;
    q = memchr(req->path.base, '?', req->path.len);
    plen = q != NULL ? (size_t)(q - req->path.base) : req->path.len;
    if (plen > sizeof(ACME_PREFIX) - 1 &&
        memcmp(req->path.base, ACME_PREFIX, sizeof(ACME_PREFIX) - 1) == 0)
        return serve_acme(r, w->gen->cfg->acme_webroot, req->path.base + sizeof(ACME_PREFIX) - 1,
                          plen - (sizeof(ACME_PREFIX) - 1));
    if (h2o_url_parse_hostport(req->authority.base, req->authority.len, &host, &port) !=
            req->authority.base + req->authority.len ||
        !is_redirect_host(host.base, host.len) || req->path.len == 0 || req->path.base[0] != '/' ||
        pc_str_has_ctl(req->path.base, req->path.len) || req->path.len > PC_HTTP_MAX_PATH_BYTES) {
        r->reason = GW_R_BAD_REQUEST;
        return gw_problem_send(r, NULL);
    }
    safe = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    loc = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("https://")), host, req->path);
    r->reason = GW_R_REDIRECT;
    /* 308 keeps the method and body of a POST; 301 is what browsers expect for GET */
    h2o_send_redirect(req, safe ? 301 : 308, safe ? "Moved Permanently" : "Permanent Redirect",
                      loc.base, loc.len);
    return 0;
}

h2o_handler_t *
gw_plain_register(h2o_pathconf_t *pathconf)
{
    struct gw_plain_handler *h =
        (struct gw_plain_handler *)h2o_create_handler(pathconf, sizeof(*h));

    h->super.on_req = on_req;
    return &h->super;
}
