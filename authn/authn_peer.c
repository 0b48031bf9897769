/*
 * The identity of a verified client certificate: names, hashes, serial,
 * validity, and the X-Forwarded-Client-Cert value.  Computed once per
 * connection (gateway/gw_tls.c caches it on the SSL object).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "authn/authn.h"
#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_limits.h"
#include "common/pc_mem.h"
#include "common/pc_sha256.h"
#include "common/pc_str.h"

struct name_list {
    char **v;
    size_t n;
};

static bool
name_ok(const unsigned char *s, int len)
{
    if (len <= 0 || (size_t)len > PC_PEER_MAX_NAME)
        return false;
    /* embedded NULs and control bytes would let a name lie about itself */
    return !pc_str_has_ctl((const char *)s, (size_t)len);
}

static void
list_add(struct name_list *l, const unsigned char *s, int len)
{
    if (l->n == PC_PEER_MAX_SANS || !name_ok(s, len))
        return;
    l->v = pc_xreallocarray(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n++] = pc_xstrndup((const char *)s, (size_t)len);
}

static void
read_sans(X509 *cert, struct name_list *uri, struct name_list *dns, struct name_list *email)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int i, n;

    if (gens == NULL)
        return;
    n = sk_GENERAL_NAME_num(gens);
    for (i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s = NULL;
        struct name_list *l = NULL;
        switch (g->type) {
        case GEN_URI:
            s = g->d.uniformResourceIdentifier;
            l = uri;
            break;
        case GEN_DNS:
            s = g->d.dNSName;
            l = dns;
            break;
        case GEN_EMAIL:
            s = g->d.rfc822Name;
            l = email;
            break;
        default:
            break; /* IP and other names are not identities here */
        }
        if (l != NULL)
            list_add(l, ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(gens);
}

static char *
read_cn(X509 *cert)
{
    const X509_NAME *subj = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    char *cn = NULL;
    int len;

    if (idx < 0)
        return NULL;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
    if (len >= 0 && name_ok(utf8, len))
        cn = pc_xstrndup((const char *)utf8, (size_t)len);
    OPENSSL_free(utf8);
    return cn;
}

static char *
read_subject(X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long len;

    if (b == NULL)
        return pc_xstrdup("");
    if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        len = BIO_get_mem_data(b, &data);
        if (len >= 0 && (size_t)len <= PC_PEER_MAX_NAME && !pc_str_has_ctl(data, (size_t)len))
            out = pc_xstrndup(data, (size_t)len);
    }
    BIO_free(b);
    return out != NULL ? out : pc_xstrdup("");
}

static int
asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return PC_ERR_INVALID;
    *out = (int64_t)timegm(&tm);
    return PC_OK;
}

static char *
prefixed(const char *prefix, const char *s)
{
    size_t a = strlen(prefix), b = strlen(s);
    char *r = pc_xmalloc(a + b + 1);

    memcpy(r, prefix, a);
    memcpy(r + a, s, b + 1);
    return r;
}

