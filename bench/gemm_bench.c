/* GEMM throughput: nabla's built-in nb_k_gemm_* against OpenBLAS (optional),
 * on squares and on the shapes of the 784-128-10 MLP at batch 64.
 *
 * Build (from the repository root, after `make B=build-gemm`):
 *   cc -O2 -Iinclude -Isrc bench/gemm_bench.c build-gemm/libnabla.a -lm -lz -o gemm_bench
 *   cc -O2 -Iinclude -Isrc -DNB_BENCH_OPENBLAS bench/gemm_bench.c build-gemm/libnabla.a \
 *      -lopenblas -lm -lz -o gemm_bench                       # with a cblas_sgemm column
 * Run:
 *   ./gemm_bench [-d] [-s] [-q] [-c] [-r REPS] [-p generic|avx2|avx512]
 *     -d  double instead of float        -s  also time each strategy forced
 *     -p  force an instruction set       -q  quick (squares up to 1024)
 *     -r  batches per contender (15); the best one counts
 *     -c  time by the thread's CPU clock, not the wall clock (on a shared
 *         machine, so that time spent descheduled does not count)
 *     -t  OpenBLAS threads (1); nabla has no thread pool yet and runs on one
 * OpenBLAS is held to one thread by default, as nabla runs on one.  The first
 * line gives the measured single-thread peak (an AVX2 FMA loop, x86-64 only),
 * the figure `make bench` divides achieved GFLOP/s by. */
#include "kernels/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NB_BENCH_OPENBLAS
#include <cblas.h>
#endif

typedef struct {
    const char *name;
    int ta, tb;
    size_t M, N, K;
    double beta;
} shape;

static int use_cpu_time; /* -c: the thread's CPU time instead of the wall clock */
static double now(void)
{
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int use_f64;
static void *A, *B, *C;

/* Peak float GFLOP/s of one core: 10 independent chains of 8-wide FMAs
 * (enough to cover the FMA latency on every AVX2 core), best of 5 runs. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static double fma_peak(void)
{
    const size_t iters = 20 * 1000 * 1000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
        __m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2),
               c3 = _mm256_set1_ps(3), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5),
               c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7), c8 = _mm256_set1_ps(8),
               c9 = _mm256_set1_ps(9);
        const double t0 = now();
        for (size_t i = 0; i < iters; i++) {
            c0 = _mm256_fmadd_ps(c0, a, b), c1 = _mm256_fmadd_ps(c1, a, b);
            c2 = _mm256_fmadd_ps(c2, a, b), c3 = _mm256_fmadd_ps(c3, a, b);
            c4 = _mm256_fmadd_ps(c4, a, b), c5 = _mm256_fmadd_ps(c5, a, b);
            c6 = _mm256_fmadd_ps(c6, a, b), c7 = _mm256_fmadd_ps(c7, a, b);
            c8 = _mm256_fmadd_ps(c8, a, b), c9 = _mm256_fmadd_ps(c9, a, b);
        }
        const double t = now() - t0;
        float out[8];
        __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                                   _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
        _mm256_storeu_ps(out, _mm256_add_ps(sum, _mm256_add_ps(c8, c9)));
        const float sink = out[0];
        const double g = 2.0 * 8 * 10 * (double)iters / t * 1e-9;
        if (g > best && sink == sink) best = g;
    }
    return best;
}
#else
static double fma_peak(void) { return 0; }
#endif

/* which: 0 = nabla, 1 = OpenBLAS */
static void run(int which, const shape *s)
{
    const size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N, ldc = s->N;
#ifdef NB_BENCH_OPENBLAS
    if (which == 1) {
        const enum CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
        if (use_f64)
            cblas_dgemm(CblasRowMajor, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0, A, (int)lda, B, (int)ldb, s->beta,
                        C, (int)ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)lda, B, (int)ldb,
                        (float)s->beta, C, (int)ldc);
        return;
    }
#endif
    (void)which;
    if (use_f64)
        nb_k_gemm_f64(s->ta, s->tb, s->M, s->N, s->K, 1.0, A, lda, B, ldb, s->beta, C, ldc);
    else
        nb_k_gemm_f32(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, (float)s->beta, C, ldc);
}

/* GFLOP/s of each contender (nabla as set, and OpenBLAS if built in): batches
 * of >= 10 ms, alternating between them, the best of `reps` each.  The machine
 * may be shared; interleaving lets every contender see the same conditions,
 * and the best batch is the one least disturbed. */
enum { MAXC = 2 };
static int reps = 15;
static void gflops(const shape *s, int ncont, double *out)
{
    const double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    size_t iters[MAXC];
    for (int w = 0; w < ncont; w++) {
        run(w, s); /* warm up: caches, scratch */
        double t0 = now();
        run(w, s);
        const double one = now() - t0;
        iters[w] = one < 0.01 ? (size_t)(0.01 / (one > 1e-7 ? one : 1e-7)) + 1 : 1;
        out[w] = 0;
    }
    for (int rep = 0; rep < reps; rep++)
        for (int w = 0; w < ncont; w++) {
            const double t0 = now();
            for (size_t i = 0; i < iters[w]; i++) run(w, s);
            const double g = flop * (double)iters[w] / (now() - t0) * 1e-9;
            if (g > out[w]) out[w] = g;
        }
}

