/* nabla report: the HTML training report of a run folder. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static const char nb__report_usage[] =
    "usage: nabla report RUN_DIR [--out FILE]\n"
    "\n"
    "Write one self-contained HTML page (inline SVG and CSS; no scripts, no\n"
    "network) about the training run in RUN_DIR, built from RUN_DIR/metrics.jsonl,\n"
    "so it works on finished, interrupted and crashed runs: status, loss and\n"
    "accuracy curves, learning rate, the global gradient norm with the clip\n"
    "threshold, a per-parameter gradient-norm heatmap, update ratios, dead and\n"
    "saturated units, and every warning.  The per-parameter parts need a run\n"
    "made with `nabla train --monitor N` (or --report).\n"
    "\n"
    "  --out FILE   where to write it (RUN_DIR/report.html)\n";

static int nb__report_main(int argc, char **argv)
{
    const char *cmd = "report", *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(nb__report_usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) return nb_cli_usage_error(cmd, "--out needs a file name");
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return nb_cli_usage_error(cmd, "unknown option '%s' (see `nabla help report`)", argv[i]);
        } else if (dir) {
            return nb_cli_usage_error(cmd, "one run folder only (got '%s' and '%s')", dir, argv[i]);
        } else {
            dir = argv[i];
        }
    }
    if (!dir) return nb_cli_usage_error(cmd, "which run folder? (usage: nabla report RUN_DIR [--out FILE])");
    char path[1100];
    if (!out) snprintf(path, sizeof path, "%s/report.html", dir);
    int rc = nb_report_html(cmd, dir, out);
    if (!rc) printf("%s\n", out ? out : path);
    return rc;
}

const nb_cli_cmd nb_cmd_report = {"report", "an HTML report of a training run (curves, gradient heatmap, warnings)",
                                  nb__report_usage, nb__report_main};
