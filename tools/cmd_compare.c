/* nabla compare: train a few configurations that differ in one or two flags,
 * each on the same number of training samples, and compare them: a table,
 * one SVG of the loss curves, JSON lines.  The step is the library's
 * nb_train_step, as in `nabla train`. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "flags.h"
#include "nabla/plot.h"
#include "run.h"

static const char nb__cmp_usage[] = "usage: nabla compare [OPTIONS]\n"
                                    "\n"
                                    "Train several configurations that differ in one or two flags and compare\n"
                                    "them.  Give a flag of `nabla train` a comma-separated list to vary it:\n"
                                    "  nabla compare --batch 16,64,256\n"
                                    "  nabla compare --opt sgd,adam --lr 0.1,0.001 --momentum 0.9 --paired\n"
                                    "  nabla compare --opt sgd --lr 0.01 --momentum 0,0.9\n"
                                    "Every configuration starts from the same initial weights (same --seed,\n"
                                    "same model) and trains on the same number of training samples -- the\n"
                                    "budget: --epochs passes over the training set, or --samples N -- so a\n"
                                    "smaller batch takes more, smaller steps.  Then each is evaluated on the\n"
                                    "test set.  The table gives the steps taken, the final training loss (mean\n"
                                    "over the last tenth of the budget), test loss, test accuracy, training\n"
                                    "time and samples/s.  OUT gets loss.svg (training loss against samples\n"
                                    "seen, each point the mean over 1/100 of the budget, one line per\n"
                                    "configuration) and results.jsonl (what --json prints).\n"
                                    "\n"
                                    "compare:\n"
                                    "  --samples N          budget: N training samples per configuration\n"
                                    "                       (default: --epochs passes; --epochs defaults to 1 here)\n"
                                    "  --paired             pair the lists element by element instead of taking\n"
                                    "                       every combination (the lists must be equally long)\n"
                                    "  --out DIR            output folder (runs/compare)\n"
                                    "  --json               JSON lines on stdout instead of the table\n"
                                    "  --quiet              no progress on stderr\n"
                                    "At most two flags may vary, in at most 16 configurations.  Schedules,\n"
                                    "--resume and --max-steps do not apply here.\n";

static char nb__cmp_usage_full[6144];
static int nb__cmp_run(int argc, char **argv);

const nb_cli_cmd nb_cmd_compare = {"compare",
                                   "train configurations differing in a flag or two; table and loss curves (SVG)",
                                   nb__cmp_usage_full, nb__cmp_run};

__attribute__((constructor)) static void nb__cmp_usage_init(void)
{
    snprintf(nb__cmp_usage_full, sizeof nb__cmp_usage_full, "%s%s", nb__cmp_usage, nb_run_flags_help());
}

enum { NB_CMP_MAX = 16, NB_CMP_POINTS = 100, NB_CMP_AXES = 2, NB_CMP_ARGS = 128 };

/* A varied flag: its name and its values (pointers into a copy of the list). */
typedef struct {
    const char *flag;
    char *flag_buf; /* flag's storage */
    const char *val[NB_CMP_MAX];
    int n;
} nb__axis;

/* What one configuration gave. */
typedef struct {
    char label[160];
    long long steps;
    double final_loss, test_loss, test_acc, seconds;
    int nonfinite;           /* stopped at a non-finite loss */
    double x[NB_CMP_POINTS]; /* samples seen at the end of each window */
    double y[NB_CMP_POINTS]; /* mean training loss in the window */
    int n_points;
} nb__result;

/* Is flag one of nb_run_flag's valued flags (so that it may carry a list)? */
static int nb__run_valued(const char *flag)
{
    static const char *const ok[] = {"--model",     "--act",        "--init",     "--init-std",     "--dtype",
                                     "--opt",       "--lr",         "--momentum", "--weight-decay", "--batch",
                                     "--clip-norm", "--clip-value", "--seed",     "--dropout"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!strcmp(flag, ok[i])) return 1;
    return 0;
}

/* compare's own flags; the run flags (nb_run_flags) follow them. */
typedef struct {
    const char *out;
    long long samples;
    int paired, json, quiet;
} nb__cmp_args;

