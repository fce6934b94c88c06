/* nabla/train.h — training checkpoints: everything a run needs to continue
 * bit for bit, in one safetensors file.
 *
 * Tensors:  every model entry under its own name ("layers.0.weight",
 *           "layers.1.running_mean", ...), exactly a PyTorch state_dict;
 *           optimizer buffers as "optim.<name>" (flat, in the model's
 *           parameter layout).
 * Metadata: "format" = "nabla-checkpoint-1", the caller's configuration
 *           pairs (e.g. "model" = "784-128-10", "act" = "relu"), and the
 *           progress: step, epoch, optimizer step count and lr, schedule
 *           step, the loader's and the training RNG's state (decimal).
 * Saving is atomic (temp file, fsync, rename): an interrupted or failed save
 * leaves the previous checkpoint as it was.
 *
 * METADATA KEYS (all values are strings).  What nb_model_load, and so
 * `nabla eval`, `predict` and `summary`, need to rebuild the model:
 *   format       "nabla-checkpoint-1" (anything else is refused)
 *   dtype        "float32" or "float64" (absent: float32)
 *   spec         the layer description, "linear(128) relu linear(10)"
 *   input_shape  one sample's shape, "1,28,28" (needed with spec)
 *   and a tensor per model entry, with the model's names and shapes.
 * Checkpoints without spec (older versions) are rebuilt as an MLP from:
 *   model "784-128-10", act "relu" (both needed), act_param (0.01),
 *   batchnorm "0"/"1", residual "0"/"1", dropout (0).
 * Written by nb_checkpoint_save for --resume, read by nb_checkpoint_load_state:
 *   optim.steps, optim.lr, optim.momentum, sched.epoch, step, epoch,
 *   loader.n, loader.epoch, loader.pos, loader.rng0..3, rng0..3,
 *   rng.has_spare, rng.spare_bits; and, optional (absent: 0), the current
 *   epoch's running sums: epoch.loss_sum, epoch.samples, epoch.correct,
 *   epoch.seconds.
 * `nabla train` also stores its flags (model, act, ..., opt, sched, batch,
 * seed, init, dataset): `train --resume` reads the model's back, the others
 * are for people reading the file.  nb_checkpoint_save writes format, dtype, spec and input_shape
 * itself; a program of your own only passes its extra pairs. */
#ifndef NABLA_TRAIN_H
#define NABLA_TRAIN_H

#include "data.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_progress {
    int64_t step;           /* optimizer steps taken */
    int64_t epoch;          /* epochs completed */
    nb_loader_state loader; /* where the training loader stands */
    nb_rng rng;             /* the training RNG (dropout) */
    /* The current epoch's running sums, so that a run stopped mid-epoch and
     * resumed reports the whole epoch (all 0 at an epoch's start). */
    double epoch_loss_sum;  /* batch mean loss x batch size, summed */
    double epoch_seconds;   /* time spent in its steps */
    uint64_t epoch_samples; /* samples trained on (<= loader.pos) */
    uint64_t epoch_correct; /* of them, predicted right (<= epoch_samples) */
} nb_progress;

typedef struct nb_kv {
    const char *key, *value;
} nb_kv;

/* Write model (+ optimizer, schedule, progress: each may be NULL) and the
 * n_config pairs to path, atomically.  0, or -1 with nb_errmsg(). */
NB_API int nb_checkpoint_save(const char *path, nb_model *m, const nb_optim *o, const nb_sched *s, const nb_progress *p,
                              const nb_kv *config, size_t n_config);

typedef struct nb_checkpoint nb_checkpoint;
/* Open and validate a checkpoint file.  NULL with nb_errmsg() on error. */
NB_API nb_checkpoint *nb_checkpoint_open(const char *path);
NB_API void nb_checkpoint_close(nb_checkpoint *ck);
/* A metadata value (configuration or progress), or NULL when absent. */
NB_API const char *nb_checkpoint_get(const nb_checkpoint *ck, const char *key);
/* Loading refuses a NaN or Inf in any weight or optimizer buffer (naming the
 * tensor and the element) unless allowed here (e.g. to inspect a diverged
 * run).  A negative second moment or variance is refused either way. */
NB_API void nb_checkpoint_allow_nonfinite(nb_checkpoint *ck, int allow);
/* Copy the weights into m: every entry must be present with its exact shape
 * and dtype (the error names the entry).  0 or -1. */
NB_API int nb_checkpoint_load_model(const nb_checkpoint *ck, nb_model *m);
/* Rebuild the checkpoint's model (see nb_model_load in nn.h) and load its
 * weights; path names the file in errors (may be NULL).  The caller owns
 * the model.  NULL with nb_errmsg(). */
NB_API nb_model *nb_model_from_checkpoint(const nb_checkpoint *ck, const char *path);
/* Restore the optimizer (same kind and size), the schedule (replayed to the
 * saved step) and the progress.  Any may be NULL.  0 or -1. */
NB_API int nb_checkpoint_load_state(const nb_checkpoint *ck, nb_optim *o, nb_sched *s, nb_progress *p);

/* ---------------------------------------------------------- one train step */
/* Callbacks into a step, for monitors (all optional).  The model's gradients
 * and the forward's activations (nb_model_layer_output) are valid in
 * after_backward; after_clip sees the global norm before and after clipping;
 * after_update runs once the optimizer has moved the parameters. */
