/* Reduction kernels, instantiated for float and double from reduce.inc. */
#include "reduce.h"

#include <math.h>
#include <stdint.h>

#include "walk.h"

#define T float
#define S(name) name##_f32
#include "reduce.inc"
#undef T
#undef S

#define T double
#define S(name) name##_f64
#include "reduce.inc"
#undef T
#undef S
