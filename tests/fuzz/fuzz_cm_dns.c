/*
 * Fuzz target: the DNS answer parsers (certmgr/cm_dns_wire.c, cm_dns_tsig.c,
 * cm_dns.c).  Every byte of an answer comes from the network, and the
 * resolvers are not ours.  One input goes through:
 *   - the structure walk (cm_dns_msg_parse), then every record and name it
 *     accepted is read again and must still be accepted;
 *   - the TXT answer check for _acme-challenge.example.test (the ID is taken
 *     from the input so the check goes past it);
 *   - the UPDATE answer check with TSIG verification (key 0x01..0x20, the
 *     request MAC of the unit tests' dnspython vector, time 1700000001);
 *   - the name reader at each of the first offsets.
 * Seeds in tests/fuzz/corpus/cm_dns/ (see docs/internals/DNS.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certmgr/cm_dns_internal.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FQDN   "_acme-challenge.example.test"
#define VALUE  "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
#define T_REQ  1700000000ULL
#define T_RESP 1700000001ULL

static const unsigned char secret[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                         12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                         23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static struct {
    bool ready;
    struct cm_dns_tsig_key key;
    uint8_t qname[CM_DNS_NAME_MAX], zone[CM_DNS_NAME_MAX];
    size_t qlen, zlen;
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen;
} fx;

/* The key, the names and the request MAC, once. */
static void
setup(void)
{
    uint8_t msg[CM_DNS_UPDATE_MAX];
    size_t len = 0;

    if (fx.ready)
        return;
    if (cm_dns_tsig_key_init(&fx.key, "portcullis-key", "hmac-sha256", secret, sizeof(secret), NULL,
                             0) != PC_OK ||
        cm_dns_name_from_text(FQDN, fx.qname, &fx.qlen) != PC_OK ||
        cm_dns_name_from_text("example.test", fx.zone, &fx.zlen) != PC_OK ||
        cm_dns_update_build(0x1234, fx.zone, fx.zlen, fx.qname, fx.qlen, VALUE, strlen(VALUE), true,
                            msg, sizeof(msg), &len) != PC_OK ||
        cm_dns_tsig_sign(msg, &len, sizeof(msg), &fx.key, T_REQ, fx.mac, &fx.maclen) != PC_OK)
        abort();
    fx.ready = true;
}

/* What cm_dns_msg_parse accepted must read again, record by record. */
static void
walk_again(const struct cm_dns_msg *m)
{
    uint8_t name[CM_DNS_NAME_MAX];
    struct cm_dns_rr rr;
    size_t off = m->sec[1], p, nlen;
    unsigned i, s;

    for (s = 1; s < 4; s++) {
        if (m->sec[s] != off)
            abort();
        for (i = 0; i < m->count[s]; i++) {
            p = off;
            if (cm_dns_rr_read(m->buf, m->len, off, &rr) != PC_OK ||
                cm_dns_name_read(m->buf, m->len, &p, name, &nlen) != PC_OK ||
                nlen > CM_DNS_NAME_MAX || rr.next > m->len || rr.next <= off)
                abort();
            off = rr.next;
        }
    }
    if (off != m->len)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_dns_msg m;
    enum cm_dns_txt_state st = CM_DNS_TXT_ABSENT;
    uint8_t name[CM_DNS_NAME_MAX];
    char err[CM_DNS_REASON_MAX];
    size_t off, p, nlen;
    uint16_t id;
    int rcode = 0, rc;

    if (size > CM_DNS_MSG_MAX)
        return 0;
    setup();
    if (cm_dns_msg_parse(data, size, false, &m, err, sizeof(err)) == PC_OK)
        walk_again(&m);
    (void)cm_dns_msg_parse(data, size, true, &m, err, sizeof(err));

    id = size >= 2 ? cm_dns_get16(data) : 0;
    err[0] = '\0';
    rc = cm_dns_txt_check(data, size, id, fx.qname, fx.qlen, VALUE, strlen(VALUE), &st, &rcode, err,
                          sizeof(err));
    if (rc != PC_OK && err[0] == '\0')
        abort(); /* every refusal has a reason */
    if (rc == PC_OK && (rcode < 0 || rcode > 15 || st > CM_DNS_TXT_TRUNCATED))
        abort();

    err[0] = '\0';
    rc = cm_dns_update_check(data, size, id, fx.zone, fx.zlen, &fx.key, fx.mac, fx.maclen, T_RESP,
                             err, sizeof(err));
    if (rc != PC_OK && err[0] == '\0')
        abort();

    for (off = 0; off < size && off < 64; off++) {
        p = off;
        if (cm_dns_name_read(data, size, &p, name, &nlen) == PC_OK &&
            (p > size || p <= off || nlen > CM_DNS_NAME_MAX || nlen == 0 || name[nlen - 1] != 0))
            abort();
    }
    return 0;
}
