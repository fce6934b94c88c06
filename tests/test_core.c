/* Tensors, the arena, the RNG and the autograd engine. */
#include "t.h"

#include <string.h>

TEST(core, seed_example_sum_w_times_x)
{
    /* y = sum(w * x): x=[1,2,3], w=[0.5,-0.3,0.2] -> dy/dw = x, dy/dx = w.
     * The guide prints y = 0.4, but 0.5*1 - 0.3*2 + 0.2*3 = 0.5. */
    nb_ctx *c = nb_ctx_new(NULL);
    double xs[] = {1, 2, 3}, ws[] = {0.5, -0.3, 0.2};
    nb_tensor *x = nb_tensor_from(NB_F64, 1, (size_t[]){3}, xs, NB_COPY);
    nb_tensor *w = nb_tensor_from(NB_F64, 1, (size_t[]){3}, ws, NB_COPY);
    CHECK_OK(nb_tensor_set_requires_grad(x, 1) == 0);
    CHECK_OK(nb_tensor_set_requires_grad(w, 1) == 0);
    nb_tensor *y = nb_sum(c, nb_mul(c, w, x), NULL, 0, 0);
    CHECK_OK(y);
    CHECK_NEAR(nb_item(y), 0.5, 1e-15);
    CHECK_OK(nb_backward(c, y, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(nb_get(w->grad, i), xs[i], 0);
        CHECK_NEAR(nb_get(x->grad, i), ws[i], 0);
    }
    nb_tensor_free(x);
    nb_tensor_free(w);
    nb_ctx_free(c);
}

TEST(core, rng_stream_is_fixed)
{
    /* Pinned values: the stream must be identical on every platform. */
    nb_rng r;
    nb_rng_seed(&r, 42);
    uint64_t a = nb_rng_u64(&r), b = nb_rng_u64(&r);
    nb_rng_seed(&r, 42);
    CHECK(nb_rng_u64(&r) == a);
    CHECK(nb_rng_u64(&r) == b);
    CHECK(a != b);
    double s = 0, s2 = 0;
    nb_rng_seed(&r, 7);
    for (int i = 0; i < 100000; i++) {
        double z = nb_rng_normal(&r);
        s += z;
        s2 += z * z;
    }
    CHECK(fabs(s / 100000) < 0.02);
    CHECK(fabs(s2 / 100000 - 1) < 0.02);
}

static nb_tensor *leaf64(int ndim, const size_t *shape, const double *v)
{
    nb_tensor *t = nb_tensor_from(NB_F64, ndim, shape, (void *)v, NB_COPY);
    nb_tensor_set_requires_grad(t, 1);
    return t;
}

TEST(core, grads_accumulate_across_backward_calls)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(1, (size_t[]){2}, (double[]){3, -1});
    for (int k = 0; k < 3; k++) {
        nb_tensor *y = nb_sum(c, nb_mul(c, x, x), NULL, 0, 0); /* d/dx = 2x */
        CHECK_OK(nb_backward(c, y, NULL) == 0);
        nb_ctx_reset(c);
    }
    CHECK_NEAR(nb_get(x->grad, 0), 3 * 6.0, 0);
    CHECK_NEAR(nb_get(x->grad, 1), 3 * -2.0, 0);
    nb_zero_grad(x);
    CHECK(nb_get(x->grad, 0) == 0 && nb_get(x->grad, 1) == 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(core, tensor_used_several_times)
{
    /* y = x*x + exp(x) + x: dy/dx = 2x + exp(x) + 1 */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(0, NULL, (double[]){0.7});
    nb_tensor *y = nb_add(c, nb_add(c, nb_mul(c, x, x), nb_exp(c, x)), x);
    CHECK_OK(nb_backward(c, y, NULL) == 0);
    CHECK_NEAR(nb_get(x->grad, 0), 1.4 + exp(0.7) + 1, 1e-15);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(core, no_grad_records_nothing_and_detach_cuts)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(1, (size_t[]){2}, (double[]){1, 2});
    int prev = nb_set_grad_enabled(c, 0);
    nb_tensor *y = nb_mul(c, x, x);
    CHECK(prev == 1);
    CHECK(!nb_requires_grad(y) && nb_is_leaf(y));
    CHECK(nb_backward(c, y, NULL) != 0);
    CHECK(strstr(nb_errmsg(), "does not require grad") != NULL);
    nb_set_grad_enabled(c, prev);
    nb_tensor *d = nb_detach(c, nb_mul(c, x, x));
    CHECK(d && !nb_requires_grad(d));
    nb_tensor *z = nb_sum(c, nb_mul(c, d, x), NULL, 0, 0); /* d treated as a constant */
    CHECK_OK(nb_backward(c, z, NULL) == 0);
    CHECK_NEAR(nb_get(x->grad, 0), 1.0, 0);
    CHECK_NEAR(nb_get(x->grad, 1), 4.0, 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(core, retain_grad_keeps_non_leaf_gradient)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(1, (size_t[]){2}, (double[]){1, 2});
    nb_tensor *h = nb_mul_scalar(c, x, 3.0), *h2 = nb_exp(c, x);
    CHECK_OK(nb_retain_grad(h) == 0);
    nb_tensor *y = nb_sum(c, nb_add(c, nb_mul(c, h, h), h2), NULL, 0, 0);
    CHECK_OK(nb_backward(c, y, NULL) == 0);
    CHECK(h->grad != NULL);
    CHECK(h2->grad == NULL); /* not retained, like PyTorch */
    CHECK_NEAR(nb_get(h->grad, 1), 2 * 6.0, 0);
    CHECK_NEAR(nb_get(x->grad, 1), 2 * 6.0 * 3 + exp(2.0), 1e-14);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(core, graph_released_after_backward_unless_retained)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(0, NULL, (double[]){2});
    nb_tensor *y = nb_mul(c, x, x);
    CHECK_OK(nb_backward(c, y, NULL) == 0);
    CHECK(nb_backward(c, y, NULL) != 0);
    CHECK(strstr(nb_errmsg(), "retain_graph") != NULL);
    nb_tensor *y2 = nb_mul(c, x, x);
    nb_backward_opts keep = {.retain_graph = 1};
    CHECK_OK(nb_backward_ex(c, y2, NULL, &keep) == 0);
    CHECK_OK(nb_backward(c, y2, NULL) == 0);
    CHECK_NEAR(nb_get(x->grad, 0), 3 * 4.0, 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

static int scale_hook(nb_tensor *t, nb_tensor *g, void *user)
{
    (void)t;
    int *calls = user;
    (*calls)++;
    for (size_t i = 0; i < g->numel; i++) nb_set(g, i, nb_get(g, i) * 10);
    return 0;
}

static int stop_hook(nb_tensor *t, nb_tensor *g, void *user)
{
    (void)t, (void)g, (void)user;
    return 1;
}

TEST(core, hooks_see_and_change_gradients)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(1, (size_t[]){2}, (double[]){1, 2});
    int leaf_calls = 0, mid_calls = 0;
    CHECK_OK(nb_register_hook(x, scale_hook, &leaf_calls) == 0);
    /* x used twice: the leaf hook sees the summed gradient once */
    nb_tensor *h = nb_add(c, x, x);
    CHECK_OK(nb_register_hook(h, scale_hook, &mid_calls) == 0);
    nb_tensor *y = nb_sum(c, nb_add(c, h, x), NULL, 0, 0);
    CHECK_OK(nb_backward(c, y, NULL) == 0);
    CHECK(leaf_calls == 1 && mid_calls == 1);
    CHECK_NEAR(nb_get(x->grad, 0), (2 * 10 + 1) * 10.0, 0);
    nb_ctx_reset(c);
    nb_remove_hooks(x);
    CHECK_OK(nb_register_hook(x, stop_hook, NULL) == 0);
    y = nb_sum(c, x, NULL, 0, 0);
    CHECK(nb_backward(c, y, NULL) != 0);
    CHECK(strstr(nb_errmsg(), "hook") != NULL);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(core, explicit_upstream_gradient)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = leaf64(1, (size_t[]){3}, (double[]){1, 2, 3});
    nb_tensor *y = nb_mul_scalar(c, x, 2.0);
    CHECK(nb_backward(c, y, NULL) != 0); /* not a scalar */
    CHECK(strstr(nb_errmsg(), "not a scalar") != NULL);
    double gv[] = {1, 10, 100};
    nb_tensor *g = nb_from_data(c, NB_F64, 1, (size_t[]){3}, gv, NB_BORROW);
    nb_tensor *bad = nb_zeros(c, NB_F64, 1, (size_t[]){2});
    CHECK(nb_backward(c, y, bad) != 0);
    CHECK(strstr(nb_errmsg(), "[2]") != NULL && strstr(nb_errmsg(), "[3]") != NULL);
    CHECK_OK(nb_backward(c, y, g) == 0);
    CHECK_NEAR(nb_get(x->grad, 2), 200, 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(core, errors_name_op_and_shapes_and_propagate)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_zeros(c, NB_F32, 2, (size_t[]){2, 3});
    nb_tensor *b = nb_zeros(c, NB_F32, 2, (size_t[]){4, 3});
    nb_tensor *y = nb_add(c, a, b);
    CHECK(y == NULL);
    CHECK(strstr(nb_errmsg(), "add") && strstr(nb_errmsg(), "[2, 3]") && strstr(nb_errmsg(), "[4, 3]"));
    /* the first error survives a chain of ops on NULL */
    nb_tensor *z = nb_sum(c, nb_exp(c, nb_relu(c, y)), NULL, 0, 0);
    CHECK(z == NULL && strstr(nb_errmsg(), "add"));
    CHECK(nb_backward(c, z, NULL) != 0);
    /* dtype mismatch */
    nb_tensor *d = nb_zeros(c, NB_F64, 2, (size_t[]){2, 3});
    CHECK(nb_mul(c, a, d) == NULL && strstr(nb_errmsg(), "float64"));
    /* int32 tensors are not differentiable and not accepted by float ops */
    nb_tensor *i = nb_zeros(c, NB_I32, 1, (size_t[]){3});
    CHECK(nb_exp(c, i) == NULL && strstr(nb_errmsg(), "int32"));
    CHECK(nb_tensor_set_requires_grad(i, 1) != 0);
    /* bad shapes */
    size_t big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(nb_zeros(c, NB_F32, 9, big) == NULL && strstr(nb_errmsg(), "9 dimensions"));
    size_t huge[2] = {SIZE_MAX / 2, 4};
    CHECK(nb_tensor_new(NB_F32, 2, huge) == NULL && strstr(nb_errmsg(), "overflow"));
    CHECK(nb_clamp(c, a, 1, 0) == NULL && strstr(nb_errmsg(), "clamp"));
    CHECK(nb_arange(c, NB_F32, 0, 1, 0) == NULL);
    nb_ctx_free(c);
}

TEST(core, broadcasting_follows_numpy)
{
    nb_ctx *c = nb_ctx_new(NULL);
    double av[] = {1, 2, 3}, bv[] = {10, 20};
    nb_tensor *a = nb_from_data(c, NB_F64, 2, (size_t[]){1, 3}, av, NB_COPY); /* [1,3] */
    nb_tensor *b = nb_from_data(c, NB_F64, 2, (size_t[]){2, 1}, bv, NB_COPY); /* [2,1] */
    nb_tensor *y = nb_add(c, a, b);                                           /* [2,3] */
    CHECK(y && y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3);
    CHECK_NEAR(nb_get(y, 5), 23, 0);
    nb_tensor *s = nb_scalar(c, NB_F64, 0.5);
    nb_tensor *z = nb_mul(c, y, s);
    CHECK(z && z->ndim == 2 && nb_get(z, 0) == 5.5);
    nb_ctx_free(c);
}

TEST(core, creation_and_views)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *r = nb_arange(c, NB_F32, 0, 5, 1.5); /* 0, 1.5, 3, 4.5 */
    CHECK(r && r->numel == 4 && nb_get(r, 3) == 4.5);
    nb_rng g;
    nb_rng_seed(&g, 1);
    nb_tensor *u = nb_uniform(c, NB_F64, 1, (size_t[]){1000}, -2, 3, &g);
    double lo = 1e9, hi = -1e9;
    for (size_t i = 0; i < u->numel; i++) {
        double v = nb_get(u, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    CHECK(lo >= -2 && hi < 3 && hi - lo > 4.9);
    double buf[4] = {1, 2, 3, 4};
    nb_tensor *borrowed = nb_tensor_from(NB_F64, 2, (size_t[]){2, 2}, buf, NB_BORROW);
    buf[3] = 40;
    CHECK(nb_get(borrowed, 3) == 40);
    nb_tensor *copied = nb_tensor_from(NB_F64, 2, (size_t[]){2, 2}, buf, NB_COPY);
    buf[3] = 4;
    CHECK(nb_get(copied, 3) == 40);
    nb_tensor *o = nb_ones(c, NB_F64, 0, NULL);
    CHECK(o && o->numel == 1 && nb_item(o) == 1);
    nb_tensor *e = nb_zeros(c, NB_F32, 2, (size_t[]){0, 3});
    CHECK(e && e->numel == 0);
    char sb[64];
    CHECK(strcmp(nb_shape_str(copied, sb, sizeof sb), "[2, 2]") == 0);
    FILE *f = tmpfile();
    nb_tensor_print(f, copied, 0);
    rewind(f);
    char text[256] = {0};
    CHECK(fread(text, 1, sizeof text - 1, f) > 0);
    CHECK(strstr(text, "[2, 2] float64") && strstr(text, "[[1, 2],\n [3, 40]]"));
    fclose(f);
    nb_tensor_free(borrowed);
    nb_tensor_free(copied);
    nb_tensor_free(NULL);
    nb_ctx_free(c);
}

TEST(core, reset_reuses_memory)
{
    nb_ctx *c = nb_ctx_new(&(nb_ctx_opts){.chunk_bytes = 4096});
    for (int step = 0; step < 5; step++) {
        for (int k = 0; k < 50; k++) CHECK(nb_zeros(c, NB_F32, 1, (size_t[]){100}) != NULL);
        nb_ctx_reset(c);
    }
    size_t reserved = nb_ctx_bytes_reserved(c);
    for (int k = 0; k < 50; k++) nb_zeros(c, NB_F32, 1, (size_t[]){100});
    CHECK(nb_ctx_bytes_reserved(c) == reserved);
    CHECK(nb_ctx_bytes_used(c) > 0);
    nb_ctx_reset(c);
    CHECK(nb_ctx_bytes_used(c) == 0);
    nb_ctx_free(c);
}

TEST(core, relu_keeps_nan_like_torch)
{
    /* a NaN must not be laundered into 0 on its way to the loss check */
    nb_ctx *c = nb_ctx_new(NULL);
    double v[] = {NAN, -1, 2};
    nb_tensor *x = nb_from_data(c, NB_F64, 1, (size_t[]){3}, v, NB_BORROW);
    nb_tensor *y = nb_relu(c, x);
    CHECK(y && isnan(nb_get(y, 0)) && nb_get(y, 1) == 0 && nb_get(y, 2) == 2);
    float vf[] = {NAN};
    nb_tensor *yf = nb_relu(c, nb_from_data(c, NB_F32, 1, (size_t[]){1}, vf, NB_BORROW));
    CHECK(yf && isnan(nb_get(yf, 0)));
    nb_ctx_free(c);
}
