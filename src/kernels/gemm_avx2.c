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

#define KX(name) nb__avx2_##name
#include "gemm_pack_x86.inc"
#undef KX

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
#define VSTOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define KS(name) nb__avx2_##name##_f32
#define KTYPE nb__gemm_kern_f32
#define KNAME nb__gemm_avx2_f32
#define KPACK_AN(ap, s, lda, k) nb__avx2_pack_an6_f32(ap, s, lda, k)
#define KPACK_BT(bp, s, ldb, k, cols, n) nb__avx2_pack_bt_f32(bp, s, ldb, k, 16, cols, n)
#define KPACK_BTW 8
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
#undef VSTOREM
#undef KS
#undef KTYPE
#undef KNAME
#undef KPACK_AN
#undef KPACK_BT
#undef KPACK_BTW
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
#define VSTOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define KS(name) nb__avx2_##name##_f64
#define KTYPE nb__gemm_kern_f64
#define KNAME nb__gemm_avx2_f64
#define KPACK_AN(ap, s, lda, k) nb__avx2_pack_an6_f64(ap, s, lda, k)
#define KPACK_BT(bp, s, ldb, k, cols, n) nb__avx2_pack_bt_f64(bp, s, ldb, k, 8, cols, n)
#define KPACK_BTW 4
#define KMC 72
#define KKC 256
#define KNC 2040
#include "gemm_kern.inc"

#endif
