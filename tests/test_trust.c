/* Issue 13, the library's side: bad arguments to the public API fail with a
 * message (never a crash, never an empty nb_errmsg()), element access is
 * bounds-checked, and bad environment settings are named. */
#include "t.h"

#include "nabla/nabla.h"
#include "nabla/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

TEST(trust, sum_with_more_axes_than_dims)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_zeros(c, NB_F32, 2, (size_t[]){2, 3});
    int axes[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    nb_clear_error();
    FAILS_WITH(nb_sum(c, a, axes, 8, 0) == NULL, "8 axes are out of range for [2, 3] (at most 2)");
    nb_clear_error();
    FAILS_WITH(nb_mean(c, a, axes, 3, 1) == NULL, "3 axes are out of range for [2, 3]");
    nb_ctx_free(c);
}

TEST(trust, get_and_set_are_bounds_checked)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_zeros(c, NB_F64, 1, (size_t[]){3});
    nb_clear_error();
    CHECK(isnan(nb_get(a, 3)));
    CHECK_MSG(strstr(nb_errmsg(), "nb_get: index 3 is out of range for 3 elements"), "%s", nb_errmsg());
    nb_clear_error();
    nb_set(a, (size_t)1 << 40, 7);
    CHECK_MSG(strstr(nb_errmsg(), "nb_set: index 1099511627776 is out of range"), "%s", nb_errmsg());
    nb_set(a, 2, 7);
    CHECK(nb_get(a, 2) == 7);
    nb_clear_error();
    CHECK(isnan(nb_get(NULL, 0)) && strstr(nb_errmsg(), "NULL"));
    nb_clear_error();
    nb_set(NULL, 0, 1);
    CHECK(strstr(nb_errmsg(), "NULL") != NULL);
    nb_ctx_free(c);
}

/* Every op called with a NULL context or input fails with a message. */
TEST(trust, null_arguments_leave_a_message)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_ones(c, NB_F32, 2, (size_t[]){2, 2});
    nb_tensor *lab = nb_zeros(c, NB_I32, 1, (size_t[]){2});
    int ax = 0;
    long shp[1] = {4};
    int perm[2] = {1, 0};
    nb_tensor *xs[1] = {a};
    nb_rng r;
    nb_rng_seed(&r, 1);
#define NULL_FAILS(expr)                                                                 \
    do {                                                                                 \
        nb_clear_error();                                                                \
        CHECK_MSG((expr) == NULL, "%s did not fail", #expr);                             \
        CHECK_MSG(nb_errmsg()[0] != '\0', "%s failed with an empty nb_errmsg()", #expr); \
    } while (0)
    NULL_FAILS(nb_sum(c, NULL, &ax, 1, 0));
    NULL_FAILS(nb_sum(NULL, a, &ax, 1, 0));
    NULL_FAILS(nb_mean(c, NULL, NULL, 0, 0));
    NULL_FAILS(nb_max(c, NULL, NULL, 0, 0));
    NULL_FAILS(nb_add(c, a, NULL));
    NULL_FAILS(nb_mul(NULL, a, a));
    NULL_FAILS(nb_relu(c, NULL));
    NULL_FAILS(nb_exp(NULL, a));
    NULL_FAILS(nb_matmul(c, NULL, a, 0, 0));
    NULL_FAILS(nb_linear(c, NULL, a, NULL, NB_ACT_NONE, 0));
    NULL_FAILS(nb_softmax(c, NULL, 1));
    NULL_FAILS(nb_log_softmax(NULL, a, 1));
    NULL_FAILS(nb_cross_entropy(c, a, NULL, NB_MEAN, 0));
    NULL_FAILS(nb_nll(c, NULL, lab, NB_MEAN));
    NULL_FAILS(nb_mse(c, a, NULL, NB_MEAN));
    NULL_FAILS(nb_reshape(c, NULL, 1, shp));
    NULL_FAILS(nb_permute(c, NULL, perm));
    NULL_FAILS(nb_transpose(c, NULL, 0, 1));
    NULL_FAILS(nb_slice(c, NULL, 0, 0, 1));
    NULL_FAILS(nb_concat(NULL, 1, xs, 0));
    NULL_FAILS(nb_gather(c, a, 1, NULL));
    NULL_FAILS(nb_index_select(c, NULL, 0, lab));
    NULL_FAILS(nb_where(c, NULL, a, a));
    NULL_FAILS(nb_dropout(c, NULL, 0.5, &r));
    NULL_FAILS(nb_detach(c, NULL));
    NULL_FAILS(nb_checkpoint_open(NULL));
    NULL_FAILS(nb_model_from_checkpoint(NULL, NULL));
#undef NULL_FAILS
    /* a NULL from an earlier failure keeps that failure's message */
    nb_clear_error();
    CHECK(nb_relu(c, nb_matmul(c, a, lab, 0, 0)) == NULL);
    CHECK_MSG(strstr(nb_errmsg(), "NULL argument") == NULL && nb_errmsg()[0], "%s", nb_errmsg());
    nb_ctx_free(c);
}

/* NABLA_THREADS / NABLA_BLAS that mean nothing are named, not ignored. */
TEST(trust, bad_environment_settings_are_named)
{
    const char *old_t = getenv("NABLA_THREADS"), *old_b = getenv("NABLA_BLAS");
    char keep_t[64] = "", keep_b[64] = "";
    if (old_t) snprintf(keep_t, sizeof keep_t, "%s", old_t);
    if (old_b) snprintf(keep_b, sizeof keep_b, "%s", old_b);
    int threads = nb_get_threads();
    unsetenv("NABLA_BLAS");
    setenv("NABLA_THREADS", "abc", 1);
    nb_clear_error();
    FAILS_WITH(nb_set_threads(0) != 0, "NABLA_THREADS=abc");
    setenv("NABLA_THREADS", "0", 1);
    FAILS_WITH(nb_set_threads(0) != 0, "NABLA_THREADS=0");
    setenv("NABLA_THREADS", "2", 1);
    CHECK(nb_set_threads(0) == 0 && nb_get_threads() == 2);
    setenv("NABLA_BLAS", "abc", 1);
    FAILS_WITH(nb_set_threads(0) != 0, "NABLA_BLAS=abc: expected builtin or cblas");
    setenv("NABLA_BLAS", "builtin", 1);
    CHECK(nb_set_threads(0) == 0);
    const char *old_i = getenv("NABLA_ISA");
    char keep_i[64] = "";
    if (old_i) snprintf(keep_i, sizeof keep_i, "%s", old_i);
    setenv("NABLA_ISA", "sse9", 1);
    FAILS_WITH(nb_set_threads(0) != 0, "NABLA_ISA=sse9: expected avx512, avx2 or generic");
    setenv("NABLA_ISA", "generic", 1);
    CHECK(nb_set_threads(0) == 0);
    if (old_i) setenv("NABLA_ISA", keep_i, 1);
    else unsetenv("NABLA_ISA");
    if (old_t) setenv("NABLA_THREADS", keep_t, 1);
    else unsetenv("NABLA_THREADS");
    if (old_b) setenv("NABLA_BLAS", keep_b, 1);
    else unsetenv("NABLA_BLAS");
    nb_set_threads(threads);
}
