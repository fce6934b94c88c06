/* Fused Linear kernels, instantiated for float and double from linear.inc. */
#include "linear.h"

#include <tgmath.h>

/* The row loops are written for the vectoriser; -O2's cost model in GCC
 * ("very cheap") never vectorises a loop that needs a remainder or an alias
 * check, so these kernels ask for the usual one.  (Clang vectorises at -O2.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#define NB__TEMPLATE "linear.inc"
#include "instantiate.h"
