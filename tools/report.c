/* The HTML training report (see report.h): a JSON-lines reader for
 * metrics.jsonl (the library's strict parser, one line at a time; lines that
 * do not parse, such as a half-written last line, are counted and skipped),
 * then the page: summary, charts (nb_plot_svg), a per-parameter gradient-norm
 * heatmap and every warning. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nabla/json.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/plot.h"

/* ------------------------------------------------------------ the data */
typedef struct {
    double *v;
    size_t n, cap;
} nb__dv;

static void nb__push(nb__dv *d, double x)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        double *v = realloc(d->v, cap * sizeof *v);
        if (!v) return; /* out of memory: the point is dropped */
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = x;
}

typedef struct {
    long long step;
    char kind[24], where[96], msg[480];
} nb__warnrec;

#define NB__MAXP 64 /* parameters and layers shown */

typedef struct {
    char model[128], opt[32];
    double lr, clip_norm;
    long long batch, epochs, params;
    int starts;
    nb__dv log_step, log_loss, log_gn, log_lr;
    nb__dv ep_step, ep_train, ep_test, ep_acc;
    nb__dv mon_step, mon_loss, mon_gn, mon_gnc;
    char pname[NB__MAXP][96];
    size_t np;
    nb__dv pgrad[NB__MAXP], pratio[NB__MAXP];
    char lname[NB__MAXP][96];
    size_t nl;
    nb__dv lfrac[NB__MAXP];
    nb__warnrec *w;
    size_t nw, capw;
    int done, interrupted;
    double test_acc, test_loss;
    long long steps;
    int nonfinite;
    long long nan_step;
    char nan_msg[480];
    int anomaly;
    char anomaly_msg[600];
    size_t lines, bad_lines;
} nb__metrics;

static void nb__metrics_free(nb__metrics *M)
{
    nb__dv *all[] = {&M->log_step, &M->log_loss, &M->log_gn,   &M->log_lr,   &M->ep_step, &M->ep_train,
                     &M->ep_test,  &M->ep_acc,   &M->mon_step, &M->mon_loss, &M->mon_gn,  &M->mon_gnc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->v);
    for (size_t i = 0; i < NB__MAXP; i++) {
        free(M->pgrad[i].v);
        free(M->pratio[i].v);
        free(M->lfrac[i].v);
    }
    free(M->w);
}

/* A member as a double: numbers, null (NAN), and "NaN"/"Inf"/"-Inf". */
static double nb__num(const nb_json *j, const nb_json_value *o, const char *key)
{
    const nb_json_value *v = nb_json_get(j, o, key);
    if (nb_json_type_of(v) == NB_JSON_NUMBER) return nb_json_number(j, v);
    const char *s = nb_json_string(j, v);
    if (s) {
        if (!strcmp(s, "Inf") || !strcmp(s, "+Inf")) return INFINITY;
        if (!strcmp(s, "-Inf")) return -INFINITY;
    }
    return NAN;
}

static const char *nb__str(const nb_json *j, const nb_json_value *o, const char *key)
{
    return nb_json_string(j, nb_json_get(j, o, key));
}

static int nb__bool(const nb_json *j, const nb_json_value *o, const char *key)
{
    return nb_json_bool(nb_json_get(j, o, key));
}

static void nb__add_warning(nb__metrics *M, long long step, const char *kind, const char *where, const char *msg)
{
    if (M->nw == M->capw) {
        size_t cap = M->capw ? M->capw * 2 : 64;
        nb__warnrec *w = realloc(M->w, cap * sizeof *w);
        if (!w) return;
        M->w = w;
        M->capw = cap;
    }
    nb__warnrec *w = &M->w[M->nw++];
    w->step = step;
    snprintf(w->kind, sizeof w->kind, "%s", kind ? kind : "?");
    snprintf(w->where, sizeof w->where, "%s", where ? where : "");
    snprintf(w->msg, sizeof w->msg, "%s", msg ? msg : "");
}

