/*
 * The CA directory: ca.key, ca.pem, index.json, crl.pem, issued/, .lock.
 * Every read-modify-write holds an exclusive flock(2) on DIR/.lock for its
 * whole length and readers a shared one, so parallel runs serialise and never
 * see a half-updated index; files are replaced with temp+fsync+rename.  The
 * CA key is read only to sign and freed right after.  See cm.h and
 * docs/internals/CA.md (which explains the order of the writes).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "cm.h"

#define CM_LOCK_POLL_MS 20 /* retry interval while another run holds the lock */

struct cm_ca {
    char dir[PATH_MAX];
    char index_path[PATH_MAX];
    int lock_fd; /* -1 once unlocked */
    X509 *cert;  /* NULL unless opened with need_cert */
    struct cm_index index;
};

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take DIR/.lock, waiting at most CM_LOCK_TIMEOUT_MS. */
static int
lock_dir(const char *dir, bool exclusive, int *fd_out)
{
    char path[PATH_MAX];
    struct timespec nap = {0, CM_LOCK_POLL_MS * 1000000L};
    long long deadline = mono_ms() + CM_LOCK_TIMEOUT_MS;
    int fd, rc;

    *fd_out = -1;
    rc = cm_path(path, sizeof(path), dir, ".lock");
    if (rc != PC_OK)
        return rc;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1 && !exclusive && (errno == EACCES || errno == EROFS))
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* a reader without write access */
    if (fd == -1) {
        cm_err_errno(path, errno);
        return PC_ERR_IO;
    }
    while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == -1) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            cm_err_set("%s: flock: %s", path, strerror(errno));
            close(fd);
            return PC_ERR_IO;
        }
        if (mono_ms() >= deadline) {
            cm_err_set("%s is locked by another portcullis-admin (waited %d s)", dir,
                       CM_LOCK_TIMEOUT_MS / 1000);
            close(fd);
            return PC_ERR_BUSY;
        }
        nanosleep(&nap, NULL);
    }
    *fd_out = fd;
    return PC_OK;
}

/* Whether DIR/name exists (as anything, symlinks not followed). */
static bool
exists_in(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    return cm_path(path, sizeof(path), dir, name) == PC_OK && lstat(path, &st) == 0;
}

/* mkdir -p: missing parents 0755, the last component `mode`. */
static int
make_dirs(const char *dir, mode_t mode)
{
    char path[PATH_MAX];
    struct stat st;
    size_t len = strlen(dir), i;

    if (len == 0 || len >= sizeof(path)) {
        cm_err_set("%s: bad directory name", dir);
        return PC_ERR_INVALID;
    }
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    for (i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdir(path, i == len ? mode : 0755) == -1 && errno != EEXIST) {
            cm_err_set("cannot create %s: %s", path, strerror(errno));
            return PC_ERR_IO;
        }
        if (i < len)
            path[i] = '/';
    }
    if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
        cm_err_set("%s: not a directory", path);
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

static int
load_cert(const char *dir, X509 **out)
{
    char path[PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    int rc;

    rc = cm_path(path, sizeof(path), dir, "ca.pem");
    if (rc == PC_OK)
        rc = cm_file_read(path, PC_PEM_MAX_BYTES, &buf, &len);
    if (rc == PC_OK)
        rc = cm_cert_parse(buf, len, path, out);
    free(buf);
    return rc;
}

int
cm_ca_open(const char *dir, bool exclusive, bool need_cert, struct cm_ca **out)
{
    struct cm_ca *ca = pc_xcalloc(1, sizeof(*ca));
    struct stat st;
    int rc;

    *out = NULL;
    ca->lock_fd = -1;
    cm_index_init(&ca->index);
    rc = cm_path(ca->index_path, sizeof(ca->index_path), dir, "index.json");
    if (rc != PC_OK)
        goto out;
    snprintf(ca->dir, sizeof(ca->dir), "%s", dir); /* shorter than index_path */
    if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || !exists_in(dir, "index.json")) {
        cm_err_set("CA not initialised in %s (run: portcullis-admin --ca-dir %s ca init)", dir,
                   dir);
        rc = PC_ERR_NOT_FOUND;
        goto out;
    }
    rc = lock_dir(dir, exclusive, &ca->lock_fd);
    if (rc == PC_OK)
        rc = cm_index_load(ca->index_path, &ca->index);
    if (rc == PC_OK && need_cert)
        rc = load_cert(dir, &ca->cert);
    if (rc != PC_OK)
        goto out;
    *out = ca;
    ca = NULL;
out:
    cm_ca_close(ca);
    return rc;
}

