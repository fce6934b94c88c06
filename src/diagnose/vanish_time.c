/* Vanishing and exploding gradients through time: dL/dh_t at every step of a
 * recurrent net on the adding problem, at initialisation, and whether the
 * net then learns the task (nabla/vanish.h, "through time").  Legend: N
 * batch, T steps, H hidden units, G gates (rnn 1, lstm 4, gru 3). */
#include "../internal.h"
#include "nabla/optim.h"
#include "nabla/vanish.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

static double nb__vt_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const nb__vt_names[NB_VT__COUNT] = {"rnn", "lstm", "gru"};

const char *nb_vt_cell_name(nb_vt_cell cell) { return (unsigned)cell < NB_VT__COUNT ? nb__vt_names[cell] : "?"; }

int nb_vt_cell_parse(const char *name)
{
    for (int k = 0; name && k < NB_VT__COUNT; k++)
        if (!strcmp(name, nb__vt_names[k])) return k;
    return -1;
}

nb_vanish_time_config nb_vanish_time_defaults(void)
{
    nb_vanish_time_config c = {0};
    c.cell = NB_VT_LSTM;
    c.T = 100;
    c.hidden = 32;
    c.steps = 1500;
    c.batch = 32;
    c.test_n = 1000;
    c.opt = nb_optim_defaults(NB_OPT_ADAM);
    c.opt.lr = 0.01;
    c.hh_scale = 1;
    c.gate_bias = 3;
    c.solved_below = 0.01;
    c.seed = 1;
    c.dtype = NB_F32;
    return c;
}

int nb_vanish_time_validate(const nb_vanish_time_config *c)
{
    if (!c) return nb__erri("vanish time: NULL config");
    if ((unsigned)c->cell >= NB_VT__COUNT) return nb__erri("vanish time: cell: unknown cell %d", (int)c->cell);
    if (c->T < 2 || c->T > NB_VANISH_TIME_MAX_T)
        return nb__erri("vanish time: T %d is out of range [2, %d]", c->T, NB_VANISH_TIME_MAX_T);
    if (c->hidden < 1 || c->hidden > 4096)
        return nb__erri("vanish time: hidden %zu is out of range [1, 4096]", c->hidden);
    if (c->steps < 0) return nb__erri("vanish time: steps must be >= 0 (got %ld)", c->steps);
    if (c->batch < 1 || c->batch > 100000)
        return nb__erri("vanish time: batch %zu is out of range [1, 100000]", c->batch);
    if (c->test_n < 1 || c->test_n > 1000000)
        return nb__erri("vanish time: test_n %zu is out of range [1, 1000000]", c->test_n);
    if (!(c->clip_norm >= 0) || !isfinite(c->clip_norm))
        return nb__erri("vanish time: clip_norm must be >= 0 (got %g)", c->clip_norm);
    if (!isfinite(c->hh_scale)) return nb__erri("vanish time: hh_scale must be finite (got %g)", c->hh_scale);
    if (!isfinite(c->gate_bias)) return nb__erri("vanish time: gate_bias must be finite (got %g)", c->gate_bias);
    if (!(c->solved_below > 0)) return nb__erri("vanish time: solved_below must be positive (got %g)", c->solved_below);
    if (c->dtype != NB_F32 && c->dtype != NB_F64) return nb__erri("vanish time: dtype must be float32 or float64");
    return nb_optim_validate(&c->opt);
}

int nb_adding_problem(nb_rng *r, size_t n, size_t T, nb_dtype dt, void *x, void *y)
{
    if (!r || !x || !y || T < 2 || (dt != NB_F32 && dt != NB_F64))
        return nb__erri("adding problem: NULL argument, T %zu < 2 or not a float dtype", T);
    const size_t half = T / 2;
    for (size_t i = 0; i < n; i++) {
        size_t a = (size_t)nb_rng_below(r, half), b = half + (size_t)nb_rng_below(r, T - half);
        double sum = 0;
        for (size_t t = 0; t < T; t++) {
            double v = nb_rng_uniform(r), m = t == a || t == b;
            sum += m * v;
            size_t k = (i * T + t) * 2; /* x [n, T, 2] */
            if (dt == NB_F32) {
                ((float *)x)[k] = (float)v;
                ((float *)x)[k + 1] = (float)m;
            } else {
                ((double *)x)[k] = v;
                ((double *)x)[k + 1] = m;
            }
        }
        if (dt == NB_F32) ((float *)y)[i] = (float)sum;
        else ((double *)y)[i] = sum;
    }
    return 0;
}

