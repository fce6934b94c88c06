/* Indexing: gather (torch.gather), index_select and where.  The forwards only
 * move data, so `a` may be any dtype; gradients flow through float ones.
 * Indices are int32 and checked before anything is read: an index out of
 * range is an error naming the op, the value and the dimension's size.  The
 * index (or where's condition, as a byte mask) is copied into the arena when a
 * node is recorded, so the caller's tensor need not outlive the forward. */
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../kernels/walk.h"

/* axis in [-ndim, ndim) -> [0, ndim); -1 when out of range. */
static int nb__axis(int axis, int ndim)
{
    if (axis < -ndim || axis >= ndim) return -1;
    return axis < 0 ? axis + ndim : axis;
}

/* 0 when index is int32 and every value is in [0, size), else -1 with an error. */
static int nb__check_index(const char *op, const nb_tensor *index, int axis, size_t size, const nb_tensor *a)
{
    if (index->dtype != NB_I32)
        return nb__erri("%s: index %s is %s; it must be int32", op, nb__shp(index), nb_dtype_name(index->dtype));
    const int32_t *ix = index->data;
    for (size_t i = 0; i < index->numel; i++)
        if (ix[i] < 0 || (size_t)ix[i] >= size)
            return nb__erri("%s: index %ld is out of range for dimension %d of size %zu (a is %s)", op, (long)ix[i],
                            axis, size, nb__shp(a));
    return 0;
}

/* A copy of the index values in the arena, for the backward. */
static int32_t *nb__save_index(nb_ctx *c, const nb_tensor *index)
{
    int32_t *p = nb__arena_alloc(c, index->numel * sizeof *p);
    if (p) memcpy(p, index->data, index->numel * sizeof *p);
    return p;
}

/* ------------------------------------------------------------------ gather */
/* The walk over index's shape whose operand 0 steps through a, except along
 * axis, where the offset is index[i] * astride[axis]. */
static void nb__gather_walk(nb_k_bcast *bc, size_t *ax_stride, const nb_tensor *a, int ax, const size_t *ishape)
{
    size_t ast[NB_MAX_DIMS];
    nb__strides(ast, a->ndim, a->shape);
    nb__walk_init(bc, a->ndim, ishape);
    for (int d = 0; d < a->ndim; d++) bc->st[0][d] = d == ax ? 0 : ast[d];
    *ax_stride = ast[ax];
}

static int nb__gather_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    const int32_t *ix = n->saved; /* [out] */
    nb_k_bcast bc;
    size_t s;
    nb__gather_walk(&bc, &s, x, (int)n->i[0], n->out->shape);
    nb__walk w;
    for (nb__walk_start(&w, &bc, 0); w.row < w.rows; nb__walk_next(&w)) {
        const size_t m = w.inner, i = w.row * m, o0 = w.o[0], s0 = w.s[0];
        if (x->dtype == NB_F32) {
            float *g = gx->data;
            const float *go = n->gout->data;
            for (size_t j = 0; j < m; j++) g[o0 + j * s0 + (size_t)ix[i + j] * s] += go[i + j];
        } else {
            double *g = gx->data;
            const double *go = n->gout->data;
            for (size_t j = 0; j < m; j++) g[o0 + j * s0 + (size_t)ix[i + j] * s] += go[i + j];
        }
    }
    return 0;
}
static const nb__opdef nb__op_gather = {"gather", nb__gather_backward};

