/* Reverse-mode autograd.  Ops record nodes on the context's tape in the order
 * they run, which is already a topological order: backward walks the tape once
 * from the root towards the start, and a node takes part only if a gradient
 * reached it (its gout is set), so no visited flags survive between passes. */
#include "../internal.h"
#include "../kernels/kernels.h"

#include <stdlib.h>

/* A gradient buffer for a leaf that has hooks: hooks see the whole gradient
 * of this pass before it is added to .grad. */
typedef struct nb__leafbuf {
    nb_tensor *leaf, *g;
    struct nb__leafbuf *next;
} nb__leafbuf;

int nb_tensor_set_requires_grad(nb_tensor *t, int on)
{
    if (!t) return nb__erri("requires_grad: NULL tensor");
    if (t->node)
        return nb__erri("requires_grad: only leaves can be changed (this tensor was made by %s)", t->node->op->name);
    if (on && !nb__is_float(t->dtype))
        return nb__erri("requires_grad: a %s tensor %s cannot require grad", nb_dtype_name(t->dtype), nb__shp(t));
    if (on) t->flags |= NB__F_REQUIRES_GRAD;
    else t->flags &= ~(unsigned)NB__F_REQUIRES_GRAD;
    return 0;
}

int nb_requires_grad(const nb_tensor *t) { return t && (t->flags & NB__F_REQUIRES_GRAD) != 0; }
int nb_is_leaf(const nb_tensor *t) { return t && !t->node; }
nb_tensor *nb_grad(const nb_tensor *t) { return t ? t->grad : NULL; }

int nb_retain_grad(nb_tensor *t)
{
    if (!t) return nb__erri("retain_grad: NULL tensor");
    if (!nb_requires_grad(t)) return nb__erri("retain_grad: tensor %s does not require grad", nb__shp(t));
    t->flags |= NB__F_RETAIN_GRAD;
    return 0;
}

void nb_zero_grad(nb_tensor *t)
{
    if (t && t->grad) memset(t->grad->data, 0, t->grad->numel * nb_dtype_size(t->grad->dtype));
}

nb_tensor *nb_detach(nb_ctx *c, nb_tensor *t)
{
    if (!c || !t) return nb__null_arg(__func__);
    return nb__view(c, t, t->ndim, t->shape, 0);
}

int nb_register_hook(nb_tensor *t, nb_hook_fn fn, void *user)
{
    if (!t || !fn) return nb__erri("register_hook: NULL tensor or function");
    if (!nb_requires_grad(t)) return nb__erri("register_hook: tensor %s does not require grad", nb__shp(t));
    nb__hook *h = t->ctx ? nb__arena_alloc(t->ctx, sizeof *h) : malloc(sizeof *h);
    if (!h) return nb__erri("register_hook: out of memory");
    h->fn = fn;
    h->user = user;
    h->heap = t->ctx == NULL;
    h->next = NULL;
    nb__hook **tail = &t->hooks; /* run in registration order */
    while (*tail) tail = &(*tail)->next;
    *tail = h;
    return 0;
}

/* Where ops come from (see nb__site in internal.h). */
static _Thread_local nb__site nb__cur_site;

void nb__here(const char *file, int line)
{
    nb__cur_site.file = file;
    nb__cur_site.line = line;
}
nb__site nb__site_get(void) { return nb__cur_site; }
void nb__site_set(nb__site s) { nb__cur_site = s; }
void nb__site_layer(const char *layer) { nb__cur_site.layer = layer; }

int nb__record(nb_ctx *c, const nb__opdef *op, nb_tensor *out, int n_in, nb_tensor *const *in, nb__node **node)
{
    *node = NULL;
    if (c->anomaly_policy && !c->in_backward && nb__anomaly_forward(c, op->name, out, n_in, in, nb__cur_site))
        return -1;
    if (!c->grad_enabled) return 0;
    bool need = false;
    for (int i = 0; i < n_in; i++) {
        if (!in[i] || !nb_requires_grad(in[i])) continue;
        if (in[i]->node && in[i]->ctx != c)
            return nb__erri("%s: an input was made in another context; use one context per graph", op->name);
        need = true;
    }
    if (!need) return 0;
    nb__node *n = nb__arena_alloc(c, sizeof *n);
    if (!n) return -1;
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    n->n_in = n_in;
    n->in = n_in <= NB__NODE_INLINE_IN ? n->inline_in : nb__arena_alloc(c, (size_t)n_in * sizeof *n->in);
    if (!n->in) return -1;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    n->id = c->n_nodes++;
    n->site = nb__cur_site;
    n->prev = c->tape;
    c->tape = n;
    out->node = n;
    out->flags |= NB__F_REQUIRES_GRAD;
    *node = n;
    return 0;
}

static nb_tensor *nb__leaf_grad(nb_tensor *x)
{
    if (x->grad) return x->grad;
    x->grad = x->ctx ? nb__zeros_like(x->ctx, x) : nb_tensor_new(x->dtype, x->ndim, x->shape);
    if (!x->grad) nb__err("backward: out of memory for the gradient of a %s tensor", nb__shp(x));
    return x->grad;
}

nb_tensor *nb__gbuf(nb_ctx *c, nb_tensor *x, int *err)
{
    if (!x || !nb_requires_grad(x)) return NULL;
    if (x->node) {
        if (!x->node->gout && !(x->node->gout = nb__zeros_like(c, x))) *err = -1;
        return x->node->gout;
    }
    if (!x->hooks) {
        nb_tensor *g = nb__leaf_grad(x);
        if (!g) *err = -1;
        return g;
    }
    for (nb__leafbuf *b = c->pass_leaves; b; b = b->next)
        if (b->leaf == x) return b->g;
    nb__leafbuf *b = nb__arena_alloc(c, sizeof *b);
    nb_tensor *g = b ? nb__zeros_like(c, x) : NULL;
    if (!g) {
        *err = -1;
        return NULL;
    }
    b->leaf = x;
    b->g = g;
    b->next = c->pass_leaves;
    c->pass_leaves = b;
    return g;
}

