/* Reductions: sum, mean, max, min — axes (negative, several, all), keepdim,
 * backward with an explicit upstream gradient, ties and NaN in max/min, empty
 * tensors, both dtypes, every error. */
#include "t_fd.h"
#include "t_ops.h"

static const nb_dtype DTS[2] = {NB_F64, NB_F32};
static const double X23[6] = {1, 5, 3, 4, 2, 6}; /* [[1, 5, 3], [4, 2, 6]] */

TEST(reduce, sum_and_mean_forward)
{
    nb_ctx *c = nb_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        nb_tensor *x = t_vals(c, DTS[k], 2, (size_t[]){2, 3}, X23);
        nb_tensor *s = nb_sum(c, x, NULL, 0, 0);
        CHECK(s && s->ndim == 0 && s->dtype == DTS[k] && nb_item(s) == 21);
        CHECK_VALS(nb_sum(c, x, (int[]){0}, 1, 0), ((double[]){5, 7, 9}), 0);
        nb_tensor *r = nb_sum(c, x, (int[]){-1}, 1, 1);
        CHECK_SHAPE(r, 2, 1);
        CHECK_VALS(r, ((double[]){9, 12}), 0);
        CHECK_SHAPE(nb_sum(c, x, NULL, 0, 1), 1, 1);
        nb_tensor *all2 = nb_sum(c, x, (int[]){1, 0}, 2, 0);
        CHECK(all2 && all2->ndim == 0 && nb_item(all2) == 21);
        CHECK_NEAR(nb_item(nb_mean(c, x, NULL, 0, 0)), 3.5, 0);
        CHECK_VALS(nb_mean(c, x, (int[]){0}, 1, 0), ((double[]){2.5, 3.5, 4.5}), 0);
        CHECK_VALS(nb_mean(c, x, (int[]){1}, 1, 1), ((double[]){3, 4}), 1e-7);
        /* [2, 3, 4] = 0..23 over axes {0, 2}: 32 j + 60 */
        nb_tensor *x3 = t_vals(c, DTS[k], 3, (size_t[]){2, 3, 4}, NULL);
        nb_tensor *s02 = nb_sum(c, x3, (int[]){0, -1}, 2, 1);
        CHECK_SHAPE(s02, 1, 3, 1);
        CHECK_VALS(s02, ((double[]){60, 92, 124}), 0);
        CHECK_VALS(nb_mean(c, x3, (int[]){2, 0}, 2, 0), ((double[]){7.5, 11.5, 15.5}), 1e-7);
        nb_tensor *sc = nb_sum(c, nb_scalar(c, DTS[k], 4), NULL, 0, 1); /* 0-d stays 0-d */
        CHECK(sc && sc->ndim == 0 && nb_item(sc) == 4);
    }
    nb_ctx_free(c);
}