nb_tensor *nb_gather(nb_ctx *c, nb_tensor *a, int axis, const nb_tensor *index)
{
    if (!c || !a || !index) return nb__null_arg(__func__);
    int ax = nb__axis(axis, a->ndim);
    if (ax < 0) return nb__err("gather: axis %d is out of range for %s", axis, nb__shp(a));
    if (index->ndim != a->ndim)
        return nb__err("gather: index %s must have as many dims as a %s", nb__shp(index), nb__shp(a));
    for (int d = 0; d < a->ndim; d++)
        if (d != ax && index->shape[d] > a->shape[d])
            return nb__err("gather: index %s is larger than a %s in dimension %d", nb__shp(index), nb__shp(a), d);
    if (nb__check_index("gather", index, ax, a->shape[ax], a)) return NULL;
    nb_tensor *y = nb__new(c, a->dtype, index->ndim, index->shape); /* out: index's shape */
    if (!y) return NULL;
    const int32_t *ix = index->data;
    nb_k_bcast bc;
    size_t s;
    nb__gather_walk(&bc, &s, a, ax, index->shape);
    char *dst = y->data;
    const char *src = a->data;
    const size_t esz = nb_dtype_size(a->dtype);
    nb__walk w;
    for (nb__walk_start(&w, &bc, 0); w.row < w.rows; nb__walk_next(&w)) {
        const size_t m = w.inner, i = w.row * m, o0 = w.o[0], s0 = w.s[0];
        if (esz == 4)
            for (size_t j = 0; j < m; j++)
                memcpy(dst + 4 * (i + j), src + 4 * (o0 + j * s0 + (size_t)ix[i + j] * s), 4);
        else
            for (size_t j = 0; j < m; j++)
                memcpy(dst + 8 * (i + j), src + 8 * (o0 + j * s0 + (size_t)ix[i + j] * s), 8);
    }
    nb__node *n;
    if (nb__record(c, &nb__op_gather, y, 1, &a, &n)) return NULL;
    if (n) {
        if (!(n->saved = nb__save_index(c, index))) return NULL;
        n->i[0] = ax;
    }
    return y;
}

/* ------------------------------------------------------------ index_select */
static int nb__index_select_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *x = n->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    const int32_t *ix = n->saved; /* [len] */
    int ax = (int)n->i[0];
    size_t dim = x->shape[ax], len = n->out->shape[ax], outer = 1, inner = 1, esz = nb_dtype_size(x->dtype);
    for (int d = 0; d < ax; d++) outer *= x->shape[d];
    for (int d = ax + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (size_t o = 0; o < outer; o++) /* duplicates in the index accumulate */
        for (size_t j = 0; j < len; j++)
            nb__axpy_dt(x->dtype, (char *)gx->data + (o * dim + (size_t)ix[j]) * inner * esz,
                        (const char *)n->gout->data + (o * len + j) * inner * esz, inner);
    return 0;
}
static const nb__opdef nb__op_index_select = {"index_select", nb__index_select_backward};

nb_tensor *nb_index_select(nb_ctx *c, nb_tensor *a, int axis, const nb_tensor *index)
{
    if (!c || !a || !index) return nb__null_arg(__func__);
    int ax = nb__axis(axis, a->ndim);
    if (ax < 0) return nb__err("index_select: axis %d is out of range for %s", axis, nb__shp(a));
    if (index->ndim != 1) return nb__err("index_select: index %s must be 1-D", nb__shp(index));
    if (nb__check_index("index_select", index, ax, a->shape[ax], a)) return NULL;
    size_t shape[NB_MAX_DIMS], dim = a->shape[ax], len = index->numel, outer = 1, inner = 1;
    size_t esz = nb_dtype_size(a->dtype);
    memcpy(shape, a->shape, sizeof shape);
    shape[ax] = len;
    for (int d = 0; d < ax; d++) outer *= a->shape[d];
    for (int d = ax + 1; d < a->ndim; d++) inner *= a->shape[d];
    nb_tensor *y = nb__new(c, a->dtype, a->ndim, shape);
    if (!y) return NULL;
    const int32_t *ix = index->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < len; j++)
            memcpy((char *)y->data + (o * len + j) * inner * esz,
                   (const char *)a->data + (o * dim + (size_t)ix[j]) * inner * esz, inner * esz);
    nb__node *n;
    if (nb__record(c, &nb__op_index_select, y, 1, &a, &n)) return NULL;
    if (n) {
        if (!(n->saved = nb__save_index(c, index))) return NULL;
        n->i[0] = ax;
    }
    return y;
}

/* ------------------------------------------------------------------- where */
/* The broadcast walk over the output with operands 0 = cond (as its mask), 1 = a, 2 = b. */
static void nb__where_walk(nb_k_bcast *bc, const nb_tensor *out, int cnd, const size_t *cshape, const nb_tensor *a,
                           const nb_tensor *b)
{
    const int nds[3] = {cnd, a->ndim, b->ndim};
    const size_t *shapes[3] = {cshape, a->shape, b->shape};
    nb_k_bcast_init(bc, out->ndim, out->shape, 3, nds, shapes);
}

