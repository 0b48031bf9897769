/*
 * Rate limiting: GCRA (the generic cell rate algorithm) charged in Redis by
 * one Lua script per request, asynchronously on each worker's own event
 * loop, with an in-process GCRA for single nodes and for the `local`
 * failure mode.  Included by gw.h users that need it; no policy parsing
 * here (policy/ gives struct pol_ratelimit).
 *
 * GCRA in one paragraph: a key stores one "theoretical arrival time" (TAT).
 * With emission interval T = period / count and burst B, a request at time
 * `now` is allowed when max(TAT, now) + T - B*T <= now; then
 * TAT := max(TAT, now) + T.  Retry-After for a refused request is
 * max(TAT, now) + T - B*T - now; the quota left is
 * floor((now + B*T - TAT') / T).
 */
#ifndef GW_RL_H
#define GW_RL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "policy/pol.h"

/* --- the arithmetic (pure; gw_gcra.c) ------------------------------------- */

/** A rate spec in microseconds: emission interval and burst tolerance. */
struct gw_gcra_spec {
    uint64_t interval_us; /* T = period / count, at least 1 */
    uint64_t burst;       /* B >= 1 */
};

void gw_gcra_spec_from(const struct pol_ratelimit *rl, struct gw_gcra_spec *out);

/** The decision for one request; all durations in microseconds. */
struct gw_gcra_result {
    bool allowed;
    uint64_t retry_after_us; /* refused: when the next request would pass; else 0 */
    uint64_t remaining;      /* requests that would still pass right now */
    uint64_t reset_us;       /* until the bucket is full again (TAT' - now) */
};

/*
 * One GCRA step on a stored TAT (0 = no state): fills *res and returns the
 * new TAT to store (unchanged when refused).  Saturating arithmetic: huge
 * rates or clocks never overflow.
 */
uint64_t gw_gcra_step(const struct gw_gcra_spec *s, uint64_t tat, uint64_t now_us,
                      struct gw_gcra_result *res);

/* The Lua script run by Redis (KEYS[1] = key; ARGV[1] = T, ARGV[2] = B, both
 * in microseconds/count); time is Redis's own TIME.  Returns
 * {allowed 0|1, retry_after_us, remaining, reset_us}. */
extern const char gw_gcra_lua[];
/** Its SHA-1, lower-case hex (for EVALSHA), computed once. */
const char *gw_gcra_lua_sha(void);

/* --- the in-process limiter (gw_rlocal.c) ---------------------------------- */

/*
 * A fixed-size table of GCRA states shared by every worker thread, updated
 * with compare-and-swap (no lock).  Keys are 64-bit hashes; a slot whose
 * state has expired is reused.  When the table is full of live states the
 * request is charged against a hashed overflow slot, never silently let
 * through.  Lives as long as the process (it survives reloads).
 */
struct gw_rlocal;

struct gw_rlocal *gw_rlocal_new(size_t slots);
void gw_rlocal_free(struct gw_rlocal *t);
void gw_rlocal_charge(struct gw_rlocal *t, uint64_t key_hash, const struct gw_gcra_spec *s,
                      uint64_t now_us, struct gw_gcra_result *res);

/* --- the Redis client of one worker (gw_redis.c) ---------------------------- */

struct gw_redis;
struct gw_redis_op;

enum gw_redis_status {
    GW_REDIS_OK = 0,
    GW_REDIS_TIMEOUT = -1,      /* no reply within redis.timeout */
    GW_REDIS_DOWN = -2,         /* not connected, connection lost, or AUTH/SELECT refused */
    GW_REDIS_BREAKER_OPEN = -3, /* too many recent failures: not even tried */
    GW_REDIS_BAD_REPLY = -4,    /* a reply we do not understand */
};

/* Called exactly once per operation unless it was cancelled first. */
typedef void (*gw_redis_cb)(void *data, enum gw_redis_status st, const struct gw_gcra_result *res);

/*
 * A client on `loop` (the worker's h2o evloop): one connection, commands
 * pipelined, connects at once and reconnects with back-off.  Worker thread
 * only.
 */
struct gw_redis *gw_redis_new(h2o_loop_t *loop, const struct pol_redis *conf);
/** Fails every pending operation (GW_REDIS_DOWN) and frees the client. */
void gw_redis_free(struct gw_redis *c);

/*
 * Charge `key` (keylen bytes) with `spec` by EVALSHA of gw_gcra_lua (NOSCRIPT:
 * SCRIPT LOAD and retry, once).  When the breaker is open or the client is
 * not connected the callback runs before this returns, with the status.
 * The returned handle lets the caller cancel (the request went away); it is
 * invalid after the callback ran or after gw_redis_cancel.
 */
struct gw_redis_op *gw_redis_gcra(struct gw_redis *c, const char *key, size_t keylen,
                                  const struct gw_gcra_spec *spec, gw_redis_cb cb, void *data);
void gw_redis_cancel(struct gw_redis_op *op);

/* Metrics of one worker's client (read by the control thread; single writer). */
struct gw_redis_stats {
    _Atomic uint64_t commands;
    _Atomic uint64_t errors; /* replies with an error, bad replies */
    _Atomic uint64_t timeouts;
    _Atomic uint64_t down; /* refused because not connected */
    _Atomic uint64_t breaker_rejects;
    _Atomic uint64_t reconnects;
    _Atomic uint64_t lat[12]; /* latency buckets, see gw_redis_lat_le_us */
    _Atomic uint64_t lat_sum_us;
    _Atomic int breaker_state; /* 0 closed, 1 open, 2 half-open (probing) */
};
extern const uint64_t gw_redis_lat_le_us[12];
const struct gw_redis_stats *gw_redis_stats(const struct gw_redis *c);

#endif
