/*
 * The control socket: a unix stream socket next to the pid file (its name
 * with ".sock" for ".pid"), mode 0660, owned by the gateway's user and
 * group, served by the control thread.  The group may ask for a reload:
 * under the Debian package portcullis-certmgr is a member of group
 * portcullis so that it can reload the gateway after a renewal (a SIGHUP
 * cannot cross from one user to another).  Its directory (/run/portcullis,
 * 0750) keeps everyone else out.  `portcullis-admin reload` connects, writes
 * "reload\n" and reads one line back: "ok generation N" or
 * "refused: <reasons>".  The same reload as SIGHUP; this one answers.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "gateway/gw.h"

#define GW_CTL_LINE_MAX  64   /* a command line from a client */
#define GW_CTL_REPLY_MAX 2048 /* the reply: the reasons of a refusal, cut */
#define GW_CTL_TIMEOUT   5000 /* ms a client may take to send its command */

struct ctl_client {
    h2o_socket_t *sock;
    h2o_timeout_entry_t timer;
    char reply[GW_CTL_REPLY_MAX];
    h2o_iovec_t out;
};

static h2o_socket_t *ctl_listener;
static h2o_timeout_t ctl_timeout;
static bool ctl_timeout_ok;
static char *ctl_path;
static int (*ctl_reload)(char *why, size_t whylen, unsigned long *gen);

int
gw_ctl_path(const char *pid_file, char *out, size_t cap)
{
    size_t n = strlen(pid_file);
    int w;

    if (n > 4 && strcmp(pid_file + n - 4, ".pid") == 0)
        w = snprintf(out, cap, "%.*s.sock", (int)(n - 4), pid_file);
    else
        w = snprintf(out, cap, "%s.sock", pid_file);
    return w > 0 && (size_t)w < cap && (size_t)w < sizeof(((struct sockaddr_un *)0)->sun_path)
               ? PC_OK
               : PC_ERR_TOO_LARGE;
}

static void
client_close(struct ctl_client *c)
{
    if (h2o_timeout_is_linked(&c->timer))
        h2o_timeout_unlink(&c->timer);
    h2o_socket_close(c->sock);
    free(c);
}

static void
on_written(h2o_socket_t *sock, const char *err)
{
    (void)err;
    client_close(sock->data);
}

static void
reply(struct ctl_client *c, const char *line)
{
    size_t n = strlen(line);

    h2o_socket_read_stop(c->sock);
    if (n > sizeof(c->reply) - 2)
        n = sizeof(c->reply) - 2; /* cut: one line, whatever it says */
    memcpy(c->reply, line, n);
    c->reply[n++] = '\n';
    c->out = h2o_iovec_init(c->reply, n);
    h2o_socket_write(c->sock, &c->out, 1, on_written);
}

static void
on_read(h2o_socket_t *sock, const char *err)
{
    struct ctl_client *c = sock->data;
    char *nl, why[GW_CTL_REPLY_MAX - 32], line[GW_CTL_REPLY_MAX];
    unsigned long gen = 0;

    if (err != NULL) {
        client_close(c);
        return;
    }
    nl = memchr(sock->input->bytes, '\n', sock->input->size);
    if (nl == NULL) {
        if (sock->input->size > GW_CTL_LINE_MAX)
            reply(c, "error: command too long");
        return;
    }
    if (nl - sock->input->bytes == 6 && memcmp(sock->input->bytes, "reload", 6) == 0) {
        pc_log(LOG_INFO, "reload requested on the control socket");
        if (ctl_reload(why, sizeof(why), &gen) == PC_OK)
            snprintf(line, sizeof(line), "ok generation %lu", gen);
        else
            snprintf(line, sizeof(line), "refused: %s", why[0] != '\0' ? why : "see the log");
        reply(c, line);
        return;
    }
    reply(c, "error: unknown command (known: reload)");
}

static void
on_client_timeout(h2o_timeout_entry_t *entry)
{
    client_close(H2O_STRUCT_FROM_MEMBER(struct ctl_client, timer, entry));
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;
    struct ctl_client *c;

    if (err != NULL)
        return;
    sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return;
    c = pc_xcalloc(1, sizeof(*c));
    c->sock = sock;
    sock->data = c;
    c->timer.cb = on_client_timeout;
    h2o_timeout_link(listener->data, &ctl_timeout, &c->timer);
    h2o_socket_read_start(sock, on_read);
}

int
gw_ctl_start(h2o_loop_t *loop, const char *pid_file, const char *user,
             int (*fn)(char *why, size_t whylen, unsigned long *gen))
{
    struct sockaddr_un sun;
    struct passwd *pw;
    int fd = -1;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (gw_ctl_path(pid_file, sun.sun_path, sizeof(sun.sun_path)) != PC_OK) {
        pc_log(LOG_ERR, "control socket: path too long for %s", pid_file);
        return PC_ERR_TOO_LARGE;
    }
    (void)unlink(sun.sun_path); /* a stale one: the pid file lock says we are alone */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
        chmod(sun.sun_path, 0660) != 0 || listen(fd, 16) != 0) {
        pc_log(LOG_ERR, "control socket %s: %s", sun.sun_path, strerror(errno));
        if (fd != -1)
            close(fd);
        return PC_ERR_IO;
    }
    /* bound as root before the privilege drop: hand it to the gateway's user */
    if (user != NULL && geteuid() == 0 && (pw = getpwnam(user)) != NULL &&
        chown(sun.sun_path, pw->pw_uid, pw->pw_gid) != 0)
        pc_log(LOG_WARNING, "control socket %s: chown: %s", sun.sun_path, strerror(errno));
    ctl_path = pc_xstrdup(sun.sun_path);
    ctl_reload = fn;
    h2o_timeout_init(loop, &ctl_timeout, GW_CTL_TIMEOUT);
    ctl_timeout_ok = true;
    ctl_listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    ctl_listener->data = loop;
    h2o_socket_read_start(ctl_listener, on_accept);
    return PC_OK;
}

void
gw_ctl_stop(h2o_loop_t *loop)
{
    if (ctl_listener != NULL) {
        h2o_socket_read_stop(ctl_listener);
        h2o_socket_close(ctl_listener);
        ctl_listener = NULL;
    }
    if (ctl_path != NULL) {
        (void)unlink(ctl_path);
        free(ctl_path);
        ctl_path = NULL;
    }
    if (ctl_timeout_ok) {
        h2o_evloop_run(loop, 0);
        h2o_timeout_dispose(loop, &ctl_timeout);
        ctl_timeout_ok = false;
    }
}
