/* Reduction kernels (private) for max/min.  A reduction walks x's shape with
 * an nb_k_bcast whose operand 0 holds the output's strides, 0 on the reduced
 * dims (nb_k_bcast_init of x's shape with the keepdim output shape), so
 * operand-0 offsets are flat output indices.  _f32 and _f64 from reduce.inc. */
#ifndef NB_KERNELS_REDUCE_H
#define NB_KERNELS_REDUCE_H

#include <stddef.h>

#include "kernels.h"

/* out [n_out] = max (want_max) or min of each group of x; idx [n_out] = flat index in x
 * of the group's first extreme element.  A NaN beats any number (the first NaN is taken).
 * Every group must be non-empty. */
void nb_k_extreme_f32(float *out, size_t *idx, const float *x, const nb_k_bcast *bc, size_t n_out, int want_max);
void nb_k_extreme_f64(double *out, size_t *idx, const double *x, const nb_k_bcast *bc, size_t n_out, int want_max);
/* gx[idx[o]] += g[o] for o < n */
void nb_k_scatter_add_f32(float *gx, const size_t *idx, const float *g, size_t n);
void nb_k_scatter_add_f64(double *gx, const size_t *idx, const double *g, size_t n);

#endif
