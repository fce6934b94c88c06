/* See t_steady.h. */
#include "t_steady.h"

#include <stdio.h>
#include <stdlib.h>

#include "t_alloc.h"

long t_steady_allocs(nb_model *m, nb_rng *r, const t_steady *o)
{
    const size_t per = o->labels_per ? o->labels_per : 1, nx = o->batch * o->in, ny = o->batch * per;
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *opt = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_ctx *c = nb_ctx_new(NULL);
    float *x = malloc((nx ? nx : 1) * sizeof *x);
    int32_t *y = malloc((ny ? ny : 1) * sizeof *y);
    long allocs = -1;
    if (!opt || !c || !x || !y) goto out;
    nb_step_opts so = {.clip_norm = 1.0, .rng = r};
    int failed = 0;
    for (int step = 0; step < o->steps && !failed; step++) {
        for (size_t i = 0; i < nx; i++)
            x[i] = o->vocab > 0 ? (float)nb_rng_below(r, (uint64_t)o->vocab) : (float)nb_rng_uniform(r);
        for (size_t i = 0; i < ny; i++) y[i] = (int32_t)nb_rng_below(r, (uint64_t)o->classes);
        if (step == 2) t_alloc_count_start(); /* steps 0-1 warm up the arena */
        if (o->reset_at > 0 && step == o->reset_at) nb_model_reset_states(m);
        nb_step_result res;
        if (nb_train_step(m, opt, c, x, y, o->batch, &so, &res) || res.nonfinite) {
            printf("    step %d failed: %s\n", step, res.nonfinite ? "non-finite" : nb_errmsg());
            failed = 1;
        }
    }
    allocs = t_alloc_count_stop();
    if (failed) allocs = -1;
out:
    free(x);
    free(y);
    nb_ctx_free(c);
    nb_optim_free(opt);
    return allocs;
}
