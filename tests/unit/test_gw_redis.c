/*
 * gateway/gw_redis.c against a real redis-server (started here on a free
 * 127.0.0.1 port or a unix socket, killed at the end even on failure), on an
 * h2o evloop driven by the test: the GCRA script's math equals
 * gw_gcra_step(), bursts and refusals, NOSCRIPT after SCRIPT FLUSH,
 * requirepass and ACL users, SELECT, unix sockets, a killed and a stalled
 * server (DOWN/TIMEOUT, then the breaker, then recovery), cancellation,
 * gw_redis_free with operations pending, 10000 pipelined operations, one
 * Redis command per charge, and the replies we refuse (a fake server).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "common/pc_log.h"
#include "gateway/gw_rl.h"
#include "tests/unit/redis_harness.h"

#define SEC        UINT64_C(1000000)
#define WAIT_MS    5000 /* the most any test waits for a condition */
#define TIMEOUT_MS 500  /* redis.timeout for tests that do not test it */

static struct rh_server srv; /* shared by the tests that need nothing special */

/* pol_redis holds char * (it owns its strings): writable copies here */
static char lo_host[] = "127.0.0.1";
static char pw_good[] = "s3cret-Pw", pw_bad[] = "wr0ng-Pw";
static char url_good[] = "redis://:s3cret-Pw@127.0.0.1/0",
            url_bad[] = "redis://:wr0ng-Pw@127.0.0.1/0";
static char acl_user[] = "pc", acl_pw[] = "pc-Pw", acl_bad[] = "nope";

/* --- driving the loop -------------------------------------------------------- */

struct result {
    int calls;
    enum gw_redis_status st;
    struct gw_gcra_result r;
};

static void
on_result(void *data, enum gw_redis_status st, const struct gw_gcra_result *res)
{
    struct result *out = data;

    out->calls++;
    out->st = st;
    if (res != NULL)
        out->r = *res;
    else
        assert_int_not_equal(st, GW_REDIS_OK);
}

struct tally {
    int calls, ok, allowed, other;
};

static void
on_tally(void *data, enum gw_redis_status st, const struct gw_gcra_result *res)
{
    struct tally *t = data;

    t->calls++;
    if (st == GW_REDIS_OK) {
        t->ok++;
        t->allowed += res->allowed;
    } else {
        t->other++;
    }
}

static void
on_never(void *data, enum gw_redis_status st, const struct gw_gcra_result *res)
{
    (void)data;
    (void)st;
    (void)res;
    fail_msg("a cancelled operation called back");
}

static void
run_ms(h2o_loop_t *loop, uint64_t ms)
{
    uint64_t end = rh_now_ms() + ms;

    while (rh_now_ms() < end)
        h2o_evloop_run(loop, 5);
}

/* Run the loop until *count reaches want (or WAIT_MS); true if it did. */
static bool
run_until(h2o_loop_t *loop, const int *count, int want)
{
    uint64_t end = rh_now_ms() + WAIT_MS;

    while (*count < want && rh_now_ms() < end)
        h2o_evloop_run(loop, 5);
    return *count >= want;
}

static bool
wait_ready(h2o_loop_t *loop, const struct gw_redis *c)
{
    uint64_t end = rh_now_ms() + WAIT_MS;

    while (!gw_redis_ready(c) && rh_now_ms() < end)
        h2o_evloop_run(loop, 5);
    return gw_redis_ready(c);
}

static bool
wait_idle(h2o_loop_t *loop, const struct gw_redis *c)
{
    uint64_t end = rh_now_ms() + WAIT_MS;

    while (atomic_load(&gw_redis_stats(c)->inflight) != 0 && rh_now_ms() < end)
        h2o_evloop_run(loop, 5);
    return atomic_load(&gw_redis_stats(c)->inflight) == 0;
}

static enum gw_redis_status
charge(h2o_loop_t *loop, struct gw_redis *c, const char *key, const struct gw_gcra_spec *s,
       struct result *out)
{
    *out = (struct result){0};
    gw_redis_gcra(c, key, strlen(key), s, on_result, out);
    assert_true(run_until(loop, &out->calls, 1));
    assert_int_equal(out->calls, 1);
    return out->st;
}

static struct pol_redis
conf_tcp(const struct rh_server *s, uint64_t timeout_ms)
{
    struct pol_redis conf = {.host = lo_host, .port = (uint16_t)s->port, .timeout_ms = timeout_ms};
    return conf;
}

static struct gw_redis *
client(h2o_loop_t *loop, const struct pol_redis *conf)
{
    struct gw_redis *c = gw_redis_new(loop, conf, NULL);

    assert_non_null(c);
    assert_true(wait_ready(loop, c));
    return c;
}

/* Free the client, let h2o reap the socket, destroy the loop: any timeout
 * left linked would assert in h2o_evloop_destroy. */
