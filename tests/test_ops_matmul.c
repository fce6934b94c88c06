/* matmul and the gemm kernel: the fast kernel against the naive reference on
 * odd shapes, every transpose combination, alpha/beta and padded strides --
 * under each instruction set this CPU runs and each strategy forced, with tiny
 * blocks, and from several threads at once; forward and backward by hand for
 * all four flag combinations and both batch forms; finite differences in
 * float64; every error. */
#include "kernels/gemm.h"
#include "t_fd.h"
#include "t_ops.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const nb_dtype DTS[2] = {NB_F64, NB_F32};

/* ------------------------------------------------------------ gemm kernel */
/* Compare nb_k_gemm with nb_k_gemm_ref on one shape, flags, alpha and beta;
 * strides are padded so ld != row length, and the padding of C must come back
 * bit for bit.  With beta == 0, C starts as NaN (it must not be read).
 * Returns the largest difference relative to 1 + |reference|. */
static double gemm_diff(int f32, int ta, int tb, size_t M, size_t N, size_t K, double alpha, double beta, nb_rng *r)
{
    const size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const size_t lda = ac + 3, ldb = bc + 1, ldc = N + 2;
    size_t na = ar * lda, nb = br * ldb, nc = M * ldc;
    double *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B), *C0 = malloc((nc + 1) * sizeof *C0);
    for (size_t i = 0; i < na; i++) A[i] = nb_rng_uniform(r) * 2 - 1;
    for (size_t i = 0; i < nb; i++) B[i] = nb_rng_uniform(r) * 2 - 1;
    for (size_t i = 0; i < nc; i++) C0[i] = beta == 0 ? NAN : nb_rng_uniform(r); /* beta 0 ignores C */
    double worst = 0;
    if (f32) {
        float *a = malloc((na + 1) * sizeof *a), *b = malloc((nb + 1) * sizeof *b), *c1 = malloc((nc + 1) * sizeof *c1),
              *c2 = malloc((nc + 1) * sizeof *c2);
        for (size_t i = 0; i < na; i++) a[i] = (float)A[i];
        for (size_t i = 0; i < nb; i++) b[i] = (float)B[i];
        for (size_t i = 0; i < nc; i++) c1[i] = c2[i] = (float)C0[i];
        nb_k_gemm_f32(ta, tb, M, N, K, (float)alpha, a, lda, b, ldb, (float)beta, c1, ldc);
        nb_k_gemm_ref_f32(ta, tb, M, N, K, (float)alpha, a, lda, b, ldb, (float)beta, c2, ldc);
        for (size_t i = 0; i < M; i++) {
            for (size_t j = 0; j < N; j++) {
                double d = fabs((double)c1[i * ldc + j] - c2[i * ldc + j]) / (1 + fabs(c2[i * ldc + j]));
                if (!(d <= worst)) worst = d;
            }
            if (memcmp(c1 + i * ldc + N, c2 + i * ldc + N, (ldc - N) * sizeof *c1)) worst = INFINITY; /* padding */
        }
        free(a), free(b), free(c1), free(c2);
    } else {
        double *c1 = malloc((nc + 1) * sizeof *c1), *c2 = malloc((nc + 1) * sizeof *c2);
        memcpy(c1, C0, nc * sizeof *c1);
        memcpy(c2, C0, nc * sizeof *c2);
        nb_k_gemm_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, c1, ldc);
        nb_k_gemm_ref_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, c2, ldc);
        for (size_t i = 0; i < M; i++) {
            for (size_t j = 0; j < N; j++) {
                double d = fabs(c1[i * ldc + j] - c2[i * ldc + j]) / (1 + fabs(c2[i * ldc + j]));
                if (!(d <= worst)) worst = d;
            }
            if (memcmp(c1 + i * ldc + N, c2 + i * ldc + N, (ldc - N) * sizeof *c1)) worst = INFINITY;
        }
        free(c1), free(c2);
    }
    free(A), free(B), free(C0);
    return worst;
}

