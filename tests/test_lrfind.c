/* The LR finder: the suggestion rules on synthetic curves, the sweep's exact
 * restore of model, optimizer and RNG, and `nabla lr-find` end to end (its
 * suggestion must train the default MLP to >= 0.84 in one epoch). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nabla/lrfind.h"
#include "t.h"
#include "t_cli.h"

#define N 100

static void lr_grid(double *lr) /* 1e-7 .. 10, as the sweep's defaults */
{
    for (int i = 0; i < N; i++) lr[i] = 1e-7 * pow(1e8, i / (double)(N - 1));
}

/* Gentle fall (0..39), steep fall (40..69) with one steepest step 55->56,
 * gentle fall to the minimum at 79, then a rise. */
static void curve(double *s)
{
    for (int i = 0; i < N; i++) {
        if (i < 40) s[i] = 3.0 - 0.01 * i;
        else if (i < 70) s[i] = 2.6 - 0.05 * (i - 40) - (i > 55 ? 0.2 : 0);
        else if (i < 80) s[i] = s[69] - 0.01 * (i - 69);
        else s[i] = s[79] + 0.2 * (i - 79);
    }
}

TEST(lrfind, suggestions_on_a_known_curve)
{
    double lr[N], s[N];
    lr_grid(lr);
    curve(s);
    nb_lrfind_suggest g;
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, 0, 0, &g) == 0);
    CHECK(g.i_min == 79 && g.min10 == lr[79] / 10);
    CHECK(g.i_steepest == 55 && g.steepest == lr[55]);
    /* the valley runs from 0 to the minimum; two thirds down is 0 + 79*2/3 */
    CHECK(g.valley_start == 0 && g.valley_end == 79);
    CHECK(g.i_valley == 52 && g.valley == lr[52]);
    /* default skips: the first 10% and the last 5 points */
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, -1, 5, &g) == 0);
    CHECK(g.valley_start == 10 && g.valley_end == 79 && g.i_valley == 10 + (2 * 69) / 3);
}

TEST(lrfind, valley_survives_bumps_and_skips_divergence)
{
    double lr[N], s[N];
    lr_grid(lr);
    curve(s);
    s[20] += 0.05; /* a noise bump: the longest decreasing subsequence steps over it */
    s[60] += 0.03;
    nb_lrfind_suggest g;
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, 0, 0, &g) == 0);
    CHECK_MSG(g.valley_start == 0 && g.valley_end == 79, "valley %d..%d", g.valley_start, g.valley_end);
    CHECK(g.i_valley == 52);
    /* a lower point inside the last 5 (the divergence tail) is not the minimum */
    s[97] = 0.1;
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, -1, 5, &g) == 0);
    CHECK(g.i_min == 79);
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, 0, 0, &g) == 0);
    CHECK(g.i_min == 97);
    /* non-finite points are ignored */
    s[97] = NAN;
    s[30] = INFINITY;
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, 0, 0, &g) == 0);
    CHECK(g.i_min == 79 && g.i_steepest == 55 && g.valley_start == 0);
}

TEST(lrfind, short_and_degenerate_curves)
{
    double lr[N], s[N];
    lr_grid(lr);
    curve(s);
    nb_lrfind_suggest g;
    /* 6 points: the default skips would leave too few, so they are dropped */
    CHECK_OK(nb_lrfind_suggest_from(lr + 40, s + 40, 6, -1, 5, &g) == 0);
    CHECK(g.valley_start == 0 && g.valley_end == 5 && g.i_min == 5);
    /* one point: no suggestion */
    CHECK(nb_lrfind_suggest_from(lr, s, 1, 0, 0, &g) == -1);
    CHECK(isnan(g.valley) && g.i_valley == -1 && isnan(g.steepest) && isnan(g.min10));
    /* a flat curve: every rule still answers inside the curve */
    for (int i = 0; i < N; i++) s[i] = 2.3;
    CHECK_OK(nb_lrfind_suggest_from(lr, s, N, -1, 5, &g) == 0);
    CHECK(g.i_valley >= 10 && g.i_valley < 95 && g.i_min >= 10 && g.i_steepest >= 10);
    CHECK(nb_lrfind_suggest_from(NULL, s, N, 0, 0, &g) == -1);
}

/* n samples of 8 features in 3 Gaussian blobs. */
static nb_dataset *blobs(size_t n)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_F64, n, 1, (size_t[]){8}, 3);
    nb_rng r;
    nb_rng_seed(&r, 11);
    for (size_t i = 0; ds && i < n; i++) {
        ds->y[i] = (int32_t)(i % 3);
        for (size_t j = 0; j < 8; j++) ds->xf[i * 8 + j] = nb_rng_normal(&r) + (j == i % 3 ? 2.0 : 0);
    }
    return ds;
}

