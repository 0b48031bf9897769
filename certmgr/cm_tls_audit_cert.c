/*
 * portcullis-admin tls audit: the server's certificate chain as the report
 * shows it (subjects, issuers, keys, SANs, dates), its verification and the
 * name check, the naming of key-exchange groups, and the client certificate
 * of --cert/--key.  Contracts: cm.h;
 * docs/internals/TLS-AUDIT.md ("Certificate chain").
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "cm.h"

static void
name_text(const X509_NAME *name, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    snprintf(out, cap, "?");
    if (b == NULL)
        return;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(b, &p);
        if (n >= 0 && p != NULL)
            pc_log_esc(out, cap, p, (size_t)n);
    }
    BIO_free(b);
}

static time_t
asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

void
cm_audit_key_group(EVP_PKEY *pk, char *out, size_t cap)
{
    char grp[48];
    const char *nist;
    size_t glen = 0;
    int id = pk != NULL ? EVP_PKEY_get_base_id(pk) : NID_undef;

    out[0] = '\0';
    if (id == EVP_PKEY_X25519 || id == EVP_PKEY_X448) {
        snprintf(out, cap, "%s", id == EVP_PKEY_X25519 ? "X25519" : "X448");
    } else if (pk != NULL && EVP_PKEY_get_group_name(pk, grp, sizeof(grp), &glen) == 1) {
        nist = EC_curve_nid2nist(OBJ_sn2nid(grp)); /* prime256v1 -> P-256; ffdhe2048 stays */
        snprintf(out, cap, "%s", nist != NULL ? nist : grp);
    }
    ERR_clear_error();
}

static void
key_text(EVP_PKEY *pk, char *out, size_t cap)
{
    char grp[48];
    const char *nist;
    size_t glen = 0;
    int id;

    if (pk == NULL) {
        snprintf(out, cap, "?");
        return;
    }
    id = EVP_PKEY_get_base_id(pk);
    if (id == EVP_PKEY_EC && EVP_PKEY_get_group_name(pk, grp, sizeof(grp), &glen) == 1) {
        nist = EC_curve_nid2nist(OBJ_sn2nid(grp));
        snprintf(out, cap, "EC %s", nist != NULL ? nist : grp);
    } else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
        snprintf(out, cap, "%s %d", id == EVP_PKEY_RSA ? "RSA" : "RSA-PSS", EVP_PKEY_get_bits(pk));
    } else if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) {
        snprintf(out, cap, "%s", id == EVP_PKEY_ED25519 ? "Ed25519" : "Ed448");
    } else {
        snprintf(out, cap, "%s %d", id != NID_undef ? OBJ_nid2sn(id) : "unknown",
                 EVP_PKEY_get_bits(pk));
    }
    ERR_clear_error();
}

/* Append "KIND:value" to out (cap bytes), ", " separated; "..." once full. */
static void
san_append(char *out, size_t cap, const char *kind, const char *v, size_t vlen)
{
    char esc[CM_ESC_MAX];
    size_t off = strlen(out);
    int n;

    if (off >= 3 && strcmp(out + off - 3, "...") == 0)
        return;
    pc_log_esc(esc, sizeof(esc), v, vlen);
    n = snprintf(out + off, cap - off, "%s%s:%s", off != 0 ? ", " : "", kind, esc);
    if (n < 0 || (size_t)n >= cap - off) {
        /* cut at an entry boundary */
        out[off] = '\0';
        if (off + 5 < cap)
            memcpy(out + off, off != 0 ? ", ..." : "...", off != 0 ? 6 : 4);
    }
}

static void
sans_text(X509 *x, char *out, size_t cap)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char ip[INET6_ADDRSTRLEN];
    int i;

    out[0] = '\0';
    for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_STRING *s = NULL;
        const char *kind = NULL;
        switch (g->type) {
        case GEN_DNS:
            kind = "DNS";
            s = g->d.dNSName;
            break;
        case GEN_URI:
            kind = "URI";
            s = g->d.uniformResourceIdentifier;
            break;
        case GEN_EMAIL:
            kind = "email";
            s = g->d.rfc822Name;
            break;
        case GEN_IPADD:
            s = g->d.iPAddress;
            if (s != NULL && (s->length == 4 || s->length == 16) &&
                inet_ntop(s->length == 4 ? AF_INET : AF_INET6, s->data, ip, sizeof(ip)) != NULL)
                san_append(out, cap, "IP", ip, strlen(ip));
            s = NULL;
            break;
        default:
            break;
        }
        if (kind != NULL && s != NULL)
            san_append(out, cap, kind, (const char *)ASN1_STRING_get0_data(s),
                       (size_t)ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
}

