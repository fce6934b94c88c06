/* Gradient clipping: torch.nn.utils.clip_grad_norm_ / clip_grad_value_. */
#include "optim_impl.h"

#include <float.h>
#include <math.h>

static int nb__clip_args(const char *fn, nb_dtype dt, double max_norm)
{
    if (dt != NB_F32 && dt != NB_F64)
        return nb__erri("%s: dtype must be float32 or float64, got %s", fn, nb_dtype_name(dt));
    if (!(max_norm >= 0)) return nb__erri("%s: invalid max_norm %g (must be >= 0)", fn, max_norm);
    return 0;
}

/* The sum of squares of a buffer.  Big buffers are cut into fixed chunks
 * (their size depends on n only, never on the thread count), summed by the
 * pool's threads and added in chunk order: the same result for any number of
 * threads.  Up to one chunk it is a single call, as it always was. */
#define NB__SS_CHUNK 65536
#define NB__SS_MAXCHUNKS 256

typedef struct {
    const void *g;
    nb_dtype dt;
    size_t n, chunk;
    double scale;
    double ss[NB__SS_MAXCHUNKS], amax[NB__SS_MAXCHUNKS];
} nb__ss_job;

static double nb__sumsq1(const void *g, nb_dtype dt, size_t n, double scale, double *amax)
{
    return dt == NB_F32 ? nb__sumsq_f32(g, n, scale, amax) : nb__sumsq_f64(g, n, scale, amax);
}

static void nb__ss_task(void *arg, size_t t)
{
    nb__ss_job *j = arg;
    const size_t lo = t * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    const size_t es = nb_dtype_size(j->dt);
    j->amax[t] = 0;
    j->ss[t] = nb__sumsq1((const char *)j->g + lo * es, j->dt, hi - lo, j->scale, &j->amax[t]);
}

static double nb__sumsq(const void *g, nb_dtype dt, size_t n, double scale, double *amax)
{
    if (n <= NB__SS_CHUNK) return nb__sumsq1(g, dt, n, scale, amax);
    nb__ss_job j = {.g = g, .dt = dt, .n = n, .scale = scale};
    j.chunk = (n + NB__SS_MAXCHUNKS - 1) / NB__SS_MAXCHUNKS;
    if (j.chunk < NB__SS_CHUNK) j.chunk = NB__SS_CHUNK;
    j.chunk = (j.chunk + 15) / 16 * 16;
    const size_t nt = (n + j.chunk - 1) / j.chunk;
    nb__pool_run(nt, nb__ss_task, &j);
    double ss = 0, mx = *amax;
    for (size_t t = 0; t < nt; t++) {
        ss += j.ss[t];
        if (j.amax[t] > mx || isinf(j.amax[t])) mx = j.amax[t];
    }
    *amax = mx;
    return ss;
}

typedef struct {
    void *g;
    nb_dtype dt;
    double coef;
} nb__scale_job;

static void nb__scale_range(void *arg, size_t lo, size_t hi)
{
    const nb__scale_job *j = arg;
    if (j->dt == NB_F32) nb__scale_f32((float *)j->g + lo, hi - lo, j->coef);
    else nb__scale_f64((double *)j->g + lo, hi - lo, j->coef);
}

/* One pass in double; a second, scaled by the largest |g|, only when the sum
 * of squares overflows or underflows although every value is finite. */
double nb__grad_norm(void *const *grads, const size_t *ns, int count, nb_dtype dt, int *nonfinite)
{
    if (nonfinite) *nonfinite = 0;
    double amax = 0, ss = 0;
    for (int k = 0; k < count; k++) ss += nb__sumsq(grads[k], dt, ns[k], 1.0, &amax);
    double norm = sqrt(ss);
    if (isfinite(amax) && amax > 0 && (isinf(ss) || ss < DBL_MIN)) {
        double a2 = 0;
        ss = 0;
        for (int k = 0; k < count; k++) ss += nb__sumsq(grads[k], dt, ns[k], amax, &a2);
        norm = amax * sqrt(ss);
    }
    if (!isfinite(norm) && nonfinite) *nonfinite = 1;
    return norm;
}

double nb__clip_coef(double norm, double max_norm)
{
    const double coef = max_norm / (norm + 1e-6);
    return coef < 1 ? coef : 1;
}

double nb_clip_grad_norm_multi(void *const *grads, const size_t *ns, int count, nb_dtype dt, double max_norm,
                               int *nonfinite)
{
    const char *fn = "nb_clip_grad_norm";
    if (nonfinite) *nonfinite = 0;
    if (nb__clip_args(fn, dt, max_norm)) return -1;
    if (count < 0 || (count > 0 && (!grads || !ns))) return nb__erri("%s: bad buffer list (count %d)", fn, count);
    for (int k = 0; k < count; k++)
        if (!grads[k] && ns[k]) return nb__erri("%s: buffer %d is NULL", fn, k);

    const double norm = nb__grad_norm(grads, ns, count, dt, nonfinite);
    if (!isfinite(norm)) return norm;
    const double coef = nb__clip_coef(norm, max_norm);
    if (coef != 1)
        for (int k = 0; k < count; k++) {
            nb__scale_job j = {grads[k], dt, coef};
            nb__parallel_for(ns[k], NB__OPTIM_GRAIN, nb__scale_range, &j);
        }
    return norm;
}

double nb_clip_grad_norm(void *grads, nb_dtype dt, size_t n, double max_norm, int *nonfinite)
{
    return nb_clip_grad_norm_multi(&grads, &n, 1, dt, max_norm, nonfinite);
}

int nb_clip_grad_value(void *grads, nb_dtype dt, size_t n, double v)
{
    if (dt != NB_F32 && dt != NB_F64)
        return nb__erri("nb_clip_grad_value: dtype must be float32 or float64, got %s", nb_dtype_name(dt));
    if (!(v >= 0)) return nb__erri("nb_clip_grad_value: invalid clip value %g (must be >= 0)", v);
    if (!grads && n) return nb__erri("nb_clip_grad_value: grads is NULL");
    if (dt == NB_F32) nb__clamp_f32(grads, n, v);
    else nb__clamp_f64(grads, n, v);
    return 0;
}
