/* nabla/plot.h — self-contained SVG line charts (no scripts, no fonts to
 * fetch), for the LR finder, the vanishing-gradient lab and the HTML report.
 *
 *   nb_plot p;
 *   nb_plot_init(&p, "LR finder", "learning rate", "loss");
 *   p.log_x = 1;
 *   nb_plot_series(&p, "smoothed loss", lrs, losses, n);
 *   nb_plot_vline(&p, 3e-3, "suggested");
 *   nb_plot_svg(&p, stdout, 640, 400);
 *
 * Series borrow the caller's arrays until nb_plot_svg returns.  Non-finite
 * points (and non-positive ones on a log axis) are skipped, breaking the line;
 * a lone point is drawn as a dot.  The legend lists the series that have a
 * point to draw, each in its own colour (NB_PLOT_MAX_SERIES of them, dashed
 * from the eleventh); when it does not fit right of the chart it goes under
 * it, in columns, and the svg grows taller than asked to hold it.
 */
#ifndef NABLA_PLOT_H
#define NABLA_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_PLOT_MAX_SERIES 32
#define NB_PLOT_MAX_MARKS 8

typedef struct nb_plot_line {
    const char *label;
    const double *x, *y;
    size_t n;
} nb_plot_line;

typedef struct nb_plot {
    const char *title, *xlabel, *ylabel;
    int log_x, log_y;
    nb_plot_line series[NB_PLOT_MAX_SERIES];
    int n_series;
    double vline[NB_PLOT_MAX_MARKS];
    const char *vline_label[NB_PLOT_MAX_MARKS];
    int n_vlines;
    double hline[NB_PLOT_MAX_MARKS];
    const char *hline_label[NB_PLOT_MAX_MARKS];
    int n_hlines;
} nb_plot;

NB_API void nb_plot_init(nb_plot *p, const char *title, const char *xlabel, const char *ylabel);
/* 0, or -1 when the plot already has NB_PLOT_MAX_SERIES series. */
NB_API int nb_plot_series(nb_plot *p, const char *label, const double *x, const double *y, size_t n);
NB_API int nb_plot_vline(nb_plot *p, double x, const char *label);
NB_API int nb_plot_hline(nb_plot *p, double y, const char *label);
/* Write one <svg> element of width x height pixels (embeddable in HTML),
 * taller when the legend goes under the chart. */
NB_API void nb_plot_svg(const nb_plot *p, FILE *f, int width, int height);
/* Write s escaped for XML/HTML text. */
NB_API void nb_xml_escape(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif
#endif
