/* AVX2 loops of the float32 element-wise kernels (see elementwise_avx2.h):
 * eight lanes of the scalar loop's operations, then the scalar loop itself
 * for the last n % 8.  target("avx2") without fma: nothing is fused. */
#include "elementwise_avx2.h"

#if defined(NB__EW_X86)
#include <immintrin.h>

#define KATTR __attribute__((target("avx2")))

KATTR int nb__ew_unary_avx2_f32(nb_unary_kind k, float *y, const float *x, size_t n, float a)
{
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    switch (k) {
    case NB_U_ADDS:
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(x + i), va));
        for (; i < n; i++) y[i] = x[i] + a;
        return 1;
    case NB_U_MULS:
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
        for (; i < n; i++) y[i] = x[i] * a;
        return 1;
    default: return 0;
    }
}

KATTR int nb__ew_unary_bwd_avx2_f32(nb_unary_kind k, float *gx, const float *gy, const float *x, const float *y,
                                    size_t n, float a)
{
    size_t i = 0;
    switch (k) {
    case NB_U_EXP: /* gx += g y */
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(gx + i, _mm256_add_ps(_mm256_loadu_ps(gx + i),
                                                   _mm256_mul_ps(_mm256_loadu_ps(gy + i), _mm256_loadu_ps(y + i))));
        for (; i < n; i++) gx[i] += gy[i] * y[i];
        return 1;
    default: return 0;
    }
}

KATTR int nb__ew_act_avx2_f32(nb_act act, float *y, const float *x, size_t n, float a)
{
    const __m256 z = _mm256_setzero_ps(), va = _mm256_set1_ps(a);
    size_t i = 0;
    switch (act) {
    case NB_ACT_RELU: /* v <= 0 ? 0 : v -- a NaN compares false and stays */
        for (; i + 8 <= n; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            _mm256_storeu_ps(y + i, _mm256_andnot_ps(_mm256_cmp_ps(v, z, _CMP_LE_OQ), v));
        }
        for (; i < n; i++) y[i] = x[i] <= 0 ? 0.0f : x[i];
        return 1;
    case NB_ACT_LEAKY_RELU: /* v > 0 ? v : a v */
        for (; i + 8 <= n; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            _mm256_storeu_ps(y + i, _mm256_blendv_ps(_mm256_mul_ps(va, v), v, _mm256_cmp_ps(v, z, _CMP_GT_OQ)));
        }
        for (; i < n; i++) y[i] = x[i] > 0 ? x[i] : a * x[i];
        return 1;
    default: return 0;
    }
}

KATTR int nb__ew_act_bwd_avx2_f32(nb_act act, float *gx, const float *gy, const float *x, const float *y, size_t n,
                                  float a)
{
    const __m256 z = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), va = _mm256_set1_ps(a);
    size_t i = 0;
    switch (act) {
    case NB_ACT_RELU: /* gx += x > 0 ? g : 0 */
        for (; i + 8 <= n; i += 8) {
            const __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_GT_OQ);
            _mm256_storeu_ps(gx + i, _mm256_add_ps(_mm256_loadu_ps(gx + i), _mm256_and_ps(m, _mm256_loadu_ps(gy + i))));
        }
        for (; i < n; i++) gx[i] += x[i] > 0 ? gy[i] : 0.0f;
        return 1;
    case NB_ACT_LEAKY_RELU: /* gx += x > 0 ? g : g a */
        for (; i + 8 <= n; i += 8) {
            const __m256 g = _mm256_loadu_ps(gy + i);
            const __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_GT_OQ);
            _mm256_storeu_ps(gx + i,
                             _mm256_add_ps(_mm256_loadu_ps(gx + i), _mm256_blendv_ps(_mm256_mul_ps(g, va), g, m)));
        }
        for (; i < n; i++) gx[i] += x[i] > 0 ? gy[i] : gy[i] * a;
        return 1;
    case NB_ACT_SIGMOID: /* gx += g y (1 - y) */
        for (; i + 8 <= n; i += 8) {
            const __m256 yv = _mm256_loadu_ps(y + i);
            const __m256 d = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(gy + i), yv), _mm256_sub_ps(one, yv));
            _mm256_storeu_ps(gx + i, _mm256_add_ps(_mm256_loadu_ps(gx + i), d));
        }
        for (; i < n; i++) gx[i] += gy[i] * y[i] * (1.0f - y[i]);
        return 1;
    case NB_ACT_TANH: /* gx += g (1 - y y) */
        for (; i + 8 <= n; i += 8) {
            const __m256 yv = _mm256_loadu_ps(y + i);
            const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(gy + i), _mm256_sub_ps(one, _mm256_mul_ps(yv, yv)));
            _mm256_storeu_ps(gx + i, _mm256_add_ps(_mm256_loadu_ps(gx + i), d));
        }
        for (; i < n; i++) gx[i] += gy[i] * (1.0f - y[i] * y[i]);
        return 1;
    default: return 0;
    }
}

