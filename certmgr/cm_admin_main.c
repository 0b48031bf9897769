/*
 * portcullis-admin: the operator CLI.  main() parses the global options, finds
 * the command in the dispatch table, parses its options and runs it.
 *
 * Exit status (DESIGN.md): 0 success; 1 a failure, reported as the one line
 * "portcullis-admin: <reason>" on stderr; 2 bad usage, with a usage hint.
 * To add a command (policy, reload, tls), define a struct
 * cm_cmd next to its handler and add it to `commands` below.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_str.h"
#include "cm.h"

#define PROG "portcullis-admin"

static const struct cm_cmd *const commands[] = {
    &cm_cmd_ca_init,        &cm_cmd_client_issue,  &cm_cmd_client_sign,   &cm_cmd_client_list,
    &cm_cmd_client_show,    &cm_cmd_client_revoke, &cm_cmd_crl,           &cm_cmd_config_check,
    &cm_cmd_reload,         &cm_cmd_token_issue,   &cm_cmd_token_inspect, &cm_cmd_token_thumbprint,
    &cm_cmd_policy_explain, &cm_cmd_jwks,          &cm_cmd_tls_audit,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* "client issue" / "crl" */
static void
cmd_words(const struct cm_cmd *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", c->group != NULL ? c->group : "", c->group != NULL ? " " : "",
             c->name);
}

/* The command list, of one group or of all (group NULL). */
static void
list_commands(FILE *f, const char *group)
{
    char words[64];
    size_t i;

    fprintf(f, "Commands:\n");
    for (i = 0; i < NCOMMANDS; i++) {
        if (group != NULL && (commands[i]->group == NULL || strcmp(commands[i]->group, group) != 0))
            continue;
        cmd_words(commands[i], words, sizeof(words));
        fprintf(f, "  %-17s %s\n", words, commands[i]->summary);
    }
}

static void
usage_main(FILE *f)
{
    fprintf(f, "usage: " PROG " [--ca-dir DIR] COMMAND [ARGS...]\n\n"
               "Operator tool of Portcullis: the client CA, client certificates, the CRL,\n"
               "and signed test tokens with their JWKS.\n\n");
    list_commands(f, NULL);
    fprintf(f, "\nGlobal options (before or after the command):\n"
               "  --ca-dir DIR    the CA directory (default " CM_DEFAULT_CA_DIR ")\n"
               "  --help, -h      this help; COMMAND --help for a command's options\n"
               "  --version       print the version\n\n"
               "Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.\n");
}

static void
usage_cmd(FILE *f, const struct cm_cmd *c)
{
    char words[64];
    size_t i;

    cmd_words(c, words, sizeof(words));
    fprintf(f, "usage: " PROG " [--ca-dir DIR] %s %s\n\n%s\n", words, c->synopsis, c->summary);
    if (c->help != NULL)
        fprintf(f, "\n%s\n", c->help);
    fprintf(f, "\nOptions:\n");
    for (i = 0; i < c->nopts; i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", c->opts[i].name, c->opts[i].arg != NULL ? " " : "",
                 c->opts[i].arg != NULL ? c->opts[i].arg : "");
        fprintf(f, "  %-22s %s\n", left, c->opts[i].help);
    }
    fprintf(f, "  %-22s %s\n", "--ca-dir DIR", "the CA directory (default " CM_DEFAULT_CA_DIR ")");
    fprintf(f, "  %-22s %s\n", "--help, --version", "this help; the version");
}

/* Exit 2: the reason, then a short hint (the synopsis of the command, when known). */
static int
bad_usage(const struct cm_cmd *c, const char *group)
{
    char words[64];
    const char *why = cm_err_get();

    fprintf(stderr, PROG ": %s\n", why != NULL ? why : "bad usage");
    if (c != NULL) {
        cmd_words(c, words, sizeof(words));
        fprintf(stderr, "usage: " PROG " [--ca-dir DIR] %s %s\nTry '" PROG " %s --help'.\n", words,
                c->synopsis, words);
    } else if (group != NULL) {
        fprintf(stderr, "usage: " PROG " [--ca-dir DIR] %s COMMAND ...\n", group);
        list_commands(stderr, group);
    } else {
        fprintf(stderr,
                "usage: " PROG " [--ca-dir DIR] COMMAND [ARGS...]\nTry '" PROG " --help'.\n");
    }
    return CM_EXIT_USAGE;
}

