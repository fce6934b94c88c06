/* Shape ops: reshape and slice (views when they can be), transpose/permute and
 * concat (copies).  They only move data, so they take any dtype; gradients flow
 * through float ones.  Each backward adds the output's gradient back into the
 * input positions its forward read. */
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../kernels/walk.h"

#include <stdio.h>

/* axis in [-ndim, ndim) -> [0, ndim); -1 when out of range. */
static int nb__axis(int axis, int ndim)
{
    if (axis < -ndim || axis >= ndim) return -1;
    return axis < 0 ? axis + ndim : axis;
}

/* Elements before and after `axis` of a shape: it reads as [outer, shape[axis], inner]. */
static void nb__outer_inner(const size_t *shape, int ndim, int axis, size_t *outer, size_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= shape[d];
    for (int d = axis + 1; d < ndim; d++) *inner *= shape[d];
}

/* ----------------------------------------------------------------- reshape */
static int nb__reshape_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb__axpy_dt(x->dtype, gx->data, n->gout->data, x->numel);
    return 0;
}
static const nb__opdef nb__op_reshape = {"reshape", nb__reshape_backward};

/* "[2, -1]" for error messages. */
static const char *nb__lshape(char *buf, size_t size, int ndim, const long *shape)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, d ? ", %ld" : "%ld", shape[d]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

nb_tensor *nb_reshape(nb_ctx *c, nb_tensor *a, int ndim, const long *shape)
{
    if (!c || !a) return nb__null_arg(__func__);
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        return nb__err("reshape: %d dimensions asked of %s (must be 0..%d)", ndim, nb__shp(a), NB_MAX_DIMS);
    if (ndim > 0 && !shape) return nb__err("reshape: NULL shape for %d dimensions", ndim);
    char want[128];
    size_t sz[NB_MAX_DIMS], known = 1; /* product of the dims given */
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == -1 && infer < 0) {
            infer = d;
            sz[d] = 1;
            continue;
        }
        if (shape[d] < 0)
            return nb__err("reshape: bad target shape %s for %s (one -1 at most, no other negative)",
                           nb__lshape(want, sizeof want, ndim, shape), nb__shp(a));
        sz[d] = (size_t)shape[d];
        if (sz[d] && known > SIZE_MAX / 8 / sz[d])
            return nb__err("reshape: target shape %s overflows", nb__lshape(want, sizeof want, ndim, shape));
        known *= sz[d];
    }
    if (infer >= 0) {
        if (known == 0 || a->numel % known)
            return nb__err("reshape: cannot infer the -1 in %s for %s (%zu elements)",
                           nb__lshape(want, sizeof want, ndim, shape), nb__shp(a), a->numel);
        sz[infer] = a->numel / known;
        known = a->numel;
    }
    if (known != a->numel)
        return nb__err("reshape: cannot view %s (%zu elements) as %s (%zu elements)", nb__shp(a), a->numel,
                       nb__lshape(want, sizeof want, ndim, shape), known);
    nb_tensor *y = nb__view(c, a, ndim, sz, 0);
    if (!y) return NULL;
    nb__node *n;
    if (nb__record(c, &nb__op_reshape, y, 1, &a, &n)) return NULL;
    return y;
}

/* ------------------------------------------------------ transpose, permute */
/* The walk over the output's shape whose operand 0 steps through the input:
 * out dim d is input dim perm[d]. */
static void nb__permute_walk(nb_k_bcast *bc, const nb_tensor *a, const long *perm)
{
    size_t ast[NB_MAX_DIMS], oshape[NB_MAX_DIMS];
    nb__strides(ast, a->ndim, a->shape);
    for (int d = 0; d < a->ndim; d++) oshape[d] = a->shape[perm[d]];
    nb__walk_init(bc, a->ndim, oshape);
    for (int d = 0; d < a->ndim; d++) bc->st[0][d] = ast[perm[d]];
}

