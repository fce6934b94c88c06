/* Private to libnabla's diagnostics: snapshots that let the LR finder and the
 * training doctor train a model for a while and then put everything back
 * exactly as it was.  Names are nb__*. */
#ifndef NB_DIAG_STATE_H
#define NB_DIAG_STATE_H

#include "nabla/nn.h"
#include "nabla/optim.h"

/* A byte copy of a model's parameters, gradients and buffers (running
 * statistics, num_batches_tracked): everything a training step changes. */
typedef struct nb__model_state {
    void *params, *grads, *buffers;
    size_t params_bytes, buffers_bytes;
} nb__model_state;

/* Finalise m if needed and copy its state into s (allocates).  0 or -1. */
int nb__model_state_save(nb__model_state *s, nb_model *m);
/* Copy s back into m (the same model).  Never fails. */
void nb__model_state_load(const nb__model_state *s, nb_model *m);
void nb__model_state_free(nb__model_state *s); /* zeroes s; a zeroed s is fine */

/* A new optimizer with o's current settings, step count and state buffers:
 * stepping the clone leaves o untouched.  NULL (error set) on failure. */
nb_optim *nb__optim_clone(const nb_optim *o);

/* 1 when the parameter `name` is the bias of a layer that batch
 * normalisation follows directly ("layers.0.bias" and a batchnorm1d/2d at
 * layers.1, inside the same block): in training the normalisation subtracts
 * the per-channel batch mean, so this bias cancels out and its gradient is
 * zero up to rounding.  It is redundant (bias=0), not a vanishing gradient. */
int nb__bias_before_batchnorm(const nb_model *m, const char *name);

#endif
