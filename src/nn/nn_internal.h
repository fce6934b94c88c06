/* Private to src/nn: what the description parser, the summary and the
 * checkpoint code read from a model beyond the public API (model.c). */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "nabla/nn.h"

typedef struct nb__ext nb__ext;

/* One layer as built, nested ones included (index order = build order). */
typedef struct nb__layer_info {
    const char *kind;        /* "linear", "act", "batchnorm1d", "layernorm", "dropout", "flatten", "residual",
                         or an extension kind's name ("conv2d") */
    const nb__ext *ext;      /* an extension layer (below), else NULL */
    int parent;              /* index of the enclosing residual layer, -1 at top level */
    size_t in, out;          /* widths (values per sample) */
    nb_act act;              /* for "act" */
    double p, eps, momentum; /* act parameter or dropout p; norm eps, momentum */
    int bias, affine;        /* linear has a bias; norm has weight and bias */
} nb__layer_info;

int nb__model_n_all_layers(const nb_model *m);
int nb__model_layer_info(const nb_model *m, int li, nb__layer_info *out); /* 0, or -1 out of range */
/* Trainable (1) or buffer (0) scalars declared so far (also before finalize). */
size_t nb__model_declared(const nb_model *m, int trainable);
/* ------------------------------------------ the layer kinds (spec.c)
 * One row of nb__layer_defs[] per kind; see "Adding a layer kind" in nn.h. */
typedef struct nb__shape {
    int ndim;
    size_t d[NB_MAX_DIMS]; /* one sample, no batch dimension */
} nb__shape;

enum { NB__SPEC_SHAPE = -2 }; /* build: the input shape does not fit (b->expect says what would) */

typedef struct nb__spec_ctx {
    nb_model *m;
    nb__shape in;    /* the shape the layer receives */
    nb__shape out;   /* build writes the shape it gives */
    char expect[64]; /* with NB__SPEC_SHAPE: "[features]", ... */
} nb__spec_ctx;

typedef enum {
    NB__ARG_INT,
    NB__ARG_FLOAT,
    NB__ARG_BOOL,
    NB__ARG_WORD /* one of a few words (spec.c's nb__words), the value its index */
} nb__arg_type;

typedef struct nb__param_def {
    const char *name; /* torch's keyword, e.g. "negative_slope" */
    nb__arg_type type;
    double def, lo, hi; /* default; accepted range (inclusive) */
    int required;       /* no default: must be given */
} nb__param_def;

#define NB__MAX_LAYER_ARGS 8
typedef struct nb__layer_def {
    const char *name;                         /* lower-case torch name: "linear", "batchnorm1d" */
    int tag;                                  /* passed back to build (the activation of an act kind) */
    nb__param_def params[NB__MAX_LAYER_ARGS]; /* in positional order */
    /* Append the layer for b->in and set b->out.  args[i] is params[i]'s
     * value.  0, -1 (nb_errmsg) or NB__SPEC_SHAPE.  For a block kind this
     * opens the block. */
    int (*build)(nb__spec_ctx *b, const struct nb__layer_def *def, const double *args);
    /* Block kinds only (residual): close the block; b->in is the block's
     * input, b->out the last inner layer's output, to be replaced by the
     * block's.  NULL for plain layers. */
    int (*end)(nb__spec_ctx *b);
} nb__layer_def;

/* ------------------------------------------------ extension layers
 * A layer kind that lives in its own file (conv2d, lstm, ...), not in
 * model.c's switch: a nb__ext_kind says how to run it, and its spec.c build
 * function adds it with nb__ext_add and declares its parameters and buffers
 * with nb__ext_declare.  The model then names its entries
 * ("layers.0.weight"), allocates them, checkpoints them, calls forward in
 * its place in the stack (also inside residual blocks), init at
 * nb_model_init and describe when the description is written back.
 *
 *   static nb_tensor *fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
 *   { return nb_mul(c, x, nb__ext_entry(e, 0)); }
 *   static const nb__ext_kind scale_kind = {"scale", fwd, init, describe, NULL, NULL};
 *   ... in build: nb__ext_add(b->m, &scale_kind, args, 1, &b->in, &b->in);
 *                 nb__ext_declare(b->m, "weight", 1, (size_t[]){n}, 1);
 */
#define NB__EXT_MAX_ARGS 12
#define NB__EXT_MAX_ENTRIES 16

