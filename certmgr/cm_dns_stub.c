/*
 * Link-time placeholder for certmgr/cm_dns.c (the DNS propagation check and
 * the rfc2136 provider), which is written on its own branch.  Until it is
 * merged, portcullis-certmgr links against these and fails closed: a
 * dns-01 certificate with resolvers: or provider rfc2136 cannot be issued
 * and the log says why.  Nothing here pretends to work.
 *
 * The file compiles to nothing as soon as certmgr/cm_dns.c exists; the
 * definitions are weak as well, so a stale object of this file in an
 * archive never clashes with the real ones.  Delete it with the merge.
 */
#if !__has_include("cm_dns.c")

#include <string.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "cm_dns.h"

__attribute__((weak)) int
cm_dns_wait_txt(const char *const *resolvers, size_t nresolvers, const char *fqdn,
                const char *value, uint64_t timeout_ms)
{
    (void)resolvers;
    (void)nresolvers;
    (void)value;
    (void)timeout_ms;
    pc_log(LOG_ERR, "%s: cannot check DNS propagation: this build has no certmgr/cm_dns.c", fqdn);
    return PC_ERR_INTERNAL;
}

__attribute__((weak)) int
cm_rfc2136_txt(const struct cm_rfc2136 *srv, const char *fqdn, const char *value, bool add,
               char *err, size_t errlen)
{
    (void)srv;
    (void)fqdn;
    (void)value;
    (void)add;
    if (errlen > 0) {
        static const char msg[] = "rfc2136 is not available: this build has no certmgr/cm_dns.c";
        size_t n = sizeof(msg) < errlen ? sizeof(msg) : errlen;
        memcpy(err, msg, n);
        err[n - 1] = '\0';
    }
    return PC_ERR_INTERNAL;
}

#else
/* ISO C wants a translation unit to declare something */
extern int cm_dns_stub_unused;
#endif
