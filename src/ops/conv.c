/* Convolutional ops (see the convolution section of nabla.h), all NCHW:
 *   nb_conv2d            y = conv(x, w) + b by im2col and the gemm kernel
 *   nb_max_pool2d        gradient to the first maximum of each window
 *   nb_avg_pool2d        padding counted in the divisor (PyTorch's default)
 *   nb_global_avg_pool2d [N, C, H, W] -> [N, C]
 *   nb_batch_norm2d      batch or running statistics by the ctx's mode
 * Shapes (letters as in kernels/conv.h): x [N, C, H, W], w [O, C/G, KH, KW],
 * b [O], y [N, O, OH, OW]; K = C KH KW, P = OH OW, G groups, Og = O/G,
 * Kg = K/G.  conv2d forward, image by image: col_n [K, P] = im2col(x_n)
 * (one image's, in the task's scratch, still in cache when read), then group
 * by group y_n,g [Og, P] = w_g [Og, Kg] col_g,n [Kg, P] + b (the products
 * write y's NCHW planes; the bias, then a fused activation, follow while the
 * image's planes are in cache).
 * Backward, image by image: db += the sums of dy; col_n again (a copy of
 * x_n, cheaper than keeping [K, N P] for the whole batch: 14 MB for the
 * benchmark CNN's second layer at batch 64, written and read back from
 * memory); dw_g += dy_n,g col_g,n^T; dcol_g [Kg, P] = w_g^T dy_n,g;
 * dx_n += col2im(dcol) (one image's dcol, still in cache).  Groups of images
 * are the thread pool's tasks (dw summed in fixed chunks of the batch: see
 * conv2d below).  dy is read in place (no moved copy).  Every buffer is in
 * the ctx arena, so a training step allocates nothing once the arena has
 * grown. */
#include <math.h>

#include "../internal.h"
#include "../core/pool.h"
#include "../kernels/conv.h"
#include "../kernels/gemm.h"
#include "../kernels/kernels.h"
#include "../kernels/linear.h"

