/* The run configuration shared by train / eval / predict. */
#include "run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "nabla/data.h"

void nb_run_defaults(nb_run_cfg *r)
{
    memset(r, 0, sizeof *r);
    r->model = "784-128-10";
    nb_mlp_parse_widths(&r->mlp, r->model);
    r->mlp.act = NB_ACT_RELU;
    r->mlp.act_param = 0.01;
    r->init = NB_INIT_TORCH;
    r->init_std = 0.01;
    r->dtype = NB_F32;
    snprintf(r->opt_name, sizeof r->opt_name, "adam");
    r->opt = nb_optim_defaults(NB_OPT_ADAM);
    r->opt.lr = 1e-3;
    snprintf(r->sched_name, sizeof r->sched_name, "none");
    r->sched = nb_sched_defaults(NB_SCHED_CONSTANT);
    r->batch = 64;
    r->epochs = 10;
    r->clip_norm = 1.0;
    r->seed = 1;
    r->threads = 0; /* the library's default */
    r->out = "runs/train";
    r->log_every = 100;
    r->given.momentum = r->given.gamma = r->given.max_lr = NAN;
    r->given.step_size = 3;
    r->seq_len = 128;
}

/* --model: the widths shorthand W-W-... or a layer description (checked
 * in nb_run_finish); the text is the checkpoint's. */
static int nb__model_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    (void)flag;
    r->model_is_spec = !nb_run_is_widths(v);
    if (!r->model_is_spec && nb_mlp_parse_widths(&r->mlp, v)) return nb_cli_usage_error(cmd, "%s", nb_errmsg());
    r->model = v;
    r->model_given = 1;
    return 0;
}

static int nb__act_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    int k = nb_act_parse(v);
    if (k < 0 || k == NB_ACT_NONE) {
        const char *names[NB_ACT__COUNT];
        for (int j = 1; j < NB_ACT__COUNT; j++) names[j - 1] = nb_act_name((nb_act)j);
        names[NB_ACT__COUNT - 1] = NULL;
        return nb_flag_bad_name(cmd, flag, v, names, "activation");
    }
    r->mlp.act = (nb_act)k;
    r->mlp_flags = 1;
    return 0;
}

/* --batchnorm, --residual, --dropout P: the widths shorthand's layer flags
 * (a layer description writes its layers out instead). */
static int nb__batchnorm_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    r->mlp_flags = r->mlp.batchnorm = 1;
    return 0;
}

static int nb__residual_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    r->mlp_flags = r->mlp.residual = 1;
    return 0;
}

static int nb__dropout_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    r->mlp_flags = 1;
    return nb_flag_double(cmd, flag, v, 0, 0.99, &r->mlp.dropout);
}

static int nb__init_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    int k = nb_init_parse(v);
    if (k < 0) {
        const char *names[NB_INIT__COUNT + 1];
        for (int j = 0; j < NB_INIT__COUNT; j++) names[j] = nb_init_name((nb_init)j);
        names[NB_INIT__COUNT] = NULL;
        return nb_flag_bad_name(cmd, flag, v, names, "initialisation");
    }
    r->init = (nb_init)k;
    return 0;
}

static int nb__dtype_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    nb_run_cfg *r = base;
    if (!strcmp(v, "f32") || !strcmp(v, "float32")) r->dtype = NB_F32;
    else if (!strcmp(v, "f64") || !strcmp(v, "float64")) r->dtype = NB_F64;
    else return nb_flag_bad_name(cmd, flag, v, (const char *const[]){"f32", "f64", NULL}, "dtype");
    return 0;
}

/* --opt NAME: the optimizer's defaults, keeping an --lr and a non-zero
 * --weight-decay given before it. */
static int nb__opt_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", NULL};
    nb_run_cfg *r = base;
    int k = -1;
    for (int j = 0; j < 4; j++)
        if (!strcmp(v, names[j])) k = j;
    if (k < 0) return nb_flag_bad_name(cmd, flag, v, names, "optimizer");
    double lr = r->opt.lr, wd = r->opt.weight_decay;
    r->opt = nb_optim_defaults((nb_optim_kind)k);
    r->opt.lr = lr;
    if (wd > 0) r->opt.weight_decay = wd;
    snprintf(r->opt_name, sizeof r->opt_name, "%s", v);
    return 0;
}

