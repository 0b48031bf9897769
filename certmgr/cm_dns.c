/*
 * certmgr DNS, the public half: the TXT propagation check and the RFC 2136
 * update.  See certmgr/cm_dns.h (contracts) and docs/internals/DNS.md.
 * Runs in portcullis-certmgr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "certmgr/cm_dns.h"
#include "certmgr/cm_dns_internal.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"

static int
random_id(uint16_t *id)
{
    unsigned char b[2];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return PC_ERR_CRYPTO;
    *id = (uint16_t)((b[0] << 8) | b[1]);
    return PC_OK;
}

/* 1 to CM_DNS_TXT_VALUE_MAX bytes of printable ASCII (space included). */
static int
check_value(const char *value, size_t *vlen)
{
    size_t i, n;

    if (value == NULL)
        return PC_ERR_INVALID;
    n = strnlen(value, CM_DNS_TXT_VALUE_MAX + 1);
    if (n > CM_DNS_TXT_VALUE_MAX)
        return PC_ERR_TOO_LARGE;
    if (n == 0)
        return PC_ERR_INVALID;
    for (i = 0; i < n; i++)
        if (value[i] < 0x20 || value[i] > 0x7e)
            return PC_ERR_INVALID;
    *vlen = n;
    return PC_OK;
}

static bool (*cancel_fn)(void);

void
cm_dns_set_cancel(bool (*cancelled)(void))
{
    cancel_fn = cancelled;
}

static bool
cancelled(void)
{
    return cancel_fn != NULL && cancel_fn();
}

/* Sleep until `until` (monotonic ms); false when told to give up first. */
static bool
sleep_until(uint64_t until)
{
    uint64_t now, step;
    struct timespec ts;

    while ((now = cm_dns_now_ms()) < until) {
        if (cancelled())
            return false;
        step = until - now;
        if (cancel_fn != NULL && step > CM_DNS_CANCEL_POLL_MS)
            step = CM_DNS_CANCEL_POLL_MS;
        ts.tv_sec = (time_t)(step / 1000);
        ts.tv_nsec = (long)(step % 1000) * 1000000L;
        nanosleep(&ts, NULL); /* EINTR: the loop sleeps the rest */
    }
    return !cancelled();
}

/* --- cm_dns_wait_txt ------------------------------------------------------- */

/*
 * Ask srv once (with retries) whether it has the record: PC_OK with *seen
 * set, or PC_ERR_CRYPTO when no random ID could be drawn.  Every other
 * failure is only "not seen" (logged), and the resolver is asked again.
 */
static int
resolver_sees(const struct cm_dns_server *srv, const uint8_t *qname, size_t qlen, const char *value,
              size_t vlen, uint64_t deadline, uint8_t *resp, bool *seen)
{
    uint8_t q[CM_DNS_UDP_QUERY_MAX];
    char why[CM_DNS_REASON_MAX], rb[16];
    size_t len = 0, rlen = 0;
    enum cm_dns_txt_state state = CM_DNS_TXT_ABSENT;
    int rcode = 0;
    uint16_t id;
    bool tcp;

    *seen = false;
    if (random_id(&id) != PC_OK) {
        pc_log(LOG_ERR, "dns: no random query ID");
        return PC_ERR_CRYPTO;
    }
    if (cm_dns_query_build(id, qname, qlen, q, sizeof(q), &len) != PC_OK)
        return PC_ERR_INTERNAL; /* cannot happen: qname is at most 255 bytes */
    if (cm_dns_exchange(srv, q, len, deadline, resp, &rlen, &tcp, why, sizeof(why)) != PC_OK) {
        pc_log(LOG_DEBUG, "dns: %s", why);
        return PC_OK;
    }
    if (cm_dns_txt_check(resp, rlen, id, qname, qlen, value, vlen, &state, &rcode, why,
                         sizeof(why)) != PC_OK) {
        pc_log(LOG_WARNING, "dns: %s: bad answer: %s", srv->text, why);
        return PC_OK;
    }
    pc_log(LOG_DEBUG, "dns: %s: %s%s, %s", srv->text, cm_dns_rcode_name(rcode, rb, sizeof(rb)),
           tcp ? " (TCP)" : "",
           state == CM_DNS_TXT_FOUND       ? "value seen"
           : state == CM_DNS_TXT_TRUNCATED ? "truncated"
                                           : "value not seen yet");
    *seen = state == CM_DNS_TXT_FOUND;
    return PC_OK;
}