static int nb__permute_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb_k_bcast bc;
    nb__permute_walk(&bc, x, n->i);
    /* gx[offset of out element i in x] += gout[i] */
    if (x->dtype == NB_F32) nb_k_sum_to_f32(gx->data, n->gout->data, &bc);
    else nb_k_sum_to_f64(gx->data, n->gout->data, &bc);
    return 0;
}
static const nb__opdef nb__op_permute = {"permute", nb__permute_backward};
static const nb__opdef nb__op_transpose = {"transpose", nb__permute_backward};

/* perm has been validated: a permutation of 0..ndim-1. */
static nb_tensor *nb__permute(nb_ctx *c, const nb__opdef *op, nb_tensor *a, const long *perm)
{
    size_t oshape[NB_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) oshape[d] = a->shape[perm[d]];
    nb_tensor *y = nb__new(c, a->dtype, a->ndim, oshape);
    if (!y) return NULL;
    nb_k_bcast bc;
    nb__permute_walk(&bc, a, perm);
    nb__walk_copy(y->data, a->data, nb_dtype_size(a->dtype), &bc);
    nb__node *n;
    if (nb__record(c, op, y, 1, &a, &n)) return NULL;
    if (n)
        for (int d = 0; d < a->ndim; d++) n->i[d] = perm[d];
    return y;
}

nb_tensor *nb_permute(nb_ctx *c, nb_tensor *a, const int *perm)
{
    if (!c || !a) return nb__null_arg(__func__);
    if (a->ndim > 0 && !perm) return nb__err("permute: NULL permutation for %s", nb__shp(a));
    long p[NB_MAX_DIMS];
    unsigned seen = 0;
    for (int d = 0; d < a->ndim; d++) {
        int ax = nb__axis(perm[d], a->ndim);
        if (ax < 0 || (seen & (1u << ax)))
            return nb__err("permute: entry %d (%d) of the permutation is out of range or repeated for %s", d, perm[d],
                           nb__shp(a));
        seen |= 1u << ax;
        p[d] = ax;
    }
    return nb__permute(c, &nb__op_permute, a, p);
}

nb_tensor *nb_transpose(nb_ctx *c, nb_tensor *a, int d0, int d1)
{
    if (!c || !a) return nb__null_arg(__func__);
    int x0 = nb__axis(d0, a->ndim), x1 = nb__axis(d1, a->ndim);
    if (x0 < 0 || x1 < 0) return nb__err("transpose: dims %d and %d are out of range for %s", d0, d1, nb__shp(a));
    long p[NB_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) p[d] = d;
    p[x0] = x1;
    p[x1] = x0;
    return nb__permute(c, &nb__op_transpose, a, p);
}

/* ------------------------------------------------------------------- slice */
static int nb__slice_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    int ax = (int)n->i[0];
    size_t start = (size_t)n->i[1], len = n->out->shape[ax], dim = x->shape[ax], outer, inner;
    nb__outer_inner(x->shape, x->ndim, ax, &outer, &inner);
    size_t esz = nb_dtype_size(x->dtype);
    for (size_t o = 0; o < outer; o++)
        nb__axpy_dt(x->dtype, (char *)gx->data + (o * dim + start) * inner * esz,
                    (const char *)n->gout->data + o * len * inner * esz, len * inner);
    return 0;
}
static const nb__opdef nb__op_slice = {"slice", nb__slice_backward};

nb_tensor *nb_slice(nb_ctx *c, nb_tensor *a, int axis, size_t start, size_t stop)
{
    if (!c || !a) return nb__null_arg(__func__);
    int ax = nb__axis(axis, a->ndim);
    if (ax < 0) return nb__err("slice: axis %d is out of range for %s", axis, nb__shp(a));
    size_t dim = a->shape[ax];
    if (start > stop || stop > dim)
        return nb__err("slice: [%zu:%zu] is out of range for dimension %d of %s (size %zu)", start, stop, ax,
                       nb__shp(a), dim);
    size_t shape[NB_MAX_DIMS], outer, inner, len = stop - start, esz = nb_dtype_size(a->dtype);
    memcpy(shape, a->shape, sizeof shape);
    shape[ax] = len;
    nb__outer_inner(a->shape, a->ndim, ax, &outer, &inner);
    nb_tensor *y;
    if (outer == 1) { /* one contiguous run: a view */
        y = nb__view(c, a, a->ndim, shape, start * inner);
    } else {
        y = nb__new(c, a->dtype, a->ndim, shape);
        for (size_t o = 0; y && o < outer; o++)
            memcpy((char *)y->data + o * len * inner * esz, (const char *)a->data + (o * dim + start) * inner * esz,
                   len * inner * esz);
    }
    if (!y) return NULL;
    nb__node *n;
    if (nb__record(c, &nb__op_slice, y, 1, &a, &n)) return NULL;
    if (n) {
        n->i[0] = ax;
        n->i[1] = (long)start;
    }
    return y;
}

