/*
 * The Redis client of one worker: hiredis 0.14.1's async API on the
 * worker's own h2o evloop, one connection, every command pipelined on it.
 * Worker thread only; nothing here blocks: the generation resolved the
 * host to an address before the worker started (gw_gen.c), so hiredis'
 * getaddrinfo(3) only parses a numeric address.
 *
 * The h2o adapter.  hiredis does its own read(2)/write(2); h2o only tells
 * it when the socket is ready.  The fd is wrapped with
 * h2o_evloop_socket_create(H2O_SOCKET_FLAG_DONT_READ): addRead/delRead are
 * h2o_socket_read_start/stop, addWrite is the one-shot
 * h2o_socket_notify_write (which also completes the non-blocking connect),
 * delWrite is nothing (a spurious write event is harmless).  Once
 * connected, addWrite instead links a zero timer: the commands queued by
 * every request of this turn of the loop go out in one write(2) when its
 * I/O is done, in the same turn -- not one turn later through epoll, which
 * a turn busy with TLS handshakes made longer than redis.timeout.  hiredis frees
 * its context itself after an error; its cleanup hook closes the h2o socket
 * (which closes the fd: hiredis must not close it again, so fd = -1) and is
 * the single place where "the connection is gone" is handled.
 *
 * The connection: IDLE (no context; a back-off timer is armed) -> connect
 * (TCP or unix, non-blocking) and at once pipeline the handshake: AUTH
 * (password, or user + password), SELECT db when db != 0, SCRIPT LOAD of the
 * GCRA script (so the first charge needs no NOSCRIPT round trip) -> READY
 * when the last handshake reply is in and AUTH/SELECT were accepted.  The
 * handshake has GW_REDIS_CONNECT_TIMEOUT_MS.  A failed connect, a refused
 * handshake or a lost connection goes back to IDLE and retries after
 * 100 ms, doubling to 2 s.  Only READY accepts charges; otherwise they fail
 * at once with GW_REDIS_DOWN (nothing is queued without a connection).
 *
 * An operation is one EVALSHA.  Its timer (redis.timeout) reports
 * GW_REDIS_TIMEOUT at once; the reply that may still come is then dropped,
 * and the operation is freed when it comes or when the connection goes (a
 * pipelined reply cannot be withdrawn).  gw_redis_cancel does the same
 * without a callback.  NOSCRIPT (after a SCRIPT FLUSH or a failover): SCRIPT
 * LOAD, unless one is already in flight on this connection, then the same
 * EVALSHA again, once.  Replies come back in order, so a NOSCRIPT that
 * arrives while a load is in flight was caused by a command sent before that
 * load, and the retry, sent after it, will find the script.
 *
 * The breaker: GW_REDIS_BREAKER_FAILURES consecutive failures (timeouts,
 * error or bad replies, DOWN) open it.  Open: charges fail at once with
 * GW_REDIS_BREAKER_OPEN and cost nothing.  After GW_REDIS_BREAKER_COOLDOWN_MS
 * it is half-open: one PING goes out in the background (connecting first,
 * at once, when there is no connection); PONG closes it, anything else
 * reopens it for another cool-down.  So Redis decides again within about a
 * cool-down of coming back, whatever the reconnect back-off has grown to.
 *
 * Logs name the server as host:port or unix:path, never the URL, which may
 * hold the password.
 */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "gateway/gw_rl.h"

#define GW_REDIS_BREAKER_FAILURES    5     /* consecutive failures that open the breaker */
#define GW_REDIS_BREAKER_COOLDOWN_MS 500   /* open -> half-open (one PING) */
#define GW_REDIS_GRACE_MS            1     /* one loop turn for a reply already in the socket */
#define GW_REDIS_UNSENT_FACTOR       4     /* a command not yet written waits this many timeouts */
#define GW_REDIS_BACKOFF_MIN_MS      100   /* first reconnect delay ... */
#define GW_REDIS_BACKOFF_MAX_MS      2000  /* ... doubling up to this */
#define GW_REDIS_BACKOFF_STEPS       6     /* 100 200 400 800 1600 2000 */
#define GW_REDIS_CONNECT_TIMEOUT_MS  1000  /* connect + handshake (or redis.timeout if longer) */
#define GW_REDIS_MAX_INFLIGHT        65536 /* commands awaiting replies; past it: TIMEOUT at once */
#define GW_REDIS_REPLY_MAX_BYTES     16384 /* one reply not yet parsed; the server is cut above */
#define GW_REDIS_REPLY_MAX_ELEMS     16    /* elements of a reply array (ours are integers) */
#define GW_REDIS_ERR_TEXT            160   /* bytes of a Redis error shown in the log */
#define GW_REDIS_CMD_SLACK           160   /* EVALSHA framing around the key, bytes */

enum op_kind {
    OP_GCRA,  /* a charge (user operation) */
    OP_HELLO, /* AUTH / SELECT: refused -> the connection is dropped */
    OP_LOAD,  /* SCRIPT LOAD */
    OP_PING,  /* the breaker's probe */
};

enum breaker { BR_CLOSED = 0, BR_OPEN = 1, BR_HALF_OPEN = 2 };

