/* GEMM throughput: nabla's nb_k_gemm_* (built-in kernels, and the CBLAS
 * backend when libnabla was built with it) against OpenBLAS called directly.
 *
 * A white-box benchmark, like the fuzzers beside it: it forces the private
 * backend, strategy and instruction set (kernels/gemm.h), so it is compiled
 * with -Isrc and linked against libnabla.a, never through the public API
 * (bench/ and tools/ see only include/).  `make bench` builds it.
 *
 * Build (from the repository root, after `make B=build-gemm`; -lopenblas is
 * needed whenever libnabla was built with OpenBLAS, the default when found):
 *   cc -O2 -Iinclude -Isrc tests/bench/gemm_bench.c build-gemm/libnabla.a -lm -lz -o gemm_bench
 *   cc -O2 -Iinclude -Isrc -DNB_BENCH_OPENBLAS tests/bench/gemm_bench.c build-gemm/libnabla.a \
 *      -lopenblas -lm -lz -o gemm_bench                       # with OpenBLAS columns
 * Run:
 *   ./gemm_bench [-d] [-s] [-q] [-c] [-r REPS] [-t THREADS] [-p generic|avx2|avx512]
 *       the table: nabla (default backend) and cblas_sgemm, THREADS (1) each;
 *       the format bench/bench.py reads: "shape  MxNxK  nabla  OpenBLAS  ratio"
 *   ./gemm_bench -j [-d] [-q] [-r REPS] [-T 1,2] [-f SUBSTRING]
 *       one JSON object a line, a shape each (the JSON mode, see below)
 *     -d  double instead of float        -s  also time each strategy forced
 *     -p  force an instruction set       -q  quick (squares up to 1024, batch 64)
 *     -r  batches per contender (15; 5 with -j); the best one counts
 *     -c  time by the thread's CPU clock, not the wall clock (on a shared
 *         machine, so that time spent descheduled does not count): only the
 *         calling thread's time, so meaningful for 1-thread contenders only
 *     -t  threads for nabla (nb_set_threads) and OpenBLAS in the table (1)
 *     -T  thread counts to time in JSON mode (1,2)
 *     -f  only shapes whose name contains SUBSTRING (JSON mode)
 * JSON mode (wall clock unless -c) times, for each thread count n of -T:
 *   nabla_builtin_<n>t   nabla, built-in kernels (nb__gemm_set_backend)
 *   nabla_cblas_<n>t     nabla, CBLAS backend (only if libnabla has it)
 *   nabla_default_<n>t   nabla as it routes by default (only with CBLAS)
 *   openblas_<n>t        cblas_?gemm called directly, openblas_set_num_threads(n)
 *                        (only with -DNB_BENCH_OPENBLAS)
 * in GFLOP/s, e.g.
 *   {"shape":"square NN","ta":0,"tb":0,"M":256,"N":256,"K":256,"dtype":"f32",
 *    "gflops":{"nabla_builtin_1t":61.2,"nabla_builtin_2t":118.0,...}}
 * The first line of both modes is `fma peak X GFLOP/s float, 1 thread`, the
 * measured single-thread peak (fma_peak.h: the AVX-512 FMA loop where the CPU
 * shows AVX-512F, else the AVX2 one; x86-64 only). */
#include "kernels/gemm.h"
#include "nabla/nabla.h"

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

#include "fma_peak.h"

/* A contender: nabla with a backend (NB__GEMM_BACKEND_DEFAULT, NB__GEMM_BUILTIN,
 * NB__GEMM_CBLAS), or OpenBLAS called directly; on `threads` threads. */
typedef struct {
    int openblas, backend, threads;
    char name[40];
} contender;

/* Set the process up for a contender, before each batch of its calls. */
static void prepare(const contender *c)
{
#ifdef NB_BENCH_OPENBLAS
    /* nabla's CBLAS backend expects OpenBLAS on one thread (it sets that only
     * once, on its first product) */
    openblas_set_num_threads(c->openblas ? c->threads : 1);
#endif
    if (!c->openblas) {
        nb_set_threads(c->threads);
        nb__gemm_set_backend(c->backend);
    }
}

