/* Vanishing and exploding gradients through time: the adding problem, the
 * unrolled measurement against the fused op, the library's runs on short
 * sequences and `nabla vanish --time` (synthetic data: always runs). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"
#include "nabla/vanish.h"
#include "t.h"
#include "t_cli.h"

TEST(vanish_time, adding_problem_has_two_markers_and_their_sum)
{
    enum { N = 200, T = 9 };
    static double x[N * T * 2], y[N];
    static float xf[N * T * 2], yf[N];
    nb_rng r, rf;
    nb_rng_seed(&r, 3);
    nb_rng_seed(&rf, 3);
    CHECK_OK(nb_adding_problem(&r, N, T, NB_F64, x, y) == 0);
    CHECK_OK(nb_adding_problem(&rf, N, T, NB_F32, xf, yf) == 0);
    double mean = 0;
    for (int i = 0; i < N; i++) {
        int n_marks = 0, first = -1, last = -1;
        double sum = 0;
        for (int t = 0; t < T; t++) {
            const double *s = &x[(i * T + t) * 2];
            CHECK(s[0] >= 0 && s[0] < 1 && (s[1] == 0 || s[1] == 1));
            CHECK(xf[(i * T + t) * 2] == (float)s[0] && xf[(i * T + t) * 2 + 1] == (float)s[1]);
            if (s[1] == 1) {
                n_marks++;
                sum += s[0];
                if (first < 0) first = t;
                last = t;
            }
        }
        CHECK_MSG(n_marks == 2 && first < T / 2 && last >= T / 2, "sequence %d: %d markers at %d, %d", i, n_marks,
                  first, last);
        CHECK(y[i] == sum && yf[i] == (float)sum);
        mean += y[i] / N;
    }
    CHECK_NEAR(mean, 1.0, 0.1); /* the sum of two U[0, 1) */
    CHECK(nb_adding_problem(&r, N, 1, NB_F64, x, y) == -1);
    CHECK(nb_adding_problem(NULL, N, T, NB_F64, x, y) == -1);
    CHECK(nb_adding_problem(&r, N, T, NB_I32, x, y) == -1);
}

/* The measurement unrolls the sequence into T calls of the op with T = 1;
 * that must be the fused op exactly: the same last hidden state and the
 * same parameter gradients, for every cell. */
static nb_tensor *cell_call(nb_ctx *c, int cell, nb_tensor *x, nb_tensor *const *p, nb_tensor *h0, nb_tensor *c0,
                            nb_tensor **h_n, nb_tensor **c_n)
{
    if (cell == NB_VT_LSTM) return nb_lstm(c, x, p[0], p[1], p[2], p[3], h0, c0, h_n, c_n);
    if (cell == NB_VT_GRU) return nb_gru(c, x, p[0], p[1], p[2], p[3], h0, h_n);
    return nb_rnn(c, x, p[0], p[1], p[2], p[3], h0, NB_ACT_TANH, h_n);
}

