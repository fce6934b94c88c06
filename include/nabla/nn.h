/* nabla/nn.h — layers and models with named, contiguous parameters.
 *
 *   nb_model *m = nb_model_new(NB_F32);
 *   nb_model_linear(m, 784, 128, 1);     // layers.0.weight [128, 784], layers.0.bias
 *   nb_model_act(m, NB_ACT_RELU, 0);     // layers.1
 *   nb_model_linear(m, 128, 10, 1);      // layers.2.*
 *   nb_model_init(m, NB_INIT_TORCH, 0, &rng);
 *   ... logits = nb_model_forward(m, ctx, x, &rng); loss; nb_backward; ...
 *   nb_optim_step(opt, nb_model_params(m), nb_model_grads(m));  // one flat loop
 *
 * or, the same model from its description (see "layer descriptions" below):
 *   nb_model *m = nb_model_from_spec("linear(128) relu linear(10)", NB_F32, 3, (size_t[]){1, 28, 28});
 *   nb_checkpoint_save(path, m, ...);  ...  nb_model *again = nb_model_load(path);
 *
 * Every trainable parameter lives in ONE contiguous buffer (nb_model_params),
 * and its gradient at the same offset of a second buffer (nb_model_grads), so
 * optimizers, clipping and the gradient monitor are flat loops.  Non-trainable
 * state (BatchNorm running statistics) lives in a third buffer.  Each entry
 * also has a tensor view (nb_model_entry) whose ->grad views the gradient
 * buffer, so autograd accumulates straight into it.
 * Weights use PyTorch's layout ([out, in] for Linear) and names
 * ("layers.0.weight"), so a state dict maps one to one.
 * The model owns all of it; nb_model_free releases it. */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include "nabla.h"

/* Marks the library's exported functions (defined by nabla.h where the
 * build hides everything else). */
#ifndef NB_API
#define NB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* nb_act (NB_ACT_NONE, NB_ACT_RELU, ...) is declared in nabla.h, for nb_linear. */

typedef enum {
    NB_INIT_TORCH = 0, /* PyTorch's Linear default: U(±1/sqrt(fan_in)) for weight and bias */
    NB_INIT_XAVIER_UNIFORM,
    NB_INIT_XAVIER_NORMAL,
    NB_INIT_HE_UNIFORM,
    NB_INIT_HE_NORMAL, /* Kaiming, mode fan_in */
    NB_INIT_NORMAL,    /* N(0, param^2) */
    NB_INIT_ZEROS,
    NB_INIT__COUNT
} nb_init;

/* "relu" -> NB_ACT_RELU etc.; -1 when unknown. */
NB_API int nb_act_parse(const char *name);
NB_API const char *nb_act_name(nb_act a);
NB_API int nb_init_parse(const char *name);
NB_API const char *nb_init_name(nb_init i);
/* The gain torch.nn.init.calculate_gain gives for an activation. */
NB_API double nb_act_gain(nb_act a, double param);

typedef struct nb_model nb_model;

/* An empty sequential model of float32 or float64 parameters. */
NB_API nb_model *nb_model_new(nb_dtype dt);
NB_API void nb_model_free(nb_model *m);

/* Builders append a layer and return 0, or -1 (nb_errmsg) on bad sizes or
 * after the model was finalised.  in must equal the previous layer's width. */
NB_API int nb_model_linear(nb_model *m, size_t in, size_t out, int bias);
NB_API int nb_model_act(nb_model *m, nb_act a, double param); /* param: leaky slope / elu alpha */
NB_API int nb_model_batchnorm1d(nb_model *m, size_t features, double eps, double momentum, int affine);
NB_API int nb_model_layernorm(nb_model *m, size_t features, double eps);
NB_API int nb_model_dropout(nb_model *m, double p);
NB_API int nb_model_flatten(nb_model *m);
/* Residual block y = x + f(x): layers added between begin and end form f; when
 * f changes the width, a bias-free projection Linear maps x ("layers.N.proj"). */
