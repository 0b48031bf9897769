/*
 * gateway/gw_gcra.c and gateway/gw_rlocal.c: the GCRA arithmetic (bursts,
 * exact Retry-After, refill, rates, saturation, clocks that stand still or
 * go back) and the lock-free in-process limiter (exactness, independence of
 * keys, threads racing on one key, a full table, slot reuse).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "gateway/gw_rl.h"

#define SEC    UINT64_C(1000000)
#define T0     (UINT64_C(1700000000) * SEC) /* a realistic wall-clock start */
#define LIMIT1 UINT64_C(250000)             /* charges per thread in the race tests */

static struct gw_gcra_spec
spec(uint64_t t, uint64_t b)
{
    struct gw_gcra_spec s = {.interval_us = t, .burst = b};
    return s;
}

static struct gw_gcra_spec
spec_rate(uint64_t count, uint64_t period_ms, uint64_t burst)
{
    struct pol_ratelimit rl = {.count = count, .period_ms = period_ms, .burst = burst};
    struct gw_gcra_spec s;

    gw_gcra_spec_from(&rl, &s);
    return s;
}

/* --- the arithmetic ---------------------------------------------------------- */

static void
test_spec_from_rates(void **state)
{
    struct gw_gcra_spec s;

    (void)state;
    s = spec_rate(100, 1000, 200);
    assert_int_equal(s.interval_us, 10000);
    assert_int_equal(s.burst, 200);
    s = spec_rate(3, 1000, 3);
    assert_int_equal(s.interval_us, 333333); /* truncated */
    s = spec_rate(60, 60000, 60);
    assert_int_equal(s.interval_us, SEC);
    s = spec_rate(1, 3600000, 1);
    assert_int_equal(s.interval_us, 3600 * SEC);
    s = spec_rate(10, 1000, 0); /* burst absent: the count */
    assert_int_equal(s.burst, 10);
}

static void
test_spec_from_extremes_saturate(void **state)
{
    struct gw_gcra_spec s;

    (void)state;
    s = spec_rate(1000000000, 1000, 1); /* faster than 1/us: 1 us */
    assert_int_equal(s.interval_us, 1);
    s = spec_rate(UINT64_MAX, UINT64_MAX, 5); /* period*1000 saturates */
    assert_int_equal(s.interval_us, 1);
    s = spec_rate(1, UINT64_MAX, 1);
    assert_int_equal(s.interval_us, GW_GCRA_MAX_US);
    s = spec_rate(0, 1000, 0); /* never, and a burst of one */
    assert_int_equal(s.interval_us, GW_GCRA_MAX_US);
    assert_int_equal(s.burst, 1);
}

static void
test_gcra_burst_then_refused_with_exact_retry_after(void **state)
{
    struct gw_gcra_spec s = spec(SEC, 5);
    struct gw_gcra_result r;
    uint64_t tat = 0;

    (void)state;
    for (uint64_t i = 0; i < 5; i++) {
        tat = gw_gcra_step(&s, tat, T0, &r);
        assert_true(r.allowed);
        assert_int_equal(r.retry_after_us, 0);
        assert_int_equal(r.remaining, 4 - i);
        assert_int_equal(r.reset_us, (i + 1) * SEC);
    }
    assert_int_equal(tat, T0 + 5 * SEC);
    assert_int_equal(gw_gcra_step(&s, tat, T0, &r), tat); /* refused: unchanged */
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, SEC);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_us, 5 * SEC);
    /* later in the same interval the wait shrinks by exactly the time passed */
    gw_gcra_step(&s, tat, T0 + 250000, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, 750000);
}

static void
test_gcra_refills_after_retry_after(void **state)
{
    struct gw_gcra_spec s = spec(SEC, 3);
    struct gw_gcra_result r;
    uint64_t tat = 0, now = T0;

    (void)state;
    for (int i = 0; i < 3; i++)
        tat = gw_gcra_step(&s, tat, now, &r);
    gw_gcra_step(&s, tat, now, &r);
    assert_false(r.allowed);
    now += r.retry_after_us - 1;
    gw_gcra_step(&s, tat, now, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, 1);
    now += 1;
    tat = gw_gcra_step(&s, tat, now, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    /* after B intervals of silence the whole burst is back */
    now = tat + 0;
    for (int i = 0; i < 3; i++) {
        tat = gw_gcra_step(&s, tat, now, &r);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 2 - i);
    }
    gw_gcra_step(&s, tat, now, &r);
    assert_false(r.allowed);
}

