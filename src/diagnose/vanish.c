/* The vanishing/exploding-gradient lab: per-layer gradient norms of a deep
 * MLP (or CNN) at initialisation and after a short training, plus its accuracy. */
#include "../internal.h"
#include "nabla/train.h"
#include "nabla/vanish.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

static double nb__seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

nb_vanish_config nb_vanish_defaults(void)
{
    nb_vanish_config c = {0};
    c.act = NB_ACT_RELU;
    c.act_param = 0.01;
    c.init = NB_INIT_HE_NORMAL;
    c.init_std = 0.01;
    c.depth = 20;
    c.width = 64;
    c.steps = 300;
    c.batch = 64;
    c.probe_batches = 4;
    c.opt = nb_optim_defaults(NB_OPT_SGD);
    c.opt.lr = 0.01;
    c.opt.momentum = 0.9;
    c.seed = 1;
    c.dtype = NB_F32;
    return c;
}

int nb_vanish_validate(const nb_vanish_config *c)
{
    if (!c) return nb__erri("vanish: NULL config");
    if (c->act <= NB_ACT_NONE || c->act >= NB_ACT__COUNT)
        return nb__erri("vanish: act: unknown activation %d", (int)c->act);
    if ((unsigned)c->init >= NB_INIT__COUNT) return nb__erri("vanish: init: unknown initialisation %d", (int)c->init);
    if (c->init == NB_INIT_NORMAL && !(c->init_std > 0 && isfinite(c->init_std)))
        return nb__erri("vanish: init_std must be positive for normal init (got %g)", c->init_std);
    if (c->depth < 2 || c->depth > NB_VANISH_MAX_DEPTH)
        return nb__erri("vanish: depth %d is out of range [2, %d] (Linear layers)", c->depth, NB_VANISH_MAX_DEPTH);
    if (c->width < 1 || c->width > 1000000) return nb__erri("vanish: width %zu is out of range [1, 1000000]", c->width);
    if (c->conv > 4096) return nb__erri("vanish: conv %zu is out of range [0, 4096] (channels)", c->conv);
    if (c->steps < 0) return nb__erri("vanish: steps must be >= 0 (got %ld)", c->steps);
    if (c->batch < 2) return nb__erri("vanish: batch must be >= 2 (got %zu)", c->batch);
    if (c->probe_batches < 1) return nb__erri("vanish: probe_batches must be >= 1 (got %d)", c->probe_batches);
    if (!(c->clip_norm >= 0) || !isfinite(c->clip_norm))
        return nb__erri("vanish: clip_norm must be >= 0 (got %g)", c->clip_norm);
    if (c->dtype != NB_F32 && c->dtype != NB_F64) return nb__erri("vanish: dtype must be float32 or float64");
    return nb_optim_validate(&c->opt);
}

const char *nb_vanish_label(const nb_vanish_config *c, char *buf, size_t size)
{
    if (!buf || !size) return buf;
    char init[48];
    if (c->init == NB_INIT_NORMAL) snprintf(init, sizeof init, "normal(%g)", c->init_std);
    else if (c->init == NB_INIT_HE_NORMAL || c->init == NB_INIT_HE_UNIFORM) snprintf(init, sizeof init, "he");
    else if (c->init == NB_INIT_XAVIER_NORMAL || c->init == NB_INIT_XAVIER_UNIFORM)
        snprintf(init, sizeof init, "xavier");
    else snprintf(init, sizeof init, "%s", nb_init_name(c->init));
    char clip[32] = "";
    if (c->clip_norm > 0) snprintf(clip, sizeof clip, " clip %g", c->clip_norm);
    char cnn[32] = "";
    if (c->conv) snprintf(cnn, sizeof cnn, "cnn%zu ", c->conv);
    snprintf(buf, size, "%s%s %s%s%s%s", cnn, nb_act_name(c->act), init, c->batchnorm ? " bn" : "",
             c->residual ? " res" : "", clip);
    return buf;
}

