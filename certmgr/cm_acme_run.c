/*
 * The portcullis-certmgr process: a pass over the certificates of
 * certmgr.yaml (what is due, issue it, tell the gateway once, counters and
 * metrics), --once or a daemon that sleeps until the next due time (an
 * hour at most), SIGTERM/SIGINT to stop, SIGHUP to re-read certmgr.yaml.
 * Signals are blocked and taken synchronously (sigtimedwait), so nothing
 * runs in a handler.  See cm_acme.h and ACME.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm_acme.h"
#include "cm_dns.h"

static bool stop_flag, hup_flag;

/* What the daemon remembers about one certificate between passes. */
struct sched {
    bool has_ari;
    struct cm_acme_ari ari; /* the last window the CA suggested */
    int64_t ari_at;         /* the time picked in it */
    int64_t ari_next;       /* when to ask again */
};

struct daemon {
    struct pol_certmgr *cfg;
    struct cm_cert_stats *stats; /* one per cfg->certs[i] */
    struct cm_installed *inst;
    struct sched *sched;
    unsigned long requests; /* ACME requests by this process */
    int lock_fd;
    bool told_no_ari; /* "no renewalInfo" is said once per process */
};

uint64_t
cm_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
take_signal(int sig)
{
    if (sig == SIGTERM || sig == SIGINT)
        stop_flag = true;
    else if (sig == SIGHUP)
        hup_flag = true;
}

bool
cm_stop_requested(void)
{
    struct timespec zero = {0, 0};
    sigset_t set;
    int sig;

    if (stop_flag)
        return true;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sig = sigtimedwait(&set, NULL, &zero);
    if (sig > 0)
        take_signal(sig);
    return stop_flag;
}

bool
cm_sleep_ms(uint64_t ms, bool wake_on_hup)
{
    uint64_t deadline = cm_now_ms() + ms;
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (wake_on_hup)
        sigaddset(&set, SIGHUP); /* otherwise it stays pending for the daemon's sleep */
    while (!stop_flag && !(wake_on_hup && hup_flag)) {
        uint64_t now = cm_now_ms(), left = deadline > now ? deadline - now : 0;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000};
        int sig;
        if (left == 0)
            break;
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            take_signal(sig);
        else if (errno == EAGAIN)
            break;
    }
    return !stop_flag;
}

static uint64_t
rnd64(void)
{
    uint64_t v = 0;

    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint64_t)cm_now_ms() * 0x9e3779b97f4a7c15ull; /* jitter only: never a secret */
    return v;
}

static const char *
fmt_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* --- ARI ---------------------------------------------------------------------------------- */

/* Ask renewalInfo when it is time; the picked time, or 0 when ARI does not apply. */
static int64_t
ari_time(struct cm_acme *a, const struct pol_cm_cert *cert, const struct cm_installed *in,
         struct sched *s, int64_t now)
{
    struct cm_acme_ari w;
    char t1[32], t2[32], t3[32];
    int64_t ra = -1;

    if (a == NULL || a->dir.renewal_info == NULL || in->ari_id[0] == '\0')
        return 0;
    if (now >= s->ari_next) {
        if (cm_acme_renewal_info(a, in->ari_id, &w, &ra) == PC_OK) {
            if (!s->has_ari || w.start != s->ari.start || w.end != s->ari.end) {
                s->ari_at = cm_ari_pick(&w, now, rnd64());
                pc_log(LOG_INFO, "%s: ACME Renewal Information: window %s .. %s, renewing at %s",
                       cert->name, fmt_time(w.start, t1, sizeof(t1)),
                       fmt_time(w.end, t2, sizeof(t2)), fmt_time(s->ari_at, t3, sizeof(t3)));
            }
            cm_acme_ari_clear(&s->ari);
            s->ari = w;
            s->has_ari = true;
        }
        /* RFC 9773 4.3: Retry-After says when to ask again */
        s->ari_next = now + (ra > 0 ? (ra < 60 ? 60 : ra) : CM_ACME_ARI_DEFAULT_S);
    }
    return s->has_ari ? s->ari_at : 0;
}

/* --- a pass ----------------------------------------------------------------------------- */

/* Whether cert i is due now; *why says why (or when it will be), *at when it is. */
static bool
is_due(struct daemon *d, struct cm_acme *a, size_t i, const char *force, int64_t now, int64_t *at,
       char *why, size_t whylen)
{
    const struct pol_cm_cert *cert = &d->cfg->certs[i];
    const struct cm_installed *in = &d->inst[i];
    char t1[32], t2[32];
    int64_t ari;

    *at = now;
    if (force != NULL && strcmp(force, cert->name) == 0)
        snprintf(why, whylen, "renewal forced (--force-renew)");
    else if (cm_state_order_exists(d->cfg, cert->name))
        snprintf(why, whylen, "an order is in flight");
    else if (!in->present)
        snprintf(why, whylen, "no certificate installed");
    else if (!in->key_ok)
        snprintf(why, whylen, "the installed key does not match the installed certificate");
    else if (!in->names_ok)
        snprintf(why, whylen, "the installed certificate does not name exactly the domains");
    else {
        ari = ari_time(a, cert, in, &d->sched[i], now);
        *at = ari != 0 ? ari
                       : cm_renew_at(in->not_before, in->not_after, d->cfg->renew_percent,
                                     d->cfg->renew_before_ms);
        snprintf(why, whylen, "valid until %s, renewal %s %s%s",
                 fmt_time(in->not_after, t1, sizeof(t1)), *at <= now ? "was due at" : "due at",
                 fmt_time(*at, t2, sizeof(t2)), ari != 0 ? " (ACME Renewal Information)" : "");
        return *at <= now;
    }
    return true;
}

