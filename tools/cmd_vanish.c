/* nabla vanish: the vanishing/exploding-gradient lab.  Deep MLPs on
 * Fashion-MNIST, per-layer gradient norms at initialisation and after a short
 * training, test accuracy; a table, JSON lines and SVG charts.  The
 * measurements are the library's (nabla/vanish.h); this file chooses the
 * configurations, runs them (two at a time, in child processes) and prints. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "flags.h"
#include "nabla/plot.h"
#include "nabla/vanish.h"
#include "run.h"
#include "run_folder.h"
#include "vanish_time.h"
#include "worker.h"

/* "plain" init: small Gaussian weights, the textbook N(0, 0.01^2). */
#define NB__PLAIN_STD 0.01
/* "large" init for ReLU: N(0, 0.2^2) is 4x He's std on the 784-input first
 * layer and 1.13x on the 64-wide hidden ones; over 20 layers the logits come
 * out ~40x too large (initial loss ~100) and SGD at lr 0.01 diverges. */
#define NB__LARGE_STD 0.2
#define NB__PRESET_CLIP 1.0

typedef struct {
    nb_act act;
    nb_init init;
    double std;
    int bn, res;
    double clip;
} nb__preset;

/* The default run: each line demonstrates one claim of the guide. */
static const nb__preset nb__presets[] = {
    {NB_ACT_SIGMOID, NB_INIT_NORMAL, NB__PLAIN_STD, 0, 0, 0},            /* vanishes */
    {NB_ACT_SIGMOID, NB_INIT_XAVIER_NORMAL, 0, 0, 0, 0},                 /* still vanishes: sigmoid' <= 1/4 */
    {NB_ACT_TANH, NB_INIT_XAVIER_NORMAL, 0, 0, 0, 0},                    /* xavier suits tanh */
    {NB_ACT_RELU, NB_INIT_HE_NORMAL, 0, 0, 0, 0},                        /* cure: relu + he */
    {NB_ACT_SIGMOID, NB_INIT_NORMAL, NB__PLAIN_STD, 1, 0, 0},            /* cure: batchnorm */
    {NB_ACT_SIGMOID, NB_INIT_NORMAL, NB__PLAIN_STD, 0, 1, 0},            /* cure: residual */
    {NB_ACT_RELU, NB_INIT_NORMAL, NB__LARGE_STD, 0, 0, 0},               /* explodes */
    {NB_ACT_RELU, NB_INIT_NORMAL, NB__LARGE_STD, 0, 0, NB__PRESET_CLIP}, /* tamed by clipping */
};
#define NB__NPRESETS (int)(sizeof nb__presets / sizeof nb__presets[0])

/* With --conv: a plain CNN, with batchnorm2d, residual; sigmoid and relu. */
static const nb__preset nb__cnn_presets[] = {
    {NB_ACT_SIGMOID, NB_INIT_NORMAL, NB__PLAIN_STD, 0, 0, 0}, /* vanishes */
    {NB_ACT_SIGMOID, NB_INIT_NORMAL, NB__PLAIN_STD, 1, 0, 0}, /* cure: batchnorm2d */
    {NB_ACT_SIGMOID, NB_INIT_NORMAL, NB__PLAIN_STD, 0, 1, 0}, /* cure: residual */
    {NB_ACT_RELU, NB_INIT_TORCH, 0, 0, 0, 0},                 /* PyTorch's default init shrinks it */
    {NB_ACT_RELU, NB_INIT_HE_NORMAL, 0, 0, 0, 0},             /* He init keeps it */
    {NB_ACT_RELU, NB_INIT_TORCH, 0, 1, 0, 0},                 /* so does batchnorm2d */
    {NB_ACT_RELU, NB_INIT_TORCH, 0, 0, 1, 0},                 /* and residual blocks */
};
#define NB__NCNN_PRESETS (int)(sizeof nb__cnn_presets / sizeof nb__cnn_presets[0])

