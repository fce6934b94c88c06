/* Models for the commands: --model (a layer description or the widths
 * shorthand), loaded from checkpoints and PyTorch files, resumed; the
 * per-layer summary as a table and as a JSON event. */
#include "model_cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "nabla/data.h"

const size_t nb_cli_image_shape[3] = {1, 28, 28};
#define NB__CLASSES 10 /* Fashion-MNIST */

int nb_run_is_widths(const char *v)
{
    if (!v || !*v) return 1; /* the shorthand parser says what is wrong */
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '-')) return 0;
    return 1;
}

nb_model *nb_run_build(const nb_run_cfg *r)
{
    if (r->model_is_spec && r->text) return nb_model_from_spec(r->model, r->dtype, 1, (size_t[]){r->seq_len});
    if (r->model_is_spec) return nb_model_from_spec(r->model, r->dtype, 3, nb_cli_image_shape);
    nb_model *m = nb_mlp_new(r->dtype, &r->mlp);
    /* the widths MLP reads the image as it comes, flattened: [1, 28, 28] */
    if (m && r->mlp.widths[0] == 28 * 28) nb_model_set_input_shape(m, 3, nb_cli_image_shape);
    return m;
}

int nb_run_check_spec(const char *cmd, const nb_run_cfg *r)
{
    if (!r->model_is_spec) return 0;
    if (r->mlp_flags)
        return nb_cli_usage_error(cmd, "--act, --batchnorm, --residual and --dropout go with the widths shorthand "
                                       "(784-128-10); in a layer description write the layers, e.g. \"linear(128) "
                                       "batchnorm1d tanh dropout(0.2) linear(10)\"");
    nb_model *m = nb_run_build(r);
    if (!m) return nb_cli_usage_error(cmd, "--model: %s", nb_errmsg());
    size_t out = nb_model_out_width(m);
    nb_model_free(m);
    if (r->text && out != r->seq_len * NB_TEXT_VOCAB)
        return nb_cli_usage_error(cmd,
                                  "--model: with --text the model must give [%zu, %d] (one row of logits per "
                                  "character), not %zu values; end it with a recurrent layer with seq=1 and "
                                  "linear(%d)",
                                  r->seq_len, NB_TEXT_VOCAB, out, NB_TEXT_VOCAB);
    if (!r->text && out < NB__CLASSES)
        return nb_cli_usage_error(cmd, "--model: the last layer gives [%zu], which cannot hold the data's %d classes",
                                  out, NB__CLASSES);
    return 0;
}

nb_model *nb_cli_load_model(const char *cmd, const char *ckpt, const char *torch_desc, const char *torch_file)
{
    nb_model *m = NULL;
    if (torch_desc) {
        nb_run_cfg r;
        nb_run_defaults(&r);
        r.model = torch_desc;
        r.model_is_spec = !nb_run_is_widths(torch_desc);
        if (!r.model_is_spec && nb_mlp_parse_widths(&r.mlp, torch_desc)) {
            fprintf(stderr, "nabla %s: --from-torch: %s\n", cmd, nb_errmsg());
            return NULL;
        }
        if (!(m = nb_run_build(&r)) || nb_model_load_torch(m, torch_file)) {
            fprintf(stderr, "nabla %s: --from-torch: %s\n", cmd, nb_errmsg());
            nb_model_free(m);
            return NULL;
        }
        return m;
    }
    return nb_cli_load_checkpoint(cmd, ckpt, 0);
}

nb_model *nb_cli_load_checkpoint(const char *cmd, const char *ckpt, int allow_nonfinite)
{
    nb_checkpoint *ck = nb_checkpoint_open(ckpt);
    nb_checkpoint_allow_nonfinite(ck, allow_nonfinite);
    nb_model *m = ck ? nb_model_from_checkpoint(ck, ckpt) : NULL;
    if (!m) fprintf(stderr, "nabla %s: %s\n", cmd, nb_errmsg());
    nb_checkpoint_close(ck);
    return m;
}

