/* The batch loader: a permutation per epoch drawn from its own nb_rng (from
 * the identity, so one saved generator state regenerates the epoch), batches
 * gathered into the caller's buffers.  With prefetch, a thread of the
 * loader's own gathers the epoch's next batch into the loader's buffers as
 * soon as one is served, and the next call copies it out: the same rows in
 * the same order, computed by the same code.  Nothing is allocated after
 * the first prefetch.  When the step's pool has a thread for every CPU, a
 * thread more would only preempt one of them (and a region waits for its
 * slowest thread): then the batch is gathered in chunks by pool threads that
 * would otherwise wait (nb__pool_idle_post), and no thread is started. */
#include "../internal.h"
#include "core/pool.h"
#include "nabla/data.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
#define NB__LOADER_THREADS 1
#endif

/* A batch the prefetcher gathers: rows perm[pos, pos + m) as dtype dt, x
 * and/or y. */
typedef struct {
    size_t pos, m;
    nb_dtype dt;
    int want_x, want_y;
} nb__prefetch_job;

struct nb_loader {
    const nb_dataset *ds;
    size_t bs;
    int shuffle, drop_last;
    double scale, mean, std;
    size_t *perm;     /* [n] this epoch's order */
    size_t pos;       /* samples served this epoch */
    uint64_t epoch;   /* epochs completed */
    nb_rng epoch_rng; /* the generator when this epoch began */
    nb_rng rng;       /* the generator now (after this epoch's shuffle) */
    int prefetch;     /* opts->prefetch, and the thread could start */
#if defined(NB__LOADER_THREADS)
    /* The prefetcher; mu guards everything below, cv signals both ways. */
    thrd_t th;
    mtx_t mu;
    cnd_t cv;
    int started;        /* th, mu, cv exist */
    long cpus;          /* online CPUs when the loader was made (0: unknown) */
    int idle;           /* job was posted to the pool's idle threads, not to th */
    atomic_int idle_rc; /* non-zero: a chunk of the idle job failed */
    int posted;         /* job is the batch gathered, or being gathered */
    int running;        /* the thread is gathering job now */
    int quit;
    int rc; /* nb_dataset_gather's result for job */
    nb__prefetch_job job;
    void *xb; /* [bs * d] of the largest dtype, [bs * labels per sample] */
    int32_t *yb;
#endif
};

/* Start an epoch from the generator state in l->rng. */
static void nb__loader_begin(nb_loader *l)
{
    size_t n = l->ds->n;
    l->epoch_rng = l->rng;
    for (size_t i = 0; i < n; i++) l->perm[i] = i;
    if (l->shuffle)
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)nb_rng_below(&l->rng, (uint64_t)i + 1);
            size_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    l->pos = 0;
}

#if defined(NB__LOADER_THREADS)
static int nb__prefetcher(void *arg)
{
    nb_loader *l = arg;
    nb__pool_stay_serial(); /* the pool belongs to the thread running the step */
    mtx_lock(&l->mu);
    for (;;) {
        while (!l->running && !l->quit) cnd_wait(&l->cv, &l->mu);
        if (l->quit) break;
        const nb__prefetch_job j = l->job;
        mtx_unlock(&l->mu);
        const int rc = nb_dataset_gather(l->ds, l->perm + j.pos, j.m, l->scale, l->mean, l->std, j.dt,
                                         j.want_x ? l->xb : NULL, j.want_y ? l->yb : NULL);
        mtx_lock(&l->mu);
        l->rc = rc;
        l->running = 0;
        cnd_broadcast(&l->cv);
    }
    mtx_unlock(&l->mu);
    return 0;
}

/* Rows of one chunk of an idle-time gather: a few microseconds. */
#define NB__IDLE_ROWS 8

static void nb__idle_gather(void *arg, size_t c)
{
    nb_loader *l = arg;
    const nb__prefetch_job *j = &l->job;
    const size_t lo = c * NB__IDLE_ROWS, m = j->m - lo < NB__IDLE_ROWS ? j->m - lo : NB__IDLE_ROWS;
    const size_t es = nb_dtype_size(j->dt), L = nb_dataset_labels_per_sample(l->ds);
    if (nb_dataset_gather(l->ds, l->perm + j->pos + lo, m, l->scale, l->mean, l->std, j->dt,
                          j->want_x ? (char *)l->xb + lo * l->ds->d * es : NULL, j->want_y ? l->yb + lo * L : NULL))
        atomic_store(&l->idle_rc, -1);
}

/* Whether to gather on the pool's idle time: it has a thread for every CPU. */
static int nb__prefetch_on_idle(const nb_loader *l)
{
    const size_t nt = nb__pool_threads();
    return nt > 1 && (l->cpus < 1 || nt >= (size_t)l->cpus);
}

