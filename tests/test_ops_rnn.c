/* nb_rnn, nb_lstm, nb_gru and nb_embedding: every error names the op and the
 * shapes; one LSTM and one GRU step by hand; the final states (the last
 * step, the cell state, and the initial states when T = 0, gradients
 * included); a second backward with retain_graph; no graph in no-grad mode;
 * bitwise the same results for 1 and 3 threads; repeated embedding indices
 * summing.  Finite differences and PyTorch: the rnn.*, lstm.*, gru.* and
 * embedding.* cases of the op catalogue (test_gradcheck.c, test_torch_ref.c). */
#include "nabla/nn.h"
#include "nabla/train.h"
#include "t_alloc.h"
#include "t_steady.h"
#include "t_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "kernels/rnn_avx2.h"
#include "kernels/vmath.h"

static nb_tensor *rnn_leaf(nb_dtype dt, int nd, const size_t *shape, nb_rng *r)
{
    nb_tensor *t = nb_tensor_new(dt, nd, shape);
    if (t) {
        nb_fill_uniform(t, -0.5, 0.5, r);
        nb_tensor_set_requires_grad(t, 1);
    }
    return t;
}

/* The parameters and inputs of one layer: x [N, T, F], weights for G gates, h0, c0. */
typedef struct rnn_set {
    nb_tensor *x, *wih, *whh, *bih, *bhh, *h0, *c0;
} rnn_set;

static rnn_set rnn_set_new(nb_dtype dt, size_t g, size_t n, size_t t, size_t f, size_t h, uint64_t seed)
{
    nb_rng r;
    nb_rng_seed(&r, seed);
    rnn_set s = {rnn_leaf(dt, 3, (size_t[]){n, t, f}, &r),  rnn_leaf(dt, 2, (size_t[]){g * h, f}, &r),
                 rnn_leaf(dt, 2, (size_t[]){g * h, h}, &r), rnn_leaf(dt, 1, (size_t[]){g * h}, &r),
                 rnn_leaf(dt, 1, (size_t[]){g * h}, &r),    rnn_leaf(dt, 2, (size_t[]){n, h}, &r),
                 rnn_leaf(dt, 2, (size_t[]){n, h}, &r)};
    return s;
}

static void rnn_set_free(rnn_set *s)
{
    nb_tensor *all[] = {s->x, s->wih, s->whh, s->bih, s->bhh, s->h0, s->c0};
    for (int i = 0; i < 7; i++) nb_tensor_free(all[i]);
}

static void rnn_set_zero_grad(rnn_set *s)
{
    nb_tensor *all[] = {s->x, s->wih, s->whh, s->bih, s->bhh, s->h0, s->c0};
    for (int i = 0; i < 7; i++) nb_zero_grad(all[i]);
}

