/* Comparisons: gt, lt, ge, le, eq, ne.  a and b broadcast like nb_add; the
 * result is 1 where the comparison holds and 0 elsewhere, in the inputs'
 * float dtype, so it can be nb_where's condition or a mask to multiply by.
 * A comparison is a step function: it records no graph node, its output
 * never requires grad, and no gradient flows back through it (gradcheck
 * sees a zero derivative, which is right away from ties).  NaN compares
 * false, except under ne (IEEE 754, as in PyTorch).  Own loops, kept simple:
 * the cost is one read of each input. */
#include "../internal.h"

typedef enum { NB__GT, NB__LT, NB__GE, NB__LE, NB__EQ, NB__NE } nb__cmp_kind;

static int nb__cmp1(nb__cmp_kind k, double x, double y)
{
    switch (k) {
    case NB__GT: return x > y;
    case NB__LT: return x < y;
    case NB__GE: return x >= y;
    case NB__LE: return x <= y;
    case NB__EQ: return x == y;
    case NB__NE: return x != y;
    }
    return 0;
}

/* The element offsets of a and b for each output element, by an odometer
 * over the output's dims: a dim of size 1 (or missing) in an input has
 * stride 0 there. */
typedef struct {
    int nd;
    size_t shape[NB_MAX_DIMS], sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
} nb__cmp_walk;

static void nb__cmp_strides(size_t *st, const nb_tensor *t, int nd, const size_t *shape)
{
    size_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int td = d - (nd - t->ndim);
        size_t n = td >= 0 ? t->shape[td] : 1;
        st[d] = n == 1 && shape[d] != 1 ? 0 : s;
        s *= n;
    }
}

static void nb__cmp_f32(nb__cmp_kind k, float *out, const float *a, const float *b, const nb__cmp_walk *w, size_t n)
{
    size_t idx[NB_MAX_DIMS] = {0}, ia = 0, ib = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = nb__cmp1(k, a[ia], b[ib]) ? 1.0f : 0.0f;
        for (int d = w->nd - 1; d >= 0; d--) { /* next index: carry like an odometer */
            ia += w->sa[d], ib += w->sb[d];
            if (++idx[d] < w->shape[d]) break;
            ia -= w->sa[d] * idx[d], ib -= w->sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}

static void nb__cmp_f64(nb__cmp_kind k, double *out, const double *a, const double *b, const nb__cmp_walk *w, size_t n)
{
    size_t idx[NB_MAX_DIMS] = {0}, ia = 0, ib = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = nb__cmp1(k, a[ia], b[ib]) ? 1.0 : 0.0;
        for (int d = w->nd - 1; d >= 0; d--) {
            ia += w->sa[d], ib += w->sb[d];
            if (++idx[d] < w->shape[d]) break;
            ia -= w->sa[d] * idx[d], ib -= w->sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}

static nb_tensor *nb__compare(nb_ctx *c, const char *op, nb__cmp_kind k, const nb_tensor *a, const nb_tensor *b)
{
    if (!c || !a || !b) return nb__null_arg(op); /* keeps an earlier op's message */
    if (nb__need_float(op, a) || nb__need_float(op, b)) return NULL;
    if (a->dtype != b->dtype)
        return nb__err("%s: dtypes differ (%s %s vs %s %s)", op, nb__shp(a), nb_dtype_name(a->dtype), nb__shp(b),
                       nb_dtype_name(b->dtype));
    nb__cmp_walk w;
    if (nb__broadcast_shape(op, a, b, &w.nd, w.shape)) return NULL;
    nb_tensor *y = nb__new(c, a->dtype, w.nd, w.shape);
    if (!y) return NULL;
    nb__cmp_strides(w.sa, a, w.nd, w.shape);
    nb__cmp_strides(w.sb, b, w.nd, w.shape);
    if (a->dtype == NB_F32) nb__cmp_f32(k, y->data, a->data, b->data, &w, y->numel);
    else nb__cmp_f64(k, y->data, a->data, b->data, &w, y->numel);
    return y;
}

nb_tensor *nb_gt(nb_ctx *c, const nb_tensor *a, const nb_tensor *b) { return nb__compare(c, "gt", NB__GT, a, b); }
nb_tensor *nb_lt(nb_ctx *c, const nb_tensor *a, const nb_tensor *b) { return nb__compare(c, "lt", NB__LT, a, b); }
nb_tensor *nb_ge(nb_ctx *c, const nb_tensor *a, const nb_tensor *b) { return nb__compare(c, "ge", NB__GE, a, b); }
nb_tensor *nb_le(nb_ctx *c, const nb_tensor *a, const nb_tensor *b) { return nb__compare(c, "le", NB__LE, a, b); }
nb_tensor *nb_eq(nb_ctx *c, const nb_tensor *a, const nb_tensor *b) { return nb__compare(c, "eq", NB__EQ, a, b); }
nb_tensor *nb_ne(nb_ctx *c, const nb_tensor *a, const nb_tensor *b) { return nb__compare(c, "ne", NB__NE, a, b); }
