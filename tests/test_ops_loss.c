/* Losses: cross-entropy (with label smoothing), NLL, MSE and BCE-with-logits:
 * values, every reduction, backward, float32/float64, and every error path. */
#include "t.h"
#include "t_fd.h"

#include <string.h>

static nb_tensor *from(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, const double *v)
{
    nb_tensor *t = nb_empty(c, dt, ndim, shape);
    for (size_t i = 0; t && i < t->numel; i++) nb_set(t, i, v[i]);
    return t;
}

static nb_tensor *labels(nb_ctx *c, size_t n, const int32_t *v)
{
    return nb_from_data(c, NB_I32, 1, &n, (void *)v, NB_COPY);
}

static int msg_has(const char *a, const char *b) { return strstr(nb_errmsg(), a) && (!b || strstr(nb_errmsg(), b)); }

/* logits [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels [0, 2].  Reference values from
 * loss_i = -sum_j t_ij log_softmax(x_i)_j with t = (1 - ls) onehot + ls / 3, and
 * the mean gradient (softmax(x) - t) / N. */
static const double CE_X[6] = {2, 1, 0.1, 0.5, 2.5, 0.3};
static const int32_t CE_Y[2] = {0, 2};
static const double CE_PER[2][2] = {{0.41703001627783354, 2.4200495230205381}, /* ls = 0 */
                                    {0.51369668294450022, 2.340049523020538}}; /* ls = 0.1 */
static const double CE_GMEAN[2][6] = {{-0.17049943055701605, 0.12121648535235696, 0.04928294520465909,
                                       0.054301865153506192, 0.40123952789582462, -0.45554139304933089},
                                      {-0.13716609722368273, 0.1045498186856903, 0.032616278537992427,
                                       0.037635198486839522, 0.38457286122915796, -0.42220805971599756}};

TEST(loss, cross_entropy_values_and_grads)
{
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < 2; s++) {
            nb_dtype dt = k ? NB_F32 : NB_F64;
            double tol = k ? 2e-6 : 1e-14, ls = s ? 0.1 : 0.0;
            nb_ctx *c = nb_ctx_new(NULL);
            nb_tensor *x = nb_tensor_new(dt, 2, (size_t[]){2, 3});
            for (size_t i = 0; i < 6; i++) nb_set(x, i, CE_X[i]);
            nb_tensor_set_requires_grad(x, 1);
            nb_tensor *y = labels(c, 2, CE_Y);
            nb_tensor *mean = nb_cross_entropy(c, x, y, NB_MEAN, ls), *sum = nb_cross_entropy(c, x, y, NB_SUM, ls);
            nb_tensor *none = nb_cross_entropy(c, x, y, NB_NONE, ls);
            CHECK_OK(mean && sum && none);
            if (!mean || !sum || !none) goto next;
            CHECK(mean->ndim == 0 && sum->ndim == 0 && none->ndim == 1 && none->shape[0] == 2);
            CHECK(mean->dtype == dt && none->dtype == dt);
            CHECK_NEAR(nb_item(mean), (CE_PER[s][0] + CE_PER[s][1]) / 2, tol);
            CHECK_NEAR(nb_item(sum), CE_PER[s][0] + CE_PER[s][1], tol);
            CHECK_NEAR(nb_get(none, 0), CE_PER[s][0], tol);
            CHECK_NEAR(nb_get(none, 1), CE_PER[s][1], tol);
            /* mean: (p - t) / N */
            CHECK_OK(nb_backward(c, mean, NULL) == 0);
            for (size_t i = 0; i < 6; i++) CHECK_NEAR(nb_get(x->grad, i), CE_GMEAN[s][i], tol);
            /* sum: p - t, accumulated on top: 3x the mean gradient */
            CHECK_OK(nb_backward(c, sum, NULL) == 0);
            for (size_t i = 0; i < 6; i++) CHECK_NEAR(nb_get(x->grad, i), 3 * CE_GMEAN[s][i], tol);
            /* none with upstream [2, -1]: row i scaled by g_i */
            nb_zero_grad(x);
            CHECK_OK(nb_backward(c, none, from(c, dt, 1, (size_t[]){2}, (double[]){2, -1})) == 0);
            for (size_t i = 0; i < 6; i++)
                CHECK_NEAR(nb_get(x->grad, i), (i < 3 ? 2.0 : -1.0) * 2 * CE_GMEAN[s][i], tol);
        next:
            nb_tensor_free(x);
            nb_ctx_free(c);
        }
}

