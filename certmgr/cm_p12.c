/*
 * `client issue --p12`: the password (environment or terminal) and the
 * PKCS#12 file.  Modern algorithms only: PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC) for the key and the certificates, HMAC-SHA256 for the MAC; no
 * RC2, no 3DES, no SHA-1 MAC.  See cm.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pkcs12.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "cm.h"

static void
tty_puts(int fd, const char *s)
{
    size_t len = strlen(s);

    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the prompt is a courtesy; reading decides */
        s += n;
        len -= (size_t)n;
    }
}

/* One line from fd into buf (cap bytes, NUL-terminated); PC_ERR_TOO_LARGE past cap. */
static int
tty_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool over = false;
    char c;

    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (n == 0 && !over)
                return PC_ERR_IO; /* EOF before any input: no answer */
            break;
        }
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 >= cap)
            over = true; /* keep reading to the end of the line, keep nothing */
        else
            buf[n++] = c;
    }
    buf[n] = '\0';
    *len = n;
    return over ? PC_ERR_TOO_LARGE : PC_OK;
}

static int
prompt_twice(int fd, char *a, char *b, size_t cap, size_t *la)
{
    size_t lb = 0;
    int rc;

    tty_puts(fd, "PKCS#12 password: ");
    rc = tty_line(fd, a, cap, la);
    tty_puts(fd, "\n");
    if (rc == PC_OK) {
        tty_puts(fd, "PKCS#12 password (again): ");
        rc = tty_line(fd, b, cap, &lb);
        tty_puts(fd, "\n");
    }
    if (rc == PC_ERR_TOO_LARGE) {
        cm_err_set("--p12: password longer than %d bytes", CM_P12_PASS_MAX);
    } else if (rc != PC_OK) {
        cm_err_set("--p12: no password given on the terminal");
    } else if (*la != lb || CRYPTO_memcmp(a, b, lb) != 0) {
        cm_err_set("--p12: the passwords do not match");
        rc = PC_ERR_INVALID;
    } else if (*la == 0) {
        cm_err_set("--p12: an empty password is refused");
        rc = PC_ERR_INVALID;
    }
    return rc;
}

/* Ask on /dev/tty twice, echo off. */
static int
password_from_tty(char **out)
{
    char a[CM_P12_PASS_MAX + 2], b[CM_P12_PASS_MAX + 2];
    struct termios old, quiet;
    size_t la = 0;
    int fd, rc = PC_ERR_IO;

    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd == -1) {
        cm_err_set("--p12 needs a password: set %s or run on a terminal (/dev/tty: %s)",
                   CM_P12_PASS_ENV, strerror(errno));
        return PC_ERR_DENIED;
    }
    if (tcgetattr(fd, &old) == -1) {
        cm_err_set("--p12 needs a password: set %s or run on a terminal", CM_P12_PASS_ENV);
        close(fd);
        return PC_ERR_DENIED;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    /* XXX: a signal while echo is off leaves the terminal silent (like early ssh-keygen) */
    if (tcsetattr(fd, TCSAFLUSH, &quiet) == -1) {
        cm_err_errno("/dev/tty", errno);
        goto out;
    }
    rc = prompt_twice(fd, a, b, sizeof(a) - 1, &la);
    (void)tcsetattr(fd, TCSAFLUSH, &old);
    if (rc == PC_OK)
        *out = pc_xstrndup(a, la);
out:
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    close(fd);
    return rc;
}

int
cm_p12_password(char **out)
{
    const char *env = getenv(CM_P12_PASS_ENV);
    size_t len;

    *out = NULL;
    if (env == NULL)
        return password_from_tty(out);
    len = strnlen(env, CM_P12_PASS_MAX + 1);
    if (len == 0) {
        cm_err_set("%s is empty; an empty PKCS#12 password is refused", CM_P12_PASS_ENV);
        return PC_ERR_INVALID;
    }
    if (len > CM_P12_PASS_MAX) {
        cm_err_set("%s is longer than %d bytes", CM_P12_PASS_ENV, CM_P12_PASS_MAX);
        return PC_ERR_TOO_LARGE;
    }
    *out = pc_xstrndup(env, len);
    return PC_OK;
}

int
cm_p12_build(const char *pass, const char *name, EVP_PKEY *key, X509 *cert, X509 *ca, char **der,
             size_t *len)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    unsigned char *buf = NULL;
    int n, rc = PC_ERR_CRYPTO;

    *der = NULL;
    *len = 0;
    if (chain == NULL || sk_X509_push(chain, ca) <= 0)
        goto out;
    /*
     * A cipher NID (not a PKCS#12 PBE NID) selects PBES2 with PBKDF2; the MAC
     * is added below with an explicit SHA-256 (mac_iter -1: none here).
     */
    p12 = PKCS12_create_ex(pass, name, key, cert, chain, NID_aes_256_cbc, NID_aes_256_cbc,
                           CM_P12_ITER, -1, 0, NULL, NULL);
    if (p12 == NULL || PKCS12_set_mac(p12, pass, -1, NULL, 0, CM_P12_ITER, EVP_sha256()) != 1)
        goto out;
    n = i2d_PKCS12(p12, &buf);
    if (n <= 0)
        goto out;
    *der = pc_xmemdup(buf, (size_t)n);
    *len = (size_t)n;
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_err_ssl("building the PKCS#12 file");
    OPENSSL_free(buf);
    PKCS12_free(p12);
    sk_X509_free(chain); /* the certificates stay the caller's */
    return rc;
}
