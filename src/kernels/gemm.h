/* Matrix multiply kernels (private), row-major, BLAS-style arguments:
 *   C = alpha * op(A) op(B) + beta * C        C: [M, N], row stride ldc
 *   op(A) = A    [M, K], row stride lda   (ta == 0)
 *         = A^T  with A stored [K, M]     (ta != 0)
 *   op(B) = B    [K, N], row stride ldb   (tb == 0)
 *         = B^T  with B stored [N, K]     (tb != 0)
 * beta == 0 overwrites C (whatever it held, NaN included); beta == 1 accumulates.
 * K == 0 gives C = beta * C.  Nothing else is special-cased: alpha == 0 still
 * multiplies (as the reference does), so NaN in A or B still shows.
 *
 * nb_k_gemm_* is the fast one (gemm.inc drives it, gemm_kern.inc holds the
 * vector kernels for each instruction set); nb_k_gemm_ref_* is the naive triple
 * loop kept as the reference the tests compare the fast one against.
 *
 * How the fast one works (details in gemm.inc):
 *   - every product goes through one backend function (nb__gemm_backend),
 *     which picks a backend, cuts C into pieces and runs them on the thread
 *     pool (core/pool.h), the caller taking a share.
 *   - backends: CBLAS (cblas_sgemm/dgemm, row-major, transposes passed as
 *     they are) when built with it (`make BLAS=openblas`, or the default
 *     BLAS=auto when pkg-config finds openblas; -DNB_HAVE_CBLAS), else the
 *     built-in kernels.  NABLA_BLAS=builtin|cblas overrides for the process.
 *     Default rule with CBLAS built in -- measured 1 thread, AVX2 (Zen),
 *     bench/gemm_bench.c -j -c: the built-in kernels match OpenBLAS within
 *     ~5% on squares and most MLP shapes, beat it on thin products and on
 *     batch-1 rows (2x), and lose 10-30% on a few; CBLAS takes only those:
 *       A B    (NN) with 16 <= M < 128, or M >= 16 and K < 32
 *                   (dX = dY W at batch 64, and dX of a 10-wide layer);
 *       A^T B  (TN) with K <= 64 and M >= 64 (dW = dY^T X at batch 64);
 *     none on a CPU that shows AVX-512, whichever path runs (NABLA_ISA=avx2
 *     too): measured the same way on a Xeon showing it, those shapes ran
 *     within ~10% of OpenBLAS either way (the CNN's convolutions too), and
 *     OpenBLAS, which picks its kernels by the CPU, allocates on every call
 *     in its AVX-512 small-matrix ones (a training step must not);
 *     and only when every size and stride fits CBLAS's int and its rules
 *     (lda >= row length ...).  OpenBLAS is set to 1 thread
 *     (openblas_set_num_threads(1), once, on the first product routed to
 *     it: this is process-wide) and runs inside our pieces, so that two
 *     thread pools never compete.  Under an address-space or data limit
 *     (ulimit -v/-d) without room for OpenBLAS's 128 MiB buffer per thread
 *     (it would retry for ever), CBLAS is not used at all (also decided on
 *     that first product; gemm.c, nb__gemm_cblas_room).
 *   - pieces, built-in: the strategy (below) is chosen once for the whole
 *     shape, then C is cut on the micro-tile grid (MR rows, NR columns; the
 *     dot's tile grid; direct only across N; narrow only across M, 8 rows at
 *     a time) into at most
 *     nb__pool_threads() pieces, the cut with the least estimated time for
 *     its largest piece, counting ~30k cycles (~10 us) to wake the pool: a
 *     product under ~1M multiply-adds stays whole.  Every tile of C is
 *     then computed exactly as in one call over the whole of C, with the
 *     same K blocks: results are bitwise identical for any thread count.
 *     Each piece packs its own A and B panels (no shared packed B: the pool
 *     has no barrier, and with C cut along its longer side the duplicated
 *     packing is small); all pieces' scratch is one block of the caller's.
 *   - pieces, CBLAS: fixed by the shape alone, never by the thread count
 *     (an external BLAS may round differently for different sizes): up to 8
 *     slabs across the longer side of C, >= 128 wide and >= 2^23
 *     multiply-adds each.  At 1 thread this costs ~5-10% against one whole
 *     call on squares; the price of bitwise-identical results.
 *   - the built-in backend picks its strategy per call:
 *   - "packed" (BLIS/GotoBLAS): op(B) is packed [KC, NC] block by block into
 *     NR-wide column panels, op(A) [MC, KC] into MR-tall row panels, and a
 *     register-tiled micro-kernel computes each MR x NR tile of C.  Transposes
 *     are absorbed by the packing; nothing is copied whole.
 *   - "direct" for op(B) = B (tb == 0) with small M, tiny products or a
 *     short K: the same loops, but B is read where it lies (only op(A) is
 *     packed; op(A) = A^T of an even number of rows up to MR, a tile's
 *     height, is read where it lies too, and so is op(A) = A of K <= 16,
 *     each sliver then running along the whole of C in one call: a layer of
 *     10 outputs' input gradient); a single row (M == 1) packs nothing.
 *   - "dot" for A B^T (ta == 0, tb == 1) with small M or N: every C element is
 *     a dot product of two stored rows; nothing is packed.  Tiles of 4 x 3
 *     (AVX-512 float: 4 x 5, whose 20 sums share one shuffle tree).
 *   - "narrow" for A B^T with N <= NR (20 to 32 columns, where it beats dot),
 *     on paths that have it (AVX-512): op(B) is packed into one panel a K
 *     block, and A is read where it lies, 8 rows at a time.
 *   - the instruction set (AVX-512F, AVX2+FMA, or portable C) is detected once
 *     at run time (core/cpu.h) and cached.
 *   - packing scratch is one 64-byte-aligned block per calling thread, grown
 *     to the largest size asked (bounded by the blocking: at most
 *     (MC + NC) * KC elements, ~4.5 MB for float, per piece), then reused: no
 *     allocation per call in steady state, and none ever in pool workers.
 *     It is freed when the thread exits.  If it cannot be had, the product
 *     is computed by plain loops instead (never an error). */
