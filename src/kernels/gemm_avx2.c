/* AVX2 + FMA gemm kernels: float 6 x 16 and double 6 x 8 micro-tiles (12
 * accumulator registers of the 16).  The library is built for baseline
 * x86-64, so every function here carries target("avx2,fma"); gemm.c calls
 * them only after nb__cpu_has_avx2_fma() said the CPU has both. */
#include "gemm.h"

#if defined(NB__GEMM_X86)
#include <immintrin.h>
#include <stdint.h>

#define KATTR __attribute__((target("avx2,fma")))

/* VMASK(n) loads 8 (4) lanes starting 8 - n (4 - n) entries into these. */
static const int32_t nb__avx2_m32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static const int64_t nb__avx2_m64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};

KATTR static inline float nb__avx2_hsum_ps(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

KATTR static inline double nb__avx2_hsum_pd(__m256d v)
{
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    x = _mm_add_sd(x, _mm_unpackhi_pd(x, x));
    return _mm_cvtsd_f64(x);
}

/* The 8 x 8 transpose of rows r0..r7, in place: r<q> becomes column q.
 * Written out (no arrays) so that everything stays in registers. */
#define NB__T8X8(r0, r1, r2, r3, r4, r5, r6, r7)                                                 \
    do {                                                                                         \
        const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);           \
        const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);           \
        const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);           \
        const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);           \
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE); \
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE); \
        const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE); \
        const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE); \
        r0 = _mm256_permute2f128_ps(u0, u4, 0x20), r1 = _mm256_permute2f128_ps(u1, u5, 0x20);    \
        r2 = _mm256_permute2f128_ps(u2, u6, 0x20), r3 = _mm256_permute2f128_ps(u3, u7, 0x20);    \
        r4 = _mm256_permute2f128_ps(u0, u4, 0x31), r5 = _mm256_permute2f128_ps(u1, u5, 0x31);    \
        r6 = _mm256_permute2f128_ps(u2, u6, 0x31), r7 = _mm256_permute2f128_ps(u3, u7, 0x31);    \
    } while (0)

/* ap[p * 6 + r] = s[r * lda + p] for r < 6 and p < k rounded down to 8 (returned).
 * Each transposed column is stored as 8 lanes, the 2 extra ones overwritten by
 * the next column's store; the last column of each 8 is stored as 4 + 2. */
KATTR static size_t nb__avx2_pack_an_f32(float *ap, const float *s, size_t lda, size_t k)
{
    const float *s0 = s, *s1 = s0 + lda, *s2 = s1 + lda, *s3 = s2 + lda, *s4 = s3 + lda, *s5 = s4 + lda;
    size_t p = 0;
    for (; p + 8 <= k; p += 8, ap += 48) {
        __m256 r0 = _mm256_loadu_ps(s0 + p), r1 = _mm256_loadu_ps(s1 + p), r2 = _mm256_loadu_ps(s2 + p);
        __m256 r3 = _mm256_loadu_ps(s3 + p), r4 = _mm256_loadu_ps(s4 + p), r5 = _mm256_loadu_ps(s5 + p);
        __m256 r6 = r5, r7 = r5;
        NB__T8X8(r0, r1, r2, r3, r4, r5, r6, r7);
        _mm256_storeu_ps(ap, r0);
        _mm256_storeu_ps(ap + 6, r1);
        _mm256_storeu_ps(ap + 12, r2);
        _mm256_storeu_ps(ap + 18, r3);
        _mm256_storeu_ps(ap + 24, r4);
        _mm256_storeu_ps(ap + 30, r5);
        _mm256_storeu_ps(ap + 36, r6);
        _mm_storeu_ps(ap + 42, _mm256_castps256_ps128(r7));
        _mm_storel_pi((__m64 *)(void *)(ap + 46), _mm256_extractf128_ps(r7, 1));
    }
    return p;
}

