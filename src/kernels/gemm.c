/* Matrix multiply kernels, instantiated for float and double from gemm.inc. */
#include "gemm.h"

#define T float
#define S(name) name##_f32
#include "gemm.inc"
#undef T
#undef S

#define T double
#define S(name) name##_f64
#include "gemm.inc"
#undef T
#undef S
