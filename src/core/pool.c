/* The thread pool (see pool.h).  One region at a time: the user thread that
 * wins `busy` publishes the region under the mutex and bumps `gen`; workers
 * notice the new generation (spinning a few microseconds, else woken from the
 * condition variable), claim task indices under the mutex and run them; the
 * caller runs tasks too and then waits for the last one to finish.  Claiming
 * under a mutex costs ~50 ns a task, nothing against tasks of ~10 us and more,
 * and leaves no window in which a late worker could run a task of the wrong
 * region. */
#include "internal.h"
#include "core/cpu.h"
#include "core/pool.h"
#include "kernels/gemm.h"

#include <errno.h>
#include <string.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
#define NB__POOL_THREADS 1
#endif

/* Set by nb_set_threads (0: not set yet, take the default). */
static atomic_int nb__threads;
/* Non-zero while this thread runs a task (a nested region runs serially). */
static _Thread_local int nb__in_task;

static int nb__default_threads(void)
{
    const char *e = getenv("NABLA_THREADS");
    if (e && *e) {
        char *end;
        const long n = strtol(e, &end, 10);
        if (*end == 0 && n >= 1) return n > NB__POOL_MAX ? NB__POOL_MAX : (int)n;
    }
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > 16 ? 16 : (int)cpus;
}

int nb_check_env(void)
{
    const char *e = getenv("NABLA_THREADS");
    if (e && *e) {
        char *end;
        errno = 0;
        const long n = strtol(e, &end, 10);
        if (*end || errno || n < 1 || n > NB__POOL_MAX)
            return nb__erri("NABLA_THREADS=%.40s: expected a number of threads from 1 to %d", e, NB__POOL_MAX);
    }
    e = getenv("NABLA_BLAS");
    if (e && *e && strcmp(e, "builtin") && strcmp(e, "cblas"))
        return nb__erri("NABLA_BLAS=%.40s: expected builtin or cblas", e);
    if (e && !strcmp(e, "cblas") && !nb__gemm_have_cblas())
        return nb__erri("NABLA_BLAS=cblas: this build has no CBLAS (make BLAS=openblas)");
    const char *isa = nb__cpu_isa_env_error();
    if (isa) return nb__erri("NABLA_ISA=%.40s: %s", getenv("NABLA_ISA"), isa);
    e = getenv("NABLA_MEMORY_LIMIT");
    size_t bytes;
    if (e && *e && nb__parse_bytes(e, &bytes))
        return nb__erri("NABLA_MEMORY_LIMIT=%.40s: expected a size such as 512M, 2G or 1073741824", e);
    return 0;
}

int nb_set_threads(int n)
{
    if (n < 0 || n > NB__POOL_MAX)
        return nb__erri("nb_set_threads: %d threads: expected 0 (the default) to %d", n, NB__POOL_MAX);
    if (n == 0 && nb_check_env()) return -1;
    atomic_store(&nb__threads, n == 0 ? nb__default_threads() : n);
    return 0;
}

int nb_get_threads(void)
{
    int n = atomic_load_explicit(&nb__threads, memory_order_relaxed);
    if (n == 0) {
        /* A race here only computes the default twice. */
        n = nb__default_threads();
        int zero = 0;
        atomic_compare_exchange_strong(&nb__threads, &zero, n);
        n = atomic_load(&nb__threads);
    }
    return n;
}

size_t nb__pool_threads(void) { return nb__in_task ? 1 : (size_t)nb_get_threads(); }
void nb__pool_stay_serial(void) { nb__in_task = 1; }

static void nb__run_serial(size_t ntasks, void (*fn)(void *, size_t), void *arg)
{
    for (size_t t = 0; t < ntasks; t++) fn(arg, t);
}

#if defined(NB__POOL_THREADS)
static struct {
    mtx_t mu;
    cnd_t wake, done;
    once_flag once;
    int ok;          /* mutex and condition variables made */
    size_t nworkers; /* started so far (under mu) */
    atomic_uint gen; /* bumped (under mu) when a region starts */
    /* the current region, under mu */
    void (*fn)(void *, size_t);
    void *arg;
    size_t ntasks, next, nactive;
    atomic_size_t remaining; /* written under mu; read outside it to spin */
    int caller_waiting, sleepers;
} P = {.once = ONCE_FLAG_INIT};
/* Held by the user thread whose region is running. */
static atomic_flag nb__busy = ATOMIC_FLAG_INIT;

static void nb__pool_init(void)
{
    P.ok = mtx_init(&P.mu, mtx_plain) == thrd_success;
    P.ok = P.ok && cnd_init(&P.wake) == thrd_success && cnd_init(&P.done) == thrd_success;
}