static int nb__sched_flag(const char *cmd, const char *flag, const char *v, void *base)
{
    static const char *const names[] = {"none", "step", "exp", "cosine", "linear", "onecycle", NULL};
    static const nb_sched_kind kinds[] = {NB_SCHED_CONSTANT, NB_SCHED_STEP,   NB_SCHED_EXPONENTIAL,
                                          NB_SCHED_COSINE,   NB_SCHED_LINEAR, NB_SCHED_ONECYCLE};
    nb_run_cfg *r = base;
    int k = -1;
    for (int j = 0; j < 6; j++)
        if (!strcmp(v, names[j])) k = j;
    if (k < 0) return nb_flag_bad_name(cmd, flag, v, names, "schedule");
    r->sched = nb_sched_defaults(kinds[k]);
    snprintf(r->sched_name, sizeof r->sched_name, "%s", v);
    return 0;
}

#define NB__R nb_run_cfg
const nb_flag nb_run_flags[] = {
    NB_FLAG_TEXT("model:\n"),
    NB_FLAG_CUSTOM("--model", nb__model_flag, "DESC",
                   "layers, e.g. \"linear(128) relu dropout(0.2) linear(10)\"\n"
                   "(see `nabla help summary`), or the widths shorthand\n"
                   "W-W-... with the four flags below (784-128-10)"),
    NB_FLAG_CUSTOM("--act", nb__act_flag, "NAME", "relu|leaky_relu|elu|gelu|sigmoid|tanh|softplus (relu)"),
    NB_FLAG_CUSTOM("--init", nb__init_flag, "NAME",
                   "torch|xavier_uniform|xavier_normal|he_uniform|he_normal|normal|zeros (torch)"),
    NB_FLAG_DOUBLE("--init-std", NB__R, init_std, 1e-12, 1e3, "S", "std for --init normal (0.01)"),
    NB_FLAG_ACTION("--batchnorm", nb__batchnorm_flag, "BatchNorm1d before each hidden activation"),
    NB_FLAG_ACTION("--residual", nb__residual_flag, "residual connections around equal-width hidden layers"),
    NB_FLAG_CUSTOM("--dropout", nb__dropout_flag, "P", "dropout after each hidden activation (0)"),
    NB_FLAG_CUSTOM("--dtype", nb__dtype_flag, "f32|f64", "parameter precision (f32)"),
    NB_FLAG_TEXT("optimizer:\n"),
    NB_FLAG_CUSTOM("--opt", nb__opt_flag, "NAME", "sgd|adam|adamw|rmsprop (adam)"),
    NB_FLAG_DOUBLE("--lr", NB__R, opt.lr, 0, 1e6, "LR", "learning rate (1e-3)"),
    NB_FLAG_DOUBLE("--momentum", NB__R, given.momentum, 0, 0.999999, "M",
                   "SGD/RMSprop momentum, or Adam beta1 (torch defaults)"),
    NB_FLAG_DOUBLE("--weight-decay", NB__R, opt.weight_decay, 0, 1e3, "WD", "L2 (decoupled for adamw)"),
    NB_FLAG_BOOL("--nesterov", NB__R, given.nesterov, "SGD Nesterov momentum"),
    NB_FLAG_CUSTOM("--sched", nb__sched_flag, "NAME",
                   "none|step|exp|cosine|onecycle|linear (none)\n"
                   "step/exp/cosine step once per epoch; onecycle per batch;\n"
                   "linear decays per batch from --lr to 0 over the run"),
    NB_FLAG_INT("--step-size", NB__R, given.step_size, 1, 1000000, "N", "StepLR period in epochs (3)"),
    NB_FLAG_DOUBLE("--gamma", NB__R, given.gamma, 1e-12, 10, "G", "StepLR/ExponentialLR factor (0.1 / 0.9)"),
    NB_FLAG_INT("--warmup", NB__R, given.warmup, 0, 100000000, "N",
                "warm-up: the first N optimizer steps (batches) ramp\n"
                "the lr from 0.1 x to 1 x, then the schedule starts;\n"
                "with step/exp/cosine they then count in steps too\n"
                "(onecycle has its own warm-up) (0)"),
    NB_FLAG_DOUBLE("--max-lr", NB__R, given.max_lr, 0, 1e6, "LR", "OneCycleLR peak (10 x --lr)"),
    NB_FLAG_TEXT("training:\n"),
    NB_FLAG_STRING("--data", NB__R, data, "DIR", "Fashion-MNIST folder (else $NABLA_DATA, else Debian's)"),
    NB_FLAG_STRING("--text", NB__R, text, "PATH[,PATH]",
                   "train a character-level model on text files or folders instead (e.g. Debian's fortunes)"),
    NB_FLAG_INT("--seq-len", NB__R, seq_len, 1, 100000, "N", "characters per training window with --text (128)"),
    NB_FLAG_BOOL("--tbptt", NB__R, tbptt,
                 "with --text: each batch row reads on where it stopped and the recurrent states carry over "
                 "(detached: truncated backpropagation through time)"),
    NB_FLAG_INT("--batch", NB__R, batch, 1, 1000000, "N", "batch size (64)"),
    NB_FLAG_INT("--epochs", NB__R, epochs, 1, 100000, "N", "epochs (10)"),
    NB_FLAG_DOUBLE("--clip-norm", NB__R, clip_norm, 0, 1e12, "X", "clip the global gradient norm to X (1.0; 0 = off)"),
    NB_FLAG_DOUBLE("--clip-value", NB__R, clip_value, 0, 1e12, "X", "clamp every gradient to [-X, X] (off)"),
    NB_FLAG_INT("--seed", NB__R, seed, 0, (double)LONG_MAX, "N", "seed of every random choice (1)"),
    NB_FLAG_INT("--threads", NB__R, threads, 1, 64, "N",
                "threads for products, element-wise loops and updates\n"
                "(the online CPUs, or $NABLA_THREADS; 1 per rank with\n"
                "--ddp); results are the same for any number"),
    /* output: each command documents these in its own words */
    NB_FLAG_STRING("--out", NB__R, out, "DIR", NULL),
    NB_FLAG_BOOL("--resume", NB__R, resume, NULL),
    NB_FLAG_BOOL("--overwrite", NB__R, overwrite, NULL),
    NB_FLAG_BOOL("--allow-nonfinite", NB__R, allow_nonfinite, NULL),
    NB_FLAG_BOOL("--json", NB__R, json, NULL),
    NB_FLAG_INT("--log-every", NB__R, log_every, 1, 100000000, "N", NULL),
    NB_FLAG_INT("--max-steps", NB__R, max_steps, 1, (double)LONG_MAX, "N", NULL),
    NB_FLAG_INT("--limit-train", NB__R, limit_train, 1, 100000000, "N", NULL),
    NB_FLAG_BOOL("--quiet", NB__R, quiet, NULL),
};
#undef NB__R
const size_t nb_run_n_flags = sizeof nb_run_flags / sizeof nb_run_flags[0];