static void
finish(h2o_loop_t *loop, struct gw_redis *c)
{
    gw_redis_free(c);
    h2o_evloop_run(loop, 0);
    h2o_evloop_destroy(loop);
}

static struct gw_gcra_spec
spec(uint64_t t, uint64_t b)
{
    struct gw_gcra_spec s = {.interval_us = t, .burst = b};
    return s;
}

/* --- setup --------------------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as gw_main.c: hiredis writes with write(2) */
    pc_log_init("test_gw_redis", getenv("TEST_DEBUG") != NULL ? LOG_DEBUG : LOG_WARNING);
    return rh_start(&srv, -1, false, NULL) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    rh_stop(&srv);
    return 0;
}

static int
test_setup(void **state)
{
    (void)state;
    rh_run(&srv, 0, "FLUSHALL");
    rh_run(&srv, 0, "SCRIPT FLUSH");
    return 0;
}

/* --- the script ----------------------------------------------------------------- */

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Run the script with an explicit clock (ARGV[3]) on a stored TAT and compare
 * everything with gw_gcra_step: the reply, the stored TAT, its expiry. */
static void
check_script_case(redisContext *rc, uint64_t t, uint64_t b, uint64_t tat, uint64_t now)
{
    struct gw_gcra_spec s = spec(t, b);
    struct gw_gcra_result want, got;
    uint64_t stored = gw_gcra_step(&s, tat, now, &want);
    char ts[24], bs[24], ns[24], tats[24];
    const char *argv[7] = {"EVALSHA", gw_gcra_lua_sha(), "1", "pc:{t}:lua", ts, bs, ns};
    size_t lens[7];
    redisReply *r, *res;

    snprintf(ts, sizeof(ts), "%llu", (unsigned long long)t);
    snprintf(bs, sizeof(bs), "%llu", (unsigned long long)b);
    snprintf(ns, sizeof(ns), "%llu", (unsigned long long)now);
    snprintf(tats, sizeof(tats), "%llu", (unsigned long long)tat);
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    r = tat == 0 ? redisCommand(rc, "DEL pc:{t}:lua") : redisCommand(rc, "SET pc:{t}:lua %s", tats);
    freeReplyObject(r);
    /* one transaction: a TAT stored with a 1 ms expiry cannot expire
     * between the script and the reads, however loaded the machine */
    redisAppendCommand(rc, "MULTI");
    redisAppendCommandArgv(rc, 7, argv, lens);
    redisAppendCommand(rc, "GET pc:{t}:lua");
    redisAppendCommand(rc, "PTTL pc:{t}:lua");
    redisAppendCommand(rc, "EXEC");
    for (int i = 0; i < 4; i++) { /* +OK, +QUEUED x3 */
        assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    res = r->element[0];
    if (res->type != REDIS_REPLY_INTEGER)
        fail_msg("script: %s", res->str);
    /* one integer: reset, negated when refused; the client derives the rest */
    assert_int_equal(res->integer,
                     want.allowed ? (long long)want.reset_us : -(long long)want.reset_us);
    assert_true(gw_gcra_from_reply(&s, res->integer, &got));
    assert_int_equal(got.allowed, want.allowed);
    assert_int_equal(got.retry_after_us, want.retry_after_us);
    assert_int_equal(got.remaining, want.remaining);
    assert_int_equal(got.reset_us, want.reset_us);
    if (stored == tat && tat == 0) {
        assert_int_equal(r->element[1]->type, REDIS_REPLY_NIL);
    } else {
        assert_int_equal(r->element[1]->type, REDIS_REPLY_STRING);
        snprintf(tats, sizeof(tats), "%llu", (unsigned long long)stored);
        assert_string_equal(r->element[1]->str, tats);
    }
    if (stored != tat) {
        /* written by the script: expires 1 ms after the bucket is full */
        long long ttl = (long long)((stored - now) / 1000 + 1);

        assert_true(r->element[2]->integer <= ttl && r->element[2]->integer >= ttl - 1000);
    }
    freeReplyObject(r);
}

static void
test_script_math_equals_gcra_step(void **state)
{
    static const uint64_t ts[] = {1, 7, 1000, 333333, SEC, 3600 * SEC, GW_GCRA_MAX_US};
    static const uint64_t bs[] = {1, 2, 5, 100, 1000000, UINT64_C(1) << 40};
    redisContext *rc = rh_admin(&srv);
    redisReply *r;
    uint64_t x = 0x2545f4914f6cdd1du;

    (void)state;
    assert_non_null(rc);
    r = redisCommand(rc, "SCRIPT LOAD %s", gw_gcra_lua);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, gw_gcra_lua_sha());
    freeReplyObject(r);
    for (int i = 0; i < 600; i++) {
        uint64_t t = ts[xorshift(&x) % 7], b = bs[xorshift(&x) % 6];
        uint64_t now = UINT64_C(1700000000) * SEC + xorshift(&x) % (365 * 86400 * SEC);
        uint64_t tau = t * b > GW_GCRA_MAX_US ? GW_GCRA_MAX_US : t * b;
        uint64_t tat;

        if (t != 0 && b > GW_GCRA_MAX_US / t)
            tau = GW_GCRA_MAX_US;
        switch (xorshift(&x) % 6) {
        case 0:
            tat = 0; /* no state */
            break;
        case 1:
            tat = now - xorshift(&x) % (now / 2); /* expired */
            break;
        case 2:
            tat = now + xorshift(&x) % (tau + 1); /* inside the window */
            break;
        case 3:
            tat = now + tau - t + xorshift(&x) % (2 * t); /* around the edge */
            break;
        case 4:
            tat = now + tau; /* exactly exhausted */
            break;
        default:
            tat = now + tau + 1 + xorshift(&x) % (3600 * SEC); /* clock went back */
            break;
        }
        check_script_case(rc, t, b, tat, now);
    }
    redisFree(rc);
}

