/* Losses: cross-entropy (fused log-softmax + NLL), NLL, MSE and binary
 * cross-entropy on logits, each with reduction mean / sum / none as in
 * torch.nn.functional.  Per-element formulas live in kernels/softmax.inc
 * (cross-entropy) and kernels/nn.inc (the rest).
 *
 * Every backward reads the upstream gradient as g[i * gstride] * scale:
 * 'none' has one upstream value per sample (gstride 1), 'sum' and 'mean' one
 * scalar (gstride 0) with scale 1 or 1/N.  node->i[0] = reduction,
 * node->f[0] = scale, node->f[1] = label smoothing; node->saved2 = labels. */
#include "../internal.h"
#include "../kernels/nn.h"
#include "../kernels/softmax.h"

/* Checks the reduction and that 'mean' has something to average. */
static int nb__check_red(const char *op, nb_reduction red, const nb_tensor *x)
{
    if (red != NB_MEAN && red != NB_SUM && red != NB_NONE)
        return nb__erri("%s: unknown reduction %d (use NB_MEAN, NB_SUM or NB_NONE)", op, (int)red);
    if (red == NB_MEAN && x->numel == 0) return nb__erri("%s: reduction 'mean' over an empty input %s", op, nb__shp(x));
    return 0;
}

/* Checks x [N, C] (float) against labels int32 [N] with every label in
 * [0, C), and returns a copy of the labels in the arena, so a backward never
 * depends on the caller's buffer.  NULL with an error otherwise. */
static int32_t *nb__labels(nb_ctx *c, const char *op, const nb_tensor *x, const nb_tensor *labels)
{
    if (nb__need_float(op, x)) return NULL;
    if (x->ndim != 2) return nb__err("%s: input must be [N, C], got %s", op, nb__shp(x));
    const size_t n = x->shape[0], nc = x->shape[1];
    if (labels->dtype != NB_I32)
        return nb__err("%s: labels must be int32, got %s %s", op, nb_dtype_name(labels->dtype), nb__shp(labels));
    if (labels->ndim != 1 || labels->shape[0] != n)
        return nb__err("%s: input %s needs labels [%zu], got %s", op, nb__shp(x), n, nb__shp(labels));
    const int32_t *src = labels->data; /* [N] */
    for (size_t i = 0; i < n; i++)
        if (src[i] < 0 || (size_t)src[i] >= nc)
            return nb__err("%s: label %d at index %zu is outside [0, %zu) for input %s", op, (int)src[i], i, nc,
                           nb__shp(x));
    int32_t *lab = nb__arena_alloc(c, n * sizeof *lab);
    if (lab && n) memcpy(lab, src, n * sizeof *lab);
    return lab;
}

/* The output of a reduction: per-sample [N] (or x's shape) for 'none', else a 0-d scalar. */
static nb_tensor *nb__loss_out(nb_ctx *c, nb_dtype dt, nb_reduction red, int ndim, const size_t *shape)
{
    return red == NB_NONE ? nb__new(c, dt, ndim, shape) : nb__new(c, dt, 0, NULL);
}

/* Writes total (or total / count for mean) into a 0-d output. */
static void nb__set_reduced(nb_tensor *y, nb_reduction red, double total, size_t count)
{
    nb_set(y, 0, red == NB_MEAN ? total / (double)count : total);
}

/* Reduces per-sample losses per [N] into the 0-d output y. */
static void nb__reduce_per(nb_tensor *y, nb_reduction red, const nb_tensor *per)
{
    double total = per->dtype == NB_F32 ? nb_k_total_f32(per->data, per->numel) : nb_k_total_f64(per->data, per->numel);
    nb__set_reduced(y, red, total, per->numel);
}

static size_t nb__gstride(const nb__node *n) { return n->i[0] == NB_NONE ? 1 : 0; }

