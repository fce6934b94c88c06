/* nabla — tensors and reverse-mode autograd in C11.
 *
 *   nb_ctx *c = nb_ctx_new(NULL);                    // owns per-step temporaries
 *   nb_tensor *w = nb_tensor_new(NB_F64, 1, (size_t[]){3});   // long-lived
 *   nb_tensor_set_requires_grad(w, 1);
 *   for (int step = 0; step < 100; step++) {
 *       nb_tensor *x = nb_from_data(c, NB_F64, 1, (size_t[]){3}, xs, NB_COPY);
 *       nb_tensor *y = nb_sum(c, nb_mul(c, w, x), NULL, 0, 0);
 *       if (!y || nb_backward(c, y, NULL) != 0) { puts(nb_errmsg()); break; }
 *       ... update w from nb_grad(w), then nb_zero_grad(w) ...
 *       nb_ctx_reset(c);                               // frees x, y, the graph
 *   }
 *   nb_ctx_free(c); nb_tensor_free(w);
 *
 * MEMORY MODEL
 *   Two lifetimes, nothing else:
 *   - Long-lived tensors (parameters, datasets, optimizer state) come from
 *     nb_tensor_new / nb_tensor_from / nb_tensor_clone.  They own their storage
 *     (or borrow the caller's, see nb_tensor_from) and are released with
 *     nb_tensor_free.  Their .grad is allocated on the first backward that
 *     reaches them and lives as long as they do.
 *   - Everything an op returns, every graph node, every saved buffer and every
 *     gradient of a non-leaf is bump-allocated in an nb_ctx (an arena).  None of
 *     it is freed by hand: nb_ctx_reset() releases all of it at once and keeps
 *     the arena's memory for the next step, so after the first (warm-up) step a
 *     training step makes no heap allocation at all.  Pointers returned by ops
 *     are valid until the next nb_ctx_reset/nb_ctx_free of that context.
 *   A context is not thread-safe; use one per thread.  Two contexts never share
 *   state, so two models can train in two threads.
 *
 * ERRORS
 *   The library never prints and never exits.  A failing call returns NULL (or
 *   a non-zero int) and nb_errmsg() says why, naming the op and the shapes.
 *   Every op given a NULL input returns NULL and keeps the first message, so a
 *   whole forward pass can be checked once, at the loss.  The message is
 *   per-thread.
 */
#ifndef NABLA_H
#define NABLA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0
#define NB_VERSION "0.1.0"
#define NB_MAX_DIMS 8

NB_API const char *nb_version(void);
/* The last error of the calling thread ("" when none). */
NB_API const char *nb_errmsg(void);
NB_API void nb_clear_error(void);

/* Threads for the library's parallel loops (matrix products, element-wise
 * kernels, optimizer updates), the calling thread included: n >= 1, or 0 for
 * the default (NABLA_THREADS from the environment, else the online CPUs, at
 * most 16).  One pool serves every loop; a loop started while another thread
 * is in one runs serially.  Results are bitwise identical for any thread
 * count.  Returns 0, or -1 when n is out of range (0..64). */
NB_API int nb_set_threads(int n);
NB_API int nb_get_threads(void);
/* Are the environment's settings valid (NABLA_THREADS: 1..64, NABLA_BLAS:
 * builtin or cblas, NABLA_ISA: avx512, avx2 or generic, as the CPU allows,
 * NABLA_MEMORY_LIMIT: a size such as 512M or 2G)?  0, or -1
 * with nb_errmsg() naming the variable.  A bad value is otherwise ignored
 * (the default is used); nb_set_threads(0) checks it too.
 * NABLA_MEMORY_LIMIT bounds a model's storage (parameters, their gradients
 * and buffers): a layer that would take it past the bound is refused, named,
 * before anything is allocated.  Without it the bound is the machine's
 * memory, or less where a control group or ulimit says so. */
NB_API int nb_check_env(void);
/* The widest instruction set the kernels use: "avx512", "avx2" or "generic"
 * (portable C).  The best the CPU shows, unless NABLA_ISA=avx2 or generic
 * (checked by nb_check_env: avx512 and avx2 must be there) narrows it, read
 * once, at the first kernel that asks.  The paths sum in different orders,
 * so their last bits differ; on one path results are bitwise identical for
 * any thread count. */
NB_API const char *nb_isa(void);

/* ---------------------------------------------------------------- dtypes */
typedef enum {
    NB_F32 = 0, /* float, differentiable */
    NB_F64 = 1, /* double, differentiable */
    NB_I32 = 2  /* int32 indices and labels only; never differentiable */
} nb_dtype;

NB_API size_t nb_dtype_size(nb_dtype dt);
NB_API const char *nb_dtype_name(nb_dtype dt);

/* ------------------------------------------------------------------- RNG */
/* A seeded generator whose stream is the same on every platform: xoshiro256**
 * seeded by splitmix64; uniform floats from the top bits; normals by the polar
 * method with a portable logarithm (no libm), so bit-identical everywhere. */
