/* The recorded graph of a tensor as DOT, SVG (laid out here: one column per
 * depth from the leaves, each leaf just left of its first consumer) or a text
 * table.  Reads the graph only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nabla/graph.h"
#include "nabla/plot.h"

enum { NB__G_MAX = 4096, NB__G_LINES = 5, NB__G_LINE = 160 };

typedef struct {
    const nb_tensor *t;
    int depth, row;
    char line[NB__G_LINES][NB__G_LINE]; /* the box's text */
    int n_lines;
    double x, y, w, h; /* SVG box */
} nb__gnode;

typedef struct {
    nb__gnode *v;
    int n;
    int (*edge)[2]; /* [from, to] */
    int n_edges;
} nb__graph;

static int nb__g_find(const nb__graph *g, const nb_tensor *t)
{
    for (int i = 0; i < g->n; i++)
        if (g->v[i].t == t) return i;
    return -1;
}

/* Inputs before outputs (depth-first post-order from the root). */
static int nb__g_collect(const nb_tensor *root, nb__graph *g)
{
    memset(g, 0, sizeof *g);
    if (!root) return nb__erri("graph: NULL root");
    typedef struct {
        const nb_tensor *t;
        int next;
    } frame;
    frame *st = malloc(NB__G_MAX * sizeof *st);
    g->v = calloc(NB__G_MAX, sizeof *g->v);
    if (!st || !g->v) {
        free(st);
        free(g->v);
        g->v = NULL;
        return nb__erri("graph: out of memory");
    }
    int sp = 0, n_edges = 0;
    st[sp++] = (frame){root, 0};
    while (sp) {
        frame *f = &st[sp - 1];
        const nb__node *nd = f->t->node;
        if (nd && f->next < nd->n_in) {
            const nb_tensor *in = nd->in[f->next++];
            n_edges++;
            if (!in || nb__g_find(g, in) >= 0) continue;
            if (sp == NB__G_MAX) goto too_large;
            st[sp++] = (frame){in, 0};
            continue;
        }
        if (g->n == NB__G_MAX) goto too_large;
        g->v[g->n++].t = f->t;
        sp--;
    }
    free(st);
    g->edge = malloc((size_t)(n_edges ? n_edges : 1) * sizeof *g->edge);
    if (!g->edge) {
        free(g->v);
        g->v = NULL;
        return nb__erri("graph: out of memory");
    }
    for (int i = 0; i < g->n; i++) {
        const nb__node *nd = g->v[i].t->node;
        int d = 0;
        for (int k = 0; nd && k < nd->n_in; k++) {
            int j = nd->in[k] ? nb__g_find(g, nd->in[k]) : -1;
            if (j < 0) continue;
            g->edge[g->n_edges][0] = j;
            g->edge[g->n_edges++][1] = i;
            if (g->v[j].depth + 1 > d) d = g->v[j].depth + 1;
        }
        g->v[i].depth = d;
    }
    /* a leaf sits in the column just before its first consumer (W2 next to
     * the layer that uses it, not with the inputs) */
    for (int i = 0; i < g->n; i++) {
        if (g->v[i].t->node) continue;
        int d = -1;
        for (int e = 0; e < g->n_edges; e++)
            if (g->edge[e][0] == i && (d < 0 || g->v[g->edge[e][1]].depth - 1 < d)) d = g->v[g->edge[e][1]].depth - 1;
        if (d > 0) g->v[i].depth = d;
    }
    return 0;
too_large:
    free(st);
    free(g->v);
    g->v = NULL;
    return nb__erri("graph: more than %d tensors", NB__G_MAX);
}

static void nb__g_free(nb__graph *g)
{
    free(g->v);
    free(g->edge);
}

/* "[1, 2, 3]", "[[1, 2], [3, 4]]" or "0.5" (a scalar) into buf. */
static void nb__g_values(const nb_tensor *t, char *buf, size_t size)
{
    size_t at = 0;
    int w;
#define PUT(...)                                        \
    do {                                                \
        w = snprintf(buf + at, size - at, __VA_ARGS__); \
        if (w < 0 || (size_t)w >= size - at) return;    \
        at += (size_t)w;                                \
    } while (0)
    buf[0] = '\0';
    if (t->ndim == 0) {
        PUT("%.4g", nb_get(t, 0));
        return;
    }
    size_t cols = t->shape[t->ndim - 1], rows = cols ? t->numel / cols : 0;
    int nested = t->ndim == 2;
    PUT("[");
    for (size_t r = 0; r < rows; r++) {
        if (nested) PUT("%s[", r ? ", " : "");
        for (size_t k = 0; k < cols; k++) PUT("%s%.4g", k || (r && !nested) ? ", " : "", nb_get(t, r * cols + k));
        if (nested) PUT("]");
    }
    PUT("]");
#undef PUT
}

static double nb__g_norm(const nb_tensor *t)
{
    double s = 0;
    for (size_t i = 0; i < t->numel; i++) s += nb_get(t, i) * nb_get(t, i);
    return sqrt(s);
}

