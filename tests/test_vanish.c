/* The vanishing/exploding-gradient lab: the library's measurements on small
 * deep MLPs (synthetic data, so they always run), and `nabla vanish` on the
 * real Fashion-MNIST (skipped without it). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"
#include "nabla/train.h"
#include "nabla/vanish.h"
#include "t.h"
#include "t_cli.h"

/* n samples of d features in C Gaussian blobs (unit noise around N(0,1)
 * centres): learnable, normalised, and instant to make. */
static nb_dataset *blobs(size_t n, size_t d, int C, uint64_t seed)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_F64, n, 1, (size_t[]){d}, C);
    double *mu = malloc((size_t)C * d * sizeof *mu);
    if (!ds || !mu) {
        free(mu);
        nb_dataset_free(ds);
        return NULL;
    }
    nb_rng r;
    nb_rng_seed(&r, 7); /* the same centres for train and test */
    for (size_t i = 0; i < (size_t)C * d; i++) mu[i] = nb_rng_normal(&r);
    nb_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int y = (int)(i % (size_t)C);
        ds->y[i] = y;
        for (size_t j = 0; j < d; j++) ds->xf[i * d + j] = mu[(size_t)y * d + j] + nb_rng_normal(&r);
    }
    free(mu);
    return ds;
}

/* The small test configuration: 10 Linear layers of width 32, SGD. */
static nb_vanish_config small(nb_act act, nb_init init, double std, int bn, int res, uint64_t seed)
{
    nb_vanish_config c = nb_vanish_defaults();
    c.depth = 10;
    c.width = 32;
    c.steps = 100;
    c.batch = 32;
    c.probe_batches = 2;
    c.act = act;
    c.init = init;
    c.init_std = std;
    c.batchnorm = bn;
    c.residual = res;
    c.seed = seed;
    return c;
}

/* Seeds 1-3 check the gradient profile at init (cheap); seed 1 also trains,
 * to check what the profile does to learning (this suite runs under
 * valgrind in CI, so it trains as little as it can). */
static int run(const nb_vanish_config *c, nb_vanish_result *r)
{
    static nb_dataset *train, *test;
    if (!train) {
        train = blobs(1024, 64, 10, 1);
        test = blobs(500, 64, 10, 2);
    }
    int rc = nb_vanish_run(c, train, test, r);
    if (rc) t_fail(__FILE__, __LINE__, "nb_vanish_run: %s", nb_errmsg());
    return rc;
}

TEST(vanish, defaults_are_the_documented_ones)
{
    nb_vanish_config c = nb_vanish_defaults();
    CHECK(c.depth == 20 && c.width == 64 && c.steps == 300 && c.batch == 64 && c.probe_batches == 4);
    CHECK(c.act == NB_ACT_RELU && c.init == NB_INIT_HE_NORMAL && c.init_std == 0.01 && !c.batchnorm && !c.residual &&
          c.clip_norm == 0);
    CHECK(c.opt.kind == NB_OPT_SGD && c.opt.lr == 0.01 && c.opt.momentum == 0.9 && c.dtype == NB_F32);
    CHECK(nb_vanish_validate(&c) == 0);
    char buf[64];
    c.act = NB_ACT_SIGMOID;
    c.init = NB_INIT_NORMAL;
    c.init_std = 0.01;
    c.batchnorm = c.residual = 1;
    c.clip_norm = 1;
    CHECK_MSG(!strcmp(nb_vanish_label(&c, buf, sizeof buf), "sigmoid normal(0.01) bn res clip 1"), "%s", buf);
}

/* Deep sigmoid with plain small init: every layer multiplies the backward
 * signal by ~ sqrt(32) * 0.01 * 1/4, so layer 1 sees ~1e-16 of layer 10. */