/* Dense arrivals every `step` us over `window` us: B + window / T pass. */
static uint64_t
admitted_over(const struct gw_gcra_spec *s, uint64_t step, uint64_t window)
{
    struct gw_gcra_result r;
    uint64_t tat = 0, n = 0;

    for (uint64_t t = 0; t <= window; t += step) {
        tat = gw_gcra_step(s, tat, T0 + t, &r);
        n += r.allowed;
    }
    return n;
}

static void
test_gcra_rates_per_second_minute_hour(void **state)
{
    struct gw_gcra_spec s;

    (void)state;
    s = spec_rate(100, 1000, 100); /* 100/s, 10 s */
    assert_int_equal(admitted_over(&s, 2500, 10 * SEC), 100 + 1000);
    s = spec_rate(60, 60000, 10); /* 60/min, 10 min */
    assert_int_equal(admitted_over(&s, 250000, 600 * SEC), 10 + 600);
    s = spec_rate(100, 3600000, 1); /* 100/h, 5 h, probed every 36 s */
    assert_int_equal(admitted_over(&s, 36 * SEC, 5 * 3600 * SEC), 1 + 500);
}

static void
test_gcra_burst_of_one(void **state)
{
    struct gw_gcra_spec s = spec(SEC, 1);
    struct gw_gcra_result r;
    uint64_t tat;

    (void)state;
    tat = gw_gcra_step(&s, 0, T0, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    gw_gcra_step(&s, tat, T0, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, SEC);
    gw_gcra_step(&s, tat, T0 + SEC, &r);
    assert_true(r.allowed);
}

static void
test_gcra_huge_counts(void **state)
{
    struct gw_gcra_spec s = spec_rate(1000000000, 1000, 1000000000);
    struct gw_gcra_result r;
    uint64_t tat;

    (void)state;
    tat = gw_gcra_step(&s, 0, T0, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1000000000 - 1);
    assert_int_equal(tat, T0 + 1);
    /* a burst larger than the cap is capped at GW_GCRA_MAX_US of credit */
    s = spec(1000, UINT64_MAX);
    gw_gcra_step(&s, 0, T0, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, GW_GCRA_MAX_US / 1000 - 1);
}

static void
test_gcra_clock_not_moving(void **state)
{
    struct gw_gcra_spec s = spec(1000, 4);
    struct gw_gcra_result r;
    uint64_t tat = 0, n = 0;

    (void)state;
    for (int i = 0; i < 1000; i++) {
        uint64_t next = gw_gcra_step(&s, tat, T0, &r);

        if (r.allowed)
            n++;
        else
            assert_int_equal(next, tat);
        tat = next;
    }
    assert_int_equal(n, 4);
    assert_int_equal(r.retry_after_us, 1000);
}

static void
test_gcra_clock_going_backwards(void **state)
{
    struct gw_gcra_spec s = spec(SEC, 2);
    struct gw_gcra_result r;
    uint64_t tat, now = T0;

    (void)state;
    /* a state stored one hour "in the future" (the clock was set back) */
    tat = now + 2 * SEC + 3600 * SEC;
    tat = gw_gcra_step(&s, tat, now, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, SEC); /* one interval, not an hour */
    assert_int_equal(tat, now + 2 * SEC);    /* brought back to an exhausted bucket */
    assert_int_equal(r.reset_us, 2 * SEC);
    gw_gcra_step(&s, tat, now + SEC, &r);
    assert_true(r.allowed);

    /* a small step back on a half-used bucket: judged at the earlier time,
     * when the token was not there yet; the state is kept */
    tat = gw_gcra_step(&s, 0, now, &r);
    assert_int_equal(gw_gcra_step(&s, tat, now - 500000, &r), tat);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, 500000);
    /* on an exhausted bucket any step back is the clamp: one interval */
    tat = gw_gcra_step(&s, tat, now, &r);
    assert_true(r.allowed);
    assert_int_equal(gw_gcra_step(&s, tat, now - 500000, &r), now - 500000 + 2 * SEC);
    assert_int_equal(r.retry_after_us, SEC);
}

