/* nabla train: the study guide's training loop on Fashion-MNIST. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ddp_train.h"
#include "model_cli.h"
#include "nabla/io.h"
#include "nabla/monitor.h"
#include "report.h"
#include "run.h"
#include "tensorboard.h"
#include "train_val.h"
#include "run_folder.h"

static volatile sig_atomic_t nb__interrupted;
static void nb__on_sigint(int sig)
{
    (void)sig;
    nb__interrupted = 1;
}

typedef struct {
    FILE *json;    /* stdout when --json, else NULL */
    FILE *metrics; /* OUT/metrics.jsonl */
    int tty;       /* progress bar on stderr */
    int quiet;
    nb_tb *tb[3]; /* --tensorboard: DIR/train, DIR/val, DIR/test (NULL: off) */
} nb__out;

/* Writes one JSON event to f, all but its closing brace. */
typedef void nb__event_fn(FILE *f, const void *ev);

/* Write the same JSON object to the metrics file and (with --json) stdout. */
static void nb__event(const nb__out *o, nb__event_fn *write, const void *ev)
{
    FILE *fs[2] = {o->metrics, o->json};
    for (int k = 0; k < 2; k++) {
        if (!fs[k]) continue;
        write(fs[k], ev);
        fputs("}\n", fs[k]);
        fflush(fs[k]);
    }
}

/* --monitor, --detect-anomaly / --anomaly-policy, --report */
typedef struct {
    long monitor;             /* every N steps; 0 = off */
    nb_anomaly_policy policy; /* NB_ANOMALY_OFF unless asked */
    int report;
    double vanish_below, explode_above; /* monitor warning limits; 0 = the monitor's defaults */
} nb__diag;

/* --detect-anomaly: the stop policy unless --anomaly-policy chose one. */
static int nb__detect_anomaly_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__diag *d = base;
    (void)cmd, (void)flag, (void)v;
    if (!d->policy) d->policy = NB_ANOMALY_STOP;
    return 0;
}

static int nb__policy_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__diag *d = base;
    int p = nb_anomaly_policy_parse(v);
    if (p < 0) return nb_cli_usage_error(cmd, "%s %s: expected stop, skip or continue", flag, v);
    d->policy = (nb_anomaly_policy)p;
    return 0;
}

static const nb_flag nb__diag_flags[] = {
    NB_FLAG_TEXT("diagnostics:\n"),
    {"--monitor", NB_FLAG_INT, offsetof(nb__diag, monitor), sizeof(long), 1, (double)LONG_MAX, NULL,
     "a number of steps >= 1", NULL, "N",
     "every N steps (and at step 1): per-parameter gradient and\n"
     "parameter norms, update/parameter ratios, the gradient\n"
     "norm before and after clipping, dead ReLUs, saturated\n"
     "sigmoid/tanh units; warnings (gradient norm < 1e-6 or\n"
     "> 10, over half the units dead or saturated) on stderr;\n"
     "everything as JSON events in metrics.jsonl (and --json)"},
    {"--vanish-below", NB_FLAG_DOUBLE, offsetof(nb__diag, vanish_below), sizeof(double), 1e-300, 1e300, NULL, NULL,
     NULL, "X", "the monitor's vanishing limit (1e-6)"},
    {"--explode-above", NB_FLAG_DOUBLE, offsetof(nb__diag, explode_above), sizeof(double), 1e-300, 1e300, NULL, NULL,
     NULL, "X", "the monitor's exploding limit (10)"},
    NB_FLAG_ACTION("--detect-anomaly", nb__detect_anomaly_flag,
                   "check every op's output and every gradient for NaN/Inf\n"
                   "and stop at the first, naming the op, pass, shapes and\n"
                   "index (slower: for finding the cause, not for every run)"),
    NB_FLAG_CUSTOM("--anomaly-policy", nb__policy_flag, "P",
                   "stop (the default), skip (drop the step and go on) or\n"
                   "continue (only record it); implies --detect-anomaly"),
    NB_FLAG_BOOL("--report", nb__diag, report,
                 "write OUT/report.html at the end, also when the run stops\n"
                 "early (see `nabla report`); implies --monitor LOG_EVERY\n"
                 "unless --monitor is given"),
};

/* What the monitor's records and warnings turn into: JSON events, a line per
 * record on stderr, and each kind of warning at each place once on stderr
 * (all of them go to metrics.jsonl). */
typedef struct {
    const nb__out *o;
    int lines;
    struct {
        int kind;
        char where[96];
    } seen[256];
    int n_seen;
    long repeats;
} nb__mon_out;

/* "%.3g", or NaN/Inf spelled the same everywhere. */
static const char *nb__g(char *buf, size_t size, double v)
{
    if (isnan(v)) snprintf(buf, size, "NaN");
    else if (isinf(v)) snprintf(buf, size, "%sInf", v < 0 ? "-" : "");
    else snprintf(buf, size, "%.3g", v);
    return buf;
}

/* --tensorboard with --monitor: each parameter's gradient norm. */
static void nb__tb_record(nb_tb *tb, const nb_monitor_record *r)
{
    if (!tb) return;
    char tag[200];
    for (size_t i = 0; i < r->n_params; i++) {
        snprintf(tag, sizeof tag, "grad_norm/%s", r->params[i].name);
        nb_tb_scalar(tb, tag, r->step, r->params[i].grad_norm);
    }
    nb_tb_flush(tb);
}

static void nb__on_record(void *user, const nb_monitor_record *r, const nb_monitor_warning *w, size_t n_w)
{
    nb__mon_out *mo = user;
    const nb__out *o = mo->o;
    FILE *fs[2] = {o->metrics, o->json};
    for (int k = 0; k < 2; k++) {
        if (!fs[k]) continue;
        nb_monitor_record_json(r, fs[k]);
        for (size_t i = 0; i < n_w; i++) nb_monitor_warning_json(&w[i], fs[k]);
        fflush(fs[k]);
    }
    nb__tb_record(o->tb[0], r);
    const char *clr = o->tty ? "\r\033[K" : "";
    if (mo->lines) {
        size_t big = 0;
        double lo = INFINITY, hi = -INFINITY;
        char b1[32], b2[32];
        for (size_t i = 0; i < r->n_params; i++) {
            if (r->params[i].grad_norm > r->params[big].grad_norm || isnan(r->params[i].grad_norm)) big = i;
            if (isfinite(r->params[i].update_ratio)) {
                lo = fmin(lo, r->params[i].update_ratio);
                hi = fmax(hi, r->params[i].update_ratio);
            }
        }
        fprintf(stderr, "%smonitor step %lld: loss %s, grad-norm %s", clr, (long long)r->step,
                nb__g(b1, sizeof b1, r->loss), nb__g(b2, sizeof b2, r->grad_norm));
        if (isfinite(r->grad_norm_clipped) && r->grad_norm_clipped < r->grad_norm)
            fprintf(stderr, " (clipped to %.3g)", r->grad_norm_clipped);
        if (r->n_params)
            fprintf(stderr, ", largest %s %s", r->params[big].name, nb__g(b1, sizeof b1, r->params[big].grad_norm));
        if (isfinite(lo)) fprintf(stderr, ", update ratio %.2g..%.2g", lo, hi);
        for (size_t i = 0; i < r->n_layers; i++) {
            const nb_monitor_layer *l = &r->layers[i];
            int dead = !strcmp(l->kind, "relu");
            double fr = dead ? l->dead_frac : l->saturated_frac;
            if (isfinite(fr))
                fprintf(stderr, ", layers.%zu %.0f%% %s", l->layer, 100 * fr, dead ? "dead" : "saturated");
        }
        fputc('\n', stderr);
    }
    for (size_t i = 0; i < n_w; i++) {
        int k = 0;
        while (k < mo->n_seen && !(mo->seen[k].kind == (int)w[i].kind && !strcmp(mo->seen[k].where, w[i].where))) k++;
        if (k < mo->n_seen) {
            mo->repeats++;
            continue;
        }
        if (mo->n_seen < (int)(sizeof mo->seen / sizeof mo->seen[0])) {
            mo->seen[mo->n_seen].kind = (int)w[i].kind;
            snprintf(mo->seen[mo->n_seen].where, sizeof mo->seen[0].where, "%s", w[i].where);
            mo->n_seen++;
        }
        char line[320];
        fprintf(stderr, "%snabla train: warning: %s\n", clr, nb_monitor_warning_str(&w[i], line, sizeof line));
    }
}

