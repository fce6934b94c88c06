/* nb_gradcheck and the op catalogue: every case passes in float64 (full and
 * fast mode); every op of the registry (nabla/ops.h) has cases, one of them
 * empty; deliberately wrong backwards and a missing op's cases are caught
 * (the negative controls); errors are reported; the caller's tensors are left
 * alone. */
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "internal.h" /* nb__node: the name an op records */
#include "nabla/ops.h"
#include "t.h"

static nb_tensor *gc_call(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    const nb_opcase *oc = user;
    return oc->build(c, in, n_in);
}

/* Runs the whole catalogue; returns the number of failing cases. */
static int gc_run_catalogue(int fast)
{
    size_t n;
    const nb_opcase *cs = nb_opcases(&n);
    nb_ctx *c = nb_ctx_new(NULL);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        nb_tensor *in[NB_OPCASE_MAX_IN];
        nb_gradcheck_result r;
        nb_gradcheck_opts o = {.fast = fast, .n_probes = 6, .seed = 99 + i};
        nb_ctx_reset(c);
        int rc = nb_opcase_inputs(c, &cs[i], NB_F64, in);
        if (rc == 0) rc = nb_gradcheck(gc_call, (void *)&cs[i], cs[i].n_in, in, &o, &r);
        if (rc != 0 || !r.passed) {
            failed++;
            t_fail(__FILE__, __LINE__, "%s%s: rc %d, %s; worst in%d[%zu] -> out[%zu]: analytic %.10g numeric %.10g",
                   cs[i].name, fast ? " (fast)" : "", rc, rc ? nb_errmsg() : "FAIL", r.worst_input, r.worst_in_index,
                   r.worst_out_index, r.worst_analytic, r.worst_numeric);
        }
    }
    nb_ctx_free(c);
    return failed;
}

TEST(gradcheck, catalogue_all_pass_float64) { CHECK(gc_run_catalogue(0) == 0); }

TEST(gradcheck, catalogue_all_pass_fast_mode) { CHECK(gc_run_catalogue(1) == 0); }

/* ------------------------------------------------ registry coverage */
/* Does the case run on no elements (an input or its output empty)? */
static int gc_case_is_empty(nb_ctx *c, const nb_opcase *oc)
{
    for (int j = 0; j < oc->n_in; j++)
        for (int d = 0; d < oc->in[j].ndim; d++)
            if (oc->in[j].shape[d] == 0) return 1;
    nb_tensor *in[NB_OPCASE_MAX_IN], *y = NULL;
    nb_ctx_reset(c);
    int was = nb_set_grad_enabled(c, 0);
    if (nb_opcase_inputs(c, oc, NB_F64, in) == 0) y = oc->build(c, in, oc->n_in);
    nb_set_grad_enabled(c, was);
    return y && y->numel == 0;
}

/* Checks that every op of the registry has a catalogue case, one of them
 * empty (empty[i] says whether cs[i] is), and that every case names a
 * registry op.  Returns the number of problems; the first is written to why. */
static int gc_coverage(const nb_opcase *cs, size_t n, const int *empty, char *why, size_t size)
{
    int cases[NB_OP_COUNT] = {0}, empties[NB_OP_COUNT] = {0}, problems = 0;
    why[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int id = nb_op_lookup(cs[i].op);
        if (id < 0) {
            if (!problems++) snprintf(why, size, "case %s: op %s is not in the registry", cs[i].name, cs[i].op);
            continue;
        }
        cases[id]++;
        empties[id] += empty[i] != 0;
    }
    for (int id = 0; id < NB_OP_COUNT; id++) {
        const char *op = nb_op_def_get(id)->name;
        if (!cases[id]) {
            if (!problems++) snprintf(why, size, "op %s has no catalogue case", op);
        } else if (!empties[id]) {
            if (!problems++) snprintf(why, size, "op %s has no empty-shape case", op);
        }
    }
    return problems;
}

/* The catalogue and which of its cases are empty; free both. */
static const nb_opcase *gc_catalogue(size_t *n, int **empty)
{
    const nb_opcase *cs = nb_opcases(n);
    nb_ctx *c = nb_ctx_new(NULL);
    *empty = calloc(*n, sizeof **empty);
    for (size_t i = 0; *empty && i < *n; i++) (*empty)[i] = gc_case_is_empty(c, &cs[i]);
    nb_ctx_free(c);
    return cs;
}

