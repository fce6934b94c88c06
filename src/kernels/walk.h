/* Strided walks (private): visit every element of a shape in row-major order
 * with running offsets into up to three operands of any strides (0 repeats an
 * operand along that dim).  The walk is described by an nb_k_bcast, filled by
 * nb_k_bcast_init (broadcasting) or by hand (permutations, gathers).  Used by
 * the data-movement ops (permute, gather, where) and the reduction kernels. */
#ifndef NB_KERNELS_WALK_H
#define NB_KERNELS_WALK_H

#include <string.h>

#include "kernels.h"

/* BODY sees i (flat index into the walked shape) and i0, i1, i2 (offsets into
 * operands 0..2 by the strides bc->st[0..2]). */
#define NB__WALK(bc, BODY)                                                              \
    do {                                                                                \
        const nb_k_bcast *wbc_ = (bc);                                                  \
        size_t widx_[NB_MAX_DIMS] = {0}, i0 = 0, i1 = 0, i2 = 0;                        \
        for (size_t i = 0; i < wbc_->numel; i++) {                                      \
            (void)i0; (void)i1; (void)i2;                                               \
            BODY;                                                                       \
            for (int d_ = wbc_->ndim - 1; d_ >= 0; d_--) {                              \
                i0 += wbc_->st[0][d_]; i1 += wbc_->st[1][d_]; i2 += wbc_->st[2][d_];    \
                if (++widx_[d_] < wbc_->shape[d_]) break;                               \
                i0 -= wbc_->st[0][d_] * wbc_->shape[d_];                                \
                i1 -= wbc_->st[1][d_] * wbc_->shape[d_];                                \
                i2 -= wbc_->st[2][d_] * wbc_->shape[d_];                                \
                widx_[d_] = 0;                                                          \
            }                                                                           \
        }                                                                               \
    } while (0)

/* A walk over `shape` (a 0-d shape walks one element) with all strides 0;
 * the caller then sets the strides it needs. */
static inline void nb__walk_init(nb_k_bcast *bc, int ndim, const size_t *shape)
{
    memset(bc, 0, sizeof *bc);
    bc->ndim = ndim > 0 ? ndim : 1;
    bc->numel = 1;
    for (int d = 0; d < bc->ndim; d++) {
        bc->shape[d] = ndim > 0 ? shape[d] : 1;
        bc->numel *= bc->shape[d];
    }
}

/* Row-major strides (in elements) of a contiguous `shape`. */
static inline void nb__strides(size_t *st, int ndim, const size_t *shape)
{
    size_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = s;
        s *= shape[d];
    }
}

/* dst[i] = src[i0] over the walk, for elements of esz bytes (4 or 8). */
static inline void nb__walk_copy(void *dst, const void *src, size_t esz, const nb_k_bcast *bc)
{
    char *d = dst;
    const char *s = src;
    if (esz == 4) NB__WALK(bc, memcpy(d + 4 * i, s + 4 * i0, 4));
    else NB__WALK(bc, memcpy(d + 8 * i, s + 8 * i0, 8));
}

/* y[i] += x[i] for a float tensor's dtype. */
static inline void nb__axpy_dt(nb_dtype dt, void *y, const void *x, size_t n)
{
    if (dt == NB_F32) nb_k_axpy_f32(y, 1.0f, x, n);
    else nb_k_axpy_f64(y, 1.0, x, n);
}

#endif
