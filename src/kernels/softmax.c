/* Softmax and cross-entropy kernels, instantiated for float and double from softmax.inc. */
#include "softmax.h"

#include <tgmath.h>

#include "vmath.h"
#include "vmath_scalar.h"

#define T float
#define S(name) name##_f32
#define NB__F32 1
#include "softmax.inc"
#undef NB__F32
#undef T
#undef S

#define T double
#define S(name) name##_f64
#define NB__F32 0
#include "softmax.inc"
#undef NB__F32
#undef T
#undef S
