/* nabla lr-find: the learning-rate range test on Fashion-MNIST, with a CSV,
 * an SVG plot and three suggestions (the algorithm: src/diag/lrfind.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "nabla/lrfind.h"
#include "nabla/plot.h"
#include "run.h"
#include "run_folder.h"

static const char nb__lrfind_usage[] = "usage: nabla lr-find [OPTIONS]\n"
                                       "\n"
                                       "The learning-rate range test: one training step per learning rate, the\n"
                                       "rate growing exponentially from --start to --end over --steps steps on\n"
                                       "successive batches; stops once the smoothed loss (EMA, beta 0.98, bias-\n"
                                       "corrected) exceeds 4x its best.  The model trained is the one `nabla\n"
                                       "train` would start from with the same flags (same --seed), and it is put\n"
                                       "back afterwards.  Suggests three learning rates:\n"
                                       "  valley    two thirds of the way down the longest descent of the smoothed\n"
                                       "            loss (its longest decreasing subsequence) -- use this one\n"
                                       "  steepest  where the smoothed loss falls fastest against log(lr)\n"
                                       "  min/10    a tenth of the lr of the lowest smoothed loss\n"
                                       "(the first 10% of the steps and the last 5 are left out of the rules).\n"
                                       "Writes OUT/lr_find.csv (lr,loss,smoothed) and OUT/lr_find.svg.\n"
                                       "\n";
static const char nb__lrfind_usage_tail[] = "output:\n"
                                            "  --out DIR            folder for the CSV and the plot (runs/lr-find)\n"
                                            "  --json               one JSON object on stdout\n"
                                            "  --limit-train N      sweep over the first N training samples only\n"
                                            "  --quiet              print only the suggested lr\n"
                                            "Of the flags below (shared with `nabla train`), the epoch, schedule and\n"
                                            "checkpoint ones (--epochs, --sched, --resume...) do not apply here.\n";

static char nb__lrfind_usage_full[4096];
static int nb__lrfind_run(int argc, char **argv);

const nb_cli_cmd nb_cmd_lrfind = {"lr-find", "learning-rate range test: suggests an lr, writes a CSV and an SVG plot",
                                  nb__lrfind_usage_full, nb__lrfind_run};

/* A finite number > 0 (>= 0 when zero_ok). */
static int nb__pos(const char *cmd, const char *flag, const char *v, int zero_ok, double *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || !*v || *end || errno || !isfinite(x) || x < 0 || (x == 0 && !zero_ok))
        return nb_cli_usage_error(cmd, "%s: '%s' is not a %s number", flag, v ? v : "",
                                  zero_ok ? "non-negative" : "positive");
    *out = x;
    return 0;
}

/* --start, --end, --beta, --diverge, --steps into an nb_lrfind_opts. */
static int nb__sweep_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_lrfind_opts *lo = base;
    double x = 0;
    if (nb__pos(cmd, flag, v, !strcmp(flag, "--beta"), &x)) return 2;
    if (!strcmp(flag, "--start")) lo->lr_start = x;
    else if (!strcmp(flag, "--end")) lo->lr_end = x;
    else if (!strcmp(flag, "--beta")) {
        if (x >= 1) return nb_cli_usage_error(cmd, "--beta: %g is not in [0, 1)", x);
        lo->beta = x;
    } else if (!strcmp(flag, "--diverge")) {
        if (x <= 1) return nb_cli_usage_error(cmd, "--diverge: %g must be > 1", x);
        lo->diverge = x;
    } else {
        if (x != floor(x) || x < 2 || x > 10000)
            return nb_cli_usage_error(cmd, "--steps: '%s' is not an integer in [2, 10000]", v);
        lo->n_steps = (int)x;
    }
    return 0;
}

