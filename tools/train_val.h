/* nabla train's model selection: --val FRACTION (a seeded validation split
 * of the training set, evaluated after every epoch), the best checkpoint by
 * validation loss, --early-stop N, and --tensorboard DIR's flag.  The state
 * that a resumed run needs (best loss and epoch, epochs without improvement)
 * travels in the checkpoint's metadata. */
#ifndef NB_TRAIN_VAL_H
#define NB_TRAIN_VAL_H

#include "flags.h"
#include "nabla/train.h"

typedef struct nb_train_val {
    double frac;        /* --val; 0 = off */
    long patience;      /* --early-stop; 0 = off */
    const char *tb_dir; /* --tensorboard; NULL = off */
    nb_dataset *set;    /* the validation samples (owned) */
    nb_eval ev;         /* the last epoch's evaluation on set */
    double best_loss;   /* the lowest validation loss (Inf before the first epoch) */
    long best_epoch;    /* its epoch, 1-based (0: none yet) */
    long bad_epochs;    /* epochs since best_epoch */
    int improved;       /* the last epoch set a new best */
    char kvbuf[5][48];
} nb_train_val;

extern const nb_flag nb_train_val_flags[];
extern const size_t nb_train_val_n_flags;
#define NB_TRAIN_VAL_FLAG_TABLE(v)                    \
    {                                                 \
        nb_train_val_flags, nb_train_val_n_flags, (v) \
    }

/* Rules between the flags (--early-stop needs --val and no --ddp); 0 or 2. */
int nb_train_val_check(const char *cmd, nb_train_val *v, int ddp);
/* Move a seeded fraction of *train (round(frac * n), at least 1) into
 * v->set; *train becomes the rest.  0, or 2 (printed). */
int nb_train_val_split(const char *cmd, nb_train_val *v, nb_dataset **train, uint64_t seed);
/* --resume: the selection state from the checkpoint (a run saved with
 * another --val is refused); 0 or 2 (printed). */
int nb_train_val_resume(const char *cmd, nb_train_val *v, const nb_checkpoint *ck);
/* After an epoch's evaluation (v->ev): is it the best so far?  Updates the
 * state; returns v->improved. */
int nb_train_val_update(nb_train_val *v, long epoch);
/* Has --early-stop's patience run out? */
int nb_train_val_exhausted(const nb_train_val *v);
/* The state as checkpoint metadata pairs (static storage in v): up to max. */
size_t nb_train_val_kv(nb_train_val *v, nb_kv *kv, size_t max);
void nb_train_val_free(nb_train_val *v);

#endif
