/* Model snapshots and optimizer clones for the LR finder and the doctor. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "../internal.h"

int nb__model_state_save(nb__model_state *s, nb_model *m)
{
    memset(s, 0, sizeof *s);
    if (!m) return nb__erri("model state: model is NULL");
    if (nb_model_finalize(m)) return -1;
    size_t esz = nb_dtype_size(nb_model_dtype(m));
    s->params_bytes = nb_model_n_params(m) * esz;
    s->buffers_bytes = nb_model_n_buffer_values(m) * esz;
    s->params = malloc(s->params_bytes ? s->params_bytes : 1);
    s->grads = malloc(s->params_bytes ? s->params_bytes : 1);
    s->buffers = malloc(s->buffers_bytes ? s->buffers_bytes : 1);
    if (!s->params || !s->grads || !s->buffers) {
        nb__model_state_free(s);
        return nb__erri("model state: out of memory");
    }
    if (s->params_bytes) {
        memcpy(s->params, nb_model_params(m), s->params_bytes);
        memcpy(s->grads, nb_model_grads(m), s->params_bytes);
    }
    if (s->buffers_bytes) memcpy(s->buffers, nb_model_buffers(m), s->buffers_bytes);
    return 0;
}

void nb__model_state_load(const nb__model_state *s, nb_model *m)
{
    if (s->params_bytes) {
        memcpy(nb_model_params(m), s->params, s->params_bytes);
        memcpy(nb_model_grads(m), s->grads, s->params_bytes);
    }
    if (s->buffers_bytes) memcpy(nb_model_buffers(m), s->buffers, s->buffers_bytes);
}

void nb__model_state_free(nb__model_state *s)
{
    free(s->params);
    free(s->grads);
    free(s->buffers);
    memset(s, 0, sizeof *s);
}

nb_optim *nb__optim_clone(const nb_optim *o)
{
    if (!o) return nb__err("optimizer clone: optimizer is NULL");
    nb_optim *c = nb_optim_new(nb_optim_get_config(o), nb_optim_dtype(o), nb_optim_size(o));
    if (!c) return NULL;
    int rc = nb_optim_set_steps(c, nb_optim_steps(o));
    for (int i = 0; !rc && i < nb_optim_state_count(o); i++) {
        const char *name = nb_optim_state_name(o, i);
        const void *buf = nb_optim_state_get(o, name);
        rc = buf ? nb_optim_state_load(c, name, buf) : -1;
    }
    if (rc) {
        nb_optim_free(c);
        return NULL;
    }
    return c;
}

int nb__bias_before_batchnorm(const nb_model *m, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 6 || strcmp(name + n - 5, ".bias")) return 0;
    size_t end = n - 5, start = end; /* name[start..end) is the layer's index */
    while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9') start--;
    if (start == end || end - start > 9) return 0;
    long idx = strtol(name + start, NULL, 10);
    char next[160];
    if (snprintf(next, sizeof next, "%.*s%ld.running_mean", (int)start, name, idx + 1) >= (int)sizeof next) return 0;
    const nb_model_entry *e = nb_model_find(m, next);
    return e && !e->trainable;
}