static inline void nb__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double nb__now_us(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Idle work (pool.h): one job of chunks at a time.  ticket packs the job's
 * generation (high 32 bits) and the next chunk to claim (low 32); a claim is
 * a compare-and-swap on it, so a thread that read an older job's ticket can
 * never claim a chunk of a newer one.  The job's fields are written before
 * its ticket is published and stay until every chunk is done. */
static struct {
    _Atomic(uint64_t) ticket;
    _Atomic(void (*)(void *, size_t)) fn;
    _Atomic(void *) arg;
    atomic_size_t n, done;
    atomic_int live; /* a job is posted and not yet finished */
} B;

/* Claim and run one chunk of the idle job; 1 if one ran. */
static int nb__idle_one(void)
{
    if (!atomic_load_explicit(&B.live, memory_order_acquire)) return 0;
    uint64_t t = atomic_load_explicit(&B.ticket, memory_order_acquire);
    for (;;) {
        const size_t c = (size_t)(t & 0xffffffffu);
        if (c >= atomic_load_explicit(&B.n, memory_order_acquire)) return 0;
        if (atomic_compare_exchange_weak_explicit(&B.ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire)) {
            void (*fn)(void *, size_t) = atomic_load_explicit(&B.fn, memory_order_acquire);
            void *arg = atomic_load_explicit(&B.arg, memory_order_acquire);
            const int in = nb__in_task;
            nb__in_task = 1;
            fn(arg, c);
            nb__in_task = in;
            atomic_fetch_add_explicit(&B.done, 1, memory_order_acq_rel);
            return 1;
        }
    }
}

/* How a worker waits for the next region (and the caller for the last
 * task): NB__SPIN_US of pause-spinning, then up to NB__YIELD_US more checking
 * between sched_yield() calls, then sleep on the condition variable.
 * Waking a sleeping thread costs 60-100 us in a virtual machine (measured:
 * a region of two 50 us tasks took 110-150 us after the worker slept, 54 us
 * while it was awake), which is more than the gaps between the regions of a
 * training step; staying awake that long pays.  sched_yield hands the CPU to
 * any other runnable thread, so the yield phase never starves another
 * process -- or the caller itself when both share a core. */
#define NB__SPIN_US 20.0
#define NB__YIELD_US 300.0

/* Wait until P.gen != v or the time is up; returns the last value read. */
static unsigned nb__spin_gen(unsigned v)
{
    double t0 = 0;
    for (unsigned i = 1;; i++) {
        const unsigned g = atomic_load_explicit(&P.gen, memory_order_acquire);
        if (g != v) return g;
        if (nb__idle_one()) continue;
        if ((i & 63) == 0) {
            const double t = nb__now_us();
            if (t0 == 0) t0 = t;
            else if (t - t0 > NB__SPIN_US + NB__YIELD_US) return g;
            else if (t - t0 > NB__SPIN_US) {
                sched_yield();
                continue;
            }
        }
        nb__cpu_relax();
    }
}

/* Run tasks of the current region until none is left; called and returns
 * with mu held. */
static void nb__claim_tasks(void)
{
    while (P.next < P.ntasks) {
        const size_t t = P.next++;
        void (*fn)(void *, size_t) = P.fn;
        void *arg = P.arg;
        mtx_unlock(&P.mu);
        nb__in_task = 1;
        fn(arg, t);
        nb__in_task = 0;
        mtx_lock(&P.mu);
        if (atomic_fetch_sub(&P.remaining, 1) == 1 && P.caller_waiting) cnd_signal(&P.done);
    }
}

static int nb__worker(void *idp)
{
    const size_t id = (size_t)(uintptr_t)idp; /* 1, 2, ... (the caller is 0) */
    unsigned seen = atomic_load(&P.gen);
    for (;;) {
        nb__spin_gen(seen);
        mtx_lock(&P.mu);
        while (atomic_load(&P.gen) == seen) {
            P.sleepers++;
            cnd_wait(&P.wake, &P.mu);
            P.sleepers--;
        }
        seen = atomic_load(&P.gen);
        if (id < P.nactive) nb__claim_tasks();
        mtx_unlock(&P.mu);
    }
    return 0;
}

/* Start workers up to n - 1 (under mu); fewer if the system refuses. */
static void nb__grow(size_t n)
{
    while (P.nworkers + 1 < n) {
        thrd_t t;
        if (thrd_create(&t, nb__worker, (void *)(uintptr_t)(P.nworkers + 1)) != thrd_success) break;
        thrd_detach(t);
        P.nworkers++;
    }
}

void nb__pool_run(size_t ntasks, void (*fn)(void *, size_t), void *arg)
{
    const size_t nt = nb__pool_threads();
    if (ntasks <= 1 || nt <= 1) {
        nb__run_serial(ntasks, fn, arg);
        return;
    }
    call_once(&P.once, nb__pool_init);
    if (!P.ok || atomic_flag_test_and_set(&nb__busy)) {
        nb__run_serial(ntasks, fn, arg);
        return;
    }

    mtx_lock(&P.mu);
    nb__grow(nt < ntasks ? nt : ntasks);
    P.fn = fn;
    P.arg = arg;
    P.ntasks = ntasks;
    P.next = 0;
    P.nactive = nt;
    atomic_store(&P.remaining, ntasks);
    atomic_fetch_add(&P.gen, 1);
    if (P.sleepers) cnd_broadcast(&P.wake);
    nb__claim_tasks();
    if (atomic_load(&P.remaining)) {
        mtx_unlock(&P.mu);
        double t0 = 0;
        for (unsigned i = 1; atomic_load_explicit(&P.remaining, memory_order_acquire); i++) {
            if (nb__idle_one()) continue;
            if ((i & 63) == 0) {
                const double t = nb__now_us();
                if (t0 == 0) t0 = t;
                else if (t - t0 > NB__SPIN_US + NB__YIELD_US) break;
                else if (t - t0 > NB__SPIN_US) {
                    sched_yield();
                    continue;
                }
            }
            nb__cpu_relax();
        }
        mtx_lock(&P.mu);
        while (atomic_load(&P.remaining)) {
            P.caller_waiting = 1;
            cnd_wait(&P.done, &P.mu);
        }
        P.caller_waiting = 0;
    }
    mtx_unlock(&P.mu);
    atomic_flag_clear(&nb__busy);
}

int nb__pool_idle_post(size_t nchunks, void (*fn)(void *, size_t), void *arg)
{
    if (nchunks == 0 || nchunks > 0xffffffffu || nb__pool_threads() <= 1) return -1;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&B.live, &zero, 2)) return -1; /* 2: being posted */
    /* The new generation first, while n is still 0 (nothing claimable), then
     * n: a thread that read the old ticket and then the new n would
     * otherwise claim, with that stale ticket, a chunk the new one hands out
     * again (seen: one chunk run twice).  Now its compare-and-swap fails. */
    const uint64_t gen = (atomic_load_explicit(&B.ticket, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&B.ticket, gen << 32, memory_order_release);
    atomic_store_explicit(&B.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&B.arg, arg, memory_order_relaxed);
    atomic_store_explicit(&B.done, 0, memory_order_relaxed);
    atomic_store_explicit(&B.n, nchunks, memory_order_release);
    atomic_store_explicit(&B.live, 1, memory_order_release);
    return 0;
}

