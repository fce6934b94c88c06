/* Gradient clipping: torch.nn.utils.clip_grad_norm_ / clip_grad_value_. */
#include "optim_impl.h"

#include <float.h>
#include <math.h>

static int nb__clip_args(const char *fn, nb_dtype dt, double max_norm)
{
    if (dt != NB_F32 && dt != NB_F64)
        return nb__erri("%s: dtype must be float32 or float64, got %s", fn, nb_dtype_name(dt));
    if (!(max_norm >= 0))
        return nb__erri("%s: invalid max_norm %g (must be >= 0)", fn, max_norm);
    return 0;
}

static double nb__sumsq(const void *g, nb_dtype dt, size_t n, double scale, double *amax)
{
    return dt == NB_F32 ? nb__sumsq_f32(g, n, scale, amax) : nb__sumsq_f64(g, n, scale, amax);
}

double nb_clip_grad_norm_multi(void *const *grads, const size_t *ns, int count, nb_dtype dt,
                               double max_norm, int *nonfinite)
{
    const char *fn = "nb_clip_grad_norm";
    if (nonfinite) *nonfinite = 0;
    if (nb__clip_args(fn, dt, max_norm)) return -1;
    if (count < 0 || (count > 0 && (!grads || !ns)))
        return nb__erri("%s: bad buffer list (count %d)", fn, count);
    for (int k = 0; k < count; k++)
        if (!grads[k] && ns[k]) return nb__erri("%s: buffer %d is NULL", fn, k);

    /* One pass in double; a second, scaled by the largest |g|, only when the
     * sum of squares overflows or underflows although every value is finite. */
    double amax = 0, ss = 0;
    for (int k = 0; k < count; k++) ss += nb__sumsq(grads[k], dt, ns[k], 1.0, &amax);
    double norm = sqrt(ss);
    if (isfinite(amax) && amax > 0 && (isinf(ss) || ss < DBL_MIN)) {
        double a2 = 0;
        ss = 0;
        for (int k = 0; k < count; k++) ss += nb__sumsq(grads[k], dt, ns[k], amax, &a2);
        norm = amax * sqrt(ss);
    }
    if (!isfinite(norm)) {
        if (nonfinite) *nonfinite = 1;
        return norm;
    }
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1)
        for (int k = 0; k < count; k++) {
            if (dt == NB_F32) nb__scale_f32(grads[k], ns[k], coef);
            else nb__scale_f64(grads[k], ns[k], coef);
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
        return nb__erri("nb_clip_grad_value: dtype must be float32 or float64, got %s",
                        nb_dtype_name(dt));
    if (!(v >= 0)) return nb__erri("nb_clip_grad_value: invalid clip value %g (must be >= 0)", v);
    if (!grads && n) return nb__erri("nb_clip_grad_value: grads is NULL");
    if (dt == NB_F32) nb__clamp_f32(grads, n, v);
    else nb__clamp_f64(grads, n, v);
    return 0;
}
