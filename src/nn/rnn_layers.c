/* The recurrent layer kinds of the description: rnn(H, nonlinearity=tanh,
 * layers=1, seq=0), lstm(H, layers=1, seq=0), gru(H, layers=1, seq=0) and
 * embedding(V, D), as extension layers (nn_internal.h) over the ops of
 * src/ops/rnn.c.
 *
 * Input: one sample [T, F] is a sequence of T steps of F features; an image
 * [C, H, W] is read as C*H steps of W pixels (row by row: 28 steps of 28 for
 * Fashion-MNIST); a flat [F] is one step.  A stack of `layers` cells runs
 * from zero initial states, each layer's every-step output feeding the next.
 * Output: the last step's h [H], or with seq=1 every step [T, H].
 * Parameters, PyTorch's names and shapes (G gates: rnn 1, lstm 4, gru 3):
 * weight_ih_l<k> [G*H, F or H], weight_hh_l<k> [G*H, H], bias_ih_l<k>,
 * bias_hh_l<k> [G*H]; all drawn U(-1/sqrt(H), 1/sqrt(H)) as torch does,
 * whatever the model's init scheme (PyTorch's RNN modules ignore it too).
 *
 * embedding(V, D): one sample [T] of indices (whole numbers in [0, V)
 * stored in the model's float dtype) -> [T, D]; weight [V, D] drawn N(0, 1)
 * as torch.nn.Embedding does. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "nn_internal.h"

/* e->a: cell, H, nonlinearity (0 tanh, 1 relu), layers, seq, T, F */
enum { A_CELL, A_H, A_NL, A_LAYERS, A_SEQ, A_T, A_F, A_N };

/* e->state under nb_model_carry_states: every layer's final h (and the
 * lstm's c) of the last forward of n rows, values only. */
typedef struct nb__rec_carry {
    size_t n;  /* rows carried */
    void *buf; /* [layers][2][n][H] in the model's dtype: h, then c */
} nb__rec_carry;

/* Layer k's carried state s (0 h, 1 c) as an arena copy [N, H] outside the
 * graph (so no gradient crosses into the previous batch). */
static nb_tensor *nb__rec_carried(nb_ctx *c, const nb__rec_carry *st, nb_dtype dt, int k, int s, size_t H)
{
    nb_tensor *t = nb_empty(c, dt, 2, (const size_t[]){st->n, H}); /* [N, H] */
    const size_t bytes = st->n * H * nb_dtype_size(dt);
    if (t) memcpy(t->data, (const char *)st->buf + (size_t)(2 * k + s) * bytes, bytes);
    return t;
}

static nb_tensor *nb__rec_forward(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    if (!x) return NULL;
    const int cell = (int)e->a[A_CELL], layers = (int)e->a[A_LAYERS];
    const long N = (long)x->shape[0], T = (long)e->a[A_T], F = (long)e->a[A_F], H = (long)e->a[A_H];
    nb__rec_carry *st = e->state;
    const int carry = st && st->n == (size_t)N;
    const size_t es = nb_dtype_size(x->dtype), bytes = (size_t)N * (size_t)H * es;
    nb_tensor *h = nb_reshape(c, x, 3, (const long[]){N, T, F}); /* [N, T, F] */
    for (int k = 0; h && k < layers; k++) {
        nb_tensor *wih = nb__ext_entry(e, 4 * k), *whh = nb__ext_entry(e, 4 * k + 1);
        nb_tensor *bih = nb__ext_entry(e, 4 * k + 2), *bhh = nb__ext_entry(e, 4 * k + 3);
        nb_tensor *h0 = NULL, *c0 = NULL, *cn = NULL;
        if (carry && (!(h0 = nb__rec_carried(c, st, x->dtype, k, 0, (size_t)H)) ||
                      (cell == NB__REC_LSTM && !(c0 = nb__rec_carried(c, st, x->dtype, k, 1, (size_t)H)))))
            return NULL;
        switch (cell) {
        case NB__REC_LSTM: h = nb_lstm(c, h, wih, whh, bih, bhh, h0, c0, NULL, carry ? &cn : NULL); break;
        case NB__REC_GRU: h = nb_gru(c, h, wih, whh, bih, bhh, h0, NULL); break;
        default: h = nb_rnn(c, h, wih, whh, bih, bhh, h0, e->a[A_NL] != 0 ? NB_ACT_RELU : NB_ACT_TANH, NULL); break;
        }
        if (carry && h && T > 0) { /* keep the final states for the next batch: h_n is every row's last step */
            char *to = (char *)st->buf + (size_t)(2 * k) * bytes;
            for (long i = 0; i < N; i++)
                memcpy(to + (size_t)(i * H) * es, (const char *)h->data + (size_t)((i * T + T - 1) * H) * es,
                       (size_t)H * es);
            if (cn) memcpy(to + bytes, cn->data, bytes);
        }
    }
    if (!h || e->a[A_SEQ] != 0) return h;                                                       /* [N, T, H] */
    return nb_reshape(c, nb_slice(c, h, 1, (size_t)T - 1, (size_t)T), 2, (const long[]){N, H}); /* [N, H] */
}

