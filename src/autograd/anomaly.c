/* Anomaly mode: find the first NaN/Inf an op makes, forward or backward, and
 * say where.  The engine calls nb__anomaly_forward from nb__record (so every
 * op's output is checked as it is made) and nb__anomaly_check during
 * backward; with the mode off neither runs (one branch per op). */
#include "../internal.h"

#include <math.h>

static const char *const nb__policy_names[] = {"off", "stop", "skip", "continue"};

int nb_set_detect_anomaly(nb_ctx *c, nb_anomaly_policy policy)
{
    if (!c) return nb__erri("nb_set_detect_anomaly: NULL context");
    if ((unsigned)policy > NB_ANOMALY_CONTINUE)
        return nb__erri("nb_set_detect_anomaly: unknown policy %d (0 off, 1 stop, 2 skip-step, 3 continue)",
                        (int)policy);
    int prev = c->anomaly_policy;
    c->anomaly_policy = (unsigned char)policy;
    return prev;
}

nb_anomaly_policy nb_detect_anomaly(const nb_ctx *c)
{
    return c ? (nb_anomaly_policy)c->anomaly_policy : NB_ANOMALY_OFF;
}

int nb_anomaly_policy_parse(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i <= NB_ANOMALY_CONTINUE; i++)
        if (!strcmp(name, nb__policy_names[i])) return i;
    if (!strcmp(name, "skip-step")) return NB_ANOMALY_SKIP_STEP;
    return -1;
}

const char *nb_anomaly_policy_name(nb_anomaly_policy p)
{
    return (unsigned)p <= NB_ANOMALY_CONTINUE ? nb__policy_names[p] : "?";
}

const nb_anomaly *nb_anomaly_get(const nb_ctx *c) { return c && c->has_anomaly ? &c->anomaly : NULL; }

void nb_anomaly_clear(nb_ctx *c)
{
    if (!c) return;
    c->has_anomaly = false;
    memset(&c->anomaly, 0, sizeof c->anomaly);
}

/* Index of the first non-finite element of t (float tensors only), or -1. */
static long long nb__first_bad(const nb_tensor *t, double *v)
{
    if (!t || !t->data) return -1;
    if (t->dtype == NB_F32) {
        const float *p = t->data;
        for (size_t i = 0; i < t->numel; i++)
            if (!isfinite(p[i])) {
                *v = p[i];
                return (long long)i;
            }
    } else if (t->dtype == NB_F64) {
        const double *p = t->data;
        for (size_t i = 0; i < t->numel; i++)
            if (!isfinite(p[i])) {
                *v = p[i];
                return (long long)i;
            }
    }
    return -1;
}

/* "[2, 3]" appended at buf[*at]. */
static void nb__put_shape(char *buf, size_t size, size_t *at, int ndim, const size_t *shape)
{
    if (*at >= size) return;
    int k = snprintf(buf + *at, size - *at, "[");
    for (int d = 0; d < ndim && k >= 0; d++) {
        *at += (size_t)k;
        if (*at >= size) return;
        k = snprintf(buf + *at, size - *at, "%s%zu", d ? ", " : "", shape[d]);
    }
    if (k >= 0) *at += (size_t)k;
    if (*at < size) *at += (size_t)snprintf(buf + *at, size - *at, "]");
}

