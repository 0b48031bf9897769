/*
 * The authorizations of one order (RFC 8555 7.5): which are still pending,
 * the challenge of the configured type for each, the answers put in place
 * all together (one propagation wait for a wildcard and its base name,
 * which share one TXT name), the CA told, every authorization polled until
 * it is valid, and the answers removed again whatever happened.
 * See cm_acme.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm_acme.h"

#define ACME_LABEL   "_acme-challenge."                              /* RFC 8555 8.4 */
#define KEYAUTHZ_MAX (CM_ACME_TOKEN_MAX + 1 + CM_ACME_THUMB_LEN + 1) /* token "." thumbprint */

struct authz_run {
    struct cm_acme *a;
    const struct pol_cm_cert *cert;
    struct cm_acme_authz *authz; /* one per authorization URL of the order */
    struct cm_chall_job *jobs;
    size_t njobs;
};

static const char *
chall_type(const struct pol_cm_cert *cert)
{
    return cert->challenge == POL_CM_DNS01 ? "dns-01" : "http-01";
}

/* POST-as-GET one authorization into *out. */
static int
fetch_authz(struct authz_run *run, const char *url, struct cm_acme_authz *out, int64_t *ra)
{
    struct cm_http_resp r;
    char what[PC_CONF_MAX_NAME + 24], err[256];
    int rc;

    cm_http_resp_init(&r);
    snprintf(what, sizeof(what), "%s: authorization", run->cert->name);
    rc = cm_acme_post(run->a, what, url, NULL, CM_ACME_JSON_MAX_BYTES, &r);
    if (rc == PC_OK) {
        cm_acme_authz_clear(out);
        rc = cm_acme_authz_parse(r.body.data, r.body.len, out, err, sizeof(err));
        if (rc != PC_OK)
            pc_log(LOG_ERR, "%s: %s", run->cert->name, err);
    }
    if (ra != NULL)
        *ra = r.retry_after;
    cm_http_resp_clear(&r);
    return rc;
}

/* Log why an authorization failed: the errors of its challenges. */
static void
log_failed(const struct pol_cm_cert *cert, const struct cm_acme_authz *az)
{
    char what[PC_CONF_MAX_NAME + CM_ACME_IDENT_MAX + 64];
    size_t i;

    pc_log(LOG_ERR, "%s: authorization %s%s is %s", cert->name, az->wildcard ? "*." : "", az->ident,
           cm_acme_status_name(az->status));
    for (i = 0; i < az->nch; i++) {
        if (az->ch[i].error == NULL)
            continue;
        snprintf(what, sizeof(what), "%s: %s %s%s", cert->name, az->ch[i].type,
                 az->wildcard ? "*." : "", az->ident);
        cm_acme_problem_log(LOG_ERR, what, az->ch[i].error);
    }
}

/* A job for the challenge of our type in a pending authorization. */
static int
make_job(struct authz_run *run, const char *url, const struct cm_acme_authz *az)
{
    const struct cm_acme_chall *ch = NULL;
    struct cm_chall_job *j;
    char ka[KEYAUTHZ_MAX];
    size_t i, fl;

    for (i = 0; i < az->nch && ch == NULL; i++)
        if (strcmp(az->ch[i].type, chall_type(run->cert)) == 0)
            ch = &az->ch[i];
    if (ch == NULL) {
        pc_log(LOG_ERR, "%s: the CA offers no %s challenge for %s%s", run->cert->name,
               chall_type(run->cert), az->wildcard ? "*." : "", az->ident);
        return PC_ERR_INVALID;
    }
    if (ch->status == CM_ST_INVALID) {
        log_failed(run->cert, az);
        return PC_ERR_DENIED;
    }
    if (cm_acme_key_authz(ch->token, run->a->thumb, ka, sizeof(ka)) != PC_OK)
        return PC_ERR_TOO_LARGE;
    j = &run->jobs[run->njobs++];
    j->ident = az->ident;
    j->wildcard = az->wildcard;
    j->token = pc_xstrdup(ch->token);
    j->key_authz = pc_xstrdup(ka);
    j->chall_url = pc_xstrdup(ch->url);
    j->authz_url = pc_xstrdup(url);
    j->respond = ch->status == CM_ST_PENDING;
    cm_acme_dns_value(ka, j->value);
    fl = strlen(az->ident);
    j->fqdn = pc_xmalloc(sizeof(ACME_LABEL) + fl);
    memcpy(j->fqdn, ACME_LABEL, sizeof(ACME_LABEL) - 1);
    memcpy(j->fqdn + sizeof(ACME_LABEL) - 1, az->ident, fl + 1);
    pc_log(LOG_INFO, "%s: authorization %s%s: pending, %s%s", run->cert->name,
           az->wildcard ? "*." : "", az->ident, chall_type(run->cert),
           j->respond ? "" : " (the CA is already validating)");
    return PC_OK;
}