/* Rounding differs with the summation order; allow for it growing with K. */
static double gemm_tol(int f32, size_t K) { return (f32 ? 4e-7 : 1e-15) * (double)(K + 32); }

/* Every shape x 4 flag combinations x 3 betas (alpha varies too), both types,
 * under whatever path and strategy are set; returns the number of failures. */
static int gemm_sweep(const char *what, const size_t (*dims)[3], size_t ndims, nb_rng *r)
{
    static const double alphas[3] = {1.5, 1, -0.75}, betas[3] = {0, 1, -0.5};
    int fails = 0;
    for (int f32 = 0; f32 < 2; f32++)
        for (size_t s = 0; s < ndims; s++)
            for (int t = 0; t < 4; t++)
                for (int bi = 0; bi < 3; bi++) {
                    const size_t M = dims[s][0], N = dims[s][1], K = dims[s][2];
                    const double alpha = alphas[(s + (size_t)t + (size_t)bi) % 3];
                    double d = gemm_diff(f32, t & 1, t >> 1, M, N, K, alpha, betas[bi], r);
                    if (!(d < gemm_tol(f32, K)) && fails++ < 5)
                        t_fail(__FILE__, __LINE__, "gemm %s %s ta=%d tb=%d M=%zu N=%zu K=%zu alpha=%g beta=%g: diff %g",
                               what, f32 ? "f32" : "f64", t & 1, t >> 1, M, N, K, alpha, betas[bi], d);
                }
    return fails;
}

TEST(matmul, gemm_fast_matches_reference_on_odd_shapes)
{
    static const size_t dims[][3] = {{1, 1, 1}, {1, 7, 17}, {7, 1, 33},   {17, 33, 1}, {33, 17, 7},
                                     {7, 7, 7}, {17, 1, 1}, {33, 33, 33}, {3, 5, 0}};
    nb_rng r;
    nb_rng_seed(&r, 5);
    gemm_sweep("auto", dims, sizeof dims / sizeof dims[0], &r);
}

/* Each instruction set this machine can run, each strategy forced (one that
 * cannot do a flag combination falls back to packed), on odd shapes around the
 * micro-tiles (MR 4/6/12, NR 4/8/16/32) and the MLP's shapes; K <= 16 with
 * slivers of every height, odd ones included, reads A where it lies. */
TEST(matmul, gemm_every_path_and_strategy_matches_reference)
{
    static const size_t dims[][3] = {{1, 1, 1},     {1, 17, 33},   {1, 40, 7},    {7, 1, 33},    {17, 33, 1},
                                     {33, 17, 7},   {6, 16, 8},    {12, 32, 5},   {13, 33, 257}, {2, 3, 300},
                                     {64, 10, 128}, {65, 129, 21}, {33, 513, 17}, {513, 7, 33},  {17, 33, 513},
                                     {47, 97, 10},  {25, 64, 16},  {64, 128, 10}};
    nb_rng r;
    nb_rng_seed(&r, 11);
    int ran = 0;
    for (int path = NB__GEMM_GENERIC; path < NB__GEMM_NPATHS; path++)
        for (int st = NB__GEMM_CHOOSE; st <= NB__GEMM_NARROW; st++) {
            if (nb__gemm_set_path(path, st) != 0) break; /* not on this machine */
            char what[64];
            snprintf(what, sizeof what, "%s/strategy %d", nb__gemm_path_name(path), st);
            gemm_sweep(what, dims, sizeof dims / sizeof dims[0], &r);
            ran += st == NB__GEMM_CHOOSE;
        }
    CHECK(nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_CHOOSE) == 0);
    CHECK(ran >= 1); /* the portable path always runs */
    if (ran < NB__GEMM_NPATHS - 1)
        printf("  note: %d of %d gemm paths run on this CPU (detected: %s)\n", ran, NB__GEMM_NPATHS - 1,
               nb__gemm_path_name(nb__gemm_path()));
}

/* Tiny blocks, so that shapes of a few dozen cross every block edge: several
 * NC, KC and MC blocks, partial last blocks, K split for direct and dot. */
