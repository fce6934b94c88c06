/* Sequential models: layer list, named entries in flat buffers, forward. */
#include "../internal.h"
#include "nabla/nn.h"
#include "../core/pool.h"
#include "nn_internal.h"
#include "conv_layers.h"
#include "../kernels/linear.h"

#include <math.h>
#include <stdlib.h>

enum { L_LINEAR, L_ACT, L_BN, L_LN, L_DROPOUT, L_FLATTEN, L_RESIDUAL, L_EXT };
static const char *const nb__layer_kinds[] = {"linear",  "act",     "batchnorm1d", "layernorm",
                                              "dropout", "flatten", "residual",    "ext"};

typedef struct {
    int kind, parent; /* parent: enclosing residual layer, -1 at top level */
    int top;          /* the top-level layer it belongs to */
    size_t in, out;
    nb_act act;
    double p, eps, momentum;
    int e_w, e_b, e_rm, e_rv, e_nbt, e_proj; /* entry indices, -1 = none */
    nb__ext *ext;                            /* L_EXT: the extension layer (owned) */
    size_t img[3], img_stride;               /* L_RESIDUAL over images: the input [C, H, W] and the stride of
                                  its 1x1 convolution projection (e_proj 4-D) */
    nb_tensor *last_out;
    char name[80]; /* "layers.2 (linear)": anomaly reports (set at finalize) */
} nb__layer;

typedef struct {
    char name[128];
    int ndim;
    size_t shape[4];
    int trainable;
} nb__decl;

/* Its elements, SIZE_MAX when they overflow (nb__check_storage refuses those). */
static size_t nb__decl_numel(const nb__decl *d)
{
    size_t n = 1;
    for (int i = 0; i < d->ndim; i++) n = d->shape[i] && n > SIZE_MAX / d->shape[i] ? SIZE_MAX : n * d->shape[i];
    return n;
}

struct nb_model {
    nb_dtype dt;
    nb__layer *layers;
    int n_layers, cap_layers;
    nb__decl *decls;
    int n_decls, cap_decls;
    int open[8], n_open;    /* residual blocks being built */
    size_t width, in_width; /* current output width; input width (0 = unknown yet) */
    int finalized;
    void *params, *grads, *buffers;
    size_t n_params, n_buffers;
    nb_model_entry *entries;
    char *spec;  /* the description it was built from (nb__model_set_spec), or NULL */
    int in_ndim; /* input shape of one sample (0: [in_width]) */
    size_t in_shape[NB_MAX_DIMS];
    int keep_acts; /* nb__model_keep_acts: every activation layer's output is made */
};

void nb__model_keep_acts(nb_model *m)
{
    if (m) m->keep_acts = 1;
}

static const char *const nb__act_names[NB_ACT__COUNT] = {"none", "relu",    "leaky_relu", "elu",
                                                         "gelu", "sigmoid", "tanh",       "softplus"};
static const char *const nb__init_names[NB_INIT__COUNT] = {"torch",     "xavier_uniform", "xavier_normal", "he_uniform",
                                                           "he_normal", "normal",         "zeros"};

int nb_act_parse(const char *s)
{
    for (int i = 0; s && i < NB_ACT__COUNT; i++)
        if (!strcmp(s, nb__act_names[i])) return i;
    if (s && !strcmp(s, "leaky")) return NB_ACT_LEAKY_RELU;
    return -1;
}
const char *nb_act_name(nb_act a) { return (unsigned)a < NB_ACT__COUNT ? nb__act_names[a] : "?"; }
int nb_init_parse(const char *s)
{
    for (int i = 0; s && i < NB_INIT__COUNT; i++)
        if (!strcmp(s, nb__init_names[i])) return i;
    if (s && (!strcmp(s, "xavier") || !strcmp(s, "glorot"))) return NB_INIT_XAVIER_UNIFORM;
    if (s && (!strcmp(s, "he") || !strcmp(s, "kaiming"))) return NB_INIT_HE_NORMAL;
    if (s && !strcmp(s, "default")) return NB_INIT_TORCH;
    return -1;
}
const char *nb_init_name(nb_init i) { return (unsigned)i < NB_INIT__COUNT ? nb__init_names[i] : "?"; }

double nb_act_gain(nb_act a, double param)
{
    switch (a) {
    case NB_ACT_RELU: return sqrt(2.0);
    case NB_ACT_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    case NB_ACT_TANH: return 5.0 / 3.0;
    default: return 1.0; /* linear, sigmoid and the rest, as torch */
    }
}

nb_model *nb_model_new(nb_dtype dt)
{
    if (!nb__is_float(dt)) return nb__err("nb_model_new: dtype %s is not float32/float64", nb_dtype_name(dt));
    nb_model *m = calloc(1, sizeof *m);
    if (!m) return nb__err("nb_model_new: out of memory");
    m->dt = dt;
    return m;
}

void nb_model_free(nb_model *m)
{
    if (!m) return;
    for (int i = 0; m->entries && i < m->n_decls; i++) nb_tensor_free(m->entries[i].t);
    free(m->entries);
    free(m->params);
    free(m->grads);
    free(m->buffers);
    for (int i = 0; i < m->n_layers; i++) {
        nb__ext *e = m->layers[i].ext;
        if (!e) continue;
        if (e->kind->release) e->kind->release(e);
        free(e);
    }
    free(m->layers);
    free(m->decls);
    free(m->spec);
    free(m);
}

static int nb__grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return nb__erri("model: out of memory");
    *arr = p;
    *cap = nc;
    return 0;
}