static void nb__rec_release(nb__ext *e)
{
    nb__rec_carry *st = e->state;
    if (st) free(st->buf);
    free(st);
    e->state = NULL;
}

/* The recurrent layers of m, one by one: the i-th's nb__ext, or NULL after
 * the last. */
static nb__ext *nb__rec_layer(nb_model *m, int *li)
{
    nb__layer_info info;
    while (nb__model_layer_info(m, (*li)++, &info) == 0)
        if (info.ext && info.ext->kind->release == nb__rec_release) return (nb__ext *)info.ext; /* m is ours */
    return NULL;
}

const char *nb__rec_gates(nb_model *m, const nb_tensor *t)
{
    nb__ext *e;
    for (int li = 0; t && (e = nb__rec_layer(m, &li));) {
        const int cell = (int)e->a[A_CELL];
        for (int k = 0; cell != NB__REC_RNN && k < (int)e->a[A_LAYERS]; k++)
            if (nb__ext_entry(e, 4 * k) == t || nb__ext_entry(e, 4 * k + 1) == t)
                return cell == NB__REC_LSTM ? "ifgo" : "rzn";
    }
    return NULL;
}

int nb_model_carry_states(nb_model *m, size_t batch)
{
    if (!m) return nb__erri("carry_states: NULL model");
    const size_t es = nb_dtype_size(nb_model_dtype(m));
    nb__ext *e;
    for (int li = 0; (e = nb__rec_layer(m, &li));) {
        nb__rec_release(e);
        if (!batch) continue;
        const size_t per = 2 * (size_t)e->a[A_LAYERS] * (size_t)e->a[A_H];
        nb__rec_carry *st = calloc(1, sizeof *st);
        if (st && per > SIZE_MAX / es / batch) {
            free(st);
            st = NULL;
        }
        if (!st || !(st->buf = calloc(batch * per, es))) {
            free(st);
            return nb__erri("carry_states: out of memory for %zu rows", batch);
        }
        st->n = batch;
        e->state = st;
    }
    return 0;
}

/* One layer's carried block: its bytes (0 when not carrying). */
static size_t nb__rec_state_bytes(const nb__ext *e, size_t es)
{
    const nb__rec_carry *st = e->state;
    return st ? st->n * 2 * (size_t)e->a[A_LAYERS] * (size_t)e->a[A_H] * es : 0;
}

void nb_model_reset_states(nb_model *m)
{
    nb__ext *e;
    for (int li = 0; m && (e = nb__rec_layer(m, &li));) {
        nb__rec_carry *st = e->state;
        if (st) memset(st->buf, 0, nb__rec_state_bytes(e, nb_dtype_size(nb_model_dtype(m))));
    }
}

size_t nb_model_states_bytes(nb_model *m)
{
    size_t n = 0;
    nb__ext *e;
    for (int li = 0; m && (e = nb__rec_layer(m, &li));) n += nb__rec_state_bytes(e, nb_dtype_size(nb_model_dtype(m)));
    return n;
}

/* Copy every layer's block out (to = 1) or in. */
static int nb__rec_states_copy(nb_model *m, void *p, size_t bytes, int out)
{
    const size_t total = nb_model_states_bytes(m);
    if (!m || !p || bytes != total)
        return nb__erri("model states: %zu bytes given, the carried states take %zu", bytes, total);
    const size_t es = nb_dtype_size(nb_model_dtype(m));
    char *q = p;
    nb__ext *e;
    for (int li = 0; (e = nb__rec_layer(m, &li));) {
        const size_t b = nb__rec_state_bytes(e, es);
        if (!b) continue;
        nb__rec_carry *st = e->state;
        if (out) memcpy(q, st->buf, b);
        else memcpy(st->buf, q, b);
        q += b;
    }
    return 0;
}

int nb_model_states_get(nb_model *m, void *dst, size_t bytes) { return nb__rec_states_copy(m, dst, bytes, 1); }
int nb_model_states_set(nb_model *m, const void *src, size_t bytes)
{
    return nb__rec_states_copy(m, (void *)(uintptr_t)src, bytes, 0);
}

static int nb__rec_init(nb__ext *e, nb_init init, double param, double gain, nb_rng *r)
{
    const double k = 1 / sqrt(e->a[A_H]);
    for (int i = 0; i < e->n_ent; i++)
        if (nb_fill_uniform(nb__ext_entry(e, i), -k, k, r)) return -1;
    return 0;
}

static int nb__rec_describe(const nb__ext *e, char *buf, size_t size)
{
    char nl[32] = "", ly[32] = "";
    if (e->a[A_NL] != 0) snprintf(nl, sizeof nl, ",nonlinearity=relu");
    if (e->a[A_LAYERS] != 1) snprintf(ly, sizeof ly, ",layers=%d", (int)e->a[A_LAYERS]);
    return snprintf(buf, size, "%s(%d%s%s%s)", e->kind->name, (int)e->a[A_H], nl, ly, e->a[A_SEQ] != 0 ? ",seq=1" : "");
}

