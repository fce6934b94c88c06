/* Tensor creation, fills, element access and printing. */
#include "../internal.h"
#include "pool.h"

#include <math.h>
#include <stdlib.h>

size_t nb_dtype_size(nb_dtype dt)
{
    switch (dt) {
    case NB_F32: return sizeof(float);
    case NB_F64: return sizeof(double);
    case NB_I32: return sizeof(int32_t);
    }
    return 0;
}

const char *nb_dtype_name(nb_dtype dt)
{
    switch (dt) {
    case NB_F32: return "float32";
    case NB_F64: return "float64";
    case NB_I32: return "int32";
    }
    return "?";
}

int nb__check_shape(const char *what, int ndim, const size_t *shape, size_t *numel)
{
    if (ndim < 0 || ndim > NB_MAX_DIMS) return nb__erri("%s: %d dimensions (must be 0..%d)", what, ndim, NB_MAX_DIMS);
    if (ndim > 0 && !shape) return nb__erri("%s: NULL shape for %d dimensions", what, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && n > SIZE_MAX / 8 / shape[i])
            return nb__erri("%s: shape overflows (dimension %d is %zu)", what, i, shape[i]);
        n *= shape[i];
    }
    *numel = n;
    return 0;
}

static int nb__dtype_ok(const char *what, nb_dtype dt)
{
    if (dt != NB_F32 && dt != NB_F64 && dt != NB_I32) return nb__erri("%s: unknown dtype %d", what, (int)dt);
    return 0;
}

const char *nb__shp(const nb_tensor *t)
{
    static _Thread_local char bufs[4][96];
    static _Thread_local int k;
    char *b = bufs[k++ & 3];
    if (!t) return "(null)";
    return nb_shape_str(t, b, sizeof bufs[0]);
}

