/* The training doctor: the debugging checklist of nabla/doctor.h.  Each
 * check measures, then judges; the advice of the later checks reads the
 * verdicts of the earlier ones, so a symptom is blamed on its cause (a flat
 * loss on a tiny lr, not on the data). */
#include "../internal.h" /* first: it removes the call-site macros */
#include "nabla/doctor.h"
#include "state.h"

#include <string.h>

#include <math.h>
#include <stdlib.h>

static const char *const nb__status_names[] = {"pass", "warn", "fail"};
static const char *const nb__check_names[NB_DOC__COUNT] = {"input_stats",    "class_balance",  "loss_finite",
                                                           "initial_loss",   "grad_vanishing", "grad_exploding",
                                                           "loss_decreases", "overfit_batch",  "above_chance"};
static const char *const nb__check_titles[NB_DOC__COUNT] = {"inputs normalised",
                                                            "classes balanced",
                                                            "loss finite at init",
                                                            "initial loss ~ ln(classes)",
                                                            "no vanishing gradients at init",
                                                            "no exploding gradients at init",
                                                            "loss falls at this lr",
                                                            "can overfit one batch",
                                                            "accuracy above chance after a short training"};
_Static_assert(sizeof nb__check_names / sizeof *nb__check_names == NB_DOC__COUNT, "check names");

const char *nb_check_status_name(nb_check_status s) { return (unsigned)s <= NB_CHECK_FAIL ? nb__status_names[s] : "?"; }

nb_doctor_opts nb_doctor_defaults(void)
{
    nb_doctor_opts o = {0};
    o.opt = nb_optim_defaults(NB_OPT_ADAM);
    o.batch = 64;
    o.seed = 1;
    o.trend_steps = 100;
    o.overfit_steps = 200;
    o.short_samples = 5000;
    o.stats_samples = 10000;
    o.vanish = 1e-6;
    o.explode = 10;
    o.init = -1;
    return o;
}

void nb_doctor_report_free(nb_doctor_report *rep)
{
    if (!rep) return;
    nb_data_stats_free(rep->raw);
    free(rep->params);
    memset(rep, 0, sizeof *rep);
}

/* ------------------------------------------------------------- helpers */
#if defined(__GNUC__)
#define NB__FMT(a, b) __attribute__((format(printf, a, b)))
#else
#define NB__FMT(a, b)
#endif

static void NB__FMT(4, 5) nb__judge(nb_doctor_report *r, int id, nb_check_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->checks[id].status = st;
    vsnprintf(r->checks[id].detail, sizeof r->checks[id].detail, fmt, ap);
    va_end(ap);
}

static void NB__FMT(3, 4) nb__advise(nb_doctor_report *r, int id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->checks[id].advice, sizeof r->checks[id].advice, fmt, ap);
    va_end(ap);
}

static int nb__failed(const nb_doctor_report *r, int id) { return r->checks[id].status == NB_CHECK_FAIL; }

/* Does the model have a top-level layer of this kind? */
static int nb__has_layer(const nb_model *m, const char *kind)
{
    for (size_t i = 0; i < nb_model_n_layers(m); i++)
        if (!strcmp(nb_model_layer_kind(m, i), kind)) return 1;
    return 0;
}

/* What is already in effect, so that advice does not suggest it. */
typedef struct {
    int residual, batchnorm, squash, relu, small_init, he_init, clip;
} nb__setup;

static nb__setup nb__setup_of(const nb_model *m, const nb_doctor_opts *o)
{
    nb__setup u = {.residual = nb__has_layer(m, "residual"),
                   .batchnorm = nb__has_layer(m, "batchnorm1d"),
                   .clip = o->step.clip_norm > 0};
    for (size_t i = 0; i < nb_model_n_layers(m); i++) {
        const char *k = nb_model_layer_kind(m, i);
        u.squash += !strcmp(k, "sigmoid") || !strcmp(k, "tanh");
        u.relu += !strcmp(k, "relu") || !strcmp(k, "leaky_relu") || !strcmp(k, "elu") || !strcmp(k, "gelu");
    }
    u.small_init = o->init == NB_INIT_TORCH || o->init == NB_INIT_XAVIER_UNIFORM || o->init == NB_INIT_XAVIER_NORMAL;
    u.he_init = o->init == NB_INIT_HE_UNIFORM || o->init == NB_INIT_HE_NORMAL;
    return u;
}

/* Append ", or WHAT" (the first one without ", or ") to a list of remedies. */
static void nb__remedy(char *buf, size_t size, const char *what)
{
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s", n ? ", or " : "", what);
}

static double nb__at(const void *p, nb_dtype dt, size_t i)
{
    return dt == NB_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static double nb__norm(const void *p, nb_dtype dt, size_t off, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double v = nb__at(p, dt, off + i);
        s += v * v;
    }
    return sqrt(s);
}

static int nb__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Updates smaller than this fraction of the weights per step (healthy:
 * ~1e-3) mean the lr is too small to train at all. */
#define NB__TINY_UPDATE 1e-4
/* From this size on the weights move at a normal rate: a loss that barely
 * falls is then not the lr's fault. */
#define NB__NORMAL_UPDATE 1e-3

/* Everything the checks share. */
typedef struct {
    nb_model *m;
    const nb_doctor_opts *o;
    nb_dtype dt;
    size_t d, np;
    size_t L; /* labels per sample: 1, or a text window's steps (logits [n, L, C]) */
    nb_ctx *c;
    void *xb;             /* [batch, d] */
    int32_t *yb;          /* [batch * L] */
    nb__model_state init; /* the model as given */
    void *xp;             /* [n_probe, d] a fixed probe batch: the first samples of shrt */
    int32_t *yp;
    size_t n_probe;
    int lr_large, lr_small;               /* loss_decreases blamed the lr (FAIL) */
    int broken_init;                      /* NaN/Inf before any update: the init or the data, not the lr */
    int slow;                             /* ... or found it slow (WARN), not broken */
    const nb_dataset *all;                /* the training data as given */
    const nb_dataset *train, *val, *shrt; /* train less val; shrt: its short-training subset */
} nb__doc;

