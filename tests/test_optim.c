/* Optimizers, LR schedules and gradient clipping against PyTorch: replays
 * tests/ref/torch_optim.txt (written by tests/ref/torch_optim.py) and checks
 * every parameter, lr and momentum after every step; then clipping, config
 * errors and checkpoint state. */
#include "t.h"
#include "t_cli.h"

#include "nabla/optim.h"
#include "optim/optim_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE "tests/ref/torch_optim.txt"
enum { MAXN = 16, MAXSTEPS = 128, LINE = 8192 };

/* Tolerances: float64 relative 1e-12 (plus 1e-15 absolute for values that
 * cancel to ~0), float32 relative 1e-5 (plus 1e-7 absolute). */
static double tol_rel(nb_dtype dt) { return dt == NB_F64 ? 1e-12 : 1e-5; }
static double tol_abs(nb_dtype dt) { return dt == NB_F64 ? 1e-15 : 1e-7; }

typedef struct {
    int steps, n;
    double g[MAXSTEPS][MAXN];
    double p0[MAXN];
} fixture_head;

static int parse_doubles(char *s, double *out, int max)
{
    int k = 0;
    char *end;
    while (k < max) {
        double v = strtod(s, &end);
        if (end == s) break;
        out[k++] = v;
        s = end;
    }
    return k;
}

/* key=value into an optimizer config; 0 or -1 for an unknown key. */
static int set_opt_key(nb_optim_config *c, const char *k, const char *v)
{
    double x = strtod(v, NULL);
    if (!strcmp(k, "lr")) c->lr = x;
    else if (!strcmp(k, "momentum")) c->momentum = x;
    else if (!strcmp(k, "dampening")) c->dampening = x;
    else if (!strcmp(k, "nesterov")) c->nesterov = (int)x;
    else if (!strcmp(k, "weight_decay")) c->weight_decay = x;
    else if (!strcmp(k, "maximize")) c->maximize = (int)x;
    else if (!strcmp(k, "beta1")) c->beta1 = x;
    else if (!strcmp(k, "beta2")) c->beta2 = x;
    else if (!strcmp(k, "eps")) c->eps = x;
    else if (!strcmp(k, "amsgrad")) c->amsgrad = (int)x;
    else if (!strcmp(k, "alpha")) c->alpha = x;
    else if (!strcmp(k, "centered")) c->centered = (int)x;
    else return -1;
    return 0;
}

static int set_sched_key(nb_sched_config *c, const char *k, const char *v)
{
    double x = strtod(v, NULL);
    if (!strcmp(k, "step_size")) c->step_size = (long)x;
    else if (!strcmp(k, "gamma")) c->gamma = x;
    else if (!strcmp(k, "T_max")) c->t_max = (long)x;
    else if (!strcmp(k, "eta_min")) c->eta_min = x;
    else if (!strcmp(k, "start_factor")) c->start_factor = x;
    else if (!strcmp(k, "end_factor")) c->end_factor = x;
    else if (!strcmp(k, "total_iters")) c->total_iters = (long)x;
    else if (!strcmp(k, "max_lr")) c->max_lr = x;
    else if (!strcmp(k, "total_steps")) c->total_steps = (long)x;
    else if (!strcmp(k, "pct_start")) c->pct_start = x;
    else if (!strcmp(k, "anneal_strategy")) c->anneal_linear = !strcmp(v, "linear");
    else if (!strcmp(k, "div_factor")) c->div_factor = x;
    else if (!strcmp(k, "final_div_factor")) c->final_div_factor = x;
    else if (!strcmp(k, "three_phase")) c->three_phase = (int)x;
    else if (!strcmp(k, "cycle_momentum")) c->cycle_momentum = (int)x;
    else if (!strcmp(k, "base_momentum")) c->base_momentum = x;
    else if (!strcmp(k, "max_momentum")) c->max_momentum = x;
    else if (!strcmp(k, "warmup_iters")) c->warmup_iters = (long)x;
    else if (!strcmp(k, "warmup_start_factor")) c->warmup_start_factor = x;
    else return -1;
    return 0;
}

/* Split "kind k=v k=v" and feed the pairs to set(); returns the kind word. */
static char *parse_kv(char *rest, void *cfg, int (*set)(void *, const char *, const char *), const char *what)
{
    char *save = NULL;
    char *kind = strtok_r(rest, " \n", &save);
    for (char *tok; (tok = strtok_r(NULL, " \n", &save));) {
        char *eq = strchr(tok, '=');
        CHECK_MSG(eq, "%s: bad token %s", what, tok);
        if (!eq) continue;
        *eq = 0;
        CHECK_MSG(set(cfg, tok, eq + 1) == 0, "%s: unknown key %s", what, tok);
    }
    return kind;
}
static int set_opt_v(void *c, const char *k, const char *v) { return set_opt_key(c, k, v); }
static int set_sched_v(void *c, const char *k, const char *v) { return set_sched_key(c, k, v); }

static nb_optim_kind opt_kind(const char *s)
{
    if (!strcmp(s, "sgd")) return NB_OPT_SGD;
    if (!strcmp(s, "adam")) return NB_OPT_ADAM;
    if (!strcmp(s, "adamw")) return NB_OPT_ADAMW;
    if (!strcmp(s, "rmsprop")) return NB_OPT_RMSPROP;
    return NB_OPT_COUNT;
}

static nb_sched_kind sched_kind(const char *s)
{
    if (!strcmp(s, "none")) return NB_SCHED_CONSTANT;
    if (!strcmp(s, "step")) return NB_SCHED_STEP;
    if (!strcmp(s, "exponential")) return NB_SCHED_EXPONENTIAL;
    if (!strcmp(s, "cosine")) return NB_SCHED_COSINE;
    if (!strcmp(s, "linear")) return NB_SCHED_LINEAR;
    if (!strcmp(s, "onecycle")) return NB_SCHED_ONECYCLE;
    return NB_SCHED_COUNT;
}

typedef struct {
    int cases, values;
    int bitwise;     /* values equal to the last bit */
    double worst[2]; /* worst relative error, [f32, f64] */
} parity_stats;

