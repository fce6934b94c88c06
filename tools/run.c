/* The run configuration shared by train / eval / predict. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char nb_run_flags_help[] =
    "model:\n"
    "  --model DESC         layers, e.g. \"linear(128) relu dropout(0.2) linear(10)\"\n"
    "                       (see `nabla help summary`), or the widths shorthand\n"
    "                       W-W-... with the four flags below (784-128-10)\n"
    "  --act NAME           relu|leaky_relu|elu|gelu|sigmoid|tanh|softplus (relu)\n"
    "  --init NAME          torch|xavier_uniform|xavier_normal|he_uniform|he_normal|normal|zeros (torch)\n"
    "  --init-std S         std for --init normal (0.01)\n"
    "  --batchnorm          BatchNorm1d before each hidden activation\n"
    "  --residual           residual connections around equal-width hidden layers\n"
    "  --dropout P          dropout after each hidden activation (0)\n"
    "  --dtype f32|f64      parameter precision (f32)\n"
    "optimizer:\n"
    "  --opt NAME           sgd|adam|adamw|rmsprop (adam)\n"
    "  --lr LR              learning rate (1e-3)\n"
    "  --momentum M         SGD/RMSprop momentum, or Adam beta1 (torch defaults)\n"
    "  --weight-decay WD    L2 (decoupled for adamw)\n"
    "  --nesterov           SGD Nesterov momentum\n"
    "  --sched NAME         none|step|exp|cosine|onecycle|linear (none)\n"
    "                       step/exp/cosine step once per epoch; onecycle/linear per batch\n"
    "  --step-size N        StepLR period in epochs (3)\n"
    "  --gamma G            StepLR/ExponentialLR factor (0.1 / 0.9)\n"
    "  --warmup N           linear warm-up steps before step/exp/cosine (epochs) (0)\n"
    "  --max-lr LR          OneCycleLR peak (10 x --lr)\n"
    "training:\n"
    "  --data DIR           Fashion-MNIST folder (else $NABLA_DATA, else Debian's)\n"
    "  --batch N            batch size (64)\n"
    "  --epochs N           epochs (10)\n"
    "  --clip-norm X        clip the global gradient norm to X (1.0; 0 = off)\n"
    "  --clip-value X       clamp every gradient to [-X, X] (off)\n"
    "  --seed N             seed of every random choice (1)\n"
    "  --threads N          threads for products, element-wise loops and updates\n"
    "                       (the online CPUs, or $NABLA_THREADS; 1 per rank with\n"
    "                       --ddp); results are the same for any number\n";

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
}

static int nb__num(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || errno || !isfinite(x))
        return nb_cli_usage_error(cmd, "%s: '%s' is not a number", flag, v ? v : "");
    if (x < lo || x > hi) return nb_cli_usage_error(cmd, "%s: %g is out of range [%g, %g]", flag, x, lo, hi);
    *out = x;
    return 0;
}

static int nb__int(const char *cmd, const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno) return nb_cli_usage_error(cmd, "%s: '%s' is not an integer", flag, v ? v : "");
    if (x < lo || x > hi) return nb_cli_usage_error(cmd, "%s: %ld is out of range [%ld, %ld]", flag, x, lo, hi);
    *out = x;
    return 0;
}

static double nb__momentum_flag = NAN, nb__gamma_flag = NAN, nb__max_lr_flag = NAN;
static long nb__step_size = 3, nb__warmup = 0;
static int nb__nesterov;

int nb_run_flag(const char *cmd, nb_run_cfg *r, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    /* flags without a value */
    if (!strcmp(a, "--batchnorm")) return r->mlp_flags = r->mlp.batchnorm = 1;
    if (!strcmp(a, "--residual")) return r->mlp_flags = r->mlp.residual = 1;
    if (!strcmp(a, "--nesterov")) return nb__nesterov = 1;
    if (!strcmp(a, "--json")) return r->json = 1;
    if (!strcmp(a, "--resume")) return r->resume = 1;
    if (!strcmp(a, "--quiet")) return r->quiet = 1;
    static const char *const valued[] = {"--data", "--model", "--act", "--init", "--init-std", "--dtype", "--opt", "--lr",
                                         "--momentum", "--weight-decay", "--sched", "--step-size", "--gamma", "--warmup",
                                         "--max-lr", "--batch", "--epochs", "--clip-norm", "--clip-value", "--seed",
                                         "--threads", "--out", "--max-steps", "--limit-train", "--log-every", "--dropout"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(a, valued[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) return nb_cli_usage_error(cmd, "%s needs a value", a), 2;
    const char *v = argv[++*i];
    long n;
    double d;
    if (!strcmp(a, "--data")) r->data = v;
    else if (!strcmp(a, "--out")) r->out = v;
    else if (!strcmp(a, "--model")) {
        r->model_is_spec = !nb_run_is_widths(v);
        if (!r->model_is_spec && nb_mlp_parse_widths(&r->mlp, v)) return nb_cli_usage_error(cmd, "%s", nb_errmsg()), 2;
        r->model = v;
        r->model_given = 1;
    } else if (!strcmp(a, "--act")) {
        r->mlp_flags = 1;
        int k = nb_act_parse(v);
        if (k < 0 || k == NB_ACT_NONE) return nb_cli_usage_error(cmd, "--act: unknown activation '%s'", v), 2;
        r->mlp.act = (nb_act)k;
    } else if (!strcmp(a, "--init")) {
        int k = nb_init_parse(v);
        if (k < 0) return nb_cli_usage_error(cmd, "--init: unknown initialisation '%s'", v), 2;
        r->init = (nb_init)k;
    } else if (!strcmp(a, "--dtype")) {
        if (!strcmp(v, "f32") || !strcmp(v, "float32")) r->dtype = NB_F32;
        else if (!strcmp(v, "f64") || !strcmp(v, "float64")) r->dtype = NB_F64;
        else return nb_cli_usage_error(cmd, "--dtype: '%s' is not f32 or f64", v), 2;
    } else if (!strcmp(a, "--opt")) {
        static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop"};
        int k = -1;
        for (int j = 0; j < 4; j++)
            if (!strcmp(v, names[j])) k = j;
        if (k < 0) return nb_cli_usage_error(cmd, "--opt: unknown optimizer '%s' (sgd|adam|adamw|rmsprop)", v), 2;
        double lr = r->opt.lr, wd = r->opt.weight_decay;
        r->opt = nb_optim_defaults((nb_optim_kind)k);
        r->opt.lr = lr;
        if (wd > 0) r->opt.weight_decay = wd;
        snprintf(r->opt_name, sizeof r->opt_name, "%s", v);
    } else if (!strcmp(a, "--sched")) {
        static const char *const names[] = {"none", "step", "exp", "cosine", "linear", "onecycle"};
        static const nb_sched_kind kinds[] = {NB_SCHED_CONSTANT, NB_SCHED_STEP, NB_SCHED_EXPONENTIAL,
                                              NB_SCHED_COSINE, NB_SCHED_LINEAR, NB_SCHED_ONECYCLE};
        int k = -1;
        for (int j = 0; j < 6; j++)
            if (!strcmp(v, names[j])) k = j;
        if (k < 0) return nb_cli_usage_error(cmd, "--sched: unknown schedule '%s' (none|step|exp|cosine|linear|onecycle)", v), 2;
        r->sched = nb_sched_defaults(kinds[k]);
        snprintf(r->sched_name, sizeof r->sched_name, "%s", v);
    } else if (!strcmp(a, "--lr")) {
        if (nb__num(cmd, a, v, 0, 1e6, &d)) return 2;
        r->opt.lr = d;
    } else if (!strcmp(a, "--momentum")) {
        if (nb__num(cmd, a, v, 0, 0.999999, &d)) return 2;
        nb__momentum_flag = d;
    } else if (!strcmp(a, "--weight-decay")) {
        if (nb__num(cmd, a, v, 0, 1e3, &d)) return 2;
        r->opt.weight_decay = d;
    } else if (!strcmp(a, "--gamma")) {
        if (nb__num(cmd, a, v, 1e-12, 10, &d)) return 2;
        nb__gamma_flag = d;
    } else if (!strcmp(a, "--max-lr")) {
        if (nb__num(cmd, a, v, 0, 1e6, &d)) return 2;
        nb__max_lr_flag = d;
    } else if (!strcmp(a, "--init-std")) {
        if (nb__num(cmd, a, v, 1e-12, 1e3, &d)) return 2;
        r->init_std = d;
    } else if (!strcmp(a, "--dropout")) {
        r->mlp_flags = 1;
        if (nb__num(cmd, a, v, 0, 0.99, &d)) return 2;
        r->mlp.dropout = d;
    } else if (!strcmp(a, "--clip-norm")) {
        if (nb__num(cmd, a, v, 0, 1e12, &d)) return 2;
        r->clip_norm = d;
    } else if (!strcmp(a, "--clip-value")) {
        if (nb__num(cmd, a, v, 0, 1e12, &d)) return 2;
        r->clip_value = d;
    } else if (!strcmp(a, "--step-size")) {
        if (nb__int(cmd, a, v, 1, 1000000, &nb__step_size)) return 2;
    } else if (!strcmp(a, "--warmup")) {
        if (nb__int(cmd, a, v, 0, 100000000, &nb__warmup)) return 2;
    } else if (!strcmp(a, "--batch")) {
        if (nb__int(cmd, a, v, 1, 1000000, &n)) return 2;
        r->batch = (size_t)n;
    } else if (!strcmp(a, "--epochs")) {
        if (nb__int(cmd, a, v, 1, 100000, &n)) return 2;
        r->epochs = n;
    } else if (!strcmp(a, "--seed")) {
        if (nb__int(cmd, a, v, 0, 0x7fffffffffffffffL, &n)) return 2;
        r->seed = (uint64_t)n;
    } else if (!strcmp(a, "--threads")) {
        if (nb__int(cmd, a, v, 1, 64, &n)) return 2;
        r->threads = (int)n;
    } else if (!strcmp(a, "--max-steps")) {
        if (nb__int(cmd, a, v, 1, 0x7fffffffffffffffL, &r->max_steps)) return 2;
    } else if (!strcmp(a, "--limit-train")) {
        if (nb__int(cmd, a, v, 1, 100000000, &n)) return 2;
        r->limit_train = (size_t)n;
    } else if (!strcmp(a, "--log-every")) {
        if (nb__int(cmd, a, v, 1, 100000000, &r->log_every)) return 2;
    }
    return 1;
}

int nb_run_finish(const char *cmd, nb_run_cfg *r)
{
    if (!isnan(nb__momentum_flag)) {
        if (r->opt.kind == NB_OPT_ADAM || r->opt.kind == NB_OPT_ADAMW) r->opt.beta1 = nb__momentum_flag;
        else r->opt.momentum = nb__momentum_flag;
    }
    if (nb__nesterov) r->opt.nesterov = 1;
    if (nb_optim_validate(&r->opt)) return nb_cli_usage_error(cmd, "%s", nb_errmsg());
    nb_sched_config *s = &r->sched;
    switch (s->kind) {
    case NB_SCHED_STEP:
        s->step_size = nb__step_size;
        if (!isnan(nb__gamma_flag)) s->gamma = nb__gamma_flag;
        break;
    case NB_SCHED_EXPONENTIAL: s->gamma = isnan(nb__gamma_flag) ? 0.9 : nb__gamma_flag; break;
    case NB_SCHED_COSINE: s->t_max = r->epochs; break;
    case NB_SCHED_ONECYCLE: s->max_lr = isnan(nb__max_lr_flag) ? 10 * r->opt.lr : nb__max_lr_flag; break;
    default: break;
    }
    if (nb__warmup > 0 && s->kind != NB_SCHED_ONECYCLE && s->kind != NB_SCHED_CONSTANT) {
        s->warmup_iters = nb__warmup;
        s->warmup_start_factor = 0.1;
    }
    if (r->mlp.n_widths < 2) return nb_cli_usage_error(cmd, "--model: needs at least two widths");
    if (nb_run_check_spec(cmd, r)) return 2;
    if (nb_set_threads(r->threads)) return nb_cli_usage_error(cmd, "--threads: %s", nb_errmsg());
    return 0;
}

nb_model *nb_run_model(const char *cmd, const nb_run_cfg *r, nb_rng *rng)
{
    nb_model *m = nb_run_build(r);
    if (!m || nb_model_init(m, r->init, r->init_std, rng)) {
        nb_cli_usage_error(cmd, "model %s: %s", r->model, nb_errmsg());
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
    KV("dataset", "fashion-mnist");
#undef KV
    return n;
}

void nb_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

void nb_json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
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
