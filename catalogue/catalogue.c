/* The op-case catalogue (see catalogue.h).  Each case is one
 * line of a family list below: op, variant, the nabla call, the PyTorch
 * equivalent, then the input specs.  Every list is expanded twice: once into
 * build functions, once into the table.  A case's inputs come from an nb_rng
 * seeded by a hash of its name, so they never change unless the name does.
 *
 * Input spec shorthands: A any (requires grad), K any (constant: no grad),
 * P positive, W away from kinks, D distinct (no ties), U unit interval,
 * UK unit (no grad), I(lo, hi, ...) int32.  The first number is ndim, then
 * the dims; a scalar is written (0, 0). */
#include "catalogue.h"

#include <string.h>

#define NB__IN(dt, d, req, nd, ...)                                                                 \
    {                                                                                               \
        .dtype = dt, .dom = NB_CASE_##d, .requires_grad = req, .ndim = nd, .shape = { __VA_ARGS__ } \
    }
#define A(nd, ...) NB__IN(NB_F64, ANY, 1, nd, __VA_ARGS__)
#define K(nd, ...) NB__IN(NB_F64, ANY, 0, nd, __VA_ARGS__)
#define P(nd, ...) NB__IN(NB_F64, POSITIVE, 1, nd, __VA_ARGS__)
#define W(nd, ...) NB__IN(NB_F64, AWAY, 1, nd, __VA_ARGS__)
#define D(nd, ...) NB__IN(NB_F64, DISTINCT, 1, nd, __VA_ARGS__)
#define U(nd, ...) NB__IN(NB_F64, UNIT, 1, nd, __VA_ARGS__)
#define UK(nd, ...) NB__IN(NB_F64, UNIT, 0, nd, __VA_ARGS__)
#define I(l, h, nd, ...)                                                                            \
    {                                                                                               \
        .dtype = NB_I32, .dom = NB_CASE_INT, .lo = l, .hi = h, .ndim = nd, .shape = { __VA_ARGS__ } \
    }

/* Shorthands for the nabla calls: x0, x1, ... are the inputs. */
#define x0 in[0]
#define x1 in[1]
#define x2 in[2]
#define AX(...) \
    (const int[]) { __VA_ARGS__ }
#define SH(...) \
    (const long[]) { __VA_ARGS__ }

/* ----------------------------------------------------------- helpers */
/* Dropout with a mask fixed per call (so every forward of a check agrees). */
static nb_tensor *nb__dropout_fixed(nb_ctx *c, nb_tensor *x, double p)
{
    nb_rng r;
    nb_rng_seed(&r, 20240917);
    return nb_dropout(c, x, p, &r);
}

static nb_tensor *nb__dropout_eval(nb_ctx *c, nb_tensor *x, double p)
{
    int was = nb_set_training(c, 0);
    nb_tensor *y = nb__dropout_fixed(c, x, p);
    nb_set_training(c, was);
    return y;
}

/* Batch norm in training mode, batch statistics only (no running ones). */
static nb_tensor *nb__bn_train(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b)
{
    int was = nb_set_training(c, 1);
    nb_tensor *y = nb_batch_norm2d(c, x, w, b, NULL, NULL, 0.1, 1e-5);
    nb_set_training(c, was);
    return y;
}

/* Batch norm in eval mode over fixed running statistics, exact in both
 * dtypes: mean 0.25 k - 0.5, variance 0.25 k + 0.5 for channel k. */
static nb_tensor *nb__bn_eval(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b)
{
    const size_t ch = x->ndim == 4 ? x->shape[1] : 0;
    nb_tensor *rm = nb_empty(c, x->dtype, 1, &ch), *rv = nb_empty(c, x->dtype, 1, &ch);
    if (!rm || !rv) return NULL;
    for (size_t k = 0; k < ch; k++) {
        nb_set(rm, k, 0.25 * (double)k - 0.5);
        nb_set(rv, k, 0.25 * (double)k + 0.5);
    }
    int was = nb_set_training(c, 0);
    nb_tensor *y = nb_batch_norm2d(c, x, w, b, rm, rv, 0.1, 1e-5);
    nb_set_training(c, was);
    return y;
}

/* A custom function through nb_apply: y = a * exp(b) (a, b of one shape),
 * forward with ops, backward by hand from the saved a and exp(b). */
static nb_tensor *nb__mulexp_fwd(nb_fnctx *fc, nb_tensor *const *in, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    /* nb_apply reports "mul_exp: forward failed" (the cases never get here) */
    if (n_in != 2 || !nb_same_shape(in[0], in[1])) return NULL;
    nb_tensor *e = nb_exp(c, in[1]);
    if (!e || nb_fn_save(fc, in[0]) || nb_fn_save(fc, e)) return NULL;
    return nb_mul(c, in[0], e);
}

static int nb__mulexp_bwd(nb_fnctx *fc, const nb_tensor *g, nb_tensor **grad_in, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    const nb_tensor *a = nb_fn_saved(fc, 0), *e = nb_fn_saved(fc, 1);
    if (!a || !e || n_in != 2) return -1; /* nb_fn_saved said why, or nb_apply does */
    for (int i = 0; i < 2; i++) {
        if (!nb_fn_needs_grad(fc, i)) continue;
        nb_tensor *gi = nb_empty(c, g->dtype, g->ndim, g->shape);
        if (!gi) return -1;
        for (size_t k = 0; k < g->numel; k++) /* d/da = e, d/db = a e */
            nb_set(gi, k, nb_get(g, k) * nb_get(e, k) * (i == 0 ? 1.0 : nb_get(a, k)));
        grad_in[i] = gi;
    }
    return 0;
}

static const nb_function nb__mulexp = {"mul_exp", nb__mulexp_fwd, nb__mulexp_bwd};

/* A recurrent op (cell 'r' rnn tanh, 'u' rnn relu, 'l' lstm, 'g' gru) on
 * packed inputs, as the catalogue has at most four: x0 = x [N, T, F], x1 =
 * [weight_ih | weight_hh] [G*H, F+H] (split at column f), x2 = [bias_ih;
 * bias_hh] [2, G*H] when bias, x3 (x2 without bias) = the initial states
 * [S, N, H] (h0; c0) when states.  finals: the sequence runs twice, the
 * second time from the first's final states (h_n, c_n), and the output is
 * the second's, so gradients reach the first run only through its final
 * states; finals 2: two stacked layers (F == H) sharing the weights, the
 * second from zero states; else the op's output. */
static nb_tensor *nb__rec(nb_ctx *c, nb_tensor *const *in, int n_in, int cell, size_t f, int bias, int states,
                          int finals)
{
    nb_tensor *x = in[0], *w = in[1], *b = bias ? in[2] : NULL, *s = states ? in[n_in - 1] : NULL;
    const size_t h = w->shape[1] - f, n = x->shape[0], g = w->shape[0];
    const long hs[2] = {(long)n, (long)h}, bs[1] = {(long)g};
    nb_tensor *wih = nb_slice(c, w, 1, 0, f), *whh = nb_slice(c, w, 1, f, f + h);
    nb_tensor *bih = b ? nb_reshape(c, nb_slice(c, b, 0, 0, 1), 1, bs) : NULL;
    nb_tensor *bhh = b ? nb_reshape(c, nb_slice(c, b, 0, 1, 2), 1, bs) : NULL;
    nb_tensor *h0 = s ? nb_reshape(c, nb_slice(c, s, 0, 0, 1), 2, hs) : NULL;
    nb_tensor *c0 = s && cell == 'l' ? nb_reshape(c, nb_slice(c, s, 0, 1, 2), 2, hs) : NULL;
    if (!wih || !whh || (b && (!bih || !bhh)) || (s && !h0)) return NULL;
    nb_tensor *hn = NULL, *cn = NULL, *y;
    nb_tensor **php = finals ? &hn : NULL, **pcp = finals ? &cn : NULL;
    switch (cell) {
    case 'r': y = nb_rnn(c, x, wih, whh, bih, bhh, h0, NB_ACT_TANH, php); break;
    case 'u': y = nb_rnn(c, x, wih, whh, bih, bhh, h0, NB_ACT_RELU, php); break;
    case 'l': y = nb_lstm(c, x, wih, whh, bih, bhh, h0, c0, php, pcp); break;
    default: y = nb_gru(c, x, wih, whh, bih, bhh, h0, php); break;
    }
    if (!y || !finals) return y;
    if (finals == 2) hn = cn = NULL, x = y; /* stacked: the output is the next layer's input */
    switch (cell) {
    case 'r': return nb_rnn(c, x, wih, whh, bih, bhh, hn, NB_ACT_TANH, NULL);
    case 'u': return nb_rnn(c, x, wih, whh, bih, bhh, hn, NB_ACT_RELU, NULL);
    case 'l': return nb_lstm(c, x, wih, whh, bih, bhh, hn, cn, NULL, NULL);
    default: return nb_gru(c, x, wih, whh, bih, bhh, hn, NULL);
    }
}