/* Next batch of l into the shared buffers, wrapping around epochs: 1 or -1. */
static int nb__next(nb__doc *D, nb_loader *l, size_t *n)
{
    nb_batch b = {.x = D->xb, .dtype = D->dt, .y = D->yb};
    int got = nb_loader_next(l, &b);
    if (got == 0) got = nb_loader_next(l, &b);
    if (got != 1) return got == 0 ? nb__erri("doctor: the loader gave no batch") : -1;
    *n = b.n;
    return 1;
}

static nb_loader *nb__loader(const nb__doc *D, const nb_dataset *ds)
{
    return nb_loader_new(ds, &(nb_loader_opts){.batch_size = D->o->batch, .shuffle = 1, .seed = D->o->seed});
}

/* A sequence model's logits [n, L, C] as rows [n*L, C], one per label. */
static nb_tensor *nb__rows(nb_ctx *c, nb_tensor *logits)
{
    return logits && logits->ndim == 3 ? nb_reshape(c, logits, 2, (long[]){-1, (long)logits->shape[2]}) : logits;
}

/* The mean loss on the probe batch in training mode (batch statistics; the
 * same dropout masks every time) with grad off; NAN on error. */
static double nb__probe_loss(nb__doc *D)
{
    nb_ctx *c = D->c;
    nb_rng rng;
    nb_rng_seed(&rng, D->o->seed ^ 0x9b0b);
    int g = nb_set_grad_enabled(c, 0);
    nb_tensor *x = nb_from_data(c, D->dt, 2, (size_t[]){D->n_probe, D->d}, D->xp, NB_BORROW);
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){D->n_probe * D->L}, D->yp, NB_BORROW);
    nb_tensor *loss = nb_cross_entropy(c, nb__rows(c, nb_model_forward(D->m, c, x, &rng)), y, NB_MEAN, 0.0);
    double v = loss ? nb_item(loss) : NAN;
    nb_set_grad_enabled(c, g);
    nb_ctx_reset(c);
    return v;
}

/* -------------------------------------------------------------- the data */
static int nb__check_data(nb__doc *D, nb_doctor_report *r)
{
    const nb_dataset *ds = D->all;
    if (!(r->raw = nb_dataset_stats(ds))) return -1;
    const nb_data_stats *s = r->raw;
    /* as the loader delivers it: the dataset's normalisation, in order */
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = D->o->batch});
    if (!l) return -1;
    size_t want = D->o->stats_samples ? D->o->stats_samples : ds->n, seen = 0, n;
    double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
    nb_batch b = {.x = D->xb, .dtype = D->dt, .y = D->yb};
    while (seen < want && nb_loader_next(l, &b) == 1) {
        n = b.n * ds->d;
        for (size_t i = 0; i < n; i++) {
            double v = nb__at(D->xb, D->dt, i);
            if (!isfinite(v)) {
                r->in_nonfinite++;
                continue;
            }
            sum += v, sq += v * v;
            mn = fmin(mn, v), mx = fmax(mx, v);
        }
        seen += b.n;
    }
    nb_loader_free(l);
    double cnt = (double)seen * (double)ds->d - (double)r->in_nonfinite;
    r->in_mean = cnt > 0 ? sum / cnt : NAN;
    r->in_std = cnt > 0 ? sqrt(fmax(0, sq / cnt - r->in_mean * r->in_mean)) : NAN;
    r->in_min = mn, r->in_max = mx;
    double amax = fmax(fabs(mn), fabs(mx));
    double raw_lo = s->min / s->scale, raw_hi = s->max / s->scale;
    int u8 = ds->kind == NB_DATA_U8;
    char raw[160];
    snprintf(raw, sizeof raw, "raw %s [%g, %g]%s mean %.4g, std %.4g%s", u8 ? "uint8" : "values", raw_lo, raw_hi,
             u8 ? " (/255:" : ",", s->mean, s->std, u8 ? ")" : "");
    int id = NB_DOC_INPUT_STATS;
    r->checks[id].value = r->in_std;
    nb_check_status st = NB_CHECK_PASS;
    if (r->in_nonfinite || !(fabs(r->in_mean) <= 3) || !(r->in_std <= 10) || !(r->in_std >= 0.01) || !(amax <= 1000))
        st = NB_CHECK_FAIL;
    else if (fabs(r->in_mean) > 0.5 || r->in_std < 0.33 || r->in_std > 3) st = NB_CHECK_WARN;
    nb__judge(r, id, st, "delivered mean %.4g, std %.4g, range [%.4g, %.4g]%s; %s; %zu of %zu features constant",
              r->in_mean, r->in_std, mn, mx, r->in_nonfinite ? " plus NaN/Inf values" : "", raw, s->n_constant, s->d);
    if (r->in_nonfinite)
        nb__advise(r, id,
                   "%zu delivered values are NaN/Inf: find them in the data (a failed parse, a division by a zero "
                   "std) and drop or fill them",
                   r->in_nonfinite);
    else if (st != NB_CHECK_PASS && r->in_std < 0.01)
        nb__advise(r, id,
                   "the inputs are (nearly) constant: the normalisation std is far too large, or the loader "
                   "delivers the wrong buffer");
    else if (st != NB_CHECK_PASS)
        nb__advise(r, id,
                   "standardise the inputs to mean 0, std 1 with the raw data's own statistics: x' = (x%s - %.4g) "
                   "/ %.4g (for the CLI: drop --no-normalize); %s",
                   u8 ? "/255" : "", s->mean, s->std > 0 ? s->std : 1.0,
                   st == NB_CHECK_FAIL ? "large inputs make large logits and gradients at init"
                                       : "off-centre or badly scaled inputs slow training down");
    /* classes */
    id = NB_DOC_CLASS_BALANCE;
    double ratio = s->max_class_count ? (double)s->min_class_count / (double)s->max_class_count : 0;
    r->checks[id].value = ratio;
    st = s->n_empty_classes ? NB_CHECK_FAIL : ratio < 0.5 ? NB_CHECK_WARN : NB_CHECK_PASS;
    nb__judge(r, id, st, "%d classes, %zu to %zu samples each (ratio %.3g)%s", s->n_classes, s->min_class_count,
              s->max_class_count, ratio, s->n_empty_classes ? "; some classes have no sample" : "");
    if (st == NB_CHECK_FAIL)
        nb__advise(r, id,
                   "%d classes never occur: check the label column / number of classes, or that a subset "
                   "did not cut classes off (a sorted file + --limit-train)",
                   s->n_empty_classes);
    else if (st == NB_CHECK_WARN)
        nb__advise(r, id,
                   "rare classes will be predicted poorly and accuracy hides it: oversample them, weight the "
                   "loss, or report per-class accuracy (nabla eval's confusion matrix)");
    return 0;
}