TEST(matmul, gemm_block_edges_match_reference)
{
    static const size_t dims[][3] = {{50, 70, 23}, {13, 100, 40}, {31, 9, 61}, {1, 45, 30}};
    nb_rng r;
    nb_rng_seed(&r, 12);
    nb__gemm_set_blocks(7, 5, 9);
    for (int path = NB__GEMM_GENERIC; path < NB__GEMM_NPATHS; path++)
        for (int st = NB__GEMM_PACKED; st <= NB__GEMM_NARROW; st++) {
            if (nb__gemm_set_path(path, st) != 0) break;
            char what[64];
            snprintf(what, sizeof what, "%s/strategy %d/small blocks", nb__gemm_path_name(path), st);
            gemm_sweep(what, dims, sizeof dims / sizeof dims[0], &r);
        }
    nb__gemm_set_blocks(0, 0, 0);
    CHECK(nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_CHOOSE) == 0);
}

/* A B packed once (the recurrent layers' weights): op(B) for both flags,
 * against the reference on each path, with the default and with tiny blocks
 * (several K and M blocks); and C's rows computed in pieces of 7 are bitwise
 * those of one call over all rows (other tile heights for the same rows). */
static int gemm_pb_case(int f32, int tb, size_t M, size_t N, size_t K, double beta, nb_rng *r)
{
    const size_t br = tb ? N : K, bc = tb ? K : N, lda = K + 3, ldb = bc + 1, ldc = N + 2;
    const size_t na = M * lda, nb = br * ldb, nc = M * ldc, es = f32 ? 4 : 8;
    nb_k_gemm_pb pb;
    if (f32) nb_k_gemm_pb_init_f32(&pb, K, N);
    else nb_k_gemm_pb_init_f64(&pb, K, N);
    const size_t wsz = nb_k_gemm_pb_ws(&pb, M);
    char *a = malloc(na * es + 1), *b = malloc(nb * es + 1), *c0 = malloc(nc * es + 1), *c1 = malloc(nc * es + 1),
         *c2 = malloc(nc * es + 1);
    void *bp = aligned_alloc(64, (pb.size * es + 63) / 64 * 64 + 64),
         *ws = aligned_alloc(64, (wsz * es + 63) / 64 * 64 + 64);
    for (size_t i = 0; i < na + nb + nc; i++) {
        const double v = i >= na + nb && beta == 0 ? NAN : nb_rng_uniform(r) * 2 - 1;
        char *dst = i < na ? a + i * es : i < na + nb ? b + (i - na) * es : c0 + (i - na - nb) * es;
        if (f32) *(float *)dst = (float)v;
        else *(double *)dst = v;
    }
    memcpy(c1, c0, nc * es);
    memcpy(c2, c0, nc * es);
    int bad = 0;
    if (f32) {
        nb_k_gemm_pb_pack_f32(&pb, bp, tb, (const float *)b, ldb);
        nb_k_gemm_pb_mul_f32(&pb, M, (const float *)a, lda, (float)beta, (float *)c1, ldc, ws);
        nb_k_gemm_ref_f32(0, tb, M, N, K, 1, (const float *)a, lda, (const float *)b, ldb, (float)beta, (float *)c2,
                          ldc);
    } else {
        nb_k_gemm_pb_pack_f64(&pb, bp, tb, (const double *)b, ldb);
        nb_k_gemm_pb_mul_f64(&pb, M, (const double *)a, lda, beta, (double *)c1, ldc, ws);
        nb_k_gemm_ref_f64(0, tb, M, N, K, 1, (const double *)a, lda, (const double *)b, ldb, beta, (double *)c2, ldc);
    }
    for (size_t i = 0; i < M * ldc; i++) {
        const double x = f32 ? ((float *)c1)[i] : ((double *)c1)[i], y = f32 ? ((float *)c2)[i] : ((double *)c2)[i];
        if (i % ldc >= N) bad |= memcmp(c1 + i * es, c2 + i * es, es) != 0; /* padding untouched */
        else bad |= !(fabs(x - y) / (1 + fabs(y)) < gemm_tol(f32, K));
    }
    /* rows in pieces of 7: the same bits */
    memcpy(c2, c0, nc * es);
    for (size_t i0 = 0; i0 < M; i0 += 7) {
        const size_t m = M - i0 < 7 ? M - i0 : 7;
        if (f32)
            nb_k_gemm_pb_mul_f32(&pb, m, (const float *)a + i0 * lda, lda, (float)beta, (float *)c2 + i0 * ldc, ldc,
                                 ws);
        else nb_k_gemm_pb_mul_f64(&pb, m, (const double *)a + i0 * lda, lda, beta, (double *)c2 + i0 * ldc, ldc, ws);
    }
    bad |= (memcmp(c1, c2, nc * es) != 0) << 1;
    free(a), free(b), free(c0), free(c1), free(c2), free(bp), free(ws);
    return bad;
}