static const nb__ext_kind nb__rnn_kind = {"rnn", nb__rec_forward, nb__rec_init, nb__rec_describe, nb__rec_release,
                                          NULL};
static const nb__ext_kind nb__lstm_kind = {"lstm",           nb__rec_forward, nb__rec_init,
                                           nb__rec_describe, nb__rec_release, NULL};
static const nb__ext_kind nb__gru_kind = {"gru", nb__rec_forward, nb__rec_init, nb__rec_describe, nb__rec_release,
                                          NULL};

int nb__build_recurrent(nb__spec_ctx *b, const nb__layer_def *def, const double *args)
{
    const int cell = def->tag, rnn = cell == NB__REC_RNN;
    const size_t G = cell == NB__REC_LSTM ? 4 : cell == NB__REC_GRU ? 3 : 1;
    double a[A_N] = {cell, args[0], rnn ? args[1] : 0, args[rnn ? 2 : 1], args[rnn ? 3 : 2], 0, 0};
    const nb__shape *in = &b->in;
    size_t T, F;
    if (in->ndim == 1) T = 1, F = in->d[0];
    else if (in->ndim == 2) T = in->d[0], F = in->d[1];
    else if (in->ndim == 3) T = in->d[0] * in->d[1], F = in->d[2];
    else {
        snprintf(b->expect, sizeof b->expect, "[steps, features]");
        return NB__SPEC_SHAPE;
    }
    const size_t H = (size_t)a[A_H];
    a[A_T] = (double)T;
    a[A_F] = (double)F;
    b->out = a[A_SEQ] != 0 ? (nb__shape){2, {T, H}} : (nb__shape){1, {H}};
    const nb__ext_kind *k = cell == NB__REC_LSTM ? &nb__lstm_kind : cell == NB__REC_GRU ? &nb__gru_kind : &nb__rnn_kind;
    if (nb__ext_add(b->m, k, a, A_N, &b->in, &b->out)) return -1;
    for (int l = 0; l < (int)a[A_LAYERS]; l++) {
        char name[4][32];
        snprintf(name[0], sizeof name[0], "weight_ih_l%d", l);
        snprintf(name[1], sizeof name[1], "weight_hh_l%d", l);
        snprintf(name[2], sizeof name[2], "bias_ih_l%d", l);
        snprintf(name[3], sizeof name[3], "bias_hh_l%d", l);
        if (nb__ext_declare(b->m, name[0], 2, (const size_t[]){G * H, l ? H : F}, 1) < 0 ||
            nb__ext_declare(b->m, name[1], 2, (const size_t[]){G * H, H}, 1) < 0 ||
            nb__ext_declare(b->m, name[2], 1, (const size_t[]){G * H}, 1) < 0 ||
            nb__ext_declare(b->m, name[3], 1, (const size_t[]){G * H}, 1) < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- embedding */
/* e->a: V, D, T */
static nb_tensor *nb__emb_forward(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    if (!x) return NULL;
    const size_t V = (size_t)e->a[0], N = x->shape[0], T = (size_t)e->a[2];
    if (x->numel != N * T) return nb__err("embedding: input %s, expected [N, %zu] indices", nb__shp(x), T);
    nb_tensor *idx = nb_empty(c, NB_I32, 2, (const size_t[]){N, T}); /* [N, T] */
    if (!idx) return NULL;
    int32_t *ix = idx->data;
    for (size_t i = 0; i < x->numel; i++) {
        const double v = nb_get(x, i);
        if (!(v >= 0 && v < (double)V && v == floor(v)))
            return nb__err("embedding: input value %g (element %zu of %s) is not an index in [0, %zu)", v, i,
                           nb__shp(x), V);
        ix[i] = (int32_t)v;
    }
    return nb_embedding(c, nb__ext_entry(e, 0), idx);
}

static int nb__emb_init(nb__ext *e, nb_init init, double param, double gain, nb_rng *r)
{
    return nb_fill_normal(nb__ext_entry(e, 0), 0, 1, r);
}

static int nb__emb_describe(const nb__ext *e, char *buf, size_t size)
{
    return snprintf(buf, size, "embedding(%d,%d)", (int)e->a[0], (int)e->a[1]);
}

static const nb__ext_kind nb__embedding_kind = {"embedding", nb__emb_forward, nb__emb_init, nb__emb_describe, NULL,
                                                NULL};

int nb__build_embedding(nb__spec_ctx *b, const nb__layer_def *def, const double *args)
{
    if (b->in.ndim != 1) {
        snprintf(b->expect, sizeof b->expect, "[steps] (indices)");
        return NB__SPEC_SHAPE;
    }
    const size_t V = (size_t)args[0], D = (size_t)args[1], T = b->in.d[0];
    b->out = (nb__shape){2, {T, D}};
    if (nb__ext_add(b->m, &nb__embedding_kind, (const double[]){(double)V, (double)D, (double)T}, 3, &b->in, &b->out))
        return -1;
    return nb__ext_declare(b->m, "weight", 2, (const size_t[]){V, D}, 1) < 0 ? -1 : 0;
}