int
authn_peer_new(X509 *cert, struct authn_peer **out)
{
    struct name_list uri = {NULL, 0}, dns = {NULL, 0}, email = {NULL, 0};
    struct authn_peer *p = NULL;
    unsigned int mdlen = 0;
    char xfcc[PC_XFCC_MAX_BYTES];
    size_t xlen;
    int rc = PC_ERR_INVALID;

    *out = NULL;
    p = pc_xcalloc(1, sizeof(*p));
    read_sans(cert, &uri, &dns, &email);
    p->names.uri = (const char *const *)uri.v;
    p->names.nuri = uri.n;
    p->names.dns = (const char *const *)dns.v;
    p->names.ndns = dns.n;
    p->names.email = (const char *const *)email.v;
    p->names.nemail = email.n;
    uri.v = dns.v = email.v = NULL; /* owned by p now */
    p->names.cn = read_cn(cert);
    p->subject = read_subject(cert);

    /* identity precedence: URI (SPIFFE) > DNS > email > CN */
    if (p->names.nuri > 0) {
        p->kind = AUTHN_ID_URI;
        p->identity = pc_xstrdup(p->names.uri[0]);
    } else if (p->names.ndns > 0) {
        p->kind = AUTHN_ID_DNS;
        p->identity = prefixed("dns:", p->names.dns[0]);
    } else if (p->names.nemail > 0) {
        p->kind = AUTHN_ID_EMAIL;
        p->identity = prefixed("email:", p->names.email[0]);
    } else if (p->names.cn != NULL) {
        p->kind = AUTHN_ID_CN;
        p->identity = prefixed("cn:", p->names.cn);
    } else {
        p->kind = AUTHN_ID_NONE;
        goto out; /* a certificate that names nobody identifies nobody */
    }
    if (X509_digest(cert, EVP_sha256(), p->sha256, &mdlen) != 1 || mdlen != 32) {
        rc = PC_ERR_CRYPTO;
        goto out;
    }
    pc_hex(p->sha256_hex, p->sha256, 32);
    {
        unsigned char idmd[PC_SHA256_LEN];
        if (pc_sha256(p->identity, strlen(p->identity), idmd) != 0) {
            rc = PC_ERR_CRYPTO;
            goto out;
        }
        pc_hex(p->id_hash_hex, idmd, 16);
    }
    pc_b64url_encode(p->x5t_s256, p->sha256, 32);
    if (authn_cert_revocation_key(cert, p->issuer_id, p->serial, &p->serial_len) != PC_OK)
        goto out;
    pc_hex(p->serial_hex, p->serial, p->serial_len);
    if (asn1_time_unix(X509_get0_notBefore(cert), &p->not_before) != PC_OK ||
        asn1_time_unix(X509_get0_notAfter(cert), &p->not_after) != PC_OK)
        goto out;
    xlen = authn_xfcc_format(p, xfcc, sizeof(xfcc));
    if (xlen == 0)
        goto out;
    p->xfcc = pc_xstrndup(xfcc, xlen);
    p->xfcc_len = xlen;
    *out = p;
    p = NULL;
    rc = PC_OK;
out:
    authn_peer_free(p);
    return rc;
}

static void
free_list(const char *const *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free((void *)(uintptr_t)v[i]);
    free((void *)(uintptr_t)v);
}

void
authn_peer_free(struct authn_peer *p)
{
    if (p == NULL)
        return;
    free_list(p->names.uri, p->names.nuri);
    free_list(p->names.dns, p->names.ndns);
    free_list(p->names.email, p->names.nemail);
    free((void *)(uintptr_t)p->names.cn);
    free((void *)(uintptr_t)p->identity);
    free((void *)(uintptr_t)p->subject);
    free((void *)(uintptr_t)p->xfcc);
    free(p);
}

/* Append "key=value" to dst, quoting the value when XFCC requires it. */
static bool
xfcc_field(char *dst, size_t cap, size_t *off, const char *key, const char *val, bool force_quote)
{
    size_t o = *off, klen = strlen(key), i;
    bool quote = force_quote || strpbrk(val, ",;=\"") != NULL;

    if (o != 0) {
        if (o + 1 >= cap)
            return false;
        dst[o++] = ';';
    }
    if (o + klen + 1 >= cap)
        return false;
    memcpy(dst + o, key, klen);
    o += klen;
    dst[o++] = '=';
    if (quote) {
        if (o + 1 >= cap)
            return false;
        dst[o++] = '"';
    }
    for (i = 0; val[i] != '\0'; i++) {
        if (quote && (val[i] == '"' || val[i] == '\\')) {
            if (o + 1 >= cap)
                return false;
            dst[o++] = '\\';
        }
        if (o + 1 >= cap)
            return false;
        dst[o++] = val[i];
    }
    if (quote) {
        if (o + 1 >= cap)
            return false;
        dst[o++] = '"';
    }
    dst[o] = '\0';
    *off = o;
    return true;
}

size_t
authn_xfcc_format(const struct authn_peer *p, char *dst, size_t cap)
{
    size_t off = 0, i;

    if (cap == 0)
        return 0;
    dst[0] = '\0';
    if (!xfcc_field(dst, cap, &off, "Hash", p->sha256_hex, false) ||
        !xfcc_field(dst, cap, &off, "Subject", p->subject != NULL ? p->subject : "", true))
        return 0;
    for (i = 0; i < p->names.nuri; i++)
        if (!xfcc_field(dst, cap, &off, "URI", p->names.uri[i], false))
            return 0;
    for (i = 0; i < p->names.ndns; i++)
        if (!xfcc_field(dst, cap, &off, "DNS", p->names.dns[i], false))
            return 0;
    return off;
}