TEST(vanish, sigmoid_with_plain_init_vanishes)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        nb_vanish_config c = small(NB_ACT_SIGMOID, NB_INIT_NORMAL, 0.01, 0, 0, seed);
        if (seed > 1) c.steps = 0;
        nb_vanish_result r;
        if (run(&c, &r)) return;
        CHECK(r.depth == 10);
        CHECK_MSG(r.ratio_init < 1e-8 && r.ratio_init > 0, "seed %d: first/last = %g", (int)seed, r.ratio_init);
        CHECK_NEAR(r.ratio_init, r.grad_init[0] / r.grad_init[9], 1e-12);
        /* monotone: every layer's gradient is below the next one's */
        for (int k = 0; k + 1 < 9; k++) CHECK_MSG(r.grad_init[k] < r.grad_init[k + 1], "layer %d", k + 1);
        if (seed > 1) continue;
        CHECK(r.ratio_trained < 1e-8);                     /* training does not repair it */
        CHECK_MSG(r.test_acc < 0.3, "acc %g", r.test_acc); /* and it does not learn */
        CHECK(!r.exploded && r.steps_done == 100 && r.test_n == 500);
    }
}

/* ReLU + He, BatchNorm, and residual connections each keep layer 1's
 * gradient within a few orders of magnitude of the last layer's. */
TEST(vanish, relu_he_batchnorm_and_residual_do_not_vanish)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        nb_vanish_config plain = small(NB_ACT_SIGMOID, NB_INIT_NORMAL, 0.01, 0, 0, seed);
        nb_vanish_config cures[3] = {small(NB_ACT_RELU, NB_INIT_HE_NORMAL, 0, 0, 0, seed),
                                     small(NB_ACT_SIGMOID, NB_INIT_NORMAL, 0.01, 1, 0, seed),
                                     small(NB_ACT_SIGMOID, NB_INIT_NORMAL, 0.01, 0, 1, seed)};
        nb_vanish_result rp, r[3];
        if (seed > 1) plain.steps = cures[0].steps = cures[1].steps = cures[2].steps = 0;
        if (run(&plain, &rp)) return;
        for (int k = 0; k < 3; k++) {
            if (run(&cures[k], &r[k])) return;
            CHECK_MSG(r[k].ratio_init > 1e6 * rp.ratio_init, "cure %d seed %d: %g vs %g", k, (int)seed, r[k].ratio_init,
                      rp.ratio_init);
            CHECK_MSG(r[k].ratio_init < 20 && !r[k].exploded, "cure %d seed %d: %g", k, (int)seed, r[k].ratio_init);
        }
        /* relu+he and batchnorm: near 1 */
        CHECK_MSG(r[0].ratio_init > 0.05, "relu he: %g", r[0].ratio_init);
        CHECK_MSG(r[1].ratio_init > 0.05, "batchnorm: %g", r[1].ratio_init);
        /* residual: the skip path carries the signal; the output layer's input
         * (the growing residual stream) makes the last gradient ~100x larger */
        CHECK_MSG(r[2].ratio_init > 1e-3, "residual: %g", r[2].ratio_init);
        if (seed > 1) continue;
        /* relu+he and batchnorm learn what the vanishing net cannot */
        CHECK_MSG(r[0].test_acc > rp.test_acc + 0.4, "relu he acc %g vs %g", r[0].test_acc, rp.test_acc);
        CHECK_MSG(r[1].test_acc > rp.test_acc + 0.4, "batchnorm acc %g vs %g", r[1].test_acc, rp.test_acc);
    }
}

/* ReLU with N(0, 1) weights: the loss is ~1e6 at init and SGD diverges to
 * NaN/Inf within a few steps; clipping the norm to 1 keeps every update
 * within lr * clip / (1 - momentum) and the run finite. */
