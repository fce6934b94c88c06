/* Layer descriptions: "linear(128) relu residual(linear(128) relu) linear(10)".
 * The registry of layer kinds, the parser (positions for the caret in every
 * message), shape inference and the builder, in one pass: each layer is
 * built as soon as it is read, from the shape the layer before it gives. */
#include "../internal.h"
#include "conv_layers.h"
#include "nn_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ the kinds */
static size_t nb__numel(const nb__shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

static void nb__flat(nb__shape *s, size_t n)
{
    s->ndim = 1;
    s->d[0] = n;
}

/* The input must be one vector per sample: [features]. */
static int nb__need_features(nb__spec_ctx *b)
{
    if (b->in.ndim == 1) return 0;
    snprintf(b->expect, sizeof b->expect, "[features] (add flatten before it)");
    return NB__SPEC_SHAPE;
}

static int nb__build_linear(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    /* a sequence [T, F] (a recurrent layer with seq=1, an embedding): every step */
    if (b->in.ndim == 2) return nb__build_seq_linear(b, (size_t)a[0], a[1] != 0);
    size_t in = nb__numel(&b->in), out = (size_t)a[0];
    if (nb_model_linear(b->m, in, out, a[1] != 0)) return -1;
    nb__flat(&b->out, out);
    return 0;
}

static int nb__build_act(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    return nb_model_act(b->m, (nb_act)def->tag, def->params[0].name ? a[0] : 0);
}

static int nb__build_batchnorm1d(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    int rc = nb__need_features(b);
    return rc ? rc : nb_model_batchnorm1d(b->m, b->in.d[0], a[0], a[1], a[2] != 0);
}

static int nb__build_layernorm(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    int rc = nb__need_features(b);
    return rc ? rc : nb_model_layernorm(b->m, b->in.d[0], a[0]);
}

static int nb__build_dropout(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    return nb_model_dropout(b->m, a[0]);
}

static int nb__build_flatten(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    if (nb_model_flatten(b->m)) return -1;
    nb__flat(&b->out, nb__numel(&b->in));
    return 0;
}

static int nb__build_residual(nb__spec_ctx *b, const nb__layer_def *def, const double *a)
{
    return nb_model_residual_begin(b->m);
}

static int nb__end_residual(nb__spec_ctx *b) /* out: the block's */
{
    return nb__model_residual_end_image(b->m, &b->in, &b->out);
}

#define NB__NOARGS \
    {              \
        {          \
            0      \
        }          \
    }
#define NB__ACT(name, act)                         \
    {                                              \
        name, act, NB__NOARGS, nb__build_act, NULL \
    }

#define NB__REC_ARGS                                                                                      \
    {                                                                                                     \
        {"hidden_size", NB__ARG_INT, 0, 1, 1e6, 1}, {"layers", NB__ARG_INT, 1, 1, NB__REC_MAX_LAYERS, 0}, \
            {"seq", NB__ARG_BOOL, 0, 0, 1, 0},                                                            \
    }

/* The registry: one row per kind.  The convolution and sequence layers
 * (conv2d, maxpool2d, avgpool2d, gap, batchnorm2d; rnn, lstm, gru,
 * embedding) are added here, each with its build function in its own file. */
static const nb__layer_def nb__layer_defs[] = {
    {"linear", 0, {{"out", NB__ARG_INT, 0, 1, 1e7, 1}, {"bias", NB__ARG_BOOL, 1, 0, 1, 0}}, nb__build_linear, NULL},
    NB__ACT("relu", NB_ACT_RELU),
    {"leaky_relu", NB_ACT_LEAKY_RELU, {{"negative_slope", NB__ARG_FLOAT, 0.01, -1e6, 1e6, 0}}, nb__build_act, NULL},
    {"elu", NB_ACT_ELU, {{"alpha", NB__ARG_FLOAT, 1.0, -1e6, 1e6, 0}}, nb__build_act, NULL},
    NB__ACT("gelu", NB_ACT_GELU),
    NB__ACT("sigmoid", NB_ACT_SIGMOID),
    NB__ACT("tanh", NB_ACT_TANH),
    NB__ACT("softplus", NB_ACT_SOFTPLUS),
    NB__ACT("identity", NB_ACT_NONE),
    {"batchnorm1d",
     0,
     {{"eps", NB__ARG_FLOAT, 1e-5, 1e-300, 1, 0},
      {"momentum", NB__ARG_FLOAT, 0.1, 0, 1, 0},
      {"affine", NB__ARG_BOOL, 1, 0, 1, 0}},
     nb__build_batchnorm1d,
     NULL},
    {"layernorm", 0, {{"eps", NB__ARG_FLOAT, 1e-5, 1e-300, 1, 0}}, nb__build_layernorm, NULL},
    {"dropout", 0, {{"p", NB__ARG_FLOAT, 0.5, 0, 1, 0}}, nb__build_dropout, NULL},
    {"flatten", 0, NB__NOARGS, nb__build_flatten, NULL},
    {"residual", 0, NB__NOARGS, nb__build_residual, nb__end_residual},
    /* convolutional nets, src/nn/conv_layers.c */
    {"conv2d",
     0,
     {{"out", NB__ARG_INT, 0, 1, 1e6, 1},
      {"k", NB__ARG_INT, 3, 1, 1e4, 0},
      {"s", NB__ARG_INT, 1, 1, 1e4, 0},
      {"p", NB__ARG_INT, 0, 0, 1e4, 0},
      {"d", NB__ARG_INT, 1, 1, 1e4, 0},
      {"g", NB__ARG_INT, 1, 1, 1e6, 0},
      {"bias", NB__ARG_BOOL, 1, 0, 1, 0}},
     nb__build_conv2d,
     NULL},
    {"maxpool2d",
     0,
     {{"k", NB__ARG_INT, 0, 1, 1e4, 1}, {"s", NB__ARG_INT, 0, 0, 1e4, 0}, {"p", NB__ARG_INT, 0, 0, 1e4, 0}},
     nb__build_maxpool2d,
     NULL},
    {"avgpool2d",
     0,
     {{"k", NB__ARG_INT, 0, 1, 1e4, 1}, {"s", NB__ARG_INT, 0, 0, 1e4, 0}, {"p", NB__ARG_INT, 0, 0, 1e4, 0}},
     nb__build_avgpool2d,
     NULL},
    {"gap", 0, NB__NOARGS, nb__build_gap, NULL},
    {"batchnorm2d",
     0,
     {{"eps", NB__ARG_FLOAT, 1e-5, 1e-300, 1, 0},
      {"momentum", NB__ARG_FLOAT, 0.1, 0, 1, 0},
      {"affine", NB__ARG_BOOL, 1, 0, 1, 0}},
     nb__build_batchnorm2d,
     NULL},
    /* recurrent (src/nn/rnn_layers.c) */
    {"rnn",
     NB__REC_RNN,
     {{"hidden_size", NB__ARG_INT, 0, 1, 1e6, 1},
      {"nonlinearity", NB__ARG_WORD, 0, 0, 1, 0},
      {"layers", NB__ARG_INT, 1, 1, NB__REC_MAX_LAYERS, 0},
      {"seq", NB__ARG_BOOL, 0, 0, 1, 0}},
     nb__build_recurrent,
     NULL},
    {"lstm", NB__REC_LSTM, NB__REC_ARGS, nb__build_recurrent, NULL},
    {"gru", NB__REC_GRU, NB__REC_ARGS, nb__build_recurrent, NULL},
    {"embedding",
     0,
     {{"num_embeddings", NB__ARG_INT, 0, 1, 1e7, 1}, {"embedding_dim", NB__ARG_INT, 0, 1, 1e6, 1}},
     nb__build_embedding,
     NULL},
};
#define NB__N_DEFS (sizeof nb__layer_defs / sizeof nb__layer_defs[0])

static int nb__n_params(const nb__layer_def *d)
{
    int n = 0;
    while (n < NB__MAX_LAYER_ARGS && d->params[n].name) n++;
    return n;
}

/* ----------------------------------------------------------- the parser */
#define NB__NONE ((size_t)-1)
#define NB__MAX_DEPTH 8

typedef struct {
    const char *s;
    size_t len, pos;
    nb_model *m;
    nb__shape shape; /* what the last layer gives */
    char prev[128];  /* "relu (layers.0)", or "the input" */
    int depth;
    char prefix[NB__MAX_DEPTH + 1][96]; /* names of the open blocks */
    int count[NB__MAX_DEPTH + 1];       /* layers so far at each depth */
    nb_summary_row *rows;               /* NULL: not wanted */
    size_t n_rows, cap_rows;
    int oom;
} nb__parser;

static char nb__at(const nb__parser *P) { return P->pos < P->len ? P->s[P->pos] : '\0'; }

static void nb__skip_ws(nb__parser *P)
{
    while (P->pos < P->len && isspace((unsigned char)P->s[P->pos])) P->pos++;
}

static const char *nb__shape_str(const nb__shape *s, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s->ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%zu", i ? ", " : "", s->d[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

/* Fail at byte `at`: the message, then the description (a window of it
 * when long) and a caret under the token, each on its own line. */
static int nb__perr(const nb__parser *P, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int nb__perr(const nb__parser *P, size_t at, const char *fmt, ...)
{
    char what[300], quote[112], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at > P->len) at = P->len;
    size_t lo = 0, hi = P->len, width = 90;
    if (P->len > width) {
        lo = at > width / 2 ? at - width / 2 : 0;
        hi = lo + width < P->len ? lo + width : P->len;
        if (hi == P->len) lo = hi > width ? hi - width : 0;
    }
    size_t q = 0, caret = 0;
    if (lo > 0) q += (size_t)snprintf(quote, sizeof quote, "...");
    for (size_t i = lo; i < hi && q + 4 < sizeof quote; i++) {
        if (i == at) caret = q;
        quote[q++] = isspace((unsigned char)P->s[i]) ? ' ' : P->s[i];
    }
    if (at >= hi) caret = q;
    if (hi < P->len) q += (size_t)snprintf(quote + q, sizeof quote - q, "...");
    quote[q] = '\0';
    snprintf(msg, sizeof msg, "%s\n  %s\n  %*s^", what, quote, (int)caret, "");
    return nb__erri("%s", msg);
}

static const nb__layer_def *nb__find_def(const char *name, size_t n)
{
    for (size_t i = 0; i < NB__N_DEFS; i++)
        if (strlen(nb__layer_defs[i].name) == n && !strncmp(nb__layer_defs[i].name, name, n)) return &nb__layer_defs[i];
    return NULL;
}

/* Edit distance (for "did you mean"), capped at 9. */
static int nb__distance(const char *a, size_t na, const char *b)
{
    size_t nb_ = strlen(b);
    if (na > 30 || nb_ > 30) return 9;
    int row[32];
    for (size_t j = 0; j <= nb_; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb_; j++) {
            int up = row[j], best = diag + (tolower((unsigned char)a[i - 1]) != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb_] > 9 ? 9 : row[nb_];
}

static int nb__unknown_layer(const nb__parser *P, size_t at, const char *name, size_t n)
{
    int best = 9;
    const char *guess = NULL;
    for (size_t i = 0; i < NB__N_DEFS; i++) {
        int d = nb__distance(name, n, nb__layer_defs[i].name);
        if (d < best) best = d, guess = nb__layer_defs[i].name;
    }
    if (guess && best <= 2)
        return nb__perr(P, at, "unknown layer '%.*s' (did you mean '%s'?)", (int)(n > 40 ? 40 : n), name, guess);
    char known[256];
    size_t k = 0;
    for (size_t i = 0; i < NB__N_DEFS && k < sizeof known; i++)
        k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", i ? " " : "", nb__layer_defs[i].name);
    return nb__perr(P, at, "unknown layer '%.*s' (known: %s)", (int)(n > 40 ? 40 : n), name, known);
}

static size_t nb__token(nb__parser *P)
{
    size_t t0 = P->pos;
    while (P->pos < P->len) {
        char c = P->s[P->pos];
        if (!(isalnum((unsigned char)c) || c == '_' || c == '.' || c == '+' || c == '-')) break;
        P->pos++;
    }
    return P->pos - t0;
}

/* The words an NB__ARG_WORD argument accepts, space-separated. */
static const char *nb__words(const nb__param_def *pd) { return !strcmp(pd->name, "nonlinearity") ? "tanh relu" : ""; }

/* One argument's value: a number (or true/false for a flag, or a word), checked. */
static int nb__value(const nb__parser *P, const nb__layer_def *def, const nb__param_def *pd, size_t v0, size_t vn,
                     double *out)
{
    const char *v = P->s + v0;
    int iv = (int)vn;
    if (pd->type == NB__ARG_BOOL) {
        if ((vn == 4 && !strncmp(v, "true", 4)) || (vn == 1 && *v == '1')) return *out = 1, 0;
        if ((vn == 5 && !strncmp(v, "false", 5)) || (vn == 1 && *v == '0')) return *out = 0, 0;
        return nb__perr(P, v0, "%s: %s='%.*s' is not 0, 1, true or false", def->name, pd->name, iv, v);
    }
    if (pd->type == NB__ARG_WORD) {
        int k = 0;
        for (const char *w = nb__words(pd); *w; k++) {
            size_t wl = strcspn(w, " ");
            if (wl == vn && !strncmp(w, v, vn)) return *out = k, 0;
            w += wl + (w[wl] == ' ');
        }
        return nb__perr(P, v0, "%s: %s='%.*s' is not one of: %s", def->name, pd->name, iv, v, nb__words(pd));
    }
    char buf[64], *end;
    if (vn >= sizeof buf) return nb__perr(P, v0, "%s: %s='%.20s...' is not a number", def->name, pd->name, v);
    memcpy(buf, v, vn);
    buf[vn] = '\0';
    errno = 0;
    double x = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(x))
        return nb__perr(P, v0, "%s: %s='%.*s' is not a number", def->name, pd->name, iv, v);
    if (pd->type == NB__ARG_INT && x != floor(x))
        return nb__perr(P, v0, "%s: %s='%.*s' is not a whole number", def->name, pd->name, iv, v);
    if (x < pd->lo || x > pd->hi)
        return nb__perr(P, v0, "%s: %s=%.*s is out of range [%g, %g]", def->name, pd->name, iv, v, pd->lo, pd->hi);
    *out = x;
    return 0;
}

/* "(out, bias=0)" after a plain layer's name; P->pos is at '('. */
static int nb__args(nb__parser *P, const nb__layer_def *def, size_t at, double *vals, int *set)
{
    size_t lp = P->pos++;
    int np = nb__n_params(def), npos = 0, seen_key = 0;
    nb__skip_ws(P);
    if (nb__at(P) == ')') {
        P->pos++;
        return 0;
    }
    for (;;) {
        nb__skip_ws(P);
        size_t t0 = P->pos, tn = nb__token(P);
        if (!tn) {
            if (!nb__at(P)) return nb__perr(P, lp, "'(' of %s is never closed", def->name);
            return nb__perr(P, t0, "%s: expected an argument, found '%c'", def->name, nb__at(P));
        }
        nb__skip_ws(P);
        int k;
        size_t v0 = t0, vn = tn;
        if (nb__at(P) == '=') {
            P->pos++;
            nb__skip_ws(P);
            v0 = P->pos;
            vn = nb__token(P);
            if (!vn) return nb__perr(P, v0, "%s: expected a value after '%.*s='", def->name, (int)tn, P->s + t0);
            for (k = 0; k < np; k++)
                if (strlen(def->params[k].name) == tn && !strncmp(def->params[k].name, P->s + t0, tn)) break;
            if (k == np) {
                if (!np) return nb__perr(P, t0, "%s takes no arguments", def->name);
                char names[128];
                size_t w = 0;
                for (int j = 0; j < np && w < sizeof names; j++)
                    w += (size_t)snprintf(names + w, sizeof names - w, "%s%s", j ? ", " : "", def->params[j].name);
                return nb__perr(P, t0, "%s has no argument '%.*s' (it takes %s)", def->name, (int)(tn > 40 ? 40 : tn),
                                P->s + t0, names);
            }
            seen_key = 1;
        } else {
            if (seen_key) return nb__perr(P, t0, "%s: a positional argument after a key=value one", def->name);
            if (!np) return nb__perr(P, t0, "%s takes no arguments", def->name);
            if (npos >= np) return nb__perr(P, t0, "%s takes at most %d argument%s", def->name, np, np == 1 ? "" : "s");
            k = npos++;
        }
        if (set[k]) return nb__perr(P, t0, "%s: argument '%s' given twice", def->name, def->params[k].name);
        if (nb__value(P, def, &def->params[k], v0, vn, &vals[k])) return -1;
        set[k] = 1;
        nb__skip_ws(P);
        char c = nb__at(P);
        if (c == ',') {
            P->pos++;
            continue;
        }
        if (c == ')') {
            P->pos++;
            break;
        }
        if (!c) return nb__perr(P, lp, "'(' of %s is never closed", def->name);
        return nb__perr(P, P->pos, "%s: expected ',' or ')', found '%c'", def->name, c);
    }
    (void)at;
    return 0;
}

static nb_summary_row *nb__row_new(nb__parser *P)
{
    if (!P->rows || P->oom) return NULL;
    if (P->n_rows == P->cap_rows) {
        size_t nc = P->cap_rows * 2;
        nb_summary_row *r = realloc(P->rows, nc * sizeof *r);
        if (!r) {
            P->oom = 1;
            return NULL;
        }
        P->rows = r;
        P->cap_rows = nc;
    }
    nb_summary_row *r = &P->rows[P->n_rows++];
    memset(r, 0, sizeof *r);
    return r;
}

static int nb__seq(nb__parser *P, size_t open_pos);

/* One layer (a block with its layers), built at once. */
static int nb__layer(nb__parser *P)
{
    size_t at = P->pos;
    char c = nb__at(P);
    if (!isalpha((unsigned char)c)) {
        if (isdigit((unsigned char)c))
            return nb__perr(P, at,
                            "expected a layer name, found '%c' (widths like 784-128-10 are the --model "
                            "shorthand and cannot be mixed with layers)",
                            c);
        return nb__perr(P, at, "expected a layer name, found '%c'", c);
    }
    size_t n = 0;
    while (at + n < P->len && (isalnum((unsigned char)P->s[at + n]) || P->s[at + n] == '_')) n++;
    P->pos = at + n;
    const char *name = P->s + at;
    const nb__layer_def *def = nb__find_def(name, n);
    if (!def) {
        for (size_t i = 0; i < n; i++)
            if (isupper((unsigned char)name[i])) {
                char low[48];
                size_t k = 0;
                for (; k < n && k + 1 < sizeof low; k++) low[k] = (char)tolower((unsigned char)name[k]);
                low[k] = '\0';
                if (nb__find_def(low, k))
                    return nb__perr(P, at, "layer names are lower case: '%.*s' is written '%s'", (int)(n > 40 ? 40 : n),
                                    name, low);
                break;
            }
        return nb__unknown_layer(P, at, name, n);
    }
    if (P->depth >= NB__MAX_DEPTH) return nb__perr(P, at, "blocks nest at most %d deep", NB__MAX_DEPTH);
    char lname[96];
    if (P->depth == 0) snprintf(lname, sizeof lname, "layers.%d", P->count[0]);
    else snprintf(lname, sizeof lname, "%.70s.block.%d", P->prefix[P->depth - 1], P->count[P->depth]);
    char sh[96];
    nb__spec_ctx b = {.m = P->m, .in = P->shape, .out = P->shape};
    size_t before = nb__model_declared(P->m, 1), row = P->n_rows;
    nb_summary_row *r = nb__row_new(P);
    double vals[NB__MAX_LAYER_ARGS];
    int set[NB__MAX_LAYER_ARGS] = {0}, rc;
    for (int k = 0; k < NB__MAX_LAYER_ARGS; k++) vals[k] = def->params[k].def;
    if (def->end) { /* a block: residual(LAYERS) */
        if (nb__at(P) != '(')
            return nb__perr(P, P->pos, "%s needs its layers in parentheses, e.g. %s(linear(128) relu)", def->name,
                            def->name);
        size_t lp = P->pos++;
        if ((rc = def->build(&b, def, vals)))
            return nb__perr(P, at, "%s (%s): %s", def->name, lname, rc == NB__SPEC_SHAPE ? b.expect : nb_errmsg());
        snprintf(P->prefix[P->depth], sizeof P->prefix[0], "%s", lname);
        P->count[++P->depth] = 0;
        int k = nb__seq(P, lp);
        P->depth--;
        if (k < 0) return -1;
        if (k == 0) return nb__perr(P, at, "%s(...) needs at least one layer", def->name);
        P->pos++; /* ')' */
        b.out = P->shape;
        if (def->end(&b)) return nb__perr(P, at, "%s (%s): %s", def->name, lname, nb_errmsg());
    } else {
        if (nb__at(P) == '(' && nb__args(P, def, at, vals, set)) return -1;
        for (int k = 0; k < nb__n_params(def); k++)
            if (def->params[k].required && !set[k])
                return nb__perr(P, at, "%s needs its '%s' argument, e.g. %s(128)", def->name, def->params[k].name,
                                def->name);
        rc = def->build(&b, def, vals);
        if (rc == NB__SPEC_SHAPE)
            return nb__perr(P, at, "%s (%s) takes %s, but %s gives %s", def->name, lname, b.expect, P->prev,
                            nb__shape_str(&P->shape, sh, sizeof sh));
        if (rc) {
            char why[400];
            snprintf(why, sizeof why, "%s", nb_errmsg());
            return nb__perr(P, at, "%s (%s): %s", def->name, lname, why);
        }
    }
    c = nb__at(P);
    if (c && c != ')' && !isspace((unsigned char)c))
        return nb__perr(P, P->pos, "expected a space between layers, found '%c'", c);
    if (P->n_rows > row && (r = &P->rows[row])) {
        snprintf(r->name, sizeof r->name, "%s", lname);
        snprintf(r->kind, sizeof r->kind, "%s", def->name);
        r->depth = P->depth;
        r->ndim = b.out.ndim;
        memcpy(r->shape, b.out.d, sizeof r->shape);
        r->params = nb__model_declared(P->m, 1) - before;
    }
    P->shape = b.out;
    snprintf(P->prev, sizeof P->prev, "%.24s (%s)", def->name, lname);
    P->count[P->depth]++;
    return 0;
}

/* Layers up to the end, or up to the ')' closing the block opened at
 * open_pos; returns how many, or -1. */
static int nb__seq(nb__parser *P, size_t open_pos)
{
    int n = 0;
    for (;;) {
        nb__skip_ws(P);
        char c = nb__at(P);
        if (!c) {
            if (open_pos != NB__NONE) return nb__perr(P, open_pos, "'(' is never closed");
            return n;
        }
        if (c == ')') {
            if (open_pos == NB__NONE) return nb__perr(P, P->pos, "unexpected ')' (no block is open)");
            return n;
        }
        if (nb__layer(P)) return -1;
        n++;
    }
}

/* Parse spec and append its layers to m (whose input shape is set); with
 * rows, record one summary row per layer.  0 or -1. */
static int nb__spec_build(nb_model *m, const char *spec, nb_summary_row **rows, size_t *n_rows)
{
    nb__parser P = {.s = spec, .len = strlen(spec), .m = m};
    size_t shape[NB_MAX_DIMS];
    P.shape.ndim = nb_model_input_shape(m, shape);
    memcpy(P.shape.d, shape, sizeof shape);
    snprintf(P.prev, sizeof P.prev, "the input");
    if (rows && !(P.rows = malloc(16 * sizeof *P.rows))) return nb__erri("layer description: out of memory");
    P.cap_rows = 16;
    int n = nb__seq(&P, NB__NONE);
    if (n == 0) nb__perr(&P, 0, "layer description: no layers");
    if (n > 0 && P.oom) {
        nb__erri("layer description: out of memory");
        n = -1;
    }
    if (n <= 0) {
        free(P.rows);
        return -1;
    }
    if (rows) {
        *rows = P.rows;
        *n_rows = P.n_rows;
    }
    return 0;
}

static int nb__check_input(int in_ndim, const size_t *in_shape)
{
    if (in_ndim < 1 || in_ndim > NB_MAX_DIMS || !in_shape)
        return nb__erri("layer description: the input shape needs 1..%d dims (got %d)", NB_MAX_DIMS, in_ndim);
    return 0;
}

nb_model *nb_model_from_spec(const char *spec, nb_dtype dt, int in_ndim, const size_t *in_shape)
{
    if (!spec) return nb__err("layer description: NULL");
    if (nb__check_input(in_ndim, in_shape)) return NULL;
    nb_model *m = nb_model_new(dt);
    if (!m) return NULL;
    if (nb_model_set_input_shape(m, in_ndim, in_shape) || nb__spec_build(m, spec, NULL, NULL) ||
        nb__model_set_spec(m, spec) || nb_model_finalize(m)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------ summary */
nb_summary *nb_model_summary(const nb_model *m)
{
    if (!m) return nb__err("summary: NULL model");
    char *spec = nb_model_spec(m);
    nb_summary *s = calloc(1, sizeof *s);
    nb_model *scratch = nb_model_new(nb_model_dtype(m));
    if (!spec || !s || !scratch) {
        if (spec) nb__erri("summary: out of memory");
        goto fail;
    }
    s->in_ndim = nb_model_input_shape(m, s->in_shape);
    s->dtype = nb_model_dtype(m);
    /* the same description built again (no buffers allocated), recording rows */
    if (nb_model_set_input_shape(scratch, s->in_ndim, s->in_shape) ||
        nb__spec_build(scratch, spec, &s->rows, &s->n_rows))
        goto fail;
    s->params = nb__model_declared(scratch, 1);
    s->buffers = nb__model_declared(scratch, 0);
    size_t es = nb_dtype_size(s->dtype), act = 0;
    for (size_t i = 0; i < s->n_rows; i++) {
        size_t n = 1;
        for (int k = 0; k < s->rows[i].ndim; k++) n *= s->rows[i].shape[k];
        act += n;
    }
    s->param_bytes = (s->params + s->buffers) * es;
    s->activation_bytes = act * es;
    nb_model_free(scratch);
    free(spec);
    return s;
fail:
    nb_model_free(scratch);
    free(spec);
    nb_summary_free(s);
    return NULL;
}

void nb_summary_free(nb_summary *s)
{
    if (!s) return;
    free(s->rows);
    free(s);
}
