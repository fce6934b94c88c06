/* Softmax and log-softmax: values, stability, axes, backward, errors. */
#include "t.h"
#include "t_fd.h"

#include <string.h>

/* x = [[1, 2, 3], [-1, 0, 4]]; reference values from the closed forms
 * softmax_j = e^(x_j - m) / sum_k e^(x_k - m), log_softmax_j = x_j - m - log(sum). */
static const double X23[6] = {1, 2, 3, -1, 0, 4};
static const double SM_LAST[6] = {0.090030573170380462,  0.24472847105479764, 0.66524095577482178,
                                  0.0065732631853090834, 0.0178679818703045,  0.97555875494438649};
static const double LSM_LAST[6] = {-2.4076059644443806, -1.4076059644443804, -0.40760596444438041,
                                   -5.0247448901388223, -4.0247448901388223, -0.024744890138822591};
/* softmax along axis 0: the columns (1, -1), (2, 0), (3, 4). */
static const double SM_FIRST[6] = {0.88079707797788231, 0.88079707797788231, 0.2689414213699951,
                                   0.11920292202211755, 0.11920292202211755, 0.7310585786300049};

static nb_tensor *x23(nb_ctx *c, nb_dtype dt)
{
    nb_tensor *x = nb_empty(c, dt, 2, (size_t[]){2, 3});
    for (size_t i = 0; i < 6; i++) nb_set(x, i, X23[i]);
    return x;
}

TEST(softmax, forward_values_f64_and_f32)
{
    nb_ctx *c = nb_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-6 : 1e-15;
        nb_tensor *x = x23(c, dt);
        nb_tensor *s = nb_softmax(c, x, -1), *l = nb_log_softmax(c, x, 1), *s0 = nb_softmax(c, x, 0);
        CHECK_OK(s && l && s0);
        if (!s || !l || !s0) break;
        CHECK(s->dtype == dt && nb_same_shape(s, x));
        for (size_t i = 0; i < 6; i++) {
            CHECK_NEAR(nb_get(s, i), SM_LAST[i], tol);
            CHECK_NEAR(nb_get(l, i), LSM_LAST[i], tol);
            CHECK_NEAR(nb_get(s0, i), SM_FIRST[i], tol);
        }
        CHECK(!nb_requires_grad(s)); /* no input required grad: no node */
    }
    nb_ctx_free(c);
}

TEST(softmax, stable_for_large_and_small_inputs)
{
    nb_ctx *c = nb_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        /* Shifting a row changes nothing; e^1000 would overflow without the max. */
        double big[3] = {1001, 1002, 1003}, neg[3] = {-1001, -1000, -999};
        nb_tensor *a = nb_empty(c, dt, 1, (size_t[]){3}), *b = nb_empty(c, dt, 1, (size_t[]){3});
        for (size_t i = 0; i < 3; i++) {
            nb_set(a, i, big[i]);
            nb_set(b, i, neg[i]);
        }
        nb_tensor *sa = nb_softmax(c, a, 0), *sb = nb_softmax(c, b, 0), *la = nb_log_softmax(c, a, 0);
        CHECK_OK(sa && sb && la);
        if (!sa || !sb || !la) break;
        for (size_t i = 0; i < 3; i++) {
            CHECK_NEAR(nb_get(sa, i), SM_LAST[i], 1e-6);
            CHECK_NEAR(nb_get(sb, i), SM_LAST[i], 1e-6);
            CHECK_NEAR(nb_get(la, i), LSM_LAST[i], 1e-5);
        }
        /* log_softmax keeps a tiny probability as a finite log: [0, -1000] -> [-e^-1000, -1000]. */
        nb_tensor *d = nb_empty(c, dt, 1, (size_t[]){2});
        nb_set(d, 0, 0);
        nb_set(d, 1, -1000);
        nb_tensor *ld = nb_log_softmax(c, d, -1);
        CHECK_OK(ld);
        if (ld) {
            CHECK_NEAR(nb_get(ld, 0), 0.0, 1e-12);
            CHECK_NEAR(nb_get(ld, 1), -1000.0, 1e-12);
        }
    }
    nb_ctx_free(c);
}

