/* nabla/lrfind.h — the learning-rate range test (Leslie Smith's LR finder,
 * as fastai runs it).
 *
 *   nb_lrfind_opts lo = nb_lrfind_defaults();        // 1e-7 -> 10, 100 steps
 *   lo.batch = 64; lo.step.clip_norm = 1.0;
 *   nb_lrfind_result lr;
 *   if (nb_lrfind(model, optim, train, &rng, &lo, &lr) != 0) { puts(nb_errmsg()); ... }
 *   printf("try lr %g (steepest %g, min/10 %g)\n", lr.s.valley, lr.s.steepest, lr.s.min10);
 *   nb_lrfind_result_free(&lr);
 *   ... model, optim and rng are exactly as they were: train as usual ...
 *
 * THE SWEEP
 *   Step i (0 <= i < n_steps) trains on the next batch of a shuffled loader
 *   with lr_i = lr_start * (lr_end/lr_start)^(i/(n_steps-1)) — one optimizer
 *   step per learning rate, so the rate grows exponentially.  The loss of
 *   each batch (before its update) is smoothed with an exponential moving
 *   average and bias-corrected:
 *       avg_i = beta*avg_{i-1} + (1-beta)*loss_i,  smooth_i = avg_i / (1 - beta^(i+1)).
 *   The sweep stops after the step whose smoothed loss exceeds diverge x the
 *   lowest smoothed loss so far, or whose loss is not finite (that point is
 *   recorded).  The steps run on a CLONE of the optimizer (its current
 *   state and step count), so the caller's optimizer is never touched; the
 *   model's parameters, gradients and buffers and the caller's RNG are
 *   copied first and restored afterwards, byte for byte, also on error.
 *
 * THE SUGGESTIONS (nb_lrfind_suggest), on the smoothed loss of the recorded
 * points with the first skip_start and the last skip_end points left out
 * (fastai: the first 10% of the requested steps and the last 5, since the
 * start is noise and the end is divergence; the skips shrink when fewer
 * than 4 finite points would remain):
 *   steepest  the lr where the smoothed loss falls fastest against log(lr):
 *             the left end of the segment i..i+1 with the most negative
 *             (smooth[i+1] - smooth[i]) / (ln lr[i+1] - ln lr[i]).
 *   valley    (fastai's "valley") the longest valley is the longest strictly
 *             decreasing subsequence of the smoothed loss (points may be
 *             skipped, so noise bumps do not cut it); with a first point s
 *             and last point e, the suggestion is the point
 *             s + floor(2/3 (e - s)): two thirds of the way down, where the
 *             loss still falls fast but well before the minimum.
 *             (fastai itself takes about half way from e - length; we use
 *             the subsequence's true first point.)  It is the one to use.
 *   min10     the lr of the lowest smoothed loss, divided by 10.
 */
#ifndef NABLA_LRFIND_H
#define NABLA_LRFIND_H

#include "data.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_lrfind_opts {
    double lr_start, lr_end; /* 1e-7, 10: 0 < lr_start < lr_end */
    int n_steps;             /* 100: >= 2 */
    double beta;             /* 0.98: smoothing, in [0, 1) */
    double diverge;          /* 4: stop when smooth > diverge * best (> 1) */
    int skip_start;          /* -1 = n_steps / 10 */
    int skip_end;            /* 5 */
    size_t batch;            /* 64 */
    uint64_t seed;           /* shuffling of the sweep's own loader */
    double min_descent;      /* 0.05: below this relative fall of the smoothed
                                loss along its longest valley the sweep has no
                                descent and suggests nothing (res->no_descent) */
    nb_step_opts step;       /* clipping, label smoothing; rng is ignored
                                (nb_lrfind's rng argument is used) */
} nb_lrfind_opts;

typedef struct nb_lrfind_suggest {
    double steepest, valley, min10;  /* learning rates; NAN when none */
    int i_steepest, i_valley, i_min; /* indices into the curve; -1 when none */
    int valley_start, valley_end;    /* the longest valley's first and last point */
} nb_lrfind_suggest;

typedef struct nb_lrfind_result {
    size_t n;                   /* points recorded, <= n_steps */
    double *lr, *loss, *smooth; /* [n] each, owned: nb_lrfind_result_free */
    int diverged;               /* stopped early by the divergence rule */
    double best;                /* lowest smoothed loss */
    double descent;             /* relative fall along the longest valley, (first - last) / first; NAN when none */
    int no_descent;             /* the loss never fell (descent < min_descent, or < 2 usable points):
                                   s holds no suggestion (NANs) */
    nb_lrfind_suggest s;
} nb_lrfind_result;

NB_API nb_lrfind_opts nb_lrfind_defaults(void);

/* Run the sweep for model m with (a clone of) optimizer o on dataset ds,
 * drawing dropout masks from rng (may be NULL when the model has no
 * dropout).  On return m and rng are as they were and o was never changed.
 * Fills res (free with nb_lrfind_result_free, also after an error).
 * 0, or -1 with nb_errmsg(). */
NB_API int nb_lrfind(nb_model *m, const nb_optim *o, const nb_dataset *ds, nb_rng *rng, const nb_lrfind_opts *opts,
                     nb_lrfind_result *res);
NB_API void nb_lrfind_result_free(nb_lrfind_result *res); /* frees the arrays, zeroes res */

/* The three suggestions for any curve (lr increasing, smooth the smoothed
 * loss), as described above; skip_start < 0 means n/10.  Points with a
 * non-finite loss or a non-positive lr are ignored.  0, or -1 when fewer
 * than 2 usable points remain (s then holds NANs and -1s). */
NB_API int nb_lrfind_suggest_from(const double *lr, const double *smooth, size_t n, int skip_start, int skip_end,
                                  nb_lrfind_suggest *s);

#ifdef __cplusplus
}
#endif
#endif
