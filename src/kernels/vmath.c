/* vmath: the portable loops and the run-time choice of path (see vmath.h). */
#include "vmath.h"

#include "../core/cpu.h"
#include "vmath_scalar.h"

#define NB__VM_PORTABLE(name, f1)                                  \
    void name##_portable(float *y, const float *x, size_t n)       \
    {                                                              \
        for (size_t i = 0; i < n; i++) y[i] = f1(x[i]);            \
    }
NB__VM_PORTABLE(nb__vexp_f32, nb__vm_exp1)
NB__VM_PORTABLE(nb__vexpm1_f32, nb__vm_expm1_1)
NB__VM_PORTABLE(nb__vsigmoid_f32, nb__vm_sigmoid1)
NB__VM_PORTABLE(nb__vtanh_f32, nb__vm_tanh1)
#undef NB__VM_PORTABLE

#if defined(NB__VMATH_X86)
#define NB__VM_DISPATCH(name)                                                  \
    void name(float *y, const float *x, size_t n)                              \
    {                                                                          \
        if (nb__cpu_has_avx2()) name##_avx2(y, x, n);                            \
        else name##_portable(y, x, n);                                         \
    }
#else
#define NB__VM_DISPATCH(name)                                                  \
    void name(float *y, const float *x, size_t n) { name##_portable(y, x, n); }
#endif
NB__VM_DISPATCH(nb__vexp_f32)
NB__VM_DISPATCH(nb__vexpm1_f32)
NB__VM_DISPATCH(nb__vsigmoid_f32)
NB__VM_DISPATCH(nb__vtanh_f32)
