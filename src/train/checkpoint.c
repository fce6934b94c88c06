/* Training checkpoints on top of safetensors: model entries by name,
 * optimizer buffers as "optim.*", progress and configuration in metadata. */
#include "../internal.h"
#include "nabla/io.h"
#include "nabla/train.h"
#include "../nn/nn_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#define NB__CK_FORMAT "nabla-checkpoint-1"
#define NB__CK_MAX_META 96
#define NB__CK_MAX_SCHED_STEPS ((uint64_t)1 << 27) /* a few seconds of replay at worst */

/* Counts a checkpoint may hold: steps (optimizer and progress) and epochs.
 * Far above any real run, far below where casts wrap or loops never end. */
#define NB__CK_MAX_STEPS ((uint64_t)1 << 48)
#define NB__CK_MAX_EPOCHS ((uint64_t)1 << 30)

struct nb_checkpoint {
    nb_st_file *f;
    char path[512];
    int allow_nonfinite;
};

typedef struct {
    char key[48];
    char val[48];
} nb__kvbuf;

static void nb__put_u64(nb__kvbuf *b, const char *key, uint64_t v)
{
    snprintf(b->key, sizeof b->key, "%s", key);
    snprintf(b->val, sizeof b->val, "%" PRIu64, v);
}

static void nb__put_f64(nb__kvbuf *b, const char *key, double v)
{
    snprintf(b->key, sizeof b->key, "%s", key);
    snprintf(b->val, sizeof b->val, "%.17g", v);
}

