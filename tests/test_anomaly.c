/* Anomaly mode: the first NaN/Inf, forward or backward, is reported with the
 * op, the input/output, shapes, index and the line of THIS file that made
 * the op; the policies stop, skip-step and continue. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nabla/train.h"
#include "t.h"
#include "t_cli.h"

static int from_here(const nb_anomaly *a)
{
    const char *f = a ? a->file : NULL;
    size_t n = f ? strlen(f) : 0;
    return n >= 14 && !strcmp(f + n - 14, "test_anomaly.c");
}

static nb_tensor *vec(nb_ctx *c, const double *v, size_t n, int grad)
{
    nb_tensor *t = nb_from_data(c, NB_F64, 1, (size_t[]){n}, (void *)v, NB_COPY);
    if (grad) nb_tensor_set_requires_grad(t, 1);
    return t;
}

TEST(anomaly, policy_names)
{
    CHECK(nb_anomaly_policy_parse("stop") == NB_ANOMALY_STOP &&
          nb_anomaly_policy_parse("skip") == NB_ANOMALY_SKIP_STEP);
    CHECK(nb_anomaly_policy_parse("skip-step") == NB_ANOMALY_SKIP_STEP);
    CHECK(nb_anomaly_policy_parse("continue") == NB_ANOMALY_CONTINUE &&
          nb_anomaly_policy_parse("off") == NB_ANOMALY_OFF);
    CHECK(nb_anomaly_policy_parse("halt") == -1 && nb_anomaly_policy_parse(NULL) == -1);
    CHECK(!strcmp(nb_anomaly_policy_name(NB_ANOMALY_SKIP_STEP), "skip"));
    nb_ctx *c = nb_ctx_new(NULL);
    CHECK(nb_detect_anomaly(c) == NB_ANOMALY_OFF);
    CHECK(nb_set_detect_anomaly(c, NB_ANOMALY_CONTINUE) == NB_ANOMALY_OFF);
    CHECK(nb_set_detect_anomaly(c, (nb_anomaly_policy)9) == -1 && nb_detect_anomaly(c) == NB_ANOMALY_CONTINUE);
    CHECK(nb_set_detect_anomaly(NULL, NB_ANOMALY_STOP) == -1);
    nb_ctx_free(c);
}

TEST(anomaly, off_by_default_nothing_checked)
{
    nb_ctx *c = nb_ctx_new(NULL);
    double v[] = {1, -1};
    nb_tensor *y = nb_log(c, vec(c, v, 2, 0));
    CHECK(y && isnan(nb_get(y, 1)) && nb_anomaly_get(c) == NULL);
    nb_ctx_free(c);
}

TEST(anomaly, forward_stop_names_op_output_index_and_line)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_set_detect_anomaly(c, NB_ANOMALY_STOP);
    double v[] = {1, 2, -3, 4, 5, 6};
    nb_tensor *x = nb_reshape(c, vec(c, v, 6, 1), 2, (long[]){2, 3});
    int line = __LINE__ + 1;
    nb_tensor *y = nb_log(c, x);
    CHECK(y == NULL);
    const nb_anomaly *a = nb_anomaly_get(c);
    CHECK(a && !strcmp(a->op, "log") && !a->backward && a->input == -1 && a->index == 2 && isnan(a->value));
    CHECK(a && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && !strcmp(a->shapes, "[2, 3] -> [2, 3]"));
    CHECK(a && from_here(a) && a->line == line && a->count == 1);
    char want[64];
    snprintf(want, sizeof want, "test_anomaly.c:%d", line);
    CHECK_MSG(strstr(nb_errmsg(), "anomaly: log produced NaN in the forward pass, at index 2 of its output [2, 3]") &&
                  strstr(nb_errmsg(), want),
              "%s", nb_errmsg());
    /* the record survives a reset; clear forgets it */
    nb_ctx_reset(c);
    CHECK(nb_anomaly_get(c) != NULL);
    nb_anomaly_clear(c);
    CHECK(nb_anomaly_get(c) == NULL);
    /* Inf from a finite input: division by zero */
    double z[] = {1, 0};
    nb_tensor *q = nb_rdiv_scalar(c, vec(c, z, 2, 0), 1.0);
    CHECK(q == NULL && nb_anomaly_get(c) && nb_anomaly_get(c)->value == INFINITY && nb_anomaly_get(c)->index == 1);
    CHECK(strstr(nb_errmsg(), "+Inf"));
    nb_ctx_free(c);
}

