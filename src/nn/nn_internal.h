/* Private to src/nn: what the description parser, the summary and the
 * checkpoint code read from a model beyond the public API (model.c). */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "nabla/nn.h"

/* One layer as built, nested ones included (index order = build order). */
typedef struct nb__layer_info {
    const char *kind;        /* "linear", "act", "batchnorm1d", "layernorm", "dropout", "flatten", "residual" */
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

typedef enum { NB__ARG_INT, NB__ARG_FLOAT, NB__ARG_BOOL } nb__arg_type;

typedef struct nb__param_def {
    const char *name; /* torch's keyword, e.g. "negative_slope" */
    nb__arg_type type;
    double def, lo, hi; /* default; accepted range (inclusive) */
    int required;       /* no default: must be given */
} nb__param_def;

#define NB__MAX_LAYER_ARGS 4
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

/* Keep a copy of the description the model was built from; 0 or -1. */
int nb__model_set_spec(nb_model *m, const char *spec);
const char *nb__model_spec_stored(const nb_model *m); /* NULL when built layer by layer */

/* The description and the input shape as checkpoint metadata: *spec is
 * malloc'd (free it), shape gets "1,28,28".  0 or -1. */
int nb__model_meta(const nb_model *m, char **spec, char *shape, size_t shape_size);

#endif
