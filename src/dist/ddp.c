/* Data-parallel training over MPI (see nabla/dist.h).  Without NB_HAVE_MPI
 * (a plain `make`) every function is a stub failing with "built without MPI". */
#include "../internal.h"
#include "nabla/dist.h"

#include <math.h>
#include <stdlib.h>

void nb_dist_slice(size_t n, int rank, int size, size_t *lo, size_t *hi)
{
    if (size < 1) size = 1;
    *lo = n * (size_t)rank / (size_t)size;
    *hi = n * (size_t)(rank + 1) / (size_t)size;
}

#ifdef NB_HAVE_MPI
#include <mpi.h>
#include <time.h>

struct nb_dist {
    MPI_Comm comm;
    int rank, size, we_init, failed;
    double timeout_s;
    size_t bucket_bytes;
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    /* nb_dist_step_hooks */
    nb_step_hooks hooks;
    const nb_step_hooks *inner;
    size_t n_local, n_global;
    int flag, last_flag;
    double last_loss;
};

int nb_dist_available(void) { return 1; }

static double nb__dnow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int nb__mpierr(nb_dist *d, const char *what, int err)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", err);
    if (d) d->failed = 1;
    return nb__erri("dist: %s failed on rank %d: %s", what, d ? d->rank : -1, s);
}

/* The watchdog: poll n requests until all complete or the deadline passes. */
static int nb__wait(nb_dist *d, MPI_Request *req, int n, const char *what)
{
    double t0 = nb__dnow();
    long spins = 0;
    for (;;) {
        int done = 0, err = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (err != MPI_SUCCESS) return nb__mpierr(d, what, err);
        if (done) return 0;
        if (++spins > 2000) { /* after a short busy wait, poll every 50 us */
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            if (nb__dnow() - t0 > d->timeout_s) {
                d->failed = 1;
                return nb__erri("dist: %s on rank %d timed out after %.0f s: another rank died, hangs or the "
                                "network failed (set the deadline with --ddp-timeout)",
                                what, d->rank, d->timeout_s);
            }
        }
    }
}

nb_dist *nb_dist_init(const nb_dist_opts *opts)
{
    int inited = 0;
    nb_dist *d = calloc(1, sizeof *d);
    if (!d) return nb__err("dist: out of memory");
    d->timeout_s = opts && opts->timeout_s > 0 ? opts->timeout_s : 300;
    d->bucket_bytes = opts && opts->bucket_bytes ? opts->bucket_bytes : (size_t)4 << 20;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
            free(d);
            return nb__err("dist: MPI_Init failed");
        }
        d->we_init = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int err = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    if (err != MPI_SUCCESS) {
        nb__mpierr(d, "MPI_Comm_dup", err);
        free(d);
        return NULL;
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    int len = 0;
    MPI_Get_processor_name(d->host, &len);
    d->host[len < 0 ? 0 : len] = '\0';
    return d;
}

void nb_dist_finalize(nb_dist *d)
{
    if (!d) return;
    /* After a failed collective MPI_Finalize could block forever: skip it and
     * let the process exit (mpirun then ends the job). */
    if (!d->failed) {
        MPI_Comm_free(&d->comm);
        if (d->we_init) MPI_Finalize();
    }
    free(d);
}

void nb_dist_abort(nb_dist *d, int code) { MPI_Abort(d ? d->comm : MPI_COMM_WORLD, code); }

int nb_dist_rank(const nb_dist *d) { return d ? d->rank : 0; }
int nb_dist_size(const nb_dist *d) { return d ? d->size : 1; }
const char *nb_dist_host(const nb_dist *d) { return d ? d->host : "?"; }

int nb_dist_bcast(nb_dist *d, void *buf, size_t bytes)
{
    if (!d || (!buf && bytes)) return nb__erri("dist_bcast: NULL argument");
    unsigned char *p = buf;
    while (bytes) {
        int k = bytes > (size_t)1 << 30 ? 1 << 30 : (int)bytes;
        MPI_Request rq;
        int err = MPI_Ibcast(p, k, MPI_BYTE, 0, d->comm, &rq);
        if (err != MPI_SUCCESS) return nb__mpierr(d, "broadcast", err);
        if (nb__wait(d, &rq, 1, "broadcast")) return -1;
        p += k;
        bytes -= (size_t)k;
    }
    return 0;
}

int nb_dist_barrier(nb_dist *d)
{
    if (!d) return nb__erri("dist_barrier: NULL argument");
    MPI_Request rq;
    int err = MPI_Ibarrier(d->comm, &rq);
    if (err != MPI_SUCCESS) return nb__mpierr(d, "barrier", err);
    return nb__wait(d, &rq, 1, "barrier");
}