/* BatchNorm (buffers) and dropout (the RNG), f32. */
static nb_model *model(void)
{
    nb_mlp_config cfg = {.widths = {8, 16, 3}, .n_widths = 3, .act = NB_ACT_RELU, .batchnorm = 1, .dropout = 0.2};
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    nb_rng r;
    nb_rng_seed(&r, 5);
    if (m) nb_model_init(m, NB_INIT_TORCH, 0, &r);
    return m;
}

/* k training steps on the first k batches of ds */
static void train(nb_model *m, nb_optim *o, const nb_dataset *ds, nb_rng *rng, int k)
{
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 20, .shuffle = 1, .seed = 2});
    nb_ctx *c = nb_ctx_new(NULL);
    float x[20 * 8];
    int32_t y[20];
    nb_batch b = {.x = x, .dtype = NB_F32, .y = y};
    nb_step_opts so = {.clip_norm = 1.0, .rng = rng};
    for (int i = 0; i < k && nb_loader_next(l, &b) == 1; i++) {
        nb_step_result sr;
        CHECK_OK(nb_train_step(m, o, c, x, y, b.n, &so, &sr) == 0);
    }
    nb_ctx_free(c);
    nb_loader_free(l);
}

TEST(lrfind, sweep_restores_model_optimizer_and_rng_bitwise)
{
    nb_dataset *ds = blobs(300);
    nb_model *m = model(), *twin = model();
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_optim *o2 = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    CHECK_OK(ds && m && twin && o && o2);
    if (!ds || !m || !twin || !o || !o2) return;
    nb_rng rng, rng2;
    nb_rng_seed(&rng, 9);
    nb_rng_seed(&rng2, 9);
    /* some history first, so the optimizer state and buffers are not trivial */
    train(m, o, ds, &rng, 5);
    train(twin, o2, ds, &rng2, 5);
    size_t pb = nb_model_n_params(m) * sizeof(float), bb = nb_model_n_buffer_values(m) * sizeof(float);
    void *p0 = malloc(pb), *g0 = malloc(pb), *b0 = malloc(bb), *ea0 = malloc(pb), *es0 = malloc(pb);
    memcpy(p0, nb_model_params(m), pb);
    memcpy(g0, nb_model_grads(m), pb);
    memcpy(b0, nb_model_buffers(m), bb);
    memcpy(ea0, nb_optim_state_get(o, "exp_avg"), pb);
    memcpy(es0, nb_optim_state_get(o, "exp_avg_sq"), pb);
    nb_rng r0 = rng;
    int64_t steps0 = nb_optim_steps(o);

    nb_lrfind_opts lo = nb_lrfind_defaults();
    lo.batch = 20;
    lo.step.clip_norm = 1.0;
    nb_lrfind_result res;
    CHECK_OK(nb_lrfind(m, o, ds, &rng, &lo, &res) == 0);
    CHECK(res.n >= 20 && res.n <= 100);
    CHECK(res.lr[0] == 1e-7 && res.smooth[0] == res.loss[0]); /* bias correction: the first point is its loss */
    CHECK(isfinite(res.s.valley) && res.s.valley > 1e-7 && res.s.valley < 10);
    if (res.diverged) CHECK(res.smooth[res.n - 1] > 4 * res.best || !isfinite(res.smooth[res.n - 1]));
    /* bias-corrected EMA, recomputed */
    double avg = 0;
    for (size_t i = 0; i < res.n; i++) {
        avg = 0.98 * avg + 0.02 * res.loss[i];
        CHECK_NEAR(res.smooth[i], avg / (1 - pow(0.98, (double)i + 1)), 1e-12);
    }
    nb_lrfind_result_free(&res);
    CHECK(res.lr == NULL && res.n == 0);

    CHECK(!memcmp(p0, nb_model_params(m), pb));
    CHECK(!memcmp(g0, nb_model_grads(m), pb));
    CHECK(!memcmp(b0, nb_model_buffers(m), bb));
    CHECK(!memcmp(ea0, nb_optim_state_get(o, "exp_avg"), pb));
    CHECK(!memcmp(es0, nb_optim_state_get(o, "exp_avg_sq"), pb));
    CHECK(nb_optim_steps(o) == steps0 && nb_optim_lr(o) == oc.lr);
    CHECK(!memcmp(r0.s, rng.s, sizeof rng.s) && r0.has_spare == rng.has_spare &&
          (!r0.has_spare || !memcmp(&r0.spare, &rng.spare, sizeof rng.spare)));
    /* and training goes on exactly as if the sweep never ran */
    train(m, o, ds, &rng, 7);
    train(twin, o2, ds, &rng2, 7);
    CHECK(!memcmp(nb_model_params(m), nb_model_params(twin), pb));
    CHECK(!memcmp(nb_model_buffers(m), nb_model_buffers(twin), bb));

    /* errors leave everything in place too */
    lo.lr_end = lo.lr_start;
    CHECK(nb_lrfind(m, o, ds, &rng, &lo, &res) == -1 && strstr(nb_errmsg(), "lr_start"));
    nb_lrfind_result_free(&res);
    CHECK(nb_lrfind(m, o2, NULL, &rng, NULL, &res) == -1);
    free(p0), free(g0), free(b0), free(ea0), free(es0);
    nb_optim_free(o);
    nb_optim_free(o2);
    nb_model_free(m);
    nb_model_free(twin);
    nb_dataset_free(ds);
}

