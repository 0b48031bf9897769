/*
 * The end of an issuance: check the chain the CA sent, install it with its
 * key in state_dir/certs/NAME/, tell the gateway, and the Prometheus
 * textfile.  See cm_acme.h and ACME.md ("Crash safety") for why the key is
 * written before the chain.
 */
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm.h"
#include "cm_acme.h"

#define RELOAD_CMD_TIMEOUT_MS 60000       /* reload.command */
#define METRICS_MAX_BYTES     (64 * 1024) /* the textfile */

/* Whether every configured name is a dNSName SAN of leaf (case-insensitive). */
static bool
covers(X509 *leaf, const struct pol_cm_cert *cert)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    size_t i;
    int k;
    bool ok = gens != NULL;

    for (i = 0; ok && i < cert->ndomains; i++) {
        bool found = false;
        for (k = 0; !found && k < sk_GENERAL_NAME_num(gens); k++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
            found = g->type == GEN_DNS &&
                    (size_t)ASN1_STRING_length(g->d.dNSName) == strlen(cert->domains[i]) &&
                    strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), cert->domains[i],
                                strlen(cert->domains[i])) == 0;
        }
        ok = found;
    }
    GENERAL_NAMES_free(gens);
    return ok;
}

int
cm_chain_check(const struct pol_cm_cert *cert, EVP_PKEY *key, const char *pem, size_t len,
               char **norm, size_t *normlen, int64_t *not_after)
{
    BIO *in = NULL, *out = BIO_new(BIO_s_mem());
    X509 *x = NULL;
    struct tm tm;
    char *p = NULL;
    long n;
    int count = 0, rc = PC_ERR_INVALID;

    *norm = NULL;
    *normlen = 0;
    if (len > CM_ACME_CHAIN_MAX_BYTES || out == NULL)
        goto out;
    in = BIO_new_mem_buf(pem, (int)len);
    while (in != NULL && (x = PEM_read_bio_X509(in, NULL, cm_no_password, NULL)) != NULL) {
        if (++count > CM_ACME_CHAIN_MAX_CERTS) {
            pc_log(LOG_ERR, "%s: the chain has more than %d certificates", cert->name,
                   CM_ACME_CHAIN_MAX_CERTS);
            goto out;
        }
        if (count == 1) {
            if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
                pc_log(LOG_ERR, "%s: the certificate the CA sent is not for our key", cert->name);
                goto out;
            }
            if (!covers(x, cert)) {
                pc_log(LOG_ERR, "%s: the certificate the CA sent does not name every domain",
                       cert->name);
                goto out;
            }
            if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
                goto out;
            *not_after = (int64_t)timegm(&tm);
        }
        if (PEM_write_bio_X509(out, x) != 1)
            goto out;
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error(); /* the end of the input reads as "no start line" */
    if (count == 0) {
        pc_log(LOG_ERR, "%s: the CA sent no PEM certificate", cert->name);
        goto out;
    }
    n = BIO_get_mem_data(out, &p);
    if (n <= 0 || p == NULL)
        goto out;
    *norm = pc_xmemdup(p, (size_t)n);
    *normlen = (size_t)n;
    rc = PC_OK;
out:
    ERR_clear_error();
    X509_free(x);
    BIO_free(in);
    BIO_free(out);
    return rc;
}

static void
test_exit(const char *when)
{
    const char *v = getenv(CM_ACME_TEST_EXIT_ENV);

    if (v != NULL && strcmp(v, when) == 0) {
        pc_log(LOG_WARNING, "%s=%s: exiting here as asked (test hook)", CM_ACME_TEST_EXIT_ENV,
               when);
        _exit(75);
    }
}

int
cm_store_install(const struct pol_certmgr *cfg, const struct pol_cm_cert *cert, EVP_PKEY *key,
                 const char *chain, size_t len)
{
    char dir[PATH_MAX], kpath[PATH_MAX + 16], cpath[PATH_MAX + 16], sub[PC_CONF_MAX_NAME + 16];
    char *pem = NULL;
    size_t plen = 0;
    int rc;

    snprintf(sub, sizeof(sub), "certs/%s", cert->name);
    rc = cm_state_path(cfg, sub, dir, sizeof(dir));
    if (rc != PC_OK)
        return rc;
    if (mkdir(dir, 0755) == 0)
        (void)chmod(dir, 0755); /* the gateway reads the chain, whatever our umask */
    else if (errno != EEXIST) {
        pc_log(LOG_ERR, "%s: %s: %s", cert->name, dir, strerror(errno));
        return PC_ERR_IO;
    }
    snprintf(kpath, sizeof(kpath), "%s/privkey.pem", dir);
    snprintf(cpath, sizeof(cpath), "%s/fullchain.pem", dir);
    rc = cm_acme_key_pem(key, &pem, &plen);
    if (rc != PC_OK)
        return rc;
    /*
     * Key first, chain last: the chain is the commit point.  A crash in
     * between leaves the old chain, which is still due for renewal and
     * does not match the new key; the next pass sees both, and the order
     * record (removed only after this) lets it install again without a new
     * order.  The other order would leave a fresh chain that says "not
     * due" in front of a stale key.
     */
    rc = pc_file_write_atomic(kpath, pem, plen, 0600);
    pc_free_secret(pem, plen);
    if (rc != PC_OK)
        return rc;
    test_exit("key");
    rc = pc_file_write_atomic(cpath, chain, len, 0644);
    if (rc != PC_OK)
        return rc;
    pc_log(LOG_INFO, "%s: installed %s and %s", cert->name, kpath, cpath);
    return PC_OK;
}

