/*
 * Bounded file reads and atomic file writes.  See pc_file.h.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pc_err.h"
#include "pc_file.h"
#include "pc_log.h"
#include "pc_mem.h"

int
pc_file_read(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd = -1, rc = PC_ERR_IO;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        int saved = errno;
        pc_log(LOG_ERR, "%s: %s", path, strerror(saved));
        rc = saved == ENOENT ? PC_ERR_NOT_FOUND : PC_ERR_IO;
        goto out;
    }
    if (fstat(fd, &st) == -1) {
        pc_log(LOG_ERR, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        pc_log(LOG_ERR, "%s: not a regular file", path);
        rc = PC_ERR_INVALID;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        pc_log(LOG_ERR, "%s: %lld bytes, more than the limit of %zu", path, (long long)st.st_size,
               max);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    buf = pc_xmalloc((size_t)st.st_size + 1);
    /* read until EOF, but never past max (the file may grow under us) */
    for (;;) {
        if (got == (size_t)st.st_size + 1) {
            pc_log(LOG_ERR, "%s: changed while being read", path);
            rc = PC_ERR_IO;
            goto out;
        }
        n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            pc_log(LOG_ERR, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
    rc = PC_OK;
out:
    free(buf);
    if (fd != -1)
        close(fd);
    return rc;
}

static int
write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void
fsync_dir_of(const char *path)
{
    char *copy = pc_xstrdup(path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd != -1) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(copy);
}

int
pc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = PC_ERR_IO, n;
    int made = 0;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        pc_log(LOG_ERR, "%s: path too long", path);
        return PC_ERR_TOO_LARGE;
    }
    fd = mkstemp(tmp);
    if (fd == -1) {
        pc_log(LOG_ERR, "%s: cannot create a temporary file: %s", path, strerror(errno));
        goto out;
    }
    made = 1;
    if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 || fsync(fd) == -1) {
        pc_log(LOG_ERR, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) == -1) {
        fd = -1;
        pc_log(LOG_ERR, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) == -1) {
        pc_log(LOG_ERR, "%s: rename: %s", path, strerror(errno));
        goto out;
    }
    made = 0;
    fsync_dir_of(path);
    rc = PC_OK;
out:
    if (fd != -1)
        close(fd);
    if (made)
        unlink(tmp);
    return rc;
}

int
pc_file_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = PC_ERR_IO, n;
    int made = 0;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        pc_log(LOG_ERR, "%s: path too long", path);
        return PC_ERR_TOO_LARGE;
    }
    fd = mkstemp(tmp); /* 0600 from the start: a key is never readable by others */
    if (fd == -1) {
        pc_log(LOG_ERR, "%s: cannot create a temporary file: %s", path, strerror(errno));
        goto out;
    }
    made = 1;
    if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 || fsync(fd) == -1) {
        pc_log(LOG_ERR, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    n = close(fd);
    fd = -1;
    if (n == -1) {
        pc_log(LOG_ERR, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    /*
     * link(2) is the atomic "create unless it exists" for a complete file:
     * O_EXCL semantics without ever exposing a half-written file.
     * XXX: file systems without hard links (vfat) are not supported.
     */
    if (link(tmp, path) == -1) {
        int saved = errno;
        if (saved == EEXIST) {
            pc_log(LOG_ERR, "%s: already exists", path);
            rc = PC_ERR_EXISTS;
        } else {
            pc_log(LOG_ERR, "%s: cannot create: %s", path, strerror(saved));
        }
        errno = saved;
        goto out;
    }
    fsync_dir_of(path);
    rc = PC_OK;
out:
    if (fd != -1)
        close(fd);
    if (made) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    return rc;
}