NB_API int nb_model_residual_begin(nb_model *m);
NB_API int nb_model_residual_end(nb_model *m);

/* Allocate the flat buffers (done by nb_model_init/forward if not yet). */
NB_API int nb_model_finalize(nb_model *m);
/* Initialise weights and biases; param = std for NB_INIT_NORMAL, otherwise
 * unused.  Gains follow the activation after each Linear.  BatchNorm/LayerNorm
 * get weight 1, bias 0; running mean 0, var 1. */
NB_API int nb_model_init(nb_model *m, nb_init init, double param, nb_rng *r);

/* Forward pass for x [N, in] (or [N, ...]: a flatten, or a Linear, flattens
 * image input [N, C, H, W] to [N, C*H*W]) in context c; in
 * training mode (nb_training(c)) dropout draws from r and BatchNorm uses batch
 * statistics and updates its running ones.  Returns [N, out] or NULL. */
/* (The name is in parentheses because a call-site macro below wraps it.) */
NB_API nb_tensor *(nb_model_forward)(nb_model *m, nb_ctx *c, nb_tensor *x, nb_rng *r);

NB_API nb_dtype nb_model_dtype(const nb_model *m);
NB_API size_t nb_model_in_width(const nb_model *m);
NB_API size_t nb_model_out_width(const nb_model *m);
NB_API size_t nb_model_n_params(const nb_model *m); /* trainable scalars */
NB_API void *nb_model_params(nb_model *m);          /* float* or double*, n_params */
NB_API void *nb_model_grads(nb_model *m);           /* same layout */
NB_API size_t nb_model_n_buffer_values(const nb_model *m);
NB_API void *nb_model_buffers(nb_model *m); /* running statistics */
NB_API void nb_model_zero_grad(nb_model *m);

/* Named entries: trainable parameters first (in creation order), then buffers. */
typedef struct nb_model_entry {
    const char *name; /* "layers.0.weight" */
    nb_tensor *t;     /* a view into the flat buffer; owned by the model */
    size_t offset;    /* into nb_model_params() or nb_model_buffers() */
    int trainable;    /* 0 for buffers */
    int layer;        /* index of the top-level layer it belongs to */
} nb_model_entry;
NB_API size_t nb_model_n_entries(const nb_model *m);
NB_API const nb_model_entry *nb_model_entry_at(const nb_model *m, size_t i);
NB_API const nb_model_entry *nb_model_find(const nb_model *m, const char *name);

/* Top-level layers, for monitors: kind name ("linear", "relu", "batchnorm1d",
 * "residual", ...) and, for activations, the output of the last forward pass
 * in that context (valid until the context's reset; NULL before any forward).
 * The forward runs a Linear and the activation right after it as one
 * nb_linear (unless anomaly detection is on, which keeps every op apart): the
 * activation layer's output is that op's output, and the Linear then has no
 * output of its own (NULL); an unfused Linear reports its output.  A conv2d
 * and its activation are one op the same way; a conv2d, relu and
 * maxpool2d(k) (stride k, no padding) are one op whose output is the pool
 * layer's, the conv2d and relu then having none -- unless a monitor is
 * attached to the model (nb_monitor_new), which keeps every activation
 * layer's output. */
NB_API size_t nb_model_n_layers(const nb_model *m);
NB_API const char *nb_model_layer_kind(const nb_model *m, size_t i);
NB_API nb_tensor *nb_model_layer_output(const nb_model *m, size_t i);

/* A one-line description, e.g. "784-128(relu)-10, 101770 params". */
NB_API const char *nb_model_describe(const nb_model *m, char *buf, size_t size);

/* The command line's MLP: widths "784-128-10", activation between Linear
 * layers, optional BatchNorm before each activation, residual blocks around
 * each hidden Linear+act whose width is unchanged, dropout after each act. */
