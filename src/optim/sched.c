/* Learning-rate schedules, mirroring torch.optim.lr_scheduler (1.13) to the
 * last bit: the same recursive ("chainable") formulas, evaluated in the same
 * order, with the same libm calls.  See include/nabla/optim.h. */
#include "optim_impl.h"

#include <math.h>

static const double nb__pi = 3.141592653589793; /* math.pi */

nb_sched_config nb_sched_defaults(nb_sched_kind kind)
{
    nb_sched_config c = {0};
    c.kind = kind;
    c.step_size = 1;
    c.gamma = 0.1;
    c.t_max = 1;
    c.start_factor = 1.0 / 3;
    c.end_factor = 1.0;
    c.total_iters = 5;
    c.max_lr = 0.1;
    c.total_steps = 1;
    c.pct_start = 0.3;
    c.div_factor = 25.0;
    c.final_div_factor = 1e4;
    c.cycle_momentum = 1;
    c.base_momentum = 0.85;
    c.max_momentum = 0.95;
    c.warmup_start_factor = 1.0 / 3;
    return c;
}

int nb_sched_validate(const nb_sched_config *c)
{
    if (!c) return nb__erri("nb_sched: config is NULL");
    switch (c->kind) {
    case NB_SCHED_CONSTANT: break;
    case NB_SCHED_STEP:
        if (c->step_size <= 0) return nb__erri("nb_sched StepLR: invalid step_size %ld (must be > 0)", c->step_size);
        /* fall through */
    case NB_SCHED_EXPONENTIAL:
        if (!(c->gamma > 0) || !isfinite(c->gamma))
            return nb__erri("nb_sched %s: invalid gamma %g (must be > 0)",
                            c->kind == NB_SCHED_STEP ? "StepLR" : "ExponentialLR", c->gamma);
        break;
    case NB_SCHED_COSINE:
        if (c->t_max <= 0) return nb__erri("nb_sched CosineAnnealingLR: invalid t_max %ld (must be > 0)", c->t_max);
        if (!isfinite(c->eta_min)) return nb__erri("nb_sched CosineAnnealingLR: invalid eta_min %g", c->eta_min);
        break;
    case NB_SCHED_LINEAR:
        if (!(c->start_factor > 0 && c->start_factor <= 1))
            return nb__erri("nb_sched LinearLR: invalid start_factor %g (must be in (0, 1])", c->start_factor);
        if (!(c->end_factor >= 0 && c->end_factor <= 1))
            return nb__erri("nb_sched LinearLR: invalid end_factor %g (must be in [0, 1])", c->end_factor);
        if (c->total_iters <= 0)
            return nb__erri("nb_sched LinearLR: invalid total_iters %ld (must be > 0)", c->total_iters);
        break;
    case NB_SCHED_ONECYCLE:
        if (!(c->max_lr >= 0) || !isfinite(c->max_lr))
            return nb__erri("nb_sched OneCycleLR: invalid max_lr %g (must be >= 0)", c->max_lr);
        if (c->total_steps <= 0)
            return nb__erri("nb_sched OneCycleLR: invalid total_steps %ld (must be > 0)", c->total_steps);
        if (!(c->pct_start >= 0 && c->pct_start <= 1))
            return nb__erri("nb_sched OneCycleLR: invalid pct_start %g (must be in [0, 1])", c->pct_start);
        if (!(c->div_factor > 0) || !(c->final_div_factor > 0))
            return nb__erri("nb_sched OneCycleLR: invalid %s %g (must be > 0)",
                            !(c->div_factor > 0) ? "div_factor" : "final_div_factor",
                            !(c->div_factor > 0) ? c->div_factor : c->final_div_factor);
        if (c->cycle_momentum && !(c->base_momentum >= 0 && c->max_momentum >= 0))
            return nb__erri("nb_sched OneCycleLR: invalid %s %g (must be >= 0)",
                            !(c->base_momentum >= 0) ? "base_momentum" : "max_momentum",
                            !(c->base_momentum >= 0) ? c->base_momentum : c->max_momentum);
        if (c->warmup_iters) return nb__erri("nb_sched OneCycleLR: warmup_iters must be 0 (it has its own warm-up)");
        break;
    default: return nb__erri("nb_sched: invalid kind %d", (int)c->kind);
    }
    if (c->warmup_iters < 0) return nb__erri("nb_sched: invalid warmup_iters %ld (must be >= 0)", c->warmup_iters);
    if (c->warmup_iters > 0 && !(c->warmup_start_factor > 0 && c->warmup_start_factor <= 1))
        return nb__erri("nb_sched: invalid warmup_start_factor %g (must be in (0, 1])", c->warmup_start_factor);
    return 0;
}

