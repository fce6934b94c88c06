/* Issue 13, the command line's side: a run folder is a unit (lock, no silent
 * overwrite, resume checked), inputs that are not files do not hang, outputs
 * never go through a planted link, SIGTERM saves, limits are reported. */
#include "t.h"
#include "t_alloc.h"
#include "t_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nabla/train.h"

#define TRAIN "train --quiet --limit-train 256 --epochs 2 --batch 64"

static char *rf_dir(void)
{
    static char d[64];
    snprintf(d, sizeof d, "/tmp/nb_runf_XXXXXX");
    return mkdtemp(d);
}

/* `nabla ARGS` in a shell (for limits and a timeout); the exit status, 124
 * for a hang stopped by timeout, -1 for a death by signal. */
static int rf_sh(const char *pre, const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "sh -c '%s timeout -s KILL 60 %s/nabla %s' 2>&1", pre, t_build_dir(), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, p)) > 0) len += got;
    if (buf) buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void rf_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long rf_ck_u64(const char *dir, const char *key)
{
    char p[160];
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
    nb_checkpoint *ck = nb_checkpoint_open(p);
    const char *v = ck ? nb_checkpoint_get(ck, key) : NULL;
    long long x = v ? atoll(v) : -1;
    nb_checkpoint_close(ck);
    return x;
}

static int rf_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) n += ch == '\n';
    if (f) fclose(f);
    return n;
}

TEST(run_folder, second_train_into_a_run_is_refused_unless_overwrite)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], *out = NULL;
    snprintf(args, sizeof args, TRAIN " --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "already holds a run") && strstr(out, "--overwrite"), "exit %d: %s", rc,
              out);
    free(out);
    snprintf(args, sizeof args, TRAIN " --overwrite --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    t_rmrf(dir);
}

TEST(run_folder, resume_refuses_changed_flags_naming_both_values)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], *out = NULL;
    snprintf(args, sizeof args, TRAIN " --max-steps 2 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    const char *changed[][3] = {
        {"--act tanh", "--act tanh", "--act relu"}, {"--opt sgd", "--opt sgd", "--opt adam"},
        {"--batch 32", "--batch 32", "--batch 64"}, {"--init xavier_uniform", "--init xavier_uniform", "--init torch"},
        {"--seed 7", "--seed 7", "--seed 1"},       {"--dtype f64", "float64", "float32"}};
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        snprintf(args, sizeof args, "train --quiet --limit-train 256 --epochs 2 --resume %s --out %s", changed[i][0],
                 dir);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 2 && out && strstr(out, changed[i][1]) && strstr(out, changed[i][2]), "%s: exit %d: %s",
                  changed[i][0], rc, out ? out : "");
        free(out);
    }
    CHECK(rf_ck_u64(dir, "step") == 2); /* untouched */
    /* --lr and --epochs may change, and a changed --lr is said */
    snprintf(args, sizeof args, "train --limit-train 256 --epochs 3 --resume --lr 0.01 --max-steps 3 --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "--lr 0.01 replaces the run's 0.001"), "exit %d: %s", rc, out ? out : "");
    free(out);
    t_rmrf(dir);
}

TEST(run_folder, resuming_a_finished_run_says_so)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], *out = NULL, m[128];
    snprintf(args, sizeof args, TRAIN " --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    snprintf(m, sizeof m, "%s/metrics.jsonl", dir);
    int lines = rf_lines(m);
    snprintf(args, sizeof args, TRAIN " --resume --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "is finished") && !strstr(out, "nan"), "exit %d: %s", rc, out ? out : "");
    free(out);
    CHECK(rf_lines(m) == lines); /* no null done event appended */
    t_rmrf(dir);
}

TEST(run_folder, max_steps_is_honoured_on_resume)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], *out = NULL;
    snprintf(args, sizeof args, TRAIN " --max-steps 3 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    snprintf(args, sizeof args, TRAIN " --max-steps 3 --resume --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "--max-steps 3: nothing to do"), "exit %d: %s", rc, out ? out : "");
    free(out);
    CHECK(rf_ck_u64(dir, "step") == 3);
    t_rmrf(dir);
}

TEST(run_folder, a_second_writer_is_refused_naming_the_holder)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], lock[128], *out = NULL;
    snprintf(lock, sizeof lock, "%s/.lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT, 0666);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    CHECK(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0);
    snprintf(args, sizeof args, TRAIN " --out %s", dir);
    int rc = t_cli_run(args, &out);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    CHECK_MSG(rc == 2 && out && strstr(out, "in use by another nabla process") && strstr(out, pid), "exit %d: %s", rc,
              out ? out : "");
    free(out);
    close(fd);
    t_rmrf(dir);
}

