/* nabla diagnose: the training doctor on Fashion-MNIST (the checks live in
 * the library: src/diag/doctor.c). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nabla/doctor.h"
#include "run.h"

static const char nb__diag_usage[] =
    "usage: nabla diagnose [OPTIONS]\n"
    "\n"
    "Run the debugging checklist on the model, optimizer and data that `nabla\n"
    "train` would use with the same flags, and print each check PASS, WARN or\n"
    "FAIL with the number measured and a concrete fix:\n"
    "  input_stats     inputs as the loader delivers them (and the raw data)\n"
    "  class_balance   samples per class\n"
    "  loss_finite     the loss of one batch at init is finite\n"
    "  initial_loss    ... and close to ln(classes)\n"
    "  grad_vanishing  per-parameter gradient norms at init, none < 1e-6\n"
    "  grad_exploding  ... none > 10\n"
    "  loss_decreases  100 steps at this lr: the loss falls (flat: lr too small;\n"
    "                  NaN or rising: too large)\n"
    "  overfit_batch   200 steps on one batch reach 100% (failing = a bug)\n"
    "  above_chance    one pass over 5000 samples beats chance on the test set\n"
    "Takes a few seconds.  Exit status: 0 when nothing FAILs (WARN is 0), 1 when\n"
    "a check FAILs, 2 on bad usage.\n"
    "\n"
    "diagnose:\n"
    "  --json               one JSON object per check on stdout: {\"check\",\n"
    "                       \"status\":\"pass|warn|fail\", \"value\", \"detail\", \"advice\", ...}\n"
    "  --limit-train N      samples of the short training (5000)\n";
static const char nb__diag_usage_tail[] =
    "Of the flags below (shared with `nabla train`), the epoch, schedule and\n"
    "checkpoint ones (--epochs, --sched, --resume, --out...) do not apply here.\n";

static char nb__diag_usage_full[4096];
static int nb__diag_run(int argc, char **argv);

const nb_cli_cmd nb_cmd_diagnose = {"diagnose",
                                    "training doctor: checks data, init, gradients, lr, overfitting (PASS/WARN/FAIL)",
                                    nb__diag_usage_full, nb__diag_run};

/* The flags of diagnose's own. */
typedef struct {
    nb_doctor_opts o;
    int shuffle_labels, no_normalize;
} nb__diag_args;

static const nb_flag nb__diag_flags[] = {
    {"--trend-steps", NB_FLAG_INT, NB_FLAG__AT(nb__diag_args, o.trend_steps), 2, 100000, NULL,
     "an integer in [2, 100000]", NULL, "N", "steps of the loss_decreases check (100)"},
    {"--overfit-steps", NB_FLAG_INT, NB_FLAG__AT(nb__diag_args, o.overfit_steps), 2, 100000, NULL,
     "an integer in [2, 100000]", NULL, "N", "steps of the overfit_batch check (200)"},
    NB_FLAG_DOUBLE("--vanish-below", nb__diag_args, o.vanish, 1e-300, 1e300, "X",
                   "grad_vanishing fails below this gradient norm (1e-6)"),
    NB_FLAG_DOUBLE("--explode-above", nb__diag_args, o.explode, 1e-300, 1e300, "X",
                   "grad_exploding fails above this gradient norm (10)"),
    NB_FLAG_BOOL("--shuffle-labels", nb__diag_args, shuffle_labels,
                 "shuffle the training labels first (a planted fault:\n"
                 "shows what mislabelled data looks like)"),
    NB_FLAG_BOOL("--no-normalize", nb__diag_args, no_normalize,
                 "feed raw 0..255 pixels (a planted fault: shows what\n"
                 "forgetting normalisation looks like)"),
};

__attribute__((constructor)) static void nb__diag_usage_init(void)
{
    char *u = nb__diag_usage_full;
    size_t n = sizeof nb__diag_usage_full;
    snprintf(u, n, "%s", nb__diag_usage);
    nb_flags_help(u, n, nb__diag_flags, sizeof nb__diag_flags / sizeof nb__diag_flags[0], 20);
    strncat(u, nb__diag_usage_tail, n - strlen(u) - 1);
    strncat(u, nb_run_flags_help(), n - strlen(u) - 1);
}

