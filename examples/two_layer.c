/* A 2-layer network, batch 4, 10 -> 20 (ReLU) -> 3, softmax cross-entropy,
 * differentiated twice: by autograd and by the hand-written δ equations
 *   δ2 = (softmax(z2) - onehot(y)) / B          [B, 3]
 *   dW2 = a1ᵀ δ2,  db2 = Σ_b δ2                  [20, 3], [3]
 *   δ1 = (δ2 W2ᵀ) ⊙ relu'(z1)                    [B, 20]
 *   dW1 = xᵀ δ1,   db1 = Σ_b δ1                  [10, 20], [20]
 * Exits 0 when every gradient agrees within 1e-6. */
#include <math.h>
#include <nabla/nabla.h>
#include <stdio.h>

enum { B = 4, I = 10, H = 20, O = 3 };

int main(void)
{
    nb_rng rng;
    nb_rng_seed(&rng, 2024);
    nb_tensor *W1 = nb_tensor_new(NB_F64, 2, (size_t[]){I, H}), *b1 = nb_tensor_new(NB_F64, 1, (size_t[]){H});
    nb_tensor *W2 = nb_tensor_new(NB_F64, 2, (size_t[]){H, O}), *b2 = nb_tensor_new(NB_F64, 1, (size_t[]){O});
    nb_tensor *params[] = {W1, b1, W2, b2};
    for (int p = 0; p < 4; p++) {
        nb_fill_normal(params[p], 0, 0.5, &rng);
        nb_tensor_set_requires_grad(params[p], 1);
    }
    double xv[B * I];
    for (int i = 0; i < B * I; i++) xv[i] = nb_rng_normal(&rng);
    int32_t yv[B] = {0, 2, 1, 2};

    /* Autograd. */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_from_data(c, NB_F64, 2, (size_t[]){B, I}, xv, NB_BORROW);
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){B}, yv, NB_BORROW);
    nb_tensor *z1 = nb_add(c, nb_matmul(c, x, W1, 0, 0), b1); /* [B, H] */
    nb_tensor *a1 = nb_relu(c, z1);
    nb_tensor *z2 = nb_add(c, nb_matmul(c, a1, W2, 0, 0), b2); /* [B, O] */
    nb_tensor *loss = nb_cross_entropy(c, z2, y, NB_MEAN, 0.0);
    if (!loss || nb_backward(c, loss, NULL) != 0) {
        fprintf(stderr, "error: %s\n", nb_errmsg());
        return 1;
    }

    /* By hand, from the forward values. */
    double d2[B][O], dW2[H][O] = {{0}}, db2[O] = {0}, d1[B][H], dW1[I][H] = {{0}}, db1[H] = {0};
    for (int b = 0; b < B; b++) {
        double m = -INFINITY, s = 0;
        for (int o = 0; o < O; o++) m = fmax(m, nb_get(z2, b * O + o));
        for (int o = 0; o < O; o++) s += exp(nb_get(z2, b * O + o) - m);
        for (int o = 0; o < O; o++) d2[b][o] = (exp(nb_get(z2, b * O + o) - m) / s - (o == yv[b])) / B;
    }
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            db2[o] += d2[b][o];
            for (int h = 0; h < H; h++) dW2[h][o] += nb_get(a1, b * H + h) * d2[b][o];
        }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int o = 0; o < O; o++) s += d2[b][o] * nb_get(W2, h * O + o);
            d1[b][h] = nb_get(z1, b * H + h) > 0 ? s : 0;
        }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            db1[h] += d1[b][h];
            for (int i = 0; i < I; i++) dW1[i][h] += xv[b * I + i] * d1[b][h];
        }

    double worst = 0;
    const double *hand[] = {&dW1[0][0], db1, &dW2[0][0], db2};
    const char *names[] = {"W1", "b1", "W2", "b2"};
    for (int p = 0; p < 4; p++) {
        double e = 0;
        for (size_t k = 0; k < params[p]->numel; k++) e = fmax(e, fabs(nb_get(nb_grad(params[p]), k) - hand[p][k]));
        printf("d loss / d %-2s  max |autograd - hand| = %.3g\n", names[p], e);
        worst = fmax(worst, e);
    }
    printf("loss = %.6f\n%s\n", nb_item(loss), worst <= 1e-6 ? "OK: autograd equals the δ equations" : "MISMATCH");
    nb_ctx_free(c);
    for (int p = 0; p < 4; p++) nb_tensor_free(params[p]);
    return worst <= 1e-6 ? 0 : 1;
}
