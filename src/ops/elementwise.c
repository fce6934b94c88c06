/* Element-wise ops: unary functions (math and activations), the scalar forms
 * and broadcasting binary ops.  Each op is a forward (shape check, kernel,
 * record) and a backward that accumulates into its inputs' gradients; the
 * element formulas for both live side by side in kernels/elementwise.inc
 * (the activations' in kernels/act.inc). */
#include "../internal.h"
#include "../kernels/kernels.h"

/* --------------------------------------------------------------- helpers */
int nb__broadcast_shape(const char *op, const nb_tensor *a, const nb_tensor *b, int *ndim, size_t *shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        size_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return nb__erri("%s: shapes %s and %s do not broadcast (dimension %d: %zu vs %zu)", op, nb__shp(a),
                            nb__shp(b), d, sa, sb);
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return 0;
}

int nb__need_float(const char *op, const nb_tensor *a)
{
    if (!nb__is_float(a->dtype))
        return nb__erri("%s: input %s is %s; this op needs float32 or float64", op, nb__shp(a),
                        nb_dtype_name(a->dtype));
    return 0;
}

/* ------------------------------------------------------------------ unary */
static int nb__unary_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb_unary_kind k = (nb_unary_kind)n->i[0];
    if (x->dtype == NB_F32)
        nb_k_unary_bwd_f32(k, gx->data, n->gout->data, x->data, n->out->data, x->numel, n->f[0], n->f[1]);
    else nb_k_unary_bwd_f64(k, gx->data, n->gout->data, x->data, n->out->data, x->numel, n->f[0], n->f[1]);
    return 0;
}

/* One op a line (the formatter does not settle on a layout for this list). */
/* clang-format off */
#define NB__UNARY_OPS(X)                \
    X(neg, NB_U_NEG)                    \
    X(exp, NB_U_EXP)                    \
    X(log, NB_U_LOG)                    \
    X(sqrt, NB_U_SQRT)                  \
    X(abs, NB_U_ABS)                    \
    X(clamp, NB_U_CLAMP)                \
    X(pow_scalar, NB_U_POWS)            \
    X(add_scalar, NB_U_ADDS)            \
    X(mul_scalar, NB_U_MULS)            \
    X(rsub_scalar, NB_U_RSUBS)          \
    X(rdiv_scalar, NB_U_RDIVS)
/* clang-format on */

#define X(name, kind) static const nb__opdef nb__op_##name = {#name, nb__unary_backward};
NB__UNARY_OPS(X)
#undef X

static nb_tensor *nb__unary(nb_ctx *c, const nb__opdef *op, nb_unary_kind k, nb_tensor *a, double p0, double p1)
{
    if (!c || !a) return nb__null_arg(op->name);
    if (nb__need_float(op->name, a)) return NULL;
    nb_tensor *y = nb__new_like(c, a);
    if (!y) return NULL;
    if (a->dtype == NB_F32) nb_k_unary_f32(k, y->data, a->data, a->numel, p0, p1);
    else nb_k_unary_f64(k, y->data, a->data, a->numel, p0, p1);
    nb__node *n;
    if (nb__record(c, op, y, 1, &a, &n)) return NULL;
    if (n) {
        n->i[0] = k;
        n->f[0] = p0;
        n->f[1] = p1;
    }
    return y;
}

