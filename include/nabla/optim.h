/* nabla/optim.h — optimizers, learning-rate schedules and gradient clipping
 * with torch.optim's exact step semantics (torch 1.13, foreach=False).
 *
 *   // params and grads: one flat buffer each, same layout, n elements.
 *   nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAMW);
 *   oc.lr = 3e-4; oc.weight_decay = 0.1;
 *   nb_optim *o = nb_optim_new(&oc, NB_F32, n);
 *   nb_sched_config sc = nb_sched_defaults(NB_SCHED_ONECYCLE);
 *   sc.max_lr = 1e-3; sc.total_steps = epochs * batches; sc.cycle_momentum = 1;
 *   nb_sched s; nb_sched_init(&s, &sc, oc.lr); nb_sched_apply(&s, o);
 *   for (each batch) {
 *       ... forward, backward into grads ...
 *       int bad;
 *       nb_clip_grad_norm(grads, NB_F32, n, 1.0, &bad);   // bad: norm was NaN/inf
 *       nb_optim_step(o, params, grads);
 *       nb_sched_step(&s); nb_sched_apply(&s, o);
 *   }
 *   nb_optim_free(o);
 *
 * Every update is one flat loop over the buffer, written once for float and
 * double; float32 rounds the (double) hyper-parameters to float exactly where
 * torch does, and the arithmetic follows torch's operation order, so float32
 * and float64 trajectories equal PyTorch's bit for bit when torch runs its
 * plain CPU kernels (ATEN_CPU_CAPABILITY=default), and agree to ~1e-13
 * relative with its AVX2 kernels, which fuse multiply-adds
 * (tests/ref/torch_optim.py).  Errors: functions return NULL or -1 and
 * nb_errmsg() names the field or argument at fault.  No global state: two
 * optimizers never share anything.
 */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- optimizers */
typedef enum {
    NB_OPT_SGD = 0, /* torch.optim.SGD */
    NB_OPT_ADAM,    /* torch.optim.Adam (weight_decay = L2 added to the gradient) */
    NB_OPT_ADAMW,   /* torch.optim.AdamW (decoupled decay: p *= 1 - lr*wd) */
    NB_OPT_RMSPROP, /* torch.optim.RMSprop */
    NB_OPT_COUNT
} nb_optim_kind;

/* Settings, with torch's names and meanings.  Start from nb_optim_defaults(),
 * which gives torch's defaults, and change what you need.  Fields a kind does
 * not use are ignored. */
typedef struct nb_optim_config {
    nb_optim_kind kind;
    double lr;           /* >= 0 */
    double weight_decay; /* >= 0; L2 for SGD/Adam/RMSprop, decoupled for AdamW */
    int maximize;        /* ascend instead: the gradient is negated */
    double momentum;     /* SGD, RMSprop; >= 0 */
    double dampening;    /* SGD */
    int nesterov;        /* SGD; needs momentum > 0 and dampening == 0 */
    double beta1, beta2; /* Adam, AdamW; each in [0, 1) */
    double eps;          /* Adam, AdamW, RMSprop; >= 0 */
    int amsgrad;         /* Adam, AdamW */
    double alpha;        /* RMSprop smoothing constant; >= 0 */
    int centered;        /* RMSprop */
} nb_optim_config;

typedef struct nb_optim nb_optim;

/* torch's defaults: SGD lr 1e-3 (torch has none); Adam lr 1e-3, betas
 * (0.9, 0.999), eps 1e-8; AdamW the same with weight_decay 1e-2; RMSprop lr
 * 1e-2, alpha 0.99, eps 1e-8.  Everything else 0. */
NB_API nb_optim_config nb_optim_defaults(nb_optim_kind kind);
/* Check a configuration: 0, or -1 with an error naming the field. */
NB_API int nb_optim_validate(const nb_optim_config *cfg);

/* An optimizer for n parameters of dtype dt (NB_F32 or NB_F64).  All state
 * buffers are allocated (zeroed) here, so nb_optim_step never allocates.
 * Returns NULL on a bad config or no memory.  Free with nb_optim_free (NULL ok). */
NB_API nb_optim *nb_optim_new(const nb_optim_config *cfg, nb_dtype dt, size_t n);
NB_API void nb_optim_free(nb_optim *o);

/* One update, in place: params [n] from grads [n] (both of the optimizer's
 * dtype; grads is not modified).  0 on success. */
