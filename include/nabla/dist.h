/* nabla/dist.h — data-parallel training across processes and machines (MPI).
 *
 *   nb_dist *d = nb_dist_init(NULL);           // MPI_Init; NULL + nb_errmsg() without MPI
 *   int rank = nb_dist_rank(d), size = nb_dist_size(d);
 *   nb_dist_bcast_model(d, m);                 // rank 0's params + buffers everywhere
 *   nb_dist_bcast_optim(d, opt);               // and its optimizer state
 *   for (each GLOBAL batch of n rows, the same order on every rank) {
 *       size_t lo, hi; nb_dist_slice(n, rank, size, &lo, &hi);
 *       nb_step_opts so = {..., .hooks = nb_dist_step_hooks(d, inner_hooks, hi - lo, n, 0)};
 *       nb_train_step(m, opt, c, x + lo*d, y + lo, hi - lo, &so, &res);
 *   }
 *   nb_dist_finalize(d);
 *
 * Gradients: the after_backward hook scales each rank's gradient of its mean
 * loss by n_local/n_global and sums the flat gradient buffer over the ranks
 * (MPI_Iallreduce in fixed-size buckets, all in flight at once, after the
 * backward pass: no overlap with it).  The result is the gradient of the mean
 * loss over the global batch, identical on every rank, so the global-norm
 * clipping and the update that follow are identical everywhere too.
 * BatchNorm uses each rank's local batch statistics (no SyncBN);
 * nb_dist_average_buffers averages the running statistics (call it before
 * saving).  Every collective has a deadline (opts.timeout_s): a rank that
 * died or a broken network makes it fail with -1 and a message instead of
 * hanging; the communicator uses MPI_ERRORS_RETURN.
 * All functions return 0 / non-NULL on success and -1 / NULL with nb_errmsg().
 * A build without MPI (no NB_HAVE_MPI, `make` rather than `make MPI=1`) has
 * the same functions; nb_dist_init fails with "built without MPI". */
#ifndef NABLA_DIST_H
#define NABLA_DIST_H

#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_dist nb_dist;

typedef struct nb_dist_opts {
    double timeout_s;    /* deadline of one collective; 0 = 300 s */
    size_t bucket_bytes; /* gradient bucket size; 0 = 4 MiB */
} nb_dist_opts;

/* 1 when this library was built with MPI. */
NB_API int nb_dist_available(void);
/* MPI_Init (unless already initialised) and a duplicate of MPI_COMM_WORLD
 * with MPI_ERRORS_RETURN.  opts may be NULL.  Free with nb_dist_finalize
 * (NULL ok), which calls MPI_Finalize if nb_dist_init called MPI_Init. */
NB_API nb_dist *nb_dist_init(const nb_dist_opts *opts);
NB_API void nb_dist_finalize(nb_dist *d);
NB_API int nb_dist_rank(const nb_dist *d);
NB_API int nb_dist_size(const nb_dist *d);
/* The node this process runs on (MPI_Get_processor_name); owned by d. */
NB_API const char *nb_dist_host(const nb_dist *d);

/* Rows [*lo, *hi) of a global batch of n rows that rank takes:
 * [rank*n/size, (rank+1)*n/size). */
NB_API void nb_dist_slice(size_t n, int rank, int size, size_t *lo, size_t *hi);

/* Broadcasts from rank 0, in place. */
NB_API int nb_dist_bcast(nb_dist *d, void *buf, size_t bytes);
NB_API int nb_dist_bcast_model(nb_dist *d, nb_model *m); /* params and buffers */
/* The optimizer's state buffers (by rank 0's list of names), step count,
 * lr and momentum.  Every rank's optimizer must have the same config and size. */
NB_API int nb_dist_bcast_optim(nb_dist *d, nb_optim *o);
/* Sum n doubles over the ranks, in place. */
NB_API int nb_dist_allreduce_sum(nb_dist *d, double *v, size_t n);
/* Scale m's gradients by weight and sum them over the ranks (bucketed). */
NB_API int nb_dist_allreduce_grads(nb_dist *d, nb_model *m, double weight);
/* Replace m's buffers (BatchNorm running statistics) by their mean over the ranks. */
NB_API int nb_dist_average_buffers(nb_dist *d, nb_model *m);
NB_API int nb_dist_barrier(nb_dist *d);
/* After a failed collective the job cannot continue (MPI cannot cancel it):
 * MPI_Abort the whole job with code.  Only for programs (the CLI): the
 * library never calls it on its own.  Does not return under MPI. */
NB_API void nb_dist_abort(nb_dist *d, int code);

/* Hooks for nb_train_step: after the backward pass, the gradients are
 * averaged as above (weight n_local/n_global), the loss too, and `flag` is
 * OR-ed over the ranks (e.g. "stop requested"); then inner's hooks (may be
 * NULL) run on the averaged gradients.  When the global loss is not finite
 * the gradient is poisoned with a NaN on every rank, so that every rank
 * skips the step alike.  A rank left without rows by a short batch still
 * takes part: pass nb_train_step any one row and n_local = 0 here (its
 * gradient and loss get weight 0).  The returned hooks are owned by d,
 * valid until the next call. */
NB_API const nb_step_hooks *nb_dist_step_hooks(nb_dist *d, const nb_step_hooks *inner, size_t n_local, size_t n_global,
                                               int flag);
/* After a step: the mean loss over the global batch, and the OR of the flags. */
NB_API double nb_dist_last_loss(const nb_dist *d);
NB_API int nb_dist_last_flag(const nb_dist *d);

#ifdef __cplusplus
}
#endif
#endif
