/* Convolutional layers as extension layers (nn_internal.h): each kind is a
 * build function for spec.c's registry and a small nb__ext_kind table.  The
 * ops are src/ops/conv.c's.  Arguments kept in e->a:
 *   conv2d      out, k, s, p, d, g, bias
 *   max/avgpool k, s (resolved: 0 in the description means k), p
 *   batchnorm2d eps, momentum, affine */
#include "conv_layers.h"

#include "../internal.h"

/* ------------------------------------------------------------ helpers */
/* b->in must be one image, [C, H, W]. */
static int nb__need_image(nb__spec_ctx *b)
{
    if (b->in.ndim == 3) return 0;
    snprintf(b->expect, sizeof b->expect, "[C, H, W] (an image per sample)");
    return NB__SPEC_SHAPE;
}

/* x as [N, C, H, W] for the layer's input image. */
static nb_tensor *nb__as_image(nb_ctx *c, const nb__ext *e, nb_tensor *x)
{
    if (x->ndim == 4) return x;
    return nb_reshape(c, x, 4, (long[]){(long)x->shape[0], (long)e->in.d[0], (long)e->in.d[1], (long)e->in.d[2]});
}

/* The output size of a window along one axis, or 0 when it does not fit. */
static size_t nb__win_out(size_t len, size_t k, size_t s, size_t p, size_t d)
{
    const size_t ext = d * (k - 1) + 1;
    return len + 2 * p < ext ? 0 : (len + 2 * p - ext) / s + 1;
}

static int nb__argtail(char *buf, size_t size, int at, const char *key, double v, double def)
{
    if (v == def || at < 0 || (size_t)at >= size) return at;
    return at + snprintf(buf + at, size - (size_t)at, ",%s=%g", key, v);
}

/* ------------------------------------------------------------- conv2d */
/* The layer, with the activation layer after it taken in (nn_internal.h)
 * or without (NB_ACT_NONE). */
static nb_tensor *nb__conv_fwd_act(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r, nb_act act, double param)
{
    (void)r;
    return nb__conv2d_act(c, nb__as_image(c, e, x), nb__ext_entry(e, 0), e->a[6] != 0 ? nb__ext_entry(e, 1) : NULL,
                          (int)e->a[2], (int)e->a[3], (int)e->a[4], (int)e->a[5], act, param);
}

static nb_tensor *nb__conv_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    return nb__conv_fwd_act(e, c, x, r, NB_ACT_NONE, 0);
}

/* PyTorch's fans for conv: fan_in = C/g k k, fan_out = out/g k k. */
static int nb__conv_init(nb__ext *e, nb_init init, double param, double gain, nb_rng *r)
{
    const double kk = e->a[1] * e->a[1], g = e->a[5];
    const double fan_in = (double)e->in.d[0] / g * kk, fan_out = e->a[0] / g * kk;
    nb__init_weight(nb__ext_entry(e, 0), init, param, fan_in, fan_out, gain, r);
    if (e->a[6] != 0) nb__init_bias(nb__ext_entry(e, 1), init, fan_in, r);
    return 0;
}

static int nb__conv_describe(const nb__ext *e, char *buf, size_t size)
{
    int at = snprintf(buf, size, "conv2d(%g,k=%g", e->a[0], e->a[1]);
    at = nb__argtail(buf, size, at, "s", e->a[2], 1);
    at = nb__argtail(buf, size, at, "p", e->a[3], 0);
    at = nb__argtail(buf, size, at, "d", e->a[4], 1);
    at = nb__argtail(buf, size, at, "g", e->a[5], 1);
    at = nb__argtail(buf, size, at, "bias", e->a[6] != 0, 1);
    if (at >= 0 && (size_t)at < size) at += snprintf(buf + at, size - (size_t)at, ")");
    return at;
}

static const nb__ext_kind nb__conv2d_kind = {"conv2d",          nb__conv_fwd, nb__conv_init,
                                             nb__conv_describe, NULL,         nb__conv_fwd_act};

