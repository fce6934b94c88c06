/* The extension-layer mechanism (src/nn/nn_internal.h): a kind defined
 * outside model.c gets named entries of up to 4 dims, forward in its place
 * (also inside a residual block), init with the next activation's gain, a
 * description, and its state released with the model. */
#include "t.h"

#include <stdlib.h>
#include <string.h>

#include "../src/nn/nn_internal.h"
#include "nabla/nn.h"

static int t_released;

/* "chscale": y[n, ch, ...] = x[n, ch, ...] * w[ch] + b[ch]; w is declared
 * [C, 1, 1, 1] (4 dims, as conv weights are). */
static nb_tensor *t_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    long C = (long)e->in.d[0];
    nb_tensor *w = nb_reshape(c, nb__ext_entry(e, 0), 3, (long[]){C, 1, 1});
    nb_tensor *b = nb_reshape(c, nb__ext_entry(e, 1), 3, (long[]){C, 1, 1});
    nb_tensor *xs = nb_reshape(c, x, 4, (long[]){(long)x->shape[0], C, (long)e->in.d[1], (long)e->in.d[2]});
    return nb_add(c, nb_mul(c, xs, w), b);
}

static int t_init(nb__ext *e, nb_init init, double param, double gain, nb_rng *r)
{
    *(double *)e->state = gain;
    nb__init_weight(nb__ext_entry(e, 0), init, param, 1, 1, gain, r);
    nb__init_bias(nb__ext_entry(e, 1), init, 4, r);
    return 0;
}

static int t_describe(const nb__ext *e, char *buf, size_t size) { return snprintf(buf, size, "chscale(%g)", e->a[0]); }

static void t_release(nb__ext *e)
{
    free(e->state);
    t_released++;
}

static const nb__ext_kind t_kind = {"chscale", t_fwd, t_init, t_describe, t_release, NULL};

static int t_add(nb_model *m, size_t C, size_t H, size_t W)
{
    nb__shape s = {3, {C, H, W}};
    if (nb__ext_add(m, &t_kind, (double[]){7}, 1, &s, &s)) return -1;
    nb__layer_info L;
    nb__model_layer_info(m, nb__model_n_all_layers(m) - 1, &L);
    ((nb__ext *)L.ext)->state = calloc(1, sizeof(double));
    if (nb__ext_declare(m, "weight", 4, (size_t[]){C, 1, 1, 1}, 1) != 0) return -1;
    return nb__ext_declare(m, "bias", 1, (size_t[]){C}, 1) == 1 ? 0 : -1;
}

TEST(ext_layer, entries_forward_init_describe_release)
{
    t_released = 0;
    nb_model *m = nb_model_new(NB_F64);
    CHECK_OK(nb_model_set_input_shape(m, 3, (size_t[]){2, 3, 3}) == 0);
    CHECK_OK(t_add(m, 2, 3, 3) == 0);
    CHECK_OK(nb_model_residual_begin(m) == 0);
    CHECK_OK(t_add(m, 2, 3, 3) == 0);
    CHECK_OK(nb_model_residual_end(m) == 0);
    CHECK_OK(nb_model_act(m, NB_ACT_RELU, 0) == 0);
    CHECK_OK(nb_model_linear(m, 18, 2, 1) == 0);
    CHECK_OK(nb_model_finalize(m) == 0);

    const nb_model_entry *w = nb_model_find(m, "layers.0.weight");
    CHECK(w && w->t->ndim == 4 && w->t->shape[0] == 2 && w->t->shape[3] == 1 && w->layer == 0);
    CHECK(nb_model_find(m, "layers.1.block.0.bias") && nb_model_find(m, "layers.1.block.0.bias")->layer == 1);
    CHECK(nb_model_n_params(m) == 4 + 4 + 18 * 2 + 2);
    CHECK(!strcmp(nb_model_layer_kind(m, 0), "chscale"));

    nb_rng rng, *r = &rng;
    nb_rng_seed(r, 1);
    CHECK_OK(nb_model_init(m, NB_INIT_HE_NORMAL, 0, r) == 0);
    nb__layer_info L0, L1;
    nb__model_layer_info(m, 0, &L0);
    nb__model_layer_info(m, 2, &L1);
    CHECK(L0.ext && !strcmp(L0.kind, "chscale") && L0.in == 18 && L0.out == 18);
    CHECK(*(double *)L0.ext->state == 1.0); /* a residual block follows, not an activation */
    CHECK(*(double *)L1.ext->state == 1.0); /* last in its block */
    nb_tensor *b = nb_model_find(m, "layers.0.bias")->t;
    CHECK(nb_get(b, 0) == 0 && nb_get(b, 1) == 0); /* he: biases zero */

    char *spec = nb_model_spec(m);
    CHECK(spec && !strcmp(spec, "chscale(7) residual(chscale(7)) relu linear(2)"));
    free(spec);
    char d[256];
    CHECK(strstr(nb_model_describe(m, d, sizeof d), "chscale(7) residual[chscale(7)] relu linear(18->2)") != NULL);

    /* forward and backward through both extension layers */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F64, 2, (size_t[]){3, 18});
    for (size_t i = 0; i < x->numel; i++) nb_set(x, i, (double)i / 10 - 2);
    nb_fill(w->t, 2.0);
    nb_tensor *y = nb_model_forward(m, c, x, NULL);
    CHECK_OK(y && y->shape[0] == 3 && y->shape[1] == 2);
    CHECK_OK(nb_backward(c, nb_sum(c, y, NULL, 0, 0), NULL) == 0);
    /* d sum / d layers.0.weight[ch] is non-zero: the gradient flowed into it */
    CHECK(nb_get(w->t->grad, 0) != 0 || nb_get(w->t->grad, 1) != 0);
    CHECK(nb_model_layer_output(m, 0) && nb_model_layer_output(m, 0)->ndim == 4);
    nb_ctx_free(c);
    nb_model_free(m);
    CHECK(t_released == 2);
}

TEST(ext_layer, declare_errors)
{
    nb_model *m = nb_model_new(NB_F32);
    CHECK(nb__ext_declare(m, "weight", 1, (size_t[]){2}, 1) < 0 && strstr(nb_errmsg(), "no extension layer"));
    nb__shape s = {1, {4}};
    CHECK_OK(nb__ext_add(m, &t_kind, NULL, 0, &s, &s) == 0);
    CHECK(nb__ext_declare(m, "weight", 5, (size_t[]){1, 1, 1, 1, 1}, 1) < 0 && strstr(nb_errmsg(), "weight"));
    CHECK(nb__ext_declare(m, "weight", 2, (size_t[]){2, 0}, 1) < 0 && strstr(nb_errmsg(), "zero"));
    nb__shape s5 = {1, {5}};
    CHECK(nb__ext_add(m, &t_kind, NULL, 0, &s5, &s5) < 0 && strstr(nb_errmsg(), "5") && strstr(nb_errmsg(), "4"));
    CHECK(nb__ext_entry(NULL, 0) == NULL);
    nb_model_free(m); /* state NULL: release frees NULL */
}