TEST(loss, cross_entropy_equals_nll_of_log_softmax)
{
    nb_rng r;
    nb_rng_seed(&r, 21);
    nb_tensor *a = nb_tensor_new(NB_F64, 2, (size_t[]){5, 4}), *b = nb_tensor_new(NB_F64, 2, (size_t[]){5, 4});
    nb_fill_normal(a, 0, 3, &r);
    nb_copy_into(b, a);
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *y = labels(c, 5, (int32_t[]){3, 0, 1, 3, 2});
    nb_tensor *l1 = nb_cross_entropy(c, a, y, NB_MEAN, 0), *l2 = nb_nll(c, nb_log_softmax(c, b, 1), y, NB_MEAN);
    CHECK_OK(l1 && l2);
    CHECK_NEAR(nb_item(l1), nb_item(l2), 1e-14);
    CHECK_OK(nb_backward(c, l1, NULL) == 0 && nb_backward(c, l2, NULL) == 0);
    for (size_t i = 0; i < 20; i++) CHECK_NEAR(nb_get(a->grad, i), nb_get(b->grad, i), 1e-14);
    nb_ctx_free(c);
    nb_tensor_free(a);
    nb_tensor_free(b);
}

TEST(loss, cross_entropy_stable_and_full_smoothing)
{
    nb_ctx *c = nb_ctx_new(NULL);
    /* Shifting logits by 1000 changes nothing (float32 too). */
    double big[6];
    for (int i = 0; i < 6; i++) big[i] = CE_X[i] + 1000;
    nb_tensor *y = labels(c, 2, CE_Y);
    nb_tensor *l = nb_cross_entropy(c, from(c, NB_F32, 2, (size_t[]){2, 3}, big), y, NB_SUM, 0);
    CHECK_OK(l);
    if (l) CHECK_NEAR(nb_item(l), CE_PER[0][0] + CE_PER[0][1], 1e-4);
    /* ls = 1 (accepted, as in PyTorch): the label no longer matters. */
    nb_tensor *x = from(c, NB_F64, 2, (size_t[]){2, 3}, CE_X);
    nb_tensor *l0 = nb_cross_entropy(c, x, labels(c, 2, (int32_t[]){0, 0}), NB_NONE, 1.0);
    nb_tensor *l1 = nb_cross_entropy(c, x, labels(c, 2, (int32_t[]){2, 1}), NB_NONE, 1.0);
    CHECK_OK(l0 && l1);
    if (l0 && l1)
        for (size_t i = 0; i < 2; i++) CHECK_NEAR(nb_get(l0, i), nb_get(l1, i), 1e-15);
    nb_ctx_free(c);
}

static nb_tensor *fd_ce(nb_ctx *c, nb_tensor *x, void *u)
{
    const int *red = u;
    int32_t lab[4] = {1, 0, 2, 2};
    size_t n = 4;
    return nb_cross_entropy(c, x, nb_from_data(c, NB_I32, 1, &n, lab, NB_COPY), (nb_reduction)*red, 0.2);
}

static nb_tensor *fd_nll(nb_ctx *c, nb_tensor *x, void *u)
{
    int32_t lab[4] = {1, 0, 2, 2};
    size_t n = 4;
    return nb_nll(c, x, nb_from_data(c, NB_I32, 1, &n, lab, NB_COPY), *(const nb_reduction *)u);
}

