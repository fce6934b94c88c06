/* SVG charts: well-formed, log axes, skipped points, escaping. */
#include <stdlib.h>
#include <string.h>

#include "nabla/plot.h"
#include "t.h"

static char *render(const nb_plot *p)
{
    static char buf[1 << 16];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    nb_plot_svg(p, f, 400, 300);
    fclose(f);
    return buf;
}

TEST(plot, svg_has_axes_series_and_marks)
{
    double x[] = {1e-6, 1e-4, 1e-2, 1}, y[] = {2.3, 2.0, NAN, 5.0};
    nb_plot p;
    nb_plot_init(&p, "LR <finder>", "learning rate", "loss");
    p.log_x = 1;
    CHECK(nb_plot_series(&p, "a & b", x, y, 4) == 0);
    CHECK(nb_plot_series(&p, "other", x, y, 2) == 0);
    CHECK(nb_plot_vline(&p, 1e-3, "pick") == 0);
    CHECK(nb_plot_hline(&p, 1.0, "clip") == 0);
    const char *s = render(&p);
    CHECK(!strncmp(s, "<svg", 4) && strstr(s, "</svg>"));
    CHECK(strstr(s, "LR &lt;finder&gt;") && strstr(s, "a &amp; b"));
    CHECK(strstr(s, "1e-6") && strstr(s, "1e0")); /* decade ticks */
    /* the NaN point breaks the line: a second M starts after it */
    const char *path = strstr(s, "<path");
    CHECK(path && strchr(path + 30, 'M') != NULL);
    CHECK(strstr(s, ">pick<") && strstr(s, ">clip<"));
    for (int i = 0; i < NB_PLOT_MAX_SERIES - 2; i++) CHECK(nb_plot_series(&p, "x", x, y, 1) == 0);
    CHECK(nb_plot_series(&p, "one too many", x, y, 1) == -1);
}

TEST(plot, empty_and_constant_data_do_not_break)
{
    nb_plot p;
    nb_plot_init(&p, NULL, NULL, NULL);
    const char *s = render(&p);
    CHECK(strstr(s, "</svg>") && !strstr(s, "nan") && !strstr(s, "inf"));
    double x[] = {1, 2, 3}, y[] = {4, 4, 4};
    nb_plot_series(&p, "flat", x, y, 3);
    p.log_y = 1;
    s = render(&p);
    CHECK(strstr(s, "</svg>") && !strstr(s, "nan") && !strstr(s, "inf"));
}

TEST(plot, log_ticks_fall_on_multiples_and_the_legend_fits_long_labels)
{
    double x[] = {1, 2, 3}, y[] = {1e-31, 1e-10, 10};
    nb_plot p;
    nb_plot_init(&p, NULL, NULL, NULL);
    p.log_y = 1;
    nb_plot_series(&p, "short", x, y, 3);
    nb_plot_series(&p, "a rather long legend label, forty chars", x, y, 3);
    const char *s = render(&p);
    /* 1e-31 .. 1e1, 32 decades: a tick every 4, on multiples of 4 (1e-28 ... 1e0) */
    CHECK(strstr(s, ">1e-28<") && strstr(s, ">1e0<") && !strstr(s, ">1e-31<") && !strstr(s, ">1e-27<"));
    /* the legend text starts far enough left to fit ~40 characters */
    const char *t = strstr(s, ">a rather long");
    const char *xat = t ? t : s;
    while (xat > s && strncmp(xat, "<text x=\"", 9)) xat--;
    double lx = atof(xat + 9);
    CHECK_MSG(t && lx + 40 * 6.5 <= 400 + 1, "legend text at x=%g", lx);
}
