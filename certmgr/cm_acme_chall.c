/*
 * Challenge providers: where the answer to a challenge goes before the CA
 * is told to look.
 *
 *   dns-01 exec      `command present|cleanup FQDN. VALUE`, no shell, with a
 *                    timeout, its output logged; a non-zero exit fails
 *   dns-01 rfc2136   a TSIG-signed dynamic update (certmgr/cm_dns.c)
 *   http-01          the key authorization in WEBROOT/TOKEN, which the
 *                    gateway's plain listener serves at
 *                    /.well-known/acme-challenge/TOKEN
 *
 * For dns-01 with resolvers, certmgr then waits until every resolver
 * answers the TXT value (cm_dns_wait_txt) before it tells the CA.  Cleanup
 * is always attempted for what was presented.  See cm_acme.h.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_file.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "cm_acme.h"
#include "cm_dns.h"

#define PC_STR_(x)      #x
#define PC_STRINGIFY(x) PC_STR_(x)
#define CMD_POLL_MS     100  /* how often a running command is checked */
#define CMD_LINGER_MS   1000 /* output read after the command exited */

extern char **environ;

void
cm_chall_job_clear(struct cm_chall_job *j)
{
    free(j->fqdn);
    free(j->token);
    pc_free_secret_str(j->key_authz);
    free(j->chall_url);
    free(j->authz_url);
    memset(j, 0, sizeof(*j));
}

/* --- running a command ------------------------------------------------------------------ */

/* Log the captured output line by line, escaped. */
static void
log_output(const char *what, const char *out, size_t len, bool cut)
{
    char esc[512];
    size_t i = 0, lines = 0, skipped = 0;

    while (i < len) {
        const char *nl = memchr(out + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (out + i)) : len - i;
        if (n > 0 && out[i + n - 1] == '\r')
            n--;
        if (n > 0 && lines < CM_ACME_OUTPUT_LINES) {
            pc_log(LOG_INFO, "%s: | %s", what, pc_log_esc(esc, sizeof(esc), out + i, n));
            lines++;
        } else if (n > 0) {
            skipped++;
        }
        i += (nl != NULL ? (size_t)(nl - (out + i)) + 1 : len - i);
    }
    if (skipped > 0 || cut)
        pc_log(LOG_INFO, "%s: | (%zu more line(s) not logged%s)", what, skipped,
               cut ? "; output cut at " PC_STRINGIFY(CM_ACME_OUTPUT_MAX) " bytes" : "");
}

static int
spawn(char *const *argv, int outfd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defs;
    int err;

    sigemptyset(&none);
    sigemptyset(&defs);
    sigaddset(&defs, SIGTERM);
    sigaddset(&defs, SIGINT);
    sigaddset(&defs, SIGHUP);
    sigaddset(&defs, SIGPIPE);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outfd, 1);
    posix_spawn_file_actions_adddup2(&fa, outfd, 2);
    /* its own process group (killed as a whole on timeout), our blocked signals unblocked */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defs);
    err = strchr(argv[0], '/') != NULL ? posix_spawn(pid, argv[0], &fa, &attr, argv, environ)
                                       : posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return err;
}