static const char nb__vanish_usage[] =
    "usage: nabla vanish [OPTIONS]\n"
    "\n"
    "The vanishing/exploding-gradient lab.  Builds deep MLPs for Fashion-MNIST\n"
    "(--depth Linear layers, hidden --width), measures the gradient norm\n"
    "||dL/dW|| of every Linear weight at initialisation (mean over 4 fixed\n"
    "training batches of 64), trains --steps SGD steps (lr 0.01, momentum 0.9)\n"
    "on seeded shuffled batches of the training set, measures again on the same\n"
    "batches, and evaluates on the whole test set (10000 images; see --eval).\n"
    "\n"
    "Without configuration flags it runs eight presets:\n"
    "  sigmoid normal(0.01)       plain small init: the gradient vanishes\n"
    "  sigmoid xavier             xavier alone does not save sigmoid (slope <= 1/4)\n"
    "  tanh xavier                ... but suits tanh\n"
    "  relu he                    cure 1: relu with He init\n"
    "  sigmoid normal(0.01) bn    cure 2: BatchNorm (same init as the first line)\n"
    "  sigmoid normal(0.01) res   cure 3: residual connections (same init)\n"
    "  relu normal(0.2)           too-large init: the loss explodes to NaN\n"
    "  relu normal(0.2) clip 1    the same, tamed by --clip-norm 1\n"
    "The default run costs about 10 CPU-seconds with the AVX2 gemm and 60 with\n"
    "the plain C one, run two configurations at a time (see --jobs).\n"
    "\n"
    "The table gives the first and the last Linear layer's gradient norm at\n"
    "init, their ratio at init and after training, the largest global gradient\n"
    "norm seen in training, the training loss (first step -> mean of the last\n"
    "20; '!' when it went non-finite), the test accuracy and a verdict:\n"
    "EXPLODES when a loss or gradient became NaN/Inf, VANISHES when the first\n"
    "layer's gradient is below 1e-4 of the last one's, 'exploding gradients'\n"
    "above 1e4, 'finite: clipped' when clipping was active, else 'ok'.\n"
    "OUT gets grad_norms.svg (layer on x, log gradient norm at init on y, one\n"
    "line per configuration), grad_norms_trained.svg (after training) and\n"
    "results.jsonl (what --json prints: one object per configuration).\n"
    "With --conv C the models are CNNs of the same depth: avgpool2d(4) (28x28\n"
    "becomes 7x7), depth-1 conv2d(C,k=3,p=1) layers with the activation after\n"
    "each (batchnorm2d before it, residual blocks around each C-to-C conv),\n"
    "gap, linear(10); the norms are the conv kernels' and the last Linear's.\n"
    "Its presets: sigmoid normal(0.01) plain, bn and res; relu with PyTorch's\n"
    "default init (torch) plain, bn and res; relu he.\n"
    "With --time it asks the same question through time, of an RNN, an LSTM\n"
    "and a GRU (below).\n"
    "\n";

static int nb__run_vanish(int argc, char **argv);
static char nb__vanish_usage_full[16384];
const nb_cli_cmd nb_cmd_vanish = {"vanish",
                                  "vanishing/exploding gradients: per-layer norms of deep MLPs, and the cures",
                                  nb__vanish_usage_full, nb__run_vanish};

/* ------------------------------------------------------------------ flags */
typedef struct {
    nb_vanish_config base; /* every run */
    nb__preset one;        /* the one configuration, when single */
    int single, json, quiet, init_given, std_given;
    long eval_n, jobs;
    const char *data, *out;
} nb__vanish_args;

static int nb__act_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vanish_args *va = base;
    int k = nb_act_parse(v);
    if (k <= NB_ACT_NONE) return nb_cli_usage_error(cmd, "%s: unknown activation '%s'", flag, v);
    va->one.act = (nb_act)k;
    va->single = 1;
    return 0;
}

static int nb__init_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vanish_args *va = base;
    int k = !strcmp(v, "xavier") || !strcmp(v, "glorot") ? NB_INIT_XAVIER_NORMAL : nb_init_parse(v);
    if (k < 0 || k == NB_INIT_ZEROS) return nb_cli_usage_error(cmd, "%s: unknown initialisation '%s'", flag, v);
    va->one.init = (nb_init)k;
    va->single = va->init_given = 1;
    return 0;
}

static int nb__init_std_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vanish_args *va = base;
    if (nb_flag_double(cmd, flag, v, 1e-12, 1e3, &va->one.std)) return 2;
    va->single = va->std_given = 1;
    return 0;
}

static int nb__clip_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vanish_args *va = base;
    if (nb_flag_double(cmd, flag, v, 0, 1e12, &va->one.clip)) return 2;
    va->single = 1;
    return 0;
}

