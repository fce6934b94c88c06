/* The gradient monitor: its numbers equal norms computed here by hand from
 * the model's flat buffers; warnings, step selection, bounded history. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/monitor.h"
#include "t.h"

enum { B = 16, IN = 6, OUT = 3 };

/* 6-8(relu)-8(tanh)-3, float64, a fixed batch. */
static nb_model *small_model(nb_dtype dt, nb_rng *r)
{
    nb_model *m = nb_model_new(dt);
    nb_model_linear(m, IN, 8, 1);
    nb_model_act(m, NB_ACT_RELU, 0);
    nb_model_linear(m, 8, 8, 1);
    nb_model_act(m, NB_ACT_TANH, 0);
    nb_model_linear(m, 8, OUT, 1);
    nb_model_init(m, NB_INIT_TORCH, 0, r);
    return m;
}

static void batch(nb_rng *r, double *x, int32_t *y, double scale)
{
    for (int i = 0; i < B * IN; i++) x[i] = scale * nb_rng_normal(r);
    for (int i = 0; i < B; i++) y[i] = (int32_t)nb_rng_below(r, OUT);
}

/* A spy around the monitor's hooks: copies what the monitor should see. */
typedef struct {
    const nb_step_hooks *mon;
    nb_model *m;
    size_t n;
    double *grads, *before, *after; /* [n] */
    double relu_dead, tanh_sat;
    double norm_before, norm_after;
} spy;

static int spy_backward(void *u, nb_model *m, nb_tensor *loss)
{
    spy *s = u;
    memcpy(s->grads, nb_model_grads(m), s->n * sizeof(double));
    /* dead ReLUs by hand: layer 1's output [B, 8]; saturated tanh: layer 3 */
    nb_tensor *h = nb_model_layer_output(m, 1), *t = nb_model_layer_output(m, 3);
    size_t dead = 0, sat = 0;
    for (size_t j = 0; j < 8; j++) {
        int all0 = 1;
        for (size_t i = 0; i < B; i++) all0 &= nb_get(h, i * 8 + j) == 0;
        dead += (size_t)all0;
    }
    for (size_t i = 0; i < t->numel; i++) sat += fabs(nb_get(t, i)) > 0.99;
    s->relu_dead = dead / 8.0;
    s->tanh_sat = (double)sat / (double)t->numel;
    return s->mon->after_backward(s->mon->user, m, loss);
}
static int spy_clip(void *u, nb_model *m, double before, double after)
{
    spy *s = u;
    memcpy(s->before, nb_model_params(m), s->n * sizeof(double));
    s->norm_before = before;
    s->norm_after = after;
    return s->mon->after_clip(s->mon->user, m, before, after);
}
static int spy_update(void *u, nb_model *m)
{
    spy *s = u;
    memcpy(s->after, nb_model_params(m), s->n * sizeof(double));
    return s->mon->after_update(s->mon->user, m);
}

static double norm(const double *v, size_t off, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[off + i] * v[off + i];
    return sqrt(s);
}