TEST(registry, every_op_is_defined_once)
{
    for (int id = 0; id < NB_OP_COUNT; id++) {
        const nb_op_def *d = nb_op_def_get(id);
        CHECK_MSG(d && d->name, "registry line %d is missing", id);
        if (!d || !d->name) continue;
        CHECK_MSG(nb_op_lookup(d->name) == id, "%s: defined twice", d->name);
        CHECK_MSG(d->n_in == -1 || (d->n_in >= 1 && d->n_in <= 3), "%s: n_in %d", d->name, d->n_in);
        FILE *f = d->file ? fopen(d->file, "r") : NULL; /* tests run from the repository root */
        CHECK_MSG(f, "%s: no file %s", d->name, d->file ? d->file : "(null)");
        if (f) fclose(f);
    }
    CHECK(nb_op_def_get(-1) == NULL && nb_op_def_get(NB_OP_COUNT) == NULL);
    CHECK(nb_op_lookup("no_such_op") == -1 && nb_op_lookup(NULL) == -1);
    CHECK(!strcmp(nb_op_def_get(NB_OP_ADD)->name, "add") && nb_op_lookup("apply") == NB_OP_APPLY);
}

TEST(registry, catalogue_covers_every_op_with_an_empty_case)
{
    size_t n;
    int *empty;
    const nb_opcase *cs = gc_catalogue(&n, &empty);
    CHECK_OK(empty);
    if (!empty) return;
    char why[256];
    int problems = gc_coverage(cs, n, empty, why, sizeof why);
    CHECK_MSG(problems == 0, "%d problems, the first: %s", problems, why);
    /* Names are unique, "op.variant", and findable. */
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cs[i].op);
        CHECK_MSG(!strncmp(cs[i].name, cs[i].op, len) && cs[i].name[len] == '.', "%s: name/op mismatch", cs[i].name);
        CHECK_MSG(nb_opcase_find(cs[i].name) == &cs[i], "%s is not unique", cs[i].name);
        CHECK(cs[i].n_in >= 1 && cs[i].n_in <= NB_OPCASE_MAX_IN && cs[i].build);
    }
    CHECK(nb_opcase_find("no.such_case") == NULL);
    free(empty);
}

/* The registry's names are the ones the ops record on their graph nodes
 * (anomaly reports and error messages use them). */
TEST(registry, ops_record_their_registry_name)
{
    size_t n;
    const nb_opcase *cs = nb_opcases(&n);
    nb_ctx *c = nb_ctx_new(NULL);
    int seen[NB_OP_COUNT] = {0};
    for (size_t i = 0; i < n; i++) {
        nb_tensor *in[NB_OPCASE_MAX_IN], *y = NULL;
        nb_ctx_reset(c);
        if (nb_opcase_inputs(c, &cs[i], NB_F64, in) == 0) y = cs[i].build(c, in, cs[i].n_in);
        CHECK_MSG(y, "%s: %s", cs[i].name, nb_errmsg());
        const nb_op_def *def = nb_op_def_get(nb_op_lookup(cs[i].op));
        if (y && def && def->no_grad) { /* a comparison: no node, no gradient, however its inputs */
            CHECK_MSG(!y->node && !nb_requires_grad(y), "%s: a no_grad op recorded a node", cs[i].name);
            seen[nb_op_lookup(cs[i].op)] = 1;
            continue;
        }
        if (!y || !y->node || nb_op_lookup(cs[i].op) == NB_OP_APPLY) continue; /* apply: the function's name */
        const char *rec = y->node->op->name;
        CHECK_MSG(!strcmp(rec, cs[i].op), "%s: the node says %s", cs[i].name, rec);
        if (!strcmp(rec, cs[i].op)) seen[nb_op_lookup(rec)] = 1;
    }
    for (int id = 0; id < NB_OP_COUNT; id++)
        CHECK_MSG(seen[id] || id == NB_OP_APPLY, "no case of %s recorded a node", nb_op_def_get(id)->name);
    nb_ctx_free(c);
}

/* The negative control: the coverage check catches an op without cases, an
 * op without an empty case, and a case whose op is not registered. */