int
cm_run_cmd(char *const *argv, uint64_t timeout_ms, bool interruptible, const char *what)
{
    char out[CM_ACME_OUTPUT_MAX], esc[256], sink[4096];
    uint64_t deadline = cm_now_ms() + timeout_ms;
    size_t len = 0;
    bool eof = false, exited = false, cut = false, killed = false, timed_out = false;
    bool stopping = false;
    int p[2] = {-1, -1}, status = 0, err, rc = PC_ERR_IO;
    pid_t pid = -1;

    pc_log_esc(esc, sizeof(esc), argv[0], strlen(argv[0]));
    if (pipe2(p, O_CLOEXEC) != 0) {
        pc_log(LOG_ERR, "%s: pipe: %s", what, strerror(errno));
        return PC_ERR_IO;
    }
    err = spawn(argv, p[1], &pid);
    close(p[1]);
    p[1] = -1;
    if (err != 0) {
        pc_log(LOG_ERR, "%s: cannot run %s: %s", what, esc, strerror(err));
        close(p[0]);
        return PC_ERR_IO;
    }
    while (!(eof && exited)) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            /* what it left running gets a moment to finish its output, no more */
            if (deadline > cm_now_ms() + CMD_LINGER_MS)
                deadline = cm_now_ms() + CMD_LINGER_MS;
        }
        if (!killed && (cm_now_ms() >= deadline || (interruptible && cm_stop_requested()))) {
            stopping = cm_now_ms() < deadline;
            (void)kill(-pid, SIGKILL); /* the whole process group */
            killed = true;
            timed_out = !exited;
        }
        /* a grandchild may hold the pipe open: once the command is gone, stop reading */
        if (killed && exited)
            eof = true;
        if (eof) {
            if (!exited)
                (void)poll(NULL, 0, CMD_POLL_MS);
            continue;
        }
        if (poll(&pfd, 1, CMD_POLL_MS) > 0) {
            ssize_t n = read(p[0], len < sizeof(out) ? out + len : sink,
                             len < sizeof(out) ? sizeof(out) - len : sizeof(sink));
            if (n > 0 && len < sizeof(out))
                len += (size_t)n;
            else if (n > 0)
                cut = true;
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                eof = true;
        }
    }
    close(p[0]);
    log_output(what, out, len, cut);
    if (timed_out)
        pc_log(LOG_ERR, "%s: %s %s and was killed", what, esc,
               stopping ? "was interrupted (stopping)" : "timed out");
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        rc = PC_OK;
    else if (WIFEXITED(status))
        pc_log(LOG_ERR, "%s: %s exited with status %d", what, esc, WEXITSTATUS(status));
    else
        pc_log(LOG_ERR, "%s: %s was killed by signal %d", what, esc, WTERMSIG(status));
    return rc;
}

/* --- dns-01 ---------------------------------------------------------------------------- */

/* argv of the hook: the configured words, then present|cleanup, "FQDN.", VALUE. */
static int
run_hook(const struct pol_cm_cert *cert, const struct cm_chall_job *j, const char *verb)
{
    char *argv[POL_CM_MAX_ARGV + 4];
    char what[PC_CONF_MAX_NAME + 300];
    size_t i, fl = strlen(j->fqdn);
    char *fqdn_dot = pc_xmalloc(fl + 2);
    int rc;

    memcpy(fqdn_dot, j->fqdn, fl);
    memcpy(fqdn_dot + fl, ".", 2); /* absolute, as DNS tools (and lego's exec) write it */
    for (i = 0; i < cert->dns_command_argc; i++)
        argv[i] = cert->dns_command[i];
    argv[i++] = (char *)(uintptr_t)verb;
    argv[i++] = fqdn_dot;
    argv[i++] = (char *)(uintptr_t)j->value;
    argv[i] = NULL;
    snprintf(what, sizeof(what), "%s: hook %s %s", cert->name, verb, fqdn_dot);
    /* a cleanup runs even while certmgr stops: it is bounded by its timeout */
    rc = cm_run_cmd(argv, cert->dns_command_timeout_ms, strcmp(verb, "present") == 0, what);
    if (rc == PC_OK)
        pc_log(LOG_INFO, "%s: ok", what);
    free(fqdn_dot);
    return rc;
}

static int
rfc2136(const struct pol_cm_cert *cert, const struct cm_chall_job *j, bool add)
{
    const struct pol_cm_rfc2136 *r = &cert->rfc2136;
    struct cm_rfc2136 srv = {
        .server = r->server,
        .zone = r->zone,
        .key_name = r->key_name,
        .key_alg = r->key_alg,
        .secret = r->secret,
        .secret_len = r->secret_len,
    };
    char err[256], esc[512];
    int rc;

    err[0] = '\0';
    rc = cm_rfc2136_txt(&srv, j->fqdn, j->value, add, err, sizeof(err));
    if (rc != PC_OK)
        pc_log(LOG_ERR, "%s: rfc2136 %s %s at %s: %s", cert->name, add ? "add" : "delete", j->fqdn,
               r->server, pc_log_esc(esc, sizeof(esc), err, strlen(err)));
    else
        pc_log(LOG_INFO, "%s: rfc2136 %s TXT %s at %s: ok", cert->name, add ? "added" : "deleted",
               j->fqdn, r->server);
    return rc;
}