/* ------------------------------------------------------------ the CLI */
static double json_num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

/* The done-criterion: lr-find's suggestion trains the default Adam MLP to
 * >= 0.84 test accuracy in one epoch. */
TEST(lrfind, cli_suggestion_trains_to_084_in_one_epoch)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_lrfind_XXXXXX", args[600], path[600], *out;
    CHECK(mkdtemp(dir));
    snprintf(args, sizeof args, "lr-find --json --out %s/lr", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out ? out : "");
    double lr = json_num(out, "suggested");
    CHECK_MSG(lr > 1e-5 && lr < 1e-1, "suggested %g:\n%s", lr, out ? out : "");
    CHECK(json_num(out, "valley") == lr && json_num(out, "steepest") > 0 && json_num(out, "min10") > 0);
    CHECK(out && strstr(out, "\"diverged\":true"));
    free(out);
    /* the CSV and the plot */
    snprintf(path, sizeof path, "%s/lr/lr_find.csv", dir);
    FILE *f = fopen(path, "r");
    char line[256];
    int rows = 0;
    CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "lr,loss,smoothed\n"));
    while (f && fgets(line, sizeof line, f)) rows++;
    if (f) fclose(f);
    CHECK_MSG(rows >= 50 && rows <= 100, "%d rows", rows);
    snprintf(path, sizeof path, "%s/lr/lr_find.svg", dir);
    f = fopen(path, "r");
    CHECK(f && fgets(line, sizeof line, f) && !strncmp(line, "<svg", 4));
    if (f) fclose(f);
    /* train one epoch at the suggestion */
    snprintf(args, sizeof args, "train --epochs 1 --lr %.17g --json --quiet --out %s/train", lr, dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out ? out : "");
    const char *done = out ? strstr(out, "{\"event\":\"done\"") : NULL;
    double acc = json_num(done, "test_acc");
    printf("  lr-find suggested %.3g; one epoch: test acc %.4f\n", lr, acc);
    CHECK_MSG(acc >= 0.84, "test acc %g at lr %g", acc, lr);
    free(out);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
}

TEST(lrfind, cli_usage)
{
    char *out;
    CHECK(t_cli_run("lr-find --start 1 --end 0.1", &out) == 2 && out && strstr(out, "--start"));
    free(out);
    CHECK(t_cli_run("lr-find --steps 1", &out) == 2 && out && strstr(out, "--steps"));
    free(out);
    CHECK(t_cli_run("lr-find --beta 1", &out) == 2 && out && strstr(out, "--beta"));
    free(out);
    CHECK(t_cli_run("lr-find --bogus", &out) == 2 && out && strstr(out, "--bogus"));
    free(out);
    CHECK(t_cli_run("help lr-find", &out) == 0 && out && strstr(out, "valley") && strstr(out, "--opt"));
    free(out);
}

/* A sweep whose loss never falls (rates far too small to move anything)
 * suggests nothing, says why, and points to diagnose. */
TEST(lrfind, cli_no_descent_suggests_nothing)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_lrfind_XXXXXX", args[600], *out;
    CHECK(mkdtemp(dir));
    snprintf(args, sizeof args, "lr-find --json --start 1e-12 --end 1e-11 --steps 30 --limit-train 2000 --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out ? out : "");
    CHECK_MSG(out && strstr(out, "\"suggested\":null") && strstr(out, "\"no_descent\":true") &&
                  strstr(out, "\"reason\":\"the loss never fell") && strstr(out, "nabla diagnose"),
              "%s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, "lr-find --start 1e-12 --end 1e-11 --steps 30 --limit-train 2000 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    CHECK_MSG(out && strstr(out, "no suggestion") && strstr(out, "next: nabla diagnose") &&
                  !strstr(out, "nabla train --lr"),
              "%s", out ? out : "");
    free(out);
    /* a healthy sweep still suggests, and a setting that cannot learn is warned about */
    snprintf(args, sizeof args, "lr-find --json --steps 40 --limit-train 2000 --clip-norm 1e-9 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    CHECK_MSG(out && strstr(out, "warning: --clip-norm 1e-09"), "%s", out ? out : "");
    free(out);
    t_rmrf(dir);
}