/* ------------------------------------------------------------ the cases */
/* X(op, variant, nabla call, torch expression, number of inputs, inputs...) */
#define NB__CASES_ELEMENTWISE(X)                                                                            \
    X(add, same, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 2, 3), A(2, 2, 3))                                   \
    X(add, broadcast_row, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 3, 4), A(1, 4))                             \
    X(add, broadcast_outer, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 3, 1), A(2, 1, 4))                        \
    X(add, size1_dims, nb_add(c, x0, x1), "x0 + x1", 2, A(3, 2, 1, 3), A(3, 1, 1, 3))                       \
    X(add, rank_mismatch, nb_add(c, x0, x1), "x0 + x1", 2, A(3, 2, 3, 4), A(2, 3, 1))                       \
    X(add, scalar_operand, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 2, 3), A(0, 0))                            \
    X(add, const_operand, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 3, 4), K(1, 4))                             \
    X(add, empty, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 2, 0), A(1, 0))                                     \
    X(add, empty_broadcast, nb_add(c, x0, x1), "x0 + x1", 2, A(2, 0, 3), A(1, 3))                           \
    X(sub, same, nb_sub(c, x0, x1), "x0 - x1", 2, A(2, 3, 4), A(2, 3, 4))                                   \
    X(sub, broadcast, nb_sub(c, x0, x1), "x0 - x1", 2, A(2, 3, 4), A(2, 3, 1))                              \
    X(sub, empty, nb_sub(c, x0, x1), "x0 - x1", 2, A(1, 0), A(1, 0))                                        \
    X(mul, same, nb_mul(c, x0, x1), "x0 * x1", 2, A(2, 3, 4), A(2, 3, 4))                                   \
    X(mul, broadcast, nb_mul(c, x0, x1), "x0 * x1", 2, A(3, 2, 1, 4), A(2, 3, 1))                           \
    X(mul, self, nb_mul(c, x0, x0), "x0 * x0", 1, A(2, 3, 4))                                               \
    X(mul, empty, nb_mul(c, x0, x1), "x0 * x1", 2, A(2, 0, 2), A(2, 1, 2))                                  \
    X(div, same, nb_div(c, x0, x1), "x0 / x1", 2, A(2, 3, 4), P(2, 3, 4))                                   \
    X(div, broadcast, nb_div(c, x0, x1), "x0 / x1", 2, A(2, 3, 4), P(1, 4))                                 \
    X(div, scalar_numerator, nb_div(c, x0, x1), "x0 / x1", 2, A(0, 0), W(2, 2, 3))                          \
    X(div, empty, nb_div(c, x0, x1), "x0 / x1", 2, A(2, 0, 3), P(1, 3))                                     \
    X(pow, same, nb_pow(c, x0, x1), "torch.pow(x0, x1)", 2, P(2, 3, 4), A(2, 3, 4))                         \
    X(pow, broadcast, nb_pow(c, x0, x1), "torch.pow(x0, x1)", 2, P(2, 3, 1), A(1, 4))                       \
    X(pow, const_exponent, nb_pow(c, x0, x1), "torch.pow(x0, x1)", 2, P(2, 2, 3), K(2, 2, 3))               \
    X(pow, empty, nb_pow(c, x0, x1), "torch.pow(x0, x1)", 2, P(2, 3, 0), A(1, 0))                           \
    X(neg, basic, nb_neg(c, x0), "-x0", 1, A(2, 3, 4))                                                      \
    X(neg, empty, nb_neg(c, x0), "-x0", 1, A(2, 0, 4))                                                      \
    X(add_scalar, basic, nb_add_scalar(c, x0, 1.5), "x0 + 1.5", 1, A(2, 3, 4))                              \
    X(add_scalar, scalar, nb_add_scalar(c, x0, -0.25), "x0 - 0.25", 1, A(0, 0))                             \
    X(add_scalar, empty, nb_add_scalar(c, x0, 1.5), "x0 + 1.5", 1, A(2, 0, 3))                              \
    X(mul_scalar, basic, nb_mul_scalar(c, x0, -2.5), "x0 * -2.5", 1, A(2, 3, 4))                            \
    X(mul_scalar, empty, nb_mul_scalar(c, x0, 3.0), "x0 * 3.0", 1, A(3, 2, 0, 2))                           \
    X(rsub_scalar, basic, nb_rsub_scalar(c, x0, 3.0), "3.0 - x0", 1, A(2, 3, 4))                            \
    X(rsub_scalar, empty, nb_rsub_scalar(c, x0, 3.0), "3.0 - x0", 1, A(2, 3, 0))                            \
    X(rdiv_scalar, positive, nb_rdiv_scalar(c, x0, 2.0), "2.0 / x0", 1, P(2, 3, 4))                         \
    X(rdiv_scalar, signed, nb_rdiv_scalar(c, x0, -1.5), "-1.5 / x0", 1, W(2, 3, 3))                         \
    X(rdiv_scalar, empty, nb_rdiv_scalar(c, x0, 2.0), "2.0 / x0", 1, P(2, 0, 4))                            \
    X(pow_scalar, sqrt, nb_pow_scalar(c, x0, 0.5), "torch.pow(x0, 0.5)", 1, P(2, 3, 4))                     \
    X(pow_scalar, cube, nb_pow_scalar(c, x0, 3.0), "torch.pow(x0, 3.0)", 1, A(2, 3, 4))                     \
    X(pow_scalar, negative, nb_pow_scalar(c, x0, -1.5), "torch.pow(x0, -1.5)", 1, P(2, 3, 4))               \
    X(pow_scalar, empty, nb_pow_scalar(c, x0, 2.0), "torch.pow(x0, 2.0)", 1, A(2, 0, 3))                    \
    X(exp, basic, nb_exp(c, x0), "torch.exp(x0)", 1, A(2, 3, 4))                                            \
    X(exp, empty, nb_exp(c, x0), "torch.exp(x0)", 1, A(1, 0))                                               \
    X(log, basic, nb_log(c, x0), "torch.log(x0)", 1, P(2, 3, 4))                                            \
    X(log, empty, nb_log(c, x0), "torch.log(x0)", 1, P(1, 0))                                               \
    X(sqrt, basic, nb_sqrt(c, x0), "torch.sqrt(x0)", 1, P(2, 3, 4))                                         \
    X(sqrt, empty, nb_sqrt(c, x0), "torch.sqrt(x0)", 1, P(2, 0, 2))                                         \
    X(abs, basic, nb_abs(c, x0), "torch.abs(x0)", 1, W(2, 3, 4))                                            \
    X(abs, empty, nb_abs(c, x0), "torch.abs(x0)", 1, W(2, 0, 5))                                            \
    X(clamp, unit, nb_clamp(c, x0, -1.0, 1.0), "torch.clamp(x0, -1.0, 1.0)", 1, W(2, 4, 5))                 \
    X(clamp, half, nb_clamp(c, x0, -0.5, 0.5), "torch.clamp(x0, -0.5, 0.5)", 1, W(2, 4, 5))                 \
    X(clamp, empty, nb_clamp(c, x0, -1.0, 1.0), "torch.clamp(x0, -1.0, 1.0)", 1, W(1, 0))                   \
    X(relu, basic, nb_relu(c, x0), "torch.relu(x0)", 1, W(2, 3, 4))                                         \
    X(relu, empty, nb_relu(c, x0), "torch.relu(x0)", 1, W(2, 0, 5))                                         \
    X(leaky_relu, basic, nb_leaky_relu(c, x0, 0.1), "F.leaky_relu(x0, 0.1)", 1, W(2, 3, 4))                 \
    X(leaky_relu, steep, nb_leaky_relu(c, x0, 0.3), "F.leaky_relu(x0, 0.3)", 1, W(3, 2, 2, 3))              \
    X(leaky_relu, empty, nb_leaky_relu(c, x0, 0.1), "F.leaky_relu(x0, 0.1)", 1, W(2, 0, 3))                 \
    X(elu, basic, nb_elu(c, x0, 1.0), "F.elu(x0, 1.0)", 1, W(2, 3, 4))                                      \
    X(elu, alpha, nb_elu(c, x0, 0.5), "F.elu(x0, 0.5)", 1, W(2, 3, 4))                                      \
    X(elu, empty, nb_elu(c, x0, 1.0), "F.elu(x0, 1.0)", 1, W(2, 3, 0))                                      \
    X(gelu, basic, nb_gelu(c, x0), "F.gelu(x0)", 1, A(2, 3, 4))                                             \
    X(gelu, size1, nb_gelu(c, x0), "F.gelu(x0)", 1, A(3, 3, 1, 1))                                          \
    X(gelu, empty, nb_gelu(c, x0), "F.gelu(x0)", 1, A(1, 0))                                                \
    X(sigmoid, basic, nb_sigmoid(c, x0), "torch.sigmoid(x0)", 1, A(2, 3, 4))                                \
    X(sigmoid, large, nb_sigmoid(c, nb_mul_scalar(c, x0, 15.0)), "torch.sigmoid(x0 * 15.0)", 1, A(2, 3, 4)) \
    X(sigmoid, empty, nb_sigmoid(c, x0), "torch.sigmoid(x0)", 1, A(2, 0, 4))                                \
    X(tanh, basic, nb_tanh(c, x0), "torch.tanh(x0)", 1, A(2, 3, 4))                                         \
    X(tanh, empty, nb_tanh(c, x0), "torch.tanh(x0)", 1, A(3, 2, 0, 2))                                      \
    X(softplus, basic, nb_softplus(c, x0), "F.softplus(x0)", 1, A(2, 3, 4))                                 \
    X(softplus, large, nb_softplus(c, nb_mul_scalar(c, x0, 20.0)), "F.softplus(x0 * 20.0)", 1, A(2, 3, 4))  \
    X(softplus, size1, nb_softplus(c, x0), "F.softplus(x0)", 1, A(2, 1, 1))                                 \
    X(softplus, empty, nb_softplus(c, x0), "F.softplus(x0)", 1, A(2, 0, 3))

