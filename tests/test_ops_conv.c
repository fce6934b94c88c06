/* The convolution family (src/ops/conv.c): every error names the op and the
 * shapes; conv2d's im2col path against the naive reference loops (odd
 * shapes, groups, both dtypes); max pooling sends the gradient to the FIRST
 * maximum of a window with ties; batch norm's running statistics (PyTorch's
 * momentum, unbiased variance) and eval mode; results bitwise identical for
 * 1 to 4 threads.  Finite differences and PyTorch values: the conv2d.*,
 * max_pool2d.*, avg_pool2d.*, global_avg_pool2d.* and batch_norm2d.* cases
 * of the op catalogue (test_gradcheck.c, test_torch_ref.c). */
#include "internal.h"
#include "kernels/conv.h"
#include "t_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nb_tensor *rleaf(nb_dtype dt, int nd, const size_t *shape, nb_rng *r)
{
    nb_tensor *t = nb_tensor_new(dt, nd, shape);
    if (t) {
        nb_fill_uniform(t, -1, 1, r);
        nb_tensor_set_requires_grad(t, 1);
    }
    return t;
}

TEST(conv, errors_name_the_op_and_shapes)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F32, 4, (size_t[]){2, 4, 5, 5});
    nb_tensor *x3 = nb_zeros(c, NB_F32, 3, (size_t[]){4, 5, 5});
    nb_tensor *xd = nb_zeros(c, NB_F64, 4, (size_t[]){2, 4, 5, 5});
    nb_tensor *w = nb_zeros(c, NB_F32, 4, (size_t[]){6, 4, 3, 3});
    nb_tensor *w2 = nb_zeros(c, NB_F32, 4, (size_t[]){6, 2, 3, 3});
    nb_tensor *b5 = nb_zeros(c, NB_F32, 1, (size_t[]){5});
    nb_tensor *xi = nb_zeros(c, NB_I32, 4, (size_t[]){2, 4, 5, 5});
    CHECK_ERR(nb_conv2d(c, x3, w, NULL, 1, 0, 1, 1), "conv2d", "[4, 5, 5] must be 4-D");
    CHECK_ERR(nb_conv2d(c, x, x3, NULL, 1, 0, 1, 1), "conv2d: w [4, 5, 5]", "in / groups");
    CHECK_ERR(nb_conv2d(c, x, w2, NULL, 1, 0, 1, 1), "w [6, 2, 3, 3] expects 2 input channels", "x [2, 4, 5, 5]");
    CHECK_ERR(nb_conv2d(c, x, w, NULL, 1, 0, 1, 3), "groups = 3", "[2, 4, 5, 5]");
    CHECK_ERR(nb_conv2d(c, x, w, NULL, 1, 0, 1, 0), "groups = 0", NULL);
    CHECK_ERR(nb_conv2d(c, x, w, b5, 1, 0, 1, 1), "conv2d: bias [5] must be [6]", "[6, 4, 3, 3]");
    CHECK_ERR(nb_conv2d(c, x, w, NULL, 0, 0, 1, 1), "conv2d: stride 0", "[2, 4, 5, 5]");
    CHECK_ERR(nb_conv2d(c, x, w, NULL, 1, -1, 1, 1), "padding -1", NULL);
    CHECK_ERR(nb_conv2d(c, x, w, NULL, 1, 0, 0, 1), "dilation 0", NULL);
    CHECK_ERR(nb_conv2d(c, x, w, NULL, 1, 0, 3, 1), "3x3 window (dilation 3) does not fit x [2, 4, 5, 5]", NULL);
    CHECK_ERR(nb_conv2d(c, xd, w, NULL, 1, 0, 1, 1), "conv2d: dtypes differ", "float64");
    CHECK_ERR(nb_conv2d(c, xi, w, NULL, 1, 0, 1, 1), "conv2d", NULL);
    CHECK_ERR(nb_conv2d(c, NULL, w, NULL, 1, 0, 1, 1), "nb_conv2d", "NULL");
    CHECK_ERR(nb_max_pool2d(c, x, 0, 1, 0), "max_pool2d: kernel = 0", "[2, 4, 5, 5]");
    CHECK_ERR(nb_max_pool2d(c, x, 2, 2, 2), "max_pool2d: padding = 2", "kernel / 2");
    CHECK_ERR(nb_max_pool2d(c, x, 7, 1, 0), "max_pool2d: the 7x7 window", "[2, 4, 5, 5]");
    CHECK_ERR(nb_avg_pool2d(c, x3, 2, 2, 0), "avg_pool2d: x [4, 5, 5] must be 4-D", NULL);
    CHECK_ERR(nb_avg_pool2d(c, x, 2, 0, 0), "avg_pool2d: stride 0", NULL);
    CHECK_ERR(nb_global_avg_pool2d(c, x3), "global_avg_pool2d: x [4, 5, 5]", NULL);
    CHECK_ERR(nb_global_avg_pool2d(c, nb_zeros(c, NB_F32, 4, (size_t[]){2, 3, 0, 4})), "global_avg_pool2d",
              "empty planes");
    nb_tensor *v4 = nb_zeros(c, NB_F32, 1, (size_t[]){4}), *v3 = nb_zeros(c, NB_F32, 1, (size_t[]){3});
    CHECK_ERR(nb_batch_norm2d(c, x, v3, NULL, NULL, NULL, 0.1, 1e-5), "batch_norm2d: weight [3]", "[2, 4, 5, 5]");
    CHECK_ERR(nb_batch_norm2d(c, x, NULL, v4, NULL, NULL, 0.1, 1e-5), "batch_norm2d: a bias without a weight", NULL);
    CHECK_ERR(nb_batch_norm2d(c, x, v4, v4, v4, NULL, 0.1, 1e-5), "both running_mean and running_var", NULL);
    CHECK_ERR(nb_batch_norm2d(c, x, v4, v4, NULL, NULL, 1.5, 1e-5), "momentum = 1.5", NULL);
    CHECK_ERR(nb_batch_norm2d(c, nb_zeros(c, NB_F32, 4, (size_t[]){1, 4, 1, 1}), v4, v4, NULL, NULL, 0.1, 1e-5),
              "more than one value per channel", "[1, 4, 1, 1]");
    int was = nb_set_training(c, 0);
    CHECK_ERR(nb_batch_norm2d(c, x, v4, v4, NULL, NULL, 0.1, 1e-5), "eval mode needs running_mean", NULL);
    nb_set_training(c, was);
    nb_ctx_free(c);
}

