/* nabla op registry: every op of nabla.h by number, as ggml
 * numbers its ops.  The gradcheck catalogue and the tests walk this list, so an
 * op added here without catalogue cases (one of them with an empty shape)
 * fails the suite; docs/adding-an-op.md lists the files a new op touches.
 *
 *   for (int i = 0; i < NB_OP_COUNT; i++)
 *       printf("%s/%d\n", nb_op_def_get(i)->name, nb_op_def_get(i)->n_in);
 */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nb_op_id {
    /* element-wise, src/ops/elementwise.c */
    NB_OP_ADD,
    NB_OP_SUB,
    NB_OP_MUL,
    NB_OP_DIV,
    NB_OP_NEG,
    NB_OP_ADD_SCALAR,
    NB_OP_MUL_SCALAR,
    NB_OP_RSUB_SCALAR,
    NB_OP_RDIV_SCALAR,
    NB_OP_POW_SCALAR,
    NB_OP_POW,
    NB_OP_EXP,
    NB_OP_LOG,
    NB_OP_SQRT,
    NB_OP_ABS,
    NB_OP_CLAMP,
    NB_OP_RELU,
    NB_OP_LEAKY_RELU,
    NB_OP_ELU,
    NB_OP_GELU,
    NB_OP_SIGMOID,
    NB_OP_TANH,
    NB_OP_SOFTPLUS,
    /* linear algebra, src/ops/matmul.c, src/ops/linear.c */
    NB_OP_MATMUL,
    NB_OP_LINEAR,
    /* shape, src/ops/shape.c */
    NB_OP_RESHAPE,
    NB_OP_TRANSPOSE,
    NB_OP_PERMUTE,
    NB_OP_SLICE,
    NB_OP_CONCAT,
    /* reductions, src/ops/reduce.c */
    NB_OP_SUM,
    NB_OP_MEAN,
    NB_OP_MAX,
    NB_OP_MIN,
    /* softmax family, src/ops/softmax.c */
    NB_OP_SOFTMAX,
    NB_OP_LOG_SOFTMAX,
    /* losses, src/ops/loss.c */
    NB_OP_CROSS_ENTROPY,
    NB_OP_NLL,
    NB_OP_MSE,
    NB_OP_BCE_WITH_LOGITS,
    /* src/ops/dropout.c, src/ops/index.c */
    NB_OP_DROPOUT,
    NB_OP_GATHER,
    NB_OP_INDEX_SELECT,
    NB_OP_WHERE,
    /* comparisons (no gradient), src/ops/compare.c */
    NB_OP_GT,
    NB_OP_LT,
    NB_OP_GE,
    NB_OP_LE,
    NB_OP_EQ,
    NB_OP_NE,
    /* convolutional nets, src/ops/conv.c */
    NB_OP_CONV2D,
    NB_OP_MAX_POOL2D,
    NB_OP_AVG_POOL2D,
    NB_OP_GLOBAL_AVG_POOL2D,
    NB_OP_BATCH_NORM2D,
    /* recurrent, src/ops/rnn.c */
    NB_OP_RNN,
    NB_OP_LSTM,
    NB_OP_GRU,
    NB_OP_EMBEDDING,
    /* custom functions (nb_apply), src/autograd/function.c */
    NB_OP_APPLY,
    NB_OP_COUNT
} nb_op_id;

/* One op: static storage, never freed. */
typedef struct nb_op_def {
    const char *name; /* "add": nb_add, the name in error messages and catalogue cases */
    int n_in;         /* tensor inputs (labels and indices included); -1: any number */
    const char *file; /* where it is implemented, from the repository root */
    int no_grad;      /* 1: not differentiable (comparisons): records no graph node,
                         its output never requires grad */
} nb_op_def;

/* The op numbered id, or NULL when id is not in [0, NB_OP_COUNT). */
NB_API const nb_op_def *nb_op_def_get(int id);
/* The number of the op called name, or -1. */
NB_API int nb_op_lookup(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_OPS_H */