/* ------------------------------------------------------------------ model */
enum { NB__VT_WIH, NB__VT_WHH, NB__VT_BIH, NB__VT_BHH, NB__VT_WOUT, NB__VT_BOUT, NB__VT_NP };

/* One recurrent layer and a Linear head; parameters and gradients each in
 * one flat buffer, in the order above (so the optimizer and clipping are
 * flat loops). */
typedef struct {
    nb_vt_cell cell;
    nb_dtype dt;
    size_t h, np;
    void *params, *grads;
    nb_tensor *p[NB__VT_NP];
} nb__vt_model;

static void nb__vt_model_free(nb__vt_model *m)
{
    for (int i = 0; i < NB__VT_NP; i++) nb_tensor_free(m->p[i]);
    free(m->params);
    free(m->grads);
}

static int nb__vt_model_new(nb__vt_model *m, const nb_vanish_time_config *cfg, nb_rng *r)
{
    const size_t H = cfg->hidden, G = cfg->cell == NB_VT_LSTM ? 4 : cfg->cell == NB_VT_GRU ? 3 : 1, GH = G * H;
    const size_t shapes[NB__VT_NP][2] = {{GH, 2}, {GH, H}, {GH, 0}, {GH, 0}, {1, H}, {1, 0}};
    memset(m, 0, sizeof *m);
    m->cell = cfg->cell;
    m->dt = cfg->dtype;
    m->h = H;
    for (int i = 0; i < NB__VT_NP; i++) m->np += shapes[i][0] * (shapes[i][1] ? shapes[i][1] : 1);
    const size_t es = nb_dtype_size(m->dt);
    m->params = malloc(m->np * es);
    m->grads = calloc(m->np, es);
    if (!m->params || !m->grads) return nb__erri("vanish time: out of memory");
    size_t off = 0;
    for (int i = 0; i < NB__VT_NP; i++) {
        int nd = shapes[i][1] ? 2 : 1;
        nb_tensor *t = nb_tensor_from(m->dt, nd, shapes[i], (char *)m->params + off * es, NB_BORROW);
        if (!t) return -1;
        m->p[i] = t;
        if (!(t->grad = nb_tensor_from(m->dt, nd, shapes[i], (char *)m->grads + off * es, NB_BORROW))) return -1;
        if (nb_tensor_set_requires_grad(t, 1)) return -1;
        off += t->numel;
    }
    /* PyTorch's init: every recurrent weight and bias U(-k, k), k = 1/sqrt(H);
     * nn.Linear(H, 1) draws from the same bound */
    const double k = 1 / sqrt((double)H);
    for (int i = 0; i < NB__VT_NP; i++)
        if (nb_fill_uniform(m->p[i], -k, k, r)) return -1;
    nb_tensor *whh = m->p[NB__VT_WHH], *bih = m->p[NB__VT_BIH];
    if (cfg->hh_scale != 1)
        for (size_t j = 0; j < whh->numel; j++) nb_set(whh, j, cfg->hh_scale * nb_get(whh, j));
    /* the gate that keeps the state: the lstm's forget gate (order i f g o),
     * the gru's update gate (order r z n); both are the second block */
    if (cfg->cell != NB_VT_RNN && cfg->gate_bias != 0)
        for (size_t j = H; j < 2 * H; j++) nb_set(bih, j, nb_get(bih, j) + cfg->gate_bias);
    return 0;
}

/* The recurrent layer over x [N, T, 2] from h0 (c0) (NULL: zeros); its last
 * hidden state [N, H] in *h_n (and the lstm's cell state in *c_n). */
static nb_tensor *nb__vt_layer(nb_ctx *c, const nb__vt_model *m, nb_tensor *x, nb_tensor *h0, nb_tensor *c0,
                               nb_tensor **h_n, nb_tensor **c_n)
{
    nb_tensor *const *p = m->p;
    if (m->cell == NB_VT_LSTM)
        return nb_lstm(c, x, p[NB__VT_WIH], p[NB__VT_WHH], p[NB__VT_BIH], p[NB__VT_BHH], h0, c0, h_n, c_n);
    if (m->cell == NB_VT_GRU) return nb_gru(c, x, p[NB__VT_WIH], p[NB__VT_WHH], p[NB__VT_BIH], p[NB__VT_BHH], h0, h_n);
    return nb_rnn(c, x, p[NB__VT_WIH], p[NB__VT_WHH], p[NB__VT_BIH], p[NB__VT_BHH], h0, NB_ACT_TANH, h_n);
}