static const char *nb__valname(double v) { return isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"); }

char *nb_anomaly_describe(const nb_anomaly *a, char *buf, size_t size)
{
    if (!buf || !size) return buf;
    if (!a) {
        snprintf(buf, size, "no anomaly");
        return buf;
    }
    char shp[96];
    size_t at = 0;
    nb__put_shape(shp, sizeof shp, &at, a->ndim, a->shape);
    char site[300] = "";
    if (a->layer[0] && a->file)
        snprintf(site, sizeof site, "; in model layer %s, from the call at %s:%d", a->layer, a->file, a->line);
    else if (a->layer[0]) snprintf(site, sizeof site, "; in model layer %s", a->layer);
    else if (a->file) snprintf(site, sizeof site, "; %s was called at %s:%d", a->op, a->file, a->line);
    if (!a->backward && a->input < 0)
        snprintf(buf, size, "anomaly: %s produced %s in the forward pass, at index %zu of its output %s (shapes %s)%s",
                 a->op, nb__valname(a->value), a->index, shp, a->shapes, site);
    else if (!a->backward)
        snprintf(buf, size,
                 "anomaly: input %d of %s was already non-finite in the forward pass: %s at index %zu of %s "
                 "(shapes %s)%s",
                 a->input, a->op, nb__valname(a->value), a->index, shp, a->shapes, site);
    else if (a->input < 0 && !a->shapes[0])
        snprintf(buf, size, "anomaly: a gradient hook on a leaf left %s at index %zu of its gradient %s",
                 nb__valname(a->value), a->index, shp);
    else if (a->input < 0)
        snprintf(buf, size,
                 "anomaly: the gradient flowing into the output of %s is %s at index %zu of %s (shapes %s)%s", a->op,
                 nb__valname(a->value), a->index, shp, a->shapes, site);
    else
        snprintf(buf, size,
                 "anomaly: the backward of %s produced %s at index %zu of the gradient for input %d %s "
                 "(shapes %s)%s",
                 a->op, nb__valname(a->value), a->index, a->input, shp, a->shapes, site);
    return buf;
}

int nb__anomaly_check(nb_ctx *c, const char *op, int backward, int input, const nb_tensor *t, int n_in,
                      nb_tensor *const *in, const nb_tensor *out, nb__site site)
{
    double v = 0;
    long long bad = nb__first_bad(t, &v);
    if (bad < 0) return 0;
    nb_anomaly a;
    memset(&a, 0, sizeof a);
    snprintf(a.op, sizeof a.op, "%s", op ? op : "?");
    a.backward = backward;
    a.input = input;
    a.ndim = t->ndim;
    memcpy(a.shape, t->shape, sizeof a.shape);
    size_t at = 0;
    for (int i = 0; i < n_in && at < sizeof a.shapes; i++) {
        if (i) at += (size_t)snprintf(a.shapes + at, sizeof a.shapes - at, " x ");
        if (in[i]) nb__put_shape(a.shapes, sizeof a.shapes, &at, in[i]->ndim, in[i]->shape);
    }
    if (out && at < sizeof a.shapes) {
        if (n_in) at += (size_t)snprintf(a.shapes + at, sizeof a.shapes - at, " -> ");
        nb__put_shape(a.shapes, sizeof a.shapes, &at, out->ndim, out->shape);
    }
    a.index = (size_t)bad;
    a.value = v;
    a.file = site.file;
    a.line = site.file ? site.line : 0;
    if (site.layer) snprintf(a.layer, sizeof a.layer, "%s", site.layer);
    if (!c->has_anomaly) {
        c->anomaly = a;
        c->has_anomaly = true;
    }
    c->anomaly.count++;
    if (c->anomaly_policy != NB_ANOMALY_STOP) return 0;
    char msg[512];
    nb__err("%s", nb_anomaly_describe(&a, msg, sizeof msg));
    return -1;
}

int nb__anomaly_forward(nb_ctx *c, const char *op, const nb_tensor *out, int n_in, nb_tensor *const *in, nb__site site)
{
    double v;
    if (!nb__is_float(out->dtype) || nb__first_bad(out, &v) < 0) return 0;
    /* Blame an input that was already bad (data, a parameter, or a tensor
     * made before the mode was on); otherwise this op made the value. */
    for (int i = 0; i < n_in; i++)
        if (in[i] && nb__is_float(in[i]->dtype) && nb__first_bad(in[i], &v) >= 0)
            return nb__anomaly_check(c, op, 0, i, in[i], n_in, in, out, site);
    return nb__anomaly_check(c, op, 0, -1, out, n_in, in, out, site);
}