int nb_checkpoint_save(const char *path, nb_model *m, const nb_optim *o, const nb_sched *s, const nb_progress *p,
                       const nb_kv *config, size_t n_config)
{
    if (!path || !m) return nb__erri("checkpoint: NULL path or model");
    if (nb_model_finalize(m)) return -1;
    if (o && (nb_optim_size(o) != nb_model_n_params(m) || nb_optim_dtype(o) != nb_model_dtype(m)))
        return nb__erri("checkpoint %s: the optimizer holds %zu %s values but the model has %zu %s parameters", path,
                        nb_optim_size(o), nb_dtype_name(nb_optim_dtype(o)), nb_model_n_params(m),
                        nb_dtype_name(nb_model_dtype(m)));
    if (n_config > 48) return nb__erri("checkpoint %s: too many configuration pairs (%zu)", path, n_config);
    size_t ne = nb_model_n_entries(m), no = o ? (size_t)nb_optim_state_count(o) : 0;
    nb_st_tensor *ts = calloc(ne + no + 1, sizeof *ts);
    char(*onames)[64] = calloc(no + 1, sizeof *onames);
    nb_st_meta meta[NB__CK_MAX_META];
    nb__kvbuf kv[40];
    int rc = -1;
    char *spec = NULL, in_shape[96];
    if (!ts || !onames || nb__model_meta(m, &spec, in_shape, sizeof in_shape)) {
        nb__erri("checkpoint %s: out of memory", path);
        goto done;
    }
    size_t nt = 0, nm = 0, nk = 0;
    for (size_t i = 0; i < ne; i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        if (nb_st_describe(&ts[nt++], e->name, e->t)) goto done;
    }
    for (size_t i = 0; i < no; i++) {
        const char *name = nb_optim_state_name(o, (int)i);
        snprintf(onames[i], sizeof onames[i], "optim.%s", name);
        nb_st_tensor *t = &ts[nt++];
        t->name = onames[i];
        t->dtype = (nb_st_dtype)nb_st_dtype_of(nb_optim_dtype(o));
        t->ndim = 1;
        t->shape[0] = nb_optim_size(o);
        t->data = nb_optim_state_get(o, name);
        if (!t->data) goto done;
    }
    meta[nm++] = (nb_st_meta){"format", NB__CK_FORMAT};
    meta[nm++] = (nb_st_meta){"dtype", nb_dtype_name(nb_model_dtype(m))};
    meta[nm++] = (nb_st_meta){"spec", spec};
    meta[nm++] = (nb_st_meta){"input_shape", in_shape};
    for (size_t i = 0; i < n_config; i++) meta[nm++] = (nb_st_meta){config[i].key, config[i].value};
    if (o) {
        nb__put_u64(&kv[nk++], "optim.steps", (uint64_t)nb_optim_steps(o));
        nb__put_f64(&kv[nk++], "optim.lr", nb_optim_lr(o));
        nb__put_f64(&kv[nk++], "optim.momentum", nb_optim_momentum(o));
    }
    if (s) nb__put_u64(&kv[nk++], "sched.epoch", (uint64_t)s->epoch);
    if (p) {
        nb__put_u64(&kv[nk++], "step", (uint64_t)p->step);
        nb__put_u64(&kv[nk++], "epoch", (uint64_t)p->epoch);
        nb__put_u64(&kv[nk++], "loader.n", p->loader.n);
        nb__put_u64(&kv[nk++], "loader.epoch", p->loader.epoch);
        nb__put_u64(&kv[nk++], "loader.pos", p->loader.pos);
        for (int i = 0; i < 4; i++) {
            char k[32];
            snprintf(k, sizeof k, "loader.rng%d", i);
            nb__put_u64(&kv[nk++], k, p->loader.rng[i]);
            snprintf(k, sizeof k, "rng%d", i);
            nb__put_u64(&kv[nk++], k, p->rng.s[i]);
        }
        nb__put_u64(&kv[nk++], "rng.has_spare", (uint64_t)p->rng.has_spare);
        uint64_t bits;
        memcpy(&bits, &p->rng.spare, sizeof bits);
        nb__put_u64(&kv[nk++], "rng.spare_bits", bits);
        nb__put_f64(&kv[nk++], "epoch.loss_sum", p->epoch_loss_sum);
        nb__put_f64(&kv[nk++], "epoch.seconds", p->epoch_seconds);
        nb__put_u64(&kv[nk++], "epoch.samples", p->epoch_samples);
        nb__put_u64(&kv[nk++], "epoch.correct", p->epoch_correct);
    }
    for (size_t i = 0; i < nk; i++) meta[nm++] = (nb_st_meta){kv[i].key, kv[i].val};
    rc = nb_st_save(path, ts, nt, meta, nm);
done:
    free(spec);
    free(ts);
    free(onames);
    return rc;
}

/* A strictly parsed finite number; 0, or -1 when v is not one. */
static int nb__strict_f64(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

/* The configuration values a model is rebuilt from, when present: parsed
 * strictly and range-checked, so a bad one is named here rather than turning
 * into a silently different model later.  0 or -1 with the error. */
static int nb__ck_check_config(const nb_st_file *f, const char *path)
{
    const char *v;
    double x;
    if ((v = nb_st_meta_get(f, "dtype")) && strcmp(v, "float32") && strcmp(v, "float64"))
        return nb__erri("%s: metadata 'dtype' = '%.40s' is not float32 or float64", path, v);
    if ((v = nb_st_meta_get(f, "act")) && nb_act_parse(v) < 0)
        return nb__erri("%s: metadata 'act' = '%.40s' is not an activation", path, v);
    if ((v = nb_st_meta_get(f, "act_param")) && nb__strict_f64(v, &x))
        return nb__erri("%s: metadata 'act_param' = '%.40s' is not a finite number", path, v);
    if ((v = nb_st_meta_get(f, "dropout")) && (nb__strict_f64(v, &x) || x < 0 || x >= 1))
        return nb__erri("%s: metadata 'dropout' = '%.40s' is not a probability in [0, 1)", path, v);
    const char *flags[] = {"batchnorm", "residual"};
    for (int i = 0; i < 2; i++)
        if ((v = nb_st_meta_get(f, flags[i])) && strcmp(v, "0") && strcmp(v, "1"))
            return nb__erri("%s: metadata '%s' = '%.40s' is not 0 or 1", path, flags[i], v);
    return 0;
}

nb_checkpoint *nb_checkpoint_open(const char *path)
{
    if (!path) return nb__err("checkpoint: NULL path");
    nb_st_file *f = nb_st_load(path);
    if (!f) return NULL;
    const char *fmt = nb_st_meta_get(f, "format");
    if (!fmt || strcmp(fmt, NB__CK_FORMAT)) {
        /* the message first: fmt lives in f */
        nb__err("%s: not a nabla checkpoint (metadata 'format' is %s%.64s%s, expected %s)", path, fmt ? "'" : "",
                fmt ? fmt : "missing", fmt ? "'" : "", NB__CK_FORMAT);
        nb_st_free(f);
        return NULL;
    }
    if (nb__ck_check_config(f, path)) {
        nb_st_free(f);
        return NULL;
    }
    nb_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        nb_st_free(f);
        return nb__err("checkpoint: out of memory");
    }
    ck->f = f;
    snprintf(ck->path, sizeof ck->path, "%s", path);
    return ck;
}

