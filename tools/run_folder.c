/* The run folder as a unit: lock, what it holds, resume checks, metrics cut. */
#include "run_folder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

FILE *nb_fopen_out(const char *path, const char *mode)
{
    int append = mode[0] == 'a';
    /* O_NONBLOCK: a FIFO planted at the path fails (ENXIO) instead of waiting */
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (append ? O_APPEND : 0), 0666);
    if (fd < 0) return NULL;
    struct stat st;
    /* a regular file, or a character device such as /dev/null (where the
     * other ranks of --ddp send their metrics); never a FIFO or socket */
    if (fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *f = NULL;
    if (fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0 &&
        (append || !S_ISREG(st.st_mode) || ftruncate(fd, 0) == 0))
        f = fdopen(fd, append ? "a" : "w");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

int nb_run_folder_lock(const char *cmd, const char *dir)
{
    static int fd = -1; /* held until the process exits */
    if (fd >= 0) return 0;
    char path[1100];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int k = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (k < 0) return nb_cli_usage_error(cmd, "%s: cannot open the run folder's lock: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(k, F_SETLK, &fl) != 0) {
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        long pid = fcntl(k, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? (long)who.l_pid : -1;
        close(k);
        if (pid > 0)
            return nb_cli_usage_error(cmd,
                                      "--out %s is in use by another nabla process (pid %ld); wait for it or "
                                      "choose another --out",
                                      dir, pid);
        return nb_cli_usage_error(cmd, "--out %s: cannot lock %s: %s", dir, path, strerror(errno));
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(k, 0) != 0 || write(k, buf, (size_t)n) != n) { /* the pid is only a courtesy */
    }
    fd = k;
    return 0;
}

/* Was flag on the command line (as "--flag V" or "--flag=V")? */
static int nb__given(int argc, char **argv, const char *flag)
{
    size_t n = strlen(flag);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], flag, n) && (argv[i][n] == '\0' || argv[i][n] == '=')) return 1;
    return 0;
}

/* The recorded configuration against this command's: a value that differs
 * is refused, naming the flag and both values.  Model keys are compared only
 * when their flag is given (the model is otherwise rebuilt from the
 * checkpoint); the others always, since the run would silently change. */
static int nb__compare(const char *cmd, const nb_run_cfg *r, int argc, char **argv, const nb_checkpoint *ck,
                       const char *ckpt)
{
    static const struct {
        const char *key, *flag;
        int model;
    } keys[] = {{"model", "--model", 1},
                {"act", "--act", 1},
                {"batchnorm", "--batchnorm", 1},
                {"residual", "--residual", 1},
                {"dropout", "--dropout", 1},
                {"init", "--init", 0},
                {"opt", "--opt", 0},
                {"sched", "--sched", 0},
                {"batch", "--batch", 0},
                {"seed", "--seed", 0},
                {"limit_train", "--limit-train", 0}};
    nb_kv kv[40];
    size_t n = nb_run_config_kv(r, kv, 40);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *was = nb_checkpoint_get(ck, keys[k].key), *now = NULL;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(kv[i].key, keys[k].key)) now = kv[i].value;
        int given = nb__given(argc, argv, keys[k].flag);
        if (!was || !now || !strcmp(was, now) || (keys[k].model && !given)) continue;
        if (given)
            return nb_cli_usage_error(cmd,
                                      "--resume: %s %s, but the run in %s was trained with %s %s (only --epochs, "
                                      "--lr and --max-steps may change on resume)",
                                      keys[k].flag, now, ckpt, keys[k].flag, was);
        return nb_cli_usage_error(cmd,
                                  "--resume: the run in %s was trained with %s %s, this command would use %s: "
                                  "give %s %s",
                                  ckpt, keys[k].flag, was, now, keys[k].flag, was);
    }
    const char *dt = nb_checkpoint_get(ck, "dtype");
    if (dt && strcmp(dt, nb_dtype_name(r->dtype)))
        return nb_cli_usage_error(cmd, "--resume: %s holds %s parameters, this command would use %s (--dtype)", ckpt,
                                  dt, nb_dtype_name(r->dtype));
    return -1;
}

