/* Layer descriptions: the shorthand and its description give the same model
 * bit for bit; bad descriptions fail with exit 2 naming the token; models
 * come back from checkpoints alone (long descriptions, C programs, older
 * checkpoints); the summary and the logits agree with PyTorch. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nabla/io.h"
#include "nabla/train.h"
#include "t.h"
#include "t_cli.h"

static const size_t img[3] = {1, 28, 28};

static const char *spec_tmpdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/nb_spec_XXXXXX");
    return mkdtemp(buf);
}

/* Same entries (names, shapes) and the same bytes in every one. */
static int spec_same_model(nb_model *a, nb_model *b, const char *what)
{
    int ok = nb_model_n_entries(a) == nb_model_n_entries(b) && nb_model_n_entries(a) > 0;
    CHECK_MSG(ok, "%s: %zu vs %zu entries", what, nb_model_n_entries(a), nb_model_n_entries(b));
    for (size_t i = 0; ok && i < nb_model_n_entries(a); i++) {
        const nb_model_entry *x = nb_model_entry_at(a, i), *y = nb_model_entry_at(b, i);
        int same = !strcmp(x->name, y->name) && x->t->numel == y->t->numel && x->t->ndim == y->t->ndim &&
                   !memcmp(x->t->data, y->t->data, x->t->numel * nb_dtype_size(x->t->dtype));
        CHECK_MSG(same, "%s: entry %zu %s / %s differs", what, i, x->name, y->name);
        ok &= same;
    }
    return ok;
}

