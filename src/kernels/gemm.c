/* Matrix multiply: run-time choice of instruction set, the per-thread packing
 * scratch, the test hooks, and the driver (gemm.inc) instantiated for float
 * and double.  The kernels are in gemm_generic.c, gemm_avx2.c, gemm_avx512.c. */
#include "gemm.h"

#include "core/cpu.h"
#include "core/pool.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
#endif
#if defined(NB_HAVE_CBLAS)
#include <cblas.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
void openblas_set_num_threads(int num_threads); /* OpenBLAS's own, not CBLAS */
#endif

/* ------------------------------------------------------ instruction sets */
static int nb__gemm_can_run(int path)
{
    switch (path) {
    case NB__GEMM_GENERIC: return 1;
#if defined(NB__GEMM_X86)
    case NB__GEMM_AVX2: return nb__cpu_has_avx2_fma();
    case NB__GEMM_AVX512: return nb__cpu_has_avx512f();
#endif
    default: return 0;
    }
}

/* The detected path (0 until the first call), and what tests forced.  A race
 * on the first call only detects twice: every thread stores the same value. */
static atomic_int nb__gemm_best, nb__gemm_forced, nb__gemm_strategy;
/* The backend a test forced (NB__GEMM_BACKEND_DEFAULT: none), and what
 * NABLA_BLAS asks for (-1 until read). */
static atomic_int nb__gemm_backend_forced, nb__gemm_backend_env = -1;
static atomic_size_t nb__gemm_mc, nb__gemm_kc, nb__gemm_nc;

int nb__gemm_path(void)
{
    int p = atomic_load_explicit(&nb__gemm_forced, memory_order_relaxed);
    if (p) return p;
    p = atomic_load_explicit(&nb__gemm_best, memory_order_relaxed);
    if (!p) {
        p = nb__gemm_can_run(NB__GEMM_AVX512) ? NB__GEMM_AVX512
            : nb__gemm_can_run(NB__GEMM_AVX2) ? NB__GEMM_AVX2
                                              : NB__GEMM_GENERIC;
        atomic_store_explicit(&nb__gemm_best, p, memory_order_relaxed);
    }
    return p;
}

const char *nb__gemm_path_name(int path)
{
    static const char *const names[NB__GEMM_NPATHS] = {"auto", "generic", "avx2", "avx512"};
    return path >= 0 && path < NB__GEMM_NPATHS ? names[path] : "?";
}

int nb__gemm_set_path(int path, int strategy)
{
    if (path < 0 || path >= NB__GEMM_NPATHS || strategy < NB__GEMM_CHOOSE || strategy > NB__GEMM_NARROW) return -1;
    if (path != NB__GEMM_AUTO && !nb__gemm_can_run(path)) return -1;
    atomic_store(&nb__gemm_forced, path);
    atomic_store(&nb__gemm_strategy, strategy);
    return 0;
}

void nb__gemm_set_blocks(size_t mc, size_t kc, size_t nc)
{
    atomic_store(&nb__gemm_mc, mc);
    atomic_store(&nb__gemm_kc, kc);
    atomic_store(&nb__gemm_nc, nc);
}

int nb__gemm_set_backend(int backend)
{
    if (backend < NB__GEMM_BACKEND_DEFAULT || backend > NB__GEMM_CBLAS) return -1;
#if !defined(NB_HAVE_CBLAS)
    if (backend == NB__GEMM_CBLAS) return -1;
#endif
    atomic_store(&nb__gemm_backend_forced, backend);
    return 0;
}

int nb__gemm_have_cblas(void)
{
#if defined(NB_HAVE_CBLAS)
    return 1;
#else
    return 0;
#endif
}

/* NABLA_BLAS=builtin|cblas, read on the first product (a race reads it twice
 * and stores the same value); anything else means the default rule. */
static int nb__gemm_env_backend(void)
{
    int b = atomic_load_explicit(&nb__gemm_backend_env, memory_order_relaxed);
    if (b < 0) {
        const char *e = getenv("NABLA_BLAS");
        b = !e                                             ? NB__GEMM_BACKEND_DEFAULT
            : !strcmp(e, "builtin")                        ? NB__GEMM_BUILTIN
            : !strcmp(e, "cblas") && nb__gemm_have_cblas() ? NB__GEMM_CBLAS
                                                           : NB__GEMM_BACKEND_DEFAULT;
        atomic_store_explicit(&nb__gemm_backend_env, b, memory_order_relaxed);
    }
    return b;
}

