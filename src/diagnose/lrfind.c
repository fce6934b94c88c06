/* The LR range test: an exponential sweep of one step per learning rate, a
 * bias-corrected smoothed loss, and three suggestions (see nabla/lrfind.h). */
#include "../internal.h" /* first: it removes the call-site macros */
#include "nabla/lrfind.h"
#include "state.h"

#include <math.h>
#include <stdlib.h>

nb_lrfind_opts nb_lrfind_defaults(void)
{
    nb_lrfind_opts o = {0};
    o.lr_start = 1e-7;
    o.lr_end = 10;
    o.n_steps = 100;
    o.beta = 0.98;
    o.diverge = 4;
    o.skip_start = -1;
    o.skip_end = 5;
    o.batch = 64;
    o.seed = 1;
    o.min_descent = 0.05;
    return o;
}

void nb_lrfind_result_free(nb_lrfind_result *res)
{
    if (!res) return;
    free(res->lr);
    free(res->loss);
    free(res->smooth);
    memset(res, 0, sizeof *res);
}

static void nb__no_suggestions(nb_lrfind_suggest *s) { *s = (nb_lrfind_suggest){NAN, NAN, NAN, -1, -1, -1, -1, -1}; }

int nb_lrfind_suggest_from(const double *lr, const double *smooth, size_t n, int skip_start, int skip_end,
                           nb_lrfind_suggest *s)
{
    if (!s) return nb__erri("lr-find suggest: NULL result");
    nb__no_suggestions(s);
    if (!lr || !smooth) return nb__erri("lr-find suggest: NULL curve");
    size_t lo = skip_start < 0 ? n / 10 : (size_t)skip_start, cut = skip_end < 0 ? 0 : (size_t)skip_end;
    size_t hi = cut < n ? n - cut : 0;
    size_t usable = 0;
#define NB__OK(i) (isfinite(smooth[i]) && lr[i] > 0 && isfinite(lr[i]))
    for (size_t i = lo; i < hi; i++) usable += NB__OK(i);
    if (usable < 4) lo = 0, hi = n; /* too short a curve to trim */
    size_t *idx = malloc((n ? n : 1) * sizeof *idx), m = 0;
    if (!idx) return nb__erri("lr-find suggest: out of memory");
    for (size_t i = lo; i < hi; i++)
        if (NB__OK(i)) idx[m++] = i;
#undef NB__OK
    if (m < 2) {
        free(idx);
        return nb__erri("lr-find suggest: %zu usable points; need at least 2", m);
    }
    /* minimum and steepest descent */
    size_t kmin = 0, ksteep = 0;
    double steep = INFINITY;
    for (size_t k = 0; k < m; k++) {
        if (smooth[idx[k]] < smooth[idx[kmin]]) kmin = k;
        if (k + 1 < m) {
            double g = (smooth[idx[k + 1]] - smooth[idx[k]]) / (log(lr[idx[k + 1]]) - log(lr[idx[k]]));
            if (g < steep) steep = g, ksteep = k;
        }
    }
    /* longest strictly decreasing subsequence: len[k] ends at k, first[k]
     * is the earliest first point of such a longest subsequence */
    size_t *len = malloc(m * sizeof *len), *first = malloc(m * sizeof *first);
    if (!len || !first) {
        free(idx), free(len), free(first);
        return nb__erri("lr-find suggest: out of memory");
    }
    size_t kend = 0;
    for (size_t k = 0; k < m; k++) {
        len[k] = 1;
        first[k] = k;
        for (size_t j = 0; j < k; j++) {
            if (!(smooth[idx[j]] > smooth[idx[k]])) continue;
            if (len[j] + 1 > len[k]) len[k] = len[j] + 1, first[k] = first[j];
            else if (len[j] + 1 == len[k] && first[j] < first[k]) first[k] = first[j];
        }
        if (len[k] > len[kend]) kend = k;
    }
    size_t kstart = first[kend], kval = kstart + (2 * (kend - kstart)) / 3;
    s->i_min = (int)idx[kmin];
    s->min10 = lr[idx[kmin]] / 10;
    s->i_steepest = (int)idx[ksteep];
    s->steepest = lr[idx[ksteep]];
    s->valley_start = (int)idx[kstart];
    s->valley_end = (int)idx[kend];
    s->i_valley = (int)idx[kval];
    s->valley = lr[idx[kval]];
    free(idx), free(len), free(first);
    return 0;
}

static int nb__check_opts(const nb_lrfind_opts *o)
{
    if (!(o->lr_start > 0 && o->lr_end > o->lr_start && isfinite(o->lr_end)))
        return nb__erri("lr-find: need 0 < lr_start < lr_end (got %g, %g)", o->lr_start, o->lr_end);
    if (o->n_steps < 2 || o->n_steps > 10000) return nb__erri("lr-find: n_steps %d is not in [2, 10000]", o->n_steps);
    if (!(o->beta >= 0 && o->beta < 1)) return nb__erri("lr-find: beta %g is not in [0, 1)", o->beta);
    if (!(o->diverge > 1)) return nb__erri("lr-find: diverge %g must be > 1", o->diverge);
    if (!(o->min_descent >= 0 && o->min_descent < 1))
        return nb__erri("lr-find: min_descent %g is not in [0, 1)", o->min_descent);
    if (o->batch == 0) return nb__erri("lr-find: batch is 0");
    return 0;
}