/* LinearLR.get_lr for last_epoch e >= 1, from the current lr. */
static double nb__linear_rec(double sf, double ef, long total, int64_t e, double lr)
{
    if (e > total) return lr;
    return lr * (1. + (ef - sf) / ((double)total * sf + (double)(e - 1) * (ef - sf)));
}

/* The main schedule's get_lr for last_epoch e >= 1, from the current lr. */
static double nb__recursive(const nb_sched_config *c, double base, int64_t e, double lr)
{
    switch (c->kind) {
    case NB_SCHED_STEP: return e % c->step_size != 0 ? lr : lr * c->gamma;
    case NB_SCHED_EXPONENTIAL: return lr * c->gamma;
    case NB_SCHED_COSINE: {
        const int64_t T = c->t_max;
        const double eta = c->eta_min;
        if ((((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T) == 0) /* Python's % */
            return lr + (base - eta) * (1 - cos(nb__pi / (double)T)) / 2;
        return (1 + cos(nb__pi * (double)e / (double)T)) / (1 + cos(nb__pi * (double)(e - 1) / (double)T)) *
                   (lr - eta) +
               eta;
    }
    case NB_SCHED_LINEAR: return nb__linear_rec(c->start_factor, c->end_factor, c->total_iters, e, lr);
    default: return lr;
    }
}

/* _get_closed_form_lr at last_epoch 0: where SequentialLR restarts the main
 * schedule after the warm-up (scheduler.step(0)). */
static double nb__closed_form0(const nb_sched_config *c, double base)
{
    switch (c->kind) {
    case NB_SCHED_STEP:
    case NB_SCHED_EXPONENTIAL: return base * 1.0; /* base * gamma ** 0 */
    case NB_SCHED_COSINE: return c->eta_min + (base - c->eta_min) * (1 + cos(nb__pi * 0.0 / (double)c->t_max)) / 2;
    case NB_SCHED_LINEAR:
        return base * (c->start_factor + (c->end_factor - c->start_factor) * 0.0 / (double)c->total_iters);
    default: return base;
    }
}

static double nb__anneal(int linear, double start, double end, double pct)
{
    if (linear) return (end - start) * pct + start;
    const double cos_out = cos(nb__pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

typedef struct {
    double end, lr0, lr1, m0, m1;
} nb__phase;

/* OneCycleLR.get_lr at step e (a pure function of e). */
static void nb__onecycle(const nb_sched_config *c, int64_t e, double *lr, double *mom)
{
    const double initial = c->max_lr / c->div_factor, max_lr = c->max_lr;
    const double min_lr = initial / c->final_div_factor;
    const double bm = c->base_momentum, mm = c->max_momentum;
    const double total = (double)c->total_steps;
    nb__phase ph[3];
    int nph;
    if (c->three_phase) {
        ph[0] = (nb__phase){c->pct_start * total - 1, initial, max_lr, mm, bm};
        ph[1] = (nb__phase){2 * c->pct_start * total - 2, max_lr, initial, bm, mm};
        ph[2] = (nb__phase){total - 1, initial, min_lr, mm, mm};
        nph = 3;
    } else {
        ph[0] = (nb__phase){c->pct_start * total - 1, initial, max_lr, mm, bm};
        ph[1] = (nb__phase){total - 1, max_lr, min_lr, bm, mm};
        nph = 2;
    }
    double start = 0;
    const double x = (double)e;
    for (int i = 0; i < nph; i++) {
        if (x <= ph[i].end || i == nph - 1) {
            const double pct = (x - start) / (ph[i].end - start);
            *lr = nb__anneal(c->anneal_linear, ph[i].lr0, ph[i].lr1, pct);
            *mom = nb__anneal(c->anneal_linear, ph[i].m0, ph[i].m1, pct);
            return;
        }
        start = ph[i].end;
    }
}

int nb_sched_init(nb_sched *s, const nb_sched_config *cfg, double base_lr)
{
    if (!s) return nb__erri("nb_sched_init: schedule is NULL");
    if (nb_sched_validate(cfg)) return -1;
    if (cfg->kind != NB_SCHED_ONECYCLE && !(base_lr >= 0 && isfinite(base_lr)))
        return nb__erri("nb_sched_init: invalid base_lr %g (must be >= 0)", base_lr);
    s->cfg = *cfg;
    s->epoch = 0;
    s->momentum = NAN;
    if (cfg->kind == NB_SCHED_ONECYCLE) {
        s->base_lr = cfg->max_lr / cfg->div_factor;
        double m;
        nb__onecycle(cfg, 0, &s->lr, &m);
        if (cfg->cycle_momentum) s->momentum = m;
        return 0;
    }
    s->base_lr = base_lr;
    if (cfg->warmup_iters > 0) s->lr = base_lr * cfg->warmup_start_factor;
    else if (cfg->kind == NB_SCHED_LINEAR) s->lr = base_lr * cfg->start_factor;
    else s->lr = base_lr;
    return 0;
}

int nb_sched_step(nb_sched *s)
{
    if (!s) return nb__erri("nb_sched_step: schedule is NULL");
    const nb_sched_config *c = &s->cfg;
    const int64_t e = s->epoch + 1;
    if (c->kind == NB_SCHED_ONECYCLE) {
        if (e > c->total_steps)
            return nb__erri("nb_sched_step OneCycleLR: tried to step %lld times; total_steps is %ld", (long long)e + 1,
                            c->total_steps);
        double m;
        nb__onecycle(c, e, &s->lr, &m);
        if (c->cycle_momentum) s->momentum = m;
    } else if (e < c->warmup_iters) {
        s->lr = nb__linear_rec(c->warmup_start_factor, 1.0, c->warmup_iters, e, s->lr);
    } else if (c->warmup_iters > 0 && e == c->warmup_iters) {
        s->lr = nb__closed_form0(c, s->base_lr);
    } else {
        s->lr = nb__recursive(c, s->base_lr, e - c->warmup_iters, s->lr);
    }
    s->epoch = e;
    return 0;
}

int nb_sched_seek(nb_sched *s, int64_t epoch)
{
    if (!s) return nb__erri("nb_sched_seek: schedule is NULL");
    if (epoch < 0) return nb__erri("nb_sched_seek: invalid epoch %lld", (long long)epoch);
    nb_sched t;
    if (nb_sched_init(&t, &s->cfg, s->base_lr)) return -1;
    for (int64_t i = 0; i < epoch; i++)
        if (nb_sched_step(&t)) return -1;
    *s = t;
    return 0;
}

double nb_sched_lr_at(const nb_sched_config *cfg, double base_lr, int64_t epoch)
{
    nb_sched s;
    if (nb_sched_init(&s, cfg, base_lr) || nb_sched_seek(&s, epoch)) return NAN;
    return s.lr;
}

int nb_sched_apply(const nb_sched *s, nb_optim *o)
{
    if (!s || !o) return nb__erri("nb_sched_apply: %s is NULL", !s ? "schedule" : "optimizer");
    /* OneCycleLR's lr one step past total_steps is extrapolated and can be
     * negative (linear annealing); no step may use it, so it is clamped. */
    if (nb_optim_set_lr(o, s->lr < 0 ? 0.0 : s->lr)) return -1;
    if (s->cfg.kind == NB_SCHED_ONECYCLE && s->cfg.cycle_momentum) return nb_optim_set_momentum(o, s->momentum);
    return 0;
}