/* Wait until the prefetcher is idle; the posted job (if any) stays. */
static void nb__prefetch_wait(nb_loader *l)
{
    if (l->posted && l->idle) {
        nb__pool_idle_finish();
        l->rc = atomic_load(&l->idle_rc);
        l->idle = 0;
        return;
    }
    if (!l->started) return;
    mtx_lock(&l->mu);
    while (l->running) cnd_wait(&l->cv, &l->mu);
    mtx_unlock(&l->mu);
}

/* Start gathering the batch at l->pos when the epoch has one more; the
 * first call makes the buffers and the thread (on failure, no prefetch). */
static void nb__prefetch_post(nb_loader *l, const nb_batch *b)
{
    const size_t left = l->ds->n - l->pos;
    if (left == 0 || (l->drop_last && left < l->bs)) return;
    if (!l->xb) { /* xb and yb exist together */
        const size_t d = l->ds->d;
        l->xb = malloc(l->bs * (d ? d : 1) * sizeof(double));
        l->yb = malloc(l->bs * nb_dataset_labels_per_sample(l->ds) * sizeof *l->yb);
        if (!l->xb || !l->yb) {
            free(l->xb);
            free(l->yb);
            l->xb = NULL;
            l->yb = NULL;
            l->prefetch = 0;
            return;
        }
    }
    const nb__prefetch_job job = {.pos = l->pos,
                                  .m = left < l->bs ? left : l->bs,
                                  .dt = b->dtype,
                                  .want_x = b->x != NULL,
                                  .want_y = b->y != NULL};
    if (nb__prefetch_on_idle(l)) {
        l->job = job;
        atomic_store(&l->idle_rc, 0);
        if (nb__pool_idle_post((job.m + NB__IDLE_ROWS - 1) / NB__IDLE_ROWS, nb__idle_gather, l) == 0) {
            l->posted = 1;
            l->idle = 1;
        }
        return; /* when another job holds the pool's idle time, this batch is gathered when asked for */
    }
    if (!l->started) {
        int ok = mtx_init(&l->mu, mtx_plain) == thrd_success;
        if (ok && cnd_init(&l->cv) != thrd_success) {
            mtx_destroy(&l->mu);
            ok = 0;
        }
        if (ok && thrd_create(&l->th, nb__prefetcher, l) != thrd_success) {
            cnd_destroy(&l->cv);
            mtx_destroy(&l->mu);
            ok = 0;
        }
        if (!ok) {
            l->prefetch = 0;
            return;
        }
        l->started = 1;
    }
    mtx_lock(&l->mu);
    l->job = job;
    l->posted = 1;
    l->running = 1;
    cnd_broadcast(&l->cv);
    mtx_unlock(&l->mu);
}

/* The posted batch into b, when it is the one asked for (same rows, dtype
 * and parts) and was gathered without error: 1; else 0 (the caller
 * gathers).  Either way nothing is posted afterwards. */
static int nb__prefetch_take(nb_loader *l, nb_batch *b, size_t m)
{
    if (!l->posted) return 0;
    nb__prefetch_wait(l);
    l->posted = 0;
    const nb__prefetch_job *j = &l->job;
    if (l->rc != 0 || j->pos != l->pos || j->m != m || j->dt != b->dtype || j->want_x != (b->x != NULL) ||
        j->want_y != (b->y != NULL))
        return 0;
    if (b->x) memcpy(b->x, l->xb, m * l->ds->d * nb_dtype_size(b->dtype));
    if (b->y) memcpy(b->y, l->yb, m * nb_dataset_labels_per_sample(l->ds) * sizeof *b->y);
    return 1;
}

static void nb__prefetch_stop(nb_loader *l)
{
    nb__prefetch_wait(l); /* an idle-time job must not outlive the loader */
    if (!l->started) {
        free(l->xb);
        free(l->yb);
        return;
    }
    mtx_lock(&l->mu);
    l->quit = 1;
    cnd_broadcast(&l->cv);
    mtx_unlock(&l->mu);
    thrd_join(l->th, NULL);
    cnd_destroy(&l->cv);
    mtx_destroy(&l->mu);
    free(l->xb);
    free(l->yb);
}
#else
static void nb__prefetch_wait(nb_loader *l) { (void)l; }
static void nb__prefetch_post(nb_loader *l, const nb_batch *b) { (void)l, (void)b; }
static int nb__prefetch_take(nb_loader *l, nb_batch *b, size_t m) { return (void)l, (void)b, (void)m, 0; }
static void nb__prefetch_stop(nb_loader *l) { (void)l; }
#endif

