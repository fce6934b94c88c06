/* A finite-difference sanity check for op tests (float64 only): compares the
 * gradient that backward puts in x->grad with central differences of the
 * projection sum_i w[i] * f(x)[i].  Quick, one input at a time; the full
 * gradcheck lives in src/autograd. */
#ifndef NB_T_FD_H
#define NB_T_FD_H

#include <math.h>

#include "nabla/nabla.h"

/* Builds the output from x in c (x is long-lived, float64, requires grad). */
typedef nb_tensor *(*t_fd_fn)(nb_ctx *c, nb_tensor *x, void *user);

/* sum_i w[i] * y[i]; w NULL means y is a scalar. */
static inline double t_fd_proj(const nb_tensor *y, const double *w)
{
    if (!y) return NAN;
    double s = 0;
    for (size_t i = 0; i < y->numel; i++) s += (w ? w[i] : 1.0) * nb_get(y, i);
    return s;
}

/* The largest |analytic - numeric| over x's elements (INFINITY if f or
 * backward fails).  x->grad is zeroed first.  w has y's element count. */
static inline double t_fd_maxerr(t_fd_fn f, nb_tensor *x, const double *w, void *user)
{
    const double h = 1e-6;
    nb_ctx *c = nb_ctx_new(NULL);
    double worst = INFINITY;
    nb_zero_grad(x);
    nb_tensor *y = f(c, x, user), *g = NULL;
    if (y && w) g = nb_from_data(c, NB_F64, y->ndim, y->shape, (void *)w, NB_COPY);
    if (!y || (w && !g) || nb_backward(c, y, g) != 0) goto out;
    worst = 0;
    for (size_t i = 0; i < x->numel; i++) {
        const double x0 = nb_get(x, i);
        nb_ctx_reset(c);
        nb_set(x, i, x0 + h);
        const double fp = t_fd_proj(f(c, x, user), w);
        nb_set(x, i, x0 - h);
        const double fm = t_fd_proj(f(c, x, user), w);
        nb_set(x, i, x0);
        const double err = fabs((fp - fm) / (2 * h) - nb_get(x->grad, i));
        if (!(err <= worst)) worst = err; /* NaN counts as worst */
    }
out:
    nb_ctx_free(c);
    return worst;
}

#endif
