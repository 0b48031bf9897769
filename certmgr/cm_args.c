/*
 * The command-line parser of portcullis-admin: one table of options per
 * command, the global options everywhere.  See cm.h.
 */
#include <stdio.h>
#include <string.h>

#include "common/pc_err.h"
#include "cm.h"

static const struct cm_opt *
find_opt(const struct cm_opt *opts, size_t nopts, const char *word, size_t len, size_t *idx)
{
    size_t i;

    for (i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, word, len) == 0) {
            *idx = i;
            return &opts[i];
        }
    }
    return NULL;
}

/* Store one value of option i. */
static int
store(struct cm_args *a, const struct cm_opt *o, size_t i, const char *v)
{
    if (o->kind == CM_OPT_VALUE && a->nval[i] > 0) {
        cm_err_set("%s given more than once", o->name);
        return PC_ERR_PARSE;
    }
    if (a->nval[i] >= CM_ARGS_MAX_MULTI) {
        cm_err_set("%s given more than %d times", o->name, CM_ARGS_MAX_MULTI);
        return PC_ERR_PARSE;
    }
    a->val[i][a->nval[i]++] = v;
    return PC_OK;
}

/* argv[*k] is an option word; consume it (and its value). */
static int
parse_opt(struct cm_args *a, const struct cm_opt *opts, size_t nopts, int argc, char **argv, int *k)
{
    static const struct cm_opt ca_dir = {"--ca-dir", CM_OPT_VALUE, "DIR", NULL};
    const char *word = argv[*k], *eq = strchr(word, '='), *v = NULL;
    size_t len = eq != NULL ? (size_t)(eq - word) : strlen(word), i = 0;
    const struct cm_opt *o;
    char esc[CM_ESC_MAX];

    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
        a->help = true;
        return PC_OK;
    }
    if (strcmp(word, "--version") == 0) {
        a->version = true;
        return PC_OK;
    }
    o = find_opt(&ca_dir, 1, word, len, &i);
    if (o == NULL)
        o = find_opt(opts, nopts, word, len, &i);
    if (o == NULL) {
        cm_err_set("unknown option %s", cm_esc(esc, word, len));
        return PC_ERR_PARSE;
    }
    if (o->kind == CM_OPT_FLAG) {
        if (eq != NULL) {
            cm_err_set("%s takes no value", o->name);
            return PC_ERR_PARSE;
        }
        a->val[i][0] = word;
        a->nval[i] = 1; /* a repeated flag is harmless */
        return PC_OK;
    }
    if (eq != NULL) {
        v = eq + 1;
    } else {
        if (*k + 1 >= argc) {
            cm_err_set("%s needs a value (%s)", o->name, o->arg);
            return PC_ERR_PARSE;
        }
        v = argv[++*k];
    }
    if (o == &ca_dir) {
        if (a->ca_dir != NULL) {
            cm_err_set("--ca-dir given more than once");
            return PC_ERR_PARSE;
        }
        if (v[0] == '\0') {
            cm_err_set("--ca-dir needs a directory");
            return PC_ERR_PARSE;
        }
        a->ca_dir = v;
        return PC_OK;
    }
    return store(a, o, i, v);
}

int
cm_args_parse(struct cm_args *a, const struct cm_opt *opts, size_t nopts, int argc, char **argv,
              size_t max_pos, bool stop, int *used)
{
    char esc[CM_ESC_MAX];
    bool only_pos = false;
    int k, rc;

    if (nopts > CM_ARGS_MAX_OPTS) {
        cm_err_set("internal: too many options");
        return PC_ERR_INTERNAL;
    }
    for (k = 0; k < argc; k++) {
        const char *w = argv[k];
        if (!only_pos && strcmp(w, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && w[0] == '-' && w[1] != '\0') {
            rc = parse_opt(a, opts, nopts, argc, argv, &k);
            if (rc != PC_OK)
                return rc;
            continue;
        }
        if (stop)
            break;
        if (a->npos >= max_pos || a->npos >= CM_ARGS_MAX_POS) {
            cm_err_set("unexpected argument \"%s\"", cm_esc(esc, w, strlen(w)));
            return PC_ERR_PARSE;
        }
        a->pos[a->npos++] = w;
    }
    if (used != NULL)
        *used = k;
    return PC_OK;
}

const char *
cm_args_get(const struct cm_args *a, size_t i)
{
    if (i >= CM_ARGS_MAX_OPTS || a->nval[i] == 0)
        return NULL;
    return a->val[i][a->nval[i] - 1];
}
