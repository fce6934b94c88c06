/* A user-defined differentiable function, like torch.autograd.Function:
 * swish(x; beta) = x * sigmoid(beta * x), with its own backward
 *   d/dx = s + beta * x * s * (1 - s),   s = sigmoid(beta * x)
 * It is used inside a graph and checked against central differences. */
#include <nabla/nabla.h>
#include <stdio.h>

static nb_tensor *swish_forward(nb_fnctx *fc, nb_tensor *const *in, int n_in)
{
    (void)n_in;
    nb_ctx *c = nb_fn_ctx(fc);
    double beta = *(double *)nb_fn_user(fc);
    nb_tensor *s = nb_sigmoid(c, nb_mul_scalar(c, in[0], beta));
    nb_fn_save(fc, in[0]);
    nb_fn_save(fc, s); /* save what backward needs */
    return nb_mul(c, in[0], s);
}

static int swish_backward(nb_fnctx *fc, const nb_tensor *g, nb_tensor **grad_in, int n_in)
{
    (void)n_in;
    nb_ctx *c = nb_fn_ctx(fc);
    double beta = *(double *)nb_fn_user(fc);
    nb_tensor *x = nb_fn_saved(fc, 0), *s = nb_fn_saved(fc, 1);
    nb_tensor *ds = nb_mul(c, nb_mul_scalar(c, nb_mul(c, x, s), beta), nb_rsub_scalar(c, s, 1.0));
    grad_in[0] = nb_mul(c, (nb_tensor *)g, nb_add(c, s, ds));
    return grad_in[0] ? 0 : -1;
}

static const nb_function swish = {"swish", swish_forward, swish_backward};

/* The function under test for the gradient checker: sum(swish(x)^2 * w) */
static nb_tensor *loss_fn(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    nb_tensor *y = nb_apply(c, &swish, 1, in, user);
    return nb_sum(c, nb_mul(c, nb_mul(c, y, y), in[1]), NULL, 0, 0);
}

int main(void)
{
    double beta = 1.7;
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_tensor *x = nb_tensor_new(NB_F64, 2, (size_t[]){3, 4}), *w = nb_tensor_new(NB_F64, 1, (size_t[]){4});
    nb_fill_normal(x, 0, 1, &rng);
    nb_fill_normal(w, 0, 1, &rng);
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor *in[] = {x, w};

    nb_gradcheck_result r;
    if (nb_gradcheck(loss_fn, &beta, 2, in, NULL, &r) != 0) {
        fprintf(stderr, "error: %s\n", nb_errmsg());
        return 1;
    }
    printf("swish gradcheck: %zu Jacobian entries, max abs err %.3g, max rel err %.3g: %s\n", r.n_checked,
           r.max_abs_err, r.max_rel_err, r.passed ? "PASS" : "FAIL");
    nb_tensor_free(x);
    nb_tensor_free(w);
    return r.passed ? 0 : 1;
}
