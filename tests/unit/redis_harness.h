/*
 * A real redis-server for tests and benchmarks: started on a free
 * 127.0.0.1 port (and/or a unix socket in a private temporary directory),
 * in the foreground, without persistence; killed by rh_stop(), by the
 * atexit handler, and by the kernel when the test process dies
 * (PR_SET_PDEATHSIG), so a failing or crashing test leaves nothing behind.
 * Also a blocking admin connection and INFO commandstats parsing.
 * Header-only (static functions), like certgen.h.
 */
#ifndef REDIS_HARNESS_H
#define REDIS_HARNESS_H

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define RH_API         static __attribute__((unused)) /* each user takes what it needs */
#define RH_MAX_SERVERS 16
#define RH_START_MS    5000 /* a server must answer PING within this */

struct rh_server {
    pid_t pid; /* 0 when not running */
    int port;  /* 0: unix socket only */
    bool unix_sock;
    char dir[64];   /* private temporary directory */
    char sock[128]; /* unix socket path when unix_sock */
    char pass[64];  /* requirepass, or "" */
};

static struct rh_server *rh_running[RH_MAX_SERVERS];

RH_API uint64_t
rh_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A port nothing listens on right now (the kernel's choice). */
RH_API int
rh_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

RH_API void
rh_forget(struct rh_server *s)
{
    for (int i = 0; i < RH_MAX_SERVERS; i++)
        if (rh_running[i] == s)
            rh_running[i] = NULL;
}

RH_API void
rh_kill(struct rh_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

RH_API void
rh_atexit(void)
{
    for (int i = 0; i < RH_MAX_SERVERS; i++)
        if (rh_running[i] != NULL)
            rh_kill(rh_running[i]);
}

RH_API redisContext *
rh_connect(const struct rh_server *s)
{
    struct timeval tv = {1, 0};

    if (s->unix_sock)
        return redisConnectUnixWithTimeout(s->sock, tv);
    return redisConnectWithTimeout("127.0.0.1", s->port, tv);
}

/* A blocking, authenticated admin connection (NULL if it fails). */
RH_API redisContext *
rh_admin(const struct rh_server *s)
{
    redisContext *rc = rh_connect(s);
    redisReply *r;

    if (rc == NULL || rc->err != 0) {
        if (rc != NULL)
            redisFree(rc);
        return NULL;
    }
    if (s->pass[0] != '\0') {
        const char *argv[] = {"AUTH", s->pass};
        size_t lens[] = {4, strlen(s->pass)};

        r = redisCommandArgv(rc, 2, argv, lens);
        if (r != NULL)
            freeReplyObject(r);
    }
    return rc;
}

/* Send `cmd`, split on spaces (no quoting), on `rc`; NULL on error. */
RH_API redisReply *
rh_send(redisContext *rc, const char *cmd)
{
    char buf[512];
    const char *argv[16];
    size_t lens[16];
    int argc = 0;
    char *p = buf;

    snprintf(buf, sizeof(buf), "%s", cmd);
    while (*p != '\0' && argc < 16) {
        while (*p == ' ')
            *p++ = '\0';
        if (*p == '\0')
            break;
        argv[argc] = p;
        while (*p != '\0' && *p != ' ')
            p++;
        lens[argc] = (size_t)(p - argv[argc]);
        argc++;
    }
    return redisCommandArgv(rc, argc, argv, lens);
}

/* Run one admin command (after SELECT db when db != 0); its integer, or
 * 0 for any other successful reply, or -1. */
RH_API long long
rh_run(const struct rh_server *s, unsigned db, const char *cmd)
{
    redisContext *rc = rh_admin(s);
    redisReply *r;
    char sel[32];
    long long v = -1;

    if (rc == NULL)
        return -1;
    if (db != 0) {
        snprintf(sel, sizeof(sel), "SELECT %u", db);
        r = rh_send(rc, sel);
        if (r != NULL)
            freeReplyObject(r);
    }
    r = rh_send(rc, cmd);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r != NULL && r->type != REDIS_REPLY_ERROR)
        v = 0;
    else if (r != NULL && getenv("RH_VERBOSE") != NULL)
        fprintf(stderr, "redis: %s: %s\n", cmd, r->str);
    if (r != NULL)
        freeReplyObject(r);
    redisFree(rc);
    return v;
}

/* `calls` of one command in INFO commandstats ("evalsha", "script|load");
 * 0 when the command never ran, -1 on error. */
RH_API long long
rh_calls(const struct rh_server *s, const char *cmd)
{
    redisContext *rc = rh_admin(s);
    redisReply *r;
    char needle[96];
    long long v = -1;

    if (rc == NULL)
        return -1;
    r = rh_send(rc, "INFO commandstats");
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *p;

        snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
        p = strstr(r->str, needle);
        v = 0;
        if (p != NULL)
            for (p += strlen(needle); *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (*p - '0');
    }
    if (r != NULL)
        freeReplyObject(r);
    redisFree(rc);
    return v;
}

RH_API bool
rh_wait_up(const struct rh_server *s)
{
    uint64_t deadline = rh_now_ms() + RH_START_MS;

    while (rh_now_ms() < deadline) {
        redisContext *rc = rh_connect(s);

        if (rc != NULL && rc->err == 0) {
            redisReply *r = rh_send(rc, "PING");
            bool up = r != NULL; /* +PONG, or -NOAUTH: either way it serves */

            if (r != NULL)
                freeReplyObject(r);
            redisFree(rc);
            if (up)
                return true;
        } else if (rc != NULL) {
            redisFree(rc);
        }
        usleep(10000);
    }
    return false;
}

/*
 * Start (or restart, same port and socket) a server.  port < 0: pick a
 * free one; port == 0 with unix_sock: no TCP.  pass: requirepass or NULL.
 */
RH_API bool
rh_start(struct rh_server *s, int port, bool unix_sock, const char *pass)
{
    char portstr[16], logpath[160];
    const char *argv[32];
    int argc = 0;
    pid_t parent = getpid();

    if (s->dir[0] == '\0') {
        snprintf(s->dir, sizeof(s->dir), "/tmp/pc-redis-XXXXXX");
        if (mkdtemp(s->dir) == NULL)
            return false;
        s->port = port < 0 ? rh_free_port() : port;
        s->unix_sock = unix_sock;
        if (unix_sock)
            snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
        snprintf(s->pass, sizeof(s->pass), "%s", pass != NULL ? pass : "");
    }
    snprintf(portstr, sizeof(portstr), "%d", s->port);
    snprintf(logpath, sizeof(logpath), "%s/redis.log", s->dir);
    argv[argc++] = "redis-server";
    argv[argc++] = "--port";
    argv[argc++] = portstr;
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--daemonize";
    argv[argc++] = "no";
    argv[argc++] = "--dir";
    argv[argc++] = s->dir;
    if (s->unix_sock) {
        argv[argc++] = "--unixsocket";
        argv[argc++] = s->sock;
        argv[argc++] = "--unixsocketperm";
        argv[argc++] = "700";
    }
    if (s->pass[0] != '\0') {
        argv[argc++] = "--requirepass";
        argv[argc++] = s->pass;
    }
    argv[argc] = NULL;

    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0)
        return false;
    if (s->pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp("redis-server", (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    static bool registered;
    if (!registered)
        atexit(rh_atexit);
    registered = true;
    for (int i = 0; i < RH_MAX_SERVERS; i++) {
        if (rh_running[i] == NULL || rh_running[i] == s) {
            rh_running[i] = s;
            break;
        }
    }
    return rh_wait_up(s);
}

/* Stop for good and remove the directory. */
RH_API void
rh_stop(struct rh_server *s)
{
    char path[200];

    rh_kill(s);
    rh_forget(s);
    if (s->dir[0] == '\0')
        return;
    snprintf(path, sizeof(path), "%s/redis.log", s->dir);
    unlink(path);
    if (s->unix_sock)
        unlink(s->sock);
    rmdir(s->dir);
    s->dir[0] = '\0';
}

#endif