TEST(loss, cross_entropy_and_nll_finite_differences_f64)
{
    nb_rng r;
    nb_rng_seed(&r, 8);
    nb_tensor *x = nb_tensor_new(NB_F64, 2, (size_t[]){4, 3});
    nb_fill_normal(x, 0, 2, &r);
    nb_tensor_set_requires_grad(x, 1);
    double w[4] = {0.3, -1.2, 0.7, 2.0};
    for (int red = 0; red < 3; red++) {
        double e = t_fd_maxerr(fd_ce, x, red == NB_NONE ? w : NULL, &red);
        CHECK_MSG(e < 1e-7, "cross_entropy reduction %d: max error %g (%s)", red, e, nb_errmsg());
        nb_reduction rr = (nb_reduction)red;
        e = t_fd_maxerr(fd_nll, x, red == NB_NONE ? w : NULL, &rr);
        CHECK_MSG(e < 1e-7, "nll reduction %d: max error %g (%s)", red, e, nb_errmsg());
    }
    nb_tensor_free(x);
}

TEST(loss, nll_values_and_grads)
{
    /* logp [[-1, -2, -0.5], [-0.1, -3, -4]], labels [2, 0]: per-sample [0.5, 0.1];
     * mean gradient: -1/N at each (i, label_i), 0 elsewhere. */
    const double lp[6] = {-1, -2, -0.5, -0.1, -3, -4};
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-7 : 1e-15;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = nb_tensor_new(dt, 2, (size_t[]){2, 3});
        for (size_t i = 0; i < 6; i++) nb_set(x, i, lp[i]);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor *y = labels(c, 2, (int32_t[]){2, 0});
        nb_tensor *mean = nb_nll(c, x, y, NB_MEAN), *sum = nb_nll(c, x, y, NB_SUM), *none = nb_nll(c, x, y, NB_NONE);
        CHECK_OK(mean && sum && none);
        if (mean && sum && none) {
            CHECK_NEAR(nb_item(mean), 0.3, tol);
            CHECK_NEAR(nb_item(sum), 0.6, tol);
            CHECK(none->ndim == 1 && none->shape[0] == 2);
            CHECK_NEAR(nb_get(none, 0), 0.5, tol);
            CHECK_NEAR(nb_get(none, 1), 0.1, tol);
            CHECK_OK(nb_backward(c, mean, NULL) == 0);
            const double want[6] = {0, 0, -0.5, -0.5, 0, 0};
            for (size_t i = 0; i < 6; i++) CHECK_NEAR(nb_get(x->grad, i), want[i], 0);
            nb_zero_grad(x);
            CHECK_OK(nb_backward(c, none, from(c, dt, 1, (size_t[]){2}, (double[]){3, 4})) == 0);
            CHECK_NEAR(nb_get(x->grad, 2), -3.0, 0);
            CHECK_NEAR(nb_get(x->grad, 3), -4.0, 0);
        }
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(loss, mse_values_and_grads_to_both)
{
    /* pred [1, 2, 3, 4], target [1.5, 2, 1, 6]: d = [-0.5, 0, 2, -2], d^2 sum 8.25;
     * mean gradient 2d/4 to pred and -2d/4 to target. */
    const double p[4] = {1, 2, 3, 4}, t[4] = {1.5, 2, 1, 6}, gp[4] = {-0.25, 0, 1, -1};
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *a = nb_tensor_new(dt, 2, (size_t[]){2, 2}), *b = nb_tensor_new(dt, 2, (size_t[]){2, 2});
        for (size_t i = 0; i < 4; i++) {
            nb_set(a, i, p[i]);
            nb_set(b, i, t[i]);
        }
        nb_tensor_set_requires_grad(a, 1);
        nb_tensor_set_requires_grad(b, 1);
        nb_tensor *mean = nb_mse(c, a, b, NB_MEAN), *sum = nb_mse(c, a, b, NB_SUM), *none = nb_mse(c, a, b, NB_NONE);
        CHECK_OK(mean && sum && none);
        if (mean && sum && none) {
            CHECK_NEAR(nb_item(mean), 2.0625, 0);
            CHECK_NEAR(nb_item(sum), 8.25, 0);
            CHECK(nb_same_shape(none, a));
            CHECK_NEAR(nb_get(none, 2), 4.0, 0);
            CHECK_OK(nb_backward(c, mean, NULL) == 0);
            for (size_t i = 0; i < 4; i++) {
                CHECK_NEAR(nb_get(a->grad, i), gp[i], 0);
                CHECK_NEAR(nb_get(b->grad, i), -gp[i], 0);
            }
            /* Only pred requires grad: target gets nothing. */
            nb_tensor_set_requires_grad(b, 0);
            nb_zero_grad(a);
            nb_zero_grad(b);
            nb_tensor *g = from(c, dt, 2, (size_t[]){2, 2}, (double[]){1, 1, 1, 0.5});
            CHECK_OK(nb_backward(c, nb_mse(c, a, b, NB_NONE), g) == 0);
            CHECK_NEAR(nb_get(a->grad, 3), -2.0, 0);
            CHECK_NEAR(nb_get(b->grad, 3), 0.0, 0);
        }
        nb_tensor_free(a);
        nb_tensor_free(b);
        nb_ctx_free(c);
    }
}

