/* The gradient monitor (see nabla/monitor.h): step hooks that measure a
 * step's gradients, parameters, updates and activations every N steps. */
#include "../internal.h"
#include "../nn/nn_internal.h"
#include "nabla/json.h"
#include "nabla/monitor.h"
#include "state.h"

#include <math.h>
#include <stdlib.h>

/* A measured slice of the parameters: a trainable entry, or one gate's rows
 * of a gated recurrent layer's weight matrix ("layers.1.weight_hh_l0[f]"). */
typedef struct {
    const char *name; /* the entry's (owned by the model), or gname */
    size_t offset, numel;
    bool redundant; /* a bias that batch normalisation follows (nb__bias_before_batchnorm) */
    char gname[96];
} nb__mon_row;

struct nb_monitor {
    nb_model *m;
    nb_monitor_opts o;
    nb_step_hooks hooks;
    nb_dtype dt;
    size_t np;              /* rows: the trainable entries, then their gates' parts */
    size_t np_ent;          /* of which trainable entries */
    nb__mon_row *row;       /* [np] */
    bool told_redundant;    /* NB_MON_REDUNDANT_BIAS raised (once per monitor) */
    size_t nl;              /* monitored activation layers */
    nb_monitor_layer *lay0; /* [nl] layer, kind filled once */
    void *snap;             /* [n_params] parameters before the update */
    int64_t next_step;      /* number of the next step */
    /* the record being built */
    nb_monitor_record cur;
    nb_monitor_param *cur_p; /* [np] */
    nb_monitor_layer *cur_l; /* [nl] */
    bool pending, have_snap, have_last;
    nb_monitor_warning *step_w; /* [np + nl + 2] this step's warnings */
    size_t n_step_w;
    /* the last completed record (copy) */
    nb_monitor_record last;
    nb_monitor_param *last_p;
    nb_monitor_layer *last_l;
    /* history */
    nb_monitor_record *hist;
    nb_monitor_param *hist_p; /* [cap * np] */
    nb_monitor_layer *hist_l; /* [cap * nl] */
    size_t n_hist, cap_hist;
    uint64_t n_done, stride; /* records completed; keep those with ordinal % stride == 0 */
    nb_monitor_warning *warn;
    size_t n_warn, cap_warn, n_warn_total;
};

static const char *const nb__warn_names[NB_MON__COUNT] = {"vanishing", "exploding", "dead_relu",
                                                          "saturated", "nonfinite", "redundant_bias"};

const char *nb_monitor_warn_name(nb_monitor_warn k) { return (unsigned)k < NB_MON__COUNT ? nb__warn_names[k] : "?"; }

static double nb__def(double v, double d) { return v == 0 ? d : v; }

