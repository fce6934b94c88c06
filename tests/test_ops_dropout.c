/* Dropout: statistics, determinism, the saved mask in backward, eval mode, errors. */
#include "t.h"

#include <string.h>

TEST(dropout, statistics_and_scaling)
{
    /* p = 0.3 on 200000 ones: about 30% zeros, the rest exactly 1 / 0.7; the mean stays near 1. */
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_rng r;
        nb_rng_seed(&r, 1234);
        const size_t n = 200000;
        nb_tensor *x = nb_ones(c, dt, 1, &n);
        nb_tensor *y = nb_dropout(c, x, 0.3, &r);
        CHECK_OK(y);
        if (y) {
            size_t zeros = 0, bad = 0;
            double sum = 0;
            const double kept = k ? (double)(1.0f * (float)(1.0 / 0.7)) : 1.0 / 0.7;
            for (size_t i = 0; i < n; i++) {
                double v = nb_get(y, i);
                zeros += v == 0;
                bad += v != 0 && v != kept;
                sum += v;
            }
            CHECK(bad == 0);
            CHECK_NEAR((double)zeros / (double)n, 0.3, 0.01);
            CHECK_NEAR(sum / (double)n, 1.0, 0.01);
            CHECK(y->dtype == dt && nb_same_shape(y, x));
        }
        nb_ctx_free(c);
    }
}

TEST(dropout, deterministic_for_a_seed)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r1, r2, r3;
    nb_rng_seed(&r1, 99);
    nb_rng_seed(&r2, 99);
    nb_rng_seed(&r3, 100);
    nb_tensor *x = nb_normal(c, NB_F32, 2, (size_t[]){16, 32}, 0, 1, &r3);
    nb_rng_seed(&r3, 100);
    nb_tensor *a = nb_dropout(c, x, 0.5, &r1), *b = nb_dropout(c, x, 0.5, &r2), *d = nb_dropout(c, x, 0.5, &r3);
    CHECK_OK(a && b && d);
    if (a && b && d) {
        CHECK(memcmp(a->data, b->data, a->numel * sizeof(float)) == 0);
        CHECK(memcmp(a->data, d->data, a->numel * sizeof(float)) != 0);
        /* The documented stream: one uniform per element, kept when u < 1 - p. */
        nb_rng_seed(&r2, 99);
        size_t mism = 0;
        for (size_t i = 0; i < x->numel; i++) {
            int keep = nb_rng_uniform(&r2) < 0.5;
            mism += (nb_get(a, i) != (keep ? (double)((float)nb_get(x, i) * 2.0f) : 0.0));
        }
        CHECK(mism == 0);
        /* The generator moved on: a second call draws a new mask. */
        nb_tensor *a2 = nb_dropout(c, x, 0.5, &r1);
        CHECK(a2 && memcmp(a->data, a2->data, a->numel * sizeof(float)) != 0);
    }
    nb_ctx_free(c);
}

TEST(dropout, backward_uses_the_saved_mask)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_rng r;
        nb_rng_seed(&r, 7);
        nb_tensor *x = nb_tensor_new(dt, 2, (size_t[]){10, 10});
        nb_fill_normal(x, 0, 1, &r);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor *y = nb_dropout(c, x, 0.25, &r);
        CHECK_OK(y && nb_requires_grad(y));
        nb_tensor *g = nb_full(c, dt, 2, (size_t[]){10, 10}, 3.0);
        CHECK_OK(nb_backward(c, y, g) == 0);
        /* y = x * m / (1 - p), so dy/dx = m / (1 - p) = y / x. */
        size_t kept = 0;
        for (size_t i = 0; x->grad && i < 100; i++) {
            int keep = nb_get(y, i) != 0;
            kept += keep;
            CHECK_NEAR(nb_get(x->grad, i), keep ? 3.0 / 0.75 : 0.0, 1e-6);
            if (keep) CHECK_NEAR(nb_get(y, i), nb_get(x, i) / 0.75, 1e-6);
        }
        CHECK(kept > 50 && kept < 95);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(dropout, identity_when_not_training_or_p_zero)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_tensor *x = nb_tensor_new(NB_F64, 1, (size_t[]){8});
    nb_fill_normal(x, 0, 1, &r);
    nb_tensor_set_requires_grad(x, 1);
    nb_rng before = r;
    /* p = 0 in training: a copy; no RNG needed (NULL is fine) and none drawn. */
    nb_tensor *y0 = nb_dropout(c, x, 0.0, NULL);
    CHECK_OK(y0);
    CHECK(nb_training(c) == 1);
    CHECK(nb_set_training(c, 0) == 1);
    nb_tensor *y1 = nb_dropout(c, x, 0.9, &r);
    CHECK_OK(y1);
    CHECK(memcmp(&before.s, &r.s, sizeof r.s) == 0);
    if (y0 && y1) {
        CHECK(y1->data != x->data); /* a copy, not the input itself */
        for (size_t i = 0; i < 8; i++) {
            CHECK(nb_get(y0, i) == nb_get(x, i));
            CHECK(nb_get(y1, i) == nb_get(x, i));
        }
        /* Still differentiable, with the identity as backward. */
        nb_tensor *g = nb_arange(c, NB_F64, 1, 9, 1);
        CHECK_OK(nb_backward(c, y1, g) == 0);
        CHECK_OK(nb_backward(c, y0, g) == 0);
        for (size_t i = 0; x->grad && i < 8; i++) CHECK_NEAR(nb_get(x->grad, i), 2.0 * (double)(i + 1), 0);
    }
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(dropout, p_one_zeroes_everything)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_tensor *x = nb_tensor_new(NB_F32, 1, (size_t[]){64});
    nb_fill(x, 2.5);
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = nb_dropout(c, x, 1.0, &r);
    CHECK_OK(y);
    CHECK_OK(nb_backward(c, y, nb_ones(c, NB_F32, 1, (size_t[]){64})) == 0);
    for (size_t i = 0; y && x->grad && i < 64; i++) {
        CHECK(nb_get(y, i) == 0.0);
        CHECK(nb_get(x->grad, i) == 0.0);
    }
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(dropout, errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_tensor *x = nb_zeros(c, NB_F32, 2, (size_t[]){3, 4});
    CHECK(nb_dropout(c, x, -0.1, &r) == NULL);
    CHECK(strstr(nb_errmsg(), "dropout") && strstr(nb_errmsg(), "[3, 4]"));
    CHECK(nb_dropout(c, x, 1.5, &r) == NULL && strstr(nb_errmsg(), "dropout"));
    CHECK(nb_dropout(c, x, NAN, &r) == NULL && strstr(nb_errmsg(), "dropout"));
    CHECK(nb_dropout(c, x, 0.5, NULL) == NULL && strstr(nb_errmsg(), "RNG"));
    nb_tensor *xi = nb_zeros(c, NB_I32, 1, (size_t[]){3});
    CHECK(nb_dropout(c, xi, 0.5, &r) == NULL && strstr(nb_errmsg(), "int32"));
    char first[256];
    snprintf(first, sizeof first, "%s", nb_errmsg());
    CHECK(nb_dropout(c, NULL, 0.5, &r) == NULL && strcmp(nb_errmsg(), first) == 0);
    nb_ctx_free(c);
}