typedef struct nb_rng {
    uint64_t s[4];
    double spare; /* cached second normal */
    int has_spare;
} nb_rng;

NB_API void nb_rng_seed(nb_rng *r, uint64_t seed);
NB_API uint64_t nb_rng_u64(nb_rng *r);
NB_API double nb_rng_uniform(nb_rng *r);             /* [0, 1), 53 bits */
NB_API double nb_rng_normal(nb_rng *r);              /* mean 0, std 1 */
NB_API uint64_t nb_rng_below(nb_rng *r, uint64_t n); /* [0, n), unbiased; n > 0 */

/* ---------------------------------------------------------------- tensors */
typedef struct nb_tensor nb_tensor;
typedef struct nb_ctx nb_ctx;
struct nb__node;
struct nb__hook;

/* Read the fields; change them only through the API.  Storage is always
 * row-major and contiguous from `data`; a view shares another tensor's data. */
struct nb_tensor {
    nb_dtype dtype;
    int ndim; /* 0..NB_MAX_DIMS; 0 is a scalar */
    size_t shape[NB_MAX_DIMS];
    size_t numel;
    void *data;             /* float*, double* or int32_t* by dtype */
    nb_tensor *grad;        /* accumulated gradient, or NULL */
    unsigned flags;         /* NB__F_* below; read with the accessors */
    struct nb__node *node;  /* the op that made it; NULL for leaves */
    struct nb__hook *hooks; /* gradient hooks */
    nb_ctx *ctx;            /* the arena it lives in; NULL if long-lived */
};

/* How nb_tensor_from / nb_from_data treat the caller's buffer. */
typedef enum {
    NB_COPY = 0,  /* copy it; the caller keeps ownership of its buffer */
    NB_BORROW = 1 /* point at it; it must outlive the tensor; never freed */
} nb_own;

/* Long-lived tensors: caller frees with nb_tensor_free (NULL is fine).
 * nb_tensor_new zero-fills.  Return NULL on bad shapes or no memory. */
NB_API nb_tensor *nb_tensor_new(nb_dtype dt, int ndim, const size_t *shape);
NB_API nb_tensor *nb_tensor_from(nb_dtype dt, int ndim, const size_t *shape, void *buf, nb_own own);
NB_API nb_tensor *nb_tensor_clone(const nb_tensor *t); /* copy of data, no grad */
NB_API void nb_tensor_free(nb_tensor *t);

/* Arena tensors (valid until nb_ctx_reset). */
NB_API nb_tensor *nb_empty(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape);
NB_API nb_tensor *nb_zeros(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape);
NB_API nb_tensor *nb_ones(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape);
NB_API nb_tensor *nb_full(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, double v);
NB_API nb_tensor *nb_arange(nb_ctx *c, nb_dtype dt, double start, double stop, double step);
NB_API nb_tensor *nb_uniform(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, double lo, double hi, nb_rng *r);
NB_API nb_tensor *nb_normal(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, double mean, double std, nb_rng *r);
NB_API nb_tensor *nb_from_data(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, void *buf, nb_own own);
NB_API nb_tensor *nb_scalar(nb_ctx *c, nb_dtype dt, double v);

/* In-place fills for any tensor (long-lived or arena); 0 on success. */
NB_API int nb_fill(nb_tensor *t, double v);
NB_API int nb_fill_uniform(nb_tensor *t, double lo, double hi, nb_rng *r);
NB_API int nb_fill_normal(nb_tensor *t, double mean, double std, nb_rng *r);
NB_API int nb_copy_into(nb_tensor *dst, const nb_tensor *src); /* same shape; dtype may differ */

/* Element flat_index as a double / set from one; an index past the end (or
 * a NULL t) reads NAN and writes nothing, with nb_errmsg() saying so. */
NB_API double nb_get(const nb_tensor *t, size_t flat_index);
NB_API void nb_set(nb_tensor *t, size_t flat_index, double v);
NB_API double nb_item(const nb_tensor *t); /* numel must be 1; NAN otherwise */
NB_API int nb_same_shape(const nb_tensor *a, const nb_tensor *b);
/* "[2, 3]" into buf; returns buf. */
NB_API char *nb_shape_str(const nb_tensor *t, char *buf, size_t size);
/* Print shape, dtype and values (at most `max_items` per tensor, 0 = 6). */
NB_API void nb_tensor_print(FILE *f, const nb_tensor *t, size_t max_items);

/* ----------------------------------------------------------------- context */
typedef struct nb_ctx_opts {
    size_t chunk_bytes; /* first arena chunk; 0 = 1 MiB */
} nb_ctx_opts;

NB_API nb_ctx *nb_ctx_new(const nb_ctx_opts *opts); /* NULL opts = defaults */
NB_API void nb_ctx_free(nb_ctx *c);
/* Release every arena tensor and graph node; keep the memory for reuse. */
NB_API void nb_ctx_reset(nb_ctx *c);
NB_API size_t nb_ctx_bytes_used(const nb_ctx *c);
NB_API size_t nb_ctx_bytes_reserved(const nb_ctx *c);
/* Raw scratch memory in the arena, aligned to 64 bytes, zeroed. */
NB_API void *nb_ctx_alloc(nb_ctx *c, size_t bytes);

