/* nabla train: the study guide's training loop on Fashion-MNIST. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ddp_train.h"
#include "nabla/monitor.h"
#include "report.h"
#include "run.h"

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
} nb__out;

/* Write the same JSON object to the metrics file and (with --json) stdout. */
#define NB__EVENT(o, ...)                                        \
    do {                                                         \
        FILE *fs_[2] = {(o)->metrics, (o)->json};                \
        for (int k_ = 0; k_ < 2; k_++) {                         \
            FILE *f = fs_[k_];                                   \
            if (!f) continue;                                    \
            __VA_ARGS__;                                         \
            fputs("}\n", f);                                     \
            fflush(f);                                           \
        }                                                        \
    } while (0)

/* --monitor, --detect-anomaly / --anomaly-policy, --report */
typedef struct {
    long monitor;                /* every N steps; 0 = off */
    nb_anomaly_policy policy;    /* NB_ANOMALY_OFF unless asked */
    int report;
    double vanish_below, explode_above; /* monitor warning limits; 0 = the monitor's defaults */
} nb__diag;

/* Parse one of the diagnostics flags.  1 consumed, 0 not ours, 2 bad value. */
static int nb__diag_flag(const char *cmd, nb__diag *d, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--detect-anomaly")) {
        if (!d->policy) d->policy = NB_ANOMALY_STOP;
        return 1;
    }
    if (!strcmp(a, "--report")) {
        d->report = 1;
        return 1;
    }
    if (!strcmp(a, "--vanish-below") || !strcmp(a, "--explode-above")) {
        char *end = NULL;
        double v = *i + 1 < argc ? strtod(argv[*i + 1], &end) : 0;
        if (!end || *end || end == argv[*i + 1] || !(v > 0) || !isfinite(v)) {
            nb_cli_usage_error(cmd, "%s needs a positive number", a);
            return 2;
        }
        *(a[2] == 'v' ? &d->vanish_below : &d->explode_above) = v;
        ++*i;
        return 1;
    }
    if (strcmp(a, "--monitor") && strcmp(a, "--anomaly-policy")) return 0;
    if (*i + 1 >= argc) {
        nb_cli_usage_error(cmd, "%s needs a value", a);
        return 2;
    }
    const char *v = argv[++*i];
    if (!strcmp(a, "--monitor")) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < 1) {
            nb_cli_usage_error(cmd, "--monitor %s: expected a number of steps >= 1", v);
            return 2;
        }
        d->monitor = n;
        return 1;
    }
    int p = nb_anomaly_policy_parse(v);
    if (p < 0) {
        nb_cli_usage_error(cmd, "--anomaly-policy %s: expected stop, skip or continue", v);
        return 2;
    }
    d->policy = (nb_anomaly_policy)p;
    return 1;
}

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
        fprintf(stderr, "%smonitor step %lld: loss %s, grad-norm %s", clr, (long long)r->step, nb__g(b1, sizeof b1, r->loss),
                nb__g(b2, sizeof b2, r->grad_norm));
        if (isfinite(r->grad_norm_clipped) && r->grad_norm_clipped < r->grad_norm)
            fprintf(stderr, " (clipped to %.3g)", r->grad_norm_clipped);
        if (r->n_params)
            fprintf(stderr, ", largest %s %s", r->params[big].name, nb__g(b1, sizeof b1, r->params[big].grad_norm));
        if (isfinite(lo)) fprintf(stderr, ", update ratio %.2g..%.2g", lo, hi);
        for (size_t i = 0; i < r->n_layers; i++) {
            const nb_monitor_layer *l = &r->layers[i];
            int dead = !strcmp(l->kind, "relu");
            double fr = dead ? l->dead_frac : l->saturated_frac;
            if (isfinite(fr)) fprintf(stderr, ", layers.%zu %.0f%% %s", l->layer, 100 * fr, dead ? "dead" : "saturated");
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

/* The anomaly record as a JSON event. */
static void nb__anomaly_event(const nb__out *o, long long step, nb_anomaly_policy pol, const nb_anomaly *a)
{
    char msg[600];
    nb_anomaly_describe(a, msg, sizeof msg);
    NB__EVENT(o, fprintf(f, "{\"event\":\"anomaly\",\"step\":%lld,\"policy\":", step);
              nb_json_str(f, nb_anomaly_policy_name(pol)); fputs(",\"op\":", f); nb_json_str(f, a->op);
              fprintf(f, ",\"pass\":\"%s\",\"input\":%d,\"shape\":[", a->backward ? "backward" : "forward", a->input);
              for (int d_ = 0; d_ < a->ndim; d_++) fprintf(f, "%s%zu", d_ ? "," : "", a->shape[d_]);
              fputs("],\"shapes\":", f); nb_json_str(f, a->shapes); fputs(",\"layer\":", f); nb_json_str(f, a->layer);
              fprintf(f, ",\"index\":%zu,\"value\":\"%s\",\"file\":", a->index,
                      isnan(a->value) ? "NaN" : (a->value > 0 ? "Inf" : "-Inf"));
              if (a->file) nb_json_str(f, a->file); else fputs("null", f);
              fprintf(f, ",\"line\":%d,\"count\":%zu,\"message\":", a->line, a->count); nb_json_str(f, msg));
}

static void nb__bar(const nb__out *o, long epoch, long epochs, size_t b, size_t nb, double loss, double sps)
{
    if (!o->tty || o->quiet) return;
    int w = 30, fill = nb ? (int)((double)w * (double)b / (double)nb) : w;
    fprintf(stderr, "\repoch %ld/%ld [", epoch, epochs);
    for (int i = 0; i < w; i++) fputc(i < fill ? '=' : (i == fill ? '>' : ' '), stderr);
    fprintf(stderr, "] %zu/%zu loss %.4f %.0f samples/s ", b, nb, loss, sps);
    fflush(stderr);
}

static const char nb__train_usage[] =
    "usage: nabla train [OPTIONS]\n"
    "\n"
    "Train an MLP on Fashion-MNIST (default: the study guide's loop, 784-128-10\n"
    "ReLU, Adam lr 1e-3, batch 64, clip-norm 1.0, 10 epochs).  Prints the loss\n"
    "every 100 batches and, per epoch, train loss, test loss and test accuracy;\n"
    "OUT receives checkpoint.safetensors (after every epoch, atomically) and\n"
    "metrics.jsonl.  Ctrl-C saves a checkpoint and exits.\n"
    "\n"
    "output:\n"
    "  --out DIR            run folder (runs/train)\n"
    "  --resume             continue from DIR/checkpoint.safetensors\n"
    "  --json               JSON Lines events on stdout\n"
    "  --log-every N        batches between loss lines (100)\n"
    "  --max-steps N        stop (and save) after N optimizer steps in total\n"
    "  --limit-train N      train on the first N samples only\n"
    "  --quiet              no progress output on stderr\n"
    "\n"
    "diagnostics:\n"
    "  --monitor N          every N steps (and at step 1): per-parameter gradient and\n"
    "                       parameter norms, update/parameter ratios, the gradient\n"
    "                       norm before and after clipping, dead ReLUs, saturated\n"
    "                       sigmoid/tanh units; warnings (gradient norm < 1e-6 or\n"
    "                       > 10, over half the units dead or saturated) on stderr;\n"
    "                       everything as JSON events in metrics.jsonl (and --json)\n"
    "  --vanish-below X     the monitor's vanishing limit (1e-6)\n"
    "  --explode-above X    the monitor's exploding limit (10)\n"
    "  --detect-anomaly     check every op's output and every gradient for NaN/Inf\n"
    "                       and stop at the first, naming the op, pass, shapes and\n"
    "                       index (slower: for finding the cause, not for every run)\n"
    "  --anomaly-policy P   stop (the default), skip (drop the step and go on) or\n"
    "                       continue (only record it); implies --detect-anomaly\n"
    "  --report             write OUT/report.html at the end, also when the run stops\n"
    "                       early (see `nabla report`); implies --monitor LOG_EVERY\n"
    "                       unless --monitor is given\n"
    "\n";

static char nb__train_usage_full[8192];

static int nb__run(int argc, char **argv);

static int nb__train_main(int argc, char **argv) { return nb__run(argc, argv); }

const nb_cli_cmd nb_cmd_train = {"train", "train an MLP on Fashion-MNIST (checkpoints, metrics, --json)",
                                 nb__train_usage_full, nb__train_main};

__attribute__((constructor)) static void nb__train_usage_init(void)
{
    snprintf(nb__train_usage_full, sizeof nb__train_usage_full, "%s%s%s", nb__train_usage, nb_ddp_help, nb_run_flags_help);
}

static int nb__run(int argc, char **argv)
{
    const char *cmd = "train";
    nb_run_cfg r;
    nb_run_defaults(&r);
    nb__diag dg = {0};
    nb_ddp ddp = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(nb__train_usage_full, stdout);
            return 0;
        }
        int k = nb__diag_flag(cmd, &dg, argc, argv, &i);
        if (k == 2) return 2;
        if (k == 1) continue;
        if ((k = nb_ddp_flag(cmd, &ddp, argc, argv, &i)) == 2) return 2;
        if (k == 1) continue;
        k = nb_run_flag(cmd, &r, argc, argv, &i);
        if (k == 2) return 2;
        if (k == 0) return nb_cli_usage_error(cmd, "unknown option '%s' (see `nabla help train`)", argv[i]);
    }
    if (nb_run_finish(cmd, &r)) return 2;
    if (dg.report && !dg.monitor) dg.monitor = r.log_every;

    /* Output folder first: fail before any work if it cannot be written. */
    if (nb_out_dir(r.out))
        return nb_cli_usage_error(cmd, "--out %s: cannot write there (%s)", r.out, strerror(errno));
    char ckpt[1100], metrics_path[1100];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", r.out);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", r.out);

    nb_dataset *train = NULL, *test = NULL;
    if (nb_fashion_mnist_load(r.data, &train, &test)) {
        fprintf(stderr, "nabla train: %s\n", nb_errmsg());
        return 2;
    }
    if (nb_ddp_start(cmd, &ddp, &r, &dg.monitor, &dg.report, dg.policy == NB_ANOMALY_SKIP_STEP, metrics_path,
                     sizeof metrics_path)) {
        nb_dataset_free(train);
        nb_dataset_free(test);
        return 2;
    }
    /* Ranks usually share a host's cores: one thread each unless asked. */
    if (ddp.on && r.threads == 0) nb_set_threads(1);
    int rc = 1;
    nb_model *m = NULL;
    nb_optim *opt = NULL;
    nb_loader *loader = NULL;
    nb_ctx *c = NULL;
    nb_checkpoint *ck = NULL;
    nb_monitor *mon = NULL;
    void *xb = NULL;
    int32_t *yb = NULL;
    nb__out o = {.json = r.json ? stdout : NULL, .tty = isatty(2), .quiet = r.quiet};
    nb__mon_out mout = {.o = &o, .lines = !r.quiet && !r.json};

    if (r.limit_train && r.limit_train < train->n) {
        size_t *rows = malloc(r.limit_train * sizeof *rows);
        for (size_t i = 0; rows && i < r.limit_train; i++) rows[i] = i;
        nb_dataset *sub = rows ? nb_dataset_subset(train, rows, r.limit_train) : NULL;
        free(rows);
        if (!sub) {
            fprintf(stderr, "nabla train: --limit-train: %s\n", nb_errmsg());
            goto out;
        }
        nb_dataset_free(train);
        train = sub;
    }
    if (r.mlp.widths[0] != train->d) {
        rc = nb_cli_usage_error(cmd, "--model %s: input width %zu does not match the data's %zu features", r.model,
                                r.mlp.widths[0], train->d);
        goto out;
    }
    if ((int)r.mlp.widths[r.mlp.n_widths - 1] < train->n_classes) {
        rc = nb_cli_usage_error(cmd, "--model %s: %zu outputs cannot hold the data's %d classes", r.model,
                                r.mlp.widths[r.mlp.n_widths - 1], train->n_classes);
        goto out;
    }

    nb_rng init_rng, rng;
    nb_rng_seed(&init_rng, r.seed);
    nb_rng_seed(&rng, r.seed ^ 0x5eed5eed5eedULL);
    if (!(m = nb_run_model(cmd, &r, &init_rng))) {
        rc = 2;
        goto out;
    }
    size_t np = nb_model_n_params(m);
    if (!(opt = nb_optim_new(&r.opt, r.dtype, np))) {
        rc = nb_cli_usage_error(cmd, "%s", nb_errmsg());
        goto out;
    }
    loader = nb_loader_new(train, &(nb_loader_opts){.batch_size = r.batch, .shuffle = 1, .seed = r.seed});
    if (!loader) {
        rc = nb_cli_usage_error(cmd, "--batch %zu: %s", r.batch, nb_errmsg());
        goto out;
    }
    size_t bpe = nb_loader_batches_per_epoch(loader);
    int per_batch = r.sched.kind == NB_SCHED_ONECYCLE || r.sched.kind == NB_SCHED_LINEAR;
    if (r.sched.kind == NB_SCHED_ONECYCLE) r.sched.total_steps = (long)(bpe * (size_t)r.epochs);
    nb_sched sched;
    if (nb_sched_init(&sched, &r.sched, r.opt.lr) || nb_sched_apply(&sched, opt)) {
        rc = nb_cli_usage_error(cmd, "--sched %s: %s", r.sched_name, nb_errmsg());
        goto out;
    }
    nb_progress prog = {0};
    prog.rng = rng;
    if (r.resume && !ddp.rank) { /* --ddp: rank 0 reads, nb_ddp_sync broadcasts */
        if (!(ck = nb_checkpoint_open(ckpt))) {
            rc = nb_cli_usage_error(cmd, "--resume: %s", nb_errmsg());
            goto out;
        }
        const char *cm = nb_checkpoint_get(ck, "model");
        if (!cm || strcmp(cm, r.model)) {
            rc = nb_cli_usage_error(cmd, "--resume: %s was trained with --model %s, not %s", ckpt, cm ? cm : "?", r.model);
            goto out;
        }
        if (nb_checkpoint_load_model(ck, m) || nb_checkpoint_load_state(ck, opt, &sched, &prog) ||
            nb_loader_set_state(loader, &prog.loader)) {
            rc = nb_cli_usage_error(cmd, "--resume: %s", nb_errmsg());
            goto out;
        }
        nb_checkpoint_close(ck);
        ck = NULL;
        rng = prog.rng;
    }
    if (nb_ddp_sync(&ddp, m, opt, &sched, &prog, loader, &rng)) goto out;
    o.metrics = fopen(metrics_path, r.resume ? "a" : "w");
    if (!o.metrics) {
        rc = nb_cli_usage_error(cmd, "%s: %s", metrics_path, strerror(errno));
        goto out;
    }
    c = nb_ctx_new(NULL);
    xb = calloc(r.batch * train->d, nb_dtype_size(r.dtype));
    yb = calloc(r.batch, sizeof *yb);
    if (!c || !xb || !yb) {
        fprintf(stderr, "nabla train: out of memory\n");
        goto out;
    }
    if (dg.policy) nb_set_detect_anomaly(c, dg.policy);
    if (dg.monitor &&
        !(mon = nb_monitor_new(m, &(nb_monitor_opts){.every = dg.monitor, .vanishing = dg.vanish_below,
                                                  .exploding = dg.explode_above, .on_record = nb__on_record,
                                                  .user = &mout}))) {
        fprintf(stderr, "nabla train: monitor: %s\n", nb_errmsg());
        goto out;
    }
    char desc[512];
    nb_model_describe(m, desc, sizeof desc);
    if (!r.quiet && !r.json)
        fprintf(stderr, "model %s\ndata %s: %zu train, %zu test; %s lr %g, batch %zu, %ld epochs%s\n", desc,
                train->name, train->n, test->n, r.opt_name, r.opt.lr, r.batch, r.epochs,
                r.resume ? " (resumed)" : "");
    NB__EVENT(&o, fputs("{\"event\":\"start\",\"model\":", f); nb_json_str(f, r.model);
              fputs(",\"params\":", f); fprintf(f, "%zu", np); fputs(",\"opt\":", f); nb_json_str(f, r.opt_name);
              fputs(",\"lr\":", f); nb_json_num(f, r.opt.lr); fprintf(f, ",\"batch\":%zu,\"epochs\":%ld", r.batch, r.epochs);
              fprintf(f, ",\"threads\":%d,\"resumed\":%s,\"step\":%lld", nb_get_threads(), r.resume ? "true" : "false", (long long)prog.step);
              fputs(",\"clip_norm\":", f); nb_json_num(f, r.clip_norm);
              fprintf(f, ",\"monitor\":%ld,\"detect_anomaly\":", dg.monitor);
              nb_json_str(f, nb_anomaly_policy_name(dg.policy)));

    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = nb__on_sigint;
    sigaction(SIGINT, &sa, &old_sa);

    nb_kv kv[32];
    size_t nkv = nb_run_config_kv(&r, kv, 32);
    double train_time = 0, norm_hist[20] = {0};
    long long samples = 0, skipped = 0;
    int stop = 0, skip_run = 0, anomaly_told = 0;
    nb_eval ev = {.loss = NAN, .accuracy = NAN};
    for (long epoch = prog.epoch; epoch < r.epochs && !stop; epoch++) {
        double loss_sum = 0, t_epoch = 0;
        size_t loss_n = 0, b = prog.loader.pos / r.batch;
        nb_batch batch = {.x = xb, .dtype = r.dtype, .y = yb};
        int more;
        while ((more = nb_loader_next(loader, &batch)) == 1) {
            double t0 = nb_now();
            nb_step_result sr;
            nb_step_opts so = {.clip_norm = r.clip_norm, .clip_value = r.clip_value, .rng = &rng,
                               .hooks = mon ? nb_monitor_hooks(mon) : NULL};
            if (mon) nb_monitor_set_step(mon, prog.step + 1);
            const void *xs = xb;
            const int32_t *ys = yb;
            size_t ns = batch.n;
            if (ddp.on) so.hooks = nb_ddp_slice(&ddp, so.hooks, nb__interrupted, r.dtype, train->d, &xs, &ys, &ns);
            if (nb_train_step(m, opt, c, xs, ys, ns, &so, &sr)) {
                const nb_anomaly *an = nb_anomaly_get(c);
                fprintf(stderr, "\nnabla train: step %lld: %s\n", (long long)prog.step + 1, nb_errmsg());
                if (an) { /* --detect-anomaly stopped the step at the first non-finite value */
                    nb__anomaly_event(&o, prog.step + 1, dg.policy, an);
                    fprintf(stderr, "  no update was made; the last good checkpoint (if any) is kept: %s\n", ckpt);
                    NB__EVENT(&o, fprintf(f, "{\"event\":\"nonfinite\",\"step\":%lld,\"loss\":null,\"lr\":",
                                          (long long)prog.step + 1);
                              nb_json_num(f, nb_optim_lr(opt)); fputs(",\"message\":", f);
                              nb_json_str(f, "--detect-anomaly stopped the run at the first non-finite value"));
                    stop = 3;
                } else {
                    stop = 2;
                }
                break;
            }
            double lv = sr.loss, gnorm = sr.grad_norm;
            int intr = nb__interrupted;
            if (ddp.on) { /* the global batch's loss; every rank stops when any was interrupted before the step */
                lv = nb_dist_last_loss(ddp.d);
                intr = nb_dist_last_flag(ddp.d);
            }
            const nb_anomaly *an = nb_anomaly_get(c);
            if (an && !anomaly_told && dg.policy == NB_ANOMALY_CONTINUE) {
                anomaly_told = 1;
                char msg[600];
                fprintf(stderr, "%snabla train: step %lld: %s (continuing; --anomaly-policy continue)\n",
                        o.tty ? "\r\033[K" : "", (long long)prog.step + 1, nb_anomaly_describe(an, msg, sizeof msg));
                nb__anomaly_event(&o, prog.step + 1, dg.policy, an);
            }
            if (sr.nonfinite && an && dg.policy == NB_ANOMALY_SKIP_STEP) {
                /* skip-step: no update was made; drop the batch and go on */
                skipped++;
                skip_run++;
                b++;
                nb__anomaly_event(&o, prog.step + 1, dg.policy, an);
                if (skipped <= 3) {
                    char msg[600];
                    fprintf(stderr, "%snabla train: step %lld skipped: %s\n", o.tty ? "\r\033[K" : "",
                            (long long)prog.step + 1, nb_anomaly_describe(an, msg, sizeof msg));
                }
                if (skip_run >= 50) {
                    fprintf(stderr, "nabla train: %d steps in a row skipped for non-finite values: stopping. The model "
                                    "itself is likely broken; try a lower --lr or --clip-norm 1.0.\n", skip_run);
                    NB__EVENT(&o, fprintf(f, "{\"event\":\"nonfinite\",\"step\":%lld,\"loss\":", (long long)prog.step + 1);
                              nb_json_num(f, lv); fputs(",\"lr\":", f); nb_json_num(f, nb_optim_lr(opt));
                              fputs(",\"message\":", f);
                              nb_json_str(f, "50 steps in a row skipped for non-finite values (--anomaly-policy skip)"));
                    stop = 3;
                    break;
                }
                continue;
            }
            skip_run = 0;
            if (sr.nonfinite) {
                /* no update was made: stop and keep the last good checkpoint */
                double oldest = norm_hist[(prog.step + 1) % 20], grow = oldest > 0 ? norm_hist[prog.step % 20] / oldest : NAN;
                double lr_now = nb_optim_lr(opt);
                char diag[480];
                int at = snprintf(diag, sizeof diag, "loss became %s at step %lld (epoch %ld, batch %zu)",
                                  isnan(lv) ? "NaN" : (isfinite(lv) ? "finite but the gradient is not" : "Inf"),
                                  (long long)prog.step + 1, epoch + 1, b + 1);
                if (prog.step > 0 && at > 0 && (size_t)at < sizeof diag)
                    at += snprintf(diag + at, sizeof diag - (size_t)at, "; the gradient norm was %.3g the step before",
                                   norm_hist[prog.step % 20]);
                if (isfinite(grow) && prog.step >= 20 && grow > 1 && at > 0 && (size_t)at < sizeof diag)
                    at += snprintf(diag + at, sizeof diag - (size_t)at, " (grew x%.3g over the 20 steps before)", grow);
                if (at > 0 && (size_t)at < sizeof diag) {
                    if (r.clip_norm > 0)
                        snprintf(diag + at, sizeof diag - (size_t)at, "; clipping at %g is on, so learning rate %g is "
                                 "likely too high: try --lr %g", r.clip_norm, lr_now, lr_now / 10);
                    else
                        snprintf(diag + at, sizeof diag - (size_t)at, "; learning rate %g is likely too high: try "
                                 "--clip-norm 1.0 or a lower --lr (e.g. %g)", lr_now, lr_now / 10);
                }
                fprintf(stderr, "\nnabla train: %s.\n", diag);
                if (an) {
                    char msg[600];
                    fprintf(stderr, "  first non-finite value: %s\n", nb_anomaly_describe(an, msg, sizeof msg));
                } else if (!dg.policy) {
                    fprintf(stderr, "  rerun with --detect-anomaly to find the op that made the first NaN/Inf.\n");
                }
                fprintf(stderr, "  the last good checkpoint (if any) is kept: %s\n", ckpt);
                if (an && dg.policy != NB_ANOMALY_CONTINUE) nb__anomaly_event(&o, prog.step + 1, dg.policy, an);
                NB__EVENT(&o, fprintf(f, "{\"event\":\"nonfinite\",\"step\":%lld,\"loss\":", (long long)prog.step + 1);
                          nb_json_num(f, lv); fputs(",\"lr\":", f); nb_json_num(f, lr_now);
                          fputs(",\"grad_norm\":", f); nb_json_num(f, gnorm); fputs(",\"message\":", f);
                          nb_json_str(f, diag));
                stop = 3;
                break;
            }
            if (per_batch) {
                nb_sched_step(&sched);
                nb_sched_apply(&sched, opt);
            }
            double dt = nb_now() - t0;
            train_time += dt;
            t_epoch += dt;
            samples += (long long)batch.n;
            prog.step++;
            b++;
            norm_hist[prog.step % 20] = gnorm;
            loss_sum += lv * (double)batch.n;
            loss_n += batch.n;
            if (b % (size_t)r.log_every == 0) {
                double sps = train_time > 0 ? (double)samples / train_time : 0;
                if (o.tty && !r.quiet) nb__bar(&o, epoch + 1, r.epochs, b, bpe, lv, sps);
                else if (!r.quiet && !r.json)
                    fprintf(stderr, "epoch %ld batch %zu/%zu loss %.4f grad-norm %.3g lr %.3g\n", epoch + 1, b, bpe, lv,
                            gnorm, nb_optim_lr(opt));
                NB__EVENT(&o, fprintf(f, "{\"event\":\"log\",\"step\":%lld,\"epoch\":%ld,\"batch\":%zu,\"loss\":",
                                      (long long)prog.step, epoch + 1, b);
                          nb_json_num(f, lv); fputs(",\"grad_norm\":", f); nb_json_num(f, gnorm);
                          fputs(",\"lr\":", f); nb_json_num(f, nb_optim_lr(opt)));
            }
            if (intr || (r.max_steps && prog.step >= r.max_steps)) {
                stop = intr ? 1 : 4;
                break;
            }
        }
        if (more < 0) {
            fprintf(stderr, "nabla train: loader: %s\n", nb_errmsg());
            stop = 2;
        }
        if (stop == 2 || stop == 3) break;
        int epoch_done = !stop;
        if (epoch_done && !per_batch) {
            nb_sched_step(&sched);
            nb_sched_apply(&sched, opt);
        }
        nb_loader_get_state(loader, &prog.loader);
        prog.epoch = epoch + (epoch_done ? 1 : 0);
        prog.rng = rng;
        if (nb_ddp_before_save(&ddp, m)) { /* --ddp: average BatchNorm's running statistics */
            stop = 2;
            break;
        }
        if (epoch_done && !ddp.rank) {
            if (nb_evaluate(m, c, test, 1000, &ev, NULL)) {
                fprintf(stderr, "nabla train: evaluation: %s\n", nb_errmsg());
                stop = 2;
                break;
            }
            double tl = loss_n ? loss_sum / (double)loss_n : NAN;
            if (o.tty && !r.quiet) fputc('\n', stderr);
            if (!r.quiet && !r.json)
                fprintf(stderr, "epoch %ld/%ld  train loss %.4f  test loss %.4f  test acc %.4f  (%.1fs, %.0f samples/s)\n",
                        epoch + 1, r.epochs, tl, ev.loss, ev.accuracy, t_epoch,
                        t_epoch > 0 ? (double)loss_n / t_epoch : 0);
            NB__EVENT(&o, fprintf(f, "{\"event\":\"epoch\",\"epoch\":%ld,\"step\":%lld,\"train_loss\":", epoch + 1,
                                  (long long)prog.step);
                      nb_json_num(f, tl); fputs(",\"test_loss\":", f); nb_json_num(f, ev.loss);
                      fputs(",\"test_acc\":", f); nb_json_num(f, ev.accuracy); fputs(",\"lr\":", f);
                      nb_json_num(f, nb_optim_lr(opt)); fputs(",\"seconds\":", f); nb_json_num(f, t_epoch));
        }
        if (!ddp.rank && nb_checkpoint_save(ckpt, m, opt, &sched, &prog, kv, nkv)) {
            fprintf(stderr, "nabla train: checkpoint not saved: %s\n", nb_errmsg());
            stop = 2;
            break;
        }
        if (stop == 1 && !r.quiet) fprintf(stderr, "\nnabla train: interrupted; checkpoint saved to %s\n", ckpt);
    }
    sigaction(SIGINT, &old_sa, NULL);
    if (mon) nb_monitor_flush(mon);
    if (skipped && !r.quiet)
        fprintf(stderr, "nabla train: %lld steps skipped for non-finite values (--anomaly-policy skip)\n", skipped);
    if (mout.repeats && !r.quiet)
        fprintf(stderr, "nabla train: %ld more warnings of the kinds above (all in %s)\n", mout.repeats, metrics_path);
    if (stop == 2 || stop == 3) goto out;
    if ((stop == 4 || stop == 1) && !ddp.rank) { /* stopped mid-epoch: report the model as it stands */
        if (nb_evaluate(m, c, test, 1000, &ev, NULL)) {
            fprintf(stderr, "nabla train: evaluation: %s\n", nb_errmsg());
            goto out;
        }
    }
    double sps = train_time > 0 ? (double)samples / train_time : 0;
    NB__EVENT(&o, fputs("{\"event\":\"done\",\"test_acc\":", f); nb_json_num(f, ev.accuracy);
              fputs(",\"test_loss\":", f); nb_json_num(f, ev.loss); fputs(",\"train_samples_per_s\":", f);
              nb_json_num(f, sps); fprintf(f, ",\"steps\":%lld,\"epochs\":%lld,\"threads\":%d", (long long)prog.step,
                                           (long long)prog.epoch, nb_get_threads());
              fputs(",\"train_seconds\":", f); nb_json_num(f, train_time); fputs(",\"checkpoint\":", f);
              nb_json_str(f, ckpt); fputs(",\"interrupted\":", f); fputs(stop == 1 ? "true" : "false", f));
    if (!r.quiet && !r.json)
        fprintf(stderr, "done: test acc %.4f, test loss %.4f, %.0f train samples/s (%d thread%s); checkpoint %s\n",
                ev.accuracy, ev.loss, sps, nb_get_threads(), nb_get_threads() == 1 ? "" : "s", ckpt);
    rc = stop == 1 ? 130 : 0;
out:
    if (o.metrics) {
        fclose(o.metrics);
        if (dg.report && nb_report_html(cmd, r.out, NULL) == 0 && !r.quiet)
            fprintf(stderr, "report: %s/report.html\n", r.out);
    }
    nb_monitor_free(mon);
    nb_checkpoint_close(ck);
    free(xb);
    free(yb);
    nb_ctx_free(c);
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return nb_ddp_end(&ddp, rc);
}