static void
test_script_garbage_state_fails_closed(void **state)
{
    redisContext *rc = rh_admin(&srv);
    struct gw_gcra_spec s = spec(SEC, 5);
    struct gw_gcra_result res;
    redisReply *r;

    (void)state;
    freeReplyObject(redisCommand(rc, "SET pc:{t}:junk not-a-number"));
    r = redisCommand(rc, "EVAL %s 1 pc:{t}:junk 1000000 5", gw_gcra_lua);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(gw_gcra_from_reply(&s, r->integer, &res));
    assert_false(res.allowed); /* an exhausted bucket */
    assert_int_equal(res.retry_after_us, 1000000);
    freeReplyObject(r);
    redisFree(rc);
}

/* --- charges through the client -------------------------------------------------- */

static void
test_burst_then_refused_with_retry_after(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(SEC, 5);
    struct result res;

    (void)state;
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(charge(loop, c, "pc:{r}:alice", &s, &res), GW_REDIS_OK);
        assert_true(res.r.allowed);
        assert_int_equal(res.r.remaining, 4 - i);
    }
    assert_int_equal(charge(loop, c, "pc:{r}:alice", &s, &res), GW_REDIS_OK);
    assert_false(res.r.allowed);
    assert_int_equal(res.r.remaining, 0);
    /* exactly one interval minus the few ms the five charges took */
    assert_true(res.r.retry_after_us <= SEC && res.r.retry_after_us > SEC / 2);
    assert_true(res.r.reset_us <= 5 * SEC && res.r.reset_us > 5 * SEC - SEC / 2);
    /* another key is untouched; Redis holds the TAT with an expiry */
    assert_int_equal(charge(loop, c, "pc:{r}:bob", &s, &res), GW_REDIS_OK);
    assert_true(res.r.allowed);
    assert_true(rh_run(&srv, 0, "PTTL pc:{r}:alice") > 4000);
    assert_true(rh_run(&srv, 0, "PTTL pc:{r}:alice") <= 5001);
    /* after the retry-after, it passes again */
    run_ms(loop, 1000);
    assert_int_equal(charge(loop, c, "pc:{r}:alice", &s, &res), GW_REDIS_OK);
    assert_true(res.r.allowed);
    assert_int_equal(gw_redis_stats(c)->errors, 0);
    assert_true(gw_redis_stats(c)->lat_count >= 8);
    finish(loop, c);
}

static void
test_script_flush_changes_nothing_visible(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(3600 * SEC, 10);
    struct result res;
    struct tally t = {0};

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(charge(loop, c, "pc:{f}:k", &s, &res), GW_REDIS_OK);
    assert_int_equal(rh_run(&srv, 0, "SCRIPT FLUSH"), 0);
    assert_int_equal(rh_run(&srv, 0, "CONFIG RESETSTAT"), 0);
    /* 100 charges in flight meet NOSCRIPT together: one SCRIPT LOAD */
    for (int i = 0; i < 100; i++)
        gw_redis_gcra(c, "pc:{f}:k", 8, &s, on_tally, &t);
    assert_true(run_until(loop, &t.calls, 100));
    assert_int_equal(t.ok, 100);
    assert_int_equal(t.allowed, 5); /* the state survived: 5 + 5 = the burst */
    assert_int_equal(rh_calls(&srv, "script|load"), 1);
    assert_int_equal(gw_redis_stats(c)->errors, 0);
    finish(loop, c);
}

static void
test_pipelining_10000_in_flight(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, 5000);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(72 * SEC, 50); /* 50/h, burst 50 */
    struct tally t = {0};
    char key[32];

    (void)state;
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "pc:{p}:%d", i % 100);
        assert_non_null(gw_redis_gcra(c, key, strlen(key), &s, on_tally, &t));
    }
    assert_int_equal(t.calls, 0);
    assert_int_equal(gw_redis_stats(c)->inflight, 10000);
    assert_true(run_until(loop, &t.calls, 10000));
    assert_int_equal(t.ok, 10000);
    assert_int_equal(t.allowed, 100 * 50);
    assert_int_equal(gw_redis_stats(c)->inflight, 0);
    finish(loop, c);
}

