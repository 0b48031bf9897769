/*
 * The in-process GCRA limiter: one table shared by every worker thread of
 * the process, updated with compare-and-swap only (no lock, no system call).
 * Used when there is no `redis:` (a single node) and for routes whose
 * on_backend_failure is `local` while Redis is unavailable.
 *
 * Layout: a power-of-two array of slots {key hash, TAT}.  A key probes
 * GW_RLOCAL_PROBE consecutive slots from its hashed position (two cache
 * lines).  The whole window is always scanned, so a free slot never ends a
 * search and nothing needs tombstones.  A slot is free when its key is 0 or
 * its TAT is <= now: a TAT in the past is a full bucket, the same as no
 * state, so reusing the slot loses nothing.
 *
 * Concurrency.  The TAT of a slot is only changed by CAS, and the values it
 * takes are strictly increasing (a GCRA step stores max(tat, now) + T > tat;
 * a reused slot gets now + T > its expired TAT), so a CAS from a value read
 * earlier cannot succeed after the slot changed hands (no ABA).  Reusing an
 * expired slot is: CAS its TAT to GW_RLOCAL_CLAIMING, store the new key,
 * store the new key's first TAT.  A thread charging the old key that meets
 * CLAIMING or a different key simply searches again: its state had expired
 * anyway.  Claiming an empty slot is a CAS of the key from 0.
 *
 * NO_CLAMP_STORE: a refusal stores nothing here, not even the TAT that
 * gw_gcra_step() brings back from beyond now + B*T.  That clamp is for a
 * wall clock set back (Redis's TIME); this table runs on one monotonic clock,
 * and what looks like a TAT "in the future" is only another thread's
 * slightly later `now`.  Storing the clamp would move a TAT backwards, give
 * credit away under contention and break the increasing-TAT rule above.
 *
 * When the window holds only live states of other keys, the charge goes to
 * one of GW_RLOCAL_OVERFLOW shared overflow TATs chosen by the key's hash:
 * a flood of distinct keys is limited together there instead of getting
 * through unlimited or evicting live keys.
 *
 * XXX: two threads charging the *first* request of the same new key at the
 * same instant can, when they see different slots as free (their `now`
 * differ across an expiry), install it twice; that key then gets at most one
 * extra request, once (later charges find the first copy).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "common/pc_mem.h"
#include "gateway/gw_rl.h"

#define GW_RLOCAL_PROBE     8                /* slots searched per key: two 64-byte lines */
#define GW_RLOCAL_OVERFLOW  64               /* shared TATs for keys without a slot */
#define GW_RLOCAL_MIN_SLOTS 64               /* the table is never smaller */
#define GW_RLOCAL_MAX_SLOTS (1u << 24)       /* 16M slots = 256 MiB: the ceiling */
#define GW_RLOCAL_RETRIES   64               /* lost races before charging the overflow slot */
#define GW_RLOCAL_CLAIMING  UINT64_MAX       /* TAT of a slot changing hands */
#define GW_RLOCAL_TAT_MAX   (UINT64_MAX - 1) /* stored TATs stay below CLAIMING */

struct rl_slot {
    _Atomic uint64_t key; /* 0 = never used */
    _Atomic uint64_t tat; /* 0 = no state */
};

struct gw_rlocal {
    struct rl_slot *slots;
    size_t mask;
    _Atomic uint64_t over[GW_RLOCAL_OVERFLOW];
    _Atomic uint64_t overflows;
};

/* splitmix64's finaliser: callers' hashes may be weak in their low bits. */
static uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

/*
 * A table of at least `slots` slots (rounded up to a power of two within
 * [GW_RLOCAL_MIN_SLOTS, GW_RLOCAL_MAX_SLOTS]).  Each slot costs 16 bytes.
 */
struct gw_rlocal *
gw_rlocal_new(size_t slots)
{
    struct gw_rlocal *t = pc_xcalloc(1, sizeof(*t));
    size_t n = GW_RLOCAL_MIN_SLOTS;

    while (n < slots && n < GW_RLOCAL_MAX_SLOTS)
        n <<= 1;
    /* calloc's zero bytes are the value 0 of a lock-free atomic */
    t->slots = pc_xcalloc(n, sizeof(*t->slots));
    t->mask = n - 1;
    return t;
}

