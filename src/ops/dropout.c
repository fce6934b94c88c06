/* Dropout.  In training mode (nb_training) with p > 0 each element is kept
 * with probability 1 - p, drawn from the caller's nb_rng (one uniform per
 * element, in order, kept when u < 1 - p, so a seed fixes the mask), and kept
 * elements are scaled by 1 / (1 - p).  The keep-mask (one byte per element)
 * is saved in the arena for the backward, which applies the same mask and
 * scale.  p == 1 is allowed and zeroes everything (gradient 0), as PyTorch.
 * Not training, or p == 0: the output is a copy of the input whose backward is
 * the identity, so graphs look the same in both modes (no RNG draw then).
 * node->saved = keep mask [numel] (NULL for the identity), node->f[0] = scale. */
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../kernels/nn.h"

static int nb__dropout_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    const uint8_t *keep = n->saved; /* [numel] or NULL */
    if (x->dtype == NB_F32) {
        if (keep) nb_k_dropout_bwd_f32(gx->data, n->gout->data, keep, (float)n->f[0], x->numel);
        else nb_k_axpy_f32(gx->data, 1.0f, n->gout->data, x->numel);
    } else {
        if (keep) nb_k_dropout_bwd_f64(gx->data, n->gout->data, keep, n->f[0], x->numel);
        else nb_k_axpy_f64(gx->data, 1.0, n->gout->data, x->numel);
    }
    return 0;
}

static const nb__opdef nb__op_dropout = {"dropout", nb__dropout_backward};

nb_tensor *nb_dropout(nb_ctx *c, nb_tensor *a, double p, nb_rng *r)
{
    if (!c || !a) return nb__null_arg(__func__);
    if (nb__need_float("dropout", a)) return NULL;
    if (!(p >= 0.0 && p <= 1.0)) return nb__err("dropout: p = %g is outside [0, 1] (input %s)", p, nb__shp(a));
    const int active = nb_training(c) && p > 0.0;
    if (active && !r) return nb__err("dropout: NULL RNG in training mode (input %s, p = %g)", nb__shp(a), p);
    nb_tensor *y = nb__new_like(c, a); /* a's shape */
    if (!y) return NULL;
    uint8_t *keep = NULL; /* [numel] */
    const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    if (active) {
        if (!(keep = nb__arena_alloc(c, a->numel))) return NULL;
        for (size_t i = 0; i < a->numel; i++) keep[i] = nb_rng_uniform(r) < 1.0 - p;
        if (a->dtype == NB_F32) nb_k_dropout_f32(y->data, a->data, keep, (float)scale, a->numel);
        else nb_k_dropout_f64(y->data, a->data, keep, scale, a->numel);
    } else {
        memcpy(y->data, a->data, a->numel * nb_dtype_size(a->dtype));
    }
    nb__node *n;
    if (nb__record(c, &nb__op_dropout, y, 1, &a, &n)) return NULL;
    if (n) {
        n->saved = keep;
        n->f[0] = scale;
    }
    return y;
}