static const nb_flag nb__cmp_flags[] = {
    NB_FLAG_STRING("--out", nb__cmp_args, out, "DIR", NULL),
    NB_FLAG_INT("--samples", nb__cmp_args, samples, 1, 1e15, "N", NULL),
    NB_FLAG_BOOL("--paired", nb__cmp_args, paired, NULL),
    NB_FLAG_BOOL("--json", nb__cmp_args, json, NULL),
    NB_FLAG_BOOL("--quiet", nb__cmp_args, quiet, NULL),
};

/* Parse argv (argv[0] is the command) into ca and r with the two tables;
 * NB_FLAGS_OK, NB_FLAGS_HELP or NB_FLAGS_ERROR (printed). */
static int nb__cmp_parse(const char *cmd, int argc, char **argv, nb__cmp_args *ca, nb_run_cfg *r)
{
    nb_run_defaults(r);
    r->epochs = 1;
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__cmp_flags, ca), NB_RUN_FLAG_TABLE(r)};
    int n_pos, k = nb_flags_parse(cmd, nb__cmp_usage_full, tabs, 2, argc, argv, &n_pos);
    if (k == NB_FLAGS_OK && n_pos) k = nb_flags_unexpected(cmd, argv[1]);
    return k;
}

/* Build configuration k's run config: the fixed flags, then the axes' values.
 * 0, or 2 (printed). */
static int nb__config(const char *cmd, int nfixed, char **fixed, const nb__axis *ax, int nax, const int *pick,
                      nb_run_cfg *r, char *label, size_t size)
{
    char *argv[NB_CMP_ARGS + 2 * NB_CMP_AXES + 1];
    int argc = 0;
    argv[argc++] = (char *)cmd;
    for (int i = 0; i < nfixed; i++) argv[argc++] = fixed[i];
    size_t at = 0;
    label[0] = '\0';
    for (int a = 0; a < nax; a++) {
        argv[argc++] = (char *)ax[a].flag;
        argv[argc++] = (char *)ax[a].val[pick[a]];
        int w = snprintf(label + at, size - at, "%s%s %s", a ? " " : "", ax[a].flag, ax[a].val[pick[a]]);
        if (w > 0 && (size_t)w < size - at) at += (size_t)w;
    }
    nb__cmp_args ca = {0};
    if (nb__cmp_parse(cmd, argc, argv, &ca, r) != NB_FLAGS_OK) return 2;
    if (nb_run_finish(cmd, r)) return 2;
    if (r->sched.kind != NB_SCHED_CONSTANT || r->resume || r->max_steps)
        return nb_cli_usage_error(cmd, "--sched, --resume and --max-steps do not apply to compare");
    return 0;
}

