/* Element-wise kernels, instantiated for float and double from elementwise.inc.
 * The float32 instance uses vmath for exp & co and, on a CPU with AVX2, the
 * loops of elementwise_avx2.c (same bits as the scalar loops).  Loops over
 * at least 2 * NB__EW_GRAIN elements are split over the thread pool in
 * contiguous ranges: every element is computed the same way whatever the
 * split, so results do not depend on the thread count.  The reductions
 * (sum-to-shape, the broadcast operand's gradient) stay in one thread, in
 * the order of the elements. */
#include "kernels.h"
#include "walk.h"

#include <tgmath.h>

#include "../core/cpu.h"
#include "../core/pool.h"
#include "elementwise_avx2.h"
#include "vmath.h"

/* Waking the pool costs a few microseconds: regions below ~64K elements
 * (~20 us of ReLU) run in the caller. */
#define NB__EW_GRAIN ((size_t)32768)
/* Scratch on the stack for the float32 paths that need a second array. */
#define NB__EW_BLOCK 256

void nb_k_bcast_init(nb_k_bcast *bc, int out_ndim, const size_t *out_shape, int nops, const int *op_ndim,
                     const size_t *const *op_shape)
{
    /* A 0-d output iterates as one element of a 1-d shape. */
    bc->ndim = out_ndim > 0 ? out_ndim : 1;
    bc->numel = 1;
    for (int d = 0; d < bc->ndim; d++) {
        bc->shape[d] = out_ndim > 0 ? out_shape[d] : 1;
        bc->numel *= bc->shape[d];
    }
    for (int k = 0; k < 3; k++) {
        size_t stride = 1;
        for (int d = bc->ndim - 1; d >= 0; d--) {
            bc->st[k][d] = 0;
            if (k >= nops) continue;
            int od = d - (bc->ndim - op_ndim[k]); /* right-aligned */
            if (od < 0) continue;
            size_t n = op_shape[k][od];
            bc->st[k][d] = n == 1 ? 0 : stride;
            stride *= n;
        }
    }
}

#define NB__TEMPLATE "elementwise.inc"
#include "instantiate.h"
