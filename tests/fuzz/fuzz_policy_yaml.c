/*
 * libFuzzer target for the policy loader: the input is loaded as a
 * portcullis.yaml from memory (allow_include false, so no file is ever
 * read) and as a tls-policy.yaml.  When a configuration loads, its route
 * table and mtls patterns are exercised too.  The invariants of the
 * contract are checked: success means no error and a configuration,
 * failure means at least one error and none.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_err.h"
#include "policy/pol.h"

#define FUZZ_MAX_ROUTES 64 /* routes exercised per input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
exercise(const struct pol_config *c)
{
    static const unsigned methods[] = {POL_M_GET, POL_M_POST, POL_M_OTHER};
    size_t i, m;

    for (i = 0; i < c->nroutes && i < FUZZ_MAX_ROUTES; i++) {
        const struct pol_route *r = &c->routes[i], *got;
        const char *names[1];
        struct pol_names n;
        char host[300];
        size_t hl;

        /* a host this route's group answers for */
        hl = strlen(r->host);
        if (hl + 2 > sizeof(host))
            abort();
        host[0] = 'x';
        memcpy(host + 1, r->host, hl + 1);
        for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            got = pol_route_match(c, r->host_kind == POL_HOST_EXACT ? r->host : host,
                                  r->host_kind == POL_HOST_EXACT ? hl : hl + 1, r->path_prefix,
                                  strlen(r->path_prefix), methods[m]);
            /* an exact route always answers for its own host, prefix and methods */
            if (r->host_kind == POL_HOST_EXACT && (r->methods & methods[m]) != 0 && got != r)
                abort();
        }
        memset(&n, 0, sizeof(n));
        if (r->nallow != 0) {
            names[0] = r->allow[0].glob;
            n.uri = names;
            n.nuri = 1;
            n.dns = names;
            n.ndns = 1;
            n.email = names;
            n.nemail = 1;
            n.cn = names[0];
        }
        (void)pol_route_allows(r, &n, NULL);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pol_errors errs = {0};
    struct pol_config *c = NULL;
    struct pol_tls t;
    int rc;

    rc = pol_config_load_mem("fuzz.yaml", (const char *)data, size, false, &c, &errs);
    if ((rc == PC_OK) != (c != NULL) || (rc == PC_OK) != (errs.n == 0))
        abort();
    if (c != NULL)
        exercise(c);
    pol_config_free(c);
    pol_errors_clear(&errs);
    rc = pol_tls_load_mem("fuzz-tls.yaml", (const char *)data, size, &t, &errs);
    if ((rc == PC_OK) != (errs.n == 0))
        abort();
    if (rc == PC_OK)
        pol_tls_clear(&t);
    pol_errors_clear(&errs);
    return 0;
}