TEST(monitor, numbers_equal_norms_computed_by_hand)
{
    nb_rng r;
    nb_rng_seed(&r, 11);
    nb_model *m = small_model(NB_F64, &r);
    size_t n = nb_model_n_params(m);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    oc.lr = 0.1;
    nb_optim *o = nb_optim_new(&oc, NB_F64, n);
    nb_monitor *mon = nb_monitor_new(m, &(nb_monitor_opts){.every = 1});
    CHECK_OK(mon);
    spy s = {.mon = nb_monitor_hooks(mon), .m = m, .n = n};
    s.grads = calloc(n, sizeof(double));
    s.before = calloc(n, sizeof(double));
    s.after = calloc(n, sizeof(double));
    nb_step_hooks hooks = {
        .user = &s, .after_backward = spy_backward, .after_clip = spy_clip, .after_update = spy_update};
    const double clip = 0.5;
    nb_step_opts so = {.clip_norm = clip, .rng = &r, .hooks = &hooks};
    nb_ctx *c = nb_ctx_new(NULL);
    double x[B * IN];
    int32_t y[B];
    for (int step = 1; step <= 4; step++) {
        batch(&r, x, y, 3.0);
        nb_step_result res;
        CHECK_OK(nb_train_step(m, o, c, x, y, B, &so, &res) == 0);
        const nb_monitor_record *rec = nb_monitor_last(mon);
        CHECK(rec && rec->step == step && rec->updated);
        if (!rec) break;
        CHECK_NEAR(rec->loss, res.loss, 1e-15);
        /* global norm: by hand, and as nb_train_step reports it */
        CHECK_NEAR(rec->grad_norm, norm(s.grads, 0, n), 1e-12);
        CHECK_NEAR(rec->grad_norm, res.grad_norm, 1e-12);
        CHECK_NEAR(rec->grad_norm_clipped, fmin(clip, norm(s.grads, 0, n)), 1e-12);
        CHECK(rec->n_params == 6);
        double gsum = 0;
        for (size_t i = 0; i < rec->n_params; i++) {
            const nb_monitor_param *p = &rec->params[i];
            const nb_model_entry *e = nb_model_find(m, p->name);
            CHECK(e && e->trainable && p->numel == e->t->numel);
            if (!e) continue;
            double g = norm(s.grads, e->offset, p->numel), pn = norm(s.before, e->offset, p->numel);
            double du = 0;
            for (size_t k = 0; k < p->numel; k++) {
                double d = s.after[e->offset + k] - s.before[e->offset + k];
                du += d * d;
            }
            du = sqrt(du);
            gsum += g * g;
            CHECK_NEAR(p->grad_norm, g, 1e-12);
            CHECK_NEAR(p->param_norm, pn, 1e-12);
            CHECK_NEAR(p->update_norm, du, 1e-12);
            CHECK_NEAR(p->update_ratio, du / pn, 1e-12);
            /* plain SGD: the update is lr times the clipped gradient */
            double coef = s.norm_before > clip ? clip / (s.norm_before + 1e-6) : 1.0;
            CHECK_NEAR(p->update_norm, oc.lr * coef * g, 1e-9);
        }
        CHECK_NEAR(sqrt(gsum), rec->grad_norm, 1e-12);
        CHECK(rec->n_layers == 2);
        CHECK(rec->layers[0].layer == 1 && !strcmp(rec->layers[0].kind, "relu") && rec->layers[0].units == 8);
        CHECK(rec->layers[1].layer == 3 && !strcmp(rec->layers[1].kind, "tanh"));
        CHECK_NEAR(rec->layers[0].dead_frac, s.relu_dead, 0);
        CHECK_NEAR(rec->layers[1].saturated_frac, s.tanh_sat, 0);
        CHECK(isnan(rec->layers[0].saturated_frac) && isnan(rec->layers[1].dead_frac));
    }
    CHECK(nb_monitor_n_records(mon) == 4);
    free(s.grads);
    free(s.before);
    free(s.after);
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_optim_free(o);
    nb_model_free(m);
}

TEST(monitor, float32_model_matches_too)
{
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_model *m = small_model(NB_F32, &r);
    size_t n = nb_model_n_params(m);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, n);
    nb_monitor *mon = nb_monitor_new(m, NULL);
    nb_step_opts so = {.rng = &r, .hooks = nb_monitor_hooks(mon)};
    nb_ctx *c = nb_ctx_new(NULL);
    double xd[B * IN];
    float x[B * IN];
    int32_t y[B];
    batch(&r, xd, y, 1.0);
    for (int i = 0; i < B * IN; i++) x[i] = (float)xd[i];
    /* the gradients of this batch, by hand, before the monitored step */
    nb_step_result res;
    float *before = malloc(n * sizeof *before);
    memcpy(before, nb_model_params(m), n * sizeof *before);
    CHECK_OK(nb_train_step(m, o, c, x, y, B, &so, &res) == 0);
    const nb_monitor_record *rec = nb_monitor_last(mon);
    CHECK(rec && rec->step == 1);
    CHECK_NEAR(rec->grad_norm, res.grad_norm, 1e-12);
    CHECK_NEAR(rec->grad_norm_clipped, res.grad_norm, 1e-12); /* no clipping */
    const float *after = nb_model_params(m);
    for (size_t i = 0; rec && i < rec->n_params; i++) {
        const nb_model_entry *e = nb_model_find(m, rec->params[i].name);
        double pn = 0, du = 0;
        for (size_t k = 0; k < e->t->numel; k++) {
            double b = before[e->offset + k], d = (double)after[e->offset + k] - b;
            pn += b * b;
            du += d * d;
        }
        CHECK_NEAR(rec->params[i].param_norm, sqrt(pn), 1e-12);
        CHECK_NEAR(rec->params[i].update_ratio, sqrt(du) / sqrt(pn), 1e-9);
    }
    free(before);
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_optim_free(o);
    nb_model_free(m);
}