struct gw_redis_op {
    struct gw_redis *c;
    /* NULL once reported (timeout) or cancelled */
    void (*cb)(void *data, enum gw_redis_status st, const struct gw_gcra_result *res);
    void *data;
    h2o_timeout_entry_t timer;
    uint64_t sent_ns; /* queued (a NOSCRIPT retry keeps the first time) */
    uint64_t seq;     /* c->queued_seq when it was queued: see note_written */
    enum op_kind kind;
    bool done;                /* outcome reported: a later reply is only freed */
    bool retried;             /* NOSCRIPT retry spent */
    bool graced;              /* the timer waited one more loop turn for a reply already received */
    const char *what;         /* OP_HELLO: "AUTH" / "SELECT" for the log */
    struct gw_gcra_spec spec; /* OP_GCRA: reads the script's answer */
    size_t cmdlen;
    char cmd[]; /* OP_GCRA: the RESP-framed EVALSHA, kept for the retry */
};

struct gw_redis {
    h2o_loop_t *loop;
    /* copy of the configuration (the pol_config may be reloaded away) */
    char *host;
    uint16_t port;
    char *path;
    char *user;
    char *password; /* wiped on free */
    unsigned db;
    uint64_t timeout_ms;
    char where[300]; /* "host:port" or "unix:path", for logs */
    const char *sha;

    /* the connection */
    redisAsyncContext *ac; /* NULL when IDLE */
    h2o_socket_t *sock;
    bool ready;
    bool connecting; /* from the connect to READY or failure */
    bool hello_failed;
    bool loading; /* a SCRIPT LOAD is in flight */
    bool freeing;
    bool flushing;          /* in on_flush: addWrite waits for the socket */
    bool err_logged;        /* an op error was logged since the last success */
    bool key_logged;        /* a too long key was logged */
    bool outage_logged;     /* a connection failure was logged since the last READY */
    bool load_logged;       /* a refused SCRIPT LOAD was logged on this connection */
    unsigned hello_pending; /* handshake replies still to come */
    unsigned attempts;      /* connection attempts so far */
    unsigned backoff_step;
    size_t inflight;
    unsigned in_hiredis; /* depth of hiredis callbacks on the stack */

    h2o_timeout_t op_timeout;
    h2o_timeout_t grace; /* GW_REDIS_GRACE_MS: see on_op_timeout */
    h2o_timeout_t flush; /* 0 ms: the end of this turn's I/O */
    h2o_timeout_entry_t flush_entry;
    /* which queued commands have been written, and when (note_written) */
    uint64_t queued_seq, written_seq, prev_written_seq, written_ns;
    h2o_timeout_t connect_timeout;
    h2o_timeout_entry_t connect_entry;
    h2o_timeout_t backoff[GW_REDIS_BACKOFF_STEPS];
    h2o_timeout_entry_t reconnect_entry;
    h2o_timeout_t cooldown;
    h2o_timeout_entry_t cooldown_entry;

    enum breaker breaker;
    unsigned failures;
    struct gw_redis_op *probe; /* the PING in flight, not yet reported */

    struct gw_redis_stats *stats; /* the worker's (outlives the client), or own_stats */
    struct gw_redis_stats own_stats;
};

const uint64_t gw_redis_lat_le_us[12] = {100,   250,   500,   1000,   2500,   5000,
                                         10000, 25000, 50000, 100000, 250000, 1000000};

static void conn_start(struct gw_redis *c);
static void breaker_open(struct gw_redis *c);
static void on_reply(redisAsyncContext *ac, void *r, void *priv);
static void on_op_timeout(h2o_timeout_entry_t *e);
static void note_written(struct gw_redis *c);

static pthread_once_t capped_once = PTHREAD_ONCE_INIT;

/* --- small helpers ---------------------------------------------------------- */

/* Single writer (the worker), readers elsewhere: no atomic read-modify-write. */
static void
stat_add(_Atomic uint64_t *p, uint64_t n)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void
stat_set(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
unlink_entry(h2o_timeout_entry_t *e)
{
    if (h2o_timeout_is_linked(e))
        h2o_timeout_unlink(e);
}

/*
 * Log a connection failure once per outage: while Redis stays down the
 * attempts repeat (back-off, breaker probes) on every worker, and the
 * reconnects counter tells the rest.  conn_ready() ends the outage.
 */
static void __attribute__((format(printf, 3, 4)))
outage_log(struct gw_redis *c, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (c->outage_logged)
        return;
    c->outage_logged = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pc_log(level, "redis %s: %s (further attempts are not logged until connected)", c->where, msg);
}

static const char *
reply_text(const redisReply *r, char *buf, size_t len)
{
    return pc_log_esc(buf, len, r->str != NULL ? r->str : "", r->str != NULL ? r->len : 0);
}

/* --- reply size caps ---------------------------------------------------------- */

/* hiredis 0.14.1 has no reader limits: wrap its reply builders.  Returning
 * NULL makes the reader fail ("out of memory") and the connection drop. */
static redisReplyObjectFunctions default_fns, capped_fns;
static __thread bool reply_over_cap; /* tells the disconnect log why */

static void *
capped_string(const redisReadTask *task, char *str, size_t len)
{
    if (len > GW_REDIS_REPLY_MAX_BYTES) {
        reply_over_cap = true;
        return NULL;
    }
    return default_fns.createString(task, str, len);
}

static void *
capped_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || elements > GW_REDIS_REPLY_MAX_ELEMS) {
        reply_over_cap = true;
        return NULL;
    }
    return default_fns.createArray(task, elements);
}

