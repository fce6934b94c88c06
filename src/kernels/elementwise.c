/* Element-wise kernels, instantiated for float and double from elementwise.inc. */
#include "kernels.h"
#include "walk.h"

#include <tgmath.h>

void nb_k_bcast_init(nb_k_bcast *bc, int out_ndim, const size_t *out_shape, int nops,
                     const int *op_ndim, const size_t *const *op_shape)
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

#define T float
#define S(name) name##_f32
#include "elementwise.inc"
#undef T
#undef S

#define T double
#define S(name) name##_f64
#include "elementwise.inc"
#undef T
#undef S
