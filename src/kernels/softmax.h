/* Kernels of the softmax family and the fused cross-entropy (private).
 * A tensor is viewed as [outer, D, inner] around the softmax axis: element
 * (o, d, k) sits at (o * D + d) * inner + k.  Outputs first, then inputs, then
 * sizes; _f32 and _f64 come from one template, softmax.inc. */
#ifndef NB_KERNELS_SOFTMAX_H
#define NB_KERNELS_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

#define NB__SOFTMAX_DECLS(T, S)                                                                    \
    /* y = softmax(x) (log_softmax when take_log) along D; x, y: [outer, D, inner] */              \
    void nb_k_softmax_##S(T *y, const T *x, size_t outer, size_t d, size_t inner, int take_log);   \
    /* softmax:     gx += y * (gy - sum_D(gy * y))                                                 \
     * log_softmax: gx += gy - exp(y) * sum_D(gy)      (y is the forward's output) */              \
    void nb_k_softmax_bwd_##S(T *gx, const T *gy, const T *y, size_t outer, size_t d,              \
                              size_t inner, int take_log);                                         \
    /* Cross-entropy on logits x [N, C], labels lab [N] in [0, C), target                          \
     * t = (1 - ls) * onehot + ls / C:  loss[i] = -sum_j t_ij log p_ij  (loss: [N]);               \
     * p [N, C] receives softmax(x) for the backward. */                                           \
    void nb_k_cross_entropy_##S(T *loss, T *p, const T *x, const int32_t *lab, size_t n,           \
                                size_t c, double ls);                                              \
    /* gx [N, C] += g[i * gstride] * scale * (p_ij - t_ij) */                                      \
    void nb_k_cross_entropy_bwd_##S(T *gx, const T *p, const int32_t *lab, const T *g,             \
                                    size_t gstride, T scale, size_t n, size_t c, double ls);

NB__SOFTMAX_DECLS(float, f32)
NB__SOFTMAX_DECLS(double, f64)

#endif