void
gw_rlocal_free(struct gw_rlocal *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

uint64_t
gw_rlocal_overflows(const struct gw_rlocal *t)
{
    return atomic_load_explicit(&t->overflows, memory_order_relaxed);
}

static uint64_t
step(const struct gw_gcra_spec *s, uint64_t tat, uint64_t now, struct gw_gcra_result *res)
{
    uint64_t next = gw_gcra_step(s, tat, now, res);

    return next > GW_RLOCAL_TAT_MAX ? GW_RLOCAL_TAT_MAX : next;
}

/*
 * Charge a slot that held `key` when it was looked at.  False when it no
 * longer does (it changed hands: search again).
 */
static bool
charge_slot(struct rl_slot *sl, uint64_t key, const struct gw_gcra_spec *s, uint64_t now,
            struct gw_gcra_result *res)
{
    uint64_t cur = atomic_load_explicit(&sl->tat, memory_order_acquire);
    uint64_t next;

    for (;;) {
        if (cur == GW_RLOCAL_CLAIMING)
            return false;
        /* Read after the TAT (acquire): a new owner stores its key before
         * its first TAT, so a TAT of the new owner comes with its key. */
        if (atomic_load_explicit(&sl->key, memory_order_acquire) != key)
            return false;
        next = step(s, cur, now, res);
        if (!res->allowed)
            return true; /* nothing to store: see NO_CLAMP_STORE */
        if (atomic_compare_exchange_weak_explicit(&sl->tat, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

/* Take over a free slot (key 0, or an expired TAT) for `key` and charge it. */
static bool
claim_slot(struct rl_slot *sl, uint64_t old_key, uint64_t old_tat, uint64_t key,
           const struct gw_gcra_spec *s, uint64_t now, struct gw_gcra_result *res)
{
    if (old_key == 0) {
        if (!atomic_compare_exchange_strong(&sl->key, &old_key, key))
            return old_key == key && charge_slot(sl, key, s, now, res);
        return charge_slot(sl, key, s, now, res);
    }
    if (!atomic_compare_exchange_strong(&sl->tat, &old_tat, GW_RLOCAL_CLAIMING))
        return false;
    atomic_store_explicit(&sl->key, key, memory_order_release);
    /* a fresh bucket always admits (B >= 1): next = now + T > old_tat */
    atomic_store_explicit(&sl->tat, step(s, 0, now, res), memory_order_release);
    return true;
}

static void
charge_overflow(struct gw_rlocal *t, uint64_t h, const struct gw_gcra_spec *s, uint64_t now,
                struct gw_gcra_result *res)
{
    _Atomic uint64_t *o = &t->over[(h >> 40) % GW_RLOCAL_OVERFLOW];
    uint64_t cur = atomic_load_explicit(o, memory_order_acquire);
    uint64_t next;

    atomic_fetch_add_explicit(&t->overflows, 1, memory_order_relaxed);
    for (;;) {
        next = step(s, cur, now, res);
        if (!res->allowed)
            return;
        if (atomic_compare_exchange_weak_explicit(o, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
    }
}

/*
 * Charge `key_hash` with `s` at `now_us` (the caller's monotonic clock, the
 * same for every caller of this table).  Any thread; never blocks.  A retry
 * happens only when another thread's CAS on the same slot succeeded, so
 * some thread always progresses (lock-free).
 */
void
gw_rlocal_charge(struct gw_rlocal *t, uint64_t key_hash, const struct gw_gcra_spec *s,
                 uint64_t now_us, struct gw_gcra_result *res)
{
    uint64_t key = key_hash != 0 ? key_hash : 1; /* 0 marks an unused slot */
    uint64_t h = mix(key);
    size_t start = (size_t)h & t->mask;

    for (unsigned attempt = 0; attempt < GW_RLOCAL_RETRIES; attempt++) {
        struct rl_slot *found = NULL, *spare = NULL;
        uint64_t spare_key = 0, spare_tat = 0;

        for (unsigned i = 0; i < GW_RLOCAL_PROBE; i++) {
            struct rl_slot *sl = &t->slots[(start + i) & t->mask];
            uint64_t tat = atomic_load_explicit(&sl->tat, memory_order_acquire);
            uint64_t k = atomic_load_explicit(&sl->key, memory_order_acquire);

            if (tat == GW_RLOCAL_CLAIMING)
                continue;
            if (k == key) {
                found = sl;
                break;
            }
            if (spare == NULL && (k == 0 || tat <= now_us)) {
                spare = sl;
                spare_key = k;
                spare_tat = tat;
            }
        }
        if (found != NULL) {
            if (charge_slot(found, key, s, now_us, res))
                return;
        } else if (spare != NULL) {
            if (claim_slot(spare, spare_key, spare_tat, key, s, now_us, res))
                return;
        } else {
            charge_overflow(t, h, s, now_us, res);
            return;
        }
    }
    /* Only under a storm of lost races on this window: still charged. */
    charge_overflow(t, h, s, now_us, res);
}
