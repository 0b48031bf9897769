/*
 * Files of the client CA: bounded reads and atomic writes that record the
 * reason for the one-line error, the never-overwrite write for keys, and the
 * private key loader that refuses a key others can read.  See cm.h.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_mem.h"
#include "cm.h"

int
cm_path(char *out, size_t cap, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int n;

    /* "dir/" + "name" reads better than "dir//name" in messages */
    n = snprintf(out, cap, "%s%s%s", dir, dl > 0 && dir[dl - 1] == '/' ? "" : "/", name);
    if (n < 0 || (size_t)n >= cap) {
        cm_err_set("%s/%s: path too long", dir, name);
        return PC_ERR_TOO_LARGE;
    }
    return PC_OK;
}

int
cm_file_read(const char *path, size_t max, char **out, size_t *len)
{
    int rc, saved;

    rc = pc_file_read(path, max, out, len);
    saved = errno; /* pc_file_read logs with errno preserved */
    switch (rc) {
    case PC_OK:
        break;
    case PC_ERR_TOO_LARGE:
        cm_err_set("%s: larger than the limit of %zu bytes", path, max);
        break;
    case PC_ERR_INVALID:
        cm_err_set("%s: not a regular file", path);
        break;
    default:
        cm_err_errno(path, saved);
        break;
    }
    return rc;
}

int
cm_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
    int rc, saved;

    rc = pc_file_write_atomic(path, data, len, mode);
    saved = errno;
    if (rc == PC_ERR_TOO_LARGE)
        cm_err_set("%s: path too long", path);
    else if (rc != PC_OK)
        cm_err_set("%s: cannot write: %s", path, strerror(saved));
    return rc;
}

int
cm_file_write_excl(const char *path, const void *data, size_t len, mode_t mode)
{
    int rc, saved;

    rc = pc_file_write_new(path, data, len, mode);
    saved = errno;
    if (rc == PC_ERR_TOO_LARGE)
        cm_err_set("%s: path too long", path);
    else if (rc == PC_ERR_EXISTS)
        cm_err_set("%s: already exists", path);
    else if (rc != PC_OK)
        cm_err_set("%s: cannot create: %s", path, strerror(saved));
    return rc;
}

int
cm_key_load(const char *path, EVP_PKEY **out)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    int rc = PC_ERR_IO;

    *out = NULL;
    if (stat(path, &st) == -1) {
        cm_err_errno(path, errno);
        goto out;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        cm_err_set("%s: private key is accessible by group or others (mode %04o); "
                   "chmod 600 it",
                   path, (unsigned)(st.st_mode & 07777));
        rc = PC_ERR_DENIED;
        goto out;
    }
    rc = cm_file_read(path, PC_PEM_MAX_BYTES, &buf, &len);
    if (rc != PC_OK)
        goto out;
    rc = PC_ERR_CRYPTO;
    bio = BIO_new_mem_buf(buf, (int)len); /* len <= PC_PEM_MAX_BYTES fits an int */
    if (bio == NULL) {
        cm_err_ssl(path);
        goto out;
    }
    *out = PEM_read_bio_PrivateKey(bio, NULL, cm_no_password, NULL);
    if (*out == NULL) {
        cm_err_ssl(path);
        rc = PC_ERR_PARSE;
        goto out;
    }
    rc = PC_OK;
out:
    BIO_free(bio);
    pc_free_secret(buf, len);
    return rc;
}