TEST(anomaly, nonfinite_input_is_blamed_not_the_op)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_set_detect_anomaly(c, NB_ANOMALY_CONTINUE);
    double a[] = {1, NAN, 3}, b[] = {2, 2, 2};
    int line = __LINE__ + 1;
    nb_tensor *y = nb_mul(c, vec(c, b, 3, 1), vec(c, a, 3, 0));
    CHECK(y != NULL); /* continue: the op goes on */
    const nb_anomaly *r = nb_anomaly_get(c);
    CHECK(r && !strcmp(r->op, "mul") && r->input == 1 && r->index == 1 && r->line == line);
    CHECK(r && !strcmp(r->shapes, "[3] x [3] -> [3]") && !r->layer[0]);
    char buf[512];
    CHECK(strstr(nb_anomaly_describe(r, buf, sizeof buf), "input 1 of mul was already non-finite"));
    /* later anomalies are counted, the first is kept */
    nb_tensor *s = nb_sum(c, y, NULL, 0, 0);
    CHECK(s && r->count == 2 && !strcmp(r->op, "mul"));
    nb_ctx_free(c);
}

TEST(anomaly, backward_names_the_op_whose_gradient_is_not_finite)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_set_detect_anomaly(c, NB_ANOMALY_STOP);
    double v[] = {4, 0, 1};
    nb_tensor *x = vec(c, v, 3, 1);
    int line = __LINE__ + 1; /* finite forward, d/dx at 0 is +Inf */
    nb_tensor *h = nb_sqrt(c, x);
    nb_tensor *y = nb_sum(c, nb_mul_scalar(c, h, 2.0), NULL, 0, 0);
    CHECK(y && nb_anomaly_get(c) == NULL);
    CHECK(nb_backward(c, y, NULL) == -1);
    const nb_anomaly *a = nb_anomaly_get(c);
    CHECK(a && !strcmp(a->op, "sqrt") && a->backward == 1 && a->input == 0 && a->index == 1 && a->value == INFINITY);
    CHECK(a && a->line == line && from_here(a) && a->ndim == 1 && a->shape[0] == 3);
    CHECK_MSG(strstr(nb_errmsg(), "the backward of sqrt produced +Inf at index 1 of the gradient for input 0 [3]"),
              "%s", nb_errmsg());
    nb_ctx_free(c);
}

TEST(anomaly, non_finite_upstream_gradient_and_hooks)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_set_detect_anomaly(c, NB_ANOMALY_STOP);
    double v[] = {1, 2};
    nb_tensor *x = vec(c, v, 2, 1);
    int line = __LINE__ + 1;
    nb_tensor *y = nb_exp(c, x);
    double g[] = {1, NAN};
    CHECK(nb_backward(c, y, vec(c, g, 2, 0)) == -1);
    const nb_anomaly *a = nb_anomaly_get(c);
    CHECK(a && !strcmp(a->op, "exp") && a->backward && a->input == -1 && a->index == 1 && a->line == line);
    CHECK(strstr(nb_errmsg(), "the gradient flowing into the output of exp is NaN"));
    nb_ctx_free(c);
}

/* A custom function whose forward runs ops on its own lines: the node is
 * still attributed to the nb_apply call. */
static nb_tensor *fn_fwd(nb_fnctx *fc, nb_tensor *const *in, int n)
{
    (void)n;
    return nb_mul_scalar(nb_fn_ctx(fc), in[0], 1.0);
}
static int fn_bwd(nb_fnctx *fc, const nb_tensor *g, nb_tensor **gin, int n)
{
    (void)n;
    gin[0] = nb_mul_scalar(nb_fn_ctx(fc), (nb_tensor *)g, INFINITY);
    return 0;
}

TEST(anomaly, custom_function_is_attributed_to_the_apply_call)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_set_detect_anomaly(c, NB_ANOMALY_CONTINUE);
    static const nb_function fn = {"scale_inf", fn_fwd, fn_bwd};
    double v[] = {1, 2};
    nb_tensor *x = vec(c, v, 2, 1);
    int line = __LINE__ + 1;
    nb_tensor *y = nb_apply(c, &fn, 1, &x, NULL);
    CHECK(y && nb_backward(c, nb_sum(c, y, NULL, 0, 0), NULL) == 0); /* continue: backward completes */
    const nb_anomaly *a = nb_anomaly_get(c);
    CHECK(a && !strcmp(a->op, "scale_inf") && a->backward && a->input == 0 && a->line == line && from_here(a));
    nb_ctx_free(c);
}

/* A 4-3-2 model whose second weight holds an Inf: the matmul inside
 * nb_model_forward (library code) is attributed to the nb_train_step line. */
static nb_model *inf_model(nb_rng *r)
{
    nb_model *m = nb_model_new(NB_F64);
    nb_model_linear(m, 4, 3, 1);
    nb_model_act(m, NB_ACT_TANH, 0);
    nb_model_linear(m, 3, 2, 1);
    nb_model_init(m, NB_INIT_TORCH, 0, r);
    nb_set(nb_model_find(m, "layers.2.weight")->t, 1, INFINITY);
    return m;
}

