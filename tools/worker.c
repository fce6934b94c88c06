/* Forked workers with a result through a pipe (worker.h). */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

void nb_worker_start(nb_worker *w, int jobs, nb_worker_fn *fn, void *arg, void *result, size_t size)
{
    int fds[2];
    w->pid = 0;
    if (jobs > 1 && pipe(fds) == 0) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            fn(arg, result);
            const char *p = result;
            size_t left = size;
            while (left > 0) {
                ssize_t k = write(fds[1], p, left);
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) _exit(1);
                p += k;
                left -= (size_t)k;
            }
            _exit(0);
        }
        close(fds[1]);
        if (pid > 0) {
            w->pid = pid;
            w->fd = fds[0];
            return;
        }
        close(fds[0]);
    }
    fn(arg, result);
}

int nb_worker_finish(nb_worker *w, void *result, size_t size, char *why, size_t why_size)
{
    if (w->pid == 0) return 0;
    char *p = result;
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(w->fd, p + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(w->fd);
    int st = 0;
    while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR) {
    }
    w->pid = 0;
    if (got == size) return 0;
    if (WIFSIGNALED(st)) snprintf(why, why_size, "worker killed by signal %d", WTERMSIG(st));
    else snprintf(why, why_size, "worker exited (status %d) without a result", WEXITSTATUS(st));
    return -1;
}