/* Fill each box's lines: name (= op), shape, value, grad, layer. */
static void nb__g_label(nb__graph *g, const nb_graph_opts *o)
{
    size_t maxv = o && o->max_values ? o->max_values : 8;
    for (int i = 0; i < g->n; i++) {
        nb__gnode *v = &g->v[i];
        const nb_tensor *t = v->t;
        const char *name = NULL;
        for (size_t k = 0; o && k < o->n_names; k++)
            if (o->tensors[k] == t) name = o->names[k];
        const char *kind = t->node ? t->node->op->name : nb_requires_grad(t) ? "param" : "input";
        int n = 0;
        if (name && t->node) snprintf(v->line[n++], NB__G_LINE, "%s = %s", name, kind);
        else snprintf(v->line[n++], NB__G_LINE, "%s", name ? name : kind);
        char shp[96] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%zu", d ? ", " : "", t->shape[d]);
        snprintf(v->line[n++], NB__G_LINE, "%s] %s", shp,
                 t->dtype == NB_F64   ? "f64"
                 : t->dtype == NB_F32 ? "f32"
                                      : "i32");
        char vals[NB__G_LINE - 8];
        if (t->numel <= maxv) {
            nb__g_values(t, vals, sizeof vals);
            snprintf(v->line[n++], NB__G_LINE, "value %s", vals);
        }
        if (t->grad && t->grad->numel == t->numel) {
            if (t->numel <= maxv) {
                nb__g_values(t->grad, vals, sizeof vals);
                snprintf(v->line[n++], NB__G_LINE, "grad %s", vals);
            } else {
                snprintf(v->line[n++], NB__G_LINE, "|grad| %.4g", nb__g_norm(t->grad));
            }
        }
        if (t->node && t->node->site.layer) snprintf(v->line[n++], NB__G_LINE, "%s", t->node->site.layer);
        v->n_lines = n;
    }
}

int nb_graph_retain_grads(nb_tensor *root)
{
    nb__graph g;
    if (nb__g_collect(root, &g)) return -1;
    for (int i = 0; i < g.n; i++)
        if (g.v[i].t->node && nb_requires_grad(g.v[i].t)) nb_retain_grad((nb_tensor *)g.v[i].t);
    int n = g.n;
    nb__g_free(&g);
    return n;
}

static void nb__dot_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
}

static int nb__g_done(FILE *f, nb__graph *g)
{
    nb__g_free(g);
    return ferror(f) ? nb__erri("graph: write error") : 0;
}

int nb_graph_dot(const nb_tensor *root, const nb_graph_opts *o, FILE *f)
{
    nb__graph g;
    if (!f) return nb__erri("graph: NULL file");
    if (nb__g_collect(root, &g)) return -1;
    nb__g_label(&g, o);
    fputs(
        "digraph nabla {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n",
        f);
    if (o && o->title) {
        fputs("  label=\"", f);
        nb__dot_str(f, o->title);
        fputs("\";\n  labelloc=t;\n", f);
    }
    for (int i = 0; i < g.n; i++) {
        const nb__gnode *v = &g.v[i];
        fprintf(f, "  t%d [label=\"", i);
        for (int k = 0; k < v->n_lines; k++) {
            nb__dot_str(f, v->line[k]);
            fputs("\\l", f);
        }
        fprintf(f, "\", fillcolor=\"%s\"%s];\n",
                v->t->node               ? "#dbe9fb"
                : nb_requires_grad(v->t) ? "#fde2c4"
                                         : "#eeeeee",
                i == g.n - 1 ? ", penwidth=2" : "");
    }
    for (int e = 0; e < g.n_edges; e++) fprintf(f, "  t%d -> t%d;\n", g.edge[e][0], g.edge[e][1]);
    fputs("}\n", f);
    return nb__g_done(f, &g);
}

int nb_graph_text(const nb_tensor *root, const nb_graph_opts *o, FILE *f)
{
    nb__graph g;
    if (!f) return nb__erri("graph: NULL file");
    if (nb__g_collect(root, &g)) return -1;
    nb__g_label(&g, o);
    int w0 = 4, w1 = 4, w2 = 5;
    char made[NB__G_LINE];
    for (int i = 0; i < g.n; i++) {
        w0 = (int)fmax(w0, (double)strlen(g.v[i].line[0]));
        w2 = (int)fmax(w2, (double)strlen(g.v[i].line[1]));
    }
    for (int i = 0; i < g.n; i++) { /* "mul(t1, t0)" */
        const nb__node *nd = g.v[i].t->node;
        int at = snprintf(made, sizeof made, "%s", nd ? "(" : "-");
        for (int k = 0; nd && k < nd->n_in && at > 0 && (size_t)at < sizeof made; k++)
            at += snprintf(made + at, sizeof made - (size_t)at, "%st%d", k ? ", " : "", nb__g_find(&g, nd->in[k]));
        if (nd && at > 0 && (size_t)at < sizeof made) snprintf(made + at, sizeof made - (size_t)at, ")");
        w1 = (int)fmax(w1, (double)strlen(made));
    }
    fprintf(f, "%-4s %-*s  %-*s  %-*s  %s\n", "id", w0, "tensor", w1, "from", w2, "shape", "value / gradient");
    for (int i = 0; i < g.n; i++) {
        const nb__gnode *v = &g.v[i];
        const nb__node *nd = v->t->node;
        int at = snprintf(made, sizeof made, "%s", nd ? "(" : "-");
        for (int k = 0; nd && k < nd->n_in && at > 0 && (size_t)at < sizeof made; k++)
            at += snprintf(made + at, sizeof made - (size_t)at, "%st%d", k ? ", " : "", nb__g_find(&g, nd->in[k]));
        if (nd && at > 0 && (size_t)at < sizeof made) snprintf(made + at, sizeof made - (size_t)at, ")");
        char id[16];
        snprintf(id, sizeof id, "t%d", i);
        fprintf(f, "%-4s %-*s  %-*s  %-*s", id, w0, v->line[0], w1, made, v->n_lines > 2 ? w2 : 0, v->line[1]);
        for (int k = 2; k < v->n_lines; k++) fprintf(f, "%s%s", k == 2 ? "  " : "; ", v->line[k]);
        fputc('\n', f);
    }
    return nb__g_done(f, &g);
}

