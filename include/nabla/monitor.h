/* nabla/monitor.h — a gradient monitor: every N steps, per named parameter
 * the gradient norm, parameter norm and update/parameter ratio, the global
 * gradient norm before and after clipping, dead ReLUs and saturated
 * sigmoid/tanh units, with warnings when something looks wrong.
 *
 *   nb_monitor_opts mo = {.every = 50};          // zero fields = defaults
 *   nb_monitor *mon = nb_monitor_new(model, &mo);
 *   nb_step_opts so = {.clip_norm = 1.0, .hooks = nb_monitor_hooks(mon)};
 *   for (each batch) nb_train_step(model, opt, ctx, x, y, n, &so, &res);
 *   nb_monitor_flush(mon);
 *   for (size_t i = 0; i < nb_monitor_n_warnings(mon); i++) {
 *       char line[256];
 *       puts(nb_monitor_warning_str(nb_monitor_warning_at(mon, i), line, sizeof line));
 *   }
 *   nb_monitor_free(mon);
 *
 * WHAT IS MEASURED (all 2-norms, accumulated in double)
 *   grad_norm     ||g|| of each parameter after backward, BEFORE clipping;
 *   param_norm    ||p|| just before the optimizer step;
 *   update_ratio  ||p_after - p_before|| / ||p_before||: the parameters are
 *                 copied into a buffer allocated once by nb_monitor_new, so a
 *                 monitored step allocates nothing (history growth aside);
 *   global        the norm over all parameters before clipping and after it
 *                 (by norm; value clipping happens later and is not shown);
 *   dead ReLUs    per ReLU layer, the fraction of its units that are exactly 0
 *                 for EVERY sample of the batch;
 *   saturation    per sigmoid/tanh layer, the fraction of its outputs (all
 *                 samples x units) that are saturated: |tanh| > s, sigmoid
 *                 < 1 - s or > s, with s = opts.saturation (0.99).
 *   Only top-level activation layers are seen (nb_model_layer_output); those
 *   inside residual blocks are not.
 *
 * WHICH STEPS: the steps are numbered from 1 (nb_monitor_set_step to follow
 * a resumed run); step 1 and every step that is a multiple of `every` are
 * recorded, and so is any step whose loss is not finite.
 *
 * HISTORY: records are kept in an array that grows by doubling up to
 * opts.history records; when full, every second record is dropped and only
 * every second one from then on is kept (the stride doubles), so the history
 * always spans the whole run at an even spacing, with bounded memory.
 * Warnings are kept up to opts.max_warnings, then counted only.
 *
 * The monitor belongs to one model, which must outlive it.  Nothing here
 * prints; errors return NULL/-1 with nb_errmsg(). */
#ifndef NABLA_MONITOR_H
#define NABLA_MONITOR_H

#include <stdio.h>

#include "nn.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_monitor nb_monitor;

typedef struct nb_monitor_param {
    const char *name; /* the model entry's name (owned by the model) */
    size_t numel;
    double grad_norm;    /* before clipping */
    double param_norm;   /* before the update (NAN when the step made none) */
    double update_norm;  /* ||p_after - p_before||; NAN when no update */
    double update_ratio; /* update_norm / param_norm; NAN when no update or ||p|| = 0 */
} nb_monitor_param;

typedef struct nb_monitor_layer {
    size_t layer;          /* top-level layer index: "layers.<layer>" */
    const char *kind;      /* "relu", "sigmoid" or "tanh" (static storage) */
    size_t units;          /* the width of its output (0 when it did not run) */
    double dead_frac;      /* relu: units 0 for every sample; NAN for others */
    double saturated_frac; /* sigmoid/tanh: saturated outputs; NAN for relu */
} nb_monitor_layer;

typedef struct nb_monitor_record {
    int64_t step;
    double loss;
    double grad_norm;         /* global, before clipping */
    double grad_norm_clipped; /* after clipping by norm; NAN when no update was made */
    int updated;              /* the optimizer step ran (else update fields are NAN) */
    size_t n_params;
    /* [n_params]: the trainable entries in model order, then, for each gated
     * recurrent weight matrix (lstm, gru: weight_ih_l<k>, weight_hh_l<k>),
     * one row per gate, named "layers.1.weight_hh_l0[f]" (lstm i f g o, gru
     * r z n): parts of the rows before, not counted again in grad_norm nor
     * warned about on their own. */
    const nb_monitor_param *params;
    size_t n_layers;
    const nb_monitor_layer *layers; /* [n_layers] */
    size_t n_warnings;              /* warnings this step raised */
} nb_monitor_record;

