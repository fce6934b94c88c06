/* nabla vanish --time: vanishing and exploding gradients through time.  A
 * vanilla RNN, an LSTM and a GRU on the adding problem at several sequence
 * lengths: ||dL/dh_t|| at every step at initialisation, then a short
 * training and the test MSE; a table, JSON lines and one SVG chart per
 * length.  The measurements are the library's (nabla/vanish.h, "through
 * time"); this file chooses the configurations, runs them (two at a time, in
 * child processes) and prints. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "flags.h"
#include "nabla/json.h"
#include "nabla/plot.h"
#include "nabla/vanish.h"
#include "run.h"
#include "run_folder.h"
#include "vanish_time.h"
#include "worker.h"

#define NB__VT_MAX_TS 16
#define NB__VT_MAX_ROWS (NB__VT_MAX_TS * NB_VT__COUNT + 2)
/* The exploding pair of the default run: weight_hh x8 (spectral radius ~4.6
 * where PyTorch's init gives ~0.58), without and with clipping to 1. */
#define NB__VT_EXPLODE_SCALE 8.0
#define NB__VT_EXPLODE_CLIP 1.0

static const char nb__vt_usage[] = "usage: nabla vanish --time [OPTIONS]\n"
                                   "\n"
                                   "Vanishing and exploding gradients through time.  The adding problem: each\n"
                                   "of T steps has two inputs, a value from U[0,1) and a marker, 1 at exactly\n"
                                   "two steps (one in the first half, one in the second); the target is the\n"
                                   "sum of the two marked values (always answering 1 scores an MSE of 0.167).\n"
                                   "For every T of --T and every cell of --cells: one recurrent layer of\n"
                                   "--hidden units (rnn = tanh) and a Linear head on the last step, PyTorch's\n"
                                   "init (U(+-1/sqrt(hidden))) plus --gate-bias on the bias of the gate that\n"
                                   "keeps the state (lstm: forget gate, gru: update gate).  It measures\n"
                                   "||dL/dh_t|| for every step t at initialisation on one batch (MSE loss of\n"
                                   "the last step; the sequence unrolled one op call per step so that every\n"
                                   "h_t is a graph tensor), trains --steps Adam steps on fresh seeded batches\n"
                                   "(the fused whole-sequence op) and measures the test MSE on 1000 sequences.\n"
                                   "SOLVED when the test MSE is below 0.01.\n"
                                   "\n"
                                   "Without --rnn-init-scale and --clip-norm, two more rows at T = 100 (the\n"
                                   "longest T of --T up to 100, else the first) show the explosion: the rnn\n"
                                   "with weight_hh x8, whose gradient grows backwards in time, without and\n"
                                   "with --clip-norm 1.  The default run costs about 90 CPU-seconds, run two\n"
                                   "configurations at a time.\n"
                                   "\n"
                                   "The table gives ||dL/dh_1||, ||dL/dh_T||, their ratio (first/last), the\n"
                                   "largest global gradient norm in training, the training loss (first step ->\n"
                                   "mean of the last 20), the test MSE and a verdict: VANISHES when the ratio\n"
                                   "is below 1e-6, EXPLODES above 1e6, then SOLVED or not solved.\n"
                                   "OUT gets grad_norms_T<T>.svg (step t on x, log ||dL/dh_t|| on y, one line\n"
                                   "per configuration of that T) and results.jsonl (what --json prints: one\n"
                                   "object per configuration, with cell, T, grad_norm_first_step,\n"
                                   "grad_norm_last_step, grad_norms (T values), final_loss and solved).\n"
                                   "\n";

/* ------------------------------------------------------------------ flags */
typedef struct {
    nb_vanish_time_config base;
    int ts[NB__VT_MAX_TS], n_ts;
    int cells[NB_VT__COUNT], n_cells;
    int scale_given, clip_given, json, quiet, time;
    long jobs;
    const char *out;
} nb__vt_args;

/* "10,50,100": the --T list. */
static int nb__vt_ts_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vt_args *a = base;
    a->n_ts = 0;
    for (const char *p = v; *p;) {
        char *end;
        errno = 0;
        long t = strtol(p, &end, 10);
        if (end == p || errno || t < 2 || t > NB_VANISH_TIME_MAX_T || (*end && *end != ','))
            return nb_cli_usage_error(cmd, "%s %s: expected a comma-separated list of lengths in [2, %d]", flag, v,
                                      NB_VANISH_TIME_MAX_T);
        if (a->n_ts == NB__VT_MAX_TS)
            return nb_cli_usage_error(cmd, "%s %s: at most %d lengths", flag, v, NB__VT_MAX_TS);
        a->ts[a->n_ts++] = (int)t;
        p = *end ? end + 1 : end;
    }
    return a->n_ts ? 0 : nb_cli_usage_error(cmd, "%s: no length given", flag);
}

