/* Fused Linear kernels, instantiated for float and double from linear.inc. */
#include "linear.h"

#include "../core/pool.h"

#include <tgmath.h>

/* The row loops are written for the vectoriser; -O2's cost model in GCC
 * ("very cheap") never vectorises a loop that needs a remainder or an alias
 * check, so these kernels ask for the usual one.  (Clang vectorises at -O2.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* Elements (rows x columns) a task of the forward and backward passes takes
 * at the least: below twice this a pass stays in the caller (784-128-10 at
 * batch 64, 8192 elements a layer, never wakes the pool). */
#define NB__LIN_GRAIN ((size_t)32768)

#define NB__TEMPLATE "linear.inc"
#include "instantiate.h"