/* C = op(A) op(B) + beta C in dtype dt. */
static void nb__cv_gemm(nb_dtype dt, int ta, int tb, size_t M, size_t N, size_t K, const void *A, size_t lda,
                        const void *B, size_t ldb, double beta, void *C, size_t ldc)
{
    if (!M || !N) return;
    if (dt == NB_F32) nb_k_gemm_f32(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
    else nb_k_gemm_f64(ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

/* The window of op over x [N, C, H, W] (x checked 4-D); fills g, 0 or -1. */
static int nb__win(const char *op, const nb_tensor *x, size_t kh, size_t kw, int stride, int pad, int dil,
                   nb_k_win2d *g)
{
    if (stride < 1 || pad < 0 || dil < 1)
        return nb__erri("%s: stride %d, padding %d, dilation %d on x %s: need stride >= 1, padding >= 0, "
                        "dilation >= 1",
                        op, stride, pad, dil, nb__shp(x));
    *g = (nb_k_win2d){.n = x->shape[0],
                      .c = x->shape[1],
                      .h = x->shape[2],
                      .w = x->shape[3],
                      .kh = kh,
                      .kw = kw,
                      .stride = (size_t)stride,
                      .pad = (size_t)pad,
                      .dil = (size_t)dil};
    const size_t eh = (size_t)dil * (kh - 1) + 1, ew = (size_t)dil * (kw - 1) + 1; /* window extent */
    const size_t ph = g->h + 2 * (size_t)pad, pw = g->w + 2 * (size_t)pad;
    if (kh == 0 || kw == 0 || ph < eh || pw < ew)
        return nb__erri("%s: the %zux%zu window (dilation %d) does not fit x %s padded by %d: the output would be "
                        "empty",
                        op, kh, kw, dil, nb__shp(x), pad);
    g->oh = (ph - eh) / g->stride + 1;
    g->ow = (pw - ew) / g->stride + 1;
    return 0;
}

static int nb__need4(const char *op, const char *what, const nb_tensor *t)
{
    if (t->ndim != 4) return nb__erri("%s: %s %s must be 4-D [N, C, H, W]", op, what, nb__shp(t));
    return 0;
}

/* ------------------------------------------------------------- conv2d */
/* Batch-level parallelism.  One image's products are often below the size
 * the gemm kernel cuts across the pool, so images are what the pool shares:
 * tasks run whole images, and inside a task the products run in it alone
 * (core/pool.h: a region started by a task is serial).  The forward and dx
 * are per image, so any split gives the same bits.  dw is a sum over
 * images: the batch is cut into NB__CV_CHUNKS (or N, if fewer) chunks, a
 * number that depends on the shape only; chunk 0 adds into dw, every other
 * one into a partial of its own, added to dw in chunk order at the end. */
#define NB__CV_CHUNKS 8
/* Below this many multiply-adds a pass runs in the caller (whose products may
 * still use the pool): waking it costs ~10 us. */
#define NB__CV_PAR_MIN ((size_t)1 << 17)

typedef struct {
    nb_dtype dt;
    size_t es, O, P, NP, K, groups, og, kg, hw_in; /* hw_in: C H W of one input image */
    size_t n, nchunks, ntasks;
    nb_act act;    /* the activation taken in (nb__conv2d_act), NB_ACT_NONE when none */
    double param;  /* its parameter */
    nb_k_win2d g1; /* the window on one image */
    const char *x, *w, *b, *dy;
    char *y, *gx, *gw, *part, *col, *dcol; /* part: nchunks - 1 partial dw; col, dcol: one [K, P] per task */
    /* with a max pool taken in (nb__conv2d_relu_pool): its window on one
     * image's output, y then being the pooled output, and its argmax; ys, dz:
     * one [O, P] per task (the image's relu(conv), its gradient); dbp [N, O]:
     * the per-plane sums of the gradient for db */
    size_t pool;
    nb_k_win2d gp;
    uint32_t *idx;
    const char *pooled;
    char *ys, *dz;
    double *dbp;
    /* on the pool: lend_sz bytes of product scratch per task (nb__gemm_lend) */
    char *lend;
    size_t lend_sz;
} nb__cv_job;

/* The product scratch of one task: the largest of the products it runs, each
 * whole, 64-byte multiples (the arena aligns to 64). */
static size_t nb__cv_scratch(nb_dtype dt, int ta, int tb, size_t M, size_t N, size_t K, size_t lda, size_t ldb,
                             size_t ldc, size_t have)
{
    const size_t b = dt == NB_F32 ? nb_k_gemm_scratch_f32(ta, tb, M, N, K, lda, ldb, ldc)
                                  : nb_k_gemm_scratch_f64(ta, tb, M, N, K, lda, ldb, ldc);
    const size_t r = (b + 63) / 64 * 64;
    return r > have ? r : have;
}

/* Task t's share of the lent scratch, lent to the products it runs next. */
static void nb__cv_lend(const nb__cv_job *j, size_t t)
{
    if (j->lend) nb__gemm_lend(j->lend + t * j->lend_sz, j->lend_sz);
}

/* col [K, P] = im2col(x_n), the scratch of task t. */
static const char *nb__cv_col(const nb__cv_job *j, size_t n, size_t t)
{
    char *col = j->col + t * j->K * j->P * j->es;
    if (j->dt == NB_F32) nb_k_im2col_f32((float *)col, (const float *)j->x + n * j->hw_in, &j->g1);
    else nb_k_im2col_f64((double *)col, (const double *)j->x + n * j->hw_in, &j->g1);
    return col;
}

/* Images [n0, n1) of the forward in task t: y_n = w col_n + b, group by group. */
static void nb__cv_fwd_images(const nb__cv_job *j, size_t n0, size_t n1, size_t t)
{
    const size_t es = j->es, P = j->P;
    for (size_t n = n0; n < n1; n++) {
        char *yn = j->pool ? j->ys + t * j->O * P * es : j->y + n * j->O * P * es; /* [O, P] */
        const char *col = nb__cv_col(j, n, t);
        for (size_t k = 0; k < j->groups; k++) /* y_n,g [Og, P] = w_g [Og, Kg] col_g,n [Kg, P] */
            nb__cv_gemm(j->dt, 0, 0, j->og, P, j->kg, j->w + k * j->og * j->kg * es, j->kg, col + k * j->kg * P * es, P,
                        0, yn + k * j->og * P * es, P);
        /* the bias, then the activation, in place while the image is in cache
         * (the product writes y without reading it) */
        if (j->b && j->dt == NB_F32) nb_k_conv_bias_f32((float *)yn, (const float *)j->b, j->O, P);
        else if (j->b) nb_k_conv_bias_f64((double *)yn, (const double *)j->b, j->O, P);
        if (j->act != NB_ACT_NONE && j->dt == NB_F32)
            nb_k_act_f32(j->act, (float *)yn, (const float *)yn, j->O * P, j->param);
        else if (j->act != NB_ACT_NONE) nb_k_act_f64(j->act, (double *)yn, (const double *)yn, j->O * P, j->param);
        if (!j->pool) continue;
        /* the pool, from the image's planes still in cache */
        const size_t pq = j->gp.oh * j->gp.ow;
        if (j->dt == NB_F32)
            nb_k_maxpool_f32((float *)j->y + n * j->O * pq, j->idx + n * j->O * pq, (const float *)yn, &j->gp);
        else nb_k_maxpool_f64((double *)j->y + n * j->O * pq, j->idx + n * j->O * pq, (const double *)yn, &j->gp);
    }
}

static void nb__cv_fwd_task(void *arg, size_t t)
{
    const nb__cv_job *j = arg;
    nb__cv_lend(j, t);
    nb__cv_fwd_images(j, t * j->n / j->ntasks, (t + 1) * j->n / j->ntasks, t);
    nb__gemm_lend(NULL, 0);
}

/* Chunk i of the backward, with the dcol scratch of task t: image by image,
 * dw (or chunk i's partial) += dy_n col_n^T; dcol = w^T dy_n; dx_n +=
 * col2im(dcol) (dy_n and col_n read where they lie, dcol still in cache). */
static void nb__cv_bwd_chunk(const nb__cv_job *j, size_t i, size_t t)
{
    const size_t es = j->es, P = j->P, n0 = i * j->n / j->nchunks, n1 = (i + 1) * j->n / j->nchunks;
    char *dw = !j->gw ? NULL : i == 0 ? j->gw : j->part + (i - 1) * j->O * j->kg * es; /* [O, Kg] */
    char *dcol = j->dcol ? j->dcol + t * j->K * P * es : NULL;                         /* [K, P] */
    for (size_t n = n0; n < n1; n++) {
        const char *dyn = j->dy + n * j->O * P * es;
        if (j->pool) { /* the image's gradient of the conv output, from the pool's (in cache) */
            char *dz = j->dz + t * j->O * P * es;
            const size_t pq = j->gp.oh * j->gp.ow, at = n * j->O * pq;
            if (j->dt == NB_F32)
                nb_k_relu_unpool_f32((float *)dz, (const float *)j->dy + at, (const float *)j->pooled + at, j->idx + at,
                                     j->O, P, pq);
            else
                nb_k_relu_unpool_f64((double *)dz, (const double *)j->dy + at, (const double *)j->pooled + at,
                                     j->idx + at, j->O, P, pq);
            for (size_t o = 0; j->dbp && o < j->O; o++)
                j->dbp[n * j->O + o] = j->dt == NB_F32 ? nb_k_conv_plane_sum_f32((const float *)dz + o * P, P)
                                                       : nb_k_conv_plane_sum_f64((const double *)dz + o * P, P);
            dyn = dz;
        }
        const char *col = dw ? nb__cv_col(j, n, t) : NULL;
        for (size_t k = 0; dw && k < j->groups; k++) /* dw_g [Og, Kg] += dy_n,g [Og, P] col_g,n^T */
            nb__cv_gemm(j->dt, 0, 1, j->og, j->kg, P, dyn + k * j->og * P * es, P, col + k * j->kg * P * es, P,
                        i == 0 || n > n0 ? 1 : 0, dw + k * j->og * j->kg * es, j->kg);
        if (!dcol) continue;
        for (size_t k = 0; k < j->groups; k++) /* dcol_g [Kg, P] = w_g^T [Kg, Og] dy_n,g [Og, P] */
            nb__cv_gemm(j->dt, 1, 0, j->kg, P, j->og, j->w + k * j->og * j->kg * es, j->kg, dyn + k * j->og * P * es, P,
                        0, dcol + k * j->kg * P * es, P);
        if (j->dt == NB_F32) nb_k_col2im_f32((float *)j->gx + n * j->hw_in, (const float *)dcol, &j->g1);
        else nb_k_col2im_f64((double *)j->gx + n * j->hw_in, (const double *)dcol, &j->g1);
    }
}

static void nb__cv_bwd_task(void *arg, size_t t)
{
    const nb__cv_job *j = arg;
    nb__cv_lend(j, t);
    for (size_t i = t; i < j->nchunks; i += j->ntasks) nb__cv_bwd_chunk(j, i, t);
    nb__gemm_lend(NULL, 0);
}

/* How many tasks share n units of a pass of `macs` multiply-adds: 1 (run in
 * the caller) unless there are threads and work for more. */
static size_t nb__cv_tasks(size_t n, size_t macs)
{
    size_t nt = nb__pool_threads();
    if (nt > n) nt = n;
    return nt < 2 || macs < NB__CV_PAR_MIN ? 1 : nt;
}

/* The window of a max pool (kernel = stride = pool, no padding) over one
 * image's conv output [O, OH, OW]. */
static nb_k_win2d nb__cv_pool_win(size_t O, size_t oh, size_t ow, size_t pool)
{
    return (nb_k_win2d){.n = 1,
                        .c = O,
                        .h = oh,
                        .w = ow,
                        .kh = pool,
                        .kw = pool,
                        .stride = pool,
                        .pad = 0,
                        .dil = 1,
                        .oh = oh / pool,
                        .ow = ow / pool};
}

static int nb__conv2d_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    nb_tensor *gx = nb__gbuf(c, x, &err), *gw = nb__gbuf(c, w, &err), *gb = nb__gbuf(c, b, &err);
    if (err) return err;
    const nb_dtype dt = x->dtype;
    const size_t es = nb_dtype_size(dt), groups = (size_t)nd->i[3];
    nb_k_win2d g;
    if (nb__win("conv2d", x, w->shape[2], w->shape[3], (int)nd->i[0], (int)nd->i[1], (int)nd->i[2], &g)) return -1;
    const size_t O = w->shape[0], P = g.oh * g.ow, NP = g.n * P, K = g.c * g.kh * g.kw;
    if (NP == 0 || (!gb && !gw && !gx)) return 0;
    const void *dy = nd->gout->data;      /* [N, O, P]: the gradient reaching the products */
    const size_t pool = (size_t)nd->i[5]; /* with a pool taken in: dy is [N, O, OH / pool, OW / pool] */
    if (!pool && (nb_act)nd->i[4] != NB_ACT_NONE) {
        /* dz = dy act'(y) as the activation op's backward makes it (zeros,
         * then its kernel adds): the same bits as the two ops.  y stands for
         * the pre-activation, of which only the side of 0 is read
         * (nb__linear_needs_z). */
        nb_tensor *dz = nb__zeros_like(c, nd->gout);
        if (!dz) return -1;
        const nb_act act = (nb_act)nd->i[4];
        if (dt == NB_F32) nb_k_act_bwd_f32(act, dz->data, dy, nd->out->data, nd->out->data, dz->numel, nd->f[0]);
        else nb_k_act_bwd_f64(act, dz->data, dy, nd->out->data, nd->out->data, dz->numel, nd->f[0]);
        dy = dz->data;
    }
    if (gb && !pool) {
        if (dt == NB_F32) nb_k_conv_db_f32(gb->data, dy, g.n, O, P);
        else nb_k_conv_db_f64(gb->data, dy, g.n, O, P);
    }
    if (!gw && !gx && !(pool && gb)) return 0;
    nb__cv_job j = {.dt = dt,
                    .es = es,
                    .O = O,
                    .P = P,
                    .NP = NP,
                    .K = K,
                    .groups = groups,
                    .og = O / groups,
                    .kg = K / groups,
                    .hw_in = g.c * g.h * g.w,
                    .n = g.n,
                    .nchunks = g.n < NB__CV_CHUNKS ? g.n : NB__CV_CHUNKS,
                    .g1 = g,
                    .x = x->data,
                    .w = w->data,
                    .dy = dy,
                    .gx = gx ? gx->data : NULL,
                    .gw = gw ? gw->data : NULL};
    j.g1.n = 1;
    if (pool) {
        j.pool = pool;
        j.gp = nb__cv_pool_win(O, g.oh, g.ow, pool);
        j.idx = nd->saved;
        j.pooled = nd->out->data;
    }
    j.ntasks = nb__cv_tasks(j.nchunks, ((gw != NULL) + (gx != NULL) + (pool != 0)) * NP * O * j.kg);
    if (pool && !(j.dz = nb__arena_alloc(c, j.ntasks * O * P * es + 1))) return -1;
    if (pool && gb && !(j.dbp = nb__arena_alloc(c, g.n * O * sizeof *j.dbp))) return -1;
    if (gw && j.nchunks > 1 && !(j.part = nb__arena_alloc(c, (j.nchunks - 1) * O * j.kg * es + 1))) return -1;
    if (gx && K && !(j.dcol = nb__arena_alloc(c, j.ntasks * K * P * es + 1))) return -1;
    if (gw && K && !(j.col = nb__arena_alloc(c, j.ntasks * K * P * es + 1))) return -1;
    if (j.ntasks > 1) {
        if (gw) j.lend_sz = nb__cv_scratch(dt, 0, 1, j.og, j.kg, P, P, P, j.kg, 0);
        if (gx) j.lend_sz = nb__cv_scratch(dt, 1, 0, j.kg, P, j.og, j.kg, P, P, j.lend_sz);
        if (j.lend_sz && !(j.lend = nb__arena_alloc(c, j.ntasks * j.lend_sz))) return -1;
    }
    if (j.ntasks == 1) nb__cv_bwd_task(&j, 0);
    else nb__pool_run(j.ntasks, nb__cv_bwd_task, &j);
    /* the partials, in chunk order */
    const size_t nw = O * j.kg;
    for (size_t i = 1; gw && i < j.nchunks; i++) { /* a = 1: the product is exact, so these are plain adds */
        if (dt == NB_F32) nb_k_axpy_f32(gw->data, 1.0f, (const float *)j.part + (i - 1) * nw, nw);
        else nb_k_axpy_f64(gw->data, 1.0, (const double *)j.part + (i - 1) * nw, nw);
    }
    for (size_t o = 0; j.dbp && o < O; o++) { /* db as conv_db adds it: the planes' sums over the batch in order */
        double acc = 0;
        for (size_t n = 0; n < g.n; n++) acc += j.dbp[n * O + o];
        if (dt == NB_F32) ((float *)gb->data)[o] += (float)acc;
        else ((double *)gb->data)[o] += acc;
    }
    return 0;
}
static const nb__opdef nb__op_conv2d = {"conv2d", nb__conv2d_backward};

static nb_tensor *nb__conv2d_fwd(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding,
                                 int dilation, int groups, nb_act act, double param, int pool);

nb_tensor *nb_conv2d(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding, int dilation,
                     int groups)
{
    return nb__conv2d_fwd(c, x, w, b, stride, padding, dilation, groups, NB_ACT_NONE, 0, 0);
}

nb_tensor *nb__conv2d_act(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding, int dilation,
                          int groups, nb_act act, double param)
{
    return nb__conv2d_fwd(c, x, w, b, stride, padding, dilation, groups, act, param, 0);
}

nb_tensor *nb__conv2d_relu_pool(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding,
                                int dilation, int groups, int pool)
{
    if (pool < 1) return nb__err("conv2d: a max pool of %d taken in: expected a window of 1 or more", pool);
    return nb__conv2d_fwd(c, x, w, b, stride, padding, dilation, groups, NB_ACT_RELU, 0, pool);
}

/* conv2d, with the activation act taken in (NB_ACT_NONE: none) and, when pool
 * > 0 (act being relu), the max pool of window and stride pool after it: the
 * output is then the pool's, and each image's relu(conv) lives only in the
 * task's scratch. */
static nb_tensor *nb__conv2d_fwd(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding,
                                 int dilation, int groups, nb_act act, double param, int pool)
{
    if (!c || !x || !w) return nb__null_arg("nb_conv2d");
    if ((unsigned)act >= NB_ACT__COUNT || nb__linear_needs_z(act, param))
        return nb__err("conv2d: activation %d (parameter %g) cannot be taken in: its derivative needs the "
                       "pre-activation",
                       (int)act, param);
    if (nb__need_float("conv2d", x) || nb__need_float("conv2d", w) || (b && nb__need_float("conv2d", b))) return NULL;
    if (x->dtype != w->dtype || (b && b->dtype != x->dtype))
        return nb__err("conv2d: dtypes differ (x %s %s, w %s %s%s%s)", nb__shp(x), nb_dtype_name(x->dtype), nb__shp(w),
                       nb_dtype_name(w->dtype), b ? ", b " : "", b ? nb_dtype_name(b->dtype) : "");
    if (nb__need4("conv2d", "x", x)) return NULL;
    if (w->ndim != 4) return nb__err("conv2d: w %s must be 4-D [out, in / groups, kh, kw]", nb__shp(w));
    const size_t C = x->shape[1], O = w->shape[0];
    if (groups < 1 || C % (size_t)groups || O % (size_t)groups)
        return nb__err("conv2d: groups = %d must be >= 1 and divide the %zu input channels of x %s and the %zu "
                       "output channels of w %s",
                       groups, C, nb__shp(x), O, nb__shp(w));
    if (w->shape[1] * (size_t)groups != C)
        return nb__err("conv2d: w %s expects %zu input channels per group, x %s has %zu channels in %d groups",
                       nb__shp(w), w->shape[1], nb__shp(x), C, groups);
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return nb__err("conv2d: bias %s must be [%zu] for w %s", nb__shp(b), O, nb__shp(w));
    nb_k_win2d g;
    if (nb__win("conv2d", x, w->shape[2], w->shape[3], stride, padding, dilation, &g)) return NULL;
    const nb_dtype dt = x->dtype;
    const size_t es = nb_dtype_size(dt), P = g.oh * g.ow, NP = g.n * P, K = C * g.kh * g.kw;
    const size_t G = (size_t)groups, og = O / G, kg = K / G;
    const size_t pl = (size_t)pool;
    if (pl && (g.oh < pl || g.ow < pl))
        return nb__err("conv2d: the %dx%d max pool taken in does not fit the %zux%zu output of x %s", pool, pool, g.oh,
                       g.ow, nb__shp(x));
    if (pl && g.oh * g.ow > UINT32_MAX) return nb__err("conv2d: the output planes of x %s are too large", nb__shp(x));
    /* [N, O, OH, OW], or the pool's [N, O, OH / pool, OW / pool] */
    nb_tensor *y = nb__new(c, dt, 4, (size_t[]){g.n, O, pl ? g.oh / pl : g.oh, pl ? g.ow / pl : g.ow});
    if (!y) return NULL;
    uint32_t *idx = pl ? nb__arena_alloc(c, y->numel * sizeof *idx + 1) : NULL; /* the pool's argmax */
    if (pl && !idx) return NULL;
    if (NP) {
        /* image by image, straight into y's layout (the bias and activation
         * while the image is in cache); groups of images are the pool's tasks,
         * each with its own col [K, P] */
        nb__cv_job j = {.dt = dt,
                        .es = es,
                        .O = O,
                        .P = P,
                        .NP = NP,
                        .K = K,
                        .groups = G,
                        .og = og,
                        .kg = kg,
                        .hw_in = C * g.h * g.w,
                        .n = g.n,
                        .g1 = g,
                        .x = x->data,
                        .w = w->data,
                        .b = b ? b->data : NULL,
                        .y = y->data,
                        .act = act,
                        .param = param,
                        .pool = pl,
                        .idx = idx};
        j.g1.n = 1;
        if (pl) j.gp = nb__cv_pool_win(O, g.oh, g.ow, pl);
        j.ntasks = nb__cv_tasks(g.n, NP * O * kg);
        if (!(j.col = nb__arena_alloc(c, j.ntasks * K * P * es + 1))) return NULL;
        if (pl && !(j.ys = nb__arena_alloc(c, j.ntasks * O * P * es + 1))) return NULL;
        if (j.ntasks > 1 && (j.lend_sz = nb__cv_scratch(dt, 0, 0, og, P, kg, kg, P, P, 0)) &&
            !(j.lend = nb__arena_alloc(c, j.ntasks * j.lend_sz)))
            return NULL;
        if (j.ntasks == 1) nb__cv_fwd_images(&j, 0, g.n, 0);
        else nb__pool_run(j.ntasks, nb__cv_fwd_task, &j);
    }
    nb_tensor *ins[3] = {x, w, b};
    nb__node *nd;
    if (nb__record(c, &nb__op_conv2d, y, b ? 3 : 2, ins, &nd)) return NULL;
    if (nd) {
        nd->i[0] = stride;
        nd->i[1] = padding;
        nd->i[2] = dilation;
        nd->i[3] = groups;
        nd->i[4] = act;
        nd->i[5] = pool;
        nd->f[0] = param;
        nd->saved = idx;
    }
    return y;
}

/* ------------------------------------------------------------ pooling */
/* Checks shared by the two windowed pools; fills g. */
static int nb__pool_check(const char *op, nb_ctx *c, const nb_tensor *x, int kernel, int stride, int padding,
                          nb_k_win2d *g)
{
    if (nb__need_float(op, x) || nb__need4(op, "x", x)) return -1;
    if (kernel < 1) return nb__erri("%s: kernel = %d on x %s must be >= 1", op, kernel, nb__shp(x));
    if (padding < 0 || padding > kernel / 2)
        return nb__erri("%s: padding = %d on x %s must be in [0, kernel / 2] (kernel %d)", op, padding, nb__shp(x),
                        kernel);
    if (nb__win(op, x, (size_t)kernel, (size_t)kernel, stride, padding, 1, g)) return -1;
    (void)c;
    return 0;
}

static int nb__maxpool_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *x = nd->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb_k_win2d g;
    if (nb__win("max_pool2d", x, (size_t)nd->i[0], (size_t)nd->i[0], (int)nd->i[1], (int)nd->i[2], 1, &g)) return -1;
    if (x->dtype == NB_F32) nb_k_maxpool_bwd_f32(gx->data, nd->gout->data, nd->saved, &g);
    else nb_k_maxpool_bwd_f64(gx->data, nd->gout->data, nd->saved, &g);
    return 0;
}
static const nb__opdef nb__op_max_pool2d = {"max_pool2d", nb__maxpool_backward};

nb_tensor *nb_max_pool2d(nb_ctx *c, nb_tensor *x, int kernel, int stride, int padding)
{
    if (!c || !x) return nb__null_arg(__func__);
    nb_k_win2d g;
    if (nb__pool_check("max_pool2d", c, x, kernel, stride, padding, &g)) return NULL;
    if (g.h * g.w > UINT32_MAX) return nb__err("max_pool2d: planes of x %s are too large", nb__shp(x));
    nb_tensor *y = nb__new(c, x->dtype, 4, (size_t[]){g.n, g.c, g.oh, g.ow});
    if (!y) return NULL;
    uint32_t *idx = nb__arena_alloc(c, y->numel * sizeof *idx + 1); /* [N, C, OH, OW] */
    if (!idx) return NULL;
    if (x->dtype == NB_F32) nb_k_maxpool_f32(y->data, idx, x->data, &g);
    else nb_k_maxpool_f64(y->data, idx, x->data, &g);
    nb__node *nd;
    if (nb__record(c, &nb__op_max_pool2d, y, 1, &x, &nd)) return NULL;
    if (nd) {
        nd->i[0] = kernel;
        nd->i[1] = stride;
        nd->i[2] = padding;
        nd->saved = idx;
    }
    return y;
}

static int nb__avgpool_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *x = nd->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    nb_k_win2d g;
    if (nb__win("avg_pool2d", x, (size_t)nd->i[0], (size_t)nd->i[0], (int)nd->i[1], (int)nd->i[2], 1, &g)) return -1;
    if (x->dtype == NB_F32) nb_k_avgpool_bwd_f32(gx->data, nd->gout->data, &g);
    else nb_k_avgpool_bwd_f64(gx->data, nd->gout->data, &g);
    return 0;
}
static const nb__opdef nb__op_avg_pool2d = {"avg_pool2d", nb__avgpool_backward};