static bool
is_group(const char *word)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (commands[i]->group != NULL && strcmp(commands[i]->group, word) == 0)
            return true;
    return false;
}

static const struct cm_cmd *
find_cmd(const char *group, const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++) {
        const struct cm_cmd *c = commands[i];
        if ((group == NULL) != (c->group == NULL))
            continue;
        if ((group == NULL || strcmp(c->group, group) == 0) && strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/*
 * The command words at argv[0..argc): "crl" or "client issue".  Sets *c or
 * prints help/usage and returns the exit status (-1: go on).
 */
static int
resolve(int argc, char **argv, const struct cm_cmd **c, int *used)
{
    char esc[CM_ESC_MAX];
    const char *w = argv[0];

    *c = NULL;
    if (!is_group(w)) {
        *c = find_cmd(NULL, w);
        *used = 1;
        if (*c == NULL) {
            cm_err_set("unknown command \"%s\"", cm_esc(esc, w, strlen(w)));
            return bad_usage(NULL, NULL);
        }
        return -1;
    }
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            printf("usage: " PROG " [--ca-dir DIR] %s COMMAND ...\n\n", w);
            list_commands(stdout, w);
            return CM_EXIT_OK;
        }
        cm_err_set("%s: which command?", w);
        return bad_usage(NULL, w);
    }
    *c = find_cmd(w, argv[1]);
    *used = 2;
    if (*c == NULL) {
        cm_err_set("unknown command \"%s %s\"", w, cm_esc(esc, argv[1], strlen(argv[1])));
        return bad_usage(NULL, w);
    }
    return -1;
}

/* Flush stdout; a result that did not reach its reader is a failure, not a silent 0. */
static int
finish(int ex)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (ex == CM_EXIT_OK)
            fprintf(stderr, PROG ": writing to standard output: %s\n", strerror(errno));
        return CM_EXIT_FAIL;
    }
    return ex;
}

int
main(int argc, char **argv)
{
    struct cm_args a;
    const struct cm_cmd *c = NULL;
    const char *why;
    int used = 0, k, ex;

    /* the one-line reason replaces common/'s diagnostics (cm_err.c) */
    pc_log_init(PROG, LOG_CRIT);
    memset(&a, 0, sizeof(a));
    if (cm_args_parse(&a, NULL, 0, argc - 1, argv + 1, 0, true, &used) != PC_OK)
        return bad_usage(NULL, NULL);
    k = 1 + used;
    if (a.version) {
        printf(PROG " %s\n", PC_VERSION);
        return finish(CM_EXIT_OK);
    }
    if (k >= argc) {
        if (a.help) {
            usage_main(stdout);
            return finish(CM_EXIT_OK);
        }
        cm_err_set("no command given");
        return bad_usage(NULL, NULL);
    }
    ex = resolve(argc - k, argv + k, &c, &used);
    if (c == NULL)
        return finish(ex); /* help of a group, or bad usage: already printed */
    k += used;
    /* a --help before the command ("--help client issue") stays set: that command's help */
    if (cm_args_parse(&a, c->opts, c->nopts, argc - k, argv + k, c->max_pos, false, NULL) != PC_OK)
        return bad_usage(c, NULL);
    if (a.version) {
        printf(PROG " %s\n", PC_VERSION);
        return finish(CM_EXIT_OK);
    }
    if (a.help) {
        usage_cmd(stdout, c);
        return finish(CM_EXIT_OK);
    }
    if (a.npos < c->min_pos) {
        cm_err_set("missing argument");
        return bad_usage(c, NULL);
    }
    ex = c->run(a.ca_dir != NULL ? a.ca_dir : CM_DEFAULT_CA_DIR, &a);
    if (ex == CM_EXIT_USAGE)
        return bad_usage(c, NULL);
    if (ex != CM_EXIT_OK) {
        why = cm_err_get();
        fprintf(stderr, PROG ": %s\n", why != NULL ? why : "failed (no reason recorded; a bug)");
        (void)finish(ex);
        return CM_EXIT_FAIL;
    }
    return finish(ex);
}
