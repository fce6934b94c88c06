/* SVG line charts: axes with "nice" ticks (decades on log axes), a legend,
 * marker lines.  Plain text output; no allocation. */
#include "nabla/plot.h"

#include <math.h>
#include <string.h>

/* 32 distinct colours, so that no two series of one chart share one: ten
 * strong ones, their light partners, then twelve darker ones.  Series from
 * the eleventh on are also dashed (see nb__dash). */
static const char *const nb__colors[NB_PLOT_MAX_SERIES] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ff9896", "#98df8a", "#ffbb78", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31", "#843c39",
    "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#d6616b", "#ce6dbd"};

static const char *nb__dash(int k)
{
    return k < 10 ? "" : k < 20 ? " stroke-dasharray=\"6 2\"" : " stroke-dasharray=\"2 2\"";
}

void nb_plot_init(nb_plot *p, const char *title, const char *xlabel, const char *ylabel)
{
    memset(p, 0, sizeof *p);
    p->title = title;
    p->xlabel = xlabel;
    p->ylabel = ylabel;
}

int nb_plot_series(nb_plot *p, const char *label, const double *x, const double *y, size_t n)
{
    if (p->n_series >= NB_PLOT_MAX_SERIES) return -1;
    p->series[p->n_series++] = (nb_plot_line){label, x, y, n};
    return 0;
}

int nb_plot_vline(nb_plot *p, double x, const char *label)
{
    if (p->n_vlines >= NB_PLOT_MAX_MARKS) return -1;
    p->vline_label[p->n_vlines] = label;
    p->vline[p->n_vlines++] = x;
    return 0;
}

int nb_plot_hline(nb_plot *p, double y, const char *label)
{
    if (p->n_hlines >= NB_PLOT_MAX_MARKS) return -1;
    p->hline_label[p->n_hlines] = label;
    p->hline[p->n_hlines++] = y;
    return 0;
}

void nb_xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static int nb__ok(double v, int lg) { return isfinite(v) && (!lg || v > 0); }
static double nb__t(double v, int lg) { return lg ? log10(v) : v; }

/* A tick step of 1, 2 or 5 times a power of ten giving about 6 ticks. */
static double nb__nice_step(double span)
{
    if (!(span > 0)) return 1;
    double raw = span / 6, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void nb__range(const nb_plot *p, int axis, double *lo, double *hi)
{
    int lg = axis ? p->log_y : p->log_x;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (size_t i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!nb__ok(x, p->log_x) || !nb__ok(y, p->log_y)) continue;
            double v = nb__t(axis ? y : x, lg);
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    const double *marks = axis ? p->hline : p->vline;
    for (int k = 0; k < (axis ? p->n_hlines : p->n_vlines); k++)
        if (nb__ok(marks[k], lg)) {
            *lo = fmin(*lo, nb__t(marks[k], lg));
            *hi = fmax(*hi, nb__t(marks[k], lg));
        }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12) {
        double pad = lg ? 0.5 : (fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1);
        *lo = !lg && *lo >= 0 && *lo < pad ? 0 : *lo - pad; /* a flat 0 (no dead units) reads 0..1, not -1..1 */
        *hi += pad;
    }
    if (lg) {
        *lo = floor(*lo);
        *hi = ceil(*hi);
    } else {
        double st = nb__nice_step(*hi - *lo);
        *lo = floor(*lo / st + 1e-9) * st; /* 0.0009 / 2e-5 is 44.99999... */
        *hi = ceil(*hi / st - 1e-9) * st;
    }
}

/* The points of series sr drawable on p's axes. */
static size_t nb__drawable(const nb_plot *p, const nb_plot_line *sr)
{
    size_t k = 0;
    for (size_t i = 0; i < sr->n; i++) k += nb__ok(sr->x[i], p->log_x) && nb__ok(sr->y[i], p->log_y);
    return k;
}

/* A tick label on a linear axis with ticks st apart: as many digits as
 * tell neighbouring ticks apart (9.8e-04, 9.9e-04, 1.0e-03), and 0 for a
 * tick that is zero but for rounding. */