TEST(spec, shorthand_and_description_build_the_same_model_bitwise)
{
    struct {
        const char *widths, *act;
        double act_param, dropout;
        int batchnorm, residual;
        const char *spec;
    } cases[] = {
        {"784-128-10", "relu", 0.01, 0, 0, 0, "linear(128) relu linear(10)"},
        {"784-64-64-10", "tanh", 0.01, 0.2, 1, 1,
         "linear(64,bias=0) batchnorm1d tanh dropout(0.2) residual(linear(64,bias=0) batchnorm1d tanh) dropout(0.2) linear(10)"},
        {"784-784-32-10", "leaky_relu", 0.01, 0, 0, 1,
         "residual(linear(784) leaky_relu(0.01)) linear(32) leaky_relu(0.01) linear(10)"},
        {"784-50-10", "elu", 0.5, 0, 0, 0, "linear(50) elu(0.5) linear(10)"},
        {"784-20-20-10", "gelu", 0.01, 0, 1, 0,
         "linear(20,bias=0) batchnorm1d gelu linear(20,bias=0) batchnorm1d gelu linear(10)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_mlp_config cfg = {0};
        CHECK_OK(nb_mlp_parse_widths(&cfg, cases[i].widths) == 0);
        cfg.act = (nb_act)nb_act_parse(cases[i].act);
        cfg.act_param = cases[i].act_param;
        cfg.dropout = cases[i].dropout;
        cfg.batchnorm = cases[i].batchnorm;
        cfg.residual = cases[i].residual;
        for (int dt = 0; dt < 2; dt++) {
            nb_dtype d = dt ? NB_F64 : NB_F32;
            nb_model *a = nb_mlp_new(d, &cfg), *b = nb_model_from_spec(cases[i].spec, d, 3, img);
            CHECK_OK(a);
            CHECK_OK(b);
            if (!a || !b) {
                nb_model_free(a);
                nb_model_free(b);
                continue;
            }
            char *sa = nb_model_spec(a);
            CHECK_MSG(sa && !strcmp(sa, cases[i].spec), "%s: written back as '%s', expected '%s'", cases[i].widths,
                      sa ? sa : "(null)", cases[i].spec);
            free(sa);
            nb_rng r1, r2;
            nb_rng_seed(&r1, 7);
            nb_rng_seed(&r2, 7);
            CHECK_OK(nb_model_init(a, NB_INIT_TORCH, 0, &r1) == 0);
            CHECK_OK(nb_model_init(b, NB_INIT_TORCH, 0, &r2) == 0);
            spec_same_model(a, b, cases[i].spec);
            nb_model_free(a);
            nb_model_free(b);
        }
    }
}

/* Each case: the description, a piece of the message naming the bad token. */
static const char *const spec_bad[][2] = {
    {"lineer(10)", "'lineer'"},
    {"linear(128) relu lineer(10)", "did you mean 'linear'"},
    {"Linear(10)", "'Linear'"},
    {"conv9d(3) linear(10)", "'conv9d'"},
    {"linear", "'out'"},
    {"linear()", "'out'"},
    {"linear(abc)", "'abc'"},
    {"linear(12.5)", "'12.5'"},
    {"linear(0)", "out=0"},
    {"linear(-3)", "out=-3"},
    {"linear(10,bias=2)", "bias='2'"},
    {"linear(10,bais=0)", "'bais'"},
    {"linear(10,1,3)", "at most 2"},
    {"linear(out=10,5)", "positional argument after"},
    {"linear(10,out=12)", "'out' given twice"},
    {"linear(10", "never closed"},
    {"linear(10) relu)", "unexpected ')'"},
    {"linear(10 20)", "expected ',' or ')'"},
    {"linear(10,)", "found ')'"},
    {"linear(10)relu linear(10)", "expected a space"},
    {"relu(3) linear(10)", "relu takes no arguments"},
    {"dropout(1.5) linear(10)", "p=1.5"},
    {"dropout(p=) linear(10)", "after 'p='"},
    {"leaky_relu(slope=0.1) linear(10)", "'slope'"},
    {"batchnorm1d linear(10)", "batchnorm1d (layers.0) takes [features]"},
    {"relu layernorm linear(10)", "relu (layers.0) gives [1, 28, 28]"},
    {"residual linear(10)", "residual needs its layers in parentheses"},
    {"residual() linear(10)", "needs at least one layer"},
    {"residual(linear(10) linear(10)", "never closed"},
    {"784-128-10x", "shorthand"},
    {"linear(10) @", "'@'"},
    {"   ", "no layers"},
    /* 999*999*999*999 weights: named at the layer, never allocated (found by the fuzzer) */
    {"conv2d(999,k=999,p=999) conv2d(999,k=999,p=999) flatten linear(10)", "layers.1.weight [999, 999, 999, 999]"},
    {"conv2d(1000000,k=1,p=10000) flatten linear(1000000) linear(10)", "more bytes than a size_t holds"},
    {"linear(5)", "10 classes"},
    {"residual(residual(residual(residual(residual(residual(residual(residual(residual(relu))))))))) linear(10)",
     "8 deep"},
};

TEST(spec, bad_descriptions_exit_2_naming_the_token)
{
    size_t n = sizeof spec_bad / sizeof spec_bad[0];
    CHECK_MSG(n >= 25, "only %zu cases", n);
    for (size_t i = 0; i < n; i++) {
        char args[512], *out;
        snprintf(args, sizeof args, "summary --model '%s'", spec_bad[i][0]);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 2, "'%s': exit %d, expected 2:\n%s", spec_bad[i][0], rc, out ? out : "");
        CHECK_MSG(out && strstr(out, spec_bad[i][1]), "'%s': the message does not say \"%s\":\n%s", spec_bad[i][0],
                  spec_bad[i][1], out ? out : "");
        /* the description is quoted with a caret under the token (not for the class count, a CLI rule) */
        if (out && strcmp(spec_bad[i][0], "linear(5)"))
            CHECK_MSG(strchr(out, '^') && strstr(out, "\n  "), "'%s': no quote with a caret:\n%s", spec_bad[i][0], out);
        free(out);
    }
    /* train fails the same way before any work: no data folder is even looked at */
    char *out;
    int rc = t_cli_run("train --data /nonexistent --out /nonexistent/x --model 'linear(10) rleu'", &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "'rleu'") && !strstr(out, "/nonexistent"), "exit %d:\n%s", rc,
              out ? out : "");
    free(out);
    rc = t_cli_run("train --data /nonexistent --model 'linear(10)' --act tanh", &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "--act"), "description with --act: exit %d:\n%s", rc, out ? out : "");
    free(out);
}

