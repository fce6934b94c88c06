/* AVX2 loops of the float32 element-wise kernels (private), for the cases
 * that dominate training: ReLU and friends, rows of add/sub/mul/div with a
 * unit or zero stride (a row-broadcast bias is the zero stride), row
 * accumulation (the bias gradient is a sum of rows), axpy and scale.  Each
 * performs exactly the float operations of the scalar loop in
 * elementwise.inc, in the same order, so the results are the same bits; the
 * callers choose them only when nb__cpu_has_avx2() says the CPU has AVX2. */
#ifndef NB_KERNELS_ELEMENTWISE_AVX2_H
#define NB_KERNELS_ELEMENTWISE_AVX2_H

#include <stddef.h>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define NB__EW_X86 1
/* y = f(x); returns 0 (nothing written) for the kinds it does not handle. */
int nb__ew_unary_avx2_f32(nb_unary_kind k, float *y, const float *x, size_t n, float a);
/* gx += gy * f'(x); returns 0 for the kinds it does not handle. */
int nb__ew_unary_bwd_avx2_f32(nb_unary_kind k, float *gx, const float *gy, const float *x, const float *y, size_t n,
                              float a);
/* y = act(x) (act.inc); returns 0 (nothing written) for the activations it does not handle. */
int nb__ew_act_avx2_f32(nb_act act, float *y, const float *x, size_t n, float a);
/* gx += gy * act'(x); returns 0 for the activations it does not handle. */
int nb__ew_act_bwd_avx2_f32(nb_act act, float *gx, const float *gy, const float *x, const float *y, size_t n, float a);
/* y[j] = a[j sa] (op) b[j sb], sa and sb 0 or 1; add, sub, mul, div only. */
void nb__ew_bin_row_avx2_f32(nb_binary_kind k, float *y, const float *a, size_t sa, const float *b, size_t sb,
                             size_t n);
/* y[j] += x[j] (neg = 0) or y[j] -= x[j] (neg = 1) */
void nb__ew_acc_row_avx2_f32(float *y, const float *x, size_t n, int neg);
/* y[j] += g[j] * b[j sb], sb 0 or 1 */
void nb__ew_accmul_row_avx2_f32(float *y, const float *g, const float *b, size_t sb, size_t n);
/* y[j] += a * x[j] */
void nb__ew_axpy_avx2_f32(float *y, float a, const float *x, size_t n);
/* y[j] *= a */
void nb__ew_scale_avx2_f32(float *y, float a, size_t n);
#endif

#endif