static void nb__json_check(const nb_doctor_report *rep, int id)
{
    const nb_doctor_check *k = &rep->checks[id];
    FILE *f = stdout;
    fputs("{\"check\":", f);
    nb_json_write_string(f, k->name);
    fputs(",\"status\":", f);
    nb_json_write_string(f, nb_check_status_name(k->status));
    nb_json_write_key_number(f, "value", k->value);
    fputs(",\"title\":", f);
    nb_json_write_string(f, k->title);
    fputs(",\"detail\":", f);
    nb_json_write_string(f, k->detail);
    fputs(",\"advice\":", f);
    nb_json_write_string(f, k->advice);
#define NUM(key, v) (fputs(",\"" key "\":", f), nb_json_write_number(f, (v)))
    switch (id) {
    case NB_DOC_INPUT_STATS:
        NUM("mean", rep->in_mean), NUM("std", rep->in_std), NUM("min", rep->in_min), NUM("max", rep->in_max);
        if (rep->raw) {
            NUM("raw_min", rep->raw->min / rep->raw->scale), NUM("raw_max", rep->raw->max / rep->raw->scale);
            NUM("raw_mean", rep->raw->mean), NUM("raw_std", rep->raw->std), NUM("raw_scale", rep->raw->scale);
        }
        break;
    case NB_DOC_CLASS_BALANCE:
        if (rep->raw) {
            fputs(",\"counts\":[", f);
            for (int c = 0; c < rep->raw->n_classes; c++) fprintf(f, "%s%zu", c ? "," : "", rep->raw->class_count[c]);
            fputc(']', f);
        }
        break;
    case NB_DOC_INITIAL_LOSS: NUM("expected", rep->expected_loss); break;
    case NB_DOC_GRAD_VANISHING:
    case NB_DOC_GRAD_EXPLODING: {
        int i = id == NB_DOC_GRAD_VANISHING ? rep->i_min_grad : rep->i_max_grad;
        fputs(",\"param\":", f);
        if (i >= 0) nb_json_write_string(f, rep->params[i].name);
        else fputs("null", f);
        NUM("first_last_ratio", rep->first_last_ratio);
        if (id == NB_DOC_GRAD_VANISHING) {
            fputs(",\"params\":[", f);
            for (size_t j = 0; j < rep->n_params; j++) {
                fputs(j ? ",{\"name\":" : "{\"name\":", f);
                nb_json_write_string(f, rep->params[j].name);
                NUM("grad_norm", rep->params[j].grad_norm), NUM("norm", rep->params[j].norm);
                fputc('}', f);
            }
            fputc(']', f);
        }
        break;
    }
    case NB_DOC_LOSS_DECREASES:
        NUM("first", rep->trend_first), NUM("last", rep->trend_last), NUM("max", rep->trend_max);
        NUM("update_ratio", rep->update_ratio);
        fprintf(f, ",\"nonfinite_step\":%d", rep->trend_nonfinite_step >= 0 ? rep->trend_nonfinite_step + 1 : -1);
        break;
    case NB_DOC_OVERFIT_BATCH: NUM("initial", rep->overfit_loss0), NUM("accuracy", rep->overfit_acc); break;
    case NB_DOC_ABOVE_CHANCE:
        NUM("chance", rep->chance), NUM("loss", rep->short_loss);
        fprintf(f, ",\"train_samples\":%zu,\"steps\":%zu,\"val_samples\":%zu", rep->short_samples, rep->short_steps,
                rep->val_samples);
        break;
    default: break;
    }
#undef NUM
    fputs("}\n", f);
}

static void nb__text_report(const nb_doctor_report *rep)
{
    static const char *const tag[] = {"PASS", "WARN", "FAIL"};
    for (int id = 0; id < NB_DOC__COUNT; id++) {
        const nb_doctor_check *k = &rep->checks[id];
        printf("%s  %-15s %-10.4g %s\n", tag[k->status], k->name, k->value, k->title);
        printf("      %s\n", k->detail);
        if (k->advice[0]) printf("      fix: %s\n", k->advice);
        if (id == NB_DOC_GRAD_EXPLODING && rep->n_params) {
            printf("      gradient norm at init, per parameter (norm of the parameter itself):\n");
            for (size_t j = 0; j < rep->n_params; j++)
                printf("        %-28s %10.3g   (%.3g)\n", rep->params[j].name, rep->params[j].grad_norm,
                       rep->params[j].norm);
        }
    }
    printf("\n%d pass, %d warn, %d fail", rep->n_pass, rep->n_warn, rep->n_fail);
    if (rep->first_fail >= 0) printf("; fix first: %s", rep->checks[rep->first_fail].name);
    printf("\n");
}

