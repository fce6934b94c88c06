/* Custom differentiable functions (nb_apply): gradients equal the built-in
 * composition, grad mode inside, saved tensors, needs_grad, and error paths. */
#include "t.h"
#include "t_fd.h"

#include <string.h>

/* What the callbacks observed, for the test to check. */
typedef struct {
    int grad_on_in_forward, grad_on_in_backward;
    int needs[2];
    int fail_forward, fail_backward, bad_grad; /* 1: wrong shape, 2: wrong dtype */
} probe;

/* cube(x) = x^3, backward 3 x^2 g, built from ops inside the function. */
static nb_tensor *cube_fwd(nb_fnctx *fc, nb_tensor *const *in, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    probe *p = nb_fn_user(fc);
    if (p) {
        p->grad_on_in_forward = nb_grad_enabled(c);
        p->needs[0] = nb_fn_needs_grad(fc, 0);
    }
    if (nb_fn_save(fc, in[0])) return NULL;
    return nb_mul(c, nb_mul(c, in[0], in[0]), in[0]);
}

static int cube_bwd(nb_fnctx *fc, const nb_tensor *g, nb_tensor **gin, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    probe *p = nb_fn_user(fc);
    if (p) p->grad_on_in_backward = nb_grad_enabled(c);
    nb_tensor *x = nb_fn_saved(fc, 0);
    nb_tensor *gx = nb_mul(c, nb_mul_scalar(c, nb_mul(c, x, x), 3.0), (nb_tensor *)g);
    if (!gx) return -1;
    gin[0] = gx;
    return 0;
}

static const nb_function CUBE = {"cube", cube_fwd, cube_bwd};

/* f(a, b) = a * b + exp(a): da = g (b + exp(a)), db = g a. */
static nb_tensor *two_fwd(nb_fnctx *fc, nb_tensor *const *in, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    probe *p = nb_fn_user(fc);
    if (p && p->fail_forward) return nb_log(c, nb_zeros(c, NB_I32, 1, (size_t[]){2})); /* int32 log fails */
    if (p) {
        p->needs[0] = nb_fn_needs_grad(fc, 0);
        p->needs[1] = nb_fn_needs_grad(fc, 1);
    }
    nb_tensor *ea = nb_exp(c, in[0]);
    if (nb_fn_save(fc, in[0]) || nb_fn_save(fc, in[1]) || nb_fn_save(fc, ea)) return NULL;
    return nb_add(c, nb_mul(c, in[0], in[1]), ea);
}

static int two_bwd(nb_fnctx *fc, const nb_tensor *g, nb_tensor **gin, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    probe *p = nb_fn_user(fc);
    if (p && p->fail_backward == 1) return nb_log(c, nb_zeros(c, NB_I32, 1, (size_t[]){2})) ? 0 : -1;
    if (p && p->fail_backward == 2) { /* an op fails, the gradient is NULL, and backward says 0 */
        gin[0] = nb_log(c, nb_zeros(c, NB_I32, 1, (size_t[]){2}));
        return 0;
    }
    nb_tensor *a = nb_fn_saved(fc, 0), *b = nb_fn_saved(fc, 1), *ea = nb_fn_saved(fc, 2);
    nb_tensor *gg = (nb_tensor *)g;
    if (nb_fn_needs_grad(fc, 0)) gin[0] = nb_mul(c, gg, nb_add(c, b, ea));
    if (nb_fn_needs_grad(fc, 1)) gin[1] = nb_mul(c, gg, a);
    if (p && p->bad_grad == 1) gin[0] = nb_zeros(c, a->dtype, 1, (size_t[]){1});
    if (p && p->bad_grad == 2) gin[0] = nb_zeros(c, a->dtype == NB_F32 ? NB_F64 : NB_F32, a->ndim, a->shape);
    return 0;
}

static const nb_function TWO = {"two_input_fn", two_fwd, two_bwd};

