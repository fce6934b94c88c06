/* nabla report: the HTML training report of a run folder. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "report.h"

static const char nb__report_usage[] = "usage: nabla report RUN_DIR [--out FILE]\n"
                                       "\n"
                                       "Write one self-contained HTML page (inline SVG and CSS; no scripts, no\n"
                                       "network) about the training run in RUN_DIR, built from RUN_DIR/metrics.jsonl,\n"
                                       "so it works on finished, interrupted and crashed runs: status, loss and\n"
                                       "accuracy curves, learning rate, the global gradient norm with the clip\n"
                                       "threshold, a per-parameter gradient-norm heatmap, update ratios, dead and\n"
                                       "saturated units, and every warning.  The per-parameter parts need a run\n"
                                       "made with `nabla train --monitor N` (or --report).\n"
                                       "\n";

/* --out FILE, into a const char *. */
static const nb_flag nb__report_flags[] = {
    {"--out", NB_FLAG_STRING, 0, sizeof(const char *), 0, 0, NULL, NULL, NULL, "FILE",
     "where to write it (RUN_DIR/report.html)"},
};

static char nb__report_usage_full[2048];

__attribute__((constructor)) static void nb__report_usage_init(void)
{
    snprintf(nb__report_usage_full, sizeof nb__report_usage_full, "%s", nb__report_usage);
    nb_flags_help(nb__report_usage_full, sizeof nb__report_usage_full, nb__report_flags, 1, 12);
}

static int nb__report_main(int argc, char **argv)
{
    const char *cmd = "report", *dir = NULL, *out = NULL;
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__report_flags, &out)};
    int n_pos, k = nb_flags_parse(cmd, nb__report_usage_full, tabs, 1, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos > 1) return nb_cli_usage_error(cmd, "one run folder only (got '%s' and '%s')", argv[1], argv[2]);
    if (n_pos) dir = argv[1];
    if (!dir) return nb_cli_usage_error(cmd, "which run folder? (usage: nabla report RUN_DIR [--out FILE])");
    char path[1100];
    if (!out) snprintf(path, sizeof path, "%s/report.html", dir);
    int rc = nb_report_html(cmd, dir, out);
    if (!rc) printf("%s\n", out ? out : path);
    return rc;
}

const nb_cli_cmd nb_cmd_report = {"report", "an HTML report of a training run (curves, gradient heatmap, warnings)",
                                  nb__report_usage_full, nb__report_main};