TEST(spec, caret_points_at_the_token)
{
    nb_model *m = nb_model_from_spec("linear(128) relu lineer(10)", NB_F32, 3, img);
    CHECK(!m);
    const char *e = nb_errmsg(), *q = strstr(e, "\n  linear(128)"), *c = q ? strchr(q + 1, '\n') : NULL;
    CHECK_MSG(q && c && c[1 + 2 + 17] == '^', "caret misplaced:\n%s", e);
    /* a long description is quoted as a window around the token */
    char longs[1200] = "";
    for (int i = 0; i < 40; i++) strcat(longs, "linear(16) relu ");
    strcat(longs, "bogus linear(10)");
    CHECK(!nb_model_from_spec(longs, NB_F32, 3, img));
    e = nb_errmsg();
    CHECK_MSG(strstr(e, "'bogus'") && strstr(e, "\n  ...") && strlen(e) < 500, "%s", e);
    const char *ql = strstr(e, "\n  ..."), *cl = ql ? strchr(ql + 1, '\n') : NULL;
    const char *hat = cl ? strchr(cl, '^') : NULL;
    CHECK_MSG(hat && !strncmp(ql + 3 + (hat - (cl + 3)), "bogus", 5), "caret not under 'bogus':\n%s", e);
}

/* A model's storage is checked against the memory there is as each tensor is
 * declared: the layer that asks for too much is named, nothing is allocated,
 * and NABLA_MEMORY_LIMIT lowers the bound. */
TEST(spec, storage_beyond_the_memory_limit_names_the_layer)
{
    const char *old = getenv("NABLA_MEMORY_LIMIT");
    char keep[64] = "";
    if (old) snprintf(keep, sizeof keep, "%s", old);
    setenv("NABLA_MEMORY_LIMIT", "4M", 1);
    /* 784*128 + 128 + 128*10 + 10 = 101,770 f32 parameters: 0.8 MB with their gradients */
    nb_model *m = nb_model_from_spec("linear(128) relu linear(10)", NB_F32, 3, img);
    CHECK_MSG(m != NULL, "%s", nb_errmsg());
    nb_model_free(m);
    /* 784*1024 f32 with their gradients: 6.1 MiB */
    FAILS_WITH(!nb_model_from_spec("linear(128) relu linear(8192) linear(10)", NB_F32, 3, img),
               "linear (layers.2): layers.2.weight [8192, 128]");
    FAILS_WITH(!nb_model_from_spec("linear(1024) linear(10)", NB_F32, 3, img),
               "the model would take 6.1 MiB (values and gradients), more than NABLA_MEMORY_LIMIT=4M");
    /* the C API the same way, at the call that declares it */
    m = nb_model_new(NB_F64);
    CHECK(m && nb_model_linear(m, 784, 256, 1) == 0);
    FAILS_WITH(nb_model_linear(m, 256, 2048, 1) != 0, "layers.1.weight [2048, 256]");
    nb_model_free(m);
    setenv("NABLA_MEMORY_LIMIT", "lots", 1);
    FAILS_WITH(nb_check_env() != 0, "NABLA_MEMORY_LIMIT=lots: expected a size");
    char *out = NULL;
    int rc = t_cli_run("summary --model 'linear(10)'", &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "NABLA_MEMORY_LIMIT=lots"), "exit %d: %s", rc, out ? out : "");
    free(out);
    const char *good[] = {"512M", "2G", "1.5GiB", "65536", "64KB", "1t"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("NABLA_MEMORY_LIMIT", good[i], 1);
        CHECK_MSG(nb_check_env() == 0, "%s: %s", good[i], nb_errmsg());
    }
    const char *bad[] = {"", "-1G", "0", "2X", "G", "1e30", "nan"};
    for (size_t i = 1; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("NABLA_MEMORY_LIMIT", bad[i], 1);
        CHECK_MSG(nb_check_env() != 0, "%s accepted", bad[i]);
    }
    if (old) setenv("NABLA_MEMORY_LIMIT", keep, 1);
    else unsetenv("NABLA_MEMORY_LIMIT");
}

