/* The CPU-feature probe (see cpu.h). */
#include "cpu.h"

#include "nabla/nabla.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* NB__CPU_SHOWS_AVX512F: what the CPU shows, kept whatever NABLA_ISA says. */
enum { NB__CPU_KNOWN = 1, NB__CPU_AVX2 = 2, NB__CPU_FMA = 4, NB__CPU_AVX512F = 8, NB__CPU_SHOWS_AVX512F = 16 };

/* 0 until probed, then NB__CPU_KNOWN and the features; a race probes twice
 * and stores the same value. */
static atomic_int nb__cpu_bits;

/* What the CPU shows, NABLA_ISA aside. */
static int nb__cpu_shown(void)
{
    int b = NB__CPU_KNOWN;
#if defined(NB__CPU_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) b |= NB__CPU_AVX2;
    if (__builtin_cpu_supports("fma")) b |= NB__CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) b |= NB__CPU_AVX512F;
#endif
    return b;
}

/* NABLA_ISA: 0 unset or empty, NB__ISA_* as named, -1 anything else. */
enum { NB__ISA_AVX512 = 1, NB__ISA_AVX2, NB__ISA_GENERIC };
static int nb__isa_env(void)
{
    const char *e = getenv("NABLA_ISA");
    return !e || !*e               ? 0
           : !strcmp(e, "avx512")  ? NB__ISA_AVX512
           : !strcmp(e, "avx2")    ? NB__ISA_AVX2
           : !strcmp(e, "generic") ? NB__ISA_GENERIC
                                   : -1;
}

static int nb__cpu(void)
{
    int b = atomic_load_explicit(&nb__cpu_bits, memory_order_relaxed);
    if (!b) {
        b = nb__cpu_shown();
        if (b & NB__CPU_AVX512F) b |= NB__CPU_SHOWS_AVX512F;
        const int isa = nb__isa_env();
        if (isa == NB__ISA_AVX2) b &= ~NB__CPU_AVX512F;
        else if (isa == NB__ISA_GENERIC) b = NB__CPU_KNOWN | (b & NB__CPU_SHOWS_AVX512F);
        atomic_store_explicit(&nb__cpu_bits, b, memory_order_relaxed);
    }
    return b;
}

const char *nb__cpu_isa_env_error(void)
{
    const int isa = nb__isa_env(), b = nb__cpu_shown();
    if (isa == NB__ISA_AVX512 && !(b & NB__CPU_AVX512F))
        return "this CPU does not show AVX-512F (expected avx2 or generic)";
    if (isa == NB__ISA_AVX2 && !((b & NB__CPU_AVX2) && (b & NB__CPU_FMA)))
        return "this CPU does not show AVX2 and FMA (expected generic)";
    return isa < 0 ? "expected avx512, avx2 or generic" : NULL;
}

const char *nb_isa(void) { return nb__cpu_has_avx512f() ? "avx512" : nb__cpu_has_avx2_fma() ? "avx2" : "generic"; }

int nb__cpu_has_avx2(void) { return (nb__cpu() & NB__CPU_AVX2) != 0; }

int nb__cpu_has_avx2_fma(void)
{
    const int b = nb__cpu();
    return (b & NB__CPU_AVX2) && (b & NB__CPU_FMA);
}

int nb__cpu_has_avx512f(void) { return (nb__cpu() & NB__CPU_AVX512F) != 0; }
int nb__cpu_shows_avx512f(void) { return (nb__cpu() & NB__CPU_SHOWS_AVX512F) != 0; }