#ifndef NB_KERNELS_GEMM_H
#define NB_KERNELS_GEMM_H

#include <stddef.h>

/* C = alpha op(A) op(B) + beta C, by the fastest path (see above) */
/* The scratch bytes a product of this shape takes from nb__gemm_scratch when
 * it runs on one thread (as inside a pool task); 0 when it takes none. */
size_t nb_k_gemm_scratch_f32(int ta, int tb, size_t M, size_t N, size_t K, size_t lda, size_t ldb, size_t ldc);
size_t nb_k_gemm_scratch_f64(int ta, int tb, size_t M, size_t N, size_t K, size_t lda, size_t ldb, size_t ldc);
void nb_k_gemm_f32(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                   const float *B, size_t ldb, float beta, float *C, size_t ldc);
void nb_k_gemm_f64(int ta, int tb, size_t M, size_t N, size_t K, double alpha, const double *A, size_t lda,
                   const double *B, size_t ldb, double beta, double *C, size_t ldc);
/* the same by plain loops: the reference the tests compare with */
void nb_k_gemm_ref_f32(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                       const float *B, size_t ldb, float beta, float *C, size_t ldc);
void nb_k_gemm_ref_f64(int ta, int tb, size_t M, size_t N, size_t K, double alpha, const double *A, size_t lda,
                       const double *B, size_t ldb, double beta, double *C, size_t ldc);

/* A B packed once for many products with it (the recurrent layers' W_hh,
 * used by every step).  nb_k_gemm_pb_init sets the kernels, blocks and the
 * size of the packed op(B) [K, N] (pb->size elements, 64-byte aligned
 * storage from the caller); nb_k_gemm_pb_pack packs it there; then
 * nb_k_gemm_pb_mul computes C [M, N] = A [M, K] op(B) + beta C, A as stored
 * with rows lda apart, serially in the calling thread (the caller runs them
 * as pool tasks), with ws scratch of nb_k_gemm_pb_ws elements, 64-byte
 * aligned.  Always the built-in packed kernels, never CBLAS; every row of C
 * is computed the same way whatever M is (rows never meet), so cutting the
 * rows into pieces cannot change a bit.  beta as in nb_k_gemm. */
typedef struct nb_k_gemm_pb {
    const void *kn;              /* the path's kernels (nb__gemm_kern_f32 / _f64) */
    size_t k, n, mc, kc, mr, nr; /* sizes and blocks */
    size_t size;                 /* elements of the packed B */
    const void *bp;              /* the packed B (set by nb_k_gemm_pb_pack) */
} nb_k_gemm_pb;
static inline size_t nb_k_gemm_pb_ws(const nb_k_gemm_pb *pb, size_t m)
{
    const size_t rows = (m < pb->mc ? m : pb->mc) + pb->mr - 1;
    return ((rows / pb->mr * pb->mr * (pb->kc < pb->k ? pb->kc : pb->k)) + 15) / 16 * 16;
}
void nb_k_gemm_pb_init_f32(nb_k_gemm_pb *pb, size_t K, size_t N);
void nb_k_gemm_pb_init_f64(nb_k_gemm_pb *pb, size_t K, size_t N);
void nb_k_gemm_pb_pack_f32(nb_k_gemm_pb *pb, float *bp, int tb, const float *B, size_t ldb);
void nb_k_gemm_pb_pack_f64(nb_k_gemm_pb *pb, double *bp, int tb, const double *B, size_t ldb);
void nb_k_gemm_pb_mul_f32(const nb_k_gemm_pb *pb, size_t M, const float *A, size_t lda, float beta, float *C,
                          size_t ldc, float *ws);