/* Replay every fixture case; which: 0 = optimizers alone, 1 = with schedules. */
static void run_fixture(int which, parity_stats *st)
{
    FILE *f = fopen(FIXTURE, "r");
    CHECK_MSG(f, "cannot open %s (run the tests from the repository root)", FIXTURE);
    if (!f) return;
    static fixture_head h;
    static char line[LINE];
    memset(st, 0, sizeof *st);
    char name[128] = "", dts[8] = "";
    nb_optim *o = NULL;
    nb_sched s;
    int have_sched = 0, skip = 1, lineno = 0;
    nb_dtype dt = NB_F64;
    double p[MAXN], g[MAXN];
    float pf[MAXN], gf[MAXN];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strncmp(line, "grads ", 6)) {
            CHECK(sscanf(line + 6, "%d %d", &h.steps, &h.n) == 2);
            CHECK(h.steps <= MAXSTEPS && h.n <= MAXN);
            for (int t = 0; t < h.steps; t++) {
                CHECK(fgets(line, sizeof line, f) != NULL);
                lineno++;
                CHECK(parse_doubles(line, h.g[t], MAXN) == h.n);
            }
        } else if (!strncmp(line, "p0 ", 3)) {
            int n = (int)strtol(line + 3, NULL, 10);
            char *q = strchr(line + 3, ' ');
            CHECK(n == h.n && q && parse_doubles(q, h.p0, MAXN) == h.n);
        } else if (!strncmp(line, "case ", 5)) {
            CHECK(sscanf(line + 5, "%127s %7s", name, dts) == 2);
            dt = !strcmp(dts, "f32") ? NB_F32 : NB_F64;
            for (int i = 0; i < h.n; i++) {
                p[i] = h.p0[i];
                pf[i] = (float)h.p0[i];
            }
        } else if (!strncmp(line, "opt ", 4)) {
            char buf[LINE];
            memcpy(buf, line + 4, strlen(line + 4) + 1);
            char *save = NULL;
            const char *kind = strtok_r(buf, " \n", &save);
            CHECK_MSG(opt_kind(kind) != NB_OPT_COUNT, "%s: unknown optimizer %s", name, kind);
            nb_optim_config oc = nb_optim_defaults(opt_kind(kind)); /* torch's defaults */
            parse_kv(line + 4, &oc, set_opt_v, name);
            nb_optim_free(o);
            o = nb_optim_new(&oc, dt, (size_t)h.n);
            CHECK_MSG(o, "%s: nb_optim_new: %s", name, nb_errmsg());
        } else if (!strncmp(line, "sched ", 6)) {
            char buf[LINE];
            memcpy(buf, line + 6, strlen(line + 6) + 1);
            char *save = NULL;
            char *kind = strtok_r(buf, " \n", &save);
            CHECK_MSG(sched_kind(kind) != NB_SCHED_COUNT, "%s: unknown schedule %s", name, kind);
            nb_sched_config sc = nb_sched_defaults(sched_kind(kind));
            parse_kv(line + 6, &sc, set_sched_v, name);
            have_sched = sc.kind != NB_SCHED_CONSTANT;
            skip = have_sched != which || !o;
            if (!skip) {
                st->cases++;
                if (have_sched) {
                    CHECK_MSG(nb_sched_init(&s, &sc, nb_optim_lr(o)) == 0, "%s: %s", name, nb_errmsg());
                    CHECK_OK(nb_sched_apply(&s, o) == 0);
                }
            }
        } else if (!strncmp(line, "s ", 2)) {
            if (skip) continue;
            double vals[2 + MAXN];
            int t = (int)strtol(line + 2, NULL, 10);
            char *q = strchr(line + 2, ' ');
            int k = q ? parse_doubles(q, vals, 2 + MAXN) : 0;
            CHECK_MSG(k == 2 + h.n && t < h.steps, "%s line %d: malformed", FIXTURE, lineno);
            if (k != 2 + h.n || t >= h.steps) continue;
            /* the lr and momentum the step uses: exact recursions, so 1e-15 */
            CHECK_MSG(t_close(nb_optim_lr(o), vals[0], 0, 1e-15), "%s %s step %d: lr %.17g, torch %.17g", name, dts, t,
                      nb_optim_lr(o), vals[0]);
            CHECK_MSG(t_close(nb_optim_momentum(o), vals[1], 0, 1e-15), "%s %s step %d: momentum %.17g, torch %.17g",
                      name, dts, t, nb_optim_momentum(o), vals[1]);
            int rc;
            if (dt == NB_F32) {
                for (int i = 0; i < h.n; i++) gf[i] = (float)h.g[t][i];
                rc = nb_optim_step(o, pf, gf);
            } else {
                memcpy(g, h.g[t], sizeof g);
                rc = nb_optim_step(o, p, g);
            }
            CHECK_MSG(rc == 0, "%s step %d: %s", name, t, nb_errmsg());
            int bad = 0;
            for (int i = 0; i < h.n; i++) {
                /* float32 values are written with 9 digits: round back to float */
                double got = dt == NB_F32 ? (double)pf[i] : p[i];
                double want = dt == NB_F32 ? (double)(float)vals[2 + i] : vals[2 + i];
                double err = fabs(got - want) / (fabs(want) > 1e-300 ? fabs(want) : 1e-300);
                if (got == want) st->bitwise++;
                else if (err > st->worst[dt == NB_F64]) st->worst[dt == NB_F64] = err;
                st->values++;
                if (!t_close(got, want, tol_abs(dt), tol_rel(dt)) && bad++ < 3)
                    t_fail(__FILE__, __LINE__, "%s %s step %d p[%d] = %.17g, torch %.17g", name, dts, t, i, got, want);
            }
            if (have_sched) {
                CHECK_MSG(nb_sched_step(&s) == 0, "%s: %s", name, nb_errmsg());
                CHECK_MSG(nb_sched_apply(&s, o) == 0, "%s: %s", name, nb_errmsg());
            }
        } else if (!strncmp(line, "end", 3)) {
            nb_optim_free(o);
            o = NULL;
            skip = 1;
        }
    }
    nb_optim_free(o);
    fclose(f);
    if (getenv("NB_TEST_VERBOSE"))
        printf("  %d cases, %d values, %d bitwise; worst relative error f64 %.3g, f32 %.3g\n", st->cases, st->values,
               st->bitwise, st->worst[1], st->worst[0]);
}