/* Grad mode: ops record graph nodes only while it is on (default on).
 * Returns the previous setting so blocks nest:  int g = nb_set_grad_enabled(c, 0); ... nb_set_grad_enabled(c, g); */
NB_API int nb_set_grad_enabled(nb_ctx *c, int on);
NB_API int nb_grad_enabled(const nb_ctx *c);
/* Training mode (dropout active); default on. Returns the previous setting. */
NB_API int nb_set_training(nb_ctx *c, int on);
NB_API int nb_training(const nb_ctx *c);

/* Anomaly mode (off by default): every op's forward output and, in backward,
 * every gradient an op produces for its inputs (plus the seed and any
 * gradient a hook changed) is checked for NaN/Inf.  The first non-finite
 * value since nb_anomaly_clear() is described in an nb_anomaly: op, forward or
 * backward, which input/output, shapes, flat index, and the file:line of the
 * caller's code that made the op (see CALL SITES at the end of this file).
 * Off, it costs one branch per op.  The policy says what happens then:
 *   NB_ANOMALY_STOP       the op returns NULL (forward) or nb_backward returns
 *                         -1, with the description in nb_errmsg();
 *   NB_ANOMALY_SKIP_STEP  record and go on; nb_train_step makes no update for
 *                         that step (res->nonfinite is set);
 *   NB_ANOMALY_CONTINUE   record (and count) and go on.
 * The record survives nb_ctx_reset; nb_train_step clears it when it starts, so
 * afterwards it describes that step.  A leaf's gradient that was already
 * non-finite before a backward is blamed on the first op that adds to it. */
typedef enum {
    NB_ANOMALY_OFF = 0,
    NB_ANOMALY_STOP = 1,
    NB_ANOMALY_SKIP_STEP = 2,
    NB_ANOMALY_CONTINUE = 3
} nb_anomaly_policy;

/* Returns the previous policy, or -1 (nb_errmsg) for an unknown policy. */
NB_API int nb_set_detect_anomaly(nb_ctx *c, nb_anomaly_policy policy);
NB_API nb_anomaly_policy nb_detect_anomaly(const nb_ctx *c);
/* "stop", "skip", "continue", "off" (also "skip-step") -> policy; -1 when unknown. */
NB_API int nb_anomaly_policy_parse(const char *name);
NB_API const char *nb_anomaly_policy_name(nb_anomaly_policy p);

typedef struct nb_anomaly {
    char op[48];  /* op name ("log", "matmul", a custom function's name) */
    int backward; /* 0: found in the forward pass; 1: in backward */
    int input;    /* -1: the op's output (forward: its value; backward: the
                            gradient flowing into it); k >= 0: input k (forward:
                            the value given to the op was already non-finite, e.g.
                            data or a parameter; backward: the gradient the op
                            produced for input k) */
    int ndim;     /* the shape of the tensor holding the value */
    size_t shape[NB_MAX_DIMS];
    char shapes[160]; /* the op's inputs and output: "[2, 3] x [3] -> [2, 3]" */
    size_t index;     /* flat (row-major) index of the first non-finite element */
    double value;     /* NaN, +Inf or -Inf */
    const char *file; /* where the op was called (__FILE__; static storage), */
    int line;         /*   NULL/0 when unknown; for ops inside nb_model_forward,
                            the line that called nb_model_forward / nb_train_step */
    char layer[64];   /* inside nb_model_forward: the layer, "layers.2 (linear)"; else "" */
    size_t count;     /* how many checks found non-finite values since the clear */
} nb_anomaly;

/* The first anomaly since the last clear, or NULL; valid until the clear. */
NB_API const nb_anomaly *nb_anomaly_get(const nb_ctx *c);
NB_API void nb_anomaly_clear(nb_ctx *c);
/* The one-line description nb_errmsg() gets under NB_ANOMALY_STOP; returns buf. */
NB_API char *nb_anomaly_describe(const nb_anomaly *a, char *buf, size_t size);

/* ----------------------------------------------------------------- autograd */
/* Leaves: only float tensors may require grad.  0 on success. */
NB_API int nb_tensor_set_requires_grad(nb_tensor *t, int on);
NB_API int nb_requires_grad(const nb_tensor *t);
NB_API int nb_is_leaf(const nb_tensor *t);
/* Keep the gradient of a non-leaf in t->grad during backward. */
NB_API int nb_retain_grad(nb_tensor *t);
/* The accumulated gradient, or NULL before any backward reached t. */
NB_API nb_tensor *nb_grad(const nb_tensor *t);
/* Zero t->grad if it exists (keeps the buffer). */
NB_API void nb_zero_grad(nb_tensor *t);
/* A view sharing t's data with no history and requires_grad off. */
NB_API nb_tensor *nb_detach(nb_ctx *c, nb_tensor *t);

