/* The training doctor: the library on synthetic blobs (fast), and `nabla
 * diagnose` on planted faults, each of which must be named by the right
 * check (it FAILs, and no check before it does). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/doctor.h"
#include "t.h"
#include "t_cli.h"

/* n samples of d features in C well-separated Gaussian blobs (class k has
 * mean 2.5 on feature k), std 1; labels cycle 0..C-1. */
static nb_dataset *blobs(size_t n, size_t d, int C, double scale, uint64_t seed)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_F64, n, 1, (size_t[]){d}, C);
    if (!ds) return NULL;
    nb_rng r;
    nb_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int k = (int)(i % (size_t)C);
        ds->y[i] = k;
        for (size_t j = 0; j < d; j++) ds->xf[i * d + j] = scale * (nb_rng_normal(&r) + (j == (size_t)k ? 2.5 : 0));
    }
    return ds;
}

static nb_model *mlp(size_t in, size_t hidden, size_t out, uint64_t seed)
{
    nb_mlp_config cfg = {.widths = {in, hidden, out}, .n_widths = 3, .act = NB_ACT_RELU};
    nb_model *m = nb_mlp_new(NB_F64, &cfg);
    nb_rng r;
    nb_rng_seed(&r, seed);
    if (m && nb_model_init(m, NB_INIT_TORCH, 0, &r)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

static nb_doctor_opts blob_opts(void)
{
    nb_doctor_opts o = nb_doctor_defaults();
    o.opt.lr = 1e-2;
    o.batch = 16;
    o.step.clip_norm = 1.0;
    return o;
}

static void print_report(const nb_doctor_report *rep)
{
    for (int i = 0; i < NB_DOC__COUNT; i++)
        printf("    %s %-15s %s | %s\n", nb_check_status_name(rep->checks[i].status), rep->checks[i].name,
               rep->checks[i].detail, rep->checks[i].advice);
}

TEST(doctor, healthy_blobs_pass_and_model_is_restored)
{
    nb_dataset *ds = blobs(600, 8, 3, 1.0, 7);
    nb_model *m = mlp(8, 16, 3, 1);
    CHECK_OK(ds && m);
    if (!ds || !m) goto done;
    size_t bytes = nb_model_n_params(m) * sizeof(double);
    void *before = malloc(bytes);
    memcpy(before, nb_model_params(m), bytes);
    nb_doctor_opts o = blob_opts();
    nb_doctor_report rep;
    CHECK_OK(nb_doctor_run(m, ds, NULL, &o, &rep) == 0);
    CHECK_MSG(rep.n_fail == 0 && rep.n_warn == 0, "%d fail, %d warn", rep.n_fail, rep.n_warn);
    if (rep.n_fail || rep.n_warn) print_report(&rep);
    CHECK(rep.first_fail == -1);
    CHECK(!memcmp(before, nb_model_params(m), bytes));
    /* the numbers behind the verdicts */
    CHECK_NEAR(rep.expected_loss, log(3.0), 1e-12);
    CHECK(rep.n_params == 4 && !strcmp(rep.params[0].name, "layers.0.weight"));
    CHECK(rep.overfit_acc == 1.0 && rep.short_acc > 0.8);
    CHECK(rep.val_samples == 120 && rep.short_samples == 480);
    CHECK(rep.raw && rep.raw->n_classes == 3 && rep.raw->min_class_count == 200);
    for (int i = 0; i < NB_DOC__COUNT; i++) CHECK(rep.checks[i].name && rep.checks[i].advice[0] == '\0');
    nb_doctor_report_free(&rep);
    free(before);
done:
    nb_model_free(m);
    nb_dataset_free(ds);
}

TEST(doctor, blobs_planted_faults)
{
    nb_doctor_opts o = blob_opts();
    nb_doctor_report rep;
    /* inputs x1000: the input check names it */
    nb_dataset *big = blobs(600, 8, 3, 1000.0, 7);
    nb_model *m = mlp(8, 16, 3, 1);
    CHECK_OK(big && m && nb_doctor_run(m, big, NULL, &o, &rep) == 0);
    CHECK(rep.checks[NB_DOC_INPUT_STATS].status == NB_CHECK_FAIL && rep.first_fail == NB_DOC_INPUT_STATS);
    CHECK(strstr(rep.checks[NB_DOC_INPUT_STATS].advice, "standardise") != NULL);
    nb_doctor_report_free(&rep);
    nb_dataset_free(big);
    /* labels unrelated to the inputs: accuracy at chance, named last */
    nb_dataset *ds = blobs(600, 8, 3, 1.0, 7);
    nb_rng r;
    nb_rng_seed(&r, 3);
    for (size_t i = 0; ds && i < ds->n; i++) ds->y[i] = (int32_t)nb_rng_below(&r, 3);
    CHECK_OK(ds && nb_doctor_run(m, ds, NULL, &o, &rep) == 0);
    CHECK_MSG(rep.first_fail == NB_DOC_ABOVE_CHANCE, "first fail %d", rep.first_fail);
    if (rep.first_fail != NB_DOC_ABOVE_CHANCE) print_report(&rep);
    nb_doctor_report_free(&rep);
    /* lr 1e-9 on the good data: loss_decreases says too small */
    nb_dataset_free(ds);
    ds = blobs(600, 8, 3, 1.0, 7);
    o.opt.lr = 1e-9;
    CHECK_OK(ds && nb_doctor_run(m, ds, NULL, &o, &rep) == 0);
    CHECK(rep.first_fail == NB_DOC_LOSS_DECREASES && strstr(rep.checks[NB_DOC_LOSS_DECREASES].advice, "too small"));
    if (rep.first_fail != NB_DOC_LOSS_DECREASES) print_report(&rep);
    CHECK(rep.update_ratio < 1e-4);
    nb_doctor_report_free(&rep);
    /* bad arguments: an error, not a report */
    CHECK(nb_doctor_run(NULL, ds, NULL, &o, &rep) == -1 && strstr(nb_errmsg(), "model"));
    nb_model *wide = mlp(9, 4, 3, 1);
    CHECK(nb_doctor_run(wide, ds, NULL, &o, &rep) == -1 && strstr(nb_errmsg(), "inputs"));
    nb_doctor_report_free(&rep);
    nb_doctor_report_free(NULL);
    CHECK(!strcmp(nb_check_status_name(NB_CHECK_WARN), "warn"));
    nb_model_free(wide);
    nb_model_free(m);
    nb_dataset_free(ds);
}

/* A net that is NaN before any update: the lr is not blamed anywhere; every
 * later check points back at the init. */
TEST(doctor, nan_at_init_is_not_the_lr)
{
    nb_doctor_opts o = blob_opts();
    nb_doctor_report rep;
    nb_dataset *ds = blobs(600, 8, 3, 1.0, 7);
    nb_model *m = mlp(8, 16, 3, 1);
    double *w = m ? nb_model_params(m) : NULL;
    if (w) w[0] = INFINITY; /* an init that overflowed: inf - inf and inf * 0 follow */
    CHECK_OK(ds && m && nb_doctor_run(m, ds, NULL, &o, &rep) == 0);
    CHECK_MSG(rep.first_fail == NB_DOC_LOSS_FINITE, "first fail %d", rep.first_fail);
    const char *ini = rep.checks[NB_DOC_INITIAL_LOSS].advice, *dec = rep.checks[NB_DOC_LOSS_DECREASES].advice;
    const char *fit = rep.checks[NB_DOC_OVERFIT_BATCH].advice;
    CHECK_MSG(strstr(ini, "see loss_finite") && !strstr(ini, "confidently"), "%s", ini);
    CHECK_MSG(rep.checks[NB_DOC_LOSS_DECREASES].status == NB_CHECK_FAIL && strstr(dec, "not the lr"), "%s", dec);
    CHECK_MSG(!strstr(fit, "lr is too large") && strstr(fit, "init"), "%s", fit);
    CHECK(rep.checks[NB_DOC_GRAD_VANISHING].status != NB_CHECK_PASS);
    if (rep.first_fail != NB_DOC_LOSS_FINITE) print_report(&rep);
    nb_doctor_report_free(&rep);
    nb_model_free(m);
    nb_dataset_free(ds);
}

/* ------------------------------------------------------------ the CLI */
static const char *const check_order[NB_DOC__COUNT] = {"input_stats",    "class_balance",  "loss_finite",
                                                       "initial_loss",   "grad_vanishing", "grad_exploding",
                                                       "loss_decreases", "overfit_batch",  "above_chance"};

/* The status of `check` in diagnose --json output: 'p', 'w', 'f', or 0. */
static char status_of(const char *out, const char *check)
{
    char key[64];
    snprintf(key, sizeof key, "{\"check\":\"%s\",\"status\":\"", check);
    const char *p = out ? strstr(out, key) : NULL;
    return p ? p[strlen(key)] : 0;
}

/* Run diagnose --json with flags; every check reported; `named` FAILs and no
 * check before it does (NULL: nothing fails).  Returns the output. */
static char *diagnose(const char *flags, const char *named, int want_rc)
{
    char args[1024], *out;
    snprintf(args, sizeof args, "diagnose --json %s", flags);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == want_rc, "nabla %s: exit %d:\n%s", args, rc, out ? out : "");
    int hit = 0;
    for (int i = 0; i < NB_DOC__COUNT; i++) {
        char st = status_of(out, check_order[i]);
        CHECK_MSG(st == 'p' || st == 'w' || st == 'f', "%s: no status for %s", flags, check_order[i]);
        if (named && !strcmp(check_order[i], named)) {
            CHECK_MSG(st == 'f', "%s: %s should FAIL:\n%s", flags, named, out ? out : "");
            hit = 1;
        } else if (!hit) {
            CHECK_MSG(st != 'f', "%s: %s FAILs before %s:\n%s", flags, check_order[i], named ? named : "-",
                      out ? out : "");
        }
    }
    return out;
}

TEST(doctor, cli_healthy_default_passes)
{
    if (!t_have_data()) return;
    char *out = diagnose("", NULL, 0);
    for (int i = 0; i < NB_DOC__COUNT; i++)
        CHECK_MSG(status_of(out, check_order[i]) == 'p', "%s is not PASS:\n%s", check_order[i], out ? out : "");
    /* one JSON object per line, with the fields the issue asks for */
    int lines = 0;
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        lines++;
        CHECK(l[0] == '{' && strstr(l, "\"value\":") && strstr(l, "\"advice\":") && strstr(l, "\"detail\":"));
    }
    CHECK(lines == NB_DOC__COUNT);
    CHECK(out && strstr(out, "\"params\":[{\"name\":\"layers.0.weight\",\"grad_norm\":"));
    free(out);
    /* the text form */
    CHECK(t_cli_run("diagnose", &out) == 0);
    CHECK(out && strstr(out, "PASS  overfit_batch") && strstr(out, "9 pass, 0 warn, 0 fail") && !strstr(out, "FAIL"));
    free(out);
}