/* "rnn,lstm,gru": the --cells list. */
static int nb__vt_cells_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vt_args *a = base;
    static const char *const names[] = {"rnn", "lstm", "gru", NULL};
    a->n_cells = 0;
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ",");
        char word[16];
        snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), p);
        int k = len < sizeof word ? nb_vt_cell_parse(word) : -1;
        if (k < 0) return nb_flag_bad_name(cmd, flag, word, names, "cell");
        for (int i = 0; i < a->n_cells; i++)
            if (a->cells[i] == k) return nb_cli_usage_error(cmd, "%s %s: %s given twice", flag, v, word);
        a->cells[a->n_cells++] = k;
        p += len + (p[len] == ',');
    }
    return a->n_cells ? 0 : nb_cli_usage_error(cmd, "%s: no cell given", flag);
}

static int nb__vt_scale_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vt_args *a = base;
    a->scale_given = 1;
    return nb_flag_double(cmd, flag, v, 0, 1e6, &a->base.hh_scale) ? 2 : 0;
}

static int nb__vt_clip_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vt_args *a = base;
    a->clip_given = 1;
    return nb_flag_double(cmd, flag, v, 0, 1e12, &a->base.clip_norm) ? 2 : 0;
}

#define NB__A nb__vt_args
static const nb_flag nb__vt_flags[] = {
    NB_FLAG_BOOL("--time", NB__A, time, "this mode (the MLP lab without it)"),
    NB_FLAG_CUSTOM("--T", nb__vt_ts_flag, "T,...", "sequence lengths (10,50,100,200; 2..1000)"),
    NB_FLAG_CUSTOM("--cells", nb__vt_cells_flag, "C,...", "rnn|lstm|gru, comma-separated (rnn,lstm,gru)"),
    NB_FLAG_INT("--hidden", NB__A, base.hidden, 1, 4096, "N", "hidden units (32)"),
    NB_FLAG_INT("--steps", NB__A, base.steps, 0, 100000000, "N", "Adam steps (1500; 0 = measure at init only)"),
    NB_FLAG_INT("--batch", NB__A, base.batch, 1, 100000, "N", "batch size, training and probe (32)"),
    NB_FLAG_DOUBLE("--lr", NB__A, base.opt.lr, 0, 1e6, "LR", "Adam learning rate (0.01)"),
    NB_FLAG_DOUBLE("--gate-bias", NB__A, base.gate_bias, -100, 100, "B",
                   "added to the lstm's forget-gate and the gru's update-gate\n"
                   "bias (3; 0 = PyTorch's init)"),
    NB_FLAG_CUSTOM("--rnn-init-scale", nb__vt_scale_flag, "S", "multiply every cell's weight_hh by S (1)"),
    NB_FLAG_CUSTOM("--clip-norm", nb__vt_clip_flag, "X", "clip the global gradient norm to X (0 = off) (0)"),
    NB_FLAG_INT("--seed", NB__A, base.seed, 0, (double)LONG_MAX, "N", "seed of the weights and the data (1)"),
    NB_FLAG_INT("--jobs", NB__A, jobs, 1, 64, "N", "configurations run at once, in child processes (2)"),
    NB_FLAG_STRING("--out", NB__A, out, "DIR", "output folder (runs/vanish-time)"),
    NB_FLAG_BOOL("--json", NB__A, json, "JSON lines on stdout instead of the table"),
    NB_FLAG_BOOL("--quiet", NB__A, quiet, "nothing on stderr but errors"),
};
#undef NB__A

char *nb_vanish_time_usage(char *buf, size_t size)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s", nb__vt_usage);
    return nb_flags_help(buf, size, nb__vt_flags, sizeof nb__vt_flags / sizeof nb__vt_flags[0], 20);
}

/* ----------------------------------------------------------------- output */
typedef struct {
    nb_vanish_time_config cfg;
    nb_vanish_time_result res;
    char label[48];
} nb__vt_row;