TEST(vanish, large_init_explodes_and_clipping_bounds_the_update)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        nb_vanish_config c = small(NB_ACT_RELU, NB_INIT_NORMAL, 1.0, 0, 0, seed);
        c.steps = 40;
        nb_vanish_result r;
        if (run(&c, &r)) return;
        CHECK_MSG(r.exploded && r.exploded_at >= 1 && r.exploded_at <= 10, "seed %d: exploded %d at %ld", (int)seed,
                  r.exploded, r.exploded_at);
        CHECK(r.steps_done == r.exploded_at - 1);
        CHECK_MSG(r.loss_init > 1e3, "loss at init %g", r.loss_init);
        c.clip_norm = 1.0;
        c.steps = 40;
        if (run(&c, &r)) return;
        double bound = c.opt.lr * c.clip_norm / (1 - c.opt.momentum);
        CHECK_MSG(!r.exploded && r.steps_done == 40 && isfinite(r.loss_last), "seed %d", (int)seed);
        CHECK_MSG(r.update_norm_max <= bound * (1 + 1e-4), "update %g > %g", r.update_norm_max, bound);
        CHECK(r.clipped_steps > 0 && r.grad_norm_max > 1e3);
        CHECK(r.loss_last < r.loss_first); /* and it learns */
        /* without momentum the bound is lr * clip itself */
        c.opt.momentum = 0;
        c.steps = 10;
        if (run(&c, &r)) return;
        CHECK_MSG(r.update_norm_max <= c.opt.lr * c.clip_norm * (1 + 1e-4) && r.update_norm_max > 0.5 * c.opt.lr,
                  "update %g", r.update_norm_max);
    }
}

/* The probe measures exactly the gradient autograd gives, in layer order,
 * and leaves the model as it was. */
TEST(vanish, probe_matches_autograd_and_leaves_the_model_alone)
{
    nb_mlp_config mc = {.act = NB_ACT_TANH, .batchnorm = 1, .residual = 1};
    CHECK_OK(nb_mlp_parse_widths(&mc, "6-5-5-5-3") == 0);
    nb_model *m = nb_mlp_new(NB_F64, &mc);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    CHECK_OK(m && nb_model_init(m, NB_INIT_XAVIER_NORMAL, 0, &rng) == 0);
    if (!m) return;
    double x[2 * 8 * 6];
    int32_t y[2 * 8];
    for (int i = 0; i < 2 * 8 * 6; i++) x[i] = nb_rng_normal(&rng);
    for (int i = 0; i < 2 * 8; i++) y[i] = i % 3;
    /* by hand: both batches, one after the other */
    nb_ctx *c = nb_ctx_new(NULL);
    double want[4] = {0}, loss_want = 0;
    const char *names[4] = {"layers.0.weight", "layers.3.block.0.weight", "layers.4.block.0.weight", "layers.5.weight"};
    for (int b = 0; b < 2; b++) {
        nb_tensor *xt = nb_from_data(c, NB_F64, 2, (size_t[]){8, 6}, x + b * 48, NB_BORROW);
        nb_tensor *yt = nb_from_data(c, NB_I32, 1, (size_t[]){8}, y + b * 8, NB_BORROW);
        nb_tensor *l = nb_cross_entropy(c, nb_model_forward(m, c, xt, NULL), yt, NB_MEAN, 0);
        CHECK_OK(l && nb_backward(c, l, NULL) == 0);
        loss_want += nb_item(l) / 2;
        for (int k = 0; k < 4; k++) {
            const nb_model_entry *e = nb_model_find(m, names[k]);
            CHECK_MSG(e != NULL, "no entry %s", names[k]);
            if (!e) continue;
            double s = 0;
            for (size_t j = 0; j < e->t->grad->numel; j++) s += nb_get(e->t->grad, j) * nb_get(e->t->grad, j);
            want[k] += sqrt(s) / 2;
        }
        nb_model_zero_grad(m);
        nb_ctx_reset(c);
    }
    /* the hand-made passes moved the BatchNorm statistics; snapshot now */
    size_t np = nb_model_n_params(m), nbuf = nb_model_n_buffer_values(m);
    double *p0 = malloc(np * sizeof *p0), *b0 = malloc(nbuf * sizeof *b0);
    memcpy(p0, nb_model_params(m), np * sizeof *p0);
    memcpy(b0, nb_model_buffers(m), nbuf * sizeof *b0);
    double got[8], loss;
    CHECK(nb_vanish_probe(m, c, x, y, 8, 2, got, 8, &loss) == 4);
    for (int k = 0; k < 4; k++) CHECK_NEAR(got[k], want[k], 1e-12);
    CHECK_NEAR(loss, loss_want, 1e-12);
    CHECK(!memcmp(p0, nb_model_params(m), np * sizeof *p0));
    CHECK_MSG(!memcmp(b0, nb_model_buffers(m), nbuf * sizeof *b0), "running statistics changed");
    /* gradients are left zeroed; short output arrays get the count anyway */
    double one;
    CHECK(nb_vanish_weight_grad_norms(m, &one, 1) == 4 && one == 0);
    CHECK(nb_vanish_probe(m, c, x, y, 8, 1, got, 2, NULL) == 4);
    free(p0);
    free(b0);
    nb_ctx_free(c);
    nb_model_free(m);
}

