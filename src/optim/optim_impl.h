/* Private to src/optim: the optimizer object and the update kernels, which
 * update.inc instantiates for float (_f32) and double (_f64). */
#ifndef NB_OPTIM_IMPL_H
#define NB_OPTIM_IMPL_H

#include "internal.h"
#include "nabla/optim.h"
#include "core/pool.h"

/* Elements per thread below which an update or clipping loop is not split
 * (a region costs a few microseconds when a worker must be woken). */
#define NB__OPTIM_GRAIN 16384

/* Hyper-parameters of one step, in double; the float kernels round each one
 * to float at the point where torch converts the Python scalar. */
typedef struct nb__opt_hp {
    double lr, wd, momentum, dampening, beta1, beta2, eps, alpha;
    int nesterov, maximize, amsgrad, centered;
    int64_t step;  /* the step being taken, counted from 1 (Adam) */
    int mom_init;  /* SGD: the momentum buffer already holds a value */
} nb__opt_hp;

/* The named state buffers, in the order nb_optim_state_name lists them. */
enum { NB__BUF_MOM, NB__BUF_EXP_AVG, NB__BUF_EXP_AVG_SQ, NB__BUF_MAX_EXP_AVG_SQ,
       NB__BUF_SQUARE_AVG, NB__BUF_GRAD_AVG, NB__BUF_COUNT };

struct nb_optim {
    nb_optim_config cfg;
    nb_dtype dt;
    size_t n;
    int64_t steps;
    int mom_init;                /* SGD: momentum buffer initialised (torch: not None) */
    void *buf[NB__BUF_COUNT];    /* NULL when the kind/config has no such buffer */
};

/* params p [n], gradients g [n]; state buffers [n] (NULL when unused). */
#define NB__OPTIM_KERNELS(T, SFX)                                                      \
    void nb__sgd_##SFX(T *p, const T *g, T *mom, size_t n, const nb__opt_hp *h);        \
    void nb__adam_##SFX(T *p, const T *g, T *m, T *v, T *vmax, size_t n,                \
                        const nb__opt_hp *h, int decoupled);                            \
    void nb__rmsprop_##SFX(T *p, const T *g, T *sq, T *gavg, T *mom, size_t n,          \
                           const nb__opt_hp *h);                                        \
    /* sum of (g/scale)^2 in double; *amax = max |g| (inf if any is inf) */             \
    double nb__sumsq_##SFX(const T *g, size_t n, double scale, double *amax);           \
    void nb__scale_##SFX(T *g, size_t n, double c);                                     \
    void nb__clamp_##SFX(T *g, size_t n, double v);
NB__OPTIM_KERNELS(float, f32)
NB__OPTIM_KERNELS(double, f64)
#undef NB__OPTIM_KERNELS

/* AVX2 versions (update_avx2.c), bit-identical to the loops above: each does
 * the leading multiple of its vector width (0 when it does not handle the
 * configuration) and returns how many; call them only when nb__optim_avx2(). */
#if defined(__x86_64__) && defined(__GNUC__)
#define NB__OPTIM_X86 1
int nb__optim_avx2(void);
#define NB__OPTIM_AVX2_KERNELS(T, SFX)                                                          \
    size_t nb__sgd_avx2_##SFX(T *p, const T *g, T *mom, size_t n, const nb__opt_hp *h);          \
    size_t nb__adam_avx2_##SFX(T *p, const T *g, T *m, T *v, size_t n, const nb__opt_hp *h,      \
                               int decoupled);                                                  \
    size_t nb__rmsprop_avx2_##SFX(T *p, const T *g, T *sq, T *gavg, T *mom, size_t n,            \
                                  const nb__opt_hp *h);                                         \
    /* *ss = the sum of squares of the elements done (summed in another order) */             \
    size_t nb__sumsq_avx2_##SFX(const T *g, size_t n, double scale, double *ss, double *amax);  \
    size_t nb__scale_avx2_##SFX(T *g, size_t n, double c);
NB__OPTIM_AVX2_KERNELS(float, f32)
NB__OPTIM_AVX2_KERNELS(double, f64)
#undef NB__OPTIM_AVX2_KERNELS
#endif

#endif