TEST(matmul, gemm_prepacked_b_matches_reference_and_cuts_rows_exactly)
{
    /* M = 8, 20, 32: 6-row slivers and a 2-row edge */
    static const size_t dims[][3] = {{1, 1, 1},     {7, 33, 17},   {32, 512, 128}, {32, 128, 512},
                                     {65, 129, 21}, {13, 17, 300}, {8, 40, 19},    {20, 24, 64}};
    nb_rng r;
    nb_rng_seed(&r, 13);
    for (int small = 0; small < 2; small++) {
        nb__gemm_set_blocks(small ? 7 : 0, small ? 5 : 0, small ? 9 : 0);
        for (int path = NB__GEMM_GENERIC; path < NB__GEMM_NPATHS; path++) {
            if (nb__gemm_set_path(path, NB__GEMM_CHOOSE) != 0) break;
            for (int f32 = 0; f32 < 2; f32++)
                for (size_t s = 0; s < sizeof dims / sizeof dims[0]; s++)
                    for (int tb = 0; tb < 2; tb++) {
                        const double beta = (s + (size_t)tb) % 3 == 0 ? 0 : (s % 2 ? 1 : -0.5);
                        int bad = gemm_pb_case(f32, tb, dims[s][0], dims[s][1], dims[s][2], beta, &r);
                        CHECK_MSG(!bad, "%s %s%s tb=%d M=%zu N=%zu K=%zu beta=%g: %s", nb__gemm_path_name(path),
                                  f32 ? "f32" : "f64", small ? " small blocks" : "", tb, dims[s][0], dims[s][1],
                                  dims[s][2], beta, bad & 1 ? "differs from the reference" : "pieces differ");
                    }
        }
    }
    nb__gemm_set_blocks(0, 0, 0);
    CHECK(nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_CHOOSE) == 0);
}

TEST(matmul, gemm_special_sizes_and_settings)
{
    float c[6] = {NAN, NAN, NAN, 1, 2, 3}, a[1] = {NAN}, b[1] = {NAN};
    nb_k_gemm_f32(0, 0, 2, 3, 0, 1, a, 1, b, 3, 0, c, 3); /* K = 0, beta = 0: zeros, NaN not read */
    for (int i = 0; i < 6; i++) CHECK(c[i] == 0);
    double d[4] = {1, 2, 3, 4};
    nb_k_gemm_f64(1, 1, 2, 2, 0, 1, NULL, 2, NULL, 0, 2, d, 2); /* K = 0: C = beta C */
    CHECK(d[0] == 2 && d[3] == 8);
    nb_k_gemm_f64(0, 0, 0, 2, 3, 1, NULL, 3, NULL, 2, 0, d, 2); /* M = 0: nothing */
    nb_k_gemm_f64(0, 0, 2, 0, 3, 1, NULL, 3, NULL, 0, 0, d, 2); /* N = 0: nothing */
    CHECK(d[0] == 2 && d[1] == 4);
    /* unknown or unavailable settings are refused and change nothing */
    const int before = nb__gemm_path();
    CHECK(nb__gemm_set_path(NB__GEMM_NPATHS, NB__GEMM_CHOOSE) == -1);
    CHECK(nb__gemm_set_path(NB__GEMM_GENERIC, 99) == -1);
    CHECK(nb__gemm_path() == before);
    CHECK(strcmp(nb__gemm_path_name(NB__GEMM_AVX2), "avx2") == 0);
}