NB_API int nb_optim_step(nb_optim *o, void *params, const void *grads);

/* The learning rate used by the next step (schedules set it). lr >= 0. */
NB_API int nb_optim_set_lr(nb_optim *o, double lr);
NB_API double nb_optim_lr(const nb_optim *o);
/* "Momentum" as torch's OneCycleLR cycles it: momentum for SGD and RMSprop,
 * beta1 for Adam and AdamW.  Setting a non-zero momentum on an SGD or RMSprop
 * optimizer created without one allocates its momentum buffer here. */
NB_API int nb_optim_set_momentum(nb_optim *o, double m);
NB_API double nb_optim_momentum(const nb_optim *o);
/* The current settings (lr and momentum as last set).  Owned by o. */
NB_API const nb_optim_config *nb_optim_get_config(const nb_optim *o);
NB_API nb_dtype nb_optim_dtype(const nb_optim *o);
NB_API size_t nb_optim_size(const nb_optim *o); /* n */

/* ---- state, for checkpoints.  The state is the step count plus named
 * buffers of n elements of the optimizer's dtype, named as in torch's
 * state_dict: "momentum_buffer" (SGD, RMSprop with momentum), "exp_avg",
 * "exp_avg_sq", "max_exp_avg_sq" (Adam/AdamW, amsgrad), "square_avg",
 * "grad_avg" (RMSprop, centered).  Saving every listed buffer and the step
 * count, then loading them into a fresh optimizer with the same config,
 * continues bit for bit.  SGD's momentum buffer is listed only once a step
 * has initialised it (torch's buffer is None until then). */
NB_API int nb_optim_state_count(const nb_optim *o);
NB_API const char *nb_optim_state_name(const nb_optim *o, int i); /* NULL out of range */
/* The buffer called name (read-only, owned by o, valid until nb_optim_free),
 * or NULL with an error when o has no such buffer. */
NB_API const void *nb_optim_state_get(const nb_optim *o, const char *name);
/* Copy n elements from src into the buffer called name; for SGD this also
 * marks the momentum buffer as initialised.  0, or -1 for an unknown name. */
NB_API int nb_optim_state_load(nb_optim *o, const char *name, const void *src);
/* Steps taken (torch's state["step"]; Adam's bias correction uses it). */
NB_API int64_t nb_optim_steps(const nb_optim *o);
NB_API int nb_optim_set_steps(nb_optim *o, int64_t steps); /* steps >= 0 */

/* ------------------------------------------------------------- schedules */
/* A schedule counts calls to nb_sched_step, like torch's last_epoch; whether
 * one call is an epoch or a batch is up to the caller.  By torch's
 * convention: STEP, EXPONENTIAL and COSINE step once per epoch (COSINE's
 * t_max is then in epochs), LINEAR (warm-up) per epoch or per batch as
 * total_iters is counted, ONECYCLE once per batch (total_steps = epochs *
 * batches per epoch).
 *
 * The values follow torch's own (recursive, "chainable") formulas for
 * STEP, EXPONENTIAL, COSINE and LINEAR: each lr is computed from the previous
 * one, so the state is the current lr and stepping reproduces torch's
 * rounding exactly; nb_sched_seek replays the recursion to resume from a step
 * count.  ONECYCLE is a pure function of the step count. */
typedef enum {
    NB_SCHED_CONSTANT = 0, /* lr stays base_lr */
    NB_SCHED_STEP,         /* StepLR: lr *= gamma every step_size steps */
    NB_SCHED_EXPONENTIAL,  /* ExponentialLR: lr *= gamma every step */
    NB_SCHED_COSINE,       /* CosineAnnealingLR(T_max, eta_min), torch's
                              recursive form (rises again after t_max) */
    NB_SCHED_LINEAR,       /* LinearLR: factor start_factor -> end_factor over total_iters */
    NB_SCHED_ONECYCLE,     /* OneCycleLR; ignores base_lr (starts at max_lr/div_factor) */
    NB_SCHED_COUNT
} nb_sched_kind;