const char *nb_run_flags_help(void)
{
    static char help[4096];
    if (!help[0]) nb_flags_help(help, sizeof help, nb_run_flags, nb_run_n_flags, 20);
    return help;
}

int nb_run_finish(const char *cmd, nb_run_cfg *r)
{
    if (!isnan(r->given.momentum)) {
        if (r->opt.kind == NB_OPT_ADAM || r->opt.kind == NB_OPT_ADAMW) r->opt.beta1 = r->given.momentum;
        else r->opt.momentum = r->given.momentum;
    }
    if (r->given.nesterov) r->opt.nesterov = 1;
    if (r->opt.nesterov && r->opt.kind == NB_OPT_SGD && !(r->opt.momentum > 0))
        return nb_cli_usage_error(cmd, "--nesterov needs --momentum > 0 (e.g. --momentum 0.9)");
    if (nb_optim_validate(&r->opt)) return nb_cli_usage_error(cmd, "--opt %s: %s", r->opt_name, nb_cli_errmsg());
    nb_sched_config *s = &r->sched;
    switch (s->kind) {
    case NB_SCHED_STEP:
        s->step_size = r->given.step_size;
        if (!isnan(r->given.gamma)) s->gamma = r->given.gamma;
        break;
    case NB_SCHED_EXPONENTIAL: s->gamma = isnan(r->given.gamma) ? 0.9 : r->given.gamma; break;
    case NB_SCHED_COSINE: s->t_max = r->epochs; break;
    case NB_SCHED_ONECYCLE: s->max_lr = isnan(r->given.max_lr) ? 10 * r->opt.lr : r->given.max_lr; break;
    case NB_SCHED_LINEAR: /* from --lr down to 0 over the run: nb_run_sched_steps sets total_iters */
        s->start_factor = 1.0;
        s->end_factor = 0.0;
        break;
    default: break;
    }
    if (r->given.warmup > 0 && s->kind == NB_SCHED_ONECYCLE)
        return nb_cli_usage_error(cmd, "--warmup: onecycle warms up by itself (over the first 30%% of the "
                                       "steps); drop --warmup or pick another --sched");
    if (r->given.warmup > 0) {
        s->warmup_iters = r->given.warmup;
        s->warmup_start_factor = 0.1;
    }
    if (r->mlp.n_widths < 2) return nb_cli_usage_error(cmd, "--model: needs at least two widths");
    if (r->text && !r->model_is_spec)
        return nb_cli_usage_error(cmd,
                                  "--text needs a layer description that gives one row of %d logits per "
                                  "character, e.g. --model \"embedding(96,64) lstm(256,seq=1) linear(96)\"",
                                  NB_TEXT_VOCAB);
    if (r->tbptt && !r->text) return nb_cli_usage_error(cmd, "--tbptt needs --text");
    if (nb_run_check_spec(cmd, r)) return 2;
    if (nb_set_threads(r->threads)) return nb_cli_usage_error(cmd, "--threads: %s", nb_cli_errmsg());
    return 0;
}