nb_tensor *nb_avg_pool2d(nb_ctx *c, nb_tensor *x, int kernel, int stride, int padding)
{
    if (!c || !x) return nb__null_arg(__func__);
    nb_k_win2d g;
    if (nb__pool_check("avg_pool2d", c, x, kernel, stride, padding, &g)) return NULL;
    nb_tensor *y = nb__new(c, x->dtype, 4, (size_t[]){g.n, g.c, g.oh, g.ow});
    if (!y) return NULL;
    if (x->dtype == NB_F32) nb_k_avgpool_f32(y->data, x->data, &g);
    else nb_k_avgpool_f64(y->data, x->data, &g);
    nb__node *nd;
    if (nb__record(c, &nb__op_avg_pool2d, y, 1, &x, &nd)) return NULL;
    if (nd) {
        nd->i[0] = kernel;
        nd->i[1] = stride;
        nd->i[2] = padding;
    }
    return y;
}

static int nb__gap_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *x = nd->in[0], *gx = nb__gbuf(c, x, &err);
    if (!gx) return err;
    const size_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    if (x->dtype == NB_F32) nb_k_gap_bwd_f32(gx->data, nd->gout->data, planes, hw);
    else nb_k_gap_bwd_f64(gx->data, nd->gout->data, planes, hw);
    return 0;
}
static const nb__opdef nb__op_gap = {"global_avg_pool2d", nb__gap_backward};

