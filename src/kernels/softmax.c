/* Softmax and cross-entropy kernels, instantiated for float and double from softmax.inc. */
#include "softmax.h"

#include <tgmath.h>

#include "vmath.h"
#include "vmath_scalar.h"

#define NB__TEMPLATE "softmax.inc"
#include "instantiate.h"
