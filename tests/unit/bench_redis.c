/*
 * Rate-limit engine benchmark (built by hand, not part of `make test`):
 * charges per second and latency of gw_redis_gcra() on one h2o loop with
 * W charges kept in flight, against a redis-server it starts on loopback;
 * then gw_rlocal_charge() from 1 and 2 threads.
 *
 *   make BUILD=build/h build/h/lib/libgw.a build/h/lib/libpc.a
 *   gcc -std=gnu17 -O2 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -DH2O_USE_EPOLL=1 -I. \
 *       $(pkg-config --cflags libh2o-evloop hiredis openssl) tests/unit/bench_redis.c \
 *       build/h/lib/libgw.a build/h/lib/libpc.a \
 *       $(pkg-config --libs libh2o-evloop hiredis) -lssl -lcrypto -lpthread \
 *       -o build/h/bench_redis
 *   build/h/bench_redis [charges per run, default 200000]
 */
#include <sys/resource.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_log.h"
#include "common/pc_str.h"
#include "gateway/gw_rl.h"
#include "tests/unit/redis_harness.h"

#define KEYS 1000u /* distinct keys charged round-robin */

struct bench {
    h2o_loop_t *loop;
    struct gw_redis *c;
    struct gw_gcra_spec spec;
    uint64_t total, issued, done, ok, allowed;
    uint64_t *lat_us; /* per charge */
    struct slot *slots;
};

struct slot {
    struct bench *b;
    uint64_t t0_ns;
};

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void issue(struct slot *s);

static void
on_done(void *data, enum gw_redis_status st, const struct gw_gcra_result *res)
{
    struct slot *s = data;
    struct bench *b = s->b;

    b->lat_us[b->done++] = (now_ns() - s->t0_ns) / 1000;
    if (st == GW_REDIS_OK) {
        b->ok++;
        b->allowed += res->allowed;
    }
    if (b->issued < b->total)
        issue(s);
}

static void
issue(struct slot *s)
{
    struct bench *b = s->b;
    char key[32];
    int n = snprintf(key, sizeof(key), "pc:{bench}:%llu", (unsigned long long)(b->issued % KEYS));

    b->issued++;
    s->t0_ns = now_ns();
    gw_redis_gcra(b->c, key, (size_t)n, &b->spec, on_done, s);
}