/* SIGHUP to the pid in reload.pid_file. */
static int
signal_pid_file(const char *path)
{
    char *buf = NULL;
    size_t len = 0, n;
    uint64_t pid;
    int rc;

    rc = pc_file_read(path, CM_ACME_PIDFILE_MAX, &buf, &len);
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "reload: cannot read the gateway's pid file %s", path);
        return rc;
    }
    n = len;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
        n--;
    rc = pc_parse_u64(buf, n, INT32_MAX, &pid);
    free(buf);
    if (rc != PC_OK || pid < 2) {
        pc_log(LOG_ERR, "reload: %s does not hold a pid", path);
        return PC_ERR_INVALID;
    }
    if (kill((pid_t)pid, SIGHUP) != 0) {
        pc_log(LOG_ERR, "reload: SIGHUP to pid %llu (from %s): %s", (unsigned long long)pid, path,
               strerror(errno));
        return PC_ERR_IO;
    }
    pc_log(LOG_INFO, "reload: SIGHUP sent to the gateway, pid %llu (from %s)",
           (unsigned long long)pid, path);
    return PC_OK;
}

int
cm_store_reload(const struct pol_certmgr *cfg)
{
    if (cfg->reload_pid_file != NULL)
        return signal_pid_file(cfg->reload_pid_file);
    if (cfg->reload_command != NULL) {
        int rc = cm_run_cmd(cfg->reload_command, RELOAD_CMD_TIMEOUT_MS, false, "reload");
        if (rc == PC_OK)
            pc_log(LOG_INFO, "reload: %s: ok", cfg->reload_command[0]);
        return rc;
    }
    pc_log(LOG_INFO, "reload: not configured: the gateway serves the new certificate after its "
                     "next reload");
    return PC_OK;
}

int
cm_store_metrics(const struct pol_certmgr *cfg, const struct cm_cert_stats *stats,
                 const struct cm_installed *inst, unsigned long requests)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"cert_present", "gauge", "1 when a certificate is installed for NAME"},
        {"cert_expiry_seconds", "gauge", "Seconds until the installed certificate expires"},
        {"cert_not_after_timestamp_seconds", "gauge", "notAfter of the installed certificate"},
        {"renewals_total", "counter", "Certificates issued and installed"},
        {"renewal_failures_total", "counter", "Issuance attempts that failed"},
        {"consecutive_failures", "gauge", "Failures since the last success"},
        {"next_attempt_timestamp_seconds", "gauge", "Earliest retry after a failure (0: none)"},
    };
    char path[PATH_MAX];
    struct pc_buf b;
    int64_t now = (int64_t)time(NULL);
    size_t i, k;
    int rc;

    rc = cm_state_path(cfg, "acme/metrics.prom", path, sizeof(path));
    if (rc != PC_OK)
        return rc;
    pc_buf_init(&b, METRICS_MAX_BYTES);
    for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        pc_buf_addf(&b, "# HELP portcullis_certmgr_%s %s.\n# TYPE portcullis_certmgr_%s %s\n",
                    m[k].name, m[k].help, m[k].name, m[k].type);
        for (i = 0; i < cfg->ncerts; i++) {
            long long v;
            switch (k) {
            case 0:
                v = inst[i].present;
                break;
            case 1:
                if (!inst[i].present)
                    continue;
                v = inst[i].not_after - now;
                break;
            case 2:
                if (!inst[i].present)
                    continue;
                v = inst[i].not_after;
                break;
            case 3:
                v = (long long)stats[i].renewals;
                break;
            case 4:
                v = (long long)stats[i].failures;
                break;
            case 5:
                v = stats[i].consecutive;
                break;
            default:
                v = stats[i].next_attempt;
                break;
            }
            pc_buf_addf(&b, "portcullis_certmgr_%s{name=\"%s\"} %lld\n", m[k].name,
                        cfg->certs[i].name, v);
        }
    }
    pc_buf_addf(&b,
                "# HELP portcullis_certmgr_acme_requests_total ACME HTTP requests by this "
                "process.\n# TYPE portcullis_certmgr_acme_requests_total counter\n"
                "portcullis_certmgr_acme_requests_total %lu\n"
                "# HELP portcullis_certmgr_last_pass_timestamp_seconds End of the last pass.\n"
                "# TYPE portcullis_certmgr_last_pass_timestamp_seconds gauge\n"
                "portcullis_certmgr_last_pass_timestamp_seconds %lld\n",
                requests, (long long)now);
    rc = pc_file_write_atomic(path, b.data != NULL ? b.data : "", b.len, 0644);
    pc_buf_clear(&b);
    return rc;
}
