/* Vanishing and exploding gradients through time (see nabla/vanish.h): a
 * recurrent cell trained on the adding problem, then ||dloss/dh_t|| read at
 * every step of an unrolled forward (one op call per step, each h_t a graph
 * tensor whose gradient is retained).  Training runs the whole-sequence op;
 * both give the same values.  Public API only, apart from the error helpers. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "../internal.h"
#include "nabla/vanish.h"

enum { NB__VT_NP = 6, NB__VT_PROBE = 256 };

/* weight_ih [G*H, 2], weight_hh [G*H, H], bias_ih, bias_hh [G*H], the
 * readout weight [1, H] and bias [1], with Adam's moments. */
typedef struct {
    nb_tensor *p[NB__VT_NP];
    float *m[NB__VT_NP], *v[NB__VT_NP];
} nb__vt_net;

nb_vanish_time_config nb_vanish_time_defaults(void)
{
    return (nb_vanish_time_config){.cell = NB_VTIME_LSTM,
                                   .T = 100,
                                   .hidden = 32,
                                   .batch = 32,
                                   .steps = 3000,
                                   .lr = 1e-2,
                                   .clip_norm = 1.0,
                                   .whh_scale = 1.0,
                                   .seed = 1};
}

static const char *const nb__vt_names[] = {"rnn", "lstm", "gru"};

int nb_vtime_cell_parse(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, nb__vt_names[i])) return i;
    return -1;
}

const char *nb_vtime_cell_name(nb_vtime_cell cell) { return (unsigned)cell < 3 ? nb__vt_names[cell] : "?"; }

/* One layer of the cell over x [N, T', 2] from (h0, c0); h_n, c_n out. */
static nb_tensor *nb__vt_cell(nb_ctx *c, nb_vtime_cell cell, nb_tensor *x, nb__vt_net *n, nb_tensor *h0, nb_tensor *c0,
                              nb_tensor **hn, nb_tensor **cn)
{
    nb_tensor **p = n->p;
    if (cell == NB_VTIME_LSTM) return nb_lstm(c, x, p[0], p[1], p[2], p[3], h0, c0, hn, cn);
    if (cell == NB_VTIME_GRU) return nb_gru(c, x, p[0], p[1], p[2], p[3], h0, hn);
    return nb_rnn(c, x, p[0], p[1], p[2], p[3], h0, NB_ACT_TANH, hn);
}

/* x [B, T, 2] (value, marker) and y [B] of the adding problem. */
static void nb__vt_batch(nb_rng *r, float *x, float *y, size_t B, size_t T)
{
    for (size_t b = 0; b < B; b++) {
        const size_t p1 = (size_t)nb_rng_below(r, T / 2), p2 = T / 2 + (size_t)nb_rng_below(r, T - T / 2);
        for (size_t t = 0; t < T; t++) {
            x[(b * T + t) * 2] = (float)nb_rng_uniform(r);
            x[(b * T + t) * 2 + 1] = t == p1 || t == p2 ? 1.0f : 0.0f;
        }
        y[b] = x[(b * T + p1) * 2] + x[(b * T + p2) * 2];
    }
}

static nb_tensor *nb__vt_loss(nb_ctx *c, nb__vt_net *n, nb_tensor *h, float *y, size_t B)
{
    nb_tensor *yt = nb_from_data(c, NB_F32, 2, (const size_t[]){B, 1}, y, NB_BORROW);
    return nb_mse(c, nb_linear(c, h, n->p[4], n->p[5], NB_ACT_NONE, 0), yt, NB_MEAN);
}

/* One Adam step (PyTorch's defaults, bias-corrected) after clipping; returns
 * the global gradient norm before clipping (non-finite: no update). */