TEST(rnn, errors_name_the_op_and_shapes)
{
    nb_ctx *c = nb_ctx_new(NULL);
    rnn_set s = rnn_set_new(NB_F32, 4, 2, 3, 5, 6, 1);
    nb_tensor *h = NULL, *cn = NULL;
    nb_tensor *x2 = nb_zeros(c, NB_F32, 2, (size_t[]){2, 5});
    nb_tensor *x64 = nb_zeros(c, NB_F64, 3, (size_t[]){2, 3, 5});
    nb_tensor *xi = nb_zeros(c, NB_I32, 3, (size_t[]){2, 3, 5});
    CHECK_ERR(nb_lstm(c, x2, s.wih, s.whh, s.bih, s.bhh, NULL, NULL, &h, &cn), "lstm: x [2, 5]", "[N, T, F]");
    CHECK(h == NULL && cn == NULL);
    CHECK_ERR(nb_lstm(c, x64, s.wih, s.whh, s.bih, s.bhh, NULL, NULL, NULL, NULL), "lstm: dtypes differ",
              "weight_ih [24, 5] float32");
    CHECK_ERR(nb_lstm(c, xi, s.wih, s.whh, NULL, NULL, NULL, NULL, NULL, NULL), "lstm", "[2, 3, 5]");
    /* a gru's weights are 3*H tall, not 4*H */
    CHECK_ERR(nb_gru(c, s.x, s.wih, s.whh, s.bih, s.bhh, NULL, NULL), "gru: weight_hh [24, 6]", "[3*H, H]");
    CHECK_ERR(nb_rnn(c, s.x, s.wih, s.whh, NULL, NULL, NULL, NB_ACT_TANH, NULL), "rnn: weight_hh [24, 6]", "[H, H]");
    CHECK_ERR(nb_lstm(c, s.x, s.whh, s.whh, NULL, NULL, NULL, NULL, NULL, NULL), "lstm: weight_ih [24, 6]",
              "[24, 5] ([4*H, F]) for x [2, 3, 5]");
    CHECK_ERR(nb_lstm(c, s.x, s.wih, s.whh, s.h0, s.bhh, NULL, NULL, NULL, NULL), "lstm: bias_ih [2, 6]", "[24]");
    CHECK_ERR(nb_lstm(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, s.bih, NULL, NULL), "lstm: c0 [24]", "[N, H] = [2, 6]");
    CHECK_ERR(nb_lstm(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.bhh, NULL, NULL, NULL), "lstm: h0 [24]", "[2, 6]");
    CHECK_ERR(nb_rnn(c, s.x, s.wih, s.whh, NULL, NULL, NULL, NB_ACT_SIGMOID, &h), "rnn: nonlinearity", "tanh or relu");
    CHECK_ERR(nb_gru(c, NULL, s.wih, s.whh, NULL, NULL, NULL, NULL), "gru", "NULL argument");
    /* embedding */
    nb_tensor *idx = t_vals(c, NB_I32, 1, (size_t[]){3}, (double[]){0, 30, 1});
    nb_tensor *fidx = nb_zeros(c, NB_F32, 1, (size_t[]){3});
    CHECK_ERR(nb_embedding(c, s.wih, idx), "embedding: index 30 is out of range", "weight [24, 5]");
    CHECK_ERR(nb_embedding(c, s.bih, idx), "embedding: weight [24]", "[V, D]");
    CHECK_ERR(nb_embedding(c, s.whh, fidx), "embedding: index [3] is float32", "int32");
    rnn_set_free(&s);
    nb_ctx_free(c);
}

/* One step, N = 1, H = 1, F = 1, by hand: PyTorch's equations and gate order. */
TEST(rnn, one_step_by_hand)
{
    nb_ctx *c = nb_ctx_new(NULL);
    const double xv = 0.7, h0v = -0.3, c0v = 0.4;
    double wi[4] = {0.5, -0.25, 0.75, 1.5}, wh[4] = {-0.5, 0.25, 0.6, -1.0}, bi[4] = {0.1, 0.2, -0.3, 0.05},
           bh[4] = {-0.2, 0.3, 0.1, 0.0};
    nb_tensor *x = t_vals(c, NB_F64, 3, (size_t[]){1, 1, 1}, &xv), *h0 = t_vals(c, NB_F64, 2, (size_t[]){1, 1}, &h0v);
    nb_tensor *c0 = t_vals(c, NB_F64, 2, (size_t[]){1, 1}, &c0v);
    double a[4];
    for (int k = 0; k < 4; k++) a[k] = wi[k] * xv + bi[k] + wh[k] * h0v + bh[k];
    /* lstm: i f g o */
    double sg[4];
    for (int k = 0; k < 4; k++) sg[k] = 1 / (1 + exp(-a[k]));
    const double cl = sg[1] * c0v + sg[0] * tanh(a[2]), hl = sg[3] * tanh(cl);
    nb_tensor *hn = NULL, *cn = NULL;
    nb_tensor *y = nb_lstm(c, x, t_vals(c, NB_F64, 2, (size_t[]){4, 1}, wi), t_vals(c, NB_F64, 2, (size_t[]){4, 1}, wh),
                           t_vals(c, NB_F64, 1, (size_t[]){4}, bi), t_vals(c, NB_F64, 1, (size_t[]){4}, bh), h0, c0,
                           &hn, &cn);
    CHECK_VALS(y, ((double[]){hl}), 1e-14);
    CHECK_VALS(hn, ((double[]){hl}), 1e-14);
    CHECK_VALS(cn, ((double[]){cl}), 1e-14);
    /* gru: r z n, the reset gate on (W_hn h + b_hn) */
    const double r = 1 / (1 + exp(-a[0])), z = 1 / (1 + exp(-a[1]));
    const double n = tanh(wi[2] * xv + bi[2] + r * (wh[2] * h0v + bh[2])), hg = (1 - z) * n + z * h0v;
    y = nb_gru(c, x, t_vals(c, NB_F64, 2, (size_t[]){3, 1}, wi), t_vals(c, NB_F64, 2, (size_t[]){3, 1}, wh),
               t_vals(c, NB_F64, 1, (size_t[]){3}, bi), t_vals(c, NB_F64, 1, (size_t[]){3}, bh), h0, NULL);
    CHECK_VALS(y, ((double[]){hg}), 1e-14);
    /* rnn relu clips a negative pre-activation to 0 */
    y = nb_rnn(c, x, t_vals(c, NB_F64, 2, (size_t[]){1, 1}, (double[]){-1}), t_vals(c, NB_F64, 2, (size_t[]){1, 1}, wh),
               NULL, NULL, NULL, NB_ACT_RELU, NULL);
    CHECK_VALS(y, ((double[]){0}), 0);
    nb_ctx_free(c);
}

