/*
 * HTTPS to the ACME server with libcurl: one easy handle (its connection is
 * reused across requests), https only (redirects too), at most
 * CM_ACME_MAX_REDIRS redirects, CM_ACME_HTTP_TIMEOUT_MS per request, every
 * body capped by the caller, and only the headers ACME needs kept:
 * Replay-Nonce, Location, Retry-After, Content-Type.  A transfer is
 * abandoned when certmgr is told to stop.  See cm_acme.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm_acme.h"

struct cm_http {
    CURL *curl;
    char *ca_file;
};

/* What the callbacks of one transfer fill. */
struct xfer {
    struct cm_http_resp *r;
    size_t cap;
    bool too_large;
};

void
cm_http_resp_init(struct cm_http_resp *r)
{
    memset(r, 0, sizeof(*r));
    pc_buf_init(&r->body, 0);
    r->retry_after = -1;
}

void
cm_http_resp_clear(struct cm_http_resp *r)
{
    pc_buf_clear(&r->body);
    cm_http_resp_init(r);
}

int
cm_http_new(const char *ca_file, struct cm_http **out)
{
    static bool global_done;
    struct cm_http *h;

    *out = NULL;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            pc_log(LOG_ERR, "curl_global_init failed");
            return PC_ERR_INTERNAL;
        }
        global_done = true; /* once per process; never cleaned up (exit does) */
    }
    h = pc_xcalloc(1, sizeof(*h));
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        pc_log(LOG_ERR, "curl_easy_init failed");
        free(h);
        return PC_ERR_INTERNAL;
    }
    h->ca_file = ca_file != NULL ? pc_xstrdup(ca_file) : NULL;
    *out = h;
    return PC_OK;
}

void
cm_http_free(struct cm_http *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    free(h->ca_file);
    free(h);
}

int64_t
cm_http_retry_after(const char *v, size_t len, int64_t now)
{
    char buf[64];
    uint64_t secs;
    time_t t;

    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    if (v[0] >= '0' && v[0] <= '9') {
        if (pc_parse_u64(v, len, UINT64_MAX, &secs) != PC_OK)
            return -1;
        return secs > CM_ACME_RETRY_AFTER_MAX_S ? CM_ACME_RETRY_AFTER_MAX_S : (int64_t)secs;
    }
    /* an HTTP-date (RFC 9110 10.2.3); curl knows all three historic forms */
    memcpy(buf, v, len);
    buf[len] = '\0';
    t = curl_getdate(buf, NULL);
    if (t == (time_t)-1)
        return -1;
    if ((int64_t)t <= now)
        return 0;
    return (int64_t)t - now > CM_ACME_RETRY_AFTER_MAX_S ? CM_ACME_RETRY_AFTER_MAX_S
                                                        : (int64_t)t - now;
}

/* Copy a header value into dst (cap+1 bytes) when it fits and is printable. */
static void
keep(char *dst, size_t cap, const char *v, size_t n)
{
    if (n <= cap && pc_str_is_token(v, n)) {
        memcpy(dst, v, n);
        dst[n] = '\0';
    }
}

static size_t
on_header(char *data, size_t size, size_t nitems, void *arg)
{
    struct xfer *x = arg;
    struct cm_http_resp *r = x->r;
    size_t n = size * nitems, nl, vl;
    const char *colon, *v;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or a 100): forget the last one's headers */
        r->nonce[0] = r->location[0] = r->ctype[0] = '\0';
        r->retry_after = -1;
        return n;
    }
    if (n > CM_ACME_HEADER_MAX)
        return n; /* nothing we use is that long: ignore it */
    colon = memchr(data, ':', n);
    if (colon == NULL)
        return n;
    nl = (size_t)(colon - data);
    v = colon + 1;
    vl = n - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (pc_str_eq_nocase(data, nl, "replay-nonce", 12)) {
        r->nonce[0] = '\0';
        keep(r->nonce, CM_ACME_NONCE_MAX, v, vl);
    } else if (pc_str_eq_nocase(data, nl, "location", 8)) {
        r->location[0] = '\0';
        if (cm_acme_url_ok(v, vl))
            keep(r->location, CM_ACME_URL_MAX, v, vl);
    } else if (pc_str_eq_nocase(data, nl, "retry-after", 11)) {
        r->retry_after = cm_http_retry_after(v, vl, (int64_t)time(NULL));
    } else if (pc_str_eq_nocase(data, nl, "content-type", 12)) {
        size_t i, tl = vl;
        const char *semi = memchr(v, ';', vl);
        if (semi != NULL)
            tl = (size_t)(semi - v);
        while (tl > 0 && v[tl - 1] == ' ')
            tl--;
        r->ctype[0] = '\0';
        keep(r->ctype, sizeof(r->ctype) - 1, v, tl);
        for (i = 0; r->ctype[i] != '\0'; i++)
            if (r->ctype[i] >= 'A' && r->ctype[i] <= 'Z')
                r->ctype[i] = (char)(r->ctype[i] + 32);
    }
    return n;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;

    if (n > x->cap - x->r->body.len || pc_buf_add(&x->r->body, data, n) != PC_OK) {
        x->too_large = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return cm_stop_requested() ? 1 : 0;
}

static void
set_common(struct cm_http *h, struct xfer *x, const char *url, char *cerr)
{
    CURL *c = h->curl;

    /* reset keeps the connection cache: the next request reuses the connection */
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)CM_ACME_MAX_REDIRS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CM_ACME_HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CM_ACME_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->cap);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "portcullis-certmgr/" PC_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
}

int
cm_http_do(struct cm_http *h, enum cm_http_method m, const char *url, const char *body, size_t len,
           const char *accept, size_t cap, struct cm_http_resp *r)
{
    static const char *const names[] = {"GET", "HEAD", "POST"};
    char cerr[CURL_ERROR_SIZE], esc[256], hacc[160];
    struct curl_slist *hdrs = NULL;
    struct xfer x;
    CURLcode cc;
    int rc = PC_OK;

    cm_http_resp_clear(r);
    pc_buf_init(&r->body, cap);
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.cap = cap;
    cerr[0] = '\0';
    set_common(h, &x, url, cerr);
    if (m == CM_HTTP_POST) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
        curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        /* only a GET may be redirected: a POST answer's Location is never followed */
        curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 1L);
        if (m == CM_HTTP_HEAD)
            curl_easy_setopt(h->curl, CURLOPT_NOBODY, 1L);
    }
    if (accept != NULL && snprintf(hacc, sizeof(hacc), "Accept: %s", accept) < (int)sizeof(hacc))
        hdrs = curl_slist_append(hdrs, hacc);
    if (hdrs != NULL)
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(h->curl);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status);
    pc_log_esc(esc, sizeof(esc), url, strlen(url));
    if (x.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        pc_log(LOG_ERR, "%s %s: the answer is larger than %zu bytes", names[m], esc, cap);
        rc = PC_ERR_TOO_LARGE;
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        pc_log(LOG_WARNING, "%s %s: abandoned: stopping", names[m], esc);
        rc = PC_ERR_IO;
    } else if (cc != CURLE_OK) {
        pc_log(LOG_ERR, "%s %s: %s", names[m], esc,
               cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
        rc = PC_ERR_IO;
    } else if (r->status < 100 || r->status > 599) {
        pc_log(LOG_ERR, "%s %s: no HTTP status", names[m], esc);
        rc = PC_ERR_IO;
    }
    pc_log(LOG_DEBUG, "%s %s: %ld, %zu bytes", names[m], esc, r->status, r->body.len);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return rc;
}
