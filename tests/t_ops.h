/* Small helpers shared by the op tests (shape, reduce, matmul, index):
 * tensors from literal values and value/error checks. */
#ifndef NB_T_OPS_H
#define NB_T_OPS_H

#include <string.h>

#include "t.h"

/* An arena tensor of dtype dt holding v (numel values; v NULL = 0, 1, 2, ...). */
static inline nb_tensor *t_vals(nb_ctx *c, nb_dtype dt, int nd, const size_t *shape, const double *v)
{
    nb_tensor *t = nb_empty(c, dt, nd, shape);
    for (size_t i = 0; t && i < t->numel; i++) nb_set(t, i, v ? v[i] : (double)i);
    return t;
}

/* A long-lived leaf that requires grad (free with nb_tensor_free). */
static inline nb_tensor *t_leaf(nb_dtype dt, int nd, const size_t *shape, const double *v)
{
    nb_tensor *t = nb_tensor_new(dt, nd, shape);
    for (size_t i = 0; t && i < t->numel; i++) nb_set(t, i, v ? v[i] : (double)i);
    if (t) nb_tensor_set_requires_grad(t, 1);
    return t;
}

/* 1 when t has n elements close to want (tol relative-or-absolute); else prints
 * the first difference to stderr and returns 0. */
static inline int t_vals_near(const nb_tensor *t, const double *want, size_t n, double tol)
{
    if (!t) {
        fprintf(stderr, "    NULL tensor: %s\n", nb_errmsg());
        return 0;
    }
    if (t->numel != n) {
        fprintf(stderr, "    %zu elements, expected %zu\n", t->numel, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!t_close(nb_get(t, i), want[i], tol, tol)) {
            fprintf(stderr, "    element %zu is %.17g, expected %.17g\n", i, nb_get(t, i), want[i]);
            return 0;
        }
    return 1;
}

#define CHECK_VALS(t, want, tol) \
    CHECK_MSG(t_vals_near((t), (want), sizeof(want) / sizeof((want)[0]), (tol)), "%s != %s", #t, #want)

/* The shape of t is exactly the listed dims. */
static inline int t_shape_is(const nb_tensor *t, int nd, const size_t *shape)
{
    if (!t || t->ndim != nd) return 0;
    for (int d = 0; d < nd; d++)
        if (t->shape[d] != shape[d]) return 0;
    return 1;
}
#define CHECK_SHAPE(t, ...)                                                                                      \
    CHECK_MSG(t_shape_is((t), (int)(sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t)), (size_t[]){__VA_ARGS__}), \
              "%s has shape %s, expected [%s]", #t, (t) ? nb_shape_str((t), (char[96]){0}, 96) : "NULL", #__VA_ARGS__)

/* An op call that must return NULL with an error message containing frag1 (and frag2 unless NULL). */
static inline int t_err_has(const char *a, const char *b)
{
    const char *m = nb_errmsg();
    return m[0] && strstr(m, a) && (!b || strstr(m, b));
}
#define CHECK_ERR(expr, frag1, frag2)                                                                               \
    do {                                                                                                            \
        nb_clear_error();                                                                                           \
        int failed_ = !(expr);                                                                                      \
        CHECK_MSG(failed_ &&t_err_has((frag1), (frag2)), "%s: expected an error with \"%s\", got %s \"%s\"", #expr, \
                  (frag1), failed_ ? "failure" : "success", nb_errmsg());                                           \
    } while (0)

#endif