typedef struct {
    long long step;
    nb_anomaly_policy pol;
    const nb_anomaly *a;
    const char *msg;
} nb__anomaly_ev;

static void nb__write_anomaly(FILE *f, const void *ev)
{
    const nb__anomaly_ev *e = ev;
    const nb_anomaly *a = e->a;
    fprintf(f, "{\"event\":\"anomaly\",\"step\":%lld,\"policy\":", e->step);
    nb_json_write_string(f, nb_anomaly_policy_name(e->pol));
    fputs(",\"op\":", f);
    nb_json_write_string(f, a->op);
    fprintf(f, ",\"pass\":\"%s\",\"input\":%d,\"shape\":[", a->backward ? "backward" : "forward", a->input);
    for (int d = 0; d < a->ndim; d++) fprintf(f, "%s%zu", d ? "," : "", a->shape[d]);
    fputs("],\"shapes\":", f);
    nb_json_write_string(f, a->shapes);
    fputs(",\"layer\":", f);
    nb_json_write_string(f, a->layer);
    fprintf(f, ",\"index\":%zu,\"value\":\"%s\",\"file\":", a->index,
            isnan(a->value) ? "NaN" : (a->value > 0 ? "Inf" : "-Inf"));
    if (a->file) nb_json_write_string(f, a->file);
    else fputs("null", f);
    fprintf(f, ",\"line\":%d,\"count\":%zu,\"message\":", a->line, a->count);
    nb_json_write_string(f, e->msg);
}

/* The anomaly record as a JSON event. */
static void nb__anomaly_event(const nb__out *o, long long step, nb_anomaly_policy pol, const nb_anomaly *a)
{
    char msg[600];
    nb_anomaly_describe(a, msg, sizeof msg);
    nb__event(o, nb__write_anomaly, &(nb__anomaly_ev){step, pol, a, msg});
}

/* "12s", "3m05s", "1h02m" */
static const char *nb__dur(char *buf, size_t size, double s)
{
    long t = isfinite(s) && s > 0 ? (long)(s + 0.5) : 0;
    if (isfinite(s) && s < 9.95) snprintf(buf, size, "%.1fs", s > 0 ? s : 0.0);
    else if (t < 60) snprintf(buf, size, "%lds", t);
    else if (t < 3600) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    return buf;
}

/* The progress bar (a terminal: redrawn in place on stderr) or a plain line
 * (not a terminal): batch b of nb, the epoch's running mean loss and train
 * accuracy, samples/s, the epoch's elapsed time and the ETA of its end. */
static void nb__bar(const nb__out *o, long epoch, long epochs, size_t b, size_t nb, size_t b0, double mean_loss,
                    double acc, double seconds, double seconds0, double sps)
{
    char el[32], eta[32];
    double left = b > b0 ? (seconds - seconds0) / (double)(b - b0) * (double)(nb - b) : NAN;
    if (!o->tty) {
        fprintf(stderr, "epoch %ld/%ld batch %zu/%zu  loss %.4f  acc %.4f  %.0f samples/s  %s elapsed, ETA %s\n", epoch,
                epochs, b, nb, mean_loss, acc, sps, nb__dur(el, sizeof el, seconds), nb__dur(eta, sizeof eta, left));
        return;
    }
    int w = 24, fill = nb ? (int)((double)w * (double)b / (double)nb) : w;
    fprintf(stderr, "\r\033[Kepoch %ld/%ld [", epoch, epochs);
    for (int i = 0; i < w; i++) fputc(i < fill ? '=' : (i == fill ? '>' : ' '), stderr);
    fprintf(stderr, "] %zu/%zu  loss %.4f  acc %.4f  %.0f samples/s  %s, ETA %s", b, nb, mean_loss, acc, sps,
            nb__dur(el, sizeof el, seconds), nb__dur(eta, sizeof eta, left));
    fflush(stderr);
}

static const char nb__train_usage[] = "usage: nabla train [OPTIONS]\n"
                                      "\n"
                                      "Train an MLP on Fashion-MNIST (default: the study guide's loop, 784-128-10\n"
                                      "ReLU, Adam lr 1e-3, batch 64, clip-norm 1.0, 10 epochs).  Results go to\n"
                                      "stdout: per epoch, train loss and accuracy, test (or, with --val,\n"
                                      "validation) loss and accuracy, and a closing `done:` line.  Progress (a\n"
                                      "bar on a terminal, else a line every --log-every batches) and diagnostics\n"
                                      "go to stderr.  OUT receives checkpoint.safetensors (after every epoch,\n"
                                      "atomically) and metrics.jsonl.  Ctrl-C saves a checkpoint and exits.\n"
                                      "\n"
                                      "output:\n"
                                      "  --out DIR            run folder (runs/train)\n"
                                      "  --resume             continue from DIR/checkpoint.safetensors: the flags\n"
                                      "                       must agree with the run's, except --epochs, --lr\n"
                                      "                       and --max-steps (totals, not more of them;\n"
                                      "                       without --epochs, the run's own count)\n"
                                      "  --overwrite          replace the run DIR holds (else refused)\n"
                                      "  --allow-nonfinite    with --resume: load a checkpoint whose weights or\n"
                                      "                       optimizer state hold NaN/Inf (else refused)\n"
                                      "  --json               JSON Lines events on stdout (and nothing else there)\n"
                                      "  --log-every N        batches between log events and, off a terminal,\n"
                                      "                       progress lines (100)\n"
                                      "  --max-steps N        stop (and save) after N optimizer steps in total\n"
                                      "  --limit-train N      train on the first N samples only\n"
                                      "  --quiet              no progress or summaries on stderr (results stay\n"
                                      "                       on stdout)\n"
                                      "\n";

static char nb__train_usage_full[8192];

__attribute__((constructor)) static void nb__train_usage_init(void)
{
    char *u = nb__train_usage_full;
    size_t n = sizeof nb__train_usage_full;
    snprintf(u, n, "%s", nb__train_usage);
    nb_flags_help(u, n, nb_train_val_flags, nb_train_val_n_flags, 20);
    strncat(u, "\n", n - strlen(u) - 1);
    nb_flags_help(u, n, nb__diag_flags, sizeof nb__diag_flags / sizeof nb__diag_flags[0], 20);
    strncat(u, "\n", n - strlen(u) - 1);
    nb_flags_help(u, n, nb_ddp_flags, nb_ddp_n_flags, 20);
    strncat(u, nb_run_flags_help(), n - strlen(u) - 1);
}

/* How a run stopped. */
typedef enum nb_train_stop {
    NB_TRAIN_RUNNING,     /* not stopped (yet) */
    NB_TRAIN_FINISHED,    /* every epoch done */
    NB_TRAIN_MAX_STEPS,   /* --max-steps reached (checkpoint saved) */
    NB_TRAIN_INTERRUPTED, /* Ctrl-C (checkpoint saved) */
    NB_TRAIN_NONFINITE,   /* a NaN/Inf: stopped, the last good checkpoint kept */
    NB_TRAIN_ERROR,       /* loader, evaluation, checkpoint or --ddp failed */
    NB_TRAIN_EARLY_STOP,  /* --early-stop: no better validation loss for N epochs */
} nb_train_stop;

