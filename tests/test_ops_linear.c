/* nb_linear, the fused Linear(+bias)(+activation): the same values and
 * gradients as the unfused chain matmul, add, activation (every activation,
 * with and without bias, batch 1, odd sizes, float64 and float32); gradients
 * only for the inputs that want them; every error; and the model forward,
 * which fuses a Linear with the activation after it, against anomaly mode,
 * which keeps the ops apart.  Finite differences and PyTorch: the linear.*
 * cases of the op catalogue (test_gradcheck.c, test_torch_ref.c). */
#include "nabla/nn.h"
#include "t_ops.h"

#include <stdlib.h>
#include <string.h>

static nb_tensor *unfused_act(nb_ctx *c, nb_tensor *z, nb_act a, double p)
{
    switch (a) {
    case NB_ACT_RELU: return nb_relu(c, z);
    case NB_ACT_LEAKY_RELU: return nb_leaky_relu(c, z, p);
    case NB_ACT_ELU: return nb_elu(c, z, p);
    case NB_ACT_GELU: return nb_gelu(c, z);
    case NB_ACT_SIGMOID: return nb_sigmoid(c, z);
    case NB_ACT_TANH: return nb_tanh(c, z);
    case NB_ACT_SOFTPLUS: return nb_softplus(c, z);
    default: return z;
    }
}

static nb_tensor *rand_leaf(nb_dtype dt, int nd, const size_t *shape, double scale, nb_rng *r)
{
    nb_tensor *t = nb_tensor_new(dt, nd, shape);
    if (t) {
        nb_fill_uniform(t, -scale, scale, r);
        nb_tensor_set_requires_grad(t, 1);
    }
    return t;
}