/* Sum n elements of dt in place, in buckets of d->bucket_bytes, all in flight at once. */
static int nb__allreduce(nb_dist *d, void *buf, size_t n, nb_dtype dt, const char *what)
{
    if (!n) return 0;
    size_t es = nb_dtype_size(dt), per = d->bucket_bytes / es;
    if (per < 1) per = 1;
    if (per > (size_t)1 << 30) per = (size_t)1 << 30;
    size_t nbk = (n + per - 1) / per;
    MPI_Datatype mt = dt == NB_F64 ? MPI_DOUBLE : MPI_FLOAT;
    MPI_Request stack[64], *rq = nbk <= 64 ? stack : malloc(nbk * sizeof *rq);
    if (!rq) return nb__erri("dist: out of memory");
    int rc = 0;
    size_t issued = 0;
    for (; issued < nbk; issued++) {
        size_t off = issued * per, k = n - off < per ? n - off : per;
        int err = MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + off * es, (int)k, mt, MPI_SUM, d->comm, &rq[issued]);
        if (err != MPI_SUCCESS) {
            rc = nb__mpierr(d, what, err);
            break;
        }
    }
    if (!rc) rc = nb__wait(d, rq, (int)issued, what);
    if (rq != stack) free(rq);
    return rc;
}

int nb_dist_allreduce_sum(nb_dist *d, double *v, size_t n)
{
    if (!d || (!v && n)) return nb__erri("dist_allreduce_sum: NULL argument");
    return nb__allreduce(d, v, n, NB_F64, "allreduce");
}

int nb_dist_allreduce_grads(nb_dist *d, nb_model *m, double weight)
{
    if (!d || !m) return nb__erri("dist_allreduce_grads: NULL argument");
    nb_dtype dt = nb_model_dtype(m);
    size_t n = nb_model_n_params(m);
    void *g = nb_model_grads(m);
    if (weight != 1) {
        if (dt == NB_F64) {
            double *p = g;
            for (size_t i = 0; i < n; i++) p[i] *= weight;
        } else {
            float *p = g, w = (float)weight;
            for (size_t i = 0; i < n; i++) p[i] *= w;
        }
    }
    return nb__allreduce(d, g, n, dt, "gradient allreduce");
}

int nb_dist_average_buffers(nb_dist *d, nb_model *m)
{
    if (!d || !m) return nb__erri("dist_average_buffers: NULL argument");
    size_t n = nb_model_n_buffer_values(m);
    nb_dtype dt = nb_model_dtype(m);
    void *b = nb_model_buffers(m);
    if (!n) return 0;
    if (nb__allreduce(d, b, n, dt, "buffer allreduce")) return -1;
    if (dt == NB_F64)
        for (size_t i = 0; i < n; i++) ((double *)b)[i] /= d->size;
    else
        for (size_t i = 0; i < n; i++) ((float *)b)[i] /= (float)d->size;
    return 0;
}

int nb_dist_bcast_model(nb_dist *d, nb_model *m)
{
    if (!d || !m) return nb__erri("dist_bcast_model: NULL argument");
    uint64_t sz[2] = {nb_model_n_params(m), nb_model_n_buffer_values(m)}, sz0[2] = {sz[0], sz[1]};
    if (nb_dist_bcast(d, sz0, sizeof sz0)) return -1;
    if (sz0[0] != sz[0] || sz0[1] != sz[1])
        return nb__erri("dist_bcast_model: rank %d's model has %llu params, rank 0's %llu", d->rank,
                        (unsigned long long)sz[0], (unsigned long long)sz0[0]);
    size_t es = nb_dtype_size(nb_model_dtype(m));
    if (nb_dist_bcast(d, nb_model_params(m), sz[0] * es)) return -1;
    return nb_dist_bcast(d, nb_model_buffers(m), sz[1] * es);
}

int nb_dist_bcast_optim(nb_dist *d, nb_optim *o)
{
    if (!d || !o) return nb__erri("dist_bcast_optim: NULL argument");
    struct {
        int64_t steps, count, n;
        double lr, momentum;
    } h = {nb_optim_steps(o), nb_optim_state_count(o), (int64_t)nb_optim_size(o), nb_optim_lr(o), nb_optim_momentum(o)};
    if (nb_dist_bcast(d, &h, sizeof h)) return -1;
    if ((size_t)h.n != nb_optim_size(o))
        return nb__erri("dist_bcast_optim: rank %d's optimizer has %zu values, rank 0's %lld", d->rank,
                        nb_optim_size(o), (long long)h.n);
    size_t bytes = nb_optim_size(o) * nb_dtype_size(nb_optim_dtype(o));
    void *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return nb__erri("dist: out of memory");
    int rc = 0;
    for (int64_t i = 0; i < h.count && !rc; i++) {
        char name[64] = {0};
        if (d->rank == 0) snprintf(name, sizeof name, "%s", nb_optim_state_name(o, (int)i));
        if ((rc = nb_dist_bcast(d, name, sizeof name))) break;
        const void *src = d->rank == 0 ? nb_optim_state_get(o, name) : NULL;
        if (src) memcpy(tmp, src, bytes);
        if ((rc = nb_dist_bcast(d, tmp, bytes))) break;
        if (d->rank != 0) rc = nb_optim_state_load(o, name, tmp);
    }
    free(tmp);
    if (rc) return -1;
    if (nb_optim_set_steps(o, h.steps) || nb_optim_set_lr(o, h.lr)) return -1;
    if (h.momentum != nb_optim_momentum(o) && nb_optim_set_momentum(o, h.momentum)) return -1;
    return 0;
}