TEST(vanish, same_seed_same_numbers)
{
    nb_vanish_config c = small(NB_ACT_TANH, NB_INIT_XAVIER_NORMAL, 0, 1, 0, 5);
    c.steps = 10;
    nb_vanish_result a, b;
    if (run(&c, &a) || run(&c, &b)) return;
    a.seconds = b.seconds = 0;
    CHECK(!memcmp(&a, &b, sizeof a));
    c.seed = 6;
    if (run(&c, &b)) return;
    CHECK(a.grad_init[0] != b.grad_init[0]);
}

TEST(vanish, bad_configurations_are_refused)
{
    nb_vanish_config c;
    nb_vanish_result r;
    nb_dataset *tr = blobs(64, 8, 3, 1), *te = blobs(16, 9, 3, 2);
#define REFUSED(mutate, word)                                                                                 \
    do {                                                                                                      \
        c = small(NB_ACT_RELU, NB_INIT_HE_NORMAL, 0, 0, 0, 1);                                                \
        mutate;                                                                                               \
        CHECK_MSG(nb_vanish_validate(&c) == -1 && strstr(nb_errmsg(), word), "%s: %s", #mutate, nb_errmsg()); \
        CHECK(nb_vanish_run(&c, tr, NULL, &r) == -1 && strstr(nb_errmsg(), word));                            \
    } while (0)
    REFUSED(c.depth = 1, "depth");
    REFUSED(c.depth = NB_VANISH_MAX_DEPTH + 1, "depth");
    REFUSED(c.act = NB_ACT_NONE, "act");
    REFUSED(c.act = (nb_act)99, "act");
    REFUSED(c.init = (nb_init)99, "init");
    REFUSED((c.init = NB_INIT_NORMAL, c.init_std = 0), "init_std");
    REFUSED(c.width = 0, "width");
    REFUSED(c.batch = 1, "batch");
    REFUSED(c.probe_batches = 0, "probe_batches");
    REFUSED(c.steps = -1, "steps");
    REFUSED(c.clip_norm = -1, "clip_norm");
    REFUSED(c.clip_norm = NAN, "clip_norm");
    REFUSED(c.dtype = NB_I32, "dtype");
    REFUSED(c.opt.lr = -1, "lr");
#undef REFUSED
    c = small(NB_ACT_RELU, NB_INIT_HE_NORMAL, 0, 0, 0, 1);
    CHECK(nb_vanish_run(NULL, tr, NULL, &r) == -1);
    CHECK(nb_vanish_run(&c, NULL, NULL, &r) == -1);
    CHECK(nb_vanish_run(&c, tr, NULL, NULL) == -1);
    c.batch = 128; /* more than the 64 samples */
    CHECK(nb_vanish_run(&c, tr, NULL, &r) == -1 && strstr(nb_errmsg(), "batch"));
    c.batch = 16;
    CHECK(nb_vanish_run(&c, tr, te, &r) == -1 && strstr(nb_errmsg(), "features")); /* 9 vs 8 */
    c.steps = 2;
    CHECK_OK(nb_vanish_run(&c, tr, NULL, &r) == 0);
    CHECK(isnan(r.test_acc) && r.test_n == 0 && r.steps_done == 2);
    c.steps = 0; /* measure at init only */
    CHECK_OK(nb_vanish_run(&c, tr, NULL, &r) == 0);
    CHECK(r.steps_done == 0 && isnan(r.ratio_trained) && isnan(r.grad_trained[0]) && r.grad_init[0] > 0);
    CHECK(nb_vanish_weight_grad_norms(NULL, NULL, 0) == -1);
    CHECK(nb_vanish_probe(NULL, NULL, NULL, NULL, 0, 0, NULL, 0, NULL) == -1);
    nb_dataset_free(tr);
    nb_dataset_free(te);
}

/* ------------------------------------------------------------------ CLI */
static const char *tmpdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/nb_vanish_XXXXXX");
    return mkdtemp(buf);
}

