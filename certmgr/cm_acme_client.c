/*
 * The ACME client proper: the directory, the account key and account,
 * nonces, and the signed POST every request goes through, with the retries
 * RFC 8555 asks for (badNonce: 6.5; rate limits: 6.6 and Retry-After) and
 * the account re-registered when the CA has forgotten it.  See cm_acme.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm.h"
#include "cm_acme.h"

#define ESC_URL (CM_ACME_URL_MAX + 8) /* an escaped URL, cut if need be */

static const char *
esc_url(char *buf, const char *url)
{
    return pc_log_esc(buf, ESC_URL, url, strlen(url));
}

/* A fresh nonce into a->nonce: HEAD newNonce (RFC 8555 7.2) unless one is kept. */
static int
get_nonce(struct cm_acme *a)
{
    struct cm_http_resp r;
    int rc;

    if (a->nonce[0] != '\0')
        return PC_OK;
    cm_http_resp_init(&r);
    rc = cm_http_do(a->http, CM_HTTP_HEAD, a->dir.new_nonce, NULL, 0, NULL, 0, &r);
    a->requests++;
    if (rc == PC_OK && (r.status < 200 || r.status > 299 || r.nonce[0] == '\0')) {
        pc_log(LOG_ERR, "newNonce: status %ld%s", r.status,
               r.nonce[0] == '\0' ? " without a usable Replay-Nonce" : "");
        rc = PC_ERR_IO;
    }
    if (rc == PC_OK)
        memcpy(a->nonce, r.nonce, sizeof(a->nonce));
    cm_http_resp_clear(&r);
    return rc;
}

int
cm_acme_open(const struct pol_certmgr *cfg, struct cm_acme **out)
{
    struct cm_acme *a = pc_xcalloc(1, sizeof(*a));
    struct cm_http_resp r;
    char err[256], esc[ESC_URL];
    int rc;

    *out = NULL;
    cm_http_resp_init(&r);
    a->cfg = cfg;
    a->retry_after = -1;
    rc = cm_state_account_key(cfg, &a->key);
    if (rc != PC_OK)
        goto out;
    if (cm_jwk_public(a->key, &a->jwk) != PC_OK ||
        cm_jwk_thumbprint_json(a->jwk, a->thumb) != PC_OK) {
        pc_log(LOG_ERR, "account key: %s", cm_err_get() != NULL ? cm_err_get() : "no JWK");
        cm_err_clear();
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    rc = cm_http_new(cfg->ca_file, &a->http);
    if (rc != PC_OK)
        goto out;
    rc = cm_http_do(a->http, CM_HTTP_GET, cfg->directory, NULL, 0, "application/json",
                    CM_ACME_JSON_MAX_BYTES, &r);
    a->requests++;
    esc_url(esc, cfg->directory);
    if (rc == PC_OK && r.status != 200) {
        pc_log(LOG_ERR, "directory %s: status %ld", esc, r.status);
        rc = PC_ERR_IO;
    }
    if (rc != PC_OK)
        goto out;
    rc = cm_acme_dir_parse(r.body.data, r.body.len, &a->dir, err, sizeof(err));
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "directory %s: %s", esc, err);
        goto out;
    }
    pc_log(LOG_DEBUG, "directory %s: renewalInfo %s", esc,
           a->dir.renewal_info != NULL ? "offered" : "not offered");
    *out = a;
    a = NULL;
out:
    cm_http_resp_clear(&r);
    cm_acme_close(a);
    return rc;
}

void
cm_acme_close(struct cm_acme *a)
{
    if (a == NULL)
        return;
    cm_http_free(a->http);
    cm_acme_dir_clear(&a->dir);
    EVP_PKEY_free(a->key);
    json_decref(a->jwk);
    free(a->kid);
    free(a);
}

