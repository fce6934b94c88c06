/* The optimizer and clipping kernels, instantiated for float and double
 * from update.inc. */
#include "optim_impl.h"

#include <tgmath.h>

#define T float
#define S(name) name##_f32
#include "update.inc"
#undef T
#undef S

#define T double
#define S(name) name##_f64
#include "update.inc"
#undef T
#undef S