void nb_checkpoint_close(nb_checkpoint *ck)
{
    if (!ck) return;
    nb_st_free(ck->f);
    free(ck);
}

const char *nb_checkpoint_get(const nb_checkpoint *ck, const char *key)
{
    return ck ? nb_st_meta_get(ck->f, key) : NULL;
}

void nb_checkpoint_allow_nonfinite(nb_checkpoint *ck, int allow)
{
    if (ck) ck->allow_nonfinite = allow != 0;
}

/* -1 naming the tensor and the first NaN/Inf (or, with nonneg, negative
 * value) of t, unless there is none. */
static int nb__ck_check_values(const nb_checkpoint *ck, const char *name, const nb_st_tensor *t, int nonneg)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    for (size_t i = 0; i < n; i++) {
        double x = t->dtype == NB_ST_F64   ? ((const double *)t->data)[i]
                   : t->dtype == NB_ST_F32 ? (double)((const float *)t->data)[i]
                                           : 0;
        if (!isfinite(x) && !ck->allow_nonfinite)
            return nb__erri("%s: tensor '%s' holds %s at element %zu (a checkpoint of a diverged run? `nabla` "
                            "loads it with --allow-nonfinite, a program with nb_checkpoint_allow_nonfinite)",
                            ck->path, name,
                            isnan(x) ? "NaN"
                            : x > 0  ? "Inf"
                                     : "-Inf",
                            i);
        if (nonneg && x < 0)
            return nb__erri("%s: tensor '%s' holds %g at element %zu: a second moment is never negative", ck->path,
                            name, x, i);
    }
    return 0;
}

/* The error just set by a lower layer, prefixed with the checkpoint's path
 * (a message that names no file helps no one); returns -1. */
static int nb__ck_fail(const nb_checkpoint *ck)
{
    char why[512];
    snprintf(why, sizeof why, "%s", nb_errmsg());
    if (strstr(why, ck->path)) return -1;
    return nb__erri("%s: %s", ck->path, why);
}

int nb_checkpoint_load_model(const nb_checkpoint *ck, nb_model *m)
{
    if (!ck || !m) return nb__erri("checkpoint: NULL checkpoint or model");
    if (nb_model_finalize(m)) return -1;
    for (size_t i = 0; i < nb_model_n_entries(m); i++) {
        const nb_model_entry *e = nb_model_entry_at(m, i);
        const nb_st_tensor *t = nb_st_find(ck->f, e->name);
        if (!t) return nb__erri("%s: the model's '%s' is missing from the checkpoint", ck->path, e->name);
        if (nb_st_read_into(e->t, t)) return nb__ck_fail(ck);
        size_t len = strlen(e->name);
        int var = len >= 11 && !strcmp(e->name + len - 11, "running_var"); /* BatchNorm's variance */
        if (nb__ck_check_values(ck, e->name, t, var)) return -1;
    }
    return 0;
}