static int n_calls;
static size_t seen_warnings;
static void on_record(void *user, const nb_monitor_record *r, const nb_monitor_warning *w, size_t n_w)
{
    (void)user;
    (void)r;
    (void)w;
    n_calls++;
    seen_warnings += n_w;
}

TEST(monitor, warnings_dead_relu_vanishing_exploding_lines_and_json)
{
    nb_rng r;
    nb_rng_seed(&r, 2);
    nb_model *m = small_model(NB_F64, &r);
    /* every unit of the first ReLU dead: bias -100 */
    const nb_model_entry *b0 = nb_model_find(m, "layers.0.bias");
    nb_fill(b0->t, -100);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    nb_optim *o = nb_optim_new(&oc, NB_F64, nb_model_n_params(m));
    n_calls = 0;
    seen_warnings = 0;
    nb_monitor_opts mo = {.exploding = 1e-3, .on_record = on_record};
    nb_monitor *mon = nb_monitor_new(m, &mo);
    nb_step_opts so = {.rng = &r, .hooks = nb_monitor_hooks(mon)};
    nb_ctx *c = nb_ctx_new(NULL);
    double x[B * IN];
    int32_t y[B];
    batch(&r, x, y, 1.0);
    nb_step_result res;
    CHECK_OK(nb_train_step(m, o, c, x, y, B, &so, &res) == 0);
    CHECK(n_calls == 1);
    const nb_monitor_record *rec = nb_monitor_last(mon);
    CHECK(rec && rec->layers[0].dead_frac == 1.0);
    int dead = 0, vanish0 = 0, explode_global = 0;
    for (size_t i = 0; i < nb_monitor_n_warnings(mon); i++) {
        const nb_monitor_warning *w = nb_monitor_warning_at(mon, i);
        dead += w->kind == NB_MON_DEAD_RELU && !strcmp(w->where, "layers.1 (relu)");
        vanish0 += w->kind == NB_MON_VANISHING && !strcmp(w->where, "layers.0.weight") && w->value == 0;
        explode_global += w->kind == NB_MON_EXPLODING && !strcmp(w->where, "global");
        CHECK(w->step == 1);
    }
    CHECK(dead == 1 && vanish0 == 1 && explode_global == 1);
    CHECK(seen_warnings == nb_monitor_n_warnings(mon) && rec->n_warnings == seen_warnings);
    CHECK(nb_monitor_n_warnings_total(mon) == nb_monitor_n_warnings(mon));
    /* readable line and JSON */
    char line[256], json[4096];
    for (size_t i = 0; i < nb_monitor_n_warnings(mon); i++) {
        const nb_monitor_warning *w = nb_monitor_warning_at(mon, i);
        nb_monitor_warning_str(w, line, sizeof line);
        if (w->kind == NB_MON_DEAD_RELU)
            CHECK_MSG(strstr(line, "step 1: dead ReLUs: layers.1 (relu): 100% of its units"), "%s", line);
        if (w->kind == NB_MON_VANISHING && !strcmp(w->where, "layers.0.weight"))
            CHECK_MSG(strstr(line, "vanishing gradient: layers.0.weight gradient norm 0 < 1e-06"), "%s", line);
        FILE *f = fmemopen(json, sizeof json, "w");
        nb_monitor_warning_json(w, f);
        fclose(f);
        CHECK_MSG(!strncmp(json, "{\"event\":\"warning\",\"step\":1,\"kind\":\"", 36) &&
                      strstr(json, "\"message\":\"step 1: ") && strstr(json, "}\n"),
                  "%s", json);
    }
    static char big[1 << 14];
    FILE *f = fmemopen(big, sizeof big, "w");
    nb_monitor_record_json(rec, f);
    fclose(f);
    CHECK_MSG(!strncmp(big, "{\"event\":\"monitor\",\"step\":1,", 28) && strstr(big, "\"name\":\"layers.4.bias\"") &&
                  strstr(big, "{\"layer\":1,\"kind\":\"relu\",\"units\":8,\"dead_frac\":1}") &&
                  strstr(big, "\"saturated_frac\":"),
              "%s", big);
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_optim_free(o);
    nb_model_free(m);
}

