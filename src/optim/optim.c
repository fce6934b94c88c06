/* Optimizers: configuration, state buffers, and the step that dispatches to
 * the flat update loops of update.inc. */
#include "optim_impl.h"

#include <math.h>
#include <stdlib.h>

static const char *const nb__kind_names[NB_OPT_COUNT] = {"SGD", "Adam", "AdamW", "RMSprop"};
static const char *const nb__buf_names[NB__BUF_COUNT] = {"momentum_buffer", "exp_avg",    "exp_avg_sq",
                                                         "max_exp_avg_sq",  "square_avg", "grad_avg"};
_Static_assert(sizeof nb__kind_names / sizeof nb__kind_names[0] == NB_OPT_COUNT, "kind names");
_Static_assert(sizeof nb__buf_names / sizeof nb__buf_names[0] == NB__BUF_COUNT, "buffer names");

nb_optim_config nb_optim_defaults(nb_optim_kind kind)
{
    nb_optim_config c = {0};
    c.kind = kind;
    c.lr = 1e-3;
    switch (kind) {
    case NB_OPT_ADAMW: c.weight_decay = 1e-2; /* fall through */
    case NB_OPT_ADAM:
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        break;
    case NB_OPT_RMSPROP:
        c.lr = 1e-2;
        c.alpha = 0.99;
        c.eps = 1e-8;
        break;
    default: break;
    }
    return c;
}

/* "0 <= x" the way torch writes it, so NaN fails too. */
static int nb__nonneg(const char *kind, const char *field, double x)
{
    if (!(x >= 0)) return nb__erri("nb_optim %s: invalid %s %g (must be >= 0)", kind, field, x);
    return 0;
}

int nb_optim_validate(const nb_optim_config *cfg)
{
    if (!cfg) return nb__erri("nb_optim: config is NULL");
    if ((unsigned)cfg->kind >= NB_OPT_COUNT) return nb__erri("nb_optim: invalid kind %d", (int)cfg->kind);
    const char *k = nb__kind_names[cfg->kind];
    if (nb__nonneg(k, "lr", cfg->lr) || nb__nonneg(k, "weight_decay", cfg->weight_decay)) return -1;
    switch (cfg->kind) {
    case NB_OPT_SGD:
        if (nb__nonneg(k, "momentum", cfg->momentum)) return -1;
        if (!isfinite(cfg->dampening)) return nb__erri("nb_optim SGD: invalid dampening %g", cfg->dampening);
        if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
            return nb__erri("nb_optim SGD: nesterov requires momentum > 0 and dampening == 0 "
                            "(momentum %g, dampening %g)",
                            cfg->momentum, cfg->dampening);
        break;
    case NB_OPT_ADAM:
    case NB_OPT_ADAMW:
        if (nb__nonneg(k, "eps", cfg->eps)) return -1;
        if (!(cfg->beta1 >= 0 && cfg->beta1 < 1))
            return nb__erri("nb_optim %s: invalid beta1 %g (must be in [0, 1))", k, cfg->beta1);
        if (!(cfg->beta2 >= 0 && cfg->beta2 < 1))
            return nb__erri("nb_optim %s: invalid beta2 %g (must be in [0, 1))", k, cfg->beta2);
        break;
    case NB_OPT_RMSPROP:
        if (nb__nonneg(k, "eps", cfg->eps) || nb__nonneg(k, "momentum", cfg->momentum) ||
            nb__nonneg(k, "alpha", cfg->alpha))
            return -1;
        break;
    default: break;
    }
    return 0;
}

static void *nb__zalloc(nb_optim *o) { return nb__big_zalloc(o->n, nb_dtype_size(o->dt)); }

/* Make sure buffer b exists (zeroed); 0 or -1. */
static int nb__need(nb_optim *o, int b)
{
    if (o->buf[b]) return 0;
    o->buf[b] = nb__zalloc(o);
    if (!o->buf[b])
        return nb__erri("nb_optim %s: out of memory for %s [%zu]", nb__kind_names[o->cfg.kind], nb__buf_names[b], o->n);
    return 0;
}

