/* Convolution-family kernels, instantiated for float and double from conv.inc. */
#include "conv.h"

#include <math.h>
#include <string.h>

#include "../core/cpu.h"
#include "../core/pool.h"
#include "conv_avx2.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* Below this many element visits a kernel runs in the caller: waking the
 * pool costs ~10 us. */
#define NB__CONV_GRAIN ((size_t)1 << 15)

typedef struct {
    void (*fn)(void *arg, size_t lo, size_t hi);
    void *arg;
    size_t units, chunk;
} nb__conv_job;

static void nb__conv_task(void *p, size_t t)
{
    const nb__conv_job *j = p;
    const size_t lo = t * j->chunk, hi = lo + j->chunk < j->units ? lo + j->chunk : j->units;
    if (lo < hi) j->fn(j->arg, lo, hi);
}

/* Run fn over [0, units) in at most nb__pool_threads() contiguous ranges when
 * units * cost (element visits) pays for the pool.  Each unit is computed the
 * same way wherever it runs, so the split never changes a result. */
static void nb__conv_par(size_t units, size_t cost, void (*fn)(void *arg, size_t lo, size_t hi), void *arg)
{
    size_t nt = nb__pool_threads();
    if (nt > units) nt = units;
    if (nt < 2 || units * cost < NB__CONV_GRAIN) {
        if (units) fn(arg, 0, units);
        return;
    }
    nb__conv_job j = {fn, arg, units, (units + nt - 1) / nt};
    nb__pool_run((units + j.chunk - 1) / j.chunk, nb__conv_task, &j);
}

/* The output columns ox in [*lo, *hi) whose input column ox * s + off lies in
 * [0, w); the same rule serves rows. */
static void nb__conv_span(long off, size_t s, size_t w, size_t ow, size_t *lo, size_t *hi)
{
    const long ls = (long)s;
    long a = off >= 0 ? 0 : (-off + ls - 1) / ls;                    /* first ox with ix >= 0 */
    long b = (long)w - off <= 0 ? 0 : ((long)w - off + ls - 1) / ls; /* first ox with ix >= w */
    if (b > (long)ow) b = (long)ow;
    if (a > b) a = b;
    *lo = (size_t)a;
    *hi = (size_t)b;
}

#define NB__TEMPLATE "conv.inc"
#include "instantiate.h"
