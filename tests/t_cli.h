/* Run the nabla program from a test. */
#ifndef NB_T_CLI_H
#define NB_T_CLI_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

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

#endif