#define NB__CASES_MATMUL(X)                                                                                       \
    X(matmul, plain, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(2, 3, 4), A(2, 4, 5))                            \
    X(matmul, trans_a, nb_matmul(c, x0, x1, 1, 0), "x0.transpose(-1, -2) @ x1", 2, A(2, 4, 3), A(2, 4, 5))        \
    X(matmul, trans_b, nb_matmul(c, x0, x1, 0, 1), "x0 @ x1.transpose(-1, -2)", 2, A(2, 3, 4), A(2, 5, 4))        \
    X(matmul, trans_ab, nb_matmul(c, x0, x1, 1, 1), "x0.transpose(-1, -2) @ x1.transpose(-1, -2)", 2, A(2, 4, 3), \
      A(2, 5, 4))                                                                                                 \
    X(matmul, batched, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(3, 2, 3, 4), A(3, 2, 4, 5))                    \
    X(matmul, batched_trans_a, nb_matmul(c, x0, x1, 1, 0), "x0.transpose(-1, -2) @ x1", 2, A(3, 2, 4, 3),         \
      A(3, 2, 4, 2))                                                                                              \
    X(matmul, batched_trans_b, nb_matmul(c, x0, x1, 0, 1), "x0 @ x1.transpose(-1, -2)", 2, A(3, 2, 3, 4),         \
      A(3, 2, 5, 4))                                                                                              \
    X(matmul, batched_4d, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(4, 2, 2, 3, 2), A(4, 2, 2, 2, 3))           \
    X(matmul, broadcast_b, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(3, 3, 2, 4), A(2, 4, 5))                   \
    X(matmul, broadcast_a, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(2, 2, 4), A(3, 3, 4, 2))                   \
    X(matmul, broadcast_b_trans, nb_matmul(c, x0, x1, 0, 1), "x0 @ x1.transpose(-1, -2)", 2, A(3, 2, 3, 4),       \
      A(2, 5, 4))                                                                                                 \
    X(matmul, broadcast_a_trans, nb_matmul(c, x0, x1, 1, 0), "x0.transpose(-1, -2) @ x1", 2, A(2, 4, 2),          \
      A(3, 2, 4, 3))                                                                                              \
    X(matmul, size1, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(2, 1, 4), A(2, 4, 1))                            \
    X(matmul, const_a, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, K(2, 3, 4), A(2, 4, 2))                          \
    X(matmul, empty_k, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(2, 3, 0), A(2, 0, 2))                          \
    X(matmul, empty_m, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(2, 0, 4), A(2, 4, 3))                          \
    X(matmul, empty_batch, nb_matmul(c, x0, x1, 0, 0), "x0 @ x1", 2, A(3, 0, 2, 3), A(3, 0, 3, 2))

/* The fused Linear layer: x [N, in], w [out, in], b [out]; every activation,
 * with and without bias, batch 1, odd sizes, constant operands, no rows. */
#define NB__CASES_LINEAR(X)                                                                                            \
    X(linear, none_bias, nb_linear(c, x0, x1, x2, NB_ACT_NONE, 0), "F.linear(x0, x1, x2)", 3, A(2, 3, 4), A(2, 5, 4),  \
      A(1, 5))                                                                                                         \
    X(linear, none_nobias, nb_linear(c, x0, x1, NULL, NB_ACT_NONE, 0), "F.linear(x0, x1)", 2, A(2, 3, 4), A(2, 5, 4))  \
    X(linear, relu_bias, nb_linear(c, x0, x1, x2, NB_ACT_RELU, 0), "torch.relu(F.linear(x0, x1, x2))", 3, A(2, 5, 7),  \
      A(2, 3, 7), A(1, 3))                                                                                             \
    X(linear, relu_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_RELU, 0), "torch.relu(F.linear(x0, x1))", 2,       \
      A(2, 1, 7), A(2, 5, 7))                                                                                          \
    X(linear, relu_wide, nb_linear(c, x0, x1, x2, NB_ACT_RELU, 0), "torch.relu(F.linear(x0, x1, x2))", 3, A(2, 9, 17), \
      A(2, 13, 17), A(1, 13))                                                                                          \
    X(linear, leaky_relu_bias, nb_linear(c, x0, x1, x2, NB_ACT_LEAKY_RELU, 0.1),                                       \
      "F.leaky_relu(F.linear(x0, x1, x2), 0.1)", 3, A(2, 4, 5), A(2, 3, 5), A(1, 3))                                   \
    X(linear, leaky_relu_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_LEAKY_RELU, 0.3),                            \
      "F.leaky_relu(F.linear(x0, x1), 0.3)", 2, A(2, 1, 5), A(2, 7, 5))                                                \
    X(linear, leaky_relu_negative, nb_linear(c, x0, x1, x2, NB_ACT_LEAKY_RELU, -0.2),                                  \
      "F.leaky_relu(F.linear(x0, x1, x2), -0.2)", 3, A(2, 3, 5), A(2, 4, 5), A(1, 4))                                  \
    X(linear, elu_bias, nb_linear(c, x0, x1, x2, NB_ACT_ELU, 1.0), "F.elu(F.linear(x0, x1, x2), 1.0)", 3, A(2, 4, 3),  \
      A(2, 5, 3), A(1, 5))                                                                                             \
    X(linear, elu_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_ELU, 0.5), "F.elu(F.linear(x0, x1), 0.5)", 2,       \
      A(2, 1, 6), A(2, 3, 6))                                                                                          \
    X(linear, elu_negative, nb_linear(c, x0, x1, x2, NB_ACT_ELU, -0.5), "F.elu(F.linear(x0, x1, x2), -0.5)", 3,        \
      A(2, 3, 4), A(2, 3, 4), A(1, 3))                                                                                 \
    X(linear, gelu_bias, nb_linear(c, x0, x1, x2, NB_ACT_GELU, 0), "F.gelu(F.linear(x0, x1, x2))", 3, A(2, 5, 3),      \
      A(2, 4, 3), A(1, 4))                                                                                             \
    X(linear, gelu_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_GELU, 0), "F.gelu(F.linear(x0, x1))", 2,           \
      A(2, 1, 5), A(2, 3, 5))                                                                                          \
    X(linear, sigmoid_bias, nb_linear(c, x0, x1, x2, NB_ACT_SIGMOID, 0), "torch.sigmoid(F.linear(x0, x1, x2))", 3,     \
      A(2, 3, 5), A(2, 7, 5), A(1, 7))                                                                                 \
    X(linear, sigmoid_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_SIGMOID, 0), "torch.sigmoid(F.linear(x0, x1))", \
      2, A(2, 1, 4), A(2, 3, 4))                                                                                       \
    X(linear, tanh_bias, nb_linear(c, x0, x1, x2, NB_ACT_TANH, 0), "torch.tanh(F.linear(x0, x1, x2))", 3, A(2, 5, 4),  \
      A(2, 3, 4), A(1, 3))                                                                                             \
    X(linear, tanh_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_TANH, 0), "torch.tanh(F.linear(x0, x1))", 2,       \
      A(2, 1, 3), A(2, 5, 3))                                                                                          \
    X(linear, softplus_bias, nb_linear(c, x0, x1, x2, NB_ACT_SOFTPLUS, 0), "F.softplus(F.linear(x0, x1, x2))", 3,      \
      A(2, 3, 7), A(2, 5, 7), A(1, 5))                                                                                 \
    X(linear, softplus_nobias_batch1, nb_linear(c, x0, x1, NULL, NB_ACT_SOFTPLUS, 0), "F.softplus(F.linear(x0, x1))",  \
      2, A(2, 1, 3), A(2, 4, 3))                                                                                       \
    X(linear, const_x, nb_linear(c, x0, x1, x2, NB_ACT_TANH, 0), "torch.tanh(F.linear(x0, x1, x2))", 3, K(2, 3, 4),    \
      A(2, 5, 4), A(1, 5))                                                                                             \
    X(linear, const_w_b, nb_linear(c, x0, x1, x2, NB_ACT_RELU, 0), "torch.relu(F.linear(x0, x1, x2))", 3, A(2, 3, 4),  \
      K(2, 5, 4), K(1, 5))                                                                                             \
    X(linear, empty_batch, nb_linear(c, x0, x1, x2, NB_ACT_RELU, 0), "torch.relu(F.linear(x0, x1, x2))", 3,            \
      A(2, 0, 4), A(2, 3, 4), A(1, 3))                                                                                 \
    X(linear, empty_in, nb_linear(c, x0, x1, x2, NB_ACT_SIGMOID, 0), "torch.sigmoid(F.linear(x0, x1, x2))", 3,         \
      A(2, 3, 0), A(2, 4, 0), A(1, 4))

