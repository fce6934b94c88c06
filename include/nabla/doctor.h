/* nabla/doctor.h — the training doctor: the study guide's debugging
 * checklist, run on a model, an optimizer configuration and a dataset, each
 * item answered PASS / WARN / FAIL with the number measured and a fix.
 *
 *   nb_doctor_opts o = nb_doctor_defaults();
 *   o.opt = my_optim_config;                  // the lr under test
 *   o.step.clip_norm = 1.0;
 *   nb_doctor_report rep;
 *   if (nb_doctor_run(model, train, test, &o, &rep) != 0) { puts(nb_errmsg()); ... }
 *   for (int i = 0; i < NB_DOC__COUNT; i++)
 *       printf("%s %s: %s\n", nb_check_status_name(rep.checks[i].status),
 *              rep.checks[i].name, rep.checks[i].detail);
 *   nb_doctor_report_free(&rep);
 *
 * THE CHECKS, in order (thresholds are the defaults of nb_doctor_opts):
 *   input_stats     the inputs as the loader delivers them (the dataset's
 *                   own normalisation, first stats_samples samples), next to
 *                   the raw data (nb_dataset_stats).  FAIL: non-finite, or
 *                   |mean| > 3, std > 10, std < 0.01 or max |x| > 1000 (e.g.
 *                   raw 0..255 pixels); WARN: |mean| > 0.5 or std outside
 *                   [0.33, 3].  value: the delivered std.
 *   class_balance   training labels per class.  FAIL: a class has no sample;
 *                   WARN: smallest/largest count < 0.5.  value: that ratio.
 *   loss_finite     the loss of one batch at init.  FAIL if NaN/Inf.
 *                   value: the loss.
 *   initial_loss    that loss against ln(outputs), the loss of a uniform
 *                   guess.  FAIL: > 2 ln C (confidently wrong at init: logits
 *                   too large); WARN: off by more than 20%.  value: the loss.
 *   grad_vanishing  per named parameter, the L2 norm of its gradient on that
 *                   batch.  FAIL: some norm < vanish (1e-6); WARN: first/last
 *                   Linear weight ratio < 1e-2.  value: the smallest norm.
 *   grad_exploding  FAIL: some norm not finite, or > explode (10) with no
 *                   clipping; WARN: > explode with clip_norm on (it bounds
 *                   each step), or first/last ratio > 1e2.  value: the
 *                   largest norm.
 *                   A net that trains (loss_decreases and overfit_batch
 *                   PASS, input_stats not FAIL) turns a FAIL of
 *                   initial_loss, grad_vanishing or grad_exploding into a
 *                   WARN: they predict trouble the training checks did not
 *                   find.
 *   loss_decreases  trend_steps (100) steps on fresh batches at the lr under
 *                   test; the loss of a fixed probe batch (the first 256
 *                   training samples, training mode, grad off) before and
 *                   after, and the update size |dθ|/|θ| per step (median).
 *                   FAIL: a loss NaN/Inf, the probe loss rising (after >
 *                   1.1 x before) or a batch loss spiking (> 3 x before): lr
 *                   too large; or a fall < 10% while the parameters barely
 *                   move (update < 1e-4): lr too small.  WARN: a fall < 10%
 *                   with updates < 1e-3 (slow), or with updates >= 1e-3 (not
 *                   the lr: the data carries no signal, or the gradients
 *                   vanish).  Updates in [1e-4, 1e-3) make the two checks
 *                   below WARN where they would FAIL, as long as their loss
 *                   falls: a slow lr is not a bug.  value: after/before.
 *   overfit_batch   overfit_steps (200) steps on ONE batch of batch samples,
 *                   then its loss and accuracy in eval mode.  PASS: 100% and
 *                   loss < 0.1.  WARN: >= 90%, or the loss at least halved.
 *                   FAIL otherwise — a bug or a broken setup, not tuning
 *                   (the advice says which, from the other checks).
 *                   value: the final loss.
 *   above_chance    one pass over the first short_samples (5000) training
 *                   samples, then accuracy on the held-out set; chance is
 *                   the held-out majority-class fraction.  FAIL: within 5% of
 *                   the gap (1 - chance) of chance, or below it (labels or
 *                   preprocessing wrong), or within 25% while the held-out
 *                   loss is >= 0.95 ln C (no better than a uniform guess:
 *                   with unrelated labels a net maps whole classes to random
 *                   labels, so its accuracy alone can land at 0-30%);
 *                   WARN: within 25%.  value: accuracy.
 * Every check that trains starts from the model as given and a fresh
 * optimizer of opts->opt; the model is restored byte for byte at the end.
 */