/* A long description (600+ characters) through a checkpoint and back. */
TEST(spec, long_description_round_trips_through_a_checkpoint)
{
    char spec[2000] = "";
    for (int i = 0; i < 12; i++) strcat(spec, "linear(32) layernorm(eps=1e-05) gelu dropout(0.125) ");
    strcat(spec, "residual(linear(32,bias=0) batchnorm1d(eps=0.001,momentum=0.2) leaky_relu(0.2)) linear(10)");
    CHECK_MSG(strlen(spec) >= 600, "%zu characters", strlen(spec));
    nb_model *m = nb_model_from_spec(spec, NB_F64, 3, img);
    CHECK_OK(m);
    if (!m) return;
    nb_rng r;
    nb_rng_seed(&r, 3);
    CHECK_OK(nb_model_init(m, NB_INIT_HE_NORMAL, 0, &r) == 0);
    char dir[64], path[128];
    CHECK(spec_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/long.safetensors", dir);
    CHECK_OK(nb_checkpoint_save(path, m, NULL, NULL, NULL, NULL, 0) == 0);
    nb_model *back = nb_model_load(path);
    CHECK_OK(back);
    if (back) {
        char *s = nb_model_spec(back);
        CHECK_MSG(s && !strcmp(s, spec), "description came back as %zu characters", s ? strlen(s) : 0);
        free(s);
        spec_same_model(m, back, "long description");
        CHECK(nb_model_dtype(back) == NB_F64);
        size_t shape[NB_MAX_DIMS];
        CHECK(nb_model_input_shape(back, shape) == 3 && shape[0] == 1 && shape[1] == 28 && shape[2] == 28);
    }
    char args[300], *out;
    snprintf(args, sizeof args, "summary %s", path);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "layers.48.block.2") && strstr(out, "leaky_relu"), "exit %d:\n%s", rc,
              out ? out : "");
    free(out);
    nb_model_free(back);
    nb_model_free(m);
    t_rmrf(dir);
}

/* A model built layer by layer writes a description that rebuilds it. */
TEST(spec, layer_by_layer_model_writes_its_description)
{
    nb_model *m = nb_model_new(NB_F32);
    CHECK_OK(nb_model_set_input_shape(m, 3, img) == 0);
    CHECK_OK(nb_model_flatten(m) == 0);
    CHECK_OK(nb_model_linear(m, 784, 40, 1) == 0);
    CHECK_OK(nb_model_residual_begin(m) == 0);
    CHECK_OK(nb_model_linear(m, 40, 24, 0) == 0);
    CHECK_OK(nb_model_batchnorm1d(m, 24, 1e-3, 0.25, 0) == 0);
    CHECK_OK(nb_model_act(m, NB_ACT_ELU, 0.3) == 0);
    CHECK_OK(nb_model_residual_end(m) == 0);
    CHECK_OK(nb_model_layernorm(m, 24, 1e-6) == 0);
    CHECK_OK(nb_model_act(m, NB_ACT_NONE, 0) == 0);
    CHECK_OK(nb_model_linear(m, 24, 10, 1) == 0);
    char *s = nb_model_spec(m);
    const char *want = "flatten linear(40) residual(linear(24,bias=0) batchnorm1d(eps=0.001,momentum=0.25,affine=0) "
                       "elu(0.3)) layernorm(eps=1e-06) identity linear(10)";
    CHECK_MSG(s && !strcmp(s, want), "got '%s'", s ? s : "(null)");
    nb_model *b = s ? nb_model_from_spec(s, NB_F32, 3, img) : NULL;
    CHECK_OK(b);
    nb_rng r1, r2;
    nb_rng_seed(&r1, 5);
    nb_rng_seed(&r2, 5);
    if (b) {
        CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r1) == 0);
        CHECK_OK(nb_model_init(b, NB_INIT_TORCH, 0, &r2) == 0);
        spec_same_model(m, b, "layer by layer");
    }
    nb_summary *sum = nb_model_summary(m);
    CHECK_OK(sum);
    if (sum) {
        CHECK(sum->n_rows == 9 && sum->rows[2].params == 2 * 40 * 24 && sum->rows[3].depth == 1);
        CHECK(sum->params == nb_model_n_params(m) && sum->buffers == nb_model_n_buffer_values(m));
        CHECK(sum->rows[0].ndim == 1 && sum->rows[0].shape[0] == 784);
    }
    nb_summary_free(sum);
    free(s);
    nb_model_free(b);
    nb_model_free(m);
}

