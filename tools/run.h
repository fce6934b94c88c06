/* Shared by the commands that build and train a model (train, eval,
 * predict): the run configuration, its flags, and small output helpers. */
#ifndef NB_RUN_H
#define NB_RUN_H

#include <stdio.h>

#include "flags.h"
#include "nabla/json.h"
#include "nabla/train.h"

typedef struct nb_run_cfg {
    const char *data;  /* --data DIR or NULL */
    const char *text;  /* --text PATH[,PATH...]: a character-level model on text, not Fashion-MNIST */
    size_t seq_len;    /* --seq-len: characters per training window (text) */
    int tbptt;         /* --tbptt: batch rows read contiguous streams, states carried (text) */
    const char *model; /* --model: widths "784-128-10" or a layer description (any length) */
    int model_is_spec; /* --model is a layer description, not widths */
    int model_given;   /* --model was on the command line */
    int mlp_flags;     /* --act/--batchnorm/--residual/--dropout given (widths only) */
    nb_mlp_config mlp;
    nb_init init;
    double init_std;
    nb_dtype dtype;
    nb_optim_config opt;
    char opt_name[16];
    nb_sched_config sched;
    char sched_name[16];
    size_t batch;
    long epochs;
    double clip_norm, clip_value; /* 0 = off */
    uint64_t seed;
    int threads; /* --threads, 0 when not given (the library's default) */
    const char *out;
    int resume;
    int overwrite;       /* --overwrite: replace the run in --out */
    int allow_nonfinite; /* --allow-nonfinite: --resume loads NaN/Inf weights */
    int json;
    long max_steps;     /* stop after this many optimizer steps (0 = no limit) */
    size_t limit_train; /* use only the first N training samples (0 = all) */
    long log_every;
    int quiet;
    /* flags that finish the configs in nb_run_finish (NaN/0: not given) */
    struct {
        double momentum, gamma, max_lr;
        long step_size, warmup;
        int nesterov;
        int lr; /* --lr was on the command line (a resumed run takes it) */
    } given;
} nb_run_cfg;

/* Defaults: the study guide's loop (784-128-10 ReLU, Adam 1e-3, batch 64,
 * clip-norm 1.0, 10 epochs). */
void nb_run_defaults(nb_run_cfg *r);
/* The model/optimizer/data/output flags, for nb_flags_parse with an
 * nb_run_cfg as the table's struct. */
extern const nb_flag nb_run_flags[];
extern const size_t nb_run_n_flags;
#define NB_RUN_FLAG_TABLE(r)              \
    {                                     \
        nb_run_flags, nb_run_n_flags, (r) \
    }
/* Validate cross-flag rules and finish the configs; 0 or 2 (printed). */
int nb_run_finish(const char *cmd, nb_run_cfg *r);
/* Finish r's schedule once the batches per epoch are known (the total
 * steps of onecycle and linear; with --warmup, step/exp/cosine counted in
 * steps); 1 when the schedule steps after every batch, 0 after every epoch. */
int nb_run_sched_steps(nb_run_cfg *r, size_t batches_per_epoch);
/* Warn on stderr about settings with which the model cannot learn (--lr 0,
 * a vanishing --clip-norm, ...); they are not errors. */
void nb_run_warn_futile(const char *cmd, const nb_run_cfg *r);
/* The model of r (initialised from r->seed); NULL (printed) on error. */
nb_model *nb_run_model(const char *cmd, const nb_run_cfg *r, nb_rng *rng);
/* In tools/model_cli.c: is v the widths shorthand ("784-128-10")?  The
 * model of r, not initialised: the description, or the widths MLP, for
 * [1, 28, 28] input; NULL with nb_errmsg().  Check r's model before any
 * work (a bad description, widths flags with a description): 0 or 2. */
int nb_run_is_widths(const char *v);
nb_model *nb_run_build(const nb_run_cfg *r);
int nb_run_check_spec(const char *cmd, const nb_run_cfg *r);
/* --text: read, split (nabla/data.h's nb_text_split) and cut into windows
 * of r->seq_len; 0, or 2 (printed). */
int nb_run_text_data(const char *cmd, const nb_run_cfg *r, nb_dataset **train, nb_dataset **val);
/* Configuration pairs for a checkpoint's metadata (static storage in r). */
size_t nb_run_config_kv(const nb_run_cfg *r, nb_kv *kv, size_t max);

/* Help text for the shared model/optimizer/training flags (the output ones
 * each command describes itself). */
const char *nb_run_flags_help(void);

/* Make the output folder (mkdir -p) and check that files can be created
 * in it; 0, or -1 with errno set. */
int nb_out_dir(const char *dir);

/* Wall-clock seconds (monotonic). */
double nb_now(void);

#endif
