/* Gradient checking: the analytic Jacobian (from nb_backward) against central
 * differences, in float64, with PyTorch gradcheck's criterion
 *     |analytic - numeric| <= atol + rtol * |numeric|.
 *
 * Full mode builds the whole Jacobian J [n_out, N] (N = the elements of every
 * input that requires grad): row j analytically by a backward pass with the
 * one-hot upstream gradient e_j, column k numerically by
 * (f(x + eps e_k) - f(x - eps e_k)) / (2 eps) with grad mode off.  Fast mode
 * compares n_probes random projections u^T J v instead (u, v normal, from an
 * nb_rng seeded by opts->seed): analytically (J^T u) . v from one backward,
 * numerically u . (f(x + eps v) - f(x - eps v)) / (2 eps).
 *
 * The caller's tensors are never touched: float64 inputs are cloned (with
 * their requires_grad flag) and only the clones are perturbed and receive
 * gradients; int32 inputs are passed to fn as they are.  Every forward runs in
 * a fresh (reset) context of our own.
 *
 * Result: max_abs_err is the largest |a - n| over everything compared; the
 * "worst" entry is the one with the largest |a - n| / (atol + rtol |n|) (the
 * check passes when that ratio is <= 1), and max_rel_err is
 * |a - n| / max(|n|, atol / rtol) there, i.e. relative where |n| is large
 * enough for rtol to matter.  In fast mode worst_in_index is the probe number
 * and worst_input / worst_out_index are -1 / 0.  Zero-valued options take the
 * defaults (eps 1e-6, atol 1e-5, rtol 1e-3, n_probes 4). */
#include "../internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct nb__gc {
    nb_gc_fn fn;
    void *user;
    int n_in;
    nb_tensor **x; /* what fn gets: our clones (float64) or the caller's int32 tensors */
    nb_ctx *c;
    size_t n_out; /* elements of the output */
    int out_ndim;
    size_t out_shape[NB_MAX_DIMS];
    size_t n_cols; /* N: elements of the inputs that require grad */
    size_t *col0;  /* [n_in] first column of each input (SIZE_MAX if unchecked) */
    double atol, rtol, eps;
    nb_gradcheck_result *res;
    double worst_ratio;
} nb__gc;

static int nb__gc_fail(const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", nb_errmsg());
    return nb__erri("gradcheck: %s failed: %s", what, msg[0] ? msg : "(no message)");
}

/* Run fn in a reset context with grad mode `grad`; check the output. */
static nb_tensor *nb__gc_run(nb__gc *g, int grad)
{
    nb_ctx_reset(g->c);
    nb_set_grad_enabled(g->c, grad);
    nb_clear_error();
    nb_tensor *y = g->fn(g->c, g->x, g->n_in, g->user);
    if (!y) {
        nb__gc_fail("the function");
        return NULL;
    }
    if (y->dtype != NB_F64)
        return nb__err("gradcheck: the function returned a %s %s tensor; gradcheck runs in float64",
                       nb_dtype_name(y->dtype), nb__shp(y));
    if (g->n_out != SIZE_MAX && y->numel != g->n_out)
        return nb__err("gradcheck: the function returned %zu elements, then %zu", g->n_out, y->numel);
    return y;
}

/* One analytic backward with upstream gradient `up` (n_out doubles); writes
 * the gradient of every checked element (N doubles) into gcols. */
static int nb__gc_vjp(nb__gc *g, const double *up, double *gcols)
{
    for (int i = 0; i < g->n_in; i++)
        if (g->col0[i] != SIZE_MAX) nb_zero_grad(g->x[i]);
    nb_tensor *y = nb__gc_run(g, 1);
    if (!y) return -1;
    memset(gcols, 0, g->n_cols * sizeof *gcols);
    if (!nb_requires_grad(y)) return 0; /* output independent of every checked input */
    nb_tensor *u = nb_empty(g->c, NB_F64, y->ndim, y->shape);
    if (!u) return -1;
    memcpy(u->data, up, g->n_out * sizeof *up);
    if (nb_backward(g->c, y, u) != 0) return nb__gc_fail("backward");
    for (int i = 0; i < g->n_in; i++) {
        nb_tensor *gr = g->x[i]->grad;
        if (g->col0[i] == SIZE_MAX || !gr) continue;
        if (gr->dtype != NB_F64 || gr->numel != g->x[i]->numel)
            return nb__erri("gradcheck: the gradient of input %d is %s %s, not float64 %s", i, nb_dtype_name(gr->dtype),
                            nb__shp(gr), nb__shp(g->x[i]));
        memcpy(gcols + g->col0[i], gr->data, gr->numel * sizeof(double));
    }
    return 0;
}

