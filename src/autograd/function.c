/* Custom differentiable functions, like torch.autograd.Function.
 * nb_apply runs fn->forward with grad mode off (ops inside record nothing) and
 * records ONE node for the result.  Its backward calls fn->backward, also with
 * grad mode off, checks each gradient it returns against its input's shape and
 * dtype, and accumulates it into that input's gradient.  The nb_fnctx (user
 * pointer, saved tensors) and the node's opdef, named after the function, live
 * in the arena (node->saved), so they die with the context's next reset. */
#include "../internal.h"
#include "../kernels/kernels.h"

#define NB__FN_MAX_SAVED 8

struct nb_fnctx {
    nb_ctx *c;
    const nb_function *fn;
    const char *name; /* fn->name, or "function" */
    void *user;
    int n_in;
    nb_tensor **in; /* [n_in], the inputs given to nb_apply */
    bool grad_on;   /* grad mode when nb_apply was called */
    int n_saved;
    nb_tensor *saved[NB__FN_MAX_SAVED];
};

nb_ctx *nb_fn_ctx(nb_fnctx *fc) { return fc ? fc->c : NULL; }
void *nb_fn_user(nb_fnctx *fc) { return fc ? fc->user : NULL; }

int nb_fn_save(nb_fnctx *fc, nb_tensor *t)
{
    if (!fc) return nb__erri("nb_fn_save: NULL function context");
    if (!t) return -1; /* an op inside forward failed; keep its message */
    if (fc->n_saved >= NB__FN_MAX_SAVED)
        return nb__erri("%s: nb_fn_save: at most %d tensors can be saved", fc->name, NB__FN_MAX_SAVED);
    fc->saved[fc->n_saved++] = t;
    return 0;
}

nb_tensor *nb_fn_saved(nb_fnctx *fc, int i)
{
    if (!fc) return nb__err("nb_fn_saved: NULL function context");
    if (i < 0 || i >= fc->n_saved)
        return nb__err("%s: nb_fn_saved: no saved tensor %d (%d saved)", fc->name, i, fc->n_saved);
    return fc->saved[i];
}

int nb_fn_needs_grad(nb_fnctx *fc, int i)
{
    return fc && fc->grad_on && i >= 0 && i < fc->n_in && nb_requires_grad(fc->in[i]);
}

/* The user's code runs with a clear error message, so a failure it reports is
 * told apart from an older message; the older one comes back on success (a
 * failed op earlier in the pass must still be reported at the loss). */
typedef struct {
    char msg[512];
} nb__errsave;

static void nb__err_stash(nb__errsave *s)
{
    snprintf(s->msg, sizeof s->msg, "%s", nb_errmsg());
    nb_clear_error();
}

static void nb__err_restore(const nb__errsave *s)
{
    if (s->msg[0]) nb__err("%s", s->msg);
}

/* Prefix the current error message with "<name>: <what>: ", keeping the cause. */
static void nb__fn_wrap_error(const char *name, const char *what)
{
    char cause[400];
    snprintf(cause, sizeof cause, "%s", nb_errmsg());
    nb__err("%s: %s%s%s", name, what, cause[0] ? ": " : "", cause);
}

