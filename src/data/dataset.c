/* In-memory datasets: creation, validation, IDX pairs, subsets and splits,
 * batch gathering with normalisation. */
#include "../internal.h"
#include "nabla/data.h"
#include "../core/pool.h"

#include <math.h>
#include <stdlib.h>

static const char *nb__dsname(const nb_dataset *ds) { return ds->name[0] ? ds->name : "dataset"; }

static const char *nb__basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void nb_dataset_free(nb_dataset *ds)
{
    if (!ds) return;
    free(ds->x8);
    free(ds->xf);
    free(ds->y);
    free(ds);
}

nb_dataset *nb_dataset_new(nb_data_kind kind, size_t n, int ndim, const size_t *shape, int n_classes)
{
    if (kind != NB_DATA_U8 && kind != NB_DATA_F64) return nb__err("nb_dataset_new: unknown kind %d", (int)kind);
    if (n == 0) return nb__err("nb_dataset_new: no samples (n = 0)");
    if (ndim < 1 || ndim > NB_MAX_DIMS || !shape)
        return nb__err("nb_dataset_new: a sample needs 1..%d dimensions (got %d)", NB_MAX_DIMS, ndim);
    if (n_classes < 1 || n_classes > NB_DATA_MAX_CLASSES)
        return nb__err("nb_dataset_new: %d classes (must be 1..%d)", n_classes, NB_DATA_MAX_CLASSES);
    size_t es = kind == NB_DATA_U8 ? 1 : sizeof(double), d = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) return nb__err("nb_dataset_new: sample dimension %d is 0", i);
        if (d > SIZE_MAX / shape[i]) return nb__err("nb_dataset_new: sample shape overflows");
        d *= shape[i];
    }
    if (d > SIZE_MAX / es / n || n > SIZE_MAX / sizeof(int32_t))
        return nb__err("nb_dataset_new: %zu x %zu features overflow", n, d);
    nb_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return nb__err("nb_dataset_new: out of memory");
    ds->kind = kind;
    ds->n = n;
    ds->d = d;
    ds->ndim = ndim;
    for (int i = 0; i < ndim; i++) ds->shape[i] = shape[i];
    ds->n_classes = n_classes;
    ds->mean = 0.0;
    ds->std = 1.0;
    if (kind == NB_DATA_U8) ds->x8 = nb__big_zalloc(n * d, 1);
    else ds->xf = nb__big_zalloc(n * d, sizeof(double));
    ds->y = calloc(n, sizeof(int32_t));
    if (!(ds->x8 || ds->xf) || !ds->y) {
        nb_dataset_free(ds);
        return nb__err("nb_dataset_new: out of memory for %zu x %zu samples", n, d);
    }
    return ds;
}

size_t nb_dataset_labels_per_sample(const nb_dataset *ds) { return ds && ds->y_per > 1 ? ds->y_per : 1; }

int nb_dataset_validate(const nb_dataset *ds)
{
    if (!ds) return nb__erri("nb_dataset_validate: NULL dataset");
    const char *nm = nb__dsname(ds);
    if (ds->kind != NB_DATA_U8 && ds->kind != NB_DATA_F64) return nb__erri("%s: unknown kind %d", nm, (int)ds->kind);
    if (ds->n == 0) return nb__erri("%s: no samples", nm);
    if (ds->ndim < 1 || ds->ndim > NB_MAX_DIMS)
        return nb__erri("%s: sample has %d dimensions (must be 1..%d)", nm, ds->ndim, NB_MAX_DIMS);
    size_t d = 1;
    for (int i = 0; i < ds->ndim; i++) {
        if (ds->shape[i] == 0 || d > SIZE_MAX / ds->shape[i])
            return nb__erri("%s: bad sample shape (dimension %d is %zu)", nm, i, ds->shape[i]);
        d *= ds->shape[i];
    }
    if (d != ds->d) return nb__erri("%s: d = %zu but the sample shape holds %zu", nm, ds->d, d);
    if (ds->n_classes < 1 || ds->n_classes > NB_DATA_MAX_CLASSES)
        return nb__erri("%s: %d classes (must be 1..%d)", nm, ds->n_classes, NB_DATA_MAX_CLASSES);
    if (!ds->y) return nb__erri("%s: no labels", nm);
    if (ds->kind == NB_DATA_U8 ? !ds->x8 : !ds->xf) return nb__erri("%s: no feature data", nm);
    if (!isfinite(ds->mean) || !isfinite(ds->std) || !(ds->std > 0))
        return nb__erri("%s: bad normalisation mean %g std %g", nm, ds->mean, ds->std);
    const size_t L = nb_dataset_labels_per_sample(ds);
    for (size_t i = 0; i < ds->n * L; i++)
        if (ds->y[i] < 0 || ds->y[i] >= ds->n_classes)
            return nb__erri("%s: label %d of sample %zu is outside [0, %d)", nm, (int)ds->y[i], i / L, ds->n_classes);
    if (ds->kind == NB_DATA_F64)
        for (size_t i = 0; i < ds->n * ds->d; i++)
            if (!isfinite(ds->xf[i]))
                return nb__erri("%s: feature %zu of sample %zu is %g", nm, i % ds->d, i / ds->d, ds->xf[i]);
    return 0;
}