static int nb__bn_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb__vanish_args *va = base;
    (void)cmd, (void)v;
    if (!strcmp(flag, "--batchnorm")) va->one.bn = 1;
    else va->one.res = 1;
    va->single = 1;
    return 0;
}

#define NB__A nb__vanish_args
static const nb_flag nb__vanish_flags[] = {
    /* one configuration */
    NB_FLAG_TEXT("one configuration (any of these runs just that one):\n"),
    NB_FLAG_CUSTOM("--act", nb__act_flag, "NAME", "sigmoid|tanh|relu|leaky_relu|elu|gelu|softplus (relu)"),
    NB_FLAG_CUSTOM("--init", nb__init_flag, "NAME",
                   "normal|xavier|he|xavier_uniform|he_uniform|torch (he)\n"
                   "(xavier = xavier_normal, he = he_normal)"),
    NB_FLAG_CUSTOM("--init-std", nb__init_std_flag, "S", "std for --init normal (0.01); alone, implies --init normal"),
    NB_FLAG_ACTION("--batchnorm", nb__bn_flag, "BatchNorm1d before every hidden activation"),
    NB_FLAG_ACTION("--residual", nb__bn_flag, "x + act(Linear(x)) around every width-to-width hidden layer"),
    NB_FLAG_CUSTOM("--clip-norm", nb__clip_flag, "X", "clip the global gradient norm to X (0 = off) (0)"),
    NB_FLAG_TEXT("every run:\n"),
    NB_FLAG_INT("--depth", NB__A, base.depth, 2, NB_VANISH_MAX_DEPTH, "N", "Linear layers (20; 2..63)"),
    NB_FLAG_INT("--width", NB__A, base.width, 1, 100000, "N", "hidden width (64)"),
    NB_FLAG_INT("--conv", NB__A, base.conv, 1, 4096, "C", "CNNs of C channels instead of MLPs (see above)"),
    NB_FLAG_INT("--steps", NB__A, base.steps, 0, 100000000, "N", "training steps (300; 0 = measure at init only)"),
    NB_FLAG_INT("--batch", NB__A, base.batch, 2, 100000, "N", "batch size (64)"),
    NB_FLAG_INT("--probe-batches", NB__A, base.probe_batches, 1, 10000, "N",
                "batches the gradient norms are averaged over (4)"),
    NB_FLAG_DOUBLE("--lr", NB__A, base.opt.lr, 0, 1e6, "LR", "SGD learning rate (0.01)"),
    NB_FLAG_DOUBLE("--momentum", NB__A, base.opt.momentum, 0, 0.999999, "M", "SGD momentum (0.9)"),
    NB_FLAG_INT("--eval", NB__A, eval_n, 0, 100000000, "N", "evaluate on the first N test images (0 = all) (0)"),
    NB_FLAG_INT("--seed", NB__A, base.seed, 0, (double)LONG_MAX, "N",
                "seed of the weights, probe batches and data order (1)"),
    NB_FLAG_INT("--jobs", NB__A, jobs, 1, 64, "N", "configurations run at once, in child processes (2)"),
    NB_FLAG_STRING("--data", NB__A, data, "DIR", "Fashion-MNIST folder (else $NABLA_DATA, else Debian's)"),
    NB_FLAG_STRING("--out", NB__A, out, "DIR", "output folder (runs/vanish)"),
    NB_FLAG_BOOL("--json", NB__A, json, "JSON lines on stdout instead of the table"),
    NB_FLAG_BOOL("--quiet", NB__A, quiet, "nothing on stderr but errors"),
};
#undef NB__A

__attribute__((constructor)) static void nb__vanish_usage_init(void)
{
    snprintf(nb__vanish_usage_full, sizeof nb__vanish_usage_full, "%s", nb__vanish_usage);
    nb_flags_help(nb__vanish_usage_full, sizeof nb__vanish_usage_full, nb__vanish_flags,
                  sizeof nb__vanish_flags / sizeof nb__vanish_flags[0], 20);
    size_t len = strlen(nb__vanish_usage_full);
    snprintf(nb__vanish_usage_full + len, sizeof nb__vanish_usage_full - len, "\n");
    nb_vanish_time_usage(nb__vanish_usage_full, sizeof nb__vanish_usage_full);
}

/* ----------------------------------------------------------------- output */
typedef struct {
    nb_vanish_config cfg;
    nb_vanish_result res;
    char label[64];
} nb__row;

