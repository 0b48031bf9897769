/*
 * `portcullis --check` and `portcullis-admin config check`: the same code
 * that builds a generation, run against every file the configuration
 * names, without binding or serving anything.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "authn/authn_jwt.h"
#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_log.h"
#include "gateway/gw.h"

int
gw_config_check(const char *path)
{
    struct pol_errors errs = {0};
    struct pol_config *cfg = NULL;
    struct stat st;
    size_t i;
    int bad = 0;

    /* a command-line report: "prog: file:line:col: message", errors and up */
    pc_log_set_plain(1);
    pc_log_set_level(LOG_ERR);
    if (pol_config_load(path, &cfg, &errs) != PC_OK) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        if (errs.dropped != 0)
            fprintf(stderr, "... and %zu more error(s)\n", errs.dropped);
        pol_errors_clear(&errs);
        return 1;
    }
    for (i = 0; i < cfg->nlisteners; i++) {
        struct gw_listener l;
        memset(&l, 0, sizeof(l));
        l.conf = &cfg->listeners[i];
        l.fd = -1;
        if (gw_tls_listener_init(&l, cfg) != PC_OK)
            bad++;
        gw_tls_listener_clear(&l);
    }
    for (i = 0; i < cfg->nupstreams; i++) {
        SSL_CTX *c;
        if (!cfg->upstreams[i].tls)
            continue;
        c = gw_tls_upstream_ctx_new(cfg->upstreams[i].ca_file);
        if (c == NULL)
            bad++;
        SSL_CTX_free(c);
    }
    for (i = 0; i < cfg->nissuers; i++) {
        const struct pol_issuer *is = &cfg->issuers[i];
        struct authn_keyset *ks = NULL;
        char *buf = NULL, err[256] = "";
        size_t len = 0, skipped = 0;
        if (is->jwks_file == NULL)
            continue; /* jwks_uri: fetched at run time; --check makes no network call */
        if (pc_file_read(is->jwks_file, AUTHN_JWKS_MAX_BYTES, &buf, &len) != PC_OK ||
            authn_keyset_parse(buf, len, is->algorithms, &ks, &skipped, err, sizeof(err)) !=
                PC_OK) {
            pc_log(LOG_ERR, "%s:%u:%u: issuers.%s.jwks_file %s: %s", is->pos.file, is->pos.line,
                   is->pos.col, is->name, is->jwks_file, err[0] != '\0' ? err : "unreadable");
            bad++;
        }
        authn_keyset_free(ks);
        free(buf);
    }
    if (cfg->user != NULL && getpwnam(cfg->user) == NULL) {
        pc_log(LOG_ERR, "%s: user %s: no such user", path, cfg->user);
        bad++;
    }
    if (cfg->acme_webroot != NULL && (stat(cfg->acme_webroot, &st) != 0 || !S_ISDIR(st.st_mode))) {
        pc_log(LOG_ERR, "%s: acme_webroot %s is not a directory", path, cfg->acme_webroot);
        bad++;
    }
    if (bad == 0)
        printf("%s: configuration ok (%zu listener(s), %zu route(s), %zu upstream(s))\n", path,
               cfg->nlisteners, cfg->nroutes, cfg->nupstreams);
    pol_config_free(cfg);
    return bad == 0 ? 0 : 1;
}
