/* nabla train: the validation split, the best epoch and early stopping. */
#include "train_val.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define NB__V nb_train_val
const nb_flag nb_train_val_flags[] = {
    NB_FLAG_TEXT("validation and logging:\n"),
    NB_FLAG_DOUBLE("--val", NB__V, frac, 1e-6, 0.9, "FRACTION",
                   "hold out this fraction of the training set (drawn with\n"
                   "--seed) and evaluate it after every epoch; OUT gets\n"
                   "best.safetensors (the lowest validation loss) and the\n"
                   "test set is evaluated once, at the end"),
    NB_FLAG_INT("--early-stop", NB__V, patience, 1, 1000000, "N",
                "stop after N epochs without a lower validation loss\n"
                "(needs --val)"),
    NB_FLAG_STRING("--tensorboard", NB__V, tb_dir, "DIR",
                   "TensorBoard event files in DIR/train, DIR/val, DIR/test:\n"
                   "loss, accuracy, lr, gradient norms (per parameter with\n"
                   "--monitor); `tensorboard --logdir DIR`"),
};
#undef NB__V
const size_t nb_train_val_n_flags = sizeof nb_train_val_flags / sizeof nb_train_val_flags[0];

int nb_train_val_check(const char *cmd, nb_train_val *v, int ddp)
{
    v->best_loss = INFINITY;
    v->ev = (nb_eval){.loss = NAN, .accuracy = NAN};
    if (v->patience && !v->frac)
        return nb_cli_usage_error(cmd, "--early-stop %ld: needs a validation set to watch (add --val 0.1)",
                                  v->patience);
    if (v->patience && ddp) return nb_cli_usage_error(cmd, "--early-stop: not available with --ddp");
    return 0;
}

int nb_train_val_split(const char *cmd, nb_train_val *v, nb_dataset **train, uint64_t seed)
{
    if (!v->frac) return 0;
    size_t n = (*train)->n, n_val = (size_t)llround(v->frac * (double)n);
    if (n_val < 1) n_val = 1;
    if (n_val >= n) return nb_cli_usage_error(cmd, "--val %g: %zu training samples leave none to train on", v->frac, n);
    nb_dataset *rest, *val;
    /* its own stream: the split does not move with the loader's shuffles */
    if (nb_dataset_split(*train, n_val, 1, seed ^ 0x7a11da7e5eedULL, &rest, &val)) {
        fprintf(stderr, "nabla %s: --val: %s\n", cmd, nb_errmsg());
        return 2;
    }
    nb_dataset_free(*train);
    *train = rest;
    v->set = val;
    return 0;
}

static int nb__kv_double(const nb_checkpoint *ck, const char *key, double *out)
{
    const char *s = nb_checkpoint_get(ck, key);
    if (!s) return -1;
    char *end;
    *out = strtod(s, &end);
    return *end ? -1 : 0;
}

int nb_train_val_resume(const char *cmd, nb_train_val *v, const nb_checkpoint *ck)
{
    double frac = 0, best = INFINITY, best_epoch = 0, bad = 0;
    int has = nb__kv_double(ck, "val", &frac) == 0;
    if (!has) frac = 0;
    if (fabs(frac - v->frac) > 1e-12) {
        if (frac) return nb_cli_usage_error(cmd, "--resume: the run was trained with --val %g; give the same", frac);
        return nb_cli_usage_error(cmd, "--resume: the run was trained without --val; --val cannot start halfway");
    }
    if (!has) return 0;
    if (nb__kv_double(ck, "val.best_loss", &best) || nb__kv_double(ck, "val.best_epoch", &best_epoch) ||
        nb__kv_double(ck, "val.bad_epochs", &bad))
        return nb_cli_usage_error(cmd, "--resume: the checkpoint lacks its validation state (val.best_loss, ...)");
    v->best_loss = best;
    v->best_epoch = (long)best_epoch;
    v->bad_epochs = (long)bad;
    return 0;
}

int nb_train_val_update(nb_train_val *v, long epoch)
{
    /* a NaN validation loss is never an improvement */
    v->improved = v->ev.loss < v->best_loss;
    if (v->improved) {
        v->best_loss = v->ev.loss;
        v->best_epoch = epoch + 1;
        v->bad_epochs = 0;
    } else {
        v->bad_epochs++;
    }
    return v->improved;
}

int nb_train_val_exhausted(const nb_train_val *v) { return v->patience && v->bad_epochs >= v->patience; }

size_t nb_train_val_kv(nb_train_val *v, nb_kv *kv, size_t max)
{
    if (!v->frac || max < 4) return 0;
    snprintf(v->kvbuf[0], sizeof v->kvbuf[0], "%.17g", v->frac);
    snprintf(v->kvbuf[1], sizeof v->kvbuf[1], "%.17g", v->best_loss);
    snprintf(v->kvbuf[2], sizeof v->kvbuf[2], "%ld", v->best_epoch);
    snprintf(v->kvbuf[3], sizeof v->kvbuf[3], "%ld", v->bad_epochs);
    kv[0] = (nb_kv){"val", v->kvbuf[0]};
    kv[1] = (nb_kv){"val.best_loss", v->kvbuf[1]};
    kv[2] = (nb_kv){"val.best_epoch", v->kvbuf[2]};
    kv[3] = (nb_kv){"val.bad_epochs", v->kvbuf[3]};
    return 4;
}

void nb_train_val_free(nb_train_val *v)
{
    nb_dataset_free(v->set);
    v->set = NULL;
}