/* A reading of the measurements (thresholds as in the usage text). */
static const char *nb__verdict(const nb__row *r, char *buf, size_t size)
{
    const nb_vanish_result *v = &r->res;
    if (v->exploded) snprintf(buf, size, "EXPLODES: NaN/Inf at step %ld", v->exploded_at);
    else if (v->ratio_init < 1e-4) snprintf(buf, size, "VANISHES");
    else if (v->ratio_init > 1e4) snprintf(buf, size, "exploding gradients");
    else if (v->clipped_steps > 0)
        snprintf(buf, size, "finite: clipped %ld/%ld steps", v->clipped_steps, v->steps_done);
    else snprintf(buf, size, "ok");
    return buf;
}

static void nb__json_row(FILE *f, const nb__row *r)
{
    const nb_vanish_config *c = &r->cfg;
    const nb_vanish_result *v = &r->res;
    char verdict[64];
    fputs("{\"config\":", f);
    nb_json_write_string(f, r->label);
    fputs(",\"act\":", f);
    nb_json_write_string(f, nb_act_name(c->act));
    fputs(",\"init\":", f);
    nb_json_write_string(f, nb_init_name(c->init));
    fputs(",\"init_std\":", f);
    if (c->init == NB_INIT_NORMAL) nb_json_write_number(f, c->init_std);
    else fputs("null", f);
    fprintf(f, ",\"batchnorm\":%s,\"residual\":%s,\"depth\":%d,\"width\":%zu,\"steps\":%ld,\"batch\":%zu",
            c->batchnorm ? "true" : "false", c->residual ? "true" : "false", c->depth, c->width, c->steps, c->batch);
    if (c->conv) fprintf(f, ",\"conv\":%zu", c->conv);
    nb_json_write_key_number(f, "lr", c->opt.lr);
    nb_json_write_key_number(f, "momentum", c->opt.momentum);
    nb_json_write_key_number(f, "clip_norm", c->clip_norm);
    fprintf(f, ",\"seed\":%llu", (unsigned long long)c->seed);
    for (int t = 0; t < 2; t++) {
        const double *g = t ? v->grad_trained : v->grad_init;
        fputs(t ? ",\"grad_norms_trained\":[" : ",\"grad_norms\":[", f);
        for (int k = 0; k < v->depth; k++) {
            if (k) fputc(',', f);
            nb_json_write_number(f, g[k]);
        }
        fputc(']', f);
    }
    nb_json_write_key_number(f, "grad_norm_first", v->grad_init[0]);
    nb_json_write_key_number(f, "grad_norm_last", v->grad_init[v->depth - 1]);
    nb_json_write_key_number(f, "ratio", v->ratio_init);
    nb_json_write_key_number(f, "ratio_trained", v->ratio_trained);
    nb_json_write_key_number(f, "loss_init", v->loss_init);
    nb_json_write_key_number(f, "loss_first", v->loss_first);
    nb_json_write_key_number(f, "loss_last", v->loss_last);
    nb_json_write_key_number(f, "loss_max", v->loss_max);
    nb_json_write_key_number(f, "grad_norm_max", v->grad_norm_max);
    nb_json_write_key_number(f, "update_norm_max", v->update_norm_max);
    fprintf(f, ",\"clipped_steps\":%ld,\"steps_done\":%ld,\"exploded\":%s,\"exploded_at\":%ld", v->clipped_steps,
            v->steps_done, v->exploded ? "true" : "false", v->exploded_at);
    nb_json_write_key_number(f, "test_acc", v->test_acc);
    nb_json_write_key_number(f, "test_loss", v->test_loss);
    fprintf(f, ",\"test_n\":%zu,\"verdict\":", v->test_n);
    nb_json_write_string(f, nb__verdict(r, verdict, sizeof verdict));
    nb_json_write_key_number(f, "seconds", v->seconds);
    fputs("}\n", f);
    fflush(f);
}

#define NB__ROWFMT "%-30s %9s %9s %9s %9s %9s %19s %8s  %s\n"

static void nb__table_header(FILE *f, int depth, long steps)
{
    char last[16], ratio[24], after[24];
    snprintf(last, sizeof last, "|dW%d|", depth);
    snprintf(ratio, sizeof ratio, "dW1/dW%d", depth);
    snprintf(after, sizeof after, "@%ld steps", steps);
    fprintf(f, NB__ROWFMT, "config", "|dW1|", last, ratio, after, "max |g|", "train loss", "test acc", "verdict");
}