/* What a C program writes with the library alone loads in the CLI. */
TEST(spec, checkpoint_of_a_c_program_evaluates)
{
    nb_model *m = nb_model_from_spec("linear(64) relu dropout(0.1) linear(10)", NB_F32, 3, img);
    CHECK_OK(m);
    if (!m) return;
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    char dir[64], path[128], args[400], *out;
    CHECK(spec_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    CHECK_OK(nb_checkpoint_save(path, m, NULL, NULL, NULL, NULL, 0) == 0);
    snprintf(args, sizeof args, "summary %s --json", path);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "\"spec\":\"linear(64) relu dropout(0.1) linear(10)\"") &&
                  strstr(out, "\"params\":50890"),
              "exit %d:\n%s", rc, out ? out : "");
    free(out);
    if (t_have_data()) {
        snprintf(args, sizeof args, "eval %s --json", path);
        rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 0 && out && strstr(out, "\"n\":10000"), "eval: exit %d:\n%s", rc, out ? out : "");
        free(out);
    }
    nb_model_free(m);
    t_rmrf(dir);
}

/* A checkpoint as older versions wrote it: the MLP configuration only. */
TEST(spec, checkpoint_of_an_older_version_loads)
{
    nb_mlp_config cfg = {0};
    CHECK_OK(nb_mlp_parse_widths(&cfg, "784-32-32-10") == 0);
    cfg.act = NB_ACT_TANH;
    cfg.act_param = 0.01;
    cfg.batchnorm = 1;
    cfg.residual = 1;
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    CHECK_OK(m);
    if (!m) return;
    nb_rng r;
    nb_rng_seed(&r, 2);
    CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    nb_st_tensor ts[32];
    size_t n = nb_model_n_entries(m);
    for (size_t i = 0; i < n && i < 32; i++)
        CHECK_OK(nb_st_describe(&ts[i], nb_model_entry_at(m, i)->name, nb_model_entry_at(m, i)->t) == 0);
    nb_st_meta meta[] = {{"format", "nabla-checkpoint-1"},
                         {"dtype", "float32"},
                         {"model", "784-32-32-10"},
                         {"act", "tanh"},
                         {"act_param", "0.01"},
                         {"batchnorm", "1"},
                         {"residual", "1"},
                         {"dropout", "0"}};
    char dir[64], path[128], args[300], *out;
    CHECK(spec_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/old.safetensors", dir);
    CHECK_OK(nb_st_save(path, ts, n, meta, sizeof meta / sizeof meta[0]) == 0);
    nb_model *back = nb_model_load(path);
    CHECK_OK(back);
    if (back) spec_same_model(m, back, "older checkpoint");
    snprintf(args, sizeof args, "summary %s", path);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "residual(linear(32,bias=0) batchnorm1d tanh)"), "exit %d:\n%s", rc,
              out ? out : "");
    free(out);
    nb_model_free(back);
    nb_model_free(m);
    t_rmrf(dir);
}