/* After OpenBLAS ran on several threads its idle workers spin for a while
 * (2^28 cycles by default) before they sleep, taking the other core from
 * whoever runs next: wait that out, so each contender finds the cores idle.
 * The wait is busy (sleeping let the VM's CPU slow down, and the next
 * contender measured up to 2x slow). */
static void settle(const contender *prev)
{
    if (prev->openblas && prev->threads > 1) {
        const double t0 = now();
        while (now() - t0 < 0.15) continue;
    }
}

static void run(const contender *c, const shape *s)
{
    const size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N, ldc = s->N;
#ifdef NB_BENCH_OPENBLAS
    if (c->openblas) {
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
    if (use_f64) nb_k_gemm_f64(s->ta, s->tb, s->M, s->N, s->K, 1.0, A, lda, B, ldb, s->beta, C, ldc);
    else nb_k_gemm_f32(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, (float)s->beta, C, ldc);
}

/* GFLOP/s of each contender: batches of >= 10 ms, alternating between them,
 * the best of `reps` each.  The machine may be shared; interleaving lets every
 * contender see the same conditions, and the best batch is the one least
 * disturbed. */
enum { MAXC = 16 };
static int reps = 15;
static void gflops(const shape *s, const contender *cs, int ncont, double *out)
{
    const double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    size_t iters[MAXC];
    for (int w = 0; w < ncont; w++) {
        prepare(&cs[w]);
        run(&cs[w], s); /* warm up: caches, scratch, threads */
        double t0 = now();
        run(&cs[w], s);
        const double one = now() - t0;
        iters[w] = one < 0.01 ? (size_t)(0.01 / (one > 1e-7 ? one : 1e-7)) + 1 : 1;
        out[w] = 0;
    }
    /* each round starts one contender later, so that none always runs right
     * after the same one (the one after OpenBLAS on 2 threads measured up to
     * 15% under its twin, the same kernels, when the order was fixed) */
    const contender *prev = &cs[ncont - 1];
    for (int rep = 0; rep < reps; rep++)
        for (int k = 0; k < ncont; k++) {
            const int w = (k + rep) % ncont;
            settle(prev);
            prev = &cs[w];
            prepare(&cs[w]);
            run(&cs[w], s); /* untimed: wakes the pool's workers, warms the caches */
            const double t0 = now();
            for (size_t i = 0; i < iters[w]; i++) run(&cs[w], s);
            const double g = flop * (double)iters[w] / (now() - t0) * 1e-9;
            if (g > out[w]) out[w] = g;
        }
}

/* The shapes: squares, then the products of one training step of each MLP
 * (784-128-10 and 784-1024-1024-10, float) at batch 64 and 256: per layer
 * with input width I, output width O, batch b:
 *   fwd  Y = X W^T      NT  b x O x I
 *   dW   = dY^T X       TN  O x I x b  (accumulates: beta 1)
 *   dX   = dY W         NN  b x I x O  (accumulates: beta 1) */
static shape shapes[128];
static size_t nshapes;
static char names[128][48];
static void add(const char *name, int ta, int tb, size_t M, size_t N, size_t K, double beta)
{
    if (nshapes == sizeof shapes / sizeof shapes[0]) return;
    snprintf(names[nshapes], sizeof names[0], "%s", name);
    shapes[nshapes] = (shape){names[nshapes], ta, tb, M, N, K, beta};
    nshapes++;
}
static void add_mlp(const char *model, const size_t *w, size_t nw, size_t batch)
{
    for (size_t l = 0; l + 1 < nw; l++) {
        char n[48];
        snprintf(n, sizeof n, "%s b%zu fc%zu fwd NT", model, batch, l + 1);
        add(n, 0, 1, batch, w[l + 1], w[l], 0);
        snprintf(n, sizeof n, "%s b%zu fc%zu dW TN", model, batch, l + 1);
        add(n, 1, 0, w[l + 1], w[l], batch, 1);
        snprintf(n, sizeof n, "%s b%zu fc%zu dX NN", model, batch, l + 1);
        add(n, 0, 0, batch, w[l], w[l + 1], 1);
    }
}

static int parse_threads(const char *arg, int *out, int max)
{
    int n = 0;
    for (const char *p = arg; *p && n < max;) {
        const int t = atoi(p);
        if (t < 1) return 0;
        out[n++] = t;
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    return n;
}

int main(int argc, char **argv)
{
    int strategies = 0, quick = 0, path = NB__GEMM_AUTO, threads = 1, json = 0, tlist[4] = {1, 2}, nt = 2;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d")) use_f64 = 1;
        else if (!strcmp(argv[i], "-s")) strategies = 1;
        else if (!strcmp(argv[i], "-q")) quick = 1;
        else if (!strcmp(argv[i], "-c")) use_cpu_time = 1;
        else if (!strcmp(argv[i], "-j")) json = 1;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "-T") && i + 1 < argc && (nt = parse_threads(argv[++i], tlist, 4)) > 0) continue;
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) {
            const char *p = argv[++i];
            path = !strcmp(p, "generic")  ? NB__GEMM_GENERIC
                   : !strcmp(p, "avx2")   ? NB__GEMM_AVX2
                   : !strcmp(p, "avx512") ? NB__GEMM_AVX512
                                          : -1;
        } else {
            fprintf(stderr,
                    "usage: %s [-d] [-s] [-q] [-c] [-r REPS] [-t THREADS] [-p generic|avx2|avx512]\n"
                    "       %s -j [-d] [-q] [-r REPS] [-T 1,2] [-f SUBSTRING]\n",
                    argv[0], argv[0]);
            return 2;
        }
    }
    if (json && reps == 15) reps = 5;
    if (nb__gemm_set_path(path, NB__GEMM_CHOOSE) != 0) {
        fprintf(stderr, "path not available on this CPU\n");
        return 1;
    }
    double p2;
    const char *isa;
    const double peak = fma_peak(&p2, &isa);
    printf("fma peak %.1f GFLOP/s float, 1 thread (%s; avx2 %.1f)\n", peak, isa, p2);

    add("square NN", 0, 0, 256, 256, 256, 0);
    add("square NN", 0, 0, 512, 512, 512, 0);
    add("square NN", 0, 0, 1024, 1024, 1024, 0);
    add("square NT", 0, 1, 1024, 1024, 1024, 0);
    add("square TN", 1, 0, 1024, 1024, 1024, 0);
    if (!json) add("square NN", 0, 0, 1536, 1536, 1536, 0);
    add("square NN", 0, 0, 2048, 2048, 2048, 0);
    static const size_t small[] = {784, 128, 10}, big[] = {784, 1024, 1024, 10};
    if (json) {
        for (size_t b = 64; b <= (quick ? 64 : 256); b *= 4) {
            add_mlp("784-128-10", small, 3, b);
            add_mlp("784-1024-1024-10", big, 4, b);
        }
    } else {
        add("mlp fc1 fwd  x W1^T  NT", 0, 1, 64, 128, 784, 0);
        add("mlp fc1 dW = dY^T X  TN", 1, 0, 128, 784, 64, 1);
        add("mlp fc1 dX = dY W    NN", 0, 0, 64, 784, 128, 1);
        add("mlp fc2 fwd  h W2^T  NT", 0, 1, 64, 10, 128, 0);
        add("mlp fc2 dW = dY^T h  TN", 1, 0, 10, 128, 64, 1);
        add("mlp fc2 dh = dY W2   NN", 0, 0, 64, 128, 10, 1);
        add("batch-1 fc1 x W1^T   NT", 0, 1, 1, 128, 784, 0);
        add("batch-1 fc1 x W1     NN", 0, 0, 1, 128, 784, 0);
        add("batch-1 fc2 h W2^T   NT", 0, 1, 1, 10, 128, 0);
    }
    const size_t es = use_f64 ? sizeof(double) : sizeof(float), bigsz = (size_t)2048 * 2048;
    /* 64-byte aligned, as nabla's tensors are (the arena and the big buffers):
     * malloc's 16 bytes put every row of A and B across two cache lines for
     * the kernels that read them where they lie (dot, narrow, direct), and
     * timed 64 x 128 x 784 A B^T dot at ~110-125 GFLOP/s where aligned rows
     * (and the training step) run it at ~170-185 */
    A = aligned_alloc(64, bigsz * es), B = aligned_alloc(64, bigsz * es), C = aligned_alloc(64, bigsz * es);
    if (!A || !B || !C) return 1;
    for (size_t i = 0; i < bigsz; i++) {
        const double v = (double)((i * 7919) % 1000) / 1000.0 - 0.5;
        if (use_f64) ((double *)A)[i] = v, ((double *)B)[i] = -v, ((double *)C)[i] = 0;
        else ((float *)A)[i] = (float)v, ((float *)B)[i] = (float)-v, ((float *)C)[i] = 0;
    }

    contender cs[MAXC];
    int ncont = 0;
    if (json) {
        for (int t = 0; t < nt; t++) {
            const int n = tlist[t];
            cs[ncont] = (contender){0, NB__GEMM_BUILTIN, n, ""};
            snprintf(cs[ncont++].name, sizeof cs[0].name, "nabla_builtin_%dt", n);
            if (nb__gemm_have_cblas()) {
                cs[ncont] = (contender){0, NB__GEMM_CBLAS, n, ""};
                snprintf(cs[ncont++].name, sizeof cs[0].name, "nabla_cblas_%dt", n);
                cs[ncont] = (contender){0, NB__GEMM_BACKEND_DEFAULT, n, ""};
                snprintf(cs[ncont++].name, sizeof cs[0].name, "nabla_default_%dt", n);
            }
#ifdef NB_BENCH_OPENBLAS
            cs[ncont] = (contender){1, 0, n, ""};
            snprintf(cs[ncont++].name, sizeof cs[0].name, "openblas_%dt", n);
#endif
        }
    } else {
        cs[ncont++] = (contender){0, NB__GEMM_BACKEND_DEFAULT, threads, "nabla"};
#ifdef NB_BENCH_OPENBLAS
        cs[ncont++] = (contender){1, 0, threads, "OpenBLAS"};
#endif
        printf("%s, nabla path %s; GFLOP/s (best of %d batches, %s time), threads %d\n", use_f64 ? "double" : "float",
               nb__gemm_path_name(nb__gemm_path()), reps, use_cpu_time ? "CPU" : "wall", threads);
        printf("%-24s %16s %8s", "shape", "M x N x K", "nabla");
#ifdef NB_BENCH_OPENBLAS
        printf(" %8s %6s", "OpenBLAS", "ratio");
#endif
        if (strategies) printf(" %8s %8s %8s", "packed", "direct", "dot");
        printf("\n");
    }
    for (size_t i = 0; i < nshapes; i++) {
        const shape *s = &shapes[i];
        if (quick && s->M * s->N * s->K > (size_t)1 << 30) continue;
        if (filter && !strstr(s->name, filter)) continue;
        double g[MAXC];
        gflops(s, cs, ncont, g);
        if (json) {
            printf("{\"shape\":\"%s\",\"ta\":%d,\"tb\":%d,\"M\":%zu,\"N\":%zu,\"K\":%zu,\"dtype\":\"%s\",\"gflops\":{",
                   s->name, s->ta, s->tb, s->M, s->N, s->K, use_f64 ? "f64" : "f32");
            for (int w = 0; w < ncont; w++) printf("%s\"%s\":%.2f", w ? "," : "", cs[w].name, g[w]);
            printf("}}\n");
            fflush(stdout);
            continue;
        }
        char dims[48];
        snprintf(dims, sizeof dims, "%zux%zux%zu", s->M, s->N, s->K);
        printf("%-24s %16s %8.1f", s->name, dims, g[0]);
#ifdef NB_BENCH_OPENBLAS
        printf(" %8.1f %6.2f", g[1], g[0] / g[1]);
#endif
        if (strategies) {
            contender nb = {0, NB__GEMM_BUILTIN, threads, "nabla"};
            for (int st = NB__GEMM_PACKED; st <= NB__GEMM_DOT; st++) {
                const int usable = st == NB__GEMM_PACKED || (st == NB__GEMM_DIRECT && !s->tb) ||
                                   (st == NB__GEMM_DOT && !s->ta && s->tb);
                nb__gemm_set_path(path, st);
                if (usable) {
                    gflops(s, &nb, 1, g);
                    printf(" %8.1f", g[0]);
                } else printf(" %8s", "-");
            }
            nb__gemm_set_path(path, NB__GEMM_CHOOSE);
        }
        printf("\n");
        fflush(stdout);
    }
    free(A), free(B), free(C);
    return 0;
}