typedef struct nb__ext_kind {
    const char *name; /* "conv2d": the kind in names, summaries, anomaly reports */
    /* The layer's output for x ([N, in...], or [N, numel(in)] flat: reshape
     * as needed).  NULL with nb_errmsg() on error. */
    nb_tensor *(*forward)(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r);
    /* Fill the entries for nb_model_init (nb__init_weight/nb__init_bias
     * help).  gain: that of the activation right after the layer (1 when
     * none).  NULL: entries stay zero.  0 or -1. */
    int (*init)(nb__ext *e, nb_init init, double param, double gain, nb_rng *r);
    /* Write the layer as the description reads it back ("conv2d(32,k=3,p=1)");
     * returns what snprintf returns. */
    int (*describe)(const nb__ext *e, char *buf, size_t size);
    /* Free e->state; NULL when the kind keeps none. */
    void (*release)(nb__ext *e);
    /* forward with the activation layer right after it taken in, as one op
     * (the model calls it for activations whose derivative follows from the
     * output, nb__linear_needs_z false, outside anomaly mode); NULL: the
     * two layers run apart. */
    nb_tensor *(*forward_act)(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r, nb_act act, double param);
} nb__ext_kind;

struct nb__ext {
    const nb__ext_kind *kind;
    nb_model *m;
    double a[NB__EXT_MAX_ARGS]; /* the kind's arguments, its own meaning */
    int n_a;
    nb__shape in, out;            /* one sample, no batch dimension */
    int n_ent;                    /* entries declared, in order */
    int ent[NB__EXT_MAX_ENTRIES]; /* (model-private indices) */
    void *state;                  /* the kind's own, freed by release */
};

/* Append an extension layer taking in and giving out (one sample each);
 * a[n_a] is copied.  0, or -1 with nb_errmsg(). */
int nb__ext_add(nb_model *m, const nb__ext_kind *k, const double *a, int n_a, const nb__shape *in,
                const nb__shape *out);
/* Declare a parameter (trainable 1) or buffer (0) of the layer added last,
 * named "<layer prefix>.<leaf>", of shape[ndim] (ndim 0..4).  Returns its
 * slot (0, 1, ... in declaration order) for nb__ext_entry, or -1. */
int nb__ext_declare(nb_model *m, const char *leaf, int ndim, const size_t *shape, int trainable);
/* The tensor in slot i (after the model is finalised; its .grad for a
 * parameter); NULL when i is not declared. */
nb_tensor *nb__ext_entry(const nb__ext *e, int i);
/* Fill w by the scheme, as torch's init functions with these fans and
 * gain (NB_INIT_TORCH: U(+-1/sqrt(fan_in)), torch's default for linear and
 * conv; NB_INIT_NORMAL: N(0, param)). */
void nb__init_weight(nb_tensor *w, nb_init init, double param, double fan_in, double fan_out, double gain, nb_rng *r);
/* A bias: U(+-1/sqrt(fan_in)) for NB_INIT_TORCH, else zeros. */
void nb__init_bias(nb_tensor *b, nb_init init, double fan_in, nb_rng *r);

/* Close a residual block whose input and output are images [C, H, W]: when
 * they differ, the skip path is a 1x1 convolution "proj.weight" [C', C, 1, 1]
 * with the stride that gives the block's output size (flat widths otherwise,
 * as nb_model_residual_end).  0, or -1 with nb_errmsg(). */
int nb__model_residual_end_image(nb_model *m, const nb__shape *in, const nb__shape *out);
/* The recurrent kinds (rnn_layers.c): rnn, lstm, gru (the row's tag) and
 * embedding, built from their spec.c rows' arguments. */
enum { NB__REC_RNN = 0, NB__REC_LSTM = 1, NB__REC_GRU = 2, NB__REC_MAX_LAYERS = NB__EXT_MAX_ENTRIES / 4 };
int nb__build_recurrent(nb__spec_ctx *b, const nb__layer_def *def, const double *args);
int nb__build_embedding(nb__spec_ctx *b, const nb__layer_def *def, const double *args);

/* linear on a sequence [T, F] -> [T, out] (src/nn/seq_linear.c); 0 or -1. */
int nb__build_seq_linear(nb__spec_ctx *b, size_t out, int bias);

/* Keep a copy of the description the model was built from; 0 or -1. */
int nb__model_set_spec(nb_model *m, const char *spec);
/* Every activation layer's output is made from now on (nb_model_layer_output
 * never NULL for one): a monitor reads them.  Without it the forward may take
 * conv2d relu maxpool2d in as one op, and the relu then has no output. */
void nb__model_keep_acts(nb_model *m);
const char *nb__model_spec_stored(const nb_model *m); /* NULL when built layer by layer */

/* The description and the input shape as checkpoint metadata: *spec is
 * malloc'd (free it), shape gets "1,28,28".  0 or -1. */
int nb__model_meta(const nb_model *m, char **spec, char *shape, size_t shape_size);

/* For the gradient monitor: when t is a gated recurrent layer's weight_ih_l<k>
 * or weight_hh_l<k> [G*H, F], its gates' letters in row order ("ifgo" for
 * lstm, "rzn" for gru), else NULL (rnn_layers.c). */
const char *nb__rec_gates(nb_model *m, const nb_tensor *t);

#endif