void nb_k_gemm_pb_mul_f64(const nb_k_gemm_pb *pb, size_t M, const double *A, size_t lda, double beta, double *C,
                          size_t ldc, double *ws);

/* ------------------------------------------------------ tests and benchmarks */
/* Instruction-set paths.  NB__GEMM_AUTO is the detected best one. */
enum { NB__GEMM_AUTO, NB__GEMM_GENERIC, NB__GEMM_AVX2, NB__GEMM_AVX512, NB__GEMM_NPATHS };
/* Strategies (see above); NB__GEMM_CHOOSE lets each call pick by its shape.
 * A forced strategy that cannot do a call's transposes falls back to packed. */
enum { NB__GEMM_CHOOSE, NB__GEMM_PACKED, NB__GEMM_DIRECT, NB__GEMM_DOT, NB__GEMM_NARROW };

/* Backends: the default rule (see the top), the built-in kernels, or CBLAS
 * (only when built with it).  NABLA_BLAS=builtin|cblas picks one for the
 * process; nb__gemm_set_backend (tests and benchmarks) overrides both, and
 * NB__GEMM_BACKEND_DEFAULT hands back to NABLA_BLAS and the rule.  Returns 0,
 * or -1 for CBLAS in a build without it. */
enum { NB__GEMM_BACKEND_DEFAULT, NB__GEMM_BUILTIN, NB__GEMM_CBLAS };
int nb__gemm_set_backend(int backend);
int nb__gemm_have_cblas(void); /* 1 when built with NB_HAVE_CBLAS */

/* Force a path and strategy for every later call in the process (tests and
 * benchmarks only; process-wide, not meant to change while products run).
 * Returns 0, or -1 when this machine or build cannot run that path (nothing
 * changes then).  nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_CHOOSE) restores.
 * Forcing a path or strategy also forces the built-in backend, unless
 * nb__gemm_set_backend or NABLA_BLAS asked for one. */
int nb__gemm_set_path(int path, int strategy);
/* The path calls use now (AUTO resolved), and a path's name ("avx2", ...). */
int nb__gemm_path(void);
const char *nb__gemm_path_name(int path);
/* How many pieces (tasks) the calling thread's last product was cut into. */
size_t nb__gemm_last_pieces(void);
/* Override the blocking MC, KC, NC (0 = the path's default; MC and NC are
 * rounded up to the micro-tile) so small shapes cross block edges in tests. */
void nb__gemm_set_blocks(size_t mc, size_t kc, size_t nc);

/* ------------------------------------------------- between gemm*.c files */
/* One instruction set's kernels for one type (defined by gemm_kern.inc).
 * Packed panels: ap [ceil(m/mr)][k][mr] (rows past m zero), bp
 * [ceil(n/nr)][k][nr] (columns past n zero).  a/b point at element (0, 0) of
 * op(A)/op(B) as stored. */
typedef struct nb__gemm_kern_f32 {
    size_t mr, nr, mc, kc, nc; /* micro-tile and default blocks */
    double dotr;               /* the dot kernel's multiply-adds a cycle (the cost model's units) */
    size_t dm, dn;             /* the dot kernel's tile: rows of A, rows of B */
    double dsum;               /* cycles to finish a dot tile (its horizontal sums), for the cost model */
    double dstream;            /* cycles per element of B a dot row of tiles reads when B is past L1 */
    void (*pack_a)(float *ap, const float *a, size_t lda, int ta, size_t m, size_t k);
    void (*pack_b)(float *bp, const float *b, size_t ldb, int tb, size_t k, size_t n);
    /* C[m, n] (m <= mr, n <= nr) = alpha * ap b + beta * C; b: k rows ldb apart, nr
     * columns each, all read (a packed panel, or B as stored) */
    void (*tile)(size_t k, const float *ap, size_t as, const float *b, size_t ldb, float alpha, float beta, float *c,
                 size_t ldc, size_t m, size_t n);
    /* one row: a[p * inca], b as stored (tb == 0), n <= nr */
    void (*row)(size_t k, const float *a, size_t inca, const float *b, size_t ldb, float alpha, float beta, float *c,
                size_t n);
    /* C[m, n] (m <= dm, n <= dn) = alpha * A B^T + beta * C, A rows lda apart, B ldb */
    void (*dot)(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float alpha, float beta, float *c,
                size_t ldc, size_t m, size_t n);
    /* C[m, n] (m <= 8, n <= nr) = alpha * A b + beta * C, A rows as stored lda apart,
     * b a packed panel [k][nr] (the narrow strategy); NULL where the path has none */
    void (*tile_sa)(size_t k, const float *a, size_t lda, const float *b, float alpha, float beta, float *c, size_t ldc,
                    size_t m, size_t n);
    /* C[m, n] (m <= mr, any n) = alpha * A b + beta * C, A's m rows read where they
     * lie (lda apart), b: k rows ldb apart, all of n read, nr columns at a time */
    void (*tile_rm)(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float alpha, float beta, float *c,
                    size_t ldc, size_t m, size_t n);
} nb__gemm_kern_f32;