void nb__gemm_get_cfg(nb__gemm_cfg *cf)
{
    cf->backend = atomic_load_explicit(&nb__gemm_backend_forced, memory_order_relaxed);
    if (!cf->backend) cf->backend = nb__gemm_env_backend();
    /* a forced path or strategy is a test of the built-in kernels */
    if (!cf->backend && (atomic_load_explicit(&nb__gemm_forced, memory_order_relaxed) ||
                         atomic_load_explicit(&nb__gemm_strategy, memory_order_relaxed)))
        cf->backend = NB__GEMM_BUILTIN;
    cf->path = nb__gemm_path();
    cf->strategy = atomic_load_explicit(&nb__gemm_strategy, memory_order_relaxed);
    cf->mc = atomic_load_explicit(&nb__gemm_mc, memory_order_relaxed);
    cf->kc = atomic_load_explicit(&nb__gemm_kc, memory_order_relaxed);
    cf->nc = atomic_load_explicit(&nb__gemm_nc, memory_order_relaxed);
}

_Thread_local size_t nb__gemm_pieces;
size_t nb__gemm_last_pieces(void) { return nb__gemm_pieces; }

/* ------------------------------------------------------ packing scratch */
/* One block per thread, grown to the largest size asked and kept: after the
 * first products of a given size, no call allocates.  A product run inside a
 * pool task (a task of the caller's: a conv2d's images) takes instead the
 * scratch that task lent (nb__gemm_lend) when it fits: which thread runs
 * which task is not fixed, so a thread's own block could still grow in a
 * late step, the first time that thread happened to run the largest task.
 * The pointer lives in a _Thread_local; a C11 tss key with a destructor frees
 * it when the thread exits (the main thread's block goes with the process). */
static _Thread_local struct {
    void *p;
    size_t cap;
} nb__gemm_tl, nb__gemm_lent;

#if !defined(__STDC_NO_THREADS__)
static tss_t nb__gemm_key;
static int nb__gemm_key_ok;
static once_flag nb__gemm_once = ONCE_FLAG_INIT;

static void nb__gemm_tl_free(void *p)
{
    free(p);
    nb__gemm_tl.p = NULL;
    nb__gemm_tl.cap = 0;
}
static void nb__gemm_key_init(void) { nb__gemm_key_ok = tss_create(&nb__gemm_key, nb__gemm_tl_free) == thrd_success; }
#endif

void nb__gemm_lend(void *p, size_t bytes)
{
    nb__gemm_lent.p = p;
    nb__gemm_lent.cap = p ? bytes : 0;
}

void *nb__gemm_scratch(size_t bytes)
{
    if (nb__gemm_lent.p && bytes <= nb__gemm_lent.cap) return nb__gemm_lent.p;
    if (bytes <= nb__gemm_tl.cap) return nb__gemm_tl.p;
    const size_t cap = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, cap);
    if (!p) return NULL;
    free(nb__gemm_tl.p);
    nb__gemm_tl.p = p;
    nb__gemm_tl.cap = cap;
#if !defined(__STDC_NO_THREADS__)
    call_once(&nb__gemm_once, nb__gemm_key_init);
    if (nb__gemm_key_ok) tss_set(nb__gemm_key, p);
#endif
    return p;
}

/* ------------------------------------------------------------- the driver */
#define NB__MIN(a, b) ((a) < (b) ? (a) : (b))
#define NB__UP(a, b) (((a) + (b)-1) / (b) * (b)) /* a rounded up to a multiple of b */

/* A block length near kc that cuts k into equal blocks (a multiple of 8, so
 * at most 7 over kc), the last one possibly a little shorter. */
static size_t nb__gemm_split(size_t k, size_t kc)
{
    if (k <= kc) return kc;
    const size_t nblocks = (k + kc - 1) / kc;
    return NB__UP((k + nblocks - 1) / nblocks, 8);
}

