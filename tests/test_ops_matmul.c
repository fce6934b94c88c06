/* matmul and the gemm kernel: the fast kernel against the naive reference on
 * odd shapes and every transpose combination; forward and backward by hand for
 * all four flag combinations and both batch forms; finite differences in
 * float64; every error. */
#include "kernels/gemm.h"
#include "t_fd.h"
#include "t_ops.h"

#include <stdlib.h>

static const nb_dtype DTS[2] = {NB_F64, NB_F32};

/* ------------------------------------------------------------ gemm kernel */
/* Compare nb_k_gemm with nb_k_gemm_ref on one shape, flags and beta; strides
 * are padded so ld != row length.  Returns the largest relative difference. */
static double gemm_diff(int f32, int ta, int tb, size_t M, size_t N, size_t K, double beta, nb_rng *r)
{
    const size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const size_t lda = ac + 3, ldb = bc + 1, ldc = N + 2;
    size_t na = ar * lda, nb = br * ldb, nc = M * ldc;
    double *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C0 = malloc(nc * sizeof *C0);
    for (size_t i = 0; i < na; i++) A[i] = nb_rng_uniform(r) * 2 - 1;
    for (size_t i = 0; i < nb; i++) B[i] = nb_rng_uniform(r) * 2 - 1;
    for (size_t i = 0; i < nc; i++) C0[i] = beta == 0 ? NAN : nb_rng_uniform(r); /* beta 0 ignores C */
    double worst = 0;
    if (f32) {
        float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c1 = malloc(nc * sizeof *c1),
              *c2 = malloc(nc * sizeof *c2);
        for (size_t i = 0; i < na; i++) a[i] = (float)A[i];
        for (size_t i = 0; i < nb; i++) b[i] = (float)B[i];
        for (size_t i = 0; i < nc; i++) c1[i] = c2[i] = (float)C0[i];
        nb_k_gemm_f32(ta, tb, M, N, K, 1.5f, a, lda, b, ldb, (float)beta, c1, ldc);
        nb_k_gemm_ref_f32(ta, tb, M, N, K, 1.5f, a, lda, b, ldb, (float)beta, c2, ldc);
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double d = fabs((double)c1[i * ldc + j] - c2[i * ldc + j]) / (1 + fabs(c2[i * ldc + j]));
                if (!(d <= worst)) worst = d;
            }
        for (size_t i = 0; i < M; i++) /* the padding is untouched */
            for (size_t j = N; j < ldc; j++)
                if (beta != 0 && c1[i * ldc + j] != (float)C0[i * ldc + j]) worst = INFINITY;
        free(a), free(b), free(c1), free(c2);
    } else {
        double *c1 = malloc(nc * sizeof *c1), *c2 = malloc(nc * sizeof *c2);
        memcpy(c1, C0, nc * sizeof *c1);
        memcpy(c2, C0, nc * sizeof *c2);
        nb_k_gemm_f64(ta, tb, M, N, K, 1.5, A, lda, B, ldb, beta, c1, ldc);
        nb_k_gemm_ref_f64(ta, tb, M, N, K, 1.5, A, lda, B, ldb, beta, c2, ldc);
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double d = fabs(c1[i * ldc + j] - c2[i * ldc + j]) / (1 + fabs(c2[i * ldc + j]));
                if (!(d <= worst)) worst = d;
            }
        free(c1), free(c2);
    }
    free(A), free(B), free(C0);
    return worst;
}

TEST(matmul, gemm_fast_matches_reference_on_odd_shapes)
{
    static const size_t dims[][3] = {{1, 1, 1}, {1, 7, 17}, {7, 1, 33}, {17, 33, 1}, {33, 17, 7},
                                     {7, 7, 7}, {17, 1, 1}, {33, 33, 33}, {3, 5, 0}};
    nb_rng r;
    nb_rng_seed(&r, 5);
    for (int f32 = 0; f32 < 2; f32++)
        for (size_t s = 0; s < sizeof dims / sizeof dims[0]; s++)
            for (int t = 0; t < 4; t++)
                for (int bi = 0; bi < 3; bi++) {
                    const double beta = bi == 0 ? 0 : (bi == 1 ? 1 : -0.5);
                    double d = gemm_diff(f32, t & 1, t >> 1, dims[s][0], dims[s][1], dims[s][2], beta, &r);
                    CHECK_MSG(d < (f32 ? 1e-5 : 1e-13), "gemm %s ta=%d tb=%d M=%zu N=%zu K=%zu beta=%g: diff %g",
                              f32 ? "f32" : "f64", t & 1, t >> 1, dims[s][0], dims[s][1], dims[s][2], beta, d);
                }
}

/* --------------------------------------------------------- forward values */
static const double A23[6] = {1, 2, 3, 4, 5, 6}, AT[6] = {1, 4, 2, 5, 3, 6};       /* A [2, 3], A^T */
static const double B32[6] = {7, 8, 9, 10, 11, 12}, BT[6] = {7, 9, 11, 8, 10, 12}; /* B [3, 2], B^T */
static const double AB[4] = {58, 64, 139, 154};
static const double G22[4] = {1, 2, 3, 4};                                           /* upstream */
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
