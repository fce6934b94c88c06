/* Comparisons: gt, lt, ge, le, eq, ne — values with broadcasting, NaN, ties,
 * both float dtypes; the result feeds nb_where and masks; no gradient flows;
 * every error names the op. */
#include <math.h>

#include "t_ops.h"

static const nb_dtype DTS[2] = {NB_F64, NB_F32};

typedef nb_tensor *(*cmp_fn)(nb_ctx *, const nb_tensor *, const nb_tensor *);

TEST(compare, values_broadcast_and_nan)
{
    /* a [2, 3] against b [3]: one row of thresholds */
    static const double A[6] = {1, 2, 3, -1, 2, NAN}, B[3] = {1, 3, 0};
    static const struct {
        const char *name;
        cmp_fn fn;
        double want[6];
    } ops[] = {
        {"gt", (nb_gt), {0, 0, 1, 0, 0, 0}}, {"lt", (nb_lt), {0, 1, 0, 1, 1, 0}}, {"ge", (nb_ge), {1, 0, 1, 0, 0, 0}},
        {"le", (nb_le), {1, 1, 0, 1, 1, 0}}, {"eq", (nb_eq), {1, 0, 0, 0, 0, 0}}, {"ne", (nb_ne), {0, 1, 1, 1, 1, 1}},
    };
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *a = t_vals(c, DTS[k], 2, (size_t[]){2, 3}, A);
        nb_tensor *b = t_vals(c, DTS[k], 1, (size_t[]){3}, B);
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            nb_tensor *y = ops[i].fn(c, a, b);
            CHECK_MSG(y && y->dtype == DTS[k], "%s: %s", ops[i].name, nb_errmsg());
            CHECK_SHAPE(y, 2, 3);
            CHECK_VALS(y, ops[i].want, 0);
            nb_tensor *yt = ops[i].fn(c, b, a); /* the broadcast side swapped: [2, 3] again */
            CHECK_SHAPE(yt, 2, 3);
        }
        nb_ctx_free(c);
    }
}

TEST(compare, feeds_where_and_passes_no_gradient)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 1, (size_t[]){4}, (double[]){-2, -0.5, 0.5, 2});
        nb_tensor *zero = t_vals(c, DTS[k], 0, NULL, (double[]){0});
        nb_tensor *pos = nb_gt(c, x, zero);
        CHECK(pos && !nb_requires_grad(pos));
        /* leaky relu by hand: where(x > 0, x, 0.1 x) */
        nb_tensor *y = nb_where(c, pos, x, nb_mul_scalar(c, x, 0.1));
        CHECK_VALS(y, ((double[]){-0.2, -0.05, 0.5, 2}), 1e-7);
        CHECK_OK(nb_backward(c, nb_sum(c, y, NULL, 0, 0), NULL) == 0);
        CHECK_VALS(x->grad, ((double[]){0.1, 0.1, 1, 1}), 1e-7);
        /* a mask multiplies; the mask itself contributes no gradient */
        nb_zero_grad(x);
        nb_tensor *m = nb_mul(c, x, nb_le(c, x, zero));
        CHECK_OK(nb_backward(c, nb_sum(c, m, NULL, 0, 0), NULL) == 0);
        CHECK_VALS(x->grad, ((double[]){1, 1, 0, 0}), 0);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(compare, empty_and_scalar)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *e = t_vals(c, NB_F32, 2, (size_t[]){0, 3}, NULL);
    nb_tensor *r = t_vals(c, NB_F32, 1, (size_t[]){3}, (double[]){1, 2, 3});
    nb_tensor *y = nb_eq(c, e, r);
    CHECK_SHAPE(y, 0, 3);
    nb_tensor *s = nb_ge(c, t_vals(c, NB_F64, 0, NULL, (double[]){2}), t_vals(c, NB_F64, 0, NULL, (double[]){2}));
    CHECK(s && s->ndim == 0 && nb_get(s, 0) == 1);
    nb_ctx_free(c);
}

TEST(compare, errors_name_the_op)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F32, 1, (size_t[]){3}, (double[]){1, 2, 3});
    nb_tensor *b = t_vals(c, NB_F64, 1, (size_t[]){3}, (double[]){1, 2, 3});
    CHECK(!nb_gt(c, a, b) && strstr(nb_errmsg(), "gt: dtypes differ"));
    nb_tensor *d = t_vals(c, NB_F32, 1, (size_t[]){2}, (double[]){1, 2});
    CHECK(!nb_lt(c, a, d) && strstr(nb_errmsg(), "lt: shapes [3] and [2] do not broadcast"));
    nb_tensor *i = t_vals(c, NB_I32, 1, (size_t[]){3}, (double[]){1, 2, 3});
    CHECK(!nb_eq(c, i, i) && strstr(nb_errmsg(), "eq: input [3] is int32"));
    CHECK(!nb_ne(c, NULL, a));
    nb_ctx_free(c);
}