/* bp[p * 16 + c] = s[c * ldb + p] for c < 16 and p < k rounded down to 8 (returned).
 * Eight rows at a time, so that when rows lie a multiple of 4 KiB apart the
 * cache lines being read still fit in one L1 set.  Eight streams that far
 * apart outrun the hardware prefetchers (measured: pack_b's share of an
 * M = 64 A B^T fell from ~25% to ~17%), so each row is prefetched NB__PFT
 * floats (8 lines) ahead. */
#define NB__PFT 128
KATTR static size_t nb__avx2_pack_bt_f32(float *bp, const float *s, size_t ldb, size_t k)
{
    const size_t k8 = k / 8 * 8;
    for (size_t h = 0; h < 16; h += 8)
        for (size_t p = 0; p < k8; p += 8) {
            const float *q = s + h * ldb + p;
            float *d = bp + p * 16 + h;
            if (p + NB__PFT < k8)
                for (size_t r = 0; r < 8; r++) _mm_prefetch((const char *)(q + r * ldb + NB__PFT), _MM_HINT_T0);
            __m256 r0 = _mm256_loadu_ps(q), r1 = _mm256_loadu_ps(q + ldb), r2 = _mm256_loadu_ps(q + 2 * ldb);
            __m256 r3 = _mm256_loadu_ps(q + 3 * ldb), r4 = _mm256_loadu_ps(q + 4 * ldb);
            __m256 r5 = _mm256_loadu_ps(q + 5 * ldb), r6 = _mm256_loadu_ps(q + 6 * ldb);
            __m256 r7 = _mm256_loadu_ps(q + 7 * ldb);
            NB__T8X8(r0, r1, r2, r3, r4, r5, r6, r7);
            _mm256_storeu_ps(d, r0);
            _mm256_storeu_ps(d + 16, r1);
            _mm256_storeu_ps(d + 32, r2);
            _mm256_storeu_ps(d + 48, r3);
            _mm256_storeu_ps(d + 64, r4);
            _mm256_storeu_ps(d + 80, r5);
            _mm256_storeu_ps(d + 96, r6);
            _mm256_storeu_ps(d + 112, r7);
        }
    return k8;
}
#undef NB__PFT

/* Double: the 4 x 4 transpose of rows r0..r3 into columns c0..c3. */
#define NB__T4X4(r0, r1, r2, r3, c0, c1, c2, c3)                                              \
    do {                                                                                      \
        const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);       \
        const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);       \
        c0 = _mm256_permute2f128_pd(t0, t2, 0x20), c1 = _mm256_permute2f128_pd(t1, t3, 0x20); \
        c2 = _mm256_permute2f128_pd(t0, t2, 0x31), c3 = _mm256_permute2f128_pd(t1, t3, 0x31); \
    } while (0)

/* ap[p * 6 + r] = s[r * lda + p] for r < 6 and p < k rounded down to 4 (returned):
 * rows 0-3 by a 4 x 4 transpose, rows 4-5 by pairs. */
KATTR static size_t nb__avx2_pack_an_f64(double *ap, const double *s, size_t lda, size_t k)
{
    const double *s0 = s, *s1 = s0 + lda, *s2 = s1 + lda, *s3 = s2 + lda, *s4 = s3 + lda, *s5 = s4 + lda;
    size_t p = 0;
    for (; p + 4 <= k; p += 4, ap += 24) {
        __m256d c0, c1, c2, c3;
        NB__T4X4(_mm256_loadu_pd(s0 + p), _mm256_loadu_pd(s1 + p), _mm256_loadu_pd(s2 + p), _mm256_loadu_pd(s3 + p), c0,
                 c1, c2, c3);
        const __m256d r4 = _mm256_loadu_pd(s4 + p), r5 = _mm256_loadu_pd(s5 + p);
        const __m256d u0 = _mm256_unpacklo_pd(r4, r5), u1 = _mm256_unpackhi_pd(r4, r5);
        _mm256_storeu_pd(ap, c0);
        _mm_storeu_pd(ap + 4, _mm256_castpd256_pd128(u0));
        _mm256_storeu_pd(ap + 6, c1);
        _mm_storeu_pd(ap + 10, _mm256_castpd256_pd128(u1));
        _mm256_storeu_pd(ap + 12, c2);
        _mm_storeu_pd(ap + 16, _mm256_extractf128_pd(u0, 1));
        _mm256_storeu_pd(ap + 18, c3);
        _mm_storeu_pd(ap + 22, _mm256_extractf128_pd(u1, 1));
    }
    return p;
}

