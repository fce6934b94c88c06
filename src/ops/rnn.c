/* Recurrent ops, one layer per call, PyTorch's semantics (torch.nn.RNN,
 * LSTM, GRU with batch_first=True, one layer, one direction), and the
 * embedding lookup.  Legend: N batch, T steps, F input features, H hidden
 * size, G gates (rnn 1, lstm 4: i f g o, gru 3: r z n).
 *
 * One graph node per call holds the whole sequence: its output is every
 * step's h [N, T, H]; the forward keeps the gates (and the lstm's cell
 * states) in the arena, and the backward runs through time once (the
 * kernels, src/kernels/rnn.h).  The final states come through out-params as
 * graph tensors of their own: h_n is the last step of the output (a slice,
 * so its gradient lands in the output's), and the lstm's c_n is a small node
 * whose backward hands its gradient to the lstm node (nb__rnn_saved.dc_n),
 * which runs after it.  With T = 0 the final states are the initial ones
 * (or zeros). */
#include "../internal.h"
#include "../kernels/rnn.h"

enum { NB__RX, NB__RWIH, NB__RWHH, NB__RBIH, NB__RBHH, NB__RH0, NB__RC0, NB__RNIN };

/* What the node keeps: the kernel's description of the forward, where each
 * input sits among the node's inputs (-1: absent), and the gradient the c_n
 * node gathered for the lstm's last cell state (NULL: none). */
typedef struct nb__rnn_saved {
    nb_k_rnn k;
    int slot[NB__RNIN];
    nb_tensor *dc_n; /* [N, H] */
} nb__rnn_saved;

/* Arena scratch of count elements of dt (never a zero-byte request). */
static void *nb__rnn_buf(nb_ctx *c, nb_dtype dt, size_t count)
{
    return nb__arena_alloc(c, count * nb_dtype_size(dt) + 1);
}

static int nb__rnn_backward(nb_ctx *c, nb__node *nd)
{
    nb__rnn_saved *s = nd->saved;
    const nb_k_rnn *k = &s->k;
    const nb_dtype dt = nd->out->dtype;
    const size_t G = nb_k_cell_gates(k->cell), NT = k->n * k->t;
    void *d[NB__RNIN] = {0};
    int err = 0;
    for (int i = 0; i < NB__RNIN; i++) {
        nb_tensor *g = s->slot[i] >= 0 ? nb__gbuf(c, nd->in[s->slot[i]], &err) : NULL;
        if (err) return err;
        d[i] = g ? g->data : NULL;
    }
    nb_k_rnn_grad gr = {
        .dout = nd->gout->data,
        .dc_n = s->dc_n ? s->dc_n->data : NULL,
        .dx = d[NB__RX],
        .dw_ih = d[NB__RWIH],
        .dw_hh = d[NB__RWHH],
        .db_ih = d[NB__RBIH],
        .db_hh = d[NB__RBHH],
        .dh0 = d[NB__RH0],
        .dc0 = d[NB__RC0],
    };
    /* rnn, lstm: dW_ih and dW_hh by one product when both are wanted (kernels/rnn.h) */
    const int xh = k->cell != NB_K_GRU && gr.dw_ih && gr.dw_hh;
    if (!(gr.dgx = nb__rnn_buf(c, dt, NT * G * k->h)) ||
        (k->cell == NB_K_GRU && !(gr.dgh = nb__rnn_buf(c, dt, NT * G * k->h))) ||
        (xh && !(gr.dw_xh = nb__rnn_buf(c, dt, G * k->h * (k->f + k->h)))) ||
        !(gr.dh = nb__rnn_buf(c, dt, k->n * k->h)) || !(gr.dc = nb__rnn_buf(c, dt, k->n * k->h)))
        return -1;
    void *ws = nb__rnn_buf(c, dt, dt == NB_F32 ? nb_k_rnn_ws_f32(k, 1) : nb_k_rnn_ws_f64(k, 1));
    if (!ws) return -1;
    if (dt == NB_F32) nb_k_rnn_bwd_f32(k, &gr, ws);
    else nb_k_rnn_bwd_f64(k, &gr, ws);
    if (s->dc_n) memset(s->dc_n->data, 0, s->dc_n->numel * nb_dtype_size(dt)); /* ready for another pass */
    return 0;
}
static const nb__opdef nb__op_rnn = {"rnn", nb__rnn_backward};
static const nb__opdef nb__op_lstm = {"lstm", nb__rnn_backward};
static const nb__opdef nb__op_gru = {"gru", nb__rnn_backward};