/* Everything one run holds, from setup to the end. */
typedef struct {
    const char *cmd;
    nb_run_cfg r;
    nb__diag dg;
    nb_ddp ddp;
    char ckpt[1100], metrics_path[1100];
    char states_path[1100]; /* --tbptt: the carried states beside the checkpoint */
    int keep_states;        /* --tbptt resumed mid-epoch: the first epoch goes on from the saved states */
    nb_dataset *train, *test;
    nb_model *m;
    nb_optim *opt;
    nb_loader *loader;
    nb_ctx *c;
    nb_monitor *mon;
    void *xb;
    int32_t *yb;
    size_t bpe;        /* batches per epoch */
    size_t eval_batch; /* nb_evaluate_batch: the forward's activations near 64 MiB */
    int per_batch;     /* the schedule steps per batch, else per epoch */
    double step_lr;    /* the learning rate the last step used (logged) */
    nb_sched sched;
    nb_progress prog;
    nb_rng rng;
    nb__out o;
    nb__mon_out mout;
    nb_kv kv[32];
    size_t nkv;
    char epochs_kv[24];
    double train_time, norm_hist[20]; /* norm_hist: the last 20 gradient norms, by step % 20 */
    long long samples, skipped;
    int skip_run, anomaly_told;
    nb_eval ev;
    nb_train_val val; /* --val, --early-stop, --tensorboard */
    size_t nkv_run;   /* kv[0..nkv_run): the configuration; then val's state */
} nb__train;

/* This epoch's running sums (a resumed run: the checkpoint's, then more). */
typedef struct {
    double loss_sum, seconds;
    size_t loss_n, b; /* b: batches of this epoch done */
    size_t b0;        /* the batch it started at (a resumed run: mid-epoch) */
    double seconds0;  /* seconds at b0 (the ETA counts this process's steps) */
    size_t correct;   /* training samples predicted right (before each update) */
    double drawn;     /* when the progress bar was last drawn */
} nb__epoch;

/* ------------------------------------------------------------------ setup */
/* Flags; -1 to go on, else the exit status. */
static int nb__train_flags(nb__train *t, int argc, char **argv)
{
    nb_run_defaults(&t->r);
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__diag_flags, &t->dg),
                            {nb_ddp_flags, nb_ddp_n_flags, &t->ddp},
                            NB_RUN_FLAG_TABLE(&t->r),
                            NB_TRAIN_VAL_FLAG_TABLE(&t->val)};
    int n_pos, k = nb_flags_parse(t->cmd, nb__train_usage_full, tabs, 4, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected(t->cmd, argv[1]);
    if (nb_run_folder_epochs(t->cmd, &t->r, argc, argv) || nb_run_finish(t->cmd, &t->r)) return 2;
    if ((k = nb_run_folder_check(t->cmd, &t->r, argc, argv)) >= 0) return k;
    nb_run_warn_futile(t->cmd, &t->r);
    if (nb_train_val_check(t->cmd, &t->val, t->ddp.on)) return 2;
    if (t->r.tbptt && (t->ddp.on || t->val.frac || t->r.limit_train)) /* they would break the streams' order */
        return nb_cli_usage_error(t->cmd, "--tbptt: not with --ddp, --val or --limit-train");
    if (t->dg.report && !t->dg.monitor) t->dg.monitor = t->r.log_every;
    return -1;
}

/* The output folder (first: fail before any work if it cannot be written),
 * the data and --ddp; -1 to go on, else the exit status. */
static int nb__train_open(nb__train *t)
{
    nb_run_cfg *r = &t->r;
    if (nb_out_dir(r->out))
        return nb_cli_usage_error(t->cmd, "--out %s: cannot write there (%s)", r->out, strerror(errno));
    snprintf(t->ckpt, sizeof t->ckpt, "%s/checkpoint.safetensors", r->out);
    snprintf(t->states_path, sizeof t->states_path, "%s/tbptt_states.safetensors", r->out);
    snprintf(t->metrics_path, sizeof t->metrics_path, "%s/metrics.jsonl", r->out);
    if (r->text) {
        if (nb_run_text_data(t->cmd, r, &t->train, &t->test)) return 2;
    } else if (nb_fashion_mnist_load(r->data, &t->train, &t->test)) {
        fprintf(stderr, "nabla train: %s\n", nb_errmsg());
        return 2;
    }
    if (nb_ddp_start(t->cmd, &t->ddp, r, &t->dg.monitor, &t->dg.report, t->dg.policy == NB_ANOMALY_SKIP_STEP,
                     t->metrics_path, sizeof t->metrics_path)) {
        nb_dataset_free(t->train);
        nb_dataset_free(t->test);
        return 2;
    }
    /* Ranks usually share a host's cores: one thread each unless asked. */
    if (t->ddp.on && r->threads == 0) nb_set_threads(1);
    t->o = (nb__out){.json = r->json ? stdout : NULL, .tty = isatty(2), .quiet = r->quiet};
    t->mout.o = &t->o;
    t->mout.lines = !r->quiet && !r->json;
    return -1;
}

/* --limit-train, and does the model fit the data?  0 or the exit status. */
static int nb__setup_data(nb__train *t)
{
    const nb_run_cfg *r = &t->r;
    if (r->limit_train && r->limit_train < t->train->n) {
        size_t *rows = malloc(r->limit_train * sizeof *rows);
        for (size_t i = 0; rows && i < r->limit_train; i++) rows[i] = i;
        nb_dataset *sub = rows ? nb_dataset_subset(t->train, rows, r->limit_train) : NULL;
        free(rows);
        if (!sub) {
            fprintf(stderr, "nabla train: --limit-train: %s\n", nb_errmsg());
            return 1;
        }
        nb_dataset_free(t->train);
        t->train = sub;
    }
    if (r->text) return 0; /* the description was checked against [seq_len] in nb_run_finish */
    if (r->mlp.widths[0] != t->train->d)
        return nb_cli_usage_error(t->cmd, "--model %s: input width %zu does not match the data's %zu features",
                                  r->model, r->mlp.widths[0], t->train->d);
    if ((int)r->mlp.widths[r->mlp.n_widths - 1] < t->train->n_classes)
        return nb_cli_usage_error(t->cmd, "--model %s: %zu outputs cannot hold the data's %d classes", r->model,
                                  r->mlp.widths[r->mlp.n_widths - 1], t->train->n_classes);
    return 0;
}

/* Model, optimizer, loader and schedule; 0 or the exit status. */
static int nb__setup_model(nb__train *t)
{
    nb_run_cfg *r = &t->r;
    nb_rng init_rng;
    nb_rng_seed(&init_rng, r->seed);
    nb_rng_seed(&t->rng, r->seed ^ 0x5eed5eed5eedULL);
    /* --resume: the checkpoint's model */
    if (!(t->m = nb_run_model_resume(t->cmd, r, t->ckpt, &init_rng))) return 2;
    t->eval_batch = nb_evaluate_batch(t->m);
    if (!(t->opt = nb_optim_new(&r->opt, r->dtype, nb_model_n_params(t->m))))
        return nb_cli_usage_error(t->cmd, "%s", nb_errmsg());
    /* --tbptt: the streams in order, whole batches, the states carried from batch to batch */
    t->loader = nb_loader_new(
        t->train, &(nb_loader_opts){.batch_size = r->batch, .shuffle = !r->tbptt, .seed = r->seed, .prefetch = 1});
    if (!t->loader) return nb_cli_usage_error(t->cmd, "--batch %zu: %s", r->batch, nb_errmsg());
    if (r->tbptt && nb_model_carry_states(t->m, r->batch))
        return nb_cli_usage_error(t->cmd, "--tbptt: %s", nb_errmsg());
    t->bpe = nb_loader_batches_per_epoch(t->loader);
    t->per_batch = nb_run_sched_steps(r, t->bpe);
    if (nb_sched_init(&t->sched, &r->sched, r->opt.lr) || nb_sched_apply(&t->sched, t->opt))
        return nb_cli_usage_error(t->cmd, "--sched %s: %s", r->sched_name, nb_errmsg());
    t->prog = (nb_progress){0};
    t->prog.rng = t->rng;
    return 0;
}

/* --tbptt: the carried states, saved beside each checkpoint (atomically,
 * after it) with the checkpoint's step, so that a run stopped mid-epoch
 * resumes its streams where they were rather than from zeros. */