#define NB__CASES_SHAPE(X)                                                                                    \
    X(reshape, flatten, nb_reshape(c, x0, 1, SH(-1)), "x0.reshape(-1)", 1, A(3, 2, 3, 4))                     \
    X(reshape, split, nb_reshape(c, x0, 3, SH(2, 3, 4)), "x0.reshape(2, 3, 4)", 1, A(2, 6, 4))                \
    X(reshape, infer, nb_reshape(c, x0, 2, SH(3, -1)), "x0.reshape(3, -1)", 1, A(2, 4, 6))                    \
    X(reshape, to_scalar, nb_reshape(c, x0, 0, NULL), "x0.reshape(())", 1, A(2, 1, 1))                        \
    X(reshape, empty, nb_reshape(c, x0, 2, SH(3, 0)), "x0.reshape(3, 0)", 1, A(2, 0, 3))                      \
    X(transpose, twod, nb_transpose(c, x0, 0, 1), "x0.transpose(0, 1)", 1, A(2, 3, 4))                        \
    X(transpose, outer, nb_transpose(c, x0, 0, 2), "x0.transpose(0, 2)", 1, A(3, 2, 3, 4))                    \
    X(transpose, size1, nb_transpose(c, x0, 1, 2), "x0.transpose(1, 2)", 1, A(3, 3, 1, 2))                    \
    X(transpose, empty, nb_transpose(c, x0, 0, 1), "x0.transpose(0, 1)", 1, A(2, 0, 3))                       \
    X(permute, threed, nb_permute(c, x0, AX(2, 0, 1)), "x0.permute(2, 0, 1)", 1, A(3, 2, 3, 4))               \
    X(permute, fourd, nb_permute(c, x0, AX(3, 1, 0, 2)), "x0.permute(3, 1, 0, 2)", 1, A(4, 2, 1, 3, 2))       \
    X(permute, empty, nb_permute(c, x0, AX(1, 2, 0)), "x0.permute(1, 2, 0)", 1, A(3, 2, 0, 3))                \
    X(slice, rows, nb_slice(c, x0, 0, 1, 4), "x0[1:4]", 1, A(2, 5, 3))                                        \
    X(slice, cols, nb_slice(c, x0, 1, 1, 3), "x0[:, 1:3]", 1, A(2, 3, 5))                                     \
    X(slice, middle, nb_slice(c, x0, 1, 1, 3), "x0[:, 1:3, :]", 1, A(3, 2, 4, 3))                             \
    X(slice, full, nb_slice(c, x0, 0, 0, 4), "x0[0:4]", 1, A(2, 4, 3))                                        \
    X(slice, empty, nb_slice(c, x0, 0, 2, 2), "x0[2:2]", 1, A(2, 4, 3))                                       \
    X(concat, axis0, nb_concat(c, 2, in, 0), "torch.cat([x0, x1], 0)", 2, A(2, 2, 3), A(2, 4, 3))             \
    X(concat, axis1_three, nb_concat(c, 3, in, 1), "torch.cat([x0, x1, x2], 1)", 3, A(2, 2, 3), A(2, 2, 1),   \
      A(2, 2, 2))                                                                                             \
    X(concat, middle_axis, nb_concat(c, 2, in, 1), "torch.cat([x0, x1], 1)", 2, A(3, 2, 1, 3), A(3, 2, 2, 3)) \
    X(concat, with_empty, nb_concat(c, 2, in, 0), "torch.cat([x0, x1], 0)", 2, A(2, 2, 3), A(2, 0, 3))        \
    X(concat, const_part, nb_concat(c, 2, in, 0), "torch.cat([x0, x1], 0)", 2, A(2, 2, 3), K(2, 1, 3))

#define NB__CASES_REDUCE(X)                                                                                           \
    X(sum, all, nb_sum(c, x0, NULL, 0, 0), "x0.sum()", 1, A(2, 3, 4))                                                 \
    X(sum, axis0, nb_sum(c, x0, AX(0), 1, 0), "x0.sum(dim=0)", 1, A(2, 3, 4))                                         \
    X(sum, axes_keepdim, nb_sum(c, x0, AX(0, 2), 2, 1), "x0.sum(dim=(0, 2), keepdim=True)", 1, A(3, 2, 3, 4))         \
    X(sum, negative_axis, nb_sum(c, x0, AX(-1), 1, 0), "x0.sum(dim=-1)", 1, A(2, 3, 4))                               \
    X(sum, all_keepdim, nb_sum(c, x0, NULL, 0, 1), "x0.sum(dim=(0, 1), keepdim=True)", 1, A(2, 3, 4))                 \
    X(sum, scalar, nb_sum(c, x0, NULL, 0, 0), "x0.sum()", 1, A(0, 0))                                                 \
    X(sum, empty_all, nb_sum(c, x0, NULL, 0, 0), "x0.sum()", 1, A(2, 0, 3))                                           \
    X(sum, empty_axis, nb_sum(c, x0, AX(0), 1, 0), "x0.sum(dim=0)", 1, A(2, 0, 3))                                    \
    X(mean, all, nb_mean(c, x0, NULL, 0, 0), "x0.mean()", 1, A(2, 3, 4))                                              \
    X(mean, axis_keepdim, nb_mean(c, x0, AX(1), 1, 1), "x0.mean(dim=1, keepdim=True)", 1, A(3, 2, 3, 4))              \
    X(mean, axes, nb_mean(c, x0, AX(0, -1), 2, 0), "x0.mean(dim=(0, -1))", 1, A(3, 2, 3, 4))                          \
    X(mean, size1, nb_mean(c, x0, AX(1), 1, 0), "x0.mean(dim=1)", 1, A(3, 3, 1, 2))                                   \
    X(mean, empty_rows, nb_mean(c, x0, AX(1), 1, 0), "x0.mean(dim=1)", 1, A(2, 0, 3))                                 \
    X(max, all, nb_max(c, x0, NULL, 0, 0), "x0.max()", 1, D(2, 3, 4))                                                 \
    X(max, axis1, nb_max(c, x0, AX(1), 1, 0), "torch.amax(x0, dim=1)", 1, D(2, 3, 4))                                 \
    X(max, axes_keepdim, nb_max(c, x0, AX(0, 2), 2, 1), "torch.amax(x0, dim=(0, 2), keepdim=True)", 1, D(3, 2, 3, 4)) \
    X(max, negative_axis, nb_max(c, x0, AX(-1), 1, 0), "torch.amax(x0, dim=-1)", 1, D(2, 3, 4))                       \
    X(max, size1, nb_max(c, x0, AX(1), 1, 0), "torch.amax(x0, dim=1)", 1, D(3, 4, 1, 3))                              \
    X(max, empty_rows, nb_max(c, x0, AX(1), 1, 0), "torch.amax(x0, dim=1)", 1, D(2, 0, 3))                            \
    X(min, all, nb_min(c, x0, NULL, 0, 0), "x0.min()", 1, D(2, 3, 4))                                                 \
    X(min, axis0, nb_min(c, x0, AX(0), 1, 0), "torch.amin(x0, dim=0)", 1, D(2, 3, 4))                                 \
    X(min, empty_rows, nb_min(c, x0, AX(-1), 1, 1), "torch.amin(x0, dim=-1, keepdim=True)", 1, D(2, 0, 3))            \
    X(min, axes_keepdim, nb_min(c, x0, AX(1, 2), 2, 1), "torch.amin(x0, dim=(1, 2), keepdim=True)", 1, D(3, 2, 3, 4))

#define NB__CASES_SOFTMAX(X)                                                                                          \
    X(softmax, last, nb_softmax(c, x0, -1), "torch.softmax(x0, dim=-1)", 1, A(2, 3, 4))                               \
    X(softmax, axis0, nb_softmax(c, x0, 0), "torch.softmax(x0, dim=0)", 1, A(2, 3, 4))                                \
    X(softmax, middle, nb_softmax(c, x0, 1), "torch.softmax(x0, dim=1)", 1, A(3, 2, 3, 4))                            \
    X(softmax, size1, nb_softmax(c, x0, -1), "torch.softmax(x0, dim=-1)", 1, A(2, 3, 1))                              \
    X(softmax, large, nb_softmax(c, nb_mul_scalar(c, x0, 30.0), -1), "torch.softmax(x0 * 30.0, dim=-1)", 1,           \
      A(2, 3, 4))                                                                                                     \
    X(softmax, empty, nb_softmax(c, x0, -1), "torch.softmax(x0, dim=-1)", 1, A(2, 0, 4))                              \
    X(log_softmax, last, nb_log_softmax(c, x0, -1), "torch.log_softmax(x0, dim=-1)", 1, A(2, 3, 4))                   \
    X(log_softmax, axis0, nb_log_softmax(c, x0, 0), "torch.log_softmax(x0, dim=0)", 1, A(2, 3, 4))                    \
    X(log_softmax, middle, nb_log_softmax(c, x0, -2), "torch.log_softmax(x0, dim=-2)", 1, A(3, 2, 3, 4))              \
    X(log_softmax, large, nb_log_softmax(c, nb_mul_scalar(c, x0, 30.0), 1), "torch.log_softmax(x0 * 30.0, dim=1)", 1, \
      A(2, 3, 4))                                                                                                     \
    X(log_softmax, empty, nb_log_softmax(c, x0, 1), "torch.log_softmax(x0, dim=1)", 1, A(2, 0, 4))

