/*
 * Request ids and W3C Trace Context traceparent values (pure functions,
 * worker threads).
 */
#include <string.h>

#include "common/pc_rand.h"
#include "common/pc_str.h"
#include "gateway/gw.h"

void
gw_request_id_new(char out[33])
{
    unsigned char b[16];

    pc_fastrand_bytes(b, sizeof(b)); /* unique and unguessable, not a secret */
    pc_hex(out, b, sizeof(b));
}

static bool
is_lhex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool
all_zero(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

/*
 * version "-" trace-id(32) "-" parent-id(16) "-" flags(2), lower-case hex.
 * Version ff is invalid; version 00 is exactly 55 bytes; a later version
 * may append "-..." fields, which we accept and keep (W3C §3.2.4).
 */
bool
gw_traceparent_valid(const char *s, size_t len)
{
    if (len < 55 || !is_lhex(s, 2) || s[2] != '-' || !is_lhex(s + 3, 32) || s[35] != '-' ||
        !is_lhex(s + 36, 16) || s[52] != '-' || !is_lhex(s + 53, 2))
        return false;
    if (s[0] == 'f' && s[1] == 'f')
        return false;
    if (all_zero(s + 3, 32) || all_zero(s + 36, 16))
        return false;
    if (s[0] == '0' && s[1] == '0')
        return len == 55;
    return len == 55 || s[55] == '-';
}

void
gw_traceparent_new(char out[56])
{
    unsigned char b[24];

    do {
        pc_fastrand_bytes(b, sizeof(b));
    } while (b[0] == 0 && memcmp(b, b + 1, 15) == 0); /* an all-zero trace id is invalid */
    memcpy(out, "00-", 3);
    pc_hex(out + 3, b, 16);
    out[35] = '-';
    pc_hex(out + 36, b + 16, 8);
    memcpy(out + 52, "-00", 3); /* not sampled: we record nothing ourselves */
    out[55] = '\0';
}