/* CPU seconds used so far by this process, and by `pid` (/proc). */
static double
cpu_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
cpu_pid(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *fp;
    size_t n;
    int field = 2;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    for (; p != NULL && *p != '\0'; p++) {
        if (*p != ' ')
            continue;
        field++;
        if (field == 14 || field == 15) {
            unsigned long long v = 0;

            for (const char *q = p + 1; *q >= '0' && *q <= '9'; q++)
                v = v * 10 + (unsigned long long)(*q - '0');
            if (field == 14)
                ut = v;
            else
                st = v;
        }
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static pid_t redis_pid;

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void
run(struct bench *b, unsigned window)
{
    uint64_t t0, t1;
    double c0, r0, wall;

    b->issued = b->done = b->ok = b->allowed = 0;
    b->slots = calloc(window, sizeof(*b->slots));
    c0 = cpu_self();
    r0 = cpu_pid(redis_pid);
    t0 = now_ns();
    for (unsigned i = 0; i < window && b->issued < b->total; i++) {
        b->slots[i].b = b;
        issue(&b->slots[i]);
    }
    while (b->done < b->total)
        h2o_evloop_run(b->loop, 10);
    t1 = now_ns();
    wall = (double)(t1 - t0) / 1e9;
    qsort(b->lat_us, b->total, sizeof(uint64_t), cmp_u64);
    printf("| %5u | %9.0f | %3.0f%% | %3.0f%% | %7llu | %7llu | %7llu | %7llu | %s\n", window,
           (double)b->total / wall, 100 * (cpu_self() - c0) / wall,
           100 * (cpu_pid(redis_pid) - r0) / wall, (unsigned long long)b->lat_us[b->total / 2],
           (unsigned long long)b->lat_us[b->total * 99 / 100],
           (unsigned long long)b->lat_us[b->total * 999 / 1000],
           (unsigned long long)b->lat_us[b->total - 1], b->ok == b->total ? "all ok" : "ERRORS");
    free(b->slots);
}

struct lthread {
    struct gw_rlocal *t;
    uint64_t n, allowed;
    pthread_barrier_t *go;
};

static void *
local_main(void *arg)
{
    struct lthread *lt = arg;
    struct gw_gcra_spec s = {.interval_us = 1000, .burst = 100};
    struct gw_gcra_result r;

    pthread_barrier_wait(lt->go);
    for (uint64_t i = 0; i < lt->n; i++) {
        gw_rlocal_charge(lt->t, (i % KEYS) * 0x9e3779b97f4a7c15u + 1, &s, now_ns() / 1000, &r);
        lt->allowed += r.allowed;
    }
    return NULL;
}

static void
run_local(unsigned nthreads, uint64_t n)
{
    struct gw_rlocal *t = gw_rlocal_new(65536);
    struct lthread lt[8];
    pthread_t th[8];
    pthread_barrier_t go;
    uint64_t t0, t1;

    pthread_barrier_init(&go, NULL, nthreads + 1);
    for (unsigned i = 0; i < nthreads; i++) {
        lt[i] = (struct lthread){.t = t, .n = n, .go = &go};
        pthread_create(&th[i], NULL, local_main, &lt[i]);
    }
    pthread_barrier_wait(&go);
    t0 = now_ns();
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    t1 = now_ns();
    printf("| %u thread(s), the same %u keys in lock-step | %.1f M charges/s in total (%.0f ns "
           "each per thread) |\n",
           nthreads, KEYS, (double)(n * nthreads) * 1e3 / (double)(t1 - t0),
           (double)(t1 - t0) / (double)n);
    pthread_barrier_destroy(&go);
    gw_rlocal_free(t);
}

int
main(int argc, char **argv)
{
    static const unsigned windows[] = {1, 16, 64, 256, 1024};
    struct rh_server srv = {0};
    struct bench b = {0};
    char host[] = "127.0.0.1";
    struct pol_redis conf = {.host = host, .timeout_ms = 1000};

    signal(SIGPIPE, SIG_IGN);
    pc_log_init("bench_redis", LOG_WARNING);
    b.total = 200000;
    if (argc > 1 && pc_parse_u64(argv[1], strlen(argv[1]), 100000000, &b.total) != 0) {
        fprintf(stderr, "usage: bench_redis [charges per run]\n");
        return 2;
    }
    if (!rh_start(&srv, -1, false, NULL)) {
        fprintf(stderr, "bench_redis: cannot start redis-server\n");
        return 1;
    }
    conf.port = (uint16_t)srv.port;
    b.loop = h2o_evloop_create();
    b.c = gw_redis_new(b.loop, &conf, NULL);
    while (!gw_redis_ready(b.c))
        h2o_evloop_run(b.loop, 10);
    b.spec = (struct gw_gcra_spec){.interval_us = 1, .burst = 1000000}; /* mostly allowed */
    b.lat_us = calloc(b.total, sizeof(uint64_t));

    printf("gw_redis_gcra: one loop, one connection, %llu charges per run over %u keys\n\n",
           (unsigned long long)b.total, KEYS);
    printf("| in flight | charges/s | client CPU | redis CPU | p50 us | p99 us | p99.9 us | max us "
           "|\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    redis_pid = srv.pid;
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
        run(&b, windows[i]);
    printf("\nredis evalsha calls: %lld (charges: %llu)\n", rh_calls(&srv, "evalsha"),
           (unsigned long long)(b.total * 5));

    gw_redis_free(b.c);
    h2o_evloop_run(b.loop, 0);
    h2o_evloop_destroy(b.loop);
    rh_stop(&srv);
    free(b.lat_us);

    printf("\ngw_rlocal_charge:\n\n");
    run_local(1, 5000000);
    run_local(2, 5000000);
    return 0;
}