static const char *nb__vt_verdict(const nb__vt_row *r, char *buf, size_t size)
{
    const nb_vanish_time_result *v = &r->res;
    const char *grad = v->ratio < 1e-6 ? "VANISHES; " : v->ratio > 1e6 ? "EXPLODES; " : "";
    if (v->exploded) snprintf(buf, size, "%sNaN/Inf at step %ld", grad, v->exploded_at);
    else if (r->cfg.steps == 0) snprintf(buf, size, "%snot trained", grad);
    else snprintf(buf, size, "%s%s", grad, v->solved ? "SOLVED" : "not solved");
    return buf;
}

static void nb__vt_json_row(FILE *f, const nb__vt_row *r)
{
    const nb_vanish_time_config *c = &r->cfg;
    const nb_vanish_time_result *v = &r->res;
    char verdict[64];
    fputs("{\"cell\":", f);
    nb_json_write_string(f, nb_vt_cell_name(c->cell));
    fprintf(f, ",\"T\":%d", c->T);
    nb_json_write_key_number(f, "grad_norm_first_step", v->grad_norm_first);
    nb_json_write_key_number(f, "grad_norm_last_step", v->grad_norm_last);
    fputs(",\"grad_norms\":[", f);
    for (int t = 0; t < v->T; t++) {
        if (t) fputc(',', f);
        nb_json_write_number(f, v->grad_norms[t]);
    }
    fputc(']', f);
    nb_json_write_key_number(f, "final_loss", v->final_loss);
    fprintf(f, ",\"solved\":%s,\"config\":", v->solved ? "true" : "false");
    nb_json_write_string(f, r->label);
    fprintf(f, ",\"hidden\":%zu,\"steps\":%ld,\"batch\":%zu", c->hidden, c->steps, c->batch);
    nb_json_write_key_number(f, "lr", c->opt.lr);
    nb_json_write_key_number(f, "gate_bias", c->cell == NB_VT_RNN ? NAN : c->gate_bias);
    nb_json_write_key_number(f, "rnn_init_scale", c->hh_scale);
    nb_json_write_key_number(f, "clip_norm", c->clip_norm);
    fprintf(f, ",\"seed\":%llu", (unsigned long long)c->seed);
    nb_json_write_key_number(f, "ratio", v->ratio);
    nb_json_write_key_number(f, "loss_init", v->loss_init);
    nb_json_write_key_number(f, "loss_first", v->loss_first);
    nb_json_write_key_number(f, "loss_last", v->loss_last);
    nb_json_write_key_number(f, "loss_max", v->loss_max);
    nb_json_write_key_number(f, "grad_norm_max", v->grad_norm_max);
    fprintf(f, ",\"clipped_steps\":%ld,\"steps_done\":%ld,\"exploded\":%s,\"exploded_at\":%ld,\"verdict\":",
            v->clipped_steps, v->steps_done, v->exploded ? "true" : "false", v->exploded_at);
    nb_json_write_string(f, nb__vt_verdict(r, verdict, sizeof verdict));
    nb_json_write_key_number(f, "seconds", v->seconds);
    fputs("}\n", f);
    fflush(f);
}

#define NB__VT_ROWFMT "%-16s %4s %10s %10s %9s %9s %20s %9s  %s\n"

static void nb__vt_fmt(char *buf, size_t size, double v)
{
    if (isnan(v)) snprintf(buf, size, "-");
    else snprintf(buf, size, "%.2e", v);
}

static void nb__vt_table_row(FILE *f, const nb__vt_row *r)
{
    const nb_vanish_time_result *v = &r->res;
    char T[16], a[24], b[24], q[24], g[24], loss[48], mse[24], verdict[64];
    snprintf(T, sizeof T, "%d", v->T);
    nb__vt_fmt(a, sizeof a, v->grad_norm_first);
    nb__vt_fmt(b, sizeof b, v->grad_norm_last);
    nb__vt_fmt(q, sizeof q, v->ratio);
    nb__vt_fmt(g, sizeof g, v->steps_done || v->exploded ? v->grad_norm_max : NAN);
    if (v->steps_done == 0) snprintf(loss, sizeof loss, "%s", v->exploded ? "NaN!" : "-");
    else snprintf(loss, sizeof loss, "%.3g -> %.3g%s", v->loss_first, v->loss_last, v->exploded ? "!" : "");
    if (isnan(v->final_loss)) snprintf(mse, sizeof mse, "NaN");
    else snprintf(mse, sizeof mse, "%.3g", v->final_loss);
    fprintf(f, NB__VT_ROWFMT, r->label, T, a, b, q, g, loss, mse, nb__vt_verdict(r, verdict, sizeof verdict));
    fflush(f);
}

/* One chart per T: step on x, ||dL/dh_t|| on a log y axis; rows that differ
 * only in clipping have the same profile and are drawn once. */
