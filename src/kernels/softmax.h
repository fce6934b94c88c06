/* Kernels of the softmax family and the fused cross-entropy (private).
 * A tensor is viewed as [outer, D, inner] around the softmax axis: element
 * (o, d, k) sits at (o * D + d) * inner + k.  Outputs first, then inputs, then
 * sizes; _f32 and _f64 come from one template, softmax.inc. */
#ifndef NB_KERNELS_SOFTMAX_H
#define NB_KERNELS_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

/* y = softmax(x) (log_softmax when take_log) along D; x, y: [outer, D, inner] */
void nb_k_softmax_f32(float *y, const float *x, size_t outer, size_t d, size_t inner, int take_log);
void nb_k_softmax_f64(double *y, const double *x, size_t outer, size_t d, size_t inner, int take_log);
/* softmax:     gx += y * (gy - sum_D(gy * y))
 * log_softmax: gx += gy - exp(y) * sum_D(gy)      (y is the forward's output) */
void nb_k_softmax_bwd_f32(float *gx, const float *gy, const float *y, size_t outer, size_t d, size_t inner,
                          int take_log);
void nb_k_softmax_bwd_f64(double *gx, const double *gy, const double *y, size_t outer, size_t d, size_t inner,
                          int take_log);
/* Cross-entropy on logits x [N, C], labels lab [N] in [0, C), target
 * t = (1 - ls) * onehot + ls / C:  loss[i] = -sum_j t_ij log p_ij  (loss: [N]);
 * p [N, C] receives softmax(x) for the backward. */
void nb_k_cross_entropy_f32(float *loss, float *p, const float *x, const int32_t *lab, size_t n, size_t c, double ls);
void nb_k_cross_entropy_f64(double *loss, double *p, const double *x, const int32_t *lab, size_t n, size_t c,
                            double ls);
/* gx [N, C] += g[i * gstride] * scale * (p_ij - t_ij) */
void nb_k_cross_entropy_bwd_f32(float *gx, const float *p, const int32_t *lab, const float *g, size_t gstride,
                                float scale, size_t n, size_t c, double ls);
void nb_k_cross_entropy_bwd_f64(double *gx, const double *p, const int32_t *lab, const double *g, size_t gstride,
                                double scale, size_t n, size_t c, double ls);

#endif