char *nb_shape_str(const nb_tensor *t, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    size_t at = 0;
    buf[0] = '\0';
    at += (size_t)snprintf(buf + at, size - at, "[");
    for (int i = 0; t && i < t->ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %zu" : "%zu", t->shape[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

/* ----------------------------------------------------------- long-lived */
static nb_tensor *nb__heap_tensor(nb_dtype dt, int ndim, const size_t *shape, const char *what)
{
    size_t n;
    if (nb__dtype_ok(what, dt) || nb__check_shape(what, ndim, shape, &n)) return NULL;
    nb_tensor *t = calloc(1, sizeof *t);
    if (!t) return nb__err("%s: out of memory", what);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = n;
    t->flags = NB__F_OWNS_STRUCT;
    return t;
}

nb_tensor *nb_tensor_new(nb_dtype dt, int ndim, const size_t *shape)
{
    nb_tensor *t = nb__heap_tensor(dt, ndim, shape, "nb_tensor_new");
    if (!t) return NULL;
    t->data = calloc(t->numel ? t->numel : 1, nb_dtype_size(dt));
    if (!t->data) {
        size_t n = t->numel;
        free(t);
        return nb__err("nb_tensor_new: out of memory for %zu elements", n);
    }
    t->flags |= NB__F_OWNS_DATA;
    return t;
}

nb_tensor *nb_tensor_from(nb_dtype dt, int ndim, const size_t *shape, void *buf, nb_own own)
{
    if (!buf) return nb__err("nb_tensor_from: NULL buffer");
    if (own == NB_BORROW) {
        nb_tensor *t = nb__heap_tensor(dt, ndim, shape, "nb_tensor_from");
        if (t) t->data = buf;
        return t;
    }
    nb_tensor *t = nb_tensor_new(dt, ndim, shape);
    if (t) memcpy(t->data, buf, t->numel * nb_dtype_size(dt));
    return t;
}

nb_tensor *nb_tensor_clone(const nb_tensor *src)
{
    if (!src) return NULL;
    nb_tensor *t = nb_tensor_new(src->dtype, src->ndim, src->shape);
    if (t) memcpy(t->data, src->data, t->numel * nb_dtype_size(t->dtype));
    return t;
}

static void nb__free_hooks(nb_tensor *t)
{
    for (nb__hook *h = t->hooks, *next; h; h = next) {
        next = h->next;
        if (h->heap) free(h);
    }
    t->hooks = NULL;
}

void nb_tensor_free(nb_tensor *t)
{
    if (!t) return;
    if (t->ctx || !(t->flags & NB__F_OWNS_STRUCT)) return; /* arena tensors die with their ctx */
    nb__free_hooks(t);
    nb_tensor_free(t->grad);
    if (t->flags & NB__F_OWNS_DATA) free(t->data);
    free(t);
}

void nb_remove_hooks(nb_tensor *t)
{
    if (t) nb__free_hooks(t);
}

/* ---------------------------------------------------------------- arena */
nb_tensor *nb__new(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape)
{
    size_t n;
    if (!c) return nb__err("NULL context");
    if (nb__dtype_ok("tensor", dt) || nb__check_shape("tensor", ndim, shape, &n)) return NULL;
    nb_tensor *t = nb__arena_alloc(c, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = n;
    t->ctx = c;
    t->data = nb__arena_alloc(c, n * nb_dtype_size(dt));
    return t->data ? t : NULL;
}

nb_tensor *nb__new_like(nb_ctx *c, const nb_tensor *t) { return nb__new(c, t->dtype, t->ndim, t->shape); }

/* Zeros, by the pool's threads from 256 KiB on: the backward zeroes every
 * activation's gradient buffer (21 MB a step for the benchmark CNN at batch
 * 64), and one thread doing that leaves the others waiting. */
nb_tensor *nb__zeros_like(nb_ctx *c, const nb_tensor *t)
{
    nb_tensor *z = nb__new_like(c, t);
    if (z) nb__parallel_zero(z->data, z->numel * nb_dtype_size(z->dtype), (size_t)1 << 17);
    return z;
}

nb_tensor *nb__view(nb_ctx *c, nb_tensor *base, int ndim, const size_t *shape, size_t elem_offset)
{
    size_t n;
    if (nb__check_shape("view", ndim, shape, &n)) return NULL;
    nb_tensor *t = nb__arena_alloc(c, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->dtype = base->dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = n;
    t->ctx = c;
    t->data = (char *)base->data + elem_offset * nb_dtype_size(base->dtype);
    return t;
}

nb_tensor *nb_empty(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape) { return nb__new(c, dt, ndim, shape); }

nb_tensor *nb_zeros(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape) { return nb_full(c, dt, ndim, shape, 0.0); }
nb_tensor *nb_ones(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape) { return nb_full(c, dt, ndim, shape, 1.0); }

nb_tensor *nb_full(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, double v)
{
    nb_tensor *t = nb__new(c, dt, ndim, shape);
    if (t) nb_fill(t, v);
    return t;
}

nb_tensor *nb_scalar(nb_ctx *c, nb_dtype dt, double v) { return nb_full(c, dt, 0, NULL, v); }

nb_tensor *nb_arange(nb_ctx *c, nb_dtype dt, double start, double stop, double step)
{
    if (!(step != 0.0) || !isfinite(start) || !isfinite(stop) || !isfinite(step))
        return nb__err("arange: bad range start=%g stop=%g step=%g", start, stop, step);
    double cnt = ceil((stop - start) / step);
    if (cnt < 0) cnt = 0;
    if (cnt > 1e12) return nb__err("arange: %g elements is too many", cnt);
    size_t n = (size_t)cnt;
    nb_tensor *t = nb__new(c, dt, 1, &n);
    if (t)
        for (size_t i = 0; i < n; i++) nb_set(t, i, start + (double)i * step);
    return t;
}

nb_tensor *nb_uniform(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, double lo, double hi, nb_rng *r)
{
    nb_tensor *t = nb__new(c, dt, ndim, shape);
    if (t && nb_fill_uniform(t, lo, hi, r)) return NULL;
    return t;
}

nb_tensor *nb_normal(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, double mean, double std, nb_rng *r)
{
    nb_tensor *t = nb__new(c, dt, ndim, shape);
    if (t && nb_fill_normal(t, mean, std, r)) return NULL;
    return t;
}

nb_tensor *nb_from_data(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape, void *buf, nb_own own)
{
    size_t n;
    if (!c) return nb__err("nb_from_data: NULL context");
    if (!buf) return nb__err("nb_from_data: NULL buffer");
    if (nb__dtype_ok("nb_from_data", dt) || nb__check_shape("nb_from_data", ndim, shape, &n)) return NULL;
    if (own == NB_COPY) {
        nb_tensor *t = nb__new(c, dt, ndim, shape);
        if (t) memcpy(t->data, buf, n * nb_dtype_size(dt));
        return t;
    }
    nb_tensor tmp = {.dtype = dt, .data = buf};
    return nb__view(c, &tmp, ndim, shape, 0);
}

/* ----------------------------------------------------------- element access */
double nb_get(const nb_tensor *t, size_t i)
{
    if (!t) return nb__null_arg(__func__), NAN;
    if (i >= t->numel) return nb__err("nb_get: index %zu is out of range for %zu elements", i, t->numel), NAN;
    switch (t->dtype) {
    case NB_F32: return ((const float *)t->data)[i];
    case NB_F64: return ((const double *)t->data)[i];
    case NB_I32: return ((const int32_t *)t->data)[i];
    }
    return NAN;
}

void nb_set(nb_tensor *t, size_t i, double v)
{
    if (!t) {
        nb__null_arg(__func__);
        return;
    }
    if (i >= t->numel) {
        nb__err("nb_set: index %zu is out of range for %zu elements", i, t->numel);
        return;
    }
    switch (t->dtype) {
    case NB_F32: ((float *)t->data)[i] = (float)v; break;
    case NB_F64: ((double *)t->data)[i] = v; break;
    case NB_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    }
}

double nb_item(const nb_tensor *t)
{
    if (!t || t->numel != 1) return NAN;
    return nb_get(t, 0);
}

int nb_same_shape(const nb_tensor *a, const nb_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

int nb_fill(nb_tensor *t, double v)
{
    if (!t) return nb__erri("nb_fill: NULL tensor");
    if (t->dtype == NB_F32) {
        float *p = t->data, f = (float)v;
        for (size_t i = 0; i < t->numel; i++) p[i] = f;
    } else if (t->dtype == NB_F64) {
        double *p = t->data;
        for (size_t i = 0; i < t->numel; i++) p[i] = v;
    } else {
        for (size_t i = 0; i < t->numel; i++) nb_set(t, i, v);
    }
    return 0;
}

int nb_fill_uniform(nb_tensor *t, double lo, double hi, nb_rng *r)
{
    if (!t || !r) return nb__erri("nb_fill_uniform: NULL tensor or RNG");
    if (!nb__is_float(t->dtype)) return nb__erri("nb_fill_uniform: tensor is %s, not float", nb_dtype_name(t->dtype));
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi)) return nb__erri("nb_fill_uniform: bad range [%g, %g)", lo, hi);
    for (size_t i = 0; i < t->numel; i++) nb_set(t, i, lo + (hi - lo) * nb_rng_uniform(r));
    return 0;
}

int nb_fill_normal(nb_tensor *t, double mean, double std, nb_rng *r)
{
    if (!t || !r) return nb__erri("nb_fill_normal: NULL tensor or RNG");
    if (!nb__is_float(t->dtype)) return nb__erri("nb_fill_normal: tensor is %s, not float", nb_dtype_name(t->dtype));
    if (!(std >= 0) || !isfinite(mean) || !isfinite(std))
        return nb__erri("nb_fill_normal: bad mean %g / std %g", mean, std);
    for (size_t i = 0; i < t->numel; i++) nb_set(t, i, mean + std * nb_rng_normal(r));
    return 0;
}

int nb_copy_into(nb_tensor *dst, const nb_tensor *src)
{
    if (!dst || !src) return nb__erri("nb_copy_into: NULL tensor");
    if (dst->numel != src->numel)
        return nb__erri("nb_copy_into: %s has %zu elements, %s has %zu", nb__shp(dst), dst->numel, nb__shp(src),
                        src->numel);
    if (dst->dtype == src->dtype) {
        memmove(dst->data, src->data, src->numel * nb_dtype_size(src->dtype));
    } else {
        for (size_t i = 0; i < src->numel; i++) nb_set(dst, i, nb_get(src, i));
    }
    return 0;
}

/* ------------------------------------------------------------- printing */
static void nb__print_rec(FILE *f, const nb_tensor *t, int dim, size_t off, size_t stride_prod, size_t max_items)
{
    if (t->ndim == 0) {
        fprintf(f, "%.6g", nb_get(t, 0));
        return;
    }
    size_t n = t->shape[dim], inner = stride_prod / (n ? n : 1);
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (n > max_items && i == max_items / 2) {
            fputs(dim + 1 == t->ndim ? "..., " : "...,\n ", f);
            i = n - max_items / 2;
        }
        if (dim + 1 == t->ndim) fprintf(f, t->dtype == NB_I32 ? "%.0f" : "%.6g", nb_get(t, off + i));
        else nb__print_rec(f, t, dim + 1, off + i * inner, inner, max_items);
        if (i + 1 < n) fputs(dim + 1 == t->ndim ? ", " : ",\n ", f);
    }
    fputc(']', f);
}

void nb_tensor_print(FILE *f, const nb_tensor *t, size_t max_items)
{
    if (!f) return;
    if (!t) {
        fputs("tensor(NULL)\n", f);
        return;
    }
    if (max_items == 0) max_items = 6;
    if (max_items < 2) max_items = 2;
    fprintf(f, "tensor(%s %s, ", nb__shp(t), nb_dtype_name(t->dtype));
    nb__print_rec(f, t, 0, 0, t->numel, max_items);
    fputs(")\n", f);
}
