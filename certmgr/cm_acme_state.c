/*
 * What certmgr remembers under state_dir/acme/, so that a restart (or a
 * crash) continues where it stopped:
 *
 *   account.key       the account key (EC P-256, 0600, created once, never replaced)
 *   account.json      {"directory", "url"}: the account URL at that CA
 *   orders/NAME.json  the order in flight for certificate NAME
 *   orders/NAME.key   its pending certificate key (0600), made before finalize
 *   status.json       per-certificate counters and the next retry time
 *   .lock             flock()ed while a certmgr runs
 *
 * acme/ itself is 0711: the gateway must reach the default http-01 webroot
 * (acme/http-01) and a metrics collector metrics.prom through it.
 *
 * Every file is written atomically (temporary file, fsync, rename, fsync of
 * the directory) and read with a cap; a state file that does not parse is
 * reported and treated as absent.  See cm_acme.h.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm.h"
#include "cm_acme.h"

int
cm_state_path(const struct pol_certmgr *cfg, const char *sub, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", cfg->state_dir, sub);

    if (n < 0 || (size_t)n >= cap) {
        pc_log(LOG_ERR, "%s/%s: path too long", cfg->state_dir, sub);
        return PC_ERR_TOO_LARGE;
    }
    return PC_OK;
}

static int
order_path(const struct pol_certmgr *cfg, const char *name, const char *ext, char *out, size_t cap)
{
    char sub[PC_CONF_MAX_NAME + 32];

    snprintf(sub, sizeof(sub), "acme/orders/%s.%s", name, ext);
    return cm_state_path(cfg, sub, out, cap);
}

/* mkdir -p path; the last component gets `mode`, parents 0755. */
static int
mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    struct stat st;
    size_t i, n = strlen(path);

    if (n >= sizeof(buf))
        return PC_ERR_TOO_LARGE;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, i == n ? mode : 0755) == 0) {
            /* the mode we mean, whatever the umask (systemd's UMask=0077) */
            (void)chmod(buf, i == n ? mode : 0755);
        } else if (errno != EEXIST) {
            pc_log(LOG_ERR, "%s: cannot create: %s", buf, strerror(errno));
            return PC_ERR_IO;
        }
        if (i != n)
            buf[i] = '/';
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        pc_log(LOG_ERR, "%s: not a directory", path);
        return PC_ERR_IO;
    }
    return PC_OK;
}

int
cm_state_dirs(const struct pol_certmgr *cfg)
{
    static const struct {
        const char *sub;
        mode_t mode;
    } dirs[] = {{"acme", 0711}, {"acme/orders", 0700}, {"certs", 0755}};
    char path[PATH_MAX];
    size_t i;
    int rc;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        rc = cm_state_path(cfg, dirs[i].sub, path, sizeof(path));
        if (rc == PC_OK)
            rc = mkdirs(path, dirs[i].mode);
        if (rc != PC_OK)
            return rc;
    }
    return PC_OK;
}

int
cm_state_lock(const struct pol_certmgr *cfg, int *fd)
{
    char path[PATH_MAX];
    int rc = cm_state_path(cfg, "acme/.lock", path, sizeof(path));

    *fd = -1;
    if (rc != PC_OK)
        return rc;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd == -1) {
        pc_log(LOG_ERR, "%s: %s", path, strerror(errno));
        return PC_ERR_IO;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        pc_log(LOG_ERR, "%s: %s", path,
               saved == EWOULDBLOCK ? "held by another portcullis-certmgr" : strerror(saved));
        close(*fd);
        *fd = -1;
        return PC_ERR_BUSY;
    }
    return PC_OK;
}

/* --- JSON state files ---------------------------------------------------------------- */

/* Read path as a JSON object; PC_ERR_NOT_FOUND (silently) when it does not exist. */
static int
read_json(const char *path, json_t **out)
{
    json_error_t je;
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return PC_ERR_NOT_FOUND;
    rc = pc_file_read(path, CM_ACME_STATE_MAX_BYTES, &buf, &len);
    if (rc != PC_OK)
        return rc;
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (*out == NULL || !json_is_object(*out)) {
        pc_log(LOG_WARNING, "%s: not a JSON object (ignored): %s", path,
               *out == NULL ? je.text : "wrong type");
        json_decref(*out);
        *out = NULL;
        return PC_ERR_PARSE;
    }
    return PC_OK;
}

static int
write_json(const char *path, const json_t *o)
{
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc;

    if (text == NULL)
        return PC_ERR_INTERNAL;
    rc = pc_file_write_atomic(path, text, strlen(text), 0600);
    free(text);
    return rc;
}

/* --- the account ---------------------------------------------------------------------- */

