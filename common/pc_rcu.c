/*
 * QSBR.  See pc_rcu.h and docs/internals/RCU.md.
 *
 * A global epoch grows by one at every retire.  Each reader slot holds the
 * epoch it saw at its last quiescent state (0: slot unused).  An object
 * retired at epoch E can be freed once every used slot holds >= E: each of
 * those readers passed a quiescent state after the old pointer was
 * unpublished, so none still holds it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "pc_mem.h"
#include "pc_rcu.h"

struct retired {
    struct retired *next;
    void *p;
    void (*free_fn)(void *);
    uint64_t epoch;
};

struct pc_rcu {
    _Atomic uint64_t epoch;
    _Atomic uint64_t seen[PC_RCU_MAX_READERS]; /* 0 = unused slot */
    pthread_mutex_t lock;                      /* writers and registration only */
    struct retired *retired;
};

static struct pc_rcu *global_rcu;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init(void)
{
    global_rcu = pc_xcalloc(1, sizeof(*global_rcu));
    atomic_init(&global_rcu->epoch, 1);
    pthread_mutex_init(&global_rcu->lock, NULL);
}

struct pc_rcu *
pc_rcu_global(void)
{
    pthread_once(&global_once, global_init);
    return global_rcu;
}

int
pc_rcu_register(struct pc_rcu *r)
{
    int i, slot = -1;

    pthread_mutex_lock(&r->lock);
    for (i = 0; i < PC_RCU_MAX_READERS; i++) {
        if (atomic_load(&r->seen[i]) == 0) {
            atomic_store(&r->seen[i], atomic_load(&r->epoch));
            slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return slot;
}

void
pc_rcu_unregister(struct pc_rcu *r, int slot)
{
    if (slot < 0 || slot >= PC_RCU_MAX_READERS)
        return;
    atomic_store(&r->seen[slot], 0);
}

void
pc_rcu_quiescent(struct pc_rcu *r, int slot)
{
    /* seq_cst load and store: pairs with the exchange + epoch bump in writers */
    atomic_store(&r->seen[slot], atomic_load(&r->epoch));
}

void
pc_rcu_retire(struct pc_rcu *r, void *p, void (*free_fn)(void *))
{
    struct retired *e;

    if (p == NULL)
        return;
    e = pc_xmalloc(sizeof(*e));
    e->p = p;
    e->free_fn = free_fn;
    pthread_mutex_lock(&r->lock);
    e->epoch = atomic_fetch_add(&r->epoch, 1) + 1;
    e->next = r->retired;
    r->retired = e;
    pthread_mutex_unlock(&r->lock);
}

static uint64_t
min_seen(struct pc_rcu *r)
{
    uint64_t m = UINT64_MAX, s;
    int i;

    for (i = 0; i < PC_RCU_MAX_READERS; i++) {
        s = atomic_load(&r->seen[i]);
        if (s != 0 && s < m)
            m = s;
    }
    return m;
}

unsigned
pc_rcu_reclaim(struct pc_rcu *r)
{
    struct retired **pp, *e, *done = NULL;
    unsigned left = 0;
    uint64_t m;

    pthread_mutex_lock(&r->lock);
    m = min_seen(r);
    pp = &r->retired;
    while (*pp != NULL) {
        e = *pp;
        if (e->epoch <= m) {
            *pp = e->next;
            e->next = done;
            done = e;
        } else {
            left++;
            pp = &e->next;
        }
    }
    pthread_mutex_unlock(&r->lock);
    while (done != NULL) {
        e = done;
        done = e->next;
        e->free_fn(e->p);
        free(e);
    }
    return left;
}

void
pc_rcu_drain_unsafe(struct pc_rcu *r)
{
    struct retired *e;

    pthread_mutex_lock(&r->lock);
    e = r->retired;
    r->retired = NULL;
    pthread_mutex_unlock(&r->lock);
    while (e != NULL) {
        struct retired *next = e->next;
        e->free_fn(e->p);
        free(e);
        e = next;
    }
}