static double nb__vt_adam(nb__vt_net *n, const nb_vanish_time_config *cfg, long s)
{
    double sq = 0;
    for (int i = 0; i < NB__VT_NP; i++) {
        const float *g = n->p[i]->grad->data;
        for (size_t k = 0; k < n->p[i]->numel; k++) sq += (double)g[k] * g[k];
    }
    const double norm = sqrt(sq), scale = cfg->clip_norm > 0 && norm > cfg->clip_norm ? cfg->clip_norm / norm : 1;
    if (!isfinite(norm)) return norm;
    const double c1 = 1 - pow(0.9, (double)s), c2 = 1 - pow(0.999, (double)s);
    for (int i = 0; i < NB__VT_NP; i++) {
        float *p = n->p[i]->data, *g = n->p[i]->grad->data, *m = n->m[i], *v = n->v[i];
        for (size_t k = 0; k < n->p[i]->numel; k++) {
            const float gk = (float)(g[k] * scale);
            m[k] = 0.9f * m[k] + 0.1f * gk;
            v[k] = 0.999f * v[k] + 0.001f * gk * gk;
            p[k] -= (float)(cfg->lr * (m[k] / c1) / (sqrt(v[k] / c2) + 1e-8));
        }
        nb_zero_grad(n->p[i]);
    }
    return norm;
}

static int nb__vt_net_new(nb__vt_net *n, const nb_vanish_time_config *cfg, nb_rng *r)
{
    const size_t H = cfg->hidden, GH = (cfg->cell == NB_VTIME_LSTM ? 4 : cfg->cell == NB_VTIME_GRU ? 3 : 1) * H;
    const size_t shp[NB__VT_NP][2] = {{GH, 2}, {GH, H}, {GH, 0}, {GH, 0}, {1, H}, {1, 0}};
    const double k = 1 / sqrt((double)H);
    for (int i = 0; i < NB__VT_NP; i++) {
        n->p[i] = nb_tensor_new(NB_F32, shp[i][1] ? 2 : 1, shp[i]);
        if (!n->p[i]) return -1;
        n->m[i] = calloc(n->p[i]->numel, sizeof(float));
        n->v[i] = calloc(n->p[i]->numel, sizeof(float));
        if (!n->m[i] || !n->v[i]) return nb__erri("vanish --time: out of memory");
        const double b = i == 1 ? k * cfg->whh_scale : k;
        if (nb_fill_uniform(n->p[i], -b, b, r) || nb_tensor_set_requires_grad(n->p[i], 1)) return -1;
    }
    return 0;
}

static void nb__vt_net_free(nb__vt_net *n)
{
    for (int i = 0; i < NB__VT_NP; i++) {
        nb_tensor_free(n->p[i]);
        free(n->m[i]);
        free(n->v[i]);
    }
}

/* Train: the whole-sequence op on fresh batches. */
static int nb__vt_train(nb_ctx *c, nb__vt_net *n, const nb_vanish_time_config *cfg, nb_rng *r, float *x, float *y,
                        nb_vanish_time_result *out)
{
    const size_t B = cfg->batch, T = cfg->T;
    for (long s = 1; s <= cfg->steps; s++) {
        nb__vt_batch(r, x, y, B, T);
        nb_tensor *xt = nb_from_data(c, NB_F32, 3, (const size_t[]){B, T, 2}, x, NB_BORROW), *hn = NULL;
        nb__vt_cell(c, cfg->cell, xt, n, NULL, NULL, &hn, NULL);
        nb_tensor *loss = nb__vt_loss(c, n, hn, y, B);
        if (!loss || nb_backward(c, loss, NULL)) return -1;
        const double l = nb_item(loss), norm = nb__vt_adam(n, cfg, s);
        nb_ctx_reset(c);
        if (s == 1) out->loss_first = l;
        if (!isfinite(l) || !isfinite(norm)) {
            out->exploded = 1;
            break;
        }
        if (norm > out->grad_norm_max) out->grad_norm_max = norm;
        out->steps_done = s;
    }
    return 0;
}