/* Forward with grad mode off; the output into out (n_out doubles). */
static int nb__gc_eval(nb__gc *g, double *out)
{
    nb_tensor *y = nb__gc_run(g, 0);
    if (!y) return -1;
    memcpy(out, y->data, g->n_out * sizeof *out);
    return 0;
}

static void nb__gc_compare(nb__gc *g, double a, double n, int input, size_t in_index, size_t out_index)
{
    nb_gradcheck_result *r = g->res;
    double err = fabs(a - n), ratio = err / (g->atol + g->rtol * fabs(n));
    if (isnan(err)) err = ratio = INFINITY;
    if (err > r->max_abs_err) r->max_abs_err = err;
    r->n_checked++;
    if (ratio > g->worst_ratio || r->n_checked == 1) {
        double scale = g->rtol > 0 ? g->atol / g->rtol : g->atol;
        g->worst_ratio = ratio;
        r->max_rel_err = err / (fabs(n) > scale ? fabs(n) : scale);
        r->worst_input = input;
        r->worst_in_index = in_index;
        r->worst_out_index = out_index;
        r->worst_analytic = a;
        r->worst_numeric = n;
    }
}

static int nb__gc_full(nb__gc *g)
{
    size_t n_out = g->n_out, N = g->n_cols;
    if (n_out > SIZE_MAX / sizeof(double) / N)
        return nb__erri("gradcheck: a %zu x %zu Jacobian is too large; use fast mode", n_out, N);
    double *jac = malloc(n_out * N * sizeof *jac); /* [n_out, N] analytic */
    double *up = calloc(n_out, sizeof *up);        /* [n_out] one-hot */
    double *fp = malloc(n_out * sizeof *fp), *fm = malloc(n_out * sizeof *fm);
    int rc = 0;
    if (!jac || !up || !fp || !fm) {
        rc = nb__erri("gradcheck: out of memory for a %zu x %zu Jacobian", n_out, N);
        goto done;
    }
    for (size_t j = 0; j < n_out && !rc; j++) {
        up[j] = 1.0;
        rc = nb__gc_vjp(g, up, jac + j * N);
        up[j] = 0.0;
    }
    for (int i = 0; i < g->n_in && !rc; i++) {
        if (g->col0[i] == SIZE_MAX) continue;
        double *x = g->x[i]->data;
        for (size_t k = 0; k < g->x[i]->numel && !rc; k++) {
            double orig = x[k];
            x[k] = orig + g->eps;
            rc = nb__gc_eval(g, fp);
            x[k] = orig - g->eps;
            if (!rc) rc = nb__gc_eval(g, fm);
            x[k] = orig;
            for (size_t j = 0; j < n_out && !rc; j++)
                nb__gc_compare(g, jac[j * N + g->col0[i] + k], (fp[j] - fm[j]) / (2 * g->eps), i, k, j);
        }
    }
done:
    free(jac);
    free(up);
    free(fp);
    free(fm);
    return rc;
}

/* x_i = x0_i + s * v over every checked element. */
static void nb__gc_shift(nb__gc *g, double *const *x0, const double *v, double s)
{
    for (int i = 0; i < g->n_in; i++) {
        if (g->col0[i] == SIZE_MAX) continue;
        double *x = g->x[i]->data;
        for (size_t k = 0; k < g->x[i]->numel; k++) x[k] = x0[i][k] + s * v[g->col0[i] + k];
    }
}

