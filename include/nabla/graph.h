/* nabla/graph.h — the computational graph a forward pass recorded, drawn.
 *
 *   nb_tensor *y = nb_sum(c, nb_mul(c, w, x), NULL, 0, 0);
 *   nb_graph_retain_grads(y);            // keep the intermediate gradients too
 *   nb_backward(c, y, NULL);
 *   const nb_tensor *ts[] = {w, x};  const char *nm[] = {"w", "x"};
 *   nb_graph_opts o = {.tensors = ts, .names = nm, .n_names = 2};
 *   nb_graph_svg(y, &o, f);              // or nb_graph_dot / nb_graph_text
 *
 * Every tensor reachable from the root through the recorded ops is one box:
 * its name (given, else the op that made it, else "input"/"param" for a
 * leaf), shape and dtype, and for tensors of at most max_values elements
 * the forward value and the gradient (when one is there: a leaf that
 * requires grad after a backward, or any tensor kept by nb_retain_grad).
 * Edges go from each input to the op's output.  The SVG is laid out here
 * (columns by depth from the leaves), so no Graphviz is needed; the DOT
 * can be given to `dot -Tsvg` for Graphviz's own layout.  The writers read
 * the graph only; they need it until the context is reset (a backward that
 * released the graph still leaves it readable). */
#ifndef NABLA_GRAPH_H
#define NABLA_GRAPH_H

#include <stdio.h>

#include "nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_graph_opts {
    size_t max_values;               /* show values of tensors up to this many elements; 0 = 8 */
    const nb_tensor *const *tensors; /* optional names for some tensors ... */
    const char *const *names;        /* ... names[i] for tensors[i] */
    size_t n_names;
    const char *title; /* SVG title; NULL = none */
} nb_graph_opts;

/* nb_retain_grad on every non-leaf tensor of root's graph that requires
 * grad, so that a following backward keeps all their gradients.  Returns
 * the number of tensors in the graph, or -1 (nb_errmsg) on a graph too
 * large (over 4096 tensors) or no memory. */
NB_API int nb_graph_retain_grads(nb_tensor *root);
/* Graphviz DOT, SVG, or a plain-text table (one line per tensor, inputs
 * first) of root's graph, written to f.  opts may be NULL.  0, or -1
 * (nb_errmsg) on a NULL root, a graph over 4096 tensors, no memory or a
 * write error. */
NB_API int nb_graph_dot(const nb_tensor *root, const nb_graph_opts *opts, FILE *f);
NB_API int nb_graph_svg(const nb_tensor *root, const nb_graph_opts *opts, FILE *f);
NB_API int nb_graph_text(const nb_tensor *root, const nb_graph_opts *opts, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
