/* libFuzzer harness for layer descriptions, nb_model_from_spec ("linear(128)
 * relu residual(linear(128) batchnorm1d relu) linear(10)", the CLI's --model
 * and a checkpoint's "spec" metadata); build and run with tests/fuzz/run.sh.
 * The input is the description as text, on a [1, 4, 4] input.  One that
 * builds must give itself back (nb_model_spec) and a summary whose top-level
 * rows sum to the model's parameters.  One that fails must quote it with a
 * caret.
 * Numbers of more than 3 digits are skipped: they only make big models.  Even
 * so, three conv2d(999,k=999,p=999) ask for terabytes: NABLA_MEMORY_LIMIT
 * keeps each model under 256 MiB, and one over it must fail like any other
 * bad description. */
#include "nabla/nn.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("NABLA_MEMORY_LIMIT", "256M", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int run = 0;
    for (size_t i = 0; i < size; i++) {
        run = isdigit((unsigned char)s[i]) ? run + 1 : 0;
        if (run > 3 || !s[i]) {
            free(s);
            return 0;
        }
    }
    static const size_t in[3] = {1, 4, 4};
    nb_model *m = nb_model_from_spec(s, (size & 1) ? NB_F64 : NB_F32, 3, in);
    if (!m) {
        const char *e = nb_errmsg();
        if (!strchr(e, '^') || !strstr(e, "\n  ")) abort();
        free(s);
        return 0;
    }
    char *back = nb_model_spec(m);
    if (!back || strcmp(back, s)) abort();
    nb_summary *sum = nb_model_summary(m);
    if (!sum || sum->params != nb_model_n_params(m) || sum->buffers != nb_model_n_buffer_values(m)) abort();
    size_t top = 0;
    for (size_t i = 0; i < sum->n_rows; i++) top += sum->rows[i].depth == 0 ? sum->rows[i].params : 0;
    if (top != sum->params) abort();
    free(back);
    nb_summary_free(sum);
    nb_model_free(m);
    free(s);
    return 0;
}