nb_tensor *nb_neg(nb_ctx *c, nb_tensor *a) { return nb__unary(c, &nb__op_neg, NB_U_NEG, a, 0, 0); }
nb_tensor *nb_exp(nb_ctx *c, nb_tensor *a) { return nb__unary(c, &nb__op_exp, NB_U_EXP, a, 0, 0); }
nb_tensor *nb_log(nb_ctx *c, nb_tensor *a) { return nb__unary(c, &nb__op_log, NB_U_LOG, a, 0, 0); }
nb_tensor *nb_sqrt(nb_ctx *c, nb_tensor *a) { return nb__unary(c, &nb__op_sqrt, NB_U_SQRT, a, 0, 0); }
nb_tensor *nb_abs(nb_ctx *c, nb_tensor *a) { return nb__unary(c, &nb__op_abs, NB_U_ABS, a, 0, 0); }
nb_tensor *nb_clamp(nb_ctx *c, nb_tensor *a, double lo, double hi)
{
    if (!(lo <= hi)) return nb__err("clamp: lo %g is above hi %g", lo, hi);
    return nb__unary(c, &nb__op_clamp, NB_U_CLAMP, a, lo, hi);
}
nb_tensor *nb_pow_scalar(nb_ctx *c, nb_tensor *a, double p)
{
    return nb__unary(c, &nb__op_pow_scalar, NB_U_POWS, a, p, 0);
}
nb_tensor *nb_add_scalar(nb_ctx *c, nb_tensor *a, double s)
{
    return nb__unary(c, &nb__op_add_scalar, NB_U_ADDS, a, s, 0);
}
nb_tensor *nb_mul_scalar(nb_ctx *c, nb_tensor *a, double s)
{
    return nb__unary(c, &nb__op_mul_scalar, NB_U_MULS, a, s, 0);
}
nb_tensor *nb_rsub_scalar(nb_ctx *c, nb_tensor *a, double s)
{
    return nb__unary(c, &nb__op_rsub_scalar, NB_U_RSUBS, a, s, 0);
}
nb_tensor *nb_rdiv_scalar(nb_ctx *c, nb_tensor *a, double s)
{
    return nb__unary(c, &nb__op_rdiv_scalar, NB_U_RDIVS, a, s, 0);
}

/* ------------------------------------------------------------ activations */
static int nb__act_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb_act act = (nb_act)n->i[0];
    if (x->dtype == NB_F32) nb_k_act_bwd_f32(act, gx->data, n->gout->data, x->data, n->out->data, x->numel, n->f[0]);
    else nb_k_act_bwd_f64(act, gx->data, n->gout->data, x->data, n->out->data, x->numel, n->f[0]);
    return 0;
}

static const nb__opdef nb__op_relu = {"relu", nb__act_backward};
static const nb__opdef nb__op_leaky_relu = {"leaky_relu", nb__act_backward};
static const nb__opdef nb__op_elu = {"elu", nb__act_backward};
static const nb__opdef nb__op_gelu = {"gelu", nb__act_backward};
static const nb__opdef nb__op_sigmoid = {"sigmoid", nb__act_backward};
static const nb__opdef nb__op_tanh = {"tanh", nb__act_backward};
static const nb__opdef nb__op_softplus = {"softplus", nb__act_backward};

static nb_tensor *nb__act(nb_ctx *c, const nb__opdef *op, nb_act act, nb_tensor *a, double param)
{
    if (!c || !a) return nb__null_arg(op->name);
    if (nb__need_float(op->name, a)) return NULL;
    nb_tensor *y = nb__new_like(c, a);
    if (!y) return NULL;
    if (a->dtype == NB_F32) nb_k_act_f32(act, y->data, a->data, a->numel, param);
    else nb_k_act_f64(act, y->data, a->data, a->numel, param);
    nb__node *n;
    if (nb__record(c, op, y, 1, &a, &n)) return NULL;
    if (n) {
        n->i[0] = act;
        n->f[0] = param;
    }
    return y;
}

nb_tensor *nb_relu(nb_ctx *c, nb_tensor *a) { return nb__act(c, &nb__op_relu, NB_ACT_RELU, a, 0); }
nb_tensor *nb_leaky_relu(nb_ctx *c, nb_tensor *a, double slope)
{
    return nb__act(c, &nb__op_leaky_relu, NB_ACT_LEAKY_RELU, a, slope);
}
nb_tensor *nb_elu(nb_ctx *c, nb_tensor *a, double alpha) { return nb__act(c, &nb__op_elu, NB_ACT_ELU, a, alpha); }
nb_tensor *nb_gelu(nb_ctx *c, nb_tensor *a) { return nb__act(c, &nb__op_gelu, NB_ACT_GELU, a, 0); }
nb_tensor *nb_sigmoid(nb_ctx *c, nb_tensor *a) { return nb__act(c, &nb__op_sigmoid, NB_ACT_SIGMOID, a, 0); }
nb_tensor *nb_tanh(nb_ctx *c, nb_tensor *a) { return nb__act(c, &nb__op_tanh, NB_ACT_TANH, a, 0); }
nb_tensor *nb_softplus(nb_ctx *c, nb_tensor *a) { return nb__act(c, &nb__op_softplus, NB_ACT_SOFTPLUS, a, 0); }

