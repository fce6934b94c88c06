/* `nabla vanish --time`: vanishing and exploding gradients through time
 * (nb_vanish_time_run, nabla/vanish.h).  For every cell and every T: train on
 * the adding problem, then ||dloss/dh_t|| at every step; a table on stdout,
 * or one JSON object per configuration with --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "nabla/json.h"
#include "nabla/vanish.h"

#define NB__VT_MAX 8

typedef struct {
    nb_vanish_time_config base;
    const char *cells, *ts;
    int json, time;
} nb__vt_args;

#define NB__A nb__vt_args
static const nb_flag nb__vt_flags[] = {
    NB_FLAG_BOOL("--time", NB__A, time, "this mode: recurrent cells on the adding problem"),
    NB_FLAG_STRING("--cells", NB__A, cells, "LIST", "cells, of rnn,lstm,gru (rnn,lstm,gru)"),
    NB_FLAG_STRING("--T", NB__A, ts, "LIST", "sequence lengths (10,50,100,200)"),
    NB_FLAG_INT("--steps", NB__A, base.steps, 0, 1e9, "N", "Adam steps per configuration (3000)"),
    NB_FLAG_INT("--hidden", NB__A, base.hidden, 1, 4096, "H", "hidden units (32)"),
    NB_FLAG_INT("--batch", NB__A, base.batch, 1, 65536, "N", "batch size (32)"),
    NB_FLAG_DOUBLE("--lr", NB__A, base.lr, 1e-12, 10, "LR", "Adam learning rate (1e-2)"),
    NB_FLAG_DOUBLE("--clip-norm", NB__A, base.clip_norm, 0, 1e12, "X", "clip the gradient norm to X; 0 = off (1)"),
    NB_FLAG_DOUBLE("--whh-scale", NB__A, base.whh_scale, 0, 1e6, "S",
                   "weight_hh drawn U(+-S/sqrt(H)) (1: torch's); large S explodes an rnn"),
    NB_FLAG_INT("--seed", NB__A, base.seed, 0, 9e18, "N", "seed of the init and the batches (1)"),
    NB_FLAG_BOOL("--json", NB__A, json, "one JSON object per configuration on stdout"),
};
#undef NB__A

static const char nb__vt_usage[] = "usage: nabla vanish --time [OPTIONS]\n"
                                   "\n"
                                   "Vanishing and exploding gradients through time.  For each cell and each\n"
                                   "sequence length T: train the cell (then a Linear on its last state) on the\n"
                                   "adding problem -- T steps of (value, marker), the target the sum of the two\n"
                                   "marked values -- with Adam, then unroll it on 256 fresh sequences and\n"
                                   "measure ||dloss/dh_t|| at every step t.  solved: the final loss is under\n"
                                   "0.05 (predicting the mean gives ~0.167).  JSON keys: cell, T,\n"
                                   "grad_norm_first_step, grad_norm_last_step, grad_norms (per step),\n"
                                   "final_loss, solved, steps, exploded, grad_norm_max, seconds.\n"
                                   "\n";

static void nb__vt_json(const nb_vanish_time_config *cfg, const nb_vanish_time_result *r)
{
    printf("{\"cell\":");
    nb_json_write_string(stdout, nb_vtime_cell_name(cfg->cell));
    printf(",\"T\":%zu,\"grad_norm_first_step\":", cfg->T);
    nb_json_write_number(stdout, r->grad_norm_first_step);
    printf(",\"grad_norm_last_step\":");
    nb_json_write_number(stdout, r->grad_norm_last_step);
    printf(",\"grad_norms\":[");
    for (size_t t = 0; t < cfg->T; t++) {
        if (t) putchar(',');
        nb_json_write_number(stdout, r->grad_norms[t]);
    }
    printf("],\"final_loss\":");
    nb_json_write_number(stdout, r->final_loss);
    printf(",\"solved\":%s,\"steps\":%ld,\"exploded\":%s,\"grad_norm_max\":", r->solved ? "true" : "false",
           r->steps_done, r->exploded ? "true" : "false");
    nb_json_write_number(stdout, r->grad_norm_max);
    printf(",\"seconds\":");
    nb_json_write_number(stdout, r->seconds);
    printf("}\n");
}

/* "a,b,c" -> up to NB__VT_MAX items through parse; the count, or -1 (printed). */
static int nb__vt_list(const char *flag, const char *s, long *out, int cells)
{
    int n = 0;
    for (const char *p = s; *p && n <= NB__VT_MAX;) {
        char item[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item || n == NB__VT_MAX) break;
        memcpy(item, p, len);
        item[len] = '\0';
        char *end;
        long v = cells ? nb_vtime_cell_parse(item) : strtol(item, &end, 10);
        if (cells ? v < 0 : (*end || v < 2 || v > 100000)) {
            nb_cli_usage_error("vanish", "%s: '%s' is not %s", flag, item,
                               cells ? "rnn, lstm or gru" : "a length in [2, 100000]");
            return -1;
        }
        out[n++] = v;
        p += len + (p[len] == ',');
    }
    if (n == 0 || n > NB__VT_MAX || s[strlen(s) - 1] == ',')
        return nb_cli_usage_error("vanish", "%s: '%s' is not a list of at most %d items", flag, s, NB__VT_MAX), -1;
    return n;
}

int nb_vanish_time_main(int argc, char **argv)
{
    static char usage[4096];
    snprintf(usage, sizeof usage, "%s", nb__vt_usage);
    nb_flags_help(usage, sizeof usage, nb__vt_flags, sizeof nb__vt_flags / sizeof nb__vt_flags[0], 20);
    nb__vt_args va = {.base = nb_vanish_time_defaults(), .cells = "rnn,lstm,gru", .ts = "10,50,100,200"};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__vt_flags, &va)};
    int n_pos, k = nb_flags_parse("vanish", usage, tabs, 1, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected("vanish", argv[1]);
    long cells[NB__VT_MAX], ts[NB__VT_MAX];
    int nc = nb__vt_list("--cells", va.cells, cells, 1), nt = nc < 0 ? -1 : nb__vt_list("--T", va.ts, ts, 0);
    if (nc < 0 || nt < 0) return 2;
    if (!va.json)
        printf("%-5s %5s %12s %12s %10s %10s %6s %8s\n", "cell", "T", "|dL/dh_0|", "|dL/dh_T-1|", "ratio", "loss",
               "solved", "seconds");
    for (int ti = 0; ti < nt; ti++)
        for (int ci = 0; ci < nc; ci++) {
            nb_vanish_time_config cfg = va.base;
            cfg.cell = (nb_vtime_cell)cells[ci];
            cfg.T = (size_t)ts[ti];
            nb_vanish_time_result r = {.grad_norms = calloc(cfg.T, sizeof(double))};
            if (!r.grad_norms || nb_vanish_time_run(&cfg, &r)) {
                fprintf(stderr, "nabla vanish: %s\n", r.grad_norms ? nb_errmsg() : "out of memory");
                free(r.grad_norms);
                return 1;
            }
            if (va.json) nb__vt_json(&cfg, &r);
            else
                printf("%-5s %5zu %12.3g %12.3g %10.3g %10.4f %6s %8.1f\n", nb_vtime_cell_name(cfg.cell), cfg.T,
                       r.grad_norm_first_step, r.grad_norm_last_step, r.grad_norm_first_step / r.grad_norm_last_step,
                       r.final_loss, r.solved ? "yes" : "no", r.seconds);
            fflush(stdout);
            free(r.grad_norms);
        }
    return 0;
}