/* Parse the arguments of cm_dns_wait_txt (logged on failure). */
static int
wait_args(const char *const *resolvers, size_t n, const char *fqdn, const char *value,
          uint64_t timeout_ms, struct cm_dns_server *srv, uint8_t *qname, size_t *qlen,
          size_t *vlen)
{
    char why[CM_DNS_REASON_MAX], esc[CM_DNS_ADDR_MAX * 4 + 8];
    size_t i;
    int rc;

    if (resolvers == NULL || n == 0 || n > CM_DNS_RESOLVERS_MAX) {
        pc_log(LOG_ERR, "dns: want 1 to %d resolvers, not %zu", CM_DNS_RESOLVERS_MAX,
               resolvers == NULL ? 0 : n);
        return PC_ERR_INVALID;
    }
    if (timeout_ms == 0 || timeout_ms > CM_DNS_WAIT_MAX_MS) {
        pc_log(LOG_ERR, "dns: propagation timeout must be 1 ms to 24 h");
        return PC_ERR_INVALID;
    }
    if (fqdn == NULL || cm_dns_name_from_text(fqdn, qname, qlen) != PC_OK) {
        pc_log(LOG_ERR, "dns: bad name \"%s\"",
               fqdn != NULL ? pc_log_esc(esc, sizeof(esc), fqdn, strnlen(fqdn, 300)) : "");
        return PC_ERR_INVALID;
    }
    rc = check_value(value, vlen);
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "dns: TXT value for %s must be 1 to %d printable ASCII bytes", fqdn,
               CM_DNS_TXT_VALUE_MAX);
        return rc;
    }
    for (i = 0; i < n; i++) {
        rc = cm_dns_server_parse(resolvers[i], &srv[i], why, sizeof(why));
        if (rc != PC_OK) {
            pc_log(LOG_ERR, "dns: resolver \"%s\": %s",
                   resolvers[i] != NULL ? pc_log_esc(esc, sizeof(esc), resolvers[i],
                                                     strnlen(resolvers[i], CM_DNS_ADDR_MAX + 1))
                                        : "",
                   why);
            return rc;
        }
    }
    return PC_OK;
}

int
cm_dns_wait_txt(const char *const *resolvers, size_t nresolvers, const char *fqdn,
                const char *value, uint64_t timeout_ms)
{
    struct cm_dns_server srv[CM_DNS_RESOLVERS_MAX];
    bool seen[CM_DNS_RESOLVERS_MAX] = {false};
    uint8_t qname[CM_DNS_NAME_MAX];
    uint8_t *resp = NULL;
    size_t qlen = 0, vlen = 0, nseen = 0, i;
    uint64_t start, deadline, round, progress;
    int rc;

    rc = wait_args(resolvers, nresolvers, fqdn, value, timeout_ms, srv, qname, &qlen, &vlen);
    if (rc != PC_OK)
        return rc;
    resp = pc_xmalloc(CM_DNS_MSG_MAX);
    start = cm_dns_now_ms();
    deadline = start + timeout_ms;
    progress = start + CM_DNS_PROGRESS_MS;
    pc_log(LOG_INFO, "dns: waiting up to %" PRIu64 " ms for TXT %s on %zu resolver%s", timeout_ms,
           fqdn, nresolvers, nresolvers == 1 ? "" : "s");
    for (;;) {
        round = cm_dns_now_ms();
        for (i = 0; i < nresolvers && cm_dns_now_ms() < deadline; i++) {
            if (seen[i])
                continue;
            if (cancelled()) {
                rc = PC_ERR_CANCELLED;
                goto out;
            }
            rc = resolver_sees(&srv[i], qname, qlen, value, vlen, deadline, resp, &seen[i]);
            if (rc != PC_OK)
                goto out;
            if (seen[i]) {
                nseen++;
                pc_log(LOG_INFO, "dns: %s sees TXT %s (%zu of %zu, after %" PRIu64 " ms)",
                       srv[i].text, fqdn, nseen, nresolvers, cm_dns_now_ms() - start);
            }
        }
        if (nseen == nresolvers)
            goto out; /* rc is PC_OK */
        if (cm_dns_now_ms() >= deadline)
            break;
        if (cm_dns_now_ms() >= progress) {
            pc_log(LOG_INFO, "dns: still waiting for TXT %s: %zu of %zu resolvers see it", fqdn,
                   nseen, nresolvers);
            progress += CM_DNS_PROGRESS_MS;
        }
        if (!sleep_until(round + CM_DNS_POLL_MS < deadline ? round + CM_DNS_POLL_MS : deadline)) {
            rc = PC_ERR_CANCELLED;
            pc_log(LOG_INFO, "dns: stopped waiting for TXT %s: stopping", fqdn);
            goto out;
        }
    }
    rc = PC_ERR_TIMEOUT;
    for (i = 0; i < nresolvers; i++)
        if (!seen[i])
            pc_log(LOG_WARNING, "dns: %s did not show TXT %s within %" PRIu64 " ms", srv[i].text,
                   fqdn, timeout_ms);
out:
    free(resp);
    return rc;
}

