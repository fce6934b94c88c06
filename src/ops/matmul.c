/* Matrix product with batch dims:
 *   a [..., m, k] x b [..., k, n] -> [..., m, n]
 * trans_a reads a as stored [..., k, m], trans_b reads b as stored [..., n, k]
 * (the gemm kernel's flags, so nothing is copied).  The batch dims (`...`) are
 * equal, or one operand is 2-D and reused for every batch; its gradient then
 * sums over the batch (the accumulating gemm does that by itself).
 * 1-D operands are rejected: reshape a vector to [1, k] or [k, 1]. */
#include "../internal.h"
#include "../kernels/gemm.h"

/* Sizes of one product and where each batch starts (elements). */
typedef struct {
    size_t batch, m, n, k;
    size_t lda, ldb;   /* row strides of a and b as stored */
    size_t sa, sb, sc; /* elements between batches; 0 = reused */
} nb__mm;

static void nb__mm_dims(const nb_tensor *a, const nb_tensor *b, int ta, int tb, nb__mm *d)
{
    const size_t a0 = a->shape[a->ndim - 2], a1 = a->shape[a->ndim - 1];
    const size_t b0 = b->shape[b->ndim - 2], b1 = b->shape[b->ndim - 1];
    d->m = ta ? a1 : a0;
    d->k = ta ? a0 : a1;
    d->n = tb ? b0 : b1;
    d->lda = a1;
    d->ldb = b1;
    const nb_tensor *big = a->ndim >= b->ndim ? a : b; /* the batched one, if any */
    d->batch = 1;
    for (int i = 0; i < big->ndim - 2; i++) d->batch *= big->shape[i];
    d->sa = a->ndim > 2 ? a0 * a1 : 0;
    d->sb = b->ndim > 2 ? b0 * b1 : 0;
    d->sc = d->m * d->n;
}

/* C[coff] = op(A[aoff]) op(B[boff]) + beta C, in the tensors' dtype. */
static void nb__gemm(nb_dtype dt, int ta, int tb, size_t M, size_t N, size_t K, const void *A, size_t aoff, size_t lda,
                     const void *B, size_t boff, size_t ldb, double beta, void *C, size_t coff, size_t ldc)
{
    if (dt == NB_F32)
        nb_k_gemm_f32(ta, tb, M, N, K, 1.0f, (const float *)A + aoff, lda, (const float *)B + boff, ldb, (float)beta,
                      (float *)C + coff, ldc);
    else
        nb_k_gemm_f64(ta, tb, M, N, K, 1.0, (const double *)A + aoff, lda, (const double *)B + boff, ldb, beta,
                      (double *)C + coff, ldc);
}

static int nb__matmul_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *a = nd->in[0], *b = nd->in[1];
    nb_tensor *ga = nb__gbuf(c, a, &err), *gb = nb__gbuf(c, b, &err);
    if (err) return err;
    const int ta = (int)nd->i[0], tb = (int)nd->i[1];
    const nb_dtype dt = a->dtype;
    nb__mm d;
    nb__mm_dims(a, b, ta, tb, &d);
    const void *g = nd->gout->data; /* dC: [..., m, n] */
    for (size_t t = 0; t < d.batch; t++) {
        const size_t ao = t * d.sa, bo = t * d.sb, co = t * d.sc;
        /* d op(A) = dC op(B)^T [m, k]; stored transposed when ta. */
        if (ga && !ta) nb__gemm(dt, 0, !tb, d.m, d.k, d.n, g, co, d.n, b->data, bo, d.ldb, 1, ga->data, ao, d.lda);
        if (ga && ta) nb__gemm(dt, tb, 1, d.k, d.m, d.n, b->data, bo, d.ldb, g, co, d.n, 1, ga->data, ao, d.lda);
        /* d op(B) = op(A)^T dC [k, n]; stored transposed when tb. */
        if (gb && !tb) nb__gemm(dt, !ta, 0, d.k, d.n, d.m, a->data, ao, d.lda, g, co, d.n, 1, gb->data, bo, d.ldb);
        if (gb && tb) nb__gemm(dt, 1, ta, d.n, d.k, d.m, g, co, d.n, a->data, ao, d.lda, 1, gb->data, bo, d.ldb);
    }
    return 0;
}
static const nb__opdef nb__op_matmul = {"matmul", nb__matmul_backward};

nb_tensor *nb_matmul(nb_ctx *c, nb_tensor *a, nb_tensor *b, int trans_a, int trans_b)
{
    if (!c || !a || !b) return nb__null_arg(__func__);
    if (nb__need_float("matmul", a) || nb__need_float("matmul", b)) return NULL;
    if (a->dtype != b->dtype)
        return nb__err("matmul: dtypes differ (a %s %s, b %s %s)", nb__shp(a), nb_dtype_name(a->dtype), nb__shp(b),
                       nb_dtype_name(b->dtype));
    if (a->ndim < 2 || b->ndim < 2)
        return nb__err("matmul: operands need at least 2 dims (a %s, b %s); reshape a vector to [1, k] or [k, 1]",
                       nb__shp(a), nb__shp(b));
    const int ta = trans_a != 0, tb = trans_b != 0;
    const char *tra = ta ? " (transposed)" : "", *trb = tb ? " (transposed)" : "";
    nb__mm d;
    nb__mm_dims(a, b, ta, tb, &d);
    const size_t kb = tb ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    if (d.k != kb)
        return nb__err("matmul: inner dims differ: a %s%s has k = %zu, b %s%s has k = %zu", nb__shp(a), tra, d.k,
                       nb__shp(b), trb, kb);
    bool batch_ok = a->ndim == 2 || b->ndim == 2 || a->ndim == b->ndim;
    for (int i = 0; batch_ok && a->ndim > 2 && b->ndim > 2 && i < a->ndim - 2; i++)
        batch_ok = a->shape[i] == b->shape[i];
    if (!batch_ok)
        return nb__err("matmul: batch dims of a %s and b %s differ (they must be equal, or one operand 2-D)",
                       nb__shp(a), nb__shp(b));
    const nb_tensor *big = a->ndim >= b->ndim ? a : b;
    size_t shape[NB_MAX_DIMS];
    for (int i = 0; i < big->ndim - 2; i++) shape[i] = big->shape[i];
    shape[big->ndim - 2] = d.m;
    shape[big->ndim - 1] = d.n;
    nb_tensor *y = nb__new(c, a->dtype, big->ndim, shape); /* [..., m, n] */
    if (!y) return NULL;
    for (size_t t = 0; t < d.batch; t++)
        nb__gemm(a->dtype, ta, tb, d.m, d.n, d.k, a->data, t * d.sa, d.lda, b->data, t * d.sb, d.ldb, 0, y->data,
                 t * d.sc, d.n);
    nb_tensor *in[2] = {a, b};
    nb__node *n;
    if (nb__record(c, &nb__op_matmul, y, 2, in, &n)) return NULL;
    if (n) {
        n->i[0] = ta;
        n->i[1] = tb;
    }
    return y;
}