typedef struct nb_mlp_config {
    size_t widths[64];
    int n_widths;
    nb_act act;
    double act_param;
    int batchnorm;
    int residual;
    double dropout;
} nb_mlp_config;
/* Parse "784-128-10" into cfg->widths; 0 or -1 with a message. */
NB_API int nb_mlp_parse_widths(nb_mlp_config *cfg, const char *spec);
NB_API nb_model *nb_mlp_new(nb_dtype dt, const nb_mlp_config *cfg);

/* ------------------------------------------------- layer descriptions
 * A model is described by one line of text: layers separated by spaces,
 * PyTorch's module names in lower case, each with positional and key=value
 * arguments; only output sizes are written, each layer infers its input
 * size from the shape before it.  Blocks nest:
 *
 *     linear(128) relu dropout(0.2) linear(10)
 *     residual(linear(128) batchnorm1d relu) linear(10)
 *
 *   linear(out, bias=1)           a Linear on any input (image input is
 *                                 flattened first, as the MLP shorthand does)
 *   relu gelu sigmoid tanh softplus identity
 *   leaky_relu(negative_slope=0.01)  elu(alpha=1)
 *   batchnorm1d(eps=1e-5, momentum=0.1, affine=1)   on [features] input
 *   layernorm(eps=1e-5)           on [features] input
 *   dropout(p=0.5)  flatten
 *   residual(LAYERS...)           y = x + f(x); a bias-free Linear "proj"
 *                                 maps x when f changes the width
 *
 * Parameters are named as the equivalent torch nn.Sequential's state dict
 * with a "layers." prefix: "layers.0.weight", "layers.3.block.1.bias",
 * "layers.3.proj.weight".
 *
 * Adding a layer kind (the extension point): a kind is one row of the
 * registry nb__layer_defs[] in src/nn/spec.c, {name, parameters with their
 * defaults and ranges, block?, build}.  build(b, args) appends the layer to
 * the model with the builders here, or, for a kind in its own file (conv2d,
 * lstm), as an extension layer (src/nn/nn_internal.h: a small table of
 * forward, init, describe, and parameters of up to 4 dims), and writes the
 * output shape from the input
 * shape; a shape it cannot take returns NB__SPEC_SHAPE with what it expects,
 * and the parser names both layers and both shapes.  Parsing, errors with a
 * caret, the summary, checkpoints and `nabla summary` then know the kind. */

/* Build a model from a description for inputs of one sample's shape in_shape
 * [in_ndim] (e.g. 3: {1, 28, 28}), parameters of dtype dt.  The model is
 * finalised but NOT initialised (call nb_model_init).  NULL on error, and
 * nb_errmsg() says why, quoting the description with a caret under the bad
 * token on its own line.  The caller owns the model (nb_model_free). */
NB_API nb_model *nb_model_from_spec(const char *spec, nb_dtype dt, int in_ndim, const size_t *in_shape);
/* The model's description: the one it was built from, or one written from
 * its layers (any model built with the functions above), which
 * nb_model_from_spec turns into the same model.  malloc'd: the caller
 * free()s it.  NULL when out of memory. */
NB_API char *nb_model_spec(const nb_model *m);
/* Set the input shape of one sample (before the first layer, or matching
 * its width); 0 or -1. */
NB_API int nb_model_set_input_shape(nb_model *m, int ndim, const size_t *shape);
/* Write the input shape into shape[NB_MAX_DIMS]; returns its ndim ([in_width]
 * when never set). */
NB_API int nb_model_input_shape(const nb_model *m, size_t *shape);

/* Load a model from a checkpoint written by nb_checkpoint_save (nabla
 * train, or any program): rebuilt from its stored description, input shape
 * and dtype (checkpoints of older versions: from their MLP configuration),
 * with the weights and buffers loaded.  NULL with nb_errmsg() on error; the
 * caller owns the model. */
