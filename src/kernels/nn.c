/* NLL, MSE, BCE-with-logits and dropout kernels, instantiated for float and double from nn.inc. */
#include "nn.h"

#include <tgmath.h>

#define T float
#define S(name) name##_f32
#include "nn.inc"
#undef T
#undef S

#define T double
#define S(name) name##_f64
#include "nn.inc"
#undef T
#undef S