/*
 * Poll job j's authorization until it is no longer pending.  `wait_first`:
 * pause before the first look (the others were validated meanwhile).
 */
static int
poll_authz(struct authz_run *run, struct cm_chall_job *j, struct cm_acme_authz *az, bool wait_first)
{
    uint64_t start = cm_now_ms(), delay = CM_ACME_POLL_FIRST_MS;
    int64_t ra = -1;
    int rc;

    for (;;) {
        uint64_t ms = delay;
        if (ra >= 0)
            ms = ra > CM_ACME_RETRY_INLINE_MAX_S ? CM_ACME_RETRY_INLINE_MAX_S * 1000
                 : ra == 0                       ? 1000
                                                 : (uint64_t)ra * 1000;
        delay = delay * 2 > CM_ACME_POLL_MAX_MS ? CM_ACME_POLL_MAX_MS : delay * 2;
        if (wait_first && !cm_sleep_ms(ms, false))
            return PC_ERR_IO;
        wait_first = true;
        rc = fetch_authz(run, j->authz_url, az, &ra);
        if (rc != PC_OK)
            return rc;
        if (az->status == CM_ST_VALID) {
            pc_log(LOG_INFO, "%s: authorization %s%s: valid", run->cert->name,
                   j->wildcard ? "*." : "", j->ident);
            return PC_OK;
        }
        if (az->status != CM_ST_PENDING) {
            log_failed(run->cert, az);
            return PC_ERR_DENIED;
        }
        if (cm_now_ms() - start > CM_ACME_POLL_TIMEOUT_MS) {
            pc_log(LOG_ERR, "%s: authorization %s%s still pending after %ds", run->cert->name,
                   j->wildcard ? "*." : "", j->ident, CM_ACME_POLL_TIMEOUT_MS / 1000);
            return PC_ERR_TIMEOUT;
        }
    }
}

/* Tell the CA to validate: POST {} to the challenge (RFC 8555 7.5.1). */
static int
respond(struct authz_run *run, struct cm_chall_job *j)
{
    struct cm_http_resp r;
    char what[PC_CONF_MAX_NAME + CM_ACME_IDENT_MAX + 32];
    int rc;

    cm_http_resp_init(&r);
    snprintf(what, sizeof(what), "%s: challenge %s%s", run->cert->name, j->wildcard ? "*." : "",
             j->ident);
    rc = cm_acme_post(run->a, what, j->chall_url, "{}", CM_ACME_JSON_MAX_BYTES, &r);
    if (rc == PC_OK)
        pc_log(LOG_INFO, "%s: ready for validation", what);
    cm_http_resp_clear(&r);
    return rc;
}

int
cm_acme_authorize(struct cm_acme *a, const struct pol_cm_cert *cert, const struct cm_acme_order *o)
{
    struct authz_run run;
    struct cm_acme_authz tmp;
    size_t i;
    int rc = PC_OK;

    memset(&run, 0, sizeof(run));
    memset(&tmp, 0, sizeof(tmp));
    run.a = a;
    run.cert = cert;
    run.authz = pc_xcalloc(o->nauthz + 1, sizeof(*run.authz));
    run.jobs = pc_xcalloc(o->nauthz + 1, sizeof(*run.jobs));
    for (i = 0; i < o->nauthz && rc == PC_OK; i++) {
        rc = fetch_authz(&run, o->authz[i], &run.authz[i], NULL);
        if (rc != PC_OK)
            break;
        if (run.authz[i].status == CM_ST_VALID) {
            pc_log(LOG_INFO, "%s: authorization %s%s: already valid", cert->name,
                   run.authz[i].wildcard ? "*." : "", run.authz[i].ident);
        } else if (run.authz[i].status == CM_ST_PENDING) {
            rc = make_job(&run, o->authz[i], &run.authz[i]);
        } else {
            log_failed(cert, &run.authz[i]);
            rc = PC_ERR_DENIED;
        }
    }
    /* every answer in place first: a wildcard and its base name share one TXT name */
    for (i = 0; rc == PC_OK && i < run.njobs; i++)
        rc = cm_chall_present(cert, &run.jobs[i]);
    if (rc == PC_OK)
        rc = cm_chall_propagation(cert, run.jobs, run.njobs);
    for (i = 0; rc == PC_OK && i < run.njobs; i++)
        if (run.jobs[i].respond)
            rc = respond(&run, &run.jobs[i]);
    for (i = 0; rc == PC_OK && i < run.njobs; i++)
        rc = poll_authz(&run, &run.jobs[i], &tmp, i == 0);
    for (i = 0; i < run.njobs; i++) {
        cm_chall_cleanup(cert, &run.jobs[i]);
        cm_chall_job_clear(&run.jobs[i]);
    }
    for (i = 0; i < o->nauthz; i++)
        cm_acme_authz_clear(&run.authz[i]);
    cm_acme_authz_clear(&tmp);
    free(run.authz);
    free(run.jobs);
    return rc;
}