/* The prediction [N, 1] from the last hidden state. */
static nb_tensor *nb__vt_head(nb_ctx *c, const nb__vt_model *m, nb_tensor *h)
{
    return nb_linear(c, h, m->p[NB__VT_WOUT], m->p[NB__VT_BOUT], NB_ACT_NONE, 0);
}

/* Mean MSE over n sequences (x [n, T, 2], y [n]) in chunks, grad mode off. */
static double nb__vt_eval(nb__vt_model *m, nb_ctx *c, const void *x, const void *y, size_t n, size_t T)
{
    const size_t es = nb_dtype_size(m->dt), chunk = 500;
    int g = nb_set_grad_enabled(c, 0);
    double sum = 0;
    for (size_t i = 0; i < n && isfinite(sum); i += chunk) {
        size_t b = n - i < chunk ? n - i : chunk;
        nb_tensor *xt = nb_from_data(c, m->dt, 3, (size_t[]){b, T, 2}, (char *)x + i * T * 2 * es, NB_BORROW);
        nb_tensor *yt = nb_from_data(c, m->dt, 2, (size_t[]){b, 1}, (char *)y + i * es, NB_BORROW);
        nb_tensor *h_n = NULL;
        nb__vt_layer(c, m, xt, NULL, NULL, &h_n, NULL);
        nb_tensor *l = nb_mse(c, nb__vt_head(c, m, h_n), yt, NB_SUM);
        sum = l ? sum + nb_item(l) : NAN;
        nb_ctx_reset(c);
    }
    nb_set_grad_enabled(c, g);
    return sum / (double)n;
}

/* ||g||_2 of an arena gradient (NAN when absent). */
static double nb__vt_norm(const nb_tensor *g)
{
    if (!g) return NAN;
    double s = 0;
    for (size_t j = 0; j < g->numel; j++) {
        double v = nb_get(g, j);
        s += v * v;
    }
    return sqrt(s);
}

/* dL/dh_t for t = 1..T on one batch (x [N, T, 2], y [N]) by unrolling: T
 * calls of the op with T = 1, each step's final state the next one's
 * initial state, every h_t kept by nb_retain_grad.  The parameters'
 * gradients are zeroed afterwards. */
static int nb__vt_probe(nb__vt_model *m, nb_ctx *c, const void *x, const void *y, size_t N, size_t T, double *norms)
{
    const size_t es = nb_dtype_size(m->dt);
    nb_tensor **hs = nb_ctx_alloc(c, T * sizeof *hs);
    nb_tensor *xt = nb_from_data(c, m->dt, 3, (size_t[]){N, T, 2}, (void *)x, NB_BORROW);
    nb_tensor *yt = nb_from_data(c, m->dt, 2, (size_t[]){N, 1}, (void *)y, NB_BORROW);
    if (!hs || !xt || !yt) return -1;
    nb_tensor *h = NULL, *cs = NULL;
    for (size_t t = 0; t < T; t++) {
        nb_tensor *h_n = NULL, *c_n = NULL;
        nb__vt_layer(c, m, nb_slice(c, xt, 1, t, t + 1), h, cs, &h_n, m->cell == NB_VT_LSTM ? &c_n : NULL);
        if (!h_n || nb_retain_grad(h_n)) return -1;
        hs[t] = h = h_n;
        cs = c_n;
    }
    nb_tensor *l = nb_mse(c, nb__vt_head(c, m, h), yt, NB_MEAN);
    int rc = nb_backward(c, l, NULL);
    for (size_t t = 0; t < T && !rc; t++) norms[t] = nb__vt_norm(nb_grad(hs[t]));
    memset(m->grads, 0, m->np * es);
    nb_ctx_reset(c);
    return rc;
}

/* One training step on a fresh batch: loss and gradient norm (before
 * clipping) out; the update is made only when both are finite (*finite). */
static int nb__vt_step(nb__vt_model *m, nb_optim *o, nb_ctx *c, const nb_vanish_time_config *cfg, const void *x,
                       const void *y, double *loss, double *gnorm, int *finite)
{
    const size_t es = nb_dtype_size(m->dt), T = (size_t)cfg->T;
    nb_tensor *xt = nb_from_data(c, m->dt, 3, (size_t[]){cfg->batch, T, 2}, (void *)x, NB_BORROW);
    nb_tensor *yt = nb_from_data(c, m->dt, 2, (size_t[]){cfg->batch, 1}, (void *)y, NB_BORROW);
    nb_tensor *h_n = NULL;
    nb__vt_layer(c, m, xt, NULL, NULL, &h_n, NULL);
    nb_tensor *l = nb_mse(c, nb__vt_head(c, m, h_n), yt, NB_MEAN);
    memset(m->grads, 0, m->np * es);
    int rc = nb_backward(c, l, NULL);
    *loss = rc ? NAN : nb_item(l);
    nb_ctx_reset(c);
    if (rc) return -1;
    int bad = 0;
    *gnorm = nb_clip_grad_norm(m->grads, m->dt, m->np, cfg->clip_norm > 0 ? cfg->clip_norm : INFINITY, &bad);
    *finite = !bad && isfinite(*loss) && isfinite(*gnorm);
    return *finite ? nb_optim_step(o, m->params, m->grads) : 0;
}