TEST(reduce, sum_and_mean_backward)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 2, (size_t[]){2, 3}, X23);
        nb_tensor *s = nb_sum(c, x, (int[]){0}, 1, 0);
        CHECK_OK(nb_backward(c, s, t_vals(c, DTS[k], 1, (size_t[]){3}, (double[]){1, 2, 3})) == 0);
        CHECK_VALS(x->grad, ((double[]){1, 2, 3, 1, 2, 3}), 0);
        nb_zero_grad(x);
        nb_tensor *m = nb_mean(c, x, (int[]){1}, 1, 1);
        CHECK_OK(nb_backward(c, m, t_vals(c, DTS[k], 2, (size_t[]){2, 1}, (double[]){3, 6})) == 0);
        CHECK_VALS(x->grad, ((double[]){1, 1, 1, 2, 2, 2}), 1e-7);
        nb_zero_grad(x);
        CHECK_OK(nb_backward(c, nb_mean(c, x, NULL, 0, 0), NULL) == 0);
        CHECK_VALS(x->grad, ((double[]){1. / 6, 1. / 6, 1. / 6, 1. / 6, 1. / 6, 1. / 6}), 1e-7);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(reduce, max_min_values_and_first_index_gradient)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 2, (size_t[]){2, 3}, (double[]){1, 5, 5, 4, 6, 6});
        nb_tensor *m = nb_max(c, x, (int[]){1}, 1, 0);
        CHECK_VALS(m, ((double[]){5, 6}), 0);
        CHECK_OK(nb_backward(c, m, t_vals(c, DTS[k], 1, (size_t[]){2}, (double[]){10, 20})) == 0);
        CHECK_VALS(x->grad, ((double[]){0, 10, 0, 0, 20, 0}), 0); /* ties: the first one */
        nb_zero_grad(x);
        nb_tensor *mn = nb_min(c, x, (int[]){-2}, 1, 1);
        CHECK_SHAPE(mn, 1, 3);
        CHECK_VALS(mn, ((double[]){1, 5, 5}), 0);
        CHECK_OK(nb_backward(c, mn, t_vals(c, DTS[k], 2, (size_t[]){1, 3}, (double[]){1, 2, 3})) == 0);
        CHECK_VALS(x->grad, ((double[]){1, 2, 3, 0, 0, 0}), 0);
        nb_zero_grad(x);
        nb_tensor *all = nb_max(c, x, NULL, 0, 0);
        CHECK(all && all->ndim == 0 && nb_item(all) == 6);
        CHECK_OK(nb_backward(c, all, NULL) == 0);
        CHECK_VALS(x->grad, ((double[]){0, 0, 0, 0, 1, 0}), 0);
        nb_zero_grad(x);
        CHECK_OK(nb_backward(c, nb_min(c, x, NULL, 0, 1), NULL) == 0);
        CHECK_VALS(x->grad, ((double[]){1, 0, 0, 0, 0, 0}), 0);
        /* several axes of [2, 3, 4] = 0..23: max over {0, 2} is 15, 19, 23 at 12 + 4 j + 3 */
        nb_tensor *x3 = t_vals(c, DTS[k], 3, (size_t[]){2, 3, 4}, NULL);
        CHECK_VALS(nb_max(c, x3, (int[]){2, 0}, 2, 0), ((double[]){15, 19, 23}), 0);
        CHECK_VALS(nb_min(c, x3, (int[]){0, 2}, 2, 0), ((double[]){0, 4, 8}), 0);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(reduce, max_min_propagate_nan)
{
    nb_ctx *c = nb_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        nb_tensor *x = t_leaf(DTS[k], 1, (size_t[]){4}, (double[]){1, NAN, 3, NAN});
        nb_tensor *m = nb_max(c, x, NULL, 0, 0), *n = nb_min(c, x, NULL, 0, 0);
        CHECK(m && isnan(nb_item(m)) && n && isnan(nb_item(n)));
        CHECK_OK(nb_backward(c, m, NULL) == 0);
        CHECK_VALS(x->grad, ((double[]){0, 1, 0, 0}), 0); /* the first NaN */
        nb_tensor_free(x);
    }
    nb_ctx_free(c);
}