/* a (op) b for op add, sub, mul or div: eight lanes, and one.  The callers
 * pass a constant op, so the switch folds away. */
#define KINLINE static inline __attribute__((always_inline, target("avx2")))

KINLINE __m256 nb__bin_v8(nb_binary_kind k, __m256 a, __m256 b)
{
    switch (k) {
    case NB_B_SUB: return _mm256_sub_ps(a, b);
    case NB_B_MUL: return _mm256_mul_ps(a, b);
    case NB_B_DIV: return _mm256_div_ps(a, b);
    default: return _mm256_add_ps(a, b);
    }
}

KINLINE float nb__bin_v1(nb_binary_kind k, float a, float b)
{
    switch (k) {
    case NB_B_SUB: return a - b;
    case NB_B_MUL: return a * b;
    case NB_B_DIV: return a / b;
    default: return a + b;
    }
}

KINLINE void nb__bin_row(nb_binary_kind k, float *y, const float *a, size_t sa, const float *b, size_t sb, size_t n)
{
    size_t j = 0;
    if (sa && sb) {
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(y + j, nb__bin_v8(k, _mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j)));
    } else if (sa) {
        const __m256 vb = _mm256_set1_ps(b[0]);
        for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, nb__bin_v8(k, _mm256_loadu_ps(a + j), vb));
    } else if (sb) {
        const __m256 va = _mm256_set1_ps(a[0]);
        for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, nb__bin_v8(k, va, _mm256_loadu_ps(b + j)));
    }
    for (; j < n; j++) y[j] = nb__bin_v1(k, a[j * sa], b[j * sb]);
}

KATTR void nb__ew_bin_row_avx2_f32(nb_binary_kind k, float *y, const float *a, size_t sa, const float *b, size_t sb,
                                   size_t n)
{
    switch (k) {
    case NB_B_ADD: nb__bin_row(NB_B_ADD, y, a, sa, b, sb, n); break;
    case NB_B_SUB: nb__bin_row(NB_B_SUB, y, a, sa, b, sb, n); break;
    case NB_B_MUL: nb__bin_row(NB_B_MUL, y, a, sa, b, sb, n); break;
    case NB_B_DIV: nb__bin_row(NB_B_DIV, y, a, sa, b, sb, n); break;
    default: break;
    }
}

KATTR void nb__ew_acc_row_avx2_f32(float *y, const float *x, size_t n, int neg)
{
    size_t j = 0;
    if (neg) {
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(y + j, _mm256_sub_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(x + j)));
        for (; j < n; j++) y[j] -= x[j];
    } else {
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(x + j)));
        for (; j < n; j++) y[j] += x[j];
    }
}

KATTR void nb__ew_accmul_row_avx2_f32(float *y, const float *g, const float *b, size_t sb, size_t n)
{
    size_t j = 0;
    if (sb) {
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j),
                                                  _mm256_mul_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(b + j))));
    } else {
        const __m256 vb = _mm256_set1_ps(b[0]);
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), _mm256_mul_ps(_mm256_loadu_ps(g + j), vb)));
    }
    for (; j < n; j++) y[j] += g[j] * b[j * sb];
}

KATTR void nb__ew_axpy_avx2_f32(float *y, float a, const float *x, size_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), _mm256_mul_ps(va, _mm256_loadu_ps(x + j))));
    for (; j < n; j++) y[j] += a * x[j];
}

KATTR void nb__ew_scale_avx2_f32(float *y, float a, size_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), va));
    for (; j < n; j++) y[j] *= a;
}

#else
typedef int nb__ew_avx2_unused; /* ISO C forbids an empty file */
#endif