int nb__build_conv2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    (void)def;
    int rc = nb__need_image(b);
    if (rc) return rc;
    const size_t C = b->in.d[0], O = (size_t)a[0], k = (size_t)a[1], s = (size_t)a[2], p = (size_t)a[3];
    const size_t d = (size_t)a[4], g = (size_t)a[5];
    if (C % g || O % g) return nb__erri("groups = %zu must divide the %zu input and %zu output channels", g, C, O);
    const size_t oh = nb__win_out(b->in.d[1], k, s, p, d), ow = nb__win_out(b->in.d[2], k, s, p, d);
    if (!oh || !ow)
        return nb__erri("a %zux%zu kernel (dilation %zu) does not fit a %zux%zu image padded by %zu", k, k, d,
                        b->in.d[1], b->in.d[2], p);
    b->out = (nb__shape){3, {O, oh, ow}};
    if (nb__ext_add(b->m, &nb__conv2d_kind, a, 7, &b->in, &b->out) ||
        nb__ext_declare(b->m, "weight", 4, (size_t[]){O, C / g, k, k}, 1) < 0 ||
        (a[6] != 0 && nb__ext_declare(b->m, "bias", 1, &O, 1) < 0))
        return -1;
    return 0;
}

/* ------------------------------------------------------------ pooling */
static nb_tensor *nb__maxpool_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    return nb_max_pool2d(c, nb__as_image(c, e, x), (int)e->a[0], (int)e->a[1], (int)e->a[2]);
}

static nb_tensor *nb__avgpool_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    return nb_avg_pool2d(c, nb__as_image(c, e, x), (int)e->a[0], (int)e->a[1], (int)e->a[2]);
}

static int nb__pool_describe(const nb__ext *e, char *buf, size_t size)
{
    int at = snprintf(buf, size, "%s(%g", e->kind->name, e->a[0]);
    at = nb__argtail(buf, size, at, "s", e->a[1], e->a[0]);
    at = nb__argtail(buf, size, at, "p", e->a[2], 0);
    if (at >= 0 && (size_t)at < size) at += snprintf(buf + at, size - (size_t)at, ")");
    return at;
}

static const nb__ext_kind nb__maxpool2d_kind = {"maxpool2d", nb__maxpool_fwd, NULL, nb__pool_describe, NULL, NULL};
static const nb__ext_kind nb__avgpool2d_kind = {"avgpool2d", nb__avgpool_fwd, NULL, nb__pool_describe, NULL, NULL};

int nb__conv_takes_pool(const nb__ext *conv, const nb__ext *next)
{
    return conv->kind == &nb__conv2d_kind && next->kind == &nb__maxpool2d_kind && next->a[1] == next->a[0] &&
           next->a[2] == 0;
}

nb_tensor *nb__conv_fwd_relu_pool(nb__ext *e, nb_ctx *c, nb_tensor *x, const nb__ext *pool)
{
    return nb__conv2d_relu_pool(c, nb__as_image(c, e, x), nb__ext_entry(e, 0),
                                e->a[6] != 0 ? nb__ext_entry(e, 1) : NULL, (int)e->a[2], (int)e->a[3], (int)e->a[4],
                                (int)e->a[5], (int)pool->a[0]);
}

static int nb__build_pool(nb__spec_ctx *b, const nb__ext_kind *kind, const double *a)
{
    int rc = nb__need_image(b);
    if (rc) return rc;
    const size_t k = (size_t)a[0], s = a[1] > 0 ? (size_t)a[1] : k, p = (size_t)a[2];
    if (p > k / 2) return nb__erri("padding %zu must be at most half the kernel (%zu)", p, k);
    const size_t oh = nb__win_out(b->in.d[1], k, s, p, 1), ow = nb__win_out(b->in.d[2], k, s, p, 1);
    if (!oh || !ow)
        return nb__erri("a %zux%zu window does not fit a %zux%zu image padded by %zu", k, k, b->in.d[1], b->in.d[2], p);
    b->out = (nb__shape){3, {b->in.d[0], oh, ow}};
    return nb__ext_add(b->m, kind, (double[]){(double)k, (double)s, (double)p}, 3, &b->in, &b->out);
}

