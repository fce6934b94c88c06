/* The HTML report: `nabla train --monitor N --report` and `nabla report`
 * write one self-contained page; it reads crashed runs; headless Chromium
 * renders it (skipped with a note when Chromium is absent, unless
 * NB_REQUIRE_CHROMIUM is set). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nabla/train.h"
#include "t.h"
#include "t_cli.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    if (len) *len = s ? (size_t)n : 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Self-contained: no scripts, nothing fetched. */
static void check_page(const char *html)
{
    CHECK(html && !strncmp(html, "<!DOCTYPE html>", 15) && strstr(html, "</html>"));
    CHECK(html && strstr(html, "<title>nabla training report: "));
    CHECK(html && !strstr(html, "<script") && !strstr(html, "src=") && !strstr(html, "href=\"http") &&
          !strstr(html, "@import") && !strstr(html, "url("));
}

/* The path of a headless Chromium, or NULL. */
static const char *chromium(void)
{
    const char *env = getenv("NB_CHROMIUM");
    if (env && *env) return env;
    static const char *const names[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (access(names[i], X_OK) == 0) return names[i];
    return NULL;
}

TEST(report, train_monitor_report_and_chromium_render)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_report_XXXXXX", args[1200], *out;
    CHECK(mkdtemp(dir));
    snprintf(args, sizeof args,
             "train --quiet --json --limit-train 1280 --epochs 2 --batch 64 --monitor 5 --report --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out ? out : "");
    /* monitor events on stdout too, one per 5 steps plus step 1 (40 steps) */
    CHECK_MSG(out && count(out, "{\"event\":\"monitor\",") == 9, "%s", out ? out : "");
    CHECK(out && strstr(out, "\"params\":[{\"name\":\"layers.0.weight\""));
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *metrics = slurp(path, NULL);
    CHECK(metrics && count(metrics, "{\"event\":\"monitor\",") == 9 && strstr(metrics, "\"clip_norm\":1"));
    free(metrics);
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path, NULL);
    check_page(html);
    CHECK(html && count(html, "<svg") == 7); /* loss, acc, lr, grad norm, heatmap, update ratio, activations */
    CHECK(html && strstr(html, "Finished") && strstr(html, "layers.2.weight, step 40: "));
    const char *heads[] = {"<h2>Loss</h2>",
                           "<h2>Accuracy</h2>",
                           "<h2>Learning rate</h2>",
                           "<h2>Gradient norm</h2>",
                           "<h2>Gradient norm per parameter</h2>",
                           "<h2>Update ratio</h2>",
                           "<h2>Activations</h2>",
                           "<h2 id=\"warnings\">Warnings</h2>",
                           "<h2>Layers</h2>"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        CHECK_MSG(html && strstr(html, heads[i]), "%s", heads[i]);
    CHECK(html && strstr(html, ">clip-norm 1<")); /* the clip threshold line */
    free(html);

    /* nabla report on the same folder, to another file */
    snprintf(args, sizeof args, "report %s --out %s/again.html", dir, dir);
    CHECK(t_cli_run(args, &out) == 0 && out && strstr(out, "again.html"));
    free(out);
    snprintf(path, sizeof path, "%s/again.html", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 10000);

    const char *chrome = chromium();
    if (!chrome) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_CHROMIUM", "no chromium for the rendering check (apt-get install chromium)");
        t_rmrf(dir);
        return;
    }
    /* the page as Chromium parsed it */
    char dom[600];
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(args, sizeof args,
             "timeout 120 %s --headless --disable-gpu --no-sandbox --user-data-dir=%s/chrome --dump-dom "
             "file://%s/report.html > %s 2>/dev/null",
             chrome, dir, dir, dom);
    CHECK_MSG(system(args) == 0, "%s", args);
    html = slurp(dom, NULL);
    CHECK_MSG(html && strstr(html, "<title>nabla training report: ") && count(html, "<svg") == 7 &&
                  count(html, "<h2") == 9 && strstr(html, "<h1>Training report</h1>"),
              "DOM: %.300s", html ? html : "(none)");
    CHECK(html && count(html, "<rect") > 40); /* the heatmap's cells */
    free(html);
    /* and as pixels */
    snprintf(args, sizeof args,
             "timeout 120 %s --headless --disable-gpu --no-sandbox --hide-scrollbars --user-data-dir=%s/chrome "
             "--window-size=1100,2400 --screenshot=%s/shot.png file://%s/report.html > /dev/null 2>&1",
             chrome, dir, dir, dir);
    CHECK_MSG(system(args) == 0, "%s", args);
    snprintf(path, sizeof path, "%s/shot.png", dir);
    size_t n;
    char *png = slurp(path, &n);
    CHECK(png && n > 20000 && !memcmp(png, "\x89PNG", 4));
    free(png);
    t_rmrf(dir);
}

