/* The element functions of vmath (private), one float at a time.  These are
 * the definition: the AVX2 loops in vmath_avx2.c perform exactly the same
 * float operations in the same order (no FMA, no reassociation), so both
 * paths return the same bits for every input.  Only vmath.c and
 * vmath_avx2.c include this file.
 *
 * exp(x): x = n ln2 + r with n = round(x / ln2) (the 1.5 * 2^23 trick rounds
 * to nearest even), ln2 split in two so n * LN2HI is exact (Cody-Waite);
 * e^r = 1 + (r + r^2 Q(r)) on |r| <= ln2/2 with Q of degree 4 fitted by
 * weighted least squares towards minimax (relative error 3e-9 before float
 * rounding); then * 2^n1 * 2^n2 with n1 = n >> 1, n2 = n - n1, so the
 * scaling is exact until the last multiply, which rounds once -- into the
 * subnormals or to inf exactly as a correctly rounded result would. */
#ifndef NB_KERNELS_VMATH_SCALAR_H
#define NB_KERNELS_VMATH_SCALAR_H

#include <stdint.h>
#include <string.h>

#define NB__VM_LOG2E 0x1.715476p+0f
#define NB__VM_SHIFT 0x1.8p+23f   /* adding it rounds to an integer */
#define NB__VM_LN2HI 0x1.62e4p-1f /* 15 significant bits: n * LN2HI is exact */
#define NB__VM_LN2LO 0x1.7f7d1cp-20f
#define NB__VM_EXP_LO -104.0f /* e^x rounds to 0 below -103.98 */
#define NB__VM_EXP_HI 89.0f   /* and to inf above 88.73 */
/* Q(r) = (e^r - 1 - r) / r^2, degree 4 */
#define NB__VM_E2 0x1.fffffcp-2f
#define NB__VM_E3 0x1.555492p-3f
#define NB__VM_E4 0x1.5558f2p-5f
#define NB__VM_E5 0x1.1239d4p-7f
#define NB__VM_E6 0x1.6a244cp-10f
/* tanh(a) = a + a^3 P(a^2) on [0, 0.55), degree 4 (relative error 1e-9) */
#define NB__VM_TANH_SMALL 0.55f
#define NB__VM_T0 -0x1.55554ap-2f
#define NB__VM_T1 0x1.110d26p-3f
#define NB__VM_T2 -0x1.b9287ap-5f
#define NB__VM_T3 0x1.593d06p-6f
#define NB__VM_T4 -0x1.9b3044p-8f

static inline float nb__vm_bits2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t nb__vm_f2bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* 2^k for k in [-126, 127]. */
static inline float nb__vm_pow2i(int32_t k) { return nb__vm_bits2f((uint32_t)(k + 127) << 23); }

/* The shared core: clamps x, returns q = e^r - 1 and n (x ~ n ln2 + r). */
static inline float nb__vm_expq(float x, float lo, float hi, int32_t *n)
{
    const float xc = x < lo ? lo : (x > hi ? hi : x);
    const float t = xc * NB__VM_LOG2E + NB__VM_SHIFT;
    const float nf = t - NB__VM_SHIFT;
    float r = xc - nf * NB__VM_LN2HI;
    r = r - nf * NB__VM_LN2LO;
    float q = NB__VM_E6;
    q = q * r + NB__VM_E5;
    q = q * r + NB__VM_E4;
    q = q * r + NB__VM_E3;
    q = q * r + NB__VM_E2;
    *n = (int32_t)nf;
    return r + (r * r) * q;
}

static inline float nb__vm_exp1(float x)
{
    if (x != x) return x + x;
    int32_t n;
    const float p = 1.0f + nb__vm_expq(x, NB__VM_EXP_LO, NB__VM_EXP_HI, &n);
    const int32_t n1 = n >> 1; /* arithmetic shift (gcc, clang): floor(n / 2) */
    return p * nb__vm_pow2i(n1) * nb__vm_pow2i(n - n1);
}

/* e^x - 1: (2^n - 1) + 2^n q, exact but for the last add, for n <= 24;
 * e^x - 1 computed as exp above for larger n; x >= -87 keeps 2^n normal
 * (e^x - 1 is -1 in float below -17.4).  ±0 returns itself. */
static inline float nb__vm_expm1_1(float x)
{
    if (x != x) return x + x;
    if (x == 0.0f) return x;
    int32_t n;
    const float q = nb__vm_expq(x, -87.0f, NB__VM_EXP_HI, &n);
    if (n > 24) {
        const int32_t n1 = n >> 1;
        return (1.0f + q) * nb__vm_pow2i(n1) * nb__vm_pow2i(n - n1) - 1.0f;
    }
    const float s = nb__vm_pow2i(n);
    return (s - 1.0f) + s * q;
}

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e^-|x| never overflows. */
static inline float nb__vm_sigmoid1(float x)
{
    const float e = nb__vm_exp1(nb__vm_bits2f(nb__vm_f2bits(x) | 0x80000000u));
    const float num = x >= 0.0f ? 1.0f : e;
    return num / (1.0f + e);
}

/* a = |x|: a + a (a^2 P(a^2)) below 0.55, else (1 - e) / (1 + e) with
 * e = e^(-2a) (no cancellation there: e <= 0.333); the sign of x put back. */
static inline float nb__vm_tanh1(float x)
{
    const uint32_t sign = nb__vm_f2bits(x) & 0x80000000u;
    const float a = nb__vm_bits2f(nb__vm_f2bits(x) ^ sign);
    float y;
    if (a < NB__VM_TANH_SMALL) {
        const float z = a * a;
        float p = NB__VM_T4;
        p = p * z + NB__VM_T3;
        p = p * z + NB__VM_T2;
        p = p * z + NB__VM_T1;
        p = p * z + NB__VM_T0;
        y = a + a * (z * p);
    } else {
        const float e = nb__vm_exp1(-(a + a));
        y = (1.0f - e) / (1.0f + e);
    }
    return nb__vm_bits2f(nb__vm_f2bits(y) | sign);
}

#endif