static int nb__where_backward(nb_ctx *c, nb__node *n)
{
    int err = 0;
    nb_tensor *a = n->in[0], *b = n->in[1];
    nb_tensor *ga = nb__gbuf(c, a, &err), *gb = nb__gbuf(c, b, &err);
    if (err) return err;
    const unsigned char *m = n->saved; /* cond != 0, cond's shape */
    size_t cshape[NB_MAX_DIMS];
    for (int d = 0; d < (int)n->i[0]; d++) cshape[d] = (size_t)n->i[1 + d];
    nb_k_bcast bc;
    nb__where_walk(&bc, n->out, (int)n->i[0], cshape, a, b);
    /* ga += g where cond, gb += g elsewhere (operand 1 is a, 2 is b); the walk
     * sums over broadcast dims */
    for (int k = 1; k <= 2; k++) {
        nb_tensor *gk = k == 1 ? ga : gb;
        if (!gk) continue;
        const unsigned char want = k == 1;
        nb__walk w;
        for (nb__walk_start(&w, &bc, 0); w.row < w.rows; nb__walk_next(&w)) {
            const size_t len = w.inner, i = w.row * len, o0 = w.o[0], s0 = w.s[0], ok = w.o[k], sk = w.s[k];
            if (a->dtype == NB_F32) {
                float *p = gk->data;
                const float *g = n->gout->data;
                for (size_t j = 0; j < len; j++)
                    if (m[o0 + j * s0] == want) p[ok + j * sk] += g[i + j];
            } else {
                double *p = gk->data;
                const double *g = n->gout->data;
                for (size_t j = 0; j < len; j++)
                    if (m[o0 + j * s0] == want) p[ok + j * sk] += g[i + j];
            }
        }
    }
    return 0;
}
static const nb__opdef nb__op_where = {"where", nb__where_backward};

nb_tensor *nb_where(nb_ctx *c, const nb_tensor *cond, nb_tensor *a, nb_tensor *b)
{
    if (!c || !cond || !a || !b) return nb__null_arg(__func__);
    if (a->dtype != b->dtype)
        return nb__err("where: dtypes of a and b differ (a %s %s, b %s %s)", nb__shp(a), nb_dtype_name(a->dtype),
                       nb__shp(b), nb_dtype_name(b->dtype));
    const nb_tensor *ops[3] = {cond, a, b};
    int nd = 0;
    for (int k = 0; k < 3; k++) nd = ops[k]->ndim > nd ? ops[k]->ndim : nd;
    size_t shape[NB_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        shape[d] = 1;
        for (int k = 0; k < 3; k++) {
            int od = d - (nd - ops[k]->ndim);
            size_t s = od >= 0 ? ops[k]->shape[od] : 1;
            if (s != 1 && shape[d] != 1 && s != shape[d])
                return nb__err("where: shapes cond %s, a %s and b %s do not broadcast (dimension %d)", nb__shp(cond),
                               nb__shp(a), nb__shp(b), d);
            if (s != 1) shape[d] = s;
        }
    }
    nb_tensor *y = nb__new(c, a->dtype, nd, shape);
    unsigned char *m = y ? nb__arena_alloc(c, cond->numel) : NULL; /* cond != 0 */
    if (!m) return NULL;
    for (size_t i = 0; i < cond->numel; i++) m[i] = nb_get(cond, i) != 0; /* NaN counts as true */
    nb_k_bcast bc;
    nb__where_walk(&bc, y, cond->ndim, cond->shape, a, b);
    char *dst = y->data;
    const char *pa = a->data, *pb = b->data;
    const size_t esz = nb_dtype_size(a->dtype);
    nb__walk w;
    for (nb__walk_start(&w, &bc, 0); w.row < w.rows; nb__walk_next(&w)) {
        const size_t len = w.inner, i = w.row * len, o0 = w.o[0], s0 = w.s[0], o1 = w.o[1], s1 = w.s[1], o2 = w.o[2],
                     s2 = w.s[2];
        if (esz == 4)
            for (size_t j = 0; j < len; j++)
                memcpy(dst + 4 * (i + j), m[o0 + j * s0] ? pa + 4 * (o1 + j * s1) : pb + 4 * (o2 + j * s2), 4);
        else
            for (size_t j = 0; j < len; j++)
                memcpy(dst + 8 * (i + j), m[o0 + j * s0] ? pa + 8 * (o1 + j * s1) : pb + 8 * (o2 + j * s2), 8);
    }
    nb_tensor *in[2] = {a, b};
    nb__node *n;
    if (nb__record(c, &nb__op_where, y, 2, in, &n)) return NULL;
    if (n) {
        n->saved = m;
        n->i[0] = cond->ndim;
        for (int d = 0; d < cond->ndim; d++) n->i[1 + d] = (long)cond->shape[d];
    }
    return y;
}
