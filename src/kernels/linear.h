/* Kernels of the fused Linear layer, y = act(x w^T + b) (private; the op is
 * src/ops/linear.c).  The product itself is the gemm kernel's; these are the
 * passes around it, each one sweep over the [N, M] output, row by row so a
 * row is still in cache when its bias sum is taken:
 *   forward epilogue:  y = act(y + b), y holding x w^T from the gemm
 *   backward prologue: dz = dy * act'(.), db += column sums of dz
 * The derivative is written in terms of the OUTPUT y where y determines it
 * (relu; leaky_relu and elu with a parameter >= 0; sigmoid; tanh), so the
 * pre-activation z need not be kept; gelu and softplus (and leaky_relu / elu
 * with a negative parameter, whose y no longer tells the side of the kink)
 * need z, which the forward then saves (nb__linear_needs_z).
 * The activation formulas are act.inc's, shared with the activation ops, so
 * in float64 the fused op gives the same values as the unfused chain matmul,
 * add, activation (float32's activation ops take exp & co from vmath).
 * Outputs first, then inputs, then sizes; _f32 and _f64 from linear.inc. */
#ifndef NB_KERNELS_LINEAR_H
#define NB_KERNELS_LINEAR_H

#include <stddef.h>
#include "nabla/nabla.h"

/* Whether act's derivative needs the pre-activation z (not only y). */
static inline int nb__linear_needs_z(nb_act act, double param)
{
    return act == NB_ACT_GELU || act == NB_ACT_SOFTPLUS ||
           ((act == NB_ACT_LEAKY_RELU || act == NB_ACT_ELU) && !(param >= 0));
}

/* y [n, m] = act(y + b); b [m] or NULL (no bias); z [n, m] receives y + b before the
 * activation when not NULL.  param: leaky_relu slope, elu alpha. */
void nb_k_linear_fwd_f32(float *y, float *z, const float *b, size_t n, size_t m, nb_act act, double param);
void nb_k_linear_fwd_f64(double *y, double *z, const double *b, size_t n, size_t m, nb_act act, double param);
/* dz [n, m] = dy * act'(z) from the forward's output y (and its z where
 * nb__linear_needs_z); db [m] += column sums of dz when db is not NULL.  For
 * NB_ACT_NONE dz is dy itself: dz is not written (may be NULL), only db. */
void nb_k_linear_bwd_f32(float *dz, float *db, const float *dy, const float *y, const float *z, size_t n, size_t m,
                         nb_act act, double param);
void nb_k_linear_bwd_f64(double *dz, double *db, const double *dy, const double *y, const double *z, size_t n, size_t m,
                         nb_act act, double param);

#endif