nb_optim *nb_optim_new(const nb_optim_config *cfg, nb_dtype dt, size_t n)
{
    if (nb_optim_validate(cfg)) return NULL;
    if (dt != NB_F32 && dt != NB_F64)
        return nb__err("nb_optim_new: dtype must be float32 or float64, got %s", nb_dtype_name(dt));
    if (n > SIZE_MAX / 8) return nb__err("nb_optim_new: n = %zu is too large", n);
    nb_optim *o = calloc(1, sizeof *o);
    if (!o) return nb__err("nb_optim_new: out of memory");
    o->cfg = *cfg;
    o->dt = dt;
    o->n = n;
    int rc = 0;
    switch (cfg->kind) {
    case NB_OPT_SGD:
        if (cfg->momentum != 0) rc = nb__need(o, NB__BUF_MOM);
        break;
    case NB_OPT_ADAM:
    case NB_OPT_ADAMW:
        rc = nb__need(o, NB__BUF_EXP_AVG) || nb__need(o, NB__BUF_EXP_AVG_SQ);
        if (!rc && cfg->amsgrad) rc = nb__need(o, NB__BUF_MAX_EXP_AVG_SQ);
        break;
    case NB_OPT_RMSPROP:
        rc = nb__need(o, NB__BUF_SQUARE_AVG);
        if (!rc && cfg->momentum > 0) rc = nb__need(o, NB__BUF_MOM);
        if (!rc && cfg->centered) rc = nb__need(o, NB__BUF_GRAD_AVG);
        break;
    default: break;
    }
    if (rc) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

void nb_optim_free(nb_optim *o)
{
    if (!o) return;
    for (int b = 0; b < NB__BUF_COUNT; b++) free(o->buf[b]);
    free(o);
}

/* One step over [lo, hi) of the flat buffers: every optimizer is element-wise,
 * so the pool may split the buffers anywhere (boundaries are multiples of 16,
 * which keeps the AVX2 loops' vector/tail split on the same elements). */
typedef struct {
    const nb_optim *o;
    void *p;
    void *g;
    const nb__opt_hp *h;
} nb__step_job;

/* Element lo of an optimizer buffer of elements of size sz, or NULL when the
 * optimizer has no such buffer. */
static void *nb__off(void *buf, size_t lo, size_t sz) { return buf ? (char *)buf + lo * sz : NULL; }

static void nb__step_range(void *arg, size_t lo, size_t hi)
{
    const nb__step_job *j = arg;
    void *const *b = j->o->buf;
    const int f32 = j->o->dt == NB_F32;
    const size_t sz = f32 ? sizeof(float) : sizeof(double), n = hi - lo;
    void *p = (char *)j->p + lo * sz;
    void *g = (char *)j->g + lo * sz;
    void *mom = nb__off(b[NB__BUF_MOM], lo, sz);
    switch (j->o->cfg.kind) {
    case NB_OPT_SGD:
        if (f32) nb__sgd_f32(p, g, mom, n, j->h);
        else nb__sgd_f64(p, g, mom, n, j->h);
        break;
    case NB_OPT_ADAM:
    case NB_OPT_ADAMW: {
        void *m1 = nb__off(b[NB__BUF_EXP_AVG], lo, sz), *m2 = nb__off(b[NB__BUF_EXP_AVG_SQ], lo, sz);
        void *mx = nb__off(b[NB__BUF_MAX_EXP_AVG_SQ], lo, sz);
        int decoupled = j->o->cfg.kind == NB_OPT_ADAMW;
        if (f32) nb__adam_f32(p, g, m1, m2, mx, n, j->h, decoupled);
        else nb__adam_f64(p, g, m1, m2, mx, n, j->h, decoupled);
        break;
    }
    case NB_OPT_RMSPROP: {
        void *sq = nb__off(b[NB__BUF_SQUARE_AVG], lo, sz), *ga = nb__off(b[NB__BUF_GRAD_AVG], lo, sz);
        if (f32) nb__rmsprop_f32(p, g, sq, ga, mom, n, j->h);
        else nb__rmsprop_f64(p, g, sq, ga, mom, n, j->h);
        break;
    }
    default: break;
    }
}

/* The update, with the fused pass's gradient handling when gscale != 1 or
 * zero (gradients written then, else only read). */
static int nb__step(nb_optim *o, void *params, void *grads, double gscale, int zero)
{
    if (!o || !params || !grads)
        return nb__erri("nb_optim_step: %s is NULL", !o ? "optimizer" : !params ? "params" : "grads");
    const nb_optim_config *c = &o->cfg;
    if (c->kind != NB_OPT_SGD && c->kind != NB_OPT_ADAM && c->kind != NB_OPT_ADAMW && c->kind != NB_OPT_RMSPROP)
        return nb__erri("nb_optim_step: invalid kind %d", (int)c->kind);
    nb__opt_hp h = {
        .lr = c->lr,
        .wd = c->weight_decay,
        .momentum = c->momentum,
        .dampening = c->dampening,
        .beta1 = c->beta1,
        .beta2 = c->beta2,
        .eps = c->eps,
        .alpha = c->alpha,
        .nesterov = c->nesterov,
        .maximize = c->maximize,
        .amsgrad = c->amsgrad,
        .centered = c->centered,
        .step = o->steps + 1,
        .mom_init = o->mom_init,
        .gscale = gscale,
        .scale_g = gscale != 1,
        .zero_g = zero != 0,
    };
    nb__step_job j = {o, params, grads, &h};
    nb__parallel_for(o->n, NB__OPTIM_GRAIN, nb__step_range, &j);
    if (c->kind == NB_OPT_SGD && c->momentum != 0) o->mom_init = 1;
    o->steps++;
    return 0;
}

/* The kernels write the gradients only when scale_g or zero_g is set, which
 * nb_optim_step never sets: casting its const away is safe. */
int nb_optim_step(nb_optim *o, void *params, const void *grads) { return nb__step(o, params, (void *)grads, 1, 0); }

int nb__optim_step_fused(nb_optim *o, void *params, void *grads, double gscale, int zero)
{
    return nb__step(o, params, grads, gscale, zero);
}

int nb_optim_set_lr(nb_optim *o, double lr)
{
    if (!o) return nb__erri("nb_optim_set_lr: optimizer is NULL");
    if (!(lr >= 0)) return nb__erri("nb_optim_set_lr: invalid lr %g (must be >= 0)", lr);
    o->cfg.lr = lr;
    return 0;
}

double nb_optim_lr(const nb_optim *o) { return o ? o->cfg.lr : NAN; }

int nb_optim_set_momentum(nb_optim *o, double m)
{
    if (!o) return nb__erri("nb_optim_set_momentum: optimizer is NULL");
    const char *k = nb__kind_names[o->cfg.kind];
    switch (o->cfg.kind) {
    case NB_OPT_ADAM:
    case NB_OPT_ADAMW:
        if (!(m >= 0 && m < 1)) return nb__erri("nb_optim_set_momentum %s: invalid beta1 %g (must be in [0, 1))", k, m);
        o->cfg.beta1 = m;
        return 0;
    case NB_OPT_SGD:
    case NB_OPT_RMSPROP:
        if (!(m >= 0)) return nb__erri("nb_optim_set_momentum %s: invalid momentum %g (must be >= 0)", k, m);
        if (m != 0 && nb__need(o, NB__BUF_MOM)) return -1;
        o->cfg.momentum = m;
        return 0;
    default: return nb__erri("nb_optim_set_momentum: invalid kind %d", (int)o->cfg.kind);
    }
}

double nb_optim_momentum(const nb_optim *o)
{
    if (!o) return NAN;
    return o->cfg.kind == NB_OPT_ADAM || o->cfg.kind == NB_OPT_ADAMW ? o->cfg.beta1 : o->cfg.momentum;
}

const nb_optim_config *nb_optim_get_config(const nb_optim *o) { return o ? &o->cfg : NULL; }
nb_dtype nb_optim_dtype(const nb_optim *o) { return o ? o->dt : NB_F32; }
size_t nb_optim_size(const nb_optim *o) { return o ? o->n : 0; }

/* ------------------------------------------------------------------ state */
/* Is buffer b part of the state right now? */
static int nb__listed(const nb_optim *o, int b)
{
    if (!o->buf[b]) return 0;
    if (b == NB__BUF_MOM && o->cfg.kind == NB_OPT_SGD) return o->mom_init;
    return 1;
}

int nb_optim_state_count(const nb_optim *o)
{
    int k = 0;
    if (o)
        for (int b = 0; b < NB__BUF_COUNT; b++) k += nb__listed(o, b);
    return k;
}

const char *nb_optim_state_name(const nb_optim *o, int i)
{
    if (!o || i < 0) return NULL;
    for (int b = 0; b < NB__BUF_COUNT; b++)
        if (nb__listed(o, b) && i-- == 0) return nb__buf_names[b];
    return NULL;
}

static int nb__buf_index(const char *name)
{
    for (int b = 0; b < NB__BUF_COUNT; b++)
        if (name && strcmp(name, nb__buf_names[b]) == 0) return b;
    return -1;
}

const void *nb_optim_state_get(const nb_optim *o, const char *name)
{
    if (!o) return nb__err("nb_optim_state_get: optimizer is NULL");
    int b = nb__buf_index(name);
    if (b < 0 || !nb__listed(o, b))
        return nb__err("nb_optim_state_get: %s has no state buffer \"%s\"", nb__kind_names[o->cfg.kind],
                       name ? name : "(null)");
    return o->buf[b];
}

int nb_optim_state_load(nb_optim *o, const char *name, const void *src)
{
    if (!o || !src) return nb__erri("nb_optim_state_load: %s is NULL", !o ? "optimizer" : "src");
    int b = nb__buf_index(name);
    const int sgd_mom = b == NB__BUF_MOM && o->cfg.kind == NB_OPT_SGD;
    if (b < 0 || (!o->buf[b] && !sgd_mom))
        return nb__erri("nb_optim_state_load: %s has no state buffer \"%s\"", nb__kind_names[o->cfg.kind],
                        name ? name : "(null)");
    if (nb__need(o, b)) return -1;
    memcpy(o->buf[b], src, o->n * nb_dtype_size(o->dt));
    if (sgd_mom) o->mom_init = 1;
    return 0;
}

int64_t nb_optim_steps(const nb_optim *o) { return o ? o->steps : -1; }

int nb_optim_set_steps(nb_optim *o, int64_t steps)
{
    if (!o) return nb__erri("nb_optim_set_steps: optimizer is NULL");
    if (steps < 0) return nb__erri("nb_optim_set_steps: invalid steps %lld", (long long)steps);
    o->steps = steps;
    return 0;
}