typedef struct nb_sched_config {
    nb_sched_kind kind;
    long step_size;      /* STEP: > 0 */
    double gamma;        /* STEP (0.1), EXPONENTIAL: > 0 */
    long t_max;          /* COSINE: > 0 */
    double eta_min;      /* COSINE: the floor, 0 */
    double start_factor; /* LINEAR: (0, 1], default 1/3 */
    double end_factor;   /* LINEAR: [0, 1], default 1 */
    long total_iters;    /* LINEAR: >= 0, default 5 */
    /* ONECYCLE: lr goes max_lr/div_factor -> max_lr over pct_start of
     * total_steps, then down to max_lr/div_factor/final_div_factor (three
     * phases: back to the start value first, then down). */
    double max_lr;
    long total_steps;        /* > 0; stepping past total_steps is an error */
    double pct_start;        /* [0, 1], 0.3 */
    int anneal_linear;       /* 0: cosine annealing (torch's 'cos'), 1: 'linear' */
    double div_factor;       /* 25 */
    double final_div_factor; /* 1e4 */
    int three_phase;
    /* Cycle the momentum (beta1 for Adam/AdamW) inversely to the lr between
     * base_momentum and max_momentum.  torch's default is on; the default
     * here is on too (nb_sched_defaults). */
    int cycle_momentum;
    double base_momentum; /* 0.85 */
    double max_momentum;  /* 0.95 */
    /* Warm-up before the schedule (any kind but ONECYCLE): torch's
     * SequentialLR([LinearLR(warmup_start_factor, 1.0, warmup_iters), main],
     * milestones=[warmup_iters]).  warmup_iters 0 = none. */
    long warmup_iters;
    double warmup_start_factor; /* (0, 1] */
} nb_sched_config;

/* A schedule's state: plain data, lives wherever the caller puts it. */
typedef struct nb_sched {
    nb_sched_config cfg;
    double base_lr;  /* torch's initial_lr */
    int64_t epoch;   /* torch's last_epoch: steps taken since init */
    double lr;       /* the lr for the next optimizer step */
    double momentum; /* the momentum for it, when cfg.cycle_momentum (ONECYCLE) */
} nb_sched;

/* torch's defaults for a kind (with cycle_momentum on for ONECYCLE). */
NB_API nb_sched_config nb_sched_defaults(nb_sched_kind kind);
NB_API int nb_sched_validate(const nb_sched_config *cfg);
/* Start at step 0 (what torch's constructor does): s->lr is the first lr.
 * base_lr is the optimizer's lr (ignored by ONECYCLE).  0 or -1. */
NB_API int nb_sched_init(nb_sched *s, const nb_sched_config *cfg, double base_lr);
/* Advance one step (call it after nb_optim_step).  0, or -1 when ONECYCLE
 * is stepped past total_steps (the state is then unchanged). */
NB_API int nb_sched_step(nb_sched *s);
/* Re-initialise and step `epoch` times: resumes a checkpoint from the step
 * count alone, with exactly the state continuous stepping would have. */
NB_API int nb_sched_seek(nb_sched *s, int64_t epoch);
/* The lr after `epoch` steps (replays the schedule: O(epoch)); NAN on error. */
NB_API double nb_sched_lr_at(const nb_sched_config *cfg, double base_lr, int64_t epoch);
/* Set o's lr, and its momentum (beta1) when the schedule cycles it.  A
 * negative lr (OneCycleLR's extrapolation one step past total_steps, which
 * torch lets no step use) is applied as 0. */
NB_API int nb_sched_apply(const nb_sched *s, nb_optim *o);

/* -------------------------------------------------------------- clipping */
/* torch.nn.utils.clip_grad_norm_: the 2-norm of all n gradients together;
 * when coef = max_norm / (norm + 1e-6) < 1 every gradient is multiplied by
 * coef.  Returns the norm BEFORE clipping (summed in double).  If the norm is
 * not finite, *nonfinite (when not NULL) is set to 1 and the gradients are
 * left untouched (torch would scale them by NaN); otherwise it is set to 0.
 * Returns -1 (error set) on bad arguments (dtype, max_norm < 0). */
NB_API double nb_clip_grad_norm(void *grads, nb_dtype dt, size_t n, double max_norm, int *nonfinite);
/* The same over `count` separate buffers (grads[i] has ns[i] elements), one
 * norm for all of them together. */
NB_API double nb_clip_grad_norm_multi(void *const *grads, const size_t *ns, int count, nb_dtype dt, double max_norm,
                                      int *nonfinite);
/* torch.nn.utils.clip_grad_value_: clamp every gradient to [-v, v] (v >= 0);
 * NaNs stay NaN.  0 or -1. */
NB_API int nb_clip_grad_value(void *grads, nb_dtype dt, size_t n, double v);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_OPTIM_H */