static const nb_flag nb__sweep_flags[] = {
    NB_FLAG_TEXT("sweep:\n"),
    NB_FLAG_CUSTOM("--start", nb__sweep_flag, "LR", "first learning rate (1e-7)"),
    NB_FLAG_CUSTOM("--end", nb__sweep_flag, "LR", "last learning rate (10)"),
    NB_FLAG_CUSTOM("--steps", nb__sweep_flag, "N", "steps (100)"),
    NB_FLAG_CUSTOM("--beta", nb__sweep_flag, "B", "smoothing of the loss (0.98)"),
    NB_FLAG_CUSTOM("--diverge", nb__sweep_flag, "X", "stop when the smoothed loss exceeds X times its best (4)"),
};

__attribute__((constructor)) static void nb__lrfind_usage_init(void)
{
    char *u = nb__lrfind_usage_full;
    size_t n = sizeof nb__lrfind_usage_full;
    snprintf(u, n, "%s", nb__lrfind_usage);
    nb_flags_help(u, n, nb__sweep_flags, sizeof nb__sweep_flags / sizeof nb__sweep_flags[0], 20);
    strncat(u, nb__lrfind_usage_tail, n - strlen(u) - 1);
    strncat(u, nb_run_flags_help(), n - strlen(u) - 1);
}

/* Write the curve as CSV; 0 or -1 (errno). */
static int nb__write_csv(const char *path, const nb_lrfind_result *res)
{
    FILE *f = nb_fopen_out(path, "w");
    if (!f) return -1;
    fputs("lr,loss,smoothed\n", f);
    for (size_t i = 0; i < res->n; i++) fprintf(f, "%.9g,%.9g,%.9g\n", res->lr[i], res->loss[i], res->smooth[i]);
    return fclose(f) ? -1 : 0;
}

/* Write the plot: the smoothed loss, the raw loss (points above the
 * divergence cap left out so the tail does not flatten the picture), and a
 * marker line per suggestion.  0 or -1 (errno). */
static int nb__write_svg(const char *path, const nb_lrfind_result *res, double diverge, const char *title)
{
    double *raw = malloc((res->n ? res->n : 1) * sizeof *raw);
    if (!raw) return -1;
    double cap = diverge * res->best;
    for (size_t i = 0; i < res->n; i++) raw[i] = res->loss[i] <= cap ? res->loss[i] : NAN;
    nb_plot p;
    nb_plot_init(&p, title, "learning rate (log scale)", "training loss");
    p.log_x = 1;
    nb_plot_series(&p, "smoothed loss", res->lr, res->smooth, res->n);
    nb_plot_series(&p, "batch loss", res->lr, raw, res->n);
    char lv[48], ls[48], lm[48];
    snprintf(lv, sizeof lv, "valley %.2g", res->s.valley);
    snprintf(ls, sizeof ls, "steepest %.2g", res->s.steepest);
    snprintf(lm, sizeof lm, "min/10 %.2g", res->s.min10);
    if (isfinite(res->s.valley)) nb_plot_vline(&p, res->s.valley, lv);
    if (isfinite(res->s.steepest)) nb_plot_vline(&p, res->s.steepest, ls);
    if (isfinite(res->s.min10)) nb_plot_vline(&p, res->s.min10, lm);
    FILE *f = nb_fopen_out(path, "w");
    if (!f) {
        free(raw);
        return -1;
    }
    nb_plot_svg(&p, f, 720, 440);
    free(raw);
    return fclose(f) ? -1 : 0;
}

