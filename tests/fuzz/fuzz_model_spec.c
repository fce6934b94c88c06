/* libFuzzer harness for the model spec parser, nb_mlp_parse_widths ("784-
 * 128-10", the CLI's --model and a checkpoint's "model" metadata), with the
 * activation and init name parsers (build and run with tests/fuzz/run.sh).
 * The input is the spec as text.  A spec that parses must give 2..64 widths
 * in 1..1000000 that print back to a spec parsing to the same widths; small
 * models are then built (every activation in turn, with BatchNorm, residual
 * blocks and dropout) and freed.  A spec that fails must say why. */
#include "nabla/nn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int a = nb_act_parse(s), in = nb_init_parse(s);
    if (a < -1 || a >= NB_ACT__COUNT || in < -1 || in >= NB_INIT__COUNT) abort();
    if (a >= 0 && strcmp(nb_act_name((nb_act)a), s) != 0 && strcmp(s, "leaky") != 0) abort();
    nb_mlp_config cfg;
    memset(&cfg, 0xA5, sizeof cfg); /* the parser must not rely on a zeroed struct */
    if (nb_mlp_parse_widths(&cfg, s) != 0) {
        if (strncmp(nb_errmsg(), "--model", 7) != 0) abort();
        free(s);
        return 0;
    }
    if (cfg.n_widths < 2 || cfg.n_widths > 64) abort();
    char back[64 * 8 + 1];
    size_t at = 0, weights = 0;
    for (int i = 0; i < cfg.n_widths; i++) {
        if (cfg.widths[i] < 1 || cfg.widths[i] > 1000000) abort();
        at += (size_t)snprintf(back + at, sizeof back - at, i ? "-%zu" : "%zu", cfg.widths[i]);
        if (i) weights += cfg.widths[i - 1] * cfg.widths[i];
    }
    nb_mlp_config again = {0};
    if (nb_mlp_parse_widths(&again, back) != 0 || again.n_widths != cfg.n_widths ||
        memcmp(again.widths, cfg.widths, (size_t)cfg.n_widths * sizeof cfg.widths[0]) != 0)
        abort();
    if (weights <= 4096) {
        nb_mlp_config c = again;
        c.act = (nb_act)(size % NB_ACT__COUNT);
        c.batchnorm = (int)(size & 1);
        c.residual = (int)((size >> 1) & 1);
        c.dropout = (size & 4) ? 0.25 : 0;
        nb_model *m = nb_mlp_new((size & 8) ? NB_F64 : NB_F32, &c);
        if (!m) abort(); /* a spec that parses builds */
        if (nb_model_in_width(m) != c.widths[0] || nb_model_out_width(m) != c.widths[c.n_widths - 1]) abort();
        nb_model_free(m);
    }
    free(s);
    return 0;
}