TEST(reduce, empty_tensors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        nb_tensor *e = nb_zeros(c, DTS[k], 1, (size_t[]){0});
        nb_tensor *s = nb_sum(c, e, NULL, 0, 0), *m = nb_mean(c, e, NULL, 0, 0);
        CHECK(s && nb_item(s) == 0);
        CHECK(m && isnan(nb_item(m)));
        nb_tensor *e20 = nb_zeros(c, DTS[k], 2, (size_t[]){2, 0});
        nb_tensor *s1 = nb_sum(c, e20, (int[]){1}, 1, 0);
        CHECK_SHAPE(s1, 2);
        CHECK_VALS(s1, ((double[]){0, 0}), 0);
        CHECK_VALS(nb_mean(c, e20, (int[]){1}, 1, 0), ((double[]){NAN, NAN}), 0);
        CHECK_SHAPE(nb_sum(c, e20, (int[]){0}, 1, 0), 0);
        CHECK_ERR(nb_max(c, e, NULL, 0, 0), "max", "empty");
        CHECK_ERR(nb_min(c, e20, (int[]){1}, 1, 1), "min", "[2, 0]");
        /* nothing to reduce into: an empty result is fine */
        CHECK_SHAPE(nb_max(c, e20, (int[]){0}, 1, 0), 0);
    }
    /* the backward of an empty sum or mean gives an empty gradient */
    nb_tensor *x = t_leaf(NB_F64, 2, (size_t[]){0, 3}, NULL);
    nb_tensor *m = nb_mean(c, x, (int[]){0}, 1, 0); /* [3] of NaN */
    CHECK_OK(nb_backward(c, m, t_vals(c, NB_F64, 1, (size_t[]){3}, NULL)) == 0);
    CHECK(x->grad && x->grad->numel == 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(reduce, errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = t_vals(c, NB_F32, 2, (size_t[]){2, 3}, X23);
    nb_tensor *(*const ops[4])(nb_ctx *, nb_tensor *, const int *, int, int) = {nb_sum, nb_mean, nb_max, nb_min};
    const char *names[4] = {"sum", "mean", "max", "min"};
    nb_tensor *xi = t_vals(c, NB_I32, 2, (size_t[]){2, 3}, X23);
    for (int k = 0; k < 4; k++) {
        CHECK_ERR(ops[k](c, x, (int[]){0, 0}, 2, 0), names[k], "repeated");
        CHECK_ERR(ops[k](c, x, (int[]){1, -1}, 2, 0), names[k], "axis -1 is repeated");
        CHECK_ERR(ops[k](c, x, (int[]){2}, 1, 0), names[k], "axis 2 is out of range for [2, 3]");
        CHECK_ERR(ops[k](c, x, (int[]){-3}, 1, 0), names[k], "axis -3");
        CHECK_ERR(ops[k](c, x, (int[]){0}, -1, 0), names[k], "n_axes");
        CHECK_ERR(ops[k](c, xi, NULL, 0, 0), names[k], "int32");
        CHECK_ERR(ops[k](c, nb_scalar(c, NB_F32, 1), (int[]){0}, 1, 0), names[k], "out of range");
        ops[k](c, xi, NULL, 0, 0);
        CHECK(ops[k](c, NULL, NULL, 0, 0) == NULL);
        CHECK(strstr(nb_errmsg(), "int32") != NULL);
    }
    nb_ctx_free(c);
}

/* Finite differences in float64 through max (distinct values, so no ties). */
static nb_tensor *max_rows(nb_ctx *c, nb_tensor *x, void *user) { return nb_max(c, x, (int[]){1}, 1, *(int *)user); }
static nb_tensor *min_all(nb_ctx *c, nb_tensor *x, void *user) { return nb_min(c, x, NULL, 0, 0); }
static nb_tensor *mean_01(nb_ctx *c, nb_tensor *x, void *user) { return nb_mean(c, x, (int[]){0, 2}, 2, 0); }

TEST(reduce, finite_difference_max_min_mean_f64)
{
    nb_rng r;
    nb_rng_seed(&r, 11);
    nb_tensor *x = t_leaf(NB_F64, 3, (size_t[]){2, 3, 4}, NULL);
    nb_fill_normal(x, 0, 1, &r);
    double w[12];
    for (int i = 0; i < 12; i++) w[i] = nb_rng_normal(&r);
    for (int keep = 0; keep < 2; keep++) CHECK(t_fd_maxerr(max_rows, x, w, &keep) < 1e-8);
    CHECK(t_fd_maxerr(min_all, x, NULL, NULL) < 1e-8);
    CHECK(t_fd_maxerr(mean_01, x, w, NULL) < 1e-8);
    nb_tensor_free(x);
}

/* Long sums are summed in blocks combined pairwise (src/kernels/psum.inc):
 * over 600k similar terms one running total drifts ~1e-11 relative in
 * double; blocks keep it near 1e-15 (PyTorch's pairwise sum: ~4e-16).  The
 * reference is a compensated (Neumaier) total in double, exact to ~1e-16
 * (not long double, which valgrind computes in double).  A sum of at most
 * 128 terms is still the plain running total, bit for bit. */
typedef struct {
    double s, c;
} t_ksum;

static void t_kadd(t_ksum *k, double v)
{
    double t = k->s + v;
    k->c += fabs(k->s) >= fabs(v) ? (k->s - t) + v : (v - t) + k->s;
    k->s = t;
}

static double t_kval(const t_ksum *k) { return k->s + k->c; }

static double t_drift(double got, double want) { return fabs((got - want) / want); }

TEST(reduce, long_sums_do_not_drift)
{
    nb_ctx *c = nb_ctx_new(NULL);
    const size_t n = 600000;
    nb_tensor *x = nb_zeros(c, NB_F64, 2, (size_t[]){n / 100, 100});
    double *xd = x->data;
    t_ksum ks = {0, 0};
    double running = 0;
    for (size_t i = 0; i < n; i++) {
        xd[i] = 0.1 + 1e-3 * (double)(i % 7);
        t_kadd(&ks, xd[i]);
        running += xd[i];
    }
    const double want = t_kval(&ks);
    double got = nb_item(nb_sum(c, x, NULL, 0, 0));
    CHECK(t_drift(running, want) > 1e-13); /* the one running total this replaces */
    CHECK(t_drift(got, want) < 5e-15);
    CHECK(t_drift(nb_item(nb_mean(c, x, NULL, 0, 0)) * (double)n, want) < 5e-15);

    /* the gradient of a scalar broadcast over 307k copies: sum of the upstream */
    const size_t m = 307200;
    nb_tensor *s = nb_zeros(c, NB_F64, 1, (size_t[]){1});
    CHECK_OK(nb_tensor_set_requires_grad(s, 1) == 0);
    nb_tensor *big = nb_zeros(c, NB_F64, 1, (size_t[]){m});
    nb_tensor *w = nb_zeros(c, NB_F64, 1, (size_t[]){m});
    t_ksum kg = {0, 0};
    for (size_t i = 0; i < m; i++) {
        ((double *)w->data)[i] = 0.3 + 1e-4 * (double)(i % 11);
        t_kadd(&kg, ((double *)w->data)[i]);
    }
    const double gwant = t_kval(&kg);
    nb_tensor *y = nb_sum(c, nb_mul(c, nb_add(c, big, s), w), NULL, 0, 0);
    CHECK_OK(y && nb_backward(c, y, NULL) == 0);
    CHECK(s->grad && t_drift(nb_get(s->grad, 0), gwant) < 5e-15);

    /* log_softmax over 240k elements: log-sum-exp in blocks */
    const size_t d = 240000;
    nb_tensor *z = nb_zeros(c, NB_F64, 2, (size_t[]){1, d});
    t_ksum kse = {0, 0};
    for (size_t i = 0; i < d; i++) {
        ((double *)z->data)[i] = 1e-3 * (double)(i % 13);
        t_kadd(&kse, exp(((double *)z->data)[i] - 0.012));
    }
    nb_tensor *ls = nb_log_softmax(c, z, 1);
    const double lse = log(t_kval(&kse)) + 0.012;
    double worst = 0;
    for (size_t i = 0; i < d; i += 997) worst = fmax(worst, t_drift(nb_get(ls, i), ((double *)z->data)[i] - lse));
    CHECK(worst < 1e-14);

    /* short sums: exactly the running total, in both dtypes */
    for (int k = 0; k < 2; k++) {
        nb_tensor *v = nb_zeros(c, DTS[k], 1, (size_t[]){128});
        double r64 = 0;
        float r32 = 0;
        for (size_t i = 0; i < 128; i++) {
            nb_set(v, i, 0.1 * (double)i + 1.0 / 3.0);
            r64 += nb_get(v, i);
            r32 += (float)nb_get(v, i);
        }
        double got_k = nb_item(nb_sum(c, v, NULL, 0, 0));
        CHECK(k == 0 ? got_k == r64 : got_k == (double)r32);
    }
    nb_ctx_free(c);
}

/* Sums over an outer dim (a [R, C] sum into [C]: sum over axis 0, the
 * gradient of a row broadcast, a Linear's bias gradient) sum each column in
 * blocks too, with the same bits for any thread count. */
TEST(reduce, outer_dim_sums_do_not_drift)
{
    nb_ctx *c = nb_ctx_new(NULL);
    const size_t r = 200000, cols = 3;
    nb_tensor *x = nb_zeros(c, NB_F64, 2, (size_t[]){r, cols});
    double *xd = x->data;
    t_ksum ks[3] = {{0, 0}, {0, 0}, {0, 0}};
    double running[3] = {0, 0, 0};
    for (size_t i = 0; i < r * cols; i++) {
        xd[i] = 0.1 + 1e-3 * (double)(i % 7) + 0.5 * (double)(i % cols);
        t_kadd(&ks[i % cols], xd[i]);
        running[i % cols] += xd[i];
    }
    nb_tensor *s0 = nb_sum(c, x, (int[]){0}, 1, 0);
    CHECK_OK(s0 && s0->numel == cols);
    CHECK(t_drift(running[0], t_kval(&ks[0])) > 1e-14); /* the running total this replaces */
    for (size_t j = 0; j < cols; j++) CHECK(t_drift(nb_get(s0, j), t_kval(&ks[j])) < 5e-15);

    /* the bias gradient of a Linear over r rows: sum over the batch of dy */
    nb_tensor *w = nb_zeros(c, NB_F64, 2, (size_t[]){cols, 1});
    nb_tensor *b = nb_zeros(c, NB_F64, 1, (size_t[]){cols});
    nb_tensor *in = nb_zeros(c, NB_F64, 2, (size_t[]){r, 1});
    nb_tensor *up = nb_zeros(c, NB_F64, 2, (size_t[]){r, cols});
    memcpy(up->data, xd, r * cols * sizeof(double));
    CHECK_OK(nb_tensor_set_requires_grad(b, 1) == 0);
    nb_tensor *loss = nb_sum(c, nb_mul(c, nb_linear(c, in, w, b, NB_ACT_NONE, 0), up), NULL, 0, 0);
    CHECK_OK(loss && nb_backward(c, loss, NULL) == 0);
    for (size_t j = 0; j < cols; j++) CHECK(b->grad && t_drift(nb_get(b->grad, j), t_kval(&ks[j])) < 5e-15);

    /* wide enough for the pool: the same bits on 1 and 2 threads, both dtypes */
    const int threads = nb_get_threads();
    for (int k = 0; k < 2; k++) {
        nb_tensor *v = nb_zeros(c, DTS[k], 2, (size_t[]){1000, 256});
        for (size_t i = 0; i < v->numel; i++) nb_set(v, i, 1.0 / (double)(1 + i % 97));
        nb_tensor *got[2];
        for (int t = 0; t < 2; t++) {
            nb_set_threads(t + 1);
            got[t] = nb_sum(c, v, (int[]){0}, 1, 0);
        }
        CHECK_OK(got[0] && got[1]);
        CHECK(!memcmp(got[0]->data, got[1]->data, 256 * nb_dtype_size(DTS[k])));
    }
    nb_set_threads(threads);
    nb_ctx_free(c);
}