/* Train one configuration on `budget` samples of train, evaluate on test. */
static int nb__train_one(const char *cmd, const nb_run_cfg *r, const nb_dataset *train, const nb_dataset *test,
                         size_t budget, int quiet, nb__result *res)
{
    int rc = 1;
    nb_rng init_rng, rng;
    nb_rng_seed(&init_rng, r->seed);
    nb_rng_seed(&rng, r->seed ^ 0x5eed5eed5eedULL); /* as nabla train seeds dropout */
    nb_model *m = nb_run_model(cmd, r, &init_rng);
    nb_optim *opt = m ? nb_optim_new(&r->opt, r->dtype, nb_model_n_params(m)) : NULL;
    nb_loader *ld = nb_loader_new(train, &(nb_loader_opts){.batch_size = r->batch, .shuffle = 1, .seed = r->seed});
    nb_ctx *c = nb_ctx_new(NULL);
    void *xb = calloc(r->batch * train->d, nb_dtype_size(r->dtype));
    int32_t *yb = calloc(r->batch, sizeof *yb);
    if (!m || !opt || !ld || !c || !xb || !yb) {
        fprintf(stderr, "nabla %s: %s: %s\n", cmd, res->label, nb_errmsg());
        goto out;
    }
    size_t seen = 0, win_n = 0, tail_n = 0, window = budget / NB_CMP_POINTS ? budget / NB_CMP_POINTS : 1;
    double win_sum = 0, tail_sum = 0, t_train = 0;
    size_t tail_from = budget - budget / 10; /* the final loss: the last tenth of the budget */
    nb_step_opts so = {.clip_norm = r->clip_norm, .clip_value = r->clip_value, .rng = &rng};
    nb_batch b = {.x = xb, .dtype = r->dtype, .y = yb};
    while (seen < budget) {
        int more = nb_loader_next(ld, &b);
        if (more < 0) {
            fprintf(stderr, "nabla %s: loader: %s\n", cmd, nb_errmsg());
            goto out;
        }
        if (more == 0) continue; /* next epoch */
        size_t n = b.n < budget - seen ? b.n : budget - seen;
        nb_step_result sr;
        double t0 = nb_now();
        if (nb_train_step(m, opt, c, xb, yb, n, &so, &sr)) {
            fprintf(stderr, "nabla %s: %s: step %lld: %s\n", cmd, res->label, res->steps + 1, nb_errmsg());
            goto out;
        }
        t_train += nb_now() - t0;
        res->steps++;
        if (sr.nonfinite) {
            res->nonfinite = 1;
            break;
        }
        seen += n;
        win_sum += sr.loss * (double)n;
        win_n += n;
        if (seen > tail_from) {
            tail_sum += sr.loss * (double)n;
            tail_n += n;
        }
        if ((win_n >= window || seen == budget) && res->n_points < NB_CMP_POINTS) {
            res->x[res->n_points] = (double)seen;
            res->y[res->n_points++] = win_sum / (double)win_n;
            win_sum = 0;
            win_n = 0;
        }
    }
    res->seconds = t_train;
    res->final_loss = tail_n && !res->nonfinite ? tail_sum / (double)tail_n : NAN;
    res->test_loss = res->test_acc = NAN;
    if (!res->nonfinite) {
        nb_eval ev;
        if (nb_evaluate(m, c, test, nb_evaluate_batch(m), &ev, NULL)) {
            fprintf(stderr, "nabla %s: evaluation: %s\n", cmd, nb_errmsg());
            goto out;
        }
        res->test_loss = ev.loss;
        res->test_acc = ev.accuracy;
    }
    if (!quiet && isatty(2)) fprintf(stderr, "nabla %s: %s done\n", cmd, res->label);
    rc = 0;
out:
    free(xb);
    free(yb);
    nb_ctx_free(c);
    nb_loader_free(ld);
    nb_optim_free(opt);
    nb_model_free(m);
    return rc;
}

static void nb__result_json(FILE *f, const nb__result *s, size_t budget)
{
    fputs("{\"event\":\"config\",\"config\":", f);
    nb_json_write_string(f, s->label);
    fprintf(f, ",\"samples\":%zu,\"steps\":%lld", budget, s->steps);
    nb_json_write_key_number(f, "final_loss", s->final_loss);
    nb_json_write_key_number(f, "test_loss", s->test_loss);
    nb_json_write_key_number(f, "test_acc", s->test_acc);
    nb_json_write_key_number(f, "seconds", s->seconds);
    nb_json_write_key_number(f, "samples_per_s", s->seconds > 0 ? (double)budget / s->seconds : NAN);
    fprintf(f, ",\"nonfinite\":%s,\"curve\":[", s->nonfinite ? "true" : "false");
    for (int i = 0; i < s->n_points; i++) {
        fprintf(f, "%s[%.0f,", i ? "," : "", s->x[i]);
        nb_json_write_number(f, s->y[i]);
        fputc(']', f);
    }
    fputs("]}\n", f);
}

/* One compare run: the arguments split into axes and fixed flags, the
 * configurations, the data, the outputs.  Each step below returns
 * NB_CMP_GO to go on, or the exit status. */
typedef struct {
    const char *cmd, *out;
    char *fixed[NB_CMP_ARGS]; /* every argument that is not an axis */
    int nfixed, nax, ncfg, samples_given;
    nb__axis ax[NB_CMP_AXES];
    nb__cmp_args ca;
    nb_run_cfg cfg[NB_CMP_MAX];
    nb__result *res;
    nb_dataset *train, *test;
    size_t budget;
    char vary[64], path[1100], svg_path[1100];
    FILE *jl, *fs[2]; /* results.jsonl, and stdout under --json */
} nb__cmp;

enum { NB_CMP_GO = -1 };

