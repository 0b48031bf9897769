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

/* Ceiling of T and of B*T: 2^50 us (35 years, "never").  With it every value
 * the Lua script computes (at most now + 2^51) stays below 2^53, where Lua's
 * doubles are exact, as long as the clock reads below 2^53 - 2^51 us (the
 * year 2184). */
#define GW_GCRA_MAX_US (UINT64_C(1) << 50)

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
 * rates or clocks never overflow.  A stored TAT beyond now + B*T can only
 * come from a clock that went back; it is read (and returned, even when
 * refused) as now + B*T, an exhausted bucket, so the key waits one interval
 * rather than the size of the jump.
 */
uint64_t gw_gcra_step(const struct gw_gcra_spec *s, uint64_t tat, uint64_t now_us,
                      struct gw_gcra_result *res);

/*
 * The result for the script's answer v under spec s (the rest follows from
 * reset_us and the spec).  false when v is no answer the script can give
 * for s: a bad reply.
 */
bool gw_gcra_from_reply(const struct gw_gcra_spec *s, int64_t v, struct gw_gcra_result *res);

/* The Lua script run by Redis (KEYS[1] = key; ARGV[1] = T, ARGV[2] = B, both
 * in microseconds/count); time is Redis's own TIME, or ARGV[3] (microseconds)
 * when given (tests; a caller with its own clock).  Stores the TAT with
 * SET key tat PX (time until the bucket is full again + 1 ms).  Returns one
 * integer: reset_us when admitted, -reset_us when refused. */
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
/** Charges that found no slot of their own and went to an overflow slot. */
uint64_t gw_rlocal_overflows(const struct gw_rlocal *t);

/* --- the Redis client of one worker (gw_redis.c) ---------------------------- */

struct gw_redis;
struct gw_redis_op;
struct gw_redis_stats;

enum gw_redis_status {
    GW_REDIS_OK = 0,
    GW_REDIS_TIMEOUT = -1,      /* no reply within redis.timeout */
    GW_REDIS_DOWN = -2,         /* not connected, connection lost, or AUTH/SELECT refused */
    GW_REDIS_BREAKER_OPEN = -3, /* too many recent failures: not even tried */
    GW_REDIS_BAD_REPLY = -4,    /* a reply we do not understand */
};

/* Longest key gw_redis_gcra() accepts (bytes); longer ones are refused with
 * GW_REDIS_BAD_REPLY without a command being sent. */
#define GW_RL_KEY_MAX 1024

/*
 * A client on `loop` (the worker's h2o evloop): one connection, commands
 * pipelined, connects at once and reconnects with back-off.  Worker thread
 * only.
 */
struct gw_redis *gw_redis_new(h2o_loop_t *loop, const struct pol_redis *conf,
                              struct gw_redis_stats *stats);
/** Fails every pending operation (GW_REDIS_DOWN) and frees the client.
 * Disposes its timeouts: the loop may be destroyed after it (run the loop
 * once first so h2o reaps the closed socket).  NULL is a no-op. */
void gw_redis_free(struct gw_redis *c);

/*
 * Charge `key` (keylen bytes) with `spec` by EVALSHA of gw_gcra_lua (NOSCRIPT:
 * SCRIPT LOAD and retry, once).  When the breaker is open or the client is
 * not connected the callback runs before this returns, with the status, and
 * the return is NULL.  Otherwise the returned handle lets the caller cancel
 * (the request went away); it is invalid after the callback ran or after
 * gw_redis_cancel (which takes NULL too).  The callback runs exactly once per
 * operation unless it was cancelled first; `res` is non-NULL only with
 * GW_REDIS_OK; it may start or cancel other operations, never
 * gw_redis_free() the client.
 */
struct gw_redis_op *
gw_redis_gcra(struct gw_redis *c, const char *key, size_t keylen, const struct gw_gcra_spec *spec,
              void (*cb)(void *data, enum gw_redis_status st, const struct gw_gcra_result *res),
              void *data);
void gw_redis_cancel(struct gw_redis_op *op);
/** Connected, handshake done and the breaker closed: charges will be sent
 * (for /readyz and tests).  Worker thread. */
bool gw_redis_ready(const struct gw_redis *c);

/* Metrics of one worker's client (read by the control thread; single writer). */
struct gw_redis_stats {
    _Atomic uint64_t commands; /* sent: charges, NOSCRIPT loads/retries, handshakes, probes */
    _Atomic uint64_t errors;   /* replies with an error, bad replies */
    _Atomic uint64_t timeouts;
    _Atomic uint64_t graced; /* timers that waited a loop turn for a reply already received */
    _Atomic uint64_t down;   /* failed for want of a connection (at once, or lost with it) */
    _Atomic uint64_t breaker_rejects;
    _Atomic uint64_t reconnects; /* connection attempts after the first */
    _Atomic uint64_t lat[12];    /* latency buckets, see gw_redis_lat_le_us */
    _Atomic uint64_t lat_sum_us;
    _Atomic uint64_t lat_count; /* replies timed; those above the last bound are only here */
    _Atomic uint64_t inflight;  /* commands sent and not yet answered (incl. abandoned ones) */
    _Atomic int breaker_state;  /* 0 closed, 1 open, 2 half-open (probing) */
};
/* Upper bounds (us) of the latency buckets.  lat[i] counts replies with
 * le[i-1] < latency <= le[i] (not cumulative); Prometheus's +Inf bucket is
 * lat_count. */
extern const uint64_t gw_redis_lat_le_us[12];
const struct gw_redis_stats *gw_redis_stats(const struct gw_redis *c);

#endif