TEST(doctor, cli_shuffled_labels_named_by_above_chance)
{
    if (!t_have_data()) return;
    char *out = diagnose("--shuffle-labels", "above_chance", 1);
    CHECK(status_of(out, "overfit_batch") == 'p'); /* the net can learn: it is the labels */
    CHECK(out && strstr(out, "labels"));
    free(out);
}

TEST(doctor, cli_lr_too_large_named_by_loss_decreases)
{
    if (!t_have_data()) return;
    char *out = diagnose("--lr 10", "loss_decreases", 1);
    CHECK(out && strstr(out, "too large"));
    free(out);
}

TEST(doctor, cli_lr_too_small_named_by_loss_decreases)
{
    if (!t_have_data()) return;
    char *out = diagnose("--lr 1e-9", "loss_decreases", 1);
    CHECK(out && strstr(out, "too small"));
    free(out);
}

TEST(doctor, cli_unnormalized_inputs_named_by_input_stats)
{
    if (!t_have_data()) return;
    char *out = diagnose("--no-normalize", "input_stats", 1);
    CHECK(out && strstr(out, "\"max\":255"));
    CHECK(status_of(out, "initial_loss") == 'f'); /* the symptom, named too */
    free(out);
}

TEST(doctor, cli_deep_sigmoid_named_by_grad_vanishing)
{
    if (!t_have_data()) return;
    char model[256] = "784";
    for (int i = 0; i < 19; i++) strcat(model, "-64");
    strcat(model, "-10");
    const char *inits[] = {"normal", "torch"};
    for (int k = 0; k < 2; k++) {
        char flags[400];
        snprintf(flags, sizeof flags, "--model %s --act sigmoid --init %s", model, inits[k]);
        char *out = diagnose(flags, "grad_vanishing", 1);
        CHECK(out && strstr(out, "\"param\":\"layers.0."));
        free(out);
    }
}

