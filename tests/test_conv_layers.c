/* The convolutional layer kinds of descriptions (src/nn/conv_layers.c):
 * shapes, PyTorch's entry names and layouts, the description written back,
 * init fans as PyTorch computes them, a residual block whose shape changes
 * (a strided 1x1 convolution on the skip path), and a small CNN that learns
 * generated images (bars: horizontal or vertical) with its loss going down;
 * no heap allocation in a steady-state training step. */
#include "t.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/monitor.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/train.h"
#include "t_alloc.h"
#include "t_steady.h"

static int entry_is(const nb_model *m, const char *name, int nd, const size_t *shape)
{
    const nb_model_entry *e = nb_model_find(m, name);
    if (!e || e->t->ndim != nd) return 0;
    for (int d = 0; d < nd; d++)
        if (e->t->shape[d] != shape[d]) return 0;
    return 1;
}

TEST(conv_layers, shapes_names_and_description)
{
    const char *d = "conv2d(8,k=3,p=1,bias=0) batchnorm2d relu residual(conv2d(16,k=3,s=2,p=1) "
                    "batchnorm2d(eps=0.001,momentum=0.2) relu conv2d(16,p=1,g=4)) maxpool2d(2) avgpool2d(3,s=1,p=1) "
                    "gap linear(10)";
    nb_model *m = nb_model_from_spec(d, NB_F32, 3, (size_t[]){1, 12, 12});
    CHECK_OK(m != NULL);
    if (!m) return;
    CHECK(entry_is(m, "layers.0.weight", 4, (size_t[]){8, 1, 3, 3}));
    CHECK(!nb_model_find(m, "layers.0.bias"));
    CHECK(entry_is(m, "layers.1.weight", 1, (size_t[]){8}) && entry_is(m, "layers.1.running_var", 1, (size_t[]){8}));
    CHECK(entry_is(m, "layers.1.num_batches_tracked", 0, NULL));
    CHECK(entry_is(m, "layers.3.block.0.weight", 4, (size_t[]){16, 8, 3, 3}));
    CHECK(entry_is(m, "layers.3.block.3.weight", 4, (size_t[]){16, 4, 3, 3}));
    CHECK(entry_is(m, "layers.3.proj.weight", 4, (size_t[]){16, 8, 1, 1}));
    CHECK(entry_is(m, "layers.7.weight", 2, (size_t[]){10, 16}));
    char *back = nb_model_spec(m);
    CHECK_MSG(back && strcmp(back, d) == 0, "written back as '%s'", back ? back : "(null)");
    free(back);
    /* forward on a flat batch, [N, C H W] */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, 3);
    CHECK_OK(nb_model_init(m, NB_INIT_HE_NORMAL, 0, &r) == 0);
    nb_tensor *x = nb_uniform(c, NB_F32, 2, (size_t[]){3, 144}, -1, 1, &r);
    nb_tensor *y = nb_model_forward(m, c, x, &r);
    CHECK_OK(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 10);
    nb_ctx_free(c);
    nb_model_free(m);
    /* shapes that do not fit say so */
    CHECK(!nb_model_from_spec("linear(10) conv2d(4)", NB_F32, 3, (size_t[]){1, 8, 8}) &&
          strstr(nb_errmsg(), "[C, H, W]"));
    CHECK(!nb_model_from_spec("conv2d(4,k=9)", NB_F32, 3, (size_t[]){1, 8, 8}) && strstr(nb_errmsg(), "9x9"));
    CHECK(!nb_model_from_spec("conv2d(4,g=3)", NB_F32, 3, (size_t[]){2, 8, 8}) && strstr(nb_errmsg(), "groups"));
    CHECK(!nb_model_from_spec("maxpool2d(2,p=2)", NB_F32, 3, (size_t[]){2, 8, 8}) && strstr(nb_errmsg(), "half"));
}