nb_monitor *nb_monitor_new(nb_model *m, const nb_monitor_opts *opts)
{
    if (!m) return nb__err("nb_monitor_new: NULL model");
    if (nb_model_finalize(m)) return NULL;
    nb__model_keep_acts(m); /* the relu layers' outputs, for the dead-unit counts */
    nb_monitor_opts o = opts ? *opts : (nb_monitor_opts){0};
    if (o.every < 0) return nb__err("nb_monitor_new: every must be >= 0 (got %ld)", o.every);
    o.every = o.every ? o.every : 1;
    o.vanishing = nb__def(o.vanishing, 1e-6);
    o.exploding = nb__def(o.exploding, 10);
    o.dead_frac = nb__def(o.dead_frac, 0.5);
    o.saturation = nb__def(o.saturation, 0.99);
    o.saturated_frac = nb__def(o.saturated_frac, 0.5);
    if (!(o.saturation > 0.5 && o.saturation < 1))
        return nb__err("nb_monitor_new: saturation level must be in (0.5, 1) (got %g)", o.saturation);
    if (isnan(o.vanishing) || isnan(o.exploding) || isnan(o.dead_frac) || isnan(o.saturated_frac))
        return nb__err("nb_monitor_new: a threshold is NaN");
    o.history = o.history ? (o.history < 2 ? 2 : o.history) : 1024;
    o.max_warnings = o.max_warnings ? o.max_warnings : 1000;

    nb_monitor *mon = calloc(1, sizeof *mon);
    if (!mon) return nb__err("nb_monitor_new: out of memory");
    mon->m = m;
    mon->o = o;
    mon->dt = nb_model_dtype(m);
    mon->next_step = 1;
    mon->stride = 1;
    size_t ne = nb_model_n_entries(m), nlay = nb_model_n_layers(m);
    for (size_t i = 0; i < ne; i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        const char *g = e->trainable ? nb__rec_gates(m, e->t) : NULL;
        mon->np_ent += e->trainable != 0;
        mon->np += (e->trainable != 0) + (g ? strlen(g) : 0);
    }
    for (size_t i = 0; i < nlay; i++) {
        const char *k = nb_model_layer_kind(m, i);
        mon->nl += k && (!strcmp(k, "relu") || !strcmp(k, "sigmoid") || !strcmp(k, "tanh"));
    }
    size_t np1 = mon->np ? mon->np : 1, nl1 = mon->nl ? mon->nl : 1;
    mon->row = calloc(np1, sizeof *mon->row);
    mon->lay0 = calloc(nl1, sizeof *mon->lay0);
    mon->cur_p = calloc(np1, sizeof *mon->cur_p);
    mon->cur_l = calloc(nl1, sizeof *mon->cur_l);
    mon->last_p = calloc(np1, sizeof *mon->last_p);
    mon->last_l = calloc(nl1, sizeof *mon->last_l);
    mon->step_w = calloc(mon->np + mon->nl + 2, sizeof *mon->step_w);
    mon->snap = calloc(nb_model_n_params(m) ? nb_model_n_params(m) : 1, nb_dtype_size(mon->dt));
    if (!mon->row || !mon->lay0 || !mon->cur_p || !mon->cur_l || !mon->last_p || !mon->last_l || !mon->step_w ||
        !mon->snap) {
        nb_monitor_free(mon);
        return nb__err("nb_monitor_new: out of memory");
    }
    size_t k = 0, kg = mon->np_ent;
    for (size_t i = 0; i < ne; i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        if (!e->trainable) continue;
        mon->row[k++] = (nb__mon_row){.name = e->name,
                                      .offset = e->offset,
                                      .numel = e->t->numel,
                                      .redundant = nb__bias_before_batchnorm(m, e->name)};
        const char *g = nb__rec_gates(m, e->t);
        const size_t G = g ? strlen(g) : 0;
        for (size_t j = 0; j < G; j++) { /* [G*H, F]: gate j holds rows j*H .. (j+1)*H */
            nb__mon_row *r = &mon->row[kg++];
            r->numel = e->t->numel / G;
            r->offset = e->offset + j * r->numel;
            snprintf(r->gname, sizeof r->gname, "%s[%c]", e->name, g[j]);
            r->name = r->gname;
        }
    }
    k = 0;
    for (size_t i = 0; i < nlay; i++) {
        const char *kind = nb_model_layer_kind(m, i);
        if (!kind || (strcmp(kind, "relu") && strcmp(kind, "sigmoid") && strcmp(kind, "tanh"))) continue;
        mon->lay0[k].layer = i;
        mon->lay0[k].kind = kind;
        k++;
    }
    mon->hooks.user = mon;
    return mon;
}

void nb_monitor_free(nb_monitor *mon)
{
    if (!mon) return;
    free(mon->row);
    free(mon->lay0);
    free(mon->cur_p);
    free(mon->cur_l);
    free(mon->last_p);
    free(mon->last_l);
    free(mon->step_w);
    free(mon->snap);
    free(mon->hist);
    free(mon->hist_p);
    free(mon->hist_l);
    free(mon->warn);
    free(mon);
}

void nb_monitor_set_step(nb_monitor *mon, int64_t step)
{
    if (mon) mon->next_step = step;
}

/* ------------------------------------------------------------- measuring */
/* Sum of squares of buf[off .. off+n) (dtype dt), in double. */
static double nb__ss(const void *buf, nb_dtype dt, size_t off, size_t n)
{
    double s = 0;
    if (dt == NB_F32) {
        const float *p = (const float *)buf + off;
        for (size_t i = 0; i < n; i++) s += (double)p[i] * (double)p[i];
    } else {
        const double *p = (const double *)buf + off;
        for (size_t i = 0; i < n; i++) s += p[i] * p[i];
    }
    return s;
}