TEST(monitor, every_n_steps_and_bounded_history_downsamples_evenly)
{
    nb_rng r;
    nb_rng_seed(&r, 3);
    nb_model *m = small_model(NB_F64, &r);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    nb_optim *o = nb_optim_new(&oc, NB_F64, nb_model_n_params(m));
    nb_monitor *mon = nb_monitor_new(m, &(nb_monitor_opts){.every = 2, .history = 4, .exploding = -1, .vanishing = -1});
    n_calls = 0;
    nb_step_opts so = {.rng = &r, .hooks = nb_monitor_hooks(mon)};
    nb_ctx *c = nb_ctx_new(NULL);
    double x[B * IN];
    int32_t y[B];
    int64_t last = 0;
    for (int step = 1; step <= 20; step++) {
        batch(&r, x, y, 1.0);
        nb_step_result res;
        CHECK_OK(nb_train_step(m, o, c, x, y, B, &so, &res) == 0);
        const nb_monitor_record *rec = nb_monitor_last(mon);
        if (step == 1 || step % 2 == 0) last = step;
        CHECK(rec && rec->step == last);
    }
    /* records made at steps 1, 2, 4, ..., 20 (11); a history of 4 keeps an
     * even spacing: the 1st, 5th and 9th (steps 1, 8, 16) */
    CHECK(nb_monitor_n_records(mon) == 3);
    int64_t want[] = {1, 8, 16};
    for (size_t i = 0; i < 3; i++) {
        const nb_monitor_record *rec = nb_monitor_record_at(mon, i);
        CHECK_MSG(rec && rec->step == want[i], "record %zu: step %lld", i, rec ? (long long)rec->step : -1LL);
        CHECK(rec && rec->n_params == 6 && rec->params[5].grad_norm > 0 &&
              !strcmp(rec->params[0].name, "layers.0.weight"));
    }
    CHECK(nb_monitor_record_at(mon, 3) == NULL && nb_monitor_n_warnings(mon) == 0);
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_optim_free(o);
    nb_model_free(m);
}

TEST(monitor, nonfinite_loss_is_recorded_at_once_and_warned)
{
    nb_rng r;
    nb_rng_seed(&r, 4);
    nb_model *m = small_model(NB_F64, &r);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    nb_optim *o = nb_optim_new(&oc, NB_F64, nb_model_n_params(m));
    nb_monitor *mon = nb_monitor_new(m, &(nb_monitor_opts){.every = 100});
    nb_monitor_set_step(mon, 7);
    nb_step_opts so = {.rng = &r, .hooks = nb_monitor_hooks(mon)};
    nb_ctx *c = nb_ctx_new(NULL);
    double x[B * IN];
    int32_t y[B];
    batch(&r, x, y, 1.0);
    nb_set(nb_model_find(m, "layers.4.bias")->t, 0, NAN); /* (a NaN input would die in the ReLU) */
    nb_step_result res;
    CHECK_OK(nb_train_step(m, o, c, x, y, B, &so, &res) == 0);
    CHECK(res.nonfinite);
    const nb_monitor_record *rec = nb_monitor_last(mon);
    CHECK(rec && rec->step == 7 && !rec->updated && isnan(rec->loss) && isnan(rec->params[0].update_ratio));
    int loss_w = 0;
    for (size_t i = 0; i < nb_monitor_n_warnings(mon); i++) {
        const nb_monitor_warning *w = nb_monitor_warning_at(mon, i);
        char line[200];
        if (w->kind == NB_MON_NONFINITE && !strcmp(w->where, "loss")) {
            loss_w++;
            CHECK(strstr(nb_monitor_warning_str(w, line, sizeof line), "step 7: non-finite: the loss is NaN"));
        }
    }
    CHECK(loss_w == 1);
    /* hooks refuse another model */
    nb_model *other = small_model(NB_F64, &r);
    const nb_step_hooks *h = nb_monitor_hooks(mon);
    CHECK(h->after_update(h->user, other) == -1 && strstr(nb_errmsg(), "monitor"));
    nb_model_free(other);
    CHECK(nb_monitor_new(NULL, NULL) == NULL);
    CHECK(nb_monitor_new(m, &(nb_monitor_opts){.saturation = 1.5}) == NULL && strstr(nb_errmsg(), "saturation"));
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_monitor_free(NULL);
    nb_optim_free(o);
    nb_model_free(m);
}

