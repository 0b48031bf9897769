/*
 * portcullis: the data-plane daemon.  This file is the control thread:
 * command line, startup (bind, privilege drop), signals, reload, CRL
 * polling, the admin listener and orderly shutdown.  See gw.h for the
 * thread model.
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_rcu.h"
#include "common/pc_sdnotify.h"
#include "gateway/gw.h"

#define GW_DEFAULT_CONFIG "/etc/portcullis/portcullis.yaml"

static struct gw_proc proc;
static h2o_timeout_t tick_timeout;
static h2o_timeout_entry_t tick_entry;
static h2o_socket_t *sig_sock;
static bool loop_done;
static bool tick_ok;
static int pid_fd = -1;
static char *pid_path; /* owned copy: the config is freed first */

static void
usage(FILE *f)
{
    fprintf(f, "usage: portcullis [-c FILE] [--check] [--foreground]\n"
               "  -c, --config FILE  configuration (default " GW_DEFAULT_CONFIG ")\n"
               "      --check        validate the configuration and every file it names, "
               "then exit 0 or 1\n"
               "      --foreground   do not detach (systemd, containers, tests)\n"
               "  -h, --help         this text\n"
               "  -V, --version      print the version\n");
}

/* --- startup ------------------------------------------------------------ */

static int
bind_listeners(const struct pol_config *cfg, int *fds)
{
    size_t i;

    for (i = 0; i < cfg->nlisteners; i++) {
        fds[i] = gw_socket_get(&cfg->listeners[i].addr, cfg->listeners[i].addrlen,
                               cfg->listeners[i].address);
        if (fds[i] == -1)
            return PC_ERR_IO;
    }
    return PC_OK;
}

static int
bind_admin(const struct pol_config *cfg)
{
    int fd, one = 1;

    if (cfg->admin_listen == NULL)
        return -1;
    fd = socket(cfg->admin_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&cfg->admin_addr, cfg->admin_addrlen) != 0 ||
        listen(fd, 128) != 0) {
        pc_log(LOG_ERR, "admin.listen %s: %s", cfg->admin_listen, strerror(errno));
        close(fd);
        return -2;
    }
    return fd;
}