#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
/* Threads multiplying at once each use their own packing scratch (freed when
 * they exit: a sanitizer build would report a leak). */
static int gemm_thread(void *arg)
{
    nb_rng r;
    nb_rng_seed(&r, (uint64_t)(size_t)arg);
    int fails = 0;
    for (int it = 0; it < 3; it++) {
        const size_t n = 60 + (size_t)it * 37 + (size_t)arg;
        fails += !(gemm_diff(1, it & 1, 0, n, n + 5, n + 300, 1, 0, &r) < gemm_tol(1, n + 300));
        fails += !(gemm_diff(0, 0, 1, n, n + 3, n + 1, 1, 1, &r) < gemm_tol(0, n + 1));
    }
    return fails;
}

TEST(matmul, gemm_threads_have_their_own_scratch)
{
    CHECK(nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_PACKED) == 0);
    thrd_t th[3];
    int made[3];
    for (size_t i = 0; i < 3; i++) made[i] = thrd_create(&th[i], gemm_thread, (void *)(i + 1)) == thrd_success;
    for (size_t i = 0; i < 3; i++) {
        int res = -1;
        if (made[i]) thrd_join(th[i], &res);
        CHECK_MSG(made[i] && res == 0, "thread %zu: %d failures", i, res);
    }
    CHECK(nb__gemm_set_path(NB__GEMM_AUTO, NB__GEMM_CHOOSE) == 0);
}
#endif

/* --------------------------------------------------------- forward values */
static const double A23[6] = {1, 2, 3, 4, 5, 6}, AT[6] = {1, 4, 2, 5, 3, 6};       /* A [2, 3], A^T */
static const double B32[6] = {7, 8, 9, 10, 11, 12}, BT[6] = {7, 9, 11, 8, 10, 12}; /* B [3, 2], B^T */
static const double AB[4] = {58, 64, 139, 154};
static const double G22[4] = {1, 2, 3, 4};                                               /* upstream */
static const double DA[6] = {23, 29, 35, 53, 67, 81}, DAT[6] = {23, 53, 29, 67, 35, 81}; /* G B^T */
static const double DB[6] = {13, 18, 17, 24, 21, 30}, DBT[6] = {13, 17, 21, 18, 24, 30}; /* A^T G */

TEST(matmul, forward_and_backward_by_hand_for_all_flags)
{
    for (int k = 0; k < 2; k++)
        for (int t = 0; t < 4; t++) {
            const int ta = t & 1, tb = t >> 1;
            nb_ctx *c = nb_ctx_new(NULL);
            nb_tensor *a = t_leaf(DTS[k], 2, ta ? (size_t[]){3, 2} : (size_t[]){2, 3}, ta ? AT : A23);
            nb_tensor *b = t_leaf(DTS[k], 2, tb ? (size_t[]){2, 3} : (size_t[]){3, 2}, tb ? BT : B32);
            nb_tensor *y = nb_matmul(c, a, b, ta, tb);
            CHECK_SHAPE(y, 2, 2);
            CHECK_VALS(y, AB, 0);
            CHECK_OK(nb_backward(c, y, t_vals(c, DTS[k], 2, (size_t[]){2, 2}, G22)) == 0);
            CHECK_MSG(t_vals_near(a->grad, ta ? DAT : DA, 6, 0), "dA, ta=%d tb=%d", ta, tb);
            CHECK_MSG(t_vals_near(b->grad, tb ? DBT : DB, 6, 0), "dB, ta=%d tb=%d", ta, tb);
            nb_tensor_free(a);
            nb_tensor_free(b);
            nb_ctx_free(c);
        }
}

