/*
 * The one failure reason of a portcullis-admin run.  See cm.h.
 *
 * A command line tool reports one line per failure, so instead of logging at
 * every level the deepest function that knows the cause records it here and
 * the callers only propagate; main() prints it.  The process is single
 * threaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "common/pc_log.h"
#include "cm.h"

static char err_msg[CM_ERR_MAX];
static bool err_isset;

void
cm_err_set(const char *fmt, ...)
{
    va_list ap;

    if (err_isset)
        return; /* the first reason is the deepest, hence the most precise */
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    err_isset = true;
}

void
cm_err_ssl(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

    if (why != NULL)
        cm_err_set("%s: %s", what, why);
    else
        cm_err_set("%s: OpenSSL error", what);
    ERR_clear_error();
}

void
cm_err_prefix(const char *fmt, ...)
{
    char old[CM_ERR_MAX];
    size_t n, m;
    va_list ap;

    memcpy(old, err_msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    if (!err_isset) {
        err_isset = true;
        return;
    }
    /* "context: old", cut at CM_ERR_MAX */
    n = strlen(err_msg);
    m = strlen(old);
    if (n + 2 + m >= sizeof(err_msg))
        m = n + 2 < sizeof(err_msg) ? sizeof(err_msg) - n - 3 : 0;
    if (n + 2 + m < sizeof(err_msg)) {
        memcpy(err_msg + n, ": ", 2);
        memcpy(err_msg + n + 2, old, m);
        err_msg[n + 2 + m] = '\0';
    }
}

void
cm_err_errno(const char *what, int err)
{
    cm_err_set("%s: %s", what, strerror(err));
}

const char *
cm_err_get(void)
{
    return err_isset ? err_msg : NULL;
}

void
cm_err_clear(void)
{
    err_isset = false;
    err_msg[0] = '\0';
}

const char *
cm_esc(char *buf, const char *s, size_t len)
{
    return pc_log_esc(buf, CM_ESC_MAX, s, len);
}
