/* nabla/graph.h: the recorded graph as text, DOT and SVG. */
#include <string.h>

#include "nabla/graph.h"
#include "t.h"
#include "t_cli.h"

/* Write with fn into a memory buffer; returns it (malloc'd) or NULL. */
static char *to_string(int (*fn)(const nb_tensor *, const nb_graph_opts *, FILE *), const nb_tensor *root,
                       const nb_graph_opts *o, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    *rc = fn(root, o, f);
    fclose(f);
    return buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

TEST(graph, sum_wx_values_gradients_edges)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NB_F64, 1, (size_t[]){3}, (double[]){1, 2, 3}, NB_COPY);
    nb_tensor *w = nb_tensor_from(NB_F64, 1, (size_t[]){3}, (double[]){0.5, -0.3, 0.2}, NB_COPY);
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor *wx = nb_mul(c, w, x), *y = nb_sum(c, wx, NULL, 0, 0);
    CHECK(nb_graph_retain_grads(y) == 4);
    CHECK_OK(nb_backward(c, y, NULL) == 0);
    const nb_tensor *ts[] = {x, w, y};
    const char *names[] = {"x", "w", "y"};
    nb_graph_opts o = {.tensors = ts, .names = names, .n_names = 3, .title = "y = sum(w * x)"};
    int rc = -1;
    char *txt = to_string(nb_graph_text, y, &o, &rc);
    CHECK(rc == 0 && txt);
    CHECK_MSG(txt && strstr(txt, "value [0.5, -0.6, 0.6]; grad [1, 1, 1]") && strstr(txt, "y = sum") &&
                  strstr(txt, "grad [1, 2, 3]") && strstr(txt, "value 0.5; grad 1"),
              "%s", txt ? txt : "");
    free(txt);
    char *dot = to_string(nb_graph_dot, y, &o, &rc);
    CHECK(rc == 0 && dot && !strncmp(dot, "digraph", 7));
    CHECK_MSG(count(dot, " -> ") == 3 && count(dot, "[label=") == 4, "%s", dot ? dot : "");
    free(dot);
    char *svg = to_string(nb_graph_svg, y, &o, &rc);
    CHECK(rc == 0 && svg && !strncmp(svg, "<svg", 4) && strstr(svg, "</svg>\n"));
    CHECK_MSG(count(svg, "<rect x=") == 4 && count(svg, "marker-end") == 3 && strstr(svg, "w*x") == NULL, "%s",
              svg ? svg : "");
    free(svg);
    /* values hidden above max_values; a leaf alone is a graph of one */
    o.max_values = 2;
    txt = to_string(nb_graph_text, y, &o, &rc);
    CHECK_MSG(txt && !strstr(txt, "[0.5, -0.6, 0.6]") && strstr(txt, "|grad| 1.732"), "%s", txt ? txt : "");
    free(txt);
    txt = to_string(nb_graph_text, x, NULL, &rc);
    CHECK(rc == 0 && txt && strstr(txt, "t0   input"));
    free(txt);
    CHECK(nb_graph_dot(NULL, NULL, stdout) == -1 && strstr(nb_errmsg(), "NULL"));
    nb_ctx_free(c);
    nb_tensor_free(x);
    nb_tensor_free(w);
}

TEST(graph, cli_examples)
{
    char dir[] = "/tmp/nabla-graph-XXXXXX", args[256], *out;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(args, sizeof args, "graph two_layer --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    /* δ2 = softmax(z2) - onehot(t) is the gradient at z2 */
    CHECK_MSG(out && strstr(out, "z2 = add") && strstr(out, "grad [[0.4921, -0.4921]]"), "%s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, "graph mlp --model 784-16-10 --out %s --quiet", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/mlp.svg", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK(t_cli_run("graph nosuch", &out) == 2);
    free(out);
    t_rmrf(dir);
}