/* The suggestions: one JSON object, the valley alone (--quiet), or text. */
static void nb__print_result(const nb_run_cfg *r, const nb_lrfind_opts *lo, const nb_lrfind_result *res, double secs,
                             const char *csv, const char *svg)
{
    const nb_lrfind_suggest *s = &res->s;
    double min_lr = s->i_min >= 0 ? res->lr[s->i_min] : NAN, min_loss = s->i_min >= 0 ? res->smooth[s->i_min] : NAN;
    char reason[300] = "";
    if (res->no_descent)
        snprintf(reason, sizeof reason,
                 "the loss never fell: the smoothed loss dropped %.1f%% at most along the sweep "
                 "(less than %g%%), so no learning rate can be suggested; run `nabla diagnose` with the same flags",
                 isfinite(res->descent) && res->descent > 0 ? 100 * res->descent : 0.0, 100 * lo->min_descent);
    if (r->json) {
        printf("{\"suggested\":");
        nb_json_write_number(stdout, s->valley);
        printf(",\"reason\":");
        if (res->no_descent) nb_json_write_string(stdout, reason);
        else printf("null");
        printf(",\"no_descent\":%s", res->no_descent ? "true" : "false");
        nb_json_write_key_number(stdout, "valley", s->valley);
        nb_json_write_key_number(stdout, "steepest", s->steepest);
        nb_json_write_key_number(stdout, "min10", s->min10);
        nb_json_write_key_number(stdout, "min_lr", min_lr);
        nb_json_write_key_number(stdout, "min_loss", min_loss);
        nb_json_write_key_number(stdout, "valley_from", s->valley_start >= 0 ? res->lr[s->valley_start] : NAN);
        nb_json_write_key_number(stdout, "valley_to", s->valley_end >= 0 ? res->lr[s->valley_end] : NAN);
        printf(",\"points\":%zu,\"diverged\":%s,\"last_lr\":", res->n, res->diverged ? "true" : "false");
        nb_json_write_number(stdout, res->n ? res->lr[res->n - 1] : NAN);
        nb_json_write_key_number(stdout, "seconds", secs);
        printf(",\"csv\":");
        nb_json_write_string(stdout, csv);
        printf(",\"svg\":");
        nb_json_write_string(stdout, svg);
        printf("}\n");
    } else if (r->quiet) {
        if (res->no_descent) fprintf(stderr, "nabla lr-find: %s\n", reason);
        else printf("%.3g\n", s->valley);
    } else if (res->no_descent) {
        printf("ran %zu steps up to lr %.3g: no suggestion.\n%s.\n", res->n, res->n ? res->lr[res->n - 1] : NAN,
               reason);
        printf("wrote %s and %s (%.1fs)\n", csv, svg, secs);
        printf("next: nabla diagnose  (with the same model and optimizer flags)\n");
    } else {
        if (res->diverged)
            printf("stopped after %zu steps at lr %.3g: the smoothed loss %.3g passed %g x its best %.3g\n", res->n,
                   res->lr[res->n - 1], res->smooth[res->n - 1], lo->diverge, res->best);
        else
            printf("ran all %zu steps up to lr %.3g without diverging (lowest smoothed loss %.3g)\n", res->n,
                   res->lr[res->n - 1], res->best);
        printf("suggestions:\n");
        printf("  valley    %-9.3g  <- suggested: 2/3 down the longest descent (lr %.2g .. %.2g)\n", s->valley,
               res->lr[s->valley_start], res->lr[s->valley_end]);
        printf("  steepest  %-9.3g  fastest fall of the smoothed loss against log(lr)\n", s->steepest);
        printf("  min/10    %-9.3g  the lowest smoothed loss %.3g is at lr %.3g\n", s->min10, min_loss, min_lr);
        printf("wrote %s and %s (%.1fs)\n", csv, svg, secs);
        printf("next: nabla train --lr %.3g  (with the same model and optimizer flags)\n", s->valley);
    }
}

