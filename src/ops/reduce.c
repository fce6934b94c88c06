/* Reductions: sum, mean, max, min over all or some axes.  A reduction walks
 * the input's shape with the output's strides, 0 on the reduced dims (the
 * "keepdim" shape), so sum is the sum-to-shape kernel and its backward the
 * broadcast-add kernel.  max/min save, per output element, the flat index of
 * the first extreme input element, and their backward routes the gradient
 * there.  Empty reductions: sum gives 0 and mean NaN (as PyTorch); max/min of
 * an empty group have no value and are an error. */
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../kernels/reduce.h"

/* What a reduction of `a` over some axes looks like. */
typedef struct {
    unsigned mask; /* bit d set: dim d is reduced */
    int ndim;      /* the output's */
    size_t shape[NB_MAX_DIMS];
    size_t count; /* input elements per output element */
    size_t numel; /* output elements */
} nb__plan;

/* Validate the axes and work out the output; 0 or -1 with an error naming op. */
static int nb__plan_make(const char *op, const nb_tensor *a, const int *axes, int n_axes, int keepdim, nb__plan *p)
{
    if (nb__need_float(op, a)) return -1;
    if (n_axes < 0) return nb__erri("%s: n_axes is %d for %s", op, n_axes, nb__shp(a));
    if (axes && n_axes > a->ndim)
        return nb__erri("%s: %d axes are out of range for %s (at most %d)", op, n_axes, nb__shp(a), a->ndim);
    p->mask = 0;
    if (!axes || n_axes == 0) {
        p->mask = (1u << a->ndim) - 1;
    } else {
        for (int k = 0; k < n_axes; k++) {
            int ax = axes[k];
            if (ax < -a->ndim || ax >= a->ndim)
                return nb__erri("%s: axis %d is out of range for %s", op, axes[k], nb__shp(a));
            if (ax < 0) ax += a->ndim;
            if (p->mask & (1u << ax)) return nb__erri("%s: axis %d is repeated for %s", op, axes[k], nb__shp(a));
            p->mask |= 1u << ax;
        }
    }
    p->ndim = 0;
    p->count = p->numel = 1;
    for (int d = 0; d < a->ndim; d++) {
        bool red = p->mask & (1u << d);
        if (red) p->count *= a->shape[d];
        else p->numel *= a->shape[d];
        if (!red) p->shape[p->ndim++] = a->shape[d];
        else if (keepdim) p->shape[p->ndim++] = 1;
    }
    return 0;
}

/* The walk over a's shape whose operand 0 is the output (reduced dims kept as 1). */
static void nb__reduce_walk(nb_k_bcast *bc, const nb_tensor *a, unsigned mask)
{
    size_t kshape[NB_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) kshape[d] = (mask & (1u << d)) ? 1 : a->shape[d];
    const size_t *shapes[1] = {kshape};
    nb_k_bcast_init(bc, a->ndim, a->shape, 1, &a->ndim, shapes);
}

/* y[i] /= count */
static void nb__div(nb_tensor *y, size_t count)
{
    if (y->dtype == NB_F32) {
        float *p = y->data;
        for (size_t i = 0; i < y->numel; i++) p[i] /= (float)count;
    } else {
        double *p = y->data;
        for (size_t i = 0; i < y->numel; i++) p[i] /= (double)count;
    }
}

/* ---------------------------------------------------------------- sum, mean */
static int nb__sum_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb_k_bcast bc;
    nb__reduce_walk(&bc, x, (unsigned)n->i[0]);
    nb_tensor *g = n->gout; /* [output] */
    if (n->i[1]) {          /* mean: the gradient of each element is gout / count */
        size_t count = 1;
        for (int d = 0; d < x->ndim; d++)
            if (n->i[0] & (1L << d)) count *= x->shape[d];
        if (x->numel == 0) return 0;
        if (!(g = nb__new_like(c, n->gout))) return -1;
        memcpy(g->data, n->gout->data, g->numel * nb_dtype_size(g->dtype));
        nb__div(g, count);
    }
    if (x->dtype == NB_F32) nb_k_bcast_add_f32(gx->data, g->data, &bc);
    else nb_k_bcast_add_f64(gx->data, g->data, &bc);
    return 0;
}
static const nb__opdef nb__op_sum = {"sum", nb__sum_backward};
static const nb__opdef nb__op_mean = {"mean", nb__sum_backward};

