/* vmath's AVX2 path: eight lanes of exactly the float operations of
 * vmath_scalar.h, in the same order (target avx2 without fma, so nothing is
 * fused), and the scalar functions for the last n % 8 elements -- the same
 * bits as the portable path.  vmath.c calls these only after
 * nb__cpu_has_avx2() said yes. */
#include "vmath.h"

#if defined(NB__VMATH_X86)
#include <immintrin.h>

#include "vmath_scalar.h"

#define KATTR __attribute__((target("avx2")))
#define F1(c) _mm256_set1_ps(c)

static KATTR inline __m256 nb__v_pow2i(__m256i k)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

/* nb__vm_expq: q = e^r - 1, *n. */
static KATTR inline __m256 nb__v_expq(__m256 x, float lo, float hi, __m256i *n)
{
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, F1(lo)), F1(hi));
    const __m256 t = _mm256_add_ps(_mm256_mul_ps(xc, F1(NB__VM_LOG2E)), F1(NB__VM_SHIFT));
    const __m256 nf = _mm256_sub_ps(t, F1(NB__VM_SHIFT));
    __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(nf, F1(NB__VM_LN2HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(nf, F1(NB__VM_LN2LO)));
    __m256 q = F1(NB__VM_E6);
    q = _mm256_add_ps(_mm256_mul_ps(q, r), F1(NB__VM_E5));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), F1(NB__VM_E4));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), F1(NB__VM_E3));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), F1(NB__VM_E2));
    *n = _mm256_cvttps_epi32(nf);
    return _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(r, r), q));
}

/* NaN lanes of x become x + x (the scalar code's early return). */
static KATTR inline __m256 nb__v_nan(__m256 y, __m256 x)
{
    return _mm256_blendv_ps(y, _mm256_add_ps(x, x), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static KATTR inline __m256 nb__v_exp(__m256 x)
{
    __m256i n;
    const __m256 p = _mm256_add_ps(F1(1.0f), nb__v_expq(x, NB__VM_EXP_LO, NB__VM_EXP_HI, &n));
    const __m256i n1 = _mm256_srai_epi32(n, 1);
    const __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, nb__v_pow2i(n1)), nb__v_pow2i(_mm256_sub_epi32(n, n1)));
    return nb__v_nan(y, x);
}

static KATTR inline __m256 nb__v_expm1(__m256 x)
{
    __m256i n;
    const __m256 q = nb__v_expq(x, -87.0f, NB__VM_EXP_HI, &n);
    const __m256i n1 = _mm256_srai_epi32(n, 1);
    const __m256 big = _mm256_sub_ps(
        _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(F1(1.0f), q), nb__v_pow2i(n1)), nb__v_pow2i(_mm256_sub_epi32(n, n1))),
        F1(1.0f));
    const __m256 s = nb__v_pow2i(n);
    const __m256 small = _mm256_add_ps(_mm256_sub_ps(s, F1(1.0f)), _mm256_mul_ps(s, q));
    __m256 y = _mm256_blendv_ps(small, big, _mm256_castsi256_ps(_mm256_cmpgt_epi32(n, _mm256_set1_epi32(24))));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
    return nb__v_nan(y, x);
}

static KATTR inline __m256 nb__v_sigmoid(__m256 x)
{
    const __m256 e = nb__v_exp(_mm256_or_ps(x, F1(-0.0f)));
    const __m256 num = _mm256_blendv_ps(e, F1(1.0f), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(F1(1.0f), e));
}

static KATTR inline __m256 nb__v_tanh(__m256 x)
{
    const __m256 sign = _mm256_and_ps(x, F1(-0.0f));
    const __m256 a = _mm256_xor_ps(x, sign);
    const __m256 z = _mm256_mul_ps(a, a);
    __m256 p = F1(NB__VM_T4);
    p = _mm256_add_ps(_mm256_mul_ps(p, z), F1(NB__VM_T3));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), F1(NB__VM_T2));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), F1(NB__VM_T1));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), F1(NB__VM_T0));
    const __m256 small = _mm256_add_ps(a, _mm256_mul_ps(a, _mm256_mul_ps(z, p)));
    const __m256 e = nb__v_exp(_mm256_xor_ps(_mm256_add_ps(a, a), F1(-0.0f)));
    const __m256 large = _mm256_div_ps(_mm256_sub_ps(F1(1.0f), e), _mm256_add_ps(F1(1.0f), e));
    const __m256 y = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, F1(NB__VM_TANH_SMALL), _CMP_LT_OQ));
    return _mm256_or_ps(y, sign);
}

/* Eight lanes at a time, then the scalar function for the last n % 8. */
KATTR void nb__vexp_f32_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, nb__v_exp(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = nb__vm_exp1(x[i]);
}

KATTR void nb__vexpm1_f32_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, nb__v_expm1(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = nb__vm_expm1_1(x[i]);
}

KATTR void nb__vsigmoid_f32_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, nb__v_sigmoid(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = nb__vm_sigmoid1(x[i]);
}

KATTR void nb__vtanh_f32_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, nb__v_tanh(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = nb__vm_tanh1(x[i]);
}

#else
typedef int nb__vmath_avx2_unused; /* ISO C forbids an empty file */
#endif
