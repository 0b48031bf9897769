/*
 * certmgr.yaml: the ACME account, where state lives, when to renew, how to
 * tell the gateway (certificates: and their challenge providers are in
 * pol_certmgr_cert.c), and the load itself.  Checked as strictly as
 * portcullis.yaml: unknown keys, wrong types and values out of bounds are
 * "file:line:col: key.path: message".  Secrets (acme.eab.hmac_key, the
 * TSIG key file) are decoded at load and wiped when the configuration is
 * freed.
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_b64.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define CM_STATE_DIR_DEFAULT "/var/lib/portcullis"
#define CM_RENEW_PCT_DEFAULT 33          /* renew_before: a third of the lifetime */
#define CM_RENEW_MIN_MS      3600000     /* renew_before as a duration: 1h .. */
#define CM_RENEW_MAX_MS      31536000000 /* .. 365d */
#define CM_EAB_KEY_MAX       256         /* acme.eab.hmac_key, decoded bytes */
#define CM_EAB_KEY_MIN       16          /* ditto: 128 bits at least */
#define CM_EMAIL_MAX         254         /* RFC 5321 path limit */
#define CM_URL_MAX           2048        /* acme.directory */

static bool
https_url_ok(const char *s, size_t len)
{
    static const char pfx[] = "https://";

    if (len <= sizeof(pfx) - 1 || len > CM_URL_MAX || memcmp(s, pfx, sizeof(pfx) - 1) != 0)
        return false;
    return s[sizeof(pfx) - 1] != '/' && pc_str_is_token(s, len);
}

/* "local@domain": printable, no blanks, one '@', a dotted domain after it. */
static bool
email_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);

    if (len > CM_EMAIL_MAX || at == NULL || at == s || !pc_str_is_token(s, len))
        return false;
    if (memchr(at + 1, '@', len - (size_t)(at + 1 - s)) != NULL)
        return false;
    return pol_dns_name_ok(at + 1, len - (size_t)(at + 1 - s)) &&
           memchr(at + 1, '.', len - (size_t)(at + 1 - s)) != NULL;
}

/* A numeric "IPv4:port" or "[IPv6]:port". */
/* --- acme: ---------------------------------------------------------------------- */

static void
parse_eab(struct pol_ctx *ctx, const struct pol_node *acme, struct pol_certmgr *c)
{
    static const char *const keys[] = {"kid", "hmac_key", NULL};
    const struct pol_node *v = pol_map_get(acme, "eab"), *k;
    size_t saved, s2, n = 0;
    unsigned char *key;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "eab");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    pol_get_str(ctx, v, "kid", true, "the key identifier the CA gave you", &c->eab_kid);
    k = pol_map_get(v, "hmac_key");
    if (k == NULL) {
        pol_err_missing(ctx, v, "hmac_key");
        goto out;
    }
    s2 = pol_kp_key(ctx, "hmac_key");
    key = pc_xmalloc(CM_EAB_KEY_MAX + 2);
    /* never quote the value: it is a secret */
    if (k->kind != POL_NODE_SCALAR ||
        pc_b64url_decode(k->str, k->len, key, CM_EAB_KEY_MAX, &n) != PC_OK || n < CM_EAB_KEY_MIN) {
        pol_err(ctx, k, "expected the base64url MAC key the CA gave you (%d to %d bytes decoded)",
                CM_EAB_KEY_MIN, CM_EAB_KEY_MAX);
        pc_free_secret(key, CM_EAB_KEY_MAX + 2);
    } else {
        c->eab_key = key;
        c->eab_key_len = n;
    }
    pol_kp_pop(ctx, s2);
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_acme(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c)
{
    static const char *const keys[] = {"directory", "email", "ca_file", "eab", NULL};
    const struct pol_node *v = pol_map_get(root, "acme");
    char desc[POL_DESC_MAX];
    size_t saved, s2;

    if (v == NULL) {
        pol_err_missing(ctx, root, "acme");
        return;
    }
    saved = pol_kp_key(ctx, "acme");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    if (pol_get_str(ctx, v, "directory", true, "the CA's https:// directory URL", &c->directory) ==
            PC_OK &&
        !https_url_ok(c->directory, strlen(c->directory))) {
        s2 = pol_kp_key(ctx, "directory");
        pol_err(ctx, pol_map_get(v, "directory"), "expected an https:// URL, got %s",
                pol_node_desc(pol_map_get(v, "directory"), desc, sizeof(desc)));
        pol_kp_pop(ctx, s2);
    }
    if (pol_get_str(ctx, v, "email", false, "an e-mail address", &c->email) == PC_OK &&
        !email_ok(c->email, strlen(c->email))) {
        s2 = pol_kp_key(ctx, "email");
        pol_err(ctx, pol_map_get(v, "email"), "expected an e-mail address, got %s",
                pol_node_desc(pol_map_get(v, "email"), desc, sizeof(desc)));
        pol_kp_pop(ctx, s2);
    }
    pol_get_path(ctx, v, "ca_file", false, &c->ca_file);
    parse_eab(ctx, v, c);
out:
    pol_kp_pop(ctx, saved);
}