NB_API nb_model *nb_model_load(const char *path);
/* Load weights saved from PyTorch with safetensors.torch.save_file(
 * model.state_dict(), path) for the equivalent nn.Sequential ("0.weight",
 * "3.block.1.bias", ...; nabla's own "layers.*" names are read too) into m:
 * every entry must be there with its shape; float32/float64 convert, an
 * integer num_batches_tracked is read as a number.  A tensor the model does
 * not have is an error, as torch's strict loading.  0 or -1. */
NB_API int nb_model_load_torch(nb_model *m, const char *path);

/* Truncated backpropagation through time (states carried across batches,
 * detached).  With batch > 0, each recurrent layer (rnn, lstm, gru) starts a
 * forward of exactly `batch` rows from the final states of the previous
 * such forward -- as values: no gradient crosses into the previous batch --
 * and from zeros at first and after nb_model_reset_states.  Forwards of
 * another batch size start from zeros and leave the states alone.  A held-out
 * text read as streams too is evaluated the same way, batch by batch (reset
 * before and after).  batch 0 turns carrying off.  The states are allocated
 * here, once: the steps allocate nothing more.  0 or -1 (out of memory). */
NB_API int nb_model_carry_states(nb_model *m, size_t batch);
/* Zero the carried states (an epoch's start); nothing when not carrying. */
NB_API void nb_model_reset_states(nb_model *m);
/* The carried states as one block of bytes, every recurrent layer's in
 * order (each [layers][h, c][batch][H] in the model's dtype), so that a run
 * saved mid-epoch resumes its streams where they were: the size (0 when not
 * carrying), a copy out, a copy back in.  get and set: 0, or -1 when bytes
 * is not the size. */
NB_API size_t nb_model_states_bytes(nb_model *m);
NB_API int nb_model_states_get(nb_model *m, void *dst, size_t bytes);
NB_API int nb_model_states_set(nb_model *m, const void *src, size_t bytes);

/* ----------------------------------------------------------- summary */
typedef struct nb_summary_row {
    char name[96]; /* "layers.0", "layers.3.block.1" */
    char kind[32]; /* "linear", "relu", "residual", ... */
    int depth;     /* 0 at top level, 1 inside a block, ... */
    int ndim;      /* output shape of one sample */
    size_t shape[NB_MAX_DIMS];
    size_t params; /* trainable scalars (a block's include its layers') */
} nb_summary_row;

typedef struct nb_summary {
    nb_summary_row *rows; /* n_rows, in build order, nested ones after their block */
    size_t n_rows;
    int in_ndim;
    size_t in_shape[NB_MAX_DIMS];
    size_t params;           /* trainable scalars */
    size_t buffers;          /* running statistics */
    size_t param_bytes;      /* params + buffers, in the model's dtype */
    size_t activation_bytes; /* per sample: every row's output, as the forward keeps it */
    nb_dtype dtype;
} nb_summary;
/* Per-layer summary of m (like torchinfo).  NULL with nb_errmsg() on error;
 * free with nb_summary_free (NULL ok). */
NB_API nb_summary *nb_model_summary(const nb_model *m);
NB_API void nb_summary_free(nb_summary *s);

#ifdef __cplusplus
}
#endif
#endif

/* Call sites for nb_model_forward, as for the ops in nabla.h (see CALL SITES there):
 * outside the include guard, so that the library's NB_BUILDING_LIBRARY or a
 * later NB_NO_CALL_SITES removes them again. */
#if defined(NB_BUILDING_LIBRARY) || defined(NB_NO_CALL_SITES)
#ifdef NB__NN_CALL_SITES
#undef NB__NN_CALL_SITES
#undef nb_model_forward
#endif
#elif !defined(NB__NN_CALL_SITES)
#define NB__NN_CALL_SITES 1
#define nb_model_forward(...) (nb__here(__FILE__, __LINE__), (nb_model_forward)(__VA_ARGS__))
#endif