/* ------------------------------------------------------- one batch at init */
static int nb__check_init(nb__doc *D, nb_doctor_report *r)
{
    nb_loader *l = nb__loader(D, D->shrt);
    size_t n;
    if (!l || nb__next(D, l, &n) != 1) {
        nb_loader_free(l);
        return -1;
    }
    nb_loader_free(l);
    nb_rng rng;
    nb_rng_seed(&rng, D->o->seed ^ 0xd0c7);
    nb_ctx *c = D->c;
    nb_tensor *x = nb_from_data(c, D->dt, 2, (size_t[]){n, D->d}, D->xb, NB_BORROW);
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){n * D->L}, D->yb, NB_BORROW);
    nb_tensor *loss = nb_cross_entropy(c, nb__rows(c, nb_model_forward(D->m, c, x, &rng)), y, NB_MEAN,
                                       D->o->step.label_smoothing);
    if (!loss || nb_backward(c, loss, NULL)) {
        nb_ctx_reset(c);
        return -1;
    }
    double L = nb_item(loss), C = (double)(nb_model_out_width(D->m) / D->L), lnC = log(C);
    r->init_loss = L;
    r->expected_loss = lnC;
    /* per-parameter gradient norms */
    const void *g = nb_model_grads(D->m), *p = nb_model_params(D->m);
    size_t ne = nb_model_n_entries(D->m), np = 0;
    r->params = calloc(ne ? ne : 1, sizeof *r->params);
    if (!r->params) {
        nb_ctx_reset(c);
        return nb__erri("doctor: out of memory");
    }
    int first_w = -1, last_w = -1;
    r->i_min_grad = r->i_max_grad = -1;
    int nonfinite_grad = 0;
    for (size_t i = 0; i < ne; i++) {
        const nb_model_entry *e = nb_model_entry_at(D->m, i);
        if (!e->trainable) continue;
        nb_doctor_param *q = &r->params[np];
        q->name = e->name;
        q->grad_norm = nb__norm(g, D->dt, e->offset, e->t->numel);
        q->norm = nb__norm(p, D->dt, e->offset, e->t->numel);
        q->redundant = nb__bias_before_batchnorm(D->m, e->name);
        if (!isfinite(q->grad_norm)) nonfinite_grad = 1;
        else if (!q->redundant) {
            if (r->i_min_grad < 0 || q->grad_norm < r->params[r->i_min_grad].grad_norm) r->i_min_grad = (int)np;
            if (r->i_max_grad < 0 || q->grad_norm > r->params[r->i_max_grad].grad_norm) r->i_max_grad = (int)np;
        }
        if (e->t->ndim == 2) {
            if (first_w < 0) first_w = (int)np;
            last_w = (int)np;
        }
        np++;
    }
    r->n_params = np;
    nb_model_zero_grad(D->m);
    nb_ctx_reset(c);
    r->first_last_ratio = first_w >= 0 && first_w != last_w && r->params[last_w].grad_norm > 0
                              ? r->params[first_w].grad_norm / r->params[last_w].grad_norm
                              : NAN;

    /* loss_finite, initial_loss */
    int id = NB_DOC_LOSS_FINITE;
    r->checks[id].value = L;
    nb__judge(r, id, isfinite(L) ? NB_CHECK_PASS : NB_CHECK_FAIL, "loss of one batch of %zu at init: %.4g", n, L);
    if (!isfinite(L))
        nb__advise(r, id,
                   "the forward pass already gives %s: look for NaN/Inf inputs (input_stats), an init that "
                   "overflows (a smaller init scale), or a log/sqrt/division of a value <= 0 in a custom layer",
                   isnan(L) ? "NaN" : "Inf");
    id = NB_DOC_INITIAL_LOSS;
    r->checks[id].value = L;
    nb_check_status st = !isfinite(L) || L > 2 * lnC ? NB_CHECK_FAIL
                         : fabs(L - lnC) > 0.2 * lnC ? NB_CHECK_WARN
                                                     : NB_CHECK_PASS;
    nb__judge(r, id, st, "%.4g at init; a uniform guess over %g outputs gives ln(%g) = %.4g (x%.3g)", L, C, C, lnC,
              L / lnC);
    if (!isfinite(L))
        nb__advise(r, id, "the loss is %s before any training (see loss_finite): fix that first",
                   isnan(L) ? "NaN" : "Inf");
    else if (st != NB_CHECK_PASS && !(L < lnC)) {
        nb__setup u = nb__setup_of(D->m, D->o);
        char fix[300] = "";
        if (r->checks[NB_DOC_INPUT_STATS].status != NB_CHECK_PASS)
            nb__remedy(fix, sizeof fix, "normalise the inputs (input_stats)");
        if (!u.small_init)
            nb__remedy(fix, sizeof fix, "initialise smaller (--init torch or xavier_normal, or a smaller --init-std)");
        if (u.residual && !u.batchnorm) nb__remedy(fix, sizeof fix, "add --batchnorm (residual sums grow with depth)");
        nb__remedy(fix, sizeof fix, "scale the last layer's weights down");
        nb__advise(r, id,
                   "an untrained net should be unsure (loss ~ ln(C)); %.3g means it is confidently wrong: the "
                   "logits are too large: %s",
                   L, fix);
    } else if (st != NB_CHECK_PASS)
        nb__advise(r, id,
                   "the loss is well below ln(C) before any training: the labels may leak into the inputs, "
                   "or fewer classes occur than the model has outputs (check --model's last width)");

    /* gradients */
    char first_last[200] = "";
    if (isfinite(r->first_last_ratio))
        snprintf(first_last, sizeof first_last, "; first/last weight %s %.3g / %s %.3g = %.3g", r->params[first_w].name,
                 r->params[first_w].grad_norm, r->params[last_w].name, r->params[last_w].grad_norm,
                 r->first_last_ratio);
    id = NB_DOC_GRAD_VANISHING;
    const nb_doctor_param *lo = r->i_min_grad >= 0 ? &r->params[r->i_min_grad] : NULL;
    const nb_doctor_param *hi = r->i_max_grad >= 0 ? &r->params[r->i_max_grad] : NULL;
    r->checks[id].value = lo ? lo->grad_norm : NAN;
    st = lo && lo->grad_norm < D->o->vanish                      ? NB_CHECK_FAIL
         : r->first_last_ratio < 1e-2 || (!lo && nonfinite_grad) ? NB_CHECK_WARN
                                                                 : NB_CHECK_PASS;
    char redundant[160] = "";
    size_t n_red = 0;
    for (size_t i = 0; i < r->n_params; i++) {
        if (!r->params[i].redundant) continue;
        if (!n_red++) snprintf(redundant, sizeof redundant, "%s", r->params[i].name);
    }
    if (n_red > 1)
        snprintf(redundant + strlen(redundant), sizeof redundant - strlen(redundant), " and %zu more", n_red - 1);
    if (n_red)
        snprintf(redundant + strlen(redundant), sizeof redundant - strlen(redundant),
                 " left out (batchnorm follows: zero gradient by construction; a redundant bias, use bias=0)");
    nb__judge(r, id, st, "smallest gradient norm %s %.3g (limit %g)%s%s%s", lo ? lo->name : "-",
              lo ? lo->grad_norm : NAN, D->o->vanish, first_last, n_red ? "; " : "", redundant);
    nb__setup u = nb__setup_of(D->m, D->o);
    char fix[400] = "";
    if (st != NB_CHECK_PASS && lo && lo->grad_norm == 0)
        nb__advise(r, id,
                   "%s gets no gradient at all: all-zero weights (zeros init) keep units identical, or dead "
                   "ReLUs (every pre-activation < 0): use torch/he init, leaky_relu, or a smaller lr",
                   lo->name);
    else if (!lo && nonfinite_grad)
        nb__advise(r, id, "every gradient is NaN/Inf, so vanishing cannot be judged: fix grad_exploding first");
    else if (st != NB_CHECK_PASS) {
        if (u.squash)
            nb__remedy(fix, sizeof fix,
                       u.he_init ? "use ReLU-type activations (--act relu)"
                                 : "use ReLU-type activations (--act relu) with He init "
                                   "(--init he_normal)");
        else if (!u.he_init && u.relu) nb__remedy(fix, sizeof fix, "use He init (--init he_normal)");
        if (!u.batchnorm) nb__remedy(fix, sizeof fix, "add --batchnorm");
        if (!u.residual) nb__remedy(fix, sizeof fix, "add --residual");
        nb__remedy(fix, sizeof fix, "use fewer layers");
        nb__advise(r, id, "the gradient shrinks on its way to the first layers%s, so they will not learn: %s",
                   u.squash ? " (each sigmoid/tanh layer multiplies it by its slope: at most 0.25 for sigmoid)" : "",
                   fix);
    }
    id = NB_DOC_GRAD_EXPLODING;
    r->checks[id].value = nonfinite_grad ? INFINITY : hi ? hi->grad_norm : NAN;
    int big = hi && hi->grad_norm > D->o->explode;
    st = nonfinite_grad || (big && !u.clip) ? NB_CHECK_FAIL
         : big || r->first_last_ratio > 1e2 ? NB_CHECK_WARN
                                            : NB_CHECK_PASS;
    nb__judge(r, id, st, "largest gradient norm %s %.3g (limit %g)%s%s%s", hi ? hi->name : "-",
              hi ? hi->grad_norm : NAN, D->o->explode, first_last, nonfinite_grad ? "; some gradients are NaN/Inf" : "",
              big && u.clip && !nonfinite_grad ? "; clipping bounds each step" : "");
    if (st != NB_CHECK_PASS) {
        fix[0] = '\0';
        if (r->checks[NB_DOC_INPUT_STATS].status != NB_CHECK_PASS)
            nb__remedy(fix, sizeof fix, "normalise the inputs (input_stats)");
        if (!u.small_init) nb__remedy(fix, sizeof fix, "initialise smaller (--init torch or xavier_normal)");
        if (u.residual && !u.batchnorm)
            nb__remedy(fix, sizeof fix,
                       "add --batchnorm (residual sums grow with depth, and so do the last layers' inputs)");
        if (!u.clip) nb__remedy(fix, sizeof fix, "turn gradient clipping on (--clip-norm 1)");
        if (!fix[0]) nb__remedy(fix, sizeof fix, "use fewer layers or a lower lr if training is unstable");
        nb__advise(r, id, "gradients this large make the first steps jump far: %s", fix);
    }
    return 0;
}