static void
test_gcra_saturates_instead_of_wrapping(void **state)
{
    struct gw_gcra_spec s = spec(UINT64_MAX, UINT64_MAX);
    struct gw_gcra_result r;
    uint64_t tat;

    (void)state;
    tat = gw_gcra_step(&s, 0, UINT64_MAX - 10, &r);
    assert_true(r.allowed);
    assert_int_equal(tat, UINT64_MAX);
    assert_int_equal(r.reset_us, 10);
    assert_int_equal(r.remaining, 0);
    /* the largest TAT at time 0 with a 1 us interval: clamped, one refusal */
    s = spec(1, 1);
    tat = gw_gcra_step(&s, UINT64_MAX, 0, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, 1);
    assert_int_equal(tat, 1);
    /* T = 0 is read as 1 us, B = 0 as 1 */
    s = spec(0, 0);
    tat = gw_gcra_step(&s, 0, 5, &r);
    assert_true(r.allowed);
    assert_int_equal(tat, 6);
}

/* The script's one-integer answer (reset, negated when refused) carries the
 * whole result: gw_gcra_from_reply gives back what gw_gcra_step gave, for
 * every state a bucket can be in, and refuses every other integer. */
static void
test_reply_integer_carries_the_whole_result(void **state)
{
    static const uint64_t ts[] = {1, 7, 1000, 333333, SEC, 3600 * SEC, GW_GCRA_MAX_US};
    static const uint64_t bs[] = {1, 2, 5, 100, 1000000, UINT64_C(1) << 40};
    uint64_t x = 0x9e3779b97f4a7c15u;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        struct gw_gcra_spec s;
        struct gw_gcra_result want, got;
        uint64_t t, b, tau, now, tat;
        int64_t v;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        t = ts[x % 7], b = bs[(x >> 8) % 6];
        s = spec(t, b);
        tau = b > GW_GCRA_MAX_US / t ? GW_GCRA_MAX_US : t * b;
        tau = tau > GW_GCRA_MAX_US ? GW_GCRA_MAX_US : tau;
        now = T0 + (x >> 16) % (365 * 86400 * SEC);
        switch ((x >> 12) % 5) {
        case 0:
            tat = 0;
            break;
        case 1:
            tat = now + (x >> 20) % (tau + 1);
            break;
        case 2:
            tat = now + tau - t + (x >> 20) % (2 * t);
            break;
        case 3:
            tat = now + tau;
            break;
        default:
            tat = now + tau + 1 + (x >> 20) % SEC;
            break;
        }
        gw_gcra_step(&s, tat, now, &want);
        v = want.allowed ? (int64_t)want.reset_us : -(int64_t)want.reset_us;
        assert_true(gw_gcra_from_reply(&s, v, &got));
        assert_int_equal(got.allowed, want.allowed);
        assert_int_equal(got.retry_after_us, want.retry_after_us);
        assert_int_equal(got.remaining, want.remaining);
        assert_int_equal(got.reset_us, want.reset_us);
    }
}

static void
test_reply_integer_out_of_bounds_is_refused(void **state)
{
    struct gw_gcra_spec s = spec(SEC, 5); /* T = 1 s, B*T = 5 s */
    struct gw_gcra_result r;

    (void)state;
    assert_true(gw_gcra_from_reply(&s, (int64_t)SEC, &r)); /* admitted, the bucket was full */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    assert_true(gw_gcra_from_reply(&s, (int64_t)(5 * SEC), &r)); /* admitted, the last one */
    assert_int_equal(r.remaining, 0);
    assert_true(gw_gcra_from_reply(&s, -(int64_t)(5 * SEC), &r)); /* refused, just after */
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, SEC);
    assert_true(gw_gcra_from_reply(&s, -(int64_t)(4 * SEC + 1), &r));
    assert_int_equal(r.retry_after_us, 1);
    assert_false(gw_gcra_from_reply(&s, 0, &r));
    assert_false(gw_gcra_from_reply(&s, (int64_t)SEC - 1, &r));       /* less than one interval */
    assert_false(gw_gcra_from_reply(&s, (int64_t)(5 * SEC) + 1, &r)); /* past the window */
    assert_false(gw_gcra_from_reply(&s, -(int64_t)(4 * SEC), &r));    /* would have passed */
    assert_false(gw_gcra_from_reply(&s, -(int64_t)(5 * SEC) - 1, &r));
    assert_false(gw_gcra_from_reply(&s, INT64_MIN, &r));
    assert_false(gw_gcra_from_reply(&s, INT64_MAX, &r));
}