static void
describe_cert(X509 *x, struct cm_audit_cert *c)
{
    int sig = X509_get_signature_nid(x);

    name_text(X509_get_subject_name(x), c->subject, sizeof(c->subject));
    name_text(X509_get_issuer_name(x), c->issuer, sizeof(c->issuer));
    c->not_before = asn1_time(X509_get0_notBefore(x));
    c->not_after = asn1_time(X509_get0_notAfter(x));
    key_text(X509_get0_pubkey(x), c->key, sizeof(c->key));
    snprintf(c->sig, sizeof(c->sig), "%s", sig != NID_undef ? OBJ_nid2ln(sig) : "unknown");
    sans_text(x, c->sans, sizeof(c->sans));
}

void
cm_audit_chain_check(STACK_OF(X509) * chain, X509_STORE *store, bool name_is_ip,
                     struct cm_audit_obs *o, char *leaf_curve, size_t cap)
{
    X509_STORE_CTX *sc = NULL;
    X509 *leaf;
    int i, e;

    if (chain == NULL || sk_X509_num(chain) == 0)
        return;
    leaf = sk_X509_value(chain, 0);
    leaf_curve[0] = '\0';
    if (EVP_PKEY_get_base_id(X509_get0_pubkey(leaf)) == EVP_PKEY_EC)
        cm_audit_key_group(X509_get0_pubkey(leaf), leaf_curve, cap);
    for (i = 0; i < sk_X509_num(chain) && o->nchain < CM_AUDIT_MAX_CHAIN; i++)
        describe_cert(sk_X509_value(chain, i), &o->chain[o->nchain++]);
    sc = X509_STORE_CTX_new();
    if (sc == NULL || X509_STORE_CTX_init(sc, store, leaf, chain) != 1) {
        snprintf(o->verify_error, sizeof(o->verify_error), "cannot verify: out of memory");
    } else {
        X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_SERVER);
        o->chain_verified = X509_verify_cert(sc) == 1;
        e = X509_STORE_CTX_get_error(sc);
        if (!o->chain_verified)
            snprintf(o->verify_error, sizeof(o->verify_error), "%s (depth %d)",
                     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(sc));
    }
    X509_STORE_CTX_free(sc);
    /* the name the client asked for: --sni, else HOST (an address: an IP SAN) */
    if (name_is_ip)
        o->name_ok = X509_check_ip_asc(leaf, o->name, 0) == 1;
    else
        o->name_ok =
            X509_check_host(leaf, o->name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
    ERR_clear_error();
}

int
cm_audit_client_load(const char *cert, const char *key, X509 **x509, STACK_OF(X509) * *chain,
                     EVP_PKEY **pkey)
{
    char *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    X509 *x = NULL;
    int rc;

    *x509 = NULL;
    *chain = NULL;
    *pkey = NULL;
    rc = cm_file_read(cert, PC_PEM_MAX_BYTES, &buf, &len);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_INVALID;
    bio = BIO_new_mem_buf(buf, (int)len); /* len <= PC_PEM_MAX_BYTES fits an int */
    *x509 = bio != NULL ? PEM_read_bio_X509(bio, NULL, cm_no_password, NULL) : NULL;
    *chain = sk_X509_new_null();
    if (*x509 == NULL || *chain == NULL) {
        cm_err_set("--cert %s: no PEM certificate", cert);
        goto out;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, cm_no_password, NULL)) != NULL) {
        if (sk_X509_push(*chain, x) == 0) {
            X509_free(x);
            cm_err_ssl(cert);
            goto out;
        }
    }
    ERR_clear_error();
    rc = cm_key_load(key, pkey);
    if (rc != PC_OK) {
        cm_err_prefix("--key");
        goto out;
    }
    if (X509_check_private_key(*x509, *pkey) != 1) {
        ERR_clear_error();
        cm_err_set("--key %s does not match --cert %s", key, cert);
        rc = PC_ERR_INVALID;
        goto out;
    }
    rc = PC_OK;
out:
    if (rc != PC_OK) {
        X509_free(*x509);
        sk_X509_pop_free(*chain, X509_free);
        EVP_PKEY_free(*pkey);
        *x509 = NULL;
        *chain = NULL;
        *pkey = NULL;
    }
    BIO_free(bio);
    free(buf);
    return rc;
}