TEST(run_folder, outputs_do_not_follow_a_planted_link)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], link[128], target[128], *out = NULL;
    snprintf(link, sizeof link, "%s/metrics.jsonl", dir);
    snprintf(target, sizeof target, "%s/precious", dir);
    FILE *f = fopen(target, "w");
    fputs("keep me\n", f);
    fclose(f);
    CHECK(symlink("precious", link) == 0);
    snprintf(args, sizeof args, TRAIN " --overwrite --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "metrics.jsonl: Too many levels of symbolic links"), "exit %d: %s", rc,
              out ? out : "");
    free(out);
    f = fopen(target, "r");
    char line[64] = "";
    CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "keep me\n"));
    if (f) fclose(f);
    t_rmrf(dir);
}

TEST(run_folder, a_fifo_as_input_does_not_hang)
{
    char *dir = rf_dir(), fifo[128], args[512], *out = NULL;
    snprintf(fifo, sizeof fifo, "%s/ck.safetensors", dir);
    CHECK(mkfifo(fifo, 0666) == 0);
    const char *cmds[] = {"eval %s", "summary %s", "predict %s %s"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, cmds[i], fifo, fifo);
        int rc = rf_sh("", args, &out);
        CHECK_MSG(rc == 2 && out && strstr(out, "not a regular file"), "%s: exit %d: %s", args, rc, out ? out : "");
        free(out);
    }
    t_rmrf(dir);
}

TEST(run_folder, sigterm_saves_like_sigint)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), bin[512], outarg[128];
    snprintf(bin, sizeof bin, "%s/nabla", t_build_dir());
    snprintf(outarg, sizeof outarg, "%s", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execl(bin, bin, "train", "--quiet", "--epochs", "50", "--threads", "1", "--out", outarg, (char *)NULL);
        _exit(127);
    }
    char m[160];
    snprintf(m, sizeof m, "%s/metrics.jsonl", dir);
    struct stat st;
    for (int i = 0; i < 300 && (stat(m, &st) != 0 || st.st_size == 0); i++) rf_sleep_ms(50);
    rf_sleep_ms(300);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
    CHECK(rf_ck_u64(dir, "step") > 0);
    t_rmrf(dir);
}

TEST(run_folder, file_size_limit_is_a_message_not_a_signal)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], *out = NULL;
    snprintf(args, sizeof args, TRAIN " --out %s", dir);
    int rc = rf_sh("ulimit -f 64;", args, &out);
    CHECK_MSG(rc == 1 && out && strstr(out, "checkpoint not saved") && strstr(out, "too large"), "exit %d: %s", rc,
              out ? out : "");
    free(out);
    t_rmrf(dir);
}

TEST(run_folder, bad_environment_is_exit_2)
{
    char *out = NULL;
    int rc = rf_sh("NABLA_THREADS=abc", "eval nowhere.safetensors", &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "NABLA_THREADS=abc"), "exit %d: %s", rc, out ? out : "");
    free(out);
    rc = rf_sh("NABLA_BLAS=abc", "eval nowhere.safetensors", &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "NABLA_BLAS=abc"), "exit %d: %s", rc, out ? out : "");
    free(out);
    rc = rf_sh("NABLA_ISA=avx1024", "eval nowhere.safetensors", &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "NABLA_ISA=avx1024: expected avx512, avx2 or generic"), "exit %d: %s", rc,
              out ? out : "");
    free(out);
}

/* NABLA_ISA narrows the kernels' instruction set, and the run says which it
 * used: generic anywhere, avx2 where the CPU has it, and unset (empty) the
 * widest the CPU shows; the same model trained on the portable path and on
 * the widest learns alike (the bits differ). */
TEST(run_folder, isa_setting_is_used_and_reported)
{
    if (!t_have_data()) return;
    const char *isas[] = {"generic", "avx2", ""};
    double loss[3] = {0};
    for (int i = 0; i < 3; i++) {
        char *dir = rf_dir(), pre[64], args[768], *out = NULL, want[64];
        snprintf(pre, sizeof pre, "NABLA_ISA=%s", isas[i]);
        snprintf(args, sizeof args, TRAIN " --json --seed 3 --max-steps 6 --model 784-32-10 --out %s/r", dir);
        int rc = rf_sh(pre, args, &out);
        if (i == 1 && rc == 2 && out && strstr(out, "does not show AVX2")) { /* a CPU without it */
            free(out);
            continue;
        }
        snprintf(want, sizeof want, "\"isa\":\"%s", isas[i]);
        CHECK_MSG(rc == 0 && out && strstr(out, want), "%s: exit %d, no %s in: %.300s", pre, rc, want, out ? out : "");
        const char *l = out ? strstr(out, "\"train_loss\":") : NULL;
        if (l) loss[i] = atof(l + strlen("\"train_loss\":"));
        free(out);
        char rm[128];
        snprintf(rm, sizeof rm, "rm -rf %s", dir);
        CHECK(system(rm) == 0);
    }
    CHECK_MSG(loss[0] > 0 && fabs(loss[0] - loss[2]) < 1e-3 * loss[0], "train loss generic %.9g, %s %.9g", loss[0],
              nb_isa(), loss[2]);
}

