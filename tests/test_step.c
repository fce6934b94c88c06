/* nb_train_step's fused pass (clipping's scale, the update and the zeroing
 * of the gradients in one sweep) against the separate passes it replaces:
 * a step with hooks keeps the passes apart, one without fuses them, and the
 * parameters and optimizer state must come out with the same bits. */
#include "t.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/train.h"

#include <stdlib.h>
#include <string.h>

#define B 24
#define IN 13

typedef struct {
    size_t n, es;
    const void *grads_at_update; /* what after_update found in the gradients */
    void *copy;
    int clip_calls, update_calls;
} hook_spy;

static int spy_clip(void *user, nb_model *m, double before, double after)
{
    (void)m;
    (void)before;
    (void)after;
    ((hook_spy *)user)->clip_calls++;
    return 0;
}

static int spy_update(void *user, nb_model *m)
{
    hook_spy *s = user;
    s->update_calls++;
    memcpy(s->copy, nb_model_grads(m), s->n * s->es);
    return 0;
}

/* Four steps of the same model, data and optimizer; with hooks != NULL the
 * step runs its separate passes.  Returns the model (its params) and o. */
static nb_model *run(nb_dtype dt, nb_optim_kind kind, double clip, double clip_value, const nb_step_hooks *hooks,
                     nb_optim **op)
{
    nb_rng r;
    nb_rng_seed(&r, 7);
    nb_model *m = nb_model_from_spec("linear(16) tanh linear(9) relu linear(5)", dt, 1, (size_t[]){IN});
    if (!m || nb_model_init(m, NB_INIT_TORCH, 0, &r)) return m;
    nb_optim_config oc = nb_optim_defaults(kind);
    oc.lr = 0.05;
    if (kind == NB_OPT_SGD) {
        oc.momentum = 0.9;
        oc.nesterov = 1;
    }
    if (kind == NB_OPT_RMSPROP) {
        oc.momentum = 0.5;
        oc.centered = 1;
        oc.weight_decay = 0.01;
    }
    *op = nb_optim_new(&oc, dt, nb_model_n_params(m));
    nb_ctx *c = nb_ctx_new(NULL);
    double xd[B * IN];
    float xf[B * IN];
    int32_t y[B];
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < B * IN; i++) {
            xd[i] = 3 * nb_rng_normal(&r);
            xf[i] = (float)xd[i];
        }
        for (int i = 0; i < B; i++) y[i] = (int32_t)nb_rng_below(&r, 5);
        nb_step_opts so = {.clip_norm = clip, .clip_value = clip_value, .rng = &r, .hooks = hooks};
        nb_step_result res;
        CHECK_OK(nb_train_step(m, *op, c, dt == NB_F32 ? (void *)xf : (void *)xd, y, B, &so, &res) == 0);
        CHECK(!res.nonfinite);
    }
    nb_ctx_free(c);
    return m;
}

static int same_state(nb_optim *a, nb_optim *b)
{
    const size_t bytes = nb_optim_size(a) * (nb_optim_dtype(a) == NB_F32 ? 4 : 8);
    for (int i = 0; i < nb_optim_state_count(a); i++) {
        const char *name = nb_optim_state_name(a, i);
        if (memcmp(nb_optim_state_get(a, name), nb_optim_state_get(b, name), bytes)) return 0;
    }
    return nb_optim_state_count(a) == nb_optim_state_count(b);
}

