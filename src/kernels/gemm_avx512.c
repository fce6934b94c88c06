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
#include <stdint.h>

#define KATTR __attribute__((target("avx512f")))

#define MR 12
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define KPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define KX(name) nb__avx512_##name
#include "gemm_pack_x86.inc"

/* ------------------------------------------------ float dot, 4 x 5 a tile */
/* Two vectors of 16 lanes (x, y) into one: lanes 0-7 hold x's lanes i and i + 8
 * added, lanes 8-15 y's. */
#define NB__R1(x, y) _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE))
/* Two of those (u from x, y; w from z, t) into one: 128-bit chunk q holds 4
 * lanes of x, y, z, t for q = 0..3. */
#define NB__R2(u, w) _mm512_add_ps(_mm512_shuffle_f32x4(u, w, 0x88), _mm512_shuffle_f32x4(u, w, 0xDD))
/* Within each chunk, two of those (4 lanes each of one sum) into 2 lanes each. */
#define NB__R3(u, w) _mm512_add_ps(_mm512_shuffle_ps(u, w, 0x44), _mm512_shuffle_ps(u, w, 0xEE))
/* ... and two of those into 1 lane each. */
#define NB__R4(u, w) _mm512_add_ps(_mm512_shuffle_ps(u, w, 0x88), _mm512_shuffle_ps(u, w, 0xDD))

/* The template's masked row store (gemm_kern.inc, instantiated below). */
KATTR static inline void nb__avx512_store_row_f32(float *c, __m512 x, __m512 y, __m512 va, __m512 vb, int b0,
                                                  __mmask16 m0, __mmask16 m1, int two);

/* C[m, n] (m <= 4, n <= 5) = alpha * A B^T + beta * C, each element a dot
 * product over k of a stored row of A (lda apart) and one of B (ldb apart),
 * like the template's 4 x 3 dot kernel; rows past m (n) repeat the last one.
 * 20 sums of 16 lanes, so 9 loads feed 20 FMAs; the lanes are then added by
 * one shuffle tree for all 20 sums (30-odd shuffles, against ~4 for each sum
 * one at a time), in the same order for every tile. */
