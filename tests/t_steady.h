/* The steady-state allocation check the zero-allocation tests share: run
 * training steps of a model on random batches and count the heap
 * allocations after a warm-up (tests/t_alloc.h does the counting; call it
 * only where t_alloc_usable() says the counter is in charge). */
#ifndef NB_T_STEADY_H
#define NB_T_STEADY_H

#include "nabla/nn.h"
#include "nabla/train.h"

typedef struct {
    size_t batch;      /* samples per step */
    size_t in;         /* input values per sample */
    int vocab;         /* > 0: the inputs are indices below vocab, else uniform in [0, 1) */
    int classes;       /* labels are below classes */
    size_t labels_per; /* labels per sample (0 means 1; T for a model with one output per step) */
    int steps;         /* steps in all; the first 2 warm up the arena and are not counted */
    int reset_at;      /* > 0: nb_model_reset_states before that step (an epoch's start) */
} t_steady;

/* Allocation calls in steps 2 .. steps-1 of Adam (clip-norm 1) on m (float32),
 * drawing the data from r; -1 when a step fails or goes non-finite (the step
 * and nb_errmsg() are printed). */
long t_steady_allocs(nb_model *m, nb_rng *r, const t_steady *o);

#endif
