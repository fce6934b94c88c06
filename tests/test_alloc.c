/* After warm-up, a training step makes zero heap allocations.  The test binary
 * interposes malloc & co. to count them (tests/t_alloc.c: glibc only, and not
 * under ASan, whose allocator must stay in charge, nor valgrind, which
 * replaces malloc; there the case reports itself skipped). */
#include "t.h"

#include "nabla/train.h"

#include <stdlib.h>
#include <string.h>

#include "t_alloc.h"

#if T_ALLOC_INTERPOSED
enum { B = 64, IN = 784, OUT = 10 };
#endif

TEST(alloc, training_step_makes_no_heap_allocation_after_warmup)
{
#if !T_ALLOC_INTERPOSED
    T_SKIP("allocation counting needs glibc without ASan");
#else
    /* the study guide's model and step: 784-128-10 ReLU, Adam, clip-norm 1.0 */
    nb_rng r;
    nb_rng_seed(&r, 3);
    nb_mlp_config cfg = {.act = NB_ACT_RELU};
    nb_mlp_parse_widths(&cfg, "784-128-10");
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    nb_model_init(m, NB_INIT_TORCH, 0, &r);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    static float xv[B * IN];
    static int32_t yv[B];
    nb_ctx *c = nb_ctx_new(NULL);
    nb_step_opts so = {.clip_norm = 1.0, .rng = &r};

    /* valgrind replaces malloc everywhere, ours included: nothing to count */
    const char *why;
    int skip = !t_alloc_usable(&why);
    if (skip) T_SKIP("%s", why);
    /* the counter itself works */
    t_alloc_count_start();
    void *volatile probe = malloc(16); /* volatile: the pair must not be optimised away */
    long probed = t_alloc_count_stop();
    free(probe);
    CHECK_MSG(skip || probed == 1, "malloc interposition is not counting (%ld)", probed);

    for (int step = 0; step < 12 && !skip; step++) {
        for (int i = 0; i < B * IN; i++) xv[i] = (float)nb_rng_uniform(&r);
        for (int i = 0; i < B; i++) yv[i] = (int32_t)nb_rng_below(&r, OUT);
        if (step == 2) t_alloc_count_start(); /* steps 0-1 warm up the arena */
        nb_step_result res;
        int rc = nb_train_step(m, o, c, xv, yv, B, &so, &res);
        CHECK_MSG(rc == 0 && !res.nonfinite, "step %d: %s", step, nb_errmsg());
    }
    long allocs = t_alloc_count_stop();
    CHECK_MSG(skip || allocs == 0, "%ld heap allocations in 10 steady-state steps", allocs);
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
#endif
}

/* The same for a character model under truncated backpropagation through
 * time (nb_model_carry_states): carrying the states allocates nothing per step. */
TEST(alloc, carried_recurrent_states_make_no_heap_allocation_after_warmup)
{
#if !T_ALLOC_INTERPOSED
    T_SKIP("allocation counting needs glibc without ASan");
#else
    enum { N = 4, T = 12, V = 96 };
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_model *m = nb_model_from_spec("embedding(96,8) lstm(16,layers=2,seq=1) linear(96)", NB_F32, 1, (size_t[]){T});
    CHECK_OK(m && nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0 && nb_model_carry_states(m, N) == 0);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    static float xv[N * T];
    static int32_t yv[N * T];
    nb_ctx *c = nb_ctx_new(NULL);
    nb_step_opts so = {.clip_norm = 1.0, .rng = &r};
    const char *why;
    int skip = !t_alloc_usable(&why);
    if (skip) T_SKIP("%s", why);
    for (int step = 0; step < 12 && !skip; step++) {
        for (int i = 0; i < N * T; i++) xv[i] = (float)nb_rng_below(&r, V);
        for (int i = 0; i < N * T; i++) yv[i] = (int32_t)nb_rng_below(&r, V);
        if (step == 2) t_alloc_count_start();
        if (step == 6) nb_model_reset_states(m); /* an epoch's start */
        nb_step_result res;
        int rc = nb_train_step(m, o, c, xv, yv, N, &so, &res);
        CHECK_MSG(rc == 0 && !res.nonfinite, "step %d: %s", step, nb_errmsg());
    }
    long allocs = t_alloc_count_stop();
    CHECK_MSG(skip || allocs == 0, "%ld heap allocations in 10 steady-state steps", allocs);
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
#endif
}
