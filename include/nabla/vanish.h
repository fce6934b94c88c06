/* nabla/vanish.h — the vanishing/exploding-gradient lab: how large is the
 * gradient of every layer of a deep MLP, at initialisation and after a short
 * training, and what does that do to accuracy?
 *
 *   nb_dataset *train, *test;
 *   nb_fashion_mnist_load(NULL, &train, &test);
 *   nb_vanish_config cfg = nb_vanish_defaults();   // depth 20, width 64, SGD
 *   cfg.act = NB_ACT_SIGMOID; cfg.init = NB_INIT_NORMAL; cfg.init_std = 0.01;
 *   nb_vanish_result r;
 *   if (nb_vanish_run(&cfg, train, test, &r)) puts(nb_errmsg());
 *   // r.grad_init[0] is the first Linear's ||dL/dW||, r.grad_init[r.depth-1]
 *   // the last one's; r.ratio_init = first / last; r.test_acc after training.
 *
 * The model is nb_mlp_new's: in-width-...-width-classes with `depth` Linear
 * layers, the activation after every hidden Linear, optional BatchNorm1d
 * before it and optional residual blocks around each width-to-width hidden
 * Linear+act (so with depth D, blocks wrap Linear layers 2..D-1).
 *
 * Every number is a measurement: the gradient norms are the 2-norms of the
 * real gradients autograd computes for each Linear weight (mean cross-entropy
 * over a batch), averaged over `probe_batches` fixed training batches; the
 * same batches are used before and after training.  Measuring leaves the
 * model as it was (BatchNorm running statistics are restored).  Nothing here
 * prints; errors return -1 with nb_errmsg().
 *
 * Reading the numbers: a Linear weight's gradient is the backward signal at
 * its output times its input, so the ratio first/last also carries the ratio
 * of those layers' input sizes (784 normalised pixels for the first).  With
 * sigmoid residual blocks the stream grows by sigmoid's mean (~0.5 a unit)
 * per block, so the last Linear sees a large input and first/last is ~1e-2
 * although no layer's gradient decays: the whole profile (grad_init) tells.
 *
 * With cfg.conv = C > 0 the model is a plain CNN of the same depth instead:
 * avgpool2d(4) (Fashion-MNIST's 28x28 becomes 7x7, to keep 20 layers cheap),
 * then depth - 1 conv2d(C, k=3, p=1) layers, each followed by the
 * activation (with batchnorm2d before it, and residual blocks around every
 * C-to-C conv, as for the MLP), then gap and linear(classes): `depth` weight
 * layers, the first conv next to the input.  The gradient norms are then
 * those of the conv kernels and the last Linear's weight. */
#ifndef NABLA_VANISH_H
#define NABLA_VANISH_H

#include "data.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VANISH_MAX_DEPTH 63 /* Linear layers: nb_mlp_config holds 64 widths */

typedef struct nb_vanish_config {
    nb_act act;          /* activation after every hidden Linear */
    double act_param;    /* leaky_relu slope / elu alpha */
    nb_init init;        /* weight initialisation (biases 0, torch: U(±1/sqrt(fan_in))) */
    double init_std;     /* std for NB_INIT_NORMAL */
    int batchnorm;       /* BatchNorm1d (batchnorm2d) before every hidden activation */
    int residual;        /* x + act(Linear(x)) (or conv) around every width-to-width hidden layer */
    int depth;           /* weight layers (Linear, or conv and the last Linear), 2..NB_VANISH_MAX_DEPTH */
    size_t width;        /* hidden width of the MLP, >= 1 */
    size_t conv;         /* 0: the MLP; > 0: the CNN above, with this many channels (<= 4096) */
    long steps;          /* training steps, >= 0 (0: measure at init only) */
    size_t batch;        /* training and probe batch size, >= 2 */
    int probe_batches;   /* batches each gradient-norm profile is averaged over, >= 1 */
    nb_optim_config opt; /* the optimizer */
    double clip_norm;    /* > 0: clip the global gradient norm to it; 0 = off */
    uint64_t seed;       /* initialisation, data order and probe batches */
    nb_dtype dtype;      /* NB_F32 or NB_F64 */
} nb_vanish_config;

/* Depth 20, width 64, relu, He-normal init (init_std 0.01 for when init is
 * changed to normal), no BatchNorm/residual, 300 steps of SGD (lr 0.01,
 * momentum 0.9) on batches of 64, no clipping, 4 probe batches, seed 1,
 * float32. */
NB_API nb_vanish_config nb_vanish_defaults(void);
/* Check a configuration: 0, or -1 with an error naming the field. */
NB_API int nb_vanish_validate(const nb_vanish_config *cfg);
/* "sigmoid normal(0.01) bn res clip 1" ("cnn8 relu he bn" with conv = 8):
 * a short label for tables and legends. */
