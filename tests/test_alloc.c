/* After warm-up, a training step makes zero heap allocations.  The test binary
 * interposes malloc & co. to count them (tests/t_alloc.c: glibc only, and not
 * under ASan, whose allocator must stay in charge, nor valgrind, which
 * replaces malloc; there the case reports itself skipped). */
#include "t.h"

#include "nabla/train.h"

#include <stdlib.h>
#include <string.h>

#include "t_alloc.h"
#include "t_steady.h"

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

    long allocs = skip ? 0 : t_steady_allocs(m, &r, &(t_steady){.batch = B, .in = IN, .classes = OUT, .steps = 12});
    CHECK_MSG(allocs == 0, "%ld heap allocations in 10 steady-state steps", allocs);
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
    const char *why;
    if (!t_alloc_usable(&why)) {
        nb_model_free(m);
        T_SKIP("%s", why);
        return;
    }
    /* step 6 resets the states, as an epoch's start does */
    long allocs = t_steady_allocs(
        m, &r, &(t_steady){.batch = N, .in = T, .vocab = V, .classes = V, .labels_per = T, .steps = 12, .reset_at = 6});
    CHECK_MSG(allocs == 0, "%ld heap allocations in 10 steady-state steps", allocs);
    nb_model_free(m);
#endif
}