TEST(optim, torch_parity_optimizers)
{
    parity_stats st;
    run_fixture(0, &st);
    CHECK_MSG(st.cases >= 40, "only %d optimizer cases in %s", st.cases, FIXTURE);
}

TEST(optim, torch_parity_schedules)
{
    parity_stats st;
    run_fixture(1, &st);
    CHECK_MSG(st.cases >= 30, "only %d schedule cases in %s", st.cases, FIXTURE);
}

/* ---------------------------------------------- vector loops = scalar */
/* The optimizers' vector loops (update_avx2.inc, on a CPU with AVX2) promise
 * the bits of the scalar loop (update.inc).  Each case runs a buffer of NV
 * elements, which the vector loop does but for a short tail, and then every
 * element again alone (n = 1: the scalar loop), and compares bits: p, the
 * gradient (scaled or zeroed in the fused pass) and every state buffer.
 * The values span magnitudes, with zeros, infinities and NaN among them;
 * Adam's division by the bias correction (a multiply and an FMA correction
 * where the CPU has FMA) is covered over many steps and beta2. */
enum { NV = 67, NBUF = 4 };
static char vs_first[160]; /* the first difference vs_case found */

static double vs_value(uint64_t *s, int i)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = (double)(*s >> 11) / 9007199254740992.0;
    switch (i % 23) {
    case 5: return 0;
    case 11: return -0.0;
    case 17: return i % 2 ? INFINITY : -INFINITY;
    case 19: return NAN;
    default: return (u - 0.5) * pow(10, (double)(i % 13) - 6);
    }
}

/* One case: kind 0 SGD, 1 Adam, 2 AdamW, 3 RMSprop; returns how many values differ. */
static int vs_case(nb_dtype dt, int kind, const nb__opt_hp *h, uint64_t seed)
{
    const size_t es = dt == NB_F64 ? 8 : 4;
    unsigned char buf[2][NBUF + 2][NV * 8];
    for (int b = 0; b < NBUF + 2; b++)
        for (int i = 0; i < NV; i++) {
            double x = vs_value(&seed, i * 7 + b);
            if ((kind == 1 || kind == 2) ? b == 3 || b == 4 : kind == 3 && b == 2) x = fabs(x); /* second moments */
            if (dt == NB_F64) memcpy(buf[0][b] + i * 8, &x, 8);
            else {
                const float f = (float)x;
                memcpy(buf[0][b] + i * 4, &f, 4);
            }
        }
    if (kind == 1 || kind == 2) { /* v at the ends of the range: its root is never subnormal */
        const double fv[] = {0x1p-149, 0x1p-126, 0x1.fffffep127, 0x1p-140};
        const double dv[] = {0x1p-1074, 0x1p-1022, 0x1.fffffffffffffp1023, 0x1p-1060};
        for (int i = 0; i < 4; i++) {
            const float f = (float)fv[i];
            if (dt == NB_F64) memcpy(buf[0][3] + i * 8, &dv[i], 8);
            else memcpy(buf[0][3] + i * 4, &f, 4);
        }
    }
    memcpy(buf[1], buf[0], sizeof buf[0]);
    for (int w = 0; w < 2; w++) {
        const size_t n = w ? 1 : NV, reps = w ? NV : 1;
        for (size_t r = 0; r < reps; r++) {
            void *q[NBUF + 2];
            for (int b = 0; b < NBUF + 2; b++) q[b] = buf[w][b] + r * es;
            if (dt == NB_F32) {
                if (kind == 0) nb__sgd_f32(q[0], q[1], q[2], n, h);
                else if (kind == 3) nb__rmsprop_f32(q[0], q[1], q[2], q[3], q[4], n, h);
                else nb__adam_f32(q[0], q[1], q[2], q[3], q[4], n, h, kind == 2);
            } else {
                if (kind == 0) nb__sgd_f64(q[0], q[1], q[2], n, h);
                else if (kind == 3) nb__rmsprop_f64(q[0], q[1], q[2], q[3], q[4], n, h);
                else nb__adam_f64(q[0], q[1], q[2], q[3], q[4], n, h, kind == 2);
            }
        }
    }
    int bad = 0;
    for (int b = 0; b < NBUF + 2; b++)
        for (size_t e = 0; e < NV; e++) {
            double x0, x1;
            if (dt == NB_F64) memcpy(&x0, buf[0][b] + e * 8, 8), memcpy(&x1, buf[1][b] + e * 8, 8);
            else {
                float f0, f1;
                memcpy(&f0, buf[0][b] + e * 4, 4), memcpy(&f1, buf[1][b] + e * 4, 4);
                x0 = f0, x1 = f1;
            }
            /* a NaN's sign is which operand the compiler put first, in
             * either loop: any NaN matches any NaN */
            if ((isnan(x0) && isnan(x1)) || !memcmp(buf[0][b] + e * es, buf[1][b] + e * es, es)) continue;
            if (!bad++)
                snprintf(vs_first, sizeof vs_first, "buffer %d element %zu: %a in the vector loop, %a alone", b, e, x0,
                         x1);
        }
    return bad;
}

TEST(optim, vector_loops_give_the_scalar_loops_bits)
{
    int cases = 0;
    const double beta2s[] = {0.999, 0.99, 0.9999, 0.95, 0.0, 0.5};
    const int64_t steps[] = {1, 2, 3, 10, 100, 1000, 30000};
    for (int d = 0; d < 2; d++) {
        const nb_dtype dt = d ? NB_F64 : NB_F32;
        for (int kind = 0; kind < 4; kind++)
            for (int b = 0; b < 6; b++)
                for (int s = 0; s < 7; s++)
                    for (int fl = 0; fl < 4; fl++) {
                        nb__opt_hp h = {.lr = 1e-3 * (1 + s),
                                        .wd = fl & 1 ? 1e-2 : 0,
                                        .momentum = kind == 0 || (fl & 2) ? 0.9 : 0,
                                        .dampening = fl & 2 ? 0.1 : 0,
                                        .beta1 = 0.9,
                                        .beta2 = beta2s[b],
                                        .eps = b == 3 ? 1e-3 : 1e-8,
                                        .alpha = 0.99,
                                        .nesterov = kind == 0 && fl == 2,
                                        .centered = kind == 3 && (fl & 1),
                                        .step = steps[s],
                                        .mom_init = s > 0,
                                        .gscale = fl & 2 ? 0.37 : 1,
                                        .scale_g = (fl & 2) != 0,
                                        .zero_g = fl == 3};
                        const int n = vs_case(dt, kind, &h, (uint64_t)(cases + 1));
                        CHECK_MSG(n == 0,
                                  "%s %s beta2 %g step %lld flags %d: %d values differ from the scalar loop's (%s)",
                                  nb_dtype_name(dt),
                                  kind == 0   ? "sgd"
                                  : kind == 3 ? "rmsprop"
                                              : "adam",
                                  h.beta2, (long long)h.step, fl, n, vs_first);
                        cases++;
                    }
    }
    CHECK(cases == 2 * 4 * 6 * 7 * 4);
}