/* A metadata field as an unsigned integer; -1 with an error when absent or bad. */
static int nb__get_u64(const nb_checkpoint *ck, const char *key, uint64_t *out)
{
    const char *v = nb_st_meta_get(ck->f, key);
    if (!v || !*v) return nb__erri("%s: metadata '%s' is missing", ck->path, key);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || v[0] == '-')
        return nb__erri("%s: metadata '%s' = '%s' is not an unsigned integer", ck->path, key, v);
    *out = x;
    return 0;
}

static int nb__get_f64(const nb_checkpoint *ck, const char *key, double *out)
{
    const char *v = nb_st_meta_get(ck->f, key);
    if (!v || !*v) return nb__erri("%s: metadata '%s' is missing", ck->path, key);
    char *end;
    double x = strtod(v, &end);
    if (*end || !isfinite(x)) return nb__erri("%s: metadata '%s' = '%s' is not a finite number", ck->path, key, v);
    *out = x;
    return 0;
}

/* The current epoch's running sums (absent in older checkpoints: 0, and the
 * resumed epoch then reports its batches after the resume only): finite
 * (a loss may be negative, a time not), and no more samples than the loader
 * has served. */
static int nb__ck_epoch_sums(const nb_checkpoint *ck, nb_progress *p)
{
    static const char *const keys[4] = {"epoch.loss_sum", "epoch.seconds", "epoch.samples", "epoch.correct"};
    double f[2] = {0, 0};
    uint64_t u[2] = {0, 0};
    for (int i = 0; i < 4; i++) {
        if (!nb_st_meta_get(ck->f, keys[i])) continue;
        if (i < 2 ? nb__get_f64(ck, keys[i], &f[i]) : nb__get_u64(ck, keys[i], &u[i - 2])) return -1;
    }
    if (f[1] < 0) return nb__erri("%s: metadata 'epoch.seconds' = %g is negative", ck->path, f[1]);
    if (u[0] > p->loader.pos)
        return nb__erri("%s: metadata 'epoch.samples' = %" PRIu64 " is more than the %" PRIu64
                        " samples served this epoch (loader.pos)",
                        ck->path, u[0], p->loader.pos);
    /* a text run (metadata seq_len) counts one label per character: seq_len per sample */
    uint64_t per = 1;
    if (nb_st_meta_get(ck->f, "seq_len") && nb__get_u64(ck, "seq_len", &per)) return -1;
    if (per < 1 || u[1] / per > u[0] || (u[1] / per == u[0] && u[1] % per))
        return nb__erri("%s: metadata 'epoch.correct' = %" PRIu64 " is more than epoch.samples = %" PRIu64 "%s",
                        ck->path, u[1], u[0], per > 1 ? " times seq_len" : "");
    p->epoch_loss_sum = f[0];
    p->epoch_seconds = f[1];
    p->epoch_samples = u[0];
    p->epoch_correct = u[1];
    return 0;
}