static int nb__states_save(nb__train *t)
{
    const size_t bytes = nb_model_states_bytes(t->m), es = nb_dtype_size(t->r.dtype);
    if (!t->r.tbptt || !bytes) return 0;
    void *buf = malloc(bytes);
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)t->prog.step);
    nb_st_tensor ts = {"states", t->r.dtype == NB_F64 ? NB_ST_F64 : NB_ST_F32, 1, {bytes / es}, buf};
    nb_st_meta meta = {"step", step};
    int rc = !buf || nb_model_states_get(t->m, buf, bytes) || nb_st_save(t->states_path, &ts, 1, &meta, 1);
    free(buf);
    return rc ? -1 : 0;
}

/* The states saved with the checkpoint being resumed: used when they are of
 * its step and of this model; otherwise the streams restart from zeros,
 * said on stderr.  1 when they were loaded. */
static int nb__states_load(nb__train *t)
{
    const size_t es = nb_dtype_size(t->r.dtype);
    const nb_st_dtype dt = t->r.dtype == NB_F64 ? NB_ST_F64 : NB_ST_F32;
    nb_st_file *f = nb_st_load(t->states_path);
    const nb_st_tensor *ts = f ? nb_st_find(f, "states") : NULL;
    const char *step = f ? nb_st_meta_get(f, "step") : NULL;
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)t->prog.step);
    const char *why = !f                                 ? nb_errmsg()
                      : !ts || !step                     ? "no states or step in it"
                      : strcmp(step, want)               ? "saved at another step than the checkpoint"
                      : ts->dtype != dt || ts->ndim != 1 ? "not a vector of the model's dtype"
                      : nb_model_states_set(t->m, ts->data, ts->shape[0] * es) ? nb_errmsg()
                                                                               : NULL;
    if (why) /* even with --quiet: the run is no longer the one it continues (a load error names the file) */
        fprintf(stderr, "nabla train: --resume --tbptt: %s%s%s; the streams restart from zero states\n",
                f ? t->states_path : "", f ? ": " : "", why);
    nb_st_free(f);
    return !why;
}

/* --resume: model, optimizer, schedule and progress from OUT's checkpoint
 * (with --ddp, rank 0 reads and nb_ddp_sync broadcasts); 0 or the exit status. */
static int nb__setup_resume(nb__train *t)
{
    if (!t->r.resume || t->ddp.rank) return 0;
    nb_checkpoint *ck = nb_checkpoint_open(t->ckpt);
    if (!ck) return nb_cli_usage_error(t->cmd, "--resume: %s", nb_errmsg());
    nb_checkpoint_allow_nonfinite(ck, t->r.allow_nonfinite);
    int rc = 0;
    if (nb_checkpoint_load_model(ck, t->m) || nb_checkpoint_load_state(ck, t->opt, &t->sched, &t->prog) ||
        nb_loader_set_state(t->loader, &t->prog.loader))
        rc = nb_cli_usage_error(t->cmd, "--resume: %s", nb_errmsg());
    else t->rng = t->prog.rng;
    if (!rc && t->r.tbptt && t->prog.loader.pos > 0) t->keep_states = nb__states_load(t);
    if (!rc && t->r.given.lr && nb_optim_lr(t->opt) != t->r.opt.lr) { /* the documented override */
        if (!t->r.quiet)
            fprintf(stderr, "nabla train: --resume: --lr %g replaces the run's %g\n", t->r.opt.lr, nb_optim_lr(t->opt));
        nb_sched_apply(&t->sched, t->opt);
    }
    nb_checkpoint_close(ck);
    return rc;
}

/* metrics.jsonl, the step context, the batch buffers and the monitor; 0 or
 * the exit status. */
static int nb__setup_outputs(nb__train *t)
{
    const nb_run_cfg *r = &t->r;
    if (r->resume && !t->ddp.rank &&
        nb_run_metrics_cut(t->metrics_path, (long long)t->prog.step, (long long)t->prog.epoch))
        return nb_cli_usage_error(t->cmd, "%s: %s", t->metrics_path, strerror(errno));
    t->o.metrics = nb_fopen_out(t->metrics_path, r->resume ? "a" : "w");
    if (!t->o.metrics) return nb_cli_usage_error(t->cmd, "%s: %s", t->metrics_path, strerror(errno));
    t->c = nb_ctx_new(NULL);
    t->xb = calloc(r->batch * t->train->d, nb_dtype_size(r->dtype));
    t->yb = calloc(r->batch * nb_dataset_labels_per_sample(t->train), sizeof *t->yb);
    if (!t->c || !t->xb || !t->yb) {
        fprintf(stderr, "nabla train: out of memory\n");
        return 1;
    }
    if (t->dg.policy) nb_set_detect_anomaly(t->c, t->dg.policy);
    if (t->dg.monitor && !(t->mon = nb_monitor_new(t->m, &(nb_monitor_opts){.every = t->dg.monitor,
                                                                            .vanishing = t->dg.vanish_below,
                                                                            .exploding = t->dg.explode_above,
                                                                            .on_record = nb__on_record,
                                                                            .user = &t->mout}))) {
        fprintf(stderr, "nabla train: monitor: %s\n", nb_errmsg());
        return 1;
    }
    t->nkv = nb_run_config_kv(r, t->kv, 31);
    snprintf(t->epochs_kv, sizeof t->epochs_kv, "%ld", r->epochs); /* what --resume takes without --epochs */
    t->kv[t->nkv++] = (nb_kv){"epochs", t->epochs_kv};
    t->ev = (nb_eval){.loss = NAN, .accuracy = NAN};
    return 0;
}

/* ----------------------------------------------------------------- events */
static void nb__write_start(FILE *f, const void *ev)
{
    const nb__train *t = ev;
    const nb_run_cfg *r = &t->r;
    fputs("{\"event\":\"start\",\"model\":", f);
    nb_json_write_string(f, r->model);
    fprintf(f, ",\"params\":%zu,\"opt\":", nb_model_n_params(t->m));
    nb_json_write_string(f, r->opt_name);
    nb_json_write_key_number(f, "lr", r->opt.lr);
    /* what the schedule gives the next step */
    nb_json_write_key_number(f, "lr_first", nb_optim_lr(t->opt));
    fprintf(f, ",\"batch\":%zu,\"epochs\":%ld", r->batch, r->epochs);
    fprintf(f, ",\"threads\":%d,\"isa\":\"%s\",\"resumed\":%s,\"step\":%lld", nb_get_threads(), nb_isa(),
            r->resume ? "true" : "false", (long long)t->prog.step);
    nb_json_write_key_number(f, "clip_norm", r->clip_norm);
    fprintf(f, ",\"monitor\":%ld,\"detect_anomaly\":", t->dg.monitor);
    nb_json_write_string(f, nb_anomaly_policy_name(t->dg.policy));
}

static void nb__write_summary(FILE *f, const void *ev) { nb_summary_json(f, ev); }

/* The model summary table and the start line (stderr), the start and
 * summary events; 0 or the exit status. */
static int nb__start_event(const nb__train *t)
{
    const nb_run_cfg *r = &t->r;
    if (!r->quiet && !r->json && nb_summary_print(stderr, t->m)) return 1;
    /* the table above already names every layer: the start line gives the data and the optimizer */
    if (!r->quiet && !r->json)
        fprintf(stderr, "data %s: %zu train, %zu test; %s lr %g, batch %zu, %ld epochs%s\n", t->train->name,
                t->train->n, t->test->n, r->opt_name, r->opt.lr, r->batch, r->epochs, r->resume ? " (resumed)" : "");
    nb__event(&t->o, nb__write_start, t);
    nb__event(&t->o, nb__write_summary, t->m);
    return 0;
}

typedef struct {
    const nb__train *t;
    long epoch;
    size_t b;
    double loss, grad_norm;
} nb__log_ev;

static void nb__write_log(FILE *f, const void *ev)
{
    const nb__log_ev *e = ev;
    fprintf(f, "{\"event\":\"log\",\"step\":%lld,\"epoch\":%ld,\"batch\":%zu,\"loss\":", (long long)e->t->prog.step,
            e->epoch + 1, e->b);
    nb_json_write_number(f, e->loss);
    nb_json_write_key_number(f, "grad_norm", e->grad_norm);
    nb_json_write_key_number(f, "lr", e->t->step_lr);
}