NB_API const char *nb_vanish_label(const nb_vanish_config *cfg, char *buf, size_t size);

typedef struct nb_vanish_result {
    int depth; /* Linear layers measured */
    /* Mean over the probe batches of ||dL/dW_l||_2 for Linear l (0 = first). */
    double grad_init[NB_VANISH_MAX_DEPTH];    /* at initialisation */
    double grad_trained[NB_VANISH_MAX_DEPTH]; /* after training (NAN when not trained) */
    double ratio_init, ratio_trained;         /* grad[0] / grad[depth-1] */
    double loss_init;                         /* mean probe loss at initialisation */
    /* training */
    long steps_done;        /* optimizer steps taken (stops at the first non-finite one) */
    int exploded;           /* a non-finite loss or gradient norm stopped training */
    long exploded_at;       /* the step (1-based) that went non-finite, 0 if none */
    double loss_first;      /* loss of the first training step */
    double loss_last;       /* mean loss of the last min(20, steps) steps taken */
    double loss_max;        /* largest finite training loss */
    double grad_norm_max;   /* largest finite global gradient norm (before clipping) */
    double update_norm_max; /* largest ||params after - params before|| of one step */
    long clipped_steps;     /* steps whose gradient norm exceeded clip_norm (clipping on) */
    double seconds;         /* wall time of the whole run */
    /* evaluation (NAN when no test set was given) */
    double test_acc, test_loss;
    size_t test_n; /* test samples evaluated */
} nb_vanish_result;

/* Build the model of cfg on train's width and classes, measure the gradient
 * profile, train cfg->steps steps (seeded shuffled batches of train), measure
 * again and evaluate on test (all of it; NULL: no evaluation).  An explosion
 * is a result, not an error: training stops, exploded is set and the trained
 * profile is measured on the last finite parameters.  0, or -1 (nb_errmsg)
 * on a bad configuration or dataset. */
NB_API int nb_vanish_run(const nb_vanish_config *cfg, const nb_dataset *train, const nb_dataset *test,
                         nb_vanish_result *out);

/* The 2-norm of the current gradient of every Linear or conv weight of m
 * (every trainable entry of 2 or more dimensions, in creation order: first
 * layer first) into norms[max].
 * Returns how many there are (may exceed max: only max are written), or -1. */
NB_API int nb_vanish_weight_grad_norms(nb_model *m, double *norms, int max);

/* The mean over n batches of those norms: forward (training mode), mean
 * cross-entropy, backward, read, zero the gradients.  x holds n*batch rows of
 * the model's input width (model dtype), y n*batch labels.  BatchNorm running
 * statistics are restored afterwards.  Uses and resets c.  *loss (may be
 * NULL) gets the mean loss.  Returns the number of Linear weights, or -1. */
NB_API int nb_vanish_probe(nb_model *m, nb_ctx *c, const void *x, const int32_t *y, size_t batch, int n, double *norms,
                           int max, double *loss);

/* ------------------------------------------------------------ through time
 * The same question for a recurrent net (`nabla vanish --time`): how large is
 * dL/dh_t, the gradient of the loss at the last step with respect to the
 * hidden state of every step t, for a vanilla (tanh) RNN, an LSTM and a GRU
 * on the adding problem, and which of them then learns it?
 *
 *   nb_vanish_time_config cfg = nb_vanish_time_defaults();  // lstm, T 100
 *   cfg.cell = NB_VT_RNN;
 *   nb_vanish_time_result r;
 *   if (nb_vanish_time_run(&cfg, &r)) puts(nb_errmsg());
 *   // r.grad_norms[0] = ||dL/dh_1||, r.grad_norms[T-1] = ||dL/dh_T||,
 *   // r.ratio their quotient; r.final_loss the test MSE after training.
 *
 * The adding problem (Hochreiter & Schmidhuber 1997): every step has two
 * inputs, a value drawn from U[0, 1) and a marker, 1 at exactly two steps
 * (one in the first half of the sequence, one in the second) and 0
 * elsewhere; the target is the sum of the two marked values.  Always
 * answering 1 gives an MSE of 1/6 (the variance of the sum); the net must
 * carry a value across up to T steps to do better.  The model is one
 * recurrent layer of `hidden` units (the op nb_rnn (tanh) / nb_lstm / nb_gru)
 * and a Linear head on the last step's h, PyTorch's initialisation
 * (U(+-1/sqrt(hidden)) everywhere), MSE loss, trained by cfg->opt on fresh
 * seeded batches.
 *
 * The per-step norms are measured at initialisation on one fixed batch by
 * unrolling the sequence: T calls of the op with T = 1, each step's h_n
 * (and the lstm's c_n) feeding the next as h0 (c0), so every h_t is a graph
 * tensor whose gradient nb_retain_grad keeps.  The training uses the fused
 * whole-sequence op.  By the chain rule dL/dh_t = dL/dh_T times the product
 * of the step Jacobians dh_{k+1}/dh_k for k = t..T-1 (Pascanu et al. 2013):
 * it shrinks or grows geometrically unless those Jacobians stay near norm 1,
 * which the LSTM's cell state (and the GRU's update gate) are built to do.
 * Nothing here prints; errors return -1 with nb_errmsg(). */

