/* Tensors, the arena, the RNG and the autograd engine. */
#include "t.h"

#include <string.h>

TEST(core, seed_example_sum_w_times_x)
{
    /* y = sum(w * x): x=[1,2,3], w=[0.5,-0.3,0.2] -> y=0.4, dy/dw = x, dy/dx = w */
    nb_ctx *c = nb_ctx_new(NULL);
    double xs[] = {1, 2, 3}, ws[] = {0.5, -0.3, 0.2};
    nb_tensor *x = nb_tensor_from(NB_F64, 1, (size_t[]){3}, xs, NB_COPY);
    nb_tensor *w = nb_tensor_from(NB_F64, 1, (size_t[]){3}, ws, NB_COPY);
    CHECK_OK(nb_tensor_set_requires_grad(x, 1) == 0);
    CHECK_OK(nb_tensor_set_requires_grad(w, 1) == 0);
    nb_tensor *y = nb_sum(c, nb_mul(c, w, x), NULL, 0, 0);
    CHECK_OK(y);
    CHECK_NEAR(nb_item(y), 0.4, 1e-15);
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
