/* Vectorised float32 math on arrays (private): exp, expm1, sigmoid, tanh.
 * The float32 kernels use these instead of libm's expf & co; float64 stays on
 * libm (gradient checks run in float64).  Outputs first; y may equal x.
 *
 * Every function has a portable path (plain C, vmath_scalar.h) and an AVX2
 * path (vmath_avx2.c, chosen at run time by nb__cpu_has_avx2) that
 * return the same bits for every input, so results do not depend on the
 * machine.  NaN in gives NaN out; ±inf, overflow and underflow behave as in
 * libm: exp(+inf) = inf, exp(-inf) = 0, exp(x > 88.73) = inf, and results
 * below FLT_MIN are rounded into the subnormals, then to 0; sigmoid(±inf) =
 * 1 / 0, tanh(±inf) = ±1, tanh(±0) = ±0, expm1(±0) = ±0, expm1(-inf) = -1.
 *
 * Accuracy against double-precision libm, rounded to float, measured over
 * every finite float (all 2^32 bit patterns; `NB_VMATH_FULL=1 test_nabla
 * vmath.exhaustive` repeats the sweep; the normal suite checks a dense sample
 * against the same bounds).  ulp = spacing of floats at the true value.
 *
 *   exp      <= 1 ulp (0.989), max rel. error 8.4e-8 over [-87.3, 88.7]
 *            (subnormal results: within 1 ulp of 2^-149 as well)
 *   expm1    <= 2 ulp (1.535), max rel. error 1.2e-7 (all x)
 *   sigmoid  <= 2.5 ulp (2.402), max rel. error 1.8e-7 over x >= -87.3
 *            (below, the result is subnormal: within 2.5 ulp of 2^-149)
 *   tanh     <= 2 ulp (1.519), max rel. error 1.6e-7 (all x)
 *
 * (glibc's expf is correctly rounded; a 1-2 ulp difference is 1e-7 relative,
 * well inside the float32 reference tolerance 1e-5 of the PyTorch tests.) */
#ifndef NB_KERNELS_VMATH_H
#define NB_KERNELS_VMATH_H

#include <stddef.h>

/* y[i] = f(x[i]) for i < n; the path chosen for this CPU. */
void nb__vexp_f32(float *y, const float *x, size_t n);
void nb__vexpm1_f32(float *y, const float *x, size_t n);
void nb__vsigmoid_f32(float *y, const float *x, size_t n);
void nb__vtanh_f32(float *y, const float *x, size_t n);

/* The portable path, always available (tests compare the paths). */
void nb__vexp_f32_portable(float *y, const float *x, size_t n);
void nb__vexpm1_f32_portable(float *y, const float *x, size_t n);
void nb__vsigmoid_f32_portable(float *y, const float *x, size_t n);
void nb__vtanh_f32_portable(float *y, const float *x, size_t n);

/* The AVX2 path, run when nb__cpu_has_avx2() (core/cpu.h). */
#if defined(__x86_64__) && defined(__GNUC__)
#define NB__VMATH_X86 1
void nb__vexp_f32_avx2(float *y, const float *x, size_t n);
void nb__vexpm1_f32_avx2(float *y, const float *x, size_t n);
void nb__vsigmoid_f32_avx2(float *y, const float *x, size_t n);
void nb__vtanh_f32_avx2(float *y, const float *x, size_t n);
#endif

#endif