TEST(report, reads_a_crashed_run_and_reports_every_warning)
{
    char dir[] = "/tmp/nb_report_XXXXXX", path[600], args[700], *out;
    CHECK(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "w");
    CHECK(f);
    if (!f) return;
    fputs("{\"event\":\"start\",\"model\":\"784-<b>-10\",\"params\":50890,\"opt\":\"sgd\",\"lr\":5,\"batch\":64,"
          "\"epochs\":1,\"step\":0,\"clip_norm\":0}\n",
          f);
    for (int s = 1; s <= 3; s++)
        fprintf(f,
                "{\"event\":\"monitor\",\"step\":%d,\"loss\":%g,\"grad_norm\":%g,\"grad_norm_clipped\":%g,"
                "\"updated\":true,\"params\":[{\"name\":\"layers.0.weight\",\"grad_norm\":%g,\"param_norm\":1,"
                "\"update_ratio\":0.001},{\"name\":\"layers.0.bias\",\"grad_norm\":0,\"param_norm\":1,"
                "\"update_ratio\":null}],\"layers\":[{\"layer\":1,\"kind\":\"tanh\",\"units\":64,"
                "\"saturated_frac\":0.7}]}\n",
                s, 2.0 * s, 10.0 * s, 10.0 * s, 10.0 * s);
    fputs("{\"event\":\"warning\",\"step\":3,\"kind\":\"exploding\",\"where\":\"layers.0.weight\",\"value\":30,"
          "\"threshold\":10,\"message\":\"step 3: exploding gradient: layers.0.weight gradient norm 30 > 10\"}\n",
          f);
    fputs("{\"event\":\"anomaly\",\"step\":4,\"policy\":\"stop\",\"op\":\"log\",\"message\":\"anomaly: log produced "
          "NaN <here>\"}\n",
          f);
    fputs("{\"event\":\"monitor\",\"step\":4,\"loss\":null,\"grad_n", f); /* cut off mid-line */
    fclose(f);
    snprintf(args, sizeof args, "report %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out ? out : "");
    free(out);
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path, NULL);
    check_page(html);
    CHECK(html && strstr(html, "Incomplete") && strstr(html, "784-&lt;b&gt;-10") &&
          strstr(html, "(1 unreadable, skipped)"));
    CHECK(html && strstr(html, "step 3: exploding gradient: layers.0.weight gradient norm 30 &gt; 10"));
    CHECK(html && strstr(html, "anomaly: log produced NaN &lt;here&gt;") && strstr(html, "First non-finite value"));
    CHECK(html && strstr(html, "layers.1 tanh saturated") && strstr(html, "layers.0.bias, step 2: 0<"));
    free(html);
    /* errors: no metrics, no folder, bad flags */
    CHECK(t_cli_run("report /nonexistent/run", &out) == 2 && out && strstr(out, "/nonexistent/run/metrics.jsonl"));
    free(out);
    CHECK(t_cli_run("report", &out) == 2 && out && strstr(out, "RUN_DIR"));
    free(out);
    CHECK(t_cli_run("report a b", &out) == 2);
    free(out);
    CHECK(t_cli_run("help report", &out) == 0 && out && strstr(out, "--out FILE"));
    free(out);
    CHECK(t_cli_run("train --monitor 0", &out) == 2 && out && strstr(out, "--monitor 0"));
    free(out);
    CHECK(t_cli_run("train --monitor", &out) == 2 && out && strstr(out, "--monitor needs a value"));
    free(out);
    CHECK(t_cli_run("help train", &out) == 0 && out && strstr(out, "--detect-anomaly") && strstr(out, "--report"));
    free(out);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    f = fopen(path, "w");
    if (f) fclose(f);
    snprintf(args, sizeof args, "report %s", dir);
    CHECK(t_cli_run(args, &out) == 2 && out && strstr(out, "no readable events"));
    free(out);
    t_rmrf(dir);
}

TEST(report, train_nan_stop_writes_report_with_diagnosis)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_report_XXXXXX", args[700], *out;
    CHECK(mkdtemp(dir));
    snprintf(args, sizeof args,
             "train --opt sgd --lr 1e5 --clip-norm 0 --limit-train 1280 --epochs 1 --monitor 10 --report --out %s",
             dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 1, "exit %d: %s", rc, out ? out : "");
    CHECK_MSG(out && strstr(out, "loss became NaN at step") && strstr(out, "try --clip-norm 1.0 or a lower --lr") &&
                  strstr(out, "--detect-anomaly") && strstr(out, "warning: step") && strstr(out, "report: "),
              "%s", out ? out : "");
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path, NULL);
    check_page(html);
    CHECK(html && strstr(html, "Stopped: loss became NaN at step") && strstr(html, "<td>nonfinite</td>"));
    free(html);
    t_rmrf(dir);
}