/* Add flag `name` varying over the comma-separated `list`. */
static int nb__cmp_axis(nb__cmp *s, const char *name, const char *list)
{
    if (s->nax == NB_CMP_AXES)
        return nb_cli_usage_error(s->cmd, "at most %d flags may vary (%s is a third)", NB_CMP_AXES, name);
    nb__axis *x = &s->ax[s->nax++];
    if (!(x->flag = x->flag_buf = strdup(name))) return 2;
    const char *p = list; /* split into copies: argv stays as given */
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *v = x->n < NB_CMP_MAX ? malloc(len + 1) : NULL;
        if (!v)
            return nb_cli_usage_error(s->cmd, "%s: %s", name,
                                      x->n < NB_CMP_MAX ? "out of memory" : "more than 16 values");
        memcpy(v, p, len);
        v[len] = '\0';
        x->val[x->n++] = v;
        p = e ? e + 1 : p + len;
    }
    return NB_CMP_GO;
}

/* A run flag whose value is a list (--batch 16,64,256) is an axis; every
 * other argument is fixed: parsed, with the tables, once here and again for
 * each configuration. */
static int nb__cmp_split(nb__cmp *s, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '='), *list = NULL;
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        if (nb__run_valued(name)) {
            if (eq && strchr(eq + 1, ',')) list = eq + 1;
            else if (!eq && i + 1 < argc && strchr(argv[i + 1], ',')) list = argv[++i];
        }
        if (list) {
            int rc = nb__cmp_axis(s, name, list);
            if (rc != NB_CMP_GO) return rc;
            continue;
        }
        if (s->nfixed >= NB_CMP_ARGS - 1) return nb_cli_usage_error(s->cmd, "too many arguments");
        s->fixed[s->nfixed++] = argv[i];
    }
    char *pv[NB_CMP_ARGS + 1];
    pv[0] = (char *)s->cmd;
    for (int i = 0; i < s->nfixed; i++) pv[i + 1] = s->fixed[i];
    nb_run_cfg scratch;
    int k = nb__cmp_parse(s->cmd, s->nfixed + 1, pv, &s->ca, &scratch);
    if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
    for (int i = 0; i < s->nfixed; i++) s->fixed[i] = pv[i + 1]; /* the parse may reorder */
    if (s->ca.out) s->out = s->ca.out;
    s->samples_given = s->ca.samples != 0;
    return NB_CMP_GO;
}

/* Count the configurations and parse each, before any work starts. */
static int nb__cmp_configs(nb__cmp *s)
{
    const nb__axis *ax = s->ax;
    if (s->nax == 0)
        return nb_cli_usage_error(
            s->cmd, "nothing to compare: give a flag a list, e.g. --batch 16,64,256 (see `nabla help compare`)");
    s->ncfg = 1;
    if (s->ca.paired) {
        for (int a = 1; a < s->nax; a++)
            if (ax[a].n != ax[0].n)
                return nb_cli_usage_error(s->cmd, "--paired: %s has %d values, %s %d", ax[0].flag, ax[0].n, ax[a].flag,
                                          ax[a].n);
        s->ncfg = ax[0].n;
    } else {
        for (int a = 0; a < s->nax; a++) s->ncfg *= ax[a].n;
    }
    if (s->ncfg > NB_CMP_MAX) return nb_cli_usage_error(s->cmd, "%d configurations: at most %d", s->ncfg, NB_CMP_MAX);
    s->res = calloc((size_t)s->ncfg, sizeof *s->res);
    if (!s->res) return 2;
    for (int k = 0; k < s->ncfg; k++) {
        int pick[NB_CMP_AXES] = {0}; /* the first flag's values vary slowest */
        if (s->ca.paired) pick[0] = pick[1] = k;
        else if (s->nax == 1) pick[0] = k;
        else pick[0] = k / ax[1].n, pick[1] = k % ax[1].n;
        nb__result *r = &s->res[k];
        if (nb__config(s->cmd, s->nfixed, s->fixed, ax, s->nax, pick, &s->cfg[k], r->label, sizeof r->label)) return 2;
    }
    return NB_CMP_GO;
}