/* The advice for a deep sigmoid net names --residual; the same net with
 * --residual trains, so nothing FAILs, and no advice names what is already
 * in effect (--residual, torch init, clipping). */
TEST(doctor, cli_advice_never_names_what_is_in_effect)
{
    if (!t_have_data()) return;
    char model[256] = "784";
    for (int i = 0; i < 19; i++) strcat(model, "-64");
    strcat(model, "-10");
    char flags[400];
    snprintf(flags, sizeof flags, "--model %s --act sigmoid", model);
    char *out = diagnose(flags, "grad_vanishing", 1);
    CHECK(out && strstr(out, "add --residual") && strstr(out, "add --batchnorm"));
    free(out);
    snprintf(flags, sizeof flags, "--model %s --act sigmoid --residual", model);
    out = diagnose(flags, NULL, 0);
    CHECK_MSG(out && !strstr(out, "\"status\":\"fail\""), "%s", out ? out : "");
    CHECK_MSG(out && status_of(out, "loss_decreases") == 'p' && status_of(out, "overfit_batch") == 'p', "%s",
              out ? out : "");
    CHECK_MSG(out && !strstr(out, "add --residual") && !strstr(out, "--init torch") &&
                  !strstr(out, "torch or xavier") && !strstr(out, "clipping on"),
              "%s", out ? out : "");
    CHECK(out && strstr(out, "the net trains anyway"));
    free(out);
}