/* ------------------------------------------------------------ PyTorch */
static int spec_have_torch(void)
{
    if (system("/usr/bin/python3 -c 'import torch, safetensors.torch' >/dev/null 2>&1") == 0) return 1;
    CHECK_MSG(!getenv("NB_REQUIRE_PYTHON"), "NB_REQUIRE_PYTHON is set but /usr/bin/python3 lacks torch/safetensors");
    printf("  (skipped: /usr/bin/python3 with torch and safetensors not found: apt-get install python3-torch; "
           "/usr/bin/python3 -m pip install --break-system-packages safetensors)\n");
    return 0;
}

static const char *const spec_torch_models[] = {
    "linear(128) relu linear(10)",
    "linear(64,bias=0) batchnorm1d tanh dropout(0.2) residual(linear(64,bias=0) batchnorm1d tanh) linear(10)",
    "flatten layernorm linear(32) leaky_relu(0.2) residual(linear(48) elu(0.5) linear(16)) gelu linear(10)",
    "relu residual(linear(40) sigmoid) softplus identity linear(10,bias=0)",
    ("conv2d(8,k=3,p=1) batchnorm2d relu residual(conv2d(16,k=3,s=2,p=1,bias=0) batchnorm2d(momentum=0.2) relu "
     "conv2d(16,k=3,p=2,d=2,g=4)) maxpool2d(2) avgpool2d(3,s=2,p=1) conv2d(12,k=1) gap linear(10)"),
};

TEST(spec, summary_matches_torch)
{
    if (!spec_have_torch()) return;
    for (size_t i = 0; i < sizeof spec_torch_models / sizeof spec_torch_models[0]; i++) {
        const char *d = spec_torch_models[i];
        nb_model *m = nb_model_from_spec(d, NB_F32, 3, img);
        nb_summary *s = m ? nb_model_summary(m) : NULL;
        CHECK_OK(s);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/torch_spec.py summary '%s' 1,28,28", d);
        FILE *p = popen(cmd, "r");
        char line[512];
        size_t rows = 0;
        long long total = -1;
        while (s && p && fgets(line, sizeof line, p)) {
            char name[128], shape[128];
            long long params;
            if (sscanf(line, "total %lld", &total) == 1) continue;
            if (sscanf(line, "%127s %lld %127s", name, &params, shape) != 3) continue;
            const nb_summary_row *r = NULL;
            for (size_t k = 0; k < s->n_rows; k++)
                if (!strcmp(s->rows[k].name, name)) r = &s->rows[k];
            CHECK_MSG(r, "%s: torch has %s, nabla does not", d, name);
            if (!r) continue;
            rows++;
            char mine[128] = "";
            for (int k = 0; k < r->ndim; k++)
                snprintf(mine + strlen(mine), sizeof mine - strlen(mine), "%s%zu", k ? "," : "", r->shape[k]);
            CHECK_MSG((long long)r->params == params && !strcmp(mine, shape),
                      "%s: %s: nabla %zu params [%s], torch %lld [%s]", d, name, r->params, mine, params, shape);
        }
        CHECK_MSG(p && pclose(p) == 0, "%s failed", cmd);
        CHECK_MSG(s && rows == s->n_rows, "%s: torch listed %zu of nabla's %zu rows", d, rows, s ? s->n_rows : 0);
        CHECK_MSG(s && total == (long long)s->params, "%s: total %lld vs %zu", d, total, s ? s->params : 0);
        nb_summary_free(s);
        nb_model_free(m);
    }
}

/* logits [n, C] of x [n, 784] in eval mode. */
static nb_tensor *spec_logits(nb_model *m, nb_ctx *c, const nb_st_tensor *x)
{
    nb_set_training(c, 0);
    nb_set_grad_enabled(c, 0);
    nb_tensor *t = nb_empty(c, NB_F32, 2, x->shape);
    if (!t) return NULL;
    memcpy(t->data, x->data, t->numel * sizeof(float));
    return nb_model_forward(m, c, t, NULL);
}