/* ------------------------------------------------------------------- IDX */
static int nb__label_at(const nb_idx *l, size_t i, long long *v)
{
    switch (l->type) {
    case NB_IDX_U8: *v = ((const uint8_t *)l->data)[i]; return 0;
    case NB_IDX_I8: *v = ((const int8_t *)l->data)[i]; return 0;
    case NB_IDX_I16: *v = ((const int16_t *)l->data)[i]; return 0;
    case NB_IDX_I32: *v = ((const int32_t *)l->data)[i]; return 0;
    default: return -1;
    }
}

static double nb__idx_value(const nb_idx *x, size_t i)
{
    switch (x->type) {
    case NB_IDX_U8: return ((const uint8_t *)x->data)[i];
    case NB_IDX_I8: return ((const int8_t *)x->data)[i];
    case NB_IDX_I16: return ((const int16_t *)x->data)[i];
    case NB_IDX_I32: return ((const int32_t *)x->data)[i];
    case NB_IDX_F32: return ((const float *)x->data)[i];
    case NB_IDX_F64: return ((const double *)x->data)[i];
    }
    return 0.0;
}

nb_dataset *nb_dataset_from_idx(const nb_idx *images, const nb_idx *labels, int n_classes, const char *images_name,
                                const char *labels_name)
{
    const char *in = images_name ? images_name : "images";
    const char *ln = labels_name ? labels_name : "labels";
    if (!images || !labels) return nb__err("nb_dataset_from_idx: NULL %s", images ? ln : in);
    if (images->ndim < 1 || images->ndim > NB_MAX_DIMS || !images->data)
        return nb__err("%s: not a valid IDX (%d dims)", in, images->ndim);
    if (labels->ndim != 1) return nb__err("%s: labels must be 1-D, but the file has %d dimensions", ln, labels->ndim);
    if (!labels->data) return nb__err("%s: no data", ln);
    if (labels->type == NB_IDX_F32 || labels->type == NB_IDX_F64 || nb_idx_type_size(labels->type) == 0)
        return nb__err("%s: labels must be integers, but the type is %s", ln, nb_idx_type_name(labels->type));
    size_t n = images->dims[0];
    if (labels->dims[0] != n) return nb__err("%s has %zu images but %s has %zu labels", in, n, ln, labels->dims[0]);
    if (n_classes < 0 || n_classes > NB_DATA_MAX_CLASSES)
        return nb__err("%s: n_classes %d (must be 0..%d)", ln, n_classes, NB_DATA_MAX_CLASSES);
    long long hi = -1;
    for (size_t i = 0; i < n; i++) {
        long long v;
        nb__label_at(labels, i, &v);
        if (v < 0) return nb__err("%s: label %lld of sample %zu is negative", ln, v, i);
        if (n_classes && v >= n_classes)
            return nb__err("%s: label %lld of sample %zu is outside [0, %d)", ln, v, i, n_classes);
        if (v >= NB_DATA_MAX_CLASSES)
            return nb__err("%s: label %lld of sample %zu is larger than the %d classes supported", ln, v, i,
                           NB_DATA_MAX_CLASSES);
        if (v > hi) hi = v;
    }
    int nc = n_classes ? n_classes : (int)(hi + 1);
    size_t one = 1;
    int sndim = images->ndim > 1 ? images->ndim - 1 : 1;
    const size_t *sshape = images->ndim > 1 ? images->dims + 1 : &one;
    nb_data_kind kind = images->type == NB_IDX_U8 ? NB_DATA_U8 : NB_DATA_F64;
    nb_dataset *ds = nb_dataset_new(kind, n, sndim, sshape, nc);
    if (!ds) return NULL;
    if (ds->n * ds->d != images->count) {
        nb_dataset_free(ds);
        return nb__err("%s: element count %zu does not match its dims", in, images->count);
    }
    if (kind == NB_DATA_U8) memcpy(ds->x8, images->data, images->count);
    else
        for (size_t i = 0; i < images->count; i++) ds->xf[i] = nb__idx_value(images, i);
    for (size_t i = 0; i < n; i++) {
        long long v;
        nb__label_at(labels, i, &v);
        ds->y[i] = (int32_t)v;
    }
    snprintf(ds->name, sizeof ds->name, "%s", nb__basename(in));
    return ds;
}