void nb__pool_idle_finish(void)
{
    if (atomic_load(&B.live) != 1) return;
    while (nb__idle_one()) {
    }
    const size_t n = atomic_load(&B.n);
    for (unsigned i = 1; atomic_load_explicit(&B.done, memory_order_acquire) < n; i++) {
        if ((i & 1023) == 0) sched_yield(); /* the chunk's thread may share this CPU */
        else nb__cpu_relax();
    }
    atomic_store_explicit(&B.n, 0, memory_order_release);
    atomic_store_explicit(&B.live, 0, memory_order_release);
}
#else
void nb__pool_run(size_t ntasks, void (*fn)(void *, size_t), void *arg) { nb__run_serial(ntasks, fn, arg); }
int nb__pool_idle_post(size_t nchunks, void (*fn)(void *, size_t), void *arg)
{
    return (void)nchunks, (void)fn, (void)arg, -1;
}
void nb__pool_idle_finish(void) {}
#endif

/* nb__parallel_for: contiguous ranges, one task each. */
typedef struct {
    void (*fn)(void *, size_t, size_t);
    void *arg;
    size_t n, chunk;
} nb__pfor;

static void nb__pfor_task(void *p, size_t t)
{
    const nb__pfor *f = p;
    const size_t lo = t * f->chunk, hi = lo + f->chunk < f->n ? lo + f->chunk : f->n;
    if (lo < hi) f->fn(f->arg, lo, hi);
}

void nb__parallel_for(size_t n, size_t grain, void (*fn)(void *, size_t, size_t), void *arg)
{
    if (grain < 1) grain = 1;
    size_t parts = n / grain;
    const size_t nt = nb__pool_threads();
    if (parts > nt) parts = nt;
    if (parts < 2) {
        if (n) fn(arg, 0, n);
        return;
    }
    size_t chunk = (n + parts - 1) / parts;
    chunk = (chunk + 15) / 16 * 16;
    nb__pfor f = {fn, arg, n, chunk};
    nb__pool_run((n + chunk - 1) / chunk, nb__pfor_task, &f);
}

static void nb__zero_range(void *p, size_t lo, size_t hi) { memset((char *)p + lo, 0, hi - lo); }

void nb__parallel_zero(void *p, size_t bytes, size_t grain) { nb__parallel_for(bytes, grain, nb__zero_range, p); }