/* Strategy id of the CBLAS backend (next to NB__GEMM_PACKED, ...). */
#define NB__GEMM_ST_CBLAS 9
/* Cycles a parallel region is charged over running in the caller alone
 * (waking the workers, waiting for the last): ~10 us, against the pool's few
 * microseconds when idle.  An estimate: the shared 2-core machine this was
 * written on could not time it cleanly; re-tune on an idle one. */
#define NB__GEMM_REGION 30000.0
/* At most this many fixed pieces of C for the CBLAS backend. */
#define NB__GEMM_CBLAS_PIECES 8

#if defined(NB_HAVE_CBLAS)
/* OpenBLAS takes a buffer of 128 MiB for each thread that calls it, on its
 * first product there, and when the address space cannot hold it, retries
 * for ever: a hang, not an error.  Under an address-space or data limit
 * (ulimit -v, ulimit -d) that leaves less than one such buffer per thread
 * (and a margin) above what the process already uses, CBLAS is not used and
 * the built-in kernels take every product, failing cleanly if anything. */
#define NB__GEMM_CBLAS_ROOM (160.0 * 1024 * 1024)
static int nb__gemm_cblas_room(void)
{
    struct rlimit as, data;
    int lim_as = getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY;
    int lim_data = getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur != RLIM_INFINITY;
    if (!lim_as && !lim_data) return 1;
    unsigned long long size = 0, res, shared, text, lib, dat = 0; /* pages */
    FILE *f = fopen("/proc/self/statm", "r");
    int n = f ? fscanf(f, "%llu %llu %llu %llu %llu %llu", &size, &res, &shared, &text, &lib, &dat) : 0;
    if (f) fclose(f);
    if (n != 6) return 0; /* cannot tell: the side that cannot hang */
    double page = (double)sysconf(_SC_PAGESIZE), need = (double)(nb__pool_threads() + 1) * NB__GEMM_CBLAS_ROOM;
    if (lim_as && (double)as.rlim_cur - (double)size * page < need) return 0;
    if (lim_data && (double)data.rlim_cur - (double)dat * page < need) return 0;
    return 1;
}

/* Once, on the first product routed to CBLAS: is there room for it (above),
 * and OpenBLAS set to one thread inside each of our pieces.  1: use CBLAS. */
static int nb__gemm_cblas_ok_here;
static void nb__gemm_cblas_init1(void)
{
    nb__gemm_cblas_ok_here = nb__gemm_cblas_room();
    if (nb__gemm_cblas_ok_here) openblas_set_num_threads(1);
}
#if !defined(__STDC_NO_THREADS__)
static once_flag nb__gemm_cblas_once = ONCE_FLAG_INIT;
static int nb__gemm_cblas_init(void)
{
    call_once(&nb__gemm_cblas_once, nb__gemm_cblas_init1);
    return nb__gemm_cblas_ok_here;
}
#else
static atomic_int nb__gemm_cblas_state; /* 0 not yet, 1 deciding, 2 decided */
static int nb__gemm_cblas_init(void)
{
    int st = 0;
    if (atomic_compare_exchange_strong(&nb__gemm_cblas_state, &st, 1)) {
        nb__gemm_cblas_init1();
        atomic_store(&nb__gemm_cblas_state, 2);
    }
    while (atomic_load(&nb__gemm_cblas_state) != 2) {
    }
    return nb__gemm_cblas_ok_here;
}
#endif
/* The default rule (gemm.h): which shapes CBLAS takes when not forced.  None
 * on a CPU that shows AVX-512, whatever path runs: OpenBLAS picks its
 * kernels by the CPU, and its AVX-512 small-matrix ones allocate on every
 * call (with NABLA_ISA=avx2 there, the allocation tests failed). */
#define NB__GEMM_CBLAS_WINS(ta, tb, M, N, K) \
    (!nb__cpu_shows_avx512f() &&             \
     ((!(ta) && !(tb) && (M) >= 16 && ((M) < 128 || (K) < 32)) || ((ta) && !(tb) && (K) <= 64 && (M) >= 64)))
#endif

#define NB__TEMPLATE "gemm.inc"
#include "instantiate.h"
