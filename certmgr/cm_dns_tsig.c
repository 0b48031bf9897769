/*
 * TSIG (RFC 8945): sign an UPDATE, verify the server's answer.  HMAC-SHA256
 * (required by RFC 8945 6), HMAC-SHA384 and HMAC-SHA512 through OpenSSL's
 * EVP_MAC.  See certmgr/cm_dns_internal.h and docs/internals/DNS.md.
 *
 * The secret is borrowed from the caller and never copied by us; OpenSSL
 * copies it into the MAC context, and EVP_MAC_CTX_free() wipes that copy.
 * The request MAC is not secret but is wiped by the caller all the same.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "certmgr/cm_dns_internal.h"
#include "common/pc_err.h"

#define TSIG_TIME_MAX ((UINT64_C(1) << 48) - 1) /* time signed is 48 bits */

static const struct cm_dns_tsig_alg algs[] = {
    {"hmac-sha256", (const uint8_t *)"\x0bhmac-sha256", 13, "SHA256", 32},
    {"hmac-sha384", (const uint8_t *)"\x0bhmac-sha384", 13, "SHA384", 48},
    {"hmac-sha512", (const uint8_t *)"\x0bhmac-sha512", 13, "SHA512", 64},
};

/* the fields after the algorithm name that enter the MAC (RFC 8945 4.3.3) */
struct tsig_vars {
    uint64_t time;
    uint16_t fudge;
    uint16_t error;
    uint16_t other_len;
    const uint8_t *other;
};

int
cm_dns_tsig_key_init(struct cm_dns_tsig_key *k, const char *name, const char *alg,
                     const unsigned char *secret, size_t secret_len, char *err, size_t errlen)
{
    size_t i, alen;

    memset(k, 0, sizeof(*k));
    if (name == NULL || cm_dns_name_from_text(name, k->name, &k->name_len) != PC_OK) {
        cm_dns_err_set(err, errlen, "bad TSIG key name");
        return PC_ERR_INVALID;
    }
    cm_dns_name_lower(k->name, k->name_len);
    alen = alg != NULL ? strnlen(alg, 16) : 0;
    if (alen > 0 && alg[alen - 1] == '.')
        alen--;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (alen == strlen(algs[i].name) && strncasecmp(alg, algs[i].name, alen) == 0)
            k->alg = &algs[i];
    if (k->alg == NULL) {
        cm_dns_err_set(err, errlen,
                       "TSIG algorithm must be hmac-sha256, hmac-sha384 or "
                       "hmac-sha512");
        return PC_ERR_INVALID;
    }
    if (secret == NULL || secret_len == 0) {
        cm_dns_err_set(err, errlen, "empty TSIG secret");
        return PC_ERR_INVALID;
    }
    if (secret_len > CM_DNS_TSIG_SECRET_MAX) {
        cm_dns_err_set(err, errlen, "TSIG secret over %d bytes", CM_DNS_TSIG_SECRET_MAX);
        return PC_ERR_TOO_LARGE;
    }
    k->secret = secret;
    k->secret_len = secret_len;
    return PC_OK;
}

/*
 * The MAC of: [prior MAC with its 16-bit length], the message (header
 * replaced by `hdr`), and the TSIG variables.  *maclen = the full length.
 */
static int
tsig_mac(const struct cm_dns_tsig_key *k, const uint8_t *prior, size_t prior_len,
         const uint8_t hdr[CM_DNS_HDR_LEN], const uint8_t *msg, size_t msglen,
         const struct tsig_vars *v, uint8_t *mac, size_t *maclen)
{
    EVP_MAC *hmac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    uint8_t vars[32];
    struct cm_dns_wr w = {vars, 0, sizeof(vars), false};
    size_t outl = 0;
    char digest[16]; /* OSSL_PARAM wants a non-const string */
    int rc = PC_ERR_CRYPTO;

    hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (hmac == NULL)
        goto out;
    ctx = EVP_MAC_CTX_new(hmac);
    if (ctx == NULL)
        goto out;
    snprintf(digest, sizeof(digest), "%s", k->alg->digest);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, k->secret, k->secret_len, params) != 1)
        goto out;
    if (prior != NULL) {
        uint8_t l[2] = {(uint8_t)(prior_len >> 8), (uint8_t)prior_len};
        if (EVP_MAC_update(ctx, l, 2) != 1 || EVP_MAC_update(ctx, prior, prior_len) != 1)
            goto out;
    }
    if (EVP_MAC_update(ctx, hdr, CM_DNS_HDR_LEN) != 1 ||
        EVP_MAC_update(ctx, msg + CM_DNS_HDR_LEN, msglen - CM_DNS_HDR_LEN) != 1)
        goto out;
    /* key name (canonical), class ANY, TTL 0, algorithm name (canonical) */
    if (EVP_MAC_update(ctx, k->name, k->name_len) != 1)
        goto out;
    cm_dns_put16(&w, CM_DNS_C_ANY);
    cm_dns_put32(&w, 0);
    if (EVP_MAC_update(ctx, vars, w.len) != 1 ||
        EVP_MAC_update(ctx, k->alg->wire, k->alg->wire_len) != 1)
        goto out;
    w.len = 0;
    cm_dns_put16(&w, (uint16_t)(v->time >> 32));
    cm_dns_put32(&w, (uint32_t)v->time);
    cm_dns_put16(&w, v->fudge);
    cm_dns_put16(&w, v->error);
    cm_dns_put16(&w, v->other_len);
    cm_dns_put(&w, v->other, v->other_len);
    if (w.over || EVP_MAC_update(ctx, vars, w.len) != 1)
        goto out;
    if (EVP_MAC_final(ctx, mac, &outl, CM_DNS_TSIG_MAC_MAX) != 1 || outl != k->alg->mac_len)
        goto out;
    *maclen = outl;
    rc = PC_OK;