static void
capped_fns_init(void)
{
    redisReader *r = redisReaderCreate();

    if (r == NULL) {
        pc_log(LOG_ERR, "redis: out of memory");
        abort();
    }
    default_fns = *r->fn;
    redisReaderFree(r);
    capped_fns = default_fns;
    capped_fns.createString = capped_string;
    capped_fns.createArray = capped_array;
}

/* --- the h2o adapter ---------------------------------------------------------- */

static void
on_sock_read(h2o_socket_t *sock, const char *err)
{
    struct gw_redis *c = sock->data;
    redisAsyncContext *ac = c->ac;

    (void)err; /* DONT_READ: h2o reports readiness only; hiredis reads */
    redisAsyncHandleRead(ac);
    /* Still ours?  Then what is left unparsed is part of one reply: a reply
     * this large is no reply of ours. */
    if (c->ac == ac && ac->c.reader->len - ac->c.reader->pos > GW_REDIS_REPLY_MAX_BYTES) {
        pc_log(LOG_ERR, "redis %s: reply larger than %d bytes, dropping the connection", c->where,
               GW_REDIS_REPLY_MAX_BYTES);
        redisAsyncFree(ac);
    }
}

static void
on_sock_write(h2o_socket_t *sock, const char *err)
{
    struct gw_redis *c = sock->data;

    (void)err; /* a failed connect shows in hiredis's own SO_ERROR check */
    if (c->ac != NULL) {
        redisAsyncHandleWrite(c->ac);
        note_written(c);
    }
}

static void
ev_add_read(void *p)
{
    struct gw_redis *c = p;

    if (c->sock != NULL && !h2o_socket_is_reading(c->sock))
        h2o_socket_read_start(c->sock, on_sock_read);
}

static void
ev_del_read(void *p)
{
    struct gw_redis *c = p;

    if (c->sock != NULL && h2o_socket_is_reading(c->sock))
        h2o_socket_read_stop(c->sock);
}

/* The zero timer of addWrite: write what this turn queued. */
static void
on_flush(h2o_timeout_entry_t *e)
{
    struct gw_redis *c = H2O_STRUCT_FROM_MEMBER(struct gw_redis, flush_entry, e);

    if (c->ac == NULL || c->sock == NULL || h2o_socket_is_writing(c->sock))
        return; /* gone, or a writable event will write */
    c->flushing = true;
    redisAsyncHandleWrite(c->ac); /* a partial write calls addWrite again */
    c->flushing = false;
    note_written(c);
}

static void
ev_add_write(void *p)
{
    struct gw_redis *c = p;

    if (c->sock == NULL || h2o_socket_is_writing(c->sock))
        return;
    if (!c->flushing && c->ac != NULL && (c->ac->c.flags & REDIS_CONNECTED) != 0) {
        if (!h2o_timeout_is_linked(&c->flush_entry))
            h2o_timeout_link(c->loop, &c->flush, &c->flush_entry);
        return;
    }
    h2o_socket_notify_write(c->sock, on_sock_write);
}

static void
schedule_reconnect(struct gw_redis *c)
{
    unlink_entry(&c->reconnect_entry);
    h2o_timeout_link(c->loop, &c->backoff[c->backoff_step], &c->reconnect_entry);
    if (c->backoff_step + 1 < GW_REDIS_BACKOFF_STEPS)
        c->backoff_step++;
}

/* No context any more (a failed connect, or hiredis freed it). */
static void
conn_failed(struct gw_redis *c)
{
    c->ready = false;
    c->connecting = false;
    c->loading = false;
    c->hello_pending = 0;
    unlink_entry(&c->connect_entry);
    if (c->freeing)
        return;
    schedule_reconnect(c);
    if (c->breaker == BR_HALF_OPEN && c->probe == NULL)
        breaker_open(c); /* the probe could not even be sent */
}

/* hiredis is freeing the context: the one place a connection ends. */
static void
ev_cleanup(void *p)
{
    struct gw_redis *c = p;

    if (c->sock != NULL) {
        h2o_socket_close(c->sock); /* closes the fd */
        c->sock = NULL;
    }
    if (c->ac != NULL) {
        c->ac->c.fd = -1; /* or redisFree closes it again */
        c->ac = NULL;
    }
    conn_failed(c);
}

/* --- commands ------------------------------------------------------------------- */

static struct gw_redis_op *
op_new(struct gw_redis *c, enum op_kind kind, size_t cmdcap)
{
    struct gw_redis_op *op = pc_xcalloc(1, sizeof(*op) + cmdcap);

    op->c = c;
    op->kind = kind;
    return op;
}

