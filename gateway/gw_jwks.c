/*
 * JWKS key sets of the configured issuers.  One entry per distinct key
 * source, kept across configuration generations so a reload does not
 * refetch.  A fetcher thread speaks HTTPS with libcurl (blocking, off every
 * event loop) and publishes each new key set with pc_rcu; workers read the
 * current set with one atomic load.
 *
 * Schedule: at start; again when Cache-Control max-age (clamped to
 * [PC_JWKS_REFRESH_MIN_MS, PC_JWKS_REFRESH_MAX_MS]) runs out; at once when a
 * worker meets an unknown kid (single flight: one fetcher thread; at most
 * once per issuer.min_refetch_interval).  A failing endpoint is retried with
 * exponential back-off while the last good keys keep serving for
 * issuer.max_stale, after which the issuer has no keys (fail closed).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "authn/authn_jwt.h"
#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_limits.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_rcu.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

#define JWKS_BACKOFF_MIN_MS 1000 /* first retry of a failing endpoint */
#define JWKS_MAX_REDIRS     3

static struct {
    pthread_mutex_t lock; /* the list and the fetcher's bookkeeping; never taken by workers */
    struct gw_jwks *list;
    pthread_t thread;
    bool running;
    _Atomic bool stop;
    int efd; /* eventfd: workers (and stop) wake the fetcher */
} jw = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, false, false, -1};

uint64_t
gw_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* --- loading --------------------------------------------------------------- */

static void
publish(struct gw_jwks *j, struct authn_keyset *ks, uint64_t now, uint64_t fresh_ms)
{
    pc_rcu_retire(pc_rcu_global(), atomic_exchange(&j->ks, ks), authn_keyset_free_void);
    atomic_store(&j->fetched_at_ms, now);
    atomic_store(&j->fresh_until_ms, now + fresh_ms);
    atomic_fetch_add(&j->loads_ok, 1);
}

static int
load_file(struct gw_jwks *j, bool initial)
{
    struct authn_keyset *ks = NULL;
    char *buf = NULL, err[256];
    size_t len = 0, skipped = 0;
    struct stat st;
    int rc;

    if (stat(j->file, &st) != 0) {
        pc_log(LOG_ERR, "issuer %s: jwks_file %s: %s", j->issuer, j->file, strerror(errno));
        return PC_ERR_IO;
    }
    if (!initial && st.st_mtim.tv_sec == j->mtime.tv_sec &&
        st.st_mtim.tv_nsec == j->mtime.tv_nsec && st.st_size == j->size && st.st_ino == j->ino)
        return PC_OK;
    j->mtime = st.st_mtim;
    j->size = st.st_size;
    j->ino = st.st_ino;
    rc = pc_file_read(j->file, AUTHN_JWKS_MAX_BYTES, &buf, &len);
    if (rc == PC_OK)
        rc = authn_keyset_parse(buf, len, j->algs, &ks, &skipped, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "%s", pc_strerror(rc));
    free(buf);
    if (rc != PC_OK) {
        atomic_fetch_add(&j->loads_failed, 1);
        pc_log(LOG_ERR, "issuer %s: jwks_file %s refused: %s%s", j->issuer, j->file, err,
               initial ? "" : "; keeping the previous keys");
        return rc;
    }
    pc_log(LOG_INFO, "issuer %s: %zu key(s) from %s (%zu skipped)", j->issuer,
           authn_keyset_count(ks), j->file, skipped);
    publish(j, ks, gw_now_ms(), 0);
    return PC_OK;
}

/* --- fetching (fetcher thread) ---------------------------------------------- */

struct fetch {
    char *body;
    size_t len;
    bool too_big;
    uint64_t max_age_ms; /* 0: none given */
};

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct fetch *f = arg;
    size_t n = size * nmemb;

    if (n > AUTHN_JWKS_MAX_BYTES - f->len) {
        f->too_big = true;
        return 0; /* abort the transfer */
    }
    f->body = pc_xrealloc(f->body, f->len + n + 1);
    memcpy(f->body + f->len, p, n);
    f->len += n;
    f->body[f->len] = '\0';
    return n;
}

