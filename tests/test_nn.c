/* Layers and models: names, contiguous layout, init, BatchNorm, residual. */
#include "t.h"

#include <string.h>

#include "nabla/nn.h"

TEST(nn, mlp_names_shapes_and_flat_layout)
{
    nb_mlp_config cfg = {.act = NB_ACT_RELU};
    CHECK_OK(nb_mlp_parse_widths(&cfg, "784-128-10") == 0);
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    CHECK_OK(m);
    CHECK(nb_model_n_params(m) == 784 * 128 + 128 + 128 * 10 + 10);
    CHECK(nb_model_n_entries(m) == 4);
    const char *names[] = {"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"};
    size_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        CHECK(e && !strcmp(e->name, names[i]));
        CHECK(e->offset == off && e->trainable);
        CHECK((char *)e->t->data == (char *)nb_model_params(m) + off * sizeof(float));
        CHECK((char *)e->t->grad->data == (char *)nb_model_grads(m) + off * sizeof(float));
        off += e->t->numel;
    }
    const nb_model_entry *w = nb_model_find(m, "layers.0.weight");
    CHECK(w && w->t->shape[0] == 128 && w->t->shape[1] == 784 && w->layer == 0);
    CHECK(nb_model_find(m, "layers.2.bias")->layer == 2);
    CHECK(nb_model_n_layers(m) == 3 && !strcmp(nb_model_layer_kind(m, 1), "relu"));
    char d[256];
    CHECK(strstr(nb_model_describe(m, d, sizeof d), "101770 params") != NULL);
    nb_model_free(m);
}

TEST(nn, spec_errors)
{
    nb_mlp_config cfg = {0};
    CHECK(nb_mlp_parse_widths(&cfg, "784-x-10") != 0 && strstr(nb_errmsg(), "784-x-10"));
    CHECK(nb_mlp_parse_widths(&cfg, "784") != 0);
    CHECK(nb_mlp_parse_widths(&cfg, "784-0-10") != 0 && strstr(nb_errmsg(), "positive"));
    CHECK(nb_mlp_parse_widths(&cfg, "784-128-") != 0);
    CHECK(nb_mlp_parse_widths(&cfg, "") != 0);
    CHECK(nb_mlp_parse_widths(&cfg, "99999999-2") != 0);
    nb_model *m = nb_model_new(NB_F64);
    CHECK(nb_model_linear(m, 4, 3, 1) == 0);
    CHECK(nb_model_linear(m, 5, 2, 1) != 0 && strstr(nb_errmsg(), "5") && strstr(nb_errmsg(), "3"));
    CHECK(nb_model_dropout(m, 1.5) != 0);
    CHECK(nb_model_residual_begin(m) == 0);
    CHECK(nb_model_finalize(m) != 0 && strstr(nb_errmsg(), "not closed"));
    CHECK(nb_model_residual_end(m) == 0);
    CHECK(nb_model_residual_end(m) != 0);
    CHECK(nb_model_finalize(m) == 0);
    CHECK(nb_model_linear(m, 3, 3, 1) != 0 && strstr(nb_errmsg(), "finalised"));
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F64, 2, (size_t[]){2, 7});
    CHECK(nb_model_forward(m, c, x, NULL) == NULL && strstr(nb_errmsg(), "[2, 7]"));
    nb_tensor *xf = nb_zeros(c, NB_F32, 2, (size_t[]){2, 4});
    CHECK(nb_model_forward(m, c, xf, NULL) == NULL && strstr(nb_errmsg(), "float32"));
    CHECK(nb_model_new(NB_I32) == NULL);
    nb_ctx_free(c);
    nb_model_free(m);
}

TEST(nn, init_statistics)
{
    nb_rng r;
    nb_rng_seed(&r, 11);
    for (int init = 0; init < NB_INIT__COUNT; init++) {
        nb_model *m = nb_model_new(NB_F64);
        nb_model_linear(m, 400, 300, 1);
        nb_model_act(m, NB_ACT_RELU, 0);
        CHECK_OK(nb_model_init(m, (nb_init)init, 0.05, &r) == 0);
        nb_tensor *w = nb_model_find(m, "layers.0.weight")->t;
        double s = 0, s2 = 0, mx = 0;
        for (size_t i = 0; i < w->numel; i++) {
            double v = nb_get(w, i);
            s += v;
            s2 += v * v;
            mx = fmax(mx, fabs(v));
        }
        double sd = sqrt(s2 / w->numel), expect = 0;
        switch (init) {
        case NB_INIT_TORCH: expect = 1 / sqrt(400.0) / sqrt(3.0); break;
        case NB_INIT_XAVIER_UNIFORM:
        case NB_INIT_XAVIER_NORMAL: expect = sqrt(2.0) * sqrt(2.0 / 700); break;
        case NB_INIT_HE_UNIFORM:
        case NB_INIT_HE_NORMAL: expect = sqrt(2.0 / 400); break;
        case NB_INIT_NORMAL: expect = 0.05; break;
        case NB_INIT_ZEROS: expect = 0; break;
        }
        CHECK_MSG(fabs(s / (double)w->numel) <= 0.05 * expect + 1e-12, "init %s: mean %g", nb_init_name((nb_init)init),
                  s / (double)w->numel);
        CHECK_MSG(fabs(sd - expect) <= 0.02 * expect + 1e-12, "init %s: std %g, expected %g",
                  nb_init_name((nb_init)init), sd, expect);
        if (init == NB_INIT_TORCH) CHECK(mx <= 1 / sqrt(400.0));
        nb_model_free(m);
    }
    CHECK(nb_init_parse("he_normal") == NB_INIT_HE_NORMAL && nb_init_parse("bogus") < 0);
    CHECK(nb_act_parse("tanh") == NB_ACT_TANH && nb_act_parse("bogus") < 0);
}