/* Check one JSON line: the keys every configuration has. */
static void check_json_object(const char *line, size_t len, int depth)
{
    nb__json j;
    if (nb__json_parse(&j, line, len, &(nb__json_limits){0})) {
        t_fail(__FILE__, __LINE__, "not JSON (%s): %.*s", j.err, (int)len, line);
        return;
    }
    const nb__jval *o = &j.v[0];
    CHECK(o->type == NB__J_OBJ);
    static const char *const strs[] = {"act", "init", "config", "verdict"};
    static const char *const bools[] = {"batchnorm", "residual", "exploded"};
    static const char *const nums[] = {"depth",     "grad_norm_first", "grad_norm_last", "ratio",     "test_acc",
                                       "loss_init", "loss_last",       "grad_norm_max",  "steps_done"};
    for (int k = 0; k < 4; k++) {
        const nb__jval *v = nb__json_get(&j, o, strs[k]);
        CHECK_MSG(v && v->type == NB__J_STR, "key %s", strs[k]);
    }
    for (int k = 0; k < 3; k++) {
        const nb__jval *v = nb__json_get(&j, o, bools[k]);
        CHECK_MSG(v && v->type == NB__J_BOOL, "key %s", bools[k]);
    }
    for (int k = 0; k < 9; k++) {
        const nb__jval *v = nb__json_get(&j, o, nums[k]);
        CHECK_MSG(v && v->type == NB__J_NUM, "key %s: %.*s", nums[k], (int)len, line);
    }
    const nb__jval *d = nb__json_get(&j, o, "depth");
    CHECK(d && d->num == NB__JN_UINT && d->u == (uint64_t)depth);
    for (int t = 0; t < 2; t++) {
        const nb__jval *g = nb__json_get(&j, o, t ? "grad_norms_trained" : "grad_norms");
        CHECK_MSG(g && g->type == NB__J_ARR && g->n == (uint32_t)depth, "%s", t ? "grad_norms_trained" : "grad_norms");
        for (uint32_t k = g ? g->first : NB__J_NONE; k != NB__J_NONE; k = j.v[k].next)
            CHECK(j.v[k].type == NB__J_NUM || j.v[k].type == NB__J_NULL);
    }
    nb__json_free(&j);
}

/* The CNN lab on 8x8 images (blobs reshaped; avgpool2d(4) makes them 2x2):
 * 10 weight layers of 4 channels.  Sigmoid with plain init vanishes;
 * batchnorm2d and residual blocks keep the first conv's gradient within a
 * few orders of the last layer's; the norms are the conv kernels' and the
 * last Linear's, and the model is the one nb_vanish.h describes. */