TEST(rnn, final_states_and_zero_steps)
{
    nb_ctx *c = nb_ctx_new(NULL);
    rnn_set s = rnn_set_new(NB_F64, 4, 3, 5, 2, 4, 2);
    nb_tensor *hn = NULL, *cn = NULL;
    nb_tensor *y = nb_lstm(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, s.c0, &hn, &cn);
    CHECK_SHAPE(y, 3, 5, 4);
    CHECK_SHAPE(hn, 3, 4);
    CHECK_SHAPE(cn, 3, 4);
    for (size_t n = 0; y && hn && n < 3; n++)
        for (size_t j = 0; j < 4; j++) CHECK(nb_get(hn, n * 4 + j) == nb_get(y, (n * 5 + 4) * 4 + j));
    /* T = 0: the initial states come back, and their gradient flows to them */
    nb_tensor *x0 = nb_zeros(c, NB_F64, 3, (size_t[]){3, 0, 2});
    y = nb_lstm(c, x0, s.wih, s.whh, s.bih, s.bhh, s.h0, s.c0, &hn, &cn);
    CHECK_SHAPE(y, 3, 0, 4);
    for (size_t i = 0; hn && cn && i < 12; i++)
        CHECK(nb_get(hn, i) == nb_get(s.h0, i) && nb_get(cn, i) == nb_get(s.c0, i));
    nb_tensor *loss = nb_add(c, nb_sum(c, hn, NULL, 0, 0), nb_mul_scalar(c, nb_sum(c, cn, NULL, 0, 0), 2.0));
    CHECK(nb_backward(c, loss, NULL) == 0);
    CHECK(nb_grad(s.h0) && nb_get(nb_grad(s.h0), 5) == 1.0 && nb_grad(s.c0) && nb_get(nb_grad(s.c0), 7) == 2.0);
    CHECK_ERR(nb_gru(c, x0, s.wih, s.whh, NULL, NULL, NULL, &hn), "gru: weight_hh [16, 4]", NULL); /* 4*H tall */
    nb_tensor *w3 = nb_zeros(c, NB_F64, 2, (size_t[]){12, 2}), *u3 = nb_zeros(c, NB_F64, 2, (size_t[]){12, 4});
    y = nb_gru(c, x0, w3, u3, NULL, NULL, NULL, &hn);
    CHECK_SHAPE(hn, 3, 4);
    CHECK(hn && nb_get(hn, 11) == 0.0);
    rnn_set_free(&s);
    nb_ctx_free(c);
}