int nb_graph_svg(const nb_tensor *root, const nb_graph_opts *o, FILE *f)
{
    nb__graph g;
    if (!f) return nb__erri("graph: NULL file");
    if (nb__g_collect(root, &g)) return -1;
    nb__g_label(&g, o);
    const double cw = 6.6, lh = 14, pad = 8, gap_x = 48, gap_y = 18, top = o && o->title ? 40 : 16;
    int n_cols = 0;
    for (int i = 0; i < g.n; i++) n_cols = g.v[i].depth + 1 > n_cols ? g.v[i].depth + 1 : n_cols;
    double *col_w = calloc((size_t)n_cols, sizeof *col_w), *col_h = calloc((size_t)n_cols, sizeof *col_h);
    if (!col_w || !col_h) {
        free(col_w);
        free(col_h);
        nb__g_free(&g);
        return nb__erri("graph: out of memory");
    }
    for (int i = 0; i < g.n; i++) { /* box sizes, rows, column sizes */
        nb__gnode *v = &g.v[i];
        size_t chars = 0;
        for (int k = 0; k < v->n_lines; k++) chars = strlen(v->line[k]) > chars ? strlen(v->line[k]) : chars;
        v->w = (double)chars * cw + 2 * pad;
        v->h = v->n_lines * lh + pad;
        col_w[v->depth] = fmax(col_w[v->depth], v->w);
        v->y = col_h[v->depth];
        col_h[v->depth] += v->h + gap_y;
    }
    double W = 16, H = 0;
    for (int c = 0; c < n_cols; c++) H = fmax(H, col_h[c]);
    for (int c = 0; c < n_cols; c++) { /* columns left to right, each centred vertically */
        for (int i = 0; i < g.n; i++)
            if (g.v[i].depth == c) {
                g.v[i].x = W;
                g.v[i].y += top + (H - col_h[c]) / 2;
            }
        W += col_w[c] + gap_x;
    }
    W = W - gap_x + 16;
    H += top;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"monospace\" font-size=\"11\">\n",
            W, H, W, H);
    fputs(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
        "orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n",
        f);
    fprintf(f, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    if (o && o->title) {
        fputs("<text x=\"16\" y=\"22\" font-family=\"sans-serif\" font-size=\"13\" font-weight=\"bold\">", f);
        nb_xml_escape(f, o->title);
        fputs("</text>\n", f);
    }
    for (int e = 0; e < g.n_edges; e++) {
        const nb__gnode *a = &g.v[g.edge[e][0]], *b = &g.v[g.edge[e][1]];
        double x1 = a->x + a->w, y1 = a->y + a->h / 2, x2 = b->x, y2 = b->y + b->h / 2, mx = (x1 + x2) / 2;
        fprintf(f,
                "<path d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"none\" stroke=\"#555\" "
                "marker-end=\"url(#arrow)\"/>\n",
                x1, y1, mx, y1, mx, y2, x2, y2);
    }
    for (int i = 0; i < g.n; i++) {
        const nb__gnode *v = &g.v[i];
        const char *fill = v->t->node ? "#dbe9fb" : nb_requires_grad(v->t) ? "#fde2c4" : "#eeeeee";
        fprintf(f,
                "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"5\" fill=\"%s\" stroke=\"#333\" "
                "stroke-width=\"%d\"/>\n",
                v->x, v->y, v->w, v->h, fill, i == g.n - 1 ? 2 : 1);
        for (int k = 0; k < v->n_lines; k++) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s>", v->x + pad, v->y + pad / 2 + lh * (k + 1) - 3,
                    k == 0 ? " font-weight=\"bold\"" : "");
            nb_xml_escape(f, v->line[k]);
            fputs("</text>\n", f);
        }
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
    free(col_w);
    free(col_h);
    return nb__g_done(f, &g);
}