TEST(function, cube_matches_builtin)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_rng r;
        nb_rng_seed(&r, 3);
        nb_tensor *x1 = nb_tensor_new(dt, 2, (size_t[]){2, 3}), *x2 = nb_tensor_new(dt, 2, (size_t[]){2, 3});
        nb_fill_normal(x1, 0, 1, &r);
        nb_copy_into(x2, x1);
        nb_tensor_set_requires_grad(x1, 1);
        nb_tensor_set_requires_grad(x2, 1);
        probe p = {0};
        nb_tensor *y1 = nb_apply(c, &CUBE, 1, &x1, &p), *y2 = nb_pow_scalar(c, x2, 3);
        CHECK_OK(y1 && y2);
        CHECK(p.grad_on_in_forward == 0 && p.needs[0] == 1);
        CHECK(nb_grad_enabled(c) == 1); /* restored */
        CHECK(nb_is_leaf(x1) && !nb_is_leaf(y1) && nb_requires_grad(y1));
        nb_tensor *g = nb_normal(c, dt, 2, (size_t[]){2, 3}, 0, 1, &r);
        CHECK_OK(nb_backward(c, y1, g) == 0 && nb_backward(c, y2, g) == 0);
        CHECK(p.grad_on_in_backward == 0);
        /* The node carries the function's name (the engine's messages use it). */
        CHECK(nb_backward(c, y1, g) != 0 && strstr(nb_errmsg(), "cube"));
        for (size_t i = 0; x1->grad && x2->grad && i < 6; i++) {
            CHECK_NEAR(nb_get(y1, i), nb_get(y2, i), 1e-6);
            CHECK_NEAR(nb_get(x1->grad, i), nb_get(x2->grad, i), 1e-6);
        }
        nb_tensor_free(x1);
        nb_tensor_free(x2);
        nb_ctx_free(c);
    }
}

TEST(function, two_inputs_match_builtin_and_accumulate)
{
    /* z = f(a, b) * a + a: a reaches the loss through the function and through
     * built-in ops, so its gradient accumulates from both paths. */
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-5 : 1e-13;
        nb_ctx *c = nb_ctx_new(NULL);
        nb_rng r;
        nb_rng_seed(&r, 9);
        nb_tensor *t[4];
        for (int i = 0; i < 4; i++) {
            t[i] = nb_tensor_new(dt, 1, (size_t[]){5});
            nb_tensor_set_requires_grad(t[i], 1);
        }
        nb_fill_normal(t[0], 0, 1, &r);
        nb_fill_normal(t[1], 0, 1, &r);
        nb_copy_into(t[2], t[0]);
        nb_copy_into(t[3], t[1]);
        nb_tensor *f1 = nb_apply(c, &TWO, 2, t, NULL);
        nb_tensor *f2 = nb_add(c, nb_mul(c, t[2], t[3]), nb_exp(c, t[2]));
        nb_tensor *z1 = nb_add(c, nb_mul(c, f1, t[0]), t[0]), *z2 = nb_add(c, nb_mul(c, f2, t[2]), t[2]);
        nb_tensor *g = nb_normal(c, dt, 1, (size_t[]){5}, 0, 1, &r);
        CHECK_OK(z1 && z2);
        CHECK_OK(nb_backward(c, z1, g) == 0 && nb_backward(c, z2, g) == 0);
        for (size_t i = 0; t[0]->grad && t[2]->grad && i < 5; i++) {
            CHECK_NEAR(nb_get(f1, i), nb_get(f2, i), tol);
            CHECK_NEAR(nb_get(t[0]->grad, i), nb_get(t[2]->grad, i), tol);
            CHECK_NEAR(nb_get(t[1]->grad, i), nb_get(t[3]->grad, i), tol);
        }
        for (int i = 0; i < 4; i++) nb_tensor_free(t[i]);
        nb_ctx_free(c);
    }
}

static nb_tensor *fd_two(nb_ctx *c, nb_tensor *x, void *u)
{
    nb_tensor *in[2] = {x, u};
    return nb_apply(c, &TWO, 2, in, NULL);
}