typedef struct nb_step_hooks {
    void *user;
    int (*after_backward)(void *user, nb_model *m, nb_tensor *loss);
    int (*after_clip)(void *user, nb_model *m, double norm_before, double norm_after);
    int (*after_update)(void *user, nb_model *m);
} nb_step_hooks;

/* A loss of your own for nb_train_step: out is the model's output [n,
 * classes] (in c, requiring grad), y the step's labels as an int32 [n]
 * tensor (NULL when the step was given no labels); user is
 * nb_step_opts.loss_user (your targets, for instance).  Return a
 * one-element tensor of c computed from out with ops (so the gradient flows
 * back into the model), or NULL with nb_errmsg() set.  Example, MSE against
 * one-hot targets (classes: a [1, C] tensor 0, 1, ..., C-1; yf: y as float):
 *   return nb_mse(c, out, nb_eq(c, nb_reshape(c, yf, 2, (long[]){-1, 1}), classes), NB_MEAN);
 * (nb_step_opts.label_smoothing applies to the built-in cross-entropy only.) */
typedef nb_tensor *(*nb_loss_fn)(void *user, nb_ctx *c, nb_tensor *out, const nb_tensor *y);

typedef struct nb_step_opts {
    double clip_norm;  /* > 0: clip the global gradient norm to it */
    double clip_value; /* > 0: clamp every gradient to [-v, v] */
    double label_smoothing;
    nb_rng *rng; /* dropout */
    const nb_step_hooks *hooks;
    /* NULL: mean cross-entropy of out against y.  Otherwise the step's loss;
     * backward, the hooks (a monitor's too), clipping and the update work on
     * it exactly as on the built-in one. */
    nb_loss_fn loss;
    void *loss_user;
} nb_step_opts;

typedef struct nb_step_result {
    double loss;      /* the batch's mean loss */
    double grad_norm; /* global gradient norm before clipping */
    int nonfinite;    /* loss or gradient not finite: NO update was made */
    size_t correct;   /* labels whose arg-max logit (before the update) is the label */
    size_t n_labels;  /* labels in the batch: n, or n * T for a sequence model */
} nb_step_result;

/* One optimizer step on a batch x [n, d] (model dtype), labels y [n] (a
 * sequence model, whose output is [n, T, classes]: y [n * T], one per step,
 * and a loss of your own gets them as [n, T]):
 * forward, the loss (cross-entropy, or opts->loss; y may be NULL with a loss
 * of your own), backward, clipping, update, zero-grad, and a reset of c.  When the loss or the gradient norm is not finite the parameters are
 * left untouched and res->nonfinite is set (return 0: that is a result, not
 * an error).  In anomaly mode (nb_set_detect_anomaly) the step clears c's
 * anomaly record first; under NB_ANOMALY_SKIP_STEP a step in which a NaN/Inf
 * was found anywhere makes no update either (res->nonfinite), and under
 * NB_ANOMALY_STOP it fails (-1) at the first one.  -1 (nb_errmsg) on errors
 * such as a shape mismatch or a hook failing.  (The name is in parentheses
 * because a call-site macro at the end of this header wraps it.) */
NB_API int(nb_train_step)(nb_model *m, nb_optim *o, nb_ctx *c, const void *x, const int32_t *y, size_t n,
                          const nb_step_opts *opts, nb_step_result *res);

/* ------------------------------------------------------------ evaluation */
typedef struct nb_eval {
    double loss;     /* mean cross-entropy per label (a sequence model: per step, e.g. nats per character) */
    double accuracy; /* fraction of arg-max predictions equal to the label (per step likewise) */
    size_t n;        /* samples evaluated */
} nb_eval;

/* Evaluate m on ds (in order, batches of `batch`, the dataset's own
 * normalisation) in eval mode with grad off.  Uses and RESETS context c.
 * confusion: NULL, or n_classes*n_classes counts (row = label, column =
 * prediction), zeroed here.  0 or -1. */
NB_API int(nb_evaluate)(nb_model *m, nb_ctx *c, const nb_dataset *ds, size_t batch, nb_eval *out, size_t *confusion);
/* A batch for nb_evaluate that keeps the forward's activations near 64 MiB
 * (from nb_model_summary's activation bytes per sample, doubled for a
 * layer's input and output): 16 to 1000; 1000 when m has no summary.  The
 * CLI evaluates with it: a small CNN no longer evaluates 1000 images at a
 * time (700 MB of activations for a 100k-parameter model). */
NB_API size_t nb_evaluate_batch(const nb_model *m);

#ifdef __cplusplus
}
#endif
#endif

/* Call sites for nb_train_step and nb_evaluate, as for the ops in nabla.h
 * (see CALL SITES there): outside the include guard, so that the library's NB_BUILDING_LIBRARY or a
 * later NB_NO_CALL_SITES removes them again. */
#if defined(NB_BUILDING_LIBRARY) || defined(NB_NO_CALL_SITES)
#ifdef NB__TRAIN_CALL_SITES
#undef NB__TRAIN_CALL_SITES
#undef nb_train_step
#undef nb_evaluate
#endif
#elif !defined(NB__TRAIN_CALL_SITES)
#define NB__TRAIN_CALL_SITES 1
#define nb_train_step(...) (nb__here(__FILE__, __LINE__), (nb_train_step)(__VA_ARGS__))
#define nb_evaluate(...) (nb__here(__FILE__, __LINE__), (nb_evaluate)(__VA_ARGS__))
#endif