/* ------------------------------------------------------ the loss trend */
static int nb__check_trend(nb__doc *D, nb_doctor_report *r)
{
    int steps = D->o->trend_steps > 1 ? D->o->trend_steps : 2;
    nb__model_state_load(&D->init, D->m);
    nb_optim *o = nb_optim_new(&D->o->opt, D->dt, D->np);
    nb_loader *l = nb__loader(D, D->shrt);
    double *loss = calloc((size_t)steps, sizeof *loss), *upd = calloc((size_t)steps, sizeof *upd);
    void *prev = malloc(D->np * nb_dtype_size(D->dt));
    int rc = -1, done = 0;
    double bad = NAN; /* the non-finite loss, if any */
    if (!o || !l || !loss || !upd || !prev) {
        if (o && l) nb__erri("doctor: out of memory");
        goto out;
    }
    nb_rng rng;
    nb_rng_seed(&rng, D->o->seed ^ 0x7e4d);
    nb_step_opts so = D->o->step;
    so.rng = &rng;
    so.hooks = NULL;
    r->trend_nonfinite_step = -1;
    r->trend_first = nb__probe_loss(D);
    for (int i = 0; i < steps; i++) {
        size_t n;
        if (nb__next(D, l, &n) != 1) goto out;
        memcpy(prev, nb_model_params(D->m), D->np * nb_dtype_size(D->dt));
        nb_step_result sr;
        if (nb_train_step(D->m, o, D->c, D->xb, D->yb, n, &so, &sr)) goto out;
        loss[i] = sr.loss;
        done = i + 1;
        if (sr.nonfinite) {
            r->trend_nonfinite_step = i;
            bad = sr.loss;
            break;
        }
        const void *p = nb_model_params(D->m);
        double dd = 0, pp = 0;
        for (size_t j = 0; j < D->np; j++) {
            double a = nb__at(prev, D->dt, j), b = nb__at(p, D->dt, j);
            dd += (b - a) * (b - a);
            pp += a * a;
        }
        upd[i] = pp > 0 ? sqrt(dd / pp) : sqrt(dd);
    }
    int nu = r->trend_nonfinite_step >= 0 ? r->trend_nonfinite_step : done;
    qsort(upd, (size_t)nu, sizeof *upd, nb__cmp_double);
    r->update_ratio = nu ? upd[nu / 2] : NAN;
    r->trend_max = -INFINITY;
    for (int i = 0; i < done; i++) r->trend_max = fmax(r->trend_max, isnan(loss[i]) ? INFINITY : loss[i]);
    r->trend_last = r->trend_nonfinite_step >= 0 ? NAN : nb__probe_loss(D);
    rc = 0;
out:
    nb_optim_free(o);
    nb_loader_free(l);
    free(loss), free(upd), free(prev);
    if (rc) return rc;

    /* small updates: whatever the trend, the checks below should not call
     * a slow run broken */
    D->slow = r->update_ratio >= NB__TINY_UPDATE && r->update_ratio < NB__NORMAL_UPDATE;
    int id = NB_DOC_LOSS_DECREASES;
    double f = r->trend_first, L = r->trend_last, lr = D->o->opt.lr, drop = (f - L) / f, chg = -100 * drop;
    r->checks[id].value = L / f;
    if (r->trend_nonfinite_step == 0 && (!isfinite(f) || r->checks[NB_DOC_LOSS_FINITE].status == NB_CHECK_FAIL ||
                                         !isfinite(r->checks[NB_DOC_GRAD_EXPLODING].value))) {
        /* step 1 computes its loss and gradient on the initial weights: no lr
         * has acted yet, so lowering it cannot help */
        nb__judge(r, id, NB_CHECK_FAIL, "the first step, before any update, already gives a %s (first loss %.4g)",
                  isnan(bad)      ? "NaN loss"
                  : isfinite(bad) ? "NaN/Inf gradient"
                                  : "loss of Inf",
                  f);
        r->checks[id].value = NAN;
        D->broken_init = 1;
        nb__advise(r, id,
                   "this is not the lr: the initial weights or the data already overflow (see loss_finite and "
                   "grad_exploding); fix those first");
    } else if (r->trend_nonfinite_step >= 0) {
        nb__judge(r, id, NB_CHECK_FAIL, "at lr %g the %s at step %d of %d (first loss %.4g)", lr,
                  isnan(bad)      ? "loss became NaN"
                  : isfinite(bad) ? "gradient became NaN/Inf"
                                  : "loss became Inf",
                  r->trend_nonfinite_step + 1, steps, f);
        r->checks[id].value = NAN;
        D->lr_large = 1;
        nb__advise(r, id,
                   "the lr is too large: lower it 10x at a time (--lr %.2g), or let `nabla lr-find` pick one; "
                   "keep --clip-norm 1 on",
                   lr / 10);
    } else if (!(L <= 1.1 * f) || r->trend_max > 3 * f) {
        nb__judge(r, id, NB_CHECK_FAIL,
                  "over %d steps at lr %g the probe loss went %.4g -> %.4g (batch losses up to "
                  "%.4g): it rises",
                  steps, lr, f, L, r->trend_max);
        D->lr_large = 1;
        nb__advise(r, id,
                   "the lr is too large (each step overshoots): lower it 10x at a time (--lr %.2g), or let "
                   "`nabla lr-find` pick one",
                   lr / 10);
    } else if (drop < 0.1 && r->update_ratio < NB__TINY_UPDATE) {
        nb__judge(r, id, NB_CHECK_FAIL,
                  "over %d steps at lr %g the probe loss went %.4g -> %.4g (%+.2g%%) while "
                  "the parameters move by only %.2g of their norm per step",
                  steps, lr, f, L, chg, r->update_ratio);
        D->lr_small = 1;
        nb__advise(r, id,
                   "the lr is too small to move the weights (healthy updates are ~1e-3 of the weights per "
                   "step): raise it (--lr %.2g or more), or let `nabla lr-find` pick one",
                   lr * 1000 < 1e-3 ? 1e-3 : lr * 1000);
    } else if (drop < 0.1 && r->update_ratio < NB__NORMAL_UPDATE) {
        nb__judge(r, id, NB_CHECK_WARN,
                  "over %d steps at lr %g the probe loss went %.4g -> %.4g (only %+.2g%%); the "
                  "parameters move by %.2g of their norm per step",
                  steps, lr, f, L, chg, r->update_ratio);
        nb__advise(r, id,
                   "slow start: the lr is small for this optimizer (healthy updates are ~1e-3 of the weights "
                   "per step): raise it, or let `nabla lr-find` pick one");
    } else if (drop < 0.1) {
        nb__judge(r, id, NB_CHECK_WARN,
                  "over %d steps at lr %g the probe loss went %.4g -> %.4g (only %+.2g%%), "
                  "although the parameters move by %.2g of their norm per step",
                  steps, lr, f, L, chg, r->update_ratio);
        if (nb__failed(r, NB_DOC_GRAD_VANISHING))
            nb__advise(r, id,
                       "not the lr: the gradients vanish (grad_vanishing), so only the last layers learn; fix "
                       "that first");
        else
            nb__advise(r, id,
                       "not the lr (the weights move at a normal rate): the inputs carry no signal about the "
                       "labels. Check that labels belong to their inputs (shuffled together, same order; "
                       "see above_chance)");
    } else {
        nb__judge(r, id, NB_CHECK_PASS,
                  "over %d steps at lr %g the probe loss went %.4g -> %.4g (%+.3g%%); updates %.2g "
                  "of the weights per step",
                  steps, lr, f, L, chg, r->update_ratio);
    }
    return 0;
}

