/*
 * Loading the whole configuration: the main file, then every file its
 * include: globs match (routes: only), then the checks over all routes and
 * the route table.  Either a complete configuration comes out or nothing:
 * whatever was built while checking is freed on any error.
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/pc_mem.h"
#include "policy/internal.h"

/* --- include: -------------------------------------------------------------------------- */

/* glob(3)'s error callback has no user pointer; a load runs on one thread. */
static _Thread_local int glob_errno;
static _Thread_local char glob_errpath[PATH_MAX];

static int
on_glob_error(const char *path, int err)
{
    glob_errno = err;
    snprintf(glob_errpath, sizeof(glob_errpath), "%s", path);
    return 1; /* stop: GLOB_ERR */
}

/* Load one included file: routes: only. */
static void
include_file(struct pol_ctx *ctx, const char *path, const struct pol_node *at)
{
    struct pol_node *root = NULL;
    const char *saved_dir = ctx->dir, *file;
    char why[POL_WHY_MAX], desc[POL_DESC_MAX], kp[POL_KEYPATH_MAX];
    char *buf = NULL, *dir = NULL, *slash;
    size_t len = 0, i, kplen = ctx->kplen;

    memcpy(kp, ctx->kp, sizeof(kp));
    if (pol_file_read(path, &buf, &len, why, sizeof(why)) != PC_OK) {
        pol_err(ctx, at, "cannot read %s: %s", path, why);
        goto out;
    }
    file = pol_ctx_intern(ctx, path);
    if (pol_yaml_parse(ctx, file, buf, len, &root) != PC_OK || root == NULL)
        goto out; /* an empty file adds nothing */
    dir = pc_xstrdup(path);
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0'; /* the glob was absolute, so is every match */
    ctx->dir = dir;
    pol_kp_pop(ctx, 0);
    if (!pol_expect(ctx, root, POL_NODE_MAP))
        goto out;
    for (i = 0; i < POL_MAP_PAIRS(root); i++) {
        const struct pol_node *k = POL_MAP_KEY(root, i);
        if (strcmp(k->str, "routes") != 0)
            pol_err(ctx, k, "only routes: is allowed in an included file, got %s",
                    pol_node_desc(k, desc, sizeof(desc)));
    }
    if (pol_map_get(root, "routes") != NULL) {
        size_t saved = pol_kp_key(ctx, "routes");
        pol_routes_parse(ctx, pol_map_get(root, "routes"));
        pol_kp_pop(ctx, saved);
    }
out:
    memcpy(ctx->kp, kp, sizeof(kp));
    ctx->kplen = kplen;
    ctx->dir = saved_dir;
    free(dir);
    pol_node_free(root);
    free(buf);
}

/* Expand one glob into *files (deduplicated, at most PC_CONF_MAX_FILES). */
static void
include_glob(struct pol_ctx *ctx, const struct pol_node *n, char ***files, size_t *nfiles)
{
    glob_t g;
    char *pattern = NULL;
    size_t i, j;
    int rc;

    memset(&g, 0, sizeof(g));
    if (pol_node_path(ctx, n, &pattern) != PC_OK)
        return;
    glob_errno = 0;
    glob_errpath[0] = '\0';
    rc = glob(pattern, GLOB_ERR, on_glob_error, &g);
    if (rc == GLOB_ABORTED) {
        char ebuf[128];
        pol_err(ctx, n, "cannot read %s: %s", glob_errpath[0] != '\0' ? glob_errpath : pattern,
                glob_errno != 0 ? strerror_r(glob_errno, ebuf, sizeof(ebuf)) : "read error");
        goto out;
    }
    if (rc != 0 && rc != GLOB_NOMATCH) {
        pol_err(ctx, n, "cannot expand %s", pattern);
        goto out;
    }
    for (i = 0; rc == 0 && i < g.gl_pathc; i++) {
        bool dup = false;
        for (j = 0; j < *nfiles && !dup; j++)
            dup = strcmp((*files)[j], g.gl_pathv[i]) == 0;
        if (dup)
            continue;
        if (*nfiles == PC_CONF_MAX_FILES) {
            pol_err(ctx, n, "include: matches more than %d files", PC_CONF_MAX_FILES);
            break;
        }
        *files = pc_xreallocarray(*files, *nfiles + 1, sizeof(**files));
        (*files)[(*nfiles)++] = pc_xstrdup(g.gl_pathv[i]);
    }
out:
    if (rc == 0)
        globfree(&g);
    free(pattern);
}

static void
parse_include(struct pol_ctx *ctx, const struct pol_node *root)
{
    const struct pol_node *v = pol_map_get(root, "include");
    const struct pol_node *const *globs;
    char **files = NULL;
    size_t nfiles = 0, nglobs, saved, i;
    char desc[POL_DESC_MAX];

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "include");
    if (!ctx->allow_files) {
        pol_err(ctx, v, "include: is not allowed in this load");
        goto out;
    }
    if (v->kind == POL_NODE_SCALAR) {
        globs = (const struct pol_node *const *)&v;
        nglobs = 1;
    } else if (v->kind == POL_NODE_SEQ && v->nkids <= PC_CONF_MAX_INCLUDES) {
        globs = (const struct pol_node *const *)v->kids;
        nglobs = v->nkids;
    } else {
        pol_err(ctx, v, "expected a glob or a sequence of at most %d globs, got %s",
                PC_CONF_MAX_INCLUDES,
                v->kind == POL_NODE_SEQ ? "more" : pol_node_desc(v, desc, sizeof(desc)));
        goto out;
    }
    for (i = 0; i < nglobs; i++) {
        size_t s2 = v->kind == POL_NODE_SEQ ? pol_kp_idx(ctx, i) : ctx->kplen;
        include_glob(ctx, globs[i], &files, &nfiles);
        pol_kp_pop(ctx, s2);
    }
    for (i = 0; i < nfiles; i++)
        include_file(ctx, files[i], v);