/* ------------------------------------------------ a loss of your own */
/* MSE against one-hot targets, the one-hot made with nb_eq: a [B, 1] column
 * of labels against the [1, OUT] row 0, 1, ..., OUT-1. */
static nb_tensor *mse_one_hot(void *user, nb_ctx *c, nb_tensor *out, const nb_tensor *y)
{
    int *calls = user;
    ++*calls;
    nb_tensor *col = nb_empty(c, out->dtype, 2, (size_t[]){y->numel, 1});
    nb_tensor *row = nb_empty(c, out->dtype, 2, (size_t[]){1, OUT});
    if (!col || !row) return NULL;
    for (size_t i = 0; i < y->numel; i++) nb_set(col, i, nb_get(y, i));
    for (size_t k = 0; k < OUT; k++) nb_set(row, k, (double)k);
    return nb_mse(c, out, nb_eq(c, col, row), NB_MEAN);
}

static nb_tensor *loss_not_scalar(void *user, nb_ctx *c, nb_tensor *out, const nb_tensor *y) { return out; }

static nb_tensor *loss_constant(void *user, nb_ctx *c, nb_tensor *out, const nb_tensor *y)
{
    return nb_sum(c, nb_ge(c, out, out), NULL, 0, 0);
}

TEST(monitor, custom_loss_reaches_the_monitor_and_clipping)
{
    nb_rng r, r2;
    nb_rng_seed(&r, 11);
    nb_rng_seed(&r2, 11);
    nb_model *m = small_model(NB_F64, &r), *twin = small_model(NB_F64, &r2);
    size_t np = nb_model_n_params(m);
    double x[B * IN];
    int32_t y[B];
    batch(&r, x, y, 1.0);
    /* the gradient by hand, on the twin: forward, MSE on one-hot, backward */
    nb_ctx *c = nb_ctx_new(NULL);
    int calls = 0;
    nb_tensor *xt = nb_from_data(c, NB_F64, 2, (size_t[]){B, IN}, x, NB_BORROW);
    nb_tensor *yt = nb_from_data(c, NB_I32, 1, (size_t[]){B}, y, NB_BORROW);
    nb_tensor *want_loss = mse_one_hot(&calls, c, nb_model_forward(twin, c, xt, NULL), yt);
    CHECK_OK(want_loss && nb_backward(c, want_loss, NULL) == 0);
    double want_l = nb_item(want_loss), want_norm = 0;
    const double *tg = nb_model_grads(twin);
    for (size_t i = 0; i < np; i++) want_norm += tg[i] * tg[i];
    want_norm = sqrt(want_norm);
    nb_ctx_reset(c);

    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    oc.lr = 0.1;
    nb_optim *o = nb_optim_new(&oc, NB_F64, np);
    nb_monitor *mon = nb_monitor_new(m, &(nb_monitor_opts){.every = 1});
    double clip = want_norm / 4; /* so that clipping bites */
    nb_step_opts so = {.clip_norm = clip, .hooks = nb_monitor_hooks(mon), .loss = mse_one_hot, .loss_user = &calls};
    nb_step_result res;
    CHECK_OK(nb_train_step(m, o, c, x, y, B, &so, &res) == 0);
    CHECK(calls == 2 && !res.nonfinite);
    CHECK_NEAR(res.loss, want_l, 1e-12);
    CHECK_NEAR(res.grad_norm, want_norm, 1e-12);
    const nb_monitor_record *rec = nb_monitor_last(mon);
    CHECK_OK(rec);
    if (rec) { /* the monitor saw this loss's gradients, before and after clipping */
        CHECK_NEAR(rec->loss, want_l, 1e-12);
        CHECK_NEAR(rec->grad_norm, want_norm, 1e-12);
        CHECK_NEAR(rec->grad_norm_clipped, clip, 1e-12);
        CHECK(rec->updated && rec->params[0].grad_norm > 0 && rec->params[0].update_ratio > 0);
    }
    /* a loss that is not one value, or that no gradient reaches, is an error */
    so.loss = loss_not_scalar;
    CHECK(nb_train_step(m, o, c, x, y, B, &so, &res) == -1 && strstr(nb_errmsg(), "a loss is one value"));
    so.loss = loss_constant;
    CHECK(nb_train_step(m, o, c, x, y, B, &so, &res) == -1 && strstr(nb_errmsg(), "does not depend on the model"));
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_optim_free(o);
    nb_model_free(m);
    nb_model_free(twin);
}