TEST(step, fused_pass_gives_the_bits_of_separate_passes)
{
    const nb_optim_kind kinds[] = {NB_OPT_SGD, NB_OPT_ADAM, NB_OPT_ADAMW, NB_OPT_RMSPROP};
    const nb_dtype dts[] = {NB_F32, NB_F64};
    const double clips[] = {0, 0.05, 1e6}; /* off, always clipping, never */
    for (size_t d = 0; d < 2; d++)
        for (size_t k = 0; k < 4; k++)
            for (size_t ci = 0; ci < 3; ci++) {
                nb_optim *of = NULL, *os = NULL;
                hook_spy s = {0};
                nb_step_hooks hooks = {.user = &s, .after_clip = spy_clip, .after_update = spy_update};
                nb_model *fused = run(dts[d], kinds[k], clips[ci], 0, NULL, &of);
                CHECK_OK(fused && of);
                s.n = nb_model_n_params(fused);
                s.es = dts[d] == NB_F32 ? 4 : 8;
                s.copy = calloc(s.n, s.es);
                nb_model *sep = run(dts[d], kinds[k], clips[ci], 0, &hooks, &os);
                CHECK_OK(sep && os);
                const size_t bytes = s.n * s.es;
                CHECK_MSG(!memcmp(nb_model_params(fused), nb_model_params(sep), bytes),
                          "params differ: %s, kind %d, clip %g", nb_dtype_name(dts[d]), (int)kinds[k], clips[ci]);
                CHECK_MSG(same_state(of, os), "optimizer state differs: %s, kind %d, clip %g", nb_dtype_name(dts[d]),
                          (int)kinds[k], clips[ci]);
                CHECK(s.clip_calls == 4 && s.update_calls == 4);
                /* the hook saw the gradients still there (clipped), and both
                 * steps leave them zeroed */
                int any = 0;
                for (size_t i = 0; i < bytes; i++) any |= ((unsigned char *)s.copy)[i];
                CHECK(any);
                void *zeros = calloc(s.n, s.es);
                CHECK(!memcmp(nb_model_grads(fused), zeros, bytes));
                CHECK(!memcmp(nb_model_grads(sep), zeros, bytes));
                free(zeros);
                free(s.copy);
                nb_optim_free(of);
                nb_optim_free(os);
                nb_model_free(fused);
                nb_model_free(sep);
            }
}

/* after_update sees the clipped gradients the unfused step always showed it:
 * with only that hook the scale is fused but the zeroing is not. */
TEST(step, after_update_sees_clipped_gradients)
{
    nb_optim *o1 = NULL, *o2 = NULL;
    hook_spy s1 = {0}, s2 = {0};
    nb_step_hooks only_update = {.user = &s1, .after_update = spy_update};
    nb_step_hooks both = {.user = &s2, .after_clip = spy_clip, .after_update = spy_update};
    s1.n = s2.n = 16 * IN + 16 + 9 * 16 + 9 + 5 * 9 + 5;
    s1.es = s2.es = 4;
    s1.copy = calloc(s1.n, 4);
    s2.copy = calloc(s2.n, 4);
    nb_model *a = run(NB_F32, NB_OPT_ADAM, 0.05, 0, &only_update, &o1);
    nb_model *b = run(NB_F32, NB_OPT_ADAM, 0.05, 0, &both, &o2);
    CHECK_OK(a && b && nb_model_n_params(a) == s1.n);
    CHECK(!memcmp(s1.copy, s2.copy, s1.n * 4));
    CHECK(!memcmp(nb_model_params(a), nb_model_params(b), s1.n * 4));
    /* a clamp keeps its own pass too */
    nb_optim *o3 = NULL, *o4 = NULL;
    nb_model *c = run(NB_F64, NB_OPT_SGD, 0.5, 0.01, NULL, &o3);
    nb_model *d = run(NB_F64, NB_OPT_SGD, 0.5, 0.01, &both, &o4);
    CHECK_OK(c && d);
    CHECK(!memcmp(nb_model_params(c), nb_model_params(d), nb_model_n_params(c) * 8));
    free(s1.copy);
    free(s2.copy);
    nb_optim_free(o1);
    nb_optim_free(o2);
    nb_optim_free(o3);
    nb_optim_free(o4);
    nb_model_free(a);
    nb_model_free(b);
    nb_model_free(c);
    nb_model_free(d);
}