TEST(vanish, cnn_plain_vanishes_batchnorm_and_residual_do_not)
{
    nb_dataset *flat[2] = {blobs(256, 64, 4, 1), blobs(100, 64, 4, 2)};
    nb_dataset *img[2] = {NULL, NULL};
    for (int i = 0; i < 2 && flat[i]; i++) {
        img[i] = nb_dataset_new(NB_DATA_F64, flat[i]->n, 2, (size_t[]){8, 8}, 4);
        if (!img[i]) break;
        memcpy(img[i]->xf, flat[i]->xf, flat[i]->n * 64 * sizeof(double));
        memcpy(img[i]->y, flat[i]->y, flat[i]->n * sizeof(int32_t));
    }
    CHECK_OK(img[0] && img[1]);
    double ratio[3] = {0};
    for (int k = 0; k < 3 && img[0] && img[1]; k++) {
        nb_vanish_config c = small(NB_ACT_SIGMOID, NB_INIT_NORMAL, 0.01, k == 1, k == 2, 1);
        c.conv = 4;
        c.steps = 2;
        nb_vanish_result r;
        if (nb_vanish_run(&c, img[0], img[1], &r)) {
            t_fail(__FILE__, __LINE__, "nb_vanish_run: %s", nb_errmsg());
            break;
        }
        CHECK(r.depth == 10 && r.steps_done == 2 && r.test_n == 100);
        ratio[k] = r.ratio_init;
        if (k == 0)
            for (int l = 0; l + 1 < 9; l++) CHECK_MSG(r.grad_init[l] < r.grad_init[l + 1], "layer %d", l + 1);
    }
    CHECK_MSG(ratio[0] > 0 && ratio[0] < 1e-8, "plain: %g", ratio[0]);
    CHECK_MSG(ratio[1] > 1e-3 && ratio[2] > 1e-4, "bn %g, res %g", ratio[1], ratio[2]);
    nb_vanish_config c = nb_vanish_defaults();
    c.conv = 8;
    c.batchnorm = 1;
    char buf[64];
    CHECK_MSG(!strcmp(nb_vanish_label(&c, buf, sizeof buf), "cnn8 relu he bn"), "%s", buf);
    c.conv = 5000;
    CHECK(nb_vanish_validate(&c) == -1 && strstr(nb_errmsg(), "conv"));
    c.conv = 4; /* not images: refused */
    nb_vanish_result r;
    CHECK(flat[0] && nb_vanish_run(&c, flat[0], NULL, &r) == -1 && strstr(nb_errmsg(), "images"));
    for (int i = 0; i < 2; i++) {
        nb_dataset_free(flat[i]);
        nb_dataset_free(img[i]);
    }
}

TEST(vanish, cli_conv_presets)
{
    if (!t_have_data()) return;
    char dir[64], args[512], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "vanish --conv 2 --depth 4 --steps 2 --eval 100 --probe-batches 1 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    CHECK_MSG(out && strstr(out, "|dW4|") && strstr(out, "cnn2 sigmoid normal(0.01) bn") &&
                  strstr(out, "cnn2 sigmoid normal(0.01) res") && strstr(out, "cnn2 relu torch") &&
                  strstr(out, "cnn2 relu he") && strstr(out, "wrote"),
              "%s", out ? out : "");
    free(out);
    char path[128], line[8192];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += strstr(line, "\"conv\":2") != NULL;
    if (f) fclose(f);
    CHECK_MSG(n == 7, "%d lines with conv 2", n);
    t_rmrf(dir);
}