static int nb__diag_run(int argc, char **argv)
{
    const char *cmd = "diagnose";
    nb_run_cfg r;
    nb_run_defaults(&r);
    nb__diag_args da = {.o = nb_doctor_defaults()};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__diag_flags, &da), NB_RUN_FLAG_TABLE(&r)};
    int n_pos, k = nb_flags_parse(cmd, nb__diag_usage_full, tabs, 2, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected(cmd, argv[1]);
    nb_doctor_opts o = da.o;
    int shuffle_labels = da.shuffle_labels, no_normalize = da.no_normalize;
    if (nb_run_finish(cmd, &r)) return 2;
    if (r.tbptt) return nb_cli_usage_error(cmd, "--tbptt: only nabla train carries the states");
    nb_run_warn_futile(cmd, &r);

    nb_dataset *train = NULL, *test = NULL;
    if (r.text) { /* --text: its training and held-out windows */
        if (nb_run_text_data(cmd, &r, &train, &test)) return 2;
    } else if (nb_fashion_mnist_load(r.data, &train, &test)) {
        fprintf(stderr, "nabla diagnose: %s\n", nb_errmsg());
        return 2;
    }
    int rc = 1;
    nb_model *m = NULL;
    nb_doctor_report rep = {0};
    if (!r.text && (r.mlp.widths[0] != train->d || (int)r.mlp.widths[r.mlp.n_widths - 1] < train->n_classes)) {
        rc = nb_cli_usage_error(cmd, "--model %s does not fit the data (%zu features, %d classes)", r.model, train->d,
                                train->n_classes);
        goto out;
    }
    if (shuffle_labels) { /* Fisher-Yates over the labels: class counts stay, the pairing goes */
        nb_rng lr;
        nb_rng_seed(&lr, r.seed ^ 0x1abe15ULL);
        for (size_t i = train->n * nb_dataset_labels_per_sample(train) - 1; i > 0; i--) { /* --text: every step's */
            size_t j = (size_t)nb_rng_below(&lr, i + 1);
            int32_t t = train->y[i];
            train->y[i] = train->y[j];
            train->y[j] = t;
        }
    }
    if (no_normalize) { /* x' = (x/255 - 0)/(1/255): the raw pixel values */
        double std = train->kind == NB_DATA_U8 ? 1.0 / 255.0 : 1.0;
        train->mean = test->mean = 0;
        train->std = test->std = std;
    }
    nb_rng init_rng;
    nb_rng_seed(&init_rng, r.seed);
    if (!(m = nb_run_model(cmd, &r, &init_rng))) {
        rc = 2;
        goto out;
    }
    o.opt = r.opt;
    o.init = (int)r.init;
    o.batch = r.batch;
    o.seed = r.seed;
    o.step.clip_norm = r.clip_norm;
    o.step.clip_value = r.clip_value;
    if (r.limit_train) o.short_samples = r.limit_train;
    char desc[512];
    nb_model_describe(m, desc, sizeof desc);
    if (!r.json)
        printf("nabla diagnose: %s; %s lr %g, batch %zu, clip-norm %g%s%s\n\n", desc, r.opt_name, r.opt.lr, r.batch,
               r.clip_norm, shuffle_labels ? "; labels SHUFFLED" : "", no_normalize ? "; inputs NOT normalised" : "");
    fflush(stdout);
    if (nb_doctor_run(m, train, test, &o, &rep)) {
        fprintf(stderr, "nabla diagnose: %s\n", nb_errmsg());
        goto out;
    }
    if (r.json)
        for (int id = 0; id < NB_DOC__COUNT; id++) nb__json_check(&rep, id);
    else nb__text_report(&rep);
    rc = rep.n_fail ? 1 : 0;
out:
    nb_doctor_report_free(&rep);
    nb_model_free(m);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return rc;
}
