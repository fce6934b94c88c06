/* `nabla train --ddp`: the data-parallel parts of the training loop, kept
 * out of cmd_train.c (which calls these from a few `if (ddp.on)` blocks).
 * Run under mpirun: every rank runs the same seeded loader and takes its
 * slice of each global batch; rank 0 alone evaluates, prints and writes. */
#ifndef NB_DDP_TRAIN_H
#define NB_DDP_TRAIN_H

#include "nabla/dist.h"
#include "run.h"

typedef struct nb_ddp {
    int on;           /* --ddp */
    double timeout_s; /* --ddp-timeout S (300) */
    nb_dist *d;
    int rank, size; /* 0 and 1 without --ddp */
} nb_ddp;

/* --ddp / --ddp-timeout S, for nb_flags_parse with an nb_ddp as the
 * table's struct. */
extern const nb_flag nb_ddp_flags[];
extern const size_t nb_ddp_n_flags;
/* MPI_Init etc.  Ranks other than 0 become quiet (no --json, no monitor,
 * no report) and write their metrics to /dev/null.  0, or 2 (printed). */
int nb_ddp_start(const char *cmd, nb_ddp *p, nb_run_cfg *r, long *monitor, int *report, int anomaly_skip,
                 char *metrics_path, size_t metrics_size);
/* After rank 0 alone created or resumed the run: broadcast its model,
 * optimizer, schedule and progress; others resume their loader from it and
 * derive their own dropout stream.  0 or -1 (printed). */
int nb_ddp_sync(nb_ddp *p, nb_model *m, nb_optim *o, nb_sched *s, nb_progress *prog, nb_loader *l, nb_rng *rng);
/* This rank's slice of a global batch (x [n, d] of dtype dt, y [n]):
 * *x, *y and *n are narrowed in place; returns the step hooks that average
 * the gradients (wrapping inner).  flag is OR-ed over the ranks. */
const nb_step_hooks *nb_ddp_slice(nb_ddp *p, const nb_step_hooks *inner, int flag, nb_dtype dt, size_t d,
                                  const void **x, const int32_t **y, size_t *n);
/* Before a checkpoint: average the BatchNorm running statistics.  0 or -1. */
int nb_ddp_before_save(nb_ddp *p, nb_model *m);
/* End: with rc 0 a barrier and MPI_Finalize; otherwise (this rank failed)
 * MPI_Abort the job so no rank waits forever.  Returns rc. */
int nb_ddp_end(nb_ddp *p, int rc);

#endif
