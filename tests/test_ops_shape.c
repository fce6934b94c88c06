/* Shape ops: reshape, transpose, permute, slice, concat — values, views,
 * backward with an explicit upstream gradient, both dtypes, every error. */
#include "t_ops.h"

static const nb_dtype DTS[2] = {NB_F64, NB_F32};

TEST(shape, reshape_is_a_view_and_infers_minus_one)
{
    nb_ctx *c = nb_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        nb_tensor *a = t_vals(c, DTS[k], 2, (size_t[]){2, 3}, NULL);
        nb_tensor *r = nb_reshape(c, a, 2, (long[]){3, -1});
        CHECK_OK(r);
        if (!r) continue;
        CHECK_SHAPE(r, 3, 2);
        CHECK(r->data == a->data && r->dtype == DTS[k]);
        nb_tensor *s = nb_reshape(c, r, 3, (long[]){-1, 1, 6});
        CHECK_SHAPE(s, 1, 1, 6);
        nb_tensor *one = nb_reshape(c, nb_scalar(c, DTS[k], 5), 1, (long[]){1});
        CHECK_SHAPE(one, 1);
        nb_tensor *z = nb_reshape(c, one, 0, NULL); /* back to 0-d */
        CHECK(z && z->ndim == 0 && nb_item(z) == 5);
        nb_tensor *e = nb_reshape(c, nb_zeros(c, DTS[k], 2, (size_t[]){0, 4}), 3, (long[]){2, 0, 3});
        CHECK_SHAPE(e, 2, 0, 3);
    }
    /* int32 data moves too (no gradient) */
    nb_tensor *i = nb_reshape(c, t_vals(c, NB_I32, 1, (size_t[]){4}, NULL), 2, (long[]){2, 2});
    CHECK_SHAPE(i, 2, 2);
    CHECK(i && i->dtype == NB_I32 && nb_get(i, 3) == 3);
    nb_ctx_free(c);
}

TEST(shape, reshape_backward_passes_the_gradient_through)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 2, (size_t[]){2, 3}, NULL);
        nb_tensor *y = nb_reshape(c, x, 3, (long[]){3, 1, 2});
        CHECK(nb_requires_grad(y));
        double g[6] = {1, -2, 3, -4, 5, 0.5};
        CHECK_OK(nb_backward(c, y, t_vals(c, DTS[k], 3, (size_t[]){3, 1, 2}, g)) == 0);
        CHECK_VALS(x->grad, g, 0);
        /* a second backward accumulates */
        y = nb_reshape(c, x, 1, (long[]){6});
        CHECK_OK(nb_backward(c, y, t_vals(c, DTS[k], 1, (size_t[]){6}, g)) == 0);
        double g2[6] = {2, -4, 6, -8, 10, 1};
        CHECK_VALS(x->grad, g2, 0);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(shape, reshape_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F32, 2, (size_t[]){2, 3}, NULL);
    CHECK_ERR(nb_reshape(c, a, 2, (long[]){4, 2}), "reshape", "[2, 3]");
    CHECK_ERR(nb_reshape(c, a, 2, (long[]){-1, -1}), "reshape", "[-1, -1]");
    CHECK_ERR(nb_reshape(c, a, 2, (long[]){-2, 3}), "reshape", "negative");
    CHECK_ERR(nb_reshape(c, a, 2, (long[]){-1, 4}), "reshape", "infer");
    CHECK_ERR(nb_reshape(c, nb_zeros(c, NB_F32, 1, (size_t[]){0}), 2, (long[]){0, -1}), "reshape", "infer");
    CHECK_ERR(nb_reshape(c, a, 9, (long[]){1, 1, 1, 1, 1, 1, 1, 1, 6}), "reshape", "9 dimensions");
    CHECK_ERR(nb_reshape(c, a, -1, NULL), "reshape", "-1 dimensions");
    CHECK_ERR(nb_reshape(c, a, 2, NULL), "reshape", "NULL shape");
    /* a NULL input keeps the earlier message */
    nb_reshape(c, a, 2, (long[]){4, 2});
    CHECK(nb_reshape(c, NULL, 1, (long[]){6}) == NULL);
    CHECK(strstr(nb_errmsg(), "reshape: cannot view [2, 3]") != NULL);
    nb_ctx_free(c);
}

