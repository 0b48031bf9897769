/*
 * When to renew: the certificate installed now (is it there, does its key
 * match, does it name the configured domains), the renew_before rule (a
 * share of the lifetime, or a duration), the window ACME Renewal
 * Information (RFC 9773) suggests, and the back-off after a failure.  The
 * arithmetic is pure and unit-tested; only cm_installed_read() reads files.
 * See cm_acme.h.
 */
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm.h"
#include "cm_acme.h"

int64_t
cm_renew_at(int64_t nb, int64_t na, unsigned pct, uint64_t before_ms)
{
    int64_t life = na - nb, before;

    if (life <= 0)
        return nb; /* nonsense validity: renew now */
    if (pct > 0)
        return na - (life / 100) * (int64_t)pct - (life % 100) * (int64_t)pct / 100;
    before = (int64_t)(before_ms / 1000);
    /* a certificate shorter than the rule would be renewed on every pass */
    if (before > life / 3 * 2)
        return nb + life / 3;
    return na - before;
}

int64_t
cm_ari_pick(const struct cm_acme_ari *w, int64_t now, uint64_t rnd)
{
    uint64_t span;
    int64_t t;

    if (w->end <= now || w->end <= w->start)
        return now;
    span = (uint64_t)(w->end - w->start);
    t = w->start + (int64_t)(rnd % span);
    return t < now ? now : t;
}

int64_t
cm_backoff(unsigned n, int64_t left, uint64_t rnd)
{
    int64_t d = CM_BACKOFF_MAX_S, half;

    if (n == 0)
        n = 1;
    if (n <= 20 && ((int64_t)CM_BACKOFF_BASE_S << (n - 1)) < CM_BACKOFF_MAX_S)
        d = (int64_t)CM_BACKOFF_BASE_S << (n - 1);
    /* near expiry, retry often enough to get several more chances */
    if (left > 0 && d > left / 4)
        d = left / 4;
    if (d < CM_BACKOFF_BASE_S)
        d = CM_BACKOFF_BASE_S;
    /* jitter: certmgrs restarted together do not retry together */
    half = d / 2;
    return half + (int64_t)(rnd % (uint64_t)(d - half + 1));
}

/* --- RFC 9773 certID ----------------------------------------------------------------------- */

int
cm_ari_cert_id(X509 *leaf, char *out, size_t outlen)
{
    const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(leaf);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
    unsigned char *der = NULL;
    const unsigned char *content;
    size_t clen, klen, need;
    int n;

    out[0] = '\0';
    if (kid == NULL || serial == NULL)
        return PC_ERR_NOT_FOUND;
    n = i2d_ASN1_INTEGER(serial, &der);
    /* the INTEGER's content octets: skip the tag and the (short or long) length */
    if (n < 3 || der[0] != 0x02) {
        OPENSSL_free(der);
        return PC_ERR_INVALID;
    }
    if ((der[1] & 0x80) == 0) {
        content = der + 2;
        clen = (size_t)n - 2;
    } else if (der[1] == 0x81 && n >= 4) {
        content = der + 3;
        clen = (size_t)n - 3;
    } else {
        OPENSSL_free(der);
        return PC_ERR_INVALID; /* serials are at most 20 octets */
    }
    klen = (size_t)ASN1_STRING_length(kid);
    need = PC_B64URL_ENCLEN(klen) + 1 + PC_B64URL_ENCLEN(clen) + 1;
    if (klen == 0 || need > outlen || need > CM_ACME_ARI_ID_MAX + 1) {
        OPENSSL_free(der);
        return PC_ERR_TOO_LARGE;
    }
    n = (int)pc_b64url_encode(out, ASN1_STRING_get0_data(kid), klen);
    out[n] = '.';
    pc_b64url_encode(out + n + 1, content, clen);
    OPENSSL_free(der);
    return PC_OK;
}

/* --- the installed pair ---------------------------------------------------------------------- */

static int64_t
asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* Whether the leaf's dNSName SANs are exactly the configured domains (any order, any case). */
static bool
names_match(X509 *leaf, const struct pol_cm_cert *cert)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    size_t i, ndns = 0;
    bool seen[POL_CM_MAX_DOMAINS] = {false}, ok = gens != NULL;
    int k;

    for (k = 0; ok && k < sk_GENERAL_NAME_num(gens); k++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
        const char *s;
        size_t len;
        if (g->type != GEN_DNS)
            continue;
        s = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
        len = (size_t)ASN1_STRING_length(g->d.dNSName);
        ndns++;
        for (i = 0; i < cert->ndomains; i++)
            if (strlen(cert->domains[i]) == len && strncasecmp(cert->domains[i], s, len) == 0)
                break;
        if (i == cert->ndomains)
            ok = false; /* a name we no longer want */
        else
            seen[i] = true;
    }
    for (i = 0; ok && i < cert->ndomains; i++)
        ok = seen[i];
    GENERAL_NAMES_free(gens);
    return ok && ndns >= cert->ndomains;
}

static X509 *
read_leaf(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    BIO *bio;
    X509 *x = NULL;

    if (pc_file_read(path, CM_ACME_CHAIN_MAX_BYTES, &buf, &len) != PC_OK)
        return NULL;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL)
        x = PEM_read_bio_X509(bio, NULL, cm_no_password, NULL);
    if (x == NULL) {
        pc_log(LOG_WARNING, "%s: no PEM certificate in it", path);
        ERR_clear_error();
    }
    BIO_free(bio);
    free(buf);
    return x;
}

void
cm_installed_read(const struct pol_certmgr *cfg, const struct pol_cm_cert *cert,
                  struct cm_installed *in)
{
    char chain[PATH_MAX], key[PATH_MAX], sub[PC_CONF_MAX_NAME + 32];
    struct stat st;
    EVP_PKEY *k = NULL;
    X509 *leaf = NULL;

    memset(in, 0, sizeof(*in));
    snprintf(sub, sizeof(sub), "certs/%s/fullchain.pem", cert->name);
    if (cm_state_path(cfg, sub, chain, sizeof(chain)) != PC_OK)
        return;
    snprintf(sub, sizeof(sub), "certs/%s/privkey.pem", cert->name);
    if (cm_state_path(cfg, sub, key, sizeof(key)) != PC_OK)
        return;
    if (stat(chain, &st) != 0 && errno == ENOENT)
        return;
    leaf = read_leaf(chain);
    if (leaf == NULL)
        return;
    in->present = true;
    in->not_before = asn1_time(X509_get0_notBefore(leaf));
    in->not_after = asn1_time(X509_get0_notAfter(leaf));
    in->names_ok = names_match(leaf, cert);
    if (cm_ari_cert_id(leaf, in->ari_id, sizeof(in->ari_id)) != PC_OK)
        in->ari_id[0] = '\0';
    if (stat(key, &st) == 0 && cm_key_load(key, &k) == PC_OK)
        in->key_ok = EVP_PKEY_eq(X509_get0_pubkey(leaf), k) == 1;
    else if (cm_err_get() != NULL)
        pc_log(LOG_WARNING, "%s: %s", cert->name, cm_err_get());
    cm_err_clear();
    ERR_clear_error();
    EVP_PKEY_free(k);
    X509_free(leaf);
}