/* Measure: unrolled, one op per step; ||dloss/dh_t|| from retained gradients. */
static int nb__vt_measure(nb_ctx *c, nb__vt_net *n, const nb_vanish_time_config *cfg, nb_rng *r, float *x, float *y,
                          nb_vanish_time_result *out)
{
    const size_t B = NB__VT_PROBE, T = cfg->T;
    nb__vt_batch(r, x, y, B, T);
    nb_tensor *xt = nb_from_data(c, NB_F32, 3, (const size_t[]){B, T, 2}, x, NB_BORROW);
    nb_tensor **hs = nb_ctx_alloc(c, T * sizeof *hs), *h = NULL, *cs = NULL;
    if (!xt || !hs) return -1;
    for (size_t t = 0; t < T; t++) {
        nb_tensor *hn = NULL, *cn = NULL;
        if (!nb__vt_cell(c, cfg->cell, nb_slice(c, xt, 1, t, t + 1), n, h, cs, &hn,
                         cfg->cell == NB_VTIME_LSTM ? &cn : NULL) ||
            nb_retain_grad(hn))
            return -1;
        hs[t] = h = hn;
        cs = cn;
    }
    nb_tensor *loss = nb__vt_loss(c, n, h, y, B);
    if (!loss || nb_backward(c, loss, NULL)) return -1;
    out->final_loss = nb_item(loss);
    out->solved = out->final_loss < 0.05;
    for (size_t t = 0; t < T; t++) {
        const nb_tensor *g = nb_grad(hs[t]);
        double sq = 0;
        for (size_t k = 0; g && k < g->numel; k++)
            sq += (double)((const float *)g->data)[k] * ((const float *)g->data)[k];
        if (out->grad_norms) out->grad_norms[t] = sqrt(sq);
        if (t == 0) out->grad_norm_first_step = sqrt(sq);
        if (t == T - 1) out->grad_norm_last_step = sqrt(sq);
    }
    for (int i = 0; i < NB__VT_NP; i++) nb_zero_grad(n->p[i]);
    nb_ctx_reset(c);
    return 0;
}

int nb_vanish_time_run(const nb_vanish_time_config *cfg, nb_vanish_time_result *out)
{
    if (!cfg || !out) return nb__erri("nb_vanish_time_run: NULL argument");
    if ((unsigned)cfg->cell > NB_VTIME_GRU) return nb__erri("vanish --time: unknown cell %d", (int)cfg->cell);
    if (cfg->T < 2 || cfg->T > 100000) return nb__erri("vanish --time: T %zu must be in [2, 100000]", cfg->T);
    if (cfg->hidden < 1 || cfg->batch < 1 || cfg->steps < 0)
        return nb__erri("vanish --time: hidden %zu, batch %zu and steps %ld must be positive", cfg->hidden, cfg->batch,
                        cfg->steps);
    if (!(cfg->lr > 0) || !(cfg->clip_norm >= 0) || !(cfg->whh_scale >= 0))
        return nb__erri("vanish --time: lr %g must be > 0, clip-norm %g and whh-scale %g >= 0", cfg->lr, cfg->clip_norm,
                        cfg->whh_scale);
    double *norms = out->grad_norms;
    *out = (nb_vanish_time_result){.grad_norms = norms, .loss_first = NAN};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nb_rng r;
    nb_rng_seed(&r, cfg->seed);
    nb__vt_net n;
    memset(&n, 0, sizeof n);
    const size_t rows = (cfg->batch > NB__VT_PROBE ? cfg->batch : NB__VT_PROBE) * cfg->T;
    float *x = malloc(rows * 2 * sizeof *x), *y = malloc(rows / cfg->T * sizeof *y);
    nb_ctx *c = nb_ctx_new(NULL);
    int rc = !x || !y || !c ? nb__erri("vanish --time: out of memory") : nb__vt_net_new(&n, cfg, &r);
    if (!rc) rc = nb__vt_train(c, &n, cfg, &r, x, y, out);
    if (!rc) rc = nb__vt_measure(c, &n, cfg, &r, x, y, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    nb_ctx_free(c);
    nb__vt_net_free(&n);
    free(x);
    free(y);
    return rc;
}