/* x [-2, 0, 3, 50, -50], t [0, 0.5, 1, 0, 1]: max(x,0) - x t + log1p(e^-|x|). */
static const double BCE_X[5] = {-2, 0, 3, 50, -50}, BCE_T[5] = {0, 0.5, 1, 0, 1};
static const double BCE_L[5] = {0.12692801104297249, 0.69314718055994529, 0.048587351573742062, 50, 50};
static const double BCE_GX_MEAN[5] = {0.02384058440442351, 0, -0.0094851746355133267, 0.2, -0.2};

TEST(loss, bce_with_logits_values_and_grads)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-6 : 1e-15;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = nb_tensor_new(dt, 1, (size_t[]){5}), *t = nb_tensor_new(dt, 1, (size_t[]){5});
        for (size_t i = 0; i < 5; i++) {
            nb_set(x, i, BCE_X[i]);
            nb_set(t, i, BCE_T[i]);
        }
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor_set_requires_grad(t, 1);
        nb_tensor *none = nb_bce_with_logits(c, x, t, NB_NONE), *mean = nb_bce_with_logits(c, x, t, NB_MEAN);
        nb_tensor *sum = nb_bce_with_logits(c, x, t, NB_SUM);
        CHECK_OK(none && mean && sum);
        if (none && mean && sum) {
            double s = 0;
            for (size_t i = 0; i < 5; i++) {
                CHECK_NEAR(nb_get(none, i), BCE_L[i], tol);
                s += BCE_L[i];
            }
            CHECK_NEAR(nb_item(sum), s, tol);
            CHECK_NEAR(nb_item(mean), s / 5, tol);
            /* d/dx = (sigmoid(x) - t) / N, d/dt = -x / N */
            CHECK_OK(nb_backward(c, mean, NULL) == 0);
            for (size_t i = 0; i < 5; i++) {
                CHECK_NEAR(nb_get(x->grad, i), BCE_GX_MEAN[i], tol);
                CHECK_NEAR(nb_get(t->grad, i), -BCE_X[i] / 5, tol);
            }
        }
        nb_tensor_free(x);
        nb_tensor_free(t);
        nb_ctx_free(c);
    }
}

static nb_tensor *fd_pair(nb_ctx *c, nb_tensor *x, void *u)
{
    nb_tensor **other = u; /* other[0] = partner tensor, other[1] != NULL: x is the target */
    const int bce = other[2] != NULL;
    nb_tensor *a = other[1] ? other[0] : x, *b = other[1] ? x : other[0];
    return bce ? nb_bce_with_logits(c, a, b, NB_NONE) : nb_mse(c, a, b, NB_NONE);
}

