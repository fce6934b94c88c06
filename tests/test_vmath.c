/* vmath (src/kernels/vmath.h): accuracy against double-precision libm over a
 * dense sample of all floats (every bit pattern with NB_VMATH_FULL=1), the
 * special values, and the AVX2 path against the portable one, bit for bit. */
#include "t.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/cpu.h"
#include "../src/kernels/vmath.h"

typedef void (*vm_fn)(float *, const float *, size_t);

static double vm_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

typedef struct {
    const char *name;
    vm_fn fn, portable;
    double (*ref)(double);
    double max_ulp; /* the bound documented in vmath.h */
    double lo, hi;  /* where the relative-error bound is stated */
    double max_rel;
} vm_case;

static const vm_case VM_CASES[] = {
    {"exp", nb__vexp_f32, nb__vexp_f32_portable, exp, 1, -87.3, 88.7, 1.2e-7},
    {"expm1", nb__vexpm1_f32, nb__vexpm1_f32_portable, expm1, 2, -1e30, 88.7, 1.5e-7},
    {"sigmoid", nb__vsigmoid_f32, nb__vsigmoid_f32_portable, vm_sigmoid, 2.5, -87.3, 1e30, 2.0e-7},
    {"tanh", nb__vtanh_f32, nb__vtanh_f32_portable, tanh, 2, -1e30, 1e30, 1.8e-7},
};

/* Spacing of floats at |v| (v finite, rounded to float). */
static double vm_ulp(double v)
{
    v = fabs(v);
    if (v < FLT_MIN) return ldexp(1, -149);
    int e;
    frexp(v, &e); /* v = m 2^e, m in [0.5, 1) */
    return ldexp(1, e - 24);
}

typedef struct {
    double ulp, rel;
    float worst_x;
    long bad;
} vm_stats;

/* Checks fn on the floats with bit patterns start, start + step, ... */
static vm_stats vm_sweep(const vm_case *c, uint64_t start, uint64_t step)
{
    enum { CHUNK = 4096 };
    static float xs[CHUNK], ys[CHUNK];
    vm_stats st = {0, 0, 0, 0};
    uint64_t u = start;
    while (u < (1ull << 32)) {
        size_t k = 0;
        for (; k < CHUNK && u < (1ull << 32); k++, u += step) {
            uint32_t b = (uint32_t)u;
            memcpy(&xs[k], &b, 4);
        }
        c->fn(ys, xs, k);
        for (size_t i = 0; i < k; i++) {
            const float x = xs[i], y = ys[i];
            if (isnan(x)) {
                if (!isnan(y)) st.bad++;
                continue;
            }
            const double r = c->ref((double)x);
            const float rf = (float)r;
            if (isinf(rf) || isinf(y) || isnan(y)) {
                if (!(y == rf) && !(isinf(rf) && fabs((double)y - r) <= vm_ulp(FLT_MAX))) {
                    st.bad++;
                    st.worst_x = x;
                }
                continue;
            }
            const double err = fabs((double)y - r), ulp = err / vm_ulp(r);
            if (ulp > st.ulp) {
                st.ulp = ulp;
                st.worst_x = x;
            }
            if (x >= c->lo && x <= c->hi && r != 0 && fabs(r) >= FLT_MIN && err / fabs(r) > st.rel)
                st.rel = err / fabs(r);
        }
    }
    return st;
}

static void vm_check(uint64_t step)
{
    for (size_t k = 0; k < sizeof VM_CASES / sizeof VM_CASES[0]; k++) {
        const vm_case *c = &VM_CASES[k];
        vm_stats st = vm_sweep(c, 0, step);
        if (step == 1 || getenv("NB_VMATH_VERBOSE"))
            printf("  vmath %-8s max %.3f ulp (at %a), max rel %.3g, %ld wrong specials\n", c->name, st.ulp,
                   (double)st.worst_x, st.rel, st.bad);
        CHECK_MSG(st.bad == 0, "%s: %ld wrong special values (e.g. x = %a)", c->name, st.bad, (double)st.worst_x);
        CHECK_MSG(st.ulp <= c->max_ulp, "%s: %.3f ulp at x = %a (bound %g)", c->name, st.ulp, (double)st.worst_x,
                  c->max_ulp);
        CHECK_MSG(st.rel <= c->max_rel, "%s: relative error %.3g (bound %.3g)", c->name, st.rel, c->max_rel);
    }
}