TEST(anomaly, train_step_skip_and_stop)
{
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_model *m = inf_model(&r);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    nb_optim *o = nb_optim_new(&oc, NB_F64, nb_model_n_params(m));
    nb_ctx *c = nb_ctx_new(NULL);
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t y[2] = {0, 1};
    nb_step_result res;
    double *p = nb_model_params(m), p0 = p[0];

    nb_set_detect_anomaly(c, NB_ANOMALY_SKIP_STEP);
    int line = __LINE__ + 1;
    int rc = nb_train_step(m, o, c, x, y, 2, NULL, &res);
    CHECK(rc == 0 && res.nonfinite && p[0] == p0);
    const nb_anomaly *a = nb_anomaly_get(c);
    CHECK(a && !strcmp(a->op, "matmul") && !a->backward && a->input == 1 && a->index == 1 && a->value == INFINITY);
    CHECK_MSG(a && from_here(a) && a->line == line, "site %s:%d", a && a->file ? a->file : "?", a ? a->line : 0);
    CHECK(a && !strcmp(a->shapes, "[2, 3] x [2, 3] -> [2, 2]") && !strcmp(a->layer, "layers.2 (linear)"));
    char msg[512];
    CHECK_MSG(strstr(nb_anomaly_describe(a, msg, sizeof msg), "in model layer layers.2 (linear), from the call at "),
              "%s", msg);

    nb_set_detect_anomaly(c, NB_ANOMALY_STOP);
    CHECK(nb_train_step(m, o, c, x, y, 2, NULL, &res) == -1 && p[0] == p0);
    CHECK(strstr(nb_errmsg(), "anomaly: input 1 of matmul was already non-finite"));

    /* a clean model under skip-step: a normal step */
    nb_set(nb_model_find(m, "layers.2.weight")->t, 1, 0.5);
    nb_set_detect_anomaly(c, NB_ANOMALY_SKIP_STEP);
    CHECK(nb_train_step(m, o, c, x, y, 2, NULL, &res) == 0 && !res.nonfinite && p[0] != p0 && !nb_anomaly_get(c));
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
}

TEST(anomaly, cli_detect_anomaly_names_the_op)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_anom_XXXXXX", args[600], *out;
    CHECK(mkdtemp(dir));
    /* SGD at lr 1e5 without clipping: the weights overflow within a few steps */
    snprintf(args, sizeof args,
             "train --quiet --opt sgd --lr 1e5 --clip-norm 0 --limit-train 1280 --epochs 1 --detect-anomaly --out %s",
             dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 1, "exit %d: %s", rc, out ? out : "");
    CHECK_MSG(out && strstr(out, "anomaly:") && strstr(out, "forward pass") && strstr(out, "shapes ["), "%s",
              out ? out : "");
    free(out);
    char path[600], line[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    int events = 0;
    while (f && fgets(line, sizeof line, f)) events += strstr(line, "{\"event\":\"anomaly\",") != NULL;
    if (f) fclose(f);
    CHECK(events == 1);
    /* skip-step keeps training: the run finishes */
    snprintf(
        args, sizeof args,
        "train --quiet --opt sgd --lr 1e5 --clip-norm 0 --limit-train 640 --epochs 1 --anomaly-policy skip --overwrite --out %s",
        dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 || rc == 1, "exit %d: %s", rc, out ? out : "");
    CHECK_MSG(out && strstr(out, "skipped"), "%s", out ? out : "");
    free(out);
    CHECK(t_cli_run("train --anomaly-policy sometimes", &out) == 2 && out && strstr(out, "--anomaly-policy"));
    free(out);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
}

/* The library's own sources never expand the call-site macros (each must
 * include src/internal.h, which removes them, before calling ops); otherwise
 * ops inside the library would be attributed to library lines. */
TEST(anomaly, library_sources_do_not_use_call_site_macros)
{
    if (system("cc --version > /dev/null 2>&1") != 0) {
        T_SKIP("no cc to preprocess with");
        return;
    }
    FILE *p = popen("cc -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -E $(find src -name '*.c') 2>&1 "
                    "| grep -c 'nb__here(\"'",
                    "r");
    CHECK(p != NULL);
    if (!p) return;
    char buf[64] = "";
    if (!fgets(buf, sizeof buf, p)) buf[0] = '\0';
    pclose(p);
    CHECK_MSG(atoi(buf) == 0 && buf[0] == '0', "%d call-site macro expansions in src/ (run cc -E to find them)",
              atoi(buf));
}
