/*
 * Revoked-certificate sets built from CRL files.  A set is immutable once
 * built: workers look serials up with a binary search and no lock, while
 * the control thread builds the next set and publishes it (pc_rcu).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "authn/authn.h"
#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_limits.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"

#define CRL_MAX_PER_FILE 64 /* CRLs (one per CA) in one file */

struct revoked {
    uint16_t issuer; /* index into authn_crlset.issuers */
    uint8_t len;
    uint8_t serial[AUTHN_SERIAL_MAX];
};

struct crl_issuer {
    unsigned char id[32]; /* SHA-256 of the DER issuer name */
    int64_t next_update;  /* unix seconds; INT64_MAX when absent */
};

struct authn_crlset {
    struct crl_issuer *issuers;
    size_t nissuers;
    struct revoked *entries; /* sorted by (issuer, len, serial) */
    size_t n;
    int64_t next_update; /* earliest over all CRLs */
};

static int
cmp_revoked(const void *a, const void *b)
{
    const struct revoked *x = a, *y = b;

    if (x->issuer != y->issuer)
        return x->issuer < y->issuer ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->serial, y->serial, x->len);
}

static int
name_id(const X509_NAME *name, unsigned char out[32])
{
    unsigned char *der = NULL;
    int len = i2d_X509_NAME(name, &der);
    int rc = PC_ERR_CRYPTO;

    if (len > 0 && EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL) == 1)
        rc = PC_OK;
    OPENSSL_free(der);
    return rc;
}

static X509 *
find_issuer(STACK_OF(X509) * cas, const X509_NAME *name)
{
    int i;

    for (i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (X509_NAME_cmp(X509_get_subject_name(ca), name) == 0)
            return ca;
    }
    return NULL;
}

/* Add the entries of one verified CRL; PC_ERR_TOO_LARGE above the cap. */
static int
add_crl(struct authn_crlset *s, X509_CRL *crl, uint16_t issuer, size_t *cap)
{
    STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
    int i, n = sk_X509_REVOKED_num(rev);

    if (n < 0)
        n = 0;
    if ((size_t)n > PC_CRL_MAX_ENTRIES - s->n)
        return PC_ERR_TOO_LARGE;
    if (s->n + (size_t)n > *cap) {
        *cap = s->n + (size_t)n;
        s->entries = pc_xreallocarray(s->entries, *cap, sizeof(*s->entries));
    }
    for (i = 0; i < n; i++) {
        const ASN1_INTEGER *ai = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i));
        BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
        struct revoked *e = &s->entries[s->n];
        int len;
        if (bn == NULL)
            return PC_ERR_CRYPTO;
        len = BN_num_bytes(bn);
        if (len < 1 || len > AUTHN_SERIAL_MAX || BN_is_negative(bn)) {
            BN_free(bn);
            continue; /* no certificate of ours can carry such a serial */
        }
        memset(e, 0, sizeof(*e));
        e->issuer = issuer;
        e->len = (uint8_t)BN_bn2bin(bn, e->serial);
        BN_free(bn);
        s->n++;
    }
    return PC_OK;
}

static int64_t
time_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL)
        return INT64_MAX;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN; /* unreadable: treat as already expired */
    return (int64_t)timegm(&tm);
}