/* ------------------------------------------------------------------ concat */
static int nb__concat_backward(nb_ctx *c, nb__node *n)
{
    int ax = (int)n->i[0];
    size_t total = n->out->shape[ax], outer, inner, at = 0;
    nb__outer_inner(n->out->shape, n->out->ndim, ax, &outer, &inner);
    size_t esz = nb_dtype_size(n->out->dtype);
    for (int k = 0; k < n->n_in; k++) {
        int err = 0;
        nb_tensor *x = n->in[k], *gx = nb__gbuf(c, x, &err);
        if (err) return err;
        size_t len = x->shape[ax] * inner; /* elements of x per outer step */
        for (size_t o = 0; gx && o < outer; o++)
            nb__axpy_dt(x->dtype, (char *)gx->data + o * len * esz,
                        (const char *)n->gout->data + (o * total * inner + at) * esz, len);
        at += len;
    }
    return 0;
}
static const nb__opdef nb__op_concat = {"concat", nb__concat_backward};

nb_tensor *nb_concat(nb_ctx *c, int n_x, nb_tensor *const *xs, int axis)
{
    if (!c) return nb__null_arg(__func__);
    if (n_x <= 0 || !xs) return nb__err("concat: needs at least one tensor (got %d)", n_x);
    for (int k = 0; k < n_x; k++)
        if (!xs[k]) return NULL; /* an earlier op failed */
    const nb_tensor *a = xs[0];
    int ax = nb__axis(axis, a->ndim);
    if (ax < 0) return nb__err("concat: axis %d is out of range for %s", axis, nb__shp(a));
    size_t total = 0;
    for (int k = 0; k < n_x; k++) {
        const nb_tensor *x = xs[k];
        if (x->dtype != a->dtype)
            return nb__err("concat: dtypes differ (tensor 0 is %s %s, tensor %d is %s %s)", nb__shp(a),
                           nb_dtype_name(a->dtype), k, nb__shp(x), nb_dtype_name(x->dtype));
        bool ok = x->ndim == a->ndim;
        for (int d = 0; ok && d < a->ndim; d++) ok = d == ax || x->shape[d] == a->shape[d];
        if (!ok)
            return nb__err("concat: tensor %d %s does not match tensor 0 %s outside axis %d", k, nb__shp(x), nb__shp(a),
                           ax);
        if (x->shape[ax] > SIZE_MAX / 8 - total) return nb__err("concat: the result is too large");
        total += x->shape[ax];
    }
    size_t shape[NB_MAX_DIMS], outer, inner, at = 0, esz = nb_dtype_size(a->dtype);
    memcpy(shape, a->shape, sizeof shape);
    shape[ax] = total;
    nb_tensor *y = nb__new(c, a->dtype, a->ndim, shape);
    if (!y) return NULL;
    nb__outer_inner(shape, a->ndim, ax, &outer, &inner);
    for (int k = 0; k < n_x; k++) {
        size_t len = xs[k]->shape[ax] * inner;
        for (size_t o = 0; o < outer; o++)
            memcpy((char *)y->data + (o * total * inner + at) * esz, (const char *)xs[k]->data + o * len * esz,
                   len * esz);
        at += len;
    }
    nb__node *n;
    if (nb__record(c, &nb__op_concat, y, n_x, xs, &n)) return NULL;
    if (n) n->i[0] = ax;
    return y;
}