int nb_vanish_time_run(const nb_vanish_time_config *cfg, nb_vanish_time_result *out)
{
    if (!out) return nb__erri("vanish time: NULL result");
    if (nb_vanish_time_validate(cfg)) return -1;
    double t0 = nb__vt_seconds();
    memset(out, 0, sizeof *out);
    out->T = cfg->T;
    out->final_loss = out->loss_first = out->loss_last = NAN;
    const nb_dtype dt = cfg->dtype;
    const size_t es = nb_dtype_size(dt), T = (size_t)cfg->T, nx = T * 2;
    const size_t nmax = cfg->batch > cfg->test_n ? cfg->batch : cfg->test_n;
    nb_rng init_rng, data_rng, probe_rng, test_rng;
    nb_rng_seed(&init_rng, cfg->seed);
    nb_rng_seed(&data_rng, cfg->seed ^ 0xda7aULL);
    nb_rng_seed(&probe_rng, cfg->seed ^ 0x9b0be5ULL);
    nb_rng_seed(&test_rng, cfg->seed ^ 0x7e57ULL);
    nb__vt_model m;
    nb_optim *o = NULL;
    nb_ctx *c = nb_ctx_new(NULL);
    void *x = malloc(nmax * nx * es), *y = malloc(nmax * es), *tx = malloc(cfg->test_n * nx * es),
         *ty = malloc(cfg->test_n * es);
    int rc = -1;
    if (nb__vt_model_new(&m, cfg, &init_rng)) goto done;
    if (!c || !x || !y || !tx || !ty) {
        nb__erri("vanish time: out of memory");
        goto done;
    }
    if (!(o = nb_optim_new(&cfg->opt, dt, m.np))) goto done;

    /* at initialisation: the per-step profile and the test loss */
    if (nb_adding_problem(&probe_rng, cfg->batch, T, dt, x, y) ||
        nb__vt_probe(&m, c, x, y, cfg->batch, T, out->grad_norms))
        goto done;
    out->grad_norm_first = out->grad_norms[0];
    out->grad_norm_last = out->grad_norms[T - 1];
    out->ratio = out->grad_norm_first / out->grad_norm_last;
    if (nb_adding_problem(&test_rng, cfg->test_n, T, dt, tx, ty)) goto done;
    out->loss_init = nb__vt_eval(&m, c, tx, ty, cfg->test_n, T);

    double tail[20];
    while (out->steps_done < cfg->steps) {
        double loss, gnorm;
        int finite;
        if (nb_adding_problem(&data_rng, cfg->batch, T, dt, x, y) ||
            nb__vt_step(&m, o, c, cfg, x, y, &loss, &gnorm, &finite))
            goto done;
        if (!finite) {
            out->exploded = 1;
            out->exploded_at = out->steps_done + 1;
            break;
        }
        if (out->steps_done == 0) out->loss_first = loss;
        tail[out->steps_done % 20] = loss;
        out->loss_max = fmax(out->loss_max, loss);
        out->grad_norm_max = fmax(out->grad_norm_max, gnorm);
        out->clipped_steps += cfg->clip_norm > 0 && gnorm > cfg->clip_norm;
        out->steps_done++;
    }
    if (out->steps_done > 0) {
        long nt = out->steps_done < 20 ? out->steps_done : 20;
        double s = 0;
        for (long k = 0; k < nt; k++) s += tail[k];
        out->loss_last = s / (double)nt;
    }
    /* untrained: the parameters are the ones loss_init was measured on */
    out->final_loss = out->steps_done ? nb__vt_eval(&m, c, tx, ty, cfg->test_n, T) : out->loss_init;
    if (!isfinite(out->final_loss)) out->final_loss = NAN;
    out->solved = out->final_loss < cfg->solved_below;
    rc = 0;
done:
    out->seconds = nb__vt_seconds() - t0;
    free(x);
    free(y);
    free(tx);
    free(ty);
    nb_optim_free(o);
    nb_ctx_free(c);
    nb__vt_model_free(&m);
    return rc;
}