#ifndef NABLA_DOCTOR_H
#define NABLA_DOCTOR_H

#include "data.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NB_CHECK_PASS = 0, NB_CHECK_WARN = 1, NB_CHECK_FAIL = 2 } nb_check_status;
NB_API const char *nb_check_status_name(nb_check_status s); /* "pass", "warn", "fail" */

typedef enum {
    NB_DOC_INPUT_STATS = 0,
    NB_DOC_CLASS_BALANCE,
    NB_DOC_LOSS_FINITE,
    NB_DOC_INITIAL_LOSS,
    NB_DOC_GRAD_VANISHING,
    NB_DOC_GRAD_EXPLODING,
    NB_DOC_LOSS_DECREASES,
    NB_DOC_OVERFIT_BATCH,
    NB_DOC_ABOVE_CHANCE,
    NB_DOC__COUNT
} nb_doctor_check_id;

typedef struct nb_doctor_check {
    const char *name;  /* "input_stats", ... (static) */
    const char *title; /* "inputs normalised", ... (static) */
    nb_check_status status;
    double value;     /* the number measured (see above); NAN if none */
    char detail[384]; /* what was measured, in words */
    char advice[512]; /* the concrete fix; "" on PASS */
} nb_doctor_check;

typedef struct nb_doctor_param {
    const char *name; /* the model entry's name (owned by the model) */
    double grad_norm; /* L2 norm of its gradient on one batch at init */
    double norm;      /* L2 norm of the parameter itself */
    int redundant;    /* a bias that batch normalisation follows directly: its gradient is zero by
                         construction, so grad_vanishing leaves it out (and names it) */
} nb_doctor_param;

typedef struct nb_doctor_opts {
    nb_optim_config opt;    /* the optimizer under test (its lr matters) */
    nb_step_opts step;      /* clip_norm, clip_value, label_smoothing; rng
                               and hooks are ignored (seeded from seed) */
    size_t batch;           /* 64 */
    uint64_t seed;          /* 1: shuffling and dropout */
    int trend_steps;        /* 100 */
    int overfit_steps;      /* 200 */
    size_t short_samples;   /* 5000 (0 = all the training data) */
    size_t stats_samples;   /* 10000 */
    double vanish, explode; /* 1e-6, 10 */
    int init;               /* the nb_init the model was given, or -1 (the
                               default: unknown); advice never suggests the
                               init, activation, --batchnorm, --residual or
                               clipping already in effect */
} nb_doctor_opts;

typedef struct nb_doctor_report {
    nb_doctor_check checks[NB_DOC__COUNT]; /* indexed by nb_doctor_check_id */
    int n_pass, n_warn, n_fail;
    int first_fail; /* the check to fix first: the first FAIL, -1 none */
    /* what was measured, for reports (see the checks above) */
    nb_data_stats *raw;                     /* raw training data (owned) */
    double in_mean, in_std, in_min, in_max; /* as delivered */
    size_t in_nonfinite;
    double init_loss, expected_loss; /* expected = ln(outputs) */
    nb_doctor_param *params;         /* [n_params] (owned) */
    size_t n_params;
    int i_min_grad, i_max_grad;     /* into params; -1 none */
    double first_last_ratio;        /* first / last Linear weight grad norm */
    double trend_first, trend_last; /* probe loss before / after */
    double trend_max, update_ratio; /* largest batch loss; median update */
    int trend_nonfinite_step;       /* -1 none */
    double overfit_loss0, overfit_loss, overfit_acc;
    double short_acc, short_loss, chance;
    size_t short_samples, short_steps, val_samples;
} nb_doctor_report;

NB_API nb_doctor_opts nb_doctor_defaults(void);

/* Run every check on model m (restored byte for byte on return), training
 * data train and held-out data val (NULL: the last min(n/5, 2000) training
 * samples are held out).  Fills rep (free with nb_doctor_report_free, also
 * after an error).  Returns 0 when the checks ran, whatever they found; -1
 * with nb_errmsg() when they could not run (shapes, memory). */
NB_API int nb_doctor_run(nb_model *m, const nb_dataset *train, const nb_dataset *val, const nb_doctor_opts *opts,
                         nb_doctor_report *rep);
NB_API void nb_doctor_report_free(nb_doctor_report *rep); /* zeroes rep */

#ifdef __cplusplus
}
#endif
#endif