int nb_run_sched_steps(nb_run_cfg *r, size_t batches_per_epoch)
{
    nb_sched_config *s = &r->sched;
    long total = (long)(batches_per_epoch * (size_t)r->epochs), w = s->warmup_iters;
    long after = total - w > 1 ? total - w : 1; /* the steps the schedule has after the warm-up */
    if (s->kind == NB_SCHED_ONECYCLE) s->total_steps = total;
    if (s->kind == NB_SCHED_LINEAR) s->total_iters = after;
    if (s->kind == NB_SCHED_ONECYCLE || s->kind == NB_SCHED_LINEAR) return 1;
    if (!w) return 0; /* step/exp/cosine step once per epoch, as in torch */
    /* a warm-up counts steps, so the schedule after it does too: its epochs become steps */
    long bpe = batches_per_epoch ? (long)batches_per_epoch : 1;
    if (s->kind == NB_SCHED_STEP) s->step_size *= bpe;
    if (s->kind == NB_SCHED_EXPONENTIAL) s->gamma = pow(s->gamma, 1.0 / (double)bpe);
    if (s->kind == NB_SCHED_COSINE) s->t_max = after;
    return 1;
}

void nb_run_warn_futile(const char *cmd, const nb_run_cfg *r)
{
    if (r->opt.lr == 0 && r->sched.kind != NB_SCHED_ONECYCLE)
        fprintf(stderr, "nabla %s: warning: --lr 0: the weights never change, so the model cannot learn\n", cmd);
    if (r->sched.kind == NB_SCHED_ONECYCLE && r->sched.max_lr == 0)
        fprintf(stderr,
                "nabla %s: warning: --max-lr 0: onecycle's rate is 0 at every step, so the model cannot "
                "learn\n",
                cmd);
    if (r->clip_norm > 0 && r->clip_norm < 1e-6)
        fprintf(stderr,
                "nabla %s: warning: --clip-norm %g: every step is at most %g long, so the model barely "
                "moves (1.0 is usual; 0 turns clipping off)\n",
                cmd, r->clip_norm, r->clip_norm * r->opt.lr);
    if (r->clip_value > 0 && r->clip_value < 1e-8)
        fprintf(stderr,
                "nabla %s: warning: --clip-value %g: every gradient is clamped to almost 0, so the model "
                "barely moves\n",
                cmd, r->clip_value);
    if (r->opt.weight_decay * r->opt.lr >= 1 && r->opt.kind != NB_OPT_ADAM && r->opt.kind != NB_OPT_RMSPROP)
        fprintf(stderr,
                "nabla %s: warning: --weight-decay %g with --lr %g shrinks every weight to 0 (or past it) "
                "at each step\n",
                cmd, r->opt.weight_decay, r->opt.lr);
}

