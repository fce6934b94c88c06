/* A run folder (`nabla train --out DIR`) as a unit: one writer at a time
 * (a lock), no run silently replaced by another, a resumed run checked
 * against the configuration it was started with, and output files that are
 * never written through a link planted at their path. */
#ifndef NB_RUN_FOLDER_H
#define NB_RUN_FOLDER_H

#include <stdio.h>

#include "run.h"

/* Open path for writing ("w": truncate, "a": append) without following a
 * symbolic link at its last component and only if it is (or will be) a
 * regular file; NULL with errno set (ELOOP for a link). */
FILE *nb_fopen_out(const char *path, const char *mode);

/* Take DIR/.lock for this process (kept until it exits); 0, or 2 after
 * saying which process holds it. */
int nb_run_folder_lock(const char *cmd, const char *dir);

/* Before training into r->out: a folder holding a run is refused unless
 * --resume or --overwrite; with --resume the recorded configuration must
 * agree with the flags given (--epochs, --lr, --max-steps and the output
 * flags may change), and a finished run is said to be finished.  Returns -1
 * to go on, else the exit status (printed). */
int nb_run_folder_check(const char *cmd, nb_run_cfg *r, int argc, char **argv);

/* --resume without --epochs: the run's own epoch count (the checkpoint's
 * "epochs"; a checkpoint of an older version has none: the default stays),
 * before the schedule is built from it.  0, or 2 (printed) when the
 * recorded count is not one. */
int nb_run_folder_epochs(const char *cmd, nb_run_cfg *r, int argc, char **argv);

/* --resume: drop the events of metrics.jsonl newer than the checkpoint (they
 * will be written again), atomically: those of a later step, and the epoch
 * events of epochs it has not completed (a run stopped in its epoch's last
 * step and resumed writes that epoch's event at the same step; if killed
 * before its next save, the event is newer than the checkpoint).  0, or -1
 * with errno. */
int nb_run_metrics_cut(const char *path, long long step, long long epochs);

#endif