/* ------------------------------------------------------------- clipping */
TEST(optim, clip_grad_norm_matches_torch)
{
    FILE *f = fopen(FIXTURE, "r");
    CHECK_MSG(f, "cannot open %s", FIXTURE);
    if (!f) return;
    static char line[LINE];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "clip ", 5)) continue;
        char dts[8];
        int n;
        double max_norm, norm;
        CHECK(sscanf(line + 5, "%7s %d %lf %lf", dts, &n, &max_norm, &norm) == 4);
        double g[MAXN], c[MAXN];
        CHECK(n <= MAXN);
        CHECK(fgets(line, sizeof line, f) && line[0] == 'g' && parse_doubles(line + 1, g, MAXN) == n);
        CHECK(fgets(line, sizeof line, f) && line[0] == 'c' && parse_doubles(line + 1, c, MAXN) == n);
        const nb_dtype dt = strcmp(dts, "f32") ? NB_F64 : NB_F32;
        float gf[MAXN];
        for (int i = 0; i < n; i++) gf[i] = (float)g[i];
        int bad = -1;
        double got = nb_clip_grad_norm(dt == NB_F32 ? (void *)gf : (void *)g, dt, (size_t)n, max_norm, &bad);
        CHECK(bad == 0);
        /* torch sums float32 norms in float32; we sum in double */
        CHECK_MSG(t_close(got, norm, 0, dt == NB_F64 ? 1e-14 : 1e-6), "%s norm %.17g, torch %.17g", dts, got, norm);
        for (int i = 0; i < n; i++) {
            double v = dt == NB_F32 ? (double)gf[i] : g[i];
            double w = dt == NB_F32 ? (double)(float)c[i] : c[i];
            CHECK_MSG(t_close(v, w, 0, dt == NB_F64 ? 1e-14 : 1e-6), "%s g[%d] %.17g, torch %.17g", dts, i, v, w);
        }
        cases++;
    }
    fclose(f);
    CHECK(cases >= 8);
}

TEST(optim, clip_grad_norm_semantics)
{
    /* norm 5: clipped to 1 (coef = 1/(5+1e-6)); the return is the norm before */
    double g[] = {3, 4};
    int bad = -1;
    CHECK_NEAR(nb_clip_grad_norm(g, NB_F64, 2, 1.0, &bad), 5.0, 1e-15);
    CHECK(bad == 0);
    CHECK_NEAR(g[0], 3 * (1.0 / (5 + 1e-6)), 1e-15);
    CHECK_NEAR(g[1], 4 * (1.0 / (5 + 1e-6)), 1e-15);
    /* below max_norm (coef >= 1): untouched, bit for bit */
    double h[] = {0.3, -0.4};
    CHECK_NEAR(nb_clip_grad_norm(h, NB_F64, 2, 1.0, NULL), 0.5, 1e-15);
    CHECK(h[0] == 0.3 && h[1] == -0.4);
    /* exactly at max_norm: coef = 5/(5+1e-6) < 1, so torch scales slightly */
    double e[] = {3, 4};
    nb_clip_grad_norm(e, NB_F64, 2, 5.0, NULL);
    CHECK(e[0] < 3 && e[0] > 3 - 1e-6);
    /* non-finite norm: flagged, gradients left alone */
    double nan_g[] = {1, NAN, 2}, inf_g[] = {1, -INFINITY, 2};
    CHECK(isnan(nb_clip_grad_norm(nan_g, NB_F64, 3, 0.1, &bad)));
    CHECK(bad == 1 && nan_g[0] == 1 && nan_g[2] == 2);
    CHECK(isinf(nb_clip_grad_norm(inf_g, NB_F64, 3, 0.1, &bad)));
    CHECK(bad == 1 && inf_g[0] == 1 && inf_g[2] == 2);
    float nan_f[] = {1, NAN};
    nb_clip_grad_norm(nan_f, NB_F32, 2, 0.1, &bad);
    CHECK(bad == 1 && nan_f[0] == 1);
    /* squares overflow double, the norm does not: rescaled, not flagged */
    double big[] = {3e200, 4e200};
    CHECK_NEAR(nb_clip_grad_norm(big, NB_F64, 2, 1.0, &bad), 5e200, 1e-15);
    CHECK(bad == 0);
    CHECK_NEAR(big[0], 0.6, 1e-12);
    double tiny[] = {3e-200, 4e-200};
    CHECK_NEAR(nb_clip_grad_norm(tiny, NB_F64, 2, 1.0, &bad), 5e-200, 1e-15);
    CHECK(bad == 0 && tiny[0] == 3e-200);
    /* float32 */
    float gf[] = {3, 4};
    CHECK_NEAR(nb_clip_grad_norm(gf, NB_F32, 2, 1.0, &bad), 5.0, 1e-15);
    CHECK_NEAR(gf[0], 0.6, 1e-6);
    /* empty buffer: norm 0, nothing to do */
    CHECK(nb_clip_grad_norm(NULL, NB_F64, 0, 1.0, &bad) == 0 && bad == 0);
    /* bad arguments */
    CHECK(nb_clip_grad_norm(g, NB_I32, 2, 1.0, NULL) == -1 && strstr(nb_errmsg(), "dtype"));
    CHECK(nb_clip_grad_norm(g, NB_F64, 2, -1.0, NULL) == -1 && strstr(nb_errmsg(), "max_norm"));
}