/* The gradient accumulated for x so far in this pass (NULL when none yet). */
static nb_tensor *nb__gbuf_peek(nb_ctx *c, const nb_tensor *x)
{
    if (!x || !nb_requires_grad(x)) return NULL;
    if (x->node) return x->node->gout;
    if (!x->hooks) return x->grad;
    for (nb__leafbuf *b = c->pass_leaves; b; b = b->next)
        if (b->leaf == x) return b->g;
    return NULL;
}

/* Anomaly mode, after n's backward: the gradient of each input (checked
 * after every node, so a non-finite one was made by this node). */
static int nb__anomaly_backward(nb_ctx *c, const nb__node *n)
{
    for (int i = 0; i < n->n_in; i++) {
        nb_tensor *g = nb__gbuf_peek(c, n->in[i]);
        if (g && nb__anomaly_check(c, n->op->name, 1, i, g, n->n_in, n->in, n->out, n->site)) return -1;
    }
    return 0;
}

static int nb__run_hooks(nb_tensor *t, nb_tensor *g)
{
    for (nb__hook *h = t->hooks; h; h = h->next)
        if (h->fn(t, g, h->user) != 0)
            return nb__erri("backward: a gradient hook on a %s tensor stopped the pass", nb__shp(t));
    return 0;
}

/* dst += src (same dtype and element count). */
static void nb__acc(nb_tensor *dst, const nb_tensor *src)
{
    if (dst->dtype == NB_F32) nb_k_axpy_f32(dst->data, 1.0f, src->data, dst->numel);
    else nb_k_axpy_f64(dst->data, 1.0, src->data, dst->numel);
}

int nb_backward(nb_ctx *c, nb_tensor *root, const nb_tensor *grad_out)
{
    return nb_backward_ex(c, root, grad_out, NULL);
}

int nb_backward_ex(nb_ctx *c, nb_tensor *root, const nb_tensor *grad_out, const nb_backward_opts *opts)
{
    if (!c) return nb__erri("backward: NULL context");
    if (!root) return -1; /* an earlier op failed; keep its message */
    if (!nb_requires_grad(root))
        return nb__erri("backward: the %s tensor does not require grad (no input required grad, or grad mode was off)",
                        nb__shp(root));
    if (root->node && root->ctx != c) return nb__erri("backward: the root was made in another context");
    if (root->node && root->node->released)
        return nb__erri(
            "backward: the graph of %s was already freed by a backward pass; use retain_graph to backward twice",
            root->node->op->name);
    if (grad_out) {
        if (!nb_same_shape(grad_out, root) || grad_out->dtype != root->dtype)
            return nb__erri("backward: upstream gradient is %s %s but the root is %s %s", nb__shp(grad_out),
                            nb_dtype_name(grad_out->dtype), nb__shp(root), nb_dtype_name(root->dtype));
    } else if (root->numel != 1) {
        return nb__erri("backward: the root %s is not a scalar; pass an upstream gradient", nb__shp(root));
    }
    bool retain = opts && opts->retain_graph;

    for (nb__node *n = c->tape; n; n = n->prev) n->gout = NULL;
    c->pass_leaves = NULL;
    int err = 0;
    nb_tensor *g0 = nb__gbuf(c, root, &err);
    if (!g0) return -1;
    if (grad_out) nb__acc(g0, grad_out);
    else nb_set(g0, 0, nb_get(g0, 0) + 1.0);
    if (c->anomaly_policy && grad_out && root->node) {
        const nb__node *r = root->node;
        if (nb__anomaly_check(c, r->op->name, 1, -1, g0, r->n_in, r->in, r->out, r->site)) return -1;
    }

    bool was_in_backward = c->in_backward;
    c->in_backward = true;
    for (nb__node *n = root->node; n && !err; n = n->prev) {
        if (!n->gout) continue;
        if (n->released) {
            err = nb__erri("backward: %s's saved buffers were freed by an earlier backward; use retain_graph",
                           n->op->name);
            break;
        }
        if (n->out->hooks && nb__run_hooks(n->out, n->gout)) {
            err = -1;
            break;
        }
        if (c->anomaly_policy && n->out->hooks &&
            nb__anomaly_check(c, n->op->name, 1, -1, n->gout, n->n_in, n->in, n->out, n->site)) {
            err = -1;
            break;
        }
        if (n->out->flags & NB__F_RETAIN_GRAD) {
            if (!n->out->grad && !(n->out->grad = nb__zeros_like(c, n->out))) {
                err = -1;
                break;
            }
            nb__acc(n->out->grad, n->gout);
        }
        if (n->op->backward(c, n) != 0) err = -1;
        else if (c->anomaly_policy && nb__anomaly_backward(c, n)) err = -1;
        if (!retain) n->released = true;
    }
    for (nb__leafbuf *b = c->pass_leaves; b && !err; b = b->next) {
        if (nb__run_hooks(b->leaf, b->g)) err = -1;
        else if (c->anomaly_policy && nb__anomaly_check(c, "hook", 1, -1, b->g, 0, NULL, NULL, (nb__site){0})) err = -1;
        else if (!nb__leaf_grad(b->leaf)) err = -1;
        else nb__acc(b->leaf->grad, b->g);
    }
    c->pass_leaves = NULL;
    c->in_backward = was_in_backward;
    return err;
}
