/* Models for the commands: loaded from a checkpoint or from PyTorch weights,
 * resumed, and their summary as a table or a JSON event (tools/model_cli.c). */
#ifndef NB_MODEL_CLI_H
#define NB_MODEL_CLI_H

#include <stdio.h>

#include "run.h"

/* The Fashion-MNIST input shape of one sample, [1, 28, 28]. */
extern const size_t nb_cli_image_shape[3];

/* The model of checkpoint ckpt (no model flags needed), or, when torch_desc
 * is set, the model it describes with the weights of the safetensors file
 * torch_file saved from PyTorch.  Errors are printed as "nabla CMD: ...";
 * NULL then. */
nb_model *nb_cli_load_model(const char *cmd, const char *ckpt, const char *torch_desc, const char *torch_file);
/* The model of checkpoint ckpt; a NaN or Inf weight is refused (naming it)
 * unless allow_nonfinite (--allow-nonfinite).  NULL (printed). */
nb_model *nb_cli_load_checkpoint(const char *cmd, const char *ckpt, int allow_nonfinite);

/* --resume: the model of the checkpoint at ckpt (its weights are loaded
 * later with the optimizer state), and r's model settings taken from it so
 * the next checkpoint says the same.  A --model given on the command line
 * must be the one the checkpoint was trained with.  Without --resume or
 * when ckpt does not exist: nb_run_model(cmd, r, rng).  NULL (printed). */
nb_model *nb_run_model_resume(const char *cmd, nb_run_cfg *r, const char *ckpt, nb_rng *rng);

/* The per-layer table (nabla summary, nabla train's start). 0 or 1 (printed). */
int nb_summary_print(FILE *f, const nb_model *m);
/* {"event":"summary",... without the closing brace (as NB__EVENT wants). */
void nb_summary_json(FILE *f, const nb_model *m);

#endif
