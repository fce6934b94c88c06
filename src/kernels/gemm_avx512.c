/* AVX-512F gemm kernels: float 12 x 32 and double 12 x 16 micro-tiles (24
 * accumulator registers of the 32); lane masks handle the edges.  Every
 * function carries target("avx512f"); gemm.c calls them only after
 * nb__cpu_has_avx512f() said yes.  Packing transposes with the 256-bit
 * shuffles the AVX2 path uses (gemm_pack_x86.inc): before them, each element
 * of an A or a B^T packed was a scalar load and store, 11% of the big MLP's
 * step at batch 256. */
#include "gemm.h"

#if defined(NB__GEMM_X86)
#include <immintrin.h>

#define KATTR __attribute__((target("avx512f")))

#define MR 12
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define KPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define KX(name) nb__avx512_##name
#include "gemm_pack_x86.inc"

/* ----------------------------------------------------------- float 12 x 32 */
#define T float
#define V __m512
#define VL 16
#define VM __mmask16
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VBCAST(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define VMASK(n) ((__mmask16)((1u << (n)) - 1u))
#define VLOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define KS(name) nb__avx512_##name##_f32
#define KTYPE nb__gemm_kern_f32
#define KNAME nb__gemm_avx512_f32
#define KPACK_AN(ap, s, lda, k) nb__avx512_pack_an12_f32(ap, s, lda, k)
#define KPACK_BT(bp, s, ldb, k, cols, n) nb__avx512_pack_bt_f32(bp, s, ldb, k, 32, cols, n)
#define KPACK_BTW 8
#define KNARROW 1
#define KMC 144
#define KKC 256
#define KNC 4096
/* The dot kernel runs no faster than AVX2's (loads, not lanes, bound it):
 * on a Xeon showing AVX-512, mlp fc1 fwd (64 x 128 x 784, A B^T) ran dot 59
 * GFLOP/s against packed 122, so dot counts 30% of NR here, not 60%. */
#define KDOTR (0.3 * NB__NR)
#include "gemm_kern.inc"
#undef T
#undef V
#undef VL
#undef VM
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
#undef KNARROW
#undef KMC
#undef KKC
#undef KNC

/* ----------------------------------------------------------- double 12 x 16 */
#define T double
#define V __m512d
#define VL 8
#define VM __mmask8
#define VZERO() _mm512_setzero_pd()
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd(p, v)
#define VBCAST(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VADD(a, b) _mm512_add_pd(a, b)
#define VHSUM(v) _mm512_reduce_add_pd(v)
#define VMASK(n) ((__mmask8)((1u << (n)) - 1u))
#define VLOADM(p, m) _mm512_maskz_loadu_pd(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define KS(name) nb__avx512_##name##_f64
#define KTYPE nb__gemm_kern_f64
#define KNAME nb__gemm_avx512_f64
#define KPACK_AN(ap, s, lda, k) nb__avx512_pack_an12_f64(ap, s, lda, k)
#define KPACK_BT(bp, s, ldb, k, cols, n) nb__avx512_pack_bt_f64(bp, s, ldb, k, 16, cols, n)
#define KPACK_BTW 4
#define KNARROW 1
#define KMC 72
#define KKC 256
#define KNC 2048
#define KDOTR (0.3 * NB__NR)
#include "gemm_kern.inc"

#endif