nb_tensor *nb_global_avg_pool2d(nb_ctx *c, nb_tensor *x)
{
    if (!c || !x) return nb__null_arg(__func__);
    if (nb__need_float("global_avg_pool2d", x) || nb__need4("global_avg_pool2d", "x", x)) return NULL;
    const size_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    if (hw == 0) return nb__err("global_avg_pool2d: x %s has empty planes (no mean)", nb__shp(x));
    nb_tensor *y = nb__new(c, x->dtype, 2, (size_t[]){x->shape[0], x->shape[1]}); /* [N, C] */
    if (!y) return NULL;
    if (x->dtype == NB_F32) nb_k_gap_f32(y->data, x->data, planes, hw);
    else nb_k_gap_f64(y->data, x->data, planes, hw);
    nb__node *nd;
    if (nb__record(c, &nb__op_gap, y, 1, &x, &nd)) return NULL;
    return y;
}

/* --------------------------------------------------------- batch norm */
static int nb__bn_backward(nb_ctx *c, nb__node *nd)
{
    int err = 0;
    nb_tensor *x = nd->in[0], *w = nd->n_in > 1 ? nd->in[1] : NULL, *b = nd->n_in > 2 ? nd->in[2] : NULL;
    nb_tensor *gx = nb__gbuf(c, x, &err), *gw = nb__gbuf(c, w, &err), *gb = nb__gbuf(c, b, &err);
    if (err) return err;
    const size_t N = x->shape[0], C = x->shape[1], P = x->shape[2] * x->shape[3];
    const double *mean = nd->saved, *rstd = mean + C;
    const int training = (int)nd->i[0];
    if (x->dtype == NB_F32)
        nb_k_bn_bwd_f32(gx ? gx->data : NULL, gw ? gw->data : NULL, gb ? gb->data : NULL, nd->gout->data, x->data, mean,
                        rstd, w ? w->data : NULL, training, N, C, P);
    else
        nb_k_bn_bwd_f64(gx ? gx->data : NULL, gw ? gw->data : NULL, gb ? gb->data : NULL, nd->gout->data, x->data, mean,
                        rstd, w ? w->data : NULL, training, N, C, P);
    return 0;
}
static const nb__opdef nb__op_bn2d = {"batch_norm2d", nb__bn_backward};