static int
write_pid_file(const char *path)
{
    char buf[32];
    int n;

    pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (pid_fd == -1) {
        pc_log(LOG_ERR, "pid_file %s: %s", path, strerror(errno));
        return PC_ERR_IO;
    }
    if (flock(pid_fd, LOCK_EX | LOCK_NB) != 0) {
        n = (int)read(pid_fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        pc_log(LOG_ERR, "pid_file %s: another portcullis is running (pid %s)", path, buf);
        close(pid_fd);
        pid_fd = -1;
        return PC_ERR_BUSY;
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(pid_fd, 0) != 0 || pwrite(pid_fd, buf, (size_t)n, 0) != n) {
        pc_log(LOG_ERR, "pid_file %s: %s", path, strerror(errno));
        return PC_ERR_IO;
    }
    pid_path = pc_xstrdup(path);
    return PC_OK;
}

static int
drop_privileges(const char *user)
{
    struct passwd *pw;

    if (geteuid() != 0)
        return PC_OK;
    if (user == NULL) {
        pc_log(LOG_WARNING, "running as root: set user: in the configuration to drop privileges");
        return PC_OK;
    }
    pw = getpwnam(user);
    if (pw == NULL) {
        pc_log(LOG_ERR, "user %s: no such user", user);
        return PC_ERR_NOT_FOUND;
    }
    if (setgroups(1, &pw->pw_gid) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        pc_log(LOG_ERR, "cannot drop privileges to %s: %s", user, strerror(errno));
        return PC_ERR_DENIED;
    }
    if (setuid(0) == 0) { /* must be impossible now */
        pc_log(LOG_ERR, "privilege drop to %s did not stick", user);
        return PC_ERR_DENIED;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        pc_log(LOG_WARNING, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    pc_log(LOG_INFO, "running as %s (uid %ld)", user, (long)pw->pw_uid);
    return PC_OK;
}

/* Detach; the parent exits with the child's startup status.  Returns the
 * write end of the status pipe in the child (-1 when not detaching). */
static int
daemonize(void)
{
    int pfd[2];
    pid_t pid;
    char status = 1;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        pc_log(LOG_ERR, "pipe: %s", strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid == -1) {
        pc_log(LOG_ERR, "fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(pfd[1]);
        if (read(pfd[0], &status, 1) != 1)
            status = 1;
        _exit(status);
    }
    close(pfd[0]);
    setsid();
    if (chdir("/") != 0)
        pc_log(LOG_WARNING, "chdir /: %s", strerror(errno));
    {
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul != -1) {
            dup2(nul, 0);
            close(nul);
        }
    }
    return pfd[1];
}

static void
report_ready(int fd, char status)
{
    if (fd == -1)
        return;
    if (write(fd, &status, 1) != 1) {
        /* the parent is gone; nothing to tell */
    }
    close(fd);
}

/* --- generations --------------------------------------------------------- */

static void
remark_current(void)
{
    size_t i;

    if (proc.current == NULL)
        return;
    for (i = 0; i < proc.current->cfg->nlisteners; i++)
        (void)gw_socket_get(&proc.current->cfg->listeners[i].addr,
                            proc.current->cfg->listeners[i].addrlen,
                            proc.current->cfg->listeners[i].address);
}

static void
warn_restart_only(const struct pol_config *old, const struct pol_config *nw)
{
    if ((old->user == NULL) != (nw->user == NULL) ||
        (old->user != NULL && strcmp(old->user, nw->user) != 0))
        pc_log(LOG_WARNING, "reload: user: changes take effect at restart");
    if ((old->admin_listen == NULL) != (nw->admin_listen == NULL) ||
        (old->admin_listen != NULL && strcmp(old->admin_listen, nw->admin_listen) != 0))
        pc_log(LOG_WARNING, "reload: admin.listen changes take effect at restart");
    if (old->access_log != nw->access_log)
        pc_log(LOG_WARNING, "reload: log.access changes take effect at restart");
}

/* Build, start and switch to a new generation.  A failure changes nothing. */
static int
reload_gen(void)
{
    struct pol_errors errs = {0};
    struct pol_config *cfg = NULL;
    struct gw_gen *g = NULL;
    int *fds = NULL, rc;

    /* systemd (Type=notify) shows "reloading" until the READY=1 below */
    (void)pc_sdnotify_reloading("reloading the configuration");
    pc_log(LOG_INFO, "reload: loading %s", proc.config_path);
    rc = pol_config_load(proc.config_path, &cfg, &errs);
    if (rc != PC_OK) {
        pol_errors_log(&errs);
        goto fail;
    }
    if (proc.ndraining == sizeof(proc.draining) / sizeof(proc.draining[0])) {
        pc_log(LOG_ERR, "reload: too many generations still draining; try again shortly");
        rc = PC_ERR_BUSY;
        goto fail;
    }
    warn_restart_only(proc.current->cfg, cfg);
    fds = pc_xcalloc(cfg->nlisteners + 1, sizeof(*fds));
    gw_socket_unmark_all();
    rc = bind_listeners(cfg, fds);
    if (rc == PC_OK)
        rc = gw_gen_new(cfg, fds, &g);
    if (rc != PC_OK) {
        remark_current();
        gw_socket_close_unused();
        goto fail;
    }
    cfg = NULL; /* the generation owns it */
    g->id = ++proc.next_gen_id;
    rc = gw_gen_start(g);
    if (rc != PC_OK) {
        gw_gen_free(g);
        remark_current();
        gw_socket_close_unused();
        goto fail;
    }
    pc_log_set_level(g->cfg->log_level);
    proc.draining[proc.ndraining++] = proc.current;
    gw_gen_drain(proc.current);
    proc.current = g;
    proc.reloads_ok++;
    free(fds);
    pc_log(LOG_INFO, "reload: generation %lu is serving (%zu route(s))", g->id, g->cfg->nroutes);
    (void)pc_sdnotify_sendf("READY=1\nSTATUS=serving: generation %lu, %zu route(s)", g->id,
                            g->cfg->nroutes);
    return PC_OK;
fail:
    pol_config_free(cfg);
    free(fds);
    proc.reloads_failed++;
    pc_log(LOG_ERR, "reload refused: keeping generation %lu", proc.current->id);
    (void)pc_sdnotify_sendf("READY=1\nSTATUS=serving: generation %lu (the last reload was "
                            "refused, see the log)",
                            proc.current->id);
    return rc;
}

/* The control socket's reload: the same, with the reasons handed back. */
static int
reload_answer(char *why, size_t whylen, unsigned long *gen)
{
    int rc;

    if (proc.stopping) {
        snprintf(why, whylen, "shutting down");
        return PC_ERR_BUSY;
    }
    pc_log_capture(why, whylen);
    rc = reload_gen();
    pc_log_capture(NULL, 0);
    *gen = proc.current->id;
    return rc;
}

static void
begin_shutdown(void)
{
    if (proc.stopping)
        return;
    proc.stopping = true;
    (void)pc_sdnotify_send("STOPPING=1\nSTATUS=draining");
    pc_log(LOG_INFO, "shutting down: draining generation %lu", proc.current->id);
    gw_gen_drain(proc.current);
    /* refuse new connections now: the workers close their own dup()s */
    gw_socket_unmark_all();
    gw_socket_close_unused();
}

/* --- the control loop ------------------------------------------------------ */

static void
reap_generations(void)
{
    size_t i = 0;
    bool freed = false;

    while (i < proc.ndraining) {
        struct gw_gen *g = proc.draining[i];
        if (!gw_gen_finished(g)) {
            i++;
            continue;
        }
        gw_metrics_fold(&proc, g);
        pc_log(LOG_INFO, "generation %lu drained", g->id);
        gw_gen_free(g);
        proc.draining[i] = proc.draining[--proc.ndraining];
        freed = true;
    }
    if (freed)
        gw_socket_close_unused();
}

static void
on_tick(h2o_timeout_entry_t *entry)
{
    size_t i;

    (void)entry;
    if (!proc.stopping) {
        for (i = 0; i < proc.current->nlisteners; i++) {
            int err = 0;
            gw_tls_crl_poll(&proc.current->listeners[i], false, &err);
            gw_tickets_tick(&proc.current->listeners[i], &proc.current->cfg->tls);
        }
    }
    if (!proc.stopping)
        gw_jwks_poll_files();
    reap_generations();
    pc_rcu_reclaim(pc_rcu_global());
    if (proc.stopping && proc.ndraining == 0 && gw_gen_finished(proc.current)) {
        loop_done = true;
        return;
    }
    h2o_timeout_link(proc.loop, &tick_timeout, &tick_entry);
}

static void
on_signal(h2o_socket_t *sock, const char *err)
{
    struct signalfd_siginfo si;

    (void)sock;
    if (err != NULL)
        return;
    while (read(h2o_socket_get_fd(sig_sock), &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            begin_shutdown();
            break;
        case SIGHUP:
            if (!proc.stopping)
                reload_gen();
            break;
        case SIGUSR1:
            gw_accesslog_reopen();
            break;
        default:
            break;
        }
    }
}

static int
setup_signals(h2o_loop_t *loop)
{
    sigset_t set;
    int fd;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    /* blocked in every thread (workers inherit the mask); read here only */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd == -1) {
        pc_log(LOG_ERR, "signalfd: %s", strerror(errno));
        return PC_ERR_IO;
    }
    sig_sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(sig_sock, on_signal);
    return PC_OK;
}

static int
serve(struct pol_config *cfg, bool foreground)
{
    int *fds = NULL, admin_fd, ready_fd = -1, rc = PC_ERR_IO;
    struct gw_gen *g = NULL;

    fds = pc_xcalloc(cfg->nlisteners + 1, sizeof(*fds));
    if (bind_listeners(cfg, fds) != PC_OK)
        goto out;
    admin_fd = bind_admin(cfg);
    if (admin_fd == -2)
        goto out;
    if (!foreground)
        ready_fd = daemonize();
    if (cfg->pid_file != NULL && write_pid_file(cfg->pid_file) != PC_OK)
        goto out;
    proc.loop = h2o_evloop_create();
    if (setup_signals(proc.loop) != PC_OK)
        goto out;
    if (cfg->pid_file != NULL &&
        gw_ctl_start(proc.loop, cfg->pid_file, cfg->user, reload_answer) != PC_OK)
        goto out;
    /* keys and certificates are read here, before the privilege drop */
    if (gw_gen_new(cfg, fds, &g) != PC_OK) {
        pc_log(LOG_ERR, "%s: configuration refused", proc.config_path);
        goto out;
    }
    cfg = NULL;
    g->id = ++proc.next_gen_id;
    if (drop_privileges(g->cfg->user) != PC_OK)
        goto out;
    if (gw_jwks_start() != PC_OK) /* first fetches of jwks_uri issuers start now */
        goto out;
    if (gw_accesslog_start(g->cfg->access_log, g->cfg->access_log_path) != 0)
        goto out;
    if (admin_fd >= 0)
        gw_admin_start_fd(&proc, proc.loop, admin_fd);
    proc.current = g;
    g = NULL;
    if (gw_gen_start(proc.current) != PC_OK)
        goto out;
    h2o_timeout_init(proc.loop, &tick_timeout, GW_CTRL_TICK_MS);
    tick_ok = true;
    tick_entry.cb = on_tick;
    h2o_timeout_link(proc.loop, &tick_timeout, &tick_entry);
    pc_log(LOG_INFO, "ready: generation %lu, %u worker(s), %zu listener(s), %zu route(s)",
           proc.current->id, proc.current->nworkers, proc.current->nlisteners,
           proc.current->cfg->nroutes);
    report_ready(ready_fd, 0);
    ready_fd = -1;
    /* listeners bound, workers accepting: systemd may call the unit started */
    (void)pc_sdnotify_sendf("READY=1\nSTATUS=serving: generation %lu, %zu listener(s), %zu "
                            "route(s)",
                            proc.current->id, proc.current->nlisteners, proc.current->cfg->nroutes);
    while (!loop_done)
        h2o_evloop_run(proc.loop, INT32_MAX);
    rc = PC_OK;
    pc_log(LOG_INFO, "stopped");
out:
    report_ready(ready_fd, 1);
    if (proc.current != NULL) {
        gw_gen_drain(proc.current);
        gw_gen_free(proc.current);
        proc.current = NULL;
    }
    while (proc.ndraining > 0)
        gw_gen_free(proc.draining[--proc.ndraining]);
    gw_gen_free(g);
    pol_config_free(cfg);
    gw_admin_stop(&proc);
    gw_accesslog_stop();
    gw_metrics_folded_free(&proc);
    gw_jwks_stop();
    gw_rl_shutdown();
    pc_rcu_drain_unsafe(pc_rcu_global());
    if (tick_ok && h2o_timeout_is_linked(&tick_entry))
        h2o_timeout_unlink(&tick_entry);
    if (proc.loop != NULL) {
        gw_ctl_stop(proc.loop);
        if (tick_ok)
            h2o_timeout_dispose(proc.loop, &tick_timeout);
        if (sig_sock != NULL)
            h2o_socket_close(sig_sock);
        h2o_evloop_run(proc.loop, 0);
        h2o_evloop_destroy(proc.loop);
    }
    gw_socket_close_all();
    if (pid_path != NULL && unlink(pid_path) != 0 && errno != ENOENT)
        pc_log(LOG_WARNING, "pid_file %s: %s (a stale file is harmless: the next start locks it)",
               pid_path, strerror(errno));
    free(pid_path);
    pid_path = NULL;
    if (pid_fd != -1)
        close(pid_fd);
    free(fds);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"foreground", no_argument, NULL, 'f'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    struct pol_errors errs = {0};
    struct pol_config *cfg = NULL;
    const char *path = GW_DEFAULT_CONFIG;
    bool check = false, foreground = false;
    int c;

    pc_log_init("portcullis", LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'f':
            foreground = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("portcullis %s\n", PC_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (check)
        return gw_config_check(path) == 0 ? 0 : 1;
    proc.config_path = path;
    proc.started_at = time(NULL);
    if (pol_config_load(path, &cfg, &errs) != PC_OK) {
        pol_errors_log(&errs);
        return 1;
    }
    pc_log_set_level(cfg->log_level);
    return serve(cfg, foreground) == PC_OK ? 0 : 1;
}