/* The spy's backward for models without small_model's layers. */
static int spy_backward_grads(void *u, nb_model *m, nb_tensor *loss)
{
    spy *s = u;
    memcpy(s->grads, nb_model_grads(m), s->n * sizeof(double));
    return s->mon->after_backward(s->mon->user, m, loss);
}

/* Gated recurrent layers: after the entries, one row per gate of each
 * weight_ih_l<k> / weight_hh_l<k> ("layers.0.weight_hh_l1[f]"), the norm of
 * that gate's rows [j*H, (j+1)*H), the squares summing to the whole's; the
 * global norm counts the entries only; a plain rnn gets no gate rows. */
TEST(monitor, recurrent_weights_split_per_gate)
{
    const char *specs[] = {"lstm(4,layers=2) linear(3)", "gru(4) linear(3)", "rnn(4) linear(3)"};
    const char *gates[] = {"ifgo", "rzn", ""};
    const size_t n_ent[] = {10, 6, 6};
    enum { N = 5, T = 3, F = 2 };
    for (int k = 0; k < 3; k++) {
        nb_rng r;
        nb_rng_seed(&r, 4);
        nb_model *m = nb_model_from_spec(specs[k], NB_F64, 2, (size_t[]){T, F});
        CHECK_OK(m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
        size_t n = nb_model_n_params(m);
        nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
        nb_optim *o = nb_optim_new(&oc, NB_F64, n);
        nb_monitor *mon = nb_monitor_new(m, &(nb_monitor_opts){.every = 1});
        CHECK_OK(mon);
        spy s = {.mon = nb_monitor_hooks(mon), .m = m, .n = n};
        s.grads = calloc(n, sizeof(double));
        s.before = calloc(n, sizeof(double));
        s.after = calloc(n, sizeof(double));
        nb_step_hooks hooks = {
            .user = &s, .after_backward = spy_backward_grads, .after_clip = spy_clip, .after_update = spy_update};
        nb_ctx *c = nb_ctx_new(NULL);
        double x[N * T * F];
        int32_t y[N];
        for (int i = 0; i < N * T * F; i++) x[i] = nb_rng_normal(&r);
        for (int i = 0; i < N; i++) y[i] = (int32_t)nb_rng_below(&r, 3);
        nb_step_result res;
        CHECK_OK(nb_train_step(m, o, c, x, y, N, &(nb_step_opts){.rng = &r, .hooks = &hooks}, &res) == 0);
        const nb_monitor_record *rec = nb_monitor_last(mon);
        const size_t G = strlen(gates[k]), n_mat = k == 0 ? 4 : 2;
        CHECK_OK(rec && rec->n_params == n_ent[k] + G * n_mat);
        CHECK_NEAR(rec->grad_norm, norm(s.grads, 0, n), 1e-12);
        for (size_t i = n_ent[k]; i < rec->n_params; i++) {
            const nb_monitor_param *p = &rec->params[i];
            char whole[96];
            const char *br = strchr(p->name, '[');
            CHECK_OK(br && br[2] == ']' && !br[3]);
            snprintf(whole, sizeof whole, "%.*s", (int)(br - p->name), p->name);
            const nb_model_entry *e = nb_model_find(m, whole);
            const char *at = strchr(gates[k], br[1]);
            CHECK_OK(e && at && strstr(whole, "weight_") && p->numel * G == e->t->numel);
            const size_t off = e->offset + (size_t)(at - gates[k]) * p->numel;
            CHECK_NEAR(p->grad_norm, norm(s.grads, off, p->numel), 1e-12);
            CHECK(p->grad_norm > 0 && isfinite(p->update_ratio));
        }
        if (k == 0) CHECK(!strcmp(rec->params[n_ent[k] + 5].name, "layers.0.weight_hh_l0[f]"));
        nb_ctx_free(c);
        free(s.grads);
        free(s.before);
        free(s.after);
        nb_monitor_free(mon);
        nb_optim_free(o);
        nb_model_free(m);
    }
}

/* A bias right before batch normalisation cancels out: its gradient is zero
 * up to rounding.  The monitor names it once as a redundant bias, never as a
 * vanishing gradient; biases with no batchnorm after them are not named. */
TEST(monitor, bias_before_batchnorm_is_redundant_not_vanishing)
{
    nb_model *m = nb_model_from_spec("conv2d(4,k=3,p=1) batchnorm2d relu residual(conv2d(4,k=3,p=1) batchnorm2d) "
                                     "flatten linear(8) batchnorm1d relu linear(3)",
                                     NB_F64, 3, (size_t[]){1, 5, 5});
    CHECK_OK(m != NULL);
    if (!m) return;
    nb_rng r;
    nb_rng_seed(&r, 3);
    CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F64, nb_model_n_params(m));
    nb_monitor *mon = nb_monitor_new(m, &(nb_monitor_opts){.every = 1});
    nb_step_opts so = {.rng = &r, .hooks = nb_monitor_hooks(mon)};
    nb_ctx *c = nb_ctx_new(NULL);
    double x[8 * 25];
    int32_t y[8];
    for (int i = 0; i < 8 * 25; i++) x[i] = nb_rng_normal(&r);
    for (int i = 0; i < 8; i++) y[i] = i % 3;
    nb_step_result res;
    for (int s = 0; s < 3; s++) CHECK_OK(nb_train_step(m, o, c, x, y, 8, &so, &res) == 0);
    const char *want[] = {"layers.0.bias", "layers.3.block.0.bias", "layers.5.bias"};
    int seen[3] = {0}, other = 0;
    for (size_t i = 0; i < nb_monitor_n_warnings(mon); i++) {
        const nb_monitor_warning *w = nb_monitor_warning_at(mon, i);
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (!strcmp(w->where, want[j])) k = j;
        if (w->kind == NB_MON_REDUNDANT_BIAS && k >= 0 && w->step == 1 && w->value < 1e-6) seen[k]++;
        else other += k >= 0 || w->kind == NB_MON_REDUNDANT_BIAS;
        if (w->kind != NB_MON_REDUNDANT_BIAS) continue;
        char line[512];
        nb_monitor_warning_str(w, line, sizeof line);
        CHECK_MSG(strstr(line, "redundant bias: ") && strstr(line, "not vanishing") && strstr(line, "bias=0"), "%s",
                  line);
        CHECK(!strcmp(nb_monitor_warn_name(w->kind), "redundant_bias"));
    }
    CHECK_MSG(seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && other == 0, "%d %d %d, %d others", seen[0], seen[1],
              seen[2], other);
    nb_ctx_free(c);
    nb_monitor_free(mon);
    nb_optim_free(o);
    nb_model_free(m);
}