nb_model *nb_run_model_resume(const char *cmd, nb_run_cfg *r, const char *ckpt, nb_rng *rng)
{
    struct stat st;
    if (!r->resume || stat(ckpt, &st)) return nb_run_model(cmd, r, rng); /* the resume step says what is missing */
    nb_checkpoint *ck = nb_checkpoint_open(ckpt);
    if (!ck) {
        nb_cli_usage_error(cmd, "--resume: %s", nb_errmsg());
        return NULL;
    }
    nb_checkpoint_allow_nonfinite(ck, r->allow_nonfinite);
    const char *cm = nb_checkpoint_get(ck, "model"), *given = r->model;
    static char *kept; /* r->model outlives the checkpoint */
    nb_model *m = NULL;
    if ((r->model_given || r->mlp_flags) && (!cm || strcmp(cm, given))) {
        nb_cli_usage_error(cmd, "--resume: %s was trained with --model %s, not %s", ckpt, cm ? cm : "?", given);
    } else if (!(m = nb_model_from_checkpoint(ck, ckpt))) {
        nb_cli_usage_error(cmd, "--resume: %s", nb_errmsg());
    } else if (cm) {
        /* the settings the next checkpoint records, as the first run had them */
        free(kept);
        kept = strdup(cm);
        r->model = kept ? kept : r->model;
        r->model_is_spec = !nb_run_is_widths(r->model);
        if (!r->model_is_spec) nb_mlp_parse_widths(&r->mlp, r->model);
        const char *v;
        int k;
        if ((v = nb_checkpoint_get(ck, "act")) && (k = nb_act_parse(v)) > 0) r->mlp.act = (nb_act)k;
        if ((v = nb_checkpoint_get(ck, "act_param"))) r->mlp.act_param = strtod(v, NULL);
        if ((v = nb_checkpoint_get(ck, "batchnorm"))) r->mlp.batchnorm = !strcmp(v, "1");
        if ((v = nb_checkpoint_get(ck, "residual"))) r->mlp.residual = !strcmp(v, "1");
        if ((v = nb_checkpoint_get(ck, "dropout"))) r->mlp.dropout = strtod(v, NULL);
    }
    if (m && nb_model_dtype(m) != r->dtype) {
        nb_cli_usage_error(cmd, "--resume: %s holds %s parameters, not %s (--dtype)", ckpt,
                           nb_dtype_name(nb_model_dtype(m)), nb_dtype_name(r->dtype));
        nb_model_free(m);
        m = NULL;
    }
    nb_checkpoint_close(ck);
    return m;
}

static const char *nb__shape_str(char *buf, size_t size, int ndim, const size_t *shape)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%zu", i ? ", " : "", shape[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

static const char *nb__bytes(char *buf, size_t size, size_t b)
{
    if (b < 1024) snprintf(buf, size, "%zu B", b);
    else if (b < (size_t)1 << 20) snprintf(buf, size, "%.1f KiB", (double)b / 1024);
    else snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    return buf;
}

int nb_summary_print(FILE *f, const nb_model *m)
{
    nb_summary *s = nb_model_summary(m);
    char *spec = nb_model_spec(m);
    if (!s || !spec) {
        fprintf(stderr, "nabla: summary: %s\n", nb_errmsg());
        nb_summary_free(s);
        free(spec);
        return 1;
    }
    char sh[96], b1[32], b2[32];
    fprintf(f, "model: %s\n", spec);
    fprintf(f, "%-28s %-12s %-16s %12s\n", "layer", "kind", "output shape", "params");
    fprintf(f, "%-28s %-12s %s\n", "input", "", nb__shape_str(sh, sizeof sh, s->in_ndim, s->in_shape));
    for (size_t i = 0; i < s->n_rows; i++) {
        const nb_summary_row *r = &s->rows[i];
        char name[128];
        snprintf(name, sizeof name, "%*s%s", 2 * r->depth, "", r->name);
        fprintf(f, "%-28s %-12s %-16s %12zu\n", name, r->kind, nb__shape_str(sh, sizeof sh, r->ndim, r->shape),
                r->params);
    }
    fprintf(f,
            "total params: %zu trainable (%s %s), %zu buffer values; parameter bytes %s; activations %s per sample\n",
            s->params, nb_dtype_name(s->dtype), nb__bytes(b1, sizeof b1, s->params * nb_dtype_size(s->dtype)),
            s->buffers, nb__bytes(b2, sizeof b2, s->param_bytes), nb__bytes(sh, sizeof sh, s->activation_bytes));
    nb_summary_free(s);
    free(spec);
    return 0;
}

static void nb__json_shape(FILE *f, int ndim, const size_t *shape)
{
    fputc('[', f);
    for (int i = 0; i < ndim; i++) fprintf(f, "%s%zu", i ? "," : "", shape[i]);
    fputc(']', f);
}

void nb_summary_json(FILE *f, const nb_model *m)
{
    nb_summary *s = nb_model_summary(m);
    char *spec = nb_model_spec(m);
    fputs("{\"event\":\"summary\",\"spec\":", f);
    nb_json_write_string(f, spec ? spec : "");
    if (s) {
        fputs(",\"input\":", f);
        nb__json_shape(f, s->in_ndim, s->in_shape);
        fputs(",\"dtype\":", f);
        nb_json_write_string(f, nb_dtype_name(s->dtype));
        fputs(",\"layers\":[", f);
        for (size_t i = 0; i < s->n_rows; i++) {
            const nb_summary_row *r = &s->rows[i];
            fputs(i ? ",{\"name\":" : "{\"name\":", f);
            nb_json_write_string(f, r->name);
            fputs(",\"kind\":", f);
            nb_json_write_string(f, r->kind);
            fprintf(f, ",\"depth\":%d,\"shape\":", r->depth);
            nb__json_shape(f, r->ndim, r->shape);
            fprintf(f, ",\"params\":%zu}", r->params);
        }
        fprintf(f, "],\"params\":%zu,\"buffers\":%zu,\"param_bytes\":%zu,\"activation_bytes\":%zu", s->params,
                s->buffers, s->param_bytes, s->activation_bytes);
    }
    nb_summary_free(s);
    free(spec);
}
