/* Softmax and log-softmax along one axis.  The input is viewed as
 * [outer, D, inner] around the axis; both are computed stably (each row is
 * shifted by its maximum) and both backwards use the saved output y:
 *   softmax:     gx += y * (g - sum_D(g * y))
 *   log_softmax: gx += g - exp(y) * sum_D(g) */
#include "../internal.h"
#include "../kernels/softmax.h"

/* node->i[0..2] = outer, D, inner; i[3] = 1 for log_softmax. */
static int nb__softmax_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    const size_t outer = (size_t)n->i[0], d = (size_t)n->i[1], inner = (size_t)n->i[2];
    const int take_log = (int)n->i[3];
    if (x->dtype == NB_F32) nb_k_softmax_bwd_f32(gx->data, n->gout->data, n->out->data, outer, d, inner, take_log);
    else nb_k_softmax_bwd_f64(gx->data, n->gout->data, n->out->data, outer, d, inner, take_log);
    return 0;
}

static const nb__opdef nb__op_softmax = {"softmax", nb__softmax_backward};
static const nb__opdef nb__op_log_softmax = {"log_softmax", nb__softmax_backward};

static nb_tensor *nb__softmax(nb_ctx *c, const nb__opdef *op, nb_tensor *a, int axis, int take_log)
{
    if (!c || !a) return nb__null_arg(op->name);
    if (nb__need_float(op->name, a)) return NULL;
    /* A 0-d tensor is a single row of one element, as in PyTorch (axis 0 or -1). */
    const int nd = a->ndim > 0 ? a->ndim : 1;
    if (axis < -nd || axis >= nd) return nb__err("%s: axis %d is out of range for %s", op->name, axis, nb__shp(a));
    if (axis < 0) axis += nd;
    size_t outer = 1, d = 1, inner = 1;
    for (int k = 0; k < a->ndim; k++) {
        if (k < axis) outer *= a->shape[k];
        else if (k == axis) d = a->shape[k];
        else inner *= a->shape[k];
    }
    nb_tensor *y = nb__new_like(c, a); /* same shape as a */
    if (!y) return NULL;
    if (a->dtype == NB_F32) nb_k_softmax_f32(y->data, a->data, outer, d, inner, take_log);
    else nb_k_softmax_f64(y->data, a->data, outer, d, inner, take_log);
    nb__node *n;
    if (nb__record(c, op, y, 1, &a, &n)) return NULL;
    if (n) {
        n->i[0] = (long)outer;
        n->i[1] = (long)d;
        n->i[2] = (long)inner;
        n->i[3] = take_log;
    }
    return y;
}

nb_tensor *nb_softmax(nb_ctx *c, nb_tensor *a, int axis) { return nb__softmax(c, &nb__op_softmax, a, axis, 0); }
nb_tensor *nb_log_softmax(nb_ctx *c, nb_tensor *a, int axis) { return nb__softmax(c, &nb__op_log_softmax, a, axis, 1); }