TEST(vanish, cli_json_one_configuration)
{
    if (!t_have_data()) return;
    char dir[64], args[512], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args,
             "vanish --json --quiet --act sigmoid --init normal --depth 6 --width 16 --steps 5 --eval 300 --out %s",
             dir);
    CHECK(t_cli_run(args, &out) == 0);
    size_t len = out ? strlen(out) : 0;
    CHECK_MSG(len > 2 && out[len - 1] == '\n' && !strchr(out, '\n')[1], "one line expected: %s", out ? out : "");
    if (len > 2) check_json_object(out, len - 1, 6);
    CHECK(out && strstr(out, "\"act\":\"sigmoid\"") && strstr(out, "\"init\":\"normal\"") &&
          strstr(out, "\"init_std\":0.01") && strstr(out, "\"batchnorm\":false") && strstr(out, "\"test_n\":300"));
    /* a sigmoid net of 6 layers with N(0, 0.01^2) weights already vanishes */
    const char *ratio = out ? strstr(out, "\"ratio\":") : NULL;
    CHECK_MSG(ratio && atof(ratio + 8) < 1e-6, "%s", out ? out : "");
    free(out);
    t_rmrf(dir);
}

TEST(vanish, cli_presets_table_svg_and_jsonl)
{
    if (!t_have_data()) return;
    char dir[64], args[512], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "vanish --depth 4 --width 8 --steps 3 --eval 100 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    /* the table: a header and the eight presets, with verdicts */
    CHECK_MSG(out && strstr(out, "config") && strstr(out, "|dW1|") && strstr(out, "|dW4|") &&
                  strstr(out, "sigmoid normal(0.01)") && strstr(out, "sigmoid xavier") && strstr(out, "tanh xavier") &&
                  strstr(out, "relu he") && strstr(out, "sigmoid normal(0.01) bn") &&
                  strstr(out, "sigmoid normal(0.01) res") && strstr(out, "relu normal(0.2) clip 1") &&
                  strstr(out, "test acc") && strstr(out, "wrote"),
              "%s", out ? out : "");
    free(out);
    const char *files[] = {"grad_norms.svg", "grad_norms_trained.svg", "results.jsonl"};
    for (int i = 0; i < 3; i++) {
        char path[128], head[8] = "";
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "r");
        CHECK_MSG(f != NULL, "%s missing", path);
        if (!f) continue;
        if (i < 2) {
            CHECK(fread(head, 1, 4, f) == 4 && !memcmp(head, "<svg", 4));
        } else {
            char line[8192];
            int n = 0;
            while (fgets(line, sizeof line, f)) {
                check_json_object(line, strlen(line) - 1, 4);
                n++;
            }
            CHECK_MSG(n == 8, "%d lines", n);
        }
        fclose(f);
    }
    t_rmrf(dir);
}

TEST(vanish, cli_bad_flags_exit_2_naming_the_flag)
{
    const char *cases[][2] = {
        {"--depth 1", "--depth"},
        {"--depth 64", "--depth"},
        {"--act swish", "swish"},
        {"--init zeros", "zeros"},
        {"--init-std 0", "--init-std"},
        {"--steps -1", "--steps"},
        {"--width x", "--width"},
        {"--bogus", "--bogus"},
        {"--lr", "--lr"},
        {"--jobs 0", "--jobs"},
        {"--out /proc/nb-no", "/proc/nb-no"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[256], *out;
        snprintf(args, sizeof args, "vanish --quiet %s", cases[i][0]);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 2, "nabla %s: exit %d, output: %s", args, rc, out ? out : "");
        CHECK_MSG(out && strstr(out, cases[i][1]), "nabla %s: message does not name %s: %s", args, cases[i][1],
                  out ? out : "");
        free(out);
    }
    char *out, dir[64], args[256];
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "vanish --quiet --data %s --out %s/run", dir, dir);
    CHECK(t_cli_run(args, &out) == 2 && out && strstr(out, "apt-get install dataset-fashion-mnist"));
    free(out);
    t_rmrf(dir);
    CHECK(t_cli_run("help vanish", &out) == 0 && out && strstr(out, "--clip-norm") && strstr(out, "results.jsonl"));
    free(out);
    CHECK(t_cli_run("help", &out) == 0 && out && strstr(out, "vanish"));
    free(out);
}