/* ------------------------------------------- four runs, checked as drawn */
/* Every chart of the page (each <svg> but the heatmap) draws something: a
 * path of >= 2 points or a dot for a lone point, and labelled ticks, no
 * two alike on one axis, none reading "e-17".  Returns the charts seen. */
static int check_charts(const char *html, const char *run)
{
    int charts = 0;
    for (const char *s = html ? strstr(html, "<svg") : NULL; s; s = strstr(s + 4, "<svg")) {
        const char *end = strstr(s, "</svg>");
        CHECK_MSG(end, "%s: an unterminated svg", run);
        if (!end) break;
        if (strstr(s, "class=\"heatmap\"") && strstr(s, "class=\"heatmap\"") < end) {
            const char *cell = strstr(s, "<rect x=");
            CHECK_MSG(cell && cell < end, "%s: an empty heatmap", run);
            continue;
        }
        charts++;
        int most = 0, dots = 0;
        for (const char *p = strstr(s, "<path "); p && p < end; p = strstr(p + 5, "<path ")) {
            /* distinct points: a path to where it starts draws nothing */
            const char *d = strstr(p, " d=\""), *q = d ? strchr(d + 4, '"') : NULL;
            double px[2] = {NAN, NAN};
            int pts = 0;
            for (const char *c = d ? d + 4 : p; q && c < q; c++) {
                if (*c != 'M' && *c != 'L') continue;
                char *e;
                double x = strtod(c + 1, &e), y = strtod(e, NULL);
                if (!pts) pts = 1, px[0] = x, px[1] = y;
                else if (x != px[0] || y != px[1]) pts = 2;
            }
            if (pts > most) most = pts;
        }
        for (const char *c = strstr(s, "<circle class=\"point\""); c && c < end;
             c = strstr(c + 7, "<circle class=\"point\""))
            dots++;
        char title[80] = "";
        const char *t = strstr(s, "font-weight=\"bold\">");
        if (t && t < end) snprintf(title, sizeof title, "%.*s", (int)strcspn(t + 19, "<"), t + 19);
        CHECK_MSG(most >= 2 || dots >= 1, "%s: chart '%s' draws nothing", run, title);
        /* ticks: the labels of each axis, distinct */
        for (int axis = 0; axis < 2; axis++) {
            const char *anchor = axis ? "text-anchor=\"end\">" : "text-anchor=\"middle\">";
            char seen[16][32];
            int n = 0;
            for (const char *a = strstr(s, anchor); a && a < end && n < 16; a = strstr(a + 1, anchor)) {
                const char *v = a + strlen(anchor);
                if (!((*v >= '0' && *v <= '9') || *v == '-')) continue; /* the axis title */
                snprintf(seen[n], sizeof seen[n], "%.*s", (int)strcspn(v, "<"), v);
                CHECK_MSG(!strstr(seen[n], "e-17") && !strstr(seen[n], "e-16"), "%s: '%s' tick %s", run, title,
                          seen[n]);
                for (int k = 0; k < n; k++)
                    CHECK_MSG(strcmp(seen[k], seen[n]), "%s: '%s' ticks repeat %s", run, title, seen[n]);
                n++;
            }
            CHECK_MSG(n >= 2, "%s: chart '%s' has %d labelled ticks on the %s axis", run, title, n, axis ? "y" : "x");
        }
    }
    return charts;
}

/* A full-page PNG of DIR/NAME/report.html as Chromium draws it. */
static void screenshot(const char *chrome, const char *dir, const char *name)
{
    char shot[700], args[2400];
    const char *keep = getenv("NB_REPORT_SHOTS"); /* a folder to keep the pictures in, to look at them */
    snprintf(shot, sizeof shot, "%s/%s.png", keep && *keep ? keep : dir, name);
    snprintf(args, sizeof args,
             "timeout 120 %s --headless --disable-gpu --no-sandbox --hide-scrollbars --user-data-dir=%s/chrome "
             "--window-size=1100,4200 --screenshot=%s file://%s/%s/report.html > /dev/null 2>&1",
             chrome, dir, shot, dir, name);
    CHECK_MSG(system(args) == 0, "%s", args);
    size_t n;
    char *png = slurp(shot, &n);
    CHECK_MSG(png && n > 20000 && !memcmp(png, "\x89PNG", 4), "%s: %zu bytes", shot, n);
    /* the picture is as wide as the window: nothing made the page scroll sideways */
    CHECK(png && n > 24 &&
          ((unsigned char)png[16] << 24 | (unsigned char)png[17] << 16 | (unsigned char)png[18] << 8 |
           (unsigned char)png[19]) == 1100);
    free(png);
}

