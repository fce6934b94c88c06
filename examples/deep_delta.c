/* Backpropagation without autograd, for any depth: the δ recursion of an
 * L-layer network, written out by hand and compared with autograd.
 *
 *   z[l] = a[l-1] W[l] + b[l],  a[0] = x,  a[l] = σ(z[l])  (l < L)
 *   loss = cross_entropy(softmax(z[L]), y), mean over the batch
 *
 *   δ[L]   = (softmax(z[L]) - onehot(y)) / B                [B, n_L]
 *   δ[l]   = (δ[l+1] W[l+1]ᵀ) ⊙ σ'(z[l])                    [B, n_l]
 *   dW[l]  = a[l-1]ᵀ δ[l],   db[l] = Σ_b δ[l]               [n_{l-1}, n_l], [n_l]
 *
 * (Rows are samples, so the study guide's W a becomes a W here and its
 * δ aᵀ becomes aᵀ δ.)  Usage: deep_delta [L [ACT]]; with no arguments it runs
 * L = 2, 5, 20 with sigmoid, tanh and relu.  ACT: sigmoid, tanh, relu,
 * leaky_relu, elu, softplus, gelu.  Prints, per run, the largest difference
 * between the two gradients relative to the largest gradient entry (over all
 * parameters) and the ratio |dW1| / |dWL|, which shows the gradient vanish.
 * Exits 0 when every difference is <= 1e-12 (float64). */
#include <math.h>
#include <nabla/nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 4, IN = 10, WIDTH = 16, OUT = 3, MAXL = 64 };

/* σ'(z) by hand, for each activation the example knows. */
static double act_grad(const char *act, double z)
{
    if (!strcmp(act, "sigmoid")) {
        double s = 1 / (1 + exp(-z));
        return s * (1 - s);
    }
    if (!strcmp(act, "tanh")) return 1 - tanh(z) * tanh(z);
    if (!strcmp(act, "relu")) return z > 0;
    if (!strcmp(act, "leaky_relu")) return z > 0 ? 1 : 0.01;
    if (!strcmp(act, "elu")) return z > 0 ? 1 : exp(z);
    if (!strcmp(act, "softplus")) return 1 / (1 + exp(-z));
    /* gelu, exact: Φ(z) + z φ(z) */
    return 0.5 * (1 + erf(z / sqrt(2))) + z * exp(-0.5 * z * z) / sqrt(2 * 3.14159265358979323846);
}

static nb_tensor *act_fwd(nb_ctx *c, const char *act, nb_tensor *z)
{
    if (!strcmp(act, "sigmoid")) return nb_sigmoid(c, z);
    if (!strcmp(act, "tanh")) return nb_tanh(c, z);
    if (!strcmp(act, "relu")) return nb_relu(c, z);
    if (!strcmp(act, "leaky_relu")) return nb_leaky_relu(c, z, 0.01);
    if (!strcmp(act, "elu")) return nb_elu(c, z, 1.0);
    if (!strcmp(act, "softplus")) return nb_softplus(c, z);
    if (!strcmp(act, "gelu")) return nb_gelu(c, z);
    return NULL;
}

static double norm(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return sqrt(s);
}

/* One network of L layers: the relative difference autograd vs hand (or -1
 * on an error), and |dW1| / |dWL| in *ratio. */