TEST(doctor, cli_usage)
{
    char *out;
    CHECK(t_cli_run("diagnose --no-such-flag", &out) == 2 && out && strstr(out, "--no-such-flag"));
    free(out);
    CHECK(t_cli_run("diagnose --trend-steps 1", &out) == 2 && out && strstr(out, "--trend-steps"));
    free(out);
    CHECK(t_cli_run("diagnose --lr", &out) == 2);
    free(out);
    CHECK(t_cli_run("help diagnose", &out) == 0 && out && strstr(out, "--shuffle-labels") && strstr(out, "--lr"));
    free(out);
}

/* The bias of a Linear that batchnorm follows gets a zero gradient by
 * construction: grad_vanishing leaves it out and names it as redundant. */
TEST(doctor, bias_before_batchnorm_is_not_a_vanishing_gradient)
{
    nb_dataset *ds = blobs(600, 8, 3, 1.0, 7);
    nb_model *m = nb_model_from_spec("linear(16) batchnorm1d relu linear(3)", NB_F64, 1, (size_t[]){8});
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK_OK(ds && m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    if (!ds || !m) goto done;
    nb_doctor_opts o = blob_opts();
    nb_doctor_report rep;
    CHECK_OK(nb_doctor_run(m, ds, NULL, &o, &rep) == 0);
    const nb_doctor_check *g = &rep.checks[NB_DOC_GRAD_VANISHING];
    CHECK_MSG(g->status == NB_CHECK_PASS, "%s | %s", g->detail, g->advice);
    CHECK_MSG(strstr(g->detail, "layers.0.bias left out") && strstr(g->detail, "redundant bias, use bias=0"), "%s",
              g->detail);
    int n_red = 0;
    for (size_t i = 0; i < rep.n_params; i++) {
        n_red += rep.params[i].redundant;
        if (rep.params[i].redundant)
            CHECK(!strcmp(rep.params[i].name, "layers.0.bias") && rep.params[i].grad_norm < 1e-6);
    }
    CHECK(n_red == 1 && rep.i_min_grad >= 0 && strcmp(rep.params[rep.i_min_grad].name, "layers.0.bias"));
    nb_doctor_report_free(&rep);
done:
    nb_model_free(m);
    nb_dataset_free(ds);
}