int nb_checkpoint_load_state(const nb_checkpoint *ck, nb_optim *o, nb_sched *s, nb_progress *p)
{
    if (!ck) return nb__erri("checkpoint: NULL");
    uint64_t u;
    if (o) {
        double lr, mom;
        if (nb__get_u64(ck, "optim.steps", &u) || nb__get_f64(ck, "optim.lr", &lr) ||
            nb__get_f64(ck, "optim.momentum", &mom))
            return -1;
        /* every "optim.*" tensor is a state buffer; SGD's momentum buffer is
         * only listed by the optimizer once filled, so load what is there... */
        int loaded = 0;
        for (size_t j = 0; j < nb_st_count(ck->f); j++) {
            const nb_st_tensor *t = nb_st_at(ck->f, j);
            if (strncmp(t->name, "optim.", 6)) continue;
            if (t->ndim != 1 || t->shape[0] != nb_optim_size(o) || (int)t->dtype != nb_st_dtype_of(nb_optim_dtype(o)))
                return nb__erri("%s: optimizer state '%s' does not match this optimizer (%zu %s values)", ck->path,
                                t->name, nb_optim_size(o), nb_dtype_name(nb_optim_dtype(o)));
            const char *sn = t->name + 6;
            int second_moment = !strcmp(sn, "exp_avg_sq") || !strcmp(sn, "max_exp_avg_sq") || !strcmp(sn, "square_avg");
            if (nb__ck_check_values(ck, t->name, t, second_moment)) return -1;
            if (nb_optim_state_load(o, sn, t->data))
                return nb__erri("%s: optimizer state '%s' does not belong to this optimizer", ck->path, t->name);
            loaded++;
        }
        /* ...and then everything the optimizer lists must have been there */
        if (loaded < nb_optim_state_count(o))
            return nb__erri("%s: the checkpoint holds %d optimizer buffers, this optimizer needs %d", ck->path, loaded,
                            nb_optim_state_count(o));
        if (u > NB__CK_MAX_STEPS)
            return nb__erri("%s: metadata 'optim.steps' = %" PRIu64 " is too large (at most %" PRIu64 ")", ck->path, u,
                            NB__CK_MAX_STEPS);
        if (nb_optim_set_steps(o, (int64_t)u) || nb_optim_set_lr(o, lr)) return nb__ck_fail(ck);
        if (mom != 0 && nb_optim_set_momentum(o, mom)) return nb__ck_fail(ck);
    }
    if (s) {
        if (nb__get_u64(ck, "sched.epoch", &u)) return -1;
        /* The schedule is resumed by replaying it step by step: a hostile
         * count must not make that loop run for hours. */
        if (u > NB__CK_MAX_SCHED_STEPS)
            return nb__erri("%s: metadata 'sched.epoch' = %" PRIu64 " is more than the %llu schedule steps a "
                            "checkpoint may replay",
                            ck->path, u, (unsigned long long)NB__CK_MAX_SCHED_STEPS);
        if (nb_sched_seek(s, (int64_t)u)) return nb__ck_fail(ck);
    }
    if (p) {
        uint64_t v[16];
        const char *keys[] = {"step",        "epoch",       "loader.n",    "loader.epoch",  "loader.pos",
                              "loader.rng0", "loader.rng1", "loader.rng2", "loader.rng3",   "rng0",
                              "rng1",        "rng2",        "rng3",        "rng.has_spare", "rng.spare_bits"};
        for (int i = 0; i < 15; i++)
            if (nb__get_u64(ck, keys[i], &v[i])) return -1;
        /* the counts a resumed run loops to: in range, or it runs for ever */
        const uint64_t max[5] = {NB__CK_MAX_STEPS, NB__CK_MAX_EPOCHS, UINT64_MAX, NB__CK_MAX_EPOCHS, v[2]};
        for (int i = 0; i < 5; i++)
            if (v[i] > max[i])
                return nb__erri("%s: metadata '%s' = %" PRIu64 " is out of range (at most %" PRIu64 "%s)", ck->path,
                                keys[i], v[i], max[i], i == 4 ? ", loader.n" : "");
        if (v[13] > 1) return nb__erri("%s: metadata 'rng.has_spare' = %" PRIu64 " is not 0 or 1", ck->path, v[13]);
        p->step = (int64_t)v[0];
        p->epoch = (int64_t)v[1];
        p->loader.n = v[2];
        p->loader.epoch = v[3];
        p->loader.pos = v[4];
        for (int i = 0; i < 4; i++) {
            p->loader.rng[i] = v[5 + i];
            p->rng.s[i] = v[9 + i];
        }
        p->rng.has_spare = (int)v[13];
        memcpy(&p->rng.spare, &v[14], sizeof p->rng.spare);
        if (nb__ck_epoch_sums(ck, p)) return -1;
    }
    return 0;
}
