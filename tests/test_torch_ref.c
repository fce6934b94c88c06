/* Every op of the catalogue against PyTorch: tests/ref/torch_ops.txt holds,
 * per case, the inputs, an upstream gradient, and torch's forward output and
 * input gradients in float64 and float32 (written by tests/ref/torch_ref.py,
 * which documents the format; regenerate with `make fixtures`).  We run the
 * catalogue's build function on the same inputs in both dtypes and compare.
 * Dropout in training mode cannot match torch's RNG; it is checked here
 * structurally: out = x * mask / (1 - p), grad = upstream * mask / (1 - p). */
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "t.h"

#define TR_PATH "tests/ref/torch_ops.txt"

typedef struct {
    int ndim;
    size_t shape[NB_MAX_DIMS];
    size_t n;
    double *v;
} tr_arr;

typedef struct {
    int have;
    tr_arr out;
    int has_grad[NB_OPCASE_MAX_IN];
    tr_arr grad[NB_OPCASE_MAX_IN];
} tr_result;

typedef struct {
    char name[128];
    int n_in;
    int is_int[NB_OPCASE_MAX_IN], req[NB_OPCASE_MAX_IN];
    tr_arr in[NB_OPCASE_MAX_IN];
    tr_arr up;
    int have_up;
    tr_result res[2]; /* [0] float64, [1] float32 */
} tr_case;

typedef struct {
    tr_case *cases;
    size_t n;
    char err[256];
} tr_file;

/* "<ndim> <d...> : <v...>" at s; 0 or -1. */
static int tr_parse_arr(const char *s, tr_arr *a)
{
    char *end;
    long nd = strtol(s, &end, 10);
    if (end == s || nd < 0 || nd > NB_MAX_DIMS) return -1;
    a->ndim = (int)nd;
    a->n = 1;
    for (int d = 0; d < a->ndim; d++) {
        s = end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s) return -1;
        a->shape[d] = v;
        a->n *= v;
    }
    s = end;
    while (*s == ' ') s++;
    if (*s != ':') return -1;
    s++;
    a->v = malloc((a->n ? a->n : 1) * sizeof *a->v);
    if (!a->v) return -1;
    for (size_t k = 0; k < a->n; k++) {
        a->v[k] = strtod(s, &end);
        if (end == s) return -1;
        s = end;
    }
    while (*s == ' ' || *s == '\n' || *s == '\r') s++;
    return *s ? -1 : 0;
}

static void tr_free(tr_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        tr_case *c = &f->cases[i];
        for (int k = 0; k < NB_OPCASE_MAX_IN; k++) {
            free(c->in[k].v);
            for (int r = 0; r < 2; r++) free(c->res[r].grad[k].v);
        }
        free(c->up.v);
        for (int r = 0; r < 2; r++) free(c->res[r].out.v);
    }
    free(f->cases);
    f->cases = NULL;
    f->n = 0;
}

/* Loads the whole fixture; 0, or -1 with f->err set. */
static int tr_load(const char *path, tr_file *f)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(f->err, sizeof f->err, "cannot open %s (run `make fixtures`)", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, alloc = 0, ln = 0;
    int header = 0, rc = 0, r = -1;
    tr_case *cur = NULL;
    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        ln++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        if (!strcmp(line, "nabla-torch-ops 1")) {
            header = 1;
        } else if (!strncmp(line, "case ", 5)) {
            if (f->n == alloc) {
                alloc = alloc ? 2 * alloc : 64;
                tr_case *nc = realloc(f->cases, alloc * sizeof *nc);
                if (!nc) {
                    rc = -1;
                    break;
                }
                f->cases = nc;
            }
            cur = &f->cases[f->n++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%s", line + 5);
            r = -1;
        } else if (!cur) {
            rc = -1;
        } else if (!strncmp(line, "input ", 6)) {
            int i, req, used = 0;
            char dt[16];
            if (sscanf(line + 6, "%d %15s %d %n", &i, dt, &req, &used) != 3 || used == 0 || i != cur->n_in ||
                i >= NB_OPCASE_MAX_IN)
                rc = -1;
            else {
                cur->is_int[i] = !strcmp(dt, "int32");
                cur->req[i] = req;
                cur->n_in++;
                rc = tr_parse_arr(line + 6 + used, &cur->in[i]);
            }
        } else if (!strncmp(line, "upstream ", 9)) {
            cur->have_up = 1;
            rc = tr_parse_arr(line + 9, &cur->up);
        } else if (!strcmp(line, "result float64") || !strcmp(line, "result float32")) {
            r = line[12] == '3'; /* "result float32" */
            cur->res[r].have = 1;
        } else if (!strncmp(line, "out ", 4) && r >= 0) {
            rc = tr_parse_arr(line + 4, &cur->res[r].out);
        } else if (!strncmp(line, "grad ", 5) && r >= 0) {
            char *end;
            long i = strtol(line + 5, &end, 10);
            if (i < 0 || i >= cur->n_in) rc = -1;
            else {
                cur->res[r].has_grad[i] = 1;
                rc = tr_parse_arr(end + 1, &cur->res[r].grad[i]);
            }
        } else if (!strcmp(line, "end")) {
            if (!cur->have_up || !cur->res[0].have || !cur->res[1].have) rc = -1;
            cur = NULL;
        } else {
            rc = -1;
        }
    }
    if (rc == 0 && (!header || cur)) rc = -1;
    if (rc) snprintf(f->err, sizeof f->err, "%s: malformed at line %zu", path, ln);
    free(line);
    fclose(fp);
    if (rc) tr_free(f);
    return rc;
}