/* ---------------------------------------------------- overfit one batch */
static int nb__check_overfit(nb__doc *D, nb_doctor_report *r)
{
    int steps = D->o->overfit_steps > 0 ? D->o->overfit_steps : 1;
    nb__model_state_load(&D->init, D->m);
    nb_optim *o = nb_optim_new(&D->o->opt, D->dt, D->np);
    nb_loader *l = nb__loader(D, D->shrt);
    size_t n = 0;
    int rc = -1;
    if (!o || !l || nb__next(D, l, &n) != 1) goto out;
    nb_rng rng;
    nb_rng_seed(&rng, D->o->seed ^ 0x0f17);
    nb_step_opts so = D->o->step;
    so.rng = &rng;
    so.hooks = NULL;
    so.label_smoothing = 0; /* smoothing keeps the loss away from 0 */
    int diverged = 0;
    for (int i = 0; i < steps; i++) {
        nb_step_result sr;
        if (nb_train_step(D->m, o, D->c, D->xb, D->yb, n, &so, &sr)) goto out;
        if (i == 0) r->overfit_loss0 = sr.loss;
        if (sr.nonfinite) {
            diverged = 1;
            break;
        }
    }
    /* the batch in eval mode */
    nb_ctx *c = D->c;
    int g = nb_set_grad_enabled(c, 0), tr = nb_set_training(c, 0);
    nb_tensor *x = nb_from_data(c, D->dt, 2, (size_t[]){n, D->d}, D->xb, NB_BORROW);
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){n * D->L}, D->yb, NB_BORROW);
    nb_tensor *logits = nb__rows(c, nb_model_forward(D->m, c, x, NULL));
    nb_tensor *loss = nb_cross_entropy(c, logits, y, NB_MEAN, 0.0);
    size_t correct = 0, C = logits ? logits->shape[1] : 0;
    if (loss) {
        r->overfit_loss = nb_item(loss);
        for (size_t i = 0; i < n * D->L; i++) {
            size_t best = 0;
            for (size_t j = 1; j < C; j++)
                if (nb_get(logits, i * C + j) > nb_get(logits, i * C + best)) best = j;
            correct += best == (size_t)D->yb[i];
        }
    }
    nb_set_grad_enabled(c, g);
    nb_set_training(c, tr);
    nb_ctx_reset(c);
    if (!loss) goto out;
    r->overfit_acc = (double)correct / (double)(n * D->L);
    rc = 0;

    int id = NB_DOC_OVERFIT_BATCH;
    double L = r->overfit_loss, L0 = r->overfit_loss0, acc = r->overfit_acc;
    r->checks[id].value = L;
    /* a loss that falls, only slowly, at an lr found slow is inconclusive */
    int slow = !diverged && L < L0 && D->slow;
    nb_check_status st = acc >= 1 && L < 0.1                                 ? NB_CHECK_PASS
                         : !diverged && (acc >= 0.9 || L < 0.5 * L0 || slow) ? NB_CHECK_WARN
                                                                             : NB_CHECK_FAIL;
    nb__judge(r, id, st, "%d steps on one batch of %zu at lr %g: loss %.4g -> %.4g, %.1f%% of the batch right%s", steps,
              n, D->o->opt.lr, L0, L, 100 * acc, diverged ? " (stopped: the loss became NaN/Inf)" : "");
    if (st != NB_CHECK_PASS && D->broken_init)
        nb__advise(r, id,
                   "the net is NaN/Inf before any update (see loss_finite and loss_decreases): fix the init or "
                   "the data first");
    else if (st != NB_CHECK_PASS && (D->lr_large || diverged))
        nb__advise(r, id,
                   "the lr is too large to settle even on one batch (see loss_decreases): lower it first, "
                   "then run this check again");
    else if (st == NB_CHECK_WARN)
        nb__advise(r, id,
                   "the loss falls but the batch is not memorised in %d steps: %sthe lr is small for this "
                   "optimizer (weights move by %.2g of their norm per step; healthy ~1e-3): try `nabla "
                   "lr-find` or --overfit-steps 1000; if neither helps, look for a bug",
                   steps, D->slow ? "" : "most likely ", r->update_ratio);
    else if (st == NB_CHECK_FAIL && D->lr_small)
        nb__advise(r, id,
                   "the weights barely move at this lr (see loss_decreases): raise the lr first; with a "
                   "working lr a net that cannot memorise %zu samples has a bug",
                   n);
    else if (st == NB_CHECK_FAIL && nb__failed(r, NB_DOC_GRAD_VANISHING))
        nb__advise(r, id,
                   "gradients do not reach the first layers (see grad_vanishing), so the net cannot fit even "
                   "%zu samples: fix that first",
                   n);
    else if (st == NB_CHECK_FAIL)
        nb__advise(r, id,
                   "any working net memorises one small batch: this is a bug, not tuning. Check that the "
                   "labels are the targets of these inputs and lie in [0, classes), that the loss gets raw "
                   "logits (not softmax outputs), that the optimizer updates the model's own parameters, and "
                   "that gradients reach every layer");
