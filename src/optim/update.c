/* The optimizer and clipping kernels, instantiated for float and double
 * from update.inc. */
#include "optim_impl.h"

#include <tgmath.h>

#define NB__TEMPLATE "../optim/update.inc"
#include "../kernels/instantiate.h"