static int tr_same_shape(const nb_tensor *t, const tr_arr *a)
{
    if (!t || t->ndim != a->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (t->shape[d] != a->shape[d]) return 0;
    return 1;
}

/* An arena tensor of dt with a's values (requires_grad as asked). */
static nb_tensor *tr_tensor(nb_ctx *c, nb_dtype dt, const tr_arr *a, int req)
{
    nb_tensor *t = nb_empty(c, dt, a->ndim, a->shape);
    for (size_t k = 0; t && k < a->n; k++) nb_set(t, k, a->v[k]);
    if (t && req && nb_tensor_set_requires_grad(t, 1)) return NULL;
    return t;
}

/* Number of mismatching elements (reports the first one). */
static int tr_compare(const char *cs, const char *what, const nb_tensor *got, const tr_arr *want, double atol,
                      double rtol)
{
    if (!tr_same_shape(got, want)) {
        t_fail(__FILE__, __LINE__, "%s: %s has shape %s, torch has %d dims", cs, what,
               got ? nb_shape_str(got, (char[64]){0}, 64) : "(null)", want->ndim);
        return 1;
    }
    /* atol scales with the tensor's largest magnitude: an element that is the
     * difference of larger ones (float32 sums, p - target) is only that exact. */
    double scale = 0;
    for (size_t k = 0; k < want->n; k++)
        if (fabs(want->v[k]) > scale) scale = fabs(want->v[k]);
    double tol_abs = atol * (scale > 1 ? scale : 1);
    for (size_t k = 0; k < want->n; k++) {
        double a = got ? nb_get(got, k) : 0.0;
        if (!t_close(a, want->v[k], tol_abs, rtol)) {
            t_fail(__FILE__, __LINE__, "%s: %s[%zu] = %.17g, torch %.17g (diff %.3g)", cs, what, k, a, want->v[k],
                   fabs(a - want->v[k]));
            return 1;
        }
    }
    return 0;
}

/* Runs one case in dtype dt and compares with torch; returns failures. */
static int tr_run_case(const tr_case *tc, nb_dtype dt, double atol, double rtol)
{
    const nb_opcase *oc = nb_opcase_find(tc->name);
    const tr_result *res = &tc->res[dt == NB_F32];
    char cs[160];
    snprintf(cs, sizeof cs, "%s (%s)", tc->name, nb_dtype_name(dt));
    if (!oc) {
        t_fail(__FILE__, __LINE__, "%s: fixture case is not in the catalogue (stale fixture: make fixtures)", cs);
        return 1;
    }
    if (oc->n_in != tc->n_in) {
        t_fail(__FILE__, __LINE__, "%s: fixture has %d inputs, the catalogue %d (make fixtures)", cs, tc->n_in,
               oc->n_in);
        return 1;
    }
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *in[NB_OPCASE_MAX_IN] = {0};
    int fails = 0;
    for (int i = 0; i < tc->n_in && c; i++) {
        in[i] = tr_tensor(c, tc->is_int[i] ? NB_I32 : dt, &tc->in[i], tc->req[i] && !tc->is_int[i]);
        if (!in[i]) fails++;
    }
    nb_tensor *y = fails ? NULL : oc->build(c, in, oc->n_in);
    if (!y) {
        t_fail(__FILE__, __LINE__, "%s: the op failed: %s", cs, nb_errmsg());
        nb_ctx_free(c);
        return 1;
    }
    fails += tr_compare(cs, "output", y, &res->out, atol, rtol);
    if (!fails && nb_requires_grad(y)) {
        nb_tensor *up = tr_tensor(c, dt, &tc->up, 0);
        if (!up || nb_backward(c, y, up) != 0) {
            t_fail(__FILE__, __LINE__, "%s: backward failed: %s", cs, nb_errmsg());
            fails++;
        }
    }
    for (int i = 0; i < tc->n_in && !fails; i++) {
        if (!res->has_grad[i]) continue;
        char what[32];
        snprintf(what, sizeof what, "grad of input %d", i);
        nb_tensor *g = in[i]->grad;
        if (!g) { /* no gradient reached it: zeros */
            g = nb_zeros(c, dt, in[i]->ndim, in[i]->shape);
        }
        fails += tr_compare(cs, what, g, &res->grad[i], atol, rtol);
    }
    nb_ctx_free(c);
    return fails;
}

static void tr_run_all(nb_dtype dt, double atol, double rtol)
{
    tr_file f;
    if (tr_load(TR_PATH, &f)) {
        t_fail(__FILE__, __LINE__, "%s", f.err);
        return;
    }
    CHECK_MSG(f.n >= 40, "only %zu fixture cases", f.n);
    for (size_t i = 0; i < f.n; i++) tr_run_case(&f.cases[i], dt, atol, rtol);
    tr_free(&f);
}

TEST(torch_ref, float64_matches_torch) { tr_run_all(NB_F64, 1e-10, 1e-10); }

TEST(torch_ref, float32_matches_torch) { tr_run_all(NB_F32, 1e-6, 1e-5); }

/* Every catalogue case with a torch expression has a fixture of the same
 * input shapes; every fixture names a catalogue case. */
TEST(torch_ref, fixtures_cover_catalogue)
{
    tr_file f;
    if (tr_load(TR_PATH, &f)) {
        t_fail(__FILE__, __LINE__, "%s", f.err);
        return;
    }
    size_t n;
    const nb_opcase *cs = nb_opcases(&n);
    for (size_t i = 0; i < n; i++) {
        const tr_case *tc = NULL;
        for (size_t j = 0; j < f.n && !tc; j++)
            if (!strcmp(f.cases[j].name, cs[i].name)) tc = &f.cases[j];
        if (!cs[i].torch) {
            CHECK_MSG(!tc, "%s has no torch expression but a fixture", cs[i].name);
            continue;
        }
        if (!tc) {
            t_fail(__FILE__, __LINE__, "%s has no fixture (run `make fixtures`)", cs[i].name);
            continue;
        }
        for (int k = 0; k < cs[i].n_in && k < tc->n_in; k++) {
            const nb_case_input *s = &cs[i].in[k];
            int same = s->ndim == tc->in[k].ndim && (s->dtype == NB_I32) == tc->is_int[k] &&
                       s->requires_grad == tc->req[k];
            for (int d = 0; same && d < s->ndim; d++) same = s->shape[d] == tc->in[k].shape[d];
            CHECK_MSG(same, "%s: input %d differs from its fixture (run `make fixtures`)", cs[i].name, k);
        }
    }
    for (size_t j = 0; j < f.n; j++)
        CHECK_MSG(nb_opcase_find(f.cases[j].name), "fixture %s is not in the catalogue", f.cases[j].name);
    tr_free(&f);
}

/* Dropout without a torch reference: each output is 0 or x / (1 - p), the
 * gradient is upstream * (the same mask) / (1 - p), and about p are dropped. */
static void tr_dropout_case(const nb_opcase *oc, nb_dtype dt)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *in[NB_OPCASE_MAX_IN];
    const double p = oc->param, tol = dt == NB_F64 ? 1e-14 : 1e-6;
    CHECK_OK(nb_opcase_inputs(c, oc, dt, in) == 0);
    nb_tensor *x = in[0], *y = oc->build(c, in, oc->n_in);
    CHECK_MSG(y && nb_same_shape(x, y), "%s (%s): %s", oc->name, nb_dtype_name(dt), nb_errmsg());
    if (!y || !nb_same_shape(x, y)) {
        nb_ctx_free(c);
        return;
    }
    nb_tensor *up = nb_opcase_upstream(c, oc, y);
    CHECK_OK(up && nb_backward(c, y, up) == 0);
    size_t dropped = 0, bad = 0;
    for (size_t k = 0; k < x->numel; k++) {
        double xv = nb_get(x, k), yv = nb_get(y, k), gv = x->grad ? nb_get(x->grad, k) : 0.0;
        int keep = yv != 0.0;
        dropped += !keep;
        double want_y = keep ? xv / (1 - p) : 0.0, want_g = keep ? nb_get(up, k) / (1 - p) : 0.0;
        if (!t_close(yv, want_y, tol, tol) || !t_close(gv, want_g, tol, tol)) {
            if (!bad++)
                t_fail(__FILE__, __LINE__, "%s (%s): element %zu: x %.9g y %.9g grad %.9g (p %g)", oc->name,
                       nb_dtype_name(dt), k, xv, yv, gv, p);
        }
    }
    if (x->numel >= 30) {
        double frac = (double)dropped / (double)x->numel;
        CHECK_MSG(fabs(frac - p) < 0.25, "%s: dropped %.2f of the elements, p = %g", oc->name, frac, p);
    }
    nb_ctx_free(c);
}

TEST(torch_ref, dropout_structure)
{
    size_t n, seen = 0;
    const nb_opcase *cs = nb_opcases(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cs[i].op, "dropout") || cs[i].torch) continue;
        seen++;
        tr_dropout_case(&cs[i], NB_F64);
        tr_dropout_case(&cs[i], NB_F32);
    }
    CHECK(seen >= 2);
}