/* After every step: on a terminal, the bar (at most ten times a second, and
 * at the epoch's last batch); else a line every --log-every batches and at
 * the last. */
static void nb__progress(const nb__train *t, long epoch, nb__epoch *ep)
{
    const nb_run_cfg *r = &t->r;
    if (r->quiet || (!t->o.tty && (r->json || (ep->b % (size_t)r->log_every && ep->b != t->bpe)))) return;
    double now = nb_now();
    if (t->o.tty && ep->b != t->bpe && now - ep->drawn < 0.1) return;
    ep->drawn = now;
    double sps = ep->seconds > 0 ? (double)ep->loss_n / ep->seconds : 0;
    nb__bar(&t->o, epoch + 1, r->epochs, ep->b, t->bpe, ep->b0, ep->loss_sum / (double)ep->loss_n,
            (double)ep->correct / (double)(ep->loss_n * nb_dataset_labels_per_sample(t->train)), ep->seconds,
            ep->seconds0, sps);
}

/* --tensorboard: every --log-every batches, the batch's loss, the lr and the
 * global gradient norm (before clipping) at the step. */
static void nb__tb_log(const nb__train *t, double lv, double gnorm)
{
    nb_tb *tb = t->o.tb[0];
    if (!tb) return;
    nb_tb_scalar(tb, "batch_loss", t->prog.step, lv);
    nb_tb_scalar(tb, "learning_rate", t->prog.step, t->step_lr);
    nb_tb_scalar(tb, "grad_norm", t->prog.step, gnorm);
    nb_tb_flush(tb);
}

/* Every --log-every batches: a log event. */
static void nb__log_event(const nb__train *t, long epoch, const nb__epoch *ep, double lv, double gnorm)
{
    nb__event(&t->o, nb__write_log, &(nb__log_ev){t, epoch, ep->b, lv, gnorm});
    nb__tb_log(t, lv, gnorm);
}

typedef struct {
    const nb__train *t;
    long epoch;
    double train_loss, seconds, train_acc;
} nb__epoch_ev;

static void nb__write_epoch(FILE *f, const void *ev)
{
    const nb__epoch_ev *e = ev;
    const nb__train *t = e->t;
    fprintf(f, "{\"event\":\"epoch\",\"epoch\":%ld,\"step\":%lld,\"train_loss\":", e->epoch + 1,
            (long long)t->prog.step);
    nb_json_write_number(f, e->train_loss);
    nb_json_write_key_number(f, "test_loss", t->ev.loss);
    nb_json_write_key_number(f, "test_acc", t->ev.accuracy);
    nb_json_write_key_number(f, "lr", nb_optim_lr(t->opt));
    nb_json_write_key_number(f, "seconds", e->seconds);
    nb_json_write_key_number(f, "train_acc", e->train_acc);
    if (t->r.text) { /* loss per character in nats: bits per character = loss / ln 2 */
        nb_json_write_key_number(f, "train_bpc", e->train_loss / log(2.0));
        nb_json_write_key_number(f, "val_bpc", t->ev.loss / log(2.0));
    }
    if (t->val.frac) {
        nb_json_write_key_number(f, "val_loss", t->val.ev.loss);
        nb_json_write_key_number(f, "val_acc", t->val.ev.accuracy);
        fprintf(f, ",\"best\":%s", t->val.improved ? "true" : "false");
    }
}

/* --tensorboard: the epoch's train, validation or test loss and accuracy. */
static void nb__tb_epoch(const nb__train *t, double train_loss, double train_acc)
{
    int64_t step = t->prog.step;
    if (t->o.tb[0]) {
        nb_tb_scalar(t->o.tb[0], "epoch_loss", step, train_loss);
        nb_tb_scalar(t->o.tb[0], "epoch_accuracy", step, train_acc);
        nb_tb_scalar(t->o.tb[0], "epoch_learning_rate", step, nb_optim_lr(t->opt));
        nb_tb_flush(t->o.tb[0]);
    }
    nb_tb *tb = t->o.tb[t->val.frac ? 1 : 2];
    const nb_eval *ev = t->val.frac ? &t->val.ev : &t->ev;
    if (tb) {
        nb_tb_scalar(tb, "epoch_loss", step, ev->loss);
        nb_tb_scalar(tb, "epoch_accuracy", step, ev->accuracy);
        nb_tb_flush(tb);
    }
}

/* The epoch's line on stdout (a result), the epoch event and TensorBoard. */
static void nb__epoch_event(const nb__train *t, long epoch, const nb__epoch *ep)
{
    const nb_run_cfg *r = &t->r;
    double tl = ep->loss_n ? ep->loss_sum / (double)ep->loss_n : NAN;
    double ta = ep->loss_n ? (double)ep->correct / (double)(ep->loss_n * nb_dataset_labels_per_sample(t->train)) : NAN;
    if (t->o.tty && !r->quiet) fputc('\n', stderr);
    if (!r->json) {
        const nb_eval *ev = t->val.frac ? &t->val.ev : &t->ev;
        char bpc[48] = ""; /* --text: the held-out text's bits per character */
        if (r->text) snprintf(bpc, sizeof bpc, "  val bpc %.4f", t->ev.loss / log(2.0));
        printf(
            "epoch %ld/%ld  train loss %.4f  train acc %.4f  %s loss %.4f  %s acc %.4f%s  (%.1fs, %.0f samples/s)%s\n",
            epoch + 1, r->epochs, tl, ta, t->val.frac ? "val" : "test", ev->loss, t->val.frac ? "val" : "test",
            ev->accuracy, bpc, ep->seconds, ep->seconds > 0 ? (double)ep->loss_n / ep->seconds : 0,
            t->val.frac && t->val.improved ? "  *best" : "");
        fflush(stdout);
    }
    nb__event(&t->o, nb__write_epoch, &(nb__epoch_ev){t, epoch, tl, ep->seconds, ta});
    nb__tb_epoch(t, tl, ta);
}

typedef struct {
    const nb__train *t;
    int interrupted;
    double samples_per_s;
    const char *stopped;
} nb__done_ev;

static void nb__write_done(FILE *f, const void *ev)
{
    const nb__done_ev *e = ev;
    const nb__train *t = e->t;
    fputs("{\"event\":\"done\",\"test_acc\":", f);
    nb_json_write_number(f, t->ev.accuracy);
    nb_json_write_key_number(f, "test_loss", t->ev.loss);
    if (t->r.text) {
        nb_json_write_key_number(f, "val_bpc", t->ev.loss / log(2.0));
    }
    nb_json_write_key_number(f, "train_samples_per_s", e->samples_per_s);
    fprintf(f, ",\"steps\":%lld,\"epochs\":%lld,\"threads\":%d", (long long)t->prog.step, (long long)t->prog.epoch,
            nb_get_threads());
    nb_json_write_key_number(f, "train_seconds", t->train_time);
    fputs(",\"checkpoint\":", f);
    nb_json_write_string(f, t->ckpt);
    fputs(",\"interrupted\":", f);
    fputs(e->interrupted ? "true" : "false", f);
    fputs(",\"stopped\":", f);
    nb_json_write_string(f, e->stopped);
    if (t->val.frac) {
        nb_json_write_key_number(f, "val_loss", t->val.ev.loss);
        nb_json_write_key_number(f, "val_acc", t->val.ev.accuracy);
        nb_json_write_key_number(f, "best_val_loss", t->val.best_loss);
        fprintf(f, ",\"best_epoch\":%ld,\"best_checkpoint\":", t->val.best_epoch);
        char best[1100];
        snprintf(best, sizeof best, "%s/best.safetensors", t->r.out);
        if (t->val.best_epoch) nb_json_write_string(f, best);
        else fputs("null", f);
    }
}

/* How the run stopped, in the done event's words. */
static const char *nb__stop_name(nb_train_stop stop)
{
    switch (stop) {
    case NB_TRAIN_FINISHED: return "finished";
    case NB_TRAIN_MAX_STEPS: return "max_steps";
    case NB_TRAIN_INTERRUPTED: return "interrupted";
    case NB_TRAIN_EARLY_STOP: return "early_stop";
    case NB_TRAIN_NONFINITE: return "nonfinite";
    case NB_TRAIN_ERROR: return "error";
    case NB_TRAIN_RUNNING: break;
    }
    return "running";
}