static void nb__fmt(char *buf, size_t size, double v)
{
    if (isnan(v)) snprintf(buf, size, "-");
    else snprintf(buf, size, "%.2e", v);
}

static void nb__table_row(FILE *f, const nb__row *r)
{
    const nb_vanish_result *v = &r->res;
    char a[24], b[24], c[24], d[24], g[24], loss[48], acc[16], verdict[64];
    nb__fmt(a, sizeof a, v->grad_init[0]);
    nb__fmt(b, sizeof b, v->grad_init[v->depth - 1]);
    nb__fmt(c, sizeof c, v->ratio_init);
    nb__fmt(d, sizeof d, v->exploded || !isfinite(v->ratio_trained) ? NAN : v->ratio_trained);
    nb__fmt(g, sizeof g, v->steps_done || v->exploded ? v->grad_norm_max : NAN);
    if (v->steps_done == 0 && !v->exploded) snprintf(loss, sizeof loss, "%.3g", v->loss_init);
    else if (v->steps_done == 0) snprintf(loss, sizeof loss, "%.3g -> NaN!", v->loss_init);
    else snprintf(loss, sizeof loss, "%.3g -> %.3g%s", v->loss_first, v->loss_last, v->exploded ? "!" : "");
    if (isnan(v->test_acc)) snprintf(acc, sizeof acc, "-");
    else snprintf(acc, sizeof acc, "%.1f%%", 100 * v->test_acc);
    fprintf(f, NB__ROWFMT, r->label, a, b, c, d, g, loss, acc, nb__verdict(r, verdict, sizeof verdict));
    fflush(f);
}

