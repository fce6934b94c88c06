/* The CPU-feature probe (see cpu.h). */
#include "cpu.h"

#include <stdatomic.h>

enum { NB__CPU_KNOWN = 1, NB__CPU_AVX2 = 2, NB__CPU_FMA = 4, NB__CPU_AVX512F = 8 };

/* 0 until probed, then NB__CPU_KNOWN and the features; a race probes twice
 * and stores the same value. */
static atomic_int nb__cpu_bits;

static int nb__cpu(void)
{
    int b = atomic_load_explicit(&nb__cpu_bits, memory_order_relaxed);
    if (!b) {
        b = NB__CPU_KNOWN;
#if defined(NB__CPU_X86)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) b |= NB__CPU_AVX2;
        if (__builtin_cpu_supports("fma")) b |= NB__CPU_FMA;
        if (__builtin_cpu_supports("avx512f")) b |= NB__CPU_AVX512F;
#endif
        atomic_store_explicit(&nb__cpu_bits, b, memory_order_relaxed);
    }
    return b;
}

int nb__cpu_has_avx2(void) { return (nb__cpu() & NB__CPU_AVX2) != 0; }

int nb__cpu_has_avx2_fma(void)
{
    const int b = nb__cpu();
    return (b & NB__CPU_AVX2) && (b & NB__CPU_FMA);
}

int nb__cpu_has_avx512f(void) { return (nb__cpu() & NB__CPU_AVX512F) != 0; }