int
cm_state_account_key(const struct pol_certmgr *cfg, EVP_PKEY **out)
{
    char path[PATH_MAX];
    struct stat st;
    char *pem = NULL;
    size_t len = 0;
    int rc = cm_state_path(cfg, "acme/account.key", path, sizeof(path));

    *out = NULL;
    if (rc != PC_OK)
        return rc;
    if (stat(path, &st) != 0) {
        /* first run: make the key, once; link() refuses to replace an existing one */
        rc = cm_acme_key_new(POL_CM_KEY_EC256, out);
        if (rc == PC_OK)
            rc = cm_acme_key_pem(*out, &pem, &len);
        if (rc == PC_OK)
            rc = cm_file_write_excl(path, pem, len, 0600);
        pc_free_secret(pem, len);
        if (rc == PC_OK) {
            pc_log(LOG_INFO, "account key created: %s (EC P-256)", path);
            return PC_OK;
        }
        EVP_PKEY_free(*out);
        *out = NULL;
        if (rc != PC_ERR_EXISTS) {
            pc_log(LOG_ERR, "account key: %s", cm_err_get() != NULL ? cm_err_get() : path);
            cm_err_clear();
            return rc;
        }
    }
    rc = cm_key_load(path, out); /* refuses a key others can read */
    if (rc == PC_OK && cm_jwk_key_algs(*out) != POL_ALG_ES256) {
        cm_err_set("%s: not an EC P-256 key (ES256)", path);
        rc = PC_ERR_INVALID;
    }
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "account key: %s", cm_err_get() != NULL ? cm_err_get() : path);
        cm_err_clear();
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return rc;
}

int
cm_state_account_url(const struct pol_certmgr *cfg, char **out)
{
    char path[PATH_MAX];
    json_t *o = NULL;
    const char *dir, *url;
    int rc = cm_state_path(cfg, "acme/account.json", path, sizeof(path));

    *out = NULL;
    if (rc == PC_OK)
        rc = read_json(path, &o);
    if (rc != PC_OK)
        return PC_ERR_NOT_FOUND;
    dir = json_string_value(json_object_get(o, "directory"));
    url = json_string_value(json_object_get(o, "url"));
    rc = PC_ERR_NOT_FOUND;
    /* an account belongs to one CA: another directory means a new account */
    if (dir != NULL && url != NULL && strcmp(dir, cfg->directory) == 0 &&
        cm_acme_url_ok(url, strlen(url))) {
        *out = pc_xstrdup(url);
        rc = PC_OK;
    }
    json_decref(o);
    return rc;
}

int
cm_state_account_save(const struct pol_certmgr *cfg, const char *url)
{
    char path[PATH_MAX];
    json_t *o = json_pack("{s:s, s:s}", "directory", cfg->directory, "url", url);
    int rc = cm_state_path(cfg, "acme/account.json", path, sizeof(path));

    if (o == NULL)
        rc = PC_ERR_INTERNAL;
    if (rc == PC_OK)
        rc = write_json(path, o);
    json_decref(o);
    return rc;
}

/* --- orders in flight -------------------------------------------------------------------- */

void
cm_state_order_clear(struct cm_order_state *o)
{
    size_t i;

    free(o->directory);
    free(o->url);
    for (i = 0; i < o->ndomains; i++)
        free(o->domains[i]);
    free(o->domains);
    memset(o, 0, sizeof(*o));
}

bool
cm_state_order_exists(const struct pol_certmgr *cfg, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    return order_path(cfg, name, "json", path, sizeof(path)) == PC_OK && stat(path, &st) == 0;
}

int
cm_state_order_load(const struct pol_certmgr *cfg, const char *name, struct cm_order_state *o)
{
    static const enum pol_cm_key kts[] = {POL_CM_KEY_EC256, POL_CM_KEY_EC384, POL_CM_KEY_RSA2048};
    char path[PATH_MAX];
    json_t *j = NULL, *doms;
    const char *dir, *url, *kt;
    size_t i;
    int rc = order_path(cfg, name, "json", path, sizeof(path));

    memset(o, 0, sizeof(*o));
    if (rc == PC_OK)
        rc = read_json(path, &j);
    if (rc != PC_OK)
        return rc;
    rc = PC_ERR_PARSE;
    dir = json_string_value(json_object_get(j, "directory"));
    url = json_string_value(json_object_get(j, "url"));
    kt = json_string_value(json_object_get(j, "key_type"));
    doms = json_object_get(j, "domains");
    if (dir == NULL || url == NULL || kt == NULL || !json_is_array(doms) ||
        json_array_size(doms) > POL_CM_MAX_DOMAINS || !cm_acme_url_ok(url, strlen(url)) ||
        !json_is_integer(json_object_get(j, "created")))
        goto out;
    o->directory = pc_xstrdup(dir);
    o->url = pc_xstrdup(url);
    o->created = (int64_t)json_integer_value(json_object_get(j, "created"));
    for (i = 0; i < sizeof(kts) / sizeof(kts[0]); i++)
        if (strcmp(kt, cm_acme_key_type_name(kts[i])) == 0)
            break;
    if (i == sizeof(kts) / sizeof(kts[0]))
        goto out;
    o->key_type = kts[i];
    o->domains = pc_xcalloc(json_array_size(doms) + 1, sizeof(*o->domains));
    for (i = 0; i < json_array_size(doms); i++) {
        const char *d = json_string_value(json_array_get(doms, i));
        if (d == NULL || strlen(d) > CM_ACME_IDENT_MAX + 2)
            goto out;
        o->domains[o->ndomains++] = pc_xstrdup(d);
    }
    rc = PC_OK;
out:
    if (rc != PC_OK) {
        pc_log(LOG_WARNING, "%s: not an order record (ignored)", path);
        cm_state_order_clear(o);
    }
    json_decref(j);
    return rc;
}

