/* The fused Linear layer y = act(x w^T + b) (see nb_linear in nabla.h):
 *   x [N, in], w [out, in], b [out] or none, y [N, out], z [N, out] the
 *   pre-activation (kept only when act' needs it, see kernels/linear.h).
 * Forward: the gemm writes x w^T into y (beta 0), then one pass adds b and
 * applies act row by row.  Backward: one pass makes dz = dy act'(.) and sums
 * it into db; then dw += dz^T x (straight into w's gradient buffer, beta 1)
 * and dx += dz w, each only when that input requires grad.  The products are
 * the ones nb_matmul(x, w, 0, 1) makes, in the same order. */
#include "../internal.h"
#include "../kernels/gemm.h"
#include "../kernels/linear.h"

/* C = op(A) op(B) + beta C in dtype dt (row strides lda, ldb, ldc). */
static void nb__lin_gemm(nb_dtype dt, int ta, int tb, size_t M, size_t N, size_t K, const void *A, size_t lda,
                         const void *B, size_t ldb, double beta, void *C, size_t ldc)
{
    if (dt == NB_F32) nb_k_gemm_f32(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
    else nb_k_gemm_f64(ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

static int nb__linear_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    nb_tensor *gx = nb__gbuf(c, x, &err), *gw = nb__gbuf(c, w, &err), *gb = nb__gbuf(c, b, &err);
    if (err) return err;
    const nb_act act = (nb_act)nd->i[0];
    const nb_dtype dt = x->dtype;
    const size_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    const void *dz = nd->gout->data; /* [N, out] */
    if (act != NB_ACT_NONE) {
        void *buf = nb__arena_alloc(c, n * out * nb_dtype_size(dt) + 1);
        if (!buf) return -1;
        dz = buf;
    }
    if (dt == NB_F32)
        nb_k_linear_bwd_f32((float *)dz, gb ? gb->data : NULL, nd->gout->data, nd->out->data, nd->saved, n, out, act,
                            nd->f[0]);
    else
        nb_k_linear_bwd_f64((double *)dz, gb ? gb->data : NULL, nd->gout->data, nd->out->data, nd->saved, n, out, act,
                            nd->f[0]);
    /* dw [out, in] += dz^T [out, N] x [N, in];  dx [N, in] += dz [N, out] w [out, in] */
    if (gw) nb__lin_gemm(dt, 1, 0, out, in, n, dz, out, x->data, in, 1, gw->data, in);
    if (gx) nb__lin_gemm(dt, 0, 0, n, in, out, dz, out, w->data, in, 1, gx->data, in);
    return 0;
}
static const nb__opdef nb__op_linear = {"linear", nb__linear_backward};

nb_tensor *nb_linear(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_act act, double param)
{
    if (!c || !x || !w) return nb__null_arg(__func__);
    if (nb__need_float("linear", x) || nb__need_float("linear", w) || (b && nb__need_float("linear", b))) return NULL;
    if ((unsigned)act >= NB_ACT__COUNT) return nb__err("linear: unknown activation %d", (int)act);
    if (x->dtype != w->dtype || (b && b->dtype != x->dtype))
        return nb__err("linear: dtypes differ (x %s %s, w %s %s%s%s%s%s)", nb__shp(x), nb_dtype_name(x->dtype),
                       nb__shp(w), nb_dtype_name(w->dtype), b ? ", b " : "", b ? nb__shp(b) : "", b ? " " : "",
                       b ? nb_dtype_name(b->dtype) : "");
    if (x->ndim != 2 || w->ndim != 2)
        return nb__err("linear: x %s must be [N, in] and w %s [out, in] (2-D)", nb__shp(x), nb__shp(w));
    if (x->shape[1] != w->shape[1])
        return nb__err("linear: x %s has %zu features but w %s expects %zu (w is [out, in])", nb__shp(x), x->shape[1],
                       nb__shp(w), w->shape[1]);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return nb__err("linear: bias %s must be [%zu] for w %s", nb__shp(b), w->shape[0], nb__shp(w));
    const size_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    nb_tensor *y = nb__new(c, x->dtype, 2, (size_t[]){n, out}); /* [N, out] */
    if (!y) return NULL;
    nb_tensor *ins[3] = {x, w, b};
    const int n_in = b ? 3 : 2;
    bool grad = false;
    for (int i = 0; i < n_in; i++) grad |= nb_requires_grad(ins[i]);
    grad = grad && nb_grad_enabled(c);
    void *z = NULL; /* [N, out], the pre-activation, when the backward needs it */
    if (grad && nb__linear_needs_z(act, param) && !(z = nb__arena_alloc(c, n * out * nb_dtype_size(x->dtype) + 1)))
        return NULL;
    nb__lin_gemm(x->dtype, 0, 1, n, out, in, x->data, in, w->data, in, 0, y->data, out);
    if (x->dtype == NB_F32) nb_k_linear_fwd_f32(y->data, z, b ? b->data : NULL, n, out, act, param);
    else nb_k_linear_fwd_f64(y->data, z, b ? b->data : NULL, n, out, act, param);
    nb__node *nd;
    if (nb__record(c, &nb__op_linear, y, n_in, ins, &nd)) return NULL;
    if (nd) {
        nd->i[0] = act;
        nd->f[0] = param;
        nd->saved = z;
    }
    return y;
}
