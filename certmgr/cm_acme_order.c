/*
 * One issuance (RFC 8555 7.4): newOrder, the authorizations and their
 * challenges, finalize with a CSR from a fresh key, polling with
 * Retry-After, download of the chain, install.  The order URL is recorded
 * as soon as the CA gives it, the pending key before finalize, so a
 * restart at any point continues the same order (ACME.md, "State").
 * See cm_acme.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm_acme.h"

#define ESC_MAX   (CM_ACME_URL_MAX + 8) /* an escaped URL in a log line */
#define MAX_STEPS 16                    /* order state transitions followed in one issuance */

struct issue {
    struct cm_acme *a;
    const struct pol_certmgr *cfg;
    const struct pol_cm_cert *cert;
    const char *name;
    struct cm_order_state st; /* the record of the order in flight */
    struct cm_acme_order order;
};

static const char *
esc(char *buf, const char *s)
{
    return pc_log_esc(buf, ESC_MAX, s, strlen(s));
}

/* Sleep before the next poll: Retry-After when the CA sent one, else *delay (doubling). */
static bool
poll_pause(uint64_t *delay, int64_t retry_after)
{
    uint64_t ms = *delay;

    if (retry_after >= 0)
        ms = retry_after > CM_ACME_RETRY_INLINE_MAX_S ? CM_ACME_RETRY_INLINE_MAX_S * 1000
             : retry_after == 0                       ? 1000
                                                      : (uint64_t)retry_after * 1000;
    *delay = *delay * 2 > CM_ACME_POLL_MAX_MS ? CM_ACME_POLL_MAX_MS : *delay * 2;
    return cm_sleep_ms(ms, false);
}

/* POST-as-GET the order into is->order. */
static int
fetch_order(struct issue *is, int64_t *retry_after)
{
    struct cm_http_resp r;
    char err[256], what[PC_CONF_MAX_NAME + 16];
    int rc;

    cm_http_resp_init(&r);
    snprintf(what, sizeof(what), "%s: order", is->name);
    rc = cm_acme_post(is->a, what, is->st.url, NULL, CM_ACME_JSON_MAX_BYTES, &r);
    if (rc == PC_OK) {
        cm_acme_order_clear(&is->order);
        rc = cm_acme_order_parse(r.body.data, r.body.len, &is->order, err, sizeof(err));
        if (rc != PC_OK)
            pc_log(LOG_ERR, "%s: %s", is->name, err);
    }
    if (retry_after != NULL)
        *retry_after = r.retry_after;
    cm_http_resp_clear(&r);
    return rc;
}

/* Poll the order while its status is `from`. */
static int
poll_order(struct issue *is, enum cm_acme_status from)
{
    uint64_t start = cm_now_ms(), delay = CM_ACME_POLL_FIRST_MS;
    int64_t ra = -1;
    int rc;

    while (is->order.status == from) {
        if (cm_now_ms() - start > CM_ACME_POLL_TIMEOUT_MS) {
            pc_log(LOG_ERR, "%s: the order is still %s after %ds", is->name,
                   cm_acme_status_name(from), CM_ACME_POLL_TIMEOUT_MS / 1000);
            return PC_ERR_TIMEOUT;
        }
        if (!poll_pause(&delay, ra))
            return PC_ERR_IO;
        rc = fetch_order(is, &ra);
        if (rc != PC_OK)
            return rc;
    }
    pc_log(LOG_INFO, "%s: order is %s", is->name, cm_acme_status_name(is->order.status));
    return PC_OK;
}

/* Whether the order is for exactly the configured names. */
static bool
same_names(const struct cm_acme_order *o, const struct pol_cm_cert *cert)
{
    size_t i, j;

    if (o->nidents != cert->ndomains)
        return false;
    for (i = 0; i < cert->ndomains; i++) {
        for (j = 0; j < o->nidents; j++)
            if (strcasecmp(cert->domains[i], o->idents[j]) == 0)
                break;
        if (j == o->nidents)
            return false;
    }
    return true;
}

static char *
order_payload(const struct pol_cm_cert *cert, const char *replaces)
{
    json_t *ids = json_array(), *p;
    char *text;
    size_t i;

    for (i = 0; ids != NULL && i < cert->ndomains; i++)
        json_array_append_new(ids,
                              json_pack("{s:s, s:s}", "type", "dns", "value", cert->domains[i]));
    p = json_pack("{s:o}", "identifiers", ids);
    if (p != NULL && replaces != NULL)
        json_object_set_new(p, "replaces", json_string(replaces));
    text = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return text;
}

