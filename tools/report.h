/* The HTML training report, shared by `nabla report` and `nabla train
 * --report`: one self-contained page (inline SVG, inline CSS, no scripts, no
 * network) built from a run folder's metrics.jsonl, so it works on finished,
 * interrupted and crashed runs alike. */
#ifndef NB_REPORT_H
#define NB_REPORT_H

/* Read RUN_DIR/metrics.jsonl and write the page to html_path (NULL:
 * RUN_DIR/report.html), atomically (temp file, rename).  Errors are printed
 * as "nabla CMD: ...".  Returns 0, 1 (could not write) or 2 (no readable
 * metrics.jsonl). */
int nb_report_html(const char *cmd, const char *run_dir, const char *html_path);

#endif
