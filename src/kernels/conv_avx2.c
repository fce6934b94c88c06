/* AVX2 loop of the float32 2x2 stride-2 max pool (see conv_avx2.h). */
#include "conv_avx2.h"

#if defined(NB__CONV_X86)
#include <immintrin.h>

#define KATTR __attribute__((target("avx2")))

/* The first 2n (n <= 8) elements of p split into the even and the odd ones:
 * x[0], x[2], ... and x[1], x[3], ...; nothing past p[2n) is read. */
KATTR static inline void nb__deinterleave(const float *p, size_t n, __m256 *even, __m256 *odd)
{
    __m256 a, b;
    if (n == 8) {
        a = _mm256_loadu_ps(p);
        b = _mm256_loadu_ps(p + 8);
    } else {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const int m = (int)(2 * n);
        a = _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(m), lane));
        b = _mm256_maskload_ps(p + 8, _mm256_cmpgt_epi32(_mm256_set1_epi32(m - 8), lane));
    }
    *even = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
    *odd = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
}

/* best, at <- v, off where v takes: v > best, or v NaN and best not. */
KATTR static inline void nb__take(__m256 *best, __m256i *at, __m256 v, __m256i off)
{
    const __m256 m = _mm256_or_ps(
        _mm256_cmp_ps(v, *best, _CMP_GT_OQ),
        _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(*best, *best, _CMP_ORD_Q)));
    *best = _mm256_blendv_ps(*best, v, m);
    *at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*at), _mm256_castsi256_ps(off), m));
}

KATTR void nb__maxpool2_row_avx2_f32(float *y, uint32_t *ix, const float *xp, size_t r0, size_t w, size_t ow)
{
    const float *a = xp + r0, *b = a + w;
    const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), one = _mm256_set1_epi32(1);
    const __m256i down = _mm256_set1_epi32((int)(uint32_t)w), lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (size_t ox = 0; ox < ow; ox += 8) {
        const size_t n = ow - ox < 8 ? ow - ox : 8;
        __m256 ae, ao, be, bo;
        nb__deinterleave(a + 2 * ox, n, &ae, &ao);
        nb__deinterleave(b + 2 * ox, n, &be, &bo);
        const __m256i o00 = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)(r0 + 2 * ox)), lanes);
        const __m256i o10 = _mm256_add_epi32(o00, down);
        __m256 best = ae;
        __m256i at = o00;
        nb__take(&best, &at, ao, _mm256_add_epi32(o00, one));
        nb__take(&best, &at, be, o10);
        nb__take(&best, &at, bo, _mm256_add_epi32(o10, one));
        if (n == 8) {
            _mm256_storeu_ps(y + ox, best);
            _mm256_storeu_si256((__m256i *)(ix + ox), at);
        } else {
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
            _mm256_maskstore_ps(y + ox, m, best);
            _mm256_maskstore_epi32((int *)(ix + ox), m, at);
        }
    }
}
#endif