static void
test_one_redis_command_per_charge(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(1000, 100);
    struct tally t = {0};
    uint64_t before;
    char key[32];

    (void)state;
    assert_int_equal(rh_run(&srv, 0, "CONFIG RESETSTAT"), 0);
    before = gw_redis_stats(c)->commands;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof(key), "pc:{o}:%d", i);
            gw_redis_gcra(c, key, strlen(key), &s, on_tally, &t);
        }
        assert_true(run_until(loop, &t.calls, (round + 1) * 100));
    }
    assert_int_equal(t.ok, 1000);
    assert_int_equal(gw_redis_stats(c)->commands - before, 1000);
    assert_int_equal(rh_calls(&srv, "evalsha"), 1000);
    /* TIME and GET run once per charge, inside the script; nothing else */
    assert_int_equal(rh_calls(&srv, "time"), 1000);
    assert_int_equal(rh_calls(&srv, "get"), 1000);
    assert_int_equal(rh_calls(&srv, "set"), t.allowed);
    assert_int_equal(rh_calls(&srv, "eval"), 0);
    assert_int_equal(rh_calls(&srv, "script|load"), 0);
    assert_int_equal(rh_calls(&srv, "ping"), 0);
    finish(loop, c);
}

static void
test_select_db(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(SEC, 5);
    struct result res;

    (void)state;
    conf.db = 3;
    c = client(loop, &conf);
    assert_int_equal(charge(loop, c, "pc:{d}:k", &s, &res), GW_REDIS_OK);
    assert_int_equal(rh_run(&srv, 3, "EXISTS pc:{d}:k"), 1);
    assert_int_equal(rh_run(&srv, 0, "EXISTS pc:{d}:k"), 0);
    finish(loop, c);
}

static void
test_error_reply_is_bad_reply(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(SEC, 5);
    struct result res;

    (void)state;
    rh_run(&srv, 0, "RPUSH pc:{e}:list x"); /* GET on it: WRONGTYPE */
    assert_int_equal(charge(loop, c, "pc:{e}:list", &s, &res), GW_REDIS_BAD_REPLY);
    assert_int_equal(gw_redis_stats(c)->errors, 1);
    assert_int_equal(charge(loop, c, "pc:{e}:fine", &s, &res), GW_REDIS_OK);
    finish(loop, c);
}

static void
test_key_too_long_refused_without_a_command(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(SEC, 5);
    struct result res = {0};
    static char key[GW_RL_KEY_MAX + 1];
    uint64_t before = gw_redis_stats(c)->commands;

    (void)state;
    memset(key, 'k', sizeof(key));
    assert_null(gw_redis_gcra(c, key, sizeof(key), &s, on_result, &res));
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.st, GW_REDIS_BAD_REPLY);
    assert_int_equal(gw_redis_stats(c)->commands, before);
    /* the longest allowed key works, binary bytes included */
    key[5] = '\0';
    key[6] = '\r';
    assert_non_null(gw_redis_gcra(c, key, GW_RL_KEY_MAX, &s, on_result, &res));
    assert_true(run_until(loop, &res.calls, 2));
    assert_int_equal(res.st, GW_REDIS_OK);
    finish(loop, c);
}

/* --- cancellation and teardown ------------------------------------------------------ */

static void
test_cancelled_op_never_calls_back(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(3600 * SEC, 5);
    struct result res;

    (void)state;
    for (int i = 0; i < 100; i++) {
        struct gw_redis_op *op = gw_redis_gcra(c, "pc:{c}:k", 8, &s, on_never, NULL);

        assert_non_null(op);
        gw_redis_cancel(op);
    }
    gw_redis_cancel(NULL);
    /* the replies come, are dropped, and free the operations (ASan) */
    assert_true(wait_idle(loop, c));
    run_ms(loop, 2 * TIMEOUT_MS); /* and no timer fires for them either */
    assert_int_equal(gw_redis_stats(c)->timeouts, 0);
    /* they were charged all the same: the burst is spent */
    assert_int_equal(charge(loop, c, "pc:{c}:k", &s, &res), GW_REDIS_OK);
    assert_false(res.r.allowed);

    /* cancelled and then the client freed before the replies: freed there */
    for (int i = 0; i < 100; i++)
        gw_redis_cancel(gw_redis_gcra(c, "pc:{c}:k2", 9, &s, on_never, NULL));
    finish(loop, c);
}

