/* Kernels of the recurrent ops (private; the ops are src/ops/rnn.c): a whole
 * sequence forward and backward through time for one layer of a vanilla RNN
 * (tanh or relu), an LSTM or a GRU, with PyTorch's equations and gate order,
 * and the embedding lookup.  Legend: N batch, T steps, F input features,
 * H hidden size, G gates (rnn 1, lstm 4: i f g o, gru 3: r z n).
 *
 * Rows of a batch never meet in a recurrent layer, so the batch is cut into
 * chunks of NB_K_RNN_ROWS rows (fixed: the results cannot depend on the
 * threads), and each chunk is one pool task that runs through the whole
 * sequence: one region per sequence, not one per step.  The scratch the
 * forward keeps (gates, cell states, xh) and the backward's dG are
 * time-major, row t N + n, so that a step's rows of a chunk lie together;
 * x, the output and its gradient are batch-first as the op's tensors.
 * Forward, per chunk and step: one product [x_t h_{t-1}] [W_ih W_hh]^T
 * (rnn, lstm; the weights side by side, packed once per sequence by
 * nb_k_gemm_pb, gemm.h; the rows [x_t h_{t-1}] kept in xh) or, for the gru,
 * x_t W_ih^T and h_{t-1} W_hh^T, and one pass over the gates:
 *   rnn   h = act(([x h] [W_ih W_hh]^T + b_ih) + b_hh)
 *   lstm  i,f,g,o = sigma, sigma, tanh, sigma of the same sum
 *         c = f c' + i g,  h = o tanh(c)
 *   gru   r,z = sigma((gx + b_ih) + (gh + b_hh)),
 *         n = tanh((gx_n + b_in) + r (gh_n + b_hn)),
 *         h = n + z (h' - n)                  (PyTorch's grouping; gh from
 *                                              the product into hg)
 * Backward, per chunk: one pass per step from t = T-1 down to 0 makes the
 * gates' gradient dG_t (kept for all steps) and, by one product dG_t W_hh
 * (packed once), the gradient reaching h_{t-1}, and the bias sums; then,
 * over the whole batch, dx += dG W_ih (a product per step), and
 * dW_ih += dG^T x, dW_hh += dG_h^T h_prev from the rows of xh (rnn and
 * lstm: both by one product, see dw_xh).  Everything runs in the caller's
 * scratch (the ctx arena; ws of nb_k_rnn_ws elements, 64-byte aligned): no
 * allocation here.  _f32 and _f64 from rnn.inc. */
#ifndef NB_KERNELS_RNN_H
#define NB_KERNELS_RNN_H

#include <stddef.h>
#include <stdint.h>

/* Rows of the batch per pool task. */
#define NB_K_RNN_ROWS 32

typedef enum nb_k_cell { NB_K_RNN_TANH = 0, NB_K_RNN_RELU, NB_K_LSTM, NB_K_GRU } nb_k_cell;

/* Gates per cell: 1, 1, 4, 3. */
static inline size_t nb_k_cell_gates(nb_k_cell cell) { return cell == NB_K_LSTM ? 4 : cell == NB_K_GRU ? 3 : 1; }

/* One layer's forward: sizes, inputs, outputs and what the backward reads
 * (float* or double* by the instantiation).  The op fills it, the kernel
 * runs it, and the op's graph node keeps it for the backward. */
typedef struct nb_k_rnn {
    nb_k_cell cell;
    size_t n, t, f, h;
    const void *x;           /* [N, T, F] */
    const void *w_ih;        /* [G*H, F] */
    const void *w_hh;        /* [G*H, H] */
    const void *b_ih, *b_hh; /* [G*H] each, or NULL (no bias) */
    const void *h0, *c0;     /* [N, H] each, or NULL (zeros); c0 lstm only */
    void *out;               /* [N, T, H]: h_t of every step */
    void *gates;             /* [T, N, G*H]: the products, then the activated gates
                               (lstm i f g o, gru r z n; rnn: unused after) */
    void *cs;                /* [T, N, H] lstm: c_t;  gru: gh_n + b_hn;  rnn: NULL */
    void *tanh_c;            /* [T, N, H] lstm: tanh(c_t); else NULL */
    void *xh;                /* [T, N, F + H]: x_t then h_{t-1} of every step (h0
                               or zeros at t = 0), the A of the products */
    void *hg;                /* [N, G*H] gru scratch: h_{t-1} W_hh^T; else NULL */
} nb_k_rnn;

/* The gradients: dout flows in; every other pointer but the scratch may be
 * NULL (not wanted).  Gradients ACCUMULATE (+=). */
typedef struct nb_k_rnn_grad {
    const void *dout;         /* [N, T, H] */
    const void *dc_n;         /* [N, H] lstm: gradient of the last cell state, or NULL */
    void *dx, *dw_ih, *dw_hh; /* as x, w_ih, w_hh */
    void *db_ih, *db_hh;      /* [G*H] */
    void *dh0, *dc0;          /* [N, H] */
    void *dgx;                /* [T, N, G*H] scratch: gradient of the input-side gates */
    void *dgh;                /* [T, N, G*H] scratch, gru only (rnn, lstm: dgx is used) */
    void *dw_xh;              /* NULL, or (rnn, lstm, dw_ih and dw_hh both wanted)
                                 [F + H, G*H] scratch: both, transposed, by one
                                 product xh^T dG, whose big operand dG is then
                                 packed once and row by row */
    void *dh, *dc;            /* [N, H] scratch each */
} nb_k_rnn_grad;

/* Elements of scratch the forward (backward = 0) or the backward needs. */
size_t nb_k_rnn_ws_f32(const nb_k_rnn *r, int backward);
size_t nb_k_rnn_ws_f64(const nb_k_rnn *r, int backward);
void nb_k_rnn_fwd_f32(const nb_k_rnn *r, void *ws);
void nb_k_rnn_fwd_f64(const nb_k_rnn *r, void *ws);
void nb_k_rnn_bwd_f32(const nb_k_rnn *r, const nb_k_rnn_grad *g, void *ws);
void nb_k_rnn_bwd_f64(const nb_k_rnn *r, const nb_k_rnn_grad *g, void *ws);

/* out [n, d] = w[idx[i]] rows (idx already checked within [0, v));
 * backward dw [v, d] += dout rows at idx, in index order (deterministic). */
void nb_k_embedding_fwd_f32(float *out, const float *w, const int32_t *idx, size_t n, size_t d);
void nb_k_embedding_fwd_f64(double *out, const double *w, const int32_t *idx, size_t n, size_t d);
void nb_k_embedding_bwd_f32(float *dw, const float *dout, const int32_t *idx, size_t n, size_t d);
void nb_k_embedding_bwd_f64(double *dw, const double *dout, const int32_t *idx, size_t n, size_t d);

#endif