static void
test_lua_sha_is_sha1_of_the_script(void **state)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char hex[41];
    const char *sha = gw_gcra_lua_sha();

    (void)state;
    SHA1((const unsigned char *)gw_gcra_lua, strlen(gw_gcra_lua), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    hex[40] = '\0';
    assert_string_equal(sha, hex);
    assert_ptr_equal(gw_gcra_lua_sha(), sha);
    assert_non_null(strstr(gw_gcra_lua, "redis.call('TIME')"));
    assert_non_null(strstr(gw_gcra_lua, "'PX'"));
}

/* --- the in-process limiter --------------------------------------------------- */

static void
test_rlocal_single_key_matches_gcra_step(void **state)
{
    struct gw_rlocal *t = gw_rlocal_new(1024);
    struct gw_gcra_spec s = spec(1000, 5);
    struct gw_gcra_result a, b;
    uint64_t tat = 0, now = T0, x = 88172645463325252u;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now += x % 700; /* arrivals a little faster than the rate */
        gw_rlocal_charge(t, 42, &s, now, &a);
        tat = gw_gcra_step(&s, tat, now, &b);
        assert_int_equal(a.allowed, b.allowed);
        assert_int_equal(a.retry_after_us, b.retry_after_us);
        assert_int_equal(a.remaining, b.remaining);
        assert_int_equal(a.reset_us, b.reset_us);
    }
    assert_int_equal(gw_rlocal_overflows(t), 0);
    gw_rlocal_free(t);
}

static void
test_rlocal_keys_are_independent(void **state)
{
    struct gw_rlocal *t = gw_rlocal_new(64);
    struct gw_gcra_spec s = spec(SEC, 3);
    struct gw_gcra_result r;

    (void)state;
    for (int i = 0; i < 3; i++) {
        gw_rlocal_charge(t, 1111, &s, T0, &r);
        assert_true(r.allowed);
    }
    gw_rlocal_charge(t, 1111, &s, T0, &r);
    assert_false(r.allowed);
    for (int i = 0; i < 3; i++) {
        gw_rlocal_charge(t, 2222, &s, T0, &r);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, (uint64_t)(2 - i));
    }
    gw_rlocal_charge(t, 2222, &s, T0, &r);
    assert_false(r.allowed);
    /* key 0 is a key like any other */
    gw_rlocal_charge(t, 0, &s, T0, &r);
    assert_true(r.allowed);
    gw_rlocal_free(t);
    gw_rlocal_free(NULL);
}

struct race {
    struct gw_rlocal *t;
    struct gw_gcra_spec s;
    _Atomic uint64_t *clock; /* NULL: time stands still at T0 */
    uint64_t key;
    uint64_t admitted;
    uint64_t min_now, max_now;
    pthread_barrier_t *go;
};

static void *
race_main(void *arg)
{
    struct race *rc = arg;
    struct gw_gcra_result r;

    rc->min_now = UINT64_MAX;
    pthread_barrier_wait(rc->go); /* all threads start together: real contention */
    for (uint64_t i = 0; i < LIMIT1; i++) {
        uint64_t now = rc->clock != NULL ? atomic_fetch_add(rc->clock, 1) : T0;

        rc->min_now = now < rc->min_now ? now : rc->min_now;
        rc->max_now = now > rc->max_now ? now : rc->max_now;
        gw_rlocal_charge(rc->t, rc->key, &rc->s, now, &r);
        rc->admitted += r.allowed;
    }
    return NULL;
}

