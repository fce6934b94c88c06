/* Strided walks (private): visit every element of a shape in row-major order
 * with running offsets into up to three operands of any strides (0 repeats an
 * operand along that dim).  The walk is described by an nb_k_bcast, filled by
 * nb_k_bcast_init (broadcasting) or by hand (permutations, gathers).  Used by
 * the data-movement ops (permute, gather, where) and the reduction kernels. */
#ifndef NB_KERNELS_WALK_H
#define NB_KERNELS_WALK_H

#include <string.h>

#include "kernels.h"

/* Advance the odometer idx_ (and the offsets o0, o1, o2) from one innermost
 * row to the next: the step both walks below share. */
#define NB__WALK_NEXT_ROW(bc)                                                               \
    for (int d_ = nd_ - 2; d_ >= 0; d_--) {                                                 \
        o0 += (bc)->st[0][d_]; o1 += (bc)->st[1][d_]; o2 += (bc)->st[2][d_];                \
        if (++idx_[d_] < (bc)->shape[d_]) break;                                            \
        o0 -= (bc)->st[0][d_] * (bc)->shape[d_];                                            \
        o1 -= (bc)->st[1][d_] * (bc)->shape[d_];                                            \
        o2 -= (bc)->st[2][d_] * (bc)->shape[d_];                                            \
        idx_[d_] = 0;                                                                       \
    }

/* BODY sees i (flat index into the walked shape) and i0, i1, i2 (offsets into
 * operands 0..2 by the strides bc->st[0..2]); j is the index along the
 * innermost dim.  The innermost dim is a plain loop, the outer dims advance
 * running offsets once per row. */
#define NB__WALK(bc, BODY)                                                            \
    do {                                                                                    \
        const int nd_ = (bc)->ndim;                                                         \
        const size_t inner_ = (bc)->shape[nd_ - 1];                                         \
        const size_t s0_ = (bc)->st[0][nd_ - 1], s1_ = (bc)->st[1][nd_ - 1],                \
                     s2_ = (bc)->st[2][nd_ - 1];                                            \
        const size_t rows_ = inner_ ? (bc)->numel / inner_ : 0;                             \
        size_t idx_[NB_MAX_DIMS] = {0}, o0 = 0, o1 = 0, o2 = 0;                             \
        (void)s2_;                                                                          \
        for (size_t r_ = 0; r_ < rows_; r_++) {                                             \
            for (size_t j = 0; j < inner_; j++) {                                           \
                const size_t i = r_ * inner_ + j;                                           \
                const size_t i0 = o0 + j * s0_, i1 = o1 + j * s1_, i2 = o2 + j * s2_;       \
                (void)i; (void)i0; (void)i1; (void)i2;                                      \
                BODY;                                                                       \
            }                                                                               \
            NB__WALK_NEXT_ROW(bc);                                                          \
        }                                                                                   \
    } while (0)

/* The same walk by rows: the body (the macro's last arguments; commas are
 * allowed) runs once per innermost row r_ in [r_lo, r_hi) (rows numbered in
 * row-major order, numel / shape[ndim-1] of them) and sees o0, o1, o2 (the
 * offsets of the row's first element in operands 0..2), s0_, s1_, s2_ (their
 * strides along the row) and inner_ (the row's length).  A
 * range of rows can start anywhere, so disjoint ranges can run in parallel. */
#define NB__WALK_ROWS(bc, r_lo, r_hi, ...)                                                  \
    do {                                                                                    \
        const int nd_ = (bc)->ndim;                                                         \
        const size_t inner_ = (bc)->shape[nd_ - 1];                                         \
        const size_t s0_ = (bc)->st[0][nd_ - 1], s1_ = (bc)->st[1][nd_ - 1],                \
                     s2_ = (bc)->st[2][nd_ - 1];                                            \
        size_t idx_[NB_MAX_DIMS] = {0}, o0 = 0, o1 = 0, o2 = 0, rr_ = (r_lo);               \
        (void)s0_; (void)s1_; (void)s2_; (void)o1; (void)o2;                                \
        for (int d_ = nd_ - 2; rr_ && d_ >= 0; d_--) { /* rr_ > 0: no dim is 0 */          \
            idx_[d_] = rr_ % (bc)->shape[d_];                                               \
            rr_ /= (bc)->shape[d_];                                                         \
            o0 += idx_[d_] * (bc)->st[0][d_]; o1 += idx_[d_] * (bc)->st[1][d_];             \
            o2 += idx_[d_] * (bc)->st[2][d_];                                               \
        }                                                                                   \
        for (size_t r_ = (r_lo); r_ < (r_hi); r_++) {                                       \
            __VA_ARGS__;                                                                    \
            NB__WALK_NEXT_ROW(bc);                                                          \
        }                                                                                   \
    } while (0)

/* Rows of a walk (0 for an empty shape). */
static inline size_t nb__walk_rows(const nb_k_bcast *bc)
{
    const size_t inner = bc->shape[bc->ndim - 1];
    return inner ? bc->numel / inner : 0;
}

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
