/* Shared by the commands that build and train a model (train, eval,
 * predict): the run configuration, its flags, and small output helpers. */
#ifndef NB_RUN_H
#define NB_RUN_H

#include <stdio.h>

#include "nabla/train.h"

typedef struct nb_run_cfg {
    const char *data;   /* --data DIR or NULL */
    const char *model;  /* --model: widths "784-128-10" or a layer description (any length) */
    int model_is_spec;  /* --model is a layer description, not widths */
    int model_given;    /* --model was on the command line */
    int mlp_flags;      /* --act/--batchnorm/--residual/--dropout given (widths only) */
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
    int json;
    long max_steps;     /* stop after this many optimizer steps (0 = no limit) */
    size_t limit_train; /* use only the first N training samples (0 = all) */
    long log_every;
    int quiet;
} nb_run_cfg;

/* Defaults: the study guide's loop (784-128-10 ReLU, Adam 1e-3, batch 64,
 * clip-norm 1.0, 10 epochs). */
void nb_run_defaults(nb_run_cfg *r);
/* Try to consume argv[*i] (and its value) as a model/optimizer/data flag.
 * Returns 1 consumed, 0 not one of ours, 2 bad value (message printed). */
int nb_run_flag(const char *cmd, nb_run_cfg *r, int argc, char **argv, int *i);
/* Validate cross-flag rules and finish the configs; 0 or 2 (printed). */
int nb_run_finish(const char *cmd, nb_run_cfg *r);
/* The model of r (initialised from r->seed); NULL (printed) on error. */
nb_model *nb_run_model(const char *cmd, const nb_run_cfg *r, nb_rng *rng);
/* In tools/model_cli.c: is v the widths shorthand ("784-128-10")?  The
 * model of r, not initialised: the description, or the widths MLP, for
 * [1, 28, 28] input; NULL with nb_errmsg().  Check r's model before any
 * work (a bad description, widths flags with a description): 0 or 2. */
int nb_run_is_widths(const char *v);
nb_model *nb_run_build(const nb_run_cfg *r);
int nb_run_check_spec(const char *cmd, const nb_run_cfg *r);
/* Configuration pairs for a checkpoint's metadata (static storage in r). */
size_t nb_run_config_kv(const nb_run_cfg *r, nb_kv *kv, size_t max);

/* Help text for the shared flags. */
extern const char nb_run_flags_help[];

/* Write s as a JSON string (with quotes). */
void nb_json_str(FILE *f, const char *s);
/* A JSON number, or null when not finite. */
void nb_json_num(FILE *f, double v);
/* Make the output folder (mkdir -p) and check that files can be created
 * in it; 0, or -1 with errno set. */
int nb_out_dir(const char *dir);

/* Wall-clock seconds (monotonic). */
double nb_now(void);

#endif