/* --- renew_before:, reload: -------------------------------------------------------- */

static void
parse_renew_before(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c)
{
    const struct pol_node *v = pol_map_get(root, "renew_before");
    char desc[POL_DESC_MAX];
    uint64_t pct;
    size_t saved;

    c->renew_percent = CM_RENEW_PCT_DEFAULT;
    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "renew_before");
    if (v->kind == POL_NODE_SCALAR && v->len >= 2 && v->str[v->len - 1] == '%') {
        if (pc_parse_u64(v->str, v->len - 1, 99, &pct) != PC_OK || pct < 1)
            pol_err(ctx, v, "expected a percentage of the lifetime from 1%% to 99%%, got %s",
                    pol_node_desc(v, desc, sizeof(desc)));
        else
            c->renew_percent = (unsigned)pct;
    } else if (pol_node_duration(ctx, v, CM_RENEW_MIN_MS, CM_RENEW_MAX_MS, &c->renew_before_ms) ==
               PC_OK) {
        c->renew_percent = 0;
    }
    pol_kp_pop(ctx, saved);
}

static void
parse_reload(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c)
{
    static const char *const keys[] = {"pid_file", "command", NULL};
    const struct pol_node *v = pol_map_get(root, "reload");
    size_t saved;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "reload");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    pol_get_path(ctx, v, "pid_file", false, &c->reload_pid_file);
    pol_cm_get_argv(ctx, v, "command", &c->reload_command, &c->reload_argc);
    if ((pol_map_get(v, "pid_file") == NULL) == (pol_map_get(v, "command") == NULL))
        pol_err(ctx, v, "expected exactly one of pid_file (SIGHUP to that pid) or command");
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_gateway(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c)
{
    const struct pol_node *v = pol_map_get(root, "gateway_config");
    struct pol_errors gerrs;
    struct pol_config *gc = NULL;
    char *path = NULL;
    size_t saved, i;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "gateway_config");
    if (pol_node_path(ctx, v, &path) != PC_OK)
        goto out;
    if (!ctx->allow_files) {
        pol_err(ctx, v, "gateway_config cannot be read in this load");
        goto out;
    }
    if (pol_config_load(path, &gc, &gerrs) != PC_OK) {
        pol_err(ctx, v, "cannot load %s: %s%s", path, gerrs.n > 0 ? gerrs.msg[0] : "unknown error",
                gerrs.n > 1 ? " (and more: portcullis --check)" : "");
        pol_errors_clear(&gerrs);
        goto out;
    }
    for (i = 0; i < c->ncerts; i++) {
        if (c->certs[i].challenge != POL_CM_HTTP01 || c->certs[i].webroot != NULL)
            continue;
        if (gc->acme_webroot == NULL)
            pol_err(ctx, v, "%s has no acme_webroot: certificate \"%s\" needs http.webroot", path,
                    c->certs[i].name != NULL ? c->certs[i].name : "?");
        else
            c->certs[i].webroot = pc_xstrdup(gc->acme_webroot);
    }
    if (pol_map_get(root, "reload") == NULL && gc->pid_file != NULL)
        c->reload_pid_file = pc_xstrdup(gc->pid_file);
