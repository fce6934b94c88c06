/* Kernels of the convolution family (private; the ops are src/ops/conv.c):
 * im2col / col2im for nb_conv2d (whose products are the gemm kernel's), the
 * bias fill and bias gradient around those products, max / average / global
 * average pooling and 2-D batch normalisation.  Letters in shape comments:
 *   N batch, C input channels, H W input height and width, O output
 *   channels, OH OW output height and width, P = OH * OW, K = C * KH * KW.
 * Every tensor is NCHW, contiguous.  A window (nb_k_win2d) has one stride,
 * padding and dilation for both axes; padding reads as 0 (conv, avg pool)
 * or -inf (max pool).
 *
 * Work is cut into independent units (rows of col, (n, c) planes, channels),
 * each written by one task in a fixed order, and run on the thread pool
 * (core/pool.h) when big enough: results are bitwise identical for any
 * thread count.  Backward kernels ACCUMULATE (+=) into dx, dw, db.
 * Outputs first, then inputs, then sizes; _f32 and _f64 come from conv.inc,
 * and each fast path has the naive loops beside it (_ref) for the tests. */
#ifndef NB_KERNELS_CONV_H
#define NB_KERNELS_CONV_H

#include <stddef.h>
#include <stdint.h>

/* One 2-D window over NCHW input: sizes and the derived output size. */
typedef struct nb_k_win2d {
    size_t n, c, h, w; /* input [N, C, H, W] */
    size_t kh, kw;     /* window (kernel) height and width */
    size_t stride, pad, dil;
    size_t oh, ow; /* output height and width */
} nb_k_win2d;

/* col [K, N * P] (K = C KH KW rows, row (c, i, j)): col[(c, i, j), (n, p)] =
 * x[n, c, oy s - pad + i d, ox s - pad + j d], 0 outside. */
void nb_k_im2col_f32(float *col, const float *x, const nb_k_win2d *g);
void nb_k_im2col_f64(double *col, const double *x, const nb_k_win2d *g);
/* dx [N, C, H, W] += the transpose of im2col applied to dcol [K, N * P]. */
void nb_k_col2im_f32(float *dx, const float *dcol, const nb_k_win2d *g);
void nb_k_col2im_f64(double *dx, const double *dcol, const nb_k_win2d *g);
/* y [O, P] += b [O] along each plane (one image's output, after the product
 * wrote it, while it is in cache; in the caller: one image is small). */
void nb_k_conv_bias_f32(float *y, const float *b, size_t o, size_t p);
void nb_k_conv_bias_f64(double *y, const double *b, size_t o, size_t p);
/* The sum of s [p] in double, by 8 running totals then their sum in order:
 * the sum of one plane that conv_db adds over the batch in order. */
double nb_k_conv_plane_sum_f32(const float *s, size_t p);
double nb_k_conv_plane_sum_f64(const double *s, size_t p);
/* dz [C, HW] (one image) = the gradient reaching relu(z) through a max pool
 * with windows that do not overlap (kernel = stride, no padding): y, idx [C,
 * PQ] its output and argmax (flat positions in the HW plane), dy [C, PQ] the
 * gradient of y.  Every element written: 0 + (y > 0 ? 0 + dy : 0) at each
 * argmax, +0 elsewhere, the bits of the two ops' backward. */
void nb_k_relu_unpool_f32(float *dz, const float *dy, const float *y, const uint32_t *idx, size_t c, size_t hw,
                          size_t pq);
void nb_k_relu_unpool_f64(double *dz, const double *dy, const double *y, const uint32_t *idx, size_t c, size_t hw,
                          size_t pq);
/* db [O] += the sums of dy [N, O, P] over N and P (in double). */
void nb_k_conv_db_f32(float *db, const float *dy, size_t n, size_t o, size_t p);
void nb_k_conv_db_f64(double *db, const double *dy, size_t n, size_t o, size_t p);