/* Long float buffers go through the vector sums (AVX2, or AVX-512's own
 * order where the CPU has it) and the scalar tail: the norm within 1e-13 of
 * a long double sum, max |g| exact, and a NaN or an infinity anywhere (in a
 * vector block or in the tail) makes the norm NaN or infinite. */
TEST(optim, clip_norm_of_long_float_buffers)
{
    const size_t ns[] = {1, 7, 31, 32, 33, 63, 64, 65, 100, 1000, 65536 + 37, 200003};
    float *g = malloc(200003 * sizeof *g);
    CHECK(g != NULL);
    if (!g) return;
    uint64_t seed = 7;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const size_t n = ns[k];
        long double ref = 0;
        double mx = 0;
        for (size_t i = 0; i < n; i++) {
            g[i] = (float)vs_value(&seed, (int)(i % 13)); /* magnitudes 1e-6 to 1e6, and zeros */
            ref += (long double)g[i] * g[i];
            if (fabs((double)g[i]) > mx) mx = fabs((double)g[i]);
        }
        double amax = 0;
        const double ss = nb__sumsq_f32(g, n, 1.0, &amax);
        CHECK_MSG(fabsl((long double)ss - ref) <= 1e-13L * ref, "n %zu: sum of squares %.17g, long double %.17Lg", n,
                  ss, ref);
        CHECK_MSG(amax == mx, "n %zu: max |g| %g, want %g", n, amax, mx);
        int bad = -1;
        const double norm = nb_clip_grad_norm(g, NB_F32, n, INFINITY, &bad);
        CHECK_MSG(bad == 0 && fabs(norm - (double)sqrtl(ref)) <= 1e-13 * norm, "n %zu: norm %.17g", n, norm);
        const size_t at[] = {0, n / 2, n - 1};
        for (int a = 0; a < 3; a++) {
            const float keep = g[at[a]];
            g[at[a]] = -INFINITY;
            CHECK_MSG(isinf(nb_clip_grad_norm(g, NB_F32, n, 1.0, &bad)) && bad == 1, "n %zu: -inf at %zu", n, at[a]);
            amax = 0;
            nb__sumsq_f32(g, n, 1.0, &amax);
            CHECK_MSG(isinf(amax), "n %zu: -inf at %zu, max |g| %g", n, at[a], amax);
            g[at[a]] = NAN;
            CHECK_MSG(isnan(nb_clip_grad_norm(g, NB_F32, n, 1.0, &bad)) && bad == 1, "n %zu: NaN at %zu", n, at[a]);
            double want = 0; /* a NaN is never the maximum */
            for (size_t i = 0; i < n; i++)
                if (i != at[a] && fabs((double)g[i]) > want) want = fabs((double)g[i]);
            amax = 0;
            nb__sumsq_f32(g, n, 1.0, &amax);
            CHECK_MSG(amax == want, "n %zu: NaN at %zu, max |g| %g, want %g", n, at[a], amax, want);
            g[at[a]] = keep;
        }
    }
    free(g);
}

TEST(optim, clip_grad_norm_multi_equals_concatenated)
{
    double a[] = {1, -2, 3}, b[] = {4, 0.5}, cat[] = {1, -2, 3, 4, 0.5};
    void *bufs[] = {a, b};
    size_t ns[] = {3, 2};
    int bad = -1;
    double n1 = nb_clip_grad_norm_multi(bufs, ns, 2, NB_F64, 2.0, &bad);
    double n2 = nb_clip_grad_norm(cat, NB_F64, 5, 2.0, NULL);
    CHECK(bad == 0);
    CHECK_NEAR(n1, n2, 1e-15);
    CHECK_NEAR(n1, sqrt(1 + 4 + 9 + 16 + 0.25), 1e-15);
    for (int i = 0; i < 3; i++) CHECK(a[i] == cat[i]);
    for (int i = 0; i < 2; i++) CHECK(b[i] == cat[3 + i]);
    CHECK(nb_clip_grad_norm_multi(NULL, ns, 2, NB_F64, 1.0, NULL) == -1);
}

TEST(optim, clip_grad_value)
{
    double g[] = {-3, -0.5, 0, 0.25, 7, NAN};
    CHECK_OK(nb_clip_grad_value(g, NB_F64, 6, 1.0) == 0);
    CHECK(g[0] == -1 && g[1] == -0.5 && g[2] == 0 && g[3] == 0.25 && g[4] == 1 && isnan(g[5]));
    float f[] = {-2.5f, 0.1f, 2.5f};
    CHECK_OK(nb_clip_grad_value(f, NB_F32, 3, 0.5) == 0);
    CHECK(f[0] == -0.5f && f[1] == 0.1f && f[2] == 0.5f);
    CHECK(nb_clip_grad_value(g, NB_F64, 6, -1) == -1 && strstr(nb_errmsg(), "clip value"));
    CHECK(nb_clip_grad_value(g, NB_I32, 6, 1) == -1);
}

/* --------------------------------------------------------- config errors */
static void expect_bad_optim(nb_optim_config c, const char *field)
{
    nb_clear_error();
    nb_optim *o = nb_optim_new(&c, NB_F64, 4);
    CHECK_MSG(!o, "config with bad %s accepted", field);
    CHECK_MSG(strstr(nb_errmsg(), field), "error for bad %s: \"%s\"", field, nb_errmsg());
    nb_optim_free(o);
}