static int
new_order(struct issue *is, const char *replaces)
{
    struct cm_http_resp r;
    char err[256], e[ESC_MAX], what[PC_CONF_MAX_NAME + 16];
    char *payload = order_payload(is->cert, replaces);
    size_t i;
    int rc;

    cm_http_resp_init(&r);
    snprintf(what, sizeof(what), "%s: newOrder", is->name);
    rc = payload != NULL
             ? cm_acme_post(is->a, what, is->a->dir.new_order, payload, CM_ACME_JSON_MAX_BYTES, &r)
             : PC_ERR_INTERNAL;
    if (rc == PC_ERR_DENIED && replaces != NULL) {
        /* RFC 9773 5: a CA may refuse "replaces" (already replaced...): order without it */
        pc_log(LOG_WARNING, "%s: newOrder with replaces refused: ordering without it", is->name);
        free(payload);
        cm_http_resp_clear(&r);
        return new_order(is, NULL);
    }
    if (rc != PC_OK)
        goto out;
    rc = cm_acme_order_parse(r.body.data, r.body.len, &is->order, err, sizeof(err));
    if (rc == PC_OK && r.location[0] == '\0') {
        snprintf(err, sizeof(err), "no https:// Location");
        rc = PC_ERR_INVALID;
    }
    if (rc == PC_OK && !same_names(&is->order, is->cert)) {
        snprintf(err, sizeof(err), "the order is not for the names asked");
        rc = PC_ERR_INVALID;
    }
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "%s: newOrder: %s", is->name, err);
        goto out;
    }
    cm_state_order_clear(&is->st);
    is->st.directory = pc_xstrdup(is->cfg->directory);
    is->st.url = pc_xstrdup(r.location);
    is->st.domains = pc_xcalloc(is->cert->ndomains + 1, sizeof(*is->st.domains));
    for (i = 0; i < is->cert->ndomains; i++)
        is->st.domains[is->st.ndomains++] = pc_xstrdup(is->cert->domains[i]);
    is->st.key_type = is->cert->key_type;
    is->st.created = (int64_t)time(NULL);
    rc = cm_state_order_save(is->cfg, is->name, &is->st);
    pc_log(LOG_INFO, "%s: order %s created for %zu name(s): %s", is->name, esc(e, is->st.url),
           is->cert->ndomains, cm_acme_status_name(is->order.status));
out:
    free(payload);
    cm_http_resp_clear(&r);
    return rc;
}

/* The record fits the configuration and the CA still has the order: continue it. */
static bool
resume(struct issue *is)
{
    char e[ESC_MAX];
    size_t i;
    bool fits;

    if (cm_state_order_load(is->cfg, is->name, &is->st) != PC_OK)
        return false;
    fits = strcmp(is->st.directory, is->cfg->directory) == 0 &&
           is->st.key_type == is->cert->key_type && is->st.ndomains == is->cert->ndomains;
    for (i = 0; fits && i < is->st.ndomains; i++)
        fits = strcmp(is->st.domains[i], is->cert->domains[i]) == 0;
    if (!fits) {
        pc_log(LOG_INFO, "%s: the order in flight no longer fits the configuration: starting over",
               is->name);
        return false;
    }
    if (fetch_order(is, NULL) != PC_OK || is->order.status == CM_ST_INVALID ||
        !same_names(&is->order, is->cert)) {
        pc_log(LOG_WARNING, "%s: the order in flight %s cannot be continued: starting over",
               is->name, esc(e, is->st.url));
        return false;
    }
    pc_log(LOG_INFO, "%s: continuing order %s (%s)", is->name, esc(e, is->st.url),
           cm_acme_status_name(is->order.status));
    return true;
}

/* --- finalize and download ----------------------------------------------------------------- */

static int
finalize(struct issue *is, EVP_PKEY **key)
{
    struct cm_http_resp r;
    char err[256], what[PC_CONF_MAX_NAME + 16], *csr = NULL, *payload = NULL;
    const char *v;
    json_t *p = NULL;
    int rc;

    cm_http_resp_init(&r);
    rc = cm_state_order_key(is->cfg, is->name, key);
    if (rc == PC_ERR_NOT_FOUND) {
        /* a fresh key for every order, on disk before the CA sees its CSR */
        rc = cm_acme_key_new(is->cert->key_type, key);
        if (rc == PC_OK)
            rc = cm_state_order_key_save(is->cfg, is->name, *key);
        if (rc == PC_OK)
            pc_log(LOG_INFO, "%s: new %s key made for this order", is->name,
                   cm_acme_key_type_name(is->cert->key_type));
    }
    if (rc == PC_OK)
        rc = cm_acme_csr(*key, is->cert->domains, is->cert->ndomains, &csr);
    if (rc != PC_OK)
        goto out;
    p = json_pack("{s:s}", "csr", csr);
    payload = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
    snprintf(what, sizeof(what), "%s: finalize", is->name);
    rc = payload != NULL
             ? cm_acme_post(is->a, what, is->order.finalize, payload, CM_ACME_JSON_MAX_BYTES, &r)
             : PC_ERR_INTERNAL;
    if (rc != PC_OK)
        goto out;
    cm_acme_order_clear(&is->order);
    rc = cm_acme_order_parse(r.body.data, r.body.len, &is->order, err, sizeof(err));
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "%s: finalize: %s", is->name, err);
        goto out;
    }
    pc_log(LOG_INFO, "%s: finalized: order is %s", is->name, cm_acme_status_name(is->order.status));
    v = getenv(CM_ACME_TEST_EXIT_ENV);
    if (v != NULL && strcmp(v, "finalize") == 0) {
        pc_log(LOG_WARNING, "%s=finalize: exiting here as asked (test hook)",
               CM_ACME_TEST_EXIT_ENV);
        _exit(75);
    }
