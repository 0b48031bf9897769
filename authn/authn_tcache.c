/*
 * The verified-token cache: one per worker thread, no lock.  A fixed pool
 * of entries (allocated once) indexed by an open-addressing table with
 * linear probing; keys are (issuer index, SHA-256 of the token).  Eviction
 * is CLOCK: a hit sets the entry's reference bit, and a put into a full
 * cache sweeps the hand, clearing bits, until it finds an entry without
 * one.  A get allocates nothing.
 *
 * An entry is only a shortcut past the signature: the caller still runs
 * authn_claims_check() on every request.  The cache drops an entry at get
 * when its exp + leeway has passed or when the key that verified it is no
 * longer in the key set (or no longer allows its algorithm).
 *
 * Contracts of the public functions: authn/authn_jwt.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authn/authn_jwt_int.h"
#include "common/pc_mem.h"

#define TC_MAX_ENTRIES  (1u << 24) /* larger requests are clamped: 32-bit indexes, bounded RAM */
#define TC_MAX_LEEWAY_S 86400 /* leeway_s is clamped to 0..this: exp + leeway cannot overflow */
#define TC_EMPTY        0u    /* a free slot; slots hold entry index + 1 */

struct tc_entry {
    unsigned char hash[32];
    size_t issuer;
    struct authn_claims *c; /* NULL: the entry is free */
    bool ref;               /* CLOCK reference bit */
};

struct authn_tcache {
    struct tc_entry *entries; /* cap entries */
    size_t cap;
    uint32_t *slots; /* mask + 1 >= 2 * cap slots: the load factor stays <= 1/2 */
    size_t mask;
    uint32_t *freel; /* indexes of free entries */
    size_t nfree;
    size_t hand; /* CLOCK hand */
    uint64_t hits, misses;
};

static size_t
home(const struct authn_tcache *tc, size_t issuer, const unsigned char hash[32])
{
    uint64_t h;

    /* the key is already a SHA-256: its first bytes are uniform; mix the issuer in */
    memcpy(&h, hash, sizeof(h));
    h ^= (uint64_t)issuer * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h ^ (h >> 32)) & tc->mask;
}

struct authn_tcache *
authn_tcache_new(size_t max_entries)
{
    struct authn_tcache *tc = pc_xcalloc(1, sizeof(*tc));
    size_t i, nslots = 2;

    if (max_entries > TC_MAX_ENTRIES)
        max_entries = TC_MAX_ENTRIES;
    tc->cap = max_entries;
    if (tc->cap == 0)
        return tc;
    while (nslots < 2 * tc->cap)
        nslots *= 2;
    tc->mask = nslots - 1;
    tc->entries = pc_xcalloc(tc->cap, sizeof(*tc->entries));
    tc->slots = pc_xcalloc(nslots, sizeof(*tc->slots));
    tc->freel = pc_xcalloc(tc->cap, sizeof(*tc->freel));
    /* hand out low indexes first */
    for (i = 0; i < tc->cap; i++)
        tc->freel[i] = (uint32_t)(tc->cap - 1 - i);
    tc->nfree = tc->cap;
    return tc;
}

void
authn_tcache_free(struct authn_tcache *tc)
{
    size_t i;

    if (tc == NULL)
        return;
    for (i = 0; i < tc->cap; i++)
        authn_claims_free(tc->entries[i].c);
    free(tc->entries);
    free(tc->slots);
    free(tc->freel);
    free(tc);
}

/* The slot holding (issuer, hash), or SIZE_MAX. */
static size_t
lookup(const struct authn_tcache *tc, size_t issuer, const unsigned char hash[32])
{
    size_t s = home(tc, issuer, hash);

    while (tc->slots[s] != TC_EMPTY) {
        const struct tc_entry *e = &tc->entries[tc->slots[s] - 1];
        if (e->issuer == issuer && CRYPTO_memcmp(e->hash, hash, 32) == 0)
            return s;
        s = (s + 1) & tc->mask;
    }
    return SIZE_MAX;
}

/* Empty slot s and shift later members of its probe run back (no tombstones). */
static void
slot_delete(struct authn_tcache *tc, size_t s)
{
    size_t i = s, j = s, k;

    for (;;) {
        j = (j + 1) & tc->mask;
        if (tc->slots[j] == TC_EMPTY)
            break;
        k = home(tc, tc->entries[tc->slots[j] - 1].issuer, tc->entries[tc->slots[j] - 1].hash);
        /* the member at j may move to i only if its home is not cyclically in (i, j] */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        tc->slots[i] = tc->slots[j];
        i = j;
    }
    tc->slots[i] = TC_EMPTY;
}