/* The lstm's c_n: its gradient goes to the lstm node that made y (in[0]). */
static int nb__lstm_cn_backward(nb_ctx *c, nb__node *nd)
{
    nb_tensor *y = nd->in[0];
    nb__rnn_saved *s = y->node ? y->node->saved : NULL;
    int err = 0;
    if (!s || !nb__gbuf(c, y, &err)) return err; /* the lstm node then runs */
    if (!s->dc_n && !(s->dc_n = nb__zeros_like(c, nd->out))) return -1;
    const size_t n = nd->out->numel;
    if (nd->out->dtype == NB_F32)
        for (size_t i = 0; i < n; i++) ((float *)s->dc_n->data)[i] += ((const float *)nd->gout->data)[i];
    else
        for (size_t i = 0; i < n; i++) ((double *)s->dc_n->data)[i] += ((const double *)nd->gout->data)[i];
    return 0;
}
static const nb__opdef nb__op_lstm_cn = {"lstm", nb__lstm_cn_backward};

/* 0 when t is NULL (allowed) or has exactly the shape {d0, d1} (ndim 1 when d1 == 0 is not wanted: see callers). */
static int nb__rnn_shape_is(const nb_tensor *t, int ndim, size_t d0, size_t d1)
{
    return t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
}

/* The final states when T = 0: the initial state (a view) or zeros. */
static nb_tensor *nb__rnn_state0(nb_ctx *c, nb_tensor *s0, nb_dtype dt, size_t n, size_t h)
{
    if (s0) return nb_reshape(c, s0, 2, (const long[]){(long)n, (long)h});
    return nb_zeros(c, dt, 2, (const size_t[]){n, h});
}

