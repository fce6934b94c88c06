/* Reduction kernels, instantiated for float and double from reduce.inc. */
#include "reduce.h"

#include <math.h>
#include <stdint.h>

#include "walk.h"

#define NB__TEMPLATE "reduce.inc"
#include "instantiate.h"