/* Sum of squares of a[off..] - b[off..]. */
static double nb__ss_diff(const void *a, const void *b, nb_dtype dt, size_t off, size_t n)
{
    double s = 0;
    if (dt == NB_F32) {
        const float *p = (const float *)a + off, *q = (const float *)b + off;
        for (size_t i = 0; i < n; i++) {
            double d = (double)p[i] - (double)q[i];
            s += d * d;
        }
    } else {
        const double *p = (const double *)a + off, *q = (const double *)b + off;
        for (size_t i = 0; i < n; i++) {
            double d = p[i] - q[i];
            s += d * d;
        }
    }
    return s;
}

static void nb__layer_stats(const nb_monitor *mon, nb_monitor_layer *l, const nb_tensor *y)
{
    l->units = 0;
    l->dead_frac = l->saturated_frac = NAN;
    if (!y || !y->numel || y->ndim < 1) return;
    size_t u = y->shape[y->ndim - 1], n = y->numel / u;
    l->units = u;
    if (!strcmp(l->kind, "relu")) {
        size_t dead = 0;
        for (size_t j = 0; j < u; j++) {
            size_t i = 0;
            for (; i < n; i++)
                if (nb_get(y, i * u + j) != 0) break;
            dead += i == n;
        }
        l->dead_frac = (double)dead / (double)u;
    } else {
        double s = mon->o.saturation, lo = 1 - s;
        int tanh = !strcmp(l->kind, "tanh");
        size_t sat = 0;
        for (size_t i = 0; i < y->numel; i++) {
            double v = nb_get(y, i);
            sat += tanh ? fabs(v) > s : (v < lo || v > s);
        }
        l->saturated_frac = (double)sat / (double)y->numel;
    }
}

/* ------------------------------------------------------------- warnings */
static void nb__warn(nb_monitor *mon, nb_monitor_warn kind, const char *where, double value, double threshold)
{
    nb_monitor_warning *w = &mon->step_w[mon->n_step_w++];
    w->kind = kind;
    w->step = mon->cur.step;
    snprintf(w->where, sizeof w->where, "%s", where);
    w->value = value;
    w->threshold = threshold;
}

static void nb__norm_warnings(nb_monitor *mon, const char *where, double norm)
{
    const nb_monitor_opts *o = &mon->o;
    if (!isfinite(norm)) nb__warn(mon, NB_MON_NONFINITE, where, norm, NAN);
    else if (o->vanishing > 0 && norm < o->vanishing) nb__warn(mon, NB_MON_VANISHING, where, norm, o->vanishing);
    else if (o->exploding > 0 && norm > o->exploding) nb__warn(mon, NB_MON_EXPLODING, where, norm, o->exploding);
}

static int nb__grow(void **p, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < want) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static void nb__rebase(nb_monitor *mon)
{
    for (size_t i = 0; i < mon->n_hist; i++) {
        mon->hist[i].params = mon->hist_p + i * mon->np;
        mon->hist[i].layers = mon->hist_l + i * mon->nl;
    }
}

/* Copy the current record into the history (grow by doubling up to the
 * cap; at the cap keep every second record and double the stride). */
static void nb__keep(nb_monitor *mon)
{
    uint64_t ord = mon->n_done++;
    if (ord % mon->stride) return;
    if (mon->n_hist == mon->o.history) {
        size_t k = 0;
        for (size_t i = 0; i < mon->n_hist; i += 2, k++) {
            mon->hist[k] = mon->hist[i];
            memmove(mon->hist_p + k * mon->np, mon->hist_p + i * mon->np, mon->np * sizeof *mon->hist_p);
            memmove(mon->hist_l + k * mon->nl, mon->hist_l + i * mon->nl, mon->nl * sizeof *mon->hist_l);
        }
        mon->n_hist = k;
        mon->stride *= 2;
        nb__rebase(mon);
        if (ord % mon->stride) return;
    }
    if (mon->n_hist == mon->cap_hist) { /* grow by doubling, up to the cap; no memory: skip the record */
        size_t cap = mon->cap_hist ? mon->cap_hist * 2 : 16;
        if (cap > mon->o.history) cap = mon->o.history;
        nb_monitor_record *h = realloc(mon->hist, cap * sizeof *h);
        if (!h) return;
        mon->hist = h;
        nb__rebase(mon);
        if (mon->np) {
            nb_monitor_param *p = realloc(mon->hist_p, cap * mon->np * sizeof *p);
            if (!p) return;
            mon->hist_p = p;
        }
        if (mon->nl) {
            nb_monitor_layer *l = realloc(mon->hist_l, cap * mon->nl * sizeof *l);
            if (!l) return;
            mon->hist_l = l;
        }
        mon->cap_hist = cap;
        nb__rebase(mon);
    }
    size_t i = mon->n_hist++;
    mon->hist[i] = mon->cur;
    if (mon->np) memcpy(mon->hist_p + i * mon->np, mon->cur_p, mon->np * sizeof *mon->cur_p);
    if (mon->nl) memcpy(mon->hist_l + i * mon->nl, mon->cur_l, mon->nl * sizeof *mon->cur_l);
    mon->hist[i].params = mon->hist_p + i * mon->np;
    mon->hist[i].layers = mon->hist_l + i * mon->nl;
}