out:
    nb_optim_free(o);
    nb_loader_free(l);
    return rc;
}

/* ------------------------------------------------ a short training run */
static int nb__check_short(nb__doc *D, nb_doctor_report *r)
{
    nb__model_state_load(&D->init, D->m);
    nb_optim *o = nb_optim_new(&D->o->opt, D->dt, D->np);
    nb_loader *l = nb__loader(D, D->shrt);
    int rc = -1;
    if (!o || !l) goto out;
    nb_rng rng;
    nb_rng_seed(&rng, D->o->seed ^ 0x5407);
    nb_step_opts so = D->o->step;
    so.rng = &rng;
    so.hooks = NULL;
    nb_batch b = {.x = D->xb, .dtype = D->dt, .y = D->yb};
    int more;
    r->short_steps = 0;
    while ((more = nb_loader_next(l, &b)) == 1) {
        nb_step_result sr;
        if (nb_train_step(D->m, o, D->c, D->xb, D->yb, b.n, &so, &sr)) goto out;
        r->short_steps++;
        if (sr.nonfinite) break;
    }
    if (more < 0) goto out;
    nb_eval ev;
    if (nb_evaluate(D->m, D->c, D->val, 1000, &ev, NULL)) goto out;
    /* chance: the held-out majority class */
    size_t C = (size_t)D->val->n_classes, *count = calloc(C, sizeof *count), top = 0;
    if (!count) {
        nb__erri("doctor: out of memory");
        goto out;
    }
    for (size_t i = 0; i < D->val->n; i++) count[D->val->y[i]]++;
    for (size_t k = 0; k < C; k++) top = count[k] > top ? count[k] : top;
    free(count);
    r->chance = (double)top / (double)D->val->n;
    r->short_acc = ev.accuracy;
    r->short_samples = D->shrt->n;
    r->val_samples = D->val->n;
    rc = 0;

    int id = NB_DOC_ABOVE_CHANCE;
    double acc = ev.accuracy, ch = r->chance, gap = 1 - ch,
           lnC = log((double)(nb_model_out_width(D->m) / D->L)); /* per label */
    r->short_loss = ev.loss;
    r->checks[id].value = acc;
    /* At chance, or barely above it while the held-out loss is no better
     * than a uniform guess: a net fed unrelated labels maps whole classes
     * to random labels and lands anywhere from 0 to ~30% on 10 classes, but
     * its held-out loss stays at ln(C). */
    int near = acc < ch + 0.25 * gap, guess = !(ev.loss < 0.95 * lnC);
    nb_check_status st = !(acc >= ch + 0.05 * gap) || (near && guess && !D->slow) ? NB_CHECK_FAIL
                         : near                                                   ? NB_CHECK_WARN
                                                                                  : NB_CHECK_PASS;
    nb__judge(r, id, st,
              "after one pass over %zu samples (%zu steps): %.2f%% on %zu held-out samples, loss %.4g; "
              "chance is %.2f%%, a uniform guess's loss %.4g",
              D->shrt->n, r->short_steps, 100 * acc, D->val->n, ev.loss, 100 * ch, lnC);
    int lr_bad = nb__failed(r, NB_DOC_LOSS_DECREASES), fit_bad = nb__failed(r, NB_DOC_OVERFIT_BATCH);
    if (st == NB_CHECK_PASS)
        ;
    else if (lr_bad || fit_bad)
        nb__advise(r, id, "this follows from the failures above (%s%s%s): fix them first",
                   lr_bad ? "loss_decreases" : "", lr_bad && fit_bad ? ", " : "", fit_bad ? "overfit_batch" : "");
    else if (st == NB_CHECK_FAIL)
        nb__advise(r, id,
                   "%s chance although the net learns (it memorises a batch): what it learns from the training "
                   "labels does not carry over, so the labels or the preprocessing are wrong: training labels "
                   "that do not belong to their inputs (shuffled or misaligned: read images and labels in the "
                   "same order, shuffle them together), labels remapped between training and held-out data, or "
                   "held-out inputs preprocessed differently from training inputs",
                   acc < ch - 0.05 * gap ? "below" : "no better than");
    else if (D->slow)
        nb__advise(r, id,
                   "barely above chance after %zu steps because training is slow at this lr (see "
                   "loss_decreases): raise it (`nabla lr-find`) and rerun",
                   r->short_steps);
    else
        nb__advise(r, id,
                   "barely above chance after %zu steps: check the labels (are some classes mixed up?) and "
                   "the lr (`nabla lr-find`)",
                   r->short_steps);
out:
    nb_optim_free(o);
    nb_loader_free(l);
    return rc;
}