/* The dotted prefix of layer li: "layers.3" or "layers.3.block.1". */
static void nb__layer_prefix(const nb_model *m, int li, char *buf, size_t size)
{
    const nb__layer *l = &m->layers[li];
    if (l->parent < 0) {
        int k = 0;
        for (int i = 0; i < li; i++) k += m->layers[i].parent < 0;
        snprintf(buf, size, "layers.%d", k);
    } else {
        char pre[64];
        nb__layer_prefix(m, l->parent, pre, sizeof pre);
        int k = 0;
        for (int i = l->parent + 1; i < li; i++) k += m->layers[i].parent == l->parent;
        if (snprintf(buf, size, "%.40s.block.%d", pre, k) < 0) buf[0] = '\0';
    }
}

/* a + b * k, or SIZE_MAX when it overflows */
static size_t nb__add_mul(size_t a, size_t b, size_t k)
{
    if (k && b > (SIZE_MAX - a) / k) return SIZE_MAX;
    return a + b * k;
}

/* Would the model's storage, with this entry, fit in memory?  Its values and
 * gradients (2 per parameter) and its buffers; checked as each entry is
 * declared, so that the layer that asks for too much is the one named. */
static int nb__check_storage(const nb_model *m, const nb__decl *d)
{
    const size_t es = nb_dtype_size(m->dt);
    size_t bytes = nb__add_mul(0, nb__decl_numel(d), d->trainable ? 2 * es : es);
    for (int i = 0; i < m->n_decls && bytes != SIZE_MAX; i++)
        bytes = nb__add_mul(bytes, nb__decl_numel(&m->decls[i]), m->decls[i].trainable ? 2 * es : es);
    char why[96], need[32];
    size_t limit = nb__memory_limit(why, sizeof why);
    if (bytes <= limit) return 0;
    char shape[96] = "";
    for (int i = 0, o = 0; i < d->ndim && o < (int)sizeof shape; i++)
        o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%zu", i ? ", " : "", d->shape[i]);
    if (bytes == SIZE_MAX)
        return nb__erri("%s [%s]: the model's storage would need more bytes than a size_t holds", d->name, shape);
    return nb__erri("%s [%s]: the model would take %s (values and gradients), more than %s", d->name, shape,
                    nb__bytes_str(bytes, need, sizeof need), why);
}

static int nb__declare_shape(nb_model *m, int li, const char *leaf, int ndim, const size_t *shape, int trainable)
{
    if (nb__grow((void **)&m->decls, &m->cap_decls, m->n_decls, sizeof *m->decls)) return -1;
    nb__decl *d = &m->decls[m->n_decls];
    char pre[64];
    nb__layer_prefix(m, li, pre, sizeof pre);
    snprintf(d->name, sizeof d->name, "%.64s.%.24s", pre, leaf);
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    d->trainable = trainable;
    if (nb__check_storage(m, d)) return -1;
    return m->n_decls++;
}

static int nb__declare(nb_model *m, int li, const char *leaf, int ndim, size_t d0, size_t d1, int trainable)
{
    return nb__declare_shape(m, li, leaf, ndim, (size_t[]){d0, d1}, trainable);
}

static nb__layer *nb__add_layer(nb_model *m, int kind, const char *what)
{
    if (m->finalized) return nb__err("%s: the model is already finalised; add layers before init/forward", what);
    if (nb__grow((void **)&m->layers, &m->cap_layers, m->n_layers, sizeof *m->layers)) return NULL;
    nb__layer *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->parent = m->n_open ? m->open[m->n_open - 1] : -1;
    l->top = l->parent < 0 ? m->n_layers : m->layers[l->parent].top;
    l->in = l->out = m->width;
    l->e_w = l->e_b = l->e_rm = l->e_rv = l->e_nbt = l->e_proj = -1;
    m->n_layers++;
    return l;
}

static int nb__need_width(nb_model *m, const char *what, size_t in)
{
    if (in == 0) return nb__erri("%s: width must be positive", what);
    if (m->width && m->width != in)
        return nb__erri("%s: input width %zu does not match the previous layer's output %zu", what, in, m->width);
    if (!m->in_width) m->in_width = in;
    return 0;
}

int nb_model_linear(nb_model *m, size_t in, size_t out, int bias)
{
    if (nb__need_width(m, "linear", in)) return -1;
    if (out == 0) return nb__erri("linear: output width must be positive");
    nb__layer *l = nb__add_layer(m, L_LINEAR, "linear");
    if (!l) return -1;
    int li = m->n_layers - 1;
    l->in = in;
    l->out = out;
    if ((l->e_w = nb__declare(m, li, "weight", 2, out, in, 1)) < 0) return -1;
    if (bias && (m->layers[li].e_b = nb__declare(m, li, "bias", 1, out, 0, 1)) < 0) return -1;
    m->width = out;
    return 0;
}

int nb_model_act(nb_model *m, nb_act a, double param)
{
    if ((unsigned)a >= NB_ACT__COUNT) return nb__erri("act: unknown activation %d", (int)a);
    nb__layer *l = nb__add_layer(m, L_ACT, "act");
    if (!l) return -1;
    l->act = a;
    l->p = param;
    return 0;
}

