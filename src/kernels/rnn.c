/* Recurrent kernels (see rnn.h), instantiated for float and double from rnn.inc. */
#include "rnn.h"

#include <string.h>
#include <tgmath.h>

#include "../core/pool.h"
#include "../core/cpu.h"
#include "gemm.h"
#include "rnn_avx2.h"
#include "vmath.h"
#include "nabla/nabla.h"

/* The gate loops are written for the vectoriser (as in linear.c: GCC's -O2
 * cost model would leave them scalar). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* n elements rounded up to a multiple of 16 (64 bytes of float, 128 of
 * double): the scratch's regions start 64-byte aligned */
#define NB__RNN_UP16(n) (((n) + 15) / 16 * 16)

#define NB__TEMPLATE "rnn.inc"
#include "instantiate.h"
