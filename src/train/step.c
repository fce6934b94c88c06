/* One training step: the loop body every command shares. */
#include "../internal.h"
#include "nabla/train.h"
#include "optim/optim_impl.h"

#include <math.h>

/* How many rows of logits [n, k] have their largest value at the label. */
static size_t nb__count_correct(const nb_tensor *logits, const int32_t *y, size_t n)
{
    if (logits->ndim != 2 || logits->shape[0] != n) return 0;
    size_t k = logits->shape[1], correct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            if (nb_get(logits, i * k + j) > nb_get(logits, i * k + best)) best = j;
        correct += best == (size_t)y[i];
    }
    return correct;
}

int(nb_train_step)(nb_model *m, nb_optim *o, nb_ctx *c, const void *x, const int32_t *y, size_t n,
                   const nb_step_opts *opts, nb_step_result *res)
{
    static const nb_step_opts none = {0};
    if (!opts) opts = &none;
    if (!m || !o || !c || !x || (!y && !opts->loss) || !res) return nb__erri("train_step: NULL argument");
    const nb_step_hooks *h = opts->hooks;
    nb_dtype dt = nb_model_dtype(m);
    size_t d = nb_model_in_width(m), np = nb_model_n_params(m);
    res->loss = NAN;
    res->grad_norm = NAN;
    res->nonfinite = 0;
    res->correct = 0;
    nb_anomaly_clear(c); /* afterwards the record describes this step */
    res->n_labels = n;
    nb_tensor *xt = nb_from_data(c, dt, 2, (size_t[]){n, d}, (void *)x, NB_BORROW);
    nb_tensor *out = nb_model_forward(m, c, xt, opts->rng), *logits = out, *yt = NULL;
    if (out && out->ndim == 3) { /* a sequence model: [n, T, classes], one label per step */
        res->n_labels = n * out->shape[1];
        logits = nb_reshape(c, out, 2, (long[]){(long)res->n_labels, (long)out->shape[2]});
    }
    if (y)
        yt = opts->loss && out && out->ndim == 3
                 ? nb_from_data(c, NB_I32, 2, (size_t[]){n, out->shape[1]}, (void *)y, NB_BORROW)
                 : nb_from_data(c, NB_I32, 1, (size_t[]){res->n_labels}, (void *)y, NB_BORROW);
    nb_tensor *loss = NULL;
    int rc = -1, zeroed = 0;
    if (!opts->loss) {
        loss = nb_cross_entropy(c, logits, yt, NB_MEAN, opts->label_smoothing);
    } else if (out && (!y || yt)) {
        nb_clear_error(); /* so that a NULL without a message is told apart */
        loss = opts->loss(opts->loss_user, c, out, yt);
        if (!loss && !nb_errmsg()[0]) nb__erri("train_step: the loss function returned NULL without saying why");
        if (loss && loss->numel != 1) {
            nb__erri("train_step: the loss function returned %s; a loss is one value", nb__shp(loss));
            goto out;
        }
        if (loss && !nb_requires_grad(loss)) {
            nb__erri("train_step: the loss does not depend on the model's output (no gradient)");
            goto out;
        }
    }
    if (!loss || nb_backward(c, loss, NULL)) goto out;
    res->correct = y && logits ? nb__count_correct(logits, y, res->n_labels) : 0;
    res->loss = nb_item(loss);
    if (h && h->after_backward && h->after_backward(h->user, m, loss)) goto out;
    /* Clipping's scale, the update and the zeroing of the gradients are one
     * sweep (nb__optim_step_fused) unless a hook could look at the gradients
     * in between: after_clip sees them clipped and after_update sees them
     * still there, as they always did; so with such a hook (or a clamp) the
     * passes stay apart. */
    double max_norm = opts->clip_norm > 0 ? opts->clip_norm : INFINITY;
    void *g = nb_model_grads(m);
    const int fuse_clip = !(h && h->after_clip) && !(opts->clip_value > 0);
    const int fuse_zero = !(h && h->after_update) && nb_optim_size(o) == np && nb_optim_dtype(o) == dt;
    if (fuse_clip) res->grad_norm = nb__grad_norm(&g, &np, 1, dt, &res->nonfinite);
    else res->grad_norm = nb_clip_grad_norm(g, dt, np, max_norm, &res->nonfinite);
    if (!isfinite(res->loss)) res->nonfinite = 1;
    if (nb_detect_anomaly(c) == NB_ANOMALY_SKIP_STEP && nb_anomaly_get(c)) res->nonfinite = 1;
    if (res->nonfinite) {
        rc = 0;
        goto out;
    }
    if (h && h->after_clip) {
        double after = res->grad_norm > max_norm ? max_norm : res->grad_norm;
        if (h->after_clip(h->user, m, res->grad_norm, after)) goto out;
    }
    if (opts->clip_value > 0 && nb_clip_grad_value(g, dt, np, opts->clip_value)) goto out;
    const double gscale = fuse_clip ? nb__clip_coef(res->grad_norm, max_norm) : 1;
    if (nb__optim_step_fused(o, nb_model_params(m), g, gscale, fuse_zero)) goto out;
    zeroed = fuse_zero;
    if (h && h->after_update && h->after_update(h->user, m)) goto out;
    rc = 0;
out:
    if (!zeroed) nb_model_zero_grad(m);
    nb_ctx_reset(c);
    return rc;
}