TEST(registry, coverage_check_catches_missing_cases)
{
    size_t n, m = 0;
    int *empty;
    const nb_opcase *cs = gc_catalogue(&n, &empty);
    nb_opcase *cut = malloc((n + 1) * sizeof *cut);
    int *cut_empty = malloc((n + 1) * sizeof *cut_empty);
    CHECK_OK(empty && cut && cut_empty);
    if (!empty || !cut || !cut_empty) goto out;
    char why[256];
    for (size_t i = 0; i < n; i++) /* every "where" case dropped */
        if (strcmp(cs[i].op, "where")) cut[m] = cs[i], cut_empty[m++] = empty[i];
    CHECK(m < n && gc_coverage(cut, m, cut_empty, why, sizeof why) == 1);
    CHECK_MSG(!strcmp(why, "op where has no catalogue case"), "%s", why);

    for (size_t i = 0; i < n; i++) /* "add" keeps its cases but none is empty */
        cut_empty[i] = empty[i] && strcmp(cs[i].op, "add");
    CHECK(gc_coverage(cs, n, cut_empty, why, sizeof why) == 1);
    CHECK_MSG(!strcmp(why, "op add has no empty-shape case"), "%s", why);

    memcpy(cut, cs, n * sizeof *cut); /* a case of an op nobody registered */
    memcpy(cut_empty, empty, n * sizeof *cut_empty);
    cut[n] = cs[0];
    cut[n].name = "fft.basic";
    cut[n].op = "fft";
    cut_empty[n] = 1;
    CHECK(gc_coverage(cut, n + 1, cut_empty, why, sizeof why) == 1);
    CHECK_MSG(!strcmp(why, "case fft.basic: op fft is not in the registry"), "%s", why);
out:
    free(empty);
    free(cut);
    free(cut_empty);
}

TEST(gradcheck, catalogue_inputs_are_reproducible)
{
    const nb_opcase *oc = nb_opcase_find("matmul.broadcast_b");
    CHECK_OK(oc);
    if (!oc) return;
    nb_ctx *c = nb_ctx_new(NULL);
    nb_tensor *a[NB_OPCASE_MAX_IN], *b[NB_OPCASE_MAX_IN], *f[NB_OPCASE_MAX_IN];
    CHECK_OK(nb_opcase_inputs(c, oc, NB_F64, a) == 0);
    CHECK_OK(nb_opcase_inputs(c, oc, NB_F64, b) == 0);
    CHECK_OK(nb_opcase_inputs(c, oc, NB_F32, f) == 0);
    for (int i = 0; i < oc->n_in; i++) {
        CHECK(a[i]->dtype == NB_F64 && f[i]->dtype == NB_F32 && nb_requires_grad(a[i]));
        CHECK(memcmp(a[i]->data, b[i]->data, a[i]->numel * sizeof(double)) == 0);
        for (size_t k = 0; k < a[i]->numel; k++) CHECK(nb_get(f[i], k) == (double)(float)nb_get(a[i], k));
    }
    CHECK(nb_opcase_seed(oc) != nb_opcase_seed(nb_opcase_find("matmul.broadcast_a")));
    CHECK(nb_opcase_inputs(c, oc, NB_I32, a) != 0);
    nb_ctx_free(c);
}

/* ------------------------------------------------ negative controls */
/* y = a * b through nb_apply, with a backward that can be made wrong. */
typedef enum { GC_RIGHT, GC_SCALED, GC_SIGN, GC_MISSING, GC_ONE_ELEMENT } gc_mode;

static nb_tensor *gc_mul_fwd(nb_fnctx *fc, nb_tensor *const *in, int n_in)
{
    nb_ctx *c = nb_fn_ctx(fc);
    if (nb_fn_save(fc, in[0]) || nb_fn_save(fc, in[1])) return NULL;
    return nb_mul(c, in[0], in[1]);
}

static int gc_mul_bwd(nb_fnctx *fc, const nb_tensor *g, nb_tensor **grad_in, int n_in)
{
    gc_mode mode = *(const gc_mode *)nb_fn_user(fc);
    nb_tensor *a = nb_fn_saved(fc, 0), *b = nb_fn_saved(fc, 1);
    for (int i = 0; i < 2; i++) {
        if (!nb_fn_needs_grad(fc, i)) continue;
        if (mode == GC_MISSING && i == 1) continue; /* forgets d/db */
        nb_tensor *gi = nb_empty(nb_fn_ctx(fc), g->dtype, g->ndim, g->shape);
        if (!gi) return -1;
        for (size_t k = 0; k < g->numel; k++) {
            double v = nb_get(g, k) * nb_get(i == 0 ? b : a, k);
            if (mode == GC_SCALED && i == 0) v *= 1.1;
            if (mode == GC_SIGN && i == 1) v = -v;
            if (mode == GC_ONE_ELEMENT && i == 1 && k == 3) v += 0.01 * nb_get(g, k);
            nb_set(gi, k, v);
        }
        grad_in[i] = gi;
    }
    return 0;
}

