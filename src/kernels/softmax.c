/* Softmax and cross-entropy kernels, instantiated for float and double from softmax.inc. */
#include "softmax.h"

#include <tgmath.h>

#define T float
#define S(name) name##_f32
#include "softmax.inc"
#undef T
#undef S

#define T double
#define S(name) name##_f64
#include "softmax.inc"
#undef T
#undef S