/* Max pooling: y [N, C, OH, OW] and idx [N, C, OH, OW], the flat position in
 * the H W plane of the FIRST maximum of each window (row-major window order;
 * a NaN wins, as PyTorch's).  g->kh, kw: the window. */
void nb_k_maxpool_f32(float *y, uint32_t *idx, const float *x, const nb_k_win2d *g);
void nb_k_maxpool_f64(double *y, uint32_t *idx, const double *x, const nb_k_win2d *g);
/* dx [N, C, H, W] += dy at idx. */
void nb_k_maxpool_bwd_f32(float *dx, const float *dy, const uint32_t *idx, const nb_k_win2d *g);
void nb_k_maxpool_bwd_f64(double *dx, const double *dy, const uint32_t *idx, const nb_k_win2d *g);
/* Average pooling, padding counted (divisor KH KW, PyTorch's default). */
void nb_k_avgpool_f32(float *y, const float *x, const nb_k_win2d *g);
void nb_k_avgpool_f64(double *y, const double *x, const nb_k_win2d *g);
void nb_k_avgpool_bwd_f32(float *dx, const float *dy, const nb_k_win2d *g);
void nb_k_avgpool_bwd_f64(double *dx, const double *dy, const nb_k_win2d *g);
/* Global average: y [planes] = mean of each x plane [planes, hw] (summed in
 * order, in double); backward dx += dy / hw over the plane. */
void nb_k_gap_f32(float *y, const float *x, size_t planes, size_t hw);
void nb_k_gap_f64(double *y, const double *x, size_t planes, size_t hw);
void nb_k_gap_bwd_f32(float *dx, const float *dy, size_t planes, size_t hw);
void nb_k_gap_bwd_f64(double *dx, const double *dy, size_t planes, size_t hw);

/* Batch normalisation over x [N, C, P] per channel, statistics in double.
 * stats: mean [C] and biased variance var [C] of x (two passes). */
void nb_k_bn_stats_f32(double *mean, double *var, const float *x, size_t n, size_t c, size_t p);
void nb_k_bn_stats_f64(double *mean, double *var, const double *x, size_t n, size_t c, size_t p);
/* y = (x - mean[c]) rstd[c] w[c] + b[c]; w, b NULL: 1 and 0. */
void nb_k_bn_fwd_f32(float *y, const float *x, const double *mean, const double *rstd, const float *w, const float *b,
                     size_t n, size_t c, size_t p);
void nb_k_bn_fwd_f64(double *y, const double *x, const double *mean, const double *rstd, const double *w,
                     const double *b, size_t n, size_t c, size_t p);
/* Backward: dw += sum dy xhat, db += sum dy (either NULL: skipped); dx (NULL:
 * skipped) += w rstd (dy - [training] (sum dy + xhat sum dy xhat) / (N P)),
 * xhat = (x - mean) rstd: through the batch statistics when training, else
 * through fixed (running) ones. */
void nb_k_bn_bwd_f32(float *dx, float *dw, float *db, const float *dy, const float *x, const double *mean,
                     const double *rstd, const float *w, int training, size_t n, size_t c, size_t p);
void nb_k_bn_bwd_f64(double *dx, double *dw, double *db, const double *dy, const double *x, const double *mean,
                     const double *rstd, const double *w, int training, size_t n, size_t c, size_t p);

/* The naive reference of conv2d's forward (no im2col), for the tests:
 * y [N, O, OH, OW] = sum over the group's channels and the window of
 * w [O, C / groups, KH, KW] x, plus b [O] (NULL: none). */
void nb_k_conv2d_ref_f32(float *y, const float *x, const float *w, const float *b, const nb_k_win2d *g, size_t o,
                         size_t groups);
void nb_k_conv2d_ref_f64(double *y, const double *x, const double *w, const double *b, const nb_k_win2d *g, size_t o,
                         size_t groups);

#endif