/* The record is complete: warnings, history, last, callback. */
static void nb__finish(nb_monitor *mon)
{
    if (!mon->pending) return;
    mon->pending = false;
    nb_monitor_record *r = &mon->cur;
    const nb_monitor_opts *o = &mon->o;
    mon->n_step_w = 0;
    if (!isfinite(r->loss)) nb__warn(mon, NB_MON_NONFINITE, "loss", r->loss, NAN);
    nb__norm_warnings(mon, "global", r->grad_norm);
    for (size_t i = 0; i < mon->np_ent; i++) { /* the gates' parts: in their entry's */
        const nb_monitor_param *p = &mon->cur_p[i];
        if (!mon->row[i].redundant || !isfinite(p->grad_norm)) nb__norm_warnings(mon, p->name, p->grad_norm);
        else if (!mon->told_redundant) nb__warn(mon, NB_MON_REDUNDANT_BIAS, p->name, p->grad_norm, NAN);
    }
    mon->told_redundant = true;
    for (size_t i = 0; i < mon->nl; i++) {
        const nb_monitor_layer *l = &mon->cur_l[i];
        char where[96];
        snprintf(where, sizeof where, "layers.%zu (%s)", l->layer, l->kind);
        if (o->dead_frac >= 0 && l->dead_frac > o->dead_frac)
            nb__warn(mon, NB_MON_DEAD_RELU, where, l->dead_frac, o->dead_frac);
        if (o->saturated_frac >= 0 && l->saturated_frac > o->saturated_frac)
            nb__warn(mon, NB_MON_SATURATED, where, l->saturated_frac, o->saturated_frac);
    }
    r->n_warnings = mon->n_step_w;
    for (size_t k = 0; k < mon->n_step_w; k++) {
        mon->n_warn_total++;
        if (mon->n_warn >= o->max_warnings) continue;
        if (mon->n_warn == mon->cap_warn &&
            nb__grow((void **)&mon->warn, &mon->cap_warn, mon->n_warn + 1, sizeof *mon->warn))
            continue;
        mon->warn[mon->n_warn++] = mon->step_w[k];
    }
    nb__keep(mon);
    mon->last = *r;
    if (mon->np) memcpy(mon->last_p, mon->cur_p, mon->np * sizeof *mon->cur_p);
    if (mon->nl) memcpy(mon->last_l, mon->cur_l, mon->nl * sizeof *mon->cur_l);
    mon->last.params = mon->last_p;
    mon->last.layers = mon->last_l;
    mon->have_last = true;
    if (o->on_record) o->on_record(o->user, &mon->last, mon->step_w, mon->n_step_w);
}

void nb_monitor_flush(nb_monitor *mon)
{
    if (mon) nb__finish(mon);
}

/* ----------------------------------------------------------------- hooks */
static int nb__check_model(nb_monitor *mon, nb_model *m)
{
    if (m != mon->m) return nb__erri("monitor: the step's model is not the one the monitor was made for");
    return 0;
}