TEST(function, finite_differences_f64)
{
    nb_rng r;
    nb_rng_seed(&r, 2);
    nb_tensor *a = nb_tensor_new(NB_F64, 1, (size_t[]){4}), *b = nb_tensor_new(NB_F64, 1, (size_t[]){4});
    nb_fill_normal(a, 0, 1, &r);
    nb_fill_normal(b, 0, 1, &r);
    nb_tensor_set_requires_grad(a, 1);
    double w[4] = {1, -2, 0.5, 3};
    double e = t_fd_maxerr(fd_two, a, w, b);
    CHECK_MSG(e < 1e-7, "max error %g (%s)", e, nb_errmsg());
    nb_tensor_free(a);
    nb_tensor_free(b);
}

TEST(function, needs_grad_and_no_record)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_tensor_new(NB_F64, 1, (size_t[]){3}), *b = nb_tensor_new(NB_F64, 1, (size_t[]){3});
    nb_fill(a, 0.5);
    nb_fill(b, 2.0);
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor *in[2] = {a, b};
    probe p = {0};
    nb_tensor *y = nb_apply(c, &TWO, 2, in, &p);
    CHECK_OK(y);
    CHECK(p.needs[0] == 0 && p.needs[1] == 1);
    CHECK_OK(nb_backward(c, y, nb_ones(c, NB_F64, 1, (size_t[]){3})) == 0);
    CHECK(a->grad == NULL);
    for (size_t i = 0; b->grad && i < 3; i++) CHECK_NEAR(nb_get(b->grad, i), 0.5, 0);
    /* Nothing requires grad: no node. */
    nb_tensor_set_requires_grad(b, 0);
    y = nb_apply(c, &TWO, 2, in, &p);
    CHECK_OK(y);
    CHECK(!nb_requires_grad(y) && nb_is_leaf(y) && p.needs[1] == 0);
    /* Grad mode off at the call: no node, and needs_grad says 0. */
    nb_tensor_set_requires_grad(b, 1);
    int g = nb_set_grad_enabled(c, 0);
    y = nb_apply(c, &TWO, 2, in, &p);
    nb_set_grad_enabled(c, g);
    CHECK_OK(y);
    CHECK(!nb_requires_grad(y) && p.needs[1] == 0);
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_ctx_free(c);
}

/* Returns its input unchanged: the input must stay a leaf. */
static nb_tensor *ident_fwd(nb_fnctx *fc, nb_tensor *const *in, int n_in) { return in[0]; }
static int ident_bwd(nb_fnctx *fc, const nb_tensor *g, nb_tensor **gin, int n_in)
{
    gin[0] = nb_mul_scalar(nb_fn_ctx(fc), (nb_tensor *)g, 2.0);
    return gin[0] ? 0 : -1;
}

TEST(function, returning_an_input_keeps_it_a_leaf)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_new(NB_F32, 1, (size_t[]){2});
    nb_fill(x, 1.5);
    nb_tensor_set_requires_grad(x, 1);
    nb_function f = {"ident", ident_fwd, ident_bwd};
    nb_tensor *y = nb_apply(c, &f, 1, &x, NULL);
    CHECK_OK(y);
    CHECK(y != x && nb_is_leaf(x) && !nb_is_leaf(y));
    CHECK_OK(nb_backward(c, y, nb_ones(c, NB_F32, 1, (size_t[]){2})) == 0);
    for (size_t i = 0; x->grad && i < 2; i++) CHECK_NEAR(nb_get(x->grad, i), 2.0, 0);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