int nb_lrfind(nb_model *m, const nb_optim *o, const nb_dataset *ds, nb_rng *rng, const nb_lrfind_opts *opts,
              nb_lrfind_result *res)
{
    if (!res) return nb__erri("lr-find: NULL result");
    memset(res, 0, sizeof *res);
    nb__no_suggestions(&res->s);
    res->best = res->descent = NAN;
    if (!m || !o || !ds) return nb__erri("lr-find: NULL %s", !m ? "model" : !o ? "optimizer" : "dataset");
    nb_lrfind_opts dflt = nb_lrfind_defaults();
    if (!opts) opts = &dflt;
    if (nb__check_opts(opts)) return -1;
    if (nb_optim_dtype(o) != nb_model_dtype(m) || nb_model_finalize(m) || nb_optim_size(o) != nb_model_n_params(m))
        return nb__erri("lr-find: the optimizer (%zu %s values) does not fit the model (%zu %s parameters)",
                        nb_optim_size(o), nb_dtype_name(nb_optim_dtype(o)), nb_model_n_params(m),
                        nb_dtype_name(nb_model_dtype(m)));
    if (nb_model_in_width(m) != ds->d)
        return nb__erri("lr-find: the model takes %zu inputs but %s has %zu features", nb_model_in_width(m), ds->name,
                        ds->d);

    nb__model_state saved;
    if (nb__model_state_save(&saved, m)) return -1;
    nb_rng rng_saved = rng ? *rng : (nb_rng){{0}, 0, 0};
    size_t N = (size_t)opts->n_steps;
    nb_optim *oc = nb__optim_clone(o);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = opts->batch, .shuffle = 1, .seed = opts->seed});
    nb_ctx *c = nb_ctx_new(NULL);
    void *xb = calloc(opts->batch * ds->d, nb_dtype_size(nb_model_dtype(m)));
    int32_t *yb = calloc(opts->batch * nb_dataset_labels_per_sample(ds), sizeof *yb); /* text: one per step */
    res->lr = malloc(N * sizeof(double));
    res->loss = malloc(N * sizeof(double));
    res->smooth = malloc(N * sizeof(double));
    int rc = -1;
    if (!oc || !l) goto out;
    if (!c || !xb || !yb || !res->lr || !res->loss || !res->smooth) {
        nb__erri("lr-find: out of memory");
        goto out;
    }
    double avg = 0, beta_pow = 1, best = INFINITY;
    nb_batch b = {.x = xb, .dtype = nb_model_dtype(m), .y = yb};
    nb_step_opts so = opts->step;
    so.rng = rng;
    for (size_t i = 0; i < N; i++) {
        double lr = opts->lr_start * pow(opts->lr_end / opts->lr_start, (double)i / (double)(N - 1));
        if (nb_optim_set_lr(oc, lr)) goto out;
        int got = nb_loader_next(l, &b);
        if (got == 0) got = nb_loader_next(l, &b); /* next epoch */
        if (got != 1) {
            if (got == 0) nb__erri("lr-find: the loader gave no batch");
            goto out;
        }
        nb_step_result sr;
        if (nb_train_step(m, oc, c, xb, yb, b.n, &so, &sr)) goto out;
        avg = opts->beta * avg + (1 - opts->beta) * sr.loss;
        beta_pow *= opts->beta;
        double sm = avg / (1 - beta_pow);
        res->lr[i] = lr;
        res->loss[i] = sr.loss;
        res->smooth[i] = sm;
        res->n = i + 1;
        if (sr.nonfinite || !isfinite(sm)) {
            res->diverged = 1;
            break;
        }
        if (sm < best) best = sm;
        if (sm > opts->diverge * best) {
            res->diverged = 1;
            break;
        }
    }
    res->best = isfinite(best) ? best : NAN;
    int skip = opts->skip_start < 0 ? opts->n_steps / 10 : opts->skip_start;
    /* a curve that never falls (a model that cannot learn, a range that
     * starts too high) has no rate to suggest: any pick would be noise */
    if (nb_lrfind_suggest_from(res->lr, res->smooth, res->n, skip, opts->skip_end, &res->s)) {
        res->no_descent = 1;
    } else {
        double a = res->smooth[res->s.valley_start], z = res->smooth[res->s.valley_end];
        res->descent = (a - z) / fabs(a);
        if (!(res->descent >= opts->min_descent)) {
            res->no_descent = 1;
            nb__no_suggestions(&res->s);
        }
    }
    rc = 0;
out:
    nb__model_state_load(&saved, m);
    nb__model_state_free(&saved);
    if (rng) *rng = rng_saved;
    free(xb);
    free(yb);
    nb_ctx_free(c);
    nb_loader_free(l);
    nb_optim_free(oc);
    return rc;
}