static int nb__after_backward(void *user, nb_model *m, nb_tensor *loss)
{
    nb_monitor *mon = user;
    if (nb__check_model(mon, m)) return -1;
    nb__finish(mon); /* a previous step that made no update */
    int64_t step = mon->next_step++;
    double lv = loss ? nb_item(loss) : NAN;
    if (!(step == 1 || step % mon->o.every == 0 || !isfinite(lv))) return 0;
    nb_monitor_record *r = &mon->cur;
    memset(r, 0, sizeof *r);
    r->step = step;
    r->loss = lv;
    r->grad_norm_clipped = NAN;
    r->n_params = mon->np;
    r->params = mon->cur_p;
    r->n_layers = mon->nl;
    r->layers = mon->cur_l;
    const void *g = nb_model_grads(m);
    double total = 0;
    for (size_t i = 0; i < mon->np; i++) {
        const nb__mon_row *e = &mon->row[i];
        nb_monitor_param *p = &mon->cur_p[i];
        double ss = nb__ss(g, mon->dt, e->offset, e->numel);
        if (i < mon->np_ent) total += ss;
        *p = (nb_monitor_param){.name = e->name,
                                .numel = e->numel,
                                .grad_norm = sqrt(ss),
                                .param_norm = NAN,
                                .update_norm = NAN,
                                .update_ratio = NAN};
    }
    r->grad_norm = sqrt(total);
    for (size_t i = 0; i < mon->nl; i++) {
        mon->cur_l[i] = mon->lay0[i];
        nb__layer_stats(mon, &mon->cur_l[i], nb_model_layer_output(m, mon->lay0[i].layer));
    }
    mon->pending = true;
    mon->have_snap = false;
    if (!isfinite(lv) || !isfinite(r->grad_norm)) nb__finish(mon); /* no update will follow */
    return 0;
}

static int nb__after_clip(void *user, nb_model *m, double before, double after)
{
    nb_monitor *mon = user;
    if (nb__check_model(mon, m)) return -1;
    if (!mon->pending) return 0;
    mon->cur.grad_norm = before;
    mon->cur.grad_norm_clipped = after;
    memcpy(mon->snap, nb_model_params(m), nb_model_n_params(m) * nb_dtype_size(mon->dt));
    mon->have_snap = true;
    return 0;
}

static int nb__after_update(void *user, nb_model *m)
{
    nb_monitor *mon = user;
    if (nb__check_model(mon, m)) return -1;
    if (!mon->pending) return 0;
    mon->cur.updated = 1;
    if (mon->have_snap) {
        const void *p = nb_model_params(m);
        for (size_t i = 0; i < mon->np; i++) {
            const nb__mon_row *e = &mon->row[i];
            nb_monitor_param *q = &mon->cur_p[i];
            q->param_norm = sqrt(nb__ss(mon->snap, mon->dt, e->offset, e->numel));
            q->update_norm = sqrt(nb__ss_diff(p, mon->snap, mon->dt, e->offset, e->numel));
            q->update_ratio = q->param_norm > 0 ? q->update_norm / q->param_norm : NAN;
        }
    }
    nb__finish(mon);
    return 0;
}

const nb_step_hooks *nb_monitor_hooks(nb_monitor *mon)
{
    if (!mon) return NULL;
    mon->hooks = (nb_step_hooks){.user = mon,
                                 .after_backward = nb__after_backward,
                                 .after_clip = nb__after_clip,
                                 .after_update = nb__after_update};
    return &mon->hooks;
}

/* -------------------------------------------------------------- history */
size_t nb_monitor_n_records(const nb_monitor *mon) { return mon ? mon->n_hist : 0; }
const nb_monitor_record *nb_monitor_record_at(const nb_monitor *mon, size_t i)
{
    return mon && i < mon->n_hist ? &mon->hist[i] : NULL;
}
const nb_monitor_record *nb_monitor_last(const nb_monitor *mon) { return mon && mon->have_last ? &mon->last : NULL; }
size_t nb_monitor_n_warnings(const nb_monitor *mon) { return mon ? mon->n_warn : 0; }
size_t nb_monitor_n_warnings_total(const nb_monitor *mon) { return mon ? mon->n_warn_total : 0; }
const nb_monitor_warning *nb_monitor_warning_at(const nb_monitor *mon, size_t i)
{
    return mon && i < mon->n_warn ? &mon->warn[i] : NULL;
}