/* --tensorboard: the test set's loss and accuracy at the end, unless the
 * last epoch's evaluation already wrote them. */
static void nb__tb_done(const nb__train *t, nb_train_stop stop)
{
    nb_tb *tb = t->o.tb[2];
    if (!tb || (stop == NB_TRAIN_FINISHED && !t->val.frac)) return;
    nb_tb_scalar(tb, "epoch_loss", t->prog.step, t->ev.loss);
    nb_tb_scalar(tb, "epoch_accuracy", t->prog.step, t->ev.accuracy);
    nb_tb_flush(tb);
}

static void nb__done_event(const nb__train *t, nb_train_stop stop)
{
    const nb_run_cfg *r = &t->r;
    double sps = t->train_time > 0 ? (double)t->samples / t->train_time : 0;
    nb__event(&t->o, nb__write_done, &(nb__done_ev){t, stop == NB_TRAIN_INTERRUPTED, sps, nb__stop_name(stop)});
    nb__tb_done(t, stop);
    if (r->json) return;
    if (stop == NB_TRAIN_EARLY_STOP)
        printf("stopped early: no lower validation loss for %ld epochs (--early-stop %ld)\n", t->val.bad_epochs,
               t->val.patience);
    if (t->val.best_epoch)
        printf("best: epoch %ld, val loss %.4f; %s/best.safetensors\n", t->val.best_epoch, t->val.best_loss, r->out);
    if (r->text)
        printf("done: held-out text %.4f bits per character (accuracy %.4f), %.0f train samples/s (%d thread%s); "
               "checkpoint %s\n",
               t->ev.loss / log(2.0), t->ev.accuracy, sps, nb_get_threads(), nb_get_threads() == 1 ? "" : "s", t->ckpt);
    else
        printf("done: test acc %.4f, test loss %.4f, %.0f train samples/s (%d thread%s); checkpoint %s\n",
               t->ev.accuracy, t->ev.loss, sps, nb_get_threads(), nb_get_threads() == 1 ? "" : "s", t->ckpt);
    fflush(stdout);
}

/* ------------------------------------------------------------- non-finite */
/* "loss became NaN at step 12 (epoch 1, batch 12); ...": what happened and
 * what to try, from the gradient norms of the steps before. */
static void nb__nonfinite_diagnosis(const nb__train *t, long epoch, size_t b, double lv, char *diag, size_t size)
{
    long long step = (long long)t->prog.step;
    double oldest = t->norm_hist[(step + 1) % 20], last = t->norm_hist[step % 20];
    double grow = oldest > 0 ? last / oldest : NAN, lr_now = nb_optim_lr(t->opt);
    int at = snprintf(diag, size, "loss became %s at step %lld (epoch %ld, batch %zu)",
                      isnan(lv) ? "NaN" : (isfinite(lv) ? "finite but the gradient is not" : "Inf"), step + 1,
                      epoch + 1, b + 1);
    if (step > 0 && at > 0 && (size_t)at < size)
        at += snprintf(diag + at, size - (size_t)at, "; the gradient norm was %.3g the step before", last);
    if (isfinite(grow) && step >= 20 && grow > 1 && at > 0 && (size_t)at < size)
        at += snprintf(diag + at, size - (size_t)at, " (grew x%.3g over the 20 steps before)", grow);
    if (at > 0 && (size_t)at < size) {
        if (t->r.clip_norm > 0)
            snprintf(diag + at, size - (size_t)at,
                     "; clipping at %g is on, so learning rate %g is "
                     "likely too high: try --lr %g",
                     t->r.clip_norm, lr_now, lr_now / 10);
        else
            snprintf(diag + at, size - (size_t)at,
                     "; learning rate %g is likely too high: try "
                     "--clip-norm 1.0 or a lower --lr (e.g. %g)",
                     lr_now, lr_now / 10);
    }
}

typedef struct {
    const nb__train *t;
    double loss;
    const double *grad_norm; /* NULL: not in the event */
    const char *message;
} nb__nonfinite_ev;

static void nb__write_nonfinite(FILE *f, const void *ev)
{
    const nb__nonfinite_ev *e = ev;
    fprintf(f, "{\"event\":\"nonfinite\",\"step\":%lld,\"loss\":", (long long)e->t->prog.step + 1);
    nb_json_write_number(f, e->loss);
    nb_json_write_key_number(f, "lr", nb_optim_lr(e->t->opt));
    if (e->grad_norm) {
        nb_json_write_key_number(f, "grad_norm", *e->grad_norm);
    }
    fputs(",\"message\":", f);
    nb_json_write_string(f, e->message);
}

/* The "nonfinite" event that ends a run. */
static void nb__nonfinite_event(const nb__train *t, double lv, const double *gnorm, const char *message)
{
    nb__event(&t->o, nb__write_nonfinite, &(nb__nonfinite_ev){t, lv, gnorm, message});
}

/* A NaN or Inf in step prog.step + 1, in one of three ways: --detect-anomaly
 * stopped the step at the first one (failed); --anomaly-policy skip dropped
 * the step (an anomaly is recorded); or the step's loss or gradient was not
 * finite.  No update was made in any of them.  Returns NB_TRAIN_RUNNING when
 * the step is skipped and the run goes on, else NB_TRAIN_NONFINITE (the last
 * good checkpoint is kept). */
static nb_train_stop nb__nonfinite(nb__train *t, long epoch, nb__epoch *ep, int failed, double lv, double gnorm)
{
    const nb_anomaly *an = nb_anomaly_get(t->c);
    nb_anomaly_policy pol = t->dg.policy;
    long long step = (long long)t->prog.step + 1;
    const char *clr = t->o.tty ? "\r\033[K" : "";
    char msg[600];
    if (failed) {
        nb__anomaly_event(&t->o, step, pol, an);
        fprintf(stderr, "  no update was made; the last good checkpoint (if any) is kept: %s\n", t->ckpt);
        nb__nonfinite_event(t, NAN, NULL, "--detect-anomaly stopped the run at the first non-finite value");
        return NB_TRAIN_NONFINITE;
    }
    if (an && pol == NB_ANOMALY_SKIP_STEP) {
        t->skipped++;
        t->skip_run++;
        ep->b++;
        nb__anomaly_event(&t->o, step, pol, an);
        if (t->skipped <= 3)
            fprintf(stderr, "%snabla train: step %lld skipped: %s\n", clr, step,
                    nb_anomaly_describe(an, msg, sizeof msg));
        if (t->skip_run < 50) return NB_TRAIN_RUNNING;
        fprintf(stderr,
                "nabla train: %d steps in a row skipped for non-finite values: stopping. The model "
                "itself is likely broken; try a lower --lr or --clip-norm 1.0.\n",
                t->skip_run);
        nb__nonfinite_event(t, lv, NULL, "50 steps in a row skipped for non-finite values (--anomaly-policy skip)");
        return NB_TRAIN_NONFINITE;
    }
    char diag[480];
    nb__nonfinite_diagnosis(t, epoch, ep->b, lv, diag, sizeof diag);
    fprintf(stderr, "\nnabla train: %s.\n", diag);
    if (an) fprintf(stderr, "  first non-finite value: %s\n", nb_anomaly_describe(an, msg, sizeof msg));
    else if (!pol) fprintf(stderr, "  rerun with --detect-anomaly to find the op that made the first NaN/Inf.\n");
    fprintf(stderr, "  the last good checkpoint (if any) is kept: %s\n", t->ckpt);
    if (an && pol != NB_ANOMALY_CONTINUE) nb__anomaly_event(&t->o, step, pol, an);
    nb__nonfinite_event(t, lv, &gnorm, diag);
    return NB_TRAIN_NONFINITE;
}