/* The output folder, the data (cut to --limit-train), and the budget. */
static int nb__cmp_data(nb__cmp *s)
{
    const nb_run_cfg *c0 = &s->cfg[0];
    if (nb_out_dir(s->out))
        return nb_cli_usage_error(s->cmd, "--out %s: cannot write there (%s)", s->out, strerror(errno));
    if (nb_fashion_mnist_load(c0->data, &s->train, &s->test)) {
        fprintf(stderr, "nabla %s: %s\n", s->cmd, nb_errmsg());
        return 2;
    }
    if (c0->limit_train && c0->limit_train < s->train->n) {
        size_t *rows = malloc(c0->limit_train * sizeof *rows);
        for (size_t i = 0; rows && i < c0->limit_train; i++) rows[i] = i;
        nb_dataset *sub = rows ? nb_dataset_subset(s->train, rows, c0->limit_train) : NULL;
        free(rows);
        if (!sub) {
            fprintf(stderr, "nabla %s: --limit-train: %s\n", s->cmd, nb_errmsg());
            return 2;
        }
        nb_dataset_free(s->train);
        s->train = sub;
    }
    if (c0->mlp.widths[0] != s->train->d || (int)c0->mlp.widths[c0->mlp.n_widths - 1] < s->train->n_classes)
        return nb_cli_usage_error(s->cmd, "--model %s does not fit the data (%zu features, %d classes)", c0->model,
                                  s->train->d, s->train->n_classes);
    s->budget = s->samples_given ? (size_t)s->ca.samples : (size_t)c0->epochs * s->train->n;
    for (int k = 1; k < s->ncfg; k++)
        if (!s->samples_given && s->cfg[k].epochs != c0->epochs)
            return nb_cli_usage_error(s->cmd, "--epochs cannot vary: it is the budget");
    return NB_CMP_GO;
}

/* Open results.jsonl; name the varied flags. */
static int nb__cmp_open(nb__cmp *s)
{
    snprintf(s->path, sizeof s->path, "%s/results.jsonl", s->out);
    snprintf(s->svg_path, sizeof s->svg_path, "%s/loss.svg", s->out);
    if (!(s->jl = fopen(s->path, "w"))) {
        fprintf(stderr, "nabla %s: %s: %s\n", s->cmd, s->path, strerror(errno));
        return 2;
    }
    s->fs[0] = s->jl;
    s->fs[1] = s->ca.json ? stdout : NULL;
    for (int a = 0; a < s->nax; a++)
        snprintf(s->vary + strlen(s->vary), sizeof s->vary - strlen(s->vary), "%s%s", a ? " and " : "", s->ax[a].flag);
    return NB_CMP_GO;
}

/* The table's header: what varies, the budget, and the fixed train flags. */
static void nb__cmp_header(const nb__cmp *s)
{
    const nb_run_cfg *c0 = &s->cfg[0];
    printf("nabla compare: %d configurations differing in %s; budget %zu training samples each", s->ncfg, s->vary,
           s->budget);
    if (!s->samples_given) printf(" (%ld epoch%s of %zu)", c0->epochs, c0->epochs == 1 ? "" : "s", s->train->n);
    printf("; test set %zu images\nthe rest as `nabla train", s->test->n);
    char *const *fx = s->fixed;
    for (int i = 0; i < s->nfixed; i++) {
        int own = 0; /* compare's own flags are not train's */
        for (size_t f = 0; f < sizeof nb__cmp_flags / sizeof *nb__cmp_flags; f++) {
            size_t len = strlen(nb__cmp_flags[f].name);
            if (!strncmp(fx[i], nb__cmp_flags[f].name, len) && (!fx[i][len] || fx[i][len] == '=')) {
                own = 1;
                if (!fx[i][len] && nb__cmp_flags[f].kind != NB_FLAG_BOOL) i++; /* and its value */
            }
        }
        if (!own) printf(" %s", fx[i]);
    }
    printf("`\n");
    fflush(stdout);
}

static void nb__cmp_start_json(const nb__cmp *s)
{
    for (int f = 0; f < 2; f++) {
        if (!s->fs[f]) continue;
        fprintf(s->fs[f], "{\"event\":\"start\",\"configs\":%d,\"vary\":", s->ncfg);
        nb_json_write_string(s->fs[f], s->vary);
        fprintf(s->fs[f], ",\"budget_samples\":%zu,\"train_samples\":%zu,\"test_samples\":%zu}\n", s->budget,
                s->train->n, s->test->n);
    }
}