/* The same for double. */
typedef struct nb__gemm_kern_f64 {
    size_t mr, nr, mc, kc, nc; /* micro-tile and default blocks */
    double dotr;               /* the dot kernel's multiply-adds a cycle (the cost model's units) */
    size_t dm, dn;             /* the dot kernel's tile: rows of A, rows of B */
    double dsum;               /* cycles to finish a dot tile (its horizontal sums), for the cost model */
    double dstream;            /* cycles per element of B a dot row of tiles reads when B is past L1 */
    void (*pack_a)(double *ap, const double *a, size_t lda, int ta, size_t m, size_t k);
    void (*pack_b)(double *bp, const double *b, size_t ldb, int tb, size_t k, size_t n);
    /* C[m, n] (m <= mr, n <= nr) = alpha * ap b + beta * C; b: k rows ldb apart, nr
     * columns each, all read (a packed panel, or B as stored) */
    void (*tile)(size_t k, const double *ap, size_t as, const double *b, size_t ldb, double alpha, double beta,
                 double *c, size_t ldc, size_t m, size_t n);
    /* one row: a[p * inca], b as stored (tb == 0), n <= nr */
    void (*row)(size_t k, const double *a, size_t inca, const double *b, size_t ldb, double alpha, double beta,
                double *c, size_t n);
    /* C[m, n] (m <= dm, n <= dn) = alpha * A B^T + beta * C, A rows lda apart, B ldb */
    void (*dot)(size_t k, const double *a, size_t lda, const double *b, size_t ldb, double alpha, double beta,
                double *c, size_t ldc, size_t m, size_t n);
    /* C[m, n] (m <= 8, n <= nr) = alpha * A b + beta * C, A rows as stored lda apart,
     * b a packed panel [k][nr] (the narrow strategy); NULL where the path has none */
    void (*tile_sa)(size_t k, const double *a, size_t lda, const double *b, double alpha, double beta, double *c,
                    size_t ldc, size_t m, size_t n);
    /* C[m, n] (m <= mr, any n) = alpha * A b + beta * C, A's m rows read where they
     * lie (lda apart), b: k rows ldb apart, all of n read, nr columns at a time */
    void (*tile_rm)(size_t k, const double *a, size_t lda, const double *b, size_t ldb, double alpha, double beta,
                    double *c, size_t ldc, size_t m, size_t n);
} nb__gemm_kern_f64;

#define NB__GEMM_SA_M 8 /* rows of a narrow tile */

extern const nb__gemm_kern_f32 nb__gemm_generic_f32;
extern const nb__gemm_kern_f64 nb__gemm_generic_f64;
#if defined(__x86_64__) && defined(__GNUC__)
#define NB__GEMM_X86 1
extern const nb__gemm_kern_f32 nb__gemm_avx2_f32, nb__gemm_avx512_f32;
extern const nb__gemm_kern_f64 nb__gemm_avx2_f64, nb__gemm_avx512_f64;
#endif

/* Settings for one call: path resolved, strategy and block overrides. */
typedef struct {
    int backend, path, strategy;
    size_t mc, kc, nc;
} nb__gemm_cfg;
void nb__gemm_get_cfg(nb__gemm_cfg *cfg);
/* The calling thread's packing scratch, 64-byte aligned, at least `bytes`:
 * what it lent, when that fits, else its own block; NULL if it cannot be
 * had.  Valid until the thread's next call. */
void *nb__gemm_scratch(size_t bytes);
/* Lend the calling thread's next products the 64-byte aligned scratch p of
 * `bytes` (NULL: lend none).  A pool task that runs products lends its own
 * share of the caller's arena (nb_k_gemm_scratch_* says how much), so that
 * nothing is allocated whichever thread runs it. */
void nb__gemm_lend(void *p, size_t bytes);
extern _Thread_local size_t nb__gemm_pieces; /* behind nb__gemm_last_pieces */

#endif