/* --- cm_rfc2136_txt -------------------------------------------------------- */

static const char *
rcode_why(int rcode)
{
    switch (rcode) {
    case CM_DNS_R_FORMERR:
        return "the server could not parse the update";
    case CM_DNS_R_SERVFAIL:
        return "server failure";
    case CM_DNS_R_NOTIMP:
        return "the server does not do dynamic updates";
    case CM_DNS_R_REFUSED:
        return "the server's policy refused it: is the key allowed to update this zone?";
    case CM_DNS_R_NOTAUTH:
        return "the server is not authoritative for the zone or does not accept the key";
    case CM_DNS_R_NOTZONE:
        return "the name is not within the zone";
    case CM_DNS_R_NXDOMAIN:
    case CM_DNS_R_YXDOMAIN:
    case CM_DNS_R_YXRRSET:
    case CM_DNS_R_NXRRSET:
        return "a prerequisite failed, but we sent none";
    default:
        return "unexpected answer";
    }
}

/* The one line for a TSIG error the server reported. */
static void
tsig_error_why(const struct cm_dns_tsig_result *tr, const struct cm_dns_tsig_key *k, uint64_t now,
               char *err, size_t errlen)
{
    char rb[16];

    switch (tr->error) {
    case CM_DNS_R_BADSIG:
        cm_dns_err_set(err, errlen,
                       "TSIG BADSIG: the server could not verify our signature "
                       "(wrong secret?)");
        break;
    case CM_DNS_R_BADKEY:
        cm_dns_err_set(err, errlen,
                       "TSIG BADKEY: the server does not know this key name with "
                       "algorithm %s",
                       k->alg->name);
        break;
    case CM_DNS_R_BADTIME:
        if (tr->srv_time != 0)
            cm_dns_err_set(err, errlen,
                           "TSIG BADTIME: the server's clock is %lld s from ours "
                           "(fudge %d s)",
                           (long long)tr->srv_time - (long long)now, CM_DNS_TSIG_FUDGE);
        else
            cm_dns_err_set(err, errlen,
                           "TSIG BADTIME: our clock and the server's differ by "
                           "more than %d s",
                           CM_DNS_TSIG_FUDGE);
        break;
    default:
        cm_dns_err_set(err, errlen, "TSIG error %s", cm_dns_rcode_name(tr->error, rb, sizeof(rb)));
        break;
    }
}

int
cm_dns_update_check(const uint8_t *resp, size_t len, uint16_t id, const uint8_t *zone, size_t zlen,
                    const struct cm_dns_tsig_key *k, const uint8_t *req_mac, size_t req_mac_len,
                    uint64_t now, char *err, size_t errlen)
{
    struct cm_dns_msg m;
    struct cm_dns_tsig_result tr;
    uint8_t name[CM_DNS_NAME_MAX];
    char why[CM_DNS_REASON_MAX], rb[16];
    size_t off, nlen = 0;
    int rcode, vrc;

    if (cm_dns_msg_parse(resp, len, false, &m, why, sizeof(why)) != PC_OK) {
        cm_dns_err_set(err, errlen, "malformed answer: %s", why);
        return PC_ERR_PARSE;
    }
    if (m.id != id || (m.flags & CM_DNS_F_QR) == 0 ||
        CM_DNS_OPCODE(m.flags) != CM_DNS_OPCODE_UPDATE) {
        cm_dns_err_set(err, errlen, "answer is not for our update");
        return PC_ERR_PARSE;
    }
    off = m.sec[0];
    if (m.count[0] == 1 &&
        (cm_dns_name_read(m.buf, m.len, &off, name, &nlen) != PC_OK ||
         !cm_dns_name_eq(name, nlen, zone, zlen) || cm_dns_get16(m.buf + off) != CM_DNS_T_SOA ||
         cm_dns_get16(m.buf + off + 2) != CM_DNS_C_IN)) {
        cm_dns_err_set(err, errlen, "answer is for another zone");
        return PC_ERR_PARSE;
    }
    rcode = m.flags & CM_DNS_F_RCODE;
    vrc = cm_dns_tsig_verify(&m, k, req_mac, req_mac_len, now, &tr, why, sizeof(why));
    if (vrc == PC_ERR_PARSE) {
        cm_dns_err_set(err, errlen, "%s", why);
        return PC_ERR_PARSE;
    }
    /* a TSIG error is the server's own verdict on our request: say it, signed or not */
    if (tr.error != 0) {
        tsig_error_why(&tr, k, now, err, errlen);
        return PC_ERR_DENIED;
    }
    if (rcode != CM_DNS_R_NOERROR) {
        cm_dns_err_set(err, errlen, "update refused: %s (%s)%s",
                       cm_dns_rcode_name(rcode, rb, sizeof(rb)), rcode_why(rcode),
                       vrc != PC_OK ? " [answer not authenticated]" : "");
        return PC_ERR_DENIED;
    }
    if (vrc != PC_OK) {
        cm_dns_err_set(err, errlen, "NOERROR answer refused: %s", why);
        return PC_ERR_CRYPTO;
    }
    return PC_OK;
}

