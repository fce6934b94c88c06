/* NLL, MSE, BCE-with-logits and dropout kernels, instantiated for float and double from nn.inc. */
#include "nn.h"

#include "nabla/nabla.h"

#include <tgmath.h>

#include "vmath_scalar.h"

#define NB__TEMPLATE "nn.inc"
#include "instantiate.h"