/* A per-channel vector t of batch_norm2d: NULL, or [C] of x's dtype. */
static int nb__bn_vec(const char *what, const nb_tensor *t, const nb_tensor *x)
{
    if (!t) return 0;
    if (t->dtype != x->dtype || t->ndim != 1 || t->shape[0] != x->shape[1])
        return nb__erri("batch_norm2d: %s %s %s must be [%zu] %s for x %s", what, nb__shp(t), nb_dtype_name(t->dtype),
                        x->shape[1], nb_dtype_name(x->dtype), nb__shp(x));
    return 0;
}

static double nb__getd(const nb_tensor *t, size_t i)
{
    return t->dtype == NB_F32 ? (double)((const float *)t->data)[i] : ((const double *)t->data)[i];
}

static void nb__setd(nb_tensor *t, size_t i, double v)
{
    if (t->dtype == NB_F32) ((float *)t->data)[i] = (float)v;
    else ((double *)t->data)[i] = v;
}

nb_tensor *nb_batch_norm2d(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *running_mean,
                           nb_tensor *running_var, double momentum, double eps)
{
    if (!c || !x) return nb__null_arg(__func__);
    if (nb__need_float("batch_norm2d", x) || nb__need4("batch_norm2d", "x", x)) return NULL;
    if (nb__bn_vec("weight", w, x) || nb__bn_vec("bias", b, x) || nb__bn_vec("running_mean", running_mean, x) ||
        nb__bn_vec("running_var", running_var, x))
        return NULL;
    if (b && !w) return nb__err("batch_norm2d: a bias without a weight is not supported (x %s)", nb__shp(x));
    if (!running_mean != !running_var)
        return nb__err("batch_norm2d: give both running_mean and running_var, or neither (x %s)", nb__shp(x));
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
        return nb__err("batch_norm2d: eps = %g must be >= 0 and momentum = %g in [0, 1] (x %s)", eps, momentum,
                       nb__shp(x));
    const int training = nb_training(c);
    const size_t N = x->shape[0], C = x->shape[1], P = x->shape[2] * x->shape[3], M = N * P;
    if (training && M < 2)
        return nb__err("batch_norm2d: training needs more than one value per channel, x %s has %zu", nb__shp(x), M);
    if (!training && !running_mean)
        return nb__err("batch_norm2d: eval mode needs running_mean and running_var (x %s)", nb__shp(x));
    double *st = nb__arena_alloc(c, 2 * C * sizeof *st + 1); /* mean [C], rstd [C] */
    if (!st) return NULL;
    double *mean = st, *rstd = st + C;
    if (training) {
        if (x->dtype == NB_F32) nb_k_bn_stats_f32(mean, rstd, x->data, N, C, P);
        else nb_k_bn_stats_f64(mean, rstd, x->data, N, C, P);
        for (size_t k = 0; k < C; k++) {
            const double var = rstd[k];
            if (running_mean) {
                nb__setd(running_mean, k, (1 - momentum) * nb__getd(running_mean, k) + momentum * mean[k]);
                nb__setd(running_var, k,
                         (1 - momentum) * nb__getd(running_var, k) + momentum * var * (double)M / (double)(M - 1));
            }
            rstd[k] = 1 / sqrt(var + eps);
        }
    } else {
        for (size_t k = 0; k < C; k++) {
            mean[k] = nb__getd(running_mean, k);
            rstd[k] = 1 / sqrt(nb__getd(running_var, k) + eps);
        }
    }
    nb_tensor *y = nb__new_like(c, x);
    if (!y) return NULL;
    if (x->dtype == NB_F32)
        nb_k_bn_fwd_f32(y->data, x->data, mean, rstd, w ? w->data : NULL, b ? b->data : NULL, N, C, P);
    else nb_k_bn_fwd_f64(y->data, x->data, mean, rstd, w ? w->data : NULL, b ? b->data : NULL, N, C, P);
    nb_tensor *ins[3] = {x, w, b}; /* x, or x w, or x w b */
    const int n_in = b ? 3 : w ? 2 : 1;
    nb__node *nd;
    if (nb__record(c, &nb__op_bn2d, y, n_in, ins, &nd)) return NULL;
    if (nd) {
        nd->i[0] = training;
        nd->saved = st;
    }
    return y;
}