out:
    EVP_MAC_CTX_free(ctx); /* wipes its copy of the key */
    EVP_MAC_free(hmac);
    return rc;
}

int
cm_dns_tsig_sign(uint8_t *msg, size_t *len, size_t cap, const struct cm_dns_tsig_key *k,
                 uint64_t now, uint8_t *mac, size_t *maclen)
{
    struct tsig_vars v = {now & TSIG_TIME_MAX, CM_DNS_TSIG_FUDGE, 0, 0, NULL};
    struct cm_dns_wr w = {msg, *len, cap, false};
    uint16_t arcount, id;
    size_t rdlen;

    if (*len < CM_DNS_HDR_LEN || *len > cap)
        return PC_ERR_INTERNAL;
    arcount = cm_dns_get16(msg + 10);
    id = cm_dns_get16(msg);
    if (arcount == UINT16_MAX)
        return PC_ERR_TOO_LARGE;
    if (tsig_mac(k, NULL, 0, msg, msg, *len, &v, mac, maclen) != PC_OK)
        return PC_ERR_CRYPTO;
    rdlen = k->alg->wire_len + 6 + 2 + 2 + *maclen + 2 + 2 + 2;
    cm_dns_put(&w, k->name, k->name_len);
    cm_dns_put16(&w, CM_DNS_T_TSIG);
    cm_dns_put16(&w, CM_DNS_C_ANY);
    cm_dns_put32(&w, 0);
    cm_dns_put16(&w, (uint16_t)rdlen);
    cm_dns_put(&w, k->alg->wire, k->alg->wire_len);
    cm_dns_put16(&w, (uint16_t)(v.time >> 32));
    cm_dns_put32(&w, (uint32_t)v.time);
    cm_dns_put16(&w, v.fudge);
    cm_dns_put16(&w, (uint16_t)*maclen);
    cm_dns_put(&w, mac, *maclen);
    cm_dns_put16(&w, id); /* original ID */
    cm_dns_put16(&w, 0);  /* error */
    cm_dns_put16(&w, 0);  /* other len */
    if (w.over)
        return PC_ERR_TOO_LARGE;
    msg[10] = (uint8_t)((arcount + 1) >> 8);
    msg[11] = (uint8_t)(arcount + 1);
    *len = w.len;
    return PC_OK;
}

/* The fields of a TSIG record, pointing into the message. */
struct tsig_rr {
    uint8_t owner[CM_DNS_NAME_MAX];
    size_t owner_len;
    uint8_t alg[CM_DNS_NAME_MAX];
    size_t alg_len;
    const uint8_t *mac;
    uint16_t mac_len;
    uint16_t orig_id;
    struct tsig_vars v;
};