static void
sent(struct gw_redis *c, struct gw_redis_op *op)
{
    c->inflight++;
    stat_set(&c->stats->inflight, c->inflight);
    stat_add(&c->stats->commands, 1);
    if (op->sent_ns == 0)
        op->sent_ns = mono_ns();
    op->seq = ++c->queued_seq;
}

/*
 * After a write: every command queued so far has left (a partial write
 * counts too; the rest follows when the socket is writable).  The timer of
 * a charge measures Redis from this moment: a command queued early in a
 * long turn of the loop leaves only at its end.
 */
static void
note_written(struct gw_redis *c)
{
    if (c->written_seq == c->queued_seq)
        return;
    c->prev_written_seq = c->written_seq;
    c->written_seq = c->queued_seq;
    c->written_ns = mono_ns();
}

static int
send_formatted(struct gw_redis *c, struct gw_redis_op *op)
{
    if (c->ac == NULL ||
        redisAsyncFormattedCommand(c->ac, on_reply, op, op->cmd, op->cmdlen) != REDIS_OK)
        return -1;
    sent(c, op);
    return 0;
}

static int
send_argv(struct gw_redis *c, struct gw_redis_op *op, int argc, const char **argv,
          const size_t *lens)
{
    if (c->ac == NULL || redisAsyncCommandArgv(c->ac, on_reply, op, argc, argv, lens) != REDIS_OK)
        return -1;
    sent(c, op);
    return 0;
}

static int
send_script_load(struct gw_redis *c)
{
    const char *argv[] = {"SCRIPT", "LOAD", gw_gcra_lua};
    size_t lens[] = {6, 4, strlen(gw_gcra_lua)};
    struct gw_redis_op *op = op_new(c, OP_LOAD, 0);

    if (send_argv(c, op, 3, argv, lens) != 0) {
        free(op);
        return -1;
    }
    c->loading = true;
    return 0;
}

static int
send_hello(struct gw_redis *c, const char *what, int argc, const char **argv, const size_t *lens)
{
    struct gw_redis_op *op = op_new(c, OP_HELLO, 0);

    op->what = what;
    if (send_argv(c, op, argc, argv, lens) != 0) {
        free(op);
        return -1;
    }
    c->hello_pending++;
    return 0;
}

/* AUTH, SELECT, SCRIPT LOAD, pipelined behind the connect. */
static int
send_handshake(struct gw_redis *c)
{
    char db[24];
    const char *argv[3];
    size_t lens[3];
    int argc = 0;

    if (c->password != NULL) {
        argv[argc] = "AUTH";
        lens[argc++] = 4;
        if (c->user != NULL) {
            argv[argc] = c->user;
            lens[argc++] = strlen(c->user);
        }
        argv[argc] = c->password;
        lens[argc++] = strlen(c->password);
        if (send_hello(c, "AUTH", argc, argv, lens) != 0)
            return -1;
    }
    if (c->db != 0) {
        snprintf(db, sizeof(db), "%u", c->db);
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = db;
        lens[1] = strlen(db);
        if (send_hello(c, "SELECT", 2, argv, lens) != 0)
            return -1;
    }
    if (send_script_load(c) != 0)
        return -1;
    c->hello_pending++; /* READY comes with the load's reply, the last one */
    return 0;
}

/* --- the breaker ----------------------------------------------------------------- */

static void
breaker_set(struct gw_redis *c, enum breaker b)
{
    c->breaker = b;
    atomic_store_explicit(&c->stats->breaker_state, (int)b, memory_order_relaxed);
}

static void
breaker_open(struct gw_redis *c)
{
    if (c->breaker == BR_CLOSED)
        pc_log(LOG_WARNING,
               "redis %s: circuit breaker open after %u consecutive failures; "
               "charges fail at once for %d ms",
               c->where, c->failures, GW_REDIS_BREAKER_COOLDOWN_MS);
    breaker_set(c, BR_OPEN);
    c->failures = 0;
    unlink_entry(&c->cooldown_entry);
    h2o_timeout_link(c->loop, &c->cooldown, &c->cooldown_entry);
}

static void
breaker_close(struct gw_redis *c)
{
    pc_log(LOG_INFO, "redis %s: circuit breaker closed", c->where);
    breaker_set(c, BR_CLOSED);
    c->failures = 0;
    c->err_logged = false;
}

static void
send_probe(struct gw_redis *c)
{
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    struct gw_redis_op *op = op_new(c, OP_PING, sizeof(ping));

    memcpy(op->cmd, ping, sizeof(ping) - 1);
    op->cmdlen = sizeof(ping) - 1;
    op->timer.cb = on_op_timeout;
    if (send_formatted(c, op) != 0) {
        free(op);
        breaker_open(c);
        return;
    }
    c->probe = op;
    h2o_timeout_link(c->loop, &c->op_timeout, &op->timer);
}

static void
on_cooldown(h2o_timeout_entry_t *e)
{
    struct gw_redis *c = H2O_STRUCT_FROM_MEMBER(struct gw_redis, cooldown_entry, e);

    breaker_set(c, BR_HALF_OPEN);
    if (c->ready) {
        send_probe(c);
    } else if (c->ac == NULL) {
        /* Do not wait for the back-off: the probe needs a connection now. */
        unlink_entry(&c->reconnect_entry);
        conn_start(c);
    }
    /* else connecting: conn_ready() sends the probe */
}