static int nb__norm_layer(nb_model *m, int kind, const char *what, size_t f, double eps, double momentum, int affine)
{
    if (nb__need_width(m, what, f)) return -1;
    if (!(eps > 0)) return nb__erri("%s: eps must be positive (got %g)", what, eps);
    if (!(momentum >= 0 && momentum <= 1)) return nb__erri("%s: momentum must be in [0, 1] (got %g)", what, momentum);
    nb__layer *l = nb__add_layer(m, kind, what);
    if (!l) return -1;
    int li = m->n_layers - 1;
    l->eps = eps;
    l->momentum = momentum;
    l->in = l->out = m->width = f;
    if (affine) {
        if ((m->layers[li].e_w = nb__declare(m, li, "weight", 1, f, 0, 1)) < 0) return -1;
        if ((m->layers[li].e_b = nb__declare(m, li, "bias", 1, f, 0, 1)) < 0) return -1;
    }
    if (kind == L_BN) {
        if ((m->layers[li].e_rm = nb__declare(m, li, "running_mean", 1, f, 0, 0)) < 0) return -1;
        if ((m->layers[li].e_rv = nb__declare(m, li, "running_var", 1, f, 0, 0)) < 0) return -1;
        if ((m->layers[li].e_nbt = nb__declare(m, li, "num_batches_tracked", 0, 0, 0, 0)) < 0) return -1;
    }
    return 0;
}

int nb_model_batchnorm1d(nb_model *m, size_t f, double eps, double momentum, int affine)
{
    return nb__norm_layer(m, L_BN, "batchnorm1d", f, eps, momentum, affine);
}

int nb_model_layernorm(nb_model *m, size_t f, double eps) { return nb__norm_layer(m, L_LN, "layernorm", f, eps, 0, 1); }

int nb_model_dropout(nb_model *m, double p)
{
    if (!(p >= 0 && p < 1)) return nb__erri("dropout: p must be in [0, 1) (got %g)", p);
    nb__layer *l = nb__add_layer(m, L_DROPOUT, "dropout");
    if (!l) return -1;
    l->p = p;
    return 0;
}

int nb_model_flatten(nb_model *m) { return nb__add_layer(m, L_FLATTEN, "flatten") ? 0 : -1; }

int nb_model_residual_begin(nb_model *m)
{
    if (m->n_open == 8) return nb__erri("residual: blocks nest at most 8 deep");
    if (!m->width) return nb__erri("residual: the input width must be known (add a layer first)");
    nb__layer *l = nb__add_layer(m, L_RESIDUAL, "residual");
    if (!l) return -1;
    m->open[m->n_open++] = m->n_layers - 1;
    return 0;
}

int nb_model_residual_end(nb_model *m)
{
    if (!m->n_open) return nb__erri("residual_end: no residual block is open");
    int li = m->open[--m->n_open];
    nb__layer *l = &m->layers[li];
    l->out = m->width;
    if (l->out != l->in && (m->layers[li].e_proj = nb__declare(m, li, "proj.weight", 2, l->out, l->in, 1)) < 0)
        return -1;
    return 0;
}

int nb__model_residual_end_image(nb_model *m, const nb__shape *in, const nb__shape *out)
{
    if (!m->n_open) return nb__erri("residual_end: no residual block is open");
    if (in->ndim != 3 || out->ndim != 3) return nb_model_residual_end(m);
    if (in->d[0] == out->d[0] && in->d[1] == out->d[1] && in->d[2] == out->d[2]) return nb_model_residual_end(m);
    size_t s = 1; /* the stride that takes H x W to the block's output size */
    while (s <= in->d[1] && !((in->d[1] - 1) / s + 1 == out->d[1] && (in->d[2] - 1) / s + 1 == out->d[2])) s++;
    if (s > in->d[1])
        return nb__erri("residual: no strided 1x1 convolution takes [%zu, %zu, %zu] to the block's [%zu, %zu, %zu]",
                        in->d[0], in->d[1], in->d[2], out->d[0], out->d[1], out->d[2]);
    int li = m->open[--m->n_open];
    nb__layer *l = &m->layers[li];
    l->out = m->width;
    memcpy(l->img, in->d, sizeof l->img);
    l->img_stride = s;
    l->e_proj = nb__declare_shape(m, li, "proj.weight", 4, (size_t[]){out->d[0], in->d[0], 1, 1}, 1);
    return l->e_proj < 0 ? -1 : 0;
}

