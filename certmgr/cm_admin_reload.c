/*
 * portcullis-admin reload [-c FILE]: ask the gateway that runs FILE (found
 * through its pid_file, whose control socket sits next to it) to build a new
 * configuration generation, and report its answer: exit 0 with the new
 * generation, or exit 1 with the reasons it was refused (the old generation
 * keeps serving).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cm.h"
#include "common/pc_err.h"
#include "gateway/gw.h"

#define CM_DEFAULT_GW_CONFIG "/etc/portcullis/portcullis.yaml"
#define CM_RELOAD_TIMEOUT_MS 60000 /* building a generation reads every key and certificate */
#define CM_RELOAD_REPLY_MAX  2048

enum { O_RELOAD_FILE };

static const struct cm_opt reload_opts[] = {
    [O_RELOAD_FILE] = {"-c", CM_OPT_VALUE, "FILE",
                       "the gateway configuration (default " CM_DEFAULT_GW_CONFIG ")"},
};

/* Send "reload" on the control socket and read the one-line answer. */
static int
ask(const char *path, char *answer, size_t cap)
{
    struct sockaddr_un sun;
    struct pollfd pfd;
    size_t got = 0;
    ssize_t n;
    int fd, rc = PC_ERR_IO;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        cm_err_set("the gateway is not running or not reachable (control socket %s: %s)", path,
                   strerror(errno));
        goto out;
    }
    if (write(fd, "reload\n", 7) != 7) {
        cm_err_set("control socket %s: %s", path, strerror(errno));
        goto out;
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    while (got + 1 < cap) {
        if (poll(&pfd, 1, CM_RELOAD_TIMEOUT_MS) != 1) {
            cm_err_set("the gateway did not answer within %d s", CM_RELOAD_TIMEOUT_MS / 1000);
            goto out;
        }
        n = read(fd, answer + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(answer, '\n', got) != NULL)
            break;
    }
    answer[got] = '\0';
    answer[strcspn(answer, "\n")] = '\0';
    if (got == 0) {
        cm_err_set("the gateway closed the control socket without an answer");
        goto out;
    }
    rc = PC_OK;
out:
    if (fd != -1)
        close(fd);
    return rc;
}

static enum cm_exit
run_reload(const char *dir, const struct cm_args *a)
{
    const char *file = cm_args_get(a, O_RELOAD_FILE);
    struct pol_errors errs = {0};
    struct pol_config *cfg = NULL;
    char path[108], answer[CM_RELOAD_REPLY_MAX];
    enum cm_exit ex = CM_EXIT_FAIL;
    size_t i;

    (void)dir;
    if (file == NULL)
        file = CM_DEFAULT_GW_CONFIG;
    if (pol_config_load(file, &cfg, &errs) != PC_OK) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        pol_errors_clear(&errs);
        cm_err_set("%s is not valid; nothing was sent to the gateway", file);
        return CM_EXIT_FAIL;
    }
    if (cfg->pid_file == NULL) {
        cm_err_set("%s has no pid_file: cannot find its gateway (send SIGHUP instead)", file);
        goto out;
    }
    if (gw_ctl_path(cfg->pid_file, path, sizeof(path)) != PC_OK) {
        cm_err_set("pid_file %s: control socket path too long", cfg->pid_file);
        goto out;
    }
    if (ask(path, answer, sizeof(answer)) != PC_OK)
        goto out;
    if (strncmp(answer, "ok", 2) != 0) {
        cm_err_set("reload %s", answer);
        goto out;
    }
    printf("reloaded: %s\n", answer + 3);
    ex = CM_EXIT_OK;
out:
    pol_config_free(cfg);
    return ex;
}

const struct cm_cmd cm_cmd_reload = {
    .group = NULL,
    .name = "reload",
    .synopsis = "[-c FILE]",
    .summary = "make the running gateway load its configuration again (exit 1 if refused)",
    .help = "Connects to the control socket next to the gateway's pid_file. A new\n"
            "configuration generation is built beside the running one; a bad one is\n"
            "refused with its reasons and the running one keeps serving.",
    .opts = reload_opts,
    .nopts = sizeof(reload_opts) / sizeof(reload_opts[0]),
    .run = run_reload,
};