static int nb__gc_fast(nb__gc *g, int n_probes, uint64_t seed)
{
    size_t n_out = g->n_out, N = g->n_cols;
    double *u = malloc(n_out * sizeof *u), *v = malloc(N * sizeof *v), *gv = malloc(N * sizeof *gv);
    double *fp = malloc(n_out * sizeof *fp), *fm = malloc(n_out * sizeof *fm);
    double **x0 = calloc((size_t)g->n_in, sizeof *x0); /* the unperturbed values */
    int rc = (!u || !v || !gv || !fp || !fm || !x0) ? nb__erri("gradcheck: out of memory") : 0;
    for (int i = 0; i < g->n_in && !rc; i++) {
        if (g->col0[i] == SIZE_MAX) continue;
        size_t bytes = g->x[i]->numel * sizeof(double);
        if (!(x0[i] = malloc(bytes ? bytes : 1))) rc = nb__erri("gradcheck: out of memory");
        else memcpy(x0[i], g->x[i]->data, bytes);
    }
    nb_rng r;
    nb_rng_seed(&r, seed);
    for (int p = 0; p < n_probes && !rc; p++) {
        for (size_t j = 0; j < n_out; j++) u[j] = nb_rng_normal(&r);
        for (size_t k = 0; k < N; k++) v[k] = nb_rng_normal(&r);
        rc = nb__gc_vjp(g, u, gv);
        double a = 0, n = 0;
        for (size_t k = 0; k < N; k++) a += gv[k] * v[k];
        nb__gc_shift(g, x0, v, g->eps);
        if (!rc) rc = nb__gc_eval(g, fp);
        nb__gc_shift(g, x0, v, -g->eps);
        if (!rc) rc = nb__gc_eval(g, fm);
        nb__gc_shift(g, x0, v, 0.0);
        for (size_t j = 0; j < n_out; j++) n += u[j] * (fp[j] - fm[j]) / (2 * g->eps);
        if (!rc) nb__gc_compare(g, a, n, -1, (size_t)p, 0);
    }
    for (int i = 0; x0 && i < g->n_in; i++) free(x0[i]);
    free(x0);
    free(u);
    free(v);
    free(gv);
    free(fp);
    free(fm);
    return rc;
}

int nb_gradcheck(nb_gc_fn fn, void *user, int n_in, nb_tensor *const *in, const nb_gradcheck_opts *opts,
                 nb_gradcheck_result *res)
{
    if (!res) return nb__erri("gradcheck: NULL result");
    *res = (nb_gradcheck_result){.worst_input = -1};
    if (!fn) return nb__erri("gradcheck: NULL function");
    if (n_in < 0 || (n_in > 0 && !in)) return nb__erri("gradcheck: bad inputs (n_in %d)", n_in);
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) return nb__erri("gradcheck: input %d is NULL", i);
        if (in[i]->dtype != NB_F64 && in[i]->dtype != NB_I32)
            return nb__erri("gradcheck: input %d %s is %s; inputs must be float64 (or int32)", i, nb__shp(in[i]),
                            nb_dtype_name(in[i]->dtype));
    }
    nb_gradcheck_opts o = opts ? *opts : (nb_gradcheck_opts){0};
    if (!(o.eps > 0)) o.eps = 1e-6;
    if (!(o.atol > 0)) o.atol = 1e-5;
    if (!(o.rtol > 0)) o.rtol = 1e-3;
    if (o.n_probes <= 0) o.n_probes = 4;

    nb__gc g = {.fn = fn,
                .user = user,
                .n_in = n_in,
                .n_out = SIZE_MAX,
                .atol = o.atol,
                .rtol = o.rtol,
                .eps = o.eps,
                .res = res};
    int rc = 0;
    g.x = calloc((size_t)n_in + 1, sizeof *g.x);
    g.col0 = calloc((size_t)n_in + 1, sizeof *g.col0);
    g.c = nb_ctx_new(NULL);
    if (!g.x || !g.col0 || !g.c) {
        rc = nb__erri("gradcheck: out of memory");
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        g.col0[i] = SIZE_MAX;
        if (in[i]->dtype == NB_I32) {
            g.x[i] = in[i];
            continue;
        }
        if (!(g.x[i] = nb_tensor_clone(in[i]))) {
            rc = -1;
            goto done;
        }
        if (nb_requires_grad(in[i])) {
            if (nb_tensor_set_requires_grad(g.x[i], 1)) {
                rc = -1;
                goto done;
            }
            g.col0[i] = g.n_cols;
            g.n_cols += in[i]->numel;
        }
    }
    nb_tensor *y = nb__gc_run(&g, 0); /* the output's size, and fn's errors, up front */
    if (!y) {
        rc = -1;
        goto done;
    }
    g.n_out = y->numel;
    if (g.n_out > 0 && g.n_cols > 0) rc = o.fast ? nb__gc_fast(&g, o.n_probes, o.seed) : nb__gc_full(&g);
    if (!rc) res->passed = g.worst_ratio <= 1.0;
done:
    for (int i = 0; g.x && i < n_in; i++)
        if (g.x[i] && g.x[i] != in[i]) nb_tensor_free(g.x[i]);
    free(g.x);
    free(g.col0);
    nb_ctx_free(g.c);
    if (rc) res->passed = 0;
    return rc;
}