TEST(loss, mse_and_bce_finite_differences_f64)
{
    nb_rng r;
    nb_rng_seed(&r, 4);
    nb_tensor *a = nb_tensor_new(NB_F64, 2, (size_t[]){2, 3}), *b = nb_tensor_new(NB_F64, 2, (size_t[]){2, 3});
    nb_fill_normal(a, 0, 2, &r);
    nb_fill_uniform(b, 0, 1, &r);
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor_set_requires_grad(b, 1);
    double w[6] = {1, -0.5, 2, 0.25, -1.5, 0.8};
    for (int bce = 0; bce < 2; bce++)
        for (int which = 0; which < 2; which++) {
            nb_tensor *u[3] = {which ? a : b, which ? a : NULL, bce ? a : NULL};
            double e = t_fd_maxerr(fd_pair, which ? b : a, w, u);
            CHECK_MSG(e < 1e-7, "%s input %d: max error %g (%s)", bce ? "bce" : "mse", which, e, nb_errmsg());
        }
    nb_tensor_free(a);
    nb_tensor_free(b);
}

TEST(loss, empty_batches)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F64, 2, (size_t[]){0, 3}), *y = nb_zeros(c, NB_I32, 1, (size_t[]){0});
    CHECK(nb_cross_entropy(c, x, y, NB_MEAN, 0) == NULL);
    CHECK(msg_has("cross_entropy", "mean") && msg_has("[0, 3]", NULL));
    CHECK(nb_nll(c, x, y, NB_MEAN) == NULL && msg_has("nll", "[0, 3]"));
    nb_tensor *s = nb_cross_entropy(c, x, y, NB_SUM, 0), *n = nb_nll(c, x, y, NB_NONE);
    CHECK_OK(s && n);
    if (s && n) CHECK(nb_item(s) == 0 && n->ndim == 1 && n->shape[0] == 0);
    nb_tensor *e = nb_zeros(c, NB_F32, 1, (size_t[]){0});
    CHECK(nb_mse(c, e, e, NB_MEAN) == NULL && msg_has("mse", "[0]"));
    CHECK(nb_bce_with_logits(c, e, e, NB_MEAN) == NULL && msg_has("bce_with_logits", "[0]"));
    CHECK_OK(nb_mse(c, e, e, NB_SUM));
    nb_ctx_free(c);
}

TEST(loss, label_errors_name_op_and_shapes)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F32, 2, (size_t[]){4, 3});
    nb_tensor *ok = labels(c, 4, (int32_t[]){0, 1, 2, 0});
    CHECK_OK(nb_cross_entropy(c, x, ok, NB_MEAN, 0));
    CHECK(nb_cross_entropy(c, x, labels(c, 4, (int32_t[]){0, 3, 1, 1}), NB_MEAN, 0) == NULL);
    CHECK(msg_has("cross_entropy", "label 3 at index 1") && msg_has("[4, 3]", NULL));
    CHECK(nb_nll(c, x, labels(c, 4, (int32_t[]){0, 1, 2, -1}), NB_SUM) == NULL);
    CHECK(msg_has("nll", "label -1 at index 3"));
    CHECK(nb_cross_entropy(c, x, labels(c, 5, (int32_t[]){0, 0, 0, 0, 0}), NB_MEAN, 0) == NULL);
    CHECK(msg_has("cross_entropy", "[4, 3]") && msg_has("[5]", NULL));
    CHECK(nb_nll(c, x, labels(c, 3, (int32_t[]){0, 0, 0}), NB_MEAN) == NULL && msg_has("nll", "[3]"));
    nb_tensor *fl = nb_zeros(c, NB_F32, 1, (size_t[]){4});
    CHECK(nb_cross_entropy(c, x, fl, NB_MEAN, 0) == NULL && msg_has("cross_entropy", "int32"));
    CHECK(nb_nll(c, x, fl, NB_MEAN) == NULL && msg_has("nll", "float32"));
    nb_tensor *l2 = nb_zeros(c, NB_I32, 2, (size_t[]){4, 1});
    CHECK(nb_cross_entropy(c, x, l2, NB_MEAN, 0) == NULL && msg_has("[4, 1]", NULL));
    /* logits must be [N, C] and float */
    CHECK(nb_cross_entropy(c, nb_zeros(c, NB_F32, 1, (size_t[]){3}), ok, NB_MEAN, 0) == NULL);
    CHECK(msg_has("cross_entropy", "[N, C]") && msg_has("[3]", NULL));
    CHECK(nb_nll(c, nb_zeros(c, NB_F64, 3, (size_t[]){4, 3, 1}), ok, NB_MEAN) == NULL && msg_has("nll", "[4, 3, 1]"));
    CHECK(nb_cross_entropy(c, nb_zeros(c, NB_I32, 2, (size_t[]){4, 3}), ok, NB_MEAN, 0) == NULL);
    CHECK(msg_has("cross_entropy", "int32"));
    /* label smoothing and reduction */
    CHECK(nb_cross_entropy(c, x, ok, NB_MEAN, -0.1) == NULL && msg_has("cross_entropy", "label_smoothing"));
    CHECK(nb_cross_entropy(c, x, ok, NB_MEAN, 1.5) == NULL && msg_has("label_smoothing", NULL));
    CHECK(nb_cross_entropy(c, x, ok, NB_MEAN, NAN) == NULL && msg_has("label_smoothing", NULL));
    CHECK(nb_cross_entropy(c, x, ok, (nb_reduction)7, 0) == NULL && msg_has("cross_entropy", "reduction 7"));
    CHECK(nb_nll(c, x, ok, (nb_reduction)-1) == NULL && msg_has("nll", "reduction"));
    nb_ctx_free(c);
}