TEST(optim, config_errors_name_the_field)
{
    nb_optim_config c;
    for (int k = 0; k < NB_OPT_COUNT; k++) {
        c = nb_optim_defaults((nb_optim_kind)k);
        CHECK_OK(nb_optim_validate(&c) == 0);
        c.lr = -0.1;
        expect_bad_optim(c, "lr");
        c.lr = NAN;
        expect_bad_optim(c, "lr");
        c = nb_optim_defaults((nb_optim_kind)k);
        c.weight_decay = -1e-4;
        expect_bad_optim(c, "weight_decay");
    }
    c = nb_optim_defaults(NB_OPT_SGD);
    c.momentum = -0.5;
    expect_bad_optim(c, "momentum");
    c.momentum = 0;
    c.nesterov = 1;
    expect_bad_optim(c, "nesterov");
    c.momentum = 0.9;
    c.dampening = 0.1;
    expect_bad_optim(c, "nesterov");
    c.dampening = 0;
    nb_optim *ok = nb_optim_new(&c, NB_F32, 3);
    CHECK_OK(ok);
    nb_optim_free(ok);
    for (int k = NB_OPT_ADAM; k <= NB_OPT_ADAMW; k++) {
        c = nb_optim_defaults((nb_optim_kind)k);
        c.beta1 = 1.0;
        expect_bad_optim(c, "beta1");
        c.beta1 = -0.1;
        expect_bad_optim(c, "beta1");
        c = nb_optim_defaults((nb_optim_kind)k);
        c.beta2 = 1.0;
        expect_bad_optim(c, "beta2");
        c = nb_optim_defaults((nb_optim_kind)k);
        c.eps = -1e-8;
        expect_bad_optim(c, "eps");
    }
    c = nb_optim_defaults(NB_OPT_RMSPROP);
    c.alpha = -0.9;
    expect_bad_optim(c, "alpha");
    c = nb_optim_defaults(NB_OPT_RMSPROP);
    c.eps = -1;
    expect_bad_optim(c, "eps");
    c = nb_optim_defaults(NB_OPT_RMSPROP);
    c.momentum = -1;
    expect_bad_optim(c, "momentum");
    c = nb_optim_defaults(NB_OPT_ADAM);
    c.kind = (nb_optim_kind)42;
    expect_bad_optim(c, "kind");
    c = nb_optim_defaults(NB_OPT_ADAM);
    CHECK(nb_optim_new(&c, NB_I32, 4) == NULL && strstr(nb_errmsg(), "dtype"));
    CHECK(nb_optim_new(NULL, NB_F32, 4) == NULL);

    /* setters validate too */
    nb_optim *o = nb_optim_new(&c, NB_F64, 2);
    CHECK_OK(o);
    CHECK(nb_optim_set_lr(o, -1) == -1 && strstr(nb_errmsg(), "lr"));
    CHECK(nb_optim_set_momentum(o, 1.0) == -1 && strstr(nb_errmsg(), "beta1"));
    CHECK(nb_optim_set_steps(o, -3) == -1);
    CHECK(nb_optim_step(o, NULL, NULL) == -1 && strstr(nb_errmsg(), "params"));
    CHECK(nb_optim_lr(o) == c.lr && nb_optim_momentum(o) == 0.9);
    nb_optim_free(o);
    nb_optim_free(NULL);
}

static void expect_bad_sched(nb_sched_config c, const char *field)
{
    nb_sched s;
    nb_clear_error();
    CHECK_MSG(nb_sched_init(&s, &c, 0.1) == -1, "schedule with bad %s accepted", field);
    CHECK_MSG(strstr(nb_errmsg(), field), "error for bad %s: \"%s\"", field, nb_errmsg());
}

TEST(optim, schedule_config_errors)
{
    nb_sched_config c = nb_sched_defaults(NB_SCHED_STEP);
    c.step_size = 0;
    expect_bad_sched(c, "step_size");
    c = nb_sched_defaults(NB_SCHED_EXPONENTIAL);
    c.gamma = 0;
    expect_bad_sched(c, "gamma");
    c = nb_sched_defaults(NB_SCHED_COSINE);
    c.t_max = 0;
    expect_bad_sched(c, "t_max");
    c = nb_sched_defaults(NB_SCHED_LINEAR);
    c.start_factor = 1.5;
    expect_bad_sched(c, "start_factor");
    c = nb_sched_defaults(NB_SCHED_LINEAR);
    c.end_factor = -0.5;
    expect_bad_sched(c, "end_factor");
    c = nb_sched_defaults(NB_SCHED_ONECYCLE);
    c.total_steps = 0;
    expect_bad_sched(c, "total_steps");
    c = nb_sched_defaults(NB_SCHED_ONECYCLE);
    c.pct_start = 1.5;
    expect_bad_sched(c, "pct_start");
    c = nb_sched_defaults(NB_SCHED_ONECYCLE);
    c.div_factor = 0;
    expect_bad_sched(c, "div_factor");
    c = nb_sched_defaults(NB_SCHED_ONECYCLE);
    c.warmup_iters = 5;
    expect_bad_sched(c, "warmup_iters");
    c = nb_sched_defaults(NB_SCHED_COSINE);
    c.warmup_iters = 5;
    c.warmup_start_factor = 0;
    expect_bad_sched(c, "warmup_start_factor");
    nb_sched s;
    c = nb_sched_defaults(NB_SCHED_COSINE);
    CHECK(nb_sched_init(&s, &c, -1.0) == -1 && strstr(nb_errmsg(), "base_lr"));

    /* OneCycleLR may be stepped total_steps times, not once more */
    c = nb_sched_defaults(NB_SCHED_ONECYCLE);
    c.total_steps = 10;
    CHECK_OK(nb_sched_init(&s, &c, 0) == 0);
    for (int i = 0; i < 10; i++) CHECK_OK(nb_sched_step(&s) == 0);
    double lr = s.lr;
    CHECK(nb_sched_step(&s) == -1 && strstr(nb_errmsg(), "total_steps"));
    CHECK(s.epoch == 10 && s.lr == lr);
}

/* ------------------------------------------------------ schedule helpers */
TEST(optim, schedule_seek_and_lr_at_replay_exactly)
{
    nb_sched_config c = nb_sched_defaults(NB_SCHED_COSINE);
    c.t_max = 13;
    c.eta_min = 1e-4;
    c.warmup_iters = 4;
    c.warmup_start_factor = 0.1;
    nb_sched a, b;
    CHECK_OK(nb_sched_init(&a, &c, 0.05) == 0);
    CHECK_OK(nb_sched_init(&b, &c, 0.05) == 0);
    CHECK(a.lr == 0.05 * 0.1);
    for (int e = 1; e <= 40; e++) {
        CHECK_OK(nb_sched_step(&a) == 0);
        CHECK(nb_sched_lr_at(&c, 0.05, e) == a.lr);
    }
    CHECK_OK(nb_sched_seek(&b, 40) == 0);
    CHECK(b.epoch == 40 && b.lr == a.lr);
    CHECK_OK(nb_sched_step(&a) == 0);
    CHECK_OK(nb_sched_step(&b) == 0);
    CHECK(a.lr == b.lr);
    /* the warm-up reaches base_lr, the cosine starts from it */
    CHECK(nb_sched_lr_at(&c, 0.05, 4) == 1e-4 + (0.05 - 1e-4) * 2.0 / 2);
    /* constant: nothing changes */
    nb_sched_config k = nb_sched_defaults(NB_SCHED_CONSTANT);
    CHECK(nb_sched_lr_at(&k, 0.3, 100) == 0.3);
    CHECK(isnan(nb_sched_lr_at(&k, -0.3, 1)));
}

