/* AVX2 versions of the optimizer and clipping loops (update_avx2.inc), for
 * float and double.  The library is built for baseline x86-64, so every
 * function carries target("avx2") — not fma: the scalar loops never fuse,
 * and neither may these.  update.inc calls them only after
 * nb__cpu_has_avx2() said yes. */
#include "optim_impl.h"

#if defined(NB__OPTIM_X86)
#include <immintrin.h>
#include <math.h>

#define KATTR __attribute__((target("avx2")))

#define NB__TEMPLATE "../optim/update_avx2.inc"
#include "../kernels/instantiate.h"

/* Sum of squares in double for the clip norm: four lanes times two
 * accumulators, so the order of the additions differs from the scalar loop
 * (the result agrees to rounding).  max |g| as in the scalar loop: a NaN
 * never becomes the maximum (maxpd returns its second operand then), an
 * inf always does. */
static KATTR double nb__hsum(__m256d a)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static KATTR double nb__hmax(__m256d a)
{
    double t[4], mx = 0;
    _mm256_storeu_pd(t, a);
    for (int k = 0; k < 4; k++)
        if (t[k] > mx) mx = t[k];
    return mx;
}

/* One step of the sums below: acc += (x / sc)^2 (x itself when !div), and
 * mx = max(|x|, mx). */
static inline __attribute__((always_inline, target("avx2"))) void nb__sumsq_step(__m256d *acc, __m256d *mx, __m256d x,
                                                                                 int div, __m256d sc, __m256d sign)
{
    __m256d xs = x;
    if (div) xs = _mm256_div_pd(xs, sc);
    *acc = _mm256_add_pd(*acc, _mm256_mul_pd(xs, xs));
    *mx = _mm256_max_pd(_mm256_andnot_pd(sign, x), *mx);
}

KATTR size_t nb__sumsq_avx2_f64(const double *g, size_t n, double scale, double *ss, double *amax)
{
    const __m256d sc = _mm256_set1_pd(scale), sign = _mm256_set1_pd(-0.0);
    const int div = scale != 1.0; /* x / 1.0 == x exactly */
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, mx = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        nb__sumsq_step(&s0, &mx, _mm256_loadu_pd(g + i), div, sc, sign);
        nb__sumsq_step(&s1, &mx, _mm256_loadu_pd(g + i + 4), div, sc, sign);
    }
    *ss = nb__hsum(_mm256_add_pd(s0, s1));
    const double m = nb__hmax(mx);
    if (m > *amax) *amax = m;
    return i;
}

/* The float sum on a CPU with AVX-512 (and scale 1, the usual case): four
 * accumulators of 8 doubles, so that the additions' latency no longer bounds
 * the loop (the AVX2 loop's two of 4 lanes did: 2 elements a cycle, 6-8% of
 * a 784-128-10 step at batch 64), and max |g| taken on the floats (the same
 * value: a float converts to double exactly).  x * x is exact in double, so
 * the FMA adds what the unfused product would.  The order of the additions
 * is this loop's own: the norm agrees with the AVX2 loop's to rounding, and
 * is the same for any thread count (the chunks are fixed). */
__attribute__((target("avx512f"))) static size_t nb__sumsq_avx512_f32(const float *g, size_t n, double *ss,
                                                                      double *amax)
{
    const __m512i abs = _mm512_set1_epi32(0x7fffffff);
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    __m512 m0 = _mm512_setzero_ps(), m1 = m0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512d x0 = _mm512_cvtps_pd(_mm256_loadu_ps(g + i)), x1 = _mm512_cvtps_pd(_mm256_loadu_ps(g + i + 8));
        const __m512d x2 = _mm512_cvtps_pd(_mm256_loadu_ps(g + i + 16));
        const __m512d x3 = _mm512_cvtps_pd(_mm256_loadu_ps(g + i + 24));
        s0 = _mm512_fmadd_pd(x0, x0, s0);
        s1 = _mm512_fmadd_pd(x1, x1, s1);
        s2 = _mm512_fmadd_pd(x2, x2, s2);
        s3 = _mm512_fmadd_pd(x3, x3, s3);
        /* |x| by clearing the sign bit; max returns its second operand, the
         * running maximum, when x is NaN */
        const __m512 a0 = _mm512_castsi512_ps(_mm512_and_epi32(_mm512_castps_si512(_mm512_loadu_ps(g + i)), abs));
        const __m512 a1 = _mm512_castsi512_ps(_mm512_and_epi32(_mm512_castps_si512(_mm512_loadu_ps(g + i + 16)), abs));
        m0 = _mm512_max_ps(a0, m0);
        m1 = _mm512_max_ps(a1, m1);
    }
    *ss = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
    const double m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    if (m > *amax) *amax = m;
    return i;
}

KATTR size_t nb__sumsq_avx2_f32(const float *g, size_t n, double scale, double *ss, double *amax)
{
    if (scale == 1.0 && nb__cpu_has_avx512f()) return nb__sumsq_avx512_f32(g, n, ss, amax);
    const __m256d sc = _mm256_set1_pd(scale), sign = _mm256_set1_pd(-0.0);
    const int div = scale != 1.0;
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, mx = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        nb__sumsq_step(&s0, &mx, _mm256_cvtps_pd(_mm256_castps256_ps128(x)), div, sc, sign);
        nb__sumsq_step(&s1, &mx, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), div, sc, sign);
    }
    *ss = nb__hsum(_mm256_add_pd(s0, s1));
    const double m = nb__hmax(mx);
    if (m > *amax) *amax = m;
    return i;
}
#else
typedef int nb__optim_avx2_unused; /* ISO C: no empty translation unit */
#endif