TEST(function, errors_name_the_function)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a = nb_tensor_new(NB_F64, 1, (size_t[]){3}), *b = nb_tensor_new(NB_F64, 1, (size_t[]){3});
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor *in[2] = {a, b};
    nb_tensor *g = nb_ones(c, NB_F64, 1, (size_t[]){3});
    /* forward fails: NULL, message names the function and keeps the cause */
    probe p = {.fail_forward = 1};
    CHECK(nb_apply(c, &TWO, 2, in, &p) == NULL);
    CHECK(strstr(nb_errmsg(), "two_input_fn") && strstr(nb_errmsg(), "forward") && strstr(nb_errmsg(), "log"));
    /* backward fails (1: says so; 2: an op inside failed and a gradient is missing) */
    nb_tensor *y;
    for (int how = 1; how <= 2; how++) {
        p = (probe){.fail_backward = how};
        y = nb_apply(c, &TWO, 2, in, &p);
        CHECK_OK(y);
        CHECK(nb_backward(c, y, g) != 0);
        CHECK(strstr(nb_errmsg(), "two_input_fn") && strstr(nb_errmsg(), "backward") && strstr(nb_errmsg(), "log"));
    }
    /* wrong gradient shape, then dtype */
    for (int bad = 1; bad <= 2; bad++) {
        p = (probe){.bad_grad = bad};
        y = nb_apply(c, &TWO, 2, in, &p);
        CHECK(y && nb_backward(c, y, g) != 0);
        CHECK(strstr(nb_errmsg(), "two_input_fn") && strstr(nb_errmsg(), "input 0"));
        CHECK(strstr(nb_errmsg(), bad == 1 ? "[1]" : "float32") && strstr(nb_errmsg(), "[3]"));
    }
    /* no backward: forward works, backward through it fails */
    nb_function fwd_only = {"fwd_only", two_fwd, NULL};
    y = nb_apply(c, &fwd_only, 2, in, NULL);
    CHECK_OK(y);
    CHECK(nb_backward(c, y, g) != 0 && strstr(nb_errmsg(), "fwd_only"));
    /* bad arguments */
    CHECK(nb_apply(c, NULL, 1, &a, NULL) == NULL && strstr(nb_errmsg(), "apply"));
    CHECK(nb_apply(NULL, &TWO, 2, in, NULL) == NULL);
    CHECK(nb_apply(c, &TWO, -1, in, NULL) == NULL && strstr(nb_errmsg(), "two_input_fn"));
    CHECK(nb_apply(c, &TWO, 2, NULL, NULL) == NULL && strstr(nb_errmsg(), "two_input_fn"));
    /* a NULL input keeps the earlier message */
    char first[256];
    snprintf(first, sizeof first, "%s", nb_errmsg());
    nb_tensor *nin[2] = {a, NULL};
    CHECK(nb_apply(c, &TWO, 2, nin, NULL) == NULL && strcmp(nb_errmsg(), first) == 0);
    /* ...and so does a successful apply in between */
    CHECK_OK(nb_apply(c, &TWO, 2, in, NULL));
    CHECK(strcmp(nb_errmsg(), first) == 0);
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_ctx_free(c);
}

static nb_tensor *save9_fwd(nb_fnctx *fc, nb_tensor *const *in, int n_in)
{
    int *rc = nb_fn_user(fc);
    for (int i = 0; i < 9; i++) rc[i] = nb_fn_save(fc, in[0]);
    rc[9] = nb_fn_saved(fc, 8) == NULL && strstr(nb_errmsg(), "save9") != NULL;
    rc[10] = nb_fn_saved(fc, -1) == NULL;
    rc[11] = nb_fn_saved(fc, 7) == in[0];
    rc[12] = nb_fn_save(fc, NULL);
    return in[0];
}

TEST(function, at_most_eight_saved_tensors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(c, NB_F32, 1, (size_t[]){2});
    int rc[13] = {0};
    nb_function f = {"save9", save9_fwd, NULL};
    CHECK_OK(nb_apply(c, &f, 1, &x, rc));
    for (int i = 0; i < 8; i++) CHECK(rc[i] == 0);
    CHECK(rc[8] != 0 && rc[9] && rc[10] && rc[11] && rc[12] != 0);
    /* NULL-context accessors do not crash */
    CHECK(nb_fn_ctx(NULL) == NULL && nb_fn_user(NULL) == NULL && nb_fn_saved(NULL, 0) == NULL);
    CHECK(nb_fn_save(NULL, x) != 0 && nb_fn_needs_grad(NULL, 0) == 0);
    nb_ctx_free(c);
}