TEST(spec, torch_round_trip_logits_agree)
{
    if (!spec_have_torch()) return;
    char dir[64];
    CHECK(spec_tmpdir(dir, sizeof dir));
    for (size_t i = 0; i < sizeof spec_torch_models / sizeof spec_torch_models[0]; i++) {
        const char *d = spec_torch_models[i];
        char cmd[900], w[128], io[128], ck[128], io2[128];
        snprintf(w, sizeof w, "%s/torch%zu.safetensors", dir, i);
        snprintf(io, sizeof io, "%s/io%zu.safetensors", dir, i);
        snprintf(ck, sizeof ck, "%s/nabla%zu.safetensors", dir, i);
        snprintf(io2, sizeof io2, "%s/io_nabla%zu.safetensors", dir, i);
        /* torch -> nabla */
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/torch_spec.py make '%s' 1,28,28 %zu %s %s", d, 11 + i, w,
                 io);
        CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
        nb_model *m = nb_model_from_spec(d, NB_F32, 3, img);
        CHECK_OK(m && nb_model_load_torch(m, w) == 0);
        nb_st_file *f = nb_st_load(io);
        CHECK_OK(f);
        const nb_st_tensor *x = f ? nb_st_find(f, "x") : NULL, *want = f ? nb_st_find(f, "logits") : NULL;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_tensor *y = m && x ? spec_logits(m, c, x) : NULL;
        CHECK_OK(y && want && y->numel == want->shape[0] * want->shape[1]);
        double worst = 0;
        for (size_t k = 0; y && want && k < y->numel; k++) {
            double diff = fabs(nb_get(y, k) - ((const float *)want->data)[k]);
            if (diff > worst) worst = diff;
        }
        printf("     %s: torch -> nabla max |diff| %.3g\n", d, worst);
        CHECK_MSG(y && worst <= 1e-5, "%s: logits differ by %g", d, worst);
        /* nabla -> torch: our checkpoint, our logits */
        CHECK_OK(m && nb_checkpoint_save(ck, m, NULL, NULL, NULL, NULL, 0) == 0);
        if (y && x) {
            nb_st_tensor ts[2];
            CHECK_OK(nb_st_describe(&ts[0], "logits", y) == 0);
            ts[1] = *x;
            ts[1].name = "x";
            CHECK_OK(nb_st_save(io2, ts, 2, NULL, 0) == 0);
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/torch_spec.py check '%s' 1,28,28 %s %s", d, ck, io2);
            CHECK_MSG(system(cmd) == 0, "%s: torch does not reproduce nabla's logits within 1e-5", cmd);
        }
        nb_ctx_free(c);
        nb_st_free(f);
        nb_model_free(m);
    }
    /* the CLI: eval --from-torch (with the data) and a wrong description named */
    char args[600], *out, w[128];
    snprintf(w, sizeof w, "%s/torch0.safetensors", dir);
    snprintf(args, sizeof args, "eval --from-torch 'linear(64) relu linear(10)' %s", w);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "layers.0.weight"), "wrong description: exit %d:\n%s", rc, out ? out : "");
    free(out);
    if (t_have_data()) {
        snprintf(args, sizeof args, "eval --from-torch '%s' %s --json", spec_torch_models[0], w);
        rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 0 && out && strstr(out, "\"n\":10000"), "eval --from-torch: exit %d:\n%s", rc, out ? out : "");
        free(out);
        snprintf(args, sizeof args, "predict --from-torch '%s' %s --images %s/t10k-images-idx3-ubyte.gz --index 0,1",
                 spec_torch_models[0], w, NB_FASHION_MNIST_DEBIAN_DIR);
        rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 0 && out && strstr(out, "[1]:"), "predict --from-torch: exit %d:\n%s", rc, out ? out : "");
        free(out);
    }
    t_rmrf(dir);
}