#define NB__CASES_LOSS(X)                                                                                             \
    X(cross_entropy, mean, nb_cross_entropy(c, x0, x1, NB_MEAN, 0.0), "F.cross_entropy(x0, x1)", 2, A(2, 4, 5),       \
      I(0, 5, 1, 4))                                                                                                  \
    X(cross_entropy, sum, nb_cross_entropy(c, x0, x1, NB_SUM, 0.0), "F.cross_entropy(x0, x1, reduction='sum')", 2,    \
      A(2, 4, 5), I(0, 5, 1, 4))                                                                                      \
    X(cross_entropy, none, nb_cross_entropy(c, x0, x1, NB_NONE, 0.0), "F.cross_entropy(x0, x1, reduction='none')", 2, \
      A(2, 4, 5), I(0, 5, 1, 4))                                                                                      \
    X(cross_entropy, smooth_mean, nb_cross_entropy(c, x0, x1, NB_MEAN, 0.1),                                          \
      "F.cross_entropy(x0, x1, label_smoothing=0.1)", 2, A(2, 4, 5), I(0, 5, 1, 4))                                   \
    X(cross_entropy, smooth_sum, nb_cross_entropy(c, x0, x1, NB_SUM, 0.2),                                            \
      "F.cross_entropy(x0, x1, reduction='sum', label_smoothing=0.2)", 2, A(2, 3, 6), I(0, 6, 1, 3))                  \
    X(cross_entropy, smooth_none, nb_cross_entropy(c, x0, x1, NB_NONE, 0.3),                                          \
      "F.cross_entropy(x0, x1, reduction='none', label_smoothing=0.3)", 2, A(2, 5, 3), I(0, 3, 1, 5))                 \
    X(cross_entropy, large_logits, nb_cross_entropy(c, nb_mul_scalar(c, x0, 40.0), x1, NB_MEAN, 0.0),                 \
      "F.cross_entropy(x0 * 40.0, x1)", 2, A(2, 4, 5), I(0, 5, 1, 4))                                                 \
    X(cross_entropy, one_row, nb_cross_entropy(c, x0, x1, NB_MEAN, 0.0), "F.cross_entropy(x0, x1)", 2, A(2, 1, 3),    \
      I(0, 3, 1, 1))                                                                                                  \
    X(cross_entropy, empty_none, nb_cross_entropy(c, x0, x1, NB_NONE, 0.0),                                           \
      "F.cross_entropy(x0, x1, reduction='none')", 2, A(2, 0, 5), I(0, 5, 1, 0))                                      \
    X(nll, mean, nb_nll(c, x0, x1, NB_MEAN), "F.nll_loss(x0, x1)", 2, A(2, 4, 5), I(0, 5, 1, 4))                      \
    X(nll, sum, nb_nll(c, x0, x1, NB_SUM), "F.nll_loss(x0, x1, reduction='sum')", 2, A(2, 4, 5), I(0, 5, 1, 4))       \
    X(nll, none, nb_nll(c, x0, x1, NB_NONE), "F.nll_loss(x0, x1, reduction='none')", 2, A(2, 4, 5), I(0, 5, 1, 4))    \
    X(nll, empty_none, nb_nll(c, x0, x1, NB_NONE), "F.nll_loss(x0, x1, reduction='none')", 2, A(2, 0, 3),             \
      I(0, 3, 1, 0))                                                                                                  \
    X(nll, of_log_softmax, nb_nll(c, nb_log_softmax(c, x0, 1), x1, NB_MEAN),                                          \
      "F.nll_loss(torch.log_softmax(x0, 1), x1)", 2, A(2, 3, 4), I(0, 4, 1, 3))                                       \
    X(mse, mean, nb_mse(c, x0, x1, NB_MEAN), "F.mse_loss(x0, x1)", 2, A(2, 3, 4), A(2, 3, 4))                         \
    X(mse, sum, nb_mse(c, x0, x1, NB_SUM), "F.mse_loss(x0, x1, reduction='sum')", 2, A(2, 3, 4), A(2, 3, 4))          \
    X(mse, none, nb_mse(c, x0, x1, NB_NONE), "F.mse_loss(x0, x1, reduction='none')", 2, A(2, 3, 4), A(2, 3, 4))       \
    X(mse, const_target, nb_mse(c, x0, x1, NB_MEAN), "F.mse_loss(x0, x1)", 2, A(1, 6), K(1, 6))                       \
    X(mse, empty_none, nb_mse(c, x0, x1, NB_NONE), "F.mse_loss(x0, x1, reduction='none')", 2, A(2, 0, 3), A(2, 0, 3)) \
    X(bce_with_logits, mean, nb_bce_with_logits(c, x0, x1, NB_MEAN), "F.binary_cross_entropy_with_logits(x0, x1)", 2, \
      A(2, 3, 4), U(2, 3, 4))                                                                                         \
    X(bce_with_logits, sum, nb_bce_with_logits(c, x0, x1, NB_SUM),                                                    \
      "F.binary_cross_entropy_with_logits(x0, x1, reduction='sum')", 2, A(2, 3, 4), UK(2, 3, 4))                      \
    X(bce_with_logits, none, nb_bce_with_logits(c, x0, x1, NB_NONE),                                                  \
      "F.binary_cross_entropy_with_logits(x0, x1, reduction='none')", 2, A(2, 3, 4), UK(2, 3, 4))                     \
    X(bce_with_logits, large_logits, nb_bce_with_logits(c, nb_mul_scalar(c, x0, 20.0), x1, NB_MEAN),                  \
      "F.binary_cross_entropy_with_logits(x0 * 20.0, x1)", 2, A(2, 3, 4), UK(2, 3, 4))                                \
    X(bce_with_logits, empty_none, nb_bce_with_logits(c, x0, x1, NB_NONE),                                            \
      "F.binary_cross_entropy_with_logits(x0, x1, reduction='none')", 2, A(2, 0, 2), U(2, 0, 2))

#define NB__CASES_INDEX(X)                                                                                            \
    X(gather, axis1, nb_gather(c, x0, 1, x1), "torch.gather(x0, 1, x1)", 2, A(2, 3, 4), I(0, 4, 2, 3, 4))             \
    X(gather, axis0, nb_gather(c, x0, 0, x1), "torch.gather(x0, 0, x1)", 2, A(2, 3, 4), I(0, 3, 2, 3, 4))             \
    X(gather, wider, nb_gather(c, x0, 1, x1), "torch.gather(x0, 1, x1)", 2, A(2, 3, 2), I(0, 2, 2, 3, 5))             \
    X(gather, threed, nb_gather(c, x0, 2, x1), "torch.gather(x0, 2, x1)", 2, A(3, 2, 3, 4), I(0, 4, 3, 2, 3, 2))      \
    X(gather, empty, nb_gather(c, x0, 1, x1), "torch.gather(x0, 1, x1)", 2, A(2, 3, 4), I(0, 4, 2, 3, 0))             \
    X(index_select, rows, nb_index_select(c, x0, 0, x1), "torch.index_select(x0, 0, x1)", 2, A(2, 4, 3),              \
      I(0, 4, 1, 6))                                                                                                  \
    X(index_select, cols, nb_index_select(c, x0, 1, x1), "torch.index_select(x0, 1, x1)", 2, A(2, 3, 5),              \
      I(0, 5, 1, 3))                                                                                                  \
    X(index_select, middle, nb_index_select(c, x0, 1, x1), "torch.index_select(x0, 1, x1)", 2, A(3, 2, 4, 3),         \
      I(0, 4, 1, 5))                                                                                                  \
    X(index_select, empty, nb_index_select(c, x0, 0, x1), "torch.index_select(x0, 0, x1)", 2, A(2, 4, 3),             \
      I(0, 4, 1, 0))                                                                                                  \
    X(where, same, nb_where(c, x0, x1, x2), "torch.where(x0 != 0, x1, x2)", 3, I(0, 2, 2, 3, 4), A(2, 3, 4),          \
      A(2, 3, 4))                                                                                                     \
    X(where, broadcast, nb_where(c, x0, x1, x2), "torch.where(x0 != 0, x1, x2)", 3, I(0, 2, 2, 3, 1), A(2, 3, 4),     \
      A(1, 4))                                                                                                        \
    X(where, scalar_branch, nb_where(c, x0, x1, x2), "torch.where(x0 != 0, x1, x2)", 3, I(0, 2, 2, 3, 4), A(2, 3, 4), \
      A(0, 0))                                                                                                        \
    X(where, const_branch, nb_where(c, x0, x1, x2), "torch.where(x0 != 0, x1, x2)", 3, I(0, 2, 2, 2, 3), A(2, 2, 3),  \
      K(2, 2, 3))                                                                                                     \
    X(where, empty, nb_where(c, x0, x1, x2), "torch.where(x0 != 0, x1, x2)", 3, I(0, 2, 2, 0, 4), A(2, 0, 4),         \
      A(2, 0, 4))