static int nb__fn_backward(nb_ctx *c, nb__node *n)
{
    nb_fnctx *fc = n->saved;
    if (!fc->fn->backward) return nb__erri("%s: the function has no backward", fc->name);
    nb_tensor **gin = nb__arena_alloc(c, (size_t)(n->n_in > 0 ? n->n_in : 1) * sizeof *gin); /* [n_in] */
    if (!gin) return -1;
    for (int i = 0; i < n->n_in; i++) gin[i] = NULL;
    nb__errsave old;
    nb__err_stash(&old);
    int prev = nb_set_grad_enabled(c, 0);
    int rc = fc->fn->backward(fc, n->gout, gin, n->n_in);
    nb_set_grad_enabled(c, prev);
    /* An op that failed inside backward and left a needed gradient NULL is a
     * failure too, even if backward forgot to report it. */
    bool lost = false;
    for (int i = 0; i < n->n_in && nb_errmsg()[0]; i++) lost = lost || (!gin[i] && nb_requires_grad(n->in[i]));
    if (rc != 0 || lost) {
        nb__fn_wrap_error(fc->name, "backward failed");
        return -1;
    }
    nb__err_restore(&old);
    int err = 0;
    for (int i = 0; i < n->n_in && !err; i++) {
        nb_tensor *x = n->in[i], *g = gin[i];
        if (!g) continue;
        if (!nb_same_shape(g, x) || g->dtype != x->dtype)
            return nb__erri("%s: backward returned a %s %s gradient for input %d, which is %s %s", fc->name,
                            nb_dtype_name(g->dtype), nb__shp(g), i, nb_dtype_name(x->dtype), nb__shp(x));
        nb_tensor *gx = nb__gbuf(c, x, &err); /* x's shape, or NULL: x needs no gradient */
        if (!gx) continue;
        if (x->dtype == NB_F32) nb_k_axpy_f32(gx->data, 1.0f, g->data, x->numel);
        else nb_k_axpy_f64(gx->data, 1.0, g->data, x->numel);
    }
    return err;
}

/* A copy of s in the arena (NULL on OOM). */
static const char *nb__arena_strdup(nb_ctx *c, const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = nb__arena_alloc(c, len);
    if (d) memcpy(d, s, len);
    return d;
}

nb_tensor *nb_apply(nb_ctx *c, const nb_function *fn, int n_in, nb_tensor *const *in, void *user)
{
    if (!c) return nb__err("apply: NULL context");
    if (!fn || !fn->forward) return nb__err("apply: NULL function or forward");
    const char *name = fn->name ? fn->name : "function";
    if (n_in < 0 || (n_in > 0 && !in)) return nb__err("%s: bad inputs (n_in %d, in %p)", name, n_in, (const void *)in);
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL; /* an earlier op failed; keep its message */

    nb_fnctx *fc = nb__arena_alloc(c, sizeof *fc);
    nb_tensor **ins = nb__arena_alloc(c, (size_t)(n_in > 0 ? n_in : 1) * sizeof *ins); /* [n_in] */
    if (!fc || !ins) return NULL;
    memset(fc, 0, sizeof *fc);
    for (int i = 0; i < n_in; i++) ins[i] = in[i];
    fc->c = c;
    fc->fn = fn;
    fc->name = name;
    fc->user = user;
    fc->n_in = n_in;
    fc->in = ins;
    fc->grad_on = nb_grad_enabled(c);

    nb__errsave old;
    nb__err_stash(&old);
    nb__site site = nb__site_get(); /* the caller's line: ops inside forward note their own */
    int prev = nb_set_grad_enabled(c, 0);
    nb_tensor *r = fn->forward(fc, ins, n_in);
    nb_set_grad_enabled(c, prev);
    nb__site_set(site);
    if (!r) {
        nb__fn_wrap_error(name, "forward failed");
        return NULL;
    }
    nb__err_restore(&old);
    /* A fresh struct over the result's data: forward may return one of its
     * inputs or a long-lived tensor, whose history must not change. */
    nb_tensor *y = nb__view(c, r, r->ndim, r->shape, 0);
    if (!y) return NULL;
    if (!nb__is_float(y->dtype)) return y; /* int32 results are not differentiable */

    /* Record only if some input needs a gradient; name the node after fn. */
    bool need = false;
    for (int i = 0; i < n_in; i++) need = need || nb_requires_grad(ins[i]);
    if (!need || !fc->grad_on) return y;
    nb__opdef *op = nb__arena_alloc(c, sizeof *op);
    if (!op || !(op->name = nb__arena_strdup(c, name))) return NULL;
    op->backward = nb__fn_backward;
    fc->name = op->name;
    nb__node *n;
    if (nb__record(c, op, y, n_in, ins, &n)) return NULL;
    if (n) n->saved = fc;
    return y;
}
