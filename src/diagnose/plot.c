/* SVG line charts: axes with "nice" ticks (decades on log axes), a legend,
 * marker lines.  Plain text output; no allocation. */
#include "nabla/plot.h"

#include <math.h>
#include <string.h>

static const char *const nb__colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                         "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

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
        *lo -= pad;
        *hi += pad;
    }
    if (lg) {
        *lo = floor(*lo);
        *hi = ceil(*hi);
    } else {
        double st = nb__nice_step(*hi - *lo);
        *lo = floor(*lo / st) * st;
        *hi = ceil(*hi / st) * st;
    }
}

static void nb__tick_label(FILE *f, double v, int lg)
{
    if (lg) fprintf(f, "1e%d", (int)lround(v));
    else if (v != 0 && (fabs(v) < 1e-3 || fabs(v) >= 1e5)) fprintf(f, "%.0e", v);
    else fprintf(f, "%g", fabs(v) < 1e-12 ? 0.0 : v);
}

void nb_plot_svg(const nb_plot *p, FILE *f, int W, int H)
{
    /* the legend column fits the longest label (~6.5 px a character at 11 px) */
    size_t longest = 0;
    for (int s = 0; s < p->n_series; s++)
        if (p->series[s].label && strlen(p->series[s].label) > longest) longest = strlen(p->series[s].label);
    double legend = 36 + 6.5 * (double)longest;
    const double L = 70, R = 20 + (p->n_series > 1 ? (legend > 150 ? legend : 150) : 0), T = 30, B = 50;
    double x0, x1, y0, y1;
    nb__range(p, 0, &x0, &x1);
    nb__range(p, 1, &y0, &y1);
    double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
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
        /* decades on a log axis: multiples of the step (1e-30, 1e-25, ...) */
        double first = lg ? ceil(lo / st - 1e-9) * st : lo;
        for (double v = first; v <= hi + st * 1e-9; v += st) {
            if (axis) {
                fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", L, PY(v), L + pw, PY(v));
                fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">", L - 5, PY(v) + 4);
            } else {
                fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#e5e5e5\"/>", PX(v), T, PX(v), T + ph);
                fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">", PX(v), T + ph + 15);
            }
            nb__tick_label(f, v, lg);
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
        fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>", x, T, x, T + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" font-size=\"10\">", x + 3, T + 12 + 12 * k);
        nb_xml_escape(f, p->vline_label[k]);
        fputs("</text>\n", f);
    }
    for (int k = 0; k < p->n_hlines; k++) {
        if (!nb__ok(p->hline[k], p->log_y)) continue;
        double y = PY(nb__t(p->hline[k], p->log_y));
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#a00\" stroke-dasharray=\"4 3\"/>", L, y, L + pw, y);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" font-size=\"10\" fill=\"#a00\">", L + 4, y - 3);
        nb_xml_escape(f, p->hline_label[k]);
        fputs("</text>\n", f);
    }
    /* series */
    for (int s = 0; s < p->n_series; s++) {
        const nb_plot_line *sr = &p->series[s];
        const char *col = nb__colors[s % 10];
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" d=\"", col);
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
        if (sr->n == 1 && nb__ok(sr->x[0], p->log_x) && nb__ok(sr->y[0], p->log_y))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(nb__t(sr->x[0], p->log_x)),
                    PY(nb__t(sr->y[0], p->log_y)), col);
        if (p->n_series > 1 && sr->label) {
            double ly = T + 10 + 15 * s;
            fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>", L + pw + 10, ly,
                    L + pw + 28, ly, col);
            fprintf(f, "<text x=\"%g\" y=\"%g\">", L + pw + 32, ly + 4);
            nb_xml_escape(f, sr->label);
            fputs("</text>\n", f);
        }
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
}