int nb__build_maxpool2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    (void)def;
    return nb__build_pool(b, &nb__maxpool2d_kind, a);
}

int nb__build_avgpool2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    (void)def;
    return nb__build_pool(b, &nb__avgpool2d_kind, a);
}

static nb_tensor *nb__gap_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    return nb_global_avg_pool2d(c, nb__as_image(c, e, x));
}

static int nb__gap_describe(const nb__ext *e, char *buf, size_t size)
{
    (void)e;
    return snprintf(buf, size, "gap");
}

static const nb__ext_kind nb__gap_kind = {"gap", nb__gap_fwd, NULL, nb__gap_describe, NULL, NULL};

int nb__build_gap(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    (void)def, (void)a;
    int rc = nb__need_image(b);
    if (rc) return rc;
    b->out = (nb__shape){1, {b->in.d[0]}};
    return nb__ext_add(b->m, &nb__gap_kind, NULL, 0, &b->in, &b->out);
}

/* ---------------------------------------------------------- batchnorm2d */
/* entries: weight, bias (affine only), then running_mean, running_var,
 * num_batches_tracked */
static nb_tensor *nb__bn2d_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    const int aff = e->a[2] != 0, s = aff ? 2 : 0;
    nb_tensor *y = nb_batch_norm2d(c, nb__as_image(c, e, x), aff ? nb__ext_entry(e, 0) : NULL,
                                   aff ? nb__ext_entry(e, 1) : NULL, nb__ext_entry(e, s), nb__ext_entry(e, s + 1),
                                   e->a[1], e->a[0]);
    if (y && nb_training(c)) {
        nb_tensor *nbt = nb__ext_entry(e, s + 2);
        nb_set(nbt, 0, nb_get(nbt, 0) + 1);
    }
    return y;
}

static int nb__bn2d_init(nb__ext *e, nb_init init, double param, double gain, nb_rng *r)
{
    (void)init, (void)param, (void)gain, (void)r;
    const int s = e->a[2] != 0 ? 2 : 0;
    if (s) {
        nb_fill(nb__ext_entry(e, 0), 1.0);
        nb_fill(nb__ext_entry(e, 1), 0.0);
    }
    nb_fill(nb__ext_entry(e, s), 0.0);
    nb_fill(nb__ext_entry(e, s + 1), 1.0);
    nb_fill(nb__ext_entry(e, s + 2), 0.0);
    return 0;
}

static int nb__bn2d_describe(const nb__ext *e, char *buf, size_t size)
{
    int at = snprintf(buf, size, "batchnorm2d");
    if (e->a[0] == 1e-5 && e->a[1] == 0.1 && e->a[2] != 0) return at;
    if (at >= 0 && (size_t)at < size) at += snprintf(buf + at, size - (size_t)at, "(eps=%g", e->a[0]);
    at = nb__argtail(buf, size, at, "momentum", e->a[1], 0.1);
    at = nb__argtail(buf, size, at, "affine", e->a[2] != 0, 1);
    if (at >= 0 && (size_t)at < size) at += snprintf(buf + at, size - (size_t)at, ")");
    return at;
}

static const nb__ext_kind nb__bn2d_kind = {"batchnorm2d", nb__bn2d_fwd, nb__bn2d_init, nb__bn2d_describe, NULL, NULL};

int nb__build_batchnorm2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    (void)def;
    int rc = nb__need_image(b);
    if (rc) return rc;
    const size_t C = b->in.d[0];
    b->out = b->in;
    if (nb__ext_add(b->m, &nb__bn2d_kind, a, 3, &b->in, &b->out)) return -1;
    if (a[2] != 0 && (nb__ext_declare(b->m, "weight", 1, &C, 1) < 0 || nb__ext_declare(b->m, "bias", 1, &C, 1) < 0))
        return -1;
    if (nb__ext_declare(b->m, "running_mean", 1, &C, 0) < 0 || nb__ext_declare(b->m, "running_var", 1, &C, 0) < 0 ||
        nb__ext_declare(b->m, "num_batches_tracked", 0, NULL, 0) < 0)
        return -1;
    return 0;
}