static int
tsig_rr_read(const struct cm_dns_msg *m, struct tsig_rr *t, char *err, size_t errlen)
{
    struct cm_dns_rr rr;
    size_t p = m->tsig, end;
    const uint8_t *b = m->buf;

    if (cm_dns_rr_read(b, m->len, m->tsig, &rr) != PC_OK ||
        cm_dns_name_read(b, m->len, &p, t->owner, &t->owner_len) != PC_OK)
        goto bad;
    if (rr.rclass != CM_DNS_C_ANY || rr.ttl != 0)
        goto bad;
    p = rr.rdata;
    end = rr.rdata + rr.rdlen;
    if (cm_dns_name_read(b, end, &p, t->alg, &t->alg_len) != PC_OK || end - p < 10)
        goto bad;
    t->v.time = ((uint64_t)cm_dns_get16(b + p) << 32) | cm_dns_get32(b + p + 2);
    t->v.fudge = cm_dns_get16(b + p + 6);
    t->mac_len = cm_dns_get16(b + p + 8);
    p += 10;
    if (t->mac_len > end - p || end - p - t->mac_len < 6)
        goto bad;
    t->mac = b + p;
    p += t->mac_len;
    t->orig_id = cm_dns_get16(b + p);
    t->v.error = cm_dns_get16(b + p + 2);
    t->v.other_len = cm_dns_get16(b + p + 4);
    p += 6;
    if (t->v.other_len > CM_DNS_TSIG_OTHER_MAX || t->v.other_len != end - p)
        goto bad;
    t->v.other = b + p;
    return PC_OK;
bad:
    cm_dns_err_set(err, errlen, "malformed TSIG record in the answer");
    return PC_ERR_PARSE;
}

int
cm_dns_tsig_verify(const struct cm_dns_msg *m, const struct cm_dns_tsig_key *k,
                   const uint8_t *req_mac, size_t req_mac_len, uint64_t now,
                   struct cm_dns_tsig_result *res, char *err, size_t errlen)
{
    struct tsig_rr t;
    uint8_t hdr[CM_DNS_HDR_LEN], mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen = 0;
    uint64_t skew;
    int rc;

    memset(res, 0, sizeof(*res));
    if (m->tsig == 0) {
        cm_dns_err_set(err, errlen, "answer is not signed (no TSIG record)");
        return PC_ERR_CRYPTO;
    }
    res->present = true;
    rc = tsig_rr_read(m, &t, err, errlen);
    if (rc != PC_OK)
        return rc;
    res->error = t.v.error;
    res->time = t.v.time;
    if (t.v.error == CM_DNS_R_BADTIME && t.v.other_len == 6)
        res->srv_time = ((uint64_t)cm_dns_get16(t.v.other) << 32) | cm_dns_get32(t.v.other + 2);
    if (!cm_dns_name_eq(t.owner, t.owner_len, k->name, k->name_len) ||
        !cm_dns_name_eq(t.alg, t.alg_len, k->alg->wire, k->alg->wire_len)) {
        cm_dns_err_set(err, errlen, "answer is signed with another key or algorithm");
        return PC_ERR_CRYPTO;
    }
    if (t.orig_id != m->id) {
        cm_dns_err_set(err, errlen, "answer's TSIG is for another message ID");
        return PC_ERR_CRYPTO;
    }
    if (t.mac_len == 0) {
        cm_dns_err_set(err, errlen, "answer's TSIG has no MAC");
        return PC_ERR_CRYPTO;
    }
    if (t.mac_len != k->alg->mac_len) {
        cm_dns_err_set(err, errlen, "answer's TSIG MAC is %u bytes, not %zu", t.mac_len,
                       k->alg->mac_len);
        return PC_ERR_CRYPTO;
    }
    /* the header as it was before the TSIG was added: original ID, ARCOUNT - 1 */
    memcpy(hdr, m->buf, CM_DNS_HDR_LEN);
    hdr[0] = (uint8_t)(t.orig_id >> 8);
    hdr[1] = (uint8_t)t.orig_id;
    hdr[10] = (uint8_t)((m->count[3] - 1) >> 8);
    hdr[11] = (uint8_t)(m->count[3] - 1);
    rc = tsig_mac(k, req_mac, req_mac_len, hdr, m->buf, m->tsig, &t.v, mac, &maclen);
    if (rc != PC_OK) {
        cm_dns_err_set(err, errlen, "cannot compute the TSIG MAC");
        return rc;
    }
    if (CRYPTO_memcmp(mac, t.mac, maclen) != 0) {
        cm_dns_err_set(err, errlen, "answer's TSIG MAC does not verify");
        return PC_ERR_CRYPTO;
    }
    res->mac_ok = true;
    skew = now > t.v.time ? now - t.v.time : t.v.time - now;
    if (skew > CM_DNS_TSIG_FUDGE) {
        cm_dns_err_set(err, errlen, "answer's TSIG time is %llu s away from ours",
                       (unsigned long long)skew);
        return PC_ERR_CRYPTO;
    }
    if (t.v.error != 0) {
        cm_dns_err_set(err, errlen, "answer's TSIG carries error %u", t.v.error);
        return PC_ERR_CRYPTO;
    }
    return PC_OK;
}
