/*
 * libFuzzer target for what `portcullis-admin tls audit` reads from the
 * server it grades: the response head of its GET / (status line, the first
 * Strict-Transport-Security field) and the HSTS value itself, plus the
 * HOST:PORT argument.  Invariants of the contract abort on violation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cm_audit_obs obs;
    struct cm_audit_hsts h;
    struct cm_audit_target t;
    char *s;

    memset(&obs, 0, sizeof(obs));
    cm_audit_http_head_parse((const char *)data, size, &obs);
    if (obs.http_done && (obs.http_status < 0 || obs.http_status > 999))
        abort();
    if (!obs.http_done && obs.hsts_present)
        abort();
    if (memchr(obs.hsts_raw, '\0', sizeof(obs.hsts_raw)) == NULL)
        abort(); /* always a string */

    cm_audit_hsts_parse((const char *)data, size, &h);
    if (!h.valid && (h.max_age != 0 || h.include_subdomains || h.preload))
        abort();

    s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    memset(&t, 0, sizeof(t));
    if (cm_audit_target_parse(s, &t) == PC_OK &&
        (t.port == 0 || t.host[0] == '\0' || memchr(t.host, '\0', sizeof(t.host)) == NULL))
        abort();
    free(s);
    return 0;
}