TEST(vanish_time, unrolled_steps_equal_the_fused_op)
{
    enum { N = 3, T = 6, F = 2, H = 4 };
    for (int cell = 0; cell < NB_VT__COUNT; cell++) {
        const size_t G = cell == NB_VT_LSTM ? 4 : cell == NB_VT_GRU ? 3 : 1;
        nb_rng r;
        nb_rng_seed(&r, 11);
        nb_tensor *p[4] = {nb_tensor_new(NB_F64, 2, (size_t[]){G * H, F}),
                           nb_tensor_new(NB_F64, 2, (size_t[]){G * H, H}), nb_tensor_new(NB_F64, 1, (size_t[]){G * H}),
                           nb_tensor_new(NB_F64, 1, (size_t[]){G * H})};
        double grads[2][4][64 * 4];
        double last[2][N * H];
        nb_ctx *c = nb_ctx_new(NULL);
        for (int i = 0; i < 4; i++) {
            nb_fill_uniform(p[i], -0.8, 0.8, &r);
            nb_tensor_set_requires_grad(p[i], 1);
        }
        nb_tensor *x = nb_uniform(c, NB_F64, 3, (size_t[]){N, T, F}, 0, 1, &r);
        for (int unrolled = 0; unrolled < 2; unrolled++) {
            nb_tensor *h = NULL, *cs = NULL;
            if (!unrolled) cell_call(c, cell, x, p, NULL, NULL, &h, NULL);
            for (int t = 0; unrolled && t < T; t++) {
                nb_tensor *h_n = NULL, *c_n = NULL;
                cell_call(c, cell, nb_slice(c, x, 1, (size_t)t, (size_t)t + 1), p, h, cs, &h_n,
                          cell == NB_VT_LSTM ? &c_n : NULL);
                h = h_n;
                cs = c_n;
            }
            /* a loss that reads every unit of the last state, unevenly */
            nb_tensor *w = nb_arange(c, NB_F64, 1, 1 + N * H, 1);
            nb_tensor *l = nb_sum(c, nb_mul(c, nb_reshape(c, h, 1, (long[]){N * H}), w), NULL, 0, 0);
            CHECK_OK(l && nb_backward(c, l, NULL) == 0);
            for (int k = 0; h && k < N * H; k++) last[unrolled][k] = nb_get(h, (size_t)k);
            for (int i = 0; i < 4; i++) {
                for (size_t k = 0; p[i]->grad && k < p[i]->numel; k++) grads[unrolled][i][k] = nb_get(p[i]->grad, k);
                nb_zero_grad(p[i]);
            }
        }
        for (int k = 0; k < N * H; k++) CHECK_NEAR(last[1][k], last[0][k], 1e-13);
        for (int i = 0; i < 4; i++)
            for (size_t k = 0; k < p[i]->numel; k++)
                CHECK_MSG(t_close(grads[1][i][k], grads[0][i][k], 1e-12, 1e-10), "%s param %d [%zu]: %.17g vs %.17g",
                          nb_vt_cell_name((nb_vt_cell)cell), i, k, grads[1][i][k], grads[0][i][k]);
        nb_ctx_free(c);
        for (int i = 0; i < 4; i++) nb_tensor_free(p[i]);
    }
}

TEST(vanish_time, defaults_and_validation)
{
    nb_vanish_time_config c = nb_vanish_time_defaults();
    CHECK(c.cell == NB_VT_LSTM && c.T == 100 && c.hidden == 32 && c.steps == 1500 && c.batch == 32 &&
          c.test_n == 1000 && c.opt.kind == NB_OPT_ADAM && c.opt.lr == 0.01 && c.clip_norm == 0 && c.hh_scale == 1 &&
          c.gate_bias == 3 && c.solved_below == 0.01 && c.dtype == NB_F32);
    CHECK(nb_vanish_time_validate(&c) == 0);
    CHECK(!strcmp(nb_vt_cell_name(NB_VT_GRU), "gru") && nb_vt_cell_parse("rnn") == NB_VT_RNN &&
          nb_vt_cell_parse("lstm") == NB_VT_LSTM && nb_vt_cell_parse("tanh") == -1);
    struct {
        nb_vanish_time_config c;
        const char *word;
    } bad[6];
    for (int i = 0; i < 6; i++) bad[i].c = c;
    bad[0].c.T = 1, bad[0].word = "T 1";
    bad[1].c.hidden = 0, bad[1].word = "hidden";
    bad[2].c.clip_norm = -1, bad[2].word = "clip_norm";
    bad[3].c.cell = NB_VT__COUNT, bad[3].word = "cell";
    bad[4].c.batch = 0, bad[4].word = "batch";
    bad[5].c.opt.lr = -1, bad[5].word = "lr";
    for (int i = 0; i < 6; i++) {
        nb_vanish_time_result r;
        CHECK_MSG(nb_vanish_time_run(&bad[i].c, &r) == -1 && strstr(nb_errmsg(), bad[i].word), "%s: %s", bad[i].word,
                  nb_errmsg());
    }
}