TEST(shape, transpose_values_and_backward)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 2, (size_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
        nb_tensor *t = nb_transpose(c, x, 0, -1);
        CHECK_SHAPE(t, 3, 2);
        CHECK_VALS(t, ((double[]){1, 4, 2, 5, 3, 6}), 0);
        CHECK(t && t->data != x->data);
        /* gradient of y = t: the upstream [3, 2] transposed back */
        CHECK_OK(nb_backward(c, t, t_vals(c, DTS[k], 2, (size_t[]){3, 2}, (double[]){10, 40, 20, 50, 30, 60})) == 0);
        CHECK_VALS(x->grad, ((double[]){10, 20, 30, 40, 50, 60}), 0);
        nb_tensor *same = nb_transpose(c, x, 1, 1); /* a copy */
        CHECK_VALS(same, ((double[]){1, 2, 3, 4, 5, 6}), 0);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(shape, permute_values_and_backward)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 3, (size_t[]){2, 3, 4}, NULL); /* x[i][j][l] = 12i + 4j + l */
        nb_tensor *p = nb_permute(c, x, (int[]){2, 0, -2});          /* p[l][i][j] = x[i][j][l] */
        CHECK_SHAPE(p, 4, 2, 3);
        if (!p) continue;
        int bad = 0;
        for (size_t l = 0; l < 4; l++)
            for (size_t i = 0; i < 2; i++)
                for (size_t j = 0; j < 3; j++) bad += nb_get(p, (l * 2 + i) * 3 + j) != (double)(12 * i + 4 * j + l);
        CHECK(bad == 0);
        /* upstream g[l][i][j] = flat index: x.grad[i][j][l] = (l * 2 + i) * 3 + j */
        CHECK_OK(nb_backward(c, p, t_vals(c, DTS[k], 3, (size_t[]){4, 2, 3}, NULL)) == 0);
        bad = 0;
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 3; j++)
                for (size_t l = 0; l < 4; l++)
                    bad += nb_get(x->grad, 12 * i + 4 * j + l) != (double)((l * 2 + i) * 3 + j);
        CHECK(bad == 0);
        nb_tensor *s = nb_permute(c, nb_scalar(c, DTS[k], 2), NULL); /* 0-d: nothing to permute */
        CHECK(s && s->ndim == 0 && nb_item(s) == 2);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(shape, transpose_permute_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F64, 3, (size_t[]){2, 3, 4}, NULL);
    CHECK_ERR(nb_transpose(c, a, 0, 3), "transpose", "[2, 3, 4]");
    CHECK_ERR(nb_transpose(c, a, -4, 0), "transpose", "out of range");
    CHECK_ERR(nb_permute(c, a, (int[]){0, 0, 1}), "permute", "repeated");
    CHECK_ERR(nb_permute(c, a, (int[]){0, 1, 3}), "permute", "[2, 3, 4]");
    CHECK_ERR(nb_permute(c, a, NULL), "permute", "NULL");
    nb_permute(c, a, NULL);
    CHECK(nb_transpose(c, NULL, 0, 1) == NULL && nb_permute(c, NULL, (int[]){0}) == NULL);
    CHECK(strstr(nb_errmsg(), "permute: NULL") != NULL);
    nb_ctx_free(c);
}

TEST(shape, slice_view_copy_and_backward)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_leaf(DTS[k], 2, (size_t[]){3, 4}, NULL); /* 0..11 */
        nb_tensor *rows = nb_slice(c, x, 0, 1, 3);                /* contiguous: a view */
        CHECK_SHAPE(rows, 2, 4);
        CHECK(rows && rows->data == (char *)x->data + 4 * nb_dtype_size(DTS[k]));
        CHECK_VALS(rows, ((double[]){4, 5, 6, 7, 8, 9, 10, 11}), 0);
        nb_tensor *cols = nb_slice(c, x, -1, 1, 3); /* strided: a copy */
        CHECK_SHAPE(cols, 3, 2);
        CHECK_VALS(cols, ((double[]){1, 2, 5, 6, 9, 10}), 0);
        nb_tensor *empty = nb_slice(c, x, 1, 2, 2);
        CHECK_SHAPE(empty, 3, 0);
        /* y = sum(rows * 1) + cols . g: both slices add into their regions */
        nb_tensor *cat = nb_concat(
            c, 2, (nb_tensor *[]){nb_reshape(c, rows, 1, (long[]){-1}), nb_reshape(c, cols, 1, (long[]){-1})}, 0);
        double g[14] = {1, 1, 1, 1, 1, 1, 1, 1, 10, 20, 30, 40, 50, 60};
        CHECK_OK(nb_backward(c, cat, t_vals(c, DTS[k], 1, (size_t[]){14}, g)) == 0);
        CHECK_VALS(x->grad, ((double[]){0, 10, 20, 0, 1, 31, 41, 1, 1, 51, 61, 1}), 0);
        nb_tensor_free(x);
        nb_ctx_free(c);
    }
}

