/*
 * GCRA arithmetic: the one definition of the rate-limit math, shared by the
 * in-process limiter (gw_rlocal.c) and, line for line, by the Lua script
 * that Redis runs for the shared limiter (gw_redis.c).  Pure functions; any
 * thread.
 *
 * Every value is an unsigned count of microseconds.  The interval T and the
 * burst window B*T are capped at GW_GCRA_MAX_US (2^50 us, 35 years) so that
 * the script, which computes in Lua doubles, stays below 2^53 where doubles
 * are exact integers (its largest value is now + B*T + T): with those caps
 * the script and gw_gcra_step() agree on every input a real clock can
 * produce (tests/unit/test_gw_redis.c checks it).  Sums with `now` saturate
 * at UINT64_MAX instead of wrapping.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/pc_log.h"
#include "gateway/gw_rl.h"

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a)
        return UINT64_MAX;
    return a * b;
}

static uint64_t
clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * T = period / count, truncated (3/s is one request per 333333 us), at least
 * 1 us (a faster rate than 1/us is 1/us) and at most GW_GCRA_MAX_US.  The
 * policy guarantees count >= 1 and burst >= 1; a zero count is read as
 * "never" (T = GW_GCRA_MAX_US) and a zero burst as the count.
 */
void
gw_gcra_spec_from(const struct pol_ratelimit *rl, struct gw_gcra_spec *out)
{
    uint64_t period_us = sat_mul(rl->period_ms, 1000);
    uint64_t t = rl->count == 0 ? GW_GCRA_MAX_US : period_us / rl->count;

    out->interval_us = clamp_u64(t, 1, GW_GCRA_MAX_US);
    if (rl->burst != 0)
        out->burst = rl->burst;
    else
        out->burst = rl->count != 0 ? rl->count : 1;
}

/* T and B*T as both gw_gcra_step and the script use them: clamped. */
static void
spec_norm(const struct gw_gcra_spec *s, uint64_t *t, uint64_t *tau)
{
    uint64_t b = s->burst != 0 ? s->burst : 1;

    *t = clamp_u64(s->interval_us, 1, GW_GCRA_MAX_US);
    *tau = sat_mul(*t, b);
    if (*tau > GW_GCRA_MAX_US)
        *tau = GW_GCRA_MAX_US;
}

uint64_t
gw_gcra_step(const struct gw_gcra_spec *s, uint64_t tat, uint64_t now_us,
             struct gw_gcra_result *res)
{
    uint64_t t, tau, limit, cur, base, next, allow_at;

    spec_norm(s, &t, &tau);
    /* No stored TAT may lie beyond now + B*T: a request is only admitted
     * when its new TAT is at most that.  A later one means the clock went
     * back since it was stored; read it as an exhausted bucket, which
     * refuses for at most one interval instead of for the size of the jump. */
    limit = sat_add(now_us, tau);
    cur = tat > limit ? limit : tat;
    base = cur > now_us ? cur : now_us;
    next = sat_add(base, t);
    allow_at = next > tau ? next - tau : 0;
    if (allow_at <= now_us) {
        res->allowed = true;
        res->retry_after_us = 0;
        res->remaining = (limit - next) / t; /* next <= limit here */
        res->reset_us = next - now_us;
        return next;
    }
    /* Refused: then cur > now (with base == now the request would pass, as
     * tau >= t), so every difference below is positive. */
    res->allowed = false;
    res->retry_after_us = allow_at - now_us;
    res->remaining = 0;
    res->reset_us = cur - now_us;
    return cur;
}

/*
 * The script answers one integer, not the four values of a result: its
 * reset time, negated when refused.  The others follow from the spec as in
 * gw_gcra_step: admitted, remaining = (B*T - reset) / T (next <= now + B*T);
 * refused, retry_after = reset + T - B*T (allow_at = cur + T - B*T).  So the
 * bounds are exact: admitted T <= reset <= B*T, refused B*T - T < reset <= B*T.
 */
