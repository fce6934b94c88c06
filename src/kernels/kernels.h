/* Kernels: plain loops over buffers, no autograd, no allocation.  Outputs
 * first, then inputs, then sizes.  Each exists as _f32 and _f64, written once
 * in a template (*.inc) compiled for both types.  The ops in src/ops call
 * these; a faster kernel can replace one without touching any op. */
#ifndef NB_KERNELS_H
#define NB_KERNELS_H

#include <stddef.h>
#include "nabla/nabla.h"

/* Element-wise unary math functions; p0/p1 are their parameters.  The
 * activations are nb_act's (nabla.h), with their own kernels below. */
typedef enum {
    NB_U_NEG,
    NB_U_EXP,
    NB_U_LOG,
    NB_U_SQRT,
    NB_U_ABS,
    NB_U_CLAMP, /* p0 = lo, p1 = hi */
    NB_U_POWS,  /* x ^ p0 */
    NB_U_ADDS,  /* x + p0 */
    NB_U_MULS,  /* x * p0 */
    NB_U_RSUBS, /* p0 - x */
    NB_U_RDIVS, /* p0 / x */
    NB_U_COUNT
} nb_unary_kind;

/* Binary element-wise functions with broadcasting. */
typedef enum { NB_B_ADD, NB_B_SUB, NB_B_MUL, NB_B_DIV, NB_B_POW, NB_B_COUNT } nb_binary_kind;

/* Broadcast iteration over an output of `shape` (contiguous): operand k is
 * read at sum(idx[d] * st[k][d]); a stride of 0 repeats it along d. */
typedef struct nb_k_bcast {
    int ndim;
    size_t shape[NB_MAX_DIMS];
    size_t st[3][NB_MAX_DIMS];
    size_t numel;
} nb_k_bcast;

/* Fill bc for an output of out_shape from operands' shapes (each right-aligned
 * and broadcastable; nops <= 3). */
void nb_k_bcast_init(nb_k_bcast *bc, int out_ndim, const size_t *out_shape, int nops, const int *op_ndim,
                     const size_t *const *op_shape);

/* y = f(x) */
void nb_k_unary_f32(nb_unary_kind k, float *y, const float *x, size_t n, double p0, double p1);
void nb_k_unary_f64(nb_unary_kind k, double *y, const double *x, size_t n, double p0, double p1);
/* gx += gy * f'(x)  (x and y are the forward's input and output) */
void nb_k_unary_bwd_f32(nb_unary_kind k, float *gx, const float *gy, const float *x, const float *y, size_t n,
                        double p0, double p1);
void nb_k_unary_bwd_f64(nb_unary_kind k, double *gx, const double *gy, const double *x, const double *y, size_t n,
                        double p0, double p1);
/* y = act(x); param: the leaky_relu slope or the elu alpha (formulas: act.inc) */
void nb_k_act_f32(nb_act act, float *y, const float *x, size_t n, double param);
void nb_k_act_f64(nb_act act, double *y, const double *x, size_t n, double param);
/* gx += gy * act'(x)  (x and y are the forward's input and output) */
void nb_k_act_bwd_f32(nb_act act, float *gx, const float *gy, const float *x, const float *y, size_t n, double param);
void nb_k_act_bwd_f64(nb_act act, double *gx, const double *gy, const double *x, const double *y, size_t n,
                      double param);
/* y = a (op) b with broadcasting: bc operand 0 is a, 1 is b. */
void nb_k_binary_f32(nb_binary_kind k, float *y, const float *a, const float *b, const nb_k_bcast *bc);
void nb_k_binary_f64(nb_binary_kind k, double *y, const double *a, const double *b, const nb_k_bcast *bc);
/* ga += d/da, gb += d/db (either may be NULL), summed over broadcast dims. */
void nb_k_binary_bwd_f32(nb_binary_kind k, float *ga, float *gb, const float *gy, const float *a, const float *b,
                         const float *y, const nb_k_bcast *bc);
void nb_k_binary_bwd_f64(nb_binary_kind k, double *ga, double *gb, const double *gy, const double *a, const double *b,
                         const double *y, const nb_k_bcast *bc);
/* out[off0(i)] += x[i] over x's shape (bc operand 0 = out strides): sum-to-shape. */
void nb_k_sum_to_f32(float *out, const float *x, const nb_k_bcast *bc);
void nb_k_sum_to_f64(double *out, const double *x, const nb_k_bcast *bc);
/* gx[i] += g[off0(i)] over gx's shape: broadcast-add. */
void nb_k_bcast_add_f32(float *gx, const float *g, const nb_k_bcast *bc);
void nb_k_bcast_add_f64(double *gx, const double *g, const nb_k_bcast *bc);
/* y[i] += a * x[i] */
void nb_k_axpy_f32(float *y, float a, const float *x, size_t n);
void nb_k_axpy_f64(double *y, double a, const double *x, size_t n);
/* y[i] *= a */
void nb_k_scale_f32(float *y, float a, size_t n);
void nb_k_scale_f64(double *y, double a, size_t n);

#endif