static void nb__monitor_event(nb__metrics *M, const nb_json *j, const nb_json_value *o)
{
    nb__push(&M->mon_step, nb__num(j, o, "step"));
    nb__push(&M->mon_loss, nb__num(j, o, "loss"));
    nb__push(&M->mon_gn, nb__num(j, o, "grad_norm"));
    nb__push(&M->mon_gnc, nb__num(j, o, "grad_norm_clipped"));
    size_t row = M->mon_step.n - 1;
    const nb_json_value *ps = nb_json_get(j, o, "params");
    if (nb_json_type_of(ps) != NB_JSON_ARRAY) ps = NULL;
    size_t k = 0;
    for (const nb_json_value *p = nb_json_first(j, ps); p && k < NB__MAXP; p = nb_json_next(j, p), k++) {
        if (k == M->np) {
            const char *name = nb__str(j, p, "name");
            snprintf(M->pname[k], sizeof M->pname[k], "%s", name ? name : "?");
            M->np++;
        }
        while (M->pgrad[k].n < row) nb__push(&M->pgrad[k], NAN), nb__push(&M->pratio[k], NAN);
        nb__push(&M->pgrad[k], nb__num(j, p, "grad_norm"));
        nb__push(&M->pratio[k], nb__num(j, p, "update_ratio"));
    }
    const nb_json_value *ls = nb_json_get(j, o, "layers");
    if (nb_json_type_of(ls) != NB_JSON_ARRAY) ls = NULL;
    k = 0;
    for (const nb_json_value *l = nb_json_first(j, ls); l && k < NB__MAXP; l = nb_json_next(j, l), k++) {
        int dead = nb_json_get(j, l, "dead_frac") != NULL;
        if (k == M->nl) {
            const char *kind = nb__str(j, l, "kind");
            snprintf(M->lname[k], sizeof M->lname[k], "layers.%.0f %s %s", nb__num(j, l, "layer"), kind ? kind : "?",
                     dead ? "dead" : "saturated");
            M->nl++;
        }
        while (M->lfrac[k].n < row) nb__push(&M->lfrac[k], NAN);
        nb__push(&M->lfrac[k], nb__num(j, l, dead ? "dead_frac" : "saturated_frac"));
    }
}

static void nb__line(nb__metrics *M, const char *text, size_t len)
{
    while (len && (text[len - 1] == '\r' || text[len - 1] == ' ')) len--;
    if (!len) return;
    M->lines++;
    nb_json *j = nb_json_parse(text, len);
    if (!j || nb_json_type_of(nb_json_root(j)) != NB_JSON_OBJECT) {
        M->bad_lines++;
        nb_json_free(j);
        return;
    }
    const nb_json_value *o = nb_json_root(j);
    const char *ev = nb__str(j, o, "event");
    double step = nb__num(j, o, "step");
    if (!ev) {
        M->bad_lines++;
    } else if (!strcmp(ev, "start")) {
        const char *s = nb__str(j, o, "model");
        snprintf(M->model, sizeof M->model, "%s", s ? s : "?");
        s = nb__str(j, o, "opt");
        snprintf(M->opt, sizeof M->opt, "%s", s ? s : "?");
        M->lr = nb__num(j, o, "lr");
        M->clip_norm = nb__num(j, o, "clip_norm");
        M->batch = (long long)nb__num(j, o, "batch");
        M->epochs = (long long)nb__num(j, o, "epochs");
        M->params = (long long)nb__num(j, o, "params");
        M->starts++;
        /* the rate the schedule gives the first step, as a point (the
         * configured "lr" is OneCycle's peak, not a rate any step used) */
        nb__push(&M->log_step, step + 1);
        nb__push(&M->log_loss, NAN);
        nb__push(&M->log_gn, NAN);
        nb__push(&M->log_lr, nb__num(j, o, "lr_first"));
        M->done = 0; /* a resumed run goes on */
        M->nonfinite = 0;
    } else if (!strcmp(ev, "log")) {
        nb__push(&M->log_step, step);
        nb__push(&M->log_loss, nb__num(j, o, "loss"));
        nb__push(&M->log_gn, nb__num(j, o, "grad_norm"));
        nb__push(&M->log_lr, nb__num(j, o, "lr"));
    } else if (!strcmp(ev, "epoch")) {
        nb__push(&M->ep_step, step);
        nb__push(&M->ep_train, nb__num(j, o, "train_loss"));
        nb__push(&M->ep_test, nb__num(j, o, "test_loss"));
        nb__push(&M->ep_acc, nb__num(j, o, "test_acc"));
    } else if (!strcmp(ev, "monitor")) {
        nb__monitor_event(M, j, o);
    } else if (!strcmp(ev, "warning")) {
        nb__add_warning(M, (long long)step, nb__str(j, o, "kind"), nb__str(j, o, "where"), nb__str(j, o, "message"));
    } else if (!strcmp(ev, "nonfinite")) {
        const char *msg = nb__str(j, o, "message");
        char buf[200];
        if (!msg) {
            snprintf(buf, sizeof buf, "the loss became non-finite at step %lld", (long long)step);
            msg = buf;
        }
        M->nonfinite = 1;
        M->nan_step = (long long)step;
        nb__push(&M->log_step, step); /* the step that failed: its rate and gradient norm */
        nb__push(&M->log_loss, nb__num(j, o, "loss"));
        nb__push(&M->log_gn, nb__num(j, o, "grad_norm"));
        nb__push(&M->log_lr, nb__num(j, o, "lr"));
        snprintf(M->nan_msg, sizeof M->nan_msg, "%s", msg);
        nb__add_warning(M, (long long)step, "nonfinite", "loss", msg);
    } else if (!strcmp(ev, "anomaly")) {
        const char *msg = nb__str(j, o, "message");
        if (!M->anomaly) snprintf(M->anomaly_msg, sizeof M->anomaly_msg, "%s", msg ? msg : "");
        M->anomaly = 1;
        nb__add_warning(M, (long long)step, "anomaly", nb__str(j, o, "op"), msg);
    } else if (!strcmp(ev, "done")) {
        M->done = 1;
        M->test_acc = nb__num(j, o, "test_acc");
        M->test_loss = nb__num(j, o, "test_loss");
        M->steps = (long long)nb__num(j, o, "steps");
        M->interrupted = nb__bool(j, o, "interrupted");
    }
    nb_json_free(j);
}

