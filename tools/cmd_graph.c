/* nabla graph: draw the computational graph that a forward pass records
 * (the drawing lives in the library: nabla/graph.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "nabla/graph.h"
#include "run.h"

static const char nb__graph_usage[] = "usage: nabla graph [EXAMPLE] [OPTIONS]\n"
                                      "\n"
                                      "Record one forward pass, run backward (keeping every gradient), and draw\n"
                                      "the graph: OUT/EXAMPLE.svg (laid out by nabla, no Graphviz needed),\n"
                                      "OUT/EXAMPLE.dot (for `dot -Tsvg`), and the same as a table on stdout.\n"
                                      "Each tensor shows the op that made it, its shape and, when it has at\n"
                                      "most --max-values elements, its value and its gradient.\n"
                                      "\n"
                                      "examples:\n"
                                      "  sum_wx      y = sum(w * x), x = [1, 2, 3], w = [0.5, -0.3, 0.2] (default)\n"
                                      "  two_layer   the study guide's 2-layer network on one sample: 3 inputs,\n"
                                      "              2 sigmoid units, 2 classes, softmax cross-entropy\n"
                                      "  mlp         the model of `nabla train` (same --model/--act/... flags) on\n"
                                      "              a batch of 4 random inputs\n"
                                      "options:\n"
                                      "  --out DIR            output folder (runs/graph)\n"
                                      "  --max-values N       show values of tensors up to N elements (8)\n"
                                      "  --quiet              no table on stdout\n"
                                      "From C: nb_graph_svg(tensor, &opts, file), nb_graph_dot, nb_graph_text.\n";

static char nb__graph_usage_full[6144];
static int nb__graph_run(int argc, char **argv);

const nb_cli_cmd nb_cmd_graph = {"graph", "draw the recorded computational graph (SVG, DOT) with values and gradients",
                                 nb__graph_usage_full, nb__graph_run};

__attribute__((constructor)) static void nb__graph_usage_init(void)
{
    snprintf(nb__graph_usage_full, sizeof nb__graph_usage_full, "%s\nmlp takes these flags:\n%s", nb__graph_usage,
             nb_run_flags_help());
}

enum { NB__GN = 16 };

typedef struct {
    const nb_tensor *t[NB__GN * 4];
    const char *name[NB__GN * 4];
    size_t n;
} nb__names;

static void nb__name(nb__names *nm, const nb_tensor *t, const char *name)
{
    if (t && nm->n < sizeof nm->t / sizeof nm->t[0]) {
        nm->t[nm->n] = t;
        nm->name[nm->n++] = name;
    }
}

/* A long-lived tensor from values. */
static nb_tensor *nb__param(int ndim, const size_t *shape, double *v, int grad)
{
    nb_tensor *t = nb_tensor_from(NB_F64, ndim, shape, v, NB_COPY);
    if (t && grad) nb_tensor_set_requires_grad(t, 1);
    return t;
}

/* graph's own flags (the run flags follow, for mlp). */
typedef struct {
    const char *out;
    long max_values;
    int quiet;
} nb__graph_args;

static const nb_flag nb__graph_flags[] = {
    NB_FLAG_STRING("--out", nb__graph_args, out, "DIR", NULL),
    NB_FLAG_INT("--max-values", nb__graph_args, max_values, 1, 1000, "N", NULL),
    NB_FLAG_BOOL("--quiet", nb__graph_args, quiet, NULL),
};