static uint64_t
race(struct gw_rlocal *t, _Atomic uint64_t *clock, const struct gw_gcra_spec *s, uint64_t *span)
{
    enum { N = 4 };
    struct race rc[N];
    pthread_t th[N];
    pthread_barrier_t go;
    uint64_t total = 0, lo = UINT64_MAX, hi = 0;

    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        rc[i] = (struct race){.t = t, .s = *s, .clock = clock, .key = 77, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &rc[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        total += rc[i].admitted;
        lo = rc[i].min_now < lo ? rc[i].min_now : lo;
        hi = rc[i].max_now > hi ? rc[i].max_now : hi;
    }
    pthread_barrier_destroy(&go);
    *span = hi - lo;
    if (getenv("RACE_VERBOSE") != NULL)
        fprintf(stderr, "race: admitted %llu over a span of %llu us\n", (unsigned long long)total,
                (unsigned long long)*span);
    return total;
}

static void
test_rlocal_threads_on_one_key_never_over_admit(void **state)
{
    struct gw_rlocal *t = gw_rlocal_new(64);
    struct gw_gcra_spec s = spec(100, 10);
    _Atomic uint64_t clock = T0;
    uint64_t span, n;

    (void)state;
    /* time standing still: exactly the burst, however the CASes interleave */
    n = race(t, NULL, &s, &span);
    assert_int_equal(n, 10);
    gw_rlocal_free(t);

    /* a shared virtual clock, 1 us per charge, 400k charges: GCRA's bound is
     * B + span / T over whatever order the threads apply them in */
    t = gw_rlocal_new(64);
    n = race(t, &clock, &s, &span);
    assert_true(n <= 10 + span / 100);
    assert_true(n >= (span / 100) / 2); /* and it does admit (no lost slot) */
    gw_rlocal_free(t);
}

static void
test_rlocal_full_table_floods_hit_the_overflow_slots(void **state)
{
    struct gw_rlocal *t = gw_rlocal_new(64);
    struct gw_gcra_spec s = spec(3600 * SEC, 1);
    struct gw_gcra_result r;
    uint64_t admitted = 0;

    (void)state;
    for (uint64_t k = 1; k <= 10000; k++) {
        gw_rlocal_charge(t, k * 0x9e3779b97f4a7c15u, &s, T0, &r);
        admitted += r.allowed;
    }
    /* at most one per slot and one per overflow TAT */
    assert_true(admitted <= 64 + 64);
    assert_true(gw_rlocal_overflows(t) >= 10000 - 64);
    /* and nobody gets a second one: own slot or overflow, all exhausted */
    admitted = 0;
    for (uint64_t k = 1; k <= 10000; k++) {
        gw_rlocal_charge(t, k * 0x9e3779b97f4a7c15u, &s, T0 + SEC, &r);
        admitted += r.allowed;
    }
    assert_int_equal(admitted, 0);
    gw_rlocal_free(t);
}

static void
test_rlocal_expired_slots_are_reused(void **state)
{
    struct gw_rlocal *t = gw_rlocal_new(64);
    struct gw_gcra_spec s = spec(SEC, 1);
    struct gw_gcra_result r;
    uint64_t over;

    (void)state;
    for (uint64_t k = 1; k <= 1000; k++)
        gw_rlocal_charge(t, k, &s, T0, &r);
    over = gw_rlocal_overflows(t);
    assert_true(over > 0); /* the table was full */
    /* two seconds later every state has expired: new keys get slots of
     * their own again (16 keys in 64 slots fit any probe window) */
    for (uint64_t k = 5001; k <= 5016; k++) {
        gw_rlocal_charge(t, k, &s, T0 + 2 * SEC, &r);
        assert_true(r.allowed);
        gw_rlocal_charge(t, k, &s, T0 + 2 * SEC, &r);
        assert_false(r.allowed);
    }
    assert_int_equal(gw_rlocal_overflows(t), over);
    gw_rlocal_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_from_rates),
        cmocka_unit_test(test_reply_integer_carries_the_whole_result),
        cmocka_unit_test(test_reply_integer_out_of_bounds_is_refused),
        cmocka_unit_test(test_spec_from_extremes_saturate),
        cmocka_unit_test(test_gcra_burst_then_refused_with_exact_retry_after),
        cmocka_unit_test(test_gcra_refills_after_retry_after),
        cmocka_unit_test(test_gcra_rates_per_second_minute_hour),
        cmocka_unit_test(test_gcra_burst_of_one),
        cmocka_unit_test(test_gcra_huge_counts),
        cmocka_unit_test(test_gcra_clock_not_moving),
        cmocka_unit_test(test_gcra_clock_going_backwards),
        cmocka_unit_test(test_gcra_saturates_instead_of_wrapping),
        cmocka_unit_test(test_lua_sha_is_sha1_of_the_script),
        cmocka_unit_test(test_rlocal_single_key_matches_gcra_step),
        cmocka_unit_test(test_rlocal_keys_are_independent),
        cmocka_unit_test(test_rlocal_threads_on_one_key_never_over_admit),
        cmocka_unit_test(test_rlocal_full_table_floods_hit_the_overflow_slots),
        cmocka_unit_test(test_rlocal_expired_slots_are_reused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