static nb_tensor *nb__recurrent(nb_ctx *c, const char *op, nb_k_cell cell, nb_tensor *const *in, nb_tensor **h_n,
                                nb_tensor **c_n)
{
    nb_tensor *x = in[NB__RX], *wih = in[NB__RWIH], *whh = in[NB__RWHH];
    const char *gl = cell == NB_K_LSTM ? "4*" : cell == NB_K_GRU ? "3*" : "";
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!c || !x || !wih || !whh) return nb__null_arg(op);
    for (int i = 0; i < NB__RNIN; i++) {
        if (!in[i]) continue;
        if (nb__need_float(op, in[i])) return NULL;
        if (in[i]->dtype != x->dtype)
            return nb__err("%s: dtypes differ (x %s %s, %s %s %s)", op, nb__shp(x), nb_dtype_name(x->dtype),
                           (const char *[]){"x", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0", "c0"}[i],
                           nb__shp(in[i]), nb_dtype_name(in[i]->dtype));
    }
    if (x->ndim != 3) return nb__err("%s: x %s must be [N, T, F] (batch first)", op, nb__shp(x));
    const size_t G = nb_k_cell_gates(cell), N = x->shape[0], T = x->shape[1], F = x->shape[2];
    if (whh->ndim != 2 || whh->shape[0] != G * whh->shape[1])
        return nb__err("%s: weight_hh %s must be [%sH, H]", op, nb__shp(whh), gl);
    const size_t H = whh->shape[1], GH = G * H;
    if (!nb__rnn_shape_is(wih, 2, GH, F))
        return nb__err("%s: weight_ih %s must be [%zu, %zu] ([%sH, F]) for x %s and weight_hh %s", op, nb__shp(wih), GH,
                       F, gl, nb__shp(x), nb__shp(whh));
    for (int i = NB__RBIH; i <= NB__RBHH; i++)
        if (in[i] && !nb__rnn_shape_is(in[i], 1, GH, 0))
            return nb__err("%s: %s %s must be [%zu] ([%sH]) for weight_hh %s", op,
                           i == NB__RBIH ? "bias_ih" : "bias_hh", nb__shp(in[i]), GH, gl, nb__shp(whh));
    for (int i = NB__RH0; i <= NB__RC0; i++)
        if (in[i] && !nb__rnn_shape_is(in[i], 2, N, H))
            return nb__err("%s: %s %s must be [N, H] = [%zu, %zu] for x %s and weight_hh %s", op,
                           i == NB__RH0 ? "h0" : "c0", nb__shp(in[i]), N, H, nb__shp(x), nb__shp(whh));
    const nb_dtype dt = x->dtype;
    nb_tensor *y = nb__new(c, dt, 3, (const size_t[]){N, T, H}); /* [N, T, H] */
    nb__rnn_saved *s = nb__arena_alloc(c, sizeof *s);
    if (!y || !s) return NULL;
    memset(s, 0, sizeof *s);
    s->k = (nb_k_rnn){.cell = cell,
                      .n = N,
                      .t = T,
                      .f = F,
                      .h = H,
                      .x = x->data,
                      .w_ih = wih->data,
                      .w_hh = whh->data,
                      .out = y->data};
    nb_k_rnn *k = &s->k;
    k->b_ih = in[NB__RBIH] ? in[NB__RBIH]->data : NULL;
    k->b_hh = in[NB__RBHH] ? in[NB__RBHH]->data : NULL;
    k->h0 = in[NB__RH0] ? in[NB__RH0]->data : NULL;
    k->c0 = in[NB__RC0] ? in[NB__RC0]->data : NULL;
    if (!(k->gates = nb__rnn_buf(c, dt, N * T * GH))) return NULL;
    if (cell == NB_K_GRU && !(k->hg = nb__rnn_buf(c, dt, N * GH))) return NULL;
    if (cell == NB_K_LSTM || cell == NB_K_GRU)
        if (!(k->cs = nb__rnn_buf(c, dt, N * T * H))) return NULL;
    if (cell == NB_K_LSTM && !(k->tanh_c = nb__rnn_buf(c, dt, N * T * H))) return NULL;
    if (!(k->xh = nb__rnn_buf(c, dt, N * T * (F + H)))) return NULL;
    void *ws = nb__rnn_buf(c, dt, dt == NB_F32 ? nb_k_rnn_ws_f32(k, 0) : nb_k_rnn_ws_f64(k, 0));
    if (!ws) return NULL;
    if (dt == NB_F32) nb_k_rnn_fwd_f32(k, ws);
    else nb_k_rnn_fwd_f64(k, ws);

    nb_tensor *ins[NB__RNIN];
    int n_in = 0;
    for (int i = 0; i < NB__RNIN; i++) {
        s->slot[i] = in[i] ? n_in : -1;
        if (in[i]) ins[n_in++] = in[i];
    }
    const nb__opdef *def = cell == NB_K_LSTM ? &nb__op_lstm : cell == NB_K_GRU ? &nb__op_gru : &nb__op_rnn;
    nb__node *nd;
    if (nb__record(c, def, y, n_in, ins, &nd)) return NULL;
    if (nd) nd->saved = s;

    if (h_n) {
        *h_n = T ? nb_reshape(c, nb_slice(c, y, 1, T - 1, T), 2, (const long[]){(long)N, (long)H})
                 : nb__rnn_state0(c, in[NB__RH0], dt, N, H);
        if (!*h_n) return NULL;
    }
    if (c_n && !T && !(*c_n = nb__rnn_state0(c, in[NB__RC0], dt, N, H))) return NULL;
    if (c_n && T) { /* [N, H] = the cell states of the last step (k->cs is time-major) */
        nb_tensor *cn = nb__new(c, dt, 2, (const size_t[]){N, H});
        if (!cn) return NULL;
        const size_t esz = nb_dtype_size(dt);
        for (size_t n = 0; n < N; n++)
            memcpy((char *)cn->data + n * H * esz, (const char *)k->cs + (((T - 1) * N + n) * H) * esz, H * esz);
        nb__node *cnd;
        if (nb__record(c, &nb__op_lstm_cn, cn, 1, &y, &cnd)) return NULL;
        *c_n = cn;
    }
    return y;
}