/*
 * Count an outcome: stats, and the breaker's run of failures.  A refusal
 * while a connection attempt is under way (at start-up, say) is counted as
 * DOWN but does not feed the breaker: that attempt decides.
 */
static void
account(struct gw_redis *c, enum gw_redis_status st)
{
    switch (st) {
    case GW_REDIS_OK:
        c->failures = 0;
        c->err_logged = false;
        return;
    case GW_REDIS_BREAKER_OPEN:
        stat_add(&c->stats->breaker_rejects, 1);
        return;
    case GW_REDIS_TIMEOUT:
        stat_add(&c->stats->timeouts, 1);
        break;
    case GW_REDIS_DOWN:
        stat_add(&c->stats->down, 1);
        break;
    case GW_REDIS_BAD_REPLY:
        stat_add(&c->stats->errors, 1);
        break;
    }
    if (c->freeing || c->breaker != BR_CLOSED || (st == GW_REDIS_DOWN && c->connecting))
        return;
    if (++c->failures >= GW_REDIS_BREAKER_FAILURES)
        breaker_open(c);
}

/* --- the connection ------------------------------------------------------------ */

static void
on_connect_timeout(h2o_timeout_entry_t *e)
{
    struct gw_redis *c = H2O_STRUCT_FROM_MEMBER(struct gw_redis, connect_entry, e);

    outage_log(c, LOG_WARNING, "no connection and handshake within %llu ms",
               (unsigned long long)c->connect_timeout.timeout);
    if (c->ac != NULL)
        redisAsyncFree(c->ac); /* -> ev_cleanup -> back-off */
}

static void
on_reconnect(h2o_timeout_entry_t *e)
{
    conn_start(H2O_STRUCT_FROM_MEMBER(struct gw_redis, reconnect_entry, e));
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct gw_redis *c = ac->data;

    if (status != REDIS_OK)
        outage_log(c, LOG_WARNING, "connect: %s", ac->c.errstr);
    /* on failure hiredis now frees the context: ev_cleanup */
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct gw_redis *c = ac->data;

    if (status == REDIS_OK)
        return; /* we asked for it, and said why */
    if (reply_over_cap) {
        reply_over_cap = false;
        pc_log(LOG_ERR, "redis %s: reply over the size caps, connection dropped", c->where);
    } else {
        pc_log(LOG_WARNING, "redis %s: connection lost: %s", c->where, ac->c.errstr);
    }
    c->outage_logged = true; /* the reconnect attempts that follow are quiet */
}

static void
conn_start(struct gw_redis *c)
{
    redisAsyncContext *ac;

    pthread_once(&capped_once, capped_fns_init);
    if (c->attempts++ != 0)
        stat_add(&c->stats->reconnects, 1);
    if (c->path != NULL)
        ac = redisAsyncConnectUnix(c->path);
    else
        ac = redisAsyncConnect(c->host, c->port);
    if (ac == NULL) {
        pc_log(LOG_ERR, "redis %s: out of memory", c->where);
        abort();
    }
    if (ac->err != 0) {
        outage_log(c, LOG_WARNING, "connect: %s", ac->errstr);
        redisAsyncFree(ac); /* no adapter yet: hiredis closes its fd */
        conn_failed(c);
        return;
    }
    ac->c.reader->fn = &capped_fns;
    ac->data = c;
    c->load_logged = false;
    c->ac = ac;
    c->connecting = true;
    c->hello_failed = false;
    c->sock = h2o_evloop_socket_create(c->loop, ac->c.fd, H2O_SOCKET_FLAG_DONT_READ);
    c->sock->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    h2o_timeout_link(c->loop, &c->connect_timeout, &c->connect_entry);
    if (send_handshake(c) != 0) {
        /* cannot happen on a fresh context; fail safe all the same */
        redisAsyncFree(ac);
    }
}

static void
conn_ready(struct gw_redis *c)
{
    unlink_entry(&c->connect_entry);
    c->connecting = false;
    c->ready = true;
    c->backoff_step = 0;
    pc_log(c->outage_logged ? LOG_WARNING : LOG_INFO, "redis %s: connected", c->where);
    c->outage_logged = false;
    if (c->breaker == BR_HALF_OPEN && c->probe == NULL)
        send_probe(c);
}

/* Drop the connection from a reply callback (hiredis frees it on return). */
static void
conn_drop(struct gw_redis *c)
{
    c->ready = false;
    if (c->ac != NULL)
        redisAsyncFree(c->ac);
}

/* --- replies ---------------------------------------------------------------------- */

static void
hello_step_done(struct gw_redis *c)
{
    if (c->hello_pending > 0 && --c->hello_pending == 0 && !c->hello_failed && c->ac != NULL)
        conn_ready(c);
}