out:
    json_decref(p);
    free(payload);
    free(csr);
    cm_http_resp_clear(&r);
    return rc;
}

static int
download(struct issue *is, EVP_PKEY *key, int64_t *not_after)
{
    struct cm_http_resp r;
    char what[PC_CONF_MAX_NAME + 16], *norm = NULL;
    size_t nlen = 0;
    int rc;

    cm_http_resp_init(&r);
    snprintf(what, sizeof(what), "%s: certificate", is->name);
    /* POST-as-GET; the default format is PEM with the chain (RFC 8555 7.4.2) */
    rc = cm_acme_post(is->a, what, is->order.certificate, NULL, CM_ACME_CHAIN_MAX_BYTES, &r);
    if (rc == PC_OK)
        rc = cm_chain_check(is->cert, key, r.body.data != NULL ? r.body.data : "", r.body.len,
                            &norm, &nlen, not_after);
    if (rc == PC_OK)
        rc = cm_store_install(is->cfg, is->cert, key, norm, nlen);
    free(norm);
    cm_http_resp_clear(&r);
    return rc;
}

/* --- the issuance ----------------------------------------------------------------------------- */

int
cm_acme_issue(struct cm_acme *a, const struct pol_cm_cert *cert, const char *replaces,
              struct cm_issue_stats *stats)
{
    struct issue is;
    EVP_PKEY *key = NULL;
    uint64_t t0 = cm_now_ms();
    unsigned long r0 = a->requests;
    int64_t not_after = 0;
    char when[32];
    struct tm tm;
    bool done = false;
    int rc, steps;

    memset(&is, 0, sizeof(is));
    memset(stats, 0, sizeof(*stats));
    is.a = a;
    is.cfg = a->cfg;
    is.cert = cert;
    is.name = cert->name;
    rc = cm_acme_account(a);
    if (rc != PC_OK)
        goto out;
    stats->resumed = resume(&is);
    if (!stats->resumed) {
        cm_state_order_clear(&is.st);
        cm_acme_order_clear(&is.order);
        cm_state_order_drop(is.cfg, is.name);
        rc = new_order(&is, replaces);
        if (rc != PC_OK)
            goto out;
    }
    for (steps = 0; !done; steps++) {
        if (steps == MAX_STEPS) {
            pc_log(LOG_ERR, "%s: the order did not settle after %d steps", is.name, MAX_STEPS);
            rc = PC_ERR_TIMEOUT;
            goto out;
        }
        switch (is.order.status) {
        case CM_ST_PENDING:
            rc = cm_acme_authorize(a, cert, &is.order);
            if (rc == PC_OK)
                rc = fetch_order(&is, NULL);
            if (rc == PC_OK)
                rc = poll_order(&is, CM_ST_PENDING);
            break;
        case CM_ST_READY:
            rc = finalize(&is, &key);
            break;
        case CM_ST_PROCESSING:
            rc = poll_order(&is, CM_ST_PROCESSING);
            break;
        case CM_ST_VALID:
            if (key == NULL && cm_state_order_key(is.cfg, is.name, &key) != PC_OK) {
                pc_log(LOG_ERR,
                       "%s: the order is valid but its pending key is gone: the "
                       "certificate cannot be used; a new order follows",
                       is.name);
                cm_state_order_drop(is.cfg, is.name);
                rc = PC_ERR_NOT_FOUND;
                goto out;
            }
            rc = download(&is, key, &not_after);
            if (rc == PC_OK) {
                /* installed: the record is done with (see cm_store_install) */
                cm_state_order_drop(is.cfg, is.name);
                done = true;
            }
            break;
        default:
            pc_log(LOG_ERR, "%s: the order is %s", is.name, cm_acme_status_name(is.order.status));
            if (is.order.has_error)
                cm_acme_problem_log(LOG_ERR, is.name, is.order.error);
            /* an invalid order is dead: the next attempt makes a new one */
            cm_state_order_drop(is.cfg, is.name);
            rc = PC_ERR_DENIED;
            break;
        }
        if (rc != PC_OK)
            goto out;
    }
out:
    stats->requests = a->requests - r0;
    stats->seconds = (double)(cm_now_ms() - t0) / 1000.0;
    if (rc == PC_OK) {
        time_t t = (time_t)not_after;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        pc_log(LOG_INFO, "%s: issued: %lu ACME requests in %.1fs%s; valid until %s", is.name,
               stats->requests, stats->seconds, stats->resumed ? " (continued order)" : "", when);
    }
    EVP_PKEY_free(key);
    cm_state_order_clear(&is.st);
    cm_acme_order_clear(&is.order);
    return rc;
}