int
cm_state_order_save(const struct pol_certmgr *cfg, const char *name, const struct cm_order_state *o)
{
    char path[PATH_MAX];
    json_t *j, *doms = json_array();
    size_t i;
    int rc = order_path(cfg, name, "json", path, sizeof(path));

    for (i = 0; doms != NULL && i < o->ndomains; i++)
        json_array_append_new(doms, json_string(o->domains[i]));
    j = json_pack("{s:s, s:s, s:o, s:s, s:I}", "directory", o->directory, "url", o->url, "domains",
                  doms, "key_type", cm_acme_key_type_name(o->key_type), "created",
                  (json_int_t)o->created);
    if (j == NULL)
        rc = PC_ERR_INTERNAL;
    if (rc == PC_OK)
        rc = write_json(path, j);
    json_decref(j);
    return rc;
}

int
cm_state_order_key(const struct pol_certmgr *cfg, const char *name, EVP_PKEY **out)
{
    char path[PATH_MAX];
    struct stat st;
    int rc = order_path(cfg, name, "key", path, sizeof(path));

    *out = NULL;
    if (rc != PC_OK)
        return rc;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return PC_ERR_NOT_FOUND;
    rc = cm_key_load(path, out);
    if (rc != PC_OK) {
        pc_log(LOG_ERR, "pending key: %s", cm_err_get() != NULL ? cm_err_get() : path);
        cm_err_clear();
    }
    return rc;
}

int
cm_state_order_key_save(const struct pol_certmgr *cfg, const char *name, EVP_PKEY *key)
{
    char path[PATH_MAX];
    char *pem = NULL;
    size_t len = 0;
    int rc = order_path(cfg, name, "key", path, sizeof(path));

    if (rc == PC_OK)
        rc = cm_acme_key_pem(key, &pem, &len);
    if (rc == PC_OK)
        rc = pc_file_write_atomic(path, pem, len, 0600);
    pc_free_secret(pem, len);
    return rc;
}

void
cm_state_order_drop(const struct pol_certmgr *cfg, const char *name)
{
    char path[PATH_MAX];

    /* the record first: a key without a record is never used, only replaced */
    if (order_path(cfg, name, "json", path, sizeof(path)) == PC_OK && unlink(path) != 0 &&
        errno != ENOENT)
        pc_log(LOG_WARNING, "%s: %s", path, strerror(errno));
    if (order_path(cfg, name, "key", path, sizeof(path)) == PC_OK && unlink(path) != 0 &&
        errno != ENOENT)
        pc_log(LOG_WARNING, "%s: %s", path, strerror(errno));
}

/* --- status.json ----------------------------------------------------------------------- */

static int64_t
get_i64(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : 0;
}

void
cm_state_stats_load(const struct pol_certmgr *cfg, struct cm_cert_stats *stats)
{
    char path[PATH_MAX];
    json_t *o = NULL, *certs;
    size_t i;

    memset(stats, 0, cfg->ncerts * sizeof(*stats));
    if (cm_state_path(cfg, "acme/status.json", path, sizeof(path)) != PC_OK ||
        read_json(path, &o) != PC_OK)
        return;
    certs = json_object_get(o, "certs");
    for (i = 0; i < cfg->ncerts; i++) {
        const json_t *c = json_object_get(certs, cfg->certs[i].name);
        if (!json_is_object(c))
            continue;
        stats[i].renewals = (uint64_t)get_i64(c, "renewals");
        stats[i].failures = (uint64_t)get_i64(c, "failures");
        stats[i].consecutive = (unsigned)(get_i64(c, "consecutive_failures") & 0xffff);
        stats[i].last_success = get_i64(c, "last_success");
        stats[i].last_failure = get_i64(c, "last_failure");
        stats[i].next_attempt = get_i64(c, "next_attempt");
    }
    json_decref(o);
}

int
cm_state_stats_save(const struct pol_certmgr *cfg, const struct cm_cert_stats *stats)
{
    char path[PATH_MAX];
    json_t *certs = json_object(), *o;
    size_t i;
    int rc = cm_state_path(cfg, "acme/status.json", path, sizeof(path));

    for (i = 0; certs != NULL && i < cfg->ncerts; i++)
        json_object_set_new(certs, cfg->certs[i].name,
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "renewals",
                                      (json_int_t)stats[i].renewals, "failures",
                                      (json_int_t)stats[i].failures, "consecutive_failures",
                                      (json_int_t)stats[i].consecutive, "last_success",
                                      (json_int_t)stats[i].last_success, "last_failure",
                                      (json_int_t)stats[i].last_failure, "next_attempt",
                                      (json_int_t)stats[i].next_attempt));
    o = json_pack("{s:o}", "certs", certs);
    if (o == NULL)
        rc = PC_ERR_INTERNAL;
    if (rc == PC_OK)
        rc = write_json(path, o);
    json_decref(o);
    return rc;
}
