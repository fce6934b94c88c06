/* The study guide's first example: y = sum(w * x).
 *   x = [1, 2, 3], w = [0.5, -0.3, 0.2]  ->  dy/dw = x, dy/dx = w
 * The guide states y = 0.4; the arithmetic gives 0.5*1 - 0.3*2 + 0.2*3 = 0.5.
 * Exits 0 when autograd gives exactly that. */
#include <math.h>
#include <nabla/nabla.h>
#include <stdio.h>

int main(void)
{
    double xs[] = {1, 2, 3}, ws[] = {0.5, -0.3, 0.2};
    nb_tensor *x = nb_tensor_from(NB_F64, 1, (size_t[]){3}, xs, NB_COPY);
    nb_tensor *w = nb_tensor_from(NB_F64, 1, (size_t[]){3}, ws, NB_COPY);
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor_set_requires_grad(w, 1);

    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *y = nb_sum(c, nb_mul(c, w, x), NULL, 0, 0); /* forward records the graph */
    if (!y || nb_backward(c, y, NULL) != 0) {              /* backward walks it in reverse */
        fprintf(stderr, "error: %s\n", nb_errmsg());
        return 1;
    }
    printf("y     = %g\n", nb_item(y));
    printf("dy/dw = ");
    nb_tensor_print(stdout, nb_grad(w), 0);
    printf("dy/dx = ");
    nb_tensor_print(stdout, nb_grad(x), 0);

    int ok = fabs(nb_item(y) - 0.5) < 1e-12;
    for (int i = 0; i < 3; i++) ok &= nb_get(nb_grad(w), i) == xs[i] && nb_get(nb_grad(x), i) == ws[i];
    puts(ok ? "OK: matches the hand-derived gradients" : "MISMATCH");
    nb_ctx_free(c);
    nb_tensor_free(x);
    nb_tensor_free(w);
    return ok ? 0 : 1;
}