out:
    for (i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    pol_kp_pop(ctx, saved);
}

void
pol_config_free(struct pol_config *c)
{
    size_t i, j;

    if (c == NULL)
        return;
    free(c->path);
    for (i = 0; i < c->nlisteners; i++) {
        struct pol_listener *l = &c->listeners[i];
        free(l->address);
        for (j = 0; j < l->ncerts; j++) {
            free(l->certs[j].cert);
            free(l->certs[j].key);
        }
        free(l->certs);
        free(l->client_ca);
        free(l->crl);
    }
    free(c->listeners);
    free(c->user);
    free(c->pid_file);
    free(c->acme_webroot);
    pol_tls_clear(&c->tls);
    for (i = 0; i < c->nissuers; i++)
        pol_issuer_clear(&c->issuers[i]);
    free(c->issuers);
    pol_redis_free(c->redis);
    free(c->admin_listen);
    free(c->access_log_path);
    pol_table_free(c->table);
    for (i = 0; i < c->nroutes; i++)
        pol_route_clear(&c->routes[i]);
    free(c->routes);
    for (i = 0; i < c->nupstreams; i++)
        pol_upstream_clear(&c->upstreams[i]);
    free(c->upstreams);
    for (i = 0; i < c->nfiles; i++)
        free(c->files[i]);
    free(c->files);
    free(c);
}

/* Check and compile buf as the main file `name`; relative paths against `dir`. */
static int
load(const char *name, const char *abspath, const char *dir, const char *buf, size_t len,
     bool allow_files, struct pol_config **out, struct pol_errors *errs)
{
    struct pol_ctx ctx;
    struct pol_config *c = NULL;
    struct pol_node *root = NULL;
    const char *file;
    int rc;

    pol_ctx_init(&ctx, errs);
    ctx.allow_files = allow_files;
    ctx.dir = dir;
    c = pc_xcalloc(1, sizeof(*c));
    c->path = pc_xstrdup(abspath);
    c->threads = 1;
    c->access_log = POL_LOG_STDOUT;
    c->log_level = LOG_INFO;
    pol_tls_default(&c->tls);
    pol_limits_default(&c->limits);
    ctx.cfg = c;
    file = pol_ctx_intern(&ctx, name);
    rc = pol_yaml_parse(&ctx, file, buf, len, &root);
    if (rc != PC_OK)
        goto out;
    if (root == NULL) {
        pol_err_at(&ctx, file, 1, 1, "the file is empty; expected a mapping with at least listen:");
    } else {
        pol_main_parse(&ctx, root);
        if (root->kind == POL_NODE_MAP)
            parse_include(&ctx, root);
    }
    pol_routes_finish(&ctx);
    if (ctx.nerr != 0) {
        rc = PC_ERR_INVALID;
        goto out;
    }
    c->files = ctx.files;
    c->nfiles = ctx.nfiles;
    ctx.files = NULL;
    ctx.nfiles = 0;
    *out = c;
    c = NULL;
    rc = PC_OK;
out:
    pol_node_free(root);
    pol_config_free(c);
    pol_ctx_clear(&ctx);
    return rc;
}

int
pol_config_load(const char *path, struct pol_config **out, struct pol_errors *errs)
{
    struct pol_ctx tmp;
    char why[POL_WHY_MAX], cwd[PATH_MAX];
    char *buf = NULL, *abspath = NULL, *dir = NULL, *slash;
    size_t len = 0, plen = strlen(path), clen;
    int rc;

    *out = NULL;
    pol_ctx_init(&tmp, errs);
    rc = pol_file_read(path, &buf, &len, why, sizeof(why));
    if (rc != PC_OK) {
        pol_errf(&tmp, "%s: %s", path, why);
        rc = rc == PC_ERR_TOO_LARGE ? PC_ERR_TOO_LARGE : PC_ERR_IO;
        goto out;
    }
    if (path[0] == '/') {
        abspath = pc_xstrdup(path);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL || strlen(cwd) + 1 + plen >= PATH_MAX) {
            pol_errf(&tmp, "%s: cannot make the path absolute", path);
            rc = PC_ERR_IO;
            goto out;
        }
        clen = strlen(cwd);
        abspath = pc_xmalloc(clen + 1 + plen + 1);
        memcpy(abspath, cwd, clen);
        abspath[clen] = '/';
        memcpy(abspath + clen + 1, path, plen + 1);
    }
    dir = pc_xstrdup(abspath);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0'; /* "/x.yaml": the directory is "/" */
    else
        *slash = '\0';
    rc = load(path, abspath, dir, buf, len, true, out, errs);
out:
    free(dir);
    free(abspath);
    pc_free_secret(buf, len); /* it may hold the redis password */
    return rc;
}

int
pol_config_load_mem(const char *name, const char *buf, size_t len, bool allow_include,
                    struct pol_config **out, struct pol_errors *errs)
{
    char cwd[PATH_MAX];

    *out = NULL;
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        snprintf(cwd, sizeof(cwd), "/");
    return load(name, name, cwd, buf, len, allow_include, out, errs);
}