typedef enum {
    NB_MON_VANISHING = 0,  /* a gradient norm (a parameter's or the global one) below opts.vanishing */
    NB_MON_EXPLODING,      /* ... above opts.exploding */
    NB_MON_DEAD_RELU,      /* a ReLU layer with more than opts.dead_frac dead units */
    NB_MON_SATURATED,      /* a sigmoid/tanh layer with more than opts.saturated_frac saturated outputs */
    NB_MON_NONFINITE,      /* the loss or a gradient norm is NaN/Inf */
    NB_MON_REDUNDANT_BIAS, /* a bias that batch normalisation follows directly: its gradient is zero by
                              construction (the normalisation removes the per-channel mean); raised once,
                              at the first record, instead of NB_MON_VANISHING */
    NB_MON__COUNT
} nb_monitor_warn;

typedef struct nb_monitor_warning {
    nb_monitor_warn kind;
    int64_t step;
    char where[96];   /* "global", "loss", a parameter name, or "layers.1 (relu)" */
    double value;     /* the norm or fraction (NaN/Inf for NB_MON_NONFINITE) */
    double threshold; /* what it was compared with (NAN for NB_MON_NONFINITE) */
} nb_monitor_warning;

/* Settings; a zero field means its default, a negative threshold disables
 * that warning. */
typedef struct nb_monitor_opts {
    long every;            /* record every N-th step; 0 = 1 */
    double vanishing;      /* 0 = 1e-6 */
    double exploding;      /* 0 = 10 */
    double dead_frac;      /* 0 = 0.5 */
    double saturation;     /* the saturation level s above; 0 = 0.99 */
    double saturated_frac; /* 0 = 0.5 */
    size_t history;        /* records kept; 0 = 1024 (at least 2) */
    size_t max_warnings;   /* 0 = 1000 */
    /* Called when a record is complete (at the step's after_update, or at
     * once when the step was not finite), with the warnings it raised; the
     * pointers are valid during the call only.  May be NULL. */
    void (*on_record)(void *user, const nb_monitor_record *r, const nb_monitor_warning *w, size_t n_w);
    void *user;
} nb_monitor_opts;

/* A monitor for m (finalised here if needed); opts NULL = defaults.  NULL
 * with nb_errmsg() on bad options or no memory.  Free with nb_monitor_free. */
NB_API nb_monitor *nb_monitor_new(nb_model *m, const nb_monitor_opts *opts);
NB_API void nb_monitor_free(nb_monitor *mon);

/* Hooks to put in nb_step_opts.hooks; they live as long as mon. */
NB_API const nb_step_hooks *nb_monitor_hooks(nb_monitor *mon);
/* Number the NEXT step (1-based; default: counts after_backward calls). */
NB_API void nb_monitor_set_step(nb_monitor *mon, int64_t step);
/* Complete a record still waiting for its update (a step that made none). */
NB_API void nb_monitor_flush(nb_monitor *mon);

/* History: records kept (see HISTORY), oldest first; pointers are valid
 * until the next step the monitor sees. */
NB_API size_t nb_monitor_n_records(const nb_monitor *mon);
NB_API const nb_monitor_record *nb_monitor_record_at(const nb_monitor *mon, size_t i);
/* The last completed record, or NULL. */
NB_API const nb_monitor_record *nb_monitor_last(const nb_monitor *mon);
NB_API size_t nb_monitor_n_warnings(const nb_monitor *mon);       /* kept */
NB_API size_t nb_monitor_n_warnings_total(const nb_monitor *mon); /* raised */
NB_API const nb_monitor_warning *nb_monitor_warning_at(const nb_monitor *mon, size_t i);

/* "vanishing", "exploding", "dead_relu", "saturated", "nonfinite". */
NB_API const char *nb_monitor_warn_name(nb_monitor_warn k);
/* A readable line (no newline), e.g. "step 400: exploding gradient:
 * layers.0.weight gradient norm 23.4 > 10"; returns buf. */
NB_API char *nb_monitor_warning_str(const nb_monitor_warning *w, char *buf, size_t size);
/* One JSON line to f: {"event":"warning","step":..,"kind":..,"where":..,
 * "value":..,"threshold":..,"message":..}.  Non-finite numbers are null. */
NB_API void nb_monitor_warning_json(const nb_monitor_warning *w, FILE *f);
/* One JSON line to f: {"event":"monitor","step":..,"loss":..,"grad_norm":..,
 * "grad_norm_clipped":..,"updated":..,"params":[{"name":..,"grad_norm":..,
 * "param_norm":..,"update_ratio":..},...],"layers":[{"layer":..,"kind":..,
 * "units":..,"dead_frac"|"saturated_frac":..},...]}. */
NB_API void nb_monitor_record_json(const nb_monitor_record *r, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
