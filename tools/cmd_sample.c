/* nabla sample: text from a character-level model (nabla train --text). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "model_cli.h"
#include "nabla/data.h"

static const char nb__sample_usage[] =
    "usage: nabla sample CKPT [--prompt TEXT] [--length N] [--temperature T] [--seed S]\n"
    "\n"
    "Generate text from a character-level model trained with nabla train --text:\n"
    "the prompt, then N characters, each drawn from the model's distribution for\n"
    "the next character given the window of characters before it (the model's\n"
    "training window; a shorter start is padded on the left with newlines).\n"
    "Temperature divides the logits: below 1 the likeliest characters win more\n"
    "often, above 1 the draw is flatter; 0 always takes the likeliest.\n";

typedef struct {
    const char *prompt;
    long length;
    double temperature;
    long long seed;
    int allow_nonfinite;
} nb__sample_opts;

#define NB__S nb__sample_opts
static const nb_flag nb__sample_flags[] = {
    NB_FLAG_STRING("--prompt", NB__S, prompt, "TEXT", "what the text starts with (\"\")"),
    NB_FLAG_INT("--length", NB__S, length, 0, 10000000, "N", "characters to generate (500)"),
    NB_FLAG_DOUBLE("--temperature", NB__S, temperature, 0, 100, "T", "sampling temperature (1.0; 0 = greedy)"),
    NB_FLAG_INT("--seed", NB__S, seed, 0, 9007199254740991LL, "S", "random seed (1)"),
    NB_FLAG_BOOL("--allow-nonfinite", NB__S, allow_nonfinite, "load a checkpoint with NaN/Inf weights"),
};
#undef NB__S

/* The next id from logits row[V] at temperature temp (0: the arg-max). */
static int nb__draw(const float *row, int V, double temp, nb_rng *rng)
{
    int best = 0;
    for (int j = 1; j < V; j++)
        if (row[j] > row[best]) best = j;
    if (temp == 0) return best;
    double p[NB_TEXT_VOCAB], sum = 0;
    for (int j = 0; j < V; j++) sum += p[j] = exp(((double)row[j] - (double)row[best]) / temp);
    double u = nb_rng_uniform(rng) * sum;
    for (int j = 0; j < V; j++)
        if ((u -= p[j]) < 0) return j;
    return best;
}

static int nb__sample_run(const char *cmd, nb_model *m, const nb__sample_opts *o)
{
    size_t shape[NB_MAX_DIMS];
    if (nb_model_input_shape(m, shape) != 1 || nb_model_out_width(m) != shape[0] * NB_TEXT_VOCAB)
        return nb_cli_usage_error(cmd, "the checkpoint's model is not a character-level model (nabla train --text "
                                       "gives one: input [seq_len], output [seq_len, 96])");
    const size_t L = shape[0], plen = strlen(o->prompt), total = plen + (size_t)o->length;
    float *x = malloc(L * sizeof *x);
    int *ids = malloc((total + 1) * sizeof *ids);
    nb_ctx *c = nb_ctx_new(NULL);
    int rc = 0;
    if (!x || !ids || !c) {
        fprintf(stderr, "nabla %s: out of memory\n", cmd);
        rc = 1;
        goto done;
    }
    nb_rng rng;
    nb_rng_seed(&rng, (uint64_t)o->seed);
    nb_set_grad_enabled(c, 0);
    nb_set_training(c, 0);
    for (size_t i = 0; i < plen; i++) ids[i] = nb_text_encode((unsigned char)o->prompt[i]);
    fputs(o->prompt, stdout);
    for (size_t n = plen; n < total; n++) {
        /* the window: the last L ids, newlines before the start */
        for (size_t j = 0; j < L; j++) x[j] = n + j >= L ? (float)ids[n + j - L] : 0.0f;
        nb_tensor *xt = nb_from_data(c, NB_F32, 2, (size_t[]){1, L}, x, NB_BORROW);
        nb_tensor *y = nb_model_forward(m, c, xt, NULL);
        if (!y) {
            fprintf(stderr, "\nnabla %s: %s\n", cmd, nb_errmsg());
            rc = 1;
            break;
        }
        ids[n] = nb__draw((const float *)y->data + (L - 1) * NB_TEXT_VOCAB, NB_TEXT_VOCAB, o->temperature, &rng);
        putchar(nb_text_decode(ids[n]));
        nb_ctx_reset(c);
    }
    putchar('\n');
done:
    nb_ctx_free(c);
    free(x);
    free(ids);
    return rc;
}

static int nb__sample_main(int argc, char **argv)
{
    const char *cmd = "sample";
    nb__sample_opts o = {.prompt = "", .length = 500, .temperature = 1.0, .seed = 1};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__sample_flags, &o)};
    int n_pos, pk = nb_flags_parse(cmd, nb__sample_usage, tabs, 1, argc, argv, &n_pos);
    if (pk != NB_FLAGS_OK) return pk == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos != 1)
        return nb_cli_usage_error(cmd, n_pos ? "one checkpoint only" : "which checkpoint? (nabla sample CKPT)");
    nb_model *m = nb_cli_load_checkpoint(cmd, argv[1], o.allow_nonfinite);
    if (!m) return 2;
    if (nb_model_dtype(m) != NB_F32) {
        nb_model_free(m);
        return nb_cli_usage_error(cmd, "%s: a float64 model; sample reads float32 models", argv[1]);
    }
    int rc = nb__sample_run(cmd, m, &o);
    nb_model_free(m);
    return rc;
}

const nb_cli_cmd nb_cmd_sample = {"sample", "text from a character-level model (train --text)", nb__sample_usage,
                                  nb__sample_main};