/* --anomaly-policy continue: tell about the first anomaly, once. */
static void nb__anomaly_continuing(nb__train *t)
{
    const nb_anomaly *an = nb_anomaly_get(t->c);
    if (!an || t->anomaly_told || t->dg.policy != NB_ANOMALY_CONTINUE) return;
    t->anomaly_told = 1;
    char msg[600];
    fprintf(stderr, "%snabla train: step %lld: %s (continuing; --anomaly-policy continue)\n",
            t->o.tty ? "\r\033[K" : "", (long long)t->prog.step + 1, nb_anomaly_describe(an, msg, sizeof msg));
    nb__anomaly_event(&t->o, t->prog.step + 1, t->dg.policy, an);
}

/* ------------------------------------------------------------ the loop */
/* One optimizer step on the batch in xb/yb. */
static nb_train_stop nb__step(nb__train *t, long epoch, nb__epoch *ep, size_t n)
{
    const nb_run_cfg *r = &t->r;
    double t0 = nb_now();
    nb_step_result sr;
    nb_step_opts so = {.clip_norm = r->clip_norm,
                       .clip_value = r->clip_value,
                       .rng = &t->rng,
                       .hooks = t->mon ? nb_monitor_hooks(t->mon) : NULL};
    if (t->mon) nb_monitor_set_step(t->mon, t->prog.step + 1);
    const void *xs = t->xb;
    const int32_t *ys = t->yb;
    size_t ns = n;
    if (t->ddp.on) so.hooks = nb_ddp_slice(&t->ddp, so.hooks, nb__interrupted, r->dtype, t->train->d, &xs, &ys, &ns);
    if (nb_train_step(t->m, t->opt, t->c, xs, ys, ns, &so, &sr)) {
        fprintf(stderr, "\nnabla train: step %lld: %s\n", (long long)t->prog.step + 1, nb_errmsg());
        /* an anomaly: --detect-anomaly stopped the step at the first non-finite value */
        return nb_anomaly_get(t->c) ? nb__nonfinite(t, epoch, ep, 1, NAN, NAN) : NB_TRAIN_ERROR;
    }
    double lv = sr.loss, gnorm = sr.grad_norm;
    int intr = nb__interrupted;
    if (t->ddp.on) { /* the global batch's loss; every rank stops when any was interrupted before the step */
        lv = nb_dist_last_loss(t->ddp.d);
        intr = nb_dist_last_flag(t->ddp.d);
    }
    nb__anomaly_continuing(t);
    if (sr.nonfinite) return nb__nonfinite(t, epoch, ep, 0, lv, gnorm);
    t->skip_run = 0;
    t->step_lr = nb_optim_lr(t->opt);
    if (t->per_batch) {
        nb_sched_step(&t->sched);
        nb_sched_apply(&t->sched, t->opt);
    }
    double dt = nb_now() - t0;
    t->train_time += dt;
    ep->seconds += dt;
    t->samples += (long long)n;
    t->prog.step++;
    ep->b++;
    t->norm_hist[t->prog.step % 20] = gnorm;
    ep->loss_sum += lv * (double)n;
    ep->loss_n += n;
    ep->correct += sr.correct; /* labels: per character with --text; under --ddp this rank's slice, scaled */
    if (ns != n && ns) ep->correct += sr.correct * (n - ns) / ns;
    nb__progress(t, epoch, ep);
    if (ep->b % (size_t)r->log_every == 0) nb__log_event(t, epoch, ep, lv, gnorm);
    if (intr) return NB_TRAIN_INTERRUPTED;
    if (r->max_steps && t->prog.step >= r->max_steps) return NB_TRAIN_MAX_STEPS;
    return NB_TRAIN_RUNNING;
}

/* The batches of one epoch (from where the loader stands). */
static nb_train_stop nb__run_epoch(nb__train *t, long epoch, nb__epoch *ep)
{
    const nb_progress *p = &t->prog; /* mid-epoch after a resume: the sums so far */
    *ep = (nb__epoch){.b = p->loader.pos / t->r.batch,
                      .b0 = p->loader.pos / t->r.batch,
                      .loss_sum = p->epoch_loss_sum,
                      .loss_n = (size_t)p->epoch_samples,
                      .correct = (size_t)p->epoch_correct,
                      .seconds = p->epoch_seconds,
                      .seconds0 = p->epoch_seconds};
    nb_batch batch = {.x = t->xb, .dtype = t->r.dtype, .y = t->yb};
    nb_train_stop stop = NB_TRAIN_RUNNING;
    int more = 1;
    /* --tbptt: every epoch reads the streams from zero states; one resumed
     * mid-epoch goes on from the states saved with its checkpoint */
    if (!t->keep_states) nb_model_reset_states(t->m);
    t->keep_states = 0;
    while (stop == NB_TRAIN_RUNNING && (more = nb_loader_next(t->loader, &batch)) == 1)
        stop = nb__step(t, epoch, ep, batch.n);
    if (more < 0) {
        fprintf(stderr, "nabla train: loader: %s\n", nb_errmsg());
        stop = NB_TRAIN_ERROR;
    }
    return stop;
}

/* --val: the best checkpoint by validation loss, written like the checkpoint
 * (atomically), and the selection state in the checkpoint's metadata. */
static int nb__select(nb__train *t, long epoch)
{
    nb_train_val *v = &t->val;
    nb_train_val_update(v, epoch);
    t->nkv = t->nkv_run + nb_train_val_kv(v, t->kv + t->nkv_run, sizeof t->kv / sizeof t->kv[0] - t->nkv_run);
    if (!v->improved) return 0;
    char best[1100];
    snprintf(best, sizeof best, "%s/best.safetensors", t->r.out);
    if (nb_checkpoint_save(best, t->m, t->opt, &t->sched, &t->prog, t->kv, t->nkv)) {
        fprintf(stderr, "nabla train: best checkpoint not saved: %s\n", nb_errmsg());
        return -1;
    }
    return 0;
}

/* nb_evaluate; with --tbptt the held-out streams in order, batch by batch
 * (the states carried), from zero states and leaving them zero. */
static int nb__evaluate(nb__train *t, const nb_dataset *ds, nb_eval *ev)
{
    nb_model_reset_states(t->m);
    int rc = nb_evaluate(t->m, t->c, ds, t->r.tbptt ? t->r.batch : t->eval_batch, ev, NULL);
    nb_model_reset_states(t->m);
    return rc;
}

/* The epoch's evaluation: the validation set with --val (and the best
 * checkpoint), else the test set; 0 or -1 (printed). */
static int nb__epoch_eval(nb__train *t, long epoch)
{
    nb_train_val *v = &t->val;
    if (nb__evaluate(t, v->frac ? v->set : t->test, v->frac ? &v->ev : &t->ev)) {
        fprintf(stderr, "nabla train: evaluation: %s\n", nb_errmsg());
        return -1;
    }
    return v->frac ? nb__select(t, epoch) : 0;
}

/* After an epoch, or a stop (Ctrl-C, --max-steps) within one: schedule,
 * evaluation and the epoch line (whole epochs), then the checkpoint. */
static nb_train_stop nb__end_epoch(nb__train *t, long epoch, const nb__epoch *ep, nb_train_stop stop)
{
    int epoch_done = stop == NB_TRAIN_RUNNING;
    if (epoch_done && !t->per_batch) {
        nb_sched_step(&t->sched);
        nb_sched_apply(&t->sched, t->opt);
    }
    nb_loader_get_state(t->loader, &t->prog.loader);
    t->prog.epoch = epoch + (epoch_done ? 1 : 0);
    t->prog.rng = t->rng;
    /* stopped mid-epoch: its sums so far, for the resumed run's epoch line */
    t->prog.epoch_loss_sum = epoch_done ? 0 : ep->loss_sum;
    t->prog.epoch_seconds = epoch_done ? 0 : ep->seconds;
    t->prog.epoch_samples = epoch_done ? 0 : ep->loss_n;
    t->prog.epoch_correct = epoch_done ? 0 : ep->correct;
    if (nb_ddp_before_save(&t->ddp, t->m)) return NB_TRAIN_ERROR; /* --ddp: average BatchNorm's running statistics */
    if (epoch_done && !t->ddp.rank) {
        if (nb__epoch_eval(t, epoch)) return NB_TRAIN_ERROR;
        nb__epoch_event(t, epoch, ep);
    }
    if (!t->ddp.rank && nb_checkpoint_save(t->ckpt, t->m, t->opt, &t->sched, &t->prog, t->kv, t->nkv)) {
        fprintf(stderr, "nabla train: checkpoint not saved: %s\n", nb_errmsg());
        return NB_TRAIN_ERROR;
    }
    if (!t->ddp.rank && nb__states_save(t)) {
        fprintf(stderr, "nabla train: --tbptt states not saved: %s\n", nb_errmsg());
        return NB_TRAIN_ERROR;
    }
    if (stop == NB_TRAIN_INTERRUPTED && !t->r.quiet)
        fprintf(stderr, "\nnabla train: interrupted; checkpoint saved to %s\n", t->ckpt);
    return stop;
}