/* Cache-Control: ..., max-age=N, ... (no-store/no-cache are treated as 0) */
static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct fetch *f = arg;
    size_t n = size * nmemb, i;
    static const char name[] = "cache-control:";

    if (n < sizeof(name) - 1 || strncasecmp(p, name, sizeof(name) - 1) != 0)
        return n;
    for (i = sizeof(name) - 1; i + 8 <= n; i++) {
        if (strncasecmp(p + i, "max-age=", 8) == 0) {
            size_t d = i + 8, e = d;
            uint64_t v;
            while (e < n && p[e] >= '0' && p[e] <= '9')
                e++;
            if (pc_parse_u64(p + d, e - d, UINT64_MAX / 1000, &v) == PC_OK)
                f->max_age_ms = v * 1000;
            break;
        }
    }
    return n;
}

static uint64_t
refresh_after(uint64_t max_age_ms)
{
    if (max_age_ms == 0)
        return PC_JWKS_REFRESH_DEFAULT_MS;
    if (max_age_ms < PC_JWKS_REFRESH_MIN_MS)
        return PC_JWKS_REFRESH_MIN_MS;
    if (max_age_ms > PC_JWKS_REFRESH_MAX_MS)
        return PC_JWKS_REFRESH_MAX_MS;
    return max_age_ms;
}

/* One HTTPS GET of the JWKS; returns the key set or NULL with `err` set. */
static struct authn_keyset *
fetch_keys(struct gw_jwks *j, uint64_t *max_age_ms, char *err, size_t errlen)
{
    struct fetch f = {NULL, 0, false, 0};
    struct authn_keyset *ks = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    size_t skipped = 0;
    long status = 0;
    CURLcode cc;
    CURL *c = curl_easy_init();

    if (c == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, j->uri);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https"); /* never follow to http */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)JWKS_MAX_REDIRS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)PC_JWKS_FETCH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)AUTHN_JWKS_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (j->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, j->ca_file);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "portcullis/" PC_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (f.too_big)
        snprintf(err, errlen, "document larger than %d bytes", AUTHN_JWKS_MAX_BYTES);
    else if (cc != CURLE_OK)
        snprintf(err, errlen, "%s", cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
    else if (status != 200)
        snprintf(err, errlen, "HTTP status %ld", status);
    else if (authn_keyset_parse(f.body != NULL ? f.body : "", f.len, j->algs, &ks, &skipped, err,
                                errlen) != PC_OK)
        ks = NULL;
    free(f.body);
    *max_age_ms = f.max_age_ms;
    return ks;
}

static void
fetch_one(struct gw_jwks *j)
{
    uint64_t max_age = 0, now;
    char err[256] = "";
    struct authn_keyset *ks = fetch_keys(j, &max_age, err, sizeof(err));

    now = gw_now_ms();
    pthread_mutex_lock(&jw.lock);
    if (ks != NULL) {
        j->backoff_ms = 0;
        j->next_refresh_ms = now + refresh_after(max_age);
    } else {
        j->backoff_ms = j->backoff_ms == 0 ? JWKS_BACKOFF_MIN_MS : j->backoff_ms * 2;
        if (j->backoff_ms > PC_JWKS_BACKOFF_MAX_MS)
            j->backoff_ms = PC_JWKS_BACKOFF_MAX_MS;
        j->next_refresh_ms = now + j->backoff_ms;
    }
    pthread_mutex_unlock(&jw.lock);
    if (ks != NULL) {
        pc_log(LOG_INFO, "issuer %s: %zu key(s) from %s", j->issuer, authn_keyset_count(ks),
               j->uri);
        publish(j, ks, now, refresh_after(max_age));
    } else {
        atomic_fetch_add(&j->loads_failed, 1);
        pc_log(LOG_WARNING, "issuer %s: fetching %s failed: %s (%s; retry in %llus)", j->issuer,
               j->uri, err,
               atomic_load(&j->ks) != NULL ? "the last good keys keep serving" : "no keys yet",
               (unsigned long long)(j->backoff_ms / 1000));
    }
    atomic_store(&j->last_attempt_ms, now);
    atomic_store(&j->want, false);
    atomic_fetch_add(&j->attempt_seq, 1); /* parked requests look at this */
}

static void *
fetcher_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&jw.stop)) {
        struct gw_jwks *j, *due = NULL;
        uint64_t now = gw_now_ms(), wake = now + 1000;
        struct pollfd pfd = {jw.efd, POLLIN, 0};
        uint64_t v;

        pthread_mutex_lock(&jw.lock);
        for (j = jw.list; j != NULL; j = j->next) {
            uint64_t when;
            if (j->uri == NULL || j->refs == 0)
                continue;
            when = j->next_refresh_ms;
            if (atomic_load(&j->want)) {
                uint64_t earliest =
                    atomic_load(&j->last_attempt_ms) + atomic_load(&j->min_refetch_ms);
                if (earliest < when)
                    when = earliest;
            }
            if (when <= now && due == NULL)
                due = j;
            else if (when < wake)
                wake = when;
        }
        pthread_mutex_unlock(&jw.lock);
        if (due != NULL) {
            fetch_one(due);
            continue;
        }
        if (poll(&pfd, 1, (int)(wake > now ? wake - now : 0)) > 0 &&
            read(jw.efd, &v, sizeof(v)) < 0) {
            /* EAGAIN: another wakeup drained it; the loop looks again either way */
        }
    }
    return NULL;
}