/* One chart: Linear layer on x, gradient norm on a log y axis. */
static int nb__svg(const char *path, const nb__row *rows, int n, int trained)
{
    FILE *f = nb_fopen_out(path, "w");
    if (!f) return -1;
    double xs[NB_VANISH_MAX_DEPTH];
    for (int k = 0; k < NB_VANISH_MAX_DEPTH; k++) xs[k] = k + 1;
    char title[200];
    const nb_vanish_config *c = &rows[0].cfg;
    if (c->conv)
        snprintf(title, sizeof title, "Gradient norm of each weight layer %s (CNN: %d layers, %zu channels)",
                 trained ? "after training" : "at initialisation", c->depth, c->conv);
    else if (trained)
        snprintf(title, sizeof title, "Gradient norm of each Linear weight after %ld SGD steps (%d layers, width %zu)",
                 c->steps, c->depth, c->width);
    else
        snprintf(title, sizeof title, "Gradient norm of each Linear weight at initialisation (%d layers, width %zu)",
                 c->depth, c->width);
    nb_plot p;
    nb_plot_init(&p, title, c->conv ? "weight layer (1 = next to the input)" : "Linear layer (1 = next to the input)",
                 "||dL/dW|| (log scale)");
    p.log_y = 1;
    static char labels[NB_PLOT_MAX_SERIES][96];
    int series_of[NB_PLOT_MAX_SERIES];
    for (int i = 0; i < n && p.n_series < NB_PLOT_MAX_SERIES; i++) {
        const nb__row *r = &rows[i];
        /* at init, configurations that differ only in clipping are one line */
        int dup = -1;
        for (int j = 0; j < i && !trained && dup < 0; j++) {
            nb_vanish_config a = r->cfg, b = rows[j].cfg;
            a.clip_norm = b.clip_norm = 0;
            if (!memcmp(&a, &b, sizeof a) && !memcmp(r->res.grad_init, rows[j].res.grad_init, sizeof r->res.grad_init))
                dup = j;
        }
        if (dup >= 0 && series_of[dup] >= 0) {
            size_t len = strlen(labels[series_of[dup]]);
            snprintf(labels[series_of[dup]] + len, sizeof labels[0] - len, ", clipped or not");
            series_of[i] = -1;
            continue;
        }
        if (trained && r->res.exploded)
            snprintf(labels[p.n_series], sizeof labels[0], "%s: NaN at step %ld", r->label, r->res.exploded_at);
        else snprintf(labels[p.n_series], sizeof labels[0], "%s", r->label);
        series_of[i] = p.n_series;
        nb_plot_series(&p, labels[p.n_series], xs, trained ? r->res.grad_trained : r->res.grad_init,
                       (size_t)r->res.depth);
    }
    nb_plot_svg(&p, f, 960, 520);
    return fclose(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- workers */
/* What a child process sends back through its pipe. */
typedef struct {
    int rc;
    nb_vanish_result res;
    char err[512];
} nb__msg;

typedef struct {
    nb_worker w;
    nb__msg msg;
} nb__job;

typedef struct {
    nb__row *r;
    const nb_dataset *train, *test;
} nb__work;

/* nb_worker_fn: a configuration (an nb__work *) into msg */
static void nb__compute(void *work, void *msg)
{
    const nb__work *k = work;
    nb__msg *m = msg;
    memset(m, 0, sizeof *m);
    m->rc = nb_vanish_run(&k->r->cfg, k->train, k->test, &m->res);
    if (m->rc) snprintf(m->err, sizeof m->err, "%s", nb_errmsg());
}

/* Start configuration r in a child process (or here, when fork fails or
 * jobs is 1). */
static void nb__start(nb__job *j, nb__row *r, const nb_dataset *train, const nb_dataset *test, int jobs)
{
    nb__work k = {r, train, test};
    nb_worker_start(&j->w, jobs, nb__compute, &k, &j->msg, sizeof j->msg);
}

/* Wait for a started configuration; 0, or -1 with j->msg.err set. */
static int nb__finish(nb__job *j)
{
    if (nb_worker_finish(&j->w, &j->msg, sizeof j->msg, j->msg.err, sizeof j->msg.err)) j->msg.rc = -1;
    return j->msg.rc ? -1 : 0;
}

/* ------------------------------------------------------------------- main */
/* The configurations to run: the presets, or the one the flags describe;
 * 0, or 2 (printed). */
static int nb__make_rows(const char *cmd, const nb__vanish_args *va, nb__row *rows, int n_rows)
{
    for (int i = 0; i < n_rows; i++) {
        const nb__preset *p = va->single ? &va->one : va->base.conv ? &nb__cnn_presets[i] : &nb__presets[i];
        nb__row *r = &rows[i];
        r->cfg = va->base;
        r->cfg.act = p->act;
        r->cfg.init = p->init;
        r->cfg.init_std = p->std;
        r->cfg.batchnorm = p->bn;
        r->cfg.residual = p->res;
        r->cfg.clip_norm = p->clip;
        nb_vanish_label(&r->cfg, r->label, sizeof r->label);
        if (nb_vanish_validate(&r->cfg)) return nb_cli_usage_error(cmd, "%s", nb_errmsg());
    }
    return 0;
}

/* The data and the output files of a run. */
typedef struct {
    nb_dataset *train, *test, *evalset; /* evalset: test, or its first --eval images */
    FILE *jf;                           /* OUT/results.jsonl */
    char jpath[1100], svg0[1100], svg1[1100];
} nb__vanish_io;

/* OUT, the data and results.jsonl; 0 or the exit status (printed). */
static int nb__vanish_open(const char *cmd, const nb__vanish_args *va, nb__vanish_io *io)
{
    snprintf(io->jpath, sizeof io->jpath, "%s/results.jsonl", va->out);
    snprintf(io->svg0, sizeof io->svg0, "%s/grad_norms.svg", va->out);
    snprintf(io->svg1, sizeof io->svg1, "%s/grad_norms_trained.svg", va->out);
    if (nb_out_dir(va->out))
        return nb_cli_usage_error(cmd, "--out %s: cannot write there (%s)", va->out, strerror(errno));
    if (nb_fashion_mnist_load(va->data, &io->train, &io->test)) {
        fprintf(stderr, "nabla vanish: %s\n", nb_errmsg());
        return 2;
    }
    if (!(io->jf = nb_fopen_out(io->jpath, "w")))
        return nb_cli_usage_error(cmd, "--out %s: cannot write %s (%s)", va->out, io->jpath, strerror(errno));
    io->evalset = io->test;
    if (va->eval_n > 0 && (size_t)va->eval_n < io->test->n) {
        size_t n = (size_t)va->eval_n, *idx = malloc(n * sizeof *idx);
        for (size_t k = 0; idx && k < n; k++) idx[k] = k;
        io->evalset = idx ? nb_dataset_subset(io->test, idx, n) : NULL;
        free(idx);
        if (!io->evalset) {
            fprintf(stderr, "nabla vanish: --eval: %s\n", nb_errmsg());
            io->evalset = io->test;
            return 1;
        }
    }
    return 0;
}

static void nb__vanish_close(nb__vanish_io *io)
{
    if (io->jf) fclose(io->jf);
    if (io->evalset != io->test) nb_dataset_free(io->evalset);
    nb_dataset_free(io->train);
    nb_dataset_free(io->test);
}

/* Run the rows, --jobs at a time, printing each as it finishes (in order),
 * then the charts; 0 or 1 (printed). */
static int nb__vanish_rows(const nb__vanish_args *va, nb__vanish_io *io, nb__row *rows, nb__job *js, int n_rows)
{
    const nb_vanish_config *base = &va->base;
    char shape[64];
    if (base->conv) snprintf(shape, sizeof shape, "CNN layers, %zu channels", base->conv);
    else snprintf(shape, sizeof shape, "Linear layers, width %zu", base->width);
    if (!va->quiet)
        fprintf(stderr,
                "nabla vanish: %d configuration%s of %d %s; gradient norms: mean over %d batches "
                "of %zu; %ld SGD steps (lr %g, momentum %g); test accuracy on %zu images\n",
                n_rows, n_rows > 1 ? "s" : "", base->depth, shape, base->probe_batches, base->batch, base->steps,
                base->opt.lr, base->opt.momentum, io->evalset->n);
    if (!va->json) nb__table_header(stdout, base->depth, base->steps);
    double t0 = nb_now();
    int rc = 1, started = 0, finished;
    for (finished = 0; finished < n_rows; finished++) {
        while (started < n_rows && started < finished + va->jobs) {
            nb__start(&js[started], &rows[started], io->train, io->evalset, (int)va->jobs);
            started++;
        }
        nb__row *r = &rows[finished];
        if (nb__finish(&js[finished])) {
            fprintf(stderr, "nabla vanish: %s: %s\n", r->label, js[finished].msg.err);
            goto done;
        }
        r->res = js[finished].msg.res;
        if (!va->json) nb__table_row(stdout, r);
        else nb__json_row(stdout, r);
        nb__json_row(io->jf, r);
    }
    if (nb__svg(io->svg0, rows, n_rows, 0) || nb__svg(io->svg1, rows, n_rows, 1)) {
        fprintf(stderr, "nabla vanish: cannot write %s: %s\n", io->svg0, strerror(errno));
        goto done;
    }
    if (!va->quiet)
        fprintf(stderr, "nabla vanish: %.1f s; wrote %s, %s and %s\n", nb_now() - t0, io->svg0, io->svg1, io->jpath);
    rc = 0;
done:
    for (int i = finished + 1; i < started; i++) /* after an error: stop the other workers */
        if (js[i].w.pid > 0) {
            kill(js[i].w.pid, SIGTERM);
            nb__finish(&js[i]);
        }
    return rc;
}

static int nb__run_vanish(int argc, char **argv)
{
    const char *cmd = "vanish";
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--time")) return nb_vanish_time_main(argc, argv);
    nb__vanish_args va = {.base = nb_vanish_defaults(),
                          .one = {NB_ACT_RELU, NB_INIT_HE_NORMAL, NB__PLAIN_STD, 0, 0, 0},
                          .jobs = 2,
                          .out = "runs/vanish"};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__vanish_flags, &va)};
    int n_pos, k = nb_flags_parse(cmd, nb__vanish_usage_full, tabs, 1, argc, argv, &n_pos);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected(cmd, argv[1]);
    if (va.std_given && !va.init_given) va.one.init = NB_INIT_NORMAL; /* --init-std S alone means N(0, S^2) */
    int n_rows = va.single ? 1 : va.base.conv ? NB__NCNN_PRESETS : NB__NPRESETS;
    nb__row *rows = calloc((size_t)n_rows, sizeof *rows);
    nb__job *js = calloc((size_t)n_rows, sizeof *js);
    nb__vanish_io io = {0};
    int rc;
    if (!rows || !js) {
        fprintf(stderr, "nabla vanish: out of memory\n");
        rc = 1;
    } else if (!(rc = nb__make_rows(cmd, &va, rows, n_rows)) && !(rc = nb__vanish_open(cmd, &va, &io))) {
        rc = nb__vanish_rows(&va, &io, rows, js, n_rows);
    }
    nb__vanish_close(&io);
    free(rows);
    free(js);
    return rc;
}