nb_dataset *nb_dataset_load_idx(const char *images_path, const char *labels_path, int n_classes,
                                const nb_idx_opts *opts)
{
    if (!images_path || !labels_path) return nb__err("nb_dataset_load_idx: NULL path");
    nb_idx *im = nb_idx_read(images_path, opts);
    if (!im) return NULL;
    nb_idx *lb = nb_idx_read(labels_path, opts);
    nb_dataset *ds = lb ? nb_dataset_from_idx(im, lb, n_classes, images_path, labels_path) : NULL;
    nb_idx_free(im);
    nb_idx_free(lb);
    return ds;
}

/* --------------------------------------------------------- subset, split */
nb_dataset *nb_dataset_subset(const nb_dataset *ds, const size_t *rows, size_t n)
{
    if (!ds || (!rows && n)) return nb__err("nb_dataset_subset: NULL %s", ds ? "rows" : "dataset");
    if (nb_dataset_validate(ds) != 0) return NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->n)
            return nb__err("%s: subset row %zu is %zu, past the %zu samples", nb__dsname(ds), i, rows[i], ds->n);
    nb_dataset *s = nb_dataset_new(ds->kind, n, ds->ndim, ds->shape, ds->n_classes);
    if (!s) return NULL;
    const size_t d = ds->d, L = nb_dataset_labels_per_sample(ds);
    if (L > 1) {
        free(s->y);
        if (!(s->y = calloc(n * L, sizeof *s->y))) {
            nb_dataset_free(s);
            return nb__err("%s: subset: out of memory", nb__dsname(ds));
        }
        s->y_per = L;
    }
    for (size_t i = 0; i < n; i++) {
        if (ds->kind == NB_DATA_U8) memcpy(s->x8 + i * d, ds->x8 + rows[i] * d, d);
        else memcpy(s->xf + i * d, ds->xf + rows[i] * d, d * sizeof(double));
        memcpy(s->y + i * L, ds->y + rows[i] * L, L * sizeof *s->y);
    }
    s->mean = ds->mean;
    s->std = ds->std;
    memcpy(s->name, ds->name, sizeof s->name);
    return s;
}

int nb_dataset_split(const nb_dataset *ds, size_t n_val, int shuffle, uint64_t seed, nb_dataset **train,
                     nb_dataset **val)
{
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (!ds || !train || !val) return nb__erri("nb_dataset_split: NULL argument");
    if (nb_dataset_validate(ds) != 0) return -1;
    if (n_val == 0 || n_val >= ds->n)
        return nb__erri("%s: split: %zu validation samples out of %zu (need 0 < n_val < n)", nb__dsname(ds), n_val,
                        ds->n);
    size_t n = ds->n;
    size_t *idx = malloc(n * sizeof *idx);
    unsigned char *is_val = calloc(n, 1);
    size_t *tr = malloc(n * sizeof *tr), *va = malloc(n_val * sizeof *va);
    int rc = -1;
    if (!idx || !is_val || !tr || !va) {
        nb__erri("%s: split: out of memory", nb__dsname(ds));
        goto done;
    }
    if (shuffle) {
        /* Partial Fisher-Yates: the first n_val of a random permutation. */
        nb_rng r;
        nb_rng_seed(&r, seed);
        for (size_t i = 0; i < n; i++) idx[i] = i;
        for (size_t i = 0; i < n_val; i++) {
            size_t j = i + (size_t)nb_rng_below(&r, n - i);
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            is_val[idx[i]] = 1;
        }
    } else {
        for (size_t i = n - n_val; i < n; i++) is_val[i] = 1;
    }
    size_t nt = 0, nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_val[i]) va[nv++] = i;
        else tr[nt++] = i;
    }
    *train = nb_dataset_subset(ds, tr, nt);
    *val = *train ? nb_dataset_subset(ds, va, nv) : NULL;
    if (!*train || !*val) {
        nb_dataset_free(*train);
        nb_dataset_free(*val);
        *train = *val = NULL;
        goto done;
    }
    snprintf((*train)->name, sizeof(*train)->name, "%.50s/train", ds->name);
    snprintf((*val)->name, sizeof(*val)->name, "%.50s/val", ds->name);
    rc = 0;