/* ----------------------------------------------------------- cross-entropy */
/* node->saved = softmax probabilities p [N, C]. */
static int nb__ce_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err); /* [N, C] */
    if (!gx) return err;
    const size_t nn = x->shape[0], nc = x->shape[1], gs = nb__gstride(n);
    if (x->dtype == NB_F32)
        nb_k_cross_entropy_bwd_f32(gx->data, n->saved, n->saved2, n->gout->data, gs, (float)n->f[0], nn, nc, n->f[1]);
    else nb_k_cross_entropy_bwd_f64(gx->data, n->saved, n->saved2, n->gout->data, gs, n->f[0], nn, nc, n->f[1]);
    return 0;
}

static const nb__opdef nb__op_cross_entropy = {"cross_entropy", nb__ce_backward};

nb_tensor *nb_cross_entropy(nb_ctx *c, nb_tensor *logits, const nb_tensor *labels, nb_reduction red,
                            double label_smoothing)
{
    const char *op = nb__op_cross_entropy.name;
    if (!c || !logits || !labels) return nb__null_arg(__func__);
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
        return nb__err("%s: label_smoothing %g is outside [0, 1]", op, label_smoothing);
    int32_t *lab = nb__labels(c, op, logits, labels); /* [N] */
    if (!lab || nb__check_red(op, red, logits)) return NULL;
    const size_t n = logits->shape[0], nc = logits->shape[1];
    nb_tensor *y = nb__loss_out(c, logits->dtype, red, 1, &n);
    nb_tensor *per = red == NB_NONE ? y : nb__new(c, logits->dtype, 1, &n); /* [N] */
    void *p = nb__arena_alloc(c, n * nc * nb_dtype_size(logits->dtype));    /* [N, C] */
    if (!y || !per || !p) return NULL;
    if (logits->dtype == NB_F32) nb_k_cross_entropy_f32(per->data, p, logits->data, lab, n, nc, label_smoothing);
    else nb_k_cross_entropy_f64(per->data, p, logits->data, lab, n, nc, label_smoothing);
    if (red != NB_NONE) nb__reduce_per(y, red, per);
    nb__node *node;
    if (nb__record(c, &nb__op_cross_entropy, y, 1, &logits, &node)) return NULL;
    if (node) {
        node->i[0] = red;
        node->f[0] = red == NB_MEAN ? 1.0 / (double)n : 1.0;
        node->f[1] = label_smoothing;
        node->saved = p;
        node->saved2 = lab;
    }
    return y;
}

/* --------------------------------------------------------------------- NLL */
static int nb__nll_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err); /* [N, C] */
    if (!gx) return err;
    const size_t nn = x->shape[0], nc = x->shape[1], gs = nb__gstride(n);
    if (x->dtype == NB_F32) nb_k_nll_bwd_f32(gx->data, n->gout->data, gs, (float)n->f[0], n->saved2, nn, nc);
    else nb_k_nll_bwd_f64(gx->data, n->gout->data, gs, n->f[0], n->saved2, nn, nc);
    return 0;
}

static const nb__opdef nb__op_nll = {"nll", nb__nll_backward};

nb_tensor *nb_nll(nb_ctx *c, nb_tensor *logp, const nb_tensor *labels, nb_reduction red)
{
    const char *op = nb__op_nll.name;
    if (!c || !logp || !labels) return nb__null_arg(__func__);
    int32_t *lab = nb__labels(c, op, logp, labels); /* [N] */
    if (!lab || nb__check_red(op, red, logp)) return NULL;
    const size_t n = logp->shape[0], nc = logp->shape[1];
    nb_tensor *y = nb__loss_out(c, logp->dtype, red, 1, &n);
    nb_tensor *per = red == NB_NONE ? y : nb__new(c, logp->dtype, 1, &n); /* [N] */
    if (!y || !per) return NULL;
    if (logp->dtype == NB_F32) nb_k_nll_f32(per->data, logp->data, lab, n, nc);
    else nb_k_nll_f64(per->data, logp->data, lab, n, nc);
    if (red != NB_NONE) nb__reduce_per(y, red, per);
    nb__node *node;
    if (nb__record(c, &nb__op_nll, y, 1, &logp, &node)) return NULL;
    if (node) {
        node->i[0] = red;
        node->f[0] = red == NB_MEAN ? 1.0 / (double)n : 1.0;
        node->saved2 = lab;
    }
    return y;
}