static void nb__tick_label(FILE *f, double v, int lg, double st, double amax)
{
    if (lg) {
        fprintf(f, "1e%d", (int)lround(v));
        return;
    }
    if (fabs(v) < st * 1e-6) v = 0;
    int e_st = (int)floor(log10(st) + 1e-9);
    if (v != 0 && (amax < 1e-3 || amax >= 1e5)) {
        int e_max = (int)floor(log10(amax) + 1e-9), digits = e_max - e_st;
        fprintf(f, "%.*e", digits < 0 ? 0 : digits > 12 ? 12 : digits, v);
        return;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", e_st >= 0 ? 0 : -e_st > 15 ? 15 : -e_st, v);
    if (strchr(buf, '.')) { /* 0.50 -> 0.5, 1.0 -> 1 */
        char *z = buf + strlen(buf) - 1;
        while (*z == '0') *z-- = '\0';
        if (*z == '.') *z = '\0';
    }
    fputs(strcmp(buf, "-0") ? buf : "0", f);
}

void nb_plot_svg(const nb_plot *p, FILE *f, int W, int H)
{
    /* the legend lists the series that have a point to draw; it sits right
     * of the chart when it fits there, else in columns under it (the svg
     * grows to hold it) */
    size_t longest = 0;
    int n_legend = 0;
    for (int s = 0; s < p->n_series; s++) {
        if (!p->series[s].label || !nb__drawable(p, &p->series[s])) continue;
        n_legend++;
        if (strlen(p->series[s].label) > longest) longest = strlen(p->series[s].label);
    }
    if (n_legend < 2) n_legend = 0;
    const double L = 70, T = 30, B = 50, row = 15;
    double colw = 36 + 6.5 * (double)longest, side = colw > 150 ? colw : 150;
    int right = n_legend && row * n_legend + 10 <= H - T - B && side <= 0.4 * W;
    int cols = 1, rows = 0;
    if (n_legend && !right) {
        cols = (int)((W - L - 10) / colw);
        if (cols < 1) cols = 1;
        rows = (n_legend + cols - 1) / cols;
    }
    const double R = 20 + (right ? side : 0);
    const int Htot = H + (rows ? (int)(rows * row + 8) : 0);
    double x0, x1, y0, y1;
    nb__range(p, 0, &x0, &x1);
    nb__range(p, 1, &y0, &y1);
    double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v)-x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v)-y0) / (y1 - y0) * ph)
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n",
            W, Htot, W, Htot);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, Htot);
    if (p->title) {
        fprintf(f, "<text x=\"%g\" y=\"18\" font-size=\"13\" font-weight=\"bold\">", L);
        nb_xml_escape(f, p->title);
        fputs("</text>\n", f);
    }
    /* grid and ticks */
    for (int axis = 0; axis < 2; axis++) {
        int lg = axis ? p->log_y : p->log_x;
        double lo = axis ? y0 : x0, hi = axis ? y1 : x1;
        double st = lg ? fmax(1, ceil((hi - lo) / 8)) : nb__nice_step(hi - lo);
        /* multiples of the step: decades on a log axis (1e-30, 1e-25, ...),
         * round numbers on a linear one */
        double first = ceil(lo / st - 1e-9) * st, amax = fmax(fabs(lo), fabs(hi));
        for (int i = 0; i < 64; i++) {
            double v = first + i * st; /* not a running sum: no drift to -6e-17 */
            if (v > hi + st * 1e-9) break;
            if (axis) {
                fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", L, PY(v), L + pw,
                        PY(v));
                fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">", L - 5, PY(v) + 4);
            } else {
                fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#e5e5e5\"/>", PX(v), T, PX(v),
                        T + ph);
                fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">", PX(v), T + ph + 15);
            }
            nb__tick_label(f, v, lg, st, amax);
            fputs("</text>\n", f);
        }
    }
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n", L, T, pw, ph);
    if (p->xlabel) {
        fprintf(f, "<text x=\"%g\" y=\"%d\" text-anchor=\"middle\">", L + pw / 2, H - 12);
        nb_xml_escape(f, p->xlabel);
        fputs("</text>\n", f);
    }
    if (p->ylabel) {
        fprintf(f, "<text transform=\"translate(14 %g) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
        nb_xml_escape(f, p->ylabel);
        fputs("</text>\n", f);
    }
    /* marker lines */
    for (int k = 0; k < p->n_vlines; k++) {
        if (!nb__ok(p->vline[k], p->log_x)) continue;
        double x = PX(nb__t(p->vline[k], p->log_x));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>", x, T,
                x, T + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" font-size=\"10\">", x + 3, T + 12 + 12 * k);
        nb_xml_escape(f, p->vline_label[k]);
        fputs("</text>\n", f);
    }
    for (int k = 0; k < p->n_hlines; k++) {
        if (!nb__ok(p->hline[k], p->log_y)) continue;
        double y = PY(nb__t(p->hline[k], p->log_y));
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#a00\" stroke-dasharray=\"4 3\"/>", L, y,
                L + pw, y);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" font-size=\"10\" fill=\"#a00\">", L + 4, y - 3);
        nb_xml_escape(f, p->hline_label[k]);
        fputs("</text>\n", f);
    }
    /* series: a line through runs of drawable points, a dot for a run that
     * is one spot (a run that stopped after one record) */
    int shown = 0;
    for (int s = 0; s < p->n_series; s++) {
        const nb_plot_line *sr = &p->series[s];
        if (!nb__drawable(p, sr)) continue;
        const char *col = nb__colors[s % NB_PLOT_MAX_SERIES], *dash = nb__dash(s);
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s d=\"", col, dash);
        int pen = 0;
        for (size_t i = 0; i < sr->n; i++) {
            if (!nb__ok(sr->x[i], p->log_x) || !nb__ok(sr->y[i], p->log_y)) {
                pen = 0;
                continue;
            }
            fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', PX(nb__t(sr->x[i], p->log_x)), PY(nb__t(sr->y[i], p->log_y)));
            pen = 1;
        }
        fputs("\"/>\n", f);
        for (size_t i = 0; i < sr->n;) { /* each run of drawable points that is one spot */
            if (!nb__ok(sr->x[i], p->log_x) || !nb__ok(sr->y[i], p->log_y)) {
                i++;
                continue;
            }
            size_t k = i + 1;
            int spot = 1;
            for (; k < sr->n && nb__ok(sr->x[k], p->log_x) && nb__ok(sr->y[k], p->log_y); k++)
                spot &= sr->x[k] == sr->x[i] && sr->y[k] == sr->y[i];
            if (spot)
                fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                        PX(nb__t(sr->x[i], p->log_x)), PY(nb__t(sr->y[i], p->log_y)), col);
            i = k;
        }
        if (n_legend && sr->label) {
            double lx = right ? L + pw + 10 : L + colw * (shown / rows);
            double ly = right ? T + 10 + row * shown : H + row * (shown % rows);
            fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"%s/>", lx, ly,
                    lx + 18, ly, col, dash);
            fprintf(f, "<text x=\"%g\" y=\"%g\">", lx + 22, ly + 4);
            nb_xml_escape(f, sr->label);
            fputs("</text>\n", f);
            shown++;
        }
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
}