static int nb__read_metrics(const char *path, nb__metrics *M)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) nb__line(M, line, (size_t)n);
    free(line);
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------- the page */
static void nb__esc(FILE *f, const char *s) { nb_xml_escape(f, s); }

/* max / min over the positive finite y values of p's series (1 when none). */
static double nb__spread(const nb_plot *p)
{
    double lo = INFINITY, hi = 0;
    for (int s = 0; s < p->n_series; s++)
        for (size_t i = 0; i < p->series[s].n; i++) {
            double v = p->series[s].y[i];
            if (isfinite(v) && v > 0) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
    return hi > 0 ? hi / lo : 1;
}

/* The chart, or the sentence `none` when it would have no point to draw. */
static void nb__chart(FILE *f, const nb_plot *p, const char *none)
{
    size_t pts = 0;
    for (int s = 0; s < p->n_series; s++)
        for (size_t i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            pts += isfinite(x) && isfinite(y) && (!p->log_x || x > 0) && (!p->log_y || y > 0);
        }
    if (!pts) {
        fprintf(f, "<p class=\"none\">");
        nb__esc(f, none);
        fputs("</p>\n", f);
        return;
    }
    fputs("<div class=\"chart\">", f);
    nb_plot_svg(p, f, 860, 320);
    fputs("</div>\n", f);
}

/* viridis at 9 stops */
static void nb__color(double t, char out[8])
{
    static const unsigned char pal[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                            {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                            {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * 8;
    int i = (int)x;
    if (i >= 8) i = 7;
    double u = x - i;
    int rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = (int)lround(pal[i][k] + u * (pal[i + 1][k] - pal[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

static void nb__heatmap(FILE *f, const nb__metrics *M)
{
    size_t n = M->mon_step.n, np = M->np;
    if (!n || !np) {
        fputs(
            "<p class=\"none\">No per-parameter data: run <code>nabla train --monitor N</code> (or --report) to record "
            "it.</p>\n",
            f);
        return;
    }
    size_t cols = n > 240 ? 240 : n;
    /* bin c averages log10 over records [c*n/cols, (c+1)*n/cols) */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t p = 0; p < np; p++)
        for (size_t i = 0; i < M->pgrad[p].n; i++) {
            double v = M->pgrad[p].v[i];
            if (isfinite(v) && v > 0) {
                lo = fmin(lo, log10(v));
                hi = fmax(hi, log10(v));
            }
        }
    if (!isfinite(lo)) lo = -1, hi = 0;
    lo = floor(lo);
    hi = ceil(hi);
    if (hi <= lo) hi = lo + 1;
    const double L = 170, T = 10, ch = 20;
    double cw = fmax(2, 620.0 / (double)cols), pw = cw * (double)cols, ph = ch * (double)np;
    double lx = L + pw + 30, W = lx + 110, bh = fmax(ph, 200) - 50, H = T + bh + 90;
    fprintf(f,
            "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "font-family=\"sans-serif\" font-size=\"11\" class=\"heatmap\">\n<rect width=\"100%%\" height=\"100%%\" "
            "fill=\"white\"/>\n",
            W, H);
    for (size_t p = 0; p < np; p++) {
        double y = T + ch * (double)p;
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", L - 6, y + ch / 2 + 4);
        nb__esc(f, M->pname[p]);
        fputs("</text>\n", f);
        for (size_t c = 0; c < cols; c++) {
            size_t a = c * n / cols, b = (c + 1) * n / cols;
            double s = 0, shown = NAN;
            size_t k = 0, zeros = 0, bad = 0;
            for (size_t i = a; i < b && i < M->pgrad[p].n; i++) {
                double v = M->pgrad[p].v[i];
                if (!isfinite(v)) bad++;
                else if (v <= 0) zeros++;
                else {
                    s += log10(v);
                    k++;
                }
            }
            char col[8];
            if (bad) snprintf(col, sizeof col, "#d62728");
            else if (!k && zeros) snprintf(col, sizeof col, "#000000"), shown = 0;
            else if (!k) continue; /* no record */
            else {
                shown = pow(10, s / (double)k);
                nb__color((s / (double)k - lo) / (hi - lo), col);
            }
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\"><title>",
                    L + cw * (double)c, y, cw + 0.3, ch - 1, col);
            nb__esc(f, M->pname[p]);
            fprintf(f, ", step %.0f: ", M->mon_step.v[a]);
            if (bad) fputs("not finite", f);
            else fprintf(f, "%.3g", shown);
            fputs("</title></rect>\n", f);
        }
    }
    /* step axis: about 6 labels */
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n", L, T, pw,
            ph);
    size_t prev = (size_t)-1;
    for (int t = 0; t <= 5 && cols; t++) {
        size_t c = (size_t)((double)t / 5 * (double)(cols - 1));
        if (c == prev) continue;
        prev = c;
        double x = L + cw * ((double)c + 0.5);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#333\"/>", x, T + ph, x, T + ph + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", x, T + ph + 16,
                M->mon_step.v[c * n / cols]);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", L + pw / 2, T + ph + 32);
    /* legend: colour bar with decade labels, then zero and non-finite */
    int steps = 40;
    for (int i = 0; i < steps; i++) {
        char col[8];
        nb__color(1 - (i + 0.5) / steps, col);
        fprintf(f, "<rect x=\"%.0f\" y=\"%.2f\" width=\"14\" height=\"%.2f\" fill=\"%s\"/>", lx, T + bh * i / steps,
                bh / steps + 0.3, col);
    }
    fputc('\n', f);
    int dec = (int)(hi - lo), every = dec > 6 ? (dec + 5) / 6 : 1;
    for (int d = 0; d <= dec; d += every) {
        double y = T + bh * (1 - (double)d / dec);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">1e%d</text>\n", lx + 18, y + 4, (int)lo + d);
    }
    fprintf(
        f,
        "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"12\" fill=\"#000\"/><text x=\"%.0f\" y=\"%.0f\">0</text>\n",
        lx, T + bh + 12, lx + 18, T + bh + 22);
    fprintf(f,
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"12\" fill=\"#d62728\"/><text x=\"%.0f\" y=\"%.0f\">"
            "NaN/Inf</text>\n",
            lx, T + bh + 30, lx + 18, T + bh + 40);
    fputs("</svg></div>\n", f);
    if (n > cols)
        fprintf(
            f,
            "<p class=\"note\">%zu records in %zu columns: each column shows the geometric mean of its records.</p>\n",
            n, cols);
}

static int nb__wcmp(const void *a, const void *b)
{
    const nb__warnrec *x = *(nb__warnrec *const *)a, *y = *(nb__warnrec *const *)b;
    int k = strcmp(x->kind, y->kind);
    if (k) return k;
    k = strcmp(x->where, y->where);
    if (k) return k;
    return (x->step > y->step) - (x->step < y->step);
}

static void nb__warnings(FILE *f, const nb__metrics *M)
{
    if (!M->nw) {
        fputs("<p class=\"ok\">No warnings.</p>\n", f);
        return;
    }
    /* grouped by kind and place: how often, first and last step */
    const nb__warnrec **idx = malloc(M->nw * sizeof *idx);
    if (!idx) return;
    for (size_t i = 0; i < M->nw; i++) idx[i] = &M->w[i];
    qsort(idx, M->nw, sizeof *idx, nb__wcmp);
    fputs("<table><tr><th>kind</th><th>where</th><th>times</th><th>steps</th><th>first message</th></tr>\n", f);
    for (size_t i = 0; i < M->nw;) {
        size_t k = i;
        while (k < M->nw && !strcmp(idx[k]->kind, idx[i]->kind) && !strcmp(idx[k]->where, idx[i]->where)) k++;
        fputs("<tr class=\"", f);
        nb__esc(f, idx[i]->kind);
        fputs("\"><td>", f);
        nb__esc(f, idx[i]->kind);
        fputs("</td><td>", f);
        nb__esc(f, idx[i]->where);
        fprintf(f, "</td><td>%zu</td><td>%lld", k - i, idx[i]->step);
        if (k - i > 1) fprintf(f, "&ndash;%lld", idx[k - 1]->step);
        fputs("</td><td>", f);
        nb__esc(f, idx[i]->msg);
        fputs("</td></tr>\n", f);
        i = k;
    }
    fputs("</table>\n", f);
    free(idx);
    size_t shown = M->nw > 2000 ? 2000 : M->nw;
    fprintf(f,
            "<details><summary>All %zu warnings in order%s</summary>\n<table><tr><th>step</th><th>message</th></tr>\n",
            M->nw, M->nw > shown ? " (the first 2000)" : "");
    for (size_t i = 0; i < shown; i++) {
        fprintf(f, "<tr><td>%lld</td><td>", M->w[i].step);
        nb__esc(f, M->w[i].msg);
        fputs("</td></tr>\n", f);
    }
    fputs("</table></details>\n", f);
}

static const char nb__css[] =
    "body{font-family:sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222;line-height:1.4}"
    "h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}"
    ".meta{color:#555}.status{padding:10px 14px;border-radius:4px;margin:16px 0;font-weight:bold}"
    ".status.good{background:#e6f4ea;color:#1e6b34}.status.bad{background:#fde8e8;color:#a61b1b}"
    ".status.warn{background:#fff4e0;color:#8a5300}.none,.note{color:#777;font-style:italic}.ok{color:#1e6b34}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4}tr.nonfinite td,tr.anomaly td{background:#fde8e8}"
    "tr.exploding td{background:#fff4e0}.chart{overflow-x:auto}code{background:#f4f4f4;padding:0 3px}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}dt{color:#555}dd{margin:0}";

/* The layers of the run's model, rebuilt from RUN_DIR/checkpoint.safetensors alone. */
static void nb__layers(FILE *f, const char *run_dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", run_dir);
    fputs("<h2>Layers</h2>\n", f);
    if (access(path, R_OK)) {
        fputs("<p class=\"none\">no checkpoint.safetensors in the run folder</p>\n", f);
        return;
    }
    nb_model *m = nb_model_load(path);
    nb_summary *s = m ? nb_model_summary(m) : NULL;
    char *spec = m ? nb_model_spec(m) : NULL;
    if (!s || !spec) {
        fputs("<p class=\"none\">the checkpoint's model could not be rebuilt: ", f);
        nb__esc(f, nb_errmsg());
        fputs("</p>\n", f);
    } else {
        fputs("<p><code>", f);
        nb__esc(f, spec);
        fputs("</code></p>\n<table><tr><th>layer</th><th>kind</th><th>output shape</th><th>params</th></tr>\n", f);
        for (size_t i = 0; i < s->n_rows; i++) {
            const nb_summary_row *r = &s->rows[i];
            fprintf(f, "<tr><td style=\"padding-left:%dem\">", 1 + 2 * r->depth);
            nb__esc(f, r->name);
            fputs("</td><td>", f);
            nb__esc(f, r->kind);
            fputs("</td><td>[", f);
            for (int k = 0; k < r->ndim; k++) fprintf(f, "%s%zu", k ? ", " : "", r->shape[k]);
            fprintf(f, "]</td><td>%zu</td></tr>\n", r->params);
        }
        fprintf(f,
                "</table>\n<p class=\"note\">%zu trainable parameters, %zu buffer values, %zu parameter bytes, %zu "
                "activation bytes per sample</p>\n",
                s->params, s->buffers, s->param_bytes, s->activation_bytes);
    }
    free(spec);
    nb_summary_free(s);
    nb_model_free(m);
}

static void nb__page(FILE *f, const char *run_dir, const nb__metrics *M)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>nabla training report: ", f);
    nb__esc(f, run_dir);
    fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>Training report</h1>\n<p class=\"meta\">", nb__css);
    nb__esc(f, run_dir);
    fputs("/metrics.jsonl</p>\n<dl>", f);
    fputs("<dt>model</dt><dd>", f);
    nb__esc(f, M->model[0] ? M->model : "?");
    fprintf(f, " (%lld parameters)</dd><dt>optimizer</dt><dd>", M->params);
    nb__esc(f, M->opt[0] ? M->opt : "?");
    fprintf(f, ", lr %g, batch %lld, %lld epochs</dd><dt>clip-norm</dt><dd>", M->lr, M->batch, M->epochs);
    if (isfinite(M->clip_norm) && M->clip_norm > 0) fprintf(f, "%g", M->clip_norm);
    else fputs(isfinite(M->clip_norm) ? "off" : "?", f);
    fprintf(f, "</dd><dt>runs in the file</dt><dd>%d (resumed %d times)</dd></dl>\n", M->starts,
            M->starts > 0 ? M->starts - 1 : 0);
    /* status */
    if (M->nonfinite) {
        fputs("<div class=\"status bad\">Stopped: ", f);
        nb__esc(f, M->nan_msg);
        fputs("</div>\n", f);
    } else if (M->done && M->interrupted) {
        fprintf(f,
                "<div class=\"status warn\">Interrupted after %lld steps: test accuracy %.4f, test loss %.4g</div>\n",
                M->steps, M->test_acc, M->test_loss);
    } else if (M->done) {
        fprintf(f, "<div class=\"status %s\">Finished%s: %lld steps, test accuracy %.4f, test loss %.4g</div>\n",
                M->nw ? "warn" : "good", M->nw ? " with warnings" : "", M->steps, M->test_acc, M->test_loss);
    } else {
        fputs("<div class=\"status warn\">Incomplete: the run has no &lsquo;done&rsquo; event (still running, or it "
              "crashed)</div>\n",
              f);
    }
    if (M->anomaly) {
        fputs("<div class=\"status bad\">First non-finite value (anomaly mode): ", f);
        nb__esc(f, M->anomaly_msg);
        fputs("</div>\n", f);
    }
    if (M->nw) fprintf(f, "<p>%zu warnings; see <a href=\"#warnings\">Warnings</a>.</p>\n", M->nw);
    nb__layers(f, run_dir);

    nb_plot p;
    char nan_label[64];
    snprintf(nan_label, sizeof nan_label, "NaN");
    fputs("<h2>Loss</h2>\n", f);
    nb_plot_init(&p, "Loss", "step", "cross-entropy");
    nb_plot_series(&p, "train (logged batch)", M->log_step.v, M->log_loss.v, M->log_step.n);
    nb_plot_series(&p, "train (monitored batch)", M->mon_step.v, M->mon_loss.v, M->mon_step.n);
    nb_plot_series(&p, "train (epoch mean)", M->ep_step.v, M->ep_train.v, M->ep_step.n);
    nb_plot_series(&p, "test", M->ep_step.v, M->ep_test.v, M->ep_step.n);
    if (M->nonfinite) nb_plot_vline(&p, (double)M->nan_step, nan_label);
    p.log_y = nb__spread(&p) > 100; /* a diverging run: a log axis keeps the rest readable */
    if (p.log_y) p.ylabel = "cross-entropy (log scale)";
    nb__chart(f, &p, "No loss recorded yet.");

    fputs("<h2>Accuracy</h2>\n", f);
    nb_plot_init(&p, "Test accuracy (after each epoch)", "step", "accuracy");
    nb_plot_series(&p, "test accuracy", M->ep_step.v, M->ep_acc.v, M->ep_step.n);
    nb__chart(f, &p, "No epoch finished: no accuracy yet.");

    fputs("<h2>Learning rate</h2>\n", f);
    nb_plot_init(&p, "Learning rate", "step", "lr");
    nb_plot_series(&p, "lr", M->log_step.v, M->log_lr.v, M->log_step.n);
    nb__chart(f, &p, "No learning rate recorded yet.");

    fputs("<h2>Gradient norm</h2>\n", f);
    nb_plot_init(&p, "Global gradient norm", "step", "||g||");
    p.log_y = 1;
    nb_plot_series(&p, "logged, before clipping", M->log_step.v, M->log_gn.v, M->log_step.n);
    nb_plot_series(&p, "monitor, before clipping", M->mon_step.v, M->mon_gn.v, M->mon_step.n);
    int clipping = isfinite(M->clip_norm) && M->clip_norm > 0;
    if (clipping) nb_plot_series(&p, "monitor, after clipping", M->mon_step.v, M->mon_gnc.v, M->mon_step.n);
    char clip_label[48];
    snprintf(clip_label, sizeof clip_label, "clip-norm %g", M->clip_norm);
    if (isfinite(M->clip_norm) && M->clip_norm > 0) nb_plot_hline(&p, M->clip_norm, clip_label);
    if (M->nonfinite) nb_plot_vline(&p, (double)M->nan_step, nan_label);
    nb__chart(f, &p, "No gradient norm recorded yet.");

    fputs("<h2>Gradient norm per parameter</h2>\n", f);
    nb__heatmap(f, M);

    fputs("<h2>Update ratio</h2>\n<p class=\"note\">||&Delta;p|| / ||p|| per step; around 1e-3 is the usual rule of "
          "thumb: much lower learns slowly, much higher is unstable.</p>\n",
          f);
    nb_plot_init(&p, "Update / parameter ratio", "step", "||dp|| / ||p||");
    p.log_y = 1;
    for (size_t k = 0; k < M->np && k < NB_PLOT_MAX_SERIES; k++)
        nb_plot_series(&p, M->pname[k], M->mon_step.v, M->pratio[k].v, M->pratio[k].n);
    nb_plot_hline(&p, 1e-3, "1e-3");
    if (!M->np) p.n_hlines = 0;
    nb__chart(f, &p, "No update ratios: run with --monitor N.");

    if (M->nl) {
        fputs(
            "<h2>Activations</h2>\n<p class=\"note\">Dead: fraction of a ReLU layer's units that are 0 for every sample "
            "of the batch.  Saturated: fraction of sigmoid/tanh outputs beyond 0.99.</p>\n",
            f);
        char title[128];
        snprintf(title, sizeof title, "%s units", M->nl == 1 ? M->lname[0] : "Dead and saturated");
        nb_plot_init(&p, title, "step", "fraction");
        for (size_t k = 0; k < M->nl && k < NB_PLOT_MAX_SERIES; k++)
            nb_plot_series(&p, M->lname[k], M->mon_step.v, M->lfrac[k].v, M->lfrac[k].n);
        nb__chart(f, &p, "No activation data.");
    }

    fputs("<h2 id=\"warnings\">Warnings</h2>\n", f);
    nb__warnings(f, M);
    fprintf(f, "<p class=\"meta\">Made by nabla %s from %zu lines of metrics.jsonl", nb_version(), M->lines);
    if (M->bad_lines) fprintf(f, " (%zu unreadable, skipped)", M->bad_lines);
    fputs(".</p>\n</body></html>\n", f);
}

int nb_report_html(const char *cmd, const char *run_dir, const char *html_path)
{
    char mpath[1100], out[1100], tmp[1200];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run_dir);
    if (!html_path) {
        snprintf(out, sizeof out, "%s/report.html", run_dir);
        html_path = out;
    }
    nb__metrics *M = calloc(1, sizeof *M);
    if (!M) {
        fprintf(stderr, "nabla %s: out of memory\n", cmd);
        return 1;
    }
    M->lr = M->clip_norm = NAN;
    if (nb__read_metrics(mpath, M)) {
        fprintf(stderr, "nabla %s: %s: %s\n", cmd, mpath, strerror(errno));
        free(M);
        return 2;
    }
    int rc = 0;
    if (!M->lines || M->bad_lines == M->lines) {
        fprintf(stderr, "nabla %s: %s: no readable events\n", cmd, mpath);
        rc = 2;
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", html_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "nabla %s: %s: %s\n", cmd, tmp, strerror(errno));
        rc = 1;
        goto out;
    }
    nb__page(f, run_dir, M);
    if (ferror(f) | fclose(f) || rename(tmp, html_path)) {
        fprintf(stderr, "nabla %s: could not write %s: %s\n", cmd, html_path, strerror(errno));
        unlink(tmp);
        rc = 1;
    }
out:
    nb__metrics_free(M);
    free(M);
    return rc;
}
