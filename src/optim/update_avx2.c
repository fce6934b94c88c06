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

KATTR size_t nb__sumsq_avx2_f32(const float *g, size_t n, double scale, double *ss, double *amax)
{
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