static size_t nb__shape_numel(const nb__shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

int nb__ext_add(nb_model *m, const nb__ext_kind *k, const double *a, int n_a, const nb__shape *in, const nb__shape *out)
{
    if (!m || !k || !k->forward || !in || !out || n_a < 0 || n_a > NB__EXT_MAX_ARGS)
        return nb__erri("model: bad extension layer");
    size_t win = nb__shape_numel(in), wout = nb__shape_numel(out);
    if (nb__need_width(m, k->name, win)) return -1;
    if (!wout) return nb__erri("%s: output width must be positive", k->name);
    nb__ext *e = calloc(1, sizeof *e);
    if (!e) return nb__erri("model: out of memory");
    nb__layer *l = nb__add_layer(m, L_EXT, k->name);
    if (!l) {
        free(e);
        return -1;
    }
    e->kind = k;
    e->m = m;
    if (n_a) memcpy(e->a, a, (size_t)n_a * sizeof *a);
    e->n_a = n_a;
    e->in = *in;
    e->out = *out;
    l->ext = e;
    l->in = win;
    l->out = m->width = wout;
    return 0;
}

int nb__ext_declare(nb_model *m, const char *leaf, int ndim, const size_t *shape, int trainable)
{
    if (!m || !m->n_layers || !m->layers[m->n_layers - 1].ext)
        return nb__erri("model: no extension layer to declare in");
    nb__ext *e = m->layers[m->n_layers - 1].ext;
    if (ndim < 0 || ndim > 4 || (ndim && !shape))
        return nb__erri("%s: %s has %d dims (0..4)", e->kind->name, leaf, ndim);
    if (e->n_ent == NB__EXT_MAX_ENTRIES)
        return nb__erri("%s: more than %d entries", e->kind->name, NB__EXT_MAX_ENTRIES);
    for (int i = 0; i < ndim; i++)
        if (!shape[i]) return nb__erri("%s: %s has a zero size", e->kind->name, leaf);
    int d = nb__declare_shape(m, m->n_layers - 1, leaf, ndim, shape, trainable != 0);
    if (d < 0) return -1;
    e->ent[e->n_ent] = d;
    return e->n_ent++;
}

nb_tensor *nb__ext_entry(const nb__ext *e, int i)
{
    if (!e || i < 0 || i >= e->n_ent || !e->m->finalized) return NULL;
    return e->m->entries[e->ent[i]].t;
}

/* "layers.2 (linear)" or "layers.1.block.0 (relu)": what anomaly reports
 * call layer li (the engine gets the string, never the model). */
static void nb__layer_name(const nb_model *m, int li, char *buf, size_t size)
{
    char pre[64];
    nb__layer_prefix(m, li, pre, sizeof pre);
    const nb__layer *l = &m->layers[li];
    snprintf(buf, size, "%s (%s)", pre,
             l->kind == L_ACT ? nb_act_name(l->act)
             : l->ext         ? l->ext->kind->name
                              : nb__layer_kinds[l->kind]);
}

int nb_model_finalize(nb_model *m)
{
    if (!m) return nb__erri("model: NULL");
    if (m->finalized) return 0;
    if (m->n_open) return nb__erri("model: %d residual block(s) not closed", m->n_open);
    if (!m->n_layers) return nb__erri("model: no layers");
    size_t es = nb_dtype_size(m->dt), np = 0, nbuf = 0;
    for (int i = 0; i < m->n_decls; i++) {
        size_t n = nb__decl_numel(&m->decls[i]);
        if (m->decls[i].trainable) np += n;
        else nbuf += n;
    }
    m->params = nb__big_zalloc(np, es);
    m->grads = nb__big_zalloc(np, es);
    m->buffers = calloc(nbuf ? nbuf : 1, es);
    m->entries = calloc((size_t)m->n_decls + 1, sizeof *m->entries);
    int *map = malloc((size_t)m->n_decls * sizeof *map + 1);
    if (!m->params || !m->grads || !m->buffers || !m->entries || !map) {
        nb__err("model: out of memory for %zu parameters", np);
        goto fail;
    }
    m->n_params = np;
    m->n_buffers = nbuf;
    /* trainable entries first, in declaration order, then buffers */
    size_t po = 0, bo = 0;
    int k = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (int i = 0; i < m->n_decls; i++) {
            nb__decl *d = &m->decls[i];
            if (d->trainable != pass) continue;
            size_t *off = pass ? &po : &bo;
            char *base = (char *)(pass ? m->params : m->buffers) + *off * es;
            nb_tensor *t = nb_tensor_from(m->dt, d->ndim, d->shape, base, NB_BORROW);
            if (t && pass) {
                t->grad = nb_tensor_from(m->dt, d->ndim, d->shape, (char *)m->grads + *off * es, NB_BORROW);
                if (!t->grad || nb_tensor_set_requires_grad(t, 1)) {
                    nb_tensor_free(t); /* and its grad */
                    t = NULL;
                }
            }
            if (!t) goto fail;
            map[i] = k;
            m->entries[k++] = (nb_model_entry){d->name, t, *off, pass, 0};
            *off += t->numel;
        }
    /* layers refer to entries; entries know their top-level layer number */
    for (int li = 0; li < m->n_layers; li++) {
        nb__layer *l = &m->layers[li];
        nb__layer_name(m, li, l->name, sizeof l->name);
        int top = 0;
        for (int i = 0; i < l->top; i++) top += m->layers[i].parent < 0;
        int *slots[] = {&l->e_w, &l->e_b, &l->e_rm, &l->e_rv, &l->e_nbt, &l->e_proj};
        for (int s = 0; s < 6; s++)
            if (*slots[s] >= 0) {
                *slots[s] = map[*slots[s]];
                m->entries[*slots[s]].layer = top;
            }
        for (int s = 0; l->ext && s < l->ext->n_ent; s++) {
            l->ext->ent[s] = map[l->ext->ent[s]];
            m->entries[l->ext->ent[s]].layer = top;
        }
    }
    free(map);
    m->finalized = 1;
    /* BatchNorm running variance starts at 1 */
    for (int li = 0; li < m->n_layers; li++)
        if (m->layers[li].e_rv >= 0) nb_fill(m->entries[m->layers[li].e_rv].t, 1.0);
    return 0;

fail: /* out of memory: back to the unfinalised state, so a later call can retry */
    for (int i = 0; m->entries && i < m->n_decls; i++) nb_tensor_free(m->entries[i].t);
    free(m->entries);
    free(m->params);
    free(m->grads);
    free(m->buffers);
    free(map);
    m->entries = NULL;
    m->params = m->grads = m->buffers = NULL;
    m->n_params = m->n_buffers = 0;
    return -1;
}

/* ------------------------------------------------------------------ init */
static void nb__fill_u(nb_tensor *t, double bound, nb_rng *r) { nb_fill_uniform(t, -bound, bound, r); }

/* The activation that follows layer li inside its sequence (for the gain). */
static const nb__layer *nb__next_act(const nb_model *m, int li)
{
    for (int j = li + 1; j < m->n_layers; j++) {
        if (m->layers[j].parent != m->layers[li].parent) continue;
        if (m->layers[j].kind == L_ACT) return &m->layers[j];
        if (m->layers[j].kind == L_LINEAR || m->layers[j].kind == L_RESIDUAL || m->layers[j].kind == L_EXT) break;
    }
    return NULL;
}

void nb__init_weight(nb_tensor *w, nb_init init, double param, double fan_in, double fan_out, double gain, nb_rng *r)
{
    switch (init) {
    case NB_INIT_TORCH: nb__fill_u(w, 1.0 / sqrt(fan_in), r); break;
    case NB_INIT_XAVIER_UNIFORM: nb__fill_u(w, gain * sqrt(6.0 / (fan_in + fan_out)), r); break;
    case NB_INIT_XAVIER_NORMAL: nb_fill_normal(w, 0, gain * sqrt(2.0 / (fan_in + fan_out)), r); break;
    case NB_INIT_HE_UNIFORM: nb__fill_u(w, gain * sqrt(3.0 / fan_in), r); break;
    case NB_INIT_HE_NORMAL: nb_fill_normal(w, 0, gain / sqrt(fan_in), r); break;
    case NB_INIT_NORMAL: nb_fill_normal(w, 0, param, r); break;
    case NB_INIT_ZEROS: nb_fill(w, 0); break;
    case NB_INIT__COUNT: break;
    }
}

void nb__init_bias(nb_tensor *b, nb_init init, double fan_in, nb_rng *r)
{
    if (init == NB_INIT_TORCH) nb__fill_u(b, 1.0 / sqrt(fan_in), r);
    else nb_fill(b, 0.0);
}

int nb_model_init(nb_model *m, nb_init init, double param, nb_rng *r)
{
    if (!m || !r) return nb__erri("model_init: NULL model or RNG");
    if ((unsigned)init >= NB_INIT__COUNT) return nb__erri("model_init: unknown init %d", (int)init);
    if (init == NB_INIT_NORMAL && !(param > 0))
        return nb__erri("model_init: normal init needs a positive std (got %g)", param);
    if (nb_model_finalize(m)) return -1;
    for (int li = 0; li < m->n_layers; li++) {
        nb__layer *l = &m->layers[li];
        if (l->kind == L_BN || l->kind == L_LN) {
            if (l->e_w >= 0) nb_fill(m->entries[l->e_w].t, 1.0);
            if (l->e_b >= 0) nb_fill(m->entries[l->e_b].t, 0.0);
            if (l->e_rm >= 0) nb_fill(m->entries[l->e_rm].t, 0.0);
            if (l->e_rv >= 0) nb_fill(m->entries[l->e_rv].t, 1.0);
            if (l->e_nbt >= 0) nb_fill(m->entries[l->e_nbt].t, 0.0);
            continue;
        }
        if (l->ext) {
            const nb__layer *a = nb__next_act(m, li);
            if (l->ext->kind->init && l->ext->kind->init(l->ext, init, param, a ? nb_act_gain(a->act, a->p) : 1.0, r))
                return -1;
            continue;
        }
        int ws[2] = {l->kind == L_LINEAR ? l->e_w : -1, l->e_proj};
        for (int k = 0; k < 2; k++) {
            if (ws[k] < 0) continue;
            nb_tensor *w = m->entries[ws[k]].t;
            double fan_out = (double)w->shape[0], fan_in = (double)w->shape[1];
            const nb__layer *a = k == 0 ? nb__next_act(m, li) : NULL;
            nb__init_weight(w, init, param, fan_in, fan_out, a ? nb_act_gain(a->act, a->p) : 1.0, r);
            if (k == 0 && l->e_b >= 0) nb__init_bias(m->entries[l->e_b].t, init, fan_in, r);
        }
    }
    return 0;
}

/* --------------------------------------------------------------- forward */
static nb_tensor *nb__ent(const nb_model *m, int e) { return e >= 0 ? m->entries[e].t : NULL; }

static nb_tensor *nb__act(nb_ctx *c, nb_act a, double p, nb_tensor *x)
{
    switch (a) {
    case NB_ACT_NONE: return x;
    case NB_ACT_RELU: return nb_relu(c, x);
    case NB_ACT_LEAKY_RELU: return nb_leaky_relu(c, x, p);
    case NB_ACT_ELU: return nb_elu(c, x, p);
    case NB_ACT_GELU: return nb_gelu(c, x);
    case NB_ACT_SIGMOID: return nb_sigmoid(c, x);
    case NB_ACT_TANH: return nb_tanh(c, x);
    case NB_ACT_SOFTPLUS: return nb_softplus(c, x);
    case NB_ACT__COUNT: break;
    }
    return nb__err("act: unknown activation %d", (int)a);
}

/* y = (x - mean) / sqrt(var + eps) * w + b, statistics over `axis`. */
static nb_tensor *nb__normalize(nb_ctx *c, nb_tensor *x, int axis, double eps, nb_tensor **mean_out,
                                nb_tensor **var_out)
{
    nb_tensor *mean = nb_mean(c, x, &axis, 1, 1);
    nb_tensor *xc = nb_sub(c, x, mean);
    nb_tensor *var = nb_mean(c, nb_mul(c, xc, xc), &axis, 1, 1);
    if (mean_out) *mean_out = mean;
    if (var_out) *var_out = var;
    return nb_mul(c, xc, nb_pow_scalar(c, nb_add_scalar(c, var, eps), -0.5));
}

static nb_tensor *nb__batchnorm(nb_model *m, nb__layer *l, nb_ctx *c, nb_tensor *x)
{
    nb_tensor *rm = nb__ent(m, l->e_rm), *rv = nb__ent(m, l->e_rv), *y;
    if (nb_training(c)) {
        if (x->shape[0] < 2)
            return nb__err("batchnorm1d: training needs more than 1 sample per batch (got %s)", nb__shp(x));
        nb_tensor *mean, *var;
        y = nb__normalize(c, x, 0, l->eps, &mean, &var);
        if (!y) return NULL;
        /* running statistics, as torch: unbiased variance, momentum blend */
        double n = (double)x->shape[0], mo = l->momentum;
        for (size_t f = 0; f < rm->numel; f++) {
            nb_set(rm, f, (1 - mo) * nb_get(rm, f) + mo * nb_get(mean, f));
            nb_set(rv, f, (1 - mo) * nb_get(rv, f) + mo * nb_get(var, f) * n / (n - 1));
        }
        nb_tensor *nbt = nb__ent(m, l->e_nbt);
        nb_set(nbt, 0, nb_get(nbt, 0) + 1);
    } else {
        nb_tensor *mean = nb_reshape(c, nb_detach(c, rm), 2, (long[]){1, -1});
        nb_tensor *var = nb_reshape(c, nb_detach(c, rv), 2, (long[]){1, -1});
        y = nb_mul(c, nb_sub(c, x, mean), nb_pow_scalar(c, nb_add_scalar(c, var, l->eps), -0.5));
    }
    if (l->e_w >= 0) y = nb_add(c, nb_mul(c, y, nb__ent(m, l->e_w)), nb__ent(m, l->e_b));
    return y;
}

/* The layer right after layer li in the same block if it is of this kind,
 * else NULL: the activation a linear or a conv2d layer takes in (L_ACT), the
 * pool after a conv2d's relu (L_EXT). */
static nb__layer *nb__layer_after(nb_model *m, int li, int parent, int kind)
{
    nb__layer *a = li + 1 < m->n_layers ? &m->layers[li + 1] : NULL;
    return a && a->parent == parent && (int)a->kind == kind ? a : NULL;
}

static nb_tensor *nb__forward_seq(nb_model *m, int parent, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    for (int li = parent + 1; li < m->n_layers && x; li++) {
        nb__layer *l = &m->layers[li];
        if (l->parent != parent) {
            if (parent >= 0 && l->parent < parent) break; /* left the block */
            continue;
        }
        nb__site_layer(l->name); /* anomaly reports name the layer */
        switch (l->kind) {
        case L_LINEAR: {
            if (x->ndim > 2) x = nb_reshape(c, x, 2, (long[]){(long)x->shape[0], -1}); /* image input flattens */
            if (!x) break;
            if (x->ndim != 2 || x->shape[1] != l->in)
                return nb__err("linear (%s): input %s, expected [N, %zu]", m->entries[l->e_w].name, nb__shp(x), l->in);
            /* Anomaly mode keeps the three ops apart, so a report names the
             * exact op (matmul, add, the activation) and layer. */
            if (c->anomaly_policy) {
                x = nb_matmul(c, x, nb__ent(m, l->e_w), 0, 1);
                if (l->e_b >= 0) x = nb_add(c, x, nb__ent(m, l->e_b));
                break;
            }
            /* One fused op, taking in the activation layer right after it
             * (same values): that layer's output is the fused op's output,
             * and this layer has none of its own. */
            nb__layer *a = nb__layer_after(m, li, parent, L_ACT);
            x = nb_linear(c, x, nb__ent(m, l->e_w), nb__ent(m, l->e_b), a ? a->act : NB_ACT_NONE, a ? a->p : 0);
            if (a) {
                l->last_out = NULL;
                a->last_out = x;
                li++;
                continue;
            }
            break;
        }
        case L_ACT: x = nb__act(c, l->act, l->p, x); break;
        case L_BN: x = nb__batchnorm(m, l, c, x); break;
        case L_LN:
            x = nb__normalize(c, x, -1, l->eps, NULL, NULL);
            x = nb_add(c, nb_mul(c, x, nb__ent(m, l->e_w)), nb__ent(m, l->e_b));
            break;
        case L_DROPOUT: x = nb_dropout(c, x, l->p, r); break;
        case L_FLATTEN: x = nb_reshape(c, x, 2, (long[]){(long)x->shape[0], -1}); break;
        case L_EXT: {
            /* A kind that can take in the activation layer after it does
             * (conv2d: one op, the activation applied while each image is in
             * cache), as linear above; anomaly mode keeps them apart. */
            nb__layer *a = l->ext->kind->forward_act && !c->anomaly_policy ? nb__layer_after(m, li, parent, L_ACT)
                                                                           : NULL;
            /* conv2d relu maxpool2d(k) (windows that do not overlap): one op
             * too, each image pooled from its planes in cache; the relu's
             * output is then never made, so not while a monitor reads it */
            nb__layer *pl = a && a->act == NB_ACT_RELU && !m->keep_acts ? nb__layer_after(m, li + 1, parent, L_EXT)
                                                                        : NULL;
            if (pl && nb__conv_takes_pool(l->ext, pl->ext)) {
                x = nb__conv_fwd_relu_pool(l->ext, c, x, pl->ext);
                l->last_out = a->last_out = NULL;
                pl->last_out = x;
                li += 2;
                continue;
            }
            if (a && a->act != NB_ACT_NONE && !nb__linear_needs_z(a->act, a->p)) {
                x = l->ext->kind->forward_act(l->ext, c, x, r, a->act, a->p);
                l->last_out = NULL;
                a->last_out = x;
                li++;
                continue;
            }
            x = l->ext->kind->forward(l->ext, c, x, r);
            break;
        }
        case L_RESIDUAL: {
            nb_tensor *h = nb__forward_seq(m, li, c, x, r);
            nb__site_layer(l->name);
            nb_tensor *p = nb__ent(m, l->e_proj), *skip = x;
            if (p && p->ndim == 4) /* images: a strided 1x1 convolution */
                skip = nb_conv2d(
                    c,
                    nb_reshape(c, x, 4, (long[]){(long)x->shape[0], (long)l->img[0], (long)l->img[1], (long)l->img[2]}),
                    p, NULL, (int)l->img_stride, 0, 1, 1);
            else if (p)
                skip = nb_matmul(c, x->ndim > 2 ? nb_reshape(c, x, 2, (long[]){(long)x->shape[0], -1}) : x, p, 0, 1);
            if (skip && h && skip->ndim != h->ndim && skip->numel == h->numel) { /* flat input, image block */
                long sh[NB_MAX_DIMS];
                for (int d = 0; d < h->ndim; d++) sh[d] = (long)h->shape[d];
                skip = nb_reshape(c, skip, h->ndim, sh);
            }
            x = nb_add(c, skip, h);
            break;
        }
        }
        l->last_out = x;
    }
    return x;
}

nb_tensor *(nb_model_forward)(nb_model *m, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    if (!m || !c || !x) return NULL;
    if (nb_model_finalize(m)) return NULL;
    if (x->dtype != m->dt)
        return nb__err("model: input is %s but the model is %s", nb_dtype_name(x->dtype), nb_dtype_name(m->dt));
    for (int li = 0; li < m->n_layers; li++) m->layers[li].last_out = NULL;
    nb__site outer = nb__site_get();
    nb_tensor *y = nb__forward_seq(m, -1, c, x, r);
    nb__site_layer(outer.layer);
    return y;
}

/* ------------------------------------------------------------- accessors */
nb_dtype nb_model_dtype(const nb_model *m) { return m->dt; }
size_t nb_model_in_width(const nb_model *m) { return m->in_width; }
size_t nb_model_out_width(const nb_model *m) { return m->width; }
size_t nb_model_n_params(const nb_model *m) { return m->n_params; }
void *nb_model_params(nb_model *m) { return nb_model_finalize(m) ? NULL : m->params; }
void *nb_model_grads(nb_model *m) { return nb_model_finalize(m) ? NULL : m->grads; }
size_t nb_model_n_buffer_values(const nb_model *m) { return m->n_buffers; }
void *nb_model_buffers(nb_model *m) { return nb_model_finalize(m) ? NULL : m->buffers; }
void nb_model_zero_grad(nb_model *m)
{
    if (m && m->finalized) nb__parallel_zero(m->grads, m->n_params * nb_dtype_size(m->dt), 1 << 18);
}
size_t nb_model_n_entries(const nb_model *m) { return m && m->finalized ? (size_t)m->n_decls : 0; }
const nb_model_entry *nb_model_entry_at(const nb_model *m, size_t i)
{
    return i < nb_model_n_entries(m) ? &m->entries[i] : NULL;
}
const nb_model_entry *nb_model_find(const nb_model *m, const char *name)
{
    for (size_t i = 0; name && i < nb_model_n_entries(m); i++)
        if (!strcmp(m->entries[i].name, name)) return &m->entries[i];
    return NULL;
}

static int nb__top_index(const nb_model *m, size_t i)
{
    size_t k = 0;
    for (int li = 0; li < m->n_layers; li++)
        if (m->layers[li].parent < 0 && k++ == i) return li;
    return -1;
}
size_t nb_model_n_layers(const nb_model *m)
{
    size_t k = 0;
    for (int li = 0; m && li < m->n_layers; li++) k += m->layers[li].parent < 0;
    return k;
}
const char *nb_model_layer_kind(const nb_model *m, size_t i)
{
    int li = nb__top_index(m, i);
    if (li < 0) return NULL;
    const nb__layer *l = &m->layers[li];
    return l->kind == L_ACT ? nb_act_name(l->act) : l->ext ? l->ext->kind->name : nb__layer_kinds[l->kind];
}
nb_tensor *nb_model_layer_output(const nb_model *m, size_t i)
{
    int li = nb__top_index(m, i);
    return li < 0 ? NULL : m->layers[li].last_out;
}

static size_t nb__describe_seq(const nb_model *m, int parent, char *buf, size_t size, size_t at)
{
    int first = 1;
    for (int li = parent + 1; li < m->n_layers && at < size; li++) {
        const nb__layer *l = &m->layers[li];
        if (l->parent != parent) {
            if (parent >= 0 && l->parent < parent) break;
            continue;
        }
        const char *sep = first ? "" : " ";
        first = 0;
        if (l->kind == L_LINEAR) at += (size_t)snprintf(buf + at, size - at, "%slinear(%zu->%zu)", sep, l->in, l->out);
        else if (l->kind == L_ACT) at += (size_t)snprintf(buf + at, size - at, "%s%s", sep, nb_act_name(l->act));
        else if (l->kind == L_DROPOUT) at += (size_t)snprintf(buf + at, size - at, "%sdropout(%g)", sep, l->p);
        else if (l->kind == L_RESIDUAL) {
            at += (size_t)snprintf(buf + at, size - at, "%sresidual[", sep);
            if (at < size) at = nb__describe_seq(m, li, buf, size, at);
            if (at < size) at += (size_t)snprintf(buf + at, size - at, "]");
        } else if (l->ext && l->ext->kind->describe) {
            at += (size_t)snprintf(buf + at, size - at, "%s", sep);
            if (at < size) at += (size_t)l->ext->kind->describe(l->ext, buf + at, size - at);
        } else at += (size_t)snprintf(buf + at, size - at, "%s%s", sep, nb__layer_kinds[l->kind]);
    }
    return at;
}

/* "linear(784->128) relu linear(128->10), 101770 params" */
const char *nb_model_describe(const nb_model *m, char *buf, size_t size)
{
    if (!buf || !size) return buf;
    buf[0] = '\0';
    size_t at = nb__describe_seq(m, -1, buf, size, 0);
    if (at < size) snprintf(buf + at, size - at, ", %zu params", m->n_params);
    return buf;
}

/* ------------------------------------------------------------------- MLP */
int nb_mlp_parse_widths(nb_mlp_config *cfg, const char *spec)
{
    if (!spec || !*spec) return nb__erri("--model: empty spec (expected widths like 784-128-10)");
    int n = 0;
    const char *p = spec;
    while (*p) {
        if (*p < '0' || *p > '9') return nb__erri("--model '%s': expected digits at '%s' (e.g. 784-128-10)", spec, p);
        unsigned long long v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (unsigned long long)(*p++ - '0');
            if (v > 1000000) return nb__erri("--model '%s': width above 1000000", spec);
        }
        if (v == 0) return nb__erri("--model '%s': widths must be positive", spec);
        if (n == 64) return nb__erri("--model '%s': more than 64 widths", spec);
        cfg->widths[n++] = (size_t)v;
        if (*p == '-') {
            p++;
            if (!*p) return nb__erri("--model '%s': trailing '-'", spec);
        } else if (*p) {
            return nb__erri("--model '%s': unexpected '%c'", spec, *p);
        }
    }
    if (n < 2) return nb__erri("--model '%s': needs at least an input and an output width", spec);
    cfg->n_widths = n;
    return 0;
}