static void
on_hello_reply(struct gw_redis *c, struct gw_redis_op *op, redisReply *r)
{
    char text[GW_REDIS_ERR_TEXT];

    if (r == NULL)
        return; /* the connection is going: ev_cleanup follows */
    if (r->type == REDIS_REPLY_ERROR) {
        /* Redis's AUTH errors never echo the password; escape all the same. */
        outage_log(c, LOG_ERR, "%s refused: %s", op->what, reply_text(r, text, sizeof(text)));
        c->hello_failed = true;
        conn_drop(c);
        return;
    }
    hello_step_done(c);
}

static void
on_load_reply(struct gw_redis *c, redisReply *r)
{
    char text[GW_REDIS_ERR_TEXT];

    c->loading = false;
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        if (!c->load_logged)
            pc_log(LOG_ERR, "redis %s: SCRIPT LOAD refused: %s", c->where,
                   reply_text(r, text, sizeof(text)));
        c->load_logged = true;
    } else if (r->type != REDIS_REPLY_STRING || r->len != 40 || memcmp(r->str, c->sha, 40) != 0)
        pc_log(LOG_ERR, "redis %s: SCRIPT LOAD answered another digest", c->where);
    hello_step_done(c); /* a no-op unless this load was the handshake's */
}

static void
on_probe_reply(struct gw_redis *c, struct gw_redis_op *op, redisReply *r)
{
    if (op->done)
        return; /* timed out: already reopened */
    unlink_entry(&op->timer);
    c->probe = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STATUS && r->len == 4 && memcmp(r->str, "PONG", 4) == 0)
        breaker_close(c);
    else if (c->breaker == BR_HALF_OPEN)
        breaker_open(c);
}

static void
lat_record(struct gw_redis *c, uint64_t sent_ns)
{
    uint64_t us = (mono_ns() - sent_ns) / 1000;

    stat_add(&c->stats->lat_count, 1);
    stat_add(&c->stats->lat_sum_us, us);
    for (size_t i = 0; i < 12; i++) {
        if (us <= gw_redis_lat_le_us[i]) {
            stat_add(&c->stats->lat[i], 1);
            break;
        }
    }
}

/* One integer, the script's answer for this spec (gw_gcra_from_reply). */
static bool
parse_gcra(const redisReply *r, const struct gw_gcra_spec *spec, struct gw_gcra_result *res)
{
    return r->type == REDIS_REPLY_INTEGER && gw_gcra_from_reply(spec, r->integer, res);
}

/* Report the outcome of a charge (at most once) and account for it. */
static void
op_report(struct gw_redis_op *op, enum gw_redis_status st, const struct gw_gcra_result *res)
{
    void (*cb)(void *, enum gw_redis_status, const struct gw_gcra_result *) = op->cb;

    unlink_entry(&op->timer);
    op->cb = NULL;
    op->done = true;
    account(op->c, st);
    if (cb != NULL)
        cb(op->data, st, res);
}

static bool
is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

static void
on_gcra_reply(struct gw_redis *c, struct gw_redis_op *op, redisReply *r)
{
    struct gw_gcra_result res;
    char text[GW_REDIS_ERR_TEXT];

    if (r == NULL) {
        c->ready = false; /* charges made from the callbacks fail at once */
        op_report(op, GW_REDIS_DOWN, NULL);
        return;
    }
    if (is_noscript(r) && !op->retried) {
        op->retried = true;
        if ((c->loading || send_script_load(c) == 0) && send_formatted(c, op) == 0)
            return; /* the op lives on: its reply is the retry's */
        op_report(op, GW_REDIS_DOWN, NULL);
        return;
    }
    lat_record(c, op->sent_ns);
    if (r->type == REDIS_REPLY_ERROR) {
        if (!c->err_logged)
            pc_log(LOG_ERR, "redis %s: charge refused: %s", c->where,
                   reply_text(r, text, sizeof(text)));
        c->err_logged = true;
        op_report(op, GW_REDIS_BAD_REPLY, NULL);
        return;
    }
    if (!parse_gcra(r, &op->spec, &res)) {
        if (!c->err_logged)
            pc_log(LOG_ERR, "redis %s: unexpected reply to the GCRA script (type %d)", c->where,
                   r->type);
        c->err_logged = true;
        op_report(op, GW_REDIS_BAD_REPLY, NULL);
        return;
    }
    op_report(op, GW_REDIS_OK, &res);
}

/* Every reply (or NULL: the connection is going) of every command we sent. */
static void
on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct gw_redis_op *op = priv;
    struct gw_redis *c = op->c;
    bool keep = false;

    (void)ac;
    c->in_hiredis++;
    c->inflight--;
    stat_set(&c->stats->inflight, c->inflight);
    switch (op->kind) {
    case OP_GCRA:
        if (!op->done) {
            bool retried = op->retried;

            on_gcra_reply(c, op, r);
            keep = !op->done && op->retried != retried;
        }
        break;
    case OP_HELLO:
        on_hello_reply(c, op, r);
        break;
    case OP_LOAD:
        on_load_reply(c, r);
        break;
    case OP_PING:
        on_probe_reply(c, op, r);
        break;
    }
    c->in_hiredis--;
    if (!keep)
        free(op);
}