/* At T = 50 the rnn's gradient at the first step is orders of magnitude
 * below the lstm's (PyTorch's init: ~0.5 kept per step; the lstm's forget
 * gate with gate_bias 3: ~0.95). */
TEST(vanish_time, rnn_vanishes_where_the_lstm_keeps_the_gradient)
{
    nb_vanish_time_config c = nb_vanish_time_defaults();
    c.T = 50;
    c.steps = 0;
    c.test_n = 64;
    nb_vanish_time_result rnn, lstm;
    c.cell = NB_VT_RNN;
    CHECK_OK(nb_vanish_time_run(&c, &rnn) == 0);
    c.cell = NB_VT_LSTM;
    CHECK_OK(nb_vanish_time_run(&c, &lstm) == 0);
    CHECK(rnn.T == 50 && lstm.T == 50 && rnn.steps_done == 0 && !rnn.exploded);
    for (int t = 0; t < 50; t++) CHECK(rnn.grad_norms[t] > 0 && lstm.grad_norms[t] > 0);
    CHECK(rnn.grad_norm_first == rnn.grad_norms[0] && rnn.grad_norm_last == rnn.grad_norms[49]);
    CHECK_MSG(rnn.ratio < 1e-8 && lstm.ratio > 1e-2 && rnn.ratio < 1e-6 * lstm.ratio, "rnn %g, lstm %g", rnn.ratio,
              lstm.ratio);
    /* untrained, both predict about nothing: the loss is far above the threshold */
    CHECK(rnn.loss_init > 0.1 && !rnn.solved && isfinite(lstm.final_loss));
}

TEST(vanish_time, large_recurrent_init_explodes_and_clipping_keeps_it_finite)
{
    nb_vanish_time_config c = nb_vanish_time_defaults();
    c.cell = NB_VT_RNN;
    c.T = 20;
    c.hh_scale = 8;
    c.steps = 20;
    c.test_n = 64;
    c.clip_norm = 1;
    nb_vanish_time_result r;
    CHECK_OK(nb_vanish_time_run(&c, &r) == 0);
    CHECK_MSG(r.ratio > 1e3 && r.grad_norms[0] > r.grad_norms[10] && r.grad_norms[10] > r.grad_norms[19], "ratio %g",
              r.ratio);
    CHECK(!r.exploded && r.steps_done == 20 && r.clipped_steps == 20 && r.grad_norm_max > 1e3);
    CHECK(isfinite(r.final_loss) && isfinite(r.loss_last));
}

/* ------------------------------------------------------------------ CLI */
static double num(const nb__json *j, const nb__jval *o, const char *line, const char *key)
{
    const nb__jval *v = nb__json_get(j, o, key);
    CHECK_MSG(v && v->type == NB__J_NUM, "key %s", key);
    return v && v->type == NB__J_NUM ? strtod(line + v->pos, NULL) : NAN;
}