static int nb__after_backward(void *user, nb_model *m, nb_tensor *loss)
{
    nb_dist *d = user;
    double w = d->n_global ? (double)d->n_local / (double)d->n_global : 0;
    if (nb_dist_allreduce_grads(d, m, w)) return -1;
    double v[2] = {w ? nb_item(loss) * w : 0, d->flag ? 1 : 0};
    if (nb_dist_allreduce_sum(d, v, 2)) return -1;
    d->last_loss = v[0];
    d->last_flag = v[1] > 0;
    if (!isfinite(v[0]) && nb_model_n_params(m)) { /* every rank skips the step alike */
        if (nb_model_dtype(m) == NB_F64) ((double *)nb_model_grads(m))[0] = NAN;
        else ((float *)nb_model_grads(m))[0] = NAN;
    }
    const nb_step_hooks *in = d->inner;
    return in && in->after_backward ? in->after_backward(in->user, m, loss) : 0;
}

static int nb__after_clip(void *user, nb_model *m, double before, double after)
{
    const nb_step_hooks *in = ((nb_dist *)user)->inner;
    return in && in->after_clip ? in->after_clip(in->user, m, before, after) : 0;
}

static int nb__after_update(void *user, nb_model *m)
{
    const nb_step_hooks *in = ((nb_dist *)user)->inner;
    return in && in->after_update ? in->after_update(in->user, m) : 0;
}

const nb_step_hooks *nb_dist_step_hooks(nb_dist *d, const nb_step_hooks *inner, size_t n_local, size_t n_global,
                                        int flag)
{
    if (!d) return nb__err("dist_step_hooks: NULL argument");
    d->inner = inner;
    d->n_local = n_local;
    d->n_global = n_global;
    d->flag = flag;
    d->last_loss = NAN;
    d->last_flag = 0;
    d->hooks = (nb_step_hooks){d, nb__after_backward, nb__after_clip, nb__after_update};
    return &d->hooks;
}

double nb_dist_last_loss(const nb_dist *d) { return d ? d->last_loss : NAN; }
int nb_dist_last_flag(const nb_dist *d) { return d ? d->last_flag : 0; }

#else /* !NB_HAVE_MPI: stubs */

#define NB__NOMPI "dist: nabla was built without MPI (rebuild with `make MPI=1`)"

int nb_dist_available(void) { return 0; }
nb_dist *nb_dist_init(const nb_dist_opts *opts) { return nb__err(NB__NOMPI); }
void nb_dist_finalize(nb_dist *d) { (void)d; }
void nb_dist_abort(nb_dist *d, int code)
{
    (void)d;
    (void)code;
}
int nb_dist_rank(const nb_dist *d) { return 0; }
int nb_dist_size(const nb_dist *d) { return 1; }
const char *nb_dist_host(const nb_dist *d) { return "?"; }
int nb_dist_bcast(nb_dist *d, void *buf, size_t bytes) { return nb__erri(NB__NOMPI); }
int nb_dist_bcast_model(nb_dist *d, nb_model *m) { return nb__erri(NB__NOMPI); }
int nb_dist_bcast_optim(nb_dist *d, nb_optim *o) { return nb__erri(NB__NOMPI); }
int nb_dist_allreduce_sum(nb_dist *d, double *v, size_t n) { return nb__erri(NB__NOMPI); }
int nb_dist_allreduce_grads(nb_dist *d, nb_model *m, double weight) { return nb__erri(NB__NOMPI); }
int nb_dist_average_buffers(nb_dist *d, nb_model *m) { return nb__erri(NB__NOMPI); }
int nb_dist_barrier(nb_dist *d) { return nb__erri(NB__NOMPI); }
const nb_step_hooks *nb_dist_step_hooks(nb_dist *d, const nb_step_hooks *inner, size_t n_local, size_t n_global,
                                        int flag)
{
    return nb__err(NB__NOMPI);
}
double nb_dist_last_loss(const nb_dist *d) { return NAN; }
int nb_dist_last_flag(const nb_dist *d) { return 0; }

#endif
