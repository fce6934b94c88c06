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

/* The labels of one axis's ticks, in order ("end": y, "middle": x). */
static int ticks(const char *s, const char *anchor, char out[][32], int max)
{
    char key[64];
    snprintf(key, sizeof key, "text-anchor=\"%s\">", anchor);
    int n = 0;
    for (const char *a = strstr(s, key); a && n < max; a = strstr(a + 1, key)) {
        const char *v = a + strlen(key);
        if ((*v >= '0' && *v <= '9') || *v == '-') snprintf(out[n++], 32, "%.*s", (int)strcspn(v, "<"), v);
    }
    return n;
}

TEST(plot, linear_ticks_are_distinct_and_zero_reads_zero)
{
    /* a learning rate from 9e-4 to 1e-3: one digit would read 9e-04, 9e-04, 1e-03 */
    double x[] = {1, 2, 3}, y[] = {9e-4, 9.5e-4, 1e-3};
    nb_plot p;
    nb_plot_init(&p, NULL, NULL, NULL);
    nb_plot_series(&p, "lr", x, y, 3);
    const char *s = render(&p);
    char t[32][32];
    int n = ticks(s, "end", t, 32);
    CHECK(n >= 3);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < i; k++) CHECK_MSG(strcmp(t[i], t[k]), "tick %s twice", t[i]);
    /* a range through 0 in steps of 0.1: the tick at 0 is "0", not -6e-17 or -2.8e-17 */
    double y2[] = {-0.3, 0.1, 0.4};
    nb_plot_init(&p, NULL, NULL, NULL);
    nb_plot_series(&p, "a", x, y2, 3);
    s = render(&p);
    n = ticks(s, "end", t, 32);
    int zero = 0;
    for (int i = 0; i < n; i++) {
        CHECK_MSG(!strchr(t[i], 'e'), "tick %s", t[i]);
        zero += !strcmp(t[i], "0");
    }
    CHECK(zero == 1);
}

TEST(plot, one_point_is_a_dot_and_the_legend_lists_series_with_data)
{
    double x[] = {10, 20}, y[] = {2.3, NAN}, none[] = {NAN, NAN};
    nb_plot p;
    nb_plot_init(&p, NULL, NULL, NULL);
    nb_plot_series(&p, "logged", x, y, 2);
    nb_plot_series(&p, "empty", x, none, 2);
    nb_plot_series(&p, "zero points", x, y, 0);
    const char *s = render(&p);
    CHECK(strstr(s, "<circle class=\"point\""));
    CHECK(!strstr(s, ">empty<") && !strstr(s, ">zero points<"));
    /* ticks on both axes around the single point */
    char t[32][32];
    CHECK(ticks(s, "end", t, 32) >= 2 && ticks(s, "middle", t, 32) >= 2);
}

TEST(plot, thirty_series_have_distinct_styles_and_a_legend_that_fits)
{
    static double x[2] = {0, 1}, y[30][2];
    static char names[30][32];
    nb_plot p;
    nb_plot_init(&p, NULL, NULL, NULL);
    for (int i = 0; i < 30; i++) {
        y[i][0] = i;
        y[i][1] = i + 1;
        snprintf(names[i], sizeof names[i], "layers.%d.weight", i);
        nb_plot_series(&p, names[i], x, y[i], 2);
    }
    static char buf[1 << 17];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    nb_plot_svg(&p, f, 860, 320);
    fclose(f);
    /* the colours of the 30 lines: all different */
    char col[30][8];
    int n = 0;
    for (const char *q = strstr(buf, "<path fill=\"none\" stroke=\""); q && n < 30;
         q = strstr(q + 1, "<path fill=\"none\" stroke=\""))
        snprintf(col[n++], 8, "%.7s", q + 26);
    CHECK(n == 30);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < i; k++) CHECK_MSG(strcmp(col[i], col[k]), "series %d and %d share %s", k, i, col[i]);
    /* the svg grew to hold the legend, and every entry lies inside it */
    int h = atoi(strstr(buf, "height=\"") + 8);
    CHECK_MSG(h > 320, "height %d", h);
    for (int i = 0; i < 30; i++) {
        char key[40];
        snprintf(key, sizeof key, ">%.30s<", names[i]);
        const char *t = strstr(buf, key);
        CHECK_MSG(t, "no legend entry %s", names[i]);
        while (t && t > buf && strncmp(t, "<text x=\"", 9)) t--;
        double lx = t ? atof(t + 9) : 0, ly = t ? atof(strstr(t, "y=\"") + 3) : 0;
        CHECK_MSG(lx + 6.5 * (double)strlen(names[i]) <= 860 && ly <= h, "%s at %g,%g", names[i], lx, ly);
    }
}
