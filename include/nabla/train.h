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
 * leaves the previous checkpoint as it was. */
#ifndef NABLA_TRAIN_H
#define NABLA_TRAIN_H

#include "data.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_progress {
    int64_t step;            /* optimizer steps taken */
    int64_t epoch;           /* epochs completed */
    nb_loader_state loader;  /* where the training loader stands */
    nb_rng rng;              /* the training RNG (dropout) */
} nb_progress;

typedef struct nb_kv {
    const char *key, *value;
} nb_kv;

/* Write model (+ optimizer, schedule, progress: each may be NULL) and the
 * n_config pairs to path, atomically.  0, or -1 with nb_errmsg(). */
int nb_checkpoint_save(const char *path, nb_model *m, const nb_optim *o, const nb_sched *s,
                       const nb_progress *p, const nb_kv *config, size_t n_config);

typedef struct nb_checkpoint nb_checkpoint;
/* Open and validate a checkpoint file.  NULL with nb_errmsg() on error. */
nb_checkpoint *nb_checkpoint_open(const char *path);
void nb_checkpoint_close(nb_checkpoint *ck);
/* A metadata value (configuration or progress), or NULL when absent. */
const char *nb_checkpoint_get(const nb_checkpoint *ck, const char *key);
/* Copy the weights into m: every entry must be present with its exact shape
 * and dtype (the error names the entry).  0 or -1. */
int nb_checkpoint_load_model(const nb_checkpoint *ck, nb_model *m);
/* Restore the optimizer (same kind and size), the schedule (replayed to the
 * saved step) and the progress.  Any may be NULL.  0 or -1. */
int nb_checkpoint_load_state(const nb_checkpoint *ck, nb_optim *o, nb_sched *s, nb_progress *p);

/* ------------------------------------------------------------ evaluation */
typedef struct nb_eval {
    double loss;     /* mean cross-entropy over the dataset */
    double accuracy; /* fraction of arg-max predictions equal to the label */
    size_t n;        /* samples evaluated */
} nb_eval;

/* Evaluate m on ds (in order, batches of `batch`, the dataset's own
 * normalisation) in eval mode with grad off.  Uses and RESETS context c.
 * confusion: NULL, or n_classes*n_classes counts (row = label, column =
 * prediction), zeroed here.  0 or -1. */
int nb_evaluate(nb_model *m, nb_ctx *c, const nb_dataset *ds, size_t batch, nb_eval *out, size_t *confusion);

#ifdef __cplusplus
}
#endif
#endif