/* Whether bytes from Redis wait unread in the socket (a reply, most likely). */
static bool
reply_waiting(const struct gw_redis *c)
{
    struct pollfd p;

    if (c->ac == NULL || c->ac->c.fd < 0)
        return false;
    p.fd = c->ac->c.fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

static void
on_op_timeout(h2o_timeout_entry_t *e)
{
    struct gw_redis_op *op = H2O_STRUCT_FROM_MEMBER(struct gw_redis_op, timer, e);
    struct gw_redis *c = op->c;

    /*
     * h2o links the timer against the loop's cached clock, which can be
     * behind by the length of the previous busy iteration; under load that
     * fires the timer early.  Measure for real, from the write that sent
     * the command, and wait again while the budget is not spent.
     */
    uint64_t now = mono_ns(), from = op->sent_ns;

    /* Not written yet (a long turn, or a socket that would not take it):
     * wait, up to GW_REDIS_UNSENT_FACTOR times the budget from queueing. */
    if (op->seq > c->written_seq &&
        (now - op->sent_ns) / 1000000 < GW_REDIS_UNSENT_FACTOR * c->timeout_ms) {
        h2o_timeout_link(c->loop, &c->op_timeout, &op->timer);
        return;
    }
    /* written by the latest write: Redis's time starts there */
    if (op->seq > c->prev_written_seq && op->seq <= c->written_seq && c->written_ns > from)
        from = c->written_ns;
    if (from != 0 && (now - from) / 1000000 < c->timeout_ms) {
        h2o_timeout_link(c->loop, &c->op_timeout, &op->timer);
        return;
    }
    /*
     * A turn of the loop that accepts a burst of new TLS connections can
     * take longer than redis.timeout: Redis answered in time, but its reply
     * waits in the socket behind the handshakes.  That is not a Redis
     * failure (counting it as one opened the breaker and denied traffic
     * after every reconnect storm), so when bytes are waiting, the timer
     * gives the loop one more turn -- its I/O runs before its timers -- to
     * read them.  Once per operation: a reply that is not there by then is
     * a timeout.
     */
    if (!op->graced && reply_waiting(c)) {
        op->graced = true;
        stat_add(&c->stats->graced, 1);
        h2o_timeout_link(c->loop, &c->grace, &op->timer);
        return;
    }
    /* Not freed here: hiredis still holds it for the reply that may come. */
    if (op->kind == OP_PING) {
        op->done = true;
        c->probe = NULL;
        stat_add(&c->stats->timeouts, 1);
        if (c->breaker == BR_HALF_OPEN)
            breaker_open(c);
        return;
    }
    op_report(op, GW_REDIS_TIMEOUT, NULL);
}

/* --- the API -------------------------------------------------------------------- */

struct gw_redis *
gw_redis_new(h2o_loop_t *loop, const struct pol_redis *conf, struct gw_redis_stats *stats)
{
    struct gw_redis *c = pc_xcalloc(1, sizeof(*c));

    c->stats = stats != NULL ? stats : &c->own_stats;
    uint64_t ms = GW_REDIS_BACKOFF_MIN_MS;

    c->loop = loop;
    c->host = conf->host != NULL ? pc_xstrdup(conf->host) : NULL;
    c->port = conf->port != 0 ? conf->port : 6379;
    c->path = conf->path != NULL ? pc_xstrdup(conf->path) : NULL;
    c->user = conf->user != NULL ? pc_xstrdup(conf->user) : NULL;
    c->password = conf->password != NULL ? pc_xstrdup(conf->password) : NULL;
    c->db = conf->db;
    c->timeout_ms = conf->timeout_ms != 0 ? conf->timeout_ms : 25;
    if (c->path != NULL)
        snprintf(c->where, sizeof(c->where), "unix:%s", c->path);
    else if (c->host != NULL && strchr(c->host, ':') != NULL)
        snprintf(c->where, sizeof(c->where), "[%s]:%u", c->host, c->port);
    else
        snprintf(c->where, sizeof(c->where), "%s:%u", c->host != NULL ? c->host : "127.0.0.1",
                 c->port);
    if (c->host == NULL && c->path == NULL)
        c->host = pc_xstrdup("127.0.0.1");
    c->sha = gw_gcra_lua_sha();

    h2o_timeout_init(loop, &c->op_timeout, c->timeout_ms);
    h2o_timeout_init(loop, &c->grace, GW_REDIS_GRACE_MS);
    h2o_timeout_init(loop, &c->flush, 0);
    c->flush_entry.cb = on_flush;
    h2o_timeout_init(loop, &c->connect_timeout,
                     c->timeout_ms > GW_REDIS_CONNECT_TIMEOUT_MS ? c->timeout_ms
                                                                 : GW_REDIS_CONNECT_TIMEOUT_MS);
    for (size_t i = 0; i < GW_REDIS_BACKOFF_STEPS; i++) {
        h2o_timeout_init(loop, &c->backoff[i], ms);
        ms = ms * 2 > GW_REDIS_BACKOFF_MAX_MS ? GW_REDIS_BACKOFF_MAX_MS : ms * 2;
    }
    h2o_timeout_init(loop, &c->cooldown, GW_REDIS_BREAKER_COOLDOWN_MS);
    c->connect_entry.cb = on_connect_timeout;
    c->reconnect_entry.cb = on_reconnect;
    c->cooldown_entry.cb = on_cooldown;

    conn_start(c);
    return c;
}

void
gw_redis_free(struct gw_redis *c)
{
    if (c == NULL)
        return;
    if (c->in_hiredis != 0) {
        pc_log(LOG_ERR, "redis %s: gw_redis_free called from a callback", c->where);
        abort();
    }
    c->freeing = true;
    c->ready = false;
    /* Every command still queued gets its NULL reply now: charges report
     * GW_REDIS_DOWN, abandoned ones are freed; then ev_cleanup closes the
     * socket. */
    if (c->ac != NULL)
        redisAsyncFree(c->ac);
    unlink_entry(&c->connect_entry);
    unlink_entry(&c->reconnect_entry);
    unlink_entry(&c->cooldown_entry);
    h2o_timeout_dispose(c->loop, &c->op_timeout);
    unlink_entry(&c->flush_entry);
    h2o_timeout_dispose(c->loop, &c->grace);
    h2o_timeout_dispose(c->loop, &c->flush);
    h2o_timeout_dispose(c->loop, &c->connect_timeout);
    for (size_t i = 0; i < GW_REDIS_BACKOFF_STEPS; i++)
        h2o_timeout_dispose(c->loop, &c->backoff[i]);
    h2o_timeout_dispose(c->loop, &c->cooldown);
    free(c->host);
    free(c->path);
    free(c->user);
    pc_free_secret_str(c->password);
    free(c);
}

/* Decimal digits of v at p (no NUL); returns their count (at most 20). */
static size_t
put_dec(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* "$<n>\r\n<s>\r\n": at most n + 26 bytes. */
static size_t
put_bulk(char *p, const char *s, size_t n)
{
    size_t k = 0;

    p[k++] = '$';
    k += put_dec(p + k, n);
    memcpy(p + k, "\r\n", 2);
    memcpy(p + k + 2, s, n);
    memcpy(p + k + 2 + n, "\r\n", 2);
    return k + n + 4;
}

static size_t
put_u64(char *p, uint64_t v)
{
    char num[20];
    size_t n = put_dec(num, v);

    return put_bulk(p, num, n);
}

struct gw_redis_op *
gw_redis_gcra(struct gw_redis *c, const char *key, size_t keylen, const struct gw_gcra_spec *spec,
              void (*cb)(void *data, enum gw_redis_status st, const struct gw_gcra_result *res),
              void *data)
{
    struct gw_redis_op *op = NULL;
    enum gw_redis_status st;
    char *p;

    if (c->breaker != BR_CLOSED) {
        st = GW_REDIS_BREAKER_OPEN;
        goto fail;
    }
    if (!c->ready || c->freeing) {
        st = GW_REDIS_DOWN;
        goto fail;
    }
    if (keylen > GW_RL_KEY_MAX) {
        /* the caller's bug, not Redis's failure: no breaker, one log line */
        if (!c->key_logged)
            pc_log(LOG_ERR, "redis %s: rate-limit key of %zu bytes (max %d) refused", c->where,
                   keylen, GW_RL_KEY_MAX);
        c->key_logged = true;
        stat_add(&c->stats->errors, 1);
        cb(data, GW_REDIS_BAD_REPLY, NULL);
        return NULL;
    }
    if (c->inflight >= GW_REDIS_MAX_INFLIGHT) {
        st = GW_REDIS_TIMEOUT; /* it would wait behind that many replies anyway */
        goto fail;
    }
    op = op_new(c, OP_GCRA, keylen + GW_REDIS_CMD_SLACK);
    op->cb = cb;
    op->data = data;
    op->spec = *spec;
    op->timer.cb = on_op_timeout;
    p = op->cmd;
    memcpy(p, "*6\r\n$7\r\nEVALSHA\r\n", 17);
    p += 17;
    p += put_bulk(p, c->sha, 40);
    memcpy(p, "$1\r\n1\r\n", 7);
    p += 7;
    p += put_bulk(p, key, keylen);
    p += put_u64(p, spec->interval_us);
    p += put_u64(p, spec->burst);
    op->cmdlen = (size_t)(p - op->cmd);
    if (send_formatted(c, op) != 0) {
        free(op);
        st = GW_REDIS_DOWN;
        goto fail;
    }
    h2o_timeout_link(c->loop, &c->op_timeout, &op->timer);
    return op;
fail:
    account(c, st);
    cb(data, st, NULL);
    return NULL;
}

void
gw_redis_cancel(struct gw_redis_op *op)
{
    if (op == NULL)
        return;
    unlink_entry(&op->timer);
    op->cb = NULL;
    op->done = true; /* freed when its reply, or the disconnect, comes */
}

bool
gw_redis_ready(const struct gw_redis *c)
{
    return c->ready && c->breaker == BR_CLOSED;
}

const struct gw_redis_stats *
gw_redis_stats(const struct gw_redis *c)
{
    return c->stats;
}