int nb_vanish_weight_grad_norms(nb_model *m, double *norms, int max)
{
    if (!m || (max > 0 && !norms)) return nb__erri("vanish: NULL model or output");
    if (nb_model_finalize(m)) return -1;
    int k = 0;
    for (size_t i = 0; i < nb_model_n_entries(m); i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        if (!e->trainable || e->t->ndim < 2) continue;
        if (k < max) {
            const nb_tensor *g = e->t->grad;
            double s = 0;
            for (size_t j = 0; j < g->numel; j++) {
                double v = nb_get(g, j);
                s += v * v;
            }
            norms[k] = sqrt(s);
        }
        k++;
    }
    return k;
}

int nb_vanish_probe(nb_model *m, nb_ctx *c, const void *x, const int32_t *y, size_t batch, int n, double *norms,
                    int max, double *loss)
{
    if (!m || !c || !x || !y || batch == 0 || n < 1 || (max > 0 && !norms))
        return nb__erri("vanish probe: NULL argument, batch 0 or no batches");
    if (nb_model_finalize(m)) return -1;
    nb_dtype dt = nb_model_dtype(m);
    size_t d = nb_model_in_width(m), es = nb_dtype_size(dt), nbuf = nb_model_n_buffer_values(m);
    void *saved = malloc(nbuf ? nbuf * es : 1);
    double *tmp = malloc((size_t)(max > 0 ? max : 1) * sizeof *tmp);
    if (!saved || !tmp) {
        free(saved);
        free(tmp);
        return nb__erri("vanish probe: out of memory");
    }
    memcpy(saved, nb_model_buffers(m), nbuf * es);
    for (int k = 0; k < max; k++) norms[k] = 0;
    int count = -1, tr = nb_set_training(c, 1), g = nb_set_grad_enabled(c, 1);
    double loss_sum = 0;
    nb_model_zero_grad(m);
    for (int b = 0; b < n; b++) {
        const char *xb = (const char *)x + (size_t)b * batch * d * es;
        nb_tensor *xt = nb_from_data(c, dt, 2, (size_t[]){batch, d}, (void *)xb, NB_BORROW);
        nb_tensor *yt = nb_from_data(c, NB_I32, 1, (size_t[]){batch}, (void *)(y + (size_t)b * batch), NB_BORROW);
        nb_tensor *l = nb_cross_entropy(c, nb_model_forward(m, c, xt, NULL), yt, NB_MEAN, 0.0);
        if (!l || nb_backward(c, l, NULL)) {
            count = -1;
            break;
        }
        loss_sum += nb_item(l);
        count = nb_vanish_weight_grad_norms(m, tmp, max);
        for (int k = 0; k < max && k < count; k++) norms[k] += tmp[k] / n;
        nb_model_zero_grad(m);
        nb_ctx_reset(c);
    }
    nb_model_zero_grad(m);
    nb_ctx_reset(c);
    nb_set_training(c, tr);
    nb_set_grad_enabled(c, g);
    memcpy(nb_model_buffers(m), saved, nbuf * es);
    free(saved);
    free(tmp);
    if (loss) *loss = loss_sum / n;
    return count;
}

/* The CNN of nabla/vanish.h for images of train's shape ([H, W] or
 * [C, H, W]), built from a layer description. */
static nb_model *nb__vanish_cnn(const nb_vanish_config *cfg, const nb_dataset *train)
{
    size_t in[3] = {1, 0, 0};
    if (train->ndim == 2) in[1] = train->shape[0], in[2] = train->shape[1];
    else if (train->ndim == 3) memcpy(in, train->shape, sizeof in);
    if (!in[1] || in[1] < 4 || in[2] < 4)
        return nb__err("vanish: conv needs images of at least 4x4 ([H, W] or [C, H, W]); %s is not", train->name);
    char act[48];
    if (cfg->act == NB_ACT_LEAKY_RELU || cfg->act == NB_ACT_ELU)
        snprintf(act, sizeof act, "%s(%g)", nb_act_name(cfg->act), cfg->act_param);
    else snprintf(act, sizeof act, "%s", nb_act_name(cfg->act));
    char spec[8192];
    int at = snprintf(spec, sizeof spec, "avgpool2d(4)");
    for (int l = 0; l + 1 < cfg->depth && at > 0 && (size_t)at < sizeof spec; l++) {
        const int res = cfg->residual && l > 0;
        at += snprintf(spec + at, sizeof spec - (size_t)at, " %sconv2d(%zu,k=3,p=1)%s %s%s", res ? "residual(" : "",
                       cfg->conv, cfg->batchnorm ? " batchnorm2d" : "", act, res ? ")" : "");
    }
    if (at > 0 && (size_t)at < sizeof spec)
        at += snprintf(spec + at, sizeof spec - (size_t)at, " gap linear(%d)", train->n_classes);
    if (at < 0 || (size_t)at >= sizeof spec) return nb__err("vanish: the CNN's description is too long");
    return nb_model_from_spec(spec, cfg->dtype, 3, in);
}