nb_model *nb_mlp_new(nb_dtype dt, const nb_mlp_config *cfg)
{
    if (!cfg || cfg->n_widths < 2) return nb__err("mlp: needs at least two widths");
    nb_model *m = nb_model_new(dt);
    if (!m) return NULL;
    /* The input width is known up front, so a residual block can wrap even
     * the first hidden layer (residual_begin needs the width it starts at). */
    m->width = m->in_width = cfg->widths[0];
    int rc = 0;
    for (int i = 0; i + 1 < cfg->n_widths && !rc; i++) {
        size_t in = cfg->widths[i], out = cfg->widths[i + 1];
        int hidden = i + 2 < cfg->n_widths;
        if (!hidden) {
            rc = nb_model_linear(m, in, out, 1);
            break;
        }
        int res = cfg->residual && in == out;
        if (res) rc |= nb_model_residual_begin(m);
        rc |= nb_model_linear(m, in, out, !cfg->batchnorm);
        if (cfg->batchnorm) rc |= nb_model_batchnorm1d(m, out, 1e-5, 0.1, 1);
        rc |= nb_model_act(m, cfg->act, cfg->act_param);
        if (res) rc |= nb_model_residual_end(m);
        if (cfg->dropout > 0) rc |= nb_model_dropout(m, cfg->dropout);
    }
    if (rc || nb_model_finalize(m)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------- input shape, description (spec.c) */
int nb_model_set_input_shape(nb_model *m, int ndim, const size_t *shape)
{
    if (!m || ndim < 1 || ndim > NB_MAX_DIMS || !shape)
        return nb__erri("model: input shape needs 1..%d dims", NB_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (!shape[i] || n > SIZE_MAX / shape[i]) return nb__erri("model: input shape has a zero or too large size");
        n *= shape[i];
    }
    if (m->in_width && m->in_width != n)
        return nb__erri("model: input shape of %zu values, but the first layer takes %zu", n, m->in_width);
    if (!m->n_layers) m->width = n;
    m->in_width = n;
    m->in_ndim = ndim;
    memcpy(m->in_shape, shape, (size_t)ndim * sizeof *shape);
    return 0;
}

int nb_model_input_shape(const nb_model *m, size_t *shape)
{
    if (!m) return 0;
    if (m->in_ndim) {
        memcpy(shape, m->in_shape, (size_t)m->in_ndim * sizeof *shape);
        return m->in_ndim;
    }
    shape[0] = m->in_width;
    return 1;
}

int nb__model_set_spec(nb_model *m, const char *spec)
{
    size_t n = strlen(spec);
    char *s = malloc(n + 1);
    if (!s) return nb__erri("model: out of memory");
    memcpy(s, spec, n + 1);
    free(m->spec);
    m->spec = s;
    return 0;
}

const char *nb__model_spec_stored(const nb_model *m) { return m->spec; }
int nb__model_n_all_layers(const nb_model *m) { return m->n_layers; }

int nb__model_layer_info(const nb_model *m, int li, nb__layer_info *out)
{
    if (li < 0 || li >= m->n_layers) return -1;
    const nb__layer *l = &m->layers[li];
    *out = (nb__layer_info){l->ext ? l->ext->kind->name : nb__layer_kinds[l->kind],
                            l->ext,
                            l->parent,
                            l->in,
                            l->out,
                            l->act,
                            l->p,
                            l->eps,
                            l->momentum,
                            0,
                            0};
    if (l->kind == L_LINEAR) out->bias = l->e_b >= 0;
    if (l->kind == L_BN || l->kind == L_LN) out->affine = l->e_w >= 0;
    return 0;
}

size_t nb__model_declared(const nb_model *m, int trainable)
{
    size_t n = 0;
    for (int i = 0; i < m->n_decls; i++) {
        const nb__decl *d = &m->decls[i];
        if (d->trainable == trainable) n += nb__decl_numel(d);
    }
    return n;
}