void
cm_ca_unlock(struct cm_ca *ca)
{
    if (ca->lock_fd != -1) {
        close(ca->lock_fd); /* releases the flock */
        ca->lock_fd = -1;
    }
}

void
cm_ca_close(struct cm_ca *ca)
{
    if (ca == NULL)
        return;
    cm_ca_unlock(ca);
    X509_free(ca->cert);
    cm_index_clear(&ca->index);
    free(ca);
}

struct cm_index *
cm_ca_index(struct cm_ca *ca)
{
    return &ca->index;
}

X509 *
cm_ca_cert(struct cm_ca *ca)
{
    return ca->cert;
}

const char *
cm_ca_dir(const struct cm_ca *ca)
{
    return ca->dir;
}

int
cm_ca_key(struct cm_ca *ca, EVP_PKEY **out)
{
    char path[PATH_MAX];
    int rc;

    *out = NULL;
    rc = cm_path(path, sizeof(path), ca->dir, "ca.key");
    if (rc == PC_OK)
        rc = cm_key_load(path, out);
    if (rc != PC_OK)
        return rc;
    if (ca->cert != NULL && X509_check_private_key(ca->cert, *out) != 1) {
        cm_err_set("%s does not match %s/ca.pem", path, ca->dir);
        EVP_PKEY_free(*out);
        *out = NULL;
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

/* An index.json without ca.key is what an interrupted init leaves: reuse it only when empty. */
static int
check_leftover_index(const char *dir)
{
    char path[PATH_MAX];
    struct cm_index idx;
    int rc;

    if (!exists_in(dir, "index.json"))
        return PC_OK;
    rc = cm_path(path, sizeof(path), dir, "index.json");
    if (rc == PC_OK)
        rc = cm_index_load(path, &idx);
    if (rc != PC_OK)
        return rc;
    if (idx.n > 0) {
        cm_err_set("%s lists %zu certificates but there is no ca.key; refusing to overwrite it",
                   path, idx.n);
        rc = PC_ERR_EXISTS;
    }
    cm_index_clear(&idx);
    return rc;
}

/* Build the CA certificate and the first (empty) CRL, in memory. */
static int
init_build(const char *cn, EVP_PKEY *key, char **cert_pem, size_t *cert_len, char **crl_pem,
           size_t *crl_len)
{
    unsigned char serial[CM_SERIAL_RAND_BYTES];
    struct cm_certspec spec;
    struct cm_index empty;
    time_t now = time(NULL);
    X509 *x = NULL;
    int rc;

    cm_index_init(&empty);
    rc = cm_serial_random(serial);
    if (rc != PC_OK)
        return rc;
    memset(&spec, 0, sizeof(spec));
    spec.cn = cn;
    spec.serial = serial;
    spec.serial_len = sizeof(serial);
    spec.not_before = now - CM_BACKDATE_SEC;
    spec.not_after = now + (time_t)CM_CA_DAYS * 86400;
    spec.is_ca = true;
    rc = cm_cert_build(&spec, key, NULL, key, &x);
    if (rc == PC_OK)
        rc = cm_cert_pem(x, cert_pem, cert_len);
    if (rc == PC_OK)
        rc = cm_crl_build(x, key, &empty, 1, now, CM_CRL_NEXT_DEFAULT_SEC, crl_pem, crl_len);
    X509_free(x);
    return rc;
}

static int
init_write(const char *dir, EVP_PKEY *key, const char *cert_pem, size_t cert_len,
           const char *crl_pem, size_t crl_len)
{
    char p_cert[PATH_MAX], p_index[PATH_MAX], p_crl[PATH_MAX], p_key[PATH_MAX], p_iss[PATH_MAX];
    struct cm_index idx;
    char *key_pem = NULL;
    size_t key_len = 0;
    int rc, written = 0;

    cm_index_init(&idx);
    idx.crl_number = 1; /* crl.pem below carries number 1 */
    rc = cm_path(p_cert, sizeof(p_cert), dir, "ca.pem");
    if (rc == PC_OK)
        rc = cm_path(p_index, sizeof(p_index), dir, "index.json");
    if (rc == PC_OK)
        rc = cm_path(p_crl, sizeof(p_crl), dir, "crl.pem");
    if (rc == PC_OK)
        rc = cm_path(p_key, sizeof(p_key), dir, "ca.key");
    if (rc == PC_OK)
        rc = cm_path(p_iss, sizeof(p_iss), dir, "issued");
    if (rc == PC_OK)
        rc = make_dirs(p_iss, 0700);
    if (rc == PC_OK)
        rc = cm_key_pem(key, &key_pem, &key_len);
    if (rc != PC_OK)
        goto out;
    /* ca.key last: until it exists the CA does not, and init can run again */
    rc = cm_file_write(p_cert, cert_pem, cert_len, 0644);
    if (rc != PC_OK)
        goto out;
    written = 1;
    rc = cm_index_save(p_index, &idx);
    if (rc != PC_OK)
        goto out;
    written = 2;
    rc = cm_file_write(p_crl, crl_pem, crl_len, 0644);
    if (rc != PC_OK)
        goto out;
    written = 3;
    rc = cm_file_write_excl(p_key, key_pem, key_len, 0600);
out:
    if (rc != PC_OK) {
        /* leave nothing of this run behind */
        if (written >= 3)
            unlink(p_crl);
        if (written >= 2)
            unlink(p_index);
        if (written >= 1)
            unlink(p_cert);
    }
    pc_free_secret(key_pem, key_len);
    return rc;
}

int
cm_ca_init(const char *dir, const char *cn, enum cm_key_type kt)
{
    EVP_PKEY *key = NULL;
    char *cert_pem = NULL, *crl_pem = NULL;
    size_t cert_len = 0, crl_len = 0;
    int lock_fd = -1, rc;

    rc = make_dirs(dir, 0700);
    if (rc == PC_OK)
        rc = lock_dir(dir, true, &lock_fd);
    if (rc != PC_OK)
        goto out;
    if (exists_in(dir, "ca.key")) {
        cm_err_set("CA already initialised in %s", dir);
        rc = PC_ERR_EXISTS;
        goto out;
    }
    rc = check_leftover_index(dir);
    if (rc == PC_OK)
        rc = cm_key_generate(kt, &key);
    if (rc == PC_OK)
        rc = init_build(cn, key, &cert_pem, &cert_len, &crl_pem, &crl_len);
    if (rc == PC_OK)
        rc = init_write(dir, key, cert_pem, cert_len, crl_pem, crl_len);
out:
    EVP_PKEY_free(key);
    free(cert_pem);
    free(crl_pem);
    if (lock_fd != -1)
        close(lock_fd);
    return rc;
}

int
cm_ca_crl(struct cm_ca *ca, const char *out_path, time_t next_update_sec, uint64_t *number_out)
{
    char path[PATH_MAX];
    EVP_PKEY *key = NULL;
    char *pem = NULL;
    size_t len = 0;
    uint64_t number = ca->index.crl_number + 1, prev = ca->index.crl_number;
    int rc;

    if (number > CM_CRL_NUMBER_MAX) {
        cm_err_set("%s: crl_number cannot grow any more", ca->index_path);
        return PC_ERR_INVALID;
    }
    if (out_path == NULL) {
        rc = cm_path(path, sizeof(path), ca->dir, "crl.pem");
        if (rc != PC_OK)
            return rc;
        out_path = path;
    }
    rc = cm_ca_key(ca, &key);
    if (rc == PC_OK)
        rc = cm_crl_build(ca->cert, key, &ca->index, number, time(NULL), next_update_sec, &pem,
                          &len);
    EVP_PKEY_free(key); /* the CA key lives only as long as the signature */
    key = NULL;
    if (rc != PC_OK)
        goto out;
    /* the number is saved first: a crash then skips a number, never reuses one */
    ca->index.crl_number = number;
    rc = cm_index_save(ca->index_path, &ca->index);
    if (rc != PC_OK) {
        ca->index.crl_number = prev;
        goto out;
    }
    rc = cm_file_write(out_path, pem, len, 0644);
    if (rc == PC_OK)
        *number_out = number;
out:
    free(pem);
    return rc;
}

static void
sans_copy(struct cm_sans *dst, const struct cm_sans *src)
{
    size_t i;

    for (i = 0; i < src->uri.n; i++)
        cm_strv_push(&dst->uri, src->uri.v[i], strlen(src->uri.v[i]));
    for (i = 0; i < src->dns.n; i++)
        cm_strv_push(&dst->dns, src->dns.v[i], strlen(src->dns.v[i]));
    for (i = 0; i < src->email.n; i++)
        cm_strv_push(&dst->email, src->email.v[i], strlen(src->email.v[i]));
}

/* A random serial in neither the index nor issued/ (a collision is 2^-127, but check). */
static int
fresh_serial(struct cm_ca *ca, unsigned char *serial, char *hex)
{
    char name[CM_SERIAL_HEX_MAX + 16];
    int i, rc;

    for (i = 0; i < CM_SERIAL_TRIES; i++) {
        rc = cm_serial_random(serial);
        if (rc != PC_OK)
            return rc;
        cm_serial_hex(serial, CM_SERIAL_RAND_BYTES, hex);
        snprintf(name, sizeof(name), "issued/%s.pem", hex);
        if (cm_index_find(&ca->index, hex) == NULL && !exists_in(ca->dir, name))
            return PC_OK;
    }
    cm_err_set("no unused serial after %d tries (is the random generator broken?)",
               CM_SERIAL_TRIES);
    return PC_ERR_INTERNAL;
}

int
cm_ca_issue(struct cm_ca *ca, const char *name, const struct cm_sans *sans, time_t not_before,
            time_t not_after, EVP_PKEY *pub, X509 **cert_out, char *serial_out)
{
    unsigned char serial[CM_SERIAL_RAND_BYTES];
    char hex[CM_SERIAL_HEX_MAX + 1], tbuf[CM_TIME_LEN + 1], rel[CM_SERIAL_HEX_MAX + 16];
    char path[PATH_MAX];
    struct cm_certspec spec;
    struct cm_entry e;
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    char *pem = NULL;
    size_t len = 0;
    int rc, c;

    *cert_out = NULL;
    memset(&e, 0, sizeof(e));
    if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(ca->cert), not_after) < 0) {
        struct tm tm;
        c = ASN1_TIME_to_tm(X509_get0_notAfter(ca->cert), &tm);
        cm_err_set("the certificate would outlive the CA certificate (valid until %s)",
                   c == 1 ? cm_time_format(timegm(&tm), tbuf) : "?");
        return PC_ERR_INVALID;
    }
    rc = fresh_serial(ca, serial, hex);
    if (rc != PC_OK)
        return rc;
    snprintf(rel, sizeof(rel), "issued/%s.pem", hex);
    memset(&spec, 0, sizeof(spec));
    spec.cn = name;
    spec.serial = serial;
    spec.serial_len = sizeof(serial);
    spec.not_before = not_before;
    spec.not_after = not_after;
    spec.sans = sans;
    rc = cm_path(path, sizeof(path), ca->dir, "issued");
    if (rc == PC_OK)
        rc = make_dirs(path, 0700); /* init made it; a restored backup may lack it */
    if (rc == PC_OK)
        rc = cm_path(path, sizeof(path), ca->dir, rel);
    if (rc == PC_OK)
        rc = cm_ca_key(ca, &key);
    if (rc == PC_OK)
        rc = cm_cert_build(&spec, pub, ca->cert, key, &x);
    EVP_PKEY_free(key); /* the CA key lives only as long as the signature */
    key = NULL;
    if (rc == PC_OK)
        rc = cm_cert_pem(x, &pem, &len);
    /* 1. the copy in issued/, 2. the index: a crash never leaves a cert out of the index */
    if (rc == PC_OK)
        rc = cm_file_write_excl(path, pem, len, 0644);
    if (rc != PC_OK)
        goto out;
    memcpy(e.serial, hex, sizeof(hex));
    e.name = pc_xstrdup(name);
    sans_copy(&e.sans, sans);
    e.not_before = not_before;
    e.not_after = not_after;
    e.status = CM_STATUS_VALID;
    cm_index_add(&ca->index, &e);
    rc = cm_index_save(ca->index_path, &ca->index);
    if (rc != PC_OK) {
        /* never handed out: take it back out of memory and issued/ */
        cm_entry_clear(&ca->index.certs[--ca->index.n]);
        unlink(path);
        goto out;
    }
    memcpy(serial_out, hex, sizeof(hex));
    *cert_out = x;
    x = NULL;
out:
    X509_free(x);
    free(pem);
    return rc;
}

int
cm_ca_revoke(struct cm_ca *ca, const size_t *which, size_t n, int reason, time_t when)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        struct cm_entry *e = &ca->index.certs[which[i]];
        e->status = CM_STATUS_REVOKED;
        e->revoked_at = when;
        e->reason = reason;
    }
    rc = cm_index_save(ca->index_path, &ca->index);
    if (rc != PC_OK) {
        for (i = 0; i < n; i++)
            ca->index.certs[which[i]].status = CM_STATUS_VALID;
    }
    return rc;
}