int
cm_rfc2136_txt(const struct cm_rfc2136 *srv, const char *fqdn, const char *value, bool add,
               char *err, size_t errlen)
{
    struct cm_dns_server server;
    struct cm_dns_tsig_key key;
    uint8_t zone[CM_DNS_NAME_MAX], name[CM_DNS_NAME_MAX], q[CM_DNS_UPDATE_MAX];
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    uint8_t *resp = NULL;
    size_t zlen = 0, nlen = 0, vlen = 0, qlen = 0, maclen = 0, rlen = 0;
    uint64_t deadline;
    uint16_t id = 0;
    bool tcp = false;
    int rc;

    cm_dns_err_set(err, errlen, "%s", "");
    memset(&key, 0, sizeof(key));
    if (srv == NULL || fqdn == NULL) {
        cm_dns_err_set(err, errlen, "rfc2136: missing server or name");
        return PC_ERR_INVALID;
    }
    rc = cm_dns_server_parse(srv->server, &server, err, errlen);
    if (rc != PC_OK)
        return rc;
    if (srv->zone == NULL || cm_dns_name_from_text(srv->zone, zone, &zlen) != PC_OK) {
        cm_dns_err_set(err, errlen, "bad zone name");
        return PC_ERR_INVALID;
    }
    if (cm_dns_name_from_text(fqdn, name, &nlen) != PC_OK) {
        cm_dns_err_set(err, errlen, "bad record name");
        return PC_ERR_INVALID;
    }
    if (!cm_dns_name_is_under(name, nlen, zone, zlen)) {
        cm_dns_err_set(err, errlen, "%s is not in zone %s", fqdn, srv->zone);
        return PC_ERR_INVALID;
    }
    rc = check_value(value, &vlen);
    if (rc != PC_OK) {
        cm_dns_err_set(err, errlen, "TXT value must be 1 to %d printable ASCII bytes",
                       CM_DNS_TXT_VALUE_MAX);
        return rc;
    }
    rc = cm_dns_tsig_key_init(&key, srv->key_name, srv->key_alg, srv->secret, srv->secret_len, err,
                              errlen);
    if (rc != PC_OK)
        goto out;
    rc = random_id(&id);
    if (rc == PC_OK)
        rc = cm_dns_update_build(id, zone, zlen, name, nlen, value, vlen, add, q, sizeof(q), &qlen);
    if (rc == PC_OK)
        rc = cm_dns_tsig_sign(q, &qlen, sizeof(q), &key, (uint64_t)time(NULL), mac, &maclen);
    if (rc != PC_OK) {
        cm_dns_err_set(err, errlen, "cannot build the signed update: %s", pc_strerror(rc));
        goto out;
    }
    resp = pc_xmalloc(CM_DNS_MSG_MAX);
    deadline = cm_dns_now_ms() + (uint64_t)CM_DNS_UDP_TRIES * CM_DNS_TRY_MS + CM_DNS_TCP_TIMEOUT_MS;
    rc = cm_dns_exchange(&server, q, qlen, deadline, resp, &rlen, &tcp, err, errlen);
    if (rc != PC_OK)
        goto out;
    rc = cm_dns_update_check(resp, rlen, id, zone, zlen, &key, mac, maclen, (uint64_t)time(NULL),
                             err, errlen);
    if (rc == PC_OK)
        pc_log(LOG_INFO, "rfc2136: %s TXT %s at %s%s", add ? "added" : "deleted", fqdn, server.text,
               tcp ? " (TCP)" : "");
out:
    OPENSSL_cleanse(mac, sizeof(mac));
    OPENSSL_cleanse(&key, sizeof(key));
    free(resp);
    return rc;
}
