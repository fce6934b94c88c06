/* Indexing: gather, index_select, where — values, backward (scatter-add,
 * duplicates accumulate, broadcast sums), int32 data, both float dtypes, and
 * every error, bad indices above all (an error naming the value, never a crash). */
#include "t_ops.h"

static const nb_dtype DTS[2] = {NB_F64, NB_F32};
static const double A23[6] = {1, 2, 3, 4, 5, 6};

static nb_tensor *idx(nb_ctx *c, int nd, const size_t *shape, const double *v)
{
    return t_vals(c, NB_I32, nd, shape, v);
}

TEST(index, gather_values_and_scatter_add_backward)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *a = t_leaf(DTS[k], 2, (size_t[]){2, 3}, A23);
        nb_tensor *i1 = idx(c, 2, (size_t[]){2, 2}, (double[]){2, 0, 1, 1});
        nb_tensor *y = nb_gather(c, a, -1, i1); /* out[i][j] = a[i][index[i][j]] */
        CHECK_SHAPE(y, 2, 2);
        CHECK_VALS(y, ((double[]){3, 1, 5, 5}), 0);
        CHECK_OK(nb_backward(c, y, t_vals(c, DTS[k], 2, (size_t[]){2, 2}, (double[]){1, 2, 3, 4})) == 0);
        CHECK_VALS(a->grad, ((double[]){2, 0, 1, 0, 7, 0}), 0); /* the repeated 1 accumulates */
        nb_zero_grad(a);
        /* axis 0 with a smaller index: out[0][j] = a[index[0][j]][j] */
        nb_tensor *y0 = nb_gather(c, a, 0, idx(c, 2, (size_t[]){1, 3}, (double[]){1, 0, 1}));
        CHECK_SHAPE(y0, 1, 3);
        CHECK_VALS(y0, ((double[]){4, 2, 6}), 0);
        CHECK_OK(nb_backward(c, y0, t_vals(c, DTS[k], 2, (size_t[]){1, 3}, (double[]){1, 1, 1})) == 0);
        CHECK_VALS(a->grad, ((double[]){0, 1, 0, 1, 0, 1}), 0);
        nb_tensor_free(a);
        nb_ctx_free(c);
    }
    nb_ctx *c = nb_ctx_new(NULL); /* int32 data is gathered too */
    nb_tensor *ai = idx(c, 1, (size_t[]){4}, (double[]){7, 8, 9, 10});
    nb_tensor *g = nb_gather(c, ai, 0, idx(c, 1, (size_t[]){3}, (double[]){3, 3, 0}));
    CHECK(g && g->dtype == NB_I32);
    CHECK_VALS(g, ((double[]){10, 10, 7}), 0);
    nb_ctx_free(c);
}

TEST(index, gather_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F32, 2, (size_t[]){2, 3}, A23);
    CHECK_ERR(nb_gather(c, a, 1, idx(c, 2, (size_t[]){2, 1}, (double[]){0, 3})), "gather",
              "index 3 is out of range for dimension 1 of size 3");
    CHECK_ERR(nb_gather(c, a, 0, idx(c, 2, (size_t[]){1, 1}, (double[]){-1})), "gather", "index -1");
    CHECK_ERR(nb_gather(c, a, 1, t_vals(c, NB_F32, 2, (size_t[]){2, 1}, NULL)), "gather", "float32; it must be int32");
    CHECK_ERR(nb_gather(c, a, 1, idx(c, 1, (size_t[]){2}, NULL)), "gather", "as many dims");
    CHECK_ERR(nb_gather(c, a, 1, idx(c, 2, (size_t[]){3, 1}, NULL)), "gather", "larger than a [2, 3] in dimension 0");
    CHECK_ERR(nb_gather(c, a, 2, idx(c, 2, (size_t[]){2, 1}, NULL)), "gather", "axis 2");
    CHECK_ERR(nb_gather(c, a, 1, idx(c, 2, (size_t[]){2, 1}, (double[]){0, 3})), "gather", NULL);
    CHECK(nb_gather(c, NULL, 0, idx(c, 1, (size_t[]){1}, NULL)) == NULL && nb_gather(c, a, 0, NULL) == NULL);
    CHECK(strstr(nb_errmsg(), "index 3") != NULL);
    nb_ctx_free(c);
}

TEST(index, index_select_values_and_backward)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *a = t_leaf(DTS[k], 2, (size_t[]){3, 2}, A23);
        nb_tensor *y = nb_index_select(c, a, 0, idx(c, 1, (size_t[]){3}, (double[]){2, 0, 2}));
        CHECK_SHAPE(y, 3, 2);
        CHECK_VALS(y, ((double[]){5, 6, 1, 2, 5, 6}), 0);
        CHECK_OK(nb_backward(c, y, nb_ones(c, DTS[k], 2, (size_t[]){3, 2})) == 0);
        CHECK_VALS(a->grad, ((double[]){1, 1, 0, 0, 2, 2}), 0); /* duplicates accumulate */
        nb_zero_grad(a);
        nb_tensor *col = nb_index_select(c, a, -1, idx(c, 1, (size_t[]){1}, (double[]){1}));
        CHECK_SHAPE(col, 3, 1);
        CHECK_VALS(col, ((double[]){2, 4, 6}), 0);
        CHECK_OK(nb_backward(c, col, t_vals(c, DTS[k], 2, (size_t[]){3, 1}, (double[]){1, 2, 3})) == 0);
        CHECK_VALS(a->grad, ((double[]){0, 1, 0, 2, 0, 3}), 0);
        CHECK_SHAPE(nb_index_select(c, a, 0, idx(c, 1, (size_t[]){0}, NULL)), 0, 2);
        nb_tensor_free(a);
        nb_ctx_free(c);
    }
    nb_ctx *c = nb_ctx_new(NULL); /* int32 labels reordered by a permutation */
    nb_tensor *labels = idx(c, 1, (size_t[]){3}, (double[]){4, 5, 6});
    nb_tensor *l = nb_index_select(c, labels, 0, idx(c, 1, (size_t[]){3}, (double[]){2, 0, 1}));
    CHECK(l && l->dtype == NB_I32);
    CHECK_VALS(l, ((double[]){6, 4, 5}), 0);
    nb_ctx_free(c);
}