/* A prime step visits ~4.3 million floats spread over every exponent. */
TEST(vmath, accuracy_dense_sample) { vm_check(997); }

/* Every float: ~a minute per function, so only on request. */
TEST(vmath, exhaustive)
{
    if (!getenv("NB_VMATH_FULL")) return;
    vm_check(1);
}

TEST(vmath, special_values)
{
    const float inf = INFINITY;
    const float x[] = {0.0f,    -0.0f,    inf,     -inf,    88.7f,  88.73f,  89.0f,  100.0f, -87.3f,
                       -103.0f, -103.98f, -104.0f, -200.0f, 1e-30f, -1e-30f, 1e-45f, 20.0f,  -20.0f};
    const size_t n = sizeof x / sizeof x[0];
    float e[sizeof x / sizeof x[0]], m[sizeof x / sizeof x[0]], s[sizeof x / sizeof x[0]], t[sizeof x / sizeof x[0]];
    nb__vexp_f32(e, x, n);
    nb__vexpm1_f32(m, x, n);
    nb__vsigmoid_f32(s, x, n);
    nb__vtanh_f32(t, x, n);
    for (size_t i = 0; i < n; i++) {
        const double ex = exp((double)x[i]);
        /* Exact where libm's float result is 0, 1, a power of two or inf. */
        if ((float)ex == 0.0f || isinf((float)ex) || (float)ex == 1.0f)
            CHECK_MSG(e[i] == (float)ex, "exp(%a) = %a, expected %a", (double)x[i], (double)e[i], (double)(float)ex);
        if ((float)tanh((double)x[i]) == 1.0f || (float)tanh((double)x[i]) == -1.0f)
            CHECK_MSG(t[i] == (float)tanh((double)x[i]), "tanh(%a) = %a", (double)x[i], (double)t[i]);
    }
    CHECK(e[0] == 1.0f && e[1] == 1.0f && e[2] == inf && e[3] == 0.0f && e[13] == 1.0f);
    CHECK(m[0] == 0.0f && !signbit(m[0]) && m[1] == 0.0f && signbit(m[1]) && m[2] == inf && m[3] == -1.0f);
    CHECK(m[13] == 1e-30f && m[14] == -1e-30f && m[15] == 1e-45f);
    CHECK(s[0] == 0.5f && s[1] == 0.5f && s[2] == 1.0f && s[3] == 0.0f);
    CHECK(t[0] == 0.0f && !signbit(t[0]) && signbit(t[1]) && t[2] == 1.0f && t[3] == -1.0f);
    CHECK(t[15] == 1e-45f && t[14] == -1e-30f);
    const float nan_in[9] = {NAN, -NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    float out[9];
    const vm_fn fns[4] = {nb__vexp_f32, nb__vexpm1_f32, nb__vsigmoid_f32, nb__vtanh_f32};
    for (int f = 0; f < 4; f++) {
        fns[f](out, nan_in, 9); /* 8 in the vector loop, 1 in the tail */
        for (int i = 0; i < 9; i++)
            CHECK_MSG(isnan(out[i]), "function %d lane %d: NaN in, %a out", f, i, (double)out[i]);
    }
}

/* The path this CPU runs (AVX2 where there is one) and the portable path
 * return the same bits, over the dense sample and odd lengths. */
TEST(vmath, avx2_matches_portable)
{
    enum { N = 1 << 16 };
    float *x = malloc(N * sizeof *x), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    CHECK(x && a && b);
    if (!x || !a || !b) goto out;
    for (size_t k = 0; k < sizeof VM_CASES / sizeof VM_CASES[0]; k++) {
        const vm_case *c = &VM_CASES[k];
        long diff = 0;
        for (uint64_t start = 0; start < (1ull << 32); start += (uint64_t)N * 331) {
            for (size_t i = 0; i < N; i++) {
                uint32_t u = (uint32_t)(start + (uint64_t)i * 331);
                memcpy(&x[i], &u, 4);
            }
            const size_t n = N - (size_t)(start % 7); /* vary the tail */
            c->fn(a, x, n);
            c->portable(b, x, n);
            for (size_t i = 0; i < n; i++)
                if (memcmp(&a[i], &b[i], 4) && !(isnan(a[i]) && isnan(b[i]))) diff++;
        }
        CHECK_MSG(diff == 0, "%s: %ld results differ between paths (avx2 = %d)", c->name, diff, nb__cpu_has_avx2());
    }
out:
    free(x);
    free(a);
    free(b);
}
