/*
 * portcullis-admin config check: the gateway's own full check (YAML, then
 * every certificate, key, CA bundle and CRL the configuration names, loaded
 * into real TLS contexts), from the operator CLI.
 */
#include <stdio.h>

#include "cm.h"
#include "gateway/gw.h"

#define CM_DEFAULT_GW_CONFIG "/etc/portcullis/portcullis.yaml"

enum { O_CFG_FILE };

static const struct cm_opt config_opts[] = {
    [O_CFG_FILE] = {"-c", CM_OPT_VALUE, "FILE",
                    "the gateway configuration (default " CM_DEFAULT_GW_CONFIG ")"},
};

static enum cm_exit
run_config_check(const char *dir, const struct cm_args *a)
{
    const char *path = cm_args_get(a, O_CFG_FILE);

    (void)dir;
    if (gw_config_check(path != NULL ? path : CM_DEFAULT_GW_CONFIG) == 0)
        return CM_EXIT_OK;
    cm_err_set("configuration refused (the reasons are above)");
    return CM_EXIT_FAIL;
}

const struct cm_cmd cm_cmd_config_check = {
    .group = "config",
    .name = "check",
    .synopsis = "[-c FILE]",
    .summary = "validate a gateway configuration and every file it names",
    .help = "The same check as `portcullis --check`: prints each problem as\n"
            "file:line:col: message and exits 1 when there is one.",
    .opts = config_opts,
    .nopts = sizeof(config_opts) / sizeof(config_opts[0]),
    .run = run_config_check,
};
