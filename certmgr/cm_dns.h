/*
 * DNS for portcullis-certmgr's dns-01 challenges: the propagation check
 * (is the TXT record visible at every resolver?) and the rfc2136 provider
 * (dynamic DNS update signed with TSIG).  Implemented in certmgr/cm_dns.c;
 * certmgr/cm_acme_chall.c is the caller.  Both block the calling thread
 * (certmgr is single threaded) for at most their timeout.
 */
#ifndef CM_DNS_H
#define CM_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wait until every resolver in `resolvers` ("IP:port" strings) answers a TXT
 * query for fqdn containing `value`, or timeout_ms passes. PC_OK / PC_ERR_TIMEOUT. */
int cm_dns_wait_txt(const char *const *resolvers, size_t nresolvers, const char *fqdn,
                    const char *value, uint64_t timeout_ms);
/* RFC 2136 update with TSIG: add (add=true) or delete the TXT record fqdn=value. */
struct cm_rfc2136 {
    const char *server; /* IP:port */
    const char *zone;
    const char *key_name;
    const char *key_alg; /* hmac-sha256 ... */
    const unsigned char *secret;
    size_t secret_len;
};
int cm_rfc2136_txt(const struct cm_rfc2136 *srv, const char *fqdn, const char *value, bool add,
                   char *err, size_t errlen);

#endif