/* The newAccount payload: terms agreed, contact, EAB. */
static char *
account_payload(struct cm_acme *a)
{
    const struct pol_certmgr *cfg = a->cfg;
    json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1), *eab = NULL;
    char *text = NULL, mailto[300];

    if (p == NULL)
        return NULL;
    if (cfg->email != NULL) {
        snprintf(mailto, sizeof(mailto), "mailto:%s", cfg->email);
        json_object_set_new(p, "contact", json_pack("[s]", mailto));
    }
    if (cfg->eab_kid != NULL) {
        if (cm_acme_eab(cfg->eab_kid, cfg->eab_key, cfg->eab_key_len, a->jwk, a->dir.new_account,
                        &eab) != PC_OK)
            goto out;
        json_object_set_new(p, "externalAccountBinding", eab);
    }
    text = json_dumps(p, JSON_COMPACT);
out:
    json_decref(p);
    return text;
}

int
cm_acme_account(struct cm_acme *a)
{
    struct cm_http_resp r;
    char esc[ESC_URL];
    char *payload = NULL;
    int rc;

    if (a->kid != NULL)
        return PC_OK;
    if (cm_state_account_url(a->cfg, &a->kid) == PC_OK)
        return PC_OK;
    cm_http_resp_init(&r);
    if (a->dir.eab_required && a->cfg->eab_kid == NULL) {
        pc_log(LOG_ERR, "the CA requires External Account Binding: set acme.eab { kid, hmac_key "
                        "} in the configuration");
        rc = PC_ERR_INVALID;
        goto out;
    }
    payload = account_payload(a);
    if (payload == NULL) {
        rc = PC_ERR_INTERNAL;
        goto out;
    }
    rc = cm_acme_post(a, "newAccount", a->dir.new_account, payload, CM_ACME_JSON_MAX_BYTES, &r);
    if (rc != PC_OK)
        goto out;
    if (r.location[0] == '\0') {
        pc_log(LOG_ERR, "newAccount: status %ld without an https:// Location", r.status);
        rc = PC_ERR_INVALID;
        goto out;
    }
    a->kid = pc_xstrdup(r.location);
    pc_log(LOG_INFO, "account %s %s%s", esc_url(esc, a->kid), r.status == 201 ? "created" : "found",
           a->cfg->eab_kid != NULL ? " (with EAB)" : "");
    rc = cm_state_account_save(a->cfg, a->kid);
out:
    free(payload);
    cm_http_resp_clear(&r);
    return rc;
}

/* The account URL we kept is unknown to the CA (it was reset): register again, once. */
static int
reregister(struct cm_acme *a)
{
    char path[4096];

    pc_log(LOG_WARNING, "the CA does not know account %s any more: registering again",
           a->kid != NULL ? a->kid : "?");
    free(a->kid);
    a->kid = NULL;
    if (cm_state_path(a->cfg, "acme/account.json", path, sizeof(path)) == PC_OK)
        (void)unlink(path);
    return cm_acme_account(a);
}

/* Whether to try the same request again after this answer (and after waiting). */
static bool
retry_answer(struct cm_acme *a, const char *what, const struct cm_http_resp *r, int *nonce_left,
             int *busy_left)
{
    int64_t wait;

    if (r->status == 400 && cm_acme_problem_is(&a->problem, "badNonce") && (*nonce_left)-- > 0) {
        pc_log(LOG_INFO, "%s: badNonce: retrying with the fresh nonce the CA sent", what);
        return true;
    }
    if ((r->status == 429 || r->status == 503) && r->retry_after >= 0 &&
        r->retry_after <= CM_ACME_RETRY_INLINE_MAX_S && (*busy_left)-- > 0) {
        wait = r->retry_after > 0 ? r->retry_after : 1;
        pc_log(LOG_WARNING, "%s: %s (%ld): waiting %llds as Retry-After asks, then retrying", what,
               r->status == 429 ? "rate limited" : "service unavailable", r->status,
               (long long)wait);
        return cm_sleep_ms((uint64_t)wait * 1000, false);
    }
    return false;
}

int
cm_acme_post(struct cm_acme *a, const char *what, const char *url, const char *payload, size_t cap,
             struct cm_http_resp *r)
{
    int nonce_left = CM_ACME_BADNONCE_TRIES, busy_left = CM_ACME_BUSY_TRIES, rc;
    bool again_account = true;
    char *jws = NULL;

