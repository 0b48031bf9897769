/*
 * certmgr DNS: the two DNS pieces of the ACME dns-01 challenge
 * (docs/internals/DNS.md).
 *
 *   cm_dns_wait_txt()   propagation check: poll resolvers until each of them
 *                       answers the challenge TXT record.
 *   cm_rfc2136_txt()    the `rfc2136` provider: add or delete that TXT record
 *                       with an RFC 2136 dynamic update signed with TSIG
 *                       (RFC 8945).
 *
 * Both run in portcullis-certmgr, block the calling thread (at most the
 * timeouts below) and keep no state between calls: they are safe to call from
 * several threads at once.  The DNS wire code is our own (certmgr/cm_dns_*.c):
 * no libresolv, no /etc/resolv.conf; only the servers named here are asked.
 * Every byte received is checked against the caps below before it is used.
 */
#ifndef CM_DNS_H
#define CM_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- limits ---------------------------------------------------------------- */
#define CM_DNS_RESOLVERS_MAX  16          /* resolvers checked by one cm_dns_wait_txt() */
#define CM_DNS_ADDR_MAX       64          /* one "IP:port" / "[IPv6]:port" string, bytes */
#define CM_DNS_TXT_VALUE_MAX  512         /* a TXT value, bytes (sent as 255-byte strings) */
#define CM_DNS_WAIT_MAX_MS    86400000ULL /* cm_dns_wait_txt() timeout ceiling: 24 h */
#define CM_DNS_TRY_MS         1000        /* one UDP try waits this long for its answer */
#define CM_DNS_UDP_TRIES      3           /* UDP tries per question before giving up */
#define CM_DNS_TCP_TIMEOUT_MS 5000        /* one TCP exchange (after TC), connect included */
#define CM_DNS_POLL_MS        1000 /* cm_dns_wait_txt(): a round of queries at most this often */
#define CM_DNS_CANCEL_POLL_MS                                                                      \
    100 /* cm_dns_wait_txt(): the cancel function asked this often while it sleeps */
#define CM_DNS_PROGRESS_MS     10000 /* cm_dns_wait_txt(): "still waiting" logged this often */
#define CM_DNS_UPDATE_TTL      60    /* TTL of the TXT records we add */
#define CM_DNS_TSIG_FUDGE      300   /* TSIG fudge, seconds (RFC 8945 recommends 300) */
#define CM_DNS_TSIG_SECRET_MAX 512   /* TSIG secret, bytes (a 512-bit key is 64) */

/**
 * Wait until every resolver in `resolvers` (nresolvers of them, 1 to
 * CM_DNS_RESOLVERS_MAX, each "IP:port", "[IPv6]:port", or an address alone
 * for port 53) answers a TXT query for `fqdn` (a host name of letters,
 * digits, '-' and '_', trailing dot optional) with a record whose text is
 * `value` (1 to CM_DNS_TXT_VALUE_MAX printable ASCII bytes; a record split
 * into several strings matches when they join to `value`), or until
 * `timeout_ms` (1 to CM_DNS_WAIT_MAX_MS) has passed.  A CNAME chain in the
 * answer is followed.
 *
 * Each round asks every resolver that has not seen the value yet (UDP,
 * CM_DNS_TRY_MS per try, up to CM_DNS_UDP_TRIES tries, TCP when the answer is
 * truncated), then sleeps until CM_DNS_POLL_MS after the round began.  A
 * resolver that fails, times out or answers junk is simply asked again next
 * round.  Progress is logged: each resolver that sees the value (info), a
 * "still waiting" line every CM_DNS_PROGRESS_MS (info), each answer (debug).
 *
 * Returns PC_OK when all resolvers saw the value; PC_ERR_TIMEOUT when the
 * time ran out first (the laggards are logged); PC_ERR_INVALID or
 * PC_ERR_TOO_LARGE for bad arguments (logged; nothing was sent);
 * PC_ERR_CRYPTO when no random query ID could be drawn; PC_ERR_CANCELLED
 * when the function set by cm_dns_set_cancel() said to stop (asked between
 * queries and every CM_DNS_CANCEL_POLL_MS while it sleeps).
 */
int cm_dns_wait_txt(const char *const *resolvers, size_t nresolvers, const char *fqdn,
                    const char *value, uint64_t timeout_ms);

/**
 * Set the function cm_dns_wait_txt() asks whether to give up (the daemon
 * is stopping); NULL (the default) waits for the whole timeout.  Set it
 * once, before the first wait; it is not thread-safe.
 */
void cm_dns_set_cancel(bool (*cancelled)(void));

/** An RFC 2136 server and the TSIG key that may update `zone` there. */
struct cm_rfc2136 {
    const char *server;          /* IP:port ("[IPv6]:port"; a bare address means port 53) */
    const char *zone;            /* the zone to update, e.g. "example.com" */
    const char *key_name;        /* TSIG key name, e.g. "certmgr-key" */
    const char *key_alg;         /* hmac-sha256 (required), hmac-sha512, hmac-sha384 */
    const unsigned char *secret; /* the raw key bytes (base64-decoded by the caller) */
    size_t secret_len;           /* 1 to CM_DNS_TSIG_SECRET_MAX */
};

/**
 * Add (add=true) or delete (add=false) the TXT record `fqdn` = `value` with an
 * RFC 2136 UPDATE to srv->server, signed with TSIG.  `fqdn` must be at or
 * under srv->zone.  The update has no prerequisites; an added record gets
 * TTL CM_DNS_UPDATE_TTL, a delete removes only that one record (class NONE),
 * so other challenges' records at the same name stay.  Both are idempotent:
 * adding a record that exists or deleting one that does not is PC_OK.
 *
 * Sent over UDP (CM_DNS_TRY_MS per try, CM_DNS_UDP_TRIES tries; TCP when the
 * answer is truncated or the update is over 512 bytes).  The answer counts only when it carries a
 * valid TSIG of the same key (full-length MAC, time within CM_DNS_TSIG_FUDGE): an unsigned or badly
 * signed NOERROR is a failure.  `srv` is only read; no copy of the secret is kept (OpenSSL's MAC
 * context wipes its own on free).
 *
 * Returns PC_OK when the server said NOERROR.  On failure `err` (errlen
 * bytes, may be NULL/0) holds one line, e.g. "update refused: NOTAUTH (...)",
 * "TSIG BADSIG: ...", "no answer from 192.0.2.1:53 after 3 tries"; nothing is
 * logged here, the caller reports it.  PC_ERR_INVALID / PC_ERR_TOO_LARGE: bad
 * arguments (nothing sent); PC_ERR_TIMEOUT: no answer; PC_ERR_IO: socket
 * failure; PC_ERR_DENIED: the server refused (RCODE or TSIG error);
 * PC_ERR_PARSE: a malformed answer; PC_ERR_CRYPTO: the answer's TSIG is
 * missing or does not verify, or OpenSSL failed.
 */
int cm_rfc2136_txt(const struct cm_rfc2136 *srv, const char *fqdn, const char *value, bool add,
                   char *err, size_t errlen);

#endif