/* ----------------------------------------------------------------- binary */
static void nb__bcast_for(nb_k_bcast *bc, const nb_tensor *out, const nb_tensor *a, const nb_tensor *b)
{
    const int nds[2] = {a->ndim, b->ndim};
    const size_t *shapes[2] = {a->shape, b->shape};
    nb_k_bcast_init(bc, out->ndim, out->shape, 2, nds, shapes);
}

static int nb__binary_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *a = n->in[0], *b = n->in[1];
    nb_tensor *ga = nb__gbuf(c, a, &err), *gb = nb__gbuf(c, b, &err);
    if (err) return err;
    nb_k_bcast bc;
    nb__bcast_for(&bc, n->out, a, b);
    nb_binary_kind k = (nb_binary_kind)n->i[0];
    if (a->dtype == NB_F32)
        nb_k_binary_bwd_f32(k, ga ? ga->data : NULL, gb ? gb->data : NULL, n->gout->data, a->data, b->data,
                            n->out->data, &bc);
    else
        nb_k_binary_bwd_f64(k, ga ? ga->data : NULL, gb ? gb->data : NULL, n->gout->data, a->data, b->data,
                            n->out->data, &bc);
    return 0;
}

static const nb__opdef nb__op_add = {"add", nb__binary_backward};
static const nb__opdef nb__op_sub = {"sub", nb__binary_backward};
static const nb__opdef nb__op_mul = {"mul", nb__binary_backward};
static const nb__opdef nb__op_div = {"div", nb__binary_backward};
static const nb__opdef nb__op_pow = {"pow", nb__binary_backward};

static nb_tensor *nb__binary(nb_ctx *c, const nb__opdef *op, nb_binary_kind k, nb_tensor *a, nb_tensor *b)
{
    if (!c || !a || !b) return nb__null_arg(op->name);
    if (nb__need_float(op->name, a) || nb__need_float(op->name, b)) return NULL;
    if (a->dtype != b->dtype)
        return nb__err("%s: dtypes differ (%s %s vs %s %s)", op->name, nb__shp(a), nb_dtype_name(a->dtype), nb__shp(b),
                       nb_dtype_name(b->dtype));
    int nd;
    size_t shape[NB_MAX_DIMS];
    if (nb__broadcast_shape(op->name, a, b, &nd, shape)) return NULL;
    nb_tensor *y = nb__new(c, a->dtype, nd, shape);
    if (!y) return NULL;
    nb_k_bcast bc;
    nb__bcast_for(&bc, y, a, b);
    if (a->dtype == NB_F32) nb_k_binary_f32(k, y->data, a->data, b->data, &bc);
    else nb_k_binary_f64(k, y->data, a->data, b->data, &bc);
    nb_tensor *in[2] = {a, b};
    nb__node *n;
    if (nb__record(c, op, y, 2, in, &n)) return NULL;
    if (n) n->i[0] = k;
    return y;
}

nb_tensor *nb_add(nb_ctx *c, nb_tensor *a, nb_tensor *b) { return nb__binary(c, &nb__op_add, NB_B_ADD, a, b); }
nb_tensor *nb_sub(nb_ctx *c, nb_tensor *a, nb_tensor *b) { return nb__binary(c, &nb__op_sub, NB_B_SUB, a, b); }
nb_tensor *nb_mul(nb_ctx *c, nb_tensor *a, nb_tensor *b) { return nb__binary(c, &nb__op_mul, NB_B_MUL, a, b); }
nb_tensor *nb_div(nb_ctx *c, nb_tensor *a, nb_tensor *b) { return nb__binary(c, &nb__op_div, NB_B_DIV, a, b); }
nb_tensor *nb_pow(nb_ctx *c, nb_tensor *a, nb_tensor *b) { return nb__binary(c, &nb__op_pow, NB_B_POW, a, b); }
