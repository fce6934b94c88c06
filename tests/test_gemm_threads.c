/* The GEMM cut across the thread pool: every element of C must come out bit
 * for bit the same for 1, 2, 3 and 4 threads -- built-in kernels (each
 * strategy chosen or forced, default and tiny blocks) and the CBLAS backend
 * when built with it -- on odd shapes, every transpose, several alpha/beta. */
#include "kernels/gemm.h"
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* xorshift values in [-1, 1), the same on every run */
static void fill(float *f, double *d, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        const double v = (double)(x >> 8) / (double)(1u << 23) - 1;
        if (f) f[i] = (float)v;
        if (d) d[i] = v;
    }
}

/* One shape, flags, alpha, beta under the current settings: C from 1 thread,
 * then from 2, 3, 4 compared byte for byte (padding of C included).  Counts in
 * *split the runs that were cut into more than one piece. */
static int same_for_any_threads(int f32, int ta, int tb, size_t M, size_t N, size_t K, double alpha, double beta,
                                int *split)
{
    const size_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
    const size_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc,
                 es = f32 ? sizeof(float) : sizeof(double);
    void *A = malloc(na * es), *B = malloc(nb * es), *C0 = malloc(nc * es), *C1 = malloc(nc * es), *C = malloc(nc * es);
    int ok = A && B && C0 && C1 && C;
    if (ok) {
        fill(f32 ? A : NULL, f32 ? NULL : A, na, (uint32_t)(M * 31 + N));
        fill(f32 ? B : NULL, f32 ? NULL : B, nb, (uint32_t)(K * 17 + 5));
        fill(f32 ? C0 : NULL, f32 ? NULL : C0, nc, 99);
    }
    const int max_threads = t_under_valgrind() ? 2 : 4;
    for (int threads = 1; ok && threads <= max_threads; threads++) {
        nb_set_threads(threads);
        void *out = threads == 1 ? C1 : C;
        memcpy(out, C0, nc * es);
        if (f32) nb_k_gemm_f32(ta, tb, M, N, K, (float)alpha, A, lda, B, ldb, (float)beta, out, ldc);
        else nb_k_gemm_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, out, ldc);
        *split += nb__gemm_last_pieces() > 1;
        if (threads > 1 && memcmp(C1, C, nc * es)) ok = 0;
    }
    free(A), free(B), free(C0), free(C1), free(C);
    return ok;
}

/* Shapes for the built-in kernels, cut from a few hundred thousand
 * multiply-adds on; the CBLAS backend cuts only from 2^24 on (gemm.inc). */
static const size_t DIMS[][3] = {{1, 513, 300},   {513, 17, 129}, {17, 513, 257}, {7, 1025, 64},
                                 {130, 130, 130}, {64, 128, 784}, {128, 784, 64}, {64, 784, 128},
                                 {257, 255, 33},  {1025, 7, 300}, {33, 2049, 17}, {130, 1030, 10}};
static const size_t BIG[][3] = {{257, 1025, 129}, {1025, 255, 200}, {130, 2050, 300}, {64, 1024, 1024}};

static int sweep(const char *what, const size_t (*dims)[3], size_t ndims, int *split)
{
    static const double ab[3][2] = {{1, 0}, {-0.75, 1}, {1.5, -0.5}};
    int fails = 0;
    if (t_under_valgrind() && ndims > 3) ndims = 3; /* a subset: see t.h */
    for (int f32 = 0; f32 < 2; f32++)
        for (size_t s = 0; s < ndims; s++)
            for (int t = 0; t < 4; t++) {
                const double *p = ab[(s + (size_t)t) % 3];
                const size_t M = dims[s][0], N = dims[s][1], K = dims[s][2];
                if (!same_for_any_threads(f32, t & 1, t >> 1, M, N, K, p[0], p[1], split) && fails++ < 5)
                    t_fail(__FILE__, __LINE__,
                           "%s %s ta=%d tb=%d %zux%zux%zu alpha=%g beta=%g: differs by thread count", what,
                           f32 ? "f32" : "f64", t & 1, t >> 1, M, N, K, p[0], p[1]);
            }
    return fails;
}

TEST(gemm_threads, builtin_bitwise_identical_for_1_to_4_threads)
{
    const int saved = nb_get_threads();
    CHECK(nb__gemm_set_backend(NB__GEMM_BUILTIN) == 0);
    for (int st = NB__GEMM_CHOOSE; st <= NB__GEMM_NARROW; st++) {
        int split = 0;
        char what[48];
        snprintf(what, sizeof what, "builtin strategy %d", st);
        CHECK(nb__gemm_set_path(NB__GEMM_AUTO, st) == 0);
        sweep(what, DIMS, sizeof DIMS / sizeof DIMS[0], &split);
        CHECK_MSG(split > (t_under_valgrind() ? 5 : 20), "%s: only %d products were cut into pieces", what, split);
    }
    /* tiny blocks: pieces cross many block edges */
    nb__gemm_set_blocks(7, 5, 9);
    int split = 0;
    CHECK(nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_CHOOSE) == 0);
    sweep("builtin small blocks", DIMS, sizeof DIMS / sizeof DIMS[0], &split);
    nb__gemm_set_blocks(0, 0, 0);
    CHECK(nb__gemm_set_backend(NB__GEMM_BACKEND_DEFAULT) == 0);
    nb_set_threads(saved);
}

TEST(gemm_threads, cblas_bitwise_identical_for_1_to_4_threads)
{
    if (!nb__gemm_have_cblas()) {
        CHECK(nb__gemm_set_backend(NB__GEMM_CBLAS) == -1);
        T_SKIP("built without CBLAS");
        return;
    }
    const int saved = nb_get_threads();
    CHECK(nb__gemm_set_backend(NB__GEMM_CBLAS) == 0);
    int split = 0;
    /* Under valgrind the BIG shapes (10^8 multiply-adds each) take many
     * minutes: only the small ones run, and nothing is cut there. */
    const int big = !t_under_valgrind();
    sweep("cblas", DIMS, sizeof DIMS / sizeof DIMS[0], &split);
    if (big) {
        sweep("cblas", BIG, sizeof BIG / sizeof BIG[0], &split);
        CHECK_MSG(split > 20, "cblas: only %d products were cut into pieces", split);
    }
    split = 0;
    /* the default rule, whatever it picks */
    CHECK(nb__gemm_set_backend(NB__GEMM_BACKEND_DEFAULT) == 0);
    sweep("default backend", DIMS, sizeof DIMS / sizeof DIMS[0], &split);
    if (big) sweep("default backend", BIG, sizeof BIG / sizeof BIG[0], &split);
    nb_set_threads(saved);
}