#define NB_VANISH_TIME_MAX_T 1000 /* longest sequence */

typedef enum { NB_VT_RNN = 0, NB_VT_LSTM, NB_VT_GRU, NB_VT__COUNT } nb_vt_cell;

/* "rnn", "lstm", "gru"; parse returns -1 for an unknown name. */
NB_API const char *nb_vt_cell_name(nb_vt_cell cell);
NB_API int nb_vt_cell_parse(const char *name);

typedef struct nb_vanish_time_config {
    nb_vt_cell cell;     /* rnn is tanh */
    int T;               /* sequence length, 2..NB_VANISH_TIME_MAX_T */
    size_t hidden;       /* hidden units, >= 1 */
    long steps;          /* training steps, >= 0 (0: measure at init only) */
    size_t batch;        /* training and probe batch, >= 1 */
    size_t test_n;       /* test sequences for final_loss, >= 1 */
    nb_optim_config opt; /* the optimizer */
    double clip_norm;    /* > 0: clip the global gradient norm to it; 0 = off */
    double hh_scale;     /* weight_hh is multiplied by it after the init (1 = PyTorch's) */
    double gate_bias;    /* added to the bias (b_ih) of the gate that keeps the state:
                             the lstm's forget gate, the gru's update gate; 0 = PyTorch's */
    double solved_below; /* the task counts as solved when final_loss < this */
    uint64_t seed;       /* initialisation, data and probe batch */
    nb_dtype dtype;      /* NB_F32 or NB_F64 */
} nb_vanish_time_config;

/* lstm, T 100, 32 hidden units, 1500 steps of Adam (lr 0.01) on batches of
 * 32, 1000 test sequences, no clipping, hh_scale 1, gate_bias 3 (the kept
 * fraction sigmoid(3) ~ 0.95 per step; with PyTorch's 0 it is ~0.5 and the
 * lstm's and gru's gradients vanish at initialisation like the rnn's),
 * solved_below 0.01, seed 1, float32. */
NB_API nb_vanish_time_config nb_vanish_time_defaults(void);
/* Check a configuration: 0, or -1 with an error naming the field. */
NB_API int nb_vanish_time_validate(const nb_vanish_time_config *cfg);

typedef struct nb_vanish_time_result {
    int T;
    /* ||dL/dh_t||_2 over the probe batch (mean MSE loss), t = 1..T at [0..T-1];
     * 0 where a float32 gradient underflowed (every element below 1.4e-45) */
    double grad_norms[NB_VANISH_TIME_MAX_T];
    double grad_norm_first, grad_norm_last; /* grad_norms[0], grad_norms[T-1] */
    double ratio;                           /* first / last */
    double loss_init;                       /* test MSE at initialisation */
    double final_loss;                      /* test MSE after training (NAN when not finite) */
    int solved;                             /* final_loss < solved_below */
    long steps_done;                        /* optimizer steps taken (stops at the first non-finite one) */
    int exploded;                           /* a non-finite loss or gradient norm stopped training */
    long exploded_at;                       /* that step (1-based), 0 if none */
    double loss_first, loss_last;           /* training loss: first step, mean of the last min(20, steps) */
    double loss_max;                        /* largest finite training loss */
    double grad_norm_max;                   /* largest finite global gradient norm (before clipping) */
    long clipped_steps;                     /* steps whose gradient norm exceeded clip_norm */
    double seconds;                         /* wall time of the whole run */
} nb_vanish_time_result;

/* Measure, train and evaluate one configuration.  An explosion is a result,
 * not an error: training stops, exploded is set and final_loss is measured
 * on the last finite parameters.  0, or -1 (nb_errmsg) on a bad
 * configuration or no memory. */
NB_API int nb_vanish_time_run(const nb_vanish_time_config *cfg, nb_vanish_time_result *out);

/* n sequences of the adding problem, T steps each, from r: x [n, T, 2]
 * (value, marker) and y [n] (the sum), of dtype dt (NB_F32 or NB_F64).
 * 0, or -1 when T < 2 or an argument is NULL. */
NB_API int nb_adding_problem(nb_rng *r, size_t n, size_t T, nb_dtype dt, void *x, void *y);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_VANISH_H */
