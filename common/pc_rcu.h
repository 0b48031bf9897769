/*
 * Quiescent-state-based reclamation (QSBR) for data read on the hot path
 * without a lock: CRL revoked sets, JWKS key sets, configuration
 * generations.  See docs/internals/RCU.md.
 *
 * Readers are event-loop threads.  They load a published pointer with
 * acquire semantics, use it synchronously inside one callback, never keep
 * it past the end of the loop iteration, and call pc_rcu_quiescent() once
 * per loop iteration.  A writer swaps the pointer (atomic_exchange) and
 * hands the old object to pc_rcu_retire(); it is freed by pc_rcu_reclaim()
 * once every registered reader has passed a quiescent state since.
 *
 * Readers never block and never take a lock.  Writers take a mutex that
 * readers never touch.
 */
#ifndef PC_RCU_H
#define PC_RCU_H

#include <stdatomic.h>
#include <stdbool.h>

#define PC_RCU_MAX_READERS 256 /* worker threads over all live generations */

struct pc_rcu;

/** The process-wide domain (created on first use; never freed). */
struct pc_rcu *pc_rcu_global(void);

/** Register the calling thread as a reader; returns its slot (>= 0) or -1 when full. */
int pc_rcu_register(struct pc_rcu *r);

/** Unregister slot `slot` (the thread holds no references any more). */
void pc_rcu_unregister(struct pc_rcu *r, int slot);

/** Reader: this thread holds no reference to any published object now. */
void pc_rcu_quiescent(struct pc_rcu *r, int slot);

/*
 * Writer: `p` is no longer reachable from any published pointer; free it
 * with free_fn(p) once all readers have passed a quiescent state.  `p` may
 * be NULL (no-op).
 */
void pc_rcu_retire(struct pc_rcu *r, void *p, void (*free_fn)(void *));

/** Free what can be freed now.  Returns how many retired objects remain. */
unsigned pc_rcu_reclaim(struct pc_rcu *r);

/** Free everything retired, without waiting (only when no reader runs any more). */
void pc_rcu_drain_unsafe(struct pc_rcu *r);

#endif
