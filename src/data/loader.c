/* The batch loader: a permutation per epoch drawn from its own nb_rng (from
 * the identity, so one saved generator state regenerates the epoch), batches
 * gathered into the caller's buffers.  Nothing is allocated after creation. */
#include "../internal.h"
#include "nabla/data.h"

#include <math.h>
#include <stdlib.h>

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
    nb_rng_seed(&l->rng, opts->seed);
    nb__loader_begin(l);
    return l;
}

void nb_loader_free(nb_loader *l)
{
    if (!l) return;
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
        l->epoch++;
        nb__loader_begin(l);
        return 0;
    }
    size_t m = left < l->bs ? left : l->bs;
    const size_t *rows = l->perm + l->pos;
    if (nb_dataset_gather(l->ds, rows, m, l->scale, l->mean, l->std, b->dtype, b->x, b->y) != 0) return -1;
    if (b->index) memcpy(b->index, rows, m * sizeof *rows);
    l->pos += m;
    b->n = m;
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
    for (int i = 0; i < 4; i++) l->rng.s[i] = st->rng[i];
    l->rng.spare = 0.0;
    l->rng.has_spare = 0;
    nb__loader_begin(l);
    l->epoch = st->epoch;
    l->pos = (size_t)st->pos;
    return 0;
}
