/* `nabla train --ddp`: see ddp_train.h and docs/distributed.md. */
#include "ddp_train.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const nb_flag nb_ddp_flags[] = {
    NB_FLAG_TEXT("distributed (a build with `make MPI=1`; see docs/distributed.md):\n"),
    NB_FLAG_BOOL("--ddp", nb_ddp, on,
                 "data-parallel over the MPI ranks: run as\n"
                 "mpirun -np N nabla train --ddp ...; each rank takes 1/N of\n"
                 "every --batch (the global batch), gradients are averaged;\n"
                 "rank 0 evaluates, prints and writes OUT"),
    {"--ddp-timeout", NB_FLAG_DOUBLE, offsetof(nb_ddp, timeout_s), sizeof(double), DBL_TRUE_MIN, 1e6, NULL,
     "seconds in (0, 1e6]", NULL, "S", "a collective that takes longer ends the job (300)"},
};
const size_t nb_ddp_n_flags = sizeof nb_ddp_flags / sizeof nb_ddp_flags[0];

int nb_ddp_start(const char *cmd, nb_ddp *p, nb_run_cfg *r, long *monitor, int *report, int anomaly_skip,
                 char *metrics_path, size_t metrics_size)
{
    p->rank = 0;
    p->size = 1;
    if (!p->on) return 0;
    if (anomaly_skip)
        return nb_cli_usage_error(cmd, "--ddp: --anomaly-policy skip is not supported (each rank would skip alone)");
    if (!(p->d = nb_dist_init(&(nb_dist_opts){.timeout_s = p->timeout_s})))
        return nb_cli_usage_error(cmd, "--ddp: %s", nb_errmsg());
    p->rank = nb_dist_rank(p->d);
    p->size = nb_dist_size(p->d);
    if ((size_t)p->size > r->batch) {
        if (!p->rank) nb_cli_usage_error(cmd, "--ddp: --batch %zu is smaller than the %d ranks", r->batch, p->size);
        nb_dist_abort(p->d, 2);
        return 2;
    }
    if (p->rank) {
        r->quiet = 1;
        r->json = 0;
        *monitor = 0;
        *report = 0;
        snprintf(metrics_path, metrics_size, "/dev/null");
    } else if (!r->quiet && !r->json) {
        fprintf(stderr, "ddp: %d ranks, global batch %zu (%zu..%zu rows per rank); rank 0 on %s\n", p->size, r->batch,
                r->batch / (size_t)p->size, (r->batch + (size_t)p->size - 1) / (size_t)p->size, nb_dist_host(p->d));
    }
    return 0;
}

int nb_ddp_sync(nb_ddp *p, nb_model *m, nb_optim *o, nb_sched *s, nb_progress *prog, nb_loader *l, nb_rng *rng)
{
    if (!p->on) return 0;
    if (nb_dist_bcast_model(p->d, m) || nb_dist_bcast_optim(p->d, o) || nb_dist_bcast(p->d, s, sizeof *s) ||
        nb_dist_bcast(p->d, prog, sizeof *prog)) {
        fprintf(stderr, "nabla train: rank %d: %s\n", p->rank, nb_errmsg());
        return -1;
    }
    if (p->rank) {
        if (prog->loader.n && nb_loader_set_state(l, &prog->loader)) { /* n 0: a fresh run */
            fprintf(stderr, "nabla train: rank %d: %s\n", p->rank, nb_errmsg());
            return -1;
        }
        *rng = prog->rng;
        /* A dropout stream of its own (rank 0 keeps the saved one). */
        nb_rng_seed(rng, nb_rng_u64(rng) ^ (0x9e3779b97f4a7c15ULL * (uint64_t)p->rank));
    }
    return 0;
}

const nb_step_hooks *nb_ddp_slice(nb_ddp *p, const nb_step_hooks *inner, int flag, nb_dtype dt, size_t d,
                                  const void **x, const int32_t **y, size_t *n)
{
    size_t lo, hi, ng = *n;
    nb_dist_slice(ng, p->rank, p->size, &lo, &hi);
    if (hi == lo) { /* a short last batch: take one row with weight 0 */
        *n = 1;
        return nb_dist_step_hooks(p->d, inner, 0, ng, flag);
    }
    *x = (const char *)*x + lo * d * nb_dtype_size(dt);
    *y += lo;
    *n = hi - lo;
    return nb_dist_step_hooks(p->d, inner, hi - lo, ng, flag);
}

int nb_ddp_before_save(nb_ddp *p, nb_model *m)
{
    if (!p->on || !nb_model_n_buffer_values(m)) return 0;
    if (nb_dist_average_buffers(p->d, m)) {
        fprintf(stderr, "nabla train: rank %d: %s\n", p->rank, nb_errmsg());
        return -1;
    }
    return 0;
}

int nb_ddp_end(nb_ddp *p, int rc)
{
    if (!p->on || !p->d) return rc;
    if (rc != 0 && rc != 130 && p->size > 1) {
        fprintf(stderr, "nabla train: rank %d failed (exit %d): ending the whole job\n", p->rank, rc);
        nb_dist_abort(p->d, rc);
    }
    if (nb_dist_barrier(p->d)) {
        fprintf(stderr, "nabla train: rank %d: %s\n", p->rank, nb_errmsg());
        nb_dist_abort(p->d, 1);
        rc = 1;
    }
    nb_dist_finalize(p->d);
    p->d = NULL;
    return rc;
}