nb_loader *nb_loader_new(const nb_dataset *ds, const nb_loader_opts *opts)
{
    if (!ds || !opts) return nb__err("nb_loader_new: NULL %s", ds ? "options" : "dataset");
    if (nb_dataset_validate(ds) != 0) return NULL;
    const char *nm = ds->name[0] ? ds->name : "dataset";
    if (opts->batch_size == 0) return nb__err("%s: loader: batch_size is 0", nm);
    if (opts->drop_last && opts->batch_size > ds->n)
        return nb__err("%s: loader: drop_last with batch_size %zu > %zu samples gives no batches", nm, opts->batch_size,
                       ds->n);
    double mean = opts->std == 0 ? ds->mean : opts->mean;
    double std = opts->std == 0 ? ds->std : opts->std;
    if (!isfinite(opts->scale) || opts->scale < 0 || !isfinite(mean) || !isfinite(std) || !(std > 0))
        return nb__err("%s: loader: bad normalisation scale %g mean %g std %g (std must be > 0)", nm, opts->scale, mean,
                       std);
    nb_loader *l = calloc(1, sizeof *l);
    if (!l) return nb__err("%s: loader: out of memory", nm);
    l->perm = malloc(ds->n * sizeof *l->perm);
    if (!l->perm) {
        free(l);
        return nb__err("%s: loader: out of memory", nm);
    }
    l->ds = ds;
    l->bs = opts->batch_size;
    l->shuffle = opts->shuffle != 0;
    l->drop_last = opts->drop_last != 0;
    l->scale = opts->scale;
    l->mean = mean;
    l->std = std;
    l->prefetch = opts->prefetch != 0;
#if defined(NB__LOADER_THREADS)
    if (l->prefetch) l->cpus = sysconf(_SC_NPROCESSORS_ONLN); /* once, not per batch */
#endif
    nb_rng_seed(&l->rng, opts->seed);
    nb__loader_begin(l);
    return l;
}

void nb_loader_free(nb_loader *l)
{
    if (!l) return;
    nb__prefetch_stop(l);
    free(l->perm);
    free(l);
}

int nb_loader_next(nb_loader *l, nb_batch *b)
{
    if (!l || !b) return nb__erri("nb_loader_next: NULL %s", l ? "batch" : "loader");
    b->n = 0;
    if (b->x && b->dtype != NB_F32 && b->dtype != NB_F64)
        return nb__erri("%s: loader: batch dtype must be float32 or float64, not %s", l->ds->name,
                        nb_dtype_name(b->dtype));
    size_t left = l->ds->n - l->pos;
    if (left == 0 || (l->drop_last && left < l->bs)) {
        nb__prefetch_take(l, b, 0); /* nothing is posted past an epoch; this only makes sure */
        l->epoch++;
        nb__loader_begin(l);
        return 0;
    }
    size_t m = left < l->bs ? left : l->bs;
    const size_t *rows = l->perm + l->pos;
    if (!nb__prefetch_take(l, b, m) &&
        nb_dataset_gather(l->ds, rows, m, l->scale, l->mean, l->std, b->dtype, b->x, b->y) != 0)
        return -1;
    if (b->index) memcpy(b->index, rows, m * sizeof *rows);
    l->pos += m;
    b->n = m;
    if (l->prefetch) nb__prefetch_post(l, b);
    return 1;
}

size_t nb_loader_batches_per_epoch(const nb_loader *l)
{
    if (!l) return 0;
    size_t n = l->ds->n;
    return l->drop_last ? n / l->bs : (n + l->bs - 1) / l->bs;
}

uint64_t nb_loader_epoch(const nb_loader *l) { return l ? l->epoch : 0; }

void nb_loader_get_state(const nb_loader *l, nb_loader_state *st)
{
    if (!l || !st) return;
    st->n = l->ds->n;
    st->epoch = l->epoch;
    st->pos = l->pos;
    for (int i = 0; i < 4; i++) st->rng[i] = l->epoch_rng.s[i];
}

int nb_loader_set_state(nb_loader *l, const nb_loader_state *st)
{
    if (!l || !st) return nb__erri("nb_loader_set_state: NULL %s", l ? "state" : "loader");
    const char *nm = l->ds->name;
    if (st->n != l->ds->n)
        return nb__erri("%s: loader state is for %llu samples, this dataset has %zu", nm, (unsigned long long)st->n,
                        l->ds->n);
    if (st->pos > st->n)
        return nb__erri("%s: loader state position %llu is past the %llu samples", nm, (unsigned long long)st->pos,
                        (unsigned long long)st->n);
    if (!(st->rng[0] | st->rng[1] | st->rng[2] | st->rng[3]))
        return nb__erri("%s: loader state has an all-zero generator (corrupt state)", nm);
    nb__prefetch_wait(l);
#if defined(NB__LOADER_THREADS)
    l->posted = 0;
#endif
    for (int i = 0; i < 4; i++) l->rng.s[i] = st->rng[i];
    l->rng.spare = 0.0;
    l->rng.has_spare = 0;
    nb__loader_begin(l);
    l->epoch = st->epoch;
    l->pos = (size_t)st->pos;
    return 0;
}