static const nb_function gc_mul = {"checked_mul", gc_mul_fwd, gc_mul_bwd};

static nb_tensor *gc_apply_mul(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    return nb_apply(c, &gc_mul, 2, in, user);
}

static int gc_check_mul(gc_mode mode, int fast, nb_gradcheck_result *r)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    size_t shape[2] = {2, 3};
    nb_tensor *in[2] = {nb_uniform(c, NB_F64, 2, shape, -2, 2, &rng), nb_uniform(c, NB_F64, 2, shape, -2, 2, &rng)};
    nb_tensor_set_requires_grad(in[0], 1);
    nb_tensor_set_requires_grad(in[1], 1);
    nb_gradcheck_opts o = {.fast = fast, .seed = 3};
    int rc = nb_gradcheck(gc_apply_mul, &mode, 2, in, &o, r);
    nb_ctx_free(c);
    return rc;
}

TEST(gradcheck, correct_custom_function_passes)
{
    nb_gradcheck_result r;
    CHECK_OK(gc_check_mul(GC_RIGHT, 0, &r) == 0);
    CHECK(r.passed);
    CHECK(r.n_checked == 6 * 12); /* 6 outputs x (6 + 6) input elements */
    CHECK(r.max_abs_err < 1e-8);
    CHECK_OK(gc_check_mul(GC_RIGHT, 1, &r) == 0);
    CHECK(r.passed && r.n_checked == 4);
}

TEST(gradcheck, catches_scaled_backward)
{
    nb_gradcheck_result r;
    CHECK_OK(gc_check_mul(GC_SCALED, 0, &r) == 0);
    CHECK(r.passed == 0);
    CHECK(r.worst_input == 0);
    CHECK(fabs(r.worst_analytic - 1.1 * r.worst_numeric) < 1e-6);
    CHECK_OK(gc_check_mul(GC_SCALED, 1, &r) == 0);
    CHECK(r.passed == 0);
}

TEST(gradcheck, catches_sign_error)
{
    nb_gradcheck_result r;
    CHECK_OK(gc_check_mul(GC_SIGN, 0, &r) == 0);
    CHECK(r.passed == 0);
    CHECK(r.worst_input == 1);
    CHECK_NEAR(r.worst_analytic, -r.worst_numeric, 1e-6);
    CHECK_OK(gc_check_mul(GC_SIGN, 1, &r) == 0);
    CHECK(r.passed == 0);
}

TEST(gradcheck, catches_missing_gradient)
{
    nb_gradcheck_result r;
    CHECK_OK(gc_check_mul(GC_MISSING, 0, &r) == 0);
    CHECK(r.passed == 0);
    CHECK(r.worst_input == 1 && r.worst_analytic == 0.0);
}

TEST(gradcheck, locates_a_single_wrong_element)
{
    nb_gradcheck_result r;
    CHECK_OK(gc_check_mul(GC_ONE_ELEMENT, 0, &r) == 0);
    CHECK(r.passed == 0);
    CHECK_MSG(r.worst_input == 1 && r.worst_in_index == 3 && r.worst_out_index == 3, "worst in%d[%zu] out[%zu]",
              r.worst_input, r.worst_in_index, r.worst_out_index);
    CHECK_NEAR(r.max_abs_err, 0.01, 1e-6);
    CHECK_NEAR(r.worst_analytic - r.worst_numeric, 0.01, 1e-6);
}

/* ------------------------------------------------------------ errors */
static nb_tensor *gc_fail_fn(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    return nb_add(c, in[0], in[1]); /* [2,3] + [4]: does not broadcast */
}

static nb_tensor *gc_f32_out(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    nb_tensor *y = nb_empty(c, NB_F32, in[0]->ndim, in[0]->shape);
    if (y) nb_copy_into(y, in[0]);
    return y;
}