TEST(loss, pair_errors_and_null_inputs)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_zeros(c, NB_F32, 2, (size_t[]){2, 3}), *b = nb_zeros(c, NB_F32, 2, (size_t[]){3, 2});
    nb_tensor *d = nb_zeros(c, NB_F64, 2, (size_t[]){2, 3}), *i = nb_zeros(c, NB_I32, 2, (size_t[]){2, 3});
    CHECK(nb_mse(c, a, b, NB_MEAN) == NULL && msg_has("mse", "[2, 3]") && msg_has("[3, 2]", NULL));
    CHECK(nb_bce_with_logits(c, a, b, NB_SUM) == NULL && msg_has("bce_with_logits", "[3, 2]"));
    CHECK(nb_mse(c, a, d, NB_MEAN) == NULL && msg_has("mse", "float64"));
    CHECK(nb_bce_with_logits(c, i, i, NB_MEAN) == NULL && msg_has("bce_with_logits", "int32"));
    CHECK(nb_mse(c, a, a, (nb_reduction)3) == NULL && msg_has("mse", "reduction 3"));
    /* NULL inputs keep the first message. */
    CHECK(nb_mse(c, a, b, NB_MEAN) == NULL);
    char first[256];
    snprintf(first, sizeof first, "%s", nb_errmsg());
    nb_tensor *y = labels(c, 2, (int32_t[]){0, 1});
    CHECK(nb_cross_entropy(c, NULL, y, NB_MEAN, 0) == NULL && nb_cross_entropy(c, a, NULL, NB_MEAN, 0) == NULL);
    CHECK(nb_nll(c, NULL, y, NB_MEAN) == NULL && nb_nll(c, a, NULL, NB_MEAN) == NULL);
    CHECK(nb_mse(c, NULL, a, NB_MEAN) == NULL && nb_bce_with_logits(c, a, NULL, NB_MEAN) == NULL);
    CHECK(strcmp(nb_errmsg(), first) == 0);
    nb_ctx_free(c);
}

TEST(loss, labels_are_copied_for_backward)
{
    /* Changing the caller's label buffer after the forward must not change the gradient. */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_new(NB_F64, 2, (size_t[]){1, 2});
    nb_tensor_set_requires_grad(x, 1);
    int32_t lab[1] = {1};
    size_t n = 1;
    nb_tensor *y = nb_from_data(c, NB_I32, 1, &n, lab, NB_BORROW);
    nb_tensor *l = nb_nll(c, x, y, NB_SUM);
    lab[0] = 0;
    CHECK_OK(l && nb_backward(c, l, NULL) == 0);
    CHECK_NEAR(nb_get(x->grad, 0), 0.0, 0);
    CHECK_NEAR(nb_get(x->grad, 1), -1.0, 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}