int main(int argc, char **argv)
{
    int strategies = 0, quick = 0, path = NB__GEMM_AUTO, blas_threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d")) use_f64 = 1;
        else if (!strcmp(argv[i], "-s")) strategies = 1;
        else if (!strcmp(argv[i], "-q")) quick = 1;
        else if (!strcmp(argv[i], "-c")) use_cpu_time = 1;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) blas_threads = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) {
            const char *p = argv[++i];
            path = !strcmp(p, "generic") ? NB__GEMM_GENERIC : !strcmp(p, "avx2") ? NB__GEMM_AVX2
                 : !strcmp(p, "avx512") ? NB__GEMM_AVX512 : -1;
        } else {
            fprintf(stderr, "usage: %s [-d] [-s] [-q] [-c] [-r REPS] [-t THREADS] [-p generic|avx2|avx512]\n", argv[0]);
            return 2;
        }
    }
    if (nb__gemm_set_path(path, NB__GEMM_CHOOSE) != 0) {
        fprintf(stderr, "path not available on this CPU\n");
        return 1;
    }
#ifdef NB_BENCH_OPENBLAS
    openblas_set_num_threads(blas_threads);
#endif
    (void)blas_threads;
    printf("fma peak %.1f GFLOP/s float, 1 thread\n", fma_peak());
    static const shape shapes[] = {
        {"square NN", 0, 0, 256, 256, 256, 0},
        {"square NN", 0, 0, 512, 512, 512, 0},
        {"square NN", 0, 0, 1024, 1024, 1024, 0},
        {"square NT", 0, 1, 1024, 1024, 1024, 0},
        {"square TN", 1, 0, 1024, 1024, 1024, 0},
        {"square NN", 0, 0, 1536, 1536, 1536, 0},
        {"square NN", 0, 0, 2048, 2048, 2048, 0},
        {"mlp fc1 fwd  x W1^T  NT", 0, 1, 64, 128, 784, 0},
        {"mlp fc1 dW = dY^T X  TN", 1, 0, 128, 784, 64, 1},
        {"mlp fc1 dX = dY W    NN", 0, 0, 64, 784, 128, 1},
        {"mlp fc2 fwd  h W2^T  NT", 0, 1, 64, 10, 128, 0},
        {"mlp fc2 dW = dY^T h  TN", 1, 0, 10, 128, 64, 1},
        {"mlp fc2 dh = dY W2   NN", 0, 0, 64, 128, 10, 1},
        {"batch-1 fc1 x W1^T   NT", 0, 1, 1, 128, 784, 0},
        {"batch-1 fc1 x W1     NN", 0, 0, 1, 128, 784, 0},
        {"batch-1 fc2 h W2^T   NT", 0, 1, 1, 10, 128, 0},
    };
    const size_t es = use_f64 ? sizeof(double) : sizeof(float), big = (size_t)2048 * 2048;
    A = malloc(big * es), B = malloc(big * es), C = malloc(big * es);
    if (!A || !B || !C) return 1;
    for (size_t i = 0; i < big; i++) {
        const double v = (double)((i * 7919) % 1000) / 1000.0 - 0.5;
        if (use_f64) ((double *)A)[i] = v, ((double *)B)[i] = -v, ((double *)C)[i] = 0;
        else ((float *)A)[i] = (float)v, ((float *)B)[i] = (float)-v, ((float *)C)[i] = 0;
    }
    printf("%s, nabla path %s; GFLOP/s (best of %d batches, %s time), OpenBLAS threads %d\n",
           use_f64 ? "double" : "float", nb__gemm_path_name(nb__gemm_path()), reps,
           use_cpu_time ? "CPU" : "wall", blas_threads);
    printf("%-24s %16s %8s", "shape", "M x N x K", "nabla");
#ifdef NB_BENCH_OPENBLAS
    printf(" %8s %6s", "OpenBLAS", "ratio");
#endif
    if (strategies) printf(" %8s %8s %8s", "packed", "direct", "dot");
    printf("\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        if (quick && s->M * s->N * s->K > (size_t)1 << 30) continue;
        char dims[48];
        snprintf(dims, sizeof dims, "%zux%zux%zu", s->M, s->N, s->K);
        double g[MAXC];
#ifdef NB_BENCH_OPENBLAS
        gflops(s, 2, g);
        printf("%-24s %16s %8.1f %8.1f %6.2f", s->name, dims, g[0], g[1], g[0] / g[1]);
#else
        gflops(s, 1, g);
        printf("%-24s %16s %8.1f", s->name, dims, g[0]);
#endif
        if (strategies) {
            for (int st = NB__GEMM_PACKED; st <= NB__GEMM_DOT; st++) {
                const int usable = st == NB__GEMM_PACKED || (st == NB__GEMM_DIRECT && !s->tb) ||
                                   (st == NB__GEMM_DOT && !s->ta && s->tb);
                nb__gemm_set_path(path, st);
                if (usable) {
                    gflops(s, 1, g);
                    printf(" %8.1f", g[0]);
                }
                else printf(" %8s", "-");
            }
            nb__gemm_set_path(path, NB__GEMM_CHOOSE);
        }
        printf("\n");
        fflush(stdout);
    }
    free(A), free(B), free(C);
    return 0;
}
