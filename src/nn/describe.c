/* A model's layer description written back from its layers, so that every
 * model (built from a description, by nb_mlp_new or layer by layer in C)
 * can be stored in a checkpoint and rebuilt from it. */
#include "../internal.h"
#include "nn_internal.h"

#include <stdlib.h>

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} nb__sbuf;

static void nb__put(nb__sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void nb__put(nb__sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    if (!b->s) {
        if (!(b->s = malloc(64))) {
            b->oom = 1;
            return;
        }
        b->cap = 64;
    }
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap + (size_t)k) * 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
}

/* The shortest decimal that reads back as exactly v. */
static const char *nb__num(char *buf, size_t size, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

static void nb__gen_seq(const nb_model *m, int parent, nb__sbuf *b)
{
    int first = 1, n = nb__model_n_all_layers(m);
    char x[40], y[40];
    for (int li = parent + 1; li < n; li++) {
        nb__layer_info L;
        nb__model_layer_info(m, li, &L);
        if (L.parent != parent) continue;
        if (!first) nb__put(b, " ");
        first = 0;
        if (L.ext) {
            char tmp[256];
            int k = L.ext->kind->describe ? L.ext->kind->describe(L.ext, tmp, sizeof tmp) : -1;
            if (k < 0 || (size_t)k >= sizeof tmp) b->oom = 1; /* cannot be written back */
            else nb__put(b, "%s", tmp);
        } else if (!strcmp(L.kind, "linear")) nb__put(b, "linear(%zu%s)", L.out, L.bias ? "" : ",bias=0");
        else if (!strcmp(L.kind, "act")) {
            if (L.act == NB_ACT_NONE) nb__put(b, "identity");
            else if (L.act == NB_ACT_LEAKY_RELU || L.act == NB_ACT_ELU)
                nb__put(b, "%s(%s)", nb_act_name(L.act), nb__num(x, sizeof x, L.p));
            else nb__put(b, "%s", nb_act_name(L.act));
        } else if (!strcmp(L.kind, "batchnorm1d")) {
            if (L.eps == 1e-5 && L.momentum == 0.1 && L.affine) nb__put(b, "batchnorm1d");
            else
                nb__put(b, "batchnorm1d(eps=%s,momentum=%s%s)", nb__num(x, sizeof x, L.eps),
                        nb__num(y, sizeof y, L.momentum), L.affine ? "" : ",affine=0");
        } else if (!strcmp(L.kind, "layernorm")) {
            if (L.eps == 1e-5) nb__put(b, "layernorm");
            else nb__put(b, "layernorm(eps=%s)", nb__num(x, sizeof x, L.eps));
        } else if (!strcmp(L.kind, "dropout")) nb__put(b, "dropout(%s)", nb__num(x, sizeof x, L.p));
        else if (!strcmp(L.kind, "residual")) {
            nb__put(b, "residual(");
            nb__gen_seq(m, li, b);
            nb__put(b, ")");
        } else nb__put(b, "%s", L.kind); /* flatten */
    }
}

char *nb_model_spec(const nb_model *m)
{
    if (!m) return nb__err("model: NULL");
    const char *stored = nb__model_spec_stored(m);
    nb__sbuf b = {0};
    if (stored) nb__put(&b, "%s", stored);
    else nb__gen_seq(m, -1, &b);
    if (!b.s && !b.oom) nb__put(&b, "%s", "");
    if (b.oom) {
        free(b.s);
        return nb__err("model: out of memory for its description");
    }
    return b.s;
}

int nb__model_meta(const nb_model *m, char **spec, char *shape, size_t shape_size)
{
    size_t d[NB_MAX_DIMS];
    int nd = nb_model_input_shape(m, d);
    size_t at = 0;
    shape[0] = '\0';
    for (int i = 0; i < nd && at < shape_size; i++)
        at += (size_t)snprintf(shape + at, shape_size - at, "%s%zu", i ? "," : "", d[i]);
    *spec = nb_model_spec(m);
    return *spec ? 0 : -1;
}