static int nb__lrfind_run(int argc, char **argv)
{
    const char *cmd = "lr-find";
    nb_run_cfg r;
    nb_run_defaults(&r);
    r.out = "runs/lr-find";
    nb_lrfind_opts lo = nb_lrfind_defaults();
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__sweep_flags, &lo), NB_RUN_FLAG_TABLE(&r)};
    int n_pos, k = nb_flags_parse(cmd, nb__lrfind_usage_full, tabs, 2, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected(cmd, argv[1]);
    if (nb_run_finish(cmd, &r)) return 2;
    if (r.tbptt) return nb_cli_usage_error(cmd, "--tbptt: only nabla train carries the states");
    nb_run_cfg swept = r; /* the sweep sets the rate: --lr plays no part */
    swept.opt.lr = lo.lr_end;
    nb_run_warn_futile(cmd, &swept);
    if (!(lo.lr_start < lo.lr_end))
        return nb_cli_usage_error(cmd, "--start %g must be below --end %g", lo.lr_start, lo.lr_end);
    if (nb_out_dir(r.out)) return nb_cli_usage_error(cmd, "--out %s: %s", r.out, strerror(errno));

    nb_dataset *train = NULL, *heldout = NULL;
    if (r.text) { /* the training windows of --text (the loss: nats per character) */
        if (nb_run_text_data(cmd, &r, &train, &heldout)) return 2;
        nb_dataset_free(heldout);
    } else if (nb_fashion_mnist_load(r.data, &train, NULL)) {
        fprintf(stderr, "nabla lr-find: %s\n", nb_errmsg());
        return 2;
    }
    int rc = 1;
    nb_model *m = NULL;
    nb_optim *opt = NULL;
    nb_lrfind_result res = {0};
    if (r.limit_train && r.limit_train < train->n) {
        size_t *rows = malloc(r.limit_train * sizeof *rows);
        for (size_t i = 0; rows && i < r.limit_train; i++) rows[i] = i;
        nb_dataset *sub = rows ? nb_dataset_subset(train, rows, r.limit_train) : NULL;
        free(rows);
        if (!sub) {
            fprintf(stderr, "nabla lr-find: --limit-train: %s\n", nb_errmsg());
            goto out;
        }
        nb_dataset_free(train);
        train = sub;
    }
    if (!r.text && (r.mlp.widths[0] != train->d || (int)r.mlp.widths[r.mlp.n_widths - 1] < train->n_classes)) {
        rc = nb_cli_usage_error(cmd, "--model %s does not fit the data (%zu features, %d classes)", r.model, train->d,
                                train->n_classes);
        goto out;
    }
    nb_rng init_rng, rng;
    nb_rng_seed(&init_rng, r.seed);
    nb_rng_seed(&rng, r.seed ^ 0x5eed5eed5eedULL); /* as nabla train seeds dropout */
    if (!(m = nb_run_model(cmd, &r, &init_rng))) {
        rc = 2;
        goto out;
    }
    if (!(opt = nb_optim_new(&r.opt, r.dtype, nb_model_n_params(m)))) {
        rc = nb_cli_usage_error(cmd, "%s", nb_errmsg());
        goto out;
    }
    lo.batch = r.batch;
    lo.seed = r.seed;
    lo.step.clip_norm = r.clip_norm;
    lo.step.clip_value = r.clip_value;
    char desc[512];
    nb_model_describe(m, desc, sizeof desc);
    if (!r.quiet && !r.json)
        fprintf(stderr, "lr-find: model %s; %s, batch %zu, clip-norm %g; %d steps, lr %g -> %g\n", desc, r.opt_name,
                r.batch, r.clip_norm, lo.n_steps, lo.lr_start, lo.lr_end);
    double t0 = nb_now();
    if (nb_lrfind(m, opt, train, &rng, &lo, &res)) {
        fprintf(stderr, "nabla lr-find: %s\n", nb_errmsg());
        goto out;
    }
    double secs = nb_now() - t0;
    char csv[1100], svg[1100], title[600];
    snprintf(csv, sizeof csv, "%s/lr_find.csv", r.out);
    snprintf(svg, sizeof svg, "%s/lr_find.svg", r.out);
    snprintf(title, sizeof title, "LR finder: %s, %s, batch %zu", r.model, r.opt_name, r.batch);
    if (nb__write_csv(csv, &res)) {
        fprintf(stderr, "nabla lr-find: %s: %s\n", csv, strerror(errno));
        goto out;
    }
    if (nb__write_svg(svg, &res, lo.diverge, title)) {
        fprintf(stderr, "nabla lr-find: %s: %s\n", svg, strerror(errno));
        goto out;
    }
    nb__print_result(&r, &lo, &res, secs, csv, svg);
    rc = 0;
out:
    nb_lrfind_result_free(&res);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(train);
    return rc;
}
