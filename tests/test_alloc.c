/* After warm-up, a training step makes zero heap allocations.  The test binary
 * interposes malloc & co. to count them (glibc only, and not under ASan, whose
 * allocator must stay in charge; there the case reports itself skipped). */
#include "t.h"

#include "nabla/train.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define NB_T_NO_COUNT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB_T_NO_COUNT 1
#endif
#endif

#if defined(__GLIBC__) && !defined(NB_T_NO_COUNT)
#define NB_T_COUNTING 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile int t_counting;
static volatile long t_allocs;

void *malloc(size_t n)
{
    if (t_counting) t_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t s)
{
    if (t_counting) t_allocs++;
    return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n)
{
    if (t_counting) t_allocs++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n)
{
    if (t_counting) t_allocs++;
    return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n)
{
    if (t_counting) t_allocs++;
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12;
}
#endif

#ifdef NB_T_COUNTING
enum { B = 64, IN = 784, OUT = 10 };
#endif

TEST(alloc, training_step_makes_no_heap_allocation_after_warmup)
{
#ifndef NB_T_COUNTING
    printf("  (skipped: allocation counting needs glibc without ASan)\n");
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
    const char *pre = getenv("LD_PRELOAD");
    int skip = pre && strstr(pre, "vgpreload");
    if (skip) printf("  (skipped under valgrind, which replaces malloc)\n");
    /* the counter itself works */
    t_counting = 1;
    void *probe = malloc(16);
    t_counting = 0;
    free(probe);
    CHECK_MSG(skip || t_allocs == 1, "malloc interposition is not counting (%ld)", t_allocs);

    for (int step = 0; step < 12 && !skip; step++) {
        for (int i = 0; i < B * IN; i++) xv[i] = (float)nb_rng_uniform(&r);
        for (int i = 0; i < B; i++) yv[i] = (int32_t)nb_rng_below(&r, OUT);
        if (step == 2) { /* steps 0-1 warm up the arena */
            t_allocs = 0;
            t_counting = 1;
        }
        nb_step_result res;
        int rc = nb_train_step(m, o, c, xv, yv, B, &so, &res);
        CHECK_MSG(rc == 0 && !res.nonfinite, "step %d: %s", step, nb_errmsg());
    }
    t_counting = 0;
    CHECK_MSG(t_allocs == 0, "%ld heap allocations in 10 steady-state steps", t_allocs);
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
#endif
}
