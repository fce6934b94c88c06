/* Strided walks (private): visit every element of a shape in row-major order
 * with running offsets into up to three operands of any strides (0 repeats an
 * operand along that dim).  The walk is described by an nb_k_bcast, filled by
 * nb_k_bcast_init (broadcasting) or by hand (permutations, gathers).  Used by
 * the data-movement ops (permute, gather, where) and the reduction kernels. */
#ifndef NB_KERNELS_WALK_H
#define NB_KERNELS_WALK_H

#include <string.h>

#include "kernels.h"

/* A walk in progress, one innermost row at a time (rows numbered in
 * row-major order, numel / shape[ndim-1] of them):
 *     nb__walk w;
 *     for (nb__walk_start(&w, bc, 0); w.row < w.rows; nb__walk_next(&w))
 *         for (size_t j = 0; j < w.inner; j++)
 *             y[w.row * w.inner + j] = x[w.o[0] + j * w.s[0]];
 * Element j of the row is element w.row * w.inner + j of the walked shape
 * and sits at w.o[k] + j * w.s[k] in operand k.  A walk can start at any
 * row, so disjoint ranges of rows can run in parallel. */
typedef struct nb__walk {
    const nb_k_bcast *bc;
    size_t row;              /* the current row */
    size_t rows;             /* rows in the walk (0 for an empty shape) */
    size_t inner;            /* a row's length, shape[ndim-1] */
    size_t s[3];             /* operands 0..2's strides along a row */
    size_t o[3];             /* the offsets of the row's first element in operands 0..2 */
    size_t idx[NB_MAX_DIMS]; /* the row's index in the outer dims */
} nb__walk;

/* Start w at row `row` of bc's walk (row <= the number of rows). */
static inline void nb__walk_start(nb__walk *w, const nb_k_bcast *bc, size_t row)
{
    const int nd = bc->ndim;
    w->bc = bc;
    w->row = row;
    w->inner = bc->shape[nd - 1];
    w->rows = w->inner ? bc->numel / w->inner : 0;
    for (int k = 0; k < 3; k++) {
        w->s[k] = bc->st[k][nd - 1];
        w->o[k] = 0;
    }
    memset(w->idx, 0, sizeof w->idx);
    for (int d = nd - 2; row && d >= 0; d--) { /* row > 0: no dim is 0 */
        w->idx[d] = row % bc->shape[d];
        row /= bc->shape[d];
        for (int k = 0; k < 3; k++) w->o[k] += w->idx[d] * bc->st[k][d];
    }
}

/* Move w to the next row: advance the odometer idx and the offsets o. */
static inline void nb__walk_next(nb__walk *w)
{
    const nb_k_bcast *bc = w->bc;
    size_t o0 = w->o[0], o1 = w->o[1], o2 = w->o[2];
    w->row++;
    for (int d = bc->ndim - 2; d >= 0; d--) {
        o0 += bc->st[0][d];
        o1 += bc->st[1][d];
        o2 += bc->st[2][d];
        if (++w->idx[d] < bc->shape[d]) break;
        o0 -= bc->st[0][d] * bc->shape[d];
        o1 -= bc->st[1][d] * bc->shape[d];
        o2 -= bc->st[2][d] * bc->shape[d];
        w->idx[d] = 0;
    }
    w->o[0] = o0;
    w->o[1] = o1;
    w->o[2] = o2;
}

/* dst = src with adjacent dims merged where operand k's strides allow it
 * (st[k][d-1] == st[k][d] * shape[d]): the same elements in the same order,
 * in fewer, longer rows.  Only operand k's strides are kept meaningful: a
 * walk of dst may use o[k]/s[k] and the flat element index, no others. */
static inline void nb__walk_merge_dims(nb_k_bcast *dst, const nb_k_bcast *src, int k)
{
    *dst = *src;
    int nd = 1;
    for (int d = 1; d < src->ndim; d++) {
        if (dst->st[k][nd - 1] == src->st[k][d] * src->shape[d]) { /* merge d into the last kept dim */
            dst->shape[nd - 1] *= src->shape[d];
            dst->st[k][nd - 1] = src->st[k][d];
        } else {
            dst->shape[nd] = src->shape[d];
            dst->st[k][nd] = src->st[k][d];
            nd++;
        }
    }
    dst->ndim = nd;
    for (int j = 0; j < 3; j++)
        if (j != k)
            for (int d = 0; d < nd; d++) dst->st[j][d] = 0;
}

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
    nb__walk w;
    for (nb__walk_start(&w, bc, 0); w.row < w.rows; nb__walk_next(&w)) {
        const size_t n = w.inner, i = w.row * n, o0 = w.o[0], s0 = w.s[0];
        if (esz == 4)
            for (size_t j = 0; j < n; j++) memcpy(d + 4 * (i + j), s + 4 * (o0 + j * s0), 4);
        else
            for (size_t j = 0; j < n; j++) memcpy(d + 8 * (i + j), s + 8 * (o0 + j * s0), 8);
    }
}

/* y[i] += x[i] for a float tensor's dtype. */
static inline void nb__axpy_dt(nb_dtype dt, void *y, const void *x, size_t n)
{
    if (dt == NB_F32) nb_k_axpy_f32(y, 1.0f, x, n);
    else nb_k_axpy_f64(y, 1.0, x, n);
}

#endif
