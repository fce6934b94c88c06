/* nabla gradcheck: every case of the op catalogue (catalogue/catalogue.h)
 * through nb_gradcheck in float64; one line per op, then a summary.  Also
 * dumps the cases' inputs for the PyTorch reference (tests/ref/torch_ref.py,
 * which documents the file format). */
#include "cli.h"
#include "flags.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "nabla/nabla.h"

static const char nb_gc_usage[] = "usage: nabla gradcheck [--op NAME] [--json] [--fast] [--list] [--dump-cases FILE]\n"
                                  "\n"
                                  "Checks the backward of every op against float64 central differences\n"
                                  "(|analytic - numeric| <= 1e-5 + 1e-3 |numeric|) on the op-case catalogue.\n"
                                  "Prints per op: the number of cases, the max abs and rel error, PASS/FAIL.\n"
                                  "\n";
static const char nb_gc_usage_tail[] = "\n"
                                       "Exit status: 0 all pass, 1 a check failed or errored, 2 bad usage.\n";

typedef struct {
    const nb_opcase *oc;
    nb_gradcheck_result res;
    int rc;        /* nb_gradcheck's return */
    char err[256]; /* its error message */
} nb_gc_row;

static nb_tensor *nb_gc_call(nb_ctx *c, nb_tensor *const *in, int n_in, void *user)
{
    const nb_opcase *oc = user;
    return oc->build(c, in, n_in);
}

static int nb_gc_selected(const nb_opcase *oc, const char *sel)
{
    return !sel || !strcmp(sel, oc->op) || !strcmp(sel, oc->name);
}

static int nb_gc_run_case(nb_ctx *c, nb_gc_row *row, int fast)
{
    const nb_opcase *oc = row->oc;
    nb_tensor *in[NB_OPCASE_MAX_IN];
    nb_gradcheck_opts o = {.fast = fast, .seed = nb_opcase_seed(oc)};
    nb_ctx_reset(c);
    row->rc = nb_opcase_inputs(c, oc, NB_F64, in);
    if (row->rc == 0) row->rc = nb_gradcheck(nb_gc_call, (void *)oc, oc->n_in, in, &o, &row->res);
    if (row->rc) {
        row->res.passed = 0;
        snprintf(row->err, sizeof row->err, "%s", nb_errmsg());
    }
    return row->res.passed;
}

/* ------------------------------------------------------------ dumping */
static void nb_gc_dump_values(FILE *f, const nb_tensor *t)
{
    fprintf(f, "%d", t->ndim);
    for (int d = 0; d < t->ndim; d++) fprintf(f, " %zu", t->shape[d]);
    fputs(" :", f);
    for (size_t k = 0; k < t->numel; k++) {
        if (t->dtype == NB_I32) fprintf(f, " %d", (int)nb_get(t, k));
        else fprintf(f, " %.17g", nb_get(t, k));
    }
    fputc('\n', f);
}

/* Returns 0, or 1 with a message printed. */
static int nb_gc_dump(const char *path, const char *sel, nb_ctx *c)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "nabla gradcheck: cannot write %s\n", path);
        return 1;
    }
    size_t n;
    const nb_opcase *cs = nb_opcases(&n);
    fprintf(f, "# nabla op cases, written by `nabla gradcheck --dump-cases`; format: tests/ref/torch_ref.py\n"
               "nabla-cases 1\n");
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const nb_opcase *oc = &cs[i];
        if (!nb_gc_selected(oc, sel)) continue;
        nb_tensor *in[NB_OPCASE_MAX_IN], *y = NULL, *g = NULL;
        nb_ctx_reset(c);
        int was = nb_set_grad_enabled(c, 0);
        if (nb_opcase_inputs(c, oc, NB_F64, in) == 0 && (y = oc->build(c, in, oc->n_in)))
            g = nb_opcase_upstream(c, oc, y);
        nb_set_grad_enabled(c, was);
        if (!g) {
            fprintf(stderr, "nabla gradcheck: case %s failed: %s\n", oc->name, nb_errmsg());
            bad = 1;
            break;
        }
        fprintf(f, "case %s %s %d\ntorch %s\n", oc->name, oc->op, oc->n_in, oc->torch ? oc->torch : "-");
        for (int k = 0; k < oc->n_in; k++) {
            fprintf(f, "input %d %s %d ", k, in[k]->dtype == NB_I32 ? "int32" : "float", oc->in[k].requires_grad);
            nb_gc_dump_values(f, in[k]);
        }
        fputs("upstream ", f);
        nb_gc_dump_values(f, g);
        fputs("end\n", f);
    }
    if (fclose(f) != 0 && !bad) {
        fprintf(stderr, "nabla gradcheck: error writing %s\n", path);
        bad = 1;
    }
    return bad;
}