/* Random shapes through the im2col + gemm path and through the naive loops. */
TEST(conv, im2col_path_matches_reference_loops)
{
    static const size_t cases[][10] = {/* n, c, h, w, o, kh, kw, stride, pad, dil (groups below) */
                                       {2, 3, 9, 7, 5, 3, 3, 1, 1, 1},
                                       {1, 4, 8, 8, 8, 3, 3, 2, 2, 1},
                                       {3, 2, 10, 9, 4, 3, 2, 1, 0, 2},
                                       {2, 6, 6, 6, 6, 3, 3, 1, 1, 1},
                                       {4, 1, 28, 28, 8, 3, 3, 1, 1, 1},
                                       {2, 8, 5, 5, 4, 1, 1, 1, 0, 1},
                                       {2, 3, 4, 5, 2, 4, 5, 1, 0, 1},
                                       {1, 4, 7, 7, 4, 5, 5, 3, 2, 1},
                                       /* stride 1, output as wide as x (im2col's shifted-plane copy):
                                          dilation 2 with padding 2, a 3x1 window (fewer rows out),
                                          a window larger than x, a 5x5 window */
                                       {2, 3, 6, 5, 4, 3, 3, 1, 2, 2},
                                       {2, 2, 6, 5, 4, 3, 1, 1, 0, 1},
                                       {1, 2, 2, 2, 3, 3, 3, 1, 1, 1},
                                       {2, 2, 5, 6, 2, 5, 5, 1, 2, 1}};
    static const size_t groups[] = {1, 2, 1, 6, 1, 4, 1, 2, 1, 2, 1, 1};
    nb_rng r;
    nb_rng_seed(&r, 16);
    nb_ctx *c = nb_ctx_new(NULL);
    for (int f32 = 0; f32 < 2; f32++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const size_t *s = cases[k], G = groups[k];
            const nb_dtype dt = f32 ? NB_F32 : NB_F64;
            nb_tensor *x = nb_uniform(c, dt, 4, (size_t[]){s[0], s[1], s[2], s[3]}, -1, 1, &r);
            nb_tensor *w = nb_uniform(c, dt, 4, (size_t[]){s[4], s[1] / G, s[5], s[6]}, -1, 1, &r);
            nb_tensor *b = nb_uniform(c, dt, 1, (size_t[]){s[4]}, -1, 1, &r);
            nb_tensor *y = nb_conv2d(c, x, w, b, (int)s[7], (int)s[8], (int)s[9], (int)G);
            CHECK_OK(y);
            if (!y) continue;
            nb_k_win2d g = {s[0], s[1], s[2], s[3], s[5], s[6], s[7], s[8], s[9], y->shape[2], y->shape[3]};
            nb_tensor *want = nb_empty(c, dt, 4, y->shape);
            if (f32) nb_k_conv2d_ref_f32(want->data, x->data, w->data, b->data, &g, s[4], G);
            else nb_k_conv2d_ref_f64(want->data, x->data, w->data, b->data, &g, s[4], G);
            double worst = 0;
            for (size_t i = 0; i < y->numel; i++) {
                const double d = fabs(nb_get(y, i) - nb_get(want, i));
                if (!(d <= worst)) worst = d;
            }
            CHECK_MSG(worst <= (f32 ? 1e-5 : 1e-12), "%s case %zu: differs by %g", nb_dtype_name(dt), k, worst);
            nb_ctx_reset(c);
        }
    nb_ctx_free(c);
}

