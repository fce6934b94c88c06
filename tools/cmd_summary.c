/* nabla summary: a model's layers, output shapes and parameter counts. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "model_cli.h"

static const char nb__summary_usage[] =
    "usage: nabla summary --model DESC [--dtype f32|f64] [--text PATH --seq-len N] [--json]\n"
    "       nabla summary CKPT [--json]\n"
    "\n"
    "One row per layer (nested ones indented): name, kind, output shape of one\n"
    "sample and trainable parameters; then the totals, the parameter bytes and\n"
    "the activation bytes per sample.  The input is a Fashion-MNIST image,\n"
    "[1, 28, 28]; with --text it is --seq-len character indices, [N] (the\n"
    "text is not read); a checkpoint brings its own description and input shape.\n"
    "\n"
    "Layer descriptions (--model): layers separated by spaces, PyTorch's names\n"
    "in lower case, positional or key=value arguments, blocks nest; each layer\n"
    "infers its input size, so only output sizes are written:\n"
    "  linear(out, bias=1)            image input is flattened first\n"
    "  relu gelu sigmoid tanh softplus identity\n"
    "  leaky_relu(negative_slope=0.01)  elu(alpha=1)\n"
    "  batchnorm1d(eps=1e-5, momentum=0.1, affine=1)  layernorm(eps=1e-5)\n"
    "  dropout(p=0.5)  flatten\n"
    "  residual(LAYERS)               x + f(x), a projection when f changes the width\n"
    "                                 (a strided 1x1 convolution over images)\n"
    "images, [C, H, W] per sample:\n"
    "  conv2d(out, k=3, s=1, p=0, d=1, g=1, bias=1)   g = groups (C: depthwise)\n"
    "  maxpool2d(k, s=k, p=0)  avgpool2d(k, s=k, p=0)  gap (global average, [C])\n"
    "  batchnorm2d(eps=1e-5, momentum=0.1, affine=1)\n"
    "  rnn(hidden_size, nonlinearity=tanh, layers=1, seq=0)  lstm(hidden_size, layers=1, seq=0)\n"
    "  gru(hidden_size, layers=1, seq=0)  on [steps, features]; an image is read row by\n"
    "                                 row (28 steps of 28); the last step, or seq=1 every step\n"
    "  embedding(num_embeddings, embedding_dim)  [steps] of indices -> [steps, dim]\n"
    "e.g. \"linear(128) relu dropout(0.2) linear(10)\",\n"
    "     \"linear(128) residual(linear(128) batchnorm1d relu) linear(10)\",\n"
    "     \"conv2d(32,p=1) batchnorm2d relu maxpool2d(2) gap linear(10)\".\n"
    "The widths shorthand 784-128-10 (with --act, --batchnorm, --residual,\n"
    "--dropout) is the same as its description: 784-128-10 is\n"
    "\"linear(128) relu linear(10)\".\n";

static int nb__summary_main(int argc, char **argv)
{
    const char *cmd = "summary", *ckpt = NULL;
    nb_run_cfg r;
    nb_run_defaults(&r);
    nb_flag_table tabs[] = {NB_RUN_FLAG_TABLE(&r)};
    int n_pos, pk = nb_flags_parse(cmd, nb__summary_usage, tabs, 1, argc, argv, &n_pos);
    if (pk != NB_FLAGS_OK) return pk == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos > 1) return nb_cli_usage_error(cmd, "one checkpoint only (got '%s' and '%s')", argv[1], argv[2]);
    if (n_pos) ckpt = argv[1];
    if (!ckpt && !r.model_given) return nb_cli_usage_error(cmd, "which model? (nabla summary --model DESC | CKPT)");
    if (ckpt && r.model_given) return nb_cli_usage_error(cmd, "give --model or a checkpoint, not both");
    nb_model *m = NULL;
    if (ckpt) {
        if (!(m = nb_cli_load_model(cmd, ckpt, NULL, NULL))) return 2;
    } else {
        if (nb_run_finish(cmd, &r)) return 2;
        if (!(m = nb_run_build(&r))) return nb_cli_usage_error(cmd, "--model: %s", nb_errmsg());
    }
    int rc;
    if (r.json) {
        nb_summary_json(stdout, m);
        fputs("}\n", stdout);
        rc = 0;
    } else {
        rc = nb_summary_print(stdout, m);
    }
    nb_model_free(m);
    return rc;
}

const nb_cli_cmd nb_cmd_summary = {"summary", "a model's layers, output shapes and parameter counts", nb__summary_usage,
                                   nb__summary_main};