/* loss = sum(y) + sum(h_n) + sum(c_n) backward twice (retain_graph): every
 * gradient doubles exactly, so the c_n gradient is not counted twice. */
TEST(rnn, second_backward_with_retain_graph_doubles)
{
    nb_ctx *c = nb_ctx_new(NULL);
    rnn_set s = rnn_set_new(NB_F64, 4, 2, 6, 3, 5, 3);
    nb_tensor *hn, *cn;
    nb_tensor *y = nb_lstm(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, s.c0, &hn, &cn);
    nb_tensor *loss = nb_add(c, nb_add(c, nb_sum(c, y, NULL, 0, 0), nb_sum(c, hn, NULL, 0, 0)),
                             nb_sum(c, nb_mul(c, cn, cn), NULL, 0, 0));
    nb_backward_opts o = {.retain_graph = 1};
    CHECK(nb_backward_ex(c, loss, NULL, &o) == 0);
    nb_tensor *g1 = nb_tensor_clone(nb_grad(s.whh)), *g1c = nb_tensor_clone(nb_grad(s.c0));
    CHECK(nb_backward_ex(c, loss, NULL, &o) == 0);
    CHECK(g1 && g1c);
    for (size_t i = 0; g1 && i < g1->numel; i++) CHECK(nb_get(nb_grad(s.whh), i) == 2 * nb_get(g1, i));
    for (size_t i = 0; g1c && i < g1c->numel; i++) CHECK(nb_get(nb_grad(s.c0), i) == 2 * nb_get(g1c, i));
    nb_tensor_free(g1);
    nb_tensor_free(g1c);
    /* no-grad mode: the same values, no graph */
    int was = nb_set_grad_enabled(c, 0);
    nb_tensor *y2 = nb_lstm(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, s.c0, &hn, &cn);
    nb_set_grad_enabled(c, was);
    CHECK(y2 && !y2->node && !nb_requires_grad(y2) && cn && !cn->node);
    for (size_t i = 0; y2 && i < y2->numel; i++) CHECK(nb_get(y2, i) == nb_get(y, i));
    rnn_set_free(&s);
    nb_ctx_free(c);
}

/* Forward and backward of each cell in float32 with 1 and 3 threads: bitwise equal. */
TEST(rnn, bitwise_same_for_any_thread_count)
{
    const int before = nb_get_threads();
    nb_ctx *c = nb_ctx_new(NULL);
    for (int cell = 0; cell < 3; cell++) {
        const size_t g = cell == 0 ? 1 : cell == 1 ? 4 : 3;
        /* 70 rows: chunks of 32, 32 and 6 (kernels/rnn.h), run by 1 or 3 threads */
        rnn_set s = rnn_set_new(NB_F32, g, 70, 9, 40, 48, 10 + (uint64_t)cell);
        nb_tensor *keep[2][3] = {{0}};
        for (int run = 0; run < 2; run++) {
            nb_set_threads(run ? 3 : 1);
            rnn_set_zero_grad(&s);
            nb_tensor *hn = NULL, *cn = NULL;
            nb_tensor *y = cell == 0   ? nb_rnn(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, NB_ACT_TANH, &hn)
                           : cell == 1 ? nb_lstm(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, s.c0, &hn, &cn)
                                       : nb_gru(c, s.x, s.wih, s.whh, s.bih, s.bhh, s.h0, &hn);
            nb_tensor *loss = nb_add(c, nb_sum(c, nb_mul(c, y, y), NULL, 0, 0), nb_sum(c, hn, NULL, 0, 0));
            CHECK(nb_backward(c, loss, NULL) == 0);
            keep[run][0] = nb_tensor_clone(y);
            keep[run][1] = nb_tensor_clone(nb_grad(s.wih));
            keep[run][2] = nb_tensor_clone(nb_grad(s.x));
            nb_ctx_reset(c);
        }
        for (int k = 0; k < 3; k++) {
            CHECK(keep[0][k] && keep[1][k]);
            if (keep[0][k] && keep[1][k])
                CHECK_MSG(!memcmp(keep[0][k]->data, keep[1][k]->data, keep[0][k]->numel * sizeof(float)),
                          "cell %d, tensor %d differs between 1 and 3 threads", cell, k);
            nb_tensor_free(keep[0][k]);
            nb_tensor_free(keep[1][k]);
        }
        rnn_set_free(&s);
    }
    nb_set_threads(before);
    nb_ctx_free(c);
}

