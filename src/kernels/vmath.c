/* vmath: the portable loops and the run-time choice of path (see vmath.h). */
#include "vmath.h"

#include "../core/cpu.h"
#include "vmath_scalar.h"

void nb__vexp_f32_portable(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = nb__vm_exp1(x[i]);
}

void nb__vexpm1_f32_portable(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = nb__vm_expm1_1(x[i]);
}

void nb__vsigmoid_f32_portable(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = nb__vm_sigmoid1(x[i]);
}

void nb__vtanh_f32_portable(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = nb__vm_tanh1(x[i]);
}

/* The AVX2 path where the CPU has it (the same bits either way). */

void nb__vexp_f32(float *y, const float *x, size_t n)
{
#if defined(NB__VMATH_X86)
    if (nb__cpu_has_avx2()) {
        nb__vexp_f32_avx2(y, x, n);
        return;
    }
#endif
    nb__vexp_f32_portable(y, x, n);
}

void nb__vexpm1_f32(float *y, const float *x, size_t n)
{
#if defined(NB__VMATH_X86)
    if (nb__cpu_has_avx2()) {
        nb__vexpm1_f32_avx2(y, x, n);
        return;
    }
#endif
    nb__vexpm1_f32_portable(y, x, n);
}

void nb__vsigmoid_f32(float *y, const float *x, size_t n)
{
#if defined(NB__VMATH_X86)
    if (nb__cpu_has_avx2()) {
        nb__vsigmoid_f32_avx2(y, x, n);
        return;
    }
#endif
    nb__vsigmoid_f32_portable(y, x, n);
}

void nb__vtanh_f32(float *y, const float *x, size_t n)
{
#if defined(NB__VMATH_X86)
    if (nb__cpu_has_avx2()) {
        nb__vtanh_f32_avx2(y, x, n);
        return;
    }
#endif
    nb__vtanh_f32_portable(y, x, n);
}