/* ------------------------------------------- MSE and BCE-with-logits (pairs) */
/* Both take two float tensors of one shape and dtype; the gradient flows to
 * each that requires it.  node->i[1] = 0 for MSE, 1 for BCE. */
static int nb__pair_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *a = n->in[0], *b = n->in[1];
    nb_tensor *ga = nb__gbuf(c, a, &err), *gb = nb__gbuf(c, b, &err); /* a's shape, or NULL */
    if (err) return err;
    const size_t gs = nb__gstride(n);
    void *pa = ga ? ga->data : NULL, *pb = gb ? gb->data : NULL;
    if (a->dtype == NB_F32) {
        if (n->i[1]) nb_k_bce_logits_bwd_f32(pa, pb, n->gout->data, gs, (float)n->f[0], a->data, b->data, a->numel);
        else nb_k_mse_bwd_f32(pa, pb, n->gout->data, gs, (float)n->f[0], a->data, b->data, a->numel);
    } else {
        if (n->i[1]) nb_k_bce_logits_bwd_f64(pa, pb, n->gout->data, gs, n->f[0], a->data, b->data, a->numel);
        else nb_k_mse_bwd_f64(pa, pb, n->gout->data, gs, n->f[0], a->data, b->data, a->numel);
    }
    return 0;
}

static const nb__opdef nb__op_mse = {"mse", nb__pair_backward};
static const nb__opdef nb__op_bce = {"bce_with_logits", nb__pair_backward};

static nb_tensor *nb__pair_loss(nb_ctx *c, const nb__opdef *op, int bce, nb_tensor *a, nb_tensor *b, nb_reduction red)
{
    if (!c || !a || !b) return nb__null_arg(op->name);
    if (nb__need_float(op->name, a) || nb__need_float(op->name, b)) return NULL;
    if (a->dtype != b->dtype)
        return nb__err("%s: dtypes differ (%s %s vs %s %s)", op->name, nb__shp(a), nb_dtype_name(a->dtype), nb__shp(b),
                       nb_dtype_name(b->dtype));
    if (!nb_same_shape(a, b))
        return nb__err("%s: input %s and target %s must have the same shape", op->name, nb__shp(a), nb__shp(b));
    if (nb__check_red(op->name, red, a)) return NULL;
    nb_tensor *y = nb__loss_out(c, a->dtype, red, a->ndim, a->shape); /* a's shape or 0-d */
    if (!y) return NULL;
    void *ey = red == NB_NONE ? y->data : NULL; /* element-wise losses, for 'none' only */
    const size_t ne = a->numel;
    double total;
    if (a->dtype == NB_F32)
        total = bce ? nb_k_bce_logits_f32(ey, a->data, b->data, ne) : nb_k_mse_f32(ey, a->data, b->data, ne);
    else total = bce ? nb_k_bce_logits_f64(ey, a->data, b->data, ne) : nb_k_mse_f64(ey, a->data, b->data, ne);
    if (red != NB_NONE) nb__set_reduced(y, red, total, a->numel);
    nb_tensor *in[2] = {a, b};
    nb__node *node;
    if (nb__record(c, op, y, 2, in, &node)) return NULL;
    if (node) {
        node->i[0] = red;
        node->i[1] = bce;
        node->f[0] = red == NB_MEAN ? 1.0 / (double)a->numel : 1.0;
    }
    return y;
}

nb_tensor *nb_mse(nb_ctx *c, nb_tensor *pred, nb_tensor *target, nb_reduction red)
{
    return nb__pair_loss(c, &nb__op_mse, 0, pred, target, red);
}

nb_tensor *nb_bce_with_logits(nb_ctx *c, nb_tensor *logits, nb_tensor *target, nb_reduction red)
{
    return nb__pair_loss(c, &nb__op_bce, 1, logits, target, red);
}