bool
gw_gcra_from_reply(const struct gw_gcra_spec *s, int64_t v, struct gw_gcra_result *res)
{
    uint64_t t, tau, reset;

    spec_norm(s, &t, &tau);
    if (v > 0) {
        reset = (uint64_t)v;
        if (reset < t || reset > tau)
            return false;
        res->allowed = true;
        res->retry_after_us = 0;
        res->remaining = (tau - reset) / t;
        res->reset_us = reset;
        return true;
    }
    if (v == 0 || v == INT64_MIN)
        return false;
    reset = (uint64_t)-v;
    if (reset > tau || reset + t <= tau)
        return false;
    res->allowed = false;
    res->retry_after_us = reset + t - tau;
    res->remaining = 0;
    res->reset_us = reset;
    return true;
}

/*
 * The same step in Redis.  KEYS[1] holds the TAT as a decimal string with a
 * PX expiry one millisecond past the moment the bucket is full again, so idle
 * keys disappear.  ARGV[3], when present, replaces Redis's TIME (tests; a
 * caller that brings its own clock).  A value that is not a number is read as
 * an exhausted bucket (fail closed).  Numbers go to redis.call() as strings
 * made by string.format('%d'): an integer conversion, exact below 2^53, where
 * Redis would print a Lua number with "%.17g" (the same digits; that
 * conversion cost a quarter of the SET, docs/internals/RATELIMIT.md;
 * tostring() would round to 14 digits).  The answer is one integer,
 * reset_us, negated when refused (gw_gcra_from_reply): a table of four cost
 * Redis twice what the GET does.  Redis 7 replicates the effects of a
 * script, so TIME before a write is allowed.
 */
const char gw_gcra_lua[] = "local t = tonumber(ARGV[1])\n"
                           "local b = tonumber(ARGV[2])\n"
                           "local now\n"
                           "if ARGV[3] then\n"
                           "  now = tonumber(ARGV[3])\n"
                           "else\n"
                           "  local tm = redis.call('TIME')\n"
                           "  now = tm[1] * 1000000 + tm[2]\n"
                           "end\n"
                           "local max = 1125899906842624\n"
                           "if t < 1 then t = 1 elseif t > max then t = max end\n"
                           "if b < 1 then b = 1 end\n"
                           "local tau = t * b\n"
                           "if tau > max then tau = max end\n"
                           "local limit = now + tau\n"
                           "local raw = redis.call('GET', KEYS[1])\n"
                           "local tat = 0\n"
                           "if raw then tat = tonumber(raw) or limit end\n"
                           "local cur = tat\n"
                           "if cur > limit then cur = limit end\n"
                           "local nxt = t + (cur > now and cur or now)\n"
                           "local allow = nxt - tau\n"
                           "if allow <= now then\n"
                           "  redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX',\n"
                           "             string.format('%d', (nxt - now) / 1000 + 1))\n"
                           "  return nxt - now\n"
                           "end\n"
                           "if cur ~= tat then\n"
                           "  redis.call('SET', KEYS[1], string.format('%d', cur), 'PX',\n"
                           "             string.format('%d', (cur - now) / 1000 + 1))\n"
                           "end\n"
                           "return now - cur\n";

static char lua_sha[41];

static void
lua_sha_init(void)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(gw_gcra_lua, strlen(gw_gcra_lua), md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20) {
        /* Without the digest no EVALSHA can be sent: that is a broken
         * OpenSSL, not a runtime condition to limp through. */
        pc_log(LOG_ERR, "rate limit: SHA-1 of the GCRA script failed");
        abort();
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        lua_sha[2 * i] = hex[md[i] >> 4];
        lua_sha[2 * i + 1] = hex[md[i] & 0xf];
    }
    lua_sha[40] = '\0';
}

const char *
gw_gcra_lua_sha(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, lua_sha_init);
    return lua_sha;
}