/* Record the outcome of an attempt for cert i. */
static void
account(struct daemon *d, struct cm_acme *a, size_t i, bool ok, int64_t now)
{
    struct cm_cert_stats *st = &d->stats[i];
    const char *name = d->cfg->certs[i].name;
    int64_t delay, left;
    char t[32];

    if (ok) {
        st->renewals++;
        st->consecutive = 0;
        st->next_attempt = 0;
        st->last_success = now;
        d->sched[i].has_ari = false; /* a new certificate has its own window */
        d->sched[i].ari_next = 0;
        return;
    }
    st->failures++;
    st->consecutive++;
    st->last_failure = now;
    left = d->inst[i].present ? d->inst[i].not_after - now : 0;
    delay = cm_backoff(st->consecutive, left, rnd64());
    if (a != NULL && a->retry_after > delay)
        delay = a->retry_after; /* the CA's Retry-After wins when it asks for longer */
    st->next_attempt = now + delay;
    pc_log(LOG_ERR, "%s: renewal failed (%u in a row); next attempt in %llds, at %s", name,
           st->consecutive, (long long)delay, fmt_time(st->next_attempt, t, sizeof(t)));
}

/* Issue cert i, opening the client first when this pass has not tried yet. */
static int
issue(struct daemon *d, struct cm_acme **a, bool *opened, size_t i)
{
    struct cm_issue_stats st;
    bool ari;

    if (*a == NULL && !*opened) {
        *opened = true;
        (void)cm_acme_open(d->cfg, a);
    }
    if (*a == NULL) {
        pc_log(LOG_ERR, "%s: the CA's directory cannot be read", d->cfg->certs[i].name);
        return PC_ERR_IO;
    }
    /* RFC 9773 5: say which certificate this one replaces when the CA does ARI */
    ari = d->inst[i].present && d->inst[i].ari_id[0] != '\0' && (*a)->dir.renewal_info != NULL;
    return cm_acme_issue(*a, &d->cfg->certs[i], ari ? d->inst[i].ari_id : NULL, &st);
}

/* One pass over every certificate.  Returns the failures; *wake is when to look again. */
static unsigned
pass(struct daemon *d, const char *force, bool once, int64_t *wake)
{
    struct cm_acme *a = NULL;
    bool installed = false, opened = false;
    unsigned failures = 0;
    int64_t now = (int64_t)time(NULL), at;
    char why[256];
    size_t i;

    *wake = now + CM_DAEMON_SLEEP_MAX_S;
    for (i = 0; i < d->cfg->ncerts && !cm_stop_requested(); i++) {
        const struct pol_cm_cert *cert = &d->cfg->certs[i];
        bool due;
        int rc;
        cm_installed_read(d->cfg, cert, &d->inst[i]);
        if (!opened && d->inst[i].present) {
            /* the directory tells whether ARI is offered; without it renew_before decides */
            opened = true;
            if (cm_acme_open(d->cfg, &a) != PC_OK)
                pc_log(LOG_WARNING, "the CA is not reachable now: renew_before decides");
            else if (a->dir.renewal_info == NULL && !d->told_no_ari)
                pc_log(LOG_INFO, "the CA offers no renewalInfo (RFC 9773): renew_before decides");
            d->told_no_ari = d->told_no_ari || (a != NULL && a->dir.renewal_info == NULL);
        }
        due = is_due(d, a, i, force, now, &at, why, sizeof(why));
        if (!due) {
            pc_log(LOG_INFO, "%s: %s", cert->name, why);
            if (at < *wake)
                *wake = at;
            continue;
        }
        if (!once && d->stats[i].next_attempt > now &&
            (force == NULL || strcmp(force, cert->name) != 0)) {
            if (d->stats[i].next_attempt < *wake)
                *wake = d->stats[i].next_attempt;
            pc_log(LOG_INFO, "%s: %s; waiting for the retry time", cert->name, why);
            continue;
        }
        pc_log(LOG_INFO, "%s: %s: issuing for %zu name(s)", cert->name, why, cert->ndomains);
        rc = issue(d, &a, &opened, i);
        if (rc != PC_OK && cm_stop_requested()) {
            pc_log(LOG_WARNING, "%s: interrupted: the order continues at the next start",
                   cert->name);
            break;
        }
        account(d, a, i, rc == PC_OK, (int64_t)time(NULL));
        if (rc == PC_OK) {
            installed = true;
            cm_installed_read(d->cfg, cert, &d->inst[i]);
            at = cm_renew_at(d->inst[i].not_before, d->inst[i].not_after, d->cfg->renew_percent,
                             d->cfg->renew_before_ms);
        } else {
            failures++;
            at = d->stats[i].next_attempt;
        }
        if (at < *wake)
            *wake = at;
    }
    if (installed && cm_store_reload(d->cfg) != PC_OK)
        failures++;
    if (a != NULL)
        d->requests += a->requests;
    cm_acme_close(a);
    (void)cm_state_stats_save(d->cfg, d->stats);
    (void)cm_store_metrics(d->cfg, d->stats, d->inst, d->requests);
    return failures;
}

