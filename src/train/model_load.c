/* Models rebuilt from a checkpoint alone (its description, input shape and
 * dtype; older checkpoints: their MLP configuration), and weights read from
 * a PyTorch state dict saved with safetensors. */
#include "../internal.h"
#include "nabla/io.h"
#include "nabla/train.h"

#include <errno.h>
#include <stdlib.h>

/* "1,28,28" -> 3, {1, 28, 28}; -1 when malformed. */
static int nb__parse_shape(const char *s, size_t *shape)
{
    int n = 0;
    while (s && *s) {
        if (n == NB_MAX_DIMS || *s < '0' || *s > '9') return -1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || v == 0 || v > ((size_t)1 << 40)) return -1;
        shape[n++] = (size_t)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n ? n : -1;
}

/* The MLP configuration that checkpoints of older versions carry (written
 * by `nabla train`: model = "784-128-10", act, act_param, batchnorm, ...). */
static nb_model *nb__legacy_model(const nb_checkpoint *ck, const char *path, nb_dtype dt)
{
    const char *model = nb_checkpoint_get(ck, "model"), *act = nb_checkpoint_get(ck, "act");
    if (!model || !act)
        return nb__err("%s: the checkpoint has no model description (metadata 'spec') nor an MLP configuration "
                       "(model/act)",
                       path);
    nb_mlp_config cfg = {0};
    if (nb_mlp_parse_widths(&cfg, model)) return NULL;
    int k = nb_act_parse(act);
    if (k < 0) return nb__err("%s: unknown activation '%.40s'", path, act);
    cfg.act = (nb_act)k;
    const char *v;
    cfg.act_param = (v = nb_checkpoint_get(ck, "act_param")) ? strtod(v, NULL) : 0.01;
    cfg.batchnorm = (v = nb_checkpoint_get(ck, "batchnorm")) && !strcmp(v, "1");
    cfg.residual = (v = nb_checkpoint_get(ck, "residual")) && !strcmp(v, "1");
    cfg.dropout = (v = nb_checkpoint_get(ck, "dropout")) ? strtod(v, NULL) : 0;
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) cfg.dropout = 0;
    return nb_mlp_new(dt, &cfg);
}

nb_model *nb_model_from_checkpoint(const nb_checkpoint *ck, const char *path)
{
    if (!ck) return nb__err("checkpoint: NULL");
    if (!path) path = "checkpoint";
    const char *dts = nb_checkpoint_get(ck, "dtype"), *spec = nb_checkpoint_get(ck, "spec");
    nb_dtype dt = NB_F32;
    if (dts && !strcmp(dts, "float64")) dt = NB_F64;
    else if (dts && strcmp(dts, "float32"))
        return nb__err("%s: metadata 'dtype' = '%.40s' is not float32/float64", path, dts);
    nb_model *m;
    if (spec) {
        size_t shape[NB_MAX_DIMS];
        const char *in = nb_checkpoint_get(ck, "input_shape");
        int nd = nb__parse_shape(in, shape);
        if (nd < 0)
            return nb__err("%s: metadata 'input_shape' = '%.40s' is not a shape like 1,28,28", path, in ? in : "");
        m = nb_model_from_spec(spec, dt, nd, shape);
    } else {
        m = nb__legacy_model(ck, path, dt);
    }
    if (!m) {
        if (!strstr(nb_errmsg(), path)) {
            char why[480];
            snprintf(why, sizeof why, "%s", nb_errmsg());
            nb__err("%s: %s", path, why);
        }
        return NULL;
    }
    if (nb_checkpoint_load_model(ck, m)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

nb_model *nb_model_load(const char *path)
{
    nb_checkpoint *ck = nb_checkpoint_open(path);
    if (!ck) return NULL;
    nb_model *m = nb_model_from_checkpoint(ck, path);
    nb_checkpoint_close(ck);
    return m;
}

/* The value of element i of a loaded tensor as a double (F32, F64, I64, I32). */
static double nb__st_get(const nb_st_tensor *t, size_t i)
{
    switch (t->dtype) {
    case NB_ST_F32: return ((const float *)t->data)[i];
    case NB_ST_F64: return ((const double *)t->data)[i];
    case NB_ST_I64: return (double)((const int64_t *)t->data)[i];
    case NB_ST_I32: return ((const int32_t *)t->data)[i];
    default: return 0;
    }
}

int nb_model_load_torch(nb_model *m, const char *path)
{
    if (!m || !path) return nb__erri("load_torch: NULL model or path");
    if (nb_model_finalize(m)) return -1;
    nb_st_file *f = nb_st_load(path);
    if (!f) return -1;
    int rc = -1;
    size_t used = 0;
    for (size_t i = 0; i < nb_model_n_entries(m); i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        const char *torch_name = strncmp(e->name, "layers.", 7) ? e->name : e->name + 7;
        const nb_st_tensor *t = NULL;
        for (size_t j = 0; j < nb_st_count(f) && !t; j++) {
            const nb_st_tensor *c = nb_st_at(f, j);
            if (!strcmp(c->name, torch_name) || !strcmp(c->name, e->name)) t = c;
        }
        if (!t) {
            nb__erri("%s: the model's '%s' (torch '%s') is missing", path, e->name, torch_name);
            goto out;
        }
        used++;
        int same = t->ndim == e->t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == e->t->shape[d];
        if (!same) {
            char a[96];
            size_t at = (size_t)snprintf(a, sizeof a, "[");
            for (int d = 0; d < t->ndim && at < sizeof a; d++)
                at += (size_t)snprintf(a + at, sizeof a - at, "%s%zu", d ? ", " : "", t->shape[d]);
            if (at < sizeof a) snprintf(a + at, sizeof a - at, "]");
            nb__erri("%s: '%s' has shape %s in the file, the model's '%s' is %s", path, t->name, a, e->name,
                     nb__shp(e->t));
            goto out;
        }
        int ok = t->dtype == NB_ST_F32 || t->dtype == NB_ST_F64 || t->dtype == NB_ST_I64 || t->dtype == NB_ST_I32;
        if (!ok) {
            nb__erri("%s: '%s' is %s, expected a float (or integer) tensor", path, t->name, nb_st_dtype_name(t->dtype));
            goto out;
        }
        for (size_t k = 0; k < e->t->numel; k++) nb_set(e->t, k, nb__st_get(t, k));
    }
    if (used < nb_st_count(f)) { /* strict, as torch's load_state_dict */
        for (size_t j = 0; j < nb_st_count(f); j++) {
            const nb_st_tensor *c = nb_st_at(f, j);
            char ours[300];
            snprintf(ours, sizeof ours, "layers.%s", c->name);
            if (!nb_model_find(m, c->name) && !nb_model_find(m, ours)) {
                nb__erri("%s: '%s' is not a tensor of this model (is the description the same as the torch model?)",
                         path, c->name);
                goto out;
            }
        }
    }
    rc = 0;
out:
    nb_st_free(f);
    return rc;
}