static nb_tensor *gc_sum_fn(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    nb_tensor *y = nb_mul(c, in[0], in[0]);
    for (int i = 1; i < n_in; i++)
        if (in[i]->dtype != NB_I32) y = nb_add(c, y, in[i]);
    return nb_sum(c, y, NULL, 0, 0);
}

TEST(gradcheck, errors)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_gradcheck_result r;
    nb_tensor *f32 = nb_ones(c, NB_F32, 1, (size_t[]){3});
    nb_tensor *a = nb_ones(c, NB_F64, 2, (size_t[]){2, 3}), *b = nb_ones(c, NB_F64, 1, (size_t[]){4});
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor_set_requires_grad(f32, 1);
    CHECK(nb_gradcheck(gc_sum_fn, NULL, 1, &f32, NULL, &r) == -1);
    CHECK(strstr(nb_errmsg(), "float32") != NULL);
    CHECK(r.passed == 0);
    CHECK(nb_gradcheck(gc_fail_fn, NULL, 2, (nb_tensor *[]){a, b}, NULL, &r) == -1);
    CHECK_MSG(strstr(nb_errmsg(), "add") != NULL, "message: %s", nb_errmsg());
    CHECK(r.passed == 0);
    CHECK(nb_gradcheck(gc_f32_out, NULL, 1, &a, NULL, &r) == -1);
    CHECK(nb_gradcheck(NULL, NULL, 1, &a, NULL, &r) == -1);
    CHECK(nb_gradcheck(gc_sum_fn, NULL, 1, &a, NULL, NULL) == -1);
    CHECK(nb_gradcheck(gc_sum_fn, NULL, 1, (nb_tensor *[]){NULL}, NULL, &r) == -1);
    nb_ctx_free(c);
}

TEST(gradcheck, leaves_caller_tensors_alone)
{
    nb_ctx *c = nb_ctx_new(NULL);
    double xs[5] = {0.1, -0.7, 1.3, 2.2, -1.9}, copy[5];
    memcpy(copy, xs, sizeof xs);
    nb_tensor *x = nb_tensor_from(NB_F64, 1, (size_t[]){5}, xs, NB_BORROW);
    nb_tensor *k = nb_ones(c, NB_F64, 1, (size_t[]){5}); /* constant: no grad */
    nb_tensor *lab = nb_zeros(c, NB_I32, 1, (size_t[]){2});
    nb_tensor_set_requires_grad(x, 1);
    nb_gradcheck_result r;
    CHECK_OK(nb_gradcheck(gc_sum_fn, NULL, 3, (nb_tensor *[]){x, k, lab}, NULL, &r) == 0);
    CHECK(r.passed && r.n_checked == 5);
    CHECK(memcmp(xs, copy, sizeof xs) == 0);
    CHECK(x->grad == NULL && nb_requires_grad(x) && !nb_requires_grad(k));
    CHECK_OK(nb_gradcheck(gc_sum_fn, NULL, 3, (nb_tensor *[]){x, k, lab}, &(nb_gradcheck_opts){.fast = 1}, &r) == 0);
    CHECK(r.passed && r.n_checked == 4);
    CHECK(memcmp(xs, copy, sizeof xs) == 0);
    CHECK(x->grad == NULL);
    nb_tensor_free(x);
    nb_ctx_free(c);
}

static nb_tensor *gc_const_fn(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    return nb_ones(c, NB_F64, 1, (size_t[]){4});
}

TEST(gradcheck, nothing_to_check_passes)
{
    nb_ctx *c = nb_ctx_new(NULL);
    nb_gradcheck_result r;
    nb_tensor *e = nb_zeros(c, NB_F64, 2, (size_t[]){0, 3});
    nb_tensor_set_requires_grad(e, 1);
    CHECK_OK(nb_gradcheck(gc_sum_fn, NULL, 1, &e, NULL, &r) == 0); /* empty input, scalar output */
    CHECK(r.passed && r.n_checked == 0 && r.worst_input == -1);
    nb_tensor *k = nb_ones(c, NB_F64, 1, (size_t[]){3}); /* nothing requires grad */
    CHECK_OK(nb_gradcheck(gc_sum_fn, NULL, 1, &k, NULL, &r) == 0);
    CHECK(r.passed && r.n_checked == 0);
    CHECK_OK(nb_gradcheck(gc_const_fn, NULL, 0, NULL, NULL, &r) == 0); /* no inputs at all */
    CHECK(r.passed && r.n_checked == 0);
    nb_ctx_free(c);
}
