/* Point-wise kernels of the nn ops (private): NLL, MSE, BCE-with-logits and
 * dropout masks.  Outputs first, then inputs, then sizes; _f32 and _f64 come
 * from one template, nn.inc.  Backward kernels ACCUMULATE (+=); their upstream
 * gradient is read as g[i * gstride] * scale, so one kernel serves 'none'
 * (gstride 1, scale 1), 'sum' (gstride 0) and 'mean' (gstride 0, scale 1/N). */
#ifndef NB_KERNELS_NN_H
#define NB_KERNELS_NN_H

#include <stddef.h>
#include <stdint.h>

#define NB__NN_DECLS(T, S)                                                                         \
    /* sum of x [n], accumulated in double */                                                      \
    double nb_k_total_##S(const T *x, size_t n);                                                   \
    /* loss [N] = -lp[i, lab[i]];  lp: [N, C] */                                                   \
    void nb_k_nll_##S(T *loss, const T *lp, const int32_t *lab, size_t n, size_t c);               \
    /* gx [N, C]: gx[i, lab[i]] -= g[i * gstride] * scale */                                       \
    void nb_k_nll_bwd_##S(T *gx, const T *g, size_t gstride, T scale, const int32_t *lab,          \
                          size_t n, size_t c);                                                     \
    /* y[i] = (a[i] - b[i])^2 (y may be NULL); returns the sum in double */                        \
    double nb_k_mse_##S(T *y, const T *a, const T *b, size_t n);                                   \
    /* ga += 2 (a - b) g', gb -= 2 (a - b) g'  (either may be NULL) */                             \
    void nb_k_mse_bwd_##S(T *ga, T *gb, const T *g, size_t gstride, T scale, const T *a,           \
                          const T *b, size_t n);                                                   \
    /* y[i] = max(x, 0) - x t + log1p(exp(-|x|)) (y may be NULL); returns the sum */               \
    double nb_k_bce_logits_##S(T *y, const T *x, const T *t, size_t n);                            \
    /* gx += (sigmoid(x) - t) g', gt -= x g'  (either may be NULL) */                              \
    void nb_k_bce_logits_bwd_##S(T *gx, T *gt, const T *g, size_t gstride, T scale, const T *x,    \
                                 const T *t, size_t n);                                            \
    /* y[i] = x[i] * (keep[i] ? scale : 0) */                                                      \
    void nb_k_dropout_##S(T *y, const T *x, const uint8_t *keep, T scale, size_t n);               \
    /* gx[i] += gy[i] * (keep[i] ? scale : 0) */                                                   \
    void nb_k_dropout_bwd_##S(T *gx, const T *gy, const uint8_t *keep, T scale, size_t n);

NB__NN_DECLS(float, f32)
NB__NN_DECLS(double, f64)

#endif
