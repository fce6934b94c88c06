/* Convolution throughput: nb_conv2d's forward, weight gradient (wgrad) and
 * input gradient (dgrad) on the two conv layers of the CNN of issue 16
 * (conv2d(32,k=3,p=1) on [N,1,28,28], conv2d(64,k=3,p=1) on [N,32,14,14]),
 * at batch 64 and 256, in GFLOP/s and as a fraction of the measured 1-thread
 * FMA peak (fma_peak.h: AVX-512 where the CPU shows it, else AVX2).
 *
 * Timed through the public API (the op as training runs it: im2col, the
 * products, the layout passes, the bias), by the calling thread's CPU clock,
 * best of -r repetitions, on 1 thread unless -t says otherwise (then the CPU
 * clock undercounts: use 1 thread for fractions of the peak):
 *   fwd    nb_conv2d
 *   wgrad  backward with only w and b requiring gradients (dw, db, and the
 *          move of dy the product needs)
 *   dgrad  backward with x requiring one too, less wgrad's time (dx)
 * FLOP: 2 N O P K for each of the three (P = OH OW, K = C KH KW), the
 * direct products only.
 *
 * Build (from the repository root; `make conv-bench` does it):
 *   cc -O2 -Iinclude -Isrc tests/bench/conv_bench.c build/libnabla.a $(make -s print-ldlibs) -o conv_bench
 * Run:
 *   ./conv_bench [-d] [-w] [-r REPS] [-t THREADS]  -d: float64, -w: wall time */
#include "nabla/nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int wall_clock; /* -w: wall time instead (for -t > 1) */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(wall_clock ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#include "fma_peak.h"

typedef struct {
    const char *name;
    size_t c, h, o; /* input channels, input side (square), output channels; k = 3, p = 1 */
} layer;

static nb_tensor *leaf(nb_dtype dt, int nd, const size_t *shape, int grad, nb_rng *r)
{
    nb_tensor *t = nb_tensor_new(dt, nd, shape);
    if (t) {
        nb_fill_uniform(t, -1, 1, r);
        nb_tensor_set_requires_grad(t, grad);
    }
    return t;
}

/* Best CPU seconds of one forward (pass 0), forward + backward with w and b
 * (pass 1), or with x too (pass 2); a negative value on an error. */
static double best_time(nb_dtype dt, const layer *l, size_t n, int pass, int reps)
{
    nb_rng r;
    nb_rng_seed(&r, 16);
    nb_tensor *x = leaf(dt, 4, (size_t[]){n, l->c, l->h, l->h}, pass == 2, &r);
    nb_tensor *w = leaf(dt, 4, (size_t[]){l->o, l->c, 3, 3}, 1, &r), *b = leaf(dt, 1, (size_t[]){l->o}, 1, &r);
    nb_ctx *c = nb_ctx_new(NULL);
    double best = -1;
    for (int k = 0; x && w && b && c && k <= reps; k++) { /* k == 0 warms the arena up */
        const double t0 = cpu_now();
        nb_tensor *y = nb_conv2d(c, x, w, b, 1, 1, 1, 1);
        if (!y) break;
        if (pass) {
            nb_tensor *gy = nb_ones(c, dt, 4, y->shape);
            const double t1 = cpu_now();
            if (!gy || nb_backward(c, y, gy) != 0) break;
            y = NULL;
            const double t = cpu_now() - t1 + (t1 - t0); /* without filling gy */
            if (k && (best < 0 || t < best)) best = t;
        } else {
            const double t = cpu_now() - t0;
            if (k && (best < 0 || t < best)) best = t;
        }
        nb_ctx_reset(c);
    }
    if (best < 0) fprintf(stderr, "conv_bench: %s\n", nb_errmsg());
    nb_ctx_free(c);
    nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b);
    return best;
}

int main(int argc, char **argv)
{
    int reps = 10, threads = 1;
    nb_dtype dt = NB_F32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d")) dt = NB_F64;
        else if (!strcmp(argv[i], "-w")) wall_clock = 1;
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else {
            fprintf(stderr, "usage: %s [-d] [-w] [-r REPS] [-t THREADS]\n", argv[0]);
            return 2;
        }
    }
    nb_set_threads(threads);
    double p2;
    const char *isa;
    const double peak = fma_peak(&p2, &isa);
    printf("fma peak %.1f GFLOP/s float, 1 thread (%s; avx2 %.1f); kernels %s; %s, %d thread%s, %s time, best of %d\n",
           peak, isa, p2, nb_isa(), nb_dtype_name(dt), threads, threads > 1 ? "s" : "", wall_clock ? "wall" : "CPU",
           reps);
    printf("%-22s %5s  %8s %6s  %8s %6s  %8s %6s\n", "layer", "batch", "fwd ms", "GF/s", "wgrad ms", "GF/s", "dgrad ms",
           "GF/s");
    static const layer layers[] = {{"conv1 1->32 28x28", 1, 28, 32}, {"conv2 32->64 14x14", 32, 14, 64}};
    static const size_t batches[] = {64, 256};
    int failed = 0;
    for (size_t li = 0; li < 2; li++)
        for (size_t bi = 0; bi < 2; bi++) {
            const layer *l = &layers[li];
            const size_t n = batches[bi];
            const double flop = 2.0 * (double)n * (double)l->o * (double)(l->h * l->h) * (double)(l->c * 9);
            const double f = best_time(dt, l, n, 0, reps), fw = best_time(dt, l, n, 1, reps);
            const double fwd = best_time(dt, l, n, 2, reps);
            if (f < 0 || fw < 0 || fwd < 0) {
                failed = 1;
                continue;
            }
            const double tw = fw - f, td = fwd - fw;
            printf("%-22s %5zu  %8.2f %6.1f  %8.2f %6.1f  %8.2f %6.1f\n", l->name, n, f * 1e3, flop / f * 1e-9,
                   tw * 1e3, flop / tw * 1e-9, td * 1e3, flop / td * 1e-9);
            if (peak > 0)
                printf("%-22s %5s  %8s %6.2f  %8s %6.2f  %8s %6.2f   (fraction of the peak)\n", "", "", "",
                       flop / f * 1e-9 / peak / threads, "", flop / tw * 1e-9 / peak / threads, "",
                       flop / td * 1e-9 / peak / threads);
        }
    return failed;
}