static double run(int L, const char *act, double *ratio)
{
    size_t n[MAXL + 1];
    n[0] = IN;
    for (int l = 1; l < L; l++) n[l] = WIDTH;
    n[L] = OUT;
    nb_rng rng;
    nb_rng_seed(&rng, 2024);
    nb_tensor *W[MAXL + 1] = {0}, *b[MAXL + 1] = {0};
    for (int l = 1; l <= L; l++) { /* normal(0, 1/fan_in): unit variance for a linear net */
        W[l] = nb_tensor_new(NB_F64, 2, (size_t[]){n[l - 1], n[l]});
        b[l] = nb_tensor_new(NB_F64, 1, (size_t[]){n[l]});
        nb_fill_normal(W[l], 0, 1 / sqrt((double)n[l - 1]), &rng);
        nb_fill_normal(b[l], 0, 0.1, &rng);
        nb_tensor_set_requires_grad(W[l], 1);
        nb_tensor_set_requires_grad(b[l], 1);
    }
    double xv[B * IN];
    for (int i = 0; i < B * IN; i++) xv[i] = nb_rng_normal(&rng);
    int32_t yv[B] = {0, 2, 1, 2};

    /* Autograd: record the forward, keep z[l] and a[l] for the hand pass. */
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a[MAXL + 1], *z[MAXL + 1];
    a[0] = nb_from_data(c, NB_F64, 2, (size_t[]){B, IN}, xv, NB_BORROW);
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){B}, yv, NB_BORROW);
    for (int l = 1; l <= L; l++) {
        z[l] = nb_add(c, nb_matmul(c, a[l - 1], W[l], 0, 0), b[l]); /* [B, n_l] */
        a[l] = l < L ? act_fwd(c, act, z[l]) : z[l];
    }
    nb_tensor *loss = nb_cross_entropy(c, z[L], y, NB_MEAN, 0.0);
    double worst = -1;
    if (!loss || nb_backward(c, loss, NULL) != 0) {
        fprintf(stderr, "deep_delta: %s\n", nb_errmsg());
        goto out;
    }

    /* By hand: δ[L] from softmax, then down the layers. */
    double *d = malloc(B * WIDTH * sizeof *d), *dprev = malloc(B * WIDTH * sizeof *d);
    double *dW = malloc(WIDTH * WIDTH * sizeof *dW), db[WIDTH];
    double scale = 0, diff = 0, nW1 = 0, nWL = 0;
    for (int r = 0; r < B; r++) {
        double m = -INFINITY, s = 0;
        for (size_t o = 0; o < n[L]; o++) m = fmax(m, nb_get(z[L], r * n[L] + o));
        for (size_t o = 0; o < n[L]; o++) s += exp(nb_get(z[L], r * n[L] + o) - m);
        for (size_t o = 0; o < n[L]; o++)
            d[r * n[L] + o] = (exp(nb_get(z[L], r * n[L] + o) - m) / s - (o == (size_t)yv[r])) / B;
    }
    for (int l = L; l >= 1; l--) {
        size_t ni = n[l - 1], no = n[l];
        for (size_t i = 0; i < ni * no; i++) dW[i] = 0;
        for (size_t o = 0; o < no; o++) db[o] = 0;
        for (int r = 0; r < B; r++)
            for (size_t o = 0; o < no; o++) {
                db[o] += d[r * no + o];
                for (size_t i = 0; i < ni; i++) dW[i * no + o] += nb_get(a[l - 1], r * ni + i) * d[r * no + o];
            }
        /* compare with autograd */
        const nb_tensor *gW = nb_grad(W[l]), *gb = nb_grad(b[l]);
        for (size_t i = 0; i < ni * no; i++) {
            scale = fmax(scale, fabs(nb_get(gW, i)));
            diff = fmax(diff, fabs(nb_get(gW, i) - dW[i]));
        }
        for (size_t o = 0; o < no; o++) {
            scale = fmax(scale, fabs(nb_get(gb, o)));
            diff = fmax(diff, fabs(nb_get(gb, o) - db[o]));
        }
        if (l == L) nWL = norm(dW, ni * no);
        if (l == 1) nW1 = norm(dW, ni * no);
        if (l == 1) break;
        /* δ[l-1] = (δ[l] W[l]ᵀ) ⊙ σ'(z[l-1]) */
        for (int r = 0; r < B; r++)
            for (size_t i = 0; i < ni; i++) {
                double s = 0;
                for (size_t o = 0; o < no; o++) s += d[r * no + o] * nb_get(W[l], i * no + o);
                dprev[r * ni + i] = s * act_grad(act, nb_get(z[l - 1], r * ni + i));
            }
        double *t = d;
        d = dprev;
        dprev = t;
    }
    worst = scale > 0 ? diff / scale : diff;
    *ratio = nWL > 0 ? nW1 / nWL : NAN;
    free(d);
    free(dprev);
    free(dW);
out:
    nb_ctx_free(c);
    for (int l = 1; l <= L; l++) {
        nb_tensor_free(W[l]);
        nb_tensor_free(b[l]);
    }
    return worst;
}

int main(int argc, char **argv)
{
    static const int depths[] = {2, 5, 20};
    static const char *const acts[] = {"sigmoid", "tanh", "relu"};
    int one = argc > 1, L1 = one ? atoi(argv[1]) : 0;
    const char *act1 = argc > 2 ? argv[2] : "sigmoid";
    static const char *const known[] = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"};
    int ok_act = 0;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok_act |= !strcmp(act1, known[k]);
    if (one && (L1 < 1 || L1 > MAXL || !ok_act)) {
        fprintf(stderr,
                "usage: deep_delta [L [ACT]]  (L in 1..%d; ACT sigmoid|tanh|relu|leaky_relu|elu|softplus|gelu)\n",
                MAXL);
        return 2;
    }
    printf("batch %d, %d -> %d x (L-1) -> %d, softmax cross-entropy, float64\n", B, IN, WIDTH, OUT);
    printf("  L  act         |autograd - hand| / max|grad|   |dW1| / |dWL|\n");
    double worst = 0;
    int n_runs = one ? 1 : 9;
    for (int k = 0; k < n_runs; k++) {
        int L = one ? L1 : depths[k / 3];
        const char *act = one ? act1 : acts[k % 3];
        double ratio = NAN, e = run(L, act, &ratio);
        if (e < 0) return 1;
        printf("%3d  %-10s  %27.2g   %13.3g\n", L, act, e, ratio);
        worst = fmax(worst, e);
    }
    int ok = worst <= 1e-12;
    printf("%s\n",
           ok ? "OK: the δ recursion equals autograd (<= 1e-12)" : "MISMATCH: the δ recursion differs from autograd");
    return ok ? 0 : 1;
}