static void
test_free_fails_pending_ops_with_down(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = conf_tcp(&srv, TIMEOUT_MS);
    struct gw_redis *c = client(loop, &conf);
    struct gw_gcra_spec s = spec(SEC, 5);
    struct tally t = {0};

    (void)state;
    for (int i = 0; i < 50; i++)
        gw_redis_gcra(c, "pc:{x}:k", 8, &s, on_tally, &t);
    gw_redis_free(c);
    assert_int_equal(t.calls, 50); /* each exactly once, before free returned */
    assert_int_equal(t.other, 50);
    h2o_evloop_run(loop, 0);
    h2o_evloop_destroy(loop);
    gw_redis_free(NULL);
}

/* --- authentication, unix sockets ---------------------------------------------------- */

static bool
file_contains(const char *path, const char *needle)
{
    char buf[65536];
    FILE *fp = fopen(path, "r");
    size_t n;

    if (fp == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void
test_requirepass_and_wrong_password(void **state)
{
    struct rh_server s2 = {0};
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf;
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(SEC, 5);
    struct result res;
    char logpath[] = "/tmp/pc-redis-log-XXXXXX";
    int logfd = mkstemp(logpath);

    (void)state;
    assert_true(rh_start(&s2, -1, false, "s3cret-Pw"));
    conf = conf_tcp(&s2, TIMEOUT_MS);
    conf.url = url_good;
    conf.password = pw_good;
    c = client(loop, &conf);
    assert_int_equal(charge(loop, c, "pc:{a}:k", &s, &res), GW_REDIS_OK);
    assert_true(res.r.allowed);
    finish(loop, c);

    /* a wrong password: never ready, every charge DOWN; never logged */
    assert_true(logfd >= 0);
    pc_log_set_fd(logfd);
    loop = h2o_evloop_create();
    conf.password = pw_bad;
    conf.url = url_bad;
    c = gw_redis_new(loop, &conf, NULL);
    run_ms(loop, 300);
    assert_false(gw_redis_ready(c));
    for (int i = 0; i < 3; i++) {
        res = (struct result){0};
        assert_null(gw_redis_gcra(c, "pc:{a}:k", 8, &s, on_result, &res));
        assert_int_equal(res.calls, 1);
        assert_int_equal(res.st, GW_REDIS_DOWN);
    }
    assert_true(gw_redis_stats(c)->reconnects >= 1);
    finish(loop, c);
    pc_log_set_fd(2);
    close(logfd);
    assert_true(file_contains(logpath, "AUTH refused"));
    assert_true(file_contains(logpath, "127.0.0.1:"));
    assert_false(file_contains(logpath, "wr0ng"));
    assert_false(file_contains(logpath, "s3cret"));
    assert_false(file_contains(logpath, "redis://"));
    unlink(logpath);
    rh_stop(&s2);
}

static void
test_acl_user(void **state)
{
    struct rh_server s2 = {0};
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf;
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(SEC, 2);
    struct result res;

    (void)state;
    assert_true(rh_start(&s2, -1, false, NULL));
    /* the least a charging user needs: its commands and the script's */
    assert_int_equal(rh_run(&s2, 0,
                            "ACL SETUSER pc on >pc-Pw ~pc:* +evalsha +script|load +ping "
                            "+time +get +set"),
                     0);
    conf = conf_tcp(&s2, TIMEOUT_MS);
    conf.user = acl_user;
    conf.password = acl_pw;
    c = client(loop, &conf);
    assert_int_equal(charge(loop, c, "pc:{u}:k", &s, &res), GW_REDIS_OK);
    assert_true(res.r.allowed);
    /* NOSCRIPT path with the ACL user: SCRIPT LOAD is allowed */
    assert_int_equal(rh_run(&s2, 0, "SCRIPT FLUSH"), 0);
    assert_int_equal(charge(loop, c, "pc:{u}:k", &s, &res), GW_REDIS_OK);
    assert_true(res.r.allowed);
    /* outside its key pattern: refused by Redis, reported, not allowed */
    assert_int_equal(charge(loop, c, "other:k", &s, &res), GW_REDIS_BAD_REPLY);
    finish(loop, c);

    /* same user, wrong password */
    loop = h2o_evloop_create();
    conf.password = acl_bad;
    c = gw_redis_new(loop, &conf, NULL);
    run_ms(loop, 200);
    res = (struct result){0};
    gw_redis_gcra(c, "pc:{u}:k", 8, &s, on_result, &res);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.st, GW_REDIS_DOWN);
    finish(loop, c);
    rh_stop(&s2);
}

static void
test_unix_socket(void **state)
{
    struct rh_server s2 = {0};
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = {.timeout_ms = TIMEOUT_MS};
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(SEC, 1);
    struct result res;

    (void)state;
    assert_true(rh_start(&s2, 0, true, NULL));
    conf.path = s2.sock;
    c = client(loop, &conf);
    assert_int_equal(charge(loop, c, "pc:{s}:k", &s, &res), GW_REDIS_OK);
    assert_true(res.r.allowed);
    assert_int_equal(charge(loop, c, "pc:{s}:k", &s, &res), GW_REDIS_OK);
    assert_false(res.r.allowed);
    finish(loop, c);
    rh_stop(&s2);
}

/* --- failures and the breaker --------------------------------------------------------- */

/* Charge once a loop turn until the breaker refuses; the statuses before it
 * must all be failures (DOWN or TIMEOUT). */
static int
charge_until_breaker(h2o_loop_t *loop, struct gw_redis *c, const struct gw_gcra_spec *s)
{
    int failures = 0;
    uint64_t end = rh_now_ms() + WAIT_MS;

    while (rh_now_ms() < end) {
        struct result res = {0};

        gw_redis_gcra(c, "pc:{b}:k", 8, s, on_result, &res);
        if (res.calls == 0)
            assert_true(run_until(loop, &res.calls, 1));
        if (res.st == GW_REDIS_BREAKER_OPEN)
            return failures;
        assert_true(res.st == GW_REDIS_DOWN || res.st == GW_REDIS_TIMEOUT);
        failures++;
        h2o_evloop_run(loop, 1);
    }
    fail_msg("the breaker never opened");
    return -1;
}

/* With the breaker open a charge costs nothing and answers at once. */
static void
assert_breaker_is_synchronous(struct gw_redis *c, const struct gw_gcra_spec *s)
{
    uint64_t t0 = rh_now_ms(), before = gw_redis_stats(c)->breaker_rejects;

    for (int i = 0; i < 10000; i++) {
        struct result res = {0};

        assert_null(gw_redis_gcra(c, "pc:{b}:k", 8, s, on_result, &res));
        assert_int_equal(res.calls, 1); /* before gw_redis_gcra returned */
        assert_int_equal(res.st, GW_REDIS_BREAKER_OPEN);
    }
    print_message("10000 refusals with the breaker open: %llu ms\n",
                  (unsigned long long)(rh_now_ms() - t0));
    assert_true(rh_now_ms() - t0 < 250); /* 10000 refusals: under 25 us each, even with ASan */
    assert_int_equal(gw_redis_stats(c)->breaker_rejects - before, 10000);
    assert_int_not_equal(gw_redis_stats(c)->breaker_state, 0);
}

/* After the server came back, charges succeed again within ~1 s. */
static uint64_t
ms_until_ok(h2o_loop_t *loop, struct gw_redis *c, const struct gw_gcra_spec *s)
{
    uint64_t t0 = rh_now_ms();

    while (rh_now_ms() - t0 < WAIT_MS) {
        struct result res = {0};

        gw_redis_gcra(c, "pc:{b}:ok", 9, s, on_result, &res);
        if (res.calls == 0)
            assert_true(run_until(loop, &res.calls, 1));
        if (res.st == GW_REDIS_OK)
            return rh_now_ms() - t0;
        run_ms(loop, 10);
    }
    return UINT64_MAX;
}

static void
test_killed_server_down_then_breaker_then_recovery(void **state)
{
    struct rh_server s2 = {0};
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf;
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(1000, 1000000);
    struct result res;
    uint64_t ms;
    int failures;

    (void)state;
    assert_true(rh_start(&s2, -1, false, NULL));
    conf = conf_tcp(&s2, 200);
    c = client(loop, &conf);
    assert_int_equal(charge(loop, c, "pc:{b}:k", &s, &res), GW_REDIS_OK);

    rh_kill(&s2);
    failures = charge_until_breaker(loop, c, &s);
    print_message("%d failures before the breaker opened\n", failures);
    assert_true(failures >= 1);
    assert_true(gw_redis_stats(c)->down >= 1);
    assert_breaker_is_synchronous(c, &s);
    run_ms(loop, 1200); /* probes against a dead server reopen the breaker */
    assert_int_not_equal(gw_redis_stats(c)->breaker_state, 0);

    assert_true(rh_start(&s2, s2.port, false, NULL));
    ms = ms_until_ok(loop, c, &s);
    print_message("recovered %llu ms after the restart\n", (unsigned long long)ms);
    assert_true(ms < 1200);
    assert_int_equal(gw_redis_stats(c)->breaker_state, 0);
    assert_true(gw_redis_stats(c)->reconnects >= 1);
    assert_true(rh_calls(&s2, "ping") >= 1); /* the half-open probe */
    finish(loop, c);
    rh_stop(&s2);
}

static void
test_stalled_server_times_out_then_recovers(void **state)
{
    struct rh_server s2 = {0};
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf;
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(1000, 1000000);
    struct result res;
    uint64_t t0, ms;

    (void)state;
    assert_true(rh_start(&s2, -1, false, NULL));
    conf = conf_tcp(&s2, 100);
    c = client(loop, &conf);
    assert_int_equal(charge(loop, c, "pc:{b}:k", &s, &res), GW_REDIS_OK);

    kill(s2.pid, SIGSTOP);
    t0 = rh_now_ms();
    assert_int_equal(charge(loop, c, "pc:{b}:k", &s, &res), GW_REDIS_TIMEOUT);
    ms = rh_now_ms() - t0;
    assert_true(ms >= 95 && ms < 600);
    assert_int_equal(charge_until_breaker(loop, c, &s), 4);
    assert_int_equal(gw_redis_stats(c)->timeouts, 5);
    assert_breaker_is_synchronous(c, &s);
    assert_int_equal(gw_redis_stats(c)->inflight, 5); /* abandoned, still owed */

    kill(s2.pid, SIGCONT);
    ms = ms_until_ok(loop, c, &s);
    print_message("recovered %llu ms after SIGCONT\n", (unsigned long long)ms);
    assert_true(ms < 1200);
    assert_true(wait_idle(loop, c)); /* the late replies were dropped and freed */
    finish(loop, c);
    rh_stop(&s2);
}

static void
test_no_server_at_all(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = {.host = lo_host, .port = (uint16_t)rh_free_port(), .timeout_ms = 100};
    struct gw_redis *c = gw_redis_new(loop, &conf, NULL);
    struct gw_gcra_spec s = spec(1000, 10);

    (void)state;
    run_ms(loop, 50);
    assert_false(gw_redis_ready(c));
    assert_true(charge_until_breaker(loop, c, &s) >= 1);
    run_ms(loop, 1500);
    assert_true(gw_redis_stats(c)->reconnects >= 2);
    finish(loop, c);
}

/* --- replies we refuse: a fake server ---------------------------------------------------- */

struct fake {
    int lfd;
    int port;
    pthread_t th;
    _Atomic bool stop;
    const char *reply; /* to each EVALSHA */
    size_t reply_len;
    _Atomic int evalshas;
    _Atomic int conns;
};

/* Digits at *p up to CR; -1 when malformed. */
static long
fake_num(const char **p, const char *end)
{
    long v = 0;

    if (*p >= end || **p < '0' || **p > '9')
        return -1;
    while (*p < end && **p >= '0' && **p <= '9' && v < 1000000)
        v = v * 10 + (*(*p)++ - '0');
    return v;
}

/* One complete RESP command at buf: its length, 0 if incomplete; *name gets
 * its first argument (up to 15 bytes). */
static size_t
fake_parse(const char *buf, size_t len, char *name)
{
    const char *p = buf, *end = buf + len;
    long n;

    if (p >= end || *p++ != '*')
        return 0;
    n = fake_num(&p, end);
    if (n < 1 || end - p < 2)
        return 0;
    p += 2;
    for (long i = 0; i < n; i++) {
        long l;

        if (p >= end || *p++ != '$')
            return 0;
        l = fake_num(&p, end);
        if (l < 0 || end - p < l + 4)
            return 0;
        p += 2;
        if (i == 0)
            snprintf(name, 16, "%.*s", (int)(l < 15 ? l : 15), p);
        p += l + 2;
    }
    return (size_t)(p - buf);
}

static void
fake_serve(struct fake *f, int fd)
{
    static char buf[1 << 20];
    size_t have = 0;

    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        size_t used;
        char name[16];

        if (poll(&pfd, 1, 20) <= 0)
            continue;
        n = read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            return;
        have += (size_t)n;
        while ((used = fake_parse(buf, have, name)) != 0) {
            const char *out = "+OK\r\n";
            size_t outlen = 5;
            char sha[64];

            if (strcasecmp(name, "SCRIPT") == 0) {
                snprintf(sha, sizeof(sha), "$40\r\n%s\r\n", gw_gcra_lua_sha());
                out = sha;
                outlen = strlen(sha);
            } else if (strcasecmp(name, "PING") == 0) {
                out = "+PONG\r\n";
                outlen = 7;
            } else if (strcasecmp(name, "EVALSHA") == 0) {
                atomic_fetch_add(&f->evalshas, 1);
                out = f->reply;
                outlen = f->reply_len;
            }
            if (write(fd, out, outlen) < 0)
                return;
            memmove(buf, buf + used, have - used);
            have -= used;
        }
    }
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;

    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
        int fd;

        if (poll(&pfd, 1, 20) <= 0)
            continue;
        fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&f->conns, 1);
        fake_serve(f, fd);
        close(fd);
    }
    return NULL;
}