TEST(nn, forward_backward_fill_flat_gradients)
{
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_mlp_config cfg = {.act = NB_ACT_TANH};
    nb_mlp_parse_widths(&cfg, "6-5-3");
    nb_model *m = nb_mlp_new(NB_F64, &cfg);
    nb_model_init(m, NB_INIT_XAVIER_NORMAL, 0, &r);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_normal(c, NB_F64, 2, (size_t[]){4, 6}, 0, 1, &r);
    int32_t yv[4] = {0, 1, 2, 1};
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){4}, yv, NB_BORROW);
    nb_tensor *loss = nb_cross_entropy(c, nb_model_forward(m, c, x, &r), y, NB_MEAN, 0);
    CHECK_OK(loss && nb_backward(c, loss, NULL) == 0);
    /* finite differences on every parameter through the flat buffer */
    double *p = nb_model_params(m), *g = nb_model_grads(m), worst = 0;
    int g0 = nb_set_grad_enabled(c, 0);
    for (size_t i = 0; i < nb_model_n_params(m); i++) {
        double keep = p[i], lp, lm;
        p[i] = keep + 1e-6;
        lp = nb_item(nb_cross_entropy(c, nb_model_forward(m, c, x, &r), y, NB_MEAN, 0));
        p[i] = keep - 1e-6;
        lm = nb_item(nb_cross_entropy(c, nb_model_forward(m, c, x, &r), y, NB_MEAN, 0));
        p[i] = keep;
        worst = fmax(worst, fabs((lp - lm) / 2e-6 - g[i]));
    }
    nb_set_grad_enabled(c, g0);
    CHECK_MSG(worst < 1e-7, "max |numeric - autograd| = %g", worst);
    nb_model_zero_grad(m);
    CHECK(g[0] == 0);
    nb_ctx_free(c);
    nb_model_free(m);
}

/* gradcheck through BatchNorm (training), LayerNorm and a projected residual */
static nb_model *g_model;
static nb_tensor *model_fn(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    (void)n_in, (void)user;
    return nb_model_forward(g_model, c, in[0], NULL);
}

TEST(nn, gradcheck_batchnorm_layernorm_residual)
{
    nb_rng r;
    nb_rng_seed(&r, 9);
    nb_model *m = nb_model_new(NB_F64);
    nb_model_linear(m, 5, 4, 1);
    nb_model_batchnorm1d(m, 4, 1e-5, 0.1, 1);
    nb_model_act(m, NB_ACT_TANH, 0);
    nb_model_residual_begin(m);
    nb_model_linear(m, 4, 6, 1);
    nb_model_layernorm(m, 6, 1e-5);
    nb_model_act(m, NB_ACT_SIGMOID, 0);
    nb_model_residual_end(m);
    nb_model_linear(m, 6, 2, 1);
    CHECK_OK(nb_model_init(m, NB_INIT_HE_NORMAL, 0, &r) == 0);
    CHECK(nb_model_find(m, "layers.3.proj.weight") != NULL);
    CHECK(nb_model_find(m, "layers.3.block.0.weight") != NULL);
    CHECK(nb_model_find(m, "layers.1.running_var") != NULL);
    CHECK(!nb_model_find(m, "layers.1.running_var")->trainable);
    g_model = m;
    nb_tensor *x = nb_tensor_new(NB_F64, 2, (size_t[]){6, 5});
    nb_fill_normal(x, 0, 1, &r);
    nb_tensor_set_requires_grad(x, 1);
    nb_gradcheck_result res;
    CHECK_OK(nb_gradcheck(model_fn, NULL, 1, &x, NULL, &res) == 0);
    CHECK_MSG(res.passed, "max abs err %g rel %g", res.max_abs_err, res.max_rel_err);
    nb_tensor_free(x);
    nb_model_free(m);
}

TEST(nn, batchnorm_running_stats_and_eval)
{
    nb_model *m = nb_model_new(NB_F64);
    nb_model_batchnorm1d(m, 2, 1e-5, 0.1, 1);
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_model_init(m, NB_INIT_TORCH, 0, &r);
    nb_ctx *c = nb_ctx_new(NULL);
    double xv[] = {1, 10, 3, 20, 5, 60};
    nb_tensor *x = nb_from_data(c, NB_F64, 2, (size_t[]){3, 2}, xv, NB_BORROW);
    nb_tensor *y = nb_model_forward(m, c, x, NULL);
    CHECK_OK(y);
    /* training: column 0 mean 3, biased var 8/3 */
    CHECK_NEAR(nb_get(y, 0), (1 - 3) / sqrt(8.0 / 3 + 1e-5), 1e-12);
    nb_tensor *rm = nb_model_find(m, "layers.0.running_mean")->t, *rv = nb_model_find(m, "layers.0.running_var")->t;
    CHECK_NEAR(nb_get(rm, 0), 0.1 * 3, 1e-15);
    CHECK_NEAR(nb_get(rv, 0), 0.9 + 0.1 * 4.0, 1e-15); /* unbiased var 4 */
    CHECK(nb_get(nb_model_find(m, "layers.0.num_batches_tracked")->t, 0) == 1);
    nb_set_training(c, 0);
    y = nb_model_forward(m, c, x, NULL);
    CHECK_NEAR(nb_get(y, 0), (1 - 0.3) / sqrt(1.3 + 1e-5), 1e-12);
    nb_set_training(c, 1);
    nb_tensor *one = nb_from_data(c, NB_F64, 2, (size_t[]){1, 2}, xv, NB_BORROW);
    CHECK(nb_model_forward(m, c, one, NULL) == NULL && strstr(nb_errmsg(), "more than 1"));
    nb_ctx_free(c);
    nb_model_free(m);
}
