/* NLL, MSE, BCE-with-logits and dropout kernels, instantiated for float and double from nn.inc. */
#include "nn.h"

#include <tgmath.h>

#include "vmath_scalar.h"

#define T float
#define S(name) name##_f32
#define NB__F32 1
#include "nn.inc"
#undef NB__F32
#undef T
#undef S

#define T double
#define S(name) name##_f64
#define NB__F32 0
#include "nn.inc"
#undef NB__F32
#undef T
#undef S