/* Largest |a - b| / (1 + |b|) over two tensors of one shape (INFINITY if either is missing). */
static double max_diff(const nb_tensor *a, const nb_tensor *b)
{
    if (!a || !b || a->numel != b->numel) return INFINITY;
    double worst = 0;
    for (size_t i = 0; i < a->numel; i++) {
        double d = fabs(nb_get(a, i) - nb_get(b, i)) / (1 + fabs(nb_get(b, i)));
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

TEST(linear, fused_equals_matmul_add_activation)
{
    /* the last two split their passes over the pool by columns (n <= 128:
     * db takes the rows as they come; over that, block sums) */
    static const size_t shapes[][3] = {{1, 7, 5},     {6, 13, 9},    {33, 40, 17},
                                       {64, 31, 128}, {100, 9, 700}, {300, 5, 240}};
    static const struct {
        nb_act a;
        double p;
    } acts[] = {{NB_ACT_NONE, 0},  {NB_ACT_RELU, 0},    {NB_ACT_LEAKY_RELU, 0.01}, {NB_ACT_LEAKY_RELU, -0.2},
                {NB_ACT_ELU, 1.0}, {NB_ACT_ELU, -0.5},  {NB_ACT_GELU, 0},          {NB_ACT_SIGMOID, 0},
                {NB_ACT_TANH, 0},  {NB_ACT_SOFTPLUS, 0}};
    nb_rng r;
    nb_rng_seed(&r, 7);
    nb_ctx *c = nb_ctx_new(NULL);
    for (int f32 = 0; f32 < 2; f32++) {
        const nb_dtype dt = f32 ? NB_F32 : NB_F64;
        const double tol = f32 ? 1e-5 : 1e-13;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
                for (int bias = 0; bias < 2; bias++) {
                    const size_t n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
                    nb_tensor *x = rand_leaf(dt, 2, (size_t[]){n, in}, 2.0, &r);
                    nb_tensor *w = rand_leaf(dt, 2, (size_t[]){out, in}, 1.0, &r);
                    nb_tensor *b = bias ? rand_leaf(dt, 1, (size_t[]){out}, 1.0, &r) : NULL;
                    nb_tensor *g = nb_empty(c, dt, 2, (size_t[]){n, out});
                    nb_fill_uniform(g, -1, 1, &r);
                    nb_tensor *y1 = nb_linear(c, x, w, b, acts[k].a, acts[k].p);
                    CHECK_OK(y1 && nb_backward(c, y1, g) == 0);
                    nb_tensor *gx = nb_tensor_clone(x->grad), *gw = nb_tensor_clone(w->grad);
                    nb_tensor *gb = b ? nb_tensor_clone(b->grad) : NULL;
                    nb_zero_grad(x);
                    nb_zero_grad(w);
                    nb_zero_grad(b);
                    nb_tensor *z = nb_matmul(c, x, w, 0, 1);
                    if (b) z = nb_add(c, z, b);
                    nb_tensor *y2 = unfused_act(c, z, acts[k].a, acts[k].p);
                    CHECK_OK(y2 && nb_backward(c, y2, g) == 0);
                    double d[4] = {max_diff(y1, y2), max_diff(gx, x->grad), max_diff(gw, w->grad),
                                   b ? max_diff(gb, b->grad) : 0};
                    for (int q = 0; q < 4; q++)
                        CHECK_MSG(d[q] <= tol, "%s [%zu, %zu] x [%zu, %zu]%s act %d (%g): %s differs by %g",
                                  nb_dtype_name(dt), n, in, out, in, bias ? " + b" : "", (int)acts[k].a, acts[k].p,
                                  (const char *[]){"y", "dx", "dw", "db"}[q], d[q]);
                    nb_tensor_free(gx);
                    nb_tensor_free(gw);
                    nb_tensor_free(gb);
                    nb_tensor_free(x);
                    nb_tensor_free(w);
                    nb_tensor_free(b);
                    nb_ctx_reset(c);
                }
    }
    nb_ctx_free(c);
}

/* The forward and backward passes split by columns over the pool: y, dx, dw,
 * db bit for bit the same on 1, 2 and 3 threads, both sides of 128 rows,
 * with and without bias, an activation that keeps z and one that does not. */
TEST(linear, passes_bitwise_identical_for_any_thread_count)
{
    static const size_t shapes[][3] = {{100, 9, 700}, {300, 5, 240}, {129, 3, 1000}};
    static const nb_act acts[] = {NB_ACT_NONE, NB_ACT_RELU, NB_ACT_GELU};
    const int saved = nb_get_threads();
    nb_rng r;
    nb_rng_seed(&r, 29);
    nb_ctx *c = nb_ctx_new(NULL);
    for (int f32 = 0; f32 < 2; f32++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
                for (int bias = 0; bias < 2; bias++) {
                    const nb_dtype dt = f32 ? NB_F32 : NB_F64;
                    const size_t n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
                    nb_tensor *x = rand_leaf(dt, 2, (size_t[]){n, in}, 2.0, &r);
                    nb_tensor *w = rand_leaf(dt, 2, (size_t[]){out, in}, 1.0, &r);
                    nb_tensor *b = bias ? rand_leaf(dt, 1, (size_t[]){out}, 1.0, &r) : NULL;
                    nb_tensor *g = nb_tensor_new(dt, 2, (size_t[]){n, out});
                    nb_fill_uniform(g, -1, 1, &r);
                    nb_tensor *ref[4] = {NULL, NULL, NULL, NULL};
                    for (int threads = 1; threads <= 3; threads++) {
                        CHECK_OK(nb_set_threads(threads) == 0);
                        nb_zero_grad(x);
                        nb_zero_grad(w);
                        nb_zero_grad(b);
                        nb_tensor *y = nb_linear(c, x, w, b, acts[k], 0);
                        CHECK_OK(y && nb_backward(c, y, g) == 0);
                        const nb_tensor *got[4] = {y, x->grad, w->grad, b ? b->grad : NULL};
                        for (int q = 0; q < 4; q++) {
                            if (!got[q]) continue;
                            if (threads == 1) ref[q] = nb_tensor_clone(got[q]);
                            else
                                CHECK_MSG(ref[q] &&
                                              !memcmp(ref[q]->data, got[q]->data, got[q]->numel * nb_dtype_size(dt)),
                                          "%s [%zu, %zu] x [%zu, %zu]%s act %d, %d threads: %s differs from 1 thread",
                                          nb_dtype_name(dt), n, in, out, in, bias ? " + b" : "", (int)acts[k], threads,
                                          (const char *[]){"y", "dx", "dw", "db"}[q]);
                        }
                        nb_ctx_reset(c);
                    }
                    for (int q = 0; q < 4; q++) nb_tensor_free(ref[q]);
                    nb_tensor_free(g);
                    nb_tensor_free(x);
                    nb_tensor_free(w);
                    nb_tensor_free(b);
                }
    nb_ctx_free(c);
    nb_set_threads(saved);
}

TEST(linear, by_hand)
{
    /* x [2, 3], w [2, 3], b [2]: z = x w^T + b, y = relu(z) */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = t_leaf(NB_F64, 2, (size_t[]){2, 3}, (double[]){1, 2, 3, -1, 0, 1});
    nb_tensor *w = t_leaf(NB_F64, 2, (size_t[]){2, 3}, (double[]){1, 0, -1, 0.5, 0.5, 0.5});
    nb_tensor *b = t_leaf(NB_F64, 1, (size_t[]){2}, (double[]){0.5, -1});
    nb_tensor *y = nb_linear(c, x, w, b, NB_ACT_RELU, 0);
    /* z = [[1-3+0.5, 3-1], [-1-1+0.5, 0-1]] = [[-1.5, 2], [-1.5, -1]] */
    CHECK_VALS(y, ((double[]){0, 2, 0, 0}), 0);
    CHECK_OK(nb_backward(c, y, t_vals(c, NB_F64, 2, (size_t[]){2, 2}, (double[]){1, 2, 3, 4})) == 0);
    /* dz = [[0, 2], [0, 0]]: db = [0, 2]; dw = dz^T x = [[0,0,0],[2,4,6]]; dx = dz w = [[1,1,1],[0,0,0]] */
    CHECK_VALS(b->grad, ((double[]){0, 2}), 0);
    CHECK_VALS(w->grad, ((double[]){0, 0, 0, 2, 4, 6}), 0);
    CHECK_VALS(x->grad, ((double[]){1, 1, 1, 0, 0, 0}), 0);
    nb_tensor_free(x);
    nb_tensor_free(w);
    nb_tensor_free(b);
    nb_ctx_free(c);
}

TEST(linear, gradients_only_where_wanted)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = t_vals(c, NB_F32, 2, (size_t[]){3, 4}, NULL); /* constant input */
    nb_tensor *w = t_leaf(NB_F32, 2, (size_t[]){5, 4}, NULL);
    nb_tensor *b = nb_tensor_new(NB_F32, 1, (size_t[]){5}); /* constant bias */
    nb_tensor *y = nb_linear(c, x, w, b, NB_ACT_TANH, 0);
    CHECK_OK(y && nb_requires_grad(y));
    CHECK_OK(nb_backward(c, nb_sum(c, y, NULL, 0, 0), NULL) == 0);
    CHECK(x->grad == NULL && b->grad == NULL && w->grad != NULL);
    /* grad mode off: no node */
    int was = nb_set_grad_enabled(c, 0);
    nb_tensor *y2 = nb_linear(c, x, w, b, NB_ACT_GELU, 0);
    CHECK(y2 && !y2->node && !nb_requires_grad(y2));
    nb_set_grad_enabled(c, was);
    /* nothing requires grad: no node either */
    nb_tensor *y3 = nb_linear(c, x, nb_detach(c, w), NULL, NB_ACT_SOFTPLUS, 0);
    CHECK(y3 && !y3->node);
    nb_tensor_free(w);
    nb_tensor_free(b);
    nb_ctx_free(c);
}

TEST(linear, errors_name_the_op_and_shapes)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = t_vals(c, NB_F64, 2, (size_t[]){2, 3}, NULL);
    nb_tensor *w = t_vals(c, NB_F64, 2, (size_t[]){4, 3}, NULL);
    nb_tensor *b = t_vals(c, NB_F64, 1, (size_t[]){4}, NULL);
    CHECK_OK(nb_linear(c, x, w, b, NB_ACT_NONE, 0));
    CHECK_ERR(nb_linear(c, x, t_vals(c, NB_F64, 2, (size_t[]){4, 2}, NULL), b, NB_ACT_RELU, 0), "linear",
              "x [2, 3] has 3 features but w [4, 2] expects 2");
    CHECK_ERR(nb_linear(c, x, w, t_vals(c, NB_F64, 1, (size_t[]){3}, NULL), NB_ACT_RELU, 0), "linear",
              "bias [3] must be [4] for w [4, 3]");
    CHECK_ERR(nb_linear(c, x, w, t_vals(c, NB_F64, 2, (size_t[]){1, 4}, NULL), NB_ACT_RELU, 0), "linear",
              "bias [1, 4]");
    CHECK_ERR(nb_linear(c, t_vals(c, NB_F64, 1, (size_t[]){3}, NULL), w, b, NB_ACT_RELU, 0), "linear",
              "x [3] must be [N, in]");
    CHECK_ERR(nb_linear(c, x, t_vals(c, NB_F64, 3, (size_t[]){1, 4, 3}, NULL), NULL, NB_ACT_RELU, 0), "linear", "2-D");
    CHECK_ERR(nb_linear(c, x, t_vals(c, NB_F32, 2, (size_t[]){4, 3}, NULL), b, NB_ACT_RELU, 0), "linear",
              "dtypes differ");
    CHECK_ERR(nb_linear(c, x, w, t_vals(c, NB_F32, 1, (size_t[]){4}, NULL), NB_ACT_RELU, 0), "linear", "b [4] float32");
    CHECK_ERR(nb_linear(c, t_vals(c, NB_I32, 2, (size_t[]){2, 3}, NULL), w, b, NB_ACT_RELU, 0), "linear", "int32");
    CHECK_ERR(nb_linear(c, x, w, b, (nb_act)99, 0), "linear", "unknown activation 99");
    CHECK_ERR(nb_linear(c, x, w, b, NB_ACT__COUNT, 0), "linear", "unknown activation");
    /* a NULL input (an earlier op failed) keeps the first message, and says
     * so when there is none */
    nb_clear_error();
    CHECK(nb_linear(c, NULL, w, b, NB_ACT_RELU, 0) == NULL && strstr(nb_errmsg(), "NULL argument"));
    CHECK_ERR(nb_linear(c, x, w, t_vals(c, NB_F32, 1, (size_t[]){4}, NULL), NB_ACT_RELU, 0), "linear", "b [4] float32");
    CHECK(nb_linear(c, NULL, w, b, NB_ACT_RELU, 0) == NULL && strstr(nb_errmsg(), "b [4] float32"));
    nb_ctx_free(c);
}

/* 5-7(relu)-6(gelu, no bias)-6(sigmoid)-6(leaky)-[dropout 0]-3: the fused forward
 * against anomaly mode's unfused one, values, gradients and layer outputs. */
TEST(linear, model_forward_fuses_and_keeps_layer_outputs)
{
    nb_rng r;
    nb_rng_seed(&r, 3);
    nb_model *m = nb_model_new(NB_F64);
    nb_model_linear(m, 5, 7, 1);
    nb_model_act(m, NB_ACT_RELU, 0);
    nb_model_linear(m, 7, 6, 0);
    nb_model_act(m, NB_ACT_GELU, 0);
    nb_model_residual_begin(m);
    nb_model_linear(m, 6, 6, 1);
    nb_model_act(m, NB_ACT_SIGMOID, 0);
    nb_model_residual_end(m);
    nb_model_linear(m, 6, 6, 1);
    nb_model_dropout(m, 0.0);
    nb_model_act(m, NB_ACT_LEAKY_RELU, 0.1);
    nb_model_linear(m, 6, 3, 1);
    CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    const size_t np = nb_model_n_params(m), nl = nb_model_n_layers(m);
    double *g0 = calloc(np, sizeof *g0);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_empty(c, NB_F64, 2, (size_t[]){9, 5});
    nb_fill_uniform(x, -2, 2, &r);
    nb_tensor *y[2], *outs[2][16];
    for (int mode = 0; mode < 2; mode++) { /* 0: fused; 1: anomaly mode, unfused */
        nb_set_detect_anomaly(c, mode ? NB_ANOMALY_CONTINUE : NB_ANOMALY_OFF);
        nb_model_zero_grad(m);
        y[mode] = nb_model_forward(m, c, x, &r);
        CHECK_OK(y[mode] && nb_backward(c, nb_sum(c, nb_mul(c, y[mode], y[mode]), NULL, 0, 0), NULL) == 0);
        for (size_t i = 0; i < nl && i < 16; i++) outs[mode][i] = nb_model_layer_output(m, i);
        if (mode == 0) memcpy(g0, nb_model_grads(m), np * sizeof *g0);
    }
    CHECK(max_diff(y[0], y[1]) <= 1e-14);
    const double *g1 = nb_model_grads(m);
    double worst = 0;
    for (size_t i = 0; i < np; i++) worst = fmax(worst, fabs(g0[i] - g1[i]) / (1 + fabs(g1[i])));
    CHECK_MSG(worst <= 1e-14, "gradients differ by %g", worst);
    CHECK(nl == 9);
    for (size_t i = 0; i < nl && i < 16; i++) {
        const char *k = nb_model_layer_kind(m, i);
        if (i == 0 || i == 2) /* fused into the activation after it: no output of its own */
            CHECK_MSG(outs[0][i] == NULL && outs[1][i] != NULL, "layer %zu (%s)", i, k);
        else CHECK_MSG(outs[0][i] && outs[1][i] && max_diff(outs[0][i], outs[1][i]) <= 1e-14, "layer %zu (%s)", i, k);
    }
    free(g0);
    nb_ctx_free(c);
    nb_model_free(m);
}