int
authn_crlset_load(const char *path, STACK_OF(X509) * cas, struct authn_crlset **out)
{
    struct authn_crlset *s = NULL;
    X509_CRL *crl = NULL;
    BIO *bio = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, ncrl = 0, i;
    int rc;

    *out = NULL;
    rc = pc_file_read(path, PC_CRL_MAX_BYTES, &buf, &len);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_INVALID;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL)
        goto out;
    s = pc_xcalloc(1, sizeof(*s));
    s->next_update = INT64_MAX;
    for (;;) {
        const X509_NAME *iname;
        X509 *ca;
        unsigned char id[32];
        int64_t nu;

        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        if (crl == NULL)
            break;
        if (ncrl == CRL_MAX_PER_FILE) {
            pc_log(LOG_ERR, "%s: more than %d CRLs", path, CRL_MAX_PER_FILE);
            goto out;
        }
        iname = X509_CRL_get_issuer(crl);
        ca = find_issuer(cas, iname);
        if (ca == NULL) {
            pc_log(LOG_ERR, "%s: CRL #%zu is not issued by a CA of client_ca", path, ncrl + 1);
            goto out;
        }
        if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
            pc_log(LOG_ERR, "%s: CRL #%zu: signature does not verify with its CA", path, ncrl + 1);
            goto out;
        }
        if (name_id(iname, id) != PC_OK)
            goto out;
        nu = time_unix(X509_CRL_get0_nextUpdate(crl));
        /* several CRLs of one CA: the union of their entries */
        for (i = 0; i < s->nissuers; i++)
            if (memcmp(s->issuers[i].id, id, 32) == 0)
                break;
        if (i == s->nissuers) {
            s->issuers = pc_xreallocarray(s->issuers, s->nissuers + 1, sizeof(*s->issuers));
            memcpy(s->issuers[i].id, id, 32);
            s->issuers[i].next_update = nu;
            s->nissuers++;
        } else if (nu < s->issuers[i].next_update) {
            s->issuers[i].next_update = nu;
        }
        if (nu < s->next_update)
            s->next_update = nu;
        rc = add_crl(s, crl, (uint16_t)i, &cap);
        if (rc == PC_ERR_TOO_LARGE)
            pc_log(LOG_ERR, "%s: more than %d revoked serials", path, PC_CRL_MAX_ENTRIES);
        if (rc != PC_OK)
            goto out;
        rc = PC_ERR_INVALID;
        X509_CRL_free(crl);
        crl = NULL;
        ncrl++;
    }
    ERR_clear_error(); /* the PEM reader ends with "no start line" */
    if (ncrl == 0) {
        pc_log(LOG_ERR, "%s: no PEM CRL found", path);
        goto out;
    }
    if (s->n > 1)
        qsort(s->entries, s->n, sizeof(*s->entries), cmp_revoked);
    *out = s;
    s = NULL;
    rc = PC_OK;
out:
    X509_CRL_free(crl);
    BIO_free(bio);
    free(buf);
    authn_crlset_free(s);
    return rc;
}

void
authn_crlset_free(struct authn_crlset *s)
{
    if (s == NULL)
        return;
    free(s->issuers);
    free(s->entries);
    free(s);
}

void
authn_crlset_free_void(void *s)
{
    authn_crlset_free(s);
}

static int
issuer_index(const struct authn_crlset *s, const unsigned char id[32])
{
    size_t i;

    for (i = 0; i < s->nissuers; i++)
        if (memcmp(s->issuers[i].id, id, 32) == 0)
            return (int)i;
    return -1;
}

bool
authn_crlset_has(const struct authn_crlset *s, const unsigned char issuer_id[32],
                 const unsigned char *serial, size_t serial_len)
{
    struct revoked key;
    int idx = issuer_index(s, issuer_id);

    if (idx < 0 || s->n == 0 || serial_len == 0 || serial_len > AUTHN_SERIAL_MAX)
        return false;
    memset(&key, 0, sizeof(key));
    key.issuer = (uint16_t)idx;
    key.len = (uint8_t)serial_len;
    memcpy(key.serial, serial, serial_len);
    return bsearch(&key, s->entries, s->n, sizeof(key), cmp_revoked) != NULL;
}

int
authn_cert_revocation_key(X509 *cert, unsigned char issuer_id[32],
                          unsigned char serial[AUTHN_SERIAL_MAX], size_t *serial_len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    int len, rc = PC_ERR_INVALID;

    if (bn == NULL)
        return PC_ERR_INVALID;
    len = BN_num_bytes(bn);
    if (len >= 1 && len <= AUTHN_SERIAL_MAX && !BN_is_negative(bn)) {
        *serial_len = (size_t)BN_bn2bin(bn, serial);
        rc = name_id(X509_get_issuer_name(cert), issuer_id);
    }
    BN_free(bn);
    return rc;
}

bool
authn_crlset_expired(const struct authn_crlset *s, int64_t now)
{
    return now > s->next_update;
}

size_t
authn_crlset_count(const struct authn_crlset *s)
{
    return s->n;
}

bool
authn_crlset_covers(const struct authn_crlset *s, const unsigned char issuer_id[32])
{
    return issuer_index(s, issuer_id) >= 0;
}

size_t
authn_crlset_uncovered(const struct authn_crlset *s, STACK_OF(X509) * cas, char *out, size_t cap)
{
    size_t n = 0, off = 0;
    int i;

    if (cap > 0)
        out[0] = '\0';
    for (i = 0; i < sk_X509_num(cas); i++) {
        unsigned char id[32];
        char name[256];
        int w;
        if (name_id(X509_get_subject_name(sk_X509_value(cas, i)), id) != PC_OK ||
            issuer_index(s, id) >= 0)
            continue;
        n++;
        X509_NAME_oneline(X509_get_subject_name(sk_X509_value(cas, i)), name, sizeof(name));
        w = snprintf(out + off, cap - off, "%s%s", off == 0 ? "" : ", ", name);
        if (w > 0 && (size_t)w < cap - off)
            off += (size_t)w;
    }
    return n;
}