/* --- the process --------------------------------------------------------------------------- */

static void
daemon_clear(struct daemon *d)
{
    size_t i;

    for (i = 0; d->cfg != NULL && i < d->cfg->ncerts; i++)
        cm_acme_ari_clear(&d->sched[i].ari);
    free(d->stats);
    free(d->inst);
    free(d->sched);
    pol_certmgr_free(d->cfg);
    d->cfg = NULL;
    d->stats = NULL;
    d->inst = NULL;
    d->sched = NULL;
}

/* Take cfg (owned) into d: state directories, lock, counters. */
static int
daemon_take(struct daemon *d, struct pol_certmgr *cfg)
{
    int fd = -1, rc;

    rc = cm_state_dirs(cfg);
    if (rc == PC_OK && (d->cfg == NULL || strcmp(d->cfg->state_dir, cfg->state_dir) != 0))
        rc = cm_state_lock(cfg, &fd);
    if (rc != PC_OK) {
        pol_certmgr_free(cfg);
        return rc;
    }
    if (fd != -1) {
        if (d->lock_fd != -1)
            close(d->lock_fd);
        d->lock_fd = fd;
    }
    daemon_clear(d);
    d->cfg = cfg;
    d->stats = pc_xcalloc(cfg->ncerts, sizeof(*d->stats));
    d->inst = pc_xcalloc(cfg->ncerts, sizeof(*d->inst));
    d->sched = pc_xcalloc(cfg->ncerts, sizeof(*d->sched));
    cm_state_stats_load(cfg, d->stats);
    return PC_OK;
}

static int
check_only(const char *path)
{
    struct pol_errors errs = {0};
    struct pol_certmgr *cfg = NULL;

    pc_log_set_plain(1);
    if (pol_certmgr_load(path, &cfg, &errs) != PC_OK) {
        pol_errors_log(&errs);
        return 1;
    }
    printf("%s: configuration ok (%zu certificate(s))\n", path, cfg->ncerts);
    pol_certmgr_free(cfg);
    return 0;
}

int
cm_run(const struct cm_run_opts *o)
{
    struct pol_errors errs = {0};
    struct pol_certmgr *cfg = NULL;
    struct daemon d;
    const char *force = o->force_renew;
    sigset_t set;
    int64_t wake, now;
    unsigned failures;

    if (o->check)
        return check_only(o->config);
    memset(&d, 0, sizeof(d));
    d.lock_fd = -1;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    cm_dns_set_cancel(cm_stop_requested); /* SIGTERM ends a propagation wait */
    if (pol_certmgr_load(o->config, &cfg, &errs) != PC_OK) {
        pol_errors_log(&errs);
        return 1;
    }
    if (force != NULL && pol_certmgr_find(cfg, force) == NULL) {
        pc_log(LOG_ERR, "--force-renew %s: no certificate of that name in %s", force, o->config);
        pol_certmgr_free(cfg);
        return 1;
    }
    if (daemon_take(&d, cfg) != PC_OK)
        return 1;
    pc_log(LOG_INFO, "%s: %zu certificate(s), CA %s%s", o->config, d.cfg->ncerts, d.cfg->directory,
           o->once ? ", one pass" : "");
    for (;;) {
        failures = pass(&d, force, o->once, &wake);
        force = NULL;
        if (o->once || stop_flag)
            break;
        now = (int64_t)time(NULL);
        if (wake < now + 1)
            wake = now + 1;
        if (wake > now + CM_DAEMON_SLEEP_MAX_S)
            wake = now + CM_DAEMON_SLEEP_MAX_S;
        pc_log(LOG_INFO, "next pass in %llds", (long long)(wake - now));
        if (!cm_sleep_ms((uint64_t)(wake - now) * 1000, true))
            break;
        if (hup_flag) {
            hup_flag = false;
            pc_log(LOG_INFO, "SIGHUP: re-reading %s", o->config);
            if (pol_certmgr_load(o->config, &cfg, &errs) != PC_OK) {
                pol_errors_log(&errs);
                pc_log(LOG_ERR, "%s refused: keeping the configuration in use", o->config);
            } else if (daemon_take(&d, cfg) != PC_OK) {
                pc_log(LOG_ERR, "%s refused: keeping the configuration in use", o->config);
            }
        }
    }
    if (stop_flag)
        pc_log(LOG_INFO, "stopping");
    daemon_clear(&d);
    if (d.lock_fd != -1)
        close(d.lock_fd);
    return o->once && failures != 0 ? 1 : 0;
}