/* ||a - b||_2 over n values of dtype dt. */
static double nb__diff_norm(const void *a, const void *b, size_t n, nb_dtype dt)
{
    double s = 0;
    if (dt == NB_F32) {
        const float *p = a, *q = b;
        for (size_t i = 0; i < n; i++) s += ((double)p[i] - q[i]) * ((double)p[i] - q[i]);
    } else {
        const double *p = a, *q = b;
        for (size_t i = 0; i < n; i++) s += (p[i] - q[i]) * (p[i] - q[i]);
    }
    return sqrt(s);
}

int nb_vanish_run(const nb_vanish_config *cfg, const nb_dataset *train, const nb_dataset *test, nb_vanish_result *out)
{
    if (!out || !train) return nb__erri("vanish: NULL result or training set");
    if (nb_vanish_validate(cfg)) return -1;
    if (train->n < cfg->batch)
        return nb__erri("vanish: %s has %zu samples, fewer than one batch of %zu", train->name, train->n, cfg->batch);
    if (test && (test->d != train->d || test->n_classes > train->n_classes))
        return nb__erri("vanish: %s (%zu features, %d classes) does not match %s (%zu, %d)", test->name, test->d,
                        test->n_classes, train->name, train->d, train->n_classes);
    double t0 = nb__seconds();
    memset(out, 0, sizeof *out);
    out->depth = cfg->depth;
    out->ratio_trained = out->loss_first = out->loss_last = NAN;
    out->test_acc = out->test_loss = NAN;
    for (int k = 0; k < NB_VANISH_MAX_DEPTH; k++) out->grad_trained[k] = NAN;

    nb_mlp_config mc = {.act = cfg->act,
                        .act_param = cfg->act_param,
                        .batchnorm = cfg->batchnorm,
                        .residual = cfg->residual,
                        .n_widths = cfg->depth + 1};
    mc.widths[0] = train->d;
    for (int i = 1; i < cfg->depth; i++) mc.widths[i] = cfg->width;
    mc.widths[cfg->depth] = (size_t)train->n_classes;

    nb_dtype dt = cfg->dtype;
    size_t es = nb_dtype_size(dt), d = train->d, np_probe = (size_t)cfg->probe_batches * cfg->batch;
    nb_rng init_rng, probe_rng;
    nb_rng_seed(&init_rng, cfg->seed);
    nb_rng_seed(&probe_rng, cfg->seed ^ 0x9b0be5ULL);
    nb_model *m = cfg->conv ? nb__vanish_cnn(cfg, train) : nb_mlp_new(dt, &mc);
    nb_optim *o = NULL;
    nb_loader *L = NULL;
    nb_ctx *c = nb_ctx_new(NULL);
    size_t *rows = malloc(np_probe * sizeof *rows);
    void *px = malloc(np_probe * d * es), *bx = malloc(cfg->batch * d * es), *prev = NULL;
    int32_t *py = malloc(np_probe * sizeof *py), *by = malloc(cfg->batch * sizeof *by);
    int rc = -1;
    if (!m) goto done;
    if (!c || !rows || !px || !py || !bx || !by) {
        nb__erri("vanish: out of memory");
        goto done;
    }
    if (nb_model_init(m, cfg->init, cfg->init_std, &init_rng)) goto done;
    size_t np = nb_model_n_params(m);
    if (!(prev = malloc(np * es))) {
        nb__erri("vanish: out of memory");
        goto done;
    }

    /* fixed probe batches: distinct random rows (a partial Fisher-Yates
     * shuffle) while there are enough, else drawn with replacement */
    if (np_probe <= train->n) {
        size_t *perm = malloc(train->n * sizeof *perm);
        if (!perm) {
            nb__erri("vanish: out of memory");
            goto done;
        }
        for (size_t i = 0; i < train->n; i++) perm[i] = i;
        for (size_t i = 0; i < np_probe; i++) {
            size_t j = i + (size_t)nb_rng_below(&probe_rng, train->n - i), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            rows[i] = perm[i];
        }
        free(perm);
    } else {
        for (size_t i = 0; i < np_probe; i++) rows[i] = (size_t)nb_rng_below(&probe_rng, train->n);
    }
    if (nb_dataset_gather(train, rows, np_probe, 0, train->mean, train->std, dt, px, py)) goto done;
    int nl = nb_vanish_probe(m, c, px, py, cfg->batch, cfg->probe_batches, out->grad_init, NB_VANISH_MAX_DEPTH,
                             &out->loss_init);
    if (nl < 0) goto done;
    if (nl != cfg->depth) {
        nb__erri("vanish: measured %d weight layers, expected %d", nl, cfg->depth);
        goto done;
    }
    out->ratio_init = out->grad_init[0] / out->grad_init[nl - 1];

    /* training */
    if (!(o = nb_optim_new(&cfg->opt, dt, np))) goto done;
    L = nb_loader_new(train,
                      &(nb_loader_opts){.batch_size = cfg->batch, .shuffle = 1, .drop_last = 1, .seed = cfg->seed});
    if (!L) goto done;
    nb_rng step_rng;
    nb_rng_seed(&step_rng, cfg->seed ^ 0x5eedULL);
    nb_step_opts so = {.clip_norm = cfg->clip_norm, .rng = &step_rng};
    double tail[20];
    nb_batch b = {.x = bx, .dtype = dt, .y = by};
    while (out->steps_done < cfg->steps) {
        int more = nb_loader_next(L, &b);
        if (more < 0) goto done;
        if (more == 0) continue; /* end of an epoch: the next call reshuffles */
        memcpy(prev, nb_model_params(m), np * es);
        nb_step_result sr;
        if (nb_train_step(m, o, c, bx, by, b.n, &so, &sr)) goto done;
        if (sr.nonfinite) {
            out->exploded = 1;
            out->exploded_at = out->steps_done + 1;
            break;
        }
        if (out->steps_done == 0) out->loss_first = sr.loss;
        tail[out->steps_done % 20] = sr.loss;
        out->loss_max = fmax(out->loss_max, sr.loss);
        out->grad_norm_max = fmax(out->grad_norm_max, sr.grad_norm);
        out->clipped_steps += cfg->clip_norm > 0 && sr.grad_norm > cfg->clip_norm;
        out->update_norm_max = fmax(out->update_norm_max, nb__diff_norm(nb_model_params(m), prev, np, dt));
        out->steps_done++;
    }
    if (out->steps_done > 0) {
        long nt = out->steps_done < 20 ? out->steps_done : 20;
        double s = 0;
        for (long k = 0; k < nt; k++) s += tail[k];
        out->loss_last = s / (double)nt;
    }
    if (cfg->steps > 0) {
        if (nb_vanish_probe(m, c, px, py, cfg->batch, cfg->probe_batches, out->grad_trained, NB_VANISH_MAX_DEPTH,
                            NULL) < 0)
            goto done;
        out->ratio_trained = out->grad_trained[0] / out->grad_trained[nl - 1];
    }
    if (test) {
        nb_eval ev;
        if (nb_evaluate(m, c, test, 500, &ev, NULL)) goto done;
        out->test_acc = ev.accuracy;
        out->test_loss = ev.loss;
        out->test_n = ev.n;
    }
    rc = 0;
done:
    out->seconds = nb__seconds() - t0;
    free(rows);
    free(px);
    free(py);
    free(bx);
    free(by);
    free(prev);
    nb_loader_free(L);
    nb_optim_free(o);
    nb_ctx_free(c);
    nb_model_free(m);
    return rc;
}