TEST(conv_layers, init_uses_torch_conv_fans)
{
    /* fan_in = C / g k k = 16 / 2 * 9 = 72: torch init U(+-1/sqrt(72)) for weight and bias */
    nb_model *m = nb_model_from_spec("conv2d(32,k=3,g=2) relu", NB_F64, 3, (size_t[]){16, 9, 9});
    nb_rng r;
    nb_rng_seed(&r, 5);
    CHECK_OK(m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    if (!m) return;
    const nb_tensor *w = nb_model_find(m, "layers.0.weight")->t, *b = nb_model_find(m, "layers.0.bias")->t;
    double lim = 1 / sqrt(72.0), wmax = 0, ss = 0;
    for (size_t i = 0; i < w->numel; i++) wmax = fmax(wmax, fabs(nb_get(w, i)));
    for (size_t i = 0; i < b->numel; i++) wmax = fmax(wmax, fabs(nb_get(b, i)));
    CHECK(wmax <= lim && wmax > 0.9 * lim);
    /* he_normal before a relu: std sqrt(2 / fan_in) */
    CHECK_OK(nb_model_init(m, NB_INIT_HE_NORMAL, 0, &r) == 0);
    for (size_t i = 0; i < w->numel; i++) ss += nb_get(w, i) * nb_get(w, i);
    const double sd = sqrt(ss / (double)w->numel);
    CHECK_MSG(fabs(sd / sqrt(2 / 72.0) - 1) < 0.1, "std %g, expected %g", sd, sqrt(2 / 72.0));
    nb_model_free(m);
}

/* 8x8 images: a bright bar across a random row (class 0) or down a random
 * column (class 1), over noise. */
static void bars(nb_tensor *x, nb_tensor *y, nb_rng *r)
{
    const size_t n = x->shape[0];
    for (size_t i = 0; i < n; i++) {
        const int cls = (int)nb_rng_below(r, 2), at = (int)nb_rng_below(r, 8);
        nb_set(y, i, cls);
        for (int p = 0; p < 64; p++) {
            const int on = cls == 0 ? p / 8 == at : p % 8 == at;
            nb_set(x, i * 64 + (size_t)p, (on ? 1.0 : 0.0) + 0.3 * (nb_rng_uniform(r) - 0.5));
        }
    }
}

TEST(conv_layers, small_cnn_learns_bars)
{
    nb_model *m = nb_model_from_spec("conv2d(4,k=3,p=1) batchnorm2d relu residual(conv2d(8,k=3,s=2,p=1) relu) "
                                     "maxpool2d(2) gap linear(2)",
                                     NB_F32, 3, (size_t[]){1, 8, 8});
    nb_rng r;
    nb_rng_seed(&r, 11);
    CHECK_OK(m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    if (!m) return;
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    oc.lr = 1e-2;
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_ctx *c = nb_ctx_new(NULL);
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        nb_tensor *x = nb_empty(c, NB_F32, 2, (size_t[]){32, 64}), *y = nb_empty(c, NB_I32, 1, (size_t[]){32});
        bars(x, y, &r);
        nb_model_zero_grad(m);
        nb_tensor *loss = nb_cross_entropy(c, nb_model_forward(m, c, x, &r), y, NB_MEAN, 0);
        CHECK_OK(loss && nb_backward(c, loss, NULL) == 0);
        if (!loss) break;
        if (step < 5) first += nb_item(loss) / 5;
        if (step >= 55) last += nb_item(loss) / 5;
        CHECK_OK(nb_optim_step(o, nb_model_params(m), nb_model_grads(m)) == 0);
        nb_ctx_reset(c);
    }
    CHECK_MSG(last < 0.5 * first, "loss %g -> %g", first, last);
    CHECK(nb_get(nb_model_find(m, "layers.1.num_batches_tracked")->t, 0) == 60);
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
}

/* conv2d relu maxpool2d(2) runs as one op (no relu output is made), unless
 * a monitor reads the relu layers: training steps give the same bytes
 * either way, 1 and 2 threads. */
TEST(conv_layers, relu_and_pool_taken_in_train_as_the_layers_apart)
{
    const char *d =
        "conv2d(8,k=3,p=1) relu maxpool2d(2) conv2d(16,k=3,p=1,bias=0) relu maxpool2d(2) flatten linear(10)";
    const int saved = nb_get_threads();
    for (int threads = 1; threads <= 2; threads++) {
        nb_set_threads(threads);
        nb_model *m[2];
        nb_optim *o[2];
        nb_monitor *mon = NULL;
        enum { B = 12 };
        float x[B * 196];
        int32_t y[B];
        for (int k = 0; k < 2; k++) {
            nb_rng r;
            nb_rng_seed(&r, 8);
            m[k] = nb_model_from_spec(d, NB_F32, 3, (size_t[]){1, 14, 14});
            CHECK_OK(m[k] && nb_model_init(m[k], NB_INIT_TORCH, 0, &r) == 0);
            if (!m[k]) return;
            nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
            o[k] = nb_optim_new(&oc, NB_F32, nb_model_n_params(m[k]));
        }
        CHECK_OK((mon = nb_monitor_new(m[1], NULL)) != NULL); /* m[1] keeps its relu outputs */
        nb_rng r;
        nb_rng_seed(&r, 9);
        for (int step = 0; step < 3; step++) {
            for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)nb_rng_uniform(&r) - 0.3f;
            for (int i = 0; i < B; i++) y[i] = (int32_t)nb_rng_below(&r, 10);
            for (int k = 0; k < 2; k++) {
                nb_ctx *c = nb_ctx_new(NULL);
                nb_step_opts so = {.clip_norm = 1.0};
                nb_step_result res;
                CHECK_OK(nb_train_step(m[k], o[k], c, x, y, B, &so, &res) == 0);
                if (step == 2) {
                    CHECK_MSG((nb_model_layer_output(m[k], 1) == NULL) == (k == 0), "model %d: relu output %p", k,
                              (void *)nb_model_layer_output(m[k], 1));
                    CHECK(nb_model_layer_output(m[k], 2) != NULL);
                }
                nb_ctx_free(c);
            }
        }
        CHECK_MSG(memcmp(nb_model_params(m[0]), nb_model_params(m[1]), nb_model_n_params(m[0]) * sizeof(float)) == 0,
                  "%d threads: the parameters differ after 3 steps", threads);
        nb_monitor_free(mon);
        for (int k = 0; k < 2; k++) nb_model_free(m[k]), nb_optim_free(o[k]);
    }
    nb_set_threads(saved);
}

