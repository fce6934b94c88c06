/* Work run in a forked child that sends back a fixed-size result through a
 * pipe: the vanish labs run their configurations side by side this way (one
 * process each, so the library's thread pool and errors stay per run). */
#ifndef NB_WORKER_H
#define NB_WORKER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct nb_worker {
    pid_t pid; /* 0: the work ran in this process */
    int fd;
} nb_worker;

/* fn(arg, result): fill the size bytes at result. */
typedef void nb_worker_fn(void *arg, void *result);

/* Run fn in a child when jobs > 1 (its result arrives at nb_worker_finish),
 * else, or when pipe/fork fail, here: result is filled on return. */
void nb_worker_start(nb_worker *w, int jobs, nb_worker_fn *fn, void *arg, void *result, size_t size);
/* Wait for w: 0 when the size bytes of result arrived (or the work ran
 * here), else -1 with why the child gave none in why[why_size]. */
int nb_worker_finish(nb_worker *w, void *result, size_t size, char *why, size_t why_size);

#endif