TEST(conv, max_pool_gradient_goes_to_the_first_maximum)
{
    nb_ctx *c = nb_ctx_new(NULL);
    /* one 3x4 plane: ties in both 2x2 windows of the top row (stride 2) and in
     * the overlapping 3x3 window with padding 1 */
    nb_tensor *x = t_leaf(NB_F64, 4, (size_t[]){1, 1, 3, 4}, (double[]){1, 2, 5, 5, 2, 2, 5, 5, 0, 0, 0, 0});
    nb_tensor *y = nb_max_pool2d(c, x, 2, 2, 0);
    CHECK_VALS(y, ((double[]){2, 5}), 0);
    CHECK_OK(nb_backward(c, y, t_vals(c, NB_F64, 4, (size_t[]){1, 1, 1, 2}, (double[]){10, 20})) == 0);
    /* window 1 (1 2 / 2 2): the 2 at (0, 1); window 2: the 5 at (0, 2) */
    CHECK_VALS(x->grad, ((double[]){0, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 0);
    nb_zero_grad(x);
    nb_ctx_reset(c);
    y = nb_max_pool2d(c, x, 3, 1, 1); /* [1, 1, 3, 4], windows read -inf in the padding */
    CHECK_VALS(y, ((double[]){2, 5, 5, 5, 2, 5, 5, 5, 2, 5, 5, 5}), 0);
    CHECK_OK(nb_backward(c, y, nb_ones(c, NB_F64, 4, y->shape)) == 0);
    /* (0,0), (1,0): the first 2, (0,1); (0,1..3), (1,1..3): (0,2); (2,0): (1,0);
     * (2,1..3): (1,2) */
    CHECK_VALS(x->grad, ((double[]){0, 2, 6, 0, 1, 0, 3, 0, 0, 0, 0, 0}), 0);
    /* a NaN in a window wins, as in PyTorch */
    nb_ctx_reset(c);
    nb_tensor *xn = t_vals(c, NB_F32, 4, (size_t[]){1, 1, 2, 2}, (double[]){1, NAN, 3, 2});
    y = nb_max_pool2d(c, xn, 2, 2, 0);
    CHECK(y && isnan(nb_get(y, 0)));
    nb_tensor_free(x);
    nb_ctx_free(c);
}

/* The 2x2 stride-2 pool (an AVX2 loop in float32) against plain loops: ties
 * everywhere (values from {0, 1, 2}), NaNs, a width with a tail (38: 19
 * outputs = 8 + 8 + 3) and an odd height; values, and the gradient at the
 * first maximum of each window. */
TEST(conv, max_pool_2x2_matches_plain_loops)
{
    nb_ctx *c = nb_ctx_new(NULL);
    const size_t N = 2, C = 3, H = 9, W = 38, OH = 4, OW = 19;
    nb_rng r;
    nb_rng_seed(&r, 21);
    nb_tensor *x = nb_tensor_new(NB_F32, 4, (size_t[]){N, C, H, W});
    float *xv = x->data;
    for (size_t i = 0; i < x->numel; i++)
        xv[i] = nb_rng_uniform(&r) < 0.03 ? NAN : (float)(int)(nb_rng_uniform(&r) * 3);
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = nb_max_pool2d(c, x, 2, 2, 0);
    CHECK(y && y->shape[2] == OH && y->shape[3] == OW);
    nb_tensor *dy = nb_zeros(c, NB_F32, 4, y->shape);
    for (size_t i = 0; i < dy->numel; i++) ((float *)dy->data)[i] = (float)(i + 1);
    CHECK_OK(nb_backward(c, y, dy) == 0);
    float *want = calloc(x->numel, sizeof *want);
    int bad_y = 0;
    for (size_t pl = 0; pl < N * C; pl++)
        for (size_t oy = 0; oy < OH; oy++)
            for (size_t ox = 0; ox < OW; ox++) {
                size_t at = pl * H * W + 2 * oy * W + 2 * ox;
                float best = xv[at];
                for (size_t i = 0; i < 2; i++)
                    for (size_t j = 0; j < 2; j++) {
                        const size_t k = pl * H * W + (2 * oy + i) * W + 2 * ox + j;
                        if (xv[k] > best || (isnan(xv[k]) && !isnan(best))) best = xv[k], at = k;
                    }
                const size_t o = (pl * OH + oy) * OW + ox;
                const float got = ((float *)y->data)[o];
                bad_y += !(got == best || (isnan(got) && isnan(best)));
                want[at] += (float)(o + 1);
            }
    CHECK_MSG(!bad_y, "%d pooled values differ", bad_y);
    CHECK_MSG(!memcmp(want, x->grad->data, x->numel * sizeof *want), "the gradient went to another maximum");
    free(want);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(conv, avg_pool_counts_the_padding)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = t_vals(c, NB_F64, 4, (size_t[]){1, 1, 2, 2}, (double[]){1, 2, 3, 4});
    /* 3x3 windows, padding 1, stride 1: every window divides by 9 */
    nb_tensor *y = nb_avg_pool2d(c, x, 3, 1, 1);
    CHECK_VALS(y, ((double[]){10.0 / 9, 10.0 / 9, 10.0 / 9, 10.0 / 9}), 1e-15);
    nb_tensor *g = nb_global_avg_pool2d(c, x);
    CHECK_SHAPE(g, 1, 1);
    CHECK_VALS(g, ((double[]){2.5}), 0);
    nb_ctx_free(c);
}

TEST(conv, batch_norm_running_statistics)
{
    nb_ctx *c = nb_ctx_new(NULL);
    /* x [2, 1, 1, 2] = 1 2 3 6: mean 3, biased var 3.5, unbiased 14/3 */
    for (int f32 = 0; f32 < 2; f32++) {
        const nb_dtype dt = f32 ? NB_F32 : NB_F64;
        nb_tensor *x = t_vals(c, dt, 4, (size_t[]){2, 1, 1, 2}, (double[]){1, 2, 3, 6});
        nb_tensor *rm = nb_tensor_new(dt, 1, (size_t[]){1}), *rv = nb_tensor_new(dt, 1, (size_t[]){1});
        nb_fill(rm, 1);
        nb_fill(rv, 2);
        nb_tensor *y = nb_batch_norm2d(c, x, NULL, NULL, rm, rv, 0.25, 0);
        const double s = 1 / sqrt(3.5);
        CHECK_VALS(y, ((double[]){-2 * s, -s, 0, 3 * s}), f32 ? 1e-6 : 1e-15);
        CHECK_VALS(rm, ((double[]){0.75 * 1 + 0.25 * 3}), 1e-7);
        CHECK_VALS(rv, ((double[]){0.75 * 2 + 0.25 * 14.0 / 3}), 1e-7);
        /* eval: the running statistics, untouched */
        int was = nb_set_training(c, 0);
        nb_tensor *w = t_vals(c, dt, 1, (size_t[]){1}, (double[]){2}),
                  *b = t_vals(c, dt, 1, (size_t[]){1}, (double[]){1});
        y = nb_batch_norm2d(c, x, w, b, rm, rv, 0.25, 0);
        const double m = 1.5, r = 1 / sqrt(0.75 * 2 + 0.25 * 14.0 / 3);
        CHECK_VALS(y, ((double[]){(1 - m) * r * 2 + 1, (2 - m) * r * 2 + 1, (3 - m) * r * 2 + 1, (6 - m) * r * 2 + 1}),
                   f32 ? 1e-6 : 1e-14);
        CHECK_VALS(rm, ((double[]){1.5}), 1e-7);
        nb_set_training(c, was);
        nb_tensor_free(rm);
        nb_tensor_free(rv);
        nb_ctx_reset(c);
    }
    nb_ctx_free(c);
}

/* One forward and backward of conv, pools and batch norm; returns the bytes of
 * the output and of every gradient, concatenated (malloc'd, *n bytes). */
static unsigned char *run_net(nb_dtype dt, int threads, size_t *n)
{
    nb_set_threads(threads);
    nb_rng r;
    nb_rng_seed(&r, 99);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = rleaf(dt, 4, (size_t[]){20, 6, 16, 16}, &r); /* 8 chunks of 2 or 3 images in conv2d's dw */
    nb_tensor *w = rleaf(dt, 4, (size_t[]){16, 3, 3, 3}, &r), *b = rleaf(dt, 1, (size_t[]){16}, &r);
    nb_tensor *bw = rleaf(dt, 1, (size_t[]){16}, &r), *bb = rleaf(dt, 1, (size_t[]){16}, &r);
    nb_tensor *y = nb_conv2d(c, x, w, b, 1, 1, 1, 2);
    y = nb_batch_norm2d(c, y, bw, bb, NULL, NULL, 0.1, 1e-5);
    nb_tensor *p = nb_max_pool2d(c, y, 3, 2, 1), *q = nb_avg_pool2d(c, y, 2, 2, 0);
    nb_tensor *out = nb_add(c, nb_global_avg_pool2d(c, p), nb_global_avg_pool2d(c, q));
    unsigned char *buf = NULL;
    *n = 0;
    if (out && nb_backward(c, out, nb_uniform(c, dt, 2, out->shape, -1, 1, &r)) == 0) {
        const nb_tensor *parts[] = {out, x->grad, w->grad, b->grad, bw->grad, bb->grad};
        size_t total = 0, es = nb_dtype_size(dt);
        for (int k = 0; k < 6; k++) total += parts[k]->numel * es;
        if ((buf = malloc(total)))
            for (int k = 0; k < 6; k++) {
                memcpy(buf + *n, parts[k]->data, parts[k]->numel * es);
                *n += parts[k]->numel * es;
            }
    }
    nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b), nb_tensor_free(bw), nb_tensor_free(bb);
    nb_ctx_free(c);
    return buf;
}

TEST(conv, bitwise_identical_for_any_thread_count)
{
    const int saved = nb_get_threads(), max_threads = t_under_valgrind() ? 2 : 4;
    for (int f32 = 0; f32 < 2; f32++) {
        size_t n1 = 0, nk = 0;
        unsigned char *one = run_net(f32 ? NB_F32 : NB_F64, 1, &n1);
        CHECK_OK(one && n1);
        for (int t = 2; one && t <= max_threads; t++) {
            unsigned char *many = run_net(f32 ? NB_F32 : NB_F64, t, &nk);
            CHECK_MSG(many && nk == n1 && memcmp(one, many, n1) == 0, "%s: %d threads differ from 1",
                      f32 ? "float32" : "float64", t);
            free(many);
        }
        free(one);
    }
    nb_set_threads(saved);
}

/* conv2d with the activation taken in (the model's conv2d + activation
 * layer) against conv2d then the activation op: the same bytes for the
 * output and every gradient, for each activation that can be taken in, both
 * dtypes, 1 and 2 threads (the batch is big enough for dz's pool tasks);
 * and gelu, whose derivative needs the pre-activation, is refused. */
/* conv2d, relu and a max pool whose windows do not overlap, taken in as one
 * op (the model's conv2d relu maxpool2d(k)): the bytes of the three ops, for
 * the output and every gradient.  Odd sizes (a row and a column the pool
 * drops), stride, groups, no bias, pools of 2 and 3, ties (inputs on a coarse
 * grid, and windows where relu gives all zeros), 1 and 2 threads. */
TEST(conv, relu_and_max_pool_taken_in_give_the_bytes_of_three_ops)
{
    static const struct {
        size_t n, c, h, w, o, k;
        int s, p, g, bias, pool;
    } cs[] = {{5, 3, 13, 11, 8, 3, 1, 1, 1, 1, 2}, {4, 4, 16, 16, 6, 3, 1, 1, 2, 0, 2},
              {3, 2, 15, 17, 4, 3, 2, 2, 1, 1, 2}, {2, 1, 28, 28, 32, 3, 1, 1, 1, 1, 2},
              {6, 3, 10, 10, 5, 1, 1, 0, 1, 1, 3}, {1, 2, 9, 9, 3, 5, 1, 2, 1, 1, 9}};
    const int saved = nb_get_threads();
    for (int threads = 1; threads <= 2; threads++)
        for (int f32 = 0; f32 < 2; f32++)
            for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
                nb_set_threads(threads);
                const nb_dtype dt = f32 ? NB_F32 : NB_F64;
                const size_t es = nb_dtype_size(dt);
                nb_rng r;
                nb_rng_seed(&r, 11 + k);
                nb_ctx *c = nb_ctx_new(NULL);
                nb_tensor *x = rleaf(dt, 4, (size_t[]){cs[k].n, cs[k].c, cs[k].h, cs[k].w}, &r);
                nb_tensor *w = rleaf(dt, 4, (size_t[]){cs[k].o, cs[k].c / cs[k].g, cs[k].k, cs[k].k}, &r);
                nb_tensor *b = cs[k].bias ? rleaf(dt, 1, (size_t[]){cs[k].o}, &r) : NULL;
                for (size_t i = 0; i < x->numel; i++) /* a coarse grid: equal products, ties in the pool */
                    nb_set(x, i, floor(nb_get(x, i) * 4) / 4);
                for (size_t i = 0; i < w->numel; i++) nb_set(w, i, floor(nb_get(w, i) * 4) / 4);
                unsigned char *got[2][4] = {{0}};
                size_t sizes[4] = {0, x->numel, w->numel, b ? b->numel : 0};
                nb_tensor *g = NULL;
                for (int fused = 0; fused < 2; fused++) {
                    nb_tensor *y = fused
                                       ? nb__conv2d_relu_pool(c, x, w, b, cs[k].s, cs[k].p, 1, cs[k].g, cs[k].pool)
                                       : nb_max_pool2d(c,
                                                       nb_relu(c, nb_conv2d(c, x, w, b, cs[k].s, cs[k].p, 1, cs[k].g)),
                                                       cs[k].pool, cs[k].pool, 0);
                    CHECK_OK(y != NULL);
                    if (!y) break;
                    if (!g)
                        g = nb_uniform(c, dt, 4, (size_t[]){y->shape[0], y->shape[1], y->shape[2], y->shape[3]}, -1, 1,
                                       &r);
                    sizes[0] = y->numel;
                    CHECK_OK(nb_backward(c, y, g) == 0);
                    const nb_tensor *parts[4] = {y, x->grad, w->grad, b ? b->grad : NULL};
                    for (int q = 0; q < 4; q++)
                        if (parts[q] && (got[fused][q] = malloc(sizes[q] * es)))
                            memcpy(got[fused][q], parts[q]->data, sizes[q] * es);
                    nb_zero_grad(x), nb_zero_grad(w);
                    if (b) nb_zero_grad(b);
                }
                for (int q = 0; q < 4; q++)
                    CHECK_MSG(sizes[q] == 0 ||
                                  (got[0][q] && got[1][q] && memcmp(got[0][q], got[1][q], sizes[q] * es) == 0),
                              "case %zu %s, %d threads: %s differs", k, nb_dtype_name(dt), threads,
                              (const char *[]){"y", "dx", "dw", "db"}[q]);
                for (int q = 0; q < 8; q++) free(got[q / 4][q % 4]);
                nb_tensor_free(x), nb_tensor_free(w);
                if (b) nb_tensor_free(b);
                nb_ctx_free(c);
            }
    nb_set_threads(saved);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F32, 4, (size_t[]){1, 1, 4, 4}), *w = nb_zeros(c, NB_F32, 4, (size_t[]){1, 1, 3, 3});
    CHECK_ERR(nb__conv2d_relu_pool(c, x, w, NULL, 1, 0, 1, 1, 3), "conv2d", "max pool taken in does not fit");
    CHECK_ERR(nb__conv2d_relu_pool(c, x, w, NULL, 1, 0, 1, 1, 0), "conv2d", "max pool of 0");
    nb_ctx_free(c);
}