/* --- the registry (control thread) -------------------------------------------- */

int
gw_jwks_start(void)
{
    int err;

    if (jw.running)
        return PC_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        pc_log(LOG_ERR, "curl_global_init failed");
        return PC_ERR_INTERNAL;
    }
    jw.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (jw.efd == -1) {
        pc_log(LOG_ERR, "eventfd: %s", strerror(errno));
        return PC_ERR_IO;
    }
    err = pthread_create(&jw.thread, NULL, fetcher_main, NULL);
    if (err != 0) {
        pc_log(LOG_ERR, "cannot start the JWKS fetcher: %s", strerror(err));
        return PC_ERR_INTERNAL;
    }
    jw.running = true;
    return PC_OK;
}

static void
wake_fetcher(void)
{
    uint64_t one = 1;

    if (jw.efd != -1 && write(jw.efd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the fetcher is awake anyway */
    }
}

void
gw_jwks_stop(void)
{
    struct gw_jwks *j;

    if (jw.running) {
        atomic_store(&jw.stop, true);
        wake_fetcher();
        pthread_join(jw.thread, NULL);
        jw.running = false;
    }
    while (jw.list != NULL) {
        j = jw.list;
        jw.list = j->next;
        authn_keyset_free(atomic_exchange(&j->ks, NULL));
        free(j->issuer);
        free(j->uri);
        free(j->file);
        free(j->ca_file);
        free(j);
    }
    if (jw.efd != -1)
        close(jw.efd);
    jw.efd = -1;
}

struct gw_jwks *
gw_jwks_acquire(const struct pol_issuer *iss)
{
    struct gw_jwks *j;

    pthread_mutex_lock(&jw.lock);
    for (j = jw.list; j != NULL; j = j->next) {
        if (strcmp(j->issuer, iss->name) == 0 && same_str(j->uri, iss->jwks_uri) &&
            same_str(j->file, iss->jwks_file) && same_str(j->ca_file, iss->ca_file) &&
            j->algs == iss->algorithms) {
            j->refs++;
            atomic_store(&j->min_refetch_ms, iss->min_refetch_interval_ms);
            atomic_store(&j->max_stale_ms, iss->max_stale_ms);
            pthread_mutex_unlock(&jw.lock);
            return j;
        }
    }
    j = pc_xcalloc(1, sizeof(*j));
    j->issuer = pc_xstrdup(iss->name);
    j->uri = iss->jwks_uri != NULL ? pc_xstrdup(iss->jwks_uri) : NULL;
    j->file = iss->jwks_file != NULL ? pc_xstrdup(iss->jwks_file) : NULL;
    j->ca_file = iss->ca_file != NULL ? pc_xstrdup(iss->ca_file) : NULL;
    j->algs = iss->algorithms;
    atomic_init(&j->min_refetch_ms, iss->min_refetch_interval_ms);
    atomic_init(&j->max_stale_ms, iss->max_stale_ms);
    j->refs = 1;
    atomic_init(&j->ks, NULL);
    j->next = jw.list;
    pthread_mutex_unlock(&jw.lock);
    if (j->file != NULL && load_file(j, true) != PC_OK) {
        free(j->issuer);
        free(j->uri);
        free(j->file);
        free(j->ca_file);
        free(j);
        return NULL;
    }
    pthread_mutex_lock(&jw.lock);
    jw.list = j;
    pthread_mutex_unlock(&jw.lock);
    if (j->uri != NULL)
        wake_fetcher(); /* first fetch now */
    return j;
}

void
gw_jwks_release(struct gw_jwks *j)
{
    if (j == NULL)
        return;
    /* XXX: an entry no generation uses any more is kept (unfetched) until
     * exit, so a later configuration naming it again has its keys at once;
     * the list is bounded by the distinct issuers ever configured */
    pthread_mutex_lock(&jw.lock);
    j->refs--;
    pthread_mutex_unlock(&jw.lock);
}

void
gw_jwks_poll_files(void)
{
    struct gw_jwks *j;

    /* only the control thread adds entries or touches file state */
    for (j = jw.list; j != NULL; j = j->next)
        if (j->file != NULL && j->refs > 0)
            (void)load_file(j, false);
}

/* --- workers ---------------------------------------------------------------------- */

const struct authn_keyset *
gw_jwks_keys(struct gw_jwks *j, uint64_t now_ms)
{
    const struct authn_keyset *ks = atomic_load_explicit(&j->ks, memory_order_acquire);

    if (ks == NULL)
        return NULL;
    /* fetched keys keep serving max_stale past the time they should have
     * been refreshed; after that the issuer has no keys (fail closed) */
    if (j->uri != NULL && now_ms > atomic_load_explicit(&j->fresh_until_ms, memory_order_relaxed) +
                                       atomic_load_explicit(&j->max_stale_ms, memory_order_relaxed))
        return NULL;
    return ks;
}

bool
gw_jwks_request_refetch(struct gw_jwks *j, uint64_t now_ms, uint64_t *seq)
{
    if (j->uri == NULL)
        return false; /* a file changes when the operator changes it */
    *seq = atomic_load(&j->attempt_seq);
    if (atomic_load(&j->want))
        return true; /* a fetch is already asked for: wait for it */
    if (now_ms < atomic_load(&j->last_attempt_ms) + atomic_load(&j->min_refetch_ms))
        return false; /* fetched moments ago: the kid really is unknown */
    atomic_store(&j->want, true);
    wake_fetcher();
    return true;
}

uint64_t
gw_jwks_attempts(struct gw_jwks *j)
{
    return atomic_load(&j->attempt_seq);
}

bool
gw_jwks_all_ready(struct gw_gen *g, const char **which)
{
    uint64_t now = gw_now_ms();
    size_t i;

    for (i = 0; i < g->cfg->nissuers; i++) {
        if (g->jwks[i] == NULL || gw_jwks_keys(g->jwks[i], now) == NULL) {
            *which = g->cfg->issuers[i].name;
            return false;
        }
    }
    return true;
}

void
gw_jwks_render(struct pc_buf *b)
{
    uint64_t now = gw_now_ms();
    struct gw_jwks *j;

    pc_buf_adds(b,
                "# HELP portcullis_jwks_loads_total Key-set loads per issuer (fetches or files), "
                "by result.\n# TYPE portcullis_jwks_loads_total counter\n");
    pthread_mutex_lock(&jw.lock);
    for (j = jw.list; j != NULL; j = j->next) {
        if (j->refs == 0)
            continue;
        pc_buf_addf(b,
                    "portcullis_jwks_loads_total{issuer=\"%s\",result=\"ok\"} %llu\n"
                    "portcullis_jwks_loads_total{issuer=\"%s\",result=\"failed\"} %llu\n",
                    j->issuer, (unsigned long long)atomic_load(&j->loads_ok), j->issuer,
                    (unsigned long long)atomic_load(&j->loads_failed));
    }
    pc_buf_adds(b, "# HELP portcullis_jwks_age_seconds Time since the keys in force were loaded "
                   "(-1: none).\n# TYPE portcullis_jwks_age_seconds gauge\n");
    for (j = jw.list; j != NULL; j = j->next) {
        uint64_t at = atomic_load(&j->fetched_at_ms);
        if (j->refs == 0)
            continue;
        if (atomic_load(&j->ks) == NULL)
            pc_buf_addf(b, "portcullis_jwks_age_seconds{issuer=\"%s\"} -1\n", j->issuer);
        else
            pc_buf_addf(b, "portcullis_jwks_age_seconds{issuer=\"%s\"} %.3f\n", j->issuer,
                        now > at ? (double)(now - at) / 1000.0 : 0.0);
    }
    pthread_mutex_unlock(&jw.lock);
}