TEST(softmax, middle_axis_of_3d_matches_rows)
{
    /* [2, 3, 2] along axis 1: each (o, k) column of 3 is its own softmax. */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, 3);
    nb_tensor *x = nb_normal(c, NB_F64, 3, (size_t[]){2, 3, 2}, 0, 2, &r);
    nb_tensor *s = nb_softmax(c, x, 1), *s2 = nb_softmax(c, x, -2), *l = nb_log_softmax(c, x, 1);
    CHECK_OK(s && s2 && l);
    if (!s || !s2 || !l) goto out;
    for (size_t o = 0; o < 2; o++)
        for (size_t k = 0; k < 2; k++) {
            double m = -INFINITY, sum = 0;
            for (size_t j = 0; j < 3; j++) m = fmax(m, nb_get(x, (o * 3 + j) * 2 + k));
            for (size_t j = 0; j < 3; j++) sum += exp(nb_get(x, (o * 3 + j) * 2 + k) - m);
            for (size_t j = 0; j < 3; j++) {
                size_t i = (o * 3 + j) * 2 + k;
                CHECK_NEAR(nb_get(s, i), exp(nb_get(x, i) - m) / sum, 1e-14);
                CHECK_NEAR(nb_get(s2, i), nb_get(s, i), 0);
                CHECK_NEAR(nb_get(l, i), nb_get(x, i) - m - log(sum), 1e-14);
            }
        }
out:
    nb_ctx_free(c);
}

TEST(softmax, zero_dim_and_empty)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *s = nb_scalar(c, NB_F64, 3.5);
    nb_tensor *a = nb_softmax(c, s, 0), *b = nb_log_softmax(c, s, -1);
    CHECK_OK(a && b);
    if (a && b) {
        CHECK(a->ndim == 0 && nb_item(a) == 1.0);
        CHECK(nb_item(b) == 0.0);
    }
    nb_tensor *e = nb_zeros(c, NB_F32, 2, (size_t[]){0, 4});
    CHECK_OK(nb_softmax(c, e, 1));
    CHECK_OK(nb_log_softmax(c, e, 0));
    nb_ctx_free(c);
}

