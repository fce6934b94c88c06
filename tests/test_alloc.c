/* After warm-up, a training step makes zero heap allocations.  The test binary
 * interposes malloc & co. to count them (glibc only, and not under ASan, whose
 * allocator must stay in charge; there the case reports itself skipped). */
#include "t.h"

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
enum { B = 64, IN = 784, HID = 128, OUT = 10 };

typedef struct {
    nb_tensor *W1, *b1, *W2, *b2;
} mlp;

/* One full step: forward, loss, backward, SGD update, zero-grad, reset. */
static int train_step(nb_ctx *c, mlp *m, float *xv, int32_t *yv)
{
    nb_tensor *x = nb_from_data(c, NB_F32, 2, (size_t[]){B, IN}, xv, NB_BORROW);
    nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){B}, yv, NB_BORROW);
    nb_tensor *h = nb_relu(c, nb_add(c, nb_matmul(c, x, m->W1, 0, 0), m->b1));
    nb_tensor *logits = nb_add(c, nb_matmul(c, h, m->W2, 0, 0), m->b2);
    nb_tensor *loss = nb_cross_entropy(c, logits, y, NB_MEAN, 0.0);
    if (!loss || nb_backward(c, loss, NULL) != 0) return -1;
    nb_tensor *ps[] = {m->W1, m->b1, m->W2, m->b2};
    for (int p = 0; p < 4; p++) {
        float *w = ps[p]->data, *g = ps[p]->grad->data;
        for (size_t i = 0; i < ps[p]->numel; i++) w[i] -= 0.01f * g[i];
        nb_zero_grad(ps[p]);
    }
    nb_ctx_reset(c);
    return 0;
}
#endif

TEST(alloc, training_step_makes_no_heap_allocation_after_warmup)
{
#ifndef NB_T_COUNTING
    printf("  (skipped: allocation counting needs glibc without ASan)\n");
#else
    nb_rng r;
    nb_rng_seed(&r, 3);
    mlp m = {nb_tensor_new(NB_F32, 2, (size_t[]){IN, HID}), nb_tensor_new(NB_F32, 1, (size_t[]){HID}),
             nb_tensor_new(NB_F32, 2, (size_t[]){HID, OUT}), nb_tensor_new(NB_F32, 1, (size_t[]){OUT})};
    nb_tensor *ps[] = {m.W1, m.b1, m.W2, m.b2};
    for (int p = 0; p < 4; p++) {
        nb_fill_uniform(ps[p], -0.05, 0.05, &r);
        nb_tensor_set_requires_grad(ps[p], 1);
    }
    static float xv[B * IN];
    static int32_t yv[B];
    nb_ctx *c = nb_ctx_new(NULL);

    /* the counter itself works */
    t_counting = 1;
    void *probe = malloc(16);
    t_counting = 0;
    free(probe);
    CHECK_MSG(t_allocs == 1, "malloc interposition is not counting (%ld)", t_allocs);

    for (int step = 0; step < 12; step++) {
        for (int i = 0; i < B * IN; i++) xv[i] = (float)nb_rng_uniform(&r);
        for (int i = 0; i < B; i++) yv[i] = (int32_t)nb_rng_below(&r, OUT);
        if (step == 2) { /* steps 0-1 warm up: gradients and arena chunks */
            t_allocs = 0;
            t_counting = 1;
        }
        int rc = train_step(c, &m, xv, yv);
        CHECK_MSG(rc == 0, "step %d: %s", step, nb_errmsg());
    }
    t_counting = 0;
    CHECK_MSG(t_allocs == 0, "%ld heap allocations in 10 steady-state steps", t_allocs);
    nb_ctx_free(c);
    for (int p = 0; p < 4; p++) nb_tensor_free(ps[p]);
#endif
}