TEST(shape, slice_of_inner_axis_is_a_view_when_outer_dims_are_one)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F32, 3, (size_t[]){1, 4, 2}, NULL);
    nb_tensor *s = nb_slice(c, a, 1, 1, 3);
    CHECK_SHAPE(s, 1, 2, 2);
    CHECK(s && s->data == (float *)a->data + 2);
    CHECK_VALS(s, ((double[]){2, 3, 4, 5}), 0);
    nb_ctx_free(c);
}

TEST(shape, slice_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F64, 2, (size_t[]){3, 4}, NULL);
    CHECK_ERR(nb_slice(c, a, 2, 0, 1), "slice", "axis 2");
    CHECK_ERR(nb_slice(c, a, 1, 3, 2), "slice", "[3:2]");
    CHECK_ERR(nb_slice(c, a, 0, 1, 4), "slice", "size 3");
    CHECK_ERR(nb_slice(c, nb_scalar(c, NB_F64, 1), 0, 0, 1), "slice", "axis 0");
    nb_slice(c, a, 0, 1, 4);
    CHECK(nb_slice(c, NULL, 0, 0, 1) == NULL);
    CHECK(strstr(nb_errmsg(), "slice: [1:4]") != NULL);
    nb_ctx_free(c);
}

TEST(shape, concat_values_and_backward_with_many_inputs)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x[4];
        size_t widths[4] = {1, 2, 1, 3};
        for (int i = 0; i < 4; i++) x[i] = t_leaf(DTS[k], 2, (size_t[]){2, widths[i]}, NULL);
        nb_tensor *y = nb_concat(c, 4, x, -1); /* [2, 7]: n_in > 3 */
        CHECK_SHAPE(y, 2, 7);
        CHECK_VALS(y, ((double[]){0, 0, 1, 0, 0, 1, 2, 1, 2, 3, 1, 3, 4, 5}), 0);
        CHECK_OK(nb_backward(c, y, t_vals(c, DTS[k], 2, (size_t[]){2, 7}, NULL)) == 0);
        CHECK_VALS(x[0]->grad, ((double[]){0, 7}), 0);
        CHECK_VALS(x[1]->grad, ((double[]){1, 2, 8, 9}), 0);
        CHECK_VALS(x[2]->grad, ((double[]){3, 10}), 0);
        CHECK_VALS(x[3]->grad, ((double[]){4, 5, 6, 11, 12, 13}), 0);
        /* axis 0, with an input that needs no gradient */
        nb_tensor *z = t_vals(c, DTS[k], 2, (size_t[]){1, 2}, (double[]){7, 8});
        nb_zero_grad(x[1]);
        nb_tensor *v = nb_concat(c, 2, (nb_tensor *[]){z, x[1]}, 0);
        CHECK_SHAPE(v, 3, 2);
        CHECK_VALS(v, ((double[]){7, 8, 0, 1, 2, 3}), 0);
        CHECK_OK(nb_backward(c, v, t_vals(c, DTS[k], 2, (size_t[]){3, 2}, NULL)) == 0);
        CHECK_VALS(x[1]->grad, ((double[]){2, 3, 4, 5}), 0);
        for (int i = 0; i < 4; i++) nb_tensor_free(x[i]);
        nb_ctx_free(c);
    }
}

TEST(shape, concat_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F64, 2, (size_t[]){2, 3}, NULL);
    nb_tensor *b = t_vals(c, NB_F64, 2, (size_t[]){3, 3}, NULL);
    nb_tensor *f = t_vals(c, NB_F32, 2, (size_t[]){2, 3}, NULL);
    nb_tensor *v = t_vals(c, NB_F64, 1, (size_t[]){3}, NULL);
    CHECK_ERR(nb_concat(c, 2, (nb_tensor *[]){a, b}, 1), "concat", "[3, 3]");
    CHECK_ERR(nb_concat(c, 2, (nb_tensor *[]){a, f}, 0), "concat", "dtypes differ");
    CHECK_ERR(nb_concat(c, 2, (nb_tensor *[]){a, v}, 0), "concat", "tensor 1 [3]");
    CHECK_ERR(nb_concat(c, 2, (nb_tensor *[]){a, b}, 2), "concat", "axis 2");
    CHECK_ERR(nb_concat(c, 0, (nb_tensor *[]){a}, 0), "concat", "at least one");
    CHECK_ERR(nb_concat(c, 1, NULL, 0), "concat", "at least one");
    CHECK(nb_concat(c, 2, (nb_tensor *[]){a, b}, 0) != NULL); /* only dim 0 differs: fine */
    nb_concat(c, 2, (nb_tensor *[]){a, f}, 0);
    CHECK(nb_concat(c, 2, (nb_tensor *[]){a, NULL}, 0) == NULL);
    CHECK(strstr(nb_errmsg(), "dtypes differ") != NULL);
    nb_ctx_free(c);
}
