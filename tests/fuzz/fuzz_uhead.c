/*
 * libFuzzer target for what an upstream sends back: the response head
 * (gw_uhead_parse, picohttpparser underneath) and, when the head says
 * chunked, the chunked body decoder the gateway runs in place.  The first
 * byte picks the request method (odd: HEAD).  Invariants of the contract
 * abort on violation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_uhead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_uhead uh;
    const char *why = NULL;
    bool head;
    int n;

    if (size < 1)
        return 0;
    head = (data[0] & 1) != 0;
    data++, size--;
    n = gw_uhead_parse((const char *)data, size, head, &uh, &why);
    if (n == -1 && why == NULL)
        abort();
    if (n < 0)
        return 0;
    if ((size_t)n > size || uh.status < 200 || uh.status > 999 || uh.nh > GW_UHEAD_MAX_HEADERS)
        abort();
    if (head && uh.framing != GW_UBODY_NONE)
        abort();
    if (uh.framing == GW_UBODY_CLOSE && uh.keepalive)
        abort();
    if (uh.framing == GW_UBODY_CHUNKED) {
        struct phr_chunked_decoder dec;
        size_t blen = size - (size_t)n, len = blen;
        char *body = malloc(blen + 1);
        ssize_t rest;
        memcpy(body, data + n, blen);
        memset(&dec, 0, sizeof(dec));
        dec.consume_trailer = 1;
        rest = phr_decode_chunked(&dec, body, &len);
        if (len > blen || (rest >= 0 && len + (size_t)rest > blen))
            abort();
        free(body);
    }
    return 0;
}