TEST(softmax, backward_hand_computed)
{
    /* x = [0, ln 2]: y = [1/3, 2/3].  Upstream g = [1, 0]:
     *   softmax:     gx = y * (g - y.g) = [1/3 * 2/3, 2/3 * -1/3] = [2/9, -2/9]
     *   log_softmax: gx = g - y * sum(g) = [2/3, -2/3] */
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-6 : 1e-15;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = nb_tensor_new(dt, 1, (size_t[]){2});
        nb_set(x, 1, log(2.0));
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor *g = nb_zeros(c, dt, 1, (size_t[]){2});
        nb_set(g, 0, 1);
        nb_tensor *y = nb_softmax(c, x, 0);
        CHECK_OK(y && nb_requires_grad(y));
        CHECK_OK(nb_backward(c, y, g) == 0);
        CHECK_NEAR(nb_get(x->grad, 0), 2.0 / 9, tol);
        CHECK_NEAR(nb_get(x->grad, 1), -2.0 / 9, tol);
        nb_zero_grad(x);
        y = nb_log_softmax(c, x, 0);
        CHECK_OK(nb_backward(c, y, g) == 0);
        CHECK_NEAR(nb_get(x->grad, 0), 2.0 / 3, tol);
        CHECK_NEAR(nb_get(x->grad, 1), -2.0 / 3, tol);
        /* Backward accumulates: both ops on one input sum their gradients. */
        nb_zero_grad(x);
        nb_tensor *z = nb_add(c, nb_softmax(c, x, 0), nb_log_softmax(c, x, 0));
        CHECK_OK(nb_backward(c, z, g) == 0);
        CHECK_NEAR(nb_get(x->grad, 0), 2.0 / 9 + 2.0 / 3, tol);
        CHECK_NEAR(nb_get(x->grad, 1), -2.0 / 9 - 2.0 / 3, tol);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

static nb_tensor *fd_softmax(nb_ctx *c, nb_tensor *x, void *u)
{
    const int *axis_log = u;
    return axis_log[1] ? nb_log_softmax(c, x, axis_log[0]) : nb_softmax(c, x, axis_log[0]);
}

TEST(softmax, finite_differences_every_axis_f64)
{
    nb_rng r;
    nb_rng_seed(&r, 11);
    nb_tensor *x = nb_tensor_new(NB_F64, 3, (size_t[]){2, 3, 4});
    nb_fill_normal(x, 0, 1.5, &r);
    nb_tensor_set_requires_grad(x, 1);
    double w[24];
    for (int i = 0; i < 24; i++) w[i] = nb_rng_normal(&r);
    for (int axis = -1; axis < 3; axis++)
        for (int lg = 0; lg < 2; lg++) {
            int u[2] = {axis, lg};
            double e = t_fd_maxerr(fd_softmax, x, w, u);
            CHECK_MSG(e < 1e-7, "axis %d log %d: max error %g (%s)", axis, lg, e, nb_errmsg());
        }
    nb_tensor_free(x);
}

TEST(softmax, f32_backward_matches_f64)
{
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_tensor *x64 = nb_tensor_new(NB_F64, 2, (size_t[]){3, 5}), *x32 = nb_tensor_new(NB_F32, 2, (size_t[]){3, 5});
    nb_fill_normal(x64, 0, 1, &r);
    nb_copy_into(x32, x64);
    nb_tensor_set_requires_grad(x64, 1);
    nb_tensor_set_requires_grad(x32, 1);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *g64 = nb_normal(c, NB_F64, 2, (size_t[]){3, 5}, 0, 1, &r);
    nb_tensor *g32 = nb_empty(c, NB_F32, 2, (size_t[]){3, 5});
    nb_copy_into(g32, g64);
    for (int lg = 0; lg < 2; lg++) {
        nb_zero_grad(x64);
        nb_zero_grad(x32);
        CHECK_OK(nb_backward(c, lg ? nb_log_softmax(c, x64, 0) : nb_softmax(c, x64, 0), g64) == 0);
        CHECK_OK(nb_backward(c, lg ? nb_log_softmax(c, x32, 0) : nb_softmax(c, x32, 0), g32) == 0);
        for (size_t i = 0; i < 15; i++) CHECK_NEAR(nb_get(x32->grad, i), nb_get(x64->grad, i), 1e-5);
    }
    nb_ctx_free(c);
    nb_tensor_free(x64);
    nb_tensor_free(x32);
}

TEST(softmax, errors_name_op_and_shape)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F32, 2, (size_t[]){2, 3});
    CHECK(nb_softmax(c, x, 2) == NULL);
    CHECK(strstr(nb_errmsg(), "softmax") && strstr(nb_errmsg(), "axis 2") && strstr(nb_errmsg(), "[2, 3]"));
    CHECK(nb_log_softmax(c, x, -3) == NULL);
    CHECK(strstr(nb_errmsg(), "log_softmax") && strstr(nb_errmsg(), "[2, 3]"));
    CHECK(nb_softmax(c, nb_scalar(c, NB_F64, 1), 1) == NULL);
    nb_tensor *xi = nb_zeros(c, NB_I32, 1, (size_t[]){4});
    CHECK(nb_softmax(c, xi, 0) == NULL);
    CHECK(strstr(nb_errmsg(), "softmax") && strstr(nb_errmsg(), "int32"));
    /* A NULL input (an earlier failure) keeps the earlier message. */
    nb_clear_error();
    CHECK(nb_log(c, xi) == NULL);
    char first[256];
    snprintf(first, sizeof first, "%s", nb_errmsg());
    CHECK(nb_softmax(c, NULL, 0) == NULL && nb_log_softmax(c, NULL, 0) == NULL);
    CHECK(strcmp(nb_errmsg(), first) == 0);
    nb_ctx_free(c);
}