/* bp[p * 8 + c] = s[c * ldb + p] for c < 8 and p < k rounded down to 4 (returned),
 * four rows at a time (see the float one). */
KATTR static size_t nb__avx2_pack_bt_f64(double *bp, const double *s, size_t ldb, size_t k)
{
    const size_t k4 = k / 4 * 4;
    for (size_t h = 0; h < 8; h += 4)
        for (size_t p = 0; p < k4; p += 4) {
            const double *q = s + h * ldb + p;
            double *d = bp + p * 8 + h;
            __m256d c0, c1, c2, c3;
            NB__T4X4(_mm256_loadu_pd(q), _mm256_loadu_pd(q + ldb), _mm256_loadu_pd(q + 2 * ldb),
                     _mm256_loadu_pd(q + 3 * ldb), c0, c1, c2, c3);
            _mm256_storeu_pd(d, c0);
            _mm256_storeu_pd(d + 8, c1);
            _mm256_storeu_pd(d + 16, c2);
            _mm256_storeu_pd(d + 24, c3);
        }
    return k4;
}

#define MR 6
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define KPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define VM __m256i

/* ------------------------------------------------------------ float 6 x 16 */
#define T float
#define V __m256
#define VL 8
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VBCAST(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VHSUM(v) nb__avx2_hsum_ps(v)
#define VMASK(n) _mm256_loadu_si256((const __m256i *)(nb__avx2_m32 + 8 - (n)))
#define VLOADM(p, m) _mm256_maskload_ps(p, m)
#define KS(name) nb__avx2_##name##_f32
#define KTYPE nb__gemm_kern_f32
#define KNAME nb__gemm_avx2_f32
#define KPACK_AN(ap, s, lda, k) nb__avx2_pack_an_f32(ap, s, lda, k)
#define KPACK_BT(bp, s, ldb, k) nb__avx2_pack_bt_f32(bp, s, ldb, k)
#define KMC 144
#define KKC 256
#define KNC 4080
#include "gemm_kern.inc"
#undef T
#undef V
#undef VL
#undef VZERO
#undef VLOAD
#undef VSTORE
#undef VBCAST
#undef VFMA
#undef VMUL
#undef VADD
#undef VHSUM
#undef VMASK
#undef VLOADM
#undef KS
#undef KTYPE
#undef KNAME
#undef KPACK_AN
#undef KPACK_BT
#undef KMC
#undef KKC
#undef KNC

/* ------------------------------------------------------------ double 6 x 8 */
#define T double
#define V __m256d
#define VL 4
#define VZERO() _mm256_setzero_pd()
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd(p, v)
#define VBCAST(x) _mm256_set1_pd(x)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VHSUM(v) nb__avx2_hsum_pd(v)
#define VMASK(n) _mm256_loadu_si256((const __m256i *)(nb__avx2_m64 + 4 - (n)))
#define VLOADM(p, m) _mm256_maskload_pd(p, m)
#define KS(name) nb__avx2_##name##_f64
#define KTYPE nb__gemm_kern_f64
#define KNAME nb__gemm_avx2_f64
#define KPACK_AN(ap, s, lda, k) nb__avx2_pack_an_f64(ap, s, lda, k)
#define KPACK_BT(bp, s, ldb, k) nb__avx2_pack_bt_f64(bp, s, ldb, k)
#define KMC 72
#define KKC 256
#define KNC 2040
#include "gemm_kern.inc"

#endif