/* ------------------------------------------------------------------ run */
int nb_doctor_run(nb_model *m, const nb_dataset *train, const nb_dataset *val, const nb_doctor_opts *opts,
                  nb_doctor_report *rep)
{
    if (!rep) return nb__erri("doctor: NULL report");
    memset(rep, 0, sizeof *rep);
    rep->first_fail = -1;
    for (int i = 0; i < NB_DOC__COUNT; i++) {
        rep->checks[i].name = nb__check_names[i];
        rep->checks[i].title = nb__check_titles[i];
        rep->checks[i].value = NAN;
    }
    if (!m || !train) return nb__erri("doctor: NULL %s", m ? "dataset" : "model");
    nb_doctor_opts dflt = nb_doctor_defaults();
    const nb_doctor_opts *o = opts ? opts : &dflt;
    if (o->batch == 0) return nb__erri("doctor: batch is 0");
    if (nb_optim_validate(&o->opt) || nb_model_finalize(m)) return -1;
    if (nb_model_in_width(m) != train->d)
        return nb__erri("doctor: the model takes %zu inputs but %s has %zu features", nb_model_in_width(m), train->name,
                        train->d);
    if ((int)nb_model_out_width(m) < train->n_classes)
        return nb__erri("doctor: the model has %zu outputs but %s has %d classes", nb_model_out_width(m), train->name,
                        train->n_classes);
    if (train->n < 2) return nb__erri("doctor: %s has %zu samples; need at least 2", train->name, train->n);

    nb__doc D = {.m = m,
                 .o = o,
                 .dt = nb_model_dtype(m),
                 .d = train->d,
                 .np = nb_model_n_params(m),
                 .L = nb_dataset_labels_per_sample(train)};
    nb_dataset *tr_own = NULL, *val_own = NULL, *short_own = NULL;
    size_t *rows = NULL;
    int rc = -1;
    if (nb__model_state_save(&D.init, m)) return -1;
    D.c = nb_ctx_new(NULL);
    D.xb = malloc(o->batch * train->d * nb_dtype_size(D.dt));
    D.yb = malloc(o->batch * D.L * sizeof *D.yb);
    if (!D.c || !D.xb || !D.yb) {
        nb__erri("doctor: out of memory");
        goto out;
    }
    D.all = D.train = train;
    D.val = val;
    if (!val) {
        size_t n_val = train->n / 5 < 2000 ? train->n / 5 : 2000;
        if (n_val == 0) n_val = 1;
        if (nb_dataset_split(train, n_val, 0, o->seed, &tr_own, &val_own)) goto out;
        D.train = tr_own;
        D.val = val_own;
    }
    D.shrt = D.train;
    if (o->short_samples && o->short_samples < D.train->n) {
        rows = malloc(o->short_samples * sizeof *rows);
        if (!rows) {
            nb__erri("doctor: out of memory");
            goto out;
        }
        for (size_t i = 0; i < o->short_samples; i++) rows[i] = i;
        if (!(short_own = nb_dataset_subset(D.train, rows, o->short_samples))) goto out;
        D.shrt = short_own;
    }
    /* the probe: the first (up to) 256 samples of the short-training data */
    D.n_probe = D.shrt->n < 256 ? D.shrt->n : 256;
    D.xp = malloc(D.n_probe * D.d * nb_dtype_size(D.dt));
    D.yp = malloc(D.n_probe * D.L * sizeof *D.yp);
    size_t *prow = malloc(D.n_probe * sizeof *prow);
    for (size_t i = 0; prow && i < D.n_probe; i++) prow[i] = i;
    int gathered = D.xp && D.yp && prow &&
                   !nb_dataset_gather(D.shrt, prow, D.n_probe, 0, D.shrt->mean, D.shrt->std, D.dt, D.xp, D.yp);
    free(prow);
    if (!gathered) {
        if (!D.xp || !D.yp) nb__erri("doctor: out of memory");
        goto out;
    }
    if (nb__check_data(&D, rep) || nb__check_init(&D, rep) || nb__check_trend(&D, rep) || nb__check_overfit(&D, rep) ||
        nb__check_short(&D, rep))
        goto out;
    /* the training checks outrank the predictions made at init: a net that
     * learns is not FAILed for its gradients or first loss (unless they
     * are the symptoms of bad inputs, which FAIL on their own) */
    if (!nb__failed(rep, NB_DOC_INPUT_STATS) && rep->checks[NB_DOC_LOSS_DECREASES].status == NB_CHECK_PASS &&
        rep->checks[NB_DOC_OVERFIT_BATCH].status == NB_CHECK_PASS) {
        static const int soft[] = {NB_DOC_INITIAL_LOSS, NB_DOC_GRAD_VANISHING, NB_DOC_GRAD_EXPLODING};
        for (size_t k = 0; k < sizeof soft / sizeof soft[0]; k++) {
            nb_doctor_check *ck = &rep->checks[soft[k]];
            if (ck->status != NB_CHECK_FAIL || !isfinite(ck->value)) continue;
            ck->status = NB_CHECK_WARN;
            size_t n = strlen(ck->detail);
            snprintf(ck->detail + n, sizeof ck->detail - n,
                     "; the net trains anyway (loss_decreases and "
                     "overfit_batch pass)");
        }
    }
    for (int i = 0; i < NB_DOC__COUNT; i++) {
        nb_check_status st = rep->checks[i].status;
        rep->n_pass += st == NB_CHECK_PASS;
        rep->n_warn += st == NB_CHECK_WARN;
        rep->n_fail += st == NB_CHECK_FAIL;
        if (st == NB_CHECK_FAIL && rep->first_fail < 0) rep->first_fail = i;
    }
    rc = 0;
out:
    nb__model_state_load(&D.init, m);
    nb__model_state_free(&D.init);
    nb_ctx_free(D.c);
    free(D.xb);
    free(D.yb);
    free(D.xp);
    free(D.yp);
    free(rows);
    nb_dataset_free(short_own);
    nb_dataset_free(tr_own);
    nb_dataset_free(val_own);
    return rc;
}