/* ------------------------------------------------------------ reporting */
static void nb_gc_json_num(double v)
{
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

static void nb_gc_print_case(const nb_gc_row *r)
{
    if (r->rc) {
        printf("  %-36s ERROR  %s\n", r->oc->name, r->err);
        return;
    }
    printf("  %-36s %9.2e %9.2e  %s\n", r->oc->name, r->res.max_abs_err, r->res.max_rel_err,
           r->res.passed ? "PASS" : "FAIL");
    if (!r->res.passed) {
        if (r->res.worst_input >= 0)
            printf("    worst: d out[%zu] / d in%d[%zu]: analytic %.10g, numeric %.10g\n", r->res.worst_out_index,
                   r->res.worst_input, r->res.worst_in_index, r->res.worst_analytic, r->res.worst_numeric);
        else
            printf("    worst: probe %zu: analytic %.10g, numeric %.10g\n", r->res.worst_in_index,
                   r->res.worst_analytic, r->res.worst_numeric);
    }
}

typedef struct {
    const char *op, *dump;
    int json, fast, list;
} nb_gc_args;

static const nb_flag nb_gc_flags[] = {
    NB_FLAG_STRING("--op", nb_gc_args, op, "NAME",
                   "only this op (\"matmul\") or case (\"matmul.trans_a\"),\n"
                   "and list its cases one by one"),
    NB_FLAG_BOOL("--json", nb_gc_args, json,
                 "one JSON object per line: {\"op\", \"cases\", \"max_abs_err\",\n"
                 "\"max_rel_err\", \"status\"}, then a summary object"),
    NB_FLAG_BOOL("--fast", nb_gc_args, fast, "compare random projections u^T J v instead of all of J"),
    NB_FLAG_BOOL("--list", nb_gc_args, list, "print the ops and cases and exit"),
    NB_FLAG_STRING("--dump-cases", nb_gc_args, dump, "FILE",
                   "also write the cases' inputs and upstream gradients to FILE\n"
                   "(input of tests/ref/torch_ref.py)"),
};

static char nb_gc_usage_full[4096];

__attribute__((constructor)) static void nb_gc_usage_init(void)
{
    snprintf(nb_gc_usage_full, sizeof nb_gc_usage_full, "%s", nb_gc_usage);
    nb_flags_help(nb_gc_usage_full, sizeof nb_gc_usage_full, nb_gc_flags, sizeof nb_gc_flags / sizeof nb_gc_flags[0],
                  18);
    strncat(nb_gc_usage_full, nb_gc_usage_tail, sizeof nb_gc_usage_full - strlen(nb_gc_usage_full) - 1);
}

static int nb_gc_cmd(int argc, char **argv)
{
    nb_gc_args ga = {0};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb_gc_flags, &ga)};
    int n_pos, pk = nb_flags_parse("gradcheck", nb_gc_usage_full, tabs, 1, argc, argv, &n_pos);
    if (pk != NB_FLAGS_OK) return pk == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos) return nb_flags_unexpected("gradcheck", argv[1]);
    const char *sel = ga.op, *dump = ga.dump;
    int json = ga.json, fast = ga.fast, list = ga.list;
    size_t n;
    const nb_opcase *cs = nb_opcases(&n);
    size_t n_sel = 0;
    for (size_t i = 0; i < n; i++) n_sel += (size_t)nb_gc_selected(&cs[i], sel);
    if (n_sel == 0) return nb_cli_usage_error("gradcheck", "unknown op '%s' (see `nabla gradcheck --list`)", sel);
    if (list) {
        for (size_t i = 0; i < n; i++)
            if (nb_gc_selected(&cs[i], sel)) printf("%-16s %s\n", cs[i].op, cs[i].name);
        return 0;
    }

    nb_ctx *c = nb_ctx_new(NULL);
    nb_gc_row *rows = calloc(n, sizeof *rows);
    if (!c || !rows) {
        fprintf(stderr, "nabla gradcheck: out of memory\n");
        nb_ctx_free(c);
        free(rows);
        return 1;
    }
    if (dump && nb_gc_dump(dump, sel, c)) {
        nb_ctx_free(c);
        free(rows);
        return 1;
    }
    size_t n_rows = 0, n_fail = 0, n_ops = 0, n_ops_fail = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nb_gc_selected(&cs[i], sel)) continue;
        rows[n_rows].oc = &cs[i];
        if (!nb_gc_run_case(c, &rows[n_rows], fast)) n_fail++;
        n_rows++;
    }
    nb_ctx_free(c);

    if (!json) printf("%-16s %5s %11s %11s  %s\n", "op", "cases", "max abs err", "max rel err", "status");
    /* One line per op, in catalogue order of first appearance. */
    for (size_t i = 0; i < n_rows; i++) {
        const char *op = rows[i].oc->op;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(rows[j].oc->op, op);
        if (seen) continue;
        size_t k = 0;
        int pass = 1;
        double abs_err = 0, rel_err = 0;
        for (size_t j = i; j < n_rows; j++) {
            if (strcmp(rows[j].oc->op, op)) continue;
            k++;
            pass &= rows[j].res.passed;
            if (rows[j].rc || !(rows[j].res.max_abs_err <= abs_err))
                abs_err = rows[j].rc ? INFINITY : rows[j].res.max_abs_err;
            if (rows[j].rc || !(rows[j].res.max_rel_err <= rel_err))
                rel_err = rows[j].rc ? INFINITY : rows[j].res.max_rel_err;
        }
        n_ops++;
        n_ops_fail += !pass;
        if (json) {
            printf("{\"op\":\"%s\",\"cases\":%zu,\"max_abs_err\":", op, k);
            nb_gc_json_num(abs_err);
            printf(",\"max_rel_err\":");
            nb_gc_json_num(rel_err);
            printf(",\"status\":\"%s\"}\n", pass ? "pass" : "fail");
            continue;
        }
        printf("%-16s %5zu %11.2e %11.2e  %s\n", op, k, abs_err, rel_err, pass ? "PASS" : "FAIL");
        for (size_t j = i; j < n_rows; j++)
            if (!strcmp(rows[j].oc->op, op) && (sel || !rows[j].res.passed)) nb_gc_print_case(&rows[j]);
    }
    if (json)
        printf("{\"summary\":true,\"ops\":%zu,\"cases\":%zu,\"passed\":%zu,\"failed\":%zu,\"status\":\"%s\"}\n", n_ops,
               n_rows, n_rows - n_fail, n_fail, n_fail ? "fail" : "pass");
    else
        printf("%s: %zu ops (%zu failed), %zu cases: %zu passed, %zu failed%s\n", n_fail ? "FAIL" : "PASS", n_ops,
               n_ops_fail, n_rows, n_rows - n_fail, n_fail, fast ? " (fast mode)" : "");
    free(rows);
    return n_fail ? 1 : 0;
}

const nb_cli_cmd nb_cmd_gradcheck = {
    "gradcheck",
    "check every op's backward against finite differences (float64)",
    nb_gc_usage_full,
    nb_gc_cmd,
};