TEST(report, four_runs_draw_every_chart_in_chromium)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nb_report_XXXXXX", args[1600], path[700], *out;
    CHECK(mkdtemp(dir));
    static const struct {
        const char *name, *flags;
        int rc;
    } runs[] = {
        /* healthy, with OneCycle: its first lr is max_lr / 25 */
        {"healthy", "--limit-train 1280 --epochs 2 --batch 64 --log-every 5 --sched onecycle --lr 0.002", 0},
        /* 12 layers of init std 1000: the first forward pass overflows */
        {"dies_at_step_1",
         "--model 784-64-64-64-64-64-64-64-64-64-64-64-10 --init normal --init-std 1000 "
         "--limit-train 1280 --epochs 1 --monitor 5",
         1},
        /* SGD at lr 11 without clipping: NaN at step 19, one logged point (step 10) before it */
        {"dies_at_step_20", "--opt sgd --lr 11 --clip-norm 0 --limit-train 1280 --epochs 1 --log-every 10", 1},
        /* 11 linear layers: 22 parameter tensors, 22 series */
        {"params_22", "--model 784-64-64-64-64-64-64-64-64-64-64-10 --limit-train 1280 --epochs 1 --monitor 4", 0},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        snprintf(args, sizeof args, "train --quiet %s --report --out %s/%s", runs[r].flags, dir, runs[r].name);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == runs[r].rc, "%s: exit %d: %s", runs[r].name, rc, out ? out : "");
        free(out);
        snprintf(path, sizeof path, "%s/%s/report.html", dir, runs[r].name);
        char *html = slurp(path, NULL);
        check_page(html);
        int charts = check_charts(html, runs[r].name);
        CHECK_MSG(charts >= (r == 1 ? 2 : 4), "%s: %d charts", runs[r].name, charts);
        if (r == 0) {
            CHECK(html && count(html, "<svg") == 7 && !strstr(html, "class=\"none\""));
            /* OneCycle (max_lr 0.02) gives the first step 0.02 / 25 = 8e-4: the
             * lr chart's first point, not the configured 0.002 */
            snprintf(path, sizeof path, "%s/%s/metrics.jsonl", dir, runs[r].name);
            char *metrics = slurp(path, NULL);
            const char *lf = metrics ? strstr(metrics, "\"lr_first\":") : NULL;
            CHECK_MSG(lf && fabs(strtod(lf + 11, NULL) - 8e-4) < 1e-12, "%.80s", lf ? lf : "no lr_first");
            free(metrics);
        }
        if (r == 1) /* nothing finite to draw but the lr: said in words, not an empty frame */
            CHECK(html && strstr(html, "No loss recorded yet.") && strstr(html, "No epoch finished") &&
                  strstr(html, "Stopped: loss became NaN at step 1"));
        if (r == 2) /* the one logged point before the NaN is a dot on the loss and gradient charts */
            CHECK(html && count(html, "<circle class=\"point\"") >= 2 &&
                  strstr(html, "Stopped: loss became NaN at step 19"));
        if (r == 3) { /* 22 distinct colours, and every one in the legend */
            const char *ur = html ? strstr(html, ">Update / parameter ratio</text>") : NULL;
            const char *ue = ur ? strstr(ur, "</svg>") : NULL;
            int series = 0;
            for (const char *p = ur; p && p < ue; p = strstr(p + 5, "<path ")) series += !strncmp(p, "<path ", 6);
            CHECK_MSG(series == 22, "%d update-ratio series", series);
            CHECK(ur && strstr(ur, ">layers.0.weight<") && strstr(ur, ">layers.10.bias<"));
        }
        free(html);
    }
    const char *chrome = chromium();
    if (!chrome) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_CHROMIUM", "no chromium for the screenshots (apt-get install chromium)");
        t_rmrf(dir);
        return;
    }
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        /* as Chromium parsed it: the same charts */
        char dom[700];
        snprintf(dom, sizeof dom, "%s/%s/dom.html", dir, runs[r].name);
        snprintf(args, sizeof args,
                 "timeout 120 %s --headless --disable-gpu --no-sandbox --user-data-dir=%s/chrome --dump-dom "
                 "file://%s/%s/report.html > %s 2>/dev/null",
                 chrome, dir, dir, runs[r].name, dom);
        CHECK_MSG(system(args) == 0, "%s", args);
        char *html = slurp(dom, NULL);
        CHECK_MSG(html && strstr(html, "<h1>Training report</h1>"), "%s: DOM %.200s", runs[r].name, html ? html : "-");
        check_charts(html, runs[r].name);
        free(html);
        screenshot(chrome, dir, runs[r].name);
    }
    t_rmrf(dir);
}
