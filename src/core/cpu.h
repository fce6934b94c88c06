/* The instruction sets of the CPU we run on (private), probed once (by
 * __builtin_cpu_supports on x86-64 with GCC or Clang; elsewhere every answer
 * is 0) and cached.  The kernels with AVX2 or AVX-512 paths (gemm, vmath,
 * the element-wise and optimizer loops) ask here, so all agree.
 * NABLA_ISA=avx2 hides AVX-512 and NABLA_ISA=generic hides both, read once
 * at the probe: the AVX2 paths can be run and timed on a CPU that has
 * AVX-512, and the portable C on any (avx512, or unset, keeps all the CPU
 * shows). */
#ifndef NB_CORE_CPU_H
#define NB_CORE_CPU_H

#if defined(__x86_64__) && defined(__GNUC__)
#define NB__CPU_X86 1 /* the compiler can build AVX2 / AVX-512 code */
#endif

int nb__cpu_has_avx2(void);      /* AVX2 */
int nb__cpu_has_avx2_fma(void);  /* AVX2 and FMA */
int nb__cpu_has_avx512f(void);   /* AVX-512F */
int nb__cpu_shows_avx512f(void); /* AVX-512F shown by the CPU, even where NABLA_ISA keeps it unused */
/* NULL when NABLA_ISA is unset or means something here, else why not (for
 * nb_check_env): an unknown value, or avx512/avx2 that the CPU lacks. */
const char *nb__cpu_isa_env_error(void);

#endif