/* Train every configuration in turn, each result written as it comes. */
static int nb__cmp_train_all(nb__cmp *s)
{
    for (int k = 0; k < s->ncfg; k++) {
        if (nb__train_one(s->cmd, &s->cfg[k], s->train, s->test, s->budget, s->ca.quiet || s->ca.json, &s->res[k]))
            return 1;
        for (int f = 0; f < 2; f++) {
            if (!s->fs[f]) continue;
            nb__result_json(s->fs[f], &s->res[k], s->budget);
            fflush(s->fs[f]);
        }
    }
    return NB_CMP_GO;
}

static void nb__cmp_table(const nb__cmp *s)
{
    int w = 6;
    for (int k = 0; k < s->ncfg; k++) w = (int)fmax(w, (double)strlen(s->res[k].label));
    printf("%-*s  %7s  %10s  %9s  %8s  %8s  %10s\n", w, "config", "steps", "final loss", "test loss", "test acc",
           "time", "samples/s");
    for (int k = 0; k < s->ncfg; k++) {
        const nb__result *r = &s->res[k];
        char acc[32];
        if (isfinite(r->test_acc)) snprintf(acc, sizeof acc, "%.2f%%", 100 * r->test_acc);
        else snprintf(acc, sizeof acc, "-");
        printf("%-*s  %7lld  %10.4f  %9.4f  %8s  %7.2fs  %8.0f/s%s\n", w, r->label, r->steps, r->final_loss,
               r->test_loss, acc, r->seconds, r->seconds > 0 ? (double)s->budget / r->seconds : 0,
               r->nonfinite ? "  stopped: loss not finite" : "");
    }
}

/* One SVG of the loss curves. */
static int nb__cmp_svg(const nb__cmp *s)
{
    nb_plot p;
    char title[128];
    snprintf(title, sizeof title, "nabla compare: %s (budget %zu samples)", s->vary, s->budget);
    nb_plot_init(&p, title, "training samples seen", "training loss (mean per 1/100 of the budget)");
    for (int k = 0; k < s->ncfg; k++)
        nb_plot_series(&p, s->res[k].label, s->res[k].x, s->res[k].y, (size_t)s->res[k].n_points);
    FILE *svg = fopen(s->svg_path, "w");
    if (svg) {
        nb_plot_svg(&p, svg, 720, 440);
        if (fclose(svg)) svg = NULL;
    }
    if (!svg) {
        fprintf(stderr, "nabla %s: %s: %s\n", s->cmd, s->svg_path, strerror(errno));
        return 1;
    }
    return NB_CMP_GO;
}

static void nb__cmp_done_json(const nb__cmp *s)
{
    for (int f = 0; f < 2; f++) {
        if (!s->fs[f]) continue;
        fputs("{\"event\":\"done\",\"svg\":", s->fs[f]);
        nb_json_write_string(s->fs[f], s->svg_path);
        fputs("}\n", s->fs[f]);
    }
}

static void nb__cmp_free(nb__cmp *s)
{
    if (s->jl) fclose(s->jl);
    for (int a = 0; a < s->nax; a++) {
        for (int v = 0; v < s->ax[a].n; v++) free((char *)s->ax[a].val[v]);
        free(s->ax[a].flag_buf);
    }
    free(s->res);
    nb_dataset_free(s->train);
    nb_dataset_free(s->test);
}

/* Set up (arguments, configurations, data), train them all, then the table,
 * the SVG and the closing events. */
static int nb__cmp_run(int argc, char **argv)
{
    nb__cmp s = {.cmd = "compare", .out = "runs/compare"};
    int rc = nb__cmp_split(&s, argc, argv);
    if (rc == NB_CMP_GO) rc = nb__cmp_configs(&s);
    if (rc == NB_CMP_GO) rc = nb__cmp_data(&s);
    if (rc == NB_CMP_GO) rc = nb__cmp_open(&s);
    if (rc == NB_CMP_GO) {
        if (!s.ca.json) nb__cmp_header(&s);
        nb__cmp_start_json(&s);
        rc = nb__cmp_train_all(&s);
    }
    if (rc == NB_CMP_GO) {
        if (!s.ca.json) nb__cmp_table(&s);
        rc = nb__cmp_svg(&s);
    }
    if (rc == NB_CMP_GO) {
        nb__cmp_done_json(&s);
        fclose(s.jl);
        s.jl = NULL;
        if (!s.ca.json) printf("wrote %s and %s\n", s.svg_path, s.path);
        rc = 0;
    }
    nb__cmp_free(&s);
    return rc;
}