KATTR static void nb__avx512_dot45_f32(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float alpha,
                                       float beta, float *c, size_t ldc, size_t m, size_t n)
{
#define NB__MN(x, y) ((x) < (y) ? (x) : (y))
    const float *a0 = a, *a1 = a + NB__MN(1, m - 1) * lda, *a2 = a + NB__MN(2, m - 1) * lda,
                *a3 = a + NB__MN(3, m - 1) * lda;
    const float *b0 = b, *b1 = b + NB__MN(1, n - 1) * ldb, *b2 = b + NB__MN(2, n - 1) * ldb,
                *b3 = b + NB__MN(3, n - 1) * ldb, *b4 = b + NB__MN(4, n - 1) * ldb;
#undef NB__MN
#define NB__D5(i) \
    __m512 s##i##0 = _mm512_setzero_ps(), s##i##1 = s##i##0, s##i##2 = s##i##0, s##i##3 = s##i##0, s##i##4 = s##i##0;
    NB__D5(0)
    NB__D5(1)
    NB__D5(2)
    NB__D5(3)
#undef NB__D5
#define NB__ROW(i, x)                                                                     \
    s##i##0 = _mm512_fmadd_ps(x, y0, s##i##0), s##i##1 = _mm512_fmadd_ps(x, y1, s##i##1), \
    s##i##2 = _mm512_fmadd_ps(x, y2, s##i##2), s##i##3 = _mm512_fmadd_ps(x, y3, s##i##3), \
    s##i##4 = _mm512_fmadd_ps(x, y4, s##i##4);
#define NB__STEP(LD)                                                                                      \
    {                                                                                                     \
        const __m512 y0 = LD(b0 + p), y1 = LD(b1 + p), y2 = LD(b2 + p), y3 = LD(b3 + p), y4 = LD(b4 + p); \
        __m512 x = LD(a0 + p);                                                                            \
        NB__ROW(0, x)                                                                                     \
        x = LD(a1 + p);                                                                                   \
        NB__ROW(1, x)                                                                                     \
        x = LD(a2 + p);                                                                                   \
        NB__ROW(2, x)                                                                                     \
        x = LD(a3 + p);                                                                                   \
        NB__ROW(3, x)                                                                                     \
    }
    size_t p = 0;
    for (; p + 16 <= k; p += 16) NB__STEP(_mm512_loadu_ps)
    if (p < k) {
        const __mmask16 mk = (__mmask16)((1u << (k - p)) - 1u);
#define NB__LDM(q) _mm512_maskz_loadu_ps(mk, q)
        NB__STEP(NB__LDM)
#undef NB__LDM
    }
#undef NB__STEP
#undef NB__ROW
    /* sum v (v = 5 i + j, s<i><j>) ends in lane 4 (v % 4) + v / 4 of r0 for
     * v < 16, in lane 4 (v - 16) of r1 for the last four (see rows below) */
    const __m512 u0 = NB__R1(s00, s01), u1 = NB__R1(s02, s03), u2 = NB__R1(s04, s10), u3 = NB__R1(s11, s12);
    const __m512 u4 = NB__R1(s13, s14), u5 = NB__R1(s20, s21), u6 = NB__R1(s22, s23), u7 = NB__R1(s24, s30);
    const __m512 u8 = NB__R1(s31, s32), u9 = NB__R1(s33, s34);
    const __m512 w0 = NB__R2(u0, u1), w1 = NB__R2(u2, u3), w2 = NB__R2(u4, u5), w3 = NB__R2(u6, u7);
    const __m512 w4 = NB__R2(u8, u9);
    const __m512 z0 = NB__R3(w0, w1), z1 = NB__R3(w2, w3), z2 = NB__R3(w4, w4);
    const __m512 r0 = NB__R4(z0, z1), r1 = NB__R4(z2, z2);
    /* row i's 5 sums into lanes 0-4 (index 16 + l: lane l of r1), then stored
     * as the tiles store an edge row: alpha * s, then + beta * c, unfused */
    static const int32_t rows[4][16] = {{0, 4, 8, 12, 1}, {5, 9, 13, 2, 6}, {10, 14, 3, 7, 11}, {15, 16, 20, 24, 28}};
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 mn = (__mmask16)((1u << n) - 1u);
    for (size_t i = 0; i < m; i++) {
        const __m512 v = _mm512_permutex2var_ps(r0, _mm512_loadu_si512((const void *)rows[i]), r1);
        nb__avx512_store_row_f32(c + i * ldc, v, v, va, vb, beta == 0, mn, 0, 0);
    }
}
#undef NB__R1
#undef NB__R2
#undef NB__R3
#undef NB__R4

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
/* The 4 x 5 dot kernel above (the template's 4 x 3 one ran no faster than
 * AVX2's: 12 horizontal sums a tile).  Its rate and the cost of a tile's
 * sums are fitted to gemm_bench (1 thread, Xeon): 64 x 10 x 128 ran it at
 * ~110 GFLOP/s where narrow ran ~78.  With a B past L2 (NB__GEMM_DOT_L2,
 * gemm.inc) each row of tiles reads it again from L3, ~8 floats a cycle:
 * 64 x 768 x 784 ran dot at ~90 where packed ran ~147.  (The threshold was
 * 64 KiB, from gemm_bench timing 64 x 128 x 784 dot at ~105 against packed
 * ~130; a harness with allocations of its own, and the 784-128-10 step,
 * run that product dot at ~165-185 against ~145.) */
#define KDOT nb__avx512_dot45_f32
#define KDOTM 4
#define KDOTN 5
#define KDOTSUM 40
#define KDOTSTREAM 0.125
#define KDOTR (0.6 * NB__NR)
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
/* the template's 4 x 3 dot kernel: no faster than AVX2's (loads, not lanes,
 * bound it), so 30% of NR here */
#define KDOTR (0.3 * NB__NR)
#include "gemm_kern.inc"

#endif
