/* Private to src/optim: the optimizer object and the update kernels, which
 * update.inc instantiates for float (_f32) and double (_f64). */
#ifndef NB_OPTIM_IMPL_H
#define NB_OPTIM_IMPL_H

#include "internal.h"
#include "nabla/optim.h"
#include "core/cpu.h"
#include "core/pool.h"

/* Elements per thread below which an update or clipping loop is not split
 * (a region costs a few microseconds when a worker must be woken). */
#define NB__OPTIM_GRAIN 16384

/* Hyper-parameters of one step, in double; the float kernels round each one
 * to float at the point where torch converts the Python scalar. */
typedef struct nb__opt_hp {
    double lr, wd, momentum, dampening, beta1, beta2, eps, alpha;
    int nesterov, maximize, amsgrad, centered;
    int64_t step; /* the step being taken, counted from 1 (Adam) */
    int mom_init; /* SGD: the momentum buffer already holds a value */
    /* The fused pass (nb__optim_step_fused): scale_g: each gradient is first
     * multiplied by (T)gscale, as clipping's own pass would have done, and the
     * product written back; zero_g: the gradient is set to 0 once read. */
    double gscale;
    int scale_g, zero_g;
} nb__opt_hp;

/* The named state buffers, in the order nb_optim_state_name lists them. */
enum {
    NB__BUF_MOM,
    NB__BUF_EXP_AVG,
    NB__BUF_EXP_AVG_SQ,
    NB__BUF_MAX_EXP_AVG_SQ,
    NB__BUF_SQUARE_AVG,
    NB__BUF_GRAD_AVG,
    NB__BUF_COUNT
};

struct nb_optim {
    nb_optim_config cfg;
    nb_dtype dt;
    size_t n;
    int64_t steps;
    int mom_init;             /* SGD: momentum buffer initialised (torch: not None) */
    void *buf[NB__BUF_COUNT]; /* NULL when the kind/config has no such buffer */
};

/* params p [n], gradients g [n] (written only by the fused pass: see
 * nb__opt_hp); state buffers [n] (NULL when unused). */
void nb__sgd_f32(float *p, float *g, float *mom, size_t n, const nb__opt_hp *h);
void nb__sgd_f64(double *p, double *g, double *mom, size_t n, const nb__opt_hp *h);
void nb__adam_f32(float *p, float *g, float *m, float *v, float *vmax, size_t n, const nb__opt_hp *h, int decoupled);
void nb__adam_f64(double *p, double *g, double *m, double *v, double *vmax, size_t n, const nb__opt_hp *h,
                  int decoupled);
void nb__rmsprop_f32(float *p, float *g, float *sq, float *gavg, float *mom, size_t n, const nb__opt_hp *h);
void nb__rmsprop_f64(double *p, double *g, double *sq, double *gavg, double *mom, size_t n, const nb__opt_hp *h);
/* sum of (g/scale)^2 in double; *amax = max |g| (inf if any is inf) */
double nb__sumsq_f32(const float *g, size_t n, double scale, double *amax);
double nb__sumsq_f64(const double *g, size_t n, double scale, double *amax);
void nb__scale_f32(float *g, size_t n, double c);
void nb__scale_f64(double *g, size_t n, double c);
void nb__clamp_f32(float *g, size_t n, double v);
void nb__clamp_f64(double *g, size_t n, double v);

/* The training step's fused pass (src/train/step.c): the update of
 * nb_optim_step with every gradient first multiplied by gscale (no multiply
 * when gscale == 1, as clipping does not scale then) and, when zero is set,
 * each gradient set to 0 once read, in the same sweep.  The parameters get
 * the bits nb_clip_grad_norm's scaling followed by nb_optim_step gives; the
 * gradients end as that scaling leaves them (zero == 0) or zeroed. */
int nb__optim_step_fused(nb_optim *o, void *params, void *grads, double gscale, int zero);
/* The global norm nb_clip_grad_norm_multi computes, without clipping; and
 * the factor it would scale the gradients by (1 when it would not). */
double nb__grad_norm(void *const *grads, const size_t *ns, int count, nb_dtype dt, int *nonfinite);
double nb__clip_coef(double norm, double max_norm);

/* AVX2 versions (update_avx2.c), bit-identical to the loops above: each does
 * the leading multiple of its vector width (0 when it does not handle the
 * configuration) and returns how many; call them only when nb__cpu_has_avx2() (core/cpu.h). */
#if defined(__x86_64__) && defined(__GNUC__)
#define NB__OPTIM_X86 1
size_t nb__sgd_avx2_f32(float *p, float *g, float *mom, size_t n, const nb__opt_hp *h);
size_t nb__sgd_avx2_f64(double *p, double *g, double *mom, size_t n, const nb__opt_hp *h);
size_t nb__adam_avx2_f32(float *p, float *g, float *m, float *v, size_t n, const nb__opt_hp *h, int decoupled);
size_t nb__adam_avx2_f64(double *p, double *g, double *m, double *v, size_t n, const nb__opt_hp *h, int decoupled);
size_t nb__rmsprop_avx2_f32(float *p, float *g, float *sq, float *gavg, float *mom, size_t n, const nb__opt_hp *h);
size_t nb__rmsprop_avx2_f64(double *p, double *g, double *sq, double *gavg, double *mom, size_t n, const nb__opt_hp *h);
/* *ss = the sum of squares of the elements done (summed in another order;
 * the float one runs its own AVX-512 loop where the CPU has it and scale
 * is 1) */
size_t nb__sumsq_avx2_f32(const float *g, size_t n, double scale, double *ss, double *amax);
size_t nb__sumsq_avx2_f64(const double *g, size_t n, double scale, double *ss, double *amax);
size_t nb__scale_avx2_f32(float *g, size_t n, double c);
size_t nb__scale_avx2_f64(double *g, size_t n, double c);
#endif

#endif
