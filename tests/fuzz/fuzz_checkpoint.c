/* libFuzzer harness for the checkpoint loader (build and run with
 * tests/fuzz/run.sh).  The input is a whole checkpoint file: it is written
 * to an in-memory file (memfd) and opened by path with nb_checkpoint_open, as
 * `nabla eval` would.  When it opens, the model its metadata describes
 * ("model", "act", "dtype", "batchnorm", "residual", as the CLI reads them;
 * small models only) is built and loaded, and an optimizer (each kind in
 * turn), a schedule and the progress are restored.  Every failure must come
 * with a message naming the file.  Schedules more than 100000 steps in are
 * not replayed here (too slow per input; the loader's own cap on the replay
 * is a unit test). */
#define _GNU_SOURCE
#include "nabla/train.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_fd = -1;
static char fz_path[64];

static void fz_named(int rc)
{
    if (rc != 0 && !strstr(nb_errmsg(), fz_path)) {
        fprintf(stderr, "error without the file name: %s\n", nb_errmsg());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_fd < 0) {
        fz_fd = memfd_create("fuzz.ckpt", 0);
        if (fz_fd < 0) abort();
        snprintf(fz_path, sizeof fz_path, "/proc/self/fd/%d", fz_fd);
    }
    if (ftruncate(fz_fd, 0) != 0 || (size && pwrite(fz_fd, data, size, 0) != (ssize_t)size)) abort();
    nb_checkpoint *ck = nb_checkpoint_open(fz_path);
    if (!ck) {
        fz_named(-1);
        return 0;
    }
    const char *spec = nb_checkpoint_get(ck, "model"), *act = nb_checkpoint_get(ck, "act");
    const char *dt = nb_checkpoint_get(ck, "dtype"), *v;
    nb_mlp_config cfg = {0};
    nb_model *m = NULL;
    if (spec && nb_mlp_parse_widths(&cfg, spec) == 0) {
        size_t weights = 0;
        for (int i = 1; i < cfg.n_widths; i++) weights += cfg.widths[i - 1] * cfg.widths[i];
        int a = act ? nb_act_parse(act) : NB_ACT_RELU;
        cfg.act = a > 0 ? (nb_act)a : NB_ACT_RELU;
        cfg.batchnorm = (v = nb_checkpoint_get(ck, "batchnorm")) && !strcmp(v, "1");
        cfg.residual = (v = nb_checkpoint_get(ck, "residual")) && !strcmp(v, "1");
        if (weights <= ((size_t)1 << 16)) m = nb_mlp_new(dt && !strcmp(dt, "float64") ? NB_F64 : NB_F32, &cfg);
    }
    if (m) {
        fz_named(nb_checkpoint_load_model(ck, m));
        nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
        sc.step_size = 3;
        nb_sched s;
        nb_progress p;
        const char *se = nb_checkpoint_get(ck, "sched.epoch");
        int replay = !se || strlen(se) < 6;
        for (int k = 0; k < NB_OPT_COUNT; k++) {
            nb_optim_config oc = nb_optim_defaults((nb_optim_kind)k);
            oc.momentum = k == NB_OPT_SGD ? 0.9 : oc.momentum;
            nb_optim *o = nb_optim_new(&oc, nb_model_dtype(m), nb_model_n_params(m));
            if (!o || nb_sched_init(&s, &sc, oc.lr) != 0) abort();
            fz_named(nb_checkpoint_load_state(ck, o, replay ? &s : NULL, &p));
            nb_optim_free(o);
        }
        nb_model_free(m);
    }
    fz_named(nb_checkpoint_load_state(ck, NULL, NULL, NULL));
    nb_checkpoint_close(ck);
    return 0;
}