/* Convolutional nets: x [N, C, H, W]; conv2d's w [O, C / groups, KH, KW], b [O].
 * Odd shapes: stride 2, padding 2, dilation 2, groups 2, depthwise, 1x1 and
 * rectangular kernels, a kernel as large as the input, batch 1 with one
 * channel, constant operands, empty batches.  Max pooling reads distinct
 * values (no ties; ties are tests/test_ops_conv.c's). */
#define BN_RS(k) "torch.arange(x0.shape[1], dtype=x0.dtype) * 0.25 " k
#define NB__CASES_CONV(X)                                                                                             \
    X(conv2d, plain, nb_conv2d(c, x0, x1, x2, 1, 0, 1, 1), "F.conv2d(x0, x1, x2)", 3, A(4, 2, 3, 5, 5),               \
      A(4, 4, 3, 3, 3), A(1, 4))                                                                                      \
    X(conv2d, stride2_pad2, nb_conv2d(c, x0, x1, x2, 2, 2, 1, 1), "F.conv2d(x0, x1, x2, stride=2, padding=2)", 3,     \
      A(4, 1, 2, 7, 6), A(4, 3, 2, 3, 3), A(1, 3))                                                                    \
    X(conv2d, dilation2_nobias, nb_conv2d(c, x0, x1, NULL, 1, 1, 2, 1), "F.conv2d(x0, x1, padding=1, dilation=2)", 2, \
      A(4, 2, 2, 7, 7), A(4, 3, 2, 3, 3))                                                                             \
    X(conv2d, groups2, nb_conv2d(c, x0, x1, x2, 1, 1, 1, 2), "F.conv2d(x0, x1, x2, padding=1, groups=2)", 3,          \
      A(4, 2, 4, 5, 5), A(4, 6, 2, 3, 3), A(1, 6))                                                                    \
    X(conv2d, depthwise, nb_conv2d(c, x0, x1, x2, 1, 1, 1, 3), "F.conv2d(x0, x1, x2, padding=1, groups=3)", 3,        \
      A(4, 2, 3, 5, 4), A(4, 3, 1, 3, 3), A(1, 3))                                                                    \
    X(conv2d, kernel1x1, nb_conv2d(c, x0, x1, x2, 1, 0, 1, 1), "F.conv2d(x0, x1, x2)", 3, A(4, 2, 3, 4, 4),           \
      A(4, 5, 3, 1, 1), A(1, 5))                                                                                      \
    X(conv2d, kernel_as_input, nb_conv2d(c, x0, x1, x2, 1, 0, 1, 1), "F.conv2d(x0, x1, x2)", 3, A(4, 2, 2, 4, 5),     \
      A(4, 3, 2, 4, 5), A(1, 3))                                                                                      \
    X(conv2d, batch1_one_channel, nb_conv2d(c, x0, x1, x2, 2, 1, 1, 1), "F.conv2d(x0, x1, x2, stride=2, padding=1)",  \
      3, A(4, 1, 1, 6, 6), A(4, 2, 1, 3, 3), A(1, 2))                                                                 \
    X(conv2d, rect_kernel, nb_conv2d(c, x0, x1, x2, 1, 1, 1, 1), "F.conv2d(x0, x1, x2, padding=1)", 3,                \
      A(4, 2, 2, 5, 6), A(4, 3, 2, 2, 3), A(1, 3))                                                                    \
    X(conv2d, const_w, nb_conv2d(c, x0, x1, x2, 2, 1, 1, 1), "F.conv2d(x0, x1, x2, stride=2, padding=1)", 3,          \
      A(4, 2, 2, 5, 5), K(4, 3, 2, 3, 3), K(1, 3))                                                                    \
    X(conv2d, empty, nb_conv2d(c, x0, x1, x2, 1, 1, 1, 1), "F.conv2d(x0, x1, x2, padding=1)", 3, A(4, 0, 2, 4, 4),    \
      A(4, 3, 2, 3, 3), A(1, 3))                                                                                      \
    X(max_pool2d, plain, nb_max_pool2d(c, x0, 2, 2, 0), "F.max_pool2d(x0, 2, 2)", 1, D(4, 2, 3, 6, 6))                \
    X(max_pool2d, pad, nb_max_pool2d(c, x0, 3, 2, 1), "F.max_pool2d(x0, 3, 2, 1)", 1, D(4, 2, 2, 5, 5))               \
    X(max_pool2d, overlap, nb_max_pool2d(c, x0, 3, 1, 0), "F.max_pool2d(x0, 3, 1)", 1, D(4, 1, 2, 5, 6))              \
    X(max_pool2d, whole, nb_max_pool2d(c, x0, 4, 4, 0), "F.max_pool2d(x0, 4, 4)", 1, D(4, 1, 1, 4, 4))                \
    X(max_pool2d, empty, nb_max_pool2d(c, x0, 2, 2, 0), "F.max_pool2d(x0, 2, 2)", 1, D(4, 0, 2, 4, 4))                \
    X(avg_pool2d, plain, nb_avg_pool2d(c, x0, 2, 2, 0), "F.avg_pool2d(x0, 2, 2)", 1, A(4, 2, 3, 6, 6))                \
    X(avg_pool2d, pad, nb_avg_pool2d(c, x0, 3, 2, 1), "F.avg_pool2d(x0, 3, 2, 1)", 1, A(4, 2, 2, 5, 5))               \
    X(avg_pool2d, stride1_pad1, nb_avg_pool2d(c, x0, 3, 1, 1), "F.avg_pool2d(x0, 3, 1, 1)", 1, A(4, 1, 1, 4, 5))      \
    X(avg_pool2d, empty, nb_avg_pool2d(c, x0, 2, 2, 0), "F.avg_pool2d(x0, 2, 2)", 1, A(4, 0, 2, 4, 4))                \
    X(global_avg_pool2d, plain, nb_global_avg_pool2d(c, x0), "x0.mean(dim=(2, 3))", 1, A(4, 2, 3, 4, 5))              \
    X(global_avg_pool2d, one_pixel, nb_global_avg_pool2d(c, x0), "x0.mean(dim=(2, 3))", 1, A(4, 3, 2, 1, 1))          \
    X(global_avg_pool2d, empty, nb_global_avg_pool2d(c, x0), "x0.mean(dim=(2, 3))", 1, A(4, 0, 3, 2, 2))              \
    X(batch_norm2d, train_affine, nb__bn_train(c, x0, x1, x2), "F.batch_norm(x0, None, None, x1, x2, training=True)", \
      3, A(4, 3, 2, 4, 5), A(1, 2), A(1, 2))                                                                          \
    X(batch_norm2d, train_plain, nb__bn_train(c, x0, NULL, NULL), "F.batch_norm(x0, None, None, training=True)", 1,   \
      A(4, 2, 3, 3, 3))                                                                                               \
    X(batch_norm2d, train_batch1, nb__bn_train(c, x0, x1, x2), "F.batch_norm(x0, None, None, x1, x2, training=True)", \
      3, A(4, 1, 3, 2, 2), A(1, 3), A(1, 3))                                                                          \
    X(batch_norm2d, eval_affine, nb__bn_eval(c, x0, x1, x2),                                                          \
      "F.batch_norm(x0, " BN_RS("- 0.5") ", " BN_RS("+ 0.5") ", x1, x2)", 3, A(4, 2, 3, 3, 4), A(1, 3), A(1, 3))      \
    X(batch_norm2d, eval_empty, nb__bn_eval(c, x0, x1, x2),                                                           \
      "F.batch_norm(x0, " BN_RS("- 0.5") ", " BN_RS("+ 0.5") ", x1, x2)", 3, A(4, 0, 3, 2, 2), A(1, 3), A(1, 3))

/* Comparisons: no gradient (gradcheck checks that the derivative is zero away
 * from ties); ties come from comparing x0 with its own first row. */