    for (;;) {
        bool use_jwk = a->kid == NULL || strcmp(url, a->dir.new_account) == 0;
        a->has_problem = false;
        a->retry_after = -1;
        rc = get_nonce(a);
        if (rc != PC_OK)
            return rc;
        rc = cm_acme_jws(a->key, use_jwk ? a->jwk : NULL, use_jwk ? NULL : a->kid, a->nonce, url,
                         payload, &jws);
        a->nonce[0] = '\0'; /* a nonce is good for one request */
        if (rc != PC_OK)
            return rc;
        rc = cm_http_do(a->http, CM_HTTP_POST, url, jws, strlen(jws), NULL, cap, r);
        a->requests++;
        free(jws);
        jws = NULL;
        if (r->nonce[0] != '\0')
            memcpy(a->nonce, r->nonce, sizeof(a->nonce));
        if (rc != PC_OK)
            return rc;
        if (r->status >= 200 && r->status <= 299)
            return PC_OK;
        memset(&a->problem, 0, sizeof(a->problem));
        a->has_problem = r->body.len > 0 &&
                         cm_acme_problem_parse(r->body.data, r->body.len, &a->problem) == PC_OK;
        if (retry_answer(a, what, r, &nonce_left, &busy_left))
            continue;
        if (cm_stop_requested())
            return PC_ERR_IO;
        if (r->status == 400 && cm_acme_problem_is(&a->problem, "accountDoesNotExist") &&
            !use_jwk && again_account) {
            again_account = false;
            rc = reregister(a);
            if (rc != PC_OK)
                return rc;
            continue;
        }
        a->retry_after = r->retry_after;
        if (a->has_problem)
            cm_acme_problem_log(LOG_ERR, what, &a->problem);
        else
            pc_log(LOG_ERR, "%s: status %ld", what, r->status);
        if (r->status == 429 || r->status == 503) {
            if (r->retry_after >= 0)
                pc_log(LOG_ERR, "%s: the CA asks to wait %llds (Retry-After)", what,
                       (long long)r->retry_after);
            return PC_ERR_BUSY;
        }
        return PC_ERR_DENIED;
    }
}

int
cm_acme_renewal_info(struct cm_acme *a, const char *cert_id, struct cm_acme_ari *out,
                     int64_t *retry_after)
{
    struct cm_http_resp r;
    char url[CM_ACME_URL_MAX + CM_ACME_ARI_ID_MAX + 2], err[256], esc[ESC_URL];
    size_t bl;
    int rc, n;

    memset(out, 0, sizeof(*out));
    *retry_after = -1;
    if (a->dir.renewal_info == NULL)
        return PC_ERR_NOT_FOUND;
    bl = strlen(a->dir.renewal_info);
    n = snprintf(url, sizeof(url), "%s%s%s", a->dir.renewal_info,
                 bl > 0 && a->dir.renewal_info[bl - 1] == '/' ? "" : "/", cert_id);
    if (n < 0 || (size_t)n >= sizeof(url))
        return PC_ERR_TOO_LARGE;
    cm_http_resp_init(&r);
    /* renewalInfo is fetched with an unauthenticated GET (RFC 9773 4.1) */
    rc = cm_http_do(a->http, CM_HTTP_GET, url, NULL, 0, "application/json", CM_ACME_JSON_MAX_BYTES,
                    &r);
    a->requests++;
    esc_url(esc, url);
    if (rc == PC_OK && r.status != 200) {
        pc_log(LOG_WARNING, "renewalInfo %s: status %ld", esc, r.status);
        rc = PC_ERR_IO;
    }
    if (rc == PC_OK) {
        rc = cm_acme_ari_parse(r.body.data, r.body.len, out, err, sizeof(err));
        if (rc != PC_OK)
            pc_log(LOG_WARNING, "renewalInfo %s: %s", esc, err);
    }
    *retry_after = r.retry_after;
    cm_http_resp_clear(&r);
    return rc;
}