TEST(index, index_select_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F64, 2, (size_t[]){3, 2}, A23);
    CHECK_ERR(nb_index_select(c, a, 0, idx(c, 1, (size_t[]){2}, (double[]){0, 3})), "index_select",
              "index 3 is out of range for dimension 0 of size 3");
    CHECK_ERR(nb_index_select(c, a, 1, idx(c, 1, (size_t[]){1}, (double[]){-2})), "index_select", "index -2");
    CHECK_ERR(nb_index_select(c, a, 0, idx(c, 2, (size_t[]){1, 1}, NULL)), "index_select", "must be 1-D");
    CHECK_ERR(nb_index_select(c, a, 0, t_vals(c, NB_F64, 1, (size_t[]){1}, NULL)), "index_select",
              "float64; it must be int32");
    CHECK_ERR(nb_index_select(c, a, -3, idx(c, 1, (size_t[]){1}, NULL)), "index_select", "axis -3");
    nb_index_select(c, a, 0, idx(c, 2, (size_t[]){1, 1}, NULL));
    CHECK(nb_index_select(c, NULL, 0, idx(c, 1, (size_t[]){1}, NULL)) == NULL);
    CHECK(nb_index_select(c, a, 0, NULL) == NULL);
    CHECK(strstr(nb_errmsg(), "1-D") != NULL);
    nb_ctx_free(c);
}

TEST(index, where_broadcasts_and_routes_the_gradient)
{
    for (int k = 0; k < 2; k++) {
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *a = t_leaf(DTS[k], 2, (size_t[]){2, 3}, A23);
        nb_tensor *b = t_leaf(DTS[k], 1, (size_t[]){3}, (double[]){10, 20, 30});
        nb_tensor *cond = idx(c, 2, (size_t[]){2, 1}, (double[]){1, 0});
        nb_tensor *y = nb_where(c, cond, a, b);
        CHECK_SHAPE(y, 2, 3);
        CHECK_VALS(y, ((double[]){1, 2, 3, 10, 20, 30}), 0);
        CHECK_OK(nb_backward(c, y, t_vals(c, DTS[k], 2, (size_t[]){2, 3}, A23)) == 0);
        CHECK_VALS(a->grad, ((double[]){1, 2, 3, 0, 0, 0}), 0);
        CHECK_VALS(b->grad, ((double[]){4, 5, 6}), 0);
        /* a float cond: NaN counts as true, -0 as false; b a 0-d scalar broadcast everywhere */
        nb_zero_grad(a);
        nb_tensor *s = t_leaf(DTS[k], 0, NULL, (double[]){-1});
        nb_tensor *fc = t_vals(c, DTS[k], 1, (size_t[]){3}, (double[]){NAN, -0.0, 2});
        nb_tensor *y2 = nb_where(c, fc, a, s);
        CHECK_VALS(y2, ((double[]){1, -1, 3, 4, -1, 6}), 0);
        CHECK_OK(nb_backward(c, y2, t_vals(c, DTS[k], 2, (size_t[]){2, 3}, A23)) == 0);
        CHECK_VALS(a->grad, ((double[]){1, 0, 3, 4, 0, 6}), 0);
        CHECK_VALS(s->grad, ((double[]){7}), 0); /* 2 + 5, summed over the broadcast */
        nb_tensor_free(a), nb_tensor_free(b), nb_tensor_free(s);
        nb_ctx_free(c);
    }
    nb_ctx *c = nb_ctx_new(NULL); /* int32 operands, a cond that broadcasts up */
    nb_tensor *ci = idx(c, 2, (size_t[]){2, 1}, (double[]){0, 5});
    nb_tensor *y = nb_where(c, ci, idx(c, 1, (size_t[]){2}, (double[]){1, 2}), idx(c, 0, NULL, (double[]){9}));
    CHECK_SHAPE(y, 2, 2);
    CHECK(y && y->dtype == NB_I32);
    CHECK_VALS(y, ((double[]){9, 9, 1, 2}), 0);
    nb_ctx_free(c);
}

TEST(index, where_errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = t_vals(c, NB_F64, 2, (size_t[]){2, 3}, A23), *b = t_vals(c, NB_F64, 1, (size_t[]){3}, NULL);
    nb_tensor *cond = idx(c, 1, (size_t[]){3}, (double[]){1, 0, 1});
    CHECK_ERR(nb_where(c, cond, a, t_vals(c, NB_F32, 1, (size_t[]){3}, NULL)), "where", "dtypes of a and b differ");
    CHECK_ERR(nb_where(c, idx(c, 1, (size_t[]){4}, NULL), a, b), "where",
              "cond [4], a [2, 3] and b [3] do not broadcast");
    CHECK_ERR(nb_where(c, cond, a, t_vals(c, NB_F64, 1, (size_t[]){2}, NULL)), "where", "b [2]");
    nb_where(c, cond, a, t_vals(c, NB_F64, 1, (size_t[]){2}, NULL));
    CHECK(nb_where(c, NULL, a, b) == NULL && nb_where(c, cond, NULL, b) == NULL && nb_where(c, cond, a, NULL) == NULL);
    CHECK(strstr(nb_errmsg(), "b [2]") != NULL);
    nb_ctx_free(c);
}