#if defined(NB__RNN_X86)
/* The AVX2 rows of the float32 LSTM cell against the formulas of rnn.inc's
 * scalar loops, in their order: bitwise equal, with and without c_{t-1}, on
 * a width with a tail (37) and a multiple of 8. */
TEST(rnn, lstm_avx2_rows_are_the_scalar_bits)
{
    if (!nb__cpu_has_avx2()) return;
    nb_rng r;
    nb_rng_seed(&r, 77);
    static const size_t hs[2] = {37, 128};
    for (int k = 0; k < 2; k++)
        for (int with_cp = 0; with_cp < 2; with_cp++) {
            const size_t h = hs[k];
            float g[4 * 128], cp[128], tc[128], dy[128], dh[128], dc[128], dc2[128], dg[4 * 128], dg2[4 * 128];
            float cn[128], tcn[128], ho[128], cn2[128], tcn2[128], ho2[128];
            for (size_t j = 0; j < 4 * h; j++) g[j] = (float)nb_rng_uniform(&r);
            for (size_t j = 0; j < h; j++) {
                cp[j] = (float)(nb_rng_uniform(&r) * 4 - 2);
                tc[j] = (float)(nb_rng_uniform(&r) * 2 - 1);
                dy[j] = (float)(nb_rng_uniform(&r) - 0.5);
                dh[j] = (float)(nb_rng_uniform(&r) - 0.5);
                dc[j] = dc2[j] = (float)(nb_rng_uniform(&r) - 0.5);
            }
            const float *c = with_cp ? cp : NULL;
            nb__lstm_fwd_row_avx2_f32(h, g, c, cn, tcn, ho);
            nb__lstm_bwd_row_avx2_f32(h, g, c, tc, dy, dh, dc, dg);
            for (size_t j = 0; j < h; j++) {
                const float i = g[j], f = g[h + j], gg = g[2 * h + j], o = g[3 * h + j];
                cn2[j] = (c ? f * c[j] : 0.0f) + i * gg;
                const float d = dy[j] + dh[j], dcj = dc2[j] + d * o * (1.0f - tc[j] * tc[j]);
                dg2[j] = dcj * gg * i * (1.0f - i);
                dg2[h + j] = c ? dcj * c[j] * f * (1.0f - f) : 0.0f;
                dg2[2 * h + j] = dcj * i * (1.0f - gg * gg);
                dg2[3 * h + j] = d * tc[j] * o * (1.0f - o);
                dc2[j] = dcj * f;
            }
            nb__vtanh_f32(tcn2, cn2, h);
            for (size_t j = 0; j < h; j++) ho2[j] = g[3 * h + j] * tcn2[j];
            CHECK_MSG(!memcmp(cn, cn2, h * 4) && !memcmp(tcn, tcn2, h * 4) && !memcmp(ho, ho2, h * 4),
                      "forward row differs (h %zu, c_{t-1} %d)", h, with_cp);
            CHECK_MSG(!memcmp(dg, dg2, 4 * h * 4) && !memcmp(dc, dc2, h * 4),
                      "backward row differs (h %zu, c_{t-1} %d)", h, with_cp);
        }
}
#endif

