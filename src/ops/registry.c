/* The op registry (include/nabla/ops.h): one line per op, indexed by its
 * number; the count is pinned to the enum at compile time, and the tests check
 * that no line is missing and that every op has catalogue cases. */
#include <string.h>

#include "nabla/ops.h"

#define EW "src/ops/elementwise.c"
static const nb_op_def nb__op_defs[] = {
    [NB_OP_ADD] = {"add", 2, EW, 0},
    [NB_OP_SUB] = {"sub", 2, EW, 0},
    [NB_OP_MUL] = {"mul", 2, EW, 0},
    [NB_OP_DIV] = {"div", 2, EW, 0},
    [NB_OP_NEG] = {"neg", 1, EW, 0},
    [NB_OP_ADD_SCALAR] = {"add_scalar", 1, EW, 0},
    [NB_OP_MUL_SCALAR] = {"mul_scalar", 1, EW, 0},
    [NB_OP_RSUB_SCALAR] = {"rsub_scalar", 1, EW, 0},
    [NB_OP_RDIV_SCALAR] = {"rdiv_scalar", 1, EW, 0},
    [NB_OP_POW_SCALAR] = {"pow_scalar", 1, EW, 0},
    [NB_OP_POW] = {"pow", 2, EW, 0},
    [NB_OP_EXP] = {"exp", 1, EW, 0},
    [NB_OP_LOG] = {"log", 1, EW, 0},
    [NB_OP_SQRT] = {"sqrt", 1, EW, 0},
    [NB_OP_ABS] = {"abs", 1, EW, 0},
    [NB_OP_CLAMP] = {"clamp", 1, EW, 0},
    [NB_OP_RELU] = {"relu", 1, EW, 0},
    [NB_OP_LEAKY_RELU] = {"leaky_relu", 1, EW, 0},
    [NB_OP_ELU] = {"elu", 1, EW, 0},
    [NB_OP_GELU] = {"gelu", 1, EW, 0},
    [NB_OP_SIGMOID] = {"sigmoid", 1, EW, 0},
    [NB_OP_TANH] = {"tanh", 1, EW, 0},
    [NB_OP_SOFTPLUS] = {"softplus", 1, EW, 0},
    [NB_OP_MATMUL] = {"matmul", 2, "src/ops/matmul.c", 0},
    [NB_OP_LINEAR] = {"linear", 3, "src/ops/linear.c", 0}, /* x, w, b (b may be NULL) */
    [NB_OP_RESHAPE] = {"reshape", 1, "src/ops/shape.c", 0},
    [NB_OP_TRANSPOSE] = {"transpose", 1, "src/ops/shape.c", 0},
    [NB_OP_PERMUTE] = {"permute", 1, "src/ops/shape.c", 0},
    [NB_OP_SLICE] = {"slice", 1, "src/ops/shape.c", 0},
    [NB_OP_CONCAT] = {"concat", -1, "src/ops/shape.c", 0},
    [NB_OP_SUM] = {"sum", 1, "src/ops/reduce.c", 0},
    [NB_OP_MEAN] = {"mean", 1, "src/ops/reduce.c", 0},
    [NB_OP_MAX] = {"max", 1, "src/ops/reduce.c", 0},
    [NB_OP_MIN] = {"min", 1, "src/ops/reduce.c", 0},
    [NB_OP_SOFTMAX] = {"softmax", 1, "src/ops/softmax.c", 0},
    [NB_OP_LOG_SOFTMAX] = {"log_softmax", 1, "src/ops/softmax.c", 0},
    [NB_OP_CROSS_ENTROPY] = {"cross_entropy", 2, "src/ops/loss.c", 0},
    [NB_OP_NLL] = {"nll", 2, "src/ops/loss.c", 0},
    [NB_OP_MSE] = {"mse", 2, "src/ops/loss.c", 0},
    [NB_OP_BCE_WITH_LOGITS] = {"bce_with_logits", 2, "src/ops/loss.c", 0},
    [NB_OP_DROPOUT] = {"dropout", 1, "src/ops/dropout.c", 0},
    [NB_OP_GATHER] = {"gather", 2, "src/ops/index.c", 0},
    [NB_OP_INDEX_SELECT] = {"index_select", 2, "src/ops/index.c", 0},
    [NB_OP_WHERE] = {"where", 3, "src/ops/index.c", 0},
    [NB_OP_GT] = {"gt", 2, "src/ops/compare.c", 1},
    [NB_OP_LT] = {"lt", 2, "src/ops/compare.c", 1},
    [NB_OP_GE] = {"ge", 2, "src/ops/compare.c", 1},
    [NB_OP_LE] = {"le", 2, "src/ops/compare.c", 1},
    [NB_OP_EQ] = {"eq", 2, "src/ops/compare.c", 1},
    [NB_OP_NE] = {"ne", 2, "src/ops/compare.c", 1},
    [NB_OP_CONV2D] = {"conv2d", 3, "src/ops/conv.c", 0}, /* x, w, b (b may be NULL) */
    [NB_OP_MAX_POOL2D] = {"max_pool2d", 1, "src/ops/conv.c", 0},
    [NB_OP_AVG_POOL2D] = {"avg_pool2d", 1, "src/ops/conv.c", 0},
    [NB_OP_GLOBAL_AVG_POOL2D] = {"global_avg_pool2d", 1, "src/ops/conv.c", 0},
    [NB_OP_BATCH_NORM2D] = {"batch_norm2d", 3, "src/ops/conv.c", 0}, /* x, w, b (w, b may be NULL) */
    [NB_OP_RNN] = {"rnn", -1, "src/ops/rnn.c", 0},                   /* x, w_ih, w_hh, b_ih, b_hh, h0 (those given) */
    [NB_OP_LSTM] = {"lstm", -1, "src/ops/rnn.c", 0},                 /* the same and c0 */
    [NB_OP_GRU] = {"gru", -1, "src/ops/rnn.c", 0},
    [NB_OP_EMBEDDING] = {"embedding", 2, "src/ops/rnn.c", 0}, /* weight, index */
    [NB_OP_APPLY] = {"apply", -1, "src/autograd/function.c", 0},
};
#undef EW

_Static_assert(sizeof nb__op_defs / sizeof nb__op_defs[0] == NB_OP_COUNT,
               "nb__op_defs needs one line per nb_op_id (include/nabla/ops.h)");

const nb_op_def *nb_op_def_get(int id) { return id >= 0 && id < NB_OP_COUNT ? &nb__op_defs[id] : NULL; }

int nb_op_lookup(const char *name)
{
    for (int i = 0; name && i < NB_OP_COUNT; i++)
        if (nb__op_defs[i].name && strcmp(nb__op_defs[i].name, name) == 0) return i;
    return -1;
}