/* Drop the entry in slot s: free its claims, return it to the free list. */
static void
drop(struct authn_tcache *tc, size_t s)
{
    uint32_t idx = tc->slots[s] - 1;
    struct tc_entry *e = &tc->entries[idx];

    slot_delete(tc, s);
    authn_claims_free(e->c);
    memset(e, 0, sizeof(*e));
    tc->freel[tc->nfree++] = idx;
}

/* Whether the key that verified c still is in ks and still allows c's algorithm. */
static bool
key_still_valid(const struct authn_keyset *ks, const struct authn_claims *c)
{
    const struct authn_key *k = authn_keyset_find(ks, c->kid, c->kid == NULL ? 0 : strlen(c->kid));

    return k != NULL && (k->algs & c->alg) != 0 &&
           CRYPTO_memcmp(k->spki_sha256, c->key_sha256, 32) == 0;
}

const struct authn_claims *
authn_tcache_get(struct authn_tcache *tc, size_t issuer_index, const unsigned char hash[32],
                 int64_t now, int64_t leeway_s, const struct authn_keyset *ks)
{
    struct tc_entry *e;
    size_t s;

    if (tc == NULL)
        return NULL;
    if (tc->cap == 0) {
        tc->misses++;
        return NULL;
    }
    s = lookup(tc, issuer_index, hash);
    if (s == SIZE_MAX) {
        tc->misses++;
        return NULL;
    }
    e = &tc->entries[tc->slots[s] - 1];
    if (leeway_s < 0)
        leeway_s = 0;
    if (leeway_s > TC_MAX_LEEWAY_S)
        leeway_s = TC_MAX_LEEWAY_S;
    /* exp is clamped to +-AUTHN_JWT_TIME_MAX, or INT64_MIN when absent: never served */
    if (e->c->exp == INT64_MIN || now >= e->c->exp + leeway_s || !key_still_valid(ks, e->c)) {
        drop(tc, s);
        tc->misses++;
        return NULL;
    }
    e->ref = true;
    tc->hits++;
    return e->c;
}

/* Free one entry by CLOCK: the first entry past the hand without its reference bit. */
static void
evict(struct authn_tcache *tc)
{
    for (;;) {
        struct tc_entry *e = &tc->entries[tc->hand];
        tc->hand = (tc->hand + 1) % tc->cap;
        if (e->c == NULL)
            continue; /* cannot happen while the cache is full; harmless */
        if (e->ref) {
            e->ref = false;
            continue;
        }
        drop(tc, lookup(tc, e->issuer, e->hash));
        return;
    }
}

void
authn_tcache_put(struct authn_tcache *tc, size_t issuer_index, const unsigned char hash[32],
                 struct authn_claims *c)
{
    struct tc_entry *e;
    uint32_t idx;
    size_t s;

    if (tc == NULL || tc->cap == 0 || c == NULL) {
        authn_claims_free(c);
        return;
    }
    s = lookup(tc, issuer_index, hash);
    if (s != SIZE_MAX) {
        /* the same token verified again (its entry was dropped meanwhile, or a race of two misses)
         */
        e = &tc->entries[tc->slots[s] - 1];
        authn_claims_free(e->c);
        e->c = c;
        return;
    }
    if (tc->nfree == 0)
        evict(tc);
    idx = tc->freel[--tc->nfree];
    e = &tc->entries[idx];
    memcpy(e->hash, hash, 32);
    e->issuer = issuer_index;
    e->c = c;
    e->ref = false;
    s = home(tc, issuer_index, hash);
    while (tc->slots[s] != TC_EMPTY)
        s = (s + 1) & tc->mask;
    tc->slots[s] = idx + 1;
}

void
authn_tcache_stats(const struct authn_tcache *tc, uint64_t *entries, uint64_t *hits,
                   uint64_t *misses)
{
    if (entries != NULL)
        *entries = tc == NULL ? 0 : tc->cap - tc->nfree;
    if (hits != NULL)
        *hits = tc == NULL ? 0 : tc->hits;
    if (misses != NULL)
        *misses = tc == NULL ? 0 : tc->misses;
}
