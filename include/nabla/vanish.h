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
 * although no layer's gradient decays: the whole profile (grad_init) tells. */
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
    int batchnorm;       /* BatchNorm1d before every hidden activation */
    int residual;        /* x + act(Linear(x)) around every width-to-width hidden Linear */
    int depth;           /* Linear layers, 2..NB_VANISH_MAX_DEPTH */
    size_t width;        /* hidden width, >= 1 */
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
/* "sigmoid normal(0.01) bn res clip 1": a short label for tables and legends. */
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

/* The 2-norm of the current gradient of every Linear weight of m (every
 * trainable 2-D entry, in creation order: first layer first) into norms[max].
 * Returns how many there are (may exceed max: only max are written), or -1. */
NB_API int nb_vanish_weight_grad_norms(nb_model *m, double *norms, int max);

/* The mean over n batches of those norms: forward (training mode), mean
 * cross-entropy, backward, read, zero the gradients.  x holds n*batch rows of
 * the model's input width (model dtype), y n*batch labels.  BatchNorm running
 * statistics are restored afterwards.  Uses and resets c.  *loss (may be
 * NULL) gets the mean loss.  Returns the number of Linear weights, or -1. */
NB_API int nb_vanish_probe(nb_model *m, nb_ctx *c, const void *x, const int32_t *y, size_t batch, int n, double *norms,
                           int max, double *loss);

/* ----------------------------------------------- vanishing through time
 * The same question for recurrent cells, on the adding problem: a sequence
 * of T steps of two features, a value uniform in [0, 1) and a marker that is
 * 1 at two steps (one in each half); the target is the sum of the two marked
 * values (predicting the mean, 1, gives a loss of ~0.167).  A cell of
 * `hidden` units reads the sequence, a Linear reads its last state, the loss
 * is the mean squared error; Adam trains it on batches drawn from the seed.
 * Afterwards the sequence is unrolled one step per op on a fresh batch and
 * ||dloss/dh_t|| (the 2-norm over the batch of the whole gradient reaching
 * h_t, through every later step) is read at every t.
 *
 *   nb_vanish_time_config cfg = nb_vanish_time_defaults();
 *   cfg.cell = NB_VTIME_LSTM; cfg.T = 100;
 *   double norms[100];
 *   nb_vanish_time_result r = {.grad_norms = norms};
 *   nb_vanish_time_run(&cfg, &r);   // r.solved, r.grad_norm_first_step, ...
 */
typedef enum { NB_VTIME_RNN = 0, NB_VTIME_LSTM = 1, NB_VTIME_GRU = 2 } nb_vtime_cell;

typedef struct nb_vanish_time_config {
    nb_vtime_cell cell; /* rnn (tanh), lstm or gru */
    size_t T;           /* steps, >= 2 */
    size_t hidden;      /* units, >= 1 */
    size_t batch;       /* >= 1 */
    long steps;         /* Adam steps, >= 0 (0: measure at initialisation) */
    double lr;          /* Adam's learning rate */
    double clip_norm;   /* > 0: clip the global gradient norm to it; 0 = off */
    double whh_scale;   /* weight_hh's init is U(+-whh_scale/sqrt(hidden)) (1: torch's) */
    uint64_t seed;      /* init, batches */
} nb_vanish_time_config;

/* lstm, T 100, 32 units, batch 32, 3000 steps, lr 1e-2, clip-norm 1, scale 1, seed 1. */
NB_API nb_vanish_time_config nb_vanish_time_defaults(void);
/* "rnn", "lstm", "gru" -> the cell, -1 when unknown; and back. */
NB_API int nb_vtime_cell_parse(const char *name);
NB_API const char *nb_vtime_cell_name(nb_vtime_cell cell);

typedef struct nb_vanish_time_result {
    double *grad_norms;          /* caller's [T] (or NULL): ||dloss/dh_t|| for t = 0..T-1 */
    double grad_norm_first_step; /* t = 0 */
    double grad_norm_last_step;  /* t = T-1 */
    double final_loss;           /* the loss of the measuring batch (256 sequences) */
    double loss_first;           /* the loss of the first training step (NAN with no steps) */
    int solved;                  /* final_loss < 0.05 (under a third of the mean's 0.167) */
    long steps_done;             /* stops at the first non-finite loss */
    int exploded;                /* a non-finite loss or gradient stopped training */
    double grad_norm_max;        /* largest global gradient norm before clipping */
    double seconds;
} nb_vanish_time_result;

/* Train and measure as above.  0, or -1 (nb_errmsg) on a bad configuration
 * or out of memory.  Float32, nabla's threads. */
NB_API int nb_vanish_time_run(const nb_vanish_time_config *cfg, nb_vanish_time_result *out);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_VANISH_H */