TEST(embedding, repeated_indices_sum_their_gradients)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *w = t_leaf(NB_F32, 2, (size_t[]){4, 2}, NULL);
    nb_tensor *idx = t_vals(c, NB_I32, 2, (size_t[]){2, 2}, (double[]){3, 1, 3, 3});
    nb_tensor *y = nb_embedding(c, w, idx);
    CHECK_SHAPE(y, 2, 2, 2);
    CHECK_VALS(y, ((double[]){6, 7, 2, 3, 6, 7, 6, 7}), 0);
    CHECK(nb_backward(c, nb_sum(c, y, NULL, 0, 0), NULL) == 0);
    CHECK_VALS(nb_grad(w), ((double[]){0, 0, 1, 1, 0, 0, 3, 3}), 0);
    nb_tensor_free(w);
    nb_ctx_free(c);
}

/* The layers of the description: PyTorch's parameter names and shapes, the
 * description written back, torch's init bounds, an image read as rows, and
 * the model's forward equal to the ops called by hand. */
TEST(rnn_layers, names_shapes_init_and_forward)
{
    nb_model *m = nb_model_from_spec("lstm(6,layers=2) gru(5,seq=1) rnn(4,nonlinearity=relu) linear(3)", NB_F64, 3,
                                     (size_t[]){1, 7, 3});
    CHECK_OK(m);
    if (!m) return;
    static const struct {
        const char *name;
        size_t d0, d1;
    } want[] = {{"layers.0.weight_ih_l0", 24, 3}, {"layers.0.weight_hh_l0", 24, 6}, {"layers.0.bias_ih_l0", 24, 0},
                {"layers.0.bias_hh_l0", 24, 0},   {"layers.0.weight_ih_l1", 24, 6}, {"layers.0.weight_hh_l1", 24, 6},
                {"layers.1.weight_ih_l0", 15, 6}, {"layers.1.bias_hh_l0", 15, 0},   {"layers.2.weight_ih_l0", 4, 5},
                {"layers.2.weight_hh_l0", 4, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const nb_model_entry *e = nb_model_find(m, want[i].name);
        CHECK_MSG(e && e->t->shape[0] == want[i].d0 &&
                      (want[i].d1 ? e->t->ndim == 2 && e->t->shape[1] == want[i].d1 : e->t->ndim == 1),
                  "%s", want[i].name);
    }
    CHECK(!nb_model_find(m, "layers.0.weight_ih_l2") && !nb_model_find(m, "layers.1.weight_ih_l1"));
    CHECK(nb_model_out_width(m) == 3 && !strcmp(nb_model_layer_kind(m, 0), "lstm"));
    char *spec = nb_model_spec(m);
    CHECK_MSG(spec && !strcmp(spec, "lstm(6,layers=2) gru(5,seq=1) rnn(4,nonlinearity=relu) linear(3)"), "%s",
              spec ? spec : "NULL");
    free(spec);
    nb_rng r;
    nb_rng_seed(&r, 3);
    CHECK(nb_model_init(m, NB_INIT_HE_NORMAL, 0, &r) == 0);
    const nb_model_entry *w = nb_model_find(m, "layers.1.weight_hh_l0"), *b = nb_model_find(m, "layers.0.bias_ih_l1");
    double most = 0;
    for (size_t i = 0; w && i < w->t->numel; i++) most = fmax(most, fabs(nb_get(w->t, i)));
    CHECK(most > 0 && most <= 1 / sqrt(5.0));
    CHECK(b && nb_get(b->t, 0) != 0 && fabs(nb_get(b->t, 0)) <= 1 / sqrt(6.0));

    /* the model forward, against the ops by hand (image [1, 7, 3]: 7 steps of 3) */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_uniform(c, NB_F64, 2, (size_t[]){2, 21}, -1, 1, &r);
    nb_tensor *y = nb_model_forward(m, c, x, NULL);
    CHECK_SHAPE(y, 2, 3);
#define E(name) nb_model_find(m, name)->t
    nb_tensor *h = nb_reshape(c, x, 3, (long[]){2, 7, 3});
    h = nb_lstm(c, h, E("layers.0.weight_ih_l0"), E("layers.0.weight_hh_l0"), E("layers.0.bias_ih_l0"),
                E("layers.0.bias_hh_l0"), NULL, NULL, NULL, NULL);
    h = nb_lstm(c, h, E("layers.0.weight_ih_l1"), E("layers.0.weight_hh_l1"), E("layers.0.bias_ih_l1"),
                E("layers.0.bias_hh_l1"), NULL, NULL, NULL, NULL);
    nb_tensor *hn;
    h = nb_gru(c, nb_reshape(c, nb_slice(c, h, 1, 6, 7), 3, (long[]){2, 1, 6}), E("layers.1.weight_ih_l0"),
               E("layers.1.weight_hh_l0"), E("layers.1.bias_ih_l0"), E("layers.1.bias_hh_l0"), NULL, NULL);
    h = nb_rnn(c, h, E("layers.2.weight_ih_l0"), E("layers.2.weight_hh_l0"), E("layers.2.bias_ih_l0"),
               E("layers.2.bias_hh_l0"), NULL, NB_ACT_RELU, &hn);
    nb_tensor *want_y = nb_linear(c, hn, E("layers.3.weight"), E("layers.3.bias"), NB_ACT_NONE, 0);
#undef E
    CHECK(want_y && y && !memcmp(want_y->data, y->data, 6 * sizeof(double)));
    CHECK(y && nb_backward(c, nb_sum(c, y, NULL, 0, 0), NULL) == 0);
    CHECK(nb_grad(nb_model_find(m, "layers.0.weight_hh_l0")->t) != NULL);
    nb_ctx_free(c);
    nb_model_free(m);
}

TEST(rnn_layers, embedding_and_description_errors)
{
    nb_model *m = nb_model_from_spec("embedding(5,3) lstm(4) linear(2)", NB_F32, 1, (size_t[]){6});
    CHECK_OK(m);
    if (m) {
        const nb_model_entry *w = nb_model_find(m, "layers.0.weight");
        CHECK(w && w->t->shape[0] == 5 && w->t->shape[1] == 3);
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *x = t_vals(c, NB_F32, 2, (size_t[]){1, 6}, (double[]){0, 4, 2, 2, 1, 3});
        CHECK_SHAPE(nb_model_forward(m, c, x, NULL), 1, 2);
        nb_set(x, 3, 5);
        CHECK_ERR(nb_model_forward(m, c, x, NULL), "embedding: input value 5", "[0, 5)");
        nb_ctx_free(c);
        nb_model_free(m);
    }
    CHECK_ERR(nb_model_from_spec("rnn(8,nonlinearity=gelu)", NB_F32, 2, (size_t[]){4, 3}), "nonlinearity='gelu'",
              "tanh relu");
    CHECK_ERR(nb_model_from_spec("lstm(8,layers=5)", NB_F32, 2, (size_t[]){4, 3}), "layers", "out of range");
    CHECK_ERR(nb_model_from_spec("lstm(8)", NB_F32, 4, (size_t[]){1, 2, 4, 3}), "lstm", "[steps, features]");
}

/* After warm-up, a training step of a recurrent model (stacked LSTM, a GRU,
 * an embedding) makes zero heap allocations: all scratch is in the arena. */
TEST(rnn_layers, training_step_makes_no_heap_allocation_after_warmup)
{
#if !T_ALLOC_INTERPOSED
    T_SKIP("allocation counting needs glibc without ASan");
#else
    const char *why;
    if (!t_alloc_usable(&why)) {
        T_SKIP("%s", why);
        return;
    }
    enum { B = 16, T = 8, CLASSES = 5 };
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_model *m = nb_model_from_spec("embedding(11,6) lstm(12,layers=2,seq=1) gru(8) linear(5)", NB_F32, 1,
                                     (size_t[]){T});
    CHECK_OK(m);
    if (!m) return;
    CHECK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    long allocs = t_steady_allocs(m, &r,
                                  &(t_steady){.batch = B, .in = T, .vocab = 11, .classes = CLASSES, .steps = 10});
    CHECK_MSG(allocs == 0, "%ld heap allocations in 8 steady-state steps", allocs);
    nb_model_free(m);
#endif
}