static nb_tensor *nb__sum_mean(nb_ctx *c, const nb__opdef *op, bool mean, nb_tensor *a, const int *axes, int n_axes,
                               int keepdim)
{
    if (!c || !a) return nb__null_arg(op->name);
    nb__plan p;
    if (nb__plan_make(op->name, a, axes, n_axes, keepdim, &p)) return NULL;
    nb_tensor *y = nb__new(c, a->dtype, p.ndim, p.shape);
    if (!y) return NULL;
    memset(y->data, 0, y->numel * nb_dtype_size(y->dtype));
    nb_k_bcast bc;
    nb__reduce_walk(&bc, a, p.mask);
    if (a->dtype == NB_F32) nb_k_sum_to_f32(y->data, a->data, &bc);
    else nb_k_sum_to_f64(y->data, a->data, &bc);
    if (mean) nb__div(y, p.count); /* 0 / 0 = NaN for an empty group */
    nb__node *n;
    if (nb__record(c, op, y, 1, &a, &n)) return NULL;
    if (n) {
        n->i[0] = (long)p.mask;
        n->i[1] = mean;
    }
    return y;
}

nb_tensor *nb_sum(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim)
{
    return nb__sum_mean(c, &nb__op_sum, false, a, axes, n_axes, keepdim);
}

nb_tensor *nb_mean(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim)
{
    return nb__sum_mean(c, &nb__op_mean, true, a, axes, n_axes, keepdim);
}

/* ----------------------------------------------------------------- max, min */
static int nb__extreme_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    const size_t *idx = n->saved; /* [output]: flat index into x */
    if (x->dtype == NB_F32) nb_k_scatter_add_f32(gx->data, idx, n->gout->data, n->gout->numel);
    else nb_k_scatter_add_f64(gx->data, idx, n->gout->data, n->gout->numel);
    return 0;
}
static const nb__opdef nb__op_max = {"max", nb__extreme_backward};
static const nb__opdef nb__op_min = {"min", nb__extreme_backward};

static nb_tensor *nb__extreme(nb_ctx *c, const nb__opdef *op, int want_max, nb_tensor *a, const int *axes, int n_axes,
                              int keepdim)
{
    if (!c || !a) return nb__null_arg(op->name);
    nb__plan p;
    if (nb__plan_make(op->name, a, axes, n_axes, keepdim, &p)) return NULL;
    if (p.count == 0 && p.numel > 0)
        return nb__err("%s: cannot reduce %s over an empty dimension (the result has no value)", op->name, nb__shp(a));
    nb_tensor *y = nb__new(c, a->dtype, p.ndim, p.shape);
    if (!y) return NULL;
    size_t *idx = nb__arena_alloc(c, y->numel * sizeof *idx);
    if (!idx) return NULL;
    nb_k_bcast bc;
    nb__reduce_walk(&bc, a, p.mask);
    if (a->dtype == NB_F32) nb_k_extreme_f32(y->data, idx, a->data, &bc, y->numel, want_max);
    else nb_k_extreme_f64(y->data, idx, a->data, &bc, y->numel, want_max);
    nb__node *n;
    if (nb__record(c, op, y, 1, &a, &n)) return NULL;
    if (n) {
        n->saved = idx;
        n->i[0] = (long)p.mask;
    }
    return y;
}

nb_tensor *nb_max(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim)
{
    return nb__extreme(c, &nb__op_max, 1, a, axes, n_axes, keepdim);
}

nb_tensor *nb_min(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim)
{
    return nb__extreme(c, &nb__op_min, 0, a, axes, n_axes, keepdim);
}