static void
fake_start(struct fake *f, const char *reply, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    memset(f, 0, sizeof(*f));
    f->reply = reply;
    f->reply_len = len;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->lfd);
}

/* One charge against a server answering `reply`: the status it gets (and
 * its result in *out, when asked). */
static enum gw_redis_status
fake_charge_res(const char *reply, size_t len, struct fake *f, struct gw_gcra_result *out)
{
    h2o_loop_t *loop = h2o_evloop_create();
    struct pol_redis conf = {.host = lo_host, .timeout_ms = 1000};
    struct gw_redis *c;
    struct gw_gcra_spec s = spec(SEC, 5);
    struct result res;
    enum gw_redis_status st;

    fake_start(f, reply, len);
    conf.port = (uint16_t)f->port;
    c = client(loop, &conf);
    st = charge(loop, c, "pc:{z}:k", &s, &res);
    finish(loop, c);
    fake_stop(f);
    if (out != NULL)
        *out = res.r;
    return st;
}

static enum gw_redis_status
fake_charge(const char *reply, size_t len, struct fake *f)
{
    return fake_charge_res(reply, len, f, NULL);
}

static void
test_replies_we_refuse(void **state)
{
    /* spec(SEC, 5): admitted SEC <= reset <= 5 SEC, refused 4 SEC < reset <= 5 SEC */
    static const char ok[] = ":1000000\r\n";
    static const char refused[] = ":-4500000\r\n";
    static const char old_array[] = "*4\r\n:1\r\n:0\r\n:4\r\n:1000000\r\n";
    static const char str[] = "$7\r\n1000000\r\n";
    static const char zero[] = ":0\r\n";
    static const char under_interval[] = ":999999\r\n";
    static const char over_window[] = ":5000001\r\n";
    static const char refused_early[] = ":-4000000\r\n";
    static const char refused_over[] = ":-5000001\r\n";
    static const char int_min[] = ":-9223372036854775808\r\n";
    static const char nested[] = "*1\r\n:1000000\r\n";
    static const char huge_array[] = "*1000\r\n";
    static const char noscript[] = "-NOSCRIPT No matching script.\r\n";
    static char huge_bulk[40000];
    struct gw_gcra_result res;
    struct fake f;

    (void)state;
    assert_int_equal(fake_charge_res(ok, sizeof(ok) - 1, &f, &res), GW_REDIS_OK);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 4);
    assert_int_equal(res.reset_us, SEC);
    assert_int_equal(fake_charge_res(refused, sizeof(refused) - 1, &f, &res), GW_REDIS_OK);
    assert_false(res.allowed);
    assert_int_equal(res.retry_after_us, SEC / 2);
    assert_int_equal(res.reset_us, 4500000);
    assert_int_equal(fake_charge(old_array, sizeof(old_array) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(str, sizeof(str) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(zero, sizeof(zero) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(under_interval, sizeof(under_interval) - 1, &f),
                     GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(over_window, sizeof(over_window) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(refused_early, sizeof(refused_early) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(refused_over, sizeof(refused_over) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(int_min, sizeof(int_min) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(fake_charge(nested, sizeof(nested) - 1, &f), GW_REDIS_BAD_REPLY);
    /* NOSCRIPT forever: one retry, then refused */
    assert_int_equal(fake_charge(noscript, sizeof(noscript) - 1, &f), GW_REDIS_BAD_REPLY);
    assert_int_equal(atomic_load(&f.evalshas), 2);
    /* over the caps: the connection is cut, the charge is DOWN */
    assert_int_equal(fake_charge(huge_array, sizeof(huge_array) - 1, &f), GW_REDIS_DOWN);
    snprintf(huge_bulk, sizeof(huge_bulk), "$%zu\r\n", sizeof(huge_bulk) - 20);
    memset(huge_bulk + strlen(huge_bulk), 'x', sizeof(huge_bulk) - 1 - strlen(huge_bulk));
    assert_int_equal(fake_charge(huge_bulk, sizeof(huge_bulk) - 1, &f), GW_REDIS_DOWN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_script_math_equals_gcra_step, test_setup),
        cmocka_unit_test_setup(test_script_garbage_state_fails_closed, test_setup),
        cmocka_unit_test_setup(test_burst_then_refused_with_retry_after, test_setup),
        cmocka_unit_test_setup(test_script_flush_changes_nothing_visible, test_setup),
        cmocka_unit_test_setup(test_pipelining_10000_in_flight, test_setup),
        cmocka_unit_test_setup(test_one_redis_command_per_charge, test_setup),
        cmocka_unit_test_setup(test_select_db, test_setup),
        cmocka_unit_test_setup(test_error_reply_is_bad_reply, test_setup),
        cmocka_unit_test_setup(test_key_too_long_refused_without_a_command, test_setup),
        cmocka_unit_test_setup(test_cancelled_op_never_calls_back, test_setup),
        cmocka_unit_test_setup(test_free_fails_pending_ops_with_down, test_setup),
        cmocka_unit_test(test_requirepass_and_wrong_password),
        cmocka_unit_test(test_acl_user),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_killed_server_down_then_breaker_then_recovery),
        cmocka_unit_test(test_stalled_server_times_out_then_recovers),
        cmocka_unit_test(test_no_server_at_all),
        cmocka_unit_test(test_replies_we_refuse),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
