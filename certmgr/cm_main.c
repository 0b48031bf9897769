/*
 * portcullis-certmgr: keeps the gateway's server certificates valid through
 * ACME (RFC 8555).  This file is the command line; cm_acme_run.c is the
 * process.  Exit status: 0 success, 1 a failure (logged with its reason),
 * 2 bad usage.  docs/internals/ACME.md describes the rest.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/pc_log.h"
#include "cm_acme.h"

#define CM_DEFAULT_CONFIG "/etc/portcullis/certmgr.yaml"

static void
usage(FILE *f)
{
    fprintf(f, "usage: portcullis-certmgr [-c FILE] [--once] [--force-renew NAME] [--check]\n"
               "  -c, --config FILE      configuration (default " CM_DEFAULT_CONFIG ")\n"
               "      --once             one pass over the certificates, then exit: 0 when\n"
               "                         every certificate is fine, 1 when any renewal failed\n"
               "      --force-renew NAME renew certificate NAME now, due or not\n"
               "      --check            validate the configuration, then exit 0 or 1\n"
               "  -h, --help             this text\n"
               "  -V, --version          print the version\n"
               "Without --once it runs as a daemon: it wakes when a certificate is due (at\n"
               "least hourly), SIGHUP re-reads the configuration, SIGTERM stops it.\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"force-renew", required_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cm_run_opts o;
    int c;

    memset(&o, 0, sizeof(o));
    o.config = CM_DEFAULT_CONFIG;
    pc_log_init("portcullis-certmgr", LOG_INFO);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'o':
            o.once = true;
            break;
        case 'f':
            o.force_renew = optarg;
            break;
        case 'k':
            o.check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("portcullis-certmgr %s\n", PC_VERSION);
            return 0;
        default:
            fprintf(stderr, "portcullis-certmgr: %s: unknown option or missing value\n",
                    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "portcullis-certmgr: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return cm_run(&o);
}