TEST(matmul, batched_and_reused_operands)
{
    double a2[12], b2[12], g2[8], da2[12], db2[12];
    for (int i = 0; i < 12; i++) a2[i] = A23[i % 6], b2[i] = B32[i % 6], da2[i] = DA[i % 6], db2[i] = DB[i % 6];
    for (int i = 0; i < 8; i++) g2[i] = G22[i % 4];
    double two_da[6], two_db[6];
    for (int i = 0; i < 6; i++) two_da[i] = 2 * DA[i], two_db[i] = 2 * DB[i];
    double ab2[8];
    for (int i = 0; i < 8; i++) ab2[i] = AB[i % 4];
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *ab = t_leaf(DTS[k], 3, (size_t[]){2, 2, 3}, a2), *bb = t_leaf(DTS[k], 3, (size_t[]){2, 3, 2}, b2);
        nb_tensor *a = t_leaf(DTS[k], 2, (size_t[]){2, 3}, A23), *b = t_leaf(DTS[k], 2, (size_t[]){3, 2}, B32);
        nb_tensor *g = t_vals(c, DTS[k], 3, (size_t[]){2, 2, 2}, g2);
        /* both batched */
        nb_tensor *y = nb_matmul(c, ab, bb, 0, 0);
        CHECK_SHAPE(y, 2, 2, 2);
        CHECK_VALS(y, ab2, 0);
        CHECK_OK(nb_backward(c, y, g) == 0);
        CHECK_VALS(ab->grad, da2, 0);
        CHECK_VALS(bb->grad, db2, 0);
        /* b 2-D, reused: its gradient sums over the batch */
        nb_zero_grad(ab);
        y = nb_matmul(c, ab, b, 0, 0);
        CHECK_SHAPE(y, 2, 2, 2);
        CHECK_VALS(y, ab2, 0);
        CHECK_OK(nb_backward(c, y, g) == 0);
        CHECK_VALS(ab->grad, da2, 0);
        CHECK_VALS(b->grad, two_db, 0);
        /* a 2-D, reused */
        nb_zero_grad(bb);
        y = nb_matmul(c, a, bb, 0, 0);
        CHECK_SHAPE(y, 2, 2, 2);
        CHECK_VALS(y, ab2, 0);
        CHECK_OK(nb_backward(c, y, g) == 0);
        CHECK_VALS(a->grad, two_da, 0);
        CHECK_VALS(bb->grad, db2, 0);
        nb_tensor_free(ab), nb_tensor_free(bb), nb_tensor_free(a), nb_tensor_free(b);
        nb_ctx_free(c);
    }
}

TEST(matmul, zero_sized_dims)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_leaf(NB_F32, 2, (size_t[]){2, 0}, NULL), *b = t_leaf(NB_F32, 2, (size_t[]){0, 3}, NULL);
    nb_tensor *y = nb_matmul(c, a, b, 0, 0); /* k = 0: zeros */
    CHECK_SHAPE(y, 2, 3);
    CHECK_VALS(y, ((double[]){0, 0, 0, 0, 0, 0}), 0);
    CHECK_OK(nb_backward(c, y, nb_ones(c, NB_F32, 2, (size_t[]){2, 3})) == 0);
    CHECK(a->grad && a->grad->numel == 0);
    CHECK_SHAPE(nb_matmul(c, b, nb_zeros(c, NB_F32, 2, (size_t[]){3, 4}), 0, 0), 0, 4);
    nb_tensor *e3 = nb_zeros(c, NB_F32, 3, (size_t[]){0, 2, 3});
    CHECK_SHAPE(nb_matmul(c, e3, nb_zeros(c, NB_F32, 2, (size_t[]){3, 4}), 0, 0), 0, 2, 4);
    nb_tensor_free(a), nb_tensor_free(b);
    nb_ctx_free(c);
}

