/* Run the nabla program from a test. */
#ifndef NB_T_CLI_H
#define NB_T_CLI_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "nabla/data.h"
#include "t.h"

/* Runs `nabla ARGS` (stderr joined to stdout); returns the exit status (-1
 * if it could not run or died by a signal) and the output in a malloc'd *out. */
static inline int t_cli_run(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/nabla %s 2>&1", t_build_dir(), args);
    *out = NULL;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) break;
            buf = nb;
        }
    }
    if (buf) buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Is Fashion-MNIST installed?  Marks the case skipped, saying why, when not. */
static inline int t_have_data(void)
{
    char dir[512];
    if (nb_fashion_mnist_find(NULL, dir, sizeof dir) == 0) return 1;
    T_SKIP("Fashion-MNIST not installed: %s", nb_errmsg());
    return 0;
}

/* Remove a scratch folder made by a test. */
static inline void t_rmrf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
