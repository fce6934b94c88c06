/* linear(out, bias) on a sequence: one sample [T, F] -> [T, out], the same
 * weights at every step, as PyTorch's nn.Linear on the last dim.  (A flat
 * [F] or an image, which linear flattens, is model.c's own linear layer.)
 * An extension layer (nn_internal.h) whose entries carry linear's names and
 * shapes, weight [out, F] and bias [out], so checkpoints and the PyTorch
 * round trip read it as the Linear it is. */
#include <math.h>
#include <stdio.h>

#include "../internal.h"
#include "nn_internal.h"

enum { A_OUT, A_BIAS, A_T, A_F, A_N };

static nb_tensor *nb__seq_linear_forward(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    if (!x) return NULL;
    const long N = (long)x->shape[0], T = (long)e->a[A_T], F = (long)e->a[A_F], O = (long)e->a[A_OUT];
    nb_tensor *rows = nb_reshape(c, x, 2, (const long[]){N * T, F});
    nb_tensor *y = nb_linear(c, rows, nb__ext_entry(e, 0), e->a[A_BIAS] != 0 ? nb__ext_entry(e, 1) : NULL, NB_ACT_NONE,
                             0);
    return nb_reshape(c, y, 3, (const long[]){N, T, O});
}

static int nb__seq_linear_init(nb__ext *e, nb_init init, double param, double gain, nb_rng *r)
{
    const double fan_in = e->a[A_F], fan_out = e->a[A_OUT];
    nb__init_weight(nb__ext_entry(e, 0), init, param, fan_in, fan_out, gain, r);
    if (e->a[A_BIAS] != 0) nb__init_bias(nb__ext_entry(e, 1), init, fan_in, r);
    return 0;
}

static int nb__seq_linear_describe(const nb__ext *e, char *buf, size_t size)
{
    return snprintf(buf, size, "linear(%.0f%s)", e->a[A_OUT], e->a[A_BIAS] != 0 ? "" : ",bias=0");
}

static const nb__ext_kind nb__seq_linear_kind = {
    "linear", nb__seq_linear_forward, nb__seq_linear_init, nb__seq_linear_describe, NULL, NULL};

int nb__build_seq_linear(nb__spec_ctx *b, size_t out, int bias)
{
    const size_t T = b->in.d[0], F = b->in.d[1];
    const double a[A_N] = {(double)out, bias ? 1 : 0, (double)T, (double)F};
    b->out.ndim = 2;
    b->out.d[0] = T;
    b->out.d[1] = out;
    if (nb__ext_add(b->m, &nb__seq_linear_kind, a, A_N, &b->in, &b->out)) return -1;
    if (nb__ext_declare(b->m, "weight", 2, (const size_t[]){out, F}, 1) < 0) return -1;
    if (bias && nb__ext_declare(b->m, "bias", 1, (const size_t[]){out}, 1) < 0) return -1;
    return 0;
}