/* A hook sees (and may change in place) the gradient flowing into t, once per
 * backward, before it is accumulated into t->grad (leaves) or passed on to the
 * op that made t.  Return non-zero to abort the backward pass with an error. */
typedef int (*nb_hook_fn)(nb_tensor *t, nb_tensor *grad, void *user);
/* Hooks on long-lived tensors live until nb_tensor_free (or
 * nb_remove_hooks); hooks on arena tensors until the context reset.
 * Returns 0 on success. */
NB_API int nb_register_hook(nb_tensor *t, nb_hook_fn fn, void *user);
NB_API void nb_remove_hooks(nb_tensor *t);

typedef struct nb_backward_opts {
    int retain_graph; /* keep saved buffers so backward can run again */
} nb_backward_opts;

/* Backpropagate from `root`.  grad_out: the upstream gradient (same shape as
 * root), or NULL when root has one element (then it is 1).  Gradients
 * accumulate (+=) into every reachable leaf's ->grad.  Unless retain_graph,
 * the graph is released: a second backward through it fails.  0 on success. */
NB_API int nb_backward(nb_ctx *c, nb_tensor *root, const nb_tensor *grad_out);
NB_API int nb_backward_ex(nb_ctx *c, nb_tensor *root, const nb_tensor *grad_out, const nb_backward_opts *opts);

/* --------------------------------------------------------------------- ops */
/* Every op returns an arena tensor of c, or NULL with nb_errmsg() set.
 * Element-wise binary ops broadcast by NumPy's rules; operands share a dtype. */