static void rf_pgm(const char *path, const char *header, int n, int value)
{
    FILE *f = fopen(path, "wb");
    fputs(header, f);
    for (int i = 0; i < n; i++) fputc(i == 400 ? value : 7, f);
    fclose(f);
}

TEST(run_folder, predict_reads_pgm_strictly)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[768], img[128], *out = NULL, data[512];
    snprintf(args, sizeof args, TRAIN " --max-steps 1 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    snprintf(img, sizeof img, "%s/x.pgm", dir);
    struct {
        const char *header;
        int n, value, rc;
        const char *want;
    } cases[] = {{"P5\n# written by GIMP\n28 28\n255\n", 784, 9, 0, "x.pgm"},
                 {"P5 28\n# width above, height below\n28 255\n", 784, 9, 0, "x.pgm"},
                 {"P5\n56 14\n255\n", 784, 9, 2, "image is 56x14, the model takes 28x28"},
                 {"P5\n28 28\n100\n", 784, 200, 2, "pixel 400 is 200, above the image's maxval 100"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rf_pgm(img, cases[i].header, cases[i].n, cases[i].value);
        snprintf(args, sizeof args, "predict %s/checkpoint.safetensors %s", dir, img);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == cases[i].rc && out && strstr(out, cases[i].want), "case %zu: exit %d: %s", i, rc,
                  out ? out : "");
        free(out);
    }
    CHECK(nb_fashion_mnist_find(NULL, data, sizeof data) == 0);
    snprintf(args, sizeof args, "predict %s/checkpoint.safetensors --images %s/t10k-images-idx3-ubyte.gz --index ''",
             dir, data);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "--index ''"), "exit %d: %s", rc, out ? out : "");
    free(out);
    t_rmrf(dir);
}

TEST(run_folder, resume_without_epochs_takes_the_runs_own)
{
    if (!t_have_data()) return;
    char *dir = rf_dir(), args[512], *out = NULL;
    snprintf(args, sizeof args, TRAIN " --max-steps 2 --out %s", dir); /* 4 steps an epoch, 2 epochs */
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    snprintf(args, sizeof args, "train --quiet --limit-train 256 --batch 64 --resume --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out ? out : "");
    free(out);
    CHECK(rf_ck_u64(dir, "epoch") == 2 && rf_ck_u64(dir, "step") == 8); /* not the default 10 epochs */
    CHECK(rf_ck_u64(dir, "epochs") == 2);
    /* given, it is a new total */
    snprintf(args, sizeof args, "train --quiet --limit-train 256 --batch 64 --resume --epochs 3 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    CHECK(rf_ck_u64(dir, "epoch") == 3 && rf_ck_u64(dir, "epochs") == 3);
    t_rmrf(dir);
}

/* OpenBLAS under an address-space limit: its threads (started as the
 * library loads) and its first product each want a 128 MiB buffer and retry
 * for ever without one.  The commands must end on their own, in seconds:
 * the work done, or an out-of-memory message (exit 2).  A hang is stopped by
 * the timeout (exit 137) and fails. */
TEST(run_folder, openblas_under_a_memory_limit_does_not_hang)
{
#if defined(T_ALLOC_NO_INTERPOSE)
    T_SKIP("ASan cannot start under ulimit -v");
    return;
#endif
    char cmd[1024], *out = NULL;
    /* every product that CBLAS may take, forced to it */
    snprintf(cmd, sizeof cmd,
             "sh -c 'ulimit -v 120000; NABLA_BLAS=cblas timeout -s KILL 20 %s/nabla gradcheck --op matmul --fast' 2>&1",
             t_build_dir());
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 14, len = 0, got;
    out = malloc(cap);
    while (p && out && (got = fread(out + len, 1, cap - len - 1, p)) > 0) len += got;
    if (out) out[len] = '\0';
    int st = p ? pclose(p) : -1, rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    /* (a build without CBLAS refuses NABLA_BLAS=cblas: exit 2, said) */
    CHECK_MSG(out && ((rc == 0 && strstr(out, "PASS")) || (rc == 2 && strstr(out, "no CBLAS"))), "exit %d: %s", rc,
              out ? out : "");
    free(out);
    if (!t_have_data()) return;
    /* the data does not fit: a message, and the program ends (60 MB: too
     * little with OpenBLAS and with the built-in GEMM alone) */
    char *dir = rf_dir(), args[512];
    snprintf(args, sizeof args, TRAIN " --out %s", dir);
    rc = rf_sh("ulimit -v 60000;", args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "out of memory"), "exit %d: %s", rc, out ? out : "");
    free(out);
    t_rmrf(dir);
}