int nb_run_folder_check(const char *cmd, nb_run_cfg *r, int argc, char **argv)
{
    r->given.lr = nb__given(argc, argv, "--lr");
    char ckpt[1100], metrics[1100];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", r->out);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", r->out);
    struct stat st;
    int have_ck = lstat(ckpt, &st) == 0, have_metrics = lstat(metrics, &st) == 0;
    if (!r->resume) {
        if (r->overwrite || (!have_ck && !have_metrics)) return -1;
        return nb_cli_usage_error(cmd,
                                  "--out %s already holds a run (%s); --resume to continue it, --overwrite to "
                                  "replace it, or choose another --out",
                                  r->out, have_ck ? ckpt : metrics);
    }
    if (!have_ck) return -1; /* the resume step says what is missing */
    nb_checkpoint *ck = nb_checkpoint_open(ckpt);
    if (!ck) return nb_cli_usage_error(cmd, "--resume: %s", nb_errmsg());
    int rc = nb__compare(cmd, r, argc, argv, ck, ckpt);
    const char *e = nb_checkpoint_get(ck, "epoch"), *s = nb_checkpoint_get(ck, "step");
    long long epoch = e ? strtoll(e, NULL, 10) : 0, step = s ? strtoll(s, NULL, 10) : 0;
    if (rc < 0 && epoch >= r->epochs) {
        fprintf(stderr,
                "nabla %s: the run in %s is finished (%lld of %ld epochs, step %lld): nothing to do; "
                "--epochs N to train it further\n",
                cmd, r->out, epoch, r->epochs, step);
        rc = 0;
    } else if (rc < 0 && r->max_steps && step >= r->max_steps) {
        fprintf(stderr, "nabla %s: the run in %s is at step %lld, --max-steps %ld: nothing to do\n", cmd, r->out, step,
                r->max_steps);
        rc = 0;
    }
    nb_checkpoint_close(ck);
    return rc;
}

int nb_run_folder_epochs(const char *cmd, nb_run_cfg *r, int argc, char **argv)
{
    if (!r->resume || nb__given(argc, argv, "--epochs")) return 0;
    char ckpt[1100];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", r->out);
    struct stat st;
    if (lstat(ckpt, &st) != 0) return 0; /* the resume step says what is missing */
    nb_checkpoint *ck = nb_checkpoint_open(ckpt);
    if (!ck) return nb_cli_usage_error(cmd, "--resume: %s", nb_errmsg());
    const char *v = nb_checkpoint_get(ck, "epochs");
    char *end = NULL;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : 0;
    int rc = 0;
    if (v && (!*v || *end || errno || n < 1 || n > 100000))
        rc = nb_cli_usage_error(cmd, "--resume: %s: metadata 'epochs' = '%.40s' is not an epoch count in 1..100000",
                                ckpt, v);
    else if (v) r->epochs = n;
    nb_checkpoint_close(ck);
    return rc;
}

/* A number field of one JSON Lines event, or -1 when it has none. */
static long long nb__event_field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Was line written after a checkpoint at step that completed epochs? */
static int nb__event_newer(const char *line, long long step, long long epochs)
{
    if (nb__event_field(line, "\"step\":") > step) return 1;
    return !strncmp(line, "{\"event\":\"epoch\",", 17) && nb__event_field(line, "\"epoch\":") > epochs;
}

int nb_run_metrics_cut(const char *path, long long step, long long epochs)
{
    FILE *in = fopen(path, "rb");
    if (!in) return errno == ENOENT ? 0 : -1;
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.cut.XXXXXX", path);
    int fd = mkstemp(tmp);
    mode_t um = umask(0);
    umask(um);
    FILE *out = fd >= 0 && fchmod(fd, 0666 & ~um) == 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        if (fd >= 0) close(fd), unlink(tmp);
        fclose(in);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break; /* a line torn by a kill */
        if (nb__event_newer(line, step, epochs)) continue;
        fwrite(line, 1, (size_t)n, out);
    }
    free(line);
    fclose(in);
    int bad = ferror(out) | (fflush(out) != 0) | (fsync(fileno(out)) != 0);
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