static int nb__vt_svg(const char *path, const nb__vt_row *rows, int n, int T)
{
    FILE *f = nb_fopen_out(path, "w");
    if (!f) return -1;
    static double xs[NB_VANISH_TIME_MAX_T];
    for (int k = 0; k < NB_VANISH_TIME_MAX_T; k++) xs[k] = k + 1;
    char title[160];
    snprintf(title, sizeof title,
             "Gradient of the loss at step %d with respect to each hidden state, at initialisation", T);
    nb_plot p;
    nb_plot_init(&p, title, "time step t", "||dL/dh_t|| (log scale)");
    p.log_y = 1;
    for (int i = 0; i < n && p.n_series < NB_PLOT_MAX_SERIES; i++) {
        const nb__vt_row *r = &rows[i];
        int dup = r->res.T != T;
        for (int j = 0; j < i && !dup; j++)
            dup = rows[j].res.T == T && !memcmp(rows[j].res.grad_norms, r->res.grad_norms, sizeof r->res.grad_norms);
        if (!dup) nb_plot_series(&p, r->label, xs, r->res.grad_norms, (size_t)T);
    }
    nb_plot_svg(&p, f, 960, 520);
    return fclose(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- workers */
typedef struct {
    int rc;
    nb_vanish_time_result res;
    char err[512];
} nb__vt_msg;

typedef struct {
    nb_worker w;
    nb__vt_msg msg;
} nb__vt_job;

/* nb_worker_fn: row (a const nb__vt_row *) into msg */
static void nb__vt_compute(void *row, void *msg)
{
    const nb__vt_row *r = row;
    nb__vt_msg *m = msg;
    memset(m, 0, sizeof *m);
    m->rc = nb_vanish_time_run(&r->cfg, &m->res);
    if (m->rc) snprintf(m->err, sizeof m->err, "%s", nb_errmsg());
}

/* Start row r in a child process (or here, when fork fails or jobs is 1). */
static void nb__vt_start(nb__vt_job *j, const nb__vt_row *r, int jobs)
{
    nb_worker_start(&j->w, jobs, nb__vt_compute, (void *)r, &j->msg, sizeof j->msg);
}

/* Wait for a started row; 0, or -1 with j->msg.err set. */
static int nb__vt_finish(nb__vt_job *j)
{
    if (nb_worker_finish(&j->w, &j->msg, sizeof j->msg, j->msg.err, sizeof j->msg.err)) j->msg.rc = -1;
    return j->msg.rc ? -1 : 0;
}

/* ------------------------------------------------------------------- main */
static void nb__vt_label(nb__vt_row *r)
{
    const nb_vanish_time_config *c = &r->cfg;
    char scale[24] = "", clip[24] = "";
    if (c->hh_scale != 1) snprintf(scale, sizeof scale, " x%g", c->hh_scale);
    if (c->clip_norm > 0) snprintf(clip, sizeof clip, " clip %g", c->clip_norm);
    snprintf(r->label, sizeof r->label, "%s%s%s", nb_vt_cell_name(c->cell), scale, clip);
}

/* The rows: every (T, cell), then the exploding pair; their number, or -1
 * (printed). */
static int nb__vt_make_rows(const char *cmd, const nb__vt_args *a, nb__vt_row *rows)
{
    int n = 0, t_explode = a->ts[0], has_rnn = 0;
    for (int i = 0; i < a->n_ts; i++) {
        if (a->ts[i] <= 100 && (t_explode > 100 || a->ts[i] > t_explode)) t_explode = a->ts[i];
        for (int k = 0; k < a->n_cells; k++) {
            nb__vt_row *r = &rows[n++];
            r->cfg = a->base;
            r->cfg.T = a->ts[i];
            r->cfg.cell = (nb_vt_cell)a->cells[k];
            has_rnn |= r->cfg.cell == NB_VT_RNN;
        }
    }
    if (has_rnn && !a->scale_given && !a->clip_given)
        for (int k = 0; k < 2; k++) {
            nb__vt_row *r = &rows[n++];
            r->cfg = a->base;
            r->cfg.T = t_explode;
            r->cfg.cell = NB_VT_RNN;
            r->cfg.hh_scale = NB__VT_EXPLODE_SCALE;
            r->cfg.clip_norm = k ? NB__VT_EXPLODE_CLIP : 0;
        }
    for (int i = 0; i < n; i++) {
        nb__vt_label(&rows[i]);
        if (nb_vanish_time_validate(&rows[i].cfg)) return nb_cli_usage_error(cmd, "%s", nb_cli_errmsg()), -1;
    }
    return n;
}

/* Run the rows, --jobs at a time, printing each as it finishes (in order),
 * then the charts; 0 or 1 (printed). */
static int nb__vt_run_rows(const nb__vt_args *a, FILE *jf, const char *jpath, nb__vt_row *rows, nb__vt_job *js,
                           int n_rows)
{
    const nb_vanish_time_config *b = &a->base;
    if (!a->quiet)
        fprintf(stderr,
                "nabla vanish --time: %d configurations; adding problem, %zu hidden units, gate bias %g; "
                "||dL/dh_t|| at init on a batch of %zu; %ld Adam steps (lr %g, batch %zu); test MSE on %zu "
                "sequences\n",
                n_rows, b->hidden, b->gate_bias, b->batch, b->steps, b->opt.lr, b->batch, b->test_n);
    if (!a->json)
        fprintf(stdout, NB__VT_ROWFMT, "config", "T", "|dL/dh_1|", "|dL/dh_T|", "ratio", "max |g|", "train loss",
                "test MSE", "verdict");
    double t0 = nb_now();
    int rc = 1, started = 0, finished;
    for (finished = 0; finished < n_rows; finished++) {
        while (started < n_rows && started < finished + a->jobs) {
            nb__vt_start(&js[started], &rows[started], (int)a->jobs);
            started++;
        }
        nb__vt_row *r = &rows[finished];
        if (nb__vt_finish(&js[finished])) {
            fprintf(stderr, "nabla vanish: %s T=%d: %s\n", r->label, r->cfg.T, js[finished].msg.err);
            goto done;
        }
        r->res = js[finished].msg.res;
        if (!a->json) nb__vt_table_row(stdout, r);
        else nb__vt_json_row(stdout, r);
        nb__vt_json_row(jf, r);
    }
    char svgs[1200] = "";
    for (int i = 0; i < a->n_ts; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/grad_norms_T%d.svg", a->out, a->ts[i]);
        if (nb__vt_svg(path, rows, n_rows, a->ts[i])) {
            fprintf(stderr, "nabla vanish: cannot write %s: %s\n", path, strerror(errno));
            goto done;
        }
        if (i == 0) snprintf(svgs, sizeof svgs, "%s", path);
    }
    if (!a->quiet)
        fprintf(stderr, "nabla vanish --time: %.1f s; wrote %s%s and %s\n", nb_now() - t0, svgs,
                a->n_ts > 1 ? " (one chart per T)" : "", jpath);
    rc = 0;
done:
    for (int i = finished + 1; i < started; i++) /* after an error: stop the other workers */
        if (js[i].w.pid > 0) {
            kill(js[i].w.pid, SIGTERM);
            nb__vt_finish(&js[i]);
        }
    return rc;
}

int nb_vanish_time_main(int argc, char **argv)
{
    const char *cmd = "vanish";
    static char usage[8192];
    usage[0] = '\0';
    nb_vanish_time_usage(usage, sizeof usage);
    nb__vt_args a = {.base = nb_vanish_time_defaults(),
                     .ts = {10, 50, 100, 200},
                     .n_ts = 4,
                     .cells = {NB_VT_RNN, NB_VT_LSTM, NB_VT_GRU},
                     .n_cells = 3,
                     .jobs = 2,
                     .out = "runs/vanish-time"};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__vt_flags, &a)};
    int n_pos, k = nb_flags_parse(cmd, usage, tabs, 1, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected(cmd, argv[1]);
    nb__vt_row *rows = calloc(NB__VT_MAX_ROWS, sizeof *rows);
    nb__vt_job *js = calloc(NB__VT_MAX_ROWS, sizeof *js);
    char jpath[1100];
    snprintf(jpath, sizeof jpath, "%s/results.jsonl", a.out);
    FILE *jf = NULL;
    int rc = 1, n_rows;
    if (!rows || !js) fprintf(stderr, "nabla vanish: out of memory\n");
    else if ((n_rows = nb__vt_make_rows(cmd, &a, rows)) < 0) rc = 2;
    else if (nb_out_dir(a.out) || !(jf = nb_fopen_out(jpath, "w")))
        rc = nb_cli_usage_error(cmd, "--out %s: cannot write there (%s)", a.out, strerror(errno));
    else rc = nb__vt_run_rows(&a, jf, jpath, rows, js, n_rows);
    if (jf) fclose(jf);
    free(rows);
    free(js);
    return rc;
}