nb_model *nb_run_model(const char *cmd, const nb_run_cfg *r, nb_rng *rng)
{
    nb_model *m = nb_run_build(r);
    if (!m || nb_model_init(m, r->init, r->init_std, rng)) {
        nb_cli_usage_error(cmd, "--model %s: %s", r->model, nb_cli_errmsg());
        nb_model_free(m);
        return NULL;
    }
    return m;
}

size_t nb_run_config_kv(const nb_run_cfg *r, nb_kv *kv, size_t max)
{
    static char buf[8][48];
    size_t n = 0;
#define KV(k, v) \
    if (n < max) kv[n++] = (nb_kv){k, v}
    KV("model", r->model);
    KV("act", nb_act_name(r->mlp.act));
    snprintf(buf[0], sizeof buf[0], "%.17g", r->mlp.act_param);
    KV("act_param", buf[0]);
    KV("batchnorm", r->mlp.batchnorm ? "1" : "0");
    KV("residual", r->mlp.residual ? "1" : "0");
    snprintf(buf[1], sizeof buf[1], "%.17g", r->mlp.dropout);
    KV("dropout", buf[1]);
    KV("init", nb_init_name(r->init));
    KV("opt", r->opt_name);
    KV("sched", r->sched_name);
    snprintf(buf[2], sizeof buf[2], "%zu", r->batch);
    KV("batch", buf[2]);
    snprintf(buf[3], sizeof buf[3], "%llu", (unsigned long long)r->seed);
    KV("seed", buf[3]);
    KV("dataset", r->text ? "text" : "fashion-mnist");
    if (r->text) {
        KV("text", r->text);
        snprintf(buf[4], sizeof buf[4], "%zu", r->seq_len);
        KV("seq_len", buf[4]);
        if (r->tbptt) KV("tbptt", "1");
    }
#undef KV
    return n;
}

int nb_run_text_data(const char *cmd, const nb_run_cfg *r, nb_dataset **train, nb_dataset **val)
{
    *train = *val = NULL;
    char *list = strdup(r->text);
    const char *paths[64];
    int n = 0;
    for (char *p = list, *save = NULL, *tok; list && n < 64 && (tok = strtok_r(p, ",", &save)); p = NULL)
        paths[n++] = tok;
    nb_text *t = list && n ? nb_text_load(paths, n, 0) : NULL, *tr = NULL, *va = NULL;
    int rc = 0;
    if (!list) rc = nb_cli_usage_error(cmd, "--text: out of memory");
    else if (!n) rc = nb_cli_usage_error(cmd, "--text: no path given");
    else if (!t || nb_text_split(t, &tr, &va)) rc = nb_cli_usage_error(cmd, "--text: %s", nb_cli_errmsg());
    else if (!(*train = r->tbptt ? nb_text_streams(tr, r->seq_len, r->batch, "text train")
                                 : nb_text_windows(tr, r->seq_len, "text train")) ||
             !(*val = r->tbptt ? nb_text_streams(va, r->seq_len, r->batch, "text validation")
                               : nb_text_windows(va, r->seq_len, "text validation"))) {
        rc = nb_cli_usage_error(cmd, "--text with --seq-len %zu: %s", r->seq_len, nb_cli_errmsg());
        nb_dataset_free(*train);
        *train = NULL;
    }
    nb_text_free(t);
    nb_text_free(tr);
    nb_text_free(va);
    free(list);
    return rc;
}

double nb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int nb_out_dir(const char *dir)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    /* a probe file: access() would say yes to root on a read-only mount */
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/.nabla-write-test.XXXXXX", buf);
    int fd = mkstemp(probe);
    if (fd < 0) return -1;
    close(fd);
    unlink(probe);
    return 0;
}
