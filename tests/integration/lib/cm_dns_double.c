/*
 * TEST DOUBLE of certmgr/cm_dns.c, for the integration tests only, until
 * the real one (written on its own branch) is merged.  The Makefile links
 * it into $(BUILD)/tests/portcullis-certmgr-dnsdouble when
 * certmgr/cm_dns.c does not exist; tests/integration/lib/pctest.py picks
 * that binary then.  Never installed, never part of portcullis-certmgr.
 *
 * cm_dns_wait_txt: asks each resolver (IPv4 only) with glibc's libresolv
 * every 200 ms until its answer holds the TXT value.  No TCP fallback, no
 * EDNS, no caps worth the name: good enough for pebble-challtestsrv.
 * cm_rfc2136_txt: not doubled (fails).
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certmgr/cm_dns.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_str.h"

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether resolver "IP:port" answers a TXT of fqdn holding value. */
static bool
has_txt(const char *resolver, const char *fqdn, const char *value)
{
    struct __res_state st;
    unsigned char ans[4096];
    char host[64];
    const char *colon = strrchr(resolver, ':');
    uint64_t port;
    ns_msg msg;
    ns_rr rr;
    int n, i;
    bool found = false;

    if (colon == NULL || (size_t)(colon - resolver) >= sizeof(host) ||
        pc_parse_u64(colon + 1, strlen(colon + 1), 65535, &port) != PC_OK)
        return false;
    memcpy(host, resolver, (size_t)(colon - resolver));
    host[colon - resolver] = '\0';
    memset(&st, 0, sizeof(st));
    if (res_ninit(&st) != 0)
        return false;
    st.nscount = 1;
    st.nsaddr_list[0].sin_family = AF_INET;
    st.nsaddr_list[0].sin_port = htons((uint16_t)port);
    st.retrans = 1;
    st.retry = 1;
    if (inet_pton(AF_INET, host, &st.nsaddr_list[0].sin_addr) != 1)
        goto out;
    n = res_nquery(&st, fqdn, ns_c_in, ns_t_txt, ans, sizeof(ans));
    if (n <= 0 || ns_initparse(ans, n, &msg) != 0)
        goto out;
    for (i = 0; i < ns_msg_count(msg, ns_s_an) && !found; i++) {
        const unsigned char *p, *end;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_txt)
            continue;
        p = ns_rr_rdata(rr);
        end = p + ns_rr_rdlen(rr);
        while (p < end && !found) {
            size_t l = *p++;
            if (l > (size_t)(end - p))
                break;
            found = l == strlen(value) && memcmp(p, value, l) == 0;
            p += l;
        }
    }
out:
    res_nclose(&st);
    return found;
}

int
cm_dns_wait_txt(const char *const *resolvers, size_t nresolvers, const char *fqdn,
                const char *value, uint64_t timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    size_t i;

    pc_log(LOG_INFO, "%s: TEST DOUBLE of cm_dns_wait_txt (tests/integration/lib)", fqdn);
    for (;;) {
        for (i = 0; i < nresolvers; i++)
            if (!has_txt(resolvers[i], fqdn, value))
                break;
        if (i == nresolvers)
            return PC_OK;
        if (now_ms() >= deadline)
            return PC_ERR_TIMEOUT;
        usleep(200 * 1000);
    }
}

int
cm_rfc2136_txt(const struct cm_rfc2136 *srv, const char *fqdn, const char *value, bool add,
               char *err, size_t errlen)
{
    (void)srv;
    (void)fqdn;
    (void)value;
    (void)add;
    snprintf(err, errlen, "rfc2136 is not part of the test double");
    return PC_ERR_INTERNAL;
}