done:
    free(idx);
    free(is_val);
    free(tr);
    free(va);
    return rc;
}

/* ----------------------------------------------------------------- gather */
/* Converting uint8 rows of a shuffled batch is bound by fetching them (each
 * row is a few cache lines anywhere in the data set; prefetching rows ahead
 * measured no gain), so the conversion is a table lookup: one table per
 * call, the exact value of each byte.  Batches of at least NB__GATHER_GRAIN
 * values are split by rows over the thread pool (each value is computed the
 * same way whatever the split). */
#define NB__GATHER_GRAIN ((size_t)32768)

typedef struct {
    const nb_dataset *ds;
    const size_t *rows;
    size_t n;
    const void *lut; /* float[256] or double[256] */
    int f32;
    void *x;
} nb__gather_arg;

static void nb__gather_rows(void *arg, size_t lo, size_t hi)
{
    const nb__gather_arg *g = arg;
    const size_t d = g->ds->d;
    for (size_t i = lo; i < hi; i++) {
        const uint8_t *p = g->ds->x8 + g->rows[i] * d;
#if defined(__GNUC__)
        /* rows are random, so the hardware prefetchers cannot guess the
         * next one: ask for it while this one is converted */
        if (i + 1 < hi)
            for (size_t j = 0; j < d; j += 64) __builtin_prefetch(g->ds->x8 + g->rows[i + 1] * d + j);
#endif
        if (g->f32) {
            const float *lf = g->lut;
            float *o = (float *)g->x + i * d;
            for (size_t j = 0; j < d; j++) o[j] = lf[p[j]];
        } else {
            const double *ld = g->lut;
            double *o = (double *)g->x + i * d;
            for (size_t j = 0; j < d; j++) o[j] = ld[p[j]];
        }
    }
}

int nb_dataset_gather(const nb_dataset *ds, const size_t *rows, size_t n, double scale, double mean, double std,
                      nb_dtype dtype, void *x, int32_t *y)
{
    if (!ds || (!rows && n)) return nb__erri("nb_dataset_gather: NULL %s", ds ? "rows" : "dataset");
    if (x && dtype != NB_F32 && dtype != NB_F64)
        return nb__erri("%s: gather: batch dtype must be float32 or float64, not %s", nb__dsname(ds),
                        nb_dtype_name(dtype));
    if (!isfinite(scale) || scale < 0 || !isfinite(mean) || !isfinite(std) || !(std > 0))
        return nb__erri("%s: gather: bad normalisation scale %g mean %g std %g", nb__dsname(ds), scale, mean, std);
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->n)
            return nb__erri("%s: gather: row %zu is past the %zu samples", nb__dsname(ds), rows[i], ds->n);
    size_t d = ds->d;
    if (x && ds->kind == NB_DATA_U8) {
        /* One table per call: (v/255 - mean)/std for each byte value. */
        double lut[256];
        float lf[256];
        for (int v = 0; v < 256; v++) {
            lut[v] = ((scale == 0 ? v / 255.0 : v * scale) - mean) / std;
            lf[v] = (float)lut[v];
        }
        nb__gather_arg g = {ds, rows, n, dtype == NB_F32 ? (const void *)lf : (const void *)lut, dtype == NB_F32, x};
        if (n * d < 2 * NB__GATHER_GRAIN) nb__gather_rows(&g, 0, n);
        else nb__parallel_for(n, (NB__GATHER_GRAIN + d - 1) / d, nb__gather_rows, &g);
    } else if (x) {
        double sc = scale == 0 ? 1.0 : scale;
        for (size_t i = 0; i < n; i++) {
            const double *p = ds->xf + rows[i] * d;
            if (dtype == NB_F32)
                for (size_t j = 0; j < d; j++) ((float *)x)[i * d + j] = (float)((p[j] * sc - mean) / std);
            else
                for (size_t j = 0; j < d; j++) ((double *)x)[i * d + j] = (p[j] * sc - mean) / std;
        }
    }
    if (y) {
        const size_t L = nb_dataset_labels_per_sample(ds);
        for (size_t i = 0; i < n; i++) memcpy(y + i * L, ds->y + rows[i] * L, L * sizeof *y);
    }
    return 0;
}
