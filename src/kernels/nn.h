/* Point-wise kernels of the nn ops (private): NLL, MSE, BCE-with-logits and
 * dropout masks.  Outputs first, then inputs, then sizes; _f32 and _f64 come
 * from one template, nn.inc.  Backward kernels ACCUMULATE (+=); their upstream
 * gradient is read as g[i * gstride] * scale, so one kernel serves 'none'
 * (gstride 1, scale 1), 'sum' (gstride 0) and 'mean' (gstride 0, scale 1/N). */
#ifndef NB_KERNELS_NN_H
#define NB_KERNELS_NN_H

#include <stddef.h>
#include <stdint.h>

/* sum of x [n], accumulated in double */
double nb_k_total_f32(const float *x, size_t n);
double nb_k_total_f64(const double *x, size_t n);
/* loss [N] = -lp[i, lab[i]];  lp: [N, C] */
void nb_k_nll_f32(float *loss, const float *lp, const int32_t *lab, size_t n, size_t c);
void nb_k_nll_f64(double *loss, const double *lp, const int32_t *lab, size_t n, size_t c);
/* gx [N, C]: gx[i, lab[i]] -= g[i * gstride] * scale */
void nb_k_nll_bwd_f32(float *gx, const float *g, size_t gstride, float scale, const int32_t *lab, size_t n, size_t c);
void nb_k_nll_bwd_f64(double *gx, const double *g, size_t gstride, double scale, const int32_t *lab, size_t n,
                      size_t c);
/* y[i] = (a[i] - b[i])^2 (y may be NULL); returns the sum in double */
double nb_k_mse_f32(float *y, const float *a, const float *b, size_t n);
double nb_k_mse_f64(double *y, const double *a, const double *b, size_t n);
/* ga += 2 (a - b) g', gb -= 2 (a - b) g'  (either may be NULL) */
void nb_k_mse_bwd_f32(float *ga, float *gb, const float *g, size_t gstride, float scale, const float *a, const float *b,
                      size_t n);
void nb_k_mse_bwd_f64(double *ga, double *gb, const double *g, size_t gstride, double scale, const double *a,
                      const double *b, size_t n);
/* y[i] = max(x, 0) - x t + log1p(exp(-|x|)) (y may be NULL); returns the sum */
double nb_k_bce_logits_f32(float *y, const float *x, const float *t, size_t n);
double nb_k_bce_logits_f64(double *y, const double *x, const double *t, size_t n);
/* gx += (sigmoid(x) - t) g', gt -= x g'  (either may be NULL) */
void nb_k_bce_logits_bwd_f32(float *gx, float *gt, const float *g, size_t gstride, float scale, const float *x,
                             const float *t, size_t n);
void nb_k_bce_logits_bwd_f64(double *gx, double *gt, const double *g, size_t gstride, double scale, const double *x,
                             const double *t, size_t n);
/* y[i] = x[i] * (keep[i] ? scale : 0) */
void nb_k_dropout_f32(float *y, const float *x, const uint8_t *keep, float scale, size_t n);
void nb_k_dropout_f64(double *y, const double *x, const uint8_t *keep, double scale, size_t n);
/* gx[i] += gy[i] * (keep[i] ? scale : 0) */
void nb_k_dropout_bwd_f32(float *gx, const float *gy, const uint8_t *keep, float scale, size_t n);
void nb_k_dropout_bwd_f64(double *gx, const double *gy, const uint8_t *keep, double scale, size_t n);

#endif
