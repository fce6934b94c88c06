/* The 1-thread float FMA peak the benchmarks count fractions of (included by
 * gemm_bench.c and conv_bench.c): ten independent chains of FMAs, 8-wide
 * (AVX2) and, where the CPU shows AVX-512F, 16-wide, timed by the thread's
 * CPU clock, best of 3.  The peak is the wider loop's where it runs: the
 * machine's limit, whichever path nabla's kernels take (NABLA_ISA). */
#ifndef NB_BENCH_FMA_PEAK_H
#define NB_BENCH_FMA_PEAK_H

#include <stddef.h>
#include <time.h>

static double fma_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* One loop of width W (8 or 16 floats): GFLOP/s, best of 3. */
#define FMA_PEAK_LOOP(NAME, ATTR, VT, SET1, FMADD, ADD, STORE, W)                             \
    __attribute__((target(ATTR))) static double NAME(void)                                    \
    {                                                                                         \
        const size_t iters = 10 * 1000 * 1000;                                                \
        double best = 0;                                                                      \
        for (int rep = 0; rep < 3; rep++) {                                                   \
            const VT a = SET1(0.999999f), b = SET1(1e-7f);                                    \
            VT c[10];                                                                         \
            for (int k = 0; k < 10; k++) c[k] = SET1((float)k);                               \
            const double t0 = fma_cpu_now();                                                  \
            for (size_t i = 0; i < iters; i++) {                                              \
                c[0] = FMADD(c[0], a, b), c[1] = FMADD(c[1], a, b), c[2] = FMADD(c[2], a, b); \
                c[3] = FMADD(c[3], a, b), c[4] = FMADD(c[4], a, b), c[5] = FMADD(c[5], a, b); \
                c[6] = FMADD(c[6], a, b), c[7] = FMADD(c[7], a, b), c[8] = FMADD(c[8], a, b); \
                c[9] = FMADD(c[9], a, b);                                                     \
            }                                                                                 \
            const double t = fma_cpu_now() - t0;                                              \
            VT s = c[0];                                                                      \
            for (int k = 1; k < 10; k++) s = ADD(s, c[k]);                                    \
            float out[16];                                                                    \
            STORE(out, s);                                                                    \
            const double g = 2.0 * (W)*10 * (double)iters / t * 1e-9;                         \
            if (g > best && out[0] == out[0]) best = g;                                       \
        }                                                                                     \
        return best;                                                                          \
    }
FMA_PEAK_LOOP(fma_peak_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
FMA_PEAK_LOOP(fma_peak_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
#undef FMA_PEAK_LOOP

/* The peak, and (both may be NULL) the AVX2 loop's rate and the loop the
 * peak is ("avx512" or "avx2"). */
static double fma_peak(double *avx2, const char **isa)
{
    __builtin_cpu_init();
    const double p2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? fma_peak_avx2() : 0;
    const double p5 = __builtin_cpu_supports("avx512f") ? fma_peak_avx512() : 0;
    if (avx2) *avx2 = p2;
    if (isa) *isa = p5 > 0 ? "avx512" : "avx2";
    return p5 > 0 ? p5 : p2;
}
#else
static double fma_peak(double *avx2, const char **isa)
{
    if (avx2) *avx2 = 0;
    if (isa) *isa = "none";
    return 0;
}
#endif

#endif