TEST(matmul, errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F64, 2, (size_t[]){2, 3}, NULL);
    nb_tensor *b = t_vals(c, NB_F64, 2, (size_t[]){3, 4}, NULL);
    CHECK_ERR(nb_matmul(c, a, t_vals(c, NB_F64, 1, (size_t[]){3}, NULL), 0, 0), "matmul", "at least 2 dims");
    CHECK_ERR(nb_matmul(c, a, b, 1, 0), "matmul", "a [2, 3] (transposed) has k = 2, b [3, 4] has k = 3");
    CHECK_ERR(nb_matmul(c, a, b, 0, 1), "matmul", "b [3, 4] (transposed) has k = 4");
    CHECK_ERR(nb_matmul(c, a, t_vals(c, NB_F32, 2, (size_t[]){3, 4}, NULL), 0, 0), "matmul", "dtypes differ");
    CHECK_ERR(nb_matmul(c, t_vals(c, NB_I32, 2, (size_t[]){2, 3}, NULL), b, 0, 0), "matmul", "int32");
    nb_tensor *a3 = t_vals(c, NB_F64, 3, (size_t[]){2, 2, 3}, NULL);
    CHECK_ERR(nb_matmul(c, a3, t_vals(c, NB_F64, 3, (size_t[]){3, 3, 4}, NULL), 0, 0), "matmul", "batch dims");
    nb_tensor *a4 = t_vals(c, NB_F64, 4, (size_t[]){1, 2, 2, 3}, NULL);
    CHECK_ERR(nb_matmul(c, a4, t_vals(c, NB_F64, 3, (size_t[]){2, 3, 4}, NULL), 0, 0), "matmul", "[1, 2, 2, 3]");
    nb_matmul(c, a, b, 1, 0);
    CHECK(nb_matmul(c, NULL, b, 0, 0) == NULL && nb_matmul(c, a, NULL, 0, 0) == NULL);
    CHECK(strstr(nb_errmsg(), "(transposed)") != NULL);
    nb_ctx_free(c);
}

/* -------------------------------------------------- finite differences */
typedef struct {
    nb_tensor *other; /* the operand not under test */
    int x_is_b, ta, tb;
} mm_case;

static nb_tensor *mm_fn(nb_ctx *c, nb_tensor *x, void *user)
{
    const mm_case *m = user;
    return m->x_is_b ? nb_matmul(c, m->other, x, m->ta, m->tb) : nb_matmul(c, x, m->other, m->ta, m->tb);
}

TEST(matmul, finite_difference_f64_all_flags_and_batches)
{
    nb_rng r;
    nb_rng_seed(&r, 3);
    double w[64];
    for (int i = 0; i < 64; i++) w[i] = nb_rng_normal(&r);
    /* m = 3, k = 4, n = 5; batch 2 for the batched operand */
    for (int t = 0; t < 4; t++)
        for (int form = 0; form < 3; form++) { /* 0: both 2-D, 1: a batched, 2: b batched */
            const int ta = t & 1, tb = t >> 1;
            size_t as[3] = {2, ta ? 4 : 3, ta ? 3 : 4}, bs[3] = {2, tb ? 5 : 4, tb ? 4 : 5};
            nb_tensor *a = form == 1 ? t_leaf(NB_F64, 3, as, NULL) : t_leaf(NB_F64, 2, as + 1, NULL);
            nb_tensor *b = form == 2 ? t_leaf(NB_F64, 3, bs, NULL) : t_leaf(NB_F64, 2, bs + 1, NULL);
            nb_fill_normal(a, 0, 1, &r);
            nb_fill_normal(b, 0, 1, &r);
            mm_case ca = {b, 0, ta, tb}, cb = {a, 1, ta, tb};
            double ea = t_fd_maxerr(mm_fn, a, w, &ca), eb = t_fd_maxerr(mm_fn, b, w, &cb);
            CHECK_MSG(ea < 1e-7 && eb < 1e-7, "ta=%d tb=%d form=%d: errors %g %g", ta, tb, form, ea, eb);
            nb_tensor_free(a), nb_tensor_free(b);
        }
}