TEST(optim, onecycle_sets_momentum_and_beta1)
{
    nb_sched_config c = nb_sched_defaults(NB_SCHED_ONECYCLE);
    c.max_lr = 0.1;
    c.total_steps = 20;
    nb_sched s;
    CHECK_OK(nb_sched_init(&s, &c, 0) == 0);
    CHECK(s.lr == 0.1 + (0.1 / 25 - 0.1) / 2.0 * 2.0); /* cos anneal at pct 0 */
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, 3);
    CHECK_OK(nb_sched_apply(&s, o) == 0);
    CHECK(nb_optim_lr(o) == s.lr && nb_optim_get_config(o)->beta1 == s.momentum);
    CHECK_NEAR(s.momentum, 0.95, 1e-15);
    nb_optim_free(o);
    /* SGD without momentum gets a momentum buffer when OneCycle sets one */
    oc = nb_optim_defaults(NB_OPT_SGD);
    o = nb_optim_new(&oc, NB_F64, 3);
    CHECK(nb_optim_state_count(o) == 0);
    CHECK_OK(nb_sched_apply(&s, o) == 0);
    double p[3] = {1, 2, 3}, g[3] = {0.5, -0.5, 1};
    CHECK_OK(nb_optim_step(o, p, g) == 0);
    CHECK(nb_optim_state_count(o) == 1);
    CHECK(!strcmp(nb_optim_state_name(o, 0), "momentum_buffer"));
    const double *buf = nb_optim_state_get(o, "momentum_buffer");
    CHECK(buf && buf[0] == 0.5 && buf[2] == 1); /* first step: buf = grad */
    nb_optim_free(o);
}

/* ------------------------------------------------------- checkpoint state */
typedef struct {
    const char *name;
    nb_optim_config c;
    const char *bufs; /* expected state names, space separated */
} state_case;

static void gen_grads(double *g, size_t n, int t)
{
    for (size_t i = 0; i < n; i++) g[i] = sin(0.7 * (double)t + 1.3 * (double)i) * (1 + (double)i);
}

static void check_state_roundtrip(const state_case *sc, nb_dtype dt)
{
    enum { N = 7 };
    const size_t es = nb_dtype_size(dt);
    double pd[N], gd[N], qd[N];
    float pf[N], gf[N], qf[N];
    for (int i = 0; i < N; i++) pd[i] = qd[i] = pf[i] = qf[i] = (float)(0.25 * i - 0.8);
    void *p = dt == NB_F32 ? (void *)pf : (void *)pd, *q = dt == NB_F32 ? (void *)qf : (void *)qd;
    void *g = dt == NB_F32 ? (void *)gf : (void *)gd;
    nb_optim *a = nb_optim_new(&sc->c, dt, N);
    CHECK_OK(a);
    if (!a) return;
    for (int t = 0; t < 15; t++) {
        gen_grads(gd, N, t);
        for (int i = 0; i < N; i++) gf[i] = (float)gd[i];
        CHECK_OK(nb_optim_step(a, p, g) == 0);
    }
    /* save: every listed buffer plus the step count and the parameters */
    char names[128] = "";
    static unsigned char saved[8][N * 8];
    int k = nb_optim_state_count(a);
    CHECK(k <= 8);
    for (int i = 0; i < k && i < 8; i++) {
        const char *nm = nb_optim_state_name(a, i);
        if (i) strcat(names, " ");
        strcat(names, nm);
        memcpy(saved[i], nb_optim_state_get(a, nm), N * es);
    }
    CHECK(nb_optim_state_name(a, k) == NULL);
    CHECK_MSG(!strcmp(names, sc->bufs), "%s: state \"%s\", expected \"%s\"", sc->name, names, sc->bufs);
    memcpy(q, p, N * es);
    /* restore into a fresh optimizer */
    nb_optim *b = nb_optim_new(&sc->c, dt, N);
    CHECK_OK(b);
    if (!b) {
        nb_optim_free(a);
        return;
    }
    for (int i = 0; i < k && i < 8; i++) CHECK_OK(nb_optim_state_load(b, nb_optim_state_name(a, i), saved[i]) == 0);
    CHECK_OK(nb_optim_set_steps(b, nb_optim_steps(a)) == 0);
    CHECK(nb_optim_steps(b) == 15);
    for (int t = 15; t < 30; t++) {
        gen_grads(gd, N, t);
        for (int i = 0; i < N; i++) gf[i] = (float)gd[i];
        CHECK_OK(nb_optim_step(a, p, g) == 0);
        CHECK_OK(nb_optim_step(b, q, g) == 0);
    }
    CHECK_MSG(memcmp(p, q, N * es) == 0, "%s %s: restored optimizer diverged", sc->name, nb_dtype_name(dt));
    /* a fresh optimizer without the state does diverge (negative control) */
    nb_optim *fresh = nb_optim_new(&sc->c, dt, N);
    memcpy(q, p, N * es);
    gen_grads(gd, N, 30);
    for (int i = 0; i < N; i++) gf[i] = (float)gd[i];
    nb_optim_step(a, p, g);
    nb_optim_step(fresh, q, g);
    CHECK_MSG(memcmp(p, q, N * es) != 0, "%s: state made no difference", sc->name);
    nb_optim_free(fresh);
    nb_optim_free(a);
    nb_optim_free(b);
}