/* The epochs, with Ctrl-C caught (it stops the run after the step). */
static nb_train_stop nb__train_loop(nb__train *t)
{
    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = nb__on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    struct sigaction old_term; /* SIGTERM (kill, a batch system's stop) saves the same way */
    sigaction(SIGTERM, &sa, &old_term);
    /* a resumed run whose patience had run out stops where it stopped */
    nb_train_stop stop = nb_train_val_exhausted(&t->val) ? NB_TRAIN_EARLY_STOP : NB_TRAIN_RUNNING;
    nb__epoch ep;
    for (long epoch = (long)t->prog.epoch; epoch < t->r.epochs && stop == NB_TRAIN_RUNNING; epoch++) {
        stop = nb__run_epoch(t, epoch, &ep);
        if (stop == NB_TRAIN_ERROR || stop == NB_TRAIN_NONFINITE) break;
        stop = nb__end_epoch(t, epoch, &ep, stop);
        if (stop == NB_TRAIN_RUNNING && nb_train_val_exhausted(&t->val)) stop = NB_TRAIN_EARLY_STOP;
    }
    sigaction(SIGINT, &old_sa, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return stop == NB_TRAIN_RUNNING ? NB_TRAIN_FINISHED : stop;
}

/* ---------------------------------------------------------------- the end */
/* The test set at the end: after a stop mid-epoch, and with --val (whose
 * epochs never look at it); 0 or -1 (printed). */
static int nb__final_test(nb__train *t, nb_train_stop stop)
{
    if (t->ddp.rank || (stop == NB_TRAIN_FINISHED && !t->val.frac)) return 0;
    if (nb__evaluate(t, t->test, &t->ev)) {
        fprintf(stderr, "nabla train: evaluation: %s\n", nb_errmsg());
        return -1;
    }
    return 0;
}
/* Closing messages and the done event; the exit status. */
static int nb__train_end(nb__train *t, nb_train_stop stop)
{
    const nb_run_cfg *r = &t->r;
    if (t->mon) nb_monitor_flush(t->mon);
    if (t->skipped && !r->quiet)
        fprintf(stderr, "nabla train: %lld steps skipped for non-finite values (--anomaly-policy skip)\n", t->skipped);
    if (t->mout.repeats && !r->quiet)
        fprintf(stderr, "nabla train: %ld more warnings of the kinds above (all in %s)\n", t->mout.repeats,
                t->metrics_path);
    switch (stop) {
    case NB_TRAIN_ERROR:
    case NB_TRAIN_NONFINITE:
    case NB_TRAIN_RUNNING: return 1;
    case NB_TRAIN_MAX_STEPS:
    case NB_TRAIN_INTERRUPTED: /* stopped mid-epoch: report the model as it stands */
    case NB_TRAIN_EARLY_STOP:
    case NB_TRAIN_FINISHED:
        if (nb__final_test(t, stop)) return 1;
        break;
    }
    nb__done_event(t, stop);
    return stop == NB_TRAIN_INTERRUPTED ? 130 : 0;
}

/* --tensorboard: close the files (a write error is told, not fatal). */
static void nb__tb_close(nb__train *t)
{
    for (int k = 0; k < 3; k++) {
        if (t->o.tb[k] && nb_tb_close(t->o.tb[k]))
            fprintf(stderr, "nabla train: --tensorboard: writing the event file failed\n");
        t->o.tb[k] = NULL;
    }
}

static void nb__train_free(nb__train *t)
{
    if (t->o.metrics) {
        fclose(t->o.metrics);
        if (t->dg.report && nb_report_html(t->cmd, t->r.out, NULL) == 0 && !t->r.quiet)
            fprintf(stderr, "report: %s/report.html\n", t->r.out);
    }
    nb_monitor_free(t->mon);
    nb__tb_close(t);
    nb_train_val_free(&t->val);
    free(t->xb);
    free(t->yb);
    nb_ctx_free(t->c);
    nb_loader_free(t->loader);
    nb_optim_free(t->opt);
    nb_model_free(t->m);
    nb_dataset_free(t->train);
    nb_dataset_free(t->test);
}

/* --resume with --val: the best loss and epoch and the patience so far. */
static int nb__setup_val_resume(nb__train *t)
{
    if (!t->r.resume || t->ddp.rank) return 0;
    nb_checkpoint *ck = nb_checkpoint_open(t->ckpt);
    if (!ck) return nb_cli_usage_error(t->cmd, "--resume: %s", nb_errmsg());
    int rc = nb_train_val_resume(t->cmd, &t->val, ck);
    nb_checkpoint_close(ck);
    return rc;
}

/* --tensorboard DIR: DIR/train, DIR/val (with --val) and DIR/test, each with
 * a new event file; a resumed run marks its restart so that TensorBoard
 * drops the steps after the checkpoint that the first run wrote. */
static int nb__setup_tensorboard(nb__train *t)
{
    static const char *const sub[3] = {"train", "val", "test"};
    if (!t->val.tb_dir || t->ddp.rank) return 0;
    for (int k = 0; k < 3; k++) {
        if (k == 1 && !t->val.frac) continue;
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/%s", t->val.tb_dir, sub[k]);
        if (nb_out_dir(dir) || !(t->o.tb[k] = nb_tb_open(dir)))
            return nb_cli_usage_error(t->cmd, "--tensorboard %s: cannot write there (%s)", t->val.tb_dir,
                                      strerror(errno));
        if (t->r.resume && nb_tb_restart(t->o.tb[k], t->prog.step + 1)) return 1;
    }
    return 0;
}

/* Everything between the flags and the first step; 0 or the exit status. */
static int nb__train_setup(nb__train *t)
{
    int rc;
    if (!t->ddp.rank && (rc = nb_run_folder_lock(t->cmd, t->r.out))) return rc;
    if ((rc = nb__setup_data(t)) || (rc = nb_train_val_split(t->cmd, &t->val, &t->train, t->r.seed)) ||
        (rc = nb__setup_val_resume(t)) || (rc = nb__setup_model(t)) || (rc = nb__setup_resume(t)))
        return rc;
    if (nb_ddp_sync(&t->ddp, t->m, t->opt, &t->sched, &t->prog, t->loader, &t->rng)) return 1;
    if ((rc = nb__setup_outputs(t))) return rc;
    t->nkv_run = t->nkv;
    t->nkv += nb_train_val_kv(&t->val, t->kv + t->nkv, sizeof t->kv / sizeof t->kv[0] - t->nkv);
    return nb__setup_tensorboard(t);
}

/* nabla train: setup, the epochs, the end. */
static int nb__train_main(int argc, char **argv)
{
    nb__train t = {.cmd = "train"};
    int rc = nb__train_flags(&t, argc, argv);
    if (rc < 0) rc = nb__train_open(&t);
    if (rc >= 0) return rc; /* nothing to free yet */
    if (!(rc = nb__train_setup(&t)) && !(rc = nb__start_event(&t))) rc = nb__train_end(&t, nb__train_loop(&t));
    nb__train_free(&t);
    return nb_ddp_end(&t.ddp, rc);
}

const nb_cli_cmd nb_cmd_train = {"train", "train a model on Fashion-MNIST (checkpoints, metrics, --json)",
                                 nb__train_usage_full, nb__train_main};