TEST(vanish_time, cli_json_rows_keys_and_svgs)
{
    char dir[64] = "/tmp/nb_vtime_XXXXXX", args[512], *out;
    CHECK(mkdtemp(dir));
    snprintf(args, sizeof args, "vanish --time --json --quiet --T 8,50 --steps 15 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    /* 2 lengths x 3 cells, then rnn x8 and rnn x8 clip 1 at T = 50 */
    int n = 0;
    double ratio[2][NB_VT__COUNT] = {{0}};
    for (char *line = out, *end; line && (end = strchr(line, '\n')); line = end + 1, n++) {
        nb__json j;
        if (nb__json_parse(&j, line, (size_t)(end - line), &(nb__json_limits){0})) {
            t_fail(__FILE__, __LINE__, "not JSON (%s): %.*s", j.err, (int)(end - line), line);
            continue;
        }
        const nb__jval *o = &j.v[0], *cell = nb__json_get(&j, o, "cell"), *g = nb__json_get(&j, o, "grad_norms");
        const nb__jval *solved = nb__json_get(&j, o, "solved"), *cfg = nb__json_get(&j, o, "config");
        int T = (int)num(&j, o, line, "T");
        double first = num(&j, o, line, "grad_norm_first_step"), last = num(&j, o, line, "grad_norm_last_step");
        num(&j, o, line, "final_loss");
        CHECK(cell && cell->type == NB__J_STR && solved && solved->type == NB__J_BOOL && cfg);
        CHECK_MSG(g && g->type == NB__J_ARR && g->n == (uint32_t)T, "grad_norms has %u entries, T = %d", g ? g->n : 0,
                  T);
        CHECK(T == (n < 3 ? 8 : 50));
        int k = cell ? nb_vt_cell_parse(nb__jstr(&j, cell)) : -1;
        if (n < 6 && k >= 0) ratio[n / 3][k] = first / last;
        if (n >= 6) {
            const nb__jval *ex = nb__json_get(&j, o, "exploded");
            CHECK(k == NB_VT_RNN && ex && ex->type == NB__J_BOOL && !ex->boolean);
            CHECK_MSG(first / last > 1e6, "%.*s", (int)(end - line), line);
            CHECK(!strcmp(nb__jstr(&j, cfg), n == 6 ? "rnn x8" : "rnn x8 clip 1"));
            CHECK_MSG(isfinite(num(&j, o, line, "final_loss")), "%.*s", (int)(end - line), line);
        }
        nb__json_free(&j);
    }
    CHECK_MSG(n == 8, "%d lines: %s", n, out ? out : "");
    CHECK_MSG(ratio[1][NB_VT_RNN] < 1e-6 * ratio[1][NB_VT_LSTM], "T=50: rnn %g, lstm %g", ratio[1][NB_VT_RNN],
              ratio[1][NB_VT_LSTM]);
    free(out);
    const char *files[] = {"grad_norms_T8.svg", "grad_norms_T50.svg", "results.jsonl"};
    for (int i = 0; i < 3; i++) {
        char path[128], head[8] = "";
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "r");
        CHECK_MSG(f != NULL, "%s missing", path);
        if (!f) continue;
        CHECK(fread(head, 1, 4, f) == 4 && !memcmp(head, i < 2 ? "<svg" : "{\"ce", 4));
        fclose(f);
    }
    t_rmrf(dir);
}

TEST(vanish_time, cli_table_and_bad_flags)
{
    char *out;
    CHECK(t_cli_run("vanish --time --quiet --T 6 --cells lstm,gru --steps 0 --rnn-init-scale 2 --out /tmp/nb_vt_tab",
                    &out) == 0);
    CHECK_MSG(out && strstr(out, "|dL/dh_1|") && strstr(out, "lstm x2") && strstr(out, "gru x2") &&
                  strstr(out, "not trained") && !strstr(out, "rnn"),
              "%s", out ? out : "");
    free(out);
    t_rmrf("/tmp/nb_vt_tab");
    const char *cases[][2] = {
        {"--T 1", "--T"},         {"--T 10,x", "--T"},        {"--cells lstm,foo", "foo"}, {"--cells rnn,rnn", "twice"},
        {"--depth 4", "--depth"}, {"--hidden 0", "--hidden"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "vanish --time --quiet %s", cases[i][0]);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 2 && out && strstr(out, cases[i][1]), "nabla %s: exit %d: %s", args, rc, out ? out : "");
        free(out);
    }
    CHECK(t_cli_run("help vanish", &out) == 0 && out && strstr(out, "--time") && strstr(out, "--rnn-init-scale") &&
          strstr(out, "adding problem"));
    free(out);
}