NB_API nb_tensor *nb_add(nb_ctx *c, nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_sub(nb_ctx *c, nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_mul(nb_ctx *c, nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_div(nb_ctx *c, nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_neg(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_add_scalar(nb_ctx *c, nb_tensor *a, double s);  /* a + s */
NB_API nb_tensor *nb_mul_scalar(nb_ctx *c, nb_tensor *a, double s);  /* a * s */
NB_API nb_tensor *nb_rsub_scalar(nb_ctx *c, nb_tensor *a, double s); /* s - a */
NB_API nb_tensor *nb_rdiv_scalar(nb_ctx *c, nb_tensor *a, double s); /* s / a */
NB_API nb_tensor *nb_pow_scalar(nb_ctx *c, nb_tensor *a, double p);  /* a ^ p */
NB_API nb_tensor *nb_pow(nb_ctx *c, nb_tensor *a, nb_tensor *b);     /* a ^ b, a > 0 for d/db */
NB_API nb_tensor *nb_exp(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_log(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_sqrt(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_abs(nb_ctx *c, nb_tensor *a);                         /* d|x|/dx = sign(x), 0 at 0 */
NB_API nb_tensor *nb_clamp(nb_ctx *c, nb_tensor *a, double lo, double hi); /* grad 1 inside [lo,hi] */

/* Activations. */
NB_API nb_tensor *nb_relu(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_leaky_relu(nb_ctx *c, nb_tensor *a, double slope);
NB_API nb_tensor *nb_elu(nb_ctx *c, nb_tensor *a, double alpha);
NB_API nb_tensor *nb_gelu(nb_ctx *c, nb_tensor *a); /* exact (erf) form */
NB_API nb_tensor *nb_sigmoid(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_tanh(nb_ctx *c, nb_tensor *a);
NB_API nb_tensor *nb_softplus(nb_ctx *c, nb_tensor *a); /* log(1 + e^x), stable */

/* Linear algebra.  matmul: a [..., m, k] x b [..., k, n] -> [..., m, n];
 * trans_a / trans_b read a or b as transposed in its last two dims (no copy).
 * Batch dims are equal, or one operand is 2-D and is used for every batch. */
NB_API nb_tensor *nb_matmul(nb_ctx *c, nb_tensor *a, nb_tensor *b, int trans_a, int trans_b);

/* Activations by number, for nb_linear and the model's layers (nn.h). */
typedef enum {
    NB_ACT_NONE = 0,
    NB_ACT_RELU,
    NB_ACT_LEAKY_RELU,
    NB_ACT_ELU,
    NB_ACT_GELU,
    NB_ACT_SIGMOID,
    NB_ACT_TANH,
    NB_ACT_SOFTPLUS,
    NB_ACT__COUNT
} nb_act;

/* A fused Linear layer: y = act(x w^T + b), with x [N, in], w [out, in]
 * (PyTorch's layout), b [out] or NULL for none, y [N, out].  param is the
 * leaky_relu slope or the elu alpha (unused otherwise).  The same values and
 * gradients as nb_matmul(x, w, 0, 1), nb_add(b), then the activation op, in
 * one graph node: one product and one pass over y forward; one pass and two
 * products backward (w's gradient accumulated straight into its buffer).
 * Where y alone gives act' (relu; leaky_relu, elu with param >= 0; sigmoid;
 * tanh) nothing else is kept for the backward; gelu, softplus (and a negative
 * param) keep the pre-activation, one more [N, out] buffer in the arena. */
NB_API nb_tensor *nb_linear(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_act act, double param);

/* Shape ops.  reshape accepts one -1; it is a view (no copy). */
NB_API nb_tensor *nb_reshape(nb_ctx *c, nb_tensor *a, int ndim, const long *shape);
NB_API nb_tensor *nb_transpose(nb_ctx *c, nb_tensor *a, int d0, int d1); /* copies */
NB_API nb_tensor *nb_permute(nb_ctx *c, nb_tensor *a, const int *perm);  /* copies */
/* a[..., start:stop, ...] along `axis` (step 1); a view when the slice is contiguous. */
NB_API nb_tensor *nb_slice(nb_ctx *c, nb_tensor *a, int axis, size_t start, size_t stop);
NB_API nb_tensor *nb_concat(nb_ctx *c, int n, nb_tensor *const *xs, int axis);

/* Reductions over `axes` (n_axes of them; axes NULL or n_axes 0 = all),
 * negative axes count from the end; keepdim keeps reduced dims as 1. */
NB_API nb_tensor *nb_sum(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim);
NB_API nb_tensor *nb_mean(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim);
/* max/min: the gradient goes to the first extreme element of each group. */
NB_API nb_tensor *nb_max(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim);
NB_API nb_tensor *nb_min(nb_ctx *c, nb_tensor *a, const int *axes, int n_axes, int keepdim);

/* Softmax family along one axis (negative counts from the end). */
NB_API nb_tensor *nb_softmax(nb_ctx *c, nb_tensor *a, int axis);
NB_API nb_tensor *nb_log_softmax(nb_ctx *c, nb_tensor *a, int axis);

/* Losses.  Reductions: */
typedef enum { NB_MEAN = 0, NB_SUM = 1, NB_NONE = 2 } nb_reduction;
/* logits [N, C], labels int32 [N] in [0, C); fused log-softmax + NLL;
 * label_smoothing in [0, 1) as in torch.nn.functional.cross_entropy. */
NB_API nb_tensor *nb_cross_entropy(nb_ctx *c, nb_tensor *logits, const nb_tensor *labels, nb_reduction red,
                                   double label_smoothing);
/* logp [N, C] (log-probabilities), labels int32 [N]. */
NB_API nb_tensor *nb_nll(nb_ctx *c, nb_tensor *logp, const nb_tensor *labels, nb_reduction red);
/* Mean squared error; pred and target of the same shape. */
NB_API nb_tensor *nb_mse(nb_ctx *c, nb_tensor *pred, nb_tensor *target, nb_reduction red);
/* Binary cross-entropy on logits, stable; target in [0, 1], same shape. */
NB_API nb_tensor *nb_bce_with_logits(nb_ctx *c, nb_tensor *logits, nb_tensor *target, nb_reduction red);

/* Dropout: in training mode zeroes each element with probability p (mask drawn
 * from r) and scales the rest by 1/(1-p); identity when not training or p == 0. */
NB_API nb_tensor *nb_dropout(nb_ctx *c, nb_tensor *a, double p, nb_rng *r);

/* Indexing.  index is int32.  gather: out[i][j] = a[i][index[i][j]] along
 * axis (torch.gather); index_select picks whole slices along axis. */
NB_API nb_tensor *nb_gather(nb_ctx *c, nb_tensor *a, int axis, const nb_tensor *index);
NB_API nb_tensor *nb_index_select(nb_ctx *c, nb_tensor *a, int axis, const nb_tensor *index);
/* where(cond != 0, a, b), all three broadcast; cond any dtype, no gradient. */
NB_API nb_tensor *nb_where(nb_ctx *c, const nb_tensor *cond, nb_tensor *a, nb_tensor *b);

/* ------------------------------------------------------------ comparisons */
/* a > b, a < b, a >= b, a <= b, a == b, a != b element-wise (a and b of one
 * float dtype, broadcasting like nb_add): 1 where it holds, 0 elsewhere, in
 * that dtype, so the result is nb_where's condition or a mask to multiply
 * by.  Not differentiable: no graph node is recorded, the result never
 * requires grad and nothing flows back to a or b (PyTorch's comparisons
 * behave the same).  NaN compares false, except under nb_ne.  Example:
 *   nb_tensor *pos = nb_gt(c, x, zero);             // zero: a 0-dim tensor
 *   nb_tensor *y = nb_where(c, pos, x, nb_mul_scalar(c, x, 0.1));
 * src/ops/compare.c */
NB_API nb_tensor *nb_gt(nb_ctx *c, const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_lt(nb_ctx *c, const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_ge(nb_ctx *c, const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_le(nb_ctx *c, const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_eq(nb_ctx *c, const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_ne(nb_ctx *c, const nb_tensor *a, const nb_tensor *b);

/* ------------------------------------------------- custom differentiable ops */
/* Like torch.autograd.Function.  forward computes the output from the inputs
 * (it runs with grad mode off, so ops inside record nothing) and may save
 * tensors with nb_fn_save; backward gets the upstream gradient and stores, for
 * each input i that needs one, a gradient of input i's shape in grad_in[i]
 * (NULL = no gradient).  Both return NULL/non-zero on error. */
typedef struct nb_fnctx nb_fnctx;
typedef struct nb_function {
    const char *name;
    nb_tensor *(*forward)(nb_fnctx *fc, nb_tensor *const *in, int n_in);
    int (*backward)(nb_fnctx *fc, const nb_tensor *grad_out, nb_tensor **grad_in, int n_in);
} nb_function;

NB_API nb_tensor *nb_apply(nb_ctx *c, const nb_function *fn, int n_in, nb_tensor *const *in, void *user);
NB_API nb_ctx *nb_fn_ctx(nb_fnctx *fc);            /* the arena to build tensors in */
NB_API void *nb_fn_user(nb_fnctx *fc);             /* the `user` given to nb_apply */
NB_API int nb_fn_save(nb_fnctx *fc, nb_tensor *t); /* up to 8 tensors; 0 on success */
NB_API nb_tensor *nb_fn_saved(nb_fnctx *fc, int i);
NB_API int nb_fn_needs_grad(nb_fnctx *fc, int i); /* does input i require grad? */

/* ------------------------------------------------------- gradient checking */
/* The function under test: build an output from inputs in ctx c. */
typedef nb_tensor *(*nb_gc_fn)(nb_ctx *c, nb_tensor *const *in, int n_in, void *user);

typedef struct nb_gradcheck_opts {
    double eps;    /* central-difference step; default 1e-6 */
    double atol;   /* default 1e-5 */
    double rtol;   /* default 1e-3 */
    int fast;      /* 1: check random projections u^T J v instead of all of J */
    int n_probes;  /* fast mode: how many (u, v) pairs; default 4 */
    uint64_t seed; /* fast mode RNG seed */
} nb_gradcheck_opts;

typedef struct nb_gradcheck_result {
    int passed;
    double max_abs_err;
    double max_rel_err;     /* |a - n| / max(|n|, tiny) at the worst element */
    int worst_input;        /* which input holds the worst element (-1 none) */
    size_t worst_in_index;  /* flat index into that input */
    size_t worst_out_index; /* flat index into the output */
    double worst_analytic, worst_numeric;
    size_t n_checked; /* Jacobian entries (or projections) compared */
} nb_gradcheck_result;

/* Check fn's backward against central differences in float64.  Inputs must be
 * float64; the ones with requires_grad are checked (int32 inputs pass through).
 * opts NULL = defaults.  Returns 0 when the check ran (see res->passed), -1 on
 * error (fn failed, inputs not float64...). */
NB_API int nb_gradcheck(nb_gc_fn fn, void *user, int n_in, nb_tensor *const *in, const nb_gradcheck_opts *opts,
                        nb_gradcheck_result *res);

/* ---------------------------------------------------- convolutional nets */
/* All NCHW, contiguous; results as PyTorch's (src/ops/conv.c).  One stride,
 * padding and dilation for both axes.  A window's output size is
 * OH = (H + 2 padding - dilation (KH - 1) - 1) / stride + 1, at least 1.
 * 2-D convolution (F.conv2d): x [N, C, H, W], w [O, C / groups, KH, KW],
 * b [O] or NULL; zero padding; groups divides C and O (groups == C with
 * O = C: depthwise).  y [N, O, OH, OW]. */
NB_API nb_tensor *nb_conv2d(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding, int dilation,
                            int groups);
/* Max pooling over kernel x kernel windows (F.max_pool2d), padding <= kernel / 2
 * read as -inf; the gradient goes to the first maximum of each window. */
NB_API nb_tensor *nb_max_pool2d(nb_ctx *c, nb_tensor *x, int kernel, int stride, int padding);
/* Average pooling (F.avg_pool2d), padding counted: every window divides by
 * kernel * kernel (count_include_pad, PyTorch's default). */
NB_API nb_tensor *nb_avg_pool2d(nb_ctx *c, nb_tensor *x, int kernel, int stride, int padding);
/* Global average pooling: x [N, C, H, W] -> [N, C], the mean of each plane. */
NB_API nb_tensor *nb_global_avg_pool2d(nb_ctx *c, nb_tensor *x);
/* Batch normalisation per channel of x [N, C, H, W] (F.batch_norm).  w, b:
 * [C] scale and shift, or NULL (no affine part; b needs w).  In training mode
 * (nb_training) it uses the batch mean and biased variance, and when
 * running_mean / running_var ([C], x's dtype, both or neither) are given,
 * updates them in place: r = (1 - momentum) r + momentum s, with the unbiased
 * variance for running_var.  Otherwise it uses the running statistics, which
 * are then required.  y = (x - mean) / sqrt(var + eps) w + b. */
NB_API nb_tensor *nb_batch_norm2d(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *running_mean,
                                  nb_tensor *running_var, double momentum, double eps);
/* ------------------------------------------------------------ recurrent */
/* One recurrent layer over a whole sequence, PyTorch's torch.nn.RNN / LSTM /
 * GRU (batch_first=True, one layer, one direction) exactly: the same
 * equations, gate order and parameter shapes.  G gates: rnn 1, lstm 4 (i, f,
 * g, o), gru 3 (r, z, n; the reset gate multiplies W_hn h + b_hn, as
 * PyTorch does).
 *   x [N, T, F]; w_ih [G*H, F]; w_hh [G*H, H]; b_ih, b_hh [G*H] or NULL (no
 *   bias); h0 (and the lstm's c0) [N, H] or NULL (zeros).
 * Returns every step's hidden state [N, T, H].  The final states, when
 * h_n / c_n are not NULL, are arena tensors [N, H] that are graph nodes too
 * (a loss may use any of the three): h_n is the last step of the output,
 * c_n the lstm's last cell state; with T = 0 they are h0 / c0 (or zeros).
 * One graph node runs the backward through time over the whole sequence.
 * Stacked layers call the op once per layer, the output feeding the next.
 * src/ops/rnn.c */
/* rnn: h_t = act(x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh), act NB_ACT_TANH or NB_ACT_RELU. */
NB_API nb_tensor *nb_rnn(nb_ctx *c, nb_tensor *x, nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                         nb_tensor *h0, nb_act act, nb_tensor **h_n);
NB_API nb_tensor *nb_lstm(nb_ctx *c, nb_tensor *x, nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                          nb_tensor *h0, nb_tensor *c0, nb_tensor **h_n, nb_tensor **c_n);
NB_API nb_tensor *nb_gru(nb_ctx *c, nb_tensor *x, nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih, nb_tensor *b_hh,
                         nb_tensor *h0, nb_tensor **h_n);
/* Rows of weight [V, D] picked by index (int32, any shape, values in [0, V)):
 * [..., D] (torch.nn.functional.embedding).  The gradient adds each row of
 * the upstream gradient into weight's row, repeated indices summing. */
NB_API nb_tensor *nb_embedding(nb_ctx *c, nb_tensor *weight, const nb_tensor *index);

/* ------------------------------------------------------------ call sites */
/* Notes the caller's file and line in a thread-local; the macros below call
 * it, so that anomaly reports (nb_anomaly) name the line of your code. */
NB_API void nb__here(const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_H */

/* CALL SITES.  Each op above (and, in their own headers, nb_model_forward in
 * nn.h, nb_train_step / nb_evaluate in train.h) is wrapped in a function-like macro that first
 * stores __FILE__ and __LINE__ in a thread-local (one store, nothing else), so
 * nodes remember where your code made them.  In nested calls over several
 * lines, an op is attributed to the innermost op call of its arguments.
 * `(nb_add)(c, a, b)` or `&nb_add` bypass the macro; define NB_NO_CALL_SITES
 * before including nabla headers to have none.  The library's own sources
 * (src/internal.h defines NB_BUILDING_LIBRARY, then includes this file again)
 * never use them: this block sits outside the include guard so that the
 * second inclusion removes macros a first one defined. */
#if defined(NB_BUILDING_LIBRARY) || defined(NB_NO_CALL_SITES)
#ifdef NB__CALL_SITES
#undef NB__CALL_SITES
#undef NB__AT
#undef nb_add
#undef nb_sub
#undef nb_mul
#undef nb_div
#undef nb_neg
#undef nb_add_scalar
#undef nb_mul_scalar
#undef nb_rsub_scalar
#undef nb_rdiv_scalar
#undef nb_pow_scalar
#undef nb_pow
#undef nb_exp
#undef nb_log
#undef nb_sqrt
#undef nb_abs
#undef nb_clamp
#undef nb_relu
#undef nb_leaky_relu
#undef nb_elu
#undef nb_gelu
#undef nb_sigmoid
#undef nb_tanh
#undef nb_softplus
#undef nb_matmul
#undef nb_linear
#undef nb_reshape
#undef nb_transpose
#undef nb_permute
#undef nb_slice
#undef nb_concat
#undef nb_sum
#undef nb_mean
#undef nb_max
#undef nb_min
#undef nb_softmax
#undef nb_log_softmax
#undef nb_cross_entropy
#undef nb_nll
#undef nb_mse
#undef nb_bce_with_logits
#undef nb_dropout
#undef nb_gather
#undef nb_index_select
#undef nb_where
#undef nb_gt
#undef nb_lt
#undef nb_ge
#undef nb_le
#undef nb_eq
#undef nb_ne
#undef nb_apply
#undef nb_conv2d
#undef nb_max_pool2d
#undef nb_avg_pool2d
#undef nb_global_avg_pool2d
#undef nb_batch_norm2d
#undef nb_rnn
#undef nb_lstm
#undef nb_gru
#undef nb_embedding
#endif
#elif !defined(NB__CALL_SITES)
#define NB__CALL_SITES 1
#define NB__AT(fn, ...) (nb__here(__FILE__, __LINE__), (fn)(__VA_ARGS__))
#define nb_add(...) NB__AT(nb_add, __VA_ARGS__)
#define nb_sub(...) NB__AT(nb_sub, __VA_ARGS__)
#define nb_mul(...) NB__AT(nb_mul, __VA_ARGS__)
#define nb_div(...) NB__AT(nb_div, __VA_ARGS__)
#define nb_neg(...) NB__AT(nb_neg, __VA_ARGS__)
#define nb_add_scalar(...) NB__AT(nb_add_scalar, __VA_ARGS__)
#define nb_mul_scalar(...) NB__AT(nb_mul_scalar, __VA_ARGS__)
#define nb_rsub_scalar(...) NB__AT(nb_rsub_scalar, __VA_ARGS__)
#define nb_rdiv_scalar(...) NB__AT(nb_rdiv_scalar, __VA_ARGS__)
#define nb_pow_scalar(...) NB__AT(nb_pow_scalar, __VA_ARGS__)
#define nb_pow(...) NB__AT(nb_pow, __VA_ARGS__)
#define nb_exp(...) NB__AT(nb_exp, __VA_ARGS__)
#define nb_log(...) NB__AT(nb_log, __VA_ARGS__)
#define nb_sqrt(...) NB__AT(nb_sqrt, __VA_ARGS__)
#define nb_abs(...) NB__AT(nb_abs, __VA_ARGS__)
#define nb_clamp(...) NB__AT(nb_clamp, __VA_ARGS__)
#define nb_relu(...) NB__AT(nb_relu, __VA_ARGS__)
#define nb_leaky_relu(...) NB__AT(nb_leaky_relu, __VA_ARGS__)
#define nb_elu(...) NB__AT(nb_elu, __VA_ARGS__)
#define nb_gelu(...) NB__AT(nb_gelu, __VA_ARGS__)
#define nb_sigmoid(...) NB__AT(nb_sigmoid, __VA_ARGS__)
#define nb_tanh(...) NB__AT(nb_tanh, __VA_ARGS__)
#define nb_softplus(...) NB__AT(nb_softplus, __VA_ARGS__)
#define nb_matmul(...) NB__AT(nb_matmul, __VA_ARGS__)
#define nb_linear(...) NB__AT(nb_linear, __VA_ARGS__)
#define nb_reshape(...) NB__AT(nb_reshape, __VA_ARGS__)
#define nb_transpose(...) NB__AT(nb_transpose, __VA_ARGS__)
#define nb_permute(...) NB__AT(nb_permute, __VA_ARGS__)
#define nb_slice(...) NB__AT(nb_slice, __VA_ARGS__)
#define nb_concat(...) NB__AT(nb_concat, __VA_ARGS__)
#define nb_sum(...) NB__AT(nb_sum, __VA_ARGS__)
#define nb_mean(...) NB__AT(nb_mean, __VA_ARGS__)
#define nb_max(...) NB__AT(nb_max, __VA_ARGS__)
#define nb_min(...) NB__AT(nb_min, __VA_ARGS__)
#define nb_softmax(...) NB__AT(nb_softmax, __VA_ARGS__)
#define nb_log_softmax(...) NB__AT(nb_log_softmax, __VA_ARGS__)
#define nb_cross_entropy(...) NB__AT(nb_cross_entropy, __VA_ARGS__)
#define nb_nll(...) NB__AT(nb_nll, __VA_ARGS__)
#define nb_mse(...) NB__AT(nb_mse, __VA_ARGS__)
#define nb_bce_with_logits(...) NB__AT(nb_bce_with_logits, __VA_ARGS__)
#define nb_dropout(...) NB__AT(nb_dropout, __VA_ARGS__)
#define nb_gather(...) NB__AT(nb_gather, __VA_ARGS__)
#define nb_index_select(...) NB__AT(nb_index_select, __VA_ARGS__)
#define nb_where(...) NB__AT(nb_where, __VA_ARGS__)
#define nb_gt(...) NB__AT(nb_gt, __VA_ARGS__)
#define nb_lt(...) NB__AT(nb_lt, __VA_ARGS__)
#define nb_ge(...) NB__AT(nb_ge, __VA_ARGS__)
#define nb_le(...) NB__AT(nb_le, __VA_ARGS__)
#define nb_eq(...) NB__AT(nb_eq, __VA_ARGS__)
#define nb_ne(...) NB__AT(nb_ne, __VA_ARGS__)
#define nb_apply(...) NB__AT(nb_apply, __VA_ARGS__)
#define nb_conv2d(...) NB__AT(nb_conv2d, __VA_ARGS__)
#define nb_max_pool2d(...) NB__AT(nb_max_pool2d, __VA_ARGS__)
#define nb_avg_pool2d(...) NB__AT(nb_avg_pool2d, __VA_ARGS__)
#define nb_global_avg_pool2d(...) NB__AT(nb_global_avg_pool2d, __VA_ARGS__)
#define nb_batch_norm2d(...) NB__AT(nb_batch_norm2d, __VA_ARGS__)
#define nb_rnn(...) NB__AT(nb_rnn, __VA_ARGS__)
#define nb_lstm(...) NB__AT(nb_lstm, __VA_ARGS__)
#define nb_gru(...) NB__AT(nb_gru, __VA_ARGS__)
#define nb_embedding(...) NB__AT(nb_embedding, __VA_ARGS__)
#endif