TEST(conv, activation_taken_in_gives_the_bytes_of_two_ops)
{
    static const struct {
        nb_act act;
        double p;
    } acts[] = {{NB_ACT_RELU, 0}, {NB_ACT_LEAKY_RELU, 0.1}, {NB_ACT_ELU, 1}, {NB_ACT_SIGMOID, 0}, {NB_ACT_TANH, 0}};
    const int saved = nb_get_threads();
    for (int threads = 1; threads <= 2; threads++)
        for (int f32 = 0; f32 < 2; f32++)
            for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
                nb_set_threads(threads);
                const nb_dtype dt = f32 ? NB_F32 : NB_F64;
                const size_t es = nb_dtype_size(dt);
                nb_rng r;
                nb_rng_seed(&r, 5);
                nb_ctx *c = nb_ctx_new(NULL);
                nb_tensor *x = rleaf(dt, 4, (size_t[]){16, 3, 32, 32}, &r);
                nb_tensor *w = rleaf(dt, 4, (size_t[]){32, 3, 3, 3}, &r), *b = rleaf(dt, 1, (size_t[]){32}, &r);
                nb_tensor *g = nb_uniform(c, dt, 4, (size_t[]){16, 32, 32, 32}, -1, 1, &r);
                unsigned char *got[2][4] = {{0}};
                for (int fused = 0; fused < 2; fused++) {
                    nb_tensor *y = fused ? nb__conv2d_act(c, x, w, b, 1, 1, 1, 1, acts[k].act, acts[k].p)
                                         : nb_conv2d(c, x, w, b, 1, 1, 1, 1);
                    if (!fused && y)
                        y = acts[k].act == NB_ACT_RELU         ? nb_relu(c, y)
                            : acts[k].act == NB_ACT_LEAKY_RELU ? nb_leaky_relu(c, y, acts[k].p)
                            : acts[k].act == NB_ACT_ELU        ? nb_elu(c, y, acts[k].p)
                            : acts[k].act == NB_ACT_SIGMOID    ? nb_sigmoid(c, y)
                                                               : nb_tanh(c, y);
                    CHECK_OK(y && nb_backward(c, y, g) == 0);
                    const nb_tensor *parts[4] = {y, x->grad, w->grad, b->grad};
                    for (int q = 0; q < 4 && y; q++)
                        if ((got[fused][q] = malloc(parts[q]->numel * es)))
                            memcpy(got[fused][q], parts[q]->data, parts[q]->numel * es);
                    nb_zero_grad(x), nb_zero_grad(w), nb_zero_grad(b);
                }
                const size_t sizes[4] = {16 * 32 * 32 * 32, 16 * 3 * 32 * 32, 32 * 3 * 3 * 3, 32};
                for (int q = 0; q < 4; q++)
                    CHECK_MSG(got[0][q] && got[1][q] && memcmp(got[0][q], got[1][q], sizes[q] * es) == 0,
                              "act %d %s, %d threads: %s differs", (int)acts[k].act, nb_dtype_name(dt), threads,
                              (const char *[]){"y", "dx", "dw", "db"}[q]);
                for (int q = 0; q < 8; q++) free(got[q / 4][q % 4]);
                nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b);
                nb_ctx_free(c);
            }
    nb_set_threads(saved);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F32, 4, (size_t[]){1, 1, 4, 4}), *w = nb_zeros(c, NB_F32, 4, (size_t[]){1, 1, 3, 3});
    CHECK_ERR(nb__conv2d_act(c, x, w, NULL, 1, 1, 1, 1, NB_ACT_GELU, 0), "conv2d: activation", "pre-activation");
    nb_ctx_free(c);
}