static int nb__graph_run(int argc, char **argv)
{
    const char *cmd = "graph", *ex = "sum_wx";
    nb__graph_args ga = {.out = "runs/graph", .max_values = 8};
    nb_run_cfg r;
    nb_run_defaults(&r);
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__graph_flags, &ga), NB_RUN_FLAG_TABLE(&r)};
    int n_pos, pk = nb_flags_parse(cmd, nb__graph_usage_full, tabs, 2, argc, argv, &n_pos);
    if (pk != NB_FLAGS_OK) return pk == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos > 1) return nb_flags_unexpected(cmd, argv[2]);
    if (n_pos) ex = argv[1];
    const char *out = ga.out;
    long max_values = ga.max_values;
    int quiet = ga.quiet;
    if (strcmp(ex, "sum_wx") && strcmp(ex, "two_layer") && strcmp(ex, "mlp"))
        return nb_cli_usage_error(cmd, "unknown example '%s' (sum_wx, two_layer or mlp)", ex);
    if (nb_run_finish(cmd, &r)) return 2;
    if (nb_out_dir(out)) return nb_cli_usage_error(cmd, "--out %s: cannot write there (%s)", out, strerror(errno));

    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *keep[8] = {0}; /* long-lived tensors to free */
    nb_model *m = NULL;
    nb__names nm = {0};
    nb_tensor *root = NULL;
    char title[160];
    int rc = 1;
    if (!c) goto out;
    if (!strcmp(ex, "sum_wx")) {
        nb_tensor *x = keep[0] = nb__param(1, (size_t[]){3}, (double[]){1, 2, 3}, 0);
        nb_tensor *w = keep[1] = nb__param(1, (size_t[]){3}, (double[]){0.5, -0.3, 0.2}, 1);
        nb_tensor *wx = nb_mul(c, w, x);
        root = nb_sum(c, wx, NULL, 0, 0);
        nb__name(&nm, x, "x"), nb__name(&nm, w, "w"), nb__name(&nm, wx, "w*x"), nb__name(&nm, root, "y");
        snprintf(title, sizeof title, "y = sum(w * x)");
    } else if (!strcmp(ex, "two_layer")) {
        /* z1 = x W1 + b1, a1 = σ(z1), z2 = a1 W2 + b2, L = cross_entropy(z2, t) */
        nb_tensor *x = keep[0] = nb__param(2, (size_t[]){1, 3}, (double[]){1.0, -2.0, 0.5}, 0);
        nb_tensor *W1 = keep[1] = nb__param(2, (size_t[]){3, 2}, (double[]){0.2, -0.4, 0.1, 0.3, -0.5, 0.6}, 1);
        nb_tensor *b1 = keep[2] = nb__param(1, (size_t[]){2}, (double[]){0.1, -0.1}, 1);
        nb_tensor *W2 = keep[3] = nb__param(2, (size_t[]){2, 2}, (double[]){0.7, -0.2, -0.3, 0.5}, 1);
        nb_tensor *b2 = keep[4] = nb__param(1, (size_t[]){2}, (double[]){0.0, 0.2}, 1);
        int32_t label = 1;
        nb_tensor *t = keep[5] = nb_tensor_from(NB_I32, 1, (size_t[]){1}, &label, NB_COPY);
        nb_tensor *xW1 = nb_matmul(c, x, W1, 0, 0), *z1 = nb_add(c, xW1, b1), *a1 = nb_sigmoid(c, z1);
        nb_tensor *a1W2 = nb_matmul(c, a1, W2, 0, 0), *z2 = nb_add(c, a1W2, b2);
        root = nb_cross_entropy(c, z2, t, NB_MEAN, 0.0);
        const nb_tensor *ts[] = {x, W1, b1, W2, b2, t, z1, a1, z2, root};
        static const char *const names[] = {"x", "W1", "b1", "W2", "b2", "t (label)", "z1", "a1", "z2", "L"};
        for (int k = 0; k < 10; k++) nb__name(&nm, ts[k], names[k]);
        snprintf(title, sizeof title, "z1 = x W1 + b1, a1 = sigmoid(z1), z2 = a1 W2 + b2, L = cross_entropy(z2, t)");
    } else {
        nb_rng rng;
        nb_rng_seed(&rng, r.seed);
        if (!(m = nb_run_model(cmd, &r, &rng))) {
            rc = 2;
            goto out;
        }
        size_t in = r.mlp.widths[0];
        nb_tensor *x = nb_normal(c, r.dtype, 2, (size_t[]){4, in}, 0, 1, &rng);
        int32_t lab[4] = {0, 1, 2, 3};
        for (int k = 0; k < 4; k++) lab[k] %= (int32_t)r.mlp.widths[r.mlp.n_widths - 1];
        nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){4}, lab, NB_COPY);
        nb_tensor *logits = nb_model_forward(m, c, x, &rng);
        root = nb_cross_entropy(c, logits, y, NB_MEAN, 0.0);
        for (size_t k = 0; k < nb_model_n_entries(m); k++) {
            const nb_model_entry *e = nb_model_entry_at(m, k);
            if (e->trainable) nb__name(&nm, e->t, e->name);
        }
        nb__name(&nm, x, "x"), nb__name(&nm, y, "labels"), nb__name(&nm, root, "loss");
        char desc[256];
        snprintf(title, sizeof title, "%s on a batch of 4", nb_model_describe(m, desc, sizeof desc));
    }
    if (!root || nb_graph_retain_grads(root) < 0 || nb_backward(c, root, NULL)) {
        fprintf(stderr, "nabla graph: %s\n", nb_errmsg());
        goto out;
    }
    nb_graph_opts go = {
        .max_values = (size_t)max_values, .tensors = nm.t, .names = nm.name, .n_names = nm.n, .title = title};
    char path[2][1100];
    snprintf(path[0], sizeof path[0], "%s/%s.svg", out, ex);
    snprintf(path[1], sizeof path[1], "%s/%s.dot", out, ex);
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(path[k], "w");
        int bad = !f || (k == 0 ? nb_graph_svg(root, &go, f) : nb_graph_dot(root, &go, f));
        if (f && fclose(f)) bad = 1;
        if (bad) {
            fprintf(stderr, "nabla graph: %s: %s\n", path[k], f ? nb_errmsg() : strerror(errno));
            goto out;
        }
    }
    if (!quiet) {
        printf("%s\n", title);
        if (nb_graph_text(root, &go, stdout)) goto out;
        printf("wrote %s and %s\n", path[0], path[1]);
    }
    rc = 0;
out:
    nb_ctx_free(c);
    for (int k = 0; k < 8; k++) nb_tensor_free(keep[k]);
    nb_model_free(m);
    return rc;
}