TEST(optim, state_save_restore_continues_bitwise)
{
    state_case cases[6];
    cases[0] = (state_case){"sgd", nb_optim_defaults(NB_OPT_SGD), "momentum_buffer"};
    cases[0].c.momentum = 0.9;
    cases[0].c.nesterov = 1;
    cases[0].c.lr = 0.01;
    cases[1] = (state_case){"adam", nb_optim_defaults(NB_OPT_ADAM), "exp_avg exp_avg_sq"};
    cases[2] = (state_case){"adam_amsgrad", nb_optim_defaults(NB_OPT_ADAM), "exp_avg exp_avg_sq max_exp_avg_sq"};
    cases[2].c.amsgrad = 1;
    cases[3] = (state_case){"adamw", nb_optim_defaults(NB_OPT_ADAMW), "exp_avg exp_avg_sq"};
    cases[4] = (state_case){"rmsprop", nb_optim_defaults(NB_OPT_RMSPROP), "square_avg"};
    cases[5] = (state_case){"rmsprop_all", nb_optim_defaults(NB_OPT_RMSPROP), "momentum_buffer square_avg grad_avg"};
    cases[5].c.momentum = 0.5;
    cases[5].c.centered = 1;
    for (int i = 0; i < 6; i++) {
        check_state_roundtrip(&cases[i], NB_F64);
        check_state_roundtrip(&cases[i], NB_F32);
    }
}

TEST(optim, state_names_and_errors)
{
    nb_optim_config c = nb_optim_defaults(NB_OPT_SGD);
    c.momentum = 0.9;
    nb_optim *o = nb_optim_new(&c, NB_F64, 2);
    CHECK(nb_optim_state_count(o) == 0); /* torch: momentum_buffer is None */
    CHECK(nb_optim_state_get(o, "momentum_buffer") == NULL);
    CHECK(nb_optim_state_get(o, "exp_avg") == NULL && strstr(nb_errmsg(), "exp_avg"));
    CHECK(nb_optim_state_load(o, "exp_avg", (double[]){1, 2}) == -1);
    /* loading the momentum buffer makes the next step use it (no re-init) */
    CHECK_OK(nb_optim_state_load(o, "momentum_buffer", (double[]){1, 2}) == 0);
    CHECK(nb_optim_state_count(o) == 1);
    double p[] = {0, 0}, g[] = {1, 1};
    CHECK_OK(nb_optim_step(o, p, g) == 0);
    const double *m = nb_optim_state_get(o, "momentum_buffer");
    CHECK(m && m[0] == 1 * 0.9 + 1 && m[1] == 2 * 0.9 + 1);
    CHECK(nb_optim_dtype(o) == NB_F64 && nb_optim_size(o) == 2 && nb_optim_steps(o) == 1);
    nb_optim_free(o);
}

/* ------------------------------------------------- the CLI's schedules */
/* The lr of every "log" event of `nabla train --json ... --log-every 1`
 * (the rate each step used); the count, or -1. */
static int train_lrs(const char *flags, double *lr, int max, char **outp)
{
    char args[600], *out;
    snprintf(args, sizeof args, "train --json --quiet --limit-train 640 --batch 64 --epochs 1 --log-every 1 --out %s",
             flags);
    int rc = t_cli_run(args, &out);
    int n = 0;
    for (const char *p = out ? strstr(out, "{\"event\":\"log\"") : NULL; p && n < max;
         p = strstr(p + 1, "{\"event\":\"log\"")) {
        const char *l = strstr(p, "\"lr\":");
        lr[n++] = l ? strtod(l + 5, NULL) : -1;
    }
    if (outp) *outp = out;
    else free(out);
    return rc ? -1 : n;
}

TEST(optim, cli_linear_decays_over_the_run_and_warmup_ramps_into_it)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_sched_XXXXXX", flags[300];
    CHECK(mkdtemp(dir));
    double lr[16];
    /* 10 steps: 1e-3 x (1 - k/10) for step k + 1 */
    snprintf(flags, sizeof flags, "%s/a --sched linear", dir);
    CHECK(train_lrs(flags, lr, 16, NULL) == 10);
    for (int k = 0; k < 10; k++)
        CHECK_MSG(fabs(lr[k] - 1e-3 * (1 - k / 10.0)) < 1e-12, "step %d: lr %.17g", k + 1, lr[k]);
    /* --warmup 3: 1e-4 up to 1e-3 over steps 1..4, then down over the 7 left: no sawtooth */
    snprintf(flags, sizeof flags, "%s/b --sched linear --warmup 3", dir);
    CHECK(train_lrs(flags, lr, 16, NULL) == 10);
    CHECK_MSG(fabs(lr[0] - 1e-4) < 1e-12 && fabs(lr[3] - 1e-3) < 1e-12, "%g %g", lr[0], lr[3]);
    for (int k = 1; k < 10; k++)
        CHECK_MSG(k <= 3 ? lr[k] > lr[k - 1] : lr[k] < lr[k - 1], "step %d: %g after %g", k + 1, lr[k], lr[k - 1]);
    CHECK(fabs(lr[9] - 1e-3 * (1 - 6 / 7.0)) < 1e-12);
    /* with a per-epoch schedule the warm-up counts steps too, and so does the schedule after it */
    snprintf(flags, sizeof flags, "%s/c --sched cosine --warmup 4", dir);
    CHECK(train_lrs(flags, lr, 16, NULL) == 10);
    CHECK(fabs(lr[0] - 1e-4) < 1e-12 && lr[1] > lr[0] && fabs(lr[4] - 1e-3) < 1e-12 && lr[9] < lr[5]);
    /* and with none: a ramp, then the constant rate */
    snprintf(flags, sizeof flags, "%s/d --warmup 2", dir);
    CHECK(train_lrs(flags, lr, 16, NULL) == 10);
    CHECK(fabs(lr[0] - 1e-4) < 1e-12 && fabs(lr[2] - 1e-3) < 1e-12 && fabs(lr[9] - 1e-3) < 1e-12);
    /* onecycle has its own warm-up */
    char *out;
    snprintf(flags, sizeof flags, "%s/e --sched onecycle --warmup 2", dir);
    CHECK(train_lrs(flags, lr, 16, &out) == -1 && out && strstr(out, "onecycle warms up by itself"));
    free(out);
    CHECK(t_cli_run("help train", &out) == 0 && out && strstr(out, "optimizer steps") && !strstr(out, "(epochs)"));
    free(out);
    /* settings that cannot learn: a warning, not an error */
    snprintf(flags, sizeof flags, "%s/f --lr 0 --max-steps 2", dir);
    CHECK(train_lrs(flags, lr, 16, &out) == 2 && out && strstr(out, "warning: --lr 0"));
    free(out);
    t_rmrf(dir);
}
