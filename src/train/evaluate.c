/* Test-set evaluation: loss, accuracy and a confusion matrix. */
#include "../internal.h"
#include "nabla/train.h"

#include <math.h>
#include <stdlib.h>

#define NB__EVAL_BYTES ((size_t)64 << 20)

size_t nb_evaluate_batch(const nb_model *m)
{
    nb_summary *s = m ? nb_model_summary(m) : NULL;
    const size_t per = s ? 2 * s->activation_bytes : 0;
    nb_summary_free(s);
    if (!per) return 1000;
    const size_t b = NB__EVAL_BYTES / per;
    return b < 16 ? 16 : b > 1000 ? 1000 : b;
}

int nb_evaluate(nb_model *m, nb_ctx *c, const nb_dataset *ds, size_t batch, nb_eval *out, size_t *confusion)
{
    if (!m || !c || !ds || !out || batch == 0) return nb__erri("evaluate: NULL argument or batch 0");
    if (nb_model_finalize(m)) return -1;
    if (nb_model_in_width(m) != ds->d)
        return nb__erri("evaluate: the model takes %zu inputs but %s has %zu features", nb_model_in_width(m), ds->name,
                        ds->d);
    if ((int)nb_model_out_width(m) < ds->n_classes)
        return nb__erri("evaluate: the model has %zu outputs but %s has %d classes", nb_model_out_width(m), ds->name,
                        ds->n_classes);
    const size_t C = (size_t)ds->n_classes, L = nb_dataset_labels_per_sample(ds);
    if (confusion) memset(confusion, 0, C * C * sizeof *confusion);
    nb_dtype dt = nb_model_dtype(m);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = batch});
    void *xb = calloc(batch * ds->d, nb_dtype_size(dt));
    int32_t *yb = calloc(batch * L, sizeof *yb);
    int rc = 0;
    if (!l || !xb || !yb) {
        rc = l ? nb__erri("evaluate: out of memory") : -1;
        goto done;
    }
    int g = nb_set_grad_enabled(c, 0), tr = nb_set_training(c, 0);
    double loss_sum = 0;
    size_t correct = 0, n = 0, n_labels = 0;
    nb_batch b = {.x = xb, .dtype = dt, .y = yb};
    int more;
    while ((more = nb_loader_next(l, &b)) == 1) {
        nb_tensor *x = nb_from_data(c, dt, 2, (size_t[]){b.n, ds->d}, xb, NB_BORROW);
        nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){b.n * L}, yb, NB_BORROW);
        nb_tensor *logits = nb_model_forward(m, c, x, NULL);
        if (logits && logits->ndim == 3) /* a sequence model: one row of logits per step */
            logits = nb_reshape(c, logits, 2, (long[]){(long)(logits->shape[0] * logits->shape[1]), -1});
        if (logits && (logits->ndim != 2 || logits->shape[0] != b.n * L)) {
            rc = nb__erri("evaluate: the model gives %s for %zu samples of %s, which has %zu label(s) per sample",
                          nb__shp(logits), b.n, ds->name, L);
            break;
        }
        nb_tensor *loss = nb_cross_entropy(c, logits, y, NB_SUM, 0.0);
        if (!loss) {
            rc = -1;
            break;
        }
        loss_sum += nb_item(loss);
        const size_t out_w = logits->shape[1];
        for (size_t i = 0; i < b.n * L; i++) {
            size_t best = 0;
            for (size_t k = 1; k < out_w; k++)
                if (nb_get(logits, i * out_w + k) > nb_get(logits, i * out_w + best)) best = k;
            correct += best == (size_t)yb[i];
            if (confusion && best < C) confusion[(size_t)yb[i] * C + best]++;
        }
        n += b.n;
        n_labels += b.n * L;
        nb_ctx_reset(c);
    }
    if (more < 0) rc = -1;
    nb_set_grad_enabled(c, g);
    nb_set_training(c, tr);
    if (!rc) {
        out->n = n;
        out->loss = n_labels ? loss_sum / (double)n_labels : NAN;
        out->accuracy = n_labels ? (double)correct / (double)n_labels : NAN;
    }
done:
    nb_loader_free(l);
    free(xb);
    free(yb);
    return rc;
}