nb_tensor *nb_rnn(nb_ctx *c, nb_tensor *x, nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                  nb_tensor *h0, nb_act act, nb_tensor **h_n)
{
    if (act != NB_ACT_TANH && act != NB_ACT_RELU) {
        if (h_n) *h_n = NULL;
        return nb__err("rnn: nonlinearity must be tanh or relu (got activation %d)", (int)act);
    }
    nb_tensor *in[NB__RNIN] = {x, w_ih, w_hh, b_ih, b_hh, h0, NULL};
    return nb__recurrent(c, "rnn", act == NB_ACT_TANH ? NB_K_RNN_TANH : NB_K_RNN_RELU, in, h_n, NULL);
}

nb_tensor *nb_lstm(nb_ctx *c, nb_tensor *x, nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                   nb_tensor *h0, nb_tensor *c0, nb_tensor **h_n, nb_tensor **c_n)
{
    nb_tensor *in[NB__RNIN] = {x, w_ih, w_hh, b_ih, b_hh, h0, c0};
    return nb__recurrent(c, "lstm", NB_K_LSTM, in, h_n, c_n);
}

nb_tensor *nb_gru(nb_ctx *c, nb_tensor *x, nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                  nb_tensor *h0, nb_tensor **h_n)
{
    nb_tensor *in[NB__RNIN] = {x, w_ih, w_hh, b_ih, b_hh, h0, NULL};
    return nb__recurrent(c, "gru", NB_K_GRU, in, h_n, NULL);
}

/* --------------------------------------------------------------- embedding */
static int nb__embedding_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *w = nd->in[0], *gw = nb__gbuf(c, w, &err);
    if (!gw) return err;
    const size_t d = w->shape[1], n = d ? nd->out->numel / d : 0;
    if (w->dtype == NB_F32) nb_k_embedding_bwd_f32(gw->data, nd->gout->data, nd->saved, n, d);
    else nb_k_embedding_bwd_f64(gw->data, nd->gout->data, nd->saved, n, d);
    return 0;
}
static const nb__opdef nb__op_embedding = {"embedding", nb__embedding_backward};

nb_tensor *nb_embedding(nb_ctx *c, nb_tensor *weight, const nb_tensor *index)
{
    if (!c || !weight || !index) return nb__null_arg(__func__);
    if (nb__need_float("embedding", weight)) return NULL;
    if (weight->ndim != 2) return nb__err("embedding: weight %s must be [V, D]", nb__shp(weight));
    if (index->dtype != NB_I32)
        return nb__err("embedding: index %s is %s; it must be int32", nb__shp(index), nb_dtype_name(index->dtype));
    if (index->ndim >= NB_MAX_DIMS)
        return nb__err("embedding: index %s has too many dims (at most %d)", nb__shp(index), NB_MAX_DIMS - 1);
    const size_t V = weight->shape[0], D = weight->shape[1], n = index->numel;
    const int32_t *ix = index->data;
    for (size_t i = 0; i < n; i++)
        if (ix[i] < 0 || (size_t)ix[i] >= V)
            return nb__err("embedding: index %ld is out of range for weight %s (V = %zu)", (long)ix[i], nb__shp(weight),
                           V);
    size_t shape[NB_MAX_DIMS];
    memcpy(shape, index->shape, (size_t)index->ndim * sizeof *shape);
    shape[index->ndim] = D; /* [..., D] */
    nb_tensor *y = nb__new(c, weight->dtype, index->ndim + 1, shape);
    if (!y) return NULL;
    if (weight->dtype == NB_F32) nb_k_embedding_fwd_f32(y->data, weight->data, ix, n, D);
    else nb_k_embedding_fwd_f64(y->data, weight->data, ix, n, D);
    nb__node *nd;
    if (nb__record(c, &nb__op_embedding, y, 1, &weight, &nd)) return NULL;
    if (nd) {
        int32_t *saved = nb__arena_alloc(c, n * sizeof *saved + 1);
        if (!saved) return NULL;
        memcpy(saved, ix, n * sizeof *saved);
        nd->saved = saved;
    }
    return y;
}