/* ------------------------------------------------------------ formatting */
char *nb_monitor_warning_str(const nb_monitor_warning *w, char *buf, size_t size)
{
    if (!buf || !size) return buf;
    if (!w) {
        buf[0] = '\0';
        return buf;
    }
    const char *what = !strcmp(w->where, "global") ? "global gradient norm" : "gradient norm";
    const char *who = !strcmp(w->where, "global") ? "" : w->where;
    const char *sp = *who ? " " : "";
    switch (w->kind) {
    case NB_MON_VANISHING:
        snprintf(buf, size, "step %lld: vanishing gradient: %s%s%s %.3g < %g", (long long)w->step, who, sp, what,
                 w->value, w->threshold);
        break;
    case NB_MON_EXPLODING:
        snprintf(buf, size, "step %lld: exploding gradient: %s%s%s %.3g > %g", (long long)w->step, who, sp, what,
                 w->value, w->threshold);
        break;
    case NB_MON_DEAD_RELU:
        snprintf(buf, size,
                 "step %lld: dead ReLUs: %s: %.0f%% of its units are 0 for every sample of the batch (> %.0f%%)",
                 (long long)w->step, w->where, 100 * w->value, 100 * w->threshold);
        break;
    case NB_MON_SATURATED:
        snprintf(buf, size, "step %lld: saturated units: %s: %.0f%% of its outputs are saturated (> %.0f%%)",
                 (long long)w->step, w->where, 100 * w->value, 100 * w->threshold);
        break;
    case NB_MON_REDUNDANT_BIAS:
        snprintf(buf, size,
                 "step %lld: redundant bias: %s gradient norm %.3g: batch normalisation follows its layer and "
                 "subtracts the per-channel mean, so this bias cancels out and its gradient is zero by "
                 "construction (not vanishing); drop it (bias=0)",
                 (long long)w->step, w->where, w->value);
        break;
    case NB_MON_NONFINITE:
        if (!strcmp(w->where, "loss"))
            snprintf(buf, size, "step %lld: non-finite: the loss is %s", (long long)w->step,
                     isnan(w->value) ? "NaN" : "Inf");
        else
            snprintf(buf, size, "step %lld: non-finite: %s%s%s is %s", (long long)w->step, who, sp, what,
                     isnan(w->value) ? "NaN" : "Inf");
        break;
    default: snprintf(buf, size, "step %lld: warning %d", (long long)w->step, (int)w->kind);
    }
    return buf;
}

void nb_monitor_warning_json(const nb_monitor_warning *w, FILE *f)
{
    if (!w || !f) return;
    char line[320];
    fprintf(f, "{\"event\":\"warning\",\"step\":%lld,\"kind\":", (long long)w->step);
    nb_json_write_string(f, nb_monitor_warn_name(w->kind));
    fputs(",\"where\":", f);
    nb_json_write_string(f, w->where);
    fputs(",\"value\":", f);
    if (isfinite(w->value)) nb_json_write_number(f, w->value);
    else nb_json_write_string(f, isnan(w->value) ? "NaN" : (w->value > 0 ? "Inf" : "-Inf"));
    fputs(",\"threshold\":", f);
    nb_json_write_number(f, w->threshold);
    fputs(",\"message\":", f);
    nb_json_write_string(f, nb_monitor_warning_str(w, line, sizeof line));
    fputs("}\n", f);
}

void nb_monitor_record_json(const nb_monitor_record *r, FILE *f)
{
    if (!r || !f) return;
    fprintf(f, "{\"event\":\"monitor\",\"step\":%lld,\"loss\":", (long long)r->step);
    nb_json_write_number(f, r->loss);
    fputs(",\"grad_norm\":", f);
    nb_json_write_number(f, r->grad_norm);
    fputs(",\"grad_norm_clipped\":", f);
    nb_json_write_number(f, r->grad_norm_clipped);
    fprintf(f, ",\"updated\":%s,\"warnings\":%zu,\"params\":[", r->updated ? "true" : "false", r->n_warnings);
    for (size_t i = 0; i < r->n_params; i++) {
        const nb_monitor_param *p = &r->params[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        nb_json_write_string(f, p->name);
        fprintf(f, ",\"numel\":%zu,\"grad_norm\":", p->numel);
        nb_json_write_number(f, p->grad_norm);
        fputs(",\"param_norm\":", f);
        nb_json_write_number(f, p->param_norm);
        fputs(",\"update_ratio\":", f);
        nb_json_write_number(f, p->update_ratio);
        fputc('}', f);
    }
    fputs("],\"layers\":[", f);
    for (size_t i = 0; i < r->n_layers; i++) {
        const nb_monitor_layer *l = &r->layers[i];
        fprintf(f, "%s{\"layer\":%zu,\"kind\":", i ? "," : "", l->layer);
        nb_json_write_string(f, l->kind);
        fprintf(f, ",\"units\":%zu,\"%s\":", l->units, strcmp(l->kind, "relu") ? "saturated_frac" : "dead_frac");
        nb_json_write_number(f, strcmp(l->kind, "relu") ? l->saturated_frac : l->dead_frac);
        fputc('}', f);
    }
    fputs("]}\n", f);
}