out:
    pol_config_free(gc);
    free(path);
    pol_kp_pop(ctx, saved);
}

static void
parse_root(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c)
{
    static const char *const keys[] = {
        "acme", "state_dir", "renew_before", "reload", "certificates", "gateway_config", NULL};
    size_t i;

    if (!pol_expect(ctx, root, POL_NODE_MAP))
        return;
    pol_check_keys(ctx, root, keys);
    parse_acme(ctx, root, c);
    if (pol_get_path(ctx, root, "state_dir", false, &c->state_dir) != PC_OK)
        c->state_dir = pc_xstrdup(CM_STATE_DIR_DEFAULT);
    parse_renew_before(ctx, root, c);
    parse_reload(ctx, root, c);
    pol_cm_certs_parse(ctx, root, c);
    parse_gateway(ctx, root, c);
    for (i = 0; i < c->ncerts; i++) {
        struct pol_cm_cert *cert = &c->certs[i];
        static const char sub[] = "/acme/http-01";
        size_t l;
        if (cert->challenge != POL_CM_HTTP01 || cert->webroot != NULL)
            continue;
        /* the gateway's default acme_webroot when state_dir is the default */
        l = strlen(c->state_dir);
        cert->webroot = pc_xmalloc(l + sizeof(sub));
        memcpy(cert->webroot, c->state_dir, l);
        memcpy(cert->webroot + l, sub, sizeof(sub));
    }
}

/* --- load / free -------------------------------------------------------------------- */

void
pol_certmgr_free(struct pol_certmgr *c)
{
    size_t i;

    if (c == NULL)
        return;
    free(c->path);
    free(c->directory);
    free(c->email);
    free(c->ca_file);
    free(c->eab_kid);
    pc_free_secret(c->eab_key, c->eab_key_len);
    free(c->state_dir);
    free(c->reload_pid_file);
    pol_cm_argv_free(c->reload_command);
    for (i = 0; i < c->ncerts; i++)
        pol_cm_cert_clear(&c->certs[i]);
    free(c->certs);
    for (i = 0; i < c->nfiles; i++)
        free(c->files[i]);
    free(c->files);
    free(c);
}

const struct pol_cm_cert *
pol_certmgr_find(const struct pol_certmgr *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->ncerts; i++)
        if (c->certs[i].name != NULL && strcmp(c->certs[i].name, name) == 0)
            return &c->certs[i];
    return NULL;
}

static int
load(const char *name, const char *abspath, const char *dir, const char *buf, size_t len,
     bool allow_files, struct pol_certmgr **out, struct pol_errors *errs)
{
    struct pol_ctx ctx;
    struct pol_certmgr *c = NULL;
    struct pol_node *root = NULL;
    const char *file;
    int rc;

    pol_ctx_init(&ctx, errs);
    ctx.allow_files = allow_files;
    ctx.dir = dir;
    c = pc_xcalloc(1, sizeof(*c));
    c->path = pc_xstrdup(abspath);
    file = pol_ctx_intern(&ctx, name);
    rc = pol_yaml_parse(&ctx, file, buf, len, &root);
    if (rc != PC_OK)
        goto out;
    if (root == NULL)
        pol_err_at(&ctx, file, 1, 1, "the file is empty; expected acme: and certificates:");
    else
        parse_root(&ctx, root, c);
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
    pol_certmgr_free(c);
    pol_ctx_clear(&ctx);
    return rc;
}

int
pol_certmgr_load(const char *path, struct pol_certmgr **out, struct pol_errors *errs)
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
        slash[1] = '\0';
    else
        *slash = '\0';
    rc = load(path, abspath, dir, buf, len, true, out, errs);
out:
    free(dir);
    free(abspath);
    pc_free_secret(buf, len); /* it holds the EAB key */
    return rc;
}

int
pol_certmgr_load_mem(const char *name, const char *buf, size_t len, struct pol_certmgr **out,
                     struct pol_errors *errs)
{
    char cwd[PATH_MAX];

    *out = NULL;
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        snprintf(cwd, sizeof(cwd), "/");
    return load(name, name, cwd, buf, len, false, out, errs);
}