TEST(conv_layers, training_step_makes_no_heap_allocation_after_warmup)
{
#if !T_ALLOC_INTERPOSED
    T_SKIP("allocation counting needs glibc without ASan");
#else
    const char *why;
    if (!t_alloc_usable(&why)) T_SKIP("%s", why);
    enum { B = 16 };
    nb_model *m = nb_model_from_spec("conv2d(8,k=3,p=1) batchnorm2d relu maxpool2d(2) residual(conv2d(16,k=3,s=2,p=1) "
                                     "relu) avgpool2d(2) gap linear(10)",
                                     NB_F32, 3, (size_t[]){1, 28, 28});
    nb_rng r;
    nb_rng_seed(&r, 4);
    CHECK_OK(m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    if (!m) return;
    long allocs = t_steady_allocs(m, &r, &(t_steady){.batch = B, .in = 784, .classes = 10, .steps = 8});
    CHECK_MSG(allocs == 0, "%ld heap allocations in 6 steady-state steps", allocs);
    nb_model_free(m);
    /* the CNN of the benchmark, whose conv2d relu maxpool2d run as one op */
    m = nb_model_from_spec(
        "conv2d(8,k=3,p=1) relu maxpool2d(2) conv2d(16,k=3,p=1) relu maxpool2d(2) flatten linear(10)", NB_F32, 3,
        (size_t[]){1, 28, 28});
    CHECK_OK(m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    if (!m) return;
    allocs = t_steady_allocs(m, &r, &(t_steady){.batch = B, .in = 784, .classes = 10, .steps = 8});
    CHECK_MSG(allocs == 0, "conv relu pool: %ld heap allocations in 6 steady-state steps", allocs);
    nb_model_free(m);
#endif
}

/* docs/cnn.md's residual CNN, exactly as written there: it parses on
 * Fashion-MNIST's [1, 28, 28], has 9 3x3 convolutions (and two strided 1x1
 * ones on the skip paths) and 82234 parameters, and trains a few steps on
 * generated images (finite loss, running statistics tracked). */
TEST(conv_layers, documented_resnet_parses_and_trains)
{
    const char *d = "conv2d(16,k=3,p=1,bias=0) batchnorm2d relu maxpool2d(2) "
                    "residual(conv2d(16,k=3,p=1,bias=0) batchnorm2d relu conv2d(16,k=3,p=1,bias=0) batchnorm2d) relu "
                    "residual(conv2d(16,k=3,p=1,bias=0) batchnorm2d relu conv2d(16,k=3,p=1,bias=0) batchnorm2d) relu "
                    "residual(conv2d(32,k=3,s=2,p=1,bias=0) batchnorm2d relu conv2d(32,k=3,p=1,bias=0) batchnorm2d) "
                    "relu residual(conv2d(64,k=3,s=2,p=1,bias=0) batchnorm2d relu conv2d(64,k=3,p=1,bias=0) "
                    "batchnorm2d) relu gap linear(10)";
    nb_model *m = nb_model_from_spec(d, NB_F32, 3, (size_t[]){1, 28, 28});
    CHECK_OK(m != NULL);
    if (!m) return;
    int k3 = 0, k1 = 0;
    for (size_t i = 0; i < nb_model_n_entries(m); i++) {
        const nb_tensor *t = nb_model_entry_at(m, i)->t;
        k3 += t->ndim == 4 && t->shape[2] == 3;
        k1 += t->ndim == 4 && t->shape[2] == 1;
    }
    CHECK_MSG(k3 == 9 && k1 == 2 && nb_model_n_params(m) == 82234, "%d 3x3, %d 1x1, %zu params", k3, k1,
              nb_model_n_params(m));
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_ctx *c = nb_ctx_new(NULL);
    enum { N = 8 };
    float *x = malloc(N * 784 * sizeof *x);
    int32_t y[N];
    nb_step_opts so = {.clip_norm = 1.0, .rng = &r};
    for (int step = 0; step < 3 && x; step++) {
        for (int i = 0; i < N; i++) {
            y[i] = (int32_t)nb_rng_below(&r, 10);
            for (int p = 0; p < 784; p++) x[i * 784 + p] = (float)(nb_rng_normal(&r) + 0.1 * y[i]);
        }
        nb_step_result res;
        CHECK_OK(nb_train_step(m, o, c, x, y, N, &so, &res) == 0);
        CHECK_MSG(isfinite(res.loss) && !res.nonfinite && res.loss > 1 && res.loss < 4, "step %d: loss %g", step,
                  res.loss);
    }
    CHECK(nb_get(nb_model_find(m, "layers.1.num_batches_tracked")->t, 0) == 3);
    free(x);
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
}

/* The CLI's evaluation batch keeps a CNN's activations near 64 MiB instead of
 * 1000 images at a time; an MLP still takes 1000. */
TEST(conv_layers, evaluation_batch_follows_the_activations)
{
    static const size_t img[3] = {1, 28, 28};
    nb_model *mlp = nb_model_from_spec("linear(128) relu linear(10)", NB_F32, 3, img);
    nb_model *cnn = nb_model_from_spec("conv2d(32,k=3,p=1) relu maxpool2d(2) conv2d(64,k=3,p=1) relu maxpool2d(2) "
                                       "flatten linear(128) relu linear(10)",
                                       NB_F32, 3, img);
    nb_model *wide = nb_model_from_spec("conv2d(512,k=3,p=1) relu gap linear(10)", NB_F32, 3, img);
    CHECK(mlp && cnn && wide);
    nb_summary *s = nb_model_summary(cnn);
    CHECK(s != NULL);
    if (s) {
        /* 25088 + 25088 + 6272 + 12544 + 12544 + 3136 + 3136 + 128 + 128 + 10 floats a sample */
        CHECK_MSG(s->activation_bytes == 88074 * 4, "%zu", s->activation_bytes);
        CHECK_MSG(nb_evaluate_batch(cnn) == ((size_t)64 << 20) / (2 * s->activation_bytes), "%zu",
                  nb_evaluate_batch(cnn));
    }
    nb_summary_free(s);
    CHECK(nb_evaluate_batch(mlp) == 1000);
    CHECK_MSG(nb_evaluate_batch(wide) == 16, "%zu", nb_evaluate_batch(wide)); /* 401k floats a sample: the floor */
    CHECK(nb_evaluate_batch(NULL) == 1000);
    nb_model_free(mlp);
    nb_model_free(cnn);
    nb_model_free(wide);
}