#define T_(op) "(" op ").to(x0.dtype)"
#define ROW0(x) nb_slice(c, x, 0, 0, 1)
#define NB__CASES_COMPARE(X)                                                      \
    X(gt, same, nb_gt(c, x0, x1), T_("x0 > x1"), 2, A(2, 3, 4), A(2, 3, 4))       \
    X(gt, broadcast, nb_gt(c, x0, x1), T_("x0 > x1"), 2, A(2, 3, 4), A(1, 4))     \
    X(gt, empty, nb_gt(c, x0, x1), T_("x0 > x1"), 2, A(2, 0, 4), A(1, 4))         \
    X(lt, scalar, nb_lt(c, x0, x1), T_("x0 < x1"), 2, A(2, 3, 4), A(0, 0))        \
    X(lt, outer, nb_lt(c, x0, x1), T_("x0 < x1"), 2, A(2, 3, 1), K(1, 4))         \
    X(lt, empty, nb_lt(c, x0, x1), T_("x0 < x1"), 2, A(2, 3, 0), A(2, 3, 0))      \
    X(ge, ties, nb_ge(c, x0, ROW0(x0)), T_("x0 >= x0[0:1]"), 1, A(2, 3, 4))       \
    X(ge, empty, nb_ge(c, x0, x1), T_("x0 >= x1"), 2, A(2, 0, 4), A(0, 0))        \
    X(le, ties, nb_le(c, x0, ROW0(x0)), T_("x0 <= x0[0:1]"), 1, A(2, 3, 4))       \
    X(le, empty, nb_le(c, x0, x1), T_("x0 <= x1"), 2, A(2, 0, 4), A(2, 0, 4))     \
    X(eq, ties, nb_eq(c, x0, ROW0(x0)), T_("x0 == x0[0:1]"), 1, A(2, 3, 4))       \
    X(eq, threed, nb_eq(c, x0, ROW0(x0)), T_("x0 == x0[0:1]"), 1, A(3, 2, 3, 2))  \
    X(eq, empty, nb_eq(c, x0, x1), T_("x0 == x1"), 2, A(2, 0, 4), A(1, 4))        \
    X(ne, ties, nb_ne(c, x0, ROW0(x0)), T_("x0 != x0[0:1]"), 1, A(2, 3, 4))       \
    X(ne, broadcast, nb_ne(c, x0, x1), T_("x0 != x1"), 2, A(2, 3, 1), A(2, 3, 4)) \
    X(ne, empty, nb_ne(c, x0, x1), T_("x0 != x1"), 2, A(1, 0), A(1, 0))

#define NB__CASES_APPLY(X)                                                                                     \
    X(apply, mul_exp, nb_apply(c, &nb__mulexp, 2, in, NULL), "x0 * torch.exp(x1)", 2, A(2, 3, 4), A(2, 3, 4))  \
    X(apply, one_grad, nb_apply(c, &nb__mulexp, 2, in, NULL), "x0 * torch.exp(x1)", 2, K(2, 3, 4), A(2, 3, 4)) \
    X(apply, empty, nb_apply(c, &nb__mulexp, 2, in, NULL), "x0 * torch.exp(x1)", 2, A(2, 0, 4), A(2, 0, 4))

/* Recurrent ops (see nb__rec for the packed inputs): T from 1 to 20, with and
 * without biases and initial states, the final states, an empty batch.
 * torch.rnn_tanh & co. take (x, hx, [w_ih, w_hh, b_ih, b_hh], has_biases,
 * layers, dropout, train, bidirectional, batch_first). */
#define TW(f) "[x1[:, :" #f "], x1[:, " #f ":], x2[0], x2[1]], True, 1, 0.0, False, False, True)"
#define TWNB(f) "[x1[:, :" #f "], x1[:, " #f ":]], False, 1, 0.0, False, False, True)"
#define TZ(h) "x0.new_zeros(1, x0.shape[0], " #h ")"
#define TCH(fn, hx, p) "(lambda r: torch." fn "(x0, r[1], " p "[0])(torch." fn "(x0, " hx ", " p ")"
#define TSTK(fn, hx, hx2, p) "torch." fn "(torch." fn "(x0, " hx ", " p "[0], " hx2 ", " p "[0]"
#define TCHL(hx, p) "(lambda r: torch.lstm(x0, [r[1], r[2]], " p "[0])(torch.lstm(x0, " hx ", " p ")"
#define NB__CASES_RECURRENT(X)                                                                                         \
    X(rnn, tanh_t1, nb__rec(c, in, n_in, 'r', 3, 1, 0, 0), "torch.rnn_tanh(x0, " TZ(4) ", " TW(3) "[0]", 3,            \
      A(3, 2, 1, 3), A(2, 4, 7), A(2, 2, 4))                                                                           \
    X(rnn, tanh_h0_finals, nb__rec(c, in, n_in, 'r', 3, 1, 1, 1), TCH("rnn_tanh", "x3", TW(3)), 4, A(3, 2, 5, 3),      \
      A(2, 4, 7), A(2, 2, 4), A(3, 1, 2, 4))                                                                           \
    X(rnn, tanh_t20, nb__rec(c, in, n_in, 'r', 2, 1, 1, 1), TCH("rnn_tanh", "x3", TW(2)), 4, A(3, 2, 20, 2),           \
      A(2, 3, 5), A(2, 2, 3), A(3, 1, 2, 3))                                                                           \
    X(rnn, relu_h0, nb__rec(c, in, n_in, 'u', 3, 1, 1, 1), TCH("rnn_relu", "x3", TW(3)), 4, A(3, 2, 4, 3), A(2, 4, 7), \
      A(2, 2, 4), A(3, 1, 2, 4))                                                                                       \
    X(rnn, nobias, nb__rec(c, in, n_in, 'r', 3, 0, 1, 1), TCH("rnn_tanh", "x2", TWNB(3)), 3, A(3, 3, 4, 3),            \
      A(2, 4, 7), A(3, 1, 3, 4))                                                                                       \
    X(rnn, const_x, nb__rec(c, in, n_in, 'r', 3, 1, 0, 0), "torch.rnn_tanh(x0, " TZ(4) ", " TW(3) "[0]", 3,            \
      K(3, 2, 3, 3), A(2, 4, 7), A(2, 2, 4))                                                                           \
    X(rnn, empty_batch, nb__rec(c, in, n_in, 'r', 3, 1, 1, 1), TCH("rnn_tanh", "x3", TW(3)), 4, A(3, 0, 3, 3),         \
      A(2, 4, 7), A(2, 2, 4), A(3, 1, 0, 4))                                                                           \
    X(rnn, stacked, nb__rec(c, in, n_in, 'r', 3, 1, 1, 2), TSTK("rnn_tanh", "x3", TZ(3), TW(3)), 4, A(3, 2, 6, 3),     \
      A(2, 3, 6), A(2, 2, 3), A(3, 1, 2, 3))                                                                           \
    X(lstm, stacked, nb__rec(c, in, n_in, 'l', 3, 1, 1, 2),                                                            \
      TSTK("lstm", "[x3[0:1], x3[1:2]]", "[" TZ(3) ", " TZ(3) "]", TW(3)), 4, A(3, 2, 6, 3), A(2, 12, 6), A(2, 2, 12), \
      A(3, 2, 2, 3))                                                                                                   \
    X(gru, stacked, nb__rec(c, in, n_in, 'g', 3, 1, 1, 2), TSTK("gru", "x3", TZ(3), TW(3)), 4, A(3, 2, 6, 3),          \
      A(2, 9, 6), A(2, 2, 9), A(3, 1, 2, 3))                                                                           \
    X(lstm, t1, nb__rec(c, in, n_in, 'l', 3, 1, 0, 0), "torch.lstm(x0, [" TZ(3) ", " TZ(3) "], " TW(3) "[0]", 3,       \
      A(3, 2, 1, 3), A(2, 12, 6), A(2, 2, 12))                                                                         \
    X(lstm, states_finals, nb__rec(c, in, n_in, 'l', 3, 1, 1, 1), TCHL("[x3[0:1], x3[1:2]]", TW(3)), 4, A(3, 2, 5, 3), \
      A(2, 12, 6), A(2, 2, 12), A(3, 2, 2, 3))                                                                         \
    X(lstm, t20, nb__rec(c, in, n_in, 'l', 2, 1, 1, 1), TCHL("[x3[0:1], x3[1:2]]", TW(2)), 4, A(3, 2, 20, 2),          \
      A(2, 8, 4), A(2, 2, 8), A(3, 2, 2, 2))                                                                           \
    X(lstm, zero_states_finals, nb__rec(c, in, n_in, 'l', 3, 1, 0, 1), TCHL("[" TZ(2) ", " TZ(2) "]", TW(3)), 3,       \
      A(3, 3, 4, 3), A(2, 8, 5), A(2, 2, 8))                                                                           \
    X(lstm, nobias, nb__rec(c, in, n_in, 'l', 2, 0, 1, 1), TCHL("[x2[0:1], x2[1:2]]", TWNB(2)), 3, A(3, 2, 3, 2),      \
      A(2, 12, 5), A(3, 2, 2, 3))                                                                                      \
    X(lstm, empty_batch, nb__rec(c, in, n_in, 'l', 3, 1, 1, 1), TCHL("[x3[0:1], x3[1:2]]", TW(3)), 4, A(3, 0, 2, 3),   \
      A(2, 12, 6), A(2, 2, 12), A(3, 2, 0, 3))                                                                         \
    X(gru, t1, nb__rec(c, in, n_in, 'g', 3, 1, 0, 0), "torch.gru(x0, " TZ(3) ", " TW(3) "[0]", 3, A(3, 2, 1, 3),       \
      A(2, 9, 6), A(2, 2, 9))                                                                                          \
    X(gru, h0_finals, nb__rec(c, in, n_in, 'g', 3, 1, 1, 1), TCH("gru", "x3", TW(3)), 4, A(3, 2, 5, 3), A(2, 9, 6),    \
      A(2, 2, 9), A(3, 1, 2, 3))                                                                                       \
    X(gru, t20, nb__rec(c, in, n_in, 'g', 2, 1, 1, 1), TCH("gru", "x3", TW(2)), 4, A(3, 2, 20, 2), A(2, 6, 4),         \
      A(2, 2, 6), A(3, 1, 2, 2))                                                                                       \
    X(gru, nobias, nb__rec(c, in, n_in, 'g', 3, 0, 1, 1), TCH("gru", "x2", TWNB(3)), 3, A(3, 3, 4, 3), A(2, 12, 7),    \
      A(3, 1, 3, 4))                                                                                                   \
    X(gru, empty_batch, nb__rec(c, in, n_in, 'g', 3, 1, 1, 1), TCH("gru", "x3", TW(3)), 4, A(3, 0, 2, 3), A(2, 9, 6),  \
      A(2, 2, 9), A(3, 1, 0, 3))                                                                                       \
    X(embedding, rows, nb_embedding(c, x0, x1), "F.embedding(x1, x0)", 2, A(2, 5, 3), I(0, 5, 1, 7))                   \
    X(embedding, two_d, nb_embedding(c, x0, x1), "F.embedding(x1, x0)", 2, A(2, 4, 2), I(0, 4, 2, 3, 5))               \
    X(embedding, empty, nb_embedding(c, x0, x1), "F.embedding(x1, x0)", 2, A(2, 4, 3), I(0, 4, 1, 0))