int
cm_chall_propagation(const struct pol_cm_cert *cert, struct cm_chall_job *jobs, size_t n)
{
    uint64_t start = cm_now_ms(), deadline = start + cert->propagation_timeout_ms;
    size_t i;
    int rc;

    if (cert->challenge != POL_CM_DNS01)
        return PC_OK;
    if (cert->nresolvers == 0) {
        pc_log(LOG_INFO, "%s: no dns.resolvers: not checking propagation", cert->name);
        return PC_OK;
    }
    for (i = 0; i < n; i++) {
        uint64_t now = cm_now_ms();
        rc = cm_dns_wait_txt((const char *const *)cert->resolvers, cert->nresolvers, jobs[i].fqdn,
                             jobs[i].value, now < deadline ? deadline - now : 1);
        if (rc == PC_ERR_TIMEOUT) {
            pc_log(LOG_ERR,
                   "%s: dns-01: TXT %s = %s is not visible at every resolver after %llus "
                   "(dns.propagation_timeout): not asking the CA to validate",
                   cert->name, jobs[i].fqdn, jobs[i].value,
                   (unsigned long long)(cert->propagation_timeout_ms / 1000));
            return rc;
        }
        if (rc != PC_OK) {
            pc_log(LOG_ERR, "%s: dns-01: checking TXT %s failed", cert->name, jobs[i].fqdn);
            return rc;
        }
    }
    pc_log(LOG_INFO, "%s: dns-01: %zu TXT value(s) visible at %zu resolver(s) after %llums",
           cert->name, n, cert->nresolvers, (unsigned long long)(cm_now_ms() - start));
    return PC_OK;
}

/* --- http-01 ----------------------------------------------------------------------------- */

static int
webroot_file(const struct pol_cm_cert *cert, const struct cm_chall_job *j, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/%s", cert->webroot, j->token);

    if (n < 0 || (size_t)n >= cap) {
        pc_log(LOG_ERR, "%s: http-01: %s/...: path too long", cert->name, cert->webroot);
        return PC_ERR_TOO_LARGE;
    }
    return PC_OK;
}

static int
http_present(const struct pol_cm_cert *cert, const struct cm_chall_job *j)
{
    char path[PATH_MAX];
    int rc;

    if (mkdir(cert->webroot, 0755) == 0)
        (void)chmod(cert->webroot, 0755); /* the gateway reads it, whatever our umask */
    else if (errno != EEXIST) {
        pc_log(LOG_ERR, "%s: http-01: %s: %s", cert->name, cert->webroot, strerror(errno));
        return PC_ERR_IO;
    }
    rc = webroot_file(cert, j, path, sizeof(path));
    /* world-readable: the gateway runs as another user; the content is public anyway */
    if (rc == PC_OK)
        rc = pc_file_write_atomic(path, j->key_authz, strlen(j->key_authz), 0644);
    if (rc == PC_OK)
        pc_log(LOG_INFO, "%s: http-01: %s written for %s", cert->name, path, j->ident);
    return rc;
}

/* --- present / cleanup ----------------------------------------------------------------- */

int
cm_chall_present(const struct pol_cm_cert *cert, struct cm_chall_job *j)
{
    int rc;

    if (cert->challenge == POL_CM_HTTP01)
        rc = http_present(cert, j);
    else if (cert->dns_provider == POL_CM_DNS_EXEC)
        rc = run_hook(cert, j, "present");
    else
        rc = rfc2136(cert, j, true);
    /* a hook that failed half way may still have done something: clean up either way */
    j->presented = true;
    return rc;
}

void
cm_chall_cleanup(const struct pol_cm_cert *cert, struct cm_chall_job *j)
{
    char path[PATH_MAX];

    if (!j->presented)
        return;
    j->presented = false;
    if (cert->challenge == POL_CM_HTTP01) {
        if (webroot_file(cert, j, path, sizeof(path)) == PC_OK && unlink(path) != 0 &&
            errno != ENOENT)
            pc_log(LOG_WARNING, "%s: http-01: cannot remove %s: %s", cert->name, path,
                   strerror(errno));
    } else if (cert->dns_provider == POL_CM_DNS_EXEC) {
        if (run_hook(cert, j, "cleanup") != PC_OK)
            pc_log(LOG_WARNING, "%s: cleanup of %s failed (the record may stay behind)", cert->name,
                   j->fqdn);
    } else {
        (void)rfc2136(cert, j, false);
    }
}