/* ------------------------------------------------------ the whole CLI */
static int spec_same_file_models(const char *a, const char *b)
{
    nb_st_file *fa = nb_st_load(a), *fb = nb_st_load(b);
    int ok = fa && fb, n = 0;
    for (size_t i = 0; ok && i < nb_st_count(fa); i++) {
        const nb_st_tensor *t = nb_st_at(fa, i);
        if (strncmp(t->name, "layers.", 7)) continue;
        const nb_st_tensor *u = nb_st_find(fb, t->name);
        size_t bytes = nb_st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) bytes *= t->shape[d];
        ok = u && u->dtype == t->dtype && !memcmp(t->data, u->data, bytes);
        n++;
    }
    nb_st_free(fa);
    nb_st_free(fb);
    return ok && n > 0;
}

TEST(spec, cli_train_description_equals_shorthand_and_needs_no_flags_after)
{
    if (!t_have_data()) return;
    char dir[64], args[700], a[128], b[128], *out;
    CHECK(spec_tmpdir(dir, sizeof dir));
    const char *common = "--seed 1 --epochs 1 --max-steps 5 --limit-train 640 --quiet";
    snprintf(args, sizeof args, "train --model 'linear(128) relu linear(10)' %s --out %s/a", common, dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d:\n%s", rc, out ? out : "");
    free(out);
    snprintf(args, sizeof args, "train --model 784-128-10 %s --out %s/b", common, dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d:\n%s", rc, out ? out : "");
    free(out);
    snprintf(a, sizeof a, "%s/a/checkpoint.safetensors", dir);
    snprintf(b, sizeof b, "%s/b/checkpoint.safetensors", dir);
    CHECK_MSG(spec_same_file_models(a, b), "the description and the shorthand trained different parameters");
    /* the table at the start, and the summary event in --json mode */
    snprintf(args, sizeof args,
             "train --model 'linear(32) tanh linear(10)' --epochs 1 --max-steps 2 --limit-train 256 --out %s/c", dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "tanh") && strstr(out, "total params: 25450"), "exit %d:\n%s", rc,
              out ? out : "");
    free(out);
    snprintf(
        args, sizeof args,
        "train --json --model 'linear(32) tanh linear(10)' --epochs 1 --max-steps 2 --limit-train 256 --overwrite --out %s/c",
        dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "{\"event\":\"summary\",\"spec\":\"linear(32) tanh linear(10)\"") &&
                  !strstr(out, "total params:"),
              "exit %d:\n%s", rc, out ? out : "");
    free(out);
    /* eval, predict, resume, report, summary: the checkpoint alone */
    snprintf(args, sizeof args, "eval %s/c/checkpoint.safetensors", dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "10000 test images"), "eval: exit %d:\n%s", rc, out ? out : "");
    free(out);
    snprintf(args, sizeof args, "predict %s/c/checkpoint.safetensors --images %s/t10k-images-idx3-ubyte.gz --index 3",
             dir, NB_FASHION_MNIST_DEBIAN_DIR);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "[3]:"), "predict: exit %d:\n%s", rc, out ? out : "");
    free(out);
    snprintf(args, sizeof args, "train --resume --out %s/c --epochs 1 --max-steps 4 --limit-train 256 --quiet", dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "resume: exit %d:\n%s", rc, out ? out : "");
    free(out);
    snprintf(args, sizeof args, "train --resume --out %s/c --model 784-128-10 --epochs 1 --quiet", dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "was trained with --model linear(32) tanh linear(10)"),
              "resume with another model: exit %d:\n%s", rc, out ? out : "");
    free(out);
    snprintf(args, sizeof args, "report %s/c", dir);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "report: exit %d:\n%s", rc, out ? out : "");
    free(out);
    /* the report's layer table comes from the checkpoint alone */
    snprintf(args, sizeof args, "%s/c/report.html", dir);
    FILE *f = fopen(args, "r");
    static char html[1 << 20];
    size_t got = f ? fread(html, 1, sizeof html - 1, f) : 0;
    html[got] = '\0';
    if (f) fclose(f);
    CHECK_MSG(strstr(html, "<h2>Layers</h2>") && strstr(html, "<code>linear(32) tanh linear(10)</code>") &&
                  strstr(html, "<td>tanh</td><td>[32]</td><td>0</td>"),
              "report.html has no layer table");
    t_rmrf(dir);
}