/* Dropout has a parameter the tests need (p), and no torch reference where the
 * mask is random: XP(op, variant, nabla call, torch or NULL, p, n, inputs...). */
#define NB__CASES_DROPOUT(XP)                                                       \
    XP(dropout, train, nb__dropout_fixed(c, x0, 0.3), NULL, 0.3, 1, A(2, 6, 5))     \
    XP(dropout, high_p, nb__dropout_fixed(c, x0, 0.8), NULL, 0.8, 1, A(3, 4, 4, 4)) \
    XP(dropout, empty, nb__dropout_fixed(c, x0, 0.5), NULL, 0.5, 1, A(2, 0, 3))     \
    XP(dropout, p_zero, nb__dropout_fixed(c, x0, 0.0), "x0", 0.0, 1, A(2, 3, 4))    \
    XP(dropout, eval_mode, nb__dropout_eval(c, x0, 0.5), "x0", 0.5, 1, A(2, 3, 4))

/* ----------------------------------------------------- expansions */
#define NB__BUILD(op, var, call, tx, n, ...) \
    static nb_tensor *nb__b_##op##__##var(nb_ctx *c, nb_tensor *const *in, int n_in) { return call; }
#define NB__BUILDP(op, var, call, tx, p, n, ...) NB__BUILD(op, var, call, tx, n, 0)
NB__CASES_ELEMENTWISE(NB__BUILD)
NB__CASES_MATMUL(NB__BUILD)
NB__CASES_LINEAR(NB__BUILD)
NB__CASES_SHAPE(NB__BUILD)
NB__CASES_REDUCE(NB__BUILD)
NB__CASES_SOFTMAX(NB__BUILD)
NB__CASES_LOSS(NB__BUILD)
NB__CASES_INDEX(NB__BUILD)
NB__CASES_COMPARE(NB__BUILD)
NB__CASES_APPLY(NB__BUILD)
NB__CASES_CONV(NB__BUILD)
NB__CASES_RECURRENT(NB__BUILD)
NB__CASES_DROPOUT(NB__BUILDP)

#define NB__ENTRY(op_, var, call, tx, n, ...) \
    {.name = #op_ "." #var, .op = #op_, .n_in = n, .in = {__VA_ARGS__}, .build = nb__b_##op_##__##var, .torch = tx},
#define NB__ENTRYP(op_, var, call, tx, p, n, ...) \
    {.name = #op_ "." #var,                       \
     .op = #op_,                                  \
     .n_in = n,                                   \
     .in = {__VA_ARGS__},                         \
     .build = nb__b_##op_##__##var,               \
     .torch = tx,                                 \
     .param = p},

static const nb_opcase nb__cases[] = {
    NB__CASES_ELEMENTWISE(NB__ENTRY) NB__CASES_MATMUL(NB__ENTRY) NB__CASES_LINEAR(NB__ENTRY) NB__CASES_SHAPE(NB__ENTRY)
        NB__CASES_REDUCE(NB__ENTRY) NB__CASES_SOFTMAX(NB__ENTRY) NB__CASES_LOSS(NB__ENTRY) NB__CASES_DROPOUT(NB__ENTRYP)
            NB__CASES_INDEX(NB__ENTRY) NB__CASES_COMPARE(NB__ENTRY) NB__CASES_APPLY(NB__ENTRY) NB__CASES_CONV(NB__ENTRY)
                NB__CASES_RECURRENT(NB__ENTRY)};

#undef A
#undef K
#undef P
#undef W
#undef D
#undef U
#undef UK
#undef I
#undef x0
#undef x1
#undef x2
#undef AX
#undef SH

const nb_opcase *nb_opcases(size_t *n)
{
    if (n) *n = sizeof nb__cases / sizeof nb__cases[0];
    return nb__cases;
}

const nb_opcase *nb_opcase_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof nb__cases / sizeof nb__cases[0]; i++)
        if (strcmp(nb__cases[i].name, name) == 0) return &nb__cases[i];
    return NULL;
}

uint64_t nb_opcase_seed(const nb_opcase *oc)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const char *p = oc && oc->name ? oc->name : ""; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h;
}

/* The values of one input, as doubles, into t (any dtype). */
static void nb__case_fill(nb_tensor *t, const nb_case_input *s, nb_rng *r)
{
    size_t n = t->numel;
    switch (s->dom) {
    case NB_CASE_ANY:
        for (size_t k = 0; k < n; k++) nb_set(t, k, -2.0 + 4.0 * nb_rng_uniform(r));
        break;
    case NB_CASE_POSITIVE:
        for (size_t k = 0; k < n; k++) nb_set(t, k, 0.5 + 1.5 * nb_rng_uniform(r));
        break;
    case NB_CASE_AWAY: /* 0.5 * (m + [0.25, 0.75)), m in -4..3 */
        for (size_t k = 0; k < n; k++) {
            double m = (double)nb_rng_below(r, 8) - 4.0;
            nb_set(t, k, 0.5 * (m + 0.25 + 0.5 * nb_rng_uniform(r)));
        }
        break;
    case NB_CASE_DISTINCT: /* a shuffled grid 0.1 apart, jittered by < 0.05 */
        for (size_t k = 0; k < n; k++) nb_set(t, k, (double)k);
        for (size_t k = n; k > 1; k--) {
            size_t j = (size_t)nb_rng_below(r, k);
            double tmp = nb_get(t, k - 1);
            nb_set(t, k - 1, nb_get(t, j));
            nb_set(t, j, tmp);
        }
        for (size_t k = 0; k < n; k++) nb_set(t, k, 0.1 * (nb_get(t, k) - 0.5 * (double)n) + 0.05 * nb_rng_uniform(r));
        break;
    case NB_CASE_UNIT:
        for (size_t k = 0; k < n; k++) nb_set(t, k, nb_rng_uniform(r));
        break;
    case NB_CASE_INT:
        for (size_t k = 0; k < n; k++)
            nb_set(t, k, s->hi > s->lo ? s->lo + (double)nb_rng_below(r, (uint64_t)(s->hi - s->lo)) : s->lo);
        break;
    }
}

int nb_opcase_inputs(nb_ctx *c, const nb_opcase *oc, nb_dtype float_dt, nb_tensor **in)
{
    /* the catalogue is not the library: it has no error message of its own to set */
    if (!c || !oc || !in || (float_dt != NB_F32 && float_dt != NB_F64)) return -1;
    if (oc->n_in < 0 || oc->n_in > NB_OPCASE_MAX_IN) return -1;
    nb_rng r;
    nb_rng_seed(&r, nb_opcase_seed(oc));
    for (int i = 0; i < oc->n_in; i++) {
        const nb_case_input *s = &oc->in[i];
        nb_dtype dt = s->dtype == NB_I32 ? NB_I32 : float_dt;
        /* Generate in float64 and round once, so both dtypes see the same values. */
        nb_tensor *t64 = nb_empty(c, s->dtype == NB_I32 ? NB_I32 : NB_F64, s->ndim, s->shape);
        if (!t64) return -1;
        nb__case_fill(t64, s, &r);
        nb_tensor *t = t64;
        if (dt != t64->dtype && (!(t = nb_empty(c, dt, s->ndim, s->shape)) || nb_copy_into(t, t64))) return -1;
        if (s->requires_grad && dt != NB_I32 && nb_tensor_set_requires_grad(t, 1)) return -1;
        in[i] = t;
    }
    return 0;
}

nb_tensor *nb_opcase_upstream(nb_ctx *c, const nb_opcase *oc, const nb_tensor *like)
{
    if (!c || !oc || !like) return NULL;
    nb_rng r;
    nb_rng_seed(&r, nb_opcase_seed(oc) ^ 0x5eed0fu); /* a stream apart from the inputs' */
    nb_tensor *g = nb_empty(c, like->dtype == NB_F32 || like->dtype == NB_F64 ? like->dtype : NB_F64, like->ndim,
                            like->shape);
    if (!g) return NULL;
    for (size_t k = 0; k < g->numel; k++) nb_set(g, k, nb_rng_normal(&r));
    return g;
}
