/* nabla vanish --time (tools/cmd_vanish_time.c): the vanishing/exploding
 * lab through time, reached from `nabla vanish` when --time is among its
 * arguments. */
#ifndef NB_VANISH_TIME_H
#define NB_VANISH_TIME_H

#include <stddef.h>

/* Run `nabla vanish --time ...` (argv[0] is "vanish"); the exit status. */
int nb_vanish_time_main(int argc, char **argv);

/* Append the --time mode's usage text and flags to the string in buf (of
 * size bytes); returns buf. */
char *nb_vanish_time_usage(char *buf, size_t size);

#endif
