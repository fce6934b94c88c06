/* The thread pool (private): one set of worker threads for every parallel
 * loop in the library -- GEMM partitions, element-wise kernels, optimizer
 * updates -- so two pools never compete for the cores.
 *
 *   - nb_set_threads(n) (nabla.h) sets how many threads a parallel region uses,
 *     the caller included; the default is NABLA_THREADS from the environment,
 *     else the number of online CPUs (at most NB__POOL_MAX).  Workers are
 *     started on the first region that needs them and live until exit.
 *   - A region run while the pool is busy (another user thread is in one, or
 *     the caller is itself a task of a region) runs its tasks serially in the
 *     caller.  So every caller must write its tasks so that the result does
 *     not depend on how many threads ran them: fixed chunks, each written by
 *     one task, combined in task order.  Then results are bitwise identical
 *     for any thread count, which the tests check.
 *   - Idle workers spin 20 us (the CPU's pause instruction), then keep
 *     checking for ~300 us between sched_yield() calls, then sleep on a
 *     condition variable (pool.c says why): a yielding thread gives its CPU to
 *     any other runnable one, so waiting never starves another process.
 *   - Tasks never fail and never allocate; they must not call nb__err (the
 *     error message is per-thread). */
#ifndef NB_CORE_POOL_H
#define NB_CORE_POOL_H

#include <stddef.h>

#define NB__POOL_MAX 64

/* Threads a region started now by this thread would use (1 inside a task). */
size_t nb__pool_threads(void);

/* From now on, regions started by the calling thread run in it alone (a
 * helper thread of the library's own, such as the loader's prefetcher,
 * never takes the pool from the thread that runs the step). */
void nb__pool_stay_serial(void);

/* Run fn(arg, t) for every t in [0, ntasks), spread over the pool's threads
 * (the caller runs tasks too); returns when all are done.  The order and
 * placement of tasks is unspecified. */
void nb__pool_run(size_t ntasks, void (*fn)(void *arg, size_t task), void *arg);

/* Idle work: fn(arg, c) for every chunk c in [0, nchunks), run by pool
 * threads that would otherwise wait -- workers between regions, the caller
 * waiting for a region's last task -- one chunk at a time, so a chunk should
 * be short (a few microseconds: it can delay the region a thread was waiting
 * for by that much).  Chunks run with the pool serial inside them, and must
 * not call nb__err.  One job at a time in the process: post returns -1 (and
 * posts nothing) when one is live or the pool has one thread; else 0.
 * finish, called by the poster, runs the chunks nobody claimed and waits for
 * the rest; a job's buffers may be read only after it. */
int nb__pool_idle_post(size_t nchunks, void (*fn)(void *arg, size_t chunk), void *arg);
void nb__pool_idle_finish(void);

/* Split [0, n) into at most nb__pool_threads() contiguous ranges of at least
 * `grain` elements (boundaries multiples of 16) and run fn(arg, lo, hi) on
 * each.  For element-wise work only (where the split cannot change a result);
 * n < 2 * grain runs fn(arg, 0, n) in the caller. */
void nb__parallel_for(size_t n, size_t grain, void (*fn)(void *arg, size_t lo, size_t hi), void *arg);

/* memset(p, 0, bytes) by nb__parallel_for, grain bytes at the least a part:
 * zeroing a big buffer is a memory-bound pass that one thread does alone. */
void nb__parallel_zero(void *p, size_t bytes, size_t grain);

#endif
